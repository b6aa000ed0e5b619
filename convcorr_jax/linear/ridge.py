"""Closed-form ridge regression for many targets at once, lambda chosen by k-fold cross-validation.

Model (Razavian et al. 2015, eqs. 1-4): for every target column t, y_t ~ x^T w_t + b_t with

    W = (Xc^T Xc + lambda I)^{-1} Xc^T Yc,   b = mean(Y) - mean(X) W,

where Xc, Yc are X, Y with their training-set column means removed. The intercept is not penalised (the paper's
w0 = mean(y) on centred X). This is exactly scikit-learn's `Ridge(alpha=lambda, fit_intercept=True)`.

Cross-validation computes the validation error of *every* lambda in the grid from ONE symmetric eigen-decomposition
per fold, in whichever form is smaller:

* primal (d <= n_train): eig of the centred d x d Gram Xc^T Xc = V diag(s) V^T; W(lambda) = V diag(1/(s+lambda)) V^T Xc^T Yc.
  The full-data Gram is computed once and each fold's Gram is obtained by removing the fold's rows (a downdate
  on globally centred data, so no precision is lost to centring).
* dual (n_train < d): eig of the centred n x n kernel Xc Xc^T = U diag(s) U^T; W(lambda) = Xc^T U diag(1/(s+lambda)) U^T Yc.
  The full kernel is computed once; each fold's kernels are sub-blocks of it.

Both give predictions on a validation fold as A diag(1/(s+lambda)) B, so each extra lambda costs one
[n_val, r] x [r, T] product. The CV error of a lambda is the mean over folds of the fold's mean squared error
(the mean over validation samples and targets), which is what scikit-learn's
`GridSearchCV(Ridge(), {"alpha": grid}, cv=folds, scoring="neg_mean_squared_error")` maximises.

Lambda: `shared=True` (default, as in the paper: one lambda for all regressors of a task) picks the lambda with the
smallest error summed over targets; `per_target=True` picks one lambda per target column.

Precision: float32 by default (JAX default). `dtype="float64"` runs every step under `jax.enable_x64(True)`
(a context manager; the global setting is left alone). In float32 the eigenvalues of the Gram are accurate to
about 1e-7 * largest eigenvalue, so lambdas below that scale act like that scale; use float64 for tiny lambdas.

Documented behaviour on awkward input:
* rank-deficient X or n < d: fine for any lambda > 0 (lambda must be > 0 and finite, else InputError);
* constant target columns: W column = 0, b = the constant;
* constant feature columns: contribute nothing (centred to zero);
* NaN/inf in X or Y, mismatched row counts, wrong ranks, fewer than 2 training rows per fold: InputError.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.errors import check

DEFAULT_LAMBDAS: tuple[float, ...] = tuple(float(x) for x in np.logspace(-4, 3, 15))


class RidgeModel(NamedTuple):
    """A fitted ridge model: predictions are X @ W + b.

    W: [d, T] (or [d] for a 1-D target), b: [T] (or scalar), lam: the lambda used (scalar or [T]).
    Arrays are numpy, in the dtype the model was fitted in.
    """

    W: np.ndarray
    b: np.ndarray
    lam: np.ndarray


def predict(model: RidgeModel, X) -> np.ndarray:
    """Predictions [n, T] (or [n] for a 1-D target) for features X [n, d]."""
    check(np.ndim(X) == 2 and X.shape[1] == model.W.shape[0], "X", "shape", f"[n, {model.W.shape[0]}]", np.shape(X))
    return X @ model.W + model.b


# ----------------------------------------------------------------------------------------------- input checks


def _precision(dtype: str):
    check(dtype in ("float32", "float64"), "ridge", "dtype", "'float32' or 'float64'", dtype)
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def _check_xy(X, Y) -> tuple[np.ndarray, np.ndarray, bool]:
    X = np.asarray(X)
    Y = np.asarray(Y)
    check(X.ndim == 2, "X", "shape", "2-D [n, d]", X.shape)
    check(Y.ndim in (1, 2), "Y", "shape", "1-D [n] or 2-D [n, T]", Y.shape)
    check(Y.shape[0] == X.shape[0], "Y", "rows", f"{X.shape[0]} rows (as X)", Y.shape[0])
    check(X.shape[0] >= 2, "X", "rows", "at least 2 samples", X.shape[0])
    check(X.shape[1] >= 1 and (Y.ndim == 1 or Y.shape[1] >= 1), "X/Y", "columns", "at least one column", (X.shape, Y.shape))
    for name, a in (("X", X), ("Y", Y)):
        check(np.issubdtype(a.dtype, np.number) or a.dtype == bool, name, "dtype", "numeric", a.dtype)
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        check(bad == 0, name, "values", "finite numbers (no NaN/inf)", f"{bad} non-finite entries")
    squeeze = Y.ndim == 1
    return X, (Y[:, None] if squeeze else Y), squeeze


def _check_lambdas(lam, name="lam") -> np.ndarray:
    lam = np.asarray(lam, np.float64)
    check(lam.size >= 1 and np.all(np.isfinite(lam)) and np.all(lam > 0), "ridge", name, "finite lambdas > 0", lam)
    return lam


def make_folds(n: int, folds: int = 4, seed: int = 0, key: jax.Array | None = None) -> list[np.ndarray]:
    """Split range(n) into `folds` validation index sets of near-equal size after a seeded random permutation.

    With a JAX `key` the permutation is `jax.random.permutation(key, n)`; otherwise numpy's
    `default_rng(seed).permutation(n)`. Each returned array is sorted.
    """
    check(isinstance(folds, (int, np.integer)) and 2 <= folds <= n, "ridge", "folds", f"an int in [2, n={n}]", folds)
    perm = np.asarray(jax.random.permutation(key, n)) if key is not None else np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(perm, folds)]


def _resolve_folds(n: int, folds, seed: int, key) -> list[np.ndarray]:
    if isinstance(folds, (int, np.integer)):
        return make_folds(n, int(folds), seed, key)
    out = [np.asarray(f, np.int64).ravel() for f in folds]
    check(len(out) >= 2, "ridge", "folds", "at least 2 validation index sets", len(out))
    for f in out:
        check(f.size >= 1 and f.min() >= 0 and f.max() < n and np.unique(f).size == f.size, "ridge", "folds",
              f"non-empty sets of distinct indices in [0, {n})", f)
        check(n - f.size >= 2, "ridge", "folds", "at least 2 training rows per fold", n - f.size)
    return out


# ------------------------------------------------------------------------------------------ jitted kernels


@jax.jit
def _moments(X, Y):
    """Global centring and the full Gram / cross products (computed once per CV run)."""
    mx, my = X.mean(0), Y.mean(0)
    X0, Y0 = X - mx, Y - my
    return X0, Y0, X0.T @ X0, X0.T @ Y0


@jax.jit
def _kernel(X0):
    return X0 @ X0.T


def _eig(S):
    s, V = jnp.linalg.eigh(S)
    return jnp.maximum(s, 0.0), V


def _mse_per_lambda(A, s, B, R, lambdas):
    """[L, T] mean squared error of predictions A diag(1/(s+lam)) B against residual targets R, per lambda."""

    def one(lam):
        pred = A @ (B / (s + lam)[:, None])
        return jnp.mean(jnp.square(R - pred), axis=0)

    return jax.lax.map(one, lambdas)


@jax.jit
def _fold_primal(X0, Y0, G, C, val, lambdas):
    """Fold errors [L, T] from the downdated d x d Gram (X0, Y0 globally centred so their full sums are 0)."""
    n = X0.shape[0]
    Xv, Yv = X0[val], Y0[val]
    ntr = n - val.shape[0]
    m, my = -Xv.sum(0) / ntr, -Yv.sum(0) / ntr  # training means of the globally centred data
    Gtr = G - Xv.T @ Xv - ntr * jnp.outer(m, m)
    Ctr = C - Xv.T @ Yv - ntr * jnp.outer(m, my)
    s, V = _eig(Gtr)
    return _mse_per_lambda((Xv - m) @ V, s, V.T @ Ctr, Yv - my, lambdas)


@jax.jit
def _fold_dual(K, Y0, tr, val, lambdas):
    """Fold errors [L, T] from the centred n_train x n_train kernel (sub-blocks of the full kernel K)."""
    Ktt, Kvt = K[tr][:, tr], K[val][:, tr]
    rt = Ktt.mean(1)  # x_i . m for training rows (m = training mean)
    rv = Kvt.mean(1)  # x_v . m for validation rows
    mm = rt.mean()  # m . m
    Kc = Ktt - rt[:, None] - rt[None, :] + mm
    Kvc = Kvt - rv[:, None] - rt[None, :] + mm
    Ytr, Yv = Y0[tr], Y0[val]
    my = Ytr.mean(0)
    s, U = _eig(Kc)
    return _mse_per_lambda(Kvc @ U, s, U.T @ (Ytr - my), Yv - my, lambdas)


@jax.jit
def _fit_primal_eig(X, Y, lam):
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    s, V = _eig(Xc.T @ Xc)
    W = V @ ((V.T @ (Xc.T @ Yc)) / (s[:, None] + lam))
    return W, my - mx @ W


@jax.jit
def _fit_dual_eig(X, Y, lam):
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    s, U = _eig(Xc @ Xc.T)
    W = Xc.T @ (U @ ((U.T @ Yc) / (s[:, None] + lam)))
    return W, my - mx @ W


@jax.jit
def _fit_primal_chol(X, Y, lam):
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    A = Xc.T @ Xc + lam * jnp.eye(X.shape[1], dtype=X.dtype)
    W = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A, lower=True), Xc.T @ Yc)
    return W, my - mx @ W


@jax.jit
def _fit_dual_chol(X, Y, lam):
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    A = Xc @ Xc.T + lam * jnp.eye(X.shape[0], dtype=X.dtype)
    W = Xc.T @ jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A, lower=True), Yc)
    return W, my - mx @ W


# ------------------------------------------------------------------------------------------------ public API


def fit(X, Y, lam, dtype: str = "float32") -> RidgeModel:
    """Ridge fit with intercept. X [n, d], Y [n, T] or [n]; lam > 0 scalar, or [T] for one lambda per target.

    Uses the primal d x d system when d <= n, else the dual n x n system. A scalar lambda is solved by Cholesky
    (falling back to the eigen path if Cholesky breaks down numerically); per-target lambdas by one eigen-decomposition.
    """
    X, Y, squeeze = _check_xy(X, Y)
    lam = _check_lambdas(lam)
    check(lam.ndim == 0 or lam.shape == (Y.shape[1],), "ridge", "lam", f"a scalar or shape ({Y.shape[1]},)", lam.shape)
    dual = X.shape[0] < X.shape[1]
    with _precision(dtype):
        ft = jnp.float64 if dtype == "float64" else jnp.float32
        Xj, Yj, lj = jnp.asarray(X, ft), jnp.asarray(Y, ft), jnp.asarray(lam, ft)
        W = None
        if lam.ndim == 0:
            W, b = (_fit_dual_chol if dual else _fit_primal_chol)(Xj, Yj, lj)
            W, b = np.asarray(W), np.asarray(b)
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                W = None
        if W is None:
            W, b = (_fit_dual_eig if dual else _fit_primal_eig)(Xj, Yj, lj)
            W, b = np.asarray(W), np.asarray(b)
    if squeeze:
        W, b = W[:, 0], b[0]
    return RidgeModel(W, b, lam)


def cv_errors(X, Y, lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds=4, seed: int = 0, key=None,
              dtype: str = "float32") -> np.ndarray:
    """Cross-validated mean squared error [L, T]: mean over folds of each fold's validation MSE per target.

    `folds` is the number of folds (random split by `seed` or JAX `key`) or explicit validation index sets.
    """
    X, Y, _ = _check_xy(X, Y)
    lambdas = _check_lambdas(lambdas, "lambdas").ravel()
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    n, d = X.shape
    dual = n - max(f.size for f in fsets) < d
    with _precision(dtype):
        ft = jnp.float64 if dtype == "float64" else jnp.float32
        Xj, Yj, lj = jnp.asarray(X, ft), jnp.asarray(Y, ft), jnp.asarray(lambdas, ft)
        X0, Y0, G, C = _moments(Xj, Yj)
        if dual:
            del G, C
            K = _kernel(X0)
        total = 0.0
        for val in fsets:
            if dual:
                tr = np.setdiff1d(np.arange(n), val)
                err = _fold_dual(K, Y0, jnp.asarray(tr), jnp.asarray(val), lj)
            else:
                err = _fold_primal(X0, Y0, G, C, jnp.asarray(val), lj)
            total = total + np.asarray(err, np.float64)
    return total / len(fsets)


def cv_lambda(X, Y, lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds=4, seed: int = 0, key=None,
              per_target: bool = False, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Choose lambda by k-fold CV. Returns (best, errors).

    Shared lambda (default, the paper's setting): best is a scalar, errors [L] = CV MSE averaged over targets.
    per_target=True: best [T], errors [L, T]. Ties go to the first (smallest, if the grid is sorted) lambda.
    """
    lambdas = _check_lambdas(lambdas, "lambdas").ravel()
    err = cv_errors(X, Y, lambdas, folds, seed, key, dtype)
    if per_target:
        return lambdas[np.argmin(err, axis=0)], err
    err = err.mean(axis=1)
    return np.asarray(lambdas[int(np.argmin(err))]), err


