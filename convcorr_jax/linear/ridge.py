"""Closed-form ridge regression for many targets at once, lambda chosen by k-fold cross-validation. One algorithm in
one module (the fits and the cross-validation share the Gram downdates and jitted kernels), hence its length.

Model (Razavian et al. 2015, eqs. 1-4): for every target column t, y_t ~ x^T w_t + b_t with

    W = (Xc^T Xc + lambda I)^{-1} Xc^T Yc,   b = mean(Y) - mean(X) W,

where Xc, Yc are X, Y with their training-set column means removed. The intercept is not penalised (the paper's
w0 = mean(y) on centred X). This is exactly scikit-learn's `Ridge(alpha=lambda, fit_intercept=True)`.

Cross-validation. The data are centred once with the global means; the Gram X0^T X0 [d, d] and cross product
X0^T Y0 [d, T] are computed once, as the sums of the per-fold blocks Xv^T Xv, Xv^T Yv when the folds partition the
rows (directly otherwise); a fold's training Gram is the full one minus the fold's block (a downdate) with a rank-one
correction for the training mean, so no precision is lost to centring. Four exact routes then give the
validation predictions of every lambda:

* ``"eig"`` (primal, one eigen-decomposition per fold): Gtr = V diag(s) V^T, predictions A diag(1/(s+lambda)) B with
  A = Xv V [n_val, d], B = V^T Ctr [d, T]; each extra lambda costs one [n_val, d] x [d, T] product.
* ``"chol"`` (primal, one Cholesky per fold and lambda): W = (Gtr + lambda I)^{-1} Ctr, predictions Xv W.
* ``"dual"`` (dual, one eigen-decomposition per fold): the centred training kernel Kc = Xc Xc^T [n_tr, n_tr]
  (sub-blocks of the full kernel X0 X0^T, computed once) = U diag(s) U^T, predictions Kvc U diag(1/(s+lambda)) U^T Yc.
* ``"dual-chol"`` (dual, one Cholesky per fold and lambda): predictions Kvc (Kc + lambda I)^{-1} Yc.

`method="auto"` takes the route with the smallest flop count (`convcorr_jax.linear.ridge_routes`, whose docstring
gives the count of each). The kernels run through NumPy/SciPy on a CPU backend, as jitted JAX functions otherwise
(`convcorr_jax.linear.ridge_kernels`); a Cholesky that breaks down numerically (float32 with a lambda below the
Gram's rounding level) falls back to the eigen route for that fold, whose eigenvalues are clipped at 0.

The CV error of a lambda is the mean over folds of the fold's mean squared error (the mean over validation samples
and targets), which is what scikit-learn's
`GridSearchCV(Ridge(), {"alpha": grid}, cv=folds, scoring="neg_mean_squared_error")` maximises.

Lambda: `per_target=False` (default, this project's reading of the paper, which sets "the regularization parameter"
of a task by four-fold CV: one lambda for all its regressors) picks the lambda with the smallest error summed over
targets; `per_target=True` picks one lambda per target column.

Grid edges. A lambda chosen at the grid's edge says the grid was too narrow there: `fit_cv` reports it
(`CVErrors.edge`: "high" at the largest lambda evaluated, "low" at the smallest, "" inside), and with
`extend_top=k` continues the grid geometrically above its top (same ratio as its top two values, k more values) when
the best lambda is the top, so a choice inside the grid is never changed by the extension.

Precision: float32 by default (JAX default). `dtype="float64"` runs every step in float64 (the JAX engine under
`jax.enable_x64(True)`, a context manager; the global setting is left alone). In float32 the eigenvalues of the Gram
are accurate to about 1e-7 * largest eigenvalue, so lambdas below that scale act like that scale; use float64 for
tiny lambdas.

Documented behaviour on awkward input:
* rank-deficient X or n < d: fine for any lambda > 0 (lambda must be > 0 and finite, else InputError);
* constant target columns: W column = 0, b = the constant;
* constant feature columns: contribute nothing (centred to zero);
* NaN/inf in X or Y, mismatched row counts, wrong ranks, fewer than 2 training rows per fold, an unknown
  `method`: InputError;
* finite X, Y too large for `dtype` (float32, about 1e17 and up): a Gram / kernel, weights or CV errors that
  overflowed are refused by every fit and the cross-validation (InputError: rescale, or dtype="float64"), never
  returned or chosen on (`convcorr_jax.linear.ridge_checks`).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import check, check_finite_entries, check_shape, is_int
from convcorr_jax.linear.ridge_checks import _check_lambdas, _check_xy, check_range, quiet
from convcorr_jax.linear.ridge_kernels import (JITTED, errors_chol, errors_chol_threaded, errors_eig, fit_jax,
                                               fit_numpy, fold_blocks, prep_dual, prep_primal, shifted_solve)
from convcorr_jax.linear.ridge_routes import METHODS, ROUTES, check_method, choose_route, route_costs

__all__ = ["DEFAULT_LAMBDAS", "METHODS", "ROUTES", "CVErrors", "RidgeModel", "choose_route", "cross_val_predict",
           "cv_errors", "cv_lambda", "fit", "fit_cv", "make_folds", "predict", "route_costs"]

DEFAULT_LAMBDAS: tuple[float, ...] = tuple(float(x) for x in np.logspace(-4, 3, 15))
Folds = int | np.integer | Sequence[npt.ArrayLike]  # a number of folds, or the validation index sets


class RidgeModel(NamedTuple):
    """A fitted ridge model: predictions are X @ W + b.

    W: [d, T] (or [d] for a 1-D target), b: [T] (or scalar), lam: the lambda used (scalar or [T]).
    Arrays are numpy, in the dtype the model was fitted in.
    """

    W: np.ndarray
    b: np.ndarray
    lam: np.ndarray


def predict(model: RidgeModel, X: npt.ArrayLike) -> np.ndarray:
    """Predictions X @ W + b of a fitted model.

    Args:
      model: a `RidgeModel` (`fit`, `fit_cv`).
      X: [n, d] features, d = model.W.shape[0] (InputError otherwise).

    Returns:
      [n, T] predictions (or [n] for a model fitted on a 1-D target), numpy, X's and the model's dtypes promoted.

    Raises:
      InputError: X not [n, d] real numbers, NaN/inf in X, or predictions that overflowed (as the fits refuse them).
    """
    X = np.asarray(X)
    check_shape(X, "n d", "ridge.predict", "X", {"d": model.W.shape[0]}, dtype="int | float | bool")
    check_finite_entries(X, "ridge.predict", "X")
    with quiet():
        out = X @ model.W + model.b
    check(bool(np.isfinite(out).all()), "ridge.predict", "X", f"features whose predictions fit {out.dtype} (rescale "
          "X, or fit in float64)", "predictions that overflowed (X @ W + b not finite)")
    return out


# ----------------------------------------------------------------------------------------------- input checks


def _precision(dtype: str):
    check(dtype in ("float32", "float64"), "ridge", "dtype", "'float32' or 'float64'", dtype)
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def make_folds(n: int, folds: int | np.integer = 4, seed: int = 0, key: jax.Array | None = None) -> list[np.ndarray]:
    """Split range(n) into `folds` validation index sets of near-equal size after a seeded random permutation.

    With a JAX `key` the permutation is `jax.random.permutation(key, n)`; otherwise numpy's
    `default_rng(seed).permutation(n)`.

    Args:
      n: number of samples.
      folds: number of folds, an int in [2, n] (InputError otherwise).
      seed: numpy seed, used when `key` is None.
      key: an optional `jax.random` key.

    Returns:
      A list of `folds` int index arrays partitioning range(n) (sizes differ by at most 1), each sorted.
    """
    check(isinstance(folds, (int, np.integer)) and bool(2 <= folds <= n), "ridge", "folds", f"an int in [2, n={n}]",
          folds)
    perm = np.asarray(jax.random.permutation(key, n)) if key is not None else np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(perm, folds)]


def _resolve_folds(n: int, folds, seed: int, key) -> list[np.ndarray]:
    if isinstance(folds, (int, np.integer, float)):  # make_folds refuses a float; its sets are checked as given ones
        folds = make_folds(n, folds, seed, key)  # type: ignore[arg-type]  # a float goes on to make_folds' InputError
    out = [np.asarray(f, np.int64).ravel() for f in folds]
    check(len(out) >= 2, "ridge", "folds", "at least 2 validation index sets", len(out))
    for f in out:
        check(f.size >= 1 and f.min() >= 0 and f.max() < n and np.unique(f).size == f.size, "ridge", "folds",
              f"non-empty sets of distinct indices in [0, {n})", f)
        check(n - f.size >= 2, "ridge", "folds", "at least 2 training rows per fold", n - f.size)
    return out


def _use_xla() -> bool:
    """True when the JAX engine runs the linear algebra (accelerator backends); NumPy/SciPy on CPU."""
    return jax.default_backend() != "cpu"


# ------------------------------------------------------------------------------------------------ public API


def _as(a, dtype: str, xla: bool):
    ft = np.float64 if dtype == "float64" else np.float32
    return jnp.asarray(a, ft) if xla else np.asarray(a, ft)


def fit(X: npt.ArrayLike, Y: npt.ArrayLike, lam: npt.ArrayLike, dtype: str = "float32") -> RidgeModel:
    """Ridge fit with intercept.

    Uses the primal d x d system when d <= n, else the dual n x n system. A scalar lambda is solved by Cholesky
    (falling back to the eigen path if Cholesky breaks down numerically); per-target lambdas by one Cholesky per
    distinct value when there are fewer than 12 (the CPU engine), else by one eigen-decomposition.

    Args:
      X: [n, d] finite numbers (n >= 2).
      Y: [n, T] or [n] finite numbers.
      lam: lam > 0 scalar, or [T] for one lambda per target.
      dtype: "float32" or "float64", the precision of every step.

    Returns:
      `RidgeModel(W [d, T], b [T], lam)` (W [d], b scalar for a 1-D Y), numpy arrays in `dtype`; lam as given, float64.

    Raises:
      InputError: for bad shapes, non-finite values, lambdas not > 0 and finite, or another dtype; or a Gram / kernel
        or weights that overflowed `dtype` (finite inputs too large for it: rescale them, or use dtype="float64").

    Examples:
      >>> X = np.arange(12.0).reshape(6, 2)
      >>> model = fit(X, X @ np.array([[1.0], [2.0]]) + 3.0, lam=1e-6)   # y = x0 + 2 x1 + 3
      >>> np.round(predict(model, X[:2]), 3).tolist()
      [[5.0], [11.0]]
    """
    X, Y, squeeze = _check_xy(X, Y)
    lam = _check_lambdas(lam)
    check_shape(lam, " | T", "ridge", "lam", check_shape(Y, "n T", "ridge", "Y"), note="(a scalar, or one per column)")
    xla = _use_xla()
    with _precision(dtype), quiet():
        Xa, Ya, la = _as(X, dtype, xla), _as(Y, dtype, xla), _as(lam, dtype, xla)
        Wb = fit_jax(Xa, Ya, la) if xla else fit_numpy(Xa, Ya, la[()] if la.ndim == 0 else la)
        W, b = np.asarray(Wb[0]), np.asarray(Wb[1])
    if squeeze:
        W, b = W[:, 0], b[0]
    return RidgeModel(W, b, lam)


def _cv(X, Y, lambdas: np.ndarray, fsets: list[np.ndarray], dtype: str,
        method: str) -> tuple[np.ndarray, str, tuple | None]:
    """CV errors [L, T] (float64), the route taken and, for the primal routes, (mx, my, G, C) for a refit."""
    n, d = X.shape
    route = choose_route(n, d, Y.shape[1], lambdas.size, [f.size for f in fsets], method)
    xla = _use_xla()
    dual = route.startswith("dual")
    partition = sum(v.size for v in fsets) == n and np.unique(np.concatenate(fsets)).size == n
    idx = jnp.asarray if xla else np.asarray
    ops: dict[str, Callable[..., Any]] = {k: (JITTED[k] if xla else partial(f, xla=False)) for k, f in (
        ("errors_eig", errors_eig), ("errors_chol", errors_chol), ("prep_primal", prep_primal),
        ("prep_dual", prep_dual))}
    with _precision(dtype), quiet():
        Xa, Ya, la = _as(X, dtype, xla), _as(Y, dtype, xla), _as(lambdas, dtype, xla)
        if xla:
            mx, my, X0, Y0 = JITTED["center"](Xa, Ya)
        else:  # means accumulated in float64
            mx, my = Xa.mean(0, dtype=np.float64).astype(Xa.dtype), Ya.mean(0, dtype=np.float64).astype(Ya.dtype)
            X0, Y0 = Xa - mx, Ya - my
        if dual:
            K = JITTED["kernel"](X0) if xla else X0 @ X0.T
        else:
            blocks = [JITTED["block"](X0, Y0, idx(v)) for v in fsets] if xla else fold_blocks(X0, Y0, fsets)
            if partition:
                G, C = blocks[0][0] + blocks[1][0], blocks[0][1] + blocks[1][1]  # summed in fold order
                for Gv, Cv in blocks[2:]:
                    G += Gv
                    C += Cv
            else:
                G, C = JITTED["cross"](X0, Y0) if xla else (X0.T @ X0, X0.T @ Y0)
        check_range(K if dual else G, X, Y, dtype, "kernel" if dual else "gram")

        def fold_parts(i: int):
            if dual:
                return ops["prep_dual"](K, Y0, idx(np.setdiff1d(np.arange(n), fsets[i])), idx(fsets[i]))
            return ops["prep_primal"](X0, Y0, G, C, *blocks[i], idx(fsets[i]))

        chol = route.endswith("chol")
        if chol and not xla:
            order = n - min(v.size for v in fsets) if dual else d  # the largest system's order
            errs = errors_chol_threaded(fold_parts, len(fsets), la, order * order * X0.dtype.itemsize)
        else:
            errs = [None] * len(fsets)
        total = np.zeros((lambdas.size, Y.shape[1]))
        for i, err in enumerate(errs):
            if err is None:  # the JAX engine, or a Cholesky breakdown on the NumPy engine
                parts = fold_parts(i)
                if chol and xla:
                    err = np.asarray(ops["errors_chol"](*parts, la))
                    if not np.all(np.isfinite(err)):
                        err = None  # the JAX Cholesky signals a breakdown by NaN
                if err is None:
                    err = np.asarray(ops["errors_eig"](*parts, la))
            total += err
        moments = None if dual else (mx, my, G, C)
    check_range(total, X, Y, dtype, "errors")
    return total / len(fsets), route, moments


def cv_errors(X: npt.ArrayLike, Y: npt.ArrayLike, lambdas: Sequence[float] | np.ndarray = DEFAULT_LAMBDAS,
              folds: Folds = 4, seed: int = 0, key: jax.Array | None = None, dtype: str = "float32",
              method: str = "auto") -> np.ndarray:
    """Cross-validated mean squared error: mean over folds of each fold's validation MSE per target.

    Args:
      X: [n, d] features; Y: [n, T] or [n] targets (finite numbers).
      lambdas: [L] grid of lambdas > 0.
      folds: the number of folds (random split by `seed` or JAX `key`, `make_folds`) or explicit validation index
        sets; every fold must leave at least 2 training rows (InputError otherwise, e.g. 2 folds of 3 rows).
      seed, key: as in `make_folds`.
      dtype: "float32" or "float64".
      method: "auto" (the cheapest route by `route_costs`) or one of ROUTES ("eig", "chol", "dual", "dual-chol");
        all give the same errors up to rounding.

    Returns:
      float64 [L, T] errors (T = 1 for a 1-D Y), rows in the order of `lambdas`.

    Raises:
      InputError: as `fit`, bad folds, or a Gram / kernel of X or CV errors that overflowed `dtype` (finite inputs
        too large for it: rescale them, or use dtype="float64").
    """
    X, Y, _ = _check_xy(X, Y)
    lambdas = _check_lambdas(lambdas, "lambdas").ravel()
    check_method(method)
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    return _cv(X, Y, lambdas, fsets, dtype, method)[0]


def _choose(lambdas: np.ndarray, err: np.ndarray, per_target: bool) -> tuple[np.ndarray, np.ndarray]:
    if per_target:
        return lambdas[np.argmin(err, axis=0)], err
    err = err.mean(axis=1)
    return np.asarray(lambdas[int(np.argmin(err))]), err


def cv_lambda(X: npt.ArrayLike, Y: npt.ArrayLike, lambdas: Sequence[float] | np.ndarray = DEFAULT_LAMBDAS,
              folds: Folds = 4, seed: int = 0, key: jax.Array | None = None, per_target: bool = False,
              dtype: str = "float32", method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Choose lambda by k-fold CV.

    Ties go to the first (smallest, if the grid is sorted) lambda.

    Args:
      X, Y, lambdas, folds, seed, key, dtype, method: as in `cv_errors`.
      per_target: one lambda per target column instead of one shared by all (the default, the paper's setting as
        read here).

    Returns:
      (best, errors). Shared lambda (default): best is a scalar (0-d float64 array), errors [L] = CV MSE averaged over
      targets. per_target=True: best [T], errors [L, T].
    """
    lambdas = _check_lambdas(lambdas, "lambdas").ravel()
    return _choose(lambdas, cv_errors(X, Y, lambdas, folds, seed, key, dtype, method), per_target)


