"""Frames: images resized to one square frame, with their features on one node grid.

Every image is mapped by an affine M (image pixels -> frame pixels, `geometry.box_to_affine` of a box, the whole
image by default: an anisotropic resize) to a `cfg.image_size` x `cfg.image_size` frame, and its features are
read at the nodes of one grid of the frame (`cfg.grid_spec`: a stride in pixels or a tap's receptive-field
centres): hyperpixels of `cfg.tap_names` (`features.hyperpixel`), dense SIFT at the nodes, or none.
`cfg` is a `point_config.PointTransferConfig` (`make_frames` refuses anything else).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.receptive_field import RF, grid_centers
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.hyperpixel import (
    hyperpixel_taps,
    l2_normalise,
    resolve_taps,
    target_grid,
)
from convcorr_jax.features.cam import cam_prior
from convcorr_jax.features.sift import sift_bin_size, sift_grid, to_grey


@dataclasses.dataclass
class Frames:
    """Images resized to a square frame, with features on one node grid.

    All arrays numpy: M float64 [N, 2, 3] image -> frame affine; crops uint8 [N, S, S, 3]; parts {name: float32
    [N, h, w, C_t]} the features of each tap (or {"sift": ...}; None for features="none"), concatenated by
    `features`; grid_xy float32 [h, w, 2] frame pixels of the nodes; stride: frame pixels per grid cell; flipped:
    the parts of the mirrored frames (or None); prior, flipped_prior: float32 [N, h, w] OT marginal weights of the
    nodes of the frames and of the mirrored frames (cfg.prior, `node_prior`; None: uniform)."""

    crops: np.ndarray
    M: np.ndarray
    parts: dict | None
    grid_xy: np.ndarray
    stride: float
    flipped: dict | None = None
    prior: np.ndarray | None = None
    flipped_prior: np.ndarray | None = None

    def features(self, names: Sequence[str] | None = None, mirrored: bool = False) -> np.ndarray | None:
        """The parts `names` (None: all, in order) concatenated along channels [N, h, w, C] (those of the mirrored
        frames when `mirrored`); None without features (or without mirrored parts)."""
        parts = self.flipped if mirrored else self.parts
        if parts is None or self.parts is None:  # mirrored parts are made with the frames' own
            return None
        names = list(self.parts) if names is None else list(names)
        return np.concatenate([parts[n] for n in names], -1)


def frame_boxes(images: Sequence[np.ndarray]) -> np.ndarray:
    """The whole of each image as a box.

    Args:
      images: N arrays [H, W, ...] (any sizes).

    Returns:
      float64 [N, 4] (x0, y0, x1, y1) inclusive pixel bounds: (0, 0, W - 1, H - 1).
    """
    return np.array([[0, 0, im.shape[1] - 1, im.shape[0] - 1] for im in images], np.float64).reshape(-1, 4)


def make_frames(images: Sequence[np.ndarray], boxes: np.ndarray, cfg: PointTransferConfig, backbone: Backbone,
                params: Params, taps: Sequence[str] | None = None, extra: tuple | None = None,
                sources: Sequence[int] | np.ndarray | None = None, prior: tuple | None = None,
                third: tuple | None = None) -> Frames:
    """Crop each image's box to cfg.image_size and compute cfg.features on cfg's grid.

    Hyperpixel parts of `taps`, and for matchers (not BP flow) at every factor of cfg.scales, and of
    cfg.extra_backbone's and cfg.third_backbone's taps; mirrored parts too when cfg.flip_source, computed for the
    frames `sources` and zero for the others; the OT marginal weights of cfg.prior (`node_prior`), of the mirrored
    frames too.

    Args:
      images: N uint8 RGB images [H, W, 3] (any sizes).
      boxes: float [N, 4] (x0, y0, x1, y1) inclusive pixel boxes, e.g. `frame_boxes(images)`.
      cfg: a `PointTransferConfig`.
      backbone, params: the feature network (for features "sift" and "none" `backbone` only sets the grid).
      taps: the taps of the hyperpixel parts (default cfg's taps; the validation experiment passes the union of its
        rows' taps).
      extra: cfg.extra_backbone's (backbone, params), required then.
      sources: the images used as sources (indices, a sequence or an int array), whose mirrored parts are
        computed (None: all).
      prior: the classifier's (backbone, params) of cfg.prior, required then.
      third: cfg.third_backbone's (backbone, params), required then.

    Returns:
      `Frames` of numpy arrays: crops uint8 [N, S, S, 3] (S = cfg.image_size), M float64 [N, 2, 3], parts {name:
      float32 [N, h, w, C_t]} (None for features "none"), grid_xy float32 [h, w, 2], stride, and the mirrored parts
      and priors where asked.

    Raises:
      InputError: cfg not a `PointTransferConfig`; `extra`, `third` or `prior` missing where cfg needs them.
    """
    if not isinstance(cfg, PointTransferConfig):
        raise InputError("make_frames", "cfg", "a PointTransferConfig", type(cfg).__name__)
    size = cfg.image_size
    M = geometry.box_to_affine(boxes, size)
    crops = geometry.crop_each(list(images), M, size, border="edge")
    names = resolve_taps(backbone, cfg.tap_names if taps is None else taps) if cfg.features == "cnn" else ()
    rf, hw = target_grid(backbone, names, (size, size), cfg.grid_spec)
    grid = grid_centers(rf, hw)
    if cfg.features == "none":
        return Frames(crops, M, None, grid, float(rf.stride))
    if cfg.features == "sift":
        b = cfg.sift_bin or sift_bin_size(stride=int(rf.stride))  # Long et al.'s radius at this grid's stride
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, b)) for g in to_grey(crops)]).astype(np.float32)
        return Frames(crops, M, {"sift": feats}, grid, float(rf.stride))
    parts, centres, _ = hyperpixel_taps(backbone, params, crops, names, cfg.grid_spec, cfg.normalise, batch_size=8)
    frames = Frames(crops, M, parts, centres, float(rf.stride))
    if cfg.resolved_method == "bp":  # BP flow: one network at one scale, never mirrored, no marginals
        return frames
    if cfg.prior is not None and prior is None:
        raise InputError("make_frames", "prior", f"the (backbone, params) of prior {cfg.prior}", None)
    nets = [(backbone, params, names, ""), *_side_networks(cfg, extra, third)]
    if cfg.prior is not None:
        assert prior is not None  # refused above
        frames.prior = node_prior(crops, cfg, prior, rf, hw)
    for net, p, taps_, prefix in nets:
        for s in cfg.scales:
            if s != 1.0 or prefix:
                parts.update(scale_parts(images, boxes, cfg, net, p, taps_, frames, s, False, prefix))
    if cfg.flip_source:
        idx = np.arange(len(images)) if sources is None else np.unique(np.asarray(sources, np.int64))
        sub = Frames(crops[idx], M[idx], None, frames.grid_xy, frames.stride)
        ims = [images[i] for i in idx]
        flipped: dict = {}
        for net, p, taps_, prefix in nets:
            for s in cfg.scales:
                flipped.update(scale_parts(ims, boxes[idx], cfg, net, p, taps_, sub, s, True, prefix))
        frames.flipped = {k: np.zeros_like(parts[k]) for k in parts}
        for k, v in flipped.items():
            frames.flipped[k][idx] = v
        if cfg.prior is not None:
            assert prior is not None  # refused above
            frames.flipped_prior = np.ones_like(frames.prior)
            frames.flipped_prior[idx] = node_prior(np.ascontiguousarray(crops[idx, :, ::-1]), cfg, prior, rf, hw)
    return frames


def _side_networks(cfg: PointTransferConfig, extra: tuple | None, third: tuple | None) -> list[tuple]:
    """The networks read beside the backbone by a matcher: cfg.extra_backbone's, then cfg.third_backbone's.

    Args:
      cfg: the settings (extra_backbone, third_backbone and their taps).
      extra, third: their (backbone, params), each required when cfg names that network.

    Returns:
      [(backbone, params, resolved taps, part-name prefix "<name>:")] for the networks cfg names, in that order.

    Raises:
      InputError: a network cfg names without its (backbone, params).
    """
    out = []
    for field, name, model, taps in (("extra", cfg.extra_backbone, extra, cfg.extra_tap_names),
                                     ("third", cfg.third_backbone, third, cfg.third_tap_names)):
        if name is None:
            continue
        if model is None:
            raise InputError("make_frames", field, f"the (backbone, params) of {field}_backbone {name}", None)
        out.append((model[0], model[1], resolve_taps(model[0], taps, f"{field}_taps"), f"{model[0].name}:"))
    return out


def node_prior(crops: np.ndarray, cfg: PointTransferConfig, prior: tuple, rf: RF, hw: tuple[int, int]) -> np.ndarray:
    """OT marginal weights of the frames' nodes: cfg.prior_floor + the CAM foreground prior (`features.cam.cam_prior`).

    Args:
      crops: uint8 RGB frames [N, S, S, 3].
      cfg: the settings (prior_floor; prior_top_k: the classifier's top classes whose normalised maps the prior
        combines by their maximum per node).
      prior: the classifier's (backbone, params).
      rf, hw: the node grid (receptive field and (h, w)).

    Returns:
      float32 numpy [N, h, w] weights: cfg.prior_floor + a prior in [0, 1].
    """
    return cfg.prior_floor + cam_prior(prior[0], prior[1], crops, rf, hw, cfg.prior_top_k)


def part_name(tap: str, scale: float = 1.0, prefix: str = "") -> str:
    """The name of a hyperpixel part.

    Args:
      tap: the tap's resolved name.
      scale: the frame's scale factor.
      prefix: e.g. "<backbone name>:" for the extra backbone's taps.

    Returns:
      "<prefix><tap>", with "@<scale>" for a scale other than 1.
    """
    return f"{prefix}{tap}" + ("" if scale == 1.0 else f"@{scale:g}")


def scale_parts(images: Sequence[np.ndarray], boxes: np.ndarray, cfg: PointTransferConfig, backbone: Backbone,
                params: Params, names: Sequence[str], frames: Frames, scale: float, mirror: bool = False,
                prefix: str = "") -> dict:
    """Hyperpixel parts of `backbone`'s taps on the boxes cropped at a scale, read at `frames`' nodes.

    The boxes are cropped to round(cfg.image_size x scale) px (mirrored left-right when `mirror`), the features
    computed on that frame's grid (the base stride x scale, at least 1 px) and read at `frames`' nodes mapped into it
    (`columns_at`), L2-normalised again per node when cfg.normalise. Equals `hyperpixel_taps` on the base frame at
    scale 1 with the same grid.

    Args:
      images: N uint8 RGB images [H, W, 3].
      boxes: [N, 4] (x0, y0, x1, y1) inclusive pixel boxes.
      cfg: the settings (image_size, normalise).
      backbone, params: the feature network.
      names: resolved tap names.
      frames: the base frames (crops, M, grid_xy, stride).
      scale: the frame's scale factor.
      mirror: mirror the crops left-right.
      prefix: the parts' name prefix (`part_name`).

    Returns:
      {`part_name(tap, scale, prefix)`: float32 numpy [N, h, w, C]} on `frames`' grid.
    """
    size = max(round(cfg.image_size * scale), 1)
    M = geometry.box_to_affine(boxes, size)
    crops = frames.crops if size == cfg.image_size else geometry.crop_each(list(images), M, size, border="edge")
    if mirror:
        crops = np.ascontiguousarray(crops[:, :, ::-1])
    grid = max(round(frames.stride * scale), 1)
    parts, centres, _ = hyperpixel_taps(backbone, params, crops, names, grid, cfg.normalise, batch_size=8)
    base = frames.grid_xy.reshape(-1, 2).astype(np.float64)
    # frame -> scaled frame: the same box edges go to both frames' outer pixel edges, so one affine for all boxes
    nodes = geometry.transform_points(base, geometry.compose_affine(M[0], geometry.invert_affine(frames.M[0])))
    same = centres.shape == frames.grid_xy.shape and np.allclose(centres.reshape(-1, 2), nodes)
    out = {}
    for t in names:
        f = parts[t]
        if not same:
            f = np.stack([columns_at(g, centres, nodes) for g in f])
            f = f.reshape(len(parts[t]), *frames.grid_xy.shape[:2], -1).astype(np.float32)
            if cfg.normalise:
                f = np.asarray(l2_normalise(f))
        out[part_name(t, scale, prefix)] = f
    return out


def grid_coordinates(grid_xy: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional grid coordinates of points on a separable node grid.

    Args:
      grid_xy: [h, w, 2] (x, y) frame pixels of the nodes.
      points: [K, 2] (x, y) frame pixels; points beyond the outermost nodes are clamped to them.

    Returns:
      (column float64 numpy [K], row float64 numpy [K]) in 0..w - 1 and 0..h - 1.
    """
    xs, ys = grid_xy[0, :, 0], grid_xy[:, 0, 1]
    return np.interp(points[:, 0], xs, np.arange(len(xs))), np.interp(points[:, 1], ys, np.arange(len(ys)))


def columns_at(feats: np.ndarray, grid_xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Feature columns of one grid at points, bilinear between the 4 nearest nodes, edge nodes held outside.

    Args:
      feats: [h, w, C] features at the nodes (numpy or jax).
      grid_xy: [h, w, 2] (x, y) frame pixels of the nodes.
      points: [K, 2] (x, y) frame pixels.

    Returns:
      float64 numpy [K, C].
    """
    fx, fy = grid_coordinates(grid_xy, points)
    h, w = feats.shape[:2]
    x0 = np.clip(np.floor(fx).astype(int), 0, max(w - 2, 0))
    y0 = np.clip(np.floor(fy).astype(int), 0, max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax, ay = (fx - x0)[:, None], (fy - y0)[:, None]
    f = np.asarray(feats, np.float64)  # a jax array's astype gave a float32 jax array
    top = f[y0, x0] * (1 - ax) + f[y0, x1] * ax
    bot = f[y1, x0] * (1 - ax) + f[y1, x1] * ax
    return top * (1 - ay) + bot * ay


def resolve_names(frames: Frames, taps: Sequence[str]) -> list[str]:
    """The part names of `frames` for `taps`.

    Args:
      frames: frames with parts.
      taps: already resolved tap names, as `make_frames` stores them.

    Returns:
      list of the names, as given.

    Raises:
      InputError: a tap not computed for these frames.
    """
    parts = frames.parts or {}  # None: frames made without features
    unknown = [t for t in taps if t not in parts]
    if unknown:
        raise InputError("resolve_names", "frames.taps",
                         f"taps computed for these frames ({', '.join(parts) or 'none: frames without features'})",
                         ", ".join(unknown))
    return list(taps)
