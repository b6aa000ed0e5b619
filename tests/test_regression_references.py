"""Razavian et al.'s read-outs against the field's definitions, each by a brute-force or direct reference: VOC's
pooled IoU, scikit-learn's average precision over the non-void pixels of several images, and the look-back as a
plain NumPy implementation (SciPy's bilinear sampling, closed-form ridge)."""

import numpy as np
import pytest
from scipy.ndimage import map_coordinates
from sklearn.metrics import average_precision_score

from convcorr_jax.core.segmentation_metrics import segmentation_average_precision, segmentation_iou
from convcorr_jax.core.errors import InputError
from convcorr_jax.regression import lookback


def _maps(seed=0, n=3, h=7, w=9, c=4):
    """Random labels [n, h, w] with void pixels (class c - 1 absent from the labels), predictions and scores."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c - 1, (n, h, w))
    labels[rng.random((n, h, w)) < 0.15] = 255
    pred = rng.integers(0, c, (n, h, w))
    pred[pred == 2] = 1  # class 2 never predicted
    scores = np.round(rng.random((n, h, w, c)), 1)  # with ties
    return labels, pred, scores


def test_segmentation_iou_is_voc_pooled_over_images():
    """Per class: the intersections of all images summed over the unions summed (void ignored), not the mean of
    per-image IoUs; NaN for a class in neither labels nor predictions."""
    labels, pred, _ = _maps()
    keep = labels != 255
    ref = []
    for c in range(4):
        inter = sum(int(np.sum((p == c) & (g == c) & k)) for p, g, k in zip(pred, labels, keep))
        union = sum(int(np.sum(((p == c) | (g == c)) & k)) for p, g, k in zip(pred, labels, keep))
        ref.append(inter / union if union else np.nan)
    got = segmentation_iou(pred, labels, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    per_image = [[np.sum((p == c) & (g == c) & k) / max(1, np.sum(((p == c) | (g == c)) & k)) for c in range(2)]
                 for p, g, k in zip(pred, labels, keep)]
    assert not np.allclose(got[:2], np.mean(per_image, 0))  # the two definitions differ on these maps
    pred[labels == 255] = 3  # whatever is predicted at void pixels counts nowhere
    np.testing.assert_allclose(segmentation_iou(pred, labels, 5)[4], np.nan)
    assert np.isnan(segmentation_iou(np.zeros((1, 2, 2), int), np.zeros((1, 2, 2), int), 3)[2])


def test_segmentation_average_precision_matches_sklearn_over_images():
    labels, _, scores = _maps(seed=1)
    keep = labels != 255
    got = segmentation_average_precision(scores, labels)
    for c in range(3):
        assert got[c] == pytest.approx(average_precision_score(labels[keep] == c, scores[keep][:, c]), rel=1e-12)
    assert np.isnan(got[3])  # no pixel of class 3


def test_segmentation_metrics_refuse_class_ids_out_of_range():
    """A prediction of -1 at a label-2 pixel was counted as class 1 predicted 2 (class 1's IoU 2/3 instead of 1),
    a prediction or label >= C and maps of other shapes gave a reshape or indexing traceback."""
    labels = np.array([[[0, 1], [1, 2]]])
    np.testing.assert_allclose(segmentation_iou(np.array([[[0, 1], [1, 2]]]), labels, 3), [1, 1, 1])
    for pred, field in (([[[0, 1], [1, -1]]], "pred"), ([[[0, 1], [1, 3]]], "pred"), ([[[0, 1, 2]]], "pred")):
        with pytest.raises(InputError, match=f"field '{field}'"):
            segmentation_iou(np.array(pred), labels, 3)
    with pytest.raises(InputError, match=r"class ids in 0..2 or 255 \(void\), got \[5\]"):
        segmentation_iou(labels, np.array([[[0, 1], [1, 5]]]), 3)
    np.testing.assert_allclose(segmentation_iou(np.array([[[0, 1], [1, 9]]]), np.array([[[0, 1], [1, 255]]]),
                                                        3), [1, 1, np.nan])  # any prediction at a void pixel
    with pytest.raises(InputError, match="field 'labels'"):
        segmentation_average_precision(np.zeros((1, 2, 2, 3)), np.array([[[0, 1], [1, 3]]]))
    with pytest.raises(InputError, match="field 'labels'"):
        segmentation_average_precision(np.zeros((1, 2, 3, 3)), labels)


def test_segmentation_average_precision_refuses_non_finite_scores():
    """A NaN score was sorted last (class 0 here scored 1.0 with its NaN negative ranked below every positive) and
    tied infinite scores were split into separate thresholds (0.83 instead of 0.58); scikit-learn refuses both.
    A NaN at a void pixel is not scored and stays allowed."""
    labels = np.array([[[0, 1], [0, 1]]])
    scores = np.zeros((1, 2, 2, 2))
    scores[..., 0] = [[np.inf, np.inf], [1.0, 0.0]]
    scores[..., 1] = -scores[..., 0]
    with pytest.raises(InputError, match=r"segmentation_average_precision: field 'scores': expected finite scores at "
                                         r"the non-void pixels, got 4 non-finite entries"):
        segmentation_average_precision(scores, labels)
    scores[..., 0], scores[..., 1] = [[0.9, np.nan], [0.5, 0.1]], 0.5
    with pytest.raises(InputError, match="got 1 non-finite entries"):
        segmentation_average_precision(scores, labels)
    got = segmentation_average_precision(scores, np.array([[[0, 255], [0, 1]]]))  # the NaN pixel is void
    assert got[0] == pytest.approx(average_precision_score([1, 1, 0], [0.9, 0.5, 0.1]))


def test_segmentation_average_precision_matches_a_brute_force_on_edge_cases():
    """AP from its definition (for each positive, the precision among the pixels scoring at least its score, tied
    pixels counted together), averaged over the positives: one pixel, every pixel positive, every score tied, a class
    with no pixel, random ties over several images."""

    def brute(s, y):
        if not any(y):
            return np.nan
        return sum(sum(y[j] for j in range(len(s)) if s[j] >= s[i]) / sum(1 for j in range(len(s)) if s[j] >= s[i])
                   for i in range(len(s)) if y[i]) / sum(y)

    rng = np.random.default_rng(3)
    cases = [(np.array([[[0]]]), np.array([[[[0.2, 0.3]]]])),
             (np.zeros((1, 2, 3), int), rng.random((1, 2, 3, 2))),
             (np.array([[[0, 1, 1, 255]]]), np.full((1, 1, 4, 2), 0.5))]
    for _ in range(5):
        lab = rng.integers(0, 3, (2, 3, 4))
        lab[rng.random(lab.shape) < 0.2] = 255
        cases.append((lab, np.round(rng.random((2, 3, 4, 3)), 1)))
    for lab, sc in cases:
        keep = lab != 255
        ref = [brute(list(sc[keep][:, c]), list(lab[keep] == c)) for c in range(sc.shape[-1])]
        np.testing.assert_allclose(segmentation_average_precision(sc, lab), ref, rtol=1e-12)


def _direct_lookback(images, points, oof, test_images, stage1, subsets, feat, size, lam):
    """The look-back written out: margin = the subset's largest out-of-fold error; a square box around the subset's
    predicted points, side = their longer extent + 2 margins; bilinear crop (black outside); ridge with intercept
    to the points in crop pixels; back to image pixels; a point in two subsets gets the mean."""

    def boxes(p, idx, m):  # outer top-left edge [N, 2] and side [N]
        lo, hi = p[:, idx].min(1), p[:, idx].max(1)
        side = np.maximum((hi - lo).max(1) + 2 * m, lookback.MIN_SIDE)
        return (lo + hi) / 2 - side[:, None] / 2, side

    def crops(ims, tl, side):  # crop pixel q's centre samples the image at tl + (q + 0.5) * side / size
        out = []
        for im, (x0, y0), s in zip(ims, tl, side):
            q = (np.arange(size) + 0.5) * s / size
            yy, xx = np.meshgrid(y0 + q, x0 + q, indexing="ij")
            out.append(np.stack([map_coordinates(im[..., ch].astype(float), [yy, xx], order=1, mode="grid-constant")
                                 for ch in range(3)], -1))
        return feat(np.clip(np.round(np.stack(out)), 0, 255).astype(np.uint8))

    acc, cnt = np.zeros(stage1.shape), np.zeros(stage1.shape[:2])
    for idx in map(list, subsets.values()):
        m = np.max(np.linalg.norm(oof[:, idx] - points[:, idx], axis=-1))
        tl, side = boxes(oof, idx, m)
        X = crops(images, tl, side)
        Y = ((points[:, idx] - tl[:, None]) * (size / side)[:, None, None] - 0.5).reshape(len(X), -1)
        Xc, Yc = X - X.mean(0), Y - Y.mean(0)
        W = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ Yc)
        tl, side = boxes(stage1, idx, m)
        X2 = crops(test_images, tl, side)
        p = ((X2 - X.mean(0)) @ W + Y.mean(0)).reshape(len(X2), len(idx), 2)
        acc[:, idx] += (p + 0.5) * (side / size)[:, None, None] + tl[:, None]
        cnt[:, idx] += 1
    return np.where(cnt[..., None] > 0, acc / np.maximum(cnt, 1)[..., None], stage1)


def test_lookback_equals_a_direct_numpy_implementation():
    rng = np.random.default_rng(1)
    n, size, k = 24, 40, 6
    yy, xx = np.mgrid[:size, :size]
    pts = rng.uniform(10, 30, (n, k, 2))
    images = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        for j in range(k):
            blob = 60 * np.exp(-((xx - pts[i, j, 0]) ** 2 + (yy - pts[i, j, 1]) ** 2) / 20)
            images[i, ..., j % 3] += blob.astype(np.uint8)
    oof = pts + rng.normal(0, 2, pts.shape)
    stage1 = pts[:6] + rng.normal(0, 2, (6, k, 2))
    subsets = {"a": (0, 1, 2), "b": (2, 3, 4)}  # point 2 in both, point 5 in none

    def feat(crops):
        return crops.reshape(len(crops), -1).astype(np.float64) / 255

    lb = lookback.fit_lookback(images, pts, oof, feat, subsets, crop_size=8, lambdas=[0.3])
    refined, _ = lookback.apply_lookback(lb, images[:6], stage1, feat)
    ref = _direct_lookback(images, pts, oof, images[:6], stage1, subsets, feat, 8, 0.3)
    np.testing.assert_allclose(refined, ref, atol=1e-6)
    np.testing.assert_array_equal(refined[:, 5], stage1[:, 5])
