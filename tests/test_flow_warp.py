"""Dense flow interpolation, warping and keypoint transfer through a flow."""

import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.flow import warp


def _grid(h, w, stride=8, offset=3.0):
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    return np.stack([offset + stride * cols, offset + stride * rows], -1).astype(np.float32)


def test_spline_and_bilinear_reproduce_affine_flow():
    g = _grid(5, 6)
    flow = np.stack([0.5 * g[..., 0] - 0.2 * g[..., 1] + 3, 0.1 * g[..., 0] + 2], -1)
    out_hw = (40, 48)
    yy, xx = np.mgrid[0 : out_hw[0], 0 : out_hw[1]].astype(np.float64)
    xc, yc = np.clip(xx, 3, 43), np.clip(yy, 3, 35)  # constant beyond the grid's span
    ref = np.stack([0.5 * xc - 0.2 * yc + 3, 0.1 * xc + 2], -1)
    np.testing.assert_allclose(warp.dense_flow_spline(flow, g, out_hw), ref, atol=1e-4)
    np.testing.assert_allclose(np.asarray(warp._dense_flow_bilinear(flow, g, out_hw)), ref, atol=1e-4)


def test_warp_image_constant_shift():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 255, size=(20, 24, 3)).astype(np.float32)
    dense = np.zeros((20, 24, 2), np.float32)
    dense[..., 0], dense[..., 1] = 3, -2
    out = np.asarray(warp.warp_image(target, dense))
    np.testing.assert_allclose(out[2:, :21], target[:-2, 3:], atol=1e-4)


def test_carry_points_inverts_flow():
    dense = np.zeros((30, 30, 2), np.float32)
    dense[..., 0], dense[..., 1] = 4, 1  # source p corresponds to target p + (4, 1)
    pts = np.array([[10.0, 12.0], [25.0, 5.0], [np.nan, np.nan]], np.float32)
    out = np.asarray(warp.carry_points(pts, dense))
    np.testing.assert_array_equal(out[:2], [[6.0, 11.0], [21.0, 4.0]])
    assert np.all(np.isnan(out[2]))


def test_carry_points_through_a_flow_with_no_finite_pixel_gives_nan_not_pixel_0_0():
    """NaN flow pixels have no flowed position: with none finite there is no nearest pixel, so every point is NaN
    (it was (0, 0), a real pixel); a partly NaN flow still carries through its finite pixels."""
    dense = np.full((6, 7, 2), np.nan, np.float32)
    pts = np.array([[3.0, 2.0], [0.0, 0.0]], np.float32)
    assert np.all(np.isnan(np.asarray(warp.carry_points(pts, dense))))
    dense[4, 5] = (1.0, -1.0)  # pixel (5, 4) lands on (6, 3)
    np.testing.assert_array_equal(np.asarray(warp.carry_points(pts, dense)), [[5.0, 4.0], [5.0, 4.0]])
    assert np.all(np.isnan(np.asarray(warp.carry_points(np.array([[np.inf, 1.0]], np.float32), dense))))


def test_bilinear_warp_matches_scipy_map_coordinates():
    """warp_image and bilinear_sample are scipy's order-1 map_coordinates with the coordinates clamped to the image,
    on images of one row or column too."""
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(4)
    for h, w in ((9, 11), (1, 6), (6, 1), (2, 2)):
        img = rng.normal(size=(h, w, 2)).astype(np.float32)
        x, y = rng.uniform(-2, w + 1, size=(4, 5)), rng.uniform(-2, h + 1, size=(4, 5))
        ref = np.stack([map_coordinates(img[..., c], [np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)], order=1)
                        for c in range(2)], -1)
        np.testing.assert_allclose(np.asarray(warp.bilinear_sample(img, x, y)), ref, atol=1e-5)
    flow = rng.normal(scale=3, size=(9, 11, 2)).astype(np.float32)
    yy, xx = np.mgrid[0:9, 0:11]
    ref = np.stack([map_coordinates(img[..., c], [yy + flow[..., 1], xx + flow[..., 0]], order=1, mode="nearest")
                    for c in range(2)], -1)
    np.testing.assert_allclose(np.asarray(warp.warp_image(img, flow)), ref, atol=1e-5)


