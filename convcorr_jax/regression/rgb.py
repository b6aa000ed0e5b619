"""RGB reconstruction from a global descriptor (Razavian et al. Fig. 4).

Each image is resized to 46 x 46 and every pixel and colour channel gets its own ridge regressor
(3 x 46 x 46 = 6,348 targets, values in [0, 1], one shared CV lambda; the result reports it and whether it sits at
an edge of the lambdas tried, and `extend_top` continues the grid above its top as `ridge.fit_cv` does). Error: mean
absolute error on held-out images in [0, 1] units (the paper reports 0.12 on ImageNet).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import check, check_shape, is_int
from convcorr_jax.linear import ridge
from convcorr_jax.regression.features import resize_images
from convcorr_jax.regression.landmarks import DTYPE, LAMBDAS

SIZE = 46


def _rgb_targets(images: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Pixel values in [0, 1] of the images resized to size x size.

    Args:
      images: uint8 RGB [N, H, W, 3].
      size: side in pixels of the resized images.

    Returns:
      float32 [N, size*size*3], each row a flattened [size, size, 3] image.
    """
    return resize_images(images, (size, size)).reshape(len(images), -1).astype(np.float32) / 255.0


def decode(model: ridge.RidgeModel, F: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Reconstructions in [0, 1] (clipped) from descriptors F [N, d].

    Args:
      model: ridge model from descriptors to `_rgb_targets`.
      F: [N, d] descriptors.
      size: side in pixels of the targets the model was fitted on.

    Returns:
      [N, size, size, 3] RGB in [0, 1] (dtype of the model's weights).
    """
    return np.clip(np.asarray(ridge.predict(model, np.asarray(F, np.float32))), 0, 1).reshape(len(F), size, size, 3)


@dataclasses.dataclass
class RGBResult:
    """RGB reconstruction results: held-out MAE ([0, 1] units) and the mean-image baseline's, the model, images,
    the CV lambda and its grid edge."""
    mae: float  # held-out mean absolute error, [0, 1] units
    mae_mean_image: float  # baseline: predict the training mean image
    model: ridge.RidgeModel
    recon: np.ndarray  # [N_test, 46, 46, 3] in [0, 1]
    originals: np.ndarray  # [N_test, 46, 46, 3] in [0, 1]
    lam: float = float("nan")  # the shared lambda chosen by CV (NaN: not recorded)
    edge: str = ""  # `ridge.CVErrors.edge`: "high" / "low" at the largest / smallest lambda evaluated, "" inside


def rgb_reconstruction(F_train: np.ndarray, images_train: np.ndarray, F_test: np.ndarray, images_test: np.ndarray,
                       lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0, size: int = SIZE,
                       extend_top: int = 0) -> RGBResult:
    """Fit the 3 x size x size regressors and evaluate on the test images.

    Args:
      F_train, F_test: float [N, d] and [M, d] descriptors.
      images_train, images_test: uint8 RGB [N, H, W, 3] and [M, H', W', 3].
      lambdas, folds, seed: ridge lambda grid (one shared lambda), CV folds and fold seed.
      size: side in pixels of the reconstructions.
      extend_top: grid values added above the top when the CV's best lambda is the top (`ridge.fit_cv`); 0: none.

    Returns:
      An `RGBResult`: held-out MAE and the training-mean-image baseline's ([0, 1] units), the model, recon and
      originals [M, size, size, 3], the chosen lambda and whether it is at an edge of the lambdas evaluated.

    Raises:
      InputError: a split without rows, descriptors and images of different counts (or images not uint8
        [N, H, W, 3]), F_test not as wide as F_train, or size not an int >= 1.
    """
    check(is_int(size, 1), "rgb_reconstruction", "size", "an int >= 1 (pixels)", size)
    width: dict[str, int] = {}
    for split, F, images in (("train", F_train, images_train), ("test", F_test, images_test)):
        dims = check_shape(F, "N D", "rgb_reconstruction", f"F_{split}", width, note="(descriptors, as wide as "
                           "F_train)")
        width = {"D": dims["D"]}
        check(dims["N"] >= 1, "rgb_reconstruction", f"F_{split}", "at least one row", "0 rows")
        check_shape(images, "N H W 3", "rgb_reconstruction", f"images_{split}", dims, "uint8",
                    note="(one 0..255 RGB image per descriptor)")
    Y_tr = _rgb_targets(images_train, size)
    Y_te = _rgb_targets(images_test, size).reshape(len(images_test), size, size, 3)
    model, cv = ridge.fit_cv(F_train, Y_tr, lambdas, folds, seed, dtype=DTYPE, extend_top=extend_top)
    recon = decode(model, F_test, size)
    return RGBResult(float(np.mean(np.abs(recon - Y_te))),
                     float(np.mean(np.abs(Y_tr.mean(0).reshape(size, size, 3) - Y_te))),
                     model, recon, Y_te, float(cv.best), str(cv.edge))
