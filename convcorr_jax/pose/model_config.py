"""The settings of the pose model (`convcorr_jax.pose.model`): `ModelConfig`, `full_model` (widths close to the
paper's FLIC model) and the names of the MobileNetV2 trunk's taps and layers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import InputError

TRUNKS = ("", "mobilenet_v2")  # "": the paper's multi-resolution banks
TRUNK_FINE_TAPS = ("block1", "block3", "block6")  # strides 2, 4, 8: crop-module levels 0, 1, 2
TRUNK_DEEP_TAP = "block13"  # stride 16
TRUNK_LAYERS = ("stem",) + tuple(f"block{i}" for i in range(1, 14))  # the trunk's parameters, network order
# the product read-out ("xy_product"): fine map x coarse map ** this, both clipped at 0; chosen on FLIC's validation
# movies (bench/RESULTS_pose.md, bench/cascade_diagnosis.py)
PRODUCT_POWER = 4.0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model hyper-parameters. Defaults are the small CPU model; `full_model()` gives the paper's widths."""

    num_joints: int = 16
    image_size: int = 128  # square input, multiple of pool * 2^(levels-1)
    pool: int = 8  # total pooling factor of the coarse model: 4, 8 or 16
    levels: int = 3  # Gaussian pyramid levels
    kernel: int = 5  # coarse conv kernel
    bank: tuple[int, int, int, int] = (16, 24, 32, 48)  # conv widths of each resolution bank
    head: int = 64  # width of the first 1x1 conv
    spatial_dropout: float = 0.2  # drop probability p in [0, 1); 0 switches SpatialDropout off
    fine: tuple[int, int, int, int] = (16, 16, 24, 24)  # Siamese widths (2 per bank, 2 after fusion)
    context: int = 40  # fine window side in image pixels (multiple of 2^levels)
    sigma: float = 1.0  # target Gaussian std in heat-map cells (coarse and fine)
    variant: str = "shared"  # "shared" (the paper's cascade) or "standard" (image crops)
    lcn_sigma: float = 2.0  # std (pixels) of the LCN Gaussian
    trunk: str = ""  # "" (the paper's banks) or "mobilenet_v2" (pretrained trunk, module docstring)
    trunk_weights: str = "imagenet"  # "imagenet" (real pretrained weights) or "random" (seeded, for tests)
    trunk_head: int = 128  # width of the trunk model's conv3x3 before SpatialDropout
    out_init_std: float = 1e-3  # std of the heat-map output layers' initial weights (coarse fc2, fine joint_w):
    # near-zero initial heat-maps start E1/E2 at the all-zero value, so the first Adam steps do not silence most
    # ReLU units
    fine_coarse: bool = False  # the fine model also reads its joint's coarse heat-map (no gradient), cropped
    # with its coarsest level: the coarse evidence enters the fine map (beyond the paper; `fine_inputs`)

    def validate(self, prefix: str = "") -> "ModelConfig":
        """self, or InputError naming the first bad field (as `prefix` + name, e.g. "model.pool" in a config).

        Args:
          prefix: the config's path in an enclosing config ("model."); "" for a model config on its own.

        Returns:
          self.

        Raises:
          InputError: a field of another type than its annotation's, out of its range, or not fitting another.
        """
        source = "config" if prefix else "model config"

        def bad(field, expected, got):
            raise InputError(source, prefix + field, expected, got)

        check_types(self, source, prefix)
        check_fields(self, at_least_one=("num_joints", "levels", "kernel", "bank", "head", "fine", "trunk_head"),
                     positive=("sigma", "lcn_sigma"), nonnegative=("out_init_std",),
                     finite=("sigma", "lcn_sigma", "out_init_std"), source=source, prefix=prefix)
        if not 0 <= self.spatial_dropout < 1:  # p = 1 draws masks of 0 / 0
            bad("spatial_dropout", "a drop probability in [0, 1) (0: off)", self.spatial_dropout)
        if self.pool not in (4, 8, 16):
            bad("pool", "4, 8 or 16", self.pool)
        if self.variant not in ("shared", "standard"):
            bad("variant", "'shared' or 'standard'", self.variant)
        if self.image_size < self.size_multiple or self.image_size % self.size_multiple:
            bad("image_size", f"a positive multiple of pool * 2^(levels-1) = {self.size_multiple}", self.image_size)
        if self.context < 2**self.levels or self.context % (2**self.levels):
            bad("context", f"a positive multiple of 2^levels = {2 ** self.levels}", self.context)
        if self.trunk not in TRUNKS:
            bad("trunk", "'' (the paper's banks) or 'mobilenet_v2'", self.trunk)
        if self.trunk_weights not in ("imagenet", "random"):
            bad("trunk_weights", "'imagenet' or 'random'", self.trunk_weights)
        if self.fine_coarse and self.variant != "shared":
            bad("fine_coarse", "False with variant 'standard' (its fine model reads image crops)", self.fine_coarse)
        if self.trunk:
            for field, want in (("pool", 8), ("levels", 3), ("variant", "shared")):
                if getattr(self, field) != want:
                    bad(field, f"{want!r} with trunk {self.trunk!r} (its features are at strides 2, 4, 8)",
                        getattr(self, field))
        return self

    @property
    def size_multiple(self) -> int:
        """The input side is a multiple of this: pool * 2^(levels-1), the coarsest bank's stride."""
        return self.pool * 2 ** max(self.levels - 1, 0)

    @property
    def drop_channels(self) -> int:
        """Channels SpatialDropout acts on."""
        return self.trunk_head if self.trunk else self.bank[3]

    @property
    def map_size(self) -> int:
        """S, the side of the coarse heat-map: image_size / pool."""
        return self.image_size // self.pool

    @property
    def window(self) -> int:
        """Side of the level-0 (canonical) fine window in cells of stride 2."""
        return self.context // 2


def full_model(**kw: Any) -> ModelConfig:
    """Widths close to the paper's FLIC model (128-feature banks, 512-wide 1x1), 256x256 input, the paper's target
    sigma of 1.5 heat-map pixels.

    Args:
      **kw: `ModelConfig` fields that override these (context defaults to 72 image pixels, 80 with pool=16).

    Returns:
      The ModelConfig (not validated).
    """
    base: dict[str, Any] = dict(image_size=256, bank=(128, 128, 128, 512), head=256, fine=(128, 128, 128, 128),
                                kernel=5, sigma=1.5, context=72 if kw.get("pool", 8) != 16 else 80)
    base.update(kw)
    return ModelConfig(**base)
