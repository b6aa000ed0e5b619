"""Several JAX processes on one machine (`convcorr launch`, CPU devices, gloo collectives) train and evaluate the
pose cascade exactly as one process does: (a) 2 processes x 2 devices end with the parameters of 1 process x 4
devices; (b) a checkpoint written by 2 processes resumes in 1 process (and the reverse), skipping a half-written
step, and ends where the uninterrupted run ends; (c) the evaluation sharded over both processes predicts what
one device predicts. The launcher stops every process when one fails.

The runs use the tiny config shortened to 1 + 1 + 2 steps with SGD: Adam's first steps divide by |gradient| + eps,
which turns the last-bit differences of a different all-reduce order into ~1e-5 changes of single weights where a
gradient is ~eps, whereas SGD keeps them at the rounding level, so 1e-6 tests the data path, not the optimiser."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from test_pose_train import _env

from convcorr_jax.pose import model
from convcorr_jax.pose import predict
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.training.loop import evaluate, load_data
from convcorr_train import pose_configs

STEPS = (1, 1, 2)
TINY = pose_configs.get_config("tiny")
CFG = dataclasses.replace(TINY, name="mp", model=dataclasses.replace(TINY.model, image_size=32), steps=STEPS,
                          checkpoint_every=sum(STEPS) - 1,
                          optimizer="sgd",
                          lr=(0.05, 0.05, 0.05))

# argv: config pickle, output folder. Every process runs it; process 0 writes the results.
SCRIPT = textwrap.dedent("""
    import dataclasses, pickle, sys
    import jax, numpy as np
    from convcorr_jax.core import parallel
    parallel.initialize_distributed()
    from convcorr_jax.pose import predict
    from convcorr_jax.pose.training import run_folder
    from convcorr_jax.pose.training.loop import evaluate, load_data, train
    from convcorr_cli.main import setup_logging
    setup_logging()  # the training messages on stderr, as the command shows them
    out = sys.argv[2]
    with open(sys.argv[1], "rb") as f:
        cfg = dataclasses.replace(pickle.load(f), out=out)
    train_set, test_set = load_data(cfg)
    r = train(cfg, (train_set, test_set), progress=False)
    pred = predict.predict_crops(r.params, test_set.images, cfg.model, mesh=parallel.make_mesh())
    coarse, cascade = pred["coarse"], pred["cascade"]
    if parallel.is_main_process():
        leaves = jax.tree_util.tree_leaves_with_path(r.params)
        np.savez(out + "/final.npz", **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
        np.savez(out + "/pred.npz", coarse=coarse, cascade=cascade)
        print("DONE", jax.process_count(), len(jax.devices()), flush=True)
    """)


def _launch(tmp: Path, out: Path, procs: int, devices: int) -> str:
    """Run the training script under `convcorr launch`; returns process 0's stdout, then the stderr of all."""
    script, cfg = tmp / "mp_run.py", tmp / "mp_cfg.pkl"
    if not script.exists():
        script.write_text(SCRIPT)
        cfg.write_bytes(pickle.dumps(CFG))
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "convcorr_cli", "launch", "-n", str(procs), "-d", str(devices), "--timeout",
           "400", "--", "python", str(script), str(cfg), str(out)]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=450, check=False)
    print(f"{procs} x {devices}: {time.monotonic() - t0:.1f} s")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert f"DONE {procs} {procs * devices}" in r.stdout, r.stdout[-3000:]
    return r.stdout + r.stderr


def _npz(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _assert_same_params(got: dict, want: dict, what: str) -> None:
    assert got.keys() == want.keys() and len(got) > 10
    for k, w in want.items():
        np.testing.assert_allclose(got[k], w, rtol=1e-6, atol=1e-6, err_msg=f"{what}: {k}")


def _steps(run: Path) -> list[int]:
    return sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())


def _half_written(run: Path, step: int) -> None:
    """Turn a complete step into what a process killed mid-save leaves: orbax's unfinalised temporary folder."""
    d = run / "checkpoints" / str(step)
    (d / "commit_success.txt").unlink(missing_ok=True)
    d.rename(d.with_name(f"{step}.orbax-checkpoint-tmp-{int(time.time())}"))


def _ran(stdout: str) -> int:
    return int(stdout.split("[mp] ")[1].split(" steps in")[0])


