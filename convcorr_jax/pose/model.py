"""Tompson et al. 2015: coarse multi-resolution heat-map ConvNet, crop module, Siamese fine model, cascade.

The network's settings live in `pose.model_config`, its fixed preprocessing in `pose.input_pyramid`, its Flax
modules in `pose.networks` and the crop module in `pose.crop_module`; this module wires the cascade (`init`,
`apply`) and gathers their public names.

Functional API (Flax Linen inside):
  params = init(key, cfg)                                   # {"coarse": ..., "fine": ...}
  out = apply(params, images, cfg, drop_mask=None)         # dict of heat-maps and (x, y) predictions
Images are float32 [N, H, W, 3] in [0, 1] (NHWC). Points are image pixels (x, y), 0-based, centres at integers.

Architecture (Sections 3.1, 4.1):
  * input: RGB Gaussian pyramid of `levels` levels (stride-2 binomial blur), each level local-contrast-normalised
    with the same kernel;
  * one bank per level: conv-relu-pool, conv-relu-pool, conv-relu (+ extra pools), conv-relu; the output of bank L
    (stride pool * 2^L) is upsampled to the level-0 output grid and the banks are added;
  * SpatialDropout (whole feature maps, one Bernoulli draw per sample and channel) before the first 1x1 conv,
    then 1x1-relu-1x1 to one heat-map per joint (stride `pool` = 4, 8 or 16);
  * crop module: at each joint's coarse arg-max, a window of `context` image pixels is cut from the output of
    the second conv layer of every bank (stride 2 of its level, so level L's window has context / 2^(L+1) cells:
    constant context). The paper crops the feature maps of both of the first two layers; the first layer's
    (the level's full resolution, before the first pool) is not cropped here, so the fine model's finest
    cell is 2 input pixels (eval/tompson2015/README.md, "Differences from the paper");
    `jax.lax.dynamic_slice` is differentiable, so gradients reach the coarse banks at the sampled locations;
  * fine model: a Siamese network shared by all joints (per bank conv3x3-relu, conv3x3-relu, upsample to the
    level-0 window and add, conv3x3-relu, conv1x1-relu: 4 layers), then an unshared 1x1 conv per joint gives a
    fine heat-map per joint at stride 2;
  * prediction: the window's position plus the fine arg-max, refined to sub-cell precision (parabola fit, see
    `heatmaps.subpixel_argmax`). This equals "coarse location + (dx, dy) offset" of the paper, with the offset
    measured from the window origin.
Generic-feature coarse model (`trunk="mobilenet_v2"`, beyond the paper): the pyramid and banks are replaced by a
pretrained MobileNetV2 trunk (torchvision ImageNet weights, `weights.load.load_pretrained`; inference-mode batch
norm whose running statistics never train) on the ImageNet-normalised RGB image. Its block13 output (stride 16) is
upsampled to the stride-8 grid and concatenated with block6 (stride 8), then conv3x3-relu (`trunk_head` wide),
SpatialDropout and the same 1x1-relu-1x1 read-out give the coarse heat-maps; the fine model crops the shared
trunk features block1, block3 and block6 (strides 2, 4, 8: the three levels of the crop module). The trunk's
parameters are `params["trunk"]` (stem..block13); which of them train is a training setting (`pose.training.loop`).
Variant "standard" (Fig. 13): the fine model sees image crops (of the LCN pyramid) instead of shared features and
has its own copy of the first two conv layers per bank, which makes its trainable parameter count match the
shared model's fine path (which also trains those layers).
"""

from __future__ import annotations

import functools
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones import mobilenet_v2 as mnv2
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose.crop_module import crop, fine_inputs, image_crops_levels, window_origin
from convcorr_jax.pose.input_pyramid import lcn, preprocess, pyramid
from convcorr_jax.pose.model_config import (PRODUCT_POWER, TRUNK_DEEP_TAP, TRUNK_FINE_TAPS, TRUNK_LAYERS, TRUNKS,
                                            ModelConfig, full_model)
from convcorr_jax.pose.networks import Bank, Coarse, Fine, FirstTwo, TrunkHead, trunk_features
from convcorr_jax.weights.load import load_pretrained

