"""A trained model's validated read-out: which prediction it reports, chosen on its validation split by a fixed rule
and stored with the model (readout.json in a run or model folder).

    choice = choose({Readout("cascade", True): {"Elbow": 0.61, "Wrist": 0.58, ...}, ...}, ("Elbow", "Wrist"))
    save_readout(run_dir, choice, record)          # readout.json, written atomically
    saved = load_readout(run_dir)                  # (Readout, record) or None when the folder has none

Candidates (`candidates`): each read-out of `NAMES` (`pose.predict`: the refined coarse arg-max, the paper's
cascade, the product of the fine and coarse maps), with and without the spatial model when the model has one.
Test-time flip and crop scales are not part of the choice: a model may keep its own, chosen on validation after the
read-out (`Readout.flip`, `Readout.scales`: the person-box model `person`), else they stay the caller's settings
(`estimation.CROP_TEST_TIME` for FLIC person crops).
Rule (`RULE`), fixed before any run is scored: the highest mean PCK@0.05 over the rule's joint groups (FLIC:
elbows and wrists, the joints the paper's cascade is for) on the validation split; a tie (to 0.1 point) goes to
the earlier candidate in `candidates`' order (the cheaper read-out, without the spatial model first).
Who chooses: training, on its held-out people among the read-outs without the spatial model (which it does not run);
for a FLIC model, again with the spatial read-outs, the explicit step `python -m convcorr_train.choose_readout`.
Scoring a model (`convcorr eval`) reads its choice and never writes it; the record names the dataset split it was
chosen on ("split_name": "val", "test"), and a scoring of that very split says its numbers are optimistic
(`chosen_on_scored_split`, `SAME_SPLIT_NOTE`).
Warning threshold (`warning_threshold`, `WARN_RULE`), chosen on the same people: a person whose mean joint
confidence falls below it is flagged by `estimate` (`Poses.warned`): the 5th percentile of the mean confidence of
the validation people the model gets right, so about one in twenty of the people it was made for is flagged.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from convcorr_jax.core import io, metrics
from convcorr_jax.core.errors import InputError, check_shape

FILE = "readout.json"
NAMES = ("coarse_refined", "cascade", "cascade_product")  # the read-outs a model chooses among (`pose.predict`)
DEFAULT_NAME = "cascade"  # the read-out of a model with no validated choice (the paper's)
ALPHA = 0.05
WARN_QUANTILE = 0.05  # of the right people's mean confidence: the warning threshold
RIGHT_ALPHA = 0.2  # a person is right when every scored joint of the rule's groups is within PCK@0.2
WARN_RULE = ("the 5th percentile of the mean joint confidence ({settings}) of the validation people the model gets "
             "right (every scored joint of {groups} within PCK@0.2)")
WARN_SETTINGS = "one crop, no flip, spatial model off"  # what training's threshold is measured with
RULE = ("the highest mean PCK@0.05 over {groups} on the validation split; a tie to 0.1 point goes to the earlier "
        "candidate (coarse_refined, cascade, cascade_product; without the spatial model before with it)")
SAME_SPLIT_NOTE = ("read-out chosen on this split ({split}): these numbers are optimistic; the read-out and its "
                   "warning threshold were chosen on the people scored")
UNKNOWN = "unknown"  # the split of a record written before readout.json named it
_OLD_SPLITS = {"FLIC validation movies": "val", "the held-out split (FLIC's validation movies)": "val"}


@dataclasses.dataclass(frozen=True)
class Readout:
    """name: one of `NAMES`; spatial: the model's spatial model applied (`pose.spatial`) before the read-out;
    warn_below: the warning threshold on a person's mean joint confidence (`warning_threshold`), None: no warning;
    flip, scales: the model's own test-time flip and crop scales (each input square scaled about its centre), what
    `estimate` applies unless told otherwise, chosen on validation after the read-out (a person-box model:
    bench/pose_person_readout.py); off and (1.0,) for a model without them. The last three are not part of the
    read-out's identity."""

    name: str = DEFAULT_NAME
    spatial: bool = True
    warn_below: float | None = dataclasses.field(default=None, compare=False)
    flip: bool = dataclasses.field(default=False, compare=False)
    scales: tuple[float, ...] = dataclasses.field(default=(1.0,), compare=False)

    def __post_init__(self):
        if self.name not in NAMES:
            raise InputError("readout", "name", f"one of {list(NAMES)}", self.name)
        if self.spatial not in (True, False):
            raise InputError("readout", "spatial", "true or false", repr(self.spatial))
        if self.warn_below is not None and not 0 <= self.warn_below <= 1:
            raise InputError("readout", "warn_below", "a confidence in [0, 1] or null", self.warn_below)
        if self.flip not in (True, False):
            raise InputError("readout", "flip", "true or false", repr(self.flip))
        try:
            scales = tuple(float(v) for v in self.scales)
        except (TypeError, ValueError):
            scales = ()
        if not scales or not all(np.isfinite(v) and v > 0 for v in scales):
            raise InputError("readout", "scales", "a list of crop scales > 0", self.scales)
        object.__setattr__(self, "scales", scales)

    @property
    def key(self) -> str:
        """The `pose.predict` read-out key: the name, "spatial_" + name with the spatial model (`prediction_key`)."""
        return prediction_key(self.name, self.spatial)

    def label(self) -> str:
        """"<name>, spatial model on|off", then the model's own test-time flip and crop scales where it has them."""
        own = (["test-time flip"] if self.flip else []) + (
            [] if self.scales == (1.0,) else ["crop scale" + ("s " if len(self.scales) > 1 else " ")
                                             + ", ".join(f"{v:g}" for v in self.scales)])
        return f"{self.name}, spatial model {'on' if self.spatial else 'off'}" + "".join(f", {x}" for x in own)


