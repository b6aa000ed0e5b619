"""FLIC's validated read-out (`tompson2015.flic`'s "validated" row): the read-out `pose.readout`'s rule chooses
from a scoring of FLIC's validation movies, with the record readout.json keeps (`readout_choice`; `python -m
convcorr_train.choose_readout` stores it), and a scoring with the model's stored choice added (`with_validated`).
"""

from __future__ import annotations

import dataclasses

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import readout as pose_readout
from convcorr_eval.tompson2015 import paper


def readout_choice(res: dict, with_spatial: bool, saved: tuple[pose_readout.Readout, dict] | None = None
                   ) -> tuple[pose_readout.Readout, dict]:
    """The read-out `pose.readout`'s rule chooses from an `evaluate` result on the validation split (its
    "ablation" at PCK@0.05, FLIC's elbows and wrists), and the record readout.json keeps: the rule, the split, the
    people, and every candidate's PCK@0.05 per joint group (percent). saved: the model's stored choice, whose
    warning threshold (chosen when the model was trained, `pose.export.model_folder.choose_readout`) is kept. Nothing
    is written: `python -m convcorr_train.choose_readout` stores the same choice, made from the same scores
    (tests/test_eval_any_model.py). A result of another split (test) is refused: InputError naming res.split."""
    if res.get("split") != "val":
        raise InputError("readout_choice", "res.split", "'val' (a read-out is chosen on the validation movies, never "
                         "on the split it is reported on)", res.get("split"))
    columns = (*paper.TABLE3_COLUMNS, "all")
    scores = {r: {g: res["ablation"][r.key][str(pose_readout.ALPHA)][g] for g in columns}
              for r in pose_readout.candidates(with_spatial)}
    choice, record = pose_readout.decide(scores, ("Elbow", "Wrist"), "FLIC's elbows and wrists",
                                         "FLIC validation movies", res["n"],
                                         f"{res['protocol']} {res['image_size']} px, one crop, no flip",
                                         split_name="val")
    if saved is not None and "warning" in saved[1]:
        record["warning"] = saved[1]["warning"]
        choice = dataclasses.replace(choice, warn_below=saved[0].warn_below)
    return choice, record


def with_validated(res: dict, saved: tuple[pose_readout.Readout, dict] | None) -> dict:
    """res with "validated": the model's stored read-out choice (readout, label, where it was chosen, the rule, whether
    that is the split scored: `pose_readout.chosen_on_scored_split`) and its scores ("pck": {alpha: {group:
    fraction}}), when the model has a choice whose read-out this scoring computed; the
    tables show it first."""
    if saved is None or saved[0].key not in res["ablation"]:
        return res
    choice, record = saved
    res["validated"] = {"readout": choice.key, "label": choice.label(), "chosen_on": record.get("split"),
                        "rule": record.get("rule"), "pck": dict(res["ablation"][choice.key]),  # every alpha scored
                        **pose_readout.chosen_on_scored_split(record, res.get("split"))}
    return res
