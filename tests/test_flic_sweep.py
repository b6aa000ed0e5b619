"""The validation driver of the paper's protocol (`tompson2015.flic_sweep --grid frame`) on a fixture FLIC folder
with a tiny budget: training rows (one with the schedule doubled), each scored on the validation movies, then the
evaluation-time rows (test flip, priors learned on train) on the first row's run, all in one table."""

from __future__ import annotations

import dataclasses
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


def test_readout_grid_starts_plain_and_varies_flip_and_scales():
    rows = list(flic_sweep.READOUT_ROWS.values())
    assert rows[0] == (False, (1.0,), "mean") and rows[1] == (True, (1.0,), "mean")
    assert all(1.0 in scales and list(scales) == sorted(scales) for _, scales, _ in rows)
    assert {merge for *_, merge in rows} == {"mean", "median"} and len(set(rows)) == len(rows)


def test_choose_readout_breaks_ties_by_all_joints_then_wrist_at_02():
    v = lambda m, a, w: {"mean(elbow, wrist)": m, "all": a, "wrist@0.2": w}
    # the validation table's tie: 0.8 / 0.9 / 1 and 0.75 / 0.875 / 1 both 49.24625, all 61.139 against 60.606
    assert flic_sweep.choose_readout([v(48.2, 60.6, 87.4), v(49.24625, 60.606, 88.4), v(49.24625, 61.139, 88.9)]) == 2
    assert flic_sweep.choose_readout([v(49.0, 61.0, 88.0), v(49.0, 61.0, 88.5), v(48.0, 70.0, 99.0)]) == 1
    assert flic_sweep.choose_readout([v(49.0, 61.0, 88.0), v(49.0, 61.0, 88.0)]) == 0
    assert flic_sweep.choose_readout([v(44.3, 57.6, 84.6), v(46.6, 59.5, 86.5)]) == 1


