"""Joint sets per dataset: a pose dataset kind's skeleton (`data.skeletons.Skeleton`: names, the paper's joint
groups as table columns, skeleton edges, left/right flip), from the dataset registry (`data.pose_sets`).

MPII (16 joints, `data.skeletons.MPII_JOINTS` order), FLIC (its 11 labelled joints,
`data.skeletons.FLIC_LABELLED_NAMES` order: lsho lelb lwri rsho relb rwri lhip rhip leye reye nose) and LSP (14,
`data.skeletons.LSP_JOINTS`).
Synthetic people carry the MPII joints. FLIC has no head joint: its "Head" group (the paper's "Face") pools the
three face points l eye, r eye and nose, each scored on its own like the two joints of the other groups.

    js = joint_set("flic", 11)                                     # the Skeleton: names, edges, flip, groups
    pck = group_pck(pred, gt, visible, norm, js.groups, 0.05)      # {"Head": .., "Shoulder": .., ...} percent
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from convcorr_jax.core import metrics
from convcorr_jax.data import skeletons
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError, as_float_array, check_shape

JointSet = Skeleton  # a dataset's joint set is its skeleton
MPII = skeletons.MPII
FLIC = skeletons.FLIC
LSP = skeletons.LSP


def joint_set(data: str, num_joints: int | None = None, root: str | os.PathLike | None = None,
              **options: Any) -> Skeleton:
    """The skeleton of dataset kind `data` (`data.pose_sets.skeleton`: synthetic people MPII's; a kind whose files
    declare it, the folder `root`'s, else its default); InputError when `num_joints` does not match.

    Args:
        data: a registered pose dataset kind (a TrainConfig's `data`).
        num_joints: the model's joint count to check (None: no check).
        root: the dataset folder (for a skeleton that the data declares).
        **options: the loader's options.

    Returns:
        the Skeleton (names, edges, flip, groups, left).
    """
    from convcorr_jax.data import pose_sets  # the dataset readers: only where a kind's skeleton is asked for

    js = pose_sets.skeleton(data, root, **options)
    if num_joints is not None and num_joints != js.num_joints:
        raise InputError("config", "num_joints", f"{js.num_joints} ({js.dataset} joints for data={data})", num_joints)
    return js


def group_pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray,
              groups: Mapping[str, tuple[int, ...]], alpha: float = 0.05) -> dict[str, float]:
    """PCK (percent) per joint group, pooled over the group's joints and instances.

    Args:
        pred, gt: [N, K, 2] (x, y) pixels.
        visible: bool [N, K] the joints scored (`metrics.pck_hits`).
        norm: [N] the PCK normaliser per instance, pixels.
        groups: {group name: joint indices} (a Skeleton's `groups`).
        alpha: a hit is within alpha * norm of gt.

    Returns:
        {group: float percent in [0, 100]} (NaN for a group with no scored joint).

    A group's hits are pooled, not averaged per joint as MPII's toolkit averages its two (`metrics.PCKH_GROUPS`,
    `convcorr eval pckh`); and MPII's and LSP's "Head" is the head top alone, where the toolkit's "Head" is the mean
    of upper neck and head top (`column_label` names a one-joint group's joint in a table).
    """
    hits = metrics.pck_hits(pred, gt, visible, norm, alpha)
    return {g: 100 * metrics.mean_scored(hits[:, list(j)]) for g, j in groups.items()}


def column_label(group: str, members: Sequence[int], names: Sequence[str]) -> str:
    """A joint group's table column label: the group's name, with its joint's name added where the group is one
    joint of another name, so that MPII's and LSP's "Head" reads "Head (head top)", not to be taken for the MPII
    toolkit's "Head" (upper neck and head top, `metrics.PCKH_GROUPS`).

    Args:
        group: the group's name (a key of a Skeleton's `groups`).
        members: its joint ids.
        names: the skeleton's K joint names.

    Returns:
        "group" or "group (joint name)".
    """
    if len(members) != 1 or names[members[0]].lower() == group.lower():
        return group
    return f"{group} ({names[members[0]]})"


def _checked_pixels(source: str, pred, gt, visible) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, gt, visible bool) after checking pred and gt [N, K, 2] of one shape and visible [N, K]: float32 and
    float64 points as given, any other real dtype (integer pixels, unsigned ones too, float16, bfloat16) as float64,
    so that pred - gt neither wraps nor rounds."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    dims = check_shape(gt, "N K 2", source, "gt", dtype="int | float", note="((x, y) pixels)")
    check_shape(pred, "N K 2", source, "pred", dims, dtype="int | float", note="((x, y) pixels, like gt)")
    check_shape(visible, "N K", source, "visible", dims, note="(bool, or 0 / 1, per joint)")
    return as_float_array(pred), as_float_array(gt), np.asarray(visible, bool)


def x_errors(pred: npt.ArrayLike, gt: npt.ArrayLike, visible: npt.ArrayLike, joints: tuple[int, ...]) -> np.ndarray:
    """Signed x errors (pixels) of the given joints over labelled instances, flattened.

    Args:
        pred, gt: [N, K, 2] (x, y) pixels, any real dtype (integers, unsigned ones too, are taken as float64).
        visible: [N, K] the labelled joints: bool, or 0 / 1 of any dtype (a mask, never indices).
        joints: the joint indices to take.

    Returns:
        [M] pred x - gt x of the visible (instance, joint) pairs, M <= N * len(joints); float64 (float32 where pred
        and gt both are).

    Raises:
        InputError: pred, gt not [N, K, 2] numbers of one shape, or visible not [N, K].
    """
    return _x_errors("x_errors", pred, gt, visible, joints)


def _x_errors(source: str, pred, gt, visible, joints: tuple[int, ...]) -> np.ndarray:
    """`x_errors`, its InputError naming `source`."""
    pred, gt, visible = _checked_pixels(source, pred, gt, visible)
    j = list(joints)
    return (pred[:, j, 0] - gt[:, j, 0])[visible[:, j]]


def x_sigma(pred: npt.ArrayLike, gt: npt.ArrayLike, visible: npt.ArrayLike, joints: tuple[int, ...],
            outlier: float = 20.0) -> float:
    """Std of the x error (pixels) after removing |error| > outlier (Tompson et al. Table 1 footnote).

    Args:
        pred, gt: [N, K, 2] (x, y) pixels, any real dtype (as `x_errors`).
        visible: [N, K] the labelled joints: bool, or 0 / 1 of any dtype.
        joints: the joint indices to pool.
        outlier: errors beyond this many pixels (absolute) are left out.

    Returns:
        float std in pixels of the `x_errors` kept; NaN when none is left.

    Raises:
        InputError: as `x_errors`.
    """
    e = _x_errors("x_sigma", pred, gt, visible, joints)
    e = e[np.abs(e) <= outlier]
    return float(np.std(e)) if e.size else float("nan")
