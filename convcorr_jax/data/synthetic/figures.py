"""`convcorr data figures [objects] [people] [faces] --out DIR`: PNG grids of synthetic samples with keypoints.

Visible keypoints are filled dots, invisible ones hollow; people get their MPII skeleton (right limbs red, left
blue) and head box, objects their box and, in a second grid, the segmentation map.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convcorr_jax.data.synthetic.datasets import DEFAULT_SIZE, KINDS, render_sample

_MPII_EDGES = (
    (0, 1),
    (1, 2),
    (2, 6),
    (3, 6),
    (3, 4),
    (4, 5),
    (6, 7),
    (7, 8),
    (8, 9),
    (10, 11),
    (11, 12),
    (12, 7),
    (13, 7),
    (13, 14),
    (14, 15),
)
_RIGHT = {0, 1, 2, 10, 11, 12}
_FACE_GROUPS = ((0, 17), (17, 22), (22, 27), (27, 31), (31, 36), (36, 42), (42, 48), (48, 60), (60, 68))


def add_figure_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kinds", nargs="*", default=None, help=f"which sets among {KINDS} (default: all)")
    p.add_argument("--out", required=True, help="folder for <kind>.png (and objects_masks.png)")
    p.add_argument("--n", type=int, default=12, help="samples per grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--cols", type=int, default=6)


def _draw_points(ax, s, cmap="tab20"):
    import matplotlib.pyplot as plt

    k = len(s.names)
    colours = plt.get_cmap(cmap)(np.arange(k) % 20)
    ok = np.all(np.isfinite(s.points), axis=1)
    for i in np.nonzero(ok)[0]:
        x, y = s.points[i]
        if s.visible[i]:
            ax.plot(x, y, "o", ms=3.5, mfc=colours[i], mec="k", mew=0.5)
        else:
            ax.plot(x, y, "o", ms=3.5, mfc="none", mec=colours[i], mew=1.0)


def grid(kind: str, n: int = 12, seed: int = 0, image_size: int | None = None, cols: int = 6, out=None, masks_out=None):
    """Draw n samples of `kind`; save to `out` (PNG). Objects also write their label maps to `masks_out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.35 * rows), squeeze=False)
    labels = []
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        r = render_sample(kind, i, seed, image_size)
        s, lab = r if kind == "objects" else (r, None)
        labels.append(lab)
        ax.imshow(s.image, interpolation="nearest")
        if kind == "people":
            p = s.points
            for a, b in _MPII_EDGES:
                ax.plot(p[[a, b], 0], p[[a, b], 1], "-", lw=1.2, color="r" if (a in _RIGHT or b in _RIGHT) else "b")
            hb = s.extras["head_box"]
            ax.add_patch(Rectangle(hb[:2], hb[2] - hb[0], hb[3] - hb[1], fill=False, ec="y", lw=0.8))
            ax.set_title(f"{s.id} {s.extras['split']}", fontsize=6)
        elif kind == "faces":
            p = s.points
            for a, b in _FACE_GROUPS:
                ax.plot(p[a:b, 0], p[a:b, 1], "-", lw=0.6, color="c")
            at = s.extras["attributes"]
            ax.set_title(f"yaw {np.degrees(at['yaw']):.0f} smile {at['smile']:.1f} gl {at['glasses']:.0f}", fontsize=6)
        else:
            b = s.bbox
            ax.add_patch(Rectangle(b[:2] - 0.5, b[2] - b[0] + 1, b[3] - b[1] + 1, fill=False, ec="y", lw=0.8))
            ax.set_title(f"{s.category} ({int(s.visible.sum())}/{len(s.names)} visible)", fontsize=6)
        _draw_points(ax, s)
        ax.set_xlim(-0.5, s.image.shape[1] - 0.5)
        ax.set_ylim(s.image.shape[0] - 0.5, -0.5)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out, dpi=110)
    plt.close(fig)
    if kind == "objects" and masks_out is not None:
        from convcorr_jax.data.voc_segmentation import voc_palette

        pal = voc_palette(256)
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if i < len(labels):
                ax.imshow(pal[labels[i]], interpolation="nearest")
        fig.tight_layout()
        fig.savefig(masks_out, dpi=110)
        plt.close(fig)


def run_figures(args: argparse.Namespace) -> int:
    from convcorr_jax.errors import InputError

    bad = [k for k in args.kinds or () if k not in KINDS]
    if bad:
        raise InputError("convcorr data figures", "kinds", f"names among {KINDS}", bad)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in args.kinds or KINDS:
        size = args.image_size or DEFAULT_SIZE[kind]
        path = out / f"{kind}.png"
        masks = out / "objects_masks.png" if kind == "objects" else None
        grid(kind, args.n, args.seed, size, args.cols, path, masks)
        written += [path] + ([masks] if masks else [])
    print(f"figures: wrote {len(written)} PNG file(s) to {out}: " + ", ".join(p.name for p in written))
    return 0


add_arguments = add_figure_arguments
run = run_figures
