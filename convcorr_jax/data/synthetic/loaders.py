"""The synthetic sets read back through the real loaders (`datasets.dataset_dir` generates a set once and caches
it): objects as PASCAL VOC keypoints and segmentation, people as MPII h5 or FLIC mat, faces as 300-W.

    train = load_objects(n=400, seed=0, split="train")   # KeypointSamples, images loaded
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from convcorr_jax.data.synthetic import objects, people
from convcorr_jax.data.synthetic.datasets import check_set, dataset_dir
from convcorr_jax.data.types import KeypointSample, SegSample
from convcorr_jax.core.errors import InputError


def _by_split(split):
    return ("train", "test") if split is None else (split,)


def load_objects(
    n: int = 400, seed: int = 0, split: str | None = "train", image_size: int = 192
) -> list[KeypointSample]:
    """Synthetic objects (see `objects.render_object`) read back with `load_voc_keypoints`, images loaded.

    Args:
        n, seed, image_size, split: the set (`dataset_dir`; S = image_size), its split "train", "test" or None (both).

    Returns:
        list of `KeypointSample`s sorted by index, image uint8 RGB [S, S, 3]; extras add: index, split, class_id
        (1..C), mask_path (the SegmentationClass PNG).
    """
    check_set("objects", n, seed, image_size, split)
    from convcorr_jax.data.voc_keypoints import load_voc_keypoints

    root = dataset_dir("objects", n, seed, image_size)
    out = []
    for sp in _by_split(split):
        for s in load_voc_keypoints(
            root / "annotations", voc_root=root, categories=objects.OBJECT_CATEGORIES, image_set=sp
        ):
            iid = s.extras["image_id"]
            extras = dict(
                s.extras,
                index=int(iid.split("_")[-1]),
                split=sp,
                class_id=objects.OBJECT_CATEGORIES.index(s.category) + 1,
                mask_path=os.fspath(root / "SegmentationClass" / f"{iid}.png"),
            )
            out.append(dataclasses.replace(s, extras=extras).with_image())
    return sorted(out, key=lambda s: s.extras["index"])


def load_objects_segmentation(
    n: int = 400, seed: int = 0, split: str | None = "train", image_size: int = 192
) -> list[SegSample]:
    """Label maps of the synthetic objects (class 1..C as `OBJECT_CATEGORIES`, 0 background, 255 void).

    Args:
        n, seed, image_size: the set (`dataset_dir`); split: "train", "test" or None (both).

    Returns:
        list of `SegSample`s sorted by id: label uint8 [S, S], image uint8 RGB [S, S, 3].
    """
    check_set("objects", n, seed, image_size, split)
    from convcorr_jax.data.voc_segmentation import load_voc_segmentation

    root = dataset_dir("objects", n, seed, image_size)
    out: list[SegSample] = []
    for sp in _by_split(split):
        out += load_voc_segmentation(
            root, image_set=sp, num_classes=len(objects.OBJECT_CATEGORIES) + 1, with_images=True
        )
    return sorted(out, key=lambda s: s.id)


def load_synthetic_people(
    n: int = 1000,
    seed: int = 0,
    split: str | None = "train",
    image_size: int = 128,
    noise_sigma: float = 0.0,
    view: str = "mpii",
) -> list[KeypointSample]:
    """Synthetic people read back with `load_mpii_h5` (view="mpii", 16 MPII joints) or `load_flic` (view="flic",
    the 11 FLIC joints incl. eyes and nose).

    Args:
        n, seed, image_size, noise_sigma: the set (`dataset_dir`); split: "train", "test" or None; view: as above.

    Returns:
        list of `KeypointSample`s sorted by index, images loaded. MPII extras: head_box, torso_box, center/scale
        (= center_raw/scale_raw: MPII objpos and person height / 200 px), center_h5/scale_h5 (the h5's stored
        crop-adjusted values: centre y + 15 s, 1.25 s), normalize (PCKh head size = 0.6 head-box diagonal), index,
        split.
    """
    check_set("people", n, seed, image_size, split)
    if view not in ("mpii", "flic"):
        raise InputError("load_synthetic_people", "view", "'mpii' or 'flic'", view)
    root = dataset_dir("people", n, seed, image_size, noise_sigma)
    out = []
    if view == "flic":
        from convcorr_jax.data.flic import load_flic

        for s in load_flic(root, split=split):
            idx = int(Path(s.image_path).stem.split("_")[-1])
            out.append(
                dataclasses.replace(
                    s,
                    id=f"synth_{idx:06d}_0",
                    extras=dict(s.extras, index=idx, split="train" if s.extras["istrain"] else "test"),
                ).with_image()
            )
    else:
        from convcorr_jax.data.mpii import load_mpii_h5

        for sp in _by_split(split):
            for s in load_mpii_h5(root / "annot" / ("train.h5" if sp == "train" else "valid.h5")):
                ex = dict(
                    s.extras,
                    split=sp,
                    torso_box=people.torso_box(s.points),
                    center_h5=s.extras["center"],
                    scale_h5=s.extras["scale"],
                    center=s.extras["center_raw"],
                    scale=s.extras["scale_raw"],
                )
                out.append(dataclasses.replace(s, extras=ex).with_image())
    return sorted(out, key=lambda s: s.extras["index"])


def load_faces(
    n: int = 1000, seed: int = 0, split: str | None = "train", image_size: int = 128
) -> list[KeypointSample]:
    """Synthetic faces read back with `load_300w` (68 iBUG points; visible = inside the image).

    Args:
        n, seed, image_size, split: the set (`dataset_dir`; S = image_size), its split "train", "test" or None (both).

    Returns:
        list of `KeypointSample`s sorted by index, images loaded; extras add: attributes (dict of floats,
        `faces.ATTRIBUTE_NAMES`), index, split.
    """
    check_set("faces", n, seed, image_size, split)
    from convcorr_jax.data.faces300w import load_300w

    root = dataset_dir("faces", n, seed, image_size)
    attrs = json.loads((root / "attributes.json").read_text())
    subsets = None if split is None else [f"{split}set"]
    out = []
    for s in load_300w(root, subsets=subsets, with_images=True):
        p = s.points
        vis = np.all((p > -0.5) & (p < image_size - 0.5), axis=1)
        sp = s.id.split("/")[0][:-3]
        out.append(
            dataclasses.replace(
                s, visible=vis, extras=dict(s.extras, attributes=attrs[s.id], index=int(s.id.split("_")[-1]), split=sp)
            )
        )
    return sorted(out, key=lambda s: s.extras["index"])
