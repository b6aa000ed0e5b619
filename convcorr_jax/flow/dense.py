"""Dense coarse-to-fine flow over a feature pyramid, solved by `flow.bp` at every level (beyond Long et al.).

    flows = dense_flows(A, B, backbone, params)     # A, B uint8 [N, H, W, 3] -> [N, H, W, 2] (vmap over pairs)
    out = flow.align.align_images(a, b, backbone, params, DenseConfig())   # one pair of any sizes: out.flow [H, W, 2]

Flow (dx, dy) in pixels of a: pixel p of a corresponds to p + flow[p] in b.

The conv taps run on the images resized to a longer side of at most `top_side` px (the coarse levels look at
the same image content at every input size); the pixel levels run on the images as given. Levels, coarse to fine:
  1. the conv4-role tap of the backbone on its grid, labels = the whole target grid (`bp.solve_flow`, the paper's
     matcher and energy);
  2. the finer conv roles (one per distinct stride below conv4's, e.g. conv2 at 8 px and conv1 at 4 px);
  3. pixel features (`"sift"`, the default: dense SIFT per pixel, 128 channels, `features.sift.sift_dense`; or
     `"grad"`: smoothed orientation-binned gradients, 8 channels) of the images binned s x s (`binned`), s
     halving from the finest conv level's stride down to 1 px; one node and one label step per binned pixel; the
     last level's labels are refined to sub-pixel by minimising that level's energy with each node's data cost
     replaced by its parabola through the chosen label and its neighbours (the pairwise term exact).
Below the top, each node searches a small window of (2r + 1)^2 labels (r = `radius`, `finest_radius` on the
last level) around the flow of the level above (bilinearly upsampled, and rounded to whole cells on the pixel
levels): label d means flow = init + d * step. The energy is the paper's: data term ||f_a(p) - f_b(p + flow(p))||_2
(target features sampled bilinearly on the conv levels; every level's features are scaled to a mean column norm
of 512) and pairwise term beta * ||flow(p) - flow(q)||^2 on the flow itself, in pixels of a 500 px image as in
`flow.align`; each node's label window sits at its own origin, which `bp_solver.solve(..., offsets=)` handles with
exact DT messages. `smooth="residual"` penalises the labels only (the upsampled flow's own differences are
free; compared with the default on the validation pairs in bench/RESULTS_flow.md).
Contrast-sensitive smoothness (`edge_sigma`, on by default; beyond the paper's energy, `edge_sigma=None` restores
it): below the top, each edge's pairwise term is multiplied by exp(-(g_p - g_q)^2 / (2 sigma^2)), g = image a's
grey (0..1) averaged over the level's cell at the node centres (`_contrast_factors`), so the flow can jump where
the image has an edge; messages stay exact (`bp_solver.solve(..., edge_scale=)`).

The defaults were chosen on validation pairs (`bench/flow_dense_validation.py`: layered stereo scenes textured
with FLIC training images, 256 and 512 px), never on the Middlebury pair that `bench/flow_dense.py` reports.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from convcorr_jax.core import exported, parallel
from convcorr_jax.backbones.base import Backbone
from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import check, check_shape
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import gradient_channels, sift_dense, to_grey
from convcorr_jax.flow import bp, bp_solver
from convcorr_jax.flow.dense_level import Level, _subpixel, _window_cost
from convcorr_jax.flow.warp import bilinear_sample
from convcorr_jax.core.long_frame import FEATURE_NORM, FRAME_PX

PIXEL_FEATURES = ("grad", "sift")
SMOOTHNESS = ("flow", "residual")
MIN_FACTOR = 1e-6  # smallest contrast-sensitive factor of the pairwise term


@dataclasses.dataclass(frozen=True)
class DenseConfig:
    """Dense flow settings. beta: top level (paper's meaning); beta_fine: levels below, both with displacements in
    pixels of a 500 px image. radius: label window half-width (labels) below the top; fine_strides: pixel-feature
    levels (px); subpixel: refine the last level's labels to sub-pixel (`dense_level._subpixel`), subpixel_iters
    Jacobi sweeps on the level's energy with each data cost replaced by its parabola (0: each node's parabola
    alone)."""

    beta: float = 0.1
    beta_fine: float = 2.0
    iters: int = 8  # BP iterations per multigrid level, top
    levels: int = 3  # multigrid levels, top
    fine_iters: int = 8
    fine_levels: int = 1
    radius: int = 2
    finest_radius: int | None = None  # window half-width of the last (1 px) level; None: radius
    finest_iters: int | None = None  # BP iterations of the last level; None: fine_iters
    pixel_features: str = "sift"
    finest_features: str | None = None  # pixel features of the last pixel level; None: pixel_features
    fine_strides: tuple[int, ...] | None = None  # None: halving from the finest conv level's stride down to 1 px
    top_side: int | None = None  # conv taps run on the images resized to this longer side at most (None: as given)
    subpixel: bool = True
    subpixel_iters: int = 10  # sub-pixel step: Jacobi sweeps on the level's energy (0: each node's data parabola alone)
    conv_roles: tuple[str, ...] = ("conv3", "conv2", "conv1")  # candidates below conv4 (one per finer stride)
    sift_bin: int = 2
    grad_sigma: float = 1.5
    smooth: str = "flow"  # pairwise term below the top on the flow itself (the paper's), or "residual" labels
    # px: below the top, beta_fine * min(||f_p - f_q||^2, truncation^2) (None: the paper's)
    truncation: float | None = None
    # below the top: each edge's term times exp(-(g_p - g_q)^2 / (2 sigma^2)) (None: the paper's)
    edge_sigma: float | None = 0.1

    def __post_init__(self):
        check_types(self, "DenseConfig")
        check_fields(self, positive=("beta", "beta_fine", "grad_sigma", "truncation", "edge_sigma"),
                     nonnegative=("radius", "finest_radius", "subpixel_iters"),
                     at_least_one=("iters", "levels", "fine_iters", "fine_levels", "finest_iters", "fine_strides",
                                   "top_side", "sift_bin"),
                     finite=("beta", "beta_fine", "grad_sigma"),  # truncation, edge_sigma: inf is None's result
                     source="DenseConfig")
        for field, allowed in (("pixel_features", PIXEL_FEATURES), ("finest_features", PIXEL_FEATURES),
                               ("smooth", SMOOTHNESS)):
            value = getattr(self, field)
            check(value is None or value in allowed, "DenseConfig", field, f"one of {list(allowed)}", value)


def _centres(rf, n: int, k: float) -> np.ndarray:
    """Pixel centres (in the full image) of n tap cells computed on an image scaled by 1 / k."""
    return (rf.offset + rf.stride * np.arange(n) + 0.5) * k - 0.5


def _taps(backbone, cfg: DenseConfig) -> list[str]:
    """conv4's tap, then one tap per distinct finer stride among `conv_roles` (the deepest of each stride)."""
    top = backbone.roles["conv4"]
    taps, last = [top], backbone.geometry[top].stride
    for role in cfg.conv_roles:
        t = backbone.roles.get(role)
        if t is None or t not in backbone.geometry or t in taps:
            continue
        if backbone.geometry[t].stride < last:
            taps.append(t)
            last = backbone.geometry[t].stride
    return taps


