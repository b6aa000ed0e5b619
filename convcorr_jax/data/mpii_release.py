"""MPII Human Pose's official annotation file, `mpii_human_pose_v1_u12_1.mat` (MATLAB variable RELEASE): its
reader, with the struct quirks handled where they are read, and a writer of small files in the same layout (for
fixtures and synthetic sets). Coordinates in the file are 1-based (MATLAB) and 0-based here, as in `mpii.py`,
which holds the hourglass h5 files, the PCKh head-size factor and the joints CSV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.data._common import Loaded, collect, points_bbox
from convcorr_jax.data.mpii import HEAD_SIZE_FACTOR
from convcorr_jax.data.skeletons import MPII_JOINTS
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError


def _field(obj, name):
    """Attribute of a scipy mat_struct, None when absent or empty."""
    v = getattr(obj, name, None)
    if v is None:
        return None
    if isinstance(v, np.ndarray) and v.size == 0:
        return None
    return v


def _num(v, src, field) -> float:
    """A field's single number (a number or a numeric string) as a float; InputError naming the field for a field
    that is missing or empty (None, from `_field`), several values, or no number (a missing x or id was a TypeError
    traceback)."""
    if v is None:
        raise InputError(src, field, "a number", "missing or empty")
    a = np.asarray(v).ravel()
    if a.size != 1:
        raise InputError(src, field, "a number", a.shape)
    x = a[0]
    try:
        return float(x)
    except (TypeError, ValueError):
        raise InputError(src, field, "a number", repr(x)[:40]) from None


def _flag(v, src, field) -> bool:
    """An `is_visible` value (a number or a string '0'/'1') as a bool; InputError naming the point for any value
    but 0 or 1 (a NaN, -1 or 2 was read as visible, or a NaN was a ValueError traceback)."""
    x = _num(v, src, field)
    if x not in (0.0, 1.0):
        raise InputError(src, field, "0 or 1 (or empty: visible)", repr(v) if isinstance(v, str) else f"{x:g}")
    return x == 1.0


def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, np.ndarray):
        return list(v.ravel())
    return [v]


def load_mpii_release(path: str | os.PathLike, image_root: str | os.PathLike | None = None,
                      annotated_only: bool = True, skip_bad: bool = False, with_images: bool = False,
                      progress: bool = False) -> Loaded:
    """People of the official `mpii_human_pose_v1_u12_1.mat` (variable RELEASE), 0-based.

    Handles the struct quirks: a single annorect/point is not wrapped in an array; `annopoints`, `is_visible`,
    head-box fields may be missing or empty; `is_visible` may be a number or a string '0'/'1' (missing or empty
    -> visible, as pose-hg-train does; any other value is refused naming the point).

    Args:
        path: the RELEASE .mat.
        image_root: the images' folder (default: `images/` beside the .mat).
        annotated_only: keep rects with joints (training people); False also yields test-set rects (objpos/scale
            only; all points NaN).
        skip_bad, with_images: skip bad images (`Loaded.skipped`) instead of raising; load each image into `image`.
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `KeypointSample`s, id "<image stem>_<ridx>": points float32 [16, 2] (NaN where absent), visible
        bool [16]; image_path: `image_root/<name>`. extras: img_train, imgidx, ridx (0-based), labelled [16],
        head_box [4] (0-based; NaN if absent), head_size (0.6 * head diagonal), scale, center (objpos, 0-based),
        single_person, act_name, cat_name, act_id.
    """
    import scipy.io as sio

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file", "an existing MPII RELEASE .mat file", "missing file")
    try:
        m = sio.loadmat(p, struct_as_record=False, squeeze_me=True)
    except Exception as e:
        raise InputError(p, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None
    if "RELEASE" not in m:
        raise InputError(p, "RELEASE", "a variable RELEASE", sorted(k for k in m if k[0] != "_"))
    rel = m["RELEASE"]
    for fld in ("annolist", "img_train"):
        if _field(rel, fld) is None:
            raise InputError(p, f"RELEASE.{fld}", "a non-empty field", "missing")
    annolist = _as_list(rel.annolist)
    img_train = np.asarray(rel.img_train).ravel()
    if img_train.shape[0] != len(annolist):
        raise InputError(p, "RELEASE.img_train", f"{len(annolist)} flags (one per annolist entry)", img_train.shape)
    single = _as_list(_field(rel, "single_person"))
    acts = _as_list(_field(rel, "act"))
    img_root = Path(image_root) if image_root is not None else p.parent / "images"

    def parse(imgidx: int):
        a = annolist[imgidx]
        src = f"{p}[annolist({imgidx + 1})]"
        img = _field(a, "image")
        name = _field(img, "name") if img is not None else None
        if not isinstance(name, str):
            raise InputError(src, "image.name", "a file name", repr(name)[:40])
        sp = {int(x) - 1 for x in np.atleast_1d(single[imgidx]).ravel()} if imgidx < len(single) and \
            single[imgidx] is not None and np.size(single[imgidx]) else set()
        act = acts[imgidx] if imgidx < len(acts) else None
        act_info = {k: (_field(act, k) if act is not None else None) for k in ("act_name", "cat_name", "act_id")}
        out = []
        for ridx, r in enumerate(_as_list(_field(a, "annorect"))):
            rsrc = f"{src}.annorect({ridx + 1})"
            ap = _field(r, "annopoints")
            pts = np.full((16, 2), np.nan, np.float32)
            vis = np.zeros(16, bool)
            if ap is not None:
                for q in _as_list(_field(ap, "point")):
                    jid = _num(_field(q, "id"), rsrc, "annopoints.point.id")
                    if jid not in range(16):  # NaN was a ValueError traceback, 2.5 read as joint 2
                        raise InputError(rsrc, "annopoints.point.id", "a joint id 0..15", f"{jid:g}")
                    jid = int(jid)
                    x = _num(_field(q, "x"), rsrc, f"point {jid} x")
                    y = _num(_field(q, "y"), rsrc, f"point {jid} y")
                    if not (np.isfinite(x) and np.isfinite(y)):
                        raise InputError(rsrc, f"point {jid} x/y", "finite coordinates", (x, y))
                    iv = _field(q, "is_visible")
                    pts[jid] = (x - 1.0, y - 1.0)
                    vis[jid] = True if iv is None else _flag(iv, rsrc, f"point {jid} is_visible")
            if annotated_only and not np.isfinite(pts).any():
                continue  # test-set rect (objpos/scale only) or an empty annopoints struct
            hb = [_field(r, k) for k in ("x1", "y1", "x2", "y2")]
            head = (np.array([_num(v, rsrc, k) for v, k in zip(hb, ("x1", "y1", "x2", "y2"))], np.float64) - 1.0
                    if all(v is not None for v in hb) else np.full(4, np.nan))
            op = _field(r, "objpos")
            center = (np.array([_num(_field(op, "x"), rsrc, "objpos.x"), _num(_field(op, "y"), rsrc, "objpos.y")])
                      - 1.0 if op is not None and _field(op, "x") is not None else np.full(2, np.nan))
            sc = _field(r, "scale")
            labelled = np.all(np.isfinite(pts), axis=1)
            extras = {"img_train": bool(img_train[imgidx]), "imgidx": imgidx, "ridx": ridx, "labelled": labelled,
                      "head_box": head.astype(np.float32),
                      "head_size": float(HEAD_SIZE_FACTOR * np.hypot(head[2] - head[0], head[3] - head[1])),
                      "scale": float("nan") if sc is None else _num(sc, rsrc, "scale"),
                      "center": center.astype(np.float32), "single_person": ridx in sp, **act_info}
            s = KeypointSample(points=pts, visible=vis & labelled, names=MPII_JOINTS, bbox=points_bbox(pts),
                               category="person", id=f"{name[:-4]}_{ridx}", image_path=os.fspath(img_root / name),
                               extras=extras)
            out.append(s.with_image() if with_images else s)
        return out

    return collect(range(len(annolist)), parse, skip_bad, what="load_mpii_release", progress=progress)


def _write_mpii_release(path: str | os.PathLike, images: Sequence[dict]) -> None:
    """Write a small RELEASE .mat in the official layout (for fixtures and synthetic sets), atomically.

    Args:
        path: the .mat file to write.
        images: one dict per image: name, train (bool), rects: list of dicts with optional head_box [4] (0-based),
            points {joint id: (x, y, is_visible)} (0-based; is_visible may be 0/1, '0'/'1' or None for empty), scale,
            center (0-based objpos); optional single_person (0-based rect indices), act_name, cat_name, act_id.
            Written 1-based; a rect without `points` gets no annopoints field value (the test-set form).

    Returns:
        None; writes the file.
    """
    import scipy.io as sio

    from convcorr_jax.core.io import atomic_path

    def struct(fields: dict, shape=(1, 1)) -> np.ndarray:
        a = np.empty(shape, dtype=[(k, object) for k in fields])
        for k, v in fields.items():
            a[0, 0][k] = v
        return a

    n = len(images)
    annolist = np.empty((1, n), dtype=[("image", object), ("annorect", object), ("frame_sec", object),
                                       ("vididx", object)])
    for i, im in enumerate(images):
        rects = im.get("rects", [])
        fields = ["scale", "objpos", "x1", "y1", "x2", "y2", "annopoints"]
        ar = np.empty((1, len(rects)), dtype=[(k, object) for k in fields])
        for j, r in enumerate(rects):
            rec = ar[0, j]
            for k in fields:
                rec[k] = np.zeros((0, 0))
            if "scale" in r:
                rec["scale"] = np.array([[float(r["scale"])]])
            if "center" in r:
                rec["objpos"] = struct({"x": np.array([[float(r["center"][0]) + 1]]),
                                        "y": np.array([[float(r["center"][1]) + 1]])})
            if r.get("head_box") is not None:
                for k, v in zip(("x1", "y1", "x2", "y2"), r["head_box"]):
                    rec[k] = np.array([[int(round(float(v) + 1))]])
            if r.get("points") is not None:
                pts = sorted(r["points"].items())
                pt = np.empty((1, len(pts)), dtype=[("x", object), ("y", object), ("id", object),
                                                    ("is_visible", object)])
                for q, (jid, (x, y, v)) in enumerate(pts):
                    pt[0, q]["x"] = np.array([[float(x) + 1]])
                    pt[0, q]["y"] = np.array([[float(y) + 1]])
                    pt[0, q]["id"] = np.array([[int(jid)]])
                    pt[0, q]["is_visible"] = np.zeros((0, 0)) if v is None else (v if isinstance(v, str)
                                                                               else np.array([[int(v)]]))
                rec["annopoints"] = struct({"point": pt})
        annolist[0, i]["image"] = struct({"name": im["name"]})
        annolist[0, i]["annorect"] = ar
        annolist[0, i]["frame_sec"] = np.zeros((0, 0))
        annolist[0, i]["vididx"] = np.zeros((0, 0))
    single = np.empty((n, 1), dtype=object)
    act = np.empty((n, 1), dtype=[("act_name", object), ("cat_name", object), ("act_id", object)])
    for i, im in enumerate(images):
        single[i, 0] = np.array([[k + 1 for k in im.get("single_person", [])]], np.float64)
        act[i, 0]["act_name"] = im.get("act_name", "")
        act[i, 0]["cat_name"] = im.get("cat_name", "")
        act[i, 0]["act_id"] = np.array([[int(im.get("act_id", -1))]])
    release = struct({"annolist": annolist,
                      "img_train": np.array([[int(bool(im.get("train", True))) for im in images]], np.uint8),
                      "version": "12", "single_person": single, "act": act, "video_list": np.empty((1, 0), object)})
    with atomic_path(path) as tmp:
        sio.savemat(tmp, {"RELEASE": release})
