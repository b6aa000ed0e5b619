"""Hyper-parameters of `--config flic_paper` and `--config flic`, chosen on FLIC's validation movies: short runs,
one setting changed at a time.

    python -m convcorr_eval.tompson2015.flic_sweep --root FLIC [--grid flic|trunk|frame] [--steps 300,600,100]
        [--out runs/flic_sweep] [--base CONFIG] [--set field=value ...] [--rows 0,1]
    python -m convcorr_eval.tompson2015.flic_sweep --root FLIC --grid readout --run runs/pose_flic
    python -m convcorr_eval.tompson2015.flic_sweep --root FLIC --grid frames --run runs/pose_flic

Each run is a config with the short schedule `--steps` and one row's overrides. Grid "flic" (config
`flic_paper`, the paper's model): learning rates of all three stages scaled together and the person-crop scale,
against "lr x1" (the config's learning rates and a crop scale of 3). Grid "trunk" (config `flic`, the
generic-feature coarse model, with the trunk's learning-rate factor 0.1 as the base): the trunk frozen or
fine-tuned from block7 or from the stem, its learning-rate factor, and the input side (`--steps 800,800,200`).
Grid "frame" (config `flic_native`, the paper's protocol: whole frames at native size, the person picked by the
spatial model from the torso): the letterboxed 256 px input against native frames, the trunk's first trained block
and learning rate, the learning rates of all stages and the schedule length ("schedule x2": twice `--steps`); then,
on the first row's run without training again, the evaluation-time settings `EVAL_ROWS`: test-time flip with left
/ right joints swapped (`pose.flip`) and the spatial model's priors learned on train (`spatial.fit_priors` on the
coarse heat-maps of `PRIOR_PEOPLE` people of the train split, from the offset histograms) against the histograms.
Every "frame" row is scored once more after training by `tompson2015.flic_scores.evaluate` on the validation movies with
the validated spatial model (FLIC_VALIDATED): one table, a row per setting. Grid "readout" trains nothing: on a
finished person-crop run (`--run`) it scores every test-time setting of `READOUT_ROWS` (flip with left / right
joints swapped, crop scales and how their points are merged, mean or median: `flic_scores.evaluate`'s test_flip,
test_scales and test_merge) on the validation movies without
the spatial model, and marks the chosen row: the highest mean of elbow and wrist cascade PCK@0.05, ties broken by
all joints, then by wrist PCK@0.2. Grid "frames" trains nothing either: a finished person-crop run (`--run`) on
the paper's protocol, whole frames with the person picked by the spatial model from the torso, for each
`FRAME_ROWS` setting (the input: letterboxed at a side, or native; test-time flip; the spatial model's settings
from FLIC_VALIDATED; a second pass on a crop around the predicted torso, `flic_scores.second_pass_points`, where
flip, the crop scales and their merge apply), chosen the same way on the cascade with the spatial model (the second
pass's read-out on its rows). `--base` replaces every row's config and `--set` adds overrides to every row (a smoke
run: `--base flic_tiny --steps 2,1,1`); `--rows` keeps some rows.
The results and the choices: bench/RESULTS_pose.md. Every number is PCK@0.05 (torso, all 11 joints) on the
validation movies after each stage, from the training loop's own evaluations; the test split is never loaded.
Runs resume when the command is repeated. Writes <out>/sweep.{json,md} (grid "flic") or <out>/sweep_<grid>.{json,md}
(atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

import numpy as np

from convcorr_jax.core import io, runinfo
from convcorr_jax.core.config import override
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import predict
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.training import loop
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_jax.pose.data import flic_crops
from convcorr_eval.tompson2015 import flic_scores, flic_spatial
from convcorr_train import pose_configs

SCHEDULE_X2 = "steps=x2"  # a row override: twice the sweep's --steps

# grid name -> row label -> (config name, overrides)
GRIDS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "flic": {
        "lr x1 (base)": ("flic_paper", ("crop_scale=3.0",)),
        "lr x0.5": ("flic_paper", ("crop_scale=3.0", "lr=" + ",".join(str(v / 2) for v in pose_configs.FLIC_LR))),
        "lr x2": ("flic_paper", ("crop_scale=3.0", "lr=" + ",".join(str(v * 2) for v in pose_configs.FLIC_LR))),
        "crop 2.5": ("flic_paper", ("crop_scale=2.5",)),
        "crop 3.5": ("flic_paper", ("crop_scale=3.5",)),
        "crop 2.0": ("flic_paper", ("crop_scale=2.0",)),  # below the chosen 2.5: does a still smaller crop help?
    },
    "trunk": {
        "trunk frozen": ("flic", ("trunk_train=none", "trunk_lr=0.1")),
        "trunk from block7, lr x0.1 (base)": ("flic", ("trunk_lr=0.1",)),
        "trunk from block7, lr x1": ("flic", ()),
        "trunk from stem, lr x0.1": ("flic", ("trunk_train=stem", "trunk_lr=0.1")),
        "trunk from block7, lr x0.1, 192 px": ("flic", ("trunk_lr=0.1", "model.image_size=192", "model.context=64")),
    },
}
GRIDS["frame"] = {
    "native 384 px, trunk from block7, lr x1 (base)": ("flic_native", ()),
    "letterbox 256 px (flic_frame's input)": ("flic_native", ("protocol=frame", "model.image_size=256")),
    "trunk from block4": ("flic_native", ("trunk_train=block4",)),
    "trunk from block10": ("flic_native", ("trunk_train=block10",)),
    "trunk lr x0.3": ("flic_native", ("trunk_lr=0.3",)),
    "lr x2": ("flic_native", ("lr=" + ",".join(str(v * 2) for v in pose_configs.FLIC_LR),)),
    "schedule x2": ("flic_native", (SCHEDULE_X2,)),
}
GRID = GRIDS["flic"]
# evaluation-time settings tried on the first "frame" row's run: label -> (test-time flip, priors learned on train)
EVAL_ROWS = {"+ test flip": (True, False), "+ learned priors": (False, True),
             "+ test flip, learned priors": (True, True)}
# grid "readout": label -> (test-time flip, crop scales relative to the run's, how the scales' points are merged)
READOUT_ROWS: dict[str, tuple[bool, tuple[float, ...], str]] = {
    "plain": (False, (1.0,), "mean"),
    "flip": (True, (1.0,), "mean"),
    "flip, scales 0.9 / 1 / 1.1": (True, (0.9, 1.0, 1.1), "mean"),
    "flip, scales 0.8 / 1 / 1.2": (True, (0.8, 1.0, 1.2), "mean"),
    "flip, scales 0.9 / 1": (True, (0.9, 1.0), "mean"),
    "flip, scales 1 / 1.1": (True, (1.0, 1.1), "mean"),
    "flip, scales 0.8 / 0.9 / 1": (True, (0.8, 0.9, 1.0), "mean"),
    "flip, scales 0.85 / 1": (True, (0.85, 1.0), "mean"),
    "flip, scales 0.9 / 0.95 / 1 / 1.05": (True, (0.9, 0.95, 1.0, 1.05), "mean"),
    "flip, scales 0.8 / 0.9 / 1 / 1.1": (True, (0.8, 0.9, 1.0, 1.1), "mean"),
    "flip, scales 0.7 / 0.8 / 0.9 / 1": (True, (0.7, 0.8, 0.9, 1.0), "mean"),
    "flip, scales 0.75 / 0.875 / 1": (True, (0.75, 0.875, 1.0), "mean"),
    "flip, scales 0.7 / 0.8 / 0.9 / 1 / 1.1": (True, (0.7, 0.8, 0.9, 1.0, 1.1), "mean"),
    "flip, scales 0.8 / 0.9 / 1, median": (True, (0.8, 0.9, 1.0), "median"),
    "flip, scales 0.8 / 0.9 / 1 / 1.1, median": (True, (0.8, 0.9, 1.0, 1.1), "median"),
    "flip, scales 0.7 / 0.8 / 0.9 / 1, median": (True, (0.7, 0.8, 0.9, 1.0), "median"),
    "flip, scales 0.7 / 0.8 / 0.9 / 1 / 1.1, median": (True, (0.7, 0.8, 0.9, 1.0, 1.1), "median"),
    "flip, scales 0.7 / 0.8 / 0.9 / 1 / 1.1 / 1.2, median": (True, (0.7, 0.8, 0.9, 1.0, 1.1, 1.2), "median"),
    "flip, scales 0.75 / 0.8 / 0.85 / 0.9 / 0.95 / 1, median": (True, (0.75, 0.8, 0.85, 0.9, 0.95, 1.0), "median"),
}
# grid "frames": label -> (protocol, input side px, test-time flip, spatial-model fields replacing FLIC_VALIDATED's,
# second pass: None or (its crop scale factor, its crop scales, their merge)); the second-pass rows take the first
# pass of the best row above them and crop read-outs of grid "readout"
_P2 = {"unary_power": 2.0}
_S3 = (0.8, 0.9, 1.0)
_S6 = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2)  # grid "readout"'s choice for the `flic` run
FRAME_ROWS: dict[str, tuple[str, int, bool, dict, tuple[float, tuple[float, ...], str] | None]] = {
    "letterbox 256": ("frame", 256, False, {}, None),
    "letterbox 288": ("frame", 288, False, {}, None),
    "letterbox 320": ("frame", 320, False, {}, None),
    "native 384": ("native", 384, False, {}, None),
    "letterbox 288, flip": ("frame", 288, True, {}, None),
    "letterbox 320, flip": ("frame", 320, True, {}, None),
    "letterbox 288, torso sigma 1": ("frame", 288, False, {"torso_sigma": 1.0}, None),
    "letterbox 288, torso sigma 4": ("frame", 288, False, {"torso_sigma": 4.0}, None),
    "letterbox 288, kernel 21": ("frame", 288, False, {"kernel": 21}, None),
    "letterbox 288, unary power 2": ("frame", 288, False, _P2, None),
    "letterbox 288, unary power 2; second pass x1": ("frame", 288, False, _P2, (1.0, (1.0,), "mean")),
    "letterbox 288, unary power 2; second pass x0.9, flip, scales 0.8 / 0.9 / 1": ("frame", 288, True, _P2,
                                                                                  (0.9, _S3, "mean")),
    "letterbox 288, unary power 2; second pass x1, flip, scales 0.8 / 0.9 / 1": ("frame", 288, True, _P2,
                                                                                (1.0, _S3, "mean")),
    "letterbox 288, unary power 2; second pass x1.1, flip, scales 0.8 / 0.9 / 1": ("frame", 288, True, _P2,
                                                                                  (1.1, _S3, "mean")),
    "letterbox 288, unary power 2; second pass x0.9, flip, scales 0.7 / 0.8 / 0.9 / 1 / 1.1 / 1.2, median": (
        "frame", 288, True, _P2, (0.9, _S6, "median")),
    "letterbox 288, unary power 2; second pass x1, flip, scales 0.7 / 0.8 / 0.9 / 1 / 1.1 / 1.2, median": (
        "frame", 288, True, _P2, (1.0, _S6, "median")),
}
PRIOR_PEOPLE, PRIOR_STEPS, PRIOR_LR = 512, 200, 0.05  # `spatial.fit_priors` on the train split's heat-maps


def run_grid(root: str, steps: str, out: str, progress: bool = True, grid: str = "flic", base: str | None = None,
             extra: Sequence[str] = (), only: Sequence[int] | None = None) -> list[dict]:
    """Train every entry of GRIDS[grid] (resuming finished ones instantly); one row per entry with its validation
    evals. base: a config name in place of every entry's; extra: overrides after every entry's; only: the entries
    kept (positions)."""
    rows = []
    prefix = "run" if grid == "flic" else f"{grid}_run"
    twice = ",".join(str(2 * int(v)) for v in steps.split(","))
    for i, (label, (name, sets)) in enumerate(GRIDS[grid].items()):
        if only is not None and i not in only:
            continue
        sets = tuple(f"steps={twice}" if v == SCHEDULE_X2 else v for v in sets) + tuple(extra)
        name = base or name
        common = ("data_root=" + root, "steps=" + steps, f"out={out}", f"name={prefix}{i}")
        cfg = override(pose_configs.get_config(name), common + sets)
        res = loop.train(cfg, progress=progress, on_stage=model_folder.write_stage)
        rows.append({"label": label, "base": name, "overrides": list(sets), "config": dataclasses.asdict(cfg),
                     "run": str(cfg.run_dir()), "seconds": _seconds(cfg),
                     "evals": [{k: e[k] for k in ("step", "stage", "coarse_pck@0.05", "cascade_pck@0.05")}
                               for e in res.evals]})
    return rows


def _seconds(cfg) -> float:
    """Training wall time of a run as its metrics.json records it (summed over resumes)."""
    return float(runinfo.read_run_record(cfg.run_dir() / "metrics.json").get("seconds", float("nan")))


def learned_priors(tc, params, root: str, cfg: spatial_mrf.SpatialConfig = spatial_mrf.FLIC_VALIDATED,
                   people: int = PRIOR_PEOPLE, steps: int = PRIOR_STEPS, lr: float = PRIOR_LR) -> np.ndarray:
    """The spatial model's priors learned on train for a run (config tc, params): `spatial.fit_priors` on the coarse
    heat-maps of the first `people` people of the train split (the validation movies never), from the offset
    histograms of the train split's ground truth (`tompson2015.flic_spatial.spatial_inputs` for "val")."""
    size, pool = tc.model.image_size, tc.model.pool
    crops = flic_crops(root, "train", size, tc.crop_scale, protocol=tc.protocol)
    n = min(people, len(crops))
    hm = predict.coarse_heatmaps(params, crops.arrays.images[:n], tc.model)
    init = flic_spatial.spatial_inputs(root, size, pool, tc.crop_scale, 1, cfg, "val", tc.protocol).log_priors
    cells = lambda p: np.asarray(hmap.image_to_map(np.asarray(p, np.float32), pool))
    return spatial_mrf.fit_priors(init, hm, cells(crops.torso[:n]), cells(crops.arrays.points[:n]),
                        crops.arrays.visible[:n], cfg, steps, lr)


