"""Staging beside a target (`core.staging`): what a killed writer (SIGKILL: no clean-up runs) leaves beside its target
is removed by the next write of the same target, and nothing else is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.core import cache, staging
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
    """A writer still running (here: a sleeping child) keeps its entry while another write of the target runs."""
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
