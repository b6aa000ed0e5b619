"""The inputs a pose model reads, for any registered pose dataset (`data.pose_sets`): a split's people (with a
summary line) made into person crops by the kind's crop protocol, cached.

    people = person_set("coco", root, "train")                 # pose_sets.PersonSet, its summary line logged
    crops = person_crops("lsp", root, "test", 128, 1.0, train_images=3000)   # PoseCrops, cached
    crops = person_crops("flic", root, "val", 256, 2.5, protocol="frame")   # FLIC's whole frames
    sk = dataset_skeleton("coco", root)                        # the file's own skeleton
    points, visible = person_points("lsp", root, "train", 128, 1.0)   # the crops' points alone: no image read

Arrays (`PoseArrays`): images uint8 [N, S, S, 3] (NHWC), points float32 [N, K, 2] (0-based (x, y) input pixels, 0
where missing), visible bool [N, K] (labelled joints: targets and PCK use occluded-but-annotated joints too), norm
float32 [N] (the PCK normaliser in input pixels, NaN where unknown). Crops are bilinear, black outside the image
(`geometry.crop_each`); built once per (kind, annotation file, the image files read (path, size, modification
time), split, size, crop scale, protocol, options) and code version, then read back memory-mapped
(`convcorr_jax.core.cache`), so a process reads only the rows it uses. A kind whose people are their own inputs
(`Inputs.resample` False: synthetic people) is not cached.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convcorr_jax.core import cache, geometry
from convcorr_jax.data import pose_sets, skeletons
from convcorr_jax.data.pose_dataset import Crop, Inputs, PersonSet, crop_points, labelled
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.data.types import KeypointSample, load_image
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.progress import LOG as progress_log

if TYPE_CHECKING:  # for the hint alone: the training config is not needed to read crops
    from convcorr_jax.pose.training.config import TrainConfig

_CHUNK = 64  # images decoded at a time while building crops
_FIELDS = ("images", "points", "visible", "norm", "affine", "index", "movie", "torso")
# the code the crops depend on (with the kind's own modules): its version is part of the cache key. Every module
# of the project these import that changes the crops' pixels, points or boxes is here too (data.types: load_image;
# data._common: the annotation parsing and the points' boxes); error messages, registries, file and cache helpers
# are not (tests/test_pose_datasets.py holds the rule)
_CODE = ("convcorr_jax.data.pose_dataset", "convcorr_jax.data.pose_sets", "convcorr_jax.data.skeletons",
         "convcorr_jax.data.keypoint_sides",
         "convcorr_jax.data.flic", "convcorr_jax.data.flic_split", "convcorr_jax.data.flic_people",
         "convcorr_jax.data.mpii", "convcorr_jax.data.mpii_people", "convcorr_jax.data.coco_keypoints",
         "convcorr_jax.data.coco_checks",
         "convcorr_jax.data.lsp", "convcorr_jax.data.types", "convcorr_jax.data._common",
         "convcorr_jax.core.geometry", "convcorr_jax.core.crop_geometry", "convcorr_jax.core.tracing")


@dataclasses.dataclass(frozen=True)
class PoseArrays:
    """A pose dataset's inputs (module docstring): images, points, visible, norm, one row per person; carved: how
    the split was carved from another (`PersonSet.carved`: a run logs it; None: the dataset's own split)."""

    images: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    norm: np.ndarray
    carved: dict | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, idx) -> PoseArrays:
        """The rows `idx` (an index array, a slice or a boolean mask)."""
        return PoseArrays(self.images[idx], self.points[idx], self.visible[idx], self.norm[idx], self.carved)

    def first(self, n: int | None) -> PoseArrays:
        """The first n rows (all when n is None or n >= len)."""
        return self if n is None or n >= len(self) else self.take(slice(0, n))


@dataclasses.dataclass(frozen=True)
class PoseCrops:
    """Person crops: arrays (points in crop pixels), affine [N, 2, 3] (image -> crop), index [N] (the person's
    position in the annotation file: extras "index", else in the split), movie: N FLIC movie names (empty strings
    elsewhere), torso [N, 2]: the person's centre in crop pixels (FLIC: the torso box's centre; MPII: the stored
    centre; else the person box's)."""

    arrays: PoseArrays
    affine: np.ndarray
    index: np.ndarray
    movie: tuple[str, ...]
    torso: np.ndarray

    def __len__(self) -> int:
        return len(self.arrays)

    @property
    def carved(self) -> dict | None:
        """How the split was carved (`PersonSet.carved`; None: the dataset's own split)."""
        return self.arrays.carved


