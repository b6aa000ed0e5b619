"""PF-PASCAL (Ham, Cho, Schmid and Ponce, Proposal Flow, TPAMI 2018) in the layout HPF and SCOT read.

Layout under `root` (the `PF-PASCAL` folder):

    trn_pairs.csv, val_pairs.csv, test_pairs.csv    header source_image,target_image,class[,flip|,XA,YA,XB,YB]
    JPEGImages/<name>.jpg                           the csv's image paths are read by file name
    Annotations/<class>/<stem>.mat                  `kps` [K x 2] (x, y) 1-based pixels, NaN rows for parts the
                                                    image does not show; `bbox` [1 x 4] the object box

`class` is the 1-based index into `PF_PASCAL_CLASSES`. A pair's keypoints are the parts annotated (non-NaN) in
both images, in the .mat's order (HPF's `pfpascal.py`); the csv's own XA..YB columns, where present, are not read.
Coordinates are made 0-based (minus 1). PCK threshold: alpha times max(height, width) of the target image
(`keypoint_pairs.pair_norms`, norm "image"), as HPF's and SCOT's PF-PASCAL evaluation.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from convcorr_jax.data._common import load_mat
from convcorr_jax.data.keypoint_pairs import KeypointPairs, pad_points
from convcorr_jax.core.errors import InputError

PF_PASCAL_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
SPLITS = ("trn", "val", "test")
COLUMNS = ("source_image", "target_image", "class")


def _split_csv(root: str | os.PathLike, split: str) -> Path:
    """The pair list `<root>/<split>_pairs.csv`; InputError for an unknown split or a missing file.

    Args:
        root: the PF-PASCAL folder.
        split: "trn", "val" or "test".

    Returns:
        The csv's Path.
    """
    if split not in SPLITS:
        raise InputError("pf_pascal", "split", f"one of {list(SPLITS)}", split)
    path = Path(root) / f"{split}_pairs.csv"
    if not path.is_file():
        raise InputError(path, "pair list", f"PF-PASCAL's {split}_pairs.csv (HPF/SCOT layout, see docs/data.md)",
                         "missing file")
    return path


def _read_pairs_csv(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """(source file name, target file name, class name) per row of a PF-PASCAL pair list.

    Args:
        path: a pair list whose header starts source_image,target_image,class (further columns are not read).

    Returns:
        list of (source, target, class) str triples in row order (blank rows skipped): the image paths reduced to
        their file names, the 1-based class index mapped to its `PF_PASCAL_CLASSES` name.

    Raises:
        InputError: for an unreadable file, a wrong header, a short row, a class outside 1..20, or no pair after the
            header.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, "csv", "a readable UTF-8 pair list", f"{type(e).__name__}: {e}") from None
    header = [h.strip() for h in rows[0]] if rows else []
    if header[:3] != list(COLUMNS):
        raise InputError(path, "header", ",".join(COLUMNS) + " (then optional columns)", ",".join(header) or "empty")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 3:
            raise InputError(f"{path}:{n}", "row", "source_image,target_image,class", ",".join(row))
        try:
            value = float(row[2])
        except ValueError:
            value = 0.0
        cls = int(value) if np.isfinite(value) and value == int(value) else 0  # "inf", "2.5": not a class
        if not 1 <= cls <= len(PF_PASCAL_CLASSES):
            raise InputError(f"{path}:{n}", "class", f"an integer 1..{len(PF_PASCAL_CLASSES)} (PF_PASCAL_CLASSES)",
                             row[2])
        out.append((Path(row[0].strip()).name, Path(row[1].strip()).name, PF_PASCAL_CLASSES[cls - 1]))
    if not out:
        raise InputError(path, "rows", "at least one pair after the header", 0)
    return out


