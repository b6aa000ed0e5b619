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

Route rule (``method="auto"``, `route_costs`): the route with the smallest flop count is taken, counting a GEMM
[m, k] x [k, p] as 2 m k p, a Gram X^T X [n, d] as n d^2 (symmetric rank-k update), a Cholesky of order d as
d^3 / 3, a triangular solve pair with p right-hand sides as 2 d^2 p and a symmetric eigen-decomposition with
eigenvectors (LAPACK syevd: tridiagonal reduction 4/3 d^3, back-transformation 2 d^3, divide and conquer) as
EIGH_FLOPS_PER_CUBE * d^3 = 4 d^3. With T targets, L lambdas, folds of n_v validation and n_t = n - n_v training rows:

    eig        n d^2 + 2 n d T + sum_folds [4 d^3 + 2 n_v d^2 + 2 d^2 T + L 2 n_v d T]
    chol       n d^2 + 2 n d T + sum_folds L [d^3/3 + 2 d^2 T + 2 n_v d T]
    dual       n^2 d          + sum_folds [4 n_t^3 + 2 n_v n_t^2 + 2 n_t^2 T + L 2 n_v n_t T]
    dual-chol  n^2 d          + sum_folds L [n_t^3/3 + 2 n_t^2 T + 2 n_v n_t T]

So for small T the primal Cholesky route wins while L < about 12 + 6 n_v / d (one eigh ~ 12 Choleskys), the eigen
route wins with long grids or many targets (the per-lambda Cholesky solves cost 2 d^2 T each), and the dual routes
win when the training folds are much smaller than d. Ties go to the earlier route in the list above.

Engines. On a CPU backend (`jax.default_backend() == "cpu"`) every step runs through NumPy/SciPy (OpenBLAS GEMM and
syrk, LAPACK `potrf`/`potrs` and `syevd`), which are 2-2.5x faster than XLA:CPU's GEMM and eigh
(bench/RESULTS_ridge.md); the Cholesky and eigen factorisations run on one BLAS thread, because OpenBLAS's
multithreaded potrf/syevd synchronise at every block step and ran up to 10x slower than one thread whenever another
process shared the cores (GEMMs keep all threads). The Cholesky routes instead factorise several (fold, lambda)
systems at once, one per core, on a thread pool: `convcorr_jax.linear.cholesky.solve_shifted` calls LAPACK with the
GIL released and without the transposing copy of a C-ordered matrix. The errors are those of one fold at a time, bit
for bit. On accelerators the same routes run as jitted JAX functions.
A Cholesky that breaks down numerically (float32 with a lambda below the Gram's rounding level) falls back to the
eigen route for that fold, whose eigenvalues are clipped at 0.

The CV error of a lambda is the mean over folds of the fold's mean squared error (the mean over validation samples
and targets), which is what scikit-learn's
`GridSearchCV(Ridge(), {"alpha": grid}, cv=folds, scoring="neg_mean_squared_error")` maximises.

Lambda: `shared=True` (default, as in the paper: one lambda for all regressors of a task) picks the lambda with the
smallest error summed over targets; `per_target=True` picks one lambda per target column.

Precision: float32 by default (JAX default). `dtype="float64"` runs every step in float64 (the JAX engine under
`jax.enable_x64(True)`, a context manager; the global setting is left alone). In float32 the eigenvalues of the Gram
are accurate to about 1e-7 * largest eigenvalue, so lambdas below that scale act like that scale; use float64 for
tiny lambdas.

Documented behaviour on awkward input:
* rank-deficient X or n < d: fine for any lambda > 0 (lambda must be > 0 and finite, else InputError);
* constant target columns: W column = 0, b = the constant;
* constant feature columns: contribute nothing (centred to zero);
* NaN/inf in X or Y, mismatched row counts, wrong ranks, fewer than 2 training rows per fold, an unknown
  `method`: InputError.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg as sl
from threadpoolctl import ThreadpoolController

from convcorr_jax.errors import check
from convcorr_jax.linear.cholesky import NotPositiveDefinite, solve_shifted

