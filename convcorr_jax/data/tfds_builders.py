"""TFDS builders for the keypoint datasets, reading a local `manual_dir`, never the network.

Works with tensorflow-datasets installed WITHOUT TensorFlow: examples are written as `array_record` files
(`file_format="array_record"`) and read back with `builder.as_data_source()` (random access, numpy out).
TF-only pieces are avoided: `tfds.features.Image` needs TensorFlow to encode, so images are stored as a
zlib-compressed uint8 `Tensor`; `tf.data` (`as_dataset`) is not used. GCS look-ups are disabled on import
(`gcs_utils._is_gcs_disabled = True`) and `DatasetInfo` is built in code, so nothing is fetched.

Builders (manual_dir layouts, all in the real formats, so the synthetic sets build the same way):
* `convcorr_voc_keypoints`: `annotations/<class>/*.xml` + a VOC2011 folder (`JPEGImages`, `Annotations`,
  `ImageSets/Main/{train,val,test}.txt`) in manual_dir itself or in `VOC2011/`; splits train / validation / test,
  one per image set there (without any, every object is in train).
* `convcorr_mpii`: `annot/{train,valid}.h5` (or the .h5 files directly) + `images/`; splits train / validation,
  and test from a `test.h5` beside them.
* `convcorr_faces300w`: a 300-W folder of images + `.pts`; splits train / common / challenging (300-W
  protocol) and private (`300W/`, the 300-W competition's test set), or the first folder name when it is
  train(set) / test(set) / validation; any other file (300-VW, a flat folder) is in train.
* `convcorr_flic`: FLIC `examples.mat` + `images/`; splits train / test (istrain / istest); extras torso_box,
  torso_size and moviename (version 1.1.0).
* `convcorr_pf_willow`: PF-WILLOW sub-class folders (`<sub-class>/*.png` + `.mat`) in manual_dir or in its
  `PF-dataset/` / `PF-dataset-WILLOW/` folder; one split, test (the benchmark has no training set).
The synthetic sets (`convcorr_jax.data.synthetic.write_dataset`) build with these: objects -> voc_keypoints,
people -> mpii or flic, faces -> faces300w. A split without examples (a FLIC folder of train frames only) is left out;
a missing or empty manual_dir, or one without any example, is one InputError naming the folder and the files expected;
so is an id that occurs twice (the ids are the TFDS keys), in one split or in two.
Images are stored as `load_image` reads them (upright by their EXIF orientation, 16-bit greyscale scaled to 0-255),
since version 1.1.0 of every builder; a 1.0.0 folder prepared before holds the images as stored.
Each split's records are in its loader's order (tfds' shuffling by key is off), since version 1.2.0: a split reads
back as the loader's list, record i its sample i; a 1.1.0 folder prepared before holds them shuffled by id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
from etils import epath

from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import require
from convcorr_jax.core.registry import Registry

_NEEDS = "convcorr_jax.data.tfds_builders"
if TYPE_CHECKING:  # the type checker reads the modules themselves (`require` returns a plain ModuleType)
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import utils as tfds_utils
    from tensorflow_datasets.core.utils import gcs_utils
else:
    tfds = require("tensorflow_datasets", "tfds", _NEEDS)
    tfds_utils = require("tensorflow_datasets.core.utils", "tfds", _NEEDS)
    gcs_utils = require("tensorflow_datasets.core.utils.gcs_utils", "tfds", _NEEDS)

gcs_utils._is_gcs_disabled = True  # never look datasets up on Google Cloud Storage

_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "validation": "validation", "train": "train",
                  "test": "test", "trainval": "train", "trainset": "train", "testset": "test"}


_UPRIGHT = ("Images as load_image reads them: turned upright by their EXIF orientation, 16-bit greyscale scaled "
            "to 0-255 (1.0.0 stored the pixels as the file holds them).")
_IN_ORDER = ("Each split's records in its loader's order (1.1.0 and before: shuffled by a hash of the id), so record i "
             "is the loader's sample i.")


# mypy checks skip_registration against object.__init_subclass__ past tfds' untyped (Any) base: a false positive
class _KeypointBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):  # type: ignore[call-arg]
    """Shared schema: the `KeypointSample` fields plus per-dataset scalar/array extras."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {"1.0.0": "First version: KeypointSample schema, 0-based (x, y) points.",
                     "1.1.0": _UPRIGHT, "1.2.0": _IN_ORDER}
    MANUAL_LAYOUT = "the dataset's files"  # what manual_dir holds, for the InputError of a missing/empty folder
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place the dataset files in manual_dir (see convcorr_jax.data.tfds_builders)."
    EXTRA_FEATURES: dict = {}
    EXTRA_TEXT: tuple[str, ...] = ()  # extras stored as text features

    @tfds_utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # tfds' default probes importlib_resources (an undeclared dependency, absent here); the file is known.
        return epath.Path(__file__)

    def __init__(self, **kwargs):
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        feats = {
            "image": tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint8, encoding="zlib"),
            "points": tfds.features.Tensor(shape=(None, 2), dtype=np.float32),
            "visible": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
            "bbox": tfds.features.Tensor(shape=(4,), dtype=np.float32),
            "names": tfds.features.Text(),  # comma-joined keypoint names
            "category": tfds.features.Text(),
            "id": tfds.features.Text(),
            "image_path": tfds.features.Text(),
        }
        feats.update({k: tfds.features.Tensor(shape=shape, dtype=dt) for k, (shape, dt) in self.EXTRA_FEATURES.items()})
        feats.update({k: tfds.features.Text() for k in self.EXTRA_TEXT})
        return tfds.core.DatasetInfo(builder=self, description=self.__doc__, disable_shuffling=True,
                                     features=tfds.features.FeaturesDict(feats))

    def _split_generators(self, dl_manager):
        root = Path(dl_manager.manual_dir)
        splits = {split: samples for split, samples in self._splits(root).items() if samples}
        if not splits:
            raise InputError(root, "manual_dir", f"a folder holding {self.MANUAL_LAYOUT}", "no example found")
        _check_ids(root, splits)
        return {split: self._generate_examples(samples) for split, samples in splits.items()}

    def _splits(self, root: Path) -> dict[str, list[KeypointSample]]:
        raise NotImplementedError

    def _extras(self, s: KeypointSample) -> dict:
        return {}

    def _generate_examples(self, samples: list[KeypointSample]):
        for s in samples:
            s = s.with_image()
            yield s.id, {"image": s.loaded_image(), "points": s.points.astype(np.float32),
                         "visible": s.visible.astype(bool), "bbox": np.asarray(s.bbox, np.float32),
                         "names": ",".join(s.names),
                         "category": s.category, "id": s.id, "image_path": s.image_path or "", **self._extras(s)}


