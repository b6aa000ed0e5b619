"""On-device data augmentation (Tompson et al. Sec. 3.3): random rotation in [-20, 20] degrees, scale in
[0.5, 1.5] about the image centre, and a horizontal flip with probability 0.5 that swaps left/right joints.

For photos of every kind, off by default (`AugmentConfig`): a shift of the crop (a detector's loose or tight box),
half-body crops (mmpose's RandomHalfBody: the crop about the upper or the lower body's labelled joints), colour
(brightness, contrast, saturation), Gaussian blur, low resolution (a small person: the crop down-scaled and back)
and occlusion (a grey rectangle). With all of them off, `augment` is the paper's, bit for bit.

All functions are pure and jit/vmap friendly; one PRNG key per sample makes a sample's augmentation independent
of the batch it is in and of the number of devices.
"""

from __future__ import annotations

import dataclasses
import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core import geometry
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.data import skeletons

MPII_FLIP = skeletons.MPII.flip  # left <-> right permutation of the 16 MPII joints
FLIC_FLIP = skeletons.FLIC.flip  # ... of FLIC's 11 labelled joints


_PROBABILITIES = ("half_body", "blur", "low_res", "occlusion")  # AugmentConfig's fields that are probabilities


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation: rotation (degrees), scale range and left-right flip with `flip_perm`."""

    rotation: float = 20.0  # degrees, uniform in [-rotation, rotation]
    scale: tuple[float, float] = (0.5, 1.5)
    flip: bool = True
    flip_perm: tuple[int, ...] = MPII_FLIP
    shift: float = 0.0  # translation in x and y, each uniform in +-shift x the crop's side
    half_body: float = 0.0  # probability of a crop about the upper or the lower body's labelled joints
    upper: tuple[int, ...] = ()  # the upper body's joint ids (half_body; the rest are the lower body)
    colour: float = 0.0  # brightness, contrast and saturation factors, each uniform in [1 - colour, 1 + colour]
    blur: float = 0.0  # probability of a Gaussian blur, sigma uniform in [0.5, 2] pixels
    low_res: float = 0.0  # probability of a down-scaled copy, factor uniform in [2, 4] (blurred, then pixelated)
    occlusion: float = 0.0  # probability of a mid-grey rectangle, each side uniform in [0.1, 0.4] x the crop's side

    def __post_init__(self):
        """InputError naming the first field out of its range (a NaN, a negative angle, shift or id, a scale range
        that is not 0 < low <= high, a probability or colour factor above 1, a flip_perm that is not a mirror
        permutation of its joint ids), before any sample is drawn."""
        check_types(self)
        check_fields(self, positive=("scale",), nonnegative=("rotation", "shift", "colour", "upper", *_PROBABILITIES),
                     finite=("scale", "rotation", "shift"))
        for name in ("colour", *_PROBABILITIES):
            if getattr(self, name) > 1:
                raise InputError("config", name, "a value in [0, 1]", getattr(self, name))
        if len(self.scale) != 2 or self.scale[0] > self.scale[1]:
            raise InputError("config", "scale", "(low, high) with low <= high", self.scale)
        perm = self.flip_perm
        if sorted(perm) != list(range(len(perm))) or any(perm[j] != i for i, j in enumerate(perm)):
            raise InputError("config", "flip_perm", f"a mirror permutation of the joint ids 0..{len(perm) - 1} "
                             "(each id once, left and right swapped both ways)", perm)

    @property
    def paper_only(self) -> bool:
        """True when every augmentation beyond the paper's rotation, scale and flip is off."""
        return not (self.shift or self.half_body or self.colour or self.blur or self.low_res or self.occlusion)


