"""The settings of Long et al.'s sliding-window keypoint prediction (Table 4, `prediction.py`): box size, feature
taps, detector training (positives, negatives, C, mining) and the prior; the module doc of `prediction.py` says
where they depart from the paper.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import check
from convcorr_jax.core.long_frame import FRAME_PX


@dataclasses.dataclass(frozen=True)
class PredictionConfig:
    """Table 4 settings (paper defaults except where the backbone forces an analogue, see module doc)."""

    box_size: int = FRAME_PX
    role: str = "conv5"
    prior_role: str = "pool5"
    neighbourhood: int = 3
    n_positives: int = 10
    neg_half: float | None = None  # px in the resampled box; None: 97.5 * box_size / 500, capped (module doc)
    C: float = 1e-6
    sigma: float = 22.0  # px at box_size 500; scaled with box_size
    eta: float = 0.1  # in [0, 1]: f = s'^(1 - eta) * p^eta (above 1 it would reward low detector scores)
    initial_negatives: int = 500
    max_rounds: int = 3
    max_negatives: int | None = 20000
    sift_step: int = 8
    sift_bin: int = 8
    sift_C: float = 0.1  # SIFT descriptors are unit-norm: C = 1e-6 leaves every detector flat
    alpha: float = 0.1
    batch_size: int = 8

    def __post_init__(self):
        check_types(self, "PredictionConfig")
        check_fields(self, positive=("box_size", "neg_half", "C", "sigma", "sift_C", "sift_step", "sift_bin",
                                     "batch_size"), nonnegative=("eta",), fraction=("alpha",),
                     at_least_one=("neighbourhood", "n_positives", "initial_negatives", "max_rounds",
                                   "max_negatives"),
                     finite=("neg_half", "C", "sigma", "sift_C"), source="PredictionConfig")
        check(not self.eta > 1, "PredictionConfig", "eta", "a value in [0, 1] (f = s^(1 - eta) * p^eta)", self.eta)
        check(isinstance(self.neighbourhood, (int, np.integer)) and self.neighbourhood % 2 == 1, "PredictionConfig",
              "neighbourhood", "an odd integer >= 1 (a square of columns centred on each column)", self.neighbourhood)
