"""The evaluations behind Tompson et al.'s tables and figures, for a trained cascade.

Table 1 / Fig. 11: x-error histograms and their sigma (outliers beyond +-20 px removed, as the paper's footnote)
for the coarse model and the cascade. Table 2: forward time per image of coarse, fine and cascade at 4x/8x/16x
pooling. Table 3 / Figs. 12, 14, 15: PCK per joint group at 0.05 and PCK curves (torso-normalised, FLIC protocol).
Table 4: PCKh@0.5 (MPII) of prediction files, see `pckh_report`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax import io, metrics
from convcorr_jax.pose import model as M

# MPII joint ids per group (Table 1/3 columns; "Head" stands for FLIC's face: MPII head top)
GROUPS = {"Head": (9,), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15), "Hip": (2, 3), "Knee": (1, 4),
          "Ankle": (0, 5)}
PAPER_TABLE1 = {"Label noise": (0.65, 2.46, 2.14, 1.57), "4x": (1.09, 2.43, 2.59, 2.82), "8x": (1.46, 2.47, 2.49, 3.41),
                "16x": (1.45, 2.78, 3.78, 4.16)}  # Face, Shoulder, Elbow, Wrist; FLIC at 360x240
PAPER_TABLE2 = {"Coarse-Model": (140.0, 74.9, 54.7), "Fine-Model": (17.2, 19.3, 15.9), "Cascade": (157.2, 94.2, 70.6)}
PAPER_TABLE3 = {"This work 4x": (92.6, 73.0, 57.1, 60.4), "This work 8x": (92.1, 75.8, 55.6, 56.6),
                "This work 16x": (91.6, 73.0, 47.7, 45.5)}  # Head, Shoulder, Elbow, Wrist (FLIC, PCK@0.05)
PAPER_TABLE4 = {"Tompson et al. 2015, scale normalized (test)": (96.1, 91.9, 83.9, 77.8, 80.9, 72.3, 64.8, 82.0)}


def pck_groups(pred, gt, vis, norm, alpha=0.05) -> dict[str, float]:
    """PCK (percent) per joint group, pooled over the group's joints."""
    hits = metrics.pck_hits(pred, gt, vis, norm, alpha)
    return {g: float(100 * np.nanmean(hits[:, list(j)])) for g, j in GROUPS.items()}


def pck_curve(pred, gt, vis, norm, alphas=np.linspace(0, 0.2, 21)) -> np.ndarray:
    return np.array([100 * metrics.pck(pred, gt, vis, norm, a) for a in alphas])


def x_errors(pred, gt, vis, joints) -> np.ndarray:
    """Signed x errors (pixels) of the given joints over labelled instances."""
    e = (np.asarray(pred)[:, list(joints), 0] - np.asarray(gt)[:, list(joints), 0])
    return e[np.asarray(vis)[:, list(joints)]]


def x_sigma(pred, gt, vis, joints, outlier: float = 20.0) -> float:
    """Std of x error (pixels) after removing |error| > outlier (Table 1 footnote)."""
    e = x_errors(pred, gt, vis, joints)
    e = e[np.abs(e) <= outlier]
    return float(np.std(e)) if e.size else float("nan")


def table1(preds: dict[str, np.ndarray], gt, vis) -> dict[str, dict[str, float]]:
    """{model name: {group: sigma_x}} for Head, Shoulder, Elbow, Wrist."""
    return {n: {g: x_sigma(p, gt, vis, GROUPS[g]) for g in ("Head", "Shoulder", "Elbow", "Wrist")}
            for n, p in preds.items()}


def forward_times(base: M.ModelConfig, pools=(4, 8, 16), batch: int = 8, repeats: int = 10) -> dict[int, dict[str, float]]:
    """Forward ms per image (untrained weights; time does not depend on values) of coarse, fine and cascade."""
    out = {}
    for pool in pools:
        cfg = dataclasses.replace(base, pool=pool)
        params = M.init(jax.random.PRNGKey(0), cfg)
        x = jax.random.uniform(jax.random.PRNGKey(1), (batch, cfg.image_size, cfg.image_size, 3))
        coarse = jax.jit(lambda p, x: M.apply_coarse(p, x, cfg)[:2])
        full = jax.jit(lambda p, x: M.apply(p, x, cfg)["xy"])
        hm, feats = coarse(params, x)
        origin = M.window_origin(M.coarse_points(hm, cfg), cfg)
        fine = jax.jit(lambda p, f, o: M.Fine(cfg).apply({"params": p["fine"]}, [M.crop(fi, o, lv, cfg) for lv, fi in
                                                                                  enumerate(f)]))
        if cfg.variant == "standard":
            fine = None
        res = {}
        for name, fn, args in (("Coarse-Model", coarse, (params, x)), ("Cascade", full, (params, x)),
                               ("Fine-Model", fine, (params, feats, origin))):
            if fn is None:
                continue
            jax.block_until_ready(fn(*args))
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(*args))
                ts.append(time.perf_counter() - t0)
            res[name] = 1000 * min(ts) / batch
        out[pool] = res
    return out


# --- figures -------------------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    plt = _plt()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
    plt.close(fig)


def figure_pck_curves(curves: dict[str, np.ndarray], path, alphas=np.linspace(0, 0.2, 21), title="PCK (torso)"):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for n, c in curves.items():
        ax.plot(alphas, c, label=n)
    ax.set_xlabel("normalised distance (torso)")
    ax.set_ylabel("PCK (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def figure_x_hist(errors: dict[str, np.ndarray], path, lim: float = 10.0):
    plt = _plt()
    fig, axes = plt.subplots(1, len(errors), figsize=(4 * len(errors), 3), squeeze=False)
    for ax, (n, e) in zip(axes[0], errors.items()):
        ax.hist(np.clip(e, -lim, lim), bins=np.arange(-lim, lim + 0.5, 0.5), color="C0")
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("x error (pixels)")
    _save(fig, path)


EDGES = [(0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
         (7, 13), (13, 14), (14, 15)]


def figure_skeletons(images, preds: dict[str, np.ndarray], path, n: int = 6):
    """Predicted skeletons (one row per model) over the first n images."""
    plt = _plt()
    rows = len(preds)
    fig, axes = plt.subplots(rows, n, figsize=(1.6 * n, 1.6 * rows), squeeze=False)
    for r, (name, p) in enumerate(preds.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(images[c])
            for a, b in EDGES:
                ax.plot([p[c, a, 0], p[c, b, 0]], [p[c, a, 1], p[c, b, 1]], "-", lw=1.2,
                        color="lime" if a in (3, 4, 5, 13, 14, 15) else "red")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    _save(fig, path)


def md_table(header: list[str], rows: dict[str, list], fmt: str = "{:.1f}") -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, vals in rows.items():
        lines.append("| " + name + " | " + " | ".join(fmt.format(v) if isinstance(v, (float, int)) else str(v)
                                                       for v in vals) + " |")
    return "\n".join(lines)
