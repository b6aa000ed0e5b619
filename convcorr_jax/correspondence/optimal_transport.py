"""Entropic optimal transport of SCOT (Liu et al. 2020): the Sinkhorn plan in log space (`sinkhorn_log`), node
weights as marginals (`marginal`) and the plan's scores (`ot_scores`; the full description:
`correspondence.matching`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp



@functools.partial(jax.jit, static_argnames=("iters",))
def sinkhorn_log(cost: jax.Array, mu: jax.Array, nu: jax.Array, eps: float | jax.Array, iters: int = 1
                 ) -> jax.Array:
    """Entropic transport plan by `iters` Sinkhorn iterations in log space from log a = -log Ns.

    Args:
      cost, eps: [Ns, Nt] transport costs; the entropic regularisation (cost units).
      mu, nu, iters: marginals [Ns], [Nt] (each summing to 1); Sinkhorn iterations.

    Returns:
      float32 jax array [Ns, Nt] P = diag(a) K diag(b), K = exp(-cost / eps), each iteration b = nu / K^T a then
      a = mu / K b (its rows sum to mu; its columns approach nu as iters grows).
    """
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
    """
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
    """
    plan = sinkhorn_log(1.0 - sim, mu, nu, eps, iters)
    return jnp.power(jnp.maximum(plan * sim.shape[0], 0.0), exp2)
