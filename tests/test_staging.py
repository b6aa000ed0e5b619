"""Staging beside a target (`core.staging`): what a killed writer (SIGKILL: no clean-up runs) leaves beside its target
is removed by the next write of the same target, and nothing else is."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.core import cache, io, staging
from convcorr_jax.data.fetch import install_archive
from convcorr_jax.weights import fetch as weights_fetch
from convcorr_jax.weights.orbax_io import load_orbax_params, save_params


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_make_removes_only_dead_entries_of_its_kind(tmp_path):
    target = tmp_path / "t"
    mine = staging.make(target)
    assert mine.is_dir() and mine.name.startswith(staging.prefix(target) + f"{os.getpid()}-")
    assert oct(mine.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # a plain mkdir's, not mkdtemp's 0700
    dead = f"{staging.prefix(target)}{_dead_pid()}-abcd1234"
    alive = f"{staging.prefix(target)}{os.getppid()}-abcd1234"  # a writer in progress elsewhere
    kept = [mine.name, alive, dead.replace(".t.", ".other."), dead.replace(".writing-", ".writing-otherhost-"),
            dead + "x", ".t.abcd1234.partial", "t"]
    for name in (dead, *kept[1:]):
        (tmp_path / name).mkdir()
    (tmp_path / (dead[:-8] + "file1234")).write_text("a file named like one: not a staging folder")
    kept.append(dead[:-8] + "file1234")
    (tmp_path / (dead[:-8] + "link1234")).symlink_to(tmp_path / "t")
    kept.append(dead[:-8] + "link1234")
    second = staging.make(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, second.name])
    # staging a file: only the dead file goes, the folders stay
    dead_file = tmp_path / (dead[:-8] + "file1234")
    dead_file.rename(tmp_path / dead)
    (tmp_path / (dead[:-8] + "file1234")).mkdir()
    third = staging.make(target, folder=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, second.name, third.name])
    assert staging.make(tmp_path / "missing" / "t", folder=False).is_file()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _killed(code: str, tmp_path: Path) -> None:
    """Run `code` in a fresh interpreter that kills itself (SIGKILL) where the code says `die()`."""
    prelude = "import os, signal\nfrom pathlib import Path\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    env = {**os.environ, "CONVCORR_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_unpacking_leaves_nothing_after_the_next(tmp_path):
    archive = tmp_path / "a" / "x.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("top/f.txt", "data")
    out = tmp_path / "data" / "x"
    _killed(f"""
        from convcorr_jax.data.fetch import install_archive
        install_archive(Path({str(archive)!r}), Path({str(out)!r}), "x", "top", lambda root: die())
        """, tmp_path)
    assert _hidden(out.parent)  # the killed unpacking's folder
    assert install_archive(archive, out, "x", "top", lambda root: "ok") == "ok"
    assert sorted(p.name for p in out.parent.iterdir()) == ["x"] and (out / "f.txt").read_text() == "data"


def test_a_killed_download_leaves_nothing_after_the_next(tmp_path, monkeypatch):
    dest = tmp_path / "d" / "w.bin"
    _killed(f"""
        from convcorr_jax.weights import fetch
        def cut(url, dest, part, out, *rest):
            out.write(b"half a file")
            out.flush()
            die()
        fetch._fetch = cut
        fetch.download("https://example.invalid/w.bin", Path({str(dest)!r}), sha256="0" * 64)
        """, tmp_path)
    assert _hidden(dest.parent)  # the killed download's file

    def whole(url, dest, part, out, *rest):
        out.write(b"the file")
        out.flush()
        os.replace(part, dest)
        return dest

    monkeypatch.setattr(weights_fetch, "_fetch", whole)
    weights_fetch.download("https://example.invalid/w.bin", dest, sha256="0" * 64)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["w.bin"]


def test_a_killed_save_params_leaves_nothing_after_the_next(tmp_path):
    tree = tmp_path / "p" / "tree"
    _killed(f"""
        from convcorr_jax.weights import orbax_io
        class Dies:
            def save(self, path, params):
                Path(path).mkdir()
                die()
        orbax_io._checkpointer = Dies
        orbax_io.save_params(Path({str(tree)!r}), {{}})
        """, tmp_path)
    assert _hidden(tree.parent)
    save_params(tree, {"w": np.ones(2, np.float32)})
    assert sorted(p.name for p in tree.parent.iterdir()) == ["tree"]
    np.testing.assert_array_equal(load_orbax_params(tree)["w"], np.ones(2))


def test_a_killed_cache_build_leaves_nothing_after_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    _killed("""
        from convcorr_jax.core import cache
        cache.cached("staging-test", {"n": 1}, "v", lambda tmp: ((tmp / "a.txt").write_text("half"), die()))
        """, tmp_path)
    entry = cache.entry_path("staging-test", {"n": 1}, "v")
    assert _hidden(entry.parent)
    assert cache.cached("staging-test", {"n": 1}, "v", lambda tmp: (tmp / "a.txt").write_text("whole")) == entry
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]


@pytest.mark.parametrize("folder", [True, False])
def test_a_live_writers_entry_is_kept(tmp_path, folder):
    """A writer still running (here: a sleeping child) keeps its entry while another write of the target runs; so
    does a dead writer whose pid another process now has (nothing tells them apart: kept, which is safe)."""
    target = tmp_path / "t"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        name = f"{staging.prefix(target)}{child.pid}-abcd1234"
        (tmp_path / name).mkdir() if folder else (tmp_path / name).write_text("")
        staging.make(target, folder)
        assert (tmp_path / name).exists()
    finally:
        child.kill()
        child.wait()
    staging.make(target, folder)
    assert not (tmp_path / name).exists()


def _dead_entry(target: Path, folder: bool = True, tail: str = "") -> Path:
    """A staging entry for `target` as a killed writer on this host leaves it."""
    path = target.parent / f"{staging.prefix(target)}{_dead_pid()}-abcd1234{tail}"
    path.mkdir() if folder else path.write_text("half")
    return path


def test_another_users_live_process_keeps_its_entry(tmp_path, monkeypatch):
    """os.kill(pid, 0) raising PermissionError means the process runs (as another user): its entry stays."""
    dead = _dead_entry(tmp_path / "t")

    def denied(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(staging.os, "kill", denied)
    staging.make(tmp_path / "t")
    assert dead.is_dir()


@pytest.mark.parametrize("name", ["a.writing-x", "model[1]", "a-b.c-d", "x.writing-h-1-abcd1234", "(.*)+"])
def test_names_with_the_patterns_characters_touch_only_their_own(tmp_path, name):
    """A target name with the pattern's separators or regex characters removes its own dead entries and no other
    target's (here: of names it starts or ends like)."""
    others = [_dead_entry(tmp_path / other) for other in ("a", "model1", "a-b", name + "x", "x" + name)]
    own = _dead_entry(tmp_path / name)
    staging.make(tmp_path / name)
    assert not own.exists() and all(p.is_dir() for p in others)


def test_a_hostname_with_dashes(tmp_path, monkeypatch):
    """Host `my-host` removes its own dead entries, not those of hosts `my` or `my-host-1` (whose names continue
    `.t.writing-my-...`)."""
    dead = _dead_pid()
    names = {host: f".t.writing-{host}-{dead}-abcd1234" for host in ("my", "my-host", "my-host-1", "host")}
    for name in names.values():
        (tmp_path / name).mkdir()
    monkeypatch.setattr(staging.socket, "gethostname", lambda: "my-host")
    monkeypatch.setattr(staging, "_pid_namespace", lambda: "")  # a system without pid namespaces
    staging.make(tmp_path / "t")
    assert sorted(n for n in names.values() if (tmp_path / n).exists()) == sorted(
        n for host, n in names.items() if host != "my-host")


def test_another_pid_namespace_with_the_same_hostname_is_left_alone(tmp_path, monkeypatch):
    """Containers that share a hostname and a folder, each with pids of its own: a pid that is not running here may
    be a live writer there, so only entries of this pid namespace are judged (and those named without one, from
    before, are left too)."""
    dead, host = _dead_pid(), socket.gethostname()
    monkeypatch.setattr(staging, "_pid_namespace", lambda: "@111")
    ours, theirs, unmarked = (f".t.writing-{host}{ns}-{dead}-abcd1234" for ns in ("@111", "@222", ""))
    for name in (ours, theirs, unmarked):
        (tmp_path / name).mkdir()
    made = staging.make(tmp_path / "t")
    assert made.name.startswith(f".t.writing-{host}@111-{os.getpid()}-")
    assert not (tmp_path / ours).exists() and (tmp_path / theirs).is_dir() and (tmp_path / unmarked).is_dir()


def test_links_are_never_followed_nor_removed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("someone's")
    (tmp_path / "w").mkdir()
    folder = _dead_entry(tmp_path / "w" / "t")  # a dead folder holding a link to a folder: the link goes, not its files
    (folder / "link").symlink_to(outside)
    as_folder = tmp_path / "w" / f"{staging.prefix(tmp_path / 'w' / 't')}{_dead_pid()}-link1234"
    as_folder.symlink_to(outside)
    as_file = tmp_path / "w" / f"{staging.prefix(tmp_path / 'w' / 't')}{_dead_pid()}-file1234"
    as_file.symlink_to(outside / "keep.txt")
    staging.make(tmp_path / "w" / "t")
    staging.make(tmp_path / "w" / "t", folder=False)
    assert not folder.exists() and as_folder.is_symlink() and as_file.is_symlink()
    assert (outside / "keep.txt").read_text() == "someone's"


