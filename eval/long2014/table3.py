"""Long et al. 2014 Table 3: keypoint classification with conv1..conv5 columns vs SIFT descriptors of radius
10..160 px (one-vs-all linear SVMs per category); Figure 5 (CV accuracy over C) and Figure 4 (arg-max histograms)
on request.

    convcorr run long2014.table3                                  # C fixed (conv 1e-3, SIFT 1.0)
    convcorr run long2014.table3 --set cv=true                    # C by 5-fold CV per category + Figure 5
    convcorr run long2014.table3 --set figure4=true               # + Figure 4 (slow: a forward pass per shift)
    convcorr run long2014.table3 --set data=voc --data-root VOC2011
    convcorr run long2014.table3 --set data=flic --data-root FLIC --set cv=true   # FLIC people, 11 joint types

Prints the best conv and the best SIFT accuracy.
data=flic: `n_train` / `n_test` people drawn from each split (FLIC default: 300 / 150 people; see
`convcorr_eval.long2014.common` for FLIC's split and boxes). Measured numbers and times: bench/RESULTS_real.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core.config import check_fields
from convcorr_jax.core.errors import InputError
from convcorr_jax.long2014 import classification as cls
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, sized
from convcorr_eval.long2014 import common, paper
from convcorr_eval.long2014.common import load_train_test
from convcorr_eval.report import markdown_table, ours, paper_block, percent, plt, ran_on, save_figure

CV_CS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """C per feature kind (fixed: `conv_C`, `sift_C`), or chosen by CV (`cv`) over `cv_Cs` per category."""

    backbone: str = common.BACKBONE
    n_objects: int = 400
    image_size: int = 192
    n_train: int | None = 300  # data=flic: people drawn from the training split; None: all
    n_test: int | None = 150  # ... and from the test split
    roles: tuple[str, ...] = cls.ROLES
    sift_radii: tuple[int, ...] = cls.SIFT_RADII
    conv_C: float = 1e-3
    sift_C: float = 1.0
    cv: bool = False  # C per category by 5-fold CV on the training split; writes Figure 5
    cv_Cs: tuple[float, ...] = CV_CS
    figure4: bool = False
    fig4_category: str = "dog"
    fig4_keypoints: tuple[str, ...] = ("L_Eye", "Nose")
    fig4_role: str = "conv4"
    fig4_images: int = 8
    fig4_step: int = 1  # pixel step of the shifts (1: single-pixel stride)

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, positive=("conv_C", "sift_C", "cv_Cs"), finite=("conv_C", "sift_C", "cv_Cs"),
                     at_least_one=("n_objects", "image_size", "n_train", "n_test", "sift_radii", "fig4_images",
                                   "fig4_step"))
        if not self.roles and not self.sift_radii:
            raise InputError("config", "roles", "at least one conv role, or a SIFT radius in sift_radii", "none")
        if self.cv and not self.cv_Cs:
            raise InputError("config", "cv_Cs", "at least one C to choose among when cv is true",
                             "none")

    def check(self) -> None:
        self.check_roles(("roles", "fig4_role"), ("image_size",))


def get_config(size: str = "default") -> Config:
    # CV only at full size (it multiplies the run time: bench/RESULTS_knn_svm.md); the fixed C suits MobileNetV2's
    # columns and unit-norm SIFT, not AlexNet's larger un-normalised columns (CV on FLIC picks ~10x smaller): use
    # --set cv=true to choose C on the training split for another backbone
    return sized(size, {
        "tiny": Config(size=size, n_objects=24, image_size=96, n_train=12, n_test=6, roles=("conv5",),
                       sift_radii=(20,)),
        "default": Config(size=size),
        "full": Config(size=size, n_train=None, n_test=None, cv=True),
    })


def table_markdown(results: dict[str, dict], title: str = "Keypoint classification accuracy (%)",
                   cfg=None) -> str:
    """Rows = feature names, columns = categories + their mean; then the paper's rows (mean over its 20 VOC
    categories). cfg: the run's config: each row says what it ran on (`report.ran_on`) and a tiny run leaves the
    paper's table out."""
    cats = sorted({c for r in results.values() for c in r["accuracy"]})
    on = ran_on(cfg, "test") if cfg is not None else None
    rows = [[ours(name, on)] + [100 * r["accuracy"][c] if c in r["accuracy"] else "-" for c in cats]
            + [100 * r["mean"]] for name, r in results.items()]
    theirs = markdown_table(["feature", *paper.CATEGORIES, f"mean of {len(paper.CATEGORIES)}"],
                            [[r, *v] for r, v in paper.TABLE3.items()], "{}")
    return "\n".join([f"**{title}, this run**", "", markdown_table(["feature", *cats, f"mean of {len(cats)}"], rows),
                      "", *paper_block(cfg, "**paper (different data): Long et al. 2014 Table 3, PASCAL VOC 2011 val, "
                                       "CaffeNet; mean over its 20 categories**", theirs)])


