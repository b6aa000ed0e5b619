"""The tree MRF spatial model: exact message passing against brute-force enumeration on tiny grids, the offset
priors against hand-counted histograms, and torso conditioning removing a distractor far from the torso."""

from __future__ import annotations

import dataclasses
import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import heatmaps as hm
from convcorr_jax.pose import spatial as spatial_mrf


def _brute_force(log_unary: np.ndarray, log_priors: np.ndarray, edges, mode: str) -> np.ndarray:
    """Log-(max-)marginals [V, H, W] by enumerating every configuration of the V nodes on the H x W grid."""
    v, h, w = log_unary.shape
    kh, kw = log_priors.shape[1:]
    ry, rx = kh // 2, kw // 2
    cy, cx = np.divmod(np.arange(h * w), w)
    score = np.zeros((h * w,) * v)
    for node in range(v):
        shape = [1] * v
        shape[node] = h * w
        score = score + log_unary[node].reshape(shape)
    for e, (p, c) in enumerate(edges):
        dy, dx = cy[None] - cy[:, None], cx[None] - cx[:, None]  # [parent cell, child cell]
        inside = (np.abs(dy) <= ry) & (np.abs(dx) <= rx)
        pair = np.where(inside, log_priors[e][np.clip(dy + ry, 0, kh - 1), np.clip(dx + rx, 0, kw - 1)], -np.inf)
        shape = [1] * v
        shape[p], shape[c] = h * w, h * w
        score = score + (pair if p < c else pair.T).reshape(shape)
    out = []
    for node in range(v):
        others = tuple(a for a in range(v) if a != node)
        m = logsumexp(score, axis=others) if mode == "sum" else np.max(score, axis=others)
        m = m - (logsumexp(m) if mode == "sum" else np.max(m))
        out.append(m.reshape(h, w))
    return np.stack(out)


TREES = {
    "chain3": ((0, 1), (1, 2)),  # root 0 -> 1 -> 2
    "star3": ((1, 0), (1, 2)),  # root 1 in the middle
    "chain3_branch": ((2, 1), (1, 0), (1, 3)),  # chain 2 -> 1 -> 0 with a branch 1 -> 3 in the middle
    "branch4": ((0, 1), (1, 2), (0, 3)),  # chain 0 -> 1 -> 2 with a branch at the root
}


@pytest.mark.parametrize("mode", ["sum", "max"])
@pytest.mark.parametrize("tree, ksize", [("chain3", 3), ("star3", 7), ("chain3_branch", 3), ("chain3_branch", 7),
                                         ("branch4", 5)])
def test_marginals_match_brute_force(tree, mode, ksize):
    edges = TREES[tree]
    v = 1 + max(max(e) for e in edges)
    rng = np.random.default_rng(hash((tree, mode, ksize)) % 2**32)
    u = rng.normal(0, 1.5, (v, 4, 4)).astype(np.float32)
    pri = rng.normal(0, 1.5, (len(edges), ksize, ksize)).astype(np.float32)
    want = _brute_force(u.astype(np.float64), pri.astype(np.float64), edges, mode)
    got = np.asarray(spatial_mrf.marginals(jnp.asarray(u), jnp.asarray(pri), edges, mode))
    np.testing.assert_allclose(got, want, atol=2e-4)
    if mode == "sum" and ksize == 7:
        fft = np.asarray(spatial_mrf.marginals(jnp.asarray(u), jnp.asarray(pri), edges, mode, "fft"))
        np.testing.assert_allclose(fft, want, atol=2e-3)


@pytest.mark.parametrize("mode", ["sum", "max"])
@pytest.mark.parametrize("shape, kernel", [((3, 4), (1, 5)), ((5, 3), (3, 7)), ((4, 6), (9, 3))])
def test_kernel_larger_than_the_map_on_one_axis_only(mode, shape, kernel):
    """A non-square map with a kernel longer than the map on one axis and shorter on the other (a square 9 x 9
    kernel on 6 x 10 heat-maps): the sum-product convolution cannot take these shapes as they are."""
    edges = TREES["chain3_branch"]
    rng = np.random.default_rng(7)
    u = rng.normal(0, 1.5, (4,) + shape).astype(np.float32)
    pri = rng.normal(0, 1.5, (len(edges),) + kernel).astype(np.float32)
    want = _brute_force(u.astype(np.float64), pri.astype(np.float64), edges, mode)
    for method in ("direct", "fft") if mode == "sum" else ("direct",):
        got = np.asarray(spatial_mrf.marginals(jnp.asarray(u), jnp.asarray(pri), edges, mode, method))
        np.testing.assert_allclose(got, want, atol=2e-4)


