"""Network inputs from whole images, and named activations of one image located in its own pixels.

    image = read_image("a.jpg", "image")                  # uint8 [H, W, 3]; a folder or a non-image file: InputError
    x, tf = _input_image(backbone, image, "standard")      # the evaluation resize + centre crop, and its transform
    images, tfs = load_inputs(backbone, ["a.jpg", "b.png"])   # files -> uint8 [N, h, w, 3] of standard inputs
    f = features(backbone, params, image, ("conv4", "fc6"))

`features` returns, per tap T: `T` (activations: spatial `[h, w, C]`, vector `[D]`) and, for spatial taps,
`T__centers` `[h, w, 2]`: the (x, y) pixel (0-based, pixel centres at integers) of each column's receptive-field
centre in the ORIGINAL image (mapped back through the resize/crop), plus `T__rf` = (size, stride, offset) in
network-input pixels; also `image_size` (h, w) of the original and `input_size` of the network input.

Modes: "standard" (the backbone's evaluation transform: resize 256 + centre crop), "none" (the image as is), or
"square" (resize to the default input size, e.g. 227 x 227, no crop).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from convcorr_jax.backbones import preprocess, receptive_field
from convcorr_jax.backbones.base import Backbone
from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError, check
from convcorr_jax.features.extract import extract

MODES = ("standard", "none", "square")
MIN_IMAGE_SIDE = 2  # px: the shorter side of an image read for a network (a 1 px line has no 2D content)
MAX_ASPECT = 100.0  # longer side / shorter side of an image read for a network (beyond: a line, not a picture)


def read_image(path: str | os.PathLike, field: str = "image", min_side: int = MIN_IMAGE_SIDE,
               max_aspect: float = MAX_ASPECT) -> np.ndarray:
    """The image file at `path` as uint8 RGB `[H, W, 3]`.

    Args:
      path: an image file (`data.types.load_image`).
      field: the name InputError gives the file.
      min_side: the shortest accepted side in pixels.
      max_aspect: the largest accepted longer side / shorter side.

    Returns:
      uint8 RGB numpy [H, W, 3].

    Raises:
      InputError: naming `field`, for a missing path, a folder, an unreadable or truncated file, or a thin image:
        shorter side below `min_side` px or longer / shorter side above `max_aspect` (reported with its original
        size, width x height).
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(p, field, "an image file", "a folder",
                         message=f"is a folder, expected an image file ({field})")
    if not p.exists():
        raise InputError(p, field, "an existing image file", "no such file")
    try:
        image = load_image(p)
    except InputError as e:
        raise InputError(p, field, e.expected, e.got) from None
    h, w = image.shape[:2]
    if min(h, w) < min_side or max(h, w) > max_aspect * min(h, w):
        raise InputError(p, field, f"an image of at least {min_side} px on each side and an aspect ratio of at most "
                         f"{max_aspect:g}", f"{w} x {h} px (width x height)")
    return image


def _input_image(backbone, image: np.ndarray, mode: str = "standard") -> tuple[np.ndarray, preprocess.Transform]:
    """The network input for `mode` and the transform back to the original pixels.

    Args:
      backbone: the feature network (its `resize` and `default_input_size`).
      image: uint8 RGB [H, W, 3].
      mode: "standard" (resize + centre crop), "none" (as is) or "square" (resize to the default input size).

    Returns:
      (uint8 [h, w, 3] network input, `preprocess.Transform` mapping its (x, y) pixels to the original's).

    Raises:
      InputError: an unknown mode.
    """
    check(mode in MODES, "input_image", "mode", f"one of {list(MODES)}", mode)
    if mode == "standard":
        resize_to, crop, keep = backbone.resize
        return preprocess.resize_and_crop(image, resize_to, crop, keep_aspect=keep)
    if mode == "square":
        h, w = backbone.default_input_size
        return preprocess.resize(image, (h, w)), preprocess.Transform(w / image.shape[1], h / image.shape[0])
    return image, preprocess.Transform()


def load_inputs(backbone: Backbone, paths: Sequence[str | os.PathLike] | str | os.PathLike
                ) -> tuple[np.ndarray, list[preprocess.Transform]]:
    """Image files with the backbone's standard resize + centre crop: uint8 `[N, h, w, 3]` and the transforms.

    Args:
      backbone: the feature network (`_input_image`, mode "standard").
      paths: N image files (`read_image`); a single path is one file (not its characters).

    Returns:
      (uint8 numpy [N, h, w, 3] network inputs, N `preprocess.Transform`s back to each original image's pixels).

    Raises:
      InputError: no paths, or a file `read_image` refuses.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    check(len(paths) >= 1, "load_inputs", "paths", "at least one image file", "none")
    inputs = [_input_image(backbone, read_image(p, "image")) for p in paths]
    return np.stack([x for x, _ in inputs]), [tf for _, tf in inputs]


def features(backbone: Backbone, params: Any, image: np.ndarray, taps: tuple[str, ...] | str, mode: str = "standard",
             relu: bool = True) -> dict[str, np.ndarray]:
    """Activations and original-image receptive-field centres of one uint8 image `[H, W, 3]` (see module doc).

    Args:
      backbone, params: the feature network and its parameters.
      image: uint8 RGB [H, W, 3].
      taps: a tap name or tap names of the backbone.
      mode: the network input (`_input_image`).
      relu: post-activation (True) or pre-activation (False) values (`extract`).

    Returns:
      dict of numpy arrays: per tap T, `T` float32 activations ([h, w, C] spatial, [D] vector); for spatial taps
      `T__centers` float32 [h, w, 2] (x, y) original-image pixels and `T__rf` float32 [3] (size, stride, offset) in
      input pixels; `image_size` and `input_size` int64 [2] (h, w).

    Raises:
      InputError: image not uint8 RGB [H, W, 3], no taps, or an unknown mode.
    """
    taps = (taps,) if isinstance(taps, str) else tuple(dict.fromkeys(taps))
    check(len(taps) >= 1, "features", "taps", "at least one tap name", taps)
    image = preprocess.check_images(image, "features", "image", rank=3)
    x, tf = _input_image(backbone, image, mode)
    acts = extract(backbone, params, x[None], taps, batch_size=1, relu=relu)
    out = {"image_size": np.array(image.shape[:2]), "input_size": np.array(x.shape[:2])}
    for t in taps:
        out[t] = acts[t][0]
        if t in backbone.geometry:
            rf = backbone.geometry[t]
            centres = receptive_field.grid_centers(rf, acts[t].shape[1:3])
            out[f"{t}__centers"] = tf.to_original(centres).astype(np.float32)
            out[f"{t}__rf"] = np.array([rf.size, rf.stride, rf.offset], np.float32)
    return out
