"""The Middlebury flow colour code (Baker et al., "A Database and Evaluation Methodology for Optical Flow", ICCV
2007; Scharstein's `colorcode.cpp` `computeColor`): hue from the flow's direction, saturation from its length.

    rgb = flow_to_colour(flow)              # uint8 [H, W, 3]; the longest vector fully saturated, zero flow white
    key = colour_key(101)                   # uint8 [101, 101, 3]: the wheel, to draw beside it as its key

Directions in image coordinates (y down): +x (right) red, +y (down) yellow, -x (left) cyan-blue, -y (up) violet.
"""

from __future__ import annotations

import numpy as np

# hues between the primaries (red-yellow, yellow-green, green-cyan, cyan-blue, blue-magenta, magenta-red)
SEGMENTS = (15, 6, 4, 11, 13, 6)


def _colour_wheel() -> np.ndarray:
    """The 55 wheel colours (red -> yellow -> green -> cyan -> blue -> magenta).

    Each segment is a linear ramp of one channel in floor(255 * i / n) steps.

    Returns:
      float64 [55, 3] RGB in 0..255.
    """
    rows = []
    for seg, n in enumerate(SEGMENTS):
        ramp = np.floor(255 * np.arange(n) / n)
        up, down, full, zero = ramp, 255 - ramp, np.full(n, 255.0), np.zeros(n)
        rows.append(np.stack([(full, up, zero), (down, full, zero), (zero, full, up), (zero, down, full),
                              (up, zero, full), (full, zero, down)][seg], -1))
    return np.concatenate(rows)


def flow_to_colour(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """Colour-code a flow field (dx, dy) as RGB.

    Vectors are divided by `max_flow`; a normalised length r <= 1 blends the wheel colour of the direction towards
    white (1 - r (1 - c)), longer ones are the wheel colour darkened to 0.75. Non-finite vectors are black.

    Args:
      flow: [..., 2] (dx, dy) displacements in pixels, e.g. [H, W, 2].
      max_flow: the length drawn fully saturated (None: the longest finite vector).

    Returns:
      uint8 numpy [..., 3] RGB.
    """
    flow = np.asarray(flow, np.float64)
    ok = np.all(np.isfinite(flow), axis=-1)
    u, v = np.where(ok, flow[..., 0], 0.0), np.where(ok, flow[..., 1], 0.0)
    rad = np.hypot(u, v)
    scale = float(rad.max(initial=0.0)) if max_flow is None else float(max_flow)
    u, v = u / (scale + 1e-5) + 0.0, v / (scale + 1e-5) + 0.0  # + 0.0: -0.0 -> 0.0, so -0.0 dy is +x's red
    wheel = _colour_wheel() / 255.0
    n = len(wheel)
    fk = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (n - 1)  # 0 at +x (a = -1), (n - 1) / 2 at -x
    k0 = np.floor(fk).astype(int)
    k1 = np.where(k0 + 1 == n, 0, k0 + 1)
    f = (fk - k0)[..., None]
    col = (1 - f) * wheel[k0] + f * wheel[k1]
    r = np.hypot(u, v)[..., None]
    col = np.where(r <= 1, 1 - r * (1 - col), col * 0.75)
    return np.where(ok[..., None], np.floor(255 * col), 0).astype(np.uint8)


def colour_key(size: int = 101) -> np.ndarray:
    """The colour code's key: the colour of the flow from the centre to each pixel.

    The longest, to the rim, is fully saturated (image coordinates, y down).

    Args:
      size: the key's side in pixels.

    Returns:
      uint8 RGB numpy [size, size, 3]; white outside the disc.
    """
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - c
    key = flow_to_colour(np.stack([x, y], -1), max_flow=c)
    key[np.hypot(x, y) > c] = 255
    return key
