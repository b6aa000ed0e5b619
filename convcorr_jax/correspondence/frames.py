"""Frames: images resized to one square frame, with their features on one node grid.

Every image is mapped by an affine M (image pixels -> frame pixels, `geometry.box_to_affine` of a box, the whole
image by default: an anisotropic resize) to a `cfg.image_size` x `cfg.image_size` frame, and its features are
read at the nodes of one grid of the frame (`cfg.grid_spec`: a stride in pixels or a tap's receptive-field
centres): hyperpixels of `cfg.tap_names` (`features.hyperpixel`), dense SIFT at the nodes, or none.
`cfg` is a `point_config.PointTransferConfig` (or any config with its field names and properties).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax import geometry
from convcorr_jax.backbones.geometry import grid_centers
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.transfer import TransferConfig, sift_bin_size
from convcorr_jax.errors import InputError
from convcorr_jax.features.hyperpixel import hyperpixel_taps, resolve_taps, target_grid
from convcorr_jax.features.sift import sift_grid, to_grey


@dataclasses.dataclass
class Frames:
    """Images resized to a square frame, with features on one node grid.

    M [N, 2, 3] image -> frame affine; crops uint8 [N, S, S, 3]; parts {name: [N, h, w, C_t]} the features of
    each tap (or {"sift": ...}; None for features="none"), concatenated by `features`; grid_xy [h, w, 2] frame
    pixels of the nodes; stride: frame pixels per grid cell."""

    crops: np.ndarray
    M: np.ndarray
    parts: dict | None
    grid_xy: np.ndarray
    stride: float

    def features(self, names: Sequence[str] | None = None) -> np.ndarray | None:
        """The parts `names` (None: all, in order) concatenated along channels [N, h, w, C]; None without
        features."""
        if self.parts is None:
            return None
        names = list(self.parts) if names is None else list(names)
        return np.concatenate([self.parts[n] for n in names], -1)


def frame_boxes(images: Sequence[np.ndarray]) -> np.ndarray:
    """The whole of each image [H, W, ...] as a box [N, 4] (x0, y0, x1, y1 inclusive pixel bounds)."""
    return np.array([[0, 0, im.shape[1] - 1, im.shape[0] - 1] for im in images], np.float64).reshape(-1, 4)


def make_frames(images: Sequence[np.ndarray], boxes: np.ndarray, cfg: PointTransferConfig, backbone, params,
                taps: Sequence[str] | None = None) -> Frames:
    """Crop each uint8 RGB image's box (`boxes` [N, 4], e.g. `frame_boxes(images)`) to cfg.image_size and
    compute cfg.features on cfg's grid: hyperpixel parts of `taps` (default cfg's taps; the validation experiment
    passes the union of its rows' taps). `backbone` only sets the grid of features "sift" and "none"."""
    size = cfg.image_size
    M = geometry.box_to_affine(boxes, size)
    crops = geometry.crop_each(list(images), M, size, border="edge")
    names = resolve_taps(backbone, cfg.tap_names if taps is None else taps) if cfg.features == "cnn" else ()
    rf, hw = target_grid(backbone, names, (size, size), cfg.grid_spec)
    grid = grid_centers(rf, hw)
    if cfg.features == "none":
        return Frames(crops, M, None, grid, float(rf.stride))
    if cfg.features == "sift":
        b = cfg.sift_bin or sift_bin_size(TransferConfig(box=size), int(rf.stride))
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, b)) for g in to_grey(crops)]).astype(np.float32)
        return Frames(crops, M, {"sift": feats}, grid, float(rf.stride))
    parts, centres, _ = hyperpixel_taps(backbone, params, crops, names, cfg.grid_spec, cfg.normalise, batch_size=8)
    return Frames(crops, M, parts, centres, float(rf.stride))


def resolve_names(frames: Frames, taps: Sequence[str]) -> list[str]:
    """The part names of `frames` for `taps` (already resolved tap names, as `make_frames` stores them)."""
    unknown = [t for t in taps if t not in frames.parts]
    if unknown:
        raise InputError("frames", "taps", f"taps computed for these frames ({', '.join(frames.parts)})",
                         ", ".join(unknown))
    return list(taps)
