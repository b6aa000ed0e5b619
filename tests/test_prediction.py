"""Sliding-window keypoint prediction (Long et al. section 5): box geometry, masks, prior, end-to-end on toys."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.long2014 import keypoint_detectors
from convcorr_jax.long2014 import prediction as point_prediction
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.columns import neighbourhood_concat


def _sample(points, bbox, image=None, visible=None, category="toy"):
    points = np.asarray(points, np.float32)
    k = len(points)
    vis = np.ones(k, bool) if visible is None else np.asarray(visible)
    return KeypointSample(points, vis, tuple("abcdefgh"[:k]), np.asarray(bbox, np.float32), category, "x",
                          image=image)


def test_box_mapping_hand_values_and_round_trip():
    s = _sample([[10, 20], [19, 29]], [10, 20, 19, 29])  # 10 x 10 px box
    from convcorr_jax.core.geometry import invert_affine, transform_points

    M = point_prediction.box_maps([s], 100)[0]
    got = transform_points(np.asarray(s.points, np.float64), M)
    # pixel 10 spans [9.5, 10.5] -> box [0, 10] -> centre 4.5; pixel 19 -> centre 94.5
    np.testing.assert_allclose(got, [[4.5, 4.5], [94.5, 94.5]])
    np.testing.assert_allclose(transform_points(got, invert_affine(M)), s.points, atol=1e-9)


def test_crop_box_identity_when_sizes_match():
    img = np.random.default_rng(0).integers(0, 255, (30, 40, 3)).astype(np.uint8)
    s = _sample([[5, 5]], [3, 4, 22, 23], image=img)  # 20 x 20 box
    np.testing.assert_array_equal(point_prediction.box_crops([s], 20)[0], img[4:24, 3:23])


def test_degenerate_box_raises():
    for box in ([5, 5, 5, 9], [5, 5, 9, 4], [0, 0, np.nan, 3]):
        with pytest.raises(InputError, match="bbox"):
            point_prediction.box_maps([_sample([[1, 1]], box)], 10)


def test_eta_above_one_is_refused():
    """eta weights the prior in f = s^(1 - eta) * p^eta, a trade-off in [0, 1] (Long et al. section 5): eta = 1.5 used
    to run, its negative exponent on the detector score picking the windows the detector likes least."""
    for eta in (1.5, np.inf):
        with pytest.raises(InputError, match=r"PredictionConfig: field 'eta'.*\[0, 1\]"):
            point_prediction.PredictionConfig(eta=eta)
    assert point_prediction.PredictionConfig(eta=1.0).eta == 1.0 and point_prediction.PredictionConfig(eta=0).eta == 0


def test_an_even_or_fractional_neighbourhood_is_refused_by_the_config_naming_it():
    """The columns are concatenated over a square centred on each (`neighbourhood_concat`): an even side has no
    centre. It used to be accepted and fail at the first feature extraction as "neighbourhood_concat: field
    'size'", a field the user never set. A float is refused by the field's type."""
    for n in (2, 4):
        with pytest.raises(InputError, match=r"PredictionConfig: field 'neighbourhood'.*odd integer"):
            point_prediction.PredictionConfig(neighbourhood=n)
    with pytest.raises(InputError, match=r"PredictionConfig: field 'neighbourhood': expected an integer, got 3.0"):
        point_prediction.PredictionConfig(neighbourhood=3.0)
    assert point_prediction.PredictionConfig(neighbourhood=np.int64(5)).neighbourhood == 5
    assert point_prediction.PredictionConfig(neighbourhood=1).neighbourhood == 1


