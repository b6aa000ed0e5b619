"""Dense flow between two feature grids by min-sum loopy belief propagation (Long et al. 2014, section 3).

Energy of a displacement field w on the source grid (4-connected, H x W nodes):

    E(w) = sum_p ||f_s(p) - f_t(p + w(p))||_2  +  beta * sum_(p,q) ||w(p) - w(q)||^2

Labels are 2D displacements (dy, dx) in grid cells, in a window |dy| <= Ry, |dx| <= Rx (default: the whole
target grid, R = size - 1); a label pointing outside the target grid has infinite cost. Displacements in the
smoothness term are measured in `pixel_scale` units per grid cell (the feature stride in pixels, so that beta
has the paper's meaning), i.e. the pairwise weight on grid labels is `beta * pixel_scale**2`.

Solver (Felzenszwalb & Huttenlocher 2006): messages are squared-Euclidean distance transforms of the sender's
belief (`distance_transform.dt1d`, exact, O(labels)), bipartite checkerboard schedule (at iteration t only
nodes with (y + x) % 2 == t % 2 send), and coarse-to-fine multigrid (level k groups 2^k x 2^k nodes that share
a label; its data cost is the block sum; fine messages start from the parent's). After every iteration the
labelling (argmin of beliefs, coarse ones copied to their blocks) is scored on the fine problem; the
lowest-energy labelling seen is returned, so the returned energy never exceeds any traced energy.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.errors import InputError, check
from convcorr_jax.flow.distance_transform import dt1d, dt1d_brute


@dataclasses.dataclass(frozen=True)
class BPConfig:
    """BP flow settings; defaults follow Long et al. (beta = 3e-3, displacements in pixels)."""

    beta: float = 3e-3
    window: tuple[int, int] | int | None = None  # (Ry, Rx) grid cells; None: whole target grid
    iters: int = 10  # BP iterations per level
    levels: int = 3  # multigrid levels (1 = plain BP)
    dt_method: str = "envelope"  # "envelope" (exact O(n)) or "brute" (O(n^2), same result)


class BPResult(NamedTuple):
    """labels [..., H, W, 2] int32 (dy, dx) grid cells; data/deformation/energy scalars (deformation includes
    the weight); trace [..., levels * iters] fine-grid energy after each iteration (coarsest level first)."""

    labels: jax.Array
    data_energy: jax.Array
    deformation_energy: jax.Array
    energy: jax.Array
    trace: jax.Array


class FlowResult(NamedTuple):
    """flow [..., H, W, 2] (dx, dy) in pixels (grid cells x pixel_scale); energies as in `BPResult`."""

    flow: jax.Array
    labels: jax.Array
    data_energy: jax.Array
    deformation_energy: jax.Array
    energy: jax.Array
    trace: jax.Array


# ----------------------------------------------------------------------------------------------- energies


def labelling_energy(cost: jax.Array, labels: jax.Array, weight: float) -> tuple[jax.Array, jax.Array]:
    """(data, deformation) energy of `labels` [H, W, 2] (indices into the last two axes of cost [H, W, Ly, Lx])."""
    h, w = cost.shape[:2]
    flat = cost.reshape(h, w, -1)
    idx = labels[..., 0] * cost.shape[3] + labels[..., 1]
    data = jnp.sum(jnp.take_along_axis(flat, idx[..., None], axis=-1))
    lab = labels.astype(cost.dtype)
    dv = jnp.sum(jnp.square(lab[1:] - lab[:-1]))
    dh = jnp.sum(jnp.square(lab[:, 1:] - lab[:, :-1]))
    return data, weight * (dv + dh)


def brute_force_minimum(cost: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
    """Exact minimum energy and labelling by enumeration, float64 (tests; tiny problems: L^(H*W) labellings)."""
    cost = np.asarray(cost, np.float64)
    h, w, ly, lx = cost.shape
    n, nl = h * w, ly * lx
    combos = np.indices((nl,) * n).reshape(n, -1).T  # [nl^n, n] flat label per node
    flat = cost.reshape(n, nl)
    e = flat[np.arange(n)[None, :], combos].sum(1)
    lab = np.stack([combos // lx, combos % lx], -1).reshape(-1, h, w, 2)
    e = e + weight * (np.square(np.diff(lab, axis=1)).sum((1, 2, 3)) + np.square(np.diff(lab, axis=2)).sum((1, 2, 3)))
    i = int(np.argmin(e))
    return float(e[i]), lab[i]


# ------------------------------------------------------------------------------------------------- solver


def _dt(h: jax.Array, weight: jax.Array, method: str) -> jax.Array:
    one = dt1d if method == "envelope" else dt1d_brute
    v = one(h, weight, axis=-1)[0]
    v = one(v, weight, axis=-2)[0]
    return v - jnp.min(v, axis=(-2, -1), keepdims=True)  # normalise (min-sum messages are defined up to a constant)


def _block_sum(cost: jax.Array, k: int) -> jax.Array:
    """Sum of cost [H, W, ...] over 2^k x 2^k blocks (zero-padded at the far edges)."""
    if k == 0:
        return cost
    s = 2**k
    h, w = cost.shape[:2]
    hc, wc = -(-h // s), -(-w // s)
    c = jnp.pad(cost, [(0, hc * s - h), (0, wc * s - w)] + [(0, 0)] * (cost.ndim - 2))
    return c.reshape(hc, s, wc, s, *cost.shape[2:]).sum(axis=(1, 3))


def _expand(x: jax.Array, k: int, hw: tuple[int, int]) -> jax.Array:
    """Copy coarse per-node values x [h, w, ...] to the 2^k-finer grid of size hw."""
    if k == 0:
        return x
    s = 2**k
    x = jnp.repeat(jnp.repeat(x, s, axis=0), s, axis=1)
    return x[: hw[0], : hw[1]]


def _argmin_label(belief: jax.Array) -> jax.Array:
    ly, lx = belief.shape[-2:]
    i = jnp.argmin(belief.reshape(*belief.shape[:-2], ly * lx), axis=-1)
    return jnp.stack([i // lx, i % lx], axis=-1).astype(jnp.int32)


def _bp_level(cost, msgs, weight, iters, parity0, method):
    """Run `iters` checkerboard iterations on one level. msgs: incoming (from up, down, left, right)."""
    h, w = cost.shape[:2]
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    par = jnp.asarray((yy + xx) % 2)[..., None, None]

    def shift(x, axis, by):  # x moved by +-1 along axis (0: rows, 1: cols), zero-filled
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 0) if by > 0 else (0, 1)
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(0, -1) if by > 0 else slice(1, None)
        return jnp.pad(x[tuple(sl)], pad)

    def step(carry, t):
        mu, md, ml, mr = carry
        belief = cost + mu + md + ml + mr
        send = (par == (t + parity0) % 2).astype(cost.dtype)  # sender mask [h, w, 1, 1]
        # messages sent down, up, right, left: DT of the belief minus what the receiver sent (one batched DT)
        h_all = jnp.stack([belief - md, belief - mu, belief - mr, belief - ml])
        msgs = _dt(h_all, weight, method)
        out = []
        for i, (old, axis, by) in enumerate(((mu, 0, 1), (md, 0, -1), (ml, 1, 1), (mr, 1, -1))):
            got = shift(send, axis, by) > 0
            out.append(jnp.where(got, shift(msgs[i], axis, by), old))
        carry = tuple(out)
        return carry, _argmin_label(cost + sum(carry))

    msgs, labels = jax.lax.scan(step, msgs, jnp.arange(iters))
    return msgs, labels  # labels [iters, h, w, 2]


@functools.partial(jax.jit, static_argnames=("iters", "levels", "method"))
def solve(cost: jax.Array, weight: float | jax.Array, iters: int = 10, levels: int = 3, method: str = "envelope") -> BPResult:
    """Min-sum loopy BP on a 4-connected grid: cost [H, W, Ly, Lx] (+inf allowed), pairwise
    `weight * ||l_p - l_q||^2` on label indices. Batch over pairs with `jax.vmap(solve, (0, None))`."""
    h, w = cost.shape[:2]
    weight = jnp.asarray(weight, cost.dtype)
    levels = max(1, min(levels, int(np.ceil(np.log2(max(h, w, 1)))) + 1))
    msgs = None
    traces, cands = [], []
    for k in reversed(range(levels)):
        ck = _block_sum(cost, k)
        if msgs is None:
            msgs = tuple(jnp.zeros_like(ck) for _ in range(4))
        else:  # children start from their parent's messages
            msgs = tuple(_expand(m, 1, ck.shape[:2]) for m in msgs)
        msgs, labels = _bp_level(ck, msgs, weight, iters, 0, method)
        fine = jax.vmap(lambda lab: _expand(lab, k, (h, w)))(labels)  # [iters, H, W, 2]
        d, s = jax.vmap(lambda lab: labelling_energy(cost, lab, weight))(fine)
        traces.append(d + s)
        cands.append(fine)
    trace = jnp.concatenate(traces)
    cands = jnp.concatenate(cands)
    best = jnp.argmin(jnp.where(jnp.isnan(trace), jnp.inf, trace))
    labels = cands[best]
    d, s = labelling_energy(cost, labels, weight)
    return BPResult(labels, d, s, d + s, trace)


# ------------------------------------------------------------------------------------------ feature flow


def _window(window, hw):
    h, w = hw
    if window is None:
        return h - 1, w - 1
    if isinstance(window, int):
        return window, window
    return int(window[0]), int(window[1])


def check_features(fs, ft, source: str = "features") -> None:
    """Raise InputError unless fs, ft are [H, W, C] (or [N, H, W, C]) grids of equal shape, H, W >= 2, finite."""
    fs_shape, ft_shape = tuple(np.shape(fs)), tuple(np.shape(ft))
    check(len(fs_shape) in (3, 4), source, "source features", "an [H, W, C] or [N, H, W, C] array", fs_shape)
    check(fs_shape[-1] == ft_shape[-1], source, "feature depth", f"equal depth for source and target ({fs_shape[-1]})", ft_shape[-1])
    check(fs_shape == ft_shape, source, "target features", f"the source's shape {fs_shape}", ft_shape)
    check(fs_shape[-3] * fs_shape[-2] >= 2, source, "grid", "at least 2 grid nodes", fs_shape[-3:-1])
    check(fs_shape[-1] >= 1, source, "feature depth", ">= 1 channel", fs_shape[-1])
    if not isinstance(fs, jax.core.Tracer) and not isinstance(ft, jax.core.Tracer):
        check(bool(np.all(np.isfinite(np.asarray(fs)))), source, "source features", "finite values (no NaN/inf)", "non-finite")
        check(bool(np.all(np.isfinite(np.asarray(ft)))), source, "target features", "finite values (no NaN/inf)", "non-finite")


def cost_volume(fs: jax.Array, ft: jax.Array, window: tuple[int, int]) -> jax.Array:
    """Data cost [H, W, 2Ry+1, 2Rx+1]: ||fs[y, x] - ft[y + dy, x + dx]||_2, +inf outside the target grid."""
    h, w, c = fs.shape
    ry, rx = window
    a = fs.reshape(h * w, c).astype(jnp.float32)
    b = ft.reshape(h * w, c).astype(jnp.float32)
    d2 = jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2 * jnp.dot(a, b.T, precision=jax.lax.Precision.HIGHEST)
    dist = jnp.sqrt(jnp.maximum(d2, 0.0)).reshape(h, w, h, w)
    yy = np.arange(h)[:, None] + np.arange(-ry, ry + 1)[None, :]  # [H, Ly] target rows
    xx = np.arange(w)[:, None] + np.arange(-rx, rx + 1)[None, :]  # [W, Lx]
    valid = ((yy >= 0) & (yy < h))[:, None, :, None] & ((xx >= 0) & (xx < w))[None, :, None, :]
    ty = np.clip(yy, 0, h - 1)[:, None, :, None]
    tx = np.clip(xx, 0, w - 1)[None, :, None, :]
    sy = np.arange(h)[:, None, None, None]
    sx = np.arange(w)[None, :, None, None]
    vol = dist[sy, sx, ty, tx]
    return jnp.where(jnp.asarray(valid), vol, jnp.inf)


@functools.partial(jax.jit, static_argnames=("config",))
def _align(fs, ft, config: BPConfig, pixel_scale):
    h, w = fs.shape[:2]
    ry, rx = _window(config.window, (h, w))
    vol = cost_volume(fs, ft, (ry, rx))
    weight = config.beta * jnp.square(pixel_scale)
    res = solve(vol, weight, config.iters, config.levels, config.dt_method)
    disp = res.labels - jnp.array([ry, rx], jnp.int32)  # (dy, dx) cells
    flow = disp[..., ::-1].astype(jnp.float32) * pixel_scale  # (dx, dy) pixels
    return FlowResult(flow, disp, res.data_energy, res.deformation_energy, res.energy, res.trace)


def align(fs: jax.Array, ft: jax.Array, config: BPConfig = BPConfig(), pixel_scale: float = 1.0) -> FlowResult:
    """Flow from source features fs [H, W, C] to target ft [H, W, C] (or batched [N, H, W, C], vmapped; one
    compile per shape). `pixel_scale`: pixels per grid cell (the feature stride)."""
    check_features(fs, ft)
    if config.dt_method not in ("envelope", "brute"):
        raise InputError("BPConfig", "dt_method", "'envelope' or 'brute'", config.dt_method)
    fs, ft = jnp.asarray(fs, jnp.float32), jnp.asarray(ft, jnp.float32)
    scale = jnp.float32(pixel_scale)
    if fs.ndim == 4:
        return jax.vmap(_align, in_axes=(0, 0, None, None))(fs, ft, config, scale)
    return _align(fs, ft, config, scale)
