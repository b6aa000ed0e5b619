"""Flags that mean one thing in every command (`convcorr_cli.options`) and the progress format off a terminal
(`convcorr_jax.core.progress`): `--out` wherever a command writes, every default in `--help`, `--set FIELD=VALUE` one
per flag with one error line for a malformed one, `--out-dir` still accepted; progress lines without carriage
returns, one every N steps; greyscale and RGBA images read as RGB with one notice, or refused where colour is
needed."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcorr_cli import options
from convcorr_cli.main import COMMANDS, command_parser, main
from convcorr_jax.core import interrupt, progress
from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError

# (sub)commands that write no file of their own beyond --json / --figure (or only the cache): no --out
NO_OUT = {
    "classify": "prints classes; --json",
    "weights fetch": "into the cache",
    "weights inspect": "prints",
    "data inspect": "prints",
    "eval pckh": "--json, --figure",
    "eval pck": "--json",
    "eval pose": "prints; --json",
    "launch": "the launched command's own flags",
}


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser and every subcommand's, by the words that name it, as `convcorr` builds them
    (`command_parser`: `--backbone-module` on every command with `--backbone`)."""
    out = {}
    for name in COMMANDS:
        p = command_parser(name)
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[name] = p
        for a in subs:
            out.update({f"{name} {sub}": sp for sub, sp in a.choices.items()})
    return out


PARSERS = parsers()


def _option(p: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in p._actions if flag in a.option_strings), None)


def test_every_command_that_writes_takes_out():
    lacking = {name for name, p in PARSERS.items() if _option(p, "--out") is None}
    assert lacking == set(NO_OUT)
    assert "--out-dir" not in "".join(p.format_help() for p in PARSERS.values())  # the old name: not shown


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_shows_every_default(name):
    p = PARSERS[name]
    fmt = p._get_formatter()
    for a in p._actions:
        if not a.option_strings or a.help == argparse.SUPPRESS:
            continue
        text = " ".join(fmt._format_action(a).split())  # the option's lines in --help
        if a.default not in (None, False, [], argparse.SUPPRESS) and not isinstance(a, argparse._HelpAction):
            assert str(a.default) in text and "default" in text, (name, a.option_strings, text)
        if a.dest == "backbone":  # the default backbone differs by command: each says which
            assert "default" in text and any(b in text for b in ("mobilenet_v2", "vgg16", "torchvision_alexnet",
                                                                  "experiment's")), (name, text)


