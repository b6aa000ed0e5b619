"""Dense coarse-to-fine flow over a feature pyramid, solved by `flow.bp` at every level (beyond Long et al.).

    flow = dense_align(a, b, backbone, params)            # a, b uint8 [H, W, 3] (b resized to a) -> [H, W, 2]
    flows = dense_align_batch(A, B, backbone, params)     # A, B uint8 [N, H, W, 3] -> [N, H, W, 2] (vmap)

Flow (dx, dy) in pixels of a: pixel p of a corresponds to p + flow[p] in b.

Levels, coarse to fine:
  1. the conv4-role tap of the backbone on its grid, labels = the whole target grid (`bp.align`, the paper's
     matcher and energy);
  2. the finer conv roles (one per distinct stride below conv4's, e.g. conv2 at 8 px and conv1 at 4 px);
  3. pixel features (`"grad"`: smoothed orientation-binned gradients, 8 channels; or `"sift"`: dense SIFT,
     128) on grids of stride 2 and 1 px; the last level's labels are refined to sub-pixel by a parabola
     through the data cost.
Below the top, each node searches a small window of (2r + 1)^2 labels around the flow of the level above
(bilinearly upsampled): label d means flow = init + d * step. The data term is the paper's
||f_a(p) - f_b(p + flow(p))||_2 (target features sampled bilinearly; every level's features are scaled to a
mean column norm of 512) and the pairwise term beta * ||d_p - d_q||^2 on the residual labels, in pixels of a
500 px image as in `flow.align` (so the smooth upsampled flow itself is not penalised), solved by `bp.solve`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.errors import check
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import gradient_channels, sift_grid, to_grey
from convcorr_jax.flow import bp
from convcorr_jax.flow.warp import bilinear_sample

PIXEL_FEATURES = ("grad", "sift")
FEATURE_NORM = 512.0


@dataclasses.dataclass(frozen=True)
class DenseConfig:
    """Dense flow settings. beta: top level (paper's meaning); beta_fine: levels below, both with displacements in
    pixels of a 500 px image. radius: label window half-width (labels) below the top; fine_strides: pixel-feature
    levels (px); subpixel: refine the last level's labels by a parabola through the data cost (per axis)."""

    beta: float = 3e-3
    beta_fine: float = 0.5
    iters: int = 8  # BP iterations per multigrid level, top
    levels: int = 3  # multigrid levels, top
    fine_iters: int = 4
    fine_levels: int = 2
    radius: int = 2
    pixel_features: str = "grad"
    fine_strides: tuple[int, ...] = (2, 1)
    subpixel: bool = True
    conv_roles: tuple[str, ...] = ("conv3", "conv2", "conv1")  # candidates below conv4 (one per finer stride)
    sift_bin: int = 3
    grad_sigma: float = 1.5


class Level(NamedTuple):
    """Static geometry of one level below the top: source node centres xs, ys (pixels of a), target map
    geometry (stride, offset: map cell i sits at offset + i * stride), label step (pixels), subsampling of the
    source map (every `sub`-th cell)."""

    xs: tuple
    ys: tuple
    stride: float
    offset: float
    step: float
    sub: int


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
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = jnp.asarray(k / k.sum(), jnp.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        xp = jnp.pad(x, pad, mode="edge")
        n = x.shape[axis]
        x = sum(k[i] * jax.lax.slice_in_dim(xp, i, i + n, axis=axis) for i in range(2 * r + 1))
    return x


def pixel_features(grey: jax.Array, kind: str = "grad", sift_bin: int = 3, grad_sigma: float = 1.5) -> jax.Array:
    """Per-pixel features of a grey image [H, W] in [0, 1]: "grad" [H, W, 8] (gradient magnitudes in 8
    orientation bins, Gaussian-smoothed) or "sift" [H, W, 128] (dense SIFT, bin size `sift_bin`)."""
    check(kind in PIXEL_FEATURES, "dense", "pixel_features", f"one of {list(PIXEL_FEATURES)}", kind)
    if kind == "sift":
        h, w = grey.shape
        return sift_grid(grey, np.arange(w), np.arange(h), sift_bin)
    g = gradient_channels(_blur(grey[..., None], 1.0)[..., 0])
    return _blur(g, grad_sigma)


def _levels(backbone, taps, shapes, hw, cfg: DenseConfig) -> list[Level]:
    lv = []
    for t, (h, w) in zip(taps[1:], shapes[1:]):
        rf = backbone.geometry[t]
        c = rf.offset + rf.stride * np.arange(max(h, w))
        lv.append(Level(tuple(c[:w]), tuple(c[:h]), float(rf.stride), float(rf.offset), float(rf.stride), 1))
    for s in cfg.fine_strides:
        lv.append(Level(tuple(np.arange(0, hw[1], s, dtype=np.float64)), tuple(np.arange(0, hw[0], s, dtype=np.float64)),
                        1.0, 0.0, float(s), s))
    return lv


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


def _window_cost(fa: jax.Array, fb: jax.Array, init: jax.Array, lv: Level, r: int) -> jax.Array:
    """Data cost [h, w, 2r+1, 2r+1]: ||fa[p] - fb(centre_p + init_p + d * step)||_2, label (dy, dx) = d + r.
    Labels whose target falls outside b's map cost the node's mean in-map cost (the smoothness term decides)."""
    xs, ys = jnp.asarray(lv.xs, jnp.float32), jnp.asarray(lv.ys, jnp.float32)
    bx = (xs[None, :] + init[..., 0] - lv.offset) / lv.stride
    by = (ys[:, None] + init[..., 1] - lv.offset) / lv.stride
    d = np.arange(-r, r + 1, dtype=np.float32) * lv.step / lv.stride
    offs = jnp.asarray(np.stack(np.meshgrid(d, d, indexing="ij"), -1).reshape(-1, 2))  # (dy, dx) map cells

    hb, wb = fb.shape[:2]

    def one(o):
        x, y = bx + o[1], by + o[0]
        t = bilinear_sample(fb, x, y)
        inside = (x >= -0.5) & (x <= wb - 0.5) & (y >= -0.5) & (y <= hb - 0.5)
        return jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(fa - t), -1), 0.0)), inside

    cost, inside = jax.lax.map(one, offs)  # [(2r+1)^2, h, w]
    n = jnp.sum(inside, 0)
    mean = jnp.where(n > 0, jnp.sum(jnp.where(inside, cost, 0.0), 0) / jnp.maximum(n, 1), 0.0)
    cost = jnp.where(inside, cost, mean)
    return jnp.moveaxis(cost, 0, -1).reshape(*init.shape[:2], 2 * r + 1, 2 * r + 1)


