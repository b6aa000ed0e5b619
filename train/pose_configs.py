"""Named training configs of the Tompson et al. cascade: `get_config(name) -> TrainConfig`.

Command: `convcorr train pose --config NAME [--set field=value ...]` (= `python -m convcorr_train.pose_cascade
--config NAME`). Every run prints a progress bar, PCK@0.05 (torso) of the coarse model and of the cascade after
each stage, and a final "final PCK@0.05: coarse C  cascade F" line; it writes runs/<name>/{config,metrics}.json
and checkpoints/ (the same command resumes a killed run). Runtimes are for the 2-core CPU.

  default     small cascade (pool 8, heat-map sigma 1 cell) on 1000 synthetic people (128 px), 1200 / 2000 / 500
              steps: 10.2 min; prints coarse 2.6, cascade 14.5.
  tiny        a 64 px toy model, 8 / 4 / 4 steps on 48 people: about a minute, mostly compilation; numbers
              meaningless (a smoke test of every stage).
  standard    the "standard cascade" comparison (fine model on image crops, matched parameters, greedy
              training): coarse 2.4, cascade 19.5.
  no_dropout  default without SpatialDropout: coarse 2.7, cascade 15.0.
  pool4       the coarse model at 4x pooling (Table 2, Fig. 9): coarse 9.8, cascade 18.3.
  pool16      ... at 16x pooling: coarse 1.1, cascade 11.2.
              (standard, no_dropout, pool4, pool16: 17-23 min each when run two at a time on the 2 cores.)
  full        the paper's widths (128-feature banks) on 256 px inputs, 60,000 steps: accelerator scale.
  flic_tiny   FLIC's 11 joints, the tiny model at 64 px, 8 / 4 / 4 steps: `convcorr train pose --config flic_tiny`
              then `convcorr eval flic --run runs/pose_flic_tiny --root FLIC`: 41 s for both from an empty cache
              (crops built on the first call) on the 2-core CPU while another job ran; prints the validation and
              test tables (numbers meaningless: a smoke test of every stage and of the evaluation).
  flic        the default model on FLIC (11 joints, flip), 128 px person crops of 2.5 x the torso box's longer
              side, sigma 1 cell, learning rates 2e-3 / 5e-3 / 1e-3, 1600 / 3600 / 800 steps, all chosen on the
              validation movies (`python -m convcorr_train.flic_sweep`; bench/RESULTS_pose.md):
              `convcorr train pose --config flic --set data_root=FLIC`, then
              `convcorr eval flic --run runs/pose_flic --root FLIC --json flic.json`. 6,000 steps in 24.0 min
              wall alone on the 2-core CPU (4.18 steps/s); prints "final PCK@0.05: coarse 22.8  cascade 44.4" on
              the validation movies (the training loop's coarse read-out is the integer arg-max) with the
              per-group table; the test table of `convcorr eval flic` is in the README and bench/RESULTS_pose.md.
  flic_full   the paper's widths (128-feature banks, 256 px crops, sigma 1.5), batch 32, 40000 / 10000 / 10000
              steps: accelerator scale: 227 s per step on the shared 2-core CPU (stage 3, 2 steps after a
              262-s compile, `python bench/pose.py --config flic_full --devices 1 --steps 2 --out ''`, crop scale
              3 at the time; 2.5 now, as chosen for `flic`); no GPU time measured.
FLIC configs train on FLIC train minus the validation movies and evaluate on those movies after each stage
(`convcorr_jax.pose.flic_data`); the FLIC folder is given with `--set data_root=FOLDER` (examples.mat + images/).
Measured numbers: bench/RESULTS_pose.md.
"""

from __future__ import annotations

import dataclasses

from convcorr_jax.errors import InputError
from convcorr_jax.pose import joints
from convcorr_jax.pose import model as M
from convcorr_jax.pose.train import TrainConfig

NAMES = ("default", "tiny", "standard", "no_dropout", "pool4", "pool16", "full", "flic", "flic_tiny", "flic_full")
FLIC_STEPS = (1600, 3600, 800)  # schedule, learning rates and crop scale chosen on the validation movies
FLIC_LR = (2e-3, 5e-3, 1e-3)  # (convcorr_train.flic_sweep; bench/RESULTS_pose.md); crop scale: TrainConfig
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
    during training (`convcorr_jax.pose.flic_data`); the test split only through `convcorr eval flic`."""
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
