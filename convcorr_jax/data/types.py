"""The sample schema shared by every loader and generator.

Conventions: images are RGB uint8 [H, W, 3]; points are (x, y) pixels, 0-based, pixel centres at integers;
boxes are (x_min, y_min, x_max, y_max) in the same 0-based pixel coordinates (inclusive corners, so a box
covering pixels 0..9 is (0, 0, 9, 9)). 1-based MATLAB/VOC coordinates are converted in the loaders only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from convcorr_jax.core.shared_swap import SharedSwap
from convcorr_jax.core.errors import InputError, check_shape

if TYPE_CHECKING:  # PIL itself is imported inside the functions that use it
    from PIL import Image

log = logging.getLogger(__name__)

MAX_PIXELS_ENV = "CONVCORR_MAX_PIXELS"
WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L")  # integer intensities past 8 bits, scaled to 0-255 (`load_image`)
GREY_MODES = ("1", "L", "LA", *WIDE_GREY_MODES)  # one intensity channel (1: one bit a pixel; LA: with alpha)
COLOUR_MODES = ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")  # converted by PIL (`load_image`)
ALPHA_MODES = ("RGBA", "LA", "PA")  # with an alpha channel, dropped in the conversion
COLOUR = ("convert", "require")  # load_image's choices for an image that is not plain RGB
MAX_PIXELS = 50_000_000  # default limit on an image's declared width x height (pixels), checked before decoding
# the suffixes (lower case; matched in any case) of the image files the readers look for, in order of preference
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def _held_image(image: np.ndarray | None, image_path: str | None, sample_id: str) -> np.ndarray:
    """`loaded_image` of either sample type: `image`, or InputError naming `image_path` (else the id) and "image"."""
    if image is None:
        raise InputError(image_path or sample_id, "image", "a loaded image (a loader's with_images=True, or "
                         "sample.with_image())", None)
    return image


def _read_image(image_path: str | None, sample_id: str) -> np.ndarray:
    """`with_image`'s read of either sample type: `load_image(image_path)`, or InputError naming the id and "image"
    when there is no path to read."""
    if image_path is None:
        raise InputError(sample_id, "image", "a loaded image, or an image_path to load it from", None)
    return load_image(image_path)


@dataclasses.dataclass(frozen=True, eq=False)
class KeypointSample:
    """One annotated instance (object, person or face).

    Fields:
      points: float32 [K, 2], 0-based (x, y) pixels; NaN where the dataset gives no coordinate.
      visible: bool [K]; False for unlabelled or occluded points (see `extras` for dataset-specific flags).
      names: the K keypoint names, in order.
      bbox: float32 [4], (x_min, y_min, x_max, y_max), 0-based inclusive.
      category: object class ("person", "face", "aeroplane", ...).
      id: unique id within the dataset (e.g. "2008_000008_1").
      image: uint8 [H, W, 3] RGB, or None when only the path is known (load with `with_image`; `loaded_image`
        returns it, or refuses a sample without it).
      image_path: where the image lives, if on disk.
      extras: dataset-specific fields, e.g. head_box [4], torso_box [4], scale (float), center [2],
        normalize (float), truncated/occluded/difficult flags, attributes.
    """

    points: np.ndarray
    visible: np.ndarray
    names: tuple[str, ...]
    bbox: np.ndarray
    category: str
    id: str
    image: np.ndarray | None = None
    image_path: str | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        source = self.image_path or self.id
        dims = check_shape(self.points, "K 2", source, "points", {"K": len(self.names)}, note="(one row per name)")
        check_shape(self.visible, "K", source, "visible", dims)
        check_shape(self.bbox, "4", source, "bbox")

    @property
    def num_keypoints(self) -> int:
        """K, the number of keypoint slots."""
        return len(self.names)

    def with_image(self) -> "KeypointSample":
        """This sample with `image` loaded from `image_path` (no-op if already loaded).

        Returns:
            A `KeypointSample` whose `image` is uint8 [H, W, 3] RGB (`loaded_image()` returns it).

        Raises:
            InputError: a sample with neither an image nor an `image_path`, naming its `id` and the field "image";
                a file `load_image` refuses, naming the file.
        """
        if self.image is not None:
            return self
        return dataclasses.replace(self, image=_read_image(self.image_path, self.id))

    def loaded_image(self) -> np.ndarray:
        """The image this sample holds, for code that needs it loaded (nothing is read from disk here).

        Returns:
            `image`, uint8 [H, W, 3] RGB.

        Raises:
            InputError: when the sample holds only its path (`image` is None), naming its `image_path` (or its
                `id`) and the field "image".
        """
        return _held_image(self.image, self.image_path, self.id)


@dataclasses.dataclass(frozen=True, eq=False)
class SegSample:
    """An image with a per-pixel class map.

    Fields:
      image: uint8 [H, W, 3] RGB, or None with `image_path` (load with `with_image`; `loaded_image` returns it, or
        refuses a sample without it).
      label: uint8 [H, W]; class index per pixel (0 = background), 255 = void.
      id: unique id.
    """

    label: np.ndarray
    id: str
    image: np.ndarray | None = None
    image_path: str | None = None

    def with_image(self) -> "SegSample":
        """This sample with its image read from its path (itself when already loaded).

        Returns:
            A `SegSample` whose `image` is uint8 [H, W, 3] RGB (`loaded_image()` returns it).

        Raises:
            InputError: as `KeypointSample.with_image`: neither an image nor an `image_path` (naming the `id` and
                the field "image"), or a file `load_image` refuses.
        """
        if self.image is not None:
            return self
        return dataclasses.replace(self, image=_read_image(self.image_path, self.id))

    def loaded_image(self) -> np.ndarray:
        """The image this sample holds (nothing is read from disk here), as `KeypointSample.loaded_image`.

        Returns:
            `image`, uint8 [H, W, 3] RGB.

        Raises:
            InputError: when the sample holds only its path, naming its `image_path` (or its `id`) and the field
                "image".
        """
        return _held_image(self.image, self.image_path, self.id)


def _max_pixels() -> int:
    """The largest image (declared width x height, pixels) a reader decodes: $CONVCORR_MAX_PIXELS, else `MAX_PIXELS`
    (50 megapixels).

    Returns:
        The limit in pixels, an int >= 1.

    Raises:
        InputError: when $CONVCORR_MAX_PIXELS is set but not a whole number >= 1.
    """
    raw = os.environ.get(MAX_PIXELS_ENV, "")
    try:
        value = int(raw) if raw else MAX_PIXELS
    except ValueError:
        raise InputError(f"${MAX_PIXELS_ENV}", "value", "a whole number of pixels", raw) from None
    if value < 1:
        raise InputError(f"${MAX_PIXELS_ENV}", "value", "a number of pixels >= 1", raw)
    return value


def _pil_limit() -> int:
    """The size (pixels) past which PIL's `Image.open` refuses a file itself: 2 x `PIL.Image.MAX_IMAGE_PIXELS`."""
    from PIL import Image

    return 2 * int(Image.MAX_IMAGE_PIXELS) if Image.MAX_IMAGE_PIXELS else 2 ** 62


