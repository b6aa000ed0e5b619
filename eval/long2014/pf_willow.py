"""Keypoint transfer on PF-WILLOW (Proposal Flow protocol): Long et al.'s Table 2 question on real images, with
BP flow (the paper's matcher) and the geometric matchers of Hyperpixel Flow and SCOT on the same features.

    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW                  # the validated default
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set method=ot_rhm
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --backbone mobilenet_v2 --set taps=block13
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set features=sift       # or features=none
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --backbone torchvision_alexnet \\
        --set taps=conv4 --set grid=conv4 --set normalise=false --set beta=0.1             # the single-tap row
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set classes="car(S),duck(S)" --set pairs_per_class=9
    convcorr eval pf-willow --root PF-dataset-WILLOW --method rhm --taps conv4_1 conv5_1 --json pck.json

Protocol (PF's `dense_flow_eva_WILLOW.m`): every ordered pair (i, j), i != j, of a sub-class (90 per sub-class);
keypoints of image i moved into image j; PCK against j's keypoints at alpha * max(w, h) of the box of j's valid
keypoints (`metrics.pf_pck`), mean over the pairs of a sub-class, then over sub-classes. A keypoint is valid when
its coordinates are finite and on its image (`valid_keypoints`): padded rows (-1, or -2 once a 1-based -1 is made
0-based) and NaN rows of the target are left out of the box and of the count; a keypoint valid in the target but
not in the source is a miss.

Frames: both images are resized (anisotropically, `geometry.box_to_affine` of the whole image) to `image_size` x
`image_size`. Features (`features`): "cnn" = hyperpixels (`features.hyperpixel.hyperpixel_taps`): each tap of
`taps` read at the nodes of one grid (`grid`: a stride in pixels or a tap), L2-normalised per node when
`normalise`, concatenated; "sift" = dense SIFT at the same nodes; "none" = no features: the zero flow (keypoints
move by the image-to-image scaling of the whole images; no label of the target is used).

Methods (`method`): "bp" = BP flow (`flow.bp.align`, features scaled to a mean column norm of `feature_norm`,
whole target grid as the label window, displacements in pixels of a `paper_side` px image as Long et al. so beta
keeps the paper's meaning; the grid flow is read at the keypoint by bilinear interpolation between the 4 nearest
nodes, edge values held outside the grid). "cos", "rhm", "ot", "ot_rhm" = `correspondence.matching` (each
source node's best target node; a keypoint moves by the mean match of the source nodes within `radius` grid
strides of it, HPF's transfer). The moved point is mapped back to j's pixels by j's resize. A one-tap "bp" row
with `normalise=false` and the tap's own grid is the single-tap conv flow of Long et al.

Settings are chosen on the validation set, the 4 bundled sub-classes (`long2014.pf_willow_validation` writes that
table); scores that count are on the other 6. Prints the mean PCK@0.05 / 0.1 / 0.2 over the sub-classes under
`data_root`; measured numbers are in bench/RESULTS_real.md and docs/results.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from convcorr_jax import geometry, io, metrics
from convcorr_jax.backbones.geometry import grid_centers
from convcorr_jax.config import check_fields
from convcorr_jax.correspondence import matching
from convcorr_jax.correspondence.transfer import TransferConfig, sift_bin_size
from convcorr_jax.data.pf_willow import load_pf_willow, ordered_pairs, pf_willow_classes
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.errors import InputError
from convcorr_jax.features.columns import feature_scale
from convcorr_jax.features.hyperpixel import hyperpixel_taps, resolve_taps, target_grid
from convcorr_jax.features.sift import sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import bilinear_sample
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.long2014 import paper
from convcorr_eval.report import markdown_table, plt, save_figure

METHODS = ("bp",) + matching.METHODS
FEATURES = ("cnn", "sift", "none")
ALPHAS = metrics.PF_ALPHAS
MIN_IMAGE_SIZE = 64  # the smallest frame side (pixels) a run accepts

# The taps of each backbone when `taps` is None: chosen per backbone by `long2014.pf_willow_validation`'s greedy
# tap search (RHM, PCK@0.1 on the validation sub-classes) and its OT + RHM rows; the AlexNet variants share
# torchvision AlexNet's.
DEFAULT_TAPS = {
    "vgg16": ("conv4_1", "conv5_1", "conv5_2"),
    "torchvision_alexnet": ("conv3", "conv4"),
    "bvlc_alexnet": ("conv3", "conv4"),
    "caffenet": ("conv3", "conv4"),
    "mobilenet_v2": ("block12", "block13"),
}
# The grid (stride in pixels) when `grid` is None, per method: chosen by `long2014.pf_willow_validation`.
DEFAULT_GRID = {"bp": 16, "cos": 8, "rhm": 8, "ot": 8, "ot_rhm": 8}


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """features: "cnn" (hyperpixels of `taps`), "sift" (dense SIFT at the same grid nodes) or "none" (zero flow);
    method: "bp" (BP flow) or a matcher of `correspondence.matching` ("cos", "rhm", "ot", "ot_rhm"); taps: tap
    names or roles of `backbone` concatenated in order (None: `DEFAULT_TAPS[backbone]`); grid: the node grid, a
    stride in pixels of the resized image or a tap name / role (None: `DEFAULT_GRID[method]`); normalise:
    L2-normalise each tap per node (false: raw activations); image_size: side of the square both images are
    resized to; beta: BP smoothness weight (displacements in pixels of a `paper_side` image); radius: transfer
    carriers within radius x grid stride of a keypoint (matchers); sift_bin: SIFT bin size in pixels of the resized
    image (None: Long et al.'s radius 20 at stride 16 scaled to the grid stride, `transfer.sift_bin_size`);
    classes: the sub-class folders scored (None: every one under data_root); pairs_per_class: the first N ordered
    pairs of each sub-class (source-major, `data.pf_willow.ordered_pairs`; None: all 90); figure_pairs: pairs drawn.

    Where the defaults come from: backbone, method, taps, grid, image_size and radius are the row with the highest
    mean PCK@0.1 of `long2014.pf_willow_validation` on the 4 bundled sub-classes (PF-WILLOW's validation set; the
    table is in bench/RESULTS_real.md); beta: its best BP row (used with method=bp); taps and grid of the other
    backbones and methods: `DEFAULT_TAPS`, `DEFAULT_GRID` (the same experiment); normalise: its single-tap rows
    with and without;
    iters, levels, window, paper_side, feature_norm: the BP settings of `long2014.table2`, not tuned here."""

    backbone: str = "vgg16"
    data: str = "pf_willow"
    features: str = "cnn"
    method: str = "ot_rhm"
    taps: tuple[str, ...] | None = None
    grid: int | str | None = None
    normalise: bool = True
    image_size: int = 224
    beta: float = 0.01
    radius: float = 2.0
    window: int | None = None  # BP label window in grid cells (None: the whole target grid)
    iters: int = 8
    levels: int = 3
    sift_bin: int | None = None
    paper_side: int = 500
    feature_norm: float = 512.0
    classes: tuple[str, ...] | None = None
    pairs_per_class: int | None = None
    batch: int = 30  # pairs per vmapped BP call (matchers: 8)
    figure_pairs: int = 4

    def __post_init__(self):
        super().__post_init__()
        if self.features not in FEATURES:
            raise InputError("config", "features", f"one of {list(FEATURES)}", self.features)
        if self.method not in METHODS:
            raise InputError("config", "method", f"one of {list(METHODS)}", self.method)
        check_fields(self, positive=("beta", "batch", "paper_side", "feature_norm", "sift_bin", "window", "radius"),
                     at_least_one=("iters", "levels", "pairs_per_class"), nonnegative=("figure_pairs",))
        if self.image_size < MIN_IMAGE_SIZE:
            raise InputError("config", "image_size", f">= {MIN_IMAGE_SIZE} (pixels)", self.image_size)
        if isinstance(self.grid, int) and self.grid < 1:
            raise InputError("config", "grid", "a stride >= 1 (pixels) or a tap", self.grid)
        if self.taps is not None and not self.taps:
            raise InputError("config", "taps", "tap names or roles (comma-separated) or none", self.taps)
        if self.classes is not None and (not self.classes or not all(self.classes)):
            raise InputError("config", "classes", "sub-class folder names (comma-separated) or none", self.classes)

    def check(self) -> None:
        """The taps and a tap grid belong to the backbone, and image_size is large enough for them."""
        self.check_roles(("taps",) + (("grid",) if isinstance(self.grid, str) else ()), ("image_size",))

    @property
    def tap_names(self) -> tuple[str, ...]:
        """`taps`, or the backbone's validated taps when None (roles as given; `resolve_taps` maps them)."""
        return self.taps if self.taps is not None else DEFAULT_TAPS.get(self.backbone, ("conv4",))

    @property
    def grid_spec(self) -> int | str:
        """`grid`, or the method's validated stride when None."""
        return self.grid if self.grid is not None else DEFAULT_GRID[self.method]

    @property
    def label(self) -> str:
        """A short name of the row: "none", "sift <method>" or "<method> <tap+tap>"."""
        if self.features == "none":
            return "none"
        what = "sift" if self.features == "sift" else "+".join(self.tap_names)
        return f"{self.method} {what}"


def get_config(size: str = "default") -> Config:
    return sized(size, {
        "tiny": Config(size=size, pairs_per_class=2, iters=3, image_size=160, figure_pairs=2),
        "default": Config(size=size),
        "full": Config(size=size),
    })


# ------------------------------------------------------------------------------------------------ keypoints


def valid_keypoints(points: np.ndarray, image_hw: tuple[int, int] | None = None) -> np.ndarray:
    """bool [..., K]: keypoints points [..., K, 2] (x, y pixels) with finite coordinates on the image, i.e. within
    the pixel extent [-0.5, w - 0.5] x [-0.5, h - 0.5] (only the lower bound when `image_hw` is None). Padded rows
    (-1, or -2 for a 1-based -1) and NaN rows are invalid."""
    p = np.asarray(points, np.float64)
    ok = np.all(np.isfinite(p), -1)
    with np.errstate(invalid="ignore"):
        ok &= np.all(p >= -0.5, -1)
        if image_hw is not None:
            ok &= (p[..., 0] <= image_hw[1] - 0.5) & (p[..., 1] <= image_hw[0] - 0.5)
    return ok


def keypoint_table(samples: Sequence[KeypointSample]) -> tuple[np.ndarray, np.ndarray]:
    """(points [N, K, 2] float64 with invalid keypoints set to NaN, valid [N, K] bool) of the samples
    (`valid_keypoints` on each sample's image, and its `visible` flags)."""
    pts = np.stack([np.asarray(s.points, np.float64) for s in samples])
    valid = np.stack([valid_keypoints(s.points, None if s.image is None else s.image.shape[:2])
                      & np.asarray(s.visible, bool) for s in samples])
    return np.where(valid[..., None], pts, np.nan), valid


def pair_ground_truth(points: np.ndarray, valid: np.ndarray, pairs: np.ndarray,
                      ids: Sequence[str] | None = None) -> np.ndarray:
    """The target keypoints [P, K, 2] of pairs (i, j) [P, 2] for `metrics.pf_pck`: j's valid keypoints, NaN for
    the others (left out of the box and of the count). InputError for a target with fewer than 2 valid keypoints
    (no keypoint box)."""
    n_valid = valid[pairs[:, 1]].sum(-1)
    if np.any(n_valid < 2):
        j = int(pairs[np.argmax(n_valid < 2), 1])
        raise InputError(ids[j] if ids is not None else f"sample {j}", "keypoints",
                         "at least 2 valid keypoints in a target (its keypoint box)", int(valid[j].sum()))
    return points[pairs[:, 1]]


# ------------------------------------------------------------------------------------------------- features


@dataclasses.dataclass
class Frames:
    """Images resized to a square frame, with features on one node grid.

    M [N, 2, 3] image -> frame affine; crops uint8 [N, S, S, 3]; parts {name: [N, h, w, C_t]} the features of
    each tap (or {"sift": ...}; None for features=none), concatenated by `features`; grid_xy [h, w, 2] frame
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


def frame_boxes(samples: Sequence[KeypointSample]) -> np.ndarray:
    """The whole image of each sample as a box [N, 4] (inclusive pixel bounds)."""
    return np.array([[0, 0, s.image.shape[1] - 1, s.image.shape[0] - 1] for s in samples], np.float64)


def make_frames(samples: Sequence[KeypointSample], boxes: np.ndarray, cfg: Config, backbone, params,
                taps: Sequence[str] | None = None) -> Frames:
    """Crop each sample's `boxes` [N, 4] to cfg.image_size and compute cfg.features on cfg's grid: hyperpixel
    parts of `taps` (default cfg's taps; a validation run passes the union of its rows' taps)."""
    size = cfg.image_size
    M = geometry.box_to_affine(boxes, size)
    crops = geometry.crop_each([s.image for s in samples], M, size, border="edge")
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


# ------------------------------------------------------------------------------------------------- transfer


def flow_at_points(flow: np.ndarray, grid_xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Grid flow [h, w, 2] read at points [K, 2] (frame pixels) by bilinear interpolation between grid nodes
    (points beyond the outermost nodes take the edge values) -> [K, 2]."""
    xs, ys = grid_xy[0, :, 0], grid_xy[:, 0, 1]
    fx = np.interp(points[:, 0], xs, np.arange(len(xs)))
    fy = np.interp(points[:, 1], ys, np.arange(len(ys)))
    return np.asarray(bilinear_sample(jnp.asarray(flow, jnp.float32), jnp.asarray(fx, jnp.float32),
                                      jnp.asarray(fy, jnp.float32)))


def pair_flows(feats: np.ndarray | None, frames: Frames, pairs: np.ndarray, cfg: Config,
               progress: bool = False) -> np.ndarray:
    """BP flow [P, h, w, 2] (dx, dy frame pixels) from frame i to frame j for each pair (i, j) [P, 2] on feats
    [N, h, w, C] (scaled to a mean column norm of cfg.feature_norm here); zero flow when feats is None."""
    h, w = frames.grid_xy.shape[:2]
    if feats is None:
        return np.zeros((len(pairs), h, w, 2), np.float32)
    feats = (feats * feature_scale(feats, cfg.feature_norm)).astype(np.float32)
    bpcfg = bp.BPConfig(cfg.beta, cfg.window, cfg.iters, cfg.levels, "brute")
    out = []
    n = len(pairs)
    for s in tqdm(range(0, n, cfg.batch), desc="BP flow", disable=not progress, leave=False):
        chunk = pairs[s: s + cfg.batch]
        pad = cfg.batch - len(chunk) if n > cfg.batch else 0  # one compiled batch shape
        idx = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)]) if pad else chunk
        res = bp.align_frames(feats[idx[:, 0]], feats[idx[:, 1]], bpcfg, frames.stride, cfg.image_size,
                              cfg.paper_side)
        out.append(np.asarray(res.flow)[: len(chunk)])
    return np.concatenate(out)


