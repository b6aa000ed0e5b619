"""BP flow speed at the paper's setting: ms per pair, old vs new solver, compile time excluded.

    python bench/bp_speed.py [--reps 3] [--batch 25] [--skip-old]

Setting (Long et al. 2014, 500 px box, conv4): 31 x 31 feature grid (384 channels, random), labels = the whole
target grid (61 x 61 displacements), 3 multigrid levels x 10 BP iterations. Rows:

* old: the previous solver's algorithm (lower-envelope DT for every message of every node, masked checkerboard,
  all 61 x 61 labels). Too slow to run in full; timed for one fine-level iteration and scaled by the number of
  node-iterations of the full solve (10 x (1 + 1/4 + 1/16) fine-iteration equivalents), marked "est.".
* ablations, one change at a time on the new code, each one jit of cost volume + `bp_solver.solve`: fused brute-force
  DT with masked schedule and all labels; + active half; + label windows (crop).
* `bp.solve_flow` with `BPConfig()` (what users call: target-indexed costs, `solve(..., targets=True)`, never the
  61 x 61-label volume) at batch 1, at batch N in its default CPU groups of pairs per call, and as one vmap.

Each time is the best of `--reps` runs after a warm-up call that compiles.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from convcorr_jax.core import runinfo
from timing import best_time
from convcorr_jax.flow import bp, bp_solver
from convcorr_jax.flow.cost_volume import cost_volume

GRID, DEPTH, LEVELS, ITERS = 31, 384, 3, 10


def _solver(levels, iters, method, crop, schedule):
    """Batched solve on features [N, H, W, C] -> energies [N] (cost volume included, as in `bp.solve_flow`)."""

    def one(fs, ft):
        r = (GRID - 1, GRID - 1)
        vol = cost_volume(fs, ft, r)
        return bp_solver.solve(vol, 3e-3 * 16.0**2, iters, levels, method, crop, schedule).energy

    return jax.jit(jax.vmap(one))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--skip-old", action="store_true")
    args = p.parse_args()
    print(runinfo.header("bench: BP flow speed, paper setting", vars(args)))
    with runinfo.timed() as total:
        rng = np.random.default_rng(0)
        feats = rng.normal(size=(2, args.batch, GRID, GRID, DEPTH)).astype(np.float32)
        one = (feats[0, :1], feats[1, :1])
        print(f"\n31x31 grid, 61x61 labels, {LEVELS} levels x {ITERS} iterations, float32\n")
        print("| solver | DT | schedule | labels | pairs | ms / pair |")
        print("|---|---|---|---|---|---|")
        if not args.skip_old:
            t = best_time(_solver(1, 1, "envelope", False, "masked"), *one, reps=1)
            scale = ITERS * (1 + 1 / 4 + 1 / 16)
            print(f"| old (est. from 1 fine iteration: {t * 1e3:.0f} ms) | envelope | masked | 61x61 | 1 | {t * scale * 1e3:,.0f} |", flush=True)
        for name, method, crop, schedule in (
            ("new DT only", "brute", False, "masked"),
            ("+ active half", "brute", False, "active"),
            ("+ label windows (cost volume and solve in one jit)", "auto", True, "active"),
        ):
            t = best_time(_solver(LEVELS, ITERS, method, crop, schedule), *one, reps=args.reps)
            labels = "31x31 window" if crop else "61x61"
            print(f"| {name} | {method} | {schedule} | {labels} | 1 | {t * 1e3:,.0f} |", flush=True)
        cfg = bp.BPConfig(iters=ITERS, levels=LEVELS)
        for pairs, group, label in ((1, None, "1"),
                                    (args.batch, "auto",
                                     f"{args.batch} (groups of {bp.resolve_pairs_per_call('auto') or args.batch})"),
                                    (args.batch, None, f"{args.batch} (one vmap)")):
            fs, ft = (feats[0, 0], feats[1, 0]) if pairs == 1 else (feats[0], feats[1])
            t = best_time(lambda a, b: bp.solve_flow(a, b, cfg, 16.0, pairs_per_call=group).energy, fs, ft,
                          reps=args.reps if pairs == 1 else max(1, args.reps - 1))
            print(f"| `bp.solve_flow` default (+ target-indexed costs) | auto | active | 31x31 window | {label} | {t / pairs * 1e3:,.0f} |", flush=True)
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
