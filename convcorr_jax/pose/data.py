"""Pose data: the arrays a pose model trains and is scored on, their loading for any registered pose dataset
(`data.pose_sets`: synthetic people, FLIC, MPII, COCO-format folders, LSP, and kinds users register) and the
training input pipeline (grain).

    train, held_out = load_pose_arrays("flic", root, image_size=128)  # PoseArrays (FLIC: train / validation movies)
    crops = flic_crops(root, "test", 128)                           # PoseCrops: arrays + image -> crop affines
    ds = train_dataset(train, batch_size=16, steps=6000, seed=0, shard=shard_of(rows, 16))
    ds[t]                                                           # this process's rows of step t's batch
    it = iter(ds.to_iter_dataset(READ_OPTIONS)); it.set_state({"next_index": t})   # the same, as an iterator

Arrays (`PoseArrays`, `pose.person_crops`): images uint8 [N, S, S, 3] (NHWC), points float32 [N, K, 2] (0-based
(x, y) pixels, 0 where missing), visible bool [N, K] (labelled joints: targets and PCK use occluded-but-annotated
joints too), norm float32 [N] (the PCK normaliser in pixels, see `headline`).

`load_pose_arrays` reads a kind's train split and its held-out split (`PoseDataset.held_out`: FLIC's validation
movies, MPII's valid.h5, the val split of COCO-format folders and LSP, synthetic people's test part) as the kind's
crop protocol makes them (`pose.person_crops`: cached, memory-mapped). FLIC's protocols and splits:
`data.flic_people` ("person" crops around the torso box, whole "frame"s letterboxed, "native" frames at their pixel
size; norm the torso size |l shoulder - r hip|); MPII's: `data.mpii_people` (squares of 200 x 1.25 x the stored
scale; norm the head size, so PCK@0.5 is PCKh@0.5). `to_original` in `pose.predict` maps crop pixels back through the
stored affines.

Training pipeline (`train_dataset`, a grain `MapDataset`): element t is this process's rows of step t's global
batch: image uint8 [R, S, S, 3], points [R, K, 2], visible [R, K], key uint32 [R, 2] (the sample's PRNG key:
augmentation and SpatialDropout). Global batch t holds the samples at positions t * B .. t * B + B - 1 of one
stream made of consecutive permutations of the dataset, one per epoch (`record_index`), and sample (t, row) has
key `sample_keys(seed, t, B)[row]`: a function of (seed, t) only, whatever the process and device count. A
process reads only its rows (`shard_of`: grain `ShardOptions` of its `parallel.local_rows`), and its iterator's
state is {"next_index": t} on every process, so a checkpointed state resumes in any process count.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any
from pathlib import Path

import grain
import jax
import numpy as np

from convcorr_jax.core.crop_geometry import PERSON_BOX_SCALE, square_affines
from convcorr_jax.data import mpii, pose_sets
from convcorr_jax.data.flic_people import (FLIC_SPLITS, PROTOCOLS, VAL_FRACTION, VAL_SEED,  # noqa: F401
                                           flic_ground_truth, flic_sample_affines, flic_split, flic_torso_norm,
                                           split_indices)
from convcorr_jax.data.mpii_people import h5_people
from convcorr_jax.data.pose_dataset import PersonSet, torso_size  # noqa: F401
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose.person_crops import (PoseArrays, PoseCrops, crop_images, loader_options,  # noqa: F401
                                            person_crops, person_set)

KINDS = pose_sets.KINDS  # the registered kinds (a live view)
READ_OPTIONS = grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)  # rows are in (mapped) memory


def headline(kind: str) -> tuple[str, float]:
    """(name, alpha) of a dataset kind's headline score (`PoseDataset.headline`).

    Args:
        kind: a registered pose dataset kind (`KINDS`).

    Returns:
        (score name, alpha): ("PCKh", 0.5) for "mpii" (norm = head size), ("PCK", 0.05) for FLIC and synthetic
        people (torso-normalised, Tompson et al. Table 3), ("PCK", 0.2) for COCO-format folders, LSP and, by
        default, registered kinds (the skeleton's normaliser).
    """
    return pose_sets.dataset(kind).headline


def _arrays_from_samples(samples: Sequence[KeypointSample], image_size: int, skeleton: Skeleton) -> PoseArrays:
    """KeypointSamples -> PoseArrays: the inputs of the "synthetic" kind's protocol (its images as they are).

    Args:
        samples: KeypointSamples with square image_size x image_size uint8 RGB images (loaded or on disk) and
            person boxes (`bbox`).
        image_size: the images' side (pixels).
        skeleton: the samples' skeleton (its torso ends give the norm).

    Returns:
        PoseArrays: images uint8 [N, S, S, 3], points float32 [N, K, 2] (0-based (x, y) pixels, 0 where missing),
        visible bool [N, K], norm float32 [N] = `torso_size` (the skeleton's torso ends).

    Raises:
        InputError: no samples, or an image not image_size x image_size.
    """
    if not samples:
        raise InputError("arrays_from_samples", "samples", "at least one sample", 0)
    boxes = np.stack([np.asarray(s.bbox, np.float64) for s in samples])
    people = PersonSet(list(samples), skeleton, boxes, boxes, "samples")
    return person_crops("synthetic", None, "train", image_size, people=people).arrays


def load_pose_arrays(kind: str, root: str | os.PathLike | None, image_size: int, n_samples: int = 1000, seed: int = 0,
         crop_scale: float = PERSON_BOX_SCALE, protocol: str = "person",
         options: dict | None = None) -> tuple[PoseArrays, PoseArrays]:
    """(train, held-out) arrays of a registered dataset kind (module docstring): its "train" split and its
    `held_out` split under its crop protocol (`protocol`: FLIC's person crops or whole frames).

    Args:
        kind: a registered kind (`KINDS`).
        root: the dataset folder (synthetic people: none).
        image_size: the inputs' side (pixels).
        n_samples: synthetic people: how many are generated.
        seed: synthetic people: their seed.
        crop_scale: person-crop side / the person box's longer side.
        protocol: one of the kind's protocols.
        options: the loader's other options (LSP: train_images).

    Returns:
        (train, held-out) PoseArrays (`carved`: how a split carved from another was made, also logged);
        InputError for a bad kind, folder or annotation, or a held-out split whose keypoints differ from train's.
    """
    entry = pose_sets.dataset(kind)
    given = {"n_samples": n_samples, "seed": seed, "input_size": image_size, **(options or {})}
    opts = {name: given[name] for name in entry.options if name in given}
    train, held = (person_set(kind, root, split, **opts) for split in ("train", entry.held_out))
    if held.skeleton.names != train.skeleton.names:
        raise InputError(held.source, "keypoints", f"the keypoints of {train.source} {list(train.skeleton.names)}",
                         list(held.skeleton.names))
    train_arrays, held_arrays = (person_crops(kind, root, split, image_size, crop_scale, people=people,
                                              protocol=protocol, **opts).arrays
                                 for split, people in (("train", train), (entry.held_out, held)))
    return train_arrays, held_arrays


# --- the crops of FLIC and MPII by their files ---------------------------------------------------------------

def flic_crops(root: str | os.PathLike, split: str, image_size: int, crop_scale: float = PERSON_BOX_SCALE,
               fraction: float = VAL_FRACTION, seed: int = VAL_SEED, protocol: str = "person") -> PoseCrops:
    """Person crops (or, with protocol "frame" / "native", whole frames) of one FLIC split (`data.flic_people`).

    Resized to image_size px; built once, then cached (`person_crops`).

    Args:
        root: the FLIC folder.
        split: one of FLIC's splits (`FLIC_SPLITS`).
        image_size: the crops' side (pixels).
        crop_scale: person-crop side / the person box's longer side.
        fraction, seed: the validation movies' fraction and seed (only non-default values enter the cache key).
        protocol: "person", "frame" or "native" (`PROTOCOLS`).

    Returns:
        PoseCrops: arrays (images uint8 [N, S, S, 3], points in crop pixels, norm the torso size), image -> crop
        affines [N, 2, 3], annotation positions, movie names, torso centres.
    """
    opts: dict[str, Any] = {} if (fraction, seed) == (VAL_FRACTION, VAL_SEED) else {"fraction": fraction, "seed": seed}
    return person_crops("flic", root, split, image_size, crop_scale, protocol=protocol, **opts)


def _mpii_crops(h5: str | os.PathLike, image_root: str | os.PathLike, image_size: int) -> PoseCrops:
    """Person crops of the people of an hourglass MPII h5 (`data.mpii_people`); built once, then cached.

    Args:
        h5: the hourglass annotation file (e.g. train.h5, valid.h5); its stem names the split.
        image_root: the folder of MPII's images.
        image_size: the crops' side (pixels).

    Returns:
        PoseCrops: arrays (images uint8 [N, S, S, 3], points in crop pixels, norm the head size), image -> crop
        affines [N, 2, 3], annotation positions, stored centres in crop pixels.
    """
    people = h5_people(h5, image_root)
    return person_crops("mpii", Path(h5).parent, Path(h5).stem, image_size, people=people)


def _mpii_affines(centers: np.ndarray, scales: np.ndarray, size: int) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of MPII person crops (`data.mpii.person_square`).

    Args:
        centers: [N, 2] the stored (x, y) centres, 0-based image pixels.
        scales: [N] the stored scales (the square's side is `mpii.PERSON_SIDE_PER_SCALE` x scale).
        size: the crops' side (pixels).

    Returns:
        float64 [N, 2, 3] affines, image pixels -> crop pixels.
    """
    return square_affines(*mpii.person_square(centers, scales), size)


def mpii_person_crops(samples: Sequence[KeypointSample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 [N, size, size, 3], image -> crop affines [N, 2, 3]) of MPII people (`load_mpii_h5` samples).

    Args:
        samples: MPII KeypointSamples with extras "center" [2] and "scale" (images loaded or on disk).
        size: the crops' side (pixels).

    Returns:
        (crops uint8 RGB [N, size, size, 3], bilinear and black outside the image; float64 [N, 2, 3] image -> crop
        affines).
    """
    affine = _mpii_affines(np.stack([s.extras["center"] for s in samples]),
                          np.array([s.extras["scale"] for s in samples]), size)
    return crop_images(samples, affine, size), affine


# --- training pipeline ---------------------------------------------------------------------------------------

def shard_of(rows: slice, batch_size: int) -> grain.sharding.ShardOptions:
    """The grain shard of a process that feeds `rows` (`parallel.local_rows`) of every global batch.

    One process: (0, 1), `NoSharding`; processes that feed their rows in process order: `ShardByJaxProcess`'s
    (process index, process count).

    Args:
        rows: the process's rows of each global batch (step 1), a block aligned to its length.
        batch_size: the global batch size.

    Returns:
        ShardOptions with shard_index = rows.start / len(rows), shard_count = batch_size / len(rows).

    Raises:
        InputError: rows empty or not an aligned block of the batch.
    """
    n = rows.stop - rows.start
    if n <= 0 or batch_size % n or rows.start % n:
        raise InputError("shard_of", "rows", f"an aligned block of rows of a batch of {batch_size}", rows)
    return grain.sharding.ShardOptions(shard_index=rows.start // n, shard_count=batch_size // n)


def sample_keys(seed: int, step: int, batch_size: int) -> np.ndarray:
    """Raw PRNG keys uint32 [batch_size, 2] of the samples of a step's global batch (augmentation, dropout).

    Args:
        seed: the run's seed.
        step: the training step (folded into the seed's key).
        batch_size: the global batch size.

    Returns:
        uint32 [batch_size, 2] numpy keys, row r for the batch's row r.
    """
    return np.asarray(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), step), batch_size))


@functools.lru_cache(maxsize=2)
def _step_keys(seed: int, step: int, batch_size: int) -> np.ndarray:
    return sample_keys(seed, step, batch_size)


@functools.lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def record_index(n: int, seed: int, position: int) -> int:
    """Dataset row at `position` (step * batch + row) of the training stream.

    Args:
        n: the dataset's row count.
        seed: the run's seed.
        position: the stream position, step * batch + row (>= 0).

    Returns:
        int row in [0, n): epoch e = position // n is one permutation of the n rows, seeded by (seed, e).
    """
    epoch, pos = divmod(int(position), n)
    return int(_epoch_order(n, seed, epoch)[pos])


def train_dataset(data: PoseArrays, batch_size: int, steps: int, seed: int,
                  shard: grain.sharding.ShardOptions = grain.sharding.NoSharding()) -> grain.MapDataset:
    """The training batches (module docstring) of `steps` steps.

    Args:
        data: the training PoseArrays (images uint8 [N, S, S, 3], points [N, K, 2], visible [N, K]).
        batch_size: the global batch size B.
        steps: how many batches.
        seed: the run's seed (sample order and keys).
        shard: this process's shard (`shard_of`).

    Returns:
        grain MapDataset of `steps` elements: element t = the shard's R = B / shard_count rows of global batch t,
        read from `data` only at those rows, {"image": uint8 [R, S, S, 3], "points": [R, K, 2], "visible":
        [R, K], "key": uint32 [R, 2]}.

    Raises:
        InputError: no training rows, or batch_size not a multiple of the shard count.
    """
    if len(data) == 0:
        raise InputError("training data", "samples", "at least one training sample", 0)
    if batch_size % shard.shard_count:
        raise InputError("train_dataset", "batch_size", f"a multiple of the shard count {shard.shard_count}",
                         batch_size)
    local = batch_size // shard.shard_count
    n = len(data)

    def element(i: int) -> dict[str, np.ndarray]:
        step, j = divmod(i, local)
        row = shard.shard_index * local + j
        r = record_index(n, seed, step * batch_size + row)
        return {"image": data.images[r], "points": data.points[r], "visible": data.visible[r],
                "key": _step_keys(seed, step, batch_size)[row]}

    return grain.MapDataset.range(steps * local).map(element).batch(local, drop_remainder=True)
