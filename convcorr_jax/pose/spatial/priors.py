"""The spatial model's priors (`convcorr_jax.pose.spatial`): learned as histograms of the offsets of training
ground truth, or fitted further by gradient descent on the marginals given the network's heat-maps.

Priors (`offset_priors`; `priors_from_pixels` for ground truth in image pixels). The histogram of rounded child -
parent offsets (`rint(child) - rint(parent)`, in cells) over the training instances where both nodes are labelled,
normalised, optionally smoothed by a Gaussian of std `sigma` cells, plus `floor` at every offset and renormalised:
log p_e(d) = log((q_e(d) + floor) / (1 + floor * n)) with q_e the (smoothed) normalised histogram and
n = kh * kw. An edge without data gets the uniform kernel. The log-priors are plain arrays: `fit_priors` learns them
further by gradient descent on `marginal_nll` given the network's heat-maps on training images (the paper trains
its pairwise potentials). `learn_priors` learns them with the settings of a `SpatialConfig`
(kernel side, sigma, floor).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.pose.spatial.config import (FLIC_EDGES, FLIC_VALIDATED, Edges, SpatialConfig, kernel_shape,
                                              tree_structure)
from convcorr_jax.pose.spatial.inference import IMPOSSIBLE_LOG, marginals, node_log_unaries

def _gaussian_1d(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return g / g.sum()


def offset_histograms(points: npt.ArrayLike, visible: npt.ArrayLike, edges: Edges,
                      kernel_size: int | Sequence[int]) -> np.ndarray:
    """Counts of the rounded offsets rint(child) - rint(parent) (cells) of each edge where both ends are visible.

    Offsets outside the kernel are not counted; a point with a non-finite coordinate is not counted.

    Args:
        points: [N, V, 2] (x, y) heat-map cells (all V nodes, the torso included, e.g. `with_torso`).
        visible: bool [N, V].
        edges: (parent, child) pairs forming one tree over the V nodes.
        kernel_size: odd side, an int or (kh, kw), cells.

    Returns:
        float64 [E, kh, kw] counts; entry [e, r_y + d_y, r_x + d_x] for offset (d_x, d_y), r_y = kh // 2, r_x = kw // 2.

    Raises:
        InputError: arrays of other shapes, edges that are not one tree, an even or non-positive kernel side.
    """
    pts = np.asarray(points, np.float64)
    vis = np.asarray(visible, bool)
    dims = check_shape(pts, "N V 2", "spatial prior", "points", note="(x, y) in heat-map cells")
    check_shape(vis, "N V", "spatial prior", "visible", dims)
    tree_structure(tuple(tuple(int(v) for v in e) for e in edges), pts.shape[1])
    kh, kw = kernel_shape(kernel_size)
    ry, rx = kh // 2, kw // 2
    out = np.zeros((len(edges), kh, kw), np.float64)
    for e, (p, c) in enumerate(edges):
        ok = vis[:, p] & vis[:, c] & np.all(np.isfinite(pts[:, p]) & np.isfinite(pts[:, c]), axis=-1)
        d = np.rint(pts[ok, c]).astype(np.int64) - np.rint(pts[ok, p]).astype(np.int64)
        inside = (np.abs(d[:, 0]) <= rx) & (np.abs(d[:, 1]) <= ry)
        np.add.at(out[e], (d[inside, 1] + ry, d[inside, 0] + rx), 1.0)
    return out


def offset_priors(points: npt.ArrayLike, visible: npt.ArrayLike, edges: Edges, kernel_size: int | Sequence[int] = 31,
                  sigma: float = 1.0, floor: float = 1e-4) -> np.ndarray:
    """Log-priors over child - parent offsets from the offsets of training data (module docstring).

    Normalised histogram (`offset_histograms`), Gaussian smoothing of std `sigma` cells, `floor` added at every offset,
    renormalised, log. An edge without data (no visible pair, or every offset outside the kernel) is not smoothed:
    it gets the uniform kernel whatever `sigma` and `floor`.

    Args:
        points: [N, V, 2] (x, y) heat-map cells.
        visible: bool [N, V].
        edges: (parent, child) pairs forming one tree over the V nodes.
        kernel_size: odd, an int or (kh, kw): 2 * map size - 1 covers every offset on the map.
        sigma: std of the smoothing, cells (>= 0; 0: none).
        floor: probability added at every offset (>= 0).

    Returns:
        float32 [E, kh, kw] log-priors; an edge without data gets the uniform kernel.

    Raises:
        InputError: sigma or floor < 0, or as `offset_histograms`.
    """
    if not sigma >= 0:
        raise InputError("spatial prior", "sigma", ">= 0 (cells)", sigma)
    if not floor >= 0:
        raise InputError("spatial prior", "floor", ">= 0 (probability)", floor)
    hist = offset_histograms(points, visible, edges, kernel_size)
    e, kh, kw = hist.shape
    tot = hist.sum(axis=(1, 2), keepdims=True)
    q = hist / np.maximum(tot, 1)
    if sigma > 0:
        g = _gaussian_1d(sigma)
        r = len(g) // 2
        q = np.apply_along_axis(lambda v: np.convolve(v, g)[r:r + kh], 1, q)  # zero outside the kernel
        q = np.apply_along_axis(lambda v: np.convolve(v, g)[r:r + kw], 2, q)
        q = q / np.maximum(q.sum(axis=(1, 2), keepdims=True), np.finfo(np.float64).tiny)
    q = np.where(tot > 0, q, 1.0 / (kh * kw))  # an edge without data: uniform, whatever sigma
    p = (q + floor) / (1.0 + floor * kh * kw)
    with np.errstate(divide="ignore"):
        return np.log(p).astype(np.float32)


def with_torso(points: npt.ArrayLike, visible: npt.ArrayLike, torso: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Appends the torso point as the last node (the torso always visible).

    Args:
        points: [N, K, 2] (x, y).
        visible: bool [N, K].
        torso: [N, 2] (x, y), in the points' units.

    Returns:
        (float32 [N, K+1, 2] points, bool [N, K+1] visible).

    Raises:
        InputError: torso not [N, 2].
    """
    pts = np.asarray(points, np.float32)
    tor = np.asarray(torso, np.float32)
    check_shape(tor, "N 2", "spatial prior", "torso", {"N": pts.shape[0]}, note="(x, y)")
    vis = np.asarray(visible, bool)
    return (np.concatenate([pts, tor[:, None]], axis=1),
            np.concatenate([vis, np.ones((len(vis), 1), bool)], axis=1))


