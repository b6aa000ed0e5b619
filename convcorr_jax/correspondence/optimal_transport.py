"""Entropic optimal transport of SCOT (Liu et al. 2020): the Sinkhorn plan in log space (`sinkhorn_log`), node
weights as marginals (`marginal`) and the plan's scores (`ot_scores`; the full description:
`correspondence.matching`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from convcorr_jax.core.errors import check
from convcorr_jax.core.tracing import is_traced
from convcorr_jax.correspondence.match_checks import check_weights

MASS_RTOL = 1e-3  # how far the totals of mu and nu may differ (float32 sums of normalised weights)
# the smallest eps per unit of the largest |cost| (`sinkhorn_log`): potentials of size |cost| / eps held in float32
# (spacing 2^-23 of their size) must keep the plan's rows within MASS_RTOL of mu; 1.2e-4 for costs in [0, 1]
MIN_EPS_PER_COST = 2.0 ** -23 / MASS_RTOL


def sinkhorn_log(cost: jax.Array, mu: jax.Array, nu: jax.Array, eps: float | jax.Array, iters: int = 1
                 ) -> jax.Array:
    """Entropic transport plan by `iters` Sinkhorn iterations in log space from log a = -log Ns.

    Args:
      cost, eps: [Ns, Nt] transport costs (+inf: an impossible pair; each row and column needs a finite one);
        the entropic regularisation (cost units), finite and at least `MIN_EPS_PER_COST` (1.2e-4) x the largest
        finite |cost|: the log-kernel and the potentials log a, log b reach |cost| / eps, which float32 holds only
        to a spacing of |cost| / eps x 2^-23 (in log space: a relative error of that size in the plan's entries);
        its rows keep mu to MASS_RTOL (1e-3) while that spacing is at most MASS_RTOL: eps >= |cost| x 2^-23 /
        MASS_RTOL.
      mu, nu, iters: marginals [Ns], [Nt] (finite, >= 0, each summing to 1: equal totals); Sinkhorn iterations.

    Returns:
      float32 jax array [Ns, Nt] P = diag(a) K diag(b), K = exp(-cost / eps), each iteration b = nu / K^T a then
      a = mu / K b (its rows sum to mu; its columns approach nu as iters grows).

    Raises:
      InputError: concrete (not traced) arguments outside the above: eps <= 0 made a NaN or a plan favouring the
        dearest pairs, an eps below the float32 bound rows far from mu, a NaN marginal or cost, or a row / column of
        only +inf costs made every entry NaN, unequal totals a plan whose columns never approach nu.
    """
    _check_problem("sinkhorn_log", cost, mu, nu, eps)
    return _sinkhorn_log(cost, mu, nu, eps, iters)


def _check_problem(source: str, cost, mu, nu, eps) -> None:
    """InputError for a concrete transport problem `sinkhorn_log` has no plan for (see there); traced ones pass."""
    if not is_traced(eps):
        try:
            val = float(eps)
        except (TypeError, ValueError):
            val = float("nan")
        check(bool(np.isfinite(val) and val > 0), source, "eps", "a finite entropic regularisation > 0", eps)
    totals = []
    for field, m in (("mu", mu), ("nu", nu)):
        if is_traced(m):
            return
        m = np.asarray(m, np.float64)
        check(bool(np.all(np.isfinite(m)) and np.all(m >= 0) and np.sum(m) > 0), source, field,
              "finite marginal weights >= 0, not all 0", m.tolist() if m.size <= 8 else f"{m.size} weights")
        totals.append(float(np.sum(m)))
    check(abs(totals[0] - totals[1]) <= MASS_RTOL * max(totals), source, "nu", f"the total mass of mu "
          f"({totals[0]:g})", f"{totals[1]:g}")
    if is_traced(cost):
        return
    c = np.asarray(cost, np.float64)
    check(not np.any(np.isnan(c) | (c == -np.inf)), source, "cost", "costs that are numbers or +inf (no NaN, -inf)",
          f"{int(np.sum(np.isnan(c) | (c == -np.inf)))} such entries")
    for axis, name in ((1, "row"), (0, "column")):
        dead = np.flatnonzero(~np.any(np.isfinite(c), axis=axis))
        check(dead.size == 0, source, "cost", f"a finite cost in every {name}",
              f"{name} {int(dead[0]) if dead.size else 0} all +inf")
    if is_traced(eps):
        return
    check_eps(eps, source, "eps", float(np.max(np.abs(c[np.isfinite(c)]), initial=0.0)))


def check_eps(eps: float | jax.Array, source: str, field: str, top: float = 1.0) -> None:
    """InputError unless the entropic regularisation `eps` is at least `MIN_EPS_PER_COST` x `top`, the bound
    `sinkhorn_log` states, in the one wording every check of it uses.

    Args:
      eps: the entropic regularisation (cost units), a number (checked finite and > 0 before).
      source, field: the function or config and its argument or field the error names ("MatchConfig", "eps").
      top: the largest finite |cost| of the problem (cost units); 1 for costs 1 - similarity, in [0, 1].

    Returns:
      None.

    Raises:
      InputError: eps below `MIN_EPS_PER_COST` x top: float32 potentials of size top / eps would lose the plan's
        marginals (`sinkhorn_log`).
    """
    bound = MIN_EPS_PER_COST * top
    check(float(eps) >= bound, source, field, f"an entropic regularisation >= {bound:.3g} ({MIN_EPS_PER_COST:.3g} "
          f"x the largest |cost|, {top:g}: below it float32 loses the transport plan's marginals)", eps)


@functools.partial(jax.jit, static_argnames=("iters",))
def _sinkhorn_log(cost: jax.Array, mu: jax.Array, nu: jax.Array, eps: float | jax.Array, iters: int = 1
                  ) -> jax.Array:
    """`sinkhorn_log` of a checked problem, jitted."""
    logk = -cost.astype(jnp.float32) / eps
    lmu = jnp.log(mu.astype(jnp.float32))
    lnu = jnp.log(nu.astype(jnp.float32))
    la0 = jnp.full(cost.shape[0], -jnp.log(cost.shape[0]), jnp.float32)

    def step(_, ab):
        la, _lb = ab
        lb = lnu - logsumexp(logk + la[:, None], axis=0)
        la = lmu - logsumexp(logk + lb[None, :], axis=1)
        return la, lb

    la, lb = jax.lax.fori_loop(0, iters, step, (la0, jnp.zeros(cost.shape[1], jnp.float32)))
    return jnp.exp(la[:, None] + logk + lb[None, :])


def marginal(weights: jax.Array) -> jax.Array:
    """Node weights -> a probability vector (negative weights count as 0).

    Args:
      weights: [N] node weights >= 0, not all 0.

    Returns:
      float32 jax array [N] summing to 1.

    Raises:
      InputError: concrete weights with a NaN / inf or no entry > 0 (every entry was NaN); traced ones pass.
    """
    check_weights("marginal", "weights", weights)
    w = jnp.maximum(weights.astype(jnp.float32), 0.0)
    return w / jnp.sum(w)


def ot_scores(sim: jax.Array, mu: jax.Array, nu: jax.Array, eps: float = 0.05, iters: int = 1,
              exp2: float = 0.5) -> jax.Array:
    """SCOT's scores (Ns * P)^exp2, P the entropic plan (`sinkhorn_log`) for the cost 1 - sim.

    Args:
      sim, mu, nu: similarities [Ns, Nt] in [0, 1]; marginals [Ns], [Nt].
      eps, iters, exp2: the entropic regularisation, Sinkhorn iterations, the exponent on the rescaled plan.

    Returns:
      float32 jax array [Ns, Nt] scores.

    Raises:
      InputError: as `sinkhorn_log` (the cost 1 - sim).
    """
    plan = sinkhorn_log(1.0 - sim, mu, nu, eps, iters)
    return jnp.power(jnp.maximum(plan * sim.shape[0], 0.0), exp2)
