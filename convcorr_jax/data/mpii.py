"""MPII Human Pose: the stacked-hourglass `annot/{train,valid}.h5` and joint CSVs (the official RELEASE `.mat`:
`mpii_release.py`).

Coordinates in every MPII file are 1-based (MATLAB; HRNet/mmpose subtract 1 on load) and are converted to
0-based here. Facts of the real `valid.h5` (2,958 people in 2,729 images), checked against mmpose's json copy of
the same people:
* `part` [N,16,2] holds the MPII coordinates (truncated to integers); (0, 0) marks a joint with no annotation.
* `visible` [N,16] is 1 for visible, 0 for occluded *or* missing joints.
* `center`, `scale` are already adjusted for cropping: center_y = objpos_y + 15 * s, scale = 1.25 * s
  (s = MPII `scale`, person height / 200 px); the raw values are recovered in extras center_raw, scale_raw.
* `normalize` = 0.6 * head-box diagonal (pose-hg-train `convert_annot.py`), i.e. the PCKh head size. The head
  box itself is not stored; extras keep `normalize` (and `head_size`, the same number). Files written by
  `write_mpii_h5` add a `headbox` [N,2,2] dataset (top-left, bottom-right) that the loader reads when present.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from convcorr_jax.data._common import Loaded, collect, points_bbox
from convcorr_jax.data.skeletons import MPII_JOINTS
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError, check_flags, check_shape

if TYPE_CHECKING:  # h5py itself is imported inside open_h5, where it is used
    import h5py

MPII_SHORT: tuple[str, ...] = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck", "head",
                               "rwri", "relb", "rsho", "lsho", "lelb", "lwri")
HEAD_SIZE_FACTOR = 0.6  # PCKh head size = 0.6 * head-box diagonal (SC_BIAS of the official toolkit)
PERSON_SIDE_PER_SCALE = 200.0 * 1.25  # person crop side (pixels) per unit of the h5's stored scale

_H5_KEYS = ("center", "imgname", "index", "normalize", "part", "person", "scale", "torsoangle", "visible")


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open an MPII annotation .h5 read-only; a missing or unreadable file raises InputError naming it.

    Args:
        path: the .h5 file.

    Returns:
        The open `h5py.File` (mode "r"; close it, e.g. `with open_h5(p) as f:`).
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file", "an existing MPII .h5 annotation file", "missing file")
    try:
        return h5py.File(p, "r")
    except OSError as e:
        raise InputError(p, "file", "a readable HDF5 file", str(e)) from None



def person_square(centers: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The person crop of MPII people as (centres [..., 2], sides [...]), pixels.

    Args:
        centers, scales: [..., 2] and [...] as `load_mpii_h5` stores them in extras (the hourglass h5's
            crop-adjusted `center`, 0-based, and `scale`).

    Returns:
        (centres, sides): float64 [..., 2] the centres as given and float64 [...] `PERSON_SIDE_PER_SCALE` x scale: a
        square around the centre. `geometry.square_box(*person_square(c, s))` is the box.
    """
    return np.asarray(centers, np.float64), PERSON_SIDE_PER_SCALE * np.asarray(scales, np.float64)

def _h5_array(f, key: str, path, shape_tail: tuple, n: int | None) -> np.ndarray:
    if key not in f:
        raise InputError(path, key, f"an h5 dataset '{key}'", "missing")
    a = f[key][()]
    check_shape(a, ["N", *shape_tail], path, key, None if n is None else {"N": n})
    return a


