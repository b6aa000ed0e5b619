"""FLIC for the pose cascade: square person crops around the torso box, the by-movie validation split, and the affine
of each crop (image -> crop).

    crops = load_crops(root, "val", image_size=128)        # PoseCrops: arrays (PoseArrays), affine [N, 2, 3], ...
    train, val = train_val(cfg)                            # what `train.load_data` returns for data="flic"
    xy_image = predict.to_original(xy_crop, crops.affine)  # [N, K, 2] back in the (on-disk) image frame

Splits: "train" is FLIC train minus the validation movies, "val" the validation movies (`data.flic_split`,
fraction `VAL_FRACTION`, seed `VAL_SEED`), "trainval" all of FLIC train, "test" FLIC test (only for final numbers).
Crop: side `TrainConfig.crop_scale` (default `CROP_SCALE`) x the torso box's longer side, centred on the box
(FLIC gives the torso box of the person to be evaluated), bilinear, black outside the image (`geometry.crop`).
PCK normaliser: the torso size |l shoulder - r hip| (MODEC) in crop pixels; PCK is invariant to the crop's
uniform scale. Crops are cached (`convcorr_jax.cache`, kind "flic-crops").
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from convcorr_jax import cache, geometry
from convcorr_jax.data.flic import load_flic
from convcorr_jax.data.flic_split import movie_split
from convcorr_jax.data.types import load_image
from convcorr_jax.errors import InputError
from convcorr_jax.pose.train import PoseArrays, TrainConfig

SPLITS = ("train", "val", "trainval", "test")
VAL_FRACTION = 0.15
VAL_SEED = 0
CROP_SCALE = TrainConfig.crop_scale
_CHUNK = 64


@dataclasses.dataclass(frozen=True)
class PoseCrops:
    """arrays: the crops (PoseArrays, points in crop pixels); affine [N, 2, 3]: image -> crop; index [N]: 0-based
    examples.mat index; movie: N movie names."""

    arrays: PoseArrays
    affine: np.ndarray
    index: np.ndarray
    movie: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.arrays)


def split_indices(movies, split: str, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> np.ndarray:
    """Positions (into FLIC train's frames, one movie name each) of split "train", "val" or "trainval"."""
    if split == "trainval":
        return np.arange(len(movies), dtype=np.int64)
    tr, va = movie_split(movies, fraction, seed)
    return {"train": tr, "val": va}[split]


def crop_affines(torso_boxes: np.ndarray, size: int, scale: float = CROP_SCALE) -> np.ndarray:
    """Image -> crop affines [N, 2, 3] of square crops (side scale x longer torso-box side) around boxes [N, 4]."""
    tb = np.asarray(torso_boxes, np.float64).reshape(-1, 4)
    side = scale * np.maximum(tb[:, 2] - tb[:, 0], tb[:, 3] - tb[:, 1])
    return geometry.box_to_affine(geometry.square_box((tb[:, :2] + tb[:, 2:]) / 2, side), size)


def _build(root: Path, split: str, size: int, scale: float, fraction: float, seed: int, out: Path) -> None:
    samples = load_flic(root, split="test" if split == "test" else "train")
    if split != "test":
        keep = split_indices([s.extras["moviename"] for s in samples], split, fraction, seed)
        samples = [samples[i] for i in keep]
    if not samples:
        raise InputError(root, "split", f"frames in FLIC split {split!r}", 0)
    affine = crop_affines(np.stack([s.extras["torso_box"] for s in samples]), size, scale)
    images = np.zeros((len(samples), size, size, 3), np.uint8)
    for i in range(0, len(samples), _CHUNK):
        part = samples[i:i + _CHUNK]
        imgs = [load_image(s.image_path) for s in part]
        images[i:i + len(part)] = geometry.crop_each(imgs, affine[i:i + len(part)], size, border="constant")
    pts = geometry.transform_points(np.stack([s.points for s in samples]).astype(np.float64), affine)
    pts = np.asarray(pts, np.float32)
    vis = np.stack([np.asarray(s.extras["labelled"], bool) for s in samples])
    norm = np.linalg.norm(pts[:, 0] - pts[:, 7], axis=-1).astype(np.float32)  # l shoulder - r hip
    np.savez(out / "crops.npz", images=images, points=pts, visible=vis, norm=norm, affine=affine,
             index=np.array([s.extras["index"] for s in samples], np.int64),
             movie=np.array([s.extras["moviename"] for s in samples]))


def load_crops(root: str | os.PathLike, split: str, image_size: int, crop_scale: float = CROP_SCALE,
               fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> PoseCrops:
    """Person crops of one FLIC split (see the module docstring), side crop_scale x the torso box's longer side,
    resized to image_size px; built once, then read from the cache."""
    if split not in SPLITS:
        raise InputError("load_crops", "split", f"one of {SPLITS}", split)
    root = Path(root)
    mat = root / "examples.mat" if root.is_dir() else root
    if not mat.is_file():
        raise InputError(mat, "examples.mat", "an existing FLIC examples.mat", "missing file")
    st = mat.stat()
    settings = {"mat": str(mat.resolve()), "mat_size": st.st_size, "mat_mtime": int(st.st_mtime), "split": split,
                "size": image_size, "fraction": fraction, "seed": seed, "crop_scale": float(crop_scale)}
    version = cache.code_version("convcorr_jax.pose.flic_data", "convcorr_jax.data.flic",
                                 "convcorr_jax.data.flic_split", "convcorr_jax.geometry")
    path = cache.cached("flic-crops", settings, version,
                        lambda out: _build(mat.parent, split, image_size, crop_scale, fraction, seed, out))
    with np.load(path / "crops.npz") as z:
        arrays = PoseArrays(z["images"], z["points"], z["visible"], z["norm"])
        return PoseCrops(arrays, z["affine"], z["index"], tuple(str(m) for m in z["movie"]))


def train_val(cfg: TrainConfig) -> tuple[PoseArrays, PoseArrays]:
    """(train, validation) crops for a FLIC training config: FLIC train minus the validation movies, and those
    movies. The test split is never touched here."""
    if not cfg.data_root:
        raise InputError("config", "data_root", "a folder with FLIC's examples.mat and images/")
    size, scale = cfg.model.image_size, cfg.crop_scale
    return (load_crops(cfg.data_root, "train", size, scale).arrays,
            load_crops(cfg.data_root, "val", size, scale).arrays)
