"""Runs written by older code: `pose.training.config.fix_old_record`, the one place of their rules."""

import json

import pytest

from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.training.config import TrainConfig, fix_old_record


def test_old_metrics_layout_reads_as_the_runners_schema(tmp_path):
    evals = [{"step": 1, "stage": 1, "loss": 0.5}]
    (tmp_path / "metrics.json").write_text(json.dumps(evals))  # the layout before the runner's schema: the list
    assert fix_old_record("metrics", evals) == {"metrics": {"evals": evals}}
    assert run_folder._read_evals(tmp_path) == evals
    assert run_folder.read_metrics(tmp_path).get("seconds", 0.0) == 0.0
    new = {"metrics": {"evals": evals}, "seconds": 3.0}
    assert fix_old_record("metrics", new) is new


def test_old_checkpoint_meta_gets_its_settings_digest_and_iterator_state():
    old = {"step": 7, "fingerprint": "abc"}  # settings only in the fingerprint, no input iterator state
    fixed = fix_old_record("meta", old, 7)
    assert fixed["settings_digest"] == "abc" and fixed["data_iterator"] == {"next_index": 7}
    new = {"step": 7, "fingerprint": "f", "settings_digest": "s", "data_iterator": {"next_index": 7, "x": 1}}
    assert fix_old_record("meta", new, 7) == new


def test_later_fields_at_their_defaults_leave_the_settings():
    settings = {"protocol": "person", "trunk_lr": 0.5, "model": {"trunk": "", "trunk_head": 64}}
    assert fix_old_record("settings", settings) == {"trunk_lr": 0.5, "model": {"trunk_head": 64}}
    assert TrainConfig().settings_digest() == TrainConfig(protocol="person").settings_digest()


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'config'"):
        fix_old_record("config", {})
