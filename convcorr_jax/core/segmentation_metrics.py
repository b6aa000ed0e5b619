"""Segmentation metrics of Razavian et al. 2015 (Table 3): per-class pixel average precision and PASCAL VOC IoU.

Both pool every pixel of every image (one ranking, one confusion matrix), never a mean of per-image values, and ignore
the pixels labelled `void` (255 by default, VOC's "void" label). Class ids are 0..C-1; a class with nothing to score
is NaN.
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.core.errors import check_class_ids, check_finite_entries, check_shape


def _average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Average precision of a ranking, as scikit-learn's `average_precision_score` defines it: the area under the step
    precision-recall curve, the sum over distinct score thresholds of (recall step) x precision at that threshold.
    Tied scores form one threshold; no interpolation.

    Args:
        scores: float scores of any shape (flattened); higher means more likely positive.
        positive: bool of the same size as `scores`: the entries that are positive.

    Returns:
        The average precision in 0..1; NaN when no entry is positive.
    """
    s, y = np.asarray(scores, np.float64).ravel(), np.asarray(positive, bool).ravel()
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each group of tied scores
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (tp + fp)))


def segmentation_average_precision(scores: np.ndarray, labels: np.ndarray, void: int = 255) -> np.ndarray:
    """Per-class pixel average precision [C] (Razavian et al. 2015, Table 3): for each class c, the scores of class c
    rank all non-void pixels of all images, pooled, against `labels == c` (`_average_precision`).

    Args:
        scores: [N, H, W, C] (or any [..., C]) class scores per pixel; higher means more likely that class.
        labels: int [N, H, W] (scores' shape less C) class ids per pixel, in 0..C-1 or `void`.
        void: the label of ignored pixels.

    Returns:
        float64 [C] average precision in 0..1; NaN for a class with no pixel.

    Raises:
        InputError: labels not int of scores' shape less C, a non-void label outside 0..C-1, or a NaN or inf score at
            a non-void pixel (NaN has no place in a ranking, and tied infinite scores would not tie).
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    c = check_shape(scores, "* C", "segmentation_average_precision", "scores", note="(class scores)")["C"]
    check_shape(labels, scores.shape[:-1], "segmentation_average_precision", "labels", None, "int | uint",
                "(scores' shape less C)")
    keep = labels != void
    lab = check_class_ids(labels[keep], c, "segmentation_average_precision", "labels", f" or {void} (void)")
    flat = scores[keep]
    check_finite_entries(flat, "segmentation_average_precision", "scores", "finite scores at the non-void pixels")
    return np.array([_average_precision(flat[:, k], lab == k) for k in range(c)])


def segmentation_iou(pred: np.ndarray, labels: np.ndarray, num_classes: int, void: int = 255) -> np.ndarray:
    """Per-class intersection over union [C] as PASCAL VOC scores it: TP / (TP + FP + FN) from one confusion matrix
    pooled over all images' pixels (not a mean of per-image IoUs), void pixels ignored.

    Args:
        pred: int [N, H, W] (or any shape, the same as labels') predicted class per pixel, in 0..C-1 at the non-void
            pixels.
        labels: int [N, H, W] (or any shape) true class ids per pixel, in 0..C-1 or `void`.
        num_classes: C, the number of classes.
        void: the label of ignored pixels.

    Returns:
        float64 [C] IoU in 0..1; NaN for a class absent from both pred and labels.

    Raises:
        InputError: pred or labels not int of one shape, or a value outside 0..C-1 at a non-void pixel.
    """
    pred, labels = np.asarray(pred), np.asarray(labels)
    check_shape(labels, "*", "segmentation_iou", "labels", dtype="int | uint")
    check_shape(pred, labels.shape, "segmentation_iou", "pred", None, "int | uint", "(one class per label pixel)")
    keep = labels != void
    lab = check_class_ids(labels[keep], num_classes, "segmentation_iou", "labels", f" or {void} (void)")
    pr = check_class_ids(pred[keep], num_classes, "segmentation_iou", "pred", " at the non-void pixels")
    cm = np.bincount(lab * num_classes + pr, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)
