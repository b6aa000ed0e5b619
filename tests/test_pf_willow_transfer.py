"""Keypoint transfer on PF-WILLOW (eval/long2014/pf_willow.py): hand-checkable flows, the protocol's guards (valid
keypoints, the target's box, pair order), every method on an image paired with itself, and the tiny experiment."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from convcorr_jax.backbones import get
from convcorr_jax.correspondence.frame_transfer import _flow_at_points
from convcorr_jax.correspondence.frames import frame_boxes, make_frames
from convcorr_jax.correspondence.points import valid_keypoints
from convcorr_jax.data.pf_willow import pf_willow_classes
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context
from convcorr_eval.long2014 import pf_willow as pf_willow_eval
from convcorr_eval.long2014 import pf_willow_validation


def _sample(image, points):
    pts = np.asarray(points, np.float32)
    return KeypointSample(points=pts, visible=np.ones(len(pts), bool), names=tuple(map(str, range(len(pts)))),
                          bbox=np.r_[pts.min(0), pts.max(0)], category="x", id="x", image=image)


def _tiny(**fields):
    """long2014.pf_willow's tiny config with `fields` (its own or its transfer settings') replaced."""
    return pf_willow_eval.replace_fields(pf_willow_eval.get_config("tiny"), **fields)


def _boxes(*samples):
    return frame_boxes([s.image for s in samples])


def test_zero_flow_moves_points_by_the_image_scaling():
    """features=none: a point goes to the same relative position of a differently sized image (pixel edges map to
    pixel edges: x' = (x + 0.5) W' / W - 0.5), exactly."""
    pa = np.array([[0, 0], [199, 99], [50.5, 20]], np.float32)
    pb = (pa + 0.5) * np.array([300 / 200, 50 / 100], np.float32) - 0.5
    a = _sample(np.zeros((100, 200, 3), np.uint8), pa)
    b = _sample(np.zeros((50, 300, 3), np.uint8), pb)
    cfg = _tiny(features="none", image_size=64)
    r = pf_willow_eval.evaluate_set([a, b], _boxes(a, b), np.array(["x", "x"]), cfg, get("caffenet"), None,
                       np.array([[0, 1], [1, 0]]))
    np.testing.assert_allclose(r["pred"][0], b.points, atol=1e-4)
    np.testing.assert_allclose(r["pred"][1], a.points, atol=1e-4)
    assert r["pck"]["0.05"]["mean"] == 1.0


def test_flow_is_read_bilinearly_between_grid_nodes():
    grid = np.stack(np.meshgrid(np.array([10.0, 20.0, 30.0]), np.array([5.0, 15.0]), indexing="xy"), -1)
    flow = np.zeros((2, 3, 2), np.float32)
    flow[..., 0] = [[0, 2, 4], [0, 2, 4]]  # dx grows 2 per node along x
    flow[..., 1] = [[1, 1, 1], [3, 3, 3]]  # dy grows 2 per node along y
    got = _flow_at_points(flow, grid, np.array([[15.0, 10.0], [0.0, 0.0], [40.0, 20.0]]))
    np.testing.assert_allclose(got, [[1, 2], [0, 1], [4, 3]], atol=1e-6)  # outside the grid: edge values


def test_image_with_itself_transfers_exactly(pf_root):
    """An image aligned to itself: the data cost is zero at zero displacement, so the flow is zero and PCK 1."""
    from convcorr_jax.data.pf_willow import load_pf_willow

    s = load_pf_willow(pf_root, classes=["car(S)"], with_images=True)[:1]
    cfg = _tiny(backbone="caffenet", weights="random", features="sift", method="bp", data_root=pf_root)
    r = pf_willow_eval.evaluate_set([s[0], s[0]], _boxes(s[0], s[0]), np.array(["car(S)"]), cfg, get("caffenet"), None,
                       np.array([[0, 1]]))
    assert np.all(r["flows"] == 0)
    np.testing.assert_allclose(r["pred"][0], s[0].points, atol=1e-3)
    assert all(r["pck"][a]["mean"] == 1.0 for a in r["pck"])


# cnn-rhm, cnn-bp and sift-cos are slow (`make test-all`): the cnn-ot_rhm case runs the same experiment with the
# default matcher, and tests/test_transfer_points.py's rhm-cnn, bp-cnn and cos-sift cases check that these methods
# give the experiment's predictions
@pytest.mark.parametrize("features,method", [pytest.param("cnn", "bp", marks=pytest.mark.slow), ("cnn", "ot_rhm"),
                                             pytest.param("cnn", "rhm", marks=pytest.mark.slow),
                                             pytest.param("sift", "cos", marks=pytest.mark.slow), ("none", "bp")])
def test_tiny_experiment_on_pf_willow(tmp_path, pf_root, features, method):
    cfg = _tiny(backbone="caffenet", weights="random", features=features, method=method, data_root=pf_root)
    res = pf_willow_eval.run(cfg, Context(tmp_path, progress=False))
    pck = res.metrics["pck"]
    subs = pf_willow_classes(pf_root)  # every sub-class in the folder
    assert res.metrics["pairs"] == 2 * len(subs)  # 2 pairs x each sub-class
    assert res.metrics["subclasses"] == dict.fromkeys(subs, 2)
    assert "Sub-classes scored: car(G) (2 pairs), car(S) (2 pairs), duck(S) (2 pairs)" in res.markdown
    assert set(pck) == {"0.05", "0.1", "0.2"}
    assert {*subs, "mean"} == set(pck["0.1"])
    assert all(0 <= pck["0.05"][c] <= pck["0.1"][c] <= pck["0.2"][c] <= 1 for c in pck["0.1"])
    # tiny: labelled, and the published peers left out
    assert "not comparable to the paper" in res.markdown and "SIFT Flow C++" not in res.markdown
    assert "figures/pf_willow_transfer.png" in res.markdown
    assert (tmp_path / "figures" / "pf_willow_transfer.png").is_file()


def test_command_writes_json(tmp_path, monkeypatch, pf_root):
    root = pf_root
    tiny = pf_willow_eval.get_config("tiny")
    monkeypatch.setattr(pf_willow_eval, "get_config", lambda size="default": tiny)
    out = tmp_path / "pck.json"
    res = pf_willow_eval.pf_willow_command(root, "none", "caffenet", "random", out, progress=False)
    saved = json.loads(out.read_text())
    assert saved["pairs"] == res["pairs"] == 2 * len(pf_willow_classes(root))
    assert set(saved["pck"]) == {"0.05", "0.1", "0.2"} and 0 <= saved["pck"]["0.1"]["mean"] <= 1
    assert saved["seconds"] >= 0


# ------------------------------------------------------------------------------------------ protocol guards
def test_valid_keypoints_drop_nan_and_padded_rows():
    pts = np.array([[0, 0], [-0.5, 10], [np.nan, 3], [-1, -1], [-2, -2], [39.5, 29.5], [40, 5], [5, np.inf]])
    np.testing.assert_array_equal(valid_keypoints(pts), [1, 1, 0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(valid_keypoints(pts, (30, 40)), [1, 1, 0, 0, 0, 1, 0, 0])


def _padded_pair():
    """Target t: 8 keypoints spanning a 100 px box, then a -1 and a -2 padded row; source s: the same points moved
    10.5 px in x, its first keypoint missing (NaN), the same padded rows. Same image size: the zero flow predicts
    the source points."""
    t = np.array([[50, 50], [150, 150], [60, 70], [80, 90], [100, 60], [120, 140], [140, 80], [70, 120],
                  [-1, -1], [-2, -2]], np.float64)
    s = t.copy()
    s[:8, 0] += 10.5
    s[0] = np.nan
    img = np.zeros((200, 200, 3), np.uint8)
    return _sample(img, s), _sample(img, t)


def test_padded_and_missing_keypoints_stay_out_of_the_box_and_pair_order_is_source_to_target():
    src, trg = _padded_pair()
    cfg = _tiny(features="none", image_size=64)
    # pair 0: src -> trg (group a); pair 1: trg -> src (group b)
    r = pf_willow_eval.evaluate_set([src, trg], _boxes(src, trg), np.array(["a", "b"]), cfg, get("caffenet"), None,
                       np.array([[0, 1], [1, 0]]))
    assert np.isnan(r["pred"][0, 0]).all() and np.isnan(r["pred"][:, 8:]).all()  # no source keypoint: no prediction
    np.testing.assert_allclose(r["pred"][0, 1:8], src.points[1:8], atol=1e-3)
    # a: 8 valid target keypoints, box 100 px from them alone (with the padded rows it would be 152 px and the
    # 10.5 px error a hit at 0.1); the keypoint missing in the source is a miss
    assert r["pck"]["0.1"]["a"] == 0.0 and r["pck"]["0.2"]["a"] == pytest.approx(7 / 8)
    # b: the target is src: its missing keypoint and padded rows are left out (7 counted), box from its valid ones
    assert r["pck"]["0.1"]["b"] == 0.0 and r["pck"]["0.2"]["b"] == 1.0


def test_a_target_without_a_keypoint_box_is_refused():
    src, trg = _padded_pair()
    pts = np.full((10, 2), -1.0)
    pts[0] = [5, 5]
    lone = _sample(np.zeros((200, 200, 3), np.uint8), pts)
    cfg = _tiny(features="none", image_size=64)
    with pytest.raises(InputError, match="at least 2 valid keypoints"):
        pf_willow_eval.evaluate_set([src, lone], _boxes(src, lone), np.array(["a"]), cfg, get("caffenet"), None,
                       np.array([[0, 1]]))


@pytest.mark.parametrize("method", pf_willow_eval.METHODS)
def test_every_method_transfers_an_image_to_itself_exactly(method):
    """Identical images: BP's data cost is zero at zero displacement; every matcher's best target of a node is the
    node itself, so HPF's transfer returns the keypoint. PCK 1 at every alpha. (On the conv4 grid: a finer grid
    clamps its outer nodes to the taps' edge columns, and equal columns tie. Without the default's third network:
    its stride-32 taps read at stride-16 nodes make neighbours' columns nearly equal, and OT's column scaling can
    then prefer a neighbour.)"""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    pts = np.stack([rng.uniform(5, 155, 10), rng.uniform(5, 115, 10)], -1)
    a = _sample(img, pts)
    cfg = _tiny(backbone="caffenet", weights="random", method=method, grid="conv4", third_backbone=None)
    backbone, params = load_backbone("caffenet", "random")
    r = pf_willow_eval.evaluate_set([a, a], _boxes(a, a), np.array(["x"]), cfg, backbone, params, np.array([[0, 1]]))
    np.testing.assert_allclose(r["pred"][0], pts, atol=1e-3)
    assert all(r["pck"][al]["mean"] == 1.0 for al in r["pck"])


def test_single_tap_raw_row_is_the_tap_itself():
    """taps=(conv4,), grid=conv4, normalise=false: the hyperpixels are the tap's raw activations on its own grid
    (the single-tap conv flow of Long et al.), so BP sees the same features as `extract`."""
    from convcorr_jax.features.extract import extract

    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 255, (100, 130, 3), dtype=np.uint8) for _ in range(2)]
    samples = [_sample(im, [[10, 10], [90, 60]]) for im in imgs]
    cfg = _tiny(backbone="caffenet", weights="random", taps=("conv4",), grid="conv4", normalise=False, method="bp")
    backbone, params = load_backbone("caffenet", "random")
    images = [s.image for s in samples]
    fr = make_frames(images, frame_boxes(images), cfg.transfer, backbone, params)
    raw = extract(backbone, params, fr.crops, ("conv4",))["conv4"]
    np.testing.assert_allclose(fr.features(), raw, rtol=1e-5, atol=1e-5)


def test_validation_rows_parse_and_refuse_bad_ones():
    base = pf_willow_eval.get_config("tiny")
    c = pf_willow_validation.parse_row("method=ot_rhm backbone=vgg16 taps=conv4_1+conv5_1 radius=2 image_size=320",
                                       base)
    t = c.transfer
    assert (t.method, c.backbone, t.taps, t.radius, t.image_size, t.grid_spec) == (
        "ot_rhm", "vgg16", ("conv4_1", "conv5_1"), 2.0, 320, 8)
    for bad, field in (("method=sgd", "method"), ("beta", "rows"), ("backbone=vgg16 taps=conv9", "taps"),
                       ("colour=red", "colour")):
        with pytest.raises(InputError) as e:
            pf_willow_validation.parse_row(bad, base)
        assert field in str(e.value)
    with pytest.raises(InputError):
        pf_willow_validation.Config(rows=("method=bp", "method=nope"))


def test_tiny_validation_on_pf_willow(tmp_path, pf_root):
    cfg = dataclasses.replace(pf_willow_validation.get_config("tiny"), backbone="caffenet", weights="random",
                              data_root=pf_root, mixed=("car(G)+car(S)",))
    res = pf_willow_validation.run(cfg, Context(tmp_path, progress=False))
    rows = res.metrics["rows"]
    # the mixed-view set: a fold of its own, last, chosen on the sub-classes other than car(G) and car(S), and
    # left out of each row's mean
    mixed = res.metrics["leave_one_out"][-1]
    assert mixed["left_out"] == "car(G)+car(S)" and "mixed views @0.1" in res.markdown
    others = [k for k in rows[0]["per_class"] if k not in ("car(G)", "car(S)", "car(G)+car(S)")]
    assert mixed["train"] == pytest.approx(np.mean([rows[mixed["row"]]["per_class"][k] for k in others]))
    assert rows[0]["pck"]["0.1"] == pytest.approx(np.mean([v for k, v in rows[0]["per_class"].items() if "+" not in k]))
    assert [r["method"] for r in rows[:3]] == ["bp", "ot_rhm", "rhm"] and rows[3]["features"] == "none"
    assert rows[2]["radius"] == 2.0 and rows[0]["grid"] == 16 and rows[1]["grid"] == 8
    assert all(0 <= r["pck"]["0.05"] <= r["pck"]["0.1"] <= r["pck"]["0.2"] <= 1 for r in rows)
    assert "**chosen**" in res.markdown and res.metrics["chosen"]["method"] in pf_willow_eval.METHODS
    pck = rows[0]["pck"]  # fractions in the JSON, percent with one decimal in the report
    assert " | ".join(f"{100 * pck[a]:.1f}" for a in ("0.05", "0.1", "0.2")) in res.markdown
    assert res.metrics["pck_about"]["normaliser"] == "target keypoint box" and "real pf_willow" in res.markdown
    # leave one sub-class out: a fold per sub-class, each scored with its chosen row's own PCK@0.1 there
    folds, subs = res.metrics["leave_one_out"][:-1], [k for k in rows[0]["per_class"] if "+" not in k]
    assert [f["left_out"] for f in folds] == subs and len(subs) >= 2
    assert all(f["score"] == rows[f["row"]]["per_class"][f["left_out"]] for f in folds)
    assert "**Leave one sub-class out**" in res.markdown and "worst sub-class @0.1" in res.markdown
    assert "radius 2, flip off, cycle 1" in res.markdown


def test_steps_text_names_each_step_of_any_matcher_that_uses_it():
    """The Hough width is named for every matcher whose table entry smooths Hough votes (on SIFT features too, and a
    matcher registered later), never for one that does not; the carry's trim and weights for every matcher."""
    from convcorr_jax.correspondence import matching
    from convcorr_jax.correspondence.point_config import PointTransferConfig

    def text(**fields):
        return pf_willow_eval.steps_text(PointTransferConfig(**PointTransferConfig.ONE_NETWORK, **fields))

    scaled = ", offsets scaled by the matches' spread"
    assert text(method="ot_rhm") == ", Hough width 15, trimmed carry 4" + scaled
    assert text(method="rhm", features="sift", hough_side=7, trim=None, carry_scale=False) == ""
    assert text(method="rhm", features="sift") == ", Hough width 15, trimmed carry 4" + scaled
    assert text(method="ot", carry_sigma=1.5, carry_scale=False) == \
        ", trimmed carry 4, carriers weighted by distance (sigma 1.5)"
    assert text(method="bp", trim=None) == ""
    hough = matching.MATCHERS["rhm"]
    matching.register_matcher("test_later_rhm", hough.scores, "later RHM", hough=True, replace=True)
    try:
        assert text(method="test_later_rhm", trim=None, carry_scale=False) == ", Hough width 15"
    finally:
        matching.MATCHERS.unregister("test_later_rhm")


def test_one_backbone_per_run_whichever_field_names_it():
    from convcorr_jax.core.config import override

    base = pf_willow_eval.get_config("tiny")
    for key in ("backbone", "transfer.backbone"):
        cfg = override(base, [f"{key}=torchvision_alexnet"])
        assert (cfg.backbone, cfg.transfer.backbone) == ("torchvision_alexnet", "torchvision_alexnet"), key
    with pytest.raises(InputError, match="transfer.backbone"):
        override(base, ["backbone=torchvision_alexnet", "transfer.backbone=mobilenet_v2"])
