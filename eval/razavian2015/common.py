"""What the Razavian et al. experiments share: the config fields and sizes, the descriptor (one featurizer per
run, memoised), and number formatting."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import numpy as np

from convcorr_jax.regression.features import Featurizer, backbone_featurizers
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import ExperimentConfig, sized


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Synthetic data sizes (~75% train / 25% test) and the descriptor: the flattened `descriptor` role map of
    the backbone, l2-normalised (`extra_descriptor`: a second role shown as an extra Table 1 row, or None)."""

    n_faces: int = 500
    n_objects: int = 300
    face_size: int = 128  # synthetic face image size = descriptor input size
    crop_size: int = 64  # look-back crop size
    object_crop: int = 128  # keypoint instance crop / whole-image descriptor size
    attribute: str = "yaw"  # synthetic-face attribute of the semantic direction (Fig. 6)
    descriptor: str = "pool5"
    extra_descriptor: str | None = "fc6"


SIZES = {
    "tiny": dict(n_faces=36, n_objects=36, face_size=64, crop_size=64, object_crop=64),  # CaffeNet pool5: 1 x 1 at 64 px, empty below 56
    "default": {},
    "full": dict(n_faces=2000, n_objects=1500, crop_size=128),
}

C = TypeVar("C", bound=Config)


def config_at(cls: type[C], size: str) -> C:
    """`cls` with the fields of `SIZES[size]`."""
    return cls(size=size, **sized(size, SIZES))


@dataclasses.dataclass(frozen=True)
class Descriptors:
    """main: the descriptor; extra: the `extra_descriptor` role (None when not asked for); text: what they are."""

    main: Featurizer
    extra: Featurizer | None
    text: str


def make_descriptors(cfg: Config) -> Descriptors:
    """The backbone of `cfg` (`load_backbone(cfg.backbone, cfg.weights, cfg.seed)`) as featurizers of its
    `descriptor` and `extra_descriptor` roles, sharing one memoised forward pass."""
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    roles = (cfg.descriptor,) + ((cfg.extra_descriptor,) if cfg.extra_descriptor not in (None, cfg.descriptor)
                                 else ())
    fz = backbone_featurizers(backbone, params, roles)
    weights = {None: "pretrained weights", "random": "random weights (plumbing only)"}.get(cfg.weights,
                                                                                          f"weights {cfg.weights}")
    text = (f"{backbone.name} with {weights}, flattened {cfg.descriptor}-role map "
            f"({backbone.roles[cfg.descriptor]}), l2-normalised")
    if len(roles) > 1:
        text += f"; the {roles[1]} role ({backbone.roles[roles[1]]}) is shown as an extra Table 1 row"
    return Descriptors(fz[cfg.descriptor], fz[roles[1]] if len(roles) > 1 else None, text)


def fmt(x, digits: int = 3) -> str:
    """A number for a table cell ("-" for None / NaN)."""
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"