def priors_from_pixels(points: npt.ArrayLike, visible: npt.ArrayLike, torso: npt.ArrayLike, stride: float,
                       edges: Edges = FLIC_EDGES, kernel_size: int | Sequence[int] = 31, sigma: float = 1.0,
                       floor: float = 1e-4) -> np.ndarray:
    """Log-priors (`offset_priors`) of training ground truth given in image pixels.

    The points are mapped to the cells of a heat-map of this stride (`heatmaps.image_to_map`).

    Args:
        points: [N, K, 2] (x, y) pixels.
        visible: bool [N, K].
        torso: [N, 2] (x, y) pixels, the conditioning point (node K).
        stride: pixels per heat-map cell.
        edges, kernel_size, sigma, floor: as `offset_priors`.

    Returns:
        float32 [E, kh, kw] log-priors.

    Raises:
        InputError: as `offset_priors` and `with_torso`.
    """
    pts = np.asarray(points, np.float64)
    cells = (pts - (stride - 1) / 2) / stride
    tor = (np.asarray(torso, np.float64) - (stride - 1) / 2) / stride
    p, v = with_torso(cells, visible, tor)
    return offset_priors(p, v, edges, kernel_size, sigma, floor)


def learn_priors(points: npt.ArrayLike, visible: npt.ArrayLike, torso: npt.ArrayLike, stride: float,
                 cfg: SpatialConfig = FLIC_VALIDATED, map_size: int | None = None) -> np.ndarray:
    """Log-priors of cfg's tree learned from training ground truth in image pixels (the pixels of the network's input).

    `priors_from_pixels` on the cells of a heat-map of this stride, with cfg.edges, side `cfg.kernel_size(map_size)`,
    cfg.prior_sigma and cfg.prior_floor.

    Args:
        points: [N, K, 2] (x, y) pixels.
        visible: bool [N, K], the labelled joints.
        torso: [N, 2] (x, y) pixels, each person's conditioning point (node K).
        stride: pixels per heat-map cell.
        cfg: the spatial model's settings (validated).
        map_size: the heat-map's side in cells, needed for kernel 0.

    Returns:
        float32 [E, k, k] log-priors, k = `cfg.kernel_size(map_size)`.

    Raises:
        InputError: a bad config, points not [N, K, 2], cfg.edges not one tree over K + 1 nodes.
    """
    cfg.validate()
    pts = np.asarray(points)
    check_shape(pts, "N K 2", "spatial prior", "points", note="(x, y) pixels")
    tree_structure(cfg.edges, pts.shape[1] + 1)
    return priors_from_pixels(points, visible, torso, stride, cfg.edges, cfg.kernel_size(map_size),
                              cfg.prior_sigma, cfg.prior_floor)


