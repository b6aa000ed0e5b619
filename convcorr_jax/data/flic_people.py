"""FLIC as a pose dataset kind ("flic" of `data.pose_sets`): its splits and its crop protocols.

    samples = flic_split(root, "val")                         # the frames of a split (parsed once per process)
    people = people(root, "train")                            # PersonSet: boxes = the torso boxes
    inputs = DATASET.inputs(people, 128, 2.5, "person")       # Inputs: affines, torso size, torso box centres

Splits: "train" (FLIC train minus the validation movies), "val" (those movies: `data.flic_split.movie_split`,
fraction `VAL_FRACTION`, seed `VAL_SEED`), "trainval", "test". Protocols: "person" (a square around the torso box
FLIC gives for the person to be evaluated, side crop_scale x the box's longer side, `crop_geometry.person_square`),
"frame" (Tompson et al.'s input: the whole frame letterboxed in a square of its longer side, black above and below)
and "native" (the whole frame at its on-disk pixel size centred in the image_size square, black around it, no
resampling: image_size must be at least the frames' longer side). norm: the torso size |l shoulder - r hip| (MODEC)
in input pixels; torso: the torso box's centre in input pixels.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.core.crop_geometry import PERSON_BOX_SCALE, flic_affines, frame_affines
from convcorr_jax.data import flic
from convcorr_jax.data.flic_split import movie_split
from convcorr_jax.data.pose_dataset import Inputs, PersonSet, PoseDataset, crop_points, labelled
from convcorr_jax.data.skeletons import FLIC
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError

FLIC_SPLITS = ("train", "val", "trainval", "test")
PROTOCOLS = ("person", "frame", "native")  # FLIC inputs: person crops, whole frames letterboxed or at native size
VAL_FRACTION = 0.15
VAL_SEED = 0


def flic_sample_affines(samples: Sequence[KeypointSample], size: int, scale: float = PERSON_BOX_SCALE,
                        protocol: str = "person") -> tuple[np.ndarray, np.ndarray]:
    """(image -> crop affines, torso box centres in crop pixels) of FLIC samples (`load_flic`) under `protocol`.

    Protocols (module docstring): "person" crops (`flic_affines`), whole "frame"s (the square of the frame's longer
    side, centred on the frame) or "native" frames; frame size from extras image_size, else imgdims.

    Args:
        samples: N FLIC samples (extras torso_box, image_size or imgdims).
        size: the inputs' side, pixels.
        scale: the person square's side over the torso box's longer extent ("person" only).
        protocol: "person", "frame" or "native".

    Returns:
        (affine, torso): float64 [N, 2, 3] image -> input pixels, and float32 [N, 2] torso box centres in input
        pixels.

    Raises:
        InputError: for an unknown protocol, or "native" with a frame longer than `size`.
    """
    boxes = np.stack([s.extras["torso_box"] for s in samples]).astype(np.float64)
    if protocol == "person":
        affine = flic_affines(boxes, size, scale)
    elif protocol in ("frame", "native"):
        wh = np.array([s.extras.get("image_size") or s.extras["imgdims"][1::-1] for s in samples], np.float64)
        if protocol == "native" and wh.max() > size:
            raise InputError("FLIC frames", "model.image_size", f">= the frames' longer side {int(wh.max())} "
                             "(protocol 'native' never downscales)", size)
        affine = frame_affines(wh, size, native=protocol == "native")
    else:
        raise InputError("FLIC crops", "protocol", f"one of {PROTOCOLS}", protocol)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return affine, np.asarray(geometry.transform_points(centres[:, None], affine), np.float32)[:, 0]


def flic_ground_truth(samples: Sequence[KeypointSample], size: int, scale: float = PERSON_BOX_SCALE,
                      protocol: str = "person") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLIC samples' annotations in the inputs of `flic_sample_affines` (annotations only, no image read).

    Args:
        samples: N FLIC samples with K points each.
        size, scale, protocol: as `flic_sample_affines`.

    Returns:
        (points, visible, torso): points float64 [N, K, 2] input pixels, NaN where missing; visible bool [N, K]:
        labelled and finite; torso box centres float32 [N, 2] input pixels.
    """
    affine, torso = flic_sample_affines(samples, size, scale, protocol)
    pts = np.asarray(geometry.transform_points(np.stack([s.points for s in samples]).astype(np.float64), affine))
    return pts, np.stack([labelled(s, p) for s, p in zip(samples, pts)]), np.asarray(torso, np.float32)


def flic_torso_norm(points: np.ndarray) -> np.ndarray:
    """FLIC's PCK normaliser [N] of points [N, 11, 2]: |l shoulder - r hip| (MODEC), in the points' pixels.

    Args:
        points: [N, 11, 2] (x, y) pixels in FLIC's labelled-joint order.

    Returns:
        [N] torso sizes, the points' dtype (NaN where an end is missing).
    """
    ends = FLIC.torso
    assert ends is not None  # FLIC's skeleton names its torso joints
    return np.linalg.norm(points[:, ends[0]] - points[:, ends[1]], axis=-1)


