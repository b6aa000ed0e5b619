"""Keypoint transfer on PF-WILLOW (Proposal Flow protocol): Long et al.'s Table 2 question on real images.

    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW                  # conv4-role BP flow
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set features=sift
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set features=none
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set features=conv3   # another tap
    convcorr eval pf-willow --root PF-dataset-WILLOW --features conv4 --json pck.json     # `pf_willow_command`

Protocol (PF's `dense_flow_eva_WILLOW.m`): every ordered pair (i, j), i != j, of a sub-class (90 per sub-class);
flow from image i to image j on i's grid; keypoint p of i goes to p + flow(p); PCK against j's keypoints at
alpha * max(w, h) of j's keypoint box (`metrics.pf_pck`), mean over the pairs of a sub-class, then over sub-classes.

Our transfer: both images are resized (anisotropically, `geometry.box_to_affine` of the whole image) to
`image_size` x `image_size`; features on the grid of the tap's receptive-field centres (dense SIFT at the conv4
role's grid for features=sift), scaled to a mean column norm of 512; BP flow (`flow.bp.align`, whole target grid
as the label window, displacements in pixels of a 500 px image as Long et al. so beta keeps the paper's meaning);
the grid flow is read at the keypoint by bilinear interpolation between the 4 nearest grid nodes (edge values held
outside the grid); the moved point is mapped back to j's pixels by j's resize. features=none is the zero flow in
this frame: the keypoints move by the image-to-image scaling of the whole images (no label of the target is used).

Settings (beta, tap) are chosen on the validation set, the 4 bundled sub-classes (`long2014.pf_willow_validation`
writes that table); scores that count are on the other 6. Prints the mean PCK@0.05 / 0.1 / 0.2 over the
sub-classes under `data_root`; measured numbers are in bench/RESULTS_real.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from convcorr_jax import geometry, io, metrics
from convcorr_jax.backbones.geometry import grid_centers
from convcorr_jax.correspondence.transfer import TransferConfig, sift_bin_size
from convcorr_jax.data.pf_willow import load_pf_willow, ordered_pairs, pf_willow_classes
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.errors import InputError
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import bilinear_sample
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.long2014 import common, paper
from convcorr_eval.report import markdown_table, plt, save_figure

ROLES = ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5")
FEATURES = ROLES + ("sift", "none")
ALPHAS = metrics.PF_ALPHAS

@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """features: an AlexNet role (conv1..conv5, pool5: BP flow on that tap), "sift" (BP flow on dense SIFT at the
    conv4 role's grid) or "none" (zero flow). image_size: side of the square both images are resized to; beta:
    smoothness weight (displacements in pixels of a `paper_side` image); sift_bin: SIFT bin size in pixels of the
    resized image (None: Long et al.'s radius 20 at stride 16, `transfer.sift_bin_size`); pairs_per_class: the
    first N ordered pairs of each sub-class (None: all 90); figure_pairs: transferred pairs drawn."""

    backbone: str = common.BACKBONE
    data: str = "pf_willow"
    features: str = "conv4"
    image_size: int = 224
    beta: float = 0.1  # chosen on FLIC (VALIDATION)
    window: int | None = None  # label window in grid cells (None: the whole target grid)
    iters: int = 8
    levels: int = 3
    sift_bin: int | None = None
    paper_side: int = 500
    feature_norm: float = 512.0
    pairs_per_class: int | None = None
    batch: int = 30  # pairs aligned per vmapped BP call
    figure_pairs: int = 4

    def __post_init__(self):
        super().__post_init__()
        if self.features not in FEATURES:
            raise InputError("config", "features", f"one of {list(FEATURES)}", self.features)


def get_config(size: str = "default") -> Config:
    return sized(size, {
        "tiny": Config(size=size, pairs_per_class=2, iters=3, image_size=160, figure_pairs=2),
        "default": Config(size=size),
        "full": Config(size=size),
    })


# ------------------------------------------------------------------------------------------------- features


@dataclasses.dataclass
class Frames:
    """Images resized to a square frame, with their features on one grid.

    M [N, 2, 3] image -> frame affine; feats [N, h, w, C] (scaled; None for features=none); grid_xy [h, w, 2]
    frame pixels of the nodes; stride: frame pixels per grid cell; crops uint8 [N, S, S, 3]."""

    crops: np.ndarray
    M: np.ndarray
    feats: np.ndarray | None
    grid_xy: np.ndarray
    stride: float


def frame_boxes(samples: Sequence[KeypointSample]) -> np.ndarray:
    """The whole image of each sample as a box [N, 4] (inclusive pixel bounds)."""
    return np.array([[0, 0, s.image.shape[1] - 1, s.image.shape[0] - 1] for s in samples], np.float64)


def make_frames(samples: Sequence[KeypointSample], boxes: np.ndarray, features: str, backbone, params, size: int,
                sift_bin: int | None = None, feature_norm: float = 512.0) -> Frames:
    """Crop each sample's `boxes` [N, 4] to size x size and compute `features` on the grid (see `Config`)."""
    M = geometry.box_to_affine(boxes, size)
    crops = geometry.crop_each([s.image for s in samples], M, size, border="edge")
    role = features if features in ROLES else "conv4"
    tap = backbone.roles[role]
    rf = backbone.geometry[tap]
    hw = backbone.grid_size(tap, (size, size))
    grid = grid_centers(rf, hw)
    if features == "none":
        return Frames(crops, M, None, grid, float(rf.stride))
    if features == "sift":
        b = sift_bin or sift_bin_size(TransferConfig(box=size), int(rf.stride))
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, b)) for g in to_grey(crops)])
    else:
        feats = extract(backbone, params, crops, (tap,), batch_size=8)[tap]
    feats = feats * feature_scale(feats, feature_norm)
    return Frames(crops, M, feats.astype(np.float32), grid, float(rf.stride))


