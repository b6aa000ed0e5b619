"""A cache that cannot be used (CONVCORR_CACHE naming a file, a full or read-only cache folder) is one line naming the
folder and CONVCORR_CACHE, not a traceback; the exported-program cache only warns, and the call still returns its
result."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core import cache, exported, paths
from convcorr_jax.core.errors import InputError


def test_cache_env_naming_a_file_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "file"))
    with pytest.raises(InputError, match="CONVCORR_CACHE") as e:
        paths.cache_dir("jax")
    assert str(tmp_path / "file") in str(e.value)


def test_cache_env_home_and_relative(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVCORR_CACHE", "~/c")
    assert paths.cache_dir("x") == tmp_path / "home" / "c" / "x"  # not a folder named "~" in the working folder
    assert not (tmp_path / "~").exists()
    monkeypatch.setenv("CONVCORR_CACHE", "rel")
    assert paths.cache_dir() == tmp_path / "rel" and paths.cache_dir().is_absolute()


def test_command_with_cache_env_naming_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    env = dict(os.environ, CONVCORR_CACHE=str(tmp_path / "file"))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("CONVCORR_NO_COMPILE_CACHE", None)
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", "run", "--list"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "CONVCORR_CACHE" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_cache_that_cannot_take_an_entry_is_one_line(tmp_path, monkeypatch, code):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))

    def build(folder: Path) -> None:
        np.save(folder / "a.npy", np.arange(3.0))
        raise OSError(code, os.strerror(code), str(folder / "b.npy"))  # what a full or read-only folder gives

    with pytest.raises(InputError, match="CONVCORR_CACHE") as e:
        cache.cached("thing", {"n": 1}, "v1", build)
    assert str(tmp_path / "thing") in str(e.value)
    assert not list((tmp_path / "thing").iterdir())  # no half entry, no temporary folder


def test_an_input_error_of_the_build_is_not_blamed_on_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))

    def build(folder: Path) -> None:
        (tmp_path / "missing.txt").read_text()

    with pytest.raises(FileNotFoundError):
        cache.cached("thing", {"n": 1}, "v1", build)


def test_exported_program_that_cannot_be_kept_still_gives_the_result(tmp_path, monkeypatch, caplog):
    (tmp_path / "exported").write_text("a file where the folder goes")
    monkeypatch.setattr(exported, "_folder", lambda: tmp_path / "exported")

    @exported.jit(static_argnames=("k",))
    def f(x, k):
        return x * k

    with caplog.at_level(logging.WARNING, logger="convcorr_jax.core.exported"):
        out = f(jnp.arange(3.0), 2.0)
    np.testing.assert_allclose(np.asarray(out), [0.0, 2.0, 4.0])
    assert len(caplog.records) == 1 and "traced again" in caplog.records[0].getMessage()
