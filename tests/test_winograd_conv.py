"""`layers._winograd_conv` (F(2 x 2, 3 x 3)) against a brute-force convolution, and `layers.conv`'s choice of it."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax import lax

from convcorr_jax.backbones import layers
from convcorr_jax.backbones.receptive_field import Step


def _brute(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """3 x 3 cross-correlation, stride 1, zero padding 1, by the definition (float64)."""
    n, h, w, _ = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, k.shape[-1]))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w], k[i, j].astype(np.float64))
    return out


@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (2, 4, 4, 5), (1, 7, 9, 6), (2, 6, 3, 130)])
def test_winograd_equals_the_definition(shape):
    r = np.random.default_rng(sum(shape))
    x = r.standard_normal(shape).astype(np.float32)
    k = r.standard_normal((3, 3, shape[-1], 4)).astype(np.float32)
    want = _brute(x, k)
    got = np.asarray(layers._winograd_conv(x, k))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max())


def test_conv_runs_winograd_from_the_channel_threshold_on_the_cpu():
    assert jax.default_backend() == "cpu"
    r = np.random.default_rng(0)
    for c in (layers.WINOGRAD_MIN_CHANNELS, layers.WINOGRAD_MIN_CHANNELS - 1):
        x = r.standard_normal((1, 5, 6, c)).astype(np.float32)
        k = r.standard_normal((3, 3, c, 8)).astype(np.float32)
        y = np.asarray(layers.conv({"kernel": k, "bias": np.ones(8, np.float32)}, x, Step(3, 1, 1)))
        np.testing.assert_allclose(y, _brute(x, k) + 1, rtol=0, atol=2e-5 * np.abs(y).max())
        plain = lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        ran = layers._winograd_conv(x, k) if c >= layers.WINOGRAD_MIN_CHANNELS else plain
        np.testing.assert_array_equal(y, np.asarray(ran) + np.float32(1))
