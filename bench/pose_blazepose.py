"""BlazePose full (MediaPipe 0.10.14) beside our pose models, every model given the same person box, on FLIC test
and on LSP-extended's held-out test part (im05501-im06000).

    python3 -m venv bench/.venv_mediapipe && bench/.venv_mediapipe/bin/pip install mediapipe==0.10.14
    .venv/bin/python bench/pose_blazepose.py --flic FLIC --lspet LSPET [--models flic,flic_256[,DIR]] [--limit N]
        [--out bench/RESULTS_pose_blazepose.md]

MediaPipe lives in an environment of its own (bench only; 0.10.14's wheel ships the person detector and
pose_landmark_full, later releases download their models at run time): this script runs it in a child process of
that environment's python (`CHILD`: `mediapipe.solutions.pose.Pose(static_image_mode=True, model_complexity=1)`),
crops in and landmarks and per-person times out through .npz files.

People: the test people of each set on the person skeleton (`pose.mixture.mapped_people`: FLIC's 1,016 test
people; LSP-extended's `data.lsp.LSPET_PARTS` test part), each with the person box drawn from its labelled joints
(`person_boxes.boxes_from_joints`: the tight box, each side moved out by `JOINTS_MARGIN` of its longer side).
Our models: `estimate(images, model, person_boxes=boxes)`, the model's default read-out. BlazePose: the square of
the box's longer side about its centre, cut at the image's own pixels, zeros where it leaves the image; its
landmarks 11-16 and 23-28 (shoulders, elbows, wrists, hips, knees, ankles) mapped back to image pixels and onto
the person skeleton by name. A person BlazePose does not find has no joints: a miss at every threshold.
Scores: PCK (`joints.group_pck`) with the torso normaliser (l shoulder - r hip; people without both labelled are
left out) at 0.05 and 0.2, "-" for joints a model lacks. Left and right: BlazePose's landmarks are scored as
returned and swapped; the convention used is the one with the higher mean of the elbow, wrist, knee and ankle
PCK@0.2 cells over both sets (the other is printed for reference). ms per person, person box to joints on this
CPU: our models the second `estimate` call over all people (the first compiles) / people; BlazePose the mean of
its per-person `process` calls after one warm-up call, plus cutting the crop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from convcorr_jax.core import io, runinfo
from convcorr_jax.data import joint_map, lsp
from convcorr_jax.data.skeletons import PERSON, Skeleton
from convcorr_jax.data.types import load_image
from convcorr_jax.pose import joints
from convcorr_jax.pose import person_boxes as pb
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.estimation import estimate, load
from convcorr_jax.pose.mixture import mapped_people

MEDIAPIPE = "mediapipe==0.10.14"
VENV = Path(__file__).resolve().parent / ".venv_mediapipe"
# BlazePose's landmarks scored (MediaPipe's PoseLandmark ids and names)
BLAZE = {11: "left_shoulder", 12: "right_shoulder", 13: "left_elbow", 14: "right_elbow", 15: "left_wrist",
         16: "right_wrist", 23: "left_hip", 24: "right_hip", 25: "left_knee", 26: "right_knee", 27: "left_ankle",
         28: "right_ankle"}
GROUPS = ("Elbow", "Wrist", "Knee", "Ankle")
ALPHAS = (0.05, 0.2)
CHILD = """
import json, sys, time
import numpy as np
import mediapipe as mp
crops = np.load(sys.argv[1])
crops = [crops[str(i)] for i in range(len(crops.files))]
xy, ms = np.full((len(crops), 33, 2), np.nan), np.zeros(len(crops))
with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
    pose.process(crops[0])  # warm-up, not timed
    for i, c in enumerate(crops):
        t0 = time.perf_counter()
        r = pose.process(c)
        ms[i] = 1000 * (time.perf_counter() - t0)
        if r.pose_landmarks is not None:
            xy[i] = [(p.x, p.y) for p in r.pose_landmarks.landmark]
np.savez(sys.argv[2], xy=xy, ms=ms)
print(json.dumps({"mediapipe": mp.__version__, "numpy": np.__version__}))
"""


def people(kind: str, root: str, limit: int | None, split: str = "test") -> dict:
    """The people of a set's split ("val": FLIC's validation movies, LSP-extended's val part) on the person skeleton: images, gt [N, 17, 2], scored [N, 17], norm [N], boxes."""
    opts = tuple(lsp.LSPET_PARTS.items()) if kind == "lsp" else ()
    ps = mapped_people(DataPart(kind, root, options=opts), PERSON, split)
    samples, boxes = ps.samples[:limit], ps.boxes[:limit]
    gt = np.stack([s.points for s in samples]).astype(np.float64)
    labelled = np.stack([s.extras["labelled"] for s in samples])
    norm = PERSON.normaliser_lengths(gt, labelled)
    return {"images": [load_image(s.image_path) for s in samples], "gt": gt, "norm": norm, "boxes": boxes,
            "scored": labelled & np.isfinite(norm)[:, None]}


