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

import operator
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import model as pose_model


def check_perm(perm: Sequence[int], num_joints: int) -> tuple[int, ...]:
    """perm as a tuple, or InputError unless it is an involution of 0..num_joints-1 (a left/right swap).

    Args:
      perm: [K] a joint set's `flip` permutation.
      num_joints: K, the model's joint count.

    Returns:
      perm as a tuple of K ints.

    Raises:
      InputError: perm not a sequence of integers (a bool, a str, floats), not a permutation of 0..num_joints-1, or
        not its own inverse.
    """
    expected = f"a left/right swap (an involution) of the {num_joints} joints"
    try:  # integers only: int() would read "0" as 0 and 0.5 as 0
        p = tuple(operator.index(v) for v in perm)
    except TypeError:
        raise InputError("flip", "perm", expected + ": a sequence of joint indices", repr(perm)) from None
    if sorted(p) != list(range(num_joints)) or any(p[p[k]] != k for k in range(num_joints)):
        raise InputError("flip", "perm", expected, p)
    return p


def _flip_images(images: jax.Array) -> jax.Array:
    """Images (or heat-maps) [N, H, W, C] mirrored left-right.

    Args:
      images: [N, H, W, C] any dtype.

    Returns:
      [N, H, W, C], the same dtype: column x is the input's column W - 1 - x.
    """
    return images[:, :, ::-1]


def _unflip_maps(maps: jax.Array, perm: Sequence[int]) -> jax.Array:
    """Heat-maps [N, H, W, K] of mirrored images -> maps of the original images. Its own inverse.

    Args:
      maps: [N, H, W, K] heat-maps of mirrored images.
      perm: [K] the left/right joint permutation (an involution).

    Returns:
      [N, H, W, K]: columns reversed, channel k taken from channel perm[k].
    """
    return _flip_images(maps)[..., jnp.asarray(perm)]


def _mirror_points(points: jax.Array, width: int, perm: Sequence[int]) -> jax.Array:
    """Points [N, K, 2] of the joints of images `width` pixels wide -> the same joints in the mirror images.

    Its own inverse.

    Args:
      points: [N, K, 2] (x, y) pixels, 0-based (any leading axes).
      width: the images' width W in pixels.
      perm: [K] the left/right joint permutation (an involution).

    Returns:
      [N, K, 2] (x, y) pixels: x -> width - 1 - x, joint k from joint perm[k].
    """
    p = points[..., jnp.asarray(perm), :]
    return jnp.stack([width - 1 - p[..., 0], p[..., 1]], axis=-1)


def _average_maps(fn: Callable[[jax.Array], jax.Array], images: jax.Array, perm: Sequence[int]) -> jax.Array:
    """(fn(images) + _unflip_maps(fn(_flip_images(images)), perm)) / 2 for a heat-map function fn.

    Exactly flip-equivariant: _average_maps(fn, _flip_images(x)) == _unflip_maps(_average_maps(fn, x)).

    Args:
      fn: a heat-map function, [N, H, W, 3] -> [N, h, w, K].
      images: float [N, H, W, 3] (NHWC).
      perm: [K] the left/right joint permutation (an involution).

    Returns:
      float [N, h, w, K] flip-averaged heat-maps.
    """
    return (fn(images) + _unflip_maps(fn(_flip_images(images)), perm)) / 2


def apply(params: dict, images: jax.Array, cfg: pose_model.ModelConfig, perm: Sequence[int],
          centers: jax.Array | None = None) -> dict:
    """`model.apply` with test-time flip (module docstring).

    Args:
      params: the cascade's parameters (`model.init`).
      images: float32 [N, S, S, 3] in [0, 1] (NHWC), S = cfg.image_size.
      cfg: the model's settings.
      perm: [K] the joint set's left/right permutation (checked by `check_perm`).
      centers: crop centres [N, K, 2] in pixels (default the averaged maps' arg-max); the mirror image's fine
        windows are centred on their mirror points.

    Returns:
      `model.apply`'s dict with the same keys: "coarse_hm" [N, S', S', K], "xy" and "xy_product" [N, K, 2] (x, y)
      pixels flip-averaged, "coarse_xy" [N, K, 2] the averaged maps' integer arg-max cell centre; "fine_hm" and
      "origin" those of the unflipped images.

    Raises:
      InputError: perm not a left/right swap of cfg.num_joints joints.
    """
    perm = check_perm(perm, cfg.num_joints)
    hm = _average_maps(lambda x: pose_model.apply_coarse(params, x, cfg)[0], images, perm)
    cxy = pose_model.coarse_points(hm, cfg)
    c = jax.lax.stop_gradient(cxy if centers is None else centers)
    # the coarse network runs again inside model.apply: the same computation on the same inputs, shared by XLA's CSE
    out = pose_model.apply(params, images, cfg, centers=c)
    mirrored = pose_model.apply(params, _flip_images(images), cfg, centers=_mirror_points(c, cfg.image_size, perm))
    xy = (out["xy"] + _mirror_points(mirrored["xy"], cfg.image_size, perm)) / 2
    product = (out["xy_product"] + _mirror_points(mirrored["xy_product"], cfg.image_size, perm)) / 2
    return {**out, "coarse_hm": hm, "coarse_xy": cxy, "xy": xy, "xy_product": product}
