"""Choose a FLIC model's read-out again on FLIC's validation movies, the spatial model's read-outs weighed too, and
store it with the model: the one explicit step that changes a trained model's read-out (scoring never does).

    python -m convcorr_train.choose_readout --run runs/pose_flic --root FLIC [--dry-run]

Training stores the read-out `pose.readout`'s rule chooses on its held-out people among the read-outs without the
spatial model, which training does not run (`model_folder.choose_readout`). This step scores every candidate, without
and with the spatial model saved with the model (`pose.readout.candidates`), on the FLIC validation movies
(`pose.data.flic_crops` "val" at the model's input size, crop scale and protocol; one crop, no flip; the spatial
model conditioned on each person's torso box centre, as `convcorr eval flic`), chooses by the same rule (the
highest mean PCK@0.05 of elbows and wrists, `pose.readout.RULE`) and writes readout.json into the folder
(`model_folder.set_readout`: in a model folder its sha256 in model.json too). The warning threshold already stored
(chosen when the model was trained) is kept. Prints the run header (`runinfo.header`: config, "seed": null as
no random numbers are drawn, versions, devices), every candidate's PCK@0.05 per joint group, the choice and the wall
time;
`--dry-run` writes nothing. The folder may be a training run or a model folder (an export); `convcorr pose`,
`pose.estimate` and the "validated" row of `convcorr eval flic` then use the choice.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from convcorr_jax.core import metrics, runinfo
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import heatmaps, joints, predict
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.data import flic_crops
from convcorr_jax.pose.loaded_model import PoseModel, load

COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist")  # the joint groups readout.json records (the paper's Table 3), + "all"
SPLIT = "FLIC validation movies"


def candidate_scores(run: PoseModel, root: str | os.PathLike) -> tuple[dict, int]:
    """PCK@0.05 (fractions) per joint group of every candidate read-out on the FLIC validation movies.

    Args:
        run: the loaded FLIC model (`pose.load`); its spatial model, where saved, gives the spatial candidates.
        root: the FLIC folder (examples.mat + images/).

    Returns:
        ({`pose_readout.Readout`: {group of `COLUMNS`: fraction, "all": fraction}} in the rule's order, the number
        of people).

    Raises:
        InputError: a model of other joints than FLIC's 11.
    """
    tc = run.config
    if tc.model.num_joints != joints.FLIC.num_joints:
        raise InputError(run.path, "joints", f"a model of FLIC's {joints.FLIC.num_joints} joints",
                         f"{tc.model.num_joints} joints ({tc.data})")
    crops = flic_crops(root, "val", tc.model.image_size, tc.crop_scale, protocol=tc.protocol)
    data = crops.arrays
    sp: predict.SpatialInputs | None = None
    if run.spatial is not None:
        assert run.log_priors is not None  # saved, and loaded, with its config (`load`)
        sp = predict.SpatialInputs(run.log_priors, np.asarray(heatmaps.image_to_map(crops.torso, tc.model.pool),
                                                              np.float32), run.spatial)
    preds = predict.predict_crops(run.params, data.images, tc.model, spatial=sp)
    alpha = pose_readout.ALPHA
    scores = {}
    for r in pose_readout.candidates(with_spatial=sp is not None):
        groups = joints.group_pck(preds[r.key], data.points, data.visible, data.norm, joints.FLIC.groups, alpha)
        scores[r] = {**{g: groups[g] / 100 for g in COLUMNS},
                     "all": float(metrics.pck(preds[r.key], data.points, data.visible, data.norm, alpha))}
    return scores, len(data)


def choose(folder: str | os.PathLike, root: str | os.PathLike) -> tuple[pose_readout.Readout, dict]:
    """The read-out the rule chooses for the model in `folder` on FLIC's validation movies (module docstring).

    Args:
        folder: a FLIC training run or model folder.
        root: the FLIC folder.

    Returns:
        (the chosen `Readout`, readout.json's record), the stored warning threshold kept; nothing is written.

    Raises:
        InputError: as `candidate_scores`, and for a folder that holds no model.
    """
    run = load(Path(folder))
    tc = run.config
    scores, people = candidate_scores(run, root)
    choice, record = pose_readout.decide(scores, ("Elbow", "Wrist"), "FLIC's elbows and wrists", SPLIT, people,
                                         f"{tc.protocol} {tc.model.image_size} px, one crop, no flip",
                                         split_name="val")
    saved = pose_readout.load_readout(run.path)
    if saved is not None and "warning" in saved[1]:
        record["warning"] = saved[1]["warning"]
        choice = dataclasses.replace(choice, warn_below=saved[0].warn_below)
    return choice, record


def table(record: dict) -> str:
    """The candidates' PCK@0.05 (percent) per joint group, one line each, and the choice.

    Args:
        record: readout.json's record with "scores" and "readout" (`choose`, then the choice added).

    Returns:
        The text.
    """
    groups = list(next(iter(record["scores"].values())))
    lines = [f"{SPLIT}, {record['people']} people, PCK@{pose_readout.ALPHA:g} (%): "
             + " ".join(f"{g:>8}" for g in groups)]
    lines += [f"{key:<28}" + " ".join(f"{v:8.1f}" if v is not None else f"{'-':>8}" for v in row.values())
              for key, row in record["scores"].items()]  # None: nothing visible to score
    chosen = pose_readout.Readout(**record["readout"])
    return "\n".join([*lines, f"chosen: {chosen.key} ({chosen.label()}) by the rule: {record['rule']}"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--run", "--model", dest="run", required=True,
                   help="a FLIC training run or model folder (its readout.json is replaced)")
    p.add_argument("--root", required=True, help="the FLIC folder (examples.mat + images/)")
    p.add_argument("--dry-run", action="store_true", help="print the scores and the choice; write nothing")
    a = p.parse_args(argv)
    try:
        if not Path(a.run).is_dir():
            raise InputError(None, "--run", "a FLIC training run or model folder", a.run)
        with runinfo.timed() as wall:
            choice, record = choose(a.run, a.root)
        print(runinfo.header("choose_readout", {"run": a.run, "root": a.root, "dry_run": a.dry_run, "seed": None}))
        print(table({**record, "readout": dataclasses.asdict(choice)}))
        print(f"wall time {wall['seconds']:.1f} s")
        if not a.dry_run:
            model_folder.set_readout(a.run, choice, record)
            print(f"wrote {Path(a.run) / pose_readout.FILE}")
    except InputError as e:
        print(f"choose_readout: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