@pytest.mark.slow
def test_readout_sweep_tiny(tiny_flic, tmp_path, monkeypatch, capsys):
    """Grid "readout" on a tiny trained run: each row equals `flic_scores.evaluate` on the validation movies with its
    settings, exactly one row is chosen and it has the highest mean of elbow and wrist."""
    from convcorr_eval.tompson2015 import flic_scores
    from convcorr_jax.core.config import override
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose_configs

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    cfg = override(pose_configs.get_config("flic_tiny"), (f"data_root={tiny_flic}", f"out={tmp_path / 'runs'}"))
    loop.train(cfg, progress=False, on_stage=model_folder.write_stage)
    out = tmp_path / "sweep"
    assert flic_sweep.main(["--root", str(tiny_flic), "--grid", "readout", "--run", str(cfg.run_dir()), "--rows",
                            "0,1,6,16", "--out", str(out), "--no-progress"]) == 0
    rows = json.loads((out / "sweep_readout.json").read_text())["rows"]
    assert [r["label"] for r in rows] == [list(flic_sweep.READOUT_ROWS)[i] for i in (0, 1, 6, 16)]
    tc, params = flic_scores.load_run(cfg.run_dir())
    ref = flic_scores.evaluate(tc, params, str(tiny_flic), "val", test_flip=True, test_scales=(0.8, 0.9, 1.0))
    t = ref["pck"]["0.05"]["cascade"]
    assert rows[2]["val"]["elbow"] == pytest.approx(100 * t["Elbow"])
    assert rows[2]["val"]["mean(elbow, wrist)"] == pytest.approx(50 * (t["Elbow"] + t["Wrist"]))
    med = flic_scores.evaluate(tc, params, str(tiny_flic), "val", test_flip=True, test_scales=(0.7, 0.8, 0.9, 1.0, 1.1),
                               test_merge="median")
    assert rows[3]["test_merge"] == "median" and med["test_merge"] == "median"
    assert rows[3]["val"]["all"] == pytest.approx(100 * med["pck"]["0.05"]["cascade"]["all"])
    chosen = [r for r in rows if r["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["val"]["mean(elbow, wrist)"] == max(r["val"]["mean(elbow, wrist)"] for r in rows)
    md = (out / "sweep_readout.md").read_text()
    assert len([ln for ln in md.splitlines() if ln.startswith("| ")]) == len(rows) + 1 and "(chosen)" in md
    assert "wall time" in capsys.readouterr().out
    # grid "frames": the same crop-trained run on whole frames, with the spatial model
    assert flic_sweep.main(["--root", str(tiny_flic), "--grid", "frames", "--run", str(cfg.run_dir()), "--rows",
                            "0,4,11", "--out", str(out), "--no-progress"]) == 0
    rows = json.loads((out / "sweep_frames.json").read_text())["rows"]
    assert [(r["protocol"], r["image_size"], r["test_flip"]) for r in rows] == [("frame", 256, False),
                                                                                 ("frame", 288, True),
                                                                                 ("frame", 288, True)]
    assert rows[2]["second_pass"] == [0.9, [0.8, 0.9, 1.0], "mean"] and rows[1]["second_pass"] is None
    spatial2 = dataclasses.replace(flic_sweep.spatial_mrf.FLIC_VALIDATED, unary_power=2.0)
    ref2 = flic_scores.evaluate(flic_scores.with_input(tc, "frame", 288), params, str(tiny_flic), "val",
                                spatial=spatial2, test_flip=True, test_scales=(0.8, 0.9, 1.0), second_pass=tc,
                                second_scale=0.9)
    t = ref2["pck"]["0.05"]["two-pass"]
    assert rows[2]["val"]["all"] == pytest.approx(100 * t["all"])
    assert ref2["second_pass"] == {"crop_scale": pytest.approx(0.9 * tc.crop_scale), "image_size": 64}
    framed = flic_scores.with_input(tc, "frame", 288)
    ref = flic_scores.evaluate(framed, params, str(tiny_flic), "val", spatial=flic_sweep.spatial_mrf.FLIC_VALIDATED,
                               test_flip=True)
    for key, model in (("val", "cascade+spatial"), ("val_nospatial", "cascade")):
        t = ref["pck"]["0.05"][model]
        assert rows[1][key]["mean(elbow, wrist)"] == pytest.approx(50 * (t["Elbow"] + t["Wrist"]))
        assert rows[1][key]["all"] == pytest.approx(100 * t["all"])
    assert sum(r["chosen"] for r in rows) == 1
    assert "without the spatial model" in (out / "sweep_frames.md").read_text()


def test_frames_grid_lists_whole_frame_inputs():
    rows = list(flic_sweep.FRAME_ROWS.values())
    assert {p for p, *_ in rows} == {"frame", "native"} and all(size % 8 == 0 for _, size, *_ in rows)
    assert any(flip for _, _, flip, *_ in rows) and any(fields for *_, fields, _ in rows)
    assert sorted(second[0] for *_, second in rows if second) == [0.9, 0.9, 1.0, 1.0, 1.0, 1.1]
    assert {second[2] for *_, second in rows if second} == {"mean", "median"}
    for *_, fields, _ in rows:
        dataclasses.replace(flic_sweep.spatial_mrf.FLIC_VALIDATED, **fields).validate()


def test_readout_choice_refuses_a_result_not_on_the_validation_movies():
    """`flic_readout.readout_choice` chooses on the validation movies and records them: a test-split result is
    refused in one line naming res.split (choosing on it would let the reported split pick the read-out and label
    the record as validation); the same scores on "val" are chosen from."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.pose import readout
    from convcorr_eval.tompson2015 import flic_readout, paper

    groups = {g: 0.5 for g in (*paper.TABLE3_COLUMNS, "all")}
    ablation = {r.key: {str(readout.ALPHA): dict(groups)} for r in readout.candidates(False)}
    res = {"split": "test", "n": 3, "protocol": "person", "image_size": 64, "ablation": ablation}
    with pytest.raises(InputError, match=r"readout_choice.*res\.split.*'val'.*test"):
        flic_readout.readout_choice(res, with_spatial=False)
    choice, record = flic_readout.readout_choice({**res, "split": "val"}, with_spatial=False)
    assert choice.name == readout.NAMES[0] and record["split"] == "FLIC validation movies"
