"""The test-time settings of a person-box model (test-time flip, crop scale about the person box), chosen on the
validation people of FLIC and LSP-extended.

    .venv/bin/python bench/pose_person_readout.py --flic FLIC --lspet LSPET [--model person] [--limit N]

People: FLIC's validation movies (597) and LSP-extended's val part (im05001-im05500), person boxes from the labelled
joints (`person_boxes.boxes_from_joints`, 15 %), as bench/pose_blazepose.py reads them. Grid, in order: crop scale
(the input square's side over the box's longer side) 1.0, 0.9, 0.8, 0.7, each without then with the test-time flip;
then two crop scales together (their heat maps averaged, `estimate(scales=...)`) with the flip: 0.9 + 0.8, 1.0 + 0.9,
1.0 + 0.8. Four passes per person at most: the model's time per person stays within BlazePose full's
(bench/RESULTS_pose.md), which three scales with the flip would not.
The rule (`RULE`), fixed before the run: the highest mean of elbow and wrist PCK@0.2 (torso normaliser) over both
validation sets; a tie to 0.1 point goes to the earlier setting (the cheaper, or the plainer at equal cost). Prints
one row per setting (elbows, wrists, knees, ankles per set, seconds) and the choice, with the warning threshold
recalibrated for it on the same people (`pose.readout`'s rule: the 5th percentile of the mean joint confidence of
the people whose elbows and wrists are all within PCK@0.2). With --write the model's readout.json keeps the choice
(`Readout.flip`, `Readout.scales`, `warn_below`, the record's "test_time" and "warning") and model.json its new
sha256: `estimate` then applies them by default.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from convcorr_jax.core import runinfo
from convcorr_jax.data.skeletons import PERSON
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import shipped
from convcorr_jax.pose.estimation import estimate, load

HERE = Path(__file__).resolve().parent
SCALES = (1.0, 0.9, 0.8, 0.7)
PAIRS = ((0.9, 0.8), (1.0, 0.9), (1.0, 0.8))  # two crop scales with the flip, after the single scales
SETTINGS = tuple(((s,), f) for s in SCALES for f in (False, True)) + tuple((pair, True) for pair in PAIRS)
RULE = ("the highest mean of elbow and wrist PCK@0.2 (torso normaliser) over both validation sets; a tie to 0.1 point "
        "goes to the earlier setting (the cheaper, or the plainer at equal cost)")
TIE = 0.1  # points


def bench_module():
    """bench/pose_blazepose.py as a module (its people, scores and person-skeleton mapping)."""
    spec = importlib.util.spec_from_file_location("pose_blazepose", HERE / "pose_blazepose.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pose_blazepose"] = mod
    spec.loader.exec_module(mod)
    return mod


def validation_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of the benches on the validation people: --flic, --lspet, --model, --limit."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--flic", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--lspet", required=True, help="LSP-extended folder (joints.mat + images/ im00001-im05500 at least)")
    p.add_argument("--model", default="person", help="a person-box model: shipped name or model folder")
    p.add_argument("--limit", type=int, default=None, help="the first N people of each set (a rehearsal)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = validation_parser(__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="store the choice and its warning threshold in the model")
    a = p.parse_args(argv)
    pb = bench_module()
    config = {"model": a.model, "settings": SETTINGS, "tie": TIE, "limit": a.limit}
    print(runinfo.header("test-time flip and crop scale of a person-box model, on validation", config), flush=True)
    with runinfo.timed() as total:
        sets = {"FLIC val": pb.people("flic", a.flic, a.limit, "val"),
                "LSP-extended val": pb.people("lsp", a.lspet, a.limit, "val")}
        run = load(a.model)
        print("| crop scales | flip | " + " | ".join(f"{k}: elbow / wrist / knee / ankle @0.2" for k in sets)
              + " | rule | s |\n|---|---|---|---|---|---|")
        rows, kept = [], {}
        for scales, flip in SETTINGS:
            t0 = time.perf_counter()
            cells, rule = [], []
            for ps in sets.values():
                poses = estimate(ps["images"], run, person_boxes=list(ps["boxes"]), flip=flip, scales=scales)
                s = pb.scores(ps, *pb.on_person(np.asarray(poses.points, np.float64), poses.names))
                cells.append(" / ".join("-" if np.isnan(s[g, 0.2]) else f"{s[g, 0.2]:.1f}"
                                        for g in ("Elbow", "Wrist", "Knee", "Ankle")))
                rule += [s["Elbow", 0.2], s["Wrist", 0.2]]
                kept.setdefault((scales, flip), []).append((ps, poses))
            rows.append((scales, flip, float(np.mean(rule))))
            print(f"| {_names(scales)} | {'on' if flip else 'off'} | " + " | ".join(cells)
                  + f" | {rows[-1][2]:.2f} | {time.perf_counter() - t0:.0f} |", flush=True)
    best = max(r[2] for r in rows)
    scales, flip, value = next(r for r in rows if r[2] >= best - TIE)
    threshold, right = recalibrated(pb, kept[scales, flip])
    print(f"\nchosen: crop scales {_names(scales)}, flip {'on' if flip else 'off'} (rule {value:.2f}; best "
          f"{best:.2f}); warning threshold {threshold:.4f} from {right} right people; wall time {total['seconds']:.0f} s")
    if a.write:
        print(f"wrote {write(a.model, scales, flip, value, threshold, right)}")
    return 0


def _names(scales: tuple[float, ...]) -> str:
    return " + ".join(f"{v:g}" for v in scales)


def recalibrated(pb, people_poses) -> tuple[float, int]:
    """The warning threshold (`pose.readout.warning_threshold`) of the chosen setting over both sets' people, and
    how many are right (elbows and wrists within PCK@0.2)."""
    joints = [i for g in ("Elbow", "Wrist") for i in PERSON.groups[g]]
    conf, right = [], []
    for ps, poses in people_poses:
        pred, _ = pb.on_person(np.asarray(poses.points, np.float64), poses.names)
        ok = np.isfinite(ps["norm"])
        right.append(pose_readout.right_people(np.nan_to_num(pred[ok]), np.nan_to_num(ps["gt"][ok]),
                                               ps["scored"][ok], ps["norm"][ok], joints))
        conf.append(np.asarray(poses.confidence, np.float64)[ok])
    right = np.concatenate(right)
    return pose_readout.warning_threshold(np.concatenate(conf), right), int(right.sum())


def write(model: str, scales: tuple[float, ...], flip: bool, value: float, threshold: float, right: int) -> Path:
    """The model folder's readout.json with the chosen test-time settings and warning threshold; model.json's
    sha256 of it refreshed. Returns the folder."""
    folder = shipped.MODELS / model if shipped.is_name(model) else Path(model)
    choice, record = pose_readout.load_readout(folder)
    record = {**record, "test_time": {"flip": flip, "scales": list(scales), "rule_value": round(value, 2),
                                      "rule": RULE,
                                      "chosen_on": "FLIC's validation movies and LSP-extended im05001-im05500, "
                                                   "original images (bench/pose_person_readout.py)"}}
    choice, record = pose_readout.with_warning(dataclasses.replace(choice, flip=flip, scales=scales), record,
                                               threshold, right, "elbows and wrists",
                                               "its test-time flip and crop scales, spatial model off")
    pose_readout.save_readout(folder, choice, record)
    shipped.refresh_hashes(folder, (pose_readout.FILE,))
    return folder


if __name__ == "__main__":
    raise SystemExit(main())
