"""`convcorr launch`: run one command as N JAX processes on this machine (CPU devices, real collectives).

  convcorr launch -n 2 --local-devices 2 -- train pose --config tiny
  python -m convcorr_cli.launch -n 2 -- python my_script.py ARGS

Each process gets the coordinator address (127.0.0.1, a free port), the process count and its own process id in
JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID, which `parallel.initialize_distributed` passes to
`jax.distributed.initialize`; the CPU backend with `--local-devices` devices per process (JAX_NUM_CPU_DEVICES) and
gloo cross-process collectives (JAX_CPU_COLLECTIVES_IMPLEMENTATION). A command starting with a `convcorr` command
name runs as `python -m convcorr_cli ...` (only `train pose` joins several processes; any other convcorr command is
refused with -n above 1: each process would run it whole), `python` means the launcher's own interpreter, anything
else runs as given. All processes share this terminal.
If one process fails, the others are stopped and the launcher exits non-zero naming it; on a cluster use the
cluster's own launcher (srun) instead: the same command then initialises from its environment. SIGINT or SIGTERM
to the launcher sends SIGTERM to every process (JAX's preemption service lets them stop after the same step,
training saving a checkpoint there; `convcorr_jax.core.interrupt`), SIGKILL to what still runs STOP_GRACE seconds
later, and exits 130.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from convcorr_cli.main import COMMANDS, main as convcorr
from convcorr_cli.options import document
from convcorr_jax.core import interrupt
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.parallel import ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID

EXIT_TIMEOUT = 124
STOP_GRACE = 60.0  # seconds the processes get to stop at a safe point (training: save a checkpoint) on interrupt
FORCE_DEVICES = "--xla_force_host_platform_device_count"
# the convcorr commands that join several processes (`parallel.initialize_distributed`); any other would run whole in
# each process, every copy writing the same outputs
MULTI_PROCESS = (("train", "pose"),)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def command_line(command: Sequence[str]) -> list[str]:
    """`convcorr` command names run through this interpreter's `convcorr_cli`, `python` is this interpreter;
    anything else runs as given."""
    if not command:
        raise ValueError("no command to launch (put it after --)")
    if command[0] in COMMANDS:
        return [sys.executable, "-m", "convcorr_cli", *command]
    if command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return list(command)


def process_env(base: dict[str, str], process_id: int, num_processes: int, local_devices: int,
                coordinator: str) -> dict[str, str]:
    """Environment of one process: coordinator, count and id; CPU platform with local_devices devices; gloo."""
    env = dict(base)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(FORCE_DEVICES)]
    if flags:
        env["XLA_FLAGS"] = " ".join(flags)
    else:
        env.pop("XLA_FLAGS", None)
    env.update({ENV_COORDINATOR: coordinator, ENV_NUM_PROCESSES: str(num_processes), ENV_PROCESS_ID: str(process_id),
                "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": str(local_devices),
                "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo"})
    return env


def _stop(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM the process groups still running, then SIGKILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        t0 = time.monotonic()
        while any(p.poll() is None for p in alive) and time.monotonic() - t0 < wait:
            time.sleep(0.05)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def launch(command: Sequence[str], num_processes: int, local_devices: int = 1, timeout: float | None = None,
           env: dict[str, str] | None = None, poll: float = 0.05) -> int:
    """Run `command` as num_processes JAX processes with local_devices CPU devices each; returns the exit code:
    0 when all succeed; the first failing process's code (1 if it was killed by a signal) after stopping the
    others; 124 on timeout (seconds). InputError, before any process starts, for a count or a timeout below 1 or 0,
    for a program not found and, with several processes, for a convcorr command other than `MULTI_PROCESS`'s. A stop
    request (`convcorr_jax.core.interrupt`) or KeyboardInterrupt stops the processes (SIGTERM, then SIGKILL after a
    grace time) and propagates."""
    for flag, value in (("--num-processes", num_processes), ("--local-devices", local_devices)):
        if value < 1:
            raise InputError(None, flag, "an integer >= 1", value)
    if timeout is not None and not timeout > 0:  # NaN and 0 included: a limit that stops everything at once
        raise InputError(None, "--timeout", "seconds > 0", timeout)
    argv = command_line(command)
    if num_processes > 1 and command[0] in COMMANDS and tuple(command[:2]) not in MULTI_PROCESS:
        raise InputError(None, "COMMAND", "a convcorr command that runs as several processes ("
                         + ", ".join(" ".join(c) for c in MULTI_PROCESS) + "), python or a program",
                         f"{' '.join(command[:2])} (runs in one process: each of the {num_processes} would run it "
                         "whole)")
    base = dict(os.environ if env is None else env)
    if shutil.which(argv[0], path=base.get("PATH")) is None:  # refused in one line before any process starts
        raise InputError(None, "COMMAND", "a convcorr command, python, or a program on PATH",
                         f"{command[0]} (not found, or not executable)")
    coordinator = f"127.0.0.1:{free_port()}"
    procs: list[subprocess.Popen] = []
    try:
        for i in range(num_processes):
            procs.append(subprocess.Popen(argv, env=process_env(base, i, num_processes, local_devices, coordinator),
                                          start_new_session=True))
        return _watch(procs, timeout, poll)
    except (KeyboardInterrupt, interrupt.Interrupted):
        _say("interrupted; stopping all processes")
        _stop(procs, STOP_GRACE)
        raise
    finally:
        _stop(procs)  # whatever ended the launcher (an error included), no process outlives it


def _say(msg: str) -> None:
    try:
        print(f"convcorr launch: {msg}", file=sys.stderr, flush=True)
    except OSError:  # stderr closed (a pipe whose reader left): the exit code still tells
        pass


def _watch(procs: list[subprocess.Popen], timeout: float | None, poll: float) -> int:
    """Wait for all processes; stop the rest when one fails or on timeout; returns the launcher's exit code."""
    t0 = time.monotonic()
    while True:
        interrupt.stop_if_requested()
        codes = [p.poll() for p in procs]
        failed = [(i, c) for i, c in enumerate(codes) if c is not None and c != 0]
        if failed:
            i, code = failed[0]
            _say(f"process {i} of {len(procs)} (pid {procs[i].pid}) {_describe(code)}; stopping the others")
            _stop(procs)
            return code if code > 0 else 1
        if all(c == 0 for c in codes):
            return 0
        if timeout is not None and time.monotonic() - t0 > timeout:
            running = [i for i, c in enumerate(codes) if c is None]
            _say(f"timed out after {timeout:g} s; stopping processes {running}")
            _stop(procs)
            return EXIT_TIMEOUT
        time.sleep(poll)


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Run the command after -- as N JAX processes on this machine (CPU devices, gloo collectives), each "
             "told the coordinator, the process count and its id through the environment; all share this "
             "terminal, and the command writes what it writes. If one process fails the others are stopped and the "
             "exit code is that process's; 124 after --timeout.",
             "convcorr launch -n 2 --local-devices 2 -- train pose --config tiny",
             "convcorr launch -n 2 -- python my_script.py")
    p.add_argument("-n", "--num-processes", type=int, default=2, help="processes to start (default 2)")
    p.add_argument("-d", "--local-devices", type=int, default=1, help="CPU devices per process (default 1)")
    p.add_argument("--timeout", type=float, default=None, help="stop all processes after this many seconds")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="after --: a convcorr command (train pose ...) or any program (python script.py ...)")


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("convcorr launch: no command given (convcorr launch -n 2 -- train pose --config tiny)", file=sys.stderr)
        return 2
    return launch(command, args.num_processes, args.local_devices, args.timeout)


def main(argv: list[str] | None = None) -> int:
    """`python -m convcorr_cli.launch ARGS` is `convcorr launch ARGS`."""
    return convcorr(["launch", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