def _check_ids(root: Path, splits: dict[str, list[KeypointSample]]) -> None:
    """InputError naming `root` unless every example's id occurs once over all the splits.

    The ids are the examples' TFDS keys (a repeated one failed deep inside tfds), and an example in two splits would
    be trained and tested on.

    Args:
        root: the manual_dir, named in the error.
        splits: {split: samples} about to be written.

    Returns:
        None.
    """
    seen: dict[str, str] = {}
    for split, samples in splits.items():
        for s in samples:
            if s.id in seen:
                where = f"twice in {split}" if seen[s.id] == split else f"in both {seen[s.id]} and {split}"
                raise InputError(root, "id", "each example once, in one split (ids are the TFDS keys)",
                                 f"{s.id!r} {where}")
            seen[s.id] = split


class ConvcorrVocKeypoints(_KeypointBuilder):
    """PASCAL VOC 2011 keypoints (Bourdev XML + VOC devkit), bbox = VOC ground-truth box."""

    EXTRA_FEATURES = {"labelled": ((None,), np.bool_), "visible_bounds": ((4,), np.float32)}
    MANUAL_LAYOUT = "annotations/<class>/*.xml and a VOC2011 folder (JPEGImages/, Annotations/, ImageSets/Main/)"

    def _splits(self, root: Path) -> dict[str, list[KeypointSample]]:
        from convcorr_jax.data.voc_devkit import _voc_dir
        from convcorr_jax.data.voc_keypoints import load_voc_keypoints

        voc = _voc_dir(root)
        ann = root / "annotations"
        out = {}
        for name in ("train", "val", "test"):
            if (voc / "ImageSets" / "Main" / f"{name}.txt").is_file():
                out[_SPLIT_ALIASES[name]] = list(load_voc_keypoints(ann, voc_root=voc, image_set=name))
        return out or {"train": list(load_voc_keypoints(ann, voc_root=voc))}

    def _extras(self, s: KeypointSample) -> dict:
        return {"labelled": s.extras["labelled"], "visible_bounds": np.asarray(s.extras["visible_bounds"], np.float32)}


