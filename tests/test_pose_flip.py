"""Test-time horizontal flip with left/right joints swapped (`pose.flip`): exact involutions, a hand-built
asymmetric heat-map model whose averaged maps are known, and the cascade's flip-averaged output exactly
flip-equivariant for a random (not mirror-symmetric) model."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from convcorr_train import pose_configs

from convcorr_jax.data.flic import FLIC_LABELLED_NAMES
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import flip as pose_flip
from convcorr_jax.pose import joints, predict
from convcorr_jax.pose import model as pose_model

PERM = joints.FLIC.flip


def test_flic_perm_swaps_left_and_right():
    swap = {"l": "r", "r": "l"}
    for k, name in enumerate(FLIC_LABELLED_NAMES):
        want = swap[name[0]] + name[1:] if name[0] in swap else name  # nose stays
        assert FLIC_LABELLED_NAMES[PERM[k]] == want
    assert pose_flip.check_perm(PERM, 11) == PERM
    for bad, n in (((0, 1), 3), (tuple(range(10)) + (0,), 11), ((1, 2, 0), 3)):  # length, repeat, not involution
        with pytest.raises(InputError, match="perm"):
            pose_flip.check_perm(bad, n)


@pytest.mark.parametrize("bad", [True, False, "lr", None, [0.5, 1, 2], (1.0, 0.0, 2.0)])
def test_perm_that_is_not_a_sequence_of_integers_is_one_input_error(bad):
    """flip=True (a bool where a permutation belongs) was a TypeError traceback, a str a ValueError, and floats were
    truncated by int(): 0.5 read as joint 0."""
    with pytest.raises(InputError, match="field 'perm'.*a sequence of joint indices"):
        pose_flip.check_perm(bad, 3)
    assert pose_flip.check_perm(np.array([2, 1, 0]), 3) == (2, 1, 0)  # numpy integers still fine


def test_involutions_exact():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 6, 10, 11)), jnp.float32)
    p = jnp.asarray(rng.integers(0, 40, (2, 11, 2)) / 4, jnp.float32)  # quarter pixels: exact in float32
    np.testing.assert_array_equal(pose_flip._flip_images(pose_flip._flip_images(x)), x)
    np.testing.assert_array_equal(pose_flip._unflip_maps(pose_flip._unflip_maps(x, PERM), PERM), x)
    np.testing.assert_array_equal(pose_flip._mirror_points(pose_flip._mirror_points(p, 10, PERM), 10, PERM), p)
    # a point and a heat-map cell mirror together: cell j of stride 2 over 20 px is centred on 2j + 0.5
    q = pose_flip._mirror_points(jnp.array([[[2 * 3 + 0.5, 1.0]] * 11]), 20, PERM)
    np.testing.assert_allclose(q[0, :, 0], 2 * (10 - 1 - 3) + 0.5)


def test_average_maps_hand_built_asymmetric_model():
    """Channel 0 ("left") sees bright pixels in the left half only, channel 1 ("right") in the right half: a dot
    at x = 3 lights channel 0 of the image and channel 1 of the mirror, which the swap brings back to channel 0."""
    w = 16

    def fn(images):
        g = images[..., 0]
        left = jnp.arange(w) < w // 2
        return jnp.stack([g * left, g * ~left], axis=-1)

    img = np.zeros((1, 8, w, 3), np.float32)
    img[0, 5, 3] = 1.0
    avg = np.asarray(pose_flip._average_maps(fn, jnp.asarray(img), (1, 0)))
    want = np.zeros((1, 8, w, 2), np.float32)
    want[0, 5, 3, 0] = 1.0
    np.testing.assert_array_equal(avg, want)
    # without the joint swap the two passes disagree: half the evidence lands on the wrong joint
    no_swap = np.asarray(pose_flip._average_maps(fn, jnp.asarray(img), (0, 1)))
    np.testing.assert_array_equal(no_swap[0, 5, 3], [0.5, 0.5])


@pytest.fixture(scope="module")
def tiny():
    cfg = dataclasses.replace(pose_configs.TINY_MODEL, num_joints=11)
    params = pose_model.init(jax.random.PRNGKey(1), cfg)
    images = np.random.default_rng(2).integers(0, 256, (2, cfg.image_size, cfg.image_size, 3), np.uint8)
    return cfg, params, images


@pytest.fixture(scope="module")
def flip_apply(tiny):
    """`pose_flip.apply` of the tiny model, jitted: one compilation for the module, not one per operation."""
    cfg = tiny[0]
    return jax.jit(lambda p, x: pose_flip.apply(p, x, cfg, PERM))


def test_cascade_flip_equivariant(tiny, flip_apply):
    cfg, params, images = tiny
    x = jnp.asarray(images, jnp.float32) / 255
    a = flip_apply(params, x)
    b = flip_apply(params, pose_flip._flip_images(x))
    plain = jax.jit(lambda p, x: pose_model.apply(p, x, cfg)["coarse_hm"])(params, x)  # XLA drops the fine model
    assert float(jnp.abs(plain - a["coarse_hm"]).max()) > 1e-6  # the model is not mirror-symmetric
    np.testing.assert_allclose(pose_flip._unflip_maps(b["coarse_hm"], PERM), a["coarse_hm"], atol=1e-6)
    np.testing.assert_allclose(pose_flip._mirror_points(b["xy"], cfg.image_size, PERM), a["xy"], atol=1e-4)
    np.testing.assert_allclose(pose_flip._mirror_points(b["xy_product"], cfg.image_size, PERM), a["xy_product"],
                               atol=1e-4)
    np.testing.assert_allclose(pose_flip._mirror_points(b["coarse_xy"], cfg.image_size, PERM), a["coarse_xy"])


def test_predict_with_flip(tiny, flip_apply):
    cfg, params, images = tiny
    out = predict.predict_crops(params, images, cfg, flip=PERM)
    direct = flip_apply(params, jnp.asarray(images, jnp.float32) / 255)
    np.testing.assert_allclose(out["cascade"], direct["xy"], atol=1e-4)
    np.testing.assert_allclose(out["coarse"], direct["coarse_xy"])
    plain = predict.predict_crops(params, images, cfg)
    assert set(out) == set(plain)
    with pytest.raises(InputError, match="perm"):
        predict.predict_crops(params, images, cfg, flip=(0, 1))
