"""Two runs, one folder: a run holds an OS lock on its run folder (`io.folder_lock`); a second run on the same
folder is refused at once in one line naming the holder's process id, and a lock left by a killed process never
blocks a later run. Each case runs `convcorr` in subprocesses: exit code, stderr and the folder checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convcorr_jax.core import io

RUN = ["run", "long2014.table1", "--size", "tiny", "--set", "weights=random", "--backbone", "caffenet"]
HOLD = """
    import sys, time
    from convcorr_jax.core import io
    with io.folder_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
"""


def _convcorr(out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "convcorr_cli", *RUN, "--out", str(out)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, JAX_PLATFORMS="cpu"),
                            **kw)


def _holder(folder: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(folder)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_writer_is_refused_naming_the_first_and_a_killed_one_blocks_nothing(tmp_path):
    folder = tmp_path / "runs" / "long2014.table1"
    holder = _holder(folder)
    try:
        r = _convcorr(tmp_path / "runs")
        out, err = r.communicate(timeout=300)
        assert r.returncode == 2, err[-2000:]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and f"in use by process {holder.pid}" in lines[0] and str(folder) in lines[0], err
        assert not folder.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "runs" / ".long2014.table1.lock").read_text() == str(holder.pid)  # left by the killed holder
    with io.folder_lock(folder):  # and blocks nothing (a whole run on it: test_two_runs_started_together)
        pass


@pytest.mark.slow
def test_two_runs_started_together(tmp_path):
    """Both started at once: one runs; the other is refused in one line or, started after the first finished,
    finds its finished run. Never a traceback, and the folder holds one complete run."""
    procs = [_convcorr(tmp_path / "runs") for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for rc, out, err in results:
        assert "Traceback" not in err, err
        if rc == 2:
            assert len(err.strip().splitlines()) == 1 and "in use by process" in err, err
    metrics = json.loads((tmp_path / "runs" / "long2014.table1" / "metrics.json").read_text())
    assert metrics["status"] == "ok"


def test_the_lock_is_reentrant_across_sequential_holders(tmp_path):
    folder = tmp_path / "f"
    with io.folder_lock(folder):
        with pytest.raises(io.FolderBusy, match=f"in use by process {os.getpid()}"):
            with io.folder_lock(folder):  # another descriptor, even in this process: refused
                pass
    with io.folder_lock(folder):  # released on exit
        pass
    assert (tmp_path / ".f.lock").read_text() == str(os.getpid())


def test_a_lock_that_cannot_be_opened_is_one_line(tmp_path, monkeypatch, capsys):
    """A `.<name>.lock` that is a folder, or a file this process may not write, was an OSError traceback: one line
    naming the lock file, exit 2, nothing made and the folder left as it was."""
    from convcorr_cli.main import main
    from convcorr_jax.core.errors import InputError

    (tmp_path / ".t.lock").mkdir()
    assert main(["run", "long2014.table1", "--size", "tiny", "--set", "name=t", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ".t.lock: field 'lock file'" in err[0] and "Is a directory" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.lock"]

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:  # as for a read-only lock file (the tests may run as root, which writes it)
        m.setattr(os, "open", refused)
        with pytest.raises(InputError, match=r"\.u\.lock: field 'lock file'.*got Permission denied"):
            with io.folder_lock(tmp_path / "u"):
                pass


def test_a_training_run_folder_has_one_writer(tmp_path):
    from test_pose_helpers import stick_people

    from convcorr_jax.pose import model as pose_model
    from convcorr_jax.pose.training.loop import train
    from convcorr_jax.pose.training.config import TrainConfig

    cfg = TrainConfig(name="t", out=str(tmp_path), batch_size=4, steps=(1, 0, 0), eval_limit=0,
                        model=pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8,
                                            fine=(4, 4, 4, 4), context=16))
    data = (stick_people(4, 32, 0), stick_people(2, 32, 1))
    holder = _holder(tmp_path / "t")
    try:
        with pytest.raises(io.FolderBusy, match=f"in use by process {holder.pid}"):
            train(cfg, data, progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not (tmp_path / "t" / "checkpoints").exists()


@pytest.mark.parametrize("kind", [io.FolderKind("a test folder", ("a.txt",)), None])
def test_a_folder_another_writer_puts_in_place_meanwhile(tmp_path, monkeypatch, kind):
    """Two writers finish together into one absent folder (two exports of a model, two unpackings): the other's
    folder arrives between this one's check and its rename, which was an OSError traceback (Directory not empty).
    Now it is checked again: replaced as an earlier folder of the kind would be, or refused in one line."""
    dst, mine, theirs = tmp_path / "out", tmp_path / ".mine", tmp_path / ".theirs"
    for folder, text in ((mine, "mine"), (theirs, "theirs")):
        folder.mkdir()
        (folder / "a.txt").write_text(text)
    rename = os.rename

    def other_writer_first(a, b):
        if theirs.exists():
            rename(theirs, dst)  # the other writer's finished folder, put in place just before this one's rename
        rename(a, b)

    monkeypatch.setattr(os, "rename", other_writer_first)
    if kind is None:  # only an absent or empty folder may be replaced: the other's is refused, nothing moves
        with pytest.raises(io.NotOwned, match="is a non-empty folder"):
            io.replace_dir(mine, dst, kind)
        assert (dst / "a.txt").read_text() == "theirs" and (mine / "a.txt").read_text() == "mine"
    else:
        io.replace_dir(mine, dst, kind)
        assert (dst / "a.txt").read_text() == "mine" and not mine.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_unpackings_into_one_folder(tmp_path, monkeypatch):
    """Another unpacking's folder arrives at --out just before this one moves its own in: it was an OSError traceback
    (Directory not empty); now one line naming --out, the other's folder kept and nothing of this one left."""
    import zipfile

    from convcorr_jax.data.fetch import install_archive

    archive, out, theirs = tmp_path / "x.zip", tmp_path / "data" / "x", tmp_path / "data" / ".theirs"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("top/f.txt", "mine")
    theirs.mkdir(parents=True)
    (theirs / "f.txt").write_text("theirs")
    rename, replace = os.rename, os.replace

    def other_first(move):
        def moved(a, b):
            if theirs.exists() and Path(b) == out:
                rename(theirs, out)  # the other unpacking's folder, put in place just before this one's move
            move(a, b)
        return moved

    monkeypatch.setattr(os, "rename", other_first(rename))
    monkeypatch.setattr(os, "replace", other_first(replace))
    with pytest.raises(io.NotOwned, match="out is a non-empty folder"):
        install_archive(archive, out, "x", "top", lambda root: "ok")
    assert (out / "f.txt").read_text() == "theirs" and sorted(p.name for p in out.parent.iterdir()) == ["x"]
