"""Test-time horizontal flip of the pose cascade: the image and its mirror image are both read, the mirror's
answers are mirrored back with left and right joints swapped, and the two are averaged.

    out = flip.apply(params, images, cfg, joints.FLIC.flip)      # `model.apply`'s dict, flip-averaged
    preds = predict.predict_crops(params, images, cfg, flip=joints.FLIC.flip)

`perm` is a joint set's `flip` permutation (`pose.joints`): joint k of a person is joint perm[k] of its mirror
image (left <-> right), an involution. A W-pixel-wide image's column x is column W - 1 - x of its mirror (pixel
centres at integers), and a heat-map of stride s over it (W = s * S cells) mirrors cell j onto cell S - 1 - j
(`heatmaps`' cell centres), so mirroring a map is reversing its columns: no resampling anywhere.

Averaged (`apply`): the coarse heat-maps (the arg-max that places the fine windows, and the maps the spatial model
reads) and the cascade's refined prediction "xy" (the fine model runs on both images, at mirrored window centres).
The integer read-outs of the fine heat-map ("fine_hm", "origin") stay those of the unflipped image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from convcorr_jax.errors import InputError
from convcorr_jax.pose import model as pose_model


def check_perm(perm: Sequence[int], num_joints: int) -> tuple[int, ...]:
    """perm as a tuple, or InputError unless it is an involution of 0..num_joints-1 (a left/right swap)."""
    p = tuple(int(v) for v in perm)
    if sorted(p) != list(range(num_joints)) or any(p[p[k]] != k for k in range(num_joints)):
        raise InputError("flip", "perm", f"a left/right swap (an involution) of the {num_joints} joints", p)
    return p


def flip_images(images: jax.Array) -> jax.Array:
    """Images (or heat-maps) [N, H, W, C] mirrored left-right."""
    return images[:, :, ::-1]


def unflip_maps(maps: jax.Array, perm: Sequence[int]) -> jax.Array:
    """Heat-maps [N, H, W, K] of mirrored images -> maps of the original images: columns reversed, channel k taken
    from channel perm[k]. Its own inverse."""
    return flip_images(maps)[..., jnp.asarray(perm)]


def mirror_points(points: jax.Array, width: int, perm: Sequence[int]) -> jax.Array:
    """Points [N, K, 2] (x, y pixels, 0-based) of the joints of images `width` pixels wide -> the same joints in the
    mirror images: x -> width - 1 - x, joint k from joint perm[k]. Its own inverse."""
    p = points[..., jnp.asarray(perm), :]
    return jnp.stack([width - 1 - p[..., 0], p[..., 1]], axis=-1)


def average_maps(fn: Callable[[jax.Array], jax.Array], images: jax.Array, perm: Sequence[int]) -> jax.Array:
    """(fn(images) + unflip_maps(fn(flip_images(images)), perm)) / 2 for a heat-map function fn: [N, H, W, 3] ->
    [N, h, w, K]. Exactly flip-equivariant: average_maps(fn, flip_images(x)) == unflip_maps(average_maps(fn, x))."""
    return (fn(images) + unflip_maps(fn(flip_images(images)), perm)) / 2


def apply(params: dict, images: jax.Array, cfg: pose_model.ModelConfig, perm: Sequence[int],
          centers: jax.Array | None = None) -> dict:
    """`model.apply` with test-time flip (module docstring): the same keys; "coarse_hm", "xy" and "xy_product"
    flip-averaged, "coarse_xy" the averaged maps' integer arg-max cell centre. centers: crop centres [N, K, 2] in
    pixels (default that arg-max); the mirror image's fine windows are centred on their mirror points."""
    perm = check_perm(perm, cfg.num_joints)
    hm = average_maps(lambda x: pose_model.apply_coarse(params, x, cfg)[0], images, perm)
    cxy = pose_model.coarse_points(hm, cfg)
    c = jax.lax.stop_gradient(cxy if centers is None else centers)
    # the coarse network runs again inside model.apply: the same computation on the same inputs, shared by XLA's CSE
    out = pose_model.apply(params, images, cfg, centers=c)
    mirrored = pose_model.apply(params, flip_images(images), cfg, centers=mirror_points(c, cfg.image_size, perm))
    xy = (out["xy"] + mirror_points(mirrored["xy"], cfg.image_size, perm)) / 2
    product = (out["xy_product"] + mirror_points(mirrored["xy_product"], cfg.image_size, perm)) / 2
    return {**out, "coarse_hm": hm, "coarse_xy": cxy, "xy": xy, "xy_product": product}
