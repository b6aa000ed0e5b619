"""Validation pairs for dense flow: layered stereo scenes textured with real photographs, with exact ground truth.

    a, b, gt, nocc = layered_pair(rng, background, foreground, (h, w))

A scene is a background plane and 2-4 nearer layers (ellipses and rectangles), each textured with a real image and
carrying its own disparity (planar, larger = nearer, in px). The left view a shows the nearest layer at each pixel;
the right view b shows each layer shifted left by its disparity, nearest on top, with a small change of gain, bias
and noise. Ground truth flow a -> b is (-disparity, 0) of a's visible layer; a pixel is occluded where its match
falls off b or is hidden by a nearer layer in b. Disparities span the Middlebury motorcycle's at 256 px (2.5-21 px
at 256 px wide), scaled with the width.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from convcorr_jax.backbones.preprocess import resize


def _plane(rng, lo: float, hi: float, w: int) -> tuple[float, float, float]:
    """Disparity c + gx * x + gy * y (x, y px) within [lo, hi] over the image (gx, gy small slants)."""
    gx, gy = rng.uniform(-0.3, 0.3, 2) * (hi - lo) / w
    return rng.uniform(lo, hi), gx, gy


def _shape(rng, h: int, w: int):
    """A random ellipse or rectangle: a function of coordinates (x, y) -> bool."""
    kind = rng.choice(["ellipse", "rect"])
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    rx, ry = rng.uniform(0.08, 0.25) * w, rng.uniform(0.1, 0.35) * h
    if kind == "ellipse":
        t = rng.uniform(0, np.pi)
        c, s = np.cos(t), np.sin(t)
        return lambda x, y: (((x - cx) * c + (y - cy) * s) / rx) ** 2 + ((-(x - cx) * s + (y - cy) * c) / ry) ** 2 <= 1
    return lambda x, y: (np.abs(x - cx) <= rx) & (np.abs(y - cy) <= ry)


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of img [H, W, 3] at (x, y), mirrored beyond the edges -> float [..., 3]."""
    return np.stack([ndimage.map_coordinates(img[..., c].astype(np.float32), [y, x], order=1, mode="mirror")
                     for c in range(3)], -1)


def layered_pair(rng: np.random.Generator, background: np.ndarray, foreground: np.ndarray,
                 hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a uint8 [h, w, 3], b uint8 [h, w, 3], gt flow float32 [h, w, 2] (dx, dy) a -> b, non-occluded bool [h, w])
    of one random scene; textures from the uint8 RGB images `background` and `foreground` (any size)."""
    h, w = hw
    k = w / 256.0
    bg = resize(background, hw).astype(np.float32)
    fg = resize(foreground, hw).astype(np.float32)
    n = int(rng.integers(2, 5))
    planes = [_plane(rng, 2.5 * k, 8 * k, w)]
    lo = 9 * k
    for i in range(n):
        hi = lo + (21 * k - lo) / (n - i)
        planes.append(_plane(rng, lo, hi, w))
        lo = hi + 0.5 * k
    shapes = [None] + [_shape(rng, h, w) for _ in range(n)]
    shifts = [(0.0, 0.0)] + [tuple(rng.uniform(-0.3, 0.3, 2) * (w, h)) for _ in range(n)]
    tex = [bg] + [fg] * n
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)

    def disparity(i, x, y):
        c, gx, gy = planes[i]
        return c + gx * x + gy * y

    # left view: layer i's pixel (x, y) is its own texture at (x, y) (+ the layer's texture offset)
    top_a = np.zeros((h, w), np.int64)
    for i in range(1, n + 1):
        top_a[shapes[i](xx, yy)] = i
    # right view: q sees layer i at left coordinates x = (q + c + gy * y) / (1 - gx)
    top_b = np.zeros((h, w), np.int64)
    src_b = []
    for i in range(n + 1):
        c, gx, gy = planes[i]
        x = (xx + c + gy * yy) / (1 - gx)
        src_b.append(x)
        if i:
            top_b[shapes[i](x, yy)] = i
    a = np.zeros((h, w, 3), np.float32)
    b = np.zeros((h, w, 3), np.float32)
    for i in range(n + 1):
        ox, oy = shifts[i]
        m = top_a == i
        a[m] = _sample(tex[i], xx[m] + ox, yy[m] + oy)
        m = top_b == i
        b[m] = _sample(tex[i], src_b[i][m] + ox, yy[m] + oy)
    gain, bias = rng.uniform(0.9, 1.1), rng.uniform(-8, 8)
    b = b * gain + bias + rng.normal(0, 2.0, b.shape)
    d = np.zeros((h, w))
    for i in range(n + 1):
        m = top_a == i
        d[m] = disparity(i, xx[m], yy[m])
    qx = xx - d
    inside = (qx >= 0) & (qx <= w - 1)
    seen = top_b[yy.astype(np.int64), np.clip(np.rint(qx), 0, w - 1).astype(np.int64)] == top_a
    gt = np.stack([-d, np.zeros_like(d)], -1).astype(np.float32)
    to8 = lambda v: np.clip(np.rint(v), 0, 255).astype(np.uint8)
    return to8(a), to8(b), gt, inside & seen
