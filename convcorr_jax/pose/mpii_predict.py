"""MPII people through a trained cascade: person crops from the annotation's centre and scale, predictions mapped
back to the original image.

    crops, affine = person_crops(samples, image_size)       # uint8 [N, S, S, 3], image -> crop [N, 2, 3]
    xy = predict_people(params, samples, cfg)               # [N, 16, 2] 0-based pixels of the original images
    mpii_files.write_preds("preds.h5", xy)                  # 1-based MPII frame, scored by `convcorr eval pckh`

Crop: a square of side 200 x scale x 1.25 around `center` (the hourglass h5's stored, crop-adjusted centre and
scale, as `train.load_data` uses for data="mpii"), bilinear, black outside the image.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from convcorr_jax import geometry
from convcorr_jax.data.types import KeypointSample, load_image
from convcorr_jax.pose import predict
from convcorr_jax.pose import model as M

SIDE_PER_SCALE = 200.0 * 1.25


def crop_affines(centers: np.ndarray, scales: np.ndarray, size: int) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] from centres [N, 2] (0-based) and stored scales [N]."""
    return geometry.box_to_affine(geometry.square_box(np.asarray(centers, np.float64),
                                                      SIDE_PER_SCALE * np.asarray(scales, np.float64)), size)


def person_crops(samples: Sequence[KeypointSample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 [N, size, size, 3], affines [N, 2, 3]) of MPII people (`load_mpii_h5` samples)."""
    affine = crop_affines(np.stack([s.extras["center"] for s in samples]),
                          np.array([s.extras["scale"] for s in samples]), size)
    images = [s.image if s.image is not None else load_image(s.image_path) for s in samples]
    return geometry.crop_each(images, affine, size, border="constant"), affine


def predict_people(params, samples: Sequence[KeypointSample], cfg: M.ModelConfig,
                   readout: str = "cascade") -> np.ndarray:
    """Predictions [N, K, 2] of one read-out (`predict.READOUTS`) in original-image pixels (0-based)."""
    crops, affine = person_crops(samples, cfg.image_size)
    return predict.to_original(predict.predict(params, crops, cfg)[readout], affine)
