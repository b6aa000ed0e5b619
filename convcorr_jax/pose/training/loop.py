"""Three-stage, data-parallel training of the Tompson et al. cascade, with orbax checkpoints and resume: the loop.

`train` wires small steps, in the order a run takes them: check the inputs (`check_inputs`), take the run folder
(`io.folder_lock`), restore or start the state and write the run's files (`run_start.start_run`), then per step
`take_step` (the step function from `pose.training.stages`), `_record_step`, `_evaluate_if_due`,
`_checkpoint_if_due`, `_stop_if_asked`, and at the end `_finish_run`. The parts: config and digests
`pose.training.config`, the loop's state and the run's start `pose.training.run_start`, the step and the optimiser
`pose.training.stages`, checkpoints `pose.training.checkpoints`, event files `pose.training.event_log`, the run
folder's other files (metrics.json, the spatial model, readers) `pose.training.run_folder`. Data: `pose.data`
(arrays, person crops, the grain input pipeline); evaluation: `pose.predict`. The loop writes checkpoints, never
a model: at each stage's end it hands a `StageEnd` to its caller's `on_stage`, the export step
(`export.model_folder.write_stage`, which `convcorr train pose` passes), and imports none of the inference modules
(`tests/test_layout.py`).

Determinism: the batch of step t and every per-sample key (augmentation, SpatialDropout) are functions of (seed, t)
only (`data.train_dataset`), so a run killed at any point and resumed from its last checkpoint ends with exactly the
parameters of an uninterrupted run, on any number of devices and processes. The checkpoint holds the input iterator's
state beside the parameters. A stage's last step is saved after its evaluation and export (`_evaluate_if_due`): a run
killed in between redoes the step, never ends without them.

Several processes (`convcorr launch`, SLURM): the mesh spans every device of every process; each process reads
only its rows of each global batch, orbax checkpoints are written by all of them (restorable into any process
count), evaluation is sharded over all devices, and only process 0 writes files, shows the progress bar and reports
(the messages on `convcorr_jax.core.progress`'s logger); every process logs to the `convcorr_jax` logger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from convcorr_jax.core import interrupt, io, metrics, parallel
from convcorr_jax.core.config import validate
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import data, model, predict
from convcorr_jax.pose.training import checkpoints, run_folder
from convcorr_jax.pose.data import PoseArrays
from convcorr_jax.pose.training.run_folder import load_data
from convcorr_jax.pose.training.event_log import eval_scalars
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_jax.pose.training.run_start import LoopState, fresh_start, start_run
from convcorr_jax.pose.training.stages import init_opt, lr_schedule, make_local_step
from convcorr_jax.core.progress import LOG as progress_log

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the run stopped and its last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class StageEnd:
    """What the loop hands `train`'s on_stage at a stage's end: the run's folder and config, the steps done, the
    parameters fetched to the host, the held-out people, their evaluation (`evaluate`) and the predictions it scored
    (`predict.predict_crops` with peaks). The export step (`export.model_folder.write_stage`) makes the folder a
    model."""

    run_dir: Path
    cfg: TrainConfig
    step: int
    params: dict
    held_out: PoseArrays
    evaluation: dict
    preds: dict


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: final parameters, the evaluations, speed (steps/s, images/s), the run folder."""

    params: dict
    evals: list[dict]
    steps_per_s: float
    images_per_s: float
    run_dir: Path


def evaluate(params: dict, arrays: PoseArrays, cfg: model.ModelConfig, alphas: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
             mesh: jax.sharding.Mesh | None = None, per_joint_alpha: float = 0.05, preds: dict | None = None,
             pooled: np.ndarray | None = None) -> dict:
    """PCK (percent) of the coarse model and the cascade at several alphas, and per joint at per_joint_alpha.

    Args:
        params, cfg: the cascade's parameters and its ModelConfig.
        arrays: the people: uint8 RGB crops [N, S, S, 3], points [N, K, 2] pixels, visible [N, K], norm [N] pixels
            (PCK's normaliser; a person without a finite norm is not scored).
        alphas, per_joint_alpha: the thresholds, fractions of norm.
        mesh: predictions sharded over its devices (`predict.predict_crops`); every process gets the same numbers.
        preds: `predict.predict_crops`'s read-outs of arrays when the caller has them (else predicted here).
        pooled: bool [K], the joints each pooled PCK counts (`run_folder.pooled_joints`); None: all K, as per joint.

    Returns:
        {"<coarse|cascade>_pck@<a>": percent per alpha, "<coarse|cascade>_per_joint@<a>": K percents}.
    """
    preds = predict.predict_crops(params, arrays.images, cfg, mesh=mesh) if preds is None else preds
    scored = arrays.visible & np.isfinite(arrays.norm)[:, None]  # a person without its normaliser is not scored
    out: dict[str, float | list[float]] = {}
    counted = scored if pooled is None else scored & np.asarray(pooled, bool)
    for name in ("coarse", "cascade"):
        p = preds[name]
        for a in alphas:
            out[f"{name}_pck@{a:g}"] = 100 * metrics.pck(p, arrays.points, counted, arrays.norm, a)
        out[f"{name}_per_joint@{per_joint_alpha:g}"] = [float(v) for v in 100 * metrics.pck_per_keypoint(
            p, arrays.points, scored, arrays.norm, per_joint_alpha)]
    return out



