"""The torso inside a person box, for models trained on FLIC person crops (Tompson et al.'s crops around the torso).

A person box is drawn around the whole visible person, as detectors and annotation tools draw it; FLIC's models
crop around the *torso* box (shoulders to hips). `find_torso_boxes` finds the torso inside each person box in one
pass of the model itself, then `estimate` crops around it exactly as training did:

    torso = find_torso_boxes(run.params, run.config.model, images, person_boxes, run.frames.ratio, "cascade", TORSO)
    poses = estimate(images, run, boxes=torso)   # [N, 4] torso boxes: what estimate(..., person_boxes=...) does

First pass (`_first_affines`): the square of `side` x the person box's longer side, centred on the box's centre
moved down by `shift` x its height, read at the model's input size with its validated read-out (spatial model off).
Torso box (`torso_from_points`): the tight box of the predicted shoulders and hips (`recrop.TORSO`'s joints),
scaled about its centre by the model's torso-box ratio (`recrop.box_ratio` of its training people, kept with its
frame statistics) x `scale`: the size of the torso boxes the model was trained around.
`PERSON_BOX` holds the settings chosen on FLIC's validation movies with person boxes made from each person's
labelled joints (`bench/pose_person_boxes.py`, bench/RESULTS_pose.md).
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import square_affines
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.pose import predict, recrop
from convcorr_jax.pose.model_config import ModelConfig

# chosen on FLIC's validation movies (bench/pose_person_boxes.py; the rule: the highest mean of elbow and wrist
# PCK@0.05 of the final estimate with the model's plain read-out, one crop)
PERSON_BOX = {"side": 1.0, "shift": 0.0, "scale": 0.8}
# how bench/pose_person_boxes.py draws a person box from a person's labelled joints: their tight box, each side
# moved out by this fraction of its longer side (detector boxes hold the whole head and some margin)
JOINTS_MARGIN = 0.15


def _check_settings(side: float, shift: float, scale: float) -> None:
    """InputError naming the first setting out of range: side > 0, |shift| < 1, scale > 0 (all finite).

    Args:
        side, shift, scale: the first pass's square and the torso box's scale (`PERSON_BOX`).

    Returns:
        None (the settings are valid).

    Raises:
        InputError: naming the first setting that is not finite or out of range.
    """
    for name, value, ok, expected in (("side", side, side > 0, "> 0"), ("shift", shift, abs(shift) < 1, "in (-1, 1)"),
                                      ("scale", scale, scale > 0, "> 0")):
        if not (np.isfinite(value) and ok):
            raise InputError("person_boxes", name, f"a finite number {expected}", value)


def _check_person_boxes(person_boxes, images: list[np.ndarray], source: str = "person_boxes") -> np.ndarray:
    """One person box per image, each checked by `geometry.check_box` (finite, x0 <= x1, y0 <= y1, overlapping its
    image; partly outside is fine).

    Args:
        person_boxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels, or N boxes of 4 numbers.
        images: the N images [H, W, 3] the boxes are drawn on.
        source: the function that received them (the error's source).

    Returns:
        float64 [N, 4]: the boxes.

    Raises:
        InputError: not one box per image, or naming person_boxes[i] and images[i] for the first bad box.
    """
    boxes = list(person_boxes)
    if len(boxes) != len(images):
        raise InputError(source, "person_boxes", f"one box per image ({len(images)})", len(boxes))
    return np.stack([geometry.check_box(b, im.shape[:2], source, f"person_boxes[{i}]", f"images[{i}]")
                     for i, (b, im) in enumerate(zip(boxes, images))]) if boxes else np.zeros((0, 4))


def _first_affines(person_boxes: np.ndarray, size: int, side: float, shift: float) -> np.ndarray:
    """Image -> first-pass input affines float64 [N, 2, 3].

    Args:
        person_boxes: [N, 4] (x0, y0, x1, y1, 0-based inclusive pixels).
        size: the model's input side (pixels).
        side: the square's side over each box's longer side (pixels, x1 - x0 + 1 or y1 - y0 + 1).
        shift: the square's centre is the box's centre + (0, shift x its height).

    Returns:
        float64 [N, 2, 3] image -> input pixels: the squares resized to size px.

    Raises:
        InputError: person_boxes not [N, 4].
    """
    check_shape(person_boxes, "N 4", "person_boxes", "person_boxes")
    b = np.asarray(person_boxes, np.float64)
    wh = b[:, 2:] - b[:, :2] + 1
    centres = (b[:, :2] + b[:, 2:]) / 2 + np.stack([np.zeros(len(b)), shift * wh[:, 1]], -1)
    return square_affines(centres, side * wh.max(-1), size)


def torso_from_points(points: np.ndarray, torso: tuple[int, ...], ratio: float, scale: float) -> np.ndarray:
    """Torso boxes float64 [N, 4]: the tight box of points[:, torso] scaled about its centre by ratio x scale.

    Args:
        points: [N, K, 2] (x, y) image pixels (non-finite points ignored).
        torso: the joints whose tight box is the torso (`recrop.TORSO`).
        ratio: the model's torso-box ratio (`recrop.box_ratio`: annotated torso boxes over their joints' boxes).
        scale: a further factor on the box's sides.

    Returns:
        float64 [N, 4] (x0, y0, x1, y1) inclusive pixels; each side (x1 - x0 + 1, y1 - y0 + 1), so its longer
        side too, is ratio x scale x the joints' box's.

    Raises:
        InputError: points not [N, K, 2], or a person with no finite torso joint.
    """
    box = recrop.torso_boxes(points, torso)  # checks points [N, K, 2]
    centre, half = (box[:, :2] + box[:, 2:]) / 2, (box[:, 2:] - box[:, :2] + 1) / 2 * (ratio * scale)
    return np.concatenate([centre - half + 0.5, centre + half - 0.5], -1)


def find_torso_boxes(params: dict, cfg: ModelConfig, images: list[np.ndarray], person_boxes: np.ndarray, ratio: float,
                     readout: str, torso: tuple[int, ...], side: float = PERSON_BOX["side"],
                     shift: float = PERSON_BOX["shift"], scale: float = PERSON_BOX["scale"],
                     batch: int = 8) -> np.ndarray:
    """The torso box float64 [N, 4] inside each person box (module docstring).

    Args:
        params, cfg: a FLIC person-crop model's parameters and `ModelConfig`.
        images: N uint8 RGB images [H, W, 3] (any sizes).
        person_boxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels, one around each image's person.
        ratio: the model's torso-box ratio (`shipped.FrameStatistics.ratio`).
        readout: the `predict` read-out of the first pass (without the spatial model).
        torso: the joints whose tight box is the torso (`recrop.TORSO`).
        side, shift, scale: the first pass's square and the torso box's scale (`PERSON_BOX`).

    Returns:
        [N, 4] torso boxes in image pixels, to crop around as training did (`crop_geometry.flic_affines`).

    Raises:
        InputError: bad settings, or a person box that is not [4] finite numbers with x0 <= x1 and y0 <= y1
            overlapping its image (`_check_person_boxes`).
    """
    _check_settings(side, shift, scale)
    _check_person_boxes(person_boxes, images, "find_torso_boxes")
    affine = _first_affines(person_boxes, cfg.image_size, side, shift)
    crops = geometry.crop_each(images, affine, cfg.image_size, border="constant")
    first = predict.predict_crops(params, crops, cfg, batch=batch)[readout]
    return torso_from_points(predict.to_original(first, affine), torso, ratio, scale)


def boxes_from_joints(points: np.ndarray, margin: float = JOINTS_MARGIN) -> np.ndarray:
    """Person boxes float64 [N, 4] drawn from labelled joints [N, K, 2] (NaN: unlabelled) as a detector would draw
    them: the joints' tight box, each side moved out by margin x its longer side.

    Args:
        points: [N, K, 2] (x, y) image pixels, NaN where unlabelled.
        margin: each side moves out by this fraction of the tight box's longer side (x1 - x0 or y1 - y0).

    Returns:
        float64 [N, 4] (x0, y0, x1, y1) pixels (not clipped to the image).

    Raises:
        InputError: points not [N, K, 2].

    >>> boxes_from_joints(np.array([[[10.0, 20.0], [30.0, 120.0], [np.nan, np.nan]]]), margin=0.1).tolist()
    [[0.0, 10.0, 40.0, 130.0]]
    """
    check_shape(points, "N K 2", "boxes_from_joints", "points")
    box = geometry.points_box(np.asarray(points, np.float64))
    pad = margin * np.max(box[:, 2:] - box[:, :2], -1, keepdims=True)
    return np.concatenate([box[:, :2] - pad, box[:, 2:] + pad], -1)


__all__ = ["JOINTS_MARGIN", "PERSON_BOX", "boxes_from_joints", "find_torso_boxes", "torso_from_points"]
