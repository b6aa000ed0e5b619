"""FLIC / FLIC-full `examples.mat` (Sapp & Taskar, MODEC) and the FLIC-plus index files (Tompson et al.).

`examples` is a 1 x N struct array with fields poselet_hit_idx, moviename, coords (2 x 29, row 0 = x, row 1 = y,
NaN where not labelled), filepath, imgdims ([h w 3]), currframe, torsobox ([x1 y1 x2 y2]), istrain, istest
(FLIC-full adds isbad, isunchecked). Coordinates and the torso box are 1-based (MATLAB); converted to 0-based here.
`tr_plus_indices.mat` / `ts_plus_indices.mat` hold 1-based indices into FLIC-full's examples.
Coordinates are given at `imgdims` (480 x 720 for FLIC); when the images on disk are downscaled (e.g. 2x to
360 x 240, the resolution Tompson et al. use) the loader maps points and torso box to the on-disk image.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.data._common import Loaded, as_float, collect, points_bbox
# FLIC's 29 joint slots and the 11 it labels live with every dataset's joint names (`data.skeletons`)
from convcorr_jax.data.skeletons import FLIC_JOINTS, FLIC_LABELLED, FLIC_LABELLED_NAMES  # noqa: F401
from convcorr_jax.data.types import KeypointSample, load_image, relay_pil_warnings
from convcorr_jax.core.errors import InputError

# MPII joint name -> FLIC slot, for writing a FLIC view of MPII-style people (MPII has no eyes/nose).
MPII_TO_FLIC: dict[str, str] = {
    "l shoulder": "lsho", "l elbow": "lelb", "l wrist": "lwri", "r shoulder": "rsho", "r elbow": "relb",
    "r wrist": "rwri", "l hip": "lhip", "l knee": "lkne", "l ankle": "lank", "r hip": "rhip", "r knee": "rkne",
    "r ankle": "rank",
}

# On-disk size / imgdims ratios accepted: full size and the 2x / 4x downscaled copies.
FLIC_IMAGE_SCALES: tuple[float, ...] = (1.0, 0.5, 0.25)

_FIELDS = ("poselet_hit_idx", "moviename", "coords", "filepath", "imgdims", "currframe", "torsobox", "istrain",
           "istest")


def resolve(path: str | os.PathLike) -> tuple[Path, Path]:
    """(examples.mat, the FLIC folder holding it and images/) of a FLIC folder or its examples.mat.

    Args:
        path: a FLIC folder or its examples.mat.

    Returns:
        (mat, root): the examples.mat Path and its parent folder.

    Raises:
        InputError: when the file is missing.
    """
    p = Path(path)
    mat = p / "examples.mat" if p.is_dir() else p
    if not mat.is_file():
        raise InputError(mat, "examples.mat", "an existing FLIC examples.mat", "missing file")
    return mat, mat.parent


def _loadmat(path, **kw) -> dict:
    import scipy.io as sio

    try:
        return sio.loadmat(path, **kw)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError for broken files
        raise InputError(path, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None


def _scalar(v, src, field) -> float:
    a = np.asarray(v).ravel()
    if a.size != 1:
        raise InputError(src, field, "a scalar", a.shape)
    x = as_float(a[0], src, field)
    if not np.isfinite(x):
        raise InputError(src, field, "a finite number", repr(a[0])[:60])
    return x


def _numbers(v, src, field) -> np.ndarray:
    """`v` as a finite float64 array; InputError naming `field` of `src` for text or NaN / inf."""
    try:
        a = np.asarray(v, np.float64)
    except (TypeError, ValueError):
        raise InputError(src, field, "finite numbers", repr(v)[:60]) from None
    if not np.all(np.isfinite(a)):
        raise InputError(src, field, "finite numbers", a.ravel().tolist()[:8])
    return a


def _string(v, src, field) -> str:
    a = np.asarray(v).ravel()
    if a.size != 1 or not isinstance(a[0], str):
        raise InputError(src, field, "a char array", repr(v)[:60])
    return str(a[0])


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) of an image file from its header (PIL, no pixel decoding); None if the file is missing.

    Args:
        path: an image file.

    Returns:
        (width, height) in pixels as ints, or None when the file does not exist.

    Raises:
        InputError: for a file PIL cannot open.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with relay_pil_warnings(path), Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise InputError(path, "image", "a readable image file", f"{type(e).__name__}: {e}") from None


def _image_scale(size: tuple[int, int], imgdims: Sequence[int], source,
                scales: Sequence[float] = FLIC_IMAGE_SCALES) -> float:
    """The uniform scale s of an on-disk image `size` (width, height) relative to `imgdims` (h, w, ...).

    Args:
        size: (width, height) of the image on disk, pixels.
        imgdims: the stored (h, w, ...) the coordinates refer to.
        source: the file named in the error.
        scales: the accepted ratios (`FLIC_IMAGE_SCALES`).

    Returns:
        s as a float: the first of `scales` with round(w * s) == width and round(h * s) == height.

    Raises:
        InputError: naming `source` (field "image size") for a different ratio, or one that differs between x and y.
    """
    h, w = int(imgdims[0]), int(imgdims[1])
    for s in scales:
        if (round(w * s), round(h * s)) == tuple(size):
            return float(s)
    rx, ry = size[0] / w, size[1] / h
    kind = "non-uniform" if abs(rx - ry) * max(w, h) >= 1 else "unexpected"
    raise InputError(source, "image size", f"imgdims (w, h) = ({w}, {h}) scaled uniformly by one of {tuple(scales)}",
                     f"(width, height) = {tuple(size)}: {kind} ratio x {rx:.4g}, y {ry:.4g}")


def _scale_points(points: np.ndarray, s: float) -> np.ndarray:
    """0-based (x, y) pixel coordinates [..., 2] of an image mapped onto the same image resized by s.

    The map is (p + 0.5) * s - 0.5 (pixel centres at integers; the image's outer corner -0.5 stays fixed).

    Args:
        points: [..., 2] 0-based (x, y) pixels (NaN stays NaN).
        s: the resize factor (new size / old size).

    Returns:
        float64 [..., 2] points in the resized image's pixels.
    """
    return (np.asarray(points, np.float64) + 0.5) * s - 0.5


def load_flic(path: str | os.PathLike, split: str | None = None, joints: str = "labelled",
              indices: Sequence[int] | np.ndarray | None = None, skip_bad: bool = False,
              with_images: bool = False, scales: Sequence[float] = FLIC_IMAGE_SCALES, progress: bool = False) -> Loaded:
    """FLIC examples as person samples (0-based coordinates).

    Each image's size is read from its header; points and torso box are mapped to it with `_scale_points` (s = 1
    for full-size images). Where the image file is absent the coordinates stay at imgdims (s = 1, extras
    image_size None).

    Args:
        path: a FLIC folder (with examples.mat and images/) or the .mat itself.
        split: None (all), "train" (istrain) or "test" (istest).
        joints: "labelled" -> the 11 FLIC joints (`FLIC_LABELLED_NAMES`; NaN there is an error); "all" -> the 29
            MODEC slots (NaN where unlabelled, visible False).
        indices: 0-based example indices to keep, in this order (e.g. `read_plus_indices(...)`), applied before
            `split`.
        skip_bad: skip bad examples (recorded in `Loaded.skipped`) instead of raising.
        with_images: load each image into `image` (its size checked against the header's, else imgdims).
        scales: accepted on-disk size / imgdims ratios (`FLIC_IMAGE_SCALES`).
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `KeypointSample`s, category "person", id "flic/<index:05d>": points float32 [K, 2] (K = 11 or
        29) in on-disk image pixels; visible bool [K] (finite coordinates); bbox the tight box of the labelled
        joints; image_path root/images/<filepath>. extras: index (0-based), labelled [K], torso_box float32 [4]
        (0-based), torso_size (|lsho - rhip|, MODEC's normaliser), moviename, currframe, imgdims (h, w, c) as
        stored, image_size (w, h) on disk or None, image_scale (s), istrain, istest, poselet_hit_idx (int64),
        isbad/isunchecked (FLIC-full).

    Raises:
        InputError: for a missing or malformed examples.mat, bad `joints`/`split`/`indices`, or (without
            `skip_bad`) a bad example, including an image whose size is not imgdims scaled uniformly by one of
            `scales` (field "image size").
    """
    mat, root = resolve(path)
    m = _loadmat(mat)
    if "examples" not in m:
        raise InputError(mat, "examples", "a variable 'examples' (1 x N struct)", sorted(k for k in m if k[0] != "_"))
    ex = m["examples"]
    if ex.dtype.names is None:
        raise InputError(mat, "examples", "a struct array", ex.dtype)
    missing = [f for f in _FIELDS if f not in ex.dtype.names]
    if missing:
        raise InputError(mat, "examples fields", f"fields {', '.join(_FIELDS)}", f"missing {missing}")
    if joints not in ("labelled", "all"):
        raise InputError("load_flic", "joints", "'labelled' or 'all'", joints)
    if split not in (None, "train", "test"):
        raise InputError("load_flic", "split", "None, 'train' or 'test'", split)
    ex = ex.ravel()
    order = np.arange(len(ex)) if indices is None else np.asarray(indices, np.int64)
    if order.size and (order.min() < 0 or order.max() >= len(ex)):
        raise InputError(mat, "indices", f"0-based indices in 0..{len(ex) - 1}", (order.min(), order.max()))
    cols = FLIC_LABELLED if joints == "labelled" else tuple(range(29))
    names = tuple(FLIC_JOINTS[c] for c in cols)
    extra_flags = [f for f in ("isbad", "isunchecked") if f in ex.dtype.names]
    lsho, rhip = cols.index(0), cols.index(9)
    sizes: dict[str, tuple[int, int] | None] = {}  # examples can share an image: read each header once

    def parse(i: int):
        e = ex[i]
        src = f"{mat}[examples({i + 1})]"
        istrain = bool(_scalar(e["istrain"], src, "istrain"))
        istest = bool(_scalar(e["istest"], src, "istest"))
        if (split == "train" and not istrain) or (split == "test" and not istest):
            return None
        c = np.asarray(e["coords"], np.float64)
        if c.shape != (2, 29):
            raise InputError(src, "coords", "a 2 x 29 array (row 0 x, row 1 y)", c.shape)
        pts = c.T[list(cols)] - 1.0
        ok = np.all(np.isfinite(pts), axis=1)
        if joints == "labelled" and not ok.all():
            bad = [names[j] for j in np.where(~ok)[0]]
            raise InputError(src, "coords", "finite coordinates for the 11 labelled FLIC joints", f"NaN at {bad}")
        tb = _numbers(e["torsobox"], src, "torsobox").ravel()
        if tb.shape != (4,):
            raise InputError(src, "torsobox", "1 x 4 [x1 y1 x2 y2]", tb.shape)
        fp = _string(e["filepath"], src, "filepath")
        dims = tuple(int(v) for v in _numbers(e["imgdims"], src, "imgdims").ravel())
        if len(dims) < 2 or min(dims[:2]) < 1:
            raise InputError(src, "imgdims", "[h w 3], h and w >= 1", dims)
        img_path = root / "images" / fp
        if fp not in sizes:
            sizes[fp] = image_size(img_path)
        size = sizes[fp]
        s = 1.0 if size is None else _image_scale(size, dims, img_path, scales)
        pts = _scale_points(pts, s).astype(np.float32)
        box = _scale_points((tb - 1.0).reshape(2, 2), s).reshape(4).astype(np.float32)
        extras = {
            "index": int(i), "labelled": ok, "torso_box": box,
            "torso_size": float(np.linalg.norm(pts[lsho] - pts[rhip])),
            "moviename": _string(e["moviename"], src, "moviename"),
            "currframe": int(_scalar(e["currframe"], src, "currframe")),
            "imgdims": dims, "image_size": size, "image_scale": s,
            "istrain": istrain, "istest": istest,
            "poselet_hit_idx": np.asarray(e["poselet_hit_idx"]).ravel().astype(np.int64),
            **{f: bool(_scalar(e[f], src, f)) for f in extra_flags},
        }
        sample = KeypointSample(points=pts, visible=ok, names=names, bbox=points_bbox(pts), category="person",
                                id=f"flic/{i:05d}", image_path=os.fspath(img_path), extras=extras)
        if with_images:
            expected = size if size is not None else (dims[1], dims[0])
            sample = dataclasses.replace(sample, image=load_image(sample.image_path, expected_size=expected))
        return sample

    return collect([int(i) for i in order], parse, skip_bad, what="load_flic", progress=progress)


def read_plus_indices(path: str | os.PathLike) -> np.ndarray:
    """FLIC-plus `tr_plus_indices.mat` / `ts_plus_indices.mat` -> 0-based int64 indices into FLIC-full.

    Args:
        path: the .mat file, holding one numeric N x 1 or 1 x N variable.

    Returns:
        int64 [N] 0-based indices. The stored values are 1-based (MATLAB): the test list's maximum is 20,928 =
        len(FLIC-full).

    Raises:
        InputError: for an unreadable file, not exactly one variable, a non-vector, a value that is not a whole
            number (NaN, 2.5: truncating it would select another example), or a value below 1.
    """
    m = _loadmat(path)
    keys = [k for k in m if not k.startswith("__")]
    if len(keys) != 1:
        raise InputError(path, "variables", "exactly one index variable (e.g. tr_plus_indices)", keys)
    a = np.asarray(m[keys[0]])
    if a.ndim != 2 or 1 not in a.shape or not np.issubdtype(a.dtype, np.number):
        raise InputError(path, keys[0], "a numeric N x 1 or 1 x N vector", f"{a.dtype} {a.shape}")
    a = a.ravel()
    whole = np.isfinite(a) & (a == np.round(a)) if np.issubdtype(a.dtype, np.floating) else np.ones(a.shape, bool)
    if not whole.all():
        j = int(np.argmin(whole))
        raise InputError(path, keys[0], f"whole-number indices (entry {j}, 0-based)", f"{a[j]:g}")
    a = a.astype(np.int64)
    if a.size and a.min() < 1:
        raise InputError(path, keys[0], "1-based indices (>= 1)", int(a.min()))
    return a - 1


def write_flic_mat(path: str | os.PathLike, samples: Sequence[KeypointSample], istrain: Sequence[bool],
                   full: bool = False) -> None:
    """Write samples as a FLIC `examples.mat` (scipy.io.savemat, the MODEC struct layout), atomically.

    Sample point names must be FLIC slot names (`FLIC_JOINTS`) or MPII names mapped by `MPII_TO_FLIC`; other
    slots are NaN. Points are written 1-based; `extras["torso_box"]` (0-based; default: the box of the shoulders
    and hips) becomes `torsobox`. Samples read by `load_flic` from downscaled images (extras image_scale s != 1)
    are mapped back to their stored imgdims, so a read-write round trip keeps the file. `image_path`'s file name
    becomes `filepath`; extras moviename, currframe, imgdims (default from `image`, else 480 x 720) are used when
    present.

    Args:
        path: the .mat file to write.
        samples: N person samples, points [K, 2] 0-based (x, y) pixels.
        istrain: N flags; `istest = not istrain`.
        full: add FLIC-full's isbad / isunchecked (0).

    Returns:
        None; writes the file.

    Raises:
        InputError: when `istrain` does not hold one flag per sample.
    """
    import scipy.io as sio

    from convcorr_jax.core.io import atomic_path

    if len(samples) != len(istrain):
        raise InputError(path, "istrain", f"{len(samples)} flags", len(istrain))
    fields = list(_FIELDS) + (["isbad", "isunchecked"] if full else [])
    ex = np.empty((1, len(samples)), dtype=[(f, object) for f in fields])
    for i, s in enumerate(samples):
        inv = 1.0 / float(s.extras.get("image_scale", 1.0))  # on-disk image -> imgdims
        pts = _scale_points(s.points, inv)
        coords = np.full((2, 29), np.nan)
        for j, n in enumerate(s.names):
            slot = n if n in FLIC_JOINTS else MPII_TO_FLIC.get(n)
            if slot is None or not np.all(np.isfinite(pts[j])):
                continue
            coords[:, FLIC_JOINTS.index(slot)] = pts[j] + 1.0
        tb = s.extras.get("torso_box")
        if tb is None:
            t = coords[:, [0, 3, 6, 9]] - 1.0
            tb = [np.nanmin(t[0]), np.nanmin(t[1]), np.nanmax(t[0]), np.nanmax(t[1])]
        else:
            tb = _scale_points(np.asarray(tb, np.float64).reshape(2, 2), inv).reshape(4)
        if "image_scale" in s.extras and "imgdims" in s.extras:
            dims = list(s.extras["imgdims"])
        elif s.image is not None:
            dims = [s.image.shape[0], s.image.shape[1], 3]
        else:
            dims = list(s.extras.get("imgdims", (480, 720, 3)))
        name = Path(s.image_path).name if s.image_path else f"{s.id.replace('/', '_')}.jpg"
        rec = ex[0, i]
        rec["poselet_hit_idx"] = np.asarray(s.extras.get("poselet_hit_idx", np.zeros(0)), np.uint16).reshape(-1, 1)
        rec["moviename"] = str(s.extras.get("moviename", "synthetic"))
        rec["coords"] = coords
        rec["filepath"] = name
        rec["imgdims"] = np.array([dims], np.uint16)
        frame = int(s.extras.get("currframe", i + 1))
        rec["currframe"] = np.array([[frame]], np.uint16 if 0 <= frame < 65536 else np.int32)
        rec["torsobox"] = (np.asarray(tb, np.float64) + 1.0).astype(np.float32).reshape(1, 4)
        rec["istrain"] = np.array([[int(bool(istrain[i]))]], np.uint8)
        rec["istest"] = np.array([[int(not istrain[i])]], np.uint8)
        if full:
            rec["isbad"] = np.array([[0]], np.uint8)
            rec["isunchecked"] = np.array([[0]], np.uint8)
    with atomic_path(path) as tmp:
        sio.savemat(tmp, {"examples": ex})
