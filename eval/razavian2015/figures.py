"""Figures of the Razavian et al. experiments (matplotlib through `convcorr_eval.report`)."""

from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np

from convcorr_eval.report import plt, save_figure


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 (clipped)."""
    return np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2) -> np.ndarray:
    """Tile rows of equal-size uint8 images [h, w, 3] (or [h, w]) into one image, `pad` white pixels apart."""
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, im in enumerate(r):
            im = np.asarray(im)
            if im.ndim == 2:
                im = np.repeat(im[..., None], 3, -1)
            out[pad + i * (h + pad): pad + i * (h + pad) + h, pad + j * (w + pad): pad + j * (w + pad) + w] = im
    return out


def save_image(path, image: np.ndarray, scale: float = 2.0, title: str | None = None,
               col_titles: Sequence[str] | None = None, row_titles: Sequence[str] | None = None,
               pad: int = 2) -> None:
    """A uint8 image [H, W, 3] as a figure at `scale` screen pixels per image pixel (no axes). For an `image_grid`
    (with its `pad`): `col_titles` above its columns, `row_titles` left of its rows and a `title` above all."""
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w * scale / 100, h * scale / 100))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    cols, rows = col_titles or (), row_titles or ()
    for j, t in enumerate(cols):
        cw = (w - pad) / len(cols)
        ax.text(pad / 2 + (j + 0.5) * cw, -pad, t, ha="center", va="bottom", fontsize=9)
    for i, t in enumerate(rows):
        rh = (h - pad) / len(rows)
        ax.text(-pad * 2, pad / 2 + (i + 0.5) * rh, t, ha="right", va="center", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10, pad=18 if col_titles else 6)
    save_figure(fig, path)


POINT_LABELS = ("ground truth", "prediction", "refined prediction")


def plot_points(path, images, point_sets, colors=("lime", "red", "cyan"), boxes=None, titles=None,
                labels: Sequence[str] | None = None, title: str | None = None) -> None:
    """A row of images with point sets [N, K, 2] overlaid (one colour per set) and optional boxes
    (dict name -> [N, 4] (x_min, y_min, x_max, y_max), inclusive pixel centres). A legend names each point set
    (`labels`; default: ground truth, prediction, refined prediction) and the boxes; `titles` per panel."""
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(images)
    labels = list(labels) if labels is not None else list(POINT_LABELS[: len(point_sets)])
    labels += [f"points {i + 1}" for i in range(len(labels), len(point_sets))]
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.5 * max(cols, 2), 2.6 * rows + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:n]):
        ax.imshow(images[i])
        for pts, c in zip(point_sets, colors):
            ax.scatter(pts[i, :, 0], pts[i, :, 1], s=7, c=c, edgecolors="none")
        for bx in (boxes or {}).values():
            x0, y0, x1, y1 = bx[i]
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, ec="yellow",
                                       lw=0.8))
        ax.axis("off")
        if titles:
            ax.set_title(titles[i], fontsize=9)
    handles: list[Artist] = [Line2D([], [], linestyle="none", marker="o", markersize=6, color=c, label=lab)
                             for c, lab in zip(colors, labels)]
    if boxes:
        handles.append(Patch(fill=False, edgecolor="yellow",
                             label=textwrap.fill("boxes: " + ", ".join(map(str, boxes)), 48)))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=9, frameon=False)
    save_figure(fig, path)


def plot_curves(path, x, curves: dict, xlabel: str, ylabel: str, title: str = "") -> None:
    """Line plot of named curves over x, with a legend."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, y in curves.items():
        ax.plot(x, y, label=name, lw=2.2 if name == "mean" else 1.2, marker="o" if len(x) <= 12 else None, ms=3)
    ax.set_xlabel(xlabel, fontsize=9, wrap=True)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, ncol=2 if len(curves) > 4 else 1)
    fig.tight_layout()
    save_figure(fig, path)


def segmentation_figure(path, images, labels, scores, pred, class_names: Sequence[str] | None = None,
                        max_maps: int = 6) -> None:
    """Per image (a row): the image, its ground-truth labels, the arg-max prediction and the ridge score maps of the
    classes these images hold (background first, at most `max_maps`; one shared grey scale, shown by a colour bar);
    titled columns and a legend of the label colours."""
    from matplotlib.patches import Patch

    n, H, W = labels.shape
    C = scores.shape[-1]
    names = list(class_names) if class_names is not None else [f"class {c}" for c in range(C)]

    def name(c):
        return names[c] if c < len(names) else "void (255)" if c == 255 else f"class {c}"

    palette = (np.array([[0, 0, 0]] + [[(37 * i) % 256, (91 * i) % 256, (157 * i) % 256] for i in range(1, 256)])
               ).astype(np.uint8)
    s = np.asarray(scores[:n])
    pred = np.asarray(pred)
    lo, hi = float(np.percentile(s, 1)), float(np.percentile(s, 99))
    shown = [c for c in range(C) if c == 0 or np.any(labels[:n] == c)][:max_maps]
    ncol = 3 + len(shown)
    fig, axes = plt.subplots(n, ncol, figsize=(1.45 * ncol + 0.8, 1.5 * n + 1.0), squeeze=False, layout="constrained")
    heads = ["image", "ground truth", "prediction\n(arg-max)"] + [f"score:\n{name(c)}" for c in shown]
    im = None
    for i in range(n):
        img = images[i] if images[i].shape[:2] == (H, W) else np.zeros((H, W, 3), np.uint8)
        axes[i, 0].imshow(img)
        axes[i, 1].imshow(palette[labels[i]], interpolation="nearest")
        axes[i, 2].imshow(palette[pred[i]], interpolation="nearest")
        for j, c in enumerate(shown):
            im = axes[i, 3 + j].imshow(s[i, ..., c], cmap="gray", vmin=lo, vmax=max(hi, lo + 1e-6))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    for j in range(ncol):
        axes[0, j].set_title(heads[j], fontsize=9)
    present = sorted(set(np.unique(labels[:n]).tolist()) | set(np.unique(pred[:n]).tolist()))
    handles = [Patch(facecolor=palette[c] / 255.0, edgecolor="grey", label=name(c)) for c in present]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=9, frameon=False,
               title="label colours (ground truth and prediction)", title_fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes[:, 3:], shrink=0.8, pad=0.01).set_label("ridge score", fontsize=9)
    save_figure(fig, path)
