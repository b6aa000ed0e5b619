"""`convcorr demo`: every experiment of the three papers on the embedded default, one report.

A stage is a function `stage(ctx: DemoContext) -> StageResult` living beside the method it runs; this module
only orders the stages, isolates their failures, and writes `runs/<name>/report.md` and `report.html`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from convcorr_jax import io, runinfo
from convcorr_jax.paths import cache_dir, real_data_root


@dataclasses.dataclass(frozen=True)
class DemoContext:
    run_dir: Path  # runs/<name>/: report.md, metrics.json, figures/
    size: str  # "tiny" (seconds, for tests), "default" (under 30 min on 2 cores) or "full" (paper scale)
    seed: int = 0
    weights: str | None = None  # a backbone weight file instead of the fetched MobileNetV2
    real_data: Path | None = None  # folder of real annotation files, when present
    roots: dict = dataclasses.field(default_factory=dict)  # user data roots: voc, mpii, flic, 300w

    @property
    def figures(self) -> Path:
        p = self.run_dir / "figures"
        p.mkdir(parents=True, exist_ok=True)
        return p

    def cache(self, *parts: str) -> Path:
        return cache_dir(*parts)


@dataclasses.dataclass
class StageResult:
    summary: str  # one line for the terminal
    markdown: str = ""  # tables and figure links (relative to run_dir) for the report
    metrics: dict = dataclasses.field(default_factory=dict)


# name -> "module:function"; stages run in this order (data flows: weights/data caches first, pose last).
STAGES: dict[str, str] = {
    "table1": "convcorr_jax.backbones.demo:demo_stage",
    "data": "convcorr_jax.data.synthetic.demo:demo_stage",
    "locality": "convcorr_jax.correspondence.demo:demo_stage_locality",
    "table2": "convcorr_jax.correspondence.transfer:demo_stage",
    "table3": "convcorr_jax.correspondence.demo:demo_stage_table3",
    "table4": "convcorr_jax.correspondence.demo:demo_stage_table4",
    "razavian": "convcorr_jax.regression.demo:demo_stage",
    "tompson": "convcorr_jax.pose.demo:demo_stage",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", default="", help="comma-separated stage names (default: all): " + ",".join(STAGES))
    p.add_argument("--size", choices=("tiny", "default", "full"), default="default")
    p.add_argument("--full", action="store_const", const="full", dest="size", help="paper-scale settings")
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="backbone weight file (default: fetched MobileNetV2)")
    p.add_argument("--force", action="store_true", help="re-run stages whose result is already in the run folder")
    for name in ("voc", "mpii", "flic", "300w"):
        p.add_argument(f"--{name}-root", default=None, help=f"use real {name.upper()} data from this folder")


def _stage_key(ctx: DemoContext) -> dict:
    """What a stage's result depends on besides the code: a saved result with another key is stale."""
    return {"size": ctx.size, "seed": ctx.seed, "weights": ctx.weights, "roots": {k: str(v) for k, v in ctx.roots.items()}}


def run(args: argparse.Namespace) -> int:
    only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(only) - set(STAGES))
    if unknown:
        print(f"unknown stage(s) {unknown}; known: {list(STAGES)}", file=sys.stderr)
        return 2
    names = only or list(STAGES)
    roots = {k: getattr(args, f"{k}_root") for k in ("voc", "mpii", "flic", "300w") if getattr(args, f"{k}_root")}
    ctx = DemoContext(Path(args.out), args.size, args.seed, args.weights, real_data_root(), roots)
    stage_dir = ctx.run_dir / "stages"
    stage_dir.mkdir(parents=True, exist_ok=True)
    print(runinfo.header("convcorr demo", {"stages": names, "size": args.size, "out": args.out}, args.seed), flush=True)
    failed, key = [], _stage_key(ctx)
    t_all = time.perf_counter()
    for name in names:
        saved = stage_dir / f"{name}.json"
        if not args.force and saved.is_file():
            prev = json.loads(saved.read_text())
            if prev.get("key") == key and prev.get("status") == "ok":
                print(f"[{name}] done before ({prev['seconds']:.1f} s), kept: {prev['summary']} (--force re-runs it)", flush=True)
                continue
        module, func = STAGES[name].split(":")
        t0 = time.perf_counter()
        try:
            res = getattr(importlib.import_module(module), func)(ctx)
            status = "ok"
        except Exception as e:  # one stage's failure must not stop the others
            traceback.print_exc()
            res, status = StageResult(f"FAILED: {type(e).__name__}: {e}"), "failed"
            failed.append(name)
        dt = time.perf_counter() - t0
        io.write_json(saved, {"key": key, "status": status, "seconds": dt, "summary": res.summary,
                              "markdown": res.markdown, "metrics": res.metrics})
        print(f"[{name}] {status} in {dt:.1f} s: {res.summary}", flush=True)
    total = time.perf_counter() - t_all
    _write_report(ctx, key, total)
    print(f"demo: {len(names) - len(failed)}/{len(names)} stages ok in {total:.1f} s; report: {ctx.run_dir / 'report.md'}")
    return 1 if failed else 0


def _write_report(ctx: DemoContext, key: dict, total: float) -> None:
    """report.md / report.html / metrics.json from every stage result in the run folder with this run's key."""
    results = {}
    for name in STAGES:
        saved = ctx.run_dir / "stages" / f"{name}.json"
        if saved.is_file():
            r = json.loads(saved.read_text())
            if r.get("key") == key:
                results[name] = r
    stage_time = sum(r["seconds"] for r in results.values())
    lines = ["# convcorr-jax demo report", "",
             "Embedded default: MobileNetV2 with real ImageNet weights, synthetic data written in the real dataset "
             "formats. Published numbers are shown beside ours for orientation only: the data differ.", "",
             "```", runinfo.header("convcorr demo", key, ctx.seed),
             f"wall time of this invocation: {total:.1f} s; sum of the reported stages' times: {stage_time:.1f} s",
             "```", "", "| stage | status | seconds | summary |", "|---|---|---|---|"]
    lines += [f"| {n} | {r['status']} | {r['seconds']:.1f} | {r['summary'].replace('|', '/')} |" for n, r in results.items()]
    lines.append("")
    for name, r in results.items():
        lines += [f"## {name}", "", f"*{r['status']}, {r['seconds']:.1f} s*: {r['summary']}", "", r["markdown"], ""]
    md = "\n".join(lines)
    io.write_text(ctx.run_dir / "report.md", md)
    io.write_text(ctx.run_dir / "report.html", _html(md))
    io.write_json(ctx.run_dir / "metrics.json", {k: {kk: v[kk] for kk in ("status", "seconds", "metrics")} for k, v in results.items()})


_CSS = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th{background:#f4f4f4}img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow-x:auto}"""


def _html(md: str) -> str:
    """The report as one HTML page; figures are the same relative `figures/*.png` files, shown inline."""
    import markdown

    body = markdown.markdown(md, extensions=["tables", "fenced_code"])
    return f"<!doctype html><html><head><meta charset='utf-8'><title>convcorr-jax demo report</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
