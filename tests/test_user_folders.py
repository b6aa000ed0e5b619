"""Nothing is deleted or overwritten that the project did not write: every command and function that makes or
replaces a folder, pointed at a folder of someone's files (a notes file, a sub-folder with a file, a config.json of
their own), refuses in one line and leaves every byte as it was (`io.check_replaceable`, `io.FolderKind`); its own
earlier output is still replaced where that is asked for (--force, the runner's rule for finished runs)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convcorr_cli.main as cli
from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import shipped
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.model import ModelConfig
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_jax.weights.orbax_io import PARAMS_FOLDER, save_params
from convcorr_eval import runner
from convcorr_eval.experiment import Context, ExperimentConfig, Result
from convcorr_train import ship_model

TINY = ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)
KIND = io.FolderKind("a test folder", ("out.json", "parts/a.bin", "state"), marker=lambda f: (f / "out.json").is_file())


def _users(folder: Path, config: bool = False) -> Path:
    """A folder of someone's files: notes.txt, sub/data.csv, and with `config` a config.json of their own."""
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes, not the project's\n")
    (folder / "sub" / "data.csv").write_bytes(b"a,b\n1,2\n")
    if config:
        (folder / "config.json").write_text('{"learning_rate": 0.1, "mine": true}\n')
    return folder


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """{relative path: bytes (None for a folder)} of everything under folder."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def _refused(capsys, command, *names: str) -> str:
    """Run `command()` (a command's main) and check it refused: exit code 2, one line on stderr naming `names`."""
    capsys.readouterr()
    rc = command()
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (rc, err)
    for name in names:
        assert name in err, err
    return err


# --- the helper --------------------------------------------------------------------------------------------------


def test_check_replaceable_rule(tmp_path):
    assert io.check_replaceable(tmp_path / "absent", KIND) is False
    (tmp_path / "empty").mkdir()
    assert io.check_replaceable(tmp_path / "empty", KIND) is False
    assert io.check_replaceable(tmp_path / "empty", None) is False
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="an existing file"):
        io.check_replaceable(tmp_path / "file", KIND)
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    with pytest.raises(InputError, match="not a link"):
        io.check_replaceable(tmp_path / "link", KIND)
    own = tmp_path / "own"
    (own / "parts").mkdir(parents=True)
    (own / "state").mkdir()
    (own / "state" / "anything").write_text("the kind's folder, all of it")
    (own / "out.json").write_text("{}")
    (own / "parts" / "a.bin").write_bytes(b"1")
    (own / ".out.k3j_x9ab.part.json").write_text("a killed atomic write")  # `atomic_path`'s leftover
    assert io.check_replaceable(own, KIND) is True and io._foreign_entries(own, KIND) == []
    (own / "parts" / "b.bin").write_bytes(b"2")  # nested: named by path
    with pytest.raises(io.NotOwned) as e:
        io.check_replaceable(own, KIND, "--out")
    assert str(e.value) == (f"{own}: --out holds parts/b.bin besides the files of a test folder; nothing was "
                            "changed: give another --out, or move those files out")
    assert e.value.foreign == ["parts/b.bin"]
    users = _users(tmp_path / "users")
    for kind, said in ((KIND, "is not a test folder (it holds notes.txt, sub/)"),
                       (None, "is a non-empty folder (it holds notes.txt, sub/)")):
        with pytest.raises(io.NotOwned, match=rf"--out {re.escape(said)}"):
            io.check_replaceable(users, kind)
    for i in range(4):
        (users / f"n{i}.txt").write_text("")
    with pytest.raises(io.NotOwned, match=r"it holds n0.txt, n1.txt, n2.txt and 3 more\)"):
        io.check_replaceable(users, KIND)
    recorded = dataclasses.replace(KIND, marker=None, recorded=lambda f: [p.name for p in f.iterdir()])
    assert io.check_replaceable(users, recorded) is True  # what the folder records as its own


