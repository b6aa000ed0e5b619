"""Joints of one skeleton on another, by name (mmpose's KeypointConverter): one spelling of every keypoint name
(`_canonical_name`: "lsho", "left_shoulder" and "l shoulder" are one joint), which joint of a dataset's skeleton each
joint of a model's skeleton is (`joint_index`), and the points and labels carried over (`map_joints`), NaN and not
labelled where the dataset lacks the joint.

    index = joint_index(skeletons.FLIC, skeletons.PERSON)        # int [17]: FLIC's joint of each, -1 for the legs
    points, labelled = map_joints(flic_points, flic_labelled, index)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from convcorr_jax.data.keypoint_sides import side_key
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError

# the words of keypoint names that mean the same joint (`_canonical_name`): FLIC's abbreviations, MPII's upper neck
NAME_WORDS = {"sho": "shoulder", "elb": "elbow", "wri": "wrist", "kne": "knee", "ank": "ankle", "upper neck": "neck",
              "upper_neck": "neck", "head_top": "head top", "headtop": "head top"}


def _canonical_name(name: str) -> str:
    """A keypoint name in one spelling: "l"/"r" and the joint's word ("lsho", "left_shoulder", "l shoulder" ->
    "l shoulder"; "upper neck" -> "neck"), so that the joints of two skeletons can be matched by name.

    Args:
        name: a keypoint name.

    Returns:
        the name in the canonical spelling (lower case; unknown words as they are, "_" read as a space).
    """
    side = side_key(name)
    rest = (side[1] if side else name.lower()).strip(" _-")
    rest = NAME_WORDS.get(rest, rest).replace("_", " ")
    return f"{side[0]} {rest}" if side else rest


def joint_index(src: Skeleton, dst: Skeleton, names: Mapping[str, str] | None = None) -> np.ndarray:
    """Which joint of `src` each joint of `dst` is (KeypointConverter's mapping): with `names`, exactly the pairs
    it lists (no joint is matched by name then, not even one of the same name: list those too); without, every
    src joint whose `_canonical_name` is a dst joint's.

    Args:
        src: the dataset's skeleton.
        dst: the model's skeleton.
        names: the whole src -> dst mapping (every key a joint of src, every value one of dst; dst joints it
          leaves out get -1); None: by name.

    Returns:
        int [K_dst]: the src joint id of each dst joint, -1 where src has none (a joint the dataset lacks).

    Raises:
        InputError: a name of `names` that is not text or not in its skeleton, two src joints mapped onto one dst
            joint, or a src joint whose name in one spelling is that of two dst joints (an explicit pair naming the
            dst joint exactly resolves it).
    """
    pairs = dict(names) if names is not None else {n: n for n in src.names}
    bad = [v for kv in pairs.items() for v in kv if not isinstance(v, str)]
    if bad:
        raise InputError("joint_index", "names", "joint names (text): {dataset joint: model joint}", bad[0])
    dst_ids: dict[str, list[int]] = {}
    for i, n in enumerate(dst.names):
        dst_ids.setdefault(_canonical_name(n), []).append(i)
    src_ids = {n: i for i, n in enumerate(src.names)}
    index = np.full(dst.num_joints, -1, np.int64)
    for a, b in pairs.items():
        if a not in src_ids:
            raise InputError("joint_index", "names", f"joints of {src.name} {list(src.names)}", a)
        ids = [dst.names.index(b)] if names is not None and b in dst.names else dst_ids.get(_canonical_name(b), [])
        if len(ids) > 1:
            raise InputError("joint_index", "names", f"one {dst.name} joint per name (list the pair to choose)",
                             f"{a} -> {' and '.join(dst.names[i] for i in ids)}")
        j = ids[0] if ids else None
        if j is None:
            if names is not None:
                raise InputError("joint_index", "names", f"joints of {dst.name} {list(dst.names)}", b)
            continue
        if index[j] >= 0:
            raise InputError("joint_index", "names", f"one {src.name} joint per {dst.name} joint",
                             f"{src.names[index[j]]} and {a} -> {dst.names[j]}")
        index[j] = src_ids[a]
    return index


def map_joints(points: np.ndarray, labelled: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points and labels of one skeleton on another (`joint_index`); joints the source lacks: NaN, not labelled.

    Args:
        points: [..., K_src, 2] (x, y) pixels.
        labelled: bool [..., K_src].
        index: int [K_dst] from `joint_index`.

    Returns:
        (points float [..., K_dst, 2], NaN where index is -1; labelled bool [..., K_dst], False there).
    """
    points, labelled, index = np.asarray(points), np.asarray(labelled, bool), np.asarray(index)
    have = index >= 0
    safe = np.where(have, index, 0)
    out = np.where(have[:, None], np.take(points, safe, axis=-2).astype(np.float64), np.nan)
    return out, np.take(labelled, safe, axis=-1) & have
