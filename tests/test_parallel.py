"""Data parallelism: one step on 1 device equals one step on 8 forced CPU devices with the same global batch;
`initialize_distributed` picks explicit arguments, cluster auto-detection or a single process; batch placement.
Several real processes: tests/test_multiprocess.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import xla_flags
from test_pose_train import TESTS, _env

from convcorr_jax.core import parallel
from convcorr_jax.core.errors import InputError

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from test_pose_helpers import stick_people
    from convcorr_jax.core import parallel
    from convcorr_jax.pose import data as pose_data, model as pose_model
    from convcorr_jax.pose.training import stages
    from convcorr_jax.pose.training.config import TrainConfig
    assert len(jax.devices()) == 8, jax.devices()
    tiny = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4),
                                  context=16)
    cfg = TrainConfig(model=tiny, batch_size=8, steps=(1, 1, 1), optimizer="sgd", lr=(0.05, 0.05, 0.05))
    data = stick_people(8, 32, 0)
    params = pose_model.init(jax.random.PRNGKey(0), tiny)
    out = {{}}
    for ndev in (1, 8):
        mesh = parallel.make_mesh(ndev)
        step = parallel.data_parallel_step(stages.make_local_step(cfg, 3), mesh)
        state = jax.device_put({{"params": params, "opt": stages.init_opt(cfg, 3, params)}},
                               parallel.replicated(mesh))
        batch = parallel.shard_batch(pose_data.train_dataset(data, cfg.batch_size, 1, cfg.seed)[0], mesh)
        assert len(batch["image"].sharding.device_set) == ndev
        new, m = step(state, batch)
        out[ndev] = (jax.device_get(new["params"]), {{k: float(v) for k, v in m.items()}})
    (p1, m1), (p8, m8) = out[1], out[8]
    for k in m1:
        np.testing.assert_allclose(m1[k], m8[k], rtol=1e-5, err_msg=k)
    moved = 0.0
    for a, b, c in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p8), jax.tree_util.tree_leaves(params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        moved = max(moved, float(np.abs(np.asarray(a) - np.asarray(c)).max()))
    assert moved > 1e-4, moved  # the step did change the parameters
    print("OK", m1["loss"], m8["loss"], moved)
""")


@pytest.mark.slow
def test_one_vs_eight_devices_same_step(tmp_path):
    script = tmp_path / "dp.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    r = subprocess.run([sys.executable, str(script)], env=_env({"XLA_FLAGS": xla_flags(8)}),
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "OK" in r.stdout


def _dist_env(monkeypatch, **env):
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "CONVCORR_DISTRIBUTED",
              "SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID",
              "OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    calls = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setattr(parallel, "_log_per_process", lambda: None)
    return calls


def test_initialize_distributed_explicit_autodetect_or_single(monkeypatch):
    """Launcher variables -> explicit arguments; a multi-task SLURM job or Open MPI -> JAX auto-detects;
    a one-task SLURM job or nothing -> single process, `jax.distributed.initialize` never called."""
    calls = _dist_env(monkeypatch, JAX_COORDINATOR_ADDRESS="127.0.0.1:1234", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID="1")
    assert parallel.initialize_distributed() is True
    assert calls == [{"coordinator_address": "127.0.0.1:1234", "num_processes": 2, "process_id": 1}]
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}
    calls = _dist_env(monkeypatch, SLURM_NTASKS="4", **slurm)
    assert parallel._cluster_detected() == "slurm" and parallel.initialize_distributed() is True and calls == [{}]
    calls = _dist_env(monkeypatch, OMPI_MCA_orte_hnp_uri="x", OMPI_COMM_WORLD_SIZE="2")
    assert parallel.initialize_distributed() is True and calls == [{}]
    calls = _dist_env(monkeypatch, SLURM_NTASKS="1", **slurm)
    assert parallel.initialize_distributed() is False and calls == []
    calls = _dist_env(monkeypatch, JAX_COORDINATOR_ADDRESS="127.0.0.1:1", JAX_NUM_PROCESSES="1", JAX_PROCESS_ID="0")
    assert parallel.initialize_distributed() is False and calls == []
    calls = _dist_env(monkeypatch)
    assert parallel._cluster_detected() is None and parallel.initialize_distributed() is False and calls == []


@pytest.mark.parametrize("n,pid,field", [("two", "0", "JAX_NUM_PROCESSES"), ("", "0", "JAX_NUM_PROCESSES"),
                                         ("2", "-1", "JAX_PROCESS_ID"), ("2", "2", "JAX_PROCESS_ID"),
                                         ("2", "1.0", "JAX_PROCESS_ID")])
