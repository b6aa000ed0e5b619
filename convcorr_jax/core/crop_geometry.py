"""Where a pose model's input square lies in an image: functions from boxes (or frame sizes) to image -> input
affines, shared by training (the labelled boxes: `data.flic_people`, `data.pose_dataset`) and inference (the boxes
a user gives: `pose.estimation`, `pose.person_boxes`, `pose.recrop`), and the crop geometry of each pose dataset
kind (`CROPS`), known from a model's config without reading, or importing the reader of, its dataset.

    affine = square_affines(centres, sides, 128)     # [N, 2, 3]: squares (centres [N, 2], sides [N]) -> 128 px
    centres, sides = person_square(torso_boxes)      # FLIC's person square: 2.5 x the torso box's longer extent
    affine = flic_affines(torso_boxes, 128, 2.5)     # FLIC's person crops around torso boxes
    affine = box_affines(person_boxes, 128)          # the square of each box's longer extent, about its centre
    affine = frame_affines(wh, 288)                  # whole frames letterboxed (native=True: at their pixel scale)
    crop = crop_of("flic")                           # TORSO_CROP: crop.torso, crop.affines(boxes, 128, 2.5)

Boxes are (x0, y0, x1, y1) 0-based inclusive pixels (extents x1 - x0 + 1 and y1 - y0 + 1); every affine maps image
pixels to input pixels, each square's outer pixel edges onto the input's (`geometry.box_to_affine`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.registry import Registry

# Side of the FLIC person box / the torso box's longer side: 99 % of FLIC train's labelled joints fall inside.
PERSON_BOX_SCALE = 2.5


def square_affines(centres: np.ndarray, sides: np.ndarray, size: int) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of size x size crops of squares (centres [N, 2], sides [N], pixels).

    Args:
        centres: [N, 2] (x, y) square centres, image pixels.
        sides: [N] square sides, image pixels.
        size: the crop's side, pixels.

    Returns:
        float64 [N, 2, 3]: image pixels -> crop pixels; each square's outer pixel edges go to the crop's.
    """
    return geometry.box_to_affine(geometry.square_box(centres, sides), size)


