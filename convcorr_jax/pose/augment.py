"""On-device data augmentation (Tompson et al. Sec. 3.3): random rotation in [-20, 20] degrees, scale in
[0.5, 1.5] about the image centre, and a horizontal flip with probability 0.5 that swaps left/right joints.

All functions are pure and jit/vmap friendly; one PRNG key per sample makes a sample's augmentation independent
of the batch it is in and of the number of devices.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from convcorr_jax import geometry
from convcorr_jax.pose import joints

MPII_FLIP = joints.MPII.flip  # left <-> right permutation of the 16 MPII joints
FLIC_FLIP = joints.FLIC.flip  # ... of FLIC's 11 labelled joints


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation: rotation (degrees), scale range and left-right flip with `flip_perm`."""

    rotation: float = 20.0  # degrees, uniform in [-rotation, rotation]
    scale: tuple[float, float] = (0.5, 1.5)
    flip: bool = True
    flip_perm: tuple[int, ...] = MPII_FLIP


def sample_params(key: jax.Array, cfg: AugmentConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
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


def affine(ang, sc, fl, size: int) -> jax.Array:
    """The augmentation as an affine map [2, 3] (image -> augmented image).

    Scales and rotates about the centre ((size - 1) / 2, (size - 1) / 2) of a size x size image, then mirrors x
    when `fl`.

    Args:
      ang, sc, fl: angle in radians, scale factor, mirror flag (scalars, as from `sample_params`).
      size: the side of the square image in pixels.

    Returns:
      float32 [2, 3] affine map of (x, y) pixels, image -> augmented image.
    """
    c = (size - 1) / 2.0
    a = sc * jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    a = jnp.where(fl, a * jnp.array([[-1.0], [1.0]]), a)
    return jnp.concatenate([a, (c - a @ jnp.array([c, c]))[:, None]], 1)


def transform_points(points: jax.Array, ang, sc, fl, size: int, flip_perm) -> jax.Array:
    """Forward map of points [K, 2] (`affine`); joints re-labelled L<->R when mirrored.

    Args:
      points: [K, 2] (x, y) pixels in the size x size image.
      ang, sc, fl: angle in radians, scale factor, mirror flag (as from `sample_params`).
      size: the side of the square image in pixels.
      flip_perm: [K] left <-> right joint permutation, applied when `fl`.

    Returns:
      float32 [K, 2] (x, y) pixels in the augmented image, rows permuted by `flip_perm` when mirrored.
    """
    q = geometry.transform_points(jnp.asarray(points), affine(ang, sc, fl, size))
    return jnp.where(fl, q[jnp.asarray(flip_perm)], q)


def warp_image(image: jax.Array, ang, sc, fl) -> jax.Array:
    """Resample image [H, W, C] (float) with the same transform (bilinear, zeros outside).

    The centre used is ((W - 1) / 2, (W - 1) / 2), so it matches `affine` for a square image.

    Args:
      image: float [H, W, C].
      ang, sc, fl: angle in radians, scale factor, mirror flag (as from `sample_params`).

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
    out = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - jnp.abs(x - xi)) * (1 - jnp.abs(y - yi))
            ok = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            idx = (jnp.clip(yi, 0, h - 1) * w + jnp.clip(xi, 0, w - 1)).astype(jnp.int32)
            out = out + jnp.where(ok, wgt, 0.0)[..., None] * flat[idx]
    return out


def augment(key: jax.Array, image: jax.Array, points: jax.Array, visible: jax.Array, cfg: AugmentConfig):
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
    """
    ang, sc, fl = sample_params(key, cfg)
    size = image.shape[0]
    img = warp_image(image, ang, sc, fl)
    pts = transform_points(points, ang, sc, fl, size, cfg.flip_perm)
    vis = jnp.where(fl, visible[jnp.asarray(cfg.flip_perm)], visible)
    inside = jnp.all((pts >= 0) & (pts <= size - 1), axis=-1)
    return img, pts, vis & inside


def augment_batch(keys, images, points, visible, cfg: AugmentConfig):
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
