"""`convcorr data`: generate synthetic datasets (`synth`), fetch real ones (`fetch`) and `inspect`
what a loader reads from a real-format file or folder.

  convcorr data synth objects|people|faces --n 200 --seed 0 --out DIR [--image-size S]
  convcorr data inspect PATH [--show 3] [--skip-bad] [--with-images [--no-progress]] [--voc-root DIR]
  convcorr data fetch pf-willow|flic --out DIR [--sha256 H] [--url URL] [--archive-dir DIR]
  convcorr data pack-flic --root FLIC --out flic.tar [--quality 70 | --copy] [--max-mib 60] [--split all|train]
                         [--no-progress]
  convcorr data unpack-flic flic.tar --out DIR [--sha256 H]

`synth` writes the set in its real format (VOC folders, MPII h5 + FLIC mat, 300-W folder) with a progress bar and
one summary line; the folder is then readable by the real loaders (`load_voc_keypoints`, `load_mpii_h5`,
`load_flic`, `load_300w`). `inspect` detects the format (`convcorr_jax.data.formats`) and summarises the samples.
`pack-flic` / `unpack-flic` carry a FLIC folder as one tar with a sha256 file beside it
(`convcorr_jax.data.flic_pack`).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np

from convcorr_cli.options import document, group_examples
from convcorr_jax.core import io, staging
from convcorr_jax.data.fetch import DOWNLOADS, fetch_dataset
from convcorr_jax.data.flic_pack import MAX_MIB, QUALITY, SPLITS, pack_flic, unpack_flic
from convcorr_jax.data.formats import FORMATS, read_format
from convcorr_jax.data.synthetic.datasets import DEFAULT_SIZE, KINDS, write_dataset
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError


def _synth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS, help="which synthetic set")
    p.add_argument("--n", type=int, default=1000, help="number of samples (images)")
    p.add_argument("--seed", type=int, default=0, help="the set's seed, an integer >= 0")
    p.add_argument("--out", required=True, help="output folder (created; must be empty or absent)")
    p.add_argument("--image-size", type=int, default=None,
                   help="square image side in pixels (default: "
                   + ", ".join(f"{kind} {side}" for kind, side in DEFAULT_SIZE.items()) + ")")
    p.add_argument("--noise-sigma", type=float, default=0.0, help="people: annotation noise (pixels)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path)
    p.add_argument("--show", type=int, default=2, help="samples to print in full (default 2)")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed records and report them")
    p.add_argument("--with-images", action="store_true",
                   help="also read (and check) every image, with a progress bar on stderr")
    p.add_argument("--voc-root", type=Path, default=None, help="VOC2011 devkit folder for keypoint XML folders")
    p.add_argument("--coordinate-base", type=int, default=0, help="for COCO json: 0 (COCO) or 1 (copied .pts)")
    p.add_argument("--format", choices=FORMATS, default=None, help="skip detection and read PATH as this format")
    p.add_argument("--no-progress", action="store_true", help="no progress bar of the images read")


def _fetch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=sorted(DOWNLOADS))
    p.add_argument("--out", type=Path, required=True, help="new or empty folder to unpack into")
    p.add_argument("--sha256", default=None, help="expected sha256 of the archive (required where none is known)")
    p.add_argument("--size", type=int, default=None, help="expected archive size in bytes")
    p.add_argument("--url", default=None, help="download from this address instead (a mirror)")
    p.add_argument("--archive-dir", type=Path, default=None, help="where the archive is kept (default: the cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _pack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--out", type=Path, required=True, help="the archive (.tar), new or an earlier pack-flic archive "
                   "(any other file is refused); its checksum goes to OUT.sha256")
    p.add_argument("--quality", type=int, default=None,
                   help=f"re-encode the JPEGs at this JPEG quality, 1..95 (default {QUALITY}; not with --copy)")
    p.add_argument("--copy", action="store_true", help="copy the JPEGs as they are instead (no --quality)")
    p.add_argument("--max-mib", type=float, default=MAX_MIB, help="refuse a larger archive (MiB)")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="the images packed: all, or the training examples' alone (test scored elsewhere)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _unpack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archive", type=Path, help="a pack-flic archive")
    p.add_argument("--out", type=Path, required=True, help="new or empty folder to unpack into")
    p.add_argument("--sha256", default=None, help="expected sha256 (default: ARCHIVE.sha256)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)
    _synth_arguments(document(
        sub.add_parser("synth", help="generate a synthetic dataset in the real formats"),
        "Generate a synthetic dataset in its real format into the new or empty folder --out: objects as VOC "
        "keypoint folders, people as an MPII h5 and a FLIC examples.mat with their images, faces as a 300-W folder; "
        "the real loaders read it. Prints one summary line.",
        "convcorr data synth people --n 200 --seed 0 --out people",
        "convcorr data synth objects --n 50 --image-size 128 --out objects"))
    _inspect_arguments(document(
        sub.add_parser("inspect", help="print what a loader reads from PATH"),
        "Detect the format of PATH (FLIC examples.mat, MPII .h5 / RELEASE .mat, LSP joints.mat, Bourdev XML or "
        "folder, .pts or 300-W folder, COCO landmark json or person-keypoint folder, VOC label PNG or folder, joints "
        "CSV, image folder), load it and print a summary and the first samples; writes nothing.",
        "convcorr data inspect FLIC/examples.mat --show 3",
        "convcorr data inspect people --with-images --skip-bad"))
    _fetch_arguments(document(
        sub.add_parser("fetch", help="download, verify (size, sha256) and unpack a dataset"),
        "Download a dataset archive from its official address (or --url), check its size and sha256, keep it in "
        "--archive-dir, and unpack it atomically into --out, the folder the loader reads (load_pf_willow(OUT), "
        "load_flic(OUT)); a download cut by the network or stopped (Ctrl-C) keeps its bytes there and the same "
        "command resumes it. PF-WILLOW publishes no checksum: pass --sha256.",
        "convcorr data fetch flic --out FLIC", "convcorr data fetch pf-willow --out PF-dataset-WILLOW --sha256 H"))
    _pack_arguments(document(
        sub.add_parser("pack-flic", help="pack a FLIC folder into one tar + sha256 file"),
        "Read the FLIC folder --root and pack examples.mat and the images it names into one uncompressed tar --out "
        "(JPEGs re-encoded at --quality, or copied), written atomically with OUT.sha256 beside it; a larger archive "
        "than --max-mib is refused.",
        "convcorr data pack-flic --root FLIC --out flic.tar",
        "convcorr data pack-flic --root FLIC --out flic.tar --copy --max-mib 200"))
    _unpack_arguments(document(
        sub.add_parser("unpack-flic", help="verify and unpack a pack-flic archive"),
        "Check the archive's sha256 (--sha256, else ARCHIVE.sha256) and unpack its FLIC folder atomically into the "
        "new or empty folder --out, the folder load_flic reads; a corrupted archive is refused in one line.",
        "convcorr data unpack-flic flic.tar --out FLIC"))
    group_examples(parser)


def run(args: argparse.Namespace) -> int:
    return {"synth": _synth, "inspect": _inspect, "fetch": _fetch, "pack-flic": _pack,
            "unpack-flic": _unpack}[args.data_command](args)


def _synth(args: argparse.Namespace) -> int:
    out = io.check_writable(args.out, "--out", kind="folder")
    io.check_replaceable(out, None, "--out")  # absent or empty: nothing is written among someone's files
    if args.n < 1:
        raise InputError("convcorr data synth", "--n", "an integer >= 1", args.n)
    if args.seed < 0:
        raise InputError("convcorr data synth", "--seed", "an integer >= 0", args.seed)
    if args.image_size is not None and not 32 <= args.image_size <= 2048:
        raise InputError("convcorr data synth", "--image-size", "an integer in 32..2048", args.image_size)
    if args.workers < 1:
        raise InputError("convcorr data synth", "--workers", "an integer >= 1", args.workers)
    if not 0 <= args.noise_sigma < float("inf"):
        raise InputError("convcorr data synth", "--noise-sigma", "a finite number >= 0 (pixels)", args.noise_sigma)
    if args.noise_sigma and args.kind != "people":
        raise InputError("convcorr data synth", "--noise-sigma", "only with kind 'people'", args.noise_sigma)
    tmp = staging.make(out)  # built beside --out and moved in whole: an interrupted run leaves --out as it was
    try:
        info = write_dataset(args.kind, tmp, args.n, args.seed, args.image_size or DEFAULT_SIZE[args.kind],
                             workers=args.workers, noise_sigma=args.noise_sigma, progress=not args.no_progress)
        io.replace_dir(tmp, out, None)  # --out checked again: still absent or empty
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"synth {args.kind}: {info['n']} samples ({info['train']} train / {info['test']} test), "
          f"{info['image_size']} px, seed {info['seed']}, in {info['seconds']:.1f} s -> {out}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    io.check_writable(args.out, "--out", kind="folder")
    io.check_replaceable(args.out, None, "--out")  # before the download
    if args.archive_dir is not None:
        io.check_writable(args.archive_dir, "--archive-dir", kind="folder")
    if args.size is not None and args.size < 1:
        raise InputError("convcorr data fetch", "--size", "a size in bytes >= 1", args.size)
    out = fetch_dataset(args.dataset, args.out, url=args.url, sha256=args.sha256, size=args.size,
                        archive_dir=args.archive_dir, progress=not args.no_progress)
    print(f"{args.dataset}: unpacked into {out} ({DOWNLOADS[args.dataset].check(out)})")
    return 0


def _pack(args: argparse.Namespace) -> int:
    io.check_writable(args.out, "--out")
    if not args.max_mib > 0:  # NaN included (it meant no limit); inf: no limit
        raise InputError("convcorr data pack-flic", "--max-mib", "a size > 0 (MiB)", args.max_mib)
    if args.copy and args.quality is not None:  # the JPEGs are copied as they are: no quality would be applied
        raise InputError("convcorr data pack-flic", "--quality", "no --quality with --copy (the JPEGs are copied as "
                         "they are; drop one of the two)", args.quality)
    quality = None if args.copy else QUALITY if args.quality is None else args.quality
    info = pack_flic(args.root, args.out, quality, args.max_mib, args.split, progress=not args.no_progress)
    how = "copied" if info["quality"] is None else f"JPEG quality {info['quality']}"
    which = "" if info["split"] == "all" else "; the training examples' alone"
    print(f"pack-flic: {info['images']} images ({how}{which}) + examples.mat, "
          f"{info['bytes'] / 2**20:.1f} MiB, sha256 {info['sha256']} -> {info['archive']} (+ .sha256)")
    return 0


def _unpack(args: argparse.Namespace) -> int:
    io.check_writable(args.out, "--out", kind="folder")
    io.check_replaceable(args.out, None, "--out")
    done = unpack_flic(args.archive, args.out, args.sha256)
    print(f"unpack-flic: {args.archive} verified, unpacked into {args.out} ({done})")
    return 0


def _sample_lines(s) -> str:
    """A sample as printed by `inspect`: keypoints (the first four), a (name, array) pair, or a label map."""
    if isinstance(s, KeypointSample):
        k = len(s.names)
        lab = np.all(np.isfinite(s.points), axis=1)
        lines = [f"  id={s.id} category={s.category} K={k} labelled={int(lab.sum())} visible={int(s.visible.sum())}",
                 f"    bbox (0-based x0,y0,x1,y1) = {np.round(s.bbox.astype(float), 2).tolist()}",
                 f"    image_path = {s.image_path}" + (f"  image {s.image.shape}" if s.image is not None else "")]
        for i in range(min(k, 4)):
            xy = np.round(s.points[i].astype(float), 2).tolist()
            lines.append(f"    {s.names[i]:<14} {xy} visible={bool(s.visible[i])}")
        if k > 4:
            lines.append(f"    ... {k - 4} more")
        ex = {key: (v if np.ndim(v) == 0 and not isinstance(v, (list, dict)) else f"<{type(v).__name__}>")
              for key, v in s.extras.items()}
        lines.append(f"    extras: {ex}")
        return "\n".join(lines)
    if isinstance(s, tuple):
        return f"  {s[0]}  {s[1].shape} {s[1].dtype}"
    lab = s.label
    return f"  id={s.id} label {lab.shape} classes={sorted(set(np.unique(lab).tolist()))} image_path={s.image_path}"


def _inspect(args: argparse.Namespace) -> int:
    if not args.path.exists():
        raise InputError(args.path, "path", "an existing file or folder", "no such file or folder")
    if args.show < 0:
        raise InputError("convcorr data inspect", "--show", "an integer >= 0", args.show)
    if args.coordinate_base not in (0, 1):
        raise InputError("convcorr data inspect", "--coordinate-base", "0 or 1", args.coordinate_base)
    data, what = read_format(args.path, args.format, args.skip_bad, args.with_images, args.voc_root,
                             args.coordinate_base, progress=not args.no_progress)
    print(f"{args.path}: {what}")
    if isinstance(data, np.ndarray):
        print(f"  array {data.shape} {data.dtype}; min {np.nanmin(data):.3f} max {np.nanmax(data):.3f}")
        print("  " + np.array2string(np.asarray(data).reshape(-1)[:12], precision=3))
        return 0
    for s in data[: max(args.show, 0)]:  # the other readers' results: a list of samples (a `Loaded`, with `skipped`)
        print(_sample_lines(s))
    skipped = getattr(data, "skipped", [])
    print(f"{len(data)} samples read, {len(skipped)} skipped")
    for e in skipped:
        print(f"  skipped: {e}")
    return 0