def test_training_masks_positives_and_negatives():
    cfg = point_prediction.PredictionConfig(box_size=64, n_positives=3, sift_bin=4)
    cx, cy = np.meshgrid(np.arange(0, 64, 8.0), np.arange(0, 64, 8.0))
    centres = np.stack([cx.ravel(), cy.ravel()], 1)
    kp = np.array([[[17.0, 16.0], [0.0, 0.0]]])
    f = point_prediction.InstanceFeatures(np.zeros((1, 64, 2), np.float32), centres, kp, np.array([[True, False]]))
    pos, neg = keypoint_detectors._training_masks(f, "conv", cfg, neg_half=20.0)
    assert pos.shape == (2, 64) and not pos[1].any() and not neg[1].any()  # untrainable keypoint: nothing
    chosen = centres[pos[0]]
    nearest = centres[np.argsort(np.linalg.norm(centres - kp[0, 0], axis=1), kind="stable")[:3]]
    assert sorted(map(tuple, chosen)) == sorted(map(tuple, nearest))
    assert (16.0, 16.0) in set(map(tuple, chosen))
    cheb = np.abs(centres - kp[0, 0]).max(1)
    np.testing.assert_array_equal(neg[0], cheb > 20.0)
    pos_s, neg_s = keypoint_detectors._training_masks(f, "sift", cfg)
    d = np.linalg.norm(centres - kp[0, 0], axis=1)
    np.testing.assert_array_equal(pos_s[0], d <= 8)
    np.testing.assert_array_equal(neg_s[0], d >= 16)


def test_prior_combination_and_neighbour_choice():
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [100.0, 0.0]], np.float32)
    scores = jnp.array([[1.0], [0.9], [-3.0]])
    mu = jnp.array([[50.0, 0.0]])
    no_prior = np.asarray(keypoint_detectors._combine(scores, centres, mu, 10.0, 0.0))
    assert int(np.argmax(no_prior[:, 0])) == 0
    with_prior = np.asarray(keypoint_detectors._combine(scores, centres, mu, 10.0, 0.1))
    assert int(np.argmax(with_prior[:, 0])) == 1  # the prior moves the arg-max to the neighbour's keypoint
    expect = 0.9 * np.log(1 / (1 + np.exp(-1.0))) + 0.1 * (-(50.0**2) / 200)
    assert with_prior[0, 0] == pytest.approx(expect, rel=1e-5)
    nan_mu = np.asarray(keypoint_detectors._combine(scores, centres, jnp.full((1, 2), jnp.nan), 10.0, 0.1))
    assert int(np.argmax(nan_mu[:, 0])) == 0  # no neighbour has the keypoint: no prior

    train = point_prediction.InstanceFeatures(np.zeros((3, 1, 1)), centres,
                                              np.array([[[1.0, 1]], [[2.0, 2]], [[3.0, 3]]]),
                               np.array([[True], [False], [True]]), prior=np.array([[1.0, 0], [0, 1], [0.7, 0.7]]))
    test = dataclasses.replace(train, prior=np.array([[0.1, 1.0]]))
    m, nn = keypoint_detectors._prior_means(train, test)
    assert nn[0] == 1  # nearest by cosine ...
    np.testing.assert_array_equal(m[0, 0], [3.0, 3.0])  # ... lacks the keypoint: the next one (index 2) is used


def _toy_instances(n, seed, box=32, stride=4):
    """Dense 'features' = colours on a stride-4 grid of images with 2 coloured keypoints; 3x3 concatenated."""
    rng = np.random.default_rng(seed)
    samples, feats = [], []
    for _ in range(n):
        img = rng.integers(0, 40, (box, box, 3)).astype(np.uint8)
        pts = rng.integers(3, box - 4, (2, 2)).astype(np.float32)
        for k, col in enumerate(([255, 0, 0], [0, 0, 255])):
            x, y = pts[k].astype(int)
            img[y - 2:y + 3, x - 2:x + 3] = col
        samples.append(_sample(pts, [0, 0, box - 1, box - 1], image=img))
        grid = img[::stride, ::stride].astype(np.float32) / 255.0
        feats.append(np.asarray(neighbourhood_concat(grid, 3)).reshape(-1, 27))
    g = box // stride
    cx, cy = np.meshgrid(np.arange(g) * stride, np.arange(g) * stride)
    return samples, np.stack(feats), np.stack([cx.ravel(), cy.ravel()], 1).astype(np.float32)


