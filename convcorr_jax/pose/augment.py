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
    """(angle radians, scale, flip bool) for one sample."""
    ka, ks, kf = jax.random.split(key, 3)
    ang = jnp.deg2rad(jax.random.uniform(ka, (), minval=-cfg.rotation, maxval=cfg.rotation))
    sc = jax.random.uniform(ks, (), minval=cfg.scale[0], maxval=cfg.scale[1])
    fl = jax.random.bernoulli(kf, 0.5) if cfg.flip else jnp.array(False)
    return ang, sc, fl


def affine(ang, sc, fl, size: int) -> jax.Array:
    """The augmentation as an affine map [2, 3] (image -> augmented image): scale and rotate about the centre of
    a size x size image, then mirror x when `fl`."""
    c = (size - 1) / 2.0
    a = sc * jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    a = jnp.where(fl, a * jnp.array([[-1.0], [1.0]]), a)
    return jnp.concatenate([a, (c - a @ jnp.array([c, c]))[:, None]], 1)


def transform_points(points: jax.Array, ang, sc, fl, size: int, flip_perm) -> jax.Array:
    """Forward map of points [K, 2] (`affine`); joints re-labelled L<->R when mirrored."""
    q = geometry.transform_points(jnp.asarray(points), affine(ang, sc, fl, size))
    return jnp.where(fl, q[jnp.asarray(flip_perm)], q)


def warp_image(image: jax.Array, ang, sc, fl) -> jax.Array:
    """Resample image [H, W, C] (float) with the same transform (bilinear, zeros outside)."""
    h, w = image.shape[:2]
    c = (w - 1) / 2.0
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    xs = jnp.where(fl, w - 1 - xs, xs)
    rot = jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    q = jnp.stack([xs - c, ys - c], -1) / sc @ rot  # inverse rotation: R^T applied to row vectors
    src_x, src_y = q[..., 0] + c, q[..., 1] + c
    return bilinear(image, src_x, src_y)


def bilinear(image: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """Bilinear samples [h, w, C] of image [H, W, C] at float pixel coordinates x, y [h, w]; zeros outside."""
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
    """One sample: image [H, W, 3] float, points [K, 2], visible bool [K] -> augmented triple. Joints that leave
    the image become not visible."""
    ang, sc, fl = sample_params(key, cfg)
    size = image.shape[0]
    img = warp_image(image, ang, sc, fl)
    pts = transform_points(points, ang, sc, fl, size, cfg.flip_perm)
    vis = jnp.where(fl, visible[jnp.asarray(cfg.flip_perm)], visible)
    inside = jnp.all((pts >= 0) & (pts <= size - 1), axis=-1)
    return img, pts, vis & inside


def augment_batch(keys, images, points, visible, cfg: AugmentConfig):
    """vmap of `augment` over a batch with per-sample keys [N]."""
    return jax.vmap(lambda k, i, p, v: augment(k, i, p, v, cfg))(keys, images, points, visible)