def cv_curve_figure(cv_by_feature: dict[str, dict[str, dict]], path) -> None:
    """Figure 5: mean CV accuracy vs C (log axis), one line per feature (averaged over categories)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for feat, per_cat in cv_by_feature.items():
        if not per_cat:
            continue
        Cs = next(iter(per_cat.values()))["C"]
        acc = np.mean([v["accuracy"] for v in per_cat.values()], axis=0)
        ax.semilogx(Cs, 100 * acc, marker="o", label=feat)
    ax.set_xlabel("C")
    ax.set_ylabel("5-fold CV accuracy (%)")
    ax.set_title("Figure 5: mean cross-validation accuracy against the SVM's C", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def histogram_figure(hists: dict[str, np.ndarray], path) -> None:
    """Figure 4: one panel per (feature, keypoint) arg-max histogram, each with its colour bar (the number of
    windows whose arg-max fell on a cell, from 0); the window centre (ground truth) marked."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(hists), figsize=(2.9 * len(hists), 2.6), squeeze=False)
    for ax, (name, h) in zip(axes[0], hists.items()):
        im = ax.imshow(h, cmap="hot", interpolation="nearest", vmin=0, vmax=max(1, np.max(h)))
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, ticks=MaxNLocator(5, integer=True))
        bar.set_label("arg-maxima (count)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
        r = h.shape[0] // 2
        ax.plot([r], [r], "c+", ms=8)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel("x in the window", fontsize=7)
        ax.set_ylabel("y in the window", fontsize=7)
    fig.suptitle("Figure 4: where the classifier's arg-max falls around the true keypoint (cyan +: window centre)",
                 fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def run(cfg: Config, ctx: Context) -> Result:
    train, test = load_train_test(cfg, cfg.n_objects, cfg.image_size, covered_only=True, n_train=cfg.n_train,
                                  n_test=cfg.n_test)
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    cv = list(cfg.cv_Cs) if cfg.cv else None
    C = {"conv": cfg.conv_C, "SIFT": cfg.sift_C}
    out = cls.run_table3(train, test, backbone, params, roles=cfg.roles, radii=cfg.sift_radii, C=C, cv_Cs=cv,
                         progress=ctx.progress and cfg.size != "tiny")
    res = out["results"]
    md = [table_markdown(res, cfg=cfg), "",
          f"Data: {cfg.data}, {len(train)} training / {len(test)} test instances. "
          f"{out['n_train']} training / {out['n_test']} test keypoints; skipped (train + test): {out['skipped']}. "
          f"Backbone {backbone.name}: conv roles -> taps {dict((r, backbone.roles[r]) for r in cfg.roles)}. "
          + ("C chosen per category by 5-fold CV on the training split (test never seen): "
             + ", ".join(f"{k} " + "/".join(f"{c:g}" for c in v["C"].values()) for k, v in res.items()) + "."
             if cv else
             f"C fixed: {C} (CV and Figure 5: `--set cv=true`).")]
    if cv:
        path = ctx.figures / "long2014_fig5_cv_accuracy_vs_C.png"
        cv_curve_figure({k: v["cv"] for k, v in res.items()}, path)
        md += ["", f"![Figure 5](figures/{path.name})"]
    metrics = {k: {"mean": v["mean"], **v["accuracy"]} for k, v in res.items()}
    metrics["C"] = {k: v["C"] for k, v in res.items()}
    metrics["accuracy_about"] = {"unit": "fraction in [0, 1]", "mean": "over the categories with a test keypoint"}
    if cfg.figure4:
        f4 = cls.run_figure4(train, test, backbone, params, cfg.fig4_category, cfg.fig4_keypoints, cfg.fig4_role,
                             C=cfg.conv_C, sift_C=cfg.sift_C, n_images=cfg.fig4_images, step=cfg.fig4_step)
        path = ctx.figures / "long2014_fig4_argmax_histograms.png"
        histogram_figure(f4["histograms"], path)
        md += ["", f"![Figure 4](figures/{path.name}) (maxima on the window boundary excluded: {f4['excluded']})"]
        metrics["figure4_excluded"] = f4["excluded"]
    best = max(res, key=lambda k: res[k]["mean"])
    summary = f"keypoint classification: best {best} {percent(res[best]['mean'])}%"
    convs, sifts = [k for k in res if k.startswith("conv")], [k for k in res if k.startswith("SIFT")]
    if convs and sifts:
        cb, sb = max(convs, key=lambda k: res[k]["mean"]), max(sifts, key=lambda k: res[k]["mean"])
        summary += f"; best conv {cb} {percent(res[cb]['mean'])}% vs best SIFT {sb} {percent(res[sb]['mean'])}%"
    return Result(summary, "\n".join(md), metrics)