def split_indices(movies: Sequence[str], split: str, fraction: float = VAL_FRACTION,
                  seed: int = VAL_SEED) -> np.ndarray:
    """Positions (into FLIC train's frames, one movie name each) of split "train", "val" or "trainval".

    Args:
        movies: the movie name of each FLIC train frame.
        split: "train", "val" (by movie, `data.flic_split.movie_split`) or "trainval" (every frame).
        fraction, seed: the validation movies' part of the frames and the seed of their draw.

    Returns:
        int64 [M] sorted positions into `movies`.
    """
    if split == "trainval":
        return np.arange(len(movies), dtype=np.int64)
    tr, va = movie_split(movies, fraction, seed)
    return {"train": tr, "val": va}[split]


def _flic_stamp(root: str | os.PathLike) -> tuple:
    """What identifies a FLIC folder's annotations for `_flic_frames`: the resolved examples.mat (folder or the .mat
    itself) with its size and modification time, and the modification time of images/ beside it (None if absent)."""
    try:
        mat, folder = flic.resolve(root)
    except InputError:
        return (str(root), None)  # load_flic raises its error; nothing is cached
    st, images = mat.stat(), folder / "images"
    return (str(mat.resolve()), st.st_size, st.st_mtime_ns, images.stat().st_mtime_ns if images.is_dir() else None)


@functools.lru_cache(maxsize=8)
def _flic_frames(root: str, stamp: tuple, part: str) -> tuple[KeypointSample, ...]:
    del stamp  # part of the cache key only: examples.mat or images/ changed -> read again
    return tuple(flic.load_flic(root, split=part))


def flic_split(root: str | os.PathLike, split: str, fraction: float = VAL_FRACTION,
               seed: int = VAL_SEED) -> list[KeypointSample]:
    """The frames of a FLIC split of the FLIC folder `root`; InputError when the split has none.

    The annotations are parsed once per process and version of examples.mat and images/ (`_flic_stamp`); each
    call returns a new list of the (frozen) samples.

    Args:
        root: the FLIC folder (or its examples.mat).
        split: "train", "val", "trainval" (FLIC train by movie, `split_indices`) or "test".
        fraction, seed: the validation movies' part of FLIC train and the seed of their draw.

    Returns:
        list of `KeypointSample`s (`load_flic`, 11 labelled joints), in file order.

    Raises:
        InputError: from `load_flic`, or when the split has no frames.
    """
    samples = list(_flic_frames(str(root), _flic_stamp(root), "test" if split == "test" else "train"))
    if split != "test":
        keep = split_indices([s.extras["moviename"] for s in samples], split, fraction, seed)
        samples = [samples[i] for i in keep]
    if not samples:
        raise InputError(root, "split", f"frames in FLIC split {split!r}", 0)
    return samples


def examples_mat(root: str | os.PathLike) -> Path:
    """The examples.mat of the FLIC folder `root` (or `root` itself when it is that file), checked to exist.

    Args:
        root: the FLIC folder (examples.mat, images/) or its examples.mat.

    Returns:
        the path of examples.mat.

    Raises:
        InputError: `root` is a file other than examples.mat (naming it), or there is no examples.mat.
    """
    root = Path(root)
    if root.is_file() and root.name != "examples.mat":
        raise InputError(root, "root", "the FLIC folder (examples.mat, images/) or its examples.mat", "another file")
    mat = root / "examples.mat" if root.is_dir() else root
    if not mat.is_file():
        raise InputError(mat, "examples.mat", "an existing FLIC examples.mat", "missing file")
    return mat


def people(root: str | os.PathLike, split: str, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> PersonSet:
    """The people (one per frame) of a FLIC split (module docstring) of the FLIC folder `root` (or its
    examples.mat); boxes: their torso boxes.

    Args:
        root: the FLIC folder.
        split: one of `FLIC_SPLITS`.
        fraction: the validation movies' part of FLIC train.
        seed: the seed of their draw.

    Returns:
        the PersonSet (source: examples.mat).

    Raises:
        InputError: a bad split; from `examples_mat` and `flic_split`.
    """
    if split not in FLIC_SPLITS:
        raise InputError("flic_crops", "split", f"one of {FLIC_SPLITS}", split)
    mat = examples_mat(root)
    samples = flic_split(mat.parent, split, fraction, seed)
    boxes = np.stack([s.extras["torso_box"] for s in samples]).astype(np.float64)
    return PersonSet(samples, FLIC, boxes, boxes, os.fspath(mat))


def _flic_inputs(people: PersonSet, image_size: int, crop_scale: float = PERSON_BOX_SCALE,
                protocol: str = "person") -> Inputs:
    """FLIC's crop protocols (module docstring): `flic_sample_affines`, the torso size in input pixels.

    Args:
        people: FLIC people (`people`).
        image_size: the inputs' side (pixels).
        crop_scale: person-crop side / the torso box's longer side.
        protocol: "person", "frame" or "native".

    Returns:
        the Inputs.
    """
    if protocol not in PROTOCOLS:
        raise InputError("FLIC crops", "protocol", f"one of {PROTOCOLS}", protocol)
    affine, torso = flic_sample_affines(people.samples, image_size, crop_scale, protocol)
    return Inputs(affine, flic_torso_norm(crop_points(people.samples, affine)), torso)


DATASET = PoseDataset(people, FLIC, inputs=_flic_inputs, protocols=PROTOCOLS, headline=("PCK", 0.05),
                      splits=FLIC_SPLITS, held_out_about="validation movies",
                      root_about="a folder with FLIC's examples.mat and images/", label="FLIC",
                      train_about="train minus the validation movies")
