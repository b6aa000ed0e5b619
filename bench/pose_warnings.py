"""Low-confidence warnings of a FLIC pose model (`Poses.warned`): the threshold chosen on FLIC's validation movies,
and how often it fires and how warned people score against unwarned ones on FLIC test and on LSP-extended.

  python bench/pose_warnings.py --flic FLIC --lspet LSPET [--model flic] [--write] [--limit N]

Threshold (`pose.readout.warning_threshold`, the rule `WARN_RULE`): the 5th percentile of the mean joint confidence
of the validation people the model gets right (both elbows and wrists within PCK@0.2), from `estimate` on their
torso boxes, one crop, with the model's validated read-out: the input a run's training evaluates, so the threshold
is the one `convcorr train pose` writes for new runs. `--write` stores it in the model folder's readout.json
(`model_folder.set_readout`). FLIC test is scored with torso boxes and with person boxes drawn from the joints
(`person_boxes.boxes_from_joints`); LSP-extended (LSPET/images/im%05d.jpg with LSPET/joints.mat, LSP's 14 joints:
whole bodies in sports, which the upper-body model never saw) with person boxes drawn the same way from every
labelled joint, its shoulders, elbows, wrists and hips scored against the model's and normalised as FLIC's
(|left shoulder - right hip|). Prints, per input: people, warned %, and for all, unwarned and warned people PCK@0.2
of elbows and wrists and PCK@0.05 of every scored joint.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry, metrics, runinfo
from convcorr_jax.data.flic_people import flic_torso_norm
from convcorr_jax.data.lsp import image_count, load_lsp, read_lsp_joints
from convcorr_jax.data.skeletons import FLIC
from convcorr_jax.data.types import load_image
from convcorr_jax.pose import person_boxes as pb
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.estimation import CROP_TEST_TIME, estimate, load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pose_person_boxes import Scorer  # noqa: E402  (FLIC people, as the person-box bench reads them)

ARMS = tuple(FLIC.groups["Elbow"]) + tuple(FLIC.groups["Wrist"])
# FLIC joint -> LSP joint (lsho lelb lwri rsho relb rwri lhip rhip; LSP has no eyes or nose)
LSP_OF_FLIC = {0: 9, 1: 10, 2: 11, 3: 8, 4: 7, 5: 6, 6: 3, 7: 2}


@dataclasses.dataclass
class People:
    """Images with their ground truth in FLIC's joint order: gt [N, 11, 2] and visible [N, 11] in the pixels the
    predictions are mapped into by `affine` [N, 2, 3] (identity: image pixels), norm [N], torso / person boxes."""

    frames: list
    gt: np.ndarray
    visible: np.ndarray
    norm: np.ndarray
    affine: np.ndarray
    torso: list | None
    person: np.ndarray


def flic_people(root: str, split: str, limit: int | None) -> People:
    """FLIC's people of a split in its frame inputs (`pose_person_boxes.Scorer`)."""
    f = Scorer(root, split, limit)
    return People(f.frames, f.gt, f.visible, f.norm, f.affine, f.torso, f.person)


def lspet_people(root: str, limit: int | None) -> People:
    """The first LSP-extended people whose images are present (`data.lsp.load_lsp`), LSP's joints in FLIC's."""
    joints = read_lsp_joints(Path(root) / "joints.mat")
    n = image_count(Path(root) / "images", joints[2], len(joints[0]))
    samples = load_lsp(root, indices=range(min(n, limit or n)), joints=joints)
    pts = np.stack([s.points for s in samples]).astype(np.float64)  # 0-based; NaN where not labelled
    gt = np.full((len(pts), FLIC.num_joints, 2), np.nan)
    for f, j in LSP_OF_FLIC.items():
        gt[:, f] = pts[:, j]
    visible = np.all(np.isfinite(gt), -1)
    return People([load_image(s.image_path) for s in samples], np.nan_to_num(gt), visible, flic_torso_norm(gt),
                  np.tile(np.eye(2, 3), (len(pts), 1, 1)), None, pb.boxes_from_joints(pts))


def in_frames(people: People, points: np.ndarray) -> np.ndarray:
    return np.asarray(geometry.transform_points(np.asarray(points, np.float64), people.affine))


