"""`pose.recrop`: second-pass person crops around predicted torso joints, against hand-computed boxes and crops."""

from __future__ import annotations

import numpy as np
import pytest

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import square_affines
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import recrop

TORSO = (0, 1, 2, 3)


def _person(x0=10.0, y0=20.0, x1=30.0, y1=60.0) -> np.ndarray:
    """One person [1, 5, 2]: four torso joints at a box's corners and a wrist far outside it."""
    return np.array([[[x0, y0], [x1, y0], [x0, y1], [x1, y1], [200.0, 5.0]]])


def test_torso_boxes_are_tight_boxes_of_the_torso_joints_only():
    pts = _person()
    np.testing.assert_array_equal(recrop.torso_boxes(pts, TORSO), [[10, 20, 30, 60]])
    pts[0, 3] = np.nan  # a missing joint is ignored
    np.testing.assert_array_equal(recrop.torso_boxes(pts, TORSO), [[10, 20, 30, 60]])
    pts[0, :4] = np.nan
    with pytest.raises(InputError, match="finite torso joint"):
        recrop.torso_boxes(pts, TORSO)


def test_box_ratio_is_the_median_ratio_of_longer_sides():
    pts = np.concatenate([_person(), _person(0, 0, 9, 4), _person(0, 0, 19, 19)])  # longer sides 41, 10, 20
    boxes = np.array([[0, 0, 81, 10], [0, 0, 4, 4], [0, 0, 29, 0]])  # longer sides 82, 5, 30: ratios 2, 0.5, 1.5
    assert recrop.box_ratio(boxes, pts, TORSO) == pytest.approx(1.5)
    with pytest.raises(InputError, match="one box per person"):
        recrop.box_ratio(boxes[:2], pts, TORSO)


def test_crop_affines_square_on_the_torso_box_through_the_frame_map():
    size, scale, ratio = 64, 2.5, 0.8
    want = square_affines(np.array([[20.0, 40.0]]), np.array([scale * ratio * 41.0]), size)
    np.testing.assert_allclose(recrop.crop_affines(_person(), np.array([[[1.0, 0, 0], [0, 1.0, 0]]]), TORSO, size,
                                                   scale, ratio), want)
    frame = np.array([[[0.5, 0, 3.0], [0, 0.5, -7.0]]])  # image -> frame input: the first pass's pixels
    first = geometry.transform_points(_person(), frame)
    got = recrop.crop_affines(first, frame, TORSO, size, scale, ratio)
    np.testing.assert_allclose(got, want, atol=1e-12)
    centre = geometry.transform_points(np.array([[[20.0, 40.0]]]), got)
    np.testing.assert_allclose(centre, [[[(size - 1) / 2, (size - 1) / 2]]], atol=1e-9)
    with pytest.raises(InputError, match="scale"):
        recrop.crop_affines(first, frame, TORSO, size, 0.0, ratio)
