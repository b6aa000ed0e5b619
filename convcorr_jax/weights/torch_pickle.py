"""Read PyTorch `.pth` state dicts without torch: zip format (torch >= 1.6) and the legacy pickle stream.

Both formats pickle the object with *persistent ids* for storages,
`("storage", <torch.XStorage class>, key, location, numel[, view_metadata])`, and keep the raw storage
bytes outside the pickle:

* zip: `<archive>/data.pkl` (the pickle), `<archive>/data/<key>` (raw little-endian bytes per storage),
  `<archive>/byteorder` ("little"/"big", absent in old files = little);
* legacy: pickled magic number 0x1950a86a20f9469cfc6c, pickled protocol version (1001), pickled sys_info
  dict, the object pickle, the pickled list of storage keys, then per key an int64 element count and the
  raw bytes, in that order.

The unpickler is restricted: it only rebuilds tensors/parameters, typed storages and ordered dicts; any
other global (a whole `nn.Module`, arbitrary callables) is refused with an `InputError`, so reading a
file never executes code from it.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from convcorr_jax.core.errors import InputError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


def _bfloat16() -> np.dtype:
    import ml_dtypes  # ships with jax

    return np.dtype(ml_dtypes.bfloat16)


# torch storage class name -> numpy dtype (callable for optional dtypes)
STORAGE_DTYPES: dict[str, np.dtype | Callable[[], np.dtype]] = {
    "FloatStorage": np.dtype(np.float32),
    "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": _bfloat16,
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}

# keys under which training scripts commonly nest the state dict
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "params")


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        d = STORAGE_DTYPES[self.name]
        return d() if callable(d) else d


@dataclass
class _Storage:
    """A flat array (already in native byte order) standing in for a torch storage."""

    data: np.ndarray


@dataclass
class _Param:
    """Marks a rebuilt `nn.Parameter` (only the data matters here)."""

    data: Any


@dataclass
class _Lazy:
    """A tensor whose storage may not be read yet (legacy files keep the bytes after the pickle)."""

    storage: Any
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor(storage, storage_offset, size, stride, *unused) -> _Lazy:
    return _Lazy(storage, storage_offset, tuple(size), tuple(stride))


def _materialise(t: _Lazy, source: str) -> np.ndarray:
    """Copy a strided view of the storage into a contiguous array (checked against the storage extent)."""
    if not isinstance(t.storage, _Storage):
        raise InputError(source, "tensor storage", "a storage persistent id", type(t.storage).__name__)
    flat = t.storage.data
    try:
        size, stride, offset = tuple(int(s) for s in t.size), tuple(int(s) for s in t.stride), int(t.offset)
    except (TypeError, ValueError):
        raise InputError(source, "tensor size/stride", "integer tuples", (t.size, t.stride)) from None
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise InputError(source, "tensor size/stride", "equal-length non-negative tuples", (size, stride))
    if 0 in size:
        return np.zeros(size, flat.dtype)
    numel = math.prod(size)
    if numel > flat.size and numel > 1 << 28:  # stride-0 (expanded) tensors may exceed their storage, a little
        raise InputError(source, "tensor size", f"at most {flat.size} elements (its storage)", size)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or last >= flat.size:
        raise InputError(source, "tensor extent", f"offset+extent within a storage of {flat.size} elements",
                         f"offset {offset}, size {size}, stride {stride}")
    item = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[offset:], size, tuple(s * item for s in stride), writeable=False)
    return np.array(view, copy=True)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *unused) -> _Param:
    return _Param(data)


class _RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that only knows tensors, storages and ordered dicts; storages come from `load_storage`.

    The pure-Python unpickler keeps its memo in a dict, so a corrupt LONG_BINPUT index cannot make it allocate
    a giant memo array (the C one does); protocol-5 opcodes, never written by torch, are disabled because
    BYTEARRAY8 allocates its (possibly corrupt) length up front.
    """

    dispatch = {k: v for k, v in pickle._Unpickler.dispatch.items()
                if k not in (pickle.BYTEARRAY8[0], pickle.NEXT_BUFFER[0], pickle.READONLY_BUFFER[0])}

    def __init__(self, file, source: str, load_storage: Callable[[tuple], _Storage]):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise InputError(self._source, "pickle global",
                         "only tensor/storage rebuild functions and OrderedDict (a state_dict, not a pickled model)",
                         f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise InputError(self._source, "pickle persistent id", "('storage', type, key, location, numel)", pid)
        if not isinstance(pid[1], _StorageType):
            raise InputError(self._source, "storage type", "a torch.*Storage type", pid[1])
        return self._load_storage(pid)


def _unpickle(data: bytes | io.BufferedIOBase, source: str, load_storage) -> Any:
    f = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        return _RestrictedUnpickler(f, source, load_storage).load()
    except InputError:
        raise
    except Exception as e:  # truncated or corrupt pickle stream
        raise InputError(source, "pickle", "a complete pickle stream", f"{type(e).__name__}: {e}") from None


def _read_zip(path: Path) -> Any:
    source = str(path)
    try:
        zf = zipfile.ZipFile(path)
        names = zf.namelist()
    except Exception as e:  # zipfile raises BadZipFile, OSError, UnicodeDecodeError, struct.error, ...
        raise InputError(source, "zip archive", "a readable torch zip archive", f"{type(e).__name__}: {e}") from None
    with zf:
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise InputError(source, "data.pkl", "exactly one '<archive>/data.pkl' entry", names[:10])
        prefix = pkls[0][: -len("data.pkl")]

        def read(name: str) -> bytes:
            try:
                return zf.read(name)
            except KeyError:
                raise InputError(source, name, "an entry named by the pickle", "missing") from None
            except Exception as e:  # BadZipFile (CRC), zlib.error, NotImplementedError, ...
                raise InputError(source, name, "an intact archive entry", f"{type(e).__name__}: {e}") from None

        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = read(prefix + "byteorder").decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise InputError(source, "byteorder", "'little' or 'big'", byteorder)
        cache: dict[str, _Storage] = {}

        def load_storage(pid: tuple) -> _Storage:
            stype, key = pid[1], str(pid[2])
            if key not in cache:
                name = f"{prefix}data/{key}"
                raw = read(name)
                dtype = stype.dtype.newbyteorder("<" if byteorder == "little" else ">")
                if len(raw) % dtype.itemsize:
                    raise InputError(source, name, f"a multiple of {dtype.itemsize} bytes ({stype.name})", len(raw))
                cache[key] = _Storage(np.frombuffer(raw, dtype).astype(stype.dtype))
            return cache[key]

        return _unpickle(read(pkls[0]), source, load_storage)


def _read_legacy(path: Path) -> Any:
    source = str(path)
    data = path.read_bytes()
    f = io.BytesIO(data)

    def plain_load(field: str) -> Any:
        try:
            return _RestrictedUnpickler(f, source, _no_storage(source)).load()
        except InputError:
            raise
        except Exception as e:
            raise InputError(source, field, "a pickled value", f"{type(e).__name__}: {e}") from None

    magic = plain_load("magic number")
    if magic != LEGACY_MAGIC:
        raise InputError(source, "magic number", hex(LEGACY_MAGIC), magic if not isinstance(magic, int) else hex(magic))
    version = plain_load("protocol version")
    if version != LEGACY_PROTOCOL_VERSION:
        raise InputError(source, "protocol version", str(LEGACY_PROTOCOL_VERSION), version)
    sys_info = plain_load("sys_info")
    little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
    order = "<" if little else ">"

    pids: dict[str, tuple] = {}
    placeholders: dict[str, _Storage] = {}
    views: dict[tuple, _Storage] = {}

    def load_storage(pid: tuple) -> _Storage:
        stype, key = pid[1], str(pid[2])
        view = pid[5] if len(pid) > 5 else None
        pids.setdefault(key, pid)
        base = placeholders.setdefault(key, _Storage(np.empty(0, stype.dtype)))
        if view is None:
            return base
        vkey = (key, tuple(view))
        if vkey not in views:
            views[vkey] = _Storage(np.empty(0, stype.dtype))
        return views[vkey]

    try:
        obj = _RestrictedUnpickler(f, source, load_storage).load()
    except InputError:
        raise
    except Exception as e:
        raise InputError(source, "pickle", "a complete pickle stream", f"{type(e).__name__}: {e}") from None
    keys = plain_load("storage keys")
    if not isinstance(keys, list):
        raise InputError(source, "storage keys", "a list of storage keys", type(keys).__name__)
    for key in keys:
        key = str(key)
        if key not in placeholders:
            raise InputError(source, f"storage {key}", "a key referenced by the pickle", "unreferenced key")
        dtype = pids[key][1].dtype
        head = f.read(8)
        if len(head) != 8:
            raise InputError(source, f"storage {key}", "an 8-byte element count", f"end of file ({len(head)} bytes)")
        (count,) = struct.unpack(order + "q", head)
        if count != int(pids[key][4]):
            raise InputError(source, f"storage {key}", f"{int(pids[key][4])} elements (from the pickle)", count)
        nbytes = count * dtype.itemsize
        raw = f.read(nbytes)
        if count < 0 or len(raw) != nbytes:
            raise InputError(source, f"storage {key}", f"{count} elements ({nbytes} bytes)",
                             f"{len(raw)} bytes before end of file")
        placeholders[key].data = np.frombuffer(raw, dtype.newbyteorder(order)).astype(dtype)
    missing = sorted(set(placeholders) - {str(k) for k in keys})
    if missing:
        raise InputError(source, "storage keys", "every storage referenced by the pickle", f"missing {missing[:5]}")
    for (key, (vkey, offset, size)), view in views.items():
        view.data = placeholders[key].data[int(offset): int(offset) + int(size)]
    return obj


def _no_storage(source: str):
    def load(pid):
        raise InputError(source, "header", "no storages in the file header", pid)

    return load


def _unwrap(obj: Any, source: str) -> dict:
    """Return the flat tensor dict, descending into documented wrapper keys ('state_dict', 'model', ...)."""
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, (_Lazy, _Param)) for v in obj.values()):
            inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict):
        raise InputError(source, "top-level object", "a state_dict (dict of tensors)", type(obj).__name__)
    out: dict[str, np.ndarray] = {}
    for k, v in obj.items():
        if isinstance(v, _Param):
            v = v.data
        if isinstance(v, _Lazy):
            out[str(k)] = _materialise(v, source)
        elif isinstance(v, dict):
            raise InputError(source, str(k), "a tensor (flat state_dict)", "a nested dict")
        # non-tensor entries (e.g. an int 'epoch' or '_metadata') are not parameters: skipped
    if not out:
        raise InputError(source, "state_dict", "at least one tensor", f"keys {list(obj)[:10]}")
    return out


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a torch `.pth`/`.pt` state dict into numpy arrays, without importing torch.

    Accepts the zip format and the legacy format; a dict nested under 'state_dict', 'model_state_dict', 'model', 'net'
    or 'params' is unwrapped.

    Args:
      path: the file (told apart by its first bytes, not its suffix).

    Returns:
      {key: np.ndarray} in the file's order: tensors come back contiguous with torch's shapes (conv weights OIHW,
      linear weights (out, in)) and dtypes; non-tensor entries (e.g. 'epoch') are skipped.

    Raises:
      InputError: naming the file and field for truncated/corrupt files and pickled modules.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing .pth file", "not found")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        obj = _read_zip(path)
    elif head[:2] == b"\x80\x02":
        obj = _read_legacy(path)
    else:
        raise InputError(path, "header", "a torch zip archive ('PK') or legacy pickle (0x80 0x02)", head)
    return _unwrap(obj, str(path))


def describe(state: dict[str, np.ndarray]) -> list[str]:
    """One line per tensor: `key  shape  dtype`.

    Args:
      state: {key: array}, e.g. from `read_torch_state_dict`.

    Returns:
      list of str, keys padded to the longest, one per entry in dict order.
    """
    width = max((len(k) for k in state), default=0)
    return [f"{k:<{width}}  {tuple(v.shape)}  {v.dtype}" for k, v in state.items()]
