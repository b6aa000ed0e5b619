"""Batched linear SVMs in JAX: many binary problems over one shared feature matrix, solved at once.

Problem m (a one-vs-all class, a keypoint type, a CV fold x C pair...) is

    min_w  0.5 ||w||^2 + C_m * sum_i mask[m, i] * loss(y[m, i] * w . x~_i),   x~_i = [x_i, bias_scale]

with loss = squared hinge max(0, 1 - z)^2 (default, LinearSVC's "squared_hinge") or hinge max(0, 1 - z).
As in LIBLINEAR/LinearSVC the bias is the weight of a constant feature `bias_scale` and is regularised.

Solvers (both jit-compiled, vmapped over problems, so X is read once per step for all problems):
  * "newton" (squared hinge): primal truncated Newton; the Newton direction is solved by conjugate gradients
    with Hessian-vector products I + 2C X_A^T X_A (A = margin violators), then an Armijo backtracking step.
    Stops when ||grad|| <= tol * ||grad at w = 0|| (default tol 1e-5), after `max_iter` Newton steps, or when float32
    rounding stalls it (no Armijo step, or a step lowering neither the objective nor ||grad||: badly scaled or
    offset features); `fit_binary(..., return_info=True)` reports which problems converged and which stalled.
  * "dcd" (hinge or squared hinge): LIBLINEAR's dual coordinate descent (Hsieh et al. 2008), one pass over a
    random permutation per epoch; stops when the projected-gradient spread max PG - min PG <= tol (LIBLINEAR's
    rule) or after `max_iter` epochs.

Units: C multiplies a *sum* over samples, so the right C shrinks with N and with the squared feature norm;
the paper's C = 1e-6 is for unnormalised Caffe conv features (norms in the hundreds to thousands).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal, Sequence, overload

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import check, check_shape, is_int
from convcorr_jax.linear.svm_checks import check_Cs, check_classes, check_fit, check_kw, check_mining, check_solved
from convcorr_jax.linear.svm_solvers import _HI, _dcd_batched, _newton_batched


@dataclasses.dataclass(frozen=True)
class LinearSVM:
    """Weights W [M, D], biases b [M] (already multiplied by bias_scale); scores = X @ W.T + b."""

    W: np.ndarray
    b: np.ndarray
    classes: np.ndarray | None = None  # label of each row of W (one-vs-all), else None

    def decision_function(self, X) -> np.ndarray:
        """Scores [N, M] for features X [N, D] (InputError when X is not [N, D] with the model's D)."""
        check_shape(X, "N D", "model", "X", {"D": np.shape(self.W)[1]}, note="(features like the training rows)")
        return np.asarray(decision_function(self.W, self.b, jnp.asarray(X, jnp.float32)))

    def predict(self, X) -> np.ndarray:
        """One-vs-all prediction: the class with the largest score, [N] (InputError for a row whose scores are not
        finite, a NaN or inf feature: it has no largest score, as scikit-learn refuses it)."""
        check(self.classes is not None, "model", "classes", "a one-vs-all model (fit_ova)")
        scores = self.decision_function(X)
        bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
        check(bad.size == 0, "model", "X", "finite feature rows (a row with NaN or inf has no class)",
              f"{bad.size} rows with non-finite scores, the first row {bad[:1].tolist()}")
        return np.asarray(self.classes)[np.argmax(scores, axis=1)]


@jax.jit
def decision_function(W: jax.Array, b: jax.Array, X: jax.Array) -> jax.Array:
    """X [N, D] -> scores [N, M] (jit-compiled, HIGHEST matmul precision).

    Args:
      W: [M, D] weights, one row per problem.
      b: [M] biases (already multiplied by bias_scale).
      X: [N, D] features.

    Returns:
      jax [N, M] scores X @ W.T + b.
    """
    return jnp.dot(X, W.T, precision=_HI) + b[None, :]


# ------------------------------------------------------------------------------------------------ public API
_Info = dict[str, np.ndarray]  # fit_binary's report (return_info): "iterations", "residual", "converged", "stalled"


@overload
def fit_binary(X: npt.ArrayLike, Y: npt.ArrayLike, C: npt.ArrayLike = ..., mask: npt.ArrayLike | None = ...,
               loss: str = ..., solver: str | None = ..., tol: float | None = ..., max_iter: int | None = ...,
               bias_scale: float = ..., key: jax.Array | None = ...,
               return_info: Literal[False] = ...) -> LinearSVM: ...
@overload
def fit_binary(X: npt.ArrayLike, Y: npt.ArrayLike, C: npt.ArrayLike = ..., mask: npt.ArrayLike | None = ...,
               loss: str = ..., solver: str | None = ..., tol: float | None = ..., max_iter: int | None = ...,
               bias_scale: float = ..., key: jax.Array | None = ..., *,
               return_info: Literal[True]) -> tuple[LinearSVM, _Info]: ...
@overload
def fit_binary(X: npt.ArrayLike, Y: npt.ArrayLike, C: npt.ArrayLike = ..., mask: npt.ArrayLike | None = ...,
               loss: str = ..., solver: str | None = ..., tol: float | None = ..., max_iter: int | None = ...,
               bias_scale: float = ..., key: jax.Array | None = ...,
               return_info: bool = ...) -> LinearSVM | tuple[LinearSVM, _Info]: ...
def fit_binary(X: npt.ArrayLike, Y: npt.ArrayLike, C: npt.ArrayLike = 1e-6, mask: npt.ArrayLike | None = None,
               loss: str = "squared_hinge", solver: str | None = None, tol: float | None = None,
               max_iter: int | None = None, bias_scale: float = 1.0, key: jax.Array | None = None,
               return_info: bool = False) -> LinearSVM | tuple[LinearSVM, _Info]:
    """Solve M binary SVMs sharing X.

    Args:
      X: features [N, D], finite. Y: labels [M, N] in {-1, +1} (or [N] for one problem).
      C: finite > 0, scalar or [M] (per problem). mask: [M, N] {0, 1} (or bool), which samples each problem uses
        ([N]: the same for all).
      loss: "squared_hinge" (default) or "hinge". solver: "newton" (squared hinge only, default for it) or
        "dcd" (default for hinge). tol: stopping tolerance (newton: relative gradient norm, default 1e-5;
        dcd: projected-gradient spread, default 1e-3). max_iter: Newton steps (default 50) / DCD epochs (1000).
      bias_scale: value of the constant feature carrying the (regularised) bias; 0 = no bias.
      key: PRNG key for the DCD sample order (default PRNGKey(0)).
      return_info: also return the solver's report (below).
    Returns:
      LinearSVM with W [M, D], b [M] (or [1, D], [1] for 1-D Y); with return_info also a dict of [M] arrays:
      "iterations" (Newton steps / DCD epochs), "residual" (the stopping quantity at the end), "converged"
      (residual <= tol) and "stalled" (newton only: stopped early because float32 could lower neither the objective
      nor the gradient any further; the residual stays above tol, the weights are the last improving iterate).

    Raises:
      InputError: X not [N >= 1, D >= 1] or not finite, Y not [M, N] in {-1, +1}, mask not [M, N] or [N] of 0 / 1,
        C not a scalar or [M] finite > 0, bias_scale not a finite number, tol not a finite number >= 0, max_iter not
        an int >= 1, an unknown loss or solver (`svm_checks.check_fit`); features or C so large that the solve
        overflowed float32 (`svm_checks.check_solved`: NaN weights, or zeros with a NaN residual, were returned).
    """
    X, Y, mask, Cs, solver = check_fit(X, Y, C, mask, loss, solver, tol, bias_scale, max_iter)
    m = Y.shape[0]
    Xa = X if bias_scale == 0 else np.concatenate([X, np.full((X.shape[0], 1), bias_scale, np.float32)], 1)
    # pad problems and samples to bucketed sizes (masked out) so that repeated calls reuse one compilation
    n0, m0 = X.shape[0], m
    n1, m1 = _bucket(n0), 1 << max(0, (m0 - 1).bit_length())
    if (n1, m1) != (n0, m0):
        Xa = np.pad(Xa, ((0, n1 - n0), (0, 0)))
        Y = np.pad(Y, ((0, m1 - m0), (0, n1 - n0)), constant_values=-1.0)
        mask = np.pad(mask, ((0, m1 - m0), (0, n1 - n0)))
        Cs = np.pad(Cs, (0, m1 - m0), constant_values=1.0)
    if solver == "newton":
        tol = 1e-5 if tol is None else tol
        W, it, res, stalled = _newton_batched(Xa, Y, mask, Cs, jnp.float32(tol), int(max_iter or 50), 100)
    else:
        tol, max_iter = (1e-3 if tol is None else tol), int(max_iter or 1000)
        key = jax.random.PRNGKey(0) if key is None else key
        n = Xa.shape[0]
        perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, max_iter)).astype(jnp.int32)
        W, it, res = _dcd_batched(Xa, Y, mask, Cs, perms, loss == "hinge", jnp.float32(tol), max_iter)
        stalled = np.zeros(len(Cs), bool)
    W, it, res, stalled = (np.asarray(a)[:m0] for a in (W, it, res, stalled))
    check_solved(W, res, X, Cs, "fit_binary")
    model = LinearSVM(W[:, :-1], W[:, -1] * bias_scale) if bias_scale else LinearSVM(W, np.zeros(m, np.float32))
    if return_info:
        return model, {"iterations": it, "residual": res, "converged": res <= np.float32(tol), "stalled": stalled}
    return model


