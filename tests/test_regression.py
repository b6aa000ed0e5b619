"""Razavian et al. tasks on hand-made toy data whose answers are known (no backbone, no generated dataset)."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from convcorr_jax.core import geometry
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.segmentation_metrics import _average_precision, segmentation_average_precision, segmentation_iou
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.linear import ridge
from convcorr_jax.regression import directions, features, keypoints, landmarks, lookback, rgb, segmentation


def _blob_images(n, size=64, seed=0, r=3):
    """Black images with one white square blob; returns images and blob centres [n, 2] (x, y)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(12, size - 13, size=(n, 2)).round()
    im = np.zeros((n, size, size, 3), np.uint8)
    for i, (x, y) in enumerate(c.astype(int)):
        im[i, y - r : y + r + 1, x - r : x + r + 1] = 255
    return im, c


def centroid_featurizer(quantum_frac=0.0):
    """Features [cx, cy] of the bright pixels, optionally quantised to quantum_frac x image size."""

    def f(images):
        images = np.asarray(images, np.float64)[..., 0]
        n, h, w = images.shape
        ys, xs = np.mgrid[0:h, 0:w]
        m = images.sum((1, 2)) + 1e-9
        c = np.stack([(images * xs).sum((1, 2)) / m, (images * ys).sum((1, 2)) / m], 1)
        if quantum_frac:
            q = quantum_frac * w
            c = np.floor(c / q) * q + q / 2
        return c

    return f


def test_crop_coordinates_round_trip_and_pixels():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 50, size=(3, 5, 2))
    M = geometry.box_to_affine(geometry.square_box([[20.0, 30.0], [5.0, 5.0], [25.5, 10.0]], [16.0, 40.0, 7.0]), 24)
    np.testing.assert_allclose(geometry.transform_points(geometry.transform_points(pts, M), geometry.invert_affine(M)),
                               pts, atol=1e-9)
    im = np.arange(20 * 20 * 3, dtype=np.uint8).reshape(1, 20, 20, 3)
    # side == out_size and integer-aligned: the crop is an exact sub-image
    c = geometry.crop(im, geometry.box_to_affine(geometry.square_box([[9.5, 9.5]], [8.0]), 8), 8)
    np.testing.assert_array_equal(c[0], im[0, 6:14, 6:14])
    # the pixel at (x=7, y=11) lands where transform_points says it does
    M = geometry.box_to_affine(geometry.square_box([[8.5, 10.5]], [6.0]), 6)
    c = geometry.crop(im, M, 6)
    x, y = geometry.transform_points(np.array([[[7.0, 11.0]]]), M)[0, 0]
    np.testing.assert_array_equal(c[0, int(round(y)), int(round(x))], im[0, 11, 7])
    outside = geometry.crop(im, geometry.box_to_affine(geometry.square_box([[-30.0, -30.0]], [10.0]), 4), 4)
    assert outside.max() == 0
    b = lookback._subset_boxes(np.array([[[0.0, 0.0], [10.0, 4.0]]]), (0, 1), 2.0)
    np.testing.assert_allclose(b, geometry.square_box([[5.0, 2.0]], [14.0]))


