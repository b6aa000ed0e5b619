"""BP flow: exact on chains, near-exact on tiny loopy grids (vs brute-force enumeration), recovers shifts."""

import numpy as np
import pytest

from convcorr_jax.errors import InputError
from convcorr_jax.flow import bp


def _bp(cost, weight, **kw):
    # messages by the brute-force DT (compiles fast; test_flow_dt proves it equals the envelope DT bit for bit);
    # test_translated_pair_is_recovered runs the envelope DT end to end.
    return bp.solve(np.asarray(cost, np.float32), weight, iters=kw.get("iters", 12), levels=kw.get("levels", 2), method="brute")


@pytest.mark.parametrize("hw", [(1, 5), (4, 1)])
def test_chain_is_exact(hw):
    rng = np.random.default_rng(0)
    for _ in range(6):
        cost = rng.uniform(0, 3, size=(*hw, 2, 3))
        weight = float(rng.uniform(0.1, 1.5))
        res = _bp(cost, weight, levels=1)
        e, _ = bp.brute_force_minimum(cost, weight)
        assert float(res.energy) == pytest.approx(e, abs=1e-4)


def test_tiny_loopy_grids_near_exact():
    """Loopy BP is not guaranteed optimal: on random 2x2 / 2x3 problems it must reach the exact minimum in at
    least 80% of cases (measured: ~95%) and never return less than it (the energy is a real labelling's)."""
    rng = np.random.default_rng(1)
    hits, n = 0, 16
    for t in range(n):
        hw, labels = ((2, 2), (3, 3)) if t % 2 else ((2, 3), (2, 3))
        cost = rng.uniform(0, 3, size=(*hw, *labels))
        weight = float(rng.uniform(0.1, 1.5))
        res = _bp(cost, weight)
        e, _ = bp.brute_force_minimum(cost, weight)
        d, s = bp.labelling_energy(np.asarray(cost, np.float32), res.labels, weight)
        assert float(res.energy) == pytest.approx(float(d + s), rel=1e-6)
        assert float(res.energy) >= e - 1e-4
        hits += abs(float(res.energy) - e) < 1e-4
    assert hits >= 0.8 * n, hits


def test_returned_energy_is_best_of_trace():
    rng = np.random.default_rng(2)
    cost = rng.uniform(0, 3, size=(6, 5, 5, 5))
    res = _bp(cost, 0.5, levels=3, iters=5)
    trace = np.asarray(res.trace)
    assert trace.shape == (15,)
    assert float(res.energy) == pytest.approx(trace.min(), rel=1e-6)
    assert float(res.energy) <= trace[0] + 1e-6
    d, s = float(res.data_energy), float(res.deformation_energy)
    assert d + s == pytest.approx(float(res.energy), rel=1e-6)


@pytest.mark.slow
def test_translated_pair_is_recovered():
    rng = np.random.default_rng(3)
    big = rng.normal(size=(14, 14, 6)).astype(np.float32)
    fs = big[2:12, 2:12]
    ft = big[3:13, 0:10]  # ft[y, x] = big[y + 3, x]; fs[y, x] = big[y + 2, x + 2] = ft[y - 1, x + 2]
    res = bp.align(fs, ft, bp.BPConfig(iters=8, levels=3), pixel_scale=4.0)
    flow = np.asarray(res.flow)
    # interior nodes whose match lies inside the target grid
    inner = flow[1:, :8]
    np.testing.assert_array_equal(inner[..., 0], 8.0)  # dx = +2 cells * 4 px
    np.testing.assert_array_equal(inner[..., 1], -4.0)  # dy = -1 cell
    assert float(res.data_energy) < 0.25 * float(np.linalg.norm(fs - ft, axis=-1).sum())


def test_batched_equals_single():
    rng = np.random.default_rng(4)
    fs = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
    ft = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
    cfg = bp.BPConfig(beta=0.05, iters=4, levels=2, window=2, dt_method="brute")
    batch = bp.align(fs, ft, cfg)
    for i in range(3):
        one = bp.align(fs[i], ft[i], cfg)
        np.testing.assert_array_equal(np.asarray(batch.flow[i]), np.asarray(one.flow))
        assert float(batch.energy[i]) == pytest.approx(float(one.energy), rel=1e-5)


def test_window_limits_displacements():
    rng = np.random.default_rng(5)
    fs, ft = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    res = bp.align(fs, ft, bp.BPConfig(beta=1e-4, iters=3, levels=1, window=(1, 2), dt_method="brute"))
    lab = np.asarray(res.labels)
    assert np.abs(lab[..., 0]).max() <= 1 and np.abs(lab[..., 1]).max() <= 2


@pytest.mark.parametrize(
    "fs,ft",
    [
        (np.zeros((4, 4, 3)), np.zeros((4, 4, 5))),  # different depth
        (np.zeros((4, 4, 3)), np.zeros((4, 5, 3))),  # different grid
        (np.zeros((1, 1, 3)), np.zeros((1, 1, 3))),  # 1-node grid
        (np.zeros((0, 4, 3)), np.zeros((0, 4, 3))),  # empty grid
        (np.full((3, 3, 2), np.nan), np.zeros((3, 3, 2))),  # NaN features
        (np.zeros((4, 4)), np.zeros((4, 4))),  # not a grid of vectors
    ],
)
def test_bad_features_raise(fs, ft):
    with pytest.raises(InputError):
        bp.align(fs, ft)
