"""Batched feature extraction: uint8 images -> named backbone activations as numpy arrays."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

import jax
import jax.numpy as jnp

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.preprocess import check_images, resize
from convcorr_jax.backbones.registry import MAX_SIDE_SEARCHED, check_input_side, min_input_side
from convcorr_jax.core.errors import InputError, check, check_shape
from convcorr_jax.core.parallel import pad_rows, pow2_ceil
from convcorr_jax.core.progress import bar as progress_bar


def stack_images(images: np.ndarray | Sequence[np.ndarray], source: str = "extract",
                 field: str = "images") -> np.ndarray:
    """uint8 `[N, H, W, 3]` array, or a list of equal-size uint8 `[H, W, 3]` images -> `[N, H, W, 3]`.

    Args:
      images: uint8 RGB [N, H, W, 3], or a non-empty list / tuple of uint8 RGB [H, W, 3] of one shape.
      source, field: the function that received the images and the argument they came in, for the error.

    Returns:
      uint8 [N, H, W, 3] numpy array (the array itself when one was given).

    Raises:
      InputError: an empty list, images of different shapes, or not uint8 RGB of the right rank.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError(source, field, "at least one image", 0)
        dims = None
        for i, im in enumerate(images):
            check_images(im, source, f"{field}[{i}]", rank=3)
            dims = check_shape(im, "H W 3", source, f"{field}[{i}]", dims, note=f"(as {field}[0]: resize first)")
        images = np.stack(images)
    return check_images(np.asarray(images), source, field)


