"""Hough matching and Sinkhorn OT against hand-computed values and a numpy reference; matchers end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import jax
import jax.numpy as jnp
import scipy.signal

from convcorr_jax.correspondence.hough import _gaussian_filter, _hough_space, _offset_bins, rhm
from convcorr_jax.correspondence.carry import _transfer_from_matrix
from convcorr_jax.correspondence.matching import MatchConfig, match, match_best
from convcorr_jax.correspondence.optimal_transport import marginal, ot_scores, sinkhorn_log
from convcorr_jax.backbones.base import CPU_FORWARD_OPTIONS
from convcorr_jax.correspondence import matching
from convcorr_jax.core.errors import InputError


def _sinkhorn_numpy(cost, mu, nu, eps, iters):
    """Plain-domain Sinkhorn as SCOT writes it (a = 1/n; b = nu / K^T a; a = mu / K b), float64."""
    k = np.exp(-cost / eps)
    a = np.full(len(mu), 1.0 / len(mu))
    for _ in range(iters):
        b = nu / (k.T @ a)
        a = mu / (k @ b)
    return a[:, None] * k * b[None, :]


@pytest.mark.parametrize("iters", [1, 3, 200])
def test_sinkhorn_matches_numpy_and_marginals(iters):
    rng = np.random.default_rng(1)
    cost = rng.uniform(0, 1, (4, 5))
    mu = rng.uniform(0.5, 1.5, 4)
    mu /= mu.sum()
    nu = rng.uniform(0.5, 1.5, 5)
    nu /= nu.sum()
    plan = np.asarray(sinkhorn_log(jnp.asarray(cost, jnp.float32), jnp.asarray(mu, jnp.float32),
                                   jnp.asarray(nu, jnp.float32), 0.1, iters))
    np.testing.assert_allclose(plan, _sinkhorn_numpy(cost, mu, nu, 0.1, iters), rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(plan.sum(1), mu, rtol=1e-5)  # rows exact after every iteration
    if iters == 200:
        np.testing.assert_allclose(plan.sum(0), nu, rtol=1e-4)


def test_sinkhorn_log_space_survives_small_eps():
    rng = np.random.default_rng(2)
    cost = rng.uniform(0, 1, (6, 6)).astype(np.float32)
    u = np.full(6, 1 / 6, np.float32)
    plan = np.asarray(sinkhorn_log(jnp.asarray(cost), jnp.asarray(u), jnp.asarray(u), 1e-3, 50))
    assert np.all(np.isfinite(plan))  # exp(-1 / 1e-3) underflows in the plain domain
    np.testing.assert_allclose(plan.sum(1), u, rtol=1e-4)  # float32 potentials of size 1 / eps
    # the same iterations in float64 log space (scipy's logsumexp)
    from scipy.special import logsumexp
    logk = -cost.astype(np.float64) / 1e-3
    la = np.full(6, -np.log(6.0))
    for _ in range(50):
        lb = np.log(u) - logsumexp(logk + la[:, None], axis=0)
        la = np.log(u) - logsumexp(logk + lb[None, :], axis=1)
    np.testing.assert_allclose(plan, np.exp(la[:, None] + logk + lb[None, :]), rtol=2e-2, atol=1e-6)


def test_ot_scores_rescale_and_power():
    sim = jnp.asarray([[1.0, 0.0], [0.0, 1.0]])
    u = jnp.asarray([0.5, 0.5])
    s = np.asarray(ot_scores(sim, u, u, eps=0.05, iters=1, exp2=0.5))
    p = _sinkhorn_numpy(1 - np.asarray(sim, np.float64), np.full(2, .5), np.full(2, .5), 0.05, 1)
    np.testing.assert_allclose(s, np.sqrt(2 * p), rtol=1e-5)


def test_ot_scores_rescale_by_the_source_count_and_marginal_clips_negatives():
    """(Ns * P)^exp2 with Ns the rows (3 sources, 5 targets: not the columns), P SCOT's plan; zero iterations leave
    the plan at its start a = 1 / Ns; a negative weight counts as 0 in the marginal."""
    rng = np.random.default_rng(3)
    sim = rng.uniform(0, 1, (3, 5))
    mu, nu = np.full(3, 1 / 3), np.full(5, 1 / 5)
    s = np.asarray(ot_scores(jnp.asarray(sim, jnp.float32), jnp.asarray(mu, jnp.float32),
                             jnp.asarray(nu, jnp.float32), eps=0.1, iters=2, exp2=0.5))
    np.testing.assert_allclose(s, np.sqrt(3 * _sinkhorn_numpy(1 - sim, mu, nu, 0.1, 2)), rtol=1e-4)
    start = sinkhorn_log(jnp.asarray(1 - sim, jnp.float32), jnp.asarray(mu, jnp.float32),
                         jnp.asarray(nu, jnp.float32), 0.1, 0)
    np.testing.assert_allclose(np.asarray(start), np.exp(-(1 - sim) / 0.1) / 3, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(marginal(jnp.asarray([-1.0, 1.0, 3.0]))), [0.0, 0.25, 0.75])


def test_hough_geometry_like_hpf():
    ny, nx, cell = _hough_space((224, 224), (224, 224), 8192)
    assert cell == pytest.approx(np.sqrt(448 * 448 / 8192)) and ny == nx == int(448 / cell) + 1
    # a vote at offset (dx, dy) = (3, -2) between images of (h, w) = (4, 4): position (4 - xs + xt, 4 - ys + yt)
    b = np.asarray(_offset_bins(jnp.asarray([[1.0, 2.0]]), jnp.asarray([[4.0, 0.0]]), (4, 4), (4, 4), 64))
    ny, nx, cell = _hough_space((4, 4), (4, 4), 64)
    assert cell == 1 and (ny, nx) == (9, 9)
    assert b[0, 0] == 2 * 9 + 7  # (x, y) = (4 - 1 + 4, 4 - 2 + 0) = (7, 2)


def test_rhm_by_hand():
    # 4 x 4 images, 64 cells -> 1-pixel bins, no smoothing (side 1): conf_ij = v_ij * (sum of votes of offset ij)
    src = jnp.asarray([[0.0, 0.0], [1.0, 0.0]])
    trg = jnp.asarray([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    v = np.array([[0.5, 0.2, 0.1],
                  [0.3, 0.4, 0.6]], np.float32)
    # offsets dx: row 0 -> 0, 1, 2; row 1 -> -1, 0, 1; totals: dx=0: .5 + .4, dx=1: .2 + .6, dx=2: .1, dx=-1: .3
    want = v * np.array([[0.9, 0.8, 0.1], [0.3, 0.9, 0.8]])
    got = np.asarray(rhm(jnp.asarray(v), src, trg, (4, 4), (4, 4), ncells=64, side=1))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # with the 3 x 3 Gaussian: the vote map convolved (zero padding), read back at each match's bin
    space = np.zeros((9, 9))
    for i in range(2):
        for j in range(3):
            space[4, 4 - int(src[i, 0]) + int(trg[j, 0])] += v[i, j]
    sm = scipy.signal.convolve2d(space, _gaussian_filter(3), mode="same")
    want3 = np.array([[v[i, j] * sm[4, 4 - int(src[i, 0]) + int(trg[j, 0])] for j in range(3)] for i in range(2)])
    got3 = np.asarray(rhm(jnp.asarray(v), src, trg, (4, 4), (4, 4), ncells=64, side=3))
    np.testing.assert_allclose(got3, want3, rtol=1e-5)


def test_gaussian_filter_like_hpf():
    g = _gaussian_filter(7)
    assert g.shape == (7, 7) and g.sum() == pytest.approx(1.0) and g[3, 3] == g.max()
    sig2 = (7 / 2 / 2.354) ** 2
    assert g[3, 4] / g[3, 3] == pytest.approx(np.exp(-1 / (2 * sig2)), rel=1e-5)


@pytest.mark.parametrize("method", ["cos", "rhm", "ot", "ot_rhm"])
def test_synthetic_shift_is_recovered(method):
    # target = source shifted by (+2, +1) grid cells (stride 8 px) with fresh features in the uncovered border
    rng = np.random.default_rng(3)
    h = w = 8
    stride = 8.0
    xy = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 2) * stride + 3.5
    fs = rng.normal(size=(h, w, 16)).astype(np.float32)
    ft = rng.normal(size=(h, w, 16)).astype(np.float32)
    ft[1:, 2:] = fs[:-1, :-2]
    size = (64, 64)
    cfg = MatchConfig(scorer=method)
    conf = match(jnp.asarray(fs.reshape(-1, 16)), jnp.asarray(ft.reshape(-1, 16)), jnp.asarray(xy), jnp.asarray(xy),
                 size, size, cfg)
    pts = np.array([[10.0, 12.0], [30.0, 20.0], [20.0, 40.0]])
    got = np.asarray(_transfer_from_matrix(conf, jnp.asarray(xy), jnp.asarray(xy), jnp.asarray(pts), stride))
    np.testing.assert_allclose(got, pts + [2 * stride, stride], atol=1e-4)
    # batched: the same answer for each pair
    idx, score = match_best(jnp.asarray(np.stack([fs, fs]).reshape(2, -1, 16)),
                            jnp.asarray(np.stack([ft, ft]).reshape(2, -1, 16)), jnp.asarray(xy), jnp.asarray(xy),
                            size, size, cfg)
    np.testing.assert_array_equal(np.asarray(idx[0]), np.argmax(np.asarray(conf), 1))
    np.testing.assert_array_equal(np.asarray(idx[1]), np.asarray(idx[0]))
    assert score.shape == (2, h * w)


def test_match_config_rejects_bad_settings():
    with pytest.raises(InputError):
        MatchConfig(scorer="nope")
    for field, value in (("eps", 0.0), ("iters", 0), ("ncells", 0)):
        with pytest.raises(InputError, match=f"field '{field}'"):
            MatchConfig(**{field: value})
    with pytest.raises(InputError):
        MatchConfig(side=4)
    assert MatchConfig("rhm").cos_power == 3.0 and MatchConfig("ot_rhm").cos_power == 1.0


def test_match_config_rejects_values_of_the_wrong_type():
    """A config built in Python is type-checked as PointTransferConfig is: iters=2.5 failed inside the Sinkhorn
    loop (a TypeError of fori_loop) and soft_mnn="false" switched soft mutual neighbours on."""
    for field, value in (("iters", 2.5), ("soft_mnn", "false"), ("side", 7.0), ("eps", "0.1")):
        with pytest.raises(InputError, match=f"MatchConfig: field '{field}'"):
            MatchConfig(**{field: value})
    assert MatchConfig(power=3, eps=1, iters=np.int64(2)).iters == 2


def test_match_config_takes_its_former_keyword_method_for_one_release():
    """`MatchConfig(method=...)` and `.method`, the former names of `scorer`, give the same config with a
    DeprecationWarning naming `scorer`; a bad former name is refused as a bad scorer."""
    new = MatchConfig(scorer="ot", eps=0.1)
    with pytest.warns(DeprecationWarning, match="scorer"):
        old = MatchConfig(method="ot", eps=0.1)
    assert old == new and hash(old) == hash(new) and old.scorer == "ot"
    with pytest.warns(DeprecationWarning, match="MatchConfig.scorer"):
        assert new.method == "ot"
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match="field 'scorer'"):
        MatchConfig(method="nope")


def test_match_config_replace_keeps_the_new_scorer_without_warning():
    """`dataclasses.replace` of a MatchConfig takes the scorer given and warns of nothing: it read the former name
    `.method` (the old scorer, with a DeprecationWarning) and passed it back as `method=`, which won over
    `scorer=`."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = dataclasses.replace(MatchConfig(scorer="rhm", eps=0.1), scorer="cos")
        assert cfg == MatchConfig(scorer="cos", eps=0.1)
        assert dataclasses.replace(cfg, eps=0.2) == MatchConfig(scorer="cos", eps=0.2)
    with pytest.warns(DeprecationWarning, match="scorer"):
        assert MatchConfig("cos", method="ot").scorer == "ot"  # the former name wins, as before


