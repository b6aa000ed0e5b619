"""A network's taps and their geometry read from its trace: what `registry.register` and `registry.check_trace`
compare a backbone's declared taps with.

`trace(name, forward, params, input_size)` traces `forward(params, x)` on abstract inputs (`jax.make_jaxpr`:
shapes only, nothing computed, no parameters needed) and returns a `Traced` per tap:

- the taps: the names of the dict the network returns and each one's shape (a spatial tap [1, h, w, C], a vector
  tap [1, D]);
- the stride of each spatial tap from the output shapes: the network traced again on an input `GROWTH` pixels
  larger each side gives a map `GROWTH / stride` larger (exact for any chain of layers whose total stride divides
  `GROWTH` = 20160 = 2^6 * 3^2 * 5 * 7);
- the receptive field (size, stride, offset) by walking the traced program with the recurrences of
  `receptive_field` (`RF.then`): convolutions and window reductions (pooling, with their low padding, strides
  and dilation), pads and slices on the spatial axes (a shifted slice moves the centre: a depthwise convolution
  written as shifted slices is read as one), transposes, squeezes and reductions over other axes, and
  element-wise operations, whose operands' receptive fields are merged (a residual addition: the union of both
  branches'). Nested programs (jit, custom derivatives) are read through. Any other operation on a tap's path
  (a gather, an upsampling, a loop, a spatial mean added back to the map) makes its receptive field unreadable
  (None): its size and offset must then be declared.

The receptive field is that of the input size traced (`input_size`): with "SAME" padding a stride-2 layer pads
differently on even and odd inputs, which moves the offset by half a stride.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from convcorr_jax.backbones.receptive_field import RF, Step
from convcorr_jax.core.errors import InputError

GROWTH = 2**6 * 3**2 * 5 * 7  # px added to each side of the second trace (divisible by every usual total stride)
ELEMENTWISE = frozenset(
    "abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp conj convert_element_type copy copy_p cos "
    "cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt imag integer_pow is_finite le lgamma log log1p "
    "logistic lt max min mul ne neg nextafter not or pow real reduce_precision rem round rsqrt select_n sign sin "
    "sinh sqrt square stop_gradient sub tan tanh xor".split())
TRACED = "traced"  # a tap declared by its name alone: map or vector, stride and receptive field all from the trace
CALLS = frozenset("jit pjit closed_call core_call custom_jvp_call custom_vjp_call custom_vjp_call_jaxpr checkpoint "
                  "remat remat2".split())
REDUCTIONS = frozenset("reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax argmin".split())


@dataclasses.dataclass(frozen=True)
class Traced:
    """One tap as traced: `shape` on the traced input; for a spatial tap the `stride` its shapes give (None when
    the second trace fails: a fixed-size layer) and its receptive field `rf` (None when unreadable)."""

    shape: tuple[int, ...]
    stride: int | None = None
    rf: RF | None = None

    @property
    def spatial(self) -> bool:
        """A feature map [N, h, w, C] (else a vector tap)."""
        return len(self.shape) == 4


@dataclasses.dataclass(frozen=True)
class _Dep:
    """How a traced value depends on the input image: the receptive field of index 0 along each of `axes` (its h
    and w axes), one `RF` per axis in `rf`; both None where unreadable (never one alone)."""

    rf: tuple[RF, ...] | None
    axes: tuple[int, ...] | None


_OPAQUE = _Dep(None, None)


def _union(deps: list[_Dep]) -> _Dep:
    """Element-wise combination: the receptive fields' union when all share axes and stride, else unreadable."""
    if any(d.rf is None or d.axes != deps[0].axes for d in deps):
        return _OPAQUE
    merged = []
    for rfs in zip(*(d.rf for d in deps)):
        if len({r.stride for r in rfs}) > 1:
            return _OPAQUE
        lo, hi = min(r.offset - (r.size - 1) / 2 for r in rfs), max(r.offset + (r.size - 1) / 2 for r in rfs)
        merged.append(RF(int(round(hi - lo)) + 1, rfs[0].stride, (lo + hi) / 2))
    return _Dep(tuple(merged), deps[0].axes)


