"""The matcher steps of `PointTransferConfig` beyond SCOT's defaults: forward-backward consistency, flip
augmentation of the source, multi-scale and two-backbone hyperpixels, Sinkhorn / Hough settings reaching the
matcher; each against hand-computed values or a direct computation."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core import geometry
from convcorr_jax.correspondence import frame_transfer as FT
from convcorr_jax.correspondence import carry, matching
from convcorr_jax.correspondence.frames import (
    Frames,
    columns_at,
    make_frames,
    resolve_names,
    scale_parts,
)
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.hyperpixel import hyperpixel_taps
from convcorr_jax.weights import load_backbone

S = 64  # frame side of the synthetic frames (stride 8: nodes at 3.5 + 8 k, symmetric about the centre)


def synthetic_frames(feats: np.ndarray, flipped: np.ndarray | None = None) -> Frames:
    n, h, w, _ = feats.shape
    grid = np.stack(np.meshgrid(3.5 + 8 * np.arange(w), 3.5 + 8 * np.arange(h)), -1).astype(np.float32)
    M = geometry.box_to_affine(np.array([[0, 0, S - 1, S - 1]] * n, np.float64), S)
    return Frames(np.zeros((n, S, S, 3), np.uint8), M, {"f": feats},
                  grid, 8.0, None if flipped is None else {"f": flipped})


def test_columns_at_gives_float64_numpy_for_jax_features():
    """`columns_at` of jax features: float64 numpy, as documented, the same columns as from numpy features (a jax
    array's `astype(np.float64)` gave a float32 jax array, which refuses in-place writes)."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(3, 4, 5)).astype(np.float32)
    grid = np.stack(np.meshgrid(3.5 + 8 * np.arange(4), 3.5 + 8 * np.arange(3)), -1).astype(np.float32)
    points = np.array([[5.0, 6.0], [30.0, 1.0], [-3.0, 40.0]])
    got = columns_at(jnp.asarray(feats), grid, points)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (3, 5)
    np.testing.assert_array_equal(got, columns_at(feats, grid, points))
    got[0] = 0.0  # a numpy array: written in place


def test_resolve_names_of_frames_without_features_is_an_input_error():
    """Frames made with features "none" hold no parts: asking them for taps names the tap (it raised a TypeError,
    `in None`)."""
    frames = dataclasses.replace(synthetic_frames(np.zeros((2, 3, 4, 5), np.float32)), parts=None)
    with pytest.raises(InputError, match=r"resolve_names: field 'frames.taps': expected taps computed for these "
                       r"frames \(none: frames without features\), got conv4"):
        resolve_names(frames, ["conv4"])
    assert resolve_names(synthetic_frames(np.zeros((2, 3, 4, 5), np.float32)), ["f"]) == ["f"]


def test_cycle_consistency_by_hand():
    src = jnp.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    forward = jnp.array([1, 0, 2])  # source node -> target node
    backward = jnp.array([1, 0, 0])  # target node -> source node
    # node 0 -> t1 -> s0 (back home), node 1 -> t0 -> s1, node 2 -> t2 -> s0 (20 px away)
    assert carry.cycle_consistent(forward, backward, src, 0.0).tolist() == [True, True, False]
    assert carry.cycle_consistent(forward, backward, src, 20.0).tolist() == [True, True, True]
    assert carry.cycle_consistent(forward[None], backward[None], src, 19.0).tolist() == [[True, True, False]]


def test_transfer_keeps_only_consistent_carriers():
    """keep: the mean over kept carriers within the radius; the nearest kept node when none; all when none kept;
    brute force over random cases."""
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 50, (12, 2))
    trg = rng.uniform(0, 50, (9, 2))
    best = rng.integers(0, 9, 12)
    pts = rng.uniform(0, 50, (7, 2))
    for keep in (rng.uniform(size=12) < 0.5, np.zeros(12, bool), np.ones(12, bool)):
        got = np.asarray(carry.transfer_keypoints(jnp.asarray(best), jnp.asarray(src), jnp.asarray(trg),
                                                     jnp.asarray(pts), 6.0, jnp.asarray(keep)))
        ok = keep if keep.any() else np.ones(12, bool)
        for k, p in enumerate(pts):
            inside = np.all(np.abs(p - src) <= 6.0, -1) & ok
            car = np.flatnonzero(inside) if inside.any() else \
                [np.flatnonzero(ok)[np.argmin(((p - src[ok]) ** 2).sum(-1))]]
            want = np.mean([trg[best[i]] + p - src[i] for i in car], 0)
            np.testing.assert_allclose(got[k], want, atol=1e-4)


