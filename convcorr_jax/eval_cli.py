"""`convcorr eval`: PCKh of MPII prediction files, PCK of FLIC-style predictions.

  convcorr eval pckh --preds preds.h5 --annot annot/valid.h5 [--json out.json]
  convcorr eval pck --preds preds.npz --gt gt.npz [--alpha 0.05] [--json out.json]

`pck` reads `preds` [N, K, 2] from an .npz/.npy/.h5 file and ground truth from an .npz with `points` [N, K, 2],
`visible` [N, K] and `norm` [N] (e.g. torso size for FLIC); it prints PCK per joint at alpha and the curve.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from convcorr_jax import io
from convcorr_jax.errors import InputError, check


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="metric", required=True)
    a = sub.add_parser("pckh", help="PCKh (MPII toolkit definition) of a preds file against annot/valid.h5")
    a.add_argument("--preds", required=True, nargs="+", help="prediction file(s) with `preds` (.mat or .h5)")
    a.add_argument("--annot", required=True, help="ground truth: annot/valid.h5 (hourglass layout)")
    a.add_argument("--json", default=None, help="write {'0.5': {...}, '0.1': {...}} (percent) here")
    b = sub.add_parser("pck", help="PCK normalised per instance (FLIC: torso size)")
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


def _run_pckh(args) -> int:
    from convcorr_jax.pose import pckh_report

    results = {Path(f).stem: pckh_report.evaluate_file(f, args.annot) for f in args.preds}
    for t in ("0.5", "0.1"):
        print(pckh_report.format_table(results, t))
    for name, r in results.items():
        print(f"{name}: PCKh@0.5 total {r['0.5']['Total']:.2f}, AUC(0..0.5) {r['auc']:.2f}")
    if args.json:
        out = pckh_report.json_tables(next(iter(results.values()))) if len(results) == 1 else {
            n: pckh_report.json_tables(r) for n, r in results.items()}
        io.write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


def _run_pck(args) -> int:
    from convcorr_jax import metrics

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


def run(args: argparse.Namespace) -> int:
    try:
        return _run_pckh(args) if args.metric == "pckh" else _run_pck(args)
    except InputError as e:
        print(f"convcorr eval {args.metric}: error: {e}", file=sys.stderr)
        return 2
