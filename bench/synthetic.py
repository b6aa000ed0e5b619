"""Generation speed of the synthetic sets: N samples of each kind written in the real formats.

    python bench/synthetic.py [--n 2000] [--workers 2] [--kinds objects people faces]

Prints per kind: wall time, CPU time (this process + worker processes), samples/s, bytes written, and the ratio
to the 120 s budget for 2,000 samples on 2 cores. There is no external peer for this benchmark: the reference is
the budget; the per-sample CPU time is also given because on a shared machine wall time depends on the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from convcorr_jax.core import runinfo
from convcorr_jax.data.synthetic import KINDS, write_dataset


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kinds", nargs="*", default=list(KINDS))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(runinfo.header("bench synthetic", vars(args), args.seed))
    with runinfo.timed() as total:
        print(f"load average before: {os.getloadavg()}")
        rows = []
        for kind in args.kinds:
            out = Path(tempfile.mkdtemp(prefix=f"bench-synth-{kind}-"))
            try:
                c0, t0 = _cpu(), time.perf_counter()
                info = write_dataset(kind, out / "set", args.n, args.seed, workers=args.workers)
                wall, cpu = time.perf_counter() - t0, _cpu() - c0
                size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            finally:
                shutil.rmtree(out, ignore_errors=True)
            budget = 120.0 * args.n / 2000
            rows.append(
                (
                    kind,
                    info["image_size"],
                    args.n,
                    wall,
                    cpu,
                    args.n / wall,
                    1000 * cpu / args.n,
                    size / 2**20,
                    wall / budget,
                )
            )
            print(f"{kind}: {args.n} samples in {wall:.1f} s wall, {cpu:.1f} s CPU, load {os.getloadavg()[0]:.1f}")
        print(
            "\n| kind | image px | n | wall s | CPU s (all processes) | samples/s | CPU ms/sample | MiB written | wall / budget |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]:.1f} | {r[8]:.2f} |"
            )
        print(f"load average after: {os.getloadavg()}")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
