"""Where ridge CV time goes on CPU: XLA (jax.jit) vs NumPy/SciPy (OpenBLAS/LAPACK) for the Gram matrix, the
symmetric eigen-decomposition and a Cholesky factorisation, at n = 4,000, d = 2,048 float32; the LAPACK
factorisations also on one BLAS thread (what `convcorr_jax.linear.ridge` uses on CPU: OpenBLAS's multithreaded
potrf/syevd slow down many times when another process shares the cores).

    python bench/ridge_components.py
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg as sl
from threadpoolctl import threadpool_limits


def timed(f, *a):
    jax.block_until_ready(f(*a))  # warm-up / compile
    t0 = time.perf_counter()
    jax.block_until_ready(f(*a))
    return time.perf_counter() - t0


def main():
    args = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from convcorr_jax.core import runinfo

    print(runinfo.header("bench: ridge CV components, XLA vs NumPy/SciPy", vars(args), 0), flush=True)
    with runinfo.timed() as total:
        X = np.random.default_rng(0).normal(size=(4000, 2048)).astype(np.float32)
        G = X.T @ X
        rows = [
            ("Gram X^T X, jax.jit", timed(jax.jit(lambda x: x.T @ x), X)),
            ("Gram X^T X, numpy", timed(lambda x: x.T @ x, X)),
            ("eigh, jax.jit", timed(jax.jit(jnp.linalg.eigh), G)),
            ("eigh, scipy driver=evd", timed(lambda a: sl.eigh(a, driver="evd"), G)),
            ("Cholesky, scipy", timed(lambda a: sl.cho_factor(a + np.eye(2048, dtype=np.float32)), G)),
        ]
        with threadpool_limits(1, user_api="blas"):
            rows += [
                ("eigh, scipy evd, 1 thread", timed(lambda a: sl.eigh(a, driver="evd"), G)),
                ("Cholesky, scipy, 1 thread", timed(lambda a: sl.cho_factor(a + np.eye(2048, dtype=np.float32)), G)),
            ]
        for name, s in rows:
            print(f"{name:28s} {s:7.3f} s")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