def extract(backbone: Backbone, params: Mapping[str, Any], images: np.ndarray | Sequence[np.ndarray],
            taps: Sequence[str] | str, batch_size: int = 16, relu: bool = True,
            progress: bool = False) -> dict[str, np.ndarray]:
    """Run `backbone` on uint8 RGB images and return `{tap: np.ndarray}`.

    Images are preprocessed in the backbone's convention (no resizing). Batches have a fixed size (the last one is
    padded), so the forward pass compiles once per image shape and batch size; a call with fewer images than
    batch_size runs them as one batch padded up to a power of two (at most batch_size: `parallel.pow2_ceil`), so
    any image count compiles one of at most log2(batch_size) + 2 batch shapes.

    Args:
      backbone, params: the feature network and its parameters.
      images: uint8 RGB [N, H, W, 3] (or a list of equal-size [H, W, 3], `stack_images`).
      taps: a tap name or tap names of the backbone (one named twice is returned once).
      batch_size: images per forward pass (>= 1; capped at N).
      relu: post-activation (True) or pre-activation (False) values for taps followed by a ReLU.
      progress: draw a progress bar over the batches (command lines pass it; the library never draws one on its
        own).

    Returns:
      {tap: float32 numpy array}: spatial taps [N, h, w, C], vector taps [N, D].

    Raises:
      InputError: bad images (`stack_images`), no images, no taps, images smaller than the smallest input of a tap
        (`registry.min_input_side`), or batch_size < 1.
    """
    taps = (taps,) if isinstance(taps, str) else tuple(dict.fromkeys(taps))  # a tap named twice is computed once
    check(len(taps) >= 1, "extract", "taps", "at least one tap name", "none")
    x = stack_images(images, "extract")
    n = len(x)
    if n == 0:
        raise InputError("extract", "images", "at least one image", "an empty batch [0, H, W, 3]")
    _check_input_sides(backbone, taps, x.shape[1:3], "extract")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError("extract", "batch_size", "a positive integer", batch_size)
    bs = min(batch_size, pow2_ceil(n))
    n_batches = -(-n // bs)
    chunks: dict[str, list[np.ndarray]] = {t: [] for t in taps}
    for b in progress_bar(range(n_batches), desc=f"{backbone.name} features", disable=not progress or n_batches < 2,
                          unit="batch"):
        batch = x[b * bs : (b + 1) * bs]
        batch, real = pad_rows(batch, bs)
        out = backbone.apply(params, backbone.preprocess(batch), taps=taps, relu=relu)
        for t in taps:
            chunks[t].append(np.asarray(out[t])[:real])
    result = {t: np.concatenate(v) for t, v in chunks.items()}
    return result


def _check_input_sides(backbone: Backbone, taps: Sequence[str], hw: tuple[int, int], source: str) -> None:
    """InputError naming `source`'s images when an `hw` input is smaller than the smallest input of one of `taps`
    (`registry.check_input_side`: a map of no column, or a layer with nothing to read). Taps the backbone lacks are
    left to its own check; a backbone without spatial taps is not checked, nor a tap no side up to
    `registry.MAX_SIDE_SEARCHED` gives a map (its sizes unknown: a user's apply function registered with a weight
    file alone).

    Args:
      backbone: the feature network.
      taps: tap names of the backbone.
      hw: (h, w) of the input images in pixels.
      source: the function that received the images, for the error.

    Returns:
      None.
    """
    if not backbone.spatial_taps:
        return
    for t in taps:
        if t in backbone.taps and min_input_side(backbone, t) < MAX_SIDE_SEARCHED:
            check_input_side(backbone, t, min(int(hw[0]), int(hw[1])), source, "images")


_RUNS_AT: dict[tuple, bool] = {}


def input_size_for(backbone: Backbone, params: Mapping[str, Any], tap: str, hw: tuple[int, int]) -> tuple[int, int]:
    """`hw` if `tap` can be computed on images of that size, else the backbone's `default_input_size`
    (AlexNet's fc6/fc7 need the 227 / 224 px input their flattened pool5 was trained on; a vector tap on images
    smaller than its smallest input). Shape check only.

    The answer is memoised per backbone, tap, size and parameter shapes.

    Args:
      backbone, params: the feature network and its parameters (only their shapes are used).
      tap: a tap name of the backbone.
      hw: (h, w) input size in pixels.

    Returns:
      (h, w) ints: the input size to compute `tap` at.

    Raises:
      InputError: a spatial tap (a map, never resized) on images smaller than its smallest input
        (`_check_input_sides`).
    """
    hw = (int(hw[0]), int(hw[1]))
    if tap in backbone.geometry:
        _check_input_sides(backbone, (tap,), hw, "extract_fitted")
    elif backbone.spatial_taps and tap in backbone.taps and min(hw) < min_input_side(backbone, tap) < MAX_SIDE_SEARCHED:
        return backbone.default_input_size
    abstract = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), params)
    key = (backbone.name, tap, hw, str(jax.tree_util.tree_structure(abstract)),
           tuple(a.shape for a in jax.tree_util.tree_leaves(abstract)))
    if key not in _RUNS_AT:
        try:
            jax.eval_shape(lambda p, x: backbone.apply(p, x, taps=(tap,)), abstract,
                           jax.ShapeDtypeStruct((1, *hw, 3), jnp.float32))
            _RUNS_AT[key] = True
        except (TypeError, ValueError):  # a flattening layer (Caffe fc6/fc7) fixed to another input size
            _RUNS_AT[key] = False
    return hw if _RUNS_AT[key] else backbone.default_input_size


def extract_fitted(backbone: Backbone, params: Mapping[str, Any], images: np.ndarray | Sequence[np.ndarray],
                   taps: Sequence[str] | str, batch_size: int = 16, relu: bool = True,
                   progress: bool = False) -> dict[str, np.ndarray]:
    """`extract`, with each tap that needs a fixed input size (`input_size_for`) computed on the images resized
    to it; the other taps on the images as they are (one forward pass per input size).

    Args:
      backbone, params, images, taps, batch_size, relu, progress: as `extract`.

    Returns:
      {tap: float32 numpy array} in the order of taps: spatial taps [N, h, w, C] (h, w of the input size the tap ran
      at), vector taps [N, D].

    Raises:
      InputError: as `extract` (no taps included).
    """
    taps = (taps,) if isinstance(taps, str) else tuple(dict.fromkeys(taps))
    check(len(taps) >= 1, "extract_fitted", "taps", "at least one tap name", "none")
    x = stack_images(images, "extract_fitted")
    by_size: dict[tuple[int, int], list[str]] = {}
    for t in taps:
        by_size.setdefault(input_size_for(backbone, params, t, x.shape[1:3]), []).append(t)
    out: dict[str, np.ndarray] = {}
    for hw, ts in by_size.items():
        xs = x if hw == x.shape[1:3] else np.stack([resize(im, hw) for im in x])
        out.update(extract(backbone, params, xs, ts, batch_size, relu, progress))
    return {t: out[t] for t in taps}
