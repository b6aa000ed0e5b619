"""The one registry of pose datasets: every kind of pose data is one `PoseDataset` entry of `DATASETS`, which gives
its people, skeleton, PCK normaliser, crop protocol, headline score and options (`data.pose_dataset`).

    people = load_people("coco", root, "train")    # PersonSet: samples, skeleton, boxes, norm_boxes, source
    people = load_people("lsp", root, "test", train_images=1000)
    sk = skeleton("coco", root)                    # the kind's skeleton (a COCO-format folder's own)
    DATASETS.register("hands", PoseDataset(people_of_my_format, HANDS))   # a new format: docs/extending.md

Kinds: "synthetic" (generated people with MPII's joints, `data.synthetic`), "mpii" (`data.mpii_people`), "flic"
(`data.flic_people`), "coco" (any COCO-format keypoint folder, any skeleton: `data.coco_keypoints`) and "lsp"
(LSP / LSP-extended: `data.lsp`). Every caller (training, `convcorr eval pose`, the run's skeleton) reads the entry;
none branches on a kind's name.
"""

from __future__ import annotations

import os

import numpy as np

from convcorr_jax.data import coco_keypoints, flic_people, lsp, mpii_people, skeletons
from convcorr_jax.data import synthetic as synthetic_data
from convcorr_jax.data.pose_dataset import (SPLITS, Inputs, PersonSet, PoseDataset, box_inputs, image_folder,
                                            torso_size)
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.registry import Names, Registry

__all__ = ["DATASETS", "KINDS", "LOADERS", "SPLITS", "Inputs", "PersonSet", "PoseDataset", "box_inputs", "dataset",
           "image_folder", "load_people", "skeleton"]


def synthetic_people(root: str | os.PathLike | None, split: str, n_samples: int = 1000, seed: int = 0,
                     input_size: int = 128) -> PersonSet:
    """Synthetic people (`data.synthetic.load_synthetic_people`, MPII's 16 joints) of split "train" or "test", drawn at
    input_size px (no folder).

    Args:
        root: unused (the people are generated).
        split: "train" or "test" (about 75 % / 25 % of n_samples).
        n_samples: people generated.
        seed: their seed.
        input_size: their images' side (pixels): the model's input size.

    Returns:
        the PersonSet.

    Raises:
        InputError: naming n_samples, when the split holds no one (too few people drawn for both splits).
    """
    samples = synthetic_data.load_synthetic_people(n=n_samples, seed=seed, split=split, image_size=input_size)
    if not samples:
        raise InputError(f"synthetic people (seed={seed})", "n_samples", "enough people for both splits (about "
                         f"75 % train, 25 % test; the {split} split of these is empty)", n_samples)
    boxes = np.stack([np.asarray(s.bbox, np.float64) for s in samples])
    return PersonSet(samples, skeletons.MPII, boxes, boxes, f"synthetic people (n={n_samples}, seed={seed})")


def _synthetic_inputs(people: PersonSet, image_size: int, crop_scale: float = 1.0, protocol: str = "person"
                     ) -> Inputs:
    """Synthetic people are their images (no crop); norm: `torso_size` (the torso ends, else the box diagonal).

    Args:
        people: synthetic people drawn at image_size px.
        image_size: their side (pixels).
        crop_scale: unused.
        protocol: "person".

    Returns:
        the Inputs (identity affines, resample False).
    """
    n = len(people)
    norm = [torso_size(np.asarray(s.points, np.float32), people.skeleton, np.asarray(s.bbox)) for s in people.samples]
    affine = np.broadcast_to(np.eye(2, 3), (n, 2, 3)).copy()
    return Inputs(affine, np.asarray(norm, np.float32), (people.boxes[:, :2] + people.boxes[:, 2:]) / 2, False)


SYNTHETIC = PoseDataset(synthetic_people, skeletons.MPII, inputs=_synthetic_inputs, headline=("PCK", 0.05),
                        normaliser="torso (l shoulder - r hip; the box's diagonal where one is missing)",
                        splits=("train", "test"), held_out="test", held_out_about="held-out set",
                        options=("n_samples", "seed", "input_size"), root_about="")

def _person_people(root, split: str) -> PersonSet:
    """The "person" kind has no folder of its own: its people are several datasets' (`TrainConfig.datasets`,
    read by `pose.mixture`); InputError says so.

    Args:
        root: unused.
        split: unused.

    Returns:
        never.
    """
    raise InputError("config", "datasets", "the datasets of a person model (TrainConfig.datasets, read by "
                     "pose.mixture), not one folder", root)


def _person_inputs(people: PersonSet, image_size: int, crop_scale: float = 1.0, protocol: str = "person") -> Inputs:
    """A person model's crops: `box_inputs` about person boxes drawn from the labelled joints (`pose.mixture`).

    Args:
        people, image_size, crop_scale, protocol: as `box_inputs`'.

    Returns:
        the Inputs.
    """
    return box_inputs(people, image_size, crop_scale, protocol)


# people of every kind, from several datasets mapped onto one skeleton (`pose.mixture`, `TrainConfig.datasets`)
PERSON = PoseDataset(_person_people, skeletons.PERSON, inputs=_person_inputs, headline=("PCK", 0.2),
                     normaliser="torso (l shoulder - r hip)", held_out="val", held_out_about="the datasets' val parts",
                     root_about="", mixture=True)

DATASETS: Registry[PoseDataset] = Registry("pose dataset")
for _kind, _entry in (("synthetic", SYNTHETIC), ("mpii", mpii_people.DATASET), ("flic", flic_people.DATASET),
                      ("coco", coco_keypoints.DATASET), ("lsp", lsp.DATASET), ("person", PERSON)):
    DATASETS.register(_kind, _entry)
KINDS = DATASETS.names  # a live view: kinds registered later are in it
LOADERS = Names(lambda: tuple(k for k, d in DATASETS.items() if d.inputs is box_inputs))  # kinds cropped at boxes


def dataset(kind: str) -> PoseDataset:
    """The entry of pose dataset `kind`; InputError naming the registered kinds for another.

    Args:
        kind: a registered kind (`DATASETS`).

    Returns:
        the PoseDataset.
    """
    if kind not in DATASETS:
        raise InputError("config", "data", f"one of {list(DATASETS)} (a registered pose dataset; a kind of your own "
                         "is registered by the code calling DATASETS.register: import it first, on the command line "
                         "with --backbone-module FILE.py)", kind)
    return DATASETS[kind]


def load_people(kind: str, root: str | os.PathLike | None, split: str, **options: object) -> PersonSet:
    """The people of `split` of the dataset `kind` in the folder `root`.

    Args:
        kind: a registered kind.
        root: the dataset folder (None for a kind that reads none).
        split: one of the kind's splits.
        **options: the loader's options (LSP: train_images; synthetic: n_samples, seed, input_size).

    Returns:
        the PersonSet; InputError for a bad kind, root or split, or a bad annotation.
    """
    entry = dataset(kind)
    if entry.root_about and not root:
        raise InputError("config", "data_root", f"{entry.root_about} (data={kind})")
    if split not in entry.splits:
        raise InputError(f"{kind} dataset", "split", f"one of {entry.splits}", split)
    return entry.people(root, split, **options)


def skeleton(kind: str, root: str | os.PathLike | None = None, **options: object) -> Skeleton:
    """The skeleton of a pose dataset kind: its entry's, or (a kind whose files declare it) its train split's when
    `root` is given.

    Args:
        kind: a registered kind.
        root: the dataset folder.
        **options: the loader's options.

    Returns:
        the Skeleton.
    """
    entry = dataset(kind)
    if entry.reads_skeleton and root:
        return load_people(kind, root, "train", **options).skeleton
    return entry.skeleton