def _bomb_expected() -> str:
    """What a reader expected of a file PIL refused as a decompression bomb: the limit that applied."""
    limit, pil = _max_pixels(), _pil_limit()
    which = (f"${MAX_PIXELS_ENV}" if limit <= pil else
             f"PIL's own limit, 2 x PIL.Image.MAX_IMAGE_PIXELS, which ${MAX_PIXELS_ENV} does not raise")
    return f"an image of at most {min(limit, pil):,} pixels ({which})"


def check_declared_size(path: Path, im: Image.Image, field: str = "image") -> None:
    """InputError unless the size an opened PIL image declares in its header is within `_max_pixels()`.

    Checked before decoding, so a file claiming 30,000 x 30,000 pixels is refused without allocating them.

    Args:
        path: the image file, named in the error.
        im: the opened (not yet loaded) PIL image.
        field: the field named in the error.

    Returns:
        None.

    Raises:
        InputError: when width x height exceeds `_max_pixels()`.
    """
    w, h = im.size
    if w * h > _max_pixels():
        raise InputError(path, field, f"an image of at most {_max_pixels():,} pixels (${MAX_PIXELS_ENV})",
                         f"{w} x {h} = {w * h:,} pixels declared in its header")


def _relay_warnings() -> contextlib.ExitStack:
    """Show every warning each time ("always") but the decompression-bomb one, a warning of a thread inside a
    `relay_pil_warnings` block going to its block (`_relay_or_show`), until the returned stack is closed."""
    from PIL import Image

    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("always")
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    warnings.showwarning = functools.partial(_relay_or_show, warnings.showwarning)
    return stack


