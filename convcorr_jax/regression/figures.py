"""PNG figures of the ridge experiments (written atomically)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from convcorr_jax.io import atomic_path


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write uint8 [H, W, 3] (or [H, W]) as PNG."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, np.uint8)).save(tmp, format="PNG")


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile rows of equal-size uint8 images [h, w, 3] into one image, `pad` white pixels apart, upscaled by `scale`."""
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, im in enumerate(r):
            im = np.asarray(im)
            if im.ndim == 2:
                im = np.repeat(im[..., None], 3, -1)
            out[pad + i * (h + pad): pad + i * (h + pad) + h, pad + j * (w + pad): pad + j * (w + pad) + w] = im
    return np.kron(out, np.ones((scale, scale, 1), np.uint8)) if scale > 1 else out


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 (clipped)."""
    return np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)


def plot_points(path, images, point_sets, colors=("lime", "red", "cyan"), boxes=None, titles=None) -> None:
    """A row of images with point sets [N, K, 2] overlaid (one colour per set) and optional square boxes
    (dict name -> [N, 3] (cx, cy, side))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(images[i])
        for pts, c in zip(point_sets, colors):
            ax.scatter(pts[i, :, 0], pts[i, :, 1], s=4, c=c)
        for bx in (boxes or {}).values():
            cx, cy, s = bx[i]
            ax.add_patch(plt.Rectangle((cx - s / 2, cy - s / 2), s, s, fill=False, ec="yellow", lw=0.8))
        ax.axis("off")
        if titles:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def plot_curves(path, x, curves: dict, xlabel: str, ylabel: str, title: str = "") -> None:
    """Line plot of named curves over x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, y in curves.items():
        ax.plot(x, y, label=name, lw=2 if name == "mean" else 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
