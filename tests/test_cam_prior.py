"""The CAM foreground prior (`features.cam`) and the OT marginals it weights (`PointTransferConfig.prior`): the maps
against a NumPy computation, their normalisation, the marginals changing OT's matches on a toy case as worked out
by hand, and the prior reaching the matcher through the frames."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core import geometry
from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.correspondence import frame_transfer as FT
from convcorr_jax.correspondence import matching
from convcorr_jax.correspondence.frames import Frames, make_frames
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.cam import cam_prior, _class_activation_maps
from convcorr_jax.features.extract import extract
from convcorr_jax.features.hyperpixel import interpolation_matrix, _stride_rf
from convcorr_jax.weights import load_backbone


def numpy_cam(feats, kernel, bias, wy, wx, k):
    """The prior by loops: top-k logits of the pooled features, each class map resampled, min-max normalised."""
    out, classes = [], []
    for f in feats.astype(np.float64):
        logits = f.mean((0, 1)) @ kernel + bias
        top = np.argsort(-logits, kind="stable")[:k]
        maps = []
        for c in top:
            m = wy @ (f @ kernel[:, c]) @ wx.T
            maps.append((m - m.min()) / (m.max() - m.min()))
        out.append(np.max(maps, 0))
        classes.append(top)
    return np.array(out), np.array(classes)


def test_class_activation_maps_against_numpy():
    rng = np.random.default_rng(0)
    feats = np.abs(rng.normal(size=(3, 4, 5, 6))).astype(np.float32)
    kernel = rng.normal(size=(6, 10)).astype(np.float32)
    bias = rng.normal(size=10).astype(np.float32)
    for wy, wx in ((np.eye(4), np.eye(5)),
                   (interpolation_matrix(RF(1, 2, 0.5), 4, _stride_rf(1), 7),
                    interpolation_matrix(RF(1, 2, 0.5), 5, _stride_rf(1), 9))):
        for k in (1, 3):
            got, cls = _class_activation_maps(jnp.asarray(feats), jnp.asarray(kernel), jnp.asarray(bias),
                                             jnp.asarray(wy, jnp.float32), jnp.asarray(wx, jnp.float32), k)
            want, want_cls = numpy_cam(feats, kernel, bias, np.asarray(wy, np.float64), np.asarray(wx, np.float64),
                                       k)
            np.testing.assert_array_equal(np.asarray(cls), want_cls)
            np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
            assert got.shape == (3, wy.shape[0], wx.shape[0])
            assert float(got.min()) >= 0 and np.allclose(np.asarray(got).max((1, 2)), 1.0)


def test_normalisation_by_hand():
    """One channel, one class: the map is the channel itself, scaled to [0, 1]; a constant map is all ones; the top
    class is the one with the larger pooled logit."""
    f = np.array([[[[1.0], [3.0]], [[5.0], [9.0]]]], np.float32)  # [1, 2, 2, 1]
    kernel = np.array([[2.0, -1.0]], np.float32)  # class 0 scores 2 f, class 1 -f
    eye = jnp.eye(2)
    got, cls = _class_activation_maps(jnp.asarray(f), jnp.asarray(kernel), jnp.zeros(2), eye, eye, 1)
    assert np.asarray(cls).tolist() == [[0]]
    np.testing.assert_allclose(np.asarray(got)[0], [[0.0, 0.25], [0.5, 1.0]], atol=1e-6)
    # top 2: max of class 0's map and class 1's (1 - class 0's) = max(x, 1 - x)
    got2, _ = _class_activation_maps(jnp.asarray(f), jnp.asarray(kernel), jnp.zeros(2), eye, eye, 2)
    np.testing.assert_allclose(np.asarray(got2)[0], [[1.0, 0.75], [0.5, 1.0]], atol=1e-6)
    flat, _ = _class_activation_maps(jnp.ones((1, 2, 2, 1)), jnp.asarray(kernel), jnp.zeros(2), eye, eye, 1)
    np.testing.assert_allclose(np.asarray(flat), 1.0)


def test_target_marginal_decides_a_tie():
    """Every source node equally similar to every target node: one Sinkhorn iteration gives column scalings
    b_j proportional to nu_j (K constant), so each row's best target is the heaviest target node; uniform
    marginals tie and argmax takes the first."""
    fs = jnp.ones((1, 3, 4))
    ft = jnp.ones((1, 5, 4))
    xy_s = jnp.asarray(np.stack([np.arange(3) * 8.0, np.zeros(3)], 1))
    xy_t = jnp.asarray(np.stack([np.arange(5) * 8.0, np.zeros(5)], 1))
    cfg = matching.MatchConfig("ot")
    best, _ = matching.match_best(fs, ft, xy_s, xy_t, (8, 40), (8, 40), cfg)
    assert np.asarray(best).tolist() == [[0, 0, 0]]
    nu = jnp.asarray([[0.1, 0.1, 0.1, 1.0, 0.1]])
    best, conf = matching.match_best(fs, ft, xy_s, xy_t, (8, 40), (8, 40), cfg, trg_weights=nu)
    assert np.asarray(best).tolist() == [[3, 3, 3]]
    # the plan's rows sum to mu: a source weight scales its row's scores by sqrt(mu_i / mean mu) (exp2 = 0.5)
    mu = jnp.asarray([[1.0, 4.0, 1.0]])
    _, conf_mu = matching.match_best(fs, ft, xy_s, xy_t, (8, 40), (8, 40), cfg, mu, nu)
    np.testing.assert_allclose(np.asarray(conf_mu)[0] / np.asarray(conf)[0], np.sqrt([0.5, 2.0, 0.5]), rtol=1e-5)


def test_frames_prior_reaches_the_matcher():
    """Source node 0's column equals target nodes 1 and 2 (a tie): the target prior decides which one it moves a
    point to, through `move_points` with the frames' prior; the uniform prior keeps the first."""
    n, side, s = 2, 64, 32
    feats = np.full((n, 2, 2, 3), 0.01, np.float32)
    feats[0, 0, 0] = [1, 0, 0]
    feats[1, 0, 1] = feats[1, 1, 0] = [1, 0, 0]
    grid = np.stack(np.meshgrid(15.5 + s * np.arange(2), 15.5 + s * np.arange(2)), -1).astype(np.float32)
    M = geometry.box_to_affine(np.array([[0, 0, side - 1, side - 1]] * n, np.float64), side)
    prior = np.ones((n, 2, 2), np.float32)
    prior[1, 1, 0] = 5.0  # target node (row 1, col 0) heavier
    cfg = PointTransferConfig(method="ot", image_size=side, radius=0.1, cycle=None)
    pts = np.array([[[15.5, 15.5]]])
    base = Frames(np.zeros((n, side, side, 3), np.uint8), M, {"f": feats}, grid, float(s))
    plain, _ = FT.move_points(base, pts, np.array([[0, 1]]), cfg)
    np.testing.assert_allclose(plain[0, 0], [47.5, 15.5], atol=1e-4)
    weighted, _ = FT.move_points(dataclasses.replace(base, prior=prior), pts, np.array([[0, 1]]), cfg)
    np.testing.assert_allclose(weighted[0, 0], [15.5, 47.5], atol=1e-4)


