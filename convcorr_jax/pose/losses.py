"""Heat-map regression losses E1 (coarse), E2 (fine) and E3 = E1 + lambda E2 (Tompson et al. Eqs. 1-2).

Each returns (sum, count): the squared error summed over map pixels and over the labelled joints, and the number
of labelled joints, so data-parallel code can normalise by the global count. A joint whose `mask` is False
(missing or not visible) contributes nothing; a batch without any labelled joint has loss 0 and zero gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import model


def heatmap_sse(pred: jax.Array, target: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Masked squared error of heat-maps.

    Args:
        pred, target: float [N, H, W, K] heat-maps.
        mask: bool [N, K], the joints that count.

    Returns:
        (sum of squared errors over pixels and labelled joints, number of labelled joints): two scalars in
        pred's dtype.
    """
    per_joint = jnp.sum((pred - target) ** 2, axis=(1, 2))  # [N, K]
    m = mask.astype(pred.dtype)
    return jnp.sum(per_joint * m), jnp.sum(m)


def coarse_targets(points: jax.Array, cfg: model.ModelConfig) -> jax.Array:
    """Gaussian targets [N, S, S, K] at image points [N, K, 2] (sigma in heat-map cells).

    Args:
        points: [N, K, 2] (x, y) input pixels, 0-based.
        cfg: the `model.ModelConfig` (`pool`, `map_size` S, `sigma`).

    Returns:
        float32 [N, S, S, K] Gaussians of peak 1 (`heatmaps.gaussian_targets`).
    """
    cells = hmap.image_to_map(points, cfg.pool)
    s = cfg.map_size
    return jax.vmap(lambda p: hmap.gaussian_targets(p, (s, s), cfg.sigma))(cells)


def _fine_targets(points: jax.Array, origin: jax.Array, cfg: model.ModelConfig) -> jax.Array:
    """Gaussian targets [N, w0, w0, K] in each joint's fine window: for a joint outside its window, only the
    Gaussian's tail that reaches into it (all zero when the joint lies a few sigma outside).

    Args:
        points: [N, K, 2] (x, y) input pixels, 0-based.
        origin: int [N, K, 2] level-0 window origins in stride-2 cells (`model.apply`'s "origin").
        cfg: the `model.ModelConfig` (`window` w0, `sigma`).

    Returns:
        float32 [N, w0, w0, K]: joint k's Gaussian in its own window (stride 2), channel k.
    """
    cells = model.fine_target_points(points, origin)
    w = cfg.window
    return jax.vmap(lambda p: hmap.gaussian_targets(p, (w, w), cfg.sigma))(cells)


def e1(out: dict, points: jax.Array, mask: jax.Array, cfg: model.ModelConfig) -> tuple[jax.Array, jax.Array]:
    """The paper's E1 (Sec. 3.3, Eq. 1): squared error of the coarse heat-maps against Gaussians at the joints.

    Args:
        out: `model.apply`'s outputs; reads "coarse_hm" [N, S, S, K].
        points: [N, K, 2] (x, y) input pixels, 0-based.
        mask: [N, K] bool, the joints that count.
        cfg: the `model.ModelConfig`.

    Returns:
        (sum of squared errors over the counted joints, the count), as `heatmap_sse`.
    """
    return heatmap_sse(out["coarse_hm"], coarse_targets(points, cfg), mask)


def e2(out: dict, points: jax.Array, mask: jax.Array, cfg: model.ModelConfig) -> tuple[jax.Array, jax.Array]:
    """The paper's E2 (Sec. 4.2, Eq. 2): squared error of the fine heat-maps against Gaussians in each joint's window.

    Args:
        out: `model.apply`'s outputs; reads "fine_hm" [N, w0, w0, K] and "origin" [N, K, 2].
        points: [N, K, 2] (x, y) input pixels, 0-based.
        mask: [N, K] bool, the joints that count.
        cfg: the `model.ModelConfig`.

    Returns:
        (sum of squared errors over the counted joints, the count), as `heatmap_sse`.
    """
    return heatmap_sse(out["fine_hm"], _fine_targets(points, out["origin"], cfg), mask)
