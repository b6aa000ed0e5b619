"""Trained pose models that ship with the package, loaded by name (`pose.load("flic")`): nothing at inference reads
a dataset.

A model is a folder `convcorr_jax/pose/models/<name>/`:
    model.json          {"name", "summary", "made_for" (the people it was made for), "expects", "config" (the
                        TrainConfig, data_root and init_from null), "made_by"
                        {"command", "commit", "code_version", "seconds", "machine"}, "scores" {what: {metric: %}},
                        "frame_statistics" {"folder", "input_size", "pool", "ratio", "settings" (optional: the
                        model's own whole-frame settings, `FrameStatistics.settings`)} or null,
                        "crop" {"name", "torso"}: the crop geometry about the boxes it is given
                        (`crop_geometry`; absent in models written before),
                        "skeleton" (the joints: names, links, flip pairs, groups, normaliser, ...) or null,
                        "files" {relative path: sha256}}
    params.npz          the cascade's parameters, float32, one array per parameter path ("a/b/kernel")
    spatial.json, spatial_priors.npy
                        the run's spatial model (`spatial.save_model`)
    frames/spatial.json, frames/spatial_priors.npy
                        the spatial model's priors on letterboxed whole frames of input_size px, for
                        `estimate_frames` (`export.model_folder.train_statistics`), with the torso-box ratio in
    model.json readout.json        the read-out chosen on the run's validation split (`pose.readout`)
Every file is checked against its sha256 in model.json when the model is read; a damaged file is named.

Training's export step writes the same files into a run's own folder at each stage's end (`write_files`, called by
`export.model_folder.write_stage`), so a run folder is a model (`read_folder`); `write` makes a separate model folder (a
shipped model, an export of any run: `train/ship_model.py`), replacing only a model folder (`MODEL_FOLDER`: model.json
and the files above, nothing else; their names: `pose.model_files`); a folder holding anything else is refused in one
line naming it (`io.check_replaceable`).
"""

from __future__ import annotations

import dataclasses
import functools
import io as io_bytes
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from flax import traverse_util

from convcorr_jax.core import crop_geometry, io, staging
from convcorr_jax.core.config import from_dict, to_dict
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import spatial
from convcorr_jax.pose.model_files import (FRAMES, MODEL_FILE, MODEL_FOLDER, PARAMS_FILE, check_file,
                                           check_param_shapes, read_params, read_record, recorded)
from convcorr_jax.pose.training.config import TrainConfig

MODELS = Path(__file__).resolve().parent / "models"
FRAME_SETTINGS = ("second_pass", "refine", "refine_scales")  # what a model may set of `two_pass.FRAME_TEST_TIME`


@dataclasses.dataclass(frozen=True)
class FrameStatistics:
    """What `estimate_frames` learns from a FLIC training split, kept with a model: the spatial model's log-priors
    [E, k, k] float32 on letterboxed frames of `input_size` px at heat-map stride `pool`, learned with `config`
    (its unary_power is not used by the priors), and the torso-box ratio (`recrop.box_ratio`); settings: the
    model's own whole-frame settings among `FRAME_SETTINGS` (chosen on its validation split; model.json's
    frame_statistics.settings), {} where it keeps `two_pass.FRAME_TEST_TIME`'s."""

    input_size: int
    pool: int
    config: spatial.SpatialConfig
    log_priors: np.ndarray
    ratio: float
    settings: dict = dataclasses.field(default_factory=dict, compare=False)

    def fits(self, input_size: int, pool: int, config: spatial.SpatialConfig) -> bool:
        """Whether these statistics are the ones learned for (input_size, pool, config)."""
        same = dataclasses.replace(config, unary_power=self.config.unary_power) == self.config
        return same and int(input_size) == self.input_size and int(pool) == self.pool


