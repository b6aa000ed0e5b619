"""Hyperpixel features: per-axis interpolation weights and normalisation by hand, tap names, a toy backbone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.backbones import registry
from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.hyperpixel import (combine, _hyperpixel_features, interpolation_matrix, l2_normalise,
                                              resample, resolve_taps, _stride_rf, target_grid)


def test_interpolation_matrix_by_hand():
    # source nodes at pixels 0.5, 2.5, 4.5 (stride 2); destination nodes at pixels 0..4 (stride 1)
    m = interpolation_matrix(RF(2, 2, 0.5), 3, RF(1, 1, 0.0), 5)
    # fractional source coordinates (c - 0.5) / 2: -0.25 (clamped to 0), 0.25, 0.75, 1.25, 1.75
    want = [[1, 0, 0], [0.75, 0.25, 0], [0.25, 0.75, 0], [0, 0.75, 0.25], [0, 0.25, 0.75]]
    np.testing.assert_allclose(m, want, atol=1e-7)
    # beyond the last node: clamped to the edge value
    np.testing.assert_allclose(interpolation_matrix(RF(2, 2, 0.5), 3, RF(1, 1, 0.0), 7)[-1], [0, 0, 1])
    # same grid: identity
    np.testing.assert_allclose(interpolation_matrix(RF(3, 4, 1.5), 6, RF(3, 4, 1.5), 6), np.eye(6))


def test_resample_and_normalise_by_hand():
    x = np.zeros((1, 2, 2, 2), np.float32)
    x[0, :, :, 0] = [[0, 4], [8, 12]]
    x[0, :, :, 1] = 3.0
    wy = interpolation_matrix(RF(2, 2, 0.5), 2, RF(1, 1, 0.0), 4)  # rows: [1,0],[.75,.25],[.25,.75],[0,1]
    wx = wy
    r = np.asarray(resample(jnp.asarray(x), jnp.asarray(wy), jnp.asarray(wx)))
    assert r.shape == (1, 4, 4, 2)
    # pixel (x=1, y=2): rows .25/.75, cols .75/.25 -> 0*.25*.75 + 4*.25*.25 + 8*.75*.75 + 12*.75*.25 = 7
    assert r[0, 2, 1, 0] == pytest.approx(7.0)
    np.testing.assert_allclose(r[..., 1], 3.0)
    # two taps: the first as is, the second a constant grid; weights 1 and 2
    y = np.full((1, 1, 1, 3), 2.0, np.float32)  # one node covering the image
    one = np.ones((4, 1), np.float32)
    f, n = combine((jnp.asarray(x), jnp.asarray(y)), (jnp.asarray(wy), jnp.asarray(one)),
                   (jnp.asarray(wx), jnp.asarray(one)), jnp.asarray([1.0, 2.0]))
    f, n = np.asarray(f), np.asarray(n)
    assert f.shape == (1, 4, 4, 5) and n.shape == (1, 4, 4, 2)
    np.testing.assert_allclose(n[0, 2, 1], [np.hypot(7.0, 3.0), np.sqrt(12.0)], rtol=1e-6)
    np.testing.assert_allclose(f[0, 2, 1, :2], np.array([7.0, 3.0]) / np.hypot(7.0, 3.0), rtol=1e-6)
    np.testing.assert_allclose(f[..., 2:], 2.0 / np.sqrt(3.0), rtol=1e-6)  # unit columns times the weight
    np.testing.assert_allclose(np.linalg.norm(f[..., :2], axis=-1), 1.0, rtol=1e-6)
    raw, _ = combine((jnp.asarray(x),), (jnp.asarray(wy),), (jnp.asarray(wx),), jnp.ones(1), normalise=False)
    np.testing.assert_allclose(np.asarray(raw), r, rtol=1e-6)
    # an all-zero column stays zero
    z, _ = combine((jnp.zeros((1, 2, 2, 2)),), (jnp.asarray(wy),), (jnp.asarray(wx),), jnp.ones(1))
    assert np.all(np.asarray(z) == 0)


def test_resolve_taps_roles_and_errors():
    vgg = registry.get("vgg16")
    assert resolve_taps(vgg, ("conv4", "conv5_3", "conv3")) == ("conv4_3", "conv5_3", "conv3_3")
    assert resolve_taps(registry.get("mobilenet_v2"), "conv5") == ("block13",)
    with pytest.raises(InputError):
        resolve_taps(vgg, ("fc6",))  # not spatial
    with pytest.raises(InputError):
        resolve_taps(vgg, ("conv4", "conv4_3"))  # the same tap twice
    with pytest.raises(InputError):
        resolve_taps(vgg, ("nope",))
    rf, hw = target_grid(vgg, ("conv5", "conv4"), (224, 160))
    assert rf == vgg.geometry["conv5_3"] and hw == (14, 10)
    rf, hw = target_grid(vgg, ("conv5",), (224, 160), grid=8)
    assert rf == _stride_rf(8) and rf.offset == 3.5 and hw == (28, 20)


@pytest.mark.parametrize("grid", ["nope", 8.0, True])
def test_target_grid_names_the_grid_in_its_error(grid):
    """A bad `grid` is refused naming field 'grid' (it named 'taps', which the caller had right)."""
    with pytest.raises(InputError, match="field 'grid'"):
        target_grid(registry.get("vgg16"), ("conv5",), (224, 160), grid=grid)


def _toy_backbone() -> Backbone:
    """Tap "a": the image itself (stride 1); tap "b": 2 x 2 mean pooling (stride 2, node i at pixel 2i + 0.5)."""
    geo = {"a": RF(1, 1, 0.0), "b": RF(2, 2, 0.5)}

    def apply(params, x, taps=("a",), relu=True):
        n, h, w, c = x.shape
        b = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).mean((2, 4))
        return {t: {"a": x, "b": b}[t] for t in taps}

    return Backbone(name="toy", taps=("a", "b"), geometry=geo, default_input_size=(8, 8), init=lambda *a: {},
                    apply=apply, preprocess=lambda u: np.asarray(u, np.float32), convert_torch=lambda s: {},
                    roles={"conv1": "a", "conv2": "b"},
                    grid_size=lambda t, hw: hw if t == "a" else (hw[0] // 2, hw[1] // 2), resize=(8, 8, False))


def test_hyperpixel_features_toy_backbone():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 255, (3, 6, 8, 3), dtype=np.uint8)
    bb = _toy_backbone()
    feats, centres, norms = _hyperpixel_features(bb, {}, images, ("conv1", "b"), weights=(1.0, 0.5), batch_size=2,
                                                with_norms=True)
    assert feats.shape == (3, 6, 8, 6) and centres.shape == (6, 8, 2) and norms.shape == (3, 6, 8, 2)
    np.testing.assert_allclose(centres[2, 5], [5, 2])
    im = images.astype(np.float64)
    np.testing.assert_allclose(feats[..., :3], im / np.linalg.norm(im, axis=-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats[..., 3:], axis=-1), 0.5, rtol=1e-5)
    # node (x=0, y=0) of the image grid reads pooled node (0, 0) (clamped): the mean of the top-left 2 x 2
    m = im[:, :2, :2].mean((1, 2))
    np.testing.assert_allclose(feats[:, 0, 0, 3:], 0.5 * m / np.linalg.norm(m, axis=-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(norms[:, 0, 0, 1], np.linalg.norm(m, axis=-1), rtol=1e-5)
    # on the pooled grid: 3 x 4 nodes at the pooled centres
    f2, c2 = _hyperpixel_features(bb, {}, images, ("a", "b"), grid="conv2")
    assert f2.shape == (3, 3, 4, 6)
    np.testing.assert_allclose(c2[1, 2], [4.5, 2.5])
    with pytest.raises(InputError):
        _hyperpixel_features(bb, {}, images, ("a", "b"), weights=(1.0,))


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_a_batch_size_that_is_not_a_positive_integer_is_one_line(batch_size):
    """hyperpixel_taps and extract refuse it by name (it used to escape as range()'s ValueError, numpy's
    'need at least one array to concatenate' or a TypeError)."""
    from convcorr_jax.features.extract import extract
    from convcorr_jax.features.hyperpixel import hyperpixel_taps

    images = np.zeros((2, 6, 8, 3), np.uint8)
    with pytest.raises(InputError, match="field 'batch_size'"):
        hyperpixel_taps(_toy_backbone(), {}, images, ("a",), batch_size=batch_size)
    with pytest.raises(InputError, match="field 'batch_size'"):
        extract(_toy_backbone(), {}, images, ("a",), batch_size=batch_size)


def test_features_of_no_taps_is_one_line():
    from convcorr_jax.features.image import features

    with pytest.raises(InputError, match="features: field 'taps': expected at least one tap name"):
        features(_toy_backbone(), {}, np.zeros((6, 8, 3), np.uint8), (), mode="none")


def test_l2_normalise_is_differentiable_at_a_zero_column():
    x = jnp.array([[0.0, 3.0, 4.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(l2_normalise(x)), [[0.0, 0.6, 0.8], [0.0, 0.0, 0.0]])
    g = np.asarray(jax.grad(lambda x: l2_normalise(x).sum())(x))
    assert np.isfinite(g).all(), g


def test_a_new_image_count_compiles_one_program_per_tap(count_compiles):
    """hyperpixel_taps on an image count it has not seen compiles the combining program of each tap and nothing
    else: each tap's features went through `jnp.asarray` first, which compiled a copy program per shape (as many
    again); a repeated call compiles nothing and gives the same features bit for bit."""
    from convcorr_jax.features.hyperpixel import hyperpixel_taps

    rng = np.random.default_rng(4)
    images = rng.integers(1, 255, (3, 10, 14, 3), dtype=np.uint8)  # a size no other test uses
    bb, taps = _toy_backbone(), ("a", "b")
    hyperpixel_taps(bb, {}, images[:1], taps)
    with count_compiles() as n:
        parts, _, _ = hyperpixel_taps(bb, {}, images, taps)
    assert n[0] == len(taps)
    with count_compiles() as again:
        same, _, _ = hyperpixel_taps(bb, {}, images, taps)
    assert again[0] == 0
    for t in taps:
        np.testing.assert_array_equal(parts[t], same[t])
