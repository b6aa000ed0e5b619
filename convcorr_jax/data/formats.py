"""Which real format a file or folder is in, and what its loader reads from it.

    data, what = read_format(path)                # the loader's result and a one-line description; the format
                                                  # ("flic", "mpii_h5", "300w", "image_folder", ...) detected, or fmt=
    READERS.register("hands", Reader("my_pkg.hands", "load_hands", "hand keypoints"))  # a format of one's own
    name = detect_dataset(root)                   # the experiments' dataset name of a root folder, or None

Formats: FLIC examples.mat (+ the FLIC-plus index files), MPII .h5 / RELEASE .mat, LSP joints.mat, PASCAL keypoint
XML (file, class folders, or a tree with annotations/<class>/), .pts or a 300-W folder, COCO landmark json,
COCO-format person-keypoint folder (annotations/*.json), VOC segmentation folder or label PNG, joints CSV, PF-WILLOW
folder or pts_coord .mat, image folder, image. A folder of none of them, or whose annotations/ holds both VOC class
folders and COCO-format files, is one InputError (give the format to read it as one).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Callable

import numpy as np

from convcorr_jax.data._common import folder_listing
from convcorr_jax.data.types import IMAGE_EXTENSIONS
from convcorr_jax.data.voc_keypoints import VOC_CLASSES
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.registry import Registry

# what a format's reader gives (`read_format`): an array (indices, points, joints, a label map, an image) or a list of
# samples (a `Loaded`, with its `skipped`; one keypoint XML file's sample in a list)
FormatData = np.ndarray | list

# variable of a MATLAB file -> its format, in the order they are looked for
MAT_VARIABLES = (("examples", "flic"), ("RELEASE", "mpii_release"), ("joints", "lsp"),
                 ("tr_plus_indices", "flic_plus"), ("ts_plus_indices", "flic_plus"), ("pts_coord", "pf_willow_mat"))
SUFFIXES = {".pts": "pts", ".xml": "keypoint_xml", ".png": "label_png", ".json": "coco_json", ".csv": "joints_csv"}


# what `_detect_folder` recognises, for the error on a folder it does not
FOLDERS = ("FLIC examples.mat, LSP joints.mat, VOC keypoint class folders (<class>/*.xml or "
           "annotations/<class>/*.xml), COCO-format keypoint files (annotations/*.json), VOC SegmentationClass/, "
           "PF-WILLOW sub-class folders of .png + .mat, .pts files or images")


def _is_voc_classes(folder: Path) -> bool:
    """Whether `folder` holds a VOC class folder of keypoint XML files (`<class>/*.xml`)."""
    return any((folder / c).is_dir() and any((folder / c).glob("*.xml")) for c in VOC_CLASSES)


def _annotations_format(path: Path) -> str | None:
    """The format of a folder by its annotations/: "voc_keypoints_parent" (class folders of XML), "coco_keypoints"
    (COCO-format .json files, `coco_keypoints.LAYOUTS`), None without either; InputError when it holds both, or .json
    files in neither COCO layout."""
    ann = path / "annotations"
    if not ann.is_dir():
        return None
    voc, coco = _is_voc_classes(ann), any(f.is_file() for f in ann.glob("*.json"))
    if voc and coco:
        raise InputError(path, "annotations", "the annotations of one format: VOC keypoint class folders "
                         "(annotations/<class>/*.xml) or COCO-format keypoint files (annotations/*.json); give the "
                         "format to read it as one of them", "both")
    if coco:
        from convcorr_jax.data.coco_keypoints import layout  # lazily: reading the folder needs it, detecting VOC not

        layout(path)  # json files of other names: one error naming the two COCO layouts
        return "coco_keypoints"
    return "voc_keypoints_parent" if voc else None


def _detect_folder(path: Path) -> str | None:
    """The format of a folder by what it holds, in the order of `FOLDERS`; None for none of them."""
    if (path / "examples.mat").is_file():
        return "flic"
    if (path / "joints.mat").is_file():
        return "lsp"
    if _is_voc_classes(path):
        return "voc_keypoints"
    fmt = _annotations_format(path)
    if fmt is not None:
        return fmt
    if (path / "SegmentationClass").is_dir():
        return "voc_segmentation"
    if any(d.is_dir() and any(d.glob("*.png")) and any(d.glob("*.mat")) for d in path.iterdir()):
        return "pf_willow"
    if any(path.rglob("*.pts")):
        return "300w"
    if any(f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file() for f in path.rglob("*")):
        return "image_folder"
    return None


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
    return None if fmt is None else DATASET_OF_FORMAT.get(fmt)


def _detect_format(path: str | Path) -> str:
    """The format name (one of `FORMATS`) of a file or folder, from its contents, file names and suffix.

    Args:
        path: a file or folder. Folders are told by what they hold, .mat files by their variables
            (`MAT_VARIABLES`), a .png by its mode (a palette or "L" PNG is a label PNG, any other an image),
            other files by suffix (`SUFFIXES`; anything else is "image").

    Returns:
        The format name (str).

    Raises:
        InputError: for a missing path, a folder of no known format (`FOLDERS`) or of two (`_annotations_format`), or
            an unreadable .mat or one holding none of the known variables.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "path", "an existing file or folder", "missing")
    if path.is_dir():
        fmt = _detect_folder(path)
        if fmt is None:
            raise InputError(path, "format", f"a folder of a known format ({FOLDERS}), or the format given",
                             f"none of them (it holds {folder_listing(path)})")
        return fmt
    suf = path.suffix.lower()
    if suf == ".h5":
        return "mpii_h5"
    if suf == ".mat":
        import scipy.io as sio  # lazily: the experiments' runner imports this module for `detect_dataset`

        try:
            names = {n for n, _shape, _cls in sio.whosmat(path)}
        except Exception as e:
            raise InputError(path, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None
        for var, fmt in MAT_VARIABLES:
            if var in names:
                return fmt
        raise InputError(path, "variables", "examples, RELEASE, joints, *_plus_indices or pts_coord", sorted(names))
    if suf == ".png" and not _is_label_png(path):
        return "image"
    return SUFFIXES.get(suf, "image")


def _is_label_png(path: Path) -> bool:
    """Whether a .png can be a label PNG, from its header: palette ("P") or "L" (a photo saved as an RGB or RGBA PNG
    is an image); a file PIL cannot open is left to the label reader, which names what is wrong."""
    from PIL import Image

    from convcorr_jax.data.types import relay_pil_warnings

    try:
        with relay_pil_warnings(path), Image.open(path) as im:
            return im.mode in ("P", "L")
    except (OSError, SyntaxError, Image.DecompressionBombError):  # `read_label_png` says which, in one line
        return True


@dataclasses.dataclass(frozen=True)
class Reader:
    """How one format is read: `convcorr_jax.data.<module>.<function>(path, ...)` and a line that describes it.

    Attributes:
      module: the module holding the reader: a module of `convcorr_jax.data` by its name ("flic"), or any module
        by its dotted path; imported on the first read of its format (the readers bring their own dependencies,
        h5py, scipy.io, PIL; detecting a format needs none of them).
      function: the reader's name in `module`.
      what: the one-line description of the format.
      options: the `read_format` options the reader takes, as keywords (of "skip_bad", "with_images",
        "voc_root", "coordinate_base", "progress").
      call: for a reader that needs more than `reader(path, **options)`: `call(reader, path, options, what)` ->
        (data, what); None: `(reader(path, **options), what)`.

    The data is a `FormatData`: an array or a list of samples; a reader that returns anything else is refused when
    it is read.
    """

    module: str
    function: str
    what: str
    options: tuple[str, ...] = ()
    call: Callable[[Callable, Path, dict, str], tuple[FormatData, str]] | None = None

    def read(self, path: Path, options: dict) -> tuple[FormatData, str]:
        """(what the reader reads from `path`, the description of the format).

        Args:
          path: the file or folder.
          options: every `read_format` option by name; the reader gets those of `self.options`.

        Returns:
          (data, what) as `read_format` returns them; InputError naming the reader when its data is neither an
          array nor a list.
        """
        module = self.module if "." in self.module else f"convcorr_jax.data.{self.module}"
        reader = getattr(importlib.import_module(module), self.function)
        taken = {name: options[name] for name in self.options}
        if self.call is None:
            data, what = reader(path, **taken), self.what
        else:
            data, what = self.call(reader, path, taken, self.what)
        if not isinstance(data, (np.ndarray, list)):
            raise InputError(f"{module}.{self.function}", "data", "an array or a list of samples (`FormatData`)",
                             type(data).__name__)
        return data, what


def _one_sample(reader: Callable, path: Path, options: dict, what: str) -> tuple[FormatData, str]:
    """A single keypoint XML file as a list of its one sample."""
    return [reader(path, **options)], what


def _voc_tree(reader: Callable, path: Path, options: dict, what: str) -> tuple[FormatData, str]:
    """A tree with annotations/ read as its keypoint XML folder; the tree itself is the VOC root when it holds the
    images (JPEGImages/ or VOC2011/, e.g. the synthetic objects) and no `voc_root` is given."""
    if options["voc_root"] is None and any((path / d).is_dir() for d in ("JPEGImages", "VOC2011")):
        options = {**options, "voc_root": path}
    return reader(path / "annotations", **options), what


def _joints_csv(reader: Callable, path: Path, options: dict, what: str) -> tuple[FormatData, str]:
    """A joints CSV (name, x1, y1, x2, y2, ...): the joint count read from its first row, its rows described."""
    if not path.is_file():
        raise InputError(path, "file", "an existing joints CSV", "missing file")
    first = next((ln for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()), "")
    k = max(1, (len(first.split(",")) - 1) // 2)  # a row of a name alone: one joint expected, the row's error
    names, joints = reader(path, k)
    return joints, f"{what} ({len(names)} rows, {len(set(names))} images, {k} joints, as stored)"


_LOAD = ("skip_bad", "with_images", "progress")  # the options of the loaders of whole datasets
# format name -> its reader, in the order `FORMATS` lists them
READERS: Registry[Reader] = Registry("format", {
    "flic": Reader("flic", "load_flic", "FLIC examples.mat", _LOAD),
    "flic_plus": Reader("flic", "read_plus_indices", "FLIC-plus index file (printed 0-based)"),
    "lsp": Reader("lsp", "load_lsp", "LSP/LSPET joints.mat", _LOAD),
    "mpii_h5": Reader("mpii", "load_mpii_h5", "MPII hourglass h5", _LOAD),
    "mpii_release": Reader("mpii_release", "load_mpii_release", "MPII RELEASE .mat", _LOAD),
    "voc_keypoints": Reader("voc_keypoints", "load_voc_keypoints", "PASCAL VOC 2011 keypoint XML folder",
                            ("voc_root", *_LOAD)),
    "voc_keypoints_parent": Reader("voc_keypoints", "load_voc_keypoints", "PASCAL VOC 2011 keypoint XML folder",
                                   ("voc_root", *_LOAD), _voc_tree),
    "keypoint_xml": Reader("voc_keypoints", "read_keypoint_xml", "PASCAL keypoint XML", (), _one_sample),
    "300w": Reader("faces300w", "load_300w", "300-W style folder of .pts files", _LOAD),
    "pts": Reader("faces300w", "read_pts", "iBUG .pts (printed 0-based)"),
    "coco_json": Reader("faces300w", "load_coco_landmarks_json", "COCO-style keypoint json",
                        ("coordinate_base", "skip_bad")),
    "coco_keypoints": Reader("coco_keypoints", "load_coco_keypoints", "COCO-format person-keypoint folder"),
    "voc_segmentation": Reader("voc_segmentation", "load_voc_segmentation", "VOC segmentation folder", _LOAD),
    "label_png": Reader("voc_segmentation", "read_label_png", "VOC label PNG"),
    "joints_csv": Reader("mpii", "read_joints_csv", "joints CSV", (), _joints_csv),
    "image_folder": Reader("voc_segmentation", "load_image_folder", "image folder", ("skip_bad", "progress")),
    "image": Reader("types", "load_image", "image"),
    "pf_willow": Reader("pf_willow", "load_pf_willow", "PF-WILLOW folder of sub-classes", _LOAD),
    "pf_willow_mat": Reader("pf_willow", "read_pts_coord", "PF-WILLOW pts_coord (printed 0-based, K x 2)"),
})
FORMATS = READERS.names  # the format names, a live view (a format registered later is seen)


def read_format(path: str | Path, fmt: str | None = None, skip_bad: bool = False, with_images: bool = False,
                voc_root: str | Path | None = None, coordinate_base: int = 0,
                progress: bool = False) -> tuple[FormatData, str]:
    """(what the loader of `fmt` reads from `path`, a one-line description); `fmt` None: `_detect_format(path)`.

    Args:
        path: the file or folder.
        fmt: one of `FORMATS`, or None to detect it.
        skip_bad, with_images: passed to the loaders that take them.
        voc_root: the VOC2011 devkit folder for keypoint XML folders.
        coordinate_base: 0 (COCO) or 1 (copied .pts) for COCO json.
        progress: a progress bar of the records read (`core.progress`) where the images are read (`with_images`,
            or an image folder) by a reader that takes it; elsewhere nothing (a read of annotations alone is short).

    Returns:
        (data, what): the loader's result, a `FormatData` (a list: a `Loaded` of samples, a list of one sample for
        "keypoint_xml"; an array: int64 indices for "flic_plus", float32 [N, 2] points for "pts", the
        `read_pts_coord` array for "pf_willow_mat", the label array for "label_png", the joints for "joints_csv", a
        uint8 RGB [H, W, 3] image for "image") and a one-line description of the format.

    Raises:
        InputError: for an unknown format, an option given (not its default) that the format's reader does not
            take, or from the loader.
    """
    path = Path(path)
    fmt = _detect_format(path) if fmt is None else fmt
    if fmt not in READERS:
        raise InputError(path, "format", f"one of {list(FORMATS)}", fmt)
    options = {"skip_bad": skip_bad, "with_images": with_images, "voc_root": voc_root,
               "coordinate_base": coordinate_base, "progress": progress and (with_images or fmt in _READ_IMAGES)}
    _check_options_taken(path, fmt, options)
    return READERS[fmt].read(path, options)


_OPTION_DEFAULTS = {"skip_bad": False, "with_images": False, "voc_root": None, "coordinate_base": 0}
_READ_IMAGES = ("image_folder", "image")  # formats whose reader reads every image anyway (with_images is moot)


def _check_options_taken(path: Path, fmt: str, options: dict) -> None:
    """InputError naming the first option given (not its default) that the reader of `fmt` does not take: it would
    be dropped without a word (`coordinate_base` 1 on a joints CSV, `voc_root` on FLIC)."""
    for name, default in _OPTION_DEFAULTS.items():
        if name == "with_images" and fmt in _READ_IMAGES:
            continue
        if options[name] != default and name not in READERS[fmt].options:
            takers = [f for f in FORMATS if name in READERS[f].options]
            raise InputError(path, name, f"only with a format that reads it ({', '.join(takers)})",
                             f"{options[name]} for format {fmt}, whose reader does not take it")
