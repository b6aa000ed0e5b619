"""Semantic segmentation from a global descriptor (Razavian et al. Table 3, Fig. 5).

Labels [H, W] (0 = background, 1..C-1 classes, 255 = void) are reduced to a 30 x 30 x C map whose cell value for
class c is the fraction of the cell's non-void pixels labelled c (a cell that is all void counts as background);
for PASCAL VOC C = 21 (18,900 regressors), for the synthetic objects C = number of categories + 1. One ridge
regressor per cell and class (shared CV lambda) gives a response vector r [C] per cell; a second ridge model
(the paper's 21 x 21 matrix M, here with an intercept) maps r to a one-hot target of the cell's majority class.
It is fitted on out-of-fold first-stage responses of the training images, so it sees responses as noisy as at
test time. Scores r M are bilinearly upsampled to the image size; the prediction is their arg-max.
Evaluation: per-class average precision of the upsampled scores over all non-void test pixels, and IoU.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import check, check_shape, is_int
from convcorr_jax.linear import ridge
from convcorr_jax.core.segmentation_metrics import segmentation_average_precision, segmentation_iou
from convcorr_jax.regression.landmarks import DTYPE, LAMBDAS

GRID = 30
VOID = 255


def _area_matrix(size: int, grid: int) -> np.ndarray:
    """Box-filter weights: cell i averages pixels over [i * size / grid, (i + 1) * size / grid).

    Args:
      size: pixels along the axis.
      grid: cells along the axis.

    Returns:
      float32 [grid, size]; each row sums to 1 (partly covered pixels weighted by their overlap).
    """
    edges = np.arange(grid + 1) * size / grid
    lo, hi = edges[:-1, None], edges[1:, None]
    p = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(hi, p + 1) - np.maximum(lo, p), 0, None)
    return (overlap / (size / grid)).astype(np.float32)


@jax.jit(static_argnums=(1,))
def _fractions(labels, num_classes, Ah, Aw):
    valid = (labels != VOID).astype(jnp.float32)[..., None]
    onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * valid
    num = jnp.einsum("ih,nhwc,jw->nijc", Ah, onehot, Aw)
    den = jnp.einsum("ih,nhwc,jw->nijc", Ah, valid, Aw)
    frac = num / jnp.maximum(den, 1e-6)
    bg = jax.nn.one_hot(jnp.zeros(frac.shape[:3], jnp.int32), num_classes, dtype=jnp.float32)
    return jnp.where(den > 1e-3, frac, bg)


def _label_fractions(labels: np.ndarray, num_classes: int, grid: int = GRID) -> np.ndarray:
    """Class fractions of the non-void pixels per grid cell (rows sum to 1).

    Args:
      labels: int [N, H, W] label maps (0 background, 1..C-1 classes, `VOID` = 255 ignored).
      num_classes: C, background included.
      grid: cells per side.

    Returns:
      float32 [N, grid, grid, C]; a cell that is all void is all background ([1, 0, ..., 0]).
    """
    labels = np.asarray(labels, np.int32)
    Ah = jnp.asarray(_area_matrix(labels.shape[1], grid))
    Aw = jnp.asarray(_area_matrix(labels.shape[2], grid))
    return np.concatenate([np.asarray(_fractions(jnp.asarray(labels[i:i + 32]), int(num_classes), Ah, Aw))
                           for i in range(0, len(labels), 32)])


@jax.jit(static_argnums=(1,))
def _upsample(scores, hw):
    n, _, _, c = scores.shape
    return jax.image.resize(scores, (n, hw[0], hw[1], c), "linear")


@dataclasses.dataclass(frozen=True)
class SegModel:
    """Two-stage segmentation regressor: descriptor -> grid responses, then responses -> class scores."""
    stage1: ridge.RidgeModel  # descriptor -> [grid * grid * C] responses
    mix: ridge.RidgeModel  # response [C] -> class scores [C] (M and its intercept)
    num_classes: int
    grid: int

    def responses(self, F: np.ndarray) -> np.ndarray:
        """First-stage responses [N, grid, grid, C]."""
        return np.asarray(ridge.predict(self.stage1, np.asarray(F, np.float32))).reshape(
            len(F), self.grid, self.grid, self.num_classes)

    def scores(self, F: np.ndarray, image_hw: tuple[int, int] | None = None) -> np.ndarray:
        """Second-stage class scores [N, grid, grid, C], bilinearly upsampled to image_hw when given."""
        r = self.responses(F)
        s = np.asarray(ridge.predict(self.mix, r.reshape(-1, self.num_classes))).reshape(r.shape)
        return np.asarray(_upsample(jnp.asarray(s, jnp.float32), tuple(image_hw))) if image_hw else np.asarray(s)


def _check_split(F, labels, num_classes: int, split: str, width: dict[str, int] | None = None
                 ) -> tuple[np.ndarray, dict[str, int]]:
    """InputError unless F is [N, d] (N >= 1) and labels [N, H, W] with values in 0..C-1 or `VOID`.

    Args:
      F: float [N, d] descriptors.
      labels: int [N, H, W] label maps.
      num_classes: C, background included.
      split: "train" or "test", for the error.
      width: {"D": d} of the training descriptors, which F must match (None: any d).

    Returns:
      (labels as a numpy array, {"D": d} of F).
    """
    labels = np.asarray(labels)
    dims = check_shape(F, "N D", "segmentation_table", f"F_{split}", width, note="(descriptors, as wide as F_train)")
    check(dims["N"] >= 1, "segmentation_table", f"F_{split}", "at least one row", "0 rows")
    check_shape(labels, "N H W", "segmentation_table", f"labels_{split}", dims, dtype="int | uint",
                note="(one label map per descriptor)")
    bad = (labels != VOID) & ((labels < 0) | (labels >= num_classes))
    check(not bad.any(), "segmentation_table", f"labels_{split}", f"labels in 0..{num_classes - 1} or {VOID} (void)",
          sorted(set(np.unique(labels[bad]).tolist()))[:5])
    return labels, {"D": dims["D"]}


def _fit_segmentation(F: np.ndarray, labels: np.ndarray, num_classes: int, grid: int = GRID,
                     lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0) -> SegModel:
    """Both stages from descriptors F [N, d] and label maps [N, H, W].

    Args:
      F: float [N, d] descriptors.
      labels: int [N, H, W] label maps (0 background, 1..C-1 classes, 255 void).
      num_classes: C, background included.
      grid: cells per side of the first-stage response map.
      lambdas, folds, seed: ridge lambda grid, CV folds and fold seed (both stages).

    Returns:
      A `SegModel`: stage1 descriptors -> [grid * grid * C], mix (fitted on out-of-fold responses) [C] -> [C].
    """
    n = len(F)
    T = _label_fractions(labels, num_classes, grid)
    Y = T.reshape(n, -1)
    stage1, _ = ridge.fit_cv(F, Y, lambdas, folds, seed, dtype=DTYPE)
    R = ridge.cross_val_predict(F, Y, float(stage1.lam), folds, seed, dtype=DTYPE).reshape(-1, num_classes)
    onehot = np.eye(num_classes, dtype=np.float32)[T.reshape(-1, num_classes).argmax(-1)]
    mix, _ = ridge.fit_cv(R, onehot, lambdas, folds, seed, dtype=DTYPE)
    return SegModel(stage1, mix, num_classes, grid)


@dataclasses.dataclass
class SegResult:
    """Segmentation results: per-class AP and IoU (0..1), pixel accuracy, the model, scores and predictions."""
    ap: np.ndarray  # [C] per-class average precision (0..1)
    iou: np.ndarray  # [C]
    pixel_acc: float
    model: SegModel
    scores: np.ndarray  # [N_test, H, W, C] upsampled second-stage scores
    pred: np.ndarray  # [N_test, H, W] arg-max classes

    @property
    def mean_ap(self) -> float:
        """Mean average precision over the classes (NaN classes left out)."""
        return float(np.nanmean(self.ap))


def segmentation_table(F_train: np.ndarray, labels_train: np.ndarray, F_test: np.ndarray, labels_test: np.ndarray,
                       num_classes: int, grid: int = GRID,
                       lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0) -> SegResult:
    """Fit on the training descriptors/labels, evaluate AP, IoU and pixel accuracy on the test set.

    Args:
      F_train, F_test: float [N, d] and [M, d] descriptors.
      labels_train, labels_test: int [N, H, W] and [M, H', W'] label maps (0 background, 255 void).
      num_classes: C, background included.
      grid, lambdas, folds, seed: as in `_fit_segmentation`.

    Returns:
      A `SegResult`: per-class AP and IoU [C] (0..1), pixel accuracy over non-void pixels, the model, scores
      [M, H', W', C] upsampled to the label size, and their arg-max [M, H', W'].

    Raises:
      InputError: a split without rows, descriptors and label maps of different counts, F_test not as wide as
        F_train, num_classes or grid not an int >= 1, or a label outside 0..C-1 that is not void.
    """
    check(is_int(num_classes, 1), "segmentation_table", "num_classes", "an int >= 1 (classes, background included)",
          num_classes)
    check(is_int(grid, 1), "segmentation_table", "grid", "an int >= 1 (cells per side)", grid)
    labels_train, width = _check_split(F_train, labels_train, num_classes, "train")
    labels_test, _ = _check_split(F_test, labels_test, num_classes, "test", width)
    model = _fit_segmentation(F_train, labels_train, num_classes, grid, lambdas, folds, seed)
    scores = model.scores(F_test, labels_test.shape[1:3])
    pred = scores.argmax(-1)
    keep = labels_test != VOID
    return SegResult(segmentation_average_precision(scores, labels_test, VOID),
                     segmentation_iou(pred, labels_test, num_classes, VOID),
                     float(np.mean(pred[keep] == labels_test[keep])), model, scores, pred)
