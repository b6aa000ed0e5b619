"""Moving points from frame i to frame j of `frames.Frames` for pairs (i, j): BP flow or a hyperpixel matcher.

Methods (`cfg.resolved_method`): "bp" = BP flow (`flow.bp.solve_flow_in_frame`, features scaled to a mean column norm of
`cfg.feature_norm` over all the frames, or over each pair's two frames with `move_points(per_pair=True)` as
`transfer_points` does, whole target grid as the label window unless `cfg.window`, displacements in pixels of a
`cfg.paper_side` px image so that beta keeps Long et al.'s meaning); the grid flow is read at a point by bilinear
interpolation between the 4 nearest nodes, edge values held outside the grid (`_flow_at_points`). "cos", "rhm",
"ot", "ot_rhm" = `correspondence.matching` (each source node's best target node; OT marginals uniform, or the
CAM weights of `cfg.prior`); a point moves by the mean match of the source nodes within `cfg.radius` grid strides
of it (HPF's transfer, `carry.transfer_keypoints`). Without features (features="none") the flow is zero:
points move by the image-to-image scaling of the frames. Points are given and returned in image pixels: each is
mapped into frame i by M[i], moved, and mapped back to image j's pixels by the inverse of M[j].

Batches: BP runs `cfg.batch` pairs per vmapped call and the matchers `cfg.match_batch`; when there are more pairs
than one batch, the last batch is padded, so any number of pairs above one batch compiles one batch shape (fewer
pairs run as one batch of their own count, a compiled shape per count). The points of a pair are padded to a
power of two, at least 8 (1 to 8 points one compiled shape, 9 to 16 another, ...), for the jitted carry
and BP's flow read-out, and the padding dropped: a new number of points compiles nothing new within its bucket.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.correspondence import carry, matching
from convcorr_jax.correspondence.frames import (
    Frames,
    columns_at,
    grid_coordinates,
    resolve_names,
)
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.warp_projection import project_features
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import bilinear_sample_jit
from convcorr_jax.core.parallel import pad_rows, pow2_ceil
from convcorr_jax.core.progress import bar as progress_bar

_POINT_BUCKET = 8  # the fewest points a pair's points are padded to (then the next power of two): one compiled shape


def _flow_at_points(flow: np.ndarray, grid_xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Grid flow read at points by bilinear interpolation between the 4 nearest grid nodes.

    Args:
      flow: [h, w, 2] (dx, dy) frame pixels at the nodes.
      grid_xy: [h, w, 2] (x, y) frame pixels of the nodes (a separable grid).
      points: [K, 2] (x, y) frame pixels; points beyond the outermost nodes take the edge values.

    Returns:
      float32 [K, 2] (dx, dy) frame pixels.
    """
    points = np.asarray(points)
    q, k = pad_rows(points, pow2_ceil(points.shape[-2], _POINT_BUCKET), axis=-2)  # one shape per bucket
    fx, fy = grid_coordinates(grid_xy, q)
    return np.asarray(bilinear_sample_jit(np.asarray(flow, np.float32), np.asarray(fx, np.float32),
                                          np.asarray(fy, np.float32)))[:k]


def _pair_flows(feats: np.ndarray | None, frames: Frames, pairs: np.ndarray, cfg: PointTransferConfig,
               progress: bool = False, per_pair: bool = False) -> np.ndarray:
    """BP flow from frame i to frame j for each pair (i, j).

    Args:
      feats: [N, h, w, C] features of the frames (scaled to a mean column norm of cfg.feature_norm here), or None.
      frames: the frames (`frames.make_frames`): their grid and stride.
      pairs: int [P, 2] (i, j) frame indices.
      cfg: the settings (BP: bp_beta, window, iters, levels; batch pairs per vmapped call; image_size, paper_side).
      progress: show a progress bar.
      per_pair: the mean column norm taken over each pair's two frames (a pair's flow then does not depend on the
        other frames); False: over all N frames (one scale for a data set).

    Returns:
      float32 [P, h, w, 2] (dx, dy) frame pixels at frame i's nodes; zero flow when feats is None.
    """
    h, w = frames.grid_xy.shape[:2]
    if feats is None:
        return np.zeros((len(pairs), h, w, 2), np.float32)
    if not per_pair:
        feats = (feats * feature_scale(feats, cfg.feature_norm)).astype(np.float32)
    bpcfg = bp.BPConfig(cfg.bp_beta, cfg.window, cfg.iters, cfg.levels, "brute")
    out = []
    n = len(pairs)
    for s in progress_bar(range(0, n, cfg.batch), desc="BP flow", disable=not progress, leave=False):
        chunk = pairs[s: s + cfg.batch]
        idx = pad_rows(chunk, cfg.batch)[0] if n > cfg.batch else chunk  # one compiled batch shape
        fa, fb = feats[idx[:, 0]], feats[idx[:, 1]]
        if per_pair:  # each pair's frames scaled as they would be alone, in the order (i, j)
            k = [feature_scale(feats[[i, j] if i != j else [i]], cfg.feature_norm) for i, j in idx]
            fa, fb = (np.stack([f * c for f, c in zip(v, k)]).astype(np.float32) for v in (fa, fb))
        res = bp.solve_flow_in_frame(fa, fb, bpcfg, frames.stride, cfg.image_size, cfg.paper_side)
        out.append(np.asarray(res.flow)[: len(chunk)])
    return np.concatenate(out)


