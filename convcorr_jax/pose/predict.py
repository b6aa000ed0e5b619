"""Predictions of a trained cascade with and without sub-cell refinement, and their map back to the image: the one
prediction loop of training's evaluation and of the Tompson et al. scorers.

    preds = predict(params, images_uint8, cfg)   # {"coarse", "coarse_refined", "cascade", "cascade_raw"} [N, K, 2]
    preds = predict(params, images_uint8, cfg, mesh=parallel.make_mesh())   # sharded over every device

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
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from convcorr_jax import geometry, parallel
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import model as M

READOUTS = ("coarse", "coarse_refined", "cascade_raw", "cascade")


@functools.lru_cache(maxsize=16)
def make_readouts(cfg: M.ModelConfig, mesh: Mesh | None = None) -> Callable:
    """jitted (params, images uint8 [B, S, S, 3]) -> dict of the four read-outs [B, K, 2] (pixels); one per
    (cfg, mesh), so repeated evaluations reuse its compilations. mesh: the batch sharded over its "data" axis
    (params replicated), the read-outs replicated on every device, i.e. gathered to every process."""

    def fn(params, images):
        out = M.apply(params, images.astype(jnp.float32) / 255.0, cfg)
        hm, fine, origin = out["coarse_hm"], out["fine_hm"], out["origin"].astype(jnp.float32)
        return {"coarse": out["coarse_xy"],
                "coarse_refined": hmap.map_to_image(hmap.subpixel_argmax(hm), cfg.pool),
                "cascade_raw": hmap.map_to_image(origin + hmap.argmax_2d(fine).astype(jnp.float32), 2.0),
                "cascade": out["xy"]}

    if mesh is None:
        return jax.jit(fn)
    rep = parallel.replicated(mesh)
    return jax.jit(fn, in_shardings=(rep, parallel.batch_sharded(mesh)), out_shardings=rep)


def predict(params, images: np.ndarray, cfg: M.ModelConfig, batch: int = 32,
            mesh: Mesh | None = None) -> dict[str, np.ndarray]:
    """The four read-outs [N, K, 2] for images uint8 [N, S, S, 3] (fixed batch shape, the last batch padded by
    repeating the last image).

    mesh: sharded over all its devices (of every process): the batch is rounded up to a multiple of the device
    count, each process reads and feeds only its rows of each batch, and every process gets all predictions."""
    fn = make_readouts(cfg, mesh)
    rows = slice(0, batch)
    if mesh is not None:
        batch = -(-batch // mesh.devices.size) * mesh.devices.size
        rows = parallel.local_rows(mesh, batch)
        params = jax.device_put(params, parallel.replicated(mesh))
    n = len(images)
    parts: dict[str, list] = {k: [] for k in READOUTS}
    for i in range(0, n, batch):
        idx = np.minimum(np.arange(i, i + batch), n - 1)  # padded with the last image
        x = np.asarray(images[idx[rows]])
        if mesh is not None:
            x = parallel.shard_batch(x, mesh, batch)
        out = fn(params, x)
        m = min(batch, n - i)
        for k in READOUTS:
            parts[k].append(np.asarray(out[k])[:m])
    return {k: np.concatenate(v) if v else np.zeros((0, cfg.num_joints, 2), np.float32) for k, v in parts.items()}


def to_original(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Crop pixels [N, K, 2] -> original-image pixels [N, K, 2] (0-based) through the inverse of each crop's
    image -> crop affine [N, 2, 3]."""
    return np.asarray(geometry.transform_points(np.asarray(points, np.float64), geometry.invert_affine(affine)))
