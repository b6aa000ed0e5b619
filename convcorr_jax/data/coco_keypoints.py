"""COCO-format person-keypoint folders, any skeleton, in either of two layouts (`LAYOUTS`):
  COCO's own:  DIR/annotations/person_keypoints_{train,val}2017.json with the images in DIR/{train,val}2017/;
  flat:        DIR/annotations/{train,val,test}.json with the images in DIR/images/.
A folder without a val file gets a val split carved from its train file: a seeded `VAL_FRACTION` of the train
file's images (`VAL_SEED`), their people val and the others train; `PersonSet.carved` records it and its summary
line says so. A folder in neither layout is one InputError naming the folder and both layouts.

The format of COCO's person_keypoints files, which annotation tools (CVAT, Label Studio) and other libraries export:
`images` [{id, file_name, width, height}], `annotations` [{id, image_id, category_id, keypoints [3 K] as (x, y, v)
triples, num_keypoints, bbox [x, y, w, h], area, iscrowd}], `categories` [{id, name, keypoints [K names],
skeleton [[a, b] 1-based links]}, plus optional fields: `data.skeletons`]. v = 0: not labelled (x = y = 0), 1:
labelled but not visible, 2: visible. Coordinates are read as they are (pixels, 0-based). The skeleton comes from
the file (`skeletons.from_coco_category`): a new skeleton takes no code.

Every bad input is one InputError naming the file and the field: a file that is not JSON, a missing `images` /
`annotations` / `categories`, a split without annotations, an annotation or image entry that is not an object, a
`category_id` naming no category of the file, a keypoint count that is not 3 x the skeleton's, a missing or empty
`bbox`, an image id without an image entry, an image that is not there (its decoding is checked when the crops are
built, before training), a link or flip pair naming a joint the skeleton lacks, a number written as text or as true /
false (`bbox`, `area`, `keypoints`, `num_keypoints`, `iscrowd`: 0 or 1), an id that is no integer or string (the `id`
of an image, a category or an annotation, an annotation's `image_id` and `category_id`: 1.0 and true are not the id
1) or that two images, two categories or two annotations share (naming both positions). Crowd
annotations (iscrowd 1), annotations of a category without keypoints and persons without a labelled keypoint are left
out and counted (`PersonSet.no_keypoints`, `PersonSet.left_out`; the split's summary line says how many).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from convcorr_jax.data._common import Loaded, as_float, as_int, check_coco_triples
from convcorr_jax.data.pose_dataset import PersonSet, PoseDataset, image_folder
from convcorr_jax.data.skeletons import COCO17, Skeleton, from_coco_category
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError, is_int

LAYOUTS = {"coco": "DIR/annotations/person_keypoints_{train,val}2017.json + DIR/{train,val}2017/ (COCO's own)",
           "flat": "DIR/annotations/{train,val,test}.json + DIR/images/"}
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1  # the part of the train file's images carved out as val where the folder has no val file
VAL_SEED = 0
_IMAGE_FIELDS = "id, file_name, width, height"
# inside `parsed_once`: (resolved path, size, inode, mtime_ns) -> the parsed file; None outside it (nothing kept)
_PARSED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("coco_parsed", default=None)
log = logging.getLogger(__name__)


def layout(root: str | os.PathLike) -> str:
    """The layout of a COCO-format folder: "coco" (COCO's own file names) or "flat" (`LAYOUTS`); InputError naming the
    folder and both layouts when it holds neither.

    Args:
        root: the dataset folder.

    Returns:
        "coco" or "flat".
    """
    ann = Path(root) / "annotations"
    if any((ann / f"person_keypoints_{s}2017.json").is_file() for s in SPLITS):
        return "coco"
    if any((ann / f"{s}.json").is_file() for s in SPLITS):
        return "flat"
    raise InputError(root, "annotations", f"a COCO-format keypoint folder in one of two layouts: {LAYOUTS['coco']}; "
                     f"or {LAYOUTS['flat']}", "neither")


def _split_files(root: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """(annotation file, images folder) of split "train", "val" or "test" of the COCO-format folder `root` in its
    layout (`layout`); either may be missing."""
    root = Path(root)
    if layout(root) == "coco":
        return root / "annotations" / f"person_keypoints_{split}2017.json", root / f"{split}2017"
    return root / "annotations" / f"{split}.json", root / "images"


def _annotation_file(root: str | os.PathLike, split: str) -> Path:
    """The annotation file of a split (`_split_files`); InputError naming it when it is missing."""
    path = _split_files(root, split)[0]
    if not path.is_file():
        raise InputError(path, "file", f"the COCO-format annotations of split {split!r}", "missing file")
    return path


@contextlib.contextmanager
def parsed_once() -> Iterator[None]:
    """Within the block, `read_annotations` parses each unchanged file once: the readers of one evaluation (the
    skeleton, each split's people, the OKS ground truth) share one parse of a large file such as COCO's
    person_keypoints_train2017.json (about 240 MB of JSON). A file is known by its resolved path, size, inode and
    modification time, so one rewritten inside the block is parsed again. The parsed files are dropped when the
    outermost block ends; outside any block every call parses.

    Returns:
        a context manager (its block gets None).
    """
    token = _PARSED.set({}) if _PARSED.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _PARSED.reset(token)


def read_annotations(path: str | os.PathLike) -> dict:
    """The parsed COCO-format annotation file with its three lists checked; InputError naming the file and the
    field. Inside `parsed_once` a file is parsed once and the same object is returned to every caller.

    Args:
        path: the .json file.

    Returns:
        the parsed object; inside `parsed_once` shared with the other callers: read it, never change it (copy
        what you change).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "a COCO-format .json annotation file", "missing file")
    memo = _PARSED.get()
    if memo is None:
        return _parse_json(path)
    st = path.stat()
    key = (os.fspath(path.resolve()), st.st_size, st.st_ino, st.st_mtime_ns)
    if key not in memo:
        memo[key] = _parse_json(path)
    return memo[key]


def _parse_json(path: Path) -> dict:
    """`read_annotations` without the memo."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, "json", "a JSON file (COCO keypoint format)", f"{type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise InputError(path, "json", "an object with images, annotations and categories", type(obj).__name__)
    for field in ("images", "annotations", "categories"):
        if not isinstance(obj.get(field), list):
            raise InputError(path, field, "a list", obj.get(field))
    return obj


def _file_skeleton(obj: dict, path: Path) -> tuple[Skeleton, set[object], set[object]]:
    """(the skeleton, the ids of the categories that carry it, the ids of all categories) of a parsed file: every
    category with keypoints must declare the same skeleton; the categories are checked (`_entries`).

    Args:
        obj: the parsed file.
        path: the file, for messages.

    Returns:
        (Skeleton, the keypoint categories' `id` values as read, every category's: integers or strings).
    """
    all_ids = set(_entries(obj["categories"], path, "categories", "id, name, keypoints, skeleton"))
    cats = [c for c in obj["categories"] if "keypoints" in c]
    if not cats:
        raise InputError(path, "categories[].keypoints", "a category with keypoint names", None)
    sk = from_coco_category(cats[0], os.fspath(path))
    for c in cats[1:]:
        if not isinstance(c["keypoints"], list) or tuple(c["keypoints"]) != sk.names:
            raise InputError(path, "categories[].keypoints", f"the same keypoints in every category {sk.names}",
                             c["keypoints"])
    return sk, {c["id"] for c in cats}, all_ids


def _bbox(ann: dict, path: Path, i: int) -> np.ndarray:
    """float64 (x0, y0, x1, y1) of annotation i's `bbox` [x, y, width, height]: four JSON numbers (not text, not
    true / false, which float() read as 1.0), finite, width and height > 0; InputError naming the file and the field
    otherwise."""
    field, b = f"annotations[{i}].bbox", ann.get("bbox")
    if not isinstance(b, list) or len(b) != 4:
        raise InputError(path, field, "[x, y, width, height]", repr(b) if isinstance(b, str) else b)
    x, y, w, h = (as_float(v, path, f"{field}[{k}]", text=False) for k, v in enumerate(b))
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise InputError(path, f"annotations[{i}].bbox", "a box of positive width and height", b)
    return np.array([x, y, x + w, y + h], np.float64)


def people(root: str | os.PathLike, split: str) -> PersonSet:
    """The people of a COCO-format folder's split (module docstring), one sample per annotation; "val" (and
    "train") carved from the train file where the folder has no val file.

    Args:
        root: the folder in one of `LAYOUTS`.
        split: "train", "val" or "test".

    Returns:
        the PersonSet: boxes and norm_boxes the annotations' bboxes; extras: labelled [K], index (position in
        `annotations`), image_id, annotation id, area; carved: how the split was carved (None: the file's own).
    """
    if split not in SPLITS:
        raise InputError(root, "split", f"one of {SPLITS}", split)
    if split == "test" or _split_files(root, "val")[0].is_file():
        return _read_people(_annotation_file(root, split), _split_files(root, split)[1])
    return carve(_annotation_file(root, "train"), _split_files(root, "train")[1], split)


def load_coco_keypoints(root: str | os.PathLike) -> Loaded:
    """Every person of each split file a COCO-format folder holds, train, val and test in that order (what
    `convcorr data inspect` reads); no split is carved.

    Args:
        root: the folder in one of `LAYOUTS`.

    Returns:
        a `Loaded` list of the `people` samples of each split file present.

    Raises:
        InputError: for a folder in neither layout, or a bad annotation (as `people`).
    """
    out = Loaded()
    for split in SPLITS:
        path, images = _split_files(root, split)
        if path.is_file():
            out.extend(_read_people(path, images).samples)
    return out


def carve(path: Path, folder: Path, split: str, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> PersonSet:
    """The train or val part of a train file split by image: a seeded `fraction` of the images of its people (at
    least one) are val, the others train; the split is logged and recorded in `PersonSet.carved`.

    Args:
        path: the train annotation file.
        folder: its images folder.
        split: "train" or "val".
        fraction: the part of the images that is val.
        seed: the seed of the draw.

    Returns:
        the PersonSet of the part.
    """
    everyone = _read_people(path, folder)
    ids = sorted({s.extras["image_id"] for s in everyone.samples}, key=lambda v: (isinstance(v, str), v))
    if len(ids) < 2:
        raise InputError(path, "images", "people in at least 2 images (to carve a val split from the train file, "
                         "which a folder without a val file needs)", len(ids))
    order = np.random.default_rng(seed).permutation(len(ids))
    val = {ids[i] for i in order[:max(1, int(round(fraction * len(ids))))]}
    keep = np.array([(s.extras["image_id"] in val) == (split == "val") for s in everyone.samples])
    carved = {"from": os.fspath(path), "val_fraction": float(fraction), "seed": int(seed), "images": len(val),
              "of_images": len(ids)}
    log.info("%s: no val file: val carved from %s (seed %d, %d of its %d images)", path.parent.parent, path.name,
             seed, len(val), len(ids))
    return PersonSet([s for s, k in zip(everyone.samples, keep) if k], everyone.skeleton, everyone.boxes[keep],
                     everyone.norm_boxes[keep], everyone.source, everyone.no_keypoints, carved, everyone.left_out)


def _keypoints(kp, sk, path: Path, i: int) -> np.ndarray:
    """float64 [K, 3] (x, y, v) of annotation i's `keypoints`: 3 K numbers, v one of 0 (not labelled), 1 (labelled,
    hidden) or 2 (visible), x and y finite where v > 0; InputError naming the file and the annotation otherwise."""
    field, k = f"annotations[{i}].keypoints", sk.num_joints
    if not isinstance(kp, list) or len(kp) != 3 * k:
        raise InputError(path, field, f"{3 * k} numbers (x, y, v for the {k} keypoints of {sk.name})",
                         len(kp) if isinstance(kp, list) else kp)
    other = [v for v in kp if not isinstance(v, (int, float)) or isinstance(v, bool)]  # null, true, "2"
    if other:
        raise InputError(path, field, "numbers", repr(other[0]) if isinstance(other[0], str) else other[0])
    trip = np.asarray(kp, np.float64).reshape(k, 3)
    check_coco_triples(trip, sk.names, path, field)
    return trip


def _area(ann: dict, path: Path, i: int) -> float:
    """Annotation i's `area` (pixels, >= 0), else its checked bbox's width x height (pycocotools' box area; one
    formula for the people's extras and the OKS ground truth); InputError naming the field otherwise."""
    if "area" not in ann:
        _bbox(ann, path, i)
        return float(ann["bbox"][2]) * float(ann["bbox"][3])
    area = as_float(ann["area"], path, f"annotations[{i}].area", text=False)
    if not np.isfinite(area) or area < 0:
        raise InputError(path, f"annotations[{i}].area", "a number of pixels >= 0", ann["area"])
    return area


def _id(value: object, path: Path, field: str) -> object:
    """An id as the file writes it: an integer or a string; InputError naming the field for anything else (true,
    which Python takes for the id 1; a float, null, a list, which the sample's id would get as their text)."""
    if isinstance(value, str) or is_int(value):
        return value
    raise InputError(path, field, "an id (an integer or a string)", value)


def _checked(ann: dict, k: int, path: Path, i: int) -> None:
    """InputError naming the field unless annotation i's optional `num_keypoints` is a count 0..k: a number, not
    text or true / false (pycocotools' OKS ignores a person whose num_keypoints == 0, which false is)."""
    if "num_keypoints" in ann:
        n = as_int(ann["num_keypoints"], path, f"annotations[{i}].num_keypoints", text=False)
        if not 0 <= n <= k:
            raise InputError(path, f"annotations[{i}].num_keypoints", f"a count of labelled keypoints 0..{k}", n)


def _annotation_ids(anns: list, path: Path) -> list[object]:
    """Each annotation's id, its sample id: its own `id` (`_id`; InputError naming the field for one another
    annotation has, as text: 3 and "3" would name two samples alike), else its position where no annotation has
    that id, else the next integer above them all: never an id the file has."""
    seen: dict[str, int] = {}
    top = len(anns) - 1
    for i, ann in enumerate(anns):
        if isinstance(ann, dict) and "id" in ann:
            key = _id(ann["id"], path, f"annotations[{i}].id")
            if str(key) in seen:
                raise InputError(path, f"annotations[{i}].id", f"an id no other annotation has (annotations"
                                 f"[{seen[str(key)]}] has it)", repr(key) if isinstance(key, str) else key)
            seen[str(key)] = i
            top = max(top, key) if isinstance(key, int) else top
    text = set(seen)
    free = (n for n in itertools.count(top + 1) if str(n) not in text)
    return [ann["id"] if isinstance(ann, dict) and "id" in ann else i if str(i) not in text else next(free)
            for i, ann in enumerate(anns)]


def _left_out(ann: object, path: Path, i: int, cat_ids: set, all_ids: set) -> str | None:
    """Why annotation i is left out by convention ("other-category": its category has no keypoints; "crowd":
    iscrowd set), None to read it; InputError naming the file and the annotation when it is no object, its
    `category_id` names no category of the file (an integer or a string: 1.0 and true are not the id 1) or its
    `iscrowd` is not 0 or 1."""
    if not isinstance(ann, dict):
        raise InputError(path, f"annotations[{i}]", "an object (id, image_id, category_id, keypoints, bbox, ...)",
                         type(ann).__name__)
    cat = ann.get("category_id")
    if not (isinstance(cat, str) or is_int(cat)) or cat not in all_ids:  # true, 1.0: not the id 1
        raise InputError(path, f"annotations[{i}].category_id", f"the id of one of the file's categories "
                         f"{tuple(sorted(all_ids, key=str))} (annotation id {ann.get('id')})",
                         repr(cat) if isinstance(cat, str) else cat)
    crowd = as_int(ann.get("iscrowd", 0), path, f"annotations[{i}].iscrowd", text=False)  # "0" was a crowd
    if crowd not in (0, 1):
        raise InputError(path, f"annotations[{i}].iscrowd", "0 or 1", crowd)
    return "other-category" if cat not in cat_ids else "crowd" if crowd else None


def _entries(entries: list, path: Path, name: str, about: str) -> dict[object, tuple[int, dict]]:
    """The file's `images` or `categories` (`name`) by id: id -> (position, entry); InputError naming the field for
    an entry that is not an object (`about`: its fields), whose `id` is no integer or string (`_id`, one rule for
    both lists) or is an earlier entry's (the last entry of an id won)."""
    by_id: dict[object, tuple[int, dict]] = {}
    for j, e in enumerate(entries):
        if not isinstance(e, dict):
            raise InputError(path, f"{name}[{j}]", f"an object ({about})", type(e).__name__)
        key = _id(e.get("id"), path, f"{name}[{j}].id")
        if key in by_id:
            raise InputError(path, f"{name}[{j}].id", f"an id no other entry of {name} has ({name}[{by_id[key][0]}] "
                             "has it)", repr(key) if isinstance(key, str) else key)
        by_id[key] = (j, e)
    return by_id


def _image(image_id: object, by_id: dict, path: Path, i: int) -> tuple[int, dict]:
    """(position, entry) of the entry of images that annotation i's `image_id` names (`by_id`: `_entries`); InputError
    naming the field for an id that names none (true is not the id 1, "1" not 1). One rule for every annotation."""
    if not (isinstance(image_id, str) or is_int(image_id)) or image_id not in by_id:
        raise InputError(path, f"annotations[{i}].image_id", "the id of an entry of images",
                         repr(image_id) if isinstance(image_id, str) else image_id)
    return by_id[image_id]


def _image_path(image_id: object, by_id: dict, folder: Path, path: Path, i: int) -> Path:
    """The image file of annotation i: the `file_name` of its entry of images (`_image`), in `folder`; InputError
    naming the field for a file name that is not text or a missing file."""
    j, im = _image(image_id, by_id, path, i)
    if not isinstance(im.get("file_name"), str):
        raise InputError(path, f"images[{j}].file_name", "the image's file name (a string)", im.get("file_name"))
    image_path = folder / im["file_name"]
    if not image_path.is_file():
        raise InputError(image_path, "images[].file_name", f"an image file in {folder}", "missing file")
    return image_path


def _read_people(path: Path, images: Path) -> PersonSet:
    """The PersonSet of the COCO-format annotation file `path` (module docstring) whose `file_name`s are in the folder
    `images`, one sample per annotation."""
    obj = read_annotations(path)
    sk, cat_ids, all_ids = _file_skeleton(obj, path)
    folder = image_folder(images, f"{path.name}'s")
    by_id = _entries(obj["images"], path, "images", _IMAGE_FIELDS)
    ids = _annotation_ids(obj["annotations"], path)
    samples, boxes, empty, left_out = [], [], 0, {"crowd": 0, "other-category": 0}
    for i, ann in enumerate(obj["annotations"]):
        why = _left_out(ann, path, i, cat_ids, all_ids)
        if why is not None:
            left_out[why] += 1
            continue
        trip = _keypoints(ann.get("keypoints"), sk, path, i)
        box = _bbox(ann, path, i)
        _checked(ann, sk.num_joints, path, i)
        labelled = trip[:, 2] > 0
        if not labelled.any():
            empty += 1
            continue
        image_path = _image_path(ann.get("image_id"), by_id, folder, path, i)
        pts = np.where(labelled[:, None], trip[:, :2], np.nan).astype(np.float32)
        samples.append(KeypointSample(
            points=pts, visible=trip[:, 2] == 2, names=sk.names, bbox=box.astype(np.float32), category="person",
            id=str(ids[i]), image_path=os.fspath(image_path),
            extras={"labelled": labelled, "index": i, "image_id": ann.get("image_id"), "annotation_id": ann.get("id"),
                    "area": _area(ann, path, i)}))
        boxes.append(box)
    if not samples:
        raise InputError(path, "annotations", f"at least one person annotation with labelled keypoints "
                         f"({empty} without any, {left_out['crowd']} crowd, {left_out['other-category']} of "
                         "another category)", 0)
    b = np.stack(boxes)
    return PersonSet(samples, sk, b, b, os.fspath(path), empty, left_out=left_out)


def ground_truth_annotations(path: str | os.PathLike) -> list[dict]:
    """Copies of a file's annotations as pycocotools' OKS evaluation reads them, each checked as `people` checks a
    person (crowd and other-category ones too: their id, bbox, area, iscrowd and image_id), its id its position + 1
    (pycocotools compares ids as numbers and takes 0 for no match: a file's id 0 or text id scored a person wrongly
    or failed inside it; detections name annotations by position), and filled in where the file leaves a field
    out: iscrowd 0, area (the bbox's width x height), num_keypoints (the
    labelled keypoints; 0 for an other-category annotation, which pycocotools then ignores); InputError naming the
    file and the field otherwise (an other-category annotation needs a bbox only for a missing area).

    Args:
        path: the COCO-format .json (read with `read_annotations`).

    Returns:
        the annotations [dict] in the file's order (the positions the people's extras["index"] name).
    """
    path = Path(path)
    obj = read_annotations(path)
    sk, cat_ids, all_ids = _file_skeleton(obj, path)
    by_id = _entries(obj["images"], path, "images", _IMAGE_FIELDS)
    _annotation_ids(obj["annotations"], path)  # checked as the people's reader checks them
    out = []
    for i, ann in enumerate(obj["annotations"]):
        why, ann = _left_out(ann, path, i, cat_ids, all_ids), dict(ann)
        _checked(ann, sk.num_joints, path, i)
        _image(ann.get("image_id"), by_id, path, i)  # pycocotools leaves an annotation of no image out silently
        kp = None if why == "other-category" else _keypoints(ann.get("keypoints"), sk, path, i)
        if why != "other-category" or "bbox" in ann:  # an other-category one needs a bbox only for a missing area
            _bbox(ann, path, i)
        ann.update(id=i + 1, iscrowd=ann.get("iscrowd", 0), area=_area(ann, path, i),
                   num_keypoints=ann.get("num_keypoints", 0 if kp is None else int((kp[:, 2] > 0).sum())))
        out.append(ann)
    return out


# the pose dataset kind "coco" (`data.pose_sets`): COCO-17 until a folder's file declares its own skeleton; OKS AP
DATASET = PoseDataset(people, COCO17, reads_skeleton=True, oks=True,
                      root_about=f"a COCO-format keypoint folder ({LAYOUTS['coco']}; or {LAYOUTS['flat']})")
