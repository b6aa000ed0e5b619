"""A trained MPII pose run on an MPII annotation file: predictions written back in the MPII frame, scored by PCKh.

    convcorr eval mpii --run runs/pose_mpii --annot annot/valid.h5 [--images DIR] --out preds.h5 [--json out.json]

Crops every annotated person from its centre and scale (`convcorr_jax.pose.data.mpii_person_crops`), runs the
cascade, maps the predictions back to the original image, writes them 1-based as `preds` [N, 16, 2] (the frame of
annot/valid.h5's `part`) and scores the file with the official PCKh definition (`convcorr eval pckh`), head size
from the annotation's `normalize`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.data.mpii import load_mpii_h5
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.pose import joints, mpii_files, predict
from convcorr_jax.pose import model as M
from convcorr_jax.pose.data import mpii_person_crops
from convcorr_jax.pose.train import load_run
from convcorr_eval.tompson2015 import pckh


def predict_people(params, people: Sequence[KeypointSample], cfg: M.ModelConfig,
                   readout: str = "cascade") -> np.ndarray:
    """Predictions [N, K, 2] of one read-out (`predict.READOUTS`) in original-image pixels (0-based)."""
    crops, affine = mpii_person_crops(people, cfg.image_size)
    return predict.to_original(predict.predict(params, crops, cfg)[readout], affine)


def predict_file(run_dir: str | Path, annot: str | Path, out: str | Path, images: str | Path | None = None,
                 readout: str = "cascade") -> dict:
    """Write the run's predictions for every person of `annot` to `out` (h5) and return its PCKh tables."""
    tc, params = load_run(run_dir)
    joints.joint_set("mpii", tc.model.num_joints)
    people = load_mpii_h5(annot, image_root=images)
    mpii_files.write_preds(out, predict_people(params, people, tc.model, readout))
    return pckh.evaluate_file(out, annot)
