"""Localisation metrics: PCK, MPII's PCKh, normalised landmark error.

All functions take numpy or JAX arrays; points are (x, y) pixels. Joints/keypoints with `visible == False`
(or NaN ground truth) are excluded from every average. A non-finite prediction (NaN, inf) of an evaluated
keypoint is scored as a miss, never dropped; `count_nonfinite` says how many there were, so that a report can
state it.

The segmentation metrics live in `segmentation_metrics`, the Proposal Flow benchmark's PCK in `correspondence_metrics`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

from convcorr_jax.core.deprecation import renamed
from convcorr_jax.core.errors import InputError, check_shape


def _keypoint_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distances [..., K] between pred and gt [..., K, 2].

    Args:
        pred, gt: [..., K, 2] (x, y) pixels (broadcastable).

    Returns:
        float64 [..., K] pixels (NaN where either point is NaN).
    """
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def evaluated(gt: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Bool [..., K]: the keypoints an average counts (finite ground truth, and visible where `visible` is given).

    Args:
        gt: [..., K, 2] (x, y) pixels; NaN marks an unlabelled point.
        visible: bool [..., K], or None.

    Returns:
        bool [..., K].
    """
    ok = np.all(np.isfinite(np.asarray(gt, np.float64)), axis=-1)
    return ok if visible is None else ok & np.asarray(visible, bool)


def count_nonfinite(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> int:
    """Number of evaluated keypoints (`evaluated(gt, visible)`) whose prediction has a NaN or inf coordinate;
    every metric here scores them as misses.

    Args:
        pred, gt: [..., K, 2] (x, y) pixels.
        visible: bool [..., K], or None.

    Returns:
        An int count.
    """
    bad = ~np.all(np.isfinite(np.asarray(pred, np.float64)), axis=-1)
    return int(np.sum(bad & evaluated(gt, visible)))


def _checked_points(source: str, pred, gt, per, per_field: str, per_note: str, mask,
                    mask_field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, gt, per) as float64, after checking pred and gt [N, K, 2] of one shape, per [N] and mask (where not None)
    [N, K]: InputError naming `source` and the argument."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    dims = check_shape(gt, "N K 2", source, "gt", note="((x, y) pixels)")
    check_shape(pred, "N K 2", source, "pred", dims, note="((x, y) pixels, like gt)")
    check_shape(per, "N", source, per_field, dims, note=per_note)
    if mask is not None:
        check_shape(mask, "N K", source, mask_field, dims)
    return pred, gt, np.asarray(per, np.float64)


def pck_hits(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None, norm: np.ndarray,
             alpha: float) -> np.ndarray:
    """Correct-keypoint indicator [N, K] (float, NaN where not evaluated).

    A keypoint is correct when ||pred - gt|| <= alpha * norm. A non-finite prediction is a miss (0);
    `count_nonfinite` counts them.

    Args:
        pred, gt: [N, K, 2] (x, y) pixels.
        visible: bool [N, K] (None: every keypoint with finite gt).
        norm: [N] pixels per instance, > 0 (e.g. max(box w, h) for Long et al. / PASCAL, torso size for FLIC); NaN
            or inf leaves the instance out (e.g. `Skeleton.normaliser_lengths` of a person missing a torso end).
        alpha: the fraction of norm a prediction may be off.

    Returns:
        float64 [N, K]: 1.0 hit, 0.0 miss, NaN not evaluated (`evaluated`, or a non-finite norm).

    Raises:
        InputError: pred, gt not [N, K, 2] of one shape, visible not [N, K], norm not [N], a finite norm <= 0 (it
            names the first such instance; a zero norm would make every prediction but an exact one a miss).
    """
    return _pck_hits(pred, gt, visible, norm, alpha, "pck_hits")


def _pck_hits(pred, gt, visible, norm, alpha: float, source: str) -> np.ndarray:
    """`pck_hits`, its InputErrors naming `source`: the public function the user called ("pck", "pck_per_keypoint")."""
    pred, gt, norm = _checked_points(source, pred, gt, norm, "norm", "(pixels per instance)", visible, "visible")
    bad = np.flatnonzero(np.isfinite(norm) & ~(norm > 0))
    if bad.size:
        raise InputError(source, "norm", "values > 0 (pixels; NaN or inf leaves an instance out)",
                         f"{norm[bad[0]]:g} at instance {bad[0]} ({bad.size} such in all)")
    d, norm = _keypoint_distances(np.where(np.isfinite(pred), pred, np.inf), gt), norm[:, None]
    # d / norm <= alpha, not d <= alpha * norm: an error of exactly alpha x norm is a hit however alpha rounds (0.29 x
    # 100 is 28.999999999999996 in floats; 29 / 100 rounds to the float of 0.29 itself), as PCKh divides too
    with np.errstate(invalid="ignore"):
        return np.where(evaluated(gt, visible) & np.isfinite(norm), (d / norm <= alpha).astype(np.float64), np.nan)


def pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray, alpha: float = 0.1) -> float:
    """Fraction (0..1) of evaluated keypoints within alpha * norm; pooled over all instances and keypoints.

    Args:
        pred, gt: [N, K, 2] (x, y) pixels; visible: bool [N, K]; norm: [N] pixels (e.g. the person's torso size).
        alpha: the fraction of norm a prediction may be off.

    Returns:
        the pooled fraction; NaN when no keypoint is evaluated.

    >>> gt = np.zeros((1, 3, 2))
    >>> pred = np.array([[[1.0, 0.0], [0.0, 3.0], [9.0, 9.0]]])
    >>> pck(pred, gt, np.array([[True, True, False]]), np.array([20.0]), alpha=0.1)  # within 2 px: 1 of 2 scored
    0.5
    """
    hits = _pck_hits(pred, gt, visible, norm, alpha, "pck")
    n = int(np.sum(np.isfinite(hits)))
    return float(np.nansum(hits) / n) if n else float("nan")


def pck_per_keypoint(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None, norm: np.ndarray,
                     alpha: float = 0.1) -> np.ndarray:
    """PCK [K] (0..1) per keypoint type; NaN for a type never evaluated.

    Args:
        pred, gt, visible, norm, alpha: as `pck_hits`.

    Returns:
        float64 [K].
    """
    hits = _pck_hits(pred, gt, visible, norm, alpha, "pck_per_keypoint")
    counts = np.sum(np.isfinite(hits), axis=0)
    return np.where(counts > 0, np.nansum(hits, axis=0) / np.maximum(counts, 1), np.nan)


def mean_scored(values: npt.ArrayLike) -> float:
    """Mean of the finite entries (e.g. the categories or keypoint types that were scored), without numpy's "Mean of
    empty slice" warning: a mean over categories that leaves out those with nothing to score.

    Args:
        values: floats of any shape (e.g. per-category PCK in 0..1); NaN (or inf) marks an entry that was not scored.

    Returns:
        The mean of the finite entries, in their units; NaN when no entry is finite.
    """
    v = np.asarray(values, np.float64)
    return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")


def normalised_error(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray,
                     visible: np.ndarray | None = None) -> np.ndarray:
    """Mean point-to-point distance per instance divided by `norm` [N] (e.g. inter-ocular distance).

    Args:
        pred, gt: [N, K, 2] (x, y) pixels.
        norm: [N] pixels, > 0; NaN or inf leaves the instance out (NaN), as in `pck_hits`.
        visible: bool [N, K]; points where it is False are left out of the mean (None: all points).

    Returns:
        float64 [N]; NaN for an instance with no point counted (no visible point) or a non-finite norm, without a
        warning;
        inf for an instance with a non-finite prediction of a counted point (a miss, not left out of its mean).

    Raises:
        InputError: pred, gt not [N, K, 2] of one shape, norm not [N], visible not [N, K], or a finite norm <= 0 (it
            names the first such instance).
    """
    pred, gt, norm = _checked_points("normalised_error", pred, gt, norm, "norm", "(pixels per instance)", visible,
                                     "visible")
    bad = np.flatnonzero(np.isfinite(norm) & ~(norm > 0))
    if bad.size:
        raise InputError("normalised_error", "norm", "values > 0 (pixels)",
                         f"{norm[bad[0]]:g} at instance {bad[0]} ({bad.size} such in all)")
    d = _keypoint_distances(np.where(np.isfinite(pred), pred, np.inf), gt)  # NaN only where gt is NaN
    d = d if visible is None else np.where(np.asarray(visible, bool), d, np.nan)
    n = np.sum(~np.isnan(d), axis=-1)  # nanmean's count, an empty mean NaN as `mean_scored` gives it, unwarned
    mean = np.where(n > 0, np.nansum(d, axis=-1) / np.maximum(n, 1), np.nan)
    return np.where(np.isfinite(norm), mean / np.where(np.isfinite(norm), norm, 1.0), np.nan)  # inf: out, not 0


# --- PCKh (MPII) -------------------------------------------------------------------------------------------
# The official MPII single-person toolkit (evalMPII: annolist2matrix.m, getDistPCKh.m, computePCK.m,
# genTablePCK.m) works on 14 of the 16 joints, in this order of MPII joint ids (pelvis 6 and thorax 7 are
# dropped by annolist2matrix, so they count nowhere):
MPII_TOOLKIT_JOINTS = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)
# Table columns: each is the mean of the two per-joint PCKh values (genTablePCK), not a pooled count.
PCKH_GROUPS: dict[str, tuple[int, int]] = {
    "Head": (8, 9),  # upper neck, head top
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
PCKH_UBODY = (10, 11, 12, 13, 14, 15)  # toolkit columns 7..12: wrists, elbows, shoulders (pooled)
PCKH_THRESHOLDS = tuple(round(0.01 * k, 2) for k in range(51))  # the toolkit's range 0:0.01:0.5
PCKH_SC_BIAS = 0.6  # head size = 0.6 x head-box diagonal (util_get_head_size)
MPII_TOOLKIT_ABOUT = "the MPII toolkit's 14 joints (pelvis and thorax left out)"  # what its Total pools, in words


def pckh_pooled_joints(skeleton: str, num_joints: int) -> tuple[np.ndarray, str]:
    """The joints a pooled PCKh ("Total", "all") counts on a skeleton, and which they are in words.

    On the 16 MPII joints the official toolkit's Total: `MPII_TOOLKIT_JOINTS` (pelvis and thorax left out), as
    `pckh_curves` pools them; on any other skeleton every joint. One meaning of a pooled PCKh for evaluation
    (`convcorr eval pckh`, the Tompson et al. tables) and training (the held-out score of a run).

    Args:
        skeleton: the skeleton's name ("mpii", "flic", ...).
        num_joints: K, its number of joints.

    Returns:
        (bool [K]: True for the joints pooled, text: `MPII_TOOLKIT_ABOUT` on MPII's 16 joints, else "").
    """
    if skeleton != "mpii" or num_joints != 16:
        return np.ones(num_joints, bool), ""
    return np.isin(np.arange(16), MPII_TOOLKIT_JOINTS), MPII_TOOLKIT_ABOUT


def head_size(head_box: np.ndarray) -> np.ndarray:
    """MPII head segment length [N] = 0.6 * ||(x2, y2) - (x1, y1)|| from head boxes [N, 4] (x1, y1, x2, y2).

    Args:
        head_box: [N, 4] (x1, y1, x2, y2) pixels (any leading shape [..., 4]).

    Returns:
        float64 [N] pixels.

    Raises:
        InputError: head_box not [..., 4] (e.g. corners [N, 2, 2]: reshape them to [N, 4]).
    """
    b = np.asarray(head_box, np.float64)
    check_shape(b, "* 4", "head_size", "head_box", note="((x1, y1, x2, y2) pixels)")
    return PCKH_SC_BIAS * np.linalg.norm(b[..., 2:4] - b[..., 0:2], axis=-1)


def pckh_distances(pred: np.ndarray, gt: np.ndarray, head: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Head-normalised distances [N, K] as getDistPCKh: NaN where the ground truth is missing.

    A non-finite prediction counts as infinitely far ("only gt is allowed to have NaN"). Visibility is not
    used: occluded but annotated joints are evaluated.

    Args:
        pred, gt: [N, K, 2] (x, y) pixels.
        head: [N] head sizes in pixels (`head_size`).
        missing: bool [N, K], added to the non-finite gt (default: non-finite gt only).

    Returns:
        float64 [N, K] distances in head sizes (inf for non-finite predictions, NaN where missing).

    Raises:
        InputError: pred, gt not [N, K, 2] of one shape, head not [N], missing not [N, K], a head size that is not
            finite and > 0 (it names the first such person; a zero head made a miss of every prediction but an
            exact one, and an exact one 0 / 0: missing).
    """
    return _pckh_distances(pred, gt, head, missing, "pckh_distances")


def _pckh_distances(pred, gt, head, missing, source: str) -> np.ndarray:
    """`pckh_distances`, its InputErrors naming `source`: the public function the user called ("pckh_table")."""
    pred, gt, head = _checked_points(source, pred, gt, head, "head", "(head sizes in pixels, one per person)", missing,
                                     "missing")
    bad = np.flatnonzero(~(np.isfinite(head) & (head > 0)))
    if bad.size:
        raise InputError(source, "head", "finite head sizes > 0 (pixels)",
                         f"{head[bad[0]]:g} at person {bad[0]} ({bad.size} such in all)")
    d = _keypoint_distances(np.where(np.isfinite(pred), pred, np.inf), gt) / head[:, None]
    miss = ~np.all(np.isfinite(gt), axis=-1)
    if missing is not None:
        miss |= np.asarray(missing, bool)
    return np.where(miss, np.nan, d)


def _pct_within(d: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Percent of the finite-or-inf (non-NaN) entries of d [..., M] with d <= t, for each t: [T, ...]."""
    valid = ~np.isnan(d)
    n = valid.sum(axis=-1)
    hits = (d[None] <= thresholds.reshape((-1,) + (1,) * d.ndim)) & valid[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * hits.sum(axis=-1) / n


def pckh_curves(dist: npt.ArrayLike,
                thresholds: Sequence[float] | np.ndarray = PCKH_THRESHOLDS) -> dict[str, np.ndarray]:
    """computePCK on MPII-ordered distances [N, 16]: percent curves over `thresholds` [T].

    Args:
        dist: [N, 16] head-normalised distances in MPII joint order (`pckh_distances`), NaN where missing: an array
            of any real dtype, or a nested list.
        thresholds: [T] thresholds in head sizes.

    Returns:
        {"joints": [T, 16] per MPII joint id (pelvis/thorax included for reference), "UBody": [T],
        "Total": [T] (pooled over the toolkit's 14 joints), and one [T] curve per group of PCKH_GROUPS}, float64
        percent (0..100; NaN where nothing is evaluated).
    """
    t, dist = np.asarray(thresholds, np.float64), np.asarray(dist, np.float64)
    joints = _pct_within(dist.T, t)  # [T, 16]
    out = {"joints": joints}
    for name, (a, b) in PCKH_GROUPS.items():
        out[name] = (joints[:, a] + joints[:, b]) / 2
    out["UBody"] = _pct_within(dist[:, list(PCKH_UBODY)].reshape(-1), t)
    out["Total"] = _pct_within(dist[:, list(MPII_TOOLKIT_JOINTS)].reshape(-1), t)
    return out


def pckh_table(pred: np.ndarray, gt: np.ndarray, head: np.ndarray, missing: np.ndarray | None = None,
               thresholds: Sequence[float] | np.ndarray = (0.5, 0.1)) -> dict[str, dict[str, float]]:
    """PCKh (percent) per group and Total at each threshold, keyed by the threshold as text ("0.5").

    Follows the official MPII toolkit: d <= t, groups are means of the left/right (neck/head-top) per-joint
    values, Total pools every non-missing joint except pelvis and thorax.

    Args:
        pred, gt, head, missing: as `pckh_distances` (K = 16, MPII joint order).
        thresholds: thresholds in head sizes.

    Returns:
        {threshold text: {group of PCKH_GROUPS, "UBody", "Total": percent 0..100}}.
    """
    curves = pckh_curves(_pckh_distances(pred, gt, head, missing, "pckh_table"), thresholds)
    names = list(PCKH_GROUPS) + ["UBody", "Total"]
    return {f"{t:g}": {n: float(curves[n][i]) for n in names} for i, t in enumerate(thresholds)}


def pckh_auc(total_curve: np.ndarray, thresholds: Sequence[float] | np.ndarray = PCKH_THRESHOLDS) -> float:
    """Area under a PCKh curve, normalised to the threshold range (the toolkit's area_under_curve(scale01)).

    Args:
        total_curve: [T] percent values (e.g. `pckh_curves(...)["Total"]`), one per threshold.
        thresholds: [T] finite thresholds in head sizes, strictly increasing.

    Returns:
        A float in the curve's units (0..100 for percent curves), trapezoidal.

    Raises:
        InputError: thresholds not [T >= 2] finite and strictly increasing (all equal gave NaN; decreasing ones a
            negative area, repeated or unordered ones an area of no curve), or a curve of another length than the
            thresholds (was numpy's broadcast error).
    """
    t = np.asarray(thresholds, np.float64)
    dims = check_shape(t, "T>=2", "pckh_auc", "thresholds", note="(at least two)")
    bad = np.flatnonzero(~np.isfinite(t[1:]) | ~(np.diff(t) > 0)) + 1
    if not np.isfinite(t[0]) or bad.size:
        i = 0 if not np.isfinite(t[0]) else int(bad[0])
        raise InputError("pckh_auc", "thresholds", "finite thresholds, strictly increasing",
                         f"{t[i]:g} at index {i}" + (f" after {t[i - 1]:g}" if i else ""))
    y = np.asarray(total_curve, np.float64)
    check_shape(y, "T", "pckh_auc", "total_curve", dims, note="(one value per threshold)")
    x = (t - t.min()) / (t.max() - t.min())
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def _pckh_table_tompson_port(pred, gt, head, missing, threshold: float = 0.5) -> dict[str, float]:
    """The widely copied Python/MATLAB port of Tompson et al. (eval_PCKh in pose repositories).

    There d < t, "Head" is the head top alone, "Mean" the unweighted mean of the 14 per-joint values. For
    comparison with numbers published that way; `pckh_table` is the official definition.

    Args:
        pred, gt, head, missing: as `pckh_distances` (K = 16, MPII joint order).
        threshold: in head sizes.

    Returns:
        {"Head", the other groups of PCKH_GROUPS, "Mean": percent 0..100}.
    """
    d = pckh_distances(pred, gt, head, missing)
    valid = ~np.isnan(d)
    per = 100.0 * ((d < threshold) & valid).sum(0) / valid.sum(0)
    out = {"Head": float(per[9])}
    for name, (a, b) in list(PCKH_GROUPS.items())[1:]:
        out[name] = float((per[a] + per[b]) / 2)
    out["Mean"] = float(per[list(MPII_TOOLKIT_JOINTS)].mean())
    return out


# moved, kept here one release (`deprecation.renamed`: a DeprecationWarning on each use): the segmentation metrics
# (`segmentation_metrics`) and the Proposal Flow benchmark's PCK (`correspondence_metrics`)
__getattr__ = renamed(__name__, {
    **{name: f"convcorr_jax.core.segmentation_metrics.{name}"
       for name in ("segmentation_average_precision", "segmentation_iou")},
    **{name: f"convcorr_jax.core.correspondence_metrics.{name}"
       for name in ("PF_ALPHAS", "pf_box_size", "pf_pck_pairs", "pf_pck")},
})
