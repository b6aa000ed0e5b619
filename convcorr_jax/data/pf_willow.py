"""PF-WILLOW (Proposal Flow benchmark; Ham, Cho, Schmid and Ponce, CVPR 2016).

Layout: `<root>/<sub-class>/<name>.png` with `<name>.mat` beside each image, holding `pts_coord` [2 x K]
(row 0 = x, row 1 = y; MATLAB 1-based pixels; K = 10). Keypoint i is the same part in every image of a
sub-class. The official release has 10 sub-classes (`PF_WILLOW_CLASSES`) of 10 images each.
Benchmark protocol (the release's `dense_flow_eva_WILLOW.m`): every ordered pair (source i, target j), i != j,
of a sub-class (90 pairs); PCK of the transferred source keypoints against the target's keypoints at
alpha * max(w, h) of the target's keypoint box (`convcorr_jax.core.correspondence_metrics.pf_pck`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from convcorr_jax.data._common import Loaded, collect, load_mat, points_bbox
from convcorr_jax.data.types import KeypointSample, load_image
from convcorr_jax.core.errors import InputError, check_shape

PF_WILLOW_CLASSES: tuple[str, ...] = (
    "car(G)", "car(M)", "car(S)", "duck(S)", "motorbike(G)", "motorbike(M)", "motorbike(S)", "winebottle(M)",
    "winebottle(wC)", "winebottle(woC)",
)
PF_WILLOW_NUM_KEYPOINTS = 10
# Part names as the release's prepKP_WILLOW.m makes them ('part_' char(64 + i)).
PF_WILLOW_PARTS: tuple[str, ...] = tuple(f"part_{chr(65 + i)}" for i in range(PF_WILLOW_NUM_KEYPOINTS))


def pf_willow_classes(root: str | os.PathLike) -> tuple[str, ...]:
    """Sub-class folder names under `root` that hold PNG images, sorted (e.g. ("car(S)", "duck(S)")).

    Args:
        root: the folder holding the sub-class folders.

    Returns:
        Tuple of folder names (str), sorted.

    Raises:
        InputError: when `root` is missing or holds no folder of PNG images.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "root", "a PF-WILLOW folder holding sub-class folders (e.g. 'car(S)/')",
                         "a file" if root.exists() else "missing")
    found = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and any(d.glob("*.png"))))
    if not found:
        raise InputError(root, "sub-class folders", "folders of PNG images with .mat keypoint files "
                         f"(e.g. {', '.join(PF_WILLOW_CLASSES[:3])})", "none found")
    return found


def read_pts_coord(path: str | os.PathLike, num_keypoints: int | None = PF_WILLOW_NUM_KEYPOINTS) -> np.ndarray:
    """A PF-WILLOW `.mat` -> float32 [K, 2] 0-based (x, y) pixels (`pts_coord` [2 x K] 1-based, minus 1).

    Args:
        path: the keypoint .mat beside an image.
        num_keypoints: K, the points the file must hold (10); None: any K >= 1.

    Returns:
        float32 [K, 2] 0-based (x, y) pixels.

    Raises:
        InputError: for a missing or unreadable file, no numeric 2 x K `pts_coord`, or non-finite coordinates.
    """
    path = Path(path)
    m = load_mat(path, "an existing PF-WILLOW keypoint .mat beside the image")
    return pts_coord_points(m, path, num_keypoints)


def pts_coord_points(variables: Mapping, source: str | os.PathLike,
                     num_keypoints: int | None = PF_WILLOW_NUM_KEYPOINTS) -> np.ndarray:
    """The points of a loaded PF-WILLOW `.mat`: its `pts_coord` [2 x K] (row 0 x, row 1 y, MATLAB's 1-based
    pixels) as 0-based (x, y) rows, the one place the 1 is subtracted.

    Args:
        variables: the file's variables (`_common.load_mat`, `scipy.io.loadmat`).
        source: the file, named in an error.
        num_keypoints: K, the points it must hold; None: any K >= 1.

    Returns:
        float32 [K, 2] 0-based (x, y) pixels.

    Raises:
        InputError: naming `source`, for no numeric 2 x K `pts_coord` or non-finite coordinates.
    """
    if "pts_coord" not in variables:
        raise InputError(source, "pts_coord", "a variable 'pts_coord' [2 x K]",
                         sorted(k for k in variables if k[0] != "_"))
    c = np.asarray(variables["pts_coord"])
    check_shape(c, ["2", "K>=1" if num_keypoints is None else num_keypoints], source, "pts_coord", dtype="number",
                note="(row 0 x, row 1 y)")
    pts = c.T.astype(np.float64) - 1.0
    if not np.all(np.isfinite(pts)):
        raise InputError(source, "pts_coord", "finite coordinates", "NaN or inf")
    return pts.astype(np.float32)