def test_run_category_refuses_features_without_priors_before_training():
    """`instance_features` takes prior None, but the keypoint prior needs pool5 vectors: run_category names the
    features (it trained every detector, then raised an AttributeError on None)."""
    cfg = point_prediction.PredictionConfig(box_size=32, n_positives=1, C=1e-1, initial_negatives=50, max_rounds=5,
                                            sigma=22.0)
    tr_s, tr_x, centres = _toy_instances(4, 0)
    with_prior = point_prediction.instance_features(tr_s, tr_x, centres, tr_x.reshape(4, -1), cfg)
    without = point_prediction.instance_features(tr_s, tr_x, centres, None, cfg)
    for ftr, fte, field in ((without, with_prior, "ftr"), (with_prior, without, "fte")):
        with pytest.raises(InputError, match=rf"run_category: field '{field}': expected InstanceFeatures with pool5 "
                           r"priors \[n, P\].*got prior None"):
            point_prediction.run_category(ftr, fte, tr_s, "conv", cfg, neg_half=6.0)


def test_detectors_localise_toy_keypoints():
    cfg = point_prediction.PredictionConfig(box_size=32, n_positives=1, C=1e-1, initial_negatives=50, max_rounds=5,
                                            sigma=22.0)
    tr_s, tr_x, centres = _toy_instances(30, 0)
    te_s, te_x, _ = _toy_instances(10, 1)
    ftr = point_prediction.instance_features(tr_s, tr_x, centres, tr_x.reshape(30, -1), cfg)
    fte = point_prediction.instance_features(te_s, te_x, centres, te_x.reshape(10, -1), cfg)
    res = point_prediction.run_category(ftr, fte, te_s, "conv", cfg, neg_half=6.0)
    assert res["info"]["new_hard_negatives"][-1] == 0  # mining converged
    assert np.nanmean(res["hits"]) >= 0.9  # PCK@0.1 of a 32-px box: within 3.2 px (grid stride 4)
    from convcorr_eval.long2014.table4 import table_markdown

    md = table_markdown({"conv5": {"toy": 0.9, "mean": 0.9}})
    assert "| conv5 | 90.0 | 90.0 |" in md and "paper (different data)" in md


def test_category_pck_averages_keypoint_types():
    hits = np.array([[1.0, np.nan, np.nan], [0.0, 1.0, np.nan], [0.0, 1.0, np.nan]])
    # type 0: 1/3, type 1: 2/2, type 2 never evaluated -> (1/3 + 1) / 2, not the pooled 3/5
    assert point_prediction.per_type_pck(hits) == pytest.approx(2 / 3)
    assert np.isnan(point_prediction.per_type_pck(np.full((2, 2), np.nan)))


def test_run_table4_empty_sets_and_mixed_keypoint_counts():
    """Empty sets and a category whose train and test instances have different K are one InputError, not a numpy
    stacking / broadcasting error (a random-weight network on 64-px boxes)."""
    import jax

    from convcorr_jax.backbones import get

    rng = np.random.default_rng(0)

    def inst(k, i):
        img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        return _sample(rng.uniform(10, 50, (k, 2)), [4, 4, 59, 59], image=img, category="toy")

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.PRNGKey(0))
    cfg = point_prediction.PredictionConfig(box_size=64, C=1e-3, initial_negatives=20, max_rounds=1, batch_size=4)
    train = [inst(3, i) for i in range(3)]
    for tr, te in ((train, []), ([], train)):
        with pytest.raises(InputError, match="non-empty train and test"):
            point_prediction.run_table4(tr, te, bb, params, cfg, sift=False)
    with pytest.raises(InputError, match=r"category 'toy'.*one keypoint count.*\[3, 4\]"):
        point_prediction.run_table4(train, [inst(4, 0)], bb, params, cfg, sift=False)


