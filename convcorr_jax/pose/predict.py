"""Predictions of a trained cascade with and without sub-cell refinement, and their map back to the image.

    preds = predict(params, images_uint8, cfg)   # {"coarse", "coarse_refined", "cascade", "cascade_raw"} [N, K, 2]

One forward pass gives four read-outs (image pixels of the network input, 0-based):
  coarse          the coarse heat-map's integer arg-max cell centre (the paper's coarse model, quantised to
                  `pool` pixels);
  coarse_refined  the same arg-max refined by the parabola fit of `heatmaps.subpixel_argmax` (not in the paper;
                  the coarse model gets the option so that the cascade is compared with a coarse model that can
                  also go below its cell size);
  cascade_raw     fine window origin + the fine heat-map's integer arg-max (the paper's "coarse location + (dx, dy)"
                  at the fine model's stride 2);
  cascade         cascade_raw with the parabola refinement (the model's default read-out, `model.apply`'s "xy").
`to_original(points, affine)` maps crop pixels back to the image the crop came from.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax import geometry
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import model as M

READOUTS = ("coarse", "coarse_refined", "cascade_raw", "cascade")


@functools.lru_cache(maxsize=8)
def make_readouts(cfg: M.ModelConfig):
    """jitted (params, images uint8 [B, S, S, 3]) -> dict of the four read-outs [B, K, 2] (pixels)."""

    def fn(params, images):
        out = M.apply(params, images.astype(jnp.float32) / 255.0, cfg)
        hm, fine, origin = out["coarse_hm"], out["fine_hm"], out["origin"].astype(jnp.float32)
        return {"coarse": out["coarse_xy"],
                "coarse_refined": hmap.map_to_image(hmap.subpixel_argmax(hm), cfg.pool),
                "cascade_raw": hmap.map_to_image(origin + hmap.argmax_2d(fine).astype(jnp.float32), 2.0),
                "cascade": out["xy"]}

    return jax.jit(fn)


def predict(params, images: np.ndarray, cfg: M.ModelConfig, batch: int = 32) -> dict[str, np.ndarray]:
    """The four read-outs [N, K, 2] for images uint8 [N, S, S, 3] (fixed batch shape, last batch padded)."""
    fn = make_readouts(cfg)
    images = np.asarray(images)
    n = len(images)
    parts: dict[str, list] = {k: [] for k in READOUTS}
    for i in range(0, n, batch):
        x = images[i:i + batch]
        m = len(x)
        if m < batch:
            x = np.concatenate([x, np.repeat(x[-1:], batch - m, 0)])
        out = fn(params, x)
        for k in READOUTS:
            parts[k].append(np.asarray(out[k])[:m])
    return {k: np.concatenate(v) if v else np.zeros((0, cfg.num_joints, 2), np.float32) for k, v in parts.items()}


def to_original(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Crop pixels [N, K, 2] -> original-image pixels [N, K, 2] (0-based) through the inverse of each crop's
    image -> crop affine [N, 2, 3]."""
    return np.asarray(geometry.transform_points(np.asarray(points, np.float64), geometry.invert_affine(affine)))
