"""Face landmarks: iBUG/300-W `.pts` (68 points), Helen's original 194-point files, COCO-style landmark json.

Coordinate conventions: `.pts` coordinates are 1-based (the iBUG site puts the top-left pixel at (1, 1)); they
are converted to 0-based here. Helen's 194-point `.txt` files are kept as stored (their base is not documented;
they come from Helen's own annotation tool). COCO-style json (mmpose) is read with `coordinate_base` (0 for COCO
proper; the mmpose 300-VW json copies the `.pts` values verbatim, so it is 1-based).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from convcorr_jax.data._common import Loaded, check_coco_triples, collect, points_bbox
# the 68 iBUG point names live with every dataset's joint names (`data.skeletons`: FACE68, their mirror pairs)
from convcorr_jax.data.skeletons import IBUG_68_NAMES
from convcorr_jax.data.types import IMAGE_EXTENSIONS, KeypointSample
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.core.io import write_text


HELEN_194_NAMES: tuple[str, ...] = tuple(
    f"{g}_{i}" for g, n in [("jaw", 41), ("nose", 17), ("upper_lip", 14), ("lower_lip", 14), ("teeth", 28),
                            ("right_eye", 20), ("left_eye", 20), ("right_brow", 20), ("left_brow", 20)]
    for i in range(n))

OUTER_EYE_CORNERS = (36, 45)  # 0-based; 1-based 37 and 46 in the 300-W evaluation code


def interocular_distance(points: np.ndarray) -> np.ndarray:
    """Outer-eye-corner distance [...] of 68-point shapes [..., 68, 2] (the 300-W NME normaliser).

    Args:
        points: [..., 68, 2] (x, y) pixel points in iBUG order (any leading shape).

    Returns:
        float64 [...]: the distance in pixels between points 36 and 45 (`OUTER_EYE_CORNERS`) of each shape.

    Raises:
        InputError: for points whose last two axes are not (68, 2).
    """
    p = np.asarray(points, np.float64)
    check_shape(p, "* 68 2", "interocular_distance", "points")
    return np.linalg.norm(p[..., OUTER_EYE_CORNERS[0], :] - p[..., OUTER_EYE_CORNERS[1], :], axis=-1)


def read_pts(path: str | os.PathLike, n_points: int | None = None) -> np.ndarray:
    """Read an iBUG `.pts` file -> float32 [N, 2] 0-based (x, y).

    Checks the header's `n_points` against the listed points (and `n_points` when given). Tolerates CRLF line ends
    and extra spaces.

    Args:
        path: the `.pts` file ('key: value' header lines, then '{', one 'x y' line per point, '}').
        n_points: the number of points the file must hold (None: any).

    Returns:
        float32 [N, 2] 0-based (x, y) pixels (the file's 1-based values minus 1).

    Raises:
        InputError: for an unreadable file, missing braces or `n_points` header, a point count that differs from the
            header (or from `n_points`), or non-numeric or non-finite coordinates.
    """
    p = Path(path)
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8-sig", errors="strict").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(p, "file", "a readable text .pts file", str(e)) from None
    header = {}
    try:
        start = lines.index("{")
        end = lines.index("}", start + 1)
    except ValueError:
        raise InputError(p, "braces", "a '{' line, the points, then a '}' line", "missing brace") from None
    for ln in lines[:start]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            header[k.strip()] = v.strip()
        elif ln:
            raise InputError(p, "header", "'key: value' lines (version, n_points)", ln)
    if "n_points" not in header:
        raise InputError(p, "n_points", "a header line 'n_points: N'", "missing")
    try:
        n = int(header["n_points"])
    except ValueError:
        raise InputError(p, "n_points", "an integer", header["n_points"]) from None
    rows = [ln for ln in lines[start + 1:end] if ln]
    if len(rows) != n:
        raise InputError(p, "points", f"{n} point lines (header n_points)", len(rows))
    if n_points is not None and n != n_points:
        raise InputError(p, "n_points", f"{n_points}", n)
    try:
        arr = np.array([[float(v) for v in r.split()] for r in rows], np.float64)
    except ValueError as e:
        raise InputError(p, "points", "two numbers 'x y' per line", str(e)) from None
    if arr.shape != (n, 2):
        raise InputError(p, "points", "two numbers 'x y' per line", arr.shape)
    if not np.all(np.isfinite(arr)):
        raise InputError(p, "points", "finite coordinates", "NaN or inf")
    return (arr - 1.0).astype(np.float32)


def write_pts(path: str | os.PathLike, points: np.ndarray) -> None:
    """Write 0-based points [N, 2] as an iBUG `.pts` file (1-based, `%.6f`), atomically.

    Args:
        path: the `.pts` file to write.
        points: finite [N, 2] 0-based (x, y) pixel points.

    Returns:
        None; writes the file (header "version: 1", "n_points:  N", then the points between braces).

    Raises:
        InputError: for points not a finite [N, 2] array.
    """
    p = np.asarray(points, np.float64)
    check_shape(p, "N 2", path, "points", note="(x, y)")
    if not np.all(np.isfinite(p)):
        raise InputError(path, "points", "finite [N, 2] array", p.shape)
    body = "".join(f"{x + 1:.6f} {y + 1:.6f}\n" for x, y in p)
    write_text(path, f"version: 1\nn_points:  {len(p)}\n{{\n{body}}}\n")


def _read_helen_txt(path: str | os.PathLike) -> tuple[str, np.ndarray]:
    """Helen annotation file -> (image stem, float32 [194, 2] as stored): line 1 the stem, then 'x , y' lines.

    Args:
        path: a Helen `.txt` annotation file (195 non-blank lines).

    Returns:
        (stem, points): the image's file name without extension, and float32 [194, 2] (x, y) as stored (no base
        shift).

    Raises:
        InputError: for an unreadable file, a line count other than 195, or non-numeric or non-finite points.
    """
    p = Path(path)
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(p, "file", "a readable Helen annotation file", str(e)) from None
    if len(lines) != 195:
        raise InputError(p, "lines", "195 lines (image name + 194 'x , y' points)", len(lines))
    try:
        arr = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]], np.float64)
    except ValueError as e:
        raise InputError(p, "points", "'x , y' per line", str(e)) from None
    if arr.shape != (194, 2) or not np.all(np.isfinite(arr)):
        raise InputError(p, "points", "194 finite 'x , y' pairs", arr.shape)
    return lines[0], arr.astype(np.float32)


def _write_helen_txt(path: str | os.PathLike, stem: str, points: np.ndarray) -> None:
    """Write a Helen 194-point annotation file (values as given).

    Args:
        path: the `.txt` file to write.
        stem: the image name written on line 1.
        points: [194, 2] (x, y), written as 'x , y' lines with `%.6f`.

    Returns:
        None; writes the file.

    Raises:
        InputError: for points not of shape [194, 2].
    """
    p = np.asarray(points, np.float64)
    check_shape(p, "194 2", path, "points")
    write_text(path, f"{stem}\n" + "".join(f"{x:.6f} , {y:.6f}\n" for x, y in p))


def _images_by_stem(folder: Path) -> dict[str, Path]:
    """{stem: image file} of the files in `folder` whose suffix is an image's (`IMAGE_EXTENSIONS`) in any case
    (x.jpg, x.JPG, x.Jpeg); of two of one stem, the first suffix of `IMAGE_EXTENSIONS`, its lower-case spelling
    first; {} for a folder that is missing or cannot be listed."""
    try:
        files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    except OSError:
        return {}
    found: dict[str, Path] = {}
    for p in sorted(files, key=lambda p: (IMAGE_EXTENSIONS.index(p.suffix.lower()), p.suffix != p.suffix.lower(),
                                          p.name)):
        found.setdefault(p.stem, p)
    return found


def _find_image(pts_path: Path, images_in: Callable[[Path], dict[str, Path]] = _images_by_stem) -> Path | None:
    """The image of a .pts file: the same stem beside it, or for 300-VW (<video>/annot/<frame>.pts) in
    <video>/imgs/; suffixes in any case. `images_in`: `_images_by_stem`, or a cached copy of it (one listing a
    folder)."""
    folders = [pts_path.parent]
    if pts_path.parent.name == "annot":  # 300-VW: <video>/annot/<frame>.pts with <video>/imgs/<frame>.jpg
        folders.append(pts_path.parent.parent / "imgs")
    for folder in folders:
        found = images_in(folder).get(pts_path.stem)
        if found is not None:
            return found
    return None


def _split_of(rel: str) -> str | None:
    r = rel.lower().replace("\\", "/")
    if r.startswith("ibug/"):
        return "challenging"
    if r.startswith("trainset/") or r.startswith("testset/"):  # a flat train/test layout (synthetic faces)
        return r.split("set/")[0]
    if r.startswith("afw/") or "/trainset/" in r:
        return "train"
    if "/testset/" in r and (r.startswith("helen/") or r.startswith("lfpw/")):
        return "common"
    if r.startswith("300w/") or r.startswith("300w_private"):
        return "private"
    return None


def _face_sample(points: np.ndarray, names, sid: str, image_path, extras) -> KeypointSample:
    return KeypointSample(points=points.astype(np.float32), visible=np.ones(len(points), bool), names=tuple(names),
                          bbox=points_bbox(points), category="face", id=sid,
                          image_path=None if image_path is None else os.fspath(image_path), extras=extras)


def load_300w(root: str | os.PathLike, subsets: Sequence[str] | None = None, require_images: bool = False,
              skip_bad: bool = False, with_images: bool = False, progress: bool = False) -> Loaded:
    """Every `.pts` file under `root` as a 68-point face sample, sorted by relative path.

    Layouts: 300-W (helen/{trainset,testset}, lfpw/{trainset,testset}, afw, ibug) and 300-VW
    `<video>/annot/*.pts` (images in `<video>/imgs/`). `bbox` is the landmarks' tight box; every point is visible.

    Args:
        root: the dataset folder.
        subsets: keep only files whose relative path starts with one of these (e.g. "helen/testset", "ibug");
            None keeps all.
        require_images: make a missing image (same stem beside the file, a suffix of `types.IMAGE_EXTENSIONS` in
            any case) an error.
        skip_bad: skip bad files (recorded in `Loaded.skipped`) instead of raising.
        with_images: load each image into `image` (a missing one is then an error too).
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `KeypointSample`s: points float32 [68, 2] 0-based (x, y), category "face", id the relative path
        without ".pts", `image_path` the image beside the file (or None). extras: subset (first folder), split
        ("train" | "common" | "challenging" | "private" | None, the standard 300-W protocol; "train" | "test" for
        top-level trainset/ testset/ folders), interocular (outer-eye-corner distance, pixels), pts_path.

    Raises:
        InputError: for a missing `root`, or (without `skip_bad`) a bad file or missing required image.
    """
    r = Path(root)
    if not r.is_dir():
        raise InputError(r, "root", "a folder of .pts files (300-W layout)", "missing")
    files = sorted(r.rglob("*.pts"))
    if subsets is not None:
        files = [f for f in files if any(f.relative_to(r).as_posix().startswith(s.rstrip("/")) for s in subsets)]

    images_in = functools.lru_cache(maxsize=None)(_images_by_stem)  # each folder listed once

    def parse(f: Path):
        pts = read_pts(f, n_points=68)
        rel = f.relative_to(r).as_posix()
        img = _find_image(f, images_in)
        if img is None and (require_images or with_images):
            raise InputError(f, "image", "an image with the same stem beside the .pts file", "missing")
        s = _face_sample(pts, IBUG_68_NAMES, rel[:-4], img,
                         {"subset": rel.split("/")[0], "split": _split_of(rel),
                          "interocular": float(interocular_distance(pts)), "pts_path": os.fspath(f)})
        return s.with_image() if with_images else s

    return collect(files, parse, skip_bad, what="load_300w", progress=progress)


def _load_helen(root: str | os.PathLike, skip_bad: bool = False, with_images: bool = False) -> Loaded:
    """Helen with its original 194 points: `root/annotation/*.txt` and images anywhere under `root`.

    Images may sit in any folder (helen_1..5, train_1..4, test); they are found by stem. `trainnames.txt` /
    `testnames.txt` in `root`, when present, set extras["split"].

    Args:
        root: the Helen folder, holding annotation/.
        skip_bad: skip bad files (recorded in `Loaded.skipped`) instead of raising.
        with_images: load each image into `image` (a missing one is then an error).

    Returns:
        `Loaded` of `KeypointSample`s, in annotation-file order (shorter names first, then by name): points float32
        [194, 2] as stored, all visible, category "face", id the image stem. extras: split ("train" | "test" |
        None), txt_path.

    Raises:
        InputError: for a missing annotation/ folder, or (without `skip_bad`) a bad file, a missing image or two
            images of one name (x.jpg and x.png, or in two folders).
    """
    r = Path(root)
    ann = r / "annotation"
    if not ann.is_dir():
        raise InputError(r, "annotation", "a folder annotation/ of Helen .txt files", "missing")
    images: dict[str, list[Path]] = {}  # stem -> the images of that name (sorted: not the folder's listing order)
    for p in sorted(r.rglob("*")):
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            images.setdefault(p.stem, []).append(p)
    split = {}
    for name, tag in (("trainnames.txt", "train"), ("testnames.txt", "test")):
        if (r / name).is_file():
            lines = (r / name).read_text(encoding="utf-8-sig").splitlines()
            split.update({ln.strip(): tag for ln in lines if ln.strip()})

    def parse(f: Path):
        stem, pts = _read_helen_txt(f)
        found = images.get(stem, [])
        if len(found) > 1:  # which one the annotation means is not known: never the folder listing's choice
            raise InputError(f, "image", f"one image named {stem} under {r}",
                             "several: " + ", ".join(os.fspath(p.relative_to(r)) for p in found))
        img = found[0] if found else None
        if img is None and with_images:
            tried = ", ".join(stem + e for e in IMAGE_EXTENSIONS[:-1]) + f" or {stem}{IMAGE_EXTENSIONS[-1]}"
            raise InputError(f, "image", f"an image {tried} (suffix in any case) under {r}", "missing")
        s = _face_sample(pts, HELEN_194_NAMES, stem, img, {"split": split.get(stem), "txt_path": os.fspath(f)})
        return s.with_image() if with_images else s

    return collect(sorted(ann.glob("*.txt"), key=lambda p: (len(p.stem), p.stem)), parse, skip_bad, "load_helen")


def load_coco_landmarks_json(path: str | os.PathLike, image_root: str | os.PathLike | None = None,
                             coordinate_base: int = 0, names: Sequence[str] | None = None,
                             skip_bad: bool = False) -> Loaded:
    """COCO-style keypoint json (mmpose's 300-W/300-VW test files): `images` + `annotations` with `keypoints`
    [x, y, v] * K.

    Args:
        path: the json file.
        image_root: folder the images' `file_name`s are relative to (None: the json's folder).
        coordinate_base: 0 or 1, subtracted from the stored coordinates.
        names: the K keypoint names (None: `IBUG_68_NAMES` for K = 68, else "p0", "p1", ...).
        skip_bad: skip bad annotations (recorded in `Loaded.skipped`) instead of raising.

    Returns:
        `Loaded` of `KeypointSample`s, one per annotation: points float32 [K, 2] 0-based (x, y), NaN where v = 0;
        visible bool [K] (v > 0 means labelled and visible; v must be 0, 1 or 2, and x, y finite where v > 0, else
        the annotation is refused naming the keypoint); category "face"; id the image's file name without
        extension. extras: image_size (w, h), center, scale, coco_bbox (x, y, w, h as stored), annotation_id, and
        for K = 68 interocular (pixels; NaN when an outer eye corner, point 36 or 45, is unlabelled).

    Raises:
        InputError: for an unreadable json, missing or malformed `images`/`annotations` (an image without `id` or
            `file_name`), or (without `skip_bad`) a bad annotation.
    """
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(p, "json", "a readable COCO-style json file", str(e)) from None
    for key in ("images", "annotations"):
        if not isinstance(d, dict) or key not in d:
            raise InputError(p, key, f"a top-level '{key}' list", "missing")
        bad = d[key] if not isinstance(d[key], list) else next((e for e in d[key] if not isinstance(e, dict)), None)
        if bad is not None:
            raise InputError(p, key, f"a list of objects ('{key}')", f"{type(bad).__name__} {repr(bad)[:40]}")
    for n, im in enumerate(d["images"]):
        if "id" not in im or not isinstance(im.get("file_name"), str):
            raise InputError(p, f"images[{n}]", "an object with 'id' and 'file_name'", sorted(im))
    images = {im["id"]: im for im in d["images"]}
    base = Path(image_root) if image_root is not None else p.parent

    def parse(a: dict):
        try:
            kp = np.asarray(a.get("keypoints", []), np.float64)
        except (TypeError, ValueError):
            raise InputError(p, f"annotation {a.get('id')} keypoints", "numbers (x, y, v) * K", "not numbers") from None
        if kp.ndim != 1 or kp.size % 3 or kp.size == 0:
            raise InputError(p, f"annotation {a.get('id')} keypoints", "a flat list of (x, y, v) triples", kp.size)
        kp = kp.reshape(-1, 3)
        k = len(kp)
        nm = tuple(names) if names is not None else (IBUG_68_NAMES if k == 68 else tuple(f"p{i}" for i in range(k)))
        if len(nm) != k:
            raise InputError(p, f"annotation {a.get('id')} keypoints", f"{len(nm)} points", k)
        check_coco_triples(kp, nm, p, f"annotation {a.get('id')} keypoints")
        if a.get("image_id") not in images:
            raise InputError(p, f"annotation {a.get('id')} image_id", "an id listed in 'images'", a.get("image_id"))
        im = images[a["image_id"]]
        vis = kp[:, 2] > 0
        pts = np.where(vis[:, None], kp[:, :2] - coordinate_base, np.nan)
        extras = {"image_size": (im.get("width"), im.get("height")), "center": a.get("center"),
                  "scale": a.get("scale"), "coco_bbox": a.get("bbox"), "annotation_id": a.get("id")}
        if k == 68:
            extras["interocular"] = float(interocular_distance(pts))  # NaN when an outer eye corner is unlabelled
        return KeypointSample(points=pts.astype(np.float32), visible=vis, names=nm, bbox=points_bbox(pts),
                              category="face", id=Path(im["file_name"]).with_suffix("").as_posix(),
                              image_path=os.fspath(base / im["file_name"]), extras=extras)

    return collect(d["annotations"], parse, skip_bad, what="load_coco_landmarks_json")
