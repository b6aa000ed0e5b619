"""The PF-WILLOW protocol's pairs and ground truth (PF's `dense_flow_eva_WILLOW.m`), for `long2014.pf_willow` and
the experiments and benchmarks beside it: the sub-classes scored, the ordered pairs within each (and the cross pairs
of a mixed-view set "A+B"), and the keypoints each pair is scored against.

A keypoint is valid when its coordinates are finite and on its image (`correspondence.points.valid_keypoints`) and
it is visible; invalid ones are NaN in `keypoint_table`, so that `correspondence_metrics.pf_pck` leaves them out of
the target's keypoint box and of the count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import InputError
from convcorr_jax.correspondence.points import valid_keypoints
from convcorr_jax.data.pf_willow import load_pf_willow, ordered_pairs, pf_willow_classes
from convcorr_jax.data.types import KeypointSample

__all__ = ["MIXED_SEP", "check_pairs", "is_mixed", "keypoint_table", "mixed_parts", "pair_ground_truth",
           "pf_willow_set", "select_classes"]

MIXED_SEP = "+"  # "A+B": the cross pairs of two sub-classes of one object (`pf_willow_set`'s mixed)


def keypoint_table(samples: Sequence[KeypointSample]) -> tuple[np.ndarray, np.ndarray]:
    """(points [N, K, 2] float64 with invalid keypoints set to NaN, valid [N, K] bool) of the samples
    (`valid_keypoints` on each sample's image, and its `visible` flags)."""
    pts = np.stack([np.asarray(s.points, np.float64) for s in samples])
    valid = np.stack([valid_keypoints(s.points, None if s.image is None else s.image.shape[:2])
                      & np.asarray(s.visible, bool) for s in samples])
    return np.where(valid[..., None], pts, np.nan), valid


def pair_ground_truth(points: np.ndarray, valid: np.ndarray, pairs: np.ndarray,
                      ids: Sequence[str] | None = None) -> np.ndarray:
    """The target keypoints [P, K, 2] of pairs (i, j) [P, 2] for `correspondence_metrics.pf_pck`: j's valid
    keypoints, NaN for the others (left out of the box and of the count). InputError for a target with fewer than 2
    valid keypoints (no keypoint box)."""
    n_valid = valid[pairs[:, 1]].sum(-1)
    if np.any(n_valid < 2):
        j = int(pairs[np.argmax(n_valid < 2), 1])
        raise InputError(ids[j] if ids is not None else f"sample {j}", "keypoints",
                         "at least 2 valid keypoints in a target (its keypoint box)", int(valid[j].sum()))
    return points[pairs[:, 1]]


def select_classes(root: str | os.PathLike, classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The sub-class folders under `root` to score: `classes` in their order (None: all present); InputError for
    a name that is not there, naming the ones present, or one named twice (its pairs would count twice)."""
    present = pf_willow_classes(root)
    if classes is None:
        return present
    twice = sorted({c for c in classes if list(classes).count(c) > 1})
    if twice:
        raise InputError(root, "classes", "each sub-class once", ", ".join(twice))
    unknown = [c for c in classes if c not in present]
    if unknown:
        raise InputError(root, "classes", f"sub-class folders present there ({', '.join(present)})",
                         ", ".join(unknown))
    return tuple(classes)


def _require_pair(root: str | os.PathLike, sub: str, n: int) -> None:
    """InputError when sub-class `sub` has fewer than 2 annotated images (n): no ordered pair to score."""
    if n < 2:
        raise InputError(Path(root) / sub, "images", "at least 2 annotated images (one ordered pair)", n)


def check_pairs(root: str | os.PathLike, classes: Sequence[str]) -> None:
    """InputError for a sub-class folder with fewer than 2 annotated images (annotations only, no image read)."""
    for sub in classes:
        _require_pair(root, sub, len(load_pf_willow(root, classes=[sub], with_images=False)))


def pf_willow_set(root: str | os.PathLike, pairs_per_class: int | None = None,
                  classes: Sequence[str] | None = None, mixed: Sequence[str] = (), with_images: bool = True
                  ) -> tuple[list[KeypointSample], np.ndarray, np.ndarray]:
    """(samples (with their images unless `with_images` is false), ordered pairs [P, 2] (source i, target j), group
    per pair [P]) of the sub-classes `classes` (None: all, `select_classes`): the first `pairs_per_class` ordered
    pairs within each sub-class (None: all), then for each "A+B" of `mixed` (`mixed_parts`) the first
    `pairs_per_class` of its cross pairs (every image of A to every image of B, then B to A), grouped as "A+B"."""
    samples: list[KeypointSample] = []
    pairs, groups, where = [], [], {}
    for sub in select_classes(root, classes):
        s = load_pf_willow(root, classes=[sub], with_images=with_images)
        _require_pair(root, sub, len(s))
        where[sub] = np.arange(len(samples), len(samples) + len(s))
        pp = ordered_pairs(len(s))[:pairs_per_class] + len(samples)
        samples += list(s)
        pairs.append(pp)
        groups += [sub] * len(pp)
    for name in mixed:
        a, b = (where[p] for p in mixed_parts(name, tuple(where)))
        pp = np.concatenate([np.stack(np.meshgrid(x, y, indexing="ij"), -1).reshape(-1, 2)
                             for x, y in ((a, b), (b, a))])[:pairs_per_class]
        pairs.append(pp.astype(np.int64))
        groups += [name] * len(pp)
    return samples, np.concatenate(pairs), np.array(groups)


def is_mixed(name: str) -> bool:
    """Whether a per-class key names a mixed-view set ("A+B", `mixed_parts`) rather than a sub-class."""
    return MIXED_SEP in name


def mixed_parts(name: str, subs: Sequence[str] | None = None) -> tuple[str, str]:
    """The two sub-classes of a mixed-view set "A+B" (two sub-classes of one object whose keypoints are the same
    parts, e.g. "car(G)+car(S)": side against general views, as PF-WILLOW's own car(M)); InputError naming `mixed`
    unless A and B are two different non-empty names, both in `subs` (None: the names only, no data at hand)."""
    parts = tuple(name.split(MIXED_SEP))
    if (len(parts) != 2 or not all(parts) or parts[0] == parts[1]
            or (subs is not None and not all(p in subs for p in parts))):
        among = "" if subs is None else f" of {list(subs)}"
        raise InputError("config", "mixed", f"'A{MIXED_SEP}B' with two different sub-classes{among}", name)
    return parts