@pytest.fixture(scope="module")
def mobilenet():
    return load_backbone("mobilenet_v2", "random")


def test_make_frames_prior_is_floor_plus_cam(mobilenet):
    """frames.prior = prior_floor + the CAM at the nodes (the classifier's conv_last times its weights, as the
    logits' pooling reads it); the mirrored frames' prior is that of the mirrored crops."""
    bb, params = mobilenet
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (70, 80, 3), dtype=np.uint8) for _ in range(2)]
    boxes = np.array([[0, 0, 79, 69]] * 2, np.float64)
    cfg = PointTransferConfig(backbone="mobilenet_v2", taps=("block6",), grid=16, image_size=64, prior="mobilenet_v2",
                              prior_top_k=1, prior_floor=0.25, flip_source=True, extra_backbone=None,
                              third_backbone=None)
    fr = make_frames(images, boxes, cfg, bb, params, prior=(bb, params))
    assert fr.prior.shape == (2, 4, 4) and fr.flipped_prior.shape == (2, 4, 4)
    acts = extract(bb, params, fr.crops, ("conv_last", "logits"))
    np.testing.assert_allclose(acts["conv_last"].mean((1, 2)) @ np.asarray(params["classifier"]["kernel"])
                               + np.asarray(params["classifier"]["bias"]), acts["logits"], rtol=1e-4, atol=1e-4)
    rf, hw = _stride_rf(16), (4, 4)
    np.testing.assert_allclose(fr.prior, 0.25 + cam_prior(bb, params, fr.crops, rf, hw, 1), atol=1e-6)
    mirrored = cam_prior(bb, params, np.ascontiguousarray(fr.crops[:, :, ::-1]), rf, hw, 1)
    np.testing.assert_allclose(fr.flipped_prior, 0.25 + mirrored, atol=1e-6)
    assert fr.prior.min() >= 0.25 and fr.prior.max() <= 1.25 + 1e-6
    with pytest.raises(InputError, match="prior"):
        make_frames(images, boxes, cfg, bb, params)


