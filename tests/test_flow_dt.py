"""Distance transform of sampled functions: exact lower envelope vs brute force."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from convcorr_jax.core.errors import InputError
from convcorr_jax.flow.distance_transform import (AUTO_BRUTE_MAX, AUTO_TREE_MAX, dt1d, dt1d_brute, dt1d_min, _dt2d,
                                                  _dt2d_values, _resolve_method)


def dt2d_brute_full(f, wy: float = 1.0, wx: float = 1.0):
    """Non-separable brute force over all (y', x') in numpy float64 (the reference of `_dt2d`).

    Args:
      f: costs [..., H, W].
      wy, wx: the weights of (y - y')^2 and (x - x')^2.

    Returns:
      (values float64 [..., H, W], arg-min int [..., H, W, 2] as (y', x')).
    """
    f = np.asarray(f, np.float64)
    h, w = f.shape[-2:]
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    d = wy * (yy.reshape(-1, 1) - yy.reshape(1, -1)) ** 2 + wx * (xx.reshape(-1, 1) - xx.reshape(1, -1)) ** 2
    cost = f.reshape(*f.shape[:-2], 1, h * w) + d  # [..., p, q]
    vals = cost.min(-1).reshape(f.shape)
    arg = cost.argmin(-1).reshape(f.shape)
    return vals, np.stack([arg // w, arg % w], -1)


def _random_f(rng, shape, inf_frac):
    f = (rng.normal(size=shape) * rng.uniform(0.1, 100)).astype(np.float32)
    f[rng.random(shape) < inf_frac] = np.inf
    return f


@settings(max_examples=25, deadline=None)
@given(n=st.sampled_from([1, 2, 3, 5, 8, 17, 40]), w=st.floats(1e-3, 50.0), seed=st.integers(0, 2**31 - 1),
       inf_frac=st.sampled_from([0.0, 0.3, 0.9]))
def test_dt1d_equals_brute_force(n, w, seed, inf_frac):
    f = _random_f(np.random.default_rng(seed), (3, n), inf_frac)
    v, a = map(np.asarray, dt1d(f, w))
    vb, ab = map(np.asarray, dt1d_brute(f, w))
    np.testing.assert_array_equal(v, vb)  # bit-exact values
    # arg-min is a minimiser; with random floats it is the brute force's (smallest) one
    np.testing.assert_array_equal(a, ab)
    # independent float64 check of the value
    p = np.arange(n)
    ref = np.min(f[:, None, :].astype(np.float64) + w * (p[:, None] - p[None, :]) ** 2, axis=-1)
    np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-4)


def test_dt1d_ties_and_integer_costs():
    # equal-cost parabolas meeting exactly between integer points and at integer points
    f = np.array([0.0, 0.0, 3.0, 0.0, 8.0, 1.0], np.float32)
    v, a = map(np.asarray, dt1d(f, 1.0))
    vb, _ = map(np.asarray, dt1d_brute(f, 1.0))
    np.testing.assert_array_equal(v, vb)
    np.testing.assert_array_equal(f[a] + (np.arange(6) - a) ** 2, v)  # arg-min achieves the minimum


def test_dt1d_all_inf_and_size_one():
    v, a = map(np.asarray, dt1d(np.full((2, 5), np.inf, np.float32), 1.0))
    assert np.all(np.isinf(v)) and np.all(a == 0)
    v, a = map(np.asarray, dt1d(np.array([[3.0]], np.float32), 2.0))
    assert v.tolist() == [[3.0]] and a.tolist() == [[0]]


def test_dt1d_other_axis():
    f = _random_f(np.random.default_rng(1), (7, 5, 4), 0.2)
    v, a = map(np.asarray, dt1d(f, 0.7, axis=1))
    vb, ab = map(np.asarray, dt1d_brute(f, 0.7, axis=1))
    np.testing.assert_array_equal(v, vb)
    np.testing.assert_array_equal(a, ab)


@pytest.mark.parametrize("shape,wy,wx",
                         [((1, 1), 1.0, 1.0), ((5, 7), 0.3, 2.0), ((9, 4), 5.0, 0.05), ((1, 6), 1.0, 0.5)])
def test_dt2d_equals_nonseparable_brute_force(shape, wy, wx):
    f = _random_f(np.random.default_rng(2), (2, *shape), 0.3)
    v, a = map(np.asarray, _dt2d(f, wy, wx))
    vb, ab = dt2d_brute_full(f, wy, wx)
    np.testing.assert_allclose(v, vb, rtol=1e-6, atol=1e-5)
    # the 2D arg-min achieves the value
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    got = np.take_along_axis(f.reshape(2, -1), (a[..., 0] * shape[1] + a[..., 1]).reshape(2, -1), 1).reshape(v.shape)
    got = got + wy * (yy - a[..., 0]) ** 2 + wx * (xx - a[..., 1]) ** 2
    np.testing.assert_allclose(got, v, rtol=1e-6, atol=1e-5)
    # brute-force separable passes give the same values bit for bit
    v2, a2 = map(np.asarray, _dt2d(f, wy, wx, method="brute"))
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_array_equal(a, a2)


def test_dt_rejects_nonpositive_weight():
    with pytest.raises(InputError):
        _dt2d(np.zeros((3, 3), np.float32), 0.0, 1.0)


@pytest.mark.parametrize("n", [1, 2, 7, 31, 32, AUTO_TREE_MAX, AUTO_TREE_MAX + 1, AUTO_BRUTE_MAX, AUTO_BRUTE_MAX + 1])
def test_dt1d_min_every_auto_size_class_equals_brute_force(n):
    """`auto` picks the unrolled tree up to AUTO_TREE_MAX, the fused reduction up to AUTO_BRUTE_MAX and the
    envelope above; every choice (and every explicit method) gives the brute-force values bit for bit, also on a
    range extended by `pad`."""
    assert _resolve_method(n) == ("tree" if n <= AUTO_TREE_MAX else "brute" if n <= AUTO_BRUTE_MAX else "envelope")
    rng = np.random.default_rng(n)
    f = _random_f(rng, (2, n), 0.3)
    f[1, : n // 2] = np.inf  # a long +inf run (labels off the target grid)
    ref = np.asarray(dt1d_brute(f, 0.37)[0])
    pad = 3
    ref_pad = np.asarray(dt1d_brute(np.pad(f, [(0, 0), (pad, pad)], constant_values=np.inf), 0.37)[0])
    methods = ("auto", "brute", "envelope") + (("tree",) if n <= 2 * AUTO_TREE_MAX else ())  # tree: n unrolled terms
    for method in methods:
        np.testing.assert_array_equal(np.asarray(dt1d_min(f, 0.37, method=method)), ref)
        np.testing.assert_array_equal(np.asarray(dt1d_min(f, 0.37, pad=pad, method=method)), ref_pad)
    # along a leading axis (the fused reduction and the tree work in place)
    for method in methods:
        np.testing.assert_array_equal(np.asarray(dt1d_min(f.T.copy(), 0.37, axis=0, pad=pad, method=method)), ref_pad.T)


def test_dt2d_values_equals_separable_brute_force():
    f = _random_f(np.random.default_rng(7), (3, 6, 9), 0.3)
    want = np.asarray(_dt2d(f, 0.3, 2.0, method="brute")[0])
    for method in ("auto", "tree", "brute", "envelope"):
        np.testing.assert_array_equal(np.asarray(_dt2d_values(f, 0.3, 2.0, method=method)), want)


def test_dt_rejects_unknown_method():
    with pytest.raises(InputError):
        dt1d_min(np.zeros((2, 3), np.float32), 1.0, method="fast")


@pytest.mark.parametrize("method", ["tree", "brute", "envelope"])
def test_dt1d_min_reads_nan_as_inf_with_every_method(method):
    f = np.array([[1.0, np.nan, 0.0, 3.0]], np.float32)
    expect = dt1d_min(np.where(np.isnan(f), np.inf, f), 1.0, method=method)
    got = np.asarray(dt1d_min(f, 1.0, method=method))
    np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(got, [[1.0, 1.0, 0.0, 1.0]])
    v, a = dt1d_brute(f, 1.0)
    np.testing.assert_array_equal(np.asarray(v), got)
    np.testing.assert_array_equal(np.asarray(a), [[0, 2, 2, 2]])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("method", ["tree", "brute", "envelope"])
def test_dt_half_precision_costs(dtype, method):
    import jax.numpy as jnp

    f = jnp.asarray([[1.0, 0.0, 3.0, 4.0]], dtype)
    got = dt1d_min(f, 1.0, method=method)
    assert got.dtype == f.dtype
    np.testing.assert_array_equal(np.asarray(got, np.float32), [[1.0, 0.0, 1.0, 4.0]])
    v, a = dt1d(f, 1.0)
    np.testing.assert_array_equal(np.asarray(v, np.float32), [[1.0, 0.0, 1.0, 4.0]])
    np.testing.assert_array_equal(np.asarray(a), [[0, 1, 1, 1]])


def test_minus_inf_costs_win_everywhere_with_every_function_and_method():
    """A row holding -inf: every position's minimum is -inf (numpy's brute force), its arg-min the first -inf; the
    envelope used to skip it (finite values), dt1d_brute turned it into +inf, so the methods gave three answers.
    Rows of ordinary, +inf and NaN costs in the same batch are untouched; 2D (non-square, one column) likewise."""
    f = np.array([[0.0, -np.inf, 0.0, 5.0, -np.inf], [np.inf, 2.0, np.nan, -np.inf, 1.0],
                  [3.0, np.inf, 0.0, np.nan, 1.0]], np.float32)
    p = np.arange(5)
    ref = np.min(np.where(np.isnan(f), np.inf, f)[:, None, :].astype(np.float64) + 0.5 * (p[:, None] - p) ** 2, -1)
    for v, a in (dt1d(f, 0.5), dt1d_brute(f, 0.5)):
        np.testing.assert_array_equal(np.asarray(v), ref.astype(np.float32))
        np.testing.assert_array_equal(np.asarray(a)[:2], [[1] * 5, [3] * 5])
    np.testing.assert_array_equal(np.asarray(dt1d(f, 0.5)[1])[2], np.asarray(dt1d_brute(f, 0.5)[1])[2])
    for method in ("tree", "brute", "envelope"):
        np.testing.assert_array_equal(np.asarray(dt1d_min(f, 0.5, method=method)), ref.astype(np.float32))
        padded = np.asarray(dt1d_min(f, 0.5, pad=2, method=method))
        assert padded.shape == (3, 9) and np.all(padded[:2] == -np.inf) and np.all(np.isfinite(padded[2]))
    for g in (f[:, :4], f[:, 3:4], f[:1]):  # 3 x 4, one column, one row
        vb, ab = dt2d_brute_full(np.where(np.isnan(g), np.inf, g), 2.0, 0.5)
        v, a = map(np.asarray, _dt2d(g, 2.0, 0.5))
        np.testing.assert_array_equal(v, vb.astype(np.float32))
        np.testing.assert_array_equal(g[a[..., 0], a[..., 1]] == -np.inf, vb == -np.inf)  # its arg-min is a -inf
        np.testing.assert_array_equal(np.asarray(_dt2d_values(g, 2.0, 0.5)), vb.astype(np.float32))
