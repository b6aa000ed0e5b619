"""SIGINT and SIGTERM stop a real `convcorr` process at a safe point: exit code 130, one line on stderr ("convcorr
COMMAND: interrupted; run the same command to resume") as the last, no traceback, no "Exception ignored", no
segfault; no half-written run folder; training keeps a complete checkpoint and the same command resumes from it
and says so. The processes share one small cache (data, compiled programs) in a temporary folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TABLE2 = ["run", "long2014.table2", "--size", "tiny", "--backbone", "caffenet", "--set", "weights=random",
          "--no-progress"]
TRAIN = ["train", "pose", "--config", "tiny", "--no-progress"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("convcorr_cache")


# The child's first step, before it execs the command: SIGINT and SIGTERM at their defaults, as in a terminal. A test
# run started in the background (`make test &`) ignores SIGINT, children inherit that, and `convcorr` keeps an ignored
# SIGINT ignored, as a background job should. (Done in the child, not with `preexec_fn`, which is unsafe to run in a
# multithreaded parent such as a process that has imported JAX.)
DEFAULT_SIGNALS_THEN_EXEC = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                             "signal.signal(signal.SIGTERM, signal.SIG_DFL); "
                             "os.execv(sys.executable, [sys.executable, '-m', 'convcorr_cli', *sys.argv[1:]])")


def _start(args: list[str], cache: Path, logs: Path) -> subprocess.Popen:
    env = dict(os.environ, CONVCORR_CACHE=str(cache), JAX_PLATFORMS="cpu")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "out.txt", "w") as out, open(logs / "err.txt", "w") as err:
        return subprocess.Popen([sys.executable, "-c", DEFAULT_SIGNALS_THEN_EXEC, *args], stdout=out, stderr=err,
                                env=env)


def _wait_for(p: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    t0 = time.monotonic()
    while not ready():
        assert p.poll() is None, f"the command ended (rc {p.returncode}) before it could be interrupted"
        assert time.monotonic() - t0 < timeout, "timed out waiting for the moment to interrupt"
        time.sleep(0.05)


def _stopped(p: subprocess.Popen, logs: Path, command: str, within: float = 60.0) -> str:
    """Wait for the interrupted process; check how it ended; returns its stdout."""
    p.wait(timeout=within)
    err = (logs / "err.txt").read_text()
    lines = [line for line in err.splitlines() if line.strip()]
    assert p.returncode == 130, f"exit {p.returncode} (139/-11: segfault):\n{err[-3000:]}"
    assert lines and lines[-1] == f"convcorr {command}: interrupted; run the same command to resume", err[-3000:]
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    return (logs / "out.txt").read_text()


@pytest.mark.parametrize("sig, delay", [(signal.SIGINT, 1.0), (signal.SIGTERM, 1.5)])
def test_early_signal_stops_cleanly(sig, delay, cache, tmp_path):
    """During the imports and the first compilations: nothing is written."""
    out = tmp_path / "runs"
    p = _start([*TABLE2, "--out", str(out)], cache, tmp_path / "logs")
    time.sleep(delay)
    p.send_signal(sig)
    _stopped(p, tmp_path / "logs", "run")
    assert not (out / "long2014.table2").exists()


@pytest.mark.slow
def test_signal_mid_run_leaves_no_run_folder_and_a_second_one_exits_at_once(cache, tmp_path):
    for trial, signals in enumerate(([signal.SIGINT], [signal.SIGINT, signal.SIGINT])):
        out, logs = tmp_path / f"runs{trial}", tmp_path / f"logs{trial}"
        partial = out / ".long2014.table2.partial" / "config.json"
        p = _start([*TABLE2, "--out", str(out)], cache, logs)
        _wait_for(p, partial.is_file)  # the experiment has begun
        time.sleep(1.0)
        for sig in signals:
            p.send_signal(sig)
            time.sleep(0.2)
        _stopped(p, logs, "run")
        assert (logs / "err.txt").read_text().count("interrupted;") == 1
        assert not (out / "long2014.table2").exists()


@pytest.mark.slow
def test_interrupted_run_then_the_same_command_finishes(cache, tmp_path):
    out = tmp_path / "runs"
    p = _start([*TABLE2, "--out", str(out)], cache, tmp_path / "a")
    _wait_for(p, (out / ".long2014.table2.partial" / "config.json").is_file)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _stopped(p, tmp_path / "a", "run")
    p = _start([*TABLE2, "--out", str(out)], cache, tmp_path / "b")
    assert p.wait(timeout=600) == 0, (tmp_path / "b" / "err.txt").read_text()[-3000:]
    run_dir = out / "long2014.table2"
    config, metrics = (json.loads((run_dir / f).read_text()) for f in ("config.json", "metrics.json"))
    assert metrics["status"] == "ok" and config["config"] == metrics["key"]["settings"]
    left = sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock"))
    assert left == ["long2014.table2"]  # the partial folder became the run


@pytest.mark.slow
def test_training_stops_with_a_complete_checkpoint_and_resumes(cache, tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs"
    args = [*TRAIN, "--set", f"out={out}"]
    ckpt = out / "pose_tiny" / "checkpoints"
    p = _start(args, cache, tmp_path / "a")
    _wait_for(p, lambda: ckpt.is_dir() and any(x.name.isdigit() for x in ckpt.iterdir()))  # the first checkpoint
    p.send_signal(signal.SIGINT)
    _stopped(p, tmp_path / "a", "train")
    steps = sorted(int(x.name) for x in ckpt.iterdir() if x.name.isdigit())
    assert f"stopped after step {steps[-1]} of 16" in (tmp_path / "a" / "err.txt").read_text()  # progress: stderr
    half = ckpt / "15.orbax-checkpoint-tmp-1700000000000000"  # a save killed half-way: never taken as the latest
    half.mkdir()
    (half / "junk").write_text("half-written")
    p = _start(args, cache, tmp_path / "b")
    assert p.wait(timeout=600) == 0, (tmp_path / "b" / "err.txt").read_text()[-3000:]
    stderr = (tmp_path / "b" / "err.txt").read_text()
    assert f"resuming pose_tiny from step {steps[-1]} of 16" in stderr
    assert f"[pose_tiny] {16 - steps[-1]} steps in" in stderr and not half.exists()
    # another config in the same folder: refused before any training (in this process: no signal involved)
    from convcorr_cli.main import main

    monkeypatch.setenv("CONVCORR_CACHE", str(cache))
    assert main([*args, "--set", "model.head=12"]) == 2
    err = capsys.readouterr().err
    assert "--set name=NEW" in err and "--name" not in err.replace("--set name", "")


def test_a_signal_after_the_work_is_done_says_the_outputs_are_complete(tmp_path, capsys):
    """A signal that comes once a command has written everything still ends it with 130 (a shell loop around it
    stops), but its line no longer asks to run the command again to resume: there is nothing to resume."""
    from convcorr_cli.main import guarded

    def body() -> int:
        (tmp_path / "out.json").write_text("{}")  # the command's last output
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as it returns
        time.sleep(0.05)
        return 0

    assert guarded("match", body) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["convcorr match: interrupted after it finished; its outputs are complete"]

    def stopped() -> int:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return 1  # a body that did not end well: the usual line

    assert guarded("match", stopped) == 130
    assert capsys.readouterr().err.strip() == "convcorr match: interrupted; run the same command to resume"