def test_replace_dir_swaps_only_an_owned_folder(tmp_path):
    users, new = _users(tmp_path / "users"), tmp_path / "new"
    new.mkdir()
    (new / "out.json").write_text('{"new": 1}')
    before = _snapshot(users)
    for kind in (KIND, None):
        with pytest.raises(io.NotOwned):
            io.replace_dir(new, users, kind)
    assert _snapshot(users) == before and (new / "out.json").is_file()
    own = tmp_path / "own"
    own.mkdir()
    (own / "out.json").write_text('{"old": 1}')
    io.replace_dir(new, own, KIND)
    assert not new.exists() and _snapshot(own) == {"out.json": b'{"new": 1}'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own", "users"]  # the old folder is gone, nothing else


# --- model folders: shipped.write, ship_model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, write_pose_run):
    """A finished synthetic run of the tiny cascade (initial parameters), 40 people."""
    out = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(name="tiny_run", out=str(out), model=TINY, batch_size=4, steps=(1, 0, 0), n_samples=40)
    run = write_pose_run(cfg)
    io.write_json(run / "metrics.json", {"status": "ok", "key": {"kind": "train.pose", "version": "0" * 16},
                                         "seconds": 1.0, "versions": {}, "metrics": {"evals": []}})
    return run, cfg


def test_ship_model_refuses_someones_folder_and_replaces_its_own_with_force(tiny_run, tmp_path, capsys):
    run, cfg = tiny_run

    def ship(out: Path, *more: str):
        return lambda: ship_model.cli(["--run", str(run), "--out", str(out), *more])

    for config in (False, True):
        users = _users(tmp_path / f"users{config}", config)
        before = _snapshot(users)
        _refused(capsys, ship(users), str(users), "is not a model folder", "notes.txt", "sub/")
        _refused(capsys, ship(users, "--force"), "is not a model folder")  # --force replaces its own only
        assert _snapshot(users) == before
    run_before = _snapshot(run)
    _refused(capsys, ship(run, "--force"), "is not a model folder", "checkpoints/")  # a training run is no model
    assert _snapshot(run) == run_before
    model = tmp_path / "model"
    assert ship(model)() == 0
    first = _snapshot(model)
    _refused(capsys, ship(model), "--force to replace the model folder there")  # its own output: with --force
    assert _snapshot(model) == first
    assert ship(model, "--force", "--summary", "again")() == 0
    assert json.loads((model / shipped.MODEL_FILE).read_text())["summary"] == "again"
    (model / "notes.txt").write_text("mine")  # someone's file inside a model folder: refused even with --force
    kept = _snapshot(model)
    _refused(capsys, ship(model, "--force"), "holds notes.txt besides the files of a model folder")
    assert _snapshot(model) == kept
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no folder left aside


@pytest.mark.parametrize("name", ["../elsewhere", "a/b", ".."])
def test_ship_model_refuses_a_name_that_is_a_path(tmp_path, capsys, name):
    """--name is the package's models/NAME: a path in it ("../elsewhere") wrote outside the models folder."""
    assert ship_model.cli(["--run", str(tmp_path), "--name", name]) == 2
    err = capsys.readouterr().err
    assert "field '--name': expected a plain model name" in err and err.count("\n") == 1, err
    assert not (shipped.MODELS.parent / "elsewhere").exists()


def test_ship_model_refuses_a_bad_scores_file_in_one_line_before_any_work(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "flat.json").write_text('{"PCK": 1.0}')
    for name, said in (("absent.json", "No such file"), ("bad.json", "Expecting"), ("list.json", "got list"),
                       ("flat.json", "not an object")):
        _refused(capsys, lambda: ship_model.cli(["--run", str(run), "--out", str(tmp_path / "m"), "--scores",
                                                 str(tmp_path / name)]), name, "--scores", said)
    assert not (tmp_path / "m").exists()


def test_shipped_write_replaces_only_a_model_folder(tiny_run, tmp_path):
    run, cfg = tiny_run
    params = run_folder.load_run(run)[1]
    about = {"summary": "", "expects": "", "scores": {}, "made_by": {}}
    users = _users(tmp_path / "users", config=True)
    (users / shipped.MODEL_FILE).write_text('{"my": "model.json, not a model record"}')
    before = _snapshot(users)
    with pytest.raises(io.NotOwned, match="is not a model folder"):
        shipped.write(users, "m", cfg, params, None, None, about)
    assert _snapshot(users) == before
    model = tmp_path / "m"
    shipped.write(model, "m", cfg, params, None, None, about)
    (model / shipped.FRAMES).mkdir()
    (model / shipped.FRAMES / "mine.txt").write_text("mine")
    with pytest.raises(io.NotOwned, match="holds frames/mine.txt besides"):
        shipped.write(model, "m", cfg, params, None, None, about)
    (model / shipped.FRAMES / "mine.txt").unlink()
    record = shipped.write(model, "m", cfg, params, None, None, {**about, "summary": "second"})
    assert record["summary"] == "second" and shipped.read_folder(model).record["summary"] == "second"


def test_shipped_write_removes_only_its_own_dead_staging_folders(tiny_run, tmp_path, monkeypatch):
    """A write killed by SIGKILL left its hidden staging folder beside the model for good; the next write of the
    same model removes such folders whose process is gone, and nothing else."""
    run, cfg = tiny_run
    params = run_folder.load_run(run)[1]
    about = {"summary": "", "expects": "", "scores": {}, "made_by": {}}
    staged, write_files = [], shipped.write_files
    monkeypatch.setattr(shipped, "write_files",
                        lambda folder, *a: staged.append(folder.name) or write_files(folder, *a))
    shipped.write(tmp_path / "m", "m", cfg, params, None, None, about)  # the name a write stages under
    pid = str(os.getpid())
    assert len(staged) == 1 and f"-{pid}-" in staged[0]
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = staged[0].replace(f"-{pid}-", f"-{done.stdout.strip()}-")  # as a killed write leaves it
    alive = staged[0].replace(f"-{pid}-", f"-{os.getppid()}-")  # a write in progress elsewhere
    kept = [alive, staged[0].replace(".m.", ".other.").replace(f"-{pid}-", f"-{done.stdout.strip()}-"),
            dead.replace(".writing-", ".writing-otherhost-"), ".m.abcd1234", "m.writing-note"]
    for name in (dead, *kept):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.json").write_text("{}")
    (tmp_path / (dead[:-8] + "file1234")).write_text("a file named like one: not a staging folder")
    kept.append(dead[:-8] + "file1234")
    shipped.write(tmp_path / "m", "m", cfg, params, None, None, about)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m", *kept])


# --- experiment run folders: the runner, convcorr run, convcorr demo ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class FakeConfig(ExperimentConfig):
    beta: float = 0.003


def _fake_run(cfg: FakeConfig, ctx: Context) -> Result:
    io.write_text(ctx.run_dir / "state.txt", "the run's own state")
    io.write_bytes(ctx.figures / "f.png", b"not a png")
    return Result(f"beta {cfg.beta}", "", {"beta": cfg.beta})


@pytest.fixture
def fake(register_experiment) -> str:
    return register_experiment("test.folders", "convcorr_tests_fake_folders", "A fake experiment.", FakeConfig,
                               _fake_run)


def _run_cli(out: Path, *sets: str, force: bool = False):
    return lambda: cli.main(["run", "test.folders", "--size", "tiny", "--out", str(out),
                             *[a for s in sets for a in ("--set", s)], *(["--force"] if force else [])])


def test_convcorr_run_refuses_someones_folder(fake, tmp_path, capsys):
    for config in (False, True):
        users = _users(tmp_path / f"users{config}", config)
        before = _snapshot(users)
        for force in (False, True):
            _refused(capsys, _run_cli(tmp_path, f"name=users{config}", force=force), str(users),
                     "is not a run folder", "notes.txt", "sub/", "--set name=NEW")
        assert _snapshot(users) == before
    assert _run_cli(tmp_path, "name=r")() == 0  # a run folder of its own ...
    (tmp_path / "r" / "notes.txt").write_text("mine")  # ... with someone's notes in it
    before = _snapshot(tmp_path / "r")
    assert _run_cli(tmp_path, "name=r")() == 0  # identical: kept, nothing written
    _refused(capsys, _run_cli(tmp_path, "name=r", "beta=0.5", force=True),
             "holds notes.txt besides the files of a run folder")
    assert _snapshot(tmp_path / "r") == before
    (tmp_path / "r" / "notes.txt").unlink()
    assert _run_cli(tmp_path, "name=r", "beta=0.5", force=True)() == 0  # its own earlier run: replaced (--force)
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["config"]["beta"] == 0.5 and config["outputs"] == ["config.json", "figures", "metrics.json",
                                                                      "report.html", "report.md", "state.txt"]
    assert not runner.run_experiment("test.folders", runner.make_config("test.folders", "tiny", ["name=r"]),
                                      tmp_path, progress=False, replace=True)[2]  # the demo's rule: replaced


def test_a_partial_folder_is_deleted_only_when_it_is_a_runs(fake, tmp_path, capsys):
    for leftover in (".p.partial", ".p.seeding"):
        partial = _users(tmp_path / leftover, config=True)
        before = _snapshot(partial)
        _refused(capsys, _run_cli(tmp_path, "name=p"), str(partial), "is not a partial run folder")
        assert _snapshot(partial) == before and not (tmp_path / "p").exists()
        if leftover == ".p.partial":  # moved away: the seeding folder of a new partial one is next
            partial.rename(tmp_path / "moved")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".p.lock", ".p.seeding", "moved"]


