"""Left and right from keypoint names: the side a name spells out (`side_key`) and the mirror pairs of a skeleton
whose names differ only in their side (`name_flip_pairs`), what `skeletons.from_coco_category` pairs a COCO-format
file's keypoints by when the file declares no flip pairs.

    side_key("left_eye")                          # ("l", "eye")
    name_flip_pairs(["l_knee", "r_knee", "nose"])  # ((0, 1),)
"""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence

# a keypoint name's tokens (`side_key`): split at "_", "-", spaces and camelCase boundaries ("leftHand",
# "RShoulder": OpenPose's "R" + "Shoulder")
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+|[A-Z]")
_SIDE_TOKENS = {"left": "l", "right": "r", "l": "l", "r": "r"}
# FLIC's short names (MODEC's joint slots, `skeletons.FLIC_JOINTS`): "lsho" ... "rear", one token
_SHORT_NAME = re.compile(r"^([lr])(sho|elb|wri|hip|kne|ank|eye|ear)$", re.IGNORECASE)


def side_key(name: str) -> tuple[str, str] | None:
    """The side and the rest of a left/right keypoint name. A side is explicit: the word "left" or "right" (any
    case) or a single "l" / "r", each a token of its own ("left_eye", "Right Ear", "eye-l", "l eye", "leftHand",
    "frontLeftPaw", "RShoulder"), or one of FLIC's short names ("lsho", "reye", ...). A name that merely starts or
    ends with l / r ("tail", "rib"), glues its side on ("leftear") or holds two side tokens has no side.

    Args:
        name: a keypoint name.

    Returns:
        ("l" or "r", the other tokens in lower case joined by spaces: "left_big_toe" -> ("l", "big toe")), or
        None for a name without a side.
    """
    short = _SHORT_NAME.match(name)
    if short:
        return short.group(1).lower(), short.group(2).lower()
    tokens = [t.lower() for part in re.split(r"[ _\-]+", name) for t in _TOKEN.findall(part)]
    sides = [i for i, t in enumerate(tokens) if t in _SIDE_TOKENS]
    if len(sides) != 1:
        return None
    return _SIDE_TOKENS[tokens[sides[0]]], " ".join(t for i, t in enumerate(tokens) if i != sides[0])


def name_flip_pairs(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) id pairs of names that differ only in their side (`side_key`); a joint whose side and rest
    another joint repeats ("l_eye" and "eye_l") is paired with none.

    Args:
        names: keypoint names.

    Returns:
        the pairs (0-based joint ids), in the order of their left joint.
    """
    keys = [side_key(n) for n in names]
    count = collections.Counter(k for k in keys if k)
    right = {k[1]: i for i, k in enumerate(keys) if k and k[0] == "r" and count[k] == 1}
    return tuple((i, right[k[1]]) for i, k in enumerate(keys)
                 if k and k[0] == "l" and count[k] == 1 and k[1] in right)
