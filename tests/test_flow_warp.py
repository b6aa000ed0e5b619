"""Dense flow interpolation, warping and keypoint transfer through a flow."""

import numpy as np

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
