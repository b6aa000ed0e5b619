"""Reproducibility header for every table script: config, seed, versions, device and wall time."""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Iterator

_PACKAGES = ("convcorr-jax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "scipy", "scikit-learn")


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide numerical results."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def devices() -> str:
    import jax

    devs = jax.devices()
    return f"{len(devs)} x {devs[0].device_kind} ({jax.default_backend()})"


def config_dict(config: Any) -> dict:
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def header(title: str, config: Any = None, seed: int | None = None) -> str:
    """A block of text stating what ran: title, config, seed, versions, devices."""
    lines = [f"== {title} =="]
    if config is not None:
        lines.append("config: " + json.dumps(config_dict(config), sort_keys=True, default=str))
    if seed is not None:
        lines.append(f"seed: {seed}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    lines.append(f"devices: {devices()}")
    return "\n".join(lines)


@contextmanager
def timed(label: str = "wall time") -> Iterator[dict]:
    """Context manager that measures wall time: `info['seconds']` is set on exit (the caller reports it)."""
    info: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield info
    finally:
        info["seconds"] = time.perf_counter() - t0
