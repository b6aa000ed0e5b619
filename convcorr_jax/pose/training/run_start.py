"""The start of a training run: its loop's state (`LoopState`), restored from the newest checkpoint or fresh
(`start_run`), the run's files written (config.json, the spatial model, the resume line) and the input opened at the
restored step. `loop.train` calls `start_run` once, then takes its steps on the state it returns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import grain
import jax
import orbax.checkpoint as ocp
from tqdm import tqdm

from convcorr_jax.core import interrupt, io, parallel
from convcorr_jax.core.progress import LOG as progress_log
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.pose import data, mixture
from convcorr_jax.pose.data import PoseArrays
from convcorr_jax.pose.training import checkpoints, run_folder
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_jax.pose.training.event_log import EventLog
from convcorr_jax.pose.training.stages import init_opt

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LoopState:
    """The state of one run's loop, shared by its steps (what `start_run` sets up and each step updates)."""

    cfg: TrainConfig
    mesh: jax.sharding.Mesh
    main: bool  # process 0: writes files and prints
    run_dir: Path
    mgr: ocp.CheckpointManager  # of run_dir/checkpoints
    data_print: dict | None  # `checkpoints.data_fingerprint` of the data read (None: arrays the caller gave)
    start: int  # steps done before this call
    state: dict  # {"params", "opt"}, replicated over mesh
    stage: int
    batches: grain.DatasetIterator  # the global batches (this process's rows)
    evals: list[dict]
    prior_seconds: float  # training time of earlier calls (metrics.json)
    last_good: int | None  # newest checkpoint step
    events: EventLog
    bar: tqdm
    t0: float = dataclasses.field(default_factory=time.perf_counter)
    done: int = 0
    loss: float = float("nan")
    step_fns: dict[int, Callable] = dataclasses.field(default_factory=dict)
    started_from: dict | None = None  # metrics.json's "start" (`checkpoints.start_params`)

    @property
    def ckpt_dir(self) -> Path:
        """The run's orbax checkpoint folder."""
        return self.run_dir / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        """The run's metrics.json."""
        return self.run_dir / "metrics.json"

def _write_run_files(cfg: TrainConfig, run_dir: Path, reads_data: bool, start: int) -> None:
    """Process 0, after the checkpoint check (so config.json never describes another config's checkpoints).

    Args:
        cfg, run_dir, reads_data, start: the run's TrainConfig and folder; it reads its data itself; the steps done.

    Returns:
        None; writes config.json, the spatial model of a run on real data that it reads itself, the resume line.
    """
    io.write_json(run_dir / "config.json", dataclasses.asdict(cfg))
    if reads_data and cfg.data in run_folder.SPATIAL_DATA:  # the people it reads: the spatial model's priors
        run_folder.write_spatial(run_dir, cfg)
    if 0 < start < cfg.total_steps:
        progress_log.info(f"resuming {cfg.name} from step {start} of {cfg.total_steps} "
                          f"({run_dir / 'checkpoints' / str(start)})")


def _open_batches(cfg: TrainConfig, train_set: PoseArrays, mesh, data_state: dict | None
                  ) -> grain.DatasetIterator:
    """The grain iterator of this process's rows of every global batch, at `data_state` (None: step 0).

    Args:
        cfg, train_set, mesh, data_state: the run's TrainConfig, training arrays, device mesh, checkpointed input state.

    Returns:
        The iterator; each item this process's rows of one global batch.
    """
    rows = parallel.local_rows(mesh, cfg.batch_size)
    ds = mixture.batches(train_set, cfg.batch_size, cfg.total_steps, cfg.seed, data.shard_of(rows, cfg.batch_size))
    batches = iter(ds.to_iter_dataset(data.READ_OPTIONS))
    if data_state is not None:
        batches.set_state(data_state)
    log.info("%s: %s at step %d of %d; %d device(s) over %d process(es), this one feeds batch rows %d:%d",
             cfg.name, "resumed" if data_state else "started", data_state["next_index"] if data_state else 0,
             cfg.total_steps, mesh.devices.size, jax.process_count(), rows.start, rows.stop)
    return batches


def fresh_start(cfg: TrainConfig, run_dir: Path) -> tuple[dict, dict | None] | None:
    """The parameters a run with `init_from` and no saved step starts from (`checkpoints.start_params`), read before
    its run folder is made, so that a refused model folder is one line and leaves no folder behind.

    Args:
        cfg, run_dir: the run's TrainConfig and folder.

    Returns:
        (params, start) as `checkpoints.start_params`; None for a run without init_from or with a saved step (it
        resumes from that, init_from ignored).

    Raises:
        InputError: as `checkpoints.start_params`.
    """
    if cfg.init_from is None or run_folder.saved_steps(run_dir):
        return None
    return checkpoints.start_params(cfg)


def start_run(cfg: TrainConfig, arrays: tuple[PoseArrays, PoseArrays] | None, train_set: PoseArrays,
              mesh: jax.sharding.Mesh, main: bool, run_dir: Path, progress: bool,
              fresh: tuple[dict, dict | None] | None = None) -> LoopState:
    """Restore the newest checkpoint (or start: `checkpoints.start_params`) and set the loop up.

    Args:
        cfg, train_set, mesh, main: the run's TrainConfig, training arrays, device mesh; this is process 0.
        arrays, run_dir, progress: the caller's (train, test) arrays (None: it reads its data); the run folder; show
            the bar.
        fresh: `fresh_start`'s (params, start) when the caller read them (None: read here if no step is restored).

    Returns:
        The `LoopState`, after writing the run's files, opening the input at the restored step, the bar, event log.
    """
    prior = run_folder.read_metrics(run_dir)
    mgr = checkpoints.manager(run_dir / "checkpoints")
    data_print = checkpoints.data_fingerprint(train_set) if arrays is None else None  # arrays given: the caller's
    start, state, data_state = checkpoints.restore_checkpoint(mgr, cfg, run_dir / "checkpoints", mesh,
                                                              discard_unreadable=True, data=data_print)
    started = prior["metrics"].get("start") if prior and state is not None else None  # resumed: init_from ignored
    if state is None:
        params, started = fresh if fresh is not None else checkpoints.start_params(cfg)  # before the run's files
        state = {"params": params, "opt": init_opt(cfg, cfg.stage_of(0), params)}
    if main:
        _write_run_files(cfg, run_dir, arrays is None, start)
    batches = _open_batches(cfg, train_set, mesh, data_state)
    evals = [e for e in prior["metrics"]["evals"] if e["step"] <= start] if prior and start else []
    bar = interrupt.unchecked(progress_bar(range(start, cfg.total_steps), initial=start, total=cfg.total_steps,
                                           disable=not (progress and main), desc=cfg.name, unit="step", leave=False))
    # TensorBoard keeps the events of steps below the purge step: those up to the checkpoint's own (1-based) step
    events = EventLog(cfg.event_dir() if main and start < cfg.total_steps else None,
                      purge_step=start + 1 if start else None)
    events.text("config", "    " + json.dumps(dataclasses.asdict(cfg), default=str), start)
    return LoopState(cfg, mesh, main, run_dir, mgr, data_print, start, parallel.replicate(state, mesh),
                     cfg.stage_of(start - 1 if start else 0), batches, evals,
                     float(prior.get("seconds", 0.0)) if prior else 0.0, start if start else None, events, bar,
                     started_from=started)
