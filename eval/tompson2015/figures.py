"""Figures of Tompson et al. for a trained cascade: PCK curves (Figs. 12, 14, 15), x-error histograms (Fig. 11)
and predicted skeletons."""

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
    save_figure(fig, path, dpi=DPI)


def skeletons(images: np.ndarray, preds: dict[str, np.ndarray], joint_set: JointSet, path: Path, n: int = 6) -> None:
    """Skeletons (one row per model, the person's left side green) over the first n images."""
    n = min(n, len(images))
    fig, axes = plt.subplots(len(preds), n, figsize=(1.6 * n, 1.6 * len(preds)), squeeze=False)
    for r, (name, p) in enumerate(preds.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(images[c])
            for a, b in joint_set.edges:
                ax.plot([p[c, a, 0], p[c, b, 0]], [p[c, a, 1], p[c, b, 1]], "-", lw=1.2,
                        color="lime" if a in joint_set.left else "red")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    save_figure(fig, path, dpi=DPI)
