"""Three-stage, data-parallel training of the Tompson et al. cascade, with orbax checkpoints and resume.

Stages (Sec. 4.2): 1) coarse model alone on E1; 2) fine model alone on E2 with the coarse model frozen;
3) both jointly on E1 + lambda * E2 (lambda = 0.1). The "standard" variant is greedy: its stage 3 keeps training
the fine model alone. Each stage starts a fresh optax state for the parameters it trains. A pretrained trunk
(`ModelConfig.trunk`) trains with the coarse model (stages 1 and 3) from layer `trunk_train` on ("none": frozen),
its updates scaled by `trunk_lr`; its batch-norm statistics stay fixed.

Data: `pose.data` (arrays, person crops, the grain input pipeline); evaluation: `pose.predict`.

Run folder `<out>/<name>/`: `config.json` (the TrainConfig), `checkpoints/` (orbax), for FLIC runs the spatial
model (`spatial.json` + `spatial_priors.npy`: `write_spatial`) and `metrics.json` in the runner's schema
(`convcorr_eval.runner`): {"key": {"kind": "train.pose", "settings": config, "version": code version},
"status": "running" | "ok", "seconds", "summary", "markdown", "metrics": {"evals": [one dict per evaluation: step,
stage, loss, PCK of coarse and cascade]}, "versions"}. A checkpoint carries the config's
`fingerprint` (settings that decide the trajectory + the code version of `CODE`): training resumes only from a
checkpoint with the same fingerprint; loading a run's parameters for evaluation needs only the same settings.

Spatial model (Sec. 3.3, `pose.spatial`): a FLIC run that reads its data itself (`data=None`) writes, before its
first step, the spatial config `spatial.FLIC_VALIDATED` and offset priors learned from the ground truth of the
people it trains on (its FLIC "train" split, in the pixels of its inputs, rooted at each torso box's centre;
`learn_spatial`), so that `pose.estimate` applies the run with the model it was validated with.

Determinism: the batch of step t and every per-sample key (augmentation, SpatialDropout) are functions of
(seed, t) only (`data.train_dataset`), so a run killed at any point and resumed from its last checkpoint ends
with exactly the parameters of an uninterrupted run, on any number of devices and processes. The checkpoint
holds the input iterator's state beside the parameters.

Event files (TensorBoard, written with tensorboardX by process 0 to `TrainConfig.logdir`, default `<run folder>/tb`,
"off" for none; `tensorboard --logdir DIR` shows them): per step `loss/stage1`..`loss/stage3` (the objective of the
step's stage, per labelled joint, as the progress bar's loss), `loss/e1`, `loss/e2` (the coarse and fine squared
errors per labelled joint) and `lr` (the learning rate of that step); at each evaluation `val/<metric>` for every
number of the evaluation (`val/coarse_pck_0.05`, `val/cascade_pck_0.05`, ...: "@" written as "_"), and the config
as text. Steps are 1-based (the step count after the update, as the checkpoints and evaluations). The file is
flushed at every checkpoint and closed however the loop ends (finished, interrupted, diverged, an exception); a
resumed run appends a new file whose first event purges the steps after the checkpoint it resumed from.

Several processes (`convcorr launch`, SLURM): the mesh spans every device of every process; each process reads
only its rows of each global batch, orbax checkpoints are written by all of them (restorable into any process
count), evaluation is sharded over all devices, and only process 0 prints, writes files and shows the progress
bar; every process logs to the `convcorr_jax` logger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from tqdm import tqdm

from convcorr_jax import cache, interrupt, io, metrics, parallel, runinfo
from convcorr_jax.config import check_fields, from_dict, validate
from convcorr_jax.data.flic import PERSON_BOX_SCALE
from convcorr_jax.errors import InputError
from convcorr_jax.pose import augment as aug
from convcorr_jax.pose import data as D
from convcorr_jax.pose import losses, predict
from convcorr_jax.pose import model as M
from convcorr_jax.pose import spatial as S
from convcorr_jax.pose.data import PoseArrays, headline

STAGE_PARAMS = {1: ("coarse",), 2: ("fine",), 3: ("coarse", "fine")}
# the code a training trajectory depends on: its version is part of the checkpoint fingerprint
CODE = ("convcorr_jax.pose", "convcorr_jax.data", "convcorr_jax.geometry", "convcorr_jax.parallel",
        "convcorr_jax.metrics", "convcorr_jax.backbones")
METRICS_KIND = "train.pose"
# settings added after training runs existed, with their defaults: left out of `settings_digest` at these values
LATER_FIELDS = {"protocol": "person", "trunk_train": "block7", "trunk_lr": 0.1, "model.trunk": "",
                "model.trunk_weights": "imagenet", "model.trunk_head": 128}
RUN_EXPECTED = "a `convcorr train pose` run (config.json + checkpoints/)"
SPATIAL_SPLIT = "train"  # the FLIC split a run trains on: the ground truth of its spatial priors
log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the run stopped and its last good checkpoint is kept."""