@dataclasses.dataclass(frozen=True)
class ShippedModel:
    """A model folder read by `read` / `read_folder`: its folder, model.json as a dict (`record`), the TrainConfig,
    the parameters (nested dicts of float32 arrays), its spatial model (SpatialConfig, log-priors [E, k, k]), its
    frame statistics, its skeleton and its validated read-out (each None when it has none)."""

    path: Path
    record: dict
    config: TrainConfig
    params: dict
    spatial: tuple[spatial.SpatialConfig, np.ndarray] | None
    frames: FrameStatistics | None
    skeleton: Skeleton | None = None
    readout: pose_readout.Readout | None = None
    crop: crop_geometry.CropGeometry | None = None


def names() -> tuple[str, ...]:
    """The names of the shipped models, sorted.

    Returns:
        The names of the folders under `MODELS` that hold a model.json, sorted.
    """
    return tuple(sorted(p.parent.name for p in MODELS.glob(f"*/{MODEL_FILE}")))


def is_name(text: Any) -> TypeGuard[str]:
    """Whether `text` names a shipped model.

    Args:
        text: anything; a run folder of a shipped model's name is given as a path, e.g. "./flic".

    Returns:
        True for a string equal to one of `names()`.
    """
    return isinstance(text, str) and text in names()


def unknown(text: Any) -> InputError:
    """The one-line error for something that is neither a shipped model nor a run folder.

    Args:
        text: what was given as the model.

    Returns:
        An InputError (not raised) naming the shipped models and what a run folder holds.
    """
    return InputError(None, "model", f"a shipped model ({', '.join(names()) or 'none installed'}) or a "
                      "`convcorr train pose` run folder (config.json + checkpoints/)", str(text),
                      message=f"model {text!r}: expected a shipped model ({', '.join(names()) or 'none installed'}) "
                              "or a `convcorr train pose` run folder (config.json + checkpoints/)")


def describe(name: str) -> dict:
    """model.json of the shipped model `name` (no file but model.json is read).

    Args:
        name: a shipped model's name (`names`).

    Returns:
        The model.json record as a dict (module docstring).

    Raises:
        InputError: `unknown` for another name; naming the file for an unreadable model.json.
    """
    if not is_name(name):
        raise unknown(name)
    return read_record(MODELS / name)


def _check_files(folder: Path, record: dict) -> dict:
    """Every file of model.json's "files" checked against its sha256; the parameters read (`read_params`)."""
    params = read_params(folder, record)  # the "files" record checked there: it names params.npz
    for rel, want in record["files"].items():
        if rel != PARAMS_FILE:
            check_file(folder, rel, want)
    return params


def _flatten(tree: dict) -> dict[str, np.ndarray]:
    """Nested parameters as {"a/b/kernel": array}, what `model_files.read_params` unflattens; InputError naming a
    parameter name that holds "/"."""
    flat = traverse_util.flatten_dict(tree)
    bad = sorted({str(k) for path in flat for k in path if "/" in str(k)})
    if bad:
        raise InputError("params", bad[0], "parameter names without '/'", bad[0])
    return {"/".join(map(str, path)): np.asarray(v) for path, v in flat.items()}


def _skeleton_record(skeleton: Skeleton) -> dict:
    """A Skeleton as JSON-ready dict (model.json's "skeleton").

    Args:
        skeleton: the skeleton.

    Returns:
        Its fields as a dict of JSON values (tuples as lists).
    """
    return json.loads(json.dumps(dataclasses.asdict(skeleton)))


