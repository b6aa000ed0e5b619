"""Boxes, affine maps and crops: the one place where image and crop coordinates meet.

Convention: points are (x, y) pixels, 0-based, pixel centres at integers. A box is (x_min, y_min, x_max, y_max),
0-based inclusive, so its outer edges are x_min - 0.5 .. x_max + 0.5. An affine `M` [2, 3] maps image points to
crop points: `crop_xy = M[:, :2] @ xy + M[:, 2]`. `crop(images, M, size)` samples the image at `M^-1` of every
crop pixel centre (bilinear), so that `transform_points(points, M)` gives the points' positions in the crop.

    M = box_to_affine(sample.bbox, 192)                       # the box's outer edges -> the crop's outer edges
    patch = crop(image[None], M[None], 192, border="edge")[0]
    kp = transform_points(sample.points, M)                   # keypoints in crop pixels
    back = transform_points(kp, invert_affine(M))             # and back to image pixels

A 10 x 20 px box (x 10..19, y 20..39) onto a 40 x 40 crop: its outer corners go to the crop's outer corners,
and a point makes the round trip:

>>> import numpy as np
>>> M = box_to_affine([10, 20, 19, 39], 40)
>>> M.tolist()
[[4.0, 0.0, -38.5], [0.0, 2.0, -39.5]]
>>> transform_points(np.array([[9.5, 19.5], [19.5, 39.5]]), M).tolist()
[[-0.5, -0.5], [39.5, 39.5]]
>>> transform_points(transform_points(np.array([[12.0, 25.0]]), M), invert_affine(M)).tolist()
[[12.0, 25.0]]

The maps and boxes take numpy or concrete jax arrays and give float64 numpy (the crops and `transform_points`: as
their Returns say); called on traced arrays (inside a caller's `jax.jit`, `jax.vmap` or `jax.grad`) they run in
jax.numpy instead and give jax arrays, float32 unless `jax_enable_x64` is on.

The central 2 x 2 pixels of a 4 x 4 image, cut out at their own resolution:

>>> image = (10 * np.arange(16, dtype=np.uint8)).reshape(1, 4, 4, 1)
>>> crop(image, box_to_affine([1, 1, 2, 2], 2)[None], 2)[0, :, :, 0].tolist()
[[50, 60], [90, 100]]
"""

from __future__ import annotations

import functools
from typing import Any, Sequence, overload

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, Source, check_shape
from convcorr_jax.core.parallel import pad_rows, pow2_ceil
from convcorr_jax.core.tracing import is_traced

BORDERS = {"constant": "constant", "edge": "nearest", "reflect": "mirror", "wrap": "wrap"}
BOX_REACH = 10  # check_box: a box's corners at most this many image sides (the longer one) beyond the image
# The overloads of transform_points and crop type a jax array operand jax and any other array-like numpy (the
# ignored overlaps): a value typed npt.ArrayLike that holds a jax array at run time is typed numpy.


