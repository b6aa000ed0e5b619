"""Exact top-k cosine search: convcorr_jax.core.knn vs faiss-cpu IndexFlatIP vs scikit-learn brute NearestNeighbors.

    python bench/knn.py                                   # 2,000 queries x 200,000 x 256, top-5 (shared 2-core CPU)
    python bench/knn.py --queries 10000 --database 1000000   # the issue's size: ~1-2 min each for ours and faiss,
                                                             # ~7 min for scikit-learn, ~3.3 GB peak RSS

Each method runs in its own child process (same data from the same seed, same run) so that its peak resident
memory can be reported; times exclude data generation and include one warm-up (compilation) run reported
separately. faiss-cpu is a bench-only dependency (pip install faiss-cpu). Writes nothing; copy the printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _data(a):
    rng = np.random.default_rng(a.seed)
    db = rng.standard_normal((a.database, a.dim), dtype=np.float32)
    q = rng.standard_normal((a.queries, a.dim), dtype=np.float32)
    return q, db


def _run_one(a) -> dict:
    q, db = _data(a)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if a.method == "jax":
        from convcorr_jax.core import knn

        run = lambda: [np.asarray(x) for x in knn.topk_cosine(q, db, a.k, block=a.block, qblock=a.qblock)]
    elif a.method == "faiss":
        import faiss

        faiss.omp_set_num_threads(os.cpu_count())

        def run():
            qn = q / np.linalg.norm(q, axis=1, keepdims=True)
            dn = db / np.linalg.norm(db, axis=1, keepdims=True)
            index = faiss.IndexFlatIP(a.dim)
            index.add(dn)
            s, i = index.search(qn, a.k)
            return s, i
    else:
        from sklearn.neighbors import NearestNeighbors

        def run():
            nn = NearestNeighbors(n_neighbors=a.k, algorithm="brute", metric="cosine").fit(db)
            d, i = nn.kneighbors(q)
            return 1 - d, i
    t0 = time.perf_counter()
    s, i = run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    s, i = run()
    second = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"method": a.method, "first_s": first, "time_s": second, "qps": a.queries / second,
            "peak_rss_mb": peak / 1024, "data_rss_mb": base_rss / 1024, "indices": np.asarray(i)[:50].tolist(),
            "scores": np.asarray(s)[:50].tolist()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--database", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--block", type=int, default=16384)
    p.add_argument("--qblock", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="jax,faiss,sklearn")
    p.add_argument("--method", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.method:
        print(json.dumps(_run_one(a)))
        return 0
    import platform

    from convcorr_jax.core import runinfo

    print(runinfo.header("bench: exact top-k cosine search, ours vs faiss vs scikit-learn",
                         {k: v for k, v in vars(a).items() if k != "method"}, a.seed), flush=True)
    with runinfo.timed() as total:
        print(f"exact top-{a.k} cosine: {a.queries} queries x {a.database} x {a.dim} float32; "
              f"{os.cpu_count()} CPU cores ({platform.machine()})", flush=True)
        res = {}
        for m in a.methods.split(","):
            args = [sys.executable, __file__] + [f"--{k}={v}" for k, v in vars(a).items() if v is not None and k not in
                                                 ("method", "methods")] + [f"--method={m}"]
            out = subprocess.run(args, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{m}: failed\n{out.stderr[-2000:]}")
                continue
            res[m] = json.loads(out.stdout.strip().splitlines()[-1])
        ref = res.get("faiss") or next(iter(res.values()))
        print(f"| method | time (s) | queries/s | first call (s) | peak RSS (MB) | data RSS (MB) | same top-{a.k} as faiss |")
        print("|---|---|---|---|---|---|---|")
        for m, r in res.items():
            same = np.mean(np.array(r["indices"]) == np.array(ref["indices"]))
            print(f"| {m} | {r['time_s']:.2f} | {r['qps']:.0f} | {r['first_s']:.2f} | {r['peak_rss_mb']:.0f} | "
                  f"{r['data_rss_mb']:.0f} | {100 * same:.1f}% |")
        if "jax" in res:
            for m in res:
                if m != "jax":
                    print(f"time ratio jax / {m}: {res['jax']['time_s'] / res[m]['time_s']:.2f}")
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