__all__ = ["PRODUCT_POWER", "TRUNKS", "TRUNK_DEEP_TAP", "TRUNK_FINE_TAPS", "TRUNK_LAYERS", "Bank", "Coarse", "Fine",
           "FirstTwo", "ModelConfig", "TrunkHead", "apply", "apply_coarse", "coarse_in_windows", "coarse_points",
           "crop", "dropout_masks", "fine_inputs", "fine_target_points", "full_model", "image_crops_levels", "init",
           "lcn", "param_shapes", "preprocess", "pyramid", "trunk_features", "window_origin"]


def init(key: jax.Array, cfg: ModelConfig) -> dict:
    """Parameters {"coarse": ..., "fine": ...} for `cfg` (deterministic in `key`); with a trunk also "trunk":
    MobileNetV2's stem..block13, ImageNet weights (`trunk_weights="imagenet"`) or, with "random", kernels drawn as
    below and identity batch norm.

    Shapes come from tracing the Flax modules (no compilation); values are drawn on the host: kernels from a
    normal of std 1/sqrt(fan_in) truncated at 2 std (LeCun normal), biases zero, except the heat-map output
    layers (coarse fc2, fine joint_w): normal of std `cfg.out_init_std`. Host drawing avoids compiling the
    random-number kernels of a Flax `init`, which dominates start-up time on CPU.

    Args:
      key: a PRNG key (typed or raw uint32 [2]); seeds the host draws.
      cfg: the model's settings.

    Returns:
      The parameter tree {"coarse": ..., "fine": ...} (+ "trunk"), its leaves of the shapes and dtypes of
      `param_shapes(cfg)`.
    """
    shapes = param_shapes(cfg)
    pretrained = bool(cfg.trunk) and cfg.trunk_weights == "imagenet"
    seed = np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key).ravel()
    rng = np.random.default_rng([int(v) for v in seed])

    def draw(path, sd):
        name = str(getattr(path[-1], "key", path[-1]))
        if name in ("scale", "var"):  # trunk batch norm (random trunk): identity
            return jnp.ones(sd.shape, sd.dtype)
        if name in ("bias", "joint_b", "mean"):
            return jnp.zeros(sd.shape, sd.dtype)
        if name == "joint_w" or (name == "kernel" and str(getattr(path[-2], "key", "")) == "fc2"):
            return jnp.asarray(rng.standard_normal(sd.shape) * cfg.out_init_std, sd.dtype)
        fan_in = int(np.prod(sd.shape[:-1]))
        w = rng.standard_normal(sd.shape)
        w = np.where(np.abs(w) > 2, rng.standard_normal(sd.shape), w)
        w = np.clip(w, -2, 2) / 0.8796 / np.sqrt(fan_in)
        return jnp.asarray(w, sd.dtype)

    # a pretrained trunk is not drawn ("trunk" sorts last, so the other groups' draws are the same either way)
    params = jax.tree_util.tree_map_with_path(draw, {k: v for k, v in shapes.items()
                                                      if not (pretrained and k == "trunk")})
    if pretrained:
        weights = load_pretrained(cfg.trunk, progress=False)[1]
        params["trunk"] = {k: jax.tree_util.tree_map(jnp.asarray, weights[k]) for k in TRUNK_LAYERS}
    return params


def param_shapes(cfg: ModelConfig) -> dict:
    """Shapes and dtypes (`jax.ShapeDtypeStruct`) of the tree `init` returns for `cfg`.

    Traced without computing and without reading any weights.

    Args:
      cfg: the model's settings (validated: InputError naming a bad field).

    Returns:
      {"coarse", "fine"} (+ "trunk" with a trunk) of `jax.ShapeDtypeStruct` leaves.
    """
    return jax.eval_shape(_init_jit, jax.random.PRNGKey(0), cfg.validate())


def _trunk_shapes() -> dict:
    """Shapes of the trunk's parameters (stem..block13 of MobileNetV2) as zero arrays (traced, never filled).

    Returns:
      {"stem", "block1".."block13"}: trees of float32 zero arrays of MobileNetV2's parameter shapes.
    """
    shapes = mnv2.param_shapes()
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s, jnp.float32), {k: shapes[k] for k in TRUNK_LAYERS},
                                  is_leaf=lambda s: isinstance(s, tuple))


