"""Degenerate and extreme inputs to the core numerical methods: a finite documented result, a documented NaN, or
one InputError (never a silent NaN / inf or a wrong answer)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.core.crop_geometry import square_affines
from convcorr_jax.core.geometry import box_to_affine, invert_affine
from convcorr_jax.core.knn import l2_normalize
from convcorr_jax.core.metrics import pckh_auc
from convcorr_jax.correspondence.hough import rhm
from convcorr_jax.correspondence.matching import MatchConfig, match, match_best
from convcorr_jax.correspondence.optimal_transport import (MASS_RTOL, MIN_EPS_PER_COST, check_eps, marginal,
                                                           ot_scores, sinkhorn_log)
from convcorr_jax.flow.bp import BPConfig, solve_flow
from convcorr_jax.linear import svm
from convcorr_jax.pose.heatmaps import argmax_2d, gaussian_targets, subpixel_argmax
from convcorr_jax.pose.spatial import FLIC_EDGES, FLIC_TORSO, SpatialConfig, apply_spatial_model, offset_priors
from convcorr_jax.pose.spatial.config import FLIC_VALIDATED, MODES, SUM_UNARY_MAX, TORSO_SIGMA_MIN


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


@pytest.mark.parametrize("eps", [0.0, -0.05, float("nan"), float("inf")])
def test_sinkhorn_refuses_an_eps_that_is_not_finite_and_positive(eps):
    # eps 0 gave an all-NaN plan, a negative eps a plan favouring the dearest pairs
    u = jnp.full(3, 1 / 3)
    with pytest.raises(InputError, match="sinkhorn_log: field 'eps'"):
        sinkhorn_log(jnp.ones((3, 3)), u, u, eps, 5)
    with pytest.raises(InputError, match="field 'eps'"):
        ot_scores(jnp.ones((3, 3)) * 0.5, u, u, eps)


def test_sinkhorn_refuses_problems_without_a_plan():
    cost = jnp.asarray(np.random.default_rng(0).random((3, 4)), jnp.float32)
    u3, u4 = jnp.full(3, 1 / 3), jnp.full(4, 0.25)
    with pytest.raises(InputError, match="field 'mu'"):  # one NaN weight: every entry NaN
        sinkhorn_log(cost, u3.at[0].set(jnp.nan), u4, 0.05, 5)
    with pytest.raises(InputError, match="field 'nu'.*total mass of mu"):  # columns never approach nu
        sinkhorn_log(cost, u3 * 2, u4, 0.05, 5)
    with pytest.raises(InputError, match="field 'cost'.*every row.*row 1 all \\+inf"):  # a node with nowhere to go
        sinkhorn_log(cost.at[1].set(jnp.inf), u3, u4, 0.05, 5)
    with pytest.raises(InputError, match="field 'cost'.*no NaN"):
        sinkhorn_log(cost.at[0, 0].set(jnp.nan), u3, u4, 0.05, 5)
    plan = np.asarray(sinkhorn_log(cost.at[1, 2].set(jnp.inf), u3.at[0].set(0.0) * 1.5, u4, 0.05, 5))  # still fine
    assert np.all(np.isfinite(plan)) and plan[1, 2] == 0.0 and np.allclose(plan.sum(1), [0, 0.5, 0.5], atol=1e-6)


def test_sinkhorn_refuses_an_eps_too_small_for_float32_to_keep_the_marginals():
    # costs near 1 and eps 1e-7: the float32 potentials of size 1e7 lost the rows, which summed to 0.67 .. 2.5 x mu
    rng = np.random.default_rng(2)
    cost = jnp.asarray(rng.uniform(0.9, 1.0, (50, 50)), jnp.float32)
    u = jnp.full(50, 1 / 50, jnp.float32)
    top = float(jnp.max(cost))
    for eps in (1e-7, 1e-6, 1e-4):
        with pytest.raises(InputError, match=r"^sinkhorn_log: field 'eps': expected " + BOUND_TEXT.format(top=top)):
            sinkhorn_log(cost, u, u, eps, 50)
        with pytest.raises(InputError, match="^sinkhorn_log: field 'eps'"):
            ot_scores(1.0 - cost, u, u, eps)
    for eps in (MIN_EPS_PER_COST * top, 1e-3):  # from the bound up the rows keep mu to MASS_RTOL
        rows = np.asarray(sinkhorn_log(cost, u, u, eps, 50), np.float64).sum(1)
        np.testing.assert_allclose(rows, 1 / 50, rtol=MASS_RTOL)
    with pytest.raises(InputError, match="^sinkhorn_log: field 'eps'.*largest \\|cost\\|, 1000"):  # the costs' scale
        sinkhorn_log(cost.at[0, 0].set(1000.0), u, u, 0.05, 1)
    assert np.all(np.isfinite(np.asarray(sinkhorn_log(jnp.zeros((3, 3)), u[:3] * 50 / 3, u[:3] * 50 / 3, 1e-9, 1))))
    with pytest.raises(InputError, match=r"^MatchConfig: field 'eps': expected " + BOUND_TEXT.format(top=1)):
        MatchConfig(scorer="ot", eps=1e-6)  # jitted matchers: the config states the bound for costs in [0, 1]


# the one wording of `optimal_transport.check_eps` (its bound, 1.19e-4 x top, printed to 3 digits)
BOUND_TEXT = (r"an entropic regularisation >= [0-9.e-]+ \(0\.000119 x the largest \|cost\|, {top:g}: below it float32 "
              r"loses the transport plan's marginals\), got ")


def test_check_eps_states_the_bound_once():
    """`check_eps` is the one check of the bound: the bound itself passes, just below it the error names the source
    and field given and the bound scaled by the largest |cost|."""
    check_eps(MIN_EPS_PER_COST, "f", "x")
    check_eps(MIN_EPS_PER_COST * 10.0, "f", "x", top=10.0)
    with pytest.raises(InputError, match=r"^f: field 'x': expected an entropic regularisation >= 0\.00119 "
                                         r"\(0\.000119 x the largest \|cost\|, 10: .*, got 0\.001$"):
        check_eps(1e-3, "f", "x", top=10.0)


def test_point_transfer_refuses_an_ot_eps_its_matcher_would_refuse_naming_ot_eps():
    """`PointTransferConfig.ot_eps` below the matcher's bound is refused when the config is made, naming `ot_eps` (the
    field the user set), not later as `MatchConfig`'s `eps`; the bound itself is accepted."""
    from convcorr_jax.correspondence.point_config import PointTransferConfig

    with pytest.raises(InputError, match=r"^PointTransferConfig: field 'ot_eps': expected " + BOUND_TEXT.format(top=1)):
        PointTransferConfig(ot_eps=1e-6)
    assert PointTransferConfig(ot_eps=MIN_EPS_PER_COST).ot_eps == MIN_EPS_PER_COST


