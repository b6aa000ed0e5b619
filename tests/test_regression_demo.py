"""Razavian et al. end to end: the tables experiment at tiny size through the runner, the real-data protocol
helpers (face crops, 300-W splits)."""

import numpy as np

from convcorr_jax import geometry
from convcorr_jax.data.types import KeypointSample
from convcorr_eval.razavian2015 import data


def test_face_crop_samples_move_points_with_the_image():
    im = np.zeros((80, 100, 3), np.uint8)
    pts = np.array([[30.0, 40.0], [60.0, 40.0], [45.0, 60.0]], np.float32)
    for x, y in pts.astype(int):
        im[y, x] = 255
    s = KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.array([30, 40, 60, 60], np.float32), "face", "f0",
                       im)
    (c,) = data.face_crop_samples([s], size=64, margin=0.25)
    assert c.image.shape == (64, 64, 3)
    for x, y in c.points:
        assert c.image[int(round(y)), int(round(x))].max() > 0  # a landmark's pixel is lit in the crop
    back = geometry.transform_points(c.points, geometry.invert_affine(c.extras["crop_affine"]))
    np.testing.assert_allclose(back, pts, atol=1e-4)


def test_split_300w_protocol():
    def face(sub, split):
        return KeypointSample(np.zeros((68, 2), np.float32), np.ones(68, bool), tuple(map(str, range(68))),
                              np.zeros(4, np.float32), "face", f"{sub}{split}", extras={"subset": sub, "split": split})

    ss = [face("helen", "train"), face("helen", "common"), face("lfpw", "train"), face("afw", "train"),
          face("ibug", "challenging")]
    sp = data.split_300w(ss)
    assert set(sp) == {"Helen", "IBUG"}  # LFPW has no test part here
    assert len(sp["IBUG"][0]) == 3 and len(sp["Helen"][1]) == 1


def test_tables_tiny(tmp_path):
    from convcorr_eval.runner import make_config, run_experiment

    cfg = make_config("razavian2015.tables", "tiny", ["weights=random"], "caffenet")
    res, _, reused = run_experiment("razavian2015.tables", cfg, tmp_path, progress=False)
    assert not reused
    figures = tmp_path / cfg.name / "figures"
    for fig in ("razavian_fig3_lookback.png", "razavian_fig2a_subsets.png", "razavian_fig2b_pck.png",
                "razavian_fig4_rgb.png", "razavian_fig5_segmentation.png", "razavian_fig6_directions.png"):
        assert (figures / fig).stat().st_size > 1000
        assert f"figures/{fig}" in res.markdown
    t1 = res.metrics["faces"]["table1"]
    assert set(t1) == {"Dataset Bias", "RGB + ridge", "ConvNet (fc6 role) + ridge", "ConvNet + ridge",
                       "ConvNet + look-back"}
    assert all(0 < v < 2 for v in t1.values())
    assert "paper" in res.markdown and "different data" in res.markdown
    assert 0 <= res.metrics["keypoints"]["pck@0.1"]["mean"] <= 1
    assert 0 <= res.metrics["rgb_seg"]["rgb_mae"] < 0.5
