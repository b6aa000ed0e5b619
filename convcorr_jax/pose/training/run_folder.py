"""The files of a training run folder `<out>/<name>/` besides its checkpoints: reading a run (its config, state,
parameters, evaluations), its metrics.json, and the spatial model saved with a FLIC run.

Run folder: `config.json` (the TrainConfig), `checkpoints/` (`pose.training.checkpoints`), `tb/`
(`pose.training.event_log`), for runs on real data (FLIC, COCO-format folders, LSP) the spatial model (`spatial.json` +
`spatial_priors.npy`: `write_spatial`) and `metrics.json` in the runner's schema (`runinfo.metrics_record`, numbers to
6 significant digits): {"key": {"kind": "train.pose", "settings": config, "version": code version}, "status": "running"
| "ok", "seconds", "summary", "markdown", "metrics": {"evals": [one dict per evaluation: step, stage, loss, PCK of
coarse and cascade (an MPII run's PCKh pooled over the MPII toolkit's 14 joints, `pooled_joints`)], "start" (a run
started from a model folder's parameters, `TrainConfig.init_from`: the folder and its params.npz's sha256)},
"versions"}.

Training writes only into a folder that is absent, empty, or a run of its own settings holding nothing but what
training writes (`TRAINING_RUN`, `check_run_folder`): any other folder is refused in one line before any work,
and left as it was.

Spatial model (Sec. 3.3, `pose.spatial`): a FLIC run that reads its data itself writes, before its first step, the
spatial config `spatial.FLIC_VALIDATED` and offset priors learned from the ground truth of the people it trains on
(its FLIC "train" split, in the pixels of its inputs, rooted at each torso box's centre; `learn_spatial`), so that
`pose.estimate` applies the run with the model it was validated with.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from convcorr_jax.core import cache, io, metrics, runinfo
from convcorr_jax.core.config import from_dict
from convcorr_jax.core.crop_geometry import crop_of
from convcorr_jax.core.errors import InputError
from convcorr_jax.data import pose_sets
from convcorr_jax.core.registry import Names
from convcorr_jax.pose import data, mixture, person_crops, spatial
from convcorr_jax.pose.model_files import MODEL_FOLDER
from convcorr_jax.pose.training.checkpoints import checkpoint_params
from convcorr_jax.pose.training.config import NOT_SETTINGS, TrainConfig, code_version, fix_old_record

METRICS_KIND = "train.pose"
RUN_EXPECTED = "a `convcorr train pose` run (config.json + checkpoints/)"
SPATIAL_SPLIT = "train"  # the split a run trains on: the ground truth of its spatial priors
# the runs that save a spatial model (real data read from a folder): kinds of torso-box crops (FLIC's validated model)
# and those cropped at person boxes (`pose_sets.LOADERS`), in registration order; a live view
SPATIAL_DATA = Names(lambda: tuple(k for k, d in pose_sets.DATASETS.items()
                                   if crop_of(k).torso or d.inputs is pose_sets.box_inputs))


def _is_training_run(folder: Path) -> bool:
    """Whether `folder` holds a training run's mark: its checkpoints/, or a config.json of TrainConfig fields."""
    if (folder / "checkpoints").is_dir():
        return True
    try:
        saved = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return isinstance(saved, dict) and "model" in saved and set(saved) <= fields


def _event_files(folder: Path) -> tuple[str, ...]:
    """The event files a run writes into its own folder when its logdir (config.json's) lies inside it: the
    pattern of their paths relative to the folder (none for the default tb/, another folder, or no config.json)."""
    try:
        logdir = json.loads((folder / "config.json").read_text()).get("logdir")
        rel = Path(logdir).resolve().relative_to(folder.resolve())
    except (OSError, ValueError, AttributeError, TypeError):  # no config.json, not a dict, logdir None or elsewhere
        return ()
    return (str(rel / "events.out.tfevents.*").removeprefix("./"),) if logdir != "off" else ()


# what training writes into its run folder: config.json, checkpoints/, tb/, metrics.json, the model's files and the
# event files of a logdir inside it
TRAINING_RUN = io.FolderKind("a training run", ("config.json", "checkpoints", "tb", "metrics.json",
                                                 *MODEL_FOLDER.names), marker=_is_training_run,
                             recorded=_event_files)
WAY_OUT = "nothing was changed: train under another name (--set name=NEW) or out folder (--out DIR)"


class NotATrainingRun(InputError):
    """A folder given as a training run that holds no `convcorr train pose` run; its message is one line."""

    def __init__(self, run_dir: str | Path):
        super().__init__(f"run folder {run_dir}", "run folder", RUN_EXPECTED)
        self.args = (f"run folder {run_dir}: expected {RUN_EXPECTED}",)


