"""Run folders are atomic and honest: a finished run is kept, refused or replaced as a whole, never mixed with
another config; a failed or interrupted run leaves the previous one untouched; the partial folder of an
interrupted run is resumed. On a fake experiment (no JAX work) through `convcorr run`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import convcorr_cli.main as cli
from convcorr_jax.core import interrupt, io
from convcorr_eval import run_keys, runner
from convcorr_eval.experiment import Context, ExperimentConfig, Result

FAKE = "convcorr_tests_fake_experiment"


@dataclasses.dataclass(frozen=True)
class FakeConfig(ExperimentConfig):
    beta: float = 0.003
    fail: bool = False  # raise after writing a figure
    stop: bool = False  # a signal in the middle of the work


def _run(cfg: FakeConfig, ctx: Context) -> Result:
    state = ctx.run_dir / "state.txt"  # resumable state: counts the attempts that saw it
    attempts = int(state.read_text()) + 1 if state.is_file() else 1
    io.write_text(state, str(attempts))
    io.write_bytes(ctx.figures / f"beta{cfg.beta}.png", b"not a png")
    if cfg.fail:
        raise RuntimeError("failed on purpose")
    if cfg.stop:
        interrupt.request()
        interrupt.stop_if_requested()
    return Result(f"beta {cfg.beta}, attempt {attempts}", "| beta |\n|---|\n| 1 |\n", {"beta": cfg.beta,
                                                                                       "attempts": attempts})


@pytest.fixture
def fake(register_experiment) -> str:
    return register_experiment("test.fake", FAKE, "A fake experiment.", FakeConfig, _run)


def _cli(capsys, tmp: Path, *sets: str, force: bool = False) -> tuple[int, str, str]:
    args = ["run", "test.fake", "--size", "tiny", "--out", str(tmp), *[a for s in sets for a in ("--set", s)]]
    rc = cli.main(args + (["--force"] if force else []))
    out, err = capsys.readouterr()
    return rc, out, err


def _consistent(run_dir: Path) -> dict:
    """metrics.json of a finished run whose config.json, report and figures belong to the same run."""
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and config["config"] == metrics["key"]["settings"]
    assert config["code"] == metrics["key"]["version"] and config["experiment"] == metrics["key"]["kind"]
    assert metrics["summary"] in (run_dir / "report.md").read_text()
    assert [f.name for f in (run_dir / "figures").iterdir()] == [f"beta{metrics['metrics']['beta']}.png"]
    return metrics


def test_identical_kept_other_settings_refused_name_or_force(fake, tmp_path, capsys):
    run_dir = tmp_path / "test.fake"
    assert _cli(capsys, tmp_path)[0] == 0
    rc, out, _ = _cli(capsys, tmp_path)
    assert rc == 0 and "kept from an identical earlier run" in out
    rc, out, err = _cli(capsys, tmp_path, "beta=0.01")
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1, err
    assert "holds a finished run with other settings (beta: 0.003 -> 0.01)" in err
    assert "--set name=NEW" in err and "--force" in err and "--name " not in err
    assert _consistent(run_dir)["metrics"]["beta"] == 0.003
    assert _cli(capsys, tmp_path, "beta=0.01", "name=b")[0] == 0  # the way out 1: another folder
    assert _consistent(tmp_path / "b")["metrics"]["beta"] == 0.01
    rc, out, _ = _cli(capsys, tmp_path, "beta=0.01", force=True)  # the way out 2: replace it
    assert rc == 0 and "ok in" in out and _consistent(run_dir)["metrics"]["beta"] == 0.01
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    rc, _, err = _cli(capsys, tmp_path, "name=notes", force=True)
    assert rc == 2 and "is not a run folder" in err and (tmp_path / "notes" / "mine.txt").is_file()


def test_failed_or_interrupted_rerun_leaves_the_finished_run(fake, tmp_path, capsys):
    run_dir = tmp_path / "test.fake"
    assert _cli(capsys, tmp_path)[0] == 0
    before = {f: (run_dir / f).read_bytes() for f in ("config.json", "metrics.json", "report.md")}
    rc, _, err = _cli(capsys, tmp_path, "beta=0.01", "fail=true", force=True)
    assert rc == 1 and "failed on purpose" in err and f"failed; {run_dir} is as it was" in err
    rc, _, err = _cli(capsys, tmp_path, "beta=0.01", "stop=true", force=True)
    assert rc == 130 and err.strip().splitlines()[-1] == "convcorr run: interrupted; run the same command to resume"
    assert "Traceback" not in err and not interrupt.requested()
    assert {f: (run_dir / f).read_bytes() for f in before} == before
    assert _consistent(run_dir)["metrics"]["beta"] == 0.003
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["test.fake"]


def test_partial_folder_resumes_and_finished_state_carries_over(fake, tmp_path, capsys):
    run_dir = tmp_path / "test.fake"
    assert _cli(capsys, tmp_path, "stop=true")[0] == 130  # interrupted: its state stays in the partial folder
    assert not run_dir.exists()
    rc, out, _ = _cli(capsys, tmp_path, "stop=false")  # other settings: a fresh partial folder
    assert rc == 0 and _consistent(run_dir)["metrics"]["attempts"] == 1
    assert _cli(capsys, tmp_path, "beta=0.5", "stop=true", force=True)[0] == 130
    assert _cli(capsys, tmp_path, "beta=0.5", "stop=true", force=True)[0] == 130
    rc, out, _ = _cli(capsys, tmp_path, "beta=0.5", "stop=true", "stop=false", force=True)
    assert rc == 0 and "attempt 1" in out  # stop=false is other settings than stop=true: started afresh
    assert _cli(capsys, tmp_path, "beta=0.5", force=True)[0] == 0  # the same settings: the finished run's state
    assert _consistent(run_dir)["metrics"]["attempts"] == 2


def test_an_eval_alias_takes_the_name_its_refusal_names(fake, tmp_path, capsys):
    """`convcorr eval`'s aliases name their folders by a digest; `--set name=NEW`, the way out a refusal names, is
    their `--name`, not dropped."""
    import argparse

    from convcorr_cli.eval_runs import run_alias

    def alias(*sets: str, name: str | None = None) -> Path:
        args = argparse.Namespace(name=name, out=str(tmp_path), force=False, no_progress=True, metric="fake")
        return run_alias("fake", "test.fake", runner.make_config("test.fake", "tiny", sets), "fake", args)[1]

    assert alias(name="r") == tmp_path / "r" and alias().name.startswith("fake_")
    with pytest.raises(runner.RunExists, match="--set name=NEW"):
        alias("beta=0.01", name="r")
    assert alias("beta=0.01", "name=r2") == tmp_path / "r2"
    assert _consistent(tmp_path / "r2")["metrics"]["beta"] == 0.01
    assert alias("beta=0.01", "name=r2", name="r3") == tmp_path / "r3"  # --name first


def test_demo_stages_replace_changed_settings_and_code(fake, tmp_path, monkeypatch, capsys):
    """The demo's rule (`replace=True`): a stage with other settings runs again in place; the same settings with
    other code run again in every case."""
    cfg = runner.make_config("test.fake", "tiny")
    runner.run_experiment("test.fake", cfg, tmp_path, progress=False)
    other = dataclasses.replace(cfg, beta=0.02)
    with pytest.raises(runner.RunExists, match="--set name=NEW"):
        runner.run_experiment("test.fake", other, tmp_path, progress=False)
    assert not runner.run_experiment("test.fake", other, tmp_path, progress=False, replace=True)[2]
    assert runner.run_experiment("test.fake", other, tmp_path, progress=False)[2]  # identical: kept
    monkeypatch.setattr(run_keys, "code_version", lambda: "other code")
    capsys.readouterr()
    assert not runner.run_experiment("test.fake", other, tmp_path, progress=False)[2]
    assert "the code changed since its finished run" in capsys.readouterr().out
    assert _consistent(tmp_path / "test.fake")["key"]["version"] == "other code"


def test_replace_dir(tmp_path):
    new, dst = tmp_path / "new", tmp_path / "dst"
    new.mkdir(), dst.mkdir()
    (new / "a").write_text("new")
    (dst / "a").write_text("old")
    (dst / "b").write_text("old only")
    with pytest.raises(io.NotOwned, match="it holds a, b"):  # no kind: only an absent or empty folder is replaced
        io.replace_dir(new, dst)
    io.replace_dir(new, dst, io.FolderKind("a test folder", ("a", "b")))
    assert not new.exists() and sorted(p.name for p in dst.iterdir()) == ["a"] and (dst / "a").read_text() == "new"
    io.replace_dir(dst, tmp_path / "moved")
    assert (tmp_path / "moved" / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["moved"]


@pytest.mark.parametrize("weights, got", [("", "an empty value"), ("missing.pth", "missing.pth (no such file)")])
def test_weight_file_not_found_refused_before_any_folder(fake, tmp_path, capsys, monkeypatch, weights, got):
    """A mistyped `weights` is refused in one line before the run's folder is made (an empty value would name the
    working folder, whose every file the run key then fingerprinted)."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(capsys, tmp_path / "runs", f"weights={weights}")
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1, err
    assert "field 'weights'" in err and got in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", [".b.partial", ".b", " b", "b "])