def test_messages_of_a_two_node_tree_are_log_convolutions():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(2, 4, 5)).astype(np.float32)
    pri = rng.normal(size=(1, 3, 5)).astype(np.float32)  # kh != kw
    up, down = spatial_mrf.tree_messages(jnp.asarray(u), jnp.asarray(pri), ((0, 1),), "sum")
    want_up = np.full((4, 5), -np.inf)
    want_down = np.full((4, 5), -np.inf)
    for py, px, cy, cx in itertools.product(range(4), range(5), range(4), range(5)):
        dy, dx = cy - py, cx - px
        if abs(dy) <= 1 and abs(dx) <= 2:
            want_up[py, px] = np.logaddexp(want_up[py, px], u[1, cy, cx] + pri[0, dy + 1, dx + 2])
            want_down[cy, cx] = np.logaddexp(want_down[cy, cx], u[0, py, px] + pri[0, dy + 1, dx + 2])
    np.testing.assert_allclose(np.asarray(up[0]), want_up - want_up.max(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(down[0]), want_down - want_down.max(), atol=1e-5)


def test_offset_priors_equal_the_hand_counted_histogram():
    # 2 nodes + torso (node 2); edges torso -> 0 -> 1; offsets in cells (rounded per point)
    pts = np.array([
        [[5.0, 5.0], [6.0, 5.0], [4.0, 4.0]],   # torso->0: (1, 1); 0->1: (1, 0)
        [[5.2, 4.9], [6.1, 5.2], [4.0, 4.0]],   # rounds to the same: (1, 1); (1, 0)
        [[3.0, 4.0], [3.0, 5.0], [4.0, 4.0]],   # (-1, 0); (0, 1)
        [[9.0, 4.0], [0.0, 0.0], [4.0, 4.0]],   # (5, 0) outside the 3x3 kernel; node 1 not visible
    ])
    vis = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 1]], bool)
    edges = ((2, 0), (0, 1))
    hist = spatial_mrf.offset_histograms(pts, vis, edges, 3)
    want = np.zeros((2, 3, 3))
    want[0, 1 + 1, 1 + 1] = 2  # [e, r + dy, r + dx]
    want[0, 1 + 0, 1 - 1] = 1
    want[1, 1 + 0, 1 + 1] = 2
    want[1, 1 + 1, 1 + 0] = 1
    np.testing.assert_array_equal(hist, want)
    floor = 0.01
    pri = spatial_mrf.offset_priors(pts, vis, edges, kernel_size=3, sigma=0.0, floor=floor)
    q = want / want.sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(pri, np.log((q + floor) / (1 + 9 * floor)), rtol=1e-6)
    np.testing.assert_allclose(np.exp(pri).sum(axis=(1, 2)), 1.0, rtol=1e-6)
    # smoothing keeps a normalised kernel and the mode of a single-offset histogram
    sm = spatial_mrf.offset_priors(pts[:1], vis[:1], edges, kernel_size=7, sigma=1.0, floor=0.0)
    np.testing.assert_allclose(np.exp(sm).sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert np.unravel_index(np.argmax(sm[0]), (7, 7)) == (3 + 1, 3 + 1)
    # an edge without data is uniform
    for sigma, floor in ((0.0, 0.0), (1.0, 0.0), (2.5, 0.01)):  # whatever the smoothing and the floor
        none = spatial_mrf.offset_priors(pts, np.zeros_like(vis), edges, kernel_size=3, sigma=sigma, floor=floor)
        np.testing.assert_allclose(none, np.log(1 / 9), rtol=1e-6)


# FLIC layout relative to the torso (cells): lsho lelb lwri rsho relb rwri lhip rhip leye reye nose
_LAYOUT = np.array([[3, -3], [4, 0], [4, 3], [-3, -3], [-4, 0], [-4, 3], [2, 4], [-2, 4], [1, -7], [-1, -7],
                    [0, -6]], np.float32)


def _flic_priors(size=16, seed=0):
    rng = np.random.default_rng(seed)
    n = 200
    torso = np.full((n, 2), size / 2, np.float32)
    pts = torso[:, None] + _LAYOUT[None] + rng.normal(0, 0.6, (n, 11, 2)).astype(np.float32)
    p, v = spatial_mrf.with_torso(pts, np.ones((n, 11), bool), torso)
    return spatial_mrf.offset_priors(p, v, spatial_mrf.FLIC_EDGES, kernel_size=2 * size - 1, sigma=1.0, floor=1e-4)


@pytest.mark.parametrize("mode", ["sum", "max"])
def test_distractor_far_from_the_torso_is_suppressed(mode):
    size = 16
    pri = _flic_priors(size)
    torso = np.array([[8.0, 8.0]], np.float32)
    true = torso[0] + _LAYOUT
    maps = np.asarray(hm.gaussian_targets(jnp.asarray(true), (size, size), 1.0)) * 0.6  # [H, W, K]
    distract = np.asarray(hm.gaussian_targets(jnp.asarray(np.array([[1.0, 14.0]] * 11, np.float32)), (size, size), 1.0))
    maps = np.maximum(maps, distract * np.isin(np.arange(11), [2, 4])[None, None])  # l wrist, r elbow: distracted
    maps = maps[None].astype(np.float32)
    before = np.asarray(hm.argmax_2d(jnp.asarray(maps)))[0]
    assert np.array_equal(before[[2, 4]], [[1, 14], [1, 14]])  # the coarse arg-max picks the distractor
    cfg = spatial_mrf.SpatialConfig(mode=mode)
    out = spatial_mrf.apply_spatial_model(maps, torso, pri, cfg)
    assert out.shape == maps.shape
    after = np.asarray(hm.argmax_2d(out))[0]
    np.testing.assert_array_equal(after, true.astype(int))  # every joint at its true cell, distractors removed
    if mode == "sum":
        np.testing.assert_allclose(np.asarray(out).sum(axis=(1, 2)), 1.0, rtol=1e-4)
    # switched off: the input unchanged
    off = spatial_mrf.apply_spatial_model(maps, torso, pri, spatial_mrf.SpatialConfig(enabled=False))
    np.testing.assert_array_equal(np.asarray(off), maps)


def test_torso_node_conditions_the_joints_like_brute_force():
    # 3 joints + the torso as node 3 on a 4 x 4 grid; kernel 5 x 5 (offsets of 3 cells impossible)
    edges = ((3, 0), (0, 1), (3, 2))
    rng = np.random.default_rng(1)
    pri = rng.normal(0, 1.0, (3, 5, 5)).astype(np.float32)
    maps = rng.uniform(-0.1, 1.1, (1, 4, 4, 3)).astype(np.float32)
    maps = np.concatenate([maps, maps])
    torso = np.array([[1.0, 2.0], [1.4, 1.6]], np.float32)  # both round to cell (x 1, y 2)
    u = np.asarray(spatial_mrf.torso_log_unary(jnp.asarray(torso), (4, 4), 0.0))
    assert np.array_equal(np.argwhere(u[1] == 0), [[2, 1]]) and np.all(u[1][u[1] != 0] <= -1e3)
    for mode in ("sum", "max"):
        cfg = spatial_mrf.SpatialConfig(edges=edges, mode=mode, torso_sigma=0.0, output="log")
        lg = np.asarray(spatial_mrf.apply_spatial_model(maps, torso, pri, cfg))
        np.testing.assert_allclose(lg[0], lg[1], atol=1e-5)  # a delta at the same cell: the same result
        unary = np.concatenate([np.moveaxis(np.log(np.clip(maps[0], 0, 1) + cfg.unary_floor), -1, 0),
                                np.where(u[:1] == 0, 0.0, -np.inf)])
        want = _brute_force(unary, pri.astype(np.float64), edges, mode)[:3]
        np.testing.assert_allclose(lg[0], np.moveaxis(want, 0, -1), atol=2e-4)
        pr = np.asarray(spatial_mrf.apply_spatial_model(maps, torso, pri, dataclasses.replace(cfg, output="prob")))
        np.testing.assert_allclose(pr, np.exp(lg), rtol=1e-5, atol=1e-7)


def test_bad_input_raises():
    u = jnp.zeros((3, 4, 4))
    with pytest.raises(InputError):
        spatial_mrf.marginals(u, jnp.zeros((2, 4, 4)), ((0, 1), (1, 2)))  # even kernel
    with pytest.raises(InputError):
        spatial_mrf.marginals(u, jnp.zeros((2, 3, 3)), ((0, 1), (1, 0)))  # cycle, no root
    with pytest.raises(InputError):
        spatial_mrf.marginals(u, jnp.zeros((2, 3, 3)), ((0, 1), (0, 1)))  # node 1 has two parents
    with pytest.raises(InputError):
        spatial_mrf.marginals(u, jnp.zeros((1, 3, 3)), ((0, 1),))  # too few edges
    with pytest.raises(InputError):
        spatial_mrf.apply_spatial_model(jnp.zeros((1, 4, 4, 11)), np.zeros((1, 2)), jnp.zeros((11, 3, 3)),
                              spatial_mrf.SpatialConfig(mode="mean"))
    with pytest.raises(InputError):
        spatial_mrf.offset_priors(np.zeros((2, 3, 2)), np.ones((2, 2), bool), ((2, 0), (0, 1)), 3)


@pytest.mark.parametrize("kernel_size", [(3, 3, 3), (3,), (), 2.5, (3, None), "3", ((3, 3), (3, 3))])
def test_offset_priors_refuse_a_kernel_size_that_is_not_one_or_two_odd_ints(kernel_size):
    pts, vis = np.zeros((2, 3, 2)), np.ones((2, 3), bool)
    with pytest.raises(InputError, match="kernel_size"):
        spatial_mrf.offset_priors(pts, vis, ((2, 0), (0, 1)), kernel_size)
    assert spatial_mrf.offset_priors(pts, vis, ((2, 0), (0, 1)), (3, 5)).shape == (2, 3, 5)


def test_select_peaks_takes_the_refined_cell_and_refines_on_the_heatmap():
    size = 12
    true = np.array([[3.3, 4.0], [8.0, 7.8]], np.float32)  # 2 joints (x, y) cells
    far = np.array([[9.0, 2.0], [1.0, 1.0]], np.float32)
    maps = 0.6 * np.asarray(hm.gaussian_targets(jnp.asarray(true), (size, size), 1.0))
    maps = np.maximum(maps, np.asarray(hm.gaussian_targets(jnp.asarray(far), (size, size), 1.0)))
    refined = np.asarray(hm.gaussian_targets(jnp.asarray(np.round(true)), (size, size), 3.0))  # broad, at the cell
    got = np.asarray(spatial_mrf.select_peaks(jnp.asarray(maps[None]), jnp.asarray(refined[None])))[0]
    np.testing.assert_allclose(got, true, atol=0.1)
    # the refined maps' own arg-max is the cell; the coarse maps' is the distractor
    np.testing.assert_array_equal(np.asarray(hm.argmax_2d(jnp.asarray(maps))), far.astype(int))


def test_marginal_nll_is_differentiable_and_learning_lowers_it():
    import jax

    edges = ((0, 1), (1, 2))
    rng = np.random.default_rng(5)
    u = jnp.asarray(rng.normal(0, 0.3, (4, 3, 5, 5)), jnp.float32)  # nearly flat unaries: the prior matters
    base = np.array([[1, 1], [2, 2], [3, 3]])
    targets = jnp.asarray(np.stack([base + rng.integers(0, 2, (1, 2)) for _ in range(4)]), jnp.int32)
    mask = jnp.ones((4, 3), bool)
    pri = jnp.zeros((2, 5, 5))
    step = jax.jit(jax.value_and_grad(lambda p: spatial_mrf.marginal_nll(p, u, targets, mask, edges)))
    l0, g = step(pri)
    assert np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).max() > 0
    for _ in range(20):
        pri = pri - 2.0 * step(pri)[1]
    assert float(step(pri)[0]) < float(l0) - 0.1


