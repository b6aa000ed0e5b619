"""Speed of the shipped pose model: `convcorr pose` on one photo in new processes (the compilation cache empty, then
warm), and images per second for a batch of 64 person crops, beside the paper's 2015 GPU forward times.

    python bench/pose_speed.py [--model flic] [--reps 3]

Part 1: `convcorr pose PHOTO --model M` (PHOTO: scikit-image's astronaut, 512 x 512, written as a JPEG) in a new
process each time, JAX's persistent compilation cache in a new empty folder: the first process compiles and fills
it, the later ones load from it. Wall time from interpreter start to exit.
Part 2 (this process, the cache off): `pose.estimate` on 64 crops of 128 px (the model's input; random content, as
speed does not depend on it) in one call: the first call (tracing + compilation + running) and the best of `reps`
later calls; the network alone (`predict.predict_crops` on the 64 inputs at once, batch 64) best of `reps`.
The paper's Table 2: forward-propagation of one image on an NVIDIA K40, FLIC models: cascade 94.2 ms (8x pooling:
coarse 74.9 + fine 19.3), 157.2 ms (4x), 70.6 ms (16x).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PAPER_MS = {"4x pool": 157.2, "8x pool": 94.2, "16x pool": 70.6}  # Tompson et al. 2015, Table 2 (K40 GPU)


def cli_process(model: str, photo: Path, cache: str) -> float:
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, JAX_PLATFORMS="cpu")
    env.pop("CONVCORR_NO_COMPILE_CACHE", None)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "convcorr_cli", "pose", str(photo), "--model", model], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="flic")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args(argv)
    os.environ["CONVCORR_NO_COMPILE_CACHE"] = "1"  # part 2 measures compilation in this process

    from PIL import Image
    from skimage import data

    from convcorr_jax.core import runinfo
    from convcorr_jax.pose import estimation, predict

    print(runinfo.header("pose speed", {"model": a.model, "reps": a.reps, "machine": platform.processor() or
                                        platform.machine(), "cpus": os.cpu_count()}, 0), flush=True)
    with runinfo.timed() as total:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            photo = Path(tmp) / "astronaut.jpg"
            Image.fromarray(data.astronaut()).save(photo, quality=95)
            cache = str(Path(tmp) / "jax_cache")
            times = [cli_process(a.model, photo, cache) for _ in range(1 + a.reps)]
        rows.append(f"| `convcorr pose photo.jpg`, new process, empty compilation cache | {times[0]:.1f} s | |")
        rows.append(f"| the same, cache warm (best of {a.reps}: {', '.join(f'{t:.1f}' for t in times[1:])} s) | "
                    f"{min(times[1:]):.1f} s | |")
        m = estimation.load(a.model)
        size = m.config.model.image_size
        crops = np.random.default_rng(0).integers(0, 256, (64, size, size, 3), np.uint8)
        t0 = time.perf_counter()
        estimation.estimate(list(crops), m, spatial=False)
        first = time.perf_counter() - t0
        later = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            estimation.estimate(list(crops), m, spatial=False)
            later.append(time.perf_counter() - t0)
        predict.predict_crops(m.params, crops, m.config.model, batch=64)  # compile
        net = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            predict.predict_crops(m.params, crops, m.config.model, batch=64)
            net.append(time.perf_counter() - t0)
        best, best_net = min(later), min(net)
        rows.append(f"| `pose.estimate` of 64 crops ({size} px), first call (compiles) | {first:.1f} s | "
                    f"{64 / first:.1f} |")
        rows.append(f"| the same, later calls (best of {a.reps}) | {best:.2f} s = {1000 * best / 64:.1f} ms per image | "
                    f"{64 / best:.1f} |")
        rows.append(f"| the network alone (`predict.predict_crops`, batch 64) | {1000 * best_net / 64:.1f} ms per image | "
                    f"{64 / best_net:.1f} |")
        for k, v in PAPER_MS.items():
            rows.append(f"| paper, Table 2: cascade {k}, one image on an NVIDIA K40 | {v} ms per image | "
                        f"{1000 / v:.1f} |")
        print("| call | time | images / s |\n|---|---|---|\n" + "\n".join(rows))
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
