"""One level of dense flow below the top (`dense.dense_flows`): its static geometry (`Level`), the data cost of each
node's window of labels around the flow of the level above (`_window_cost`), and the sub-pixel refinement of the
labels BP chose in it (`_subpixel`: each node's data cost replaced by its parabola, `_parabolas`, then Jacobi sweeps
on the level's energy).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.flow import bp_messages
from convcorr_jax.flow.warp import bilinear_sample


class Level(NamedTuple):
    """Static geometry of one level below the top, per axis (x, y) in pixels of a: node centres xs, ys (= the
    centres of the feature map's cells, map cell i sits at offset + i * stride), their step `stride` (= the label
    step). whole: labels move by whole map cells (pixel levels; target read without interpolation)."""

    xs: tuple
    ys: tuple
    stride: tuple
    offset: tuple
    whole: bool


def _window_cost(fa: jax.Array, fb: jax.Array, init: jax.Array, lv: Level, r: int
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(data cost [h, w, 2r+1, 2r+1], base flow [h, w, 2], inside bool [h, w, 2r+1, 2r+1]): cost of label
    (dy, dx) = d + r is ||fa[p] - fb(centre_p + base_p + d * step)||_2 (one label = one map cell). On whole levels
    the base is init rounded to whole cells and fb is read without interpolation; elsewhere base = init and fb is
    sampled bilinearly. Labels whose target falls outside b's map (inside False) cost the node's mean in-map cost
    (the smoothness term decides)."""
    xs, ys = jnp.asarray(lv.xs, jnp.float32), jnp.asarray(lv.ys, jnp.float32)
    step = jnp.asarray(lv.stride, jnp.float32)
    base = jnp.round(init / step) * step if lv.whole else init
    bx = (xs[None, :] + base[..., 0] - lv.offset[0]) / lv.stride[0]
    by = (ys[:, None] + base[..., 1] - lv.offset[1]) / lv.stride[1]
    d = np.arange(-r, r + 1, dtype=np.float32)
    offs = jnp.asarray(np.stack(np.meshgrid(d, d, indexing="ij"), -1).reshape(-1, 2))  # (dy, dx) map cells

    hb, wb = fb.shape[:2]
    whole = lv.whole
    if whole:
        bx, by = jnp.round(bx).astype(jnp.int32), jnp.round(by).astype(jnp.int32)

    def one(fa_row, bx_row, by_row, o):
        if whole:
            x, y = bx_row + o[1].astype(jnp.int32), by_row + o[0].astype(jnp.int32)
            t = fb[jnp.clip(y, 0, hb - 1), jnp.clip(x, 0, wb - 1)]
            inside = (x >= 0) & (x < wb) & (y >= 0) & (y < hb)
        else:
            x, y = bx_row + o[1], by_row + o[0]
            t = bilinear_sample(fb, x, y)
            inside = (x >= -0.5) & (x <= wb - 0.5) & (y >= -0.5) & (y <= hb - 0.5)
        return jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(fa_row - t), -1), 0.0)), inside

    def row(args):  # one source row at a time, all labels (its features stay in cache; timing: bench/RESULTS_flow.md)
        fa_row, bx_row, by_row = args
        return jax.vmap(functools.partial(one, fa_row, bx_row, by_row))(offs)

    cost, inside = jax.lax.map(row, (fa, bx, jnp.broadcast_to(by, bx.shape)))  # [h, (2r+1)^2, w]
    n = jnp.sum(inside, 1, keepdims=True)
    mean = jnp.where(n > 0, jnp.sum(jnp.where(inside, cost, 0.0), 1, keepdims=True) / jnp.maximum(n, 1), 0.0)
    cost = jnp.where(inside, cost, mean)
    window = lambda v: jnp.moveaxis(v, 1, -1).reshape(*init.shape[:2], 2 * r + 1, 2 * r + 1)  # noqa: E731
    return window(cost), base, window(inside)


