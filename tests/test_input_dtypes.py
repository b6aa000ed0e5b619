"""The public array functions give the same result for the same values in any real dtype a user has them in: integer
pixel coordinates (unsigned too), float64, float16 / bfloat16, 0 / 1 masks, Python lists; or refuse them with one
InputError naming the argument."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import joints


def _pose_points():
    """pred, gt [2, 3, 2] integer pixels, with predictions left of the ground truth (negative x errors), and
    visible [2, 3]."""
    gt = np.array([[[100, 50], [120, 60], [140, 70]], [[200, 80], [210, 90], [220, 100]]])
    pred = gt + np.array([[[-5, 0], [3, 1], [-2, 2]], [[4, 0], [-7, 1], [0, 0]]])
    visible = np.array([[1, 1, 0], [1, 0, 1]], bool)
    return pred, gt, visible


@pytest.mark.parametrize("dtype", ["int16", "int64", "uint8", "uint16", "float16", ml_dtypes.bfloat16, "float32",
                                   "float64"])
def test_the_one_float_cast_of_checked_points(dtype):
    """`errors.as_float_array`, the cast `joints` and `regression.lookback` share: float32 and float64 as given (the
    array itself), any other real dtype as float64, so that a difference of two neither wraps nor rounds."""
    from convcorr_jax.core.errors import as_float_array

    a = np.array([[[3, 250], [7, 1]]]).astype(dtype)
    got = as_float_array(a)
    kept = np.dtype(dtype) in (np.float32, np.float64)
    assert got.dtype == (np.dtype(dtype) if kept else np.float64) and (got is a) == kept
    np.testing.assert_array_equal(got - as_float_array(a[:, ::-1]), [[[-4, 249], [4, -249]]])
    assert as_float_array([[1, 2]]).dtype == np.float64  # a list: its array's int64 as float64


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "uint16", "float16", ml_dtypes.bfloat16])
def test_x_errors_of_integer_and_half_pixels_do_not_wrap(dtype):
    """uint8 / uint16 pixels gave pred - gt modulo 256 / 65536 (an error of -5 px read 251 px)."""
    pred, gt, visible = _pose_points()
    want = joints.x_errors(pred.astype(np.float32), gt.astype(np.float32), visible, (0, 1, 2))
    np.testing.assert_array_equal(want, [-5, 3, 4, 0])
    got = joints.x_errors(pred.astype(dtype), gt.astype(dtype), visible, (0, 1, 2))
    np.testing.assert_array_equal(got, want)
    assert joints.x_sigma(pred.astype(dtype), gt.astype(dtype), visible, (0, 1, 2)) == pytest.approx(
        joints.x_sigma(pred, gt, visible, (0, 1, 2)))


@pytest.mark.parametrize("dtype", ["int64", "uint8", "float32"])
def test_x_errors_visible_of_zeros_and_ones_is_a_mask(dtype):
    """A 0 / 1 visible was used as indices (rows 0 and 1 picked, an array of another shape returned; a float one
    raised numpy's IndexError)."""
    pred, gt, visible = _pose_points()
    want = joints.x_errors(pred, gt, visible, (0, 1, 2))
    np.testing.assert_array_equal(joints.x_errors(pred, gt, visible.astype(dtype), (0, 1, 2)), want)
    np.testing.assert_array_equal(joints.x_errors(pred.tolist(), gt.tolist(), visible.astype(int).tolist(),
                                                  (0, 1, 2)), want)
    assert joints.x_sigma(pred, gt, visible.astype(dtype), (0, 1, 2)) == joints.x_sigma(pred, gt, visible, (0, 1, 2))


def test_x_errors_refuses_bad_arrays_with_one_input_error():
    pred, gt, visible = _pose_points()
    with pytest.raises(InputError, match=r"x_sigma: field 'visible'"):
        joints.x_sigma(pred, gt, visible[:, :2], (0,))
    with pytest.raises(InputError, match=r"x_errors: field 'pred'"):
        joints.x_errors(pred[:1], gt, visible, (0,))
    with pytest.raises(InputError, match=r"x_errors: field 'gt'.*float"):
        joints.x_errors(pred, np.full(gt.shape, "a"), visible, (0,))


def _peaked_maps() -> np.ndarray:
    """Heat maps [2, 8, 8, 3] of values 0..200, each peaked at cell (x 4, y 3) and leaning left and up."""
    hm = np.zeros((2, 8, 8, 3))
    hm[:, 3, 3:6, :] = np.array([150, 200, 100])[:, None]
    hm[:, 2, 4, :], hm[:, 4, 4, :] = 120, 60
    return hm


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "float16", ml_dtypes.bfloat16])
def test_subpixel_argmax_of_integer_and_half_maps(dtype):
    """uint8 / uint16 maps wrapped around in the parabola's lo - 2 c + hi: no refinement (x 4.0, not 3.83)."""
    from convcorr_jax.pose import heatmaps

    hm = _peaked_maps()
    want = np.asarray(heatmaps.subpixel_argmax(hm.astype(np.float32)))
    np.testing.assert_allclose(want[0, 0], [4 - 1 / 6, 3 - 3 / 22], atol=1e-6)  # 0.5 (lo - hi) / (lo - 2 c + hi)
    got = heatmaps.subpixel_argmax(hm.astype(dtype))
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int64", "uint8", "uint16", "float16"])
def test_lookback_of_integer_pixels(dtype):
    """uint8 / uint16 points made stage1_oof - points wrap around: a margin of 255 / 65535 px and crops to match."""
    from convcorr_jax.regression import features, lookback

    rng = np.random.default_rng(0)
    pts = rng.integers(10, 30, (12, 2, 2))
    oof = pts + np.stack([np.arange(12) - 6, np.zeros(12, int)], -1)[:, None, :]  # x errors -6..5 px
    images, feat = rng.integers(0, 255, (12, 40, 40, 3), dtype=np.uint8), features.pixel_featurizer((4, 4))
    runs = []
    for d in (np.float64, dtype):
        lb = lookback.fit_lookback(images, pts.astype(d), oof.astype(d), feat, {"a": (0, 1)}, crop_size=8,
                                   lambdas=[1e-2])
        runs.append((lb.margins["a"], *lookback.apply_lookback(lb, images, oof.astype(d), feat)))
    (m0, r0, b0), (m1, r1, b1) = runs
    assert m0 == m1 == 6.0
    np.testing.assert_allclose(r1, r0, atol=1e-9)
    np.testing.assert_array_equal(b1["a"], b0["a"])
    np.testing.assert_array_equal(
        lookback.apply_lookback(lb, images, oof.astype(d).tolist(), feat)[0], r1)  # a list as its array


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "float32"])
def test_map_to_image_of_integer_cells_does_not_wrap(dtype):
    """uint8 / int8 cells times an int stride stayed uint8 / int8: cell 100 at stride 4 gave pixel 145.5, not 401.5."""
    import jax.numpy as jnp

    from convcorr_jax.pose import heatmaps

    cells = np.array([[100, 50], [127, 3]])
    want = [[401.5, 201.5], [509.5, 13.5]]
    np.testing.assert_array_equal(heatmaps.map_to_image(cells.astype(dtype), 4), want)
    np.testing.assert_array_equal(np.asarray(heatmaps.map_to_image(jnp.asarray(cells.astype(dtype)), 4)), want)
    np.testing.assert_array_equal(heatmaps.image_to_map(heatmaps.map_to_image(cells.astype(dtype), 4), 4), cells)


