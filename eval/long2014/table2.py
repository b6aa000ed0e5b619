"""Long et al. 2014 Table 2: keypoint transfer by conv4 flow, SIFT flow and NN transfer (PCK at alpha 0.1 / 0.05 /
0.025 of the box's longer side), with a figure of targets and their lowest-energy neighbours warped by conv4 flow.

    convcorr run long2014.table2                          # 40 targets x 25 neighbours, beta chosen in {3e-3, 3e-2}
    convcorr run long2014.table2 --set transfer.box=500 --set transfer.window=none --set transfer.iters=10
                                                          # the paper's solver setting (bench/RESULTS_flow.md)
    convcorr run long2014.table2 --size full              # ... and every test instance, beta from 4 values
    convcorr run long2014.table2 --set data=voc --data-root VOC2011    # annotations/ + JPEGImages/

Prints the mean PCK@0.1 per method. Default backbone: torchvision's AlexNet with real ImageNet conv weights; its
weights hold no fc7, so the neighbours are retrieved by the flattened pool5 map (`retrieval_transfer.retrieval_tap`).
Measured numbers and times: README and bench/RESULTS_flow.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core.config import check_fields
from convcorr_jax.long2014 import retrieval_transfer
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import dense_flow_spline, warp_image
from convcorr_jax.core.long_frame import FRAME_PX
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, sized
from convcorr_eval.long2014 import common, paper
from convcorr_eval.long2014.common import load_train_test
from convcorr_eval.report import markdown_table, ours, paper_block, plt, ran_on, save_figure, score_about


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """`n_objects` synthetic objects (192 px); `transfer`: the protocol's settings; `figure_rows` targets drawn."""

    backbone: str = common.BACKBONE
    n_objects: int = 400
    transfer: retrieval_transfer.RetrievalTransferConfig = retrieval_transfer.RetrievalTransferConfig(max_targets=40,
                                                                                                      val_betas=(3e-3,
                                                                                                                 3e-2),
                                                                val_targets=12)
    figure_rows: int = 3

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, nonnegative=("figure_rows",), at_least_one=("n_objects",))

    def check(self) -> None:
        self.transfer.check_backbone(self.backbone)


def get_config(size: str = "default") -> Config:
    T = retrieval_transfer.RetrievalTransferConfig
    return sized(size, {
        "tiny": Config(size=size, n_objects=40, figure_rows=2,
                       transfer=T(box=96, neighbours=4, top=3, iters=3, levels=2, window=3, max_targets=5)),
        "default": Config(size=size),
        "full": Config(size=size, transfer=T(box=FRAME_PX, window=None, iters=8, val_betas=(1e-3, 3e-3, 1e-2, 3e-2),
                                             val_targets=40)),
    })


def table_markdown(results: dict, n_targets: int, cfg: retrieval_transfer.RetrievalTransferConfig, stride: int = 16,
                   run_cfg=None) -> str:
    """Per-category PCK@0.1 (%) and the means over those categories at each alpha, then the paper's means (over
    its 20 VOC categories). run_cfg: the run's config: each row says what it ran on (`report.ran_on`) and a tiny
    run leaves the paper's table out."""
    cats = [c for c in next(iter(results.values()))[0.1] if c != "mean"]
    on = ran_on(run_cfg, "test") if run_cfg is not None else None
    rows = [[ours(m, on)] + [v if np.isfinite(v) else None  # "-": a category with no visible target keypoint
                             for v in [*(r[0.1][c] for c in cats), r[0.1]["mean"], r[0.05]["mean"], r[0.025]["mean"]]]
            for m, r in results.items()]
    scored = [c for c in cats if any(np.isfinite(r[0.1][c]) for r in results.values())]
    means = [f"mean of {len(scored)}, a=0.1", "a=0.05", "a=0.025"]
    theirs = markdown_table(["method", "mean of 20, a=0.1", "a=0.05", "a=0.025"],
                            [[m, *map(str, v["mean"])] for m, v in paper.TABLE2.items()])
    lines = [f"PCK (%) at alpha x the longer side of the target's object box; means over the {len(scored)} "
             "categories of the columns scored (\"-\": no visible target keypoint).", "",
             markdown_table(["method", *cats, *means], rows), "",
             *paper_block(run_cfg, "paper (different data: PASCAL VOC 2011, AlexNet conv4, 500 px boxes), mean PCK "
                          "(%) over its 20 categories:", theirs), "",
             f"{n_targets} targets, {cfg.neighbours} nearest neighbours each (by fc7, or by the flattened pool5 map "
             f"for conv-only weights), top {cfg.top} by deformation energy, "
             f"box {cfg.box} px, SIFT bin {retrieval_transfer.sift_bin(cfg, stride)} px "
             f"(radius {cfg.sift_radius:g} scaled by {cfg.sift_scale}), beta {cfg.beta}, BP {cfg.levels} levels x "
             f"{cfg.iters} iterations."]
    return "\n".join(lines)