def check_inputs(cfg: TrainConfig, train_set: PoseArrays) -> jax.sharding.Mesh:
    """The config (`config.validate`) and the training data checked against each other; the device mesh.

    Args:
        cfg, train_set: the run's TrainConfig and its training arrays (points [N, K, 2], K = model.num_joints).

    Returns:
        The device mesh (`parallel.make_mesh`), whose device count must divide the batch; else InputError.
    """
    validate(cfg)
    for field in ("out", "logdir"):  # before any folder is made: a file there is one InputError line
        if getattr(cfg, field) not in (None, "off"):
            io.check_writable(getattr(cfg, field), field, kind="folder")
    if len(train_set) == 0:
        raise InputError("training data", "samples", "at least one training sample", 0)
    k = cfg.model.num_joints
    if train_set.points.shape[1] != k or len(cfg.augment.flip_perm) != k:
        raise InputError("config", "model.num_joints / augment.flip_perm",
                         f"{train_set.points.shape[1]} joints as in the data (FLIC's 11: --config flic)",
                         (k, len(cfg.augment.flip_perm)))
    mesh = parallel.make_mesh(cfg.num_devices)
    if cfg.batch_size % mesh.devices.size:
        raise InputError("config", "batch_size", f"a multiple of the device count {mesh.devices.size}", cfg.batch_size)
    return mesh


def _step_loss(step_metrics: dict, step: int) -> float:
    """The loss (a float) of 0-based `step` (unused) from its metrics (one place to read it: tests poison it here)."""
    del step
    return float(step_metrics["loss"])


def take_step(loop: LoopState, step: int) -> dict:
    """One optimisation step: a fresh optimiser at a stage's start, the stage's jitted step compiled once.

    Args:
        loop, step: the loop's state (updated in place); the 0-based step.

    Returns:
        The step's metrics {"loss", "e1", "e2", "joints"}; TrainingDiverged, nothing saved, if the loss is not finite.
    """
    cfg, stage = loop.cfg, loop.cfg.stage_of(step)
    if stage != loop.stage:
        opt = parallel.replicate(init_opt(cfg, stage, loop.state["params"]), loop.mesh)
        loop.state, loop.stage = {"params": loop.state["params"], "opt": opt}, stage
    if stage not in loop.step_fns:
        loop.step_fns[stage] = parallel.data_parallel_step(make_local_step(cfg, stage), loop.mesh)
    batch = parallel.shard_batch(next(loop.batches), loop.mesh, cfg.batch_size)
    new_state, step_metrics = loop.step_fns[stage](loop.state, batch)
    loss = _step_loss(step_metrics, step)
    if not math.isfinite(loss):
        loop.bar.close()
        where = "none (no checkpoint yet)" if loop.last_good is None else f"step {loop.last_good} in {loop.ckpt_dir}"
        raise TrainingDiverged(f"loss became {loss} at step {step} (stage {stage}); stopped without saving. "
                               f"Last good checkpoint: {where}. Lower the learning rate or check the data.")
    loop.state, loop.loss, loop.done = new_state, loss, loop.done + 1
    return step_metrics


