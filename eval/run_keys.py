"""What a run is and how two runs compare: the run key of one experiment with one config (`run_key`), the paths it
reads (`data_paths`, `places`) and the key as runs compare it (`located`); `runner` keeps, runs again or refuses a
run folder by them.

A run's key is (experiment, config, code version, data): the data is the fingerprint of the files under
`cfg.data_root` (`io.folder_fingerprint`: relative paths, sizes and modification times; none for synthetic data). A
data path counts by the folder it leads to, not by how it was written (`located`: FLIC, ./FLIC/ and its absolute
path, or a link to it, are one run; only a digest of the real path is recorded, as "where"); so does every other
path it reads, its `data_paths` and the config fields its `path_fields(cfg)` names (a scored model's folder: `--set
model=` spelled another way is the same run; a run recorded before a field was is compared by where its value leads
from here, and run again in place where that differs, never refused for it: `unrecorded_fields`). An experiment's
`data_paths(cfg)` names the files it reads (fingerprinted) and its `path_fields(cfg)` the config fields naming other
paths it reads ({field: path}; compared by where they lead, not fingerprinted).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from convcorr_jax.core import cache, io
from convcorr_jax.core.config import to_dict
from convcorr_eval import registry
from convcorr_eval.experiment import ExperimentConfig


def code_version() -> str:
    """Version of everything an experiment's numbers can depend on: the library and the experiments."""
    return cache.code_version("convcorr_jax", "convcorr_eval")


def data_paths(exp_id: str, cfg: ExperimentConfig) -> dict[str, str]:
    """The files and folders a run reads, by config field: the experiment's `data_paths(cfg)` where it defines one
    (files outside data_root, such as an annotation file), else {"data_root": cfg.data_root} when that is set; and
    "weights" for a weight file given as `weights` (the named pretrained weights are verified by their sha256)."""
    own = getattr(registry.load(exp_id), "data_paths", None)
    if own is not None:
        paths = {k: v for k, v in own(cfg).items() if v is not None}
    else:
        paths = {} if cfg.data_root is None else {"data_root": cfg.data_root}
    if cfg.weights not in (None, "random") and Path(cfg.weights).exists():  # a weight file of the user's
        paths["weights"] = cfg.weights
    return paths


def path_identity(path: str | os.PathLike) -> str:
    """Where a data path leads, as a run's identity holds it: a digest of its real absolute path (`os.path.realpath`),
    the same for a folder named relatively or absolutely, with a trailing slash or through a link; the path itself is
    not recorded.

    Args:
        path: a file or folder path, as given.

    Returns:
        16 hex digits.
    """
    return cache.digest(os.path.realpath(path))


def places(exp_id: str, cfg: ExperimentConfig) -> dict[str, str]:
    """Every file or folder a run reads, by field, as runs compare them (by where they lead, `path_identity`): its
    `data_paths`, data_root, and the config fields the experiment's `path_fields(cfg)` names (a scored model's
    folder: read, its content identified otherwise, so not fingerprinted), each where it is set.

    Args:
        exp_id: the experiment id.
        cfg: the run's config.

    Returns:
        {field: path as given}.
    """
    own = getattr(registry.load(exp_id), "path_fields", None)
    fields = {k: str(v) for k, v in (own(cfg) if own is not None else {}).items() if v is not None}
    return {**fields, **data_paths(exp_id, cfg), **({"data_root": cfg.data_root} if cfg.data_root else {})}


def run_key(exp_id: str, cfg: ExperimentConfig) -> dict:
    """{"kind": experiment, "settings": config, "version": code version} and, where the run reads real data,
    "data": {field: {"path", "files", "bytes", "digest"}} for each of its `data_paths` (`io.folder_fingerprint`),
    so a run on changed data runs again; "where": {field: `path_identity`} of every path it reads (`places`: those,
    data_root and the experiment's `path_fields`; the paths as given are kept for people to read; runs compare them
    by where they lead: `located`)."""
    key = cache.key(exp_id, to_dict(cfg), code_version())
    paths = data_paths(exp_id, cfg)
    where = places(exp_id, cfg)
    if paths:
        key["data"] = {field: {"path": str(p), **io.folder_fingerprint(p)} for field, p in sorted(paths.items())}
    if where:
        key["where"] = {field: path_identity(p) for field, p in sorted(where.items())}
    return key


