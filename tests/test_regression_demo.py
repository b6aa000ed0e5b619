"""Razavian et al. end to end: the tables experiment at tiny size through the runner, the real-data protocol
helpers (face crops, 300-W splits)."""

import dataclasses

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.data.types import KeypointSample
from convcorr_eval.razavian2015 import common, data


def test_face_crop_samples_move_points_with_the_image():
    im = np.zeros((80, 100, 3), np.uint8)
    pts = np.array([[30.0, 40.0], [60.0, 40.0], [45.0, 60.0]], np.float32)
    for x, y in pts.astype(int):
        im[y, x] = 255
    s = KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.array([30, 40, 60, 60], np.float32), "face", "f0",
                       im)
    rule = data.mean_shape_box([s], margin=0.25)
    (c,) = data.face_crop_samples([s], rule, size=64)
    assert c.image.shape == (64, 64, 3)
    for x, y in c.points:
        assert c.image[int(round(y)), int(round(x))].max() > 0  # a landmark's pixel is lit in the crop
    back = geometry.transform_points(c.points, geometry.invert_affine(c.extras["crop_affine"]))
    np.testing.assert_allclose(back, pts, atol=1e-4)


def test_face_box_does_not_depend_on_test_landmarks():
    """The crop of a test face comes from the training faces' mean shape and the image size only."""
    rng = np.random.default_rng(0)

    def face(pts, h=90, w=120):
        return KeypointSample(np.asarray(pts, np.float32), np.ones(len(pts), bool), tuple(map(str, range(len(pts)))),
                              np.zeros(4, np.float32), "face", "f",
                              rng.integers(0, 255, (h, w, 3), dtype=np.uint8))

    train = [face([[40, 30], [80, 30], [60, 60]]), face([[50, 40], [90, 40], [70, 70]])]
    rule = data.mean_shape_box(train, margin=0.25)
    test = face([[10, 10], [20, 10], [15, 20]])
    moved = dataclasses.replace(test, points=np.array([[100, 80], [110, 80], [105, 88]], np.float32))
    (a,), (b,) = data.face_crop_samples([test], rule, 64), data.face_crop_samples([moved], rule, 64)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.extras["crop_affine"], b.extras["crop_affine"])
    # the box is the training mean shape's (relative) box, squared and enlarged by the margin on each side
    mean_rel = np.mean([np.asarray(s.points) / [120, 90] for s in train], axis=0)
    np.testing.assert_allclose(rule.centre, (mean_rel.min(0) + mean_rel.max(0)) / 2)
    np.testing.assert_allclose(rule.side, 1.5 * np.max(mean_rel.max(0) - mean_rel.min(0)))


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
    assert set(t1) == {"Dataset Bias", "RGB + ridge", "ConvNet + ridge, global average pool of pool5",
                       "ConvNet + ridge", "ConvNet + look-back"}
    assert "flattened pool5-role map (pool5)" in res.markdown  # the headline: fc6's input, the flattened map
    assert all(0 < v < 2 for v in t1.values())
    assert "not comparable to the paper" in res.markdown and "the paper's numbers are left out" in res.markdown
    assert 0 <= res.metrics["keypoints"]["pck@0.1"]["mean"] <= 1
    assert 0 <= res.metrics["rgb_seg"]["rgb_mae"] < 0.5
    for m in (res.metrics["rgb_seg"], res.metrics["rgb_seg"]["extra"], res.metrics["directions"]):  # Fig. 4's lambda
        assert m["rgb_lambda"] > 0 and m["rgb_lambda_edge"] in ("", "low", "high")
        assert f"lambda {common.lambda_text(m['rgb_lambda'], m['rgb_lambda_edge'])}" in res.markdown
    assert 0 <= res.metrics["rgb_seg"]["seg_mean_iou"] <= 1 and "IoU ours" in res.markdown
    scored = sum(np.isfinite(v) for v in res.metrics["rgb_seg"]["seg_iou"].values())
    assert f"mean of the {scored} classes scored" in res.markdown  # the text names the mean the row gives
    assert "the mean over the classes scored" in res.markdown and "classes including background" not in res.markdown


def test_descriptor_named_by_a_tap_describes_and_labels_it():
    """The config accepts a backbone's own tap name as `descriptor` (its check lists the taps): the featurizer and
    the report's words take it as well as a role name, and a name that is neither is one InputError."""
    import pytest

    from convcorr_jax.core.errors import InputError
    from convcorr_jax.regression.features import backbone_featurizers
    from convcorr_jax.weights import load_backbone
    from convcorr_eval.razavian2015 import common

    backbone, params = load_backbone("caffenet", "random", 0)
    fz = backbone_featurizers(backbone, params, ("norm2", "pool5"), batch_size=2)  # norm2: a tap, no role
    im = np.random.default_rng(0).integers(0, 256, (2, 67, 67, 3), dtype=np.uint8)
    by_tap, by_role = fz["norm2"](im), fz["pool5"](im)
    assert by_tap.shape[0] == 2 and by_role.shape[0] == 2
    np.testing.assert_allclose(np.linalg.norm(by_tap, axis=1), 1.0, rtol=1e-5)
    backbone_mnv2 = load_backbone("mobilenet_v2", "random", 0)[0]
    assert common.describe_role(backbone_mnv2, "block13") == "flattened map of tap block13"
    assert common.describe_role(backbone_mnv2, "pool5") == "flattened pool5-role map (block16)"
    assert common.is_spatial(backbone_mnv2, "block13") and not common.is_spatial(backbone_mnv2, "pool")
    with pytest.raises(InputError, match="block99"):
        backbone_featurizers(backbone, params, ("block99",))