def test_lookback_margin_is_the_quantile_of_the_out_of_fold_errors_and_crops_have_a_smallest_side():
    """The margin is `margin_quantile` of the subset's out-of-fold point errors (0..11 px, each twice: the median
    5.5, the maximum 11); a subset whose points coincide, with margin 0, still gets a MIN_SIDE crop."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(10, 30, (12, 2, 2))
    oof = pts + np.stack([np.arange(12.0), np.zeros(12)], -1)[:, None, :]
    images, feat = rng.integers(0, 255, (12, 40, 40, 3), dtype=np.uint8), features.pixel_featurizer((4, 4))
    for q, margin in ((0.5, 5.5), (1.0, 11.0)):
        lb = lookback.fit_lookback(images, pts, oof, feat, {"a": (0, 1)}, crop_size=8, margin_quantile=q,
                                   lambdas=[1e-2])
        assert lb.margins["a"] == pytest.approx(margin)
    b = lookback._subset_boxes(np.array([[[5.0, 5.0], [5.0, 5.0]]]), (0, 1), 0.0)
    np.testing.assert_allclose(b, geometry.square_box([[5.0, 5.0]], [lookback.MIN_SIDE]))


def test_l2_normalise_and_pixel_featurizer():
    F = features.l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(F, [[0.6, 0.8], [0.0, 0.0]])
    im, _ = _blob_images(2, 32)
    P = features.pixel_featurizer((16, 16))(im)
    assert P.shape == (2, 16 * 16 * 3) and P.max() <= 1.0 and P.min() >= 0.0


def test_fit_points_all_visible_equals_ridge_and_visibility_subsets():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(40, 6))
    P = (F @ rng.normal(size=(6, 6))).reshape(40, 3, 2) + 0.1 * rng.normal(size=(40, 3, 2))
    m = landmarks.fit_points(F, P, None, [0.01, 0.1, 1.0], 4, 0)
    ref, _ = ridge.fit_cv(F, P.reshape(40, 6), [0.01, 0.1, 1.0], 4, 0, dtype="float64")
    np.testing.assert_allclose(m.W, ref.W, rtol=1e-6)
    np.testing.assert_allclose(landmarks.predict_points(m, F), ridge.predict(ref, F).reshape(40, 3, 2), rtol=1e-5)
    vis = np.ones((40, 3), bool)
    vis[::3, 1] = False
    vis[:, 2] = False
    vis[:3, 2] = True  # too few rows: predicts the mean of the visible positions
    P2 = P.copy()
    P2[~vis] = np.nan
    m2 = landmarks.fit_points(F, P2, vis, [0.01, 0.1, 1.0], 4, 0, min_rows=8)
    rows = np.flatnonzero(vis[:, 1])
    ref1, _ = ridge.fit_cv(F[rows], P[rows, 1], [0.01, 0.1, 1.0], 4, 0, dtype="float64")
    np.testing.assert_allclose(m2.W[:, 2:4], ref1.W, rtol=1e-5)
    np.testing.assert_allclose(m2.W[:, 4:6], 0.0)
    np.testing.assert_allclose(m2.b[4:6], P[:3, 2].mean(0), rtol=1e-6)


def test_fit_points_with_too_few_rows_for_its_folds_predicts_the_mean():
    """2 or 3 rows in 2 folds leave a fold 1 training row: no CV (ridge refuses it), so the mean of the rows, as
    for a single row, not a near-interpolating fit with the grid's smallest lambda chosen on tied CV errors."""
    rng = np.random.default_rng(3)
    F, P = rng.normal(size=(4, 5)), rng.uniform(8, 30, (4, 3, 2))
    for n in (2, 3):
        m = landmarks.fit_points(F[:n], P[:n], folds=2, lambdas=[1e-7, 1.0])
        assert np.all(np.isnan(m.lam))
        np.testing.assert_allclose(landmarks.predict_points(m, F[3:]), P[None, :n].mean(1), rtol=1e-6)
    m = landmarks.fit_points(F, P, folds=2, lambdas=[1e-7, 1.0])  # 4 rows: 2 training rows per fold
    assert np.all(np.isfinite(m.lam))


def test_face_error_and_mean_shape_by_hand():
    gt = np.zeros((1, 68, 2))
    gt[0, :, 0] = np.arange(68)
    gt[0, 45, 0] = 36 + 10.0  # outer eye corners 36 and 45 are 10 px apart
    gt[0, 36, 0] = 36.0
    pred = gt + np.array([3.0, 4.0])  # every point 5 px off
    np.testing.assert_allclose(landmarks.face_errors(pred, gt), [0.5])
    ms = landmarks._mean_shape(np.stack([gt[0], gt[0] + 2]), 3)
    assert ms.shape == (3, 68, 2)
    np.testing.assert_allclose(ms[2], gt[0] + 1)


def test_lookback_reduces_quantisation_error():
    """Stage 1 sees the blob through a coarse (quantised) descriptor; look-back crops around the prediction and
    the same descriptor, now at crop resolution, is finer in image pixels, so the error must drop."""
    im, c = _blob_images(120, 64, seed=2)
    offsets = np.array([[-3.0, -3.0], [3.0, -3.0], [0.0, 3.0]])
    P = c[:, None, :] + offsets[None]
    feat = centroid_featurizer(quantum_frac=1 / 8)
    tr, te = slice(0, 90), slice(90, 120)
    F = feat(im)
    m = landmarks.fit_points(F[tr], P[tr], None, [1e-6, 1e-3], 4, 0)
    stage1 = landmarks.predict_points(m, F[te])
    oof = landmarks.oof_points(F[tr], P[tr], 1e-6, 4, 0)
    subsets = {"top": (0, 1), "all": (0, 1, 2)}
    lb = lookback.fit_lookback(im[tr], P[tr], oof, feat, subsets, crop_size=64, lambdas=[1e-6, 1e-3])
    refined, boxes = lookback.apply_lookback(lb, im[te], stage1, feat)
    e1 = np.mean(np.linalg.norm(stage1 - P[te], axis=-1))
    e2 = np.mean(np.linalg.norm(refined - P[te], axis=-1))
    assert e1 > 1.0 and e2 < 0.6 * e1
    assert boxes["all"].shape == (30, 4)
    assert all(m > 0 for m in lb.margins.values())


