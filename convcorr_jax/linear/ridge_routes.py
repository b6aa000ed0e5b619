"""The four exact routes of ridge cross-validation (`convcorr_jax.linear.ridge`) and the flop-count rule that
chooses among them.

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
"""

from __future__ import annotations

from typing import Sequence

from convcorr_jax.core.errors import check

ROUTES: tuple[str, ...] = ("eig", "chol", "dual", "dual-chol")
METHODS: tuple[str, ...] = ("auto",) + ROUTES
EIGH_FLOPS_PER_CUBE = 4.0  # flops of a symmetric eigen-decomposition with eigenvectors, per (order)^3


def check_method(method: str) -> str:
    """`method` itself when it is one of METHODS; InputError otherwise.

    Args:
      method: "auto" or a route of ROUTES.

    Returns:
      str `method`, unchanged.
    """
    check(method in METHODS, "ridge", "method", f"one of {METHODS}", method)
    return method


# ----------------------------------------------------------------------------------------------- route choice


def route_costs(n: int, d: int, n_targets: int, n_lambdas: int, val_sizes: Sequence[int]) -> dict[str, float]:
    """Flop count of each CV route (see the module docstring).

    Args:
      n, d: samples and features.
      n_targets, n_lambdas: targets T and lambdas L.
      val_sizes: each fold's number of validation rows.

    Returns:
      {route: flops} as floats, for every route of ROUTES.
    """
    t, L, e = float(n_targets), float(n_lambdas), EIGH_FLOPS_PER_CUBE
    N, D = float(n), float(d)
    primal, dual = N * D * D + 2 * N * D * t, N * N * D  # Gram and cross product / full kernel, once
    cost = {"eig": primal, "chol": primal, "dual": dual, "dual-chol": dual}
    for size in val_sizes:
        nv = float(size)
        nt = N - nv
        cost["eig"] += e * D**3 + 2 * nv * D * D + 2 * D * D * t + L * 2 * nv * D * t
        cost["chol"] += L * (D**3 / 3 + 2 * D * D * t + 2 * nv * D * t)
        cost["dual"] += e * nt**3 + 2 * nv * nt * nt + 2 * nt * nt * t + L * 2 * nv * nt * t
        cost["dual-chol"] += L * (nt**3 / 3 + 2 * nt * nt * t + 2 * nv * nt * t)
    return cost


def choose_route(n: int, d: int, n_targets: int, n_lambdas: int, val_sizes: Sequence[int], method: str = "auto") -> str:
    """The CV route `cv_errors` takes: `method` itself unless "auto", else the cheapest by `route_costs`.

    Ties go to the earlier route in ROUTES.

    Args:
      n, d, n_targets, n_lambdas, val_sizes: as in `route_costs`.
      method: "auto" or a route of ROUTES (InputError for another).

    Returns:
      str, one of ROUTES.
    """
    if check_method(method) != "auto":
        return method
    cost = route_costs(n, d, n_targets, n_lambdas, val_sizes)
    return min(ROUTES, key=lambda r: cost[r])