def person_set(kind: str, root: str | os.PathLike | None, split: str, **options: Any) -> PersonSet:
    """`pose_sets.load_people` of (kind, root, split) with its one summary line on the progress log (the persons
    left out without labelled keypoints are counted there, a carved split is named).

    Args:
        kind: a registered pose dataset kind.
        root: the dataset folder.
        split: one of the kind's splits.
        **options: the loader's options.

    Returns:
        the PersonSet.
    """
    people = pose_sets.load_people(kind, root, split, **options)
    progress_log.info(people.summary(split))
    return people


def dataset_skeleton(kind: str, root: str | os.PathLike | None = None, **options: Any) -> Skeleton:
    """The skeleton of a pose dataset kind (`pose_sets.skeleton`; a COCO-format folder's own), or of a registered
    skeleton's name ("coco17").

    Args:
        kind: a registered kind or skeleton name.
        root: the dataset folder (for a kind whose files declare the skeleton).
        **options: the loader's options.

    Returns:
        the Skeleton.
    """
    if kind not in pose_sets.DATASETS and kind in skeletons.SKELETONS:
        return skeletons.get(kind)
    return pose_sets.skeleton(kind, root, **options)


def loader_options(kind: str, cfg: TrainConfig) -> dict:
    """The options of `kind`'s loader taken from a training config (`PoseDataset.options`: fields of the same
    name; "input_size": cfg.model.image_size); an option the config has no field for keeps the loader's default
    (LSP's val_images, test_images).

    Args:
        kind: a registered kind.
        cfg: a TrainConfig.

    Returns:
        {option: value}.
    """
    fields = {**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}, "input_size": cfg.model.image_size}
    return {name: fields[name] for name in pose_sets.dataset(kind).options if name in fields}


def person_crops(kind: str, root: str | os.PathLike | None, split: str, image_size: int,
                 crop_scale: float = 1.25, people: PersonSet | None = None, protocol: str = "person",
                 crop: Crop | None = None, **options: Any) -> PoseCrops:
    """The model inputs of one split of a pose dataset under its crop protocol (`PoseDataset.inputs`), resized to
    image_size px: person crops, or whole frames for FLIC's "frame" / "native" protocols; built once, then cached.

    Args:
        kind: a registered kind.
        root: the dataset folder.
        split: one of the kind's splits.
        image_size: the crops' side (pixels).
        crop_scale: crop side / the person box's longer side.
        people: the split's `person_set` when already read.
        protocol: one of the kind's protocols.
        crop: a crop protocol instead of the kind's own (e.g. `box_inputs` on person boxes: `pose.mixture`).
        **options: the loader's options (with `people` given: what else identifies them in the cache key).

    Returns:
        the PoseCrops (arrays, image -> crop affines, annotation positions, person centres).
    """
    entry = pose_sets.dataset(kind)
    people, crop, inputs = _inputs(kind, root, split, image_size, crop_scale, people, protocol, crop, options)
    if not inputs.resample:  # people that are their own inputs (generated): nothing to cache
        return _crops(_arrays(people, inputs, image_size), people.carved)
    # a kind that reads no folder (generated people) has no annotation file: its options and images key it
    annotations = _file_key(Path(people.source), "annotations") if root is not None else {"annotations": people.source}
    first = people.samples[0].image_path  # None: images held in memory (`_images_key` digests their pixels)
    settings = {"kind": kind, **annotations,
                "images": os.path.realpath(Path(first).parent) if first else None, **_images_key(people.samples),
                "split": split, "size": image_size, "crop_scale": float(crop_scale), "protocol": protocol,
                "options": options, **_own_code(entry.people, crop),
                **({} if crop is entry.inputs else {"crop": f"{crop.__module__}.{crop.__qualname__}"})}
    code = (*_CODE, __name__, *(_module_of(f) for f in (entry.people, crop)))
    return _cached_crops(f"{kind}-crops", settings, image_size, lambda: (people, inputs), code, people.carved)