DEFAULT_LAMBDAS: tuple[float, ...] = tuple(float(x) for x in np.logspace(-4, 3, 15))
ROUTES: tuple[str, ...] = ("eig", "chol", "dual", "dual-chol")
METHODS: tuple[str, ...] = ("auto",) + ROUTES
EIGH_FLOPS_PER_CUBE = 4.0  # flops of a symmetric eigen-decomposition with eigenvectors, per (order)^3
_BLAS = ThreadpoolController()  # the factorisations run on one BLAS thread (see the module docstring)


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
    check(X.shape[1] >= 1 and (Y.ndim == 1 or Y.shape[1] >= 1), "X/Y", "columns", "at least one column",
          (X.shape, Y.shape))
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


def _check_method(method: str) -> str:
    check(method in METHODS, "ridge", "method", f"one of {METHODS}", method)
    return method


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


# ----------------------------------------------------------------------------------------------- route choice


def route_costs(n: int, d: int, n_targets: int, n_lambdas: int, val_sizes: Sequence[int]) -> dict[str, float]:
    """Flop count of each CV route (see the module docstring) for n samples, d features, n_targets targets,
    n_lambdas lambdas and folds with `val_sizes` validation rows each. Returns {route: flops}."""
    t, L, e = float(n_targets), float(n_lambdas), EIGH_FLOPS_PER_CUBE
    n, d = float(n), float(d)
    primal, dual = n * d * d + 2 * n * d * t, n * n * d  # Gram and cross product / full kernel, once
    cost = {"eig": primal, "chol": primal, "dual": dual, "dual-chol": dual}
    for nv in val_sizes:
        nv = float(nv)
        nt = n - nv
        cost["eig"] += e * d**3 + 2 * nv * d * d + 2 * d * d * t + L * 2 * nv * d * t
        cost["chol"] += L * (d**3 / 3 + 2 * d * d * t + 2 * nv * d * t)
        cost["dual"] += e * nt**3 + 2 * nv * nt * nt + 2 * nt * nt * t + L * 2 * nv * nt * t
        cost["dual-chol"] += L * (nt**3 / 3 + 2 * nt * nt * t + 2 * nv * nt * t)
    return cost


def choose_route(n: int, d: int, n_targets: int, n_lambdas: int, val_sizes: Sequence[int], method: str = "auto") -> str:
    """The CV route `cv_errors` takes: `method` itself unless "auto", else the cheapest by `route_costs` (ties to the
    earlier route in ROUTES)."""
    if _check_method(method) != "auto":
        return method
    cost = route_costs(n, d, n_targets, n_lambdas, val_sizes)
    return min(ROUTES, key=lambda r: cost[r])


def _use_xla() -> bool:
    """True when the JAX engine runs the linear algebra (accelerator backends); NumPy/SciPy on CPU."""
    return jax.default_backend() != "cpu"


# ------------------------------------------------------------------ kernels (NumPy/SciPy on CPU, jitted JAX otherwise)


def _eigh(S, xla: bool):
    """Eigenvalues [r] (clipped at 0) and eigenvectors [r, r] of a symmetric matrix S [r, r]."""
    if xla:
        s, V = jnp.linalg.eigh(S)
        return jnp.maximum(s, 0.0), V
    with _BLAS.limit(limits=1, user_api="blas"):
        s, V = sl.eigh(S, driver="evd", check_finite=False)
    return np.maximum(s, 0.0), V


def _chol_solve(S, lam, B, xla: bool):
    """(S + lam I)^{-1} B for symmetric positive semi-definite S [r, r], B [r, T]; NaN (JAX) or NotPositiveDefinite
    (NumPy) when the factorisation breaks down. The NumPy engine runs on one BLAS thread with the GIL released."""
    if xla:
        A = S + lam * jnp.eye(S.shape[0], dtype=S.dtype)
        return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A, lower=True), B)
    with _BLAS.limit(limits=1, user_api="blas"):
        return solve_shifted(S, lam, B)


def _errors_eig(S, C, A, R, lambdas, xla: bool):
    """[L, T] mean squared error of A (S + lam I)^{-1} C against R per lambda, from one eigen-decomposition of S.

    S [r, r] symmetric PSD, C [r, T], A [n_val, r], R [n_val, T] (validation residual targets), lambdas [L]."""
    xp = jnp if xla else np
    s, V = _eigh(S, xla)
    AV, B = A @ V, V.T @ C
    return xp.stack([xp.mean(xp.square(R - AV @ (B / (s + lambdas[i])[:, None])), axis=0)
                     for i in range(lambdas.shape[0])])


