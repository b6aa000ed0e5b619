"""Input conventions of the two model families, plus resize/crop helpers that remember how to map back.

* Caffe (caffenet, bvlc_alexnet): BGR channel order, 0-255 scale, per-channel ImageNet mean subtracted
  (B 104.00698793, G 116.66876762, R 122.67891434), no std division; images resized to 256 x 256 and centre
  cropped to 227 x 227 (`caffe/python/classify.py`).
* torchvision (torchvision_alexnet, mobilenet_v2): RGB in [0, 1], normalised by mean (0.485, 0.456, 0.406) and
  std (0.229, 0.224, 0.225); shorter side resized to 256 (bilinear, PIL) and centre cropped to 224.

All functions take uint8 RGB images; arrays are NHWC.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, check, check_shape, is_int

CAFFE_MEAN_BGR = np.array([104.00698793, 116.66876762, 122.67891434], np.float32)
TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)
_Images = TypeVar("_Images", bound=npt.ArrayLike)  # `check_images` returns an array as given, else np.asarray


def check_images(images: _Images, source: str = "preprocess", field: str = "images",
                 rank: int = 4) -> _Images | np.ndarray:
    """Validate uint8 RGB images `[N, H, W, 3]` (or `[H, W, 3]` with rank=3); raise InputError otherwise.

    Args:
      images: an array (returned as is) or array-like (converted with `np.asarray`).
      source, field: the function that received `images` and the argument they came in, for the error.
      rank: 4 for a batch `[N, H, W, 3]`, 3 for one image `[H, W, 3]`.

    Returns:
      The images as an array, not copied.

    Raises:
      InputError: for another rank, a last axis other than 3, an empty image (H or W 0), or a dtype other than
        uint8.
    """
    check_shape(images, "N H>=1 W>=1 3" if rank == 4 else "H>=1 W>=1 3", source, field, dtype="uint8",
                note="(RGB in [0, 255])")
    return np.asarray(images) if not hasattr(images, "dtype") else images


def caffe(images: npt.ArrayLike) -> np.ndarray:
    """uint8 RGB -> float32 BGR, 0-255, mean-subtracted (`CAFFE_MEAN_BGR`), for the Caffe models.

    Args:
      images: uint8 RGB `[N, H, W, 3]`.

    Returns:
      float32 BGR `[N, H, W, 3]` (no resizing). InputError for images that are not uint8 `[N, H, W, 3]`.
    """
    x = check_images(images, "caffe")
    return np.asarray(x, np.float32)[..., ::-1] - CAFFE_MEAN_BGR


def torchvision(images: npt.ArrayLike) -> np.ndarray:
    """uint8 RGB -> float32 RGB normalised by ImageNet mean/std, for the torchvision models.

    Args:
      images: uint8 RGB `[N, H, W, 3]`.

    Returns:
      float32 RGB `[N, H, W, 3]`: `(x / 255 - TORCH_MEAN_RGB) / TORCH_STD_RGB` (no resizing). InputError for images
      that are not uint8 `[N, H, W, 3]`.
    """
    x = check_images(images, "torchvision")
    return (np.asarray(x, np.float32) / 255.0 - TORCH_MEAN_RGB) / TORCH_STD_RGB


@dataclasses.dataclass(frozen=True)
class Transform:
    """Maps pixel coordinates of the network input back to the original image: `x_orig = (x + left + 0.5) /
    sx - 0.5` (pixel centres at integers; resize scales `sx`, `sy`, then crop offsets `left`, `top`)."""

    sx: float = 1.0
    sy: float = 1.0
    left: int = 0
    top: int = 0

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """`[..., 2]` (x, y) in the network input -> `[..., 2]` (x, y) in the original image."""
        p = np.asarray(points, np.float64)
        return np.stack([(p[..., 0] + self.left + 0.5) / self.sx - 0.5, (p[..., 1] + self.top + 0.5) / self.sy - 0.5],
                        -1)

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Inverse of `to_original`."""
        p = np.asarray(points, np.float64)
        return np.stack([(p[..., 0] + 0.5) * self.sx - 0.5 - self.left, (p[..., 1] + 0.5) * self.sy - 0.5 - self.top],
                        -1)


def _sides(values, n: int) -> bool:
    """Whether `values` are `n` integers >= 1 (numpy integers included, bools not)."""
    return (isinstance(values, (tuple, list, np.ndarray)) and len(values) == n
            and all(is_int(v, 1) for v in values))


def resize(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (PIL, antialiased, as torchvision does on PIL images) of one uint8 image to `hw`.

    Args:
      image: uint8 RGB `[H, W, 3]` (a numpy or JAX array).
      hw: target (h, w) in pixels.

    Returns:
      uint8 RGB `[h, w, 3]`; `image` itself when it already has that size.

    Raises:
      InputError: an image that is not uint8 `[H, W, 3]`, or `hw` not two integers >= 1.
    """
    from PIL import Image

    image = check_images(image, "resize", "image", rank=3)
    check(_sides(hw, 2), "resize", "hw", "two integers >= 1 (h, w) in pixels", hw)
    h, w = int(hw[0]), int(hw[1])
    if (h, w) == image.shape[:2]:
        return image
    # np.asarray: PIL reads numpy's array interface only (a JAX array raised AttributeError)
    return np.asarray(Image.fromarray(np.asarray(image)).resize((w, h), Image.Resampling.BILINEAR))


def resize_and_crop(image: np.ndarray, resize_to: int, crop: int,
                    keep_aspect: bool = True) -> tuple[np.ndarray, Transform]:
    """Resize then centre crop `crop x crop`, as the standard evaluation transform does.

    Resize the shorter side to `resize_to` when `keep_aspect` (torchvision `Resize(256)`; the longer side truncated to
    an int), else to a `resize_to` square (Caffe); then centre crop (torchvision `CenterCrop` rounding).

    Args:
      image: uint8 RGB `[H, W, 3]`.
      resize_to: the shorter side (or the square side) after resizing, pixels.
      crop: side of the square crop, pixels.
      keep_aspect: keep the aspect ratio (torchvision) or resize to a square (Caffe).

    Returns:
      (uint8 `[crop, crop, 3]` (a view of the resized image), `Transform` back to the original pixels).

    Raises:
      InputError: for an image that is not uint8 `[H, W, 3]`, `resize_to` or `crop` not an integer >= 1, or `crop`
        larger than the resized image's shorter side.
    """
    image = check_images(image, "resize_and_crop", "image", rank=3)
    for field, v in (("resize_to", resize_to), ("crop", crop)):
        check(_sides((v,), 1), "resize_and_crop", field, "an integer >= 1 (pixels)", v)
    h, w = image.shape[:2]
    if keep_aspect:
        if h <= w:
            nh, nw = resize_to, int(resize_to * w / h)
        else:
            nh, nw = int(resize_to * h / w), resize_to
    else:
        nh = nw = resize_to
    out = resize(image, (nh, nw))
    if crop > min(nh, nw):
        raise InputError("resize_and_crop", "image", f"at least {crop} px on each side after resizing to {resize_to}",
                         (nh, nw))
    top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    return out[top : top + crop, left : left + crop], Transform(nw / w, nh / h, left, top)
