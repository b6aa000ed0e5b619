"""Keypoint transfer by dense alignment (Long et al. 2014, section 3, Table 2).

Protocol: every instance is warped to a square box (`box` px). For each target (test) instance, its
`neighbours` nearest training instances of the same category by cosine similarity of the retrieval descriptor
(`retrieval_tap`: the fc7 role, or the flattened pool5-role map for conv-only weights; `knn.topk_cosine`) are
aligned to it with the BP flow (`flow.bp`, source = target instance, target = neighbour, so each neighbour is
warped into the target's frame), on the grid of conv4 receptive-field centres, with conv4 features or with
dense SIFT computed at the same centres. Neighbours are ordered by deformation energy; a keypoint's prediction
is the coordinate-wise median of its transferred positions from the top `top` neighbours (that have it
labelled). Baseline "NN transfer": copy the keypoints of the nearest neighbour in box-normalised
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

import jax.numpy as jnp
import numpy as np

from convcorr_jax.core import geometry, metrics
from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.receptive_field import grid_centers
from convcorr_jax.backbones.registry import check_input_side, resolve_tap
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.long2014 import prediction
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError, check, check_shape
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.features.extract import extract_fitted
from convcorr_jax.features.sift import LONG_SIFT_RADIUS, SIFT_SCALES, sift_bin_size, sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import carry_points, dense_flow_spline
from convcorr_jax.core.knn import topk_cosine
from convcorr_jax.core.long_frame import FEATURE_NORM, FRAME_PX
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.weights import is_conv_only

METHODS = ("conv4 flow", "SIFT flow", "NN transfer")
ALPHAS = (0.1, 0.05, 0.025)


@dataclasses.dataclass(frozen=True)
class RetrievalTransferConfig:
    """Table 2 settings (paper: 25 neighbours, top 5, beta 3e-3, SIFT radius 20; Sec. 3 gives no box side, so
    `paper_box` takes Sec. 5's 500 px as the frame beta and the radius are meant in)."""

    box: int = 192  # square box side (px) every instance is warped to
    paper_box: int = FRAME_PX  # box size in which beta and the SIFT radius are expressed
    neighbours: int = 25
    top: int = 5
    beta: float = 3e-3
    sift_radius: float = LONG_SIFT_RADIUS  # paper: descriptor radius 20 px on the 500 px box (bin = radius / 2)
    sift_scale: str = "stride"  # "stride": radius keeps its ratio to the conv4 stride (16 px in the paper);
    # "box": radius scaled with the box (box / paper_box)
    feature_norm: float = FEATURE_NORM
    layer: str = "conv4"  # AlexNet role name, mapped through backbone.roles
    iters: int = 5
    levels: int = 3
    window: int | None = 5  # max displacement in grid cells (None: labels cover the whole grid)
    dt_method: str = "auto"  # 1D DT method (bp.BPConfig.dt_method); every method gives the same messages bit for bit
    max_targets: int | None = None  # first N test instances (None: all)
    val_betas: tuple[float, ...] = ()  # if set, beta is chosen among these on a validation split of the training set
    val_targets: int = 12

    def __post_init__(self):
        check_types(self, "RetrievalTransferConfig")
        check_fields(self, positive=("box", "paper_box", "beta", "sift_radius", "feature_norm", "val_betas"),
                     nonnegative=("window",), at_least_one=("neighbours", "top", "iters", "levels", "max_targets",
                                                            "val_targets"),
                     finite=("beta", "sift_radius", "feature_norm", "val_betas"), source="RetrievalTransferConfig")
        check(self.sift_scale in SIFT_SCALES, "RetrievalTransferConfig", "sift_scale", f"one of {list(SIFT_SCALES)}",
              self.sift_scale)

    def check_backbone(self, backbone) -> None:
        """InputError unless `layer` is a role or tap of `backbone` and `box` is at least its smallest input."""
        check_input_side(backbone, resolve_tap(backbone, self.layer, "layer"), self.box, "RetrievalTransferConfig",
                         "box")


# --------------------------------------------------------------------------------------------------- boxes


def box_crops(samples: Sequence[KeypointSample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Instances warped to size x size boxes, black outside the image (`prediction.box_crops`).

    Args:
      samples: N `KeypointSample`s with images loaded.
      size: the box side in pixels.

    Returns:
      (crops uint8 RGB [N, size, size, 3], the image -> box affine maps [N, 2, 3] (`prediction.box_maps`)).
    """
    return prediction.box_crops(samples, size, border="constant"), prediction.box_maps(samples, size)


# ------------------------------------------------------------------------------------------------ features


@dataclasses.dataclass
class Prepared:
    """Box-normalised instances with their features on the conv grid."""

    crops: np.ndarray  # uint8 [N, S, S, 3]
    points: np.ndarray  # [N, K, 2] box pixels (K = max keypoints; NaN pad)
    visible: np.ndarray  # [N, K]
    retrieval: np.ndarray  # [N, D] descriptor of `retrieval_tap`, flattened
    conv: np.ndarray  # [N, h, w, C]
    sift: np.ndarray  # [N, h, w, 128]
    grid_xy: np.ndarray  # [h, w, 2]
    stride: int


def sift_bin(cfg: RetrievalTransferConfig, stride: int) -> int:
    """The SIFT bin size of these settings: `features.sift.sift_bin_size` of their radius, scaling and box.

    Args:
      cfg: the settings (sift_radius, sift_scale, box, paper_box).
      stride: the feature grid's stride in box pixels.

    Returns:
      int bin size in pixels of the working box.
    """
    return sift_bin_size(cfg.sift_radius, stride, cfg.sift_scale, cfg.box, cfg.paper_box)


def retrieval_tap(backbone: Backbone, params: Params) -> str:
    """The tap whose descriptor picks the neighbours.

    Args:
      backbone, params: the network and its weights.

    Returns:
      The fc7 role's tap name, or the pool5 role's (its map flattened) when `params` hold no fully connected layers
      (`weights.is_conv_only`).
    """
    return backbone.roles["pool5" if is_conv_only(backbone, params) else "fc7"]


def _prepare(samples: Sequence[KeypointSample], backbone, params, cfg: RetrievalTransferConfig, desc: str = "features",
            progress: bool = False) -> Prepared:
    """Box crops, keypoints, retrieval descriptors, conv and dense SIFT grids of `samples`.

    Args:
      samples: N `KeypointSample`s with images loaded (K = their most keypoints).
      backbone, params: the network.
      cfg: the settings (box, layer, SIFT radius).
      desc: the name of the set in errors and progress bars.
      progress: progress bars.

    Returns:
      `Prepared`: crops uint8 [N, S, S, 3], points float32 [N, K, 2] box pixels (NaN pad), visible bool [N, K],
      retrieval [N, D], conv [N, h, w, C], sift [N, h, w, 128], grid_xy [h, w, 2] box pixels, stride.

    Raises:
      InputError: no sample, or a conv grid of fewer than 2 columns.
    """
    check(len(samples) > 0, desc, "samples", "at least one instance")
    kmax = max(s.num_keypoints for s in samples)
    crops, M = box_crops(samples, cfg.box)
    pts, vis = np.full((len(samples), kmax, 2), np.nan, np.float32), np.zeros((len(samples), kmax), bool)
    for i, s in enumerate(samples):
        p = geometry.transform_points(np.asarray(s.points, np.float64), M[i]).astype(np.float32)
        pts[i, : s.num_keypoints] = p
        vis[i, : s.num_keypoints] = np.asarray(s.visible, bool) & np.all(np.isfinite(p), -1)
    conv_tap, ret_tap = resolve_tap(backbone, cfg.layer, "layer"), retrieval_tap(backbone, params)
    feats = extract_fitted(backbone, params, crops, tuple(dict.fromkeys((conv_tap, ret_tap))), batch_size=16,
                           progress=progress)
    conv = feats[conv_tap]
    rf = backbone.geometry[conv_tap]
    grid = grid_centers(rf, conv.shape[1:3])
    check(conv.shape[1] * conv.shape[2] >= 2, desc, cfg.layer, f"a grid of >= 2 columns for box {cfg.box}",
          conv.shape[1:3])
    grey = to_grey(crops)
    b = sift_bin(cfg, int(rf.stride))
    xs, ys = grid[0, :, 0], grid[:, 0, 1]
    bar = progress_bar(grey, desc=f"{desc}: dense SIFT", leave=False, disable=not progress)
    sift = np.stack([np.asarray(sift_grid(g, xs, ys, b)) for g in bar])
    ret = np.asarray(feats[ret_tap]).reshape(len(samples), -1)
    return Prepared(crops, pts, vis, ret, conv, sift, grid, int(rf.stride))


# ---------------------------------------------------------------------------------------------- prediction


def _median_transfer(points: np.ndarray, visible: np.ndarray, order: np.ndarray, top: int,
                    fallback: np.ndarray) -> np.ndarray:
    """Coordinate-wise median over the first `top` neighbours (in `order`) that label each keypoint.

    Args:
      points: [M, K, 2] (x, y) positions of the keypoints from each neighbour.
      visible: bool [M, K] which neighbours label which keypoint.
      order: int [M] the neighbours, best first.
      top: neighbours used per keypoint.
      fallback: [2] the position of keypoints no neighbour labels.

    Returns:
      float32 [K, 2].
    """
    out = np.empty(points.shape[1:], np.float32)
    for k in range(points.shape[1]):
        sel = [j for j in order if visible[j, k]][:top]
        out[k] = np.median(points[sel, k], axis=0) if sel else fallback
    return out


def _run_transfer(queries: Prepared, database: Prepared, q_cats: Sequence[str] | np.ndarray,
                  db_cats: Sequence[str] | np.ndarray, cfg: RetrievalTransferConfig, progress: bool = False) -> dict:
    """Predictions (box pixels of each query) for every method, plus neighbour indices and energies.

    Args:
      queries, database: the `Prepared` targets (Q instances) and training instances, with the same K slots.
      q_cats, db_cats: the category of each query and database instance.
      cfg: the settings (neighbours, top, BP settings, feature_norm, box, paper_box).
      progress: a bar over the queries.

    Returns:
      {"pred": {method: float32 [Q, K, 2] box pixels}, "neighbours": int64 [Q, k] database indices (k = neighbours,
      at most the largest query category's database count; a query whose category has fewer instances gets all of
      them, the rest of its row -1), "energies": {flow method: float32 [Q, k] deformation energies, NaN where the
      neighbour is -1}}.

    Raises:
      InputError: unequal keypoint slots, a query category without database instances.
    """
    q_cats, db_cats = np.asarray(q_cats), np.asarray(db_cats)
    dims = check_shape(queries.points, "Q K 2", "run_transfer", "queries.keypoints")
    check_shape(database.points, "N K 2", "run_transfer", "database.keypoints", dims, note="(K slots like the queries)")
    nq, kmax = dims["Q"], dims["K"]
    counts = {c: int(np.sum(db_cats == c)) for c in set(q_cats)}
    check(min(counts.values()) >= 1, "run_transfer", "database.category", "training instances for every query "
          "category")
    k = min(cfg.neighbours, max(counts.values()))
    nbrs = np.full((nq, k), -1, np.int64)  # each category its own count: a query's neighbours never depend on others
    for c in sorted(set(q_cats)):
        qi, di = np.flatnonzero(q_cats == c), np.flatnonzero(db_cats == c)
        kc = min(cfg.neighbours, counts[c])
        _, idx = topk_cosine(queries.retrieval[qi], database.retrieval[di], kc)
        nbrs[qi, :kc] = di[np.asarray(idx)]
    s_conv = feature_scale(np.concatenate([queries.conv, database.conv]), cfg.feature_norm)
    s_sift = feature_scale(np.concatenate([queries.sift, database.sift]), cfg.feature_norm)
    bpcfg = bp.BPConfig(cfg.beta, cfg.window, cfg.iters, cfg.levels, cfg.dt_method)
    centre = np.array([(cfg.box - 1) / 2] * 2, np.float32)
    preds = {m: np.full((nq, kmax, 2), np.nan, np.float32) for m in METHODS}
    energies = {m: np.full((nq, k), np.nan, np.float32) for m in METHODS[:2]}
    for i in progress_bar(range(nq), desc="keypoint transfer", leave=False, disable=not progress):
        nb = nbrs[i][nbrs[i] >= 0]
        # NN transfer: first neighbour labelling each keypoint, copied in box coordinates
        preds["NN transfer"][i] = _median_transfer(database.points[nb], database.visible[nb], np.arange(len(nb)), 1,
                                                   centre)
        for method, feats, scale in (("conv4 flow", "conv", s_conv), ("SIFT flow", "sift", s_sift)):
            fq = getattr(queries, feats)[i] * scale
            fd = getattr(database, feats)[nb] * scale
            res = bp.solve_flow_in_frame(np.broadcast_to(fq, fd.shape), fd, bpcfg, queries.stride, cfg.box,
                                         cfg.paper_box)
            flow = np.asarray(res.flow)  # working-box pixels
            moved = np.stack([
                np.asarray(carry_points(jnp.asarray(database.points[j]),
                                        jnp.asarray(dense_flow_spline(flow[n], queries.grid_xy,
                                                                      (cfg.box, cfg.box)))))
                for n, j in enumerate(nb)])
            e = np.asarray(res.deformation_energy)
            energies[method][i, :len(nb)] = e
            preds[method][i] = _median_transfer(moved, database.visible[nb], np.argsort(e, kind="stable"), cfg.top,
                                               centre)
    return {"pred": preds, "neighbours": nbrs, "energies": energies}


def evaluate(pred_box: dict, samples: Sequence[KeypointSample], cfg: RetrievalTransferConfig) -> dict:
    """Per-category PCK (%) at each alpha (mean over keypoint types) and the category mean, for every method.

    Args:
      pred_box: {method: [Q, K, 2] predictions in box pixels}.
      samples: the Q target `KeypointSample`s.
      cfg: the settings (box).

    Returns:
      {method: {alpha: {category: PCK % (NaN: no visible target keypoint), "mean": mean over the categories
      scored}}} for alpha in `ALPHAS`.

    Raises:
      InputError: a method's predictions not [Q, K, 2] with one row per sample and K >= each sample's keypoints.
    """
    cats = sorted({s.category for s in samples})
    out = {}
    for m, pred in pred_box.items():
        check_shape(pred, "Q K 2", "evaluate", f"pred_box[{m!r}]", {"Q": len(samples)},
                    note="(one row per target sample, box pixels)")
        pred = np.asarray(pred)
        kmax = max((s.num_keypoints for s in samples), default=0)
        check(pred.shape[1] >= kmax, "evaluate", f"pred_box[{m!r}]", f"a slot for each of the samples' {kmax} "
              "keypoints", f"{pred.shape[1]} slots")
        res: dict[float, dict[str, float]] = {a: {} for a in ALPHAS}  # alpha -> category -> PCK (%)
        for c in cats:
            idx = [i for i, s in enumerate(samples) if s.category == c]
            kc = samples[idx[0]].num_keypoints
            gt = np.stack([samples[i].points for i in idx])
            vis = np.stack([samples[i].visible for i in idx])
            back = geometry.invert_affine(geometry.box_to_affine(np.stack([samples[i].bbox for i in idx]), cfg.box))
            pr = geometry.transform_points(np.asarray(pred[idx, :kc], np.float64), back)
            norm = np.array([max(s.bbox[2] - s.bbox[0] + 1,
                                 s.bbox[3] - s.bbox[1] + 1) for s in (samples[i] for i in idx)])
            for a in ALPHAS:
                res[a][c] = 100 * metrics.mean_scored(metrics.pck_per_keypoint(pr, gt, vis, norm, a))
        out[m] = {a: dict(res[a], mean=metrics.mean_scored(list(res[a].values()))) for a in ALPHAS}
    return out


def table2(train: Sequence[KeypointSample], test: Sequence[KeypointSample], backbone: Backbone, params: Params,
           cfg: RetrievalTransferConfig, progress: bool = False) -> dict:
    """Run the whole protocol.

    Args:
      train, test: `KeypointSample`s with images loaded (test cut to cfg.max_targets).
      backbone, params: the network.
      cfg: the settings (with val_betas: beta is chosen by `_select_beta`).
      progress: progress bars.

    Returns:
      {"results" (`evaluate`), "n_targets", "seconds", "transfer" (`_run_transfer`), "targets", "database"
      (`Prepared`), "config" (with the chosen beta), "validation" ({beta: PCK} or None)}.

    Raises:
      InputError: an empty train or test set.
    """
    t0 = time.perf_counter()
    test = list(test)[: cfg.max_targets] if cfg.max_targets else list(test)
    check(len(test) > 0 and len(train) > 0, "table2", "instances", "non-empty train and test sets")
    db = _prepare(train, backbone, params, cfg, "database", progress)
    qs = _prepare(test, backbone, params, cfg, "targets", progress)
    kmax = max(db.points.shape[1], qs.points.shape[1])
    for p in (db, qs):
        pad = kmax - p.points.shape[1]
        if pad:
            p.points = np.concatenate([p.points, np.full((len(p.points), pad, 2), np.nan, np.float32)], 1)
            p.visible = np.concatenate([p.visible, np.zeros((len(p.visible), pad), bool)], 1)
    validation = None
    if cfg.val_betas:
        beta, validation = _select_beta(db, list(train), cfg)
        cfg = dataclasses.replace(cfg, beta=beta)
    out = _run_transfer(qs, db, [s.category for s in test], [s.category for s in train], cfg, progress)
    results = evaluate(out["pred"], test, cfg)
    return {"results": results, "n_targets": len(test), "seconds": time.perf_counter() - t0,
            "transfer": out, "targets": qs, "database": db, "config": cfg, "validation": validation}


def _take(p: Prepared, idx: np.ndarray) -> Prepared:
    return dataclasses.replace(p, crops=p.crops[idx], points=p.points[idx], visible=p.visible[idx],
                               retrieval=p.retrieval[idx],
                               conv=p.conv[idx], sift=p.sift[idx])


def _select_beta(db: Prepared, train: list[KeypointSample], cfg: RetrievalTransferConfig) -> tuple[float, dict]:
    """Pick beta among `cfg.val_betas` (same beta for both feature types, as the paper).

    Held-out training instances (`cfg.val_targets`, round-robin over categories) are aligned to the remaining
    training instances; ties go to the beta nearest 3e-3 (log scale).

    Args:
      db: the `Prepared` training instances.
      train: their `KeypointSample`s.
      cfg: the settings.

    Returns:
      (the chosen beta, {beta: mean PCK (%) at alpha 0.1 of the two flow methods}).

    Raises:
      InputError: naming val_targets when the validation split holds out every training instance of a category,
        or scores no beta (no visible keypoint).
    """
    order = _interleave_indices([s.category for s in train])
    val = np.array(order[: cfg.val_targets])
    rest = np.setdiff1d(np.arange(len(train)), val)
    cats = np.array([s.category for s in train])
    emptied = sorted(set(cats[val].tolist()) - set(cats[rest].tolist()))
    if emptied:
        raise InputError("RetrievalTransferConfig", "val_targets", f"a validation split (val_betas) that leaves every "
                         f"category a training instance to align to ({len(train)} training instances)",
                         f"{cfg.val_targets}, which holds out all {int(np.sum(cats == emptied[0]))} of category "
                         f"{emptied[0]!r}")
    scores = {}
    for beta in cfg.val_betas:
        c = dataclasses.replace(cfg, beta=beta)
        out = _run_transfer(_take(db, val), _take(db, rest), cats[val], cats[rest], c)
        preds = {m: out["pred"][m] for m in METHODS[:2]}
        r = evaluate(preds, [train[i] for i in val], c)
        scores[float(beta)] = float(np.mean([r[m][0.1]["mean"] for m in preds]))
    scored = [b for b in scores if np.isfinite(scores[b])]
    if not scored:
        raise InputError("RetrievalTransferConfig", "val_targets", "a validation split (val_betas) with a visible "
                         "keypoint to score each beta on", f"{len(val)} held-out instances, none scored")
    best = max(scored, key=lambda b: (scores[b], -abs(np.log(b / 3e-3))))
    return best, scores


def _interleave_indices(cats: Sequence[str]) -> list[int]:
    """Indices in round-robin order over categories (each category's own order kept).

    Args:
      cats: the category of each item.

    Returns:
      list of int indices into cats.
    """
    by: dict[str, list[int]] = {}
    for i, c in enumerate(cats):
        by.setdefault(c, []).append(i)
    lists = list(by.values())
    return [l[i] for i in range(max(map(len, lists), default=0)) for l in lists if i < len(l)]


def interleave(samples: Sequence[KeypointSample]) -> list[KeypointSample]:
    """Round-robin over categories, so that the first N targets cover every category.

    Args:
      samples: `KeypointSample`s.

    Returns:
      list of the same samples, reordered (`_interleave_indices`).
    """
    return [samples[i] for i in _interleave_indices([s.category for s in samples])]