def test_convcorr_demo_refuses_someones_folder(tmp_path, capsys):
    users = _users(tmp_path / "users", config=True)
    before = _snapshot(users)
    _refused(capsys, lambda: cli.main(["demo", "--only", "table1", "--size", "tiny", "--out", str(users)]),
             "is not a demo folder", "config.json, notes.txt, sub/")
    assert _snapshot(users) == before


def test_convcorr_demo_refuses_someones_stage_folder_naming_its_own_flags(tmp_path, capsys):
    """A stage folder of someone's files is refused with the demo's way out: --out, never `convcorr run`'s
    `--set name=NEW` (the demo has no --set)."""
    from test_cli_flags import PARSERS

    users = _users(tmp_path / "demo" / "table1")
    before = _snapshot(users)
    capsys.readouterr()
    assert cli.main(["demo", "--only", "table1", "--size", "tiny", "--out", str(tmp_path / "demo"),
                     "--no-progress"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("[table1] failed"))
    assert "is not a run folder" in line and "notes.txt, sub/" in line and "--out DIR" in line, line
    assert set(re.findall(r"--[a-z][\w-]*", line)) <= set(PARSERS["demo"]._option_string_actions), line
    assert _snapshot(users) == before


# --- training runs: loop.train, convcorr train pose -------------------------------------------------------------


def _cfg(out: Path, name: str, **kw) -> TrainConfig:
    return TrainConfig(name=name, out=str(out), model=TINY, batch_size=4, steps=(1, 0, 0), n_samples=40, **kw)


def test_training_refuses_a_folder_that_is_not_its_run(tmp_path, write_pose_run, capsys):
    from convcorr_jax.pose.training import loop

    for config in (False, True):
        users = _users(tmp_path / f"users{config}", config)
        before = _snapshot(users)
        with pytest.raises(InputError) as e:
            loop.train(_cfg(tmp_path, f"users{config}"))
        msg = str(e.value)
        assert len(msg.splitlines()) == 1 and str(users) in msg and "--set name=NEW" in msg
        assert ("notes.txt, sub/" in msg) if not config else ("config.json, notes.txt, sub/" in msg), msg
        assert _snapshot(users) == before and not (tmp_path / f".users{config}.lock").exists()
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "config.json").write_text('{"mine": true}')  # a config.json of someone's alone
    with pytest.raises(InputError, match=r"is not a training run \(it holds config.json\)"):
        loop.train(_cfg(tmp_path, "stray"))
    assert _snapshot(stray) == {"config.json": b'{"mine": true}'}
    killed = tmp_path / "killed"  # a run of other settings killed before its first checkpoint
    killed.mkdir()
    io.write_json(killed / "config.json", dataclasses.asdict(_cfg(tmp_path, "killed", seed=7)))
    with pytest.raises(InputError, match=r"holds a run of other settings \(seed\)"):
        run_folder.check_run_folder(_cfg(tmp_path, "killed"))
    run_folder.check_run_folder(_cfg(tmp_path, "killed", seed=7, checkpoint_every=3))  # its own: goes on
    run = write_pose_run(_cfg(tmp_path, "own"))  # a run of its own, resumable ...
    run_folder.check_run_folder(_cfg(tmp_path, "own"))
    (run / "notes.txt").write_text("mine")  # ... with someone's notes in it
    before = _snapshot(run)

    def train_pose(name: str):
        return lambda: cli.main(["train", "pose", "--config", "tiny", "--out", str(tmp_path), "--set", f"name={name}"])

    _refused(capsys, train_pose("own"), str(run), "holds notes.txt besides the files of a training run",
             "--set name=NEW")
    assert _snapshot(run) == before
    _refused(capsys, train_pose("usersTrue"), "is not a training run", "config.json, notes.txt, sub/")


