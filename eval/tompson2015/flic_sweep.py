"""Hyper-parameters of `--config flic`, chosen on FLIC's validation movies: short runs, one setting changed at a time.

    python -m convcorr_eval.tompson2015.flic_sweep --root FLIC [--steps 300,600,100] [--out runs/flic_sweep]

Each run is the `flic` config with the short schedule `--steps` and one override from `GRID` (learning rates of
all three stages scaled together; person-crop scale) against the base ("lr x1": the `flic` config's learning rates
and a crop scale of 3); the results and the choice: bench/RESULTS_pose.md. Every number is PCK@0.05 (torso,
all 11 joints) on the validation movies after each stage, from the training loop's own evaluations; the test split
is never loaded.
Runs resume when the command is repeated. Writes <out>/sweep.json and <out>/sweep.md (atomically).
"""

from __future__ import annotations

import argparse
import dataclasses

from convcorr_jax import io, runinfo
from convcorr_jax.config import override
from convcorr_jax.pose import train
from convcorr_eval.tompson2015 import configs

GRID: dict[str, tuple[str, ...]] = {
    "lr x1 (base)": ("crop_scale=3.0",),
    "lr x0.5": ("crop_scale=3.0", "lr=" + ",".join(str(v / 2) for v in configs.FLIC_LR)),
    "lr x2": ("crop_scale=3.0", "lr=" + ",".join(str(v * 2) for v in configs.FLIC_LR)),
    "crop 2.5": ("crop_scale=2.5",),
    "crop 3.5": ("crop_scale=3.5",),
    "crop 2.0": ("crop_scale=2.0",),  # below the chosen 2.5: does a still smaller crop help?
}


def run_grid(root: str, steps: str, out: str, progress: bool = True) -> list[dict]:
    """Train every GRID entry (resuming finished ones instantly); one row per entry with its validation evals."""
    rows = []
    for i, (label, sets) in enumerate(GRID.items()):
        base = ("data_root=" + root, "steps=" + steps, f"out={out}", f"name=run{i}")
        cfg = override(configs.get_config("flic"), base + sets)
        res = train.train(cfg, progress=progress)
        rows.append({"label": label, "overrides": list(sets), "config": dataclasses.asdict(cfg),
                     "evals": [{k: e[k] for k in ("step", "stage", "coarse_pck@0.05", "cascade_pck@0.05")}
                               for e in res.evals]})
    return rows


def markdown(rows: list[dict]) -> str:
    head = "| setting | " + " | ".join(f"step {e['step']}: coarse / cascade" for e in rows[0]["evals"]) + " |"
    lines = [head, "|" + "---|" * (1 + len(rows[0]["evals"]))]
    for r in rows:
        cells = [f"{e['coarse_pck@0.05']:.1f} / {e['cascade_pck@0.05']:.1f}" for e in r["evals"]]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--steps", default="300,600,100", help="short schedule: steps of stage 1,2,3")
    p.add_argument("--out", default="runs/flic_sweep")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    print(runinfo.header("FLIC validation sweep", {"root": a.root, "steps": a.steps, "grid": GRID}, 0), flush=True)
    with runinfo.timed() as wall:
        rows = run_grid(a.root, a.steps, a.out, progress=not a.no_progress)
    table = markdown(rows)
    io.write_json(f"{a.out}/sweep.json", {"steps": a.steps, "rows": rows, "wall_s": wall["seconds"]})
    io.write_text(f"{a.out}/sweep.md", f"Validation PCK@0.05 (FLIC validation movies), schedule {a.steps}\n\n"
                  f"{table}\n")
    print(table)
    print(f"wall time {wall['seconds']:.1f} s -> {a.out}/sweep.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