def person_points(kind: str, root: str | os.PathLike | None, split: str, image_size: int,
                  crop_scale: float = 1.25, protocol: str = "person", **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """The points and labelled flags of `person_crops(kind, root, split, image_size, crop_scale, protocol=protocol,
    **options)` (its arrays' "points" and "visible", equal to them) from the people as the kind's loader reads them
    (LSP and FLIC: their images' sizes from the file headers) alone: no image is decoded or cropped, nothing is
    cached (e.g. a split's mean pose without cutting its crops).

    Args:
        kind, root, split, image_size, crop_scale, protocol, **options: as `person_crops`'s.

    Returns:
        (points float32 [N, K, 2]: 0-based (x, y) input pixels, 0 where missing; visible bool [N, K]: labelled).
    """
    people, _, inputs = _inputs(kind, root, split, image_size, crop_scale, None, protocol, None, options)
    pts, visible = _points(people, inputs)
    return np.nan_to_num(pts), visible


def _inputs(kind: str, root: str | os.PathLike | None, split: str, image_size: int, crop_scale: float,
            people: PersonSet | None, protocol: str, crop: Crop | None,
            options: dict) -> tuple[PersonSet, Crop, Inputs]:
    """(people, the crop protocol, its Inputs) of `person_crops`' arguments, from the annotations (no image read)."""
    entry = pose_sets.dataset(kind)
    if protocol not in entry.protocols:
        raise InputError(f"{kind} crops", "protocol", f"one of {entry.protocols}", protocol)
    people = people if people is not None else person_set(kind, root, split, **options)
    if not people.samples:
        raise InputError(people.source, "samples", "at least one person", 0)
    crop = crop or entry.inputs
    return people, crop, crop(people, image_size, crop_scale, protocol)


def _points(people: PersonSet, inputs: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """(points float32 [N, K, 2] in input pixels, NaN where missing; labelled bool [N, K]) of the people."""
    samples = people.samples
    if inputs.resample:
        pts = crop_points(samples, inputs.affine)
    else:
        pts = np.stack([np.asarray(s.points, np.float32) for s in samples])
    return pts, np.stack([labelled(s, p) for s, p in zip(samples, pts)])


def _module_of(fn: Callable) -> str:
    """The module a loader or crop protocol is defined in (a `functools.partial`'s function's)."""
    return getattr(getattr(fn, "func", fn), "__module__", None) or "__main__"


def _own_code(*fns: Callable) -> dict:
    """{"own_code": digest} of the source of those of `fns` (a kind's loader, its crop protocol) whose module
    `cache.code_version` cannot read: one defined in a script run as `__main__` or in a notebook cell, so that an
    edit to it makes new crops; {} when every one is in an importable module (its module versions the entry).

    Args:
        fns: callables (functions, `functools.partial`s, callable objects).

    Returns:
        {} or {"own_code": 16 hex digits}.
    """
    rows = []
    for fn in fns:
        if _importable([_module_of(fn)]):
            continue
        fn = getattr(fn, "func", fn)
        code = getattr(fn, "__code__", None) or getattr(getattr(type(fn), "__call__", None), "__code__", None)
        try:  # the whole file (helpers it calls included), else the function's own lines (a notebook cell)
            if code is None:
                raise AttributeError("no code object")
            rows.append(Path(code.co_filename).read_text())
        except (AttributeError, OSError, ValueError):
            try:
                rows.append(inspect.getsource(fn if inspect.isroutine(fn) else type(fn)))
            except (OSError, TypeError):
                rows.append(repr((code.co_code, code.co_consts)) if code is not None else repr(fn))
    return {"own_code": cache.digest(rows)} if rows else {}


def _file_key(path: Path, name: str) -> dict:
    """{name: resolved path, name_size: bytes, name_mtime_ns: nanoseconds} of a file: what identifies it in a cache
    key (`cache.file_stamp`: an edit within the same second changes it).

    Args:
        path: an existing file.
        name: the key's prefix (e.g. "annotations").

    Returns:
        {name: str resolved path, f"{name}_size": int bytes, f"{name}_mtime_ns": int modification time (ns)}.
    """
    stamp = cache.file_stamp(path, missing_ok=False)
    assert stamp is not None  # missing_ok=False raises for a file it cannot read
    size, mtime_ns = stamp
    return {name: str(path.resolve()), f"{name}_size": size, f"{name}_mtime_ns": mtime_ns}


def _images_key(samples: Sequence[KeypointSample]) -> dict:
    """{"image_files": n, "image_files_digest": hex} of the pixels the crops are cut from: each distinct image file's
    real path (`os.path.realpath`: one folder named relatively, absolutely or through a link is one entry), size and
    modification time (ns), and the bytes of images already loaded, so an image replaced or edited in place makes
    new crops.

    Args:
        samples: the split's people.

    Returns:
        {"image_files": int distinct files, "image_files_digest": 16 hex digits}.
    """
    rows: list[object] = []
    files = set()
    for s in samples:
        if s.image is not None:
            rows.append(cache.arrays_digest([s.image]))
        elif s.image_path and s.image_path not in files:
            files.add(s.image_path)
            stamp = cache.file_stamp(s.image_path)  # None for a missing image: the build reports it
            rows.append([os.path.realpath(s.image_path), *(stamp or (None, None))])
    return {"image_files": len(files), "image_files_digest": cache.digest(rows)}


def crop_images(samples: Sequence[KeypointSample], affine: np.ndarray, size: int) -> np.ndarray:
    """Crops uint8 [N, size, size, 3] of the samples' images (loaded, or read _CHUNK at a time) under affines.

    Args:
        samples: N KeypointSamples (image loaded, or its image_path read).
        affine: [N, 2, 3] image pixels -> crop pixels.
        size: the crops' side (pixels).

    Returns:
        uint8 RGB [N, size, size, 3] crops: bilinear, black outside the image.
    """
    out = np.zeros((len(samples), size, size, 3), np.uint8)
    for i, crops in _crop_chunks(samples, affine, size):
        out[i:i + len(crops)] = crops
    return out


def _crop_chunks(samples: Sequence[KeypointSample], affine: np.ndarray, size: int):
    """(first row, uint8 [<= _CHUNK, size, size, 3] crops) of the samples, _CHUNK images decoded at a time."""
    for i in range(0, len(samples), _CHUNK):
        part = samples[i:i + _CHUNK]
        imgs = [s.image if s.image is not None else load_image(s.image_path) for s in part]
        yield i, geometry.crop_each(imgs, affine[i:i + len(part)], size, border="constant")


def _save_crops(path: Path, samples: Sequence[KeypointSample], affine: np.ndarray, size: int) -> None:
    """Write the samples' crops (`crop_images`) to the .npy file `path` as they are cut, _CHUNK at a time, so
    the memory the build takes does not grow with the number of people."""
    shape = (len(samples), size, size, 3)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                                 "fortran_order": False, "shape": shape})
        for _, crops in _crop_chunks(samples, affine, size):
            f.write(np.ascontiguousarray(crops, np.uint8).tobytes())


