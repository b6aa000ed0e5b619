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
false (`bbox`, `area`, `keypoints`, `num_keypoints`; `iscrowd` is 0 or 1, false / true read as 0 / 1), an id that is
no integer or string (the `id` of an image, a category or an annotation, an annotation's `image_id` and
`category_id`: a whole-number float such as 1.0 is its integer; 1.5 and true are refused), two images, two categories
or two annotations of one id as text (naming both positions), or a list whose ids mix integers and strings
(`data.coco_checks`). Every annotation is checked so, crowds and other categories' too, so the OKS ground truth
(`ground_truth_annotations`) refuses nothing the people's reader takes. Crowd annotations (iscrowd 1), annotations of
a category without keypoints and persons without a labelled keypoint are left out and counted
(`PersonSet.no_keypoints`, `PersonSet.left_out`; the split's summary line says how many).
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

from convcorr_jax.data._common import Loaded, _shown
from convcorr_jax.data.coco_checks import CheckedAnnotation, annotation_ids, check_annotation, entries_by_id
from convcorr_jax.data.pose_dataset import PersonSet, PoseDataset, image_folder
from convcorr_jax.data.skeletons import COCO17, Skeleton, from_coco_category
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError

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


def _file_skeleton(obj: dict, path: Path) -> tuple[Skeleton, tuple[set, set]]:
    """(the skeleton, (the ids of the categories that carry it, the ids of all categories)) of a parsed file: every
    category with keypoints must declare the same skeleton; the categories are checked (`entries_by_id`)."""
    by_id = entries_by_id(obj["categories"], path, "categories", "id, name, keypoints, skeleton")
    cats = [(key, c) for key, (_, c) in by_id.items() if "keypoints" in c]
    if not cats:
        raise InputError(path, "categories[].keypoints", "a category with keypoint names", None)
    sk = from_coco_category(cats[0][1], os.fspath(path))
    for _, c in cats[1:]:
        if not isinstance(c["keypoints"], list) or tuple(c["keypoints"]) != sk.names:
            raise InputError(path, "categories[].keypoints", f"the same keypoints in every category {sk.names}",
                             c["keypoints"])
    return sk, ({key for key, _ in cats}, set(by_id))


def people(root: str | os.PathLike, split: str) -> PersonSet:
    """The people of a COCO-format folder's split (module docstring), one sample per annotation; "val" (and
    "train") carved from the train file where the folder has no val file.

    Args:
        root: the folder in one of `LAYOUTS`.
        split: "train", "val" or "test".

    Returns:
        the PersonSet: boxes and norm_boxes the annotations' bboxes; extras: labelled [K], index (position in
        `annotations`), image_id and annotation_id (`data.coco_checks.coco_id`: 1.0 is 1; annotation_id None where
        the file has none), area; carved: how the split was carved (None: the file's own).
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
    ids = sorted({s.extras["image_id"] for s in everyone.samples})  # of one kind (`coco_checks`): they sort
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


def _read_checked(path: Path) -> tuple[dict, Skeleton, list[int | str | None], list[CheckedAnnotation]]:
    """(the parsed file, its skeleton, each annotation's own id (`annotation_ids`), each annotation checked
    (`check_annotation`: persons, crowds and other categories' alike)) of a COCO-format file; InputError naming the
    file and the field of the first bad entry."""
    obj = read_annotations(path)
    sk, cats = _file_skeleton(obj, path)
    by_id = entries_by_id(obj["images"], path, "images", _IMAGE_FIELDS)
    ids = annotation_ids(obj["annotations"], path)
    return obj, sk, ids, [check_annotation(a, i, path, sk, cats, by_id) for i, a in enumerate(obj["annotations"])]


def _sample_ids(own: list[int | str | None]) -> list[str]:
    """Each annotation's sample id: its own id (`annotation_ids`), else its position where no annotation has that
    id as text, else the next integer above them all: never an id the file has."""
    text = {str(v) for v in own if v is not None}
    top = max([len(own) - 1, *(v for v in own if isinstance(v, int))])
    free = (n for n in itertools.count(top + 1) if str(n) not in text)
    return [str(v) if v is not None else str(i) if str(i) not in text else str(next(free)) for i, v in enumerate(own)]


def _image_path(j: int, image: dict, folder: Path, path: Path) -> Path:
    """The file of images[j] (`image`): its `file_name`, in `folder`; InputError naming the field for a file name
    that is not text or a missing file."""
    if not isinstance(image.get("file_name"), str):
        raise InputError(path, f"images[{j}].file_name", "the image's file name (a string)",
                         _shown(image["file_name"]) if "file_name" in image else "missing")
    image_path = folder / image["file_name"]
    if not image_path.is_file():
        raise InputError(image_path, f"images[{j}].file_name", f"an image file in {folder}", "missing file")
    return image_path


def _read_people(path: Path, images: Path) -> PersonSet:
    """The PersonSet of the COCO-format annotation file `path` (module docstring) whose `file_name`s are in the folder
    `images`, one sample per annotation."""
    obj, sk, own, checked = _read_checked(path)
    folder = image_folder(images, f"{path.name}'s")
    ids = _sample_ids(own)
    samples, boxes, empty, left_out = [], [], 0, {"crowd": 0, "other-category": 0}
    for i, a in enumerate(checked):
        if a.left_out is not None:
            left_out[a.left_out] += 1
            continue
        assert a.keypoints is not None and a.box is not None  # a person's are checked (`check_annotation`)
        labelled = a.keypoints[:, 2] > 0
        if not labelled.any():
            empty += 1
            continue
        image_path = _image_path(a.image, obj["images"][a.image], folder, path)
        pts = np.where(labelled[:, None], a.keypoints[:, :2], np.nan).astype(np.float32)
        samples.append(KeypointSample(
            points=pts, visible=a.keypoints[:, 2] == 2, names=sk.names, bbox=a.box.astype(np.float32),
            category="person", id=ids[i], image_path=os.fspath(image_path),
            extras={"labelled": labelled, "index": i, "image_id": a.image_id, "annotation_id": own[i],
                    "area": a.area}))
        boxes.append(a.box)
    if not samples:
        raise InputError(path, "annotations", f"at least one person annotation with labelled keypoints "
                         f"({empty} without any, {left_out['crowd']} crowd, {left_out['other-category']} of "
                         "another category)", 0)
    b = np.stack(boxes)
    return PersonSet(samples, sk, b, b, os.fspath(path), empty, left_out=left_out)


def ground_truth_annotations(path: str | os.PathLike) -> list[dict]:
    """Copies of a file's annotations as pycocotools' OKS evaluation reads them: each checked as `people` checks it
    (`check_annotation`: crowd and other-category ones too; InputError naming the file and the field), its id its
    position + 1 (pycocotools compares ids as numbers and takes 0 for no match, so a file's id 0 or text id would
    score a person wrongly or fail inside it; detections name annotations by position), image_id and category_id as
    `data.coco_checks.coco_id` reads them (1.0: 1), iscrowd 0 or 1 (0 where the file leaves it out), area the file's
    or the bbox's width x height, num_keypoints the file's or the labelled keypoints (0 for an other-category
    annotation, which pycocotools then ignores).

    Args:
        path: the COCO-format .json (read with `read_annotations`).

    Returns:
        the annotations [dict] in the file's order (the positions the people's extras["index"] name).
    """
    obj, _, _, checked = _read_checked(Path(path))
    out = []
    for i, (ann, a) in enumerate(zip(obj["annotations"], checked)):
        labelled = 0 if a.keypoints is None else int((a.keypoints[:, 2] > 0).sum())
        out.append({**ann, "id": i + 1, "image_id": a.image_id, "category_id": a.category_id, "iscrowd": a.crowd,
                    "area": a.area,
                    "num_keypoints": ann.get("num_keypoints", labelled)})
    return out


# the pose dataset kind "coco" (`data.pose_sets`): COCO-17 until a folder's file declares its own skeleton; OKS AP
DATASET = PoseDataset(people, COCO17, reads_skeleton=True, oks=True,
                      root_about=f"a COCO-format keypoint folder ({LAYOUTS['coco']}; or {LAYOUTS['flat']})")
