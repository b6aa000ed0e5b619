"""Data costs of BP flow between two feature grids: ||f_s(p) - f_t(q)||_2 for every target cell (`target_cost`) or
for the displacements of a window (`cost_volume`), and the check of the feature pair (`check_features`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import F32_MAX, F32_TINY, InputError, check
from convcorr_jax.core.tracing import is_traced


def resolve_window(window: tuple[int, int] | int | None, hw: tuple[int, int]) -> tuple[int, int]:
    """(Ry, Rx) of a `BPConfig.window` on an [H, W] grid.

    Args:
      window: (Ry, Rx) grid cells, an int for both, or None: the whole target grid.
      hw: (H, W) the grid's size.

    Returns:
      (Ry, Rx) ints; (H - 1, W - 1) for None.
    """
    h, w = hw
    if window is None:
        return h - 1, w - 1
    if isinstance(window, int):
        return window, window
    return int(window[0]), int(window[1])


def check_features(fs: jax.Array | np.ndarray, ft: jax.Array | np.ndarray, source: str = "solve_flow") -> None:
    """Raise InputError unless fs, ft are finite feature grids of equal shape fit for BP.

    Args:
      fs, ft: source and target features [H, W, C] or [N, H, W, C] with H x W >= 2 nodes and C >= 1, finite, of
        norms whose squares fit float32 (the largest of fs's plus the largest of ft's below `F32_MAX`, about 1.3e19
        each: `target_cost` adds them) and, unless all are 0, do not underflow it (the largest square of either
        grid at least `F32_TINY`, a norm of about 1.1e-19); the value checks are skipped for traced arrays.
      source: the source named in the error.

    Returns:
      None.

    Raises:
      InputError: another rank, unequal shapes or depths, fewer than 2 nodes, no channel, NaN / inf, norms whose
        squares overflow float32, or nonzero features whose squared norms all underflow it.
    """
    fs_shape, ft_shape = tuple(np.shape(fs)), tuple(np.shape(ft))
    check(len(fs_shape) in (3, 4), source, "fs", "an [H, W, C] or [N, H, W, C] array", fs_shape)
    check(fs_shape[-1] == ft_shape[-1], source, "ft", f"the depth of fs ({fs_shape[-1]})", ft_shape[-1])
    check(fs_shape == ft_shape, source, "ft", f"the shape of fs {fs_shape}", ft_shape)
    check(fs_shape[-3] * fs_shape[-2] >= 2, source, "fs", "at least 2 grid nodes (H x W)", fs_shape[-3:-1])
    check(fs_shape[-1] >= 1, source, "fs", ">= 1 channel", fs_shape[-1])
    if is_traced(fs, ft):
        return
    for name, f in (("fs", fs), ("ft", ft)):
        check(bool(np.all(np.isfinite(np.asarray(f)))), source, name, "finite values (no NaN/inf)", "non-finite")
    # the costs are sqrt(|a|^2 + |b|^2 - 2 a.b) in float32: norms ~1e30 made every cost inf (or NaN), the flow arbitrary
    sq = [float(jnp.max(jnp.sum(jnp.square(jnp.asarray(f, jnp.float32)), -1))) for f in (fs, ft)]
    check(sq[0] + sq[1] < F32_MAX, source, "fs" if sq[0] >= sq[1] else "ft",
          "feature norms whose squares sum below float32's max, 3.4e38 (about 1.3e19 each; scale the features down)",
          f"squared norms up to {sq[0]:.3g} (fs) and {sq[1]:.3g} (ft) in float32")
    # norms ~1e-25 (nonzero) had squares of 0 in float32: every cost was 0 and the flow a silent 0
    if max(sq) < F32_TINY and any(bool(np.any(np.asarray(f) != 0)) for f in (fs, ft)):
        sq64 = [float(np.max(np.sum(np.square(np.asarray(f, np.float64)), -1))) for f in (fs, ft)]
        raise InputError(source, "fs" if sq64[0] >= sq64[1] else "ft", "feature norms whose squares do not underflow "
                         f"float32 (the largest at least {F32_TINY:.3g}, a norm of about 1.1e-19; scale the features "
                         "up)", f"squared norms up to {sq64[0]:.3g} (fs) and {sq64[1]:.3g} (ft)")


def target_cost(fs: jax.Array, ft: jax.Array) -> jax.Array:
    """Data cost of every target cell: ||fs[y, x] - ft[y', x']||_2.

    Args:
      fs, ft: source and target features [H, W, C].

    Returns:
      float32 jax array [H, W, H, W]: source node (y, x) against target node (y', x').
    """
    h, w, c = fs.shape
    a = fs.reshape(h * w, c).astype(jnp.float32)
    b = ft.reshape(h * w, c).astype(jnp.float32)
    d2 = (jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :]
          - 2 * jnp.dot(a, b.T, precision=jax.lax.Precision.HIGHEST))
    return jnp.sqrt(jnp.maximum(d2, 0.0)).reshape(h, w, h, w)



def cost_volume(fs: jax.Array, ft: jax.Array, window: tuple[int, int]) -> jax.Array:
    """Data cost of a window of displacements: ||fs[y, x] - ft[y + dy, x + dx]||_2.

    Args:
      fs, ft: source and target features [H, W, C].
      window: (Ry, Rx) grid cells (`resolve_window`).

    Returns:
      float32 jax array [H, W, 2Ry+1, 2Rx+1], label (Ry + dy, Rx + dx); +inf where the target leaves the grid.
    """
    h, w = fs.shape[:2]
    ry, rx = window
    dist = target_cost(fs, ft)
    yy = np.arange(h)[:, None] + np.arange(-ry, ry + 1)[None, :]  # [H, Ly] target rows
    xx = np.arange(w)[:, None] + np.arange(-rx, rx + 1)[None, :]  # [W, Lx]
    valid = ((yy >= 0) & (yy < h))[:, None, :, None] & ((xx >= 0) & (xx < w))[None, :, None, :]
    ty = np.clip(yy, 0, h - 1)[:, None, :, None]
    tx = np.clip(xx, 0, w - 1)[None, :, None, :]
    sy = np.arange(h)[:, None, None, None]
    sx = np.arange(w)[None, :, None, None]
    vol = dist[sy, sx, ty, tx]
    return jnp.where(jnp.asarray(valid), vol, jnp.inf)
