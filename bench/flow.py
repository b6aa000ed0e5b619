"""Benchmarks: exact (lower-envelope) DT vs brute-force DT, and BP flow ms per pair.

    python bench/flow.py [--quick]

Prints elements/s of both DTs for row lengths 16..1024 and their ratio, and BP timings (after compilation)
for (a) the paper's conv4 grid at a 500 px box (31 x 31 nodes, full-grid labels 61 x 61) per iteration, and
(b) the Table 2 demo setting (12 x 12 grid, window 5), single pair and 25 pairs batched.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from convcorr_jax import runinfo
from convcorr_jax.flow import bp
from convcorr_jax.flow.distance_transform import dt1d, dt1d_brute


def _time(fn, *args, reps=3):
    jax.block_until_ready(fn(*args))  # compile + warm up
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def bench_dt(sizes, total=1 << 16):
    rng = np.random.default_rng(0)
    print("| n | rows | envelope Melem/s | brute Melem/s | envelope / brute speed |")
    print("|---|---|---|---|---|")
    rows_out = []
    for n in sizes:
        rows = max(1, total // n)
        f = rng.normal(size=(rows, n)).astype(np.float32)
        te = _time(lambda x: dt1d(x, 0.5)[0], f)
        tb = _time(lambda x: dt1d_brute(x, 0.5)[0], f)
        el = rows * n
        print(f"| {n} | {rows} | {el / te / 1e6:.2f} | {el / tb / 1e6:.2f} | {tb / te:.2f} |", flush=True)
        rows_out.append((n, el / te, el / tb))
    return rows_out


def bench_bp(quick: bool):
    rng = np.random.default_rng(0)
    print("\n| setting | grid | labels | DT | pairs | ms / pair |")
    print("|---|---|---|---|---|---|")
    # (a) paper scale: 31 x 31 grid, full-grid labels, one BP iteration, one pair
    fs, ft = rng.normal(size=(2, 31, 31, 96)).astype(np.float32)
    for method in ("envelope",) if quick else ("envelope", "brute"):
        cfg = bp.BPConfig(iters=1, levels=1, dt_method=method)
        t = _time(lambda a, b: bp.align(a, b, cfg, 16.0).energy, fs, ft, reps=1)
        print(f"| paper 500 px box, 1 BP iteration | 31x31 | 61x61 | {method} | 1 | {t * 1e3:.0f} |", flush=True)
    # (b) demo setting (Table 2 default): 12 x 12 grid, window 5, 3 levels x 5 iterations
    for method in ("brute", "envelope"):
        cfg = bp.BPConfig(iters=5, levels=3, window=5, dt_method=method)
        for n in (1, 25):
            a = rng.normal(size=(n, 12, 12, 96)).astype(np.float32)
            b = rng.normal(size=(n, 12, 12, 96)).astype(np.float32)
            t = _time(lambda x, y: bp.align(x, y, cfg, 16.0).energy, a, b, reps=1 if n > 1 else 3)
            print(f"| Table 2 demo, 3 levels x 5 it | 12x12 | 11x11 | {method} | {n} | {t / n * 1e3:.1f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    print(runinfo.header("bench: distance transform and BP flow", {"quick": args.quick}))
    bench_dt([16, 64, 256, 1024] if args.quick else [16, 32, 64, 128, 256, 512, 1024])
    bench_bp(args.quick)


if __name__ == "__main__":
    main()
