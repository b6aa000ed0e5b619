"""Orbax checkpoints of a training run (`<run folder>/checkpoints/`): save, restore the newest readable step, load a
run's parameters.

A checkpoint holds the (replicated) state {"params", "opt"} and, in "meta", the step, the config, its
`fingerprint` and `settings_digest` (`pose.training.config`), the input iterator's state and the fingerprint of the
training data. Every process takes part in each save and restore; the state comes back replicated over any device
and process count. A run without a checkpoint starts from `start_params`: `model.init`'s draw, or a model folder's
parameters (`TrainConfig.init_from`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import sys
import time
import types
import warnings
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import Mesh

from convcorr_jax.core import cache, parallel
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.shared_swap import SharedSwap
from convcorr_jax.pose import model, person_crops
from convcorr_jax.pose.model_files import MODEL_FILE, PARAMS_FILE, check_param_shapes, read_params, read_record
from convcorr_jax.pose.training.config import NOT_SETTINGS, TrainConfig, fix_old_record
from convcorr_jax.pose.training.stages import init_opt

log = logging.getLogger(__name__)


def manager(ckpt_dir: Path, keep: int = 2) -> ocp.CheckpointManager:
    """Synchronous orbax manager.

    Every process must create it and take part in each save and restore; orbax writes each step to a temporary
    folder renamed when complete, so a step killed mid-write is never latest (and its leftover temporary folder is
    deleted when the next manager starts).

    Args:
      ckpt_dir: the checkpoint folder (`<run folder>/checkpoints`), created when missing.
      keep: how many of the newest steps to keep on disk.

    Returns:
      An `ocp.CheckpointManager` with items "state" and "meta", no async writes, its leftover temporary folders
      already deleted: orbax deletes them in a background thread that neither `close` nor a restore waits for, and
      that thread, still running when a refused run exits (another config's checkpoint, a refused init_from),
      printed a RuntimeError traceback after the error line.
    """
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True,
                                        cleanup_tmp_directories=True)
    mgr = ocp.CheckpointManager(ckpt_dir.absolute(), options=opts, item_names=("state", "meta"))
    getattr(mgr, "_maybe_await_cleanup_tmp_directory", lambda: None)()  # orbax's own wait, as its save does
    return mgr


def data_fingerprint(arrays: person_crops.PoseArrays) -> dict:
    """{"people": N, "digest": sha256 hex} of the training data's content.

    The digest covers the exact inputs training reads, whatever folder they came from. Kept in every checkpoint,
    so that a run is never resumed on other data, and is resumed on the same data at another path.

    Args:
      arrays: `PoseArrays`: images uint8 [N, S, S, 3], points [N, K, 2], visible [N, K]; each array's dtype,
        shape and bytes enter the digest.

    Returns:
      {"people": N (int), "digest": sha256 hex str}.
    """
    return {"people": int(len(arrays.images)),
            "digest": cache.arrays_digest((arrays.images, arrays.points, arrays.visible))}


def save_checkpoint(mgr: ocp.CheckpointManager, step: int, state: dict, cfg: TrainConfig, data_state: dict,
                    data: dict | None = None) -> None:
    """Save the (replicated, possibly multi-process) state and its "meta"; called by every process.

    Args:
      mgr: the run's `manager`.
      step: the training step the state is at.
      state: {"params", "opt"} pytree (replicated).
      cfg: the run's config; its fingerprint, settings digest and fields go into "meta".
      data_state: the input iterator's state (grain's `get_state()`: the same on every process).
      data: the fingerprint of the training data (`data_fingerprint`), or None.

    Returns:
      None. Writes step `step` under the manager's folder and waits until it is finished.
    """
    meta = {"step": step, "fingerprint": cfg.fingerprint(), "settings_digest": cfg.settings_digest(),
            "data_iterator": data_state, "data": data,
            "config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str))}
    mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    mgr.wait_until_finished()


def _check_meta(meta: dict, cfg: TrainConfig, ckpt_dir: Path, step: int, same_code: bool, data: dict | None) -> None:
    """InputError unless the checkpoint `meta` (`fix_old_record`ed) was written by cfg (its fingerprint, or with
    `same_code=False` its settings), on `data` (when both name their data) and holds the input iterator at `step`."""
    if meta.get("fingerprint") != cfg.fingerprint() and (same_code or not _same_settings(meta, cfg)):
        raise InputError(ckpt_dir, "config", f"a checkpoint written by this config (fingerprint "
                         f"{cfg.fingerprint()}); train under another name (--set name=NEW) or out folder "
                         "(--out DIR), or delete the folder", f"fingerprint {meta.get('fingerprint')}: "
                         f"{_what_differs(meta, cfg)}")
    saved = meta.get("data")
    if data is not None and isinstance(saved, dict) and "people" in saved and saved != data:
        raise InputError(cfg.data_root, "data_root", f"the data run {cfg.name} was trained on "
                         f"({saved.get('people')} people, content digest {saved.get('digest')}); train under "
                         "another name (--set name=NEW) to train on the new data",
                         f"{data.get('people')} people, digest {data.get('digest')}: other data")
    if meta["data_iterator"].get("next_index") != step:
        raise InputError(ckpt_dir / str(step), "meta data_iterator", f"the input iterator at step {step}",
                         meta["data_iterator"])


def _what_differs(meta: dict, cfg: TrainConfig) -> str:
    """What makes a checkpoint's fingerprint another than cfg's, in words: the training code, or the settings that
    differ from the config the checkpoint names (the first three)."""
    if _same_settings(meta, cfg):
        return "the same settings, trained by another version of the training code"
    config = meta.get("config")
    was = config if isinstance(config, dict) else {}
    now = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    changed = [k for k in now if k not in NOT_SETTINGS and was.get(k) != now[k]]
    return f"other settings ({', '.join(changed[:3])})" if changed else "other settings"


def _same_settings(meta: dict, cfg: TrainConfig) -> bool:
    """Whether a checkpoint's settings digest is cfg's: today's path-free one, or that of a run written before
    it was path-free (data_root, as the checkpoint's own config names it, included)."""
    if meta["settings_digest"] == cfg.settings_digest():
        return True
    old_root = (meta.get("config") or {}).get("data_root")
    return meta["settings_digest"] == dataclasses.replace(cfg, data_root=old_root).settings_digest(legacy=True)


def _abstract_state(cfg: TrainConfig, step: int, mesh) -> dict:
    """The restore target of a step's state: shapes and dtypes, replicated over mesh (default: all devices); no
    parameters drawn or weights read."""
    shapes = model.param_shapes(cfg.model)
    abstract = {"params": shapes, "opt": jax.eval_shape(lambda p: init_opt(cfg, cfg.stage_of(step - 1), p), shapes)}
    rep = parallel.replicated(mesh if mesh is not None else parallel.make_mesh())
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), abstract)


