"""The checks of a COCO-format annotation file's entries (`data.coco_keypoints` reads the file, module docstring):
the ids of its three lists and each annotation's fields.

Ids: the `id` of an image, a category or an annotation, an annotation's `image_id` and `category_id`, is an integer or
a string (`coco_id`; a whole-number float such as 1.0, which converters built on pandas write, is its integer; 1.5,
true, null and lists are refused). Within each of the three lists the ids are unique as text (1 and "1" would name
two samples alike) and of one kind, all integers or all strings: pycocotools sorts a list's ids, which fails on a mix
(`entries_by_id`, `annotation_ids`: one rule for the three lists). Each annotation is checked once, whatever it is
(a person, a crowd, another category's): `check_annotation`, which the people's reader and the OKS ground truth share.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convcorr_jax.core.errors import InputError, is_int
from convcorr_jax.data._common import _shown, as_float, as_int, check_coco_triples
from convcorr_jax.data.skeletons import Skeleton

_AN_ID = "an id (an integer or a string)"
_MISSING = object()  # a field the annotation does not have (its error says "missing", a null says None)


def coco_id(entry: dict, key: str, path: Path, field: str) -> int | str:
    """The id `entry[key]` as the file means it: a string as written, an integer (a whole-number float such as 1.0
    as its integer); InputError naming the file and `field` for a missing one or anything else (1.5; true, which
    Python takes for the id 1; null; a list).

    Args:
        entry: an object of the file (an image, a category or an annotation).
        key: the id's key ("id", "image_id" or "category_id").
        path: the file, for messages.
        field: the field named in the message ("images[0].id").

    Returns:
        the id: a str or a Python int.
    """
    if key not in entry:
        raise InputError(path, field, _AN_ID, "missing")
    value = entry[key]
    if isinstance(value, str):
        return value
    if is_int(value):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
        return int(value)
    raise InputError(path, field, _AN_ID, _shown(value))


def _unique_ids(ids: Iterable[tuple[int, int | str]], path: Path, name: str) -> list[tuple[int, int | str]]:
    """The (position j, id) pairs of the list `name`, checked in order: InputError naming `name[j].id` for the first
    id another entry has as text, or whose kind (integer or string) is not the first id's."""
    seen: dict[str, int] = {}
    out: list[tuple[int, int | str]] = []
    for j, key in ids:
        if str(key) in seen:
            raise InputError(path, f"{name}[{j}].id", f"an id no other entry of {name} has ({name}[{seen[str(key)]}] "
                             "has it)", _shown(key))
        if out and isinstance(key, str) != isinstance(out[0][1], str):
            kind = "a string" if isinstance(out[0][1], str) else "an integer"
            raise InputError(path, f"{name}[{j}].id", f"{kind}, as {name}[{out[0][0]}]'s id (the ids of {name} are "
                             "all integers or all strings: pycocotools sorts them)", _shown(key))
        seen[str(key)] = j
        out.append((j, key))
    return out


def entries_by_id(entries: list, path: Path, name: str, about: str) -> dict[int | str, tuple[int, dict]]:
    """The file's `images` or `categories` by id; InputError naming the field for an entry that is not an object or
    whose `id` is not an id (`coco_id`), is another entry's or is not of the list's one kind (module docstring).

    Args:
        entries: the list as parsed.
        path: the file, for messages.
        name: the list's name ("images" or "categories").
        about: the fields of an entry, for the message of one that is not an object.

    Returns:
        id (`coco_id`) -> (position in the list, the entry).
    """
    def ids() -> Iterator[tuple[int, int | str]]:
        for j, e in enumerate(entries):
            if not isinstance(e, dict):
                raise InputError(path, f"{name}[{j}]", f"an object ({about})", type(e).__name__)
            yield j, coco_id(e, "id", path, f"{name}[{j}].id")

    return {key: (j, entries[j]) for j, key in _unique_ids(ids(), path, name)}


def annotation_ids(anns: list, path: Path) -> list[int | str | None]:
    """Each annotation's own `id` (`coco_id`), None where it has none (or is no object, which `check_annotation`
    refuses); InputError naming the field for an id another annotation has as text or of the other kind (module
    docstring).

    Args:
        anns: the file's `annotations`.
        path: the file, for messages.

    Returns:
        the ids in the file's order.
    """
    own = ((i, coco_id(a, "id", path, f"annotations[{i}].id")) for i, a in enumerate(anns)
           if isinstance(a, dict) and "id" in a)
    ids: list[int | str | None] = [None] * len(anns)
    for i, key in _unique_ids(own, path, "annotations"):
        ids[i] = key
    return ids


class CheckedAnnotation(NamedTuple):
    """One annotation as `check_annotation` read it."""

    left_out: str | None  # "crowd", "other-category" (its category has no keypoints), None: a person to read
    crowd: int  # iscrowd: 0 or 1
    image: int  # the position in `images` of the entry its image_id names
    image_id: int | str
    category_id: int | str
    keypoints: np.ndarray | None  # float64 [K, 3] (x, y, v); None for an other-category annotation
    box: np.ndarray | None  # float64 (x0, y0, x1, y1); None for an other-category annotation without a bbox
    area: float  # pixels: the file's, else the bbox's width x height