def figure(path, out: dict, test, cfg: retrieval_transfer.RetrievalTransferConfig, n_rows: int = 3) -> None:
    """Targets with their 5 lowest-energy neighbours warped by conv4 flow: on each target its ground-truth keypoints
    and the ones transferred by conv4 flow, on each warped neighbour its own keypoints carried by the flow."""
    from matplotlib.lines import Line2D

    from convcorr_jax.flow.warp import carry_points

    qs, db, tr = out["targets"], out["database"], out["transfer"]
    n_rows = min(n_rows, len(qs.crops))
    if n_rows < 1:  # figure_rows=0: no figure
        return
    n_nb = min(5, len(tr["energies"]["conv4 flow"][0]))
    s_conv = feature_scale(np.concatenate([qs.conv, db.conv]), cfg.feature_norm)
    fig, axes = plt.subplots(n_rows, 1 + n_nb, figsize=(max(2.3 * (1 + n_nb), 7.5), 2.45 * n_rows + 0.9),
                             squeeze=False, layout="constrained")
    bpcfg = bp.BPConfig(cfg.beta, cfg.window, cfg.iters, cfg.levels, cfg.dt_method)
    gt_style = dict(s=36, facecolors="lime", edgecolors="black", linewidths=0.6, marker="o", zorder=3)
    tr_style = dict(s=40, c="red", linewidths=1.6, marker="x", zorder=4)
    nb_style = dict(s=36, c="orange", linewidths=1.4, marker="+", zorder=3)
    for r in range(n_rows):
        nb = tr["neighbours"][r]
        order = np.argsort(tr["energies"]["conv4 flow"][r], kind="stable")[:n_nb]
        order = order[nb[order] >= 0]  # a category with fewer instances: fewer neighbours (-1 after them)
        axes[r, 0].imshow(qs.crops[r])
        g = qs.points[r][qs.visible[r]]
        axes[r, 0].scatter(g[:, 0], g[:, 1], **gt_style)
        p = tr["pred"]["conv4 flow"][r][qs.visible[r]]
        axes[r, 0].scatter(p[:, 0], p[:, 1], **tr_style)
        axes[r, 0].set_title(f"target {r + 1}: {test[r].category}", fontsize=10, fontweight="bold")
        for c, j in enumerate(order):
            res = bp.solve_flow_in_frame(qs.conv[r] * s_conv, db.conv[nb[j]] * s_conv, bpcfg, qs.stride, cfg.box,
                                  cfg.paper_box)
            dense = dense_flow_spline(np.asarray(res.flow), qs.grid_xy, (cfg.box, cfg.box))
            ax = axes[r, c + 1]
            ax.imshow(np.clip(np.asarray(warp_image(db.crops[nb[j]], dense)), 0, 255).astype(np.uint8))
            moved = np.asarray(carry_points(db.points[nb[j]], dense))[db.visible[nb[j]]]
            ax.scatter(moved[:, 0], moved[:, 1], **nb_style)
            ax.set_title(f"neighbour {c + 1} (deformation {float(res.deformation_energy):.0f})", fontsize=9)
    for a in axes.ravel():
        a.set_xlim(-0.5, cfg.box - 0.5)
        a.set_ylim(cfg.box - 0.5, -0.5)
        a.axis("off")
    handles = [Line2D([], [], linestyle="none", markersize=8, marker="o", markerfacecolor="lime",
                      markeredgecolor="black", label="ground truth (target)"),
               Line2D([], [], linestyle="none", markersize=8, marker="x", color="red", markeredgewidth=1.6,
                      label=f"transferred by conv4 flow (median of top {cfg.top})"),
               Line2D([], [], linestyle="none", markersize=9, marker="+", color="orange", markeredgewidth=1.4,
                      label="neighbour's keypoints carried by its flow")]
    fig.suptitle("Keypoint transfer by conv4 flow\neach target, then its lowest-deformation neighbours warped onto it",
                 fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=2 if n_nb < 4 else 3, fontsize=9, frameon=False)
    save_figure(fig, path, dpi=110)


def run(cfg: Config, ctx: Context) -> Result:
    train, test = load_train_test(cfg, cfg.n_objects, 192)
    test = retrieval_transfer.interleave(test)  # round-robin over categories: the first N targets cover every category
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    out = retrieval_transfer.table2(train, test, backbone, params, cfg.transfer, progress=ctx.progress)
    used = out["config"]
    fig = ctx.figures / "keypoint_transfer.png"
    figure(fig, out, test[: out["n_targets"]], used, n_rows=cfg.figure_rows)
    r = out["results"]
    md = table_markdown(r, out["n_targets"], used, out["targets"].stride, cfg)
    if out["validation"]:
        md += ("\n\nbeta chosen on a validation split of the training set (held-out training instances as targets, "
               "the rest as database; mean of conv4 and SIFT flow PCK@0.1): "
               + ", ".join(f"beta {b:g}: {v:.1f}" for b, v in out["validation"].items()) + f" -> beta {used.beta:g}.")
    md += f"\n\n![keypoint transfer](figures/{fig.name})\n"
    summary = (f"Table 2 ({out['n_targets']} targets): mean PCK@0.1 conv4 flow {r['conv4 flow'][0.1]['mean']:.1f}, "
               f"SIFT flow {r['SIFT flow'][0.1]['mean']:.1f}, NN transfer {r['NN transfer'][0.1]['mean']:.1f}")
    metrics = {m: {str(a): v for a, v in r[m].items()} for m in r}
    metrics["pck_about"] = score_about("longer side of the target's object box", [float(a) for a in r[next(iter(r))]],
                                       "percent", mean="over the categories with a visible target keypoint")
    metrics["beta"] = used.beta
    if out["validation"]:
        metrics["validation_pck"] = {str(b): v for b, v in out["validation"].items()}
    return Result(summary, md, metrics)