def restore_checkpoint(mgr: ocp.CheckpointManager, cfg: TrainConfig, ckpt_dir: Path, mesh: Mesh | None = None,
                       same_code: bool = True, discard_unreadable: bool = False, data: dict | None = None,
                       newest_only: bool = False) -> tuple[int, dict | None, dict | None]:
    """(step, state, input iterator state) of the newest readable checkpoint, or (0, None, None).

    A step that cannot be read (a file cut short or missing: a crash outside orbax's atomic rename, a damaged
    disk) is reported in one warning line on this module's logger and skipped for the next older one (training,
    which redoes the steps after it); with `newest_only` (a reader of the run's parameters) it is refused.
    A checkpoint that holds no iterator state resumes the input at its step.

    Args:
      mgr: the run's `manager`.
      cfg: the config the checkpoint must have been written by.
      ckpt_dir: the checkpoint folder (named in errors and warnings).
      mesh: the state comes back replicated over it (default: all devices), whatever process and device count
        wrote it.
      same_code: True: the checkpoint must have cfg's fingerprint (`TrainConfig.fingerprint`: settings and code
        version); False (loading parameters to evaluate them): only the same settings
        (`TrainConfig.settings_digest`).
      discard_unreadable: also delete an unreadable step (training, which will write that step again).
      data: training: the `data_fingerprint` of the data it is about to read; a checkpoint trained on other data
        is refused (a run is never resumed, or served as finished, on data that changed); checkpoints without one
        pass. None: no check.
      newest_only: an unreadable step is an InputError, not skipped for an older one (whose parameters are not the
        run's).

    Returns:
      (step int, state {"params", "opt"} replicated, the input iterator's state dict), or (0, None, None) when
      no step is readable.

    Raises:
      InputError: a checkpoint of another fingerprint (or settings), other data, or an iterator state not at its
        step; with `newest_only`, an unreadable step.
    """
    for step in sorted(mgr.all_steps(), reverse=True):
        got, error = _try_restore(mgr, step, ocp.args.Composite(meta=ocp.args.JsonRestore()))
        meta = None if got is None else got["meta"]
        if error is None and not isinstance(meta, dict):
            error = f"meta is {type(meta).__name__}, not a JSON object"
        if error is not None:
            _skip_unreadable(mgr, ckpt_dir, step, error, discard_unreadable, newest_only)
            continue
        meta = fix_old_record("meta", meta, step)
        _check_meta(meta, cfg, ckpt_dir, step, same_code, data)
        abstract = _abstract_state(cfg, step, mesh)
        got, error = _try_restore(mgr, step, ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        if error is not None:
            _skip_unreadable(mgr, ckpt_dir, step, error, discard_unreadable, newest_only)
            continue
        assert got is not None  # `_try_restore` gives a restored state or an error
        return step, got["state"], meta["data_iterator"]
    return 0, None, None


def _try_restore(mgr: ocp.CheckpointManager, step: int, args) -> tuple[dict | None, str | None]:
    """(`mgr.restore(step, args=args)`, None), or (None, "ErrorType: message") when the step cannot be read (orbax
    raises JSON, value, file-not-found and TensorStore errors for damaged files). The reads it abandons go on in
    orbax's background event loop after the error; they are waited for and collected (`_collect_abandoned_reads`)
    with Python's unraisable-exception hook and asyncio's logger silenced (`_QUIET_READS`: restores that overlap in
    several threads share one silencing, undone by the last to leave), so that a damaged step costs one line, not one
    per array, now or at a later garbage collection."""
    with _QUIET_READS.held():
        try:
            return mgr.restore(step, args=args), None
        except Exception as e:
            error = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        _collect_abandoned_reads()
        return None, error


def _silence_reads() -> tuple:
    """Silence the unraisable-exception hook and asyncio's logger ("Task exception was never retrieved" of each
    abandoned read); returns what `_unsilence_reads` puts back."""
    found = sys.unraisablehook, logging.getLogger("asyncio").level
    sys.unraisablehook = lambda _: None
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return found


def _unsilence_reads(found: tuple) -> None:
    """Put back the hook and the level `_silence_reads` found."""
    sys.unraisablehook = found[0]
    logging.getLogger("asyncio").setLevel(found[1])


def _ignore_runtime_warnings() -> contextlib.ExitStack:
    """Ignore RuntimeWarnings (the warning filters are the process's) until the returned stack is closed."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", RuntimeWarning)
    return stack


# process-wide changes shared by the restores that overlap in several threads (the first in makes the change, the
# last out undoes it: each putting back what it found could leave one installed for good)
_QUIET_READS = SharedSwap(_silence_reads, _unsilence_reads)
_NO_RUNTIME_WARNINGS = SharedSwap(_ignore_runtime_warnings, contextlib.ExitStack.close)


def _orbax_coroutines() -> int:
    """How many coroutine objects of orbax's modules are alive (running, or garbage not yet collected)."""
    return sum(isinstance(o, types.CoroutineType) and "orbax" in o.cr_code.co_filename for o in gc.get_objects())


def _collect_abandoned_reads(timeout_s: float = 10.0, poll_s: float = 0.05) -> None:
    """Garbage-collect until no orbax coroutine is alive (the reads a failed restore left running have ended and
    been collected) or `timeout_s` has passed, with their "coroutine ... was never awaited" RuntimeWarnings
    ignored (`_NO_RUNTIME_WARNINGS`, shared with the collections that overlap in other threads)."""
    deadline = time.monotonic() + timeout_s
    with _NO_RUNTIME_WARNINGS.held():
        gc.collect()
        while _orbax_coroutines() and time.monotonic() < deadline:
            time.sleep(poll_s)
            gc.collect()


def _skip_unreadable(mgr: ocp.CheckpointManager, ckpt_dir: Path, step: int, error: str, discard: bool,
                     refuse: bool = False) -> None:
    """One warning line for an unreadable checkpoint step; deleted when `discard`; an InputError when `refuse`."""
    if refuse:
        raise InputError(ckpt_dir / str(step), "checkpoint", "a readable step (the run's newest: rerun its "
                         "`convcorr train pose` command to redo a damaged one)", error)
    log.warning("%s: checkpoint step %d cannot be read (%s); %s", ckpt_dir, step, error,
                "deleted, resuming from an older one or from the start" if discard else "skipped")
    if discard:
        mgr.delete(step)


def checkpoint_params(run_dir: str | Path, cfg: TrainConfig, mesh: Mesh | None = None) -> dict:
    """Final parameters of a finished (or the latest checkpoint of an unfinished) run.

    Args:
      run_dir: the run folder (its `checkpoints/` is read).
      cfg: the run's config; the checkpoint must hold cfg's settings (written by any code version).
      mesh: the parameters come back replicated over it (default: all devices).

    Returns:
      The model parameter pytree (`state["params"]`).

    Raises:
      InputError: no checkpoint, an unreadable newest one (naming it), or one of other settings or data.
    """
    ckpt = Path(run_dir) / "checkpoints"
    if not ckpt.is_dir():  # the manager would make one: nothing is written into a folder that holds no run
        raise InputError(ckpt, "checkpoint", "at least one saved step", "no checkpoints folder")
    mgr = manager(ckpt)
    try:  # the newest step or none: an older one's parameters are not the run's
        _, state, _ = restore_checkpoint(mgr, cfg, ckpt, mesh, same_code=False, newest_only=True)
    finally:
        mgr.close()
    if state is None:
        raise InputError(ckpt, "checkpoint", "at least one saved step", "none")
    return state["params"]


def _check_joints(folder: Path, record: dict, cfg: TrainConfig) -> None:
    """Refuse a model whose joints (model.json's skeleton names, where recorded) are not those of the config's data:
    a model of another skeleton with as many joints has parameters of the same shapes, its joint i another joint.

    Args:
        folder: the model folder (`TrainConfig.init_from`).
        record: its model.json.
        cfg: the run's TrainConfig (the skeleton of its data, `person_crops.dataset_skeleton`).

    Returns:
        None.

    Raises:
        InputError: naming model.json's skeleton, both joint lists.
    """
    names = (record.get("skeleton") or {}).get("names") if isinstance(record, dict) else None
    if not isinstance(names, list):  # a model without its skeleton: the shapes' check alone
        return
    want = person_crops.dataset_skeleton(cfg.data, cfg.data_root, **cfg.data_options())
    if tuple(names) != tuple(want.names):
        raise InputError(folder / MODEL_FILE, "skeleton.names", f"the joints of data={cfg.data} in this order "
                         f"({want.name}: {', '.join(want.names)}): init_from a model of the same skeleton",
                         ", ".join(map(str, names)))


def start_params(cfg: TrainConfig) -> tuple[dict, dict | None]:
    """The parameters a run without a checkpoint starts from: `model.init`'s draw (seed), or `cfg.init_from`'s.

    Args:
        cfg: the run's TrainConfig; init_from: a model folder (model.json + params.npz) or None.

    Returns:
        (params, start): the parameter tree; start {"init_from": folder, "params_sha256": hex} (metrics.json's
        "start") or None for a drawn start.

    Raises:
        InputError: naming the file: a folder without model.json or params.npz, a model of another skeleton's
            joints than the config's data (`_check_joints`), a params.npz of another sha256 than model.json records,
            or parameters of another structure or shape than the config's model (the first differing path, both
            shapes).
    """
    if cfg.init_from is None:
        return model.init(jax.random.PRNGKey(cfg.seed), cfg.model), None
    folder = Path(cfg.init_from)
    record = read_record(folder)
    _check_joints(folder, record, cfg)
    params = read_params(folder, record)  # params.npz checked against the record's sha256
    want = check_param_shapes(folder, params, cfg.model)
    params = jax.tree_util.tree_map(lambda a, w: np.asarray(a, w.dtype), params, want)
    return params, {"init_from": str(folder), "params_sha256": record["files"][PARAMS_FILE]}
