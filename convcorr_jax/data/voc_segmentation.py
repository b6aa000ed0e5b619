"""VOC 2012 segmentation (palette PNG label maps, 255 = void) and plain image folders.

`SegmentationClass/<id>.png` is an 8-bit palette ('P') PNG whose pixel values are class indices
(0 background, 1..20 the VOC classes, 255 void/boundary); the palette only colours them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convcorr_jax.data._common import Loaded, collect
from convcorr_jax.data.types import (IMAGE_EXTENSIONS, SegSample, check_declared_size, load_image,
                                     relay_pil_warnings)
from convcorr_jax.data.voc_devkit import read_image_set
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.core.io import atomic_path


def voc_palette(n: int = 256) -> np.ndarray:
    """The VOC colour map uint8 [n, 3] (bit-interleaved: class 1 = (128, 0, 0), 255 = (224, 224, 192)).

    Args:
        n: the number of colours (256 covers every uint8 class index).

    Returns:
        uint8 [n, 3] RGB colour of each class index.
    """
    pal = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


VOC_PALETTE = voc_palette()


def write_label_png(path: str | os.PathLike, label: np.ndarray) -> None:
    """Write a class-index map uint8 [H, W] as a VOC palette PNG, atomically.

    Args:
        path: the PNG to write.
        label: uint8 [H, W] class indices (0 background, 255 void); the palette is `VOC_PALETTE`.

    Returns:
        None; writes the file.

    Raises:
        InputError: for a label that is not uint8 [H, W].
    """
    from PIL import Image

    lab = np.asarray(label)
    check_shape(lab, "H W", path, "label", dtype="uint8", note="(class indices)")
    im = Image.frombytes("P", (lab.shape[1], lab.shape[0]), np.ascontiguousarray(lab).tobytes())
    im.putpalette(VOC_PALETTE.ravel().tolist())
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")


def read_label_png(path: str | os.PathLike, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a VOC label PNG -> uint8 [H, W] class indices.

    Palette 'P' or single-channel 'L' only: an RGB rendering would need colour -> class decoding and is refused.

    Args:
        path: the label PNG.
        expected_size: (width, height) the label must have (the image's), checked when given.

    Returns:
        uint8 [H, W] class indices as stored (0 background, 255 void).

    Raises:
        InputError: for a missing, unreadable or oversized file, another mode, or a size other than `expected_size`.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError(p, "label", "an existing label PNG", "missing file")
    try:
        with relay_pil_warnings(p), Image.open(p) as im:
            check_declared_size(p, im, "label")
            im.load()
            if im.mode not in ("P", "L"):
                raise InputError(p, "label mode", "a palette ('P') or 'L' PNG of class indices", im.mode)
            lab = np.asarray(im, dtype=np.uint8).copy()
    except Image.DecompressionBombError as e:
        raise InputError(p, "label", "a label PNG of at most the images' size limit", f"larger: {e}") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise InputError(p, "label", "a complete, readable PNG", f"{type(e).__name__}: {e}") from e
    if expected_size is not None and (lab.shape[1], lab.shape[0]) != tuple(expected_size):
        raise InputError(p, "label size", f"(width, height) = {tuple(expected_size)} (the image's)",
                         (lab.shape[1], lab.shape[0]))
    return lab


def load_voc_segmentation(voc_root: str | os.PathLike, image_set: str | None = None,
                          label_dir: str = "SegmentationClass", num_classes: int = 21, skip_bad: bool = False,
                          with_images: bool = False, progress: bool = False) -> Loaded:
    """`SegSample`s of a VOC folder (VOC2012 or the synthetic objects): `<label_dir>/<id>.png` and
    `JPEGImages/<id>.jpg`.

    Args:
        voc_root: the VOC folder.
        image_set: "train", "val", ... or a path: the ids of ImageSets/Segmentation/<set>.txt (or of that file);
            None: every PNG in `label_dir`, sorted.
        label_dir: the folder of label PNGs.
        num_classes: labels outside 0..num_classes-1 and 255 are an error.
        skip_bad: skip bad labels (recorded in `Loaded.skipped`) instead of raising.
        with_images: read each image; its size must equal the label's.
        progress: a progress bar of the records read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` of `SegSample`s: label uint8 [H, W], id, image_path `JPEGImages/<id>.jpg`, image uint8 RGB
        [H, W, 3] or None.

    Raises:
        InputError: for a missing `label_dir`, or (without `skip_bad`) a bad label or image.
    """
    r = Path(voc_root)
    if not (r / label_dir).is_dir():
        raise InputError(r, label_dir, f"a {label_dir}/ folder of palette PNGs", "missing")
    if image_set is not None:
        p = Path(image_set)
        ids = read_image_set(p if p.is_file() else r / "ImageSets" / "Segmentation" / f"{image_set}.txt")
    else:
        ids = sorted(f.stem for f in (r / label_dir).glob("*.png"))

    def parse(i: str):
        lab = read_label_png(r / label_dir / f"{i}.png")
        bad = (lab >= num_classes) & (lab != 255)
        if bad.any():
            raise InputError(r / label_dir / f"{i}.png", "label values", f"0..{num_classes - 1} or 255",
                             sorted(set(np.unique(lab[bad]).tolist()))[:5])
        path = r / "JPEGImages" / f"{i}.jpg"
        img = None
        if with_images:
            img = load_image(path, expected_size=(lab.shape[1], lab.shape[0]))
        return SegSample(label=lab, id=i, image=img, image_path=os.fspath(path))

    return collect(ids, parse, skip_bad, what="load_voc_segmentation", progress=progress)


def load_image_folder(root: str | os.PathLike, size: tuple[int, int] | None = None, recursive: bool = True,
                      skip_bad: bool = False, progress: bool = False) -> Loaded:
    """Every image under `root` (sorted by relative path) as (relative path, uint8 [H, W, 3]) pairs.

    Grayscale and CMYK images are converted to RGB (`load_image`).

    Args:
        root: the folder; files with a suffix in `IMAGE_EXTENSIONS` are read.
        size: (width, height) to resize each image to (bilinear) so a batch can be stacked; None keeps each size.
        recursive: also read sub-folders.
        skip_bad: skip unreadable files (recorded in `Loaded.skipped`); otherwise they raise InputError.
        progress: a progress bar of the images read (`core.progress`: plain log lines off a terminal).

    Returns:
        `Loaded` list of (POSIX relative path, uint8 RGB [H, W, 3]) tuples.
    """
    from PIL import Image

    r = Path(root)
    if not r.is_dir():
        raise InputError(r, "root", "a folder of images", "missing")
    files = sorted(p for p in (r.rglob("*") if recursive else r.glob("*"))
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    def parse(p: Path):
        img = load_image(p)
        if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
            img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR))  # PIL takes any 2-sequence
        return [(p.relative_to(r).as_posix(), img)]

    return collect(files, parse, skip_bad, what="load_image_folder", progress=progress)
