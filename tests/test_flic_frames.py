"""FLIC whole frames at their native size (`pose.data` protocol "native"): the frame's pixels enter the network
unresampled, shifted by whole pixels into the input square, and the keypoints move with them exactly."""

from __future__ import annotations

import numpy as np
import pytest
from convcorr_train import pose_configs

from convcorr_jax.core import crop_geometry, geometry
from convcorr_jax.data import skeletons
from convcorr_jax.data.flic import load_flic
from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import data, estimation


def test_native_frames_unresampled(tiny_flic, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    crops = data.flic_crops(tiny_flic, "test", 384, protocol="native")
    samples = load_flic(tiny_flic, split="test")
    assert crops.arrays.images.shape == (2, 384, 384, 3)
    ox, oy = (384 - 360) // 2, (384 - 240) // 2  # 12, 72: whole pixels
    for i, s in enumerate(samples):
        frame = load_image(s.image_path)
        assert frame.shape == (240, 360, 3)
        img = np.asarray(crops.arrays.images[i])
        np.testing.assert_array_equal(img[oy:oy + 240, ox:ox + 360], frame)  # no letterbox: the pixels themselves
        outside = np.ones((384, 384), bool)
        outside[oy:oy + 240, ox:ox + 360] = False
        assert not img[outside].any()
        np.testing.assert_allclose(crops.arrays.points[i], s.points + [ox, oy], atol=1e-4)  # 0-based (x, y)
        box = s.extras["torso_box"]
        np.testing.assert_allclose(crops.torso[i], (box[:2] + box[2:]) / 2 + [ox, oy], atol=1e-4)
    # the torso normaliser is unscaled too
    lsho, rhip = skeletons.FLIC.torso
    np.testing.assert_allclose(crops.arrays.norm, [np.linalg.norm(s.points[lsho] - s.points[rhip]) for s in samples],
                               rtol=1e-5)


def test_letterbox_frame_differs_from_native(tiny_flic, tmp_path, monkeypatch):
    """The "frame" protocol scales the 360 px side to the input (256 / 360), "native" keeps it."""
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    samples = load_flic(tiny_flic, split="test")
    a_frame, _ = data.flic_sample_affines(samples, 256, protocol="frame")
    a_native, _ = data.flic_sample_affines(samples, 384, protocol="native")
    np.testing.assert_allclose(a_frame[:, :, :2], np.broadcast_to(np.eye(2) * 256 / 360, (2, 2, 2)))
    np.testing.assert_allclose(a_native[:, :, :2], np.broadcast_to(np.eye(2), (2, 2, 2)))
    np.testing.assert_allclose(a_native[:, :, 2], [[12, 72]] * 2)
    with pytest.raises(InputError, match="model.image_size"):
        data.flic_sample_affines(samples, 352, protocol="native")  # smaller than the 360 px side: never downscaled


def test_frame_affines_large_image_letterboxed():
    a = crop_geometry.frame_affines(np.array([[720, 480], [100, 50]]), 384, native=True)
    np.testing.assert_allclose(a[0, 0, 0], 384 / 720)
    np.testing.assert_allclose(a[1, :, :2], np.eye(2))
    np.testing.assert_allclose(a[1, :, 2], [142, 167])


def test_frame_affines_letterbox_centres_the_frame():
    """Letterboxed (not native): the frame's outer pixel edges go to the input's along its longer side, centred along
    the shorter one (a 20 x 10 frame into 40 px: scale 2, 10 px of border above and below)."""
    a = crop_geometry.frame_affines(np.array([[20, 10]]), 40)[0]
    edges = geometry.transform_points(np.array([[-0.5, -0.5], [19.5, 9.5]]), a)
    np.testing.assert_allclose(edges, [[-0.5, 9.5], [39.5, 29.5]], atol=1e-12)


def test_native_config_and_estimation_input():
    cfg = pose_configs.get_config("flic_native")
    assert cfg.protocol == "native" and cfg.model.image_size >= 360
    cfg.check()
    affine, _ = estimation._input_affines(cfg, [(240, 360)], [None])
    np.testing.assert_allclose(affine[0], [[1, 0, (cfg.model.image_size - 360) / 2],
                                           [0, 1, (cfg.model.image_size - 240) / 2]])


def test_real_flic_frames_native(flic_root):
    """FLIC as shipped (360 x 240): every test frame fits the `flic_native` input unscaled."""
    samples = load_flic(flic_root, split="test")
    assert {s.extras["image_size"] for s in samples} == {(360, 240)}
    size = pose_configs.get_config("flic_native").model.image_size
    affine, _ = data.flic_sample_affines(samples[:5], size, protocol="native")
    np.testing.assert_allclose(affine[:, :, :2], np.broadcast_to(np.eye(2), (5, 2, 2)))
    np.testing.assert_allclose(affine[:, :, 2], [[(size - 360) / 2, (size - 240) / 2]] * 5)


@pytest.mark.parametrize("wh", [(7, 5), (8, 5), (7, 6), (1, 9), (16, 16), (16, 9), (9, 16)])
def test_native_frames_of_any_parity_enter_unresampled(wh):
    """A frame whose sides differ in parity from the input's is shifted by whole pixels too (was a half-pixel shift:
    every input pixel the mean of two frame pixels), each frame pixel centre on an input pixel centre."""
    w, h = wh
    a = crop_geometry.frame_affines(np.array([wh]), 16, native=True)[0]
    ox, oy = (16 - w) // 2, (16 - h) // 2
    np.testing.assert_array_equal(a, [[1, 0, ox], [0, 1, oy]])
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3)).astype(np.uint8)
    got = geometry.crop(frame[None], a[None], 16)[0]
    np.testing.assert_array_equal(got[oy:oy + h, ox:ox + w], frame)
    assert got.sum() == frame.astype(np.int64).sum()  # black around it
