"""Caches that heal: every cache entry carries the size and sha256 of its files (SUMS.json), checked on each use; a
damaged entry (a file cut short, changed or removed) is built again with one warning line, and the results are
those of the intact entry."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.core import cache


def _build(calls: list):
    def build(folder: Path) -> None:
        calls.append(1)
        np.save(folder / "a.npy", np.arange(100.0))
        (folder / "sub").mkdir()
        (folder / "sub" / "b.txt").write_text("hello")
    return build


def test_a_damaged_entry_is_rebuilt_with_one_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    calls: list = []
    path = cache.cached("thing", {"n": 1}, "v1", _build(calls))
    sums = json.loads((path / cache.SUMS_FILE).read_text())
    assert set(sums) == {"a.npy", "sub/b.txt"} and sums["sub/b.txt"][0] == 5
    assert cache.cached("thing", {"n": 1}, "v1", _build(calls)) == path and len(calls) == 1  # intact: reused
    for damage in (lambda: (path / "a.npy").write_bytes((path / "a.npy").read_bytes()[:50]),  # cut short
                   lambda: (path / "sub" / "b.txt").write_text("HELLO"),                      # same size, changed
                   lambda: (path / "sub" / "b.txt").unlink(),                                 # removed
                   lambda: (path / "extra").write_text("x"),                                  # a stranger's file
                   lambda: (path / cache.SUMS_FILE).write_text("{"),                          # the sums themselves
                   lambda: (path / cache.SUMS_FILE).unlink()):                                # an older entry
        damage()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=cache.log.name):
            assert cache.cached("thing", {"n": 1}, "v1", _build(calls)) == path
        assert len(caplog.records) == 1 and "building it again" in caplog.text
        assert "is damaged" in caplog.text or "an older version wrote it" in caplog.text
        np.testing.assert_array_equal(np.load(path / "a.npy"), np.arange(100.0))
        assert (path / "sub" / "b.txt").read_text() == "hello" and not (path / "extra").exists()
    assert len(calls) == 7


@pytest.mark.slow
def test_a_command_heals_its_damaged_dataset_cache(tmp_path):
    """`convcorr run long2014.data` on a synthetic set whose cached image was cut short: one warning line, the set
    built again, the same numbers as before."""
    env = dict(os.environ, CONVCORR_CACHE=str(tmp_path / "cache"), JAX_PLATFORMS="cpu")
    argv = [sys.executable, "-m", "convcorr_cli", "run", "long2014.data", "--size", "tiny", "--out", str(tmp_path),
            "--force"]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    def numbers() -> dict:  # the run's numbers, without the timings
        m = json.loads((tmp_path / "long2014.data" / "metrics.json").read_text())["metrics"]
        return {k: v for k, v in m.items() if "seconds" not in k}

    metrics = numbers()
    image = sorted((tmp_path / "cache" / "synthetic").glob("*/JPEGImages/*.jpg"))[0]
    image.write_bytes(image.read_bytes()[:100])
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    warned = [line for line in second.stderr.splitlines() if "is damaged" in line]
    assert len(warned) == 1 and "JPEGImages" in warned[0] and "Traceback" not in second.stderr
    assert numbers() == metrics and len(metrics) >= 4


def test_an_empty_cache_variable_means_the_default_root(tmp_path, monkeypatch):
    """CONVCORR_CACHE set to "" is the default root under the home folder, never the working directory."""
    from convcorr_jax.core.paths import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVCORR_CACHE", "")
    assert cache_dir("weights") == tmp_path / "home" / ".cache" / "convcorr_jax" / "weights"
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "mine"))
    assert cache_dir("weights") == tmp_path / "mine" / "weights"
    assert not (tmp_path / "weights").exists()
