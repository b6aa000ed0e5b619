"""What the Razavian et al. experiments share: the config fields and sizes, the descriptor (one featurizer per
run, memoised), and number formatting."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np

from convcorr_jax.backbones.registry import check_input_side, resolve_tap
from convcorr_jax.core.config import check_fields
from convcorr_jax.core.errors import check
from convcorr_jax.data.synthetic.faces import ATTRIBUTE_NAMES as FACE_ATTRIBUTES
from convcorr_jax.regression.features import GAP, Featurizer, backbone_featurizers, describe_gap
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import ExperimentConfig, sized


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Synthetic data sizes (~75% train / 25% test) and the descriptor: the backbone's `descriptor` role,
    l2-normalised. The headline is the flattened pool5-role map, the input of the paper's fc6 = ReLU(W vec(pool5))
    (AlexNet 6 x 6 x 256 at 224 px, VGG-16 7 x 7 x 512, MobileNetV2 block16); `extra_descriptor` (default "gap":
    the network's global average pool, which discards the layout by construction) is a labelled second row, or
    None. Any role or tap of the backbone works for either, e.g. "fc6" where the weights hold fc layers or
    "block13"."""

    n_faces: int = 500
    n_objects: int = 300
    face_size: int = 128  # synthetic face image size = descriptor input size
    crop_size: int = 64  # look-back crop size
    object_crop: int = 128  # keypoint instance crop / whole-image descriptor size
    attribute: str = "yaw"  # synthetic-face attribute of the semantic direction (Fig. 6; `FACE_ATTRIBUTES`)
    descriptor: str = "pool5"
    extra_descriptor: str | None = GAP
    n_flic_train: int | None = 1000  # data=flic: FLIC train / test frames (seeded sub-sample; None: all)
    n_flic_test: int | None = 400
    flic_attribute: str = "torso_x"  # data=flic: label-derived attribute of the direction (see flic.py)
    flic_crop: str = "frame"  # data=flic: "frame" (the whole frame) or "person" (the person box; see flic.py)
    feature_batch: int = 32  # images per forward pass (smaller for VGG-16 on whole frames: memory)

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, at_least_one=("n_faces", "n_objects", "face_size", "crop_size", "object_crop",
                                         "n_flic_train", "n_flic_test", "feature_batch"))
        check(self.flic_crop in FLIC_CROPS, "config", "flic_crop", f"one of {list(FLIC_CROPS)}", self.flic_crop)
        check(self.attribute in FACE_ATTRIBUTES, "config", "attribute",
              f"an attribute of the synthetic faces, one of {list(FACE_ATTRIBUTES)}", self.attribute)
        check(self.flic_attribute in FLIC_ATTRIBUTES, "config", "flic_attribute", f"one of {list(FLIC_ATTRIBUTES)}",
              self.flic_attribute)

    def check(self) -> None:
        """The descriptor roles name taps of the backbone (or "gap"), and the image sizes that feed them are at
        least their smallest inputs."""
        for field in ("descriptor", "extra_descriptor"):
            role = getattr(self, field)
            if role in (None, GAP):
                continue
            tap = resolve_tap(self.backbone, role, field)
            for size in ("face_size", "crop_size", "object_crop"):
                check_input_side(self.backbone, tap, getattr(self, size), "config", size)


EXTEND_TOP = 8  # ridge lambda grid values added above LAMBDAS' top (1e2) where the CV's best is the top: up to 1e6
FLIC_CROPS = ("frame", "person")
FLIC_ATTRIBUTES = ("torso_x", "torso_size")  # label-derived attributes of the FLIC direction (`flic_joints.attribute`)
SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(n_faces=36, n_objects=36, face_size=64, crop_size=64, object_crop=64, n_flic_train=40,
                 n_flic_test=16),  # CaffeNet pool5: 1 x 1 at 64 px, empty below 56
    "default": {},
    "full": dict(n_faces=2000, n_objects=1500, crop_size=128, n_flic_train=None, n_flic_test=None),
}

C = TypeVar("C", bound=Config)


def config_at(cls: type[C], size: str) -> C:
    """`cls` with the fields of `SIZES[size]`."""
    return cls(size=size, **sized(size, SIZES))


@dataclasses.dataclass(frozen=True)
class Descriptors:
    """main: the descriptor; extra: the `extra_descriptor` role (None when not asked for); text: what they are;
    extra_label: the table row of `extra` (e.g. "ConvNet + ridge, flattened pool5-role map (block16)")."""

    main: Featurizer
    extra: Featurizer | None
    text: str
    extra_label: str | None = None


def make_descriptors(cfg: Config) -> Descriptors:
    """The backbone of `cfg` (`load_backbone(cfg.backbone, cfg.weights, cfg.seed)`) as featurizers of its
    `descriptor` and `extra_descriptor` roles, sharing one memoised forward pass."""
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    roles = (cfg.descriptor,) + ((cfg.extra_descriptor,) if cfg.extra_descriptor not in (None, cfg.descriptor)
                                 else ())
    fz = backbone_featurizers(backbone, params, roles, batch_size=cfg.feature_batch)
    weights = {None: "pretrained weights", "random": "random weights (plumbing only)"}.get(cfg.weights,
                                                                                          f"weights {cfg.weights}")
    text = (f"{backbone.name} with {weights}, {describe_role(backbone, cfg.descriptor)}, l2-normalised")
    if len(roles) > 1:
        text += f"; the {describe_role(backbone, roles[1])} is shown as a labelled second row"
    extra = len(roles) > 1
    return Descriptors(fz[cfg.descriptor], fz[roles[1]] if extra else None, text,
                       row_label(backbone, roles[1]) if extra else None)


def is_spatial(backbone, role: str) -> bool:
    """Whether the role's (or tap's) tap is a spatial map (flattened into the descriptor) rather than a global
    vector."""
    return role != GAP and resolve_tap(backbone, role, "descriptor") in backbone.geometry


def describe_role(backbone, role: str) -> str:
    """E.g. "flattened pool5-role map (block16)", "global average pool (pool)", "global fc6-role vector (fc6)" or,
    for a tap named directly, "flattened map of tap block13"."""
    if role == GAP:
        return describe_gap(backbone)
    spatial = is_spatial(backbone, role)
    if role not in backbone.roles:
        return f"{'flattened map' if spatial else 'global vector'} of tap {role}"
    kind = "flattened {r}-role map" if spatial else "global {r}-role vector"
    return f"{kind.format(r=role)} ({backbone.roles[role]})"


def row_label(backbone, role: str) -> str:
    """Table row of a descriptor role: "ConvNet + ridge" with what the descriptor is."""
    return f"ConvNet + ridge, {describe_role(backbone, role)}"


def lambda_text(lam: float, edge: str) -> str:
    """A CV lambda for a table cell, marked where it is at the edge of the lambdas tried (`ridge.CVErrors.edge`):
    e.g. "0.32", "1e+06 (top)", "1e-07 (bottom)"."""
    return f"{lam:.2g}" + {"high": " (top)", "low": " (bottom)"}.get(edge, "")


def fmt(x, digits: int = 3) -> str:
    """A number for a table cell ("-" for None / NaN)."""
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"