class CVErrors(NamedTuple):
    """Cross-validation of `fit_cv`: lambdas [L] (the grid, in the order given), errors [L] (CV mean squared error
    averaged over targets) or [L, T] (per_target), best: the chosen lambda (scalar) or lambdas [T]."""

    lambdas: np.ndarray
    errors: np.ndarray
    best: np.ndarray


def fit_cv(X, Y, lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds=4, seed: int = 0, key=None,
           per_target: bool = False, dtype: str = "float32") -> tuple[RidgeModel, CVErrors]:
    """`cv_lambda` then `fit` on all of X, Y with the chosen lambda(s). Returns (model, `CVErrors`: the lambda
    grid with its CV errors and the choice)."""
    grid = _check_lambdas(lambdas, "lambdas").ravel()
    best, err = cv_lambda(X, Y, grid, folds, seed, key, per_target, dtype)
    return fit(X, Y, best, dtype), CVErrors(grid, err, best)


def cross_val_predict(X, Y, lam, folds=4, seed: int = 0, key=None, dtype: str = "float32") -> np.ndarray:
    """Out-of-fold predictions [n, T] (or [n]): each fold predicted by a model fitted on the other folds with `lam`.

    Used where a later stage must see first-stage predictions as noisy as on unseen data (look-back crops, the
    segmentation class-mixing matrix)."""
    X, Yc, squeeze = _check_xy(X, Y)
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    out = np.zeros(Yc.shape, np.float64 if dtype == "float64" else np.float32)
    for val in fsets:
        tr = np.setdiff1d(np.arange(X.shape[0]), val)
        out[val] = predict(fit(X[tr], Yc[tr], lam, dtype), X[val])
    return out[:, 0] if squeeze else out
