"""Predictions of a trained cascade with and without sub-cell refinement, and their map back to the image: the one
prediction loop of training's evaluation and of the Tompson et al. scorers.

    preds = predict_crops(params, images_uint8, cfg)  # {name: [N, K, 2]} for each name of READOUTS
    preds = predict_crops(params, images_uint8, cfg, mesh=parallel.make_mesh())   # sharded over every device
    preds = predict_crops(params, images_uint8, cfg, spatial=SpatialInputs(log_priors, torso_cells, SpatialConfig()))
    # ... the read-outs above plus those with the spatial model (SPATIAL_READOUTS): "spatial_coarse", ...

One forward pass gives five read-outs (image pixels of the network input, 0-based):
  coarse          the coarse heat-map's integer arg-max cell centre (the paper's coarse model, quantised to
                  `pool` pixels);
  coarse_refined  the same arg-max refined by the parabola fit of `heatmaps.subpixel_argmax` (not in the paper;
                  the coarse model gets the option so that the cascade is compared with a coarse model that can
                  also go below its cell size);
  cascade_raw     fine window origin + the fine heat-map's integer arg-max (the paper's "coarse location + (dx, dy)"
                  at the fine model's stride 2);
  cascade         cascade_raw with the parabola refinement (`model.apply`'s "xy", the read-out reported as the
                  paper's cascade; the sub-cell parabola is not in the paper, whose fine heat-map is read by its
                  arg-max alone);
  cascade_product the sub-cell arg-max of the fine map times the coarse map ** `model.PRODUCT_POWER` in each
                  window (`model.apply`'s "xy_product": the coarse evidence weighs the fine map's candidates).
With `spatial` (Tompson et al. 2015 Sec. 3.3: the tree MRF of `pose.spatial`, conditioned on the torso) the same
pass also gives the four read-outs of the spatially refined coarse heat-maps, in the paper's order: the coarse
heat-maps [N, S, S, K] go through `spatial.apply_spatial_model` (log-priors [E, kh, kw], each image's torso point in
heat-map cells [N, 2]) before the fine model, which then crops at the refined maps' integer arg-max:
  spatial_coarse          the refined maps' integer arg-max cell centre;
  spatial_coarse_refined  that cell refined on the coarse heat-map (`spatial.select_peaks`);
  spatial_cascade_raw     fine window origin (around spatial_coarse) + the fine heat-map's integer arg-max;
  spatial_cascade         spatial_cascade_raw with the parabola refinement;
  spatial_cascade_product the product read-out in the windows around spatial_coarse.
With `peaks=True` it also gives each read-out's confidence, [N, K]:
  peak            the coarse heat-map's value at its arg-max cell (the cell `coarse` reads), clipped to [0, 1];
  spatial_peak    the coarse heat-map's value at the spatially refined maps' arg-max cell (`spatial_coarse`'s),
                  clipped to [0, 1].
The coarse model regresses Gaussians of peak 1 at each joint (`heatmaps.gaussian_targets`), so about 1 means the
model sees the joint clearly there, about 0 that it sees none (an occluded or absent joint, or the wrong person).
`to_original(points, affine)` maps crop pixels back to the image the crop came from.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from convcorr_jax.core import geometry, parallel
from convcorr_jax.core.errors import InputError, check_finite, check_shape
from convcorr_jax.pose import flip as pose_flip
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_jax.pose.spatial.inference import check_log_priors

READOUTS = ("coarse", "coarse_refined", "cascade_raw", "cascade", "cascade_product")
SPATIAL_READOUTS = tuple(f"spatial_{k}" for k in READOUTS)
PEAKS = ("peak", "spatial_peak")  # confidences [N, K] of `predict_crops(..., peaks=True)` (module docstring)


@dataclasses.dataclass(frozen=True)
class SpatialInputs:
    """The spatial model's inputs to `predict_crops`: log_priors [E, kh, kw] over child - parent offsets in heat-map
    cells (`spatial.offset_priors` / `priors_from_pixels` on the model's heat-map grid), torso [N, 2] (x, y) in
    heat-map cells, one per image, and its settings `cfg` (the tree's nodes: the model's K joints, then the torso)."""

    log_priors: np.ndarray
    torso: np.ndarray
    cfg: spatial_mrf.SpatialConfig = spatial_mrf.SpatialConfig()


def _readouts(out: dict, pool: float, prefix: str = "") -> dict:
    hm, fine, origin = out["coarse_hm"], out["fine_hm"], out["origin"].astype(jnp.float32)
    return {prefix + "coarse": out["coarse_xy"],
            prefix + "coarse_refined": hmap.map_to_image(hmap.subpixel_argmax(hm), pool),
            prefix + "cascade_raw": hmap.map_to_image(origin + hmap.argmax_2d(fine).astype(jnp.float32), 2.0),
            prefix + "cascade": out["xy"], prefix + "cascade_product": out["xy_product"]}


def _peak_at(hm: jax.Array, select: jax.Array) -> jax.Array:
    """hm [B, H, W, K] at the arg-max cell of select [B, H, W, K] (`heatmaps.argmax_2d`'s, the cell the point
    read-outs take: NaN cells never win), clipped to [0, 1]: [B, K]."""
    b, h, w, k = hm.shape
    xy = hmap.argmax_2d(select)  # [B, K, 2]
    idx = xy[..., 1] * w + xy[..., 0]
    return jnp.clip(jnp.take_along_axis(hm.reshape(b, h * w, k), idx[:, None], axis=1)[:, 0], 0.0, 1.0)


@functools.lru_cache(maxsize=16)
def _make_readouts(cfg: pose_model.ModelConfig, mesh: Mesh | None = None,
                  spatial: spatial_mrf.SpatialConfig | None = None, peaks: bool = False,
                  flip: tuple[int, ...] | None = None) -> Callable:
    """The jitted read-out function of a model: one per (cfg, mesh, spatial, peaks, flip), so repeated evaluations
    reuse its compilations (`predict_crops` passes `spatial.inference()`: settings of the priors alone share one).

    Args:
      cfg: the model's settings.
      mesh: the batch sharded over its "data" axis (params, priors replicated), the read-outs replicated on every
        device, i.e. gathered to every process; None: one device.
      spatial: the spatial model's settings, or None: no spatial read-outs.
      peaks: also return the confidences `PEAKS` [B, K] ("spatial_peak" with a spatial config).
      flip: a joint set's left/right permutation: test-time flip (`pose.flip.apply` in place of `model.apply`);
        None: off.

    Returns:
      jitted (params, images uint8 [B, S, S, 3]) -> dict of the read-outs `READOUTS` float32 [B, K, 2] ((x, y)
      input pixels); with a spatial config (params, images, torso float32 [B, 2] cells, log_priors [E, kh, kw]) ->
      those and `SPATIAL_READOUTS` (module docstring); with peaks also "peak" (and "spatial_peak") [B, K].
    """

    def forward(params, x, centers=None):
        return (pose_model.apply(params, x, cfg, centers=centers) if flip is None
                else pose_flip.apply(params, x, cfg, flip, centers))

    def plain(params, images):
        out = forward(params, images.astype(jnp.float32) / 255.0)
        res = _readouts(out, cfg.pool)
        if peaks:
            res["peak"] = _peak_at(out["coarse_hm"], out["coarse_hm"])
        return res

    def with_spatial(params, images, torso, log_priors):
        assert spatial is not None  # chosen below only with a spatial config
        x = images.astype(jnp.float32) / 255.0
        out = forward(params, x)
        refined = spatial_mrf.apply_spatial_model(out["coarse_hm"], torso, log_priors, spatial)
        centers = pose_model.coarse_points(refined, cfg)  # the refined maps' integer arg-max cell centre (pixels)
        # the coarse network runs again inside: the same computation on the same inputs, shared by XLA's CSE
        sp = forward(params, x, centers)
        sp = {**sp, "coarse_xy": centers}
        res = {**_readouts(out, cfg.pool), **_readouts(sp, cfg.pool, "spatial_")}
        res["spatial_coarse_refined"] = hmap.map_to_image(spatial_mrf.select_peaks(out["coarse_hm"], refined), cfg.pool)
        if peaks:
            res["peak"] = _peak_at(out["coarse_hm"], out["coarse_hm"])
            res["spatial_peak"] = _peak_at(out["coarse_hm"], refined)
        return res

    fn = plain if spatial is None else with_spatial
    if mesh is None:
        return jax.jit(fn)
    rep, bat = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    shard = (rep, bat) if spatial is None else (rep, bat, bat, rep)
    return jax.jit(fn, in_shardings=shard, out_shardings=rep)


def check_batch(batch: object, source: str = "predict_crops") -> None:
    """Check a batch size: images per forward pass, an int >= 1.

    Args:
      batch: the value given.
      source: the function that received it, named in the error.

    Returns:
      None.

    Raises:
      InputError: naming `source` and "batch", for anything but an int >= 1 (a bool, a float, a str, 0, -1).
    """
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise InputError(source, "batch", "an integer >= 1 (images per forward pass)", batch)


def predict_crops(params: dict, images: np.ndarray, cfg: pose_model.ModelConfig, batch: int = 32,
                  mesh: Mesh | None = None, spatial: SpatialInputs | None = None, peaks: bool = False,
                  flip: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """The read-outs [N, K, 2] (pixels) for images uint8 [N, S, S, 3], and with `spatial` also the spatial
    read-outs (module docstring); fixed batch shape, the last batch padded by repeating the last image.

    Args:
      params: the cascade's parameters.
      images: uint8 RGB [N, S, S, 3] network inputs (S = cfg.image_size; numpy or memory-mapped, read a batch at
        a time).
      cfg: the model's settings.
      batch: images per forward pass.
      mesh: sharded over all its devices (of every process): the batch is rounded up to a multiple of the device
        count, each process reads and feeds only its rows of each batch, and every process gets all predictions.
      spatial: the spatial model's inputs: spatial.torso [N, 2] heat-map cells, one per image, log_priors
        [E, kh, kw]; `spatial.cfg.enabled` False gives the spatial read-outs equal to the plain ones.
      peaks: also the confidences [N, K] "peak" (and with `spatial` "spatial_peak").
      flip: a joint set's left/right permutation (`joints.JointSet.flip`): test-time flip (`pose.flip`).

    Returns:
      {read-out: float32 [N, K, 2] (x, y) 0-based pixels of the network input} for `READOUTS` (+
      `SPATIAL_READOUTS` with spatial), plus {"peak", "spatial_peak": float32 [N, K] in [0, 1]} with peaks.

    Raises:
      InputError: images not uint8 [N, S, S, 3], a bad batch, spatial config, torso shape, log-priors shape or tree,
        a torso coordinate that is not finite, a NaN or +inf log-prior, or a flip that is not a left/right swap of
        the K joints.
    """
    check_batch(batch)
    check_shape(images, "N S S 3", "predict_crops", "images", {"S": cfg.image_size}, dtype="uint8",
                note="(RGB network inputs, 0..255)")
    n = len(images)
    names: tuple[str, ...] = READOUTS
    if spatial is not None:
        spatial.cfg.validate()
        check_shape(spatial.torso, "N 2", "predict_crops", "spatial.torso", {"N": n},
                    note="(x, y heat-map cells, one per image)")
        # the spatial model runs inside the jitted read-outs, where it cannot check values: checked here
        check_finite(spatial.torso, np.ones(n, bool), "predict_crops", "spatial.torso", "finite (x, y) cells")
        pri = np.asarray(spatial.log_priors, np.float32)
        check_shape(pri, "E kh kw", "predict_crops", "spatial.log_priors", {"E": len(spatial.cfg.edges)})
        check_log_priors(pri, "predict_crops", "spatial.log_priors", spatial.cfg.edges)
        spatial_mrf.tree_structure(spatial.cfg.edges, cfg.num_joints + 1)
        names = READOUTS + SPATIAL_READOUTS
    if peaks:
        names = names + (PEAKS if spatial is not None else PEAKS[:1])
    flip = None if flip is None else pose_flip.check_perm(flip, cfg.num_joints)
    fn = _make_readouts(cfg, mesh, None if spatial is None else spatial.cfg.inference(), bool(peaks), flip)
    rows = slice(0, batch)
    if mesh is not None:
        batch = -(-batch // mesh.devices.size) * mesh.devices.size
        rows = parallel.local_rows(mesh, batch)
        params = jax.device_put(params, parallel.replicated(mesh))
        if spatial is not None:
            pri = jax.device_put(pri, parallel.replicated(mesh))
    parts: dict[str, list] = {k: [] for k in names}
    for i in range(0, n, batch):
        idx = np.minimum(np.arange(i, i + batch), n - 1)  # padded with the last image
        x = np.asarray(images[idx[rows]])
        if spatial is not None:
            t = np.asarray(spatial.torso, np.float32)[idx[rows]]
        if mesh is not None:
            x = parallel.shard_batch(x, mesh, batch)
            if spatial is not None:
                t = parallel.shard_batch(t, mesh, batch)
        out = fn(params, x) if spatial is None else fn(params, x, t, pri)
        m = min(batch, n - i)
        for k in names:
            parts[k].append(np.asarray(out[k])[:m])
    return {k: np.concatenate(v) if v else np.zeros((0, cfg.num_joints) + (() if k in PEAKS else (2,)), np.float32)
            for k, v in parts.items()}


@functools.lru_cache(maxsize=8)
def _coarse_fn(cfg: pose_model.ModelConfig) -> Callable:
    return jax.jit(lambda params, images: pose_model.apply_coarse(params, images.astype(jnp.float32) / 255.0, cfg)[0])


def coarse_heatmaps(params: dict, images: np.ndarray, cfg: pose_model.ModelConfig, batch: int = 32) -> np.ndarray:
    """The coarse heat-maps float32 [N, S, S, K] of images uint8 [N, S, S, 3] (fixed batch shape, the last batch
    padded by repeating the last image), e.g. the unaries `spatial.fit_priors` trains the priors on.

    Args:
      params: the cascade's parameters.
      images: uint8 RGB [N, S, S, 3] network inputs (S = cfg.image_size).
      cfg: the model's settings.
      batch: images per forward pass.

    Returns:
      float32 [N, S / pool, S / pool, K] coarse heat-maps (`model.apply_coarse`).

    Raises:
      InputError: images not uint8 [N, S, S, 3], or a batch that is not an integer >= 1.
    """
    check_batch(batch, "coarse_heatmaps")
    check_shape(images, "N S S 3", "coarse_heatmaps", "images", {"S": cfg.image_size}, dtype="uint8",
                note="(RGB network inputs, 0..255)")
    fn, n = _coarse_fn(cfg), len(images)
    parts = [np.asarray(fn(params, np.asarray(images[np.minimum(np.arange(i, i + batch), n - 1)])))[:n - i]
             for i in range(0, n, batch)]
    return np.concatenate(parts) if parts else np.zeros((0, cfg.map_size, cfg.map_size, cfg.num_joints), np.float32)


def to_original(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Crop pixels [N, K, 2] -> original-image pixels [N, K, 2] (0-based) through the inverse of each crop's
    image -> crop affine.

    Args:
      points: [N, K, 2] (x, y) crop pixels.
      affine: [N, 2, 3] each crop's image -> crop affine.

    Returns:
      float64 [N, K, 2] (x, y) 0-based pixels of the original images.
    """
    return np.asarray(geometry.transform_points(np.asarray(points, np.float64), geometry.invert_affine(affine)))