def marginal_nll(log_priors: jax.Array, log_unary: jax.Array, targets: jax.Array, mask: jax.Array, edges: Edges,
                 method: str = "direct") -> jax.Array:
    """Mean negative sum-product log-marginal of the target cells, a differentiable loss for learning the log-priors.

    Args:
        log_priors: float [E, kh, kw].
        log_unary: float [N, V, H, W].
        targets: int [N, V, 2] (x, y) cells (clipped into the map).
        mask: bool [N, V], the nodes scored.
        edges: (parent, child) pairs forming one tree over the V nodes.
        method: sum-product convolution, "direct" or "fft".

    Returns:
        A float32 scalar (0 when nothing is masked in).
    """
    lm = jax.vmap(lambda u: marginals(u, log_priors, edges, "sum", method))(log_unary)  # [N, V, H, W]
    _, _, h, w = lm.shape
    x = jnp.clip(targets[..., 0], 0, w - 1)
    y = jnp.clip(targets[..., 1], 0, h - 1)
    flat = lm.reshape(lm.shape[:2] + (h * w,))
    val = jnp.take_along_axis(flat, (y * w + x)[..., None], axis=-1)[..., 0]
    m = mask.astype(jnp.float32)
    return -jnp.sum(val * m) / jnp.maximum(jnp.sum(m), 1.0)


def fit_priors(log_priors: npt.ArrayLike, heatmaps: npt.ArrayLike, torso: npt.ArrayLike, targets: npt.ArrayLike,
               visible: npt.ArrayLike, cfg: SpatialConfig = FLIC_VALIDATED, steps: int = 100, lr: float = 0.05,
               batch: int = 64, key: jax.Array | None = None) -> np.ndarray:
    """Log-priors trained as the paper trains its pairwise potentials.

    Starting from `log_priors` (e.g. `learn_priors`' histograms), `steps` Adam steps (learning rate `lr`) on
    `marginal_nll`, the mean negative sum-product log-marginal of the ground-truth cells given the network's heat-maps
    (each edge's kernel a log-softmax of free logits, so it stays a distribution); unaries as inference makes them
    (`node_log_unaries` with cfg).

    Args:
        log_priors: float [E, kh, kw], the starting point.
        heatmaps: float [N, H, W, K], the coarse model's on training images.
        torso: [N, 2] (x, y) cells.
        targets: [N, K, 2] (x, y) cells, rounded to the nearest cell (non-finite: not scored).
        visible: bool [N, K], the joints scored.
        cfg: the spatial model's settings: its edges, unary settings and method (sum-product whatever cfg.mode).
        steps, lr: the number of Adam steps and their learning rate.
        batch: rows read per step (at most N), drawn without replacement.
        key: the PRNG key of the draws (default PRNGKey(0)).

    Returns:
        float32 [E, kh, kw] log-priors.

    Raises:
        InputError: a bad config, or arrays of other shapes.
    """
    import optax

    cfg.validate()
    hm = np.asarray(heatmaps, np.float32)
    dims = check_shape(hm, "N H W K", "spatial prior", "heatmaps")
    tgt, vis, tor = np.asarray(targets, np.float32), np.asarray(visible, bool), np.asarray(torso, np.float32)
    check_shape(tgt, "N K 2", "spatial prior", "targets", dims)
    check_shape(vis, "N K", "spatial prior", "visible", dims)
    check_shape(tor, "N 2", "spatial prior", "torso", dims)
    pri = jnp.asarray(log_priors, jnp.float32)
    check_shape(pri, "E kh kw", "spatial prior", "log_priors", {"E": len(cfg.edges)})
    n, k = dims["N"], dims["K"]
    tree_structure(cfg.edges, k + 1)
    cells = np.rint(np.nan_to_num(tgt)).astype(np.int32)
    cells = np.concatenate([cells, np.rint(tor)[:, None].astype(np.int32)], axis=1)  # torso: never scored
    mask = np.concatenate([vis & np.all(np.isfinite(tgt), -1), np.zeros((n, 1), bool)], axis=1)
    opt = optax.adam(lr)

    def normalised(logits):
        e = logits.shape[0]
        return jax.nn.log_softmax(logits.reshape(e, -1), axis=-1).reshape(logits.shape)

    @jax.jit
    def step(logits, state, rows):
        def loss(lg):
            u = node_log_unaries(jnp.asarray(hm)[rows], jnp.asarray(tor)[rows], cfg)
            return marginal_nll(normalised(lg), u, jnp.asarray(cells)[rows], jnp.asarray(mask)[rows], cfg.edges,
                                cfg.method)

        g = jax.grad(loss)(logits)
        upd, state = opt.update(g, state, logits)
        return optax.apply_updates(logits, upd), state

    logits = jnp.maximum(pri, IMPOSSIBLE_LOG)
    state = opt.init(logits)
    key = jax.random.PRNGKey(0) if key is None else key
    b = min(int(batch), n)
    for t in range(int(steps)):
        rows = jax.random.choice(jax.random.fold_in(key, t), n, (b,), replace=False)
        logits, state = step(logits, state, rows)
    return np.asarray(normalised(logits), np.float32)