# --- the spatial model in the prediction pipeline (`pose.predict`) ---------------------------------------------

def _flic_tiny_params():
    """A tiny 11-joint cascade whose coarse heat-maps lie inside (0, 1) (bias 0.5 plus noise), so that the
    heat-map unary is strictly monotone in the heat-map (no clipped ties)."""
    import jax

    from convcorr_jax.pose import model as pose_model

    cfg = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4),
                                 context=16, num_joints=11)
    params = pose_model.init(jax.random.PRNGKey(0), cfg)
    fc2 = params["coarse"]["fc2"]
    key = jax.random.PRNGKey(1)
    params["coarse"]["fc2"] = {"bias": jnp.full_like(fc2["bias"], 0.5),
                               "kernel": 0.2 * jax.random.normal(key, fc2["kernel"].shape)}
    images = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    return cfg, params, images


@pytest.mark.slow
def test_predict_with_a_flat_spatial_model_equals_without():
    """Uniform priors over every offset of the map and a flat torso unary: each joint's marginal is its own
    normalised unary, a monotone map of the heat-map, so every spatial read-out equals the plain one; disabled,
    too."""
    from convcorr_jax.pose import model as pose_model
    from convcorr_jax.pose import predict as pose_predict

    cfg, params, images = _flic_tiny_params()
    s = cfg.map_size
    flat = np.zeros((len(spatial_mrf.FLIC_EDGES), 2 * s - 1, 2 * s - 1), np.float32)
    torso = np.full((len(images), 2), (s - 1) / 2, np.float32)
    # the coarse heat-maps jitted: one compilation, not one per operation
    hm = np.asarray(jax.jit(lambda p, x: pose_model.apply_coarse(p, x, cfg)[0])(
        params, images.astype(np.float32) / 255.0))
    assert 0 < hm.min() and hm.max() < 1
    for sc in (spatial_mrf.SpatialConfig(torso_sigma=1e6),
               spatial_mrf.SpatialConfig(mode="max", torso_sigma=1e6, unary_power=2.0),
               spatial_mrf.SpatialConfig(enabled=False)):
        got = pose_predict.predict_crops(params, images, cfg, batch=4,
                                         spatial=pose_predict.SpatialInputs(flat, torso, sc))
        assert set(got) == set(pose_predict.READOUTS + pose_predict.SPATIAL_READOUTS)
        for k in pose_predict.READOUTS:
            np.testing.assert_allclose(got["spatial_" + k], got[k], atol=1e-5, err_msg=f"{sc} {k}")
    plain = pose_predict.predict_crops(params, images, cfg, batch=4)
    assert set(plain) == set(pose_predict.READOUTS)
    for k in pose_predict.READOUTS:
        np.testing.assert_allclose(plain[k], got[k], atol=1e-5)