def _val_scores(res: dict) -> dict:
    """Validation PCK@0.05 (percent) of a `flic_scores.evaluate` result: all joints of the cascade with and without the
    spatial model, elbow and wrist with it."""
    t = res["pck"]["0.05"]
    return {"cascade": 100 * t["cascade"]["all"], "cascade+spatial": 100 * t["cascade+spatial"]["all"],
            "elbow+spatial": 100 * t["cascade+spatial"]["Elbow"], "wrist+spatial": 100 * t["cascade+spatial"]["Wrist"]}


def run_frame_sweep(root: str, steps: str, out: str, progress: bool = True, base: str | None = None,
                    extra: Sequence[str] = (), only: Sequence[int] | None = None,
                    prior_steps: int = PRIOR_STEPS) -> list[dict]:
    """Grid "frame" (module docstring): the training rows, each scored on the validation movies with the validated
    spatial model, then `EVAL_ROWS` on the first row's run."""
    rows = run_grid(root, steps, out, progress, "frame", base, extra, only)
    spatial = spatial_mrf.FLIC_VALIDATED
    for r in rows:
        tc, params = flic_scores.load_run(r["run"])
        r["val"] = _val_scores(flic_scores.evaluate(tc, params, root, "val", "on", False, spatial))
    first = rows[0]
    tc, params = flic_scores.load_run(first["run"])
    fitted = learned_priors(tc, params, root, spatial, steps=prior_steps)
    for label, (flip, learned) in EVAL_ROWS.items():
        res = flic_scores.evaluate(tc, params, root, "val", "on", False, spatial, test_flip=flip,
                            log_priors=fitted if learned else None)
        rows.append({"label": f"{first['label']} {label}", "base": first["base"], "overrides": first["overrides"],
                     "test_flip": flip, "learned_priors": learned, "run": first["run"], "seconds": first["seconds"],
                     "evals": [], "val": _val_scores(res)})
    return rows


