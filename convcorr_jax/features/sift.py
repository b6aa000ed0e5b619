"""Dense SIFT in JAX, compatible with VLFeat's `vl_dsift` (Gaussian window, the default, not `Fast`).

Follows `vl/dsift.c` (VLFeat 0.9.21) step by step:
  * gradients by central differences (one-sided on the border), modulus `vl_fast_sqrt_f`, angle
    `vl_fast_atan2_f` (both reproduced bit-wise), angle split linearly between the two nearest of 8 bins;
  * spatial binning: each of the 4 x 4 bins is a separable convolution (edge-replicated) with a triangular
    kernel of half-width `bin_size` times a Gaussian of sigma `window_size * bin_size` centred on the descriptor;
  * L2 normalise (`norm + FLT_EPSILON`), clamp at 0.2, L2 normalise again.
Layout: C layout of VLFeat, index `t + 8 * (binx + 4 * biny)`, t = orientation (angle `2 pi t / 8` measured
from +x towards +y, i.e. clockwise on screen with y down). Descriptors are unit-norm floats; VLFeat's
wrappers return `min(512 x these, 255)` (also as floats), see `vlfeat_output`.

Geometry: bin centres lie on integer pixels; a frame's top-left bin centre `(x0, y0)` gives the descriptor
centre `(x0 + 1.5 b, y0 + 1.5 b)`. `dsift` places frames like `vl_dsift` (first bin centre at the bounds'
min corner, `step` apart); `sift_grid` computes descriptors centred (to the nearest pixel) at arbitrary
separable grids of points, e.g. a conv layer's receptive-field centres. Paper's "descriptor radius r"
= support half-width 2 b, i.e. `bin_size = r / 2`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from convcorr_jax.core.errors import check, check_shape, is_int
from convcorr_jax.core.long_frame import FRAME_PX

NUM_BINS = 4
NUM_ORIENT = 8
LONG_SIFT_RADIUS = 20.0  # Long et al.: the descriptor radius, 20 px on their 500 px frame (bin size = radius / 2)
LONG_CONV4_STRIDE = 16  # px: conv4's stride in the paper, which "stride" scaling keeps the radius's ratio to
SIFT_SCALES = ("stride", "box")  # how `sift_bin_size` scales the paper's radius
_EPS_F = np.float32(np.finfo(np.float32).eps)  # VL_EPSILON_F
_TWO_PI_F = np.float32(2 * np.pi)


def _fast_atan2(y: jax.Array, x: jax.Array) -> jax.Array:
    """VLFeat's `vl_fast_atan2_f` (cubic approximation, max error ~6e-3 rad).

    Args:
      y, x: float32 arrays of one shape (or broadcastable).

    Returns:
      float32 angle of (x, y) in radians, in about [-pi, pi].
    """
    c3, c1 = jnp.float32(0.1821), jnp.float32(0.9675)
    abs_y = jnp.abs(y) + _EPS_F
    pos = x >= 0
    r = jnp.where(pos, (x - abs_y) / (x + abs_y), (x + abs_y) / (abs_y - x))
    angle = jnp.where(pos, jnp.float32(np.pi / 4), jnp.float32(3 * np.pi / 4))
    angle = angle + (c3 * r * r - c1) * r
    return jnp.where(y < 0, -angle, angle)


def _fast_sqrt(x: jax.Array) -> jax.Array:
    """VLFeat's `vl_fast_sqrt_f`: x * resqrt(x), the 0x5f3759df guess plus two Newton steps; 0 below 1e-8.

    Args:
      x: array of non-negative values (cast to float32).

    Returns:
      float32 array of x's shape, approximately sqrt(x).
    """
    x = x.astype(jnp.float32)
    i = lax.bitcast_convert_type(x, jnp.int32)
    y = lax.bitcast_convert_type(jnp.int32(0x5F3759DF) - (i >> 1), jnp.float32)
    xhalf = jnp.float32(0.5) * x
    y = y * (jnp.float32(1.5) - xhalf * y * y)
    y = y * (jnp.float32(1.5) - xhalf * y * y)
    return jnp.where(x < 1e-8, jnp.float32(0), x * y)


def gradient_channels(image: jax.Array) -> jax.Array:
    """Orientation-binned gradient magnitudes [H, W, 8] of a grey image [H, W] (H, W >= 2), as vl_dsift.

    Args:
      image: grey [H, W] (cast to float32), H, W >= 2.

    Returns:
      float32 jax array [H, W, 8]: each pixel's gradient modulus split linearly between its two nearest orientation bins
      (bin t at angle 2 pi t / 8 from +x towards +y).

    Raises:
      InputError: image not [H, W] of at least 2 x 2 (an RGB image: `to_grey`).
    """
    check_shape(image, "H>=2 W>=2", "gradient_channels", "image", note="(a grey image)")
    im = image.astype(jnp.float32)

    def diff(a, axis):
        n = a.shape[axis]
        first = lax.slice_in_dim(a, 1, 2, axis=axis) - lax.slice_in_dim(a, 0, 1, axis=axis)
        last = lax.slice_in_dim(a, n - 1, n, axis=axis) - lax.slice_in_dim(a, n - 2, n - 1, axis=axis)
        mid = jnp.float32(0.5) * (lax.slice_in_dim(a, 2, n, axis=axis) - lax.slice_in_dim(a, 0, n - 2, axis=axis))
        return jnp.concatenate([first, mid, last], axis=axis) if n > 2 else jnp.concatenate([first, last], axis=axis)

    gy, gx = diff(im, 0), diff(im, 1)
    angle = _fast_atan2(gy, gx)
    mod = _fast_sqrt(gx * gx + gy * gy)
    angle = jnp.where(angle > _TWO_PI_F, angle - _TWO_PI_F, angle)
    angle = jnp.where(angle < 0, angle + _TWO_PI_F, angle)
    nt = angle * jnp.float32(NUM_ORIENT / (2 * np.pi))
    bint = jnp.floor(nt)
    r = nt - bint
    b0 = bint.astype(jnp.int32) % NUM_ORIENT
    b1 = (b0 + 1) % NUM_ORIENT
    t = jnp.arange(NUM_ORIENT)
    return (jnp.where(t == b0[..., None], ((1 - r) * mod)[..., None], 0.0)
            + jnp.where(t == b1[..., None], (r * mod)[..., None], 0.0))


def _bin_kernel(bin_size: int, bin_index: int, window_size: float) -> np.ndarray:
    """`_vl_dsift_new_kernel`: taps k = -(b-1)..(b-1), float32."""
    b = bin_size
    k = np.arange(-b + 1, b, dtype=np.float32)
    delta = np.float32(b * (bin_index - 0.5 * (NUM_BINS - 1)))
    sigma = np.float32(b) * np.float32(window_size)
    z = (k - delta) / sigma
    return ((1.0 - np.abs(k) / b) * np.exp(-0.5 * z * z)).astype(np.float32)


def _binning_matrix(n: int, origins: np.ndarray, bin_size: int, window_size: float) -> np.ndarray:
    """[4, len(origins), n]: row (i, a) convolves (edge-replicated) a pixel line with bin i's kernel, evaluated
    at pixel `origins[a] + i * bin_size`."""
    b = bin_size
    taps = np.arange(-b + 1, b)
    out = np.zeros((NUM_BINS, len(origins), n), np.float32)
    for i in range(NUM_BINS):
        ker = _bin_kernel(b, i, window_size)
        c = origins + i * b
        src = np.clip(c[:, None] - taps[None, :], 0, n - 1)  # convolution: dst[c] = sum_k ker[k] src[c - k]
        np.add.at(out[i], (np.repeat(np.arange(len(origins)), len(taps)), src.ravel()), np.tile(ker, len(origins)))
    return out


def _normalize(d: jax.Array) -> jax.Array:
    norm = _fast_sqrt(jnp.sum(d * d, axis=-1, keepdims=True)) + _EPS_F
    return d / norm


def _unit_clamped(d: jax.Array) -> jax.Array:
    """SIFT's normalisation of raw descriptors [..., 128]: L2 normalise, clamp at 0.2, L2 normalise again."""
    return _normalize(jnp.minimum(_normalize(d), jnp.float32(0.2)))


