"""Caffe `.caffemodel` (binary protobuf `caffe.NetParameter`, proto2) without Caffe or protobuf.

Field numbers (BVLC caffe.proto):
  NetParameter      name=1, layers=2 (V1LayerParameter, legacy), layer=100 (LayerParameter)
  LayerParameter    name=1, type=2 (string), blobs=7
  V1LayerParameter  layer=1 (V0LayerParameter: name=1, type=2 string, blobs=50), name=4, type=5 (enum), blobs=6
  BlobProto         num=1, channels=2, height=3, width=4 (legacy dims), data=5 (float, packed or not),
                    shape=7 (BlobShape: dim=1, packed int64), double_data=8
Blob shape: `shape.dim` when present, else the legacy (num, channels, height, width) (Caffe's rule, missing
legacy dims are 0). Legacy biases 1x1x1xO become (O,), legacy InnerProduct weights 1x1xOxI become (O, I).
Whether field 5 is V1's `type` or V2's `loss_weight` is decided by the field the layer arrived in (2 or 100).
"""

from __future__ import annotations

import math
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from convcorr_jax.core.errors import InputError, check
from convcorr_jax.core.io import write_bytes

# V1LayerParameter.LayerType enum -> V2 type string
V1_TYPES: dict[int, str] = {
    0: "None", 1: "Accuracy", 2: "BNLL", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout",
    7: "EuclideanLoss", 8: "Flatten", 9: "HDF5Data", 10: "HDF5Output", 11: "Im2col", 12: "ImageData",
    13: "InfogainLoss", 14: "InnerProduct", 15: "LRN", 16: "MultinomialLogisticLoss", 17: "Pooling",
    18: "ReLU", 19: "Sigmoid", 20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split", 23: "TanH",
    24: "WindowData", 25: "Eltwise", 26: "Power", 27: "SigmoidCrossEntropyLoss", 28: "HingeLoss",
    29: "MemoryData", 30: "ArgMax", 31: "Threshold", 32: "DummyData", 33: "Slice", 34: "MVN", 35: "AbsVal",
    36: "Silence", 37: "ContrastiveLoss", 38: "Exp", 39: "Deconvolution",
}
V1_ENUM: dict[str, int] = {v: k for k, v in V1_TYPES.items()}


@dataclass(frozen=True)
class CaffeLayer:
    """One layer of a .caffemodel: name, type string and its blobs (float arrays)."""
    name: str
    type: str  # V2 type string ("Convolution", "InnerProduct", ...)
    blobs: list[np.ndarray]


