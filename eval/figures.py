"""Figures shared by the commands: an alignment with its flow and difference images (`convcorr align`) and
keypoints moved from one image into another (`convcorr match`, PF-WILLOW). Each function builds and returns a
matplotlib Figure (titled, with a legend or labelled colour scales); `convcorr_eval.report.save_figure` writes it.

    save_figure(alignment_figure(a, b, warped, flow, "A -> B"), "warp.png")
    save_figure(transfer_figure([TransferRow(a, b, pa, pb)], "A -> B"), "match.png")
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any, Sequence

import numpy as np

from convcorr_jax.flow.colour import colour_key, flow_to_colour
from convcorr_eval.report import plt

GAP = 10  # white pixels between two images drawn side by side
WIDTH_IN = 12.0  # the alignment figure's width in inches (at save_figure's 100 dpi: 1200 px before trimming)


def side_by_side(a: np.ndarray, b: np.ndarray, gap: int = GAP) -> tuple[np.ndarray, int]:
    """(uint8 canvas [max(Ha, Hb), Wa + gap + Wb, 3] with a left and b right, tops aligned, white between; x
    offset of b in the canvas)."""
    h, x0 = max(a.shape[0], b.shape[0]), a.shape[1] + gap
    canvas = np.full((h, x0 + b.shape[1], 3), 255, np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], x0:] = b
    return canvas, x0


def abs_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|x - y| [H, W] float32 of two uint8 RGB images of one size, the mean over the channels (grey levels 0..255)."""
    return np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32)).mean(-1)


def alignment_figure(a: np.ndarray, b: np.ndarray, warped: np.ndarray, flow: np.ndarray, title: str,
                     flow_extent: tuple[float, float, float, float] | None = None, unit: str = "px of A") -> plt.Figure:
    """Where an alignment of A to B holds and where it fails. Top: A, B (resized to A's size), B warped onto A by
    the flow. Bottom: |B - A| before and |B warped - A| after the alignment (one colour scale, a colour bar in grey
    levels 0..255, the mean in each title), and the flow [h, w, 2] (dx, dy) in the Middlebury colour code
    (`flow.colour`) with its key: hue = direction, saturation = length up to the longest vector.

    a, b, warped: uint8 [H, W, 3] of one size; flow: per pixel of A ([H, W, 2]) or on a grid, drawn over
    `flow_extent` (left, right, bottom, top) in A's pixels; `unit`: what the flow's lengths are in."""
    before, after = abs_difference(b, a), abs_difference(warped, a)
    h, w = a.shape[:2]
    panel_h = (WIDTH_IN - 1.6) / 3 * h / w  # the key takes about 1.6 in on the right
    fig, axes = plt.subplots(2, 3, figsize=(WIDTH_IN, 2 * panel_h + 1.3), layout="constrained")
    for ax, img, name in zip(axes[0], (a, b, warped), ("A (source)", "B (target, resized to A)",
                                                         "B warped onto A by the flow")):
        ax.imshow(img)
        ax.set_title(name, fontsize=10)
    scale = dict(cmap="magma", vmin=0, vmax=255)
    im = axes[1, 0].imshow(before, **scale)
    axes[1, 0].set_title(f"|B - A| before alignment (mean {before.mean():.1f})", fontsize=10)
    axes[1, 1].imshow(after, **scale)
    axes[1, 1].set_title(f"|B warped - A| after (mean {after.mean():.1f})", fontsize=10)
    longest = float(np.nanmax(np.hypot(flow[..., 0], flow[..., 1]), initial=0.0))
    ext = flow_extent or (-0.5, w - 0.5, h - 0.5, -0.5)
    axes[1, 2].imshow(flow_to_colour(flow), extent=ext, interpolation="nearest")
    axes[1, 2].set_xlim(-0.5, w - 0.5)
    axes[1, 2].set_ylim(h - 0.5, -0.5)
    axes[1, 2].set_title(f"flow A -> B (longest {longest:.1f} {unit})", fontsize=10)
    key = axes[1, 2].inset_axes((1.08, 0.1, 0.3, 0.3 * w / h), transform=axes[1, 2].transAxes)
    key.imshow(colour_key(101))
    key.set_title("colour key", fontsize=8, pad=12)
    for lab, x, y, ha, va in (("right", 1.04, 0.5, "left", "center"), ("left", -0.04, 0.5, "right", "center"),
                              ("up", 0.5, 1.02, "center", "bottom"), ("down", 0.5, -0.02, "center", "top")):
        key.text(x, y, lab, fontsize=7, ha=ha, va=va, transform=key.transAxes)
    key.set_axis_off()
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[1, :2], orientation="horizontal", shrink=0.6, aspect=40,
                 label="absolute difference, mean over R, G, B (grey levels 0..255)")
    fig.suptitle(title, fontsize=11)
    return fig


