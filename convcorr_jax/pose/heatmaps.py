"""Heat-map targets and decoding.

A heat-map of stride `s` (pooling factor) has cell (row i, col j) centred on image pixel
(x, y) = (j * s + (s - 1) / 2, i * s + (s - 1) / 2): cell k covers pixels k*s .. k*s + s - 1 (pixel centres at
integers), which is where 2x2 max-pools and the stride-2 pyramid place it.
"""

from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import F32_MAX, F32_TINY, check, check_shape
from convcorr_jax.core.tracing import is_traced

_ArrayT = TypeVar("_ArrayT", jax.Array, np.ndarray)  # coordinates come back as the array type they were given
MAP_SPEC = "* H>=1 W>=1 K"  # argmax_2d / subpixel_argmax: heat-maps [..., H, W, K] of at least one cell


def _coordinates(x):
    """`x` as an array (numpy, jax, or traced as given; a nested list as numpy), an integer or bool one as float (the
    default float: c * s of uint8 cells wrapped around at 256)."""
    x = x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(float)


def image_to_map(points: _ArrayT, stride: float) -> _ArrayT:
    """Image pixels (x, y) [..., 2] -> heat-map cell coordinates [..., 2] for a map of this stride.

    Args:
      points: [..., 2] (x, y) 0-based image pixels: an array of any real dtype (integer pixels are taken as float),
        or a nested list.
      stride: the map's stride s in image pixels (its pooling factor).

    Returns:
      float [..., 2] (x, y) cell coordinates: (p - (s - 1) / 2) / s (module docstring); a jax array for a jax
      array, else numpy.
    """
    points = _coordinates(points)
    return (points - (stride - 1) / 2) / stride


def map_to_image(cells: _ArrayT, stride: float) -> _ArrayT:
    """Heat-map cell coordinates (x, y) [..., 2] -> image pixels [..., 2]; the inverse of `image_to_map`.

    Args:
      cells: [..., 2] (x, y) cell coordinates (column, row): an array of any real dtype (integer cells, uint8 ones
        too, are taken as float), or a nested list.
      stride: the map's stride s in image pixels.

    Returns:
      float [..., 2] (x, y) 0-based image pixels: c * s + (s - 1) / 2; a jax array for a jax array, else numpy.
    """
    cells = _coordinates(cells)
    return cells * stride + (stride - 1) / 2


def gaussian_targets(points: jax.Array, shape: tuple[int, int], sigma: float = 1.5) -> jax.Array:
    """2D Gaussians (peak 1, std `sigma` cells) at map coordinates points [K, 2]: returns [H, W, K].

    Points far outside the map give an all-zero map (the Gaussian's tail is cut at the border).

    Args:
      points: [K, 2] (x, y) map cell coordinates (`image_to_map`), an array or a nested list; non-finite points give
        all-zero maps.
      shape: (H, W) of the map in cells.
      sigma: the Gaussians' std in cells, finite and > 0, with 2 sigma^2 a normal float32 (1.2e-38 .. 3.4e38: sigma
        about 7.7e-20 .. 1.3e19).

    Returns:
      float32 [H, W, K] targets, exp(-d^2 / (2 sigma^2)) of each cell's distance d to the joint.

    Raises:
      InputError: a concrete sigma that is not finite and > 0 (0 gave NaN at the joint's cell, inf all ones, a
        negative sigma the Gaussian of -sigma), or whose 2 sigma^2 is not a normal float32 (1e-20 gave NaN at the
        joint's cell, 1e160 Python's OverflowError).
    """
    if not is_traced(sigma):
        try:  # 2 sigma^2 below float32's smallest normal was 0 at run time (NaN at the joint's cell, 0 / 0); above
            two_s2 = 2.0 * float(sigma) * float(sigma)  # its max, a float32 overflow (or Python's OverflowError)
            ok = bool(np.isfinite(float(sigma)) and float(sigma) > 0 and F32_TINY <= two_s2 <= F32_MAX)
        except (TypeError, ValueError):
            ok = False
        check(ok, "gaussian_targets", "sigma", "a finite std > 0 (cells) whose 2 sigma^2 is a normal float32 "
              "(sigma about 7.7e-20 .. 1.3e19)", sigma)
    h, w = shape
    points = jnp.asarray(points)
    ys = jnp.arange(h, dtype=jnp.float32)[:, None, None]
    xs = jnp.arange(w, dtype=jnp.float32)[None, :, None]
    p = jnp.where(jnp.isfinite(points), points, -1e4).astype(jnp.float32)
    d2 = (xs - p[:, 0]) ** 2 + (ys - p[:, 1]) ** 2
    return jnp.exp(-d2 / (2.0 * sigma**2))