@pytest.mark.parametrize("method", ["cos", "rhm", "ot", "ot_rhm"])
def test_match_best_both_ways_equals_each_way_alone(method):
    """backward=True (one cosine matrix for both directions) gives the forward matches of `match` and the
    backward matches of matching the target to the source, with sizes, node sets and OT weights that differ by
    side."""
    rng = np.random.default_rng(3)
    fs = rng.normal(size=(2, 12, 16)).astype(np.float32)
    ft = rng.normal(size=(2, 20, 16)).astype(np.float32)
    src_xy = rng.uniform(0, 40, (12, 2)).astype(np.float32)
    trg_xy = rng.uniform(0, 56, (20, 2)).astype(np.float32)
    wa = rng.uniform(0.5, 1.5, (2, 12)).astype(np.float32)
    wb = rng.uniform(0.5, 1.5, (2, 20)).astype(np.float32)
    src_hw, trg_hw = (40, 48), (56, 60)
    cfg = MatchConfig(scorer=method, ncells=64, side=3)
    fwd, conf, back, back_conf = match_best(jnp.asarray(fs), jnp.asarray(ft), jnp.asarray(src_xy),
                                            jnp.asarray(trg_xy), src_hw, trg_hw, cfg, jnp.asarray(wa),
                                            jnp.asarray(wb), backward=True)
    for p in range(2):
        c = np.asarray(match(jnp.asarray(fs[p]), jnp.asarray(ft[p]), jnp.asarray(src_xy), jnp.asarray(trg_xy),
                             src_hw, trg_hw, cfg, jnp.asarray(wa[p]), jnp.asarray(wb[p])))
        np.testing.assert_array_equal(np.asarray(fwd[p]), np.argmax(c, 1))
        np.testing.assert_allclose(np.asarray(conf[p]), c.max(1), rtol=1e-5)
        cb = np.asarray(match(jnp.asarray(ft[p]), jnp.asarray(fs[p]), jnp.asarray(trg_xy), jnp.asarray(src_xy),
                              trg_hw, src_hw, cfg, jnp.asarray(wb[p]), jnp.asarray(wa[p])))
        np.testing.assert_array_equal(np.asarray(back[p]), np.argmax(cb, 1))
        np.testing.assert_allclose(np.asarray(back_conf[p]), cb.max(1), rtol=1e-5)
    alone = match_best(jnp.asarray(ft), jnp.asarray(fs), jnp.asarray(trg_xy), jnp.asarray(src_xy), trg_hw, src_hw,
                       cfg, jnp.asarray(wb), jnp.asarray(wa))
    np.testing.assert_array_equal(np.asarray(alone[0]), np.asarray(back))