class NotATrainingRun(InputError):
    """A folder given as a training run that holds no `convcorr train pose` run; its message is one line."""

    def __init__(self, run_dir: str | Path):
        super().__init__(f"run folder {run_dir}", "run folder", RUN_EXPECTED)
        self.args = (f"run folder {run_dir}: expected {RUN_EXPECTED}",)


def code_version() -> str:
    """Version (16 hex) of the source of `CODE`, the modules training depends on (`cache.code_version`)."""
    return cache.code_version(*CODE)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Pose cascade training. Command: `convcorr train pose --config default` (or
    `python -m convcorr_train.pose_cascade --config default`); prints a progress bar per run, PCK@0.05 of the coarse
    model and of the cascade after each stage, and writes runs/<name>/{config,metrics}.json + checkpoints/ and the
    TensorBoard event files of `logdir` (module docstring)."""

    name: str = "pose_default"
    model: M.ModelConfig = dataclasses.field(default_factory=M.ModelConfig)
    augment: aug.AugmentConfig = dataclasses.field(default_factory=aug.AugmentConfig)
    data: str = "synthetic"  # "synthetic" (people), "mpii" (annot h5 + images), "flic" (examples.mat + images)
    data_root: str | None = None  # real data: a folder holding the annotation file(s) and images
    crop_scale: float = PERSON_BOX_SCALE  # FLIC: person-crop side / the torso box's longer side
    protocol: str = "person"  # FLIC input: "person" crops or whole "frame"s (`pose.data`)
    n_samples: int = 1000  # synthetic: samples generated (about 75% train, 25% test)
    batch_size: int = 16  # global batch (split over devices)
    steps: tuple[int, int, int] = (1200, 2000, 500)  # steps of stage 1, 2, 3
    lr: tuple[float, float, float] = (2e-3, 5e-3, 1e-3)  # peak learning rate per stage (warm-up, cosine decay)
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9)
    warmup: int = 50  # linear learning-rate warm-up steps at the start of each stage
    lambda_fine: float = 0.1
    seed: int = 0
    checkpoint_every: int = 100
    num_devices: int | None = None  # default: all devices (of all processes)
    out: str = "runs"
    eval_limit: int | None = None  # evaluate on at most this many test samples
    logdir: str | None = None  # TensorBoard event files: None -> <run folder>/tb, "off" -> none
    trunk_train: str = "block7"  # with a trunk: first trained layer (stem, block1..block13) or "none" (frozen)
    trunk_lr: float = 0.1  # with a trunk: its learning rate / the stage's

    def __post_init__(self):
        check_fields(self, positive=("lr", "batch_size", "n_samples", "checkpoint_every", "crop_scale",
                                     "num_devices", "trunk_lr"),
                     nonnegative=("steps", "warmup", "lambda_fine", "eval_limit"))

    def check(self) -> None:
        """Checks across fields (`config.validate`): the input side against the model's smallest one, the protocol
        against the data, the trained trunk layer, then the model's own (`ModelConfig.validate`)."""
        m = self.model
        least = m.pool * 2 ** max(m.levels - 1, 0)  # `ModelConfig.validate`: a multiple of this
        if m.levels < 1:
            raise InputError("config", "model.levels", ">= 1", m.levels)
        if self.protocol not in D.PROTOCOLS or (self.protocol != "person" and self.data != "flic"):
            raise InputError("config", "protocol", f"one of {D.PROTOCOLS} ('frame' with data=flic)", self.protocol)
        if self.trunk_train not in ("none",) + M.TRUNK_LAYERS:
            raise InputError("config", "trunk_train", "'none' or a trunk layer (stem, block1..block13)",
                             self.trunk_train)
        if m.image_size < least:
            raise InputError("config", "model.image_size", f">= {least} (pool * 2^(levels-1) of this model)",
                             m.image_size)
        m.validate(prefix="model.")

    @property
    def total_steps(self) -> int:
        return int(sum(self.steps))

    def stage_of(self, step: int) -> int:
        """Stage (1..3) of the 0-based step index."""
        b1, b2 = self.steps[0], self.steps[0] + self.steps[1]
        return 1 if step < b1 else 2 if step < b2 else 3

    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    def event_dir(self) -> Path | None:
        """Folder of the TensorBoard event files: `logdir`, `<run folder>/tb` when None, None when "off"."""
        if self.logdir == "off":
            return None
        return self.run_dir() / "tb" if self.logdir is None else Path(self.logdir)

    def settings_digest(self) -> str:
        """`cache.digest` of everything that decides the parameter shapes and trajectory (not out, name,
        checkpointing, device count, evaluation size or event files). Fields added after runs existed
        (`LATER_FIELDS`) are left out at their defaults, so a run trained before them keeps its digest."""
        d = dataclasses.asdict(self)
        for k in ("name", "out", "checkpoint_every", "num_devices", "eval_limit", "logdir"):
            d.pop(k)
        for path, default in LATER_FIELDS.items():
            *parents, leaf = path.split(".")
            node = d
            for name in parents:
                node = node[name]
            if node.get(leaf) == default:
                node.pop(leaf)
        return cache.digest(d)

    def fingerprint(self) -> str:
        """`cache.digest` of the settings (`settings_digest`) and the training code's version (`code_version`):
        a checkpoint resumes only under the same fingerprint."""
        return cache.digest({"settings": self.settings_digest(), "code": code_version()})


