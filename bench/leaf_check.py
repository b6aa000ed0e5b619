"""Every experiment's numbers before and after a change, compared leaf by leaf.

    python bench/leaf_check.py run OUT [IDS...]     # each experiment at tiny size, CaffeNet, seeded random weights
    python bench/leaf_check.py compare BEFORE AFTER # every number of each metrics.json, leaf by leaf

`run` runs the experiments of `convcorr_eval.registry` at size tiny on CaffeNet with `weights=random` into
OUT/<id>/, on the real bundled data where an experiment needs it, as tests/test_experiments.py does, plus the
PF-WILLOW experiments on VGG-16 (their default backbone), plus the two pose scorers (`SCORERS`) on small real sets:
`tompson2015.flic` scores the shipped model `flic` on every 16th FLIC test frame (64 of 1,016; all of FLIC train
stays for the spatial model's priors), `tompson2015.mpii` a tiny model that the tree itself trains (`convcorr train
pose --config tiny`: synthetic people on MPII's 16 joints; no shipped model has them) on the people of MPII's
valid.h5 whose images are bundled (mpii/mmpose_tests: 5). Both sets are written under OUT/_data, the trained model
under OUT/_models. Run it once with the code before a change and once after, each with an empty cache of its own
(CONVCORR_CACHE) and CONVCORR_REAL_DATA set: an exported tree goes on PYTHONPATH as a folder of links named as the
installed packages (convcorr_jax, convcorr_cli, convcorr_eval -> eval, convcorr_train -> train); `run` prints where
each package was imported from. It imports only names that exist both before and after the foundation modules
moved to `convcorr_jax.core`. `compare` walks both metrics.json trees and reports every leaf that differs (wall
times and rates, paths and the run key are left out, the OUT folder in a string is written OUT; NaN equals NaN),
then one line: how many leaves were compared and how many differ. Exit status 1 when any differs.

Last use (2026-11-29; the house: the foundation modules moved to `convcorr_jax.core`, pose/training, pose/export and
pose/spatial, helpers made private, the loaded pose model renamed PoseModel): the tree before the whole refactor
(9d960ea) and after (148b4d5), each exported and run by this script with its own empty cache on every experiment: 21
runs (the 12 that need no data or the synthetic sets, the PF-WILLOW three on CaffeNet and on VGG-16 and the spatial
validation on the bundled real PF-WILLOW and FLIC, and the two pose scorers: `flic` on 64 FLIC test frames, the tiny
model on the 5 MPII people), 1,688 leaves compared, 92 differ. All 92 are in the six PF-WILLOW runs and come from
bda6335, which made EfficientNet-Lite2 the third network of the point-transfer default (those runs' config gains
third_backbone efficientnet_lite2; pf_willow_validation's rows build on that default): the four pf_willow and
pf_willow_warped runs on 148b4d5 with transfer.third_backbone=none added to their settings against 9d960ea: 290
leaves, 0 differ; the six PF-WILLOW runs on 45877f7 (the last commit before the module moves) against 148b4d5: 570
leaves, 0 differ. The other 15 runs (1,118 leaves, the scorers' 667 among them) are unchanged, and the tiny MPII
models the two trees trained have byte-identical params.npz. Not covered: PF-PASCAL and SPair (no data here); MPII
beyond the 5 people whose images are bundled (the tiny model scores PCKh@0.5 3.0 there, so its leaves are mostly
zeros); whole-frame scoring (the `flic_256` model's frame settings changed on purpose in 917d467 and b81e547).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

SKIP_KEYS = {"time", "key", "versions", "created", "status", "figure", "run_dir"}


def timing(key: str) -> bool:
    """Whether a metrics key is a wall time or a rate (left out: it differs from run to run)."""
    return "seconds" in key or key.endswith(("_s", "per_s", "per_pair"))
SCORERS = ("tompson2015.flic", "tompson2015.mpii")  # scored on small real sets: `scorer_config`
FLIC_TEST_EVERY = 16  # the FLIC scorer reads every 16th test frame
MPII_IMAGES = "mpii/mmpose_tests"  # the MPII validation images bundled (real data folder)
REAL_FOLDERS = {"pf_willow": "pf_willow/PF-dataset-WILLOW", "flic": "flic", "pf_pascal": "pf_pascal/PF-PASCAL",
                "spair": "spair/SPair-71k"}
PF_WILLOW = ("long2014.pf_willow", "long2014.pf_willow_validation", "long2014.pf_willow_warped")


def real_root() -> Path | None:
    """The real-data folder as `real_data_root` finds it ($CONVCORR_REAL_DATA, else shared/data/real beside the
    repository), read here so that it imports nothing that moved; None when neither is a folder."""
    env = os.environ.get("CONVCORR_REAL_DATA")
    for folder in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared" / "data" / "real"]:
        if folder.is_dir():
            return folder
    return None


def flic_subset(real: Path, out: Path, every: int = FLIC_TEST_EVERY) -> Path:
    """A FLIC folder under out: examples.mat with every train example and every `every`-th test example, images/
    a link to the real one. Written with SciPy alone, the same whatever tree is imported."""
    import scipy.io as sio

    folder = out / "_data" / f"flic_test_every{every}"
    if not (folder / "examples.mat").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        ex = sio.loadmat(str(real / "examples.mat"))["examples"]
        test = [i for i in range(ex.shape[1]) if int(ex[0, i]["istest"].ravel()[0])]
        keep = sorted(set(range(ex.shape[1])) - set(test) | set(test[::every]))
        sio.savemat(str(folder / "examples.mat"), {"examples": ex[:, keep]})
        (folder / "images").symlink_to((real / "images").resolve(), target_is_directory=True)
    return folder


def mpii_subset(real: Path, out: Path) -> tuple[Path, Path]:
    """(an annotation h5 under out holding the people of MPII's valid.h5 whose images are bundled, their folder).
    Written with h5py alone."""
    import h5py
    import numpy as np

    images = real / MPII_IMAGES
    annot = out / "_data" / "mpii" / "valid_bundled.h5"
    if not annot.is_file():
        annot.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(real / "mpii" / "hg_annot" / "valid.h5", "r") as f:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["imgname"][()]]
            keep = np.array([i for i, n in enumerate(names) if (images / n).is_file()])
            with h5py.File(annot, "w") as g:
                for k in f:
                    g[k] = f[k][()][keep]
    return annot, images


def trained_mpii_model(out: Path) -> Path:
    """A tiny pose model on MPII's 16 joints, trained by the imported tree (`convcorr train pose --config tiny`)."""
    from convcorr_cli.main import main

    run_dir = out / "_models" / "pose_tiny"
    if not (run_dir / "readout.json").is_file():
        rc = main(["train", "pose", "--config", "tiny", "--out", str(out / "_models"), "--logdir", "off",
                   "--no-progress"])
        if rc:
            sys.exit(f"convcorr train pose --config tiny: exit status {rc}")
    return run_dir


def scorer_config(exp_id: str, real: Path | None, out: Path):
    """The pose scorer's config (`SCORERS`) on its small real set, or None without the real data."""
    from convcorr_eval.runner import make_config

    if real is None or not (real / REAL_FOLDERS["flic"]).is_dir() or not (real / MPII_IMAGES).is_dir():
        return None
    if exp_id == "tompson2015.flic":
        return make_config(exp_id, "tiny", ["model=flic"], data_root=str(flic_subset(real / REAL_FOLDERS["flic"], out)))
    annot, images = mpii_subset(real, out)
    return make_config(exp_id, "tiny", [f"model={trained_mpii_model(out)}", f"annot={annot}", f"images={images}"])


def run(out: Path, ids: list[str]) -> None:
    """Each experiment of `ids` (all when empty) at tiny size into out/<id>[_vgg16]/."""
    import convcorr_eval
    import convcorr_jax
    from convcorr_eval import registry
    from convcorr_eval.runner import make_config, run_experiment

    print(f"convcorr_jax from {Path(convcorr_jax.__file__).parent}, convcorr_eval from "
          f"{Path(convcorr_eval.__file__).parent}", flush=True)
    out = out.resolve()
    real = real_root()
    jobs = [(e, "caffenet") for e in (ids or registry.EXPERIMENTS)]
    jobs += [(e, "vgg16") for e in PF_WILLOW if not ids or e in ids]
    for exp_id, backbone in jobs:
        if exp_id in SCORERS:
            cfg = scorer_config(exp_id, real, out)
            if cfg is None:
                print(f"{exp_id}: skipped, no real FLIC or MPII data", flush=True)
                continue
        else:
            cfg = make_config(exp_id, "tiny", ["weights=random"], backbone=backbone)
        if exp_id not in SCORERS and cfg.data != "synthetic":
            folder = real / REAL_FOLDERS[cfg.data] if real is not None else None
            if folder is None or not folder.is_dir():
                print(f"{exp_id}: skipped, no real {cfg.data} data", flush=True)
                continue
            cfg = dataclasses.replace(cfg, data_root=str(folder))
        name = exp_id if backbone == "caffenet" else f"{exp_id}_{backbone}"
        cfg = dataclasses.replace(cfg, name=name)
        _, seconds, _ = run_experiment(exp_id, cfg, out, progress=False, force=True)
        print(f"{name}: {seconds:.0f} s", flush=True)


def leaves(tree, path: str = ""):
    """(path, value) of every leaf of a JSON tree, keys in SKIP_KEYS left out."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k not in SKIP_KEYS and not timing(k):
                yield from leaves(v, f"{path}/{k}")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, tree


def outside(value, root: Path):
    """value with the OUT folder `root` in a string written OUT (a path given to a run, e.g. a trained model's)."""
    return value.replace(str(root.resolve()), "OUT") if isinstance(value, str) else value


def compare(before: Path, after: Path) -> int:
    """Print each differing leaf of every run's metrics.json under `before` and `after`; 1 if any differs."""
    n = bad = 0
    names = sorted({p.parent.name for p in before.glob("*/metrics.json")} |
                   {p.parent.name for p in after.glob("*/metrics.json")})
    for name in names:
        a, b = (json.loads((d / name / "metrics.json").read_text())["metrics"]
                if (d / name / "metrics.json").is_file() else None for d in (before, after))
        if a is None or b is None:
            print(f"{name}: only in {'after' if a is None else 'before'}")
            bad += 1
            continue
        la, lb = ({k: outside(v, root) for k, v in leaves(t)} for t, root in ((a, before), (b, after)))
        for k in sorted(set(la) | set(lb)):
            n += 1
            x, y = la.get(k, "<absent>"), lb.get(k, "<absent>")
            if x != y and not (isinstance(x, float) and isinstance(y, float) and x != x and y != y):  # NaN == NaN
                bad += 1
                print(f"{name}{k}: {x!r} -> {y!r}")
    print(f"{len(names)} runs, {n} leaves compared, {bad} differ")
    return int(bad > 0)


def main(argv: list[str]) -> int:
    """`run` or `compare` (the module docstring) between the header (the arguments, versions, devices) and the wall
    time; the exit status: compare's, else 0. Arguments that fit neither: the usage, exit status 1."""
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not ((len(argv) >= 2 and argv[0] == "run") or (len(argv) == 3 and argv[0] == "compare")):
        sys.exit(__doc__)
    try:
        from convcorr_jax.core import runinfo
    except ImportError:  # a tree from before the foundation modules moved to convcorr_jax.core
        from convcorr_jax import runinfo

    print(runinfo.header(f"leaf check: {argv[0]}", {"command": argv[0], "arguments": argv[1:]}), flush=True)
    with runinfo.timed() as total:
        if argv[0] == "run":
            run(Path(argv[1]), argv[2:])
            rc = 0
        else:
            rc = compare(Path(argv[1]), Path(argv[2]))
    print(f"wall time {total['seconds']:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
