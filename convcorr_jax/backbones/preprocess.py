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

import numpy as np

from convcorr_jax.errors import InputError

CAFFE_MEAN_BGR = np.array([104.00698793, 116.66876762, 122.67891434], np.float32)
TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)


def check_images(images, source: str = "images", rank: int = 4) -> np.ndarray:
    """Validate uint8 RGB images `[N, H, W, 3]` (or `[H, W, 3]` with rank=3); raise InputError otherwise."""
    a = np.asarray(images) if not hasattr(images, "dtype") else images
    if a.ndim != rank:
        want = "[N, H, W, 3]" if rank == 4 else "[H, W, 3]"
        raise InputError(source, "shape", f"a rank-{rank} array {want}", tuple(a.shape))
    if a.shape[-1] != 3:
        raise InputError(source, "channels", "3 (RGB) in the last axis (NHWC)", a.shape[-1])
    if a.dtype != np.uint8:
        raise InputError(source, "dtype", "uint8 RGB in [0, 255]", str(a.dtype))
    return a


def caffe(images) -> np.ndarray:
    """uint8 RGB `[N, H, W, 3]` -> float32 BGR, 0-255, mean-subtracted `[N, H, W, 3]`."""
    x = check_images(images)
    return np.asarray(x, np.float32)[..., ::-1] - CAFFE_MEAN_BGR


def torchvision(images) -> np.ndarray:
    """uint8 RGB `[N, H, W, 3]` -> float32 RGB normalised by ImageNet mean/std `[N, H, W, 3]`."""
    x = check_images(images)
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


def resize(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (PIL, antialiased, as torchvision does on PIL images) of uint8 `[H, W, 3]` to `hw`."""
    from PIL import Image

    image = check_images(image, rank=3)
    h, w = hw
    if (h, w) == image.shape[:2]:
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def resize_and_crop(image: np.ndarray, resize_to: int, crop: int,
                    keep_aspect: bool = True) -> tuple[np.ndarray, Transform]:
    """Resize (shorter side to `resize_to` when `keep_aspect`, torchvision `Resize(256)`; else to a square, Caffe)
    then centre crop `crop x crop` (torchvision `CenterCrop` rounding). Returns (uint8 `[crop, crop, 3]`,
    Transform back to the original pixels)."""
    image = check_images(image, rank=3)
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
        raise InputError("image", "size", f"at least {crop} pixels after resizing to {resize_to}", (nh, nw))
    top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    return out[top : top + crop, left : left + crop], Transform(nw / w, nh / h, left, top)
