"""The library's array functions inside a user's own `jax.jit`, `jax.vmap` and `jax.grad` (docs/library.md, "Inside
your own jit"): each traced call gives the eager result. One jit (and one vmap) per module's functions together, on
tiny arrays, so that the file compiles a few small programs only."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax import backbones
from convcorr_jax.backbones import receptive_field as rfield
from convcorr_jax.core import geometry
from convcorr_jax.correspondence import carry, hough, matching, optimal_transport as ot
from convcorr_jax.features import columns
from convcorr_jax.flow import bp_solver, cost_volume, distance_transform as dt, warp
from convcorr_jax.pose import heatmaps, model as pose_model

RNG = np.random.default_rng(0)


def _f32(*shape, scale: float = 1.0, low: float | None = None) -> jax.Array:
    """Random float32 [shape]: normal times scale, or uniform in [low, low + scale)."""
    x = RNG.standard_normal(shape) * scale if low is None else RNG.uniform(low, low + scale, shape)
    return jnp.asarray(x, jnp.float32)


def _close(eager, traced, atol: float = 1e-5) -> None:
    """Every leaf of `traced` equals `eager`'s (NaN where NaN), to float32 rounding (a host float64 result against
    the traced float32 one: to float32's)."""
    e, t = jax.tree.leaves(eager), jax.tree.leaves(traced)
    assert len(e) == len(t)
    for a, b in zip(e, t):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        np.testing.assert_allclose(b.astype(np.float64), a.astype(np.float64), rtol=1e-5, atol=atol, equal_nan=True)


def _jit_and_vmap(fn, *args, vmap: bool = True, atol: float = 1e-5) -> None:
    """fn(*args) under jax.jit equals it eagerly; under jax.vmap over a leading axis of two (the second item
    perturbed), each item equals its own unbatched call."""
    jitted = jax.jit(fn)
    _close(fn(*args), jitted(*args), atol)
    if vmap:
        other = tuple(a + 0.25 if jnp.issubdtype(a.dtype, jnp.floating) else a for a in args)
        batched = jax.jit(jax.vmap(fn))(*(jnp.stack([a, b]) for a, b in zip(args, other)))
        for i, item in enumerate((args, other)):
            _close(jitted(*item), jax.tree.map(lambda x: x[i], batched), atol)  # noqa: B023


def test_geometry_maps_boxes_and_crops_trace():
    """The affine maps, boxes and crops ran host numpy on any input: a TracerArrayConversionError inside jit."""
    def all_of(boxes, centres, sides, points, images):
        M = geometry.box_to_affine(boxes, (6, 5))
        Minv = geometry.invert_affine(M)
        return (M, Minv, geometry.compose_affine(Minv, M), geometry.transform_points(points, M),
                geometry.square_box(centres, sides), geometry.points_box(points),
                geometry.crop(images, M[:1], (6, 5), border="edge"))

    boxes = jnp.asarray([[1.0, 2.0, 6.0, 8.0], [0.0, 0.0, 4.0, 3.0]])
    _jit_and_vmap(all_of, boxes, _f32(3, 2, scale=9, low=0), _f32(3, scale=3, low=1), _f32(4, 2, scale=9, low=0),
                  _f32(1, 10, 9, 3, scale=255, low=0), atol=1e-4)


def test_geometry_on_concrete_arrays_stays_float64_numpy():
    """Outside a trace the maps are float64 numpy as before, for numpy and concrete jax input alike."""
    for boxes in (np.array([1.0, 2.0, 6.0, 8.0]), jnp.asarray([1.0, 2.0, 6.0, 8.0])):
        M = geometry.box_to_affine(boxes, 4)
        assert isinstance(M, np.ndarray) and M.dtype == np.float64
        assert isinstance(geometry.invert_affine(M), np.ndarray)


def test_receptive_field_point_maps_and_columns_at_points_trace():
    """pixel_to_grid, nearest_column and columns_at_points ran host numpy: a TracerArrayConversionError in jit."""
    rf = rfield.RF(10, 4, 1.5)
    _jit_and_vmap(lambda p, grid: (rfield.pixel_to_grid(rf, p), rfield.nearest_column(rf, p, (3, 4)),
                                   columns.columns_at_points(grid, rf, p)),
                  _f32(5, 2, scale=20, low=-3), _f32(3, 4, 2))


def test_warp_and_heatmaps_trace():
    def all_of(image, flow, points, maps):
        cells = heatmaps.image_to_map(points, 4.0)
        return (warp.bilinear_sample(image, points[:, 0], points[:, 1]), warp.warp_image(image, flow),
                warp.carry_points(points, flow), cells, heatmaps.map_to_image(cells, 4.0),
                heatmaps.gaussian_targets(cells, (3, 3)), heatmaps.argmax_2d(maps), heatmaps.subpixel_argmax(maps))

    _jit_and_vmap(all_of, _f32(6, 6, 3), _f32(6, 6, 2), _f32(4, 2, scale=5, low=0), _f32(5, 5, 3))


