"""The crop module of the pose model (`convcorr_jax.pose.model`): at each joint's coarse arg-max, a window of
`context` image pixels cut from every level's features (or the LCN pyramid's images), differentiable
(`jax.lax.dynamic_slice`), so gradients reach the coarse banks at the sampled locations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose.model_config import ModelConfig

def window_origin(centers: jax.Array, cfg: ModelConfig) -> jax.Array:
    """Level-0 window origin (stride-2 cells, int [..., 2]) for crop centres in image pixels [..., 2].

    The origin is rounded to a multiple of 2^(levels-1) cells so that every level's window starts on a whole
    cell; the centre then lies within +-2^(levels-2) cells of the window's middle.

    Args:
      centers: float [..., 2] (x, y) crop centres in image pixels, clipped to [0, image_size - 1] first.
      cfg: the model's settings (`levels`, `image_size`, `window`).

    Returns:
      int32 [..., 2] (x, y) top-left corner of the level-0 window, in cells of stride 2 (may be negative or past
      the map: `crop` pads).
    """
    q = 2 ** (cfg.levels - 1)
    c = jnp.clip(centers, 0, cfg.image_size - 1)
    ideal = hmap.image_to_map(c, 2.0) - (cfg.window - 1) / 2
    return (q * jnp.round(ideal / q)).astype(jnp.int32)


def crop(features: jax.Array, origin0: jax.Array, level: int, cfg: ModelConfig) -> jax.Array:
    """Windows [N, K, w_L, w_L, C] from features [N, h, w, C] (stride 2^(L+1)) at level-0 origins [N, K, 2].

    Features are zero-padded so no window is clamped; the slice is differentiable in `features`.

    Args:
      features: float [N, h, w, C] feature map of crop level `level` (stride 2^(level+1) image pixels).
      origin0: int32 [N, K, 2] (x, y) level-0 window origins (`window_origin`), multiples of 2^(levels-1).
      level: the crop level L (0: stride 2).
      cfg: the model's settings (`window`, `levels`).

    Returns:
      [N, K, w_L, w_L, C] windows, w_L = cfg.window // 2^L, zeros where a window leaves the map.
    """
    f = 2**level
    w = cfg.window // f
    pad = (cfg.window + 2 ** (cfg.levels - 1)) // f + 1
    x = jnp.pad(features, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    start = origin0 // f + pad  # exact: origin0 is a multiple of 2^(levels-1)

    def one(img, st):  # the channel start in st's dtype: a Python 0 is int64 under jax_enable_x64, st int32
        return jax.lax.dynamic_slice(img, (st[1], st[0], jnp.zeros_like(st[0])), (w, w, img.shape[-1]))

    return jax.vmap(lambda img, sts: jax.vmap(lambda s: one(img, s))(sts))(x, start)


def image_crops_levels(levels: list[jax.Array], origin0: jax.Array, cfg: ModelConfig) -> list[jax.Array]:
    """Standard-cascade input: windows of the LCN pyramid itself (level L at stride 2^L, side context/2^L).

    Args:
      levels: the LCN pyramid, level L float [N, image_size / 2^L, image_size / 2^L, C].
      origin0: int32 [N, K, 2] (x, y) level-0 window origins in stride-2 cells (`window_origin`).
      cfg: the model's settings (`context`, `levels`).

    Returns:
      One array per level: [N, K, context / 2^L, context / 2^L, C] image windows (zero-padded outside).
    """
    out = []
    for lv, x in enumerate(levels):
        f = 2**lv
        w = cfg.context // f
        pad = (cfg.context + 2**cfg.levels) // f + 2
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        start = origin0 * 2 // f + pad
        one = lambda img, st: jax.lax.dynamic_slice(img, (st[1], st[0], jnp.zeros_like(st[0])), (w, w, img.shape[-1]))
        out.append(jax.vmap(lambda img, sts: jax.vmap(lambda s: one(img, s))(sts))(xp, start))
    return out


def fine_inputs(feats: list[jax.Array], hm: jax.Array, origin0: jax.Array, cfg: ModelConfig) -> list[jax.Array]:
    """The fine model's windows per level [N, K, w_L, w_L, C_L] of the shared features `feats`.

    With `cfg.fine_coarse`, each joint's window of the coarsest level also holds that joint's coarse heat-map
    (resized to the level's grid, gradient stopped) as one more channel.

    Args:
      feats: the shared features per crop level, level L float [N, h_L, w_L', C_L] at stride 2^(L+1).
      hm: float [N, S, S, K] coarse heat-maps (read only with `cfg.fine_coarse`).
      origin0: int32 [N, K, 2] (x, y) level-0 window origins in stride-2 cells (`window_origin`).
      cfg: the model's settings (`window`, `levels`, `fine_coarse`).

    Returns:
      One array per level: [N, K, w_L, w_L, C_L], w_L = cfg.window // 2^L; the last level has C_L + 1 channels
      with `cfg.fine_coarse`.
    """
    crops = [crop(f, origin0, lv, cfg) for lv, f in enumerate(feats)]
    if not cfg.fine_coarse:
        return crops
    last = feats[-1]
    n, h, w = last.shape[:3]
    maps = jax.lax.stop_gradient(hm)
    if maps.shape[1:3] != (h, w):
        maps = jax.image.resize(maps, (n, h, w, maps.shape[-1]), "linear")
    own = jnp.diagonal(crop(maps, origin0, len(feats) - 1, cfg), axis1=1, axis2=4)  # [N, wL, wL, K]
    own = jnp.moveaxis(own, -1, 1)[..., None]  # [N, K, wL, wL, 1]
    return crops[:-1] + [jnp.concatenate([crops[-1], own], axis=-1)]
