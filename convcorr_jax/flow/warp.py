"""Dense warps from a grid flow, and keypoint transfer through a flow.

A flow lives on the source's feature grid: `grid_xy [h, w, 2]` (x, y) pixel of each node in the source image
and `flow [h, w, 2]` (dx, dy) pixels, so node p corresponds to target pixel `grid_xy[p] + flow[p]`. The grid
must be separable (x depends on the column only, y on the row only), as receptive-field centres are.

Two interpolations to a dense pixel flow: bivariate splines (scipy `RectBivariateSpline`, as Long et al.;
cubic where the grid allows, linear extrapolation is clamped to the grid's edge values) and a pure-JAX
bilinear path (jit-able, batched with vmap).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, check_shape, is_int


def _check_hw(out_hw, source: str) -> tuple[int, int]:
    """(H, W) as ints, or InputError unless out_hw is two integers >= 1 (pixels)."""
    try:
        h, w = out_hw
    except (TypeError, ValueError):
        raise InputError(source, "out_hw", "(H, W): two integers >= 1, pixels", out_hw) from None
    if not all(is_int(v, 1) for v in (h, w)):
        raise InputError(source, "out_hw", "(H, W): two integers >= 1, pixels", out_hw)
    return int(h), int(w)


def _axes(grid_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(grid_xy, np.float64)
    check_shape(g, "h w 2", "flow.warp", "grid_xy")
    return g[0, :, 0], g[:, 0, 1]


def dense_flow_spline(flow: np.ndarray, grid_xy: np.ndarray, out_hw: tuple[int, int], k: int = 3) -> np.ndarray:
    """Grid flow interpolated to every pixel by RectBivariateSpline.

    Args:
      flow: [h, w, 2] (dx, dy) pixels at the grid nodes.
      grid_xy: [h, w, 2] (x, y) pixels of the nodes (a separable grid).
      out_hw: (H, W) the output's size in pixels.
      k: the spline degree, min(k, n - 1) per axis (a grid of one row or column: linear interpolation).

    Returns:
      float32 numpy [H, W, 2] (dx, dy) pixels; pixels outside the grid's span take the nearest grid position's
      spline value.

    Raises:
      InputError: grid_xy not [h, w, 2], flow not of its shape, or out_hw not two integers >= 1.
    """
    from scipy.interpolate import RectBivariateSpline

    h, w = _check_hw(out_hw, "dense_flow_spline")
    xs, ys = _axes(grid_xy)
    flow = np.asarray(flow, np.float64)
    check_shape(flow, "h w 2", "dense_flow_spline", "flow", {"h": len(ys), "w": len(xs)}, note="(like grid_xy)")
    px = np.clip(np.arange(w, dtype=np.float64), xs[0], xs[-1])
    py = np.clip(np.arange(h, dtype=np.float64), ys[0], ys[-1])
    out = np.empty((h, w, 2), np.float32)
    for c in range(2):
        if len(xs) == 1 or len(ys) == 1:  # degenerate grid: linear interpolation along the other axis
            v = flow[..., c]
            out[..., c] = np.interp(py, ys, v[:, 0])[:, None] if len(xs) == 1 else np.interp(px, xs, v[0])[None, :]
            continue
        spl = RectBivariateSpline(ys, xs, flow[..., c], kx=min(k, len(ys) - 1), ky=min(k, len(xs) - 1))
        out[..., c] = spl(py, px)
    return out


def _dense_flow_bilinear(flow: jax.Array, grid_xy: np.ndarray, out_hw: tuple[int, int]) -> jax.Array:
    """Pure-JAX bilinear version of `dense_flow_spline`, one compiled program per (grid, out_hw) shape.

    The fractional grid position of each output row and column comes from numpy (float64, from the concrete
    grid_xy), the sampling runs under jit (`bilinear_sample_jit`); XLA's fused arithmetic matches the eager op-by-op
    result to float32 rounding (a few ulp of the largest |flow|).

    Args:
      flow: [h, w, 2] (dx, dy) pixels at the grid nodes.
      grid_xy: [h, w, 2] (x, y) pixels of the nodes (a separable grid).
      out_hw: (H, W) the output's size in pixels.

    Returns:
      float32 [H, W, 2] (dx, dy) pixels; edge values held constant outside the grid.

    Raises:
      InputError: grid_xy not [h, w, 2], flow not of its shape, or out_hw not two integers >= 1.
    """
    h, w = _check_hw(out_hw, "dense_flow_bilinear")
    xs, ys = _axes(grid_xy)
    check_shape(flow, "h w 2", "dense_flow_bilinear", "flow", {"h": len(ys), "w": len(xs)}, note="(like grid_xy)")
    fx = np.interp(np.arange(w), xs, np.arange(len(xs)))  # fractional column of each pixel
    fy = np.interp(np.arange(h), ys, np.arange(len(ys)))
    # host casts and reshapes: no program of their own
    return bilinear_sample_jit(flow, fx.astype(np.float32)[None, :], fy.astype(np.float32)[:, None])


@jax.jit
def bilinear_sample_jit(image: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """`bilinear_sample` of `image` as float32, one compiled program per shape: the sampling of the dense bilinear
    flow (x [1, W], y [H, 1]) and of a flow read at points (`correspondence.frame_transfer`: x, y [K]).

    Args:
      image: [H, W, C] (e.g. a flow on its grid), any real dtype (sampled as float32).
      x, y: fractional 0-based pixel coordinates, broadcastable against each other to [...].

    Returns:
      float32 jax array [..., C] samples, border-clamped.
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)  # float64 coordinates (jax_enable_x64) too
    return bilinear_sample(jnp.asarray(image, jnp.float32), x, y)


