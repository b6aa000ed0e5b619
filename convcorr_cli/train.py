"""`convcorr train`: train models.

  convcorr train pose --config default [--out runs] [--set steps=600,200,200 --set model.pool=4 --set name=NAME
                                        --set num_devices=2 ...] [--logdir DIR|off] [--no-progress]

Progress bar with loss and steps/s; PCK of coarse and cascade after each stage; writes <out>/<name>/ with
config.json, metrics.json (the runner's schema, the evaluations under "metrics" -> "evals") and checkpoints/
(rerun the same command to resume a killed run; it prints "resuming NAME from step N of M"), and TensorBoard event
files (loss per stage, learning rate, validation PCK) in `--logdir` (default <out>/<name>/tb; `off`: none): watch
with `tensorboard --logdir DIR`. Ctrl-C (SIGINT) or SIGTERM stops it after the current step with a checkpoint of
that step, exit code 130 (`convcorr_jax.interrupt`).
A config out of range (e.g. `--set batch_size=0`) is one error line naming the field, exit code 2. The named
configs: `convcorr_eval.tompson2015.configs.CONFIGS`; their runtimes and measured numbers: bench/RESULTS_pose.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from convcorr_cli.options import add_out, add_set
from convcorr_jax import parallel, runinfo
from convcorr_jax.config import override
from convcorr_jax.pose import joints, train
from convcorr_jax.pose.data import headline
from convcorr_eval.tompson2015.configs import CONFIGS, get_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="model", required=True)
    a = sub.add_parser("pose", help="Tompson et al. coarse/fine heat-map cascade")
    a.add_argument("--config", default="default", choices=list(CONFIGS), metavar="NAME",
                   help=", ".join(CONFIGS))
    add_out(a, "output root: the run folder is OUT/<name> (default: the config's out, runs)", metavar="DIR")
    add_set(a, "override a TrainConfig field (name, num_devices, steps, model.pool, ...)")
    a.add_argument("--logdir", default=None, metavar="DIR",
                   help="TensorBoard event files here (default: <run folder>/tb; 'off': none)")
    a.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")


def _group_table(cfg, ev: dict) -> str:
    """The headline score (PCK@0.05, MPII PCKh@0.5) per joint group (mean of the group's joints) of the coarse
    model and the cascade at the last evaluation (FLIC: the validation movies; synthetic/MPII: the test people)."""
    groups = joints.joint_set(cfg.data, cfg.model.num_joints).groups
    held = "validation movies" if cfg.data == "flic" else "held-out set"
    score, alpha = headline(cfg.data)
    lines = [f"{score}@{alpha:g} per joint group ({held}, step {ev['step']}):",
             f"{'model':<8} " + " ".join(f"{g:>8}" for g in groups)]
    for m in ("coarse", "cascade"):
        per = np.asarray(ev[f"{m}_per_joint@{alpha:g}"])
        lines.append(f"{m:<8} " + " ".join(f"{np.nanmean(per[list(j)]):8.1f}" for j in groups.values()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    parallel.initialize_distributed()
    cfg = override(get_config(args.config), [*([f"out={args.out}"] if args.out is not None else []), *args.set])
    if args.logdir is not None:
        cfg = override(cfg, [f"logdir={args.logdir}"])
    main = parallel.is_main_process()  # every process trains; only process 0 reports
    if main:
        print(runinfo.header(f"train pose ({args.config})", cfg, cfg.seed), flush=True)
        if cfg.event_dir() is not None:
            print(f"event files: {cfg.event_dir()} (tensorboard --logdir {cfg.event_dir()})", flush=True)
    with runinfo.timed() as wall:
        try:
            res = train.train(cfg, progress=not args.no_progress)
        except train.TrainingDiverged as e:
            print(f"convcorr train pose: {e}", file=sys.stderr)
            return 3
    if res.evals and main:
        e = res.evals[-1]
        print(_group_table(cfg, e))
        score, alpha = headline(cfg.data)
        print(f"final {score}@{alpha:g}: coarse {e[f'coarse_pck@{alpha:g}']:.1f}  "
              f"cascade {e[f'cascade_pck@{alpha:g}']:.1f}  "
              f"-> {res.run_dir}/metrics.json; wall time {wall['seconds']:.1f} s")
    return 0
