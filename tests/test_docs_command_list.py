"""docs/commands.md lists every command: each command and subcommand the parsers of `convcorr` expose (built from
the parser objects, `test_cli_flags.parsers`) has a row in its "Command line" table, and every `convcorr A [B]`
the page names, anywhere, is a command (and subcommand) the parsers have; every flag a command's `--help` lists
(each of its spellings) is in that command's row, and a value a row shows for a flag (`[--alpha 0.05]`) is the
flag's default. The command lines of the papers' READMEs (eval/*/README.md) parse, and each `convcorr run` among
them makes its experiment's config."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from test_cli_flags import PARSERS

from convcorr_cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "commands.md"
PAPERS = sorted((ROOT / "eval").glob("*/README.md"))
# `convcorr WORD [WORD]`: a command and what follows it (a subcommand, or `a\|b` alternatives of one)
NAMED = re.compile(r"(?<![\w-])convcorr ([a-z][\w-]*)(?: ([a-z][\w.-]*(?:\\\|[a-z][\w.-]*)*))?")
WITH_SUBCOMMANDS = {name.split()[0] for name in PARSERS if " " in name}


def named(text: str) -> set[str]:
    """The commands `text` names: 'match', 'eval pose', ...; alternatives `eval pf-pascal\\|spair` give each."""
    out = set()
    for command, after in NAMED.findall(text):
        if command in WITH_SUBCOMMANDS and after:
            out.update(f"{command} {sub}" for sub in after.split("\\|"))
        else:
            out.add(command)
    return out


def table(text: str) -> str:
    """The first column of the "Command line" table, one row a line."""
    section = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `convcorr "))


def test_named_reads_commands_subcommands_and_alternatives():
    text = "| `convcorr eval pf-pascal\\|spair --root DIR` / `convcorr weights import FILE` | `convcorr run x.t`"
    assert named(text) == {"eval pf-pascal", "eval spair", "weights import", "run"}
    assert named("the `convcorr` command, convcorr-jax 0.1.0, .venv/bin/convcorr demo --only x") == {"demo"}


def test_every_command_of_the_parsers_has_a_row():
    assert {"eval pose", "eval pck", "weights inspect", "data unpack-flic", "match", "launch"} <= set(PARSERS)
    missing = sorted(set(PARSERS) - named(table(DOC.read_text())))
    assert missing == [], f"commands without a row in docs/commands.md's command table: {missing}"


def test_every_command_the_page_names_exists():
    names = named(DOC.read_text())
    assert len(names) >= len(COMMANDS)
    unknown = sorted(n for n in names if n not in PARSERS and n not in WITH_SUBCOMMANDS)
    assert unknown == [], f"docs/commands.md names commands the parsers do not have: {unknown}"


SAME_OPTIONS = re.compile(r"the options of ([a-z][\w-]*)")  # a row that takes another row's flags: "[the options of X]"


def rows_of(text: str) -> dict[str, str]:
    """{command: the text of its rows of the "Command line" table (both columns)}; a row saying "the options of X"
    holds the flags of X's row too (`eval pf-pascal|spair`: those of `eval pf-willow`)."""
    section = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, str] = {}
    for row in (line for line in section.splitlines() if line.startswith("| `convcorr ")):
        for name in named(row.split(" | ")[0]):
            out[name] = out.get(name, "") + row + "\n"
    for name, text_ in list(out.items()):
        for other in SAME_OPTIONS.findall(text_):
            group = f"{name.split()[0]} {other}" if " " in name else other
            out[name] += out.get(group, "")
    return out


def shown_flags(parser: argparse.ArgumentParser) -> list[str]:
    """The long flags a parser's `--help` lists, every spelling (`--model, --run`); hidden ones (`--out-dir`) and
    `--help` left out."""
    return [o for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            for o in a.option_strings if o.startswith("--")]