def _transfer_pairs(frames: Frames, points: np.ndarray, pairs: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Source points moved through each pair's flow into image j's pixels.

    Args:
      frames: the frames (their affines M and grid).
      points: [P, K, 2] (x, y) source points in image i's pixels, one set per pair (finite).
      pairs: int [P, 2] (i, j) frame indices.
      flows: [P, h, w, 2] (dx, dy) frame pixels, frame i -> frame j (`_pair_flows`).

    Returns:
      float64 [P, K, 2] (x, y) in image j's pixels.
    """
    inv = geometry.invert_affine(frames.M)
    out = np.empty((len(pairs), points.shape[1], 2), np.float64)
    for p, (i, j) in enumerate(pairs):
        q = geometry.transform_points(np.asarray(points[p], np.float64), frames.M[i])
        moved = q + _flow_at_points(flows[p], frames.grid_xy, q)
        out[p] = geometry.transform_points(moved, inv[j])
    return out


_transfer_batch = jax.jit(jax.vmap(carry.transfer_keypoints, in_axes=(0, None, None, 0, None, 0, None, None, None)))
_consistent_batch = jax.jit(carry.cycle_consistent)


def _match_config(cfg: PointTransferConfig) -> matching.MatchConfig:
    """The matcher settings of cfg: its method, Sinkhorn iterations and entropy, Hough kernel width, soft mutual
    nearest neighbours.

    Args:
      cfg: the point-transfer settings.

    Returns:
      A `matching.MatchConfig` (scorer=cfg.resolved_method, eps=cfg.ot_eps, iters=cfg.ot_iters, side=cfg.hough_side,
      soft_mnn=cfg.soft_mnn).
    """
    return matching.MatchConfig(scorer=cfg.resolved_method, eps=cfg.ot_eps, iters=cfg.ot_iters, side=cfg.hough_side,
                                soft_mnn=bool(cfg.soft_mnn))


def _mirror_x(points: np.ndarray, size: int) -> np.ndarray:
    """Points of a size x size frame in its left-right mirror image: x -> size - 1 - x.

    Args:
      points: [..., 2] (x, y) frame pixels.
      size: the frame's side in pixels.

    Returns:
      float64 [..., 2] (a copy; y unchanged).
    """
    out = np.array(points, np.float64, copy=True)
    out[..., 0] = size - 1 - out[..., 0]
    return out


def _matches(fs, ft, xy, cfg: PointTransferConfig, backward: bool, ws=None, wt=None) -> tuple[np.ndarray, ...]:
    """`matching.match_best` of one batch fs [B, Ns, C] -> ft [B, Nt, C] with cfg's matcher and the OT marginal
    weights ws [B, Ns] / wt [B, Nt] (None: uniform), as NumPy arrays."""
    size = (cfg.image_size, cfg.image_size)
    return tuple(np.asarray(r) for r in matching.match_best(fs, ft, xy, xy, size, size, _match_config(cfg), ws, wt,
                                                            backward=backward))


def _carry(best, back, xy, q, cfg: PointTransferConfig, stride: float) -> np.ndarray:
    """Frame-i points q [B, K, 2] moved by the matches best [B, Ns] (HPF's transfer), through forward-backward
    consistent nodes only (back [B, Nt]: the target's best source nodes) when cfg.cycle is set, the carriers
    trimmed (cfg.trim), weighted (cfg.carry_sigma) and their offsets scaled (cfg.carry_scale) when set. -> [B, K, 2]."""
    best = jnp.asarray(best)
    keep = jnp.ones(best.shape, bool) if cfg.cycle is None else \
        _consistent_batch(best, jnp.asarray(back), xy, cfg.cycle * stride)
    trim = None if cfg.trim is None else cfg.trim * stride
    sigma = None if cfg.carry_sigma is None else cfg.carry_sigma * stride
    q = np.asarray(q, np.float32)
    q, k = pad_rows(q, pow2_ceil(q.shape[-2], _POINT_BUCKET), axis=-2)  # K to its bucket, padding dropped
    return np.asarray(_transfer_batch(best, xy, xy, q, cfg.radius * stride, keep, trim, sigma,
                                      carry.SPREAD_CLIP if cfg.carry_scale else None), np.float64)[:, :k]


def _mean_rows(conf: np.ndarray) -> np.ndarray:
    """Mean confidence of each row [B, Ns] -> [B] (one compiled reduction, whichever batch the rows came from)."""
    return np.asarray(jnp.mean(jnp.asarray(conf), axis=1))


def _match_batch(fs, ft, xy, q, cfg: PointTransferConfig, stride: float, ws=None, wt=None):
    """(moved [B, K, 2] frame-j pixels, best [B, Ns], mean best confidence [B]) of one batch: the matcher (OT
    marginal weights ws [B, Ns] / wt [B, Nt] or None), the cycle-consistency mask when cfg.cycle is set, HPF's
    transfer of the frame-i points q [B, K, 2]."""
    if cfg.cycle is None:
        best, conf = _matches(fs, ft, xy, cfg, False, ws, wt)
        back = None
    else:
        best, conf, back, _ = _matches(fs, ft, xy, cfg, True, ws, wt)
    return _carry(best, back, xy, q, cfg, stride), best, _mean_rows(conf)


def _both_ways(f, xy, pairs: np.ndarray, cfg: PointTransferConfig, progress: bool = False, w=None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair's (best [P, Ns], confidence [P, Ns], the target's best source nodes [P, Nt]) from one match of
    each unordered pair {i, j} with its backward direction (`matching.match_best(backward=True)`): the backward
    match of (i, j) is the forward match of (j, i), from the same cosines transposed, so an ordered pair whose
    reverse is also scored costs no second match. f [N, Ns, C] (square frames: Ns = Nt); w [N, Ns] the nodes' OT
    marginal weights (None: uniform)."""
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    undirected, which = np.unique(np.stack([lo, hi], 1), axis=0, return_inverse=True)
    which = which.reshape(-1)
    batch = cfg.match_batch
    found: tuple[list[np.ndarray], ...] = ([], [], [], [])  # fwd, cf, bwd, cb of each chunk
    for s in progress_bar(range(0, len(undirected), batch), desc=f"{cfg.resolved_method} both ways",
                          disable=not progress, leave=False):
        chunk = undirected[s:s + batch]
        real = len(chunk)
        if len(undirected) > batch:  # one compiled batch shape
            chunk, real = pad_rows(chunk, batch)
        pick = (lambda a, k: None if a is None else a[jnp.asarray(chunk[:, k])])
        out = _matches(pick(f, 0), pick(f, 1), xy, cfg, True, pick(w, 0), pick(w, 1))
        for acc, r in zip(found, out):
            acc.append(r[:real])
    fwd, cf, bwd, cb = (np.concatenate(v)[which] for v in found)
    ahead = (pairs[:, 0] <= pairs[:, 1])[:, None]  # (i, j) with i <= j is the unordered pair's forward direction
    return np.where(ahead, fwd, bwd), np.where(ahead, cf, cb), np.where(ahead, bwd, fwd)


def match_transfer(feats: np.ndarray, frames: Frames, points: np.ndarray, pairs: np.ndarray,
                   cfg: PointTransferConfig, progress: bool = False, mirrored: np.ndarray | None = None,
                   prior: np.ndarray | None = None, mirrored_prior: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Source points of each pair (i, j) moved into image j's pixels by a matcher and HPF's transfer.

    The matcher is cfg.resolved_method on the features (`matching.match_best`, OT marginals `prior`, `_match_config`),
    optionally only through forward-backward consistent nodes (cfg.cycle, `carry.cycle_consistent`), and HPF's
    transfer (`carry.transfer_keypoints`, carriers within cfg.radius grid strides). With mirrored features
    (cfg.flip_source) the mirrored source is matched too, its points mirrored into it, and per pair the mirrored match
    is kept when its mean best confidence over the source nodes exceeds the plain match's by the factor
    1 + cfg.flip_margin. With cfg.cycle the plain matches come from one match per unordered pair (`_both_ways`).

    Args:
      feats: [N, h, w, C] features of the frames.
      frames: the frames (affines M, grid, stride).
      points: [P, K, 2] (x, y) source points in image i's pixels, one set per pair (finite).
      pairs: int [P, 2] (i, j) frame indices.
      cfg: the settings (matcher, cycle, radius, match_batch, image_size, flip_margin).
      progress: show progress bars.
      mirrored: [N, h, w, C] the features of the mirrored frames (cfg.flip_source), or None.
      prior, mirrored_prior: [N, h, w] the OT marginal weights of the nodes of the frames and of the mirrored frames
        (cfg.prior; None: uniform).

    Returns:
      numpy (moved points float64 [P, K, 2] in image j's pixels; matches float32 [P, h, w, 2]: each source node's best
      target node minus the node, frame pixels, the matcher's flow; for a mirrored match, node k takes the match of
      the mirrored node nearest to it).
    """
    n, h, w, c = feats.shape
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    batch = cfg.match_batch
    f = jnp.asarray(feats.reshape(n, h * w, c))
    fm = None if mirrored is None else jnp.asarray(mirrored.reshape(n, h * w, c))
    w_, wm = (None if v is None else jnp.asarray(v.reshape(n, h * w), jnp.float32) for v in (prior, mirrored_prior))
    xy = jnp.asarray(frames.grid_xy.reshape(-1, 2), jnp.float32)
    inv = geometry.invert_affine(frames.M)
    out = np.empty((len(pairs), points.shape[1], 2))
    flows = np.empty((len(pairs), h * w, 2), np.float32)
    grid = np.asarray(xy)
    twin = np.argmin(((_mirror_x(grid, cfg.image_size)[:, None] - grid[None]) ** 2).sum(-1), 1)
    plain = None if cfg.cycle is None or not len(pairs) else _both_ways(f, xy, pairs, cfg, progress, w_)
    for s in progress_bar(range(0, len(pairs), batch), desc=cfg.resolved_method, disable=not progress, leave=False):
        chunk = pairs[s:s + batch]
        pts = points[s:s + batch]
        real = len(chunk)
        if len(pairs) > batch:  # one compiled batch shape
            (chunk, pts), real = pad_rows((chunk, pts), batch)
        q = geometry.transform_points(pts, frames.M[chunk[:, 0]])
        ft = f[jnp.asarray(chunk[:, 1])]
        wt = None if w_ is None else w_[jnp.asarray(chunk[:, 1])]
        if plain is None:
            moved, best, score = _match_batch(f[jnp.asarray(chunk[:, 0])], ft, xy, q, cfg, frames.stride,
                                              None if w_ is None else w_[jnp.asarray(chunk[:, 0])], wt)
        else:
            best, conf, back = (pad_rows(v[s:s + batch], batch)[0] if len(pairs) > batch else v[s:s + batch]
                                for v in plain)
            moved, score = _carry(best, back, xy, q, cfg, frames.stride), _mean_rows(conf)
        flow = grid[best] - grid[None]
        if fm is not None:
            moved_m, best_m, score_m = _match_batch(fm[jnp.asarray(chunk[:, 0])], ft, xy,
                                                    _mirror_x(q, cfg.image_size), cfg, frames.stride,
                                                    None if wm is None else wm[jnp.asarray(chunk[:, 0])], wt)
            use = score_m > score * (1.0 + cfg.flip_margin)
            moved = np.where(use[:, None, None], moved_m, moved)
            flow = np.where(use[:, None, None], grid[best_m[:, twin]] - grid[None], flow)
        out[s:s + real] = geometry.transform_points(moved, inv[chunk[:, 1]])[:real]
        flows[s:s + real] = flow[:real]
    return out, flows.reshape(len(pairs), h, w, 2)


def move_points(frames: Frames, points: np.ndarray, pairs: np.ndarray, cfg: PointTransferConfig,
                taps: Sequence[str] | None = None, progress: bool = False, per_pair: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Move source points into the target image of each pair by cfg's method on the frames' features.

    Args:
      frames: the frames of every image (`frames.make_frames`).
      points: float [P, K, 2] source points in image i's pixels, one set per pair (i, j); NaN where invalid.
      pairs: int [P, 2] (i, j) indices into the frames.
      cfg: the settings; `cfg.resolved_method` is "bp" or a matcher of `matching.MATCHERS`.
      taps: the parts of the frames' features used (resolved names; None: all).
      progress: progress bars.
      per_pair: BP flow's feature scale (cfg.feature_norm) from each pair's two frames, so that a pair moves its
        points as it would alone (`transfer_points`); False: one scale from all the frames (a data set's).

    Returns:
      numpy (pred float64 [P, K, 2] in image j's pixels, NaN where the source point is NaN; flows float32 [P, h, w, 2]
      (dx, dy) frame pixels of every node of frame i: BP's flow, the matcher's best match minus the node, or zero
      for features="none").
    """
    points = np.asarray(points, np.float64)
    missing = ~np.all(np.isfinite(points), -1)
    src = np.where(missing[..., None], 0.0, points)
    feats = frames.features(None if taps is None or frames.parts is None or "sift" in frames.parts
                            else resolve_names(frames, taps))
    if feats is None or cfg.resolved_method == "bp":
        flows = _pair_flows(feats, frames, pairs, cfg, progress, per_pair)
        pred = _transfer_pairs(frames, src, pairs, flows)
    else:
        mirrored = frames.features(None if taps is None else resolve_names(frames, taps), mirrored=True) \
            if cfg.flip_source and frames.flipped is not None else None
        feats, mirrored = projected(feats, cfg), None if mirrored is None else projected(mirrored, cfg)
        assert feats is not None  # features projected are features
        pred, flows = match_transfer(feats, frames, src, pairs, cfg, progress=progress, mirrored=mirrored,
                                     prior=frames.prior, mirrored_prior=frames.flipped_prior if mirrored is not None
                                     else None)
    pred[missing] = np.nan
    return pred, flows


def projected(feats: np.ndarray | None, cfg: PointTransferConfig) -> np.ndarray | None:
    """The features a matcher matches: `feats` through cfg.projection (`warp_projection.project_features`) when
    set for a matcher on conv features, else `feats` as they are.

    Args:
      feats: [N, h, w, C] frames' features, or None.
      cfg: the settings (projection, features, matcher).

    Returns:
      [N, h, w, D] (float32 numpy projected, L2-normalised per node) or `feats` unchanged.
    """
    if feats is None or cfg.projection is None or cfg.features != "cnn" or cfg.resolved_method == "bp":
        return feats
    return project_features(feats, cfg.projection)


def similarity_at(feats: np.ndarray, grid_xy: np.ndarray, pairs: np.ndarray, src: np.ndarray,
                  dst: np.ndarray) -> np.ndarray:
    """Cosine similarity between the feature column of frame i at src and of frame j at dst for each pair (i, j).

    Columns are read bilinearly between the nodes of grid_xy (edge nodes held outside).

    Args:
      feats: [N, h, w, C] features of the frames.
      grid_xy: [h, w, 2] (x, y) frame pixels of the nodes.
      pairs: int [P, 2] (i, j) frame indices.
      src, dst: [P, K, 2] (x, y) frame pixels in frame i and frame j.

    Returns:
      float64 numpy [P, K]; NaN where a point is not finite; 0 for an all-zero column.
    """
    out = np.full(src.shape[:2], np.nan)
    for p, (i, j) in enumerate(pairs):
        ok = np.all(np.isfinite(src[p]), -1) & np.all(np.isfinite(dst[p]), -1)
        if not ok.any():
            continue
        a = columns_at(feats[i], grid_xy, src[p][ok])
        b = columns_at(feats[j], grid_xy, dst[p][ok])
        na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
        out[p, ok] = np.sum(a * b, -1) / np.maximum(na * nb, 1e-12)
    return out
