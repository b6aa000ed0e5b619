"""Razavian et al. end to end: the tiny demo stage on the synthetic data, the real-data crop helpers."""

import numpy as np

from convcorr_jax.data.types import KeypointSample
from convcorr_jax.regression import features, real


def test_crop_square_matches_crop_images():
    rng = np.random.default_rng(0)
    im = np.kron(rng.integers(0, 256, size=(12, 16, 3)), np.ones((4, 4, 1))).astype(np.uint8)  # smooth-ish 48x64
    box = np.array([30.3, 20.7, 24.0])
    a = real.crop_square(im, box, 32).astype(int)
    b = features.crop_images(im[None], box[None], 32)[0].astype(int)
    inner = np.abs(a - b)[2:-2, 2:-2]
    assert np.median(inner) <= 1 and inner.mean() < 3


def test_face_crop_samples_move_points_with_the_image():
    im = np.zeros((80, 100, 3), np.uint8)
    pts = np.array([[30.0, 40.0], [60.0, 40.0], [45.0, 60.0]], np.float32)
    for x, y in pts.astype(int):
        im[y, x] = 255
    s = KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.array([30, 40, 60, 60], np.float32), "face", "f0",
                       im)
    (c,) = real.face_crop_samples([s], size=64, margin=0.25)
    assert c.image.shape == (64, 64, 3)
    for x, y in c.points:
        assert c.image[int(round(y)), int(round(x))].max() > 0  # a landmark's pixel is lit in the crop
    back = real.uncrop_points(c.points[None], c.extras["crop_box"][None], 64)[0]
    np.testing.assert_allclose(back, pts, atol=1e-4)


def test_split_300w_protocol():
    def face(sub, split):
        return KeypointSample(np.zeros((68, 2), np.float32), np.ones(68, bool), tuple(map(str, range(68))),
                              np.zeros(4, np.float32), "face", f"{sub}{split}", extras={"subset": sub, "split": split})

    ss = [face("helen", "train"), face("helen", "common"), face("lfpw", "train"), face("afw", "train"),
          face("ibug", "challenging")]
    sp = real.split_300w(ss)
    assert set(sp) == {"Helen", "IBUG"}  # LFPW has no test part here
    assert len(sp["IBUG"][0]) == 3 and len(sp["Helen"][1]) == 1


def test_demo_stage_tiny(tmp_path):
    from convcorr_jax.demo import DemoContext
    from convcorr_jax.regression.demo import demo_stage

    res = demo_stage(DemoContext(tmp_path, "tiny", 0))
    for fig in ("razavian_fig3_lookback.png", "razavian_fig2a_subsets.png", "razavian_fig2b_pck.png",
                "razavian_fig4_rgb.png", "razavian_fig5_segmentation.png", "razavian_fig6_directions.png"):
        assert (tmp_path / "figures" / fig).stat().st_size > 1000
        assert f"figures/{fig}" in res.markdown
    t1 = res.metrics["faces"]["table1"]
    assert set(t1) == {"Dataset Bias", "RGB + ridge", "ConvNet + ridge", "ConvNet + look-back"}
    assert all(0 < v < 2 for v in t1.values())
    assert "paper" in res.markdown and "different data" in res.markdown
    assert 0 <= res.metrics["keypoints"]["pck@0.1"]["mean"] <= 1
    assert 0 <= res.metrics["rgb_seg"]["rgb_mae"] < 0.5