def _errors_chol(S, C, A, R, lambdas, xla: bool):
    """As `_errors_eig` with one Cholesky factorisation of S + lam I per lambda."""
    xp = jnp if xla else np
    return xp.stack([xp.mean(xp.square(R - A @ _chol_solve(S, lambdas[i], C, xla)), axis=0)
                     for i in range(lambdas.shape[0])])


def _errors_chol_threaded(fold_parts: Callable[[int], tuple], n_folds: int, lambdas: np.ndarray,
                          order_bytes: int) -> list[np.ndarray | None]:
    """`_errors_chol` of every fold on the NumPy engine, one (fold, lambda) factorisation per task on a pool of one
    thread per core, each on one BLAS thread with the GIL released (`solve_shifted`). `fold_parts(i)` gives fold i's
    (S, C, A, R); it runs on the pool one fold ahead of that fold's solves, so about two folds are held at a time.
    Each thread factorises in a buffer of its own of `order_bytes` (the system's [r, r]), so the pool is sized by
    `_threads`. Returns [L, T] errors per fold, None for a fold whose factorisation broke down."""
    local = threading.local()

    def solve(parts: Future, lam) -> np.ndarray | None:
        S, C, A, R = parts.result()
        if getattr(local, "work", None) is None or local.work.shape != S.shape:
            local.work = np.empty(S.shape, S.dtype, order="F")
        try:
            W = solve_shifted(S, lam, C, work=local.work)
        except NotPositiveDefinite:
            return None
        return np.mean(np.square(R - A @ W), axis=0)

    with _BLAS.limit(limits=1, user_api="blas"), \
            ThreadPoolExecutor(_threads(n_folds * lambdas.size, order_bytes)) as pool:
        # First in, first out, with each fold's preparation queued one fold ahead of its solves: a solve only waits
        # for a preparation that has started, and the next fold is prepared while this one's solves run.
        parts = [pool.submit(fold_parts, 0)]
        tasks = []
        for i in range(n_folds):
            if i + 1 < n_folds:
                parts.append(pool.submit(fold_parts, i + 1))
            tasks.append([pool.submit(solve, parts[i], lam) for lam in lambdas])
            parts[i] = None  # held by its solves only, so freed after them
        out = []
        try:
            for row in tasks:
                errs = [t.result() for t in row]
                out.append(None if any(e is None for e in errs) else np.stack(errs))
        except BaseException:  # an error or Ctrl-C: drop the queued tasks instead of running them to the end
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