# the warnings filters are the process's: the `relay_pil_warnings` blocks open at one time share one change of them
_RELAYING = SharedSwap(_relay_warnings, contextlib.ExitStack.close)
_SAID: dict[int, list[list]] = {}  # thread id -> its open blocks' lists of warnings, innermost last
_SAID_LOCK = threading.Lock()


@contextlib.contextmanager
def relay_pil_warnings(path: str | Path) -> Iterator[None]:
    """A context in which PIL reads `path` and its warnings become one log line each naming the file.

    PIL's decompression-bomb warning (images past `PIL.Image.MAX_IMAGE_PIXELS`) is dropped: the readers check the
    declared size against `_max_pixels()` themselves (`check_declared_size`). Any other (e.g. "Corrupt EXIF data")
    is one warning on this module's logger, not two lines of PIL's source on stderr beside the command's output.

    Python's warnings filters are the process's: while any such block is open (reads in several threads at once
    share one), every warning is shown each time ("always") except the decompression-bomb one, a warning of another
    thread is shown as before, and the filters and `warnings.showwarning` come back when the last block closes.

    Args:
        path: the file being read, named in each line.

    Returns:
        A context manager (`with relay_pil_warnings(path): ...`).
    """
    said: list[Warning | str] = []
    me = threading.get_ident()
    with _RELAYING.held():
        with _SAID_LOCK:
            _SAID.setdefault(me, []).append(said)
        try:
            yield
        finally:
            with _SAID_LOCK:
                _SAID[me].pop()
                if not _SAID[me]:
                    del _SAID[me]
    for message in dict.fromkeys(str(m).strip() for m in said):  # each once
        log.warning("%s: %s (PIL, reading it)", path, message)


def _relay_or_show(show, message, category, filename, lineno, file=None, line=None) -> None:
    """`warnings.showwarning` while a `relay_pil_warnings` block is open: a warning of a thread inside one goes to
    its innermost block's list, any other to `show` (the process's own)."""
    blocks = _SAID.get(threading.get_ident())
    if blocks:
        blocks[-1].append(message)
    else:
        show(message, category, filename, lineno, file, line)


def _colour_notice(path: Path, im, colour: str) -> bool:
    """The warnings (or, for a greyscale image with `colour="require"`, the InputError) of `load_image` for the opened
    PIL image `im`: greyscale, alpha (a channel or a palette's transparency) dropped, only the first of its frames.
    Returns whether it is a palette image with transparency (PIL warns converting one straight to RGB)."""
    if colour not in COLOUR:
        raise InputError(None, "colour", f"one of {list(COLOUR)}", colour)
    mode = im.mode
    grey = mode in GREY_MODES
    if grey and colour == "require":
        raise InputError(path, "image mode", "a colour image (RGB): this method needs colour", f"greyscale ({mode})")
    palette_alpha = mode == "P" and "transparency" in im.info
    if grey or mode in ALPHA_MODES or palette_alpha:
        what = ("greyscale, copied to the three channels" if grey else "colour") + (
            ", alpha dropped" if mode in ALPHA_MODES or palette_alpha else "")
        log.warning("%s: %s image read as RGB (%s)", path, mode, what)
    if getattr(im, "n_frames", 1) > 1:
        log.warning("%s: %d frames (an animation or a multi-page file); the first is read", path, im.n_frames)
    return palette_alpha