def person_square(torso_boxes: np.ndarray, scale: float = PERSON_BOX_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """The person box of FLIC people as (centres [..., 2], sides [...]), pixels.

    A square centred on the torso box with side `scale` x the torso box's longer pixel extent (x1 - x0 + 1 or
    y1 - y0 + 1). `geometry.square_box(*person_square(boxes))` is the box: the Long et al. and Razavian et al. FLIC
    experiments' object box and the pose cascade's person crop.

    Args:
        torso_boxes: [..., 4] (x0, y0, x1, y1), 0-based inclusive pixels (extras["torso_box"] of `data.flic.load_flic`).
        scale: the square's side over the torso box's longer extent (`PERSON_BOX_SCALE`, 2.5).

    Returns:
        (centres, sides): float64 [..., 2] (x, y) box centres and float64 [...] square sides, in pixels.
    """
    tb = np.asarray(torso_boxes, np.float64)
    return (tb[..., :2] + tb[..., 2:]) / 2, scale * np.max(tb[..., 2:] - tb[..., :2] + 1, axis=-1)


def flic_affines(torso_boxes: np.ndarray, size: int, scale: float = PERSON_BOX_SCALE) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of FLIC person crops (`person_square`) around torso boxes [N, 4].

    Args:
        torso_boxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels (reshaped to [N, 4]).
        size: the crop's side, pixels.
        scale: the square's side over the torso box's longer extent.

    Returns:
        float64 [N, 2, 3]: image pixels -> crop pixels.
    """
    return box_affines(torso_boxes, size, scale)


def box_affines(boxes: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """Image -> input affines [N, 2, 3]: the square of each box's longer pixel extent (x1 - x0 + 1 or y1 - y0 + 1)
    times `scale`, about the box's centre.

    Args:
        boxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels (reshaped to [N, 4]).
        size: the input's side, pixels.
        scale: the square's side over the box's longer extent.

    Returns:
        float64 [N, 2, 3]: image pixels -> input pixels.
    """
    return square_affines(*person_square(np.asarray(boxes, np.float64).reshape(-1, 4), scale), size)


def frame_affines(wh: np.ndarray, size: int, native: bool = False) -> np.ndarray:
    """Image -> input affines [N, 2, 3] of whole frames centred in a size x size input.

    Letterboxed: the square of the frame's longer side scaled to size; or, `native`, at the frame's own pixel scale
    (the square of side max(size, longer side): a frame larger than the input is still letterboxed). A native frame
    that fits is shifted by whole pixels, floor((size - W) / 2) and floor((size - H) / 2), so that each of its pixel
    centres lands on an input pixel centre (its pixels enter unresampled, whatever the parity of its sides).

    Args:
        wh: [N, 2] (width, height) frame sizes, pixels.
        size: the input's side, pixels.
        native: keep the frames' pixel scale where they fit.

    Returns:
        float64 [N, 2, 3]: image pixels -> input pixels.
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    side = wh.max(axis=1)
    centres = (wh - 1) / 2
    if native:  # where the frame fits: the centre that makes the shift a whole number of pixels
        fits = (side <= size)[:, None]
        centres = np.where(fits, (size - 1) / 2 - np.floor((size - wh) / 2), centres)
    return square_affines(centres, np.maximum(side, size) if native else side, size)


@dataclasses.dataclass(frozen=True)
class CropGeometry:
    """How the people of a pose dataset kind are cropped about the box each is given, at training and inference.

    name: the box in words ("person box", "torso box").
    torso: the boxes are torso boxes (FLIC's protocol "person": a square of crop_scale x the torso box's longer
      extent, `flic_affines`). A model of such a kind finds the torso inside a person box a user gives
      (`pose.person_boxes`), reads whole frames in two passes (`pose.two_pass`) with frame statistics learned from
      its training people, and always keeps the spatial model conditioned on the torso box's centre. Else the boxes
      are person boxes, and a user's box is cropped as the square of its longer extent (`box_affines`).
    """

    name: str
    torso: bool = False

    def affines(self, boxes: np.ndarray, size: int, crop_scale: float, scale: float = 1.0) -> np.ndarray:
        """Image -> input affines [N, 2, 3] of the input squares about boxes a user gives.

        Args:
            boxes: [N, 4] (x0, y0, x1, y1) 0-based inclusive pixels: torso boxes (`torso`), else person boxes.
            size: the input's side, pixels.
            crop_scale: the model's crop scale (torso boxes: the square's side over the box's longer extent; person
                boxes: unused, the square is the box's longer extent).
            scale: a further factor on the square's side about its centre (a test-time crop scale).

        Returns:
            float64 [N, 2, 3]: image pixels -> input pixels.
        """
        if self.torso:
            return flic_affines(boxes, size, crop_scale * scale)
        return box_affines(boxes, size, scale)


BOX_CROP = CropGeometry("person box")
TORSO_CROP = CropGeometry("torso box", torso=True)
# the crop geometry of each pose dataset kind (`data.pose_sets.DATASETS`) whose people are not cropped about person
# boxes (`crop_of`: BOX_CROP for any other); a kind registered with torso boxes registers here too
CROPS: Registry[CropGeometry] = Registry("crop geometry", {"flic": TORSO_CROP}, field="data")


def crop_of(kind: str) -> CropGeometry:
    """The crop geometry of pose dataset kind `kind`: its `CROPS` entry, else `BOX_CROP`.

    Args:
        kind: a pose dataset kind (a TrainConfig's `data`).

    Returns:
        the CropGeometry.
    """
    return CROPS[kind] if kind in CROPS else BOX_CROP


__all__ = ["BOX_CROP", "CROPS", "PERSON_BOX_SCALE", "TORSO_CROP", "CropGeometry", "box_affines", "crop_of",
           "flic_affines", "frame_affines", "person_square", "square_affines"]
