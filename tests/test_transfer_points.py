"""`correspondence.transfer_points`: the same predictions as the PF-WILLOW experiment (real pairs, the default
method; small images, every method), a batch of pairs equal to the pairs one at a time, the dense field and the
confidence on an image paired with itself, one InputError naming the argument for bad input, one source of the
validated defaults."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from convcorr_jax.core.correspondence_metrics import pf_pck
from convcorr_jax.backbones import get
from convcorr_jax.correspondence import PointTransferConfig, Transfer, transfer_points
from convcorr_jax.correspondence import points as points_module
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import load_backbone
from convcorr_eval.long2014 import pf_willow


@pytest.fixture(scope="module")
def caffenet():
    return load_backbone("caffenet", "random")


def _sample(image, points):
    pts = np.asarray(points, np.float32)
    return KeypointSample(points=pts, visible=np.ones(len(pts), bool), names=tuple(map(str, range(len(pts)))),
                          bbox=np.r_[pts.min(0), pts.max(0)], category="x", id="x", image=image)


# Small settings shared by the tests (one compiled shape each): 96 px frames; BP on one level, two iterations.
FAST = dict(image_size=96, levels=1, iters=2)


def _images(seed=0, shapes=((90, 120), (110, 100), (96, 96))):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def _points(image, k, seed=0):
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    return np.stack([rng.uniform(0, w - 1, k), rng.uniform(0, h - 1, k)], -1)


def test_the_experiment_reads_its_defaults_from_the_library():
    assert pf_willow.Config().transfer == PointTransferConfig()
    assert pf_willow.DEFAULT_TAPS is PointTransferConfig.DEFAULT_TAPS
    assert pf_willow.DEFAULT_GRID is PointTransferConfig.DEFAULT_GRID
    cfg = PointTransferConfig()
    assert (cfg.resolved_method, cfg.backbone, cfg.tap_names, cfg.grid_spec, cfg.image_size, cfg.radius,
            cfg.trim) == ("ot_rhm", "vgg16", ("conv4_1", "conv5_1", "conv5_2"), 8, 224, 3.0, 4.0)
    assert PointTransferConfig(method="bp").grid_spec == 16
    assert PointTransferConfig(taps="conv4_1+conv5_1").taps == ("conv4_1", "conv5_1")


def test_sift_and_no_features_default_to_bp_flow_unless_a_method_is_named():
    """SIFT features mean SIFT flow (BP flow on dense SIFT) and no features the zero flow, in the library and in
    `convcorr run long2014.pf_willow --set transfer.features=sift`; a named method is kept."""
    from convcorr_eval.runner import make_config

    assert [PointTransferConfig(features=f).resolved_method for f in ("cnn", "sift", "none")] == ["ot_rhm", "bp", "bp"]
    assert PointTransferConfig(features="sift").grid_spec == 16
    assert PointTransferConfig(features="sift", method="rhm").resolved_method == "rhm"
    sift = make_config("long2014.pf_willow", "tiny", ["transfer.features=sift"])
    assert sift.transfer.resolved_method == "bp"
    assert "BP flow" in pf_willow.setting_text(sift) and sift.label == "SIFT features, BP flow"
    assert pf_willow.run_name(sift).startswith("long2014.pf_willow_sift_")
    named = make_config("long2014.pf_willow", "tiny", ["transfer.features=sift", "transfer.method=ot_rhm"])
    assert named.transfer.resolved_method == "ot_rhm"
    assert pf_willow.run_name(named).startswith("long2014.pf_willow_sift_ot_rhm_")
    with pytest.raises(InputError, match="method"):
        PointTransferConfig(method="sgd")


def test_bp_and_every_matcher_are_entries_of_the_method_table():
    """`point_config.TRANSFER_METHODS` holds BP flow ("flow") then each matcher ("matcher", its label and grid), one
    registered later too; the method names, default grids and labels read it; the former `matcher` property gives
    `resolved_method` with a DeprecationWarning."""
    from convcorr_jax.correspondence import matching
    from convcorr_jax.correspondence.point_config import METHODS, TRANSFER_METHODS, TransferMethod, method_label

    assert TRANSFER_METHODS["bp"] == TransferMethod("BP flow", 16, "flow")
    assert list(METHODS)[:5] == ["bp", "cos", "rhm", "ot", "ot_rhm"] and list(METHODS) == list(TRANSFER_METHODS)
    assert [method_label(m) for m in METHODS[:5]] == ["BP flow", "cosine nearest neighbour", "RHM", "OT", "OT + RHM"]
    assert [PointTransferConfig.DEFAULT_GRID[m] for m in METHODS[:5]] == [16, 8, 8, 8, 8]
    matching.register_matcher("test_later", lambda sim, *args: sim, "later", grid=4)
    try:
        assert TRANSFER_METHODS["test_later"] == TransferMethod("later", 4, "matcher") and "test_later" in METHODS
        assert PointTransferConfig(method="test_later").grid_spec == 4
    finally:
        matching.MATCHERS.unregister("test_later")
    assert "test_later" not in METHODS
    with pytest.raises(InputError, match="one of"):
        TRANSFER_METHODS["test_later"]
    with pytest.warns(DeprecationWarning, match="resolved_method"):
        assert PointTransferConfig(features="sift").matcher == "bp"


@pytest.mark.slow
def test_default_method_gives_the_experiments_predictions_on_real_pairs(pf_root):
    """The validated method (ot_rhm, VGG-16 conv4_1+conv5_1+conv5_2 with MobileNetV2 block13+block14 and
    EfficientNet-Lite2 block14+block18, the CAM prior, 224 px, grid 8, radius 3, trim 4) on real PF-WILLOW pairs,
    pair for pair: the experiment's predictions and PCK. VGG-16 and the second and third networks with seeded random
    weights (the weights are not what is compared); the prior's classifier has its real weights in both."""
    backbone, params = load_backbone("vgg16", "random")
    cfg = dataclasses.replace(pf_willow.get_config("default"), weights="random", data_root=pf_root,
                              classes=("duck(S)",),
                              pairs_per_class=2)
    out = pf_willow.run_pf_willow(cfg, backbone, params)
    s, pairs = out["samples"], out["pairs"]
    t = transfer_points([s[i].image for i, _ in pairs], [s[j].image for _, j in pairs],
                        [s[i].points for i, _ in pairs], weights="random")
    np.testing.assert_allclose(t.points, out["pred"], atol=1e-3)
    gt = np.stack([s[j].points for _, j in pairs])
    assert pf_pck(t.points, gt, out["groups"]) == out["pck"]
    assert t.points.shape == (2, 10, 2) and t.confidence.shape == (2, 10)
    assert np.all((t.confidence > 0) & (t.confidence <= 1 + 1e-6))


