"""A training run started from a model folder's parameters (`TrainConfig.init_from`, `checkpoints.start_params`):
at learning rate 0 it ends with the folder's parameters bit for bit; a changed params.npz and a model of another
joint count are refused naming what differs; a run that has a checkpoint resumes from it and ignores init_from."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal

import jax
import numpy as np
import optax
import pytest
from test_pose_helpers import stick_people

from convcorr_jax.core import interrupt
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import shipped
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.model_files import MODEL_FILE, PARAMS_FILE, read_params
from convcorr_jax.pose.training import loop, stages


def _tiny(out, **changes):
    from convcorr_train import pose_configs

    cfg = pose_configs.get_config("tiny")
    return dataclasses.replace(cfg, out=str(out), steps=(1, 1, 1), checkpoint_every=1, eval_limit=4, logdir="off",
                               **changes)


def _arrays(cfg):
    size = cfg.model.image_size
    return stick_people(8, size, 0), stick_people(4, size, 1)


def _leaves(tree) -> dict:
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(tree)}


def _shapes(tree) -> dict:
    """{"a/b/kernel": shape} of a parameter tree."""
    return {"/".join(str(k.key) for k in path): tuple(v.shape) for path, v in jax.tree_util.tree_leaves_with_path(tree)}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny run on generated people, made a model by the export step at each stage's end: its folder."""
    cfg = _tiny(tmp_path_factory.mktemp("source"), name="source", n_samples=16)
    loop.train(cfg, on_stage=model_folder.write_stage)
    assert (cfg.run_dir() / MODEL_FILE).is_file()
    return cfg.run_dir()


@pytest.fixture
def no_learning(monkeypatch):
    """Learning rate 0 at every step of every stage."""
    monkeypatch.setattr(stages, "lr_schedule", lambda cfg, stage: optax.constant_schedule(0.0))


def test_a_run_from_a_model_folder_at_learning_rate_0_ends_with_its_parameters(source, tmp_path, no_learning):
    want = _leaves(read_params(source))
    cfg = _tiny(tmp_path, name="continued", seed=1, init_from=str(source))
    got = _leaves(loop.train(cfg, _arrays(cfg)).params)
    assert got.keys() == want.keys()
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
        assert got[k].dtype == v.dtype == np.float32
    start = json.loads((cfg.run_dir() / "metrics.json").read_text())["metrics"]["start"]
    sha = json.loads((source / MODEL_FILE).read_text())["files"][PARAMS_FILE]
    assert start == {"init_from": str(source), "params_sha256": sha}
    assert cfg.settings_digest() == dataclasses.replace(cfg, init_from=None).settings_digest()  # a path, not a setting
    drawn = _leaves(loop.train(dataclasses.replace(cfg, name="drawn", init_from=None), _arrays(cfg)).params)
    assert any(not np.array_equal(drawn[k], v) for k, v in want.items())  # the same run without it: its own draw
    assert "start" not in json.loads((tmp_path / "drawn" / "metrics.json").read_text())["metrics"]


def test_a_changed_params_npz_is_refused(source, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(source, changed, ignore=shutil.ignore_patterns("checkpoints", "tb"))
    with open(changed / PARAMS_FILE, "ab") as f:
        f.write(b"\0")
    cfg = _tiny(tmp_path, name="refused", init_from=str(changed))
    with pytest.raises(InputError, match="sha256") as e:
        loop.train(cfg, _arrays(cfg))
    assert str(changed / PARAMS_FILE) in str(e.value) and len(str(e.value).splitlines()) == 1
    (changed / PARAMS_FILE).unlink()
    with pytest.raises(InputError, match="missing file"):
        loop.train(cfg, _arrays(cfg))
    (changed / MODEL_FILE).unlink()
    with pytest.raises(InputError, match=MODEL_FILE):
        loop.train(cfg, _arrays(cfg))
    assert not list((tmp_path / "refused").glob("checkpoints/[0-9]*"))  # refused before any step


def test_a_model_of_another_joint_count_is_refused_naming_the_first_differing_path(tmp_path):
    cfg = _tiny(tmp_path, name="refused")
    other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_joints=cfg.model.num_joints - 1))
    params = pose_model.init(jax.random.PRNGKey(0), other.model)
    shipped.write(tmp_path / "other", "other", other, params, None, None,
                  {"summary": "", "expects": "", "scores": {}, "made_by": {}})
    want, got = _shapes(pose_model.param_shapes(cfg.model)), _shapes(params)
    path = min(k for k in want if want[k] != got.get(k))
    with pytest.raises(InputError, match="shape") as e:
        loop.train(dataclasses.replace(cfg, init_from=str(tmp_path / "other")), _arrays(cfg))
    message = str(e.value)
    assert f"'{path}': expected shape {want[path]}" in message and f"got shape {got[path]}" in message, message


