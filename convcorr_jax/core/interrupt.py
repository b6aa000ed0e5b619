"""Clean stops on SIGINT and SIGTERM: the handlers only set a flag, work stops at safe points.

    with interrupt.handling("convcorr run"):     # the `convcorr` dispatcher, around a whole command
        for batch in batches:
            interrupt.stop_if_requested()        # raises Interrupted once a signal came, else nothing
    ... except interrupt.Interrupted: print interrupt.message() once (claim_report()); exit code 130

Why a flag: a KeyboardInterrupt raised wherever the main thread happens to be when the signal lands (a JAX/XLA
callback, a garbage-collection callback, a C++ frame) crashes the process or is swallowed ("Exception ignored in
...") and the work goes on (jax-ml/jax#18246, #15810). Safe points: `stop_if_requested()` calls (the runner, the
dispatcher) and every iteration or update of a tqdm progress bar in the main thread (`handling` hooks tqdm;
`unchecked(bar)` exempts a loop with its own safe points, such as the training loop's `stop_at`). A second signal
ends the process at once (the same line, exit 130): files are written atomically (`core.io`) and orbax never
takes a half-written checkpoint step as the latest.

Several JAX processes (`jax.distributed`): JAX's preemption service takes SIGTERM over (its own handler) and
agrees on a step at which every process stops; `stop_at(step)` asks it, and passes a SIGINT on to it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Any, Iterator, TypeVar

EXIT_CODE = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_Bar = TypeVar("_Bar")  # `unchecked` gives back the bar it was given

_flag = threading.Event()
_state: dict[str, Any] = {"command": "convcorr", "signal": None, "reported": False, "forwarded": False,
                          "depth": 0}


class Interrupted(BaseException):
    """Raised at a safe point after SIGINT or SIGTERM. A BaseException, as KeyboardInterrupt, so that an
    `except Exception` (a failed stage, a failed run) does not take a stop for a failure."""


def requested() -> bool:
    """True once SIGINT or SIGTERM came (or `request()` was called).

    Returns:
      bool: whether a stop was requested.
    """
    return _flag.is_set()


def request(signum: int = signal.SIGINT) -> None:
    """Set the flag as the signal `signum` would (tests, programs embedding a command).

    Args:
      signum: the signal to report (`stop_if_requested` names it in `Interrupted`).

    Returns:
      None; the stop flag is set.
    """
    _state["signal"] = signum
    _flag.set()


def stop_if_requested() -> None:
    """Raise Interrupted if a stop was requested; in another thread than the main one, do nothing.

    Returns:
      None.

    Raises:
      Interrupted: naming the signal (e.g. "SIGINT"), in the main thread once a stop was requested.
    """
    if _flag.is_set() and threading.current_thread() is threading.main_thread():
        raise Interrupted(signal.Signals(_state["signal"] or signal.SIGINT).name)


def message(finished: bool = False) -> str:
    """The one line a stopped command prints.

    Args:
      finished: the command had done all its work when the signal came (its outputs are complete).

    Returns:
      "<command>: interrupted; run the same command to resume", or with finished "<command>: interrupted after it
      finished; its outputs are complete", command as given to `handling`.
    """
    if finished:
        return f"{_state['command']}: interrupted after it finished; its outputs are complete"
    return f"{_state['command']}: interrupted; run the same command to resume"


def claim_report() -> bool:
    """True the first time it is called per stop: the caller (the command line) then prints `message()`.

    Returns:
      bool; later calls return False until the outermost `handling` block ends.
    """
    if _state["reported"]:
        return False
    _state["reported"] = True
    return True


def _handle(signum: int, frame: FrameType | None) -> None:
    """The handler: remember the first signal; a second one ends the process now."""
    if signum == signal.SIGTERM and _state["forwarded"]:
        return  # the SIGTERM `stop_at` sent to this process for JAX's preemption service
    if _flag.is_set():
        if not _state["reported"]:
            _state["reported"] = True
            with contextlib.suppress(OSError):  # os.write: a handler must not touch the buffered streams
                os.write(2, f"\n{message()}\n".encode())
        os._exit(EXIT_CODE)
    request(signum)


@contextlib.contextmanager
def handling(command: str = "convcorr", restore: bool = True) -> Iterator[None]:
    """Within the block: SIGINT (unless the process was started with it ignored, as a background job) and SIGTERM
    set the flag; tqdm progress bars are safe points; `command` starts the message.

    Nested blocks only rename the command. On leaving the outermost block the flag is cleared and, with `restore`,
    the previous handlers come back. Without `restore` (a process that exits after the block) these stay, and after
    the exit handlers of the libraries have run SIGINT and SIGTERM are ignored: the command is over, and a signal
    during the interpreter's shutdown (where Python drops its handlers) must not kill the process. Outside the main
    thread: nothing. Process-wide: the handlers are the process's while the block runs, and the tqdm hook
    (`tqdm.std.tqdm.__iter__` and `update` wrapped) stays installed after it, inert once the flag is cleared (a
    later `request()` outside a block makes the main thread's tqdm loops raise Interrupted).

    Args:
      command: the name `message()` starts with.
      restore: put the previous signal handlers back on leaving the outermost block.

    Returns:
      A context manager (yields None) that installs the handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outer = _state["command"]
    _state["command"] = command
    previous = {}
    if _state["depth"] == 0:
        _hook_tqdm()
        if not restore:
            atexit.unregister(_ignore_signals)
            atexit.register(_ignore_signals)  # before JAX is imported: runs after JAX's own exit handlers
        for sig in SIGNALS:
            if sig == signal.SIGTERM or signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, _handle)
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        _state["command"] = outer
        if _state["depth"] == 0:
            if restore:
                for sig, old in previous.items():
                    signal.signal(sig, old)
            _flag.clear()
            _state.update(signal=None, reported=False, forwarded=False)