@dataclasses.dataclass(frozen=True)
class TransferRow:
    """One pair of a transfer figure: images a, b (uint8 RGB), points of a [K, 2] and where they went in b [K, 2]
    (NaN: not moved); optionally b's true points [K, 2] (NaN: not annotated) and the hit distance in b's pixels."""

    a: np.ndarray
    b: np.ndarray
    points_a: np.ndarray
    points_b: np.ndarray
    truth: np.ndarray | None = None
    threshold: float | None = None
    title: str = ""


HIT, MISS = "limegreen", "red"


def transfer_figure(rows: Sequence[TransferRow], title: str, names: tuple[str, str] = ("A", "B"),
                    threshold_name: str = "threshold", width: float = 9.0) -> plt.Figure:
    """One row per pair: a (left) and b (right). Each keypoint i has colour i: a circle at its source in a, a
    cross where it went in b. Without ground truth a thin line joins the two; with it, b's true keypoint is a
    hollow square and a line joins the prediction to it, green within `threshold` pixels, red beyond (a miss).
    The legend names the markers and lines; the keypoint colours are listed (up to 20). width: inches."""
    from matplotlib.lines import Line2D

    with_truth = any(r.truth is not None for r in rows)
    k = max(len(r.points_a) for r in rows)
    cmap = plt.get_cmap("tab20" if k > 10 else "tab10")
    heights = [max(r.a.shape[0], r.b.shape[0]) / (r.a.shape[1] + GAP + r.b.shape[1]) for r in rows]
    img_w = width - 0.4
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, sum(img_w * h + 0.35 for h in heights) + 1.2),
                             squeeze=False, layout="constrained", height_ratios=heights)
    for ax, r in zip(axes[:, 0], rows):
        canvas, x0 = side_by_side(r.a, r.b)
        ax.imshow(canvas)
        pa, pb = np.asarray(r.points_a, np.float64), np.asarray(r.points_b, np.float64)
        for i, (p, q) in enumerate(zip(pa, pb)):
            c = cmap(i % cmap.N)
            if np.all(np.isfinite(p)):
                ax.scatter(*p, s=45, color=c, marker="o", edgecolors="black", linewidths=0.6, zorder=3)
            if not np.all(np.isfinite(q)):
                continue
            ax.scatter(q[0] + x0, q[1], s=60, color=c, marker="X", edgecolors="black", linewidths=0.6, zorder=4)
            if r.truth is None:
                ax.plot([p[0], q[0] + x0], [p[1], q[1]], "-", color=c, lw=0.8)
                continue
            t = np.asarray(r.truth[i], np.float64)
            if np.all(np.isfinite(t)):
                ax.scatter(t[0] + x0, t[1], s=55, facecolors="none", edgecolors=c, marker="s", linewidths=1.6,
                           zorder=3)
                hit = r.threshold is not None and np.linalg.norm(q - t) < r.threshold
                ax.plot([q[0] + x0, t[0] + x0], [q[1], t[1]], "-", color=HIT if hit else MISS, lw=1.6, zorder=2)
        ax.set_title(r.title or f"{names[0]} (left) -> {names[1]} (right)", fontsize=10)
        ax.set_axis_off()
    grey: dict[str, Any] = dict(color="grey", markeredgecolor="black", linestyle="", markersize=8)
    handles = [Line2D([], [], marker="o", label=f"source keypoint ({names[0]})", **grey),
               Line2D([], [], marker="X", label=f"predicted ({names[1]})", **grey)]
    if with_truth:
        handles += [Line2D([], [], marker="s", markerfacecolor="none", markeredgecolor="grey", linestyle="",
                           markersize=8, markeredgewidth=1.6, label=f"ground truth ({names[1]})"),
                    Line2D([], [], color=HIT, lw=2, label=f"within {threshold_name}"),
                    Line2D([], [], color=MISS, lw=2, label="miss")]
    else:
        handles.append(Line2D([], [], color="grey", lw=1, label="source -> predicted"))
    handles += [Line2D([], [], marker="o", color=cmap(i % cmap.N), linestyle="", markersize=7,
                       label=f"keypoint {i}") for i in range(min(k, 20))]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=9, frameon=False)
    fig.suptitle(textwrap.fill(title, 100), fontsize=11)
    return fig
