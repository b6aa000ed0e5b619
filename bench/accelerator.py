"""One command for a machine with an accelerator: `flic_gpu` (the `flic` recipe scaled for one GPU) trained for a
number of minutes, scored on FLIC test three ways and on the validation movies, the benchmark workloads timed;
writes bench/RESULTS_gpu.md.

    python bench/accelerator.py --flic flic.tar [--minutes 5] [--pf-willow PF-dataset-WILLOW] [--skip-tests]
        [--config flic_gpu] [--set field=value ...] [--runs runs] [--out bench/RESULTS_gpu.md]
        [--export MODEL_DIR] [--scorings val,test,test_crops,test_frames]
    python bench/accelerator.py --flic FLIC --tiny --minutes 0.002 --skip-tests --out RESULTS.md   # CPU smoke run
    python bench/accelerator.py --people person.zip --config person_gpu --scorings "" --export OUT/model ...

Steps, in order (docs/scaling.md):
  1. packages: the modules the steps import, and the config's pretrained trunk weights (`flic_gpu`: MobileNetV2's
     ImageNet file, installed or in the weights cache, docs/weights.md; none with `--set init_from=MODEL`, whose
     params.npz holds the trunk); anything missing stops the run at once, naming what to carry.
  2. tests: `python -m pytest -q -x` over tests/ (skipped with --skip-tests); its last line and wall time.
  3. data: --flic is a FLIC folder or a `convcorr data pack-flic` archive (verified by its sha256 file, unpacked
     beside the runs); or --people, a mixture's archive (`pose.mixture_pack.pack_mixture`, e.g. of `person_gpu`'s
     FLIC and LSP-extended train and validation people), unpacked beside the runs as the config's data_root.
  4. the pose training step of each stage of --config with the --set overrides (bench/pose.py's measurement,
     compile excluded, best of --reps).
  5. training: the config's schedule scaled so that its steps take --minutes at the measured step times (the
     stages keep their proportions; TRAIN_SHARE of the time for the steps, the rest for the evaluations on the
     validation movies and checkpoints); `loop.train` resumes a killed run when the command is repeated: the
     schedule and step times are kept under --runs (`PLAN_FILE`) and a repeat of the same --config, --set and
     --minutes reuses them (step 4 is skipped), since a schedule measured again would differ and its checkpoint
     would not resume.
  6. scoring (`tompson2015.flic_scores.evaluate`, the validated spatial model's rows beside the rows without it),
     in `SCORINGS`' order, cheapest first: the validation movies plain (one person crop, no flip: the run's settings
     are judged there), FLIC test plain, FLIC test person crops with `CROP_TEST_TIME` (flip and crop scales), FLIC test
     whole frames in two passes with `FRAME_TEST_TIME` (its input side scaled by the run's crop side over `flic`'s);
     the last two only for a run trained on person crops.
  7. benchmarks (compile excluded, best of --reps): backbone forward (AlexNet conv5, random weights: speed does not
     depend on them), BP at the paper's scale (bench/bp_speed.py's setting: 31 x 31 x 384 features, 3 levels x 10
     iterations, `bp.solve_flow`), PF-WILLOW transfer per pair (`long2014.pf_willow`'s default method, backbone with
     random weights, given --pf-willow) and ridge CV (bench/ridge.py's problem A, `ridge.fit_cv`).
  8. bench/RESULTS_gpu.md (--out), written atomically after each of steps 2, 4, 5, every scoring of 6, and 7,
     every number labelled by the device it ran on: a run cut short keeps what it measured.
With --export DIR the trained model is written there as a model folder (`pose.shipped` format: float32 parameters
in one npz, the spatial model, model.json with the command, device and code version) right after training, before
any scoring: a few MiB that come back from a device whose images were re-encoded, so that the test rows are scored
on the original images elsewhere (`convcorr eval flic --run DIR`). --scorings picks which of `SCORINGS` run (e.g.
`val` alone with a pack of the training images, `convcorr data pack-flic --split train`).
Budget: the default --minutes 5 of training (steps, evaluations, checkpoints) leaves 3 of 8 minutes on one H100
for loading the data, compiling (from the cache the step timing fills) and the four scorings; each part's seconds
are in the RESULTS file.
The processes share one device: JAX's preallocation is off (XLA_PYTHON_CLIENT_PREALLOCATE=false unless set), and
the programs compiled by the step timing are kept in a persistent compilation cache under --runs (unless
JAX_COMPILATION_CACHE_DIR is set) for the training to load.
--tiny shrinks every benchmark workload, applies `TINY_SET` before the --set overrides (the config at 64 px, a
batch of 8, a trunk with random weights and frozen) and times the pose step of stage 3 only (a CPU smoke test of the
script; numbers meaningless).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported at run time only after the environment is set (JAX reads it on import)
    from convcorr_jax.pose.training.config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]  # the repository and bench/ (its helpers)

TRAIN_SHARE = 0.85  # of --minutes spent in training steps; the rest: evaluations after each stage, checkpoints
# import name -> pip name of what the steps need beyond jax, flax, optax and orbax (docs/scaling.md)
NEEDED = {"grain": "grain", "scipy": "scipy", "PIL": "pillow", "h5py": "h5py", "sklearn":
          "scikit-learn", "threadpoolctl": "threadpoolctl", "tqdm": "tqdm", "tensorboardX": "tensorboardX",
          "matplotlib": "matplotlib", "markdown": "markdown", "skimage": "scikit-image"}
TEST_NEEDED = {"pytest": "pytest", "hypothesis": "hypothesis"}
# the project's packages whose folder is named otherwise (pyproject.toml): importable only when the checkout is
# installed or linked on PYTHONPATH under these names (docs/scaling.md); import name -> folder
PROJECT = {"convcorr_eval": "eval", "convcorr_train": "train"}
# --tiny: the config at a CPU smoke size (before the --set overrides): model.context and model.fine as `flic_tiny`'s;
# a trunk keeps its architecture with seeded random weights, frozen (its backward pass would double the compile time)
TINY_SET = ("model.image_size=64", "model.context=16", "model.sigma=1", "model.fine=4,4,8,8", "model.trunk_head=16",
            "model.trunk_weights=random", "trunk_train=none", "batch_size=8", "checkpoint_every=8", "eval_limit=64")
# the scorings, in the order run (cheapest first, so that a run cut short keeps the most): key -> (split, test time)
SCORINGS = {"val": ("val", "plain"), "test": ("test", "plain"), "test_crops": ("test", "CROP_TEST_TIME"),
            "test_frames": ("test", "FRAME_TEST_TIME")}
# under --runs: the schedule and step times an invocation planned, reused by a repeat of the same --config, --set and
# --minutes (step 5); one file per such key (its digest), so that another budget tried in between keeps this one's
PLAN_FILE = "{name}.accelerator.{digest}.json"
# bench/pose.py's step-timing child reads a config by name; this prelude applies the --set overrides (a JSON list,
# the child's 4th argument) to the config it reads
STEP_CHILD_PRELUDE = """import json, sys
from convcorr_jax.core.config import override
from convcorr_train import pose_configs
_named = pose_configs.get_config
pose_configs.get_config = lambda name: override(_named(name), json.loads(sys.argv[4]))
"""


def missing_packages(with_tests: bool) -> list[str]:
    """pip names of the packages this run needs that the interpreter cannot import."""
    need = {**NEEDED, **(TEST_NEEDED if with_tests else {})}
    return [pip for mod, pip in need.items() if importlib.util.find_spec(mod) is None]


def missing_project() -> list[str]:
    """The project's packages (`PROJECT`) this interpreter cannot import, as "name (folder/)"."""
    return [f"{mod} ({folder}/)" for mod, folder in PROJECT.items() if importlib.util.find_spec(mod) is None]


