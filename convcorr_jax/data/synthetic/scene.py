"""Parts, layouts and the scene painter shared by the object, people and face generators.

A template builds a `Layout` in a view plane (u, v) after a 2.5-D projection: parts are polygons with a depth
(larger = nearer, painted later) and a texture key; keypoints are points with the parts that own them. The
painter maps the layout into the image with a similarity, paints clutter, the parts in depth order and
occluders, and reads keypoint visibility off the draw-order buffer.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from convcorr_jax.data.synthetic import render, textures as tx


@dataclasses.dataclass
class Part:
    """One drawn part of an instance: its view-plane polygon, depth, texture key, shade, texture axis and lines."""
    name: str
    poly: np.ndarray  # [n, 2] view-plane polygon
    depth: float
    tex: str  # texture key of the instance's palette
    shade: float = 1.0  # colour factor (far-side parts are darker)
    axis: float = 0.0  # orientation of the part (radians) the texture follows
    lines: list | None = None  # polylines (thin parts) drawn with `width`
    width: float = 0.0  # line width in view-plane units


class Layout:
    """Parts and keypoints of one instance in the view plane of `render.yaw_project`."""

    def __init__(self, yaw: float = 0.0, elev: float = 0.0):
        self.yaw, self.elev = float(yaw), float(elev)
        self.parts: list[Part] = []
        self.kps: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.hidden: set[str] = set()  # parts culled (facing away): their keypoints are invisible

    # -- projection
    def proj(self, p3) -> tuple[np.ndarray, np.ndarray]:
        """(view-plane points [N, 2], depths [N]) of object points p3 [N, 3] under the layout's yaw and elevation."""
        return render.yaw_project(np.asarray(p3, np.float64), self.yaw, self.elev)

    def facing(self, normal) -> bool:
        """Whether a surface with object-space `normal` faces the viewer."""
        return bool(self.proj(np.asarray(normal, np.float64))[1] > 1e-6)

    # -- parts
    def add(self, part: Part) -> Part:
        """Append `part` to the layout; returns it."""
        self.parts.append(part)
        return part

    def limb(self, name, a3, b3, ra, rb, tex, bias=0.0, shade=1.0) -> Part:
        """A limb from a3 to b3 (object space) tapering from radius ra to rb; added and returned."""
        uv, d = self.proj(np.stack([a3, b3]))
        axis = float(np.arctan2(*(uv[1] - uv[0])[::-1]))
        return self.add(Part(name, render.capsule(uv[0], uv[1], ra, rb), float(d.mean()) + bias, tex, shade, axis))

    def oval(self, name, a3, b3, r, tex, bias=0.0, shade=1.0, extra=0.0) -> Part:
        """An oval part between a3 and b3 of half-width r; added and returned."""
        uv, d = self.proj(np.stack([a3, b3]))
        c = uv.mean(0)
        dd = uv[1] - uv[0]
        axis = float(np.arctan2(dd[1], dd[0]))
        rx = max(np.linalg.norm(dd) / 2 + extra, 1e-3)
        return self.add(Part(name, render.ellipse(c, rx, r, axis), float(d.mean()) + bias, tex, shade, axis))

    def disc(self, name, c3, r, tex, bias=0.0, shade=1.0) -> Part:
        """A disc of radius r centred at c3; added and returned."""
        uv, d = self.proj(np.asarray(c3, np.float64))
        return self.add(Part(name, render.ellipse(uv, r, r, 0.0, n=16), float(d) + bias, tex, shade))

    def poly3(self, name, pts3, tex, normal=None, depth=None, bias=0.0, shade=1.0, axis=0.0) -> Part | None:
        """A planar 3-D polygon; with `normal`, culled (not painted) when it faces away from the camera."""
        if normal is not None and not self.facing(normal):
            self.hidden.add(name)
            return None
        uv, d = self.proj(np.asarray(pts3, np.float64))
        return self.add(Part(name, uv, float(d.mean() if depth is None else depth) + bias, tex, shade, axis))

    def decal(self, name, host: Part | None, poly_uv, tex, normal=None, bias=1e-3, shade=1.0) -> Part | None:
        """A flat detail painted right after its host part, only when `normal` faces the camera."""
        if host is None or (normal is not None and not self.facing(normal)):
            self.hidden.add(name)
            return None
        return self.add(Part(name, np.asarray(poly_uv, np.float64), host.depth + bias, tex, shade, host.axis))

    def kp(self, name, p3, owners) -> None:
        """Keypoint `name` at object point p3, visible when one of the parts `owners` is."""
        uv, _ = self.proj(np.asarray(p3, np.float64))
        self.kps[name] = (uv, list(owners))

    def kp_uv(self, name, uv, owners) -> None:
        """Keypoint `name` at view-plane point uv, visible when one of the parts `owners` is."""
        self.kps[name] = (np.asarray(uv, np.float64), list(owners))

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) view-plane corners [2] of every part's polygon."""
        allp = np.concatenate([p.poly for p in self.parts], 0)
        return allp.min(0), allp.max(0)