class CVErrors(NamedTuple):
    """Cross-validation of `fit_cv`: lambdas [L] (the grid, in the order given, then its `extend_top` values when
    they were evaluated), errors [L] (CV mean squared error averaged over targets) or [L, T] (per_target), best: the
    chosen lambda (scalar) or lambdas [T], edge: best's shape, "high" / "low" where the choice is the largest /
    smallest lambda evaluated (the grid may be too narrow there), "" inside (and for a one-value grid)."""

    lambdas: np.ndarray
    errors: np.ndarray
    best: np.ndarray
    edge: np.ndarray = np.asarray("")


def _edge(grid: np.ndarray, best: np.ndarray) -> np.ndarray:
    """"high" / "low" / "" for each chosen lambda at the grid's largest / smallest value / inside."""
    if grid.size < 2:
        return np.full(np.shape(best), "", "<U4")
    return np.where(best >= grid.max(), "high", np.where(best <= grid.min(), "low", ""))


def _extend_top(X, Y, grid: np.ndarray, raw: np.ndarray, fsets, dtype: str, method: str, steps: int,
                per_target: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, CV errors [L, T], best) with the grid continued `steps` values above its top where the best is the top;
    only the choices at the top may change (per target: only those targets' choices)."""
    best, _ = _choose(grid, raw, per_target)
    top = grid.max()
    at_top = np.asarray(best) == top
    if steps == 0 or not at_top.any():
        return grid, raw, best
    check(grid.size >= 2 and np.unique(grid).size >= 2, "ridge", "lambdas", "at least 2 distinct lambdas to extend",
          grid)
    ratio = top / grid[grid < top].max()
    ext = top * ratio ** np.arange(1, steps + 1, dtype=np.float64)
    grid = np.concatenate([grid, ext])
    raw = np.concatenate([raw, _cv(X, Y, ext, fsets, dtype, method)[0]])
    return grid, raw, np.where(at_top, _choose(grid, raw, per_target)[0], best)


def fit_cv(X: npt.ArrayLike, Y: npt.ArrayLike, lambdas: Sequence[float] | np.ndarray = DEFAULT_LAMBDAS,
           folds: Folds = 4, seed: int = 0, key: jax.Array | None = None, per_target: bool = False,
           dtype: str = "float32", method: str = "auto", extend_top: int = 0) -> tuple[RidgeModel, CVErrors]:
    """`cv_lambda` then `fit` on all of X, Y with the chosen lambda(s).

    On the CPU engine a primal route's full Gram is reused for the refit (equal to `fit` up to rounding).

    Args:
      X, Y, lambdas, folds, seed, key, per_target, dtype: as in `cv_lambda`; `method` as in `cv_errors`.
      extend_top: an int >= 0; where the best lambda is the grid's largest, the grid continues with this many more
        values above it, each the previous one times the ratio of the grid's top two distinct values, and the choice
        is remade over them (a choice inside the grid is unchanged); extending needs at least 2 distinct lambdas
        in the grid (InputError otherwise, when the top is chosen). 0 (default): the grid as given.

    Returns:
      (model, `CVErrors`): the `RidgeModel` fitted with the chosen lambda(s), and the lambdas evaluated with their CV
      errors, the choice and whether it sits at an edge of the lambdas evaluated (`CVErrors.edge`).

    Raises:
      InputError: as `cv_errors` (or `fit`, for the refit's weights), or extend_top that is not an int >= 0.
    """
    X, Yc, squeeze = _check_xy(X, Y)
    grid = _check_lambdas(lambdas, "lambdas").ravel()
    check_method(method)
    check(is_int(extend_top, 0), "ridge", "extend_top", "an int >= 0", extend_top)
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    raw, _, moments = _cv(X, Yc, grid, fsets, dtype, method)
    grid, raw, best = _extend_top(X, Yc, grid, raw, fsets, dtype, method, int(extend_top), per_target)
    err = _choose(grid, raw, per_target)[1]  # the errors the choice is made on ([L] averaged, or [L, T])
    cv = CVErrors(grid, err, best, _edge(grid, best))
    if moments is None or _use_xla():
        return fit(X, Y, best, dtype), cv
    mx, my, G, C = moments
    lam = np.asarray(best, G.dtype)
    with quiet():
        W = shifted_solve(G, C, lam[()] if lam.ndim == 0 else lam)
        b = my - mx @ W
    check_range((W, b), X, Yc, dtype, "weights")
    if squeeze:
        W, b = W[:, 0], b[0]
    return RidgeModel(W, b, best), cv


def cross_val_predict(X: npt.ArrayLike, Y: npt.ArrayLike, lam: npt.ArrayLike, folds: Folds = 4, seed: int = 0,
                      key: jax.Array | None = None, dtype: str = "float32") -> np.ndarray:
    """Out-of-fold predictions: each fold predicted by a model fitted on the other folds with `lam`.

    Used where a later stage must see first-stage predictions as noisy as on unseen data (look-back crops, the
    segmentation class-mixing matrix).

    Args:
      X: [n, d] features; Y: [n, T] or [n] targets.
      lam: as in `fit` (scalar or [T]).
      folds, seed, key: as in `cv_errors`; explicit index sets must partition range(n) (each row predicted once).
      dtype: "float32" or "float64", also the output's dtype.

    Returns:
      [n, T] (or [n] for a 1-D Y) predictions in `dtype`; row i from the model that did not see row i.

    Raises:
      InputError: as `fit`, or explicit folds that do not cover every row exactly once.
    """
    X, Yc, squeeze = _check_xy(X, Y)
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    counts = np.bincount(np.concatenate(fsets), minlength=X.shape[0])
    check(bool(np.all(counts == 1)), "ridge", "folds", f"validation sets that partition range({X.shape[0]})",
          f"{int(np.sum(counts == 0))} rows in no set, {int(np.sum(counts > 1))} in several")
    out = np.zeros(Yc.shape, np.float64 if dtype == "float64" else np.float32)
    for val in fsets:
        tr = np.setdiff1d(np.arange(X.shape[0]), val)
        out[val] = predict(fit(X[tr], Yc[tr], lam, dtype), X[val])
    return out[:, 0] if squeeze else out
