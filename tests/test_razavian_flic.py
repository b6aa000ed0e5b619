"""Razavian et al. on FLIC at tiny size (CaffeNet, random weights: plumbing), and the segmentation IoU as VOC
reports it against a hand-computed confusion matrix."""

import numpy as np
import pytest

from convcorr_jax.core.segmentation_metrics import segmentation_iou


@pytest.fixture(scope="module")
def flic_root(flic_subset):
    """Real FLIC people, a few per movie (`conftest.flic_subset`): this module's runs need no more."""
    return flic_subset[0]


def test_segmentation_iou_from_a_hand_computed_confusion_matrix():
    # 3 classes, one void pixel (255). Rows: truth, columns: prediction, counted by hand:
    # truth 0: pred 0 x2, pred 1 x1; truth 1: pred 1 x2, pred 2 x1; truth 2: pred 0 x1, pred 2 x1
    labels = np.array([[[0, 0, 0, 1], [1, 1, 2, 2], [255, 0, 0, 0]]])
    pred = np.array([[[0, 0, 1, 1], [1, 2, 0, 2], [2, 0, 0, 0]]])
    labels[0, 2, 1:] = 255  # three more void pixels, whatever their prediction
    cm = np.array([[2, 1, 0], [0, 2, 1], [1, 0, 1]])
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter  # [3 + 3 - 2, 3 + 3 - 2, 2 + 2 - 1] = [4, 4, 3]
    expected = inter / union  # [0.5, 0.5, 1/3]
    np.testing.assert_allclose(expected, [0.5, 0.5, 1 / 3])
    iou = segmentation_iou(pred, labels, 3)
    np.testing.assert_allclose(iou, expected)
    assert np.isclose(np.nanmean(iou), (0.5 + 0.5 + 1 / 3) / 3)  # VOC: the mean over classes incl. background


@pytest.mark.slow
def test_flic_tiny_through_the_runner(flic_root, tmp_path, monkeypatch):
    from convcorr_eval.runner import make_config, run_experiment

    root = flic_root
    cfg = make_config("razavian2015.tables", "tiny", ["weights=random", "data=flic"], "caffenet", str(root))
    from convcorr_jax.regression import rgb

    fits = []
    real_fit = rgb.rgb_reconstruction
    monkeypatch.setattr(rgb, "rgb_reconstruction", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    res, _, _ = run_experiment("razavian2015.tables", cfg, tmp_path, progress=False)
    m = res.metrics["flic"]
    assert len(fits) == 2  # Fig. 4's two descriptors; Fig. 6 decodes with Fig. 4's decoder, not a second fit
    assert m["direction"]["rgb_lambda"] == m["rgb_lambda"]["ConvNet + ridge"]
    assert m["n_train"] == cfg.n_flic_train and m["n_test"] == cfg.n_flic_test
    rows = m["pck"]
    # headline: the flattened pool5-role map (fc6's input); the global average pool is a row named for what it is
    assert "ConvNet + ridge" in rows and "ConvNet + ridge, global average pool of pool5" in rows
    for v in rows.values():
        assert len(v["0.1"]) == 12 and all(0 <= x <= 1 for x in v["0.1"] + v["0.2"])  # 11 joints + mean
        assert v["0.2"][-1] >= v["0.1"][-1]
        assert np.isclose(v["0.1"][-1], np.mean(v["0.1"][:-1]))  # the mean is over joints
    assert 0 < m["rgb_mae"] < 0.5 and m["rgb_mae"] <= m["rgb_mae_mean_image"] + 0.05
    assert set(m["lambda_edge"]) == set(m["lambda"]) and set(m["lambda_edge"].values()) <= {"", "low", "high"}
    assert set(m["rgb_lambda"]) == set(m["rgb_lambda_edge"]) == {"ConvNet + ridge", m["extra_descriptor"]}
    assert all(x > 0 for x in m["rgb_lambda"].values()) and set(m["rgb_lambda_edge"].values()) <= {"", "low", "high"}
    assert "| descriptor | lambda | RGB MAE |" in res.markdown
    assert "flattened pool5-role map" in res.markdown and "no semantic attribute" in res.markdown
    figures = tmp_path / cfg.name / "figures"
    for fig in ("razavian_flic_joints.png", "razavian_flic_rgb.png", "razavian_fig6_directions_flic.png"):
        assert (figures / fig).stat().st_size > 1000 and f"figures/{fig}" in res.markdown


def test_flic_frames_subsample_is_seeded_and_on_the_disk_image(flic_root):
    from convcorr_eval.razavian2015 import data

    root = flic_root
    a = data.flic_frames(root, "test", 5, seed=3)
    b = data.flic_frames(root, "test", 5, seed=3)
    np.testing.assert_array_equal(a["index"], b["index"])
    n, h, w, _ = a["images"].shape
    assert n == 5 and a["points"].shape == (5, 11, 2)
    assert np.all((a["points"] > -1) & (a["points"] < [w, h]))  # joints mapped onto the stored (downscaled) frame


def test_flic_person_crop_maps_the_mean_training_pose_back_onto_the_labelled_person(flic_root):
    from convcorr_jax.core import geometry
    from convcorr_eval.razavian2015 import data, flic_joints

    root = flic_root
    tr, te = data.flic_frames(root, "train", 30, seed=0), data.flic_frames(root, "test", 12, seed=1)
    (im_tr, M_tr), (im_te, M_te) = flic_joints.views(tr, "person", (96, 96)), flic_joints.views(te, "person", (96, 96))
    assert im_tr.shape == (30, 96, 96, 3) and im_te.dtype == np.uint8 and M_te.shape == (12, 2, 3)
    mean_crop = geometry.transform_points(tr["points"].astype(np.float64), M_tr).mean(0)  # [11, 2] crop pixels
    assert np.all((mean_crop > 0) & (mean_crop < 96))  # the person box holds the joints
    back = geometry.transform_points(np.broadcast_to(mean_crop, (12, 11, 2)), geometry.invert_affine(M_te))
    h, w = te["images"].shape[1:3]
    assert np.all(np.isfinite(back))
    assert np.mean((back >= -0.5).all(-1) & (back <= [w - 0.5, h - 0.5]).all(-1)) > 0.8  # inside the frame
    # the labelled box tells where the person is: the mapped-back mean pose beats the mean frame pose
    err = lambda p: np.mean(np.linalg.norm(p - te["points"], axis=-1) / te["torso"][:, None])  # noqa: E731
    assert err(back) < 0.75 * err(np.broadcast_to(tr["points"].mean(0), back.shape))
    frame, eye = flic_joints.views(te, "frame", None)
    assert frame is te["images"] and np.array_equal(eye, np.broadcast_to(np.eye(2, 3), (12, 2, 3)))


def test_flic_person_views_without_a_crop_size_name_it():
    from convcorr_jax.core.errors import InputError
    from convcorr_eval.razavian2015 import flic_joints

    frames = {"images": np.zeros((2, 40, 30, 3), np.uint8), "torso_box": np.array([[5.0, 5.0, 15.0, 20.0]] * 2)}
    with pytest.raises(InputError) as e:
        flic_joints.views(frames, "person", None)
    assert e.value.source == "views" and e.value.field == "size"
