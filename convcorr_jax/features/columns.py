"""Feature columns at image points and k x k neighbourhood concatenation.

`columns_at_points` picks, for each point, the column of a feature grid whose receptive-field centre is nearest
to it (Long et al. section 4); `neighbourhood_concat` stacks every column with its k x k neighbours (section 5:
3 x 3 conv5 cells -> 2304-d for AlexNet). Grids are NHWC or HWC; points are (x, y) pixels, 0-based.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.receptive_field import RF, nearest_column
from convcorr_jax.core.errors import check, check_shape
from convcorr_jax.core.tracing import is_traced
from convcorr_jax.features.extract import extract


def columns_at_points(grid: np.ndarray | jax.Array, rf: RF, points: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Feature columns nearest to points.

    Args:
      grid: [H, W, C] (one image) or [N, H, W, C].
      rf: the grid's receptive field.
      points: [K, 2] (x, y) for one image, or [N, K, 2] (N as grid's).
    Returns: [K, C] or [N, K, C] in grid's dtype; points beyond the grid take the nearest edge column. Numpy; a
      jax array when grid or points are traced (inside a caller's jit / vmap / grad, where non-finite points are not
      refused).
    Raises:
      InputError: grid or points of another shape (points of [N, ...] grids one row per grid), or non-finite points.
    """
    traced = is_traced(grid, points)
    grid = jnp.asarray(grid) if traced else np.asarray(grid)
    points = jnp.asarray(points, float) if traced else np.asarray(points, np.float64)
    dims = check_shape(grid, "H W C | N H W C", "columns_at_points", "grid")
    check_shape(points, "K 2" if grid.ndim == 3 else "N K 2", "columns_at_points", "points", dims,
                note="(one row of points per grid)")
    if not traced:
        check(bool(np.all(np.isfinite(points))), "columns_at_points", "points",
              "finite coordinates (drop unlabelled points first)")
    h, w = grid.shape[-3:-1]
    cr = nearest_column(rf, points, (h, w))
    if grid.ndim == 3:
        return grid[cr[..., 1], cr[..., 0]]
    n = np.arange(grid.shape[0])[:, None]
    return grid[n, cr[..., 1], cr[..., 0]]


def neighbourhood_concat(grid: jax.Array | np.ndarray, size: int = 3) -> jax.Array:
    """Concatenate each column with its size x size neighbours, zero-padded at the borders.

    Channel blocks are ordered row-major over offsets (dy, dx) from (-r, -r) to (r, r), r = size // 2; the centre
    column is block size*size // 2.

    Args:
      grid: [..., H, W, C] feature grid (numpy or jax).
      size: neighbourhood side in columns, odd (>= 1).
    Returns:
      jax array [..., H, W, size * size * C], grid's dtype (float64 becomes float32 unless jax_enable_x64).
    Raises:
      InputError: size not an odd integer >= 1 (a float such as 3.0 included).
    """
    check(isinstance(size, (int, np.integer)) and size >= 1 and size % 2 == 1, "neighbourhood_concat", "size",
          "an odd integer >= 1", size)
    x = jnp.asarray(grid)
    r = size // 2
    pad = [(0, 0)] * (x.ndim - 3) + [(r, r), (r, r), (0, 0)]
    xp = jnp.pad(x, pad)
    h, w = x.shape[-3], x.shape[-2]
    parts = [xp[..., dy:dy + h, dx:dx + w, :] for dy in range(size) for dx in range(size)]
    return jnp.concatenate(parts, axis=-1)


def extract_grids(backbone: Backbone, params: Mapping[str, Any], images: Iterable[np.ndarray], taps: Sequence[str],
                  batch_size: int = 16) -> dict[str, list[np.ndarray]]:
    """Activations of `taps` for images of any sizes: a list of uint8 [H, W, 3] -> {tap: [per-image array]}.

    Images are grouped by shape (one compiled function per shape) and run through
    `convcorr_jax.features.extract.extract`; the result keeps the input order.

    Args:
      backbone, params: the feature network and its parameters.
      images: uint8 RGB [H, W, 3] images, sizes may differ.
      taps: tap names of the backbone.
      batch_size: images per forward pass.
    Returns:
      {tap: list of N float32 numpy arrays}, one per image in input order: [h, w, C] for spatial taps, [D] for
      vector taps.
    Raises:
      InputError: an image that is not uint8 RGB [H, W, 3].
    """
    images = [np.asarray(im) for im in images]
    for i, im in enumerate(images):
        check_shape(im, "H W 3", "extract_grids", f"images[{i}]", dtype="uint8", note="(RGB)")
    out: dict[str, list] = {t: [None] * len(images) for t in taps}
    groups: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.shape, []).append(i)
    for idx in groups.values():
        feats = extract(backbone, params, np.stack([images[i] for i in idx]), tuple(taps), batch_size=batch_size)
        for t in taps:
            for j, i in enumerate(idx):
                out[t][i] = np.asarray(feats[t][j])
    return out


def feature_scale(x: np.ndarray, target: float) -> float:
    """Factor making the mean column L2 norm of x [..., C] equal to `target` (1 for all-zero features).

    Args:
      x: [..., C] feature columns.
      target: the wanted mean column norm.
    Returns:
      A float: target / mean ||x[..., :]||_2, or 1.0 when that mean is 0.
    """
    m = float(np.mean(np.linalg.norm(np.asarray(x), axis=-1)))
    return target / m if m > 0 else 1.0
