"""A training run stopped at a safe point (SIGINT or SIGTERM set the flag that `interrupt.stop_at` reads after
every step) at any step, on or off the checkpoint schedule, mid-stage or at a stage's last step, and resumed by the
same call, ends with exactly the parameters of the uninterrupted run."""

from __future__ import annotations

import signal

import jax
import numpy as np
import pytest
from test_pose_helpers import stick_people

from convcorr_jax.core import interrupt
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.training import loop as loop_module
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.training.loop import train
from convcorr_jax.pose.training.config import TrainConfig

TINY = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)


def _train(out, stop: int | None = None) -> dict:
    """Train the tiny cascade (stages end at steps 4, 10 and 13; checkpoints after 4, 8, 12 and 13) into `out`;
    SIGTERM's flag is raised after step `stop`. Returns {leaf path: array} of the final parameters."""
    cfg = TrainConfig(name="r", out=str(out), model=TINY, batch_size=4, steps=(4, 6, 3), checkpoint_every=4,
                      eval_limit=0)

    def on_step(n: int) -> None:
        if n == stop:
            interrupt.request(signal.SIGTERM)

    with interrupt.handling("test"):  # leaving it clears the flag, as a new process starts without it
        r = train(cfg, (stick_people(12, 32, 0), stick_people(4, 32, 1)), on_step=on_step)
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(r.params)}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    return _train(tmp_path_factory.mktemp("uninterrupted"))


@pytest.mark.parametrize("stop", [7])  # mid stage 2, between checkpoints 4 and 8
def test_a_stop_at_any_step_resumes_to_the_uninterrupted_parameters(tmp_path, uninterrupted, stop):
    with pytest.raises(interrupt.Interrupted):
        _train(tmp_path, stop)
    saved = sorted(int(p.name) for p in (tmp_path / "r" / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == stop  # the stop saved its own step, off the schedule
    resumed = _train(tmp_path)
    assert resumed.keys() == uninterrupted.keys()
    for k, v in uninterrupted.items():
        np.testing.assert_array_equal(resumed[k], v, err_msg=k)


class _Killed(Exception):
    """A kill between a step's checkpoint and its evaluation, raised in process."""


def test_a_run_killed_before_its_last_evaluation_evaluates_it_when_resumed(tmp_path, monkeypatch):
    """The last stage's evaluation (and, for `convcorr train pose`, its model export) comes before its checkpoint:
    a run killed during it is not "already trained" when rerun, with metrics.json and the model a stage behind."""
    cfg = TrainConfig(name="e", out=str(tmp_path), model=TINY, batch_size=4, steps=(4, 6, 3), checkpoint_every=4)
    people = (stick_people(12, 32, 0), stick_people(4, 32, 1))
    real, calls = loop_module.evaluate, []

    def killed_at_the_last(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # stages end at steps 4, 10 and 13
            raise _Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, "evaluate", killed_at_the_last)
    with pytest.raises(_Killed):
        train(cfg, people)
    monkeypatch.setattr(loop_module, "evaluate", real)
    resumed = train(cfg, people)
    assert [e["step"] for e in resumed.evals] == [4, 10, 13]
    saved = run_folder.read_metrics(tmp_path / "e")
    assert saved["status"] == "ok" and [e["step"] for e in saved["metrics"]["evals"]] == [4, 10, 13]
