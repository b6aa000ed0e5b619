"""Object keypoints from a global descriptor (Razavian et al. Table 2, Fig. 2b).

Each instance is described by the descriptor of a square crop around its bounding box (side = `context` x the
box's longer side, centred on the box; the image is padded with black where the crop leaves it), and a separate
set of ridge regressors is learnt per category, each keypoint fitted on the training instances where it is
visible. PCK(alpha): a visible keypoint is correct when its error is <= alpha * max(box width, box height); a
category's PCK is the mean over its keypoint types of each type's fraction of correct visible instances
(`_pck_per_type`), so that often-visible keypoints do not outweigh rarely visible ones.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import check
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.geometry import box_to_affine, crop, crop_each, invert_affine, square_box, transform_points
from convcorr_jax.core.metrics import mean_scored, pck_hits
from convcorr_jax.regression.features import Featurizer
from convcorr_jax.regression.landmarks import LAMBDAS, fit_points, predict_points

ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.round(np.linspace(0.0, 0.5, 26), 3))


def _instance_boxes(bboxes: np.ndarray, context: float = 1.1) -> np.ndarray:
    """Square crop boxes [N, 4] around bboxes [N, 4]: same centre, side = `context` x the box's longer side.

    Args:
      bboxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels.
      context: crop side over the box's longer side (`_bbox_norm`).

    Returns:
      float64 [N, 4] (x_min, y_min, x_max, y_max) inclusive pixels (`geometry.square_box`), for `box_to_affine`.
    """
    b = np.asarray(bboxes, np.float64)
    return square_box((b[:, :2] + b[:, 2:]) / 2, context * _bbox_norm(b))


def _bbox_norm(bboxes: np.ndarray) -> np.ndarray:
    """PCK normaliser [N]: max(box width, box height) in pixels.

    Args:
      bboxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels.

    Returns:
      float64 [N]: max(x1 - x0 + 1, y1 - y0 + 1).
    """
    b = np.asarray(bboxes, np.float64)
    return np.maximum(b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1)


def _pck_per_type(hits: np.ndarray) -> float:
    """Mean over keypoint types of the fraction of correct evaluated instances.

    Args:
      hits: [N, K] 1/0 per instance and keypoint type, NaN where not evaluated (as `metrics.pck_hits` gives).

    Returns:
      A float in 0..1; types never evaluated are left out (NaN when none is evaluated).
    """
    hits = np.asarray(hits, np.float64)
    evaluated = ~np.all(np.isnan(hits), axis=0)
    return float(np.mean(np.nanmean(hits[:, evaluated], axis=0))) if evaluated.any() else float("nan")


def _points(samples) -> tuple[np.ndarray, np.ndarray]:
    """(points [N, K, 2] float64, visible [N, K]) of samples of one category."""
    pts = np.stack([s.points for s in samples]).astype(np.float64)
    return pts, np.stack([s.visible for s in samples]) & np.all(np.isfinite(pts), axis=-1)


def _describe(images, M, featurize, crop_size):
    """Descriptors of the crops (one batched crop when all images have one size)."""
    if len({im.shape for im in images}) == 1:
        return featurize(crop(np.stack(images), M, crop_size, border="constant"))
    return featurize(crop_each(images, M, crop_size, border="constant"))


@dataclasses.dataclass
class KeypointResult:
    """Keypoint regression results: PCK@0.1 per category (0..1) and its mean, PCK curves over the alphas, counts."""
    pck: dict[str, float]  # category -> PCK@0.1 (0..1, mean over keypoint types; NaN: no visible test keypoint);
    # "mean" = mean over the categories scored (`metrics.mean_scored`)
    curves: dict[str, np.ndarray]  # category -> PCK at each of ALPHAS
    alphas: tuple[float, ...]
    counts: dict[str, int]  # category -> test instances


def keypoint_table(train: Sequence[KeypointSample], test: Sequence[KeypointSample], featurize: Featurizer,
                   crop_size: int = 128, context: float = 1.1, lambdas: Sequence[float] = LAMBDAS, folds: int = 4,
                   seed: int = 0, alphas: Sequence[float] = ALPHAS) -> KeypointResult:
    """Per-category regressors on `train`, PCK on `test`.

    All instances are cropped and described in one batch per split. Only categories present in both splits count.

    Args:
      train, test: `KeypointSample` lists (bbox, points, visible, category; images loaded by `with_image`).
      featurize: uint8 RGB crops [N, crop_size, crop_size, 3] -> descriptors [N, d].
      crop_size: side in pixels of the square instance crops.
      context: crop side over the box's longer side (`_instance_boxes`).
      lambdas, folds, seed: ridge lambda grid, CV folds (capped at a category's training instances) and fold seed.
      alphas: PCK thresholds for the curves, fractions of max(box width, box height).

    Returns:
      A `KeypointResult`: PCK@0.1 per category (NaN for a category with no visible test keypoint) and "mean" over
      the categories scored, PCK curves [len(alphas)], test instances per category.

    Raises:
      InputError: no category with instances in both train and test.
    """
    cats = sorted({s.category for s in train} & {s.category for s in test})
    check(len(cats) > 0, "keypoint_table", "category", "a category with instances in both train and test",
          f"train {sorted({s.category for s in train})}, test {sorted({s.category for s in test})}")
    train = [s for s in train if s.category in cats]
    test = [s for s in test if s.category in cats]
    b_tr = np.stack([s.bbox for s in train]).astype(np.float64)
    b_te = np.stack([s.bbox for s in test]).astype(np.float64)
    M_tr = box_to_affine(_instance_boxes(b_tr, context), crop_size)
    M_te = box_to_affine(_instance_boxes(b_te, context), crop_size)
    F_tr = _describe([s.with_image().loaded_image() for s in train], M_tr, featurize, crop_size)
    F_te = _describe([s.with_image().loaded_image() for s in test], M_te, featurize, crop_size)
    pck, curves, counts = {}, {}, {}
    for cat in cats:
        tr = np.array([s.category == cat for s in train])
        te = np.array([s.category == cat for s in test])
        p_tr, v_tr = _points([s for s in train if s.category == cat])
        p_te, v_te = _points([s for s in test if s.category == cat])
        model = fit_points(F_tr[tr], transform_points(p_tr, M_tr[tr]), v_tr, lambdas, min(folds, int(tr.sum())),
                           seed)
        pred = transform_points(predict_points(model, F_te[te]), invert_affine(M_te[te]))
        norm = _bbox_norm(b_te[te])
        curves[cat] = np.array([_pck_per_type(pck_hits(pred, p_te, v_te, norm, a)) for a in alphas])
        pck[cat] = _pck_per_type(pck_hits(pred, p_te, v_te, norm, 0.1))
        counts[cat] = int(te.sum())
    pck["mean"] = mean_scored([pck[c] for c in cats])
    return KeypointResult(pck, curves, tuple(alphas), counts)
