"""Localisation metrics: PCK, normalised landmark error.

All functions take numpy or JAX arrays; points are (x, y) pixels. Joints/keypoints with `visible == False`
(or NaN ground truth) are excluded from every average.
"""

from __future__ import annotations

import numpy as np


def keypoint_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distances [..., K] between pred and gt [..., K, 2]."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def pck_hits(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray, alpha: float) -> np.ndarray:
    """Correct-keypoint indicator [N, K] (float, NaN where not evaluated).

    A keypoint is correct when ||pred - gt|| <= alpha * norm, with `norm` [N] per instance
    (e.g. max(box w, h) for Long et al. / PASCAL, torso size for FLIC).
    """
    gt = np.asarray(gt, np.float64)
    d = keypoint_distances(pred, gt)
    ok = np.asarray(visible, bool) & np.all(np.isfinite(gt), axis=-1)
    hits = (d <= alpha * np.asarray(norm, np.float64)[:, None]).astype(np.float64)
    return np.where(ok, hits, np.nan)


def pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray, alpha: float = 0.1) -> float:
    """Fraction (0..1) of evaluated keypoints within alpha * norm; pooled over all instances and keypoints."""
    return float(np.nanmean(pck_hits(pred, gt, visible, norm, alpha)))


def pck_per_keypoint(pred, gt, visible, norm, alpha: float = 0.1) -> np.ndarray:
    """PCK [K] (0..1) per keypoint type; NaN for a type never evaluated."""
    hits = pck_hits(pred, gt, visible, norm, alpha)
    with np.errstate(invalid="ignore"):
        return np.nanmean(hits, axis=0) if np.any(np.isfinite(hits)) else np.full(hits.shape[1], np.nan)


def normalised_error(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Mean point-to-point distance per instance divided by `norm` [N] (e.g. inter-ocular distance). Returns [N]."""
    d = keypoint_distances(pred, gt)
    if visible is not None:
        d = np.where(np.asarray(visible, bool), d, np.nan)
    return np.nanmean(d, axis=-1) / np.asarray(norm, np.float64)
