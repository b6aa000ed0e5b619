"""Align two images with a BP flow on conv4-role or dense SIFT features (Long et al. section 3's matcher).

    out = align_images(a, b, backbone, params, "conv4")   # a, b uint8 [H, W, 3]; b is resized to a's size
    out.flow      [h, w, 2] displacement (dx, dy) in pixels of a at each grid node
    out.grid_xy   [h, w, 2] (x, y) pixel of a of each node (the conv4 tap's receptive-field centres)
    out.warped    uint8 [H, W, 3]: b warped into a's frame

Features are scaled so that their mean column norm is 512 (VLFeat's SIFT scale), and displacements in the
smoothness term are measured in pixels of a 500 px image, so `beta` keeps the paper's meaning at any size.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.backbones.receptive_field import grid_centers
from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.errors import InputError, check
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import dense_flow_spline, warp_image
from convcorr_jax.long_frame import FEATURE_NORM, FRAME_PX

FEATURES = ("conv4", "sift")
MIN_GRID = 2  # the conv4 grid of an image must be at least this many columns on each side


def min_image_side(backbone) -> int:
    """Smallest side (px) of an image that `align_images` accepts: MIN_GRID conv4-role strides, and at least the
    backbone's smallest conv4 input (`backbones.registry.min_input_side`)."""
    from convcorr_jax.backbones.registry import min_input_side

    return max(MIN_GRID * int(backbone.geometry[backbone.roles["conv4"]].stride), min_input_side(backbone, "conv4"))


def check_image_sizes(a_hw: tuple[int, int], b_hw: tuple[int, int], backbone, max_side: int | None = None,
                      sources: tuple = (None, None), fields: tuple[str, str] = ("image_a", "image_b")) -> None:
    """InputError naming the image (`fields`, `sources`) and its original size (width x height) unless both images
    are large enough for `align_images`: each side >= `min_image_side(backbone)`, for image A also after it is
    resized to a longer side of `max_side` (the working size of `flow.pair`; None: as given)."""
    need = min_image_side(backbone)
    if max_side is not None and max_side < need:
        raise InputError("align", "max_side", f">= {need} px (two conv4 strides of {backbone.name})", max_side)
    for (h, w), source, field, first in ((a_hw, sources[0], fields[0], True), (b_hw, sources[1], fields[1], False)):
        scale = min(1.0, max_side / max(h, w)) if first and max_side is not None else 1.0
        wh, ww = max(1, round(h * scale)), max(1, round(w * scale))
        if min(wh, ww) < need:
            at = f" ({ww} x {wh} px at the working size, longer side {max_side})" if scale < 1.0 else ""
            raise InputError(source, field, f"an image of at least {need} px on each side{at}",
                             f"{w} x {h} px (width x height)")


@dataclasses.dataclass(frozen=True)
class Alignment:
    """What `align_images` returns.

    Fields:
      flow: float32 [h, w, 2] displacement (dx, dy) in pixels of a at each grid node.
      grid_xy: float32 [h, w, 2] (x, y) pixel of a of each node (the conv4 tap's receptive-field centres).
      energy: {"data", "deformation", "total" (floats), "trace" (per iteration), "features", "beta", "grid_hw",
        "units"}: the BP energy of the flow and the settings it was solved with.
      dense_flow: float32 [H, W, 2] the grid flow interpolated to every pixel of a.
      warped: uint8 [H, W, 3] b warped into a's frame.
      b_resized: uint8 [H, W, 3] b resized to a's size.
    """

    flow: np.ndarray
    grid_xy: np.ndarray
    energy: dict
    dense_flow: np.ndarray
    warped: np.ndarray
    b_resized: np.ndarray


def align_images(a: np.ndarray, b: np.ndarray, backbone, params, features: str = "conv4", beta: float = 3e-3,
                 window: int | None = None, iters: int = 8, levels: int = 3, sift_radius: float = 20.0,
                 feature_norm: float = FEATURE_NORM) -> Alignment:
    """Align uint8 RGB a [H, W, 3] to b (resized to a's size) on the grid of a's conv4-role columns.

    Args:
      a, b: uint8 RGB images [H, W, 3] and [H', W', 3].
      backbone, params: the feature network (its conv4 role gives the grid).
      features: "conv4" (the conv4-role activations) or "sift" (dense SIFT at the same nodes).
      beta: BP smoothness weight, displacements in pixels of a 500 px image (`BPConfig.beta`, 3e-3: Long et al.'s
        Table 2 setting; point transfer's BP uses `PointTransferConfig.DEFAULT_BETA`, chosen on PF-WILLOW).
      window: BP label window in grid cells (None: the whole grid); iters, levels: BP iterations per level, levels.
      sift_radius: SIFT descriptor radius in pixels of a 500 px image (scaled to a's longer side).
      feature_norm: the mean feature-column norm BP sees.

    Returns:
      An `Alignment`.
    """
    check(features in FEATURES, "align", "features", f"one of {list(FEATURES)}", features)
    bp.BPConfig(beta, window, iters, levels)  # range checks before any work
    check_image_sizes(a.shape[:2], b.shape[:2], backbone)
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
        bin_size = max(1, int(round(sift_radius / 2 * side / FRAME_PX)))
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, bin_size)) for g in to_grey(np.stack([a, b]))])
    else:
        feats = conv
    feats = feats * feature_scale(feats, feature_norm)
    res = bp.align_frames(feats[0], feats[1], bp.BPConfig(beta, window, iters, levels, "brute"), rf.stride, side)
    flow = np.asarray(res.flow)  # pixels of a
    dense = dense_flow_spline(flow, grid, (h, w))
    warped = np.clip(np.asarray(warp_image(b, dense)), 0, 255).astype(np.uint8)
    energy = {"data": float(res.data_energy), "deformation": float(res.deformation_energy),
              "total": float(res.energy), "trace": np.asarray(res.trace).tolist(), "features": features,
              "beta": beta, "grid_hw": list(grid.shape[:2]),
              "units": f"deformation uses displacements in pixels of A scaled to a {FRAME_PX} px longer side"}
    return Alignment(flow.astype(np.float32), grid.astype(np.float32), energy, dense, warped, b)
