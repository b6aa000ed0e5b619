"""Figures of Tompson et al. for a trained cascade: PCK curves (Figs. 12, 14, 15), x-error histograms (Fig. 11),
predicted skeletons and a page of the best and worst predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convcorr_jax.pose.joints import JointSet
from convcorr_eval.report import plt, save_figure

DPI = 90


def pck_curves(curves: dict[str, np.ndarray], path: Path, alphas: np.ndarray, title: str = "PCK (torso)",
               unit: str = "torso") -> None:
    """PCK (percent) against the distance normalised by `unit` (torso, head size), one line per model."""
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for n, c in curves.items():
        ax.plot(alphas, c, label=n)
    ax.set_xlabel(f"normalised distance ({unit})")
    ax.set_ylabel("PCK (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=DPI)


def x_error_hist(errors: dict[str, np.ndarray], path: Path, lim: float = 10.0) -> None:
    """Histograms of signed x errors (pixels), one panel per entry; errors beyond +-lim are clipped to the ends."""
    fig, axes = plt.subplots(1, len(errors), figsize=(4 * len(errors), 3), squeeze=False)
    for ax, (n, e) in zip(axes[0], errors.items()):
        ax.hist(np.clip(e, -lim, lim), bins=np.arange(-lim, lim + 0.5, 0.5), color="C0")
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("x error (pixels)")
        ax.set_ylabel("joints")
    fig.suptitle(f"Signed x error of the predicted joints (clipped to +-{lim:g} px)", fontsize=10)
    save_figure(fig, path, dpi=DPI)


LEFT, RIGHT = "lime", "red"  # bones of the person's left side, of the others


def draw_skeleton(ax, points: np.ndarray, joint_set: JointSet, shown: np.ndarray | None = None) -> None:
    """One skeleton [K, 2] on `ax`: bones of the person's left side green (a bone with a left joint and no right
    one, whichever end the edge lists first), the others red (the right side and the bones across the middle, e.g.
    shoulder to shoulder), joints as white dots; `shown` [K] bool: the joints drawn (bones need both ends; None:
    every finite joint)."""
    ok = np.all(np.isfinite(points), axis=-1) if shown is None else np.asarray(shown, bool)
    left, right = set(joint_set.left), {b for _, b in joint_set.flip_pairs}
    for a, b in joint_set.edges:
        if ok[a] and ok[b]:
            on_left = bool({a, b} & left) and not {a, b} & right
            ax.plot(points[[a, b], 0], points[[a, b], 1], "-", lw=1.6, color=LEFT if on_left else RIGHT)
    ax.scatter(points[ok, 0], points[ok, 1], s=9, color="white", edgecolors="black", linewidths=0.4, zorder=3)



def skeleton_legend() -> list:
    """Legend handles of `draw_skeleton`'s colours."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=LEFT, lw=2, label="person's left side"),
            Line2D([], [], color=RIGHT, lw=2, label="person's right side (and the middle)"),
            Line2D([], [], marker="o", color="white", markeredgecolor="black", linestyle="", label="joint")]


def skeletons(images: np.ndarray, preds: dict[str, np.ndarray], joint_set: JointSet, path: Path, n: int = 6,
              shown: dict[str, np.ndarray] | None = None) -> None:
    """Skeletons (one row per model, the person's left side green) over the first n images. shown: {row name: bool
    [N, K] the joints drawn} for rows whose points hold unlabelled joints (the ground truth of `PoseArrays`, 0 where
    missing); other rows draw every finite joint."""
    n = min(n, len(images))
    shown = shown or {}
    fig, axes = plt.subplots(len(preds), n, figsize=(1.6 * n, 1.6 * len(preds)), squeeze=False)
    for r, (name, p) in enumerate(preds.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(images[c])
            draw_skeleton(ax, p[c], joint_set, None if name not in shown else np.asarray(shown[name][c], bool))
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle("Predicted skeletons, first test images (rows: ground truth and each model)", fontsize=9)
    fig.legend(handles=skeleton_legend(), loc="lower center", ncol=3, fontsize=7, frameon=False)
    save_figure(fig, path, dpi=DPI)


def image_scores(hits: np.ndarray) -> np.ndarray:
    """Per-image score [N] in percent of a hit table [N, K] (1 hit, 0 miss, NaN not scored, as
    `metrics.pck_hits`): the mean over the image's scored joints; NaN for an image with none."""
    hits = np.asarray(hits, np.float64)
    counted = np.isfinite(hits).sum(1)
    return np.where(counted > 0, 100 * np.nansum(hits, 1) / np.maximum(counted, 1), np.nan)


def best_worst_figure(images: np.ndarray, truth: np.ndarray, pred: np.ndarray, visible: np.ndarray,
                      scores: np.ndarray, joint_set: JointSet, score_name: str, title: str, n: int = 3) -> plt.Figure:
    """A page of predicted skeletons: the n images with the highest per-image score (top row) and the n with the
    lowest (bottom row; fewer when there are under 2n scored images), each as the ground truth beside the
    prediction, the score in the prediction's title.

    images: uint8 [N, H, W, 3]; truth, pred: [N, K, 2] pixels of the images; visible: [N, K] the ground-truth
    joints drawn; scores: [N] per-image score in percent (NaN: not scored, left out), named `score_name`."""
    scores = np.asarray(scores, np.float64)
    scored = np.flatnonzero(np.isfinite(scores))
    order = scored[np.argsort(-scores[scored], kind="stable")]
    n = max(1, min(n, len(order) // 2)) if len(order) else 0
    picks = {"best": order[:n], "worst": order[::-1][:n]} if n else {}
    if len(order) == 1:
        picks = {"best": order}
    ncol = 2 * max(1, n)
    fig, axes = plt.subplots(max(1, len(picks)), ncol, figsize=(max(10.0, 1.9 * ncol), 2.3 * max(1, len(picks)) + 0.9),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, (kind, idx) in enumerate(picks.items()):
        for c, i in enumerate(idx):
            gt_ax, pr_ax = axes[r, 2 * c], axes[r, 2 * c + 1]
            for ax in (gt_ax, pr_ax):
                ax.imshow(images[i])
            draw_skeleton(gt_ax, truth[i], joint_set, np.asarray(visible[i], bool) & np.all(np.isfinite(truth[i]), -1))
            draw_skeleton(pr_ax, pred[i], joint_set)
            gt_ax.set_title(f"{kind} {c + 1} (image {i}): ground truth", fontsize=8)
            pr_ax.set_title(f"prediction: {score_name} {scores[i]:.1f} %", fontsize=8)
    if not picks:
        axes[0, 0].text(0.5, 0.5, "no image with a scored joint", ha="center", va="center")
    fig.suptitle(title, fontsize=10)
    fig.legend(handles=skeleton_legend(), loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig
