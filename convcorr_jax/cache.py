"""One cache for every artefact: key = (what it is, its settings, the code version of what produced it).

    path = cache.cached("synthetic-objects", {"n": 400, "seed": 0}, cache.code_version("convcorr_jax.data"),
                        build=lambda tmp: write_dataset(tmp))

An entry is a folder `<cache root>/<kind>/<digest>/` holding the artefact and `KEY.json`. It is built in a temporary
folder and renamed into place, so a killed build leaves no entry; an entry whose `KEY.json` differs from the key
asked for (another version of the code, other settings) is never reused. `code_version` hashes the source files
of the producing packages, so any change to that code makes a new entry.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

from convcorr_jax.paths import cache_dir

KEY_FILE = "KEY.json"


@functools.cache
def code_version(*modules: str) -> str:
    """sha256 (16 hex) over the source of the given modules or packages (every .py file below a package)."""
    h = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None and not spec.submodule_search_locations:
            raise ModuleNotFoundError(name)
        if spec.submodule_search_locations:  # a package: all of its files
            roots = [Path(p) for p in spec.submodule_search_locations]
            files = sorted(f for r in roots for f in r.rglob("*.py"))
            base = roots[0]
        else:
            files, base = [Path(spec.origin)], Path(spec.origin).parent
        for f in files:
            h.update(f"{name}:{f.relative_to(base).as_posix()}\n".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def digest(obj: Any, length: int = 16) -> str:
    """sha256 (the first `length` hex digits) of `obj` as sorted-key JSON (values JSON cannot hold as their str):
    the one content hash of cache entries, run keys and training fingerprints."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def key(kind: str, settings: Mapping[str, Any], version: str) -> dict:
    """The full key of an entry, as stored in its KEY.json."""
    return json.loads(json.dumps({"kind": kind, "settings": settings, "version": version}, sort_keys=True,
                                 default=str))


def entry_path(kind: str, settings: Mapping[str, Any], version: str) -> Path:
    """Where the entry for this key lives (whether or not it exists yet)."""
    return cache_dir(kind) / digest(key(kind, settings, version), 20)


def is_valid(path: Path, kind: str, settings: Mapping[str, Any], version: str) -> bool:
    """True if `path` is a complete entry for exactly this key."""
    f = Path(path) / KEY_FILE
    try:
        return json.loads(f.read_text()) == key(kind, settings, version)
    except (OSError, ValueError):
        return False


def cached(kind: str, settings: Mapping[str, Any], version: str, build: Callable[[Path], Any]) -> Path:
    """The entry folder for (kind, settings, version), built by `build(folder)` first if it is missing or stale."""
    path = entry_path(kind, settings, version)
    if is_valid(path, kind, settings, version):
        return path
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        (tmp / KEY_FILE).write_text(json.dumps(key(kind, settings, version), indent=1, sort_keys=True) + "\n")
        if is_valid(path, kind, settings, version):  # a concurrent builder finished first: keep its entry
            return path
        if path.exists():  # a stale or broken entry under this digest: replace it
            shutil.rmtree(path, ignore_errors=True)
        try:
            os.replace(tmp, path)
        except OSError:
            if not is_valid(path, kind, settings, version):  # not a concurrent builder's finished entry
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