def load_data(cfg: TrainConfig) -> tuple[PoseArrays, PoseArrays]:
    """(train, held-out) arrays of cfg.data (`data.load`): synthetic and MPII (train, test); FLIC (train,
    validation movies)."""
    return D.load(cfg.data, cfg.data_root, cfg.model.image_size, n_samples=cfg.n_samples, seed=cfg.seed,
                  crop_scale=cfg.crop_scale, protocol=cfg.protocol)


# --- the spatial model saved with a run -----------------------------------------------------------------------

def spatial_points(cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points [N, K, 2], visible [N, K], torso [N, 2]) of the people a FLIC run trains on (`SPATIAL_SPLIT` of
    cfg.data_root: `data.flic_crops`, the crops training reads, cached), in the pixels of its inputs (person crops or
    letterboxed frames); torso: each torso box's centre. InputError unless cfg is a FLIC run with a data_root."""
    if cfg.data != "flic" or not cfg.data_root:
        raise InputError("config", "data / data_root", "a FLIC run (data=flic) with its FLIC folder (data_root) "
                         "to learn spatial priors from", f"{cfg.data} / {cfg.data_root}")
    crops = D.flic_crops(cfg.data_root, SPATIAL_SPLIT, cfg.model.image_size, cfg.crop_scale, protocol=cfg.protocol)
    return np.asarray(crops.arrays.points), np.asarray(crops.arrays.visible), np.asarray(crops.torso)


def learn_spatial(cfg: TrainConfig, spatial: S.SpatialConfig = S.FLIC_VALIDATED) -> np.ndarray:
    """Log-priors [E, k, k] of a FLIC run's spatial model: `spatial.learn_priors` of `spatial_points(cfg)` on the
    run's heat-map grid (stride model.pool, model.map_size cells)."""
    pts, vis, torso = spatial_points(cfg)
    return S.learn_priors(pts, vis, torso, cfg.model.pool, spatial, cfg.model.map_size)


def write_spatial(run_dir: str | Path, cfg: TrainConfig, spatial: S.SpatialConfig = S.FLIC_VALIDATED) -> np.ndarray:
    """Write a FLIC run's spatial model into its folder (`spatial.save_model`: spatial.json with `spatial` and
    where the priors come from, spatial_priors.npy with `learn_spatial(cfg, spatial)`), atomically; returns the
    log-priors."""
    pts, vis, torso = spatial_points(cfg)
    priors = S.learn_priors(pts, vis, torso, cfg.model.pool, spatial, cfg.model.map_size)  # = learn_spatial
    about = {"learned_from": f"FLIC {SPATIAL_SPLIT} split ground truth (train minus the validation movies)",
             "data_root": str(cfg.data_root), "people": int(len(pts)),
             "stride": int(cfg.model.pool), "map_size": int(cfg.model.map_size),
             "image_size": int(cfg.model.image_size), "protocol": cfg.protocol, "crop_scale": float(cfg.crop_scale)}
    S.save_model(run_dir, spatial, priors, about)
    return priors


# --- optimisation -------------------------------------------------------------------------------------------

