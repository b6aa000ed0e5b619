"""With no box: what `convcorr pose` does with a photo and no --person-box / --torso-box, measured on FLIC's
validation movies with a shipped FLIC person-crop model.

  python bench/pose_no_box.py --root FLIC [--model flic] [--limit N]

Candidates, each as the command runs it without read-out flags:
  (a) the whole image as the person box: `estimate(frames, model, person_boxes=[whole image])`, the torso found
      inside it by one first pass (`person_boxes.PERSON_BOX`), then one crop around it, the model's read-out;
  (b) two passes from the frame's centre: `estimate(frames, model, two_pass=True)` (`two_pass.FRAME_TEST_TIME`, the
      spatial model conditioned on the frame's centre).
The rule, fixed before the run: the higher mean of elbow and wrist PCK@0.2 (torso normaliser, as FLIC's scorers
use it) wins; a tie to 0.1 point goes to (a), the cheaper one. Rows for reference only (not candidates): the whole
image letterboxed as the person's square (the no-box input before), and (a) with `CROP_TEST_TIME`.
Prints PCK@0.05 per joint group, elbow and wrist PCK@0.2, the rule's value, the share of people below the model's
confidence threshold (its readout.json warn_below, applied to every row's mean confidence) with the mean of elbow
and wrist PCK@0.2 of the people above / below it, and the seconds of each row; points are scored in the frame
inputs as bench/pose_person_boxes.py scores them (`Scorer`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry, runinfo
from convcorr_jax.pose import joints
from convcorr_jax.pose.estimation import CROP_TEST_TIME, estimate, load
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pose_person_boxes import GROUPS, Scorer  # noqa: E402  (FLIC people of a split, scored in frame inputs)

CANDIDATES = ("(a) whole image as the person box", "(b) two passes from the frame's centre")


def rows(s: Scorer, run) -> dict[str, object]:
    """Label -> a call returning `Poses`: the two candidates, then the reference rows."""
    whole = [np.array([0.0, 0.0, f.shape[1] - 1.0, f.shape[0] - 1.0]) for f in s.frames]
    return {
        CANDIDATES[0]: lambda: estimate(s.frames, run, person_boxes=whole),
        CANDIDATES[1]: lambda: estimate(s.frames, run, two_pass=True),
        "reference: whole image letterboxed (the former no-box input)": lambda: estimate(s.frames, run),
        "reference: (a) with CROP_TEST_TIME": lambda: estimate(s.frames, run, person_boxes=whole, **CROP_TEST_TIME),
    }


def arms(s: Scorer, points: np.ndarray, keep: np.ndarray) -> float:
    """The mean of elbow and wrist PCK@0.2 over the people `keep` (NaN for none)."""
    if not keep.any():
        return float("nan")
    pts = np.asarray(geometry.transform_points(np.asarray(points, np.float64)[keep], s.affine[keep]))
    at = joints.group_pck(pts, s.gt[keep], s.visible[keep], s.norm[keep], joints.FLIC.groups, 0.2)
    return (at["Elbow"] + at["Wrist"]) / 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--model", default="flic", help="a shipped model or a FLIC person-crop model folder")
    p.add_argument("--limit", type=int, default=None, help="the first N validation people only (a smoke run)")
    a = p.parse_args(argv)
    run = load(a.model)
    with runinfo.timed() as total:
        s = Scorer(a.root, "val", a.limit)
        print(runinfo.header("no box on FLIC", {"model": a.model, "split": "val", "people": len(s.samples),
                                                "FRAME_TEST_TIME": FRAME_TEST_TIME, "CROP_TEST_TIME": CROP_TEST_TIME,
                                                "warn_below": None if run.readout is None else run.readout.warn_below},
                             0), flush=True)
        lines = ["| input | " + " | ".join(GROUPS) + " | Elbow@0.2 | Wrist@0.2 | rule | below threshold % | rule "
                 "above / below | s |", "|---" * (len(GROUPS) + 7) + "|"]
        cut = -np.inf if run.readout is None or run.readout.warn_below is None else run.readout.warn_below
        rule = {}
        for label, call in rows(s, run).items():
            with runinfo.timed() as wall:
                poses = call()
            v = s.row(poses.points)
            rule[label] = (v[-2] + v[-1]) / 2
            low = poses.confidence.mean(-1) < cut
            lines.append(f"| {label} | " + " | ".join(f"{x:.1f}" for x in v) + f" | {rule[label]:.2f} | "
                         f"{100 * low.mean():.1f} | {arms(s, poses.points, ~low):.1f} / {arms(s, poses.points, low):.1f}"
                         f" | {wall['seconds']:.0f} |")
            print(lines[-1], flush=True)
    won = CANDIDATES[1] if rule[CANDIDATES[1]] > rule[CANDIDATES[0]] + 0.1 else CANDIDATES[0]
    print("\n".join(lines))
    print(f"\nwinner: {won} (mean of elbow and wrist PCK@0.2 {rule[won]:.2f})")
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
