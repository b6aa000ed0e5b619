"""Options that mean one thing in every command, declared once.

- `HelpFormatter`: every option's default in `--help` ("(default: X)" after the help, unless the help already
  says what the default is); the dispatcher's parser and all its sub-parsers use it. Every `--json FILE` says that
  `--json -` writes the JSON alone on stdout (`convcorr_cli.main.json_to_stdout`).
- `add_set(parser, what, examples)`: `--set FIELD=VALUE`, one assignment per flag, the flag repeatable; a value
  without `=` or without a field name is one error line (exit code 2) naming the flag, with `examples` (assignments
  of the command's own config).
- `add_out(parser, help, ...)`: `--out`, where a command writes; `old=("--out-dir",)` keeps former spellings as
  hidden aliases of it.
- `document(parser, description, *examples)`: a (sub)command's `--help` paragraph and its "examples:" block, shown
  as written (`HelpFormatter`); `examples_of` reads them back; `group_examples` gives a command with subcommands the
  first example of each.
- Output paths: `-` is stdout for `--json` alone (`convcorr_cli.main.json_to_stdout`); every other flag that names
  an output file or folder (`OUTPUT_FLAGS`) refuses `-` in one line (`refuse_stdout`) instead of writing a file named
  `-` (its full path names such a file).
- A leading `~` of an argument's value is the home folder (`expand_home`), as a shell expands it, also where a
  shell does not: `--out=~/poses`, a quoted "~/my data/a.jpg", `--set data_root=~/FLIC`, `--backbone-module=~/b.py`.
- `--backbone-module MODULE|FILE.py` (`add_backbone_module`, on every command with `--backbone`, and on `train pose`
  and `eval pose`): imports a module or Python file that registers a user's backbone
  (`convcorr_jax.backbones.register`), matcher or pose dataset before the arguments are read, so `--backbone NAME`
  (or `--set data=KIND`, a model of that kind) accepts its name (`import_extensions`).
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError

SET_METAVAR = "FIELD=VALUE"
# why align, features and classify default to MobileNetV2 (docs/commands.md, "Flags and defaults")
WHOLE_WEIGHTS = "mobilenet_v2, whose fetched ImageNet weights hold every layer, fc included"
# a field name or dotted path; an item of a tuple of configs by its 0-based index (`datasets.1.share`)
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*")
SAYS_DEFAULT = re.compile(r"\(default\b|\bdefault:", re.IGNORECASE)
JSON, JSON_STDOUT = "--json", "--json -: the JSON alone on stdout, the other lines on stderr"  # convcorr_cli.main
EXAMPLES = "examples:"  # the first line of a (sub)command's epilog (`document`), kept as written in --help
# the flags that name a file or folder a command writes (besides --json): "-" is refused there, not a file named "-"
OUTPUT_FLAGS = ("--out", "--out-dir", "--figure", "--h5", "--export-onnx", "--logdir", "--archive-dir")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter with each option's default appended to its help, "(default: X)", where the option
    has a default worth showing (not None, False or empty) and the help does not already name its default."""

    @staticmethod
    def _shows_default(action: argparse.Action) -> bool:
        default = action.default
        return bool(action.option_strings) and not (
            default is None or default is argparse.SUPPRESS or default is False or default == []
            or isinstance(action, (argparse._StoreConstAction, argparse._HelpAction, argparse._VersionAction)))

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and action.help != argparse.SUPPRESS and self._shows_default(action):
            action = copy.copy(action)  # an option without help text still shows its default
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES + "\n"):  # command lines: one a line, as written (`document`)
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if JSON in action.option_strings and JSON_STDOUT not in text:
            text = f"{text} ({JSON_STDOUT})".lstrip()
        if self._shows_default(action) and not SAYS_DEFAULT.search(text):
            text = f"{text} (default: %(default)s)".lstrip()
        return text


