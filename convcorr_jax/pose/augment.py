"""On-device data augmentation (Tompson et al. Sec. 3.3): random rotation in [-20, 20] degrees, scale in
[0.5, 1.5] about the image centre, and a horizontal flip with probability 0.5 that swaps left/right joints.

All functions are pure and jit/vmap friendly; one PRNG key per sample makes a sample's augmentation independent
of the batch it is in and of the number of devices.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

# MPII joint ids: 0 r ankle, 1 r knee, 2 r hip, 3 l hip, 4 l knee, 5 l ankle, 6 pelvis, 7 thorax, 8 upper neck,
# 9 head top, 10 r wrist, 11 r elbow, 12 r shoulder, 13 l shoulder, 14 l elbow, 15 l wrist
MPII_FLIP = (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10)
# FLIC's 11 labelled joints (convcorr_jax.data.flic.FLIC_LABELLED_NAMES): lsho lelb lwri rsho relb rwri lhip rhip
# leye reye nose
FLIC_FLIP = (3, 4, 5, 0, 1, 2, 7, 6, 9, 8, 10)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
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


def transform_points(points: jax.Array, ang, sc, fl, size: int, flip_perm) -> jax.Array:
    """Forward map of points [K, 2]: scale and rotate about the centre, then mirror x; joints re-labelled L<->R."""
    c = (size - 1) / 2.0
    rot = jnp.array([[jnp.cos(ang), -jnp.sin(ang)], [jnp.sin(ang), jnp.cos(ang)]])
    q = (points - c) @ rot.T * sc + c
    q = jnp.where(fl, q.at[:, 0].set(size - 1 - q[:, 0]), q)
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
