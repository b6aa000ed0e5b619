"""The linear-algebra kernels of the ridge fits and their cross-validation (`convcorr_jax.linear.ridge`), on two
engines: NumPy/SciPy on a CPU backend, jitted JAX functions otherwise.

Engines. On a CPU backend (`jax.default_backend() == "cpu"`) every step runs through NumPy/SciPy (OpenBLAS GEMM and
syrk, LAPACK `potrf`/`potrs` and `syevd`), which are 2-2.5x faster than XLA:CPU's GEMM and eigh
(bench/RESULTS_ridge.md); the Cholesky and eigen factorisations run on one BLAS thread, because OpenBLAS's
multithreaded potrf/syevd synchronise at every block step and ran up to 10x slower than one thread whenever another
process shared the cores (GEMMs keep all threads). OpenBLAS has one thread count per process: while any fit is in
such a step, BLAS calls of the host program's other threads run on one thread too; the count comes back when the
last of the fits that overlap in time (called from several threads) leaves it (`_one_blas_thread`). The Cholesky
routes instead factorise several (fold, lambda) systems at once, one per core, on a thread pool:
`convcorr_jax.linear.cholesky.solve_shifted` calls LAPACK with the GIL released and without the transposing copy of a
C-ordered matrix. The errors are those of one fold at a time, bit for bit. On accelerators the same routes run as
jitted JAX functions.
A Cholesky that breaks down numerically (float32 with a lambda below the Gram's rounding level) falls back to the
eigen route for that fold, whose eigenvalues are clipped at 0.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg as sl
from convcorr_jax.core.shared_swap import SharedSwap
from convcorr_jax.linear.cholesky import NotPositiveDefinite, solve_shifted
from convcorr_jax.linear.ridge_checks import check_range, quiet
from convcorr_jax.linear.ridge_routes import EIGH_FLOPS_PER_CUBE

EngineArray = np.ndarray | jax.Array  # an array of the NumPy engine (numpy) or of the JAX engine (jax, or traced)

# the factorisations run on one BLAS thread (see the module docstring); threadpoolctl's controller, made on first use
_BLAS: dict[str, Any] = {"controller": None}


def _limit_blas() -> tuple:
    """Limit BLAS to one thread; returns the limit (which knows the counts it found) and the thread that set it.
    threadpoolctl is imported here: its import sets KMP_DUPLICATE_LIB_OK in os.environ, which importing this library
    must not do."""
    if _BLAS["controller"] is None:
        from threadpoolctl import ThreadpoolController

        _BLAS["controller"] = ThreadpoolController()
    return _BLAS["controller"].limit(limits=1, user_api="blas"), threading.current_thread()


# BLAS on one thread within `with _ONE_BLAS_THREAD.held():`. The thread count is the process's: the first of the
# blocks that overlap in time (from several threads) sets it, the last to leave puts the count found before back (a
# limit per block would let one block put back the 1 another set)
_ONE_BLAS_THREAD = SharedSwap(_limit_blas, lambda found: _restore_blas(*found))
_one_blas_thread = _ONE_BLAS_THREAD.held


def _restore_blas(limit, setter: threading.Thread) -> None:
    """Put back the counts `limit` found, from any thread. threadpoolctl (>= 3.6) lets only the thread that last set a
    process-wide (pthreads) OpenBLAS count change it while that thread lives; the setter's hold is released for the
    restore, and this thread's after it, as a `with threadpool_limits` block releases its own on leaving."""
    from threadpoolctl import OpenBLASController

    clear = getattr(OpenBLASController, "clear_controlling_thread", None)  # absent before threadpoolctl 3.6
    if clear is not None and setter is not threading.current_thread():
        clear(force=True)
    limit.restore_original_limits()
    if clear is not None:
        clear()


# ------------------------------------------------------------------ kernels (NumPy/SciPy on CPU, jitted JAX otherwise)


def _eigh(S, xla: bool):
    """Eigenvalues [r] (clipped at 0) and eigenvectors [r, r] of a symmetric matrix S [r, r]."""
    if xla:
        s, V = jnp.linalg.eigh(S)
        return jnp.maximum(s, 0.0), V
    with _one_blas_thread():
        s, V = sl.eigh(S, driver="evd", check_finite=False)
    return np.maximum(s, 0.0), V