def _ignore_signals() -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def stop_at(step: int) -> bool:
    """Whether a training loop stops after `step`; every process must call it after every step.

    One process: its flag. Several: True on all of them at the step JAX's preemption service agrees on once any got
    SIGTERM (`jax.experimental.multihost_utils.reached_preemption_sync_point`); a SIGINT is passed on as SIGTERM.

    Args:
      step: the training step just finished.

    Returns:
      bool: stop now.
    """
    import jax  # here: the dispatcher imports this module before anything heavy
    from jax.experimental import multihost_utils

    if jax.process_count() == 1:
        return requested()
    if requested() and not _state["forwarded"]:
        _state["forwarded"] = True
        os.kill(os.getpid(), signal.SIGTERM)
    try:
        return multihost_utils.reached_preemption_sync_point(step)
    except RuntimeError:  # the preemption service is off: each process by its own flag
        return requested()


def unchecked(bar: _Bar) -> _Bar:
    """`bar` (a tqdm progress bar), exempt from the tqdm safe point: its loop stops at safe points of its own.

    Args:
      bar: a tqdm progress bar.

    Returns:
      The same bar, marked `interrupt_unchecked`.
    """
    setattr(bar, "interrupt_unchecked", True)  # tqdm's class does not declare it
    return bar


def _hook_tqdm() -> None:
    """Make every iteration and update of a tqdm bar (shown or disabled) a safe point; idempotent."""
    try:
        from tqdm import std
    except ImportError:
        return
    cls = std.tqdm
    if getattr(cls, "interrupt_hooked", False):
        return
    plain_iter, plain_update = cls.__iter__, cls.update

    def __iter__(self):
        for obj in plain_iter(self):
            if not getattr(self, "interrupt_unchecked", False):
                stop_if_requested()
            yield obj

    def update(self, n=1):
        if not getattr(self, "interrupt_unchecked", False):
            stop_if_requested()
        return plain_update(self, n)

    cls.__iter__, cls.update, cls.interrupt_hooked = __iter__, update, True