def test_cycle_setting_drops_inconsistent_matches():
    """Two frames, the second the first shifted one node right, with one source node's features replaced by
    noise: mutual filtering (cycle=0) keeps the shift's matches and carries a point near the noisy node by its
    consistent neighbours."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 8, 16)).astype(np.float32)
    b = np.roll(a, 1, axis=1)
    a2 = a.copy()
    a2[4, 4] = rng.normal(size=16)
    feats = np.stack([a2, b])
    fr = synthetic_frames(feats)
    p = np.array([[[4 * 8 + 3.5 + 1.0, 4 * 8 + 3.5]]])  # near the corrupted node (4, 4)
    # carry_scale off: the exact offset below assumes unscaled offsets (scaled, they move by the spread ratio)
    cfg = PointTransferConfig(method="cos", image_size=S, radius=0.5, cycle=0.0, flip_source=False, carry_scale=False)
    got, _ = FT.match_transfer(feats, fr, p, np.array([[0, 1]]), cfg)
    np.testing.assert_allclose(got[0, 0], p[0, 0] + [8.0, 0.0], atol=1e-4)


@pytest.mark.parametrize("trim, sigma, scale", [(None, None, False), (0.75, 0.5, True)])
def test_each_unordered_pair_matched_once_gives_every_ordered_pair_its_own_match(trim, sigma, scale):
    """With cycle set, (i, j) and (j, i) come from one match of {i, j} (`_both_ways`): pairs in both directions,
    a repeated pair, a frame matched to itself and more unordered pairs than one batch all give the moved points
    and flows of matching each ordered pair on its own (`matching.match_best` forward and backward, the cycle
    mask, HPF's transfer, trimmed by trim grid strides, weighted by carry_sigma and scaled by carry_scale when
    set)."""
    rng = np.random.default_rng(5)
    feats = np.abs(rng.normal(size=(4, 8, 8, 16))).astype(np.float32)
    fr = synthetic_frames(feats)
    pairs = np.array([[0, 1], [1, 0], [2, 3], [3, 1], [1, 3], [2, 2], [0, 1], [3, 0], [2, 0]])
    pts = rng.uniform(0, S - 1, (len(pairs), 5, 2))
    cfg = PointTransferConfig(method="ot_rhm", image_size=S, radius=1.0, cycle=1.0, flip_source=False,
                              match_batch=2, trim=trim, carry_sigma=sigma, carry_scale=scale)
    got, flows = FT.match_transfer(feats, fr, pts, pairs, cfg)
    xy = jnp.asarray(fr.grid_xy.reshape(-1, 2))
    f = feats.reshape(4, 64, 16)
    for p, (i, j) in enumerate(pairs):
        best, _, back, _ = matching.match_best(jnp.asarray(f[i:i + 1]), jnp.asarray(f[j:j + 1]), xy, xy, (S, S),
                                               (S, S), FT._match_config(cfg), backward=True)
        keep = carry.cycle_consistent(best[0], back[0], xy, 8.0)
        want = carry.transfer_keypoints(best[0], xy, xy, jnp.asarray(pts[p], jnp.float32), 8.0, keep,
                                        None if trim is None else trim * 8.0, None if sigma is None else sigma * 8.0,
                                        carry.SPREAD_CLIP if scale else None)
        np.testing.assert_allclose(got[p], np.asarray(want), atol=1e-4)
        np.testing.assert_array_equal(flows[p].reshape(-1, 2), np.asarray(xy)[np.asarray(best[0])] - np.asarray(xy))


def test_flip_source_matches_a_mirrored_target_exactly():
    """The target's features are those of the mirrored source frame (features of a mirrored image are not the
    mirrored features): with flip_source the mirrored source is chosen (it matches better) and every node-centred
    point lands on its mirror image; the plain match of the un-mirrored source does not."""
    rng = np.random.default_rng(2)
    a, m = np.abs(rng.normal(size=(2, 8, 8, 16))).astype(np.float32)
    feats = np.stack([a, m])
    mirrored = np.stack([m, a])
    fr = synthetic_frames(feats, flipped=mirrored)
    pts = np.array([[[3.5, 11.5], [27.5, 43.5], [51.5, 59.5]]])
    want = FT._mirror_x(pts, S)
    cfg = PointTransferConfig(method="ot_rhm", image_size=S, radius=0.5, flip_source=False, cycle=None)
    flip, flows = FT.match_transfer(feats, fr, pts, np.array([[0, 1]]), dataclasses.replace(cfg, flip_source=True),
                                    mirrored=mirrored)
    np.testing.assert_allclose(flip, want, atol=1e-4)
    # flow of node (row, col): its mirrored twin's match, i.e. the mirror position
    np.testing.assert_allclose(flows[0, 2, 1], [S - 1 - 2 * 11.5, 0.0], atol=1e-4)
    plain, _ = FT.match_transfer(feats, fr, pts, np.array([[0, 1]]), cfg)
    assert np.abs(plain - want).max() > 8
    # a margin the mirrored match cannot beat keeps the plain match
    kept, _ = FT.match_transfer(feats, fr, pts, np.array([[0, 1]]),
                                dataclasses.replace(cfg, flip_source=True, flip_margin=1e6), mirrored=mirrored)
    np.testing.assert_allclose(kept, plain)


def test_matcher_settings_reach_the_matcher():
    """ot_iters, ot_eps and hough_side give the matches of `matching.match_best` with those settings."""
    rng = np.random.default_rng(3)
    feats = np.abs(rng.normal(size=(2, 8, 8, 16))).astype(np.float32)
    fr = synthetic_frames(feats)
    xy = jnp.asarray(fr.grid_xy.reshape(-1, 2))
    pts = fr.grid_xy.reshape(1, -1, 2).astype(np.float64)
    seen = set()
    for iters, eps, side in ((1, 0.05, 7), (10, 0.02, 3), (3, 0.2, 11)):
        cfg = PointTransferConfig(method="ot_rhm", image_size=S, radius=0.1, ot_iters=iters, ot_eps=eps,
                                  hough_side=side, flip_source=False, cycle=None)
        got, _ = FT.match_transfer(feats, fr, pts, np.array([[0, 1]]), cfg)
        best, _ = matching.match_best(jnp.asarray(feats[:1].reshape(1, 64, 16)),
                                      jnp.asarray(feats[1:].reshape(1, 64, 16)), xy, xy, (S, S), (S, S),
                                      matching.MatchConfig("ot_rhm", eps=eps, iters=iters, side=side))
        np.testing.assert_allclose(got[0], np.asarray(xy)[np.asarray(best[0])], atol=1e-4)
        seen.add(tuple(np.asarray(best[0]).tolist()))
    assert len(seen) > 1  # the settings change the matches


@pytest.fixture(scope="module")
def caffenet():
    return load_backbone("caffenet", "random")


def test_scale_parts_read_the_resized_frame_at_the_mapped_nodes(caffenet):
    """Scale 1: the base hyperpixels exactly. Scale 2: the taps of the frame resized to 2 x side, read at
    2 x + 0.5 (frame pixel extents aligned) and normalised."""
    bb, params = caffenet
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 255, (70, 90, 3), dtype=np.uint8) for _ in range(2)]
    boxes = np.array([[0, 0, 89, 69]] * 2, np.float64)
    cfg = PointTransferConfig(backbone="caffenet", taps=("conv3",), grid=8, image_size=64, scales=(1.0, 2.0),
                              flip_source=False, **PointTransferConfig.ONE_NETWORK)
    fr = make_frames(images, boxes, cfg, bb, params)
    assert list(fr.parts) == ["conv3", "conv3@2"] and fr.flipped is None
    one = scale_parts(images, boxes, cfg, bb, params, ("conv3",), fr, 1.0)["conv3"]
    np.testing.assert_allclose(one, fr.parts["conv3"], atol=1e-6)
    crops = geometry.crop_each(images, geometry.box_to_affine(boxes, 128), 128, border="edge")
    parts, centres, _ = hyperpixel_taps(bb, params, crops, ("conv3",), 16)
    nodes = fr.grid_xy.reshape(-1, 2) * 2 + 0.5
    for n in range(2):
        want = columns_at(parts["conv3"][n], centres, nodes)
        want /= np.linalg.norm(want, axis=-1, keepdims=True)
        np.testing.assert_allclose(fr.parts["conv3@2"][n].reshape(-1, want.shape[-1]), want, atol=1e-5)


def test_extra_backbone_and_mirrored_parts(caffenet):
    """A second network's taps are parts "<name>:<tap>" on the same nodes (here the same network: equal to the
    base part); flip_source adds the parts of the mirrored frames, equal to those of mirrored images."""
    bb, params = caffenet
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    boxes = np.array([[0, 0, 63, 63]] * 2, np.float64)
    cfg = PointTransferConfig(backbone="caffenet", taps=("conv3", "conv4"), grid=8, image_size=64,
                              extra_backbone="caffenet", extra_taps=("conv3",), third_backbone=None, flip_source=True,
                              prior=None)
    fr = make_frames(images, boxes, cfg, bb, params, extra=(bb, params))
    assert list(fr.parts) == ["conv3", "conv4", "caffenet:conv3"]
    np.testing.assert_allclose(fr.parts["caffenet:conv3"], fr.parts["conv3"], atol=1e-6)
    mirrored = make_frames([im[:, ::-1] for im in images], boxes, dataclasses.replace(cfg, flip_source=False), bb,
                           params, extra=(bb, params))
    for k in fr.parts:
        np.testing.assert_allclose(fr.flipped[k], mirrored.parts[k], atol=1e-5)
    only = make_frames(images, boxes, cfg, bb, params, extra=(bb, params), sources=[1])  # mirrored sources only
    for k in fr.parts:
        np.testing.assert_allclose(only.flipped[k][1], mirrored.parts[k][1], atol=1e-5)
        assert not only.flipped[k][0].any()
    with pytest.raises(InputError, match="extra"):
        make_frames(images, boxes, cfg, bb, params)
    bp = make_frames(images, boxes, dataclasses.replace(cfg, method="bp", extra_backbone=None), bb, params)
    assert bp.flipped is None  # BP flow never matches a mirrored source


def test_third_backbone_parts(caffenet):
    """A third network's taps are parts "<name>:<tap>" after the second's, on the same nodes: here caffenet's conv4
    beside a random MobileNetV2's block13, each equal to that network's own hyperpixels read as the only extra
    backbone; matching concatenates them in `networks` order."""
    bb, params = caffenet
    mnv2 = load_backbone("mobilenet_v2", "random")
    rng = np.random.default_rng(6)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    boxes = np.array([[0, 0, 63, 63]] * 2, np.float64)
    cfg = PointTransferConfig(backbone="caffenet", taps=("conv3",), grid=8, image_size=64, extra_backbone="caffenet",
                              extra_taps=("conv4",), third_backbone="mobilenet_v2", third_taps="block13", prior=None)
    assert cfg.third_taps == ("block13",)
    assert cfg.networks == (("caffenet", ("conv3",)), ("caffenet", ("conv4",)), ("mobilenet_v2", ("block13",)))
    assert "+ mobilenet_v2 block13 hyperpixels" in cfg.describe()
    fr = make_frames(images, boxes, cfg, bb, params, extra=(bb, params), third=mnv2)
    assert list(fr.parts) == ["conv3", "caffenet:conv4", "mobilenet_v2:block13"]
    alone = make_frames(images, boxes, dataclasses.replace(cfg, extra_backbone="mobilenet_v2", extra_taps=("block13",),
                                                           third_backbone=None), bb, params, extra=mnv2)
    np.testing.assert_allclose(fr.parts["mobilenet_v2:block13"], alone.parts["mobilenet_v2:block13"], atol=1e-6)
    with pytest.raises(InputError, match="third"):
        make_frames(images, boxes, cfg, bb, params, extra=(bb, params))
    bp = dataclasses.replace(cfg, method="bp")
    assert bp.networks == (("caffenet", ("conv3",)),)  # BP flow reads one network
    one = dataclasses.replace(PointTransferConfig(), **PointTransferConfig.ONE_NETWORK)  # the default's matcher, alone
    assert one.networks == (("vgg16", ("conv4_1", "conv5_1", "conv5_2")),) and one.prior is None
    assert "mobilenet" not in one.describe() and "prior" not in one.describe()


@pytest.mark.parametrize("field, value", [("scales", ()), ("scales", (1.0, -1.0)), ("cycle", -1.0),
                                          ("trim", 0.0), ("trim", -1.0), ("carry_sigma", 0.0), ("carry_scale", 2.0),
                                          ("carry_scale", None), ("hough_side", 4),
                                          ("ot_iters", 0), ("ot_eps", 0.0), ("flip_margin", -0.1),
                                          ("extra_backbone", "nope"), ("third_backbone", "nope"),
                                          ("third_backbone", PointTransferConfig.extra_backbone),
                                          # of another type, as Python may pass them (the command line converts)
                                          ("radius", "3"), ("hough_side", "15"), ("normalise", "false"),
                                          ("beta", "0.1"), ("ot_eps", "0.05"), ("iters", 2.5), ("image_size", "64"),
                                          ("scales", (1.0, "0.5")), ("taps", ("conv4", 5))])
def test_bad_matcher_settings(field, value):
    with pytest.raises(InputError, match=field) as e:
        PointTransferConfig(**{field: value})
    assert len(str(e.value).splitlines()) == 1 and "<class" not in str(e.value)


def test_settings_of_their_types_pass_and_lists_become_tuples():
    cfg = PointTransferConfig(radius=2, beta=np.float32(0.1), iters=np.int64(4), taps=["conv4_1", "conv5_1"],
                              scales=[1, 0.75])
    assert cfg.taps == ("conv4_1", "conv5_1") and cfg.scales == (1, 0.75) and cfg.iters == 4