def _window(dep: _Dep, kernel, strides, pads, dilation=None, base=None) -> _Dep:
    """After one window layer; `kernel`, `strides`, `pads` ((lo, hi) per axis), dilations indexed by the same
    axes as `dep.axes`."""
    if dep.rf is None or dep.axes is None or (base is not None and any(base[a] != 1 for a in dep.axes)):
        return _OPAQUE
    dilation = dilation or {a: 1 for a in dep.axes}
    return _Dep(tuple(rf.then(Step((kernel[a] - 1) * dilation[a] + 1, strides[a], pads[a][0]))
                      for rf, a in zip(dep.rf, dep.axes)), dep.axes)


def _conv(eqn, deps: list[_Dep | None]) -> _Dep:
    lhs, rhs = deps[:2]
    if lhs is None or rhs is not None or lhs.axes is None:
        return _OPAQUE
    p, dn = eqn.params, eqn.params["dimension_numbers"]
    spatial_in, spatial_out = tuple(dn.lhs_spec[2:]), tuple(dn.out_spec[2:])
    if len(spatial_in) != 2 or lhs.axes != spatial_in or any(v != 1 for v in p["lhs_dilation"]):
        return _OPAQUE
    k = eqn.invars[1].aval.shape
    kernel = {a: k[r] for a, r in zip(spatial_in, dn.rhs_spec[2:])}
    per = {a: i for i, a in enumerate(spatial_in)}
    out = _window(lhs, kernel, {a: p["window_strides"][per[a]] for a in spatial_in},
                  {a: p["padding"][per[a]] for a in spatial_in}, {a: p["rhs_dilation"][per[a]] for a in spatial_in})
    return dataclasses.replace(out, axes=spatial_out) if out.rf is not None else out


def _reduce_window(eqn, dep: _Dep) -> _Dep:
    p = eqn.params
    return _window(dep, p["window_dimensions"], p["window_strides"], p["padding"], p["window_dilation"],
                   p["base_dilation"])


def _slice_or_pad(eqn, dep: _Dep) -> _Dep:
    """A slice (start, step) or a pad (low, interior) on the spatial axes: the centre of index 0 moves."""
    if dep.rf is None or dep.axes is None:
        return _OPAQUE
    if eqn.primitive.name == "pad":
        config = eqn.params["padding_config"]
        if any(config[a][2] != 0 for a in dep.axes):
            return _OPAQUE
        moves = [(-config[a][0], 1) for a in dep.axes]
    else:
        steps = eqn.params["strides"] or (1,) * len(eqn.params["start_indices"])
        moves = [(eqn.params["start_indices"][a], steps[a]) for a in dep.axes]
    return _Dep(tuple(RF(rf.size, rf.stride * step, rf.offset + start * rf.stride)
                      for rf, (start, step) in zip(dep.rf, moves)), dep.axes)


def _moved_axes(eqn, dep: _Dep) -> tuple[int, int] | None:
    """Where the spatial axes go through a transpose, squeeze, broadcast, reduction or matrix product; None when
    an operation merges or reduces them."""
    if dep.axes is None:
        return None
    name, p, (h, w) = eqn.primitive.name, eqn.params, dep.axes
    if name == "transpose":
        return p["permutation"].index(h), p["permutation"].index(w)
    if name in ("squeeze", *REDUCTIONS):
        gone = p["dimensions"] if name == "squeeze" else p["axes"]
        return None if h in gone or w in gone else (h - sum(g < h for g in gone), w - sum(g < w for g in gone))
    if name == "broadcast_in_dim":
        ins, out = eqn.invars[0].aval.shape, eqn.outvars[0].aval.shape
        new = tuple(p["broadcast_dimensions"][a] for a in (h, w))
        return new if all(ins[a] == out[b] for a, b in zip((h, w), new)) else None
    if name == "reshape":
        ins, out = eqn.invars[0].aval.shape, eqn.outvars[0].aval.shape
        return (h, w) if ins[: max(h, w) + 1] == out[: max(h, w) + 1] else None
    return None


def _dot(eqn, deps: list[_Dep | None]) -> _Dep:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if (deps[0] is None) == (deps[1] is None):
        return _OPAQUE
    side = 0 if deps[0] is not None else 1
    dep, fixed = deps[side], (lc + lb, rc + rb)[side]
    assert dep is not None  # `side` is the one operand that depends on the image
    if dep.axes is None or any(a in fixed for a in dep.axes):
        return _OPAQUE
    free = [a for a in range(len(eqn.invars[side].aval.shape)) if a not in fixed]
    before = len(lb) + (0 if side == 0 else len(eqn.invars[0].aval.shape) - len(lc) - len(lb))
    return _Dep(dep.rf, tuple(before + free.index(a) for a in dep.axes))


