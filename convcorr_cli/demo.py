"""`convcorr demo`: the experiments of the three papers in order, on the embedded default, in one report
(`convcorr_eval.demo`).

    convcorr demo [--only table1,table2] [--size tiny|default|full] [--out runs/demo] [--backbone B] [--weights W]
                  [--no-progress]

`--out` is absent, empty, or a demo's folder (its report, metrics.json, stage folders and the runner's hidden files
beside them: `DEMO_FOLDER`); a folder holding anything else is refused in one line naming it, before any stage runs.
"""

from __future__ import annotations

import argparse

from convcorr_cli.options import document
from convcorr_jax.core import io
from convcorr_jax.backbones.registry import NAMES
from convcorr_jax.core.errors import InputError
from convcorr_eval.demo import STAGES, run_demo
from convcorr_eval.experiment import SIZES, check_weights

# what the demo writes into --out: its report, its metrics and one run folder per stage (each checked by the runner),
# with the runner's lock and partial folders beside them
DEMO_FOLDER = io.FolderKind("a demo folder", ("report.md", "report.html", "metrics.json", *STAGES, ".*.lock",
                                             ".*.partial", ".*.seeding", ".*.old-*"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Run the experiments of the three papers in order (stages: " + " ".join(STAGES) + ") on the "
             "embedded default: synthetic data written in the real dataset formats, the real pretrained weights. "
             "Each stage is a run folder OUT/<stage>/ (config.json, metrics.json, report.md, figures/); the demo's "
             "report.md, report.html and metrics.json go to OUT. A finished stage with the same key is kept "
             "(--force runs it again); a stage that fails is reported, the others go on, and the exit code is 1.",
             "convcorr demo --only table1,table2", "convcorr demo --size tiny --no-progress",
             "convcorr demo --backbone vgg16 --out runs/demo_vgg16")
    p.add_argument("--only", default=None, help="comma-separated stage names, a repeated one run once (default: "
                   "all): " + ", ".join(STAGES))
    p.add_argument("--size", choices=SIZES, default="default",
                   help="every stage's scale: tiny (seconds, plumbing), default, full (the paper's)")
    p.add_argument("--full", action="store_const", const="full", dest="size",
                   help="paper-scale settings: the same as --size full")
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.add_argument("--seed", type=int, default=0, help="seed of every stage")
    p.add_argument("--backbone", default=None, help="backbone of every stage (default: each config's: "
                   "torchvision_alexnet, the papers' network, for Long et al.'s locality and tables 2-4, "
                   "mobilenet_v2 otherwise)")
    p.add_argument("--weights", default=None, help="weight file, or 'random' (default: the real pretrained weights)")
    p.add_argument("--force", action="store_true", help="re-run stages whose identical result is in the run folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")


def run(args: argparse.Namespace) -> int:
    only = list(dict.fromkeys(s.strip() for s in (args.only or "").split(",") if s.strip()))  # once each, in order
    unknown = sorted(set(only) - set(STAGES))
    if unknown:
        raise InputError(None, "--only", f"stage names from {list(STAGES)}", unknown)
    if args.only is not None and not only:  # `--only ,` or an empty variable: not the whole 10-minute demo
        raise InputError(None, "--only", f"at least one stage name from {list(STAGES)}", "none")
    if args.backbone is not None and args.backbone not in NAMES:
        raise InputError(None, "--backbone", f"one of {list(NAMES)}", args.backbone)
    if args.seed < 0:  # the flags every stage shares: refused once, before any stage runs (not as 8 failures)
        raise InputError(None, "--seed", "an integer >= 0", args.seed)
    check_weights(args.weights, None, "--weights")
    io.check_writable(args.out, "--out", kind="folder")
    io.check_replaceable(args.out, DEMO_FOLDER, "--out")  # written into, never among someone's files
    failed = run_demo(only or list(STAGES), args.size, args.out, args.seed, args.backbone, args.weights, args.force,
                      progress=not args.no_progress)
    return 1 if failed else 0