def test_a_run_with_a_checkpoint_resumes_from_it_and_ignores_init_from(source, tmp_path, no_learning):
    cfg = _tiny(tmp_path, name="resumed", seed=1)

    def stop_after_first(n: int) -> None:
        if n == 1:
            interrupt.request(signal.SIGTERM)

    with interrupt.handling("test"), pytest.raises(interrupt.Interrupted):
        loop.train(cfg, _arrays(cfg), on_step=stop_after_first)
    drawn = _leaves(pose_model.init(jax.random.PRNGKey(1), cfg.model))
    resumed = loop.train(dataclasses.replace(cfg, init_from=str(source)), _arrays(cfg))
    got = _leaves(resumed.params)
    for k, v in drawn.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)  # its own start, not the folder's
    assert "start" not in json.loads((cfg.run_dir() / "metrics.json").read_text())["metrics"]


def test_a_model_of_another_skeleton_with_as_many_joints_is_refused_before_the_run_files(source, tmp_path):
    """A model of other joints in the same number (the shipped person model's 17 for a COCO-17 run) has parameters
    of the same shapes: it was taken silently, its joint i trained on as another joint. Now one line naming
    model.json's skeleton, and the run folder gets no config.json (it was written before the refusal)."""
    other = tmp_path / "other"
    shutil.copytree(source, other, ignore=shutil.ignore_patterns("checkpoints", "tb"))
    record = json.loads((other / MODEL_FILE).read_text())
    names = record["skeleton"]["names"]
    record["skeleton"]["names"] = names[::-1]
    (other / MODEL_FILE).write_text(json.dumps(record))
    cfg = _tiny(tmp_path, name="refused", init_from=str(other))
    with pytest.raises(InputError, match="skeleton.names") as e:
        loop.train(cfg, _arrays(cfg))
    assert str(other / MODEL_FILE) in str(e.value) and f"got {', '.join(names[::-1])}" in str(e.value)
    assert len(str(e.value).splitlines()) == 1 and not (cfg.run_dir() / "config.json").exists()
    record["skeleton"]["names"] = names
    (other / MODEL_FILE).write_text(json.dumps(record))
    assert loop.train(cfg, _arrays(cfg)).evals  # the same folder, its own skeleton: taken


def test_a_refused_init_from_on_the_command_line_is_one_line_and_leaves_no_run_folder(tmp_path):
    """`convcorr train pose --set init_from=MISSING`: the refusal came after the run folder and its checkpoints/ were
    made (left behind), and orbax's background clean-up of that folder, still running at exit, printed a
    RuntimeError traceback after the error line."""
    import subprocess
    import sys

    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "convcorr_cli", "train", "pose", "--config", "tiny", "--no-progress", "--out",
            str(out), "--set", "steps=1,0,0", "--set", f"init_from={tmp_path / 'missing'}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("convcorr train: error: "), done.stderr
    assert str(tmp_path / "missing" / MODEL_FILE) in done.stderr
    assert not (out / "pose_tiny").exists(), sorted(p.name for p in out.rglob("*"))