# ------------------------------------------------------------------------------------------------- transfer


def flow_at_points(flow: np.ndarray, grid_xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Grid flow [h, w, 2] read at points [K, 2] (frame pixels) by bilinear interpolation between grid nodes
    (points beyond the outermost nodes take the edge values) -> [K, 2]."""
    xs, ys = grid_xy[0, :, 0], grid_xy[:, 0, 1]
    fx = np.interp(points[:, 0], xs, np.arange(len(xs)))
    fy = np.interp(points[:, 1], ys, np.arange(len(ys)))
    return np.asarray(bilinear_sample(jnp.asarray(flow, jnp.float32), jnp.asarray(fx, jnp.float32),
                                      jnp.asarray(fy, jnp.float32)))


def pair_flows(frames: Frames, pairs: np.ndarray, cfg: Config, progress: bool = False) -> np.ndarray:
    """BP flow [P, h, w, 2] (dx, dy frame pixels) from frame i to frame j for each pair (i, j) [P, 2]."""
    h, w = frames.grid_xy.shape[:2]
    if frames.feats is None:
        return np.zeros((len(pairs), h, w, 2), np.float32)
    scale = cfg.paper_side / cfg.image_size  # smoothness in pixels of a `paper_side` frame
    bpcfg = bp.BPConfig(cfg.beta, cfg.window, cfg.iters, cfg.levels, "brute")
    out = []
    n = len(pairs)
    for s in tqdm(range(0, n, cfg.batch), desc="BP flow", disable=not progress, leave=False):
        chunk = pairs[s: s + cfg.batch]
        pad = cfg.batch - len(chunk) if n > cfg.batch else 0  # one compiled batch shape
        idx = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)]) if pad else chunk
        res = bp.align(frames.feats[idx[:, 0]], frames.feats[idx[:, 1]], bpcfg, frames.stride * scale)
        out.append(np.asarray(res.flow)[: len(chunk)] / scale)
    return np.concatenate(out)


def transfer_pairs(frames: Frames, points: np.ndarray, pairs: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Source keypoints points[i] [K, 2] (image pixels) moved through flows [P, h, w, 2] into target image pixels
    for each pair (i, j) -> [P, K, 2]."""
    inv = geometry.invert_affine(frames.M)
    out = np.empty((len(pairs), points.shape[1], 2), np.float64)
    for p, (i, j) in enumerate(pairs):
        q = geometry.transform_points(np.asarray(points[i], np.float64), frames.M[i])
        moved = q + flow_at_points(flows[p], frames.grid_xy, q)
        out[p] = geometry.transform_points(moved, inv[j])
    return out


def evaluate_set(samples: Sequence[KeypointSample], boxes: np.ndarray, groups: np.ndarray, cfg: Config, backbone,
                 params, pairs: np.ndarray, progress: bool = False) -> dict:
    """Transfer along `pairs` [P, 2] (indices into samples) and score with the PF PCK by `groups` [P].

    Returns {"pck" (`metrics.pf_pck`), "pred" [P, K, 2], "flows", "frames", "seconds"}."""
    t0 = time.perf_counter()
    frames = make_frames(samples, boxes, cfg.features, backbone, params, cfg.image_size, cfg.sift_bin,
                         cfg.feature_norm)
    return dict(score_frames(frames, samples, pairs, groups, cfg, progress), seconds=time.perf_counter() - t0)


def score_frames(frames: Frames, samples: Sequence[KeypointSample], pairs: np.ndarray, groups: np.ndarray,
                 cfg: Config, progress: bool = False) -> dict:
    """BP flow along `pairs` on precomputed `frames` (cfg's beta, window, iterations), transfer, PF PCK by `groups`.

    Returns {"pck" (`metrics.pf_pck`), "pred" [P, K, 2], "flows", "frames"}."""
    flows = pair_flows(frames, pairs, cfg, progress)
    pts = np.stack([np.asarray(s.points, np.float64) for s in samples])
    pred = transfer_pairs(frames, pts, pairs, flows)
    gt = pts[pairs[:, 1]]
    return {"pck": metrics.pf_pck(pred, gt, groups, ALPHAS), "pred": pred, "flows": flows, "frames": frames}


def pf_willow_set(root: str | os.PathLike, pairs_per_class: int | None = None
                  ) -> tuple[list[KeypointSample], np.ndarray, np.ndarray]:
    """(samples with images, ordered pairs [P, 2] within each sub-class, sub-class per pair [P])."""
    samples, pairs, groups = [], [], []
    for sub in pf_willow_classes(root):
        s = load_pf_willow(root, classes=[sub], with_images=True)
        pp = ordered_pairs(len(s))[:pairs_per_class] + len(samples)
        samples += list(s)
        pairs.append(pp)
        groups += [sub] * len(pp)
    return samples, np.concatenate(pairs), np.array(groups)


def run_pf_willow(cfg: Config, backbone=None, params=None, progress: bool = False) -> dict:
    """`evaluate_set` on PF-WILLOW under `cfg.data_root`; adds "samples", "pairs", "groups"."""
    require_data(cfg, ("pf_willow",))
    if backbone is None:
        backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    samples, pairs, groups = pf_willow_set(cfg.data_root, cfg.pairs_per_class)
    out = evaluate_set(samples, frame_boxes(samples), groups, cfg, backbone, params, pairs, progress)
    return dict(out, samples=samples, pairs=pairs, groups=groups)


# ----------------------------------------------------------------------------------------------- reporting


def pck_markdown(pck: dict, features: str) -> str:
    """PCK per sub-class at each alpha beside the published PF-WILLOW numbers."""
    subs = [c for c in pck["0.1"] if c != "mean"]
    rows = [[f"ours, {features}, alpha {a}"] + [100 * pck[a][c] for c in subs] + [100 * pck[a]["mean"]]
            for a in pck]
    for peer in (paper.PF_WILLOW_SIFTFLOW_CPP, paper.PF_WILLOW_SIFTFLOW_CPP_256):
        rows += [[f"SIFT Flow C++ ({peer['protocol']}), alpha {a}"]
                 + [100 * peer["per_subclass"][c] if a == "0.1" and c in peer.get("per_subclass", {}) else "-"
                    for c in subs]
                 + [100 * peer["pck"][a]] for a in peer["pck"]]
    pub = "; ".join(f"{m} {v}" for m, v in paper.PF_WILLOW_PCK01.items())
    return "\n".join([markdown_table(["method", *subs, "mean"], rows), "",
                      f"Published PF-WILLOW PCK@0.1 (all 10 sub-classes; Ham et al. 2016 as tabulated by Rocco et "
                      f"al. 2017, Table 1): {pub}."])


def figure(path: Path, out: dict, n: int = 4) -> None:
    """Source images with their keypoints, and the targets with the transferred (red) and true (green) ones."""
    pairs, samples = out["pairs"], out["samples"]
    groups = out["groups"]
    pick = [int(np.flatnonzero(groups == g)[0]) for g in dict.fromkeys(groups)][:n]
    fig, axes = plt.subplots(len(pick), 2, figsize=(6, 2.4 * len(pick)), squeeze=False)
    for r, p in enumerate(pick):
        i, j = pairs[p]
        axes[r, 0].imshow(samples[i].image)
        axes[r, 0].scatter(*np.asarray(samples[i].points).T, s=10, c=np.arange(10), cmap="tab10")
        axes[r, 0].set_title(f"source {samples[i].id}", fontsize=7)
        axes[r, 1].imshow(samples[j].image)
        axes[r, 1].scatter(*np.asarray(samples[j].points).T, s=10, c="lime", marker="x")
        axes[r, 1].scatter(*out["pred"][p].T, s=10, c=np.arange(10), cmap="tab10")
        for a, b in zip(out["pred"][p], np.asarray(samples[j].points)):
            axes[r, 1].plot([a[0], b[0]], [a[1], b[1]], "r-", lw=0.6)
        axes[r, 1].set_title(f"target {samples[j].id} (x: truth)", fontsize=7)
    for a in axes.ravel():
        a.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def run(cfg: Config, ctx: Context) -> Result:
    out = run_pf_willow(cfg, progress=ctx.progress)
    pck = out["pck"]
    fig = ctx.figures / "pf_willow_transfer.png"
    figure(fig, out, cfg.figure_pairs)
    md = [pck_markdown(pck, cfg.features), "",
          f"{len(out['pairs'])} ordered pairs, {cfg.backbone} ({cfg.weights or 'pretrained'}), features "
          f"{cfg.features}, frame {cfg.image_size} px, beta {cfg.beta:g}, BP {cfg.levels} levels x {cfg.iters} "
          f"iterations, {out['seconds']:.0f} s.", ""]
    md += ["The bundled sub-classes are PF-WILLOW's validation set: every setting was chosen on them "
           "(`long2014.pf_willow_validation`), so numbers on them are validation numbers.", ""]
    md += [f"![transferred keypoints](figures/{fig.name})", ""]
    m = pck
    summary = (f"PF-WILLOW ({len(out['pairs'])} pairs, {cfg.features}): mean PCK@0.05 {m['0.05']['mean']:.3f}, "
               f"@0.1 {m['0.1']['mean']:.3f}, @0.2 {m['0.2']['mean']:.3f}")
    return Result(summary, "\n".join(md), {"pck": pck, "pairs": int(len(out["pairs"])), "seconds": out["seconds"]})


def pf_willow_command(root: str | os.PathLike, features: str = "conv4", backbone: str = common.BACKBONE,
                      weights: str | None = None, json_out: str | os.PathLike | None = None,
                      progress: bool = True) -> dict:
    """All ordered pairs of every sub-class under `root` with the default settings; returns and (if `json_out`)
    writes atomically {"pck": {"0.05": {"<sub-class>": v, ..., "mean": v}, ...}, "pairs": N, "seconds": s}."""
    cfg = dataclasses.replace(get_config("default"), data_root=os.fspath(root), features=features,
                              backbone=backbone, weights=weights)
    t0 = time.perf_counter()
    out = run_pf_willow(cfg, progress=progress)
    res = {"pck": out["pck"], "pairs": int(len(out["pairs"])), "seconds": round(time.perf_counter() - t0, 1)}
    if json_out is not None:
        io.write_json(json_out, res)
    return res


if __name__ == "__main__":
    from convcorr_eval.runner import main

    sys.exit(main("long2014.pf_willow"))
