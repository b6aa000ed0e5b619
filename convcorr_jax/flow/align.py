"""Align two images: the one entry for image alignment, a flow from image a to image b (resized to a's size).

    out = align_images(a, b, backbone, params)                  # GridConfig(): BP flow on a's conv4-role grid
    out = align_images(a, b, backbone, params, GridConfig("sift"))   # the same BP flow on dense SIFT (Long et al.)
    out = align_images(a, b, backbone, params, DenseConfig())   # per pixel, coarse to fine (`flow.dense`)
    out.flow      grid: [h, w, 2] displacement (dx, dy) in pixels of a at each node (`out.grid_xy`); dense: [H, W, 2]
    out.warped    uint8: b warped into a's frame

The config's type chooses the method. Grid flow (Long et al. section 3's matcher): features scaled so that their
mean column norm is 512 (VLFeat's SIFT scale), displacements in the smoothness term measured in pixels of a 500 px
image, so `beta` keeps the paper's meaning at any size. `max_side`: a is first resized to a longer side of at most
this (None: as given) and the flow is returned in a's own pixels (pixel centres at integers, per axis:
x0 = (x + 0.5) * W / W' - 0.5 for a of width W resized to W', y0 likewise with the heights; W' / W and H' / H
are `scale` up to the rounding of the working size to whole pixels). Many pairs of one size at once, split over
devices: `flow.dense.dense_flows`; BP on feature maps of one's own: `flow.bp.solve_flow`.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import jax
import numpy as np
from PIL import Image

from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.preprocess import check_images, resize
from convcorr_jax.backbones.receptive_field import grid_centers
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import InputError, check
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.dense import DenseConfig, dense_flows
from convcorr_jax.flow.warp import dense_flow_spline, warp_image
from convcorr_jax.core.long_frame import FEATURE_NORM, FRAME_PX

FEATURES = ("conv4", "sift")
MIN_GRID = 2  # the conv4 grid of an image must be at least this many columns on each side


def _min_image_side(backbone) -> int:
    """Smallest side (px) of an image that `align_images` accepts.

    Args:
      backbone: the feature network.

    Returns:
      int: the smallest side on which the conv4-role tap gives MIN_GRID columns (`Backbone.grid_size`), from the
      larger of MIN_GRID conv4-role strides and the backbone's smallest conv4 input
      (`backbones.registry.min_input_side`) up (the AlexNets' conv4 is 1 x 1 at two strides, 32 px).
    """
    from convcorr_jax.backbones.registry import min_input_side

    tap = backbone.roles["conv4"]
    side = max(MIN_GRID * int(backbone.geometry[tap].stride), min_input_side(backbone, "conv4"))
    while min(backbone.grid_size(tap, (side, side))) < MIN_GRID:  # the grid grows with the side
        side += 1
    return side


def check_image_sizes(a_hw: tuple[int, int], b_hw: tuple[int, int], backbone: Backbone, max_side: int | None = None,
                      sources: tuple = (None, None), fields: tuple[str, str] = ("image_a", "image_b")) -> None:
    """Check that both images are large enough for `align_images`.

    Each side must be >= `_min_image_side(backbone)`, for image A also after it is resized to a longer side of
    `max_side` (`align_images`' working size).

    Args:
      a_hw, b_hw: (height, width) of images A and B in pixels.
      backbone: the feature network.
      max_side: A's working longer side (None: as given).
      sources, fields: the source and field named in the error for A and B.

    Returns:
      None.

    Raises:
      InputError: naming the image (`fields`, `sources`) and its original size (width x height); or max_side below
        the minimum side.
    """
    need = _min_image_side(backbone)
    if max_side is not None and max_side < need:
        raise InputError("align_images", "max_side", f">= {need} px ({MIN_GRID} conv4 columns of {backbone.name})",
                         max_side)
    for (h, w), source, field, first in ((a_hw, sources[0], fields[0], True), (b_hw, sources[1], fields[1], False)):
        scale = min(1.0, max_side / max(h, w)) if first and max_side is not None else 1.0
        wh, ww = max(1, round(h * scale)), max(1, round(w * scale))
        if min(wh, ww) < need:
            at = f" ({ww} x {wh} px at the working size, longer side {max_side})" if scale < 1.0 else ""
            raise InputError(source, field, f"an image of at least {need} px on each side{at}",
                             f"{w} x {h} px (width x height)")


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """Grid BP flow settings (`align_images`).

    Fields:
      features: "conv4" (the conv4-role activations at a's grid) or "sift" (dense SIFT at the same nodes).
      beta: BP smoothness weight, displacements in pixels of a 500 px image (3e-3: Long et al.'s Table 2 setting;
        point transfer's BP uses `PointTransferConfig.DEFAULT_BETA`, chosen on PF-WILLOW).
      window: BP label window in grid cells (None: the whole grid); iters, levels: BP iterations per level, levels.
      sift_radius: SIFT descriptor radius in pixels of a 500 px image (scaled to a's longer side).
      feature_norm: the mean feature-column norm BP sees.
    """

    features: str = "conv4"
    beta: float = bp.BPConfig.beta
    window: tuple[int, int] | int | None = None
    iters: int = 8
    levels: int = 3
    sift_radius: float = 20.0
    feature_norm: float = FEATURE_NORM

    def __post_init__(self):
        check_types(self, "GridConfig")
        check(self.features in FEATURES, "GridConfig", "features", f"one of {list(FEATURES)}", self.features)
        check_fields(self, positive=("sift_radius", "feature_norm"), finite=("sift_radius", "feature_norm"),
                     source="GridConfig")
        self.bp()  # BPConfig's range checks

    def bp(self) -> bp.BPConfig:
        """The `BPConfig` the grid flow is solved with (brute-force distance transform)."""
        return bp.BPConfig(self.beta, self.window, self.iters, self.levels, "brute")


@dataclasses.dataclass(frozen=True)
class Alignment:
    """What `align_images` returns.

    Fields:
      flow: float32 displacements (dx, dy) in pixels of a as given: [h, w, 2] at the grid nodes (grid flow) or
        [H, W, 2] at every pixel of a (dense flow: pixel p of a -> p + flow[p] in b resized to a's size).
      warped: uint8 b warped onto a (grid: at the working size, `a_work`'s; dense: at a's size).
      b_resized: uint8 b resized to that same size.
      scale: the factor (<= 1) a was resized by to work on it (its longer side's; each side is then rounded to
        whole pixels, and the flow is brought back per axis by a's side / the working side).
      grid_xy: float32 [h, w, 2] (x, y) pixels of a as given of the grid nodes (grid flow; None for dense flow).
      energy: {"data", "deformation", "total" (floats), "trace" (per iteration), "features", "beta", "grid_hw",
        "units"}: the BP energy of the grid flow and its settings (None for dense flow).
      dense_flow: float32 [h', w', 2] the grid flow interpolated to every pixel of `a_work`, in its pixels (grid
        flow; None for dense flow, whose `flow` is per pixel).
      a_work: uint8 a at the working size (grid flow; None for dense flow).
    """

    flow: np.ndarray
    warped: np.ndarray
    b_resized: np.ndarray
    scale: float = 1.0
    grid_xy: np.ndarray | None = None
    energy: dict | None = None
    dense_flow: np.ndarray | None = None
    a_work: np.ndarray | None = None


def _work_image(a: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """a resized to a longer side of at most `max_side`.

    Args:
      a: uint8 [H, W, 3] image.
      max_side: the longest side allowed in pixels (None: a as given).

    Returns:
      (a at the working size, the scale (<= 1) it was resized by).
    """
    scale = 1.0 if max_side is None else min(1.0, max_side / max(a.shape[:2]))
    if scale < 1.0:
        a = resize(a, (max(1, round(a.shape[0] * scale)), max(1, round(a.shape[1] * scale))))
    return a, scale


def align_images(a: np.ndarray | jax.Array, b: np.ndarray | jax.Array, backbone: Backbone, params: Any,
                 config: GridConfig | DenseConfig = GridConfig(), max_side: int | None = None) -> Alignment:
    """Flow from uint8 RGB a [H, W, 3] to b [H', W', 3] (b resized to a's working size).

    Args:
      a, b: uint8 RGB images [H, W, 3] and [H', W', 3] (numpy or JAX arrays), each side at least
        `_min_image_side(backbone)`.
      backbone, params: the feature network (its conv4 role gives the grid).
      config: `GridConfig` (BP flow on a's conv4-role grid, Long et al.) or `DenseConfig` (per-pixel flow, coarse
        to fine, `flow.dense`).
      max_side: a is resized to a longer side of at most this before the flow is solved (None: as given).

    Returns:
      An `Alignment`, its flow in pixels of a as given.

    Raises:
      InputError: an image not uint8 [H, W, 3] or too small, a backbone that is not a `Backbone` (a name: load it,
        `weights.load_backbone(name)` gives (backbone, params)), a config of another type, max_side not a number
        or too small.
    """
    if not isinstance(config, (GridConfig, DenseConfig)):
        raise InputError("align_images", "config", "a GridConfig or a DenseConfig", type(config).__name__)
    # numpy from here on (PIL resizing, scipy splines); a JAX array of an image is read once
    a, b = (np.asarray(check_images(x, "align_images", f, rank=3)) for x, f in ((a, "a"), (b, "b")))
    if not (hasattr(backbone, "roles") and hasattr(backbone, "geometry")):
        raise InputError("align_images", "backbone", "a Backbone, as weights.load_backbone(name) returns with its "
                         "params", repr(backbone) if isinstance(backbone, str) else type(backbone).__name__)
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, numbers.Real)):
        raise InputError("align_images", "max_side", "none or a side in pixels", repr(max_side))
    check_image_sizes(a.shape[:2], b.shape[:2], backbone, max_side, ("align_images",) * 2, ("a", "b"))
    a_work, scale = _work_image(a, max_side)
    if isinstance(config, DenseConfig):
        return _dense(a, a_work, b, scale, backbone, params, config)
    out = _grid(a_work, b, backbone, params, config)
    assert out.grid_xy is not None  # a grid alignment has its nodes
    back = _back_to_a(a, a_work)  # per axis: `scale` alone put a node up to half a working pixel off, times 1/scale
    return dataclasses.replace(out, flow=(out.flow * back).astype(np.float32), scale=scale,
                               grid_xy=((out.grid_xy + 0.5) * back - 0.5).astype(np.float32))


def _back_to_a(a: np.ndarray, a_work: np.ndarray) -> np.ndarray:
    """float64 [2] (W / W', H / H'): pixels of a per pixel of a at its working size, along x and along y."""
    return np.array([a.shape[1] / a_work.shape[1], a.shape[0] / a_work.shape[0]], np.float64)


def _dense(a: np.ndarray, a_work: np.ndarray, b: np.ndarray, scale: float, backbone, params: Any,
           cfg: DenseConfig) -> Alignment:
    """Per-pixel flow on a's working size, brought back to a as given."""
    flow = np.asarray(dense_flows(a_work[None], resize(b, a_work.shape[:2])[None], backbone, params, cfg))[0]
    if scale < 1.0:  # back to a as given
        flow = np.stack([np.asarray(Image.fromarray(flow[..., c]).resize(a.shape[1::-1], Image.Resampling.BILINEAR))
                         for c in range(2)], -1) * _back_to_a(a, a_work)
    b_full = resize(b, a.shape[:2])
    warped = np.clip(np.asarray(warp_image(b_full, flow)), 0, 255).astype(np.uint8)
    return Alignment(flow=flow.astype(np.float32), warped=warped, b_resized=b_full, scale=scale)


def _grid(a: np.ndarray, b: np.ndarray, backbone, params: Any, cfg: GridConfig) -> Alignment:
    """Grid BP flow from a [H, W, 3] to b resized to a's size, in pixels of this a."""
    h, w = a.shape[:2]
    b = resize(b, (h, w))
    tap = backbone.roles["conv4"]
    rf = backbone.geometry[tap]
    conv = extract(backbone, params, np.stack([a, b]), (tap,), batch_size=2)[tap]
    check(conv.shape[1] * conv.shape[2] >= 2, "align_images", "a", "an image giving a conv4 grid of >= 2 columns",
          conv.shape[1:3])
    grid = grid_centers(rf, conv.shape[1:3])
    side = max(h, w)
    if cfg.features == "sift":
        bin_size = max(1, int(round(cfg.sift_radius / 2 * side / FRAME_PX)))
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, bin_size)) for g in to_grey(np.stack([a, b]))])
    else:
        feats = conv
    feats = feats * feature_scale(feats, cfg.feature_norm)
    res = bp.solve_flow_in_frame(feats[0], feats[1], cfg.bp(), rf.stride, side)
    flow = np.asarray(res.flow)  # pixels of a
    dense = dense_flow_spline(flow, grid, (h, w))
    warped = np.clip(np.asarray(warp_image(b, dense)), 0, 255).astype(np.uint8)
    energy = {"data": float(res.data_energy), "deformation": float(res.deformation_energy),
              "total": float(res.energy), "trace": np.asarray(res.trace).tolist(), "features": cfg.features,
              "beta": cfg.beta, "grid_hw": list(grid.shape[:2]),
              "units": f"deformation uses displacements in pixels of A scaled to a {FRAME_PX} px longer side"}
    return Alignment(flow.astype(np.float32), warped, b, grid_xy=grid.astype(np.float32), energy=energy,
                     dense_flow=dense, a_work=a)
