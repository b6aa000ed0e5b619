"""Joint sets per dataset: names, the paper's joint groups (table columns), skeleton edges, left/right flip, made
from the skeleton registry (`data.skeletons`, where the data lives; `from_skeleton` for any skeleton).

MPII (16 joints, `data.mpii.MPII_JOINTS` order), FLIC (its 11 labelled joints, `data.flic.FLIC_LABELLED_NAMES`
order: lsho lelb lwri rsho relb rwri lhip rhip leye reye nose) and LSP (14, `data.lsp.LSP_JOINTS`). Synthetic
people carry the MPII joints. FLIC has no head joint: its "Head" group (the paper's "Face") pools the three face
points l eye, r eye and nose, each scored on its own like the two joints of the other groups.

    js = joint_set("flic", 11)
    pck = group_pck(pred, gt, visible, norm, js.groups, 0.05)      # {"Head": .., "Shoulder": .., ...} percent
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from convcorr_jax import metrics
from convcorr_jax.data import skeletons
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.errors import InputError


@dataclasses.dataclass(frozen=True)
class JointSet:
    """names [K]; groups: column name -> joint ids (pooled); edges: skeleton bones (i, j); left: ids drawn as the
    person's left side; flip: the joint permutation of a horizontal mirror (left <-> right)."""

    dataset: str
    names: tuple[str, ...]
    groups: Mapping[str, tuple[int, ...]]
    edges: tuple[tuple[int, int], ...]
    left: tuple[int, ...]
    flip: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        """K, the number of joints."""
        return len(self.names)


def from_skeleton(skeleton: Skeleton, dataset: str | None = None) -> JointSet:
    """The JointSet of a skeleton (`data.skeletons`): its names, table groups (one per joint without groups),
    links as edges, the first joint of each flip pair as the left side and its mirror permutation.

    Args:
        skeleton: the skeleton.
        dataset: the name shown (default the skeleton's).

    Returns:
        the JointSet.
    """
    return JointSet(dataset or skeleton.name, skeleton.names, skeleton.column_groups, skeleton.links, skeleton.left,
                    skeleton.flip)


MPII = from_skeleton(skeletons.MPII, "MPII")
FLIC = from_skeleton(skeletons.FLIC, "FLIC")
LSP = from_skeleton(skeletons.LSP, "LSP")
BY_DATA: dict[str, JointSet] = {"synthetic": MPII, "mpii": MPII, "flic": FLIC, "lsp": LSP}


def joint_set(data: str, num_joints: int | None = None, root=None) -> JointSet:
    """The joint set of dataset `data` (synthetic people: MPII; "coco": the skeleton of the COCO-format folder
    `root`, `pose.data.dataset_skeleton`); InputError when `num_joints` does not match.

    Args:
        data: a TrainConfig's data kind.
        num_joints: the model's joint count to check (None: no check).
        root: the dataset folder (for a skeleton that the data declares).

    Returns:
        the JointSet.
    """
    if data == "coco":
        from convcorr_jax.pose.person_crops import dataset_skeleton

        js = from_skeleton(dataset_skeleton(data, root))
    elif data not in BY_DATA:
        raise InputError("config", "data", f"one of {list(BY_DATA) + ['coco']} (a dataset with a pose joint set)",
                         data)
    else:
        js = BY_DATA[data]
    if num_joints is not None and num_joints != js.num_joints:
        raise InputError("config", "num_joints", f"{js.num_joints} ({js.dataset} joints for data={data})", num_joints)
    return js


def group_pck(pred, gt, visible, norm, groups: Mapping[str, tuple[int, ...]], alpha: float = 0.05) -> dict[str, float]:
    """PCK (percent) per joint group, pooled over the group's joints and instances (pred, gt [N, K, 2], visible
    [N, K], norm [N])."""
    hits = metrics.pck_hits(pred, gt, visible, norm, alpha)
    return {g: float(100 * np.nanmean(hits[:, list(j)])) for g, j in groups.items()}


def x_errors(pred, gt, visible, joints: tuple[int, ...]) -> np.ndarray:
    """Signed x errors (pixels) of the given joints over labelled instances, flattened."""
    j = list(joints)
    e = np.asarray(pred)[:, j, 0] - np.asarray(gt)[:, j, 0]
    return e[np.asarray(visible)[:, j]]


def x_sigma(pred, gt, visible, joints: tuple[int, ...], outlier: float = 20.0) -> float:
    """Std of the x error (pixels) after removing |error| > outlier (Tompson et al. Table 1 footnote)."""
    e = x_errors(pred, gt, visible, joints)
    e = e[np.abs(e) <= outlier]
    return float(np.std(e)) if e.size else float("nan")
