"""Demo stage of the synthetic data: example figures, set statistics and image-blind baselines.

The baselines say how much of each task can be solved without looking at the image: the category's mean
keypoint layout inside the ground-truth box (objects, PCK@0.1), the mean face shape (NME by inter-ocular
distance), the mean pose at the person's centre and scale (PCKh@0.5). Methods that read the image should beat
them clearly.
"""

from __future__ import annotations

import json
import time

import numpy as np

SIZES = {"tiny": (12, 8, 8), "default": (240, 160, 160), "full": (2000, 2000, 2000)}


def object_mean_shape_pck(samples, alpha: float = 0.1) -> dict[str, float]:
    """PCK@alpha (visible keypoints, alpha * max box side) of predicting each category's mean box-relative layout
    (leave-one-out mean)."""
    out = {}
    for c in sorted({s.category for s in samples}):
        ss = [s for s in samples if s.category == c]
        if len(ss) < 2:
            continue
        wh = np.stack([np.maximum(s.bbox[2:] - s.bbox[:2], 1) for s in ss])
        lo = np.stack([s.bbox[:2] for s in ss])
        rel = (np.stack([s.points for s in ss]) - lo[:, None]) / wh[:, None]
        loo = (rel.sum(0)[None] - rel) / (len(ss) - 1)
        pred = lo[:, None] + loo * wh[:, None]
        d = np.linalg.norm(pred - np.stack([s.points for s in ss]), axis=-1) / wh.max(1)[:, None]
        vis = np.stack([s.visible for s in ss])
        out[c] = float((d[vis] <= alpha).mean())
    return out


def face_mean_shape_nme(samples) -> float:
    from convcorr_jax.data.faces300w import interocular_distance

    P = np.stack([s.points for s in samples]).astype(np.float64)
    loo = (P.sum(0)[None] - P) / max(len(P) - 1, 1)
    return float((np.linalg.norm(loo - P, axis=-1).mean(1) / interocular_distance(P)).mean())


def people_mean_pose_pckh(samples, thr: float = 0.5) -> float:
    c = np.stack([s.extras["center"] for s in samples])[:, None]
    sc = np.array([s.extras["scale"] for s in samples])[:, None, None]
    P = np.stack([s.points for s in samples]).astype(np.float64)
    Q = (P - c) / sc
    loo = (Q.sum(0)[None] - Q) / max(len(Q) - 1, 1)
    h = np.array([s.extras["normalize"] for s in samples])[:, None]
    return float((np.linalg.norm(loo * sc + c - P, axis=-1) / h <= thr).mean())


def demo_stage(ctx):
    from convcorr_jax.data import synthetic as S
    from convcorr_jax.data.synthetic import figures
    from convcorr_jax.demo import StageResult

    n_obj, n_ppl, n_face = SIZES.get(ctx.size, SIZES["default"])
    t0 = time.perf_counter()
    n_fig = 6 if ctx.size == "tiny" else 12
    for kind in S.KINDS:
        figures.grid(
            kind,
            n_fig,
            ctx.seed,
            None,
            6,
            ctx.figures / f"synthetic_{kind}.png",
            ctx.figures / "synthetic_objects_masks.png" if kind == "objects" else None,
        )
    objs = S.load_objects(n=n_obj, seed=ctx.seed, split=None)
    ppl = S.load_people(n=n_ppl, seed=ctx.seed, split=None)
    fcs = S.load_faces(n=n_face, seed=ctx.seed, split=None)
    gen = {}
    for kind, n in (("objects", n_obj), ("people", n_ppl), ("faces", n_face)):
        info = json.loads((S.dataset_dir(kind, n, ctx.seed) / "synthetic.json").read_text())
        gen[kind] = info
    pck = object_mean_shape_pck(objs)
    nme = face_mean_shape_nme(fcs)
    pckh = people_mean_pose_pckh(ppl)
    vis = {c: float(np.mean(np.concatenate([s.visible for s in objs if s.category == c]))) for c in S.OBJECT_CATEGORIES}
    lines = [
        "Synthetic sets written in the real formats (VOC keypoint XML + segmentation PNGs, MPII h5 + FLIC mat, "
        "300-W .pts) and read back through the real loaders.",
        "",
        "| set | samples (train / test) | image px | generation s (cache) |",
        "|---|---|---|---|",
    ]
    for kind, info in gen.items():
        lines.append(
            f"| {kind} | {info['n']} ({info['train']} / {info['test']}) | {info['image_size']} | "
            f"{info['seconds']:.1f} |"
        )
    lines += [
        "",
        "Image-blind baselines (leave-one-out mean shape; a method that reads the image should beat them):",
        "",
        "| category | keypoints | visible fraction | mean-layout PCK@0.1 |",
        "|---|---|---|---|",
    ]
    for c in S.OBJECT_CATEGORIES:
        lines.append(f"| {c} | {len(S.OBJECT_KEYPOINTS[c])} | {vis[c]:.2f} | {pck.get(c, float('nan')):.3f} |")
    lines += [
        "",
        f"Faces: mean-shape NME (inter-ocular) = {nme:.3f}. People: mean-pose PCKh@0.5 = {pckh:.3f}.",
        "",
        "![objects](figures/synthetic_objects.png)",
        "![object masks](figures/synthetic_objects_masks.png)",
        "![people](figures/synthetic_people.png)",
        "![faces](figures/synthetic_faces.png)",
    ]
    mean_pck = float(np.mean(list(pck.values())))
    summary = (
        f"{n_obj} objects / {n_ppl} people / {n_face} faces; image-blind baselines: object PCK@0.1 "
        f"{mean_pck:.2f}, face NME {nme:.2f}, people PCKh@0.5 {pckh:.2f} ({time.perf_counter() - t0:.0f} s)"
    )
    metrics = {
        "object_mean_layout_pck": pck,
        "face_mean_shape_nme": nme,
        "people_mean_pose_pckh": pckh,
        "visible_fraction": vis,
        "generation_seconds": {k: v["seconds"] for k, v in gen.items()},
    }
    return StageResult(summary, "\n".join(lines), metrics)