def prediction_key(name: str, spatial: bool) -> str:
    """The `pose.predict` key of a read-out, the one rule `Readout.key` and `estimate` share.

    Args:
        name: a read-out of `predict.READOUTS` (any of them: `estimate` reads those a model does not choose among).
        spatial: with the spatial model.

    Returns:
        The name, "spatial_" + name with the spatial model (`predict.SPATIAL_READOUTS`).
    """
    return ("spatial_" if spatial else "") + name


def candidates(with_spatial: bool) -> list[Readout]:
    """The read-outs a model chooses among, in the rule's order (module docstring).

    Args:
        with_spatial: the model has a spatial model: each read-out of `NAMES` comes again with it.

    Returns:
        `Readout`s: every name of `NAMES` without the spatial model, then (with_spatial) every name with it.
    """
    return [Readout(n, s) for s in ((False, True) if with_spatial else (False,)) for n in NAMES]


def choose(scores: Mapping[Readout, Mapping[str, float]], groups: Sequence[str]) -> Readout:
    """The candidate with the highest mean of `groups`, a tie to 0.001 (0.1 point) to the earliest (module docstring).

    Args:
        scores: {candidate `Readout`: {group name: PCK as a fraction 0..1}}, in the rule's order (`candidates`).
        groups: the rule's joint groups; each must be in every candidate's scores.

    Returns:
        The chosen `Readout` (one of scores' keys). A candidate whose mean is NaN (no visible joint of a group on the
        split) is not a choice; when no candidate has a finite mean, the first candidate named `DEFAULT_NAME` (else
        the first candidate): the read-out of a model with no validated choice.

    Raises:
        InputError: scores empty, or a candidate lacks a group.
    """
    if not scores:
        raise InputError("choose", "scores", "at least one candidate read-out", "none")
    best, best_v = None, None
    for r, s in scores.items():
        missing = [g for g in groups if g not in s]
        if missing:
            raise InputError("choose", f"scores[{r.key}]", f"the groups {list(groups)}", f"missing {missing}")
        v = sum(float(s[g]) for g in groups) / len(groups)
        if np.isfinite(v) and (best_v is None or v > best_v + 0.001 + 1e-12):
            best, best_v = r, v
    if best is None:
        return next((r for r in scores if r.name == DEFAULT_NAME), next(iter(scores)))
    return best