def _sample_params(key: jax.Array, cfg: AugmentConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(angle radians, scale, flip bool) for one sample.

    Args:
      key: one PRNG key (per sample).
      cfg: the ranges: angle uniform in +-`cfg.rotation` degrees, scale uniform in `cfg.scale`, flip with
        probability 0.5 when `cfg.flip`.

    Returns:
      (ang, sc, fl): float32 scalar angle in radians, float32 scalar scale factor, bool scalar mirror flag.
    """
    ka, ks, kf = jax.random.split(key, 3)
    ang = jnp.deg2rad(jax.random.uniform(ka, (), minval=-cfg.rotation, maxval=cfg.rotation))
    sc = jax.random.uniform(ks, (), minval=cfg.scale[0], maxval=cfg.scale[1])
    fl = jax.random.bernoulli(kf, 0.5) if cfg.flip else jnp.array(False)
    return ang, sc, fl


def affine(ang: jax.Array | float, sc: jax.Array | float, fl: jax.Array | bool, size: int) -> jax.Array:
    """The augmentation as an affine map [2, 3] (image -> augmented image).

    Scales and rotates about the centre ((size - 1) / 2, (size - 1) / 2) of a size x size image, then mirrors x
    when `fl`.

    Args:
      ang, sc, fl: angle in radians, scale factor, mirror flag (scalars, as from `_sample_params`).
      size: the side of the square image in pixels.

    Returns:
      float32 [2, 3] affine map of (x, y) pixels, image -> augmented image.
    """
    c = (size - 1) / 2.0
    a = sc * jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    a = jnp.where(fl, a * jnp.array([[-1.0], [1.0]]), a)
    return jnp.concatenate([a, (c - a @ jnp.array([c, c]))[:, None]], 1)


def transform_points(points: jax.Array | np.ndarray, ang: jax.Array | float, sc: jax.Array | float,
                     fl: jax.Array | bool, size: int, flip_perm: npt.ArrayLike) -> jax.Array:
    """Forward map of points [K, 2] (`affine`); joints re-labelled L<->R when mirrored.

    Args:
      points: [K, 2] (x, y) pixels in the size x size image.
      ang, sc, fl: angle in radians, scale factor, mirror flag (as from `_sample_params`).
      size: the side of the square image in pixels.
      flip_perm: [K] left <-> right joint permutation, applied when `fl`.

    Returns:
      float32 [K, 2] (x, y) pixels in the augmented image, rows permuted by `flip_perm` when mirrored.
    """
    q = geometry.transform_points(jnp.asarray(points), affine(ang, sc, fl, size))
    return jnp.where(fl, q[jnp.asarray(flip_perm)], q)


def warp_image(image: jax.Array, ang: jax.Array | float, sc: jax.Array | float, fl: jax.Array | bool) -> jax.Array:
    """Resample image [H, W, C] (float) with the same transform (bilinear, zeros outside).

    The centre used is ((W - 1) / 2, (W - 1) / 2), so it matches `affine` for a square image.

    Args:
      image: float [H, W, C].
      ang, sc, fl: angle in radians, scale factor, mirror flag (as from `_sample_params`).

    Returns:
      float [H, W, C] augmented image; pixels whose source falls outside the image are 0.
    """
    h, w = image.shape[:2]
    c = (w - 1) / 2.0
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    xs = jnp.where(fl, w - 1 - xs, xs)
    rot = jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    q = jnp.stack([xs - c, ys - c], -1) / sc @ rot  # inverse rotation: R^T applied to row vectors
    src_x, src_y = q[..., 0] + c, q[..., 1] + c
    return bilinear(image, src_x, src_y)


def bilinear(image: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """Bilinear samples [h, w, C] of image [H, W, C] at float pixel coordinates x, y [h, w]; zeros outside.

    Args:
      image: [H, W, C] (numeric; used as float).
      x, y: float [h, w] 0-based pixel coordinates to sample at.

    Returns:
      float [h, w, C] samples; each of the four corner taps outside the image contributes 0.
    """
    h, w = image.shape[:2]
    x0, y0 = jnp.floor(x), jnp.floor(y)
    flat = image.reshape(h * w, -1)
    taps = []
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - jnp.abs(x - xi)) * (1 - jnp.abs(y - yi))
            ok = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            idx = (jnp.clip(yi, 0, h - 1) * w + jnp.clip(xi, 0, w - 1)).astype(jnp.int32)
            taps.append(jnp.where(ok, wgt, 0.0)[..., None] * flat[idx])
    return functools.reduce(operator.add, taps)


def augment(key: jax.Array, image: jax.Array, points: jax.Array, visible: jax.Array,
            cfg: AugmentConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One sample: image [H, W, 3] float, points [K, 2], visible bool [K] -> augmented triple.

    Joints that leave the image become not visible.

    Args:
      key: one PRNG key for this sample.
      image: float [H, W, 3] square crop (H == W; H is taken as the size).
      points: [K, 2] (x, y) pixels in the crop.
      visible: bool [K].
      cfg: the augmentation ranges and flip permutation.

    Returns:
      (image float [H, W, 3], points float32 [K, 2], visible bool [K]): the augmented crop, its joints
      (re-labelled L<->R when mirrored) and their visibility, False for joints now outside [0, H - 1].

    Raises:
      InputError: an image that is not square (its points would be moved about another centre than its pixels).
    """
    check_shape(image, "S S C", "augment", "image", note="(a square crop)")
    if not cfg.paper_only:
        return _photo_augment(key, image, points, visible, cfg)
    ang, sc, fl = _sample_params(key, cfg)
    size = image.shape[0]
    img = warp_image(image, ang, sc, fl)
    pts = transform_points(points, ang, sc, fl, size, cfg.flip_perm)
    vis = jnp.where(fl, visible[jnp.asarray(cfg.flip_perm)], visible)
    inside = jnp.all((pts >= 0) & (pts <= size - 1), axis=-1)
    return img, pts, vis & inside


def augment_batch(keys: jax.Array, images: jax.Array | np.ndarray, points: jax.Array | np.ndarray,
                  visible: jax.Array | np.ndarray, cfg: AugmentConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """vmap of `augment` over a batch with per-sample keys [N].

    Args:
      keys: [N] PRNG keys, one per sample.
      images: float [N, H, H, 3] square crops.
      points: [N, K, 2] (x, y) pixels.
      visible: bool [N, K].
      cfg: the augmentation ranges and flip permutation.

    Returns:
      (images float [N, H, H, 3], points float32 [N, K, 2], visible bool [N, K]), as `augment` per sample.
    """
    return jax.vmap(lambda k, i, p, v: augment(k, i, p, v, cfg))(keys, images, points, visible)


def _photo_augment(key: jax.Array, image: jax.Array, points: jax.Array, visible: jax.Array,
                   cfg: AugmentConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`augment` with the augmentations for photos of every kind (module docstring) on top of the paper's.

    Args:
      key: one PRNG key for this sample.
      image: float [H, H, 3] square crop, values in [0, 1].
      points: [K, 2] (x, y) pixels in the crop.
      visible: bool [K].
      cfg: the ranges and probabilities.

    Returns:
      (image float [H, H, 3] in [0, 1], points float32 [K, 2], visible bool [K]), as `augment`.
    """
    kg, kp = jax.random.split(key)
    size = image.shape[0]
    fwd, fl = _sample_affine(kg, points, visible, cfg, size)
    img = _warp_affine(image, fwd)
    pts = geometry.transform_points(jnp.asarray(points, jnp.float32), fwd)
    perm = jnp.asarray(cfg.flip_perm)
    pts, vis = jnp.where(fl, pts[perm], pts), jnp.where(fl, visible[perm], visible)
    img = _photometric(kp, img, cfg)
    inside = jnp.all((pts >= 0) & (pts <= size - 1), axis=-1)
    return img, pts, vis & inside


def _sample_affine(key: jax.Array, points: jax.Array, visible: jax.Array, cfg: AugmentConfig,
                   size: int) -> tuple[jax.Array, jax.Array]:
    """The geometric augmentation of `_photo_augment`: rotation, scale, flip, shift and the half-body crop.

    The half-body crop (with probability cfg.half_body, where the chosen half has two labelled joints or more)
    centres the crop on the half's labelled joints and zooms so that their box, grown 1.5 times, fills it.

    Args:
      key: one PRNG key.
      points: [K, 2] (x, y) pixels in the size x size crop.
      visible: bool [K].
      cfg: the ranges.
      size: the crop's side in pixels.

    Returns:
      (float32 [2, 3] affine, crop -> augmented crop; bool scalar: mirrored).
    """
    kp, kt, kh, ku = jax.random.split(key, 4)
    ang, sc, fl = _sample_params(kp, cfg)
    c = (size - 1) / 2.0
    centre, zoom = jnp.array([c, c], jnp.float32), jnp.float32(1.0)
    if cfg.half_body and cfg.upper:
        upper = jnp.zeros(visible.shape, bool).at[jnp.asarray(cfg.upper)].set(True)
        half = visible & jnp.where(jax.random.bernoulli(ku, 0.5), upper, ~upper)
        use = jax.random.bernoulli(kh, cfg.half_body) & (jnp.sum(half) >= 2)
        p = jnp.where(half[:, None], points, jnp.nan)
        lo, hi = jnp.nanmin(p, 0), jnp.nanmax(p, 0)
        extent = jnp.maximum(jnp.max(hi - lo) * 1.5, 0.2 * size)
        centre = jnp.where(use, (lo + hi) / 2, centre)
        zoom = jnp.where(use, jnp.minimum(size / extent, 3.0), zoom)
    a = sc * zoom * jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    a = jnp.where(fl, a * jnp.array([[-1.0], [1.0]]), a)
    t = jax.random.uniform(kt, (2,), minval=-cfg.shift, maxval=cfg.shift) * size if cfg.shift else jnp.zeros(2)
    return jnp.concatenate([a, (c + t - a @ centre)[:, None]], 1).astype(jnp.float32), fl


def _warp_affine(image: jax.Array, fwd: jax.Array) -> jax.Array:
    """Resample image [H, W, C] under the forward affine `fwd` [2, 3] (bilinear, zeros outside).

    Args:
      image: float [H, W, C].
      fwd: [2, 3] (x, y) pixels of `image` -> pixels of the result.

    Returns:
      float [H, W, C]: result pixel p holds image at fwd^-1(p).
    """
    h, w = image.shape[:2]
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    inv = jnp.linalg.inv(fwd[:, :2])
    q = (jnp.stack([xs, ys], -1) - fwd[:, 2]) @ inv.T
    return bilinear(image, q[..., 0], q[..., 1])


def _gaussian_blur(image: jax.Array, sigma: jax.Array | float) -> jax.Array:
    """Separable Gaussian blur of image [H, W, C] (9 taps, edges repeated) with a traced sigma in pixels.

    Args:
      image: float [H, W, C].
      sigma: scalar sigma in pixels (> 0).

    Returns:
      float [H, W, C] blurred image.
    """
    offsets = jnp.arange(-4, 5, dtype=jnp.float32)
    wgt = jnp.exp(-0.5 * (offsets / sigma) ** 2)
    wgt = wgt / jnp.sum(wgt)
    h, w = image.shape[:2]
    pad = jnp.pad(image, ((4, 4), (0, 0), (0, 0)), mode="edge")
    out = functools.reduce(operator.add, (wgt[i] * pad[i:i + h] for i in range(9)))
    pad = jnp.pad(out, ((0, 0), (4, 4), (0, 0)), mode="edge")
    return functools.reduce(operator.add, (wgt[i] * pad[:, i:i + w] for i in range(9)))


def _photometric(key: jax.Array, image: jax.Array, cfg: AugmentConfig) -> jax.Array:
    """Colour, blur, low resolution and occlusion (`AugmentConfig`) of one crop, each drawn from `key`.

    Args:
      key: one PRNG key.
      image: float [H, H, 3] in [0, 1].
      cfg: the ranges and probabilities.

    Returns:
      float [H, H, 3] in [0, 1].
    """
    kc, kb, ks, kl, kf, ko, kr = jax.random.split(key, 7)
    size = image.shape[0]
    if cfg.colour:
        b, con, sat = 1.0 + jax.random.uniform(kc, (3,), minval=-cfg.colour, maxval=cfg.colour)
        grey = jnp.mean(image, -1, keepdims=True)
        image = grey + (image - grey) * sat
        image = (image - jnp.mean(image)) * con + jnp.mean(image)
        image = jnp.clip(image * b, 0.0, 1.0)
    if cfg.blur:
        sigma = jax.random.uniform(ks, (), minval=0.5, maxval=2.0)
        image = jnp.where(jax.random.bernoulli(kb, cfg.blur), _gaussian_blur(image, sigma), image)
    if cfg.low_res:
        f = jax.random.uniform(kf, (), minval=2.0, maxval=4.0)
        grid = (jnp.floor(jnp.arange(size, dtype=jnp.float32) / f) + 0.5) * f - 0.5
        ys, xs = jnp.meshgrid(jnp.clip(grid, 0, size - 1), jnp.clip(grid, 0, size - 1), indexing="ij")
        low = bilinear(_gaussian_blur(image, f / 2), xs, ys)
        image = jnp.where(jax.random.bernoulli(kl, cfg.low_res), low, image)
    if cfg.occlusion:
        lo_hi = jax.random.uniform(kr, (4,))
        side = (0.1 + 0.3 * lo_hi[:2]) * size
        corner = lo_hi[2:] * (size - side)
        ax = jnp.arange(size, dtype=jnp.float32)
        box = ((ax[None, :] >= corner[0]) & (ax[None, :] < corner[0] + side[0])
               & (ax[:, None] >= corner[1]) & (ax[:, None] < corner[1] + side[1]))
        image = jnp.where(jax.random.bernoulli(ko, cfg.occlusion) & box[..., None], 0.5, image)
    return image
