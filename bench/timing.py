"""Timing shared by the JAX benchmarks: best wall time of repeated calls after one compiling warm-up call."""

from __future__ import annotations

import time

import jax
import numpy as np


def best_time(fn, *args, reps: int = 3) -> float:
    """Seconds of the fastest of `reps` calls `fn(*args)` (each awaited), after a warm-up call that compiles."""
    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best