def _run_config(run_dir: str | Path) -> TrainConfig:
    """The TrainConfig of the training run in `run_dir`.

    Args:
        run_dir: a `convcorr train pose` run folder: a config.json of a TrainConfig and a checkpoints/ folder.

    Returns:
        The run's TrainConfig.

    Raises:
        NotATrainingRun: (one line) the folder holds no such run.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "checkpoints").is_dir():
        raise NotATrainingRun(run_dir)
    try:
        return from_dict(TrainConfig, json.loads((run_dir / "config.json").read_text()))
    except (ValueError, TypeError):  # InputError is a ValueError: another kind of config.json
        raise NotATrainingRun(run_dir) from None


def check_run_folder(cfg: TrainConfig) -> None:
    """Refuse, before any work, a run folder that training may not write into; creates nothing.

    The folder `cfg.run_dir()` must be absent, empty, or a training run holding nothing but what training writes
    (`TRAINING_RUN`, `io.check_replaceable`). Without a saved step its config.json, when there, must be a TrainConfig
    of cfg's settings (with saved steps, the checkpoints' own check decides: settings, code and data).

    Args:
        cfg: the run's TrainConfig.

    Returns:
        None.

    Raises:
        InputError: one line naming the folder and what is in it: a folder of someone else's files, another kind of
            config.json, or a run of other settings; an out that is itself a training run or a model folder (the
            new run nested in it made it a folder that holds something besides its own files: no longer resumed).
    """
    run_dir, out = cfg.run_dir(), Path(cfg.out)
    for kind in (TRAINING_RUN, MODEL_FOLDER):
        if out.is_dir() and kind.marker is not None and kind.marker(out):
            raise InputError(out, "out", "a folder of run folders (the run is written to OUT/NAME)",
                             f"{kind.name} itself", message=f"--out is {kind.name} itself, not a folder of run "
                             f"folders (the run would be written into it as {cfg.name}/); nothing was changed: "
                             f"give the folder that holds it (--out {out.parent})")
    try:
        io.check_replaceable(run_dir, TRAINING_RUN, "run folder")
    except io.NotOwned as e:
        raise InputError(run_dir, "run folder", "a new or empty folder, or a run of this config", e.foreign,
                         message=f"the run folder {e.described}; {WAY_OUT}") from None
    saved = run_dir / "config.json"
    if not saved.is_file() or saved_steps(run_dir):
        return
    try:
        other = from_dict(TrainConfig, json.loads(saved.read_text()))
    except (ValueError, TypeError, AttributeError):  # InputError is a ValueError
        raise InputError(run_dir, "run folder", RUN_EXPECTED, "another kind of config.json",
                         message=f"the run folder's config.json is not a training run's; {WAY_OUT}") from None
    if other.settings_digest() != cfg.settings_digest():
        was, now = dataclasses.asdict(other), dataclasses.asdict(cfg)
        changed = [k for k in now if k not in NOT_SETTINGS and was.get(k) != now[k]] or ["settings"]
        raise InputError(run_dir, "run folder", "a run of this config", f"a run of other settings ({changed})",
                         message=f"the run folder holds a run of other settings ({', '.join(changed[:3])}); {WAY_OUT}")


def saved_steps(run_dir: str | Path) -> list[int]:
    """The checkpoint steps saved in a run folder (its checkpoints/<step> folders), ascending; [] for none.

    Args:
        run_dir: a training run folder (or where one would be).

    Returns:
        The steps, e.g. [1, 2].
    """
    ckpt = Path(run_dir) / "checkpoints"
    return sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) if ckpt.is_dir() else []


def run_state(run_dir: str | Path) -> str:
    """Identity of the trained state in `run_dir`: its settings digest and the saved checkpoint steps.

    It changes when the run trains on or is trained again with other settings.

    Args:
        run_dir: a training run folder.

    Returns:
        "<settings digest>@<steps, comma-separated, ascending>", e.g. "s@1,2".

    Raises:
        NotATrainingRun: as `_run_config`.
    """
    cfg = _run_config(run_dir)
    return f"{cfg.settings_digest()}@{','.join(map(str, saved_steps(run_dir)))}"


def load_run(run_dir: str | Path) -> tuple[TrainConfig, dict]:
    """(TrainConfig, params) of a finished (or the latest checkpoint of an unfinished) training run.

    Args:
        run_dir: a training run folder.

    Returns:
        (the run's TrainConfig, its parameters as nested dicts of arrays, `checkpoints.checkpoint_params`).

    Raises:
        NotATrainingRun: for a folder without a run (`_run_config`); InputError when it has no saved step.
    """
    cfg = _run_config(run_dir)
    return cfg, checkpoint_params(run_dir, cfg)


def load_data(cfg: TrainConfig) -> tuple[data.PoseArrays, data.PoseArrays]:
    """(train, held-out) arrays of a run's data (`data.load_pose_arrays`).

    Args:
        cfg: the run's TrainConfig (data, data_root, image size, samples, seed, crop scale, protocol, options).

    Returns:
        (train, held-out) `PoseArrays`: synthetic and MPII (train, test); FLIC (train, validation movies); a
        `pose_sets` dataset (train, val). Images uint8 RGB [N, S, S, 3], points [N, K, 2] input pixels.
    """
    if cfg.datasets:  # several datasets on one skeleton, mixed by share (`pose.mixture`)
        parts = cfg.part_roots()
        train, held = mixture.load_parts(parts, pose_sets.dataset(cfg.data).skeleton, cfg.model.image_size,
                                         cfg.crop_scale)
        return mixture.concat(train, mixture.shares(parts)), mixture.concat(held)
    return data.load_pose_arrays(cfg.data, cfg.data_root, cfg.model.image_size, n_samples=cfg.n_samples, seed=cfg.seed,
                     crop_scale=cfg.crop_scale, protocol=cfg.protocol, options=cfg.data_options())


def read_metrics(run_dir: str | Path) -> dict | None:
    """A training run's metrics.json (`fix_old_record`ed).

    Args:
        run_dir: a training run folder.

    Returns:
        The record as a dict (module docstring), None without the file.

    Raises:
        InputError: a file that is not JSON (one line naming it), or a record without a list of evaluations
            ("metrics.evals").
    """
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return None
    try:
        saved = fix_old_record("metrics", runinfo.read_run_record(path))  # NaN scores given back
    except (OSError, ValueError) as e:
        raise InputError(path, "metrics.json", "the training run's JSON record", " ".join(str(e).split())) from None
    record = saved.get("metrics") if isinstance(saved, dict) else None
    if not isinstance(record, dict) or not isinstance(record.get("evals"), list):
        raise InputError(path, "metrics.evals", "the training run's list of evaluations")
    return saved


def _read_evals(run_dir: str | Path) -> list[dict]:
    """The evaluations in a training run's metrics.json (`metrics.evals`).

    Args:
        run_dir: a training run folder.

    Returns:
        One dict per evaluation (step, stage, loss, PCK of coarse and cascade); [] without the file.
    """
    saved = read_metrics(run_dir)
    return [] if saved is None else saved["metrics"]["evals"]


def pooled_joints(cfg: TrainConfig) -> tuple[np.ndarray | None, str]:
    """The joints a run's pooled held-out score ("<coarse|cascade>_pck@<a>") counts, and which they are in words.

    A PCKh run on the 16 MPII joints pools the MPII toolkit's 14 (pelvis and thorax left out,
    `metrics.pckh_pooled_joints`), as `convcorr eval pckh` and `convcorr eval mpii` do; every other run (FLIC, LSP,
    COCO-format, mixtures, synthetic people) all its joints.

    Args:
        cfg: the run's TrainConfig (its data kind and model.num_joints).

    Returns:
        (bool [K] of the joints pooled, text) for such a run, else (None, ""): every joint.
    """
    if data.headline(cfg.data)[0] != "PCKh":
        return None, ""
    pooled, about = metrics.pckh_pooled_joints(cfg.dataset().skeleton.name, cfg.model.num_joints)
    return (pooled, about) if about else (None, "")


def metrics_record(cfg: TrainConfig, evals: list[dict], seconds: float, finished: bool,
                   start: dict | None = None) -> dict:
    """metrics.json of a training run in the runner's schema (see the module docstring).

    Args:
        cfg: the run's TrainConfig (its settings form the record's key).
        evals: one dict per evaluation so far (the last one gives the summary).
        seconds: the run's wall time.
        finished: the run has ended (status "ok", else "running").
        start: what the run started from when not `model.init`'s draw: {"init_from", "params_sha256"}
            (`checkpoints.start_params`); None: nothing recorded.

    Returns:
        The JSON-ready record (`runinfo.metrics_record`): "metrics" {"evals", "pck_about"} (+ "start").
    """
    score, alpha = data.headline(cfg.data)
    pooled = pooled_joints(cfg)[1]  # MPII PCKh: the toolkit's 14 joints, as eval pckh
    last = evals[-1] if evals else None
    summary = (f"{cfg.name}: step {last['step']} of {cfg.total_steps}, {score}@{alpha:g} coarse "
               f"{last[f'coarse_pck@{alpha:g}']:.1f} cascade {last[f'cascade_pck@{alpha:g}']:.1f}"
               + (f"; pooled over {pooled}" if pooled else "") if last else f"{cfg.name}: no evaluation yet")
    alphas = sorted({float(k.split("@")[1]) for k in last if "_pck@" in k}) if last else []
    norm = "head segment" if score == "PCKh" else "the skeleton's normaliser" if cfg.data in pose_sets.LOADERS \
        else "torso"
    about = runinfo.score_about(norm, alphas, "percent", per_joint=f"at alpha {alpha:g}",
                                **({"pooled": pooled} if pooled else {}))  # each evaluation's PCK (loop.evaluate)
    return runinfo.metrics_record(cache.key(METRICS_KIND, dataclasses.asdict(cfg), code_version()), finished, seconds,
                                  summary, "", {"evals": evals, "pck_about": about,
                                                **({"start": start} if start else {})})


def _spatial_points(cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, visible, torso) of the people a run on real data trains on, in the pixels of its inputs.

    The people of `SPATIAL_SPLIT` of cfg.data_root: `person_crops.person_crops` under the run's protocol (FLIC's:
    `data.flic_crops`), the crops training reads (cached), in person crops or letterboxed frames.

    Args:
        cfg: the run's TrainConfig (data one of `SPATIAL_DATA`, data_root set).

    Returns:
        (points [N, K, 2] (x, y) input pixels, visible bool [N, K], torso [N, 2] each torso box's (FLIC) or person
        box's centre, input pixels).

    Raises:
        InputError: cfg is not such a run with a data_root.
    """
    if cfg.data not in SPATIAL_DATA or not cfg.data_root:
        raise InputError("config", "data / data_root", f"a run on {SPATIAL_DATA} with its folder (data_root) to "
                         "learn spatial priors from", f"{cfg.data} / {cfg.data_root}")
    crops = person_crops.person_crops(cfg.data, cfg.data_root, SPATIAL_SPLIT, cfg.model.image_size, cfg.crop_scale,
                                      protocol=cfg.protocol, **cfg.data_options())
    return np.asarray(crops.arrays.points), np.asarray(crops.arrays.visible), np.asarray(crops.torso)


