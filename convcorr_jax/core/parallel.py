"""Data parallelism in pmap style, written with `jax.shard_map` over a one-axis `Mesh` ("data"), on one process or
on several (JAX's multi-controller runtime).

A per-device step sees its shard of the batch, computes gradients, and averages them across devices with
`lax.pmean(..., "data")`; parameters and optimiser state are replicated. Works unchanged on one CPU device, on
several forced host devices (XLA_FLAGS=--xla_force_host_platform_device_count=8) and on several processes after
`initialize_distributed()`: the mesh then spans the devices of every process, each process builds only its own
rows of a global batch (`local_rows`) and `shard_batch` assembles the global array with
`jax.make_array_from_process_local_data`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from convcorr_jax.core.errors import InputError, is_int

AXIS = "data"
_Tree = TypeVar("_Tree")  # `pad_rows` gives back the kind of pytree (and arrays: numpy or jax) it was given

# Environment variables a launcher sets for each process (`convcorr launch` sets all three); with them,
# `initialize_distributed` passes explicit arguments to `jax.distributed.initialize` and skips auto-detection.
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
# Set to 1 to let `jax.distributed.initialize()` auto-detect a cluster this module does not recognise (TPU pods,
# Kubernetes, mpi4py).
ENV_AUTO = "CONVCORR_DISTRIBUTED"


def _int_env(name: str, default: int = 0) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _count_env(name: str, value: str, least: int) -> int:
    """The launcher variable `name`'s `value` as an integer >= `least`; InputError naming the variable otherwise
    (not int()'s traceback)."""
    try:
        out = int(value)
    except ValueError:
        out = None
    if out is None or out < least:
        raise InputError("environment", name, f"an integer >= {least}", repr(value))
    return out


def _cluster_detected() -> str | None:
    """Name of a multi-process cluster environment JAX can auto-detect ("slurm", "ompi", "auto"), or None.

    SLURM counts only with more than one task (a one-task `srun`/`sbatch` stays single-process); "auto" is
    CONVCORR_DISTRIBUTED=1 (or true / yes).

    Returns:
      "slurm", "ompi", "auto" or None.
    """
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
    if all(v in os.environ for v in slurm) and _int_env("SLURM_NTASKS") > 1:
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in os.environ and _int_env("OMPI_COMM_WORLD_SIZE") > 1:
        return "ompi"
    if os.environ.get(ENV_AUTO, "").lower() in ("1", "true", "yes"):
        return "auto"
    return None


def _check_address(value: str) -> str:
    """The coordinator address `value` (host:port, port 1..65535); InputError naming JAX_COORDINATOR_ADDRESS
    otherwise (JAX's own parsing fails with an IndexError on an address without a port)."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError("environment", ENV_COORDINATOR, "host:port of process 0's coordinator (port 1..65535)",
                         repr(value))
    return value


def _auto_initialize() -> None:
    """`jax.distributed.initialize()` left to JAX's cluster detection; what it cannot complete is one InputError
    naming the launcher variables that are missing (not JAX's ValueError)."""
    try:
        jax.distributed.initialize()
    except ValueError as e:
        if "must be defined" not in str(e):
            raise
        missing = [v for v in (ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID) if os.environ.get(v) is None]
        raise InputError("environment", " / ".join(missing) or ENV_COORDINATOR,
                         "set (no cluster that JAX detects supplied them)", "unset") from e


def initialize_distributed() -> bool:
    """Join JAX's multi-controller runtime when this process is one of several; returns True if it did.

    1. JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID set (the local launcher, or a hand-made
       multi-node GPU setup): `jax.distributed.initialize` with those explicit arguments;
    2. else a cluster JAX detects itself (SLURM with several tasks, Open MPI, or CONVCORR_DISTRIBUTED=1, or only
       JAX_COORDINATOR_ADDRESS set): `jax.distributed.initialize()` without arguments;
    3. else nothing: a single process (JAX_NUM_PROCESSES above 1 without the coordinator is refused).
    Must run before any other JAX call. Idempotent. When joined, INFO logs of `convcorr_jax` go to stderr
    prefixed with the process index, so every process logs.

    Returns:
      bool: True if the runtime is (now) initialised, False for a single process.

    Raises:
      InputError: JAX_NUM_PROCESSES or JAX_PROCESS_ID that is not a count (an index below the number of processes),
        a JAX_COORDINATOR_ADDRESS that is not host:port, or launcher variables that are set only in part (no cluster
        completes them).
    """
    if jax.distributed.is_initialized():
        return True
    addr = os.environ.get(ENV_COORDINATOR)
    n, pid = os.environ.get(ENV_NUM_PROCESSES), os.environ.get(ENV_PROCESS_ID)
    if addr and n is not None and pid is not None:
        num, index = _count_env(ENV_NUM_PROCESSES, n, 1), _count_env(ENV_PROCESS_ID, pid, 0)
        if num <= 1:
            return False
        if index >= num:
            raise InputError("environment", ENV_PROCESS_ID, f"a process index below {ENV_NUM_PROCESSES} ({num})",
                             pid)
        jax.distributed.initialize(coordinator_address=_check_address(addr), num_processes=num, process_id=index)
    elif addr or _cluster_detected():
        if addr:
            _check_address(addr)
        _auto_initialize()
    elif n is not None and _count_env(ENV_NUM_PROCESSES, n, 1) > 1:  # not a lone process that trains on its own
        raise InputError("environment", ENV_COORDINATOR, f"host:port of process 0's coordinator ({ENV_NUM_PROCESSES}"
                         f" is {n})", "unset")
    else:
        return False
    _log_per_process()
    return True


def _log_per_process() -> None:
    log = logging.getLogger("convcorr_jax")
    if not log.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter(f"[process {jax.process_index()}/{jax.process_count()}] %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False


def is_main_process() -> bool:
    """True on process 0 (the one that prints, writes files and shows progress bars).

    Returns:
      bool.
    """
    return jax.process_index() == 0


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh named "data" over the first `num_devices` devices (default: all, across processes).

    With several processes the mesh must hold every device (each process feeds its own devices).

    Args:
      num_devices: 1 .. len(jax.devices()), or None: all.

    Returns:
      A `Mesh` with the one axis "data".

    Raises:
      InputError (a ValueError): num_devices not an integer in range (a float, a str, a bool), or not all devices
        with several processes.
    """
    devs = jax.devices()
    n = len(devs) if num_devices is None else num_devices
    if not is_int(n, 1) or n > len(devs):
        raise InputError("make_mesh", "num_devices", f"an integer 1..{len(devs)} (the devices JAX sees)", n)
    if jax.process_count() > 1 and n != len(devs):
        raise InputError("make_mesh", "num_devices", f"all {len(devs)} devices (with {jax.process_count()} "
                         "processes the mesh spans every device)", n)
    return Mesh(np.asarray(devs[:n]), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that puts a full copy on every device of `mesh`.

    Args:
      mesh: the mesh.

    Returns:
      NamedSharding(mesh, P()).
    """
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits the leading (batch) axis over the `data` axis of `mesh`.

    Args:
      mesh: the mesh.

    Returns:
      NamedSharding(mesh, P("data")).
    """
    return NamedSharding(mesh, P(AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Replicate host values over every device of the mesh, as global arrays.

    Args:
      tree: pytree of host values identical on every process (numpy, single-device or already replicated arrays).
      mesh: the mesh.

    Returns:
      The same pytree of global jax.Arrays with the `replicated` sharding (leaves already so are kept).
    """
    s = replicated(mesh)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding == s:
            return x
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, s, lambda idx: x[idx])

    return jax.tree_util.tree_map(put, tree)


def local_rows(mesh: Mesh, global_batch: int) -> slice:
    """Rows of a global batch [global_batch, ...] sharded over "data" that this process's devices hold.

    Args:
      mesh: the "data" mesh.
      global_batch: rows of the global batch, a multiple of the mesh's device count.

    Returns:
      One contiguous slice (all rows on a single process).

    Raises:
      ValueError: global_batch not divisible by the device count, or this process's rows not contiguous.
    """
    n = mesh.devices.size
    if global_batch % n:
        raise ValueError(f"global batch {global_batch} is not divisible by {n} devices")
    idx = batch_sharded(mesh).addressable_devices_indices_map((global_batch,))
    starts = []
    for index in idx.values():
        assert index is not None, "a NamedSharding gives every addressable device an index"
        starts.append(index[0].start or 0)
    starts.sort()
    per = global_batch // n
    lo, hi = starts[0], starts[-1] + per
    if hi - lo != per * len(starts):
        raise ValueError(f"process {jax.process_index()} holds non-contiguous rows {starts} of the batch")
    return slice(lo, hi)


def shard_batch(batch: Any, mesh: Mesh, global_batch: int | None = None) -> Any:
    """Place a batch (pytree of arrays with a leading batch axis) on the mesh, sharded over "data".

    Args:
      batch: pytree of arrays [B, ...]: the whole global batch when global_batch is None (every process holds it;
        each keeps its `local_rows`), else only this process's `local_rows(mesh, global_batch)`.
      mesh: the "data" mesh.
      global_batch: the global batch size, or None.

    Returns:
      The pytree of global jax.Arrays [global_batch, ...] with the `batch_sharded` sharding.

    Raises:
      ValueError: leaves that disagree on the batch size, or a local batch of the wrong row count.
    """
    whole = global_batch is None
    if global_batch is None:
        sizes = {x.shape[0] for x in jax.tree_util.tree_leaves(batch)}
        if len(sizes) != 1:
            raise ValueError(f"batch leaves disagree on the batch size: {sorted(sizes)}")
        global_batch = sizes.pop()
    rows = local_rows(mesh, global_batch)
    if whole:
        batch = jax.tree_util.tree_map(lambda x: x[rows], batch)
    s = batch_sharded(mesh)

    def put(x):
        x = np.asarray(x)
        if x.shape[0] != rows.stop - rows.start:
            raise ValueError(f"process-local batch has {x.shape[0]} rows, expected {rows.stop - rows.start}")
        return jax.make_array_from_process_local_data(s, x, (global_batch,) + x.shape[1:])

    return jax.tree_util.tree_map(put, batch)


def data_parallel_step(local_step: Callable, mesh: Mesh, donate: bool = False) -> Callable:
    """Wrap `local_step(state, batch) -> (state, metrics)` into a jitted data-parallel step.

    Inside `local_step`, the batch is the device's shard; average gradients with `pmean(grads)` (and metrics)
    before the update so the replicated state stays identical on every device.

    Args:
      local_step: the per-device step (state replicated, batch split over "data").
      mesh: the "data" mesh.
      donate: donate the state argument's buffers to the step.

    Returns:
      jitted step(state, batch) -> (state, metrics), both outputs replicated.
    """
    fn = jax.shard_map(local_step, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=(P(), P()), check_vma=False)
    return jax.jit(fn, donate_argnums=(0,) if donate else ())


def shard_rows(fn: Callable, mesh: Mesh, *args: Any) -> Any:
    """fn(*args) with every array of `args` (pytrees, leading axis N) split by rows over the mesh's devices, on one
    process: jit(shard_map(fn)).

    fn must treat rows independently (e.g. a `vmap`) and be hashable and stable (it keys the compiled function).
    N is padded to a multiple of the device count by repeating the last row; the padding is dropped from every
    output leaf.

    Args:
      fn: the row-wise function.
      mesh: the "data" mesh.
      *args: pytrees of arrays sharing the leading axis N.

    Returns:
      fn's output pytree, every leaf [N, ...].
    """
    padded, n = pad_rows(args, mesh.devices.size)
    out = _row_sharded(fn, mesh)(*shard_batch(padded, mesh))
    return jax.tree_util.tree_map(lambda x: x[:n], out)


def pad_rows(tree: _Tree, multiple: int, axis: int = 0) -> tuple[_Tree, int]:
    """Every array of `tree` (axis `axis` of length N) padded to a multiple of `multiple` rows by repeating its last
    row (the last slice along `axis`).

    The last batch of a batched loop keeps the compiled shape; the padded rows' outputs are dropped. NumPy arrays
    stay NumPy arrays. With `multiple = pow2_ceil(N)` the rows are padded up to the next power of two.

    Args:
      tree: pytree of arrays sharing the axis `axis` of length N (N >= 1; N = 0 is returned as given).
      multiple: the row multiple (>= 1).
      axis: the axis padded (default the leading one; negative counts from the end).

    Returns:
      (padded tree, N).
    """
    n = jax.tree_util.tree_leaves(tree)[0].shape[axis]
    pad = -n % multiple

    def grow(x):
        xp = np if isinstance(x, np.ndarray) else jnp
        last = x[(slice(None),) * (axis % x.ndim) + (slice(-1, None),)]
        return xp.concatenate([x, xp.repeat(last, pad, axis=axis)], axis=axis) if pad else x

    return jax.tree_util.tree_map(grow, tree), n


def pow2_ceil(n: int, minimum: int = 1) -> int:
    """The smallest power of two >= max(n, minimum): a size bucket, so that calls with any count in (2^(j-1), 2^j]
    share one compiled shape (pad to it with `pad_rows(x, pow2_ceil(n))`).

    Args:
      n: a count (>= 0).
      minimum: the least size returned (>= 1).

    Returns:
      int, a power of two.
    """
    return 1 << (max(int(n), int(minimum), 1) - 1).bit_length()


@functools.lru_cache(maxsize=32)
def _row_sharded(fn: Callable, mesh: Mesh) -> Callable:
    return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=P(AXIS), out_specs=P(AXIS), check_vma=False))


def pmean(tree: Any) -> Any:
    """Mean across the "data" axis (call inside a data-parallel step).

    Args:
      tree: pytree of per-device arrays.

    Returns:
      The same pytree, each leaf averaged over the devices.
    """
    return jax.lax.pmean(tree, AXIS)


def psum(tree: Any) -> Any:
    """Sum of `tree` over the `data` axis (inside a per-device step).

    Args:
      tree: pytree of per-device arrays.

    Returns:
      The same pytree, each leaf summed over the devices.
    """
    return jax.lax.psum(tree, AXIS)


def num_shards() -> int:
    """Number of devices along "data" (inside a data-parallel step).

    Returns:
      The number of devices on the "data" axis.
    """
    return jax.lax.psum(1, AXIS)