def direction(a: float) -> np.ndarray:
    """The unit 2D vector at angle a (radians).

    Args:
        a: the angle in radians, from +x towards +y.

    Returns:
        float64 [2] (cos a, sin a).
    """
    return np.array([np.cos(a), np.sin(a)])


def point3(xy: Sequence[float] | np.ndarray, z: float = 0.0) -> np.ndarray:
    """The 3D object-frame point (x, y, z) of a 2D side-view point xy at depth z.

    Args:
        xy: (x forward, y up) in the side view, object units.
        z: depth toward the object's right.

    Returns:
        float64 [3] (x, y, z).
    """
    return np.array([xy[0], xy[1], z], np.float64)


def side_yaw(rng: np.random.Generator, spread: float = 0.9) -> float:
    """Mostly side views of either side (yaw near 0 or pi), sometimes oblique.

    Args:
        rng: the sample's Generator.
        spread: the yaw's uniform spread (+- radians) around 0 or pi.

    Returns:
        The yaw in radians (float), in [-spread, spread] or pi + that, each side with probability 1/2.
    """
    return float(rng.uniform(-spread, spread) + (np.pi if rng.random() < 0.5 else 0.0))


def place(rng: np.random.Generator, layout: Layout, size: int, frac: tuple[float, float] = (0.45, 0.85),
          rot: float = 0.35, aspect: float = 0.12, shift: float = 0.22) -> render.Similarity:
    """A random similarity putting the layout's extent at `frac` of the image size around the centre.

    Args:
        rng: the sample's Generator.
        layout: the instance (its `extent()` is scaled).
        size: the image side, pixels.
        frac: (lo, hi) range of the extent's longer side over `size`.
        rot: in-plane rotation range (+- radians).
        aspect: log range (+-) of the y/x aspect stretch.
        shift: centre shift range per axis (+- fraction of `size`).

    Returns:
        A `render.Similarity`: view plane -> image pixels.
    """
    lo, hi = layout.extent()
    ext = float(max(hi - lo))
    scale = rng.uniform(*frac) * size / ext
    angle = rng.uniform(-rot, rot)
    asp = np.exp(rng.uniform(-aspect, aspect))
    centre = (lo + hi) / 2
    m = render.Similarity(scale, angle, (0, 0), asp)
    t = np.array([size / 2, size / 2]) + rng.uniform(-shift, shift, 2) * size - m(centre[None])[0]
    return render.Similarity(scale, angle, t, asp)


def clutter(canvas: render.Canvas, rng: np.random.Generator, n: int, size: int, max_r: float = 0.25) -> None:
    """Background: a textured ground plus `n` random textured shapes (blobs, ellipses, bars).

    Args:
        canvas: the canvas to paint on.
        rng: the sample's Generator.
        n: the number of shapes.
        size: the image side, pixels.
        max_r: largest shape radius, a fraction of `size`.

    Returns:
        None; paints the canvas (label 0).
    """
    canvas.background(
        tx.random_texture(
            rng, kinds=("noise", "gradient", "stripes", "solid", "noise"), period=(3.0, 20.0), contrast=(0.2, 0.7)
        )
    )
    for _ in range(n):
        c = rng.uniform(-0.1, 1.1, 2) * size
        r = rng.uniform(0.03, max_r) * size
        kind = rng.integers(3)
        if kind == 0:
            poly = render.random_blob(rng, c, r)
        elif kind == 1:
            poly = render.ellipse(c, r, r * rng.uniform(0.3, 1), rng.uniform(0, np.pi))
        else:
            poly = render.capsule(c, c + rng.normal(0, r, 2), r * 0.15, r * 0.15 * rng.uniform(0.5, 2))
        canvas.paint(poly, tx.random_texture(rng, origin=c, contrast=(0.2, 0.8)), label=0)


