"""Person crops of the pose datasets behind `data.pose_sets` (COCO-format folders, LSP / LSPET): their people with
a summary line, their cached crops, and any data kind's skeleton.

    people = person_set("coco", root, "train")                 # pose_sets.PersonSet, its summary line logged
    crops = person_crops("lsp", root, "test", 128, 1.0, train_images=3000)   # PoseCrops, cached
    sk = dataset_skeleton("coco", root)                        # the file's own skeleton
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convcorr_jax import geometry
from convcorr_jax.data import pose_sets, skeletons
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.pose.data import KINDS, PoseCrops, _cached_crops, _file_key, _labelled, square_affines
from convcorr_jax.progress import LOG as progress_log


def person_set(kind: str, root: str | os.PathLike | None, split: str, **options) -> pose_sets.PersonSet:
    """`pose_sets.load_people` of (kind, root, split) with its one summary line on the progress log (the persons
    left out without labelled keypoints are counted there).

    Args:
        kind: a `pose_sets.LOADERS` kind ("coco", "lsp").
        root: the dataset folder.
        split: "train", "val" or "test".
        **options: the loader's options.

    Returns:
        the PersonSet.
    """
    people = pose_sets.load_people(kind, root, split, **options)
    progress_log.info(people.summary(split))
    return people


def person_crops(kind: str, root: str | os.PathLike | None, split: str, image_size: int,
                 crop_scale: float = 1.25, people: pose_sets.PersonSet | None = None, **options) -> PoseCrops:
    """Person crops of one split of a `pose_sets` dataset ("coco", "lsp"): squares around each person's box (side
    crop_scale x its longer side), resized to image_size px; norm: the skeleton's normaliser in crop pixels (NaN
    where its joints are unlabelled: left out of PCK); torso: the box's centre. Built once, then cached (the
    annotation file's size and time, the images folder, the split and options are the key).

    Args:
        kind: "coco" or "lsp".
        root: the dataset folder.
        split: "train", "val" or "test".
        image_size: the crops' side (pixels).
        crop_scale: crop side / the person box's longer side.
        people: the split's `person_set` when already read.
        **options: the loader's options.

    Returns:
        the PoseCrops (cached arrays, image -> crop affines, annotation positions, box centres).
    """
    people = people if people is not None else person_set(kind, root, split, **options)
    src = Path(people.source)
    settings = {"kind": kind, **_file_key(src, "annotations"), "images": str(Path(people.samples[0].image_path).parent),
                "split": split, "size": image_size, "crop_scale": float(crop_scale), "options": options}

    def build() -> tuple[list[KeypointSample], np.ndarray, np.ndarray, np.ndarray]:
        centres = (people.boxes[:, :2] + people.boxes[:, 2:]) / 2
        sides = crop_scale * np.max(people.boxes[:, 2:] - people.boxes[:, :2], axis=1)
        affine = square_affines(centres, sides, image_size)
        pts = np.stack([s.points for s in people.samples]).astype(np.float64)
        labelled = np.stack([_labelled(s, p) for s, p in zip(people.samples, pts)])
        norm = people.skeleton.normaliser_lengths(pts, labelled, people.norm_boxes) * affine[:, 0, 0]
        torso = np.asarray(geometry.transform_points(centres[:, None], affine), np.float32)[:, 0]
        return people.samples, affine, norm, torso

    return _cached_crops(f"{kind}-crops", settings, image_size, build)


def dataset_skeleton(kind: str, root: str | os.PathLike | None = None, **options) -> Skeleton:
    """The skeleton of a pose dataset kind: synthetic and "mpii" MPII's, "flic" FLIC's, a `pose_sets` dataset's
    from its train split (a COCO-format file's own).

    Args:
        kind: a data kind (`KINDS`) or a registered skeleton's name.
        root: the dataset folder (for a `pose_sets` kind).
        **options: the loader's options.

    Returns:
        the Skeleton.
    """
    if kind in pose_sets.LOADERS:
        return pose_sets.load_people(kind, root, "train", **options).skeleton
    return {"synthetic": skeletons.MPII, "mpii": skeletons.MPII, "flic": skeletons.FLIC}[kind] if kind in KINDS \
        else skeletons.get(kind)