def test_predict_crops_the_fine_model_at_the_spatially_refined_cells():
    """Delta priors (one offset per edge) and a delta torso put every joint at the torso plus its chain of offsets
    whatever the heat-maps say: spatial_coarse is that cell's centre, and the fine model crops there (the paper's
    order: spatial model before the fine model)."""
    from convcorr_jax.pose import heatmaps as hmap
    from convcorr_jax.pose import model as pose_model
    from convcorr_jax.pose import predict as pose_predict

    cfg, params, images = _flic_tiny_params()
    k = 5
    rng = np.random.default_rng(2)
    offsets = rng.integers(-1, 2, (len(spatial_mrf.FLIC_EDGES), 2))
    pri = np.full((len(spatial_mrf.FLIC_EDGES), k, k), -30.0, np.float32)
    for e, (dx, dy) in enumerate(offsets):
        pri[e, dy + k // 2, dx + k // 2] = 0.0
    torso = np.array([[3, 4], [4, 3], [3, 3], [4, 4], [3, 4]], np.float32)
    cells = np.zeros((len(images), 12, 2))
    cells[:, spatial_mrf.FLIC_TORSO] = torso
    for e, (p, c) in enumerate(spatial_mrf.FLIC_EDGES):  # parents come first in FLIC_EDGES
        cells[:, c] = cells[:, p] + offsets[e]
    want = np.asarray(hmap.map_to_image(cells[:, :11], cfg.pool))
    got = pose_predict.predict_crops(params, images, cfg, batch=4,
                               spatial=pose_predict.SpatialInputs(pri, torso,
                                                                  spatial_mrf.SpatialConfig(torso_sigma=0.0)))
    np.testing.assert_allclose(got["spatial_coarse"], want, atol=1e-5)
    # the cascade at those centres, jitted: one compilation, not one per operation
    fine = jax.jit(lambda p, x, c: pose_model.apply(p, x, cfg, centers=c))(
        params, images.astype(np.float32) / 255.0, want.astype(np.float32))
    np.testing.assert_allclose(got["spatial_cascade"], fine["xy"], atol=1e-4)
    assert not np.allclose(got["spatial_coarse"], got["coarse"])  # the heat-maps alone say otherwise


def test_predict_refuses_bad_spatial_inputs():
    from convcorr_jax.pose import predict as pose_predict

    cfg, params, images = _flic_tiny_params()
    pri = np.zeros((len(spatial_mrf.FLIC_EDGES), 3, 3), np.float32)
    with pytest.raises(InputError, match="torso"):
        pose_predict.predict_crops(params, images, cfg,
                             spatial=pose_predict.SpatialInputs(pri, np.zeros((2, 2)), spatial_mrf.SpatialConfig()))
    with pytest.raises(InputError, match="log_priors"):
        pose_predict.predict_crops(params, images, cfg,
                             spatial=pose_predict.SpatialInputs(pri[:3], np.zeros((5, 2)), spatial_mrf.SpatialConfig()))
    with pytest.raises(InputError, match="mode"):
        pose_predict.predict_crops(params, images, cfg,
                             spatial=pose_predict.SpatialInputs(pri, np.zeros((5, 2)),
                                                                spatial_mrf.SpatialConfig(mode="avg")))
    # values: the spatial model runs inside the jitted read-outs, where it cannot check them; a NaN torso gave finite
    # spatial read-outs at the map's corner (the all-NaN refined maps' arg-max cell), a NaN prior the same
    torso = np.zeros((5, 2))
    torso[3, 1] = np.nan
    with pytest.raises(InputError, match=r"^predict_crops: field 'spatial.torso': expected finite \(x, y\) cells, "
                                         r"got NaN or inf at spatial.torso\[3\]"):
        pose_predict.predict_crops(params, images, cfg,
                             spatial=pose_predict.SpatialInputs(pri, torso, spatial_mrf.SpatialConfig()))
    bad = pri.copy()
    bad[2, 1, 1] = np.nan
    with pytest.raises(InputError, match=r"^predict_crops: field 'spatial.log_priors': .*got 1 NaN or \+inf"):
        pose_predict.predict_crops(params, images, cfg,
                             spatial=pose_predict.SpatialInputs(bad, np.zeros((5, 2)), spatial_mrf.SpatialConfig()))
    bad = pri.copy()
    bad[2] = -np.inf  # an edge that allows no offset: NaN maps in sum mode, an uninformative edge in max mode
    edge = spatial_mrf.SpatialConfig().edges[2]
    with pytest.raises(InputError, match=rf"^predict_crops: field 'spatial.log_priors\[2\]': .*got -inf at every "
                                         rf"offset \(edge \({edge[0]}, {edge[1]}\)\)$"):
        pose_predict.predict_crops(params, images, cfg,
                             spatial=pose_predict.SpatialInputs(bad, np.zeros((5, 2)), spatial_mrf.SpatialConfig()))


def test_priors_from_pixels_are_the_priors_of_the_cells():
    rng = np.random.default_rng(4)
    pts = rng.uniform(0, 64, (30, 11, 2))
    vis = rng.random((30, 11)) < 0.9
    torso = rng.uniform(20, 40, (30, 2))
    got = spatial_mrf.priors_from_pixels(pts, vis, torso, 8, spatial_mrf.FLIC_EDGES, 9, 0.5, 1e-3)
    cells, v = spatial_mrf.with_torso(np.asarray(hm.image_to_map(pts, 8)), vis, np.asarray(hm.image_to_map(torso, 8)))
    np.testing.assert_allclose(got, spatial_mrf.offset_priors(cells, v, spatial_mrf.FLIC_EDGES, 9, 0.5, 1e-3),
                               atol=1e-6)


@pytest.mark.slow
def test_predict_with_the_spatial_model_sharded_over_devices_equals_one_device(tmp_path):
    """The spatial read-outs of `predict(mesh=...)` over 2 forced host devices (batch, torso sharded; priors
    replicated) equal the single-device ones."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tests)!r})
        import numpy as np
        from convcorr_jax.core import parallel
        from convcorr_jax.pose import predict as pose_predict, spatial as spatial_mrf
        from test_spatial import _flic_tiny_params
        cfg, params, images = _flic_tiny_params()
        rng = np.random.default_rng(0)
        pri = rng.normal(0, 1, (len(spatial_mrf.FLIC_EDGES), 5, 5)).astype(np.float32)
        sp = pose_predict.SpatialInputs(pri, rng.uniform(2, 5, (5, 2)).astype(np.float32), \
spatial_mrf.SpatialConfig(mode="max"))
        mesh = parallel.make_mesh()
        assert mesh.devices.size == 2
        a = pose_predict.predict_crops(params, images, cfg, batch=3, spatial=sp)
        b = pose_predict.predict_crops(params, images, cfg, batch=3, spatial=sp, mesh=mesh)
        assert set(a) == set(b) == set(pose_predict.READOUTS + pose_predict.SPATIAL_READOUTS)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], atol=1e-4, err_msg=k)
    """)
    # imported here, not at the top: the subprocess imports this module (test_spatial) and need not load these
    from conftest import xla_flags
    from test_pose_train import python_path

    env = {**os.environ, "XLA_FLAGS": xla_flags(2), "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": python_path(tests.parent)}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