def run_readout_sweep(root: str, run: str, only: Sequence[int] | None = None, progress: bool = True) -> list[dict]:
    """Grid "readout" (module docstring): `READOUT_ROWS` on run's checkpoint, validation movies, no spatial model;
    each row's "val" in percent (cascade all / elbow / wrist / mean of elbow and wrist at 0.05, wrist at 0.2) and
    "chosen" True on the chosen row."""
    tc, params = flic_scores.load_run(run)
    rows = []
    items = [(i, kv) for i, kv in enumerate(READOUT_ROWS.items()) if only is None or i in only]
    for _, (label, (flip, scales, merge)) in progress_bar(items, desc="readout", unit="setting",
                                                          disable=not progress):
        with runinfo.timed() as wall:
            res = flic_scores.evaluate(tc, params, root, "val", "on", False, None, test_flip=flip, test_scales=scales,
                                       test_merge=merge)
        val = _readout_scores(res, "cascade")
        rows.append({"label": label, "test_flip": flip, "test_scales": list(scales), "test_merge": merge,
                     "run": run, "n": res["n"],
                     "val": val, "seconds": wall["seconds"], "chosen": False})
    rows[choose_readout([r["val"] for r in rows])]["chosen"] = True
    return rows


def choose_readout(vals: Sequence[dict]) -> int:
    """Position of the chosen test-time setting among validation scores (dicts with "mean(elbow, wrist)", "all",
    "wrist@0.2", percent): the highest mean of elbow and wrist, ties (to 1e-6) broken by all joints, then by wrist
    at 0.2, then by the earlier position."""
    key = lambda i: (round(vals[i]["mean(elbow, wrist)"], 6), round(vals[i]["all"], 6),
                     round(vals[i]["wrist@0.2"], 6), -i)
    return max(range(len(vals)), key=key)