@functools.partial(jax.jit, static_argnames=("bin_size", "window_size"))
def _descriptors(image: jax.Array, ay: jax.Array, ax: jax.Array, bin_size: int, window_size: float) -> jax.Array:
    g = gradient_channels(image)  # [H, W, 8]
    hp = lax.Precision.HIGHEST
    t1 = jnp.einsum("iap,pqt->iaqt", ay, g, precision=hp)  # [4, ny, W, 8]
    d = jnp.einsum("jbq,iaqt->abijt", ax, t1, precision=hp)  # [ny, nx, biny, binx, t]
    return _unit_clamped(d.reshape(*d.shape[:2], NUM_BINS * NUM_BINS * NUM_ORIENT))


def vlfeat_output(descriptors: jax.Array | np.ndarray) -> np.ndarray:
    """What `vl_dsift` / cyvlfeat return for our unit-norm descriptors: min(512 d, 255).

    The 255 cap only bites on low-contrast patches with a dominant bin.

    Args:
      descriptors: unit-norm descriptors [..., 128] (`sift_grid`, `sift_dense`, `dsift`).

    Returns:
      float32 numpy [..., 128] in [0, 255] (cast to uint8 for the default integer output).
    """
    return np.minimum(512.0 * np.asarray(descriptors, np.float32), 255.0)