def test_match_best_is_compiled_with_the_cpu_forward_options():
    """On the CPU backend a batch of pairs is matched by the program compiled without YNNPACK fusions
    (`jit_forward`), bit for bit; XLA's default program would fuse the batched cosine product into one. A single
    pair is matched by the default program."""
    assert jax.default_backend() == "cpu"
    rng = np.random.default_rng(4)
    fs = jnp.asarray(rng.normal(size=(2, 64, 96)).astype(np.float32))
    ft = jnp.asarray(rng.normal(size=(2, 80, 96)).astype(np.float32))
    xy_s = jnp.asarray(rng.uniform(0, 60, (64, 2)).astype(np.float32))
    xy_t = jnp.asarray(rng.uniform(0, 70, (80, 2)).astype(np.float32))
    w_s, w_t = jnp.ones((2, 64)), jnp.ones((2, 80))
    cfg = MatchConfig(scorer="ot_rhm", ncells=64, side=3)
    args = (matching._unit_rows(fs), matching._unit_rows(ft), xy_s, xy_t, (60, 60), (70, 70), cfg, w_s, w_t, True)
    static = matching._BEST_STATIC
    plain = jax.jit(matching._best_on_unit_rows, static_argnames=static).lower(*args).compile()
    tuned = jax.jit(matching._best_on_unit_rows, static_argnames=static,
                    compiler_options=CPU_FORWARD_OPTIONS).lower(*args).compile()
    assert "__ynn_fusion" in plain.as_text() and "__ynn_fusion" not in tuned.as_text()
    dynamic = [a for a in args if not isinstance(a, (tuple, MatchConfig, bool))]
    for got, want in zip(match_best(fs, ft, xy_s, xy_t, (60, 60), (70, 70), cfg, w_s, w_t, backward=True),
                         tuned(*dynamic)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    one = [a[:1] if hasattr(a, "shape") and a.shape[:1] == (2,) else a for a in args]
    dyn_one = [a for a in one if not isinstance(a, (tuple, MatchConfig, bool))]
    plain_one = jax.jit(matching._best_on_unit_rows, static_argnames=static).lower(*one).compile()
    for got, want in zip(match_best(fs[:1], ft[:1], xy_s, xy_t, (60, 60), (70, 70), cfg, w_s[:1], w_t[:1],
                                    backward=True), plain_one(*dyn_one)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_the_scorer_names_former_name_warns():
    """`matching.METHODS`, the former name of the scorer names (`SCORERS`: what `MatchConfig.scorer` takes), still
    answers for one release, with a DeprecationWarning; `point_config.METHODS` are the point-transfer methods."""
    import pytest

    from convcorr_jax.correspondence import matching, point_config

    with pytest.warns(DeprecationWarning, match="SCORERS"):
        former = matching.METHODS
    assert list(former) == list(matching.SCORERS) == ["cos", "rhm", "ot", "ot_rhm"]
    assert list(point_config.METHODS) == ["bp", *matching.SCORERS]


def test_match_best_names_a_bad_shape_and_takes_a_list_image_size():
    """Features of one pair [Ns, C] (not [P, Ns, C]) were a vmap error of inconsistent sizes; node centres of the
    wrong count, an error deep in the matcher; an image size given as a list [h, w] (not a tuple), JAX's
    "non-hashable static argument". Now one InputError naming the argument, and a list size matches as a tuple."""
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(1, 6, 4)).astype(np.float32), rng.normal(size=(1, 5, 4)).astype(np.float32)
    sxy, txy = rng.uniform(0, 30, (6, 2)).astype(np.float32), rng.uniform(0, 30, (5, 2)).astype(np.float32)
    for args, field in (((fs[0], ft[0], sxy, txy), "fs"), ((fs, ft[..., :3], sxy, txy), "ft"),
                        ((fs, ft, sxy[:5], txy), "src_xy"), ((fs, ft, sxy, txy.T), "trg_xy")):
        with pytest.raises(InputError, match=f"match_best: field '{field}'"):
            match_best(*args, (32, 32), (32, 32))
    with pytest.raises(InputError, match="field 'src_weights'"):
        match_best(fs, ft, sxy, txy, (32, 32), (32, 32), MatchConfig("ot"), src_weights=np.ones((1, 5)))
    with pytest.raises(InputError, match="field 'trg_hw'"):
        match_best(fs, ft, sxy, txy, (32, 32), 32)
    want = match_best(fs, ft, sxy, txy, (32, 32), (40, 30))
    got = match_best(fs, ft, sxy, txy, [32, 32], np.array([40, 30]))
    np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))
    np.testing.assert_array_equal(np.asarray(match(fs[0], ft[0], sxy, txy, [32, 32], [40, 30])),
                                  np.asarray(match(fs[0], ft[0], sxy, txy, (32, 32), (40, 30))))