@pytest.mark.slow
def test_two_processes_train_resume_and_evaluate_like_one(tmp_path):
    _, test_set = load_data(CFG)  # generate the synthetic set once, before the processes read it
    total = sum(STEPS)
    two, one = tmp_path / "two", tmp_path / "one"
    out2 = _launch(tmp_path, two, 2, 2)
    out1 = _launch(tmp_path, one, 1, 4)
    assert _ran(out2) == total and _ran(out1) == total and "4 device(s)" in out2
    p2, p1 = _npz(two / "final.npz"), _npz(one / "final.npz")
    init = _init_leaves()
    assert max(float(np.abs(p1[k] - init[k]).max()) for k in p1) > 1e-3  # training moved the parameters
    # (a) 2 processes x 2 devices == 1 process x 4 devices
    _assert_same_params(p2, p1, "2x2 vs 1x4")
    assert _steps(two / "mp") == [total - 1, total] and (two / "mp" / "metrics.json").is_file()
    m2, m1 = run_folder._read_evals(two / "mp"), run_folder._read_evals(one / "mp")
    assert [e["step"] for e in m2] == [1, 2, total]
    for e2, e1 in zip(m2, m1):
        for k in e1:
            np.testing.assert_allclose(e2[k], e1[k], atol=1e-4, err_msg=k)

    # (b) the 2-process run's checkpoint resumes in 1 process (last step half-written: ignored) and vice versa
    for src, procs, devices, name in ((two, 1, 4, "2->1"), (one, 2, 2, "1->2")):
        dst = tmp_path / f"resume_{procs}"
        shutil.copytree(src / "mp", dst / "mp")
        _half_written(dst / "mp", total)
        out = _launch(tmp_path, dst, procs, devices)
        assert _ran(out) == 1, f"{name}: resumed from step {total - 1}, not from the half-written step or scratch"
        assert _steps(dst / "mp") == [total - 1, total]
        _assert_same_params(_npz(dst / "final.npz"), p1, f"resumed {name} vs uninterrupted")

    # (c) prediction sharded over 2 processes x 2 devices == one device, same parameters
    pred = _npz(two / "pred.npz")
    params = jax.tree_util.tree_map(np.asarray, _params_from(p2))
    one = predict.predict_crops(params, test_set.images, CFG.model)
    coarse, cascade = one["coarse"], one["cascade"]
    assert pred["coarse"].shape == coarse.shape == (len(test_set), CFG.model.num_joints, 2)
    np.testing.assert_allclose(pred["coarse"], coarse, atol=1e-4)
    np.testing.assert_allclose(pred["cascade"], cascade, atol=1e-4)
    ev = evaluate(params, test_set, CFG.model)
    for k, v in ev.items():
        np.testing.assert_allclose(m2[-1][k], v, atol=1e-4, err_msg=k)


def _init_leaves() -> dict:
    leaves = jax.tree_util.tree_leaves_with_path(model.init(jax.random.PRNGKey(CFG.seed), CFG.model))
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}


def _params_from(flat: dict):
    """Rebuild the parameter pytree from {keystr: array}."""
    like = model.init(jax.random.PRNGKey(CFG.seed), CFG.model)
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    return jax.tree_util.tree_unflatten(treedef, [flat[jax.tree_util.keystr(k)] for k, _ in paths])


def test_launcher_stops_all_when_one_process_fails(tmp_path):
    """Process 1 fails at once; process 0 would run for a minute: the launcher stops it and names process 1."""
    code = ("import os, sys, time\n"
            "pid = int(os.environ['JAX_PROCESS_ID'])\n"
            "assert os.environ['JAX_NUM_PROCESSES'] == '3'\n"
            "assert os.environ['JAX_COORDINATOR_ADDRESS'].startswith('127.0.0.1:')\n"
            "assert os.environ['JAX_NUM_CPU_DEVICES'] == '2'\n"
            "assert os.environ['JAX_CPU_COLLECTIVES_IMPLEMENTATION'] == 'gloo'\n"
            "open(sys.argv[1] + f'/started{pid}', 'w').close()\n"
            "time.sleep(1) if pid == 1 else time.sleep(60)\n"
            "sys.exit(7 if pid == 1 else 0)\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", "launch", "-n", "3", "-d", "2", "--", "python", "-c",
                        code, str(tmp_path)], env=_env(), capture_output=True, text=True, timeout=50, check=False)
    assert time.monotonic() - t0 < 40, "the others were not stopped"
    assert r.returncode == 7, r.stderr
    assert "process 1 of 3" in r.stderr and "exited with code 7" in r.stderr and "stopping the others" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["started0", "started1", "started2"]