def test_an_out_that_is_a_run_or_a_model_itself_is_refused_before_anything_is_written(tmp_path, write_pose_run,
                                                                                      capsys):
    """`convcorr train pose --out runs/own` (the run folder, not the folder of runs) trained a new run nested in
    it, its lock file beside: the run `own` then held pose_tiny/ and .pose_tiny.lock besides its files and every
    resume of it was refused. Now one line naming --out and its parent, nothing written; a model folder as well."""
    from convcorr_jax.pose.model_files import MODEL_FILE

    run = write_pose_run(_cfg(tmp_path, "own"))
    model = tmp_path / "model"
    model.mkdir()
    (model / MODEL_FILE).write_text('{"files": {}}')  # a model's record (`model_files.MODEL_FOLDER`'s mark)
    for folder, kind in ((run, "a training run itself"), (model, "a model folder itself")):
        before = _snapshot(tmp_path)
        _refused(capsys, lambda: cli.main(["train", "pose", "--config", "tiny", "--no-progress", "--out", str(folder),
                                           "--set", "steps=1,0,0"]), str(folder), f"--out is {kind}",
                 f"--out {tmp_path}")
        assert _snapshot(tmp_path) == before
    run_folder.check_run_folder(_cfg(tmp_path, "own"))  # the run itself: still resumable


