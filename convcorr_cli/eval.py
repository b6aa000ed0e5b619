"""`convcorr eval`: evaluate prediction files against ground truth. One subcommand per protocol:

  convcorr eval pckh --preds preds.h5 [more.mat ...] --annot annot/valid.h5 [--json out.json] [--figure f.png]
  convcorr eval pckh --reference MPII_FOLDER        # the published files in MPII_FOLDER/reference_preds/
  convcorr eval pck --preds preds.npz --gt gt.npz [--alpha 0.05] [--json out.json]
  convcorr eval mpii --run RUN_DIR --annot annot/valid.h5 [--images DIR] --out preds.h5 [--json out.json]
  convcorr eval flic --run RUN_DIR --root FLIC_FOLDER [--json out.json] [--figure fig15.png] [--split test]
  convcorr eval pf-willow --root PF-dataset-WILLOW [--features conv4|sift|none] [--backbone B] [--json out.json]

`pckh`: MPII PCKh (official toolkit definition) at 0.5 and 0.1, and the AUC. `pck` reads `preds` [N, K, 2] from
an .npz/.npy/.h5 file and ground truth from an .npz with `points` [N, K, 2], `visible` [N, K] and `norm` [N]
(e.g. torso size for FLIC); it prints PCK per joint at alpha and the curve (`convcorr_eval.pck`). `flic`: a
trained pose run (`convcorr train pose --config flic`) on the FLIC test split: PCK per joint group at
0.05/0.1/0.2 of the coarse model and the cascade (`convcorr_eval.tompson2015.flic`). `mpii`: a pose run trained
on MPII: its predictions written back in the MPII frame (1-based h5 `preds`) and scored by PCKh
(`convcorr_eval.tompson2015.mpii`). A new protocol is a pair of functions (add its arguments, run it) in
`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from convcorr_jax import io
from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_jax.errors import InputError, check
from convcorr_eval.pck import pck_files


def _write_outputs(json_path: str | None, obj, figure_path: str | None = None,
                   draw: Callable[[str], None] | None = None) -> None:
    """Write the JSON (atomically) and draw the figure, each where a path is given, and say so."""
    if json_path:
        io.write_json(json_path, obj)
        print(f"wrote {json_path}")
    if figure_path and draw is not None:
        draw(figure_path)
        print(f"wrote {figure_path}")


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
    out = pckh.json_tables(next(iter(results.values()))) if len(results) == 1 else {
        n: pckh.json_tables(r) for n, r in results.items()}
    _write_outputs(args.json, out, args.figure, lambda path: pckh.pckh_curve_figure(results, path))
    return 0


def _pck_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--preds", required=True, help=".npz/.npy/.h5 with `preds` [N, K, 2]")
    b.add_argument("--gt", required=True, help=".npz with points [N, K, 2], visible [N, K], norm [N]")
    b.add_argument("--alpha", type=float, default=0.05)
    b.add_argument("--json", default=None)


def _run_pck(args: argparse.Namespace) -> int:
    r = pck_files(args.preds, args.gt, args.alpha)
    print(f"PCK@{args.alpha:g} per joint: " + " ".join(f"{v:.1f}" for v in r["per_joint"]))
    print(f"PCK@{args.alpha:g} mean: {r['pooled']:.2f}")
    print("curve: " + " ".join(f"{a}:{c:.1f}" for a, c in r["curve"].items()))
    _write_outputs(args.json, {k: r[k] for k in ("alpha", "per_joint", "mean", "curve")})
    return 0


def _flic_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--run", required=True, help="a `convcorr train pose` run folder (config.json + checkpoints/)")
    c.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    c.add_argument("--split", default="test", choices=("test", "val"),
                   help="test (final numbers) or the by-movie validation split (choices)")
    c.add_argument("--refine", default="on", choices=("on", "off"),
                   help="parabola sub-cell refinement of both models' arg-maxes in the main table")
    c.add_argument("--timing", action="store_true", help="also measure forward ms per image (Table 2, this CPU)")
    c.add_argument("--json", default=None, help="write the scores (fractions 0..1) here")
    c.add_argument("--figure", default=None, help="PNG of Figure 15 (wrist + elbow PCK against distance)")


def _run_flic(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import flic

    tc, params = flic.load_run(args.run)
    res = flic.evaluate(tc, params, args.root, args.split, args.refine, args.timing)
    res["run"] = str(args.run)
    print(flic.markdown(res))
    t = res["pck"]["0.05"]
    print(f"FLIC {args.split} PCK@0.05 (torso): coarse " + " ".join(f"{c} {100 * t['coarse'][c]:.1f}" for c in t[
        "coarse"]) + " | cascade " + " ".join(f"{c} {100 * t['cascade'][c]:.1f}" for c in t["cascade"]))
    _write_outputs(args.json, res, args.figure, lambda path: flic.curve_figure(res, path))
    return 0


def _mpii_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("--run", required=True, help="a `convcorr train pose --set data=mpii` run folder")
    d.add_argument("--annot", required=True, help="annotation h5 (hourglass layout, e.g. annot/valid.h5)")
    d.add_argument("--images", default=None, help="image folder (default: images/ beside the annot folder)")
    d.add_argument("--out", required=True, help="prediction h5 to write (`preds`, 1-based MPII frame)")
    d.add_argument("--json", default=None, help="write the PCKh tables (percent) here")


def _run_mpii(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import mpii, pckh

    r = mpii.predict_file(args.run, args.annot, args.out, args.images)
    print(f"wrote {args.out}")
    for t in ("0.5", "0.1"):
        print(pckh.format_table({Path(args.out).stem: r}, t))
    _write_outputs(args.json, pckh.json_tables(r))
    return 0


def _pf_willow_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--root", required=True, help="the folder holding the PF-WILLOW sub-class folders")
    a.add_argument("--features", default="conv4", help="conv1..conv5 or pool5 (a backbone role), sift, or none")
    a.add_argument("--backbone", default=None, choices=BACKBONES, help="default: torchvision_alexnet (real ImageNet conv weights)")
    a.add_argument("--weights", default=None, help="weight file or 'random' (default: the pretrained weights)")
    a.add_argument("--json", default=None, help="write {'pck': {alpha: {sub-class: v, 'mean': v}}, 'pairs', 'seconds'}")
    a.add_argument("--no-progress", action="store_true")


def _run_pf_willow(args: argparse.Namespace) -> int:
    from convcorr_eval.long2014.common import BACKBONE
    from convcorr_eval.long2014.pf_willow import pf_willow_command

    backbone = args.backbone or BACKBONE
    res = pf_willow_command(args.root, args.features, backbone, args.weights, args.json, not args.no_progress)
    subs = [k for k in res["pck"]["0.1"] if k != "mean"]
    print(f"PF-WILLOW keypoint transfer ({args.features} features, {backbone}), PCK, {res['pairs']} pairs, "
          f"{res['seconds']:.0f} s")
    print("| alpha | " + " | ".join(subs) + " | mean |\n|" + "---|" * (len(subs) + 2))
    for alpha, row in res["pck"].items():
        print(f"| {alpha} | " + " | ".join(f"{row[k]:.3f}" for k in subs) + f" | {row['mean']:.3f} |")
    if args.json:
        print(f"wrote {args.json}")
    return 0


# subcommand -> (one-line help, add its arguments, run it)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "pckh": ("PCKh (MPII toolkit definition) of prediction files against annot/valid.h5", _pckh_arguments, _run_pckh),
    "pck": ("PCK normalised per instance (FLIC: torso size)", _pck_arguments, _run_pck),
    "mpii": ("a trained MPII pose run: predictions as an MPII h5, scored by PCKh", _mpii_arguments, _run_mpii),
    "flic": ("a trained pose run on FLIC: PCK per joint group (torso), coarse and cascade", _flic_arguments, _run_flic),
    "pf-willow": ("keypoint transfer on PF-WILLOW by BP flow (Proposal Flow protocol)", _pf_willow_arguments,
                  _run_pf_willow),
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

