"""Razavian et al. 2015 Table 2 and Fig. 2b: object keypoints by ridge regression (PCK@0.1 per category).

    convcorr run razavian2015.keypoints                                   # synthetic objects, MobileNetV2
    convcorr run razavian2015.keypoints --set data=voc --data-root VOC2011 --set annotations=KP_DIR
    convcorr run razavian2015.keypoints --size tiny --backbone caffenet --set weights=random

Prints the mean PCK@0.1 over categories (%).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core.errors import InputError
from convcorr_jax.core.metrics import mean_scored
from convcorr_jax.regression import keypoints
from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.razavian2015 import common, data, paper
from convcorr_eval.razavian2015.figures import plot_curves
from convcorr_eval.report import comparable, percent, ran_on, score_about


@dataclasses.dataclass(frozen=True)
class Config(common.Config):
    """`annotations`: the VOC keypoint annotations folder (`<class>/*.xml`) for data=voc (data_root: VOC2011)."""

    annotations: str | None = None


def get_config(size: str = "default") -> Config:
    return common.config_at(Config, size)


def section(cfg: common.Config, desc: common.Descriptors, figdir, train, test, dataset: str = "synthetic objects"
            ) -> tuple[str, dict]:
    """Table 2 and Fig. 2b: (markdown, metrics). A category with no visible test keypoint is "-" and left out of
    the mean (`keypoints.keypoint_table`)."""
    res = keypoints.keypoint_table(train, test, desc.main, cfg.object_crop, seed=cfg.seed)
    cats = [c for c in res.pck if c != "mean"]
    scored = [c for c in cats if np.isfinite(res.pck[c])]
    curves = dict(res.curves)
    curves["mean"] = np.array([mean_scored(v) for v in np.stack([res.curves[c] for c in cats], axis=1)])
    plot_curves(figdir / "razavian_fig2b_pck.png", res.alphas, curves, "alpha", "PCK",
                f"Fig. 2b: PCK vs alpha ({dataset})")
    with_paper = comparable(cfg)  # a tiny or random-weights run leaves the paper's column out

    def theirs(v) -> str:
        return f" {v} |" if with_paper else ""

    md = [f"**Table 2** (PCK@0.1, %, alpha x the object box's longer side, per category; {dataset}: {len(train)} "
          f"train / {len(test)} test instances; square box crops at {cfg.object_crop} px)", "",
          f"| category | test instances | ours ({ran_on(cfg, 'test')}) |"
          + theirs("paper ConvNet + ridge (different data; mean of its 20 VOC classes)"),
          "|---|---|---|" + ("---|" if with_paper else "")]
    md += [f"| {c} | {res.counts[c]} | {percent(res.pck[c])} |" + theirs(paper.TABLE2.get(c, "-")) for c in cats]
    md += [f"| **mean of {len(scored)}** | {sum(res.counts.values())} | {percent(res.pck['mean'])} |"
           + theirs(paper.TABLE2_MEAN)]
    metrics = {"pck@0.1": res.pck, "pck_about": score_about("object box", 0.1), "counts": res.counts}
    if desc.extra is not None:
        ex = keypoints.keypoint_table(train, test, desc.extra, cfg.object_crop, seed=cfg.seed)
        md += [f"| mean, {desc.extra_label} | {sum(ex.counts.values())} | {percent(ex.pck['mean'])} |" + theirs("-")]
        metrics["extra"] = {"descriptor": desc.extra_label, "pck@0.1": ex.pck}
    md += ["", "![pck](figures/razavian_fig2b_pck.png)", ""]
    return "\n".join(md), metrics


def summary(m: dict) -> str:
    return f"PCK@0.1 {percent(m['pck@0.1']['mean'])}%"


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic", "voc"))
    desc = common.make_descriptors(cfg)
    if cfg.data == "voc":
        if cfg.annotations is None:
            raise InputError("config", "annotations", "the VOC keypoint annotations folder for data=voc")
        train, test = data.voc_keypoints(cfg.annotations, cfg.dataset_root(), cfg.seed)
        dataset = "PASCAL VOC keypoints"
    else:
        (train, test), dataset = data.synthetic_objects(cfg), "synthetic objects"
    md, m = section(cfg, desc, ctx.figures, train, test, dataset=dataset)
    return Result(summary(m), f"Descriptor: {desc.text}.\n\n{md}", m)
