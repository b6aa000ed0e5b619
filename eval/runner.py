"""`convcorr run EXPERIMENT`: one experiment, one config, one run folder.

    convcorr run long2014.table2 --size tiny --backbone caffenet --set weights=random
    convcorr run long2014.table3 --set data=flic --data-root DIR
    convcorr run --list

writes `runs/<name>/config.json`, `metrics.json`, `report.md`, `report.html` and `figures/`. A finished run whose
key (experiment, config, code version) equals this one's is kept, not run again (`--force` re-runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

from convcorr_jax import cache, io, runinfo
from convcorr_jax.backbones.registry import NAMES as BACKBONES
from convcorr_jax.config import override, to_dict
from convcorr_jax.errors import InputError
from convcorr_eval import registry
from convcorr_eval.experiment import SIZES, Context, ExperimentConfig, Result
from convcorr_eval.report import write_report


def code_version() -> str:
    """Version of everything an experiment's numbers can depend on: the library and the experiments."""
    return cache.code_version("convcorr_jax", "convcorr_eval")


def make_config(exp_id: str, size: str = "default", sets: Sequence[str] = (), backbone: str | None = None,
                data_root: str | None = None) -> ExperimentConfig:
    """The experiment's config at `size`, with `--backbone`, `--data-root` and `--set field=value` applied."""
    cfg = registry.load(exp_id).get_config(size)
    pre = ([f"backbone={backbone}"] if backbone else []) + ([f"data_root={data_root}"] if data_root else [])
    cfg = override(cfg, [*pre, *sets])
    return cfg if cfg.name else dataclasses.replace(cfg, name=exp_id)


def run_key(exp_id: str, cfg: ExperimentConfig) -> dict:
    return cache.key(exp_id, to_dict(cfg), code_version())


def run_experiment(exp_id: str, cfg: ExperimentConfig, out: str | Path = "runs", force: bool = False,
                   progress: bool = True) -> tuple[Result, float, bool]:
    """Run `exp_id` with `cfg` into `out/<cfg.name>/`: (result, seconds, reused). Exceptions propagate."""
    cfg.check_data_root()
    run_dir = Path(out) / cfg.name
    key = run_key(exp_id, cfg)
    saved = run_dir / "metrics.json"
    if not force and saved.is_file():
        prev = json.loads(saved.read_text())
        if prev.get("key") == key and prev.get("status") == "ok":
            return Result(prev["summary"], prev.get("markdown", ""), prev["metrics"]), prev["seconds"], True
    run_dir.mkdir(parents=True, exist_ok=True)
    io.write_json(run_dir / "config.json", {"experiment": exp_id, "config": to_dict(cfg), "code": key["version"]})
    header = runinfo.header(f"{exp_id} ({cfg.name})", cfg, cfg.seed)
    print(header, flush=True)
    t0 = time.perf_counter()
    result = registry.load(exp_id).run(cfg, Context(run_dir, progress))
    seconds = time.perf_counter() - t0
    md = "\n".join([f"# {exp_id}", "", "```", header, f"wall time: {seconds:.1f} s", "```", "",
                    f"**{result.summary}**", "", result.markdown, ""])
    write_report(run_dir, exp_id, md)
    io.write_json(saved, {"key": key, "status": "ok", "seconds": seconds, "summary": result.summary,
                          "markdown": result.markdown, "metrics": result.metrics, "versions": runinfo.versions()})
    return result, seconds, False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", nargs="?", help="experiment id (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--size", choices=SIZES, default="default")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    p.add_argument("--backbone", default=None, help=f"one of {', '.join(BACKBONES)} (default: the experiment's)")
    p.add_argument("--data-root", default=None, help="dataset folder (with --set data=NAME)")
    p.add_argument("--out", default="runs", help="output root (the run folder is OUT/<name>)")
    p.add_argument("--force", action="store_true", help="run again even if an identical finished run exists")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.list or not args.experiment:
        for exp_id in registry.EXPERIMENTS:
            doc = (registry.load(exp_id).__doc__ or "").strip().splitlines()
            print(f"{exp_id:24s} {doc[0] if doc else ''}")
        return 0
    cfg = make_config(args.experiment, args.size, args.set, args.backbone, args.data_root)
    try:
        result, seconds, reused = run_experiment(args.experiment, cfg, args.out, args.force, not args.no_progress)
    except InputError:
        raise
    except Exception:
        traceback.print_exc()
        print(f"convcorr run {args.experiment}: failed", file=sys.stderr)
        return 1
    run_dir = Path(args.out) / cfg.name
    state = "kept from an identical earlier run" if reused else f"ok in {seconds:.1f} s"
    print(f"[{args.experiment}] {state}: {result.summary}\nreport: {run_dir / 'report.md'}")
    return 0


def main(exp_id: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of an experiment module run as a script: `python -m convcorr_eval.long2014.table2 --size tiny`
    is `convcorr run long2014.table2 --size tiny`."""
    p = argparse.ArgumentParser(prog=f"convcorr run {exp_id}", description=registry.load(exp_id).__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args([exp_id, *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args)
    except InputError as e:
        print(f"convcorr run {exp_id}: error: {e}", file=sys.stderr)
        return 2
