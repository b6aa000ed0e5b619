"""Data of the Razavian et al. experiments: the synthetic faces and objects, and the real datasets' protocol
(300-W faces, PASCAL VOC keypoints, VOC 2012 segmentation).

Real faces: each face is cropped to a square around its ground-truth landmarks' box enlarged by `margin` on each
side (standing in for a face detector's box, which the 300-W files do not give) and resized to `size`; the points
follow (`extras["crop_affine"]` maps image to crop pixels). Table 1 protocol: Helen and LFPW train on their
trainset and test on their testset; IBUG (test only) is predicted by a model trained on Helen + LFPW trainsets +
AFW (the 300-W convention). Segmentation: label maps are resized (nearest) to `label_size` so they stack.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from convcorr_jax.data import synthetic
from convcorr_jax.geometry import box_to_affine, crop, points_box, square_box, transform_points

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


def synthetic_faces(cfg) -> tuple[list, list]:
    """(train, test) synthetic faces of `cfg.n_faces` at `cfg.face_size` px."""
    return tuple(list(synthetic.load_faces(n=cfg.n_faces, seed=cfg.seed, split=sp, image_size=cfg.face_size))
                 for sp in ("train", "test"))


def synthetic_objects(cfg) -> tuple[list, list]:
    """(train, test) synthetic object instances (keypoints, boxes)."""
    return tuple(list(synthetic.load_objects(n=cfg.n_objects, seed=cfg.seed, split=sp)) for sp in ("train", "test"))


def synthetic_segmentation(cfg) -> tuple[list, list, tuple[str, ...]]:
    """(train, test, class names) of the synthetic objects' label maps."""
    tr, te = (list(synthetic.load_objects_segmentation(n=cfg.n_objects, seed=cfg.seed, split=sp))
              for sp in ("train", "test"))
    return tr, te, ("background",) + tuple(synthetic.OBJECT_CATEGORIES)


def random_split(samples, seed: int) -> tuple[list, list]:
    """A deterministic 75 / 25 split."""
    idx = np.random.default_rng(seed).permutation(len(samples))
    cut = int(round(0.75 * len(samples)))
    return [samples[i] for i in idx[:cut]], [samples[i] for i in idx[cut:]]


def face_crop_samples(samples, size: int = 128, margin: float = 0.25) -> list:
    """Square face crops (samples with `image` set, points in crop pixels, extras["crop_affine"] [2, 3])."""
    out = []
    for s in samples:
        s = s.with_image()
        tight = points_box(np.asarray(s.points, np.float64))
        side = (1 + 2 * margin) * float(np.max(tight[2:] - tight[:2]))
        M = box_to_affine(square_box((tight[:2] + tight[2:]) / 2, side), size)
        image = crop(np.asarray(s.image, np.uint8)[None], M[None], size, border="constant")[0]
        pts = transform_points(np.asarray(s.points, np.float64), M).astype(np.float32)
        out.append(dataclasses.replace(s, image=image, points=pts, image_path=None,
                                       extras=dict(s.extras, crop_affine=M)))
    return out


def split_300w(samples) -> dict[str, tuple[list, list]]:
    """{"Helen": (train, test), "LFPW": ..., "IBUG": ...} from `load_300w` samples (missing parts are left out)."""
    def by(sub, split):
        return [s for s in samples if s.extras.get("subset") == sub and s.extras.get("split") == split]

    out = {}
    for name, sub in (("Helen", "helen"), ("LFPW", "lfpw")):
        tr, te = by(sub, "train"), by(sub, "common")
        if tr and te:
            out[name] = (tr, te)
    ib = [s for s in samples if s.extras.get("subset") == "ibug"]
    tr_all = by("helen", "train") + by("lfpw", "train") + [s for s in samples if s.extras.get("subset") == "afw"]
    if ib and tr_all:
        out["IBUG"] = (tr_all, ib)
    return out


def faces_300w(root, size: int) -> dict[str, tuple[list, list]]:
    """The 300-W Table 1 splits of the folder `root` as face crops of `size` px."""
    from convcorr_jax.data.faces300w import load_300w

    splits = split_300w(load_300w(root, require_images=True))
    return {name: (face_crop_samples(tr, size), face_crop_samples(te, size)) for name, (tr, te) in splits.items()}


def resize_labels(labels: list[np.ndarray], size: int) -> np.ndarray:
    """Nearest-neighbour resize of label maps to [N, size, size] (void stays 255)."""
    return np.stack([np.asarray(Image.fromarray(np.asarray(l, np.uint8)).resize((size, size), Image.NEAREST))
                     for l in labels])


def voc_segmentation(root, label_size: int) -> tuple[list, list, tuple[str, ...]]:
    """VOC 2012 train (fit) / val (evaluate), images and labels resized to `label_size` squares."""
    from convcorr_jax.data.voc_segmentation import load_voc_segmentation
    from convcorr_jax.regression.features import resize_images

    def prep(image_set):
        ss = list(load_voc_segmentation(root, image_set=image_set, with_images=True))
        labels = resize_labels([s.label for s in ss], label_size)
        ims = [resize_images(s.image[None], (label_size, label_size))[0] for s in ss]
        return [dataclasses.replace(s, label=l, image=i) for s, l, i in zip(ss, labels, ims)]

    return prep("train"), prep("val"), VOC_CLASSES


def voc_keypoints(annotations, voc_root, seed: int) -> tuple[list, list]:
    """PASCAL VOC keypoint instances (annotations `<class>/*.xml`, images from the VOC2011 folder), random 75/25."""
    from convcorr_jax.data.voc_keypoints import load_voc_keypoints

    return random_split(list(load_voc_keypoints(annotations, voc_root, with_images=True)), seed)
