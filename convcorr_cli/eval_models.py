"""`convcorr eval flic`, `convcorr eval mpii` and `convcorr eval pose`: score a pose model (a shipped model, a model
folder or a training run; `--model`, read only) on FLIC, on MPII (its predictions as an MPII h5) or on any pose
dataset; flic and mpii run as experiments of `convcorr run` (`eval_runs`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose.readout import same_split_note
from convcorr_eval.runner import make_config
from convcorr_cli.eval_output import check_output_paths, model_folder, print_header, scoring_run, write_outputs
from convcorr_cli.eval_runs import copy_output, run_alias, run_arguments, with_experiment_run
from convcorr_cli.options import add_backbone_module, add_set


MODEL_HELP = ("the model scored: a shipped model's name (flic, flic_256, person), a model folder (model.json: an "
              "export) or a `convcorr train pose` run folder; read only (--run is the same flag)")


def _add_model(a: argparse.ArgumentParser, what: str = "") -> None:
    a.add_argument("--model", "--run", dest="model", required=True, metavar="MODEL", help=MODEL_HELP + what)


def flic_arguments(c: argparse.ArgumentParser) -> None:
    _add_model(c, "; scored with its stored read-out (the tables' validated row)")
    c.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    c.add_argument("--split", default="test", choices=("test", "val"),
                   help="test (final numbers) or the by-movie validation split (choices)")
    c.add_argument("--refine", default="on", choices=("on", "off"),
                   help="parabola sub-cell refinement of both models' arg-maxes in the main table")
    c.add_argument("--spatial", default=None, choices=("on", "off"),
                   help="also score both models with the torso-conditioned spatial model (Sec. 3.3) before the "
                        "fine model (default: the validated choice, tompson2015.flic's SPATIAL)")
    c.add_argument("--timing", action="store_true", help="also measure forward ms per image (Table 2, this CPU)")
    c.add_argument("--json", default=None,
                   help="write {'pck': {alpha: {row: {group: v, 'all': v}}}, 'validated', 'ablation', 'curve', "
                        "'n', ...} (fractions 0..1) here: alphas 0.05, 0.1, 0.2; rows coarse, cascade, product "
                        "(--refine on), their '+spatial' twins with the spatial model and 'two-pass' with --set "
                        "second_pass; 'validated': the stored read-out's 'pck' and 'readout'; 'ablation': every "
                        "read-out's table; 'curve': Figure 15; 'table2_ms' with --timing")
    c.add_argument("--figure", default=None, help="PNG of Figure 15 (wrist + elbow PCK against distance)")
    add_set(c, "any other field of tompson2015.flic's Config (test_flip, test_scales, test_merge, protocol, "
               "image_size, second_pass, spatial_mode, spatial_kernel, ...)", ("test_flip=true", "test_scales=1,0.8"))
    run_arguments(c)


def score_flic(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import flic_scores

    flags = [f"model={args.model}", f"split={args.split}", f"refine={args.refine}", f"timing={args.timing}"]
    flags += [f"spatial={args.spatial}"] if args.spatial is not None else []
    cfg = cast(flic_scores.Config,  # --set last: it wins
               make_config("tompson2015.flic", sets=[*flags, *args.set], data_root=args.root))
    result, run_dir = run_alias("flic", "tompson2015.flic", cfg, flic_scores.run_name(cfg), args,
                                {"--json": args.json, "--figure": args.figure})
    if result is None:
        return 1
    res = result.metrics
    print(flic_scores.markdown(res))
    print(flic_scores.summary_line(res))
    write_outputs(args.json, with_experiment_run(res, run_dir))
    copy_output(run_dir / "figures" / flic_scores.FIGURE, args.figure)
    return 0


def mpii_arguments(d: argparse.ArgumentParser) -> None:
    _add_model(d, "; trained on MPII (`convcorr train pose --set data=mpii`), scored with its stored read-out "
                  "(--set readout=NAME another)")
    d.add_argument("--annot", required=True, help="annotation h5 (hourglass layout, e.g. annot/valid.h5)")
    d.add_argument("--images", default=None, help="image folder (default: images/ beside the annot folder)")
    d.add_argument("--h5", default=None, metavar="FILE",
                   help="also copy the predictions (h5 `preds`, 1-based MPII frame) here (the run folder holds "
                        "them as preds.h5)")
    d.add_argument("--json", default=None, help="write the PCKh tables and their AUC (percent) here")
    add_set(d, "any other field of tompson2015.mpii's Config", ("readout=cascade", "images=IMAGES"))
    run_arguments(d)


def score_mpii(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import mpii, pckh

    flags = [f"model={args.model}", f"annot={args.annot}"] + ([f"images={args.images}"] if args.images else [])
    cfg = cast(mpii.Config, make_config("tompson2015.mpii", sets=[*flags, *args.set]))  # --set last: it wins
    if Path(args.out).suffix.lower() in (".h5", ".hdf5"):
        raise InputError(None, "--out", "the output root folder (the prediction file is --h5 FILE)", args.out)
    result, run_dir = run_alias("mpii", "tompson2015.mpii", cfg, mpii.run_name(cfg), args,
                                {"--h5": args.h5, "--json": args.json}, {"--annot": cfg.annot})
    if result is None:
        return 1
    copy_output(run_dir / mpii.PREDS, args.h5)
    r = result.metrics
    if r.get("warning"):  # NaN or inf predictions, scored as misses
        print(r["warning"], file=sys.stderr)
    for t in ("0.5", "0.1"):
        print(pckh.format_table({Path(args.h5 or mpii.PREDS).stem: r}, t))
    if note := same_split_note(r):
        print(note)
    chosen = {k: r[k] for k in ("readout_chosen_on", "readout_chosen_on_scored_split") if k in r}
    write_outputs(args.json, with_experiment_run({**pckh.json_tables(r), **chosen}, run_dir))
    return 0


def pose_arguments(a: argparse.ArgumentParser) -> None:
    _add_model(a, "; scored with its stored read-out (the validated row) beside the cascade, coarse model and "
                  "mean pose")
    a.add_argument("--root", required=True, help="the dataset folder of the model's data kind (e.g. a COCO-format "
                   "folder with annotations/ and images/)")
    a.add_argument("--split", default="val", choices=("val", "test", "train"), help="the split scored")
    a.add_argument("--flip", action="store_true", help="test-time flip (each crop averaged with its mirror)")
    a.add_argument("--json", default=None,
                   help="write {'pck': {alpha: {'mean': v, group or joint: v}}, 'readout', 'models', 'people', "
                        "'scored_people', ...} (fractions 0..1) here: alphas 0.05, 0.1, 0.2, 0.5; 'pck' is the "
                        "stored read-out's, 'models' the same table for 'validated', 'cascade', 'coarse' and "
                        "'mean_pose'; 'pckh' where the skeleton has a head segment, 'oks' (COCO's AP) on "
                        "COCO-format data")
    add_backbone_module(a)  # the module that registers a model's own pose dataset kind (its loader reads --root)


def score_pose(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import pose_scores

    # before any work; the dataset folder and the model's are read only
    check_output_paths({"--json": args.json}, {}, args.root, model_folder(args.model))
    config = {"model": args.model, "root": args.root, "split": args.split, "flip": args.flip}
    print_header("convcorr eval pose", config)
    res = pose_scores.score_run(args.model, args.root, args.split, flip=args.flip)
    print(pose_scores.markdown(res))
    print(f"wall time {res['seconds']:.1f} s")
    write_outputs(args.json, {**res, **scoring_run(config, res["seconds"])})
    return 0