def _inner(eqn):
    """The nested program of a call (jit, custom derivatives, remat) taking the same operands; None for any other
    operation (a loop's body is not one pass)."""
    if eqn.primitive.name not in CALLS:
        return None
    for v in eqn.params.values():
        inner = getattr(v, "jaxpr", v)
        if hasattr(inner, "eqns") and len(inner.invars) == len(eqn.invars) and len(inner.outvars) == len(
                eqn.outvars):
            return inner
    return None


def _walk(jaxpr, deps_in: list[_Dep | None]) -> list[_Dep | None]:
    """The dependence of each output of `jaxpr` on the image, given its inputs'."""
    env: dict[Any, _Dep | None] = dict(zip(jaxpr.invars, deps_in))

    def read(v):
        return None if hasattr(v, "val") else env.get(v)  # a literal: a constant

    for eqn in jaxpr.eqns:
        deps = [read(v) for v in eqn.invars]
        live = [d for d in deps if d is not None]
        name = eqn.primitive.name
        out: list[_Dep | None]
        if not live:
            out = [None] * len(eqn.outvars)
        elif (inner := _inner(eqn)) is not None:
            out = _walk(inner, deps)
        elif name == "conv_general_dilated":
            out = [_conv(eqn, deps)]
        elif name.startswith("reduce_window") and len(live) == 1 and deps[0] is not None and live[0].axes:
            out = [_reduce_window(eqn, live[0])]  # its other operands: the initial values
        elif name in ("slice", "pad") and deps[0] is not None and deps[0].rf is not None:
            out = [_slice_or_pad(eqn, deps[0])]
        elif name == "dot_general":
            out = [_dot(eqn, deps)]
        elif name in ELEMENTWISE or (name == "concatenate" and all(
                d is None or (d.axes is not None and eqn.params["dimension"] not in d.axes) for d in deps)):
            out = [_union(live)] * len(eqn.outvars)
        elif len(live) == 1 and live[0].axes is not None and (axes := _moved_axes(eqn, live[0])) is not None:
            out = [_Dep(live[0].rf, axes)]
        else:
            out = [_OPAQUE] * len(eqn.outvars)
        env.update(zip(eqn.outvars, out))
    return [read(v) for v in jaxpr.outvars]


def _traced(name: str, forward: Callable, params, hw: tuple[int, int]):
    """(jaxpr, {tap: shape}) of `forward(params, x[1, h, w, 3])`; InputError when it fails or returns no dict."""
    x = jax.ShapeDtypeStruct((1, *hw, 3), jnp.float32)
    try:
        closed, shapes = jax.make_jaxpr(forward, return_shape=True)(params, x)
    except Exception as e:  # noqa: BLE001 (the network's own error, reported in one line)
        raise InputError(name, "model", f"a network that runs on a float32 [1, {hw[0]}, {hw[1]}, 3] input",
                         f"{type(e).__name__}: {e}") from None
    if not isinstance(shapes, Mapping) or not all(hasattr(s, "shape") for s in shapes.values()):
        found = f"an array of shape {tuple(shapes.shape)}" if hasattr(shapes, "shape") else type(shapes).__name__
        raise InputError(name, "model output", "a dict {tap name: array} of its taps", found)
    return closed, {t: tuple(s.shape) for t, s in shapes.items()}


def trace(name: str, forward: Callable, params: Any, input_size: tuple[int, int]) -> dict[str, Traced]:
    """Every tap `forward` returns, traced on a [1, h, w, 3] input of `input_size`.

    Args:
      name: the backbone's name (for errors).
      forward: `forward(params, x) -> {tap: array}`, x float32 [N, H, W, 3].
      params: its parameters, arrays or `jax.ShapeDtypeStruct`s (`jax.eval_shape` of an init: nothing drawn).
      input_size: (h, w) pixels of the traced input.

    Returns:
      tap -> `Traced` (shape; for a spatial tap its stride from the shapes and its receptive field). Raises
      InputError (one line, naming `name`) when the network fails on the input or returns anything but a dict of
      arrays.
    """
    closed, shapes = _traced(name, forward, params, (input_size[0], input_size[1]))
    leaves = jax.tree_util.tree_flatten_with_path(shapes, is_leaf=lambda s: isinstance(s, tuple))[0]
    image = _Dep((RF(1, 1, 0.0), RF(1, 1, 0.0)), (1, 2))
    deps = dict(zip([path[0].key for path, _ in leaves],
                    _walk(closed.jaxpr, [None] * (len(closed.jaxpr.invars) - 1) + [image])))
    try:
        bigger = _traced(name, forward, params, (input_size[0] + GROWTH, input_size[1] + GROWTH))[1]
    except InputError:
        bigger = {}  # a fixed-size layer (a dense layer on a flattened map): strides from the walk alone
    out = {}
    for tap, shape in shapes.items():
        d = deps.get(tap)
        rf = None  # a spatial tap's, where its h and w receptive fields are readable and equal
        if d is not None and d.rf is not None and d.axes == (1, 2) and d.rf[0] == d.rf[1] and len(shape) == 4:
            rf = d.rf[0]
        grown = {b - a for a, b in zip(shape[1:3], bigger[tap][1:3])} if len(shape) == 4 and tap in bigger else {0}
        by_shapes = GROWTH // min(grown) if len(grown) == 1 and min(grown) > 0 and GROWTH % min(grown) == 0 else None
        out[tap] = Traced(shape, by_shapes or (rf.stride if rf else None), rf)
    return out


