"""The layer-list machinery that runs the AlexNet family (`alexnet.py`) and VGG-16 (`vgg16.py`): a network as a
tuple of `Op` (conv, pool, LRN, adaptive pool, fc), its parameter shapes (`param_shapes`), random parameters
(`init`), the forward pass to the requested taps (`forward`), the torch and Caffe weight converters
(`convert_torch`, `convert_caffe`) and the `Backbone` record of a layer list (`build`).

fc6 flatten order: our pool5 is NHWC, so fc6's kernel rows are in (h, w, c) order, row `(h*6 + w)*256 + c`.
Caffe and PyTorch flatten CHW (column `c*36 + h*6 + w` of their `[4096, 9216]` weight); the converters reorder
with `_fc_rows_hwc`: `W.reshape(4096, 256, 6, 6).transpose(2, 3, 1, 0).reshape(9216, 4096)`.
The Caffe models' fc layers need a 6 x 6 pool5 (227 input); other sizes give conv/pool taps only.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones import layers, preprocess
from convcorr_jax.backbones.base import (Backbone, StateDict, check_input, check_taps, jit_forward,
                                         oihw_to_hwio)
from convcorr_jax.backbones.receptive_field import Step, grid_size, rf_table
from convcorr_jax.backbones.registry import check_input_side
from convcorr_jax.core.errors import InputError, check_shape


@dataclasses.dataclass(frozen=True)
class Op:
    """One layer of a layer list: kind (conv, pool, lrn, adapt, fc), name, output channels or side, geometry step,
    groups, ReLU after it."""
    kind: str  # "conv", "pool", "lrn", "adapt", "fc"
    name: str
    out: int = 0  # output channels (conv, fc) or output side (adapt: AdaptiveAvgPool2d((out, out)))
    step: Step | None = None
    groups: int = 1
    relu: bool = False

    def __post_init__(self) -> None:
        if self.kind in ("conv", "pool") and self.step is None:
            raise InputError("Op", "step", f"a Step (kernel, stride, padding) for the {self.kind} layer {self.name!r}")


def _step(op: Op) -> Step:
    """The step of a conv or pool op (`Op` refuses one without)."""
    assert op.step is not None, f"{op.kind} layer {op.name!r} has no step"
    return op.step


FC_FREE = ("taps up to pool5: these weights hold no fully connected layers (fc6, fc7, fc8); use a conv/pool tap or "
           "weights with fc layers")


def _fc_side(ops: tuple[Op, ...]) -> int:
    """Side of the square map that fc6 flattens: the adaptive pool's output, else 6 (Caffe pool5 at 227 px).

    Args:
      ops: the layer list.

    Returns:
      int side (the "adapt" op's `out`, else 6).
    """
    return next((op.out for op in ops if op.kind == "adapt"), 6)


def _taps_of(ops: tuple[Op, ...]) -> tuple[str, ...]:
    """Every tap name of the layer list `ops`, in network order.

    Args:
      ops: the layer list.

    Returns:
      tuple[str, ...]: every op's name except the adaptive pool's, then "logits".
    """
    return tuple(op.name for op in ops if op.kind != "adapt") + ("logits",)


def _geometry_of(ops: tuple[Op, ...]) -> dict:
    """tap -> `RF` (size, stride, offset in input pixels) of every spatial tap of `ops`.

    Args:
      ops: the layer list.

    Returns:
      {tap: RF} for the conv, pool and LRN taps (fc taps are global and absent).
    """
    return rf_table([(op.name, op.step) for op in ops if op.kind in ("conv", "pool", "lrn")])


def _steps_to(ops: tuple[Op, ...], tap: str) -> list[Step]:
    out = []
    for op in ops:
        if op.step is not None:
            out.append(op.step)
        if op.name == tap:
            return out
    raise InputError("backbone", "tap", f"a spatial tap of {[o.name for o in ops if o.step]}", tap)


def param_shapes(ops: tuple[Op, ...]) -> dict[str, dict[str, tuple[int, ...]]]:
    """Parameter shapes (HWIO kernels, [in, out] dense) of each parameterised layer of `ops`.

    Args:
      ops: the layer list; the first dense layer takes the flattened `_fc_side x _fc_side x C` map.

    Returns:
      {layer: {"kernel": (kh, kw, C/groups, O) or (D_in, D_out), "bias": (O,)}} of shape tuples.
    """
    shapes, c, spatial = {}, 3, True
    for op in ops:
        if op.kind == "conv":
            k = _step(op).kernel
            shapes[op.name] = {"kernel": (k, k, c // op.groups, op.out), "bias": (op.out,)}
            c = op.out
        elif op.kind == "fc":
            d_in = _fc_side(ops) ** 2 * c if spatial else c
            shapes[op.name] = {"kernel": (d_in, op.out), "bias": (op.out,)}
            c, spatial = op.out, False
    return shapes


def init(ops: tuple[Op, ...], key: jax.Array, input_size: Sequence[int] | None = None) -> dict:
    """He-normal kernels, zero biases.

    Args:
      ops, key: the layer list and a `jax.random` key.
      input_size: accepted for API symmetry (parameters do not depend on it).

    Returns:
      {layer: {"kernel", "bias"}} float32 jax arrays of `param_shapes(ops)`.
    """
    return _init(ops, key)


@functools.partial(jax.jit, static_argnums=0)
def _init(ops: tuple[Op, ...], key: jax.Array) -> dict:
    return layers.init_tree(key, param_shapes(ops))


def forward(ops: tuple[Op, ...], name: str, params: dict, x: jax.Array, taps: tuple[str, ...],
            relu: bool = True) -> dict:
    """Run the layer list up to the last requested tap.

    Args:
      ops, name: the layer list and the network's name (for errors).
      params: {layer: {"kernel", "bias"}}, holding every layer up to the last tap.
      x: preprocessed float32 `[N, H, W, 3]`; taps: tap names of `_taps_of(ops)` ("logits" is fc8).
      relu: conv*/fc6/fc7 taps after (True) or before (False) their ReLU.

    Returns:
      {tap: array} in `taps` order: spatial taps float32 [N, h, w, C], fc taps [N, D]. InputError for x not float
      [N, H, W, 3], or for an fc layer on a pool5 that is not _fc_side x _fc_side.
    """
    check_input(x)
    x = jnp.asarray(x, jnp.float32)  # bfloat16 / float16 / float64 inputs run in the parameters' float32
    want = set("fc8" if t == "logits" else t for t in taps)
    out: dict[str, jax.Array] = {}
    side = _fc_side(ops)
    for op in ops:
        if not want - set(out):
            break
        if op.kind == "conv":
            x = layers.conv(params[op.name], x, _step(op))
        elif op.kind == "pool":
            x = layers.max_pool(x, _step(op))
        elif op.kind == "lrn":
            x = layers.lrn(x, 5, 1e-4, 0.75, 1.0)
        elif op.kind == "adapt":
            x = layers.adaptive_avg_pool(x, (op.out, op.out))
        elif op.kind == "fc":
            if x.ndim == 4:
                check_shape(x, ["N", side, side, "C"], name, "input size",
                            note=f"(the pool5 of 227 x 227 images, for {op.name})")
                x = x.reshape(x.shape[0], -1)
            x = layers.dense(params[op.name], x)
        if op.relu and not relu and op.name in want:
            out[op.name] = x
        if op.relu:
            x = jax.nn.relu(x)
        if op.name in want and op.name not in out:
            out[op.name] = x
    return {t: out["fc8" if t == "logits" else t] for t in taps}


def convert_torch(ops: tuple[Op, ...], keys: Mapping[str, str] | None, state_dict: Mapping[str, np.ndarray],
                  source: str = "state_dict") -> dict:
    """torch state_dict (numpy arrays, torch key names) -> params.

    Conv weights OIHW -> HWIO (grouped convs: `[O, C/groups, kh, kw]`), dense `[out, in]` -> `[in, out]`, fc6 columns
    CHW -> rows HWC.

    Args:
      ops, source: the layer list and the name errors give to the weights.
      keys: layer -> torch key prefix (torchvision's `features.i` / `classifier.i`: `TORCHVISION_KEYS`,
        `vgg16.TORCH_KEYS`); None: layer-named keys (`conv1.weight`, ..., `fc8.bias`, the Caffe models' torch port).
      state_dict: {torch key: np.ndarray} (`num_batches_tracked` keys ignored); one without any fc key converts to
        conv-only params (the `conv_keys` layers: taps up to pool5).

    Returns:
      {layer: {"kernel", "bias"}} float32 jax arrays; InputError for a missing key, a wrong shape or an extra key.
    """
    sd = StateDict(state_dict, source, ignore_suffixes=("num_batches_tracked",))
    shapes = param_shapes(ops)
    prefix = keys or {k: k for k in shapes}
    fc = [op.name for op in ops if op.kind == "fc"]
    if not any(f"{prefix[layer]}.{leaf}" in state_dict for layer in fc for leaf in ("weight", "bias")):
        shapes = {layer: s for layer, s in shapes.items() if layer not in fc}
    blobs = {layer: [sd.take(f"{prefix[layer]}.weight", _torch_shape(s["kernel"])),
                     sd.take(f"{prefix[layer]}.bias", s["bias"])]
             for layer, s in shapes.items()}  # fmt: skip
    sd.finish()
    return _from_oihw(ops, blobs)


def convert_caffe(ops: tuple[Op, ...], blobs: Mapping[str, list], source: str = "caffemodel") -> dict:
    """Caffe blobs `{layer: [weight OIHW / [out, in], bias]}` -> params.

    Args:
      ops, source: the layer list and the name errors give to the weights.
      blobs: {Caffe layer name: [weight, bias]}; legacy 4-D blob shapes (`1 x 1 x O x I` for InnerProduct weights,
        `1 x 1 x 1 x O` for biases) are squeezed; layers without blobs are ignored.

    Returns:
      {layer: {"kernel", "bias"}} float32 jax arrays; InputError for a missing layer, not 2 blobs, a wrong shape or
      an extra layer with blobs.
    """
    out = {}
    for layer, s in param_shapes(ops).items():
        if layer not in blobs:
            raise InputError(source, layer,
                             f"a layer with blobs [weight {_torch_shape(s['kernel'])}, bias {s['bias']}] "
                             "(missing layer)")
        b = list(blobs[layer])
        if len(b) != 2:
            raise InputError(source, f"{layer}.blobs", "2 blobs (weight, bias)", len(b))
        w, bias = (np.asarray(a, np.float32) for a in b)
        want_w, want_b = _torch_shape(s["kernel"]), s["bias"]
        if w.shape != want_w and w.size == int(np.prod(want_w)) and len(want_w) == 2:
            w = w.reshape(want_w)
        if bias.shape != want_b and bias.size == want_b[0]:
            bias = bias.reshape(want_b)
        if w.shape != want_w:
            raise InputError(source, f"{layer}.weight", f"shape {want_w}", w.shape)
        if bias.shape != want_b:
            raise InputError(source, f"{layer}.bias", f"shape {want_b}", bias.shape)
        out[layer] = [w, bias]
    extra = sorted(k for k, v in blobs.items() if k not in out and len(v))
    if extra:
        raise InputError(source, extra[0], f"only layers of this architecture with blobs ({list(out)})", extra)
    return _from_oihw(ops, out)


def _torch_shape(kernel_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(kernel_shape) == 4:
        kh, kw, i, o = kernel_shape
        return (o, i, kh, kw)
    return (kernel_shape[1], kernel_shape[0])


def _fc_rows_hwc(w: np.ndarray, side: int) -> np.ndarray:
    """A torch/Caffe fc6 weight (columns in CHW order) -> our kernel (rows in HWC order: row `(h*side + w)*C + c`).

    Args:
      w, side: the [out, C*side*side] weight and the side of the flattened map.

    Returns:
      [side*side*C, out], `w`'s dtype.
    """
    c = w.shape[1] // (side * side)
    return w.reshape(w.shape[0], c, side, side).transpose(2, 3, 1, 0).reshape(side * side * c, w.shape[0])


def _from_oihw(ops: tuple[Op, ...], blobs: dict) -> dict:
    params = {}
    for layer, (w, b) in blobs.items():
        if w.ndim == 4:
            k = oihw_to_hwio(w)
        elif layer == "fc6":
            k = _fc_rows_hwc(w, _fc_side(ops))
        else:
            k = w.T
        params[layer] = {"kernel": jnp.asarray(np.ascontiguousarray(k)), "bias": jnp.asarray(b)}
    return params


def _check_params(name: str, ops: tuple[Op, ...], params: Mapping, taps: tuple[str, ...]) -> None:
    """Every parameterised layer up to each requested tap must be in `params`.

    Args:
      name, ops: the network's name (for errors) and its layer list.
      params: the parameter tree (its top-level keys are read).
      taps: the requested tap names ("logits" is fc8).

    Returns:
      None. A conv-only tree (no fc layers) serves taps up to pool5; an fc tap on it is one InputError naming the tap
      (`FC_FREE`), another missing layer one InputError naming the layer.
    """
    for t in taps:
        target = "fc8" if t == "logits" else t
        for op in ops:
            if op.kind in ("conv", "fc") and op.name not in params:
                if op.kind == "fc":
                    raise InputError(name, "taps", FC_FREE, t)
                raise InputError(name, f"params[{op.name!r}]", "the layer's kernel and bias", "missing")
            if op.name == target:
                break


def build(name: str, ops: tuple[Op, ...], torch_keys: Mapping[str, str] | None, roles: Mapping[str, str],
          caffe: bool) -> Backbone:
    """The Backbone record of a layer list: Caffe conventions or torchvision's.

    Args:
      name, ops, torch_keys, roles: the network's name, its layer list, `keys` of `convert_torch`, role -> tap name.
      caffe: Caffe conventions (227 px, BGR 0-255, resize 256 / crop 227, `convert_caffe`), else torchvision's (224 px,
        normalised RGB, resize 256 keeping the aspect / crop 224).

    Returns:
      A `Backbone` whose `apply` checks taps, params and the input (float NHWC, no smaller than each tap's smallest
      input: `registry.check_input_side`), then runs the jit-compiled `forward`.
    """
    taps_all = _taps_of(ops)

    def _forward(params, x, taps, relu):
        return forward(ops, name, params, x, taps, relu)

    _apply = jit_forward(_forward, ("taps", "relu"))

    def apply(params, x, taps=("fc7",), relu: bool = True) -> dict:
        taps = check_taps(name, taps, taps_all)
        _check_params(name, ops, params, taps)
        check_input(x)
        for t in taps:  # an input smaller than a tap's smallest: the one line `features.extract` gives
            check_input_side(backbone, t, min(x.shape[1:3]), "Backbone.apply", "x")
        return _apply(params, x, taps=taps, relu=bool(relu))

    backbone = Backbone(
        name=name,
        taps=taps_all,
        geometry=_geometry_of(ops),
        default_input_size=(227, 227) if caffe else (224, 224),
        init=functools.partial(init, ops),
        apply=apply,
        preprocess=preprocess.caffe if caffe else preprocess.torchvision,
        convert_torch=functools.partial(convert_torch, ops, torch_keys),
        roles=dict(roles),
        grid_size=lambda tap, hw: grid_size(_steps_to(ops, tap), hw),
        resize=(256, 227, False) if caffe else (256, 224, True),
        convert_caffe=functools.partial(convert_caffe, ops) if caffe else None,
        conv_keys=tuple(op.name for op in ops if op.kind == "conv"),
    )
    return backbone