def occluders(canvas: render.Canvas, rng: np.random.Generator, n: int, box: Sequence[float] | np.ndarray,
              size: int) -> None:
    """`n` shapes painted over the object's box (label 0: they are not the object).

    Args:
        canvas: the `render.Canvas` to paint on.
        rng: the sample's Generator.
        n: the number of shapes.
        box: (x0, y0, x1, y1) the object's box, image pixels.
        size: the image side, pixels (unused by the drawing).

    Returns:
        None; paints the canvas.
    """
    x0, y0, x1, y1 = box
    for _ in range(n):
        side = rng.integers(4)
        c = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        if side == 0:
            c[0] = x0 + rng.uniform(-0.1, 0.25) * (x1 - x0)
        elif side == 1:
            c[0] = x1 - rng.uniform(-0.1, 0.25) * (x1 - x0)
        elif side == 2:
            c[1] = y1 - rng.uniform(-0.1, 0.25) * (y1 - y0)
        r = rng.uniform(0.08, 0.22) * max(x1 - x0, y1 - y0, 8)
        if rng.random() < 0.5:
            poly = render.random_blob(rng, c, r)
        else:
            d = rng.normal(0, 1, 2)
            d = d / np.linalg.norm(d) * r * 2.5
            poly = render.capsule(c - d / 2, c + d / 2, r * 0.3, r * 0.3)
        canvas.paint(poly, tx.random_texture(rng, origin=c), label=0)


def paint_layout(
    canvas: render.Canvas, layout: Layout, sim: render.Similarity, palette: dict[str, tx.Texture], label: int | None
) -> dict[str, int]:
    """Paint parts in depth order; returns part name -> draw-order number (hidden parts -> -1).

    Args:
        canvas: the canvas to paint on.
        layout: the instance's parts.
        sim: view plane -> image pixels.
        palette: texture key -> `Texture` (shaded per part, anchored at the part and turned with it).
        label: the class written to the label map (None: leave it).

    Returns:
        dict part name -> draw-order number (-1 for parts culled as facing away).
    """
    orders = {name: -1 for name in layout.hidden}
    rot = float(np.arctan2(sim.m[1, 0], sim.m[0, 0]))
    for part in sorted(layout.parts, key=lambda p: p.depth):
        base = palette[part.tex]
        poly = sim(part.poly)
        centre = poly.mean(0)
        tex = dataclasses.replace(
            base,
            c1=tx.shade(base.c1, part.shade),
            c2=tx.shade(base.c2, part.shade),
            origin=(float(centre[0]), float(centre[1])),
            angle=base.angle + part.axis + rot,
        )
        if part.lines:
            lines = [sim(ln) for ln in part.lines]
            o = canvas.paint(
                [poly] if len(poly) >= 3 else [], tex, label=label, lines=lines, line_width=part.width * sim.scale
            )
        else:
            o = canvas.paint(poly, tex, label=label)
        orders[part.name] = o
    return orders


def keypoints(layout: Layout, sim: Callable[[np.ndarray], np.ndarray], names: Sequence[str],
              orders: Mapping[str, int]) -> tuple[np.ndarray, list[list[int]]]:
    """(image points [K, 2] of the keypoints `names` under the map `sim`, their owners' draw orders per keypoint).

    Args:
        layout: the instance (its `kps`).
        sim: view plane -> image pixels.
        names: the K keypoint names, in order.
        orders: part name -> draw-order number (`paint_layout`).

    Returns:
        (points, owners): float64 [K, 2] (x, y) image pixels, and per keypoint the list of its owner parts' draw
        orders (-1 for parts not painted), for `render.Canvas.visible`.
    """
    pts = np.stack([sim(layout.kps[n][0][None])[0] for n in names])
    owners = [[orders.get(o, -1) for o in layout.kps[n][1]] for n in names]
    return pts, owners


def int_box(polys: Iterable[npt.ArrayLike], size: int) -> np.ndarray:
    """Integer 0-based inclusive box around polygons, clipped to the image.

    Args:
        polys: polygons [n_i, 2] (x, y) image pixels.
        size: the image side, pixels.

    Returns:
        float32 [4] (x0, y0, x1, y1) with integer values: the extreme coordinates rounded, clipped to 0..size-1.
    """
    allp = np.concatenate([np.asarray(p).reshape(-1, 2) for p in polys], 0)
    lo = np.clip(np.floor(allp.min(0) + 0.5), 0, size - 1)
    hi = np.clip(np.floor(allp.max(0) + 0.5), 0, size - 1)
    return np.array([lo[0], lo[1], hi[0], hi[1]], np.float32)
