"""Joints of people in one's own images from a trained pose model (Tompson et al.'s cascade): a shipped model by
name (`pose.shipped`: "person", "flic", "flic_256") or a `convcorr train pose` run folder.

    poses = estimate(image)                                     # image: uint8 RGB [H, W, 3], any size; model "person"
    poses = estimate([img_a, img_b], "flic_256", person_boxes=[box_a, None])   # boxes around the whole person
    poses = estimate([img_a, img_b], "flic", torso_boxes=[torso_box_a, None])  # FLIC's torso boxes
    poses = estimate(team_photo, person_boxes=[box_a, box_b, box_c])   # several people in one photo: a row per box
    poses = estimate(frames, two_pass=True, torso=torso_points)                 # whole frames (`two_pass`)
    poses.warned[i]      # person i's mean confidence is below the model's threshold (`pose.readout`)
    poses.points[i]      # [K, 2] (x, y) in person i's image's pixels (0-based, pixel centres at integers)
    poses.confidence[i]  # [K] in [0, 1]: the coarse heat-map's value at the joint's cell
    poses.names          # the K joint names (FLIC: lsho lelb lwri rsho relb rwri lhip rhip leye reye nose)
    model = load("flic")                                        # the loaded model (cached), e.g. model.skeleton

The model (`loaded_model.load`, cached in this process, so repeated calls do not reload it) is a shipped model's files
(`shipped.read`: parameters, spatial model, frame statistics, skeleton and validated read-out, each file checked
against its sha256), a model folder (the same files: a run's own folder once it has trained, or an export,
`shipped.read_folder`), or, for a run written before runs were models, its config.json and the parameters of its
last checkpoint (`run_folder.load_run`, cached per trained state) with the joints of its dataset kind
(`joints.joint_set`) and the spatial model saved beside them. Inference never reads a dataset and never writes into
the model's folder: what an older run lacks is made once by `EXPORT_COMMAND`, which the error says.

The network's input, per image (the run's protocol, `pose.data.PROTOCOLS`), a square of the run's input size:
  no box            the whole image letterboxed: the square of its longer side centred on the image, black outside
                    (the "frame" protocol's input; "native" runs: at the image's own pixel scale when it fits
                    the input, `crop_geometry.frame_affines`). A run trained on person crops then treats the
                    whole image as the person's square: it works best on images that show one person about as the
                    training crops did (FLIC: the person's square is 2.5 x the torso box's longer side). For a
                    whole frame with no box, such a model does far better in two passes (`two_pass=True`, from the
                    frame's centre): on FLIC's validation movies elbow / wrist PCK@0.2 79.2 / 75.8 against 30.7 /
                    29.0 letterboxed and 58.4 / 52.3 with the whole image as the person box (bench/pose_no_box.py);
                    `convcorr pose` does that with no box.
  torso_boxes      (x0, y0, x1, y1, 0-based inclusive pixels) for a model trained on torso-box person crops
                    (FLIC's, `PoseModel.torso_crops`): the person's torso box, as FLIC labels it (shoulders to hips);
                    the input is the square of `crop_scale` x its longer side around its centre, exactly as training
                    and `convcorr eval flic` crop (`crop_geometry.flic_affines`). Other models refuse torso boxes.
  person_boxes      a box around the whole visible person, as detectors draw it: a torso-crop model first finds
                    the torso inside it (`pose.person_boxes`) and crops about that; other models (MPII, synthetic,
                    person) take the square of its longer side around its centre (`crop_geometry.box_affines`);
                    FLIC's whole-frame runs still letterbox the whole image (the box's centre: the torso point).
  boxes             deprecated (one release, a DeprecationWarning): torso_boxes for a torso-crop model, else
                    person_boxes, as it meant before the two had their own names.
The spatial model (FLIC runs) is conditioned on a torso point: the box's centre with a box (the torso box's
centre, as in training), else the image's centre (right for a person-crop run on an image of one centred person; a
guess for a whole scene, where `spatial=False` or a box is the better choice).

Every box and torso point given is checked where it enters (`geometry.check_box`, `geometry.check_point`): finite,
x0 <= x1 and y0 <= y1, overlapping its image (a box partly outside is fine: people are cut by the frame; a torso
point inside its frame); one InputError names the argument, the image and what was expected.

Read-out (`readout`, one of `predict.READOUTS`; default: the model's validated read-out, readout.json chosen on
its validation split by `pose.readout`'s rule, else "cascade", the fine model's refined arg-max), with the spatial
model its "spatial_" twin, mapped back to the image's pixels (`predict.to_original`).
Confidence: `predict`'s "peak" (or "spatial_peak"): the coarse heat-map's value at the cell the read-out starts
from, clipped to [0, 1]; the coarse model regresses Gaussians of peak 1 on each joint, so about 1 means a clearly
seen joint and about 0 none (occluded, outside the image, or another person's).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import warnings
from pathlib import Path
from typing import Sequence

import jax
import numpy as np
import numpy.typing as npt

from convcorr_jax.core import crop_geometry, geometry
from convcorr_jax.core.deprecation import renamed
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import person_boxes, predict, shipped
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.recrop import TORSO
from convcorr_jax.pose import scales as pose_scales
from convcorr_jax.pose.loaded_model import (BATCH, DEFAULT_MODEL, EXPORT_COMMAND, FRAME_MODEL, TORSO_MODEL, ImageInput,
                                            PoseModel, Poses, as_images, default_model, load, spatial_inputs_at,
                                            spatial_model)
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_jax.pose.two_pass import estimate_frames
# `estimate`'s test-time settings for FLIC person crops (torso boxes given; CROP_READOUT before): flip and crop scales
# chosen on FLIC's validation movies (`flic_sweep --grid readout`, the highest mean of elbow and wrist PCK@0.05;
# bench/RESULTS_pose.md)
CROP_TEST_TIME = {"flip": True, "scales": (0.7, 0.8, 0.9, 1.0, 1.1, 1.2), "merge": "median"}
# the boxes `estimate` takes (torso_boxes, person_boxes): one box (x0, y0, x1, y1) for one image (an array [4] or
# four numbers), one box or None (the whole image) per image, or P boxes (a list or an array [P, 4]) for one image
BoxInput = npt.ArrayLike | Sequence[npt.ArrayLike | None]


def _as_boxes(boxes, imgs: list[np.ndarray], name: str = "boxes"
              ) -> tuple[Sequence[np.ndarray | None], list[np.ndarray]]:
    """(one checked box per person, the image of each person): one box per image, or for ONE image any number of
    boxes, each a person of that image (the image once per box, a reference, not a copy).

    Boxes are checked by `geometry.check_box` (finite, x0 <= x1, y0 <= y1, overlapping the image); None entries:
    the whole image; a single box (an array [4] or four numbers) is one image's; InputError naming boxes[i] and
    images[i] otherwise."""
    n = len(imgs)
    if boxes is None:
        return [None] * n, imgs
    if getattr(boxes, "ndim", None) == 1 or (  # an array [4] (numpy, JAX, ...)
            isinstance(boxes, (list, tuple)) and boxes and all(isinstance(v, numbers.Real) for v in boxes)):
        boxes = [boxes]  # one box, an array [4] or a sequence of numbers: the one image's
    try:
        boxes = list(boxes)
    except TypeError:  # a number, None-like objects: not a sequence of boxes
        raise InputError("estimate", name, f"{n} boxes (a list, one per image, None for the whole image)",
                         boxes) from None
    if n == 1 and len(boxes) > 1:  # several people in one photo: one person per box
        imgs = imgs * len(boxes)
    elif len(boxes) != n:
        more = "; several people in one photo: give that one image with all its boxes" if len(boxes) > n else ""
        raise InputError("estimate", name, f"{n} boxes (one per image, None for the whole image{more})",
                         len(boxes))
    image = "images[0]" if n == 1 else "images[{}]"
    return [None if b is None else geometry.check_box(b, im.shape[:2], "estimate", f"{name}[{i}]", image.format(i))
            for i, (b, im) in enumerate(zip(boxes, imgs))], imgs


def _torso_inside(run: PoseModel, images: list[np.ndarray], boxes: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """The torso box [4] inside each person box of a FLIC person-crop model.

    `person_boxes.find_torso_boxes` with `person_boxes.PERSON_BOX` and the model's torso-box ratio, kept with its
    frame statistics.

    Args:
      run: the loaded FLIC person-crop model (its frame statistics are needed).
      images: N uint8 RGB images [H, W, 3] (any sizes).
      boxes: one person box per image, float [4] (x0, y0, x1, y1) 0-based inclusive pixels, or None: the whole
        image.

    Returns:
      N torso boxes, each [4] (x0, y0, x1, y1) in the image's pixels.

    Raises:
      InputError: a model without frame statistics (the message names `EXPORT_COMMAND`).
    """
    if run.frames is None:
        raise InputError(run.path, "frame statistics", f"the model's torso-box ratio (made once from its FLIC "
                         f"folder: {EXPORT_COMMAND})", "none")
    whole = [np.array([0.0, 0.0, im.shape[1] - 1.0, im.shape[0] - 1.0]) for im in images]
    person = np.stack([w if b is None else b for b, w in zip(boxes, whole)])
    name = run.readout.name if run.readout is not None else pose_readout.DEFAULT_NAME
    return list(person_boxes.find_torso_boxes(run.params, run.config.model, images, person, run.frames.ratio, name,
                                              TORSO))


def model_identity(model: str | os.PathLike | PoseModel = DEFAULT_MODEL) -> dict:
    """What identifies a model, for the record of what ran.

    Args:
      model: a shipped model's name, a model or run folder, or a `load`ed PoseModel.

    Returns:
      {"name": the shipped model's name, else model.json's "name", else the folder's name; "kind": "shipped",
      "model folder" or "run folder" (a run written before runs were models); "path": the folder; "digest":
      "sha256:<hex>"; "digest_of": what was hashed: params.npz as model.json records it (checked when the model
      was read; `sha256sum params.npz` gives it) for a shipped model or a model folder, else the parameters
      (each array's path and float32 bytes, in path order)}.

    Raises:
      InputError: as `load`.
    """
    r = load(model)
    record_file = Path(r.path) / shipped.MODEL_FILE
    if record_file.is_file():
        record = json.loads(record_file.read_text())
        return {"name": r.name or str(record.get("name") or Path(r.path).name),
                "kind": "shipped" if r.name else "model folder", "path": str(r.path),
                "digest": f"sha256:{record['files'][shipped.PARAMS_FILE]}",
                "digest_of": f"{shipped.PARAMS_FILE} (as {shipped.MODEL_FILE} records it)"}
    h = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(r.params), key=lambda x: jax.tree_util.keystr(x[0])):
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.ascontiguousarray(np.asarray(leaf), np.float32).tobytes())
    return {"name": Path(r.path).name, "kind": "run folder", "path": str(r.path), "digest": f"sha256:{h.hexdigest()}",
            "digest_of": "the parameters (each array's path and float32 bytes, in path order)"}


def _input_affines(cfg: TrainConfig, sizes: Sequence[tuple[int, int]], boxes: Sequence[np.ndarray | None],
                  scale: float = 1.0, crop: crop_geometry.CropGeometry | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(image -> network input affines [N, 2, 3], torso points [N, 2] in image pixels) under a run's protocol.

    Args:
      cfg: the run's config (data kind, whose crop geometry `crop_geometry.crop_of` gives; protocol, crop_scale,
        model.image_size).
      sizes: N image sizes (H, W).
      boxes: N boxes (module docstring), each float [4] (x0, y0, x1, y1) 0-based inclusive pixels, or None: the
        whole image.
      scale: each input square's side times this about its centre (a test-time crop scale; torso-box person crops:
        `crop_geometry.flic_affines` at scale x the run's crop_scale, as `convcorr eval flic --set test_scales=...`).
      crop: the model's crop geometry (`PoseModel.crop`: as its model.json records it); None: its data kind's
        (`crop_geometry.crop_of`).

    Returns:
      (affines float64 [N, 2, 3] image pixels -> input pixels; torso points float64 [N, 2] (x, y): each box's
      centre, else the image's centre).
    """
    size = cfg.model.image_size
    crop = crop_geometry.crop_of(cfg.data) if crop is None else crop
    affine, torso = [], []
    for (h, w), box in zip(sizes, boxes):
        frame_centre = np.array([(w - 1) / 2, (h - 1) / 2])
        point = frame_centre if box is None else (box[:2] + box[2:]) / 2
        if box is not None and (cfg.protocol == "person" or not crop.torso):  # training's and `eval flic`'s crops
            a = crop.affines(box[None], size, cfg.crop_scale, scale)[0]
        elif scale == 1.0:  # no box, or a whole-frame run: the whole image as `data.flic_sample_affines`
            a = crop_geometry.frame_affines(np.array([w, h]), size, native=cfg.protocol == "native")[0]
        else:  # the same square about the frame's centre, scale x its side
            side = max(max(w, h), size) if cfg.protocol == "native" else max(w, h)
            a = crop_geometry.square_affines(frame_centre[None], np.array([float(side) * scale]), size)[0]
        affine.append(a)
        torso.append(point)
    return np.stack(affine), np.stack(torso).astype(np.float64)


def _two_pass(images, model, batch: int, flip, scales, merge, torso, others: dict) -> Poses:
    """`estimate(..., two_pass=True)`: `two_pass.estimate_frames` with `FRAME_TEST_TIME` where flip, scales and
    merge are None; InputError naming the first of `others` (settings the two passes fix) that is given."""
    given = [k for k, v in others.items() if v is not None]
    if given:
        raise InputError("estimate", given[0], "whole frames with torso points only (two_pass=True: the two "
                         "passes' settings are FRAME_TEST_TIME's)", others[given[0]])
    settings = {k: v for k, v in (("flip", flip), ("scales", scales), ("merge", merge)) if v is not None}
    return estimate_frames(images, model, torso=torso, batch=batch, **settings)


def _check_settings(readout, spatial, scales, merge: str, flip) -> tuple[float, ...] | None:
    """`estimate`'s read-out settings checked (one InputError naming the argument); the scales as a tuple."""
    if readout is not None and readout not in predict.READOUTS:
        raise InputError("estimate", "readout", f"one of {list(predict.READOUTS)} or None (the model's)", readout)
    if spatial not in (None, True, False):
        raise InputError("estimate", "spatial", "None (the run's), True or False", spatial)
    scales = None if scales is None else pose_scales.check_scales(scales, "estimate")
    pose_scales.check_merge(merge, "estimate")
    if flip not in (None, True, False):
        raise InputError("estimate", "flip", "None (the model's), True or False", flip)
    return scales


def _box_argument(torso_boxes, person_boxes, boxes) -> tuple[str | None, object]:
    """(the name of the one box argument given, its value), or (None, None) for none; InputError for two."""
    given = [(k, v) for k, v in (("torso_boxes", torso_boxes), ("person_boxes", person_boxes), ("boxes", boxes))
             if v is not None]
    if len(given) > 1:
        raise InputError("estimate", given[1][0], "torso_boxes or person_boxes, not both (boxes: deprecated, one "
                         "of the two)", " and ".join(k for k, _ in given))
    return given[0] if given else (None, None)


def _box_meaning(r: PoseModel, name: str | None) -> str | None:
    """What the boxes given to `estimate` are for the model: "torso_boxes", "person_boxes" or None (none given).
    `boxes` (deprecated) warns and means torso boxes for a torso-crop model, else person boxes; torso_boxes for a
    model that reads no torso-box crops is an InputError."""
    if name == "torso_boxes" and not r.torso_crops:
        raise InputError("estimate", "torso_boxes", "a model trained on torso-box crops (FLIC's protocol); give "
                         "this model the person's box as person_boxes", f"the model {r.name or r.path}")
    if name != "boxes":
        return name
    meaning = "torso_boxes" if r.torso_crops else "person_boxes"
    kind = "a torso-crop model: its torso boxes" if r.torso_crops else "a model without torso crops: person boxes"
    warnings.warn(f"estimate(boxes=...) is deprecated and will be removed in the next release: for the model "
                  f"{r.name or r.path} ({kind}) it means {meaning}=...; pass {meaning}", DeprecationWarning,
                  stacklevel=3)
    return meaning


def estimate(images: ImageInput, model: str | os.PathLike | PoseModel | None = None, boxes: BoxInput | None = None,
             spatial: bool | None = None, readout: str | None = None, batch: int = BATCH, flip: bool | None = None,
             scales: Sequence[float] | None = None, merge: str | None = None, person_boxes: BoxInput | None = None,
             two_pass: bool = False, torso: npt.ArrayLike | None = None,
             torso_boxes: BoxInput | None = None) -> Poses:
    """Joints of the person in each image, or of each boxed person in one image, from a trained model (module
    docstring).

    The one call for photos, person crops (torso_boxes or person_boxes) and whole frames (two_pass). People: one
    per image (N images, N boxes or none), or, for ONE image (an array [H, W, 3] or a list / array of one) with
    P > 1 boxes, one per box, in the boxes' order (several people in one photo; the image is not copied).

    Args:
      images: a uint8 RGB image [H, W, 3], a list of them (any sizes) or an array [N, H, W, 3].
      model: a shipped model's name, a model folder, a `convcorr train pose` run folder (config.json +
        checkpoints/) or a `load`ed PoseModel; None: `default_model` (`flic` for torso boxes and for two passes,
        else `person`).
      boxes: deprecated (a DeprecationWarning; removed in the next release): torso_boxes for a model trained on
        torso-box crops (`PoseModel.torso_crops`), else person_boxes, as before the two had their own names.
      spatial: apply the run's spatial model (FLIC runs): None = as the model's validated read-out says, else when
        the run has one (FLIC runs); True = required, False = never.
      readout: one of `predict.READOUTS`; None = the model's validated read-out (`pose.readout`, chosen on its
        validation split), else "cascade".
      batch: images per forward pass, an integer >= 1 (the last batch padded).
      flip: test-time horizontal flip with the joint set's left/right joints swapped (`pose.flip`); None: the
        model's own (`Readout.flip`, off for a model without one; two_pass: `two_pass.FRAME_TEST_TIME`'s).
      scales: test-time crop scales: each input square scaled by s about its centre (`_input_affines`), every
        scale's points mapped back into the scale-1 input and merged (`pose.scales.merge_scales`), the confidence
        the mean of the scales' peaks; None: the model's own (`Readout.scales`, (1.0,) for a model without them;
        two_pass: `FRAME_TEST_TIME`'s). `CROP_TEST_TIME` holds the settings chosen for FLIC person crops.
      merge: "mean" or "median" (of x and of y over the scales); None: "mean".
      person_boxes: None, or one box around the whole visible person per image (None entries: the whole image; a
        single box, an array [4] or four numbers, for a single image), or P boxes (a list or an array [P, 4]) for
        one image, one per person in it, as detectors draw them: (x0, y0, x1, y1)
        0-based inclusive pixels, finite, x0 <= x1, y0 <= y1, overlapping the image (partly outside is fine).
        Torso-crop models find the torso inside it (`pose.person_boxes`, settings chosen on FLIC's validation
        movies) and crop around that as training did; other models take it as their box.
      two_pass: whole frames in two passes with a FLIC person-crop model, the paper's protocol
        (`two_pass.estimate_frames`, its settings `two_pass.FRAME_TEST_TIME` where flip, scales and merge are
        None). Boxes, readout and spatial are the two passes' own there.
      torso: with two_pass only: the person's torso point per frame [N, 2] (x, y pixels inside the frame; None:
        the frames' centres).
      torso_boxes: None, or the person's torso box per image (None entries: the whole image), or P torso boxes for
        one image (one per person), as FLIC labels it (shoulders to hips), checked as person_boxes; only for a
        model trained on torso-box crops (`PoseModel.torso_crops`: FLIC's), which crops about it exactly as
        training did.

    Returns:
      `Poses` of P people (P = N, one per image; one image with P boxes: one per box, in order): points float32
      [P, K, 2] (x, y) in each person's image's pixels, confidence float32 [P, K] in [0, 1], names [K], the torso
      points float32 [P, 2] and torso boxes float32 [P, 4] used (NaN rows: none), and `Poses.warned` [P]: the
      people below the model's confidence threshold.

    Raises:
      InputError: bad images, batch, readout, spatial, flip, scales or merge; a box not finite, inverted or wholly
        outside its image, or a torso point outside its frame (naming torso_boxes[i] / person_boxes[i] /
        boxes[i] / torso[i] and images[i]); N > 1 images and a different number of boxes; two of torso_boxes,
        person_boxes and boxes given; torso_boxes for a model without torso crops; torso without two_pass; a model
        that cannot be loaded or lacks a required spatial model.

    >>> photo = np.zeros((240, 320, 3), np.uint8)                        # no one there
    >>> poses = estimate(photo, "flic", person_boxes=[(60, 10, 260, 239)])
    >>> poses.points.shape, poses.names[:3], bool(poses.warned[0])
    ((1, 11, 2), ('lsho', 'lelb', 'lwri'), True)
    >>> estimate(photo, "flic", person_boxes=[(20, 10, 150, 239), (160, 10, 300, 239)]).points.shape  # two people
    (2, 11, 2)
    """
    predict.check_batch(batch, "estimate")
    if two_pass:
        model = default_model(two_pass=True) if model is None else model
        return _two_pass(images, model, batch, flip, scales, merge, torso,
                         {"torso_boxes": torso_boxes, "person_boxes": person_boxes, "boxes": boxes,
                          "readout": readout, "spatial": spatial})
    if torso is not None:
        raise InputError("estimate", "torso", "only with two_pass=True (torso_boxes or person_boxes give the "
                         "person)", "a torso point")
    name, given = _box_argument(torso_boxes, person_boxes, boxes)
    model = default_model(torso_boxes=name in ("torso_boxes", "boxes")) if model is None else model
    merge = "mean" if merge is None else merge
    scales = _check_settings(readout, spatial, scales, merge, flip)
    box_list, imgs = _as_boxes(given, as_images(images, "estimate"), name or "boxes")
    r = load(model)
    tc = r.config
    flip, scales = r.test_time[0] if flip is None else flip, r.test_time[1] if scales is None else scales
    if _box_meaning(r, name) == "person_boxes" and r.torso_crops:
        box_list = _torso_inside(r, imgs, box_list)
    if readout is None:
        readout = r.readout.name if r.readout is not None else pose_readout.DEFAULT_NAME
    if spatial is None and r.readout is not None:  # the validated read-out's, whichever read-out is asked for
        spatial = None if r.readout.spatial else False
    sp_model = None if spatial is False else spatial_model(r, required=spatial is True)
    sizes = [im.shape[:2] for im in imgs]
    if flip and r.flip is None:
        raise InputError(r.path, "flip", "a model whose skeleton gives its left/right joints", "none")
    perm = r.flip if flip else None
    key = pose_readout.prediction_key(readout, sp_model is not None)
    peak = "spatial_peak" if sp_model is not None else "peak"
    base, torso = _input_affines(tc, sizes, box_list, crop=r.crop)
    points, conf, affines = [], [], []
    for s in scales:
        affine = base if s == 1.0 else _input_affines(tc, sizes, box_list, s, r.crop)[0]
        crops = geometry.crop_each(imgs, affine, tc.model.image_size, border="constant")
        sp = None if sp_model is None else spatial_inputs_at(sp_model[1], sp_model[0], torso, affine, tc.model.pool)
        preds = predict.predict_crops(r.params, crops, tc.model, batch=batch, spatial=sp, peaks=True, flip=perm)
        points.append(preds[key])
        conf.append(preds[peak])
        affines.append(affine)
    xy = points[0] if scales == (1.0,) else pose_scales.merge_scales(points, affines, base, merge)
    used = np.array([np.full(4, np.nan) if b is None else b for b in box_list], np.float32)
    return Poses(predict.to_original(xy, base).astype(np.float32), np.mean(conf, axis=0).astype(np.float32),
                 r.names, key, sp_model is not None, torso.astype(np.float32), used,
                 None if r.readout is None else r.readout.warn_below)


# former names, one release (`deprecation.renamed`: a DeprecationWarning on each use)
__getattr__ = renamed(__name__, {"PoseRun": PoseModel, "CROP_READOUT": "CROP_TEST_TIME"})

__all__ = ["BATCH", "BoxInput", "CROP_TEST_TIME", "DEFAULT_MODEL", "FRAME_MODEL", "ImageInput", "PoseModel", "Poses",
           "TORSO_MODEL", "default_model", "estimate", "load", "model_identity", "spatial_inputs_at", "spatial_model"]
