"""Every experiment's numbers before and after a change, compared leaf by leaf.

    python bench/leaf_check.py run OUT [IDS...]     # each experiment at tiny size, CaffeNet, seeded random weights
    python bench/leaf_check.py compare BEFORE AFTER # every number of each metrics.json, leaf by leaf

`run` runs the experiments of `convcorr_eval.registry` (all but those that score a trained pose run) at size tiny
on CaffeNet with `weights=random` into OUT/<id>/, on the real bundled data where an experiment needs it, as
tests/test_experiments.py does, plus the PF-WILLOW experiments on VGG-16 (their default backbone). Run it once with
the code before a change (an exported tree on PYTHONPATH) and once after. `compare` walks both metrics.json trees
and reports every leaf that differs (wall times and rates, paths and the run key are left out; NaN equals NaN), then one line:
how many leaves were compared and how many differ. Exit status 1 when any differs.

Last use (one entry for alignment, the renamed entries, Long et al.'s protocols in `convcorr_jax.long2014`, one
Registry for every name table, the split synthetic readers and matching steps, docstrings everywhere): the tree
before (5069a7e) and after (4ca3764), each exported and run with its own
empty cache on every experiment: 19 runs (the 14 that need no data or the synthetic sets, plus the PF-WILLOW three
on CaffeNet and on VGG-16 and the spatial validation on the bundled real PF-WILLOW and FLIC, with
CONVCORR_REAL_DATA set), 921 leaves compared, 0 differ. PF-PASCAL and SPair had no data here; the two pose scorers
need a trained run and are covered by tests/test_eval_aliases.py.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

SKIP_KEYS = {"time", "key", "versions", "created", "status", "figure", "run_dir"}


def timing(key: str) -> bool:
    """Whether a metrics key is a wall time or a rate (left out: it differs from run to run)."""
    return "seconds" in key or key.endswith(("_s", "per_s", "per_pair"))
SCORERS = ("tompson2015.flic", "tompson2015.mpii")
REAL_FOLDERS = {"pf_willow": "pf_willow/PF-dataset-WILLOW", "flic": "flic", "pf_pascal": "pf_pascal/PF-PASCAL",
                "spair": "spair/SPair-71k"}
PF_WILLOW = ("long2014.pf_willow", "long2014.pf_willow_validation", "long2014.pf_willow_warped")


def run(out: Path, ids: list[str]) -> None:
    """Each experiment of `ids` (all when empty) at tiny size into out/<id>[_vgg16]/."""
    from convcorr_jax.core.paths import real_data_root
    from convcorr_eval import registry
    from convcorr_eval.runner import make_config, run_experiment

    real = real_data_root()
    jobs = [(e, "caffenet") for e in (ids or registry.EXPERIMENTS) if e not in SCORERS]
    jobs += [(e, "vgg16") for e in PF_WILLOW if not ids or e in ids]
    for exp_id, backbone in jobs:
        cfg = make_config(exp_id, "tiny", ["weights=random"], backbone=backbone)
        if cfg.data != "synthetic":
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
        la, lb = dict(leaves(a)), dict(leaves(b))
        for k in sorted(set(la) | set(lb)):
            n += 1
            x, y = la.get(k, "<absent>"), lb.get(k, "<absent>")
            if x != y and not (isinstance(x, float) and isinstance(y, float) and x != x and y != y):  # NaN == NaN
                bad += 1
                print(f"{name}{k}: {x!r} -> {y!r}")
    print(f"{len(names)} runs, {n} leaves compared, {bad} differ")
    return int(bad > 0)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        run(Path(sys.argv[2]), sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