def test_run_table4_mean_skips_a_category_without_visible_test_keypoints():
    """A test category whose keypoints are all invisible has no PCK (NaN, "-" in the table): the mean is over the
    categories scored, where it used to be NaN for every row (a random-weight network on 64-px boxes)."""
    import jax

    from convcorr_eval.long2014.table4 import table_markdown
    from convcorr_jax.backbones import get

    rng = np.random.default_rng(1)

    def inst(cat, visible=True):
        img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        return _sample(rng.uniform(10, 50, (2, 2)), [4, 4, 59, 59], image=img, category=cat,
                       visible=np.full(2, visible))

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.PRNGKey(0))
    cfg = point_prediction.PredictionConfig(box_size=64, C=1e-3, initial_negatives=20, max_rounds=1, batch_size=4)
    train = [inst(c) for c in ("a", "a", "b", "b")]
    out = point_prediction.run_table4(train, [inst("a"), inst("b", visible=False)], bb, params, cfg, sift=False)
    for row in out["rows"].values():
        assert np.isnan(row["b"]) and row["mean"] == row["a"]
    md = table_markdown(out["rows"])
    assert "| method | a | b | mean of 1 |" in md and "nan" not in md


def test_prior_means_and_predictions_match_a_plain_loop():
    """`_prior_means` (first of the 4 pool5-cosine neighbours labelling each type) and `_predict_keypoints` (arg-max
    over windows of sigmoid(w.x + b)^(1 - eta) * Gaussian^eta) against per-neighbour and per-window loops."""
    from convcorr_jax.linear import svm

    rng = np.random.default_rng(1)
    L, D, K = 9, 5, 3
    cx, cy = np.meshgrid(np.arange(3) * 20.0, np.arange(3) * 20.0)
    centres = np.stack([cx.ravel(), cy.ravel()], 1).astype(np.float32)

    def feats(n, p):
        return point_prediction.InstanceFeatures(rng.normal(size=(n, L, D)).astype(np.float32), centres,
                                                 rng.uniform(0, 40, (n, K, 2)), rng.random((n, K)) > p,
                                                 prior=rng.normal(size=(n, 7)))

    tr, te = feats(6, 0.6), feats(4, 0.0)
    mu, nn = keypoint_detectors._prior_means(tr, te, n_neighbours=4)
    unit = tr.prior / np.linalg.norm(tr.prior, axis=1, keepdims=True)
    for t in range(4):
        order = np.argsort(-(unit @ te.prior[t]), kind="stable")[:4]
        assert nn[t] == order[0]
        for k in range(K):
            have = [j for j in order if tr.trainable[j, k]]
            np.testing.assert_allclose(mu[t, k], tr.keypoints[have[0], k] if have else [np.nan, np.nan])
    assert np.isnan(mu).any() and not np.isnan(mu).all()  # both branches exercised
    model = svm.LinearSVM(rng.normal(size=(K, D)).astype(np.float32), rng.normal(size=K).astype(np.float32))
    cfg = point_prediction.PredictionConfig(box_size=60, eta=0.3)
    sigma = 22.0 * 60 / 500
    for prior in (None, mu):
        got = keypoint_detectors._predict_keypoints(model, te, prior, cfg)
        for i, k in np.ndindex(4, K):
            f = []
            for lo in range(L):
                s = 1 / (1 + np.exp(-(te.X[i, lo].astype(np.float64) @ model.W[k] + model.b[k])))
                p = 1.0 if prior is None or np.isnan(prior[i, k, 0]) else \
                    np.exp(-np.sum((centres[lo] - prior[i, k]) ** 2) / (2 * sigma**2))
                f.append(s ** (1 - cfg.eta) * p ** cfg.eta)
            np.testing.assert_allclose(got[i, k], centres[int(np.argmax(f))])


