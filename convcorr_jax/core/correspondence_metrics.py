"""Correspondence metrics: the PCK of the Proposal Flow benchmark (PF-WILLOW), keypoints carried from a source image
to a target image and scored against the target's own.

Reference: the release's PF-dataset-WILLOW-code/dense_flow_eva_WILLOW.m (bsham/ProposalFlow) with the box of
prepKP_WILLOW.m. Per pair: d = ||pred - gt|| / max(bbox(3:4) - bbox(1:2)) over the target's keypoints, i.e.
L = max(x1 - x0, y1 - y0) of the tight keypoint box, WITHOUT the +1 of an inclusive pixel count; the distances are
binned into [0, 0.01), [0.01, 0.02), ... and PCK@alpha sums the bins below alpha, so a keypoint counts when
d / L < alpha (strict). Each pair weighs 1 (its keypoint fraction), pairs are averaged within a sub-class
(/ n (n - 1)), then sub-classes are averaged.

Points are 0-based (x, y) pixels; NaN in the ground truth marks a keypoint that is not scored (absent, or padding).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.core.metrics import _keypoint_distances

PF_ALPHAS = (0.05, 0.1, 0.2)  # the thresholds the PF benchmark reports, fractions of L


def pf_box_size(gt: np.ndarray) -> np.ndarray:
    """max(w, h) [P] of the tight box around each target's finite keypoints, with w = x1 - x0 and h = y1 - y0: the
    PF benchmark's normaliser L (no +1, as its reference code).

    Args:
        gt: [P, K, 2] (x, y) pixels of each pair's target keypoints; NaN marks padding.

    Returns:
        float64 [P] pixels (0 for a pair with one finite keypoint or all at one place, -inf for a pair with none).
    """
    g = np.asarray(gt, np.float64)
    ok = np.all(np.isfinite(g), axis=-1)[..., None]
    lo = np.min(np.where(ok, g, np.inf), axis=-2)
    hi = np.max(np.where(ok, g, -np.inf), axis=-2)
    return np.max(hi - lo, axis=-1)


def pf_pck_pairs(pred: np.ndarray, gt: np.ndarray, alphas: Sequence[float] | np.ndarray = PF_ALPHAS) -> np.ndarray:
    """Per-pair PCK [A, P]: the fraction of a pair's keypoints with ||pred - gt|| / L < alpha (strict).

    Keypoints with non-finite gt (padding: loaders mark it NaN) are left out of the box and of the count; a
    non-finite prediction is a miss.

    Args:
        pred: [P, K, 2] (x, y) pixels: the predicted target keypoints of P pairs (source keypoints carried over).
        gt: [P, K, 2] (x, y) pixels: the target's own keypoints (any common origin with pred), NaN for padding;
            L = `pf_box_size(gt)`.
        alphas: [A] thresholds, fractions of L.

    Returns:
        float64 [A, P] fractions in 0..1.

    Raises:
        InputError: pred and gt not [P, K, 2] of one shape, or a pair whose keypoint box has no size (L <= 0).
    """
    return _pf_pck_pairs(pred, gt, alphas, "pf_pck_pairs")


def _pf_pck_pairs(pred, gt, alphas: Sequence[float] | np.ndarray, source: str) -> np.ndarray:
    """`pf_pck_pairs`, its InputErrors naming `source`: the public function the user called ("pf_pck")."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    dims = check_shape(gt, "P K 2", source, "gt", note="((x, y) pixels)")
    check_shape(pred, "P K 2", source, "pred", dims, note="((x, y) pixels, like gt)")
    valid, size = np.all(np.isfinite(gt), axis=-1), pf_box_size(gt)
    bad = np.flatnonzero(~(size > 0))  # -inf: no finite keypoint; 0: one, or all at one place
    if bad.size:
        raise InputError(source, "gt", "a target keypoint box of positive size per pair (2 distinct keypoints)",
                         f"{int(valid[bad[0]].sum())} finite keypoint(s) in pair {int(bad[0])} ({bad.size} such pairs)")
    d = _keypoint_distances(np.where(np.isfinite(pred), pred, np.inf), gt) / size[:, None]  # [P, K]
    a = np.asarray(alphas, np.float64).reshape(-1, 1, 1)
    return ((d[None] < a) & valid[None]).sum(-1) / valid.sum(-1)  # every pair has 2 or more finite keypoints


def pf_pck(pred: np.ndarray, gt: np.ndarray, subclass: np.ndarray | list,
           alphas: Sequence[float] | np.ndarray = PF_ALPHAS) -> dict[str, dict[str, float]]:
    """PF benchmark PCK per sub-class and their mean, at each alpha (keyed as text, e.g. "0.1").

    Per pair the fraction of keypoints within alpha * L (`pf_pck_pairs`); the mean over the pairs of each
    sub-class; "mean" = the unweighted mean over sub-classes.

    Args:
        pred: [P, K, 2] (x, y) pixels: the predicted target keypoints of P ordered pairs.
        gt: [P, K, 2] (x, y) pixels: the pairs' true target keypoints, NaN for padding.
        subclass: [P] each pair's sub-class name (e.g. "car(S)").
        alphas: [A] thresholds, fractions of L (`pf_box_size`).

    Returns:
        {alpha text: {sub-class name: PCK, ..., "mean": PCK}}, PCK a fraction in 0..1, e.g.
        {"0.05": {"car(S)": ..., ..., "mean": ...}, "0.1": {...}, "0.2": {...}}.

    Raises:
        InputError: pred and gt not [P, K, 2] of one shape, not one sub-class per pair, or a pair whose keypoint box
            has no size (`pf_pck_pairs`).
    """
    per_pair = _pf_pck_pairs(pred, gt, alphas, "pf_pck")  # [A, P]
    labels = np.asarray(subclass).astype(str)
    # a [P, 1] column too: np.bincount takes 1-D labels only
    check_shape(labels, "P", "pf_pck", "subclass", {"P": per_pair.shape[1]}, note="(one per pair)")
    names, inv = np.unique(labels, return_inverse=True)
    counts = np.bincount(inv, minlength=len(names))
    sums = np.stack([np.bincount(inv, weights=row, minlength=len(names)) for row in per_pair])  # [A, C]
    per_class = sums / counts
    out = {}
    for ai, alpha in enumerate(alphas):
        row = {str(n): float(per_class[ai, ci]) for ci, n in enumerate(names)}
        row["mean"] = float(per_class[ai].mean())
        out[f"{alpha:g}"] = row
    return out
