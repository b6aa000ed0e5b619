"""ImageNet classification with a backbone's logits (`features.extract` of the "logits" tap): top-k classes with softmax
probabilities."""

from __future__ import annotations

import numpy as np

from convcorr_jax.backbones.imagenet_classes import IMAGENET_CLASSES
from convcorr_jax.core.errors import check
from convcorr_jax.features.extract import extract


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis.

    Args:
      logits: float [..., K] (`classify` passes float64 for exact small probabilities).

    Returns:
      [..., K] probabilities summing to 1 along the last axis, in the dtype of logits.
    """
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def classify(backbone, params, images: np.ndarray,
             topk: int = 5) -> tuple[np.ndarray, list[list[tuple[int, str, float]]]]:
    """ImageNet top-k classes of already-cropped images.

    Args:
      backbone, params: a backbone with a "logits" tap and its parameters.
      images: uint8 RGB [N, h, w, 3] (or a list of equal-size [h, w, 3]), already cropped to the network input.
      topk: classes listed per image, highest probability first.

    Returns:
      (logits float32 [N, 1000], per image a list of topk (class index, class name, softmax probability)).

    Raises:
      InputError: topk not an integer in 1..1000, or bad images (`extract`).
    """
    check(isinstance(topk, (int, np.integer)) and 1 <= topk <= len(IMAGENET_CLASSES), "classify", "topk",
          f"an integer in 1..{len(IMAGENET_CLASSES)}", topk)
    logits = extract(backbone, params, images, ("logits",), batch_size=8)["logits"]
    probs = softmax(logits.astype(np.float64))
    top = np.argsort(-logits, axis=1)[:, :topk]
    return logits, [[(int(i), IMAGENET_CLASSES[i], float(probs[n, i])) for i in row] for n, row in enumerate(top)]
