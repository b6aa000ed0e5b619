"""`convcorr --profile[=FILE] COMMAND ...`: where a command's wall time went.

    $ convcorr --profile align a.png b.png --dense --out out
    ...
    convcorr align: profile: 17.4 s = imports 1.1 + tracing 2.4 + lowering 0.8 + XLA compilation 10.6 (4 programs)
      + compilation cache loads 0.0 (0 programs) + the rest 2.5 (running programs, reading, writing)

From JAX's own monitoring events, summed over the process: tracing Python functions to jaxprs, lowering them to
StableHLO, XLA compilation (a miss of the persistent compilation cache) and loading compiled programs from that
cache (a hit). imports: the command's modules (JAX included); wall time counts from the start of `convcorr`'s
`main` (the interpreter's own start, ~0.05 s, is not in it). `--profile=FILE` also writes the numbers to FILE as
JSON (seconds; `programs`: programs lowered, `compiled`: XLA compilations, `cache_hits`: programs loaded).
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Callable

EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "tracing",
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lowering",
          "/jax/core/compile/backend_compile_duration": "compilation",
          "/jax/compilation_cache/cache_retrieval_time_sec": "cache loads"}


def start() -> Callable[[float], dict]:
    """Start summing JAX's compile events (imports JAX). Returns `stop(imports_s)` -> the split: {"wall",
    "imports", "tracing", "lowering", "compilation", "cache loads", "rest" (seconds), "programs", "compiled",
    "cache_hits"}, wall time from this call. Call it before the command's modules are imported."""
    t0 = time.perf_counter()
    import jax

    secs: dict[str, float] = collections.defaultdict(float)
    count: collections.Counter = collections.Counter()

    def listen(event: str, duration_secs: float, **_) -> None:  # the parameter names of JAX's listener protocol
        if event in EVENTS:
            secs[EVENTS[event]] += duration_secs
            count[EVENTS[event]] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)

    def stop(imports: float) -> dict:
        wall = time.perf_counter() - t0
        out = {"wall": wall, "imports": imports, **{k: secs[k] for k in EVENTS.values()}}
        out["compilation"] -= out["cache loads"]  # JAX's compile event includes the cache lookup and load
        out["rest"] = wall - sum(out[k] for k in ("imports", *EVENTS.values()))
        out.update(programs=count["lowering"], compiled=count["compilation"] - count["cache loads"],
                   cache_hits=count["cache loads"])
        return out

    return stop


def line(name: str, split: dict) -> str:
    """The one-line summary `convcorr --profile` prints on stderr."""
    s = split
    return (f"convcorr {name}: profile: {s['wall']:.1f} s = imports {s['imports']:.1f} + tracing {s['tracing']:.1f} "
            f"+ lowering {s['lowering']:.1f} + XLA compilation {s['compilation']:.1f} ({s['compiled']} programs) "
            f"+ compilation cache loads {s['cache loads']:.1f} ({s['cache_hits']} programs) + the rest {s['rest']:.1f} "
            "(running programs, reading, writing)")


def write(path: str, split: dict) -> None:
    """The split as JSON at `path`, written atomically."""
    from convcorr_jax.core import io

    io.write_json(Path(path), {k: round(v, 4) if isinstance(v, float) else v for k, v in split.items()})
