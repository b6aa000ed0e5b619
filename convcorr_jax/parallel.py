"""Data parallelism in pmap style, written with `jax.shard_map` over a one-axis `Mesh` ("data").

A per-device step sees its shard of the batch, computes gradients, and averages them across devices with
`lax.pmean(..., "data")`; parameters and optimiser state are replicated. Works unchanged on one CPU device, on
several forced host devices (XLA_FLAGS=--xla_force_host_platform_device_count=8) and on multi-host setups after
`initialize_distributed()`.
"""

from __future__ import annotations

import os
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"


def initialize_distributed() -> bool:
    """Call `jax.distributed.initialize()` when a multi-host environment is configured (coordinator address in
    JAX_COORDINATOR_ADDRESS, or a cluster JAX auto-detects: SLURM, TPU pods). Returns True if initialised."""
    if int(os.environ.get("JAX_NUM_PROCESSES", "1")) > 1 or os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize()
        return True
    return False


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh named "data" over the first `num_devices` devices (default: all, across hosts)."""
    devs = jax.devices()
    n = len(devs) if num_devices is None else num_devices
    if not 1 <= n <= len(devs):
        raise ValueError(f"num_devices must be in 1..{len(devs)}, got {n}")
    return Mesh(np.asarray(devs[:n]), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(AXIS))


def shard_batch(batch, mesh: Mesh):
    """Place a host batch (pytree of arrays with leading batch axis divisible by the device count) on the mesh.

    Single-process only; multi-host input would use `jax.make_array_from_process_local_data`."""
    n = mesh.devices.size
    for x in jax.tree_util.tree_leaves(batch):
        if x.shape[0] % n:
            raise ValueError(f"global batch {x.shape[0]} is not divisible by {n} devices")
    if jax.process_count() > 1:
        s = batch_sharded(mesh)
        return jax.tree_util.tree_map(lambda x: jax.make_array_from_process_local_data(s, np.asarray(x)), batch)
    return jax.device_put(batch, batch_sharded(mesh))


def data_parallel_step(local_step: Callable, mesh: Mesh, donate: bool = False) -> Callable:
    """Wrap `local_step(state, batch) -> (state, metrics)` into a jitted data-parallel step.

    Inside `local_step`, the batch is the device's shard; average gradients with `pmean(grads)` (and metrics)
    before the update so the replicated state stays identical on every device.
    """
    fn = jax.shard_map(local_step, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=(P(), P()), check_vma=False)
    return jax.jit(fn, donate_argnums=(0,) if donate else ())


def pmean(tree):
    """Mean across the "data" axis (call inside a data-parallel step)."""
    return jax.lax.pmean(tree, AXIS)


def psum(tree):
    return jax.lax.psum(tree, AXIS)


def num_shards() -> int:
    """Number of devices along "data" (inside a data-parallel step)."""
    return jax.lax.psum(1, AXIS)