class ConvcorrMpii(_KeypointBuilder):
    """MPII Human Pose from the hourglass `annot/{train,valid}.h5` files and `images/`."""

    EXTRA_FEATURES = {"labelled": ((16,), np.bool_), "center": ((2,), np.float32), "scale": ((), np.float32),
                      "normalize": ((), np.float32), "head_box": ((4,), np.float32)}
    MANUAL_LAYOUT = "annot/{train,valid}.h5 (or the .h5 files) and images/"

    def _splits(self, root: Path) -> dict[str, list[KeypointSample]]:
        from convcorr_jax.data.mpii import load_mpii_h5

        ann = root / "annot" if (root / "annot").is_dir() else root
        out = {}
        for name in ("train", "valid", "test"):
            if (ann / f"{name}.h5").is_file():
                out[_SPLIT_ALIASES[name]] = list(load_mpii_h5(ann / f"{name}.h5", image_root=root / "images"))
        if not out:
            raise InputError(root, "annot/{train,valid}.h5", "at least one MPII h5 file", "none found")
        return out

    def _extras(self, s: KeypointSample) -> dict:
        e = s.extras
        return {"labelled": e["labelled"], "center": np.asarray(e["center"], np.float32),
                "scale": np.float32(e["scale"]), "normalize": np.float32(e["normalize"]),
                "head_box": np.asarray(e.get("head_box", np.full(4, np.nan)), np.float32)}


class ConvcorrFaces300w(_KeypointBuilder):
    """300-W faces: images with 68-point iBUG `.pts` files."""

    EXTRA_FEATURES = {"interocular": ((), np.float32)}
    MANUAL_LAYOUT = "68-point .pts files with their images beside them (300-W layout)"

    def _splits(self, root: Path) -> dict[str, list[KeypointSample]]:
        from convcorr_jax.data.faces300w import load_300w

        out: dict[str, list[KeypointSample]] = {}
        for s in load_300w(root, require_images=True):
            first = s.id.split("/")[0].lower()
            split = _SPLIT_ALIASES.get(first) or s.extras["split"] or "train"
            out.setdefault(split, []).append(s)
        return out

    def _extras(self, s: KeypointSample) -> dict:
        return {"interocular": np.float32(s.extras["interocular"])}


