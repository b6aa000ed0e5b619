"""Hyper-parameters of `--config flic_paper` and `--config flic`, chosen on FLIC's validation movies: short runs,
one setting changed at a time.

    python -m convcorr_eval.tompson2015.flic_sweep --root FLIC [--grid flic|trunk] [--steps 300,600,100]
        [--out runs/flic_sweep]

Each run is a config with the short schedule `--steps` and one row's overrides. Grid "flic" (config
`flic_paper`, the paper's model): learning rates of all three stages scaled together and the person-crop scale,
against "lr x1" (the config's learning rates and a crop scale of 3). Grid "trunk" (config `flic`, the
generic-feature coarse model, with the trunk's learning-rate factor 0.1 as the base): the trunk frozen or
fine-tuned from block7 or from the stem, its learning-rate factor, and the input side (`--steps 800,800,200`).
The results and the choices: bench/RESULTS_pose.md. Every number is PCK@0.05 (torso, all 11 joints) on the
validation movies after each stage, from the training loop's own evaluations; the test split is never loaded.
Runs resume when the command is repeated. Writes <out>/sweep.{json,md} (grid "flic") or <out>/sweep_<grid>.{json,md}
(atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from convcorr_jax import io, runinfo
from convcorr_jax.config import override
from convcorr_jax.pose import train
from convcorr_eval.tompson2015 import configs

# grid name -> row label -> (config name, overrides)
GRIDS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "flic": {
        "lr x1 (base)": ("flic_paper", ("crop_scale=3.0",)),
        "lr x0.5": ("flic_paper", ("crop_scale=3.0", "lr=" + ",".join(str(v / 2) for v in configs.FLIC_LR))),
        "lr x2": ("flic_paper", ("crop_scale=3.0", "lr=" + ",".join(str(v * 2) for v in configs.FLIC_LR))),
        "crop 2.5": ("flic_paper", ("crop_scale=2.5",)),
        "crop 3.5": ("flic_paper", ("crop_scale=3.5",)),
        "crop 2.0": ("flic_paper", ("crop_scale=2.0",)),  # below the chosen 2.5: does a still smaller crop help?
    },
    "trunk": {
        "trunk frozen": ("flic", ("trunk_train=none", "trunk_lr=0.1")),
        "trunk from block7, lr x0.1 (base)": ("flic", ("trunk_lr=0.1",)),
        "trunk from block7, lr x1": ("flic", ()),
        "trunk from stem, lr x0.1": ("flic", ("trunk_train=stem", "trunk_lr=0.1")),
        "trunk from block7, lr x0.1, 192 px": ("flic", ("trunk_lr=0.1", "model.image_size=192", "model.context=64")),
    },
}
GRID = GRIDS["flic"]


def run_grid(root: str, steps: str, out: str, progress: bool = True, grid: str = "flic") -> list[dict]:
    """Train every entry of GRIDS[grid] (resuming finished ones instantly); one row per entry with its validation
    evals."""
    rows = []
    prefix = "run" if grid == "flic" else f"{grid}_run"
    for i, (label, (name, sets)) in enumerate(GRIDS[grid].items()):
        base = ("data_root=" + root, "steps=" + steps, f"out={out}", f"name={prefix}{i}")
        cfg = override(configs.get_config(name), base + sets)
        res = train.train(cfg, progress=progress)
        rows.append({"label": label, "base": name, "overrides": list(sets), "config": dataclasses.asdict(cfg),
                     "seconds": _seconds(cfg),
                     "evals": [{k: e[k] for k in ("step", "stage", "coarse_pck@0.05", "cascade_pck@0.05")}
                               for e in res.evals]})
    return rows


def _seconds(cfg) -> float:
    """Training wall time of a run as its metrics.json records it (summed over resumes)."""
    return float(json.loads((cfg.run_dir() / "metrics.json").read_text()).get("seconds", float("nan")))


def markdown(rows: list[dict]) -> str:
    head = ("| setting | " + " | ".join(f"step {e['step']}: coarse / cascade" for e in rows[0]["evals"])
            + " | train s |")
    lines = [head, "|" + "---|" * (2 + len(rows[0]["evals"]))]
    for r in rows:
        cells = [f"{e['coarse_pck@0.05']:.1f} / {e['cascade_pck@0.05']:.1f}" for e in r["evals"]]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--grid", default="flic", choices=tuple(GRIDS), help="which settings to compare")
    p.add_argument("--steps", default="300,600,100", help="short schedule: steps of stage 1,2,3")
    p.add_argument("--out", default="runs/flic_sweep")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    print(runinfo.header("FLIC validation sweep", {"root": a.root, "steps": a.steps, "grid": a.grid,
                                                   "rows": GRIDS[a.grid]}, 0), flush=True)
    with runinfo.timed() as wall:
        rows = run_grid(a.root, a.steps, a.out, progress=not a.no_progress, grid=a.grid)
    table = markdown(rows)
    stem = "sweep" if a.grid == "flic" else f"sweep_{a.grid}"
    io.write_json(f"{a.out}/{stem}.json", {"grid": a.grid, "steps": a.steps, "rows": rows, "wall_s": wall["seconds"]})
    io.write_text(f"{a.out}/{stem}.md", f"Validation PCK@0.05 (FLIC validation movies), grid {a.grid}, schedule "
                  f"{a.steps}\n\n{table}\n")
    print(table)
    print(f"wall time {wall['seconds']:.1f} s -> {a.out}/{stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
