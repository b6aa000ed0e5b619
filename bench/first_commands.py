"""First calls of two commands from an empty compilation cache, beside SIFT Flow C++ on the same pair, and where
their time goes. Writes nothing; prints markdown tables for bench/RESULTS.md.

    python bench/first_commands.py [--siftflow PEER_DIR] [--pf-willow PF-dataset-WILLOW] [--reps 2]

Rows, each a new process (`convcorr --profile=FILE ...`, whose split is JAX's own monitoring events,
`convcorr_cli.profile`), alternating so that all see the same machine load:
  - `convcorr align A B --dense` on scikit-image's Middlebury motorcycle pair cropped to 256 x 256 (the README's
    pair), with a new empty JAX compilation cache each time; the converted weights cache filled by one unmeasured
    process first, as after `convcorr weights fetch`; once more with every cache empty (weights converted too);
  - SIFT Flow C++ (the peer: `siftflow.py A B --out F`, its whole process, one thread) on the same pair, when its
    folder is given (`--siftflow` or SIFTFLOW_PEER; built into a temporary folder with its build.sh);
  - `convcorr eval pf-willow --classes "car(S)"` (90 pairs, VGG-16), new empty compilation cache, when the
    PF-WILLOW folder is given.
Wall time is the process's, from the interpreter's start to its exit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ("imports", "tracing", "lowering", "compilation", "cache loads", "rest")


def convcorr(args: list[str], jax_cache: str, weights_cache: str | None, work: Path) -> dict:
    """One `convcorr --profile=... ARGS` process; its profile split, wall time from outside."""
    prof = work / f"profile_{time.monotonic_ns()}.json"
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=jax_cache, JAX_PLATFORMS="cpu")
    env.pop("CONVCORR_NO_COMPILE_CACHE", None)
    env.pop("CONVCORR_NO_EXPORT", None)
    if weights_cache is not None:
        env["CONVCORR_CACHE"] = weights_cache
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", f"--profile={prof}", *args], capture_output=True,
                       text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"convcorr {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return {**json.loads(prof.read_text()), "process": wall}


def peer(folder: str, build: str, a: Path, b: Path, work: Path) -> float:
    """Wall seconds of one SIFT Flow C++ process (siftflow.py) on a -> b."""
    env = dict(os.environ, SIFTFLOW_BUILD_DIR=build)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(Path(folder) / "siftflow.py"), str(a), str(b), "--out",
                        str(work / "peer_flow.npy")], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"SIFT Flow peer failed:\n{r.stderr[-3000:]}")
    return wall


def row(name: str, s: dict, reference: float | None, target: float) -> str:
    ratio = "" if reference is None else f"{s['process'] / reference:.1f}"
    return (f"| {name} | **{s['process']:.1f}** | {s['process'] / target:.2f} | {ratio} | "
            + " | ".join(f"{s[k]:.1f}" for k in SPLIT) + f" | {s['compiled']} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    p.add_argument("--pf-willow", help="PF-dataset-WILLOW folder (car(S) is timed)")
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    from skimage import data

    os.environ["JAX_PLATFORMS"] = "cpu"  # as in the measured processes: the header names their devices
    from convcorr_jax.core import runinfo

    print(runinfo.header("bench: first calls of two commands, new processes, beside SIFT Flow C++", vars(args)),
          flush=True)
    with runinfo.timed() as total:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            a, b, _ = data.stereo_motorcycle()
            pa, pb = work / "a.png", work / "b.png"
            Image.fromarray(a[:256, :256]).save(pa)
            Image.fromarray(b[:256, :256]).save(pb)
            align = ["align", str(pa), str(pb), "--dense"]
            build = str(work / "siftflow_build")
            if args.siftflow:
                subprocess.run(["bash", str(Path(args.siftflow) / "build.sh")], check=True, capture_output=True,
                               env=dict(os.environ, SIFTFLOW_BUILD_DIR=build))
            weights = str(work / "weights_cache")
            # fills the weights cache
            convcorr(align + ["--out", str(work / "warm")], str(work / "jax_warm"), weights, work)
            rows: list[tuple[str, dict]] = []
            peers: list[float] = []
            for i in range(args.reps):
                rows.append(("align --dense", convcorr(align + ["--out", str(work / f"al{i}")], str(work / f"jax_al{i}"),
                                                       weights, work)))
                if args.siftflow:
                    peers.append(peer(args.siftflow, build, pa, pb, work))
                if args.pf_willow:
                    rows.append(("eval pf-willow car(S)",
                                 convcorr(["eval", "pf-willow", "--root", args.pf_willow, "--classes",
                                                                    "car(S)", "--out", str(work / f"pf{i}")],
                                                                   str(work / f"jax_pf{i}"), weights, work)))
            rows.append(("align --dense, weights cache empty too", convcorr(align + ["--out", str(work / "cold")],
                                                                            str(work / "jax_cold"), str(work / "w_cold"), work)))
    ref = min(peers) if peers else None
    targets = {"align": 15.0, "eval": 10.0}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}; load average "
          f"after {os.getloadavg()[0]:.1f}; SIFT Flow C++ processes: "
          + (", ".join(f"{t:.2f}" for t in peers) + " s" if peers else "not run"))
    print("| first call | wall (s) | / target | / SIFT Flow C++ | " + " | ".join(f"{k} (s)" for k in SPLIT)
          + " | programs compiled |")
    print("|---" * (len(SPLIT) + 5) + "|")
    for name, s in rows:
        print(row(name, s, ref if name.startswith("align") else None, targets[name.split()[0]]))
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