def _record_step(loop: LoopState, step: int, step_metrics: dict) -> None:
    """The progress bar's line and the step's event-log scalars (1-based step).

    Args:
        loop, step, step_metrics: the loop's state; the 0-based step; its metrics {"loss", "e1", "e2", "joints"}.

    Returns:
        None; the bar shows stage, loss, steps/s; the event log gets loss, e1, e2, lr.
    """
    stage = loop.stage
    loop.bar.set_postfix(stage=stage, loss=f"{loop.loss:.4f}",
                         steps_s=f"{loop.done / max(time.perf_counter() - loop.t0, 1e-9):.2f}")
    lr = lr_schedule(loop.cfg, stage)(step - loop.cfg.stage_starts()[stage])
    loop.events.scalars({f"loss/stage{stage}": loop.loss, "loss/e1": step_metrics["e1"],
                         "loss/e2": step_metrics["e2"], "lr": lr}, step + 1)


def _save_step(loop: LoopState, n: int) -> None:
    """Checkpoint the state after step n (every process).

    Args:
        loop, n: the loop's state; the steps done.

    Returns:
        None; run_dir/checkpoints/<n> holds the state, input iterator state and data fingerprint.
    """
    checkpoints.save_checkpoint(loop.mgr, n, loop.state, loop.cfg, loop.batches.get_state(), loop.data_print)


def _checkpoint_if_due(loop: LoopState, n: int) -> None:
    """Checkpoint after step n every `checkpoint_every` steps and at the last step.

    Args:
        loop, n: the loop's state; the steps done.

    Returns:
        None; on a save the event log is flushed and loop.last_good is n.
    """
    if n % loop.cfg.checkpoint_every == 0 or n == loop.cfg.total_steps:
        _save_step(loop, n)
        loop.events.flush()
        loop.last_good = n
        log.info("%s: step %d saved (loss %.4f)", loop.cfg.name, n, loop.loss)


def _evaluate_if_due(loop: LoopState, n: int, held_out: PoseArrays, progress: bool,
                     on_stage: Callable[[StageEnd], object] | None = None) -> None:
    """At each stage's end: evaluate on the held-out samples, log it, write metrics.json, call on_stage.

    Args:
        loop, n, held_out, progress: the loop's state; steps done (once per n); held-out arrays (empty: skip); print.
        on_stage: called on process 0 with the `StageEnd`, for a run on the data it read itself (None: not called).

    Returns:
        None; appends to loop.evals; process 0 writes metrics.json and calls on_stage (the export step).
    """
    cfg = loop.cfg
    bounds = {cfg.steps[0], cfg.steps[0] + cfg.steps[1], cfg.total_steps}
    if n not in bounds or not len(held_out) or (loop.evals and loop.evals[-1]["step"] >= n):
        return
    score, alpha = data.headline(cfg.data)
    pooled, about = run_folder.pooled_joints(cfg)  # MPII PCKh: the toolkit's 14 joints, named as the final line does
    over = f" over {about}" if about else ""
    # the held-out predictions with their peaks: the scores, the read-out and its warning threshold
    preds = predict.predict_crops(loop.state["params"], held_out.images, cfg.model, mesh=loop.mesh, peaks=True)
    ev = {"step": n, "stage": loop.stage, "loss": loop.loss, "people": len(held_out),  # eval_limit may change on resume
          **evaluate(loop.state["params"], held_out, cfg.model, per_joint_alpha=alpha, preds=preds,
                     pooled=pooled)}
    loop.evals.append(ev)
    loop.events.scalars(eval_scalars(ev), n)
    if loop.main:
        seconds = loop.prior_seconds + time.perf_counter() - loop.t0
        io.write_json(loop.metrics_path, run_folder.metrics_record(cfg, loop.evals, seconds, False, loop.started_from))
    coarse, cascade = ev[f"coarse_pck@{alpha:g}"], ev[f"cascade_pck@{alpha:g}"]
    if loop.main and loop.data_print is not None and on_stage is not None:  # a run on the data it read: the export
        on_stage(StageEnd(loop.run_dir, cfg, n, jax.device_get(loop.state["params"]), held_out, ev, preds))
    log.info("%s: step %d evaluated: %s@%g%s coarse %.1f cascade %.1f", cfg.name, n, score, alpha, over, coarse,
             cascade)
    if progress and loop.main:
        progress_log.info(f"[{cfg.name}] step {n} stage {loop.stage}: loss {loop.loss:.4f}  {score}@{alpha:g}{over} "
                          f"coarse {coarse:.1f}  cascade {cascade:.1f}")