def located(key: dict, unrecorded: Sequence[str] = ()) -> dict:
    """A run key as runs compare it: each data path by where it leads (the settings' value of each field in
    "where" replaced by its `path_identity`, the data's "path"s left out), so one folder written two ways is one run.

    Args:
        key: a run key (`run_key`; one without "where" is compared as it is).
        unrecorded: path fields a key written before they were recorded lacks in its "where"
            (`unrecorded_fields`): each placed by where its recorded value leads from here, when it is a path.

    Returns:
        the key to compare.
    """
    settings = key.get("settings") or {}
    where = {**{f: path_identity(settings[f]) for f in unrecorded if isinstance(settings.get(f), str)},
             **(key.get("where") or {})}
    if not where:
        return key
    settings = {k: where.get(k, v) for k, v in settings.items()}
    data = {f: {k: v for k, v in d.items() if k != "path"} for f, d in (key.get("data") or {}).items()}
    return {**key, "settings": settings, "data": data, "where": where}


def unrecorded_fields(prev: dict, key: dict) -> list[str]:
    """The settings `key` compares by where they lead ("where") that the finished run's key `prev`, written before
    they were recorded, holds only as written: compared by where that leads from here (`located`), and a difference
    in them runs the run again in place, never refused as other settings.

    Args:
        prev: the finished run's key (its metrics.json "key").
        key: the key of the run asked for (`run_key`).

    Returns:
        the field names, sorted.
    """
    recorded = prev.get("where") or {}
    return sorted(f for f in key.get("where") or {} if f not in recorded and f in (prev.get("settings") or {}))


def _changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """`field: old -> new` for every leaf that differs between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [c for k in sorted(set(old) | set(new)) for c in _changes(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [f"{prefix[:-1] or 'experiment'}: {json.dumps(old)} -> {json.dumps(new)}"]


def setting_changes(prev: dict, key: dict, unrecorded: Sequence[str] = ()) -> list[str]:
    """`field: old -> new` of each setting in which two run keys differ as runs compare them (`located`), shown
    as written (a path that leads elsewhere although written alike: its `where` digests); the `unrecorded` fields
    (`unrecorded_fields`) left out.

    Args:
        prev: the finished run's key.
        key: the key of the run asked for (`run_key`).
        unrecorded: the fields `prev` holds only as written (`unrecorded_fields`).

    Returns:
        one "field: old -> new" line per setting ("experiment" for the experiment's id).
    """
    def head(k: dict) -> dict:
        return {"experiment": k.get("kind"), **(k.get("settings") or {})}

    shown = {c.split(": ", 1)[0]: c for c in _changes(head(prev), head(key))}
    changed = _changes(head(located(prev, unrecorded)), head(located(key)))
    return [shown.get(f, c) for c in changed if (f := c.split(": ", 1)[0]) not in unrecorded]


def why_again(prev: dict, key: dict, unrecorded: Sequence[str]) -> str:
    """Why a finished run (key `prev`) with the settings of `key` runs again: the code, the data it reads (as runs
    compare them, `located`), where a file it reads lies, or where a path leads that the finished run did not record
    (`unrecorded`, `unrecorded_fields`).

    Args:
        prev: the finished run's key.
        key: the key of the run asked for, with the settings of `prev` (`run_key`).
        unrecorded: the fields `prev` holds only as written (`unrecorded_fields`).

    Returns:
        the reason, one line without a full stop.
    """
    old, new = located(prev, unrecorded), located(key)
    what = [w for w, same in (("the code", prev.get("version") == key["version"]),
                              ("the data it reads", old.get("data") == new.get("data"))) if not same]
    here, there = old.get("where") or {}, new.get("where") or {}
    moved = sorted(f for f in set(here) | set(there) if here.get(f) != there.get(f))
    what += [f"where its {f} lies" for f in moved if f not in unrecorded]
    said = [f"{' and '.join(what)} changed since its finished run"] if what else []
    unsure = [f for f in moved if f in unrecorded]
    said += [f"its finished run did not record where {', '.join(unsure)} led"] if unsure else []
    return "; ".join(said) or "its finished run differs"