@pytest.mark.parametrize("weights, got", [([[0.0, 0.0, 0.0]], "no weight > 0 in row 0"),
                                          ([[-1.0, -2.0, 0.0]], "no weight > 0 in row 0"),
                                          ([[np.nan, 1.0, 1.0]], "NaN or inf in row 0")])
def test_ot_weights_without_mass_are_one_line_not_nan_matches(weights, got):
    """Weights whose row sums to 0 (or holds a NaN) made every OT confidence NaN and every best match node 0."""
    rng = np.random.default_rng(0)
    fs, ft = (jnp.asarray(rng.normal(size=(1, n, 4)), jnp.float32) for n in (3, 5))
    xs, xt = (jnp.asarray(rng.uniform(0, 8, (n, 2)), jnp.float32) for n in (3, 5))
    cfg = MatchConfig("ot")
    with pytest.raises(InputError, match=f"match_best: field 'src_weights'.*got {got}"):
        match_best(fs, ft, xs, xt, (8, 8), (8, 8), cfg, src_weights=jnp.asarray(weights))
    with pytest.raises(InputError, match=f"match: field 'trg_weights'.*got {got}"):
        match(fs[0], ft[0, :3], xs, xs, (8, 8), (8, 8), cfg, trg_weights=jnp.asarray(weights[0]))
    ok = match(fs[0], ft[0], xs, xt, (8, 8), (8, 8), cfg, src_weights=jnp.asarray([0.0, 1.0, -1.0]))
    assert np.all(np.isfinite(np.asarray(ok)))  # a zero or negative node among positive ones is a masked node
    traced = jax.jit(lambda w: match(fs[0], ft[0], xs, xt, (8, 8), (8, 8), cfg, src_weights=w))
    assert traced(jnp.ones(3)).shape == (3, 5)  # traced weights are not read