def _subpixel(cost: jax.Array, lab: jax.Array) -> jax.Array:
    """Per-axis parabola vertex through the data cost at the chosen label and its two neighbours: offsets
    [h, w, 2] (dy, dx) in labels, within +-0.5 (0 at the window's edge or where the cost is not convex)."""
    ly, lx = cost.shape[-2:]

    def at(dy, dx):
        iy, ix = jnp.clip(lab[..., 0] + dy, 0, ly - 1), jnp.clip(lab[..., 1] + dx, 0, lx - 1)
        return jnp.take_along_axis(cost.reshape(*cost.shape[:2], -1), (iy * lx + ix)[..., None], -1)[..., 0]

    c0 = at(0, 0)
    out = []
    for axis, n in ((0, ly), (1, lx)):
        d = (1, 0) if axis == 0 else (0, 1)
        cm, cp = at(-d[0], -d[1]), at(d[0], d[1])
        curv = cm - 2 * c0 + cp
        ok = (lab[..., axis] > 0) & (lab[..., axis] < n - 1) & (curv > 1e-6)
        out.append(jnp.where(ok, jnp.clip(0.5 * (cm - cp) / jnp.where(ok, curv, 1.0), -0.5, 0.5), 0.0))
    return jnp.stack(out, -1)


def _pair(feats_a, feats_b, pix_a, pix_b, top_grid, levels, cfg: DenseConfig, side: int):
    """One pair: conv taps (lists, top first) and pixel feature maps [H, W, C] -> flow [H, W, 2] (dx, dy)."""
    scale500 = 500.0 / side
    fa, fb = _scaled(feats_a[0], feats_b[0])
    res = bp.align(fa, fb, bp.BPConfig(cfg.beta, None, cfg.iters, cfg.levels), top_grid[2] * scale500)
    flow = res.flow / scale500
    prev = top_grid[:2]
    pa, pb = _scaled(pix_a, pix_b)
    r = cfg.radius
    for i, lv in enumerate(levels):
        if i + 1 < len(feats_a):
            fa, fb = _scaled(feats_a[i + 1], feats_b[i + 1])
        else:
            fa, fb = pa[:: lv.sub, :: lv.sub], pb
        xs, ys = np.asarray(lv.xs), np.asarray(lv.ys)
        init = _upsample(flow, prev, xs, ys)
        cost = _window_cost(fa, fb, init, lv, r)
        weight = cfg.beta_fine * (lv.step * scale500) ** 2
        lab = bp.solve(cost, weight, cfg.fine_iters, cfg.fine_levels).labels
        d = (lab - r).astype(jnp.float32)
        if cfg.subpixel and i == len(levels) - 1:
            d = d + _subpixel(cost, lab)
        flow = init + d[..., ::-1] * lv.step
        prev = (xs, ys)
    return flow


