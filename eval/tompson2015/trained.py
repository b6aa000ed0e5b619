"""The identity of a scored training run, part of a scoring experiment's run key."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from convcorr_jax.errors import InputError
from convcorr_jax.pose.run_folder import run_state

C = TypeVar("C")


def with_trained_state(cfg: C, run_help: str | None) -> C:
    """`cfg` with its `trained` field set to the state (`pose.run_folder.run_state`) of the run in `cfg.run_dir`, so
    that a run trained further or again is scored again. `run_help`: what run_dir must be, for the InputError when it
    is None (None: a run is optional and `cfg` comes back unchanged); `pose.run_folder.NotATrainingRun` for a folder
    without a run."""
    if cfg.run_dir is None:
        if run_help is None:
            return cfg
        raise InputError("config", "run_dir", run_help)
    return dataclasses.replace(cfg, trained=run_state(cfg.run_dir))