def test_bad_prior_input(mobilenet):
    with pytest.raises(InputError, match="prior"):
        PointTransferConfig(prior="vgg16")
    for field, value in (("prior_floor", 0.0), ("prior_top_k", 0)):
        with pytest.raises(InputError, match=field):
            PointTransferConfig(prior="mobilenet_v2", **{field: value})
    caffenet = load_backbone("caffenet", "random")
    images = np.zeros((1, 64, 64, 3), np.uint8)
    with pytest.raises(InputError, match="backbone"):
        cam_prior(caffenet[0], caffenet[1], images, _stride_rf(8), (8, 8))
    with pytest.raises(InputError, match="top_k"):
        cam_prior(mobilenet[0], mobilenet[1], images, _stride_rf(8), (8, 8), top_k=1001)


@pytest.mark.parametrize("field,args", [("top_k", dict(top_k=True)), ("grid_hw", dict(grid_hw=(8,))),
                                        ("grid_hw", dict(grid_hw=(8.5, 8))), ("grid_hw", dict(grid_hw=(0, 8))),
                                        ("grid_rf", dict(grid_rf="conv4_1"))])
def test_a_bad_grid_or_top_k_is_one_line_naming_it(mobilenet, field, args):
    """A bool top_k was read as 1 class, a fractional node count truncated; a one-number grid_hw or a tap name as
    grid_rf crashed with a traceback."""
    call = dict(grid_rf=_stride_rf(8), grid_hw=(8, 8), top_k=2) | args
    with pytest.raises(InputError, match=f"cam_prior: field '{field}'"):
        cam_prior(mobilenet[0], mobilenet[1], np.zeros((1, 64, 64, 3), np.uint8), **call)
    with pytest.raises(InputError, match="sizes"):
        interpolation_matrix(RF(1, 2, 0.5), 4, _stride_rf(1), 7.0)


def test_a_new_image_count_compiles_the_maps_only(mobilenet, count_compiles):
    """cam_prior on an image count whose forward batch has run (3 images run as a batch of 4) compiles the maps'
    one program and nothing else: the features went through `jnp.asarray` first, which compiled a copy program per
    shape; a repeated call compiles nothing and gives the same prior bit for bit."""
    bb, params = mobilenet
    images = np.random.default_rng(2).integers(0, 255, (4, 40, 48, 3), dtype=np.uint8)  # a size no other test uses
    rf, hw = _stride_rf(8), (5, 6)
    cam_prior(bb, params, images, rf, hw, 1)
    with count_compiles() as n:
        prior = cam_prior(bb, params, images[:3], rf, hw, 1)
    assert n[0] == 1
    with count_compiles() as again:
        same = cam_prior(bb, params, images[:3], rf, hw, 1)
    assert again[0] == 0
    np.testing.assert_array_equal(prior, same)