def on_person(points: np.ndarray, names) -> tuple[np.ndarray, np.ndarray]:
    """Points [N, K, 2] of joints `names` on the person skeleton by name: ([N, 17, 2], NaN where absent; which of
    the 17 the joints have, bool [17])."""
    index = joint_map.joint_index(Skeleton("model", tuple(names), ()), PERSON)
    return joint_map.map_joints(points, np.ones(points.shape[:2], bool), index)[0], index >= 0


def crop_square(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The square of the box's longer side about its centre at the image's pixels, zeros outside the image;
    (crop, its top-left pixel (x, y) in the image, its side)."""
    side = max(int(round(float(np.max(box[2:] - box[:2])))), 1)
    x0, y0 = (np.round((box[:2] + box[2:]) / 2 - side / 2 + 0.5)).astype(int)
    out = np.zeros((side, side, 3), np.uint8)
    h, w = image.shape[:2]
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xa < xb and ya < yb:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = image[ya:yb, xa:xb]
    return out, np.array([x0, y0], np.float64), side


def blazepose(python: str, ps: dict) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, dict]:
    """BlazePose on each person's crop: `on_person`'s (points in image pixels, NaN: not found; joints it has), ms
    per person [N] (crop + process), versions."""
    cut, corner, sides = [], [], []
    t0 = time.perf_counter()
    for image, box in zip(ps["images"], ps["boxes"]):
        c, xy0, side = crop_square(image, box)
        cut.append(c), corner.append(xy0), sides.append(side)
    crop_ms = 1000 * (time.perf_counter() - t0) / len(cut)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "crops.npz", **{str(i): c for i, c in enumerate(cut)})
        r = subprocess.run([python, "-c", CHILD, str(Path(tmp) / "crops.npz"), str(Path(tmp) / "out.npz")],
                           capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"BlazePose's child process failed:\n{r.stderr[-3000:]}")
        out = np.load(Path(tmp) / "out.npz")
        xy, ms = out["xy"], out["ms"]
    ids = list(BLAZE)
    # MediaPipe's normalised x * side runs over pixel edges; pixel centres are at integers here
    pts = np.asarray(corner)[:, None] + xy[:, ids] * np.asarray(sides, np.float64)[:, None, None] - 0.5
    return on_person(pts, BLAZE.values()), ms + crop_ms, json.loads(r.stdout.strip().splitlines()[-1])


def ours(model: str, ps: dict) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """A model's `on_person` (points in image pixels, joints it has) and ms per person (the second call's)."""
    run = load(model)
    estimate(ps["images"], run, person_boxes=list(ps["boxes"]))  # compiles
    t0 = time.perf_counter()
    poses = estimate(ps["images"], run, person_boxes=list(ps["boxes"]))
    ms = 1000 * (time.perf_counter() - t0) / len(ps["images"])
    return on_person(np.asarray(poses.points, np.float64), poses.names), ms


def scores(ps: dict, pred: np.ndarray, has: np.ndarray) -> dict[tuple[str, float], float]:
    """{(group, alpha): PCK percent} of points [N, 17, 2] (NaN: a miss); NaN where no joint of the group is
    labelled or the model lacks them (`has`)."""
    out = {}
    for alpha in ALPHAS:
        with warnings.catch_warnings():  # groups with no labelled joint (FLIC's legs): NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            pck = joints.group_pck(pred, np.nan_to_num(ps["gt"]), ps["scored"], ps["norm"], PERSON.groups, alpha)
        for g in GROUPS:
            out[g, alpha] = pck[g] if has[list(PERSON.groups[g])].all() else float("nan")
    return out


def row(label: str, model: str, s: dict, ms: float) -> str:
    cells = [" / ".join("-" if np.isnan(s[g, a]) else f"{s[g, a]:.1f}" for a in ALPHAS) for g in GROUPS]
    return f"| {label} | {model} | " + " | ".join(cells) + f" | {ms:.0f} |"


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else the platform's processor or machine."""
    info = Path("/proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines()
             if ln.startswith("model name")] if info.is_file() else []
    return names[0] if names else platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flic", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--lspet", required=True, help="LSP-extended folder (joints.mat + images/ im00001-im06000)")
    p.add_argument("--models", default="flic,flic_256", help="shipped model names or model folders, comma-separated")
    p.add_argument("--limit", type=int, default=None, help="the first N people of each set only (a rehearsal)")
    p.add_argument("--mediapipe-python", default=str(VENV / "bin" / "python"),
                   help=f"the python of an environment with {MEDIAPIPE} (default bench/.venv_mediapipe)")
    p.add_argument("--split", default="test", choices=("val", "test"),
                   help="the people scored: test, or the validation parts (FLIC's validation movies, LSP-extended "
                   "im05001-im05500) where read-outs and settings are chosen")
    p.add_argument("--no-blazepose", action="store_true", help="our models alone (e.g. choosing on val)")
    p.add_argument("--out", default=None, help="write the markdown here (default: stdout only)")
    a = p.parse_args(argv)
    if not a.no_blazepose and not Path(a.mediapipe_python).is_file():
        p.error(f"no {a.mediapipe_python}: python3 -m venv bench/.venv_mediapipe && "
                f"bench/.venv_mediapipe/bin/pip install {MEDIAPIPE}")
    models = [m for m in a.models.split(",") if m]
    config = {"models": models, "split": a.split, "limit": a.limit, "margin": pb.JOINTS_MARGIN, "alphas": ALPHAS,
              "machine": f"{platform.platform()}, {cpu_name()}, {os.cpu_count()} CPUs",
              "load average": round(os.getloadavg()[0], 1)}
    with runinfo.timed() as total:
        part = {"test": "im05501-im06000", "val": "im05001-im05500"}[a.split]
        sets = {f"FLIC {a.split}": people("flic", a.flic, a.limit, a.split),
                f"LSP-extended {a.split} ({part})": people("lsp", a.lspet, a.limit, a.split)}
        results, blaze, found, versions = {}, {}, {}, {}
        for label, ps in sets.items():
            for m in models:
                (pred, has), ms = ours(m, ps)
                results[label, m] = (scores(ps, pred, has), ms)
                print(row(label, f"`{m}`", *results[label, m]), flush=True)
            if a.no_blazepose:
                continue
            (pred, has), ms, versions = blazepose(a.mediapipe_python, ps)
            found[label] = np.isfinite(pred).all(-1).any(-1)
            blaze[label] = {"as returned": (scores(ps, pred, has), float(ms.mean())),
                            "swapped": (scores(ps, pred[:, PERSON.flip], has), float(ms.mean()))}
            print(row(label, "BlazePose full, L/R as returned", *blaze[label]["as returned"]), flush=True)
        if not a.no_blazepose:
            rule = {c: np.nanmean([v for label in sets for k, v in blaze[label][c][0].items() if k[1] == 0.2])
                    for c in ("as returned", "swapped")}
            used = max(rule, key=rule.get)
    if a.no_blazepose:  # the rows above are the result
        print(runinfo.header("our pose models, person boxes", config))
        print(f"wall time {total['seconds']:.1f} s")
        return 0
    head = " | ".join(f"{g.lower()} @0.05 / @0.2" for g in GROUPS)
    lines = ["```", runinfo.header("BlazePose full beside our pose models, same person boxes", config),
             f"BlazePose: {MEDIAPIPE} (child: mediapipe {versions.get('mediapipe')}, numpy {versions.get('numpy')})",
             "```", "", f"| people | model | {head} | ms per person |", "|---" * (len(GROUPS) + 3) + "|"]
    for label, ps in sets.items():
        n, scored = len(ps["images"]), int(np.isfinite(ps["norm"]).sum())
        for i, m in enumerate(models):
            lines.append(row(f"{label}: {n} people, {scored} with a torso" if i == 0 else "", f"`{m}`",
                             *results[label, m]))
        miss = int((~found[label]).sum())
        lines.append(row("", f"BlazePose full, L/R {used} ({miss} of {n} not found)", *blaze[label][used]))
        other = "swapped" if used == "as returned" else "as returned"
        lines.append(row("", f"reference: BlazePose full, L/R {other}", *blaze[label][other]))
    lines += ["", f"PCK % with the torso normaliser (l shoulder - r hip; people without both labelled left out), "
              f"person boxes from the labelled joints ({pb.JOINTS_MARGIN:.0%} of the longer side added on each "
              f"side); a person BlazePose did not find counts as a miss at every threshold; \"-\": a joint the "
              f"model lacks. BlazePose's left and right: {used} (mean of the elbow, wrist, knee and ankle PCK@0.2 "
              f"cells over both sets: as returned {rule['as returned']:.1f}, swapped {rule['swapped']:.1f}). "
              f"ms per person: person box to joints on this CPU in this run (our models: the second `estimate` "
              f"call over all people / people, batched as the library runs; BlazePose: its per-person calls after "
              f"a warm-up one, plus cutting the crop).", "",
              f"Command: `.venv/bin/python bench/pose_blazepose.py --flic FLIC --lspet LSPET --models "
              f"{','.join(models)}" + (f" --limit {a.limit}" if a.limit else "") + "`. "
              f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, wall time {total['seconds']:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        io.write_text(a.out, text)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