def _parabolas(cost: jax.Array, lab: jax.Array, inside: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Per node and axis, the parabola through the data cost [h, w, Ly, Lx] at the chosen label lab [h, w, 2]
    (dy, dx) and its two neighbours along the axis: (curvature a, slope b) [h, w, 2], so cost(lab + t) ~ cost(lab)
    + b t + a t^2 / 2; both 0 at the window's edge, where a neighbour's target is off b's map (inside [h, w, Ly, Lx]
    False: its cost is a stand-in, not a measurement) or where the three costs are not convex."""
    ly, lx = cost.shape[-2:]

    def at(values, dy, dx):
        iy, ix = jnp.clip(lab[..., 0] + dy, 0, ly - 1), jnp.clip(lab[..., 1] + dx, 0, lx - 1)
        flat = values.reshape(*values.shape[:2], -1)
        return jnp.take_along_axis(flat, (iy * lx + ix)[..., None], -1)[..., 0]

    c0, curv, slope = at(cost, 0, 0), [], []
    for axis, n in ((0, ly), (1, lx)):
        d = (1, 0) if axis == 0 else (0, 1)
        cm, cp = at(cost, -d[0], -d[1]), at(cost, d[0], d[1])
        ok = (lab[..., axis] > 0) & (lab[..., axis] < n - 1) & (cm - 2 * c0 + cp > 1e-6)
        if inside is not None:
            ok &= at(inside, -d[0], -d[1]) & at(inside, d[0], d[1])
        curv.append(jnp.where(ok, cm - 2 * c0 + cp, 0.0))
        slope.append(jnp.where(ok, 0.5 * (cp - cm), 0.0))
    return jnp.stack(curv, -1), jnp.stack(slope, -1)


def _subpixel(cost: jax.Array, lab: jax.Array, flow: jax.Array, weight: float, iters: int,
              truncation: float | None = None, edge_scale: jax.Array | None = None,
              inside: jax.Array | None = None) -> jax.Array:
    """Sub-label offsets t [h, w, 2] (dy, dx), within +-0.5, added to the BP labels lab [h, w, 2] of the data
    cost [h, w, Ly, Lx]. Each node's data cost along each axis is replaced by its parabola (`_parabolas`).
    iters = 0: each parabola's vertex alone (0 where flat). iters > 0: the level's energy with that data term
    and the exact pairwise term weight * ||f_p + t_p - f_q - t_q||^2 (flow f [h, w, 2] in labels: the labels'
    flow, label + the node's origin) is minimised by `iters` clipped Jacobi sweeps from t = 0. truncation
    (labels): pairs whose labels' flows differ by more sit on the flat part of the truncated quadratic and are
    left out of the sweeps. edge_scale [h, w, 2]: per-edge factors of the pairwise term (`bp_solver.solve`).
    inside [h, w, Ly, Lx]: labels whose target is on b's map (`_window_cost`); a parabola needing one that is not
    is dropped (None: every label's cost is measured)."""
    a, b = _parabolas(cost, lab, inside)
    if iters == 0:
        return jnp.where(a > 0, jnp.clip(-b / jnp.where(a > 0, a, 1.0), -0.5, 0.5), 0.0)
    h, w = flow.shape[:2]
    y, x = np.arange(h)[:, None, None], np.arange(w)[None, :, None]
    edges = [jnp.asarray(e, flow.dtype) for e in (y < h - 1, y > 0, x < w - 1, x > 0)]  # neighbour below, above, ...
    if edge_scale is not None:
        edges = [e * f[..., None] for e, f in zip(edges, bp_messages.edge_factors(edge_scale))]
    if truncation is not None:
        t2 = jnp.square(jnp.asarray(truncation, flow.dtype))
        edges = [e * (jnp.sum(jnp.square(d), -1, keepdims=True) < t2)
                 for e, d in zip(edges, bp_messages.neighbour_differences(flow))]
    count = sum(edges)  # neighbours in the quadratic [h, w, 1]

    def sweep(_, t):  # d/dt_p: b + a t_p + 2 weight sum_q (f_p + t_p - f_q - t_q) = 0
        diffs = bp_messages.neighbour_differences(flow + t)
        pull = sum(e * d for e, d in zip(edges, diffs)) + count * t  # sum_q (f_q + t_q) - n f_p
        return jnp.clip((2 * weight * pull - b) / jnp.maximum(a + 2 * weight * count, 1e-12), -0.5, 0.5)

    return jax.lax.fori_loop(0, iters, sweep, jnp.zeros_like(flow))