def _check_mode(path: Path, mode: str) -> None:
    """InputError naming the file unless `load_image` reads `mode` (`COLOUR_MODES`, `GREY_MODES`); a float image
    ("F": its intensity range is not known) is refused saying how to convert it."""
    if mode == "F":
        raise InputError(path, "image mode", "an 8- or 16-bit image (the range of float intensities is not known: "
                         "scale them to 0-255 or 0-65535 and save as 8-bit L or 16-bit I;16)", "F (32-bit float)")
    if mode not in (*COLOUR_MODES, *GREY_MODES):
        raise InputError(path, "image mode", f"one of the modes {', '.join((*COLOUR_MODES, *GREY_MODES))}", mode)


def _wide_grey_to_rgb(path: Path, im) -> np.ndarray:
    """uint8 [H, W, 3] of an integer greyscale image (`WIDE_GREY_MODES`): 16-bit values (0-65535) divided by 257,
    rounded (65535 -> 255), as PIL does for 16-bit colour PNGs; a 32-bit "I" image whose values all lie in 0-255 is
    kept as it is. PIL's own conversion clips such values at 255 instead (a 16-bit photo turns white)."""
    v = np.asarray(im, dtype=np.int64)
    if v.size and (v.min() < 0 or v.max() > 65535):
        raise InputError(path, "image values", f"{im.mode} intensities in 0-65535", f"{v.min()}..{v.max()}")
    eight_bit = im.mode == "I" and (v.size == 0 or v.max() <= 255)
    grey = v if eight_bit else (v * 255 + 32767) // 65535
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1)


def load_image(path: str | Path | None, expected_size: tuple[int, int] | None = None,
               colour: str = "convert") -> np.ndarray:
    """Read an image file as RGB uint8 [H, W, 3]: the one image reader of the library, the commands and datasets.

    Palette, CMYK, YCbCr, LAB and HSV images are converted to RGB (PIL's documented conversions). A greyscale image
    (`GREY_MODES`: 1-bit, 8-bit, 16- and 32-bit integer) or one with an alpha channel (`ALPHA_MODES`) is converted too
    (grey copied to the three channels, alpha dropped) with one warning on this module's logger naming the file and
    its mode, as is a palette image with transparency; a float ("F") image is refused (its intensity range is not
    known). A file of several frames (an animated GIF, WebP or PNG, a multi-page TIFF) is read as its first, with
    one warning. An EXIF orientation tag (a phone's photo stored sideways) is applied, so the array is the image as
    it is displayed (`PIL.ImageOps.exif_transpose`; points are in its pixels). PIL's own warnings while reading
    (e.g. corrupt EXIF data) are one log line each naming the file (`relay_pil_warnings`).

    Args:
        path: the image file.
        expected_size: (width, height) checked when given, after the orientation.
        colour: "convert" (the default) or "require" (a method that needs colour): a greyscale image is then refused
            instead, InputError naming the file.

    Returns:
        uint8 [H, W, 3] RGB, as displayed.

    Raises:
        InputError: for a None path; a missing, truncated, empty, unknown or unreadable file; an unsupported mode;
            an image declaring more than `_max_pixels()` pixels (checked from the header, before decoding); a size
            other than `expected_size`; a bad `colour`, or greyscale with `colour="require"`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if path is None:
        raise InputError(None, "image_path", "a path to an image file", None)
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "image", "an existing image file", "missing file")
    try:
        with relay_pil_warnings(path), Image.open(path) as im:
            check_declared_size(path, im)
            im.load()
            _check_mode(path, im.mode)
            palette_alpha = _colour_notice(path, im, colour)
            shown = ImageOps.exif_transpose(im) or im
            shown = shown.convert("RGBA") if palette_alpha else shown  # the palette's colours, as RGB would give
            rgb = _wide_grey_to_rgb(path, shown) if im.mode in WIDE_GREY_MODES else shown.convert("RGB")
    except Image.DecompressionBombError as e:  # PIL's own limit, past 2 x its MAX_IMAGE_PIXELS, hit while opening
        raise InputError(path, "image", _bomb_expected(), f"larger: {e}") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise InputError(path, "image", "a complete, readable image file", f"{type(e).__name__}: {e}") from e
    arr = np.asarray(rgb, dtype=np.uint8)
    if expected_size is not None and (arr.shape[1], arr.shape[0]) != tuple(expected_size):
        raise InputError(path, "image size", f"(width, height) = {tuple(expected_size)}", (arr.shape[1], arr.shape[0]))
    return arr