@pytest.mark.parametrize("method,features", [("ot_rhm", "cnn"), ("rhm", "cnn"), ("ot", "cnn"), ("cos", "cnn"),
                                             ("bp", "cnn"), ("cos", "sift"), ("bp", "none")])
def test_every_method_gives_the_experiments_predictions(caffenet, method, features):
    images = _images()
    samples = [_sample(im, _points(im, 6, seed=k)) for k, im in enumerate(images)]
    pairs = np.array([[0, 1], [2, 0]])
    tiny = pf_willow.get_config("tiny")
    cfg = dataclasses.replace(tiny, backbone="caffenet", weights="random",
                              transfer=dataclasses.replace(tiny.transfer, method=method, features=features, **FAST))
    boxes = np.array([[0, 0, im.shape[1] - 1, im.shape[0] - 1] for im in images], float)
    r = pf_willow.evaluate_set(samples, boxes, np.array(["x"] * 2), cfg, *caffenet, pairs)
    t = transfer_points([images[i] for i, _ in pairs], [images[j] for _, j in pairs],
                        [samples[i].points for i, _ in pairs], weights="random", config=cfg.transfer)
    np.testing.assert_allclose(t.points, r["pred"], atol=1e-3)
    if features == "none":
        assert np.isnan(t.confidence).all()
    else:
        assert np.all((t.confidence >= 0) & (t.confidence <= 1 + 1e-6))


def test_the_cam_prior_gives_the_experiments_predictions(caffenet, mobilenet_v2_prior):
    """prior="mobilenet_v2" (its real ImageNet classifier, loaded once): transfer_points equals the experiment's
    frames and transfer, and the prior moves some point against uniform marginals."""
    images = _images()
    samples = [_sample(im, _points(im, 12, seed=k)) for k, im in enumerate(images)]
    pairs = np.array([[0, 1], [2, 0]])
    tiny = pf_willow.get_config("tiny")
    got = {}
    for prior in (None, "mobilenet_v2"):
        cfg = dataclasses.replace(tiny, backbone="caffenet", weights="random", transfer=dataclasses.replace(
            tiny.transfer, method="ot_rhm", prior=prior, prior_floor=0.01, **FAST))
        boxes = np.array([[0, 0, im.shape[1] - 1, im.shape[0] - 1] for im in images], float)
        r = pf_willow.evaluate_set(samples, boxes, np.array(["x"] * 2), cfg, *caffenet, pairs)
        t = transfer_points([images[i] for i, _ in pairs], [images[j] for _, j in pairs],
                            [samples[i].points for i, _ in pairs], weights="random", config=cfg.transfer)
        np.testing.assert_allclose(t.points, r["pred"], atol=1e-3)
        got[prior] = t.points
    assert np.abs(got[None] - got["mobilenet_v2"]).max() > 1.0