def _blur(x: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian blur of x [H, W, C] (edge-replicated)."""
    r = max(1, int(np.ceil(3 * sigma)))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = jnp.asarray(g / g.sum(), jnp.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        xp = jnp.pad(x, pad, mode="edge")
        n = x.shape[axis]
        taps = (k[i] * jax.lax.slice_in_dim(xp, i, i + n, axis=axis) for i in range(2 * r + 1))
        x = sum(taps)  # type: ignore[assignment]  # 2r + 1 >= 3 terms: never sum's start 0
    return x


def pixel_features(grey: jax.Array, kind: str = "grad", sift_bin: int = 3, grad_sigma: float = 1.5) -> jax.Array:
    """Per-pixel features of a grey image [H, W] in [0, 1].

    Args:
      grey, kind: the image; "grad" (gradient magnitudes in 8 orientation bins, Gaussian-smoothed) or "sift".
      sift_bin, grad_sigma: dense SIFT's bin size (px); the gradients' smoothing sigma (px).

    Returns:
      float32 jax array: "grad" [H, W, 8] or "sift" [H, W, 128] (dense SIFT, bin size `sift_bin`).

    Raises:
      InputError: grey not a float [H, W] of at least 2 x 2 (an RGB image: `features.sift.to_grey`; a uint8 image
        read as if in [0, 1] would give "grad" features 255 times too large for the flow's smoothness term:
        divide by 255 first), or an unknown kind.
    """
    check_shape(grey, "H>=2 W>=2", "pixel_features", "grey", dtype="float", note="(a grey image in [0, 1])")
    check(kind in PIXEL_FEATURES, "dense", "pixel_features", f"one of {list(PIXEL_FEATURES)}", kind)
    if kind == "sift":
        return sift_dense(grey, sift_bin)
    g = gradient_channels(_blur(grey[..., None], 1.0)[..., 0])
    return _blur(g, grad_sigma)


def _contrast_factors(grey: jax.Array, sigma: float) -> jax.Array:
    """Contrast-sensitive factors exp(-(g_p - g_q)^2 / (2 sigma^2)) of the pairwise term, >= `MIN_FACTOR` (BP divides).

    Args:
      grey, sigma: a grey image [h, w] in [0, 1] (one value per node); sigma in grey levels.

    Returns:
      [h, w, 2] (edge to the node below, to the node right; 1 on the last row / column).
    """
    dv = jnp.pad(grey[1:] - grey[:-1], ((0, 1), (0, 0)))
    dh = jnp.pad(grey[:, 1:] - grey[:, :-1], ((0, 0), (0, 1)))
    return jnp.maximum(jnp.exp(-jnp.square(jnp.stack([dv, dh], -1)) / (2 * sigma**2)), MIN_FACTOR)


def _levels(backbone, taps, shapes, hw, k: tuple[float, float], cfg: DenseConfig) -> list[Level]:
    """Levels below the top: the finer conv taps (computed on the image scaled by 1 / k = (kx, ky)), then the
    pixel-feature levels."""
    lv = []
    for t, (h, w) in zip(taps[1:], shapes[1:]):
        rf = backbone.geometry[t]
        lv.append(Level(tuple(_centres(rf, w, k[0])), tuple(_centres(rf, h, k[1])),
                        (rf.stride * k[0], rf.stride * k[1]),
                        ((rf.offset + 0.5) * k[0] - 0.5, (rf.offset + 0.5) * k[1] - 0.5), False))
    strides = cfg.fine_strides
    if strides is None:
        top = backbone.geometry[taps[-1]].stride * max(k)
        strides = tuple(2**i for i in reversed(range(max(1, int(np.ceil(np.log2(max(top, 1))))))))
    for s in strides:  # cell i of the image binned s x s: centre (i + 0.5) s - 0.5
        c = 0.5 * (s - 1)
        lv.append(Level(tuple(c + s * np.arange(-(-hw[1] // s), dtype=np.float64)),
                        tuple(c + s * np.arange(-(-hw[0] // s), dtype=np.float64)), (float(s), float(s)), (c, c), True))
    return lv


def binned(grey: jax.Array, s: int) -> jax.Array:
    """Means of s x s pixel blocks of a grey image (edge-replicated to a multiple of s).

    Args:
      grey, s: [H, W] grey image; the block side in pixels (1: grey as given).

    Returns:
      jax array [ceil(H / s), ceil(W / s)] block means in grey's dtype (s = 1: grey itself, numpy or jax).
    """
    if s == 1:
        return grey
    h, w = grey.shape
    hp, wp = -(-h // s) * s, -(-w // s) * s
    g = jnp.pad(grey, ((0, hp - h), (0, wp - w)), mode="edge")
    return g.reshape(hp // s, s, wp // s, s).mean((1, 3))


def _scaled(fa: jax.Array, fb: jax.Array) -> tuple[jax.Array, jax.Array]:
    m = 0.5 * (jnp.mean(jnp.linalg.norm(fa, axis=-1)) + jnp.mean(jnp.linalg.norm(fb, axis=-1)))
    s = jnp.where(m > 0, FEATURE_NORM / jnp.maximum(m, 1e-12), 1.0)
    return fa * s, fb * s


def _upsample(flow: jax.Array, prev: tuple, xs: np.ndarray, ys: np.ndarray) -> jax.Array:
    """Flow [h', w', 2] at centres prev = (xs', ys') -> at centres (xs, ys), bilinear, edge values held."""
    pxs, pys = prev
    fx = np.interp(xs, pxs, np.arange(len(pxs)))
    fy = np.interp(ys, pys, np.arange(len(pys)))
    return bilinear_sample(flow, jnp.asarray(fx, jnp.float32)[None, :], jnp.asarray(fy, jnp.float32)[:, None])


def _level_grey(grey: jax.Array, lv: Level) -> jax.Array:
    """Grey image [H, W] binned at the level's stride, at its node centres [h, w] (bilinear between block means,
    edge values held)."""
    s = max(1, int(round(float(np.mean(lv.stride)))))
    g = binned(grey, s)
    centres = tuple(0.5 * (s - 1) + s * np.arange(n, dtype=np.float64) for n in g.shape[::-1])  # (x, y) of blocks
    return _upsample(g[..., None], centres, np.asarray(lv.xs), np.asarray(lv.ys))[..., 0]


def _pair(feats_a, feats_b, pix_a, pix_b, grey_a, top_grid, levels, cfg: DenseConfig, hw: tuple[int, int]):
    """One pair: conv taps (top first), pixel feature maps [h_s, w_s, C] (one per pixel level, on the image binned
    s x s) and image a's grey [H, W] -> flow [H, W, 2] (dx, dy), hw = (H, W).
    top_grid: (xs, ys, stride of the tap in its own image, (kx, ky) scale of that image to a)."""
    scale500 = FRAME_PX / max(hw)  # paper-frame pixels per pixel of a (the fine levels' smoothness)
    fa, fb = _scaled(feats_a[0], feats_b[0])
    kx, ky = top_grid[3]
    # the tap's image has a longer side of max(hw) / max(kx, ky) pixels; its flow scaled by (kx, ky) into a's
    res = bp.solve_flow_in_frame(fa, fb, bp.BPConfig(cfg.beta, None, cfg.iters, cfg.levels), top_grid[2],
                          max(hw) / max(kx, ky))
    flow = res.flow * jnp.asarray([kx, ky], jnp.float32)
    prev = top_grid[:2]
    for i, lv in enumerate(levels):
        if i + 1 < len(feats_a):
            fa, fb = _scaled(feats_a[i + 1], feats_b[i + 1])
        else:
            fa, fb = _scaled(pix_a[i + 1 - len(feats_a)], pix_b[i + 1 - len(feats_a)])
        scale = None if cfg.edge_sigma is None else _contrast_factors(_level_grey(grey_a, lv), cfg.edge_sigma)
        xs, ys = np.asarray(lv.xs), np.asarray(lv.ys)
        init = _upsample(flow, prev, xs, ys)
        last = i == len(levels) - 1
        r = cfg.finest_radius if (cfg.finest_radius is not None and last) else cfg.radius
        iters = cfg.finest_iters if (cfg.finest_iters is not None and last) else cfg.fine_iters
        cost, init, inside = _window_cost(fa, fb, init, lv, r)
        step = jnp.asarray(lv.stride, jnp.float32)  # label step (x, y) px = the source grid's step
        weight = cfg.beta_fine * (float(np.mean(lv.stride)) * scale500) ** 2
        origins = (init / step)[..., ::-1] if cfg.smooth == "flow" else None  # (dy, dx) labels
        trunc = None if cfg.truncation is None else cfg.truncation / float(np.mean(lv.stride))  # labels
        lab = bp_solver.solve(cost, weight, iters, cfg.fine_levels, offsets=origins, truncation=trunc,
                              edge_scale=scale).labels
        d = (lab - r).astype(jnp.float32)
        if cfg.subpixel and last:
            d = d + _subpixel(cost, lab, d if origins is None else d + origins, weight, cfg.subpixel_iters, trunc,
                              scale, inside)
        flow = init + d[..., ::-1] * step
        prev = (xs, ys)
    px, py = np.arange(hw[1], dtype=np.float64), np.arange(hw[0], dtype=np.float64)
    if not (np.array_equal(prev[0], px) and np.array_equal(prev[1], py)):  # last level coarser than the pixels
        flow = _upsample(flow, prev, px, py)
    return flow


@functools.lru_cache(maxsize=16)
def _pairs(top_grid, levels, cfg, hw):
    """`_pair` vmapped over pairs for one geometry and config (a stable function: jit and `shard_rows` key it)."""
    return jax.vmap(functools.partial(_pair, top_grid=top_grid, levels=levels, cfg=cfg, hw=hw))


# Its tracing takes seconds: kept on disk. On a CPU it is compiled at LLVM's level 1 (`exported.QUICK_CPU`): the
# same flow bit for bit, a shorter compilation, the same run time (bench/RESULTS.md, first calls).
@exported.jit(static_argnames=("top_grid", "levels", "cfg", "hw"), cpu_options=exported.QUICK_CPU)
def _batch(feats_a, feats_b, pix, grey_a, top_grid, levels, cfg, hw):
    """`_pairs` on N pairs; pix: the pixel feature maps of a's then b's images ([2N, ...] each), split here. One
    pair is solved without vmap (the same flow; half the tracing)."""
    n = grey_a.shape[0]
    pa, pb = tuple(p[:n] for p in pix), tuple(p[n:] for p in pix)
    if n == 1:
        first = functools.partial(jax.tree.map, lambda x: x[0])
        flow = _pair(first(feats_a), first(feats_b), first(pa), first(pb), grey_a[0], top_grid=top_grid,
                     levels=levels, cfg=cfg, hw=hw)
        return flow[None]
    return _pairs(top_grid, levels, cfg, hw)(feats_a, feats_b, pa, pb, grey_a)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _pixel_batch(grey: jax.Array, s: int, kind: str, sift_bin: int, grad_sigma: float) -> jax.Array:
    """Pixel features of grey images [N, H, W] binned s x s: [N, ceil(H / s), ceil(W / s), C]."""
    return jax.vmap(lambda g: pixel_features(binned(g, s), kind, sift_bin, grad_sigma))(grey)


def dense_flows(images_a: np.ndarray, images_b: np.ndarray, backbone: Backbone, params: Any,
                      cfg: DenseConfig = DenseConfig(), mesh: Mesh | None = None) -> jax.Array:
    """Dense flow of N pairs: pixel p of images_a[i] -> p + flow[i, p] in images_b[i].

    One forward pass over the 2N images; the BP levels are vmapped over pairs (one compile per image size and config;
    each size's programs stay in JAX's caches for the life of the process, about 150 MB a size with AlexNet: a
    long-running process that meets photos of many sizes resizes them to a few fixed sizes first, or frees the
    programs with `jax.clear_caches()`).

    Args:
      images_a, images_b: uint8 RGB [N, H, W, 3] each (same size).
      backbone, params, cfg: the feature network (conv4 and finer conv roles); the settings (`DenseConfig`).
      mesh: the pairs' BP levels are also split over this 1-D mesh's devices (`parallel.make_mesh()`, one process).

    Returns:
      float32 jax array [N, H, W, 2] (dx, dy) pixels (InputError for images not uint8 [N, H, W, 3] of one shape,
      N, H, W >= 1, or too small for a conv4 grid of 2 columns).
    """
    dims = check_shape(images_a, "N>=1 H>=1 W>=1 3", "dense_flows", "images_a", dtype="uint8",
                       note="(RGB in [0, 255])")
    check_shape(images_b, "N H W 3", "dense_flows", "images_b", dims, dtype="uint8", note="(as images_a)")
    a, b = np.asarray(images_a), np.asarray(images_b)
    check(cfg.smooth in SMOOTHNESS, "DenseConfig", "smooth", f"one of {list(SMOOTHNESS)}", cfg.smooth)
    check(cfg.edge_sigma is None or cfg.edge_sigma > 0, "DenseConfig", "edge_sigma", "a number > 0 or None",
          cfg.edge_sigma)
    n, h, w = a.shape[:3]
    taps = _taps(backbone, cfg)
    ab = np.concatenate([a, b])
    if cfg.top_side is not None and max(h, w) > cfg.top_side:
        s = cfg.top_side / max(h, w)
        hs, ws = max(1, round(h * s)), max(1, round(w * s))
        ab = np.stack([resize(x, (hs, ws)) for x in ab])
    k = (w / ab.shape[2], h / ab.shape[1])  # pixels of a per pixel of the conv taps' input
    feats = extract(backbone, params, ab, taps, batch_size=2 * n)
    shapes = [feats[t].shape[1:3] for t in taps]
    check(shapes[0][0] * shapes[0][1] >= 2, "dense_flows", "images_a", "images giving a conv4 grid of >= 2 columns",
          f"{w} x {h} px (width x height)")
    rf = backbone.geometry[taps[0]]
    top_grid = (tuple(_centres(rf, shapes[0][1], k[0])), tuple(_centres(rf, shapes[0][0], k[1])), float(rf.stride), k)
    levels = tuple(_levels(backbone, taps, shapes, (h, w), k, cfg))
    grey_ab = to_grey(np.concatenate([a, b]))
    grey, grey_a = jax.device_put(grey_ab), jax.device_put(grey_ab[:n])  # host slices: no program per slice
    pixel_levels = levels[len(taps) - 1:]
    kinds = [cfg.pixel_features] * len(pixel_levels)
    if kinds and cfg.finest_features is not None:
        kinds[-1] = cfg.finest_features
    pix = [_pixel_batch(grey, int(lv.stride[0]), kind, cfg.sift_bin, cfg.grad_sigma)
           for lv, kind in zip(pixel_levels, kinds)]  # one map per pixel level, on the image binned s x s
    fa = tuple(jax.device_put(feats[t][:n]) for t in taps)
    fb = tuple(jax.device_put(feats[t][n:]) for t in taps)
    if mesh is not None and mesh.devices.size > 1:
        pa, pb = tuple(p[:n] for p in pix), tuple(p[n:] for p in pix)
        return parallel.shard_rows(_pairs(top_grid, levels, cfg, (h, w)), mesh, fa, fb, pa, pb, grey_a)
    return _batch(fa, fb, tuple(pix), grey_a, top_grid, levels, cfg, (h, w))

