"""The pose model's fixed preprocessing (`convcorr_jax.pose.model`): an RGB Gaussian pyramid (stride-2 binomial
blur), each level local-contrast-normalised with the same kernel; ImageNet normalisation for a trunk.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones.preprocess import TORCH_MEAN_RGB, TORCH_STD_RGB
from convcorr_jax.core.errors import check_shape
from convcorr_jax.pose.model_config import ModelConfig

def _separable(x: jax.Array, mh: np.ndarray, mw: np.ndarray) -> jax.Array:
    """Per-channel separable linear filter as two matrix products: x [N, H, W, C] -> [N, h, w, C] with
    out[n, i, j, c] = sum_{y, x'} mh[i, y] x[n, y, x', c] mw[j, x']. A banded matrix is a zero-padded convolution
    (with a stride if it has fewer rows than columns), used in place of a depthwise convolution, which XLA:CPU
    runs slowly (timings: bench/RESULTS_pose.md)."""
    return jnp.einsum("iy,nyxc,jx->nijc", jnp.asarray(mh, x.dtype), x, jnp.asarray(mw, x.dtype))


def _band(m: int, taps: np.ndarray, stride: int = 1, offset: int = 0, edge: bool = False) -> np.ndarray:
    """[ceil(m / stride), m] matrix of the 1-D filter `taps`: row i holds taps[t] at column
    stride * i + t - offset. Columns outside 0..m-1 are dropped (zero padding) or, with `edge`, moved to the
    nearest edge (edge-replicated borders)."""
    rows = np.arange(0, m, stride)
    out = np.zeros((len(rows), m))
    for t, v in enumerate(taps):
        cols = rows + t - offset
        keep = np.full(len(rows), True) if edge else (cols >= 0) & (cols < m)
        np.add.at(out, (np.arange(len(rows))[keep], np.clip(cols, 0, m - 1)[keep]), v)
    return out


def pyramid(images: jax.Array, levels: int) -> list[jax.Array]:
    """Gaussian pyramid [N, H/2^L, W/2^L, 3]: binomial [1,3,3,1]/8 blur, stride 2, edge-replicated borders.

    Level-L pixel k is centred on level-0 pixel 2^L k + (2^L - 1)/2.

    Args:
      images: float [N, H, W, C] (NHWC; the model passes RGB, C = 3).
      levels: the number of levels (>= 1).

    Returns:
      `levels` arrays, level L [N, ceil(H / 2^L), ceil(W / 2^L), C] in images' dtype; level 0 is `images`.
    """
    b = np.array([1.0, 3.0, 3.0, 1.0]) / 8.0
    out = [images]
    for _ in range(levels - 1):
        h, w = out[-1].shape[1:3]
        out.append(_separable(out[-1], _band(h, b, 2, 1, edge=True), _band(w, b, 2, 1, edge=True)))
    return out


def lcn(x: jax.Array, sigma: float = 2.0) -> jax.Array:
    """Local contrast normalisation per channel.

    Subtracts the Gaussian-weighted local mean, divides by max(local std, its image mean, 1e-4). Border weights
    are renormalised.

    Args:
      x: float [N, H, W, C].
      sigma: the Gaussian's std in pixels (taps out to ceil(2 sigma)).

    Returns:
      [N, H, W, C] in x's dtype, normalised.
    """
    r = int(math.ceil(2 * sigma))
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2))
    g = g / g.sum()
    h, w = x.shape[1:3]
    bh, bw = _band(h, g, offset=r), _band(w, g, offset=r)
    # border renormaliser: the kernel mass inside the image (fixed, computed on the host)
    norm = jnp.asarray(np.outer(bh.sum(1), bw.sum(1))[None, :, :, None], x.dtype)
    mean = _separable(x, bh, bw) / norm
    v = x - mean
    std = jnp.sqrt(_separable(v * v, bh, bw) / norm + 1e-8)
    floor = jnp.mean(std, axis=(1, 2), keepdims=True)
    return v / jnp.maximum(std, jnp.maximum(floor, 1e-4))


def preprocess(images: jax.Array, cfg: ModelConfig) -> list[jax.Array]:
    """Images [N, H, W, 3] in [0, 1] -> list of LCN'd pyramid levels; with a trunk, [the ImageNet-normalised
    image] (torchvision's mean and std).

    Args:
      images: [N, S, S, 3] RGB in [0, 1] (cast to float32), S = cfg.image_size.
      cfg: the model's settings (`image_size`, `levels`, `lcn_sigma`, `trunk`).

    Returns:
      float32 arrays: cfg.levels of them, level L [N, S / 2^L, S / 2^L, 3] (`pyramid`, then `lcn`); with a trunk
      one, [N, S, S, 3].

    Raises:
      InputError: images not float [N, S, S, 3] (uint8 images, read as if in [0, 1], would saturate a trunk's
        normalised input: images / 255 first).
    """
    check_shape(images, "N S S 3", "preprocess", "images", {"S": cfg.image_size}, dtype="float",
                note="(RGB in [0, 1]: uint8 images / 255)")
    x = images.astype(jnp.float32)
    if cfg.trunk:
        return [(x - jnp.asarray(TORCH_MEAN_RGB)) / jnp.asarray(TORCH_STD_RGB)]
    return [lcn(v, cfg.lcn_sigma) for v in pyramid(x, cfg.levels)]