def test_the_eps_bound_holds_only_for_methods_that_run_the_transport_plan():
    """cos and rhm never read eps: a tiny one is taken with them (it was refused); OT methods refuse it, and so does a
    point-transfer config whose method, given or the features' default, is an OT matcher. The defaults pass."""
    from convcorr_jax.correspondence.frame_transfer import _match_config
    from convcorr_jax.correspondence.matching import MATCHERS, _ot_matcher, register_matcher
    from convcorr_jax.correspondence.point_config import PointTransferConfig

    for scorer in ("cos", "rhm"):
        assert MatchConfig(scorer=scorer, eps=1e-9).eps == 1e-9
        cfg = PointTransferConfig(method=scorer, ot_eps=1e-9)
        assert _match_config(cfg).eps == 1e-9  # the matcher settings point transfer runs with
    assert PointTransferConfig(method="bp", ot_eps=1e-9).ot_eps == 1e-9  # BP flow: no transport plan
    assert PointTransferConfig(features="sift", ot_eps=1e-9).resolved_method == "bp"
    for scorer in ("ot", "ot_rhm"):
        with pytest.raises(InputError, match="^MatchConfig: field 'eps': expected an entropic regularisation >="):
            MatchConfig(scorer=scorer, eps=1e-9)
        with pytest.raises(InputError, match="^PointTransferConfig: field 'ot_eps': expected an entropic"):
            PointTransferConfig(method=scorer, ot_eps=1e-9)
    with pytest.raises(InputError, match="^PointTransferConfig: field 'ot_eps'"):  # cnn features: "ot_rhm"
        PointTransferConfig(ot_eps=1e-9)
    for scorer in ("cos", "rhm"):  # still a number > 0
        with pytest.raises(InputError, match="^MatchConfig: field 'eps': expected > 0"):
            MatchConfig(scorer=scorer, eps=0.0)
    register_matcher("test_eps_reader", _ot_matcher, "a matcher registered later", replace=True)
    try:  # may run `ot_scores` jitted: the bound holds
        with pytest.raises(InputError, match="^MatchConfig: field 'eps': expected an entropic"):
            MatchConfig(scorer="test_eps_reader", eps=1e-9)
        with pytest.raises(InputError, match="^PointTransferConfig: field 'ot_eps': expected an entropic"):
            PointTransferConfig(method="test_eps_reader", ot_eps=1e-9)
    finally:
        MATCHERS.unregister("test_eps_reader")
    register_matcher("test_no_plan", lambda sim, *args: sim, "a later matcher without a plan", transport=False,
                     replace=True)
    try:  # one that says it runs no transport plan takes any eps > 0, like cos and rhm
        assert MatchConfig(scorer="test_no_plan", eps=1e-9).eps == 1e-9
        assert PointTransferConfig(method="test_no_plan", ot_eps=1e-9).ot_eps == 1e-9
        assert "(top 2, unused by test_no_plan)" in PointTransferConfig(method="test_no_plan").describe()
    finally:
        MATCHERS.unregister("test_no_plan")
    MatchConfig(scorer="ot")
    assert PointTransferConfig().resolved_method == "ot_rhm"  # the defaults pass every check


