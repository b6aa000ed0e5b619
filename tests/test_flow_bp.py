"""BP flow: exact on chains, near-exact on tiny loopy grids (vs brute-force enumeration), recovers shifts."""

import dataclasses
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from bp_oracle import brute_force_minimum
from conftest import xla_flags
from test_pose_train import TESTS, _env

from convcorr_jax.core.errors import InputError
from convcorr_jax.flow import bp, bp_solver, bp_windows
from convcorr_jax.flow.cost_volume import cost_volume, target_cost

SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from convcorr_jax.core import parallel
    from convcorr_jax.flow import bp
    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(2, 6, 7, 8, 5)).astype(np.float32)  # 6 pairs: padded to 8 over 4 devices
    cfg = bp.BPConfig(beta=0.05, window=3, iters=3, levels=2)
    one = bp.solve_flow(fs, ft, cfg, pixel_scale=2.0)
    four = bp.solve_flow(fs, ft, cfg, pixel_scale=2.0, mesh=parallel.make_mesh(4))
    assert four.flow.shape == (6, 7, 8, 2) and len(four.energy) == 6, four.flow.shape
    np.testing.assert_array_equal(np.asarray(one.labels), np.asarray(four.labels))
    np.testing.assert_allclose(np.asarray(one.energy), np.asarray(four.energy), rtol=1e-6)
    assert len(np.unique(np.asarray(one.labels).reshape(6, -1), axis=0)) > 1  # pairs differ
    assert parallel._row_sharded.cache_info().currsize == 1  # the sharded path ran
    print("OK")
