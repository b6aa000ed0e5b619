"""Keypoint transfer by dense alignment (Long et al. 2014, section 3, Table 2).

Protocol: every instance is warped to a square box (`box` px). For each target (test) instance, its
`neighbours` nearest training instances of the same category by fc7 cosine similarity (`knn.topk_cosine`) are
aligned to it with the BP flow (`flow.bp`, source = target instance, target = neighbour, so each neighbour is
warped into the target's frame), on the grid of conv4 receptive-field centres, with conv4 features or with
dense SIFT computed at the same centres. Neighbours are ordered by deformation energy; a keypoint's prediction
is the coordinate-wise median of its transferred positions from the top `top` neighbours (that have it
labelled). Baseline "NN transfer": copy the keypoints of the nearest fc7 neighbour in box-normalised
coordinates. PCK: a visible target keypoint is correct within alpha * max(box width, height); accuracy per
keypoint type, averaged over types per category, categories averaged for the mean.

Units: flow displacements are measured in pixels of a `paper_box` (500 px) box, so beta = 3e-3 keeps the
paper's meaning at any working box size; both feature types are scaled so that their mean column norm is
`feature_norm` (512, VLFeat's SIFT scale: the paper notes conv4 and SIFT "have a similar scale").
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from convcorr_jax.data.types import KeypointSample
from convcorr_jax.errors import check

PAPER_TABLE2 = {  # Long et al. Table 2, PCK (%) at alpha 0.1 per VOC category, and means at 0.1 / 0.05 / 0.025
    "conv4 flow": {"mean": (24.9, 11.8, 4.08)},
    "SIFT flow": {"mean": (24.7, 10.9, 3.55)},
    "NN transfer": {"mean": (19.9, 7.8, 2.35)},
}
METHODS = ("conv4 flow", "SIFT flow", "NN transfer")
ALPHAS = (0.1, 0.05, 0.025)


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Table 2 settings (paper: box 500, 25 neighbours, top 5, beta 3e-3, SIFT radius 20 at 500 px)."""

    box: int = 192  # square box side (px) every instance is warped to
    paper_box: int = 500  # box size in which beta and the SIFT radius are expressed
    neighbours: int = 25
    top: int = 5
    beta: float = 3e-3
    sift_radius: float = 20.0  # paper: descriptor radius 20 px on the 500 px box (bin size = radius / 2)
    sift_scale: str = "stride"  # "stride": radius keeps its ratio to the conv4 stride (16 px in the paper);
    # "box": radius scaled with the box (box / paper_box)
    feature_norm: float = 512.0
    layer: str = "conv4"  # AlexNet role name, mapped through backbone.roles
    iters: int = 5
    levels: int = 3
    window: int | None = 5  # max displacement in grid cells (None: labels cover the whole grid)
    dt_method: str = "brute"  # same messages as "envelope" bit for bit; faster on CPU for short label axes
    max_targets: int | None = None  # first N test instances (None: all)
    val_betas: tuple[float, ...] = ()  # if set, beta is chosen among these on a validation split of the training set
    val_targets: int = 12


# --------------------------------------------------------------------------------------------------- boxes


