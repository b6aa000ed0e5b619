"""The pose model a scoring experiment scores, and its identity, part of the experiment's run key and run folder name.

A scoring experiment (`tompson2015.flic`, `tompson2015.mpii`, `tompson2015.tables`, `convcorr eval pose`) takes a
model: a shipped model's name ("flic"), a model folder (model.json: an export, `convcorr_train.ship_model`) or a
`convcorr train pose` run folder, read by `convcorr_jax.pose.load`; its config field is `model`, with `run_dir` an
older name for it (`take_old_name`). The model's identity (`model_state`) is the sha256 of its model.json, which names
the sha256 of every file of the model, or for a run written before runs were models its trained state and its
read-out file: two different models never share a key. Nothing here writes into the model.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import shipped
from convcorr_jax.pose.loaded_model import PoseModel, load
from convcorr_jax.pose.training.run_folder import NotATrainingRun, run_state


class _Identified(Protocol):
    """A config dataclass with a `trained` field: what `with_model_state` and `with_trained_state` take."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


class _ScoresModel(_Identified, Protocol):
    """A config with `trained` scoring the model `model` (a name or folder; None: none given)."""

    @property
    def model(self) -> str | None: ...


class _ScoresRun(_Identified, Protocol):
    """A config with `trained` scoring the training run in `run_dir` (None: none given)."""

    @property
    def run_dir(self) -> str | None: ...


CM = TypeVar("CM", bound=_ScoresModel)
CR = TypeVar("CR", bound=_ScoresRun)
MODEL_HELP = ("a model: a shipped model's name ({names}), a model folder (model.json, e.g. an export of "
              "`python -m convcorr_train.ship_model`) or a `convcorr train pose` run folder (config.json + "
              "checkpoints/)")


def model_help() -> str:
    """What a scored model may be, in words, naming the shipped models.

    Returns:
        `MODEL_HELP` with the shipped models' names.
    """
    return MODEL_HELP.format(names=", ".join(shipped.names()) or "none installed")


def not_a_model(model: object) -> InputError:
    """The one-line error for something given as a model that is none.

    Args:
        model: what was given.

    Returns:
        An InputError (not raised): "model MODEL: expected a model: ...".
    """
    return InputError(None, "model", model_help(), str(model), message=f"model {model}: expected {model_help()}")


def model_path(model: str | os.PathLike) -> Path:
    """The folder of a model: a shipped model's under the package, else the path given, made absolute.

    Args:
        model: a shipped model's name or a folder.

    Returns:
        The folder (not checked).
    """
    return shipped.MODELS / str(model) if shipped.is_name(model) else Path(model).resolve()


def model_name(model: str | os.PathLike | None) -> str:
    """The readable name of a model in a run folder's name: a shipped model's name, else its folder's name.

    Args:
        model: a shipped model's name or a folder; None: "run".

    Returns:
        The name.
    """
    return "run" if model is None else str(model) if shipped.is_name(model) else Path(model).resolve().name


def model_fields(cfg) -> dict[str, str | None]:
    """The scoring experiments' `path_fields`: the config field `model` where it names a folder, compared by where
    it leads (`run_keys.located`: `--model "my models/flic"`, its absolute path and a link to it are one run); a
    shipped model's name is its own identity.

    Args:
        cfg: a config with the field `model`.

    Returns:
        {"model": the folder as given} or {} (no model, or a shipped model's name).
    """
    return {} if cfg.model is None or shipped.is_name(cfg.model) else {"model": str(cfg.model)}


def model_state(model: str | os.PathLike) -> str:
    """The identity of a model's content (module docstring).

    Args:
        model: a shipped model's name, a model folder or a training run folder.

    Returns:
        "model.json <sha256>" for a shipped model or a model folder (a run that wrote its model files is one);
        "<`run_folder.run_state`>[ readout.json <16 hex digits of its sha256>]" for a run without them.

    Raises:
        InputError: `not_a_model` (one line) for anything else.
    """
    path = model_path(model)
    if (path / shipped.MODEL_FILE).is_file():
        return f"{shipped.MODEL_FILE} {io.sha256_file(path / shipped.MODEL_FILE)}"
    try:
        state = run_state(path)
    except NotATrainingRun:
        raise not_a_model(model) from None
    chosen = path / pose_readout.FILE
    return state + (f" {pose_readout.FILE} {io.sha256_file(chosen)[:16]}" if chosen.is_file() else "")


def scored_model(model: str | os.PathLike) -> tuple[PoseModel, tuple[pose_readout.Readout, dict] | None]:
    """The model, read (`pose.load`, cached per process), and its stored read-out with its record.

    Args:
        model: a shipped model's name, a model folder or a training run folder.

    Returns:
        (the `PoseModel`, (Readout, readout.json's record) or None when the model has no stored read-out).

    Raises:
        InputError: `not_a_model` for something that is no model; naming the file of a damaged model.
    """
    try:
        run = load(model)
    except NotATrainingRun:
        raise not_a_model(model) from None
    except InputError as e:
        if e.field == "model":  # `shipped.unknown`: neither a shipped model nor an existing folder
            raise not_a_model(model) from None
        raise
    return run, pose_readout.load_readout(run.path)


def take_old_name(cfg) -> None:
    """Move a config's `run_dir` (the older name of `model`) into `model`; call from its `__post_init__`.

    Args:
        cfg: a frozen config with the fields `model` and `run_dir`.

    Returns:
        None; cfg's model is set from run_dir and run_dir cleared, in place.

    Raises:
        InputError: naming run_dir, where both name different models.
    """
    if cfg.run_dir is None:
        return
    if cfg.model is not None and str(cfg.model) != str(cfg.run_dir):
        raise InputError("config", "run_dir", f"the model of `model` ({cfg.model}) or none (run_dir is model's "
                         "older name)", cfg.run_dir)
    object.__setattr__(cfg, "model", cfg.run_dir)
    object.__setattr__(cfg, "run_dir", None)


def with_model_state(cfg: CM, required: bool = True) -> CM:
    """`cfg` with its `trained` field set to `model_state` of its `model`, so that another model, or the same
    folder trained again or given another read-out, is scored again (the experiments' `identify`).

    Args:
        cfg: a config with the fields `model` and `trained`.
        required: a model must be given (else cfg comes back unchanged without one).

    Returns:
        The config.

    Raises:
        InputError: naming `model` when it is required and absent; `not_a_model`.
    """
    if cfg.model is None:
        if not required:
            return cfg
        raise InputError("config", "model", model_help())
    return dataclasses.replace(cfg, trained=model_state(cfg.model))


def with_trained_state(cfg: CR, run_help: str | None) -> CR:
    """`cfg` with its `trained` field set to the state (`pose.training.run_folder.run_state`) of the run in
    `cfg.run_dir`, so that a run trained further or again is scored again. `run_help`: what run_dir must be, for the
    InputError when it is None (None: a run is optional and `cfg` comes back unchanged);
    `pose.training.run_folder.NotATrainingRun` for a folder without a run."""
    if cfg.run_dir is None:
        if run_help is None:
            return cfg
        raise InputError("config", "run_dir", run_help)
    return dataclasses.replace(cfg, trained=run_state(cfg.run_dir))