def test_faces_300w_without_a_split_is_one_input_error(tmp_path):
    """A data_root whose .pts files form no Table 1 split (e.g. a flat folder of faces) is refused, naming the
    folder, instead of a run that succeeds with an empty table."""
    import pytest
    from PIL import Image

    from convcorr_jax.core.errors import InputError
    from convcorr_jax.data.faces300w import write_pts

    pts = np.random.default_rng(0).uniform(10, 50, (68, 2))
    for where in ("", "lfpw/trainset/"):
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
        write_pts(tmp_path / f"{where}face.pts", pts)
        Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / f"{where}face.png")
    with pytest.raises(InputError, match=r"data_root.*2 \.pts files, only lfpw/ \(train\)") as e:
        data.faces_300w(tmp_path, 32)
    assert str(tmp_path) in str(e.value) and "\n" not in str(e.value)


def test_synthetic_sets_too_small_to_split_name_the_config_field():
    """n_faces / n_objects whose ~75 / 25 split leaves no test sample (or too few training ones for 4-fold CV) are
    one InputError naming the field, not a numpy traceback further on (rgb_segmentation, directions)."""
    import pytest

    from convcorr_jax.core.errors import InputError
    from convcorr_eval.razavian2015 import rgb_segmentation

    cfg = dataclasses.replace(rgb_segmentation.get_config("tiny"), n_faces=3, n_objects=3)
    for load, field in ((data.synthetic_faces, "n_faces"), (data.synthetic_objects, "n_objects"),
                        (data.synthetic_segmentation, "n_objects")):
        with pytest.raises(InputError, match=rf"'{field}'.*got 3: 3 train / 0 test"):
            load(cfg)
    ok = dataclasses.replace(cfg, n_faces=6)
    train, test = data.synthetic_faces(ok)
    assert len(train) >= data.MIN_TRAIN and len(test) >= 1


def test_a_face_size_the_synthetic_faces_are_not_drawn_at_names_face_size():
    """`--set face_size=4000` was refused as "synthetic: field 'image_size'", a field the user never set; one line
    naming face_size, before any face is drawn."""
    import pytest

    from convcorr_jax.core.errors import InputError
    from convcorr_eval.razavian2015 import directions

    for size in (4000, 16):
        cfg = dataclasses.replace(directions.get_config("tiny"), face_size=size)
        with pytest.raises(InputError, match=rf"^config: field 'face_size': expected .*32\.\.2048.*got {size}$"):
            data.synthetic_faces(cfg)


def test_face_box_spans_the_face_on_images_that_are_not_square():
    """On a landscape image the crop square is (1 + 2 margin) x the face's longer pixel extent: the side is in
    units of max(width, height), as `RelativeBox.box` reads it. A face 30 px wide and 60 px tall in a 300 x 100
    image got a 270 px square (y / height times the width), 3 x too large."""
    pts = np.array([[135, 20], [165, 20], [150, 80]], np.float32)
    im = np.zeros((100, 300, 3), np.uint8)
    s = KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.zeros(4, np.float32), "face", "f", im)
    rule = data.mean_shape_box([s], margin=0.25)
    box = rule.box(300, 100)
    np.testing.assert_allclose(box[2] - box[0] + 1, 1.5 * 60)
    np.testing.assert_allclose((box[:2] + box[2:]) / 2, [150, 50])
    (c,) = data.face_crop_samples([s], rule, 90)
    np.testing.assert_allclose(c.points[:, 1].max() - c.points[:, 1].min(), 60, atol=1e-4)  # 1 px per px


def test_backbone_featurizer_refuses_images_that_are_not_uint8():
    """Float images were cast to uint8 without a word: [0, 1] floats were described as all-black images (the same
    descriptor as zeros), e.g. crops of float images in the look-back or the keypoint table."""
    import pytest

    from convcorr_jax.core.errors import InputError
    from convcorr_jax.regression.features import backbone_featurizers
    from convcorr_jax.weights import load_backbone

    backbone, params = load_backbone("caffenet", "random", 0)
    fz = backbone_featurizers(backbone, params, ("pool5",), batch_size=2)["pool5"]
    im = np.random.default_rng(0).integers(0, 256, (2, 67, 67, 3), dtype=np.uint8)
    with pytest.raises(InputError, match=r"backbone_featurizers: field 'images': expected a uint8 array"):
        fz(im / 255.0)
    with pytest.raises(InputError, match=r"backbone_featurizers: field 'images': expected shape \[N, H, W, 3\]"):
        fz(im[0])
    assert fz(im).shape[0] == 2
