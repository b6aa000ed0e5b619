"""Every command's and subcommand's `--help`: a paragraph saying what it reads and writes, and an "examples:" block
whose command lines parse with the command's own parser (nothing runs); `-` is stdout for `--json` alone, refused in
one line by every other output flag (`options.OUTPUT_FLAGS`); `convcorr demo --no-progress` reaches the stages."""

from __future__ import annotations

import argparse
import shlex

import pytest

from test_cli_flags import PARSERS

from convcorr_cli import options
from convcorr_cli.main import COMMANDS, Parser, main
from convcorr_jax.core.errors import InputError

GROUPS = {name.split()[0] for name in PARSERS if " " in name}


def group_parser(name: str) -> argparse.ArgumentParser:
    """The parser of a command with subcommands, as `convcorr_cli.main` builds it."""
    import importlib

    p = Parser(prog=f"convcorr {name}", description=COMMANDS[name][1])
    importlib.import_module(COMMANDS[name][0]).add_arguments(p)
    return p


def test_every_command_and_subcommand_is_walked():
    assert {"demo", "match", "pose", "eval pck", "train pose", "data inspect", "weights import", "launch"} <= set(
        PARSERS)
    assert GROUPS == {"eval", "data", "weights", "train"}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_has_a_description_and_examples_that_parse(name):
    p = PARSERS[name]
    assert p.description and len(p.description) > 80, f"convcorr {name}: no paragraph in --help"
    examples = options.examples_of(p)
    assert 1 <= len(examples) <= 3, f"convcorr {name}: {len(examples)} examples"
    text = p.format_help()
    assert "\nexamples:\n" in text
    for line in examples:
        assert f"\n  {line}\n" in text, f"the example is not shown as written: {line}"  # not re-wrapped
        argv = shlex.split(line, comments=True)
        assert argv[:1 + len(name.split())] == ["convcorr", *name.split()], line
        if "|" in argv:  # a pipe into another program: the command is what comes before it
            argv = argv[:argv.index("|")]
        p.parse_args(argv[1 + len(name.split()):])  # raises (InputError) for a line that does not parse


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_a_command_with_subcommands_shows_one_example_of_each(name):
    p = group_parser(name)
    subs = [n for n in PARSERS if n.startswith(name + " ")]
    examples = options.examples_of(p)
    assert [e for e in examples] == [options.examples_of(PARSERS[s])[0] for s in subs]
    assert "examples:" in p.format_help()


def test_help_output_of_a_subcommand(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["eval", "pck", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "Read predictions" in out and "examples:\n  convcorr eval pck --preds P.npz" in out


# one output flag of each kind: a file (--out of match, --figure, --h5, --export-onnx), a folder (--out of run, align,
# data synth, weights import; --logdir, --archive-dir) and the old name --out-dir
REFUSED = [
    ("match", ["a.png", "b.png", "--points", "p.json", "--out", "-"], "--out"),
    ("match", ["a.png", "b.png", "--points", "p.json", "--figure", "-"], "--figure"),
    ("eval pckh", ["--preds", "p.h5", "--annot", "v.h5", "--figure", "-"], "--figure"),
    ("eval mpii", ["--model", "m", "--annot", "v.h5", "--h5", "-"], "--h5"),
    ("eval flic", ["--model", "flic", "--root", "FLIC", "--out-dir", "-"], "--out"),
    ("pose", ["--export-onnx", "-"], "--export-onnx"),
    ("pose", ["x.png", "--out", "-"], "--out"),
    ("run", ["long2014.table2", "--out", "-"], "--out"),
    ("align", ["a.png", "b.png", "--out", "-"], "--out"),
    ("features", ["x.png", "--taps", "conv4", "--out", "-"], "--out"),
    ("data synth", ["people", "--out", "-"], "--out"),
    ("data fetch", ["flic", "--out", "F", "--archive-dir", "-"], "--archive-dir"),
    ("weights import", ["w.pth", "--arch", "vgg16", "--out", "-"], "--out"),
    ("train pose", ["--logdir", "-"], "--logdir"),
    ("demo", ["--out", "-"], "--out"),
]


@pytest.mark.parametrize("name, argv, flag", REFUSED, ids=[f"{n} {f}" for n, _, f in REFUSED])
def test_dash_is_refused_by_every_output_flag_but_json(name, argv, flag, tmp_path):
    with pytest.raises(InputError) as e:
        PARSERS[name].parse_args(argv)
    assert f"'{flag}'" in str(e.value) and "only --json takes -" in str(e.value) and "\n" not in str(e.value)
    named = str(tmp_path / "-")  # a file or folder named "-" is still named by its full path
    assert str(getattr(PARSERS[name].parse_args([named if a == "-" else a for a in argv]), "out", named)) != "-"


def test_dash_refused_before_any_work_exit_code_2(capsys):
    assert main(["match", "a.png", "b.png", "--points", "p.json", "--figure", "-"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--figure" in err and "only --json takes -" in err


def test_json_dash_still_parses():
    args = PARSERS["eval pck"].parse_args(["--preds", "P.npz", "--gt", "G.npz", "--json", "-"])
    assert args.json == "-"


def test_demo_no_progress_reaches_every_stage(monkeypatch, tmp_path):
    from convcorr_cli import demo as demo_cli
    from convcorr_eval import demo

    seen = []

    def fake_run_experiment(exp_id, cfg, out, force=False, progress=True, replace=False):
        seen.append((exp_id, progress))
        raise RuntimeError("not run in this test")

    monkeypatch.setattr(demo, "run_experiment", fake_run_experiment)
    monkeypatch.setattr(demo_cli, "run_demo", demo.run_demo)
    for flags, want in (([], True), (["--no-progress"], False)):
        seen.clear()
        args = PARSERS["demo"].parse_args(["--only", "table1,data", "--size", "tiny", "--out", str(tmp_path / "d"),
                                           *flags])
        assert demo_cli.run(args) == 1  # both stages "failed": nothing ran
        assert seen == [(demo.STAGES["table1"], want), (demo.STAGES["data"], want)]