def _is_traced(value) -> bool:
    return isinstance(value, str) and value == TRACED


def _declared(name: str, tap: str, value) -> tuple[int | None, int | None, float | None]:
    """(size, stride, offset) a tap's declaration gives, None for each left out: an `RF`, a (size, stride[, offset])
    tuple, a stride alone (an int) or `TRACED`."""
    if _is_traced(value):
        return None, None, None
    if isinstance(value, RF):
        return value.size, value.stride, value.offset
    if isinstance(value, int) and not isinstance(value, bool):
        return None, value, None
    try:
        size, stride, *rest = value
        if len(rest) > 1:
            raise ValueError
        return int(size), int(stride), float(rest[0]) if rest else None
    except (TypeError, ValueError):
        raise InputError(name, f"taps[{tap!r}]", "an RF, (size, stride[, offset]) in pixels, a stride, or None for a "
                         "vector tap", value) from None


def geometry(name: str, taps: Mapping[str, Any], traced: Mapping[str, Traced]) -> dict[str, RF | None]:
    """The receptive field of each declared tap (None: a vector tap), what the declaration leaves out taken from
    the trace, and what it gives checked against the trace.

    Args:
      name: the backbone's name (for errors).
      taps: tap -> None (a vector tap), an `RF`, (size, stride[, offset]) in pixels, a stride (int) or `TRACED`.
      traced: `trace`'s result.

    Returns:
      tap -> RF (None for a vector tap), in the order of `taps`. Raises InputError in one line naming the
      backbone, the tap, what the trace found and what was declared, for a tap the network does not return, a
      map declared a vector or the reverse, a stride, size or offset other than the trace's, or a size or offset
      left out where the trace cannot read it. A size given without its offset keeps the offset (size - 1) / 2
      where the trace cannot read it.
    """
    out: dict[str, RF | None] = {}
    for tap, value in taps.items():
        if tap not in traced:
            raise InputError(name, "taps", f"names of the model's outputs ({', '.join(map(repr, traced))})",
                             repr(tap))
        t, field = traced[tap], f"taps[{tap!r}]"
        if not t.spatial:
            if value is not None and not _is_traced(value):
                raise InputError(name, field, f"None: the model returns a vector tap, shape {t.shape}", value)
            out[tap] = None
            continue
        if value is None:
            raise InputError(name, field, f"its receptive field: the model returns a map, shape {t.shape}",
                             "None (a vector tap)")
        size, stride, offset = _declared(name, tap, value)
        rf = t.rf
        for what, given, found in (("stride", stride, t.stride), ("size", size, rf.size if rf else None),
                                   ("offset", offset, rf.offset if rf else None)):
            if given is not None and found is not None and abs(given - found) > 1e-6:
                raise InputError(name, f"{field} {what}", f"{found:g} px (the traced network's)", f"{given:g}")
        stride = stride if t.stride is None else t.stride
        if stride is None or (size is None and rf is None):
            raise InputError(name, field, "(size, stride, offset) in pixels: the trace cannot read its receptive "
                             "field (an operation other than convolutions, pooling, pads, slices and element-wise "
                             "ones on its path)", value)
        if size is None:
            assert rf is not None  # refused just above: neither declared nor traced
            size = rf.size
        offset = offset if offset is not None else rf.offset if rf is not None else (size - 1) / 2
        out[tap] = RF(int(size), int(stride), float(offset))
    return out