def test_matching_transport_hough_and_carry_trace():
    src, trg = _f32(5, 2, scale=15, low=0), _f32(6, 2, scale=15, low=0)
    config = matching.MatchConfig(scorer="ot_rhm")

    def all_of(fs, ft, weights, points):
        sim = jnp.abs(fs @ ft.T) / 4
        mu, nu = ot.marginal(weights), jnp.full(6, 1 / 6)
        conf = matching.match(fs, ft, src, trg, (16, 16), (16, 16), config, src_weights=weights)
        best = jnp.argmax(conf, 1)
        return (ot.sinkhorn_log(1 - sim, mu, nu, 0.1, 3), ot.ot_scores(sim, mu, nu), conf,
                hough.rhm(sim, src, trg, (16, 16), (16, 16)), matching.soft_mutual(conf),
                carry.transfer_keypoints(best, src, trg, points, 4.0, trim=3.0, scale_clip=2.0),
                carry.spread_ratio(src, trg[best], jnp.ones(5, bool), 2.0),
                carry.cycle_consistent(best, jnp.argmax(conf, 0), src, 2.0))

    _jit_and_vmap(all_of, _f32(5, 4), _f32(6, 4), _f32(5, scale=1, low=0.1), _f32(3, 2, scale=15, low=0))
    fs, ft = _f32(1, 5, 4), _f32(1, 6, 4)
    _close(matching.match_best(fs, ft, src, trg, (16, 16), (16, 16)),
           jax.jit(lambda a, b: matching.match_best(a, b, src, trg, (16, 16), (16, 16)))(fs, ft))


def test_flow_distance_transforms_cost_volumes_and_bp_trace():
    def all_of(f, fs, ft, weight):
        return (dt.dt1d(f, weight), cost_volume.cost_volume(fs, ft, (1, 1)),
                cost_volume.target_cost(fs, ft), bp_solver.solve(cost_volume.target_cost(fs, ft), weight, iters=1,
                                                                 levels=1, targets=True).labels)

    _jit_and_vmap(all_of, _f32(3, 7), _f32(3, 3, 2), _f32(3, 3, 2), jnp.float32(0.5))


class _TinyCNN(nn.Module):
    """Two 3 x 3 convolutions, each followed by a 2 x 2 max pool: taps c1 (stride 2) and c2 (stride 4)."""

    @nn.compact
    def __call__(self, x):
        c1 = nn.max_pool(nn.relu(nn.Conv(4, (3, 3))(x)), (2, 2), (2, 2))
        return {"c1": c1, "c2": nn.max_pool(nn.relu(nn.Conv(8, (3, 3))(c1)), (2, 2), (2, 2))}


@pytest.fixture(scope="module")
def tiny_backbone():
    params = _TinyCNN().init(jax.random.key(0), np.zeros((1, 16, 16, 3), np.float32))
    bb = backbones.register("test_traceable_cnn", _TinyCNN(), params, taps={"c1": (4, 2, 0.5), "c2": (10, 4, 1.5)},
                            input_size=(16, 16), replace=True)
    yield bb, params
    backbones.unregister("test_traceable_cnn")


def test_backbone_apply_traces_and_differentiates(tiny_backbone):
    """`Backbone.apply` inside jit, vmap and grad (its eager call compiles with other CPU kernels: rounding)."""
    bb, params = tiny_backbone
    x = _f32(1, 16, 16, 3)
    _jit_and_vmap(lambda x: bb.apply(params, x, taps=("c1", "c2")), x, atol=1e-4)
    grad = jax.grad(lambda x: jnp.sum(bb.apply(params, x, taps=("c2",))["c2"]))(x)
    assert grad.shape == x.shape and bool(jnp.all(jnp.isfinite(grad))) and bool(jnp.any(grad != 0))


def test_pose_network_traces():
    cfg = pose_model.ModelConfig(num_joints=2, image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8,
                                 fine=(4, 4, 4, 4), context=16)
    params = pose_model.init(jax.random.key(0), cfg)
    _jit_and_vmap(lambda im: pose_model.apply(params, im, cfg)["xy"], _f32(1, 32, 32, 3, scale=1, low=0),
                  vmap=False, atol=1e-4)


def test_grad_through_warps_transport_geometry_and_readout():
    """jax.grad of a loss composed of the differentiable pieces: finite, and not all zero."""
    def loss(flow, sim, M):
        image = jnp.arange(48.0).reshape(4, 4, 3)
        warped = warp.warp_image(image, flow)
        plan = ot.sinkhorn_log(1 - sim, jnp.full(3, 1 / 3), jnp.full(4, 1 / 4), 0.1, 2)
        pts = geometry.transform_points(jnp.ones((2, 2)), geometry.invert_affine(M))
        peak = heatmaps.subpixel_argmax(jnp.exp(-jnp.square(warped - 20.0)))
        return jnp.sum(warped) + jnp.sum(plan * sim) + jnp.sum(pts) + jnp.sum(peak)

    M = jnp.asarray([[2.0, 0.1, 1.0], [0.0, 1.5, -2.0]])
    grads = jax.grad(loss, argnums=(0, 1, 2))(_f32(4, 4, 2, scale=0.3), _f32(3, 4, scale=1, low=0), M)
    for g in grads:
        assert bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0))
