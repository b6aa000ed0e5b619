"""The validation driver of the paper's protocol (`tompson2015.flic_sweep --grid frame`) on a fixture FLIC folder
with a tiny budget: training rows (one with the schedule doubled), each scored on the validation movies, then the
evaluation-time rows (test flip, priors learned on train) on the first row's run, all in one table."""

from __future__ import annotations

import json

import pytest
from convcorr_eval.tompson2015 import flic_sweep


def test_frame_grid_lists_the_settings():
    labels = list(flic_sweep.GRIDS["frame"])
    overrides = [o for _, sets in flic_sweep.GRIDS["frame"].values() for o in sets]
    assert {c for c, _ in flic_sweep.GRIDS["frame"].values()} == {"flic_native"}
    assert "protocol=frame" in overrides and flic_sweep.SCHEDULE_X2 in overrides
    assert any(o.startswith("trunk_train=") for o in overrides) and any(o.startswith("trunk_lr=") for o in overrides)
    assert any(o.startswith("lr=") for o in overrides) and labels[0].endswith("(base)")
    assert set(flic_sweep.EVAL_ROWS.values()) == {(True, False), (False, True), (True, True)}


@pytest.mark.slow
def test_frame_sweep_tiny(tiny_flic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "sweep"
    last = len(flic_sweep.GRIDS["frame"]) - 1  # "schedule x2"
    assert flic_sweep.main(["--root", str(tiny_flic), "--grid", "frame", "--base", "flic_tiny", "--steps", "2,1,1",
                            "--rows", f"0,{last}", "--prior-steps", "3", "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "sweep_frame.json").read_text())
    rows = data["rows"]
    assert [r["label"] for r in rows][1] == "schedule x2"
    assert rows[0]["config"]["steps"] == [2, 1, 1] and rows[1]["config"]["steps"] == [4, 2, 2]
    assert [(r.get("test_flip"), r.get("learned_priors")) for r in rows[2:]] == [(True, False), (False, True),
                                                                                  (True, True)]
    for r in rows:
        assert set(r["val"]) == {"cascade", "cascade+spatial", "elbow+spatial", "wrist+spatial"}
        assert all(0 <= v <= 100 for v in r["val"].values())
    md = (out / "sweep_frame.md").read_text()
    assert len([ln for ln in md.splitlines() if ln.startswith("| ")]) == len(rows) + 1  # one table: header + rows
    assert "+ test flip, learned priors" in md and "wall time" in capsys.readouterr().out
