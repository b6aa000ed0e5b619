"""Pose cascade benchmarks: training images/s per forced CPU device count (1, 2, 4, 8; each in a subprocess
with XLA_FLAGS=--xla_force_host_platform_device_count=N) and forward ms per image at 4x/8x/16x pooling, beside
the paper's K40 figures (Table 2). Writes bench/RESULTS_pose.md.

  python bench/pose.py [--devices 1,2,4,8] [--steps 4] [--stage 3] [--config default]
  python bench/pose.py --config flic_full --devices 1 --steps 2 --out ''   # seconds per step only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MARKER = "<!-- end of the generated part: bench/pose.py rewrites everything above this line -->"

CHILD = r"""
import json, sys, time
import jax, numpy as np
from convcorr_jax.core import parallel
from convcorr_jax.pose import data as pose_data, model as pose_model
from convcorr_jax.pose.training import stages
from convcorr_train import pose_configs
stage, steps, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cfg = pose_configs.get_config(name)
rng = np.random.default_rng(0)
n, s, k = 64, cfg.model.image_size, cfg.model.num_joints
pts = rng.uniform(10, s - 10, (n, k, 2)).astype(np.float32)
data = pose_data.PoseArrays(rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8), pts, np.ones((n, k), bool),
                    np.full(n, 30.0, np.float32))
mesh = parallel.make_mesh()
batches = pose_data.train_dataset(data, cfg.batch_size, steps + 1, cfg.seed)
params = pose_model.init(jax.random.PRNGKey(0), cfg.model)
state = jax.device_put({"params": params, "opt": stages.init_opt(cfg, stage, params)}, parallel.replicated(mesh))
fn = parallel.data_parallel_step(stages.make_local_step(cfg, stage), mesh)
t0 = time.perf_counter()
state, m = fn(state, parallel.shard_batch(batches[0], mesh)); float(m["loss"])
compile_s = time.perf_counter() - t0
t0 = time.perf_counter()
for i in range(1, steps + 1):
    state, m = fn(state, parallel.shard_batch(batches[i], mesh)); float(m["loss"])
dt = (time.perf_counter() - t0) / steps
print(json.dumps({"devices": len(jax.devices()), "step_s": dt, "images_s": cfg.batch_size / dt, "compile_s": compile_s}))
"""


def write_results(args, cfg, rows: list[dict], load: float) -> None:
    """Time the forward passes (Table 2) and rewrite the generated part of `args.out` with them and the training
    throughput `rows` (one dict per device count); `load` is the 1-min load average at the start."""
    import jax

    from convcorr_eval.tompson2015 import paper, tables
    from convcorr_jax.core import runinfo

    ft = tables.forward_times(cfg.model)
    for pool, v in ft.items():
        print(f"pool {pool}x: " + ", ".join(f"{k} {ms:.1f} ms" for k, ms in v.items()))
    base = rows[0]["images_s"]
    lines = ["# Pose cascade benchmarks (Tompson et al.)", "",
             f"Machine: {runinfo.machine()}; 1-min load average {load:.1f} at start (other jobs' load makes absolute "
             f"numbers pessimistic). JAX {runinfo.versions()['jax']}.",
             f"Model: {args.config} config ({cfg.model.image_size}px input, banks {cfg.model.bank}, pool {cfg.model.pool}x), "
             f"global batch {cfg.batch_size}, training stage {args.stage} (coarse+fine, E1 + 0.1 E2), "
             f"{args.steps} timed steps after compilation. Command: `python bench/pose.py`.", "",
             f"## Training throughput vs forced host devices (the same {os.cpu_count()} CPU cores)", "",
             "| devices | images/s | step (s) | ratio to 1 device |", "|---|---|---|---|"]
    lines += [f"| {r['devices']} | {r['images_s']:.1f} | {r['step_s']:.2f} | {r['images_s'] / base:.2f} |" for r in rows]
    lines += ["", f"Forced host devices share the same {os.cpu_count()} CPU cores, so a ratio above 1 is not a multi-device speed-up: "
              "several device programs keep XLA:CPU's threads busier than one, net of the data-parallel overhead "
              "(shard_map + pmean). Runs are sequential, so a change of other jobs' load between them also moves "
              "the ratio.", "",
              "## Forward time per image (ms), batch 8, best of 10 (Table 2)", "",
              "| model | 4x pool | 8x pool | 16x pool |", "|---|---|---|---|"]
    for k in ("Coarse-Model", "Fine-Model", "Cascade"):
        lines.append(f"| ours ({jax.default_backend().upper()}, {cfg.model.image_size}px, small model): {k} | " +
                     " | ".join(f"{ft[p].get(k, float('nan')):.1f}" for p in (4, 8, 16)) + " |")
    for k, v in paper.TABLE2.items():
        lines.append(f"| paper (K40 GPU, FLIC 320x240, full model): {k} | " + " | ".join(f"{x:.1f}" for x in v) + " |")
    lines += ["", f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "", MARKER]
    from convcorr_jax.core import io

    out = Path(args.out)
    old = out.read_text() if out.is_file() else ""
    kept = old.split(MARKER, 1)[1] if MARKER in old else "\n"
    io.write_text(out, "\n".join(lines) + kept)  # the hand-written training notes below the marker are kept
    print(f"wrote {args.out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="1,2,4,8")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--stage", type=int, default=3)
    p.add_argument("--config", default="default", help="a `convcorr_train.pose_configs` name")
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_pose.md")),
                   help="markdown to rewrite ('' prints the step times only)")
    args = p.parse_args(argv)
    from convcorr_jax.core import runinfo
    from convcorr_train import pose_configs

    cfg = pose_configs.get_config(args.config)
    print(runinfo.header(f"bench pose ({args.config})", cfg.model))
    with runinfo.timed() as total:
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = float("nan")
        rows = []
        for n in [int(x) for x in args.devices.split(",")]:
            env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}", JAX_PLATFORMS="cpu")
            r = subprocess.run([sys.executable, "-c", CHILD, str(args.stage), str(args.steps), args.config], env=env,
                               capture_output=True, text=True, timeout=1800)
            if r.returncode:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(f"{n} device(s): {rows[-1]['images_s']:.1f} images/s (step {rows[-1]['step_s']:.2f} s, compile "
                  f"{rows[-1]['compile_s']:.0f} s)", flush=True)
        if args.out:
            write_results(args, cfg, rows, load)
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