@pytest.mark.parametrize("method", ["ot_rhm", "bp"])
def test_a_batch_of_pairs_equals_the_pairs_one_at_a_time(caffenet, method):
    """Three pairs of different image sizes and point counts, the matchers in batches of 2 (the last one padded):
    the same points, confidences and fields as three separate calls."""
    a, b, c = _images(1)
    pa, pb, pc = _points(a, 5, 1), _points(b, 3, 2), _points(c, 4, 3)
    cfg = PointTransferConfig(backbone="caffenet", method=method, match_batch=2, batch=2, **FAST)
    batch = transfer_points([a, b, c], [b, c, a], [pa, pb, pc], model=caffenet, config=cfg, with_field=True)
    assert batch.points.shape == (3, 5, 2) and batch.field.shape[0] == 3
    for p, (x, y, q) in enumerate([(a, b, pa), (b, c, pb), (c, a, pc)]):
        one = transfer_points(x, y, q, model=caffenet, config=cfg, with_field=True)
        k = len(q)
        np.testing.assert_allclose(batch.points[p, :k], one.points, atol=1e-3)
        np.testing.assert_allclose(batch.confidence[p, :k], one.confidence, atol=1e-5)
        np.testing.assert_allclose(batch.field[p], one.field, atol=1e-3)
        np.testing.assert_allclose(batch.grid[p], one.grid, atol=1e-6)
        assert np.isnan(batch.points[p, k:]).all()  # padding to the largest point count


def test_a_bp_pair_sees_the_feature_scale_it_has_alone(monkeypatch):
    """BP flow's features are scaled to a mean column norm (feature_norm) over the pair's own two frames: a pair
    beside a flat image pair (all-zero SIFT columns, which would halve a mean over every frame of the call) is
    given the same features, so the same flow and points, as alone."""
    from convcorr_jax.correspondence import frame_transfer

    seen = []
    solve = frame_transfer.bp.solve_flow_in_frame
    monkeypatch.setattr(frame_transfer.bp, "solve_flow_in_frame",
                        lambda fa, fb, *a: seen.append((np.asarray(fa[0]), np.asarray(fb[0]))) or solve(fa, fb, *a))
    a, b, _ = _images(1)
    flat = np.full((80, 80, 3), 128, np.uint8)
    pa = _points(a, 5, 1)
    cfg = PointTransferConfig(backbone="caffenet", method="bp", features="sift", batch=2, **FAST)
    one = transfer_points(a, b, pa, config=cfg)
    two = transfer_points([a, flat], [b, flat], [pa, pa], config=cfg)
    np.testing.assert_array_equal(seen[1][0], seen[0][0])
    np.testing.assert_array_equal(seen[1][1], seen[0][1])
    np.testing.assert_array_equal(two.points[0], one.points)


@pytest.mark.parametrize("method", ["ot_rhm", "cos", "bp"])
def test_a_pair_with_a_flat_image_gives_nan_not_arbitrary_points(method):
    """A flat image has the same (all-zero) SIFT column at every node, so every match ties: its pairs, as source
    or as target, give NaN points, confidences and field (they gave points near the source points or node 0's,
    confidence 0); the pair beside them is as alone."""
    a, b, _ = _images(1)
    flat = np.full((80, 80, 3), 128, np.uint8)
    pa = _points(a, 5, 1)
    cfg = PointTransferConfig(backbone="caffenet", method=method, features="sift", batch=2, match_batch=2, **FAST)
    one = transfer_points(a, b, pa, config=cfg)
    t = transfer_points([a, flat, a], [b, b, flat], [pa, _points(flat, 5, 2), pa], config=cfg, with_field=True)
    assert np.isfinite(t.points[0]).all() and np.isfinite(t.field[0]).all()
    np.testing.assert_allclose(t.points[0], one.points, atol=1e-3)
    assert np.isnan(t.points[1:]).all() and np.isnan(t.confidence[1:]).all() and np.isnan(t.field[1:]).all()


