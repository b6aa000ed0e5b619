"""Whole frames in two or more passes with a run trained on FLIC person crops (Tompson et al.'s protocol on one's
own frames).

    poses = estimate_frames(frames, torso=torso_points)   # frames: uint8 RGB, any size; the shipped model "flic_256"
    poses.points[i]   # [11, 2] (x, y) pixels of frame i

First pass: the whole frame letterboxed in an `input_size` px input (the crop-trained model is convolutional, so
the same weights read it) and the spatial model, conditioned on a torso point (the person's torso centre, as FLIC
labels it; default the frame's centre), picks the person. Second pass: the person cropped again around the
shoulders and hips the first pass predicted (the training crop of `second_pass` x the run's crop scale around that
box, times the median ratio of the annotated torso boxes to the torso joints' boxes, `recrop.box_ratio`), predicted
by the run's own model at its input size. With `refine` > 0, each further pass crops again about the shoulders and
hips of the pass before (at `refine_scales`); the last pass reads with test-time flip and crop `scales`
(`pose.flip`, `pose.scales`). The first pass's torso is off by a median 0.15 torso box on FLIC's validation movies
(more for large people, whom a fixed letterbox shows bigger than training did); a crop about the second pass's
torso recovers most of what crops about the annotated torso box score (bench/RESULTS_pose.md).

The spatial model's priors for the frame input and the ratio come from the ground truth of the FLIC split the run
trained on (`run_folder.SPATIAL_SPLIT` of its `data_root`, `export.model_folder.train_statistics`), learned when the
run is exported and kept with the model (`shipped.FrameStatistics`), so that no dataset is read, nor its reader
imported, at inference. `FRAME_TEST_TIME` holds the settings chosen on FLIC's validation movies for the 128 px `flic`
(`flic_sweep --grid frames`, bench/RESULTS_pose.md); a model may keep its own second_pass, refine and
refine_scales, chosen on its validation split (`shipped.FrameStatistics.settings`: `flic_256` reads frames in three
passes, bench/pose_frames_diagnosis.py).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

from convcorr_jax.core import crop_geometry, geometry
from convcorr_jax.core.deprecation import renamed
from convcorr_jax.core.errors import InputError, check_shape, is_real
from convcorr_jax.pose import person_boxes, predict
from convcorr_jax.pose.recrop import TORSO
from convcorr_jax.pose.shipped import FRAME_SETTINGS, MODEL_FILE
from convcorr_jax.pose import scales as pose_scales
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_jax.pose.model import ModelConfig
from convcorr_jax.pose.loaded_model import (BATCH, FRAME_MODEL, EXPORT_COMMAND, ImageInput, PoseModel, Poses, as_images,
                                            load, spatial_inputs_at, spatial_model)


# the test-time settings of whole frames (`estimate_frames`' defaults; not a read-out, `pose.readout`, which says
# which prediction a model reports): FRAME_READOUT before, as FRAME_TEST_TIME_CROP was FRAME_READOUT_CROP
FRAME_TEST_TIME: dict[str, Any] = {"input_size": 288, "unary_power": 2.0, "second_pass": 0.9, "flip": True,
                                   "scales": (0.7, 0.8, 0.9, 1.0, 1.1, 1.2), "merge": "median", "refine": 0,
                                   "refine_scales": (1.0,)}
FRAME_TEST_TIME_CROP = 128  # the crop side FRAME_TEST_TIME's input_size was chosen for (`flic`'s)


def frame_input_size(model: ModelConfig) -> int:
    """`FRAME_TEST_TIME`'s whole-frame input side scaled by a model's crop side over `FRAME_TEST_TIME_CROP`.

    So that people keep the scale the model trained on.

    Args:
        model: the crop model's ModelConfig (image_size, size_multiple).

    Returns:
        The side in pixels, a positive multiple of the model's input-size rule (288 for 128 px crops, 576 for 256 px).
    """
    unit = model.size_multiple
    return unit * max(1, round(FRAME_TEST_TIME["input_size"] * model.image_size / FRAME_TEST_TIME_CROP / unit))


def _torso_points(torso, sizes: Sequence[tuple[int, int]]) -> np.ndarray:
    """Torso points [N, 2] float64: given ([N, 2] or one [2]), each finite and inside its frame
    (`geometry.check_point`), or each frame's centre."""
    if torso is None:
        return np.array([[(w - 1) / 2, (h - 1) / 2] for h, w in sizes], np.float64)
    try:
        t = np.asarray(torso, np.float64)
    except (TypeError, ValueError):  # ragged, None entries, text
        raise InputError("estimate_frames", "torso", f"[{len(sizes)}, 2] numbers (x, y): one point per frame",
                         str(torso)) from None
    t = t if t.ndim else np.zeros(0)
    t = t[None] if t.shape == (2,) else t
    check_shape(t, "N 2", "estimate_frames", "torso", {"N": len(sizes)}, note="(x, y): one point per frame")
    return np.stack([geometry.check_point(p, size, "estimate_frames", f"torso[{i}]", f"images[{i}]")
                     for i, (p, size) in enumerate(zip(t, sizes))])


