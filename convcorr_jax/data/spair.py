"""SPair-71k (Min, Lee, Ponce and Cho, 2019) in its release layout, as HPF and SCOT read it.

Layout under `root` (the `SPair-71k` folder):

    PairAnnotation/<split>/<pair>.json    split trn, val or test; one file per pair with src_imname, trg_imname,
                                          category, src_kps, trg_kps ([[x, y], ...], the keypoints both images
                                          show, row k of one matching row k of the other), src_bndbox,
                                          trg_bndbox ([x0, y0, x1, y1]) and the difficulty flags
    JPEGImages/<category>/<name>.jpg      the images
    ImageAnnotation/, Layout/, Segmentation/    not read

Pairs are in file-name order of the json files (the release's Layout/large/<split>.txt lists the same names).
Coordinates are used as given (0-based pixels). PCK threshold: alpha times max(x1 - x0, y1 - y0) of the target's
box `trg_bndbox` (`keypoint_pairs.pair_norms`, norm "box"), as HPF's and SCOT's SPair-71k evaluation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from convcorr_jax.data.keypoint_pairs import KeypointPairs, pad_points
from convcorr_jax.core.errors import InputError, check_shape

SPLITS = ("trn", "val", "test")
SPAIR_CATEGORIES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dog", "horse",
    "motorbike", "person", "pottedplant", "sheep", "train", "tvmonitor",
)


def _numbers(value, path: Path, field: str, shape: tuple) -> np.ndarray:
    """`value` as float64 of `shape` (None: any length on that axis), else InputError naming the field."""
    try:
        a = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        a = None
    want = "[[x, y], ...]" if len(shape) == 2 else "[x0, y0, x1, y1]"
    if a is None:
        raise InputError(path, field, f"numbers {want}", repr(value)[:80])
    check_shape(a, [f"n{i}" if s is None else s for i, s in enumerate(shape)], path, field, note=f"(numbers {want})")
    if not np.all(np.isfinite(a)):  # NaN rows would pass for the padding of `pad_points`
        raise InputError(path, field, f"finite numbers {want}", "NaN or inf")
    return a


def _read_pair(path: str | os.PathLike) -> dict:
    """One SPair-71k pair annotation -> its images, category, keypoints and target box.

    Args:
        path: a PairAnnotation/<split>/<pair>.json file.

    Returns:
        {"src", "trg": image names (str), "category": str, "src_kps", "trg_kps": float64 [K, 2] (x, y) 0-based
        pixels as given (K >= 1, the same in both), "trg_bndbox": float64 [4] (x0, y0, x1, y1)}, all finite.

    Raises:
        InputError: naming the file and field when one is missing or malformed (not finite numbers of the shape),
            the target box has no size, or the category is unknown.
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, "json", "a readable SPair-71k pair annotation", f"{type(e).__name__}: {e}") from None
    if not isinstance(d, dict):
        raise InputError(path, "json", "an object with src_imname, trg_imname, ...", type(d).__name__)
    for field in ("src_imname", "trg_imname", "category", "src_kps", "trg_kps", "trg_bndbox"):
        if field not in d:
            raise InputError(path, field, "present (SPair-71k pair annotation)", "missing")
    if d["category"] not in SPAIR_CATEGORIES:
        raise InputError(path, "category", f"one of {list(SPAIR_CATEGORIES)}", d["category"])
    src = _numbers(d["src_kps"], path, "src_kps", (None, 2))
    trg = _numbers(d["trg_kps"], path, "trg_kps", (None, 2))
    if len(src) != len(trg) or not len(src):
        raise InputError(path, "trg_kps", f"as many keypoints as src_kps ({len(src)}), at least one", len(trg))
    box = _numbers(d["trg_bndbox"], path, "trg_bndbox", (4,))
    if not max(box[2] - box[0], box[3] - box[1]) > 0:  # the threshold is alpha x its longer side
        raise InputError(path, "trg_bndbox", "a box [x0, y0, x1, y1] of some size (x1 > x0 or y1 > y0: PCK's "
                         "threshold is alpha x its longer side)", box.tolist())
    return {"src": str(d["src_imname"]), "trg": str(d["trg_imname"]), "category": d["category"], "src_kps": src,
            "trg_kps": trg, "trg_bndbox": box}


def load_spair(root: str | os.PathLike, split: str = "test") -> KeypointPairs:
    """The pairs of `split` under `root` in json file-name order, as `KeypointPairs` (norm "box").

    Args:
        root: the SPair-71k folder (module docstring).
        split: "trn", "val" or "test".

    Returns:
        `KeypointPairs`: images the JPEGImages/<category>/ paths, each once; pairs int64 [P, 2]; src, trg float64
        [P, K, 2] (NaN rows pad to the longest pair); category [P]; names the json file stems; trg_box float64 [P, 4]
        the target's `trg_bndbox`.

    Raises:
        InputError: naming the file and field for an unknown split, a missing folder or a malformed annotation.
    """
    if split not in SPLITS:
        raise InputError("spair", "split", f"one of {list(SPLITS)}", split)
    root = Path(root)
    folder = root / "PairAnnotation" / split
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise InputError(folder, "pair annotations", f"SPair-71k's PairAnnotation/{split}/*.json (see docs/data.md)",
                         "missing" if not folder.is_dir() else "no .json file")
    images: dict[str, int] = {}
    rows = [_read_pair(f) for f in files]
    pairs = [[images.setdefault(os.fspath(root / "JPEGImages" / r["category"] / r[k]), len(images))
              for k in ("src", "trg")] for r in rows]
    return KeypointPairs(images=tuple(images), pairs=np.array(pairs, np.int64).reshape(-1, 2),
                         src=pad_points([r["src_kps"] for r in rows]), trg=pad_points([r["trg_kps"] for r in rows]),
                         category=np.array([r["category"] for r in rows]), names=tuple(f.stem for f in files),
                         trg_box=np.array([r["trg_bndbox"] for r in rows]).reshape(-1, 4), norm="box")
