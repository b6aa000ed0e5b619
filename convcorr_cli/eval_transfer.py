"""`convcorr eval pf-willow`, `convcorr eval pf-pascal` and `convcorr eval spair`: keypoint transfer between the
images of each pair of a benchmark, scored by PCK, each run as an experiment of `convcorr run` (`eval_runs`): their
options, the `--set` list they make of them, and the tables they print.
"""

from __future__ import annotations

import argparse
from typing import Callable, cast

from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_eval.experiment import SIZES
from convcorr_eval.runner import make_config
from convcorr_cli.eval_output import write_outputs
from convcorr_cli.eval_runs import run_alias, run_arguments, with_experiment_run
from convcorr_cli.options import add_backbone_module, add_set


def pf_willow_arguments(a: argparse.ArgumentParser,
                        root_help: str = "the folder holding the PF-WILLOW sub-class folders",
                        unit: str = "sub-class") -> None:
    """The options of `pf-willow`, and of `pf-pascal` / `spair` with `unit` "category" (what `--classes` names
    and `--pairs` counts in)."""
    from convcorr_jax.correspondence.point_config import METHODS

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
    config = ("long2014.pf_willow's Config" if unit == "sub-class"
              else "the experiment's Config (long2014.pf_pascal / long2014.spair)")
    add_set(a, f"any other field of {config} or of its transfer settings (transfer.grid, "
               "transfer.normalise, transfer.beta, transfer.radius, ...)", ("transfer.beta=0.01", "transfer.grid=32"))
    add_backbone_module(a)
    a.add_argument("--json", default=None,
                   help=f"write {{'pck': {{alpha: {{{unit}: v, 'mean': v}}}}, 'pck_about', 'pairs', 'seconds'}} "
                        f"(fractions 0..1{'; the console shows percent' * (unit == 'sub-class')})")
    run_arguments(a)


def _transfer_sets(args: argparse.Namespace) -> list[str]:
    """The `--set field=value` list of the transfer options of `pf-willow`, `pf-pascal` and `spair`. Features
    sift and none run BP flow (SIFT flow, zero flow) unless `--method` names another method (the config's
    `transfer.method` None: `PointTransferConfig.resolved_method`)."""
    from convcorr_jax.correspondence.point_config import FEATURES

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


def score_pf_willow(args: argparse.Namespace) -> int:
    from convcorr_eval.long2014 import pf_willow
    from convcorr_eval.report import percent

    cfg = cast(pf_willow.Config, make_config("long2014.pf_willow", args.size, [*_transfer_sets(args), *args.set],
                                             backbone=args.backbone, data_root=args.root))
    result, run_dir = run_alias("pf-willow", "long2014.pf_willow", cfg, pf_willow.run_name(cfg), args,
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
    write_outputs(args.json, with_experiment_run(res, run_dir))
    return 0


def pf_benchmark_arguments(data: str) -> Callable[[argparse.ArgumentParser], None]:
    """The options of `pf-pascal` / `spair`: pf-willow's (`--classes` / `--pairs`: categories and pairs per
    category) and `--split`."""
    from convcorr_jax.data.keypoint_pairs import TITLES
    from convcorr_jax.data.pf_pascal import SPLITS

    def add(a: argparse.ArgumentParser) -> None:
        pf_willow_arguments(a, f"the {TITLES[data]} folder (layout: docs/data.md)", unit="category")
        a.add_argument("--split", default="test", choices=SPLITS, help="the release's split scored")
    return add


def score_pf_benchmark(data: str) -> Callable[[argparse.Namespace], int]:
    """`pf-pascal` / `spair`: the experiment long2014.<data> on `--split`; prints PCK per category and the mean
    over pairs."""
    def run_it(args: argparse.Namespace) -> int:
        from convcorr_eval.long2014 import pf_benchmarks
        from convcorr_eval.long2014.pf_willow import setting_text

        exp_id = f"long2014.{data}"
        cfg = cast(pf_benchmarks.Config,
                   make_config(exp_id, args.size, [*_transfer_sets(args), f"split={args.split}", *args.set],
                               backbone=args.backbone, data_root=args.root))
        pf_benchmarks.load_pairs(cfg)  # a missing or malformed pair list is refused before the run
        result, run_dir = run_alias(args.metric, exp_id, cfg, pf_benchmarks.run_name(cfg), args,
                                    {"--json": args.json})
        if result is None:
            return 1
        res = result.metrics
        print(f"{pf_benchmarks.TITLES[data]} {cfg.split} keypoint transfer ({setting_text(cfg)}), PCK (fraction) at "
              f"{pf_benchmarks.THRESHOLDS[pf_benchmarks.NORMS[data]]}, mean over {res['pairs']} pairs, "
              f"{res['seconds']:.0f} s")
        print(pf_benchmarks.table(res["pck"]))
        write_outputs(args.json, with_experiment_run(res, run_dir))
        return 0
    return run_it
