"""Regularised Hough matching (Hyperpixel Flow, Min et al. 2019): every candidate match votes with its score for
its offset t - s in a discretised offset space, the vote map is smoothed with a Gaussian, and each match's score is
multiplied by the smoothed votes of its own bin (`rhm`; the full description: `correspondence.matching`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.correspondence.match_checks import check_image_sizes


def _hough_space(src_hw: tuple[int, int], trg_hw: tuple[int, int], ncells: int = 8192) -> tuple[int, int, float]:
    """Bins and cell side of the Hough offset space (HPF): cell = sqrt((w_s + w_t)(h_s + h_t) / ncells).

    Args:
      src_hw, trg_hw, ncells: (h, w) pixels of the source and target images; bins wanted over the offset space.

    Returns:
      (bins_y, bins_x, cell side in pixels), bins = int(extent / cell) + 1 per axis.
    """
    width = src_hw[1] + trg_hw[1]
    height = src_hw[0] + trg_hw[0]
    cell = math.sqrt(width * height / ncells)
    return int(height / cell) + 1, int(width / cell) + 1, cell


def _offset_bins(src_xy: jax.Array, trg_xy: jax.Array, src_hw: tuple[int, int], trg_hw: tuple[int, int],
                ncells: int = 8192) -> jax.Array:
    """Flat Hough bin of every match: its vote position (w_s - x_s + x_t, h_s - y_s + y_t) / cell, truncated.

    Args:
      src_xy, trg_xy: [Ns, 2], [Nt, 2] (x, y) pixels of the nodes.
      src_hw, trg_hw, ncells: as `_hough_space`.

    Returns:
      int32 [Ns, Nt], clipped to the space, row-major over (bin_y, bin_x).
    """
    ny, nx, cell = _hough_space(src_hw, trg_hw, ncells)
    ref = jnp.array([src_hw[1], src_hw[0]], jnp.float32)
    vote = (ref - src_xy.astype(jnp.float32))[:, None, :] + trg_xy.astype(jnp.float32)[None, :, :]
    b = jnp.floor(vote / cell).astype(jnp.int32)
    bx = jnp.clip(b[..., 0], 0, nx - 1)
    by = jnp.clip(b[..., 1], 0, ny - 1)
    return by * nx + bx


def _gaussian_filter(side: int = 7) -> np.ndarray:
    """Normalised 2D Gaussian, sigma = side / (2 * 2.354) (HPF's `gaussian2d`).

    Args:
      side: the width in bins (odd).

    Returns:
      float32 [side, side] summing to 1.
    """
    r = (side - 1) / 2
    sig2 = (side / 2 / 2.354) ** 2
    a = np.arange(-r, r + 1)
    g = np.exp(-(a[None, :] ** 2 + a[:, None] ** 2) / (2 * sig2))
    return (g / g.sum()).astype(np.float32)


def _hough_votes(votes: jax.Array, bins: jax.Array, shape: tuple[int, int], side: int = 7) -> jax.Array:
    """Vote map: the sum of the votes per bin, smoothed by `_gaussian_filter(side)` with zero padding.

    Args:
      votes, bins: [Ns, Nt] votes and their flat bins (`_offset_bins`).
      shape, side: (bins_y, bins_x); the filter width in bins (1: no smoothing).

    Returns:
      float32 [bins_y, bins_x].
    """
    space = jnp.zeros(shape[0] * shape[1], jnp.float32).at[bins.reshape(-1)].add(
        votes.reshape(-1).astype(jnp.float32))
    space = space.reshape(shape)
    if side > 1:
        space = jax.scipy.signal.convolve2d(space, jnp.asarray(_gaussian_filter(side)), mode="same",
                                            precision=jax.lax.Precision.HIGHEST)
    return space


@functools.partial(jax.jit, static_argnames=("src_hw", "trg_hw", "ncells", "side"))
def rhm(votes: jax.Array, src_xy: jax.Array, trg_xy: jax.Array, src_hw: tuple[int, int],
        trg_hw: tuple[int, int], ncells: int = 8192, side: int = 7) -> jax.Array:
    """Regularised Hough matching: votes times the smoothed vote total of each match's offset bin (module docstring).

    Args:
      votes, src_xy, trg_xy: [Ns, Nt] votes; node centres [Ns, 2], [Nt, 2] (x, y) pixels.
      src_hw, trg_hw, ncells, side: (h, w) image pixels, h, w >= 1; Hough bins; Gaussian width in bins (static).

    Returns:
      The confidences, a jax array [Ns, Nt]: float32 for float32 votes (float64 votes under jax_enable_x64 give
      float64).

    Raises:
      InputError: an image size that is not (h, w) with h, w >= 1 (an empty one was a ZeroDivisionError).
    """
    check_image_sizes(src_hw, trg_hw, "rhm")  # static: checked when traced, inside jit too
    ny, nx, _ = _hough_space(src_hw, trg_hw, ncells)
    bins = _offset_bins(src_xy, trg_xy, src_hw, trg_hw, ncells)
    space = _hough_votes(votes, bins, (ny, nx), side)
    return votes * space.reshape(-1)[bins]