def test_heatmap_functions_take_lists_as_their_arrays():
    """A nested list raised a TypeError / AttributeError in each (list - float, list.shape, jnp.isfinite(list))."""
    from convcorr_jax.pose import heatmaps

    points = [[10, 21], [3.5, 7]]
    np.testing.assert_array_equal(heatmaps.image_to_map(points, 4), heatmaps.image_to_map(np.array(points), 4))
    np.testing.assert_array_equal(heatmaps.map_to_image(points, 4), heatmaps.map_to_image(np.array(points), 4))
    np.testing.assert_array_equal(heatmaps.gaussian_targets(points, (8, 8)),
                                  heatmaps.gaussian_targets(np.array(points), (8, 8)))
    hm = _peaked_maps()
    np.testing.assert_array_equal(heatmaps.argmax_2d(hm.tolist()), heatmaps.argmax_2d(hm))
    np.testing.assert_array_equal(heatmaps.subpixel_argmax(hm.tolist()), heatmaps.subpixel_argmax(hm))
    np.testing.assert_array_equal(heatmaps.subpixel_argmax(hm, hm.tolist()), heatmaps.subpixel_argmax(hm))


def test_pckh_curves_takes_a_list():
    """A nested list raised a TypeError at the UBody curve (list[:, idx]) after the joints' curves had worked."""
    from convcorr_jax.core import metrics

    dist = np.random.default_rng(0).uniform(0, 1, (4, 16))
    want, got = metrics.pckh_curves(dist), metrics.pckh_curves(dist.tolist())
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize("dtype", ["int64", "float32", "float16"])
def test_transfer_keypoints_keep_of_zeros_and_ones_and_lists(dtype):
    """A float keep raised jax's TypeError ("and does not accept dtype float32"); lists raised an AttributeError."""
    from convcorr_jax.correspondence import carry

    src = np.stack(np.meshgrid(np.arange(4) * 8 + 4, np.arange(4) * 8 + 4), -1).reshape(-1, 2).astype(np.float32)
    best, keep, points = np.arange(16)[::-1].copy(), np.arange(16) % 3 != 0, np.array([[5.0, 6.0], [20.0, 21.0]])
    want = carry.transfer_keypoints(best, src, src + 3, points, 8.0, keep=keep)
    np.testing.assert_array_equal(carry.transfer_keypoints(best, src, src + 3, points, 8.0, keep=keep.astype(dtype)),
                                  want)
    np.testing.assert_array_equal(carry.transfer_keypoints(best.tolist(), src.tolist(), (src + 3).tolist(),
                                                           points.tolist(), 8.0, keep=keep.tolist()), want)
