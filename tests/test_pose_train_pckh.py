"""One meaning of a pooled PCKh: training's held-out score of a run on MPII data pools the MPII toolkit's 14 joints
(pelvis and thorax left out), as `convcorr eval pckh`, `convcorr eval mpii` and the Tompson et al. tables do; runs on
other data pool all their joints as before."""

from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pytest

from convcorr_jax.core import metrics
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import predict
from convcorr_jax.pose.data import PoseArrays
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.training import loop, run_folder
from convcorr_jax.pose.training.config import TrainConfig

TOOLKIT_14 = "the MPII toolkit's 14 joints (pelvis and thorax left out)"


def _mpii_people(n: int = 3) -> tuple[PoseArrays, np.ndarray]:
    """n people on the 16 MPII joints, and predictions exact but for pelvis (6) and thorax (7), far off."""
    rng = np.random.default_rng(0)
    points = rng.uniform(8, 56, (n, 16, 2)).astype(np.float32)
    arrays = PoseArrays(np.zeros((n, 64, 64, 3), np.uint8), points, np.ones((n, 16), bool),
                        np.full(n, 10.0, np.float32))
    pred = points.astype(np.float64).copy()
    pred[:, [6, 7]] += 100.0  # 10 head sizes off
    return arrays, pred


def _mpii_run(tmp_path, monkeypatch, stage: int):
    """A run on MPII people whose predictions are `_mpii_people`'s: (its config, the people, the loop's state)."""
    cfg = TrainConfig(name="pose_mpii_pckh", data="mpii", out=str(tmp_path / "runs"),
                      model=dataclasses.replace(pose_model.ModelConfig(image_size=64), num_joints=16))
    arrays, pred = _mpii_people()
    monkeypatch.setattr(predict, "predict_crops", lambda *a, **k: {"coarse": pred, "cascade": pred, "peak": None})
    state = types.SimpleNamespace(
        cfg=cfg, evals=[], stage=stage, loss=0.5, state={"params": {}}, mesh=None, main=True, prior_seconds=0.0,
        t0=0.0, metrics_path=tmp_path / "metrics.json", started_from=None, data_print=None, run_dir=tmp_path,
        events=types.SimpleNamespace(scalars=lambda *a: None))
    return cfg, arrays, state


def test_a_run_on_mpii_pools_the_toolkit_joints_in_its_held_out_pckh(tmp_path, monkeypatch):
    """Pelvis and thorax far off, the other 14 exact: the held-out PCKh@0.5 of the run (metrics.json, the summary)
    is 100, labelled with the joints it pools; the per-joint list keeps all 16 (pelvis and thorax 0)."""
    cfg, arrays, state = _mpii_run(tmp_path, monkeypatch, stage=2)
    loop._evaluate_if_due(state, cfg.total_steps, arrays, progress=False)
    ev = state.evals[-1]
    assert ev["cascade_pck@0.5"] == pytest.approx(100.0) and ev["coarse_pck@0.5"] == pytest.approx(100.0)
    assert ev["cascade_pck@0.05"] == pytest.approx(100.0)  # every alpha pools the same 14 joints
    per = ev["cascade_per_joint@0.5"]
    assert len(per) == 16 and per[6] == per[7] == 0.0 and all(per[j] == 100.0 for j in metrics.MPII_TOOLKIT_JOINTS)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["metrics"]["evals"][-1]["cascade_pck@0.5"] == pytest.approx(100.0)
    assert saved["metrics"]["pck_about"]["pooled"] == TOOLKIT_14
    assert "PCKh@0.5 coarse 100.0 cascade 100.0; pooled over " + TOOLKIT_14 in saved["summary"]
    # model.json's score of the stage (the export step) says the same
    end = loop.StageEnd(tmp_path, cfg, cfg.total_steps, {}, arrays, ev, {})
    about, _ = model_folder._stage_about(end)
    assert about["scores"] == {f"held-out PCKh@0.5 over {TOOLKIT_14}, step {cfg.total_steps}":
                               {"coarse": 100.0, "cascade": 100.0}}


def test_the_progress_line_names_the_joints_its_pckh_pools(tmp_path, monkeypatch, caplog):
    """The per-stage progress line of a run on MPII data says its PCKh is pooled over the toolkit's 14 joints, as
    metrics.json's summary and the final line (`convcorr train pose`) do."""
    cfg, arrays, state = _mpii_run(tmp_path, monkeypatch, stage=0)
    with caplog.at_level("INFO", logger="convcorr_jax"):
        loop._evaluate_if_due(state, cfg.steps[0], arrays, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "convcorr_jax.core.progress"]
    assert lines == [f"[pose_mpii_pckh] step {cfg.steps[0]} stage 0: loss 0.5000  PCKh@0.5 over {TOOLKIT_14} "
                     "coarse 100.0  cascade 100.0"], lines


@pytest.mark.parametrize("kind", ["flic", "lsp", "coco", "synthetic", "person"])
def test_runs_on_other_data_pool_all_their_joints(kind):
    """FLIC, LSP, COCO-format, synthetic people (MPII joints, torso PCK) and mixtures: every joint, no label."""
    parts = (DataPart("flic", "flic", 0.5), DataPart("lsp", "lsp", 0.5)) if kind == "person" else ()
    cfg = TrainConfig(name="r", data=kind, datasets=parts)
    assert run_folder.pooled_joints(cfg) == (None, "")
    evals = [{"step": 1, "stage": 0, "loss": 1.0, "coarse_pck@0.2": 50.0, "cascade_pck@0.2": 60.0,
              "coarse_pck@0.05": 50.0, "cascade_pck@0.05": 60.0}]
    rec = run_folder.metrics_record(cfg, evals, 1.0, True)
    assert "pooled" not in rec["metrics"]["pck_about"] and "pooled" not in rec["summary"]


def test_evaluate_pools_every_joint_without_a_joint_set():
    """`loop.evaluate` without `pooled` (a caller's own arrays): pelvis and thorax count, 14 of 16 within."""
    arrays, pred = _mpii_people()
    ev = loop.evaluate({}, arrays, pose_model.ModelConfig(), alphas=(0.5,), per_joint_alpha=0.5,
                       preds={"coarse": pred, "cascade": pred})
    assert ev["cascade_pck@0.5"] == pytest.approx(100 * 14 / 16)
    mask = np.isin(np.arange(16), metrics.MPII_TOOLKIT_JOINTS)
    ev = loop.evaluate({}, arrays, pose_model.ModelConfig(), alphas=(0.5,), per_joint_alpha=0.5,
                       preds={"coarse": pred, "cascade": pred}, pooled=mask)
    assert ev["cascade_pck@0.5"] == pytest.approx(100.0)