""")


def _bp(cost, weight, **kw):
    # messages by the fused brute-force DT (what "auto" picks for short label axes; test_flow_dt proves every
    # method gives the same values bit for bit, and test_dt_methods_give_identical_solves checks it end to end)
    return bp_solver.solve(np.asarray(cost, np.float32), weight, iters=kw.get("iters", 12), levels=kw.get("levels", 2),
                           method="brute", crop=kw.get("crop", False))


def _flow_cost(rng, hw, radius, depth=3):
    """A cost volume as bp.solve_flow builds it: labels are displacements -R..R, +inf off the target grid."""
    fs, ft = rng.normal(size=(2, *hw, depth)).astype(np.float32)
    return np.asarray(cost_volume(fs, ft, radius))


@pytest.mark.parametrize("hw", [(1, 5), (4, 1)])
def test_chain_is_exact(hw):
    rng = np.random.default_rng(0)
    for _ in range(6):
        cost = rng.uniform(0, 3, size=(*hw, 2, 3))
        weight = float(rng.uniform(0.1, 1.5))
        res = _bp(cost, weight, levels=1)
        e, _ = brute_force_minimum(cost, weight)
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
        e, _ = brute_force_minimum(cost, weight)
        d, s = bp_solver._labelling_energy(np.asarray(cost, np.float32), res.labels, weight)
        assert float(res.energy) == pytest.approx(float(d + s), rel=1e-6)
        assert float(res.energy) >= e - 1e-4
        hits += abs(float(res.energy) - e) < 1e-4
    assert hits >= 0.8 * n, hits


def test_weight_zero_is_each_nodes_cheapest_label_and_bad_weights_raise():
    """No pairwise term: the exact minimum is each node's cheapest label (brute force), on label costs and on
    target-indexed costs (a zero cost included: BP's cost / weight would be 0 / 0); a negative or NaN weight is
    refused."""
    rng = np.random.default_rng(3)
    cost = rng.uniform(0, 3, size=(2, 3, 2, 3)).astype(np.float32)
    cost[0, 0, 1, 2] = 0.0
    res = bp_solver.solve(cost, 0.0, iters=3, levels=2)
    e, lab = brute_force_minimum(cost, 0.0)
    assert float(res.energy) == pytest.approx(e, abs=1e-5) and float(res.deformation_energy) == 0.0
    np.testing.assert_array_equal(np.asarray(res.labels), lab)
    fs, ft = rng.normal(size=(2, 3, 2, 4)).astype(np.float32)
    a = bp_solver.solve(cost_volume(fs, ft, (2, 1)), 0.0, 2, 2, crop=True)
    b = bp_solver.solve(target_cost(fs, ft), 0.0, 2, 2, targets=True)
    np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
    assert float(a.energy) == pytest.approx(float(np.asarray(target_cost(fs, ft)).min((2, 3)).sum()), rel=1e-6)
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="weight"):
            bp_solver.solve(cost, bad)


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
    res = bp.solve_flow(fs, ft, bp.BPConfig(iters=8, levels=3), pixel_scale=4.0)  # dt_method "auto", label windows
    flow = np.asarray(res.flow)
    # interior nodes whose match lies inside the target grid
    inner = flow[1:, :8]
    np.testing.assert_array_equal(inner[..., 0], 8.0)  # dx = +2 cells * 4 px
    np.testing.assert_array_equal(inner[..., 1], -4.0)  # dy = -1 cell
    assert float(res.data_energy) < 0.25 * float(np.linalg.norm(fs - ft, axis=-1).sum())


def test_batched_equals_single():
    """One vmap over the pairs, and groups of 2 (the last group padded): each pair's flow as alone."""
    rng = np.random.default_rng(4)
    fs = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
    ft = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
    cfg = bp.BPConfig(beta=0.05, iters=4, levels=2, window=2, dt_method="brute")
    ones = [bp.solve_flow(fs[i], ft[i], cfg) for i in range(3)]
    assert len({np.asarray(o.flow).tobytes() for o in ones}) == 3  # the pairs differ
    for group in (None, 2):
        batch = bp.solve_flow(fs, ft, cfg, pairs_per_call=group)
        assert batch.flow.shape == (3, 5, 6, 2) and batch.energy.shape == (3,)
        for i, one in enumerate(ones):
            np.testing.assert_array_equal(np.asarray(batch.flow[i]), np.asarray(one.flow))
            assert float(batch.energy[i]) == pytest.approx(float(one.energy), rel=1e-5)
    for bad in (0, 1.5, "all"):
        with pytest.raises(InputError, match="pairs_per_call"):
            bp.solve_flow(fs, ft, cfg, pairs_per_call=bad)


def test_window_limits_displacements():
    rng = np.random.default_rng(5)
    fs, ft = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    res = bp.solve_flow(fs, ft, bp.BPConfig(beta=1e-4, iters=3, levels=1, window=(1, 2), dt_method="brute"))
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
        bp.solve_flow(fs, ft)


@pytest.mark.parametrize("pixel_scale", [0.0, -2.0, float("nan"), float("inf")])
def test_bad_pixel_scale_raises(pixel_scale):
    """A zero pixel scale used to give an all-zero flow (cost / 0 in the solver), a negative one a flipped flow."""
    fs = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    with pytest.raises(InputError, match="pixel_scale"):
        bp.solve_flow(fs, np.roll(fs, 1, axis=1), bp.BPConfig(iters=2, levels=1), pixel_scale=pixel_scale)


@pytest.mark.parametrize("field,kwargs", [("frame_side", {"stride": 8.0, "frame_side": 0}),
                                          ("stride", {"stride": -8.0, "frame_side": 100.0})])
def test_solve_flow_in_frame_bad_sizes_raise(field, kwargs):
    fs = np.zeros((3, 4, 5), np.float32)
    with pytest.raises(InputError, match=field):
        bp.solve_flow_in_frame(fs, fs, bp.BPConfig(iters=2, levels=1), **kwargs)


def test_solve_rejects_costs_of_the_wrong_rank():
    with pytest.raises(InputError, match="cost"):
        bp_solver.solve(jnp.zeros((3, 2, 2)), 1.0)


@pytest.mark.parametrize("hw,labels,crop,levels", [((5, 7), (9, 13), True, 2), ((4, 6), (3, 3), False, 1),
                                                   ((1, 5), (2, 3), False, 1), ((3, 1), (5, 3), True, 2)])
def test_active_half_schedule_equals_masked(hw, labels, crop, levels):
    """Computing only the senders' messages (checkerboard classes stored apart, no gather) gives the masked schedule's
    messages and
    labellings bit for bit, at every multigrid level (odd and even widths, single rows and columns)."""
    rng = np.random.default_rng(6)
    if crop:
        cost = _flow_cost(rng, hw, ((labels[0] - 1) // 2, (labels[1] - 1) // 2))
    else:
        cost = rng.uniform(0, 3, size=(*hw, *labels)).astype(np.float32)
    for k in range(levels):
        win = (*bp_windows.axis_windows(hw[0], labels[0], k, crop), *bp_windows.axis_windows(hw[1], labels[1], k, crop))
        ck = bp_windows.crop_labels(bp_windows.block_sum(cost, k), *win)
        m0 = tuple(rng.uniform(0, 2, size=ck.shape).astype(np.float32) for _ in range(4))
        a = bp_solver._bp_level(ck, m0, np.float32(0.4), 5, win, "auto", "masked")
        b = bp_solver._bp_level(ck, m0, np.float32(0.4), 5, win, "auto", "active")
        for x, y in zip(a[0], b[0]):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))


def test_solve_schedules_agree():
    cost = _flow_cost(np.random.default_rng(10), (4, 5), (3, 4))
    full = bp_solver.solve(cost, 0.4, 3, 2, "auto", True, "masked")
    fast = bp_solver.solve(cost, 0.4, 3, 2, "auto", True, "active")
    np.testing.assert_array_equal(np.asarray(full.labels), np.asarray(fast.labels))
    np.testing.assert_array_equal(np.asarray(full.trace), np.asarray(fast.trace))


def test_label_windows_are_exact():
    """crop=True (each node solves on the window of labels that can be finite) minimises the same energy: on
    tiny 2 x 3 flow problems with +inf labels it reaches the enumerated minimum as often as the full label set, and it
    never returns a labelling with an infinite cost. Windows hold every finite label and their children's."""
    rng = np.random.default_rng(7)
    hits = {False: 0, True: 0}
    n = 8
    for _ in range(n):
        cost = _flow_cost(rng, (2, 3), (1, 1))
        e, _ = brute_force_minimum(np.where(np.isinf(cost), 1e9, cost), 0.3)
        for crop in (False, True):
            res = _bp(cost, 0.3, crop=crop)
            assert np.isfinite(float(res.energy)) and float(res.energy) >= e - 1e-4
            hits[crop] += abs(float(res.energy) - e) < 1e-4
    assert hits[True] >= 0.8 * n and hits[False] >= 0.8 * n, hits
    for n_nodes in (1, 2, 5, 12, 31):
        for radius in (0, 1, 3, n_nodes - 1, n_nodes + 2):
            num = 2 * radius + 1
            for k in range(3):
                start, size = bp_windows.axis_windows(n_nodes, num, k, True)
                parent, psize = bp_windows.axis_windows(n_nodes, num, k + 1, True)
                j = np.arange(len(start)) // 2
                assert np.all(start >= parent[j]) and np.all(start + size <= parent[j] + psize)


def test_label_windows_match_full_labels_on_flow_problem():
    """Same BP on the full label set and on the windows: the messages differ only by per-message constants, so
    the labellings agree (up to float rounding) and the energies match."""
    rng = np.random.default_rng(8)
    cost = _flow_cost(rng, (5, 4), (4, 3), depth=4)
    full, crop = _bp(cost, 0.2, levels=2, iters=4), _bp(cost, 0.2, levels=2, iters=4, crop=True)
    np.testing.assert_allclose(np.asarray(crop.trace), np.asarray(full.trace), rtol=1e-5)
    assert float(crop.energy) == pytest.approx(float(full.energy), rel=1e-5)


def test_dt_methods_give_identical_solves():
    rng = np.random.default_rng(9)
    cost = _flow_cost(rng, (3, 4), (2, 3))
    a = bp_solver.solve(cost, 0.3, 2, 1, "brute", True)
    for method in ("envelope", "tree"):
        b = bp_solver.solve(cost, 0.3, 2, 1, method, True)
        np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
        np.testing.assert_array_equal(np.asarray(a.trace), np.asarray(b.trace))


@pytest.mark.slow
def test_target_indexed_costs_give_the_volume_solve():
    """solve(target_cost, targets=True) is solve(cost_volume over the whole grid, crop=True) without the volume:
    bit-equal level costs in every label window (blocks that run past the grid edge included), the same labels
    and energy trace, the same labelling energies, and `align`'s whole-grid flow through it."""
    rng = np.random.default_rng(12)
    solves = {(5, 4): (2, "masked"), (12, 5): (3, "active")}  # the solve is the same program on the other sizes
    for hw in ((9, 9), (5, 4), (12, 5), (7, 9)):  # blocks past the edge at every level up to 8 x 8
        fs, ft = rng.normal(size=(2, *hw, 3)).astype(np.float32)
        vol = cost_volume(fs, ft, (hw[0] - 1, hw[1] - 1))
        tc = target_cost(fs, ft)
        y, x = np.arange(hw[0]), np.arange(hw[1])
        np.testing.assert_array_equal(np.asarray(vol)[y[:, None, None, None], x[None, :, None, None],
                                                      hw[0] - 1 - y[:, None, None, None] + y[None, None, :, None],
                                                      hw[1] - 1 - x[None, :, None, None]
                                                      + x[None, None, None, :]], np.asarray(tc))
        for k in range(4):
            win = (*bp_windows.axis_windows(hw[0], 2 * hw[0] - 1, k, True),
                   *bp_windows.axis_windows(hw[1], 2 * hw[1] - 1, k, True))
            np.testing.assert_array_equal(np.asarray(bp_windows.target_windows(tc, k, win)),
                                          np.asarray(bp_windows.crop_labels(bp_windows.block_sum(vol, k), *win)))
        lab = rng.integers(0, (2 * hw[0] - 1, 2 * hw[1] - 1), size=(*hw, 2)).astype(np.int32)  # some leave the grid
        for got, want in zip(bp_solver._labelling_energy(tc, lab, 0.3, targets=True),
                             bp_solver._labelling_energy(vol, lab, 0.3)):
            assert float(got) == float(want)
        if hw not in solves:
            continue
        levels, schedule = solves[hw]
        a = bp_solver.solve(vol, 0.3, 3, levels, "auto", True, schedule)
        b = bp_solver.solve(tc, 0.3, 3, levels, "auto", True, schedule, targets=True)
        np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
        np.testing.assert_array_equal(np.asarray(a.trace), np.asarray(b.trace))
    with pytest.raises(InputError, match="target-indexed"):
        bp_solver.solve(vol, 0.3, 3, 1, targets=True)
    with pytest.raises(InputError, match="offsets"):
        bp_solver.solve(tc, 0.3, 3, 1, targets=True, offsets=np.zeros((*hw, 2), np.float32))
    cfg = bp.BPConfig(beta=0.05, iters=3, levels=2)  # on the last size, 7 x 9
    whole = bp.solve_flow(fs, ft, cfg)  # window None: the target-indexed path
    # a window past the grid: the volume
    explicit = bp.solve_flow(fs, ft, dataclasses.replace(cfg, window=(hw[0], hw[1])))
    np.testing.assert_array_equal(np.asarray(whole.flow), np.asarray(explicit.flow))


@pytest.mark.slow
@pytest.mark.parametrize("crop,schedule", [(True, "masked"), (False, "active")])
def test_padded_label_axes_give_identical_solves(crop, schedule):
    """Label axes padded with +inf-cost labels (to a multiple of `label_multiple`, where that adds <= 1/8)
    give the unpadded solve's labels and energy trace bit for bit, at every multigrid level, and on one level the
    unpadded messages on the real labels."""
    rng = np.random.default_rng(11)
    if crop:  # 9 x 7 grid, labels -8..8 x -6..6: windows 9/10/12 x 7/8/10 over the levels
        cost = _flow_cost(rng, (9, 7), (8, 6))
    else:
        cost = rng.uniform(0, 3, size=(4, 5, 17, 9)).astype(np.float32)
    assert bp_windows.pad_labels(jnp.zeros((1, 1, 9, 17)), 5, 0.0).shape[2:] == (10, 17)  # 9 -> 10; 17 -> 20 adds > 1/8
    assert bp_windows.pad_labels(jnp.zeros((1, 1, 17, 4)), 6, 0.0).shape[2:] == (18, 4)  # short axes stay
    plain = bp_solver.solve(cost, 0.3, 2, 3, "auto", crop, schedule, label_multiple=1)
    h, w, ly, lx = cost.shape
    win = (*bp_windows.axis_windows(h, ly, 0, crop), *bp_windows.axis_windows(w, lx, 0, crop))
    ck = bp_windows.crop_labels(jnp.asarray(cost), *win)
    m0 = tuple(jnp.asarray(rng.uniform(0, 2, size=ck.shape), jnp.float32) for _ in range(4))
    ref_msgs, ref_labels = bp_solver._bp_level(ck, m0, np.float32(0.3), 3, win, "auto", schedule)
    for multiple in (3, 5):  # pads 8 -> 9 / 9 -> 10 (crop) and 17 -> 18 / 9 -> 10 (full labels) at some level
        padded = bp_solver.solve(cost, 0.3, 2, 3, "auto", crop, schedule, label_multiple=multiple)
        np.testing.assert_array_equal(np.asarray(padded.labels), np.asarray(plain.labels))
        np.testing.assert_array_equal(np.asarray(padded.trace), np.asarray(plain.trace))
        msgs, labels = bp_solver._bp_level(bp_windows.pad_labels(ck, multiple, jnp.inf),
                                           tuple(bp_windows.pad_labels(m, multiple, 0.0) for m in m0),
                                    np.float32(0.3), 3, win, "auto", schedule)
        np.testing.assert_array_equal(np.asarray(labels), np.asarray(ref_labels))
        for got, want in zip(msgs, ref_msgs):
            np.testing.assert_array_equal(np.asarray(got)[..., : want.shape[2], : want.shape[3]], np.asarray(want))


def test_align_sharded_over_devices_equals_vmap():
    """bp.solve_flow(..., mesh=...) splits the pairs over 4 (forced CPU) devices, padding 6 pairs to 8: same labels and
    energies as the single-device vmap."""
    r = subprocess.run([sys.executable, "-c", SHARDED], check=False, capture_output=True, text=True, timeout=600,
                       cwd=TESTS.parent,
                       env=_env({"XLA_FLAGS": xla_flags(4)}))
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr[-3000:]


def test_per_node_offsets_exact_on_chains_and_schedules_agree():
    """Pairwise term on labels + per-node origins (`offsets`, the dense flow's windows around an upsampled flow):
    exact on chains against enumeration, active == masked schedule bit for bit, zero offsets == none."""
    rng = np.random.default_rng(11)
    for hw in [(1, 5), (4, 1)]:
        for _ in range(3):
            cost = rng.uniform(0, 3, size=(*hw, 3, 3)).astype(np.float32)
            weight = float(rng.uniform(0.1, 1.5))
            off = rng.uniform(-2, 2, size=(*hw, 2)).astype(np.float32)
            res = bp_solver.solve(cost, weight, 12, 1, "brute", offsets=off)
            e, _ = brute_force_minimum(cost, weight, off)
            assert float(res.energy) == pytest.approx(e, abs=1e-4)
    cost = rng.uniform(0, 3, size=(5, 7, 5, 5)).astype(np.float32)
    off = rng.uniform(-3, 3, size=(5, 7, 2)).astype(np.float32)
    a = bp_solver.solve(cost, 0.4, 5, 1, "auto", False, "masked", offsets=off)
    b = bp_solver.solve(cost, 0.4, 5, 1, "auto", False, "active", offsets=off)
    np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
    np.testing.assert_array_equal(np.asarray(a.trace), np.asarray(b.trace))
    zero = bp_solver.solve(cost, 0.4, 5, 1, offsets=np.zeros((5, 7, 2), np.float32))
    np.testing.assert_array_equal(np.asarray(zero.labels), np.asarray(bp_solver.solve(cost, 0.4, 5, 1).labels))
    with pytest.raises(InputError, match="offsets"):
        bp_solver.solve(cost, 0.4, 5, 2, offsets=off)


@pytest.mark.slow
def test_truncated_quadratic_exact_on_chains_and_schedules_agree():
    """Truncated pairwise term weight * min(||d||^2, truncation^2) (with and without per-node offsets): exact on
    chains against enumeration (the truncation changes the minimum on most of these), active == masked bit for bit,
    and a truncation above every possible difference gives the untruncated solve."""
    rng = np.random.default_rng(12)
    changed = 0
    for hw in [(1, 5), (4, 1)]:
        for with_offsets in (False, True):
            for _ in range(3):
                cost = rng.uniform(0, 3, size=(*hw, 3, 3)).astype(np.float32)
                weight, trunc = float(rng.uniform(0.3, 1.5)), float(rng.uniform(0.5, 2.0))
                off = rng.uniform(-2, 2, size=(*hw, 2)).astype(np.float32) if with_offsets else None
                res = bp_solver.solve(cost, weight, 12, 1, "brute", offsets=off, truncation=trunc)
                e, _ = brute_force_minimum(cost, weight, off, trunc)
                assert float(res.energy) == pytest.approx(e, abs=1e-4)
                changed += e < brute_force_minimum(cost, weight, off)[0] - 1e-6
    assert changed >= 6
    cost = rng.uniform(0, 3, size=(5, 7, 5, 5)).astype(np.float32)
    off = rng.uniform(-3, 3, size=(5, 7, 2)).astype(np.float32)
    for o in (None, off):
        a = bp_solver.solve(cost, 0.4, 5, 1, "auto", False, "masked", offsets=o, truncation=1.5)
        b = bp_solver.solve(cost, 0.4, 5, 1, "auto", False, "active", offsets=o, truncation=1.5)
        np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
        np.testing.assert_array_equal(np.asarray(a.trace), np.asarray(b.trace))
    far = bp_solver.solve(cost, 0.4, 5, 2, truncation=100.0)
    np.testing.assert_array_equal(np.asarray(far.labels), np.asarray(bp_solver.solve(cost, 0.4, 5, 2).labels))


def test_edge_scaled_pairwise_term_exact_on_chains_and_schedules_agree():
    """Per-edge factors of the pairwise term (edge_scale, with and without offsets and a truncation): exact on
    chains against enumeration (the factors change the minimum on most of these), active == masked bit for bit,
    and factors of 1 give the plain solve's labels."""
    rng = np.random.default_rng(13)
    changed = 0
    for hw in [(1, 5), (4, 1)]:
        for with_offsets, trunc in ((False, None), (True, 1.5)):
            for _ in range(3):
                cost = rng.uniform(0, 3, size=(*hw, 3, 3)).astype(np.float32)
                weight = float(rng.uniform(0.3, 1.5))
                off = rng.uniform(-2, 2, size=(*hw, 2)).astype(np.float32) if with_offsets else None
                scale = rng.choice([0.05, 0.3, 1.0, 4.0], size=(*hw, 2)).astype(np.float32)
                res = bp_solver.solve(cost, weight, 12, 1, "brute", offsets=off, truncation=trunc, edge_scale=scale)
                e, _ = brute_force_minimum(cost, weight, off, trunc, scale)
                assert float(res.energy) == pytest.approx(e, abs=1e-4)
                changed += abs(e - brute_force_minimum(cost, weight, off, trunc)[0]) > 1e-6
    assert changed >= 8
    cost = rng.uniform(0, 3, size=(5, 7, 5, 5)).astype(np.float32)
    off = rng.uniform(-3, 3, size=(5, 7, 2)).astype(np.float32)
    scale = rng.uniform(0.01, 2.0, size=(5, 7, 2)).astype(np.float32)
    for o, t in ((None, None), (off, 1.5)):
        a = bp_solver.solve(cost, 0.4, 5, 1, "auto", False, "masked", offsets=o, truncation=t, edge_scale=scale)
        b = bp_solver.solve(cost, 0.4, 5, 1, "auto", False, "active", offsets=o, truncation=t, edge_scale=scale)
        np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))
        np.testing.assert_array_equal(np.asarray(a.trace), np.asarray(b.trace))
    ones = bp_solver.solve(cost, 0.4, 5, 1, offsets=off, truncation=1.5, edge_scale=np.ones((5, 7, 2), np.float32))
    plain = bp_solver.solve(cost, 0.4, 5, 1, offsets=off, truncation=1.5)
    np.testing.assert_array_equal(np.asarray(ones.labels), np.asarray(plain.labels))
    np.testing.assert_allclose(np.asarray(ones.trace), np.asarray(plain.trace), rtol=1e-6)  # summed in another order
    with pytest.raises(InputError, match="edge_scale"):
        bp_solver.solve(cost, 0.4, 5, 2, edge_scale=scale)
    with pytest.raises(InputError, match="edge_scale"):
        bp_solver.solve(cost, 0.4, 5, 1, edge_scale=scale[:, :3])