def _skeleton_from(record: dict, source: str | Path) -> Skeleton:
    """The Skeleton of a `_skeleton_record`.

    Args:
        record: a `_skeleton_record` (names, links, flip pairs, groups, ...; absent optional fields take defaults).
        source: what the error names (the file it came from).

    Returns:
        The `Skeleton`.

    Raises:
        InputError: naming `source` and the record's field (`skeleton.flip_pairs`, ...) for a malformed record.
    """
    def pairs(v):  # JSON lists (of lists) as tuples, anything else as written: `Skeleton.validate` names the field
        return tuple(tuple(p) if isinstance(p, list) else p for p in v) if isinstance(v, list) else v

    if not isinstance(record, dict):
        raise InputError(source, "skeleton", "an object (name, names, links, ...) or null", type(record).__name__)
    for key, what in (("name", "the skeleton's name"), ("names", "the keypoint names"), ("links", "the bones")):
        if key not in record:
            raise InputError(source, f"skeleton.{key}", f"{what} (a required key of the skeleton)", "missing")
    groups = record.get("groups", {})
    try:
        return Skeleton(name=record["name"], names=pairs(record["names"]), links=pairs(record["links"]),
                        flip_pairs=pairs(record.get("flip_pairs", ())),
                        groups={k: pairs(v) for k, v in groups.items()} if isinstance(groups, dict) else groups,
                        normaliser=record.get("normaliser", "bbox"), torso=pairs(record.get("torso")),
                        head=pairs(record.get("head")), sigmas=pairs(record.get("sigmas")),
                        tree=pairs(record.get("tree")), title=record.get("title", ""))
    except InputError as e:  # the record's own key: the record's keys are the Skeleton's fields ("links", ...)
        raise InputError(source, f"skeleton.{e.field}", e.expected, e.got) from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(source, "skeleton", "a skeleton record (names, links, flip_pairs, groups, ...)",
                         str(e)) from None


def _crop_from(record: dict, source: str | Path) -> crop_geometry.CropGeometry | None:
    """The crop geometry a model.json records ("crop": {"name", "torso"}), None for a model written before models
    kept theirs.

    Args:
        record: model.json as a dict.
        source: the file, for the message.

    Returns:
        The CropGeometry, or None.

    Raises:
        InputError: a "crop" that is not {"name": str, "torso": bool}.
    """
    c = record.get("crop")
    if c is None:
        return None
    if not (isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("torso"), bool)):
        raise InputError(source, "crop", '{"name": "person box" | "torso box", "torso": true | false}', c)
    return crop_geometry.CropGeometry(c["name"], torso=c["torso"])


def _save_params(path: Path, flat: dict[str, np.ndarray]) -> None:
    """A compressed .npz of float32 arrays, sorted, with fixed zip timestamps: the same parameters give the same
    bytes (and sha256); written atomically."""
    with io.atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for key in sorted(flat):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buf = io_bytes.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(flat[key], np.float32), allow_pickle=False)
            z.writestr(info, buf.getvalue())


@functools.lru_cache(maxsize=4)
def read(name: str) -> ShippedModel:
    """The shipped model `name`, every file checked against its sha256 (cached per process).

    Args:
        name: a shipped model's name (`names`).

    Returns:
        The `ShippedModel`.

    Raises:
        InputError: `unknown` for a name that is not shipped; naming the file for a damaged or missing one.
    """
    return read_folder(MODELS / name, describe(name), shapes=False)


def _config_from(folder: Path, record: dict) -> TrainConfig:
    """model.json's "config" as a TrainConfig, its model's settings validated (`ModelConfig.validate`).

    Args:
        folder: the model folder (named in the error).
        record: its model.json.

    Returns:
        The TrainConfig.

    Raises:
        InputError: naming model.json and the field ("config.model.pool") for a missing, malformed or out-of-range
            config.
    """
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise InputError(folder / MODEL_FILE, "config", "the model's training config (a JSON object)",
                         "none" if not isinstance(record, dict) or "config" not in record else record["config"])
    try:
        cfg = from_dict(TrainConfig, record["config"])
        cfg.model.validate(prefix="model.")
    except InputError as e:
        raise InputError(folder / MODEL_FILE, f"config.{e.field}", e.expected, e.got) from None
    return cfg


