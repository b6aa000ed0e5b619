"""Which real format a file or folder is in, and what its loader reads from it.

    fmt = detect_format(path)                     # e.g. "flic", "mpii_h5", "300w", "image_folder"
    data, what = read_format(path, fmt)           # the loader's result and a one-line description
    name = detect_dataset(root)                   # the experiments' dataset name of a root folder, or None

Formats: FLIC examples.mat (+ the FLIC-plus index files), MPII .h5 / RELEASE .mat, LSP joints.mat, PASCAL keypoint
XML (file, class folders, or a tree with annotations/), .pts or a 300-W folder, COCO landmark json, VOC
segmentation folder or label PNG, joints CSV, PF-WILLOW folder or pts_coord .mat, image folder, image.
"""

from __future__ import annotations

from pathlib import Path

from convcorr_jax.errors import InputError

FORMATS = ("flic", "flic_plus", "lsp", "mpii_h5", "mpii_release", "voc_keypoints", "voc_keypoints_parent",
           "keypoint_xml", "300w", "pts", "coco_json", "voc_segmentation", "label_png", "joints_csv",
           "image_folder", "image", "pf_willow", "pf_willow_mat")

# variable of a MATLAB file -> its format, in the order they are looked for
MAT_VARIABLES = (("examples", "flic"), ("RELEASE", "mpii_release"), ("joints", "lsp"),
                 ("tr_plus_indices", "flic_plus"), ("ts_plus_indices", "flic_plus"), ("pts_coord", "pf_willow_mat"))
SUFFIXES = {".pts": "pts", ".xml": "keypoint_xml", ".png": "label_png", ".json": "coco_json", ".csv": "joints_csv"}


def _detect_folder(path: Path) -> str:
    if (path / "examples.mat").is_file():
        return "flic"
    if (path / "joints.mat").is_file():
        return "lsp"
    from convcorr_jax.data.voc_keypoints import VOC_CLASSES

    if any((path / c).is_dir() and any((path / c).glob("*.xml")) for c in VOC_CLASSES):
        return "voc_keypoints"
    if (path / "annotations").is_dir():
        return "voc_keypoints_parent"
    if (path / "SegmentationClass").is_dir():
        return "voc_segmentation"
    if any(d.is_dir() and any(d.glob("*.png")) and any(d.glob("*.mat")) for d in path.iterdir()):
        return "pf_willow"
    if any(path.rglob("*.pts")):
        return "300w"
    return "image_folder"


# folder format (`_detect_folder`) -> the experiments' dataset name (`data=`)
DATASET_OF_FORMAT = {"flic": "flic", "lsp": "lsp", "voc_keypoints_parent": "voc", "voc_segmentation": "voc",
                     "pf_willow": "pf_willow", "300w": "300w"}


