"""The look-back refinement (Razavian et al. Sec. 3.1, Fig. 2a, 3).

Landmarks are partitioned into subsets. For each subset, the first-stage (whole-image) predictions define a
square box around the subset's predicted points, enlarged on every side by a margin equal to the largest
first-stage error of that subset's landmarks on the training set. The box is cropped, resized to `crop_size`,
described again, and a second ridge model regresses the subset's landmarks inside the crop.

Training the second stage needs first-stage predictions on the training images that are as wrong as on new
images, so they are out-of-fold predictions (4-fold, same lambda); the margin is the maximum out-of-fold error
(`margin_quantile=1.0`, the paper's maximum; a lower quantile gives tighter crops).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import as_float_array, check, check_finite, check_shape, is_int
from convcorr_jax.core.geometry import box_to_affine, crop, invert_affine, points_box, square_box, transform_points
from convcorr_jax.regression.features import Featurizer
from convcorr_jax.regression.landmarks import LAMBDAS, PointsModel, fit_points, predict_points

FACE68_SUBSETS: dict[str, tuple[int, ...]] = {
    "jaw (right half)": tuple(range(0, 9)),
    "jaw (left half)": tuple(range(8, 17)),
    "right eye + brow": tuple(range(17, 22)) + tuple(range(36, 42)),
    "left eye + brow": tuple(range(22, 27)) + tuple(range(42, 48)),
    "nose": tuple(range(27, 36)),
    "mouth": tuple(range(48, 68)),
}
"""Six subsets of the 68 iBUG points (0-based). The chin point 8 is in both jaw halves; its refined position is the
average of the two."""


@dataclasses.dataclass(frozen=True)
class LookbackModel:
    """Look-back refinement: per keypoint subset, its crop margin (px) and crop-coordinate regressor."""
    subsets: dict[str, tuple[int, ...]]
    margins: dict[str, float]  # pixels, per subset
    models: dict[str, PointsModel]  # crop-coordinate regressors, per subset
    crop_size: int


MIN_SIDE = 8.0
"""Smallest crop side in pixels."""


def _subset_boxes(pred: np.ndarray, idx: Sequence[int], margin: float) -> np.ndarray:
    """Square boxes [N, 4] around predicted points pred[:, idx].

    Centred on the points' tight box, side = its longer extent + 2 * margin pixels (at least `MIN_SIDE`).

    Args:
      pred: [N, K, 2] (x, y) pixel points.
      idx: the subset's point indices into K.
      margin: pixels added on each side.

    Returns:
      float64 [N, 4] (x_min, y_min, x_max, y_max) inclusive pixels.
    """
    tight = points_box(np.asarray(pred)[:, list(idx)])
    side = np.maximum(np.max(tight[:, 2:] - tight[:, :2], axis=1) + 2 * float(margin), MIN_SIDE)
    return square_box((tight[:, :2] + tight[:, 2:]) / 2, side)


def _check_inputs(images: np.ndarray, points: np.ndarray, subsets: dict[str, tuple[int, ...]], source: str,
                  field: str) -> np.ndarray:
    """InputError unless images are [N, H, W, 3], points [N, K, 2] numbers and every subset index is in 0..K-1, with
    the subsets' points finite; returns the points, float32 and float64 as given, any other real dtype as float64
    (uint16 pixels made wrapped-around errors and margins of 65535 px).

    Args:
      images: uint8 RGB [N, H, W, 3].
      points: [N, K, 2] (x, y) pixel points (ground truth or first-stage predictions).
      subsets: subset name -> point indices.
      source, field: the function and the name of `points`, for the error.
    """
    dims = check_shape(images, "N>=1 H W 3", source, "images")
    dims = check_shape(points, "N K 2", source, field, {"N": dims["N"]}, dtype="int | float",
                       note="(one row of (x, y) points per image)")
    points = np.asarray(points)
    for name, subset in subsets.items():
        idx = list(subset)
        check(len(idx) > 0 and all(isinstance(i, (int, np.integer)) and 0 <= i < dims["K"] for i in idx), source,
              f"subsets[{name!r}]", f"point indices in 0..{dims['K'] - 1} ({field} has K = {dims['K']} points)", idx)
    used = np.zeros(dims["K"], bool)
    used[[i for idx in subsets.values() for i in idx]] = True
    check_finite(points, np.broadcast_to(used, points.shape[:2]), source, field, "finite (x, y) for every point in a "
                 "subset")
    return as_float_array(points)


def fit_lookback(images: np.ndarray, points: np.ndarray, stage1_oof: np.ndarray, featurize: Featurizer,
                 subsets: dict[str, tuple[int, ...]] = FACE68_SUBSETS, crop_size: int = 96,
                 margin_quantile: float = 1.0, lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0
                 ) -> LookbackModel:
    """Second-stage regressors, one `PointsModel` per subset in crop coordinates.

    Args:
      images: uint8 RGB [N, H, W, 3].
      points: [N, K, 2] (x, y) pixel ground truth, any real dtype (integer pixels, unsigned ones too, are taken as
        float64).
      stage1_oof: [N, K, 2] out-of-fold first-stage predictions (`landmarks.oof_points`), likewise.
      featurize: uint8 crops [N, crop_size, crop_size, 3] -> descriptors [N, d].
      subsets: subset name -> point indices.
      crop_size: side in pixels of the square crops.
      margin_quantile: quantile (0..1) of a subset's out-of-fold point errors used as its margin (1.0: maximum).
      lambdas, folds, seed: ridge lambda grid, CV folds and fold seed.

    Returns:
      A `LookbackModel` (margins in pixels per subset).

    Raises:
      InputError: images not [N, H, W, 3], points not [N, K, 2], stage1_oof's shape differs from points', a subset
        index outside 0..K-1, a non-finite point in a subset, margin_quantile outside 0..1, or crop_size not an
        int >= 1.
    """
    points = _check_inputs(images, points, subsets, "fit_lookback", "points")
    images = np.asarray(images)
    check_shape(stage1_oof, points.shape, "fit_lookback", "stage1_oof", note="(as points)")
    stage1_oof = _check_inputs(images, stage1_oof, subsets, "fit_lookback", "stage1_oof")
    check(0.0 <= float(margin_quantile) <= 1.0, "fit_lookback", "margin_quantile", "a quantile in 0..1",
          margin_quantile)
    check(is_int(crop_size, 1), "fit_lookback", "crop_size", "an int >= 1 (pixels)", crop_size)
    margins, models = {}, {}
    for name, subset in subsets.items():
        idx = list(subset)
        err = np.linalg.norm(stage1_oof[:, idx] - points[:, idx], axis=-1)
        margins[name] = float(np.quantile(err, margin_quantile))
        M = box_to_affine(_subset_boxes(stage1_oof, idx, margins[name]), crop_size)
        F = featurize(crop(images, M, crop_size, border="constant"))
        models[name] = fit_points(F, transform_points(points[:, idx], M), None, lambdas, folds, seed)
    return LookbackModel(dict(subsets), margins, models, crop_size)


def apply_lookback(model: LookbackModel, images: np.ndarray, stage1: np.ndarray, featurize: Featurizer
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Refined points and the crop boxes used, per subset.

    Args:
      model: a `LookbackModel` (`fit_lookback`).
      images: uint8 RGB [N, H, W, 3].
      stage1: [N, K, 2] first-stage (x, y) pixel predictions, any real dtype (as `fit_lookback`'s points).
      featurize: the descriptor the model was fitted with.

    Returns:
      (refined float64 [N, K, 2] (x, y) pixels: points in no subset keep their first-stage value, points in
      several subsets get the mean; boxes: subset name -> float64 [N, 4] (x_min, y_min, x_max, y_max)).

    Raises:
      InputError: images not [N, H, W, 3], stage1 not [N, K, 2] with every subset index below K, or a non-finite
        stage1 point in a subset.
    """
    stage1 = _check_inputs(images, stage1, model.subsets, "apply_lookback", "stage1")
    images = np.asarray(images)
    acc = np.zeros(stage1.shape, np.float64)
    cnt = np.zeros(stage1.shape[:2], np.float64)
    boxes_out = {}
    for name, subset in model.subsets.items():
        idx = list(subset)
        boxes = _subset_boxes(stage1, idx, model.margins[name])
        M = box_to_affine(boxes, model.crop_size)
        F = featurize(crop(images, M, model.crop_size, border="constant"))
        p = transform_points(predict_points(model.models[name], F), invert_affine(M))
        acc[:, idx] += p
        cnt[:, idx] += 1
        boxes_out[name] = boxes
    refined = np.where(cnt[..., None] > 0, acc / np.maximum(cnt, 1)[..., None], stage1)
    return refined, boxes_out