def read_folder(folder: str | Path, record: dict | None = None, shapes: bool = True) -> ShippedModel:
    """The model folder `folder` (as `write` makes it, shipped or not), every file checked against its sha256.

    Args:
        folder: a model folder, or a run folder that is a model (`write_files`).
        record: its model.json when already read (None: read here).
        shapes: check the parameters' shapes against the config's model (`model_files.check_param_shapes`, about
            a second; False for the shipped models, whose files are the package's own).

    Returns:
        The `ShippedModel`.

    Raises:
        InputError: naming the file for an unreadable model.json or a damaged or missing file, a config out of its
            range, parameters of other shapes than its model's, a skeleton of another number of joints, or a
            read-out or spatial model file in the folder that model.json does not record (`model_files.recorded`).
    """
    folder = Path(folder)
    record = read_record(folder) if record is None else record
    params = _check_files(folder, record)
    cfg = _config_from(folder, record)
    if shapes:
        check_param_shapes(folder, params, cfg.model)
    fs = record.get("frame_statistics")
    frames = None
    if fs:
        rels = tuple(f"{fs['folder']}/{f}" for f in (spatial.CONFIG_FILE, spatial.PRIORS_FILE))
        saved = spatial.load_spatial_model(folder / fs["folder"]) if recorded(folder, record, rels) else None
        if saved is None:
            raise InputError(folder / fs["folder"] / spatial.CONFIG_FILE, spatial.CONFIG_FILE,
                             "the frame statistics' spatial model", "missing file")
        settings = fs.get("settings") or {}
        if not isinstance(settings, dict) or set(settings) - set(FRAME_SETTINGS):
            raise InputError(folder / MODEL_FILE, "frame_statistics.settings",
                             f"an object with keys among {list(FRAME_SETTINGS)}", settings)
        frames = FrameStatistics(int(fs["input_size"]), int(fs["pool"]), saved[0], saved[1], float(fs["ratio"]),
                                 dict(settings))
    sk = record.get("skeleton")
    sk = None if sk is None else _skeleton_from(sk, folder / MODEL_FILE)
    if sk is not None and len(sk.names) != cfg.model.num_joints:
        raise InputError(folder / MODEL_FILE, "skeleton.names", f"{cfg.model.num_joints} joints (config.model."
                         "num_joints)", f"{len(sk.names)}")
    chosen = pose_readout.load_readout(folder) if recorded(folder, record, (pose_readout.FILE,)) else None
    own = recorded(folder, record, (spatial.CONFIG_FILE, spatial.PRIORS_FILE))  # each read file: checked
    return ShippedModel(folder, record, cfg, params, spatial.load_spatial_model(folder) if own else None, frames, sk,
                        None if chosen is None else chosen[0], _crop_from(record, folder / MODEL_FILE))


