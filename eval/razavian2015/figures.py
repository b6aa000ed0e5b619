"""Figures of the Razavian et al. experiments (matplotlib through `convcorr_eval.report`)."""

from __future__ import annotations

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


def save_image(path, image: np.ndarray, scale: float = 2.0) -> None:
    """A uint8 image [H, W, 3] as a figure at `scale` screen pixels per image pixel (no axes)."""
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w * scale / 100, h * scale / 100))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    save_figure(fig, path)


def plot_points(path, images, point_sets, colors=("lime", "red", "cyan"), boxes=None, titles=None) -> None:
    """A row of images with point sets [N, K, 2] overlaid (one colour per set) and optional boxes
    (dict name -> [N, 4] (x_min, y_min, x_max, y_max), inclusive pixel centres)."""
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(images[i])
        for pts, c in zip(point_sets, colors):
            ax.scatter(pts[i, :, 0], pts[i, :, 1], s=4, c=c)
        for bx in (boxes or {}).values():
            x0, y0, x1, y1 = bx[i]
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, ec="yellow",
                                       lw=0.8))
        ax.axis("off")
        if titles:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_curves(path, x, curves: dict, xlabel: str, ylabel: str, title: str = "") -> None:
    """Line plot of named curves over x."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, y in curves.items():
        ax.plot(x, y, label=name, lw=2 if name == "mean" else 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)


def segmentation_figure(path, images, labels, scores, pred) -> None:
    """Per image: the image, ground truth, arg-max and each class's score map (one shared intensity scale)."""
    n, H, W = labels.shape
    C = scores.shape[-1]
    palette = (np.array([[0, 0, 0]] + [[(37 * i) % 256, (91 * i) % 256, (157 * i) % 256] for i in range(1, 256)])
               ).astype(np.uint8)
    s = scores[:n]
    lo, hi = float(np.percentile(s, 1)), float(np.percentile(s, 99))
    rows = []
    for i in range(n):
        maps = [to_uint8((s[i, ..., c] - lo) / max(hi - lo, 1e-6)) for c in range(C)]
        rows.append([images[i] if images[i].shape[:2] == (H, W) else np.zeros((H, W, 3), np.uint8),
                     palette[labels[i]], palette[pred[i]]] + maps)
    save_image(path, image_grid(rows), scale=1.0)