def _blocks_threaded(X0: np.ndarray, Y0: np.ndarray, fsets: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each fold's Gram block Xv^T Xv [d, d] and cross product Xv^T Yv [d, T] on the NumPy engine: the Grams (syrk) one
    fold per task on a pool of one thread per core, each on one BLAS thread (the same bits as on all threads), the
    cross products after them on all threads (OpenBLAS's GEMM rounds differently on one thread)."""

    def gram(v: np.ndarray) -> np.ndarray:
        Xv = X0[v]
        return Xv.T @ Xv

    with _BLAS.limit(limits=1, user_api="blas"), ThreadPoolExecutor(min(_cores(), len(fsets))) as pool:
        grams = list(pool.map(gram, fsets))
    return [(Gv, X0[v].T @ Y0[v]) for Gv, v in zip(grams, fsets)]


def _threads(n_tasks: int, task_bytes: int) -> int:
    """Pool size for n_tasks tasks that each hold task_bytes of working memory while they run: one thread per core,
    at most n_tasks, and no more than a quarter of the free physical memory holds (at least one)."""
    return max(1, min(_cores(), n_tasks, _free_memory() // 4 // max(task_bytes, 1)))


def _free_memory() -> int:
    """Free physical memory in bytes (Linux's `sysconf`; unbounded where it is not available)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 1 << 62


def _cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _prep_primal(X0, Y0, G, C, Gv, Cv, val, xla: bool):
    """A fold's training Gram S [d, d] and cross product [d, T] centred on the training mean, the centred validation
    features A [n_val, d] and residual targets R [n_val, T] (X0, Y0 globally centred so their full sums are 0)."""
    xp = jnp if xla else np
    Xv, Yv = X0[val], Y0[val]
    ntr = X0.shape[0] - val.shape[0]
    m, my = -Xv.sum(0) / ntr, -Yv.sum(0) / ntr  # training means of the globally centred data
    if xla:
        S = G - Gv - ntr * jnp.outer(m, m)
    else:  # the same operations in place: two [d, d] temporaries fewer
        S, mm = G - Gv, np.outer(m, m)
        mm *= ntr
        S -= mm
    Ctr = C - Cv - ntr * xp.outer(m, my)
    return S, Ctr, Xv - m, Yv - my


def _prep_dual(K, Y0, tr, val, xla: bool):
    """A fold's centred training kernel Kc [n_tr, n_tr], centred training targets [n_tr, T], centred validation
    kernel Kvc [n_val, n_tr] and validation residual targets [n_val, T] (sub-blocks of the full kernel K)."""
    Ktt, Kvt = K[tr][:, tr], K[val][:, tr]
    rt = Ktt.mean(1)  # x_i . m for training rows (m = training mean)
    rv = Kvt.mean(1)  # x_v . m for validation rows
    mm = rt.mean()  # m . m
    Kc = Ktt - rt[:, None] - rt[None, :] + mm
    Kvc = Kvt - rv[:, None] - rt[None, :] + mm
    Ytr, Yv = Y0[tr], Y0[val]
    my = Ytr.mean(0)
    return Kc, Ytr - my, Kvc, Yv - my


def _eig_solve(S, C, lam, xla: bool):
    """(S + lam I)^{-1} C [r, T] from one eigen-decomposition of S [r, r]; lam scalar or [T] (one per column)."""
    s, V = _eigh(S, xla)
    return V @ ((V.T @ C) / (s[:, None] + lam))


def _solve(S, C, lam):
    """(S + lam I)^{-1} C [r, T] for S [r, r] symmetric PSD (NumPy/SciPy): Cholesky for a scalar lam; for per-column
    lambdas lam [T], one Cholesky per distinct value (on a thread pool, `_solve_per_value`) while they cost less than
    one eigen-decomposition by `route_costs`' count (fewer than 3 * EIGH_FLOPS_PER_CUBE values), else one
    eigen-decomposition. Any Cholesky breakdown falls back to the eigen route."""
    try:
        if np.ndim(lam) == 0:
            return _chol_solve(S, lam, C, False)
        values = np.unique(lam)
        if values.size < 3 * EIGH_FLOPS_PER_CUBE:
            return _solve_per_value(S, C, lam, values)
    except NotPositiveDefinite:
        pass
    return _eig_solve(S, C, lam, False)


def _solve_per_value(S: np.ndarray, C: np.ndarray, lam: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Column t of the result [r, T] is (S + lam[t] I)^{-1} C[:, t]: one `solve_shifted` per value of `values` (the
    distinct lambdas) on its columns, the values on a pool of one thread per core (one BLAS thread each)."""
    W = np.empty(C.shape, C.dtype)
    cols = [np.flatnonzero(lam == v) for v in values]

    def one(i: int) -> None:
        W[:, cols[i]] = solve_shifted(S, values[i], np.ascontiguousarray(C[:, cols[i]]))

    with _BLAS.limit(limits=1, user_api="blas"), ThreadPoolExecutor(_threads(values.size, S.nbytes)) as pool:
        list(pool.map(one, range(values.size)))
    return W


def _fit_np(X, Y, lam):
    """W [d, T], b [T] of the ridge fit with intercept on the NumPy/SciPy engine (primal d x d system if d <= n,
    else dual n x n)."""
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    if X.shape[0] < X.shape[1]:
        W = Xc.T @ _solve(Xc @ Xc.T, Yc, lam)
    else:
        W = _solve(Xc.T @ Xc, Xc.T @ Yc, lam)
    return W, my - mx @ W


# The JAX engine: the kernels above jitted (one compilation per shape), plus the products done once per call.
_J = {name: jax.jit(partial(f, xla=True)) for name, f in (
    ("errors_eig", _errors_eig), ("errors_chol", _errors_chol), ("prep_primal", _prep_primal),
    ("prep_dual", _prep_dual), ("chol_solve", _chol_solve), ("eig_solve", _eig_solve))}
_J["kernel"] = jax.jit(lambda X0: X0 @ X0.T)
_J["center"] = jax.jit(lambda X, Y: (X.mean(0), Y.mean(0), X - X.mean(0), Y - Y.mean(0)))
_J["block"] = jax.jit(lambda X0, Y0, val: (X0[val].T @ X0[val], X0[val].T @ Y0[val]))
_J["cross"] = jax.jit(lambda X0, Y0: (X0.T @ X0, X0.T @ Y0))


def _fit_xla(X, Y, lam):
    """`_fit_np` on the JAX engine (the Cholesky breakdown check runs outside the jitted functions)."""
    mx, my, Xc, Yc = _J["center"](X, Y)
    dual = X.shape[0] < X.shape[1]
    S, C = (_J["kernel"](Xc), Yc) if dual else _J["cross"](Xc, Yc)
    W = None
    if np.ndim(lam) == 0:
        W = _J["chol_solve"](S, lam, C)
        if not bool(jnp.all(jnp.isfinite(W))):
            W = None
    if W is None:
        W = _J["eig_solve"](S, C, lam)
    if dual:
        W = Xc.T @ W
    return W, my - mx @ W


# ------------------------------------------------------------------------------------------------ public API


def _as(a, dtype: str, xla: bool):
    ft = np.float64 if dtype == "float64" else np.float32
    return jnp.asarray(a, ft) if xla else np.asarray(a, ft)


def fit(X, Y, lam, dtype: str = "float32") -> RidgeModel:
    """Ridge fit with intercept. X [n, d], Y [n, T] or [n]; lam > 0 scalar, or [T] for one lambda per target.

    Uses the primal d x d system when d <= n, else the dual n x n system. A scalar lambda is solved by Cholesky
    (falling back to the eigen path if Cholesky breaks down numerically); per-target lambdas by one Cholesky per
    distinct value when there are fewer than 12 (the CPU engine), else by one eigen-decomposition.
    """
    X, Y, squeeze = _check_xy(X, Y)
    lam = _check_lambdas(lam)
    check(lam.ndim == 0 or lam.shape == (Y.shape[1],), "ridge", "lam", f"a scalar or shape ({Y.shape[1]},)", lam.shape)
    xla = _use_xla()
    with _precision(dtype):
        Xa, Ya, la = _as(X, dtype, xla), _as(Y, dtype, xla), _as(lam, dtype, xla)
        if xla:
            W, b = _fit_xla(Xa, Ya, la)
        else:
            W, b = _fit_np(Xa, Ya, la[()] if la.ndim == 0 else la)
        W, b = np.asarray(W), np.asarray(b)
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
    ops = {k: (_J[k] if xla else partial(f, xla=False)) for k, f in (
        ("errors_eig", _errors_eig), ("errors_chol", _errors_chol), ("prep_primal", _prep_primal),
        ("prep_dual", _prep_dual))}
    with _precision(dtype):
        Xa, Ya, la = _as(X, dtype, xla), _as(Y, dtype, xla), _as(lambdas, dtype, xla)
        if xla:
            mx, my, X0, Y0 = _J["center"](Xa, Ya)
        else:  # means accumulated in float64
            mx, my = Xa.mean(0, dtype=np.float64).astype(Xa.dtype), Ya.mean(0, dtype=np.float64).astype(Ya.dtype)
            X0, Y0 = Xa - mx, Ya - my
        if dual:
            K = _J["kernel"](X0) if xla else X0 @ X0.T
        else:
            blocks = [_J["block"](X0, Y0, idx(v)) for v in fsets] if xla else _blocks_threaded(X0, Y0, fsets)
            if partition:
                G, C = blocks[0][0] + blocks[1][0], blocks[0][1] + blocks[1][1]  # summed in fold order
                for Gv, Cv in blocks[2:]:
                    G += Gv
                    C += Cv
            else:
                G, C = _J["cross"](X0, Y0) if xla else (X0.T @ X0, X0.T @ Y0)

        def fold_parts(i: int):
            if dual:
                return ops["prep_dual"](K, Y0, idx(np.setdiff1d(np.arange(n), fsets[i])), idx(fsets[i]))
            return ops["prep_primal"](X0, Y0, G, C, *blocks[i], idx(fsets[i]))

        chol = route.endswith("chol")
        if chol and not xla:
            order = n - min(v.size for v in fsets) if dual else d  # the largest system's order
            errs = _errors_chol_threaded(fold_parts, len(fsets), la, order * order * X0.dtype.itemsize)
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
    return total / len(fsets), route, moments


def cv_errors(X, Y, lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds=4, seed: int = 0, key=None,
              dtype: str = "float32", method: str = "auto") -> np.ndarray:
    """Cross-validated mean squared error [L, T]: mean over folds of each fold's validation MSE per target.

    `folds` is the number of folds (random split by `seed` or JAX `key`) or explicit validation index sets.
    `method`: "auto" (the cheapest route by `route_costs`) or one of ROUTES ("eig", "chol", "dual", "dual-chol");
    all give the same errors up to rounding.
    """
    X, Y, _ = _check_xy(X, Y)
    lambdas = _check_lambdas(lambdas, "lambdas").ravel()
    _check_method(method)
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    return _cv(X, Y, lambdas, fsets, dtype, method)[0]


def _choose(lambdas: np.ndarray, err: np.ndarray, per_target: bool) -> tuple[np.ndarray, np.ndarray]:
    if per_target:
        return lambdas[np.argmin(err, axis=0)], err
    err = err.mean(axis=1)
    return np.asarray(lambdas[int(np.argmin(err))]), err


def cv_lambda(X, Y, lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds=4, seed: int = 0, key=None,
              per_target: bool = False, dtype: str = "float32", method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Choose lambda by k-fold CV. Returns (best, errors).

    Shared lambda (default, the paper's setting): best is a scalar, errors [L] = CV MSE averaged over targets.
    per_target=True: best [T], errors [L, T]. Ties go to the first (smallest, if the grid is sorted) lambda.
    `method` as in `cv_errors`.
    """
    lambdas = _check_lambdas(lambdas, "lambdas").ravel()
    return _choose(lambdas, cv_errors(X, Y, lambdas, folds, seed, key, dtype, method), per_target)


class CVErrors(NamedTuple):
    """Cross-validation of `fit_cv`: lambdas [L] (the grid, in the order given), errors [L] (CV mean squared error
    averaged over targets) or [L, T] (per_target), best: the chosen lambda (scalar) or lambdas [T]."""

    lambdas: np.ndarray
    errors: np.ndarray
    best: np.ndarray


def fit_cv(X, Y, lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds=4, seed: int = 0, key=None,
           per_target: bool = False, dtype: str = "float32", method: str = "auto") -> tuple[RidgeModel, CVErrors]:
    """`cv_lambda` then `fit` on all of X, Y with the chosen lambda(s). Returns (model, `CVErrors`: the lambda
    grid with its CV errors and the choice). On the CPU engine a primal route's full Gram is reused for the refit
    (equal to `fit` up to rounding). `method` as in `cv_errors`."""
    X, Yc, squeeze = _check_xy(X, Y)
    grid = _check_lambdas(lambdas, "lambdas").ravel()
    _check_method(method)
    fsets = _resolve_folds(X.shape[0], folds, seed, key)
    err, _, moments = _cv(X, Yc, grid, fsets, dtype, method)
    best, err = _choose(grid, err, per_target)
    if moments is None or _use_xla():
        return fit(X, Y, best, dtype), CVErrors(grid, err, best)
    mx, my, G, C = moments
    lam = np.asarray(best, G.dtype)
    W = _solve(G, C, lam[()] if lam.ndim == 0 else lam)
    b = my - mx @ W
    if squeeze:
        W, b = W[:, 0], b[0]
    return RidgeModel(W, b, best), CVErrors(grid, err, best)


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
