"""`convcorr data synth objects|people|faces --n N --seed S --out DIR [--image-size S]`.

Writes the set in its real format (VOC folders, MPII h5 + FLIC mat, 300-W folder) with a progress bar and one
summary line; the folder is then readable by the real loaders (`load_voc_keypoints`, `load_mpii_h5`,
`load_flic`, `load_300w`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from convcorr_jax.data.synthetic.datasets import DEFAULT_SIZE, KINDS, write_dataset
from convcorr_jax.errors import InputError


def add_synth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS, help="which synthetic set")
    p.add_argument("--n", type=int, default=1000, help="number of samples (images)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder (created; must be empty or absent)")
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="square image side in pixels (default: objects 192, people 128, faces 128)",
    )
    p.add_argument("--noise-sigma", type=float, default=0.0, help="people: annotation noise (pixels)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes")


def run_synth(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise InputError(out, "--out", "an empty or absent folder", "a non-empty folder")
    if args.noise_sigma and args.kind != "people":
        raise InputError("convcorr data synth", "--noise-sigma", "only with kind 'people'", args.noise_sigma)
    info = write_dataset(
        args.kind,
        out,
        args.n,
        args.seed,
        args.image_size or DEFAULT_SIZE[args.kind],
        workers=args.workers,
        noise_sigma=args.noise_sigma,
    )
    print(
        f"synth {args.kind}: {info['n']} samples ({info['train']} train / {info['test']} test), "
        f"{info['image_size']} px, seed {info['seed']}, in {info['seconds']:.1f} s -> {out}"
    )
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:  # standalone use: python -m ...synthetic.cli
    add_synth_arguments(p)


def run(args: argparse.Namespace) -> int:
    return run_synth(args)


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(prog="convcorr data synth")
    add_synth_arguments(parser)
    sys.exit(run_synth(parser.parse_args()))
