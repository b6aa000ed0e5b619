"""Procedural textures, evaluated at pixel coordinates in a part's own frame (they move with the part).

A `Texture` is a small frozen description (colours, pattern, period in pixels, orientation, anchor) sampled once
per part; `render(x, y)` evaluates it on broadcastable coordinate arrays (final-image pixels) -> float RGB [..., 3].
Periods go down to 2 px so that detail finer than a pooling stride exists in every image.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
from typing import Iterable, Sequence, cast

import numpy as np

_RGB = tuple[float, float, float]  # a colour, each channel in [0, 1]
KINDS = ("solid", "stripes", "checker", "dots", "noise", "gradient", "rings")


@dataclasses.dataclass(frozen=True)
class Texture:
    """A procedural texture: pattern kind, two colours, period (px), angle (rad), origin, grain and seed."""
    kind: str
    c1: tuple[float, float, float]
    c2: tuple[float, float, float]
    period: float = 4.0  # pixels
    angle: float = 0.0  # radians, pattern orientation in the image
    origin: tuple[float, float] = (0.0, 0.0)  # anchor in image pixels
    grain: float = 0.03  # amplitude of fine per-pixel grain
    seed: int = 0  # for noise patterns

    def render(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """RGB colours [..., 3] in [0, 1] of the texture at image pixels x, y."""
        x = np.asarray(x, np.float32) - self.origin[0]
        y = np.asarray(y, np.float32) - self.origin[1]
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = x * c + y * s
        v = -x * s + y * c
        u, v = np.broadcast_arrays(u, v)
        p = max(self.period, 1.0)
        t: np.ndarray
        if self.kind == "solid":
            t = np.zeros(u.shape, np.float32)
        elif self.kind == "stripes":
            t = 0.5 + 0.5 * np.sin(2 * np.pi * u / p)
            t = np.clip((t - 0.5) * 3 + 0.5, 0, 1)
        elif self.kind == "checker":
            t = ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
        elif self.kind == "dots":
            t = ((np.sin(np.pi * u / p) * np.sin(np.pi * v / p)) > 0.55).astype(np.float32)
        elif self.kind == "rings":
            r = np.sqrt(u * u + v * v)
            t = 0.5 + 0.5 * np.sin(2 * np.pi * r / p)
        elif self.kind == "gradient":
            t = np.clip(0.5 + u / (12 * p), 0, 1)
        elif self.kind == "noise":
            t = _value_noise(u, v, p, self.seed)
        else:
            raise ValueError(f"unknown texture kind {self.kind!r}")
        t = t.astype(np.float32)[..., None]
        c1, c2 = np.asarray(self.c1, np.float32), np.asarray(self.c2, np.float32)
        out = c1 + t * (c2 - c1)
        if self.grain > 0:
            h = _hash(np.floor(x * 2).astype(np.int32), np.floor(y * 2).astype(np.int32), self.seed)
            out = out + self.grain * (h[..., None] - np.float32(0.5))
        return np.clip(out, 0, 1)


@functools.lru_cache(maxsize=256)
def _tile(seed: int) -> np.ndarray:
    """A 64 x 64 table of uniform values for lattice look-ups (periodic, deterministic by seed)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, 11]).random((64, 64), dtype=np.float32)


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) per integer lattice point (period 64)."""
    return _tile(seed)[iy & 63, ix & 63]


def _value_noise(u: np.ndarray, v: np.ndarray, p: float, seed: int) -> np.ndarray:
    """Bilinear value noise with cell size p (two octaves)."""
    out = np.zeros(u.shape, np.float32)
    for octave, w in ((1.0, 0.65), (0.5, 0.35)):
        a, b = u / (p * octave * 2), v / (p * octave * 2)
        ia, ib = np.floor(a).astype(np.int32), np.floor(b).astype(np.int32)
        fa, fb = (a - ia).astype(np.float32), (b - ib).astype(np.float32)
        fa, fb = fa * fa * (3 - 2 * fa), fb * fb * (3 - 2 * fb)
        s = seed + int(octave * 7)
        n00, n10 = _hash(ia, ib, s), _hash(ia + 1, ib, s)
        n01, n11 = _hash(ia, ib + 1, s), _hash(ia + 1, ib + 1, s)
        out += w * ((n00 * (1 - fa) + n10 * fa) * (1 - fb) + (n01 * (1 - fa) + n11 * fa) * fb)
    return np.clip((out - 0.5) * 2.2 + 0.5, 0, 1)


def random_color(rng: np.random.Generator, hue: float | tuple[float, float] | None = None,
                 sat: tuple[float, float] = (0.2, 0.9),
                 val: tuple[float, float] = (0.2, 0.95)) -> tuple[float, float, float]:
    """An RGB colour in [0, 1]; `hue` may fix the hue (0..1) or give a (lo, hi) range.

    Args:
        rng: the sample's Generator.
        hue: None (uniform), a float in 0..1, or a (lo, hi) tuple (wrapped into 0..1).
        sat, val: (lo, hi) ranges of HSV saturation and value.

    Returns:
        (r, g, b) floats in [0, 1].
    """
    if hue is None:
        h = rng.uniform()
    elif isinstance(hue, tuple):
        h = rng.uniform(*hue) % 1.0
    else:
        h = float(hue)
    return colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))


def shade(c: Iterable[float], f: float) -> tuple[float, float, float]:
    """Colour c scaled by f, clipped to [0, 1].

    Args:
        c: (r, g, b) in [0, 1].
        f: the factor (< 1 darker, > 1 lighter).

    Returns:
        (r, g, b) floats in [0, 1].
    """
    r, g, b = (float(np.clip(x * f, 0, 1)) for x in c)
    return r, g, b


def random_texture(
    rng: np.random.Generator,
    c1: Sequence[float] | None = None,
    kinds: Sequence[str] = KINDS,
    period: tuple[float, float] = (2.0, 7.0),
    contrast: tuple[float, float] = (0.3, 0.9),
    origin: Sequence[float] | np.ndarray = (0.0, 0.0),
    angle: float | None = None,
) -> Texture:
    """A random pattern around base colour c1 (random when None); period in final-image pixels.

    Args:
        rng: the sample's Generator.
        c1: the base (r, g, b) in [0, 1], or None for a random one.
        kinds: the pattern kinds to draw from (`KINDS`).
        period: (lo, hi) range of the pattern period, final-image pixels.
        contrast: (lo, hi) range of how far the second colour moves from c1 towards a random colour.
        origin: the pattern's anchor (x, y) in image pixels.
        angle: orientation in radians (None: uniform in [0, pi)).

    Returns:
        A `Texture`.
    """
    c1 = random_color(rng) if c1 is None else cast(_RGB, tuple(c1))
    kind = str(rng.choice(kinds))
    k = rng.uniform(*contrast)
    other = np.asarray(random_color(rng))
    r, g, b = (float(x) for x in np.clip((1 - k) * np.asarray(c1) + k * other, 0, 1))
    c2 = (r, g, b)
    return Texture(
        kind,
        c1,
        c2,
        period=float(rng.uniform(*period)),
        angle=float(rng.uniform(0, np.pi) if angle is None else angle),
        origin=(float(origin[0]), float(origin[1])),
        grain=float(rng.uniform(0.01, 0.06)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def solid(c: Sequence[float], grain: float = 0.02, seed: int = 0) -> Texture:
    """A plain texture of colour c with fine grain.

    Args:
        c: (r, g, b) in [0, 1].
        grain: amplitude of the per-pixel grain.
        seed: the grain's seed.

    Returns:
        A "solid" `Texture`.
    """
    return Texture("solid", cast(_RGB, tuple(c)), cast(_RGB, tuple(c)), grain=grain, seed=seed)
