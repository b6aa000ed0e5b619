"""One cache for every artefact: key = (what it is, its settings, the code version of what produced it).

    path = cache.cached("synthetic-objects", {"n": 400, "seed": 0}, cache.code_version("convcorr_jax.data"),
                        build=lambda tmp: write_dataset(tmp))

An entry is a folder `<cache root>/<kind>/<digest>/` holding the artefact, `KEY.json` and `SUMS.json` (size and sha256
of every file of the artefact). It is built in a temporary folder and renamed into place, so a killed build leaves no
entry (its temporary folder, `staging.make`'s, is removed by the next build of the entry); an entry whose `KEY.json`
differs from the key asked for (another version of the code, other settings) is never reused; an entry whose files no
longer match `SUMS.json` (cut short, changed, missing: a full disk, a damaged file) is built again, with one warning
line on this module's logger. `code_version` hashes the source files of the producing packages, so any change to that
code makes a new entry.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from convcorr_jax.core import staging
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.io import sha256_file
from convcorr_jax.core.paths import CACHE_ENV, cache_dir

KEY_FILE = "KEY.json"
SUMS_FILE = "SUMS.json"

log = logging.getLogger(__name__)


@functools.cache
def code_version(*modules: str) -> str:
    """sha256 (16 hex) over the source of the given modules or packages (every .py file below a package).

    Memoised per process (`functools.cache`): edits made after the first call are not seen.

    Args:
      *modules: importable module or package names (order does not matter).

    Returns:
      16 lowercase hex digits.

    Raises:
      ModuleNotFoundError: a name that cannot be found.
    """
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
            assert spec.origin is not None  # a module with neither a file nor a folder was refused above
            files, base = [Path(spec.origin)], Path(spec.origin).parent
        for f in files:
            h.update(f"{name}:{f.relative_to(base).as_posix()}\n".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def digest(obj: Any, length: int = 16) -> str:
    """sha256 (the first `length` hex digits) of `obj` as sorted-key JSON (values JSON cannot hold as their str):
    the one content hash of cache entries, run keys and training fingerprints.

    Args:
      obj: any JSON-like value.
      length: hex digits kept (at most 64).

    Returns:
      `length` lowercase hex digits.
    """
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def arrays_digest(arrays: Iterable[Any], prefix: bytes = b"") -> str:
    """sha256 (64 hex digits) of `prefix` and then each array's dtype, shape and bytes, in order: the content hash
    of arrays (training data, parameters, images) where `digest`'s JSON would not hold them.

    Args:
      arrays: array-likes (NumPy or JAX), hashed in C order.
      prefix: bytes hashed first (e.g. a tree's structure).

    Returns:
      64 lowercase hex digits.
    """
    h = hashlib.sha256(prefix)
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data.cast("B"))
    return h.hexdigest()



def file_stamp(path: str | os.PathLike, missing_ok: bool = True) -> tuple[int, int] | None:
    """(size, modification time) of a file, links followed: what identifies the version of a file in a cache key
    without reading it (the time in nanoseconds: a rewrite within the same second changes it too).

    Args:
      path: a file (a folder gives its own entry's size and time, not its contents').
      missing_ok: True: None for a path that cannot be read (absent, a dangling link); False: its OSError is raised.

    Returns:
      (size in bytes, modification time in ns since the epoch), or None (missing_ok) for a path that cannot be read.

    Raises:
      OSError: the path cannot be read and missing_ok is False (FileNotFoundError for an absent one).
    """
    try:
        st = os.stat(path)
    except OSError:
        if missing_ok:
            return None
        raise
    return st.st_size, st.st_mtime_ns

def key(kind: str, settings: Mapping[str, Any], version: str) -> dict:
    """The full key of an entry, as stored in its KEY.json.

    Args:
      kind: what the artefact is (e.g. "synthetic-objects").
      settings: the settings that produced it.
      version: the producing code's version (`code_version`).

    Returns:
      {"kind", "settings", "version"} after a JSON round trip (tuples become lists, other values JSON cannot hold
      their str).
    """
    return json.loads(json.dumps({"kind": kind, "settings": settings, "version": version}, sort_keys=True,
                                 default=str))


def entry_path(kind: str, settings: Mapping[str, Any], version: str) -> Path:
    """Where the entry for this key lives (whether or not it exists yet).

    Args:
      kind, settings, version: the key (`key`).

    Returns:
      `<cache root>/<kind>/<digest>`, the digest 20 hex digits of the key.
    """
    return cache_dir(kind) / digest(key(kind, settings, version), 20)


def _file_sums(folder: Path) -> dict[str, list]:
    """{relative path: [size in bytes, sha256 hex]} of every file below `folder` but KEY.json and SUMS.json.

    Args:
      folder: the entry (or build) folder.

    Returns:
      dict keyed by POSIX paths relative to folder, in sorted order.
    """
    out = {}
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = f.relative_to(folder).as_posix()
        if rel in (KEY_FILE, SUMS_FILE):
            continue
        out[rel] = [f.stat().st_size, sha256_file(f)]
    return out


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _is_valid(path: Path, kind: str, settings: Mapping[str, Any], version: str) -> bool:
    """True if `path` is a complete entry for exactly this key whose files match its SUMS.json.

    Args:
      path: an entry folder.
      kind, settings, version: the key it should hold (`key`).

    Returns:
      bool.
    """
    return _check(Path(path), key(kind, settings, version)) is None


def _check(path: Path, want: dict) -> str | None:
    """None for a complete, intact entry of key `want`; else what is wrong ("missing", "other key", "unchecked":
    no SUMS.json, or the damage found)."""
    if _read_json(path / KEY_FILE) != want:
        return "missing" if not path.exists() else "other key"
    if not (path / SUMS_FILE).exists():
        return "unchecked"  # written before entries carried checksums
    sums = _read_json(path / SUMS_FILE)
    if not isinstance(sums, dict):
        return f"{SUMS_FILE} unreadable"
    have = _file_sums(path)
    for rel in sorted(set(sums) | set(have)):
        if rel not in have:
            return f"{rel} missing"
        if rel not in sums:
            return f"{rel} not part of the entry"
        if list(have[rel]) != list(sums[rel]):
            return f"{rel} changed ({have[rel][0]} bytes, expected {sums[rel][0]})"
    return None


def cached(kind: str, settings: Mapping[str, Any], version: str, build: Callable[[Path], Any]) -> Path:
    """The entry folder for (kind, settings, version), built by `build(folder)` first if it is missing, stale or
    damaged (its files checked against SUMS.json on every call; a damaged entry is reported in one warning line).

    Args:
      kind, settings, version: the key (`key`).
      build: writes the artefact into the empty temporary folder it is given; its return value is ignored.

    Returns:
      Path of the complete entry (`entry_path`).

    Raises:
      InputError: the cache cannot take the entry (full, read-only), in one line naming its folder and CONVCORR_CACHE;
        other errors of `build` propagate.
    """
    path = entry_path(kind, settings, version)
    want = key(kind, settings, version)
    problem = _check(path, want)
    if problem is None:
        return path
    if problem == "unchecked":
        log.warning("cache entry %s (%s) has no %s (an older version wrote it); building it again", path, kind,
                    SUMS_FILE)
    elif problem not in ("missing", "other key"):
        log.warning("cache entry %s (%s) is damaged: %s; building it again", path, kind, problem)
    try:
        _build(path, want, build)
    except OSError as e:
        if not _cache_failure(e, path.parent):
            raise
        raise InputError(path.parent, CACHE_ENV, f"a writable cache folder with free space for the {kind} entry "
                         "(free some space, or set CONVCORR_CACHE to another folder)",
                         e.strerror or type(e).__name__) from None
    return path


# errors of a cache that cannot take an entry, whichever file the build was writing
_FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def _cache_failure(e: OSError, folder: Path) -> bool:
    """Whether `e` is the cache's own failure (full, read-only, a path below `folder` that cannot be written) rather
    than one of the build's inputs."""
    name = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes, os.PathLike)) else ""
    return e.errno in _FULL_OR_READ_ONLY or bool(name) and Path(os.path.abspath(name)).is_relative_to(folder)


def _build(path: Path, want: dict, build: Callable[[Path], Any]) -> None:
    """Build the entry `path` of key `want` in a staging folder beside it and rename it into place (a concurrent
    builder's finished entry kept)."""
    tmp = staging.make(path)  # and removes the folders of killed builds of this entry
    try:
        build(tmp)
        (tmp / SUMS_FILE).write_text(json.dumps(_file_sums(tmp), indent=1, sort_keys=True) + "\n")
        (tmp / KEY_FILE).write_text(json.dumps(want, indent=1, sort_keys=True) + "\n")
        if _check(path, want) is None:  # a concurrent builder finished first: keep its entry
            return
        if path.exists():  # a stale or broken entry under this digest: replace it
            shutil.rmtree(path, ignore_errors=True)
        try:
            os.replace(tmp, path)
        except OSError:
            if _check(path, want) is not None:  # not a concurrent builder's finished entry
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