class ConvcorrFlic(_KeypointBuilder):
    """FLIC / FLIC-full from `examples.mat` and `images/` (the 11 labelled joints, 0-based)."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {**_KeypointBuilder.RELEASE_NOTES,
                     "1.1.0": "moviename (text): each frame's film, for the by-film validation split. " + _UPRIGHT}
    EXTRA_FEATURES = {"torso_box": ((4,), np.float32), "torso_size": ((), np.float32)}
    MANUAL_LAYOUT = "examples.mat and images/ (FLIC)"
    EXTRA_TEXT = ("moviename",)

    def _splits(self, root: Path) -> dict[str, list[KeypointSample]]:
        from convcorr_jax.data.flic import load_flic

        return {split: list(load_flic(root, split=split)) for split in ("train", "test")}

    def _extras(self, s: KeypointSample) -> dict:
        return {"torso_box": np.asarray(s.extras["torso_box"], np.float32),
                "torso_size": np.float32(s.extras["torso_size"]), "moviename": s.extras["moviename"]}


class ConvcorrPfWillow(_KeypointBuilder):
    """PF-WILLOW (Proposal Flow benchmark): 10 keypoints per image, bbox = their tight box, 0-based."""

    EXTRA_FEATURES = {"index": ((), np.int64)}
    MANUAL_LAYOUT = "PF-WILLOW sub-class folders (<sub-class>/*.png with .mat files), or PF-dataset-WILLOW/ of them"
    EXTRA_TEXT = ("subclass",)

    def _splits(self, root: Path) -> dict[str, list[KeypointSample]]:
        from convcorr_jax.data.pf_willow import load_pf_willow

        for sub in ("PF-dataset-WILLOW", "PF-dataset"):
            if (root / sub).is_dir():
                root = root / sub
                break
        return {"test": list(load_pf_willow(root))}

    def _extras(self, s: KeypointSample) -> dict:
        return {"index": np.int64(s.extras["index"]), "subclass": s.extras["subclass"]}


BUILDERS: Registry[type] = Registry("tfds build", {
    "voc_keypoints": ConvcorrVocKeypoints, "mpii": ConvcorrMpii, "faces300w": ConvcorrFaces300w, "flic": ConvcorrFlic,
    "pf_willow": ConvcorrPfWillow})


def build(name: str, manual_dir: str | os.PathLike, data_dir: str | os.PathLike) -> dict:
    """Prepare builder `name` from `manual_dir` into `data_dir` (reused when already prepared).

    Args:
        name: "voc_keypoints" | "mpii" | "faces300w" | "flic" | "pf_willow" (`BUILDERS`).
        manual_dir: the dataset's files in the builder's layout (module docstring).
        data_dir: where the prepared array_record files go.

    Returns:
        {split: data source} (random access, numpy records in the loader's order; `_to_sample` turns one into a
        `KeypointSample`).

    Raises:
        InputError: for an unknown name, a missing or empty `manual_dir` (when not yet prepared), a `manual_dir`
            without any example, or from the dataset's loader.
    """
    b = BUILDERS[name](data_dir=os.fspath(data_dir))
    man = Path(manual_dir)
    if not b.is_prepared() and not (man.is_dir() and any(man.iterdir())):
        raise InputError(man, "manual_dir", f"a folder holding {b.MANUAL_LAYOUT}",
                         "an empty folder" if man.is_dir() else "missing folder")
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir),
                                                                        try_download_gcs=False))
    return dict(b.as_data_source())


def _load_prepared(path: str | os.PathLike) -> dict:
    """{split: data source} of a prepared dataset folder (`<data_dir>/<name>/<version>`), no builder code.

    Args:
        path: the prepared dataset's version folder.

    Returns:
        {split name: data source} (random access, numpy records).
    """
    return dict(tfds.builder_from_directory(os.fspath(path)).as_data_source())


def _to_sample(rec: dict) -> KeypointSample:
    """A data-source record back as a `KeypointSample` (extras = the remaining features).

    Args:
        rec: one record: image uint8 [H, W, 3], points float32 [K, 2], visible bool [K], bbox float32 [4], names
            (comma-joined), category, id, image_path (text, bytes or str), plus the builder's extras.

    Returns:
        The `KeypointSample`, with `image` loaded and image_path None where stored empty; text extras decoded to str.
    """
    txt = lambda v: v.decode() if isinstance(v, bytes) else str(v)
    core = {"image", "points", "visible", "bbox", "names", "category", "id", "image_path"}
    return KeypointSample(points=np.asarray(rec["points"], np.float32), visible=np.asarray(rec["visible"], bool),
                          names=tuple(txt(rec["names"]).split(",")), bbox=np.asarray(rec["bbox"], np.float32),
                          category=txt(rec["category"]), id=txt(rec["id"]), image=np.asarray(rec["image"]),
                          image_path=txt(rec["image_path"]) or None,
                          extras={k: txt(v) if isinstance(v, bytes) else v for k, v in rec.items() if k not in core})


def _iter_samples(source) -> Iterator[KeypointSample]:
    """Every record of a data source as `KeypointSample`s.

    Args:
        source: a data source of `build` or `_load_prepared` (len and integer indexing).

    Returns:
        An iterator of `KeypointSample`s (`_to_sample`), in record order.
    """
    for i in range(len(source)):
        yield _to_sample(source[i])
