"""The spatial model's inputs on FLIC, from annotations only (no image decoding): the ground truth of a split in the
crops (or frames) a run reads (`flic_points`), the priors and torso cells of a split (`spatial_inputs`), and a
spatial config's label. Shared by the test-split experiment (`tompson2015.flic`), the validation of the spatial
model's settings (`tompson2015.spatial_validation`) and the FLIC sweep (`tompson2015.flic_sweep`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from convcorr_jax.core.crop_geometry import PERSON_BOX_SCALE
from convcorr_jax.pose import heatmaps, predict, spatial
from convcorr_jax.pose.data import flic_ground_truth, flic_split, flic_torso_norm


@dataclasses.dataclass(frozen=True)
class FlicPoints:
    """FLIC ground truth in person-crop pixels: points [N, K, 2], visible [N, K] (labelled and finite), norm [N]
    (|l shoulder - r hip|), torso [N, 2] (the torso box's centre)."""

    points: np.ndarray
    visible: np.ndarray
    norm: np.ndarray
    torso: np.ndarray


def flic_points(root: str | Path, split: str, image_size: int, crop_scale: float = PERSON_BOX_SCALE,
                protocol: str = "person") -> FlicPoints:
    """Ground truth of a FLIC split ("train", "val", "trainval", "test") in the crops (or frames) of
    `pose.data.flic_crops` (annotations only). Not cached itself: `flic_split` keeps the parsed annotations per
    version of examples.mat and images/, so an edited folder is read again (tens of ms a call)."""
    pts, vis, torso = flic_ground_truth(flic_split(root, split), image_size, crop_scale, protocol)
    return FlicPoints(np.nan_to_num(pts).astype(np.float32), vis, flic_torso_norm(pts).astype(np.float32), torso)


def prior_split(split: str) -> str:
    """The FLIC split whose ground truth gives the priors for scoring `split`: "train" for "val" (the validation
    movies' own annotations never), "trainval" (all of FLIC train) for "test"."""
    return "train" if split == "val" else "trainval"


def spatial_inputs(root: str | Path, image_size: int, pool: int, crop_scale: float, n: int,
                   cfg: spatial.SpatialConfig = spatial.FLIC_VALIDATED, split: str = "val",
                   protocol: str = "person") -> predict.SpatialInputs:
    """`predict.SpatialInputs` for the first n FLIC crops of `split` of a run (image_size, pool, crop_scale,
    protocol) under the spatial config `cfg`: log-priors (`spatial.learn_priors`) of the ground truth of
    `prior_split(split)` and each person's torso (the torso box's centre: the crop's centre under "person") in
    heat-map cells."""
    cfg.validate()
    train = flic_points(str(root), prior_split(split), image_size, float(crop_scale), protocol)
    pri = spatial.learn_priors(train.points, train.visible, train.torso, pool, cfg, image_size // pool)
    torso = flic_points(str(root), split, image_size, float(crop_scale), protocol).torso[:n]
    return predict.SpatialInputs(pri, np.asarray(heatmaps.image_to_map(torso, pool), np.float32), cfg)


def spatial_label(cfg: spatial.SpatialConfig) -> str:
    """The fields of a spatial config that differ from `SpatialConfig()`, the validation search's start ("default"
    when none)."""
    base = spatial.SpatialConfig()
    diff = []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if v != getattr(base, f.name):
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            diff.append(f"{f.name}={v:g}" if num else f"{f.name}={v}")
    return ", ".join(diff) or "default"
