"""Semantic point transfer: points of image a moved to the corresponding places of image b.

    t = transfer_points(image_a, image_b, [[120, 80], [200, 150]])     # validated defaults (PointTransferConfig)
    t.points       # [K, 2] (x, y) pixels of image b
    t.confidence   # [K] cosine similarity of the features at the source point and at the transferred point

The default method is the one validated on PF-WILLOW (`point_config.PointTransferConfig`; `describe()` says what
a config runs): SCOT's optimal transport + Hough matching on VGG-16 hyperpixels conv4_1 + conv5_1 + conv5_2 with
MobileNetV2's block13 + block14 and EfficientNet-Lite2's block14 + block18 beside them, OT marginals from
MobileNetV2's CAM foreground prior, images resized to 224 x 224 px, a node every 8 px, a point carried by the
nodes within 3 grid strides whose matches lie within 4 strides of their median, each node's offset to the point
scaled per axis by how much wider the matches spread than their nodes. Every method of the PF-WILLOW
experiment works here ("ot_rhm", "rhm", "ot", "cos", "bp"; features "cnn", "sift", "none"): `frames` resizes and
computes features, `frame_transfer` moves the points.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, NamedTuple, Sequence

import numpy as np
import numpy.typing as npt

from convcorr_jax.core import geometry
from convcorr_jax.backbones.preprocess import check_images
from convcorr_jax.backbones.registry import get as get_backbone
from convcorr_jax.backbones.registry import spec as backbone_spec
from convcorr_jax.correspondence.frame_transfer import move_points, projected, similarity_at
from convcorr_jax.correspondence.frames import frame_boxes, make_frames
from convcorr_jax.correspondence.point_config import FEATURES, METHODS, PointTransferConfig
from convcorr_jax.core.errors import InputError, check_shape
from convcorr_jax.weights import load_backbone

__all__ = ["FEATURES", "METHODS", "PointTransferConfig", "Transfer", "transfer_points",
           "valid_keypoints"]

SOURCE = "transfer_points"


class Transfer(NamedTuple):
    """What `transfer_points` returns, numpy arrays; they carry a leading pair axis [P, ...] when pairs were given
    as lists.

    points: [K, 2] float64 (x, y) pixels of image b (0-based, pixel centres at integers); NaN where the source
      point is not a valid point of image a (`valid_keypoints`) or is padding, and for every point of a pair where
      image a or b has the same feature column at every node (nothing to match: SIFT of a flat image, all zero).
      Not clamped to image b: a point carried by its nodes' matches plus its (scaled) offset from them can lie
      outside b (`valid_keypoints(points, image_b.shape[:2])` tells which).
    confidence: [K] float64, the cosine similarity between the feature column of image a at the source point and
      that of image b at the transferred point (both read bilinearly between grid nodes from the features the
      method matched: L2-normalised hyperpixels, or SIFT). Unitless, 1 = identical columns; in [0, 1] for
      non-negative features (ReLU taps such as VGG-16's, SIFT), in [-1, 1] where a network's taps are linear
      (MobileNetV2's and EfficientNet-Lite2's blocks of the default: about half their entries are negative, and a
      poor match can score below 0); NaN where the point is NaN and for features="none".
    grid: [h, w, 2] float64 (x, y) pixels of image a of the grid nodes; None unless `with_field`.
    field: [h, w, 2] float64 (x, y) pixels of image b each node of a is matched to (BP: the node moved by its flow;
      matchers: its best target node; NaN where the pair's points are all NaN for want of features); None unless
      `with_field`.
    """

    points: np.ndarray
    confidence: np.ndarray
    grid: np.ndarray | None = None
    field: np.ndarray | None = None


def valid_keypoints(points: np.ndarray, image_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Keypoints with finite coordinates on the image.

    Padded rows (-1, or -2 for a 1-based -1) and NaN rows are invalid.

    Args:
      points: [..., K, 2] (x, y) pixels, 0-based.
      image_hw: (h, w) of the image: points must lie within the pixel extent [-0.5, w - 0.5] x [-0.5, h - 0.5]
        (None: only the lower bound).

    Returns:
      bool numpy [..., K].
    """
    p = np.asarray(points, np.float64)
    ok = np.all(np.isfinite(p), -1)
    with np.errstate(invalid="ignore"):
        ok &= np.all(p >= -0.5, -1)
        if image_hw is not None:
            ok &= (p[..., 0] <= image_hw[1] - 0.5) & (p[..., 1] <= image_hw[0] - 0.5)
    return ok


def _load_network(name: str, weights: str | os.PathLike | None = None, seed: int = 0) -> tuple[Any, Any]:
    """`weights.load_backbone(name, weights, seed)`, loaded once per process and registration and kept (a weight
    file is read once: a file changed afterwards is not reloaded; a backbone registered again is loaded again).

    Args:
      name: a backbone name (`backbones.NAMES`).
      weights: None (its real pretrained weights), "random" or a weight file.
      seed: the seed of random weights.

    Returns:
      (Backbone, params).
    """
    return _load_model(backbone_spec(name), name, None if weights is None else str(weights), seed)


def side_models(cfg: PointTransferConfig, weights: str | os.PathLike | None = None) -> dict:
    """The networks `frames.make_frames` needs beside the backbone, loaded once (`_load_network`).

    Args:
      cfg: the point-transfer settings.
      weights: the backbone's weights as given to `transfer_points`: None (real pretrained ones everywhere),
        "random" (every feature network random; the prior's classifier keeps its real ImageNet
        weights) or a weight file, which holds cfg.backbone's weights: it is used for an
        extra or third network only where that network is cfg.backbone; the others keep their real pretrained ones.

    Returns:
      {"extra": the (backbone, params) of cfg.extra_backbone, "third": cfg.third_backbone's (weights as above),
      "prior": cfg.prior's classifier with its real ImageNet weights}, each None when unused (features other than
      "cnn" and BP flow use none).
    """
    cnn = cfg.features == "cnn" and cfg.resolved_method != "bp"

    def side(name: str | None):
        if not cnn or name is None:
            return None
        own = weights is None or str(weights) == "random" or name == cfg.backbone
        return _load_network(name, None if weights is None or not own else str(weights))

    return {"extra": side(cfg.extra_backbone), "third": side(cfg.third_backbone),
            "prior": _load_network(cfg.prior) if cnn and cfg.prior is not None else None}


@functools.cache
def _load_model(spec, name: str, weights: str | None, seed: int) -> tuple[Any, Any]:
    return load_backbone(name, weights, seed)


def transfer_points(image_a: np.ndarray | Sequence[np.ndarray], image_b: np.ndarray | Sequence[np.ndarray],
                    points_a: npt.ArrayLike, method: str | None = None, backbone: str | None = None, *,
                    weights: str | os.PathLike | None = None, model: tuple[Any, Any] | None = None,
                    config: PointTransferConfig | None = None, with_field: bool = False, progress: bool = False,
                    **settings: Any) -> Transfer:
    """Move points of image a to the corresponding places of image b (semantic correspondence).

    Args:
      image_a, image_b: uint8 RGB [H, W, 3] images, any sizes. Or, for many pairs at once, lists of P images each
        (or arrays [P, H, W, 3]): the pairs are matched in batches of `match_batch` pairs (BP flow: `batch`);
        more pairs than one batch run in full batches, the last one padded, so the matcher compiles one batch
        shape for any such P, while fewer pairs run as one batch of P (compiled once per P). The steps that read
        every frame at once (the CAM prior, picking each batch's features) compile once per number of distinct
        images. An image given as the same array object in several pairs has its features computed once. Each
        pair's points are those it gets alone (BP flow scales its features over the pair's own two images).
      points_a: [K, 2] (x, y) pixels of image a, 0-based, pixel centres at integers; for pairs, a list of P arrays
        [K_p, 2] (or [P, K, 2]), point sets of different sizes padded with NaN to the largest K. The points are
        moved in buckets of K, a power of two, at least 8 (1 to 8 points compile one program, 9 to 16 another,
        ...), the padding dropped: a point moves the same whatever other points share its bucket.
      method, backbone: override `config`'s (a method of `point_config.METHODS`, a backbone of
        `backbones.NAMES`, a registered one included).
      weights: None (the backbone's real pretrained weights, or a registered backbone's own), "random" (seeded
        initialisation, the extra and third networks too) or the backbone's weight file (the extra and third
        networks keep their real pretrained weights unless they are the backbone; `side_models`), loaded once per
        process (`_load_network`).
      model: a preloaded (backbone, params) used instead of loading one (its backbone sets `backbone`).
      config: the settings (default: `PointTransferConfig()`, the validated setting).
      with_field: also return the dense correspondence field (`Transfer.grid`, `Transfer.field`).
      progress: progress bars over the batches.
      **settings: any other field of `PointTransferConfig` (taps=, grid=, radius=, image_size=, features=, ...).

    Returns:
      A `Transfer`: points [K, 2] float64 in image b's pixels and confidence [K] (cosine similarity, -1..1), or
      [P, K, ...] for lists. A source point that is not finite or lies off image a gives NaN; so does every
      point (and the field) of a pair where image a or b has one feature column at every node (a flat image's
      all-zero SIFT): there is nothing to match, and the matches would be arbitrary nodes.

    Raises:
      InputError naming the argument for bad input: an image that is not uint8 RGB [H, W, 3], points that are not
      [K, 2] numbers, lists of different lengths, an unknown method, backbone or setting.
    """
    cfg = _config(config, method, backbone, model, settings)
    if model is not None and weights is not None:
        raise InputError(SOURCE, "weights", "none when model (backbone, params) is given", weights)
    batched = isinstance(image_a, (list, tuple)) or getattr(image_a, "ndim", 3) == 4
    images_a, images_b, points = _pairs(image_a, image_b, points_a, batched)
    if model is not None:
        bb, params = model
    elif cfg.features == "cnn":
        bb, params = _load_network(cfg.backbone, None if weights is None else str(weights))
    else:  # SIFT or no features: the backbone's geometry only (a tap grid)
        bb, params = get_backbone(cfg.backbone), None
    cfg.check_backbone(bb)

    images: list[np.ndarray] = []
    index: dict[int, int] = {}  # id of an image given -> its position in `images`
    for im in (*images_a, *images_b):  # each distinct array object once, in order of first use
        index.setdefault(id(im), len(images))
        if index[id(im)] == len(images):
            images.append(im)
    pairs = np.array([[index[id(a)], index[id(b)]] for a, b in zip(images_a, images_b)], np.int64)
    src = np.where(np.stack([valid_keypoints(p, im.shape[:2]) for p, im in zip(points, images_a)])[..., None],
                   points, np.nan)

    frames = make_frames(images, frame_boxes(images), cfg, bb, params, sources=pairs[:, 0],
                         **side_models(cfg, weights))
    pred, flows = move_points(frames, src, pairs, cfg, progress=progress, per_pair=True)
    raw = frames.features()
    feats = projected(raw, cfg)
    if raw is None or feats is None:  # both or neither
        confidence = np.full(pred.shape[:2], np.nan)
    else:
        confidence = similarity_at(feats, frames.grid_xy, pairs, geometry.transform_points(src, frames.M[pairs[:, 0]]),
                                   geometry.transform_points(pred, frames.M[pairs[:, 1]]))
        blank = _uniform_frames(raw)
        empty = blank[pairs[:, 0]] | blank[pairs[:, 1]]
        pred[empty], confidence[empty], flows[empty] = np.nan, np.nan, np.nan
    grid = field = None
    if with_field:
        inv = geometry.invert_affine(frames.M)
        nodes = np.broadcast_to(frames.grid_xy.astype(np.float64), flows.shape)
        grid = geometry.transform_points(nodes.reshape(len(pairs), -1, 2), inv[pairs[:, 0]]).reshape(flows.shape)
        field = geometry.transform_points((nodes + flows).reshape(len(pairs), -1, 2),
                                          inv[pairs[:, 1]]).reshape(flows.shape)
    out = Transfer(pred, confidence, grid, field)
    if batched:
        return out
    return Transfer(pred[0], confidence[0], None if grid is None else grid[0], None if field is None else field[0])


def _uniform_frames(feats: np.ndarray) -> np.ndarray:
    """Frames whose nodes all have the same feature column (all zero: SIFT of a flat image), where every match is a
    tie and the matched nodes say nothing about the image.

    Args:
      feats: [N, h, w, C] the frames' features.

    Returns:
      bool [N].
    """
    f = feats.reshape(len(feats), -1, feats.shape[-1])
    return np.all(f == f[:, :1], axis=(1, 2))


def _config(config: PointTransferConfig | None, method: str | None, backbone: str | None,
            model: tuple | None, settings: dict) -> PointTransferConfig:
    """`config` (default: the validated one) with the arguments applied; InputError naming a bad argument."""
    cfg = PointTransferConfig() if config is None else config
    if not isinstance(cfg, PointTransferConfig):
        raise InputError(SOURCE, "config", "a PointTransferConfig", type(cfg).__name__)
    names = {f.name for f in dataclasses.fields(PointTransferConfig)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise InputError(SOURCE, unknown[0], f"a field of PointTransferConfig ({', '.join(sorted(names))})",
                         settings[unknown[0]])
    if model is not None:
        if not (isinstance(model, tuple) and len(model) == 2 and hasattr(model[0], "geometry")):
            raise InputError(SOURCE, "model", "a (backbone, params) pair, as weights.load_backbone returns",
                             type(model).__name__)
        if backbone is not None and backbone != model[0].name:
            raise InputError(SOURCE, "backbone", f"the model's backbone ({model[0].name}) or none", backbone)
        backbone = model[0].name
    over = dict(settings)
    if method is not None:
        over["method"] = method
    if backbone is not None:
        over["backbone"] = backbone
    return dataclasses.replace(cfg, **over) if over else cfg


def _pairs(image_a, image_b, points_a, batched: bool) -> tuple[list, list, np.ndarray]:
    """(images a, images b, points [P, K, 2] float64) of the pairs, each checked; InputError naming the
    argument (and the pair) that is wrong."""
    if not batched:
        image_a, image_b, points_a = [image_a], [image_b], [points_a]
        names = ("image_a", "image_b", "points_a")
    else:
        if not isinstance(image_b, (list, tuple)):
            check_shape(image_b, "P H W C", SOURCE, "image_b", note="or a list of images (image_a is a list)")
        if isinstance(points_a, np.ndarray):
            check_shape(points_a, "P K 2", SOURCE, "points_a", note="or a list of [K, 2] (image_a is a list)")
        n = len(image_a)
        if n < 1:
            raise InputError(SOURCE, "image_a", "at least one image", 0)
        for name, v in (("image_b", image_b), ("points_a", points_a)):
            if len(v) != n:
                raise InputError(SOURCE, name, f"{n} items (one per image_a)", len(v))
        names = None
    images_a, images_b, pts = [], [], []
    for p, (a, b, q) in enumerate(zip(image_a, image_b, points_a)):
        at = (lambda s: s) if names else (lambda s: f"{s}[{p}]")
        images_a.append(check_images(a if hasattr(a, "dtype") else np.asarray(a), SOURCE, at("image_a"), 3))
        images_b.append(check_images(b if hasattr(b, "dtype") else np.asarray(b), SOURCE, at("image_b"), 3))
        try:
            if np.iscomplexobj(q):  # np.asarray(q, float64) kept the real parts with a ComplexWarning only
                raise TypeError
            q = np.asarray(q, np.float64)
        except (TypeError, ValueError):
            raise InputError(SOURCE, at("points_a"), "numbers (x, y pixels)", type(q).__name__) from None
        check_shape(q, "K>=1 2", SOURCE, at("points_a"), note="(x, y) pixels")
        pts.append(q)
    k = max(len(q) for q in pts)
    padded = np.full((len(pts), k, 2), np.nan)
    for p, q in enumerate(pts):
        padded[p, :len(q)] = q
    return images_a, images_b, padded
