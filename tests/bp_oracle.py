"""The brute-force oracle of the BP solver (`flow.bp_solver`): the exact minimum by enumeration, for tiny problems."""

from __future__ import annotations

import numpy as np


def brute_force_minimum(cost: np.ndarray, weight: float, offsets: np.ndarray | None = None,
                        truncation: float | None = None,
                        edge_scale: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Exact minimum energy and labelling by enumeration, float64 (tests; tiny problems: L^(H*W) labellings);
    offsets, truncation and edge_scale as in `bp_solver._labelling_energy`."""
    cost = np.asarray(cost, np.float64)
    h, w, ly, lx = cost.shape
    n, nl = h * w, ly * lx
    combos = np.indices((nl,) * n).reshape(n, -1).T  # [nl^n, n] flat label per node
    flat = cost.reshape(n, nl)
    e = flat[np.arange(n)[None, :], combos].sum(1)
    lab = np.stack([combos // lx, combos % lx], -1).reshape(-1, h, w, 2)
    pos = lab if offsets is None else lab + np.asarray(offsets, np.float64)[None]
    dv, dh = np.square(np.diff(pos, axis=1)).sum(-1), np.square(np.diff(pos, axis=2)).sum(-1)
    if truncation is not None:
        dv, dh = np.minimum(dv, truncation**2), np.minimum(dh, truncation**2)
    if edge_scale is not None:
        es = np.asarray(edge_scale, np.float64)
        dv, dh = dv * es[None, :-1, :, 0], dh * es[None, :, :-1, 1]
    e = e + weight * (dv.sum((1, 2)) + dh.sum((1, 2)))
    i = int(np.argmin(e))
    return float(e[i]), lab[i]