def lr_schedule(cfg: TrainConfig, stage: int) -> optax.Schedule:
    """Learning rate of each step of a stage: linear warm-up from lr / w to lr over w = min(warmup, steps // 2)
    steps, then cosine decay to 5 % of lr at the stage's last step."""
    n = max(1, cfg.steps[stage - 1])
    warm = min(cfg.warmup, n // 2)
    peak = cfg.lr[stage - 1]
    if warm:
        return optax.warmup_cosine_decay_schedule(peak / warm, peak, warm, n, end_value=0.05 * peak)
    return optax.cosine_decay_schedule(peak, n, alpha=0.05)


def make_optimizer(cfg: TrainConfig, stage: int) -> optax.GradientTransformation:
    sched = lr_schedule(cfg, stage)
    if cfg.optimizer == "adam":
        return optax.adam(sched)
    if cfg.optimizer == "sgd":
        return optax.sgd(sched, momentum=0.9)
    raise InputError("config", "optimizer", "'adam' or 'sgd'", cfg.optimizer)


def stage_loss_terms(cfg: TrainConfig, stage: int) -> tuple[float, float, tuple[str, ...]]:
    """(weight of E1, weight of E2, trained parameter groups) of a stage."""
    if stage == 1:
        return 1.0, 0.0, STAGE_PARAMS[1]
    if stage == 2 or cfg.model.variant == "standard":
        return 0.0, 1.0, STAGE_PARAMS[2]
    return 1.0, cfg.lambda_fine, STAGE_PARAMS[3]


def trunk_trained_layers(cfg: TrainConfig) -> tuple[str, ...]:
    """The trunk layers that train (with the coarse model); () without a trunk or when it is frozen."""
    if not cfg.model.trunk or cfg.trunk_train == "none":
        return ()
    return M.TRUNK_LAYERS[M.TRUNK_LAYERS.index(cfg.trunk_train):]


def select_trained(cfg: TrainConfig, stage: int, params: dict) -> dict:
    """The sub-tree of `params` that a stage trains: its groups and, with the coarse model, the trained trunk
    layers (`trunk_trained_layers`)."""
    groups = stage_loss_terms(cfg, stage)[2]
    out = {g: params[g] for g in groups}
    layers = trunk_trained_layers(cfg)
    if layers and "coarse" in groups:
        out["trunk"] = {k: params["trunk"][k] for k in layers}
    return out


def merge_trained(params: dict, trained: dict) -> dict:
    """`params` with the leaves of `trained` (`select_trained`'s layout) put back."""
    out = {**params, **{k: v for k, v in trained.items() if k != "trunk"}}
    if "trunk" in trained:
        out["trunk"] = {**params["trunk"], **trained["trunk"]}
    return out


def make_local_step(cfg: TrainConfig, stage: int) -> Callable:
    """Per-device step (state, batch shard) -> (state, metrics); gradients pmean'ed over "data".

    The local loss is (local squared-error sum) * n_devices / (global labelled-joint count), so the pmean of
    local gradients is exactly the gradient of the global-batch loss."""
    mcfg = cfg.model
    w1, w2, _ = stage_loss_terms(cfg, stage)
    tx = make_optimizer(cfg, stage)

    def local_step(state, batch):
        params = state["params"]
        keys = batch["key"]
        ka = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
        kd = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
        imgs = batch["image"].astype(jnp.float32) / 255.0
        imgs, pts, vis = aug.augment_batch(ka, imgs, batch["points"], batch["visible"], cfg.augment)
        masks = M.dropout_masks(kd, mcfg)
        count = parallel.psum(jnp.sum(vis.astype(jnp.float32)))
        denom = jnp.maximum(count, 1.0)
        n_dev = parallel.num_shards()

        def loss_fn(trained):
            p = merge_trained(params, trained)
            if w2 == 0.0:
                hm, _, _ = M.apply_coarse(p, imgs, mcfg, masks)
                s1 = losses.heatmap_sse(hm, losses.coarse_targets(pts, mcfg), vis)[0]
                s2 = jnp.zeros(())
            else:
                out = M.apply(p, imgs, mcfg, masks)
                s1 = losses.e1(out, pts, vis, mcfg)[0]
                s2 = losses.e2(out, pts, vis, mcfg)[0]
            total = w1 * s1 + w2 * s2
            return total * n_dev / denom, (total, s1, s2)

        trained = select_trained(cfg, stage, params)
        (_, (total, s1, s2)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trained)
        grads = parallel.pmean(grads)
        updates, opt = tx.update(grads, state["opt"], trained)
        if "trunk" in updates:
            updates = {**updates, "trunk": jax.tree_util.tree_map(lambda u: u * cfg.trunk_lr, updates["trunk"])}
        new = optax.apply_updates(trained, updates)
        sums = parallel.psum(jnp.stack([total, s1, s2]))
        metrics = {"loss": sums[0] / denom, "e1": sums[1] / denom, "e2": sums[2] / denom, "joints": count}
        return {"params": merge_trained(params, new), "opt": opt}, metrics

    return local_step


def init_opt(cfg: TrainConfig, stage: int, params: dict):
    return make_optimizer(cfg, stage).init(select_trained(cfg, stage, params))


# --- evaluation ---------------------------------------------------------------------------------------------

def evaluate(params, data: PoseArrays, cfg: M.ModelConfig, alphas=(0.05, 0.1, 0.2, 0.5), mesh=None,
             per_joint_alpha: float = 0.05) -> dict:
    """PCK (percent, normalised by data.norm) of the coarse model and the cascade at several alphas, per joint at
    per_joint_alpha. mesh: predictions sharded over its devices (`predict.predict`); every process gets the same
    numbers."""
    preds = predict.predict(params, data.images, cfg, mesh=mesh)
    out = {}
    for name in ("coarse", "cascade"):
        p = preds[name]
        for a in alphas:
            out[f"{name}_pck@{a:g}"] = 100 * metrics.pck(p, data.points, data.visible, data.norm, a)
        out[f"{name}_per_joint@{per_joint_alpha:g}"] = [float(v) for v in 100 * metrics.pck_per_keypoint(
            p, data.points, data.visible, data.norm, per_joint_alpha)]
    return out


# --- checkpoints ---------------------------------------------------------------------------------------------

def _manager(ckpt_dir: Path, keep: int = 2) -> ocp.CheckpointManager:
    """Synchronous orbax manager. Every process must create it and take part in each save and restore; orbax
    writes each step to a temporary folder renamed when complete, so a step killed mid-write is never latest (and
    its leftover temporary folder is deleted when the next manager starts)."""
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True,
                                        cleanup_tmp_directories=True)
    return ocp.CheckpointManager(ckpt_dir.absolute(), options=opts, item_names=("state", "meta"))


