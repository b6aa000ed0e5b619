"""Leeds Sports Pose (LSP, 2,000 images) and LSP extended (LSPET, 10,000 images) `joints.mat`.

Both hold 14 joints x (x, y, flag) with 1-based (MATLAB) coordinates, converted to 0-based here, but the two
files differ in layout and in the meaning of the flag (checked on the real files):
* LSP: `joints` is 3 x 14 x 2000 and the flag is 1 for an OCCLUDED joint (the README says "a binary value
  specifying joint visibility"; in the file 92.7% of flags are 0, so 0 = visible). The coordinates of
  occluded joints are the annotator's estimate and always present.
* LSPET: `joints` is 14 x 3 x 10000 and the flag is 1 for a VISIBLE joint (88% are 1); flag-0 joints are
  missing/outside the image (e.g. image 1's right ankle at (0, -26.1)), and MobilePose's CSV writes them -1.
Hence: visible = (flag == 0) for the 3 x 14 x N layout, (flag == 1) for the 14 x 3 x N layout. For LSPET,
flag-0 joints are also marked unlabelled (extras["labelled"]) and their points NaN.

`people` reads a folder's train / val / test split as a pose dataset (`DATASET`, kind "lsp" of `data.pose_sets`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from convcorr_jax.data._common import Loaded, collect, points_bbox
from convcorr_jax.data.flic import image_size
from convcorr_jax.data.pose_dataset import PersonSet, PoseDataset, image_folder
from convcorr_jax.data.skeletons import LSP, LSP_JOINTS
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError, check_flags, check_shape


def read_lsp_joints(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, str]:
    """joints.mat -> (coords as stored (1-based), flags, layout).

    Args:
        path: an LSP or LSPET joints.mat.

    Returns:
        (coords, flag, layout): coords float64 [N, 14, 2] (x, y) as stored (1-based); flag int8 [N, 14] in {0, 1};
        layout "lsp" (3 x 14 x N, flag = occluded) or "lspet" (14 x 3 x N, flag = visible).

    Raises:
        InputError: for a missing or unreadable file, no `joints` variable, another shape, or flags other than 0/1.
    """
    import scipy.io as sio

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file", "an existing LSP joints.mat", "missing file")
    try:
        m = sio.loadmat(p)
    except Exception as e:
        raise InputError(p, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None
    if "joints" not in m:
        raise InputError(p, "joints", "a variable 'joints'", sorted(k for k in m if k[0] != "_"))
    j = np.asarray(m["joints"])
    check_shape(j, "3 14 N | 14 3 N", p, "joints", dtype="number", note="(LSP 3 x 14 x N or LSPET 14 x 3 x N)")
    j = j.astype(np.float64)
    if j.shape[:2] == (3, 14):
        arr, layout = j.transpose(2, 1, 0), "lsp"  # [N, 14, 3]
    else:
        arr, layout = j.transpose(2, 0, 1), "lspet"
    flag = arr[..., 2]
    check_flags(flag, (0, 1), p, "joints flag", "0 or 1 per joint (index [image, joint], 0-based)")
    return arr[..., :2], flag.astype(np.int8), layout


def load_lsp(path: str | os.PathLike, image_root: str | os.PathLike | None = None, skip_bad: bool = False,
             with_images: bool = False, indices: npt.ArrayLike | None = None, joints: tuple | None = None,
             progress: bool = False) -> Loaded:
    """LSP or LSPET people (14 joints, `LSP_JOINTS`, 0-based), one per image.

    Args:
        path: the joints.mat or its folder.
        image_root: the images' folder (default `images/` beside the .mat); image names: LSP `im0001.jpg`, LSPET
            `im00001.jpg`.
        skip_bad: skip people with non-finite coordinates (recorded in `Loaded.skipped`) instead of raising.
        with_images: load each image into `image`.
        indices: the 0-based people to read, in this order (default all).
        joints: `read_lsp_joints(path)` when already read.
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `KeypointSample`s, category "person", id "<layout>/im0001" style: points float32 [14, 2] 0-based
        (x, y), NaN where unlabelled (LSPET flag 0); visible bool [14] (module docstring); bbox the labelled joints'
        tight box. extras: layout, flag (raw, int8 [14]), labelled bool [14], index (0-based).

    Raises:
        InputError: from `read_lsp_joints`, for `indices` outside 0..N-1 (a negative one would name another
            image's file), or (without `skip_bad`) for non-finite stored coordinates.
    """
    p = Path(path)
    mat = p / "joints.mat" if p.is_dir() else p
    coords, flag, layout = joints if joints is not None else read_lsp_joints(mat)
    order = np.arange(len(coords)) if indices is None else np.asarray(indices, np.int64).ravel()
    if order.size and (order.min() < 0 or order.max() >= len(coords)):
        raise InputError(mat, "indices", f"0-based indices in 0..{len(coords) - 1}",
                         (int(order.min()), int(order.max())))
    root = Path(image_root) if image_root is not None else mat.parent / "images"
    width = 4 if layout == "lsp" else 5

    def parse(i: int):
        c = coords[i]
        if not np.all(np.isfinite(c)):
            raise InputError(f"{mat}[{i + 1}]", "joints", "finite coordinates", "NaN or inf")
        if layout == "lsp":
            visible, labelled = flag[i] == 0, np.ones(14, bool)
        else:
            visible = labelled = flag[i] == 1
        pts = np.where(labelled[:, None], c - 1.0, np.nan).astype(np.float32)
        name = f"im{i + 1:0{width}d}.jpg"
        s = KeypointSample(points=pts, visible=visible, names=LSP_JOINTS, bbox=points_bbox(pts), category="person",
                           id=f"{layout}/{name[:-4]}", image_path=os.fspath(root / name),
                           extras={"layout": layout, "flag": flag[i].copy(), "labelled": labelled, "index": i})
        return s.with_image() if with_images else s

    return collect([int(i) for i in order], parse, skip_bad, what="load_lsp", progress=progress)


VAL_FRACTION = 0.15  # the validation part of the training images (seeded, `people`)


def image_count(folder: Path, layout: str, n: int) -> int:
    """How many of the n people's images are in `folder`: the length of the run im0..1, im0..2, ... present; an
    image missing after a present one is an error (one line naming it), so is a folder without the first image.

    Args:
        folder: the images folder.
        layout: "lsp" (im0001.jpg) or "lspet" (im00001.jpg).
        n: the people in joints.mat.

    Returns:
        the count.
    """
    width = 4 if layout == "lsp" else 5
    present = [(folder / f"im{i + 1:0{width}d}.jpg").is_file() for i in range(n)]
    count = present.index(False) if False in present else n
    if count == 0:
        raise InputError(folder, "images", f"the {layout.upper()} images im{1:0{width}d}.jpg ...", "none found")
    if any(present[count:]):
        raise InputError(folder / f"im{count + 1:0{width}d}.jpg", "image", "an existing image file (the images "
                         "present must be im..1 to im..N without a gap)", "missing file")
    return count


def people(root: str | os.PathLike, split: str, train_images: int = 0, val_fraction: float = VAL_FRACTION,
           seed: int = 0, val_images: int = 0, test_images: int = 0) -> PersonSet:
    """The people of an LSP or LSPET folder (joints.mat + images/) as a `PersonSet`, one per image.

    Splits: the first `train_images` images are train + val (val: a seeded random `val_fraction` of them), the
    `test_images` after them test (0: the rest of the images present, so a folder with more images has a larger
    test part). train_images 0: LSP's standard split (the first 1,000 of LSP's 2,000 to train, the last 1,000 to
    test); for LSPET all images present train (then `--set train_images=N` sets a test part, `--set
    test_images=T` pins its size). With `val_images` M > 0 the parts are fixed instead: train the first N
    images, val the next M, test the `test_images` after them (0: all the rest); e.g. N, M, T = 5000, 500, 500 on
    LSP-extended: train im00001-im05000, val im05001-im05500, test im05501-im06000 (`LSPET_PARTS`). Crops: the
    whole image (LSP's images are people cut out of photos); norm_boxes: the tight box around each person's
    labelled joints (the LSP skeleton's "bbox" normaliser).

    Args:
        root: the folder (or its joints.mat).
        split: "train", "val" or "test".
        train_images: how many leading images are train + val (0: the standard split); with val_images, train.
        val_fraction: the part of them held out as val (without val_images).
        seed: the seed of the val draw (without val_images).
        val_images: 0, or the images after the train part that are val.
        test_images: the images after val (with val_images) or after train + val (without) that are test (0: all
            the rest).

    Returns:
        the PersonSet.
    """
    p = Path(root)
    mat = p / "joints.mat" if p.is_dir() else p
    joints = read_lsp_joints(mat)
    layout = joints[2]
    folder = image_folder(mat.parent / "images", layout.upper())
    n = image_count(folder, layout, len(joints[0]))
    n_train = train_images or (1000 if layout == "lsp" else n)
    if not 0 < n_train <= n:
        raise InputError("config", "train_images", f"1..{n} (the images present in {folder})", n_train)
    keep = _split_indices(split, n, n_train, val_fraction, seed, val_images, test_images, folder)
    if not keep:
        raise InputError(mat, "split", f"people in split {split!r} (train_images={n_train} of {n} images)", 0)
    chosen, empty = [], 0
    for s in load_lsp(mat, indices=keep, joints=joints):
        if s.extras["labelled"].any():
            chosen.append(s)
        else:
            empty += 1
    if not chosen:
        raise InputError(mat, "split", f"people with a labelled joint in split {split!r}",
                         f"none ({empty} without one)")
    boxes = []
    for s in chosen:
        size = image_size(s.image_path)  # InputError naming an unreadable image
        if size is None:  # `image_count` found it present; removed since
            raise InputError(s.image_path, "image", "an existing image file", "missing file")
        boxes.append((0.0, 0.0, size[0] - 1.0, size[1] - 1.0))
    norm_boxes = np.stack([s.bbox for s in chosen]).astype(np.float64)
    return PersonSet(chosen, LSP, np.asarray(boxes, np.float64), norm_boxes, os.fspath(mat), empty)


def _split_indices(split: str, n: int, n_train: int, val_fraction: float, seed: int, val_images: int,
                   test_images: int, folder: Path) -> list[int]:
    """The 0-based image positions of `split` (`people`)."""
    if val_images < 0 or test_images < 0:
        raise InputError("config", "val_images / test_images", ">= 0", (val_images, test_images))
    if not val_images:
        if split == "test" and n_train + test_images > n:
            raise InputError("config", "test_images", f"the test part within the {n} images present in {folder}",
                             (n_train, test_images))
        order = np.random.default_rng(seed).permutation(n_train)
        val = set(order[:int(round(val_fraction * n_train))].tolist())
        return {"train": [i for i in range(n_train) if i not in val], "val": sorted(val),
                "test": list(range(n_train, n_train + test_images if test_images else n))}[split]
    end = n_train + val_images + (test_images or max(n - n_train - val_images, 0))
    # only the split read must be present (a folder packed for training holds no test part)
    need = {"train": n_train, "val": n_train + val_images, "test": max(end, n_train + val_images + 1)}[split]
    if need > n:
        raise InputError("config", "val_images / test_images", f"the {split} part within the {n} images present in "
                         f"{folder}", (n_train, val_images, test_images))
    return {"train": list(range(n_train)), "val": list(range(n_train, n_train + val_images)),
            "test": list(range(n_train + val_images, end))}[split]


# LSP-extended's fixed parts of its first 6,000 images: train im00001-im05000, val im05001-im05500, test
# im05501-im06000 (the options of `people`)
LSPET_PARTS = {"train_images": 5000, "val_images": 500, "test_images": 500}

# the pose dataset kind "lsp" (`data.pose_sets`): person crops of the whole image, the "bbox" PCK normaliser
DATASET = PoseDataset(people, LSP, options=("train_images", "val_images", "test_images"),
                      root_about="a folder with LSP's joints.mat and images/")