def test_validation_choices_with_nothing_scored_raise_naming_the_split(monkeypatch):
    """Table 4's C and Table 2's beta, chosen on a validation split where no candidate is scored (no visible
    keypoint: every PCK NaN), raise naming the split's setting instead of taking the first candidate."""
    from convcorr_eval.long2014 import table4
    from convcorr_jax.long2014 import retrieval_transfer as rt

    samples = [KeypointSample(np.zeros((2, 2), np.float32), np.zeros(2, bool), ("k0", "k1"),
                              np.array([0, 0, 7, 7], np.float32), "a", f"i{i}") for i in range(6)]
    monkeypatch.setattr(table4.point_prediction, "dense_conv", lambda s, *a: (np.zeros(len(s)), None, np.zeros(len(s))))
    monkeypatch.setattr(table4.point_prediction, "default_neg_half", lambda *a: 0.0)
    monkeypatch.setattr(table4.point_prediction, "instance_features", lambda *a: None)
    monkeypatch.setattr(table4.point_prediction, "run_category", lambda *a: {"hits": None})
    monkeypatch.setattr(table4.point_prediction, "per_type_pck", lambda hits: float("nan"))
    cfg = dataclasses.replace(table4.Config(), val_Cs=(1e-4, 1e-3), sift=False, val_fraction=0.5)
    with pytest.raises(InputError, match=r"long2014\.table4: field 'val_fraction'.*none scored"):
        table4.select_C(samples, None, None, cfg, None)

    monkeypatch.setattr(rt, "_take", lambda db, idx: db)
    monkeypatch.setattr(rt, "_run_transfer", lambda *a: {"pred": {m: None for m in rt.METHODS}})
    monkeypatch.setattr(rt, "evaluate", lambda preds, *a: {m: {0.1: {"mean": float("nan")}} for m in preds})
    rcfg = rt.RetrievalTransferConfig(val_betas=(1e-3, 3e-3), val_targets=2)
    with pytest.raises(InputError, match=r"RetrievalTransferConfig: field 'val_targets'.*none scored"):
        rt._select_beta(None, [dataclasses.replace(s, category=c) for s, c in zip(samples, "aabbcc")], rcfg)
    monkeypatch.setattr(rt, "evaluate", lambda preds, s, c: {m: {0.1: {"mean": float("nan") if c.beta == 1e-3
                                                                        else 50.0}} for m in preds})
    assert rt._select_beta(None, [dataclasses.replace(s, category=c) for s, c in zip(samples, "aabbcc")], rcfg)[0] \
        == 3e-3  # a NaN first candidate no longer wins


def test_a_box_below_what_the_features_need_is_one_line_naming_box_size():
    """A box smaller than the prior role's (pool5) smallest input gave an empty grid and a ZeroDivisionError in the
    kNN; a box smaller than one SIFT frame was reported as dsift's 'image'. Both name PredictionConfig's box_size."""
    from convcorr_jax.backbones import get

    samples = [_sample([[5.0, 5.0]], [0, 0, 63, 63], image=np.zeros((64, 64, 3), np.uint8))]
    cfg = point_prediction.PredictionConfig(box_size=40)  # caffenet conv5 needs 31 px, pool5 55 px
    with pytest.raises(InputError, match=r"PredictionConfig: field 'box_size'.*>= 55 px.*pool5.*got 40"):
        point_prediction.dense_conv(samples, get("caffenet"), None, cfg)
    with pytest.raises(InputError, match=r"PredictionConfig: field 'box_size'.*>= 25 px.*got 24"):
        point_prediction.dense_sift(samples, dataclasses.replace(cfg, box_size=24))