def _kp_samples(n, seed, category, invisible_every=0):
    im, c = _blob_images(n, 64, seed)
    out = []
    for i in range(n):
        pts = (c[i] + np.array([[-3.0, 0.0], [3.0, 0.0]])).astype(np.float32)
        vis = np.array([True, not (invisible_every and i % invisible_every == 0)])
        x, y = c[i]
        out.append(KeypointSample(pts, vis, ("l", "r"), np.array([x - 8, y - 8, x + 7, y + 7], np.float32), category,
                                  f"{category}{i}", im[i]))
    return out


def test_keypoint_table_with_exact_descriptor():
    """Crop around the box, descriptor = blob centroid in the crop: keypoints are linear in it, PCK = 1."""
    train = _kp_samples(40, 3, "a", invisible_every=4) + _kp_samples(40, 4, "b")
    test = _kp_samples(12, 5, "a") + _kp_samples(12, 6, "b")
    res = keypoints.keypoint_table(train, test, centroid_featurizer(), crop_size=32, lambdas=[1e-8, 1e-6])
    assert set(res.pck) == {"a", "b", "mean"}
    assert res.pck["mean"] == pytest.approx(1.0)
    assert res.curves["a"].shape == (len(keypoints.ALPHAS),) and res.counts == {"a": 12, "b": 12}
    np.testing.assert_allclose(keypoints._bbox_norm(np.array([[0, 0, 9, 4]])), [10.0])


def test_keypoint_pck_averages_per_keypoint_type():
    """Type 0 evaluated in 4 instances, all correct; type 1 in one instance, wrong; type 2 never: pooling gives
    4/5, the per-type mean (1 + 0) / 2."""
    hits = np.array([[1.0, 0.0, np.nan], [1.0, np.nan, np.nan], [1.0, np.nan, np.nan], [1.0, np.nan, np.nan]])
    assert np.nanmean(hits) == pytest.approx(0.8)
    assert keypoints._pck_per_type(hits) == pytest.approx(0.5)
    assert np.isnan(keypoints._pck_per_type(np.full((2, 3), np.nan)))


def test_rgb_reconstruction_is_exact_for_linear_images():
    """Images are mixtures of 4 base images with the mixing weights as descriptor: reconstruction is linear."""
    rng = np.random.default_rng(7)
    base = rng.uniform(0, 1, size=(4, 46 * 46 * 3))
    F = rng.dirichlet(np.ones(4), size=30)
    im = np.rint(255 * (F @ base)).reshape(30, 46, 46, 3).astype(np.uint8)
    r = rgb.rgb_reconstruction(F[:20], im[:20], F[20:], im[20:], lambdas=[1e-8, 1e-6])
    assert r.mae < 0.005 and r.mae_mean_image > 0.05
    assert r.recon.shape == (10, 46, 46, 3)