# --- the one spatial config, priors learned from training points, the files saved with a run --------------------

def test_learn_priors_equal_the_hand_counted_histogram_and_priors_from_pixels():
    """`learn_priors` with a config's prior fields: a one-edge tree (torso -> joint) whose offsets in cells are
    counted by hand (no smoothing, no floor: log of the frequencies, -inf elsewhere), and FLIC's tree equal to
    `priors_from_pixels` with the same settings; kernel 0 needs the map's side."""
    stride = 4
    torso_cells = np.array([[3.0, 3.0], [2.0, 4.0], [5.0, 1.0], [3.0, 3.0]])
    offsets = np.array([[1, 0], [1, 0], [-1, 2], [5, 5]])  # (dx, dy) cells; the last outside a 5 x 5 kernel
    joint_cells = torso_cells + offsets
    px = lambda c: np.asarray(hm.map_to_image(c, stride))  # noqa: E731
    cfg = spatial_mrf.SpatialConfig(edges=((1, 0),), kernel=5, prior_sigma=0.0, prior_floor=0.0)
    got = spatial_mrf.learn_priors(px(joint_cells)[:, None], np.ones((4, 1), bool), px(torso_cells), stride, cfg)
    want = np.full((1, 5, 5), -np.inf)
    want[0, 2 + 0, 2 + 1] = np.log(2 / 3)  # [r + dy, r + dx]
    want[0, 2 + 2, 2 - 1] = np.log(1 / 3)
    np.testing.assert_allclose(got, want, atol=1e-6)

    rng = np.random.default_rng(5)
    pts, vis, torso = rng.uniform(0, 64, (40, 11, 2)), rng.random((40, 11)) < 0.8, rng.uniform(24, 40, (40, 2))
    np.testing.assert_array_equal(spatial_mrf.learn_priors(pts, vis, torso, 8, spatial_mrf.FLIC_VALIDATED),
                                  spatial_mrf.priors_from_pixels(pts, vis, torso, 8, spatial_mrf.FLIC_EDGES, 15, 1.0,
                                                                 1e-2))
    whole = spatial_mrf.SpatialConfig()
    assert (spatial_mrf.learn_priors(pts, vis, torso, 8, whole, map_size=8).shape
            == (len(spatial_mrf.FLIC_EDGES), 15, 15))
    with pytest.raises(InputError, match="kernel"):
        spatial_mrf.learn_priors(pts, vis, torso, 8, whole)
    with pytest.raises(InputError, match="kernel"):
        spatial_mrf.learn_priors(pts, vis, torso, 8, spatial_mrf.SpatialConfig(kernel=4))


