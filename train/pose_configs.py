"""Named training configs of the Tompson et al. cascade: `get_config(name) -> TrainConfig`.

Command: `convcorr train pose --config NAME [--set field=value ...]` (= `python -m convcorr_train.pose_cascade
--config NAME`). Every run prints a progress bar, the headline score (PCK@0.05, torso; MPII: PCKh@0.5) of the
coarse model and of the cascade after each stage, and a final "final PCK@0.05: coarse C  cascade F" line; it writes
runs/<name>/{config,metrics}.json and checkpoints/ (the same command resumes a killed run).

  default     small cascade (pool 8, heat-map sigma 1 cell) on 1000 synthetic people (128 px), 1200 / 2000 / 500
              steps.
  tiny        a 64 px toy model, 8 / 4 / 4 steps on 48 people: a smoke test of every stage (numbers meaningless).
  standard    the "standard cascade" comparison (fine model on image crops, matched parameters, greedy training).
  no_dropout  default without SpatialDropout.
  pool4       the coarse model at 4x pooling (Table 2, Fig. 9).
  pool16      ... at 16x pooling.
  full        the paper's widths (128-feature banks) on 256 px inputs, 60,000 steps: accelerator scale.
  flic_tiny   FLIC's 11 joints, the tiny model at 64 px, 8 / 4 / 4 steps: `convcorr train pose --config flic_tiny`
              then `convcorr eval flic --run runs/pose_flic_tiny --root FLIC` (a smoke test of every stage and of
              the evaluation; numbers meaningless).
  flic        the default model on FLIC (11 joints, flip), 128 px person crops of 2.5 x the torso box's longer
              side, sigma 1 cell, learning rates 2e-3 / 5e-3 / 1e-3, 1600 / 3600 / 800 steps, all chosen on the
              validation movies (bench/RESULTS_pose.md; learning rates and crop scale by
              `python -m convcorr_train.flic_sweep`):
              `convcorr train pose --config flic --set data_root=FLIC`, then
              `convcorr eval flic --run runs/pose_flic --root FLIC --json flic.json`. The training loop evaluates
              on the validation movies (its coarse read-out is the integer arg-max).
  flic_full   the paper's widths (128-feature banks, 256 px crops, sigma 1.5), batch 32, 40000 / 10000 / 10000
              steps: accelerator scale.
FLIC configs train on FLIC train minus the validation movies and evaluate on those movies after each stage
(`convcorr_jax.pose.data`); the FLIC folder is given with `--set data_root=FOLDER` (examples.mat + images/).
Runtimes and measured numbers: bench/RESULTS_pose.md.
"""

from __future__ import annotations

import dataclasses

from convcorr_jax.errors import InputError
from convcorr_jax.pose import joints
from convcorr_jax.pose import model as M
from convcorr_jax.pose.train import TrainConfig

NAMES = ("default", "tiny", "standard", "no_dropout", "pool4", "pool16", "full", "flic", "flic_tiny", "flic_full")
FLIC_STEPS = (1600, 3600, 800)  # schedule, learning rates and crop scale chosen on the validation movies
FLIC_LR = (2e-3, 5e-3, 1e-3)  # (bench/RESULTS_pose.md, convcorr_train.flic_sweep); crop scale: TrainConfig.crop_scale
TINY_MODEL = M.ModelConfig(image_size=64, pool=4, levels=2, bank=(4, 6, 8, 8), head=16, fine=(4, 4, 8, 8), context=16)


def get_config(name: str = "default") -> TrainConfig:
    """The named TrainConfig (see the module docstring); InputError for an unknown name."""
    base = TrainConfig(name=f"pose_{name}")
    if name == "default":
        return base
    if name == "tiny":
        return dataclasses.replace(base, model=TINY_MODEL, n_samples=48, batch_size=8, steps=(8, 4, 4),
                                   checkpoint_every=8)
    if name == "standard":
        return dataclasses.replace(base, model=dataclasses.replace(base.model, variant="standard"))
    if name == "no_dropout":
        return dataclasses.replace(base, model=dataclasses.replace(base.model, spatial_dropout=0.0))
    if name in ("pool4", "pool16"):
        return dataclasses.replace(base, model=dataclasses.replace(base.model, pool=int(name[4:])))
    if name in ("flic", "flic_tiny", "flic_full"):
        return _flic(name)
    if name == "full":
        return dataclasses.replace(base, model=M.full_model(), n_samples=20000, batch_size=32,
                                   steps=(40000, 10000, 10000), lr=(1e-3, 5e-4, 2e-4), checkpoint_every=1000)
    raise InputError("config", "name", "one of " + ", ".join(NAMES), name)


def _flic(name: str) -> TrainConfig:
    """FLIC's 11 joints and flip; trained on FLIC train minus the validation movies, evaluated on those movies
    during training (`convcorr_jax.pose.data`); the test split only through `convcorr eval flic`."""
    base = TrainConfig(name=f"pose_{name}", data="flic",
                       augment=dataclasses.replace(TrainConfig().augment, flip_perm=joints.FLIC.flip))
    if name == "flic_tiny":
        return dataclasses.replace(base, model=dataclasses.replace(TINY_MODEL, num_joints=11), batch_size=8,
                                   steps=(8, 4, 4), checkpoint_every=8, eval_limit=64)
    if name == "flic_full":
        return dataclasses.replace(base, model=M.full_model(num_joints=11), batch_size=32,
                                   steps=(40000, 10000, 10000), lr=(1e-3, 5e-4, 2e-4), checkpoint_every=1000)
    return dataclasses.replace(base, model=dataclasses.replace(base.model, num_joints=11), steps=FLIC_STEPS,
                               lr=FLIC_LR, checkpoint_every=100)