def test_rows_of_reads_the_rows_and_the_options_they_share():
    text = ("# Commands\n\n## Command line\n\n| `convcorr eval pf-willow --root DIR [--pairs N]` | x |\n"
            "| `convcorr eval pf-pascal\\|spair --root DIR [the options of pf-willow]` | y `--split` |\n\n## Next\n")
    rows = rows_of(text)
    assert sorted(rows) == ["eval pf-pascal", "eval pf-willow", "eval spair"]
    assert "--pairs" in rows["eval spair"] and "--split" in rows["eval spair"]
    assert "--split" not in rows["eval pf-willow"]
    assert shown_flags(PARSERS["eval pose"])[:2] == ["--model", "--run"]
    assert "--out-dir" not in shown_flags(PARSERS["eval flic"]) and "--help" not in shown_flags(PARSERS["eval flic"])


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_flag_of_the_help_is_in_the_command_row(name):
    row = rows_of(DOC.read_text())[name]
    missing = [f for f in shown_flags(PARSERS[name]) if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", row)]
    assert missing == [], f"convcorr {name} --help lists flags its row of docs/commands.md does not: {missing}"


# `[--flag VALUE]` in a row with VALUE a word or number, not a placeholder (DIR, N), a file (preds.h5), alternatives
# (a|b) or an assignment (f=v): the flag's default, e.g. `[--alpha 0.05]`, `[--out runs]`
SHOWN_DEFAULT = re.compile(r"\[(--[a-z][\w-]*) ([a-z0-9][\w./-]*)\]")


def shown_defaults(row: str) -> list[tuple[str, str]]:
    """The (flag, value) pairs a row shows as `[--flag VALUE]` with a literal value (`SHOWN_DEFAULT`)."""
    return [(f, v) for f, v in SHOWN_DEFAULT.findall(row.split(" | ")[0]) if not re.search(r"\.[a-z]", v)]


def test_shown_defaults_reads_literal_values_only():
    row = "| `convcorr x [--alpha 0.05] [--out runs/demo] [--h5 preds.h5] [--json OUT] [--split a\\|b] [--set f=v]` |"
    assert shown_defaults(row) == [("--alpha", "0.05"), ("--out", "runs/demo")]


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_a_value_the_row_shows_for_a_flag_is_its_default(name):
    row = rows_of(DOC.read_text())[name]
    actions = {o: a for a in PARSERS[name]._actions for o in a.option_strings}
    for flag, value in shown_defaults(row):
        if flag not in actions:  # the flag of another command of the same row (`weights fetch` / `weights import`)
            continue
        default = actions[flag].default
        try:
            same = float(value) == float(default)
        except (TypeError, ValueError):
            same = value == str(default)
        assert same, f"docs/commands.md shows `{flag} {value}` for convcorr {name}; its default is {default!r}"


def test_the_train_pose_row_lists_every_named_config():
    from convcorr_train.pose_configs import CONFIGS

    row = next(line for line in DOC.read_text().splitlines() if line.startswith("| `convcorr train pose "))
    listed = re.search(r"configs in `train/pose_configs.py` \(([^)]*)\)", row).group(1).split(", ")
    assert sorted(listed) == sorted(CONFIGS), "docs/commands.md's `train pose` row and train/pose_configs.py differ"


def paper_commands(page: Path) -> list[str]:
    """The `convcorr ...` lines of a paper README's indented blocks, `\\`-continued lines joined, comments and
    optional `[...]` groups left out."""
    text = re.sub(r"\\\n\s*", " ", page.read_text())
    return [re.sub(r"\s*\[[^\[\]]*\]|\s+#.*$", "", line.strip()).removeprefix("convcorr ")
            for line in text.splitlines() if line.startswith("    convcorr ")]


@pytest.mark.parametrize("page", PAPERS, ids=[p.parent.name for p in PAPERS])
def test_the_command_lines_of_a_paper_readme_parse_and_make_their_config(page):
    from convcorr_eval.runner import make_config

    lines = paper_commands(page)
    assert len(lines) >= 5, page
    for line in lines:
        argv = shlex.split(line)
        name = " ".join(argv[:2]) if argv[0] in WITH_SUBCOMMANDS else argv[0]
        args = PARSERS[name].parse_args(argv[len(name.split()):])
        if name == "run":  # settings and data of the experiment (nothing is read: the folders need not exist)
            make_config(args.experiment, args.size, args.set, args.backbone, args.data_root)


def out_bullet_commands(text: str) -> tuple[set[str], set[str]]:
    """The commands the "Flags and defaults" `--out` bullet names as writing to `--out`, and those it says have
    none; `eval pckh|pck` gives each."""
    bullet = text.split("\n- `--out`: ", 1)[1].split("\n- ", 1)[0]
    writes, none = bullet.split("Commands that only print", 1)
    none = none.split(" have none.", 1)[0]

    def commands(part: str) -> set[str]:
        out = set()
        for span in re.findall(r"`([a-z][\w -]*(?:\|[\w-]+)*)`", part.replace("\n  ", " ")):
            head, _, subs = span.rpartition(" ")
            out.update(f"{head} {s}".strip() for s in subs.split("|"))
        return {c for c in out if c in PARSERS}

    return commands(writes), commands(none)


def test_the_out_bullet_names_every_command_with_out_and_every_one_without():
    def has_out(parser) -> bool:
        return any("--out" in a.option_strings for a in parser._actions)

    writes, none = out_bullet_commands(DOC.read_text())
    with_out = {name for name, p in PARSERS.items() if has_out(p)}
    without = {name for name, p in PARSERS.items() if not has_out(p)} - {"launch"}  # launch runs another command
    assert {"run", "eval spair", "features"} <= with_out and {"classify", "eval pose"} <= without
    assert sorted(with_out - writes) == [], "commands with --out missing from docs/commands.md's --out bullet"
    assert sorted(without - none) == [], "commands without --out missing from the --out bullet's list of those"
    assert sorted(writes & without) == [] and sorted(none & with_out) == []
