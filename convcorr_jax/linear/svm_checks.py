"""The argument checks of the linear SVMs (`convcorr_jax.linear.svm`): each bad argument is refused with one
InputError naming its field, before anything is solved, so that a wrong value is never read as another one (a NaN
flag as set, a negative count as none, a repeated class as a second problem) and a wrong type is never a traceback.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import check, check_finite_entries, check_flags, check_shape, is_int, is_real, plain

__all__ = ["check_fit", "check_classes", "check_Cs", "check_mining", "check_kw"]


def check_fit(X: npt.ArrayLike, Y: npt.ArrayLike, C: npt.ArrayLike, mask: npt.ArrayLike | None, loss: str,
              solver: str | None, tol: float | None, bias_scale: float, max_iter: int | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """`fit_binary`'s arguments, checked and converted.

    Args:
      X, Y, C, mask, loss, solver, tol, bias_scale, max_iter: as `fit_binary` takes them.

    Returns:
      (X float32 [N, D], Y float32 [M, N], mask float32 [M, N], Cs float32 [M], solver: the one to run).

    Raises:
      InputError: as `fit_binary` lists.
    """
    X = np.asarray(X, np.float32)
    check_shape(X, "N>=1 D>=1", "fit_binary", "X", note="(samples x features)")
    Y = np.asarray(Y, np.float32)
    Y = Y[None] if Y.ndim == 1 else Y
    dims = check_shape(Y, "M N", "fit_binary", "Y", {"N": X.shape[0]})
    check(bool(np.all(np.abs(Y) == 1)), "fit_binary", "Y", "labels in {-1, +1}")
    if mask is not None:
        check_shape(mask, "N | M N", "fit_binary", "mask", dims, note="(one row per problem, or one for all)")
    check_shape(C, " | M", "fit_binary", "C", dims, dtype="int | float", note="(one C per problem, or a scalar)")
    mask = np.ones_like(Y) if mask is None else np.broadcast_to(np.asarray(mask, np.float32), Y.shape)
    Cs = np.broadcast_to(np.asarray(C, np.float32), (Y.shape[0],))
    check(bool(np.all(np.isfinite(Cs) & (Cs > 0))), "fit_binary", "C", "finite C > 0", np.asarray(C))
    check_finite_entries(X, "fit_binary", "X", "finite features (no NaN/inf)")
    check(bool(np.all(np.isin(mask, (0, 1)))), "fit_binary", "mask", "0 / 1 (or bool) per sample", np.unique(mask)[:5])
    check(is_real(bias_scale, finite=True), "fit_binary", "bias_scale", "a finite number (0: no bias)", bias_scale)
    check(tol is None or (is_real(tol, finite=True) and tol >= 0), "fit_binary", "tol",
          "a finite number >= 0 (None: the solver's default)", tol)
    check(max_iter is None or is_int(max_iter, 1), "fit_binary", "max_iter", "an int >= 1", max_iter)
    check(loss in ("squared_hinge", "hinge"), "fit_binary", "loss", "'squared_hinge' or 'hinge'", loss)
    solver = solver or ("newton" if loss == "squared_hinge" else "dcd")
    check(solver in ("newton", "dcd"), "fit_binary", "solver", "'newton' or 'dcd'", solver)
    check(not (solver == "newton" and loss == "hinge"), "fit_binary", "solver", "'dcd' for the hinge loss", solver)
    return X, Y, mask, Cs, solver


def check_classes(labels: npt.ArrayLike, classes: npt.ArrayLike | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`fit_ova`'s labels and classes.

    Args:
      labels: [N] class labels.
      classes: the classes, one problem each, or None (the sorted distinct labels).
      n: N, the rows of X.

    Returns:
      (labels [N], classes [K >= 2] of distinct values), numpy arrays.

    Raises:
      InputError: labels not [N]; classes not [K] of distinct values; fewer than 2 classes.
    """
    labels = np.asarray(labels)
    check_shape(labels, "N", "fit_ova", "labels", {"N": n}, note="(one label per row of X)")
    field = "labels" if classes is None else "classes"
    classes = np.unique(labels) if classes is None else np.asarray(classes)
    check_shape(classes, "K", "fit_ova", field, note="(the classes, one problem each)")
    check(len(classes) >= 2, "fit_ova", field, "at least 2 distinct classes", len(classes))
    values, counts = np.unique(classes, return_counts=True)
    check(bool(np.all(counts == 1)), "fit_ova", "classes", "distinct classes (each one problem)",
          f"{plain(values[counts > 1][:5].tolist())} more than once")
    return labels, classes