def argmax_2d(heatmaps: jax.Array) -> jax.Array:
    """Integer arg-max (x, y) [..., K, 2] of heat-maps [..., H, W, K] (first maximum in row-major order).

    Args:
      heatmaps: [..., H, W, K] one map per joint (channels last), H, W >= 1, an array or a nested list.

    Returns:
      int [..., K, 2] (x, y) = (column, row) cell of each map's maximum; NaN cells never win, an all-NaN map gives
      (0, 0) (`subpixel_argmax` gives NaN for it).

    Raises:
      InputError: heatmaps not [..., H, W, K] with H, W >= 1.
    """
    heatmaps = jnp.asarray(heatmaps)
    check_shape(heatmaps, MAP_SPEC, "argmax_2d", "heatmaps", note="(maps of >= 1 cell, channels last)")
    h, w, k = heatmaps.shape[-3:]
    if jnp.issubdtype(heatmaps.dtype, jnp.inexact):
        heatmaps = jnp.where(jnp.isnan(heatmaps), -jnp.inf, heatmaps)
    flat = jnp.moveaxis(heatmaps.reshape(heatmaps.shape[:-3] + (h * w, k)), -1, -2)
    idx = jnp.argmax(flat, axis=-1)
    return jnp.stack([idx % w, idx // w], axis=-1)


def subpixel_argmax(heatmaps: jax.Array, select: jax.Array | None = None) -> jax.Array:
    """Arg-max (x, y) [..., K, 2] float of heatmaps [..., H, W, K], refined to sub-cell precision.

    Refinement (documented choice): a 1D parabola through the cell and its two neighbours, separately in x and y;
    the shift is clipped to +-0.5 cell, and is 0 at the border, on a flat top or where the parabola has no maximum.

    Args:
      heatmaps: [..., H, W, K] one map per joint (channels last), H, W >= 1, any real dtype (uint8 maps, float16,
        bfloat16: the parabola is fitted in float32); an array or a nested list.
      select: maps [..., H, W, K] whose arg-max cell is taken instead (e.g. the spatial model's marginals, which
        pick the person); the refinement is still on `heatmaps` around that cell. None: `heatmaps`' own arg-max.

    Returns:
      float32 [..., K, 2] (x, y) cell coordinates (to image pixels: `map_to_image`): the arg-max of the map's
      non-NaN cells, NaN for a map (of `select` when given) with none (no answer; PCK counts it a miss).

    Raises:
      InputError: heatmaps not [..., H, W, K] with H, W >= 1, or select of other H, W, K.
    """
    dims = check_shape(heatmaps, MAP_SPEC, "subpixel_argmax", "heatmaps", note="(maps of >= 1 cell, channels last)")
    if select is not None:
        check_shape(select, MAP_SPEC, "subpixel_argmax", "select", dims, note="(heatmaps' H, W and K)")
    chooser = jnp.asarray(heatmaps if select is None else select)
    am = argmax_2d(chooser)
    empty = jnp.all(jnp.isnan(chooser), axis=(-3, -2)) if jnp.issubdtype(chooser.dtype, jnp.inexact) else None
    heatmaps = jnp.asarray(heatmaps, jnp.float32)  # the fit in float32: lo - 2 c + hi of uint8 maps would wrap
    h, w, k = heatmaps.shape[-3:]
    x, y = am[..., 0], am[..., 1]
    hm = jnp.moveaxis(heatmaps, -1, -3)  # [..., K, H, W]

    def at(yy, xx):
        yy = jnp.clip(yy, 0, h - 1)
        xx = jnp.clip(xx, 0, w - 1)
        return jnp.take_along_axis(
            jnp.take_along_axis(hm, yy[..., None, None], axis=-2)[..., 0, :], xx[..., None], axis=-1
        )[..., 0]

    def shift(lo, c, hi, inside):
        den = lo - 2 * c + hi
        ok = inside & (den < -1e-12)  # a parabola with a maximum (always, but on a flat top, at an arg-max)
        s = 0.5 * (lo - hi) / jnp.where(ok, den, -1.0)
        return jnp.where(ok, jnp.clip(s, -0.5, 0.5), 0.0)

    c = at(y, x)
    dx = shift(at(y, x - 1), c, at(y, x + 1), (x > 0) & (x < w - 1))
    dy = shift(at(y - 1, x), c, at(y + 1, x), (y > 0) & (y < h - 1))
    out = am.astype(jnp.float32) + jnp.stack([dx, dy], axis=-1)
    return out if empty is None else jnp.where(empty[..., None], jnp.nan, out)
