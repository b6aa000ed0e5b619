"""The warp generator of the warped validation pairs: keypoints carried exactly by the same homography as the
pixels, composition and inverse, flips, invalid keypoints flagged, determinism under a seed."""

import dataclasses

import numpy as np
import pytest

from convcorr_jax.data import warped_pairs as wp
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError


def dot_image(points, hw=(120, 160), value=255):
    """A black image with one bright pixel at each (rounded) point; returns (image, the integer points)."""
    img = np.zeros((*hw, 3), np.uint8)
    p = np.round(np.asarray(points)).astype(int)
    img[p[:, 1], p[:, 0]] = value
    return img, p.astype(np.float64)


def bright_centroid(image, near, r=4):
    """Intensity-weighted centroid (x, y) of the pixels within r of `near`."""
    g = image[..., 0].astype(np.float64)
    x0, y0 = int(np.rint(near[0])), int(np.rint(near[1]))
    ys, xs = np.mgrid[max(y0 - r, 0):min(y0 + r + 1, g.shape[0]), max(x0 - r, 0):min(x0 + r + 1, g.shape[1])]
    w = g[ys, xs]
    assert w.sum() > 0, f"no dot near {near}"
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def sample_at(points, hw=(120, 160)):
    img, p = dot_image(points, hw)
    return KeypointSample(points=p.astype(np.float32), visible=np.ones(len(p), bool),
                          names=tuple(f"k{i}" for i in range(len(p))), bbox=np.zeros(4, np.float32),
                          category="x", id="s", image=img)


POINTS = [[50, 40], [110, 45], [80, 70], [60, 90], [105, 85]]


@pytest.mark.parametrize("seed", range(6))
def test_dots_land_where_the_keypoints_go(seed):
    """Warp an image with a dot at each keypoint: each dot's centroid in the output is within 0.5 px of the
    keypoint moved by the same H (random scale, rotation, tilt, flip; no background)."""
    img, p = dot_image(POINTS)
    cfg = wp.WarpConfig(scale_min=1.0, scale_max=2.0)  # no shrinking: a dot stays a few pixels wide
    H = wp._random_homography(np.random.default_rng(seed), p, np.ones(len(p), bool), img.shape[:2], cfg)
    out = wp.warp_image(img, H, img.shape[:2])
    q, ok = wp._warp_points(p, H, img.shape[:2])
    for k in np.flatnonzero(ok & np.all((q > 5) & (q < np.array(img.shape[1::-1]) - 6), -1)):
        assert np.linalg.norm(bright_centroid(out, q[k]) - q[k]) < 0.5, (seed, k)


def test_flip_mirrors_pixels_and_keypoints_exactly():
    """A pure flip about the keypoint box centre maps pixel columns and keypoint x alike, identity kept."""
    img, p = dot_image(POINTS)
    cx = (p[:, 0].min() + p[:, 0].max()) / 2
    H = wp.translation(cx, 0) @ wp.similarity(1.0, 0.0, flip=True) @ wp.translation(-cx, 0)
    q, ok = wp._warp_points(p, H, img.shape[:2])
    assert ok.all()
    np.testing.assert_allclose(q[:, 0], 2 * cx - p[:, 0])
    np.testing.assert_allclose(q[:, 1], p[:, 1])
    out = wp.warp_image(img, H, img.shape[:2])
    for k in range(len(p)):  # dot k (keypoint k) is at mirrored x: identity kept
        assert out[int(q[k, 1]), int(q[k, 0]), 0] == 255


def test_composition_and_inverse():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 100, (20, 2))
    A = wp._random_homography(rng, p, np.ones(20, bool), (100, 100))
    B = wp._random_homography(rng, p, np.ones(20, bool), (100, 100))
    ab, _ = wp._apply_homography(wp._apply_homography(p, A)[0], B)
    np.testing.assert_allclose(ab, wp._apply_homography(p, B @ A)[0], atol=1e-9)
    back, _ = wp._apply_homography(wp._apply_homography(p, A)[0], np.linalg.inv(A))
    np.testing.assert_allclose(back, p, atol=1e-9)
    # warping by A then by A^-1 returns the image where both maps stay on the canvas (bilinear twice: blur only)
    img = np.tile(np.linspace(0, 255, 100)[None, :, None], (100, 1, 3)).astype(np.uint8)
    S = wp.translation(50, 50) @ wp.similarity(1.1, 10.0) @ wp.translation(-50, -50)
    twice = wp.warp_image(wp.warp_image(img, S, (100, 100)), np.linalg.inv(S), (100, 100))
    assert np.abs(twice[30:70, 30:70].astype(int) - img[30:70, 30:70]).max() <= 2


def test_parts_of_the_warp():
    """_random_homography's ranges: scale (ratio of distances), rotation, flip (orientation sign), centre."""
    p = np.array([[10.0, 10.0], [90.0, 10.0], [10.0, 70.0], [90.0, 70.0]])
    for seed in range(20):
        cfg = wp.WarpConfig(perspective=0.0, shift=0.0)
        H = wp._random_homography(np.random.default_rng(seed), p, np.ones(4, bool), (80, 100), cfg)
        A = H[:2, :2]
        s = np.sqrt(abs(np.linalg.det(A)))
        assert 0.5 - 1e-9 <= s <= 2.0 + 1e-9
        assert abs(np.degrees(np.arctan2(A[1, 0], A[0, 0] * np.sign(np.linalg.det(A))))) <= 30 + 1e-6
        centre, _ = wp._apply_homography(np.array([50.0, 40.0]), H)
        np.testing.assert_allclose(centre, [49.5, 39.5], atol=1e-9)
    flips = [np.linalg.det(wp._random_homography(np.random.default_rng(s), p, np.ones(4, bool), (80, 100))[:2, :2])
             < 0 for s in range(40)]
    assert 5 < sum(flips) < 35


