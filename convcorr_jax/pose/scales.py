"""Test-time scales of the pose cascade: each person cropped at several scales around the same centre, every
crop's prediction mapped back into the base crop and the predictions merged: averaged, or their coordinate-wise
median.

    crops = [flic_crops(root, split, 128, crop_scale * s) for s in (0.9, 1.0, 1.1)]   # same people, same order
    preds = [predict.predict_crops(params, c.arrays.images, cfg) for c in crops]
    xy = scales.merge_scales([p["cascade"] for p in preds], [c.affine for c in crops], crops[1].affine)  # base crop

A crop of scale s shows the person at 1 / s times the base crop's size, so the network sees each person at
several sizes; averaging the mapped points is the multi-scale counterpart of `pose.flip`'s averaging. The median
(`merge="median"`) ignores a minority of scales whose prediction lands on the wrong limb or the background, where
the mean is pulled part of the way towards it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

from convcorr_jax.core import geometry
from convcorr_jax.core.errors import InputError, check_shape

MERGES = ("mean", "median")  # how `merge_scales` merges the scales' points


def check_scales(scales: npt.ArrayLike, source: str) -> tuple[float, ...]:
    """Test-time crop scales as a tuple of floats.

    Args:
        scales: a number or a sequence of numbers, each a crop side over the base crop's side.
        source: what the error names as its source.

    Returns:
        The scales, a tuple of one or more floats.

    Raises:
        InputError: from `source` unless there is at least one and every one is finite and > 0.
    """
    try:
        a = np.atleast_1d(np.asarray(scales, np.float64))
    except (TypeError, ValueError):  # "0.8,x", ragged lists: not numbers
        raise InputError(source, "scales", "one or more crop scales > 0 (numbers)", scales) from None
    check_shape(a, "S", source, "scales", note="(crop scales: a number or a flat sequence of numbers)")
    out = tuple(float(v) for v in a)
    if not out or not all(np.isfinite(v) and v > 0 for v in out):
        raise InputError(source, "scales", "one or more crop scales > 0", out)
    return out


def _to_base(points: np.ndarray, affine: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Points in crops of the same images mapped into the base crops.

    Args:
        points: [N, K, 2] (x, y) pixels of crops made by the image -> crop maps `affine`.
        affine: [N, 2, 3] image -> crop affines of those crops.
        base: [N, 2, 3] image -> crop affines of the base crops of the same images.

    Returns:
        float64 [N, K, 2] (x, y) base-crop pixels.
    """
    m = geometry.compose_affine(np.asarray(base, np.float64), geometry.invert_affine(affine))
    return geometry.transform_points(np.asarray(points, np.float64), m)


def check_merge(merge: str, source: str, field: str = "merge") -> str:
    """merge if it is one of `MERGES`.

    Args:
        merge: "mean" or "median".
        source, field: what the error names as its source and field.

    Returns:
        merge, unchanged.

    Raises:
        InputError: from `source` naming `field` for another value.
    """
    if merge not in MERGES:
        raise InputError(source, field, f"one of {list(MERGES)}", merge)
    return merge


def merge_scales(points: Sequence[np.ndarray], affines: Sequence[np.ndarray], base: np.ndarray,
            merge: str = "mean") -> np.ndarray:
    """Points of several crop scales, each mapped into the base crops (`_to_base`), merged over the scales.

    Args:
        points: one [N, K, 2] (x, y) array per scale, pixels of the crops made by affines[i].
        affines: one [N, 2, 3] image -> crop affine array per scale.
        base: [N, 2, 3] image -> crop affines of the base crops.
        merge: "mean", or "median": the median of x and of y separately (for an even number of scales the mean of
            the two middle values).

    Returns:
        float32 [N, K, 2] (x, y) base-crop pixels.

    Raises:
        InputError: an unknown merge, no points or not one array per affine, or arrays of different shapes.
    """
    check_merge(merge, "scales.merge_scales")
    if not points or len(points) != len(affines):
        raise InputError("scales.merge_scales", "points", f"one point array per crop map ({len(affines)})", len(points))
    mapped = [_to_base(p, a, base) for p, a in zip(points, affines)]
    if any(m.shape != mapped[0].shape for m in mapped):
        raise InputError("scales.merge_scales", "points", "arrays of one shape [N, K, 2]", [m.shape for m in mapped])
    reduce = np.mean if merge == "mean" else np.median
    return reduce(np.stack(mapped), axis=0).astype(np.float32)
