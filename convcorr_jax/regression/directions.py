"""Semantic directions in descriptor space (Razavian et al. Sec. 4, eqs. 6-7, Fig. 6).

A ridge regressor from descriptors to an attribute (e.g. head yaw) gives a direction w (normalised to unit
length). A descriptor splits as f = (w^T f) w + f_perp (eq. 6); moving along the direction gives
f' = f_perp + t w (eq. 7) for t in [t_min, t_max] (default: the 2nd..98th percentile range of w^T f over the
training set, widened `extrapolate` = 3 times about its centre: the paper extrapolates along the direction, and
within the observed range the decoded change is hard to see). The RGB regressors (rgb.py) map each f' back to a 46 x
46 image.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.core.errors import check, check_finite_entries, check_shape, is_real
from convcorr_jax.linear import ridge
from convcorr_jax.regression.landmarks import DTYPE, LAMBDAS


@dataclasses.dataclass(frozen=True)
class Direction:
    """A semantic direction: unit vector w [d], its attribute regressor, the sweep range of w^T f, its CV error."""
    w: np.ndarray  # [d] unit direction
    model: ridge.RidgeModel  # the attribute regressor it came from
    t_range: tuple[float, float]  # range of w^T f to sweep
    cv_error: float  # cross-validated MSE of the attribute regressor


def learn_direction(F: np.ndarray, attribute: np.ndarray, lambdas: Sequence[float] = LAMBDAS, folds: int = 4,
                    seed: int = 0, quantiles: tuple[float, float] = (0.02, 0.98),
                    extrapolate: float = 3.0) -> Direction:
    """Direction of the ridge regressor F [N, d] -> attribute [N].

    Args:
      F: float [N, d] descriptors (e.g. l2-normalised, `features.l2_normalise`).
      attribute: [N] attribute values (e.g. head yaw), fitted as float64.
      lambdas, folds, seed: the ridge lambda grid, CV folds and fold seed (`ridge.fit_cv`).
      quantiles: (low, high) quantiles of w^T f over F bounding the observed range.
      extrapolate: factor (a finite number > 0) by which the observed range is widened about its centre.

    Returns:
      A `Direction`: w float32 [d] (the regressor's weights scaled to unit length), the attribute regressor, t_range
      (centre -+ extrapolate x half the quantile range of w^T f) and cv_error, the smallest CV mean squared error
      over the lambda grid.

    Raises:
      InputError: quantiles not two numbers 0 <= low < high <= 1, extrapolate not a finite number > 0, F not [N, d],
        attribute not [N] finite, an attribute or descriptors that do not vary over the rows (no direction: the
        regressor's weights are 0), and ridge's checks of F, attribute.
    """
    check_shape(quantiles, "2", "learn_direction", "quantiles", dtype="int | float", note="(low, high)")
    q = np.asarray(quantiles, np.float64)
    check(0.0 <= q[0] < q[1] <= 1.0, "learn_direction", "quantiles", "(low, high) with 0 <= low < high <= 1",
          quantiles)
    check(is_real(extrapolate, finite=True) and extrapolate > 0, "learn_direction", "extrapolate",
          "a finite factor > 0", extrapolate)
    dims = check_shape(F, "N D", "learn_direction", "F", note="(descriptors)")
    check_shape(attribute, "N", "learn_direction", "attribute", dims, note="(one value per row of F)")
    check_finite_entries(np.asarray(attribute, np.float64), "learn_direction", "attribute",
                         "finite values (no NaN/inf)")
    model, err = ridge.fit_cv(F, np.asarray(attribute, np.float64), lambdas, folds, seed, dtype=DTYPE)
    for name, a, got in (("attribute", attribute, "the same value in every row"),
                         ("F", F, "every column the same in every row")):  # finite, right shapes: ridge checked them
        check(bool(np.any(np.ptp(np.asarray(a, np.float64), axis=0) > 0)), "learn_direction", name,
              "values that vary over the rows (constant ones give no direction)", got)
    w = np.asarray(model.W, np.float64)
    norm = float(np.linalg.norm(w))
    check(norm > 0, "learn_direction", "attribute", "an attribute the descriptors predict (the regressor's weights "
          "are all 0)", norm)
    w = w / norm
    proj = np.asarray(F, np.float64) @ w
    lo, hi = np.quantile(proj, quantiles)
    c, h = (lo + hi) / 2, extrapolate * (hi - lo) / 2
    return Direction(w.astype(np.float32), model, (float(c - h), float(c + h)), float(np.min(err.errors)))


def move_along(direction: Direction, F: np.ndarray, steps: int = 7, t_values: Sequence[float] | None = None
               ) -> np.ndarray:
    """Eq. 7: [N, S, d] descriptors f_perp + t w for each row of F [N, d] and each of S values of t.

    Args:
      direction: the `Direction` (its unit w [d] and t_range).
      F: float [N, d] descriptors.
      steps: S, the number of evenly spaced t values across `direction.t_range` (used when t_values is None).
      t_values: explicit values of t (S = their number), overriding steps.

    Returns:
      float32 [N, S, d]: row n, step s is F[n] with its component along w replaced by t_s w.

    Raises:
      InputError: F not [N, d] finite with the direction's d; steps not an integer >= 1; t_values not [S >= 1] finite.
    """
    check(t_values is not None or (isinstance(steps, (int, np.integer)) and steps >= 1), "move_along", "steps",
          "an integer >= 1", steps)
    w = np.asarray(direction.w, np.float64)
    F = np.asarray(F, np.float64)
    check_shape(F, "N D", "move_along", "F", {"D": len(w)}, note="(descriptors like the direction's)")
    check_finite_entries(F, "move_along", "F")  # a NaN entry made the row's every moved descriptor NaN
    if t_values is not None:
        check_shape(t_values, "S>=1", "move_along", "t_values", note="(values of t)")
        check(bool(np.all(np.isfinite(np.asarray(t_values, np.float64)))), "move_along", "t_values", "finite values")
    t = np.linspace(*direction.t_range, steps) if t_values is None else np.asarray(t_values, np.float64)
    perp = F - (F @ w)[:, None] * w[None, :]
    return (perp[:, None, :] + t[None, :, None] * w[None, None, :]).astype(np.float32)
