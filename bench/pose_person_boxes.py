"""Person boxes on FLIC: the settings that find the torso inside a whole-person box (`pose.person_boxes`), chosen on
the validation movies, and the shipped models scored with person boxes beside torso boxes.

  python bench/pose_person_boxes.py --root FLIC --split val --grid [--model flic]     # choose PERSON_BOX
  python bench/pose_person_boxes.py --root FLIC --split test [--model flic]           # score the chosen settings

Person boxes are made from each person's labelled joints as a detector draws them (`person_boxes.boxes_from_joints`:
the tight box of the joints, each side moved out by `JOINTS_MARGIN` x its longer side). The grid scores the final
estimate (the torso found in one first pass, then one crop around it with the model's validated read-out) for every
first-pass square (side, shift) and torso scale; the rule, fixed before the run: the highest mean of elbow and
wrist PCK@0.05, a tie to 0.1 point going to the earlier row. The scoring prints PCK@0.05 per joint group and
elbow / wrist PCK@0.2 for torso boxes and person boxes, one crop and `CROP_TEST_TIME`. Points are scored in the
frame inputs of `pose.data.flic_sample_affines(..., protocol="frame")`, as bench/pose_estimate_flic.py does.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from convcorr_jax.core import geometry, runinfo
from convcorr_jax.data.types import load_image
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose import joints
from convcorr_jax.pose import person_boxes as pb
from convcorr_jax.pose.estimation import CROP_TEST_TIME, estimate, load
from convcorr_jax.pose.recrop import TORSO

SIZE = 288  # side of the frame inputs the points are scored in
GROUPS = ("Head", "Shoulder", "Elbow", "Wrist")
GRID = {"side": (1.0, 1.25, 1.5, 1.75, 2.0), "shift": (0.0, 0.1), "scale": (0.9, 1.0, 1.1)}


class Scorer:
    """FLIC people of one split with their ground truth in frame inputs; `row` scores image-pixel points."""

    def __init__(self, root: str, split: str, limit: int | None):
        self.samples = pose_data.flic_split(root, split)[:limit]
        self.frames = [load_image(s.image_path) for s in self.samples]
        self.torso = [np.asarray(s.extras["torso_box"], np.float64) for s in self.samples]
        self.person = pb.boxes_from_joints(np.stack([s.points for s in self.samples]))
        gt, self.visible, _ = pose_data.flic_ground_truth(self.samples, SIZE, protocol="frame")
        self.affine, _ = pose_data.flic_sample_affines(self.samples, SIZE, protocol="frame")
        self.norm = pose_data.flic_torso_norm(gt)
        self.gt = np.nan_to_num(gt)

    def pck(self, points: np.ndarray, alpha: float) -> dict[str, float]:
        pts = np.asarray(geometry.transform_points(np.asarray(points, np.float64), self.affine))
        return joints.group_pck(pts, self.gt, self.visible, self.norm, joints.FLIC.groups, alpha)

    def row(self, points: np.ndarray) -> list[float]:
        """Percent: PCK@0.05 of `GROUPS`, then elbow and wrist PCK@0.2."""
        at05, at2 = self.pck(points, 0.05), self.pck(points, 0.2)
        return [at05[g] for g in GROUPS] + [at2["Elbow"], at2["Wrist"]]


def grid(s: Scorer, run, values: dict) -> list[str]:
    readout = run.readout.name if run.readout is not None else "cascade"
    lines = ["| side | shift | scale | " + " | ".join(GROUPS) + " | Elbow@0.2 | Wrist@0.2 | rule |",
             "|---" * (len(GROUPS) + 6) + "|"]
    best, best_v = None, -1.0
    for side, shift, scale in itertools.product(values["side"], values["shift"], values["scale"]):
        torso = pb.find_torso_boxes(run.params, run.config.model, s.frames, s.person, run.frames.ratio, readout, TORSO,
                               side, shift, scale)
        v = s.row(estimate(s.frames, run, torso_boxes=list(torso)).points)
        rule = (v[2] + v[3]) / 2
        if rule > best_v + 0.1:
            best, best_v = (side, shift, scale), rule
        lines.append(f"| {side:g} | {shift:g} | {scale:g} | " + " | ".join(f"{x:.1f}" for x in v)
                     + f" | {rule:.2f} |")
        print(lines[-1], flush=True)
    lines.append(f"\nchosen: side {best[0]:g}, shift {best[1]:g}, scale {best[2]:g} (elbow/wrist mean {best_v:.2f})")
    return lines


def score(s: Scorer, run, one_crop: bool) -> list[str]:
    calls = {
        "torso boxes, one crop": lambda: estimate(s.frames, run, torso_boxes=s.torso),
        "person boxes, one crop": lambda: estimate(s.frames, run, person_boxes=list(s.person)),
        "torso boxes, CROP_TEST_TIME": lambda: estimate(s.frames, run, torso_boxes=s.torso, **CROP_TEST_TIME),
        "person boxes, CROP_TEST_TIME": lambda: estimate(s.frames, run, person_boxes=list(s.person), **CROP_TEST_TIME),
    }
    lines = ["| input | " + " | ".join(GROUPS) + " | Elbow@0.2 | Wrist@0.2 | s |", "|---" * (len(GROUPS) + 4) + "|"]
    for label, call in calls.items():
        if one_crop and "CROP_TEST_TIME" in label:
            continue
        with runinfo.timed() as wall:
            poses = call()
        lines.append(f"| {label} | " + " | ".join(f"{x:.1f}" for x in s.row(poses.points))
                     + f" | {wall['seconds']:.0f} |")
        print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--model", default="flic", help="a shipped model or a FLIC person-crop model folder")
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--grid", action="store_true", help="choose the settings (validation movies only)")
    p.add_argument("--limit", type=int, default=None, help="the first N people only (a smoke run)")
    p.add_argument("--one-crop", action="store_true", help="score the one-crop rows only (not CROP_TEST_TIME's)")
    for k in GRID:
        p.add_argument(f"--{k}", default=None, metavar="V1,V2,...", help=f"the grid's {k} values (default {GRID[k]})")
    a = p.parse_args(argv)
    values = {k: GRID[k] if getattr(a, k) is None else tuple(float(v) for v in getattr(a, k).split(","))
              for k in GRID}
    if a.grid and a.split != "val":
        p.error("--grid chooses settings: on the validation movies only (--split val)")
    run = load(a.model)
    with runinfo.timed() as total:
        s = Scorer(a.root, a.split, a.limit)
        print(runinfo.header("person boxes on FLIC", {"model": a.model, "split": a.split, "people": len(s.samples),
                                                      "margin": pb.JOINTS_MARGIN, "grid": values if a.grid else None,
                                                      "PERSON_BOX": pb.PERSON_BOX, "CROP_TEST_TIME": CROP_TEST_TIME}, 0),
              flush=True)
        lines = grid(s, run, values) if a.grid else score(s, run, a.one_crop)
    print("\n".join(lines))
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