def test_a_keypoint_type_without_training_positives_is_not_predicted():
    """A type no training instance labels has no detector: its prediction is NaN (a miss, with and without the
    prior), where it was the first window's centre (a hit whenever the keypoint lay near the box's corner)."""
    rng = np.random.default_rng(0)
    cx, cy = np.meshgrid(np.arange(4) * 8.0, np.arange(4) * 8.0)
    centres = np.stack([cx.ravel(), cy.ravel()], 1).astype(np.float32)
    cfg = point_prediction.PredictionConfig(box_size=32, n_positives=1, C=1e-1, initial_negatives=10, max_rounds=1)

    def feats(n, labelled):
        kp = np.tile([[12.0, 12.0], [0.0, 0.0]], (n, 1, 1))  # type 1 sits on the first window's centre
        return point_prediction.InstanceFeatures(rng.normal(size=(n, 16, 4)).astype(np.float32), centres, kp,
                                                 np.tile(labelled, (n, 1)), prior=rng.normal(size=(n, 3)))

    test_s = [_sample([[12.0, 12.0], [0.0, 0.0]], [0, 0, 31, 31]) for _ in range(2)]
    res = point_prediction.run_category(feats(4, [True, False]), feats(2, [True, True]), test_s, "conv", cfg, 6.0)
    assert res["info"]["missing"] == [1]
    for name in ("pred", "pred_prior"):
        assert np.isnan(res[name][:, 1]).all() and np.isfinite(res[name][:, 0]).all()
    for name in ("hits", "hits_prior"):
        np.testing.assert_array_equal(res[name][:, 1], 0.0)  # evaluated, a miss


@pytest.mark.parametrize("cats", ["a", "ab"])
def test_a_validation_split_without_fit_or_validation_instances_names_val_fraction(cats):
    """One training instance leaves no fit instance; two of different categories leave no validation instance once
    the categories missing from fit are dropped: numpy's "need at least one array to stack" before."""
    from convcorr_eval.long2014 import table4

    samples = [_sample([[1.0, 1.0]], [0, 0, 7, 7], category=c) for c in cats]
    cfg = dataclasses.replace(table4.Config(), val_Cs=(1e-3,), sift=False)
    with pytest.raises(InputError, match=rf"long2014\.table4: field 'val_fraction'.*validation of {len(cats)}"):
        table4.select_C(samples, None, None, cfg, None)


def test_run_category_refuses_an_unknown_feature_kind():
    """Any kind but "conv" was trained with the dense SIFT rule (positives within 2 SIFT bins, negatives 4 bins away)
    without a word: kind="CONV" or "hog" ran the wrong protocol on conv features."""
    cfg = point_prediction.PredictionConfig(box_size=32, n_positives=1, C=1e-1, initial_negatives=50, max_rounds=1)
    tr_s, tr_x, centres = _toy_instances(4, 0)
    f = point_prediction.instance_features(tr_s, tr_x, centres, tr_x.reshape(4, -1), cfg)
    for kind in ("CONV", "hog"):
        with pytest.raises(InputError, match=r"run_category: field 'kind'.*\"conv\" or \"sift\".*got " + kind):
            point_prediction.run_category(f, f, tr_s, kind, cfg, neg_half=6.0)


def test_box_helpers_refuse_no_samples_and_mixed_keypoint_counts():
    """An empty sample list was numpy's "need at least one array to stack" and samples of two categories (K 1 and 2)
    "all input arrays must have the same shape", tracebacks from box_maps / box_crops / box_keypoints."""
    for f in (point_prediction.box_maps, point_prediction.box_crops, point_prediction.box_keypoints):
        with pytest.raises(InputError, match=r"box_maps: field 'samples'.*at least one sample"):
            f([], 32)
    mixed = [_sample([[1, 1]], [0, 0, 9, 9]), _sample([[1, 1], [2, 2]], [0, 0, 9, 9], category="other")]
    with pytest.raises(InputError, match=r"box_keypoints: field 'samples'.*one keypoint count.*\[1, 2\]"):
        point_prediction.box_keypoints(mixed, 32)