def data_fingerprint(cfg: TrainConfig) -> dict | None:
    """`io.folder_fingerprint` of the files under cfg.data_root (None for generated data): kept in every
    checkpoint, so that a run is never resumed on data other than the data it was trained on."""
    return io.folder_fingerprint(cfg.data_root) if cfg.data_root else None


def save_checkpoint(mgr: ocp.CheckpointManager, step: int, state, cfg: TrainConfig, data_state: dict,
                    data: dict | None = None) -> None:
    """Save the (replicated, possibly multi-process) state and, in "meta", the input iterator's state
    (`data_state`, grain's `get_state()`: the same on every process) and the fingerprint of the training data
    (`data`, `data_fingerprint`); called by every process."""
    meta = {"step": step, "fingerprint": cfg.fingerprint(), "settings_digest": cfg.settings_digest(),
            "data_iterator": data_state, "data": data,
            "config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str))}
    mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    mgr.wait_until_finished()


def restore_checkpoint(mgr: ocp.CheckpointManager, cfg: TrainConfig, ckpt_dir: Path, mesh=None,
                       same_code: bool = True, discard_unreadable: bool = False, data: dict | None = None):
    """(step, state, input iterator state) of the newest readable checkpoint, or (0, None, None). A checkpoint of
    another fingerprint (`TrainConfig.fingerprint`: settings and code version) raises InputError; `same_code=False`
    (loading parameters to evaluate them) needs only the same settings (`TrainConfig.settings_digest`).

    A step that cannot be read (a file cut short or missing: a crash outside orbax's atomic rename, a damaged
    disk) is reported in one warning line on this module's logger and skipped for the next older one;
    `discard_unreadable` (training, which will write that step again) also deletes it.

    The state comes back replicated over `mesh` (default: all devices), whatever process and device count wrote
    it. A checkpoint that holds no iterator state resumes the input at its step. `data` (training: the
    `data_fingerprint` of the data it is about to read): a checkpoint trained on other data raises InputError (a
    run is never resumed, or served as finished, on data that changed); checkpoints without one pass."""
    for step in sorted(mgr.all_steps(), reverse=True):
        got, error = _try_restore(mgr, step, ocp.args.Composite(meta=ocp.args.JsonRestore()))
        meta = None if got is None else got["meta"]
        if error is None and not isinstance(meta, dict):
            error = f"meta is {type(meta).__name__}, not a JSON object"
        if error is not None:
            _skip_unreadable(mgr, ckpt_dir, step, error, discard_unreadable)
            continue
        saved_settings = meta.get("settings_digest", meta.get("fingerprint"))  # older checkpoints: settings only
        if meta.get("fingerprint") != cfg.fingerprint() and (same_code or saved_settings != cfg.settings_digest()):
            raise InputError(ckpt_dir, "config", f"a checkpoint written by this config (fingerprint "
                             f"{cfg.fingerprint()}); train under another name (--set name=NEW) or out folder "
                             "(--set out=DIR), or delete the folder", f"fingerprint {meta.get('fingerprint')}")
        if data is not None and meta.get("data") is not None and meta["data"] != data:
            raise InputError(cfg.data_root, "data_root", f"the data run {cfg.name} was trained on "
                             f"({meta['data'].get('files')} files, digest {meta['data'].get('digest')}); train under "
                             "another name (--set name=NEW) to train on the new data",
                             f"{data.get('files')} files, digest {data.get('digest')}: the files changed")
        data_state = meta.get("data_iterator", {"next_index": step})
        if data_state.get("next_index") != step:
            raise InputError(ckpt_dir / str(step), "meta data_iterator", f"the input iterator at step {step}",
                             data_state)
        shapes = M.param_shapes(cfg.model)  # the restore target's structure: no parameters drawn or weights read
        abstract = {"params": shapes,
                    "opt": jax.eval_shape(lambda p: init_opt(cfg, cfg.stage_of(step - 1), p), shapes)}
        rep = parallel.replicated(mesh if mesh is not None else parallel.make_mesh())
        abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), abstract)
        got, error = _try_restore(mgr, step, ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        if error is not None:
            _skip_unreadable(mgr, ckpt_dir, step, error, discard_unreadable)
            continue
        return step, got["state"], data_state
    return 0, None, None


def _try_restore(mgr: ocp.CheckpointManager, step: int, args) -> tuple[dict | None, str | None]:
    """(`mgr.restore(step, args=args)`, None), or (None, "ErrorType: message") when the step cannot be read (orbax
    raises JSON, value, file-not-found and TensorStore errors for damaged files). The reads it abandons are
    collected with Python's unraisable-exception hook and asyncio's logger silenced, so that a damaged step costs
    one line, not one per array."""
    hook, aio = sys.unraisablehook, logging.getLogger("asyncio")
    level = aio.level
    sys.unraisablehook = lambda _: None
    aio.setLevel(logging.CRITICAL)  # "Task exception was never retrieved" of each abandoned read
    try:
        try:
            return mgr.restore(step, args=args), None
        except Exception as e:
            error = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        gc.collect()
        return None, error
    finally:
        sys.unraisablehook = hook
        aio.setLevel(level)


def _skip_unreadable(mgr: ocp.CheckpointManager, ckpt_dir: Path, step: int, error: str, discard: bool) -> None:
    """One warning line for an unreadable checkpoint step; deleted when `discard`."""
    log.warning("%s: checkpoint step %d cannot be read (%s); %s", ckpt_dir, step, error,
                "deleted, resuming from an older one or from the start" if discard else "skipped")
    if discard:
        mgr.delete(step)


# --- event files ---------------------------------------------------------------------------------------------

class EventLog:
    """TensorBoard scalars of a run (module docstring) through a tensorboardX `SummaryWriter` on `folder`; no-op
    when folder is None. `close()` is safe to call more than once."""

    def __init__(self, folder: Path | None, purge_step: int | None = None):
        self._writer = None
        if folder is not None:
            from tensorboardX import SummaryWriter

            folder.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(str(folder), purge_step=purge_step, flush_secs=30)

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self._writer is not None:
            for tag, v in values.items():
                self._writer.add_scalar(tag, float(v), step)

    def text(self, tag: str, text: str, step: int) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def eval_scalars(ev: dict) -> dict[str, float]:
    """An evaluation's numbers as `val/<metric>` tags ("@" -> "_"; per-joint lists and step/stage/loss left out)."""
    return {"val/" + k.replace("@", "_"): float(v) for k, v in ev.items()
            if k not in ("step", "stage", "loss") and isinstance(v, (int, float)) and not isinstance(v, bool)}


# --- the loop ------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class TrainResult:
    params: dict
    evals: list[dict]
    steps_per_s: float
    images_per_s: float
    run_dir: Path


def train(cfg: TrainConfig, data: tuple[PoseArrays, PoseArrays] | None = None, progress: bool = False,
          nan_at_step: int | None = None, on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train (or resume) the cascade; returns final params and the evaluations written to metrics.json.

    data: (train, test) arrays (default: `load_data(cfg)`). nan_at_step: testing hook that poisons the loss;
    on_step(step): called after each completed step (e.g. to throttle a test run). With several processes every
    process calls this with the same config and data; only process 0 writes config/metrics and prints.
    """
    validate(cfg)
    cfg.model.validate()
    train_set, test_set = data if data is not None else load_data(cfg)
    if len(train_set) == 0:
        raise InputError("training data", "samples", "at least one training sample", 0)
    k = cfg.model.num_joints
    if train_set.points.shape[1] != k or len(cfg.augment.flip_perm) != k:
        raise InputError("config", "model.num_joints / augment.flip_perm",
                         f"{train_set.points.shape[1]} joints as in the data (FLIC's 11: --config flic)",
                         (k, len(cfg.augment.flip_perm)))
    mesh = parallel.make_mesh(cfg.num_devices)
    ndev = mesh.devices.size
    if cfg.batch_size % ndev:
        raise InputError("config", "batch_size", f"a multiple of the device count {ndev}", cfg.batch_size)
    main = parallel.is_main_process()
    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        if main:  # one writer per run folder (`io.folder_lock`); the other processes of a multi-process run join it
            held.enter_context(io.folder_lock(run_dir, "training run folder"))
        return _train_locked(cfg, data, train_set, test_set, mesh, main, run_dir, progress, nan_at_step, on_step)


def _train_locked(cfg: TrainConfig, data, train_set: PoseArrays, test_set: PoseArrays, mesh, main: bool,
                  run_dir: Path, progress: bool, nan_at_step: int | None,
                  on_step: Callable[[int], None] | None) -> TrainResult:
    ndev = mesh.devices.size
    metrics_path = run_dir / "metrics.json"
    prior = read_evals(run_dir)
    saved = json.loads(metrics_path.read_text()) if prior else None
    prior_seconds = float(saved.get("seconds", 0.0)) if isinstance(saved, dict) else 0.0
    ckpt_dir = run_dir / "checkpoints"
    mgr = _manager(ckpt_dir)
    fingerprint = data_fingerprint(cfg) if data is None else None  # data given as arrays: the caller's
    start, state, data_state = restore_checkpoint(mgr, cfg, ckpt_dir, mesh, discard_unreadable=True,
                                                  data=fingerprint)
    if main:  # after the checkpoint check: config.json never describes another config's checkpoints
        io.write_json(run_dir / "config.json", dataclasses.asdict(cfg))
        if data is None and cfg.data == "flic":  # the people it reads: the spatial model's priors
            write_spatial(run_dir, cfg)
        if 0 < start < cfg.total_steps:
            tqdm.write(f"resuming {cfg.name} from step {start} of {cfg.total_steps} ({ckpt_dir / str(start)})")
    rows = parallel.local_rows(mesh, cfg.batch_size)
    batches = iter(D.train_dataset(train_set, cfg.batch_size, cfg.total_steps, cfg.seed,
                                   D.shard_of(rows, cfg.batch_size)).to_iter_dataset(D.READ_OPTIONS))
    if data_state is not None:
        batches.set_state(data_state)
    log.info("%s: %s at step %d of %d; %d device(s) over %d process(es), this one feeds batch rows %d:%d",
             cfg.name, "resumed" if start else "started", start, cfg.total_steps, ndev, jax.process_count(),
             rows.start, rows.stop)
    if state is None:
        params = M.init(jax.random.PRNGKey(cfg.seed), cfg.model)
        state = {"params": params, "opt": init_opt(cfg, cfg.stage_of(0), params)}
        cur_stage = cfg.stage_of(0)
    else:
        cur_stage = cfg.stage_of(start - 1)
    evals = [e for e in prior if e["step"] <= start] if start else []
    state = parallel.replicate(state, mesh)
    steps_fns: dict[int, Callable] = {}
    bounds = {cfg.steps[0], cfg.steps[0] + cfg.steps[1], cfg.total_steps}
    held_out = test_set.first(cfg.eval_limit)
    score, alpha = headline(cfg.data)
    last_good = start if start else None
    t0, done = time.perf_counter(), 0
    bar = interrupt.unchecked(tqdm(range(start, cfg.total_steps), initial=start, total=cfg.total_steps,
                                   disable=not (progress and main), desc=cfg.name, unit="step", leave=False))
    loss = float("nan")
    events = EventLog(cfg.event_dir() if main and start < cfg.total_steps else None,
                      purge_step=start if start else None)
    events.text("config", "    " + json.dumps(dataclasses.asdict(cfg), default=str), start)
    stage_start = {1: 0, 2: cfg.steps[0], 3: cfg.steps[0] + cfg.steps[1]}
    schedules = {s: lr_schedule(cfg, s) for s in (1, 2, 3)}
    try:
        for step in bar:
            stage = cfg.stage_of(step)
            if stage != cur_stage:
                opt = parallel.replicate(init_opt(cfg, stage, state["params"]), mesh)
                state = {"params": state["params"], "opt": opt}
                cur_stage = stage
            if stage not in steps_fns:
                steps_fns[stage] = parallel.data_parallel_step(make_local_step(cfg, stage), mesh)
            batch = parallel.shard_batch(next(batches), mesh, cfg.batch_size)
            new_state, m = steps_fns[stage](state, batch)
            loss = float(m["loss"]) if nan_at_step is None or step != nan_at_step else float("nan")
            if not math.isfinite(loss):
                bar.close()
                where = f"step {last_good} in {ckpt_dir}" if last_good is not None else "none (no checkpoint yet)"
                raise TrainingDiverged(f"loss became {loss} at step {step} (stage {stage}); stopped without saving. "
                                       f"Last good checkpoint: {where}. Lower the learning rate or check the data.")
            state = new_state
            done += 1
            elapsed = time.perf_counter() - t0
            bar.set_postfix(stage=stage, loss=f"{loss:.4f}", steps_s=f"{done / max(elapsed, 1e-9):.2f}")
            n = step + 1
            events.scalars({f"loss/stage{stage}": loss, "loss/e1": m["e1"], "loss/e2": m["e2"],
                            "lr": schedules[stage](step - stage_start[stage])}, n)
            if n % cfg.checkpoint_every == 0 or n == cfg.total_steps:
                save_checkpoint(mgr, n, state, cfg, batches.get_state(), fingerprint)
                events.flush()
                last_good = n
                log.info("%s: step %d saved (loss %.4f)", cfg.name, n, loss)
            if on_step is not None:
                on_step(n)
            if n in bounds and len(held_out) and (not evals or evals[-1]["step"] < n):
                ev = {"step": n, "stage": stage, "loss": loss,
                      **evaluate(state["params"], held_out, cfg.model, mesh=mesh, per_joint_alpha=alpha)}
                evals.append(ev)
                events.scalars(eval_scalars(ev), n)
                if main:
                    io.write_json(metrics_path, metrics_record(cfg, evals, prior_seconds + time.perf_counter() - t0,
                                                               False))
                log.info("%s: step %d evaluated: %s@%g coarse %.1f cascade %.1f", cfg.name, n, score, alpha,
                         ev[f"coarse_pck@{alpha:g}"], ev[f"cascade_pck@{alpha:g}"])
                if progress and main:
                    bar.write(f"[{cfg.name}] step {n} stage {stage}: loss {loss:.4f}  {score}@{alpha:g} coarse "
                              f"{ev[f'coarse_pck@{alpha:g}']:.1f}  cascade {ev[f'cascade_pck@{alpha:g}']:.1f}")
            if n < cfg.total_steps and interrupt.stop_at(n):  # the safe point: every process after the same step
                if last_good != n:
                    save_checkpoint(mgr, n, state, cfg, batches.get_state(), fingerprint)
                bar.close()
                mgr.close()
                if main:
                    tqdm.write(f"[{cfg.name}] stopped after step {n} of {cfg.total_steps}; saved {ckpt_dir / str(n)}")
                raise interrupt.Interrupted(f"after step {n}")
    finally:
        events.close()
    bar.close()
    elapsed = time.perf_counter() - t0
    sps = done / elapsed if done else 0.0
    if main and done:
        tqdm.write(f"[{cfg.name}] {done} steps in {elapsed:.1f} s ({sps:.2f} steps/s, "
                   f"{sps * cfg.batch_size:.1f} images/s, {ndev} device(s)); final loss {loss:.4f}")
    elif main:
        tqdm.write(f"[{cfg.name}] already trained to step {start} of {cfg.total_steps} ({run_dir}): nothing to do")
    if main:
        io.write_json(metrics_path, metrics_record(cfg, evals, prior_seconds + elapsed, True))
    log.info("%s: finished %d steps in %.1f s", cfg.name, done, elapsed)
    params = jax.device_get(state["params"])
    mgr.close()
    return TrainResult(params, evals, sps, sps * cfg.batch_size, run_dir)


def load_params(run_dir: str | Path, cfg: TrainConfig, mesh=None) -> dict:
    """Final parameters of a finished (or the latest checkpoint of an unfinished) run, replicated over mesh
    (default: all devices); the checkpoint must hold cfg's settings (written by any code version)."""
    ckpt = Path(run_dir) / "checkpoints"
    mgr = _manager(ckpt)
    _, state, _ = restore_checkpoint(mgr, cfg, ckpt, mesh, same_code=False)
    mgr.close()
    if state is None:
        raise InputError(ckpt, "checkpoint", "at least one saved step", "none")
    return state["params"]


def run_config(run_dir: str | Path) -> TrainConfig:
    """The TrainConfig of the training run in `run_dir`; `NotATrainingRun` (one line) unless the folder holds a
    `convcorr train pose` run: a config.json of a TrainConfig and a checkpoints/ folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "checkpoints").is_dir():
        raise NotATrainingRun(run_dir)
    try:
        return from_dict(TrainConfig, json.loads((run_dir / "config.json").read_text()))
    except (ValueError, TypeError):  # InputError is a ValueError: another kind of config.json
        raise NotATrainingRun(run_dir) from None


def run_state(run_dir: str | Path) -> str:
    """Identity of the trained state in `run_dir`: its settings digest and the saved checkpoint steps ("s@1,2");
    it changes when the run trains on or is trained again with other settings."""
    cfg = run_config(run_dir)
    steps = sorted(int(p.name) for p in (Path(run_dir) / "checkpoints").iterdir() if p.name.isdigit())
    return f"{cfg.settings_digest()}@{','.join(map(str, steps))}"


def load_run(run_dir: str | Path) -> tuple[TrainConfig, dict]:
    """(TrainConfig, params) of a finished (or the latest checkpoint of an unfinished) training run;
    `NotATrainingRun` for a folder without one (`run_config`)."""
    cfg = run_config(run_dir)
    return cfg, load_params(run_dir, cfg)


def read_evals(run_dir: str | Path) -> list[dict]:
    """The evaluations in a training run's metrics.json (`metrics.evals`; [] without the file)."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return []
    saved = json.loads(path.read_text())
    if isinstance(saved, list):  # the layout before the runner's schema: the list of evaluations itself
        return saved
    if not isinstance(saved, dict) or not isinstance(saved.get("metrics", {}).get("evals"), list):
        raise InputError(path, "metrics.evals", "the training run's list of evaluations")
    return saved["metrics"]["evals"]


def metrics_record(cfg: TrainConfig, evals: list[dict], seconds: float, finished: bool) -> dict:
    """metrics.json of a training run in the runner's schema (see the module docstring)."""
    score, alpha = headline(cfg.data)
    last = evals[-1] if evals else None
    summary = (f"{cfg.name}: step {last['step']} of {cfg.total_steps}, {score}@{alpha:g} coarse "
               f"{last[f'coarse_pck@{alpha:g}']:.1f} cascade {last[f'cascade_pck@{alpha:g}']:.1f}" if last else
               f"{cfg.name}: no evaluation yet")
    return {"key": cache.key(METRICS_KIND, dataclasses.asdict(cfg), code_version()),
            "status": "ok" if finished else "running", "seconds": seconds, "summary": summary, "markdown": "",
            "metrics": {"evals": evals}, "versions": runinfo.versions()}
