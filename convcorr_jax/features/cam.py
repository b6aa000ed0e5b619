"""Class activation maps (CAM, Zhou et al. 2016) as a foreground prior on a node grid.

A classifier that ends in global average pooling of a spatial tap F [h_t, w_t, C] and one linear layer
(logits = mean(F) W + b, W [C, K]) has, for class k, the map CAM_k = F W[:, k] [h_t, w_t], whose mean is the
class's logit less its bias. SCOT (Liu et al. 2020) weights the marginals of its optimal transport by such a map
of a classifier's top predictions, so that foreground nodes carry the transported mass. Here:

    classes = the `top_k` largest logits of the image
    CAM_k   resampled bilinearly onto the target node grid (`hyperpixel.interpolation_matrix`), then min-max
            normalised over the nodes to [0, 1] (a constant map gives 1 everywhere)
    prior   = max over the top_k classes of the normalised maps, [h, w] in [0, 1]

`CAM_TAPS` names, per backbone, the tap that feeds the pooled classifier and its parameters; backbones without an
ImageNet classifier (VGG-16 and AlexNet here carry conv layers only) have none.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.core.errors import InputError, check, check_shape, is_int
from convcorr_jax.features.extract import extract
from convcorr_jax.features.hyperpixel import interpolation_matrix, resample

# backbone -> (the spatial tap whose global average feeds the classifier, the classifier's parameter key with
# "kernel" [C, K] and "bias" [K])
CAM_TAPS: Mapping[str, tuple[str, str]] = {"mobilenet_v2": ("conv_last", "classifier"),
                                          "efficientnet_lite2": ("conv_last", "classifier")}


@functools.partial(jax.jit, static_argnames=("top_k",))
def _class_activation_maps(feats: jax.Array, kernel: jax.Array, bias: jax.Array, wy: jax.Array, wx: jax.Array,
                          top_k: int = 2) -> tuple[jax.Array, jax.Array]:
    """The CAM foreground prior of a batch (module docstring).

    Args:
      feats: [N, h_t, w_t, C] the classifier's spatial tap.
      kernel, bias: the linear classifier, [C, K] and [K] (logits = mean over the grid of feats, times kernel, plus
        bias).
      wy, wx: interpolation matrices [h, h_t] / [w, w_t] onto the target node grid.
      top_k: the number of top-scoring classes whose maps are combined (max).

    Returns:
      (prior [N, h, w] float32 in [0, 1], classes [N, top_k] int32 in decreasing logit order).
    """
    f = feats.astype(jnp.float32)
    hi = jax.lax.Precision.HIGHEST
    logits = jnp.dot(jnp.mean(f, axis=(1, 2)), kernel, precision=hi) + bias
    classes = jax.lax.top_k(logits, top_k)[1].astype(jnp.int32)  # [N, k]
    w = jnp.take(kernel, classes, axis=1)  # [C, N, k]
    cams = jnp.einsum("nijc,cnk->nijk", f, w, precision=hi)  # [N, h_t, w_t, k]
    cams = resample(cams, wy, wx)  # [N, h, w, k]
    lo = jnp.min(cams, axis=(1, 2), keepdims=True)
    span = jnp.max(cams, axis=(1, 2), keepdims=True) - lo
    norm = jnp.where(span > 0, (cams - lo) / jnp.where(span > 0, span, 1.0), 1.0)
    return jnp.max(norm, axis=-1), classes


def cam_prior(backbone: Backbone, params: Mapping[str, Any], images: np.ndarray | Sequence[np.ndarray], grid_rf: RF,
              grid_hw: tuple[int, int], top_k: int = 2, batch_size: int = 8) -> np.ndarray:
    """The CAM foreground prior of `backbone`'s classifier on uint8 RGB images [N, S, S, 3] at the nodes of a grid.

    Args:
      backbone, params: a backbone of `CAM_TAPS` with its classifier's parameters.
      images: uint8 RGB [N, H, W, 3] (or a list of equal-size images), fed to the backbone as they are.
      grid_rf, grid_hw: the node grid (`hyperpixel.target_grid`): its receptive-field record (node centres in
        image pixels) and (h, w) nodes.
      top_k: the top-scoring classes combined (1 .. number of classes).
      batch_size: images per forward pass.

    Returns:
      float32 numpy [N, h, w] in [0, 1] (`_class_activation_maps`).

    Raises:
      InputError naming the backbone, grid_rf, grid_hw or top_k when the backbone has no pooled classifier here,
      the grid is not an `RF` with (h, w) integer node counts >= 1, or top_k is not an integer in range.
    """
    if backbone.name not in CAM_TAPS:
        raise InputError("cam_prior", "backbone", f"a backbone with a pooled ImageNet classifier {list(CAM_TAPS)}",
                         backbone.name)
    check(isinstance(grid_rf, RF), "cam_prior", "grid_rf", "a receptive-field record (hyperpixel.target_grid)",
          type(grid_rf).__name__)
    pair = isinstance(grid_hw, (tuple, list, np.ndarray)) and np.ndim(grid_hw) == 1 and len(grid_hw) == 2
    check(pair and all(is_int(v, 1) for v in grid_hw), "cam_prior", "grid_hw", "(h, w) node counts, integers >= 1",
          grid_hw)
    tap, key = CAM_TAPS[backbone.name]
    kernel, bias = jnp.asarray(params[key]["kernel"]), jnp.asarray(params[key]["bias"])
    classes = check_shape(kernel, "D K", "cam_prior", f"params[{key!r}]['kernel']")["K"]
    check(is_int(top_k, 1) and top_k <= classes, "cam_prior", "top_k", f"an integer in [1, {classes}]", top_k)
    feats = extract(backbone, params, images, (tap,), batch_size=batch_size)[tap]
    th, tw = feats.shape[1:3]
    trf = backbone.geometry[tap]
    wy = interpolation_matrix(trf, th, grid_rf, int(grid_hw[0]))  # numpy into the jitted maps: a jnp.asarray of
    wx = interpolation_matrix(trf, tw, grid_rf, int(grid_hw[1]))  # each compiled a copy program per shape
    prior, _ = _class_activation_maps(feats, kernel, bias, wy, wx, int(top_k))
    return np.asarray(prior, np.float32)
