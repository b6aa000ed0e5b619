"""Weight files as a whole: fetch a named set, import (convert and store) a local file, list a file's arrays.

    fetched = fetch_named("vgg16")                 # Fetched(arch, file, sha256, params)
    out, params = import_file("x.pth", "torchvision_alexnet")   # the converted tree in the cache (or `out`)
    lines = inspect_lines(Path("x.caffemodel"))     # "key  shape  dtype" per array, then the total
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from convcorr_jax.core import cache
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import sources
from convcorr_jax.weights.caffemodel import read_alexnet_npy, read_caffemodel_layers
from convcorr_jax.core.registry import Names
from convcorr_jax.weights.fetch import sha256_file
from convcorr_jax.weights.load import ALIASES, TORCH_SUFFIXES, _code_version, cached_convert, convert_file
from convcorr_jax.weights.numpy_pickle import flatten, read_numpy_pickle
from convcorr_jax.weights.orbax_io import load_orbax_params, save_params
from convcorr_jax.weights.torch_pickle import read_torch_state_dict

def _fetchable() -> tuple[str, ...]:
    """Backbones with a public weight source in their spec (a source other than a URL), then the aliases."""
    from convcorr_jax.backbones.registry import NAMES, spec
    from convcorr_jax.backbones.spec import FileSource, UrlSource

    names = tuple(n for n in NAMES if any(not isinstance(s, (UrlSource, FileSource)) for s in spec(n).weights))
    return names + tuple(a for a, arch in ALIASES.items() if arch in names)


FETCH_NAMES = Names(_fetchable)  # mobilenet_v2, torchvision_alexnet, vgg16, alexnet


class Fetched(NamedTuple):
    """A named weight set after `fetch_named`.

    Fields:
      arch: the backbone name; file: the verified source file; sha256: its hex digest; params: the converted
        parameter tree.
    """

    arch: str
    file: Path
    sha256: str
    params: Any


def fetch_named(name: str, url: str | None = None, sha256: str | None = None, progress: bool = True) -> Fetched:
    """Download or install, verify, convert and cache the weight set `name`.

    Args:
      name: one of `FETCH_NAMES` (a backbone with a public source in its spec, or an alias).
      url, sha256: alexnet / torchvision_alexnet only, torchvision's full AlexNet .pth (see `load_pretrained`).
      progress: a progress bar while downloading.

    Returns:
      `Fetched`.
    """
    from convcorr_jax.backbones.registry import spec
    from convcorr_jax.backbones.spec import UrlSource

    if name not in FETCH_NAMES:
        raise InputError("weights", "name", f"one of {list(FETCH_NAMES)}", name)
    arch = ALIASES.get(name, name)
    src = next(s for s in spec(arch).weights if isinstance(s, UrlSource) == bool(url))
    file, digest = sources.resolve(src, arch, url=url, sha256=sha256, progress=progress)
    return Fetched(arch, file, digest, cached_convert(file, arch, digest))


def import_file(file: str | os.PathLike, arch: str, out: str | os.PathLike | None = None) -> tuple[Path, Any]:
    """Convert a weight file for `arch` and store the tree as an orbax checkpoint.

    Args:
      file: a weight file `convert_file` reads (.pth/.pt/.tar/.bin, .caffemodel, .npy, .ckpt).
      arch: the backbone name the file holds weights of.
      out: the folder to save into; without it, the cache entry that `load_pretrained` keys by (arch, the file's
        sha256, the converting code).

    Returns:
      (orbax folder, params): the saved folder's Path and the converted parameter tree.
    """
    params = convert_file(file, arch)
    if out is not None:
        return Path(save_params(out, params)), params
    settings = {"arch": arch, "sha256": sha256_file(file)}
    entry = cache.cached("weights", settings, _code_version(), lambda tmp: save_params(tmp / "params", params))
    return entry / "params", params


def param_summary(params: Any) -> str:
    """'N arrays, M parameters' of a parameter tree.

    Args:
      params: any pytree of arrays.

    Returns:
      str, e.g. "16 arrays, 61,100,840 parameters" (M with thousands separators).
    """
    import jax

    leaves = jax.tree_util.tree_leaves(params)
    return f"{len(leaves)} arrays, {sum(int(np.size(x)) for x in leaves):,} parameters"


def inspect_lines(path: Path) -> list[str]:
    """`key  shape  dtype` per array of a .pth, .caffemodel, .npy or .ckpt file or an orbax directory, then a total.

    Args:
      path: the file (told apart by its suffix, any case; torch files also .pt/.tar/.bin) or orbax directory.

    Returns:
      list of str: one aligned "key  (shape)  dtype" line per array in file order, then "N arrays, M values".

    Raises:
      InputError: for another suffix, or as the file's reader.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        import jax

        flat, _ = jax.tree_util.tree_flatten_with_path(load_orbax_params(path))
        rows = [(jax.tree_util.keystr(k, simple=True, separator="/"), np.shape(v), v.dtype) for k, v in flat]
    elif suffix in TORCH_SUFFIXES:
        rows = [(k, v.shape, v.dtype) for k, v in read_torch_state_dict(path).items()]
    elif suffix == ".caffemodel":
        rows = [(f"{layer.name} [{layer.type}] blob{i}", b.shape, b.dtype)
                for layer in read_caffemodel_layers(path) for i, b in enumerate(layer.blobs)]
    elif suffix == ".ckpt":
        rows = [(k, v.shape, v.dtype) for k, v in flatten(read_numpy_pickle(path)).items()]
    elif suffix == ".npy":
        rows = [(f"{k}[{i}]", b.shape, b.dtype) for k, v in read_alexnet_npy(path).items() for i, b in enumerate(v)]
    else:
        raise InputError(path, "suffix", "a .pth/.pt, .caffemodel, .npy or .ckpt file, or an orbax directory",
                         suffix or "none")
    width = max((len(r[0]) for r in rows), default=0)
    lines = [f"{k:<{width}}  {str(tuple(s)):<20}  {d}" for k, s, d in rows]
    total = sum(int(np.prod(s, dtype=np.int64)) for _, s, _ in rows)
    lines.append(f"{len(rows)} arrays, {total:,} values")
    return lines