def check_Cs(Cs: npt.ArrayLike, source: str, field: str = "Cs") -> np.ndarray:
    """`cross_validate`'s grid of C values.

    Args:
      Cs: the C values to compare, [nC >= 1].
      source: the name errors give to the data.
      field: the argument's name in the errors.

    Returns:
      float32 [nC].

    Raises:
      InputError: Cs not a non-empty 1-D list of finite numbers > 0.
    """
    check_shape(Cs, "nC>=1", source, field, dtype="int | float", note="(at least one C to cross-validate, a list)")
    Cs = np.asarray(Cs, np.float32)
    check(bool(np.all(np.isfinite(Cs) & (Cs > 0))), source, field, "finite C values > 0", Cs)
    return Cs


def check_mining(positives: npt.ArrayLike, negatives: npt.ArrayLike, n: int, max_rounds: int, initial_negatives: int,
                 max_negatives: int | None) -> tuple[np.ndarray, np.ndarray]:
    """`mine_hard_negatives`' sample sets and counts.

    Args:
      positives, negatives: [M, N] of 0 / 1 (bool, int or float).
      n: N, the rows of X.
      max_rounds, initial_negatives, max_negatives: as `mine_hard_negatives` takes them.

    Returns:
      (positives bool [M, N], negatives bool [M, N] with the positives removed).

    Raises:
      InputError: positives / negatives not [M, N] of 0 / 1, a detector without positives, a count not an int >= 0.
    """
    source = "mine_hard_negatives"
    dims = check_shape(positives, "M N", source, "positives", {"N": n}, note="(one row per detector)")
    check_shape(negatives, "M N", source, "negatives", dims, note="(one row per detector)")
    for name, flags in (("positives", positives), ("negatives", negatives)):
        check_flags(flags, (0, 1), source, name, "0 or 1 (or bool) per sample")
    pos = np.asarray(positives, bool)
    n_pos = pos.sum(1)
    check(bool(np.all(n_pos > 0)), source, "positives", "at least one positive per detector",
          np.flatnonzero(n_pos == 0).tolist())
    for name, value in (("max_rounds", max_rounds), ("initial_negatives", initial_negatives)):
        check(is_int(value, 0), source, name, "an int >= 0", value)
    check(max_negatives is None or is_int(max_negatives, 0), source, "max_negatives", "an int >= 0 (None: no cap)",
          max_negatives)
    return pos, np.asarray(negatives, bool) & ~pos


def check_kw(kw: dict, source: str, taken: tuple[str, ...], instead: str) -> None:
    """Refuse keyword arguments for `fit_binary` that the caller sets itself.

    Args:
      kw: the keyword arguments passed on to `fit_binary`.
      source: the caller, for the error.
      taken: the names the caller sets.
      instead: what to use instead, in words.

    Returns:
      None.
    """
    given = [name for name in taken if name in kw]
    check(not given, source, given[0] if given else "", f"no {', '.join(taken)} here ({instead})", given)


def check_solved(W: np.ndarray, residual: np.ndarray, X: np.ndarray, Cs: np.ndarray, source: str) -> None:
    """Refuse a solve that overflowed float32: features or C so large that the objective's gradient was not finite
    (the Newton solver then returned NaN weights, or zero weights with a NaN residual, as a model).

    Args:
      W: [M, D'] the weights solved; residual: [M] the stopping quantity at the end.
      X: [N, D] the features; Cs: [M] the C of each problem.
      source: the function, for the error.

    Returns:
      None.
    """
    bad = np.flatnonzero(~np.all(np.isfinite(W), axis=1) | np.isnan(residual))
    check(bad.size == 0, source, "X", "features and C small enough for float32 (rescale X, or lower C)",
          f"a non-finite solve of problem {int(bad[0]) if bad.size else 0} (largest |X| {np.max(np.abs(X)):.3g}, "
          f"C {float(Cs[bad[0]] if bad.size else 0):g})")
