"""`convcorr run EXPERIMENT`: one experiment, one config, one run folder (`convcorr_eval.runner`).

    convcorr run long2014.table2 --size tiny --backbone caffenet --set weights=random
    convcorr run long2014.table3 --set data=flic --data-root DIR
    convcorr run tompson2015.flic --data-root FLIC --set model=flic --set split=val  # score a pose model
    convcorr run --list        # every experiment: the first paragraph of its docstring and the datasets it accepts

writes `runs/<name>/config.json`, `metrics.json`, `report.md`, `report.html` and `figures/`, all at once when the
run finishes; `<name>` is the experiment id unless `--set name=NEW` (one folder per experiment, so a run with other
`--set` values meets the finished one). A finished run whose key (experiment, config, code version, fingerprint of
the files under data_root) equals this one's is kept, not run again (`--force` re-runs it); one with the same
settings but other code or data is run again; a finished run with other settings is not overwritten: the command
refuses, naming `--set name=NEW` (another folder) and `--force` (replace it). `convcorr_eval.runner.execute` is the
same for `convcorr eval flic`, `mpii` and `pf-willow` (whose default names hold a digest of their settings instead).
The experiments that score a pose model (`tompson2015.flic`, `tompson2015.mpii`, `tompson2015.tables`) take it as
`--set model=M`: a shipped model's name, a model folder or a training run folder (`run_dir` is its older name); its
identity (model.json's sha256) is part of the run key, and scoring never writes into it.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

from convcorr_cli.options import add_set, document
from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_eval import registry
from convcorr_eval.experiment import SIZES
from convcorr_eval.runner import execute, experiments, make_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Run one experiment (an id of --list) with its config at --size, changed by --set, --backbone and "
             "--data-root, into the run folder OUT/<name>/ (<name>: the experiment id, or --set name=NEW): "
             "config.json, metrics.json, report.md, report.html and figures/, written when the run finishes. A "
             "finished run with the same key (experiment, config, code version, the files under data_root) is kept "
             "(--force runs it again); one with other settings is refused, naming --set name=NEW and --force.",
             "convcorr run long2014.table2 --size tiny --set transfer.beta=0.01",
             "convcorr run long2014.table3 --set data=flic --data-root FLIC --set cv=true",
             "convcorr run --list  # every experiment: what it does, the datasets it accepts")
    p.add_argument("experiment", nargs="?", help="experiment id (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--size", choices=SIZES, default="default",
                   help="the experiment's scale: tiny (seconds, plumbing), default (the demo), full (the paper's)")
    add_set(p, "override a config field (nested: transfer.beta=0.01; tuples: steps=300,450,50)",
            ("seed=1", "name=seed1"))  # fields every experiment's config has
    p.add_argument("--backbone", default=None, help=f"one of {', '.join(BACKBONES)} (default: the experiment's: "
                   "torchvision_alexnet, the papers' network, for long2014's tables 2-4 and locality; vgg16 for the "
                   "PF-WILLOW, PF-PASCAL and SPair runs; mobilenet_v2 for long2014.table1 and .data and "
                   "razavian2015.*; tompson2015.* train their own network)")
    p.add_argument("--data-root", "--root", dest="data_root", default=None,
                   help="dataset folder (with --set data=NAME); --root, as the other commands spell it, is the same")
    p.add_argument("--out", default="runs", help="output root (the run folder is OUT/<name>)")
    p.add_argument("--force", action="store_true", help="run again even if an identical finished run exists, and "
                   "replace a finished run with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")


def list_text(width: int = 100) -> str:
    """`convcorr run --list`: each experiment id, then its description (the first paragraph of its docstring) and
    the datasets it accepts (`registry.ACCEPTED_DATA`), wrapped to `width` columns beside the ids."""
    docs = experiments()
    column = max(map(len, docs)) + 2
    wrap = textwrap.TextWrapper(width=max(width, column + 40), subsequent_indent=" " * column,
                                break_long_words=False, break_on_hyphens=False)
    lines = []
    for exp_id, doc in docs.items():
        lines.append(wrap.fill(f"{exp_id:{column}s}{doc}"))
        if exp_id in registry.ACCEPTED_DATA:
            data = ", ".join(registry.ACCEPTED_DATA[exp_id]) or "none (reads no dataset)"
            lines.append(wrap.fill(f"{'':{column}s}data: {data}"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list or not args.experiment:
        print(list_text(shutil.get_terminal_size((100, 24)).columns))
        return 0
    cfg = make_config(args.experiment, args.size, args.set, args.backbone, args.data_root)
    result = execute(f"run {args.experiment}", args.experiment, cfg, args.out, args.force, not args.no_progress)
    return 0 if result is not None else 1