def threshold(model: str, val: People, write: bool) -> float:
    run = load(model)
    poses = estimate(val.frames, run, torso_boxes=val.torso)
    scored = val.visible & np.isfinite(val.norm)[:, None]
    right = pose_readout.right_people(in_frames(val, poses.points), val.gt, scored, val.norm, ARMS)
    t = pose_readout.warning_threshold(poses.confidence, right)
    print(f"threshold {t:.4f} from {int(right.sum())} right people of {len(right)} (stored: {run.readout.warn_below})",
          flush=True)
    if write:
        choice, record = pose_readout.with_warning(*pose_readout.load_readout(run.path), t, int(right.sum()),
                                                   "FLIC's elbows and wrists")
        record["warning"]["input"] = "FLIC validation movies, torso boxes, one crop, no flip"
        model_folder.set_readout(run.path, choice, record)
        print(f"wrote {run.path / pose_readout.FILE}", flush=True)
    return t


def report(label: str, people: People, poses, warn_below: float) -> str:
    pred = in_frames(people, poses.points)
    scored = people.visible & np.isfinite(people.norm)[:, None]
    warned = poses.confidence.mean(-1) < warn_below
    cells = []
    for group in (np.ones_like(warned), ~warned, warned):
        at2 = metrics.pck_hits(pred[group], people.gt[group], scored[group], people.norm[group], 0.2)
        at05 = metrics.pck_hits(pred[group], people.gt[group], scored[group], people.norm[group], 0.05)
        if not group.any():
            cells += ["-", "-", "-"]
            continue
        cells += [f"{100 * np.nanmean(at2[:, list(FLIC.groups['Elbow'])]):.1f}",
                  f"{100 * np.nanmean(at2[:, list(FLIC.groups['Wrist'])]):.1f}", f"{100 * np.nanmean(at05):.1f}"]
    return (f"| {label} | {len(warned)} | {100 * warned.mean():.1f} | {np.mean(poses.confidence):.2f} | "
            + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flic", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--lspet", required=True, help="LSP-extended folder (joints.mat + images/)")
    p.add_argument("--model", default="flic", help="a shipped model or a FLIC person-crop model folder")
    p.add_argument("--write", action="store_true", help="store the threshold in the model folder's readout.json")
    p.add_argument("--limit", type=int, default=None, help="the first N people of each set only (a smoke run)")
    p.add_argument("--lspet-limit", type=int, default=None, help="the first N LSP-extended images only")
    p.add_argument("--one-crop", action="store_true", help="leave out the CROP_TEST_TIME row")
    a = p.parse_args(argv)
    with runinfo.timed() as total:
        print(runinfo.header("pose warnings", {"model": a.model, "limit": a.limit, "margin": pb.JOINTS_MARGIN,
                                               "PERSON_BOX": pb.PERSON_BOX, "quantile": pose_readout.WARN_QUANTILE},
                             0), flush=True)
        t = threshold(a.model, flic_people(a.flic, "val", a.limit), a.write)
        run = load(a.model)
        lines = ["| input | people | warned % | mean confidence | all: Elbow@0.2 | Wrist@0.2 | all@0.05 | "
                 "unwarned: Elbow@0.2 | Wrist@0.2 | all@0.05 | warned: Elbow@0.2 | Wrist@0.2 | all@0.05 |",
                 "|---" * 13 + "|"]
        test = flic_people(a.flic, "test", a.limit)
        lspet = lspet_people(a.lspet, a.lspet_limit or a.limit)
        for label, people, kw in (("FLIC test, torso boxes", test, {"torso_boxes": test.torso}),
                                  ("FLIC test, torso boxes, CROP_TEST_TIME", test, {"torso_boxes": test.torso,
                                                                                        **CROP_TEST_TIME}),
                                  ("FLIC test, person boxes", test, {"person_boxes": list(test.person)}),
                                  ("LSP-extended, person boxes", lspet, {"person_boxes": list(lspet.person)})):
            if a.one_crop and "CROP_TEST_TIME" in label:
                continue
            lines.append(report(label, people, estimate(people.frames, run, **kw), t))
            print(lines[-1], flush=True)
    print("\n".join(lines))
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
