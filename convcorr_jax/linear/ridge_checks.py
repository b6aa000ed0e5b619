"""The input and range checks of the ridge fits and their cross-validation (`convcorr_jax.linear.ridge`,
`convcorr_jax.linear.ridge_kernels`). NaN or inf in the inputs is refused with a count
(`core.errors.check_finite_entries`); finite features or targets too large for the dtype (float32, about 1e17 and up)
overflow the Gram / kernel, the weights or the CV errors. A Cholesky or eigen solve of an overflowed Gram returns
zeros or NaN (or fails with LinAlgError), and NaN CV errors would choose the first lambda, so every route checks what
it computed, outside the jitted functions, and refuses it with one InputError; numpy's overflow warnings on the way
are silenced (`quiet`), so the error is all the user sees.
"""

from __future__ import annotations

from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, check, check_finite_entries, check_shape

__all__ = ["check_range", "quiet"]

_WHAT = {"gram": "the Gram X^T X of the centred X is", "kernel": "the kernel X X^T of the centred X is",
         "weights": "the ridge weights W, b are"}


def quiet() -> np.errstate:
    """numpy's floating-point overflow and invalid-value warnings off (a context manager, this thread only): an
    overflow is reported by `check_range` instead.

    Returns:
      The `np.errstate` context manager.
    """
    return np.errstate(over="ignore", invalid="ignore")


def _finite(values) -> bool:
    """Whether every entry of an array (numpy or jax) or of a tuple of arrays is finite."""
    if isinstance(values, tuple):
        return all(_finite(v) for v in values)
    return bool(jnp.all(jnp.isfinite(values))) if isinstance(values, jax.Array) else bool(np.isfinite(values).all())


def check_range(values: np.ndarray | jax.Array | tuple[np.ndarray | jax.Array, ...], X: npt.ArrayLike, Y: npt.ArrayLike,
                dtype: str, kind: str) -> None:
    """InputError when `values` are not finite although X and Y are: `dtype` overflowed.

    Args:
      values: what the route computed from X, Y: kind "gram" [d, d] / "kernel" [n, n] of the centred X, "weights"
        (W [d, T], b [T]), or "errors" [L, T] (the CV errors per lambda); numpy or jax arrays.
      X: [n, d] the features; Y: [n, T] the targets (only their largest magnitudes go into the message).
      dtype: the precision the route ran in, "float32" or "float64".
      kind: "gram", "kernel", "weights" or "errors".

    Returns:
      None; raises InputError (field "X" for a Gram / kernel, "X, Y" otherwise) naming the largest magnitudes and
      the remedy (rescale, or dtype='float64').
    """
    # a Gram / kernel of finite X is finite when its diagonal is (|S_ij| <= sqrt(S_ii S_jj), Cauchy-Schwarz, also
    # for the partial sums of the products): d or n entries read, no [d, d] temporary; it is one array, not a tuple
    if _finite(cast("np.ndarray | jax.Array", values).diagonal() if kind in ("gram", "kernel") else values):
        return
    big_x = f"largest |X| {np.abs(np.asarray(X)).max():.3g}"
    field, sizes = ("X", big_x) if kind in ("gram", "kernel") else \
        ("X, Y", f"{big_x}, |Y| {np.abs(np.asarray(Y)).max():.3g}")
    what = _WHAT.get(kind) or \
        f"the CV errors of {int(np.sum(~np.isfinite(values).all(1)))} of {len(values)} lambdas are"
    remedy = f"rescale {field.replace(', ', ' and ')}" + ("" if dtype == "float64" else ", or use dtype='float64'")
    raise InputError("ridge", field, remedy, message=f"field '{field}': {what} not finite: {dtype} overflowed "
                     f"({sizes}); {remedy}")


def _check_xy(X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    """X [n, d] and Y (a [n] Y as [n, 1]) as numpy arrays, refused with InputError unless finite real numbers of
    matching rows (n >= 2, d >= 1); and whether Y was [n]."""
    X, Y = np.asarray(X), np.asarray(Y)
    dims = check_shape(X, "n>=2 d>=1", "ridge", "X", dtype="int | float | bool", note="(samples x features)")
    check_shape(Y, "n | n T>=1", "ridge", "Y", {"n": dims["n"]}, dtype="int | float | bool",
                note="(a row per row of X)")
    for name, a in (("X", X), ("Y", Y)):
        check_finite_entries(a, "ridge", name)
    squeeze = Y.ndim == 1
    return X, (Y[:, None] if squeeze else Y), squeeze


def _check_lambdas(lam: npt.ArrayLike, name: str = "lam") -> np.ndarray:
    """`lam` as float64 numpy (its shape kept), refused with InputError unless non-empty, finite and > 0."""
    lam = np.asarray(lam, np.float64)
    check(bool(lam.size >= 1 and np.all(np.isfinite(lam)) and np.all(lam > 0)), "ridge", name, "finite lambdas > 0",
          lam)
    return lam