def right_people(points: np.ndarray, gt: np.ndarray, scored: np.ndarray, norm: np.ndarray,
                 joints: Sequence[int]) -> np.ndarray:
    """The people whose every scored joint of `joints` is within `RIGHT_ALPHA` x norm.

    Args:
        points, gt: float [N, K, 2] (x, y) pixels, predicted and annotated.
        scored: bool [N, K], the joints scored (a joint with non-finite gt is not).
        norm: [N] pixels per person (the PCK normaliser).
        joints: joint ids of the rule's groups.

    Returns:
        bool [N]; a person with none of `joints` scored is not right.

    Raises:
        InputError: arrays of other shapes.
    """
    dims = check_shape(points, "N K 2", "right_people", "points")
    check_shape(gt, "N K 2", "right_people", "gt", dims)
    check_shape(scored, "N K", "right_people", "scored", dims)
    check_shape(norm, "N", "right_people", "norm", dims)
    hits = metrics.pck_hits(points, gt, scored, norm, RIGHT_ALPHA)[:, list(joints)]
    return np.all(np.nan_to_num(hits, nan=1.0) == 1.0, -1) & np.any(np.isfinite(hits), -1)


def warning_threshold(confidence: np.ndarray, right: np.ndarray) -> float:
    """`WARN_QUANTILE` of the mean joint confidence of the right people.

    >>> conf = np.linspace(0, 1, 101)[:, None].repeat(2, 1)          # 101 people, two joints each
    >>> round(warning_threshold(conf, conf[:, 0] >= 0.5), 3)          # the right ones: 0.50 ... 1.00
    0.525

    Args:
        confidence: float [N, K] joint confidences in [0, 1].
        right: bool [N], the people the model gets right (`right_people`).

    Returns:
        The threshold, a float in [0, 1].

    Raises:
        InputError: no person is right, or arrays of other shapes.
    """
    check_shape(right, "N", "warning_threshold", "right", check_shape(confidence, "N K", "warning_threshold",
                                                                      "confidence"))
    c = np.asarray(confidence, np.float64).mean(-1)[np.asarray(right, bool)]
    if not c.size:
        raise InputError("warning_threshold", "right", "at least one person the model gets right", 0)
    return float(np.quantile(c, WARN_QUANTILE))


def decide(scores: Mapping[Readout, Mapping[str, float]], groups: Sequence[str], described: str, split: str,
           people: int, inputs: str, warning: tuple[float, int] | None = None,
           split_name: str | None = None) -> tuple[Readout, dict]:
    """(`choose`'s read-out, readout.json's record) for a model's validation scores.

    The record holds the rule with its groups `described` in words, the split and its number of people, the input the
    candidates were scored on, and every candidate's scores (percent, one decimal).

    Args:
        scores: {`Readout`: {group: PCK as a fraction 0..1}}, as `choose` takes them.
        groups: the rule's joint groups.
        described: the groups in words, for the rule's text.
        split: the split scored (e.g. "val").
        people: its number of people.
        inputs: the input the candidates were scored on, in words.
        warning: (`warning_threshold`, the number of right people it came from), kept as the read-out's warn_below and
            the record's "warning" (`with_warning`); None: no warning.
        split_name: the dataset split scored, as a scorer names it ("val", "test"; `chosen_on_scored_split`), kept
            as the record's "split_name"; None: not recorded.

    Returns:
        (Readout, record): the record a JSON-ready dict {"rule", "split"[, "split_name"], "people", "input",
        "scores"[, "warning"]};
        a score with nothing visible is null, and a rule no candidate was scored on says so.

    Raises:
        InputError: as `choose`.
    """
    record: dict[str, Any] = {
        "rule": RULE.format(groups=described), "split": split,
        **({} if split_name is None else {"split_name": split_name}), "people": int(people), "input": inputs,
        "scores": {r.key: {g: round(100 * float(v), 1) if np.isfinite(float(v)) else None for g, v in s.items()}
                   for r, s in scores.items()}}
    choice = choose(scores, groups)
    if not any(all(c.get(g) is not None for g in groups) for c in record["scores"].values()):
        record["rule"] += (f"; no candidate was scored (no visible joint of {described} on the split): the default "
                           "read-out, not a choice")
    return (choice, record) if warning is None else with_warning(choice, record, *warning, described)