@functools.partial(jax.jit, static_argnames=("top_grid", "levels", "cfg", "side"))
def _batch(feats_a, feats_b, pix_a, pix_b, top_grid, levels, cfg, side):
    fn = functools.partial(_pair, top_grid=top_grid, levels=levels, cfg=cfg, side=side)
    return jax.vmap(fn)(feats_a, feats_b, pix_a, pix_b)


_pixel_batch = jax.jit(jax.vmap(pixel_features, in_axes=(0, None, None, None)), static_argnums=(1, 2, 3))


def dense_align_batch(images_a: np.ndarray, images_b: np.ndarray, backbone, params,
                      cfg: DenseConfig = DenseConfig()) -> jax.Array:
    """Dense flow of N pairs: uint8 [N, H, W, 3] each (same size) -> float32 [N, H, W, 2] (dx, dy) pixels,
    pixel p of images_a[i] -> p + flow[i, p] in images_b[i]. One forward pass over the 2N images; the BP
    levels are vmapped over pairs (one compile per image size and config)."""
    a, b = np.asarray(images_a), np.asarray(images_b)
    check(a.ndim == 4 and a.shape == b.shape, "dense", "images", "two uint8 [N, H, W, 3] arrays of equal shape",
          (a.shape, b.shape))
    n, h, w = a.shape[:3]
    taps = _taps(backbone, cfg)
    feats = extract(backbone, params, np.concatenate([a, b]), taps, batch_size=2 * n)
    shapes = [feats[t].shape[1:3] for t in taps]
    check(shapes[0][0] * shapes[0][1] >= 2, "image_a", "size", "an image giving a conv4 grid of >= 2 columns", (h, w))
    rf = backbone.geometry[taps[0]]
    c = rf.offset + rf.stride * np.arange(max(shapes[0]))
    top_grid = (tuple(c[: shapes[0][1]]), tuple(c[: shapes[0][0]]), float(rf.stride))
    levels = tuple(_levels(backbone, taps, shapes, (h, w), cfg))
    pix = _pixel_batch(jnp.asarray(to_grey(np.concatenate([a, b]))), cfg.pixel_features, cfg.sift_bin, cfg.grad_sigma)
    fa = tuple(jnp.asarray(feats[t][:n]) for t in taps)
    fb = tuple(jnp.asarray(feats[t][n:]) for t in taps)
    return _batch(fa, fb, pix[:n], pix[n:], top_grid, levels, cfg, max(h, w))


def dense_align(a: np.ndarray, b: np.ndarray, backbone, params, cfg: DenseConfig = DenseConfig()) -> np.ndarray:
    """Dense flow [H, W, 2] float32 (dx, dy) from uint8 a [H, W, 3] to b (resized to a's size)."""
    b = resize(b, a.shape[:2])
    return np.asarray(dense_align_batch(a[None], b[None], backbone, params, cfg)[0])
