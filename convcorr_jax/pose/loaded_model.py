"""A trained pose model loaded for inference, and what every inference call shares.

    run = load("flic")            # a shipped model by name, a model folder or a `convcorr train pose` run folder
    run.config, run.names, run.readout, run.frames

`load` (cached in this process) reads a shipped model's files (`shipped.read`: parameters, spatial model, frame
statistics, skeleton and validated read-out, each file checked against its sha256), a model folder (the same files:
a run's own folder once it has trained, or an export, `shipped.read_folder`), or, for a run written before runs were
models, its config.json and the parameters of its last checkpoint (`run_folder.load_run`, cached per trained state)
with the joints of its dataset kind (`joints.joint_set`) and the spatial model saved beside them; a run without
model.json that has not finished its first stage (still in it, or stopped there) is refused: it is no model yet.
Nothing here reads a dataset or writes into the model's folder: what an older run lacks is made once by
`EXPORT_COMMAND`, which the errors say. `Poses` is what every estimation call returns (`estimation.estimate`).

What inference needs of the model's dataset kind is resolved here and kept with the model, never asked of the
dataset: its joints and their left/right flip (the model's own skeleton), and its crop geometry (`PoseModel.crop`,
`crop_geometry.crop_of`: torso boxes or person boxes). A shipped model or a model folder imports no dataset module;
a run folder written before runs were models imports the training modules (`run_folder`) it is read with.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, cast

import jax
import numpy as np

from convcorr_jax.core import cache, crop_geometry, geometry
from convcorr_jax.core.deprecation import renamed
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import predict
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import shipped
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_jax.pose.training.config import TrainConfig

# the shipped models `estimate` and `convcorr pose` use unless told otherwise (`default_model`): `person` for photos
# (person boxes or none; on FLIC test with person boxes it is ahead of `flic` at PCK@0.2, bench/RESULTS_pose.md),
# `flic` for FLIC's torso boxes, which only a torso-box model reads
DEFAULT_MODEL = "person"
TORSO_MODEL = "flic"
# whole frames in two passes: `flic_256` with its own whole-frame settings (a refining pass), past the paper's
# FLIC row on its protocol (bench/RESULTS_pose.md); `flic` reads torso boxes at a fifth of its time per crop
FRAME_MODEL = "flic_256"
# how a run written before runs were models gets what inference needs (made once from its data)
EXPORT_COMMAND = "python -m convcorr_train.ship_model --run RUN --root DATA --out MODEL_DIR"
BATCH = 8  # images per forward pass (the last batch padded): one compilation for any number of images
# the images `as_images` (so `estimate`, `estimate_frames`) take: one uint8 RGB image [H, W, 3], a list or tuple of
# them (any sizes) or an array [N, H, W, 3], numpy or JAX (a list spelled three ways: a list's type is invariant)
ImageInput = (np.ndarray | jax.Array | list[np.ndarray] | list[jax.Array] | list[np.ndarray | jax.Array]
              | tuple[np.ndarray | jax.Array, ...])


@dataclasses.dataclass(frozen=True)
class PoseModel:
    """A trained model loaded for `estimate` (`load`): a shipped model, a model folder or a run folder alike
    (`PoseRun`, its former name, still works for one release with a DeprecationWarning).

    path: the run or shipped model's folder; config: its TrainConfig; params: the cascade's parameters; names [K]
    and skeleton ((i, j) joint pairs) of its joints (the model's skeleton, else its dataset's: `joints.joint_set`);
    spatial, log_priors: its saved spatial model (SpatialConfig, [E, kh, kw]) or None (see `spatial_model`); name:
    the shipped model's name (None for a run folder); frames: a shipped model's frame statistics for
    `estimate_frames` (`shipped.FrameStatistics`) or None; readout: the read-out chosen on the model's validation
    split (`pose.readout`, readout.json) or None; flip [K]: each joint's left/right mirror partner (the skeleton's
    `flip`; None: unknown, no test-time flip); crop_saved: the crop geometry its model.json records, None for a
    run folder or an older model (then its data kind's, `crop`)."""

    path: Path
    config: TrainConfig
    params: Any
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    spatial: spatial_mrf.SpatialConfig | None = None
    log_priors: np.ndarray | None = None
    name: str | None = None
    frames: shipped.FrameStatistics | None = None
    readout: pose_readout.Readout | None = None
    flip: tuple[int, ...] | None = None
    crop_saved: crop_geometry.CropGeometry | None = None

    @property
    def crop(self) -> crop_geometry.CropGeometry:
        """How the model's people are cropped about a box: as its model.json records it, else
        (`crop_geometry.crop_of`) as its data kind's."""
        return self.crop_saved or crop_geometry.crop_of(self.config.data)

    @property
    def test_time(self) -> tuple[bool, tuple[float, ...]]:
        """(flip, crop scales): the model's own test-time settings (`Readout.flip`, `Readout.scales`), off and (1.0,)
        for a model without a read-out."""
        return (self.readout.flip, self.readout.scales) if self.readout is not None else (False, (1.0,))

    @property
    def torso_crops(self) -> bool:
        """The model reads person crops about torso boxes (FLIC's protocol "person"): a box it is given is a torso
        box, a person box is first narrowed to the torso inside it, whole frames are read in two passes."""
        return self.crop.torso and self.config.protocol == "person"


@dataclasses.dataclass(frozen=True)
class Poses:
    """Joints of P people (one per image, or one per box of a single image, `estimation.estimate`): points float32
    [P, K, 2] ((x, y) pixels of the person's input image), confidence float32 [P, K] (in [0, 1], module docstring),
    names [K], readout (the `predict` read-out used, e.g. "spatial_cascade"), spatial (whether the spatial model was
    applied), torso float32 [P, 2] (its conditioning point in image pixels: the box's or the image's centre);
    torso_boxes float32 [P, 4] or None: the torso boxes the crops were placed around, given or found inside person
    boxes (NaN rows: none); warn_below: the model's warning threshold on a person's mean confidence
    (`pose.readout.warning_threshold`, chosen on its validation split) or None."""

    points: np.ndarray
    confidence: np.ndarray
    names: tuple[str, ...]
    readout: str
    spatial: bool
    torso: np.ndarray
    torso_boxes: np.ndarray | None = None
    warn_below: float | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def warned(self) -> np.ndarray:
        """bool [P]: the people whose mean joint confidence is below `warn_below` (all False without one)."""
        if self.warn_below is None:
            return np.zeros(len(self), bool)
        return self.confidence.mean(-1) < self.warn_below

    def warning(self, i: int) -> str | None:
        """One line for person i when it is `warned`, else None."""
        mean = float(self.confidence[i].mean())  # person i alone: `as_dicts` asks for every person
        if self.warn_below is None or not mean < self.warn_below:
            return None
        return (f"low confidence: mean {mean:.2f} below {self.warn_below:.2f}, the "
                "model's threshold (chosen on its validation split); the person may be unlike its training people")

    def as_dicts(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per person: {"joints": [{"name", "x", "y", "confidence"}, ...], "mean_confidence",
        "warning" (`warning`: a line, or None)}, with "torso_box" [4] where the crops had one."""
        out = []
        for i, (pts, conf) in enumerate(zip(self.points, self.confidence)):
            d: dict[str, Any] = {"joints": [{"name": n, "x": float(p[0]), "y": float(p[1]), "confidence": float(c)}
                                            for n, p, c in zip(self.names, pts, conf)],
                                 "mean_confidence": float(conf.mean()), "warning": self.warning(i)}
            if self.torso_boxes is not None and np.all(np.isfinite(self.torso_boxes[i])):
                d["torso_box"] = [float(v) for v in self.torso_boxes[i]]
            out.append(d)
        return out


@functools.lru_cache(maxsize=4)
def _load(path: str, state: str) -> PoseModel:
    del state  # part of the cache key only (`run_folder.run_state`: settings and checkpoint steps)
    # checkpoints (orbax): only for runs written before runs were models
    from convcorr_jax.pose.training import run_folder

    from convcorr_jax.pose import joints  # the dataset registry: such a run keeps no skeleton of its own

    tc, params = run_folder.load_run(path)
    js = joints.joint_set(tc.data, tc.model.num_joints)
    return PoseModel(Path(path), tc, params, tuple(js.names), tuple(js.edges), flip=js.flip)


@functools.lru_cache(maxsize=4)
def _saved_spatial(path: str, stamp: tuple) -> tuple[spatial_mrf.SpatialConfig, np.ndarray] | None:
    del stamp  # part of the cache key only (the files' sizes and modification times)
    return spatial_mrf.load_spatial_model(path)


def _stamp(path: Path, rels: tuple[str, ...] = (spatial_mrf.CONFIG_FILE, spatial_mrf.PRIORS_FILE)) -> tuple:
    """(size, mtime_ns) of each file `rels` under `path` (`cache.file_stamp`; None where absent): a cache key that
    changes when any of them is replaced."""
    return tuple(cache.file_stamp(path / rel) for rel in rels)


def _from_model(m: shipped.ShippedModel, name: str | None) -> PoseModel:
    """The PoseModel of a read model folder: its own skeleton (else, a folder written before models kept theirs, its
    dataset kind's built-in joint set)."""
    js = m.skeleton
    if js is None:
        from convcorr_jax.pose import joints  # the dataset registry: only for a model without its skeleton

        js = joints.joint_set(m.config.data, m.config.model.num_joints)
    cfg, priors = m.spatial if m.spatial is not None else (None, None)
    links = cast(tuple[tuple[int, int], ...], tuple(tuple(e) for e in js.links))  # `Skeleton.links`: (i, j) pairs
    return PoseModel(m.path, m.config, m.params, tuple(js.names), links, cfg, priors, name, m.frames, m.readout,
                     js.flip, m.crop)


@functools.lru_cache(maxsize=4)
def _shipped(name: str, stamp: tuple) -> PoseModel:
    del stamp  # part of the cache key only (`_stamp` of every file a model folder holds)
    return _from_model(shipped.read_folder(shipped.MODELS / name, shipped.describe(name), shapes=False), name)


@functools.lru_cache(maxsize=4)
def _model_folder(path: str, stamp: tuple) -> PoseModel:
    del stamp  # part of the cache key only (`_stamp` of every file a model folder holds)
    return _from_model(shipped.read_folder(path), None)


def default_model(torso_boxes: bool = False, two_pass: bool = False) -> str:
    """The shipped model used when none is named: `FRAME_MODEL` for whole frames in two passes, `TORSO_MODEL` for
    torso boxes (FLIC's protocol), else `DEFAULT_MODEL`.

    Args:
        torso_boxes: the boxes given are torso boxes (`estimate(torso_boxes=...)`, `--torso-box`).
        two_pass: whole frames in two passes.

    Returns:
        The model's name.
    """
    return FRAME_MODEL if two_pass else TORSO_MODEL if torso_boxes else DEFAULT_MODEL


def _not_a_folder(path: Path) -> InputError:
    """The one-line error for a model given as a file: what a model is, and the file's folder where that folder is
    a model or run folder (model.json or config.json beside the file)."""
    holder = path.parent if any((path.parent / f).is_file() for f in (shipped.MODEL_FILE, "config.json")) else None
    return InputError(path, "model", "a model folder (model.json + params.npz) or a `convcorr train pose` run folder "
                      "(config.json + checkpoints/)",
                      "a file" + (f": give its folder {holder}" if holder is not None else ""))


def load(model: str | os.PathLike | PoseModel = DEFAULT_MODEL) -> PoseModel:
    """The trained model (module docstring).

    A model folder is read once per process and version of its files (each one's size and modification time), a
    run's parameters once per trained state (`run_folder.run_state`), its spatial files once per version.

    Args:
        model: a shipped model's name (`shipped.names()`; a run folder of the same name is given as a path,
            "./flic"), a model folder, a run folder, or a PoseModel (returned as it is).

    Returns:
        The PoseModel: config, parameters, joint names [K] and skeleton edges, and what the model has of spatial
        model, frame statistics and validated read-out.

    Raises:
        InputError: one line: naming the shipped models for a name that is neither one nor an existing folder;
            `run_folder.NotATrainingRun` for a folder without a run; naming the file (and its folder where that
            is a model or run folder) for a file given as the model; naming model.json and the folder for a model
            folder without its model.json (params.npz alone); naming the file of a damaged shipped model; naming
            the run and its saved step for a run folder without model.json that has not finished its first stage
            (a run still in it, or stopped there: no read-out was chosen for any of its parameters).
    """
    if isinstance(model, PoseModel):
        return model
    if shipped.is_name(model):
        return _shipped(model, _stamp(shipped.MODELS / model, shipped.MODEL_FOLDER.names))
    path = Path(model).resolve()
    if not path.exists():
        raise shipped.unknown(model)
    if not path.is_dir():  # model.json, params.npz or a run's config.json given for the folder that holds it
        raise _not_a_folder(path)
    if (path / shipped.MODEL_FILE).is_file():  # a model folder: an export, or a run that wrote its model files
        return _model_folder(str(path), _stamp(path, shipped.MODEL_FOLDER.names))
    # checkpoints (orbax): only for runs written before runs were models
    from convcorr_jax.pose.training import run_folder

    try:
        base = _load(str(path), run_folder.run_state(path))
    except run_folder.NotATrainingRun:
        if (path / shipped.PARAMS_FILE).is_file():  # a model folder copied without its record (half a copy)
            raise InputError(path, shipped.MODEL_FILE, f"the model folder's record beside its {shipped.PARAMS_FILE}"
                             " (copy the whole folder)", "no such file: a model folder copied in part?") from None
        raise
    first, newest = base.config.steps[0], run_folder.saved_steps(path)[-1]
    if newest < first:  # no model yet: nothing evaluated, no read-out chosen (a run writes model.json at stage ends)
        raise InputError(path, shipped.MODEL_FILE, "a run that has finished its first stage", f"step {newest}",
                         message=f"the run has not finished its first stage (step {newest} of {first} saved): it "
                         f"has no model.json yet, which a run writes at each stage's end; train it on (rerun its "
                         f"command) and load it after step {first}")
    saved = _saved_spatial(str(path), _stamp(path))
    chosen = pose_readout.load_readout(path)
    base = base if chosen is None else dataclasses.replace(base, readout=chosen[0])
    return base if saved is None else dataclasses.replace(base, spatial=saved[0], log_priors=saved[1])


def spatial_model(run: PoseModel, required: bool = False) -> tuple[spatial_mrf.SpatialConfig, np.ndarray] | None:
    """(config, log-priors) of a run's saved spatial model.

    Nothing is read from a dataset or written into the model's folder.

    Args:
        run: the loaded model (`load`).
        required: raise for a run without a spatial tree instead of returning None.

    Returns:
        (SpatialConfig, log-priors [E, kh, kw]) as saved with the model, or None for a run whose joints the
        spatial tree does not cover (not FLIC's 11) when not `required`.

    Raises:
        InputError: naming the export command (`EXPORT_COMMAND`, which learns it from the run's data once), for a
            run of a torso-box kind (FLIC's runs always keep their spatial model) without a saved model, and
            (required) for a run without a spatial tree.
    """
    if run.spatial is not None:
        assert run.log_priors is not None  # saved, and loaded, with its config
        return run.spatial, run.log_priors
    tc = run.config
    if not run.crop.torso:
        if required:
            raise InputError(run.path, "spatial", "a FLIC run (the spatial model's tree is FLIC's 11 joints); "
                             "spatial=False (convcorr pose: --spatial off) for this run", f"data={tc.data}")
        return None
    raise InputError(run.path / spatial_mrf.CONFIG_FILE, spatial_mrf.CONFIG_FILE,
                     f"the spatial model saved with the run (FLIC runs write it when trained); for a run trained "
                     f"before, export it once with its data: {EXPORT_COMMAND}; or spatial=False (--spatial off)",
                     "missing file")


def as_images(images: ImageInput, source: str = "as_images") -> list[np.ndarray]:
    """images as a list of uint8 RGB [H, W, 3] arrays.

    Args:
        images: one uint8 RGB [H, W, 3], a list or tuple of them (any sizes), or an array [N, H, W, 3] (numpy or
            JAX).
        source: the function that received `images`, for the error.

    Returns:
        N uint8 arrays [H, W, 3] (not copied where already numpy).

    Raises:
        InputError: no image, or one not uint8 [H, W, 3] with H, W >= 1 (one error naming the first bad one).
    """
    if not isinstance(images, (list, tuple)):  # one array (numpy, JAX, ...): [N, H, W, 3] or one image
        images = list(np.asarray(images)) if getattr(images, "ndim", None) == 4 else [images]
    if not images:
        raise InputError(source, "images", "at least one uint8 RGB image [H, W, 3]", "none")
    out = []
    for i, im in enumerate(images):
        a = np.asarray(im)
        check_shape(a, "H>=1 W>=1 3", source, f"images[{i}]", dtype="uint8", note="(a uint8 RGB image)")
        out.append(a)
    return out


def spatial_inputs_at(log_priors: np.ndarray, cfg: spatial_mrf.SpatialConfig, torso: np.ndarray, affine: np.ndarray,
                   pool: int) -> predict.SpatialInputs:
    """`predict.SpatialInputs` of the spatial model conditioned on torso points.

    Args:
        log_priors: [E, k, k] the spatial model's log-priors.
        cfg: its SpatialConfig.
        torso: [N, 2] (x, y) torso points in image pixels.
        affine: [N, 2, 3] image -> network input affines.
        pool: the coarse heat-map's stride in input pixels.

    Returns:
        `predict.SpatialInputs`(log_priors, torso float32 [N, 2] in heat-map cells (x, y) of stride pool, cfg).
    """
    torso_in = np.asarray(geometry.transform_points(np.asarray(torso)[:, None], affine), np.float32)[:, 0]
    return predict.SpatialInputs(log_priors, np.asarray(hmap.image_to_map(torso_in, pool), np.float32), cfg)


# former names, one release (`deprecation.renamed`: a DeprecationWarning on each use)
__getattr__ = renamed(__name__, {"PoseRun": PoseModel})

__all__ = ["BATCH", "DEFAULT_MODEL", "EXPORT_COMMAND", "FRAME_MODEL", "ImageInput", "PoseModel", "Poses",
           "TORSO_MODEL", "as_images", "default_model", "load", "spatial_inputs_at", "spatial_model"]