@pytest.mark.parametrize("weights", [[0.0, 0.0], [-1.0, -2.0], [1.0, float("nan")], [1.0, float("inf")]])
def test_marginal_refuses_weights_without_a_distribution(weights):
    with pytest.raises(InputError, match="marginal: field 'weights'"):  # it was NaN everywhere
        marginal(jnp.asarray(weights))


def test_heatmap_argmax_never_picks_a_nan_cell():
    hm = np.zeros((4, 5, 2), np.float32)
    hm[2, 2, 0], hm[2, 3, 0] = 1.0, np.nan  # the peak at (x 2, y 2); a NaN beside it was taken as the maximum
    hm[:, :, 1] = np.nan  # no answer at all
    assert np.asarray(argmax_2d(hm))[0].tolist() == [2, 2]
    sub = np.asarray(subpixel_argmax(hm))
    assert sub[0].tolist() == [2.0, 2.0] and np.all(np.isnan(sub[1]))
    sel = np.full_like(hm, np.nan)
    assert np.all(np.isnan(np.asarray(subpixel_argmax(hm, sel))))  # the choosing maps are all NaN


@pytest.mark.parametrize("sigma", [0.0, -1.5, float("inf"), float("nan")])
def test_gaussian_targets_refuses_a_sigma_that_is_not_finite_and_positive(sigma):
    with pytest.raises(InputError, match="gaussian_targets: field 'sigma'"):  # 0 gave NaN at the joint's cell
        gaussian_targets(np.array([[1.0, 1.0]]), (3, 3), sigma)


