"""Shifted symmetric positive definite solves (S + lam I) X = B through LAPACK potrf/potrs with the GIL released.

SciPy's `scipy.linalg.cho_factor` / `cho_solve` hold the GIL while LAPACK runs, so Python threads cannot factorise
several matrices at once. This module calls the same LAPACK routines (SciPy's Cython LAPACK, `potrf` then `potrs`,
single or double precision) through `ctypes`, which releases the GIL for the duration of each call: a thread pool
then runs one factorisation per core, each on one BLAS thread (see `convcorr_jax.linear.ridge`).

The matrix is handed to LAPACK as a Fortran-ordered copy of S.T, which for a C-ordered S is a plain copy, without
the transposing copy `cho_factor` makes of a C-ordered array; the factorisation reads the lower triangle of S.T,
that is S's upper triangle (S[i, j], i <= j). For an exactly symmetric S the result is bit for bit that of
`scipy.linalg.cho_factor(S, lower=True)` followed by `cho_solve`.
"""

from __future__ import annotations

import ctypes

import numpy as np
from scipy.linalg import cython_lapack

_INT = ctypes.c_int
_PTR = ctypes.c_void_p
_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype, _capsule_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype, _capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]


def _lapack(name: str, n_args: int):
    """The C function `name` of scipy.linalg.cython_lapack as a ctypes function of `n_args` pointer arguments
    (a ctypes foreign call releases the GIL)."""
    capsule = cython_lapack.__pyx_capi__[name]
    address = _capsule_pointer(capsule, _capsule_name(capsule))
    return ctypes.CFUNCTYPE(None, *([_PTR] * n_args))(address)


# potrf(uplo, n, a, lda, info); potrs(uplo, n, nrhs, a, lda, b, ldb, info)
_ROUTINES = {np.dtype(np.float32): (_lapack("spotrf", 5), _lapack("spotrs", 8)),
             np.dtype(np.float64): (_lapack("dpotrf", 5), _lapack("dpotrs", 8))}
_LOWER = ctypes.c_char_p(b"L")


class NotPositiveDefinite(ArithmeticError):
    """The Cholesky factorisation broke down: S + lam I is not numerically positive definite."""


def solve_shifted(S: np.ndarray, lam: float, B: np.ndarray, work: np.ndarray | None = None) -> np.ndarray:
    """X = (S + lam I)^{-1} B for a symmetric positive semi-definite S, by Cholesky (LAPACK potrf/potrs).

    Releases the GIL while LAPACK runs; the number of BLAS threads it uses is the caller's (threadpoolctl).

    Args:
      S: float32 or float64 [r, r], any memory order; its upper triangle S[i, j], i <= j, is read.
      lam: the shift added to S's diagonal.
      B: [r, T] right-hand sides, S's dtype.
      work: an optional Fortran-ordered [r, r] buffer of S's dtype for the factor (overwritten; saves allocating one
        per call).

    Returns:
      X [r, T], S's dtype, Fortran-ordered (a new array; B is not changed).

    Raises:
      NotPositiveDefinite: when the factorisation breaks down.
      TypeError: for S, B not [r, r], [r, T] of one float32/float64 dtype, or a `work` of another shape, dtype or order.
    """
    dtype = np.dtype(S.dtype)
    if dtype not in _ROUTINES or B.dtype != dtype or S.ndim != 2 or S.shape[0] != S.shape[1] or B.ndim != 2 \
            or B.shape[0] != S.shape[0]:
        raise TypeError(f"solve_shifted: S [r, r] and B [r, T] of one float dtype, got {S.shape} {S.dtype}, "
                        f"{B.shape} {B.dtype}")
    if work is not None and (work.shape != S.shape or work.dtype != dtype or not work.flags.f_contiguous):
        raise TypeError(f"solve_shifted: work must be a Fortran-ordered {S.shape} {dtype} array, got {work.shape} "
                        f"{work.dtype}")
    potrf, potrs = _ROUTINES[dtype]
    r = S.shape[0]
    if work is None:
        A = np.array(S.T, order="F")  # a plain copy for C-ordered S (the factor overwrites it)
    else:
        A = work
        np.copyto(A, S.T)
    A.flat[:: r + 1] += lam
    X = np.array(B, order="F")
    n, nrhs, info = _INT(r), _INT(X.shape[1]), _INT(0)
    potrf(_LOWER, ctypes.byref(n), A.ctypes.data, ctypes.byref(n), ctypes.byref(info))
    if info.value != 0:
        raise NotPositiveDefinite(f"leading minor of order {info.value} is not positive")
    if nrhs.value:
        potrs(_LOWER, ctypes.byref(n), ctypes.byref(nrhs), A.ctypes.data, ctypes.byref(n), X.ctypes.data,
              ctypes.byref(n), ctypes.byref(info))
    return X