@functools.partial(jax.jit, static_argnums=1)
def _init_jit(key: jax.Array, cfg: ModelConfig) -> dict:
    kc, kf = jax.random.split(key)
    x = jnp.zeros((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
    levels = preprocess(x, cfg)
    if cfg.trunk:
        trunk = _trunk_shapes()
        t = trunk_features(trunk, levels[0])
        pc = TrunkHead(cfg).init(kc, t["block6"], t[TRUNK_DEEP_TAP])["params"]
        feats = [t[k] for k in TRUNK_FINE_TAPS]
        hm = jnp.zeros((1, cfg.map_size, cfg.map_size, cfg.num_joints), jnp.float32)
        pf = Fine(cfg).init(kf, fine_inputs(feats, hm, jnp.zeros((1, cfg.num_joints, 2), jnp.int32), cfg))["params"]
        return {"coarse": pc, "fine": pf, "trunk": trunk}
    pc = Coarse(cfg).init(kc, levels)["params"]
    # flax types apply's result as output | (output, mutated state); without `mutable` it is the output
    hm, feats = cast(tuple[jax.Array, list[jax.Array]], Coarse(cfg).apply({"params": pc}, levels))
    o = jnp.zeros((1, cfg.num_joints, 2), jnp.int32)
    crops = image_crops_levels(levels, o, cfg) if cfg.variant == "standard" else fine_inputs(feats, hm, o, cfg)
    pf = Fine(cfg).init(kf, crops)["params"]
    return {"coarse": pc, "fine": pf}


def dropout_masks(keys: jax.Array, cfg: ModelConfig) -> jax.Array | None:
    """Per-sample SpatialDropout masks [N, 1, 1, C] (inverted scaling) from per-sample keys [N].

    Args:
      keys: [N] PRNG keys, one per sample.
      cfg: the model's settings (`spatial_dropout` p, `drop_channels` C).

    Returns:
      float32 [N, 1, 1, C]: 0 (dropped channel) or 1 / (1 - p); None when p <= 0 (dropout off).
    """
    p = cfg.spatial_dropout
    if p <= 0:
        return None
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1 - p, (1, 1, cfg.drop_channels)))(keys)
    return keep.astype(jnp.float32) / (1 - p)


def apply_coarse(params: dict, images: jax.Array, cfg: ModelConfig, drop_mask: jax.Array | None = None
                 ) -> tuple[jax.Array, list[jax.Array], list[jax.Array]]:
    """Coarse heat-maps [N, S, S, K] (S = image_size / pool), the features the fine model crops and the input.

    Args:
      params: the cascade's parameters (`init`).
      images: float32 [N, image_size, image_size, 3] RGB in [0, 1].
      cfg: the model's settings.
      drop_mask: SpatialDropout masks [N, 1, 1, C] (`dropout_masks`), or None: no dropout.

    Returns:
      (hm float32 [N, S, S, K], the features per crop level (level L at stride 2^(L+1)), the preprocessed input
      levels (`preprocess`)).
    """
    levels = preprocess(images, cfg)
    if cfg.trunk:
        t = trunk_features(params["trunk"], levels[0])
        hm = cast(jax.Array, TrunkHead(cfg).apply({"params": params["coarse"]}, t["block6"], t[TRUNK_DEEP_TAP],
                                                  drop_mask))  # no `mutable`: the output alone
        return hm, [t[k] for k in TRUNK_FINE_TAPS], levels
    hm, feats = cast(tuple[jax.Array, list[jax.Array]],  # no `mutable`: the output alone
                     Coarse(cfg).apply({"params": params["coarse"]}, levels, drop_mask))
    return hm, feats, levels


def coarse_points(hm: jax.Array, cfg: ModelConfig) -> jax.Array:
    """Coarse prediction: integer arg-max cell centre in image pixels [N, K, 2] (quantised, as in the paper).

    Args:
      hm: [N, S, S, K] coarse heat-maps.
      cfg: the model's settings (`pool`, the maps' stride).

    Returns:
      float32 [N, K, 2] (x, y) image pixels of each map's arg-max cell centre.
    """
    return hmap.map_to_image(hmap.argmax_2d(hm).astype(jnp.float32), cfg.pool)


