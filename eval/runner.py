"""One experiment, one config, one run folder (`convcorr run EXPERIMENT`, `convcorr_cli.run`).

    cfg = make_config("long2014.table2", "tiny", ["weights=random"], backbone="caffenet")
    result, seconds, reused = run_experiment("long2014.table2", cfg, out="runs")

writes `runs/<name>/config.json`, `metrics.json`, `report.md`, `report.html` and `figures/`. A finished run whose
key (experiment, config, code version) equals this one's is kept, not run again (`--force` re-runs it).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Sequence

from convcorr_jax import cache, io, runinfo
from convcorr_jax.config import override, to_dict
from convcorr_eval import registry
from convcorr_eval.experiment import Context, ExperimentConfig, Result
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


def experiments() -> dict[str, str]:
    """Experiment id -> the first line of its module's docstring."""
    docs = {exp_id: (registry.load(exp_id).__doc__ or "").strip().splitlines() for exp_id in registry.EXPERIMENTS}
    return {exp_id: doc[0] if doc else "" for exp_id, doc in docs.items()}


def main(exp_id: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of an experiment module run as a script: `python -m convcorr_eval.long2014.table2 --size tiny`
    is `convcorr run long2014.table2 --size tiny` (`convcorr_cli.run.experiment_main`)."""
    from convcorr_cli.run import experiment_main

    return experiment_main(exp_id, argv)