def _chol_solve(S, lam, B, xla: bool):
    """(S + lam I)^{-1} B for symmetric positive semi-definite S [r, r], B [r, T]; NaN (JAX) or NotPositiveDefinite
    (NumPy) when the factorisation breaks down. The NumPy engine runs on one BLAS thread with the GIL released."""
    if xla:
        A = S + lam * jnp.eye(S.shape[0], dtype=S.dtype)
        return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A, lower=True), B)
    with _one_blas_thread():
        return solve_shifted(S, lam, B)


def errors_eig(S: EngineArray, C: EngineArray, A: EngineArray, R: EngineArray, lambdas: EngineArray,
               xla: bool) -> EngineArray:
    """Mean squared error of A (S + lam I)^{-1} C against R per lambda, from one eigen-decomposition of S.

    Eigenvalues are clipped at 0.

    Args:
      S: [r, r] symmetric PSD (a fold's training Gram or kernel).
      C: [r, T] training cross product (or centred training targets).
      A: [n_val, r] validation features (or validation kernel rows).
      R: [n_val, T] validation residual targets.
      lambdas: [L] ridge penalties.
      xla: the JAX engine (jnp) rather than NumPy/SciPy.

    Returns:
      [L, T] mean over validation rows of the squared error, S's float dtype (a jax array when `xla`).
    """
    xp = jnp if xla else np
    s, V = _eigh(S, xla)
    AV, B = A @ V, V.T @ C
    return xp.stack([xp.mean(xp.square(R - AV @ (B / (s + lambdas[i])[:, None])), axis=0)
                     for i in range(lambdas.shape[0])])


def errors_chol(S: EngineArray, C: EngineArray, A: EngineArray, R: EngineArray, lambdas: EngineArray,
                xla: bool) -> EngineArray:
    """As `errors_eig` with one Cholesky factorisation of S + lam I per lambda.

    Args:
      S, C, A, R, lambdas, xla: as in `errors_eig`.

    Returns:
      [L, T] mean squared errors. A factorisation that breaks down gives NaN on the JAX engine and raises
      `NotPositiveDefinite` on the NumPy engine.
    """
    xp = jnp if xla else np
    return xp.stack([xp.mean(xp.square(R - A @ _chol_solve(S, lambdas[i], C, xla)), axis=0)
                     for i in range(lambdas.shape[0])])


def errors_chol_threaded(fold_parts: Callable[[int], tuple], n_folds: int, lambdas: np.ndarray,
                          order_bytes: int) -> list[np.ndarray | None]:
    """`errors_chol` of every fold on the NumPy engine, one (fold, lambda) factorisation per task on a thread pool.

    The pool has one thread per core, each on one BLAS thread with the GIL released (`solve_shifted`). `fold_parts(i)`
    runs on the pool one fold ahead of that fold's solves, so about two folds are held at a time. Each thread factorises
    in a buffer of its own, so the pool is sized by `_threads`.

    Args:
      fold_parts: i -> fold i's (S [r, r], C [r, T], A [n_val, r], R [n_val, T]) NumPy arrays, as in `errors_eig`.
      n_folds: number of folds.
      lambdas: [L] ridge penalties.
      order_bytes: bytes of one factorisation buffer (the system's [r, r]).

    Returns:
      A list of n_folds entries: [L, T] errors per fold, None for a fold whose factorisation broke down (at any lambda).
    """
    local = threading.local()

    def solve(parts: Future, lam) -> np.ndarray | None:
        S, C, A, R = parts.result()
        if getattr(local, "work", None) is None or local.work.shape != S.shape:
            local.work = np.empty(S.shape, S.dtype, order="F")
        try:
            W = solve_shifted(S, lam, C, work=local.work)
        except NotPositiveDefinite:
            return None
        with quiet():  # an overflow is the caller's to report (`check_range` on the errors)
            return np.mean(np.square(R - A @ W), axis=0)

    with _one_blas_thread(), \
            ThreadPoolExecutor(_threads(n_folds * lambdas.size, order_bytes)) as pool:
        # First in, first out, with each fold's preparation queued one fold ahead of its solves: a solve only waits
        # for a preparation that has started, and the next fold is prepared while this one's solves run.
        def solves(fold: Future) -> list[Future]:
            return [pool.submit(solve, fold, lam) for lam in lambdas]

        parts = {0: pool.submit(fold_parts, 0)}
        tasks = []
        for i in range(n_folds):
            if i + 1 < n_folds:
                parts[i + 1] = pool.submit(fold_parts, i + 1)
            tasks.append(solves(parts.pop(i)))  # the fold is held by its solves only, so freed after them
        out: list[np.ndarray | None] = []
        try:
            for row in tasks:
                errs = [e for e in (t.result() for t in row) if e is not None]
                out.append(np.stack(errs) if len(errs) == len(row) else None)
        except BaseException:  # an error or Ctrl-C: drop the queued tasks instead of running them to the end
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


