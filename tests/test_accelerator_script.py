"""bench/accelerator.py end to end on the CPU with a tiny budget: a packed fixture FLIC folder unpacked, every
benchmark workload shrunk, `flic_tiny` trained for a budget of a few steps and scored with and without the spatial
model, the test-suite step skipped; the RESULTS file holds every section."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from convcorr_jax.data.flic_pack import pack_flic

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "accelerator.py"


def _script():
    spec = importlib.util.spec_from_file_location("accelerator_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_budget_steps_hand_computed():
    acc = _script()
    # 2 min x 0.85 = 102 s; proportions 4:1:1 at 1, 2, 2 s per step: 4/6 + 2/6 + 2/6 = 4/3 s per unit, 76.5 units
    assert acc.TRAIN_SHARE == 0.85
    assert acc.budget_steps((4, 1, 1), {1: 1.0, 2: 2.0, 3: 2.0}, 2.0) == (51, 13, 13)
    assert acc.budget_steps((40000, 10000, 10000), {1: 10.0, 2: 10.0, 3: 10.0}, 0.01) == (1, 1, 1)
    assert acc.missing_packages(with_tests=True) == []


@pytest.mark.slow
def test_accelerator_script_tiny(tiny_flic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    tar = tmp_path / "flic.tar"
    pack_flic(tiny_flic, tar)
    out = tmp_path / "RESULTS_gpu.md"
    acc = _script()
    assert acc.main(["--flic", str(tar), "--tiny", "--minutes", "0.002", "--skip-tests", "--config", "flic_tiny",
                     "--reps", "1", "--runs", str(tmp_path / "runs"), "--out", str(out)]) == 0
    md = out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".RESULTS")] == []  # written atomically
    for section in ("## Test suite", "## Training", "## FLIC test PCK@0.05", "## Benchmarks"):
        assert section in md
    assert "skipped (--skip-tests)" in md and "--tiny: every workload shrunk" in md
    sched = re.search(r"schedule \[(\d+), (\d+), (\d+)\] steps", md)
    assert sched and all(int(s) >= 1 for s in sched.groups())
    assert (tmp_path / "runs" / "pose_flic_tiny" / "metrics.json").is_file()
    for row in ("coarse", "coarse+spatial", "cascade", "cascade+spatial"):  # with and without the spatial model
        assert re.search(rf"\| ours flic_tiny {re.escape(row)} (\| \d+\.\d ){{6}}\|", md), row
    assert "| paper This work 4x | 92.6 | 73.0 | 57.1 | 60.4 |" in md
    for stage in (1, 2, 3):
        assert re.search(rf"pose training step, `flic_tiny` stage {stage} .*\| \d", md)
    for label in ("AlexNet to conv5", "BP flow", "ridge CV"):
        assert re.search(rf"\| {label}[^|]*\| [\d.e+-]+ \|", md), label
    assert "PF-WILLOW transfer" in md and "skipped: no --pf-willow" in md
    assert "wrote" in capsys.readouterr().out