def load_pf_willow(root: str | os.PathLike, classes: Sequence[str] | None = None, skip_bad: bool = False,
                   with_images: bool = False, progress: bool = False) -> Loaded:
    """PF-WILLOW images as keypoint samples, sub-class by sub-class, images in file-name order.

    Args:
        root: the folder holding the sub-class folders (e.g. `PF-dataset-WILLOW/`).
        classes: sub-class folder names to read, in this order (default: every one present,
            `pf_willow_classes(root)`).
        skip_bad: skip images whose .mat is bad (recorded in `Loaded.skipped`) instead of raising.
        with_images: load each PNG into `image`.
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `KeypointSample`s: points float32 [10, 2] 0-based (x, y); visible all True; names
        `PF_WILLOW_PARTS`; bbox = tight box of the 10 keypoints (0-based, inclusive); category = object class
        ("car"); id = "<sub-class>/<stem>"; image_path the PNG; extras: subclass ("car(S)"), index (position within
        its sub-class).

    Raises:
        InputError: for a missing sub-class folder or one without PNGs, or (without `skip_bad`) a bad .mat, a
            PNG without its .mat or a .mat without its PNG.
    """
    root = Path(root)
    classes = tuple(classes) if classes is not None else pf_willow_classes(root)
    records: list[tuple[str, int, Path]] = []
    for c in classes:
        d = root / c
        if not d.is_dir():
            raise InputError(d, "sub-class", f"a sub-class folder of {root}", "missing")
        pngs = sorted(d.glob("*.png"))
        if not pngs:
            raise InputError(d, "images", "PNG images with .mat keypoint files", "none found")
        # a keypoint .mat whose PNG is missing is a sample too (refused in `parse`), not a pair silently left out
        stems = sorted({p.with_suffix(".png") for p in pngs} | {m.with_suffix(".png") for m in d.glob("*.mat")})
        records.extend((c, i, p) for i, p in enumerate(stems))

    def parse(rec: tuple[str, int, Path]) -> KeypointSample:
        sub, i, png = rec
        if not png.is_file():
            raise InputError(png, "image", "the PNG beside its keypoint .mat (a sub-class's pairs are every ordered "
                             "pair of its images)", "missing file")
        pts = read_pts_coord(png.with_suffix(".mat"))
        s = KeypointSample(points=pts, visible=np.ones(len(pts), bool), names=PF_WILLOW_PARTS,
                           bbox=points_bbox(pts), category=sub.split("(")[0], id=f"{sub}/{png.stem}",
                           image_path=os.fspath(png), extras={"subclass": sub, "index": i})
        if with_images:
            s = dataclasses.replace(s, image=load_image(png))
        return s

    return collect(records, parse, skip_bad, what="load_pf_willow", progress=progress)


def ordered_pairs(n: int) -> np.ndarray:
    """All ordered pairs (source i, target j), i != j, of n items, source-major.

    Args:
        n: the number of items.

    Returns:
        int64 [n (n - 1), 2] (i, j) rows in the release's loop order: for each source, every other image as target.
    """
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = i != j
    return np.stack([i[keep], j[keep]], axis=-1).astype(np.int64)


def pf_willow_pairs(root: str | os.PathLike, subclass: str,
                    with_images: bool = False) -> list[tuple[KeypointSample, KeypointSample]]:
    """The benchmark's ordered (source, target) sample pairs of one sub-class: 90 for 10 images.

    Args:
        root: the folder holding the sub-class folders.
        subclass: one sub-class folder name, e.g. "car(S)".
        with_images: load the images into the samples.

    Returns:
        list of (source, target) `KeypointSample` pairs in `ordered_pairs` order.
    """
    samples = load_pf_willow(root, classes=[subclass], with_images=with_images)
    return [(samples[a], samples[b]) for a, b in ordered_pairs(len(samples))]