def bilinear_sample(image: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """image sampled at fractional pixel coords x, y, bilinear, border-clamped.

    Args:
      image: [H, W, C] (e.g. a feature map or a flow).
      x, y: fractional 0-based pixel coordinates, broadcastable against each other to [...].

    Returns:
      jax array [..., C] samples: float32 for float32 coordinates and an integer or float32 image (the image's and
      the coordinates' dtypes promoted).
    """
    h, w = image.shape[:2]
    x = jnp.clip(x, 0, w - 1)
    y = jnp.clip(y, 0, h - 1)
    x0 = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, max(w - 2, 0))
    y0 = jnp.clip(jnp.floor(y).astype(jnp.int32), 0, max(h - 2, 0))
    x1, y1 = jnp.minimum(x0 + 1, w - 1), jnp.minimum(y0 + 1, h - 1)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    x0, x1, y0, y1 = jnp.broadcast_arrays(x0, x1, y0, y1)
    top = image[y0, x0] * (1 - ax) + image[y0, x1] * ax
    bot = image[y1, x0] * (1 - ax) + image[y1, x1] * ax
    return top * (1 - ay) + bot * ay


def _array(x):
    """`x` itself if it is an array (numpy, JAX, or traced under the caller's jit), else `np.asarray(x)`: a list
    reaching a jitted function is a pytree of scalars, not an array (its shape check raised
    TracerArrayConversionError)."""
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)


def warp_image(target: npt.ArrayLike, dense_flow: npt.ArrayLike) -> jax.Array:
    """Warp target into the source frame: out[p] = target(p + flow(p)), bilinear.

    The output has the flow's (the source's) size; the target may have another: each source pixel p samples the
    target's own pixels at p + flow(p), coordinates clamped to the target's border (0..Wt-1, 0..Ht-1).

    Args:
      target: [Ht, Wt, C] image (e.g. uint8 RGB), of any size; an array or array-like (a nested list).
      dense_flow: [H, W, 2] (dx, dy) pixels on the source's pixel grid, into the target's pixels (likewise).

    Returns:
      float32 jax array [H, W, C].

    Raises:
      InputError: target not [H', W', C] with H', W' >= 1, or dense_flow not [H, W, 2] numbers.
    """
    target, dense_flow = _array(target), _array(dense_flow)
    check_shape(target, "Ht>=1 Wt>=1 C", "warp_image", "target", note="(an image with a channel axis)")
    check_shape(dense_flow, "H W 2", "warp_image", "dense_flow", dtype="int | float", note="((dx, dy) pixels)")
    return _warp_image(target, dense_flow)


@jax.jit
def _warp_image(target: jax.Array, dense_flow: jax.Array) -> jax.Array:
    """`warp_image` of checked arrays, one compiled program per shape."""
    h, w = dense_flow.shape[:2]
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    img, flow = jnp.asarray(target, jnp.float32), jnp.asarray(dense_flow, jnp.float32)  # float32 under x64 too
    return bilinear_sample(img, xx + flow[..., 0], yy + flow[..., 1])


def carry_points(points: npt.ArrayLike, dense_flow: npt.ArrayLike) -> jax.Array:
    """Carry target keypoints into the source frame through a dense flow.

    Each point goes to the source pixel whose flowed position lands nearest to it (the warped target's keypoint);
    pixels whose flow is NaN have no flowed position and are never chosen.

    Args:
      points: [..., K, 2] (x, y) pixels in the target; an array or array-like ([[x, y], ...]).
      dense_flow: [H, W, 2] (dx, dy) pixels, source -> target (likewise).

    Returns:
      float32 jax array [..., K, 2] (x, y) source pixels; NaN where there is no nearest pixel: a NaN (or infinite)
      point, or a flow NaN at every pixel.

    Raises:
      InputError: points not [..., K, 2] numbers, or dense_flow not [H, W, 2] numbers with H, W >= 1.
    """
    points, dense_flow = _array(points), _array(dense_flow)
    check_shape(points, "* 2", "carry_points", "points", dtype="int | float", note="((x, y) pixels)")
    check_shape(dense_flow, "H>=1 W>=1 2", "carry_points", "dense_flow", dtype="int | float",
                note="((dx, dy) pixels)")
    return _carry_points(points, dense_flow)


@jax.jit
def _carry_points(points: jax.Array, dense_flow: jax.Array) -> jax.Array:
    """`carry_points` of checked arrays, one compiled program per shape."""
    h, w = dense_flow.shape[:2]
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    src = jnp.stack([xx, yy], -1).reshape(-1, 2)
    dst = src + dense_flow.reshape(-1, 2)
    pts = jnp.asarray(points, jnp.float32)
    d2 = jnp.sum(jnp.square(pts[..., None, :] - dst), axis=-1)  # [..., K, H*W]
    d2 = jnp.where(jnp.isnan(d2), jnp.inf, d2)
    best = jnp.argmin(d2, axis=-1)
    found = jnp.isfinite(jnp.min(d2, axis=-1))[..., None]  # no finite distance: no pixel to go to
    return jnp.where(found & ~jnp.isnan(pts), src[best], jnp.nan)
