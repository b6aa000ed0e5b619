"""Protocol glue shared by the Long et al. experiments: the object instances by the `data` config field.

data=flic (FLIC people, Sapp & Taskar): the category is "person", the keypoint types are the 11 labelled
upper-body joints, FLIC's own train / test split is kept. The object box (Long et al. use the ground-truth
object box on PASCAL) is the FLIC person box of the library (`convcorr_jax.core.crop_geometry.person_square`: the
annotation's torso box made square and enlarged `FLIC_BOX_ENLARGE` times around its centre, also the pose
cascade's person crop): it holds 99% of the training joints, and unlike the tight box of the joints it does not
put the extreme joints on its edges (which would give their positions away).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import PERSON_BOX_SCALE, person_square
from convcorr_jax.data.flic import load_flic
from convcorr_jax.data.synthetic import load_objects
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.data.voc_keypoints import load_voc_train_test
from convcorr_eval.experiment import ExperimentConfig, require_data

DATA = ("synthetic", "voc", "flic")
# Long et al.'s experiments run on the papers' network by default: torchvision's AlexNet with its real ImageNet
# conv weights (conv-only: neighbours are retrieved by the flattened pool5 map where the paper uses fc7).
BACKBONE = "torchvision_alexnet"
FLIC_BOX_ENLARGE = PERSON_BOX_SCALE  # side of the person box / longer side of the torso box


def flic_person_box(torso_boxes: np.ndarray, enlarge: float = FLIC_BOX_ENLARGE) -> np.ndarray:
    """Person boxes [..., 4] (x0, y0, x1, y1; 0-based inclusive) of torso boxes [..., 4]: `person_square`."""
    return geometry.square_box(*person_square(torso_boxes, enlarge))


def subsample(samples: list, n: int | None, seed: int) -> list:
    """`n` of `samples` drawn without replacement (seeded), in their original order; all when n is None."""
    if n is None or n >= len(samples):
        return list(samples)
    keep = np.sort(np.random.default_rng(seed).choice(len(samples), n, replace=False))
    return [samples[i] for i in keep]


def unique_images(samples: list) -> list:
    """The first sample of every image file (FLIC frames with two labelled people appear twice)."""
    seen, out = set(), []
    for s in samples:
        if s.image_path not in seen:
            seen.add(s.image_path)
            out.append(s)
    return out


def load_flic_split(root: str | os.PathLike, split: str, n: int | None, seed: int) -> list[KeypointSample]:
    """FLIC `split` people (11 joints, images at the on-disk resolution), `n` of them (seeded, None: all), with
    `bbox` = `flic_person_box` of their torso box (the tight joint box stays in extras["joint_box"])."""
    people = subsample(list(load_flic(root, split=split)), n, seed)
    out = []
    for s in people:
        box = flic_person_box(s.extras["torso_box"]).astype(np.float32)
        out.append(dataclasses.replace(s, bbox=box, extras={**s.extras, "joint_box": s.bbox}).with_image())
    return out


def load_train_test(cfg: ExperimentConfig, n: int, image_size: int, covered_only: bool = False,
                    n_train: int | None = None, n_test: int | None = None
                    ) -> tuple[list[KeypointSample], list[KeypointSample]]:
    """(train, test) object instances with images: `n` synthetic objects of `image_size` px split by the dataset's
    own image sets (data=synthetic), the VOC 2011 keypoint train / val split under `cfg.data_root` (data=voc), or
    FLIC's train / test people under `cfg.data_root` (data=flic, boxes in the module doc).
    FLIC: `n_train` / `n_test` people drawn from each split (seeded by cfg.seed; None: all); VOC keeps every
    instance.
    `covered_only`: keep the test instances whose category has training instances (a tiny split may miss one)."""
    require_data(cfg, DATA)
    if cfg.data == "flic":
        train = load_flic_split(cfg.dataset_root(), "train", n_train, cfg.seed)
        test = load_flic_split(cfg.dataset_root(), "test", n_test, cfg.seed + 1)
    elif cfg.data == "voc":
        train, test = load_voc_train_test(cfg.dataset_root())
    else:
        train, test = load_objects(n, cfg.seed, "train", image_size), load_objects(n, cfg.seed, "test", image_size)
    if covered_only:
        cats = {s.category for s in train}
        test = [s for s in test if s.category in cats]
    return train, test


def sample_images(samples: Sequence[KeypointSample]) -> list[np.ndarray]:
    """The images uint8 [H, W, 3] of samples loaded with them (`pf_willow_set`, `load_train_test`), in order;
    InputError naming the first sample that holds only its path (`KeypointSample.loaded_image`)."""
    return [s.loaded_image() for s in samples]