@pytest.mark.parametrize("seed", range(4))
def test_rhm_equals_a_loop_over_matches_with_clipped_offsets(seed):
    """Non-square images, coarse cells, filters of 5 to 9 bins (up to wider than the space) and nodes outside the
    images, whose votes are clipped per axis to the space's edge bins: RHM as a loop over matches."""
    rng = np.random.default_rng(seed)
    sh, th = tuple(int(v) for v in rng.integers(5, 30, 2)), tuple(int(v) for v in rng.integers(5, 30, 2))
    ncells, side = [4, 8, 30, 200][seed], [5, 7, 9, 7][seed]
    src, trg = (rng.uniform(-10, 40, (n, 2)).astype(np.float32) for n in (4, 5))
    v = rng.uniform(0, 1, (4, 5)).astype(np.float32)
    cell = np.sqrt((sh[1] + th[1]) * (sh[0] + th[0]) / ncells)
    ny, nx = int((sh[0] + th[0]) / cell) + 1, int((sh[1] + th[1]) / cell) + 1
    space, bins = np.zeros((ny, nx)), {}
    for i in range(4):
        for j in range(5):
            bx = min(max(int(np.floor((sh[1] - src[i, 0] + trg[j, 0]) / cell)), 0), nx - 1)
            by = min(max(int(np.floor((sh[0] - src[i, 1] + trg[j, 1]) / cell)), 0), ny - 1)
            bins[i, j] = (by, bx)
            space[by, bx] += v[i, j]
    pad, g = np.pad(space, side // 2), _gaussian_filter(side)
    sm = np.array([[(pad[y:y + side, x:x + side] * g).sum() for x in range(nx)] for y in range(ny)])
    want = np.array([[v[i, j] * sm[bins[i, j]] for j in range(5)] for i in range(4)])
    got = np.asarray(rhm(jnp.asarray(v), jnp.asarray(src), jnp.asarray(trg), sh, th, ncells, side))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
