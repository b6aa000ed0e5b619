"""Where whole frames lose points against torso-box crops: FLIC people in two passes, the second pass's torso box
taken from the annotation (the ceiling), from the first pass (`estimate(..., two_pass=True)` today), or mixed, and
a third pass about the second pass's torso.

  python bench/pose_frames_diagnosis.py --root FLIC --split val --model flic_256 [--limit N]
      [--scales 0.7,0.8,0.9,1,1.1,1.2] [--first-sizes 480,576,672] [--cache FILE.npz]

Every second pass is the model's crop read-out about a torso box (`estimate(frames, model, torso_boxes=...)`,
test-time flip, each scale once, merged by the median, as `two_pass.FRAME_TEST_TIME` does); the rows differ only in the
box:

- annotated: the annotated torso box (what `CROP_TEST_TIME` reads on crops: the ceiling);
- found x f: the first pass's shoulders and hips, their tight box x the model's torso ratio x f (f = 0.9: today's
  `estimate_frames`);
- given centre: the box's centre moved onto the torso point the frame was given, its size the found one;
- found centre, annotated size: the converse (diagnosis only: it reads the annotation);
- third pass: the box again from the second pass's shoulders and hips (found x f, or about the given centre).

Prints the first pass's torso-box error (centre offset / annotated box's longer side, found / annotated longer side)
at the median and 90 % by person size, then PCK@0.05 (torso normaliser) per row, all and by person size. Nothing
is chosen here; the rule for a choice (the mean of elbow and wrist PCK@0.05 on the validation movies) is the
caller's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry, io, runinfo
from convcorr_jax.data.types import load_image
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose import joints
from convcorr_jax.pose.estimation import estimate, load
from convcorr_jax.pose.person_boxes import torso_from_points
from convcorr_jax.pose.recrop import TORSO
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, estimate_frames, first_pass, frame_input_size
from convcorr_jax.core.progress import bar

# what --time compares: two passes as before the model had its own settings, and the model's own
TIMED = {"two passes, FRAME_TEST_TIME's second_pass 0.9 (before)": {"refine": 0, "second_pass": 0.9},
         "the model's own settings": {}}
SIZE = 288  # side of the frame inputs the points are scored in (PCK is invariant to that uniform scale)
GROUPS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip")


def box_error(found: np.ndarray, annotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre offset / annotated longer side, found longer side / annotated longer side), each [N]."""
    side = lambda b: np.max(b[:, 2:] - b[:, :2] + 1, axis=1)  # noqa: E731
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    return np.linalg.norm(centre(found) - centre(annotated), axis=1) / side(annotated), side(found) / side(annotated)