def run_frames_sweep(root: str, run: str, only: Sequence[int] | None = None, progress: bool = True) -> list[dict]:
    """Grid "frames" (module docstring): `FRAME_ROWS` on run's checkpoint, validation movies, with the spatial
    model; each row's "val" as `run_readout_sweep`'s, of the cascade with the spatial model, "val_nospatial" of the
    cascade without it, and "chosen" True on the chosen row."""
    tc0, params = flic_scores.load_run(run)
    rows = []
    items = [(i, kv) for i, kv in enumerate(FRAME_ROWS.items()) if only is None or i in only]
    for _, (label, (protocol, size, flip, fields, second)) in progress_bar(items, desc="frames", unit="setting",
                                                                           disable=not progress):
        tc = flic_scores.with_input(tc0, protocol, size)
        spatial = dataclasses.replace(spatial_mrf.FLIC_VALIDATED, **fields)
        scale, scales, merge = second or (1.0, (1.0,), "mean")
        with runinfo.timed() as wall:
            res = flic_scores.evaluate(tc, params, root, "val", "on", False, spatial, test_flip=flip,
                                       test_scales=scales, second_pass=tc0 if second else None, second_scale=scale,
                                       test_merge=merge)
        rows.append({"label": label, "protocol": protocol, "image_size": size, "test_flip": flip,
                     "spatial": fields, "second_pass": None if second is None else [scale, list(scales), merge],
                     "run": run, "n": res["n"],
                     "val": _readout_scores(res, "two-pass" if second else "cascade+spatial"),
                     "val_nospatial": _readout_scores(res, "cascade"), "seconds": wall["seconds"], "chosen": False})
    rows[choose_readout([r["val"] for r in rows])]["chosen"] = True
    return rows