def _arrays(people: PersonSet, inputs: Inputs, size: int, with_images: bool = True) -> dict[str, np.ndarray]:
    """Every field of `_FIELDS` of the people's inputs (crops, or the images themselves without resampling);
    with_images=False: resampled inputs' crops left out ("images"; `_save_crops` writes them), images taken as they
    are still given."""
    samples = people.samples
    pts, visible = _points(people, inputs)
    if inputs.resample:
        images = crop_images(samples, inputs.affine, size) if with_images else None
    else:
        given = [s.with_image().loaded_image() for s in samples]
        for s, img in zip(samples, given):
            if img.shape[:2] != (size, size):
                raise InputError(s.image_path or s.id, "image", f"{size}x{size} RGB", img.shape)
        images = np.stack(given).astype(np.uint8)
    return {**({} if images is None else {"images": images}), "points": np.nan_to_num(pts),
            "visible": visible,
            "norm": np.asarray(inputs.norm, np.float32), "affine": inputs.affine,
            "index": np.array([s.extras.get("index", i) for i, s in enumerate(samples)], np.int64),
            "movie": np.array([s.extras.get("moviename", "") for s in samples]),
            "torso": np.asarray(inputs.torso, np.float32)}


def _crops(z: dict[str, np.ndarray], carved: Mapping | None = None) -> PoseCrops:
    arrays = PoseArrays(z["images"], np.asarray(z["points"]), np.asarray(z["visible"]), np.asarray(z["norm"]),
                        dict(carved) if carved else None)
    return PoseCrops(arrays, np.asarray(z["affine"]), np.asarray(z["index"]), tuple(str(m) for m in z["movie"]),
                     np.asarray(z["torso"]))


def _cached_crops(kind: str, settings: dict, size: int, build: Callable[[], tuple[PersonSet, Inputs]],
                 code: Sequence[str] = (*_CODE, __name__), carved: Mapping | None = None) -> PoseCrops:
    """PoseCrops from the cache entry (kind, settings), made by `build() -> (people, their Inputs)` on the first
    call; every array is a .npy file, read memory-mapped.

    Args:
        kind: the cache entry's kind.
        settings: what identifies the crops (the files read, the split, size, crop scale, protocol, options).
        size: the crops' side (pixels).
        build: the people and their inputs (called only when the entry is missing).
        code: the modules whose source versions the entry (those `cache.code_version` cannot read are left out).
        carved: the split's carve record (`PersonSet.carved`).

    Returns:
        the PoseCrops.
    """

    def write(out: Path) -> None:
        people, inputs = build()
        for name, value in _arrays(people, inputs, size, with_images=not inputs.resample).items():
            np.save(out / f"{name}.npy", value)
        if inputs.resample:  # streamed: N crops need not fit in RAM
            _save_crops(out / "images.npy", people.samples, inputs.affine, size)

    path = cache.cached(kind, settings, cache.code_version(*_importable(code)), write)
    return _crops({name: np.load(path / f"{name}.npy", mmap_mode="r") for name in _FIELDS}, carved)


def _importable(modules: Sequence[str]) -> list[str]:
    """The modules whose source `cache.code_version` can read, once each (a kind defined in `__main__` has none)."""
    out = []
    for m in dict.fromkeys(modules):
        try:
            if importlib.util.find_spec(m) is not None:
                out.append(m)
        except (ValueError, ModuleNotFoundError):
            pass
    return out
