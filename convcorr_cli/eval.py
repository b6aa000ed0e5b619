"""`convcorr eval`: evaluate prediction files against ground truth, and score pose models. One subcommand each:

  convcorr eval pckh --preds preds.h5 [more.mat ...] --annot annot/valid.h5 [--json out.json] [--figure f.png]
  convcorr eval pckh --reference MPII_FOLDER        # the published files in MPII_FOLDER/reference_preds/
  convcorr eval pck --preds preds.npz --gt gt.npz [--alpha 0.05] [--json out.json]
  convcorr eval mpii --model MODEL --annot annot/valid.h5 [--images DIR] [--h5 preds.h5] [--json out.json]
  convcorr eval flic --model MODEL --root FLIC_FOLDER [--json out.json] [--figure fig15.png] [--split test]
  convcorr eval pose --model MODEL --root DATASET [--split val|test] [--flip] [--json out.json]
  convcorr eval pf-willow --root PF-dataset-WILLOW [--method ot_rhm|rhm|ot|cos|bp] [--backbone B] [--taps T ...]
                          [--image-size 224] [--size tiny|default|full] [--features cnn|sift|none]
                          [--classes "car(S),duck(S)"] [--pairs 9] [--json out.json]
  convcorr eval pf-pascal --root PF-PASCAL [--split test] [the options of pf-willow]
  convcorr eval spair --root SPair-71k [--split test] [the options of pf-willow]

MODEL (`--model`; `--run` is the same flag): a shipped model's name (`flic`, `flic_256`, `person`), a model folder (an
export of `python -m convcorr_train.ship_model`) or a `convcorr train pose` run folder, read by `convcorr_jax.pose.load`
and scored with its stored read-out (readout.json, chosen on its validation split); scoring never writes into it
(`python -m convcorr_train.choose_readout` chooses a FLIC model's read-out again).

`pckh` and `pck` score prediction files. `flic`, `mpii` and `pf-willow` are the experiments `tompson2015.flic`,
`tompson2015.mpii` and `long2014.pf_willow` of `convcorr run` with their config built from the options: each
writes a run folder OUT/NAME (`--out`, default runs; `--out-dir` is an old name for it; `--name`, default the
experiment's readable name for its inputs, e.g. `long2014.pf_willow_none_vgg16`, then `_` and 6 hex digits of a digest
of every setting and of the scored model's identity (its model.json's sha256, `tompson2015.trained.model_state`):
`run_name`), so runs with other settings or of other models never share a folder and the same settings find their
finished run.
It holds config.json, metrics.json, report.md/html and figures/; an identical finished run is kept, one on
changed data (a file added, removed or changed under `--root`) or older code runs again, and a named folder
holding a run with other settings is refused unless `--force` (as `convcorr run`). Then it prints its tables and
copies the JSON, figure or prediction file to `--json`, `--figure`, `--h5` where given.

Every subcommand's `--json` says what ran beside the scores: "config" (the settings; "seed" among them, null where
scoring draws no random numbers), "versions" (`runinfo.versions`) and "seconds" (wall time; an alias's from its run
folder's metrics.json, also for a kept run, unless its scores hold their own).

`pf-willow`: keypoint transfer on the PF-WILLOW sub-classes under `--root` (Proposal Flow protocol, PCK per
sub-class); default: the validated row, SCOT's optimal transport + Hough matching (`ot_rhm`) on VGG-16
hyperpixels (`convcorr_eval.long2014.pf_willow`). `--size` is the experiment's size as in `convcorr run`
(tiny: 2 pairs per sub-class, 160 px); `--image-size` the frame side in pixels. `--features sift` and
`--features none` run BP flow (SIFT flow, zero flow) unless `--method` names another method; the printed row
says which features and method it ran.

`pf-pascal`, `spair`: the same transfer and options on PF-PASCAL and SPair-71k (`long2014.pf_pascal`,
`long2014.spair`; layouts in docs/data.md), on `--split` (default test); `--classes` and `--pairs` select
categories and the first N pairs of each. PCK as HPF and SCOT: alpha x max(h, w) of the target image (PF-PASCAL)
or of the target's object box (SPair-71k), mean over pairs, with each category's mean.

`pckh`: MPII PCKh (official toolkit definition) at 0.5 and 0.1, and the AUC. `pck` reads `preds` [N, K, 2] from
an .npz/.npy/.h5 file and ground truth from an .npz with `points` [N, K, 2], `visible` [N, K] and `norm` [N]
(e.g. torso size for FLIC); it prints PCK per joint at alpha and the curve (`convcorr_eval.pck`). Both print the
run header (`runinfo.header`: config, versions, devices) above their tables and the wall time below; a NaN or
infinite prediction is a miss, counted in a warning line on stderr; a NaN ground-truth point marked visible is
refused (its file, field and index); `--reference` names on stderr each published file it does not find; in the
JSON a score with nothing to average is null. `flic`: a
FLIC pose model (`flic`, or `convcorr train pose --config flic`) on the FLIC test split: PCK per joint group at
0.05/0.1/0.2 of the model's validated read-out, the coarse model and the cascade
(`convcorr_eval.tompson2015.flic_scores`). `mpii`: a pose model trained on MPII: its predictions written back in the
MPII frame (1-based h5 `preds`) and scored by PCKh (`convcorr_eval.tompson2015.mpii`). `pose`: any trained pose model
(any skeleton: COCO-format folders, LSP/LSPET, FLIC, MPII) on `--split` of the dataset `--root`: PCK per joint group
at the skeleton's normaliser (named) of its validated read-out, the cascade, the coarse model and the mean pose,
PCKh where a head segment exists, COCO's OKS AP (pycocotools) for COCO-format data
(`convcorr_eval.tompson2015.pose_scores`). A new protocol is a pair of functions (add its arguments, run it) in
`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Callable

from convcorr_jax.core import cache, io, runinfo
from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_jax.core.config import to_dict
from convcorr_jax.core.errors import InputError, check
from convcorr_eval import registry
from convcorr_eval.experiment import SIZES, ExperimentConfig, Result
from convcorr_eval.pck import pck_files
from convcorr_eval.report import percent, score_about
from convcorr_eval.runner import execute, make_config, path_identity
from convcorr_cli.options import add_backbone_module, add_out, add_set, check_outputs, document, group_examples


def _check_output_paths(outputs: dict[str, str | None], inputs: dict[str, str | None],
                        data_root: str | None = None) -> None:
    """Before any work: each output file given (by flag) writable as a file, none of them an input or another
    output (`options.check_outputs`), none inside the dataset folder `data_root` (read, never written)."""
    given = {flag: p for flag, p in outputs.items() if p}
    check_outputs(given, {name: p for name, p in inputs.items() if p})
    for flag, path in given.items():
        if data_root and Path(path).resolve().is_relative_to(Path(data_root).resolve()):
            raise InputError(path, flag, f"a path outside the dataset folder {data_root} (read, never written)",
                             "a path inside it")


def _write_outputs(json_path: str | None, obj, figure_path: str | None = None,
                   draw: Callable[[str], None] | None = None) -> None:
    """Write the JSON (atomically, numbers to 6 significant digits: `runinfo.rounded`; a NaN or infinite number,
    e.g. the score of a joint never evaluated, as null: strict JSON) and draw the figure, each where a path is
    given, and say so."""
    if json_path:
        io.write_json(json_path, runinfo.rounded(obj, nonfinite_null=True))
        print(f"wrote {json_path}")
    if figure_path and draw is not None:
        draw(figure_path)
        print(f"wrote {figure_path}")


def _pckh_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--preds", nargs="+", default=None, help="prediction file(s) with `preds` (.mat or .h5)")
    a.add_argument("--annot", default=None, help="ground truth: annot/valid.h5 (hourglass layout)")
    a.add_argument("--reference", default=None, metavar="MPII_FOLDER",
                   help="evaluate the published files MPII_FOLDER/reference_preds/* against "
                        "MPII_FOLDER/hg_annot/valid.h5")
    a.add_argument("--json", default=None, help="write {'0.5': {...}, '0.1': {...}} (percent) here")
    a.add_argument("--figure", default=None, help="PNG of the PCKh-total curves")


def _print_header(title: str, config: dict) -> None:
    """The reproducibility header a scoring command prints above its tables (`runinfo.header`: config, versions,
    devices; "seed": null in the config: scoring draws no random numbers)."""
    print(runinfo.header(title, {**config, "seed": None}), flush=True)


RUN_FIELDS = ("config", "versions", "seconds")  # what a scoring command's JSON says of its run, beside the scores


def _scoring_run(config: dict, seconds: float) -> dict:
    """The JSON's record of a scoring command's run, as its header: {"config" ("seed": null: no random numbers),
    "versions" (`runinfo.versions`), "seconds" (wall time)}."""
    return {"config": {**config, "seed": None}, "versions": runinfo.versions(), "seconds": seconds}


def _with_experiment_run(scores: dict, run_dir: Path) -> dict:
    """An experiment alias's JSON: `scores` and the record of its run, from its run folder's metrics.json (also for a
    run kept from an identical earlier one: the versions and wall time that made the numbers): "config" (every
    setting, the seed among them), "versions", and "seconds" where `scores` has none of its own."""
    rec = runinfo.read_run_record(run_dir / "metrics.json")
    return {"seconds": rec["seconds"], **scores, "config": rec["key"]["settings"], "versions": rec["versions"]}


def _pckh_results(args: argparse.Namespace) -> dict[str, dict]:
    """The PCKh results of `--preds` against `--annot`, or of the published files of `--reference` (one warning
    line on stderr per published file absent, refused when none is there)."""
    from convcorr_eval.tompson2015 import pckh

    if args.reference:
        check(not args.preds and not args.annot, None, "--reference",
              "either --reference MPII_FOLDER or --preds FILE... --annot valid.h5, not both",
              "--reference with --preds/--annot")
        check(pckh.has_reference(args.reference), args.reference, "hg_annot/valid.h5", "an MPII folder", "missing")
        _check_output_paths({"--json": args.json, "--figure": args.figure}, {}, args.reference)
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
    _check_output_paths({"--json": args.json, "--figure": args.figure},
                        {**{f"--preds {f}": f for f in args.preds}, "--annot": args.annot})
    return {stem: pckh.evaluate_file(f, args.annot) for stem, f in zip(stems, args.preds)}


def _run_pckh(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import pckh

    with runinfo.timed() as wall:
        results = _pckh_results(args)
    config = {"preds": args.preds, "annot": args.annot, "reference": args.reference, "thresholds": [0.5, 0.1]}
    _print_header("convcorr eval pckh", config)
    for r in results.values():
        if r.get("warning"):
            print(r["warning"], file=sys.stderr)
    for t in ("0.5", "0.1"):
        print(pckh.format_table(results, t))
    for name, r in results.items():
        print(f"{name}: PCKh@0.5 (%) total {r['0.5']['Total']:.1f}, AUC(0..0.5) {r['auc']:.1f}")
    print(f"wall time {wall['seconds']:.1f} s")
    out = pckh.json_tables(next(iter(results.values()))) if len(results) == 1 else {
        n: pckh.json_tables(r) for n, r in results.items()}
    out.update(_scoring_run(config, wall["seconds"]))
    _write_outputs(args.json, out, args.figure, lambda path: pckh.pckh_curve_figure(results, path))
    return 0


def _pck_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--preds", required=True, help=".npz/.npy/.h5 with `preds` [N, K, 2]")
    b.add_argument("--gt", required=True, help=".npz with points [N, K, 2], visible [N, K], norm [N]")
    b.add_argument("--alpha", type=float, default=0.05)
    b.add_argument("--json", default=None, help="write the PCK per joint, mean and curve here")


def _run_pck(args: argparse.Namespace) -> int:
    _check_output_paths({"--json": args.json}, {"--preds": args.preds, "--gt": args.gt})
    with runinfo.timed() as wall:
        r = pck_files(args.preds, args.gt, args.alpha)
    config = {"preds": args.preds, "gt": args.gt, "alpha": args.alpha}
    _print_header("convcorr eval pck", config)
    if r["warning"]:
        print(r["warning"], file=sys.stderr)
    cell = lambda v: f"{v:.1f}" if math.isfinite(v) else "-"  # "-": no visible keypoint to score
    scored = sum(map(math.isfinite, r["per_joint"]))
    print(f"PCK@{args.alpha:g} (%) per joint: " + " ".join(cell(v) for v in r["per_joint"]))
    print(f"PCK@{args.alpha:g} (%) mean of the {scored} joints scored: {cell(r['mean'])}; pooled over every visible "
          f"keypoint: {cell(r['pooled'])}")
    print("curve (pooled): " + " ".join(f"{a}:{cell(c)}" for a, c in r["curve"].items()))
    print(f"wall time {wall['seconds']:.1f} s")
    _write_outputs(args.json, {**{k: r[k] for k in ("alpha", "per_joint", "mean", "curve", "nonfinite")},
                               "about": score_about("the ground truth's norm (FLIC: torso)", args.alpha, "percent"),
                               **_scoring_run(config, wall["seconds"])})
    return 0


def _run_arguments(a: argparse.ArgumentParser) -> None:
    """The run folder options of the experiment aliases (as `convcorr run`'s --out, --set name=, --force)."""
    add_out(a, "output root: the run folder is OUT/<name>", default="runs", metavar="DIR", old=("--out-dir",))
    a.add_argument("--name", default=None, help="run folder name (default: the experiment's readable name for "
                   "these inputs and a digest of every setting)")
    a.add_argument("--force", action="store_true", help="run again even if an identical finished run exists, "
                   "and replace a finished run with other settings")
    a.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")


def run_name(readable: str, cfg: ExperimentConfig) -> str:
    """The default run folder name of an alias: `readable` (the experiment's name for its inputs), `_`, and the
    first 6 hex digits of `cache.digest` of every setting of `cfg` but its name (with the identity of a scored model,
    `trained`, set by the experiment's `identify`; data_root by where it leads, `runner.path_identity`). Different
    settings or models get different folders; the same settings the same one (a finished run is found again and
    kept), also for one dataset folder given relatively and absolutely."""
    settings = {k: v for k, v in to_dict(cfg).items() if k != "name"}
    if cfg.data_root:
        settings["data_root"] = path_identity(cfg.data_root)
    return f"{readable}_{cache.digest(settings, 6)}"


def _run(command: str, exp_id: str, cfg: ExperimentConfig, name: str, args: argparse.Namespace,
         outputs: dict[str, str | None] | None = None) -> tuple[Result | None, Path]:
    """`convcorr run exp_id` with `cfg` named `--name` (default `run_name(name, cfg)`, after the experiment's
    `identify`: the scored model's identity is part of the digest) under `--out`: (result or None when it failed, run
    folder). The output files in `outputs` (by flag) are checked before the run (`_check_output_paths`; `--out`
    by the runner)."""
    _check_output_paths(outputs, {}, cfg.data_root)
    identify = getattr(registry.load(exp_id), "identify", None)
    cfg = identify(cfg) if identify is not None else cfg
    cfg = dataclasses.replace(cfg, name=args.name or run_name(name, cfg))
    result = execute(f"eval {args.metric}", exp_id, cfg, args.out, args.force, not args.no_progress)
    return result, Path(args.out) / cfg.name


def _copy(src: Path, dst: str | None) -> None:
    """Copy a file of the run folder to `dst` (atomically) where one is given, and say so."""
    if dst:
        io.write_bytes(dst, src.read_bytes())
        print(f"wrote {dst}")


MODEL_HELP = ("the model scored: a shipped model's name (flic, flic_256, person), a model folder (model.json: an "
              "export) or a `convcorr train pose` run folder; read only (--run is the same flag)")


def _add_model(a: argparse.ArgumentParser, what: str = "") -> None:
    a.add_argument("--model", "--run", dest="model", required=True, metavar="MODEL", help=MODEL_HELP + what)


def _flic_arguments(c: argparse.ArgumentParser) -> None:
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
    c.add_argument("--json", default=None, help="write the scores (fractions 0..1) here")
    c.add_argument("--figure", default=None, help="PNG of Figure 15 (wrist + elbow PCK against distance)")
    add_set(c, "any other field of tompson2015.flic's Config (test_flip, test_scales, test_merge, protocol, "
               "image_size, second_pass, spatial_mode, spatial_kernel, ...)")
    _run_arguments(c)


def _run_flic(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import flic_scores

    flags = [f"model={args.model}", f"split={args.split}", f"refine={args.refine}", f"timing={args.timing}"]
    flags += [f"spatial={args.spatial}"] if args.spatial is not None else []
    cfg = make_config("tompson2015.flic", sets=[*flags, *args.set], data_root=args.root)  # --set last: it wins
    result, run_dir = _run("flic", "tompson2015.flic", cfg, flic_scores.run_name(cfg), args,
                           {"--json": args.json, "--figure": args.figure})
    if result is None:
        return 1
    res = result.metrics
    print(flic_scores.markdown(res))
    print(flic_scores.summary_line(res))
    _write_outputs(args.json, _with_experiment_run(res, run_dir))
    _copy(run_dir / "figures" / flic_scores.FIGURE, args.figure)
    return 0


def _mpii_arguments(d: argparse.ArgumentParser) -> None:
    _add_model(d, "; trained on MPII (`convcorr train pose --set data=mpii`), scored with its stored read-out "
                  "(--set readout=NAME another)")
    d.add_argument("--annot", required=True, help="annotation h5 (hourglass layout, e.g. annot/valid.h5)")
    d.add_argument("--images", default=None, help="image folder (default: images/ beside the annot folder)")
    d.add_argument("--h5", default=None, metavar="FILE",
                   help="also copy the predictions (h5 `preds`, 1-based MPII frame) here (the run folder holds "
                        "them as preds.h5)")
    d.add_argument("--json", default=None, help="write the PCKh tables (percent) here")
    add_set(d, "any other field of tompson2015.mpii's Config")
    _run_arguments(d)


def _run_mpii(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import mpii, pckh

    flags = [f"model={args.model}", f"annot={args.annot}"] + ([f"images={args.images}"] if args.images else [])
    cfg = make_config("tompson2015.mpii", sets=[*flags, *args.set])  # --set last: it wins
    if Path(args.out).suffix.lower() in (".h5", ".hdf5"):
        raise InputError(None, "--out", "the output root folder (the prediction file is --h5 FILE)", args.out)
    result, run_dir = _run("mpii", "tompson2015.mpii", cfg, mpii.run_name(cfg), args,
                           {"--h5": args.h5, "--json": args.json})
    if result is None:
        return 1
    _copy(run_dir / mpii.PREDS, args.h5)
    r = result.metrics
    if r.get("warning"):  # NaN or inf predictions, scored as misses
        print(r["warning"], file=sys.stderr)
    for t in ("0.5", "0.1"):
        print(pckh.format_table({Path(args.h5 or mpii.PREDS).stem: r}, t))
    _write_outputs(args.json, _with_experiment_run(pckh.json_tables(r), run_dir))
    return 0


def _pose_arguments(a: argparse.ArgumentParser) -> None:
    _add_model(a, "; scored with its stored read-out (the validated row) beside the cascade, coarse model and "
                  "mean pose")
    a.add_argument("--root", required=True, help="the dataset folder of the model's data kind (e.g. a COCO-format "
                   "folder with annotations/ and images/)")
    a.add_argument("--split", default="val", choices=("val", "test", "train"), help="the split scored")
    a.add_argument("--flip", action="store_true", help="test-time flip (each crop averaged with its mirror)")
    a.add_argument("--json", default=None, help="write the scores here")


def _run_pose(args: argparse.Namespace) -> int:
    from convcorr_eval.tompson2015 import pose_scores

    config = {"model": args.model, "root": args.root, "split": args.split, "flip": args.flip}
    _print_header("convcorr eval pose", config)
    res = pose_scores.score_run(args.model, args.root, args.split, flip=args.flip)
    print(pose_scores.markdown(res))
    print(f"wall time {res['seconds']:.1f} s")
    _write_outputs(args.json, {**res, **_scoring_run(config, res["seconds"])})
    return 0


def _pf_willow_arguments(a: argparse.ArgumentParser,
                         root_help: str = "the folder holding the PF-WILLOW sub-class folders",
                         unit: str = "sub-class") -> None:
    """The options of `pf-willow`, and of `pf-pascal` / `spair` with `unit` "category" (what `--classes` names
    and `--pairs` counts in)."""
    from convcorr_eval.long2014.pf_willow import METHODS

    a.add_argument("--root", required=True, help=root_help)
    a.add_argument("--method", default=None, choices=METHODS,
                   help="ot_rhm (SCOT: optimal transport + Hough matching; the default, validated), rhm (Hyperpixel "
                        "Flow's Hough matching), ot, cos (cosine nearest neighbour), or bp (Long et al.'s BP flow)")
    a.add_argument("--backbone", default=None, choices=BACKBONES, help="default: the validated backbone (vgg16)")
    a.add_argument("--taps", nargs="+", default=None, metavar="TAP",
                   help="taps or roles concatenated as hyperpixels, space- or comma-separated "
                        "(default: the backbone's validated taps)")
    a.add_argument("--size", choices=SIZES, default="default",
                   help=f"the experiment's size, as in `convcorr run` (tiny: 2 pairs per {unit}, 160 px frames)")
    a.add_argument("--image-size", type=int, default=None, metavar="PX",
                   help="frame side in pixels both images are resized to (default: 224; --size tiny: 160)")
    a.add_argument("--features", default="cnn", metavar="{cnn,sift,none,TAP}",
                   help="cnn (hyperpixels of --taps), sift (dense SIFT on the same grid), none (zero flow), or "
                        "one tap or role (conv4: the same as --taps conv4)")
    a.add_argument("--weights", default=None, help="weight file or 'random' (default: the pretrained weights)")
    a.add_argument("--classes", default=None, metavar="A,B",
                   help=f"comma-separated {unit} names (default: every one under --root)")
    a.add_argument("--pairs", type=int, default=None, metavar="N",
                   help=f"the first N {'ordered ' * (unit == 'sub-class')}pairs of each {unit} (default: all"
                        f"{' 90' * (unit == 'sub-class')}; --size tiny: 2)")
    add_set(a, "any other field of long2014.pf_willow's Config or of its transfer settings (transfer.grid, "
               "transfer.normalise, transfer.beta, transfer.radius, ...)")
    add_backbone_module(a)
    a.add_argument("--json", default=None,
                   help=f"write {{'pck': {{alpha: {{{unit}: v, 'mean': v}}}}, 'pck_about', 'pairs', 'seconds'}} "
                        f"(fractions 0..1{'; the console shows percent' * (unit == 'sub-class')})")
    _run_arguments(a)


def _transfer_sets(args: argparse.Namespace) -> list[str]:
    """The `--set field=value` list of the transfer options of `pf-willow`, `pf-pascal` and `spair`. Features
    sift and none run BP flow (SIFT flow, zero flow) unless `--method` names another method (the config's
    `transfer.method` None: `PointTransferConfig.resolved_method`)."""
    from convcorr_eval.long2014.pf_willow import FEATURES

    if args.features not in FEATURES:  # a tap or role: hyperpixels of that one tap
        args.taps, args.features = [*(args.taps or []), args.features], "cnn"
    sets = [f"transfer.features={args.features}"]
    if args.method:
        sets.append(f"transfer.method={args.method}")
    if args.taps:
        taps = [t.strip() for item in args.taps for t in item.split(",") if t.strip()]
        sets.append("transfer.taps=" + ",".join(taps))
    if args.image_size is not None:
        sets.append(f"transfer.image_size={args.image_size}")
    if args.weights is not None:
        sets.append(f"weights={args.weights}")
    if args.classes is not None:
        sets.append("classes=" + ",".join(c.strip() for c in args.classes.split(",")))
    if args.pairs is not None:
        sets.append(f"pairs_per_class={args.pairs}")
    return sets


def _run_pf_willow(args: argparse.Namespace) -> int:
    from convcorr_eval.long2014 import pf_willow

    cfg = make_config("long2014.pf_willow", args.size, [*_transfer_sets(args), *args.set], backbone=args.backbone,
                      data_root=args.root)
    result, run_dir = _run("pf-willow", "long2014.pf_willow", cfg, pf_willow.run_name(cfg), args,
                           {"--json": args.json})
    if result is None:
        return 1
    res = result.metrics
    subs = [k for k in res["pck"]["0.1"] if k != "mean"]
    print(f"PF-WILLOW keypoint transfer ({pf_willow.setting_text(cfg)}), PCK (%) at alpha x the "
          f"{pf_willow.PCK_NORMALISER}, {res['pairs']} pairs, {res['seconds']:.0f} s; "
          f"{pf_willow.ran_on_subclasses(cfg, subs)}")
    print("| alpha | " + " | ".join(subs) + f" | mean of {len(subs)} |\n|" + "---|" * (len(subs) + 2))
    for alpha, row in res["pck"].items():
        print(f"| {alpha} | " + " | ".join(percent(row[k]) for k in subs) + f" | {percent(row['mean'])} |")
    _write_outputs(args.json, _with_experiment_run(res, run_dir))
    return 0


def _pf_benchmark_arguments(data: str) -> Callable[[argparse.ArgumentParser], None]:
    """The options of `pf-pascal` / `spair`: pf-willow's (`--classes` / `--pairs`: categories and pairs per
    category) and `--split`."""
    from convcorr_eval.long2014.pf_benchmarks import TITLES
    from convcorr_jax.data.pf_pascal import SPLITS

    def add(a: argparse.ArgumentParser) -> None:
        _pf_willow_arguments(a, f"the {TITLES[data]} folder (layout: docs/data.md)", unit="category")
        a.add_argument("--split", default="test", choices=SPLITS, help="the release's split scored")
    return add


def _run_pf_benchmark(data: str) -> Callable[[argparse.Namespace], int]:
    """`pf-pascal` / `spair`: the experiment long2014.<data> on `--split`; prints PCK per category and the mean
    over pairs."""
    def run_it(args: argparse.Namespace) -> int:
        from convcorr_eval.long2014 import pf_benchmarks
        from convcorr_eval.long2014.pf_willow import setting_text

        exp_id = f"long2014.{data}"
        cfg = make_config(exp_id, args.size, [*_transfer_sets(args), f"split={args.split}", *args.set],
                          backbone=args.backbone, data_root=args.root)
        pf_benchmarks.load_pairs(cfg)  # a missing or malformed pair list is refused before the run
        result, run_dir = _run(args.metric, exp_id, cfg, pf_benchmarks.run_name(cfg), args,
                               {"--json": args.json})
        if result is None:
            return 1
        res = result.metrics
        print(f"{pf_benchmarks.TITLES[data]} {cfg.split} keypoint transfer ({setting_text(cfg)}), PCK (fraction) at "
              f"{pf_benchmarks.THRESHOLDS[pf_benchmarks.NORMS[data]]}, mean over {res['pairs']} pairs, "
              f"{res['seconds']:.0f} s")
        print(pf_benchmarks.table(res["pck"]))
        _write_outputs(args.json, _with_experiment_run(res, run_dir))
        return 0
    return run_it


# subcommand -> (one-line help, add its arguments, run it)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "pckh": ("PCKh (MPII toolkit definition) of prediction files against annot/valid.h5", _pckh_arguments, _run_pckh),
    "pck": ("PCK normalised per instance (FLIC: torso size)", _pck_arguments, _run_pck),
    "mpii": ("a trained MPII pose model: predictions as an MPII h5, scored by PCKh", _mpii_arguments, _run_mpii),
    "flic": ("a pose model on FLIC: PCK per joint group (torso), its validated read-out, coarse and cascade",
             _flic_arguments, _run_flic),
    "pose": ("any trained pose model on any skeleton: PCK per joint group at the skeleton's normaliser, PCKh, COCO "
             "OKS AP", _pose_arguments, _run_pose),
    "pf-willow": ("keypoint transfer on PF-WILLOW (Proposal Flow protocol), by default SCOT's optimal transport + "
                  "Hough matching on VGG-16 hyperpixels", _pf_willow_arguments, _run_pf_willow),
    "pf-pascal": ("keypoint transfer on PF-PASCAL (HPF/SCOT split, PCK at alpha x the target image's max side), "
                  "PF-WILLOW's settings", _pf_benchmark_arguments("pf_pascal"), _run_pf_benchmark("pf_pascal")),
    "spair": ("keypoint transfer on SPair-71k (its split, PCK at alpha x the target box's max side), PF-WILLOW's "
              "settings", _pf_benchmark_arguments("spair"), _run_pf_benchmark("spair")),
}


_RUN_FOLDER = ("Writes the run folder OUT/NAME (--out, default runs; NAME: --name, or the experiment's readable name "
               "and a digest of every setting): config.json, metrics.json, report.md/html, figures/; an identical "
               "finished run is kept (--force runs it again). Then prints its tables")
# subcommand -> (its --help paragraph: what it reads, what it writes and where; example command lines)
HELP: dict[str, tuple[str, ...]] = {
    "pckh": ("Read MPII prediction files (`preds`, .mat or .h5) and the ground truth annot/valid.h5, or with "
             "--reference the published files in MPII_FOLDER/reference_preds/, and print PCKh at 0.5 and 0.1 per "
             "joint group and the AUC (the official toolkit's definition). Writes only --json (percent) and "
             "--figure (PNG of the PCKh-total curves).",
             "convcorr eval pckh --preds preds.h5 --annot annot/valid.h5 --json pckh.json --figure pckh.png",
             "convcorr eval pckh --reference MPII_FOLDER"),
    "pck": ("Read predictions `preds` [N, K, 2] (.npz, .npy or .h5) and ground truth (.npz: points [N, K, 2], "
            "visible [N, K], norm [N], e.g. FLIC's torso size) and print PCK per joint at --alpha and the curve. "
            "Writes only --json.",
            "convcorr eval pck --preds P.npz --gt G.npz --alpha 0.05 --json pck.json",
            "convcorr eval pck --preds P.npz --gt G.npz --json - | jq .mean"),
    "mpii": ("Run a pose model trained on MPII (--model) on the people of --annot (images from --images), write its "
             "predictions in the MPII frame (1-based h5 `preds`, preds.h5 in the run folder) and score them by "
             f"PCKh. {_RUN_FOLDER}, and copies the JSON to --json and the predictions to --h5 where given.",
             "convcorr eval mpii --model runs/pose_mpii --annot annot/valid.h5 --h5 preds.h5 --json mpii.json"),
    "flic": ("Score a pose model (--model: a shipped model's name, a model folder or a training run folder; read "
             "only) on the FLIC folder --root: PCK per joint group at 0.05, 0.1 and 0.2 of the torso size for its "
             f"stored read-out, the coarse model and the cascade. {_RUN_FOLDER}, and copies the JSON to --json and "
             "Figure 15 to --figure where given.",
             "convcorr eval flic --model flic --root FLIC --split val",
             "convcorr eval flic --model runs/pose_flic --root FLIC --json flic.json --figure fig15.png"),
    "pose": ("Score any trained pose model (--model, read only) on --split of the dataset --root (COCO-format "
             "folders, LSP/LSPET, FLIC, MPII): PCK per joint group at the skeleton's normaliser for its stored "
             "read-out, the cascade, the coarse model and the mean pose, PCKh where a head segment exists, COCO's OKS "
             "AP on COCO-format data. Prints the tables; writes only --json.",
             "convcorr eval pose --model runs/pose_coco --root COCO --split val --json pose.json",
             "convcorr eval pose --model person --root LSP --split test --flip"),
    "pf-willow": ("Transfer the keypoints of each PF-WILLOW pair under --root from one image to the other (default: "
                  "SCOT's optimal transport + Hough matching on VGG-16 hyperpixels; --method, --backbone, --taps, "
                  "--features change it) and score PCK per sub-class (Proposal Flow protocol). "
                  f"{_RUN_FOLDER}, and copies the JSON (fractions) to --json where given.",
                  "convcorr eval pf-willow --root PF-dataset-WILLOW --json willow.json",
                  "convcorr eval pf-willow --root PF-dataset-WILLOW --size tiny --features sift",
                  "convcorr eval pf-willow --root PF-dataset-WILLOW --backbone torchvision_alexnet --method bp "
                  "--taps conv4 --set transfer.grid=conv4"),
    "pf-pascal": ("The keypoint transfer of pf-willow, with its options, on --split of the PF-PASCAL folder --root "
                  "(HPF's and SCOT's split): PCK at alpha x the target image's max side, mean over pairs and per "
                  f"category. {_RUN_FOLDER}, and copies the JSON to --json where given.",
                  "convcorr eval pf-pascal --root PF-PASCAL --split test --json pf_pascal.json",
                  "convcorr eval pf-pascal --root PF-PASCAL --size tiny --pairs 2"),
    "spair": ("The keypoint transfer of pf-willow, with its options, on --split of the SPair-71k folder --root: PCK "
              "at alpha x the target's object box max side, mean over pairs and per category. "
              f"{_RUN_FOLDER}, and copies the JSON to --json where given.",
              "convcorr eval spair --root SPair-71k --split test --json spair.json",
              "convcorr eval spair --root SPair-71k --classes cat,dog --pairs 10"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="metric", required=True)
    for name, (help_, add, _) in SUBCOMMANDS.items():
        add(document(sub.add_parser(name, help=help_), *HELP[name]))
    group_examples(p)


def run(args: argparse.Namespace) -> int:
    try:
        return int(SUBCOMMANDS[args.metric][2](args) or 0)
    except InputError as e:
        print(f"convcorr eval {args.metric}: error: {e}", file=sys.stderr)
        return 2