def document(p: argparse.ArgumentParser, description: str, *examples: str) -> argparse.ArgumentParser:
    """Give a (sub)command's parser its `--help` paragraph (what it reads, what it writes and where) and an
    "examples:" epilog of whole command lines (`convcorr eval pck --preds P.npz ...`, a `# comment` allowed after
    one), shown one a line as written; returns `p`. tests/test_cli_help.py parses every example."""
    p.description = " ".join(description.split())
    p.epilog = "\n".join([EXAMPLES, *(f"  {e}" for e in examples)])
    return p


def examples_of(p: argparse.ArgumentParser) -> list[str]:
    """The command lines of `p`'s "examples:" epilog (`document`), [] without one."""
    lines = (p.epilog or "").splitlines()
    return [line.strip() for line in lines[1:]] if lines[:1] == [EXAMPLES] else []


def group_examples(p: argparse.ArgumentParser) -> None:
    """The "examples:" epilog of a command with subcommands: the first example of each subcommand, in order."""
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices.values()
    p.epilog = "\n".join([EXAMPLES, *(f"  {examples_of(s)[0]}" for s in subs if examples_of(s))])


def refuse_stdout(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One InputError (exit code 2) naming the flag when an output flag of `p` (`OUTPUT_FLAGS`) is `-`: only
    `--json` writes to stdout; any other flag would write a file or folder named `-` (its full path names it)."""
    for a in p._actions:
        flag = next((f for f in a.option_strings if f in OUTPUT_FLAGS), None)
        if flag is not None and str(getattr(args, a.dest, None)) == "-":
            raise InputError(None, flag, "a file or folder path (only --json takes -, for stdout; a file named - "
                             "is its full path)", "-")


def _home(text: str, assignment: bool = False) -> str:
    """`text` with a leading "~" or "~user" expanded to that home folder (`os.path.expanduser`; unchanged otherwise);
    with `assignment`, that of the value of FIELD=VALUE."""
    if assignment:
        field, _, value = text.partition("=")
        return f"{field}={_home(value)}"
    return os.path.expanduser(text) if text.startswith("~") else text


def expand_home(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Expand a leading `~` in the values of `p`'s arguments in place, as a shell expands an unquoted word, also
    where a shell leaves it (`--out=~/x`, a quoted "~/my data/x.jpg", the value of `--set FIELD=~/x`), so that no
    folder named `~` is made in the working folder and no `~/x` is looked for there. A command line passed on
    whole (`nargs=REMAINDER`, `convcorr launch`) is left to the command that reads it."""
    for a in p._actions:
        value = getattr(args, a.dest, None) if a.dest is not argparse.SUPPRESS else None
        if a.nargs == argparse.REMAINDER or value is None:
            continue
        assignment = getattr(a.type, "func", a.type) is set_assignment  # `add_set`'s partial of it
        if isinstance(value, str):
            setattr(args, a.dest, _home(value, assignment))
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            setattr(args, a.dest, [_home(v, assignment) if isinstance(v, str) else v for v in value])


def set_assignment(text: str, examples: Sequence[str] = ()) -> str:
    """argparse `type` of `--set`: `text` when it is one FIELD=VALUE (FIELD a name or dotted path, an item of a
    tuple of configs by its index as in datasets.1.share; VALUE anything, commas included); ArgumentTypeError (one
    line, showing `examples`: assignments of the command's own config) otherwise."""
    field, sep, _ = text.partition("=")
    if not sep or not FIELD.fullmatch(field.strip()):
        shown = f"e.g. {' '.join(f'--set {e}' for e in examples)}" if examples else "repeat the flag for more"
        raise argparse.ArgumentTypeError(f"expected field=value (one per --set, {shown}), got {text!r}")
    return text


def check_outputs(outputs: dict[str, str | Path], inputs: dict[str, str | Path]) -> None:
    """One InputError (exit code 2) when a command's output file cannot be written as a file (`io.check_writable`),
    is one of its inputs or another of its outputs, or is a folder above another output (compared as real paths,
    links followed): nothing the user gave is overwritten, no output written over another.

    Args:
      outputs: the command's output files by the flag that names them ("--out", "--figure", "--json"; a file
        inside an output folder as "--out (warp.png)").
      inputs: its input files by argument ("image_a", "--points").

    Raises:
      InputError: naming the output's path and flag, and the input or output it would overwrite.
    """
    for name, path in outputs.items():
        io.check_writable(path, name)
    keys = {name: Path(os.path.realpath(path)) for name, path in outputs.items()}
    for name, key in keys.items():  # a file where another output needs a folder: written, then a traceback
        below = next((other for other, k in keys.items() if key in k.parents), None)
        if below is not None:
            raise InputError(outputs[name], name, f"a file path, not a folder above {below}'s",
                             f"{below} is {outputs[below]}")
    seen: dict[Path, str] = {}
    for name, path in [*((n, p) for n, p in inputs.items()), *((n, p) for n, p in outputs.items())]:
        key = Path(os.path.realpath(path))  # follows links; a link loop is no RuntimeError
        if key in seen and name in outputs:
            what = "an input" if seen[key] in inputs else "another output"
            raise InputError(path, name, f"a path other than {seen[key]}'s", f"{what}: {seen[key]} is {path}")
        seen.setdefault(key, name)


def add_set(p: argparse.ArgumentParser, what: str, examples: Sequence[str]) -> None:
    """`--set FIELD=VALUE`, repeatable, into `args.set` (a list, empty by default); `what`: the fields it sets;
    `examples`: assignments of fields of the config it sets, shown by the error line of a malformed one."""
    p.add_argument("--set", action="append", default=[], metavar=SET_METAVAR,
                   type=functools.partial(set_assignment, examples=tuple(examples)),
                   help=f"{what}; one {SET_METAVAR} per --set, repeat the flag for more")


def add_out(p: argparse.ArgumentParser, help_: str, default: str | None = None, required: bool = False,
            metavar: str | None = None, old: tuple[str, ...] = ()) -> None:
    """`--out` into `args.out`; each name in `old` is accepted as the same option and left out of `--help`."""
    p.add_argument("--out", default=default, required=required, metavar=metavar, help=help_)
    for name in old:
        p.add_argument(name, dest="out", default=argparse.SUPPRESS, metavar=metavar, help=argparse.SUPPRESS)


BACKBONE_MODULE = "--backbone-module"


def add_backbone_module(p: argparse.ArgumentParser) -> None:
    """`--backbone-module MODULE|FILE.py`, repeatable (imported before parsing by `import_extensions`)."""
    p.add_argument(BACKBONE_MODULE, action="append", default=[], metavar="MODULE|FILE.py",
                   help="a module (dotted name) or Python file to import first, one that registers a backbone "
                        "(convcorr_jax.backbones.register), a matcher or a pose dataset "
                        "(convcorr_jax.data.pose_sets.DATASETS.register), so that --backbone / --method / "
                        "data=KIND accept its name; repeat the flag for more")


def import_extensions(argv: Sequence[str]) -> list[str]:
    """Import every `--backbone-module` value of `argv` (a dotted module name or a .py file), in order; returns
    them. InputError naming the flag for a module that cannot be found or fails to import."""
    values = []
    for i, a in enumerate(argv):
        if a == BACKBONE_MODULE and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif a.startswith(BACKBONE_MODULE + "="):
            values.append(a.partition("=")[2])
    for v in values:
        try:
            if v.endswith(".py"):
                path = Path(v).expanduser()
                if not path.is_file():
                    raise InputError(None, BACKBONE_MODULE, "an existing .py file or a module name", v)
                name = f"convcorr_user_{path.stem}"
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None  # a .py file always has a source loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(v)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 (the user's code: any failure is reported as the flag's)
            raise InputError(None, BACKBONE_MODULE, "a module that imports", f"{v}: {type(e).__name__}: {e}") from None
    return values