def test_invert_affine_refuses_singular_maps_by_name():
    singular = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0, 2.0, 3.0], [2.0, 4.0, 0.0]]])
    with pytest.raises(InputError, match=r"invert_affine: field 'M'.*singular or non-finite map at M\[1\]"):
        invert_affine(singular)  # was numpy's LinAlgError "Singular matrix"
    with pytest.raises(InputError, match="field 'M'"):
        invert_affine(np.array([[np.inf, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    np.testing.assert_allclose(invert_affine(np.array([[2.0, 0.0, 4.0], [0.0, 0.5, 1.0]])),
                               [[0.5, 0.0, -2.0], [0.0, 2.0, -2.0]])


@pytest.mark.parametrize("scale, C", [(1e15, 1e-6), (1.0, 1e20)])
def test_linear_svm_refuses_a_solve_that_overflowed(scale, C):
    # the Newton solver returned NaN weights (huge X) or zero weights with a NaN residual (huge C) as a model
    rng = np.random.default_rng(0)
    X, y = rng.random((10, 3)) * scale, np.array([1.0, -1.0] * 5)
    with pytest.raises(InputError, match="fit_binary: field 'X'.*float32"):
        svm.fit_binary(X, y, C=C)
    assert np.all(np.isfinite(svm.fit_binary(rng.random((10, 3)), y).W))


@pytest.mark.parametrize("box", [[0.0, 0.0, np.inf, 9.0], [-np.inf, 0.0, 9.0, 9.0], [0.0, np.nan, 9.0, 9.0]])
def test_box_to_affine_refuses_a_non_finite_corner(box):
    # x_max = inf gave a scale-0 map without a word (NaN corners were already refused, as empty boxes)
    with pytest.raises(InputError, match=r"box_to_affine: field 'boxes': expected finite corners.*box 1 of 2"):
        box_to_affine(np.array([[0.0, 0.0, 9.0, 9.0], box]), 10)
    with pytest.raises(InputError, match="box_to_affine: field 'boxes'"):  # the square crops' path
        square_affines(np.array([[5.0, 5.0]]), np.array([np.inf]), 10)
    np.testing.assert_array_equal(box_to_affine(np.array([0.0, 0.0, 9.0, 19.0]), 10),
                                  [[1.0, 0.0, 0.0], [0.0, 0.5, -0.25]])


def test_solve_flow_refuses_weights_and_features_that_overflow_float32():
    rng = np.random.default_rng(0)
    fs = rng.normal(size=(4, 5, 8)).astype(np.float32)
    ft, cfg = np.roll(fs, 1, axis=1), BPConfig(beta=1e-3, iters=2, levels=1)
    # beta * pixel_scale**2 overflowed: an inf / NaN energy and an arbitrary flow
    with pytest.raises(InputError, match=r"bp.solve_flow: field 'pixel_scale': expected .*fit float32.*got 1e\+20"):
        solve_flow(fs, ft, cfg, pixel_scale=1e20)
    # norms ~1e30: every cost inf or NaN, the flow arbitrary
    with pytest.raises(InputError, match=r"solve_flow: field 'fs': expected feature norms whose squares.*inf \(fs\)"):
        solve_flow(fs * 1e30, ft, cfg)
    with pytest.raises(InputError, match="solve_flow: field 'ft'"):
        solve_flow(fs, ft * 1e30, cfg, pixel_scale=16.0)
    big = solve_flow(fs * 1e18, ft * 1e18, cfg, pixel_scale=16.0)  # large, still representable: as before
    assert np.isfinite(float(big.energy)) and np.asarray(big.flow)[1, :4].tolist() == [[16.0, 0.0]] * 4


def test_solve_flow_refuses_nonzero_features_whose_squared_norms_underflow_float32():
    rng = np.random.default_rng(0)
    fs = rng.normal(size=(4, 5, 8)).astype(np.float32)
    ft, cfg = np.roll(fs, 1, axis=1), BPConfig(beta=1e-3, iters=2, levels=1)
    # norms ~1e-25: every squared norm 0 in float32, every cost 0 and the flow a silent 0
    with pytest.raises(InputError, match=r"^solve_flow: field 'fs': expected feature norms whose squares do not "
                                         r"underflow float32 .*scale the features up.*got squared norms up to \S+e-49"):
        solve_flow(fs * 1e-25, ft * 1e-25, cfg, pixel_scale=16.0)
    with pytest.raises(InputError, match=r"^solve_flow: field 'ft': .*got squared norms up to 0 \(fs\)"):
        solve_flow(np.zeros_like(fs), ft * 1e-25, cfg, pixel_scale=16.0)
    zero = solve_flow(np.zeros_like(fs), np.zeros_like(ft), cfg, pixel_scale=16.0)  # all 0: no data, not refused
    assert float(zero.data_energy) == 0.0 and np.isfinite(float(zero.energy))
    small = solve_flow(fs * 1e-15, ft * 1e-15, cfg, pixel_scale=16.0)  # small, squares still normal: as before
    assert float(small.data_energy) > 0


@pytest.mark.parametrize("hw", [(0, 0), (0, 5), (5, 0), (-3, 4)])
def test_match_and_rhm_refuse_an_empty_or_negative_image_size(hw):
    # (0, 0) for both images was RHM's ZeroDivisionError; one empty or a negative size gave a wrong Hough space
    rng = np.random.default_rng(1)
    fs, ft = rng.random((6, 8)).astype(np.float32), rng.random((5, 8)).astype(np.float32)
    xy_s, xy_t = rng.random((6, 2)).astype(np.float32) * 30, rng.random((5, 2)).astype(np.float32) * 30
    with pytest.raises(InputError, match=r"^match: field 'src_hw': expected \(h, w\) image pixels, h >= 1 and w >= 1"):
        match(fs, ft, xy_s, xy_t, hw, (32, 32), MatchConfig(scorer="rhm"))
    with pytest.raises(InputError, match="^match_best: field 'trg_hw'"):
        match_best(fs[None], ft[None], xy_s, xy_t, (32, 32), hw, MatchConfig(scorer="rhm"))
    with pytest.raises(InputError, match="^rhm: field 'src_hw'"):
        rhm(jnp.ones((6, 5)), xy_s, xy_t, hw, hw)


@pytest.mark.parametrize("sigma", [1e-20, np.float32(1e-20), 1e20, np.float32(1e20), 1e160])
def test_gaussian_targets_refuses_a_sigma_whose_square_leaves_float32(sigma):
    # 2 sigma^2 of 1e-20 flushed to 0 (NaN at the joint's cell), of 1e20 overflowed float32, of 1e160 was Python's
    # OverflowError
    with pytest.raises(InputError, match="gaussian_targets: field 'sigma': expected .* a normal float32"):
        gaussian_targets(np.array([[1.0, 1.0]]), (3, 3), sigma)
    for ok in (8e-20, 1e19):  # the ends of the range still give a finite map
        g = np.asarray(gaussian_targets(np.array([[1.0, 1.0]]), (3, 3), ok))
        assert np.all(np.isfinite(g)) and g[1, 1, 0] == 1.0


@pytest.mark.parametrize("shape", [(0, 5, 2), (5, 0, 2), (2, 0, 0, 1), (4, 4)])
def test_heatmap_argmax_refuses_maps_without_a_cell(shape):
    # a map of 0 cells was JAX's "attempt to get argmax of an empty sequence"; a 2-D map a tuple-unpacking error
    for f in (argmax_2d, subpixel_argmax):
        want = rf"^{f.__name__}: field 'heatmaps': expected shape \[\.\.\., H>=1, W>=1, K\]"
        with pytest.raises(InputError, match=want):
            f(np.zeros(shape, np.float32))
    with pytest.raises(InputError, match=r"^subpixel_argmax: field 'select': expected shape \[\.\.\., H=4, W=5, K=2\]"):
        subpixel_argmax(np.zeros((4, 5, 2)), np.zeros((4, 5, 3)))
    assert np.asarray(argmax_2d(np.zeros((2, 3, 0)))).shape == (0, 2)  # no joints: no answers, as before


def test_pckh_auc_refuses_a_curve_of_another_length_than_the_thresholds():
    # numpy's "operands could not be broadcast together" before; equal thresholds gave NaN
    with pytest.raises(InputError, match=r"^pckh_auc: field 'total_curve': expected shape \[T=51\].*got \(50,\)"):
        pckh_auc(np.full(50, 80.0))
    with pytest.raises(InputError, match=r"^pckh_auc: field 'total_curve': expected shape \[T=3\].*got \(2,\)"):
        pckh_auc([10.0, 20.0], thresholds=[0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="^pckh_auc: field 'thresholds': expected finite thresholds, strictly inc"):
        pckh_auc([10.0, 20.0], thresholds=[0.2, 0.2])
    assert pckh_auc([10.0, 20.0, 30.0], thresholds=[0.1, 0.2, 0.3]) == pytest.approx(20.0)


@pytest.mark.parametrize("thresholds,got", [([0.3, 0.2, 0.1], "0.2 at index 1 after 0.3"),
                                            ([0.1, 0.3, 0.2], "0.2 at index 2 after 0.3"),
                                            ([0.1, 0.1, 0.2], "0.1 at index 1 after 0.1"),
                                            ([0.1, 0.2, np.inf], "inf at index 2 after 0.2"),
                                            ([np.nan, 0.1, 0.2], "nan at index 0")])
def test_pckh_auc_refuses_thresholds_that_are_not_finite_and_increasing(thresholds, got):
    # decreasing thresholds gave a negative area (-20 here), unordered or repeated ones the area of no curve; the
    # message names the first threshold out of order
    with pytest.raises(InputError, match=rf"^pckh_auc: field 'thresholds': expected finite thresholds, strictly "
                                         rf"increasing, got {got}$"):
        pckh_auc([10.0, 20.0, 30.0], thresholds=thresholds)


@pytest.mark.parametrize("scorer", ["ot", "rhm", "cos"])
def test_match_best_refuses_non_finite_features_as_match_does(scorer):
    # the jitted OT scorer gave all-NaN confidences and node 0 for every source node; RHM spread the NaN to other
    # rows; match refused it only for OT, by the Sinkhorn cost's name
    rng = np.random.default_rng(1)
    fs, ft = rng.random((6, 8)).astype(np.float32), rng.random((5, 8)).astype(np.float32)
    xy_s, xy_t = rng.random((6, 2)).astype(np.float32) * 30, rng.random((5, 2)).astype(np.float32) * 30
    bad = fs.copy()
    bad[2, 3] = np.nan
    cfg = MatchConfig(scorer=scorer)
    want = r"field 'fs': expected finite features \(no NaN/inf\), got NaN or inf in fs\[0, 2\] \(1 such column in all\)"
    with pytest.raises(InputError, match="^match_best: " + want):
        match_best(np.stack([bad, fs]), np.stack([ft, ft]), xy_s, xy_t, (32, 32), (32, 32), cfg)
    with pytest.raises(InputError, match=r"^match_best: field 'ft'.*ft\[1, 4\]"):  # a jax array, checked on device
        jft = jnp.asarray(ft)
        match_best(jnp.stack([fs, fs]), jnp.stack([jft, jft.at[4].set(jnp.inf)]), xy_s, xy_t, (32, 32), (32, 32), cfg)
    with pytest.raises(InputError, match=r"^match: field 'fs'.*fs\[2\]"):
        match(bad, ft, xy_s, xy_t, (32, 32), (32, 32), cfg)
    idx, conf = match_best(fs[None], ft[None], xy_s, xy_t, (32, 32), (32, 32), cfg)
    ref = np.asarray(match(fs, ft, xy_s, xy_t, (32, 32), (32, 32), cfg))
    assert np.asarray(idx)[0].tolist() == ref.argmax(1).tolist() and np.all(np.isfinite(np.asarray(conf)))


@pytest.mark.parametrize("mode", ["sum", "max"])
def test_spatial_model_on_all_zero_heatmaps_refuses_a_floor_that_float32_loses(mode):
    # unary_floor 1e-45 is 0 in float32: an all-zero heat-map's log-unaries were -inf and every marginal NaN
    k = FLIC_TORSO
    priors = offset_priors(np.zeros((0, k + 1, 2)), np.zeros((0, k + 1), bool), FLIC_EDGES, 5)
    hm, torso = np.zeros((2, 6, 5, k), np.float32), np.array([[2.0, 3.0], [0.0, 0.0]])
    for field, kw in (("unary_floor", {"unary_floor": 1e-45}), ("unary_power", {"unary_power": 1e38})):
        with pytest.raises(InputError, match=f"^spatial config: field '{field}'"):
            apply_spatial_model(hm, torso, priors, SpatialConfig(mode=mode, **kw))
    out = np.asarray(apply_spatial_model(hm, torso, priors, SpatialConfig(mode=mode, unary_floor=1.2e-38)))
    assert np.all(np.isfinite(out)) and (mode == "max" or np.allclose(out.sum(axis=(1, 2)), 1.0, atol=1e-4))


def test_spatial_model_in_sum_mode_refuses_a_unary_power_whose_marginals_overflow():
    # unary_power 1e30 passed the float32-range check, but sum mode's max-shifted beliefs, rounded differently where
    # XLA computes them and their maximum, overflowed exp: every marginal NaN; 1e8 (log-unaries of 7e8) gave an
    # all-zero heat-map the marginal 1 in every cell
    k = FLIC_TORSO
    rng = np.random.default_rng(0)
    pts = rng.uniform(1, 6, (20, k + 1, 2))
    priors = offset_priors(pts, np.ones((20, k + 1), bool), FLIC_EDGES, 15, floor=1e-3)
    hm, torso = (rng.uniform(0, 1, (2, 8, 8, k)) ** 4).astype(np.float32), np.array([[4.0, 4.0], [3.0, 5.0]])
    for power in (1e30, 1e8, 1200.0):
        with pytest.raises(InputError, match=r"^spatial config: field 'unary_power': expected <= 1186 in sum mode "
                                             r"\(the largest log-unary magnitude, unary_power x 6\.91, must stay <= "
                                             r"2\^13 = 8192, or float32 loses the marginals\), got "):
            apply_spatial_model(hm, torso, priors, SpatialConfig(unary_power=power))
    for floor in (1e-3, 1.2e-38, 1e3):  # at the bound: marginals summing to 1 within 2^-11
        power = SUM_UNARY_MAX / max(-np.log(floor), np.log1p(floor))
        for h in (hm, np.zeros_like(hm)):
            out = np.asarray(apply_spatial_model(h, torso, priors, SpatialConfig(unary_power=power, unary_floor=floor)))
            assert np.all(np.isfinite(out)) and np.allclose(out.sum(axis=(1, 2)), 1.0, rtol=0, atol=2.0 ** -11)
    out = np.asarray(apply_spatial_model(hm, torso, priors, SpatialConfig(mode="max", unary_power=1e30)))
    assert np.all(np.isfinite(out))  # max mode has no exp of the beliefs to overflow: not refused, as before


def test_spatial_model_refuses_a_torso_sigma_whose_float32_log_unary_is_nan():
    """A torso_sigma under `TORSO_SIGMA_MIN` (2 sigma^2 under float32's smallest normal number, flushed to 0) made
    the torso's log-unary 0 / 0 = NaN or -inf everywhere: every sum-mode marginal NaN, max mode silently off by 0.85
    from the delta it tends to. It is refused in both modes; from the bound up, a torso on a cell centre or between
    cells, the marginals are finite, normalised and (on a cell centre) the delta's."""
    k = FLIC_TORSO
    rng = np.random.default_rng(0)
    pts = rng.uniform(1, 6, (20, k + 1, 2))
    priors = offset_priors(pts, np.ones((20, k + 1), bool), FLIC_EDGES, 15, floor=1e-3)
    hm = (rng.uniform(0, 1, (4, 8, 8, k)) ** 4).astype(np.float32)
    torso = np.array([[4.0, 4.0], [3.0, 5.0], [3.5, 3.5], [0.5, 6.5]], np.float32)  # on cell centres, between cells
    for mode in MODES:
        for sigma in (TORSO_SIGMA_MIN * 0.999, 3e-20, 1e-40, 5e-324):
            with pytest.raises(InputError, match=r"^spatial config: field 'torso_sigma': expected 0 \(a delta\) or "
                                                 r">= 7\.67e-20 cells \(2 torso_sigma\^2 must be a normal float32"):
                apply_spatial_model(hm, torso, priors, SpatialConfig(mode=mode, torso_sigma=sigma))
        delta = np.asarray(apply_spatial_model(hm, torso, priors, SpatialConfig(mode=mode, torso_sigma=0.0)))
        for sigma in (TORSO_SIGMA_MIN, 1e-10) if mode == "sum" else (TORSO_SIGMA_MIN,):
            out = np.asarray(apply_spatial_model(hm, torso, priors, SpatialConfig(mode=mode, torso_sigma=sigma)))
            assert np.all(np.isfinite(out))
            np.testing.assert_allclose(out[:2], delta[:2], atol=1e-6)
            if mode == "sum":
                np.testing.assert_allclose(out.sum(axis=(1, 2)), 1.0, rtol=0, atol=2.0 ** -11)
    for cfg in (SpatialConfig(), FLIC_VALIDATED):  # the defaults pass
        assert cfg.validate() is cfg and cfg.torso_sigma >= TORSO_SIGMA_MIN
