"""A second pass of the pose cascade on whole frames: each person cropped again around the torso that a first pass
on the whole frame predicted, and scored by a model trained on person crops.

    torso = joints.FLIC.groups["Shoulder"] + joints.FLIC.groups["Hip"]
    first = predict.predict_crops(params, frames, frame_cfg, spatial=sp)["spatial_cascade"]   # frame input pixels
    ratio = recrop.box_ratio(train_torso_boxes, train_points, torso)                     # annotations of train
    affine = recrop.crop_affines(first, frame_affine, torso, 128, 2.5, ratio)            # image -> crop
    crops = pose.data.crop_images(samples, affine, 128)

The crop is a square centred on the tight box of the predicted torso joints (shoulders and hips), of side
scale x ratio x the box's longer side: `ratio` turns the joints' box into the size of the annotated torso boxes
the crop model was trained around (`box_ratio`, the median over training people), so the second pass sees people
at the scale it was trained on. Only the first pass's predictions place the crop; the frame's annotations never do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import flic_affines, person_square
from convcorr_jax.data import skeletons
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError, check, check_shape


def _torso_joints(skeleton: Skeleton) -> tuple[int, ...]:
    """The joints that place the second-pass crop: the skeleton's "Shoulder" and "Hip" groups where it has both,
    else its torso ends, else every joint.

    Args:
        skeleton: the run's skeleton.

    Returns:
        joint ids.
    """
    g = skeleton.groups
    if "Shoulder" in g and "Hip" in g:
        return tuple(g["Shoulder"]) + tuple(g["Hip"])
    return tuple(skeleton.torso) if skeleton.torso is not None else tuple(range(skeleton.num_joints))


TORSO = _torso_joints(skeletons.FLIC)  # FLIC's: the shoulders and hips


def torso_boxes(points: np.ndarray, torso: Sequence[int]) -> np.ndarray:
    """Tight boxes float64 [N, 4] (x0, y0, x1, y1) of points[:, torso].

    Args:
        points: [N, K, 2] (x, y) pixels; non-finite points are ignored.
        torso: the joint ids whose box is taken (`TORSO`, `_torso_joints`).

    Returns:
        float64 [N, 4] (x0, y0, x1, y1) pixels, the extreme torso joints on the box.

    Raises:
        InputError: points not [N, K, 2], or a person with no finite torso joint.
    """
    check_shape(points, "N K 2", "recrop", "points")
    p = np.asarray(points, np.float64)
    box = geometry.points_box(p[:, list(torso)])
    if not np.all(np.isfinite(box)):
        raise InputError("recrop", "points", "at least one finite torso joint per person",
                         f"{int(np.sum(~np.all(np.isfinite(box), -1)))} people without")
    return box


def box_ratio(boxes: np.ndarray, points: np.ndarray, torso: Sequence[int]) -> float:
    """Median over people of (annotated box's longer side) / (longer side of the annotated torso joints' tight box).

    Sides are inclusive pixel extents (x1 - x0 + 1, as `crop_geometry.person_square` takes them).

    Args:
        boxes: [N, 4] (x0, y0, x1, y1) annotated torso boxes, 0-based inclusive pixels.
        points: [N, K, 2] (x, y) annotated joints, pixels.
        torso: the joint ids of the torso (`TORSO`).

    Returns:
        The ratio, a float (the `ratio` of `crop_affines`).

    Raises:
        InputError: not one box per person, no people, or a person with no finite torso joint.
    """
    jb = torso_boxes(points, torso)
    check_shape(boxes, "N 4", "recrop", "boxes", {"N": len(jb)}, note="(x0, y0, x1, y1): one box per person")
    check(len(jb) > 0, "recrop", "boxes", "at least one person's box", 0)
    b = np.asarray(boxes, np.float64)
    return float(np.median(person_square(b, 1.0)[1] / person_square(jb, 1.0)[1]))


def crop_affines(first: np.ndarray, frame_affine: np.ndarray, torso: Sequence[int], size: int, scale: float,
                 ratio: float = 1.0) -> np.ndarray:
    """Image -> crop affines float64 [N, 2, 3] of size x size second-pass crops.

    Each crop is the square centred on the tight box of the predicted torso joints (in image pixels), side
    scale x ratio x its longer side: the training crop (`crop_geometry.flic_affines`) with that box as the torso box.

    Args:
        first: [N, K, 2] (x, y) the first pass's points, in pixels of the frame inputs made by frame_affine.
        frame_affine: [N, 2, 3] image -> frame input affines.
        torso: the joint ids whose predicted box places the crop (`TORSO`).
        size: the crop's side, pixels.
        scale: the crop square's side over the torso box's longer side (> 0).
        ratio: annotated torso box over the torso joints' box (`box_ratio`, > 0).

    Returns:
        float64 [N, 2, 3]: image pixels -> crop pixels.

    Raises:
        InputError: scale or ratio not > 0, or a person with no finite predicted torso joint.
    """
    if not (scale > 0 and ratio > 0):
        raise InputError("recrop", "scale", "scale > 0 and ratio > 0", (scale, ratio))
    image_pts = geometry.transform_points(np.asarray(first, np.float64), geometry.invert_affine(frame_affine))
    return flic_affines(torso_boxes(np.asarray(image_pts), torso), size, scale * ratio)