def _readout_scores(res: dict, model: str) -> dict:
    """Validation percent of one read-out of a `flic_scores.evaluate` result: all joints, elbow, wrist and their
    mean at PCK@0.05, wrist at 0.2."""
    t, t2 = res["pck"]["0.05"][model], res["pck"]["0.2"][model]
    return {"all": 100 * t["all"], "elbow": 100 * t["Elbow"], "wrist": 100 * t["Wrist"],
            "mean(elbow, wrist)": 50 * (t["Elbow"] + t["Wrist"]), "wrist@0.2": 100 * t2["Wrist"]}


def readout_markdown(rows: list[dict]) -> str:
    """One table, a row per test-time setting (validation, percent); the chosen row in bold; grid "frames" adds
    the cascade without the spatial model."""
    cols = ("all", "elbow", "wrist", "mean(elbow, wrist)", "wrist@0.2")
    extra = "val_nospatial" in rows[0]
    lines = ["| setting | " + " | ".join(cols) + (" | without the spatial model: all / elbow / wrist" if extra else "")
             + " | eval s |", "|" + "---|" * (len(cols) + 2 + extra)]
    for r in rows:
        b = "**" if r["chosen"] else ""
        cells = [f"{b}{r['val'][c]:.1f}{b}" for c in cols]
        if extra:
            cells.append(" / ".join(f"{r['val_nospatial'][c]:.1f}" for c in ("all", "elbow", "wrist")))
        lines.append(f"| {b}{r['label']}{' (chosen)' if r['chosen'] else ''}{b} | " + " | ".join(cells)
                     + f" | {r['seconds']:.0f} |")
    return "\n".join(lines)


