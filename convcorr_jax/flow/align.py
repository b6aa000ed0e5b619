"""Align two images with a BP flow on conv4-role or dense SIFT features (Long et al. section 3's matcher).

    out = align_images(a, b, backbone, params, "conv4")   # a, b uint8 [H, W, 3]; b is resized to a's size
    out["flow"]      [h, w, 2] displacement (dx, dy) in pixels of a at each grid node
    out["grid_xy"]   [h, w, 2] (x, y) pixel of a of each node (the conv4 tap's receptive-field centres)
    out["warped"]    uint8 [H, W, 3]: b warped into a's frame

Features are scaled so that their mean column norm is 512 (VLFeat's SIFT scale), and displacements in the
smoothness term are measured in pixels of a 500 px image, so `beta` keeps the paper's meaning at any size.
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.backbones.geometry import grid_centers
from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.errors import check
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import dense_flow_spline, warp_image

FEATURES = ("conv4", "sift")


def align_images(a: np.ndarray, b: np.ndarray, backbone, params, features: str = "conv4", beta: float = 3e-3,
                 window: int | None = None, iters: int = 8, levels: int = 3, sift_radius: float = 20.0,
                 feature_norm: float = 512.0) -> dict:
    """Align uint8 RGB a [H, W, 3] to b (resized to a's size) on the grid of a's conv4-role columns.

    sift_radius: SIFT descriptor radius in pixels of a 500 px image (scaled to a's longer side).
    Returns {"flow", "grid_xy", "energy" (data, deformation, total, trace, settings), "dense_flow" [H, W, 2],
    "warped", "b_resized"}.
    """
    check(features in FEATURES, "align", "features", f"one of {list(FEATURES)}", features)
    h, w = a.shape[:2]
    b = resize(b, (h, w))
    tap = backbone.roles["conv4"]
    rf = backbone.geometry[tap]
    check(min(h, w) >= rf.stride * 2, "image_a", "size",
          f"at least {rf.stride * 2} px on each side (conv4 stride {rf.stride})", (h, w))
    conv = extract(backbone, params, np.stack([a, b]), (tap,), batch_size=2)[tap]
    check(conv.shape[1] * conv.shape[2] >= 2, "image_a", "size", "an image giving a conv4 grid of >= 2 columns",
          conv.shape[1:3])
    grid = grid_centers(rf, conv.shape[1:3])
    side = max(h, w)
    if features == "sift":
        bin_size = max(1, int(round(sift_radius / 2 * side / 500)))
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, bin_size)) for g in to_grey(np.stack([a, b]))])
    else:
        feats = conv
    feats = feats * feature_scale(feats, feature_norm)
    pixel_scale = 500.0 / side  # displacements in pixels of a 500 px image for the smoothness term
    res = bp.align(feats[0], feats[1], bp.BPConfig(beta, window, iters, levels, "brute"), rf.stride * pixel_scale)
    flow = np.asarray(res.flow) / pixel_scale  # pixels of a
    dense = dense_flow_spline(flow, grid, (h, w))
    warped = np.clip(np.asarray(warp_image(b, dense)), 0, 255).astype(np.uint8)
    energy = {"data": float(res.data_energy), "deformation": float(res.deformation_energy),
              "total": float(res.energy), "trace": np.asarray(res.trace).tolist(), "features": features,
              "beta": beta, "grid_hw": list(grid.shape[:2]),
              "units": "deformation uses displacements in pixels of A scaled to a 500 px longer side"}
    return {"flow": flow.astype(np.float32), "grid_xy": grid.astype(np.float32), "energy": energy,
            "dense_flow": dense, "warped": warped, "b_resized": b}
