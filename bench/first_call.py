"""First and second call of the README's align example, each in a new process, and where the second one's time
goes. Writes nothing; prints a markdown table for bench/RESULTS.md.

    python bench/first_call.py [--example align_images] [--reps 2]

Each process runs the example's code from README.md (the same text `tests/test_readme.py` runs) with JAX's
persistent compilation cache in a new empty folder: the first process compiles and fills it (then one
unmeasured process compiles the plain jit of the exported functions), the later ones load from it, alternately without (`CONVCORR_NO_EXPORT=1`) and with the exported programs of `convcorr_jax.core.exported`. Per process: wall time (interpreter start to exit), and JAX's own monitoring events summed over
the process: tracing to a jaxpr, lowering to StableHLO, XLA compilation (a cache miss), loading a compiled
program from the persistent cache (a hit); the rest is imports, weight loading, reading exported programs
(`convcorr_jax.core.exported`) and running the programs. "programs": how many programs were lowered.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRELUDE = """
import atexit, json
from convcorr_cli import profile
_stop = profile.start()
atexit.register(lambda: print("@@" + json.dumps(_stop(0.0))))
"""
COLUMNS = {"tracing": "trace", "lowering": "lower", "compilation": "compile", "cache loads": "cache load"}


def readme_example(name: str) -> str:
    """The README's python example whose text contains `name(` (e.g. align_images)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    found = [b for b in blocks if f"{name}(" in b]
    if not found:
        raise SystemExit(f"no README python example calls {name}(")
    return found[0]


def one_process(code: str, cache: str, export: bool = True) -> dict:
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, JAX_PLATFORMS="cpu",
               CONVCORR_NO_EXPORT="0" if export else "1")
    env.pop("CONVCORR_NO_COMPILE_CACHE", None)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    split = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("@@"))[2:])
    out = {"wall": wall, "programs": split["programs"], **{label: split[k] for k, label in COLUMNS.items()}}
    out["other"] = wall - sum(out[k] for k in COLUMNS.values())  # imports, weights, running, interpreter start
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--example", default="align_images", help="a function the README example calls")
    p.add_argument("--reps", type=int, default=2, help="processes after the first (warm cache)")
    args = p.parse_args()
    os.environ["JAX_PLATFORMS"] = "cpu"  # as in the measured processes: the header names their devices
    from convcorr_jax.core import runinfo

    print(runinfo.header("bench: first and later calls of a README example, new processes", vars(args)),
          flush=True)
    with runinfo.timed() as total:
        code = readme_example(args.example)
        with tempfile.TemporaryDirectory() as cache:
            runs = [("first", one_process(code, cache))]
            one_process(code, cache, export=False)  # compiles the plain jit of the exported functions, unmeasured
            for i in range(args.reps):  # alternating, so that both see the same machine load
                runs += [(f"later {i + 1}, compilation cache only", one_process(code, cache, export=False)),
                         (f"later {i + 1}, + exported programs", one_process(code, cache))]
    first = runs[0][1]
    best = {k: min(r["wall"] for n, r in runs[1:] if n.endswith(k)) for k in ("only", "programs")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}; "
          f"README example calling {args.example}; one new cache folder; "
          f"load average before {os.getloadavg()[0]:.1f}")
    cols = ["wall", "trace", "lower", "compile", "cache load", "other"]
    print("| process | " + " | ".join(f"{c} (s)" for c in cols) + " | programs |")
    print("|---" * (len(cols) + 2) + "|")
    for name, r in runs:
        print(f"| {name} | " + " | ".join(f"{r[c]:.2f}" for c in cols) + f" | {r['programs']} |")
    print(f"\nlater / first wall time (best later): compilation cache only {best['only'] / first['wall']:.2f}, "
          f"with exported programs {best['programs'] / first['wall']:.2f}")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