def frame_markdown(rows: list[dict]) -> str:
    """One table, a row per setting: validation PCK@0.05 of `_val_scores` and the training wall time."""
    cols = ("cascade", "cascade+spatial", "elbow+spatial", "wrist+spatial")
    lines = ["| setting | " + " | ".join(cols) + " | train s |", "|" + "---|" * (len(cols) + 2)]
    for r in rows:
        lines.append(f"| {r['label']} | " + " | ".join(f"{r['val'][c]:.1f}" for c in cols)
                     + f" | {r['seconds']:.0f} |")
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    head = ("| setting | " + " | ".join(f"step {e['step']}: coarse / cascade" for e in rows[0]["evals"])
            + " | train s |")
    lines = [head, "|" + "---|" * (2 + len(rows[0]["evals"]))]
    for r in rows:
        cells = [f"{e['coarse_pck@0.05']:.1f} / {e['cascade_pck@0.05']:.1f}" for e in r["evals"]]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--grid", default="flic", choices=tuple(GRIDS) + ("readout", "frames"),
                   help="which settings to compare")
    p.add_argument("--steps", default="300,600,100", help="short schedule: steps of stage 1,2,3")
    p.add_argument("--out", default="runs/flic_sweep")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--base", default=None, help="a config in place of every row's (e.g. flic_tiny: a smoke run)")
    p.add_argument("--set", action="append", default=[], help="field=value added to every row (repeatable)")
    p.add_argument("--rows", default=None, help="comma-separated positions of the rows to run (default: all)")
    p.add_argument("--run", default=None, help="grids readout, frames: the finished person-crop run folder to score")
    p.add_argument("--prior-steps", type=int, default=PRIOR_STEPS, help="grid frame: fit_priors steps")
    a = p.parse_args(argv)
    only = None if a.rows is None else [int(v) for v in a.rows.split(",")]
    evals = {"readout": (READOUT_ROWS, run_readout_sweep), "frames": (FRAME_ROWS, run_frames_sweep)}
    if a.grid in evals and a.run is None:
        p.error(f"--grid {a.grid} needs --run (a finished person-crop run folder)")
    cfg = ({"root": a.root, "grid": a.grid, "run": a.run, "rows": evals[a.grid][0]} if a.grid in evals else
           {"root": a.root, "steps": a.steps, "grid": a.grid, "rows": GRIDS[a.grid]})
    print(runinfo.header("FLIC validation sweep", cfg, 0), flush=True)
    with runinfo.timed() as wall:
        if a.grid in evals:
            rows = evals[a.grid][1](a.root, a.run, only, not a.no_progress)
        elif a.grid == "frame":
            rows = run_frame_sweep(a.root, a.steps, a.out, not a.no_progress, a.base, a.set, only, a.prior_steps)
        else:
            rows = run_grid(a.root, a.steps, a.out, not a.no_progress, a.grid, a.base, a.set, only)
    tables = {"frame": frame_markdown, "readout": readout_markdown, "frames": readout_markdown}
    table = tables.get(a.grid, markdown)(rows)
    stem = "sweep" if a.grid == "flic" else f"sweep_{a.grid}"
    io.write_json(f"{a.out}/{stem}.json", {"grid": a.grid, "steps": None if a.grid in evals else a.steps,
                                           "rows": rows, "wall_s": wall["seconds"]})
    about = f"run {a.run}" if a.grid in evals else f"schedule {a.steps}"
    io.write_text(f"{a.out}/{stem}.md", f"Validation PCK@0.05 (FLIC validation movies), grid {a.grid}, {about}\n\n"
                  f"{table}\n")
    print(table)
    print(f"wall time {wall['seconds']:.1f} s -> {a.out}/{stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