def _check_image(image, bin_size, source: str, window_size: float = 2.0):
    check_shape(image, "H>=2 W>=2", source, "image", note="(a grey image)")
    check(isinstance(bin_size, (int, np.integer)) and bool(bin_size >= 1), source, "bin_size", "an integer >= 1",
          bin_size)
    check(isinstance(window_size, (int, float, np.number)) and bool(np.isfinite(window_size)) and window_size > 0,
          source, "window_size", "a finite number > 0 (the Gaussian window's sigma in bins)", window_size)


def to_grey(images: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., H, W, 3] -> float32 grey [..., H, W] in [0, 1] (ITU-R 601 luma, as MATLAB rgb2gray).

    Args:
      images: uint8 RGB [..., H, W, 3] (a float image already in [0, 1] would come out 255 times too dark, its
        gradients below `_fast_sqrt`'s floor: all-zero descriptors, so it is refused).

    Returns:
      float32 numpy [..., H, W] in [0, 1].

    Raises:
      InputError: images that are not uint8 with a last axis of 3.
    """
    check_shape(images, "* H W 3", "to_grey", "images", dtype="uint8", note="(RGB in [0, 255])")
    images = np.asarray(images)
    x = images.astype(np.float32) / 255.0
    return x @ np.array([0.2989, 0.5870, 0.1140], np.float32)


def sift_grid(image: jax.Array | np.ndarray, xs: np.ndarray, ys: np.ndarray, bin_size: int,
              window_size: float = 2.0) -> jax.Array:
    """Descriptors [len(ys), len(xs), 128] centred (nearest pixel) at the points (xs[j], ys[i]).

    Bin centres outside the image read edge-replicated gradients.

    Args:
      image: grey [H, W] float (e.g. `to_grey`), at least 2 x 2.
      xs, ys: [nx] and [ny] descriptor centres, 0-based x and y pixels (rounded to the nearest pixel).
      bin_size: spatial bin side in pixels, an integer >= 1 (descriptor radius = 2 bin_size).
      window_size: Gaussian window sigma in bins.

    Returns:
      float32 jax array [ny, nx, 128], unit-norm, VLFeat C layout.

    Raises:
      InputError: image not [H, W] of at least 2 x 2, a bad bin_size or window_size, or non-finite xs / ys.
    """
    _check_image(image, bin_size, "sift_grid", window_size)
    for field, v in (("xs", xs), ("ys", ys)):
        check(bool(np.all(np.isfinite(np.asarray(v, np.float64)))), "sift_grid", field, "finite pixel coordinates")
    h, w = np.shape(image)
    ox = np.rint(np.asarray(xs, np.float64) - 1.5 * bin_size).astype(np.int64)
    oy = np.rint(np.asarray(ys, np.float64) - 1.5 * bin_size).astype(np.int64)
    ay = _binning_matrix(h, oy, bin_size, window_size)
    ax = _binning_matrix(w, ox, bin_size, window_size)
    return _descriptors(jnp.asarray(image, jnp.float32), jnp.asarray(ay), jnp.asarray(ax), bin_size, float(window_size))


def sift_dense(image: jax.Array, bin_size: int, window_size: float = 2.0) -> jax.Array:
    """Descriptors [H, W, 128] at every pixel of a grey image [H, W].

    Equal to `sift_grid(image, arange(W), arange(H), bin_size)`, computed as separable sums of shifted gradient
    maps (2 x 4 x (2 bin_size - 1) slices) instead of binning matrices, so the cost grows with H * W * bin_size
    rather than (H * W)^(3/2).

    Args:
      image: grey [H, W] float, at least 2 x 2.
      bin_size: spatial bin side in pixels, an integer >= 1.
      window_size: Gaussian window sigma in bins.

    Returns:
      float32 jax array [H, W, 128], unit-norm, VLFeat C layout.

    Raises:
      InputError: image not [H, W] of at least 2 x 2, or a bad bin_size or window_size.
    """
    _check_image(image, bin_size, "sift_dense", window_size)
    return _dense_descriptors(jnp.asarray(image, jnp.float32), bin_size, float(window_size))


def _axis_origin_offsets(n: int, bin_size: int) -> np.ndarray:
    """Per pixel i of an axis: the top-left bin centre of a descriptor centred at i, minus i (as `sift_grid`
    rounds it: for odd bin sizes, two values alternate)."""
    return np.rint(np.arange(n, dtype=np.float64) - 1.5 * bin_size).astype(np.int64) - np.arange(n)


def _bin_axis(g: jax.Array, axis: int, bin_size: int, window_size: float) -> list[jax.Array]:
    """[bin 0, .., bin 3] (each g's shape): bin i's kernel applied along `axis` (edge-replicated), read at each
    pixel's bin-i centre."""
    b, n = bin_size, g.shape[axis]
    offs = _axis_origin_offsets(n, b)
    pad = 3 * b + 1
    widths = [(0, 0)] * g.ndim
    widths[axis] = (pad, pad)
    gp = jnp.pad(g, widths, mode="edge")
    out = []
    for i in range(NUM_BINS):
        ker = _bin_kernel(b, i, window_size)
        by_off = {}
        for o in np.unique(offs):
            acc = None
            for k, wk in zip(range(-b + 1, b), ker):  # dst[c] = sum_k ker[k] src[c - k], c = i + o + i_bin * b
                start = pad + o + i * b - k
                term = wk * lax.slice_in_dim(gp, start, start + n, axis=axis)
                acc = term if acc is None else acc + term
            assert acc is not None  # the kernel has 2 bin_size - 1 >= 1 taps
            by_off[int(o)] = acc
        shape = [1] * g.ndim
        shape[axis] = n
        sel = jnp.asarray(offs.reshape(shape))
        res = None
        for o, v in by_off.items():  # one offset (even bins): that sum; two (odd bins): selected per pixel
            res = v if res is None else jnp.where(sel == o, v, res)
        assert res is not None  # every pixel has an offset, so by_off is never empty
        out.append(res)
    return out


@functools.partial(jax.jit, static_argnames=("bin_size", "window_size"))
def _dense_descriptors(image: jax.Array, bin_size: int, window_size: float) -> jax.Array:
    g = gradient_channels(image)  # [H, W, 8]
    d = jnp.concatenate([bx for by in _bin_axis(g, 0, bin_size, window_size)
                         for bx in _bin_axis(by, 1, bin_size, window_size)], -1)  # index t + 8 (binx + 4 biny)
    return _unit_clamped(d)


def dsift(image: jax.Array | np.ndarray, bin_size: int = 3, step: int = 1,
          window_size: float = 2.0) -> tuple[np.ndarray, jax.Array]:
    """`vl_dsift(image, 'Size', bin_size, 'Step', step)` on the whole image.

    Args:
      image: grey [H, W] float, at least (3 bin_size + 1) px on each side.
      bin_size: spatial bin side in pixels, an integer >= 1.
      step: pixels between neighbouring frames.
      window_size: Gaussian window sigma in bins.

    Returns:
      (frames float32 numpy [N, 2]: (x, y) 0-based descriptor centres in row-major order (x fastest), descriptors
      float32 jax array [N, 128]: unit-norm, VLFeat C layout).

    Raises:
      InputError: image too small for bin_size, or a bad bin_size, step or window_size.
    """
    _check_image(image, bin_size, "dsift", window_size)
    check(is_int(step, 1), "dsift", "step", "an integer >= 1 (pixels between frames)", step)
    h, w = np.shape(image)
    frame = bin_size * (NUM_BINS - 1) + 1
    check(h >= frame and w >= frame, "dsift", "image", f"at least {frame} x {frame} pixels for bin size {bin_size}",
          (h, w))
    x0 = np.arange(0, w - frame + 1, step)
    y0 = np.arange(0, h - frame + 1, step)
    d = sift_grid(image, x0 + 1.5 * bin_size, y0 + 1.5 * bin_size, bin_size, window_size)
    fy, fx = np.meshgrid(y0 + 1.5 * bin_size, x0 + 1.5 * bin_size, indexing="ij")
    frames = np.stack([fx.ravel(), fy.ravel()], -1).astype(np.float32)
    return frames, d.reshape(-1, d.shape[-1])


def sift_bin_size(radius: float = LONG_SIFT_RADIUS, stride: int = LONG_CONV4_STRIDE, scale: str = "stride",
                  box: float = FRAME_PX, paper_box: float = FRAME_PX) -> int:
    """SIFT bin size in pixels of the working frame: radius / 2, scaled to the working frame; at least 1.

    >>> sift_bin_size(stride=8), sift_bin_size(stride=16), sift_bin_size(scale="box", box=250)
    (5, 10, 5)

    Args:
      radius: descriptor radius in pixels of a `paper_box` frame.
      stride: the feature grid's stride in pixels (scale "stride": the radius keeps its ratio to
        `LONG_CONV4_STRIDE`).
      scale: "stride" or "box" (scaled with the frame: box / paper_box).
      box, paper_box: the working frame's and the paper's frame size in pixels.

    Returns:
      int >= 1, the bin size in pixels.

    Raises:
      InputError: an unknown scale.
    """
    check(scale in SIFT_SCALES, "sift_bin_size", "scale", f"one of {list(SIFT_SCALES)}", scale)
    factor = stride / LONG_CONV4_STRIDE if scale == "stride" else box / paper_box
    return max(1, int(round(radius / 2 * factor)))
