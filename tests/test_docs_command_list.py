"""docs/commands.md lists every command: each command and subcommand the parsers of `convcorr` expose (built from
the parser objects, `test_cli_flags.parsers`) has a row in its "Command line" table, and every `convcorr A [B]`
the page names, anywhere, is a command (and subcommand) the parsers have. The command lines of the papers' READMEs
(eval/*/README.md) parse, and each `convcorr run` among them makes its experiment's config."""

from __future__ import annotations

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