@pytest.mark.parametrize("method,grid", [("ot_rhm", "conv4"), ("bp", None)])
def test_an_image_with_itself_maps_every_node_and_point_to_itself(caffenet, method, grid):
    """Identical images: each node's match is itself (field == grid), each point lands on itself with confidence
    1; points off the image or NaN give NaN. (Matchers on the conv4 grid: a finer grid clamps its outer nodes to
    the taps' edge columns, and equal columns tie.)"""
    img = _images(2, ((120, 160),))[0]
    pts = np.r_[_points(img, 8, 4), [[-5.0, 3.0], [np.nan, 2.0], [159.5, 119.5]]]
    settings = dict(FAST, grid=grid) if method == "bp" else dict(grid=grid)
    t = transfer_points(img, img, pts, method, model=caffenet, with_field=True, **settings)
    assert isinstance(t, Transfer) and t.points.shape == (11, 2) and t.confidence.shape == (11,)
    np.testing.assert_allclose(t.points[:8], pts[:8], atol=1e-3)
    np.testing.assert_allclose(t.confidence[:8], 1.0, atol=1e-5)
    assert np.isnan(t.points[8:10]).all() and np.isnan(t.confidence[8:10]).all()
    assert np.isfinite(t.points[10]).all()  # the last pixel's edge is still on the image
    np.testing.assert_allclose(t.field, t.grid, atol=1e-3)
    assert t.grid.ndim == 3 and t.grid.shape[-1] == 2


def test_the_backbone_is_loaded_once(monkeypatch):
    calls = []
    points_module._load_model.cache_clear()
    monkeypatch.setattr(points_module, "load_backbone", lambda *a: calls.append(a) or load_backbone(*a))
    img = _images(3, ((80, 80),))[0]
    for _ in range(2):
        transfer_points(img, img, [[10, 10]], "cos", "caffenet", weights="random", image_size=64)
    # the backbone, the second and third networks (the same weights) and the CAM prior's classifier (its real
    # weights), once each
    assert calls == [("caffenet", "random", 0), ("mobilenet_v2", "random", 0), ("efficientnet_lite2", "random", 0),
                     ("mobilenet_v2", None, 0)]
    points_module._load_model.cache_clear()


GOOD = np.zeros((70, 80, 3), np.uint8)


@pytest.mark.parametrize("kwargs,field", [
    (dict(image_a=GOOD.astype(np.float32)), "image_a"),
    (dict(image_b=GOOD[..., 0]), "image_b"),
    (dict(points_a=[[1, 2, 3]]), "points_a"),
    (dict(points_a=[["x", "y"]]), "points_a"),
    (dict(points_a=np.zeros((0, 2))), "points_a"),
    (dict(points_a=np.array([[1 + 2j, 3]])), "points_a"),  # the imaginary parts were dropped with a warning only
    (dict(image_a=[GOOD, GOOD], image_b=[GOOD, GOOD], points_a=[[[1, 1]], np.array([[2j, 2]])]), "points_a[1]"),
    (dict(method="sgd"), "method"),
    (dict(backbone="resnet50"), "backbone"),
    (dict(colour="red"), "colour"),
    (dict(radius=-1.0), "radius"),
    (dict(weights="random", model=(get("caffenet"), None)), "weights"),
    (dict(image_a=[GOOD, GOOD], image_b=[GOOD], points_a=[[[1, 1]], [[2, 2]]]), "image_b"),
    (dict(image_a=[GOOD, GOOD], image_b=[GOOD, GOOD.astype(np.int32)], points_a=[[[1, 1]], [[2, 2]]]),
     "image_b[1]"),
])
def test_bad_input_gives_one_error_naming_the_argument(kwargs, field):
    args = dict(image_a=GOOD, image_b=GOOD, points_a=[[1.0, 2.0]])
    args.update(kwargs)
    with pytest.raises(InputError) as e:
        transfer_points(**args)
    msg = str(e.value)
    assert field in msg and "\n" not in msg


def test_a_weight_file_is_the_backbones_and_random_is_every_networks(monkeypatch):
    """`side_models`: a weight file holds the backbone's weights, so a network beside it of another kind keeps its
    real pretrained weights (the file of VGG-16 loaded into EfficientNet-Lite2 was refused, naming neither); one of
    the backbone's own kind reads the file; "random" makes every network random; the CAM prior is always real."""
    monkeypatch.setattr(points_module, "_load_network", lambda name, weights=None, seed=0: (name, weights))
    default = PointTransferConfig()  # vgg16 + mobilenet_v2 + efficientnet_lite2, mobilenet_v2's CAM prior
    got = points_module.side_models(default, "my_vgg16.pth")
    assert got == {"extra": ("mobilenet_v2", None), "third": ("efficientnet_lite2", None),
                   "prior": ("mobilenet_v2", None)}
    got = points_module.side_models(default, "random")
    assert got == {"extra": ("mobilenet_v2", "random"), "third": ("efficientnet_lite2", "random"),
                   "prior": ("mobilenet_v2", None)}
    assert points_module.side_models(default) == points_module.side_models(default, "my_vgg16.pth")
    same = PointTransferConfig(backbone="caffenet", taps=("conv3",), extra_taps=("conv4",),
                               **{**PointTransferConfig.ONE_NETWORK, "extra_backbone": "caffenet"})
    assert points_module.side_models(same, "caffenet.npz") == {"extra": ("caffenet", "caffenet.npz"), "third": None,
                                                               "prior": None}