def detect_dataset(root: str | Path) -> str | None:
    """The dataset name (`data=` of the experiments) of a dataset root folder, from what it holds.

    A FLIC root holds examples.mat, MPII annot/*.h5 (or hg_annot/*.h5) or a RELEASE .mat (mpii_human_pose*.mat),
    LSP joints.mat, VOC 2011 annotations/ or SegmentationClass/ (or JPEGImages/ with ImageSets/), 300-W .pts
    files, PF-WILLOW sub-class folders of .png + .mat.

    Args:
        root: the dataset's root folder.

    Returns:
        "flic", "mpii", "lsp", "voc", "300w" or "pf_willow"; None when nothing known is there.

    Raises:
        InputError: when `root` is missing or not a folder.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(root, "data_root", "an existing dataset folder", "no such folder")
    if not root.is_dir():
        raise InputError(root, "data_root", "a dataset folder", "a file")
    if any((root / d).is_dir() and any((root / d).glob("*.h5")) for d in ("annot", "hg_annot")):
        return "mpii"
    if any(root.glob("mpii_human_pose*.mat")):
        return "mpii"
    if (root / "JPEGImages").is_dir() and (root / "ImageSets").is_dir():
        return "voc"
    fmt = _detect_folder(root)
    if fmt == "voc_keypoints":
        return "voc"
    return DATASET_OF_FORMAT.get(fmt)


def detect_format(path: str | Path) -> str:
    """The format name (one of `FORMATS`) of a file or folder, from its contents, file names and suffix.

    Args:
        path: a file or folder. Folders are told by what they hold, .mat files by their variables
            (`MAT_VARIABLES`), other files by suffix (`SUFFIXES`; anything else is "image").

    Returns:
        The format name (str).

    Raises:
        InputError: for a missing path, or an unreadable .mat or one holding none of the known variables.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "path", "an existing file or folder", "missing")
    if path.is_dir():
        return _detect_folder(path)
    suf = path.suffix.lower()
    if suf == ".h5":
        return "mpii_h5"
    if suf == ".mat":
        import scipy.io as sio

        try:
            names = {n for n, _shape, _cls in sio.whosmat(path)}
        except Exception as e:
            raise InputError(path, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None
        for var, fmt in MAT_VARIABLES:
            if var in names:
                return fmt
        raise InputError(path, "variables", "examples, RELEASE, joints, *_plus_indices or pts_coord", sorted(names))
    return SUFFIXES.get(suf, "image")


def read_format(path: str | Path, fmt: str | None = None, skip_bad: bool = False, with_images: bool = False,
                voc_root: str | Path | None = None, coordinate_base: int = 0) -> tuple[object, str]:
    """(what the loader of `fmt` reads from `path`, a one-line description); `fmt` None: `detect_format(path)`.

    Args:
        path: the file or folder.
        fmt: one of `FORMATS`, or None to detect it.
        skip_bad, with_images: passed to the loaders that take them.
        voc_root: the VOC2011 devkit folder for keypoint XML folders.
        coordinate_base: 0 (COCO) or 1 (copied .pts) for COCO json.

    Returns:
        (data, what): the loader's result (a `Loaded` of samples; a list of one sample for "keypoint_xml"; int64
        indices for "flic_plus"; float32 [N, 2] points for "pts"; the `read_pts_coord` array for "pf_willow_mat";
        the label array for "label_png"; the joints for "joints_csv"; a uint8 RGB [H, W, 3] image for "image") and a
        one-line description of the format.

    Raises:
        InputError: for an unknown format, or from the loader.
    """
    path = Path(path)
    fmt = detect_format(path) if fmt is None else fmt
    if fmt not in FORMATS:
        raise InputError(path, "format", f"one of {list(FORMATS)}", fmt)
    kw = {"skip_bad": skip_bad}
    img = {"with_images": with_images}
    if fmt == "flic":
        from convcorr_jax.data.flic import load_flic

        return load_flic(path, **kw, **img), "FLIC examples.mat"
    if fmt == "flic_plus":
        from convcorr_jax.data.flic import read_plus_indices

        return read_plus_indices(path), "FLIC-plus index file (printed 0-based)"
    if fmt == "pf_willow":
        from convcorr_jax.data.pf_willow import load_pf_willow

        return load_pf_willow(path, **kw, **img), "PF-WILLOW folder of sub-classes"
    if fmt == "pf_willow_mat":
        from convcorr_jax.data.pf_willow import read_pts_coord

        return read_pts_coord(path), "PF-WILLOW pts_coord (printed 0-based, K x 2)"
    if fmt == "lsp":
        from convcorr_jax.data.lsp import load_lsp

        return load_lsp(path, **kw, **img), "LSP/LSPET joints.mat"
    if fmt == "mpii_h5":
        from convcorr_jax.data.mpii import load_mpii_h5

        return load_mpii_h5(path, **kw, **img), "MPII hourglass h5"
    if fmt == "mpii_release":
        from convcorr_jax.data.mpii import load_mpii_release

        return load_mpii_release(path, **kw, **img), "MPII RELEASE .mat"
    if fmt in ("voc_keypoints", "voc_keypoints_parent"):
        from convcorr_jax.data.voc_keypoints import load_voc_keypoints

        root = path if fmt == "voc_keypoints" else path / "annotations"
        voc = voc_root
        if voc is None and fmt == "voc_keypoints_parent" and any(
                (path / d).is_dir() for d in ("JPEGImages", "VOC2011")):
            voc = path  # a VOC-style tree with annotations/ beside JPEGImages/ (e.g. the synthetic objects)
        return load_voc_keypoints(root, voc_root=voc, **kw, **img), "PASCAL VOC 2011 keypoint XML folder"
    if fmt == "keypoint_xml":
        from convcorr_jax.data.voc_keypoints import read_keypoint_xml

        return [read_keypoint_xml(path)], "PASCAL keypoint XML"
    if fmt == "300w":
        from convcorr_jax.data.faces300w import load_300w

        return load_300w(path, **kw, **img), "300-W style folder of .pts files"
    if fmt == "pts":
        from convcorr_jax.data.faces300w import read_pts

        return read_pts(path), "iBUG .pts (printed 0-based)"
    if fmt == "coco_json":
        from convcorr_jax.data.faces300w import load_coco_landmarks_json

        return load_coco_landmarks_json(path, coordinate_base=coordinate_base, **kw), "COCO-style keypoint json"
    if fmt == "voc_segmentation":
        from convcorr_jax.data.voc_segmentation import load_voc_segmentation

        return load_voc_segmentation(path, **kw, **img), "VOC segmentation folder"
    if fmt == "label_png":
        from convcorr_jax.data.voc_segmentation import read_label_png

        return read_label_png(path), "VOC label PNG"
    if fmt == "joints_csv":
        from convcorr_jax.data.mpii import read_joints_csv

        first = next((ln for ln in path.read_text().splitlines() if ln.strip()), "")
        k = (len(first.split(",")) - 1) // 2
        names, joints = read_joints_csv(path, k)
        return joints, f"joints CSV ({len(names)} rows, {len(set(names))} images, {k} joints, as stored)"
    if fmt == "image_folder":
        from convcorr_jax.data.voc_segmentation import load_image_folder

        return load_image_folder(path, skip_bad=skip_bad), "image folder"
    from convcorr_jax.data.types import load_image

    return load_image(path), "image"
