"""Point regression from a global descriptor (Razavian et al. eq. 5) and the facial-landmark table (Table 1).

Every landmark gets two ridge regressors, one for x and one for y: x_hat = W f + w0 with W [2K, d]. One lambda is
shared by all 2K regressors of a task and chosen by 4-fold CV (the paper's setting). Points that are not visible
(object keypoints) are handled by fitting each keypoint on the training rows where it is visible.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import check, check_finite, check_finite_entries, check_flags, check_shape, is_int
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.linear import ridge
from convcorr_jax.core.metrics import normalised_error

LAMBDAS: tuple[float, ...] = tuple(float(x) for x in np.logspace(-7, 2, 19))
"""Default lambda grid for l2-normalised descriptors (their Gram eigenvalues are <= n)."""

DTYPE = "float64"
"""Precision of the task fits: lambdas far below 1e-7 x n are meaningless in float32 and the CV often picks them
for wide spatial descriptors; the task problems are small (n of a few hundred, dual form), so float64 is cheap."""


@dataclasses.dataclass(frozen=True)
class PointsModel:
    """K points predicted as (X @ W + b).reshape(N, K, 2); lam [K] the lambda of each point's regressors; edge [K]
    "high" / "low" where that lambda is the largest / smallest one evaluated by its CV (`ridge.CVErrors.edge`), ""
    inside or without regressors (None: not recorded)."""

    W: np.ndarray  # [d, 2K], columns x0, y0, x1, y1, ...
    b: np.ndarray  # [2K]
    lam: np.ndarray  # [K]
    edge: np.ndarray | None = None  # [K] str

    @property
    def num_points(self) -> int:
        """K, the number of points regressed."""
        return self.b.shape[0] // 2


def stack_samples(samples: Sequence[KeypointSample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked images, points and visibility of equal-size samples.

    Args:
      samples: non-empty `KeypointSample` sequence, all images one size (loaded by `with_image`).

    Returns:
      (images uint8 [N, H, W, 3], points float32 [N, K, 2] (x, y) pixels, visible bool [N, K]); visible is False
      where a point has a non-finite coordinate.

    Raises:
      InputError: no samples.
    """
    check(len(samples) > 0, "stack_samples", "samples", "at least one sample", 0)
    images = np.stack([s.with_image().loaded_image() for s in samples])
    points = np.stack([s.points for s in samples]).astype(np.float32)
    visible = np.stack([s.visible for s in samples]) & np.all(np.isfinite(points), axis=-1)
    return images, points, visible