def test_warp_and_carry_refuse_arrays_of_the_wrong_shape():
    img, flow = np.zeros((9, 11, 3), np.float32), np.zeros((9, 11, 2), np.float32)
    for target, dense, field in ((img, np.zeros((9, 11, 3)), "dense_flow"), (img, np.zeros((9, 11)), "dense_flow"),
                                 (np.zeros((9, 11)), flow, "target"), (np.zeros((0, 11, 3)), flow, "target")):
        with pytest.raises(InputError, match=f"warp_image: field '{field}'"):
            warp.warp_image(target, dense)
    for pts, dense, field in ((np.zeros((3, 2)), np.zeros((4, 5, 3)), "dense_flow"),
                              (np.zeros((3, 2)), np.zeros((0, 5, 2)), "dense_flow"),
                              (np.zeros((3, 3)), flow, "points")):
        with pytest.raises(InputError, match=f"carry_points: field '{field}'"):
            warp.carry_points(pts, dense)


def test_warp_and_carry_take_lists_as_the_arrays_they_hold():
    """Points [[x, y], ...] and a flow or image as nested lists give what the arrays give (a list reached the jitted
    function as a pytree of scalars: TracerArrayConversionError); points of text: one InputError naming them."""
    rng = np.random.default_rng(3)
    img, flow = rng.uniform(0, 255, (6, 7, 3)).astype(np.float32), rng.uniform(-2, 2, (6, 7, 2)).astype(np.float32)
    pts = [[1.0, 2.0], [4.5, 3.0]]
    np.testing.assert_array_equal(warp.warp_image(img.tolist(), flow.tolist()), warp.warp_image(img, flow))
    np.testing.assert_array_equal(warp.carry_points(pts, flow.tolist()), warp.carry_points(np.asarray(pts), flow))
    with pytest.raises(InputError, match="carry_points: field 'points': expected a int or float array"):
        warp.carry_points([["a", "b"]], flow)


def test_warp_image_of_a_target_of_another_size_matches_map_coordinates():
    """A target smaller in one axis and larger in the other than the flow: the output has the flow's size and samples
    the target's own pixels at p + flow(p), clamped to the target's border (scipy, order 1, coordinates clipped)."""
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(5)
    target = rng.normal(size=(7, 15, 3)).astype(np.float32)
    flow = rng.normal(scale=4, size=(9, 11, 2)).astype(np.float32)
    yy, xx = np.mgrid[0:9, 0:11]
    y, x = np.clip(yy + flow[..., 1], 0, 6), np.clip(xx + flow[..., 0], 0, 14)
    ref = np.stack([map_coordinates(target[..., c], [y, x], order=1) for c in range(3)], -1)
    out = np.asarray(warp.warp_image(target, flow))
    assert out.shape == (9, 11, 3)
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("out_hw", [(0, 5), (5, 0), (-1, 5), (2.5, 3), (True, 4), (4,), "ab", None])
def test_dense_flow_refuses_a_bad_out_hw(out_hw):
    g, flow = _grid(3, 3), np.zeros((3, 3, 2), np.float32)
    for fn in (warp.dense_flow_spline, warp._dense_flow_bilinear):
        with pytest.raises(InputError, match="out_hw"):
            fn(flow, g, out_hw)
    assert warp.dense_flow_spline(flow, g, (np.int64(4), 5)).shape == (4, 5, 2)


