"""Data of the Razavian et al. experiments: the synthetic faces and objects, and the real datasets' protocol
(300-W faces, PASCAL VOC keypoints, VOC 2012 segmentation).

Real faces: no crop uses the landmarks of the image it crops. The 300-W files give no detector box, so the box
comes from a detector-free rule fitted on the training split only (`mean_shape_box`): the box of the training
faces' mean shape in image-relative coordinates (x / width, y / height), squared at its longer side in units of
max(width, height) (so in pixels on every aspect) and enlarged by `margin` on each side; every image, train and
test, is cropped at that relative place scaled to its own size and resized to `size` (`face_crop_samples`); the
points follow (`extras["crop_affine"]` maps image to crop pixels) and may fall outside the crop. Table 1
protocol: Helen and LFPW train on their trainset and test on their testset; IBUG (test only) is predicted by a
model trained on Helen + LFPW trainsets + AFW (the 300-W convention). Segmentation: label maps are resized
(nearest) to `label_size` so they stack.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from convcorr_jax.core.errors import InputError
from convcorr_jax.data import synthetic
from convcorr_jax.core.geometry import box_to_affine, crop, points_box, square_box, transform_points

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


MIN_TRAIN = 4
"""Fewest training samples of a synthetic set: the 4-fold CV of every ridge fit needs one per fold."""


def _check_split(train: list, test: list, field: str, n: int) -> tuple[list, list]:
    """(train, test) unchanged, or InputError naming the config field `field` (= n) when the set's ~75 / 25 split
    leaves fewer than `MIN_TRAIN` training or no test samples (a traceback or an empty table further on)."""
    if len(train) < MIN_TRAIN or not test:
        raise InputError("config", field, f"a set whose ~75 / 25 split leaves at least {MIN_TRAIN} train and 1 test "
                         "samples (about 8 or more)", f"{n}: {len(train)} train / {len(test)} test")
    return train, test


def synthetic_faces(cfg) -> tuple[list, list]:
    """(train, test) synthetic faces of `cfg.n_faces` at `cfg.face_size` px (InputError: a split too small, or a
    face_size the synthetic faces are not drawn at, naming face_size, not the loader's image_size)."""
    try:
        train, test = (list(synthetic.load_faces(n=cfg.n_faces, seed=cfg.seed, split=sp, image_size=cfg.face_size))
                       for sp in ("train", "test"))
    except InputError as e:
        if e.field != "image_size":
            raise
        raise InputError("config", "face_size", f"{e.expected} (the synthetic faces' side in px)", e.got) from None
    return _check_split(train, test, "n_faces", cfg.n_faces)


def synthetic_objects(cfg) -> tuple[list, list]:
    """(train, test) synthetic object instances (keypoints, boxes) (InputError: a split too small)."""
    train, test = (list(synthetic.load_objects(n=cfg.n_objects, seed=cfg.seed, split=sp)) for sp in ("train", "test"))
    return _check_split(train, test, "n_objects", cfg.n_objects)


def synthetic_segmentation(cfg) -> tuple[list, list, tuple[str, ...]]:
    """(train, test, class names) of the synthetic objects' label maps (InputError: a split too small)."""
    tr, te = (list(synthetic.load_objects_segmentation(n=cfg.n_objects, seed=cfg.seed, split=sp))
              for sp in ("train", "test"))
    tr, te = _check_split(tr, te, "n_objects", cfg.n_objects)
    return tr, te, ("background",) + tuple(synthetic.OBJECT_CATEGORIES)


def random_split(samples, seed: int) -> tuple[list, list]:
    """A deterministic 75 / 25 split."""
    idx = np.random.default_rng(seed).permutation(len(samples))
    cut = int(round(0.75 * len(samples)))
    return [samples[i] for i in idx[:cut]], [samples[i] for i in idx[cut:]]


@dataclasses.dataclass(frozen=True)
class RelativeBox:
    """A square crop rule in image-relative units: centre (cx / width, cy / height) and side / max(width, height)."""

    centre: tuple[float, float]
    side: float

    def box(self, width: int, height: int) -> np.ndarray:
        """The crop box [4] (x0, y0, x1, y1) in the pixels of a width x height image."""
        c = np.array([self.centre[0] * width, self.centre[1] * height])
        return square_box(c, self.side * max(width, height))


def mean_shape_box(train, margin: float = 0.25) -> RelativeBox:
    """The crop rule from training faces only: centred on the box of their mean shape in image-relative
    coordinates (x / width, y / height); its side the longer side of their mean shape's box in units of
    max(width, height) (the unit of `RelativeBox.side`, so that on any image's aspect the square spans the face's
    longer pixel extent), enlarged by `margin` of that side on each side."""
    rel, unit = [], []
    for s in train:
        h, w = s.with_image().loaded_image().shape[:2]
        p = np.asarray(s.points, np.float64)
        rel.append(p / np.array([w, h]))
        unit.append(p / max(w, h))
    tight, span = points_box(np.mean(rel, axis=0)), points_box(np.mean(unit, axis=0))
    side = (1 + 2 * margin) * float(np.max(span[2:] - span[:2]))
    c = (tight[:2] + tight[2:]) / 2
    return RelativeBox((float(c[0]), float(c[1])), side)


def face_crop_samples(samples, rule: RelativeBox, size: int = 128) -> list:
    """Square face crops at `rule`'s place in each image (samples with `image` set, points in crop pixels,
    extras["crop_affine"] [2, 3]); the crop depends on the image size only, never on the sample's points."""
    out = []
    for s in samples:
        whole = s.with_image().loaded_image()
        h, w = whole.shape[:2]
        M = box_to_affine(rule.box(w, h), size)
        image = crop(np.asarray(whole, np.uint8)[None], M[None], size, border="constant")[0]
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
    """The 300-W Table 1 splits of the folder `root` as face crops of `size` px (crop rule per split from its
    training faces: `mean_shape_box`). InputError (naming `root`) when the folder forms none of the splits, rather
    than an empty table."""
    from convcorr_jax.data.faces300w import load_300w

    samples = list(load_300w(root, require_images=True))
    splits = split_300w(samples)
    if not splits:
        parts = sorted({f"{s.extras['subset']}/ ({s.extras['split']})" for s in samples if s.extras.get("split")})
        raise InputError(root, "data_root", "a 300-W folder: helen/ or lfpw/ with trainset/ and testset/, or ibug/ "
                         "beside a training part (helen/trainset, lfpw/trainset, afw/)",
                         f"{len(samples)} .pts files" + (f", only {', '.join(parts)}" if parts else
                                                         ", none in those folders"))
    out = {}
    for name, (tr, te) in splits.items():
        rule = mean_shape_box(tr)  # from the training split only
        out[name] = (face_crop_samples(tr, rule, size), face_crop_samples(te, rule, size))
    return out


def resize_labels(labels: list[np.ndarray], size: int) -> np.ndarray:
    """Nearest-neighbour resize of label maps to [N, size, size] (void stays 255)."""
    return np.stack([np.asarray(Image.fromarray(np.asarray(l, np.uint8)).resize((size, size), Image.Resampling.NEAREST))
                     for l in labels])


def voc_segmentation(root, label_size: int) -> tuple[list, list, tuple[str, ...]]:
    """VOC 2012 train (fit) / val (evaluate), images and labels resized to `label_size` squares."""
    from convcorr_jax.data.voc_segmentation import load_voc_segmentation
    from convcorr_jax.regression.features import resize_images

    def prep(image_set):
        ss = list(load_voc_segmentation(root, image_set=image_set, with_images=True))
        labels = resize_labels([s.label for s in ss], label_size)
        ims = [resize_images(s.loaded_image()[None], (label_size, label_size))[0] for s in ss]
        return [dataclasses.replace(s, label=l, image=i) for s, l, i in zip(ss, labels, ims)]

    return prep("train"), prep("val"), VOC_CLASSES


def voc_keypoints(annotations, voc_root, seed: int) -> tuple[list, list]:
    """PASCAL VOC keypoint instances (annotations `<class>/*.xml`, images from the VOC2011 folder), random 75/25."""
    from convcorr_jax.data.voc_keypoints import load_voc_keypoints

    return random_split(list(load_voc_keypoints(annotations, voc_root, with_images=True)), seed)


def flic_frames(root, split: str, n: int | None, seed: int) -> dict[str, np.ndarray]:
    """A seeded sub-sample of `n` FLIC `split` frames (all when None), whole frames as stored on disk.

    Returns images uint8 [N, H, W, 3] (360 x 240 for the 2x downscaled FLIC), points [N, 11, 2] (0-based, on the
    on-disk image; `FLIC_LABELLED_NAMES`), torso [N] (|lsho - rhip|, the FLIC PCK normaliser, on-disk pixels),
    torso_box [N, 4], moviename [N], index [N] (into examples.mat)."""
    from convcorr_jax.data.flic import load_flic

    people = list(load_flic(root, split=split))
    if n is not None and n < len(people):
        keep = np.sort(np.random.default_rng(seed).choice(len(people), n, replace=False))
        people = [people[i] for i in keep]
    return {"images": np.stack([s.with_image().loaded_image() for s in people]),
            "points": np.stack([s.points for s in people]).astype(np.float32),
            "torso": np.array([s.extras["torso_size"] for s in people], np.float64),
            "torso_box": np.stack([s.extras["torso_box"] for s in people]).astype(np.float64),
            "moviename": np.array([s.extras["moviename"] for s in people]),
            "index": np.array([s.extras["index"] for s in people], np.int64),
            "names": np.array(people[0].names)}
