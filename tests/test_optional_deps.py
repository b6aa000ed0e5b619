"""Extras: a part whose optional dependency is missing says in one line which extra to install
(`convcorr_jax.core.optional`), and the commands print that line with exit code 2, no traceback."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import MissingExtra, require

ROOT = Path(__file__).resolve().parents[1]


def _hide(monkeypatch, *modules: str) -> None:
    """Make `modules` (and their already imported submodules) unimportable for this test."""
    for name in [m for m in sys.modules if m.split(".")[0] in modules] + list(modules):
        monkeypatch.setitem(sys.modules, name, None)


def test_require_returns_the_module():
    assert require("json", "report", "x") is json


def test_a_missing_module_is_one_line_naming_the_package_and_the_extra(monkeypatch):
    _hide(monkeypatch, "matplotlib")
    with pytest.raises(MissingExtra) as e:
        require("matplotlib.pyplot", "report", "convcorr eval")
    assert str(e.value) == "convcorr eval needs matplotlib: pip install 'convcorr-jax[report]'"
    assert isinstance(e.value, InputError) and isinstance(e.value, ImportError)
    assert e.value.name == "matplotlib.pyplot" and e.value.extra == "report" and e.value.package == "matplotlib"


def test_the_pip_name_is_given_where_it_differs_from_the_import_name(monkeypatch):
    _hide(monkeypatch, "skimage")
    with pytest.raises(MissingExtra, match=r"needs scikit-image: pip install 'convcorr-jax\[report\]'$"):
        require("skimage.data", "report", "x")


def test_a_broken_installed_package_is_not_reported_as_a_missing_extra(tmp_path, monkeypatch):
    (tmp_path / "half_installed_pkg.py").write_text("import its_missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as e:
        require("half_installed_pkg", "report", "x")
    assert not isinstance(e.value, MissingExtra) and e.value.name == "its_missing_dependency_xyz"


def test_tfds_builders_without_tensorflow_datasets_names_the_tfds_extra(monkeypatch):
    _hide(monkeypatch, "tensorflow_datasets")
    monkeypatch.delitem(sys.modules, "convcorr_jax.data.tfds_builders", raising=False)
    with pytest.raises(MissingExtra, match=r"needs tensorflow-datasets: pip install 'convcorr-jax\[tfds\]'$"):
        importlib.import_module("convcorr_jax.data.tfds_builders")


def test_query_images_without_scikit_image_names_the_report_extra(monkeypatch):
    from convcorr_jax.long2014.locality import query_images

    _hide(monkeypatch, "skimage")
    with pytest.raises(MissingExtra, match=r"needs scikit-image: pip install 'convcorr-jax\[report\]'$"):
        query_images()


def test_extras_hold_what_was_moved_and_test_installs_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    for package, extra in (("matplotlib", "report"), ("markdown", "report"), ("scikit-image", "report"),
                           ("tensorflow-datasets", "tfds"), ("scikit-learn", "bench"), ("pycocotools", "coco")):
        assert package not in core and any(r.startswith(package) for r in extras[extra]), package
    assert "chex" not in core
    assert any(r.startswith("convcorr-jax[") and {"report", "tfds", "bench", "coco"} <= set(
        r[13:r.index("]")].split(",")) for r in extras["test"])


COMMANDS_WITHOUT_REPORT = """
    import json, sys
    import numpy as np
    for name in ("matplotlib", "markdown"):
        sys.modules[name] = None
    np.savez("p.npz", preds=np.zeros((2, 3, 2)))
    np.savez("g.npz", points=np.ones((2, 3, 2)), visible=np.ones((2, 3), bool), norm=np.full(2, 10.0))
    from convcorr_cli.main import main as run

    def main(argv):
        try:
            return run(argv)
        except SystemExit as e:  # --help
            return e.code
    needs = [["eval", "pckh", "--preds", "p.npz", "--annot", "g.npz", "--figure", "f.png"],
             ["run", "long2014.table2", "--size", "tiny"], ["demo", "--size", "tiny"]]
    needs_not = [["eval", "--help"], ["eval", "pckh", "--help"], ["run", "--help"], ["demo", "--help"],
                 ["run", "--list"], ["eval", "pck", "--preds", "p.npz", "--gt", "g.npz", "--json", "pck.json"]]
    print(json.dumps([[main(argv) for argv in needs], [main(argv) for argv in needs_not]]))
"""


def test_commands_without_the_report_extra_say_which_to_install(tmp_path):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(COMMANDS_WITHOUT_REPORT)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.splitlines()[-1]) == [[2, 2, 2], [0] * 6], r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("convcorr ")]
    assert [line.split(":")[0] for line in lines] == ["convcorr eval pckh", "convcorr run", "convcorr demo"], \
        r.stderr[-3000:]
    assert all(line.endswith("needs matplotlib: pip install 'convcorr-jax[report]'") for line in lines), lines
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz", "p.npz", "pck.json"]  # nothing begun, no runs/
    assert "long2014.table2" in r.stdout and json.loads((tmp_path / "pck.json").read_text())["mean"] == 0.0


def test_eval_pose_on_coco_data_without_pycocotools_names_the_coco_extra_before_any_work(monkeypatch):
    from types import SimpleNamespace

    from convcorr_eval.tompson2015 import pose_scores

    _hide(monkeypatch, "pycocotools")
    with pytest.raises(MissingExtra, match=r"needs pycocotools: pip install 'convcorr-jax\[coco\]'$"):
        pose_scores.oks_ap({}, [], [0.05])
    cfg = SimpleNamespace(data="coco", model=SimpleNamespace(num_joints=5))
    monkeypatch.setattr(pose_scores, "scored_model", lambda model: (SimpleNamespace(config=cfg), None))
    monkeypatch.setattr(pose_scores, "skeleton_of", lambda cfg, root: SimpleNamespace(num_joints=5))

    def work(*args, **kwargs):
        raise AssertionError("the people were read before the missing extra was reported")

    monkeypatch.setattr(pose_scores, "crops_of", work)
    with pytest.raises(MissingExtra, match=r"convcorr eval pose on COCO-format data\) needs pycocotools"):
        pose_scores.score_run("run", "coco_root")
    assert "coco" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
