"""JAX's persistent compilation cache for library users and commands alike.

    import convcorr_jax
    convcorr_jax.enable_compile_cache()      # <cache>/jax; <cache> = $CONVCORR_CACHE or ~/.cache/convcorr_jax

Every compiled program is kept, whatever its compile time and size (CPU compiles take well under a second each,
below JAX's default thresholds), so a new process loads the programs an earlier one compiled instead of compiling
them again. What the cache cannot save is tracing and lowering to StableHLO: those run in every process
(bench/RESULTS.md measures both parts).

A cache folder already set (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is kept; `CONVCORR_NO_COMPILE_CACHE=1`
turns the cache off.
"""

from __future__ import annotations

import os
from pathlib import Path

from convcorr_jax.core.errors import InputError
from convcorr_jax.core.paths import cache_dir

NO_COMPILE_CACHE = "CONVCORR_NO_COMPILE_CACHE"


def enable_compile_cache(path: str | os.PathLike | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache in `path` (None: `<cache>/jax`, or the folder JAX already has).

    Call it before the first jit-compiled call of the process; calling it again is harmless. Process-wide and not
    undone: it sets JAX's `jax_compilation_cache_dir` (unless a folder is set already and `path` is None),
    `jax_persistent_cache_min_compile_time_secs` (0) and `jax_persistent_cache_min_entry_size_bytes` (-1) in
    `jax.config` for every later compile of the program, its own and other libraries'.

    Args:
      path: the cache folder (created if missing), or None.

    Returns:
      The cache folder as a str, or None when `CONVCORR_NO_COMPILE_CACHE` is set to anything but "" or "0".

    Raises:
      InputError: the folder cannot be made (a file on the way, no permission) or written (read-only), naming it.
    """
    if os.environ.get(NO_COMPILE_CACHE, "") not in ("", "0"):
        return None
    import jax

    configured = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]  # a flag set at run time
    if path is None and configured:
        folder = configured
    else:
        folder = str(Path(path)) if path is not None else str(cache_dir("jax"))
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a file on the way (FileExistsError, NotADirectoryError), no permission, no space
            raise InputError(folder, "path", "a compilation cache folder that can be created and written",
                             e.strerror or type(e).__name__) from None
        if not os.access(folder, os.W_OK | os.X_OK):  # read-only: else JAX warns at every program it compiles
            raise InputError(folder, "path", "a compilation cache folder that can be created and written (or "
                             f"{NO_COMPILE_CACHE}=1: none)", "a folder that cannot be written (read-only)")
        jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder
