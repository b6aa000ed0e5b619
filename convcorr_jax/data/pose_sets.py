"""The one loader interface of pose datasets: a dataset kind's people of one split, with their skeleton and the boxes
their person crops are built around.

    people = load_people("coco", root, "train")    # PersonSet: samples, skeleton, boxes, norm_boxes, counts
    people = load_people("lsp", root, "test", train_images=1000)

Each dataset is one module with a function `people(root, split, **options) -> PersonSet` registered in `LOADERS`:
a COCO-format keypoint folder (`coco_keypoints`: DIR/annotations/{train,val}.json + DIR/images/, any skeleton) and
LSP / LSP-extended (`lsp`). Adding a dataset in COCO format takes no code; a new file format takes one module (and
its line in `LOADERS`). Samples carry points [K, 2] (0-based pixels, NaN where unlabelled) and extras["labelled"]
[K] (annotated, possibly occluded) and extras["index"] (the person's position in the annotation file).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.errors import InputError

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class PersonSet:
    """The people of one split of a pose dataset.

    samples: one KeypointSample per person (module docstring).
    skeleton: their Skeleton.
    boxes: float64 [N, 4] (x0, y0, x1, y1) the box each person crop is a square around (side: crop_scale x its
      longer side).
    norm_boxes: float64 [N, 4] the person's box of the "bbox" PCK normaliser.
    source: the annotation file.
    no_keypoints: persons of the split without any labelled keypoint, left out (counted, never silently dropped).
    """

    samples: list[KeypointSample]
    skeleton: Skeleton
    boxes: np.ndarray
    norm_boxes: np.ndarray
    source: str
    no_keypoints: int = 0

    def __len__(self) -> int:
        return len(self.samples)

    def summary(self, split: str) -> str:
        """One line: people read from which file, and the persons left out without labelled keypoints.

        Args:
            split: the split's name, for the line.

        Returns:
            the line.
        """
        return (f"{self.source} ({split}): {len(self)} people, {self.skeleton.num_joints} keypoints "
                f"({self.skeleton.name}); {self.no_keypoints} person(s) without labelled keypoints left out")


def image_folder(folder: Path, what: str) -> Path:
    """`folder` when it is a directory; else InputError, one line naming the folder (`what`: the dataset).

    Args:
        folder: the images folder.
        what: what it should hold, for the message.

    Returns:
        the folder.
    """
    if not folder.is_dir():
        raise InputError(folder, "images", f"a folder with the {what} images", "missing folder")
    return folder


def _coco(root, split, **options) -> PersonSet:
    from convcorr_jax.data import coco_keypoints

    return coco_keypoints.people(root, split, **options)


def _lsp(root, split, **options) -> PersonSet:
    from convcorr_jax.data import lsp

    return lsp.people(root, split, **options)


LOADERS: dict[str, Callable[..., PersonSet]] = {"coco": _coco, "lsp": _lsp}


def load_people(kind: str, root: str | os.PathLike | None, split: str, **options) -> PersonSet:
    """The people of `split` of the dataset `kind` (`LOADERS`) in the folder `root`.

    Args:
        kind: "coco" or "lsp".
        root: the dataset folder.
        split: "train", "val" or "test".
        **options: the loader's options (LSP: train_images, val_fraction, seed).

    Returns:
        the PersonSet; InputError for a bad kind, root or split, or a bad annotation.
    """
    if kind not in LOADERS:
        raise InputError("config", "data", f"one of {list(LOADERS)}", kind)
    if not root:
        raise InputError("config", "data_root", f"the {kind} dataset's folder")
    if split not in SPLITS:
        raise InputError(f"{kind} dataset", "split", f"one of {SPLITS}", split)
    return LOADERS[kind](Path(root), split, **options)