def _floats(value: npt.ArrayLike, traced: bool) -> np.ndarray | jax.Array:
    """value as float64 numpy, or (traced) as a jax float array."""
    return jnp.asarray(value, float) if traced else np.asarray(value, np.float64)


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    """(h, w) of a crop from an int (square) or an (h, w) pair."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def box_to_affine(boxes: npt.ArrayLike, size: int | Sequence[int]) -> np.ndarray:
    """Affine maps taking boxes onto a crop: the box's outer pixel edges go to the crop's outer pixel edges
    (anisotropic when the box's aspect differs from the crop's).

    Args:
      boxes: [..., 4] (x_min, y_min, x_max, y_max) image pixels, 0-based inclusive, finite, of positive extent
        (x_max - x_min + 1 > 0 and y_max - y_min + 1 > 0), else InputError.
      size: the crop's side in pixels (int: square) or (h, w).
    Returns:
      float64 numpy [..., 2, 3]: image pixels -> crop pixels (`crop_xy = M[:, :2] @ xy + M[:, 2]`); traced boxes
      (inside jit / vmap / grad) give a jax array (float32 unless jax_enable_x64), unchecked for empty or
      non-finite boxes.
    """
    traced = is_traced(boxes)
    xp, b = (jnp if traced else np), _floats(boxes, traced)
    check_shape(b, "* 4", "box_to_affine", "boxes", note="(x_min, y_min, x_max, y_max)")
    h, w = _hw(size)
    bw, bh = b[..., 2] - b[..., 0] + 1, b[..., 3] - b[..., 1] + 1
    if not traced and not np.all(np.isfinite(b)):  # an infinite corner gave a scale-0 map, silently
        bad = np.argwhere(~np.all(np.isfinite(b.reshape(-1, 4)), -1))
        raise InputError("box_to_affine", "boxes", "finite corners (no NaN/inf)",
                         f"{b.reshape(-1, 4)[bad[0, 0]].tolist()} (box {bad[0, 0]} of {len(b.reshape(-1, 4))})")
    if not traced and not np.all((bw > 0) & (bh > 0)):
        raise InputError("box_to_affine", "boxes", "x_max >= x_min - 1 and y_max >= y_min - 1 (non-empty boxes)",
                         b.tolist())
    sx, sy = w / bw, h / bh
    zero = xp.zeros_like(sx)
    return xp.stack([xp.stack([sx, zero, (0.5 - b[..., 0]) * sx - 0.5], -1),
                     xp.stack([zero, sy, (0.5 - b[..., 1]) * sy - 0.5], -1)], -2)


def square_box(centres: npt.ArrayLike, sides: npt.ArrayLike) -> np.ndarray:
    """Square boxes whose outer pixel edges are c - side/2 .. c + side/2 on each axis.

    Args:
      centres: [..., 2] (x, y) image pixels.
      sides: [...] (broadcast against centres[..., 0]) side lengths in pixels.
    Returns:
      float64 numpy [..., 4] (x_min, y_min, x_max, y_max), inclusive pixel-centre coordinates: c -+ (side/2 - 0.5),
      so `box_to_affine` maps the square's outer edges onto the crop's (a jax array when traced, float32 unless
      jax_enable_x64).
    """
    traced = is_traced(centres, sides)
    c, half = _floats(centres, traced), _floats(sides, traced)[..., None] / 2
    return (jnp if traced else np).concatenate([c - half + 0.5, c + half - 0.5], -1)


def points_box(points: npt.ArrayLike, visible: npt.ArrayLike | None = None) -> np.ndarray:
    """Tight boxes around sets of points.

    Args:
      points: [..., K, 2] (x, y) pixels; points with a non-finite (NaN, inf) coordinate are ignored.
      visible: optional bool [..., K]; points where it is False are ignored.
    Returns:
      float64 numpy [..., 4] (x_min, y_min, x_max, y_max) of the kept points, inclusive (the extreme points lie on
      the box); (inf, inf, -inf, -inf) for a set with no kept point (a jax array when traced, float32 unless
      jax_enable_x64).
    """
    traced = is_traced(points, visible)
    xp, p = (jnp if traced else np), _floats(points, traced)
    ok = xp.all(xp.isfinite(p), -1) if visible is None else xp.asarray(visible, bool) & xp.all(xp.isfinite(p), -1)
    lo = xp.min(xp.where(ok[..., None], p, np.inf), -2)
    hi = xp.max(xp.where(ok[..., None], p, -np.inf), -2)
    return xp.concatenate([lo, hi], -1)


def _numbers(value, k: int) -> np.ndarray | None:
    """value as float64 [k], or None when it is not k numbers."""
    try:
        a = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return None
    return a if a.shape == (k,) else None


def _shown(value):
    """value as an error shows it: an array or sequence as a list, anything else as it is."""
    try:
        return np.asarray(value).tolist() if np.ndim(value) else value
    except (TypeError, ValueError):
        return str(value)


def _extent(size: Sequence[int], image: str) -> str:
    h, w = (int(v) for v in size)
    return f"{image} ({w} x {h} px: x 0..{w - 1}, y 0..{h - 1})"


def check_box(box: npt.ArrayLike, size: Sequence[int], source: Source, field: str, image: str = "the image",
              got: object = None) -> np.ndarray:
    """A box given for an image, checked where it enters (the one check of every box a caller gives).

    Four finite numbers (x0, y0, x1, y1), 0-based inclusive pixels (module docstring), x0 <= x1 and y0 <= y1,
    overlapping the image: the box's outer edges x0 - 0.5 .. x1 + 0.5 share some area with the image's, -0.5 ..
    W - 0.5 (x0 < W, x1 > -1, and the same in y), its corners at most `BOX_REACH` times the image's longer side
    beyond it (a larger box is a mistake, and its crop geometry overflows float32). A box partly outside the image is
    accepted: people are cut by the frame.

    Args:
      box: four numbers (a sequence or an array [4]).
      size: the image's (H, W) in pixels.
      source: the function or file that received the box (None: the command line).
      field: the argument it came in ("boxes[1]", "--person-box").
      image: the image's name in the error ("photo.png", "images[1]").
      got: what the error shows as given (None: the box itself).

    Returns:
      float64 numpy [4]: the box.

    Raises:
      InputError: one line naming the field, the image and its size, what was expected and the value given.

    >>> check_box([-5, 0, 40, 60], (240, 320), "f", "box").tolist()
    [-5.0, 0.0, 40.0, 60.0]
    >>> check_box([1000, 1000, 1100, 1100], (240, 320), "f", "box", "photo.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: f: field 'box': expected a box overlapping photo.png (320 x 240 px: ...
    """
    h, w = (int(v) for v in size)
    b = _numbers(box, 4)
    if b is None or not np.all(np.isfinite(b)):
        problem = "four finite numbers"
    elif b[2] < b[0] or b[3] < b[1]:
        problem = "x0 <= x1 and y0 <= y1"
    elif not (b[0] < w and b[1] < h and b[2] > -1 and b[3] > -1):
        problem = f"a box overlapping {_extent(size, image)}"
    elif max(-b[0], -b[1], b[2] - (w - 1), b[3] - (h - 1)) > BOX_REACH * max(h, w):
        problem = f"a box overlapping {_extent(size, image)}, within {BOX_REACH} x its longer side of it"
    else:
        return b
    shown = _shown(box) if got is None else got
    where = "" if problem.startswith("a box overlapping") else f" for {_extent(size, image)}"
    raise InputError(source, field, f"{problem}{where}: (x0, y0, x1, y1) 0-based inclusive pixels", shown)


def check_point(point: npt.ArrayLike, size: Sequence[int], source: Source, field: str, image: str = "the image",
                got: object = None) -> np.ndarray:
    """A point given for an image, checked where it enters: two finite numbers (x, y), 0-based pixels, inside the
    image (0 <= x <= W - 1, 0 <= y <= H - 1: on or between its outer pixel centres).

    Args:
      point: two numbers (a sequence or an array [2]).
      size: the image's (H, W) in pixels.
      source: the function or file that received the point (None: the command line).
      field: the argument it came in ("torso[0]", "--torso").
      image: the image's name in the error.
      got: what the error shows as given (None: the point itself).

    Returns:
      float64 numpy [2]: the point.

    Raises:
      InputError: one line naming the field, the image and its size, what was expected and the value given.

    >>> check_point([10, 20.5], (240, 320), "f", "torso").tolist()
    [10.0, 20.5]
    """
    h, w = (int(v) for v in size)
    p = _numbers(point, 2)
    if p is not None and np.all(np.isfinite(p)) and 0 <= p[0] <= w - 1 and 0 <= p[1] <= h - 1:
        return p
    shown = _shown(point) if got is None else got
    raise InputError(source, field, f"a point (x, y) inside {_extent(size, image)}, 0-based pixels", shown)


def invert_affine(M: npt.ArrayLike) -> np.ndarray:
    """Inverse affine maps.

    Args:
      M: [..., 2, 3] invertible affine maps (e.g. image -> crop pixels from `box_to_affine`).
    Returns:
      float64 numpy [..., 2, 3], the inverse of each (crop -> image pixels for a crop's M); a jax array when traced
      (float32 unless jax_enable_x64; unchecked: a singular map gives inf / NaN there).

    Raises:
      InputError: M not [..., 2, 3], or (concrete) a map that is not finite or not invertible (det of M[..., :2] 0,
        as of a box of zero extent): numpy's LinAlgError "Singular matrix" without saying which.
    """
    traced = is_traced(M)
    xp, M = (jnp if traced else np), _floats(M, traced)
    check_shape(M, "* 2 3", "invert_affine", "M", note="(affine maps)")
    if not traced:
        det = M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0]
        bad = np.argwhere(~(np.isfinite(det) & (det != 0) & np.all(np.isfinite(M), axis=(-2, -1))))
        if len(bad):
            at = f" at M[{', '.join(str(int(i)) for i in bad[0])}]" if M.ndim > 2 else ""
            raise InputError("invert_affine", "M", "finite invertible affine maps (det of M[..., :2] != 0)",
                             f"a singular or non-finite map{at} ({len(bad)} in all)")
    A = xp.linalg.inv(M[..., :2])
    t = -xp.einsum("...ij,...j->...i", A, M[..., 2])
    return xp.concatenate([A, t[..., None]], -1)


def compose_affine(M2: npt.ArrayLike, M1: npt.ArrayLike) -> np.ndarray:
    """The affine map applying M1 first, then M2.

    Args:
      M2, M1: [..., 2, 3] affine maps (broadcast against each other).
    Returns:
      float64 numpy [..., 2, 3] with `transform_points(p, result) == transform_points(transform_points(p, M1),
      M2)`; a jax array when traced (float32 unless jax_enable_x64).
    """
    traced = is_traced(M2, M1)
    xp, M1, M2 = (jnp if traced else np), _floats(M1, traced), _floats(M2, traced)
    A = xp.einsum("...ij,...jk->...ik", M2[..., :2], M1[..., :2])
    t = xp.einsum("...ij,...j->...i", M2[..., :2], M1[..., 2]) + M2[..., 2]
    return xp.concatenate([A, t[..., None]], -1)


@overload
def transform_points(points: jax.Array, M: npt.ArrayLike) -> jax.Array: ...  # type: ignore[overload-overlap]
@overload
def transform_points(points: npt.ArrayLike, M: jax.Array) -> jax.Array: ...  # type: ignore[overload-overlap]
@overload
def transform_points(points: npt.ArrayLike, M: npt.ArrayLike) -> np.ndarray: ...
def transform_points(points: npt.ArrayLike, M: npt.ArrayLike) -> np.ndarray | jax.Array:
    """Points mapped by affine maps.

    Args:
      points: [..., K, 2] (x, y) pixels.
      M: [..., 2, 3] affine maps (broadcast against points' leading axes), e.g. image -> crop pixels.
    Returns:
      [..., K, 2] mapped (x, y): numpy when both inputs are numpy (or lists), in their common dtype (float64 for
      lists or a float64 operand, float32 when both are float32); a jax array when either is one (float32 unless
      jax_enable_x64).
    """
    xp = jnp if isinstance(points, jax.Array) or isinstance(M, jax.Array) else np
    p, m = xp.asarray(points), xp.asarray(M)
    return xp.einsum("...ij,...kj->...ki", m[..., :2], p) + m[..., None, :, 2]


@functools.partial(jax.jit, static_argnames=("size", "mode", "cval", "shared"))
def _crop(images: jax.Array, Minv: jax.Array, size: tuple[int, int], mode: str, cval: float,
          shared: bool = False) -> jax.Array:
    """float32 crops [N, h, w, C] of images [N, H, W, C], or with `shared` of ONE image [H, W, C] under the N maps
    (the image not repeated per map); uint8 images give uint8 crops (rounded, clipped), cast in this one program
    (no per-shape programs for the casts)."""
    h, w = size
    to_uint8 = images.dtype == jnp.uint8
    images = images.astype(jnp.float32)
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")

    def one(image, m):  # image [H, W, C], m [2, 3] crop -> image
        sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        sample = lambda ch: jax.scipy.ndimage.map_coordinates(ch, [sy, sx], order=1, mode=mode, cval=cval)  # noqa: E731
        return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)

    out = jax.vmap(one, in_axes=(None if shared else 0, 0))(images, Minv)
    return jnp.clip(jnp.round(out), 0, 255).astype(jnp.uint8) if to_uint8 else out


@overload  # a traced M: jax; a concrete one: numpy
def crop(images: np.ndarray, M: jax.Array, size: int | Sequence[int],  # type: ignore[overload-overlap]
         border: str = ..., cval: float = ...) -> np.ndarray | jax.Array: ...
@overload
def crop(images: np.ndarray, M: npt.ArrayLike, size: int | Sequence[int], border: str = ...,
         cval: float = ...) -> np.ndarray: ...
@overload  # numpy if uint8 and concrete, else jax: by the images' dtype, which no type here carries
def crop(images: jax.Array, M: npt.ArrayLike, size: int | Sequence[int], border: str = ...,
         cval: float = ...) -> np.ndarray | jax.Array: ...
def crop(images: np.ndarray | jax.Array, M: npt.ArrayLike, size: int | Sequence[int], border: str = "constant",
         cval: float = 0.0) -> np.ndarray | jax.Array:
    """Bilinear crops of images under affine maps: crop pixel centre q samples the image at `M^-1 q`.

    Args:
      images: [N, H, W, C], uint8 or float (numpy or jax).
      M: [N, 2, 3] affine maps, image pixels -> crop pixels (e.g. `box_to_affine`), one per image.
      size: the crop's side in pixels (int: square) or (h, w).
      border: what is sampled outside the image: "constant" (`cval`), "edge" (the nearest edge pixel),
        "reflect" or "wrap".
      cval: the value outside the image for border="constant", in the images' units (0..255 for uint8).
    Returns:
      [N, h, w, C]: uint8 numpy (rounded, clipped to 0..255) for uint8 images, else float32 (jax for jax input,
      numpy for numpy); a jax array of either dtype inside a caller's jit / vmap. Jit-compiled per shape.
    """
    if border not in BORDERS:
        raise InputError("crop", "border", f"one of {list(BORDERS)}", border)
    dims = check_shape(images, "N H W C", "crop", "images")
    traced = is_traced(images, M)
    x = np.asarray(images) if not isinstance(images, jax.Array) else images
    Minv = invert_affine(_floats(M, is_traced(M)).reshape(-1, 2, 3))
    check_shape(Minv, "N 2 3", "crop", "M", dims, note="(one map per image)")
    if x.dtype != np.uint8:  # float32 as given (a numpy array cast here, not by a program compiled per shape)
        x = jnp.asarray(x, jnp.float32) if isinstance(x, jax.Array) else np.asarray(x, np.float32)
    out = _crop(x, Minv.astype(np.float32), _hw(size), BORDERS[border], float(cval))
    return out if traced or (isinstance(images, jax.Array) and x.dtype != np.uint8) else np.asarray(out)


def crop_each(images: Sequence[np.ndarray], M: npt.ArrayLike, size: int | Sequence[int], border: str = "constant",
              cval: float = 0.0) -> np.ndarray:
    """`crop` for a list of images of different sizes; images of one shape (and dtype) are cropped together in
    batched calls of `CROP_CHUNK` images at most, a call's count padded up to a power of two by repeating its last
    image (crops not returned). One array given for several maps (the same object in several places of `images`:
    several people in one photo) is cropped under all its maps with the image shared (`CROP_CHUNK` maps a call,
    padded likewise): it is put on the device once, not once per map, and gives the same crops, bit for bit. With
    the constant and the edge border, images are first padded at the bottom and right up to multiples of `BUCKET`
    pixels, with cval or copies of the last row / column (the same crops, bit for bit: a bilinear sample outside
    the image reads cval, or the clamped edge pixel, either way), so that datasets of many image sizes and calls
    with any number of images compile a few shapes only.

    Args:
      images: N arrays [H_i, W_i, C] (uint8 or float).
      M: [N, 2, 3] affine maps, image pixels -> crop pixels, one per image.
      size, border, cval: as in `crop`.
    Returns:
      numpy [N, h, w, C] (uint8 for uint8 images, else float32).
    """
    M = np.asarray(M, np.float64).reshape(-1, 2, 3)
    if len(M) != len(images):
        raise InputError("crop_each", "M", f"shape [{len(images)}, 2, 3] (one map per image)", M.shape)
    if border not in BORDERS:
        raise InputError("crop_each", "border", f"one of {list(BORDERS)}", border)
    first: dict[int, int] = {}  # id of an array given -> its position in `distinct` (each array padded once)
    distinct: list[np.ndarray] = []
    for im in images:
        if first.setdefault(id(im), len(distinct)) == len(distinct):
            distinct.append(np.asarray(im))
    which = np.array([first[id(im)] for im in images], np.int64)
    if border == "edge" or (border == "constant" and all(_padding_exact(im.dtype, cval) for im in distinct)):
        distinct = [_pad_to_bucket(im, cval, border) for im in distinct]
    uses = np.bincount(which, minlength=len(distinct))
    by_shape: dict[tuple, list[int]] = {}
    for i, k in enumerate(which):
        if uses[k] == 1:
            by_shape.setdefault(distinct[k].shape + (distinct[k].dtype.str,), []).append(i)
    out: list[Any] = [None] * len(images)  # every slot filled below: each image is used once or shared
    for group in by_shape.values():
        for s in range(0, len(group), CROP_CHUNK):
            idx = group[s:s + CROP_CHUNK]
            rows = pad_rows(np.asarray(idx), pow2_ceil(len(idx)))[0]  # padded with the last image
            for i, c in zip(idx, crop(np.stack([distinct[which[i]] for i in rows]), M[rows], size, border, cval)):
                out[i] = c
    for k in np.flatnonzero(uses > 1):
        sharing = np.flatnonzero(which == k)
        for j, c in zip(sharing, _crop_shared(distinct[k], M[sharing], size, border, cval)):
            out[j] = c
    return np.stack(out)


def _crop_shared(image: np.ndarray, M: np.ndarray, size: int | Sequence[int], border: str,
                 cval: float) -> np.ndarray:
    """`crop` of ONE image [H, W, C] under P maps M [P, 2, 3] (image -> crop pixels): numpy [P, h, w, C], the image
    put on the device once and shared by the maps (`_crop`'s `shared`), `CROP_CHUNK` maps a call, each call's
    count padded up to a power of two by repeating its last map (crops not returned)."""
    check_shape(image, "H W C", "crop_each", "images")
    x = jax.device_put(image if image.dtype == np.uint8 else np.asarray(image, np.float32))  # once, no program
    Minv = invert_affine(M).astype(np.float32)
    parts = []
    for s in range(0, len(M), CROP_CHUNK):
        rows = np.arange(s, min(s + CROP_CHUNK, len(M)))
        padded = pad_rows(rows, pow2_ceil(len(rows)))[0]
        parts.append(np.asarray(_crop(x, Minv[padded], _hw(size), BORDERS[border], float(cval), shared=True))[
            :len(rows)])
    return np.concatenate(parts)


BUCKET = 64  # crop_each: image sides rounded up to a multiple of this (constant and edge borders)
CROP_CHUNK = 16  # crop_each: images of one padded shape cropped at most this many per call, padded to a power of two


def _padding_exact(dtype, cval: float) -> bool:
    """cval is stored exactly in an image of this dtype (float, or an integer in the uint8 range)."""
    return np.issubdtype(dtype, np.floating) or (float(cval).is_integer() and 0 <= cval <= 255)


def _pad_to_bucket(image: np.ndarray, cval: float, border: str = "constant") -> np.ndarray:
    """image [H, W, ...] padded at the bottom and right to multiples of BUCKET: with cval (border "constant") or
    copies of its last row and column ("edge")."""
    h, w = image.shape[:2]
    pad = ((0, -h % BUCKET), (0, -w % BUCKET)) + ((0, 0),) * (image.ndim - 2)
    if not (pad[0][1] or pad[1][1]):
        return image
    return np.pad(image, pad, mode="edge") if border == "edge" else np.pad(image, pad, constant_values=cval)
