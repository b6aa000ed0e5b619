"""Long et al. 2014 Table 4 and Figure 6: sliding-window keypoint prediction, conv5 vs dense SIFT, +/- the
nearest-neighbour Gaussian prior; PCK at alpha = 0.1 of max(box w, h).

    convcorr run long2014.table4                                   # synthetic objects, boxes at 192 px
    convcorr run long2014.table4 --set prediction.box_size=500     # the paper's box size (slow on CPU)
    convcorr run long2014.table4 --set data=voc --data-root VOC2011

Runtime on a 2-core CPU: tiny ~15 s, default ~1-3 min. Prints PCK@0.1 of SIFT, SIFT+prior, conv5 and conv5+prior
(tiny, MobileNetV2: 13.9, 11.3, 17.2, 22.7).
"""

from __future__ import annotations

import dataclasses
import sys

import jax

from convcorr_jax.correspondence import prediction as P
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, sized
from convcorr_eval.long2014 import paper
from convcorr_eval.long2014.common import load_train_test
from convcorr_eval.report import markdown_table, plt, save_figure


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """`prediction`: the protocol's settings (C 1e-3: MobileNetV2 features are smaller than Caffe's, see
    `convcorr_jax.correspondence.prediction`); `sift`: also the dense SIFT rows."""

    n_objects: int = 400
    image_size: int = 192
    prediction: P.PredictionConfig = P.PredictionConfig(box_size=192, C=1e-3, max_rounds=3)
    sift: bool = True
    figure_rows: int = 5


def get_config(size: str = "default") -> Config:
    PC = P.PredictionConfig
    return sized(size, {
        "tiny": Config(size=size, n_objects=24, image_size=96, prediction=PC(box_size=96, C=1e-3, max_rounds=1)),
        "default": Config(size=size),
        "full": Config(size=size, prediction=PC(box_size=500, C=1e-3, max_rounds=3)),
    })


def table_markdown(rows: dict[str, dict[str, float]], title: str = "Keypoint prediction PCK@0.1 (%)") -> str:
    """This run's rows (categories + mean) and the paper's."""
    cats = sorted({c for r in rows.values() for c in r if c != "mean"})
    ours = [[name] + [100 * r[c] for c in cats] + [100 * r["mean"]] for name, r in rows.items()]
    return "\n".join([f"**{title}, this run**", "", markdown_table(["method", *cats, "mean"], ours), "",
                      "**paper (different data): Long et al. 2014 Table 4, PASCAL VOC 2011, CaffeNet**", "",
                      markdown_table(["method", *paper.CATEGORIES, "mean"], [[n, *v] for n, v in paper.TABLE4.items()])])


def overlay_figure(samples, preds: dict[str, list], box_size: int, path, max_rows: int = 5) -> None:
    """Figure 6: per row a resampled box with ground truth, then each method's predictions (colour = keypoint).
    preds[method][row] = [K, 2] box pixels for samples[row]."""
    rows = min(max_rows, len(samples))
    cols = 1 + len(preds)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    crops = P.box_crops(samples[:rows], box_size)
    for r in range(rows):
        kp, vis, _ = P.box_keypoints(samples[r:r + 1], box_size)  # categories differ in their keypoint count
        colours = plt.cm.tab20(range(kp.shape[1]))
        for c, (name, pts) in enumerate([("ground truth", kp[0])] + [(k, v[r]) for k, v in preds.items()]):
            ax = axes[r, c]
            ax.imshow(crops[r])
            m = vis[0]
            ax.scatter(pts[m, 0], pts[m, 1], c=colours[m], s=18, edgecolors="k", linewidths=0.5)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
        axes[r, 0].set_ylabel(samples[r].category, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def run(cfg: Config, ctx: Context) -> Result:
    train, test = load_train_test(cfg, cfg.n_objects, cfg.image_size, covered_only=True)
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    pc = cfg.prediction
    out = P.run_table4(train, test, backbone, params, pc, sift=cfg.sift, key=jax.random.PRNGKey(cfg.seed),
                       progress=ctx.progress and cfg.size != "tiny")
    rows = out["rows"]
    names = [r for r in ("SIFT+prior", "conv5+prior") if r in out["pred"]]
    cats = [c for c in out["test"] if out["test"][c]][: cfg.figure_rows]
    path = ctx.figures / "long2014_fig6_keypoint_prediction.png"
    overlay_figure([out["test"][c][0] for c in cats], {r: [out["pred"][r][c][0] for c in cats] for r in names},
                   pc.box_size, path, cfg.figure_rows)
    md = [table_markdown(rows), "",
          f"Boxes resampled to {pc.box_size} px (paper: 500); conv5 = {backbone.roles[pc.role]} 3x3-concatenated; "
          f"negatives beyond {out['neg_half']:.1f} px (Chebyshev) of the keypoint; C = {pc.C}; prior sigma "
          f"{pc.sigma * pc.box_size / 500:.1f} px, eta {pc.eta}; {out['skipped']} keypoints outside their box "
          "excluded from training.", "", f"![Figure 6](figures/{path.name})"]
    metrics = {"rows": rows, "prior_gain_conv5": rows["conv5+prior"]["mean"] - rows["conv5"]["mean"]}
    summary = (f"keypoint prediction PCK@0.1: conv5 {100 * rows['conv5']['mean']:.1f}, +prior "
               f"{100 * rows['conv5+prior']['mean']:.1f} ({100 * metrics['prior_gain_conv5']:+.1f})")
    if cfg.sift:
        metrics["prior_gain_sift"] = rows["SIFT+prior"]["mean"] - rows["SIFT"]["mean"]
        summary = (f"keypoint prediction PCK@0.1: SIFT {100 * rows['SIFT']['mean']:.1f}, +prior "
                   f"{100 * rows['SIFT+prior']['mean']:.1f} ({100 * metrics['prior_gain_sift']:+.1f}); "
                   + summary.split(": ", 1)[1])
    return Result(summary, "\n".join(md), metrics)


if __name__ == "__main__":
    from convcorr_eval.runner import main

    sys.exit(main("long2014.table4"))
