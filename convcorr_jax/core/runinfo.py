"""Reproducibility header for every table script (config, seed, versions, device and wall time), and the schema of
a run folder's metrics.json (`metrics_record`, numbers rounded by `rounded`)."""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import subprocess
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Sequence

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


def _config_dict(config: Any) -> dict:
    """A config (dataclass or mapping) as a plain dict.

    Args:
      config: a dataclass instance or a mapping.

    Returns:
      dict (`dataclasses.asdict` for a dataclass, else `dict(config)`).
    """
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def header(title: str, config: Any = None, seed: int | None = None) -> str:
    """A block of text stating what ran: title, config, seed, versions, devices.

    Args:
      title: the first line, "== title ==".
      config: a dataclass or mapping (one JSON line, keys sorted), or None: no config line.
      seed: the seed, or None: no seed line.

    Returns:
      The lines joined by newlines (no trailing newline).
    """
    lines = [f"== {title} =="]
    if config is not None:
        lines.append("config: " + json.dumps(_config_dict(config), sort_keys=True, default=str))
    if seed is not None:
        lines.append(f"seed: {seed}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    lines.append(f"devices: {devices()}")
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


def rounded(value: Any, digits: int = SIGNIFICANT_DIGITS, nonfinite_null: bool = False) -> Any:
    """`value` with every float (numpy scalars and arrays too) rounded to `digits` significant digits, in nested
    dicts, lists and tuples (tuples become lists); NaN and infinities unchanged (or None), ints and text as they are.

    Args:
      value: any JSON-like value, numpy scalars and arrays included.
      digits: significant digits kept.
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
    if isinstance(value, float):
        if math.isfinite(value):
            return float(f"{value:.{digits}g}")
        return None if nonfinite_null else value
    return value


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
    `convcorr_jax.pose.training.loop`).

        {"key": {"kind", "settings", "version" (code version, `cache.code_version`)[, "data"]},
         "status": "ok" | "running", "seconds", "summary", "markdown", "metrics", "versions"}

    Args:
      key: as `cache.key` builds it (kept exact: a later run compares it).
      finished: True gives status "ok", False "running".
      seconds: wall time of the run.
      summary, markdown: one-line and Markdown reports.
      metrics: the results (None: {}).

    Returns:
      The record dict: every number of seconds, summary, markdown and metrics rounded to `SIGNIFICANT_DIGITS`
      significant digits (`rounded`); "versions" the installed packages (`versions`).
    """
    return {"key": key, "status": "ok" if finished else "running",
            **rounded({"seconds": seconds, "summary": summary, "markdown": markdown, "metrics": metrics or {}}),
            "versions": versions()}
