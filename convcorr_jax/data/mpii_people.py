"""MPII Human Pose as a pose dataset kind ("mpii" of `data.pose_sets`): the people of the stacked-hourglass
`train.h5` / `valid.h5` (splits "train" / "val") with the images in `images/` beside them, cropped as the hourglass
code crops them (`data.mpii.person_square`), the PCK normaliser the head size (PCKh).

    people = h5_people("MPII/valid.h5", "MPII/images")       # PersonSet
    inputs = DATASET.inputs(people, 256, 1.0)                # Inputs: crop affines, head size in crop pixels
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import square_affines
from convcorr_jax.data import mpii
from convcorr_jax.data.pose_dataset import Inputs, PersonSet, PoseDataset
from convcorr_jax.data.skeletons import MPII
from convcorr_jax.core.errors import InputError

FILES = {"train": "train.h5", "val": "valid.h5"}  # split -> annotation file in the MPII folder


def h5_people(h5: str | os.PathLike, image_root: str | os.PathLike) -> PersonSet:
    """The people of an hourglass MPII h5 (`data.mpii.load_mpii_h5`); boxes: their person squares.

    Args:
        h5: the annotation file.
        image_root: the folder of its images.

    Returns:
        the PersonSet (source: the h5).

    Raises:
        InputError: a missing file, or one without people (naming the file).
    """
    h5 = Path(h5)
    if not h5.is_file():
        raise InputError(h5, "file", "an existing MPII .h5 annotation file", "missing file")
    samples = mpii.load_mpii_h5(h5, image_root=image_root)
    if not samples:
        raise InputError(h5, "part", "at least one person", 0)
    boxes = geometry.square_box(*mpii.person_square(np.stack([s.extras["center"] for s in samples]),
                                                    np.array([s.extras["scale"] for s in samples])))
    return PersonSet(samples, MPII, boxes, boxes, os.fspath(h5))


def people(root: str | os.PathLike, split: str) -> PersonSet:
    """The people of split "train" (train.h5) or "val" (valid.h5) of an MPII folder (images in its images/).

    Args:
        root: the MPII folder.
        split: "train" or "val".

    Returns:
        the PersonSet.
    """
    if split not in FILES:
        raise InputError("mpii dataset", "split", "train or val (MPII's test annotations are not public)", split)
    return h5_people(Path(root) / FILES[split], Path(root) / "images")


def _mpii_inputs(people: PersonSet, image_size: int, crop_scale: float = 1.0, protocol: str = "person") -> Inputs:
    """MPII's crop protocol: squares of side 200 x 1.25 x the stored scale around the stored centre (crop_scale
    unused); norm: the head size (0.6 x head-box diagonal) in crop pixels, so PCK@0.5 is PCKh@0.5 (NaN, the person
    left out, where the stored size is not > 0: a degenerate head box); torso: the stored centre.

    Args:
        people: MPII people (extras center, scale, head_size).
        image_size: the crops' side (pixels).
        crop_scale: unused (the hourglass crop is fixed).
        protocol: "person".

    Returns:
        the Inputs.
    """
    centres, sides = mpii.person_square(np.stack([s.extras["center"] for s in people.samples]),
                                        np.array([s.extras["scale"] for s in people.samples]))
    heads = np.array([s.extras["head_size"] for s in people.samples], np.float64)
    heads = np.where(heads > 0, heads, np.nan)
    affine = square_affines(centres, sides, image_size)
    torso = np.asarray(geometry.transform_points(centres[:, None], affine), np.float32)[:, 0]
    return Inputs(affine, heads * image_size / sides, torso)  # crop pixels


DATASET = PoseDataset(people, MPII, inputs=_mpii_inputs, headline=("PCKh", 0.5),
                      normaliser="head (0.6 x the head box's diagonal)", head_norm="MPII head box", splits=tuple(FILES),
                      options=(), root_about="a folder with the MPII annotations (train.h5, valid.h5) and images")
