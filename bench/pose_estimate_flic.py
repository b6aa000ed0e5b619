"""The pose library's calls for one's own images (`pose.estimate`, with and without two_pass) scored on FLIC test with
a trained `flic` run: person crops around the annotated torso boxes, plain and with `CROP_TEST_TIME`; whole frames
in two passes with `FRAME_TEST_TIME`, conditioned on the annotated torso centres or on the frames' centres (no
annotation at all). Nothing is chosen here: the read-outs are the ones chosen on the validation movies.

  python bench/pose_estimate_flic.py --run runs/pose_flic --root FLIC [--split test] [--limit N]

Prints one markdown table: PCK@0.05 (torso) per joint group, wrist PCK@0.2, seconds per call (1,016 people of FLIC
test). The points are scored in the frame inputs of `pose.data.flic_sample_affines(..., protocol="frame")`: PCK
is invariant to that uniform scale.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from convcorr_jax.core import geometry, runinfo
from convcorr_jax.data.types import load_image
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose import joints
from convcorr_jax.pose.estimation import CROP_TEST_TIME, estimate, load
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, estimate_frames

SIZE = 288  # side of the frame inputs the points are scored in
GROUPS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip")


def scores(points: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray) -> list[float]:
    """Percent: PCK@0.05 of each of `GROUPS`, then wrist PCK@0.2."""
    at = {a: joints.group_pck(points, gt, visible, norm, joints.FLIC.groups, a) for a in (0.05, 0.2)}
    return [at[0.05][g] for g in GROUPS] + [at[0.2]["Wrist"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a finished `convcorr train pose --config flic` run folder")
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--limit", type=int, default=None, help="the first N people only (a smoke run)")
    p.add_argument("--calls", default="crops,crops_readout,frames,frames_no_torso",
                   help="which calls to score (comma-separated; default all four)")
    p.add_argument("--frame-settings", default="{}", help="JSON keyword arguments of estimate_frames for the frame "
                   "calls (default: the model's own, else FRAME_TEST_TIME)")
    a = p.parse_args(argv)
    samples = pose_data.flic_split(a.root, a.split)[:a.limit]
    frame_kw = json.loads(a.frame_settings)
    print(runinfo.header("pose library calls on FLIC", {"run": a.run, "root": a.root, "split": a.split,
                                                         "people": len(samples), "CROP_TEST_TIME": CROP_TEST_TIME,
                                                         "FRAME_TEST_TIME": FRAME_TEST_TIME,
                                                         "frame_settings": frame_kw}, 0), flush=True)
    frames = [load_image(s.image_path) for s in samples]
    boxes = [np.asarray(s.extras["torso_box"], np.float64) for s in samples]
    centres = np.stack([(b[:2] + b[2:]) / 2 for b in boxes])
    gt, visible, _ = pose_data.flic_ground_truth(samples, SIZE, protocol="frame")
    affine, _ = pose_data.flic_sample_affines(samples, SIZE, protocol="frame")
    norm = pose_data.flic_torso_norm(gt)
    gt = np.nan_to_num(gt)  # as `convcorr eval flic` (unlabelled joints are not scored)
    run = load(a.run)
    calls = {
        "crops": ("`estimate(frames, run, torso_boxes=torso_boxes, spatial=False)`",
                  lambda: estimate(frames, run, torso_boxes=boxes, spatial=False)),
        "crops_readout": ("`estimate(..., spatial=False, **CROP_TEST_TIME)`",
                          lambda: estimate(frames, run, torso_boxes=boxes, spatial=False, **CROP_TEST_TIME)),
        "frames": ("`estimate_frames(frames, run, torso=torso_centres)` (the model's frame settings)" + (
            f" with {frame_kw}" if frame_kw else ""), lambda: estimate_frames(frames, run, torso=centres, **frame_kw)),
        "frames_no_torso": ("`estimate_frames(frames, run)` (torso point: the frame's centre)",
                            lambda: estimate_frames(frames, run, **frame_kw)),
    }
    calls = {label: call for key, (label, call) in calls.items() if key in a.calls.split(",")}
    lines = ["| call | " + " | ".join(GROUPS) + " | Wrist@0.2 | s |", "|---" * (len(GROUPS) + 3) + "|"]
    with runinfo.timed() as total:
        for label, call in calls.items():
            with runinfo.timed() as wall:
                poses = call()
            pts = np.asarray(geometry.transform_points(poses.points.astype(np.float64), affine))
            lines.append(f"| {label} | " + " | ".join(f"{v:.1f}" for v in scores(pts, gt, visible, norm))
                         + f" | {wall['seconds']:.0f} |")
            print(lines[-1], flush=True)
    print("\n".join(lines))
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