def _bucket(n: int) -> int:
    """n rounded up to a power of two below 4096, else to a multiple of 4096."""
    if n <= 4096:
        return 1 << max(0, (n - 1).bit_length())
    return -(-n // 4096) * 4096


def _ova_labels(labels, classes):
    labels = np.asarray(labels)
    return np.where(labels[None, :] == np.asarray(classes)[:, None], 1.0, -1.0).astype(np.float32)


@overload
def fit_ova(X: npt.ArrayLike, labels: npt.ArrayLike, C: npt.ArrayLike = ..., classes: npt.ArrayLike | None = ...,
            return_info: Literal[False] = ..., **kw: Any) -> LinearSVM: ...
@overload
def fit_ova(X: npt.ArrayLike, labels: npt.ArrayLike, C: npt.ArrayLike = ..., classes: npt.ArrayLike | None = ..., *,
            return_info: Literal[True], **kw: Any) -> tuple[LinearSVM, _Info]: ...
@overload
def fit_ova(X: npt.ArrayLike, labels: npt.ArrayLike, C: npt.ArrayLike = ..., classes: npt.ArrayLike | None = ...,
            return_info: bool = ..., **kw: Any) -> LinearSVM | tuple[LinearSVM, _Info]: ...
def fit_ova(X: npt.ArrayLike, labels: npt.ArrayLike, C: npt.ArrayLike = 1e-6, classes: npt.ArrayLike | None = None,
            return_info: bool = False, **kw: Any) -> LinearSVM | tuple[LinearSVM, _Info]:
    """One-vs-all SVMs for integer/str labels [N], all classes solved at once.

    Args:
      X: [N, D] features (cast to float32).
      labels: [N] class labels (ints or strings).
      C: scalar, or [K] one per class.
      classes: the K classes, one problem each, in this order (default: the sorted distinct labels; at least 2,
        distinct: a repeated class is refused, not fitted twice). Samples whose label is not among them are negatives
        of every problem.
      return_info: also return `fit_binary`'s solver report, one entry per class.
      **kw: see `fit_binary` (mask, loss, solver, tol, max_iter, bias_scale, key).

    Returns:
      `LinearSVM` with W [K, D], b [K] and `classes` [K] (so `predict` works); with return_info (model, info).

    Raises:
      InputError: for labels not [N], classes not [K] distinct, fewer than 2 classes, or `fit_binary`'s checks.
    """
    labels, classes = check_classes(labels, classes, np.shape(X)[0])
    model, info = fit_binary(X, _ova_labels(labels, classes), C=C, return_info=True, **kw)
    model = dataclasses.replace(model, classes=classes)
    return (model, info) if return_info else model


def _stratified_folds(labels, n_folds: int, key: jax.Array) -> np.ndarray:
    """Fold id [N] in 0..n_folds-1: each class's samples shuffled and dealt round-robin.

    The dealing continues across classes (in sorted class order), so fold sizes differ by at most 1 and each class's
    count per fold by at most 1.

    Args:
      labels: [N] class labels.
      n_folds: number of folds (>= 1).
      key: a `jax.random` key; it seeds the numpy shuffle.

    Returns:
      int32 [N] fold id of each sample.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))
    fold = np.empty(len(labels), np.int32)
    start = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        fold[idx] = (np.arange(len(idx)) + start) % n_folds
        start += len(idx)
    return fold


def cross_validate(X: npt.ArrayLike, labels: npt.ArrayLike, Cs: Sequence[float] | np.ndarray, n_folds: int = 5,
                   key: jax.Array | None = None, source: str = "training set", **kw: Any) -> dict:
    """k-fold CV accuracy of one-vs-all SVMs for each C; all folds x Cs x classes in one batched solve.

    Fallback when a class has fewer than `n_folds` samples: the folds drop to its count (at least 2), with a warning;
    a class of a single sample makes CV impossible: InputError (callers then keep their default C).

    Args:
      X: [N, D] features (cast to float32).
      labels: [N] class labels (at least 2 classes).
      Cs: [nC] the C values to compare (a list or 1-D array of finite numbers > 0; a scalar is refused).
      n_folds: number of stratified folds (`_stratified_folds`), an int >= 2.
      key: `jax.random` key of the fold split (default PRNGKey(0)); `fit_binary`'s DCD key goes in `kw`.
      source: the name warnings and errors give to the data.
      **kw: passed to `fit_binary` (loss, solver, tol, max_iter, bias_scale, key).

    Returns:
      {"C": float32 [nC], "accuracy": [nC] mean over folds, "fold_accuracy": [nC, folds] (fraction of the fold's
      samples classified correctly), "best_C": float, the first C of highest mean accuracy, "n_folds": the folds used}.

    Raises:
      InputError: Cs not [nC >= 1] finite > 0, n_folds not an int >= 2, labels not [N], < 2 classes, a one-sample
        class, C / mask / return_info in kw; fit_binary's checks.
    """
    X = jnp.asarray(X, jnp.float32)
    labels = np.asarray(labels)
    check_kw(kw, source, ("return_info", "C", "mask"), "cross_validate sets them; a solver report: fit_binary")
    check(is_int(n_folds, 2), source, "n_folds", "an int >= 2", n_folds)
    check_shape(labels, "N", source, "labels", {"N": X.shape[0]}, note="(one label per row of X)")
    Cs = check_Cs(Cs, source)
    classes, counts = np.unique(labels, return_counts=True)
    check(len(classes) >= 2, source, "labels", "at least 2 classes for cross-validation", len(classes))
    if counts.min() < n_folds:
        check(counts.min() >= 2, source, "samples per class",
              f"at least 2 samples of every class for cross-validation (class {classes[counts.argmin()]!r})",
              int(counts.min()))
        warnings.warn(f"{source}: class {classes[counts.argmin()]!r} has {counts.min()} samples < {n_folds} folds; "
                      f"using {counts.min()}-fold cross-validation", stacklevel=2)
        n_folds = int(counts.min())
    key = jax.random.PRNGKey(0) if key is None else key
    fold = _stratified_folds(labels, n_folds, key)
    ylab = _ova_labels(labels, classes)  # [K, N]
    k = len(classes)
    # problems ordered (C, fold, class)
    Y = np.tile(ylab, (len(Cs) * n_folds, 1))
    train = (fold[None, :] != np.arange(n_folds)[:, None]).astype(np.float32)  # [F, N]
    M = np.repeat(np.tile(train, (len(Cs), 1)), k, axis=0)
    Cvec = np.repeat(Cs, n_folds * k)
    model = fit_binary(X, Y, C=Cvec, mask=M, **kw)
    scores = np.asarray(decision_function(jnp.asarray(model.W), jnp.asarray(model.b), X))  # [N, P]
    scores = scores.reshape(len(X), len(Cs), n_folds, k)
    pred = classes[np.argmax(scores, axis=-1)]  # [N, nC, F]
    acc = np.zeros((len(Cs), n_folds))
    for f in range(n_folds):
        te = fold == f
        acc[:, f] = (pred[te, :, f] == labels[te, None]).mean(axis=0)
    mean = acc.mean(axis=1)
    return {"C": Cs, "accuracy": mean, "fold_accuracy": acc, "best_C": float(Cs[int(np.argmax(mean))]),
            "n_folds": n_folds}


def mine_hard_negatives(X: npt.ArrayLike, positives: npt.ArrayLike, negatives: npt.ArrayLike, C: npt.ArrayLike = 1e-6,
                        initial_negatives: int = 2000, max_rounds: int = 5, max_negatives: int | None = None,
                        key: jax.Array | None = None, **kw: Any) -> tuple[LinearSVM, dict]:
    """Train M detectors with hard-negative mining over a shared candidate matrix X [N, D].

    Round 0 trains on all positives and a random subset of `initial_negatives` negatives per problem; each round adds
    every negative not yet in the working set whose score is > -1 (inside the margin: a hard negative), the highest
    scores first under the cap; stops when a round adds none (converged), after `max_rounds`, or when `max_negatives`
    are in use.

    Args:
      X: [N, D] candidate features (cast to float32).
      positives, negatives: [M, N] of 0 / 1 (bool, int or float; a sample may be neither: ignored; a positive is
        never a negative).
      C: scalar or [M], as in `fit_binary`.
      initial_negatives: negatives per problem in round 0 (all when fewer), an int >= 0.
      max_rounds: mining rounds after round 0 (at most max_rounds + 1 fits), an int >= 0.
      max_negatives: cap on a problem's working negatives that rounds add to, an int >= 0 (None: no cap; round 0 is
        not capped).
      key: `jax.random` key seeding round 0's subset (None: seed 0).
      **kw: passed to `fit_binary` (loss, solver, tol, max_iter, bias_scale; its DCD key stays the default).

    Returns:
      (LinearSVM with M rows, info dict: "rounds": mining rounds run, "negatives_used": int [M] working negatives,
      "new_hard_negatives": list of hard negatives added per round, all problems together).

    Raises:
      InputError: for positives/negatives not [M, N] of 0 / 1, a detector without positives, a count above not an
        int >= 0, mask or return_info in kw (`svm_checks.check_mining`); fit_binary's checks.
    """
    X = jnp.asarray(X, jnp.float32)
    check_kw(kw, "mine_hard_negatives", ("return_info", "mask"), "mining sets the mask; a solver report: fit_binary")
    pos, neg = check_mining(positives, negatives, X.shape[0], max_rounds, initial_negatives, max_negatives)
    rng = np.random.default_rng(0 if key is None else int(jax.random.randint(key, (), 0, 2**31 - 1)))
    work = np.zeros_like(neg)
    for m in range(neg.shape[0]):
        idx = np.flatnonzero(neg[m])
        take = idx if len(idx) <= initial_negatives else rng.choice(idx, initial_negatives, replace=False)
        work[m, take] = True
    Y = np.where(pos, 1.0, -1.0).astype(np.float32)
    history = []
    for rnd in range(max_rounds + 1):
        model = fit_binary(X, Y, C=C, mask=(pos | work).astype(np.float32), **kw)
        if rnd == max_rounds:
            break
        scores = np.asarray(decision_function(jnp.asarray(model.W), jnp.asarray(model.b), X)).T  # [M, N]
        hard = neg & ~work & (scores > -1.0)
        if max_negatives is not None:
            room = np.maximum(max_negatives - work.sum(1), 0)
            for j in np.flatnonzero(hard.sum(1) > room):
                idx = np.flatnonzero(hard[j])
                keep = idx[np.argsort(-scores[j, idx], kind="stable")[: room[j]]]
                hard[j] = False
                hard[j, keep] = True
        n_new = int(hard.sum())
        history.append(n_new)
        if n_new == 0:
            break
        work |= hard
    return model, {"rounds": len(history), "new_hard_negatives": history, "negatives_used": work.sum(1)}