def apply(params: dict, images: jax.Array, cfg: ModelConfig, drop_mask: jax.Array | None = None,
          centers: jax.Array | None = None) -> dict:
    """Full cascade.

    Args:
      params: the cascade's parameters (`init`).
      images: float32 [N, image_size, image_size, 3] RGB in [0, 1].
      cfg: the model's settings.
      drop_mask: SpatialDropout masks [N, 1, 1, C] (`dropout_masks`), or None: no dropout.
      centers: crop centres in pixels [N, K, 2]; default the coarse arg-max (the paper's inference and training).

    Returns:
      {"coarse_hm" [N,S,S,K], "fine_hm" [N,w0,w0,K], "origin" int [N,K,2] (level-0 window origin, stride-2
      cells), "coarse_xy" [N,K,2], "xy" [N,K,2] (cascade prediction, pixels), "xy_product" [N,K,2] (the sub-cell
      arg-max of the fine map times the coarse map ** `PRODUCT_POWER` in each window, both clipped at 0: the coarse
      evidence weighs the fine map's candidates; "xy" where that product is 0 all over the window)}; points are
      float32 (x, y) image pixels.
    """
    hm, feats, levels = apply_coarse(params, images, cfg, drop_mask)
    cxy = coarse_points(hm, cfg)
    c = jax.lax.stop_gradient(cxy if centers is None else centers)
    origin = window_origin(c, cfg)
    if cfg.variant == "standard":
        crops = image_crops_levels(levels, origin, cfg)
    else:
        crops = fine_inputs(feats, hm, origin, cfg)
    fine = cast(jax.Array, Fine(cfg).apply({"params": params["fine"]}, crops))  # no `mutable`: the output alone
    local = hmap.subpixel_argmax(fine)  # [N, K, 2] cells in the window
    xy = hmap.map_to_image(origin.astype(jnp.float32) + local, 2.0)
    prior = jnp.maximum(coarse_in_windows(hm, origin, cfg), 0.0) ** PRODUCT_POWER
    weighted = jnp.maximum(fine, 0.0) * prior
    product = hmap.map_to_image(origin.astype(jnp.float32) + hmap.subpixel_argmax(weighted), 2.0)
    evidence = jnp.max(weighted, axis=(1, 2)) > 0  # [N, K]: an all-zero window has no arg-max (its first cell)
    return {"coarse_hm": hm, "fine_hm": fine, "origin": origin, "coarse_xy": cxy, "xy": xy,
            "xy_product": jnp.where(evidence[..., None], product, xy)}


def coarse_in_windows(hm: jax.Array, origin0: jax.Array, cfg: ModelConfig) -> jax.Array:
    """The coarse heat-maps sampled bilinearly (edge-clamped) at the image position of every fine cell of each
    joint's own window.

    Args:
      hm: [N, S, S, K] coarse heat-maps.
      origin0: int [N, K, 2] (x, y) level-0 window origins in stride-2 cells.
      cfg: the model's settings (`window` w0, `pool`).

    Returns:
      float32 [N, w0, w0, K]: channel k is joint k's coarse map over joint k's window.
    """
    u = jnp.arange(cfg.window, dtype=jnp.float32)
    s = hm.shape[1]

    def one(m, o):  # m [S, S] one joint's map, o [2] its window origin -> [w0, w0]
        cx = hmap.image_to_map(hmap.map_to_image(o[0] + u, 2.0), cfg.pool)
        cy = hmap.image_to_map(hmap.map_to_image(o[1] + u, 2.0), cfg.pool)
        yy, xx = jnp.meshgrid(jnp.clip(cy, 0, s - 1), jnp.clip(cx, 0, s - 1), indexing="ij")
        return jax.scipy.ndimage.map_coordinates(m, [yy, xx], order=1)

    per = jax.vmap(jax.vmap(one, in_axes=(-1, 0), out_axes=-1), in_axes=(0, 0))
    return per(hm, origin0.astype(jnp.float32))


def fine_target_points(points: jax.Array, origin: jax.Array) -> jax.Array:
    """Ground-truth pixels [N, K, 2] -> coordinates in the fine window (stride-2 cells from the origin).

    Args:
      points: float [N, K, 2] (x, y) input pixels, 0-based.
      origin: int [N, K, 2] (x, y) level-0 window origins in stride-2 cells.

    Returns:
      float32 [N, K, 2] (x, y) cells of each joint's own window.
    """
    return hmap.image_to_map(points, 2.0) - origin.astype(jnp.float32)


def _count_params(tree) -> int:
    """The number of scalars in a parameter tree.

    Args:
      tree: a pytree of arrays (or anything with `.shape`, e.g. `param_shapes`' leaves).

    Returns:
      int, the sum of the leaves' sizes.
    """
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))