def fold_blocks(X0: np.ndarray, Y0: np.ndarray, fsets: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each fold's Gram block Xv^T Xv and cross product Xv^T Yv on the NumPy engine.

    The Grams (syrk) run one fold per task on a pool of one thread per core, each on one BLAS thread (the same bits as
    on all threads), the cross products after them on all threads (OpenBLAS's GEMM rounds differently on one thread).

    Args:
      X0: [n, d] features; Y0: [n, T] targets.
      fsets: each fold's validation row indices (int arrays).

    Returns:
      A list, one (Gv [d, d], Cv [d, T]) pair per fold, in `fsets` order.
    """

    def gram(v: np.ndarray) -> np.ndarray:
        Xv = X0[v]
        with quiet():  # an overflow is the caller's to report (`check_range` on the Gram)
            return Xv.T @ Xv

    with _one_blas_thread(), ThreadPoolExecutor(min(_cores(), len(fsets))) as pool:
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


def prep_primal(X0: EngineArray, Y0: EngineArray, G: EngineArray, C: EngineArray, Gv: EngineArray, Cv: EngineArray,
                val: EngineArray, xla: bool) -> tuple[EngineArray, EngineArray, EngineArray, EngineArray]:
    """A fold's training system and validation data from the full and validation cross products.

    The training Gram and cross product are centred on the training mean (X0, Y0 globally centred so their full sums
    are 0).

    Args:
      X0, Y0: [n, d] features and [n, T] targets, globally centred.
      G, C: the full Gram X0^T X0 [d, d] and cross product X0^T Y0 [d, T].
      Gv, Cv: the same of the fold's validation rows.
      val: [n_val] int indices of the validation rows.
      xla: the JAX engine (jnp) rather than NumPy.

    Returns:
      (S [d, d] training Gram, C [d, T] training cross product, A [n_val, d] centred validation features, R [n_val, T]
      residual validation targets), all centred on the training mean.
    """
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


def prep_dual(K: EngineArray, Y0: EngineArray, tr: EngineArray, val: EngineArray,
              xla: bool) -> tuple[EngineArray, EngineArray, EngineArray, EngineArray]:
    """A fold's centred kernel blocks and targets (sub-blocks of the full kernel K).

    Args:
      K: [n, n] full kernel X0 X0^T.
      Y0: [n, T] globally centred targets.
      tr, val: int indices of the training [n_tr] and validation [n_val] rows.
      xla: accepted for the engines' common signature (the same operations on both).

    Returns:
      (Kc [n_tr, n_tr] centred training kernel, [n_tr, T] centred training targets, Kvc [n_val, n_tr] centred
      validation kernel, [n_val, T] validation residual targets), centred on the training mean.
    """
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


def shifted_solve(S: np.ndarray, C: np.ndarray, lam: float | np.floating | np.ndarray) -> np.ndarray:
    """(S + lam I)^{-1} C for S symmetric PSD (NumPy/SciPy).

    Cholesky for a scalar lam; for per-column lambdas lam [T], one Cholesky per distinct value (on a thread pool,
    `_solve_per_value`) while they cost less than one eigen-decomposition by `route_costs`' count (fewer than
    3 * EIGH_FLOPS_PER_CUBE values), else one eigen-decomposition. Any Cholesky breakdown falls back to the eigen route.

    Args:
      S: [r, r] symmetric PSD, float32 or float64.
      C: [r, T], S's dtype.
      lam: a scalar, or [T] one per column of C.

    Returns:
      [r, T] solution, S's dtype.
    """
    try:
        if np.ndim(lam) == 0:
            return _chol_solve(S, lam, C, False)
        values = np.unique(lam)
        if values.size < 3 * EIGH_FLOPS_PER_CUBE:
            return _solve_per_value(S, C, np.asarray(lam), values)
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

    with _one_blas_thread(), ThreadPoolExecutor(_threads(values.size, S.nbytes)) as pool:
        list(pool.map(one, range(values.size)))
    return W


def fit_numpy(X: np.ndarray, Y: np.ndarray, lam: float | np.floating | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ridge fit with intercept on the NumPy/SciPy engine (primal d x d system if d <= n, else dual n x n).

    Args:
      X: [n, d] features; Y: [n, T] targets (one float dtype).
      lam: a scalar penalty, or [T] one per target.

    Returns:
      (W [d, T], b [T]): predictions are X @ W + b.

    Raises:
      InputError: a Gram / kernel or weights that overflowed X's dtype (`ridge_checks.check_range`).
    """
    dual, dtype = X.shape[0] < X.shape[1], np.dtype(X.dtype).name
    with quiet():
        mx, my = X.mean(0), Y.mean(0)
        Xc, Yc = X - mx, Y - my
        S = Xc @ Xc.T if dual else Xc.T @ Xc
        check_range(S, X, Y, dtype, "kernel" if dual else "gram")
        W = Xc.T @ shifted_solve(S, Yc, lam) if dual else shifted_solve(S, Xc.T @ Yc, lam)
        b = my - mx @ W
    check_range((W, b), X, Y, dtype, "weights")
    return W, b


# The JAX engine: the kernels above jitted (one compilation per shape), plus the products done once per call.
JITTED = {name: jax.jit(partial(f, xla=True)) for name, f in (
    ("errors_eig", errors_eig), ("errors_chol", errors_chol), ("prep_primal", prep_primal),
    ("prep_dual", prep_dual), ("chol_solve", _chol_solve), ("eig_solve", _eig_solve))}
JITTED["kernel"] = jax.jit(lambda X0: X0 @ X0.T)
JITTED["center"] = jax.jit(lambda X, Y: (X.mean(0), Y.mean(0), X - X.mean(0), Y - Y.mean(0)))
JITTED["block"] = jax.jit(lambda X0, Y0, val: (X0[val].T @ X0[val], X0[val].T @ Y0[val]))
JITTED["cross"] = jax.jit(lambda X0, Y0: (X0.T @ X0, X0.T @ Y0))


def fit_jax(X: jax.Array, Y: jax.Array, lam: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    """`fit_numpy` on the JAX engine (the Cholesky breakdown check runs outside the jitted functions).

    A scalar lam is solved by Cholesky, falling back to one eigen-decomposition when it is not finite; per-target lam
    [T] always by the eigen-decomposition.

    Args:
      X, Y, lam: as in `fit_numpy`.

    Returns:
      (W [d, T], b [T]) jax arrays.

    Raises:
      InputError: as `fit_numpy`.
    """
    mx, my, Xc, Yc = JITTED["center"](X, Y)
    dual, dtype = X.shape[0] < X.shape[1], np.dtype(X.dtype).name
    S, C = (JITTED["kernel"](Xc), Yc) if dual else JITTED["cross"](Xc, Yc)
    check_range(S, X, Y, dtype, "kernel" if dual else "gram")
    W = None
    if np.ndim(lam) == 0:
        W = JITTED["chol_solve"](S, lam, C)
        if not bool(jnp.all(jnp.isfinite(W))):
            W = None
    if W is None:
        W = JITTED["eig_solve"](S, C, lam)
    if dual:
        W = Xc.T @ W
    b = my - mx @ W
    check_range((W, b), X, Y, dtype, "weights")
    return W, b

