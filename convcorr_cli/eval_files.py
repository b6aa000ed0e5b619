"""`convcorr eval pckh` and `convcorr eval pck`: score prediction files against ground truth (MPII PCKh, PCK
normalised per instance), print the run header and the tables, and write the JSON and figure asked for.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from convcorr_jax.core import runinfo
from convcorr_jax.core.errors import InputError, check
from convcorr_jax.core.optional import require
from convcorr_jax.core.runinfo import score_about
from convcorr_eval.pck import pck_files
from convcorr_cli.eval_output import RUN_FIELDS, check_output_paths, print_header, scoring_run, write_outputs


def pckh_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--preds", nargs="+", default=None, help="prediction file(s) with `preds` (.mat or .h5)")
    a.add_argument("--annot", default=None, help="ground truth: annot/valid.h5 (hourglass layout)")
    a.add_argument("--reference", default=None, metavar="MPII_FOLDER",
                   help="evaluate the published files MPII_FOLDER/reference_preds/* against "
                        "MPII_FOLDER/hg_annot/valid.h5")
    a.add_argument("--json", default=None,
                   help="write {'0.5': {...}, '0.1': {...}, 'auc': ...} (percent) and the counts here")
    a.add_argument("--figure", default=None, help="PNG of the PCKh-total curves")


def _pckh_results(args: argparse.Namespace) -> dict[str, dict]:
    """The PCKh results of `--preds` against `--annot`, or of the published files of `--reference` (one warning
    line on stderr per published file absent, refused when none is there)."""
    from convcorr_eval.tompson2015 import pckh

    if args.reference:
        check(not args.preds and not args.annot, None, "--reference",
              "either --reference MPII_FOLDER or --preds FILE... --annot valid.h5, not both",
              "--reference with --preds/--annot")
        check(pckh.has_reference(args.reference), args.reference, "hg_annot/valid.h5", "an MPII folder", "missing")
        check_output_paths({"--json": args.json, "--figure": args.figure}, {}, args.reference)
        skipped = pckh.skipped_reference(args.reference)
        check(len(skipped) < len(pckh.REFERENCE_PRED_FILES), Path(args.reference) / "reference_preds",
              "files", "at least one of " + ", ".join(pckh.REFERENCE_PRED_FILES), "none")
        for path in skipped:
            print(f"warning: {path} not found; its row is left out", file=sys.stderr)
        return pckh.reference_results(args.reference)
    check(bool(args.preds) and bool(args.annot), "--preds/--annot", "arguments",
          "--preds FILE... --annot valid.h5 (or --reference MPII_FOLDER)", "missing")
    stems = [Path(f).stem for f in args.preds]
    if len(set(stems)) != len(stems):  # the tables are keyed by file name: one would hide another
        raise InputError(None, "--preds", "prediction files of different names (a table row each)",
                         " ".join(args.preds))
    taken = [f for f, stem in zip(args.preds, stems) if stem in RUN_FIELDS] if len(stems) > 1 else []
    if taken:  # the JSON of several files is keyed by file name beside the run's fields
        raise InputError(None, "--preds", f"prediction files not named {', '.join(RUN_FIELDS)} (the JSON's run "
                         "fields)", " ".join(taken))
    check_output_paths({"--json": args.json, "--figure": args.figure},
                       {**{f"--preds {f}": f for f in args.preds}, "--annot": args.annot})
    return {stem: pckh.evaluate_file(f, args.annot) for stem, f in zip(stems, args.preds)}


def score_pckh(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import pckh

    if args.figure:  # the figure alone needs the report extra: refused before the work, not after it
        require("matplotlib", "report", f"the figure ({args.figure})")
    with runinfo.timed() as wall:
        results = _pckh_results(args)
    config = {"preds": args.preds, "annot": args.annot, "reference": args.reference, "thresholds": [0.5, 0.1]}
    print_header("convcorr eval pckh", config)
    for r in results.values():
        if r.get("warning"):
            print(r["warning"], file=sys.stderr)
    for t in ("0.5", "0.1"):
        print(pckh.format_table(results, t))
    print(pckh.COLUMNS_ABOUT)
    for name, r in results.items():
        print(f"{name}: PCKh@0.5 (%) total {r['0.5']['Total']:.1f}, AUC(0..0.5) {r['auc']:.1f}; {r['people']} people "
              f"(row i against person i of the ground truth), {r['joints']} annotated joints scored")
    print(f"wall time {wall['seconds']:.1f} s")
    out = pckh.json_tables(next(iter(results.values()))) if len(results) == 1 else {
        n: pckh.json_tables(r) for n, r in results.items()}
    out.update(scoring_run(config, wall["seconds"]))
    write_outputs(args.json, out, args.figure, lambda path: pckh.pckh_curve_figure(results, path))
    return 0


def pck_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--preds", required=True, help=".npz/.npy/.h5 with `preds` [N, K, 2]")
    b.add_argument("--gt", required=True, help=".npz with points [N, K, 2], visible [N, K], norm [N]")
    b.add_argument("--alpha", type=float, default=0.05,
                   help="threshold as a fraction of each instance's norm (FLIC: the torso size)")
    b.add_argument("--json", default=None, help="write the PCK per joint, mean and curve here")


def score_pck(args: argparse.Namespace) -> int:
    check_output_paths({"--json": args.json}, {"--preds": args.preds, "--gt": args.gt})
    with runinfo.timed() as wall:
        r = pck_files(args.preds, args.gt, args.alpha)
    config = {"preds": args.preds, "gt": args.gt, "alpha": args.alpha}
    print_header("convcorr eval pck", config)
    if r["warning"]:
        print(r["warning"], file=sys.stderr)
    cell = lambda v: f"{v:.1f}" if math.isfinite(v) else "-"  # "-": no visible keypoint to score
    scored = sum(map(math.isfinite, r["per_joint"]))
    print(f"PCK@{args.alpha:g} (%) per joint: " + " ".join(cell(v) for v in r["per_joint"]))
    print(f"PCK@{args.alpha:g} (%) mean of the {scored} joints scored: {cell(r['mean'])}; pooled over every visible "
          f"keypoint: {cell(r['pooled'])}")
    print("curve (pooled): " + " ".join(f"{a}:{cell(c)}" for a, c in r["curve"].items()))
    print(f"scored: {r['keypoints']} visible keypoints of {r['instances']} instances (row i of --preds against row i "
          "of --gt)")
    print(f"wall time {wall['seconds']:.1f} s")
    write_outputs(args.json, {**{k: r[k] for k in ("alpha", "per_joint", "mean", "pooled", "curve", "instances",
                                                    "keypoints", "nonfinite")},
                              "about": score_about("the ground truth's norm (FLIC: torso)", args.alpha, "percent"),
                              **scoring_run(config, wall["seconds"])})
    return 0