def missing_weights(cfg: TrainConfig) -> list[str]:
    """What to carry for the pretrained weights a TrainConfig loads: [] when none (no trunk, random trunk weights, or
    a run started from `init_from`'s parameters, which hold the trunk) or when they are installed or in the weights
    cache (`weights.sources.package_file` without fetching), else one line naming the file."""
    if not cfg.model.trunk or cfg.model.trunk_weights != "imagenet" or cfg.init_from is not None:
        return []
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.weights import sources

    try:
        sources.package_file(sources.MOBILENET_V2, fetch=False)
    except InputError as e:
        return [f"{cfg.model.trunk} ImageNet weights: {e.expected} (docs/weights.md, Offline)"]
    return []


def timing_sets(cfg: TrainConfig, sets: tuple[str, ...]) -> tuple[str, ...]:
    """The overrides the step timing runs under: `sets`, and a random trunk for a run started from `init_from` (the
    timing child draws its parameters; the ImageNet file need not travel, and the speed does not depend on them)."""
    return (*sets, "model.trunk_weights=random") if cfg.init_from is not None else sets


def plan_path(runs: str, name: str, key: dict) -> Path:
    """The plan file (`PLAN_FILE`) of the run `name` under `runs` for `key` ({"config", "sets", "minutes"})."""
    from convcorr_jax.core.cache import digest

    return Path(runs) / PLAN_FILE.format(name=name, digest=digest(key))