def test_help_of_a_command_prints_its_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main(["features", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: mobilenet_v2, whose fetched ImageNet weights hold every layer" in text
    assert "(default: standard)" in text


def test_set_is_one_assignment_per_flag_everywhere():
    with_set = {name: _option(p, "--set") for name, p in PARSERS.items() if _option(p, "--set") is not None}
    assert {"run", "train pose", "eval pf-willow", "align", "match"} <= set(with_set)
    for name, a in with_set.items():
        assert isinstance(a, argparse._AppendAction) and a.nargs is None and a.type.func is options.set_assignment, name
    args = PARSERS["align"].parse_args(["a.png", "b.png", "--out", "o", "--set", "beta=1", "--set", "taps=a,b"])
    assert args.set == ["beta=1", "taps=a,b"]


@pytest.mark.parametrize("argv", [
    ["run", "long2014.table2", "--set", "beta"],
    ["run", "long2014.table2", "--set", "=3"],
    ["train", "pose", "--set", "steps"],
    ["eval", "pf-willow", "--root", "PF", "--set", "grid conv4"],
    ["align", "a.png", "b.png", "--out", "o", "--dense", "--set", "edge_sigma"],
    ["match", "a.png", "b.png", "--points", "p.json", "--set", "1=taps"],
])
def test_malformed_set_is_one_line_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--set" in err and "field=value" in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir())


def _set_examples(name: str) -> list[str]:
    """The assignments the error line of a malformed `--set` of command `name` shows."""
    with pytest.raises(argparse.ArgumentTypeError) as e:
        _option(PARSERS[name], "--set").type("oops")
    return re.findall(r"--set (\S+?)[ )]", str(e.value))


def _apply_sets(name: str, sets: list[str]) -> None:
    """Apply `sets` to the config command `name` sets, as the command does (an unknown field is refused)."""
    from convcorr_jax.core.config import override
    from convcorr_eval.runner import experiments, make_config

    exp_ids = {"eval flic": ["tompson2015.flic"], "eval mpii": ["tompson2015.mpii"],
               "eval pf-willow": ["long2014.pf_willow"], "eval pf-pascal": ["long2014.pf_pascal"],
               "eval spair": ["long2014.spair"], "run": list(experiments())}
    if name in exp_ids:
        for exp_id in exp_ids[name]:
            make_config(exp_id, "tiny", sets)
    elif name == "train pose":
        from convcorr_train.pose_configs import get_config

        override(get_config("default"), sets)
    elif name == "match":
        from convcorr_jax.correspondence.point_config import PointTransferConfig

        override(PointTransferConfig(), sets)
    else:
        assert name == "align", f"{name}: which config does its --set set?"
        from convcorr_jax.flow.dense import DenseConfig

        override(DenseConfig(), sets)


@pytest.mark.parametrize("name", sorted(n for n, p in PARSERS.items() if _option(p, "--set") is not None))
def test_a_malformed_sets_example_names_fields_of_the_commands_own_config(name):
    """The error line of a malformed `--set` shows two assignments of the command's own config, which it takes
    (every command showed beta=0.1 and taps=conv4,conv5, fields `train pose`, `eval flic` and `eval mpii` lack)."""
    sets = _set_examples(name)
    assert len(sets) == 2, sets
    _apply_sets(name, sets)


def test_several_values_after_one_set_are_refused(capsys, tmp_path):
    """The old `align --set a=1 b=2` form: the second is not taken as an assignment, one line says so."""
    assert main(["align", "a.png", "b.png", "--out", str(tmp_path / "o"), "--dense", "--set", "iters=2",
                 "edge_sigma=none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unrecognized arguments: edge_sigma=none" in err, err


def test_out_dir_is_a_hidden_alias_of_out():
    p = PARSERS["eval pf-willow"]
    assert p.parse_args(["--root", "PF", "--out-dir", "elsewhere"]).out == "elsewhere"
    assert p.parse_args(["--root", "PF", "--out", "here"]).out == "here"
    assert p.parse_args(["--root", "PF"]).out == "runs"
    assert "--out-dir" not in p.format_help()


def test_every_command_that_takes_a_dataset_folder_takes_root():
    # `convcorr run` spelled it --data-root alone; every other command spells it --root
    p = PARSERS["run"]
    assert p.parse_args(["long2014.table3", "--root", "FLIC"]).data_root == "FLIC"
    assert p.parse_args(["long2014.table3", "--data-root", "FLIC"]).data_root == "FLIC"
    taking = [name for name, q in PARSERS.items()
              if any(o in ("--root", "--data-root") for a in q._actions for o in a.option_strings)]
    without = [name for name in taking if not any("--root" in a.option_strings for a in PARSERS[name]._actions)]
    assert "run" in taking and not without, without


def test_a_leading_tilde_is_the_home_folder_where_a_shell_leaves_it(tmp_path, monkeypatch, capsys):
    """`--out=~/x`, a quoted "~/my data/a.jpg" and `--set data_root=~/FLIC` reach a command as written (a shell
    expands "~" only at the start of a word or after an assignment's "="): pose made a folder named "~" in the
    working folder and wrote there, and a dataset root ~/FLIC was looked for as ./~/FLIC."""
    home = tmp_path / "home dir"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    args = PARSERS["pose"].parse_args(["~/my data/a.JPG", "--out=~/poses", "--json", "~/p.json", "--model", "~"])
    assert (args.images, args.out, args.json, args.model) == (
        [f"{home}/my data/a.JPG"], f"{home}/poses", f"{home}/p.json", str(home))
    args = PARSERS["run"].parse_args(["long2014.table3", "--data-root=~/FLIC", "--set", "data_root=~/FLIC",
                                      "--set", "name=a~b", "--out", "runs/~x"])
    assert (args.data_root, args.set, args.out) == (f"{home}/FLIC", [f"data_root={home}/FLIC", "name=a~b"], "runs/~x")
    assert PARSERS["eval flic"].parse_args(["--model", "flic", "--root=~/FLIC"]).root == f"{home}/FLIC"
    assert PARSERS["launch"].parse_args(["--", "pose", "~/a.jpg"]).command == ["--", "pose", "~/a.jpg"]  # its own
    (home / "ext").mkdir(parents=True)
    (home / "ext" / "tilde_backbone_module.py").write_text("LOADED = True\n")
    assert options.import_extensions(["--backbone-module=~/ext/tilde_backbone_module.py"])
    assert sys.modules["convcorr_user_tilde_backbone_module"].LOADED
    assert main(["--profile=~/profile.json", "data", "inspect", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "~").exists()


def test_eval_mpii_out_is_the_folder_not_the_prediction_file(capsys, tmp_path):
    assert main(["eval", "mpii", "--run", str(tmp_path), "--annot", "valid.h5", "--out", "preds.h5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "--h5 FILE" in err, err


def test_train_pose_out_sets_the_run_root(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_train(cfg, progress=True, on_stage=None):
        seen["cfg"] = cfg
        return types.SimpleNamespace(evals=[], run_dir=cfg.run_dir)

    train_pose = importlib.import_module("convcorr_train.pose")
    monkeypatch.setattr(train_pose.loop, "train", fake_train)
    assert main(["train", "pose", "--config", "tiny", "--out", str(tmp_path / "r"), "--logdir", "off"]) == 0
    assert seen["cfg"].out == str(tmp_path / "r")
    assert main(["train", "pose", "--config", "tiny", "--out", "x", "--set", f"out={tmp_path}", "--logdir",
                 "off"]) == 0
    assert seen["cfg"].out == str(tmp_path)  # --set, later, wins


# ------------------------------------------------------------------------------------------ progress lines
@pytest.fixture
def not_a_terminal(monkeypatch):
    """stderr a file (not a terminal), and the records of the progress logger."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    progress.LOG.addHandler(handler)
    level = progress.LOG.level
    progress.LOG.setLevel(logging.INFO)
    yield stream, records
    progress.LOG.removeHandler(handler)
    progress.LOG.setLevel(level)


def test_off_a_terminal_a_line_every_n_steps(not_a_terminal):
    stream, records = not_a_terminal
    assert sum(1 for _ in progress.bar(range(47), desc="steps", every=10, gap=0)) == 47
    assert [r.split()[2] for r in records] == ["10/47", "20/47", "30/47", "40/47", "47/47"]  # and the last
    assert all(r.startswith("steps: ") and "\r" not in r and "\n" not in r for r in records)
    assert stream.getvalue() == ""  # the library writes nothing to a stream


def test_off_a_terminal_the_default_is_a_tenth_and_updates_count(not_a_terminal):
    _, records = not_a_terminal
    with progress.bar(total=100, desc="bytes", unit="B", leave=False, gap=0) as b:
        for _ in range(25):
            b.update(4)
    assert [r.split()[2] for r in records] == [f"{n}/100" for n in range(12, 101, 12)] + ["100/100"]


def test_off_a_terminal_lines_by_steps_are_at_least_gap_apart(not_a_terminal, monkeypatch):
    _, records = not_a_terminal
    now = [0.0]
    monkeypatch.setattr("tqdm.std.time", lambda: now[0])  # the bars' clock
    for i in progress.bar(range(40), desc="slow", every=1, gap=3.5):
        now[0] = i + 1.0  # a step per second: a line every 4th step
    assert [r.split()[2] for r in records] == [f"{n}/40" for n in range(4, 41, 4)]
    records.clear()
    for _ in progress.bar(range(40), desc="fast", every=1):
        now[0] += 0.01  # 40 steps within a second: the last line only
    assert [r.split()[2] for r in records] == ["40/40"]


def test_off_a_terminal_a_line_every_s_seconds(not_a_terminal):
    _, records = not_a_terminal
    list(progress.bar(iter(range(3)), desc="open-ended", seconds=0.0))  # no total, no step count: by time only
    assert len(records) == 3 and records[-1].startswith("open-ended: 3it")


def test_progress_lines_are_safe_points_as_bars_are(not_a_terminal):
    """A stop request ends a loop at its next step whether the bar is drawn or logged (`core.interrupt`)."""
    seen = []
    with interrupt.handling("convcorr test"), pytest.raises(interrupt.Interrupted):
        for i in progress.bar(range(10), desc="loop"):
            seen.append(i)
            if i == 2:
                interrupt.request()
    assert seen == [0, 1, 2]


def test_progress_lines_with_stderr_closed_do_not_stop_the_loop(monkeypatch):
    """The command's handler drops a line it cannot show; logging's own error report would raise on the closed
    stream (ValueError) and end the loop."""
    from convcorr_cli.main import setup_logging

    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stderr", closed)
    undo = setup_logging()
    try:
        assert sum(1 for _ in progress.bar(range(20), desc="closed", every=2, gap=0)) == 20
    finally:
        undo()


def test_on_a_terminal_a_bar(monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    b = progress.bar(range(3), desc="x", file=io.StringIO())
    assert not isinstance(b, progress.LineBar)
    b.close()


def test_a_command_off_a_terminal_writes_no_carriage_return(tmp_path, capsys):
    """`convcorr data synth` with its progress on and stderr captured (not a terminal): plain lines."""
    assert main(["data", "synth", "faces", "--n", "20", "--image-size", "32", "--workers", "1", "--out",
                 str(tmp_path / "faces")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("synth faces:")]
    assert lines and lines[-1].split()[3] == "20/20", err  # the last line (others at least a second apart)
    assert json.loads((tmp_path / "faces" / "synthetic.json").read_text())["n"] == 20


# ------------------------------------------------------------------------------------------ input colour
def _image(path, shape) -> str:
    Image.fromarray(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)).save(path)
    return str(path)


@pytest.mark.parametrize("shape, mode, says", [((20, 30), "L", "greyscale, copied to the three channels"),
                                               ((20, 30, 4), "RGBA", "colour, alpha dropped"),
                                               ((20, 30, 3), "RGB", None)])
def test_images_not_rgb_are_converted_with_one_notice(shape, mode, says, tmp_path, caplog):
    path = _image(tmp_path / f"{mode}.png", shape)
    with caplog.at_level(logging.WARNING, logger="convcorr_jax.data.types"):
        got = load_image(path)
    assert got.shape == (20, 30, 3) and got.dtype == np.uint8
    if mode == "L":
        assert np.array_equal(got[..., 0], got[..., 2]) and np.array_equal(got[..., 0], np.asarray(
            np.arange(600, dtype=np.uint8).reshape(20, 30)))
    if mode == "RGBA":
        assert np.array_equal(got, np.arange(2400, dtype=np.uint8).reshape(20, 30, 4)[..., :3])
    notes = [r.getMessage() for r in caplog.records]
    assert notes == ([] if says is None else [f"{path}: {mode} image read as RGB ({says})"])


def test_greyscale_refused_in_one_line_where_colour_is_needed(tmp_path):
    path = _image(tmp_path / "grey.png", (20, 30))
    with pytest.raises(InputError) as e:
        load_image(path, colour="require")
    assert str(path) in str(e.value) and "needs colour" in str(e.value) and "\n" not in str(e.value)
    assert load_image(_image(tmp_path / "rgba.png", (20, 30, 4)), colour="require").shape == (20, 30, 3)


def test_a_command_says_in_one_line_that_it_converted_an_image(tmp_path):
    """In the command's own process (where nothing else handles the library's warnings): one line on stderr."""
    path = _image(tmp_path / "grey.jpg", (20, 30))
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", "data", "inspect", path], capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == f"{path}: L image read as RGB (greyscale, copied to the three channels)"
    assert "(20, 30, 3)" in r.stdout


def test_every_progress_bar_goes_through_the_one_helper():
    """No loop draws its own tqdm bar (it would write carriage returns into log files): convcorr_jax.core.progress."""
    root = Path(__file__).resolve().parents[1]
    found = subprocess.run(["git", "grep", "--untracked", "-nE", r"\btqdm(\.tqdm|\.write)?\(", "--", "convcorr_jax",
                            "convcorr_cli", "eval", "train", "bench"], cwd=root, capture_output=True, text=True,
                           check=False).stdout.splitlines()
    allowed = ("convcorr_jax/core/progress.py:", "convcorr_cli/main.py:")  # the helper; the command's log lines
    assert found and [line for line in found if not line.startswith(allowed)] == []


@pytest.mark.slow
def test_profile_splits_a_commands_wall_time(tmp_path, capsys):
    """`convcorr --profile=FILE COMMAND`: one stderr line and a JSON split whose parts add up to the wall time; an
    image size no other test uses, so that this process traces and lowers the command's programs anew."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 255, (74, 90, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(np.roll(a, 2, axis=1)).save(tmp_path / "b.png")
    prof = tmp_path / "profile.json"
    assert main([f"--profile={prof}", "align", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out",
                 str(tmp_path / "o"), "--backbone", "caffenet", "--weights", "random", "--max-side", "90",
                 "--iters", "2"]) == 0
    split = json.loads(prof.read_text())
    parts = ("imports", "tracing", "lowering", "compilation", "cache loads", "rest")
    assert split["wall"] > 0 and all(split[k] >= 0 for k in parts)
    assert abs(sum(split[k] for k in parts) - split["wall"]) < 1e-2  # rounded to 4 decimals each
    assert split["tracing"] > 0 and split["programs"] >= 1 and split["compiled"] + split["cache_hits"] >= 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"convcorr align: profile: {split['wall']:.1f} s = imports ") and "XLA compilation" in err


def test_profile_file_that_cannot_be_written_is_refused_before_the_command_runs(tmp_path, capsys):
    """`--profile=FILE` under a file (or at a folder): one line naming --profile, exit 2, before the command's work;
    not a FileExistsError traceback after the whole run."""
    a = np.random.default_rng(0).integers(0, 255, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    for prof in (tmp_path / "a.png" / "p.json", tmp_path):
        assert main([f"--profile={prof}", "align", str(tmp_path / "a.png"), str(tmp_path / "a.png"), "--features",
                     "sift", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "convcorr align: error: " in err and "field '--profile'" in err and "Traceback" not in err
        assert not (tmp_path / "o").exists()


def _pck_files(folder: Path) -> tuple[str, str]:
    preds, gt = folder / "p.npz", folder / "g.npz"
    rng = np.random.default_rng(0)
    np.savez(preds, preds=rng.random((3, 4, 2)) * 10)
    np.savez(gt, points=rng.random((3, 4, 2)) * 10, visible=np.ones((3, 4), bool), norm=np.full(3, 20.0))
    return str(preds), str(gt)


def test_json_dash_is_the_json_alone_on_stdout(tmp_path, monkeypatch, capsys):
    """`convcorr eval pck ... --json - | jq`: the JSON on stdout, the header and tables on stderr, no file "-"."""
    monkeypatch.chdir(tmp_path)
    preds, gt = _pck_files(tmp_path)
    capsys.readouterr()
    assert main(["eval", "pck", "--preds", preds, "--gt", gt, "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert set(json.loads(out)) >= {"per_joint", "mean", "curve"}
    assert "PCK@0.05 (%) per joint" in err and "wrote stdout" in err and "convcorr-json-" not in err, err
    assert not (tmp_path / "-").exists()


def test_json_dash_of_a_failed_command_prints_no_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    preds, _ = _pck_files(tmp_path)
    assert main(["eval", "pck", "--preds", preds, "--gt", str(tmp_path / "missing.npz"), "--json", "-"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, (out, err)


def test_every_json_flag_says_dash_is_stdout():
    with_json = {name: p for name, p in PARSERS.items() if _option(p, "--json") is not None}
    assert {"classify", "features", "align", "pose", "eval pck", "eval pf-willow"} <= set(with_json)
    for name, p in with_json.items():
        assert options.JSON_STDOUT in " ".join(p.format_help().split()), name


@pytest.mark.parametrize("argv, says", [
    (["evl"], "unknown command 'evl'; did you mean 'eval'?"),
    (["eval", "pf_willow", "--root", "PF"], "unknown subcommand 'pf_willow'; did you mean 'pf-willow'?"),
    (["match", "a.png", "b.png", "--points", "p.json", "--method", "ot-rhm"], "did you mean 'ot_rhm'?"),
    (["eval"], "a subcommand is required: one of pckh, pck, mpii,"),
    (["data"], "a subcommand is required: one of synth, inspect,"),
])
def test_an_unknown_or_missing_command_names_the_choices(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and says in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())


def test_the_command_line_and_the_library_suggest_the_same_name(monkeypatch):
    """"did you mean" of the command line (`main.did_you_mean`, quoted) and of the library (`errors.unknown_name`,
    plain) come from one lookup, `errors.closest_name`: the same suggestion, or none, whatever it returns."""
    from convcorr_cli import main as cli
    from convcorr_jax.core import errors

    known = ["pf-willow", "pf-pascal", "spair"]
    for word, want in (("pf_willow", "pf-willow"), ("spiar", "spair"), ("zzz", None)):
        assert errors.closest_name(word, known) == want
        assert cli.did_you_mean(word, known) == (f"; did you mean {want!r}?" if want else "")
        assert str(errors.unknown_name("cfg", "x", word, known)).endswith(f"; did you mean {want}?" if want else word)
    monkeypatch.setattr(errors, "closest_name", lambda name, known: "one")
    monkeypatch.setattr(cli, "closest_name", errors.closest_name)
    assert cli.did_you_mean("a", ["b"]) == "; did you mean 'one'?"
    assert str(errors.unknown_name("cfg", "x", "a", ["b"])).endswith("; did you mean one?")


@pytest.mark.parametrize("name", ["eval pf-pascal", "eval spair"])
def test_pf_benchmark_help_speaks_of_categories(name):
    """pf-pascal and spair take pf-willow's options, but count in categories, not PF-WILLOW's 90-pair sub-classes."""
    p = PARSERS[name]
    for flag in ("--classes", "--pairs", "--size", "--json"):
        text = " ".join(p._get_formatter()._format_action(_option(p, flag)).split())
        assert "sub-class" not in text and "all 90" not in text and "percent" not in text, (flag, text)
    assert "category" in " ".join(p.format_help().split())


def test_set_enters_an_item_of_a_tuple_of_configs_by_index(tmp_path):
    """`convcorr train pose --config person --set datasets.1.share=0.75`, as its help shows it, was refused by the
    parser as no field=value (a path segment that is an index); the first segment stays a name."""
    args = PARSERS["train pose"].parse_args(["--config", "person_tiny", "--set", "datasets.1.share=0.75",
                                             "--set", f"datasets.0.root={tmp_path}"])
    assert args.set == ["datasets.1.share=0.75", f"datasets.0.root={tmp_path}"]
    from convcorr_jax.core.config import override
    from convcorr_train.pose_configs import get_config

    cfg = override(get_config("person_tiny"), args.set)
    assert cfg.datasets[1].share == 0.75 and cfg.datasets[0].root == str(tmp_path)
    for bad in ("1.share=0.5", "datasets..share=1", "datasets.1.=1"):
        with pytest.raises(argparse.ArgumentTypeError):
            options.set_assignment(bad)