def _read_annotation(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A PF-PASCAL annotation .mat -> (keypoints, object box), 0-based.

    Args:
        path: an Annotations/<class>/<stem>.mat file.

    Returns:
        (kps, bbox): kps float64 [K, 2] 0-based (x, y) pixels (`kps` minus 1, NaN rows kept); bbox float64 [4]
        0-based (x0, y0, x1, y1), NaN when the file has no `bbox`.

    Raises:
        InputError: for a missing or unreadable file, no numeric K x 2 `kps`, a `kps` row with one coordinate NaN
            or with inf (a missing part is NaN in both), or a `bbox` that is not 4 numbers.
    """
    path = Path(path)
    m = load_mat(path, "the image's keypoint annotation (Annotations/<class>/<stem>.mat)")
    if "kps" not in m:
        raise InputError(path, "kps", "a variable 'kps' [K x 2]", sorted(k for k in m if k[0] != "_"))
    k = np.asarray(m["kps"])
    if not np.issubdtype(k.dtype, np.number) or k.ndim != 2 or k.shape[1] != 2:
        raise InputError(path, "kps", "a numeric K x 2 array (x, y per row, NaN for a missing part)",
                         f"{k.dtype} {k.shape}")
    k = k.astype(np.float64)
    odd = np.flatnonzero(~(np.isfinite(k).all(1) | np.isnan(k).all(1)))  # half a point, or inf: not "missing"
    if odd.size:
        raise InputError(path, "kps", "finite (x, y) rows, or NaN in both for a missing part",
                         f"{k[odd[0]].tolist()} at kps[{odd[0]}] ({odd.size} such in all)")
    box = np.asarray(m.get("bbox", np.full((1, 4), np.nan)))
    if not np.issubdtype(box.dtype, np.number) or box.size != 4:
        raise InputError(path, "bbox", "4 numbers (x0, y0, x1, y1)", f"{box.dtype} {box.shape}")
    return k - 1.0, box.astype(np.float64).ravel() - 1.0


def load_pf_pascal(root: str | os.PathLike, split: str = "test") -> KeypointPairs:
    """The pairs of `split` under `root` in csv order, as `KeypointPairs` (norm "image").

    Args:
        root: the PF-PASCAL folder (module docstring).
        split: "trn", "val" or "test".

    Returns:
        `KeypointPairs`: images the JPEGImages/ paths, each once; pairs int64 [P, 2]; src, trg float64 [P, K, 2]
        0-based (x, y) of the parts annotated in both images (NaN rows pad to the longest pair); category [P] class
        names; names "<split>:<source>-<target>"; trg_box float64 [P, 4] the target's annotated object box, 0-based.

    Raises:
        InputError: naming the file and field for a missing or malformed pair list or annotation, source and target
            annotations of different lengths, or a pair sharing no keypoint.
    """
    root = Path(root)
    rows = _read_pairs_csv(_split_csv(root, split))
    images: dict[str, int] = {}
    pairs, src, trg, boxes, names = [], [], [], [], []
    cache: dict[Path, tuple[np.ndarray, np.ndarray]] = {}

    def annotation(name: str, cls: str) -> tuple[np.ndarray, np.ndarray]:
        path = root / "Annotations" / cls / (Path(name).stem + ".mat")
        if path not in cache:
            cache[path] = _read_annotation(path)
        return cache[path]

    for s_name, t_name, cls in rows:
        (ks, _), (kt, bt) = annotation(s_name, cls), annotation(t_name, cls)
        if len(ks) != len(kt):
            raise InputError(root / "Annotations" / cls / (Path(t_name).stem + ".mat"), "kps",
                             f"{len(ks)} rows, as the source {s_name} (one per part of {cls})", len(kt))
        both = np.all(np.isfinite(ks), -1) & np.all(np.isfinite(kt), -1)
        if not both.any():
            raise InputError(f"{s_name} -> {t_name}", "kps", "at least one part annotated in both images", 0)
        pairs.append([images.setdefault(os.fspath(root / "JPEGImages" / n), len(images)) for n in (s_name, t_name)])
        src.append(ks[both])
        trg.append(kt[both])
        boxes.append(bt)
        names.append(f"{split}:{s_name}-{t_name}")
    return KeypointPairs(images=tuple(images), pairs=np.array(pairs, np.int64).reshape(-1, 2), src=pad_points(src),
                         trg=pad_points(trg), category=np.array([r[2] for r in rows], dtype=object).astype(str),
                         names=tuple(names), trg_box=np.array(boxes, np.float64).reshape(-1, 4), norm="image")
