"""Where the library keeps caches and where it looks for the real annotation files."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Cache root for weights, generated datasets and features: $CONVCORR_CACHE or ~/.cache/convcorr_jax (also when
    CONVCORR_CACHE is set to "": an empty value never means the working directory).

    Args:
      *parts: sub-folder names below the root (none: the root itself).

    Returns:
      Path of the folder, created (with its parents) if missing.
    """
    root = Path(os.environ.get("CONVCORR_CACHE") or Path.home() / ".cache" / "convcorr_jax")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def real_data_root() -> Path | None:
    """Folder of real annotation files: $CONVCORR_REAL_DATA, else `shared/data/real` beside the repository.

    Returns:
      Path of the first of the two that is a folder, or None when neither exists (a user's machine without the
      bundled annotation files).
    """
    env = os.environ.get("CONVCORR_REAL_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "data" / "real")
    for c in candidates:
        if c.is_dir():
            return c
    return None