def _cv_rows(rows: int, folds: int) -> bool:
    """Whether `rows` samples are enough for `folds`-fold CV: rows >= max(folds, 2) and every fold
    (`ridge.make_folds`, the largest ceil(rows / folds) rows) leaves at least 2 training rows (a folds below 2 is
    left to ridge to refuse)."""
    return rows >= max(folds, 2) and (folds < 2 or rows - -(-rows // folds) >= 2)


def fit_points(F: np.ndarray, points: np.ndarray, visible: np.ndarray | None = None,
               lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0, min_rows: int = 8,
               extend_top: int = 0) -> PointsModel:
    """Ridge regressors from descriptors F [N, d] to points [N, K, 2] (lambda by CV).

    All visible (and enough rows for the CV: every fold leaving at least 2 training rows): one multi-target fit with
    one shared lambda. Otherwise each keypoint is fitted (x and y together, own CV lambda) on the rows where it is
    visible; a keypoint with fewer than `min_rows` visible rows (or too few for the CV) predicts the mean of its
    visible positions (or NaN when it is never visible; its lam is NaN), so a single training row (folds=1) predicts
    its own points. More folds than rows is refused (InputError), not answered by the mean with only lam NaN to say so.

    Args:
      F: float [N, d] descriptors.
      points: [N, K, 2] (x, y) pixel targets (fitted in float64).
      visible: [N, K] of 0 / 1 (bool, int or float), or None: all visible.
      lambdas, folds, seed: ridge lambda grid, CV folds (an int in [2, N]; 1 for a single row) and fold seed
        (`ridge.fit_cv`).
      min_rows: fewest visible rows for a keypoint's own regressors.
      extend_top: grid values added above the top when the CV's best lambda is the top (`ridge.fit_cv`); 0: none.

    Returns:
      A `PointsModel`: W [d, 2K] and b [2K] (float64 from the shared fit, float32 from per-keypoint fits), lam [K]
      (NaN for keypoints without regressors), edge [K] (whether lam is at an edge of the lambdas evaluated).

    Raises:
      InputError: F's rows differ from N, visible is not [N, K] of 0 / 1, folds is not an int in [2, N] (1 for N = 1),
        F is not finite or a visible point is not.
    """
    F = np.asarray(F)
    points = np.asarray(points, np.float64)
    dims = check_shape(points, "N K 2", "fit_points", "points")
    check_shape(F, "N D", "fit_points", "F", dims, note="(one descriptor per sample)")
    n, k = dims["N"], dims["K"]
    check(is_int(folds, 1) and folds <= n and (folds >= 2 or n == 1), "fit_points", "folds",
          f"an int in [2, N={n}] (at most one fold per row; 1 for a single row)", folds)
    if visible is not None:
        check_shape(visible, "N K", "fit_points", "visible", dims, note="(one flag per point)")
        check_flags(visible, (0, 1), "fit_points", "visible", "0 or 1 (or bool) per point")
    visible = np.ones((n, k), bool) if visible is None else np.asarray(visible, bool)
    check_finite(F, np.ones(n, bool), "fit_points", "F", "finite descriptors")
    check_finite(points, visible, "fit_points", "points", "finite (x, y) where visible")
    if np.all(visible) and _cv_rows(n, folds):
        model, cv = ridge.fit_cv(F, points.reshape(n, 2 * k), lambdas, folds, seed, dtype=DTYPE, extend_top=extend_top)
        return PointsModel(model.W, model.b, np.full(k, float(model.lam)), np.full(k, str(cv.edge), "<U4"))
    W = np.zeros((F.shape[1], 2 * k), np.float32)
    b = np.full(2 * k, np.nan, np.float32)
    lam, edge = np.full(k, np.nan), np.full(k, "", "<U4")
    for j in range(k):
        rows = np.flatnonzero(visible[:, j])
        if rows.size >= min_rows and _cv_rows(rows.size, folds):
            m, cv = ridge.fit_cv(F[rows], points[rows, j], lambdas, folds, seed, dtype=DTYPE, extend_top=extend_top)
            W[:, 2 * j : 2 * j + 2], b[2 * j : 2 * j + 2], lam[j], edge[j] = m.W, m.b, float(m.lam), str(cv.edge)
        elif rows.size:
            b[2 * j : 2 * j + 2] = points[rows, j].mean(0)
    return PointsModel(W, b, lam, edge)


def predict_points(model: PointsModel, F: np.ndarray) -> np.ndarray:
    """Predicted points [N, K, 2] for descriptors F [N, d].

    Args:
      model: a `PointsModel` (`fit_points`).
      F: [N, d] descriptors, described as the model's training rows were.

    Returns:
      [N, K, 2] (x, y) pixels in the frame the model was fitted in (dtype of F @ W).

    Raises:
      InputError: F not [N, d] with the model's d, or with NaN / inf.
    """
    F = np.asarray(F)
    check_shape(F, "N D", "predict_points", "F", {"D": model.W.shape[0]}, note="(descriptors like the training rows)")
    check_finite_entries(F, "predict_points", "F")  # as ridge.predict: NaN points were returned for NaN rows
    return (F @ model.W + model.b).reshape(len(F), model.num_points, 2)


def oof_points(F: np.ndarray, points: np.ndarray, lam: float, folds: int = 4, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions [N, K, 2] with a fixed lambda (realistic first-stage errors on training data).

    Args:
      F: float [N, d] descriptors.
      points: [N, K, 2] (x, y) pixel targets.
      lam: the ridge lambda (e.g. the one `fit_points` chose).
      folds, seed: CV folds and fold seed.

    Returns:
      float64 [N, K, 2]: each row predicted by a model fitted on the other folds.

    Raises:
      InputError: points not [N, K, 2], F not [N, d], or ridge's checks (lam, folds, finite values).
    """
    points = np.asarray(points, np.float64)
    dims = check_shape(points, "N K 2", "oof_points", "points")
    check_shape(F, "N D", "oof_points", "F", dims, note="(one descriptor per sample)")
    n, k = dims["N"], dims["K"]
    return ridge.cross_val_predict(F, points.reshape(n, 2 * k), lam, folds, seed, dtype=DTYPE).reshape(n, k, 2)


def face_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-face mean landmark distance / inter-ocular (outer eye corners 36, 45) distance [N] (Table 1).

    Args:
      pred, gt: [N, 68, 2] (x, y) pixels (iBUG 68-point order).

    Returns:
      float64 [N] normalised mean errors.

    Raises:
      InputError: gt not [..., 68, 2], or pred not of gt's shape.
    """
    from convcorr_jax.data.faces300w import interocular_distance

    iod = interocular_distance(gt)
    check_shape(pred, np.shape(gt), "face_errors", "pred", note="(as gt)")
    return normalised_error(pred, gt, iod)


def _mean_shape(points_train: np.ndarray, n: int) -> np.ndarray:
    """The "dataset bias" baseline: the training mean shape [K, 2] repeated for n images.

    Args:
      points_train: array [N, K, 2] (x, y) pixels.
      n: number of copies.

    Returns:
      float64 [n, K, 2] (a writable copy).
    """
    points_train = np.asarray(points_train, np.float64)
    return np.broadcast_to(points_train.mean(0), (n,) + points_train.shape[1:]).copy()


@dataclasses.dataclass
class LandmarkResult:
    """Landmark results: mean normalised error and test predictions [N, K, 2] per method, the model, its lambda."""
    errors: dict[str, float]  # method -> mean normalised error on the test set
    pred: dict[str, np.ndarray]  # method -> test predictions [N, K, 2]
    model: PointsModel  # the ConvNet + ridge model
    lam: float


def landmark_table(F_train: np.ndarray, P_train: np.ndarray, F_test: np.ndarray, P_test: np.ndarray,
                   R_train: np.ndarray | None = None, R_test: np.ndarray | None = None,
                   lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0) -> LandmarkResult:
    """Table 1 on one dataset: dataset bias, RGB + ridge (if pixel descriptors R_* are given), ConvNet + ridge.

    Args:
      F_train, F_test: float [N, d] and [M, d] ConvNet descriptors.
      P_train, P_test: [N, 68, 2] and [M, 68, 2] (x, y) pixel landmarks.
      R_train, R_test: pixel descriptors [N, d'] and [M, d'] (e.g. `pixel_featurizer`), or None: no RGB row.
      lambdas, folds, seed: ridge lambda grid, CV folds and fold seed.

    Returns:
      A `LandmarkResult` keyed "Dataset Bias", "RGB + ridge" (when given), "ConvNet + ridge"; lam is the ConvNet
      model's lambda.

    Raises:
      InputError: no test row, P_test not [M, K, 2] with a row per row of F_test, P_train not [N, K, 2] with
        P_test's K, only one of R_train, R_test given, or `fit_points`' and `predict_points`' checks.
    """
    dims = check_shape(F_test, "M D", "landmark_table", "F_test", note="(test descriptors)")
    dims = check_shape(P_test, "M K 2", "landmark_table", "P_test", dims, note="(one row of (x, y) landmarks per "
                       "test descriptor)")
    check_shape(P_train, "N K 2", "landmark_table", "P_train", {"K": dims["K"]}, note="(as many landmarks as P_test)")
    check(dims["M"] >= 1, "landmark_table", "F_test", "at least one row", "0 rows")
    check((R_train is None) == (R_test is None), "landmark_table", "R_test" if R_test is None else "R_train",
          "pixel descriptors for both splits or for neither", f"{'R_train' if R_test is None else 'R_test'} alone")
    pred = {"Dataset Bias": _mean_shape(P_train, len(P_test))}
    if R_train is not None:
        assert R_test is not None  # both or neither: refused above
        pred["RGB + ridge"] = predict_points(fit_points(R_train, P_train, None, lambdas, folds, seed), R_test)
    model = fit_points(F_train, P_train, None, lambdas, folds, seed)
    pred["ConvNet + ridge"] = predict_points(model, F_test)
    errors = {k: float(np.mean(face_errors(v, P_test))) for k, v in pred.items()}
    return LandmarkResult(errors, pred, model, float(model.lam[0]))