def test_spatial_config_and_priors_round_trip_through_their_files(tmp_path):
    """`save_model` / `load_spatial_model`: the config (every field, edges as tuples again) and the priors come back
    exactly; a folder without spatial.json has none; a malformed file, an unknown field, missing or mismatched
    priors are InputErrors naming the file."""
    import json

    cfg = dataclasses.replace(spatial_mrf.FLIC_VALIDATED, method="fft", output="log")
    assert spatial_mrf.SpatialConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    pri = np.random.default_rng(0).normal(size=(len(spatial_mrf.FLIC_EDGES), 15, 15)).astype(np.float32)
    assert spatial_mrf.load_spatial_model(tmp_path) is None
    spatial_mrf.save_model(tmp_path, cfg, pri, {"learned_from": "test"})
    got_cfg, got_pri = spatial_mrf.load_spatial_model(tmp_path)
    assert got_cfg == cfg and isinstance(got_cfg.edges[0], tuple) and hash(got_cfg) == hash(cfg)
    np.testing.assert_array_equal(got_pri, pri)
    saved = json.loads((tmp_path / spatial_mrf.CONFIG_FILE).read_text())
    assert saved["priors"] == {"learned_from": "test", "file": spatial_mrf.PRIORS_FILE, "shape": [11, 15, 15]}
    with pytest.raises(InputError, match="log_priors"):
        spatial_mrf.save_model(tmp_path, cfg, pri[:, :9, :9])  # kernel 15
    (tmp_path / spatial_mrf.CONFIG_FILE).write_text(json.dumps({"config": {**cfg.to_dict(), "kernal": 3}}))
    with pytest.raises(InputError, match=f"{spatial_mrf.CONFIG_FILE}.*kernal"):
        spatial_mrf.load_spatial_model(tmp_path)
    (tmp_path / spatial_mrf.CONFIG_FILE).write_text(json.dumps({"config": {"mode": "avg"}}))
    with pytest.raises(InputError, match="mode"):
        spatial_mrf.load_spatial_model(tmp_path)
    (tmp_path / spatial_mrf.CONFIG_FILE).write_text("{")
    with pytest.raises(InputError, match=spatial_mrf.CONFIG_FILE):
        spatial_mrf.load_spatial_model(tmp_path)
    spatial_mrf.save_model(tmp_path, cfg, pri)
    np.save(tmp_path / spatial_mrf.PRIORS_FILE, pri[:3])
    with pytest.raises(InputError, match=spatial_mrf.PRIORS_FILE):
        spatial_mrf.load_spatial_model(tmp_path)
    (tmp_path / spatial_mrf.PRIORS_FILE).unlink()
    with pytest.raises(InputError, match="missing file"):
        spatial_mrf.load_spatial_model(tmp_path)


def test_load_spatial_model_refuses_a_priors_file_holding_nan_inf_or_a_kernel_impossible_everywhere(tmp_path):
    """A priors file holding NaN or +inf (or a float64 value beyond float32's range, +inf once loaded) was loaded
    and only refused where the priors were used (or, inside a jit, made every map NaN); a kernel -inf at every
    offset the same in sum mode, and in max mode its edge was silently uninformative. Refused on loading, naming the
    file and the field; `save_model` refuses to write them. -inf at some offsets (impossible ones) loads."""
    cfg = dataclasses.replace(spatial_mrf.FLIC_VALIDATED, kernel=5)
    pri = np.random.default_rng(1).normal(size=(len(cfg.edges), 5, 5)).astype(np.float32)
    spatial_mrf.save_model(tmp_path, cfg, pri)
    path = tmp_path / spatial_mrf.PRIORS_FILE
    ok = pri.copy()
    ok[3, 0, :] = -np.inf
    np.save(path, ok)
    np.testing.assert_array_equal(spatial_mrf.load_spatial_model(tmp_path)[1], ok)
    for v, dtype in ((np.nan, np.float32), (np.inf, np.float32), (1e300, np.float64)):
        bad = pri.astype(dtype)
        bad[3, 1, 2] = v
        np.save(path, bad)
        with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: field 'log_priors': expected "
                                             r"log-probabilities, -inf allowed \(no NaN or \+inf\), got 1 NaN or "
                                             r"\+inf entries$"):
            spatial_mrf.load_spatial_model(tmp_path)
        if dtype == np.float32:
            with pytest.raises(InputError, match="log_priors"):
                spatial_mrf.save_model(tmp_path, cfg, bad)
    bad = pri.copy()
    bad[3] = -np.inf
    np.save(path, bad)
    edge = cfg.edges[3]
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: field 'log_priors\[3\]': .*got -inf at every "
                                         rf"offset \(edge \({edge[0]}, {edge[1]}\)\)$"):
        spatial_mrf.load_spatial_model(tmp_path)
    with pytest.raises(InputError, match=r"log_priors\[3\]"):
        spatial_mrf.save_model(tmp_path, cfg, bad)


def test_offset_priors_with_floor_0_give_every_edge_a_possible_offset():
    """With floor 0 an edge still has a possible offset: one without visible pairs, or whose offsets all fall
    outside the kernel, gets the uniform kernel whatever sigma (not smoothed: smoothing the uniform kernel with zeros
    outside it would peak it at the centre); one with data its (smoothed) frequencies. So learned priors never hold a
    kernel -inf everywhere, which `check_log_priors` refuses."""
    rng = np.random.default_rng(2)
    pts, vis = rng.uniform(0, 10, (6, 4, 2)), np.ones((6, 4), bool)
    vis[:, 2] = False  # edge (0, 2): no visible pair
    pts[:, 3] = pts[:, 0] + 20  # edge (0, 3): every offset outside the kernel
    for sigma in (0.0, 1.0):
        lp = spatial_mrf.offset_priors(pts, vis, ((0, 1), (0, 2), (0, 3)), 5, sigma=sigma, floor=0.0)
        np.testing.assert_allclose(lp[1:], np.log(1 / 25), rtol=1e-6, err_msg=f"sigma {sigma}")
        assert np.any(np.isfinite(lp[0]))
        spatial_mrf.inference.check_log_priors(lp, "test", "log_priors")