def frame_statistics(r: PoseModel, input_size: int, config: spatial_mrf.SpatialConfig) -> tuple[np.ndarray, float]:
    """(log-priors, torso-box ratio) for `estimate_frames` with model `r` at input_size px. No dataset is read here.

    They are the model's own, learned when it was exported (`export.model_folder.train_statistics` of its FLIC training
    split).

    Args:
        r: a loaded model (`PoseModel`).
        input_size: the first pass's input side, pixels.
        config: the spatial model's settings the statistics must fit (`FrameStatistics.fits`).

    Returns:
        (float32 [E, k, k] log-priors, the ratio as a float).

    Raises:
        InputError: naming the export command for a model without statistics for these settings.
    """
    pool = r.config.model.pool
    if r.frames is not None and r.frames.fits(input_size, pool, config):
        return r.frames.log_priors, r.frames.ratio
    kept = "none" if r.frames is None else f"statistics for input_size {r.frames.input_size}"
    raise InputError(r.path, "frame statistics", f"the statistics of whole frames at input_size {input_size} (made "
                     f"once from the run's FLIC folder: {EXPORT_COMMAND})", kept)


def _frame_inputs(images, model, torso, input_size: int | None, unary_power: float):
    """(loaded model, images, torso points [N, 2], input side, spatial config, frame log-priors), checked."""
    r = load(model)
    tc = r.config
    input_size = frame_input_size(tc.model) if input_size is None else input_size
    if not r.torso_crops:
        raise InputError(r.path, "config", "a FLIC run trained on person crops (convcorr train pose --config flic)",
                         f"data={tc.data}, protocol={tc.protocol}")
    if (not isinstance(input_size, (int, np.integer)) or isinstance(input_size, bool) or input_size <= 0
            or input_size % tc.model.pool):
        raise InputError("estimate_frames", "input_size", f"a positive multiple of the model's pool {tc.model.pool}",
                         input_size)
    imgs = as_images(images, "estimate_frames")
    points = _torso_points(torso, [im.shape[:2] for im in imgs])
    spatial = spatial_model(r, required=True)
    assert spatial is not None  # required: `spatial_model` raises instead of returning None
    config = dataclasses.replace(spatial[0], unary_power=float(unary_power))
    config.validate()
    priors, _ = frame_statistics(r, input_size, config)
    return r, imgs, points, int(input_size), config, priors


def _check_settings(second_pass, refine, refine_scales, *, source: str | os.PathLike = "estimate_frames",
                    prefix: str = "") -> tuple[float | None, int | None, tuple[float, ...] | None]:
    """(second_pass, refine, refine_scales) checked where given (None passes through); an InputError names `source`
    and the setting after `prefix` (model.json's "frame_statistics.settings.")."""
    if second_pass is not None and not (is_real(second_pass, finite=True) and second_pass > 0):
        raise InputError(source, prefix + "second_pass", "a finite crop scale factor > 0", second_pass)
    if refine is not None and (isinstance(refine, bool) or refine not in range(0, 4)):
        raise InputError(source, prefix + "refine", "0, 1, 2 or 3 further passes", refine)
    if refine_scales is not None:
        try:
            refine_scales = pose_scales.check_scales(refine_scales, "estimate_frames")
        except InputError as e:  # check_scales names its argument "scales"
            raise InputError(source, prefix + "refine_scales", e.expected, e.got) from None
    return (None if second_pass is None else float(second_pass), None if refine is None else int(refine),
            refine_scales)


def frame_settings(own: dict | None) -> dict:
    """A model's whole-frame settings: `FRAME_TEST_TIME`'s second_pass, refine and refine_scales, with its own
    (`shipped.FrameStatistics.settings`, model.json's frame_statistics.settings) in their place where it has them.

    Args:
        own: the model's own settings (keys among `shipped.FRAME_SETTINGS`), or None / {}.

    Returns:
        {"second_pass", "refine", "refine_scales"}: the values `estimate_frames` uses when the caller gives none.
    """
    return {**{k: FRAME_TEST_TIME[k] for k in FRAME_SETTINGS}, **(own or {})}