def _stop_if_asked(loop: LoopState, n: int) -> None:
    """At the safe point after step n (every process after the same step): stop when a stop was asked.

    Args:
        loop, n: the loop's state; the steps done.

    Returns:
        None when no stop was asked (`interrupt.stop_at`); else saves a checkpoint and raises `interrupt.Interrupted`.
    """
    if n >= loop.cfg.total_steps or not interrupt.stop_at(n):
        return
    if loop.last_good != n:
        _save_step(loop, n)
    loop.bar.close()
    loop.mgr.close()
    if loop.main:
        progress_log.info(f"[{loop.cfg.name}] stopped after step {n} of {loop.cfg.total_steps}; "
                          f"saved {loop.ckpt_dir / str(n)}")
    raise interrupt.Interrupted(f"after step {n}")


def _finish_run(loop: LoopState) -> TrainResult:
    """The closing line, the final metrics.json, the parameters fetched to the host.

    Args:
        loop: the loop's state.

    Returns:
        The `TrainResult` (steps/s and images/s of this call; 0.0 when it took no step).
    """
    cfg = loop.cfg
    loop.bar.close()
    elapsed = time.perf_counter() - loop.t0
    sps = loop.done / elapsed if loop.done else 0.0
    if loop.main and loop.done:
        progress_log.info(f"[{cfg.name}] {loop.done} steps in {elapsed:.1f} s ({sps:.2f} steps/s, "
                          f"{sps * cfg.batch_size:.1f} images/s, {loop.mesh.devices.size} device(s)); "
                          f"final loss {loop.loss:.4f}")
    elif loop.main:
        progress_log.info(f"[{cfg.name}] already trained to step {loop.start} of {cfg.total_steps} ({loop.run_dir}): "
                          "nothing to do")
    if loop.main:
        io.write_json(loop.metrics_path, run_folder.metrics_record(cfg, loop.evals, loop.prior_seconds + elapsed, True,
                                                                   loop.started_from))
    log.info("%s: finished %d steps in %.1f s", cfg.name, loop.done, elapsed)
    params = jax.device_get(loop.state["params"])
    loop.mgr.close()
    return TrainResult(params, loop.evals, sps, sps * cfg.batch_size, loop.run_dir)


def train(cfg: TrainConfig, arrays: tuple[PoseArrays, PoseArrays] | None = None, progress: bool = False,
          on_step: Callable[[int], None] | None = None,
          on_stage: Callable[[StageEnd], object] | None = None) -> TrainResult:
    """Train (or resume) the cascade; returns final params and the evaluations written to metrics.json.

    Args:
        cfg, arrays: the run's TrainConfig (folder: cfg.run_dir()); (train, test) arrays (default: `load_data(cfg)`);
            with several processes every process passes the same ones (only process 0 writes config/metrics, prints).
        progress, on_step: show the bar and evaluation lines; on_step(step) runs after each step (e.g. to throttle).
        on_stage: the export step, called on process 0 at each stage's end with its `StageEnd` when the run reads its
            own data (arrays None): `export.model_folder.write_stage` makes the run folder a model (`convcorr train
            pose` passes it); None: checkpoints and metrics.json only.

    Returns:
        The `TrainResult`: host parameters, evaluations, speed, run folder (`run_folder.check_run_folder` first).
    """
    run_folder.check_run_folder(cfg)  # before any work: a folder of other files, or of another run, is refused
    train_set, test_set = arrays if arrays is not None else load_data(cfg)
    mesh = check_inputs(cfg, train_set)
    main = parallel.is_main_process()
    run_dir = cfg.run_dir()
    fresh = fresh_start(cfg, run_dir)  # a refused init_from: one line, no run folder made
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        if main:  # one writer per run folder (`io.folder_lock`); the other processes of a multi-process run join it
            held.enter_context(io.folder_lock(run_dir, "training run folder"))
        loop = start_run(cfg, arrays, train_set, mesh, main, run_dir, progress, fresh)
        held_out = test_set.first(cfg.eval_limit)
        try:
            for step in loop.bar:
                step_metrics = take_step(loop, step)
                _record_step(loop, step, step_metrics)
                if on_step is not None:
                    on_step(step + 1)
                _evaluate_if_due(loop, step + 1, held_out, progress, on_stage)  # before its checkpoint (module doc)
                _checkpoint_if_due(loop, step + 1)
                _stop_if_asked(loop, step + 1)
        finally:
            loop.events.close()
        return _finish_run(loop)
