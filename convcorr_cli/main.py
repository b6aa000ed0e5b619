"""`convcorr` entry point: a thin dispatcher (also `python -m convcorr_cli`).

Each command lives in a module of this package exposing `add_arguments(parser)` and `run(args) -> int`; only the
chosen command's module is imported, so `convcorr --help` is instant.

Compilation cache: every command runs with JAX's persistent compilation cache in `<cache>/jax` (`<cache>`:
`$CONVCORR_CACHE`, default `~/.cache/convcorr_jax`), every compiled program kept whatever its compile time and
size, so a repeated command loads its programs instead of compiling them again. A cache folder already set
(`JAX_COMPILATION_CACHE_DIR`) is kept; `CONVCORR_NO_COMPILE_CACHE=1` turns the cache off.

Interrupts: SIGINT and SIGTERM stop every command at a safe point (`convcorr_jax.core.interrupt`) with one line on
stderr, "convcorr COMMAND: interrupted; run the same command to resume" ("... interrupted after it finished; its
outputs are complete" when the signal came once the work was done), and exit code 130; a second signal exits at
once with the same line. A closed output pipe (`convcorr run --list | head`) ends a command quietly
with exit code 141, as for a shell tool.

Profile: `convcorr --profile COMMAND ...` ends with one line on stderr saying where the wall time went (imports,
tracing, lowering, XLA compilation, compilation cache loads, the rest); `--profile=FILE` also writes it as JSON
(`convcorr_cli.profile`), never over a file the command names (refused before its work).

Progress: on a terminal, tqdm bars on stderr; otherwise (a log file, a pipe) plain lines on stderr every tenth of a
loop (at most one a second), at least every 30 s, and the last, without carriage returns (`convcorr_jax.core.progress`,
shown by `setup_logging`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from convcorr_cli import options, profile
from convcorr_cli.options import HelpFormatter
from convcorr_jax.core import interrupt, io
from convcorr_jax.core.compile_cache import NO_COMPILE_CACHE, enable_compile_cache  # noqa: F401 (re-exported)
from convcorr_jax.core.errors import InputError, closest_name
from convcorr_jax.core.progress import LOG as PROGRESS_LOG
from convcorr_jax.core.progress import on_terminal
from convcorr_jax.core.runinfo import package_version

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("convcorr_cli.demo",
             "run every experiment of the three papers on the embedded default and write a report"),
    "run": ("convcorr_cli.run", "run one experiment (a config, a size, overrides) into runs/<name>/"),
    "classify": ("convcorr_cli.classify", "top-k ImageNet classes of images (5 by default)"),
    "features": ("convcorr_cli.features", "write named activations and receptive-field centres to .npz"),
    "weights": ("convcorr_cli.weights", "fetch, import and inspect pretrained weights"),
    "data": ("convcorr_cli.data", "generate synthetic datasets, fetch real ones, inspect what a loader reads"),
    "align": ("convcorr_cli.align", "align two images with a BP flow on conv or SIFT features (grid or dense)"),
    "match": ("convcorr_cli.match", "move points of image A into image B (semantic correspondence) and draw them"),
    "pose": ("convcorr_cli.pose", "joints of people in images or a video (a shipped pose model or a run), drawn"),
    "train": ("convcorr_cli.train", "train models (pose cascade, ...)"),
    "eval": ("convcorr_cli.eval",
             "evaluate predictions and runs (PCKh, PCK, FLIC, MPII, any pose model, PF-WILLOW, PF-PASCAL, SPair)"),
    "launch": ("convcorr_cli.launch", "run a command as N JAX processes on this machine (CPU collectives)"),
}


class _StderrLines(logging.Handler):
    """Each record as one line on the current stderr; on a terminal through `tqdm.write`, above a running bar; none
    where stderr is closed (logging's own error report would raise there, stopping the loop that logged)."""

    def emit(self, record: logging.LogRecord) -> None:
        if sys.stderr is None or getattr(sys.stderr, "closed", False):  # nowhere to show it: the loop goes on
            return
        try:
            line = self.format(record)
            if on_terminal():
                from tqdm import tqdm

                tqdm.write(line, file=sys.stderr)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
        except Exception:  # noqa: BLE001 (logging's own convention: report, never raise)
            self.handleError(record)


def setup_logging() -> Callable[[], None]:
    """Show the progress of long loops (`convcorr_jax.core.progress`: log lines where stderr is not a terminal, and the
    training loop's messages) on stderr, one line per record, until the returned function is called (a command
    undoes it when it ends; a script may keep it). Already shown: nothing changes. Warnings of the library reach
    stderr through Python's last-resort handler."""
    if any(isinstance(h, _StderrLines) for h in PROGRESS_LOG.handlers):
        return lambda: None
    handler, before = _StderrLines(), (PROGRESS_LOG.level, PROGRESS_LOG.propagate)
    PROGRESS_LOG.addHandler(handler)
    PROGRESS_LOG.setLevel(logging.INFO)
    PROGRESS_LOG.propagate = False  # not again through a per-process handler of `convcorr_jax` (parallel)

    def undo() -> None:
        PROGRESS_LOG.removeHandler(handler)
        PROGRESS_LOG.setLevel(before[0])
        PROGRESS_LOG.propagate = before[1]

    return undo


def setup_compile_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (`convcorr_jax.enable_compile_cache`); its folder, None when off."""
    return enable_compile_cache()


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (an InputError: exit code 2), not the usage and a line, whose
    `--help` shows every option's default (`options.HelpFormatter`) and which refuses `-` for an output flag other
    than --json (`options.refuse_stdout`); subparsers inherit all three."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        """argparse's, then `-` refused for an output flag but --json (`options.refuse_stdout`) and a leading `~`
        of each value expanded (`options.expand_home`)."""
        parsed, extras = super().parse_known_args(args, namespace)
        options.refuse_stdout(self, parsed)
        options.expand_home(self, parsed)
        return parsed, extras

    def error(self, message: str):
        for a in self._actions:  # `convcorr eval` alone: name the subcommands, not the dest that holds one
            if isinstance(a, argparse._SubParsersAction) and message.endswith(f"required: {a.dest}"):
                message = f"a subcommand is required: one of {', '.join(a.choices)}"
        raise InputError(None, "arguments", message, message=f"{message} (see --help)")

    def _check_value(self, action: argparse.Action, value) -> None:
        """argparse's check of a value against `choices`, with the closest choice suggested."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as e:
            assert action.choices is not None  # argparse refuses a value only of an action with choices
            hint = did_you_mean(str(value), [str(c) for c in action.choices])
            if isinstance(action, argparse._SubParsersAction):
                raise argparse.ArgumentError(None, f"unknown subcommand {value!r}{hint} (choose from "
                                                   f"{', '.join(action.choices)})") from None
            raise argparse.ArgumentError(action, f"{e.message}{hint}") from None


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """"; did you mean 'X'?" for the choice closest to `word` (`errors.closest_name`, the library's lookup), "" when
    none is close."""
    close = closest_name(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def _overview() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return (f"usage: convcorr COMMAND [ARGS...]\n       convcorr --version\n"
            f"       convcorr --profile[=FILE] COMMAND [ARGS...]  (where the wall time went)\n\ncommands:\n{rows}\n\n"
            "'convcorr COMMAND --help' for a command's options.")


def _report_interrupt(finished: bool = False) -> None:
    """The one stop line on stderr, once per stop, after what stdout holds so far (`interrupt.message`)."""
    if interrupt.claim_report():
        with contextlib.suppress(Exception):  # stdout or stderr closed: the exit code still tells
            sys.stdout.flush()
            print(interrupt.message(finished), file=sys.stderr, flush=True)


def guarded(name: str, body: Callable[[], int], keep_handlers: bool = False) -> int:
    """`body()` of command `name` under `interrupt.handling`: an InputError is printed and gives 2; a stop (or any
    exception once a signal came: a consequence of it) prints the interrupt line and gives 130, also when the signal
    came after the work was done (the line then says the outputs are complete). `keep_handlers`: the signal
    handlers stay after the command (a process about to exit)."""
    with interrupt.handling(f"convcorr {name}", restore=not keep_handlers):
        try:
            code = body()
        except (interrupt.Interrupted, KeyboardInterrupt):
            _report_interrupt()
            return interrupt.EXIT_CODE
        except Exception as e:
            if interrupt.requested():
                _report_interrupt()
                return interrupt.EXIT_CODE
            if isinstance(e, InputError):
                print(f"convcorr {name}: error: {e}", file=sys.stderr)
                return 2
            if isinstance(e, BrokenPipeError):  # `convcorr run --list | head`: the reader left, as for any tool
                _silence_stdout()
                return EXIT_PIPE
            raise
        if interrupt.requested():  # the signal came once the work was done: nothing to resume, still a stop (130)
            _report_interrupt(finished=code == 0)
            return interrupt.EXIT_CODE
        return code


EXIT_PIPE = 141  # 128 + SIGPIPE: the shell's code for a command whose output pipe was closed


def _silence_stdout() -> None:
    """Point stdout, and stderr where its reader left too (`2>&1 | head`), at the null device once its reader left:
    each stream whose flush fails, so that Python's flush at exit prints no error and changes no exit code."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # its reader left: what it still holds goes nowhere
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


STDOUT = "-"  # `--json -`: the JSON on stdout


@contextlib.contextmanager
def json_to_stdout(args: argparse.Namespace) -> Iterator[Callable[[], None]]:
    """`--json -`: the command writes its JSON into a temporary file, its other lines go to stderr, and the
    function yielded, called once the command succeeded, prints the JSON on stdout (`convcorr X --json - | jq`).
    Any other `--json` (or none): nothing changes and the function does nothing."""
    if getattr(args, "json", None) != STDOUT:
        yield lambda: None
        return
    with tempfile.TemporaryDirectory(prefix="convcorr-json-") as folder:
        args.json = str(Path(folder) / "stdout.json")
        stdout = sys.stdout

        def show() -> None:
            if Path(args.json).is_file():
                stdout.write(Path(args.json).read_text())
                stdout.flush()

        with contextlib.redirect_stdout(_Renamed(sys.stderr, args.json, "stdout")):
            yield show


class _Renamed:
    """A text stream writing into `stream` with `old` replaced by `new` (a temporary path by what it stands for)."""

    def __init__(self, stream, old: str, new: str):
        self.stream, self.old, self.new = stream, old, new

    def write(self, text: str) -> int:
        return self.stream.write(text.replace(self.old, self.new))

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def run_parsed(name: str, run, args: argparse.Namespace, keep_handlers: bool = False) -> int:
    """`run(args)` of command `name` with the compilation cache on, `guarded`; `--json -` puts the JSON alone on
    stdout (`json_to_stdout`)."""

    def body() -> int:
        interrupt.stop_if_requested()
        undo = setup_logging()
        try:
            setup_compile_cache()
            with json_to_stdout(args) as show:
                code = int(run(args) or 0)
                if code == 0:
                    show()
            return code
        finally:
            undo()

    return guarded(name, body, keep_handlers)


def main(argv: Sequence[str] | None = None) -> int:
    """`convcorr ARGS` (default: sys.argv[1:]). Called without argv (the `convcorr` process itself), the signal
    handlers stay installed until the process exits. What the command printed is flushed here, so that a reader
    gone by then (`convcorr --help | head -1`, a short listing piped) also ends it quietly with exit code 141."""
    try:
        try:
            return _dispatch(argv)
        finally:  # also for argparse's exit after --help: the buffers reach their readers here, not at exit
            sys.stdout.flush()
            sys.stderr.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE


def command_parser(name: str, argv: Sequence[str] = ()) -> Parser:
    """The parser of command `name` (a key of `COMMANDS`) as `convcorr NAME ...` parses `argv`: the modules its
    `--backbone-module` values name imported first (a user's backbone or matcher, registered before --backbone is
    read), then the command's own arguments, and `--backbone-module` on a command with `--backbone`.

    Args:
      name: the command's word, e.g. "align" or "eval".
      argv: the arguments after it (only their `--backbone-module` values are read here).

    Returns:
      The command's `Parser` (its subcommands' parsers inside it, for eval, data, weights and train).
    """
    module = importlib.import_module(COMMANDS[name][0])
    parser = Parser(prog=f"convcorr {name}", description=COMMANDS[name][1])
    options.import_extensions(argv)
    module.add_arguments(parser)
    if "--backbone" in parser._option_string_actions:
        options.add_backbone_module(parser)
    return parser


def _dispatch(argv: Sequence[str] | None) -> int:
    keep = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    profile_to = None  # --profile: print where the wall time went (convcorr_cli.profile); --profile=FILE: and JSON
    if argv and (argv[0] == "--profile" or argv[0].startswith("--profile=")):
        profile_to = os.path.expanduser(argv.pop(0).partition("=")[2]) or "-"
    if not argv or argv[0] in ("-h", "--help"):
        print(_overview())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"convcorr-jax {package_version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"convcorr: unknown command {name!r}{did_you_mean(name, list(COMMANDS))} (choose from "
              f"{', '.join(COMMANDS)}; `convcorr --help` says what each does)", file=sys.stderr)
        return 2

    def body() -> int:  # the command's imports (JAX: seconds) already under the handlers
        if profile_to not in (None, "-"):  # refused before the command's work, not in a traceback after it
            io.check_writable(profile_to, "--profile")
            for token in rest:  # never over a file the command reads or writes: an image, its own --out, ...
                value = token.partition("=")[2] if token.startswith("-") else token
                if value and Path(value).resolve() == Path(profile_to).resolve():
                    raise InputError(profile_to, "--profile", "a file the command neither reads nor writes",
                                     f"{token} names it")
        t0 = time.perf_counter()
        stop = profile.start() if profile_to else None
        module = importlib.import_module(COMMANDS[name][0])
        imports = time.perf_counter() - t0
        parser = command_parser(name, rest)
        try:
            return run_parsed(name, module.run, parser.parse_args(rest), keep)
        finally:
            if stop is not None:
                split = stop(imports)
                print(profile.line(name, split), file=sys.stderr, flush=True)
                if profile_to not in (None, "-"):
                    profile.write(profile_to, split)

    return guarded(name, body, keep)


if __name__ == "__main__":
    sys.exit(main())
