"""Leave-one-sub-class-out selection over scored PF-WILLOW rows (`long2014.pf_willow_validation`): the best row,
each row's worst sub-class, and the folds, each choosing its row on the other sub-classes and scoring it on the one
left out. A row is a dict with "per_class" ({sub-class or mixed-view set "A+B": PCK@0.1}) and, for `best`, "pck",
"features" and "backbone" (`pf_willow_validation.Validation.score`); a mixed-view set is a fold of its own and is
never chosen on.
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.core.errors import InputError
from convcorr_eval.long2014.pf_willow_protocol import is_mixed, mixed_parts


def best(rows: list[dict]) -> tuple[dict, dict[str, dict]]:
    """(the row with the highest mean PCK@0.1, the best row per backbone among the CNN rows); ties: the first."""
    top = max(rows, key=lambda r: r["pck"]["0.1"])
    per: dict[str, dict] = {}
    for r in rows:
        if r["features"] == "cnn" and (r["backbone"] not in per or r["pck"]["0.1"] > per[r["backbone"]]["pck"]["0.1"]):
            per[r["backbone"]] = r
    return top, per


def worst(r: dict) -> tuple[str, float]:
    """(the sub-class with the lowest PCK@0.1 of row `r`, that PCK), mixed-view sets not counted; ties: the first
    in sub-class order."""
    return min(((k, v) for k, v in r["per_class"].items() if not is_mixed(k)), key=lambda kv: kv[1])


def fold_keys(keys: list[str]) -> list[str]:
    """The folds of a leave-one-out over per-class keys: the sub-classes in order, then the mixed-view sets."""
    return [k for k in keys if not is_mixed(k)] + [k for k in keys if is_mixed(k)]


def chosen_on(c: str, keys: list[str]) -> list[str]:
    """The sub-classes fold `c` chooses its row on: every sub-class but c, or, for a mixed-view set "A+B", every
    sub-class but A and B (mixed-view sets are never chosen on)."""
    subs = [k for k in keys if not is_mixed(k)]
    out = set(mixed_parts(c, subs)) if is_mixed(c) else {c}
    return [k for k in subs if k not in out]


def leave_one_out(rows: list[dict], allowed: dict[str, list[int]] | None = None) -> list[dict]:
    """Leave-one-sub-class-out selection over `rows` (each with "per_class": {sub-class: PCK@0.1}).

    For each sub-class c in turn: the row with the highest mean PCK@0.1 over the other sub-classes (ties: the
    first row), and that row's PCK@0.1 on c, which played no part in choosing it. A mixed-view set "A+B"
    (`pf_willow_validation.Config.mixed`) is never chosen on: it is one more fold, its row chosen on the sub-classes
    other than A and B.

    Args:
        rows: scored rows (`pf_willow_validation.Validation.score`), every one over the same sub-classes (at least 2).
        allowed: {sub-class or mixed set: the row indices its fold chooses among} (None: every row).

    Returns:
        One dict per left-out sub-class, in sub-class order, then one per mixed-view set: {"left_out": c, "row":
        index into `rows`, "train": the chosen row's mean over the sub-classes it was chosen on, "score": its
        PCK@0.1 on c}.
    """
    keys = list(rows[0]["per_class"])
    if len(fold_keys(keys)) < 2 or any(list(r["per_class"]) != keys for r in rows):
        raise InputError("leave_one_out", "rows", "the same 2 or more sub-classes in every row's per_class",
                         [list(r["per_class"]) for r in rows])
    out = []
    for c in fold_keys(keys):
        train = [float(np.mean([r["per_class"][o] for o in chosen_on(c, keys)])) for r in rows]
        ok = range(len(rows)) if allowed is None else allowed[c]
        i = max(ok, key=lambda k: (train[k], -k))
        out.append({"left_out": c, "row": i, "train": train[i], "score": float(rows[i]["per_class"][c])})
    return out
