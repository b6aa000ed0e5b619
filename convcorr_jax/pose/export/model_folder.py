"""Everything inference needs, made from a training run and its data once: a run folder becomes a model folder
(`pose.shipped`'s format), so that `pose.load(folder)` never opens a dataset. The export step of training: the loop
(`pose.training.loop`) writes checkpoints and imports nothing of this module; its caller passes `write_stage` to run
here at each stage's end.

    train.train(cfg, on_stage=write_stage)                # at each stage's end: the run's own folder is a model
    _write_run_model(run_dir, cfg, params, held_out)       # the same files for given parameters
    export(run_dir, out, root="FLIC")                     # any run, also one written before runs were models

What is made : the skeleton of the run's dataset (`person_crops.dataset_skeleton`), its spatial model (the one saved
in the run folder, else learned from the data, `run_folder.learn_spatial`), for a FLIC person-crop run the frame
statistics `two_pass.estimate_frames` needs (`train_statistics` at the model's `two_pass.frame_input_size`, from
FLIC's ground truth), and the read-out chosen on the held-out (validation) people by `pose.readout`'s rule
among the read-outs without the spatial model (`choose_readout`; `python -m convcorr_train.choose_readout` also
weighs the spatial model's read-outs and updates the choice, `set_readout`; evaluating never writes into a model).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np
from jax.sharding import Mesh

from convcorr_jax.core import runinfo
from convcorr_jax.core.crop_geometry import crop_of
from convcorr_jax.data import flic_people
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import data, predict, recrop, shipped, spatial
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.data import PoseArrays
from convcorr_jax.pose.joints import group_pck
from convcorr_jax.pose.person_crops import dataset_skeleton
from convcorr_jax.pose.training.loop import StageEnd
from convcorr_jax.pose.training.config import TrainConfig, code_version
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, frame_input_size

RULE_GROUPS = ("Elbow", "Wrist")  # the rule's joint groups where a skeleton has both (else every joint)


def skeleton_of(cfg: TrainConfig) -> Skeleton:
    """The skeleton of a run's dataset (synthetic people: MPII's; a folder's own for COCO-format data).

    Args:
        cfg: the run's TrainConfig (its data, data_root and data options).

    Returns:
        The `Skeleton`.
    """
    return dataset_skeleton(cfg.data, cfg.data_root, **cfg.data_options())


def _rule_groups(skeleton: Skeleton) -> tuple[dict[str, tuple[int, ...]], str]:
    """({group: joint ids} the read-out rule averages, their description in words).

    Args:
        skeleton: the run's skeleton.

    Returns:
        ({"Elbow": ids, "Wrist": ids}, "elbows and wrists") where the skeleton has both groups, else
        ({"all": every joint id}, "all joints").
    """
    g = skeleton.groups
    if all(k in g for k in RULE_GROUPS):
        return {k: tuple(g[k]) for k in RULE_GROUPS}, "elbows and wrists"
    return {"all": tuple(range(len(skeleton.names)))}, "all joints"


def choose_readout(cfg: TrainConfig, params: dict, held_out: PoseArrays, skeleton: Skeleton, mesh: Mesh | None = None,
                   split: str = "held-out", preds: dict | None = None) -> tuple[pose_readout.Readout, dict]:
    """The read-out `pose.readout`'s rule chooses on the held-out people, with its warning threshold and record.

    Candidates are scored with one crop at the run's input, no flip, without the spatial model; the warning threshold is
    `pose_readout.warning_threshold` of the people the chosen read-out gets right (none when it gets no one right).

    Args:
        cfg: the run's TrainConfig.
        params: the cascade's parameters.
        held_out: the held-out (validation) people: uint8 RGB crops [N, S, S, 3], points [N, K, 2] (x, y) crop pixels,
            visible bool [N, K], norm [N] pixels (a person with non-finite norm is not scored).
        skeleton: the run's skeleton (`_rule_groups`).
        mesh: a device mesh to shard prediction over, or None.
        split: the split in words for the record (its dataset split's name, the run's `held_out`, is kept as
            "split_name").
        preds: `predict.predict_crops`'s read-outs [N, K, 2] and peaks "peak" [N, K] of held_out when the caller has
            them (training's evaluation); else (or without "peak") predicted here.

    Returns:
        (Readout, readout.json's record) (`pose_readout.decide`).
    """
    if preds is None or "peak" not in preds:
        preds = predict.predict_crops(params, np.asarray(held_out.images), cfg.model, mesh=mesh, peaks=True)
    groups, about = _rule_groups(skeleton)
    scored = held_out.visible & np.isfinite(held_out.norm)[:, None]
    scores = {r: {k: v / 100 for k, v in group_pck(preds[r.key], held_out.points, scored, held_out.norm, groups,
                                                    pose_readout.ALPHA).items()}
              for r in pose_readout.candidates(with_spatial=False)}
    chosen = pose_readout.choose(scores, tuple(groups))
    right = pose_readout.right_people(preds[chosen.key], held_out.points, scored, held_out.norm,
                                      sorted({j for ids in groups.values() for j in ids}))
    warning = (pose_readout.warning_threshold(preds["peak"], right), int(right.sum())) if right.any() else None
    return pose_readout.decide(scores, tuple(groups), about, split, len(held_out),
                               f"{cfg.protocol} {cfg.model.image_size} px, one crop, no flip", warning,
                               split_name=cfg.dataset().held_out)


@functools.lru_cache(maxsize=4)
def train_statistics(root: str, input_size: int, pool: int, config: spatial.SpatialConfig
                     ) -> tuple[np.ndarray, float]:
    """(log-priors of the spatial model on letterboxed frames, torso-box ratio) from FLIC ground truth (cached).

    From the annotations only of FLIC's `run_folder.SPATIAL_SPLIT` under `root`: `spatial.learn_priors` of the joints
    in the frame inputs (heat-map stride `pool`), `recrop.box_ratio` of the torso boxes.

    Args:
        root: the FLIC folder.
        input_size: the frame input's side, pixels (the heat-map side is input_size // pool cells).
        pool: the heat-map stride, pixels per cell.
        config: the spatial model's settings (its tree and prior fields).

    Returns:
        (float32 [E, k, k] log-priors, the ratio as a float).
    """
    samples = flic_people.flic_split(root, run_folder.SPATIAL_SPLIT)
    pts, visible, torso = flic_people.flic_ground_truth(samples, input_size, protocol="frame")
    priors = spatial.learn_priors(np.nan_to_num(pts).astype(np.float32), visible, torso, pool, config,
                                  input_size // pool)
    ratio = recrop.box_ratio(np.stack([s.extras["torso_box"] for s in samples]),
                             np.stack([s.points for s in samples]), recrop.TORSO)
    return priors, ratio


def frame_statistics(cfg: TrainConfig, spatial_model: tuple[spatial.SpatialConfig, np.ndarray] | None
                     ) -> shipped.FrameStatistics | None:
    """The frame statistics of a person-crop run of a torso-box kind (FLIC's, `crop_geometry.crop_of`) with its FLIC
    folder.

    `train_statistics` at `two_pass.frame_input_size` of the model, with `two_pass.FRAME_TEST_TIME`'s unary power.

    Args:
        cfg: the run's TrainConfig (data "flic", protocol "person", data_root set, for statistics).
        spatial_model: (SpatialConfig, log-priors [E, k, k]) of the run, or None.

    Returns:
        `shipped.FrameStatistics`; None for other runs, without a spatial model or without data_root.
    """
    if not crop_of(cfg.data).torso or cfg.protocol != "person" or spatial_model is None or not cfg.data_root:
        return None
    config = dataclasses.replace(spatial_model[0], unary_power=float(FRAME_TEST_TIME["unary_power"]))
    size = frame_input_size(cfg.model)
    priors, ratio = train_statistics(str(cfg.data_root), size, cfg.model.pool, config)
    return shipped.FrameStatistics(size, cfg.model.pool, config, priors, ratio)


def _write_run_model(run_dir: str | os.PathLike, cfg: TrainConfig, params, held_out: PoseArrays, about: dict,
                    mesh=None, split: str = "held-out", preds: dict | None = None) -> dict:
    """Write the model files into the run's own folder (`shipped.write_files`, in place: checkpoints stay).

    The files hold the read-out chosen on `held_out` (`choose_readout`), the saved spatial model and the frame
    statistics.

    Args:
        run_dir: the training run's folder.
        cfg: the run's TrainConfig; it must name the run's data (data_root).
        params: the cascade's parameters.
        held_out: the held-out people (`choose_readout`).
        about: JSON-ready "summary", "expects", "made_by" and "scores" of model.json.
        mesh, split, preds: as `choose_readout`'s.

    Returns:
        The model.json record written.
    """
    skeleton = skeleton_of(cfg)
    sp = spatial.load_spatial_model(run_dir)
    chosen = choose_readout(cfg, params, held_out, skeleton, mesh, split, preds)
    return shipped.write_files(run_dir, cfg.name.removeprefix("pose_"), cfg, params, sp, frame_statistics(cfg, sp),
                               about, chosen, skeleton)


def _stage_about(end: StageEnd) -> tuple[dict, str]:
    """model.json's "summary", "expects", "scores", "made_by" (and "held_out" for a carved validation part) of a run
    at a stage's end, and the split its read-out is chosen on, in words.

    Args:
        end: the stage's end (`train.StageEnd`).

    Returns:
        (about, split).
    """
    cfg, n, ev = end.cfg, end.step, end.evaluation
    score, alpha = data.headline(cfg.data)
    pooled = run_folder.pooled_joints(cfg)[1]  # MPII PCKh: over the toolkit's 14 joints (the evaluation's)
    name = f"held-out {score}@{alpha:g}" + (f" over {pooled}" if pooled else "") + f", step {n}"
    about = {"summary": f"`{cfg.name.removeprefix('pose_')}` trained by `convcorr train pose`, step {n} of "
                        f"{cfg.total_steps}", "expects": "",
             "scores": {name: {"coarse": round(ev[f"coarse_pck@{alpha:g}"], 1),
                               "cascade": round(ev[f"cascade_pck@{alpha:g}"], 1)}},
             "made_by": {"command": "convcorr train pose", "code_version": code_version(), "step": n,
                         "versions": runinfo.versions()}}
    if carved := getattr(end.held_out, "carved", None):  # a validation part carved from train (no validation file)
        about["held_out"] = carved
    entry = cfg.dataset()
    split = "the held-out split" + (f" ({entry.label}'s {entry.held_out_about})" if entry.label else "") + (
        f" (carved from train: {carved})" if carved else "")
    return about, split


def write_stage(end: StageEnd) -> dict:
    """The export step at a stage's end: the run folder's model files (`_write_run_model`), so that the run is a model
    after each stage and inference needs nothing else. `loop.train`'s `on_stage` (`convcorr train pose` passes it).

    Args:
        end: the stage's end (`train.StageEnd`): the run's folder, config, host parameters, held-out people, their
            evaluation and the predictions it scored, from which the read-out is chosen.

    Returns:
        The model.json record written: parameters, skeleton, spatial model, frame statistics and the read-out.
    """
    about, split = _stage_about(end)
    return _write_run_model(end.run_dir, end.cfg, end.params, end.held_out, about, split=split, preds=end.preds)


def export(run_dir: str | os.PathLike, out: str | os.PathLike, root: str | os.PathLike | None = None,
           about: dict | None = None, name: str | None = None) -> dict:
    """Write the model folder `out` (`shipped.write`) of the training run in `run_dir`.

    The folder holds the parameters of the run's own model files (its last stage's end: those its read-out was
    chosen for, each file checked against model.json's sha256), or for a run without them (one written before runs
    were models) its last checkpoint's, and the parts of `_write_run_model`, made from the data at `root` where the
    run lacks them; a read-out the run already chose (readout.json) is kept. A run stopped or still training
    mid-stage exports its last stage's end, as `pose.load` reads the run, not its newer checkpoint.

    Args:
        run_dir: the training run's folder (config.json + checkpoints/).
        out: the model folder to write (replaced as a whole).
        root: the run's dataset folder (None: the run's data_root).
        about: model.json's "summary", "expects", "scores", "made_by" (None: empty).
        name: the model's name (None: out's folder name).

    Returns:
        The model.json record written.

    Raises:
        InputError: naming --root when the run's data is needed and absent; naming the file for a damaged model file
            of the run, or a model.json of other settings than the run's config.json.
    """
    run_dir = Path(run_dir)
    cfg, params = run_folder.load_run(run_dir)
    if (run_dir / shipped.MODEL_FILE).is_file():  # a run that is a model: the parameters its read-out was chosen for
        own = shipped.read_folder(run_dir)
        if own.config.settings_digest() != cfg.settings_digest():
            raise InputError(run_dir / shipped.MODEL_FILE, "config", "the run's settings (config.json)",
                             "another run's model files")
        params = own.params
    if root is not None:
        cfg = dataclasses.replace(cfg, data_root=str(root))
    needs_data = bool(cfg.dataset().root_about or cfg.datasets)  # a folder, or the mixture's (not generated people)
    if needs_data and not (cfg.data_root and os.path.exists(cfg.data_root)):
        raise InputError(run_dir, "--root", f"the run's {cfg.data} folder (its skeleton, spatial model, frame "
                         "statistics and validation split are made from it once)", cfg.data_root)
    skeleton = skeleton_of(cfg)
    sp = spatial.load_spatial_model(run_dir)
    if sp is None and cfg.data in run_folder.SPATIAL_DATA:
        config = run_folder.spatial_config(cfg)
        sp = (config, run_folder.learn_spatial(cfg, config))
    chosen = pose_readout.load_readout(run_dir)
    if chosen is None:
        chosen = choose_readout(cfg, params, run_folder.load_data(cfg)[1], skeleton)  # as training evaluates
    record = dict(about or {})
    record.setdefault("made_by", {})
    return shipped.write(out, name or Path(out).name, cfg, params, sp, frame_statistics(cfg, sp),
                         {"summary": "", "expects": "", "scores": {}, **record}, chosen, skeleton)


def set_readout(folder: str | os.PathLike, choice: pose_readout.Readout, record: dict) -> None:
    """Replace a run or model folder's read-out (readout.json) and, in a model folder, its sha256 in model.json.

    Args:
        folder: a run or model folder.
        choice: the new `Readout`.
        record: readout.json's record (`pose_readout.decide`).

    Returns:
        None; readout.json is rewritten and, where the folder has a model.json, the file's sha256 there too, so
        that the folder still reads (`shipped.read_folder`).
    """
    folder = Path(folder)
    pose_readout.save_readout(folder, choice, record)
    shipped.refresh_hashes(folder, (pose_readout.FILE,))


__all__ = ["RULE_GROUPS", "choose_readout", "export", "frame_statistics", "set_readout", "skeleton_of",
           "train_statistics", "write_stage"]
