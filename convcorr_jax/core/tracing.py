"""Whether a function runs inside a caller's `jax.jit`, `jax.vmap` or `jax.grad`: the array functions that check
values (finite, non-empty, > 0) or convert to numpy on concrete input skip that for traced input, where only shapes
are known (docs/library.md, "Inside your own jit").

>>> import jax, jax.numpy as jnp
>>> is_traced(jnp.ones(2)), jax.jit(lambda x: jnp.asarray(is_traced(x)))(jnp.ones(2)).item()
(False, True)
"""

from __future__ import annotations

import jax

__all__ = ["is_traced"]


def is_traced(*values: object) -> bool:
    """Whether any leaf of `values` (arrays, or pytrees of them) is a JAX tracer.

    Args:
      values: anything; pytrees are searched leaf by leaf.

    Returns:
      True inside a caller's jit / vmap / grad for an input that depends on its arguments, else False.
    """
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(values))