def test_a_weight_file_given_as_a_path_is_read_once_like_its_string(monkeypatch, tmp_path):
    """`_load_network` keeps one network per weight file: the file given as a `Path` and as its string is read once
    (the cache was keyed by the object, so a Path read the file a second time)."""
    calls = []
    monkeypatch.setattr(points_module, "load_backbone", lambda name, weights, seed: calls.append(weights) or name)
    file = tmp_path / "my_vgg16.npz"
    points_module._load_model.cache_clear()
    try:
        assert points_module._load_network("vgg16", file) == points_module._load_network("vgg16", str(file))
    finally:
        points_module._load_model.cache_clear()
    assert calls == [str(file)]


def test_an_empty_image_is_named():
    """An image with no rows or no columns is refused naming image_a / image_b, before any network is loaded."""
    img = np.zeros((10, 12, 3), np.uint8)
    for a, b, field in ((img[:0, :0], img, "image_a"), (img[:5, :0], img, "image_a"), (img, img[:0], "image_b")):
        with pytest.raises(InputError, match=rf"field '{field}': expected shape \[H>=1, W>=1, 3\]"):
            transfer_points(a, b, [[0.0, 0.0]], backbone="caffenet", weights="random")


def test_a_side_networks_unknown_tap_names_its_own_field(monkeypatch):
    """Refused on the side network's geometry, before any network runs."""
    def never(*args, **kwargs):
        raise AssertionError("a network ran before the taps were checked")

    monkeypatch.setattr(points_module, "make_frames", never)
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InputError, match=r"mobilenet_v2: field 'extra_taps': expected spatial taps"):
        transfer_points(img, img, [[1.0, 1.0]], backbone="caffenet", weights="random", image_size=64,
                        extra_backbone="mobilenet_v2", extra_taps=("nosuch",), third_backbone=None, prior=None)


@pytest.mark.parametrize("method", ["ot_rhm", "bp"])
def test_new_point_counts_compile_nothing_new(caffenet, method, count_compiles):
    """Calls on one pair with 5, 6, 7 and 8 points: the point count is padded to a power of two for the carry and
    the flow read-out (the padded points dropped), so after the first call nothing is compiled again, and the
    points are the first call's."""
    a, b = _images(4, ((90, 120), (110, 100)))
    pts = _points(a, 8, 5)
    settings = FAST if method == "bp" else dict(image_size=96)
    first = transfer_points(a, b, pts[:5], method, model=caffenet, **settings)
    with count_compiles() as n:
        for k in (6, 7, 8):
            t = transfer_points(a, b, pts[:k], method, model=caffenet, **settings)
    assert n[0] == 0 and t.points.shape == (8, 2)
    np.testing.assert_array_equal(t.points[:5], first.points)


@pytest.mark.parametrize("method", ["ot_rhm", "bp"])
def test_one_to_eight_points_share_one_program(caffenet, method, count_compiles):
    """The point count is padded to a bucket of at least 8: after a call with 9 points, calls with 1 to 8 points
    compile at most one more program (the 8-point bucket), and 3 points move as they do among 5 whose other 2
    are NaN."""
    a, b = _images(6, ((90, 120), (110, 100)))
    pts = _points(a, 9, 7)
    settings = FAST if method == "bp" else dict(image_size=96)
    transfer_points(a, b, pts, method, model=caffenet, **settings)
    with count_compiles() as n:
        few = [transfer_points(a, b, pts[:k], method, model=caffenet, **settings).points for k in range(1, 9)]
    assert n[0] <= 1
    nan_rows = np.concatenate([pts[:3], np.full((2, 2), np.nan)])
    t = transfer_points(a, b, nan_rows, method, model=caffenet, **settings)
    np.testing.assert_array_equal(t.points[:3], few[2])
    assert np.isnan(t.points[3:]).all() and np.isnan(t.confidence[3:]).all()
    for k, p in enumerate(few, 1):
        np.testing.assert_array_equal(p, few[7][:k])