def with_centre(boxes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The boxes [N, 4] moved so that their centres are `centres` [N, 2]."""
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    return np.concatenate([centres - half, centres + half], axis=1)


class Scorer:
    """PCK of image-pixel points against FLIC ground truth, all people and by person-size tercile."""

    def __init__(self, samples, sizes: np.ndarray):
        self.gt, self.visible, _ = pose_data.flic_ground_truth(samples, SIZE, protocol="frame")
        self.affine, _ = pose_data.flic_sample_affines(samples, SIZE, protocol="frame")
        self.norm = pose_data.flic_torso_norm(self.gt)
        self.gt = np.nan_to_num(self.gt)
        self.tercile = np.digitize(sizes, np.quantile(sizes, [1 / 3, 2 / 3]))

    def __call__(self, points: np.ndarray, rows: np.ndarray | None = None, alpha: float = 0.05) -> dict[str, float]:
        """{group: percent} and "mean(elbow, wrist)" over `rows` (default all people)."""
        rows = np.arange(len(points)) if rows is None else rows
        pts = np.asarray(geometry.transform_points(np.asarray(points, np.float64)[rows], self.affine[rows]))
        g = joints.group_pck(pts, self.gt[rows], self.visible[rows], self.norm[rows], joints.FLIC.groups, alpha)
        g["mean(elbow, wrist)"] = (g["Elbow"] + g["Wrist"]) / 2
        return g

    def line(self, label: str, points: np.ndarray) -> str:
        """A markdown row: groups, mean(elbow, wrist), wrist@0.2, and the mean by person-size tercile."""
        s, w = self(points), self(points, alpha=0.2)["Wrist"]
        by = [self(points, np.flatnonzero(self.tercile == t))["mean(elbow, wrist)"] for t in range(3)]
        vals = [s[g] for g in GROUPS] + [s["mean(elbow, wrist)"], w] + by
        return f"| {label} | " + " | ".join(f"{v:.1f}" for v in vals) + " |"


def second_pass(frames, model, boxes: np.ndarray, scales: tuple[float, ...], cache: dict, key: str) -> np.ndarray:
    """Per-scale points [S, N, K, 2] (image pixels) of the model's crop read-out about `boxes` (flip on), cached."""
    out = []
    for s in scales:
        k = f"{key}@{s}"
        if k not in cache:
            cache[k] = estimate(frames, model, torso_boxes=list(boxes), flip=True, scales=(s,)).points
        out.append(cache[k])
    return np.stack(out)


def torso_table(frames, model, centres, annotated, sizes, first_sizes, ratio, cache) -> tuple[list, dict]:
    """(The first pass's torso-box error at each first-pass input side by person-size tercile, {side: first-pass
    points [N, K, 2]}); first passes cached in `cache`."""
    terc = np.digitize(sizes, np.quantile(sizes, [1 / 3, 2 / 3]))
    lines = ["| first pass | people | centre offset median / 90 % | size ratio median / 10 % / 90 % | s |",
             "|---|---|---|---|---|"]
    firsts = {}
    for n in first_sizes:
        with runinfo.timed() as wall:
            if f"first{n}" not in cache:
                cache[f"first{n}"] = first_pass(frames, model, torso=centres, input_size=n)
        first = firsts[n] = cache[f"first{n}"]
        off, rat = box_error(torso_from_points(first, TORSO, ratio, 1.0), annotated)
        for t, name in ((None, "all"), (0, "small third"), (1, "middle third"), (2, "large third")):
            m = np.ones(len(off), bool) if t is None else terc == t
            lines.append(f"| input {n} px | {name} ({int(m.sum())}) | {np.median(off[m]):.3f} / "
                         f"{np.quantile(off[m], 0.9):.3f} | {np.median(rat[m]):.3f} / {np.quantile(rat[m], 0.1):.3f} "
                         f"/ {np.quantile(rat[m], 0.9):.3f} | {wall['seconds']:.0f} |")
    return lines, firsts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--model", default="flic_256", help="a shipped FLIC person-crop model or a run folder")
    p.add_argument("--limit", type=int, default=None, help="the first N people only (a smoke run)")
    p.add_argument("--scales", default=",".join(map(str, FRAME_TEST_TIME["scales"])))
    p.add_argument("--first-sizes", default="", help="first-pass input sides to compare (default: the model's)")
    p.add_argument("--factors", default="0.9,1.0", help="found-box factors f")
    p.add_argument("--cache", default=None, help="an .npz of second-pass points reused across runs")
    p.add_argument("--refine-scales", default="1.0", help="the scales of the pass that places the third pass's box")
    p.add_argument("--rows", default="", help="only these row keys (annotated, found_centre, found<f>, given<f>, "
                   "third<f>, third_given<f>)")
    p.add_argument("--time", type=int, default=0, help="also time estimate_frames on the first N frames: two passes "
                   "with FRAME_TEST_TIME's settings against the model's own")
    p.add_argument("--time-only", action="store_true", help="only the timing (with --time N: N frames, --reps times)")
    p.add_argument("--reps", type=int, default=1, help="timing repetitions, interleaved; the best is reported")
    a = p.parse_args(argv)
    scales = tuple(float(s) for s in a.scales.split(","))
    factors = tuple(float(f) for f in a.factors.split(","))
    samples = pose_data.flic_split(a.root, a.split)[:a.limit]
    model = load(a.model)
    default_size = frame_input_size(model.config.model)
    first_sizes = [int(s) for s in a.first_sizes.split(",")] if a.first_sizes else [default_size]
    print(runinfo.header("whole-frame diagnosis on FLIC", {"model": a.model, "split": a.split, "people": len(samples),
                                                           "scales": scales, "factors": factors,
                                                           "first_sizes": first_sizes}, 0), flush=True)
    frames = [load_image(s.image_path) for s in bar(samples, desc="frames")]
    annotated = np.stack([np.asarray(s.extras["torso_box"], np.float64) for s in samples])
    centres = (annotated[:, :2] + annotated[:, 2:]) / 2
    sizes = np.max(annotated[:, 2:] - annotated[:, :2] + 1, axis=1)
    cache = dict(np.load(a.cache)) if a.cache and Path(a.cache).exists() else {}
    with runinfo.timed() as total:
        if not a.time_only:
            diagnose(a, frames, model, annotated, centres, sizes, samples, first_sizes, default_size, scales,
                     factors, cache)
        if a.time:
            print("\n".join(timing(frames[:a.time], model, centres[:a.time], TIMED, a.reps)), flush=True)
    print(f"wall time {total['seconds']:.1f} s")
    return 0


def diagnose(a, frames, model, annotated, centres, sizes, samples, first_sizes, default_size, scales, factors,
             cache) -> None:
    """Print the first pass's torso table and the second-pass rows (saving `cache` to --cache)."""
    ratio = model.frames.ratio
    lines, firsts = torso_table(frames, model, centres, annotated, sizes, first_sizes, ratio, cache)
    print("\n".join(lines), flush=True)
    score = Scorer(samples, sizes)
    only = set(a.rows.split(",")) if a.rows else None
    rows = diagnosis_rows(frames, model, annotated, centres, firsts[default_size], ratio, scales, factors,
                          cache, tuple(float(v) for v in a.refine_scales.split(",")), only)
    head = ("| torso box of the second pass | " + " | ".join(GROUPS) + " | mean(elbow, wrist) | wrist@0.2 | "
            "mean(e, w) small / middle / large third |")
    table = [head, "|---" * (len(GROUPS) + 6) + "|"] + [score.line(k, v) for k, v in rows.items()]
    print("\n".join(table), flush=True)
    if a.cache:
        io.save_npz(a.cache, **cache)  # atomic: never half a file


def diagnosis_rows(frames, model, annotated, centres, first, ratio, scales, factors, cache, refine_scales,
                   only: set[str] | None) -> dict[str, np.ndarray]:
    """{row label: merged second- or third-pass points [N, K, 2]} (module docstring's rows; `only`: those keys)."""
    med = lambda per_scale: np.median(per_scale, axis=0)  # noqa: E731
    want = lambda key: only is None or key in only  # noqa: E731
    rows, found_joints = {}, torso_from_points(first, TORSO, ratio, 1.0)
    if want("annotated"):
        rows["annotated (the ceiling)"] = med(second_pass(frames, model, annotated, scales, cache, "annotated"))
    if want("found_centre"):
        rows["found centre, annotated size"] = med(second_pass(
            frames, model, with_centre(annotated, (found_joints[:, :2] + found_joints[:, 2:]) / 2), scales, cache,
            "found_centre"))
    tag = "" if refine_scales == (1.0,) else "r" + ",".join(f"{v:g}" for v in refine_scales)
    for f in factors:
        found = torso_from_points(first, TORSO, ratio, f)
        if want(f"found{f}"):
            rows[f"found x {f}"] = med(second_pass(frames, model, found, scales, cache, f"found{f}"))
        if want(f"given{f}"):
            rows[f"given centre, found x {f}"] = med(second_pass(frames, model, with_centre(found, centres), scales,
                                                                cache, f"given{f}"))
        if want(f"third{f}") or want(f"third_given{f}"):
            two = med(second_pass(frames, model, found, refine_scales, cache, f"found{f}"))
            third = torso_from_points(two, TORSO, ratio, f)
            label = f"found x {f}, third pass" + (f" (second pass at scales {tag[1:]})" if tag else "")
            if want(f"third{f}"):
                rows[label] = med(second_pass(frames, model, third, scales, cache, f"third{f}{tag}"))
            if want(f"third_given{f}"):
                rows[label + " about the given centre"] = med(second_pass(
                    frames, model, with_centre(third, centres), scales, cache, f"third_given{f}{tag}"))
    return rows


def timing(frames, model, centres, settings: dict[str, dict], reps: int = 1) -> list[str]:
    """Seconds per frame of `estimate_frames` with each of `settings` on the same frames, after one warm-up call
    each; the settings interleaved `reps` times, the best of each reported."""
    for kw in settings.values():
        estimate_frames(frames[:2], model, torso=centres[:2], **kw)
    best = {label: float("inf") for label in settings}
    for _ in range(max(1, reps)):
        for label, kw in settings.items():
            with runinfo.timed() as wall:
                estimate_frames(frames, model, torso=centres, **kw)
            best[label] = min(best[label], wall["seconds"] / len(frames))
    return ["| estimate_frames settings | s per frame (best of %d) |" % max(1, reps), "|---|---|"] + [
        f"| {label} | {v:.2f} |" for label, v in best.items()]


if __name__ == "__main__":
    raise SystemExit(main())