def chosen_on_scored_split(record: Mapping[str, Any] | None, scored: str | None, same_data: bool = True) -> dict:
    """Whether a stored read-out (and its warning threshold) was chosen on the split a scoring scores.

    Args:
        record: readout.json's record (`load_readout`), None for a model without a stored read-out.
        scored: the dataset split scored ("val", "test"), None where the scoring cannot name it.
        same_data: the scoring reads the data kind the model was trained on (else the split is another: false).

    Returns:
        {"readout_chosen_on": the record's split name ("unknown" for a record written before it was kept, and
        FLIC's old records "val"), "readout_chosen_on_scored_split": true, false or "unknown"}; {} without a record.
    """
    if record is None:
        return {}
    chosen = record.get("split_name") or _OLD_SPLITS.get(str(record.get("split")))
    same = False if not same_data else UNKNOWN if chosen is None or scored is None else chosen == scored
    return {"readout_chosen_on": chosen or UNKNOWN, "readout_chosen_on_scored_split": same}


def same_split_note(chosen: Mapping[str, Any]) -> str:
    """`SAME_SPLIT_NOTE` for a scoring whose read-out was chosen on the split it scores, else "".

    Args:
        chosen: `chosen_on_scored_split`'s dict (or a result holding its fields).

    Returns:
        The line, or "" (another split, or unknown).
    """
    if chosen.get("readout_chosen_on_scored_split") is not True:
        return ""
    return SAME_SPLIT_NOTE.format(split=chosen["readout_chosen_on"])


def with_warning(choice: Readout, record: Mapping[str, Any], threshold: float, right_people: int,
                 described: str, settings: str = WARN_SETTINGS) -> tuple[Readout, dict]:
    """(choice, record) with the warning threshold: the read-out's warn_below and the record's "warning", rounded alike.

    Args:
        choice: the chosen `Readout`.
        record: readout.json's record so far (`decide`).
        threshold: the warning threshold (`warning_threshold`), a confidence in [0, 1].
        right_people: how many right people it came from.
        described: the rule's groups in words.
        settings: what the confidences were measured with, in words (`WARN_SETTINGS`: one crop, no flip).

    Returns:
        (Readout with warn_below = threshold rounded to 4 decimals, a copy of record with "warning": {"threshold",
        "rule", "right_people"}).
    """
    t = round(float(threshold), 4)
    warning = {"threshold": t, "rule": WARN_RULE.format(groups=described, settings=settings),
               "right_people": int(right_people)}
    return dataclasses.replace(choice, warn_below=t), {**dict(record), "warning": warning}


def save_readout(folder: str | os.PathLike, choice: Readout, record: Mapping[str, Any]) -> Path:
    """Write folder/readout.json: {"readout": {"name", "spatial", "warn_below"}, **record}, atomically.

    Args:
        folder: a run or model folder (must exist).
        choice: the chosen `Readout`; it replaces any "readout" in record.
        record: JSON-ready, e.g. "rule", "split", "scores" (`decide`).

    Returns:
        The path of readout.json.
    """
    path = Path(folder) / FILE
    # the choice last: a record read back from readout.json has its old choice replaced
    io.write_json(path, {**dict(record), "readout": dataclasses.asdict(choice)})
    return path


def load_readout(folder: str | os.PathLike) -> tuple[Readout, dict] | None:
    """(Readout, the whole record) of folder/readout.json.

    Args:
        folder: a run or model folder.

    Returns:
        (Readout, the record as a dict), None when the folder has no readout.json.

    Raises:
        InputError: naming the file, for a malformed one.
    """
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        r = record["readout"]
        warn = r.get("warn_below")
        return Readout(str(r["name"]), r["spatial"], None if warn is None else float(warn),
                       r.get("flip", False), r.get("scales", (1.0,))), record
    except InputError as e:  # before ValueError, which it is: a field Readout refuses, named in the file
        raise InputError(path, f"readout.{e.field}", e.expected, e.got) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(path, "readout", 'a JSON object {"readout": {"name", "spatial"}, ...}', str(e)) from None


__all__ = ["ALPHA", "DEFAULT_NAME", "FILE", "NAMES", "RIGHT_ALPHA", "RULE", "Readout", "SAME_SPLIT_NOTE", "UNKNOWN",
           "WARN_QUANTILE", "WARN_RULE", "WARN_SETTINGS",
           "candidates", "choose", "chosen_on_scored_split", "decide", "load_readout", "prediction_key", "right_people",
           "same_split_note", "save_readout", "warning_threshold", "with_warning"]
