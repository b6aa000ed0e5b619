"""Align two images of any size: work on the first resized to a longer side of at most `max_side`, return the
flow in the first image's own pixels (pixel centres at integers: x0 = (x + 0.5) / scale - 0.5).

    out = align_pair(a, b, backbone, params, "conv4")          # BP flow on a's conv4 grid (`flow.align`): out.flow
    out = dense_align_pair(a, b, backbone, params, DenseConfig())   # per-pixel flow (`flow.dense`): out.flow
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image

from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.flow.align import align_images
from convcorr_jax.flow.bp import BPConfig
from convcorr_jax.flow.dense import DenseConfig, dense_align
from convcorr_jax.flow.warp import warp_image


def work_image(a: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`a` resized so that its longer side is at most `max_side`, and the scale (<= 1) it was resized by."""
    scale = min(1.0, max_side / max(a.shape[:2]))
    if scale < 1.0:
        a = resize(a, (max(1, round(a.shape[0] * scale)), max(1, round(a.shape[1] * scale))))
    return a, scale


@dataclasses.dataclass(frozen=True)
class PairAlignment:
    """What `align_pair` and `dense_align_pair` return.

    Fields:
      flow: float32 displacements (dx, dy) in pixels of a as given: [h, w, 2] at the grid nodes (`align_pair`) or
        [H, W, 2] at every pixel of a (`dense_align_pair`: pixel p of a -> p + flow[p] in b resized to a's size).
      warped: uint8, b warped onto a (at the working size for `align_pair`, at a's size for `dense_align_pair`).
      b_resized: uint8, b resized to that same size.
      scale: the factor (<= 1) a was resized by to work on it.
      grid_xy: float32 [h, w, 2] (x, y) pixels of a of the grid nodes (`align_pair`; None for dense flow).
      energy: `Alignment.energy` (`align_pair`; None for dense flow).
      a_work: uint8 a at the working size (`align_pair`; None for dense flow).
    """

    flow: np.ndarray
    warped: np.ndarray
    b_resized: np.ndarray
    scale: float
    grid_xy: np.ndarray | None = None
    energy: dict | None = None
    a_work: np.ndarray | None = None


def align_pair(a: np.ndarray, b: np.ndarray, backbone, params: Any, features: str = "conv4", beta: float | None = None,
               window: int | None = None, iters: int = 8, levels: int = 3, max_side: int = 320) -> PairAlignment:
    """Grid BP flow from uint8 a [H, W, 3] to b (`align_images` on a's working size, beta None: BPConfig's).

    Returns:
      A `PairAlignment` with the grid flow and nodes in pixels of a as given.
    """
    a_work, scale = work_image(a, max_side)
    out = align_images(a_work, b, backbone, params, features, BPConfig.beta if beta is None else beta, window, iters,
                       levels)
    return PairAlignment(flow=(out.flow / scale).astype(np.float32), warped=out.warped, b_resized=out.b_resized,
                         scale=scale, grid_xy=((out.grid_xy + 0.5) / scale - 0.5).astype(np.float32),
                         energy=out.energy, a_work=a_work)


def dense_align_pair(a: np.ndarray, b: np.ndarray, backbone, params: Any, cfg: DenseConfig = DenseConfig(),
                     max_side: int = 320) -> PairAlignment:
    """Per-pixel flow from uint8 a [H, W, 3] to b (`dense_align` on a's working size).

    Returns:
      A `PairAlignment` with the per-pixel flow [H, W, 2] at a's size (grid_xy, energy, a_work None).
    """
    a_work, scale = work_image(a, max_side)
    flow = dense_align(a_work, resize(b, a_work.shape[:2]), backbone, params, cfg)  # pixels of the working a
    if scale < 1.0:  # back to a as given
        flow = np.stack([np.asarray(Image.fromarray(flow[..., c]).resize(a.shape[1::-1], Image.BILINEAR))
                         for c in range(2)], -1) / scale
    b_full = resize(b, a.shape[:2])
    warped = np.clip(np.asarray(warp_image(b_full, flow)), 0, 255).astype(np.uint8)
    return PairAlignment(flow=flow.astype(np.float32), warped=warped, b_resized=b_full, scale=scale)
