"""`convcorr demo`: the experiments of the three papers in order, on the embedded default, in one report.

The default: synthetic data written in the real dataset formats; Long et al.'s stages on the papers' network,
torchvision's AlexNet with its real ImageNet conv weights (Table 1's classification needs fc layers and runs on
MobileNetV2), Razavian et al.'s on MobileNetV2 with real ImageNet weights, Tompson et al.'s trained from scratch.
Each experiment runs through the runner into `runs/demo/<experiment>/`; one that fails is reported and the
others go on. `runs/demo/report.md` (+ .html, metrics.json) gathers every section.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from convcorr_jax import io, runinfo
from convcorr_eval.experiment import SIZES
from convcorr_eval.report import write_report
from convcorr_eval.runner import make_config, run_experiment

# (stage name, experiment id), in the order they run
DEMO: tuple[tuple[str, str], ...] = (
    ("table1", "long2014.table1"),
    ("data", "long2014.data"),
    ("locality", "long2014.locality"),
    ("table2", "long2014.table2"),
    ("table3", "long2014.table3"),
    ("table4", "long2014.table4"),
    ("razavian", "razavian2015.tables"),
    ("tompson", "tompson2015.tables"),
)
STAGES = dict(DEMO)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", default="", help="comma-separated stage names (default: all): " + ",".join(STAGES))
    p.add_argument("--size", choices=SIZES, default="default")
    p.add_argument("--full", action="store_const", const="full", dest="size", help="paper-scale settings")
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default=None, help="backbone of every stage (default: each config's: torchvision_alexnet for Long "
                   "et al., mobilenet_v2 otherwise)")
    p.add_argument("--weights", default=None, help="weight file, or 'random' (default: the real pretrained weights)")
    p.add_argument("--force", action="store_true", help="re-run stages whose identical result is in the run folder")


def run(args: argparse.Namespace) -> int:
    only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(only) - set(STAGES))
    if unknown:
        print(f"unknown stage(s) {unknown}; known: {list(STAGES)}", file=sys.stderr)
        return 2
    names = only or list(STAGES)
    out = Path(args.out)
    sets = [f"seed={args.seed}"] + ([f"weights={args.weights}"] if args.weights else [])
    print(runinfo.header("convcorr demo", {"stages": names, "size": args.size, "out": args.out, "backbone":
                                           args.backbone, "weights": args.weights}, args.seed), flush=True)
    t_all, rows, sections, metrics, failed = time.perf_counter(), [], [], {}, []
    for name in names:
        exp_id = STAGES[name]
        t0 = time.perf_counter()
        try:
            cfg = make_config(exp_id, args.size, [f"name={name}", *sets], args.backbone)
            res, seconds, reused = run_experiment(exp_id, cfg, out, args.force)
            status = "ok"
            print(f"[{name}] {'kept (identical earlier run)' if reused else f'ok in {seconds:.1f} s'}: {res.summary}",
                  flush=True)
        except Exception as e:  # one stage's failure must not stop the others
            traceback.print_exc()
            seconds, status, failed = time.perf_counter() - t0, "failed", failed + [name]
            res = type("R", (), {"summary": f"FAILED: {type(e).__name__}: {e}", "markdown": "", "metrics": {}})()
            print(f"[{name}] failed in {seconds:.1f} s: {res.summary}", flush=True)
        rows.append(f"| {name} | {exp_id} | {status} | {seconds:.1f} | {res.summary.replace('|', '/')} |")
        md = res.markdown.replace("](figures/", f"]({name}/figures/")
        sections += [f"## {name}", "", f"*{exp_id}, {status}, {seconds:.1f} s*: {res.summary}", "", md, ""]
        metrics[name] = {"experiment": exp_id, "status": status, "seconds": seconds, "metrics": res.metrics}
    total = time.perf_counter() - t_all
    head = ["# convcorr-jax demo report", "",
            "Embedded default: synthetic data written in the real dataset formats; Long et al.'s stages on torchvision's "
            "AlexNet with real ImageNet conv weights (Table 1 on MobileNetV2), Razavian et al.'s on MobileNetV2 with "
            "real ImageNet weights, Tompson et al.'s trained from scratch. Published numbers are shown beside ours for orientation only: the data differ.", "",
            "```", runinfo.header("convcorr demo", {"size": args.size, "stages": names}, args.seed),
            f"wall time: {total:.1f} s", "```", "",
            "| stage | experiment | status | seconds | summary |", "|---|---|---|---|---|", *rows, ""]
    write_report(out, "convcorr-jax demo report", "\n".join(head + sections))
    io.write_json(out / "metrics.json", metrics)
    print(f"demo: {len(names) - len(failed)}/{len(names)} stages ok in {total:.1f} s; report: {out / 'report.md'}")
    return 1 if failed else 0
