"""Receptive-field geometry: size, stride and centre of every feature column, and pixel <-> grid maps.

Coordinates are 0-based pixels with pixel centres at integers; points are `(x, y)`, grid indices `(col, row)`.
The same numbers hold for x and y (all our layers are square). The recurrences (Long et al. 2014, Table 1;
DATA_FORMATS.md 5.5), over layers with kernel k, stride s, padding p:

    size_l   = size_{l-1} + (k - 1) * stride_{l-1}
    stride_l = stride_{l-1} * s
    offset_l = offset_{l-1} + ((k - 1) / 2 - p) * stride_{l-1}

and unit i of layer l is centred at image pixel `offset_l + i * stride_l`. ReLU, LRN, batch norm, grouping and
residual additions do not change the geometry (a residual branch's receptive field contains the identity's).
With padding, edge units' receptive fields extend outside the image; their centres still follow the formula.
The point maps (`pixel_to_grid`, `nearest_column`) take and give NumPy; on traced points (inside a caller's
`jax.jit` or `jax.vmap`) they run in jax.numpy and give jax arrays. `grid_centers` needs only the grid's size.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.tracing import is_traced


@dataclasses.dataclass(frozen=True)
class Step:
    """One geometric step: a square window of `kernel` pixels, `stride`, `pad` pixels each side.

    `ceil` marks Caffe/`ceil_mode` pooling, which only changes the output size, not the geometry.
    """

    kernel: int
    stride: int = 1
    pad: int = 0
    ceil: bool = False


@dataclasses.dataclass(frozen=True)
class RF:
    """Receptive field of a tap: `size` pixels wide, `stride` pixels between columns, `offset` = 0-based pixel
    centre of unit (0, 0)."""

    size: int
    stride: int
    offset: float

    def then(self, step: Step) -> "RF":
        """The receptive field after one more layer `step`."""
        return RF(
            self.size + (step.kernel - 1) * self.stride,
            self.stride * step.stride,
            self.offset + ((step.kernel - 1) / 2 - step.pad) * self.stride,
        )


IDENTITY = RF(1, 1, 0.0)


def rf_table(layers: Sequence[tuple[str | None, Step | None]]) -> dict[str, RF]:
    """Per-tap receptive fields from a layer list of `(tap_name or None, Step or None)` in network order.

    A `None` step is a layer without geometry (ReLU, LRN, BN); a tap name records the RF after that layer.

    Args:
      layers: `(tap_name or None, Step or None)` pairs, input to output.

    Returns:
      {tap_name: RF} for every named layer, in layer order (a name given twice keeps its last RF).
    """
    rf, out = IDENTITY, {}
    for name, step in layers:
        if step is not None:
            rf = rf.then(step)
        if name is not None:
            out[name] = rf
    return out


def output_size(n: int, step: Step) -> int:
    """Output length of one layer on `n` input pixels.

    Floor mode (PyTorch/XLA), or Caffe's ceil mode (`step.ceil`), which drops the last window when it would start
    inside the right padding (`pooling_layer.cpp`).

    Args:
      n: input length in pixels (or feature columns) along one axis.
      step: the layer's kernel, stride, padding and rounding mode.

    Returns:
      int output length (0 when the padded input is shorter than the kernel).
    """
    span = n + 2 * step.pad - step.kernel
    if span < 0:
        return 0
    if not step.ceil:
        return span // step.stride + 1
    out = -(-span // step.stride) + 1
    if step.pad > 0 and (out - 1) * step.stride >= n + step.pad:
        out -= 1
    return out


def grid_size(steps: Iterable[Step], hw: tuple[int, int]) -> tuple[int, int]:
    """Feature-map size `(h, w)` after `steps` for an input of `hw` pixels.

    Args:
      steps: the layers' geometric steps, input to output (`output_size` applied to h and w for each).
      hw: input (h, w) in pixels.

    Returns:
      (h, w) of the feature map, ints.
    """
    h, w = hw
    for s in steps:
        h, w = output_size(h, s), output_size(w, s)
    return h, w


def _grid_to_pixel(rf: RF, grid: np.ndarray) -> np.ndarray:
    """Grid coordinates (col, row), integer or fractional -> pixel centres (x, y).

    Args:
      rf: the tap's receptive field (`offset + index * stride`).
      grid: [..., 2] (col, row) grid coordinates, any numeric dtype.

    Returns:
      float64 [..., 2] (x, y) 0-based pixel centres.
    """
    return rf.offset + np.asarray(grid, np.float64) * rf.stride


def pixel_to_grid(rf: RF, points: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Pixel points (x, y) -> fractional grid coordinates (col, row); inverse of `_grid_to_pixel`.

    Args:
      rf: the tap's receptive field.
      points: [..., 2] (x, y) 0-based pixel points.

    Returns:
      float64 [..., 2] fractional (col, row) grid coordinates (not clipped to any grid); a jax float array for
      traced points.
    """
    if is_traced(points):
        return (jnp.asarray(points, float) - rf.offset) / rf.stride
    return (np.asarray(points, np.float64) - rf.offset) / rf.stride


def grid_centers(rf: RF, grid_hw: tuple[int, int]) -> np.ndarray:
    """Receptive-field centres of every column of an `(h, w)` grid.

    Args:
      rf: the tap's receptive field.
      grid_hw: (h, w) of the feature map.

    Returns:
      float32 [h, w, 2] (x, y) pixel centres; entry [row, col] is column (col, row)'s centre.
    """
    h, w = grid_hw
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    return _grid_to_pixel(rf, np.stack([cols, rows], -1)).astype(np.float32)


def nearest_column(rf: RF, points: np.ndarray | jax.Array, grid_hw: tuple[int, int]) -> np.ndarray | jax.Array:
    """The column whose receptive-field centre is nearest to each point, clipped to the `(h, w)` grid.

    Ties round half to even (numpy's `rint`).

    Args:
      rf: the tap's receptive field.
      points: [..., 2] (x, y) 0-based pixel points.
      grid_hw: (h, w) of the feature map.

    Returns:
      int32 [..., 2] (col, row) with 0 <= col < w, 0 <= row < h (a jax array for traced points).
    """
    h, w = grid_hw
    xp = jnp if is_traced(points) else np
    g = xp.rint(pixel_to_grid(rf, points))
    g = xp.clip(g, 0, np.array([w - 1, h - 1]))
    return g.astype(np.int32)


def _rf_box(rf: RF, grid: np.ndarray) -> np.ndarray:
    """Receptive-field box of grid columns, inclusive pixel bounds.

    Args:
      rf: the tap's receptive field.
      grid: [..., 2] (col, row) grid coordinates.

    Returns:
      float64 [..., 4] (x0, y0, x1, y1) inclusive pixel bounds, `size` pixels wide around each column's centre (may lie
      outside the image for padded layers).
    """
    c = _grid_to_pixel(rf, grid)
    half = (rf.size - 1) / 2
    return np.concatenate([c - half, c + half], -1)

