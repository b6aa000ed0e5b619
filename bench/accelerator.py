"""One command for a machine with an accelerator: test suite, `flic_full` trained for a number of minutes and scored
on FLIC test with and without the spatial model, the benchmark workloads timed; writes bench/RESULTS_gpu.md.

    python bench/accelerator.py --flic flic.tar [--minutes 20] [--pf-willow PF-dataset-WILLOW] [--skip-tests]
        [--config flic_full] [--runs runs] [--out bench/RESULTS_gpu.md]
    python bench/accelerator.py --flic FLIC --tiny --minutes 0.05 --skip-tests --out RESULTS.md   # CPU smoke run

Steps, in order (docs/scaling.md):
  1. packages: the modules the steps import; a missing one stops the run at once, naming what to carry.
  2. tests: `python -m pytest -q -x` over tests/ (skipped with --skip-tests); its last line and wall time.
  3. FLIC: --flic is a FLIC folder or a `convcorr data pack-flic` archive (verified by its sha256 file, unpacked
     beside the runs).
  4. the pose training step of each stage of --config (bench/pose.py's measurement, compile excluded, best of
     --reps).
  5. training: --config's schedule scaled so that its steps take --minutes at the measured step times (the
     stages keep their proportions; TRAIN_SHARE of the time for the steps, the rest for the evaluations and
     checkpoints); `train.train` resumes a killed run when the command is repeated.
  6. scoring: `tompson2015.flic_scores.evaluate` on FLIC test with the validated spatial model (its rows with and
     without it come from one pass).
  7. benchmarks (compile excluded, best of --reps): backbone forward (AlexNet conv5, random weights: speed does not depend on
     them), BP at the paper's scale (bench/bp_speed.py's setting: 31 x 31 x 384 features, 3 levels x 10
     iterations, `bp.align`), PF-WILLOW transfer per pair (`long2014.pf_willow`'s default method, backbone with
     random weights, given --pf-willow) and ridge CV (bench/ridge.py's problem A, `ridge.fit_cv`).
  8. bench/RESULTS_gpu.md (--out), written atomically after scoring and again after the benchmarks, with every
     number labelled by the device it ran on (a run stopped during the benchmarks keeps its training rows).
The processes share one device: JAX's preallocation is off (XLA_PYTHON_CLIENT_PREALLOCATE=false unless set), and
the programs compiled by the step timing are kept in a persistent compilation cache under --runs (unless
JAX_COMPILATION_CACHE_DIR is set) for the training to load.
--tiny shrinks every benchmark workload and times the pose step of stage 3 only (a CPU smoke test of the script;
numbers meaningless).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]  # the repository and bench/ (its helpers)

TRAIN_SHARE = 0.85  # of --minutes spent in training steps; the rest: evaluations after each stage, checkpoints
# import name -> pip name of what the steps need beyond jax, flax, optax and orbax (docs/scaling.md)
NEEDED = {"grain": "grain", "scipy": "scipy", "PIL": "pillow", "h5py": "h5py", "sklearn":
          "scikit-learn", "threadpoolctl": "threadpoolctl", "tqdm": "tqdm", "tensorboardX": "tensorboardX",
          "matplotlib": "matplotlib", "markdown": "markdown", "skimage": "scikit-image"}
TEST_NEEDED = {"pytest": "pytest", "hypothesis": "hypothesis"}


def missing_packages(with_tests: bool) -> list[str]:
    """pip names of the packages this run needs that the interpreter cannot import."""
    need = {**NEEDED, **(TEST_NEEDED if with_tests else {})}
    return [pip for mod, pip in need.items() if importlib.util.find_spec(mod) is None]


def run_tests() -> dict:
    """The test suite in a subprocess: {"rc", "summary" (pytest's last line), "seconds"}."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"]
    if importlib.util.find_spec("xdist") is not None:
        cmd[3:3] = ["-n", "2"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [ln for ln in r.stdout.strip().splitlines() if ln.strip()]
    return {"rc": r.returncode, "summary": lines[-1] if lines else r.stderr.strip()[-300:],
            "seconds": time.perf_counter() - t0}


def flic_folder(path: str, work: Path) -> Path:
    """A FLIC folder: `path` itself, or its pack-flic archive verified and unpacked under work/ (once)."""
    from convcorr_jax.data.flic_pack import unpack_flic

    p = Path(path)
    if p.is_dir():
        return p
    dest = work / "FLIC"
    if not (dest / "examples.mat").is_file():
        print(f"unpack {p}: {unpack_flic(p, dest)}", flush=True)
    return dest


# --- benchmarks ----------------------------------------------------------------------------------------------

def pose_step_times(config: str, steps: int, stages: tuple[int, ...] = (1, 2, 3)) -> dict[int, float]:
    """Seconds per training step of each of `stages` of `config` (bench/pose.py's measurement in a subprocess:
    random images at the config's input size, its global batch, compile excluded); a stage not timed takes the
    time of the last one timed."""
    import pose as pose_bench

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = {}
    for stage in stages:
        r = subprocess.run([sys.executable, "-c", pose_bench.CHILD, str(stage), str(steps), config], env=env,
                           capture_output=True, text=True, cwd=ROOT, check=False)
        if r.returncode:
            raise SystemExit(f"pose step benchmark, stage {stage}: {r.stderr.strip().splitlines()[-1:]}")
        out[stage] = float(json.loads(r.stdout.strip().splitlines()[-1])["step_s"])
    return {s: out.get(s, out[stages[-1]]) for s in (1, 2, 3)}


def bench_backbone(tiny: bool, reps: int) -> tuple[str, float]:
    import jax
    import jax.numpy as jnp
    from timing import best_time

    from convcorr_jax.backbones import get

    side, n = (99, 2) if tiny else (227, 16)
    bb = get("torchvision_alexnet")
    params = bb.init(jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(n, side, side, 3)), jnp.float32)
    t = best_time(lambda v: bb.apply(params, v, taps=("conv5",))["conv5"], x, reps=reps)
    return f"AlexNet to conv5, {side} px, batch {n}: ms per image", 1e3 * t / n


def bench_bp(tiny: bool, reps: int) -> tuple[str, float]:
    from bp_speed import DEPTH, GRID, ITERS, LEVELS
    from timing import best_time

    from convcorr_jax.flow import bp

    grid, depth = (8, 16) if tiny else (GRID, DEPTH)
    f = np.random.default_rng(0).normal(size=(2, grid, grid, depth)).astype(np.float32)
    cfg = bp.BPConfig(iters=ITERS, levels=LEVELS)
    t = best_time(lambda a, b: bp.align(a, b, cfg, 16.0).energy, f[0], f[1], reps=reps)
    return f"BP flow (`bp.align`), {grid} x {grid} x {depth} features, {LEVELS} levels x {ITERS} iterations: ms per pair", 1e3 * t


def bench_pf_willow(root: str | None, tiny: bool) -> tuple[str, float | None]:
    label = "PF-WILLOW transfer, default method (random backbone weights): s per pair"
    if not root:
        return label + " (skipped: no --pf-willow)", None
    from convcorr_eval.long2014 import pf_willow

    from convcorr_jax.correspondence import transfer_points
    from convcorr_jax.weights import load_backbone

    cfg = dataclasses.replace(pf_willow.get_config("default"), data_root=root)
    per = 1 if tiny else 3
    samples, pairs, _ = pf_willow.pf_willow_set(root, per)
    model = load_backbone(cfg.backbone, "random", cfg.seed)
    points, _ = pf_willow.keypoint_table(samples)
    times = []
    for i, j in pairs[: per + 2]:
        t0 = time.perf_counter()
        transfer_points(samples[i].image, samples[j].image, points[i], model=model, config=cfg.transfer)
        times.append(time.perf_counter() - t0)
    return f"{label}, mean of {len(times) - 1} after the first", float(np.mean(times[1:]))


def bench_ridge(tiny: bool) -> tuple[str, float]:
    from ridge import make_problem

    from convcorr_jax.linear import ridge

    n, d, t = (200, 64, 4) if tiny else (8000, 4096, 136)
    x, y = make_problem(n, d, t)
    lambdas = np.logspace(-4, 2, 7)
    folds = ridge.make_folds(n, 4, 0)
    ridge.fit_cv(x, y, lambdas, folds)  # compiles
    t0 = time.perf_counter()
    ridge.fit_cv(x, y, lambdas, folds)
    return f"ridge CV (`ridge.fit_cv`), n {n}, d {d}, T {t}, 7 lambdas x 4 folds + refit: s", time.perf_counter() - t0


# --- training and scoring ------------------------------------------------------------------------------------

def budget_steps(steps: tuple[int, int, int], step_s: dict[int, float], minutes: float) -> tuple[int, int, int]:
    """`steps` scaled (proportions kept, at least 1 each) so that they take TRAIN_SHARE x `minutes` at the measured
    seconds per step of each stage."""
    total = sum(steps)
    per_unit = sum(s / total * step_s[i + 1] for i, s in enumerate(steps))
    units = TRAIN_SHARE * minutes * 60 / per_unit
    return tuple(max(1, round(s / total * units)) for s in steps)


def train_and_score(config: str, root: Path, steps: tuple[int, int, int], runs: str) -> dict:
    """Train `config` on FLIC with `steps`, then score it on FLIC test with the validated spatial model."""
    from convcorr_eval.tompson2015 import flic_scores
    from convcorr_train import pose_configs

    from convcorr_jax.config import override
    from convcorr_jax.pose import spatial as spatial_mrf
    from convcorr_jax.pose import train

    cfg = override(pose_configs.get_config(config), (f"data_root={root}", f"out={runs}",
                                                "steps=" + ",".join(str(s) for s in steps)))
    t0 = time.perf_counter()
    res = train.train(cfg, progress=True)
    wall = time.perf_counter() - t0
    tc, params = flic_scores.load_run(cfg.run_dir())
    t0 = time.perf_counter()
    scores = flic_scores.evaluate(tc, params, root, "test", "on", False, spatial_mrf.FLIC_VALIDATED)
    return {"config": config, "steps": list(steps), "train_s": wall, "eval_s": time.perf_counter() - t0,
            "run": str(cfg.run_dir()), "last_eval": res.evals[-1] if res.evals else {}, "scores": scores}


# --- report --------------------------------------------------------------------------------------------------

def device_line() -> str:
    import jax

    d = jax.devices()
    return f"{len(d)} x {d[0].device_kind} ({d[0].platform}), host {platform.machine()}, jax {jax.__version__}"


def markdown(r: dict) -> str:
    from convcorr_eval.tompson2015 import paper

    lines = ["# Accelerator run (bench/accelerator.py)", "", f"Device: {r['device']}.",
             f"Command: `{r['command']}`; wall time {r['wall_s']:.0f} s"
             + (" (--tiny: every workload shrunk, numbers meaningless)" if r["tiny"] else "") + ".", ""]
    t = r.get("tests")
    lines += ["## Test suite", "", "skipped (--skip-tests)" if t is None else
              f"`pytest -q -x tests`: exit {t['rc']}, {t['summary']} ({t['seconds']:.0f} s)", ""]
    tr = r["train"]
    times = ", ".join(f"{s}: {v:.3f} s" for s, v in r["step_s"].items())
    lines += ["## Training", "",
              (f"`{tr['config']}` on FLIC train (minus the validation movies), schedule {tr['steps']} steps (stage "
               f"step times {times} measured first; {r['minutes']:g} min budget), training wall time "
               f"{tr['train_s']:.0f} s, scoring {tr['eval_s']:.0f} s; run folder {tr['run']}."), ""]
    sc = tr["scores"]
    cols = ["Head", "Shoulder", "Elbow", "Wrist", "Hip"]
    lines += [f"## FLIC test PCK@0.05 (torso), {sc['n']} people, input: {sc['protocol']} {sc['image_size']} px", "",
              "| model | " + " | ".join(cols) + " | Wrist@0.2 |", "|---" * (len(cols) + 2) + "|"]
    for m, v in sc["pck"]["0.05"].items():
        w2 = sc["pck"]["0.2"][m]["Wrist"]
        lines.append(f"| ours {tr['config']} {m} | " + " | ".join(f"{100 * v[c]:.1f}" for c in cols)
                     + f" | {100 * w2:.1f} |")
    for k, v in paper.TABLE3.items():
        lines.append(f"| paper {k} | " + " | ".join(f"{x:.1f}" for x in v) + " | | |")
    lines += ["", f"## Benchmarks ({r['device']})", "", "| workload | value |", "|---|---|"]
    for s, v in r["step_s"].items():
        lines.append(f"| pose training step, `{tr['config']}` stage {s} (global batch {r['batch']}): s | {v:.4f} |")
    if "bench" not in r:
        lines.append("| the other workloads | not reached (the run stopped before them) |")
    for label, v in r.get("bench", ()):
        lines.append(f"| {label} | {'-' if v is None else f'{v:.4g}'} |")
    lines += ["", f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flic", required=True, help="FLIC folder, or its `convcorr data pack-flic` archive")
    p.add_argument("--minutes", type=float, default=20.0, help="training budget (minutes)")
    p.add_argument("--config", default="flic_full", help="the pose config trained")
    p.add_argument("--pf-willow", default=None, help="PF-dataset-WILLOW folder (else that benchmark is skipped)")
    p.add_argument("--skip-tests", action="store_true", help="do not run the test suite")
    p.add_argument("--tiny", action="store_true", help="shrink every benchmark workload (a smoke run)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per benchmark (best kept)")
    p.add_argument("--runs", default="runs", help="folder of the training run")
    p.add_argument("--out", default=str(ROOT / "bench" / "RESULTS_gpu.md"))
    a = p.parse_args(argv)
    missing = missing_packages(not a.skip_tests)
    if missing:
        print(f"missing packages: {' '.join(missing)}; carry their wheels (pip download {' '.join(missing)} -d "
              "wheels) and install them (pip install --no-index --find-links wheels ...): docs/scaling.md",
              file=sys.stderr)
        return 2
    if not a.minutes > 0:
        print(f"--minutes: expected > 0, got {a.minutes}", file=sys.stderr)
        return 2
    # before JAX starts: the step timers share the device
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(a.runs).resolve() / "jax_cache"))
    from convcorr_train import pose_configs

    from convcorr_jax import io

    t_start = time.perf_counter()
    r: dict = {"command": " ".join(["python bench/accelerator.py", *(argv if argv is not None else sys.argv[1:])]),
               "tiny": a.tiny, "minutes": a.minutes, "device": device_line(),
               "batch": pose_configs.get_config(a.config).batch_size}
    print(f"device: {r['device']}", flush=True)
    r["tests"] = None if a.skip_tests else run_tests()
    if r["tests"] is not None:
        print(f"tests: {r['tests']['summary']}", flush=True)
    root = flic_folder(a.flic, Path(a.runs))
    r["step_s"] = pose_step_times(a.config, 1, (3,)) if a.tiny else pose_step_times(a.config, a.reps)
    print(f"pose step s per stage: {r['step_s']}", flush=True)
    steps = budget_steps(pose_configs.get_config(a.config).steps, r["step_s"], a.minutes)
    print(f"training {a.config} for {a.minutes:g} min: steps {steps}", flush=True)
    r["train"] = train_and_score(a.config, root, steps, a.runs)
    r["wall_s"] = time.perf_counter() - t_start
    io.write_text(a.out, markdown(r))
    print(f"wrote {a.out} (training and scoring)", flush=True)
    r["bench"] = [bench_backbone(a.tiny, a.reps), bench_bp(a.tiny, a.reps), bench_pf_willow(a.pf_willow, a.tiny),
                  bench_ridge(a.tiny)]
    for label, v in r["bench"]:
        print(f"{label}: {v}", flush=True)
    r["wall_s"] = time.perf_counter() - t_start
    io.write_text(a.out, markdown(r))
    print(f"wrote {a.out}")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
