"""One pose model from several datasets and skeletons (mmpose's CombinedDataset with its KeypointConverter): each
dataset's people mapped onto the model's skeleton by joint name, cropped from a person box as detectors draw it,
and mixed in every training batch by fixed shares.

    parts = (DataPart("flic", FLIC, 0.5),                               # pose.data_part.DataPart
             DataPart("lsp", LSPET, 0.5, options=tuple(lsp.LSPET_PARTS.items())))
    train = _mixture_arrays(parts, skeletons.PERSON, "train", 128)        # [PoseArrays] one per part
    ds = _mixed_dataset(train, shares(parts), batch_size=16, steps=1000, seed=0)   # grain MapDataset

A part's people (`data.pose_sets`) keep their dataset's splits; their joints are carried onto the model's skeleton
(`data.joint_map`: by name, or by the part's `joints` pairs), a joint the dataset lacks is unlabelled (out of the
loss and the scores). Every person is cropped the same way, at training and at inference (`estimate(...,
person_boxes=...)`): a square about the person box (`person_boxes.boxes_from_joints`: the labelled joints' tight
box, each side moved out by `JOINTS_MARGIN` of its longer side), side crop_scale x the box's longer side
(`data.pose_dataset.box_inputs`); box jitter is the augmentation's shift and scale (`pose.augment`). The PCK
normaliser is the model skeleton's (the person skeleton: the torso, l shoulder - r hip).

Batch t holds round(share_i x B) rows of part i (the largest remainders get the rows rounding leaves), each part
read as its own stream of epochs (`data.record_index` with the seed folded with the part's position), so a part's
share of every batch is fixed whatever its size; keys are `data.sample_keys(seed, t, B)` as for one dataset.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Sequence

import grain
import numpy as np

from convcorr_jax.core import cache
from convcorr_jax.core.paths import cache_dir
from convcorr_jax.data import joint_map, pose_sets
from convcorr_jax.data.pose_dataset import PersonSet, box_inputs
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import data
from convcorr_jax.pose.data_part import DataPart
from convcorr_jax.pose.person_boxes import JOINTS_MARGIN, boxes_from_joints
from convcorr_jax.pose.person_crops import PoseArrays, PoseCrops, person_crops, person_set


def shares(parts: Sequence[DataPart]) -> np.ndarray:
    """The parts' shares of every batch, float64 [P] summing to one.

    Args:
        parts: the mixture.

    Returns:
        the normalised shares.
    """
    s = np.array([p.share for p in parts], np.float64)
    return s / s.sum()


def mapped_people(part: DataPart, skeleton: Skeleton, split: str) -> PersonSet:
    """A part's people of `split` on the model's skeleton, with person boxes drawn from their labelled joints.

    Args:
        part: the dataset.
        skeleton: the model's skeleton.
        split: one of the kind's splits.

    Returns:
        a PersonSet: samples with points [K_model, 2] (NaN where the dataset lacks the joint) and
        extras["labelled"]; boxes and norm_boxes the person boxes (module docstring).

    Raises:
        InputError: a bad part, or no person with a labelled joint of the model's skeleton.
    """
    part.check()
    people = person_set(part.kind, part.root, split, **dict(part.options))
    index = joint_map.joint_index(people.skeleton, skeleton, dict(part.joints) if part.joints else None)
    samples = []
    for s in people.samples:
        lab = np.asarray(s.extras.get("labelled", s.visible), bool)
        pts, (ok, vis) = joint_map.map_joints(np.asarray(s.points, np.float64), np.stack([lab, s.visible]), index)
        samples.append(KeypointSample(pts.astype(np.float32), vis, skeleton.names, s.bbox, s.category, s.id, s.image,
                                      s.image_path, {**s.extras, "labelled": ok}))
    keep = [i for i, s in enumerate(samples) if s.extras["labelled"].any()]
    if not keep:
        raise InputError(people.source, "keypoints", f"people with a joint of the {skeleton.name} skeleton", 0)
    samples = [samples[i] for i in keep]
    pts = np.stack([np.where(s.extras["labelled"][:, None], s.points, np.nan) for s in samples])
    boxes = boxes_from_joints(pts, JOINTS_MARGIN)
    return PersonSet(samples, skeleton, boxes, boxes, people.source, people.no_keypoints + len(people) - len(keep),
                     people.carved, people.left_out)


def _part_crops(part: DataPart, skeleton: Skeleton, split: str, image_size: int, crop_scale: float = 1.0
               ) -> PoseCrops:
    """A part's person crops of `split` on the model's skeleton (module docstring); built once, then cached.

    Args:
        part: the dataset.
        skeleton: the model's skeleton.
        split: one of the kind's splits.
        image_size: the crops' side (pixels).
        crop_scale: crop side / the person box's longer side.

    Returns:
        the PoseCrops (arrays with K_model joints, image -> crop affines, annotation positions, box centres).
    """
    people = mapped_people(part, skeleton, split)
    key = {**dict(part.options), "skeleton": skeleton.name, "joints": [list(p) for p in part.joints],
           "names": list(skeleton.names), "person_box_margin": JOINTS_MARGIN, "mapping_code": _mapping_code()}
    return person_crops(part.kind, part.root, split, image_size, crop_scale, people=people, crop=box_inputs,
                        **key)


def _mapping_code() -> str:
    """The version of the code that maps a part's people onto the model's skeleton and draws their boxes (this
    module, `data.joint_map`, `pose.person_boxes`): part of a part's crops' cache key, so that a change to the
    mapping rebuilds them (`person_crops` keys only the kind's reader and the crop protocol)."""
    return cache.code_version(__name__, joint_map.__name__, boxes_from_joints.__module__)


def _mixture_arrays(parts: Sequence[DataPart], skeleton: Skeleton, split: str, image_size: int,
                   crop_scale: float = 1.0) -> list[PoseArrays]:
    """Every part's arrays of `split` (`_part_crops`), in the parts' order.

    Args:
        parts: the mixture (at least one part).
        skeleton: the model's skeleton.
        split: "train", or each part's held-out split with "held_out" (`PoseDataset.held_out`).
        image_size: the crops' side (pixels).
        crop_scale: crop side / the person box's longer side.

    Returns:
        one PoseArrays per part (points [N_i, K_model, 2], visible [N_i, K_model]).
    """
    if not parts:
        raise InputError("config", "datasets", "at least one dataset", 0)
    out = []
    for p in parts:
        s = pose_sets.dataset(p.kind).held_out if split == "held_out" else split
        out.append(_part_crops(p, skeleton, s, image_size, crop_scale).arrays)
    return out


def _batch_rows(weights: np.ndarray, batch_size: int) -> np.ndarray:
    """Rows of every batch per part: round(w_i x B), the rows rounding leaves to the largest remainders.

    Args:
        weights: float [P] summing to one.
        batch_size: B.

    Returns:
        int [P] summing to B.

    >>> _batch_rows(np.array([0.5, 0.3, 0.2]), 16).tolist()
    [8, 5, 3]
    """
    raw = np.asarray(weights, np.float64) * batch_size
    rows = np.floor(raw).astype(np.int64)
    rows[np.argsort(-(raw - rows), kind="stable")[:batch_size - rows.sum()]] += 1
    return rows


def _mixed_dataset(parts: Sequence[PoseArrays], weights: np.ndarray, batch_size: int, steps: int, seed: int,
                  shard: grain.sharding.ShardOptions = grain.sharding.NoSharding()) -> grain.MapDataset:
    """Training batches mixing the parts by fixed shares (module docstring); as `data.train_dataset` otherwise.

    Args:
        parts: one PoseArrays per part, all with the same joints and image size.
        weights: float [P] shares summing to one.
        batch_size: the global batch size B.
        steps: how many batches.
        seed: the run's seed.
        shard: this process's shard (`data.shard_of`).

    Returns:
        grain MapDataset of `steps` elements {"image", "points", "visible", "key"} of this shard's rows.

    Raises:
        InputError: a part without rows, parts with other joints or sizes, B not a multiple of the shard count, or a
            part whose share gives it no row of a batch of B.
    """
    if any(len(p) == 0 for p in parts):
        raise InputError("mixed_dataset", "parts", "at least one person in every part", [len(p) for p in parts])
    shapes = {(p.images.shape[1:], p.points.shape[1:]) for p in parts}
    if len(shapes) != 1:
        raise InputError("mixed_dataset", "parts", "parts of one image size and one skeleton", sorted(shapes))
    if batch_size % shard.shard_count:
        raise InputError("mixed_dataset", "batch_size", f"a multiple of the shard count {shard.shard_count}",
                         batch_size)
    rows = _batch_rows(weights, batch_size)
    if not rows.all():  # a part without a row of any batch would never be trained
        shown = np.round(np.asarray(weights, float), 3).tolist()
        raise InputError("mixed_dataset", "batch_size", f"a row of every batch for every part (shares {shown} give "
                         f"rows {rows.tolist()}: raise batch_size or the small shares)", batch_size)
    owner = np.repeat(np.arange(len(parts)), rows)  # the part of each row of a batch
    offset = np.concatenate([[0], np.cumsum(rows)])[:-1]
    local = batch_size // shard.shard_count

    def element(i: int) -> dict[str, np.ndarray]:
        step, j = divmod(i, local)
        row = shard.shard_index * local + j
        k = int(owner[row])
        r = data.record_index(len(parts[k]), seed * 1009 + k, step * int(rows[k]) + row - int(offset[k]))
        p = parts[k]
        return {"image": p.images[r], "points": p.points[r], "visible": p.visible[r],
                "key": _keys(seed, step, batch_size)[row]}

    return grain.MapDataset.range(steps * local).map(element).batch(local, drop_remainder=True)


@functools.lru_cache(maxsize=2)
def _keys(seed: int, step: int, batch_size: int) -> np.ndarray:
    return data.sample_keys(seed, step, batch_size)


@dataclasses.dataclass(frozen=True)
class MixedArrays(PoseArrays):
    """The parts' training arrays one after another (a `PoseArrays`), with where each part starts and its share of
    every batch: what the training loop mixes (`_mixed_dataset` over `parts()`).

    sizes: each part's row count, in order.
    weights: each part's share of every batch (summing to one).
    """

    sizes: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()

    def parts(self) -> list[PoseArrays]:
        """Each part's rows as a PoseArrays view.

        Returns:
            one PoseArrays per part.
        """
        ends = np.cumsum(self.sizes)
        return [self.take(slice(int(e - n), int(e))) for n, e in zip(self.sizes, ends)]


def concat(arrays: Sequence[PoseArrays], weights: Sequence[float] | np.ndarray | None = None) -> PoseArrays:
    """The parts' arrays one after another: a `MixedArrays` with the parts' shares when `weights` are given, else
    a plain PoseArrays (held-out people, scored together).

    Args:
        arrays: one PoseArrays per part, all with the same joints and image size.
        weights: the parts' shares of every batch (a sequence or float array [P], `shares`), or None.

    Returns:
        the concatenation (images, points, visible, norm).
    """
    images = _rows([a.images for a in arrays])
    points, visible, norm = (np.concatenate([np.asarray(getattr(a, f)) for a in arrays])
                             for f in ("points", "visible", "norm"))
    if weights is None:
        return PoseArrays(images, points, visible, norm)
    return MixedArrays(images, points, visible, norm, None, tuple(len(a) for a in arrays),
                       tuple(float(w) for w in weights))


def _rows(arrays: Sequence[np.ndarray], chunk: int = 256) -> np.ndarray:
    """The arrays one after another; where one is memory-mapped (the parts' cached crops), written `chunk` rows at a
    time to a memory-mapped file in the cache folder (no name: removed when the array is), so the parts' crops need
    not fit in memory together.

    Args:
        arrays: arrays of the same row shape and dtype.
        chunk: rows copied at a time.

    Returns:
        [sum of rows, ...]: an in-memory array, or a memory-mapped one.
    """
    shape = (sum(len(a) for a in arrays), *arrays[0].shape[1:])
    if not shape[0] or not any(isinstance(a, np.memmap) for a in arrays):
        return np.concatenate([np.asarray(a) for a in arrays])
    with tempfile.TemporaryFile(dir=cache_dir("mixture-rows")) as f:  # the map keeps the unnamed file
        out = np.memmap(f, np.result_type(*arrays), "w+", shape=shape)
    start = 0
    for a in arrays:
        for i in range(0, len(a), chunk):
            part = np.asarray(a[i:i + chunk])
            out[start + i:start + i + len(part)] = part
        start += len(a)
    out.flush()
    return out


def batches(train_set: PoseArrays, batch_size: int, steps: int, seed: int,
            shard: grain.sharding.ShardOptions = grain.sharding.NoSharding()) -> grain.MapDataset:
    """The training batches of a run: `_mixed_dataset` over the parts of a `MixedArrays`, else
    `data.train_dataset`.

    Args:
        train_set: the training arrays (a MixedArrays: several datasets, each its share of every batch).
        batch_size, steps, seed, shard: as `data.train_dataset`'s.

    Returns:
        the grain MapDataset of `steps` batches.
    """
    if isinstance(train_set, MixedArrays):
        return _mixed_dataset(train_set.parts(), np.asarray(train_set.weights), batch_size, steps, seed, shard)
    return data.train_dataset(train_set, batch_size, steps, seed, shard)


def load_parts(parts: Sequence[DataPart], skeleton: Skeleton, image_size: int, crop_scale: float = 1.0
               ) -> tuple[list[PoseArrays], list[PoseArrays]]:
    """(train, held-out) arrays of every part (`_mixture_arrays`).

    Args:
        parts: the mixture.
        skeleton: the model's skeleton.
        image_size: the crops' side (pixels).
        crop_scale: crop side / the person box's longer side.

    Returns:
        (train arrays per part, held-out arrays per part).
    """
    return (_mixture_arrays(parts, skeleton, "train", image_size, crop_scale),
            _mixture_arrays(parts, skeleton, "held_out", image_size, crop_scale))


__all__ = ["MixedArrays", "batches", "concat", "load_parts", "mapped_people", "shares"]
