"""Linear SVM training: convcorr_jax.linear.svm (batched Newton-CG, squared hinge) vs scikit-learn LinearSVC
(LIBLINEAR dual CD, squared hinge), same data, same C, same run.

Workloads (Gaussian class clusters with the shapes of the paper's experiments on MobileNetV2 features):
  table3: one category of keypoint classification, 600 training keypoints x 96-d columns, 12 one-vs-all classes
  table4: one category of keypoint detectors, 7,000 box locations x 864-d (3x3 x 96) features, 12 binary
          detectors each over its own subset (positives + negatives mask), as in a hard-negative-mining round

    python bench/svm.py [--repeats 3]

Times are the median of `repeats` warm runs (the JAX solver's first call, which compiles, is reported apart).
"""

from __future__ import annotations

import argparse
import platform
import os
import sys
import time

import numpy as np


def _clusters(n, d, k, seed, sep=1.0, scale=2.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * sep / np.sqrt(d) * 4
    y = rng.integers(0, k, n)
    return ((centres[y] + rng.normal(size=(n, d)) / np.sqrt(d) * 4) * scale).astype(np.float32), y


def _time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def table3(repeats, C):
    from sklearn.svm import LinearSVC

    from convcorr_jax.linear import svm

    X, y = _clusters(800, 96, 12, 0, sep=0.3)
    Xtr, ytr, Xte, yte = X[:600], y[:600], X[600:], y[600:]
    t0 = time.perf_counter()
    svm.fit_ova(Xtr, ytr, C=C)
    first = time.perf_counter() - t0
    t_ours, m = _time(lambda: svm.fit_ova(Xtr, ytr, C=C), repeats)
    t_ref, r = _time(lambda: LinearSVC(C=C, tol=1e-4, max_iter=10000).fit(Xtr, ytr), repeats)
    return ("table3 (600 x 96, 12 classes, one-vs-all)", t_ours, first, t_ref, (m.predict(Xte) == yte).mean(),
            (r.predict(Xte) == yte).mean())


def table4(repeats, C):
    from sklearn.svm import LinearSVC

    from convcorr_jax.linear import svm

    rng = np.random.default_rng(1)
    n, d, k = 7000, 864, 12
    X, y = _clusters(n, d, k + 1, 1, sep=0.6)  # class k = background
    pos = np.stack([y == j for j in range(k)])
    neg = ~pos & (rng.random((k, n)) < 0.9)
    Y = np.where(pos, 1.0, -1.0).astype(np.float32)
    mask = pos | neg
    Xte, yte = _clusters(3000, d, k + 1, 2, sep=0.6)

    def ours():
        return svm.fit_binary(X, Y, C=C, mask=mask)

    def ref():
        W = np.zeros((k, d)), np.zeros(k)
        for j in range(k):
            r = LinearSVC(C=C, tol=1e-4, max_iter=10000).fit(X[mask[j]], Y[j, mask[j]])
            W[0][j], W[1][j] = r.coef_[0], r.intercept_[0]
        return W

    t0 = time.perf_counter()
    ours()
    first = time.perf_counter() - t0
    t_ours, m = _time(ours, repeats)
    t_ref, (W, b) = _time(ref, repeats)
    truth = np.stack([yte == j for j in range(k)], 1)
    acc = lambda s: ((s > 0) == truth).mean()  # per-detector binary accuracy on held-out data
    return ("table4 (7000 x 864, 12 masked binary detectors)", t_ours, first, t_ref, acc(Xte @ m.W.T + m.b),
            acc(Xte @ W.T + b))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--C", type=float, default=1e-3)
    a = p.parse_args()
    from convcorr_jax.core import runinfo

    print(runinfo.header("bench: linear SVM, ours vs scikit-learn LinearSVC", vars(a)), flush=True)
    with runinfo.timed() as total:
        print(f"linear SVM, squared hinge, C = {a.C}; {os.cpu_count()} CPU cores ({platform.machine()})")
        print("| workload | JAX (s) | JAX first call (s) | LinearSVC (s) | speed-up | JAX acc | LinearSVC acc |")
        print("|---|---|---|---|---|---|---|")
        for fn in (table3, table4):
            name, t, first, tr, acc, acc_r = fn(a.repeats, a.C)
            print(f"| {name} | {t:.3f} | {first:.2f} | {tr:.3f} | {tr / t:.2f}x | {100 * acc:.1f}% | {100 * acc_r:.1f}% |",
                  flush=True)
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
