"""COCO-format person-keypoint folders: DIR/annotations/{train,val,test}.json and DIR/images/, any skeleton.

The format of COCO's person_keypoints files, which annotation tools (CVAT, Label Studio) and other libraries export:
`images` [{id, file_name, width, height}], `annotations` [{id, image_id, category_id, keypoints [3 K] as (x, y, v)
triples, num_keypoints, bbox [x, y, w, h], area, iscrowd}], `categories` [{id, name, keypoints [K names],
skeleton [[a, b] 1-based links]}, plus optional fields: `data.skeletons`]. v = 0: not labelled (x = y = 0), 1:
labelled but not visible, 2: visible. Coordinates are read as they are (pixels, 0-based). The skeleton comes from
the file (`skeletons.from_coco_category`): a new skeleton takes no code.

Every bad input is one InputError naming the file and the field: a file that is not JSON, a missing `images` /
`annotations` / `categories`, a split without annotations, a keypoint count that is not 3 x the skeleton's, a
missing or empty `bbox`, an image id without an image entry, an image that is not there (its decoding is checked
when the crops are built, before training), a link or flip pair naming a joint the skeleton lacks. Crowd
annotations (iscrowd 1) and persons without a labelled keypoint are left out and counted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from convcorr_jax.data.pose_sets import PersonSet, image_folder
from convcorr_jax.data.skeletons import Skeleton, from_coco_category
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.errors import InputError


def annotation_file(root: str | os.PathLike, split: str) -> Path:
    """DIR/annotations/<split>.json; InputError naming it when it is missing.

    Args:
        root: the dataset folder.
        split: "train", "val" or "test".

    Returns:
        the path.
    """
    path = Path(root) / "annotations" / f"{split}.json"
    if not path.is_file():
        raise InputError(path, "file", f"the COCO-format annotations of split {split!r}", "missing file")
    return path


def read_json(path: Path) -> dict:
    """The parsed COCO-format file with its three lists checked; InputError naming the file and the field.

    Args:
        path: the .json file.

    Returns:
        the parsed object.
    """
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, "json", "a JSON file (COCO keypoint format)", f"{type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise InputError(path, "json", "an object with images, annotations and categories", type(obj).__name__)
    for field in ("images", "annotations", "categories"):
        if not isinstance(obj.get(field), list):
            raise InputError(path, field, "a list", obj.get(field))
    return obj


def file_skeleton(obj: dict, path: Path) -> tuple[Skeleton, set[int]]:
    """(the skeleton, the ids of the categories that carry it) of a parsed file: every category with keypoints
    must declare the same skeleton.

    Args:
        obj: the parsed file.
        path: the file, for messages.

    Returns:
        (Skeleton, category ids).
    """
    cats = [c for c in obj["categories"] if isinstance(c, dict) and "keypoints" in c]
    if not cats:
        raise InputError(path, "categories[].keypoints", "a category with keypoint names", None)
    sk = from_coco_category(cats[0], os.fspath(path))
    for c in cats[1:]:
        if tuple(c["keypoints"]) != sk.names:
            raise InputError(path, "categories[].keypoints", f"the same keypoints in every category {sk.names}",
                             c["keypoints"])
    return sk, {c.get("id") for c in cats}


def _bbox(ann: dict, path: Path, i: int) -> np.ndarray:
    b = ann.get("bbox")
    try:
        x, y, w, h = (float(v) for v in b)
    except (TypeError, ValueError):
        raise InputError(path, f"annotations[{i}].bbox", "[x, y, width, height]", b) from None
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise InputError(path, f"annotations[{i}].bbox", "a box of positive width and height", b)
    return np.array([x, y, x + w, y + h], np.float64)


def people(root: str | os.PathLike, split: str) -> PersonSet:
    """The people of a COCO-format folder's split (module docstring), one sample per annotation.

    Args:
        root: the folder holding annotations/ and images/.
        split: "train", "val" or "test" (annotations/<split>.json).

    Returns:
        the PersonSet: boxes and norm_boxes the annotations' bboxes; extras: labelled [K], index (position in
        `annotations`), image_id, annotation id, area.
    """
    path = annotation_file(root, split)
    obj = read_json(path)
    sk, cat_ids = file_skeleton(obj, path)
    folder = image_folder(Path(root) / "images", f"{path.name}'s")
    images = {im.get("id"): im for im in obj["images"] if isinstance(im, dict)}
    k = sk.num_joints
    samples, boxes, empty = [], [], 0
    for i, ann in enumerate(obj["annotations"]):
        if not isinstance(ann, dict) or ann.get("category_id") not in cat_ids or ann.get("iscrowd", 0):
            continue
        kp = ann.get("keypoints")
        if not isinstance(kp, list) or len(kp) != 3 * k:
            raise InputError(path, f"annotations[{i}].keypoints", f"{3 * k} numbers (x, y, v for the {k} keypoints "
                             f"of {sk.name})", len(kp) if isinstance(kp, list) else kp)
        box = _bbox(ann, path, i)
        try:
            trip = np.asarray(kp, np.float64).reshape(k, 3)
        except (TypeError, ValueError):
            raise InputError(path, f"annotations[{i}].keypoints", "numbers", kp) from None
        labelled = trip[:, 2] > 0
        if not labelled.any():
            empty += 1
            continue
        im = images.get(ann.get("image_id"))
        if im is None or not isinstance(im.get("file_name"), str):
            raise InputError(path, f"annotations[{i}].image_id", "the id of an entry of images (with file_name)",
                             ann.get("image_id"))
        image_path = folder / im["file_name"]
        if not image_path.is_file():
            raise InputError(image_path, "images[].file_name", f"an image file in {folder}", "missing file")
        pts = np.where(labelled[:, None], trip[:, :2], np.nan).astype(np.float32)
        samples.append(KeypointSample(
            points=pts, visible=trip[:, 2] == 2, names=sk.names, bbox=box.astype(np.float32), category="person",
            id=str(ann.get("id", i)), image_path=os.fspath(image_path),
            extras={"labelled": labelled, "index": i, "image_id": ann.get("image_id"), "annotation_id": ann.get("id"),
                    "area": float(ann.get("area", (box[2] - box[0]) * (box[3] - box[1])))}))
        boxes.append(box)
    if not samples:
        raise InputError(path, "annotations", f"at least one person annotation with labelled keypoints "
                         f"({empty} without any)", 0)
    b = np.stack(boxes)
    return PersonSet(samples, sk, b, b, os.fspath(path), empty)
