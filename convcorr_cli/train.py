"""`convcorr train`: train models.

  convcorr train pose --config default [--out runs] [--set steps=600,200,200 --set model.pool=4 --set name=NAME
                                        --set num_devices=2 --set datasets.1.share=0.75 ...] [--logdir DIR|off]
                                        [--no-progress]

Progress bar with loss and steps/s; PCK of coarse and cascade after each stage; writes <out>/<name>/ with
config.json, metrics.json (the runner's schema, the evaluations under "metrics" -> "evals") and checkpoints/
(rerun the same command to resume a killed run; it prints "resuming NAME from step N of M"), and TensorBoard event
files (loss per stage, learning rate, validation PCK) in `--logdir` (default <out>/<name>/tb; `off`: none): watch
with `tensorboard --logdir DIR`. Ctrl-C (SIGINT) or SIGTERM stops it after the current step with a checkpoint of
that step, exit code 130 (`convcorr_jax.core.interrupt`).
A config out of range (e.g. `--set batch_size=0`) is one error line naming the field, exit code 2; so is a run
folder that holds anything but a run of this config (someone's files, another config's run), left as it was, and an
--out (or --logdir) inside the dataset folder it reads (`convcorr_train.pose.check_outside_data`). The named
configs: `convcorr_train.pose_configs.CONFIGS`; their runtimes and measured numbers: bench/RESULTS_pose.md.
"""

from __future__ import annotations

import argparse

from convcorr_cli.options import add_backbone_module, add_out, add_set, document, group_examples
from convcorr_train import pose
from convcorr_train.pose_configs import CONFIGS


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="model", required=True)
    a = document(sub.add_parser("pose", help="Tompson et al. coarse/fine heat-map cascade"),
                 "Train Tompson et al.'s coarse heat-map model, spatial model and fine model with a named config "
                 "(--config, changed by --set) into the run folder OUT/<name>/: config.json, metrics.json (PCK of the "
                 "coarse model and the cascade after each stage), checkpoints/ (the same command resumes a stopped "
                 "run) and TensorBoard event files in --logdir.",
                 "convcorr train pose --config tiny --no-progress",
                 "convcorr train pose --config flic --set data_root=FLIC",
                 "convcorr train pose --config default --set steps=600,200,200 --set name=short --logdir off")
    a.add_argument("--config", default="default", choices=list(CONFIGS), metavar="NAME",
                   help=", ".join(CONFIGS))
    add_out(a, "output root: the run folder is OUT/<name> (default: the config's out, runs)", metavar="DIR")
    add_set(a, "override a TrainConfig field (name, num_devices, steps, model.pool, datasets.1.share, ...)",
            ("steps=600,200,200", "name=short"))
    a.add_argument("--logdir", default=None, metavar="DIR",
                   help="TensorBoard event files here (default: <run folder>/tb; 'off': none)")
    a.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    add_backbone_module(a)  # a module registering a pose dataset of the user's own (--set data=KIND)
    group_examples(p)


def run(args: argparse.Namespace) -> int:
    cfg = pose.config(args.config, args.out, args.set, args.logdir)
    return pose.main(args.config, cfg, progress=not args.no_progress)
