"""Test-time crop scales (`pose.scales`): points carried between crops by hand-computed affine maps, the mean and
the median over scales, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import scales


def _affine(scale: float, shift_x: float, shift_y: float) -> np.ndarray:
    return np.array([[scale, 0.0, shift_x], [0.0, scale, shift_y]])


def test_points_go_back_into_the_base_crop_by_hand():
    base = _affine(2.0, 1.0, -4.0)[None]  # image -> base crop: x_b = 2x + 1, y_b = 2y - 4
    other = _affine(4.0, -3.0, 0.0)[None]  # image -> other crop: x_o = 4x - 3, y_o = 4y
    pts = np.array([[[5.0, 8.0], [-3.0, 0.0]]])  # other crop: image (2, 2) and (0, 0)
    np.testing.assert_allclose(scales._to_base(pts, other, base), [[[5.0, 0.0], [1.0, -4.0]]])


def test_combine_averages_the_scales_in_base_pixels():
    base = np.stack([_affine(2.0, 1.0, -4.0), _affine(1.0, 0.0, 0.0)])  # two people
    other = np.stack([_affine(4.0, -3.0, 0.0), _affine(0.5, 10.0, 10.0)])
    at_base = np.array([[[7.0, 2.0]], [[4.0, 6.0]]])
    at_other = np.array([[[5.0, 8.0]], [[12.0, 14.0]]])  # base pixels (5, 0) and (4, 8)
    out = scales.merge_scales([at_base, at_other], [base, other], base)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[6.0, 1.0]], [[4.0, 7.0]]])
    np.testing.assert_allclose(scales.merge_scales([at_base], [base], base), at_base)


def test_median_takes_x_and_y_apart_and_ignores_one_wrong_scale():
    base = _affine(1.0, 0.0, 0.0)[None]
    half = _affine(0.5, 0.0, 0.0)[None]  # base pixels = 2 x these
    pts = [np.array([[[10.0, 20.0], [0.0, 0.0]]]), np.array([[[6.0, 11.0], [1.0, 1.0]]]),  # base (12, 22), (2, 2)
           np.array([[[90.0, 21.0], [4.0, -6.0]]])]  # one scale on the wrong limb for joint 0
    med = scales.merge_scales(pts, [base, half, base], base, merge="median")
    assert med.dtype == np.float32
    np.testing.assert_allclose(med, [[[12.0, 21.0], [2.0, 0.0]]])  # x and y medians of different scales
    np.testing.assert_allclose(scales.merge_scales(pts, [base, half, base], base), [[[112 / 3, 21.0], [2.0, -4 / 3]]])
    # an even number of scales: the mean of the two middle values
    np.testing.assert_allclose(scales.merge_scales(pts[:2], [base, half], base, merge="median"),
                               [[[11.0, 21.0], [1.0, 1.0]]])


def test_bad_input_is_named():
    a = _affine(1.0, 0.0, 0.0)[None]
    with pytest.raises(InputError, match="points"):
        scales.merge_scales([], [], a)
    with pytest.raises(InputError, match="points"):
        scales.merge_scales([np.zeros((1, 2, 2)), np.zeros((1, 3, 2))], [a, a], a)
    with pytest.raises(InputError, match="merge"):
        scales.merge_scales([np.zeros((1, 2, 2))], [a], a, merge="max")


def test_scales_that_are_not_numbers_are_named():
    """Text, nested or ragged scales are one InputError naming the field (were a bare ValueError / TypeError)."""
    for bad in ("0.8,x", [[1.0, 0.9]], [1.0, [2.0]], {"a": 1}):
        with pytest.raises(InputError, match="field 'scales'"):
            scales.check_scales(bad, "estimate")
    assert scales.check_scales(0.9, "estimate") == (0.9,) and scales.check_scales([1, 2.5], "x") == (1.0, 2.5)
