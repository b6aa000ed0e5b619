"""Hyperpixels: several backbone taps resampled onto one grid, L2-normalised per tap and concatenated.

Min et al. 2019 (Hyperpixel Flow) and Liu et al. 2020 (SCOT) match "hyperpixels", the concatenation of the
activations of a few layers up-sampled to the grid of the shallowest one. Here every tap `t` is read at the
receptive-field centres of one target grid by bilinear interpolation in the tap's own grid coordinates

    g = (c - offset_t) / stride_t        (c: target-grid centre in image pixels, `backbones.receptive_field`)

with coordinates beyond the outermost columns clamped to the edge columns (so a column keeps its image position,
whatever the strides and offsets of the taps are), then L2-normalised per column (one unit vector per tap and
node), multiplied by an optional per-tap weight and concatenated along channels in the order of the taps.

The resampling is separable: one [h, h_t] and one [w, w_t] interpolation matrix per tap, built from the static
geometry (`interpolation_matrix`) and applied by `resample` (jit-compiled, any batch size). The target grid is
the grid of a tap (its receptive fields) or a plain stride grid (`_stride_rf`: nodes at (s - 1) / 2 + i * s).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.receptive_field import RF, grid_centers, pixel_to_grid
from convcorr_jax.core.errors import InputError, check, check_shape, is_int
from convcorr_jax.core.knn import l2_normalize
from convcorr_jax.features.extract import extract, stack_images

NORM_EPS = 1e-6  # columns with a smaller L2 norm are divided by this instead (all-zero columns stay zero)


def resolve_taps(backbone: Backbone, taps: Sequence[str] | str, field: str = "taps") -> tuple[str, ...]:
    """Tap names of `backbone` for `taps`, each a raw spatial tap name or an AlexNet role (conv1..conv5, pool5)
    mapped through `backbone.roles`.

    Args:
      backbone: the feature network.
      taps: a tap name or role, or several.
      field: the setting they came in, named in the error ("taps", "extra_taps", ...).

    Returns:
      tuple of spatial tap names, in the order given.

    Raises:
      InputError: no taps, or unknown, non-spatial or repeated taps.
    """
    taps = (taps,) if isinstance(taps, str) else tuple(taps)
    check(len(taps) >= 1, backbone.name, field, "at least one tap", taps)
    out = []
    for t in taps:
        name = t if t in backbone.geometry else backbone.roles.get(t, t)
        if name not in backbone.geometry:
            raise InputError(backbone.name, field, f"spatial taps {list(backbone.spatial_taps)} or roles "
                             f"{sorted(r for r, v in backbone.roles.items() if v in backbone.geometry)}", t)
        out.append(name)
    check(len(set(out)) == len(out), backbone.name, field, "distinct taps", tuple(out))
    return tuple(out)


def _stride_rf(stride: int) -> RF:
    """Receptive-field record of a plain grid of `stride`-pixel cells.

    Args:
      stride: cell side in pixels, an integer >= 1.

    Returns:
      RF(size=stride, stride=stride, offset=(stride - 1) / 2): node i at pixel (stride - 1) / 2 + i * stride (the
      centre of the i-th cell).

    Raises:
      InputError: stride not an integer >= 1.
    """
    check(isinstance(stride, (int, np.integer)) and stride >= 1, "hyperpixel", "stride", "an integer >= 1", stride)
    return RF(int(stride), int(stride), (int(stride) - 1) / 2)


def target_grid(backbone: Backbone, taps: Sequence[str], image_hw: tuple[int, int],
                grid: str | int | None = None) -> tuple[RF, tuple[int, int]]:
    """(RF, (h, w)) of the hyperpixel grid on images of `image_hw` pixels.

    Args:
      backbone: the feature network.
      taps: the hyperpixel's taps or roles (the first gives the default grid).
      image_hw: (H, W) image size in pixels.
      grid: None (the grid of the first of `taps`), a tap name or role (that tap's grid) or an integer stride in
        pixels (`_stride_rf`, image_hw // stride nodes).

    Returns:
      (RF of the grid's nodes, (h, w) node counts).

    Raises:
      InputError: unknown taps, a bad stride, or a grid with no node on these images.
    """
    image_hw = (int(image_hw[0]), int(image_hw[1]))
    if grid is None:
        grid = resolve_taps(backbone, taps)[0]
    if is_int(grid):
        rf = _stride_rf(int(grid))
        hw = (image_hw[0] // rf.stride, image_hw[1] // rf.stride)
    elif isinstance(grid, str):
        tap = resolve_taps(backbone, (grid,), "grid")[0]
        gh, gw = backbone.grid_size(tap, image_hw)
        rf, hw = backbone.geometry[tap], (gh, gw)
    else:
        raise InputError(backbone.name, "grid", "an integer stride in pixels, a tap name or a role", grid)
    check(hw[0] >= 1 and hw[1] >= 1, "hyperpixel", "grid", f"at least one node on {image_hw} px images", hw)
    return rf, hw


def interpolation_matrix(src_rf: RF, src_n: int, dst_rf: RF, dst_n: int) -> np.ndarray:
    """Bilinear weights along one axis from a source grid to a destination grid.

    Row i reads the source grid at the fractional coordinate of destination node i's centre,
    (dst_offset + i * dst_stride - src_offset) / src_stride, clamped to [0, src_n - 1].

    Args:
      src_rf, src_n: the source grid's receptive field and its node count along the axis.
      dst_rf, dst_n: the same for the destination grid.

    Returns:
      float32 numpy [dst_n, src_n]; each row has at most two non-zero weights summing to 1.

    Raises:
      InputError: a grid with no node, or a node count that is not an integer.
    """
    check(is_int(src_n, 1) and is_int(dst_n, 1), "interpolation_matrix", "sizes", "an integer >= 1 node count per grid",
          (src_n, dst_n))
    centres = dst_rf.offset + np.arange(dst_n, dtype=np.float64) * dst_rf.stride
    g = np.clip(pixel_to_grid(src_rf, centres), 0, src_n - 1)
    i0 = np.minimum(np.floor(g).astype(np.int64), src_n - 1)
    i1 = np.minimum(i0 + 1, src_n - 1)
    f = g - i0
    m = np.zeros((dst_n, src_n), np.float64)
    rows = np.arange(dst_n)
    np.add.at(m, (rows, i0), 1 - f)
    np.add.at(m, (rows, i1), f)
    return m.astype(np.float32)


@jax.jit
def resample(x: jax.Array, wy: jax.Array, wx: jax.Array) -> jax.Array:
    """Separable bilinear resampling of grids x [N, h_t, w_t, C] onto a target grid.

    Args:
      x: [N, h_t, w_t, C] grids (cast to float32).
      wy: [h, h_t] row weights (`interpolation_matrix`).
      wx: [w, w_t] column weights.

    Returns:
      float32 jax array [N, h, w, C].
    """
    hi = jax.lax.Precision.HIGHEST
    y = jnp.einsum("yi,nijc->nyjc", wy, x.astype(jnp.float32), precision=hi)
    return jnp.einsum("xj,nyjc->nyxc", wx, y, precision=hi)


def l2_normalise(x: jax.Array | np.ndarray, eps: float = NORM_EPS) -> jax.Array:
    """x [..., C] divided by max(||x||_2, eps) along the last axis: `core.knn.l2_normalize` with the floor
    `NORM_EPS` (1e-6, not its 1e-12; `regression.l2_normalise` is a numpy one for rows [N, D]).

    Args:
      x: [..., C] columns (jax or numpy).
      eps: floor on the norm (`NORM_EPS`: all-zero columns stay zero).

    Returns:
      jax array [..., C] in x's dtype (`knn.l2_normalize`: a zero column's gradient is finite, not NaN).
    """
    return l2_normalize(x, eps)


@functools.partial(jax.jit, static_argnames=("normalise",))
def combine(grids: tuple, wys: tuple, wxs: tuple, weights: jax.Array, normalise: bool = True
            ) -> tuple[jax.Array, jax.Array]:
    """Hyperpixels from per-tap grids.

    Args:
      grids: tuple of T grids [N, h_t, w_t, C_t].
      wys, wxs: their interpolation matrices [h, h_t] / [w, w_t].
      weights: [T] per-tap factors.
      normalise: L2-normalise each tap's resampled columns.

    Returns:
      jax arrays (features float32 [N, h, w, sum C_t]: each tap resampled, L2-normalised per column when
      `normalise`, times its weight, concatenated in tap order; norms float32 [N, h, w, T]: the L2 norm of each
      resampled tap's column before normalising).
    """
    parts, norms = [], []
    for t, (x, wy, wx) in enumerate(zip(grids, wys, wxs)):
        r = resample(x, wy, wx)
        n = jnp.sqrt(jnp.sum(jnp.square(r), -1))
        norms.append(n)
        if normalise:
            r = r / jnp.maximum(n, NORM_EPS)[..., None]
        parts.append(r * weights[t])
    return jnp.concatenate(parts, -1), jnp.stack(norms, -1)


def hyperpixel_taps(backbone: Backbone, params: Mapping[str, Any], images: np.ndarray | Sequence[np.ndarray],
                    taps: Sequence[str] | str, grid: str | int | None = None, normalise: bool = True,
                    batch_size: int = 4, relu: bool = True
                    ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Each tap of `taps` resampled onto one hyperpixel grid, kept apart (the parts `_hyperpixel_features`
    concatenates; any subset of taps can be concatenated later without running the backbone again).

    Args:
      backbone, params: the feature network and its parameters.
      images: uint8 RGB [N, H, W, 3] (or a list of equal-size [H, W, 3]).
      taps, grid, normalise, batch_size, relu: as `_hyperpixel_features`.

    Returns:
      numpy (parts {tap name: [N, h, w, C_t] float32} in tap order, centres [h, w, 2] float32 (x, y) image pixels
      of the grid nodes, norms {tap name: [N, h, w] float32} each column's L2 norm before normalising).

    Raises:
      InputError: bad images or taps, an empty grid (`resolve_taps`, `target_grid`), or batch_size not an integer
        >= 1.
    """
    check(is_int(batch_size, 1), "hyperpixel_taps", "batch_size", "an integer >= 1", batch_size)
    x = stack_images(images, "hyperpixel_taps")
    names = resolve_taps(backbone, taps)
    image_hw = tuple(x.shape[1:3])
    rf, hw = target_grid(backbone, names, image_hw, grid)
    mats = {}  # numpy into the jitted `combine`: a jnp.asarray of each compiled a copy program per shape
    for t in names:
        th, tw = backbone.grid_size(t, image_hw)
        trf = backbone.geometry[t]
        mats[t] = (interpolation_matrix(trf, th, rf, hw[0]), interpolation_matrix(trf, tw, rf, hw[1]))
    one = np.ones(1, np.float32)
    parts: dict = {t: [] for t in names}
    norms: dict = {t: [] for t in names}
    for s in range(0, len(x), batch_size):
        acts = extract(backbone, params, x[s:s + batch_size], names, batch_size=batch_size, relu=relu,
                       progress=False)
        for t in names:
            f, n = combine((acts[t],), (mats[t][0],), (mats[t][1],), one, normalise)
            parts[t].append(np.asarray(f))
            norms[t].append(np.asarray(n)[..., 0])
    return ({t: np.concatenate(v) for t, v in parts.items()}, grid_centers(rf, hw),
            {t: np.concatenate(v) for t, v in norms.items()})


def _hyperpixel_features(backbone: Backbone, params, images, taps: Sequence[str] | str,
                        grid: str | int | None = None, weights: Sequence[float] | None = None,
                        normalise: bool = True, batch_size: int = 4, relu: bool = True,
                        with_norms: bool = False):
    """Hyperpixel features of uint8 RGB images [N, H, W, 3] (or a list of equal-size [H, W, 3]).

    Args:
      backbone, params: the feature network and its parameters.
      images: uint8 RGB [N, H, W, 3] (or a list of equal-size [H, W, 3]).
      taps: tap names or roles (`resolve_taps`), in concatenation order.
      grid: see `target_grid`.
      weights: one finite factor per tap (default 1).
      normalise: L2-normalise each tap's columns (else raw activations).
      batch_size: the backbone runs `batch_size` images at a time and only the hyperpixels are kept.
      relu: post-activation (True) or pre-activation (False) values (`extract`).
      with_norms: also return each tap's column norms.

    Returns:
      (features [N, h, w, C] float32 (C = sum of the taps' channels), centres [h, w, 2] float32 (x, y) image pixels
      of the grid nodes); with `with_norms` also norms [N, h, w, T] float32, each tap's column norm before
      normalising.

    Raises:
      InputError: bad images, taps or grid, or weights not T finite factors.
    """
    names = resolve_taps(backbone, taps)
    w = np.ones(len(names), np.float32) if weights is None else np.asarray(weights, np.float32)
    check_shape(w, [len(names)], backbone.name, "weights", note="(per-tap factors)")
    check(bool(np.all(np.isfinite(w))), backbone.name, "weights", "finite per-tap factors", w)
    parts, centres, norms = hyperpixel_taps(backbone, params, images, names, grid, normalise, batch_size, relu)
    feats = np.concatenate([parts[t] * w[i] for i, t in enumerate(names)], -1).astype(np.float32)
    out = (feats, centres)
    return out + (np.stack([norms[t] for t in names], -1),) if with_norms else out
