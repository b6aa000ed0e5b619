"""A trained MPII pose model on an MPII annotation file: predictions written back in the MPII frame, scored by PCKh.

    convcorr eval mpii --model runs/pose_mpii --annot annot/valid.h5 [--images DIR] [--h5 preds.h5] [--json out.json]
                       [--out runs] [--name N] [--force]
    convcorr run tompson2015.mpii --set model=runs/pose_mpii --set annot=annot/valid.h5

Experiment `tompson2015.mpii`: the model (`Config.model`: a training run folder, an exported model folder or a
shipped model's name, read by `trained.scored_model` and never written into; `--run` / `run_dir` are older names)
crops every annotated person from its centre and scale (`convcorr_jax.pose.data.mpii_person_crops`), runs the
cascade with the model's stored read-out (readout.json; `Config.readout` another), maps the predictions back to the
original image, writes them 1-based as `preds` [N, 16, 2] (the frame of annot/valid.h5's `part`) to `preds.h5` in its
run folder (`convcorr eval mpii`: runs/tompson2015.mpii_<model>_<digest of the settings and the model's identity>, the
file then copied to --h5) and scores the file with the official PCKh definition (`convcorr eval pckh`), head size from
the annotation's `normalize`. metrics.json holds the PCKh tables {"0.5": {column: percent}, "0.1": ..., "auc",
"curve"} and their unit ("about": percent, as the --json says); prints them at 0.5 and 0.1. With the stored
read-out it also holds "readout_chosen_on" and "readout_chosen_on_scored_split"
(`pose.readout.chosen_on_scored_split`: an MPII model's read-out is chosen on valid.h5, so scoring valid.h5 with it
is optimistic, and a line under the tables says so).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.core import geometry, metrics
from convcorr_jax.data import mpii_eval_files, mpii_people
from convcorr_jax.data.mpii import load_mpii_h5
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import joints, predict
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.data import mpii_person_crops
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.report import save_figure, score_about
from convcorr_eval.tompson2015 import figures, pckh
from convcorr_eval.tompson2015.trained import (model_fields, model_help, model_name, scored_model, take_old_name,
                                               with_model_state)

PREDS = "preds.h5"
PAGE = "mpii_best_worst.png"  # the best and worst people, ground truth beside prediction


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """model: the model scored (a training run folder, a model folder or a shipped model's name; run_dir: its older
    name, `trained.take_old_name`); trained: its identity (`trained.model_state`, set by `identify`), part of the run
    key; annot: the annotation h5 (hourglass layout, e.g. annot/valid.h5); images: the image folder (None: images/
    beside the annot folder); readout: one of `predict.READOUTS`, None: the model's stored read-out (without the
    spatial model, which MPII scoring does not run), else "cascade". The backbone, weights and data_root fields are
    unused."""

    data: str = "mpii"
    model: str | None = None
    run_dir: str | None = None
    trained: str | None = None
    annot: str | None = None
    images: str | None = None
    readout: str | None = None

    def __post_init__(self):
        super().__post_init__()
        take_old_name(self)
        if self.readout is not None and self.readout not in predict.READOUTS:
            raise InputError("config", "readout", f"one of {list(predict.READOUTS)} or none (the model's)",
                             self.readout)

    def check_data_root(self) -> None:
        """The annotation file stands for the dataset folder: InputError without it."""
        self.annot_file()

    def annot_file(self) -> str:
        """`annot`; InputError without it (a run started without the runner, which checks it first)."""
        if self.annot is None:
            raise InputError("config", "annot", "an MPII annotation h5 (--set annot=FILE)")
        return self.annot


def get_config(size: str = "default") -> Config:
    """The same scoring at every size (the size of the trained model is the training run's)."""
    return sized(size, {s: Config(size=s) for s in ("tiny", "default", "full")})


def identify(cfg: Config) -> Config:
    """cfg with `trained` set to its model's identity (`trained.with_model_state`; the runner calls it)."""
    return with_model_state(cfg)


# the scored model's folder, a path the runner compares by where it leads (`run_keys.places`)
path_fields = model_fields


def data_paths(cfg: Config) -> dict[str, str | None]:
    """What a run reads besides the training run: the annotation file and the image folder (part of the run key)."""
    images = cfg.images or (str(Path(cfg.annot).parent.parent / "images") if cfg.annot else None)
    return {"annot": cfg.annot, "images": images if images and Path(images).exists() else None}


def run_name(cfg: Config) -> str:
    """The readable run folder name of `convcorr eval mpii`: tompson2015.mpii_<model>."""
    return "tompson2015.mpii_" + model_name(cfg.model)


def predict_people(params, people: Sequence[KeypointSample], cfg: pose_model.ModelConfig,
                   readout: str = "cascade") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predictions [N, K, 2] of one read-out (`predict.READOUTS`) in original-image pixels (0-based), the person
    crops uint8 [N, S, S, 3] they were made on, the image -> crop affines [N, 2, 3])."""
    crops, affine = mpii_person_crops(people, cfg.image_size)
    return predict.to_original(predict.predict_crops(params, crops, cfg)[readout], affine), crops, affine


def page_figure(people: Sequence[KeypointSample], pred: np.ndarray, crops: np.ndarray, affine: np.ndarray,
                joint_set: joints.JointSet, label: str, path: str | Path, threshold: float = 0.5) -> None:
    """The people with the highest and the lowest PCKh@threshold of their annotated joints (head size from the
    annotation's `normalize`), ground truth beside the prediction on their crops (`figures.best_worst_figure`)."""
    truth = np.stack([np.asarray(s.points, np.float64) for s in people])
    d = metrics.pckh_distances(pred, truth, np.array([s.extras["normalize"] for s in people]))
    score = figures.image_scores(np.where(np.isnan(d), np.nan, d <= threshold))
    truth_in_crop, pred_in_crop = (np.asarray(geometry.transform_points(p, affine)) for p in (truth, pred))
    save_figure(figures.best_worst_figure(crops, truth_in_crop, pred_in_crop, np.all(np.isfinite(truth), -1), score,
                                          joint_set, f"PCKh@{threshold:g}", f"{label}: best and worst people by "
                                          f"PCKh@{threshold:g} of their annotated joints"), path)


def predict_file(model: str | Path, annot: str | Path, out: str | Path, images: str | Path | None = None,
                 readout: str | None = None, page: str | Path | None = None) -> dict:
    """Write the model's predictions for every person of `annot` to `out` (h5) and return its PCKh tables
    (`pckh.evaluate_file`) with "people": the number of people, "readout": the read-out used and, with the stored
    read-out, `pose_readout.chosen_on_scored_split` of the annotation file (its MPII split by name). model: a training
    run folder, a model folder or a shipped model's name (`trained.scored_model`); readout: None: the model's stored
    read-out's name, else "cascade"; page: where to draw the best and worst people (`page_figure`; None: not
    drawn)."""
    run, saved = scored_model(model)
    tc, params = run.config, run.params
    chosen = {}
    if readout is None:
        readout = run.readout.name if run.readout is not None else "cascade"
        scored = next((k for k, f in mpii_people.FILES.items() if f == Path(annot).name), Path(annot).name)
        chosen = pose_readout.chosen_on_scored_split(saved and saved[1], scored, tc.data == "mpii")
    js = joints.joint_set("mpii", tc.model.num_joints)
    people = load_mpii_h5(annot, image_root=images)
    pred, crops, affine = predict_people(params, people, tc.model, readout)
    mpii_eval_files.write_preds(out, pred)
    if page is not None:
        page_figure(people, pred, crops, affine, js, f"MPII {Path(annot).name}, {readout}", page)
    return dict(pckh.evaluate_file(out, annot), people=len(people), readout=readout, **chosen)


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("mpii",))
    if cfg.model is None:
        raise InputError("config", "model", model_help())
    r = predict_file(cfg.model, cfg.annot_file(), ctx.run_dir / PREDS, cfg.images, cfg.readout, ctx.figures / PAGE)
    md = "\n\n".join(pckh.format_table({model_name(cfg.model): r}, t, markdown=True) for t in ("0.5", "0.1"))
    md += f"\n\n{note}" if (note := pose_readout.same_split_note(r)) else ""
    md += f"\n\nPredictions ({r['readout']}, 1-based MPII frame): `{PREDS}`.\n"
    md += f"\n![best and worst people: ground truth beside prediction](figures/{PAGE})\n"
    summary = (f"MPII PCKh@0.5 (%) total {r['0.5']['Total']:.1f}, AUC(0..0.5) {r['auc']:.1f} ({r['people']} people, "
               f"{r['readout']})")
    about = score_about("head segment", [0.5, 0.1], "percent")  # as `convcorr eval mpii --json` says it
    return Result(summary, md, dict(r, model=str(cfg.model), about=about))
