"""Benchmark: our dense SIFT (JAX) vs VLFeat's vl_dsift (cyvlfeat), same image and settings.

    python bench/sift.py      (needs cyvlfeat, see tests/golden/sift/make_sift_golden.py)

Prints images/s of both and the time ratio ours / VLFeat, and checks the outputs agree.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import jax
import numpy as np

from convcorr_jax.core import runinfo
from convcorr_jax.features import sift


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if importlib.util.find_spec("cyvlfeat") is None:
        raise SystemExit("bench/sift.py needs cyvlfeat: apt-get install libvlfeat-dev; "
                         "pip install --no-build-isolation cyvlfeat")
    import skimage.data
    from cyvlfeat.sift import dsift as vl_dsift

    print(runinfo.header("bench: dense SIFT vs VLFeat"))
    with runinfo.timed() as total:
        img = skimage.data.camera()[:256, :256].astype(np.float32) / 255.0
        print("| image | bin | step | descriptors | ours img/s | VLFeat img/s | ours / VLFeat time | max abs diff |")
        print("|---|---|---|---|---|---|---|---|")
        for size, step in ((4, 1), (4, 4), (8, 8), (10, 16)):
            fr, d_vl = vl_dsift(img, step=step, size=size, float_descriptors=True)
            _, d = sift.dsift(img, bin_size=size, step=step)
            jax.block_until_ready(d)
            reps = 5
            t0 = time.perf_counter()
            for _ in range(reps):
                jax.block_until_ready(sift.dsift(img, bin_size=size, step=step)[1])
            t_ours = (time.perf_counter() - t0) / reps
            t0 = time.perf_counter()
            for _ in range(reps):
                vl_dsift(img, step=step, size=size, float_descriptors=True)
            t_vl = (time.perf_counter() - t0) / reps
            diff = np.abs(sift.vlfeat_output(d) - d_vl).max() / 512
            print(f"| 256x256 | {size} | {step} | {len(fr)} | {1 / t_ours:.1f} | {1 / t_vl:.1f} | {t_ours / t_vl:.2f} | {diff:.1e} |", flush=True)
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
