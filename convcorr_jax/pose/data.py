"""Pose data: the arrays a pose model trains and is scored on, their loading (synthetic people, FLIC and MPII
person crops) and the training input pipeline (grain).

    train, held_out = load("flic", root, image_size=128)          # PoseArrays (FLIC: train / validation movies)
    crops = flic_crops(root, "test", 128)                           # PoseCrops: arrays + image -> crop affines
    ds = train_dataset(train, batch_size=16, steps=6000, seed=0, shard=shard_of(rows, 16))
    ds[t]                                                           # this process's rows of step t's batch
    it = iter(ds.to_iter_dataset(READ_OPTIONS)); it.set_state({"next_index": t})   # the same, as an iterator

Arrays (`PoseArrays`): images uint8 [N, S, S, 3] (NHWC), points float32 [N, K, 2] (0-based (x, y) pixels, 0 where
missing), visible bool [N, K] (labelled joints: targets and PCK use occluded-but-annotated joints too), norm
float32 [N] (the PCK normaliser in pixels, see `headline`).

Person crops (cached, `convcorr_jax.cache`; read back memory-mapped, so a process reads only the rows it uses):
  FLIC  protocol "person": a square around the torso box FLIC gives for the person to be evaluated, side
        `crop_scale` x the box's longer side (`data.flic.person_square`); protocol "frame" (Tompson et al.'s input):
        the whole frame, letterboxed in a square of its longer side (black above and below), whatever people it
        holds; protocol "native" (Tompson et al.'s input at its own resolution): the whole frame at its on-disk
        pixel size, centred in the image_size square (black around it, no resampling: a frame pixel is an input
        pixel, shifted by whole pixels when image_size - width and image_size - height are even); image_size must
        be at least the frames' longer side (`frame_affines`). Splits "train" (FLIC train minus the validation
        movies), "val" (those movies: `data.flic_split`, fraction `VAL_FRACTION`, seed `VAL_SEED`), "trainval",
        "test". norm: the torso size |l shoulder - r hip|
        (MODEC) in crop pixels; torso: the torso box's centre in crop pixels (the point the spatial model is
        conditioned on; the crop's centre under "person").
  MPII  a square around the stored centre, side 200 x 1.25 x the stored scale (`data.mpii.person_square`) of
        train.h5 / valid.h5; norm: the head size (0.6 x head-box diagonal) in crop pixels, so PCK@0.5 is PCKh@0.5.
Crops are bilinear, black outside the image (`geometry.crop_each`); `to_original` in `pose.predict` maps crop
pixels back through the stored affines.

Training pipeline (`train_dataset`, a grain `MapDataset`): element t is this process's rows of step t's global
batch: image uint8 [R, S, S, 3], points [R, K, 2], visible [R, K], key uint32 [R, 2] (the sample's PRNG key:
augmentation and SpatialDropout). Global batch t holds the samples at positions t * B .. t * B + B - 1 of one
stream made of consecutive permutations of the dataset, one per epoch (`record_index`), and sample (t, row) has
key `sample_keys(seed, t, B)[row]`: a function of (seed, t) only, whatever the process and device count. A
process reads only its rows (`shard_of`: grain `ShardOptions` of its `parallel.local_rows`), and its iterator's
state is {"next_index": t} on every process, so a checkpointed state resumes in any process count.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import grain
import jax
import numpy as np

from convcorr_jax import cache, geometry
from convcorr_jax.data import flic, mpii, pose_sets, skeletons
from convcorr_jax.data.flic_split import movie_split
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.synthetic import load_people
from convcorr_jax.data.types import KeypointSample, load_image
from convcorr_jax.errors import InputError

KINDS = ("synthetic", "mpii", "flic", *pose_sets.LOADERS)  # pose_sets.LOADERS: "coco" (any skeleton), "lsp"
FLIC_SPLITS = ("train", "val", "trainval", "test")
PROTOCOLS = ("person", "frame", "native")  # FLIC inputs: person crops, whole frames letterboxed or at native size
VAL_FRACTION = 0.15
VAL_SEED = 0
READ_OPTIONS = grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)  # rows are in (mapped) memory
_CHUNK = 64  # images decoded at a time while building crops


@dataclasses.dataclass(frozen=True)
class PoseArrays:
    """A pose dataset (see the module docstring): images, points, visible, norm, one row per person."""

    images: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    norm: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, idx) -> PoseArrays:
        """The rows `idx` (an index array, a slice or a boolean mask)."""
        return PoseArrays(self.images[idx], self.points[idx], self.visible[idx], self.norm[idx])

    def first(self, n: int | None) -> PoseArrays:
        """The first n rows (all when n is None or n >= len)."""
        return self if n is None or n >= len(self) else self.take(slice(0, n))


@dataclasses.dataclass(frozen=True)
class PoseCrops:
    """Person crops: arrays (points in crop pixels), affine [N, 2, 3] (image -> crop), index [N] (0-based row of
    the annotation file: FLIC's examples.mat, MPII's h5), movie: N FLIC movie names (empty strings for MPII),
    torso [N, 2]: the person's centre in crop pixels (FLIC: the torso box's centre; MPII: the stored centre)."""

    arrays: PoseArrays
    affine: np.ndarray
    index: np.ndarray
    movie: tuple[str, ...]
    torso: np.ndarray

    def __len__(self) -> int:
        return len(self.arrays)


def headline(kind: str) -> tuple[str, float]:
    """(name, alpha) of a dataset's headline score: ("PCKh", 0.5) for "mpii" (norm = head size), ("PCK", 0.2)
    for the `pose_sets` datasets (the skeleton's normaliser), else ("PCK", 0.05) (torso-normalised, Tompson et al.
    Table 3)."""
    return ("PCKh", 0.5) if kind == "mpii" else ("PCK", 0.2) if kind in pose_sets.LOADERS else ("PCK", 0.05)


def torso_size(points: np.ndarray, skeleton: Skeleton, bbox: np.ndarray | None = None) -> float:
    """The distance between `skeleton`'s torso ends (FLIC: l shoulder - r hip, MODEC's torso) in one person's points
    [K, 2]; where the skeleton has none or one is missing, the bbox [4] (x0, y0, x1, y1) diagonal (else 1)."""
    if len(points) != skeleton.num_joints:
        raise InputError("torso_size", "points", f"{skeleton.num_joints} joints ({skeleton.name})", len(points))
    ends = skeleton.torso
    d = float(np.linalg.norm(points[ends[0]] - points[ends[1]])) if ends else float("nan")
    if not np.isfinite(d) or d <= 0:
        d = float(np.hypot(bbox[2] - bbox[0], bbox[3] - bbox[1])) if bbox is not None else 1.0
    return d


def arrays_from_samples(samples: Sequence[KeypointSample], image_size: int, skeleton: Skeleton) -> PoseArrays:
    """KeypointSamples (square image_size images, loaded or on disk) -> PoseArrays, norm = `torso_size` (the
    skeleton's torso ends)."""
    if not samples:
        raise InputError("samples", "samples", "at least one sample", 0)
    imgs, pts, vis, norm = [], [], [], []
    for s in samples:
        img = s.image if s.image is not None else s.with_image().image
        if img.shape[:2] != (image_size, image_size):
            raise InputError(s.image_path or s.id, "image", f"{image_size}x{image_size} RGB", img.shape)
        p = np.asarray(s.points, np.float32)
        imgs.append(img)
        pts.append(np.nan_to_num(p))
        vis.append(_labelled(s, p))
        norm.append(torso_size(p, skeleton, np.asarray(s.bbox)))
    return PoseArrays(np.stack(imgs).astype(np.uint8), np.stack(pts), np.stack(vis), np.asarray(norm, np.float32))


def _labelled(sample: KeypointSample, points: np.ndarray) -> np.ndarray:
    """bool [K]: annotated (extras "labelled", possibly occluded: still a valid target; else `visible`) and finite."""
    lab = sample.extras.get("labelled")
    ok = np.asarray(lab, bool) if lab is not None else np.asarray(sample.visible, bool)
    return ok & np.all(np.isfinite(points), -1)


def load(kind: str, root: str | os.PathLike | None, image_size: int, n_samples: int = 1000, seed: int = 0,
         crop_scale: float = flic.PERSON_BOX_SCALE, protocol: str = "person",
         options: dict | None = None) -> tuple[PoseArrays, PoseArrays]:
    """(train, held-out) arrays: "synthetic" (n_samples people, about 75 % train; seed), "mpii" (root: train.h5,
    valid.h5, images/), "flic" (root: examples.mat, images/; train minus the validation movies, and those movies;
    the test split only through `flic_crops`; `protocol` person crops or whole frames), a `pose_sets` dataset
    ("coco", "lsp": its train and val splits, `person_crops`; `options` the loader's)."""
    if kind == "synthetic":
        return tuple(arrays_from_samples(load_people(n=n_samples, seed=seed, split=split, image_size=image_size),
                                         image_size, skeletons.MPII) for split in ("train", "test"))
    if kind in pose_sets.LOADERS:
        from convcorr_jax.pose.person_crops import person_crops, person_set

        train, val = (person_set(kind, root, split, **(options or {})) for split in ("train", "val"))
        if val.skeleton.names != train.skeleton.names:
            raise InputError(val.source, "keypoints", f"the keypoints of {train.source} {list(train.skeleton.names)}",
                             list(val.skeleton.names))
        return tuple(person_crops(kind, root, split, image_size, crop_scale, people=people, **(options or {})).arrays
                     for split, people in (("train", train), ("val", val)))
    if kind == "flic":
        if not root:
            raise InputError("config", "data_root", "a folder with FLIC's examples.mat and images/")
        return tuple(flic_crops(root, split, image_size, crop_scale, protocol=protocol).arrays
                     for split in ("train", "val"))
    if kind == "mpii":
        if not root:
            raise InputError("config", "data_root",
                             "a folder with the MPII annotations (train.h5, valid.h5) and images")
        root = Path(root)
        return tuple(mpii_crops(root / f"{split}.h5", root / "images", image_size).arrays
                     for split in ("train", "valid"))
    raise InputError("config", "data", f"one of {KINDS}", kind)


# --- person crops --------------------------------------------------------------------------------------------

def square_affines(centres: np.ndarray, sides: np.ndarray, size: int) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of size x size crops of squares (centres [N, 2], sides [N], pixels)."""
    return geometry.box_to_affine(geometry.square_box(centres, sides), size)


def flic_affines(torso_boxes: np.ndarray, size: int, scale: float = flic.PERSON_BOX_SCALE) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of FLIC person crops (`data.flic.person_square`) around torso boxes [N, 4]."""
    return square_affines(*flic.person_square(np.asarray(torso_boxes, np.float64).reshape(-1, 4), scale), size)


def flic_sample_affines(samples: Sequence[KeypointSample], size: int, scale: float = flic.PERSON_BOX_SCALE,
                        protocol: str = "person") -> tuple[np.ndarray, np.ndarray]:
    """(image -> crop affines [N, 2, 3], torso box centres in crop pixels [N, 2]) of FLIC samples (`load_flic`)
    under `protocol` (module docstring): "person" crops (`flic_affines`) or whole "frame"s (the square of the
    frame's longer side, centred on the frame; frame size from extras image_size, else imgdims)."""
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


def flic_ground_truth(samples: Sequence[KeypointSample], size: int, scale: float = flic.PERSON_BOX_SCALE,
                      protocol: str = "person") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLIC samples' annotations in the inputs of `flic_sample_affines` (annotations only, no image read):
    (points float64 [N, K, 2] input pixels, NaN where missing; visible bool [N, K]: labelled and finite; torso box
    centres float32 [N, 2] input pixels)."""
    affine, torso = flic_sample_affines(samples, size, scale, protocol)
    pts = np.asarray(geometry.transform_points(np.stack([s.points for s in samples]).astype(np.float64), affine))
    return pts, np.stack([_labelled(s, p) for s, p in zip(samples, pts)]), np.asarray(torso, np.float32)


def frame_affines(wh: np.ndarray, size: int, native: bool = False) -> np.ndarray:
    """Image -> input affines [N, 2, 3] of whole frames of sizes wh [N, 2] (width, height) centred in a size x size
    input: letterboxed (the square of the frame's longer side scaled to size) or, `native`, at the frame's own
    pixel scale (the square of side max(size, longer side): a frame larger than the input is still letterboxed)."""
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    side = wh.max(axis=1)
    return square_affines((wh - 1) / 2, np.maximum(side, size) if native else side, size)


def mpii_affines(centers: np.ndarray, scales: np.ndarray, size: int) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of MPII person crops (`data.mpii.person_square`) from the stored centres
    [N, 2] (0-based) and scales [N]."""
    return square_affines(*mpii.person_square(centers, scales), size)


def mpii_person_crops(samples: Sequence[KeypointSample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 [N, size, size, 3], image -> crop affines [N, 2, 3]) of MPII people (`load_mpii_h5` samples)."""
    affine = mpii_affines(np.stack([s.extras["center"] for s in samples]),
                          np.array([s.extras["scale"] for s in samples]), size)
    return crop_images(samples, affine, size), affine


def crop_images(samples: Sequence[KeypointSample], affine: np.ndarray, size: int) -> np.ndarray:
    """Crops uint8 [N, size, size, 3] of the samples' images (loaded, or read _CHUNK at a time) under affines
    [N, 2, 3]: bilinear, black outside the image."""
    out = np.zeros((len(samples), size, size, 3), np.uint8)
    for i in range(0, len(samples), _CHUNK):
        part = samples[i:i + _CHUNK]
        imgs = [s.image if s.image is not None else load_image(s.image_path) for s in part]
        out[i:i + len(part)] = geometry.crop_each(imgs, affine[i:i + len(part)], size, border="constant")
    return out


def split_indices(movies: Sequence[str], split: str, fraction: float = VAL_FRACTION,
                  seed: int = VAL_SEED) -> np.ndarray:
    """Positions (into FLIC train's frames, one movie name each) of split "train", "val" or "trainval"."""
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
    """The frames of a FLIC split ("train", "val", "trainval": FLIC train by movie, `split_indices`; "test") of the
    FLIC folder `root`; InputError when the split has none. The annotations are parsed once per process and
    version of examples.mat and images/ (`_flic_stamp`); each call returns a new list of the (frozen) samples."""
    samples = list(_flic_frames(str(root), _flic_stamp(root), "test" if split == "test" else "train"))
    if split != "test":
        keep = split_indices([s.extras["moviename"] for s in samples], split, fraction, seed)
        samples = [samples[i] for i in keep]
    if not samples:
        raise InputError(root, "split", f"frames in FLIC split {split!r}", 0)
    return samples


def flic_torso_norm(points: np.ndarray) -> np.ndarray:
    """FLIC's PCK normaliser [N] of points [N, 11, 2]: |l shoulder - r hip| (MODEC), in the points' pixels."""
    ends = skeletons.FLIC.torso
    return np.linalg.norm(points[:, ends[0]] - points[:, ends[1]], axis=-1)


def flic_crops(root: str | os.PathLike, split: str, image_size: int, crop_scale: float = flic.PERSON_BOX_SCALE,
               fraction: float = VAL_FRACTION, seed: int = VAL_SEED, protocol: str = "person") -> PoseCrops:
    """Person crops (or, with protocol "frame", whole frames) of one FLIC split (module docstring), resized to
    image_size px; built once, then cached."""
    if split not in FLIC_SPLITS:
        raise InputError("flic_crops", "split", f"one of {FLIC_SPLITS}", split)
    root = Path(root)
    mat = root / "examples.mat" if root.is_dir() else root
    if not mat.is_file():
        raise InputError(mat, "examples.mat", "an existing FLIC examples.mat", "missing file")
    if protocol not in PROTOCOLS:
        raise InputError("FLIC crops", "protocol", f"one of {PROTOCOLS}", protocol)
    settings = {**_file_key(mat, "mat"), "split": split, "size": image_size, "fraction": fraction, "seed": seed,
                "crop_scale": float(crop_scale), "protocol": protocol}

    def build() -> tuple[list[KeypointSample], np.ndarray, np.ndarray, np.ndarray]:
        samples = flic_split(mat.parent, split, fraction, seed)
        affine, torso = flic_sample_affines(samples, image_size, crop_scale, protocol)
        return samples, affine, flic_torso_norm(_crop_points(samples, affine)), torso

    return _cached_crops("flic-crops", settings, image_size, build)


def mpii_crops(h5: str | os.PathLike, image_root: str | os.PathLike, image_size: int) -> PoseCrops:
    """Person crops of the people of an hourglass MPII h5 (module docstring); built once, then cached."""
    h5 = Path(h5)
    if not h5.is_file():
        raise InputError(h5, "file", "an existing MPII .h5 annotation file", "missing file")
    settings = {**_file_key(h5, "h5"), "images": str(Path(image_root).resolve()), "size": image_size}

    def build() -> tuple[list[KeypointSample], np.ndarray, np.ndarray, np.ndarray]:
        samples = mpii.load_mpii_h5(h5, image_root=image_root)
        centres, sides = mpii.person_square(np.stack([s.extras["center"] for s in samples]),
                                            np.array([s.extras["scale"] for s in samples]))
        heads = np.array([s.extras["head_size"] for s in samples])
        affine = square_affines(centres, sides, image_size)
        torso = np.asarray(geometry.transform_points(centres[:, None], affine), np.float32)[:, 0]
        return samples, affine, heads * image_size / sides, torso  # crop pixels

    return _cached_crops("mpii-crops", settings, image_size, build)


def _file_key(path: Path, name: str) -> dict:
    st = path.stat()
    return {name: str(path.resolve()), f"{name}_size": st.st_size, f"{name}_mtime": int(st.st_mtime)}


def _crop_points(samples: Sequence[KeypointSample], affine: np.ndarray) -> np.ndarray:
    """The samples' points in crop pixels, float32 [N, K, 2] (NaN stays NaN)."""
    pts = geometry.transform_points(np.stack([s.points for s in samples]).astype(np.float64), affine)
    return np.asarray(pts, np.float32)


_CROP_FIELDS = ("images", "points", "visible", "norm", "affine", "index", "movie", "torso")


def _cached_crops(kind: str, settings: dict, size: int,
                  build: Callable[[], tuple[list[KeypointSample], np.ndarray, np.ndarray, np.ndarray]]
                  ) -> PoseCrops:
    """PoseCrops from the cache entry (kind, settings), made by `build() -> (samples, affines, norm in crop
    pixels, torso in crop pixels)` on the first call; every array is a .npy file, read memory-mapped."""

    def write(out: Path) -> None:
        samples, affine, norm, torso = build()
        pts = _crop_points(samples, affine)
        arrays = {"images": crop_images(samples, affine, size), "points": np.nan_to_num(pts),
                  "visible": np.stack([_labelled(s, p) for s, p in zip(samples, pts)]),
                  "norm": np.asarray(norm, np.float32), "affine": affine,
                  "index": np.array([s.extras["index"] for s in samples], np.int64),
                  "movie": np.array([s.extras.get("moviename", "") for s in samples]),
                  "torso": np.asarray(torso, np.float32)}
        for name in _CROP_FIELDS:
            np.save(out / f"{name}.npy", arrays[name])

    version = cache.code_version(__name__, "convcorr_jax.data.flic", "convcorr_jax.data.flic_split",
                                 "convcorr_jax.data.mpii", "convcorr_jax.geometry", "convcorr_jax.data.pose_sets",
                                 "convcorr_jax.data.coco_keypoints", "convcorr_jax.data.lsp",
                                 "convcorr_jax.data.skeletons", "convcorr_jax.pose.person_crops")
    path = cache.cached(kind, settings, version, write)
    z = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in _CROP_FIELDS}
    arrays = PoseArrays(z["images"], np.asarray(z["points"]), np.asarray(z["visible"]), np.asarray(z["norm"]))
    return PoseCrops(arrays, np.asarray(z["affine"]), np.asarray(z["index"]), tuple(str(m) for m in z["movie"]),
                     np.asarray(z["torso"]))


# --- training pipeline ---------------------------------------------------------------------------------------

def shard_of(rows: slice, batch_size: int) -> grain.sharding.ShardOptions:
    """The grain shard of a process that feeds `rows` (`parallel.local_rows`) of every global batch: shard_count =
    batch_size / len(rows), shard_index = rows.start / len(rows). One process: (0, 1), `NoSharding`; processes
    that feed their rows in process order: `ShardByJaxProcess`'s (process index, process count)."""
    n = rows.stop - rows.start
    if n <= 0 or batch_size % n or rows.start % n:
        raise InputError("shard_of", "rows", f"an aligned block of rows of a batch of {batch_size}", rows)
    return grain.sharding.ShardOptions(shard_index=rows.start // n, shard_count=batch_size // n)


def sample_keys(seed: int, step: int, batch_size: int) -> np.ndarray:
    """Raw PRNG keys uint32 [batch_size, 2] of the samples of a step's global batch (augmentation, dropout)."""
    return np.asarray(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), step), batch_size))


@functools.lru_cache(maxsize=2)
def _step_keys(seed: int, step: int, batch_size: int) -> np.ndarray:
    return sample_keys(seed, step, batch_size)


@functools.lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def record_index(n: int, seed: int, position: int) -> int:
    """Dataset row at `position` (step * batch + row) of the training stream: epoch e = position // n is one
    permutation of the n rows, seeded by (seed, e)."""
    epoch, pos = divmod(int(position), n)
    return int(_epoch_order(n, seed, epoch)[pos])


def train_dataset(data: PoseArrays, batch_size: int, steps: int, seed: int,
                  shard: grain.sharding.ShardOptions = grain.sharding.NoSharding()) -> grain.MapDataset:
    """The training batches (module docstring) of `steps` steps: element t = the shard's rows of global batch t,
    read from `data` only at those rows."""
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