def box_crop(sample: KeypointSample, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Instance warped to a size x size box: (uint8 [size, size, 3], keypoints [K, 2] in box pixels)."""
    check(sample.image is not None, sample.id, "image", "a loaded image")
    x0, y0, x1, y1 = np.asarray(sample.bbox, np.float64)
    check(x1 >= x0 and y1 >= y0, sample.id, "bbox", "x1 >= x0 and y1 >= y0", sample.bbox)
    bw, bh = x1 - x0 + 1, y1 - y0 + 1
    # PIL's EXTENT maps the output's pixel edges onto an input rectangle given in edge coordinates (pixel
    # centres at +0.5): the box's outer edges x0 - 0.5 .. x1 + 0.5 (centre convention) are x0 .. x1 + 1 there.
    img = Image.fromarray(sample.image).transform(
        (size, size), Image.Transform.EXTENT, (x0, y0, x1 + 1, y1 + 1), Image.Resampling.BILINEAR)
    pts = image_to_box(sample.points, sample.bbox, size)
    return np.asarray(img), pts


def image_to_box(points: np.ndarray, bbox: np.ndarray, size: int) -> np.ndarray:
    x0, y0, x1, y1 = np.asarray(bbox, np.float64)
    scale = np.array([size / (x1 - x0 + 1), size / (y1 - y0 + 1)])
    return ((np.asarray(points, np.float64) - [x0, y0] + 0.5) * scale - 0.5).astype(np.float32)


def box_to_image(points: np.ndarray, bbox: np.ndarray, size: int) -> np.ndarray:
    x0, y0, x1, y1 = np.asarray(bbox, np.float64)
    scale = np.array([(x1 - x0 + 1) / size, (y1 - y0 + 1) / size])
    return ((np.asarray(points, np.float64) + 0.5) * scale - 0.5 + [x0, y0]).astype(np.float32)


# ------------------------------------------------------------------------------------------------ features


@dataclasses.dataclass
class Prepared:
    """Box-normalised instances with their features on the conv grid."""

    crops: np.ndarray  # uint8 [N, S, S, 3]
    points: np.ndarray  # [N, K, 2] box pixels (K = max keypoints; NaN pad)
    visible: np.ndarray  # [N, K]
    fc7: np.ndarray  # [N, D]
    conv: np.ndarray  # [N, h, w, C]
    sift: np.ndarray  # [N, h, w, 128]
    grid_xy: np.ndarray  # [h, w, 2]
    stride: int


def sift_bin_size(cfg: TransferConfig, stride: int = 16) -> int:
    """SIFT bin size (px in the working box): radius / 2, scaled as `cfg.sift_scale` says."""
    factor = stride / 16 if cfg.sift_scale == "stride" else cfg.box / cfg.paper_box
    return max(1, int(round(cfg.sift_radius / 2 * factor)))


def prepare(samples: Sequence[KeypointSample], backbone, params, cfg: TransferConfig, desc: str = "features") -> Prepared:
    from convcorr_jax.backbones.geometry import grid_centers
    from convcorr_jax.features.extract import extract
    from convcorr_jax.features.sift import sift_grid, to_grey

    check(len(samples) > 0, desc, "samples", "at least one instance")
    kmax = max(s.num_keypoints for s in samples)
    crops, pts, vis = [], np.full((len(samples), kmax, 2), np.nan, np.float32), np.zeros((len(samples), kmax), bool)
    for i, s in enumerate(samples):
        c, p = box_crop(s, cfg.box)
        crops.append(c)
        pts[i, : s.num_keypoints] = p
        vis[i, : s.num_keypoints] = np.asarray(s.visible, bool) & np.all(np.isfinite(p), -1)
    crops = np.stack(crops)
    conv_tap, fc7_tap = backbone.roles[cfg.layer], backbone.roles["fc7"]
    feats = extract(backbone, params, crops, (conv_tap, fc7_tap), batch_size=16)
    conv = feats[conv_tap]
    rf = backbone.geometry[conv_tap]
    grid = grid_centers(rf, conv.shape[1:3])
    check(conv.shape[1] * conv.shape[2] >= 2, desc, cfg.layer, f"a grid of >= 2 columns for box {cfg.box}", conv.shape[1:3])
    grey = to_grey(crops)
    b = sift_bin_size(cfg, int(rf.stride))
    xs, ys = grid[0, :, 0], grid[:, 0, 1]
    sift = np.stack([np.asarray(sift_grid(g, xs, ys, b)) for g in tqdm(grey, desc=f"{desc}: dense SIFT", leave=False)])
    return Prepared(crops, pts, vis, feats[fc7_tap], conv, sift, grid, int(rf.stride))


def feature_scale(x: np.ndarray, target: float) -> float:
    """Factor making the mean column L2 norm of x [N, h, w, C] equal to `target`."""
    m = float(np.mean(np.linalg.norm(x, axis=-1)))
    return target / m if m > 0 else 1.0


# ---------------------------------------------------------------------------------------------- prediction


def median_transfer(points: np.ndarray, visible: np.ndarray, order: np.ndarray, top: int, fallback: np.ndarray) -> np.ndarray:
    """Coordinate-wise median over the first `top` neighbours (in `order`) that label each keypoint.

    points [M, K, 2], visible [M, K], order [M] -> [K, 2]; keypoints no neighbour labels get `fallback` [2]."""
    out = np.empty(points.shape[1:], np.float32)
    for k in range(points.shape[1]):
        sel = [j for j in order if visible[j, k]][:top]
        out[k] = np.median(points[sel, k], axis=0) if sel else fallback
    return out


def run_transfer(queries: Prepared, database: Prepared, q_cats: Sequence[str], db_cats: Sequence[str], cfg: TransferConfig) -> dict:
    """Predictions [Q, K, 2] (box pixels of each query) for every method, plus neighbour indices and energies."""
    import jax.numpy as jnp

    from convcorr_jax.flow import bp
    from convcorr_jax.flow.warp import dense_flow_spline, transfer_points
    from convcorr_jax.knn import topk_cosine

    q_cats, db_cats = np.asarray(q_cats), np.asarray(db_cats)
    nq, kmax = queries.points.shape[:2]
    check(database.points.shape[1] == kmax, "database", "keypoints", f"{kmax} keypoint slots like the queries", database.points.shape[1])
    k = min(cfg.neighbours, min(int(np.sum(db_cats == c)) for c in set(q_cats)))
    check(k >= 1, "database", "category", "training instances for every query category")
    nbrs = np.zeros((nq, k), np.int64)
    for c in sorted(set(q_cats)):
        qi, di = np.flatnonzero(q_cats == c), np.flatnonzero(db_cats == c)
        _, idx = topk_cosine(queries.fc7[qi], database.fc7[di], k)
        nbrs[qi] = di[np.asarray(idx)]
    s_conv = feature_scale(np.concatenate([queries.conv, database.conv]), cfg.feature_norm)
    s_sift = feature_scale(np.concatenate([queries.sift, database.sift]), cfg.feature_norm)
    bpcfg = bp.BPConfig(cfg.beta, cfg.window, cfg.iters, cfg.levels, cfg.dt_method)
    pixel_scale = queries.stride * cfg.paper_box / cfg.box
    centre = np.array([(cfg.box - 1) / 2] * 2, np.float32)
    preds = {m: np.full((nq, kmax, 2), np.nan, np.float32) for m in METHODS}
    energies = {m: np.zeros((nq, k), np.float32) for m in METHODS[:2]}
    for i in tqdm(range(nq), desc="keypoint transfer", leave=False):
        nb = nbrs[i]
        # NN transfer: first fc7 neighbour labelling each keypoint, copied in box coordinates
        preds["NN transfer"][i] = median_transfer(database.points[nb], database.visible[nb], np.arange(k), 1, centre)
        for method, feats, scale in (("conv4 flow", "conv", s_conv), ("SIFT flow", "sift", s_sift)):
            fq = getattr(queries, feats)[i] * scale
            fd = getattr(database, feats)[nb] * scale
            res = bp.align(np.broadcast_to(fq, fd.shape), fd, bpcfg, pixel_scale)
            # flow is in paper-box pixels: back to working-box pixels for warping
            flow = np.asarray(res.flow) * (cfg.box / cfg.paper_box)
            moved = np.stack([
                np.asarray(transfer_points(jnp.asarray(database.points[j]), jnp.asarray(dense_flow_spline(flow[n], queries.grid_xy, (cfg.box, cfg.box)))))
                for n, j in enumerate(nb)])
            e = np.asarray(res.deformation_energy)
            energies[method][i] = e
            preds[method][i] = median_transfer(moved, database.visible[nb], np.argsort(e, kind="stable"), cfg.top, centre)
    return {"pred": preds, "neighbours": nbrs, "energies": energies}


def evaluate(pred_box: dict, samples: Sequence[KeypointSample], cfg: TransferConfig) -> dict:
    """Per-category PCK (%) at each alpha (mean over keypoint types) and the category mean, for every method."""
    from convcorr_jax.metrics import pck_per_keypoint

    cats = sorted({s.category for s in samples})
    out = {}
    for m, pred in pred_box.items():
        res = {a: {} for a in ALPHAS}
        for c in cats:
            idx = [i for i, s in enumerate(samples) if s.category == c]
            kc = samples[idx[0]].num_keypoints
            gt = np.stack([samples[i].points for i in idx])
            vis = np.stack([samples[i].visible for i in idx])
            pr = np.stack([box_to_image(pred[i, :kc], samples[i].bbox, cfg.box) for i in idx])
            norm = np.array([max(s.bbox[2] - s.bbox[0] + 1, s.bbox[3] - s.bbox[1] + 1) for s in (samples[i] for i in idx)])
            for a in ALPHAS:
                res[a][c] = 100 * float(np.nanmean(pck_per_keypoint(pr, gt, vis, norm, a)))
        out[m] = {a: dict(res[a], mean=float(np.mean(list(res[a].values())))) for a in ALPHAS}
    return out


def table_markdown(results: dict, n_targets: int, cfg: TransferConfig, stride: int = 16) -> str:
    cats = [c for c in next(iter(results.values()))[0.1] if c != "mean"]
    head = "| method | " + " | ".join(cats) + " | mean a=0.1 | mean a=0.05 | mean a=0.025 |"
    lines = [head, "|" + "---|" * (len(cats) + 4)]
    for m, r in results.items():
        lines.append(f"| {m} | " + " | ".join(f"{r[0.1][c]:.1f}" for c in cats) + f" | {r[0.1]['mean']:.1f} | {r[0.05]['mean']:.1f} | {r[0.025]['mean']:.2f} |")
    lines += ["", "paper (different data: PASCAL VOC 2011, AlexNet conv4, 500 px boxes), mean PCK:", "",
              "| method | mean a=0.1 | mean a=0.05 | mean a=0.025 |", "|---|---|---|---|"]
    for m, v in PAPER_TABLE2.items():
        lines.append(f"| {m} | {v['mean'][0]} | {v['mean'][1]} | {v['mean'][2]} |")
    lines += ["", f"{n_targets} targets, {cfg.neighbours} fc7 neighbours each, top {cfg.top} by deformation energy, "
              f"box {cfg.box} px, SIFT bin {sift_bin_size(cfg, stride)} px (radius {cfg.sift_radius:g} scaled by {cfg.sift_scale}), beta {cfg.beta}, BP {cfg.levels} levels x {cfg.iters} iterations."]
    return "\n".join(lines)


def table2(train: Sequence[KeypointSample], test: Sequence[KeypointSample], backbone, params, cfg: TransferConfig) -> dict:
    """Run the whole protocol; returns {"results", "markdown", "n_targets", "seconds"}."""
    t0 = time.perf_counter()
    test = list(test)[: cfg.max_targets] if cfg.max_targets else list(test)
    check(len(test) > 0 and len(train) > 0, "table2", "instances", "non-empty train and test sets")
    db = prepare(train, backbone, params, cfg, "database")
    qs = prepare(test, backbone, params, cfg, "targets")
    kmax = max(db.points.shape[1], qs.points.shape[1])
    for p in (db, qs):
        pad = kmax - p.points.shape[1]
        if pad:
            p.points = np.concatenate([p.points, np.full((len(p.points), pad, 2), np.nan, np.float32)], 1)
            p.visible = np.concatenate([p.visible, np.zeros((len(p.visible), pad), bool)], 1)
    validation = None
    if cfg.val_betas:
        beta, validation = select_beta(db, list(train), cfg)
        cfg = dataclasses.replace(cfg, beta=beta)
    out = run_transfer(qs, db, [s.category for s in test], [s.category for s in train], cfg)
    results = evaluate(out["pred"], test, cfg)
    md = table_markdown(results, len(test), cfg, qs.stride)
    if validation:
        md += "\n\nbeta chosen on a validation split of the training set (held-out training instances as targets, " \
              "the rest as database; mean of conv4 and SIFT flow PCK@0.1): " + \
              ", ".join(f"beta {b:g}: {v:.1f}" for b, v in validation.items()) + f" -> beta {cfg.beta:g}."
    return {"results": results, "markdown": md, "n_targets": len(test), "seconds": time.perf_counter() - t0,
            "transfer": out, "targets": qs, "database": db, "config": cfg, "validation": validation}


def _take(p: Prepared, idx: np.ndarray) -> Prepared:
    return dataclasses.replace(p, crops=p.crops[idx], points=p.points[idx], visible=p.visible[idx], fc7=p.fc7[idx],
                               conv=p.conv[idx], sift=p.sift[idx])


def select_beta(db: Prepared, train: list[KeypointSample], cfg: TransferConfig) -> tuple[float, dict]:
    """Pick beta among `cfg.val_betas` (same beta for both feature types, as the paper) on `cfg.val_targets`
    held-out training instances (round-robin over categories) aligned to the remaining training instances."""
    order = _interleave_indices([s.category for s in train])
    val = np.array(order[: cfg.val_targets])
    rest = np.setdiff1d(np.arange(len(train)), val)
    cats = np.array([s.category for s in train])
    scores = {}
    for beta in cfg.val_betas:
        c = dataclasses.replace(cfg, beta=beta)
        out = run_transfer(_take(db, val), _take(db, rest), cats[val], cats[rest], c)
        preds = {m: out["pred"][m] for m in METHODS[:2]}
        r = evaluate(preds, [train[i] for i in val], c)
        scores[float(beta)] = float(np.mean([r[m][0.1]["mean"] for m in preds]))
    best = max(scores, key=lambda b: (scores[b], -abs(np.log(b / 3e-3))))
    return best, scores


def _interleave_indices(cats: Sequence[str]) -> list[int]:
    """Indices in round-robin order over categories (each category's own order kept)."""
    by: dict[str, list[int]] = {}
    for i, c in enumerate(cats):
        by.setdefault(c, []).append(i)
    lists = list(by.values())
    return [l[i] for i in range(max(map(len, lists))) for l in lists if i < len(l)]


# ------------------------------------------------------------------------------------------------- figures


def save_figure(path, out: dict, test: Sequence[KeypointSample], cfg: TransferConfig, n_rows: int = 3) -> None:
    """Targets with their 5 lowest-energy neighbours warped by conv4 flow and the transferred keypoints."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convcorr_jax import io
    from convcorr_jax.flow import bp
    from convcorr_jax.flow.warp import dense_flow_spline, warp_image

    qs, db, tr = out["targets"], out["database"], out["transfer"]
    n_rows = min(n_rows, len(qs.crops))
    s_conv = feature_scale(np.concatenate([qs.conv, db.conv]), cfg.feature_norm)
    fig, axes = plt.subplots(n_rows, 6, figsize=(12, 2.1 * n_rows), squeeze=False)
    bpcfg = bp.BPConfig(cfg.beta, cfg.window, cfg.iters, cfg.levels, cfg.dt_method)
    for r in range(n_rows):
        nb = tr["neighbours"][r]
        order = np.argsort(tr["energies"]["conv4 flow"][r], kind="stable")[:5]
        axes[r, 0].imshow(qs.crops[r])
        p = tr["pred"]["conv4 flow"][r]
        axes[r, 0].scatter(p[:, 0], p[:, 1], s=8, c="r")
        axes[r, 0].set_title(f"target {test[r].category}", fontsize=7)
        for c, j in enumerate(order):
            res = bp.align(qs.conv[r] * s_conv, db.conv[nb[j]] * s_conv, bpcfg, qs.stride * cfg.paper_box / cfg.box)
            dense = dense_flow_spline(np.asarray(res.flow) * cfg.box / cfg.paper_box, qs.grid_xy, (cfg.box, cfg.box))
            axes[r, c + 1].imshow(np.clip(np.asarray(warp_image(db.crops[nb[j]], dense)), 0, 255).astype(np.uint8))
            axes[r, c + 1].set_title(f"E_def {float(res.deformation_energy):.0f}", fontsize=7)
    for a in axes.ravel():
        a.axis("off")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------- demo


def load_backbone(weights: str | None = None):
    """(backbone, params): real MobileNetV2 ImageNet weights (fetched and cached), or a given weight file."""
    from convcorr_jax.weights import load_pretrained

    return load_pretrained("mobilenet_v2", path=weights)


def demo_stage(ctx):
    """Table 2 on the synthetic objects. tiny: 5 targets x 4 neighbours (seconds after compilation);
    default: 40 targets x 25 neighbours, beta chosen in {3e-3, 3e-2} on 12 validation instances of the training set, box 192, window 5 cells (~4 min on 2 cores); full: every test instance. With --voc-root, real VOC 2011 keypoints at any size."""
    from convcorr_jax.correspondence.data import load_train_test
    from convcorr_jax.demo import StageResult

    size = ctx.size
    if size == "tiny":
        cfg = TransferConfig(box=96, neighbours=4, top=3, iters=3, levels=2, window=3, max_targets=5)
    elif size == "default":
        cfg = TransferConfig(max_targets=40, val_betas=(3e-3, 3e-2), val_targets=12)
    else:
        cfg = TransferConfig(box=224, window=None, iters=8, val_betas=(1e-3, 3e-3, 1e-2, 3e-2), val_targets=40)
    # the user's real VOC 2011 keypoints (--voc-root) replace the synthetic objects
    train, test = load_train_test(40 if size == "tiny" else 400, ctx.seed, voc_root=ctx.roots.get("voc"))
    test = _interleave(test)
    backbone, params = load_backbone(ctx.weights)
    out = table2(train, test, backbone, params, cfg)
    fig = ctx.figures / "keypoint_transfer.png"
    save_figure(fig, out, test[: out["n_targets"]], out["config"], n_rows=2 if size == "tiny" else 3)
    r = out["results"]
    summary = (f"Table 2 ({out['n_targets']} targets): mean PCK@0.1 conv4 flow {r['conv4 flow'][0.1]['mean']:.1f}, "
               f"SIFT flow {r['SIFT flow'][0.1]['mean']:.1f}, NN transfer {r['NN transfer'][0.1]['mean']:.1f}")
    md = out["markdown"] + f"\n\n![keypoint transfer](figures/{fig.name})\n"
    metrics = {m: {str(a): v for a, v in r[m].items()} for m in r}
    metrics["beta"] = out["config"].beta
    if out["validation"]:
        metrics["validation_pck"] = {str(b): v for b, v in out["validation"].items()}
    return StageResult(summary, md, metrics)


def _interleave(samples: Sequence[KeypointSample]) -> list[KeypointSample]:
    """Round-robin over categories, so that the first N targets cover every category."""
    return [samples[i] for i in _interleave_indices([s.category for s in samples])]