def _own_settings(r: PoseModel, given: tuple) -> tuple[float, int, tuple[float, ...]]:
    """`given` (second_pass, refine, refine_scales, checked by `_check_settings`), each None replaced by the model's
    own, else FRAME_TEST_TIME's; a null or bad value of the model's is an InputError naming its model.json."""
    assert r.frames is not None  # `frame_statistics` refused a model without them
    own = frame_settings(r.frames.settings)
    source = Path(r.path) / MODEL_FILE
    second_pass, refine, refine_scales = _check_settings(*(own[k] if v is None else v
                                                           for k, v in zip(FRAME_SETTINGS, given)),
                                                         source=source, prefix="frame_statistics.settings.")
    if second_pass is None or refine is None or refine_scales is None:  # a null in model.json's settings
        raise InputError(source, "frame_statistics.settings", f"a value for each of {list(FRAME_SETTINGS)} it holds",
                         r.frames.settings)
    return second_pass, refine, refine_scales


def _first_pass(r: PoseModel, imgs: list[np.ndarray], points: np.ndarray, input_size: int,
                config: spatial_mrf.SpatialConfig, priors: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The first pass: (points float64 [N, K, 2] in frame-input pixels, image -> frame-input affines [N, 2, 3])."""
    frame_model = dataclasses.replace(r.config.model, image_size=input_size)
    sizes = np.array([[im.shape[1], im.shape[0]] for im in imgs], np.float64)
    frame_affine = crop_geometry.frame_affines(sizes, input_size)
    frames = geometry.crop_each(imgs, frame_affine, input_size, border="constant")
    sp = spatial_inputs_at(priors, config, points, frame_affine, r.config.model.pool)
    first = predict.predict_crops(r.params, frames, frame_model, batch=batch, spatial=sp)["spatial_cascade"]
    return np.asarray(first, np.float64), frame_affine


def first_pass(images: ImageInput, model: str | os.PathLike | PoseModel = FRAME_MODEL,
               torso: npt.ArrayLike | None = None, input_size: int | None = None,
               unary_power: float = FRAME_TEST_TIME["unary_power"], batch: int = BATCH) -> np.ndarray:
    """The first pass of `estimate_frames` alone: each whole frame letterboxed, the spatial model conditioned on its
    torso point.

    Args:
        images, model, torso, input_size, unary_power, batch: as `estimate_frames`.

    Returns:
        float64 [N, K, 2] (x, y) points in each frame's pixels (the cascade with the spatial model).

    Raises:
        InputError: as `estimate_frames`.
    """
    predict.check_batch(batch, "first_pass")
    r, imgs, points, input_size, config, priors = _frame_inputs(images, model, torso, input_size, unary_power)
    first, frame_affine = _first_pass(r, imgs, points, input_size, config, priors, batch)
    return predict.to_original(first, frame_affine)


def estimate_frames(images: ImageInput, model: str | os.PathLike | PoseModel = FRAME_MODEL,
                    torso: npt.ArrayLike | None = None, input_size: int | None = None,
                    unary_power: float = FRAME_TEST_TIME["unary_power"],
                    second_pass: float | None = None, flip: bool = FRAME_TEST_TIME["flip"],
                    scales: Sequence[float] = FRAME_TEST_TIME["scales"], merge: str = FRAME_TEST_TIME["merge"],
                    refine: int | None = None, refine_scales: Sequence[float] | None = None,
                    batch: int = BATCH) -> Poses:
    """Joints of the person in each whole frame, in two passes (module docstring).

    The defaults of unary_power, flip, scales and merge are `FRAME_TEST_TIME`'s; those of second_pass, refine and
    refine_scales (None) the model's own (`shipped.FrameStatistics.settings`, chosen on its validation split), else
    `FRAME_TEST_TIME`'s.

    Args:
        images: a uint8 RGB frame [H, W, 3], a list of them (any sizes) or an array [N, H, W, 3].
        model: a shipped model's name (default `FRAME_MODEL`, "flic_256"), a FLIC run trained on person crops
            (`convcorr train pose --config flic`; `PoseModel.torso_crops`; its data_root must hold its FLIC folder,
            which the frame priors and torso ratio are learned from) or a loaded PoseModel (`frame_statistics`).
        torso: the person's torso point per frame [N, 2] (or one [2]) (x, y pixels; FLIC: its torso box's centre);
            None: the frames' centres.
        input_size: the first pass's input side (px, a multiple of the model's pool; None: `frame_input_size` of the
            model, FRAME_TEST_TIME's 288 for 128 px crops).
        unary_power: the spatial model's unary exponent (its other settings: the run's spatial config).
        second_pass: the second crop's scale relative to the run's crop scale (> 0).
        flip, scales: the last pass's test-time flip and crop scales (flip: the refining passes' too).
        merge: how the scales' points are merged, "mean" or "median" (`pose.scales.merge_scales`).
        refine: further passes between the first and the last (0, 1, 2 or 3; 0: two passes): each crops about the
            torso box of the pass before (at `refine_scales`) and places the next box on its shoulders and hips.
        refine_scales: the refining passes' crop scales.
        batch: images per forward pass, an integer >= 1.

    Returns:
        `Poses`: points float32 [N, 11, 2] (x, y) in each frame's pixels, confidence float32 [N, 11] (the mean over the
        second pass's scales of the coarse heat-map's peak), readout "two-pass " + the second pass's read-out (the
        model's validated one, `pose.readout`, else cascade), spatial True, torso float32 [N, 2] (the points the
        spatial model was conditioned on), torso_boxes float32 [N, 4]: the torso box each last-pass crop was
        placed around (the pass before's shoulders and hips, their tight box x the ratio x second_pass; the crop at
        scale s is the run's training crop of that box x s), and warn_below: the model's confidence threshold
        (readout.json, chosen on torso-box crops), applied to the second pass's mean confidence: on FLIC's
        validation movies with no torso point, the people above it score 90.5 and those below it 43.6 (mean of
        elbow and wrist PCK@0.2; bench/pose_no_box.py, bench/RESULTS_pose.md).

    Raises:
        InputError: a model that is not a FLIC person-crop run or has no frame statistics or spatial model, a bad
            input_size, second_pass, flip, scales, merge, refine, refine_scales, batch or torso (a point not finite or
            outside its frame).
    """
    given = _check_settings(second_pass, refine, refine_scales)
    predict.check_batch(batch, "estimate_frames")
    scales = pose_scales.check_scales(scales, "estimate_frames")
    pose_scales.check_merge(merge, "estimate_frames")
    if flip not in (True, False):
        raise InputError("estimate_frames", "flip", "True or False", flip)
    r, imgs, points, input_size, config, priors = _frame_inputs(images, model, torso, input_size, unary_power)
    second_pass, refine, refine_scales = _own_settings(r, given)
    ratio = r.frames.ratio
    first, frame_affine = _first_pass(r, imgs, points, int(input_size), config, priors, batch)

    name = r.readout.name if r.readout is not None else "cascade"  # the later passes: the model's validated read-out
    perm = r.flip if flip else None  # the run's skeleton's: FLIC's (the frame statistics are FLIC's)
    found = person_boxes.torso_from_points(predict.to_original(first, frame_affine), TORSO, ratio, second_pass)
    for _ in range(int(refine)):  # each further pass re-places the torso box on the last pass's shoulders and hips
        xy, _ = _crop_pass(r, imgs, found, refine_scales, perm, merge, name, frame_affine, batch)
        found = person_boxes.torso_from_points(predict.to_original(xy, frame_affine), TORSO, ratio, second_pass)
    xy, peaks = _crop_pass(r, imgs, found, scales, perm, merge, name, frame_affine, batch)
    return Poses(predict.to_original(xy, frame_affine).astype(np.float32), peaks, r.names, f"two-pass {name}", True,
                 points.astype(np.float32), found.astype(np.float32),
                 None if r.readout is None else r.readout.warn_below)


def _crop_pass(r: PoseModel, imgs: list[np.ndarray], boxes: np.ndarray, scales: Sequence[float], perm, merge: str,
               name: str, frame_affine: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass on crops about torso boxes [N, 4] (image pixels): the run's training crop of each box x s for s in
    scales, flipped with `perm` unless None; (read-out `name`'s points merged over the scales in frame-input pixels
    float32 [N, K, 2], the mean over the scales of the coarse peak float32 [N, K])."""
    size = r.config.model.image_size
    xy, peaks, affines = [], [], []
    for s in scales:
        affine = crop_geometry.flic_affines(boxes, size, r.config.crop_scale * s)
        crops = geometry.crop_each(imgs, affine, size, border="constant")
        preds = predict.predict_crops(r.params, crops, r.config.model, batch=batch, peaks=True, flip=perm)
        xy.append(preds[name])
        peaks.append(preds["peak"])
        affines.append(affine)
    return pose_scales.merge_scales(xy, affines, frame_affine, merge), np.mean(peaks, axis=0).astype(np.float32)


# former names, one release (`deprecation.renamed`: a DeprecationWarning on each use)
__getattr__ = renamed(__name__, {"FRAME_READOUT": "FRAME_TEST_TIME", "FRAME_READOUT_CROP": "FRAME_TEST_TIME_CROP"})

__all__ = ["FRAME_TEST_TIME", "FRAME_TEST_TIME_CROP", "estimate_frames", "first_pass", "frame_settings",
           "frame_input_size", "frame_statistics"]
