"""Joint sets per dataset: names, the paper's joint groups (table columns), skeleton edges, left/right flip.

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
from convcorr_jax.data.flic import FLIC_LABELLED_NAMES
from convcorr_jax.data.lsp import LSP_JOINTS
from convcorr_jax.data.mpii import MPII_JOINTS
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
        return len(self.names)


MPII = JointSet(
    "MPII", MPII_JOINTS,
    {"Head": (9,), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15), "Hip": (2, 3), "Knee": (1, 4),
     "Ankle": (0, 5)},
    ((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7), (7, 13),
     (13, 14), (14, 15)),
    (3, 4, 5, 13, 14, 15),
    (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10),
)
FLIC = JointSet(
    "FLIC", FLIC_LABELLED_NAMES,
    {"Head": (8, 9, 10), "Shoulder": (0, 3), "Elbow": (1, 4), "Wrist": (2, 5), "Hip": (6, 7)},
    ((0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (0, 6), (3, 7), (6, 7), (8, 10), (9, 10)),
    (0, 1, 2, 6, 8),
    (3, 4, 5, 0, 1, 2, 7, 6, 9, 8, 10),
)
LSP = JointSet(
    "LSP", LSP_JOINTS,
    {"Head": (13,), "Shoulder": (8, 9), "Elbow": (7, 10), "Wrist": (6, 11), "Hip": (2, 3), "Knee": (1, 4),
     "Ankle": (0, 5)},
    ((0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (6, 7), (7, 8), (9, 10), (10, 11), (8, 12), (9, 12), (12, 13),
     (2, 8), (3, 9)),
    (3, 4, 5, 9, 10, 11),
    (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13),
)
BY_DATA: dict[str, JointSet] = {"synthetic": MPII, "mpii": MPII, "flic": FLIC, "lsp": LSP}


def joint_set(data: str, num_joints: int | None = None) -> JointSet:
    """The joint set of dataset `data` (synthetic people: MPII); InputError when `num_joints` does not match."""
    if data not in BY_DATA:
        raise InputError("config", "data", f"one of {list(BY_DATA)} (a dataset with a pose joint set)", data)
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