# ----------------------------------------------------------------------------------------------- wire reader
class _Truncated(Exception):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Truncated("varint runs past the end of its message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value): int for varints, a memoryview for everything else."""
    pos = 0
    value: int | memoryview
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Truncated("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos: pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos: pos + size], pos + size
        else:
            raise _Truncated(f"unsupported wire type {wire} (field {field})")
        if pos > len(buf):
            raise _Truncated(f"field {field} runs past the end of its message")
        yield field, wire, value


def _int64s(value: int | memoryview) -> list[int]:  # one varint (wire type 0) or packed ones (2), signed
    out, pos = [value] if isinstance(value, int) else [], 0
    while isinstance(value, memoryview) and pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return [v - (1 << 64) if v >= 1 << 63 else v for v in out]  # a negative int64 is a 10-byte varint


def _parse_blob(buf: memoryview, layer: tuple[str, str], source: str, index: int) -> np.ndarray:
    name, ltype = layer
    legacy: dict[int, int] = {}
    dims: list[int] | None = None
    floats: list[np.ndarray] = []
    doubles: list[np.ndarray] = []
    for field, wire, value in _fields(buf):
        if field in (1, 2, 3, 4) and isinstance(value, int):  # wire type 0
            legacy[field] = _int64s(value)[0]
        elif field in (5, 8):
            size = 4 if field == 5 else 8
            if isinstance(value, int) or wire not in (2, 5 if field == 5 else 1) or len(value) % size:
                raise InputError(source, f"layer '{name}' blob {index} {'data' if field == 5 else 'double_data'}",
                                 f"{size}-byte floats, packed or not",
                                 f"wire type {wire}" + ("" if isinstance(value, int) else f", {len(value)} bytes"))
            (floats if field == 5 else doubles).append(np.frombuffer(value, "<f4" if field == 5 else "<f8"))
        elif field == 7 and wire == 2 and isinstance(value, memoryview):
            dims = dims or []
            for f2, w2, v2 in _fields(value):  # dim: varints, packed or not (another wire type: an unknown field)
                if f2 == 1 and w2 in (0, 2):
                    dims.extend(_int64s(v2))
    data = np.concatenate(doubles).astype(np.float64) if doubles else (
        np.concatenate(floats).astype(np.float32) if floats else np.zeros(0, np.float32))
    is_legacy = dims is None and bool(legacy)
    legacy_shape = tuple(legacy.get(i, 0) for i in (1, 2, 3, 4)) if legacy else (data.size,)
    shape = tuple(dims) if dims is not None else legacy_shape
    where = f"layer '{name}' blob {index} " + ("shape.dim" if dims is not None else "num/channels/height/width")
    check(all(d >= 0 for d in shape), source, where, "non-negative dims", shape)
    if math.prod(shape) != data.size:
        raise InputError(source, f"layer '{name}' blob {index}", f"{math.prod(shape)} values for shape {shape}",
                         f"{data.size} values")
    arr = data.reshape(shape)
    if is_legacy and len(shape) == 4:
        if index >= 1 and shape[:3] == (1, 1, 1):
            arr = arr.reshape(shape[3])
        elif ltype == "InnerProduct" and shape[:2] == (1, 1):
            arr = arr.reshape(shape[2:])
    return arr


def _parse_layer(buf: memoryview, v1: bool, source: str, position: int) -> CaffeLayer:
    name_f, type_f, blobs_f = (4, 5, 6) if v1 else (1, 2, 7)
    name, ltype, blob_bufs = None, None, list[memoryview]()
    for field, wire, value in _fields(buf):
        if field == name_f and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif field == type_f and v1 and isinstance(value, int):  # wire type 0
            ltype = V1_TYPES.get(value, f"V1Type{value}")
        elif field == type_f and not v1 and wire == 2:
            ltype = bytes(value).decode("utf-8", "replace")
        elif field == blobs_f and wire == 2 and isinstance(value, memoryview):
            blob_bufs.append(value)
        elif v1 and field == 1 and wire == 2 and isinstance(value, memoryview):  # V0LayerParameter in a V1 layer
            for f0, w0, v0 in _fields(value):
                if f0 == 1 and w0 == 2 and name is None:
                    name = bytes(v0).decode("utf-8", "replace")
                elif f0 == 2 and w0 == 2 and ltype is None:
                    ltype = _v0_type(bytes(v0).decode("utf-8", "replace"))
                elif f0 == 50 and w0 == 2 and isinstance(v0, memoryview):
                    blob_bufs.append(v0)
    name = name if name is not None else f"layer{position}"
    ltype = ltype or "Unknown"
    blobs = []
    for i, b in enumerate(blob_bufs):
        try:
            blobs.append(_parse_blob(b, (name, ltype), source, i))
        except _Truncated as e:
            raise InputError(source, f"layer '{name}' blob {i}", "a well-formed BlobProto", str(e)) from None
    return CaffeLayer(name, ltype, blobs)


def _v0_type(s: str) -> str:
    return {"conv": "Convolution", "innerproduct": "InnerProduct", "relu": "ReLU", "pool": "Pooling",
            "lrn": "LRN", "dropout": "Dropout", "softmax": "Softmax"}.get(s, s)


def read_caffemodel_layers(path: str | os.PathLike) -> list[CaffeLayer]:
    """All layers of a `.caffemodel` in file order (V2 `layer` or V1 `layers`), with their blobs.

    Args:
      path: the .caffemodel file.

    Returns:
      list of `CaffeLayer` (a nameless layer is "layer<i>", an untyped one "Unknown"); blobs float32 (float64 from
      `double_data`), shaped by the module's blob-shape rule.

    Raises:
      InputError: for a missing file, a truncated or malformed message, or a file without layers.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing .caffemodel file", "not found")
    buf = memoryview(path.read_bytes())
    layers: list[CaffeLayer] = []
    try:
        top = list(_fields(buf))
    except _Truncated as e:
        raise InputError(path, "NetParameter", "a complete protobuf message", str(e)) from None
    for field, wire, value in top:
        if field in (2, 100) and wire == 2 and isinstance(value, memoryview):
            try:
                layers.append(_parse_layer(value, field == 2, str(path), len(layers)))
            except _Truncated as e:
                raise InputError(path, f"layer #{len(layers)}", "a complete LayerParameter", str(e)) from None
    if not layers:
        raise InputError(path, "NetParameter.layer/layers", "at least one layer (fields 100 or 2)",
                         f"fields {sorted({f for f, _, _ in top})[:10]}")
    return layers


def read_caffemodel(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Layer name -> blobs ([weights, bias], Caffe layout: conv OIHW with I per group, fc (out, in)).

    Args:
      path: the .caffemodel file.

    Returns:
      {layer name: blob arrays (float32; float64 from `double_data`)} in file order, only layers that carry blobs.

    Raises:
      InputError: for a duplicated layer name with blobs, or as `read_caffemodel_layers`.
    """
    return caffe_blobs(read_caffemodel_layers(path), path)


def caffe_blobs(layers: Sequence[CaffeLayer], source: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Layer name -> blobs of the layers that carry blobs (`read_caffemodel` of layers already read).

    Args:
      layers: `read_caffemodel_layers`'s list.
      source: the file, named by the error.

    Returns:
      {layer name: blob arrays} in file order.

    Raises:
      InputError: for a duplicated layer name with blobs.
    """
    out: dict[str, list[np.ndarray]] = {}
    for layer in layers:
        if not layer.blobs:
            continue
        if layer.name in out:
            raise InputError(source, f"layer '{layer.name}'", "unique layer names", "duplicate")
        out[layer.name] = layer.blobs
    return out


# ---------------------------------------------------------------------------------------------- wire writer
def _enc_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _enc_varint(field << 3 | wire)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _enc_varint(len(payload)) + payload


def _enc_blob(arr: np.ndarray, legacy: bool, unpacked: bool, double: bool) -> bytes:
    arr = np.asarray(arr)
    out = b""
    if legacy:
        if arr.ndim > 4:
            raise ValueError(f"legacy blob dims hold at most 4 axes, got {arr.shape}")
        dims = (1,) * (4 - arr.ndim) + arr.shape
        out += b"".join(_key(f, 0) + _enc_varint(d) for f, d in zip((1, 2, 3, 4), dims))
    else:
        out += _len_field(7, _len_field(1, b"".join(_enc_varint(d) for d in arr.shape)))
    flat = arr.reshape(-1)
    if double:
        out += _len_field(8, flat.astype("<f8").tobytes())
    elif unpacked:
        out += b"".join(_key(5, 5) + struct.pack("<f", x) for x in flat.astype(np.float32).tolist())
    else:
        out += _len_field(5, flat.astype("<f4").tobytes())
    return out


def _encode_caffemodel(layers: Mapping[str, Sequence[np.ndarray] | tuple[str, Sequence[np.ndarray]]]
                      | Sequence[CaffeLayer], v1: bool = False, name: str = "net", unpacked: Sequence[str] = (),
                      double: Sequence[str] = ()) -> bytes:
    """Serialise layers as a `caffe.NetParameter` (V2 `layer`/`shape`, or V1 `layers`/enum/legacy dims).

    Args:
      layers: name -> blobs, name -> (type, blobs) or a list of `CaffeLayer`; without a type, a layer whose first blob
        is 4-D is a Convolution, otherwise an InnerProduct.
      v1: write V1 `layers` (type as the V1 enum, blob dims as legacy num/channels/height/width, at most 4 axes,
        left-padded with 1) instead of V2 `layer` with `shape`.
      name: the net's name.
      unpacked: layers whose `data` is stored as unpacked floats (wire type 5).
      double: layers whose blobs are stored as `double_data` (float64).

    Returns:
      The serialised message as bytes (blobs as float32 unless in `double`).
    """
    if isinstance(layers, Mapping):
        items = []
        for lname, spec in layers.items():
            if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
                ltype, blobs = spec
            else:
                blobs = spec
                ltype = "Convolution" if blobs and np.ndim(blobs[0]) == 4 else "InnerProduct"
            items.append(CaffeLayer(lname, ltype, list(blobs)))
    else:
        items = list(layers)
    out = _len_field(1, name.encode())
    for layer in items:
        blob_msgs = b"".join(_len_field(6 if v1 else 7, _enc_blob(b, v1, layer.name in unpacked, layer.name in double))
                             for b in layer.blobs)
        if v1:
            msg = _len_field(4, layer.name.encode()) + _key(5, 0) + _enc_varint(V1_ENUM[layer.type]) + blob_msgs
            out += _len_field(2, msg)
        else:
            msg = _len_field(1, layer.name.encode()) + _len_field(2, layer.type.encode()) + blob_msgs
            out += _len_field(100, msg)
    return out


def write_caffemodel(path: str | os.PathLike,
                     layers: Mapping[str, Sequence[np.ndarray] | tuple[str, Sequence[np.ndarray]]]
                     | Sequence[CaffeLayer], v1: bool = False, **kwargs: Any) -> None:
    """Write `_encode_caffemodel(layers, v1, **kwargs)` atomically to `path` (fixtures, round trips).

    Args:
      path: the file written (replaced whole).
      layers, v1, **kwargs: as in `_encode_caffemodel`.

    Returns:
      None; the file is written.
    """
    write_bytes(path, _encode_caffemodel(layers, v1=v1, **kwargs))


# ------------------------------------------------------------------------------- caffe-tensorflow .npy files
_NPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # protocol-2 pickles encode bytes so
}


class _NpyUnpickler(pickle._Unpickler):  # pure Python (bounded memory on corrupt input)
    dispatch = {k: v for k, v in pickle._Unpickler.dispatch.items()
                if k not in (pickle.BYTEARRAY8[0], pickle.NEXT_BUFFER[0], pickle.READONLY_BUFFER[0])}

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _NPY_GLOBALS:
            raise InputError(self._source, "pickle global", "only numpy array reconstruction", f"{module}.{name}")
        return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def read_alexnet_npy(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Read a caffe-tensorflow / Guerzhoy `bvlc_alexnet.npy`: layer -> [weights, biases] in the FILE's layout.

    Accepts `{'conv1': [w, b], ...}` and the newer `{'conv1': {'weights': w, 'biases': b}, ...}`. The pickle inside is
    read with a restricted unpickler (numpy arrays only).

    Args:
      path: the .npy file (a pickled 0-d object array holding the dict).

    Returns:
      {layer: [weights, biases]} numpy arrays in file order (biases absent when the dict form has none). Conv weights
      are HWIO (per-group I), fc weights (in, out) with fc6 rows in (H, W, C) order; see `npy_to_caffe_blobs`.

    Raises:
      InputError: for a missing or malformed file, a pickle global other than numpy's, or content of another form.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing .npy file", "not found")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f, max_header_size=1 << 20)
            if dtype != np.dtype(object) or shape != ():
                raise InputError(path, "npy header", "a pickled 0-d object array holding a dict", f"{dtype} {shape}")
            obj = _NpyUnpickler(f, str(path)).load()
    except InputError:
        raise
    except Exception as e:
        raise InputError(path, "npy", "a complete .npy file with a pickled dict", f"{type(e).__name__}: {e}") from None
    if isinstance(obj, np.ndarray) and obj.shape == () and obj.dtype == object:
        obj = obj.item()
    if not isinstance(obj, dict) or not obj:
        raise InputError(path, "npy content", "a non-empty dict layer -> [weights, biases]", type(obj).__name__)
    out: dict[str, list[np.ndarray]] = {}
    for name, value in obj.items():
        if isinstance(value, dict):
            if "weights" not in value:
                raise InputError(path, str(name), "a dict with 'weights' (and 'biases')", sorted(value))
            value = [value["weights"]] + ([value["biases"]] if "biases" in value else [])
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, np.ndarray) for v in value):
            raise InputError(path, str(name), "[weights, biases] numpy arrays", type(value).__name__)
        out[str(name)] = [np.asarray(v) for v in value]
    return out


def npy_to_caffe_blobs(layers: dict[str, list[np.ndarray]], source: str = "npy") -> dict[str, list[np.ndarray]]:
    """caffe-tensorflow layout -> Caffe blob layout (what `read_caffemodel` returns for the same net).

    Conv HWIO -> OIHW; fc (in, out) -> (out, in); the first fc after a 4-D layer has rows in (H, W, C) order and is
    rewired to Caffe's (C, H, W) flatten, with C = the preceding conv's output channels.

    Args:
      layers: {layer: [weights, *rest]} as `read_alexnet_npy` returns, in network order.
      source: the name errors give to the weights.

    Returns:
      {layer: [weights, *rest]}: weights contiguous OIHW [O, I, kh, kw] or [out, in], the other blobs unchanged.

    Raises:
      InputError: for weights neither 4-D nor 2-D, or a first fc whose rows are not H*W*C with H = W.
    """
    out: dict[str, list[np.ndarray]] = {}
    last_conv_out = None
    for name, blobs in layers.items():
        w, rest = blobs[0], list(blobs[1:])
        if w.ndim == 4:
            out[name] = [np.ascontiguousarray(w.transpose(3, 2, 0, 1))] + rest
            last_conv_out = w.shape[3]
        elif w.ndim == 2:
            n_in, n_out = w.shape
            if last_conv_out is not None:
                hw = n_in // last_conv_out
                side = int(round(hw ** 0.5))
                if side * side * last_conv_out != n_in:
                    raise InputError(source, f"{name} weights", f"rows = H*W*{last_conv_out} with H = W", w.shape)
                w = w.reshape(side, side, last_conv_out, n_out).transpose(2, 0, 1, 3).reshape(n_in, n_out)
                last_conv_out = None
            out[name] = [np.ascontiguousarray(w.T)] + rest
        else:
            raise InputError(source, f"{name} weights", "a 4-D conv (HWIO) or 2-D fc (in, out) array", w.shape)
    return out
