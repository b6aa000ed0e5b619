"""Drawing helpers shared by the synthetic generators: a supersampled canvas, shapes, 2.5-D projection.

Geometry is computed in final-image pixel coordinates (x, y), 0-based, pixel centres at integers; the canvas
draws at `ss` times that resolution and box-filters down, so edges are anti-aliased and thin details survive.
Every painted shape gets a draw-order number, which decides keypoint visibility (a keypoint is hidden when
something painted after all of its owning parts covers its pixel).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from convcorr_jax.data.synthetic import textures


def sample_rng(seed: int, kind: int, index: int) -> np.random.Generator:
    """The generator of one sample: a function of (seed, dataset kind, index) only.

    Args:
        seed: the dataset's seed; kind: the dataset kind's number; index: the sample's index.

    Returns:
        A `np.random.Generator` seeded with [seed, kind, index].
    """
    return np.random.default_rng([int(seed), int(kind), int(index)])


def is_test(seed: int, index: int) -> bool:
    """Deterministic ~25% test split from (seed, index).

    Args:
        seed: the dataset's seed; index: the sample's index.

    Returns:
        True for a test sample (probability 0.25, the same for every call with these arguments).
    """
    return bool(np.random.default_rng([int(seed), 97, int(index)]).random() < 0.25)


# ----------------------------------------------------------------------------------------------- shapes


def ellipse(center: npt.ArrayLike, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> np.ndarray:
    """Polygon [n, 2] approximating an ellipse with radii (rx, ry), rotated by `angle` radians.

    Args:
        center: (x, y) pixels.
        rx, ry: radii along the ellipse's own axes, pixels.
        angle: rotation in radians (`_rotate`).
        n: the number of vertices.

    Returns:
        float64 [n, 2] (x, y) vertices.
    """
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], -1)
    return _rotate(pts, angle) + np.asarray(center, np.float64)


def capsule(p0: npt.ArrayLike, p1: npt.ArrayLike, r0: float, r1: float, n: int = 8) -> np.ndarray:
    """Polygon of a tapered limb from p0 (radius r0) to p1 (radius r1) with round ends.

    Args:
        p0, p1: (x, y) ends of the limb's axis, pixels.
        r0, r1: the radius at each end, pixels.
        n: vertices per round end.

    Returns:
        float64 [2 n, 2] (x, y) vertices: p1's half-circle, then p0's.
    """
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    d = p1 - p0
    a = np.arctan2(d[1], d[0])
    t0 = np.linspace(np.pi / 2, 3 * np.pi / 2, n)
    t1 = np.linspace(-np.pi / 2, np.pi / 2, n)
    end0 = p0 + r0 * np.stack([np.cos(t0 + a), np.sin(t0 + a)], -1)
    end1 = p1 + r1 * np.stack([np.cos(t1 + a), np.sin(t1 + a)], -1)
    return np.concatenate([end1, end0], 0)


def _rotate(pts: np.ndarray, angle: float) -> np.ndarray:
    """Points [N, 2] rotated by `angle` radians about the origin.

    Args:
        pts: [N, 2] (x, y) points.
        angle: radians, from +x towards +y.

    Returns:
        float64 [N, 2] rotated points.
    """
    c, s = np.cos(angle), np.sin(angle)
    return np.asarray(pts, np.float64) @ np.array([[c, s], [-s, c]])


def random_blob(rng: np.random.Generator, center: npt.ArrayLike, radius: float, n: int = 10,
                irregular: float = 0.35) -> np.ndarray:
    """An irregular star-convex polygon (clutter and occluders).

    Args:
        rng: the sample's Generator.
        center: (x, y) pixels.
        radius: mean vertex distance from the centre, pixels.
        n: the number of vertices.
        irregular: each vertex's radius varies uniformly by +- this fraction.

    Returns:
        float64 [n, 2] (x, y) vertices in angular order.
    """
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius * (1 + irregular * rng.uniform(-1, 1, n))
    return np.stack([r * np.cos(t), r * np.sin(t)], -1) + np.asarray(center, np.float64)


# ----------------------------------------------------------------------------------------------- projection


def yaw_project(p3: np.ndarray, yaw: float, elev: float) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic view of object points p3[..., 3] = (x forward, y up, z toward the object's right).

    The object turns by `yaw` about its vertical axis and the camera looks down by `elev` (radians).

    Args:
        p3: [..., 3] object-frame points.
        yaw, elev: radians.

    Returns:
        (uv, depth): uv [..., 2] with v pointing down (object units, before any `Similarity`), depth [...] larger =
        nearer the camera.
    """
    x, y, z = p3[..., 0], p3[..., 1], p3[..., 2]
    xr = x * np.cos(yaw) - z * np.sin(yaw)
    zr = x * np.sin(yaw) + z * np.cos(yaw)
    u = xr
    v = -y * np.cos(elev) + zr * np.sin(elev)
    depth = zr * np.cos(elev) + y * np.sin(elev)
    return np.stack([u, v], -1), depth