def check_annotation(ann: object, i: int, path: Path, skeleton: Skeleton, categories: tuple[set, set],
                     images: dict) -> CheckedAnnotation:
    """Annotation i checked as a person, a crowd or another category's annotation alike: an object, `category_id`
    naming a category, `iscrowd` 0 or 1 (false / true read as 0 / 1), `keypoints` (not for another category's), a
    `bbox` (another category's needs one only without an `area`), `num_keypoints`, `image_id` naming an image,
    `area`; InputError naming the file and the field otherwise.

    Args:
        ann: the annotation as parsed.
        i: its position in `annotations`.
        path: the file, for messages.
        skeleton: the file's skeleton (K keypoints).
        categories: (the ids of the categories with keypoints, the ids of all categories).
        images: the file's images by id (`entries_by_id`).

    Returns:
        the CheckedAnnotation.
    """
    if not isinstance(ann, dict):
        raise InputError(path, f"annotations[{i}]", "an object (id, image_id, category_id, keypoints, bbox, ...)",
                         type(ann).__name__)
    cat = coco_id(ann, "category_id", path, f"annotations[{i}].category_id")
    if cat not in categories[1]:
        raise InputError(path, f"annotations[{i}].category_id", f"the id of one of the file's categories "
                         f"{tuple(sorted(categories[1], key=str))} (annotation id {ann.get('id')})", _shown(cat))
    crowd = _crowd(ann.get("iscrowd", 0), path, i)
    other = cat not in categories[0]
    trip = None if other else _keypoints(ann.get("keypoints", _MISSING), skeleton, path, i)
    xywh = _bbox(ann, path, i) if not other or "bbox" in ann or "area" not in ann else None
    _check_num_keypoints(ann, skeleton.num_joints, path, i)
    image_id = coco_id(ann, "image_id", path, f"annotations[{i}].image_id")
    if image_id not in images:  # pycocotools leaves an annotation of no image out silently
        raise InputError(path, f"annotations[{i}].image_id", "the id of an entry of images", _shown(image_id))
    box = None if xywh is None else np.array([xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]], np.float64)
    return CheckedAnnotation("other-category" if other else "crowd" if crowd else None, crowd, images[image_id][0],
                             image_id, cat, trip, box, _area(ann, xywh, path, i))


def _crowd(value: object, path: Path, i: int) -> int:
    """Annotation i's `iscrowd`: 0 or 1, false / true read as 0 / 1 (pycocotools reads them so); text such as "0",
    which Python takes for a crowd, is refused, as is any other number."""
    crowd = int(value) if isinstance(value, (bool, np.bool_)) else \
        as_int(value, path, f"annotations[{i}].iscrowd", text=False)
    if crowd not in (0, 1):
        raise InputError(path, f"annotations[{i}].iscrowd", "0 or 1", crowd)
    return crowd


def _bbox(ann: dict, path: Path, i: int) -> np.ndarray:
    """float64 (x, y, width, height) of annotation i's `bbox`: four JSON numbers (not text, not true / false, which
    Python takes for 1.0), finite, width and height > 0; InputError naming the file and the field otherwise."""
    field, b = f"annotations[{i}].bbox", ann.get("bbox")
    if not isinstance(b, list) or len(b) != 4:
        raise InputError(path, field, "[x, y, width, height]", _shown(b) if "bbox" in ann else "missing")
    xywh = np.array([as_float(v, path, f"{field}[{k}]", text=False) for k, v in enumerate(b)], np.float64)
    if not (np.isfinite(xywh).all() and xywh[2] > 0 and xywh[3] > 0):
        raise InputError(path, field, "a box of positive width and height", b)
    return xywh


def _keypoints(kp: object, sk: Skeleton, path: Path, i: int) -> np.ndarray:
    """float64 [K, 3] (x, y, v) of annotation i's `keypoints`: 3 K numbers, v one of 0 (not labelled), 1 (labelled,
    hidden) or 2 (visible), x and y finite where v > 0; InputError naming the file and the annotation otherwise."""
    field, k = f"annotations[{i}].keypoints", sk.num_joints
    if not isinstance(kp, list) or len(kp) != 3 * k:
        raise InputError(path, field, f"{3 * k} numbers (x, y, v for the {k} keypoints of {sk.name})",
                         len(kp) if isinstance(kp, list) else "missing" if kp is _MISSING else _shown(kp))
    other = [v for v in kp if not isinstance(v, (int, float)) or isinstance(v, bool)]  # null, true, "2"
    if other:
        raise InputError(path, field, "numbers", _shown(other[0]))
    trip = np.asarray(kp, np.float64).reshape(k, 3)
    check_coco_triples(trip, sk.names, path, field)
    return trip


def _area(ann: dict, xywh: np.ndarray | None, path: Path, i: int) -> float:
    """Annotation i's `area` (pixels, >= 0), else the width x height of its checked bbox `xywh` (`_bbox`: pycocotools'
    box area; one formula for the people's extras and the OKS ground truth); InputError naming the field otherwise."""
    if "area" not in ann:
        assert xywh is not None  # `check_annotation` checks the bbox of an annotation without an area
        return float(xywh[2] * xywh[3])
    area = as_float(ann["area"], path, f"annotations[{i}].area", text=False)
    if not np.isfinite(area) or area < 0:
        raise InputError(path, f"annotations[{i}].area", "a number of pixels >= 0", ann["area"])
    return area


def _check_num_keypoints(ann: dict, k: int, path: Path, i: int) -> None:
    """InputError naming the field unless annotation i's optional `num_keypoints` is a count 0..k: a number, not
    text or true / false (pycocotools' OKS ignores a person whose num_keypoints == 0, which false would be)."""
    if "num_keypoints" in ann:
        n = as_int(ann["num_keypoints"], path, f"annotations[{i}].num_keypoints", text=False)
        if not 0 <= n <= k:
            raise InputError(path, f"annotations[{i}].num_keypoints", f"a count of labelled keypoints 0..{k}", n)
