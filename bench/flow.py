"""Benchmarks: exact 1D DTs (lower envelope, brute force with arg-min, fused values-only), and BP flow ms per pair.

    python bench/flow.py [--quick]

Prints elements/s of the DTs for row lengths 16..1024, and BP timings (after compilation) for the Table 2 demo
setting (12 x 12 grid, window 5), single pair and 25 pairs batched. The paper-scale solve (31 x 31 grid, 61 x 61
labels) is timed by bench/bp_speed.py.
"""

from __future__ import annotations

import argparse

import numpy as np

from convcorr_jax.core import runinfo
from timing import best_time
from convcorr_jax.flow import bp
from convcorr_jax.flow.distance_transform import dt1d, dt1d_brute, dt1d_min


def bench_dt(sizes, total=1 << 16):
    rng = np.random.default_rng(0)
    print("| n | rows | envelope Melem/s | brute + arg-min Melem/s | fused values (auto) Melem/s |")
    print("|---|---|---|---|---|")
    rows_out = []
    for n in sizes:
        rows = max(1, total // n)
        f = rng.normal(size=(rows, n)).astype(np.float32)
        te = best_time(lambda x: dt1d(x, 0.5)[0], f)
        tb = best_time(lambda x: dt1d_brute(x, 0.5)[0], f)
        tv = best_time(lambda x: dt1d_min(x, 0.5), f)
        el = rows * n
        print(f"| {n} | {rows} | {el / te / 1e6:.2f} | {el / tb / 1e6:.2f} | {el / tv / 1e6:.2f} |", flush=True)
        rows_out.append((n, el / te, el / tb, el / tv))
    return rows_out


def bench_bp():
    rng = np.random.default_rng(0)
    print("\n| setting | grid | labels | DT | pairs | ms / pair |")
    print("|---|---|---|---|---|---|")
    # demo setting (Table 2 default): 12 x 12 grid, window 5, 3 levels x 5 iterations
    for method in ("auto", "envelope"):
        cfg = bp.BPConfig(iters=5, levels=3, window=5, dt_method=method)
        for n in (1, 25):
            a = rng.normal(size=(n, 12, 12, 96)).astype(np.float32)
            b = rng.normal(size=(n, 12, 12, 96)).astype(np.float32)
            t = best_time(lambda x, y: bp.solve_flow(x, y, cfg, 16.0).energy, a, b, reps=1 if n > 1 else 3)
            print(f"| Table 2 demo, 3 levels x 5 it | 12x12 | 11x11 | {method} | {n} | {t / n * 1e3:.1f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    print(runinfo.header("bench: distance transform and BP flow", {"quick": args.quick}))
    with runinfo.timed() as total:
        bench_dt([16, 64, 256, 1024] if args.quick else [16, 32, 64, 128, 256, 512, 1024])
        bench_bp()
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
