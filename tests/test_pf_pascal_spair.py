"""PF-PASCAL and SPair-71k: loaders on fixtures written here in the releases' formats (HPF's PF-PASCAL csv + .mat
annotations; SPair-71k's pair json files), splits, the PCK thresholds by hand, the protocol guard, malformed files,
and `convcorr eval pf-pascal` / `spair` end to end on the fixtures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_cli.main import main
from convcorr_jax.data.keypoint_pairs import pair_norms
from convcorr_jax.data.pf_pascal import PF_PASCAL_CLASSES, load_pf_pascal
from convcorr_jax.data.spair import load_spair
from convcorr_jax.core.errors import InputError
from convcorr_eval.long2014 import pf_benchmarks, pf_willow

CAR, CAT = PF_PASCAL_CLASSES.index("car") + 1, PF_PASCAL_CLASSES.index("cat") + 1


def _image(path, w, h, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


# ------------------------------------------------------------------------------------------------ PF-PASCAL
# 1-based (MATLAB) keypoints; NaN rows: parts an image does not show
KPS = {
    "a": np.array([[11, 21], [31, 41], [np.nan, np.nan], [51, 61]], float),
    "b": np.array([[15, 21], [np.nan, np.nan], [41, 11], [61, 81]], float),
    "c": np.array([[5, 5], [20, 30], [40, 50]], float),
    "d": np.array([[8, 5], [20, 30], [40, 50]], float),
}
SIZES = {"a": (100, 80), "b": (120, 90), "c": (90, 90), "d": (50, 140)}  # (width, height)


def _pf_pascal(root, extra_columns=False):
    """a, b: cars of 4 parts; c, d: cats of 3; test: a->b, b->a, c->d; trn: c->d (with HPF's flip column)."""
    for name, kps in KPS.items():
        cls = "car" if name in "ab" else "cat"
        (root / "Annotations" / cls).mkdir(parents=True, exist_ok=True)
        sio.savemat(root / "Annotations" / cls / f"{name}.mat", {"kps": kps, "bbox": np.array([[2, 3, 60, 70]])})
        _image(root / "JPEGImages" / f"{name}.jpg", *SIZES[name], seed=ord(name))
    head = "source_image,target_image,class" + (",XA,YA,XB,YB" if extra_columns else "")
    tail = ',"1;2","3;4","5;6","7;8"' if extra_columns else ""
    (root / "test_pairs.csv").write_text(f"{head}\nJPEGImages/a.jpg,JPEGImages/b.jpg,{CAR}{tail}\n"
                                         f"JPEGImages/b.jpg,JPEGImages/a.jpg,{CAR}{tail}\n"
                                         f"JPEGImages/c.jpg,JPEGImages/d.jpg,{CAT}{tail}\n")
    (root / "trn_pairs.csv").write_text(f"source_image,target_image,class,flip\n"
                                        f"JPEGImages/c.jpg,JPEGImages/d.jpg,{CAT},1\n")
    return root


@pytest.mark.parametrize("extra_columns", [False, True])
def test_pf_pascal_pairs_keep_the_parts_both_images_show(tmp_path, extra_columns):
    kp = load_pf_pascal(_pf_pascal(tmp_path / "PF-PASCAL", extra_columns), "test")
    assert [p.rsplit("/", 1)[1] for p in kp.images] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    np.testing.assert_array_equal(kp.pairs, [[0, 1], [1, 0], [2, 3]])
    assert kp.category.tolist() == ["car", "car", "cat"] and kp.norm == "image"
    # a -> b: parts 0 and 3 are in both (1 missing in b, 2 missing in a); 0-based; padded to K = 3 with NaN
    np.testing.assert_array_equal(kp.src[0, :2], [[10, 20], [50, 60]])
    np.testing.assert_array_equal(kp.trg[0, :2], [[14, 20], [60, 80]])
    assert np.isnan(kp.src[0, 2]).all() and np.isnan(kp.trg[0, 2]).all()
    np.testing.assert_array_equal(kp.src[1, :2], kp.trg[0, :2])  # b -> a: the same parts, the other way
    np.testing.assert_array_equal(kp.trg[2], KPS["d"] - 1)
    np.testing.assert_array_equal(kp.trg_box[0], [1, 2, 59, 69])


def test_pf_pascal_splits_and_image_threshold(tmp_path):
    root = _pf_pascal(tmp_path / "PF-PASCAL")
    trn = load_pf_pascal(root, "trn")
    assert len(trn.pairs) == 1 and trn.category.tolist() == ["cat"]
    with pytest.raises(InputError, match="val_pairs.csv"):
        load_pf_pascal(root, "val")
    with pytest.raises(InputError, match="split"):
        load_pf_pascal(root, "train")
    kp = load_pf_pascal(root, "test")
    hw = np.array([SIZES[n][::-1] for n in "abcd"])
    # max(h, w) of each pair's TARGET image: b 120 x 90 -> 120, a 100 x 80 -> 100, d 50 x 140 -> 140
    np.testing.assert_array_equal(pair_norms(kp, hw), [120, 100, 140])


def test_pf_pascal_malformed_files_are_one_clear_error(tmp_path):
    root = _pf_pascal(tmp_path / "PF-PASCAL")
    (root / "val_pairs.csv").write_text("src,trg,class\na.jpg,b.jpg,7\n")
    with pytest.raises(InputError, match=r"val_pairs.csv.*header.*source_image,target_image,class"):
        load_pf_pascal(root, "val")
    (root / "val_pairs.csv").write_text("source_image,target_image,class\na.jpg,b.jpg,21\n")
    with pytest.raises(InputError, match=r"val_pairs.csv:2.*class.*1\.\.20"):
        load_pf_pascal(root, "val")
    for bad in ("inf", "2.5", "nan"):  # not an integer class: one line, never a traceback or class 2 for 2.5
        (root / "val_pairs.csv").write_text(f"source_image,target_image,class\na.jpg,b.jpg,{bad}\n")
        with pytest.raises(InputError, match=rf"val_pairs.csv:2.*class.*1\.\.20.*{bad}"):
            load_pf_pascal(root, "val")
    (root / "val_pairs.csv").write_text("source_image,target_image,class\n")
    with pytest.raises(InputError, match=r"val_pairs.csv.*rows.*at least one pair"):
        load_pf_pascal(root, "val")
    (root / "val_pairs.csv").write_text(f"source_image,target_image,class\na.jpg,zz.jpg,{CAR}\n")
    with pytest.raises(InputError, match=r"zz.mat.*missing file"):
        load_pf_pascal(root, "val")
    sio.savemat(root / "Annotations" / "car" / "b.mat", {"kps": np.zeros((4, 3))})
    with pytest.raises(InputError, match=r"b.mat.*kps.*K x 2"):
        load_pf_pascal(root, "test")
    sio.savemat(root / "Annotations" / "car" / "b.mat", {"points": np.zeros((4, 2))})
    with pytest.raises(InputError, match=r"b.mat.*'kps'"):
        load_pf_pascal(root, "test")
    for row in ([np.nan, 5.0], [np.inf, 5.0]):  # half a point or inf: was read as a missing part without a word
        sio.savemat(root / "Annotations" / "car" / "b.mat", {"kps": np.array([[3.0, 4.0], [6.0, 7.0], row])})
        with pytest.raises(InputError, match=r"b.mat: field 'kps': expected finite \(x, y\) rows, or NaN in both .*"
                           r"at kps\[2\] \(1 such in all\)"):
            load_pf_pascal(root, "test")


# ------------------------------------------------------------------------------------------------ SPair-71k
def _spair(root):
    """test: two pairs (aeroplane, cat); trn: one pair. Target boxes with hand-checkable max sides."""
    _image(root / "JPEGImages" / "aeroplane" / "p1.jpg", 100, 80, 1)
    _image(root / "JPEGImages" / "aeroplane" / "p2.jpg", 100, 80, 2)
    _image(root / "JPEGImages" / "cat" / "c1.jpg", 60, 60, 3)
    pairs = {
        "test": {"000001-p1-p2:aeroplane": ("p1", "p2", "aeroplane", [[10, 10], [20, 30], [50, 40]],
                                            [[12, 10], [20, 38], [70, 40]], [5, 6, 85, 46]),
                 "000002-c1-c1:cat": ("c1", "c1", "cat", [[5, 5], [30, 30]], [[5, 5], [30, 30]], [0, 0, 40, 50])},
        "trn": {"000003-p2-p1:aeroplane": ("p2", "p1", "aeroplane", [[1, 1]], [[2, 2]], [0, 0, 9, 9])},
    }
    for split, items in pairs.items():
        (root / "PairAnnotation" / split).mkdir(parents=True, exist_ok=True)
        for name, (s, t, cat, sk, tk, box) in items.items():
            (root / "PairAnnotation" / split / f"{name}.json").write_text(json.dumps(
                {"src_imname": f"{s}.jpg", "trg_imname": f"{t}.jpg", "category": cat, "src_kps": sk, "trg_kps": tk,
                 "src_bndbox": [0, 0, 10, 10], "trg_bndbox": box, "viewpoint_variation": 1, "scale_variation": 0,
                 "truncation": 0, "occlusion": 0}))
    return root


def test_spair_pairs_splits_and_box_threshold(tmp_path):
    root = _spair(tmp_path / "SPair-71k")
    kp = load_spair(root, "test")
    assert kp.names == ("000001-p1-p2:aeroplane", "000002-c1-c1:cat") and kp.norm == "box"
    assert [p.split("JPEGImages/")[1] for p in kp.images] == ["aeroplane/p1.jpg", "aeroplane/p2.jpg", "cat/c1.jpg"]
    np.testing.assert_array_equal(kp.pairs, [[0, 1], [2, 2]])
    np.testing.assert_array_equal(kp.trg[0], [[12, 10], [20, 38], [70, 40]])
    assert np.isnan(kp.src[1, 2]).all()  # padded to K = 3
    # max(x1 - x0, y1 - y0) of the target box: (80, 40) -> 80; (40, 50) -> 50; the image size plays no part
    np.testing.assert_array_equal(pair_norms(kp, np.array([[1, 1]] * 3)), [80, 50])
    assert len(load_spair(root, "trn").pairs) == 1
    with pytest.raises(InputError, match=r"PairAnnotation/val.*missing"):
        load_spair(root, "val")


@pytest.mark.parametrize("field, value, expected", [
    ("trg_kps", [[1, 2, 3]], r"trg_kps.*\[\[x, y\]"),
    ("trg_kps", [[1, 2]], r"trg_kps.*as many keypoints as src_kps"),
    ("trg_kps", [[12, 10], [float("nan"), 38], [70, 40]], r"trg_kps.*finite"),  # NaN: dropped as padding before
    ("src_kps", [[10, 10], [20, float("inf")], [50, 40]], r"src_kps.*finite"),
    ("trg_bndbox", [1, 2, 3], r"trg_bndbox.*x0, y0, x1, y1"),
    ("trg_bndbox", [5, 6, 5, 6], r"trg_bndbox.*of some size"),  # was refused only after every pair's features
    ("category", "zebra", r"category.*aeroplane"),
    ("src_kps", None, r"src_kps.*missing"),
])
def test_spair_malformed_annotation_is_one_clear_error(tmp_path, field, value, expected):
    root = _spair(tmp_path / "SPair-71k")
    path = root / "PairAnnotation" / "test" / "000001-p1-p2:aeroplane.json"
    d = json.loads(path.read_text())
    if value is None:
        del d[field]
    else:
        d[field] = value
    path.write_text(json.dumps(d))
    with pytest.raises(InputError, match="000001-p1-p2:aeroplane.json.*" + expected):
        load_spair(root, "test")
    path.write_text("{not json")
    with pytest.raises(InputError, match=r"000001-p1-p2:aeroplane.json.*json"):
        load_spair(root, "test")


# ------------------------------------------------------------------------------- protocol guard and PCK by hand
def test_padded_keypoints_stay_out_of_the_count_and_a_missing_source_is_a_miss(tmp_path):
    """SPair-style pair with a -1 padded target row and an off-image source keypoint: the padded row is not
    counted, the source keypoint off the image is a miss; the box threshold is the release's box, whatever the
    padding."""
    root = _spair(tmp_path / "SPair-71k")
    path = root / "PairAnnotation" / "test" / "000001-p1-p2:aeroplane.json"
    d = json.loads(path.read_text())
    d["src_kps"] = [[10, 10], [20, 30], [150, 40], [-1, -1]]
    d["trg_kps"] = [[12, 10], [20, 38], [70, 40], [-1, -1]]
    path.write_text(json.dumps(d))
    kp = load_spair(root, "test")
    hw = np.array([[80, 100], [80, 100], [60, 60]])
    src, trg = pf_benchmarks.valid_pair_keypoints(kp, hw)
    assert np.isnan(src[0, 2:]).all() and np.isnan(trg[0, 3]).all() and np.isfinite(trg[0, :3]).all()
    # the zero flow between same-size images predicts the source points; distances 2, 8, (miss); L = 80, and a
    # distance of exactly alpha * L counts (<=, HPF's torch.le): 8 = 0.1 * 80
    pred = src.copy()
    pck = pf_benchmarks.benchmark_pck(pred, trg, pair_norms(kp, hw), kp.category, (0.025, 0.1), kp.names)
    assert pck["0.025"]["aeroplane"] == pytest.approx(1 / 3) and pck["0.1"]["aeroplane"] == pytest.approx(2 / 3)
    assert pck["0.1"]["cat"] == 1.0 and pck["0.1"]["mean"] == pytest.approx((2 / 3 + 1) / 2)  # mean over pairs
    trg[1] = np.nan
    with pytest.raises(InputError, match="000002-c1-c1:cat.*at least one valid target keypoint"):
        pf_benchmarks.benchmark_pck(pred, trg, pair_norms(kp, hw), kp.category, (0.1,), kp.names)


def test_pf_pascal_pck_by_hand_with_the_image_threshold(tmp_path):
    """a -> b with the zero flow: a keypoint moves by the image scaling, x' = (x + 0.5) W_b / W_a - 0.5; distances to
    b's keypoints against 0.1 x max(h, w) of b = 12 px."""
    root = _pf_pascal(tmp_path / "PF-PASCAL")
    cfg = pf_willow.replace_fields(
        pf_benchmarks.Config(data_root=str(root), data="pf_pascal", backbone="caffenet", weights="random",
                             classes=("car",), pairs_per_class=1),
        features="none", method="bp", image_size=64)
    kp = pf_benchmarks.load_pairs(cfg)
    from convcorr_jax.weights import load_backbone

    out = pf_benchmarks.evaluate_pairs(kp, cfg, *load_backbone("caffenet", "random"))
    src = KPS["a"][[0, 3]] - 1
    pred = (src + 0.5) * np.array([120 / 100, 90 / 80]) - 0.5
    np.testing.assert_allclose(out["pred"][0, :2], pred, atol=1e-3)
    d = np.linalg.norm(pred - (KPS["b"][[0, 3]] - 1), axis=-1)
    np.testing.assert_array_equal(out["norm"], [120])
    assert d[0] < 6 and 12 < d[1] < 18  # hand-checked: 3.2 and 12.4 px
    assert [out["pck"][a]["car"] for a in ("0.05", "0.1", "0.15")] == [0.5, 0.5, 1.0]


# ------------------------------------------------------------------------------------------------ end to end
@pytest.mark.parametrize("command, make, first_category", [("pf-pascal", _pf_pascal, "car"),
                                                           ("spair", _spair, "aeroplane")])
def test_eval_command_end_to_end_on_the_fixture(tmp_path, capsys, command, make, first_category):
    root = make(tmp_path / "data")
    js = tmp_path / "pck.json"
    args = ["eval", command, "--root", str(root), "--features", "none", "--backbone", "caffenet", "--weights",
            "random", "--image-size", "64", "--out", str(tmp_path / "runs"), "--json", str(js), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "no features, zero flow" in printed and "| alpha |" in printed
    res = json.loads(js.read_text())
    assert res["split"] == "test" and res["pairs"] == (3 if command == "pf-pascal" else 2)
    assert set(res["pck"]) == {"0.05", "0.1", "0.15"} and first_category in res["pck"]["0.1"]
    assert all(0 <= v <= 1 for row in res["pck"].values() for v in row.values())
    assert main([*args[:-1], "--split", "val", "--no-progress"]) == 2  # no val split in the fixture: one line
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "val" in err


def test_sift_and_none_rows_keep_bp_flow_unless_a_method_is_named_and_say_which(tmp_path, capsys):
    """`--features sift|none` run BP flow (SIFT flow with its own validated beta, zero flow); `--method` changes it;
    the printed row names the features and the method."""
    root = _pf_pascal(tmp_path / "PF-PASCAL")
    base = ["eval", "pf-pascal", "--root", str(root), "--backbone", "caffenet", "--weights", "random",
            "--image-size", "64", "--pairs", "1", "--out", str(tmp_path / "runs"), "--no-progress"]
    sift_bp = "SIFT features (dense SIFT), grid 16, frame 64 px, BP flow, beta 0.1,"
    for extra, says in ((["--features", "sift"], sift_bp),
                        (["--features", "sift", "--method", "rhm"], "SIFT features (dense SIFT), grid 8, frame 64 px, "
                                                                    "RHM (rhm), radius 3 grid strides"),
                        (["--features", "none"], "no features, zero flow")):
        assert main([*base, *extra]) == 0, capsys.readouterr().err
        assert says in capsys.readouterr().out, extra
    base = pf_benchmarks.Config()
    assert pf_willow.replace_fields(base, features="sift", method="bp").transfer.bp_beta == 0.1
    assert pf_willow.replace_fields(base, features="cnn", method="bp").transfer.bp_beta == 0.01
    assert pf_willow.replace_fields(base, features="sift", method="bp", beta=0.03).transfer.bp_beta == 0.03


def test_frames_made_in_chunks_keep_the_prior_and_the_mirrored_features(tmp_path, monkeypatch, mobilenet_v2_prior):
    """`chunked_frames` joined only the crops, affines and features of its chunks: the CAM prior (the default OT
    marginals) and the mirrored source's features (flip_source) were dropped, so PF-PASCAL and SPair ran uniform
    marginals and no mirrored match while the row said otherwise. Chunks of 2 images give the frames of one call."""
    from convcorr_jax.correspondence import points as points_module
    from convcorr_jax.correspondence.frames import frame_boxes, make_frames
    from convcorr_jax.data.types import load_image
    from convcorr_jax.weights import load_backbone

    root = _pf_pascal(tmp_path / "PF-PASCAL")
    paths = tuple(str(root / "JPEGImages" / f"{n}.jpg") for n in "abc")
    tiny = pf_willow.get_config("tiny")
    cfg = pf_benchmarks.Config(backbone="caffenet", weights="random", transfer=dataclasses.replace(
        tiny.transfer, method="ot_rhm", image_size=64, prior="mobilenet_v2", flip_source=True,
        extra_backbone=None, third_backbone=None))
    backbone, params = load_backbone("caffenet", "random")
    monkeypatch.setattr(pf_benchmarks, "IMAGES_PER_CHUNK", 2)
    got, hw = pf_benchmarks.chunked_frames(paths, cfg, backbone, params)
    images = [load_image(p) for p in paths]
    want = make_frames(images, frame_boxes(images), cfg.transfer, backbone, params,
                       **points_module.side_models(cfg.transfer, cfg.weights))
    assert hw.tolist() == [list(im.shape[:2]) for im in images]
    for field in ("crops", "M", "grid_xy", "prior", "flipped_prior"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), atol=1e-5, err_msg=field)
    for field in ("parts", "flipped"):
        assert set(getattr(got, field)) == set(getattr(want, field))
        for k, v in getattr(want, field).items():
            np.testing.assert_allclose(getattr(got, field)[k], v, atol=1e-5, err_msg=f"{field} {k}")
    assert got.stride == want.stride
