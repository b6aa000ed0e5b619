"""What MobileNetV2 and EfficientNet-Lite share: a stem conv, inverted-residual (MBConv) blocks and a 1x1 head conv,
each conv followed by batch norm, then a global average and a linear classifier.

A block: expand 1x1 + BN + ReLU6 (absent when the hidden width equals the input's), depthwise k x k stride s + BN +
ReLU6, project 1x1 + BN, identity shortcut when stride 1 and the channels are equal; its output is linear. The
networks differ in their settings, their batch norm's eps and their padding, which each module's conv + BN
(`ConvBN`) carries.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from convcorr_jax.backbones import layers
from convcorr_jax.backbones.base import StateDict, check_input, oihw_to_hwio

CLASSES = 1000  # ImageNet
# (p, x, name) -> conv + BN of x: `name` the stem or a block whose k x k depthwise layer this is, None for a 1x1 conv
ConvBN = Callable[[dict, jax.Array, "str | None"], jax.Array]


def _conv_bn_shapes(k: int, c_in: int, c_out: int, depthwise: bool = False) -> dict:
    return {
        "kernel": (k, k, 1 if depthwise else c_in, c_out),
        "bn": {"scale": (c_out,), "bias": (c_out,), "mean": (c_out,), "var": (c_out,)},
    }


def param_shapes(stem: int, blocks: Sequence[tuple[int, int, int, int]], head: int) -> dict:
    """Shapes of the parameter tree (tuples per leaf) of a stem conv 3x3 on RGB, the blocks and the head.

    Args:
      stem: the stem's output channels.
      blocks: per block (in channels, hidden channels, out channels, depthwise kernel side).
      head: the head conv's output channels (the pooled feature's length).

    Returns:
      {"stem", "block1".."blockN", "conv_last": conv + BN shapes ("kernel" HWIO, depthwise [k, k, 1, C]; "bn":
      {"scale", "bias", "mean", "var"} [C]), "classifier": {"kernel": (head, 1000), "bias": (1000,)}}; a block has
      "expand" (absent when its hidden width equals its input's), "dw" and "project".
    """
    shapes = {"stem": _conv_bn_shapes(3, 3, stem)}
    for i, (c_in, hid, c_out, k) in enumerate(blocks, 1):
        b = {"expand": _conv_bn_shapes(1, c_in, hid)} if hid != c_in else {}
        b["dw"] = _conv_bn_shapes(k, hid, hid, depthwise=True)
        b["project"] = _conv_bn_shapes(1, hid, c_out)
        shapes[f"block{i}"] = b
    shapes["conv_last"] = _conv_bn_shapes(1, blocks[-1][2], head)
    shapes["classifier"] = {"kernel": (head, CLASSES), "bias": (CLASSES,)}
    return shapes


def _block(p: dict, x: jax.Array, name: str, spec: tuple[int, ...], conv_bn: ConvBN) -> jax.Array:
    """One block: params {"expand" (optional), "dw", "project"}, `name` ("block3") passed to `conv_bn` with its
    depthwise layer, spec (in channels, hidden channels, out channels, stride, ...); its output is linear."""
    h = x
    if "expand" in p:
        h = jax.nn.relu6(conv_bn(p["expand"], h, None))
    h = jax.nn.relu6(conv_bn(p["dw"], h, name))
    h = conv_bn(p["project"], h, None)
    return x + h if (spec[3] == 1 and spec[0] == spec[2]) else h


def forward(params: dict, x: jax.Array, taps: tuple[str, ...], relu: bool, blocks: Sequence[tuple[int, ...]],
            conv_bn: ConvBN) -> dict:
    """Preprocessed images -> {tap: NHWC map or [N, D] vector}, run only as far as the last requested tap.

    Args:
      params: the tree of `param_shapes`.
      x: preprocessed `[N, H, W, 3]` (any float dtype; run in float32).
      taps: names among "stem", "block1".."blockN", "conv_last", "pool", "logits".
      relu: "stem" and "conv_last" after (True) or before (False) their ReLU6; other taps are unaffected.
      blocks: per block (in channels, hidden channels, out channels, stride, ...).
      conv_bn: the network's conv + BN.

    Returns:
      {tap: array} in `taps` order: spatial taps float32 [N, h, w, C], "pool" [N, head], "logits" [N, 1000].
    """
    check_input(x)
    x = jnp.asarray(x, jnp.float32)  # bfloat16 / float16 / float64 inputs run in the parameters' float32
    want, out = set(taps), {}

    def record(name: str, pre: jax.Array, post: jax.Array) -> None:
        if name in want:
            out[name] = post if relu else pre

    pre = conv_bn(params["stem"], x, "stem")
    h = jax.nn.relu6(pre)
    record("stem", pre, h)
    for i, spec in enumerate(blocks, 1):
        if not want - set(out):
            break
        h = _block(params[f"block{i}"], h, f"block{i}", spec, conv_bn)
        record(f"block{i}", h, h)
    if want - set(out):
        pre = conv_bn(params["conv_last"], h, None)
        h = jax.nn.relu6(pre)
        record("conv_last", pre, h)
    if want - set(out):
        h = jnp.mean(h, axis=(1, 2))
        record("pool", h, h)
    if want - set(out):
        logits = layers.dense(params["classifier"], h)
        record("logits", logits, logits)
    return {t: out[t] for t in taps}


def take_conv_bn(sd: StateDict, conv_key: str, bn_key: str, shapes: dict) -> dict:
    """One conv + BN out of a torch state_dict (OIHW -> HWIO; BN weight, bias and running statistics).

    Args:
      sd: the state_dict being converted.
      conv_key, bn_key: the torch modules' names ("features.0.0", "features.0.1").
      shapes: the conv + BN's leaf of `param_shapes` ({"kernel": HWIO shape, ...}).

    Returns:
      {"kernel": HWIO np.ndarray, "bn": {"scale", "bias", "mean", "var"}}; InputError for a missing key or a wrong
      shape.
    """
    kh, kw, i, o = shapes["kernel"]
    kernel = oihw_to_hwio(sd.take(f"{conv_key}.weight", (o, i, kh, kw)))
    bn = {n: sd.take(f"{bn_key}.{t}", (o,)) for n,
          t in (("scale", "weight"), ("bias", "bias"), ("mean", "running_mean"), ("var", "running_var"))}
    return {"kernel": kernel, "bn": bn}


def finish_torch(sd: StateDict, params: dict, fc_key: str, head: int) -> dict:
    """Adds the torch linear classifier `fc_key` ([1000, head] weight) and checks that no key is left over.

    Args:
      sd: the state_dict being converted.
      params: the converted tree but its "classifier".
      fc_key: the torch linear layer's name ("classifier.1").
      head: the pooled feature's length.

    Returns:
      The tree of `param_shapes` with float32 jax arrays; InputError for a missing, misshapen or extra key.
    """
    params["classifier"] = {"kernel": sd.take(f"{fc_key}.weight", (CLASSES, head)).T.copy(),
                            "bias": sd.take(f"{fc_key}.bias", (CLASSES,))}
    sd.finish()
    return jax.tree_util.tree_map(jnp.asarray, params)

