"""Bad flags of `convcorr demo` and `convcorr launch` refused in one line (exit 2) before any work, and a closed
output pipe (`convcorr run --list | head`) ending a command quietly."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import convcorr_cli.main as cli
import convcorr_eval.demo as demo
from convcorr_eval.experiment import Result


@pytest.mark.parametrize("flags, field", [(["--seed", "-3"], "--seed"), (["--weights", "missing.pth"], "--weights"),
                                          (["--weights", ""], "--weights")])
def test_demo_refuses_bad_shared_flags_before_any_stage(flags, field, tmp_path, monkeypatch, capsys):
    """A flag every stage shares is refused once, not reported as every stage failing with a report written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "run_experiment", lambda *a, **k: pytest.fail("a stage ran"))
    rc = cli.main(["demo", "--only", "table1", "--size", "tiny", "--out", "out", *flags])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and f"field '{field}'" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("only", [",", "", " , "])
def test_demo_refuses_an_only_that_names_no_stage(only, tmp_path, monkeypatch, capsys):
    """`--only ,` (or an empty variable) ran every stage, the whole demo, as if --only were not given."""
    monkeypatch.setattr(demo, "run_experiment", lambda *a, **k: pytest.fail("a stage ran"))
    rc = cli.main(["demo", "--only", only, "--size", "tiny", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "field '--only'" in err, err
    assert "at least one stage name" in err and err.strip().endswith("got none")
    assert not (tmp_path / "out").exists()


def test_demo_runs_a_stage_named_twice_once(tmp_path, monkeypatch, capsys):
    """`--only table1,table1` ran table1 twice, "2/2 stages ok", its row and section twice in the report; a space
    after a comma was an unknown stage ' data'."""
    ran = []

    def fake(exp_id, cfg, out, *a, **k):
        ran.append(cfg.name)
        return Result(f"{cfg.name} fine"), 0.0, False

    monkeypatch.setattr(demo, "run_experiment", fake)
    assert cli.main(["demo", "--only", "table1,table1, data", "--size", "tiny", "--out", str(tmp_path / "o")]) == 0
    assert ran == ["table1", "data"] and "demo: 2/2 stages ok" in capsys.readouterr().out
    assert (tmp_path / "o" / "report.md").read_text().count("| table1 | long2014.table1 |") == 1


@pytest.mark.parametrize("flags, field", [(["-n", "0"], "--num-processes"), (["-d", "0"], "--local-devices"),
                                          (["--timeout", "0"], "--timeout"), (["--timeout", "-1"], "--timeout"),
                                          (["--timeout", "nan"], "--timeout")])
def test_launch_refuses_counts_and_timeouts_in_one_line(flags, field, tmp_path, capsys):
    marker = tmp_path / "ran"
    rc = cli.main(["launch", *flags, "--", "python", "-c", f"open({str(marker)!r}, 'w')"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and f"field '{field}'" in err, err
    assert "Traceback" not in err and not marker.exists()


def test_launch_refuses_a_program_not_found(capsys):
    rc = cli.main(["launch", "-n", "2", "--", "convcorr_no_such_program", "arg"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "convcorr_no_such_program (not found, or not executable)" in err


@pytest.mark.parametrize("command", [["eval", "flic", "--run", "R"], ["classify", "x.jpg"], ["train"]])
def test_launch_refuses_a_convcorr_command_that_runs_in_one_process(command, tmp_path, capsys):
    """Only `train pose` joins several processes; any other convcorr command would run whole N times over, every
    copy writing the same outputs: refused in one line before any process starts. One process runs it."""
    rc = cli.main(["launch", "-n", "2", "--", *command])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "field 'COMMAND'" in err and "train pose" in err, err
    assert "Traceback" not in err


class _ReaderGone(io.StringIO):
    """stdout whose reader left: every write fails as on a closed pipe."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_output_pipe_ends_quietly(monkeypatch, capsys):
    """`convcorr run --list | head -1`: the reader of stdout leaves; no traceback, the shell's SIGPIPE code."""
    monkeypatch.setattr(sys, "stdout", _ReaderGone())
    assert cli.main(["run", "--list"]) == cli.EXIT_PIPE
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["run", "--help"], ["run", "--list"]])
def test_a_reader_gone_before_the_output_is_flushed_ends_quietly(argv):
    """`convcorr --help | head -1` as a process: stdout a pipe (block-buffered), its reader gone before the command
    prints; what is flushed at the end meets the closed pipe too: no traceback, no "Exception ignored", code 141."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    p = subprocess.Popen([sys.executable, "-m", "convcorr_cli", *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdout.close()  # the reader left before the command wrote anything
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == cli.EXIT_PIPE and err == "", err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--list"],
                                  ["data", "synth", "objects", "--n", "2", "--out", "s"]])
def test_a_reader_of_stdout_and_stderr_gone_ends_with_141(argv, tmp_path):
    """`convcorr ... 2>&1 | head -1`: both streams one pipe whose reader left; the code is still the shell's 141,
    not 120 from Python's last flush of stderr at exit."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    p = subprocess.Popen([sys.executable, "-m", "convcorr_cli", *argv], stdout=write, stderr=write, env=env,
                         cwd=tmp_path)
    os.close(write)
    os.close(read)  # the reader left before the command wrote anything
    assert p.wait(timeout=120) == cli.EXIT_PIPE