def test_keypoints_leaving_the_image_are_flagged_not_dropped():
    p = np.array([[10.0, 10.0], [50.0, 50.0], [90.0, 90.0]])
    H = wp.translation(40.0, 0.0)
    q, ok = wp._warp_points(p, H, (100, 100))
    assert q.shape == (3, 2) and ok.tolist() == [True, True, False]
    np.testing.assert_allclose(q[2], [130.0, 90.0])
    q, ok = wp._warp_points(np.array([[np.nan, 1.0], [1.0, 1.0]]), np.eye(3), (10, 10))
    assert ok.tolist() == [False, True]
    # behind the horizon (negative weight): invalid
    q, ok = wp._warp_points(np.array([[5.0, 5.0]]), wp.tilt(-1.0, 0.0), (10, 10))
    assert not ok[0]


def test_warp_onto_pastes_background_outside_the_object_and_carries_points():
    s = sample_at(POINTS)
    bg = np.full((120, 160, 3), 77, np.uint8)
    H = wp.translation(5.0, -3.0)
    out = wp._warp_onto(s, H, (120, 160), bg, wp.WarpConfig(margin=0.1))
    np.testing.assert_allclose(out.points, np.asarray(POINTS) + [5, -3])
    assert out.visible.all() and out.extras["source_id"] == "s" and out.id == "s@warped"
    assert out.image[0, 0, 0] == 77 and out.image[119, 159, 0] == 77  # far from the object: background
    assert out.image[int(out.points[2, 1]), int(out.points[2, 0]), 0] == 255  # the object's pixels kept
    np.testing.assert_allclose(out.bbox, [55, 37, 115, 87])


def test_warped_set_is_deterministic_and_labelled():
    samples = [sample_at(np.asarray(POINTS) + k, (120, 160)) for k in range(4)]
    samples = [dataclasses.replace(s, id=f"s{k}") for k, s in enumerate(samples)]
    pairs = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    groups = np.array(["a", "a", "b", "b"])
    one = wp.warped_set(samples, pairs, groups, per_group=1, seed=7)
    two = wp.warped_set(samples, pairs, groups, per_group=1, seed=7)
    other = wp.warped_set(samples, pairs, groups, per_group=1, seed=8)
    assert len(one[0]) == 6 and one[1].shape == (2, 2) and sorted(one[2].tolist()) == ["a", "b"]
    for a, b in zip(one[0][4:], two[0][4:]):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.visible, b.visible)
    np.testing.assert_array_equal(one[1], two[1])
    assert any(not np.array_equal(a.extras["homography"], b.extras["homography"])
               for a, b in zip(one[0][4:], other[0][4:]))
    for (i, j), g in zip(one[1], one[2]):  # the source is untouched, the target a warp of a same-group sample
        assert one[0][i] is samples[i]
        src = next(s for s in samples if s.id == one[0][j].extras["source_id"])
        q, ok = wp._warp_points(src.points, one[0][j].extras["homography"], (120, 160))
        np.testing.assert_allclose(one[0][j].points, q, atol=1e-4)
        assert (one[0][j].visible == ok).all() and ok.sum() >= 2


def test_warped_set_without_images_is_an_input_error():
    samples = [dataclasses.replace(sample_at(POINTS), id=f"s{k}", image=None) for k in range(2)]
    with pytest.raises(InputError, match="image"):
        wp.warped_set(samples, np.array([[0, 1], [1, 0]]), ["a", "a"], per_group=1, seed=0)


def test_bad_settings():
    with pytest.raises(InputError, match="scale_max"):
        wp.WarpConfig(scale_min=2.0, scale_max=1.0)
    with pytest.raises(InputError, match="flip"):
        wp.WarpConfig(flip=1.5)
    with pytest.raises(InputError, match="keypoints"):
        wp._random_homography(np.random.default_rng(0), [[1.0, 1.0]], [True], (10, 10))


def test_scale_of_a_warp_for_the_scale_bins():
    from convcorr_eval.long2014.pf_willow_warped import scale_bin, warp_scale
    H = wp.translation(3.0, 4.0) @ wp.similarity(1.7, 20.0, flip=True) @ wp.translation(-1.0, 2.0)
    assert warp_scale(H) == pytest.approx(1.7)
    assert [scale_bin(v) for v in (0.5, 1.0, 1.7)] == ["s < 0.8", "0.8 <= s <= 1.25", "s > 1.25"]


def test_a_grey_image_without_a_channel_axis_is_refused():
    """A grey [H, W] image was broadcast against the [h, w, 1] inside-mask: warp_image and resize_to returned an
    [h, w, w] cube (square outputs) without a word; [H, W, 1] is the grey image they take."""
    grey = np.random.default_rng(0).integers(0, 256, (20, 20), np.uint8)
    with pytest.raises(InputError, match=r"^warp_image: field 'image': expected shape \[H>=1, W>=1, C\].*\(20, 20\)"):
        wp.warp_image(grey, np.eye(3), (10, 10))
    with pytest.raises(InputError, match=r"^resize_to: field 'image': .*image\[\.\.\., None\].*got \(20, 20\)"):
        wp.resize_to(grey, (10, 10))
    np.testing.assert_array_equal(wp.resize_to(grey[..., None], (10, 10))[..., 0],
                                  wp.resize_to(np.repeat(grey[..., None], 3, -1), (10, 10))[..., 1])