def load_mpii_h5(path: str | os.PathLike, image_root: str | os.PathLike | None = None, skip_bad: bool = False,
                 with_images: bool = False, progress: bool = False) -> Loaded:
    """People of an hourglass-style MPII h5 file, 16 joints in `MPII_JOINTS` order, 0-based.

    Args:
        path: the .h5 file.
        image_root: the images' folder (default: an `images/` folder beside the h5's parent, as in `mpii/annot/..`).
        skip_bad, with_images: skip bad people (`Loaded.skipped`) instead of raising; load each image into `image`.
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `KeypointSample`s, id "<image stem>_<person>": points float32 [16, 2], NaN where the joint has no
        annotation; visible: annotated and visible; image_path: `image_root/imgname`; bbox: tight box of the labelled
        joints. extras: labelled [16], center [2] (0-based, as stored: crop-adjusted), scale (as stored), center_raw,
        scale_raw (MPII objpos/scale), normalize (= head_size, PCKh unit), torsoangle, index, person, imgname,
        head_box [4] when the file has `headbox`.
    """
    p = Path(path)
    with open_h5(p) as f:
        part = _h5_array(f, "part", p, (16, 2), None)
        n = part.shape[0]
        vis = _h5_array(f, "visible", p, (16,), n)
        center = _h5_array(f, "center", p, (2,), n)
        scale = _h5_array(f, "scale", p, (), n)
        normalize = _h5_array(f, "normalize", p, (), n)
        names = _h5_array(f, "imgname", p, (), n)
        index = _h5_array(f, "index", p, (), n) if "index" in f else np.arange(n)
        person = _h5_array(f, "person", p, (), n) if "person" in f else np.zeros(n)
        torso = _h5_array(f, "torsoangle", p, (), n) if "torsoangle" in f else np.full(n, np.nan)
        headbox = _h5_array(f, "headbox", p, (2, 2), n) if "headbox" in f else None
    img_root = Path(image_root) if image_root is not None else p.parent.parent / "images"

    def parse(i: int):
        src = f"{p}[{i}]"
        pt = part[i].astype(np.float64)
        if not np.all(np.isfinite(pt)):
            raise InputError(src, "part", "finite coordinates ((0, 0) marks a missing joint)", "NaN or inf")
        labelled = ~np.all(pt == 0, axis=1)
        pts = np.where(labelled[:, None], pt - 1.0, np.nan).astype(np.float32)
        v = vis[i]
        check_flags(v, (0, 1), src, "visible", "0 or 1 per joint (1 visible; 0 occluded or not annotated)")
        if not (np.isfinite(scale[i]) and scale[i] > 0 and np.isfinite(normalize[i]) and normalize[i] > 0):
            raise InputError(src, "scale/normalize", "positive finite numbers", (scale[i], normalize[i]))
        name = names[i].decode() if isinstance(names[i], bytes) else str(names[i])
        c = center[i].astype(np.float64)
        s_raw = float(scale[i]) / 1.25
        extras = {
            "labelled": labelled, "center": (c - 1.0).astype(np.float32), "scale": float(scale[i]),
            "center_raw": np.array([c[0] - 1.0, c[1] - 1.0 - 15.0 * s_raw], np.float32), "scale_raw": s_raw,
            "normalize": float(normalize[i]), "head_size": float(normalize[i]), "torsoangle": float(torso[i]),
            "index": int(index[i]), "person": int(person[i]), "imgname": name,
        }
        if headbox is not None:
            extras["head_box"] = (headbox[i].reshape(4) - 1.0).astype(np.float32)
        s = KeypointSample(points=pts, visible=labelled & (v == 1), names=MPII_JOINTS, bbox=points_bbox(pts),
                           category="person", id=f"{name[:-4] if name.endswith('.jpg') else name}_{int(person[i])}",
                           image_path=os.fspath(img_root / name), extras=extras)
        return s.with_image() if with_images else s

    return collect(range(n), parse, skip_bad, what="load_mpii_h5", progress=progress)