def spatial_config(cfg: TrainConfig) -> spatial.SpatialConfig:
    """The spatial model saved with a run: `spatial.FLIC_VALIDATED`'s settings over the tree of the run's skeleton
    (FLIC's own tree for FLIC runs, so FLIC's model is the validated one unchanged).

    Args:
        cfg: the run's TrainConfig.

    Returns:
        the SpatialConfig.
    """
    return spatial.for_skeleton(person_crops.dataset_skeleton(cfg.data, cfg.data_root, **cfg.data_options()))


def learn_spatial(cfg: TrainConfig, config: spatial.SpatialConfig = spatial.FLIC_VALIDATED) -> np.ndarray:
    """Log-priors [E, k, k] of a FLIC run's spatial model (also a `SPATIAL_DATA` run's).

    `spatial.learn_priors` of `_spatial_points(cfg)` on the run's heat-map grid (stride model.pool, model.map_size
    cells).

    Args:
        cfg: the run's TrainConfig (as `_spatial_points`).
        config: the spatial model's settings and tree (E edges, kernel side k).

    Returns:
        float32 [E, k, k] log-priors over child - parent offsets in heat-map cells.

    Raises:
        InputError: as `_spatial_points`.
    """
    pts, vis, torso = _spatial_points(cfg)
    return spatial.learn_priors(pts, vis, torso, cfg.model.pool, config, cfg.model.map_size)


