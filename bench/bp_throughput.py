"""Batched BP alignment throughput (pairs/s) at the paper's setting, on one device and split over several.

    python bench/bp_throughput.py [--batch 8] [--devices 2] [--reps 2] [--compare OLD_BP_PY --compare-method brute]

`bp.solve_flow` on N random 31 x 31 x 384 feature pairs (labels = the whole target grid, 3 levels x 10 iterations,
beta 3e-3 at 16 px per cell) on one device, in its default groups of pairs per compiled call (vmap within a
group) and as one vmap over all N, then `bp.solve_flow(..., mesh=make_mesh(D))` over D devices. On a CPU the devices are forced host devices (XLA_FLAGS, set here before JAX starts) sharing the same
cores, so the second row measures the sharding's overhead and XLA:CPU's use of the cores, not more hardware.
Best of `--reps` calls after a compiling warm-up.

--compare loads another revision's `convcorr_jax/flow/bp.py` (e.g. `git show REV:convcorr_jax/flow/bp.py >
old_bp.py`) beside the installed one and times both solvers, alternating, in the same process on one device, each
with its own default pairs per call, with that revision's `dt_method` given by --compare-method.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--compare", default=None, help="another revision's bp.py, timed beside this one")
    p.add_argument("--compare-method", default="auto", help="dt_method for the --compare solver")
    args = p.parse_args()
    if "jax" in sys.modules:
        raise RuntimeError("bench/bp_throughput.py must set XLA_FLAGS before JAX is imported")
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    import numpy as np

    from convcorr_jax.core import parallel, runinfo
    from convcorr_jax.flow import bp
    from timing import best_time

    print(runinfo.header("bench: batched BP alignment throughput, paper setting", vars(args)))
    with runinfo.timed() as total:
        rng = np.random.default_rng(0)
        fs, ft = rng.normal(size=(2, args.batch, 31, 31, 384)).astype(np.float32)
        cfg = bp.BPConfig(iters=10, levels=3)
        print("\n| devices | pairs | pairs per compiled call | s | ms per pair | pairs / s |\n|---|---|---|---|---|---|")
        rows = [(1, "auto"), (1, None)] + ([(args.devices, None)] if args.devices > 1 else [])
        for d, group in rows:
            mesh = parallel.make_mesh(d) if d > 1 else None
            t = best_time(lambda a, b: bp.solve_flow(a, b, cfg, 16.0, mesh=mesh, pairs_per_call=group).energy, fs, ft,
                          reps=args.reps)
            per_call = min(args.batch, bp.resolve_pairs_per_call(group) or args.batch)
            print(f"| {d} | {args.batch} | {per_call if d == 1 else f'{-(-args.batch // d)} per device'} | {t:.2f} | {1e3 * t / args.batch:.0f} | {args.batch / t:.2f} |", flush=True)
        if args.compare:
            compare(args, bp, fs, ft)
    print(f"wall time {total['seconds']:.1f} s")


def compare(args, bp, fs, ft) -> None:
    """Time this bp.solve_flow and another revision's, alternating (best of --reps each), same pairs, one device."""
    spec = importlib.util.spec_from_file_location("bp_compared", args.compare)
    other = importlib.util.module_from_spec(spec)
    sys.modules["bp_compared"] = other
    spec.loader.exec_module(other)
    runs = {"this revision": (bp, bp.BPConfig(iters=10, levels=3), {}),
            f"{args.compare} ({args.compare_method})": (other, other.BPConfig(iters=10, levels=3,
                                                                              dt_method=args.compare_method), {})}
    best = {}
    for mod, cfg, kw in runs.values():  # compile
        mod.align(fs, ft, cfg, 16.0, **kw).energy.block_until_ready()
    for _ in range(args.reps):
        for name, (mod, cfg, kw) in runs.items():
            t0 = time.perf_counter()
            mod.align(fs, ft, cfg, 16.0, **kw).energy.block_until_ready()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    print(f"\n| solver (1 device, {args.batch} pairs, its default pairs per call) | ms per pair |\n|---|---|")
    for name, t in best.items():
        print(f"| {name} | {1000 * t / args.batch:.0f} |")
    a, b = best.values()
    print(f"\nratio this / compared: {a / b:.2f}")


if __name__ == "__main__":
    main()
