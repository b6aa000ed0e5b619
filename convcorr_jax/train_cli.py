"""`convcorr train`: train models.

  convcorr train pose --config default [--set steps=600,200,200 --set model.pool=4 ...] [--name NAME] [--out runs]

Progress bar with loss and steps/s; PCK of coarse and cascade after each stage; writes runs/<name>/ with
config.json, metrics.json and checkpoints/ (rerun the same command to resume a killed run).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="model", required=True)
    a = sub.add_parser("pose", help="Tompson et al. coarse/fine heat-map cascade")
    a.add_argument("--config", default="default", help="default, tiny, standard, no_dropout, pool4, pool16, full, flic")
    a.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    a.add_argument("--name", default=None)
    a.add_argument("--out", default=None)
    a.add_argument("--devices", type=int, default=None, help="number of local devices (default: all)")
    a.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from convcorr_jax import parallel, runinfo
    from convcorr_jax.pose import configs, train

    parallel.initialize_distributed()
    cfg = configs.override(configs.get_config(args.config), args.set)
    repl = {k: v for k, v in (("name", args.name), ("out", args.out), ("num_devices", args.devices)) if v is not None}
    cfg = dataclasses.replace(cfg, **repl)
    print(runinfo.header(f"train pose ({args.config})", cfg, cfg.seed), flush=True)
    with runinfo.timed():
        try:
            res = train.train(cfg, progress=not args.no_progress)
        except train.TrainingDiverged as e:
            print(f"convcorr train pose: {e}", file=sys.stderr)
            return 3
    if res.evals:
        e = res.evals[-1]
        print(f"final PCK@0.05: coarse {e['coarse_pck@0.05']:.1f}  cascade {e['cascade_pck@0.05']:.1f}  "
              f"-> {res.run_dir}/metrics.json")
    return 0
