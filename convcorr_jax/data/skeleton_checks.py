"""The checks behind `skeletons.Skeleton.validate`: sequences (not text, not a 0-d array), joint ids (ints, not
bools: True would be id 1), pairs of two different ids, keypoint names (distinct, non-blank strings). Each raises one
InputError naming the source and the field it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convcorr_jax.core.errors import InputError, is_int


def checked_sequence(source: str, field: str, value: Any, expected: str) -> Any:
    """`value` when it is a sequence (not text, not a 0-d array, which has no len()); else InputError.

    Args:
        source: what the error names (`skeleton <name>`, a file).
        field: the field the error names.
        value: anything.
        expected: the error's "expected" text.

    Returns:
        `value` itself.
    """
    array = isinstance(value, np.ndarray) and value.ndim > 0
    if isinstance(value, str) or not (isinstance(value, Sequence) or array):
        raise InputError(source, field, expected, value)
    return value


def check_ids(source: str, field: str, values: Any, n: int, expected: str) -> None:
    """InputError unless every one of `values` is an int 0..n-1 (not a bool: True would be id 1).

    Args:
        source: what the error names.
        field: the field the error names.
        values: an iterable of ids.
        n: the number of ids (joints, or joints + the torso point).
        expected: the error's "expected" text.

    Returns:
        None.
    """
    for v in values:
        if not (is_int(v) and 0 <= v < n):
            raise InputError(source, field, expected, v)


def check_two_ids(source: str, field: str, value: Any, n: int, expected: str, what: str = "joint") -> None:
    """InputError unless `value` is two different ids 0..n-1.

    Args:
        source: what the error names.
        field: the field the error names.
        value: the pair.
        n: the number of ids.
        expected: the error's "expected" text for an id out of range or not an int.
        what: the ids' kind in words ("joint", "node").

    Returns:
        None.
    """
    if len(checked_sequence(source, field, value, f"two {what} ids (a, b)")) != 2:
        raise InputError(source, field, f"two {what} ids (a, b)", value)
    check_ids(source, field, value, n, expected)
    if value[0] == value[1]:
        raise InputError(source, field, f"two different {what}s", tuple(value))


def check_keypoint_names(source: str, field: str, names: Any) -> None:
    """InputError naming `source` and `field` unless `names` are distinct non-blank strings (a Skeleton's, COCO's).

    Args:
        source: what the error names.
        field: the field the error names ("names", "categories[].keypoints").
        names: the keypoint names.

    Returns:
        None.
    """
    checked_sequence(source, field, names, "a list of keypoint names (strings)")
    if len(names) == 0:
        raise InputError(source, field, "at least one keypoint name", 0)
    if bad := [n for n in names if not isinstance(n, str) or not n.strip()]:
        raise InputError(source, field, "a list of keypoint names (non-blank strings)", repr(bad[0]))
    if len(set(names)) != len(names):
        raise InputError(source, field, "distinct keypoint names", list(names))
