"""`convcorr eval`: evaluate prediction files against ground truth. One subcommand per protocol:

  convcorr eval pckh --preds preds.h5 [more.mat ...] --annot annot/valid.h5 [--json out.json] [--figure f.png]
  convcorr eval pckh --reference MPII_FOLDER        # the published files in MPII_FOLDER/reference_preds/
  convcorr eval pck --preds preds.npz --gt gt.npz [--alpha 0.05] [--json out.json]

`pckh`: MPII PCKh (official toolkit definition) at 0.5 and 0.1, and the AUC. `pck` reads `preds` [N, K, 2] from
an .npz/.npy/.h5 file and ground truth from an .npz with `points` [N, K, 2], `visible` [N, K] and `norm` [N]
(e.g. torso size for FLIC); it prints PCK per joint at alpha and the curve. A new protocol is a pair of
functions (add its arguments, run it) in `SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from convcorr_jax import io, metrics
from convcorr_jax.errors import InputError, check


def _pckh_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--preds", nargs="+", default=None, help="prediction file(s) with `preds` (.mat or .h5)")
    a.add_argument("--annot", default=None, help="ground truth: annot/valid.h5 (hourglass layout)")
    a.add_argument("--reference", default=None, metavar="MPII_FOLDER",
                   help="evaluate the published files MPII_FOLDER/reference_preds/* against MPII_FOLDER/hg_annot/valid.h5")
    a.add_argument("--json", default=None, help="write {'0.5': {...}, '0.1': {...}} (percent) here")
    a.add_argument("--figure", default=None, help="PNG of the PCKh-total curves")


def _run_pckh(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import pckh

    if args.reference:
        check(pckh.has_reference(args.reference), args.reference, "hg_annot/valid.h5", "an MPII folder", "missing")
        results = pckh.reference_results(args.reference)
    else:
        check(bool(args.preds) and bool(args.annot), "--preds/--annot", "arguments",
              "--preds FILE... --annot valid.h5 (or --reference MPII_FOLDER)", "missing")
        results = {Path(f).stem: pckh.evaluate_file(f, args.annot) for f in args.preds}
    for t in ("0.5", "0.1"):
        print(pckh.format_table(results, t))
    for name, r in results.items():
        print(f"{name}: PCKh@0.5 total {r['0.5']['Total']:.2f}, AUC(0..0.5) {r['auc']:.2f}")
    if args.json:
        out = pckh.json_tables(next(iter(results.values()))) if len(results) == 1 else {
            n: pckh.json_tables(r) for n, r in results.items()}
        io.write_json(args.json, out)
        print(f"wrote {args.json}")
    if args.figure:
        pckh.pckh_curve_figure(results, args.figure)
        print(f"wrote {args.figure}")
    return 0


def _pck_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--preds", required=True, help=".npz/.npy/.h5 with `preds` [N, K, 2]")
    b.add_argument("--gt", required=True, help=".npz with points [N, K, 2], visible [N, K], norm [N]")
    b.add_argument("--alpha", type=float, default=0.05)
    b.add_argument("--json", default=None)


def _read_array(path: str, key: str) -> np.ndarray:
    p = Path(path)
    check(p.is_file(), p, "file", "an existing file", "missing")
    if p.suffix == ".npy":
        return np.load(p)
    if p.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "r") as f:
            check(key in f, p, key, "dataset present", sorted(f.keys()))
            return np.asarray(f[key][:])
    with np.load(p) as z:
        check(key in z.files, p, key, "array present", z.files)
        return z[key]


def _run_pck(args: argparse.Namespace) -> int:
    pred = np.asarray(_read_array(args.preds, "preds"), np.float64)
    gt = np.asarray(_read_array(args.gt, "points"), np.float64)
    vis = np.asarray(_read_array(args.gt, "visible"), bool)
    norm = np.asarray(_read_array(args.gt, "norm"), np.float64)
    check(pred.shape == gt.shape, args.preds, "preds", f"shape {gt.shape} like the ground truth", pred.shape)
    per = 100 * metrics.pck_per_keypoint(pred, gt, vis, norm, args.alpha)
    alphas = np.round(np.arange(0, 0.21, 0.01), 2)
    curve = [100 * metrics.pck(pred, gt, vis, norm, a) for a in alphas]
    print(f"PCK@{args.alpha:g} per joint: " + " ".join(f"{v:.1f}" for v in per))
    print(f"PCK@{args.alpha:g} mean: {100 * metrics.pck(pred, gt, vis, norm, args.alpha):.2f}")
    print("curve: " + " ".join(f"{a:g}:{c:.1f}" for a, c in zip(alphas, curve)))
    if args.json:
        io.write_json(args.json, {"alpha": args.alpha, "per_joint": per.tolist(), "mean": float(np.nanmean(per)),
                                  "curve": {f"{a:g}": c for a, c in zip(alphas, curve)}})
    return 0


# subcommand -> (one-line help, add its arguments, run it)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "pckh": ("PCKh (MPII toolkit definition) of prediction files against annot/valid.h5", _pckh_arguments, _run_pckh),
    "pck": ("PCK normalised per instance (FLIC: torso size)", _pck_arguments, _run_pck),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="metric", required=True)
    for name, (help_, add, _) in SUBCOMMANDS.items():
        add(sub.add_parser(name, help=help_))


def run(args: argparse.Namespace) -> int:
    try:
        return int(SUBCOMMANDS[args.metric][2](args) or 0)
    except InputError as e:
        print(f"convcorr eval {args.metric}: error: {e}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """`convcorr eval ARGS` as a function (thin entry points call it)."""
    p = argparse.ArgumentParser(prog="convcorr eval", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(list(sys.argv[1:] if argv is None else argv)))