def test_bilinear_dense_flow_is_one_program_compiled_once_per_shape(count_compiles):
    """The bilinear dense flow runs as one jitted program with static shapes: its first call at a new (grid, out_hw)
    shape compiles that one program, later calls at those shapes (other flows, other grid positions) compile
    nothing; the result is the eager op-by-op sampling at the same fractional nodes to float32 rounding (XLA's fused
    arithmetic may differ in the last bits: within 4 ulp of the largest |flow|)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    out_hw = (37, 53)  # shapes no other test uses, so that nothing is compiled already
    with count_compiles() as first:
        warp._dense_flow_bilinear(rng.normal(size=(5, 7, 2)).astype(np.float32), _grid(5, 7), out_hw)
    assert first[0] == 1
    for offset in (1.5, 4.25):
        g = _grid(5, 7, stride=7.3, offset=offset)
        flow = rng.normal(scale=6, size=(5, 7, 2)).astype(np.float32)
        with count_compiles() as again:
            out = np.asarray(warp._dense_flow_bilinear(flow, g, out_hw))
        assert again[0] == 0
        fx = np.interp(np.arange(53), g[0, :, 0].astype(np.float64), np.arange(7))
        fy = np.interp(np.arange(37), g[:, 0, 1].astype(np.float64), np.arange(5))
        eager = np.asarray(warp.bilinear_sample(jnp.asarray(flow), jnp.asarray(fx, jnp.float32)[None, :],
                                                jnp.asarray(fy, jnp.float32)[:, None]))
        assert out.shape == (37, 53, 2) and out.dtype == np.float32
        np.testing.assert_array_less(np.abs(out - eager), 4 * np.spacing(np.abs(flow).max()) + 1e-30)


def test_bilinear_dense_flow_refuses_a_flow_unlike_the_grid():
    """A flow whose grid is not grid_xy's is one InputError naming the flow (it was sampled at clamped indices)."""
    g = _grid(3, 4)
    for flow in (np.zeros((3, 5, 2), np.float32), np.zeros((4, 3, 2), np.float32), np.zeros((3, 4), np.float32)):
        with pytest.raises(InputError, match="dense_flow_bilinear: field 'flow'"):
            warp._dense_flow_bilinear(flow, g, (20, 24))


def test_one_jitted_bilinear_sampling_gives_the_former_wrappers_bits():
    """The dense bilinear flow and frame_transfer's flow at points share `bilinear_sample_jit` (they were two jitted
    wrappers of `bilinear_sample`, a grid one and a point one): bit for bit what the former two gave, on random
    flows at random positions, on the border, just inside and outside it, and far outside."""
    import jax
    import jax.numpy as jnp

    from convcorr_jax.core.parallel import pad_rows, pow2_ceil
    from convcorr_jax.correspondence.frame_transfer import _flow_at_points
    from convcorr_jax.correspondence.frames import grid_coordinates

    former_grid = jax.jit(lambda f, fx, fy: warp.bilinear_sample(jnp.asarray(f, jnp.float32), fx[None, :], fy[:, None]))
    former_points = jax.jit(warp.bilinear_sample)
    rng = np.random.default_rng(11)
    h, w = 6, 9
    flow = rng.normal(scale=5, size=(h, w, 2)).astype(np.float32)
    edges = [0, w - 1, h - 1, -1e-3, 1e-3, w - 1 - 1e-3, w - 1 + 1e-3, h - 1 + 1e-3, -7.5, 30]
    fx = np.concatenate([rng.uniform(-2, w + 1, 40), edges]).astype(np.float32)
    fy = np.concatenate([rng.uniform(-2, h + 1, 40), edges[::-1]]).astype(np.float32)
    got = np.asarray(warp.bilinear_sample_jit(flow, fx[None, :], fy[:, None]))
    np.testing.assert_array_equal(got, np.asarray(former_grid(flow, fx, fy)))
    np.testing.assert_array_equal(np.asarray(warp.bilinear_sample_jit(flow, fx, fy)),
                                  np.asarray(former_points(flow, fx, fy)))

    g = _grid(h, w, stride=7.3, offset=2.5)  # through the two callers
    out_hw = (50, 70)
    gx = np.interp(np.arange(70), g[0, :, 0].astype(np.float64), np.arange(w)).astype(np.float32)
    gy = np.interp(np.arange(50), g[:, 0, 1].astype(np.float64), np.arange(h)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(warp._dense_flow_bilinear(flow, g, out_hw)),
                                  np.asarray(former_grid(flow, gx, gy)))
    points = np.concatenate([rng.uniform(-10, 80, (21, 2)), g[[0, -1], [0, -1]], [[-5.0, 100.0], [2.5, 2.5]]])
    q, k = pad_rows(points, pow2_ceil(len(points)))
    px, py = grid_coordinates(g, q)
    former = np.asarray(former_points(flow, px.astype(np.float32), py.astype(np.float32)))[:k]
    np.testing.assert_array_equal(_flow_at_points(flow, g, points), former)