def test_peak_at_reads_the_heatmap_at_the_selected_cell_clipped_to_0_1():
    """A read-out's confidence is the heat-map at the cell `select` picks, clipped to [0, 1] (1.7 -> 1, a map whose
    maximum is -0.2 -> 0; joint 2 read at the selected cell, 0.4, not at its own maximum, 0.9)."""
    from convcorr_jax.pose import predict as pose_predict

    maps = np.zeros((1, 3, 4, 3), np.float32)
    maps[0, 1, 2, 0] = 1.7
    maps[0, :, :, 1] = -0.3
    maps[0, 2, 3, 1] = -0.2
    maps[0, 0, 1, 2], maps[0, 2, 0, 2] = 0.9, 0.4
    select = maps.copy()
    select[0, 2, 0, 2] = 5.0
    got = np.asarray(pose_predict._peak_at(jnp.asarray(maps), jnp.asarray(select)))
    np.testing.assert_allclose(got, [[1.0, 0.0, 0.4]], rtol=1e-6)


def test_peak_at_skips_nan_cells_of_select_like_argmax_2d():
    """The confidence is read at the cell the point read-outs take: `heatmaps.argmax_2d` never picks a NaN cell; a
    NaN cell of select made jnp.argmax read the heat-map there instead (NaN, or a value at another cell)."""
    from convcorr_jax.pose import predict as pose_predict

    maps = np.zeros((1, 3, 4, 2), np.float32)
    maps[0, 1, 2, 0], maps[0, 0, 0, 0] = 0.8, 0.3
    maps[0, 2, 1, 1] = 0.6
    select = maps.copy()
    select[0, 0, 0, 0] = np.nan  # joint 0: a NaN cell elsewhere than its maximum
    select[0, :, :, 1] = np.nan  # joint 1: all NaN, argmax_2d's (0, 0)
    cells = np.asarray(hm.argmax_2d(jnp.asarray(select)))[0]
    np.testing.assert_array_equal(cells, [[2, 1], [0, 0]])
    got = np.asarray(pose_predict._peak_at(jnp.asarray(maps), jnp.asarray(select)))
    np.testing.assert_allclose(got, [[0.8, 0.0]], rtol=1e-6)


def _nan_case():
    """A 3-joint chain below the torso (node 3) on a 5 x 6 map, with log-priors over 3 x 3 offsets."""
    rng = np.random.default_rng(4)
    edges = ((3, 0), (0, 1), (1, 2))
    maps = rng.uniform(0, 1, (2, 5, 6, 3)).astype(np.float32)
    torso = np.array([[2.0, 2.0], [3.0, 1.0]], np.float32)
    return edges, maps, torso, np.log(rng.uniform(0.1, 1, (3, 3, 3))).astype(np.float32)


@pytest.mark.parametrize("mode", spatial_mrf.MODES)
def test_apply_spatial_model_refuses_non_finite_values(mode):
    """A NaN heat-map cell made every joint's map NaN (both modes), +-inf cells were read as 1 and 0 (the clip), a
    NaN torso with torso_sigma 0 conditioned nothing (finite, wrong maps), a NaN or +inf log-prior made every map
    NaN: refused on concrete arrays, naming the field; a -inf log-prior (an impossible offset) is allowed."""
    edges, maps, torso, pri = _nan_case()
    for sigma in (0.0, 0.5):
        cfg = spatial_mrf.SpatialConfig(edges=edges, mode=mode, torso_sigma=sigma)
        for v in (np.nan, np.inf, -np.inf):
            bad = maps.copy()
            bad[1, 2, 3, 1] = v
            with pytest.raises(InputError, match=r"^apply_spatial_model: field 'heatmaps': expected finite numbers "
                                                 r"\(no NaN/inf\), got 1 non-finite entries$"):
                spatial_mrf.apply_spatial_model(bad, torso, pri, cfg)
            t = torso.copy()
            t[1, 0] = v
            with pytest.raises(InputError, match=r"^apply_spatial_model: field 'torso': expected finite \(x, y\) "
                                                 r"cells, got NaN or inf at torso\[1\]"):
                spatial_mrf.apply_spatial_model(maps, t, pri, cfg)
        for v in (np.nan, np.inf):
            p = pri.copy()
            p[1, 0, 2] = v
            with pytest.raises(InputError, match=r"^apply_spatial_model: field 'log_priors': expected "
                                                 r"log-probabilities, -inf allowed \(no NaN or \+inf\), got 1 NaN"):
                spatial_mrf.apply_spatial_model(maps, torso, p, cfg)
        p = pri.copy()
        p[1, 0, 2] = -np.inf
        assert np.all(np.isfinite(np.asarray(spatial_mrf.apply_spatial_model(maps, torso, p, cfg))))
        p[1] = -np.inf  # edge (0, 1) allows no offset: every map NaN in sum mode, the edge ignored in max mode
        with pytest.raises(InputError, match=r"^apply_spatial_model: field 'log_priors\[1\]': expected a kernel with "
                                             r"at least one possible offset \(not -inf everywhere\), got -inf at "
                                             r"every offset \(edge \(0, 1\)\)$"):
            spatial_mrf.apply_spatial_model(maps, torso, p, cfg)
        p[2] = -np.inf
        with pytest.raises(InputError, match=r"'log_priors\[1\]'.*\(edge \(0, 1\)\); 2 such kernels$"):
            spatial_mrf.apply_spatial_model(maps, torso, p, cfg)