def _noisy_images(signal: float, n: int = 200, d: int = 10, size: int = 4, seed: int = 0):
    """Descriptors F [n, d] ~ N(0, 1) and uint8 size x size images whose pixels are 0.5 + 0.1 (F w + noise 1),
    weights ~ `signal`: weak signal (0.03) puts the CV's best lambda near 1e3, a strong one (1) near 1."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, d))
    Y = F @ (signal * rng.normal(size=(d, size * size * 3))) + rng.normal(size=(n, size * size * 3))
    return F, np.rint(255 * np.clip(0.5 + 0.1 * Y, 0, 1)).reshape(n, size, size, 3).astype(np.uint8)


def test_rgb_reconstruction_reports_its_lambda_and_extends_the_grid_at_the_top():
    grid = np.logspace(-2, 2, 9)  # half decades up to 1e2
    F, im = _noisy_images(0.03)
    top = rgb.rgb_reconstruction(F[:160], im[:160], F[160:], im[160:], lambdas=grid, size=4)
    assert top.lam == 100.0 and top.edge == "high"
    ext = rgb.rgb_reconstruction(F[:160], im[:160], F[160:], im[160:], lambdas=grid, size=4, extend_top=8)
    assert 100.0 < ext.lam < 1e6 and ext.edge == "" and float(ext.model.lam) == ext.lam
    F, im = _noisy_images(1.0)  # best inside the grid: reported, and the extension changes nothing
    inside = rgb.rgb_reconstruction(F[:160], im[:160], F[160:], im[160:], lambdas=grid, size=4)
    same = rgb.rgb_reconstruction(F[:160], im[:160], F[160:], im[160:], lambdas=grid, size=4, extend_top=8)
    assert 0.01 < inside.lam < 100.0 and inside.edge == "" and (same.lam, same.mae) == (inside.lam, inside.mae)
    old = rgb.RGBResult(inside.mae, inside.mae_mean_image, inside.model, inside.recon, inside.originals)
    assert np.isnan(old.lam) and old.edge == ""  # callers that build it positionally still can


def test_label_fractions_and_area_matrix():
    A = segmentation._area_matrix(5, 2)
    np.testing.assert_allclose(A, [[0.4, 0.4, 0.2, 0, 0], [0, 0, 0.2, 0.4, 0.4]], atol=1e-7)
    lab = np.zeros((1, 60, 60), np.uint8)
    lab[0, :, 30:] = 2
    lab[0, :20, :] = 255  # void top third
    fr = segmentation._label_fractions(lab, 3, 3)
    np.testing.assert_allclose(fr[0, 0], [[1, 0, 0]] * 3)  # all void -> background
    np.testing.assert_allclose(fr[0, 1, :, 2], [0, 0.5, 1], atol=1e-6)
    np.testing.assert_allclose(fr.sum(-1), 1.0, atol=1e-6)


def test_average_precision_matches_sklearn_and_iou_by_hand():
    rng = np.random.default_rng(8)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.5 * y, 2)  # with ties
    assert _average_precision(s, y) == pytest.approx(average_precision_score(y, s), rel=1e-12)
    assert np.isnan(_average_precision(s, np.zeros(500, bool)))
    labels = np.array([[[0, 1], [1, 255]]])
    scores = np.zeros((1, 2, 2, 2))
    scores[..., 1] = [[0.1, 0.9], [0.8, 0.99]]
    scores[..., 0] = 1 - scores[..., 1]
    np.testing.assert_allclose(segmentation_average_precision(scores, labels), [1.0, 1.0])
    pred = np.array([[[0, 1], [0, 1]]])
    np.testing.assert_allclose(segmentation_iou(pred, labels, 3), [0.5, 0.5, np.nan])


def test_segmentation_recovers_layout_from_informative_descriptor():
    """Images are one of 3 layouts (class 1 left half, class 2 right half, background): a descriptor that encodes
    the layout gives near-perfect segmentation after both stages."""
    rng = np.random.default_rng(9)
    n, H = 60, 40
    kind = rng.integers(0, 3, n)
    labels = np.zeros((n, H, H), np.uint8)
    labels[kind == 0, :, : H // 2] = 1
    labels[kind == 1, :, H // 2 :] = 2
    labels[:, 0, 0] = 255
    F = np.eye(3)[kind] + 0.01 * rng.normal(size=(n, 3))
    res = segmentation.segmentation_table(F[:45], labels[:45], F[45:], labels[45:], 3, grid=10,
                                          lambdas=[1e-4, 1e-2])
    assert res.pixel_acc > 0.97 and res.mean_ap > 0.95
    assert res.scores.shape == (15, H, H, 3) and res.pred.shape == (15, H, H)


def test_semantic_direction_moves_projection_only():
    rng = np.random.default_rng(10)
    F = rng.normal(size=(80, 5))
    a = F @ np.array([1.0, -2.0, 0.0, 0.5, 0.0]) + 0.01 * rng.normal(size=80)
    d = directions.learn_direction(F, a, lambdas=[1e-4, 1e-2])
    assert np.linalg.norm(d.w) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(np.abs(d.w), np.abs([1, -2, 0, 0.5, 0]) / np.linalg.norm([1, -2, 0, 0.5, 0]),
                               atol=1e-3)
    moved = directions.move_along(d, F[:2], t_values=[-1.0, 0.0, 2.0])
    np.testing.assert_allclose(moved @ d.w.astype(np.float64), [[-1, 0, 2]] * 2, atol=1e-5)
    w = d.w.astype(np.float64)
    perp = F[:2] - (F[:2] @ w)[:, None] * w
    np.testing.assert_allclose(moved[:, 1], perp, atol=1e-5)  # eq. 6: t = 0 leaves the orthogonal part


def test_regression_bad_inputs_give_one_input_error():
    """Mismatched counts, widths, visibility flags, subset indices, label values and direction settings are one
    InputError naming the argument (not an IndexError / matmul error, nor a silently wrong answer)."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(0)
    F, pts = rng.normal(size=(12, 5)), rng.uniform(8, 30, (12, 4, 2))
    with pytest.raises(InputError, match="'visible'"):
        landmarks.fit_points(F, pts, np.ones((12, 2), bool))
    bad = F.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="fit_points: field 'F'"):  # was ridge's 'X', not the caller's argument
        landmarks.fit_points(bad, pts)
    hidden, vis = pts.copy(), np.ones((12, 4), bool)
    hidden[2, 1], vis[2, 1] = np.nan, False
    landmarks.fit_points(F, hidden, vis, lambdas=[1e-2])  # a hidden point may be NaN
    with pytest.raises(InputError, match="fit_points: field 'points'"):
        landmarks.fit_points(F, hidden, None)
    model = landmarks.fit_points(F, pts, lambdas=[1e-2])
    with pytest.raises(InputError, match="predict_points: field 'F'"):
        landmarks.predict_points(model, rng.normal(size=(2, 6)))
    with pytest.raises(InputError, match="predict_points: field 'F': expected finite numbers.*1 non-finite"):
        landmarks.predict_points(model, np.r_[[[np.nan, *rng.normal(size=4)]], rng.normal(size=(1, 5))])
    images, feat = rng.integers(0, 255, (12, 40, 40, 3), dtype=np.uint8), features.pixel_featurizer((4, 4))
    lb = lookback.fit_lookback(images, pts, pts + 1.0, feat, {"a": (0, 1), "b": (2, 3)}, crop_size=8,
                               lambdas=[1e-2])
    with pytest.raises(InputError, match=r"subsets\['b'\].*stage1 has K = 3"):
        lookback.apply_lookback(lb, images, pts[:, :3], feat)
    with pytest.raises(InputError, match="apply_lookback: field 'stage1'"):
        lookback.apply_lookback(lb, images[:5], pts, feat)
    nan_pts = pts.copy()
    nan_pts[0, 1] = np.nan
    with pytest.raises(InputError, match=r"stage1\[0, 1\]"):
        lookback.apply_lookback(lb, images, nan_pts, feat)
    with pytest.raises(InputError, match="'images'"):
        lookback.apply_lookback(lb, images[:0], pts[:0], feat)
    with pytest.raises(InputError, match=r"subsets\['a'\]"):
        lookback.fit_lookback(images, pts, pts, feat, {"a": (0, 9)}, crop_size=8)
    with pytest.raises(InputError, match="margin_quantile"):
        lookback.fit_lookback(images, pts, pts, feat, {"a": (0, 1)}, crop_size=8, margin_quantile=2.0)
    labels = rng.integers(0, 3, (12, 20, 20)).astype(np.uint8)
    with pytest.raises(InputError, match="labels_train.*0..2 or 255"):  # class 3 of a 3-class task: no silent drop
        segmentation.segmentation_table(F[:8], labels[:8] + 1, F[8:], labels[8:], 3, grid=5)
    with pytest.raises(InputError, match="labels_test"):
        segmentation.segmentation_table(F[:8], labels[:8], F[8:], labels[9:], 3, grid=5)
    with pytest.raises(InputError, match="images_test"):
        rgb.rgb_reconstruction(F[:8], images[:8], F[8:], images[9:], size=6)
    with pytest.raises(InputError, match="images_test.*uint8"):  # [0, 1] floats would be read as black images
        rgb.rgb_reconstruction(F[:8], images[:8], F[8:], images[8:] / 255.0, size=6)
    with pytest.raises(InputError, match="resize_images: field 'images'.*uint8"):
        features.pixel_featurizer((4, 4))(images / 255.0)
    d = directions.learn_direction(F, F @ np.arange(5.0))
    with pytest.raises(InputError, match="move_along: field 'F'"):
        directions.move_along(d, F[:, :4])
    with pytest.raises(InputError, match="quantiles"):
        directions.learn_direction(F, F @ np.arange(5.0), quantiles=(0.9, 0.1))
    with pytest.raises(InputError, match="extrapolate"):
        directions.learn_direction(F, F @ np.arange(5.0), extrapolate=-1.0)


