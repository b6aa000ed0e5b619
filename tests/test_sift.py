"""Dense SIFT vs real VLFeat (golden outputs of cyvlfeat/libvl on real photographs, see tests/golden/sift/)."""

from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.features import sift

GOLDEN = Path(__file__).parent / "golden" / "sift" / "vlfeat_dsift.npz"
CASES = ("camera_b4_s4", "camera_sky_b4_s4", "astronaut_b3_s3", "coffee_b8_s6", "chelsea_b5_s5")


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN)


@pytest.mark.parametrize("case", CASES)
def test_dsift_matches_vlfeat(golden, case):
    img = golden[f"{case}/image"].astype(np.float32) / 255.0
    size, step = golden[f"{case}/params"].tolist()
    ref = golden[f"{case}/descriptors"].astype(np.float32)  # float16-rounded (abs error <= 1.3e-4)
    frames, ours = sift.dsift(img, bin_size=size, step=step)
    ours = np.asarray(ours)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    ours = sift.vlfeat_output(ours) / 512.0  # VLFeat's output caps 512 d at 255
    np.testing.assert_array_equal(frames, golden[f"{case}/frames_xy"])
    diff = np.abs(ours - ref)
    corr = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
    frac_close = np.mean(diff <= 2e-4)
    print(f"{case}: corr {corr:.8f}, max |diff| {diff.max():.2e}, mean {diff.mean():.1e}, "
          f"entries within 2e-4: {frac_close:.6f}")
    assert corr > 0.99999
    assert frac_close > 0.9995  # all but the rare gradient whose orientation rounds into the other bin
    assert diff.max() < 0.05


def test_fast_math_matches_vlfeat_formulas():
    x = np.float32([1e-9, 1e-4, 0.5, 2.0, 1e6])
    np.testing.assert_allclose(np.asarray(sift._fast_sqrt(x))[1:], np.sqrt(x[1:]), rtol=1e-5)
    assert float(sift._fast_sqrt(x)[0]) == 0.0
    y, xx = np.random.default_rng(0).normal(size=(2, 1000)).astype(np.float32)
    err = np.abs(np.angle(np.exp(1j * (np.asarray(sift._fast_atan2(y, xx)) - np.arctan2(y, xx)))))
    assert err.max() < 1e-2  # the cubic approximation is good to ~6e-3 rad


def test_sift_grid_equals_dsift_at_same_centres(golden):
    img = golden["camera_b4_s4/image"].astype(np.float32) / 255.0
    frames, d = sift.dsift(img, bin_size=4, step=4)
    xs, ys = np.unique(frames[:, 0]), np.unique(frames[:, 1])
    g = np.asarray(sift.sift_grid(img, xs, ys, 4))
    np.testing.assert_allclose(g.reshape(-1, 128), np.asarray(d), atol=1e-6)


@pytest.mark.parametrize("bin_size", [1, 2, 3, 5])
def test_sift_dense_equals_sift_grid_at_every_pixel(golden, bin_size):
    """The separable per-pixel descriptors against the binning-matrix ones (odd bins: alternating rounding)."""
    img = golden["camera_b4_s4/image"].astype(np.float32)[40:77, 60:103] / 255.0
    h, w = img.shape
    ref = np.asarray(sift.sift_grid(img, np.arange(w), np.arange(h), bin_size))
    np.testing.assert_allclose(np.asarray(sift.sift_dense(img, bin_size)), ref, atol=1e-6)


def test_layout_orientation():
    """A horizontal ramp (gradient along +x, angle 0) puts all mass in orientation bin 0."""
    img = np.tile(np.arange(40, dtype=np.float32), (40, 1)) / 40
    _, d = sift.dsift(img, bin_size=4, step=8)
    d = np.asarray(d).reshape(-1, 4, 4, 8)
    assert np.all(d[..., 1:] < 1e-5) and np.all(d[..., 0] > 0.2)


@pytest.mark.parametrize("shape,size", [((1, 30), 3), ((30,), 3), ((8, 8), 3), ((20, 20), 0)])
def test_bad_images_raise(shape, size):
    with pytest.raises(InputError):
        sift.dsift(np.zeros(shape, np.float32), bin_size=size)


@pytest.mark.parametrize("call, field", [
    (lambda im: sift.dsift(im, 3, step=0), "step"),            # used to be a ZeroDivisionError
    (lambda im: sift.dsift(im, 3, step=-1), "step"),           # used to give no descriptors at all
    (lambda im: sift.dsift(im, 3, step=1.5), "step"),          # used to place frames between pixels
    (lambda im: sift.sift_dense(im, 3, window_size=0.0), "window_size"),  # a divide by zero in the window
    (lambda im: sift.sift_grid(im, np.array([np.nan, 3.0]), np.array([3.0]), 3), "xs"),  # garbage descriptors
    (lambda im: sift.sift_grid(im, np.array([3.0]), np.array([np.inf]), 3), "ys"),
])
def test_bad_step_window_and_centres_raise_naming_the_argument(call, field):
    image = np.random.default_rng(0).random((20, 20), dtype=np.float32)
    with pytest.raises(InputError, match=f"field '{field}'"):
        call(image)


def test_to_grey_refuses_what_is_not_uint8_rgb():
    """A float image already in [0, 1] came out 255 times too dark: gradients under the fast square root's floor,
    all-zero descriptors without a word. It is refused, as a missing or extra channel is."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    grey = sift.to_grey(img)
    assert grey.shape == (2, 24, 24) and grey.dtype == np.float32 and 0 <= grey.min() and grey.max() <= 1
    np.testing.assert_allclose(sift.to_grey(img[0]), grey[0])
    with pytest.raises(InputError, match=r"to_grey: field 'images': expected a uint8 array.*got float64"):
        sift.to_grey(img / 255.0)
    for bad in (img[..., 0], img[..., :2]):
        with pytest.raises(InputError, match=r"to_grey: field 'images'.*\[\.\.\., H, W, 3\]"):
            sift.to_grey(bad)