def write_mpii_h5(path: str | os.PathLike, samples: Sequence[KeypointSample], head_box: bool = True) -> None:
    """Write people as an hourglass-style MPII h5 (the real valid.h5's keys and dtypes: float64 arrays, fixed-length
    bytes `imgname`), atomically. Points are written 1-based, missing joints as (0, 0).

    Args:
        path: the .h5 file to write.
        samples: N people, 16 joints in `MPII_JOINTS` order (else InputError). Read from extras: `head_box` [4]
            (0-based; gives normalize = 0.6 * diagonal unless `normalize` is given; one of the two is required),
            `center` [2] 0-based and `scale` in the *stored* (crop-adjusted) convention, or `center_raw`/`scale_raw`
            (MPII objpos/scale, adjusted here), defaulting to the joints' box centre and height/200; `index`,
            `person`, `torsoangle`; imgname = `image_path`'s file name or `<id>.jpg`.
        head_box: add the non-standard `headbox` [N, 2, 2] dataset (ignored by other readers).

    Returns:
        None; writes the file.
    """
    import h5py

    from convcorr_jax.core.io import atomic_path

    n = len(samples)
    part = np.zeros((n, 16, 2))
    vis = np.zeros((n, 16))
    center = np.zeros((n, 2))
    scale = np.zeros(n)
    normalize = np.zeros(n)
    index = np.zeros(n)
    person = np.zeros(n)
    torso = np.zeros(n)
    hb = np.zeros((n, 2, 2))
    names = []
    for i, s in enumerate(samples):
        if tuple(s.names) != MPII_JOINTS:
            raise InputError(s.id, "names", "the 16 MPII joints in MPII_JOINTS order", s.names[:3])
        ok = np.all(np.isfinite(s.points), axis=1)
        part[i] = np.where(ok[:, None], s.points + 1.0, 0.0)
        vis[i] = (ok & s.visible).astype(np.float64)
        e = s.extras
        box = e.get("head_box")
        if box is not None:
            box = np.asarray(box, np.float64)
            hb[i] = (box + 1.0).reshape(2, 2)
        if "normalize" in e:
            normalize[i] = float(e["normalize"])
        elif box is not None:
            normalize[i] = HEAD_SIZE_FACTOR * float(np.hypot(box[2] - box[0], box[3] - box[1]))
        else:
            raise InputError(s.id, "extras head_box", "a head box [4] or extras normalize (PCKh head size)", None)
        if "center" in e and "scale" in e:
            center[i] = np.asarray(e["center"], np.float64) + 1.0
            scale[i] = float(e["scale"])
        else:
            b = np.asarray(s.bbox, np.float64)
            c_raw = np.asarray(e.get("center_raw", ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)), np.float64)
            s_raw = float(e.get("scale_raw", max(b[3] - b[1], 1.0) / 200.0))
            center[i] = (c_raw[0] + 1.0, c_raw[1] + 1.0 + 15.0 * s_raw)
            scale[i] = 1.25 * s_raw
        index[i] = float(e.get("index", i))
        person[i] = float(e.get("person", 0))
        torso[i] = float(e.get("torsoangle", 0.0))
        names.append(Path(s.image_path).name if s.image_path else f"{s.id}.jpg")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["name"] = "mpii"
            f["center"] = center
            f["imgname"] = np.array([nm.encode() for nm in names], dtype=f"S{max([len(x) for x in names] + [1])}")
            f["index"] = index
            f["normalize"] = normalize
            f["part"] = part
            f["person"] = person
            f["scale"] = scale
            f["torsoangle"] = torso
            f["visible"] = vis
            if head_box:
                f["headbox"] = hb


# ---------------------------------------------------------------- joints CSV (MobilePose-style)

def read_joints_csv(path: str | os.PathLike, n_joints: int) -> tuple[list[str], np.ndarray]:
    """CSV rows `image, x1, y1, ..., xK, yK` -> (image names, float32 [N, K, 2] as stored, -1 -> NaN).

    Args:
        path, n_joints: the CSV file (UTF-8, BOM and CRLF allowed; blank lines skipped) and K, the joints per row.

    Returns:
        (names, joints): N >= 1 image names and float32 [N, K, 2] (x, y) as stored; a joint written (-1, -1) is NaN.
        A missing file, no rows, a row's length or a non-finite value: InputError naming the file and line.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file", "an existing joints CSV", "missing file")
    names, rows = [], []
    for ln_no, ln in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not (parts := ln.strip().split(","))[0] and len(parts) == 1:  # a blank line
            continue
        if len(parts) != 1 + 2 * n_joints:
            raise InputError(p, f"line {ln_no}", f"an image name and {2 * n_joints} numbers", len(parts) - 1)
        try:
            rows.append([float(v) for v in parts[1:]])
            if not np.all(np.isfinite(rows[-1])):
                raise ValueError("NaN or inf (-1,-1 marks a missing joint)")
        except ValueError as e:
            raise InputError(p, f"line {ln_no}", "finite numbers after the image name", str(e)) from None
        names.append(parts[0])
    if not rows:
        raise InputError(p, "rows", "at least one row 'image, x1, y1, ...'", "none (an empty file)")
    a = np.array(rows, np.float64).reshape(-1, n_joints, 2)
    a[np.all(a == -1, axis=-1)] = np.nan
    return names, a.astype(np.float32)
