"""Data parallelism: one step on 1 device equals one step on 8 forced CPU devices with the same global batch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from test_pose_train import TESTS, _env

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from test_pose_helpers import stick_people
    from convcorr_jax import parallel
    from convcorr_jax.pose import model as M, train as T
    assert len(jax.devices()) == 8, jax.devices()
    tiny = M.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)
    cfg = T.TrainConfig(model=tiny, batch_size=8, steps=(1, 1, 1), optimizer="sgd", lr=(0.05, 0.05, 0.05))
    data = stick_people(8, 32, 0)
    params = M.init(jax.random.PRNGKey(0), tiny)
    out = {{}}
    for ndev in (1, 8):
        mesh = parallel.make_mesh(ndev)
        step = parallel.data_parallel_step(T.make_local_step(cfg, 3), mesh)
        state = jax.device_put({{"params": params, "opt": T.init_opt(cfg, 3, params)}}, parallel.replicated(mesh))
        batch = parallel.shard_batch(T.make_batch(data, cfg, 0), mesh)
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


def test_one_vs_eight_devices_same_step(tmp_path):
    script = tmp_path / "dp.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    r = subprocess.run([sys.executable, str(script)], env=_env({"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "OK" in r.stdout