def read_plan(runs: str, name: str, key: dict) -> dict | None:
    """The plan an earlier invocation wrote under `runs` for the run `name` with the same `key` ({"config", "sets",
    "minutes"}): {"key", "step_s" {stage: s}, "steps" (3 ints)}; None when there is none, it is unreadable or its key
    differs."""
    try:
        plan = json.loads(plan_path(runs, name, key).read_text())
        if plan["key"] != key:
            return None
        return {**plan, "step_s": {int(k): float(v) for k, v in plan["step_s"].items()},
                "steps": tuple(int(s) for s in plan["steps"])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_plan(runs: str, name: str, key: dict, step_s: dict[int, float], steps: tuple[int, int, int]) -> Path:
    """Write the plan `read_plan` reads (atomically); returns its path."""
    from convcorr_jax.core import io

    path = plan_path(runs, name, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_json(path, {"key": key, "step_s": {str(k): v for k, v in step_s.items()}, "steps": list(steps)})
    return path


def config_of(name: str, sets: tuple[str, ...]) -> TrainConfig:
    """The named pose config with the `field=value` overrides applied (`config.override`)."""
    from convcorr_train import pose_configs

    from convcorr_jax.core.config import override

    return override(pose_configs.get_config(name), sets)


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


def people_folder(path: str, work: Path) -> Path:
    """The data root of a mixture: `path` itself, or its `pack_mixture` archive verified and unpacked under work/
    (once)."""
    from convcorr_jax.pose.mixture_pack import unpack_mixture

    p = Path(path)
    if p.is_dir():
        return p
    dest = work / "people"
    if not dest.is_dir():
        print(f"unpack {p}: {unpack_mixture(p, dest)}", flush=True)
    return dest


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

def pose_step_times(config: str, steps: int, stages: tuple[int, ...] = (1, 2, 3), sets: tuple[str, ...] = ()
                    ) -> dict[int, float]:
    """Seconds per training step of each of `stages` of `config` with the overrides `sets` (bench/pose.py's
    measurement in a subprocess: random images at the config's input size, its global batch, compile excluded); a
    stage not timed takes the time of the last one timed."""
    import pose as pose_bench

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = {}
    for stage in stages:
        r = subprocess.run([sys.executable, "-c", STEP_CHILD_PRELUDE + pose_bench.CHILD, str(stage), str(steps),
                            config, json.dumps(list(sets))], env=env, capture_output=True, text=True, cwd=ROOT,
                           check=False)
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
    t = best_time(lambda a, b: bp.solve_flow(a, b, cfg, 16.0).energy, f[0], f[1], reps=reps)
    return f"BP flow (`bp.solve_flow`), {grid} x {grid} x {depth} features, {LEVELS} levels x {ITERS} iterations: ms per pair", 1e3 * t


def bench_pf_willow(root: str | None, tiny: bool) -> tuple[str, float | None]:
    label = "PF-WILLOW transfer, default method (random backbone weights): s per pair"
    if not root:
        return label + " (skipped: no --pf-willow)", None
    from convcorr_eval.long2014 import pf_willow, pf_willow_protocol

    from convcorr_jax.correspondence import transfer_points
    from convcorr_jax.weights import load_backbone

    cfg = dataclasses.replace(pf_willow.get_config("default"), data_root=root)
    per = 1 if tiny else 3
    samples, pairs, _ = pf_willow_protocol.pf_willow_set(root, per)
    model = load_backbone(cfg.backbone, "random", cfg.seed)
    points, _ = pf_willow_protocol.keypoint_table(samples)
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


def train_run(config: str, sets: tuple[str, ...], root: Path, steps: tuple[int, int, int], runs: str) -> dict:
    """Train `config` with the overrides `sets` on FLIC with `steps`: {"config", "steps", "train_s", "run",
    "last_eval"}."""
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training import loop

    cfg = config_of(config, (*sets, f"data_root={root}", f"out={runs}", "steps=" + ",".join(str(s) for s in steps)))
    t0 = time.perf_counter()
    res = loop.train(cfg, progress=True, on_stage=model_folder.write_stage)
    return {"config": config, "steps": list(steps), "train_s": time.perf_counter() - t0, "run": str(cfg.run_dir()),
            "last_eval": res.evals[-1] if res.evals else {}}


def export_model(run: str, out: str, command: str, device: str) -> dict:
    """The trained run folder `run` written as a model folder `out` (`pose.shipped.write`: float32 parameters, the
    spatial model, model.json naming the command, the device and the code version); returns its record."""
    from convcorr_eval.tompson2015 import flic_scores

    from convcorr_jax.pose import readout as pose_readout
    from convcorr_jax.pose import shipped
    from convcorr_jax.pose.training import run_folder
    from convcorr_jax.pose import spatial as spatial_mrf

    tc, params = flic_scores.load_run(run)
    metrics = run_folder.read_metrics(run) or {}
    about = {"summary": f"`{tc.name.removeprefix('pose_')}` trained by bench/accelerator.py", "expects": "",
             "scores": {}, "made_by": {"command": command, "machine": device,
                                       "code_version": metrics.get("key", {}).get("version"),
                                       "seconds": metrics.get("seconds"), "versions": metrics.get("versions")}}
    return shipped.write(out, Path(out).name, tc, params, spatial_mrf.load_spatial_model(run), None, about,
                         pose_readout.load_readout(run))


def score(kind: str, run: str, root: Path) -> dict | None:
    """The scoring `kind` of `SCORINGS` of the trained run folder `run` (`flic_scores.evaluate` with the validated
    spatial model): its result with "seconds" and "test_time" added; None for test-time settings of person crops (crop
    scales, second pass) when the run trained on whole frames."""
    from convcorr_eval.tompson2015 import flic_scores

    from convcorr_jax.pose import spatial as spatial_mrf
    from convcorr_jax.pose.estimation import CROP_TEST_TIME
    from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, frame_input_size

    split, test_time = SCORINGS[kind]
    tc, params = flic_scores.load_run(run)
    if test_time != "plain" and tc.protocol != "person":
        return None
    spatial = spatial_mrf.FLIC_VALIDATED
    t0 = time.perf_counter()
    if test_time == "CROP_TEST_TIME":
        res = flic_scores.evaluate(tc, params, root, split, "on", False, spatial, test_flip=CROP_TEST_TIME["flip"],
                                   test_scales=CROP_TEST_TIME["scales"], test_merge=CROP_TEST_TIME["merge"])
    elif test_time == "FRAME_TEST_TIME":
        frames = flic_scores.with_input(tc, "frame", frame_input_size(tc.model))
        res = flic_scores.evaluate(frames, params, root, split, "on", False,
                                   dataclasses.replace(spatial, unary_power=FRAME_TEST_TIME["unary_power"]),
                                   test_flip=FRAME_TEST_TIME["flip"], test_scales=FRAME_TEST_TIME["scales"],
                                   second_pass=tc, second_scale=FRAME_TEST_TIME["second_pass"],
                                   test_merge=FRAME_TEST_TIME["merge"])
    else:
        res = flic_scores.evaluate(tc, params, root, split, "on", False, spatial)
    return {**res, "test_time": test_time, "seconds": time.perf_counter() - t0}


# --- report --------------------------------------------------------------------------------------------------

def command_line(argv: list[str]) -> str:
    """The command as a shell line that runs it again (an empty `--scorings ""` and paths with spaces quoted), for
    the RESULTS file and the exported model.json."""
    return shlex.join(["python", "bench/accelerator.py", *argv])


def device_line() -> str:
    import jax

    d = jax.devices()
    return f"{len(d)} x {d[0].device_kind} ({d[0].platform}), host {platform.machine()}, jax {jax.__version__}"


def test_time_label(test_time: str) -> str:
    """What the test-time settings of a scoring of `SCORINGS` do, with the library's values."""
    from convcorr_jax.pose.estimation import CROP_TEST_TIME
    from convcorr_jax.pose.two_pass import FRAME_TEST_TIME

    def scales(d: dict) -> str:
        return " / ".join(f"{v:g}" for v in d["scales"]) + f" ({d['merge']})"

    return {"plain": "one person crop at the run's input, no flip, no crop scales",
            "CROP_TEST_TIME": f"person crops, flip, crop scales {scales(CROP_TEST_TIME)}",
            "FRAME_TEST_TIME": (f"whole frames in two passes: letterboxed frames ({FRAME_TEST_TIME['input_size']} px "
                                "for `flic`'s crops, scaled by the run's crop side), spatial-model unary power "
                                f"{FRAME_TEST_TIME['unary_power']:g}, the person cropped again at "
                                f"{FRAME_TEST_TIME['second_pass']:g} x the crop scale around the predicted torso, flip, "
                                f"crop scales {scales(FRAME_TEST_TIME)}; its row: two-pass")}[test_time]


def score_lines(r: dict) -> list[str]:
    """The PCK section: one table, a row per scoring and model read-out (PCK@0.05 per joint group, wrist PCK@0.2,
    the scoring's seconds), the paper's rows, and a line for each scoring not reached or not applicable."""
    from convcorr_eval.tompson2015 import paper

    cols = ["Head", "Shoulder", "Elbow", "Wrist", "Hip"]
    lines = ["## FLIC PCK@0.05 (torso)", "", "Test-time settings (the validated spatial model's rows beside the "
             "rows without it; the run's settings are judged on the validation movies):"]
    lines += [f"- {k}: {test_time_label(k)}" for k in dict.fromkeys(v for _, v in SCORINGS.values())]
    lines += ["", "| split | test time | people | input | model | " + " | ".join(cols) + " | Wrist@0.2 | s |",
              "|---" * (len(cols) + 7) + "|"]
    notes = []
    for kind, (split, test_time) in SCORINGS.items():
        if kind not in r.get("scores", {}):
            notes.append(f"{split}, {test_time}: not run here (--scorings)" if kind not in r.get("scorings", SCORINGS)
                         else f"{split}, {test_time}: not reached (the run stopped before it)")
            continue
        sc = r["scores"][kind]
        if sc is None:
            notes.append(f"{split}, {test_time}: not applicable (the run trained on whole frames)")
            continue
        for m, v in sc["pck"]["0.05"].items():
            lines.append(f"| {split} | {test_time} | {sc['n']} | {sc['protocol']} {sc['image_size']} px | {m} | "
                         + " | ".join(f"{100 * v[c]:.1f}" for c in cols)
                         + f" | {100 * sc['pck']['0.2'][m]['Wrist']:.1f} | {sc['seconds']:.0f} |")
    for k, v in paper.TABLE3.items():
        lines.append(f"| test | paper | | | {k} | " + " | ".join(f"{x:.1f}" for x in v) + " | | | |")
    return lines + ([""] + [f"- {n}" for n in notes] if notes else []) + [""]


def people_lines(r: dict) -> list[str]:
    """The evaluation section of a --people run, which has no FLIC scoring: what ran instead."""
    lines = ["## Evaluation", "", "No FLIC PCK table: --people trains a mixture and runs no FLIC scoring (those read "
             "FLIC test). The run evaluated its validation people after each stage (metrics.json in the run folder)"]
    done = r.get("exported")
    lines[-1] += (f"; the model was exported to {done} (score it with `bench/pose_blazepose.py --split val`)."
                  if done else ".")
    return lines + [""]


def markdown(r: dict) -> str:
    """The RESULTS file of what `r` holds so far; a part not reached says so."""
    lines = ["# Accelerator run (bench/accelerator.py)", "", f"Device: {r['device']}.",
             f"Command: `{r['command']}`; wall time {r['wall_s']:.0f} s"
             + (" (--tiny: every workload shrunk, numbers meaningless)" if r["tiny"] else "")
             + ("" if r.get("done") else " (so far: the run had not finished when this was written)") + ".", ""]
    t = r.get("tests")
    lines += ["## Test suite", "", "skipped (--skip-tests)" if t is None else
              f"`pytest -q -x tests`: exit {t['rc']}, {t['summary']} ({t['seconds']:.0f} s)", ""]
    tr = r.get("train")
    times = ", ".join(f"{s}: {v:.3f} s" for s, v in r.get("step_s", {}).items())
    sets = f" with `--set {' '.join(r['sets'])}`" if r["sets"] else ""
    lines += ["## Training", "", "not reached" if tr is None else
              (f"`{tr['config']}`{sets} ({r['image_size']} px inputs, global batch {r['batch']}) on {r['data']}, "
               f"schedule {tr['steps']} steps (stage step times {times} measured "
               + (f"by the first invocation, {r['plan']}" if r.get("plan") else "first")
               + f"; {r['minutes']:g} min budget), training wall time {tr['train_s']:.0f} s; run folder "
               f"{tr['run']}."), ""]
    if tr is not None:
        lines += people_lines(r) if r.get("people") else score_lines(r)
    lines += [f"## Benchmarks ({r['device']})", "", "| workload | value |", "|---|---|"]
    for s, v in r.get("step_s", {}).items():
        lines.append(f"| pose training step, `{r['config']}` stage {s} (global batch {r['batch']}): s | {v:.4f} |")
    if "bench" not in r:
        lines.append("| the other workloads | not reached (the run stopped before them) |")
    for label, v in r.get("bench", ()):
        lines.append(f"| {label} | {'-' if v is None else f'{v:.4g}'} |")
    lines += ["", f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    return "\n".join(lines)


def write(r: dict, out: str, t_start: float, part: str) -> None:
    """The RESULTS file of `r` so far, written atomically (`io.write_text`), after `part`."""
    from convcorr_jax.core import io

    r["wall_s"] = time.perf_counter() - t_start
    io.write_text(out, markdown(r))
    print(f"wrote {out} ({part})", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--flic", help="FLIC folder, or its `convcorr data pack-flic` archive")
    data.add_argument("--people", help="a mixture's data root, or its `pose.mixture_pack` archive (--scorings \"\")")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="training budget (minutes; 5 leaves 3 of 8 for loading, compiling and the four scorings)")
    p.add_argument("--config", default="flic_gpu", help="the pose config trained")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field of the config (repeatable; after --tiny's TINY_SET)")
    p.add_argument("--pf-willow", default=None, help="PF-dataset-WILLOW folder (else that benchmark is skipped)")
    p.add_argument("--skip-tests", action="store_true", help="do not run the test suite")
    p.add_argument("--tiny", action="store_true", help="shrink the config and every benchmark workload (a smoke run)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per benchmark (best kept)")
    p.add_argument("--runs", default="runs", help="folder of the training run")
    p.add_argument("--out", default=str(ROOT / "bench" / "RESULTS_gpu.md"))
    p.add_argument("--export", default=None, metavar="DIR",
                   help="write the trained model there (a model folder) right after training")
    p.add_argument("--scorings", default=",".join(SCORINGS),
                   help=f"which scorings run, comma-separated among {','.join(SCORINGS)}")
    a = p.parse_args(argv)
    scorings = [k for k in a.scorings.split(",") if k]
    if (not scorings and not a.people) or any(k not in SCORINGS for k in scorings) or (a.people and scorings):
        print(f"--scorings: expected names among {','.join(SCORINGS)} (none with --people: the FLIC scorings read "
              f"FLIC test), got {a.scorings!r}", file=sys.stderr)
        return 2
    missing = missing_packages(not a.skip_tests)
    if missing:
        print(f"missing packages: {' '.join(missing)}; carry their wheels (pip download {' '.join(missing)} -d "
              "wheels) and install them (pip install --no-index --find-links wheels ...): docs/scaling.md",
              file=sys.stderr)
        return 2
    own = missing_project()
    if own:
        print(f"not importable: {', '.join(own)}; install the checkout (pip install --no-deps -e .) or link those "
              "folders under their package names in a folder on PYTHONPATH: docs/scaling.md", file=sys.stderr)
        return 2
    if not a.minutes > 0:
        print(f"--minutes: expected > 0, got {a.minutes}", file=sys.stderr)
        return 2
    if a.reps < 1:
        print(f"--reps: expected >= 1, got {a.reps}", file=sys.stderr)
        return 2
    data_path = a.flic or a.people
    if not Path(data_path).exists():  # before the tests and the step timings: minutes of device time
        print(f"--{'flic' if a.flic else 'people'}: expected a folder or archive, got {data_path} (no such path)",
              file=sys.stderr)
        return 2
    # before JAX starts: the step timers share the device
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(a.runs).resolve() / "jax_cache"))
    sets = (*(TINY_SET if a.tiny else ()), *a.sets)
    from convcorr_jax.core import io, runinfo
    from convcorr_jax.core.errors import InputError

    try:  # a bad --config, --set or --export: one line, before any work
        cfg = config_of(a.config, sets)
        if a.export:
            from convcorr_jax.pose import shipped

            io.check_replaceable(a.export, shipped.MODEL_FOLDER, "--export")
    except InputError as e:
        print(f"accelerator.py: error: {e}", file=sys.stderr)
        return 2
    weights = missing_weights(cfg)
    if weights:
        print(f"missing weights: {'; '.join(weights)}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    r: dict = {"command": command_line(argv if argv is not None else sys.argv[1:]),
               "tiny": a.tiny, "minutes": a.minutes, "device": device_line(), "config": a.config, "sets": list(sets),
               "batch": cfg.batch_size, "image_size": cfg.model.image_size, "scores": {}, "people": bool(a.people),
               "data": ("FLIC train (minus the validation movies)" if a.flic else "the train parts of "
                        + ", ".join(f"{p.kind} ({p.root}, share {p.share:g})" for p in cfg.datasets))}
    print(runinfo.header("accelerator run", {**vars(a), "sets": list(sets)}, cfg.seed), flush=True)
    print(f"device: {r['device']}", flush=True)
    r["tests"] = None if a.skip_tests else run_tests()
    if r["tests"] is not None:
        print(f"tests: {r['tests']['summary']}", flush=True)
        write(r, a.out, t_start, "tests")
    root = flic_folder(a.flic, Path(a.runs)) if a.flic else people_folder(a.people, Path(a.runs))
    key = {"config": a.config, "sets": list(sets), "minutes": a.minutes}
    plan = read_plan(a.runs, cfg.name, key)
    if plan is not None:  # a repeat: the first invocation's schedule, so that its checkpoint resumes
        r["step_s"], steps, r["plan"] = plan["step_s"], plan["steps"], str(plan_path(a.runs, cfg.name, key))
        print(f"pose step s per stage: {r['step_s']} (measured by the first invocation, {r['plan']})", flush=True)
    else:
        timed = timing_sets(cfg, sets)
        r["step_s"] = (pose_step_times(a.config, 1, (3,), timed) if a.tiny
                       else pose_step_times(a.config, a.reps, sets=timed))
        print(f"pose step s per stage: {r['step_s']}", flush=True)
        steps = budget_steps(cfg.steps, r["step_s"], a.minutes)
        write_plan(a.runs, cfg.name, key, r["step_s"], steps)
    write(r, a.out, t_start, "step times")
    print(f"training {a.config} for {a.minutes:g} min: steps {steps}", flush=True)
    try:
        r["train"] = train_run(a.config, sets, root, steps, a.runs)
    except InputError as e:  # e.g. a checkpoint of another --minutes or --set under --runs: one line
        print(f"accelerator.py: error: {e} (this script's run folder: --runs)", file=sys.stderr)
        return 2
    write(r, a.out, t_start, "training")
    if a.export:
        rec = export_model(r["train"]["run"], a.export, r["command"], r["device"])
        print(f"exported {a.export}: {', '.join(sorted(rec['files']))}", flush=True)
        r["exported"] = a.export
    r["scorings"] = scorings
    for kind in scorings:
        r["scores"][kind] = score(kind, r["train"]["run"], root)
        write(r, a.out, t_start, f"scoring {kind}")
    r["bench"] = [bench_backbone(a.tiny, a.reps), bench_bp(a.tiny, a.reps), bench_pf_willow(a.pf_willow, a.tiny),
                  bench_ridge(a.tiny)]
    for label, v in r["bench"]:
        print(f"{label}: {v}", flush=True)
    r["done"] = True
    write(r, a.out, t_start, "benchmarks")
    print(f"wall time {r['wall_s']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