@pytest.mark.parametrize("folder", [True, False])
def test_a_concurrent_writer_removing_the_same_entry_first(tmp_path, monkeypatch, folder):
    """Two writers of one target both find a dead entry; the one that finds it gone must not fail."""
    dead = _dead_entry(tmp_path / "t", folder)
    (dead / "sub").mkdir() if folder else None
    kill = os.kill

    def other_writer_first(pid, sig):
        shutil.rmtree(dead) if folder else dead.unlink()  # between finding the entry and removing it
        return kill(pid, sig)

    monkeypatch.setattr(staging.os, "kill", other_writer_first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        staging.make(tmp_path / "t", folder)
    assert not dead.exists()


@pytest.mark.parametrize("folder", [True, False])
def test_an_entry_that_cannot_be_removed_is_a_warning(tmp_path, monkeypatch, folder):
    """A dead entry that cannot be removed (permissions; emulated: the tests may run as root) is warned about, and
    the staging goes on."""
    dead = _dead_entry(tmp_path / "t", folder)
    (dead / "f.txt").write_text("x") if folder else None
    remove = os.unlink

    def denied(path, *a, **k):
        if Path(path).name in ("f.txt", dead.name) and not Path(path).is_dir():
            raise PermissionError(13, "Permission denied", str(path))
        return remove(path, *a, **k)

    monkeypatch.setattr(os, "unlink", denied)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: denied(self))
    with pytest.warns(RuntimeWarning, match=rf"{dead.name}: a killed writer's staging .* could not be removed "
                                            r"\(Permission denied\); remove it by hand"):
        made = staging.make(tmp_path / "t", folder)
    assert made.exists() and dead.exists()


def test_a_killed_atomic_write_leaves_nothing_after_the_next(tmp_path):
    """`io.atomic_path` (and write_json, save_npy, ... built on it) stages with `staging.make`: its temporary file
    keeps the target's suffix, and one a killed writer left is removed by the next write of the same file only."""
    out = tmp_path / "o" / "out.json"
    for target in (out, out.with_name("other.json")):
        _killed(f"""
            from convcorr_jax.core import io
            with io.atomic_path(Path({str(target)!r})) as tmp:
                assert tmp.name.startswith(".{target.name}.writing-") and tmp.suffix == ".json", tmp
                tmp.write_text("half")
                die()
            """, tmp_path)
    assert len(_hidden(out.parent)) == 2 and all(io.LEFTOVER.fullmatch(n) for n in _hidden(out.parent))
    io.write_json(out, {"a": 1})
    assert [n for n in _hidden(out.parent) if n.startswith(".out.")] == [] and len(_hidden(out.parent)) == 1
    assert io.check_replaceable(out.parent, KIND) is True  # the other's leftover: the project's own


KIND = io.FolderKind("a test folder", ("*.json",))


def test_check_replaceable_tolerates_both_leftover_names(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "out.json").write_text("{}")
    for name in (".out.k3j_x9ab.part.json", ".out.k3j_x9ab.part", ".out.json.writing-vm-12-k3j_x9ab.json",
                 ".out.json.writing-other-host-12-k3j_x9ab", ".m.writing-h-1-abcdefgh"):
        (folder / name).write_text("a killed write's")
    assert io.check_replaceable(folder, KIND) is True
    (folder / ".out.json.writing-notes").write_text("someone's")
    with pytest.raises(io.NotOwned, match=r"holds \.out\.json\.writing-notes besides"):
        io.check_replaceable(folder, KIND)


def test_many_atomic_writes_in_one_folder_list_it_rarely(tmp_path, monkeypatch):
    """A folder of many files written one by one is not listed once a file (which grew as the square of their
    number), and a dead writer's file there is still removed."""
    dead = _dead_entry(tmp_path / "f0.txt", folder=False, tail=".txt")
    calls, listdir = [], os.listdir
    monkeypatch.setattr(staging.os, "listdir", lambda p: calls.append(p) or listdir(p))
    for i in range(200):
        io.write_text(tmp_path / f"f{i}.txt", "x")
    assert len(calls) < 20 and not dead.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"f{i}.txt" for i in range(200))


class _EmptiedAfterEachRead(dict):
    """A listing table that another thread empties (as `_listing` does at 256 folders) right after each read of it:
    the worst interleaving, forced."""

    def _read(self, found):
        self.clear()
        return found

    def __contains__(self, key):
        return self._read(dict.__contains__(self, key))

    def __getitem__(self, key):
        return self._read(dict.__getitem__(self, key))

    def get(self, key, default=None):
        return self._read(dict.get(self, key, default))


def test_a_listing_emptied_by_another_thread_meanwhile(tmp_path, monkeypatch):
    """Another thread emptying the saved listings between this thread's check and its read is no KeyError: the
    listing is read in one lookup (it was `key in _LISTED` then `_LISTED[key]`)."""
    monkeypatch.setattr(staging, "_LISTED", _EmptiedAfterEachRead())
    monkeypatch.setattr(staging, "_FRESH_S", 3600.0)
    (tmp_path / ".a.writing-h-1-abcdefgh").write_text("x")
    first = staging._listing(tmp_path, fresh=False)
    staging._LISTED[os.path.abspath(tmp_path)] = (staging.time.monotonic(), first)  # saved again after the emptying
    assert staging._listing(tmp_path, fresh=False) == first == [".a.writing-h-1-abcdefgh"]