def write_files(folder: str | os.PathLike, name: str, cfg: TrainConfig, params: dict,
                spatial_model: tuple[spatial.SpatialConfig, np.ndarray] | None, frames: FrameStatistics | None,
                about: dict, readout: tuple[pose_readout.Readout, dict] | None = None,
                skeleton: Skeleton | None = None) -> dict:
    """Write a model's files (module docstring) into the existing folder `folder`, each atomically, model.json
    last (so a folder with a model.json holds every file it names): a training run's folder, or `write`'s.

    Args:
        folder: where the files go (other files there are left alone: a run's checkpoints).
        name: the model's name.
        cfg: the run's TrainConfig (stored with data_root null).
        params: the cascade's parameters (nested dicts of arrays; stored float32).
        spatial_model: (SpatialConfig, log-priors) of the run, or None.
        frames: the frame statistics, or None.
        about: JSON-ready "summary", "made_for", "expects", "made_by" and "scores".
        readout: the read-out chosen on the run's validation split and its record (`pose.readout.load_readout`), kept as
            readout.json; None: none.
        skeleton: the run's skeleton (kept in model.json), or None.

    Returns:
        the model.json record written.
    """
    folder = Path(folder)
    _save_params(folder / PARAMS_FILE, _flatten(params))
    files = [PARAMS_FILE]
    if spatial_model is not None:
        held = spatial.load_spatial_model(folder)  # a run's own folder already holds it, with its priors' source
        if held is None or held[0] != spatial_model[0] or not np.array_equal(held[1], spatial_model[1]):
            spatial.save_model(folder, *spatial_model, about={"learned from": "the run's training split"})
        files += [spatial.CONFIG_FILE, spatial.PRIORS_FILE]
    if readout is not None:
        pose_readout.save_readout(folder, *readout)
        files.append(pose_readout.FILE)
    frame_record = None
    if frames is not None:
        (folder / FRAMES).mkdir(exist_ok=True)
        spatial.save_model(folder / FRAMES, frames.config, frames.log_priors,
                           about={"input_size": frames.input_size, "pool": frames.pool})
        files += [f"{FRAMES}/{spatial.CONFIG_FILE}", f"{FRAMES}/{spatial.PRIORS_FILE}"]
        frame_record = {"folder": FRAMES, "input_size": frames.input_size, "pool": frames.pool,
                        "ratio": float(frames.ratio), **({"settings": frames.settings} if frames.settings else {})}
    settings = dict(to_dict(dataclasses.replace(cfg, data_root=None, init_from=None, out="runs")))
    crop = crop_geometry.crop_of(cfg.data)
    record = {"name": name, **about, "config": settings, "frame_statistics": frame_record,
              "crop": {"name": crop.name, "torso": crop.torso},
              "skeleton": None if skeleton is None else _skeleton_record(skeleton),
              "files": {rel: io.sha256_file(folder / rel) for rel in files}}
    io.write_json(folder / MODEL_FILE, record)
    read.cache_clear()
    return record


def refresh_hashes(folder: str | Path, rels: tuple[str, ...]) -> None:
    """Record the current sha256 of the files `rels` in folder/model.json, adding them to its "files".

    For a file replaced by a later step, e.g. a read-out chosen again.

    Args:
        folder: a model folder (or a run folder that is one).
        rels: the files, as paths relative to folder.

    Returns:
        None; model.json is rewritten; nothing when the folder has no model.json.
    """
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    record["files"] = {**record.get("files", {}), **{rel: io.sha256_file(Path(folder) / rel) for rel in rels}}
    io.write_json(path, record)
    read.cache_clear()


def write(out: str | os.PathLike, name: str, cfg: TrainConfig, params: dict,
          spatial_model: tuple[spatial.SpatialConfig, np.ndarray] | None, frames: FrameStatistics | None,
          about: dict, readout: tuple[pose_readout.Readout, dict] | None = None,
          skeleton: Skeleton | None = None) -> dict:
    """Write a model folder `out` (module docstring) in one step: built aside, then swapped in.

    It is built in a hidden folder beside `out` (`staging.make`: `.<name>.writing-<host>-<pid>-...`); one a killed
    write left there is removed by the next write of the same `out` once its process is gone.

    Args:
        out: the model folder (its parents are made); an existing one is replaced only when it is a model folder
            (`MODEL_FOLDER`); any other non-empty folder is refused before anything is written.
        name, cfg, params, spatial_model, frames, about, readout, skeleton: as `write_files`' arguments.

    Returns:
        The model.json record written.

    Raises:
        InputError: `out` is a file, or (`io.NotOwned`) a folder holding anything a model folder does not.
    """
    out = Path(out)
    io.check_replaceable(out, MODEL_FOLDER, "out")
    tmp = staging.make(out)
    try:
        record = write_files(tmp, name, cfg, params, spatial_model, frames, about, readout, skeleton)
        io.replace_dir(tmp, out, MODEL_FOLDER, "out")  # checked again: nothing foreign arrived meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    read.cache_clear()
    return record


__all__ = ["FRAMES", "MODELS", "MODEL_FILE", "MODEL_FOLDER", "PARAMS_FILE", "FrameStatistics", "ShippedModel",
           "describe", "is_name", "names", "read", "read_folder", "refresh_hashes", "unknown", "write", "write_files"]