@pytest.mark.parametrize("grid", [0, -1, 1.5, True])
def test_segmentation_grid_and_rgb_size_not_a_count_are_one_line(grid):
    """grid 0 used to be a ZeroDivisionError, 1.5 / True a TypeError and -1 ridge's 'Y' of width 0; an rgb size of
    True passed the size check and ended in resize's TypeError."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(0)
    F, labels = rng.normal(size=(12, 4)), rng.integers(0, 3, (12, 10, 10))
    with pytest.raises(InputError, match=r"segmentation_table: field 'grid'.*int >= 1"):
        segmentation.segmentation_table(F[:8], labels[:8], F[8:], labels[8:], 3, grid=grid)
    images = rng.integers(0, 255, (12, 10, 10, 3), dtype=np.uint8)
    with pytest.raises(InputError, match=r"rgb_reconstruction: field 'size'"):
        rgb.rgb_reconstruction(F[:8], images[:8], F[8:], images[8:], size=True)


def test_oof_points_and_landmark_table_take_lists_and_check_shapes():
    """oof_points read points.shape (AttributeError for a list, numpy's reshape ValueError for [N, K]) and
    landmark_table's dataset-bias row did the same for a list P_train."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(1)
    F, pts = rng.normal(size=(12, 5)), rng.uniform(8, 30, (12, 68, 2))
    want = landmarks.oof_points(F, pts, 1e-2)
    np.testing.assert_allclose(landmarks.oof_points(F.tolist(), pts.tolist(), 1e-2), want)
    with pytest.raises(InputError, match=r"oof_points: field 'points'.*\[N, K, 2\]"):
        landmarks.oof_points(F, pts[..., 0], 1e-2)
    with pytest.raises(InputError, match=r"oof_points: field 'F'"):
        landmarks.oof_points(F[:10], pts, 1e-2)
    res = landmarks.landmark_table(F, pts.tolist(), F[:3], pts[:3], lambdas=[1e-2])
    np.testing.assert_allclose(res.pred["Dataset Bias"], np.broadcast_to(pts.mean(0), (3, 68, 2)))


def test_task_tables_check_the_test_split_before_fitting():
    """A test split that does not fit the training one is an InputError naming the argument, raised before the fits:
    landmark_table used to fail in numpy's broadcast (P_test of another count) or name predict_points' 'F' (R_test
    missing); rgb_reconstruction and segmentation_table named ridge.predict's 'X' after the whole fit (F_test of
    another width); num_classes 0 read "labels in 0..-1", size 0 ridge's 'Y'."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(4)
    F, P = rng.normal(size=(12, 5)), rng.uniform(8, 30, (12, 68, 2))
    with pytest.raises(InputError, match="landmark_table: field 'P_test'"):
        landmarks.landmark_table(F, P, F[:3], P[:4])
    with pytest.raises(InputError, match="landmark_table: field 'R_test'.*both splits or for neither"):
        landmarks.landmark_table(F, P, F[:3], P[:3], R_train=F)
    with pytest.raises(InputError, match="landmark_table: field 'R_train'"):
        landmarks.landmark_table(F, P, F[:3], P[:3], R_test=F[:3])

    def refuse_before_fit(match, fn, *args, **kw):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ridge, "fit_cv", lambda *a, **k: pytest.fail("fitted before checking the test split"))
            with pytest.raises(InputError, match=match):
                fn(*args, **kw)

    images = rng.integers(0, 255, (12, 20, 20, 3), dtype=np.uint8)
    refuse_before_fit("rgb_reconstruction: field 'F_test': expected shape \\[N, D=5\\]", rgb.rgb_reconstruction,
                      F[:8], images[:8], F[8:, :4], images[8:], size=6)
    refuse_before_fit("rgb_reconstruction: field 'size'", rgb.rgb_reconstruction, F[:8], images[:8], F[8:],
                      images[8:], size=0)
    labels = rng.integers(0, 3, (12, 20, 20)).astype(np.uint8)
    refuse_before_fit("segmentation_table: field 'F_test': expected shape \\[N, D=5\\]",
                      segmentation.segmentation_table, F[:8], labels[:8], F[8:, :4], labels[8:], 3, grid=5)
    refuse_before_fit("segmentation_table: field 'num_classes'", segmentation.segmentation_table, F[:8],
                      labels[:8] * 0, F[8:], labels[8:] * 0, 0, grid=5)


def test_learn_direction_refuses_inputs_that_give_no_direction():
    """A constant attribute or constant descriptors fit all-zero weights: an InputError, not a zero 'unit'
    direction along which move_along changes nothing; likewise an infinite widening and a step count below 1."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(5)
    F = rng.normal(size=(20, 5))
    with pytest.raises(InputError, match="learn_direction: field 'attribute'.*vary"):
        directions.learn_direction(F, np.full(20, 3.0))
    with pytest.raises(InputError, match="learn_direction: field 'F'.*vary"):
        directions.learn_direction(np.ones((20, 5)), rng.normal(size=20))
    with pytest.raises(InputError, match="extrapolate"):
        directions.learn_direction(F, F @ np.arange(5.0), extrapolate=float("inf"))
    d = directions.learn_direction(F, F @ np.arange(5.0))
    assert np.linalg.norm(d.w) == pytest.approx(1.0, abs=1e-6)
    for steps in (0, -1):
        with pytest.raises(InputError, match="move_along: field 'steps'"):
            directions.move_along(d, F[:1], steps=steps)


def test_keypoint_table_small_and_disjoint_categories():
    """A category with one training instance predicts that instance's points (fit_points' documented fallback);
    no shared category is an InputError, not a numpy stacking error."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(1)

    def sample(cat, i):
        img = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        pts = rng.uniform(10, 38, (3, 2)).astype(np.float32)
        return KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.array([5, 5, 42, 42], np.float32), cat,
                              f"{cat}{i}", img)

    feat = features.pixel_featurizer((4, 4))
    one = landmarks.fit_points(rng.normal(size=(1, 5)), [[[3.0, 4.0], [5.0, 6.0]]], folds=1)
    np.testing.assert_allclose(landmarks.predict_points(one, rng.normal(size=(2, 5))), [[[3, 4], [5, 6]]] * 2)
    res = keypoints.keypoint_table([sample("a", 0)], [sample("a", 1)], feat, crop_size=16)
    assert res.counts == {"a": 1} and 0.0 <= res.pck["a"] <= 1.0
    with pytest.raises(InputError, match="keypoint_table: field 'category'"):
        keypoints.keypoint_table([sample("a", 0)], [sample("b", 0)], feat, crop_size=16)


def test_keypoint_table_mean_skips_a_category_without_visible_test_keypoints(tmp_path, recwarn):
    """A test category whose keypoints are all invisible has no PCK (NaN, "-" in Table 2): the mean and the Fig. 2b
    mean curve are over the categories scored; they used to be NaN ("nan" under "mean of 2")."""
    import dataclasses

    from convcorr_eval.razavian2015 import common
    from convcorr_eval.razavian2015.keypoints import Config, section

    train = _kp_samples(20, 3, "a") + _kp_samples(20, 4, "b")
    test = _kp_samples(6, 5, "a") + [dataclasses.replace(s, visible=np.zeros(2, bool)) for s in _kp_samples(6, 6, "b")]
    res = keypoints.keypoint_table(train, test, centroid_featurizer(), crop_size=32, lambdas=[1e-8, 1e-6])
    assert np.isnan(res.pck["b"]) and res.pck["mean"] == res.pck["a"] == pytest.approx(1.0)
    desc = common.Descriptors(centroid_featurizer(), None, "blob centroid")
    md, m = section(Config(size="tiny", object_crop=32), desc, tmp_path, train, test)
    assert "| b | 6 | - |" in md and "| **mean of 1** | 12 | 100.0 |" in md and "nan" not in md
    assert m["pck@0.1"]["mean"] == pytest.approx(1.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_learn_direction_and_move_along_check_attribute_and_t_values():
    """A [N, 1] attribute used to give a Direction with w [d, 1] on which move_along failed with numpy's broadcast
    ValueError; a NaN attribute was named 'Y: field values' (ridge's internals); 2-D t_values ended in a broadcast
    ValueError. Each is now one InputError naming the argument."""
    from convcorr_jax.core.errors import InputError

    rng = np.random.default_rng(6)
    F = rng.normal(size=(20, 5))
    a = F @ np.arange(5.0)
    with pytest.raises(InputError, match=r"learn_direction: field 'attribute'.*\[N=20\]"):
        directions.learn_direction(F, a[:, None])
    with pytest.raises(InputError, match="learn_direction: field 'attribute'.*finite"):
        directions.learn_direction(F, np.r_[np.nan, a[1:]])
    d = directions.learn_direction(F, a)
    with pytest.raises(InputError, match="move_along: field 't_values'"):
        directions.move_along(d, F[:2], t_values=[[0.0, 1.0]])
    with pytest.raises(InputError, match="move_along: field 't_values'"):
        directions.move_along(d, F[:2], t_values=[0.0, np.inf])
    assert directions.move_along(d, F[:2], t_values=[0.0, 1.0]).shape == (2, 2, 5)


def test_fit_points_refuses_more_folds_than_rows_and_visible_flags_other_than_0_1():
    """3 rows with the default 4 folds predicted the mean of the rows with only lam NaN to say so, and a NaN (or 2) in
    a float visible mask was cast to True (a visible point): one InputError each now. A single row with folds=1
    still predicts its own points, and a float 0 / 1 mask equals the bool one."""
    rng = np.random.default_rng(5)
    F, P = rng.normal(size=(12, 4)), rng.uniform(8, 30, (12, 2, 2))
    with pytest.raises(InputError, match=r"fit_points: field 'folds': expected an int in \[2, N=3\].*got 4"):
        landmarks.fit_points(F[:3], P[:3])
    for folds in (1, 2.0, "4"):
        with pytest.raises(InputError, match="fit_points: field 'folds'"):
            landmarks.fit_points(F, P, folds=folds)
    one = landmarks.fit_points(F[:1], P[:1], folds=1)
    np.testing.assert_allclose(landmarks.predict_points(one, F[5:6]), P[:1], rtol=1e-6)
    vis = np.ones((12, 2))
    vis[:4, 1] = 0.0
    for bad in (np.nan, 2.0, -1.0):
        v = vis.copy()
        v[0, 0] = bad
        with pytest.raises(InputError, match=r"fit_points: field 'visible': expected 0 or 1.*visible\[0, 0\]"):
            landmarks.fit_points(F, P, v, min_rows=4)
    a, b = landmarks.fit_points(F, P, vis, min_rows=4), landmarks.fit_points(F, P, vis > 0, min_rows=4)
    np.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("kwargs", [{"extrapolate": "x"}, {"extrapolate": None}, {"extrapolate": True},
                                    {"quantiles": 0.5}, {"quantiles": ("a", "b")}, {"quantiles": (0.1, 0.5, 0.9)}])
def test_learn_direction_refuses_extrapolate_and_quantiles_that_are_not_numbers(kwargs):
    """extrapolate="x" was float()'s ValueError traceback, a scalar quantiles len()'s TypeError."""
    rng = np.random.default_rng(6)
    F = rng.normal(size=(12, 4))
    with pytest.raises(InputError, match=f"learn_direction: field '{next(iter(kwargs))}'"):
        directions.learn_direction(F, F[:, 0], **kwargs)


def test_landmark_table_and_face_errors_refuse_landmark_counts_that_differ():
    """P_train with another number of landmarks than P_test was numpy's broadcast ValueError after every fit, and
    face_errors of predictions not of gt's shape the same."""
    rng = np.random.default_rng(7)
    F, P = rng.normal(size=(12, 5)), rng.uniform(8, 30, (12, 68, 2))
    with pytest.raises(InputError, match=r"landmark_table: field 'P_train': expected shape \[N, K=68, 2\]"):
        landmarks.landmark_table(F, P[:, :10], F[:3], P[:3], lambdas=[1e-2])
    with pytest.raises(InputError, match=r"face_errors: field 'pred': expected shape \[3, 68, 2\]"):
        landmarks.face_errors(P[:3, :10], P[:3])
    with pytest.raises(InputError, match=r"face_errors: field 'pred'"):
        landmarks.face_errors(P[:2], P[:3])


def test_task_tables_refuse_an_empty_test_split():
    """No test row: landmark_table and segmentation_table returned NaN errors (with numpy's empty-mean warnings),
    rgb_reconstruction a reshape ValueError, each after every fit."""
    rng = np.random.default_rng(8)
    F, P = rng.normal(size=(12, 5)), rng.uniform(8, 30, (12, 68, 2))
    with pytest.raises(InputError, match=r"landmark_table: field 'F_test': expected at least one row, got 0 rows"):
        landmarks.landmark_table(F, P, F[:0], P[:0], lambdas=[1e-2])
    images = rng.integers(0, 255, (12, 10, 10, 3), dtype=np.uint8)
    with pytest.raises(InputError, match=r"rgb_reconstruction: field 'F_test': expected at least one row, got 0 rows"):
        rgb.rgb_reconstruction(F, images, F[:0], images[:0], lambdas=[1e-2], size=4)
    labels = rng.integers(0, 3, (12, 10, 10))
    with pytest.raises(InputError, match=r"segmentation_table: field 'F_test': expected at least one row, got 0 rows"):
        segmentation.segmentation_table(F, labels, F[:0], labels[:0], 3, grid=5, lambdas=[1e-2])


@pytest.mark.parametrize("crop_size", [0, -4, 2.5, True])
def test_fit_lookback_refuses_a_crop_size_that_is_not_a_count(crop_size):
    """crop_size 0 was numpy's LinAlgError (a singular crop map), 2.5 a crop of a size no featurizer was built for."""
    rng = np.random.default_rng(9)
    images, pts = rng.integers(0, 255, (12, 40, 40, 3), dtype=np.uint8), rng.uniform(8, 30, (12, 4, 2))
    with pytest.raises(InputError, match=r"fit_lookback: field 'crop_size': expected an int >= 1"):
        lookback.fit_lookback(images, pts, pts + 1.0, features.pixel_featurizer((4, 4)), {"a": (0, 1)},
                              crop_size=crop_size, lambdas=[1e-2])


def test_move_along_refuses_non_finite_descriptors():
    """A NaN or inf in F made every moved descriptor of its row NaN, silently (learn_direction refuses them)."""
    rng = np.random.default_rng(10)
    F = rng.normal(size=(20, 5))
    d = directions.learn_direction(F, F @ np.arange(5.0), lambdas=[1e-2])
    for bad in (np.nan, np.inf):
        G = F[:3].copy()
        G[1, 2] = bad
        with pytest.raises(InputError, match=r"move_along: field 'F': expected finite.*1 non-finite"):
            directions.move_along(d, G)


def test_l2_normalise_refuses_an_array_that_is_not_rows():
    """A single descriptor [D] was numpy's AxisError; [N, H, W] was normalised along its second axis, silently."""
    with pytest.raises(InputError, match=r"l2_normalise: field 'F': expected shape \[N, D\].*got \(3,\)"):
        features.l2_normalise(np.ones(3))
    with pytest.raises(InputError, match=r"l2_normalise: field 'F'"):
        features.l2_normalise(np.ones((2, 2, 2)))
    np.testing.assert_allclose(features.l2_normalise([[3, 4]]), [[0.6, 0.8]])
