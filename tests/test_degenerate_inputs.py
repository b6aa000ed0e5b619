"""Degenerate and extreme inputs to the core numerical methods: a finite documented result, a documented NaN, or
one InputError (never a silent NaN / inf or a wrong answer)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.knn import l2_normalize
from convcorr_jax.correspondence.matching import MatchConfig, match


def _old_l2_normalize(x, eps=1e-12):
    nonzero = jnp.any(x != 0, axis=-1, keepdims=True)
    n = jnp.linalg.norm(jnp.where(nonzero, x, 1), axis=-1, keepdims=True)
    return x / jnp.where(nonzero, jnp.maximum(n, eps), eps)


def test_l2_normalize_huge_rows_stay_unit_and_ordinary_rows_are_bit_identical():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(50, 16)), jnp.float32)
    np.testing.assert_array_equal(np.asarray(l2_normalize(x)), np.asarray(_old_l2_normalize(x)))
    big = np.asarray(l2_normalize(x * 1e30))
    np.testing.assert_allclose(big, np.asarray(l2_normalize(x)), rtol=1e-5, atol=1e-6)
    top = np.asarray(l2_normalize(jnp.array([[3e38, 3e38, 1.0]], jnp.float32)))
    np.testing.assert_allclose(top, [[2 ** -0.5, 2 ** -0.5, 0.0]], rtol=1e-6)


def test_match_features_with_huge_norms_match_as_the_unscaled_ones():
    # the cosine is scale-free; features of norm ~1e30 overflowed the norm and every similarity was 0 (node 0 won)
    rng = np.random.default_rng(1)
    fs, ft = rng.random((6, 8)).astype(np.float32), rng.random((5, 8)).astype(np.float32)
    xy_s, xy_t = rng.random((6, 2)).astype(np.float32) * 30, rng.random((5, 2)).astype(np.float32) * 30
    ref = np.asarray(match(fs, ft, xy_s, xy_t, (32, 32), (32, 32), MatchConfig(scorer="cos")))
    got = np.asarray(match(fs * 1e30, ft * 1e30, xy_s, xy_t, (32, 32), (32, 32), MatchConfig(scorer="cos")))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