def test_initialize_distributed_refuses_bad_launcher_variables(monkeypatch, n, pid, field):
    """A launcher variable that is not a count is one line naming it, before `jax.distributed.initialize`."""
    calls = _dist_env(monkeypatch, JAX_COORDINATOR_ADDRESS="127.0.0.1:1234", JAX_NUM_PROCESSES=n, JAX_PROCESS_ID=pid)
    with pytest.raises(InputError, match=field):
        parallel.initialize_distributed()
    assert calls == []


def test_single_process_rows_and_shard_batch():
    """One process holds every row; a whole batch and its process-local rows give the same global array."""
    mesh = parallel.make_mesh(1)
    assert parallel.local_rows(mesh, 6) == slice(0, 6)
    x = np.arange(12.0).reshape(6, 2)
    a, b = parallel.shard_batch({"x": x}, mesh), parallel.shard_batch({"x": x}, mesh, global_batch=6)
    np.testing.assert_array_equal(np.asarray(a["x"]), x)
    np.testing.assert_array_equal(np.asarray(b["x"]), x)
    with pytest.raises(ValueError, match="rows"):
        parallel.shard_batch({"x": x[:4]}, mesh, global_batch=6)
    with pytest.raises(ValueError, match="disagree"):
        parallel.shard_batch({"x": x, "y": x[:3]}, mesh)


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.0.0.1:", "127.0.0.1:port", ":1234", "127.0.0.1:70000",
                                  "127.0.0.1:0"])
def test_initialize_distributed_refuses_a_coordinator_address_without_a_port(monkeypatch, addr):
    """A coordinator address that is not host:port is one line naming it (JAX's own check is an IndexError)."""
    calls = _dist_env(monkeypatch, JAX_COORDINATOR_ADDRESS=addr, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID="0")
    with pytest.raises(InputError, match="JAX_COORDINATOR_ADDRESS.*host:port"):
        parallel.initialize_distributed()
    assert calls == []


def test_initialize_distributed_refuses_partial_launcher_variables(monkeypatch):
    """A process count above 1 without the coordinator (and no cluster) is refused, not run as a lone process; an
    address without the count and id that JAX cannot complete is one line naming what is missing."""
    calls = _dist_env(monkeypatch, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID="1")
    with pytest.raises(InputError, match="JAX_COORDINATOR_ADDRESS"):
        parallel.initialize_distributed()
    assert calls == []

    def incomplete(**kw):
        raise ValueError("Number of processes must be defined.")

    _dist_env(monkeypatch, JAX_COORDINATOR_ADDRESS="127.0.0.1:1234")
    monkeypatch.setattr(jax.distributed, "initialize", incomplete)
    with pytest.raises(InputError, match="JAX_NUM_PROCESSES / JAX_PROCESS_ID"):
        parallel.initialize_distributed()
    calls = _dist_env(monkeypatch, JAX_NUM_PROCESSES="1")  # one process: nothing to join
    assert parallel.initialize_distributed() is False and calls == []


def test_pad_rows_along_an_axis_to_a_power_of_two_repeats_the_last_slice():
    """`pad_rows(x, pow2_ceil(K), axis=-2)`: points [B, K, 2] padded along K by repeating each row's last point,
    NumPy in, NumPy out; K = 0 and a count already a power of two come back as given."""
    assert [parallel.pow2_ceil(n) for n in (0, 1, 2, 3, 5, 8, 9)] == [1, 1, 2, 4, 8, 8, 16]
    assert parallel.pow2_ceil(3, 8) == 8 and parallel.pow2_ceil(20, 8) == 32
    pts = np.arange(2 * 5 * 2, dtype=np.float32).reshape(2, 5, 2)
    out, k = parallel.pad_rows(pts, parallel.pow2_ceil(5), axis=-2)
    assert k == 5 and isinstance(out, np.ndarray) and out.shape == (2, 8, 2)
    np.testing.assert_array_equal(out[:, :5], pts)
    np.testing.assert_array_equal(out[:, 5:], np.repeat(pts[:, -1:], 3, axis=1))
    for same in (pts[:, :4], pts[:, :0]):
        assert parallel.pad_rows(same, parallel.pow2_ceil(same.shape[1]), axis=1)[0] is same


@pytest.mark.parametrize("num_devices", [1.0, "1", True, 0, 10_000])
def test_make_mesh_refuses_a_device_count_that_is_not_an_integer_in_range(num_devices):
    """A device count of another type is one line naming num_devices (not a TypeError from slicing the device list,
    nor True taken for one device); np.int64 counts pass."""
    with pytest.raises(InputError, match="num_devices.*an integer 1\\.\\."):
        parallel.make_mesh(num_devices)
    assert parallel.make_mesh(np.int64(1)).devices.size == 1
