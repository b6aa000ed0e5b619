"""Reproducibility header for every table script (config, seed, versions, device and wall time), and the schema of
a run folder's metrics.json (`metrics_record`, numbers rounded by `rounded`; read back by `read_run_record`).

Every JSON file the project writes is standard JSON (`io.write_json`): a NaN or infinite number is written as null,
since the bare NaN / Infinity that `json.dumps` writes is refused by strict parsers (jq, JavaScript). A metrics.json
keeps which numbers those nulls were ("nonfinite": JSON Pointer -> "NaN", "Infinity" or "-Infinity"), so that
`read_run_record` gives back the NaN a score with nothing to average had (files of older versions, holding the bare
constants, read as they are)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import subprocess
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

_PACKAGES = ("convcorr-jax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scipy", "scikit-learn")


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide numerical results.

    Returns:
      {"python": version, then each of convcorr-jax, jax, jaxlib, flax, optax, orbax-checkpoint, numpy, scipy,
      scikit-learn: its version or "not installed"}.
    """
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def package_version() -> str:
    """The installed version of convcorr-jax, with the git commit (short hash, "+dirty" for uncommitted changes)
    when the package is imported from a git checkout.

    Returns:
      A str: "0.1.0" or "0.1.0 (git 1a2b3c4d)" ("unknown (not installed)" when the distribution is not installed;
      no git part when git cannot be run).
    """
    try:
        version = metadata.version("convcorr-jax")
    except metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return version
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run([*git, "rev-parse", "--short=8", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # no git, or not a repository git can read
        return version
    return f"{version} (git {commit}{'+dirty' if dirty else ''})"


def devices() -> str:
    """'N x KIND (backend)' of the JAX devices.

    Returns:
      A str, e.g. "1 x cpu (cpu)": the device count, the first device's kind and the default backend.
    """
    import jax

    devs = jax.devices()
    return f"{len(devs)} x {devs[0].device_kind} ({jax.default_backend()})"


def machine() -> str:
    """This machine in words, for a results file that says where its numbers come from.

    Returns:
      A str, e.g. "2 CPU cores (x86_64), JAX devices 1 x cpu (cpu)": `os.cpu_count`, `platform.machine` and
      `devices`.
    """
    return f"{os.cpu_count()} CPU cores ({platform.machine()}), JAX devices {devices()}"


def _config_dict(config: Any) -> dict:
    """A config (dataclass or mapping) as a plain dict.

    Args:
      config: a dataclass instance or a mapping.

    Returns:
      dict (`dataclasses.asdict` for a dataclass, else `dict(config)`).
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return dict(config)


def header(title: str, config: Any = None, seed: int | None = None, recorded: Mapping[str, Any] | None = None) -> str:
    """A block of text stating what ran: title, config, seed, versions, devices.

    Args:
      title: the first line, "== title ==".
      config: a dataclass or mapping (one JSON line, keys sorted), or None: no config line.
      seed: the seed, or None: no seed line.
      recorded: the "versions" and "devices" an earlier run recorded (a metrics.json, `metrics_record`), shown
        instead of today's ("not recorded" where it has none); None: today's (`versions`, `devices`).

    Returns:
      The lines joined by newlines (no trailing newline).
    """
    lines = [f"== {title} =="]
    if config is not None:
        lines.append("config: " + json.dumps(_config_dict(config), sort_keys=True, default=str))
    if seed is not None:
        lines.append(f"seed: {seed}")
    vers = versions() if recorded is None else recorded.get("versions")
    order = {k: i for i, k in enumerate(("python", *_PACKAGES))}  # a record's keys come back sorted: today's order
    shown = ", ".join(f"{k} {v}" for k, v in sorted(vers.items(), key=lambda kv: order.get(kv[0], len(order)))) \
        if isinstance(vers, Mapping) else "not recorded"
    lines.append(f"versions: {shown}")
    lines.append(f"devices: {devices() if recorded is None else recorded.get('devices') or 'not recorded'}")
    return "\n".join(lines)


@contextmanager
def timed(label: str = "wall time") -> Iterator[dict]:
    """Context manager that measures wall time: `info['seconds']` is set on exit (the caller reports it).

    Args:
      label: a name for the measurement (not used by the function).

    Returns:
      A context manager yielding the dict `info`, whose "seconds" (float, `time.perf_counter`) is set on exit.
    """
    info: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield info
    finally:
        info["seconds"] = time.perf_counter() - t0


SIGNIFICANT_DIGITS = 6  # numbers in metrics.json and a command's JSON output: 0.67, not 0.6700000000000002


def rounded(value: Any, digits: int | None = SIGNIFICANT_DIGITS, nonfinite_null: bool = False) -> Any:
    """`value` with every float (numpy scalars and arrays too) rounded to `digits` significant digits, in nested
    dicts, lists, tuples and dataclasses (tuples become lists, dataclasses dicts); NaN and infinities unchanged (or
    None), ints and text as they are.

    Args:
      value: any JSON-like value, numpy scalars and arrays included.
      digits: significant digits kept; None: floats kept as they are.
      nonfinite_null: NaN and infinities become None (JSON null: `json.dumps` would write the bare NaN or Infinity
        that strict JSON parsers refuse); False keeps them.

    Returns:
      A new value of plain Python types (numpy arrays become nested lists).
    """
    if isinstance(value, dict):
        return {k: rounded(v, digits, nonfinite_null) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits, nonfinite_null) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return rounded(value.tolist(), digits, nonfinite_null)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return rounded(dataclasses.asdict(value), digits, nonfinite_null)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value) if digits is None else float(f"{value:.{digits}g}")
        return None if nonfinite_null else value
    return value


NONFINITE = "nonfinite"  # metrics.json: JSON Pointer -> "NaN" / "Infinity" / "-Infinity" of each number written null


def _nonfinite(value: Any, at: str = "") -> dict[str, str]:
    """JSON Pointer (RFC 6901) -> "NaN", "Infinity" or "-Infinity" of every non-finite float in `value`."""
    if isinstance(value, dict):
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    elif isinstance(value, float) and not math.isfinite(value):
        return {at: "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"}
    else:
        return {}
    return {p: w for k, v in items for p, w in _nonfinite(v, f"{at}/{k.replace('~', '~0').replace('/', '~1')}").items()}


def _restore_nonfinite(record: Any) -> Any:
    """`record` (a parsed metrics.json) with each number its "nonfinite" list names as null turned back into that
    number (NaN, inf or -inf), and "nonfinite" removed; a pointer that leads to no null is passed over.

    Args:
      record: the parsed JSON value (changed in place when it is a dict holding "nonfinite").

    Returns:
      `record`.
    """
    marks = record.pop(NONFINITE, None) if isinstance(record, dict) else None
    for pointer, number in (marks.items() if isinstance(marks, dict) else ()):
        *parents, leaf = [t.replace("~1", "/").replace("~0", "~") for t in str(pointer).split("/")[1:]] or [""]
        node: Any = record
        try:
            for token in parents:
                node = node[int(token) if isinstance(node, list) else token]
            key = int(leaf) if isinstance(node, list) else leaf
            if node[key] is None and number in ("NaN", "Infinity", "-Infinity"):
                node[key] = float(number)
        except (KeyError, IndexError, TypeError, ValueError):  # not a pointer of this record: left as it is
            continue
    return record


def read_run_record(path: str | os.PathLike) -> Any:
    """A run folder's metrics.json as it was recorded: the JSON value with its non-finite numbers given back
    (`_restore_nonfinite`: a NaN score is NaN, not None); a file of an older version holding bare NaN / Infinity
    reads as well.

    Args:
      path: the JSON file.

    Returns:
      The parsed value.

    Raises:
      OSError: the file cannot be read. ValueError: it is not JSON.
    """
    return _restore_nonfinite(json.loads(Path(path).read_text()))


def score_about(normaliser: str, alpha: float | Sequence[float], unit: str = "fraction in [0, 1]",
                **more: Any) -> dict:
    """What a PCK-like score in a run's JSON is, written beside it.

    Args:
      normaliser: what distances are divided by (e.g. "target keypoint box", "torso", "head segment", "object
        box").
      alpha: one threshold, or several.
      unit: the score's unit.
      **more: any other notes (e.g. what a mean is over).

    Returns:
      {"unit", "normaliser", "alpha" (one) or "alphas" (a list of several), and the keys of `more`}.
    """
    which = {"alpha": alpha} if isinstance(alpha, (int, float)) else {"alphas": list(alpha)}
    return {"unit": unit, "normaliser": normaliser, **which, **more}


def metrics_record(key: dict, finished: bool, seconds: float, summary: str, markdown: str = "",
                   metrics: dict | None = None) -> dict:
    """The one schema of a run folder's `metrics.json` (experiments, `convcorr_eval.runner`; training,
    `convcorr_jax.pose.training.loop`); read it back with `read_run_record`.

        {"key": {"kind", "settings", "version" (code version, `cache.code_version`)[, "data"]},
         "status": "ok" | "running", "seconds", "summary", "markdown", "metrics", "versions", "devices"
         [, "nonfinite": {JSON Pointer: "NaN" | "Infinity" | "-Infinity"}]}

    `io.write_json` writes each NaN or infinite number as null; "nonfinite" (only where there is one) says which
    number each such null was.

    Args:
      key: as `cache.key` builds it (kept exact: a later run compares it).
      finished: True gives status "ok", False "running".
      seconds: wall time of the run.
      summary, markdown: one-line and Markdown reports.
      metrics: the results (None: {}).

    Returns:
      The record dict: every number of seconds, summary, markdown and metrics rounded to `SIGNIFICANT_DIGITS`
      significant digits (`rounded`); "versions" the installed packages (`versions`), "devices" the JAX devices
      (`devices`); "nonfinite" the pointers of its NaN and infinite numbers, where it has any.
    """
    record = {"key": key, "status": "ok" if finished else "running",
              **rounded({"seconds": seconds, "summary": summary, "markdown": markdown, "metrics": metrics or {}}),
              "versions": versions(), "devices": devices()}
    marks = _nonfinite(record)
    return {**record, NONFINITE: marks} if marks else record
