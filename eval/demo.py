"""`convcorr demo`: the experiments of the three papers in order, on the embedded default, in one report.

The default: synthetic data written in the real dataset formats; Long et al.'s stages on the papers' network,
torchvision's AlexNet with its real ImageNet conv weights (Table 1's classification needs fc layers and runs on
MobileNetV2), Razavian et al.'s on MobileNetV2 with real ImageNet weights, Tompson et al.'s trained from scratch.
Each experiment runs through the runner into `runs/demo/<experiment>/`; one that fails is reported and the
others go on. `runs/demo/report.md` (+ .html, metrics.json) gathers every section; both say what ran, as the
console's header (metrics.json under "run": config, seed, versions, devices, wall time in seconds). A stage whose
identical finished run is in its folder is kept; one whose settings changed (another size, seed, backbone) runs
again and replaces it (the runner's `replace`: the demo's folder holds the demo's latest settings, no refusal). An
interrupt (`convcorr_jax.core.interrupt`) stops the demo between or inside stages; finished stages stay.

A stage with a claim (`CLAIMS`) has it checked when the demo runs with its own settings (default size, seed 0, each
config's backbone and weights): a claim not met marks the stage "claim not met", and the demo fails like a failed
stage. The test suite checks the claims' plumbing; `convcorr demo` itself checks the claims at the size they are
made for.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Sequence

from convcorr_jax.core import interrupt, io, runinfo
from convcorr_eval.experiment import ExperimentConfig, Result
from convcorr_eval.runner import RunExists, make_config, run_experiment

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


def tompson_claim(metrics: dict) -> str | None:
    """The Tompson stage's claim: the cascade clearly above the coarse model, torso PCK@0.05 (percent) of the
    cascade >= 5.0 and >= 3.0 above the coarse model's (coarse 1.6 -> cascade 6.5, and 1.8 -> 6.6 on another
    install, on the 2-core CPU; training is chaotic in float rounding, so a margin, not the digits). None when it
    holds, else what was measured."""
    pck = metrics.get("pck@0.05", {})
    coarse, cascade = pck.get("coarse"), pck.get("cascade")
    if metrics.get("score") != "PCK@0.05" or coarse is None or cascade is None:
        return f"no torso PCK@0.05 of the coarse model and the cascade in the metrics (keys {sorted(metrics)})"
    if cascade >= 5.0 and cascade - coarse >= 3.0:
        return None
    return (f"the cascade is not clearly above the coarse model: PCK@0.05 coarse {coarse:.1f}, cascade {cascade:.1f} "
            "(claimed: cascade >= 5.0 and >= 3.0 above coarse)")


# stage name -> its claim: metrics -> None when it holds, else what failed; checked at the demo's own settings
CLAIMS = {"tompson": tompson_claim}


def what_ran(size: str, backbone: str | None, weights: str | None) -> str:
    """The demo report's opening line: the data, each stage's network and weights as the demo ran them, and whether
    the published numbers stand beside ours (not for size tiny or random weights: `report.comparable`).

    Args:
        size: the stages' size.
        backbone: `--backbone` (None: each config's).
        weights: `--weights` (None: the real pretrained weights; "random"; or a weight file).

    Returns:
        One paragraph of markdown.
    """
    if backbone is None and weights is None:
        nets = ("Long et al.'s stages on torchvision's AlexNet with real ImageNet conv weights (Table 1 on "
                "MobileNetV2), Razavian et al.'s on MobileNetV2 with real ImageNet weights")
    else:
        net = backbone or "each config's network"
        held = {None: "the real pretrained weights", "random": "random weights"}.get(weights, f"the weights {weights}")
        nets = f"Long et al.'s and Razavian et al.'s stages on {net} with {held}"
    if size == "tiny":
        paper = "Size tiny: not comparable to the paper; the stages leave the published numbers out."
    elif weights == "random":
        paper = ("Random weights: not comparable to the paper; the stages on them leave the published numbers out "
                 "(Tompson et al.'s show them for orientation only: the data differ).")
    else:
        paper = "Published numbers are shown beside ours for orientation only: the data differ."
    lead = "Embedded default" if backbone is None and weights is None else "Ran on"
    return f"{lead}: synthetic data written in the real dataset formats; {nets}, Tompson et al.'s trained from " \
           f"scratch. {paper}"


# a stage folder holding files no run wrote: the demo names its stage folders itself (it has no --set): --out moves it
_STAGE_WAY_OUT = "nothing was changed: write the demo elsewhere with --out DIR, or move those files out"


def _run_stage(exp_id: str, cfg: ExperimentConfig, out: str | Path, force: bool,
               progress: bool) -> tuple[Result, float, bool]:
    """`run_experiment` of one stage (a finished stage of other settings replaced); the runner's refusal of a stage
    folder that holds files no run wrote names the demo's own way out (`_STAGE_WAY_OUT`), not `convcorr run`'s."""
    try:
        return run_experiment(exp_id, cfg, out, force, progress=progress, replace=True)
    except RunExists as e:
        raise RunExists(e.run_dir, str(e.got), _STAGE_WAY_OUT) from None


def run_demo(names: Sequence[str], size: str = "default", out: str | Path = "runs/demo", seed: int = 0,
             backbone: str | None = None, weights: str | None = None, force: bool = False,
             progress: bool = True) -> list[str]:
    """Run the stages `names` (keys of `STAGES`) in order into `out/<stage>/` and write `out/report.md` (+ .html,
    metrics.json); a stage that fails is reported and the others go on. `progress`: the stages' progress bars or
    lines (`convcorr demo --no-progress`: none); a stage named twice runs once. Returns the names of the failed
    stages."""
    from convcorr_eval.report import write_report  # the report extra: MissingExtra (one line) before any stage

    names = list(dict.fromkeys(names))
    sets = [f"seed={seed}"] + ([f"weights={weights}"] if weights else [])
    config = {"stages": names, "size": size, "out": str(out), "backbone": backbone, "weights": weights}
    print(runinfo.header("convcorr demo", config, seed), flush=True)
    out = Path(out)
    own_settings = size == "default" and seed == 0 and backbone is None and weights is None
    t_all, rows, sections, metrics = time.perf_counter(), [], [], {}
    failed: list[str] = []
    for name in names:
        exp_id = STAGES[name]
        t0 = time.perf_counter()
        try:
            cfg = make_config(exp_id, size, [f"name={name}", *sets], backbone)
            res, seconds, reused = _run_stage(exp_id, cfg, out, force, progress)
            status = "ok"
            print(f"[{name}] {'kept (identical earlier run)' if reused else f'ok in {seconds:.1f} s'}: {res.summary}",
                  flush=True)
            broken = CLAIMS[name](res.metrics) if own_settings and name in CLAIMS else None
            if broken is not None:
                status, failed = "claim not met", failed + [name]
                print(f"[{name}] claim not met: {broken}", flush=True)
        except Exception as e:  # one stage's failure must not stop the others
            interrupt.stop_if_requested()  # ... but an error after a signal is the interrupt's doing: stop
            traceback.print_exc()
            seconds, status, failed = time.perf_counter() - t0, "failed", failed + [name]
            error = f"{type(e).__name__}: {e}"  # one line in the table, in full under the stage's heading
            res = type("R", (), {"summary": f"FAILED: {' '.join(error.split())}", "metrics": {},
                                 "markdown": "\n".join(["~~~~", error.replace("~~~~", "~ ~ ~ ~"), "~~~~"])})()
            print(f"[{name}] failed in {seconds:.1f} s: {res.summary}", flush=True)
        summary = " ".join(res.summary.split())  # a line break in it would end the table
        rows.append(f"| {name} | {exp_id} | {status} | {seconds:.1f} | {summary.replace('|', '/')} |")
        md = res.markdown.replace("](figures/", f"]({name}/figures/")
        sections += [f"## {name}", "", f"*{exp_id}, {status}, {seconds:.1f} s*: {summary}", "", md, ""]
        metrics[name] = {"experiment": exp_id, "status": status, "seconds": seconds, "metrics": res.metrics}
    total = time.perf_counter() - t_all
    head = ["# convcorr-jax demo report", "", what_ran(size, backbone, weights), "",
            "| stage | experiment | status | seconds | summary |", "|---|---|---|---|---|", *rows, ""]
    run = ["## Run", "", "```", runinfo.header("convcorr demo", config, seed),
           f"wall time: {total:.1f} s", "```", ""]  # what ran (as the console's header), after the results
    write_report(out, "convcorr-jax demo report", "\n".join(head + sections + run))
    metrics["run"] = {"config": config, "seed": seed, "versions": runinfo.versions(), "devices": runinfo.devices(),
                      "seconds": total}
    io.write_json(out / "metrics.json", runinfo.rounded(metrics))
    print(f"demo: {len(names) - len(failed)}/{len(names)} stages ok in {total:.1f} s; report: {out / 'report.md'} "
          f"and {out / 'report.html'}")
    return failed