@pytest.mark.parametrize("mode", spatial_mrf.MODES)
def test_spatial_model_inside_jit_gives_nan_for_nan_and_the_readouts_no_point(mode):
    """Inside a caller's jit the values are not checked: a NaN heat-map cell or torso coordinate (torso_sigma 0 and
    > 0) gives NaN maps for every joint, which `select_peaks` reads as no point (NaN); +-inf heat-map cells read as
    1 and 0. A NaN torso with torso_sigma 0 was ignored (finite maps, conditioned on nothing)."""
    edges, maps, torso, pri = _nan_case()
    for sigma in (0.0, 0.5):
        cfg = spatial_mrf.SpatialConfig(edges=edges, mode=mode, torso_sigma=sigma)
        run = jax.jit(lambda h, t: spatial_mrf.apply_spatial_model(h, t, pri, cfg))  # noqa: B023
        bad, t = maps.copy(), torso.copy()
        bad[1, 2, 3, 1], t[0, 1] = np.nan, np.nan
        for h, tt in ((bad, torso), (maps, t)):
            out = np.asarray(run(h, tt))
            nan_item = 1 if h is bad else 0
            assert np.all(np.isnan(out[nan_item])) and np.all(np.isfinite(out[1 - nan_item]))
            pts = np.asarray(spatial_mrf.select_peaks(jnp.asarray(h), jnp.asarray(out)))
            assert np.all(np.isnan(pts[nan_item])) and np.all(np.isfinite(pts[1 - nan_item]))
        inf = maps.copy()
        inf[0, 1, 1, 0], inf[0, 3, 4, 2] = np.inf, -np.inf
        clipped = np.clip(inf, 0, 1)
        np.testing.assert_array_equal(np.asarray(run(inf, torso)), np.asarray(run(clipped, torso)))


def test_prior_settings_share_one_compiled_predict_and_peaks_are_the_heatmap_maxima():
    """Configs that differ only in how their priors were learned map to one inference config (one compilation
    of `_make_readouts`); `predict(peaks=True)`'s "peak" is each coarse heat-map's maximum, and with a flat model
    "spatial_peak" equals it."""
    import jax.numpy as jnp

    from convcorr_jax.pose import model as pose_model
    from convcorr_jax.pose import predict as pose_predict

    a = dataclasses.replace(spatial_mrf.FLIC_VALIDATED, kernel=9, prior_sigma=0.0, prior_floor=0.1)
    assert a.inference() == spatial_mrf.FLIC_VALIDATED.inference() and a != spatial_mrf.FLIC_VALIDATED
    cfg, params, images = _flic_tiny_params()
    s = cfg.map_size
    flat = np.zeros((len(spatial_mrf.FLIC_EDGES), 2 * s - 1, 2 * s - 1), np.float32)
    torso = np.full((len(images), 2), (s - 1) / 2, np.float32)
    got = pose_predict.predict_crops(params, images, cfg, batch=4, peaks=True,
                    spatial=pose_predict.SpatialInputs(flat, torso, spatial_mrf.SpatialConfig(torso_sigma=1e6)))
    # the coarse heat-maps jitted: one compilation, not one per operation
    hmaps = np.asarray(jax.jit(lambda p, x: pose_model.apply_coarse(p, x, cfg)[0])(
        params, jnp.asarray(images, jnp.float32) / 255.0))
    np.testing.assert_allclose(got["peak"], hmaps.max(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(got["spatial_peak"], got["peak"], atol=1e-6)
    plain = pose_predict.predict_crops(params, images, cfg, batch=4, peaks=True)
    assert set(plain) == set(pose_predict.READOUTS) | {"peak"}


def test_fit_priors_recovers_offset():
    """Heat-maps with two equal peaks per image, the joint's (always at torso + (3, -2) cells) and a distractor
    anywhere: from uniform priors, fitting the prior on the marginals learns the offset, and the fitted prior then
    picks the true peak."""
    rng = np.random.default_rng(0)
    n, size, offset = 48, 12, np.array([3, -2])
    torso = rng.integers(3, 8, (n, 2)).astype(np.float32) + [0, 2]
    joint = torso + offset
    distractor = rng.integers(0, size, (n, 2)).astype(np.float32)
    peaks = np.stack([hm.gaussian_targets(jnp.asarray(np.stack([j, d])), (size, size), 0.7)
                      for j, d in zip(joint, distractor)])  # [N, H, W, 2]
    maps = np.asarray(peaks.max(-1, keepdims=True))  # one joint, two peaks
    cfg = spatial_mrf.SpatialConfig(edges=((1, 0),), kernel=9, mode="sum", unary_power=1.0, torso_sigma=0.5)
    flat = np.full((1, 9, 9), -np.log(81.0), np.float32)
    fitted = spatial_mrf.fit_priors(flat, maps, torso, joint[:, None], np.ones((n, 1), bool), cfg, steps=60, lr=0.2,
                                    batch=16)
    assert fitted.shape == (1, 9, 9)
    np.testing.assert_allclose(np.exp(fitted).sum(), 1.0, rtol=1e-4)
    r = 4
    assert np.unravel_index(np.argmax(fitted[0]), (9, 9)) == (r + offset[1], r + offset[0])
    assert np.exp(fitted[0, r + offset[1], r + offset[0]]) > 0.3  # from 1/81
    # with the fitted prior the spatial model prefers the joint's peak over the distractor
    refined = np.asarray(spatial_mrf.apply_spatial_model(jnp.asarray(maps), jnp.asarray(torso), jnp.asarray(fitted),
                                                         cfg))
    am = np.asarray(hm.argmax_2d(jnp.asarray(refined)))[:, 0]
    assert np.mean(np.all(am == joint, -1)) > 0.95
    with pytest.raises(InputError, match="log_priors"):
        spatial_mrf.fit_priors(np.concatenate([flat, flat]), maps, torso, joint[:, None], np.ones((n, 1), bool), cfg)
