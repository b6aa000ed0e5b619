"""PF-WILLOW validation: the settings of `long2014.pf_willow` chosen on the validation sub-classes.

    convcorr run long2014.pf_willow_validation --data-root PF-dataset-WILLOW
    convcorr run long2014.pf_willow_validation --data-root PF-dataset-WILLOW --set backbones=vgg16 --set betas=0.1

The 4 bundled sub-classes (car(S), duck(S), motorbike(S), winebottle(woC); 360 ordered pairs) are PF-WILLOW's
validation set: every setting of the PF-WILLOW experiment is chosen here, and scores that count are measured on the
other 6 sub-classes. For each backbone, each tap's frames are computed once and every beta is scored on them
(`pf_willow.score_frames`), with the rest of `pf_willow.Config` at its defaults. Writes the table (mean PF PCK at
alpha 0.05 / 0.1 / 0.2, seconds) and, per backbone, the setting with the highest mean PCK@0.1.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from tqdm import tqdm

from convcorr_jax.errors import InputError
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.long2014 import pf_willow
from convcorr_eval.report import markdown_table


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """The grid: every backbone x tap (an AlexNet role) x beta; image_size, iterations and levels as `pf_willow`'s;
    pairs_per_class: the first N ordered pairs of each sub-class (None: all 90)."""

    data: str = "pf_willow"
    backbones: tuple[str, ...] = ("torchvision_alexnet", "vgg16", "mobilenet_v2")
    taps: tuple[str, ...] = ("conv4", "conv5")
    betas: tuple[float, ...] = (0.03, 0.1, 0.3)
    image_size: int = pf_willow.Config.image_size
    pairs_per_class: int | None = None

    def __post_init__(self):
        super().__post_init__()
        for t in self.taps:
            if t not in pf_willow.ROLES:
                raise InputError("config", "taps", f"AlexNet roles from {list(pf_willow.ROLES)}", t)
        for b in self.betas:
            if not b > 0:
                raise InputError("config", "betas", "smoothness weights > 0", b)


def get_config(size: str = "default") -> Config:
    return sized(size, {
        "tiny": Config(size=size, backbones=("torchvision_alexnet",), taps=("conv4",), betas=(0.1,),
                       pairs_per_class=2, image_size=160),
        "default": Config(size=size),
        "full": Config(size=size, taps=("conv3", "conv4", "conv5"), betas=(0.01, 0.03, 0.1, 0.3, 1.0)),
    })


def validate(cfg: Config, progress: bool = False, weights: dict | None = None) -> list[dict]:
    """One row per (backbone, tap, beta): {"backbone", "features", "beta", "pck": {alpha: mean}, "seconds"}.
    `weights`: backbone -> (backbone, params) already loaded (else `load_backbone(name, cfg.weights)`)."""
    require_data(cfg, ("pf_willow",))
    samples, pairs, groups = pf_willow.pf_willow_set(cfg.data_root, cfg.pairs_per_class)
    boxes = pf_willow.frame_boxes(samples)
    rows = []
    grid = [(b, t) for b in cfg.backbones for t in cfg.taps]
    for name, tap in tqdm(grid, desc="validation: backbone x tap", disable=not progress):
        backbone, params = (weights or {}).get(name) or load_backbone(name, cfg.weights, cfg.seed)
        base = pf_willow.Config(data_root=cfg.data_root, backbone=name, features=tap, image_size=cfg.image_size,
                                pairs_per_class=cfg.pairs_per_class)
        t0 = time.perf_counter()
        frames = pf_willow.make_frames(samples, boxes, tap, backbone, params, base.image_size, base.sift_bin,
                                       base.feature_norm)
        t_frames = time.perf_counter() - t0
        for beta in cfg.betas:
            t1 = time.perf_counter()
            r = pf_willow.score_frames(frames, samples, pairs, groups, dataclasses.replace(base, beta=beta))
            rows.append({"backbone": name, "features": tap, "beta": beta,
                         "pck": {a: float(r["pck"][a]["mean"]) for a in r["pck"]},
                         "seconds": round(t_frames + time.perf_counter() - t1, 1)})
    return rows


def best(rows: list[dict]) -> dict[str, dict]:
    """Per backbone, the row with the highest mean PCK@0.1 (ties: the first in grid order)."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["backbone"] not in out or r["pck"]["0.1"] > out[r["backbone"]]["pck"]["0.1"]:
            out[r["backbone"]] = r
    return out


def run(cfg: Config, ctx: Context) -> Result:
    rows = validate(cfg, ctx.progress)
    chosen = best(rows)
    table = [[r["backbone"], r["features"], f"{r['beta']:g}", *(r["pck"][a] for a in ("0.05", "0.1", "0.2")),
              f"{r['seconds']:.0f}", "**chosen**" if chosen[r["backbone"]] is r else ""] for r in rows]
    n_pairs = len(pf_willow.pf_willow_set(cfg.data_root, cfg.pairs_per_class)[1])
    md = [f"**PF-WILLOW validation** ({n_pairs} ordered pairs of the validation sub-classes; mean PF PCK over "
          f"sub-classes; frame {cfg.image_size} px; seconds include the tap's features once per backbone x tap)", "",
          markdown_table(["backbone", "features", "beta", "PCK@0.05", "PCK@0.1", "PCK@0.2", "s", ""], table,
                         "{:.3f}"), ""]
    md += [f"- {b}: {r['features']}, beta {r['beta']:g} (PCK@0.1 {r['pck']['0.1']:.3f})" for b, r in chosen.items()]
    summary = "; ".join(f"{b} {r['features']} beta {r['beta']:g}: PCK@0.1 {r['pck']['0.1']:.3f}"
                        for b, r in chosen.items())
    return Result(f"PF-WILLOW validation, best per backbone: {summary}", "\n".join(md),
                  {"rows": rows, "chosen": {b: {k: r[k] for k in ("features", "beta")} for b, r in chosen.items()}})