@pytest.mark.parametrize("inside", [".", "logs"])
def test_a_run_whose_logdir_is_inside_its_folder_is_still_its_own(tmp_path, write_pose_run, inside):
    """`--logdir` in the run folder (or a folder of it): its event files are the run's, so the run resumes; someone's
    file beside them is refused all the same."""
    logdir = (tmp_path / "lg" / inside).resolve()
    cfg = _cfg(tmp_path, "lg", logdir=str(logdir))
    run = write_pose_run(cfg)
    logdir.mkdir(exist_ok=True)
    (logdir / "events.out.tfevents.1795995707.host").write_bytes(b"events")
    run_folder.check_run_folder(cfg)
    run_folder.check_run_folder(dataclasses.replace(cfg, logdir=None))  # the old event files: still the run's
    (logdir / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="notes.txt besides the files of a training run"):
        run_folder.check_run_folder(cfg)
    assert run.is_dir()


def test_load_run_writes_nothing_into_a_folder_without_a_run(tmp_path):
    from convcorr_jax.pose.training import checkpoints

    users = _users(tmp_path / "users", config=True)
    before = _snapshot(users)
    with pytest.raises(InputError, match="no checkpoints folder"):
        checkpoints.checkpoint_params(users, _cfg(tmp_path, "users"))
    assert _snapshot(users) == before


# --- weights and data ----------------------------------------------------------------------------------------------


def test_weights_import_and_save_params(tmp_path, capsys):
    pth = Path(__file__).parent / "golden" / "weights" / "tiny_zip.pth"  # not an AlexNet: the conversion fails

    def import_to(out: Path, *more: str):
        return lambda: cli.main(["weights", "import", str(pth), "--arch", "torchvision_alexnet", "--out", str(out),
                                 *more])

    users = _users(tmp_path / "users", config=True)
    before = _snapshot(users)
    for force in ((), ("--force",)):
        _refused(capsys, import_to(users, *force), str(users), "is not an orbax parameter folder",
                 "config.json, notes.txt, sub/")
    with pytest.raises(io.NotOwned):
        save_params(users, {"w": np.ones(2, np.float32)})
    assert _snapshot(users) == before
    tree = tmp_path / "tree"
    save_params(tree, {"w": np.zeros(2, np.float32)})
    assert io.check_replaceable(tree, PARAMS_FOLDER) is True
    first = _snapshot(tree)
    _refused(capsys, import_to(tree), "--force to replace the converted tree there")  # its own: with --force
    _refused(capsys, import_to(tree, "--force"), "features.0.weight")  # a failed conversion replaces nothing
    assert _snapshot(tree) == first
    save_params(tree, {"w": np.ones(2, np.float32)})  # the library replaces its own tree
    assert _snapshot(tree) != first and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("command", [
    ["data", "synth", "faces", "--n", "2"],
    ["data", "fetch", "flic", "--url", "http://127.0.0.1:9/none.zip", "--sha256", "0" * 64],
    ["data", "unpack-flic", "absent.tar"],
], ids=["synth", "fetch", "unpack-flic"])
def test_data_writers_refuse_someones_folder(command, tmp_path, capsys):
    users = _users(tmp_path / "users", config=True)
    before = _snapshot(users)
    _refused(capsys, lambda: cli.main([*command, "--out", str(users)]), str(users),
             "is a non-empty folder (it holds config.json, notes.txt, sub/)")
    assert _snapshot(users) == before


def test_data_fetch_and_unpack_refuse_before_any_work(tmp_path):
    from convcorr_jax.data import fetch

    users = _users(tmp_path / "users")
    before = _snapshot(users)
    with pytest.raises(io.NotOwned, match="out is a non-empty folder"):
        fetch.fetch_dataset("flic", users, url="http://127.0.0.1:9/none.zip", sha256="0" * 64,
                            archive_dir=tmp_path / "archives")
    assert _snapshot(users) == before and not (tmp_path / "archives").exists()
