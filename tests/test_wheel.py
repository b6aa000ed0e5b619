"""The wheel of the checkout, installed into a new virtual environment outside it, works: `convcorr --help`,
`--version` and `convcorr match` on two images, with `convcorr_jax` imported from that environment, not the
checkout.

Nothing is downloaded: the wheel is built without build isolation (the running interpreter's setuptools) and
installed with --no-deps, and the new environment sees the running interpreter's packages through a folder of
links to them in which the checkout's own (editable) convcorr-jax is left out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "convcorr_jax", "convcorr_cli", "eval", "train")
MIN_SETUPTOOLS = 77  # pyproject.toml's build-system: the SPDX license expression


def _setuptools_major() -> int:
    try:
        return int(metadata.version("setuptools").split(".")[0])
    except metadata.PackageNotFoundError:
        return 0


def _ours(name: str) -> bool:
    """An entry of site-packages that belongs to the checkout's own install (package, metadata, editable finder)."""
    return name.lower().startswith(("convcorr", "__editable__")) or name == "__pycache__"


def _dependency_links(folder: Path) -> Path:
    """`folder` holding a link to every entry of the running interpreter's site-packages folders (the first of each
    name, in sys.path order) except the checkout's own convcorr-jax."""
    folder.mkdir()
    for entry in sys.path:
        site = Path(entry)
        # a virtual environment inside the checkout (make's .venv) counts too: `_ours` leaves out convcorr-jax
        if site.name not in ("site-packages", "dist-packages") or not site.is_dir():
            continue
        for item in site.iterdir():
            if not _ours(item.name) and not (folder / item.name).exists():
                (folder / item.name).symlink_to(item)
    return folder


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    r = subprocess.run(args, cwd=cwd, env=dict(env, JAX_PLATFORMS="cpu"), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, args))}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
@pytest.mark.skipif(_setuptools_major() < MIN_SETUPTOOLS,
                    reason=f"building the wheel without isolation needs setuptools>={MIN_SETUPTOOLS} "
                           "(pip install -e '.[test]')")
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    src = tmp_path / "src"  # a copy of what the build reads: the checkout gets no build/ or egg-info from this test
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
          str(tmp_path / "wheels"), str(src)], tmp_path)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheel, = (tmp_path / "wheels").glob(f"convcorr_jax-{version}-*.whl")

    env = tmp_path / "env"
    venv.create(env, with_pip=False, symlinks=True)
    python, site = env / "bin" / "python", Path(_run([str(env / "bin" / "python"), "-c",
                                                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                                     tmp_path).stdout.strip())
    deps = _dependency_links(tmp_path / "deps")
    (site / "deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
          str(wheel)], tmp_path)

    work = tmp_path / "work"
    work.mkdir()
    where = _run([str(python), "-c", "import convcorr_jax, convcorr_cli; print(convcorr_jax.__file__); "
                  "print(convcorr_cli.__file__)"], work).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    convcorr = str(env / "bin" / "convcorr")
    assert _run([convcorr, "--help"], work).stdout.startswith("usage: convcorr COMMAND")
    assert _run([convcorr, "--version"], work).stdout.strip() == f"convcorr-jax {version}"

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
    Image.fromarray(a).save(work / "a.png")
    Image.fromarray(np.ascontiguousarray(a[:, ::-1])).resize((80, 64)).save(work / "b.png")
    (work / "points.json").write_text(json.dumps([[20, 30], [70.5, 40]]))
    _run([convcorr, "match", "a.png", "b.png", "--points", "points.json", "--backbone", "caffenet",
          "--weights", "random", "--set", "image_size=64"], work)
    out = json.loads((work / "points_in_b.json").read_text())
    assert len(out["points_b"]) == 2 and all(p is not None for p in out["points_b"])
    assert (work / "points_in_b.png").is_file()
    # the shipped pose model is in the wheel (package data) and is the command's default
    listed = _run([convcorr, "pose", "--list-models"], work).stdout
    models = ROOT / "convcorr_jax" / "pose" / "models"
    scores = json.loads((models / "flic" / "model.json").read_text())["scores"]
    head = scores["person crops (torso boxes), CROP_READOUT"]["Head"]  # the label as the shipped file has it
    assert listed.startswith("flic: ") and f"CROP_READOUT: Head {head}" in listed, listed
    _run([convcorr, "pose", "a.png", "--json", "pose.json"], work)  # the default for a photo: `person`
    joints = len(json.loads((models / "person" / "model.json").read_text())["skeleton"]["names"])
    assert joints == 17 and len(json.loads((work / "pose.json").read_text())["images"][0]["joints"]) == joints