def write_spatial(run_dir: str | Path, cfg: TrainConfig, config: spatial.SpatialConfig | None = None) -> np.ndarray:
    """Write a FLIC run's spatial model into its folder, atomically (`spatial.save_model`).

    spatial.json holds `config` and where the priors come from; spatial_priors.npy `learn_spatial(cfg, config)`.

    Args:
        run_dir: the run's folder.
        cfg: the run's TrainConfig (as `_spatial_points`).
        config: the spatial model's settings (None: `spatial_config(cfg)`).

    Returns:
        The log-priors, float32 [E, k, k].
    """
    config = config if config is not None else spatial_config(cfg)
    pts, vis, torso = _spatial_points(cfg)
    priors = spatial.learn_priors(pts, vis, torso, cfg.model.pool, config, cfg.model.map_size)  # = learn_spatial
    entry = cfg.dataset()
    about = {"learned_from": f"{entry.label or cfg.data} {SPATIAL_SPLIT} split ground truth"
             + (f" ({entry.train_about})" if entry.train_about else ""),
             "data_root": str(cfg.data_root), "people": int(len(pts)),
             "stride": int(cfg.model.pool), "map_size": int(cfg.model.map_size),
             "image_size": int(cfg.model.image_size), "protocol": cfg.protocol, "crop_scale": float(cfg.crop_scale)}
    spatial.save_model(run_dir, config, priors, about)
    return priors