def test_a_run_name_with_a_leading_dot_or_spaces_is_refused(fake, tmp_path, capsys, name):
    """A leading dot names the runner's own entries beside run folders: a finished run named `.b.partial` was
    deleted by the next run named b as its partial folder; `--set "name= "` made a folder named by a space. Both
    refused in one line naming `name`, before any folder is made."""
    rc, out, err = _cli(capsys, tmp_path / "runs", f"name={name}")
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1, err
    assert "field 'name'" in err and repr(name) in err and "no leading dot" in err
    assert not (tmp_path / "runs").exists()


def test_a_data_root_given_by_set_is_read_as_the_flag_reads_it(fake, tmp_path, capsys, monkeypatch):
    """`--set data_root=DIR` (data=synthetic) ran on synthetic data, the folder ignored without a word, while
    `--data-root DIR` reads the dataset the folder holds: now both read it, or refuse a folder of no known
    dataset in one line naming the spelling given; an empty value (the working folder) is refused as such."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for sets, field, got in (([f"data_root={empty}"], "'--set data_root'", "no known dataset in it"),
                             (["data_root="], "'data_root'", "an empty value")):
        rc, out, err = _cli(capsys, tmp_path / "runs", *sets)
        assert rc == 2 and not out and len(err.strip().splitlines()) == 1, err
        assert f"field {field}" in err and err.strip().endswith(got), err
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(runner, "detect_dataset", lambda root: "flic")
    assert runner.make_config("test.fake", "tiny", [f"data_root={empty}"]).data == "flic"
    assert runner.make_config("test.fake", "tiny", data_root=str(empty)).data == "flic"
    assert runner.make_config("test.fake", "tiny", [f"data_root={empty}", "data=synthetic"]).data == "synthetic"


def test_a_run_of_another_experiment_in_the_folder_names_the_experiment_first(fake, register_experiment, tmp_path,
                                                                              capsys):
    """The refusal shows three changes: another experiment in the folder was hidden in "N more" behind the
    config fields that sort before "experiment"."""
    @dataclasses.dataclass(frozen=True)
    class Other(ExperimentConfig):
        alpha: float = 1.0
        beta: float = 1.0
        code: int = 1
        count: int = 1

    register_experiment("test.other", "convcorr_tests_other_experiment", "Another.", Other, _run)
    assert _cli(capsys, tmp_path)[0] == 0
    rc = cli.main(["run", "test.other", "--size", "tiny", "--out", str(tmp_path), "--set", "name=test.fake"])
    err = capsys.readouterr().err
    assert rc == 2 and 'holds a finished run with other settings (experiment: "test.fake" -> "test.other";' in err, err