class Similarity:
    """2-D map object-plane -> image: p' = scale * R(angle) * diag(1, aspect) * p + t."""

    def __init__(self, scale: float, angle: float, t, aspect: float = 1.0):
        c, s = np.cos(angle), np.sin(angle)
        self.m = scale * np.array([[c, -s], [s, c]]) @ np.diag([1.0, aspect])
        self.t = np.asarray(t, np.float64)
        self.scale = scale * np.sqrt(abs(aspect))

    def __call__(self, pts) -> np.ndarray:
        """Object-plane points [N, 2] mapped to image pixels [N, 2] float64."""
        return np.asarray(pts, np.float64) @ self.m.T + self.t


# ----------------------------------------------------------------------------------------------- canvas


class Canvas:
    """RGB float canvas at `ss` x resolution, plus per-pixel draw order and class label."""

    def __init__(self, size: int, ss: int = 2):
        self.size, self.ss = int(size), int(ss)
        n = self.size * self.ss
        self.rgb = np.zeros((n, n, 3), np.float32)
        self.order = np.zeros((n, n), np.int32)
        self.label = np.zeros((n, n), np.uint8)
        self.count = 0
        # pixel-centre coordinates of the supersampled grid, in final-image units
        g = (np.arange(n, dtype=np.float32) - (self.ss - 1) / 2) / self.ss
        self._grid = g

    def background(self, tex: "textures.Texture") -> None:
        """Fill the whole canvas; evaluated at final resolution (the ground needs no supersampling)."""
        g = np.arange(self.size, dtype=np.float32)
        img = tex.render(g[None, :], g[:, None]).astype(np.float32)
        self.rgb[:] = np.repeat(np.repeat(img, self.ss, 0), self.ss, 1)

    def _mask(self, polys: list[np.ndarray]) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        n = self.size * self.ss
        allp = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in polys], 0)
        s = allp * self.ss + (self.ss - 1) / 2
        x0, y0 = np.floor(s.min(0)).astype(int) - 1
        x1, y1 = np.ceil(s.max(0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, n), min(y1, n)
        if x1 <= x0 or y1 <= y0:
            return None
        im = Image.new("L", (x1 - x0, y1 - y0), 0)
        d = ImageDraw.Draw(im)
        for p in polys:
            q = np.asarray(p, np.float64).reshape(-1, 2) * self.ss + (self.ss - 1) / 2 - [x0, y0]
            if len(q) >= 3:
                d.polygon([tuple(v) for v in q], fill=255)
        m = np.asarray(im) > 127
        if not m.any():
            return None
        return (x0, y0, x1, y1), m

    def paint(
        self, polys, tex: "textures.Texture", label: int | None = None, lines=None, line_width: float = 1.0
    ) -> int:
        """Fill polygon(s) (final-image coordinates) with a texture; returns this shape's draw-order number.

        `lines`: optional list of polylines drawn instead of/in addition to polygons, `line_width` in final px.
        """
        if isinstance(polys, np.ndarray):
            polys = [polys]
        polys = list(polys or [])
        self.count += 1
        if lines:
            res = self._line_mask(polys, lines, line_width)
        else:
            res = self._mask(polys)
        if res is None:
            return self.count
        (x0, y0, x1, y1), m = res
        ys, xs = np.nonzero(m)  # evaluate the texture at the covered pixels only
        col = tex.render(self._grid[x0 + xs], self._grid[y0 + ys])
        self.rgb[y0:y1, x0:x1][ys, xs] = col
        self.order[y0:y1, x0:x1][m] = self.count
        if label is not None:
            self.label[y0:y1, x0:x1][m] = label
        return self.count

    def _line_mask(self, polys, lines, width):
        n = self.size * self.ss
        allp = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in list(polys) + list(lines)], 0)
        s = allp * self.ss + (self.ss - 1) / 2
        pad = int(np.ceil(width * self.ss)) + 2
        x0, y0 = np.floor(s.min(0)).astype(int) - pad
        x1, y1 = np.ceil(s.max(0)).astype(int) + pad
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, n), min(y1, n)
        if x1 <= x0 or y1 <= y0:
            return None
        im = Image.new("L", (x1 - x0, y1 - y0), 0)
        d = ImageDraw.Draw(im)
        w = max(1, int(round(width * self.ss)))
        for p in polys:
            q = np.asarray(p) * self.ss + (self.ss - 1) / 2 - [x0, y0]
            d.polygon([tuple(v) for v in q], fill=255)
        for ln in lines:
            q = np.asarray(ln) * self.ss + (self.ss - 1) / 2 - [x0, y0]
            d.line([tuple(v) for v in q], fill=255, width=w, joint="curve")
        m = np.asarray(im) > 127
        if not m.any():
            return None
        return (x0, y0, x1, y1), m

    def visible(self, points: np.ndarray, owner_orders: list[list[int]]) -> np.ndarray:
        """visible[K]: inside the image and not covered by anything painted after all its owner shapes."""
        pts = np.asarray(points, np.float64)
        inside = np.all((pts > -0.5) & (pts < self.size - 0.5), axis=1) & np.all(np.isfinite(pts), axis=1)
        out = np.zeros(len(pts), bool)
        for k in np.nonzero(inside)[0]:
            sx, sy = np.clip(np.round(pts[k] * self.ss + (self.ss - 1) / 2).astype(int), 0, self.size * self.ss - 1)
            out[k] = self.order[sy, sx] <= max(owner_orders[k])
        return out

    def image(self) -> np.ndarray:
        """uint8 [size, size, 3], box-filtered."""
        s = self.ss
        total = np.asarray(sum(self.rgb[i::s, j::s] for i in range(s) for j in range(s)), np.float32)
        img = total * np.float32(1.0 / (s * s))
        return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)

    def label_map(self) -> np.ndarray:
        """uint8 [size, size] class per final pixel (the supersample nearest the pixel centre)."""
        s = self.ss
        return self.label[s // 2 :: s, s // 2 :: s].copy()


def _dilate(m: np.ndarray, width: int) -> np.ndarray:
    """Binary dilation with a (2w+1)^2 square, by shifted ORs."""
    out = m.copy()
    for _ in range(width):
        g = out.copy()
        g[1:] |= out[:-1]
        g[:-1] |= out[1:]
        h = g.copy()
        h[:, 1:] |= g[:, :-1]
        h[:, :-1] |= g[:, 1:]
        out = h
    return out


def void_border(label: np.ndarray, width: int = 1) -> np.ndarray:
    """VOC-style void band: background pixels within `width` of an object, and pixels where two classes meet,
    become 255.

    Args:
        label: uint8 [H, W] class map (0 background).
        width: the band's width in pixels (a (2 width + 1)^2 square neighbourhood).

    Returns:
        uint8 [H, W]: a copy of `label` with the band set to 255.
    """
    out = label.copy()
    obj = label != 0
    out[_dilate(obj, width) & ~obj] = 255
    for c in np.unique(label[obj]):
        m = label == c
        other = obj & ~m
        out[_dilate(other, width) & m] = 255
    return out