def transfer_pairs(frames: Frames, points: np.ndarray, pairs: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Source keypoints points[i] [K, 2] (image pixels) moved through flows [P, h, w, 2] into target image pixels
    for each pair (i, j) -> [P, K, 2]."""
    inv = geometry.invert_affine(frames.M)
    out = np.empty((len(pairs), points.shape[1], 2), np.float64)
    for p, (i, j) in enumerate(pairs):
        q = geometry.transform_points(np.asarray(points[i], np.float64), frames.M[i])
        moved = q + flow_at_points(flows[p], frames.grid_xy, q)
        out[p] = geometry.transform_points(moved, inv[j])
    return out


_transfer_batch = jax.jit(jax.vmap(matching.transfer_keypoints, in_axes=(0, None, None, 0, None)))


def match_transfer(feats: np.ndarray, frames: Frames, points: np.ndarray, pairs: np.ndarray, cfg: Config,
                   batch: int = 8, progress: bool = False) -> np.ndarray:
    """Keypoints points[i] [K, 2] (image pixels) of each pair (i, j) [P, 2] moved into image j's pixels by the
    matcher cfg.method on feats [N, h, w, C] (`matching.match_best`, uniform OT marginals) and HPF's transfer
    (`matching.transfer_keypoints`, carriers within cfg.radius grid strides). Returns [P, K, 2]."""
    n, h, w, c = feats.shape
    f = jnp.asarray(feats.reshape(n, h * w, c))
    xy = jnp.asarray(frames.grid_xy.reshape(-1, 2), jnp.float32)
    size = (cfg.image_size, cfg.image_size)
    mcfg = matching.MatchConfig(method=cfg.method)
    inv = geometry.invert_affine(frames.M)
    out = np.empty((len(pairs), points.shape[1], 2))
    for s in tqdm(range(0, len(pairs), batch), desc=cfg.method, disable=not progress, leave=False):
        chunk = pairs[s:s + batch]
        real = len(chunk)
        if real < batch and len(pairs) > batch:  # one compiled batch shape
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real, 0)])
        best, _ = matching.match_best(f[jnp.asarray(chunk[:, 0])], f[jnp.asarray(chunk[:, 1])], xy, xy, size, size,
                                      mcfg)
        q = geometry.transform_points(points[chunk[:, 0]], frames.M[chunk[:, 0]])
        moved = np.asarray(_transfer_batch(best, xy, xy, jnp.asarray(q, jnp.float32), cfg.radius * frames.stride),
                           np.float64)
        out[s:s + real] = geometry.transform_points(moved, inv[chunk[:, 1]])[:real]
    return out


def evaluate_set(samples: Sequence[KeypointSample], boxes: np.ndarray, groups: np.ndarray, cfg: Config, backbone,
                 params, pairs: np.ndarray, progress: bool = False) -> dict:
    """Transfer along `pairs` [P, 2] (indices into samples) and score with the PF PCK by `groups` [P].

    Returns {"pck" (`metrics.pf_pck`), "pred" [P, K, 2], "flows" (BP and none; else None), "frames", "seconds"}."""
    t0 = time.perf_counter()
    frames = make_frames(samples, boxes, cfg, backbone, params)
    return dict(score_frames(frames, samples, pairs, groups, cfg, progress), seconds=time.perf_counter() - t0)


def predict(frames: Frames, points: np.ndarray, pairs: np.ndarray, cfg: Config, taps: Sequence[str] | None = None,
            progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Source keypoints points [N, K, 2] (image pixels, NaN where invalid) moved into the targets of `pairs`
    [P, 2] by cfg.method on the frames' features (the parts `taps`; None: all). Returns (pred [P, K, 2], NaN where
    the source keypoint is invalid; flows [P, h, w, 2] for BP and features=none, else None)."""
    missing = ~np.all(np.isfinite(points), -1)
    src = np.where(missing[..., None], 0.0, points)
    feats = frames.features(None if taps is None or frames.parts is None or "sift" in frames.parts
                            else resolve_names(frames, taps))
    flows = None
    if feats is None or cfg.method == "bp":
        flows = pair_flows(feats, frames, pairs, cfg, progress)
        pred = transfer_pairs(frames, src, pairs, flows)
    else:
        pred = match_transfer(feats, frames, src, pairs, cfg, progress=progress)
    pred[missing[pairs[:, 0]]] = np.nan
    return pred, flows


def resolve_names(frames: Frames, taps: Sequence[str]) -> list[str]:
    """The part names of `frames` for `taps` (already resolved tap names, as `make_frames` stores them)."""
    unknown = [t for t in taps if t not in frames.parts]
    if unknown:
        raise InputError("frames", "taps", f"taps computed for these frames ({', '.join(frames.parts)})",
                         ", ".join(unknown))
    return list(taps)


def score_frames(frames: Frames, samples: Sequence[KeypointSample], pairs: np.ndarray, groups: np.ndarray,
                 cfg: Config, progress: bool = False, taps: Sequence[str] | None = None) -> dict:
    """cfg.method along `pairs` on precomputed `frames` (the parts `taps`, resolved names; None: all), PF PCK by
    `groups`. Returns {"pck" (`metrics.pf_pck`), "pred" [P, K, 2], "flows", "frames"}."""
    points, valid = keypoint_table(samples)
    gt = pair_ground_truth(points, valid, pairs, [s.id for s in samples])
    pred, flows = predict(frames, points, pairs, cfg, taps, progress)
    return {"pck": metrics.pf_pck(pred, gt, groups, ALPHAS), "pred": pred, "flows": flows, "frames": frames}


def select_classes(root: str | os.PathLike, classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The sub-class folders under `root` to score: `classes` in their order (None: all present); InputError for
    a name that is not there, naming the ones present."""
    present = pf_willow_classes(root)
    if classes is None:
        return present
    unknown = [c for c in classes if c not in present]
    if unknown:
        raise InputError(root, "classes", f"sub-class folders present there ({', '.join(present)})",
                         ", ".join(unknown))
    return tuple(classes)


def check_pairs(root: str | os.PathLike, classes: Sequence[str]) -> None:
    """InputError for a sub-class folder with fewer than 2 annotated images (no ordered pair to score)."""
    for sub in classes:
        n = len(load_pf_willow(root, classes=[sub], with_images=False))
        if n < 2:
            raise InputError(Path(root) / sub, "images", "at least 2 annotated images (one ordered pair)", n)


def pf_willow_set(root: str | os.PathLike, pairs_per_class: int | None = None,
                  classes: Sequence[str] | None = None) -> tuple[list[KeypointSample], np.ndarray, np.ndarray]:
    """(samples with images, ordered pairs [P, 2] (source i, target j) within each sub-class, sub-class per pair
    [P]) of the sub-classes `classes` (None: all, `select_classes`), the first `pairs_per_class` ordered pairs of
    each (None: all)."""
    samples, pairs, groups = [], [], []
    classes = select_classes(root, classes)
    check_pairs(root, classes)
    for sub in classes:
        s = load_pf_willow(root, classes=[sub], with_images=True)
        pp = ordered_pairs(len(s))[:pairs_per_class] + len(samples)
        samples += list(s)
        pairs.append(pp)
        groups += [sub] * len(pp)
    return samples, np.concatenate(pairs), np.array(groups)


def run_pf_willow(cfg: Config, backbone=None, params=None, progress: bool = False) -> dict:
    """`evaluate_set` on PF-WILLOW under `cfg.data_root`; adds "samples", "pairs", "groups"."""
    require_data(cfg, ("pf_willow",))
    if backbone is None:
        backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    samples, pairs, groups = pf_willow_set(cfg.data_root, cfg.pairs_per_class, cfg.classes)
    out = evaluate_set(samples, frame_boxes(samples), groups, cfg, backbone, params, pairs, progress)
    return dict(out, samples=samples, pairs=pairs, groups=groups)


# ----------------------------------------------------------------------------------------------- reporting


def setting_text(cfg: Config) -> str:
    """One line naming the row's settings (features, method, taps, grid, size, beta or radius)."""
    if cfg.features == "none":
        return f"no flow (whole-image scaling), frame {cfg.image_size} px"
    feats = "dense SIFT" if cfg.features == "sift" else (
        f"{cfg.backbone} ({cfg.weights or 'pretrained'}) {'+'.join(cfg.tap_names)}"
        + ("" if cfg.normalise else ", raw activations"))
    how = (f"BP beta {cfg.beta:g}, {cfg.levels} levels x {cfg.iters} iterations" if cfg.method == "bp"
           else f"{cfg.method}, radius {cfg.radius:g} grid strides")
    return f"{feats}, grid {cfg.grid_spec}, frame {cfg.image_size} px, {how}"


def pck_markdown(pck: dict, label: str) -> str:
    """PCK per sub-class at each alpha beside the published PF-WILLOW numbers."""
    subs = [c for c in pck["0.1"] if c != "mean"]
    rows = [[f"ours, {label}, alpha {a}"] + [100 * pck[a][c] for c in subs] + [100 * pck[a]["mean"]]
            for a in pck]
    for peer in (paper.PF_WILLOW_SIFTFLOW_CPP, paper.PF_WILLOW_SIFTFLOW_CPP_256):
        rows += [[f"SIFT Flow C++ ({peer['protocol']}), alpha {a}"]
                 + [100 * peer["per_subclass"][c] if a == "0.1" and c in peer.get("per_subclass", {}) else "-"
                    for c in subs]
                 + [100 * peer["pck"][a]] for a in peer["pck"]]
    pub = "; ".join(f"{m} {v}" for m, v in paper.PF_WILLOW_PCK01.items())
    return "\n".join([markdown_table(["method", *subs, "mean"], rows), "",
                      f"Published PF-WILLOW PCK@0.1 (all 10 sub-classes, alpha x the target's keypoint box; "
                      f"{paper.PF_WILLOW_PCK01_SOURCE}): {pub}."])


def figure(path: Path, out: dict, n: int = 4) -> None:
    """Source images with their keypoints, and the targets with the transferred (red) and true (green) ones."""
    pairs, samples = out["pairs"], out["samples"]
    groups = out["groups"]
    pick = [int(np.flatnonzero(groups == g)[0]) for g in dict.fromkeys(groups)][:n]
    fig, axes = plt.subplots(len(pick), 2, figsize=(6, 2.4 * len(pick)), squeeze=False)
    for r, p in enumerate(pick):
        i, j = pairs[p]
        axes[r, 0].imshow(samples[i].image)
        axes[r, 0].scatter(*np.asarray(samples[i].points).T, s=10, c=np.arange(len(samples[i].points)), cmap="tab10")
        axes[r, 0].set_title(f"source {samples[i].id}", fontsize=7)
        axes[r, 1].imshow(samples[j].image)
        axes[r, 1].scatter(*np.asarray(samples[j].points).T, s=10, c="lime", marker="x")
        axes[r, 1].scatter(*out["pred"][p].T, s=10, c=np.arange(len(out["pred"][p])), cmap="tab10")
        for a, b in zip(out["pred"][p], np.asarray(samples[j].points)):
            axes[r, 1].plot([a[0], b[0]], [a[1], b[1]], "r-", lw=0.6)
        axes[r, 1].set_title(f"target {samples[j].id} (x: truth)", fontsize=7)
    for a in axes.ravel():
        a.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def run(cfg: Config, ctx: Context) -> Result:
    out = run_pf_willow(cfg, progress=ctx.progress)
    pck = out["pck"]
    fig = ctx.figures / "pf_willow_transfer.png"
    figure(fig, out, cfg.figure_pairs)
    md = [pck_markdown(pck, cfg.label), "",
          f"{len(out['pairs'])} ordered pairs; {setting_text(cfg)}; {out['seconds']:.0f} s.", ""]
    md += ["The bundled sub-classes are PF-WILLOW's validation set: every setting was chosen on them "
           "(`long2014.pf_willow_validation`), so numbers on them are validation numbers.", ""]
    md += [f"![transferred keypoints](figures/{fig.name})", ""]
    m = pck
    summary = (f"PF-WILLOW ({len(out['pairs'])} pairs, {cfg.label}): mean PCK@0.05 {m['0.05']['mean']:.3f}, "
               f"@0.1 {m['0.1']['mean']:.3f}, @0.2 {m['0.2']['mean']:.3f}")
    return Result(summary, "\n".join(md), {"pck": pck, "pairs": int(len(out["pairs"])), "seconds": out["seconds"]})


def run_name(cfg: Config) -> str:
    """The run folder name of `convcorr eval pf-willow`: long2014.pf_willow_<row>_<backbone> (row: "none",
    "sift[_<method>]" or "<method>_<tap+tap>"), then the frame size when not 224, the weights (random or the file's
    stem), the sub-classes and the pairs per sub-class where they are set."""
    if cfg.features == "cnn":
        parts = [cfg.method, "+".join(cfg.tap_names)]
    else:
        parts = [cfg.features] + ([cfg.method] if cfg.features == "sift" and cfg.method != "bp" else [])
    parts.append(cfg.backbone)
    if cfg.image_size != Config.image_size:
        parts.append(f"{cfg.image_size}px")
    if cfg.weights is not None:
        parts.append(Path(cfg.weights).stem)
    if cfg.classes is not None:
        parts.append("+".join("".join(ch for ch in c if ch.isalnum()) for c in cfg.classes))
    if cfg.pairs_per_class is not None:
        parts.append(f"{cfg.pairs_per_class}pairs")
    return "long2014.pf_willow_" + "_".join(parts)


def pf_willow_command(root: str | os.PathLike, features: str = "cnn", backbone: str | None = None,
                      weights: str | None = None, json_out: str | os.PathLike | None = None,
                      progress: bool = True, **fields) -> dict:
    """All ordered pairs of every sub-class under `root` with the default settings (`fields`: other Config
    fields); returns and (if `json_out`) writes atomically {"pck": {"0.05": {"<sub-class>": v, ..., "mean": v},
    ...}, "pairs": N, "seconds": s}."""
    cfg = get_config("default")
    cfg = dataclasses.replace(cfg, data_root=os.fspath(root), features=features, backbone=backbone or cfg.backbone,
                              weights=weights, **fields)
    cfg.check()
    t0 = time.perf_counter()
    out = run_pf_willow(cfg, progress=progress)
    res = {"pck": out["pck"], "pairs": int(len(out["pairs"])), "seconds": round(time.perf_counter() - t0, 1)}
    if json_out is not None:
        io.write_json(json_out, res)
    return res


if __name__ == "__main__":
    from convcorr_cli.main import main

    sys.exit(main(["run", "long2014.pf_willow", *sys.argv[1:]]))
