"""Classification with a backbone's logits (`features.extract` of the "logits" tap): top-k classes with softmax
probabilities, named with ImageNet's classes for 1000 logits."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.imagenet_classes import IMAGENET_CLASSES
from convcorr_jax.core.errors import check
from convcorr_jax.features.extract import extract


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis.

    Args:
      logits: float [..., K] (`classify` passes float64 for exact small probabilities).

    Returns:
      numpy [..., K] probabilities summing to 1 along the last axis, in the dtype of logits (numpy or jax).
    """
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _class_names(num_classes: int) -> tuple[str, ...]:
    """num_classes names in index order: ImageNet's (`IMAGENET_CLASSES`) for 1000, else "class N"."""
    if num_classes == len(IMAGENET_CLASSES):
        return tuple(IMAGENET_CLASSES)
    return tuple(f"class {i}" for i in range(num_classes))


def classify(backbone: Backbone, params: Mapping[str, Any], images: np.ndarray | Sequence[np.ndarray],
             topk: int = 5) -> tuple[np.ndarray, list[list[tuple[int, str, float]]]]:
    """Top-k classes of already-cropped images: ImageNet's names for a backbone with 1000 logits, "class N" for
    another number.

    Args:
      backbone, params: a backbone with a "logits" tap and its parameters.
      images: uint8 RGB [N, h, w, 3] (or a list of equal-size [h, w, 3]), already cropped to the network input.
      topk: classes listed per image, highest probability first.

    Returns:
      (logits float32 numpy [N, K] (K: the "logits" tap's width, 1000 for the ImageNet backbones), per image a list of
      topk (class index, class name, softmax probability)).

    Raises:
      InputError: topk not an integer in 1..K, or bad images (`extract`).
    """
    check(isinstance(topk, (int, np.integer)) and topk >= 1, "classify", "topk", "an integer >= 1", topk)
    logits = extract(backbone, params, images, ("logits",), batch_size=8)["logits"]
    names = _class_names(logits.shape[-1])  # the network's own width (a user's backbone declares none)
    check(topk <= len(names), "classify", "topk", f"an integer in 1..{len(names)} ({backbone.name}'s classes)", topk)
    probs = softmax(logits.astype(np.float64))
    top = np.argsort(-logits, axis=1)[:, :topk]
    return logits, [[(int(i), names[i], float(probs[n, i])) for i in row] for n, row in enumerate(top)]
