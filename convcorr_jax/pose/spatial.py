"""Tree-structured MRF spatial model over joint locations (Tompson et al. 2014, used by Tompson et al. 2015 Sec. 3.3
to condition the coarse heat-maps on the given torso position).

One module for one model: its priors (learned as histograms or fitted on heat-maps), its inference and its files
share the tree, the kernel geometry and the config, so they are read (and changed) together.

    cfg = FLIC_VALIDATED                                                   # every setting, chosen on FLIC
    log_priors = learn_priors(points_px, visible, torso_px, stride=8, cfg=cfg)   # [E, 15, 15] from training points
    refined = apply_spatial_model(coarse_hm, torso_cells, log_priors, cfg)      # [N, H, W, K]
    save_model(run_dir, cfg, log_priors); cfg, log_priors = load_model(run_dir)  # spatial.json + spatial_priors.npy

    edges = FLIC_EDGES                  # (parent, child) node pairs, torso = 11; any skeleton: for_skeleton(sk, cfg)
    pts, vis = with_torso(points_cells, visible, torso_cells)            # [N, 12, 2], [N, 12]
    log_priors = offset_priors(pts, vis, edges, kernel_size=31, sigma=1.0, floor=1e-4)   # [E, 31, 31]
    log_priors = priors_from_pixels(points_px, visible, torso_px, stride=8)              # the same from pixels

Model. One random variable per node: the heat-map cell (row y, col x) of a joint, plus one extra node for the
conditioning torso point (node index K, after the K joints of the heat-maps). The nodes form a tree given as static
`(parent, child)` edges; the joint distribution is

    p(x) ~ prod_v u_v(x_v) prod_(p, c) psi_pc(x_c - x_p)

where u_v is node v's unary (from the ConvNet heat-map; for the torso a delta or a narrow Gaussian at the given
point) and psi_pc a kernel over the integer offset d = x_c - x_p (cells): `log_priors[e, r_y + d_y, r_x + d_x]`
for a kernel of shape (2 r_y + 1, 2 r_x + 1). Offsets outside the kernel have probability 0.

Inference (`tree_messages`, `marginals`) is exact belief propagation on the tree in log space: an upward pass
(leaves to root) and a downward pass (root to leaves), every message a log-domain convolution of a node belief with
the edge kernel: for sum-product m(x) = log sum_d exp(b(x - d) + log psi(d)) from parent to child (x the child's
cell) and log sum_d exp(b(x + d) + log psi(d)) from child to parent (x the parent's cell), computed as
exp-shift-convolve-log (each belief and kernel shifted by its maximum before `exp`, `jax.scipy.signal.convolve`,
direct or FFT); for max-product the same with max_d for log sum_d exp, an exact max-convolution over the kernel's
offsets by a gather.
Messages are shifted to maximum 0 (this does not change the marginals). Beliefs outside the grid are impossible.

Heat-maps (`apply_spatial_model`). The coarse model (`pose.model`) is trained by MSE to regress Gaussians of peak 1
(`heatmaps.gaussian_targets`), so its output is an unnormalised, approximately [0, 1] likelihood per cell, not a
logit. It is read as the unary

    log u_k(x) = power * log(clip(h_k(x), 0, 1) + unary_floor),

(`heatmap_log_unary`): negative outputs become the floor, the floor keeps every cell possible, and `power` (an
inverse temperature) sets how much the heat-map is trusted against the prior. The refined output per joint is its
marginal (sum-product: the posterior p(x_k | all heat-maps, torso), summing to 1 over the map; max-product: the
max-marginal divided by its maximum, peak 1), or its logarithm (`output="log"`). The arg-max of either read-out is
decoded like any heat-map (`heatmaps.argmax_2d`, `subpixel_argmax`), or by `select_peaks`: the refined maps'
arg-max cell with sub-cell refinement on the original heat-map (the priors broaden the marginal's peak).

Priors (`offset_priors`; `priors_from_pixels` for ground truth in image pixels). The histogram of rounded child -
parent offsets (`rint(child) - rint(parent)`, in cells) over the training instances where both nodes are labelled,
normalised, optionally smoothed by a Gaussian of std `sigma` cells, plus `floor` at every offset and renormalised:
log p_e(d) = log((q_e(d) + floor) / (1 + floor * n)) with q_e the (smoothed) normalised histogram and
n = kh * kw. An edge without data gets the uniform kernel. The log-priors are plain arrays: `fit_priors` learns them
further by gradient descent on `marginal_nll` given the network's heat-maps on training images (the paper trains
its pairwise potentials). `learn_priors` learns them with the settings of a `SpatialConfig`
(kernel side, sigma, floor).

Settings (`SpatialConfig`): one frozen config holds every setting, of inference (mode, unary power and floor,
torso sigma, ...) and of the priors (kernel, prior_sigma, prior_floor). Its defaults are the neutral starting point
of a search (sum-product, power 1, every offset of the map, sigma 1 cell, floor 1e-4, torso sigma 0.5 cell);
`FLIC_VALIDATED` is the setting chosen on FLIC's by-film validation split (the validation movies of FLIC train,
`pose.data`) by the experiment `tompson2015.spatial_validation` (bench/RESULTS_pose.md, "Spatial model (Sec.
3.3)": max-product, unary power 4, 15 x 15 cell kernel, prior sigma 1 cell, floor 1e-2, torso sigma 2 cells), the
default of `convcorr eval flic` and of the spatial model saved with a FLIC training run.

Files (`save_model`, `load_model`): a folder (a training run's) holds `spatial.json` ({"config": the SpatialConfig's
fields, "priors": {"file", "shape", ...what they were learned from}}) and `spatial_priors.npy` (the log-priors,
float32 [E, kh, kw]); both written atomically, the priors first.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax import config as config_tools
from convcorr_jax import io
from convcorr_jax.data import skeletons
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.errors import InputError
from convcorr_jax.pose import heatmaps as hmap

Edges = tuple[tuple[int, int], ...]

# The tree of a skeleton is data (`data.skeletons.Skeleton.spatial_tree`: the registry's tree, else one derived from
# its links, rooted at the torso point, node K). FLIC's: torso -> shoulders -> elbows -> wrists; torso -> hips;
# torso -> nose -> eyes (node 11 the torso point), the default of `SpatialConfig`.
FLIC_EDGES: Edges = skeletons.FLIC.spatial_tree()
FLIC_TORSO = skeletons.FLIC.num_joints
MODES = ("sum", "max")
METHODS = ("direct", "fft")
OUTPUTS = ("prob", "log")
_TINY = 1e-30  # smallest convolution result kept before the log (log = -69: impossible in practice)
_NEG = -1e4  # log-probability of an impossible cell: finite, so that shifts by a maximum stay finite


@dataclasses.dataclass(frozen=True)
class SpatialConfig:
    """Every setting of the spatial model: inference (`apply_spatial_model`) and priors (`learn_priors`). The
    defaults are the FLIC tree with sum-product inference and broad priors, the starting point of a search;
    `FLIC_VALIDATED` holds the setting chosen on FLIC's validation movies (module docstring).

    enabled: False returns the heat-maps unchanged.
    edges: the tree as (parent, child) node pairs; nodes 0..K-1 are the heat-maps' joints, node K the torso.
    mode: "sum" (sum-product: marginals) or "max" (max-product: max-marginals).
    unary_floor, unary_power: heat-map -> log-unary (module docstring).
    torso_sigma: std (cells) of the torso node's Gaussian unary; 0 gives a delta at the torso's nearest cell.
    output: "prob" (marginal maps) or "log" (log-marginals).
    method: convolution of the sum-product messages, "direct" or "fft" (large kernels; its float32 round-off, about
      1e-7 of a message's largest term, sets the smallest message values it resolves).
    kernel: side (cells, odd) of the prior kernels over child - parent offsets; 0: 2 * map side - 1, every offset
      on the map (`kernel_size`).
    prior_sigma: std (cells) of the Gaussian smoothing of the offset histograms (0: none; `offset_priors`).
    prior_floor: probability added at every offset before renormalising (`offset_priors`).
    """

    enabled: bool = True
    edges: Edges = FLIC_EDGES
    mode: str = "sum"
    unary_floor: float = 1e-3
    unary_power: float = 1.0
    torso_sigma: float = 0.5
    output: str = "prob"
    method: str = "direct"
    kernel: int = 0
    prior_sigma: float = 1.0
    prior_floor: float = 1e-4

    def validate(self) -> "SpatialConfig":
        """This config, or InputError naming the first field out of its range."""
        def bad(field, expected, got):
            raise InputError("spatial config", field, expected, got)

        if self.mode not in MODES:
            bad("mode", f"one of {MODES}", self.mode)
        if self.method not in METHODS:
            bad("method", f"one of {METHODS}", self.method)
        if self.output not in OUTPUTS:
            bad("output", f"one of {OUTPUTS}", self.output)
        if not self.unary_floor > 0:
            bad("unary_floor", "> 0", self.unary_floor)
        if not self.unary_power > 0:
            bad("unary_power", "> 0", self.unary_power)
        if not self.torso_sigma >= 0:
            bad("torso_sigma", ">= 0 (cells)", self.torso_sigma)
        if not (self.kernel == 0 or (self.kernel >= 1 and self.kernel % 2 == 1)):
            bad("kernel", "an odd side >= 1 (offsets -r..r) or 0 (the whole map)", self.kernel)
        if not self.prior_sigma >= 0:
            bad("prior_sigma", ">= 0 (cells)", self.prior_sigma)
        if not self.prior_floor >= 0:
            bad("prior_floor", ">= 0 (probability)", self.prior_floor)
        return self

    def kernel_size(self, map_size: int | None = None) -> int:
        """The prior kernel's side in cells: `kernel`, or for kernel 0 2 * map_size - 1 (map_size: the heat-map's
        side in cells, needed then)."""
        if self.kernel:
            return int(self.kernel)
        if map_size is None or int(map_size) < 1:
            raise InputError("spatial config", "kernel", "an odd kernel side, or the heat-map side (map_size) for "
                             "kernel 0 (every offset of the map)", map_size)
        return 2 * int(map_size) - 1

    def inference(self) -> "SpatialConfig":
        """This config with the prior-learning fields (kernel, prior_sigma, prior_floor) at their defaults: all
        that inference depends on (the priors' shape comes with the priors), so settings that differ only in how
        the priors were learned share one compilation."""
        base = SpatialConfig()
        return dataclasses.replace(self, kernel=base.kernel, prior_sigma=base.prior_sigma,
                                   prior_floor=base.prior_floor)

    def to_dict(self) -> dict:
        """JSON-ready fields (edges as lists of pairs)."""
        d = dataclasses.asdict(self)
        d["edges"] = [list(e) for e in self.edges]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | os.PathLike = "spatial config") -> "SpatialConfig":
        """The config of `to_dict`'s fields (missing fields take the defaults), validated; InputError naming
        `source` and the field for an unknown field or a bad value."""
        if not isinstance(d, Mapping):
            raise InputError(source, "config", "a mapping of SpatialConfig fields", type(d).__name__)
        try:
            return config_tools.from_dict(cls, d).validate()
        except InputError as e:
            raise InputError(source, e.field, e.expected, e.got) from None
        except (TypeError, ValueError) as e:
            raise InputError(source, "config", "SpatialConfig fields", str(e)) from None


# The setting chosen on FLIC's by-film validation split by `tompson2015.spatial_validation` (module docstring;
# bench/RESULTS_pose.md): the default of `convcorr eval flic` and of the spatial model saved with a FLIC run.
FLIC_VALIDATED = SpatialConfig(mode="max", unary_power=4.0, kernel=15, prior_floor=1e-2, torso_sigma=2.0)


def for_skeleton(skeleton: Skeleton, cfg: SpatialConfig = FLIC_VALIDATED) -> SpatialConfig:
    """cfg over the skeleton's tree (`Skeleton.spatial_tree`: nodes 0..K-1 its joints, node K the torso point).

    Args:
        skeleton: any skeleton.
        cfg: the other settings (default the ones chosen on FLIC).

    Returns:
        the SpatialConfig.
    """
    return dataclasses.replace(cfg, edges=skeleton.spatial_tree()).validate()


@dataclasses.dataclass(frozen=True)
class _Tree:
    root: int
    order: tuple[int, ...]  # breadth-first from the root
    parent_edge: dict  # child node -> edge index
    children: dict  # node -> tuple of (child node, edge index)


@functools.lru_cache(maxsize=64)
def tree_structure(edges: Edges, num_nodes: int) -> _Tree:
    """Root, breadth-first order and adjacency of a tree given as (parent, child) pairs over nodes 0..num_nodes-1;
    InputError unless the edges form one tree spanning every node, directed away from a single root."""
    src = "spatial edges"
    if len(edges) != num_nodes - 1:
        raise InputError(src, "edges", f"{num_nodes - 1} (parent, child) pairs for a tree over {num_nodes} nodes",
                         len(edges))
    parent_edge: dict[int, int] = {}
    children: dict[int, list] = {v: [] for v in range(num_nodes)}
    for e, pc in enumerate(edges):
        if len(pc) != 2:
            raise InputError(src, f"edges[{e}]", "a (parent, child) pair", pc)
        p, c = int(pc[0]), int(pc[1])
        if not (0 <= p < num_nodes and 0 <= c < num_nodes) or p == c:
            raise InputError(src, f"edges[{e}]", f"two different nodes in 0..{num_nodes - 1}", pc)
        if c in parent_edge:
            raise InputError(src, f"edges[{e}]", f"one parent per node (node {c} has two)", pc)
        parent_edge[c] = e
        children[p].append((c, e))
    roots = [v for v in range(num_nodes) if v not in parent_edge]
    if len(roots) != 1:
        raise InputError(src, "edges", "exactly one root (a node that is nobody's child)", roots)
    order = [roots[0]]
    for v in order:
        order.extend(c for c, _ in children[v])
    if len(order) != num_nodes:
        raise InputError(src, "edges", "a tree reaching every node from the root (no cycles)",
                         sorted(set(range(num_nodes)) - set(order)))
    return _Tree(roots[0], tuple(order), parent_edge, {v: tuple(ch) for v, ch in children.items()})


def _kernel_shape(kernel_size: int | Sequence[int]) -> tuple[int, int]:
    kh, kw = (kernel_size, kernel_size) if np.ndim(kernel_size) == 0 else tuple(kernel_size)
    if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
        raise InputError("spatial prior", "kernel_size", "odd sizes >= 1 (offsets -r..r)", (kh, kw))
    return int(kh), int(kw)


def _gaussian_1d(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return g / g.sum()


def offset_histograms(points, visible, edges: Edges, kernel_size: int | Sequence[int]) -> np.ndarray:
    """Counts [E, kh, kw] of the rounded offsets rint(child) - rint(parent) (cells) of each edge over the instances
    where both ends are visible; entry [e, r_y + d_y, r_x + d_x]. Offsets outside the kernel are not counted.

    points: [N, V, 2] (x, y) heat-map cells (all V nodes, the torso included, e.g. `with_torso`); visible [N, V].
    """
    pts = np.asarray(points, np.float64)
    vis = np.asarray(visible, bool)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise InputError("spatial prior", "points", "[N, V, 2] (x, y) in heat-map cells", pts.shape)
    if vis.shape != pts.shape[:2]:
        raise InputError("spatial prior", "visible", f"shape {pts.shape[:2]}", vis.shape)
    tree_structure(tuple(tuple(int(v) for v in e) for e in edges), pts.shape[1])
    kh, kw = _kernel_shape(kernel_size)
    ry, rx = kh // 2, kw // 2
    out = np.zeros((len(edges), kh, kw), np.float64)
    for e, (p, c) in enumerate(edges):
        ok = vis[:, p] & vis[:, c] & np.all(np.isfinite(pts[:, p]) & np.isfinite(pts[:, c]), axis=-1)
        d = np.rint(pts[ok, c]).astype(np.int64) - np.rint(pts[ok, p]).astype(np.int64)
        inside = (np.abs(d[:, 0]) <= rx) & (np.abs(d[:, 1]) <= ry)
        np.add.at(out[e], (d[inside, 1] + ry, d[inside, 0] + rx), 1.0)
    return out


def offset_priors(points, visible, edges: Edges, kernel_size: int | Sequence[int] = 31, sigma: float = 1.0,
                  floor: float = 1e-4) -> np.ndarray:
    """Log-priors [E, kh, kw] float32 over child - parent offsets from the offsets of training data (module
    docstring): normalised histogram (`offset_histograms`), Gaussian smoothing of std `sigma` cells (0: none),
    `floor` added at every offset, renormalised, log. points [N, V, 2] heat-map cells, visible [N, V]; kernel_size
    odd (an int or (kh, kw)): 2 * map size - 1 covers every offset on the map."""
    if not sigma >= 0:
        raise InputError("spatial prior", "sigma", ">= 0 (cells)", sigma)
    if not floor >= 0:
        raise InputError("spatial prior", "floor", ">= 0 (probability)", floor)
    hist = offset_histograms(points, visible, edges, kernel_size)
    e, kh, kw = hist.shape
    tot = hist.sum(axis=(1, 2), keepdims=True)
    q = np.where(tot > 0, hist / np.maximum(tot, 1), 1.0 / (kh * kw))
    if sigma > 0:
        g = _gaussian_1d(sigma)
        r = len(g) // 2
        q = np.apply_along_axis(lambda v: np.convolve(v, g)[r:r + kh], 1, q)  # zero outside the kernel
        q = np.apply_along_axis(lambda v: np.convolve(v, g)[r:r + kw], 2, q)
        q = q / q.sum(axis=(1, 2), keepdims=True)
    p = (q + floor) / (1.0 + floor * kh * kw)
    with np.errstate(divide="ignore"):
        return np.log(p).astype(np.float32)


def with_torso(points, visible, torso) -> tuple[np.ndarray, np.ndarray]:
    """Appends the torso point as the last node: points [N, K, 2], visible [N, K], torso [N, 2] -> [N, K+1, 2],
    [N, K+1] (the torso always visible)."""
    pts = np.asarray(points, np.float32)
    tor = np.asarray(torso, np.float32)
    if tor.shape != (pts.shape[0], 2):
        raise InputError("spatial prior", "torso", f"shape {(pts.shape[0], 2)} (x, y)", tor.shape)
    vis = np.asarray(visible, bool)
    return (np.concatenate([pts, tor[:, None]], axis=1),
            np.concatenate([vis, np.ones((len(vis), 1), bool)], axis=1))


def priors_from_pixels(points, visible, torso, stride: float, edges: Edges = FLIC_EDGES,
                       kernel_size: int | Sequence[int] = 31, sigma: float = 1.0, floor: float = 1e-4) -> np.ndarray:
    """Log-priors [E, kh, kw] (`offset_priors`) of training ground truth given in image pixels: points [N, K, 2]
    (x, y), visible [N, K], torso [N, 2] (the conditioning point, node K), mapped to the cells of a heat-map of
    this stride (`heatmaps.image_to_map`)."""
    pts = np.asarray(points, np.float64)
    cells = (pts - (stride - 1) / 2) / stride
    tor = (np.asarray(torso, np.float64) - (stride - 1) / 2) / stride
    p, v = with_torso(cells, visible, tor)
    return offset_priors(p, v, edges, kernel_size, sigma, floor)


def learn_priors(points, visible, torso, stride: float, cfg: SpatialConfig = FLIC_VALIDATED,
                 map_size: int | None = None) -> np.ndarray:
    """Log-priors [E, k, k] float32 of cfg's tree learned from training ground truth in image pixels (the pixels of
    the network's input): points [N, K, 2] (x, y), visible [N, K] (the labelled joints), torso [N, 2] (each
    person's conditioning point, node K), on the cells of a heat-map of this stride: `priors_from_pixels` with
    cfg.edges, side `cfg.kernel_size(map_size)` (map_size: the heat-map's side in cells, needed for kernel 0),
    cfg.prior_sigma and cfg.prior_floor."""
    cfg.validate()
    pts = np.asarray(points)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise InputError("spatial prior", "points", "[N, K, 2] (x, y) pixels", pts.shape)
    tree_structure(cfg.edges, pts.shape[1] + 1)
    return priors_from_pixels(points, visible, torso, stride, cfg.edges, cfg.kernel_size(map_size),
                              cfg.prior_sigma, cfg.prior_floor)


CONFIG_FILE = "spatial.json"
PRIORS_FILE = "spatial_priors.npy"


def save_model(folder: str | os.PathLike, cfg: SpatialConfig, log_priors, about: Mapping[str, Any] | None = None
               ) -> None:
    """Write the spatial model into `folder` (module docstring, "Files"): spatial_priors.npy (log_priors float32
    [E, kh, kw] for cfg.edges) then spatial.json ({"config": cfg.to_dict(), "priors": {"file", "shape", **about}};
    about: JSON-ready notes, e.g. what the priors were learned from), each atomically."""
    cfg.validate()
    pri = np.asarray(log_priors, np.float32)
    _check_priors(pri, cfg, "log_priors")
    folder = Path(folder)
    io.save_npy(folder / PRIORS_FILE, pri)
    io.write_json(folder / CONFIG_FILE, {"config": cfg.to_dict(),
                                         "priors": {**dict(about or {}), "file": PRIORS_FILE,
                                                    "shape": list(pri.shape)}})


def load_model(folder: str | os.PathLike) -> tuple[SpatialConfig, np.ndarray] | None:
    """(config, log-priors [E, kh, kw] float32) saved in `folder` by `save_model`; None when it holds no
    spatial.json; InputError naming the file for a malformed spatial.json or missing / mismatched priors."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, "spatial.json", "a JSON object written by spatial.save_model", str(e)) from None
    if not isinstance(saved, dict) or "config" not in saved:
        raise InputError(path, "config", "a JSON object with the SpatialConfig under \"config\"",
                         type(saved).__name__)
    cfg = SpatialConfig.from_dict(saved["config"], path)
    pri_path = folder / PRIORS_FILE
    if not pri_path.is_file():
        raise InputError(pri_path, PRIORS_FILE, f"the log-priors saved beside {CONFIG_FILE}", "missing file")
    try:
        pri = np.load(pri_path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(pri_path, PRIORS_FILE, "a .npy array of log-priors [E, kh, kw]", str(e)) from None
    _check_priors(pri, cfg, pri_path)
    return cfg, pri.astype(np.float32)


def _check_priors(pri: np.ndarray, cfg: SpatialConfig, source) -> None:
    want = f"[E={len(cfg.edges)}, k, k] float log-priors" + (f" with k = kernel {cfg.kernel}" if cfg.kernel else "")
    if pri.ndim != 3 or pri.shape[0] != len(cfg.edges) or not np.issubdtype(pri.dtype, np.floating) or (
            cfg.kernel and pri.shape[1:] != (cfg.kernel, cfg.kernel)):
        raise InputError(source, "log_priors", want, f"{pri.dtype} {pri.shape}")
    _kernel_shape(pri.shape[1:])


def _shift_max(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    m = jax.lax.stop_gradient(jnp.max(a))
    return a - m, m


def _sum_message(belief: jax.Array, log_kernel: jax.Array, upward: bool, method: str) -> jax.Array:
    """log sum_{x'} exp(belief(x') + log_kernel(x - x')) (downward: x' the parent) or log_kernel(x' - x)
    (upward: x' the child), exp-shift-convolve-log; output max-shifted to 0."""
    b, _ = _shift_max(belief)
    k, _ = _shift_max(log_kernel)
    k = jnp.exp(k)
    if upward:
        k = k[::-1, ::-1]
    c = jax.scipy.signal.convolve(jnp.exp(b), k, mode="same", method=method, precision=jax.lax.Precision.HIGHEST)
    m = jnp.log(jnp.maximum(c, _TINY))
    return m - jax.lax.stop_gradient(jnp.max(m))


def _max_message(belief: jax.Array, log_kernel: jax.Array, upward: bool) -> jax.Array:
    """max_{x'} (belief(x') + log_kernel(x - x')) (downward) or log_kernel(x' - x) (upward): an exact
    max-convolution by a gather over the kernel's offsets; output max-shifted to 0."""
    h, w = belief.shape
    kh, kw = log_kernel.shape
    ry, rx = kh // 2, kw // 2
    b, _ = _shift_max(belief)
    padded = jnp.pad(b, ((ry, ry), (rx, rx)), constant_values=_NEG)
    # source cell of offset index (i, j): downward x' = x - d, upward x' = x + d, with d = (i - ry, j - rx)
    sgn = 1 if upward else -1
    ys = np.arange(h)[:, None, None, None] + sgn * (np.arange(kh)[None, None, :, None] - ry) + ry
    xs = np.arange(w)[None, :, None, None] + sgn * (np.arange(kw)[None, None, None, :] - rx) + rx
    m = jnp.max(padded[ys, xs] + log_kernel[None, None], axis=(-2, -1))
    m = jnp.maximum(m, _NEG)
    return m - jax.lax.stop_gradient(jnp.max(m))


def _check_inputs(log_unary: jax.Array, log_priors: jax.Array, edges: Edges, mode: str, method: str) -> _Tree:
    if log_unary.ndim != 3:
        raise InputError("spatial model", "log_unary", "[V, H, W] (one map per tree node)", log_unary.shape)
    if log_priors.ndim != 3 or log_priors.shape[0] != len(edges):
        raise InputError("spatial model", "log_priors", f"[E={len(edges)}, kh, kw]", log_priors.shape)
    _kernel_shape(log_priors.shape[1:])
    if mode not in MODES:
        raise InputError("spatial model", "mode", f"one of {MODES}", mode)
    if method not in METHODS:
        raise InputError("spatial model", "method", f"one of {METHODS}", method)
    return tree_structure(edges, log_unary.shape[0])


@functools.partial(jax.jit, static_argnames=("edges", "mode", "method"))
def tree_messages(log_unary: jax.Array, log_priors: jax.Array, edges: Edges, mode: str = "sum",
                  method: str = "direct") -> tuple[jax.Array, jax.Array]:
    """The messages of exact belief propagation on the tree: (up [E, H, W], down [E, H, W]), up[e] from edge e's
    child to its parent (a function of the parent's cell), down[e] from the parent to the child (a function of the
    child's cell); each max-shifted to 0.

    log_unary: [V, H, W] log-unaries of the V nodes; log_priors: [E, kh, kw] (odd kh, kw) log psi_e over offsets
    child - parent, entry [e, r_y + d_y, r_x + d_x]; edges: static (parent, child) pairs forming one tree over the
    V nodes; mode: "sum" or "max"; method: sum-product convolution, "direct" or "fft".
    """
    log_unary = jnp.asarray(log_unary, jnp.float32)
    log_priors = jnp.asarray(log_priors, jnp.float32)
    tree = _check_inputs(log_unary, log_priors, edges, mode, method)

    def message(belief, e, upward):
        if mode == "sum":
            return _sum_message(belief, log_priors[e], upward, method)
        return _max_message(belief, log_priors[e], upward)

    up: dict[int, jax.Array] = {}
    for v in reversed(tree.order):  # leaves first
        if v == tree.root:
            continue
        b = log_unary[v] + sum((up[e] for _, e in tree.children[v]), jnp.zeros_like(log_unary[v]))
        e = tree.parent_edge[v]
        up[e] = message(b, e, upward=True)
    down: dict[int, jax.Array] = {}
    for v in tree.order:  # root first
        for c, e in tree.children[v]:
            b = log_unary[v] + sum((up[e2] for c2, e2 in tree.children[v] if c2 != c), jnp.zeros_like(log_unary[v]))
            if v != tree.root:
                b = b + down[tree.parent_edge[v]]
            down[e] = message(b, e, upward=False)
    n = len(edges)
    empty = jnp.zeros((0,) + log_unary.shape[1:], jnp.float32)
    stack = lambda d: jnp.stack([d[e] for e in range(n)]) if n else empty  # noqa: E731
    return stack(up), stack(down)


@functools.partial(jax.jit, static_argnames=("edges", "mode", "method"))
def marginals(log_unary: jax.Array, log_priors: jax.Array, edges: Edges, mode: str = "sum",
              method: str = "direct") -> jax.Array:
    """Log-marginals [V, H, W] of every node (sum-product: log p(x_v), logsumexp over the map 0; max-product: the
    log max-marginal shifted to maximum 0). Arguments as `tree_messages`."""
    log_unary = jnp.asarray(log_unary, jnp.float32)
    tree = _check_inputs(log_unary, jnp.asarray(log_priors), edges, mode, method)
    up, down = tree_messages(log_unary, log_priors, edges, mode, method)
    beliefs = []
    for v in range(log_unary.shape[0]):
        b = log_unary[v]
        for _, e in tree.children[v]:
            b = b + up[e]
        if v != tree.root:
            b = b + down[tree.parent_edge[v]]
        if mode == "sum":
            b = b - jax.nn.logsumexp(b)
        else:
            b = b - jnp.max(b)
        beliefs.append(b)
    return jnp.stack(beliefs)


def heatmap_log_unary(heatmaps: jax.Array, floor: float = 1e-3, power: float = 1.0) -> jax.Array:
    """Coarse heat-maps (MSE-regressed Gaussians of peak 1) [..., H, W, K] -> log-unaries [..., K, H, W]:
    power * log(clip(h, 0, 1) + floor)."""
    u = power * jnp.log(jnp.clip(heatmaps, 0.0, 1.0) + floor)
    return jnp.moveaxis(u, -1, -3)


def torso_log_unary(torso: jax.Array, shape: tuple[int, int], sigma: float = 0.5) -> jax.Array:
    """Log-unary [..., H, W] of the torso node at points torso [..., 2] (x, y cells): a Gaussian of std `sigma`
    cells, or for sigma = 0 a delta (0 at the nearest cell inside the map, -1e4 elsewhere)."""
    h, w = shape
    ys = jnp.arange(h, dtype=jnp.float32)[:, None]
    xs = jnp.arange(w, dtype=jnp.float32)[None, :]
    t = jnp.asarray(torso, jnp.float32)[..., None, None, :]
    if sigma > 0:
        return -((xs - t[..., 0]) ** 2 + (ys - t[..., 1]) ** 2) / (2.0 * sigma**2)
    cx = jnp.clip(jnp.rint(t[..., 0]), 0, w - 1)
    cy = jnp.clip(jnp.rint(t[..., 1]), 0, h - 1)
    return jnp.where((xs == cx) & (ys == cy), 0.0, _NEG)


def node_log_unaries(heatmaps: jax.Array, torso: jax.Array, cfg: SpatialConfig) -> jax.Array:
    """Log-unaries [N, K+1, H, W] of the tree's nodes: the K heat-maps [N, H, W, K] (`heatmap_log_unary`) and the
    torso [N, 2] (cells, `torso_log_unary`) as node K."""
    _, h, w, _ = heatmaps.shape
    u = heatmap_log_unary(heatmaps, cfg.unary_floor, cfg.unary_power)
    t = torso_log_unary(torso, (h, w), cfg.torso_sigma)
    return jnp.concatenate([u, t[:, None]], axis=1)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _apply(heatmaps: jax.Array, torso: jax.Array, log_priors: jax.Array, cfg: SpatialConfig) -> jax.Array:
    u = node_log_unaries(heatmaps, torso, cfg)
    lm = jax.vmap(lambda x: marginals(x, log_priors, cfg.edges, cfg.mode, cfg.method))(u)[:, :-1]  # joints only
    out = lm if cfg.output == "log" else jnp.exp(lm)
    return jnp.moveaxis(out, 1, -1)


def apply_spatial_model(heatmaps: jax.Array, torso: jax.Array, log_priors: jax.Array,
                        cfg: SpatialConfig = SpatialConfig()) -> jax.Array:
    """Refined heat-maps [N, H, W, K] of coarse heat-maps [N, H, W, K] conditioned on the torso [N, 2] ((x, y)
    heat-map cells): each joint's marginal in the tree MRF (module docstring; `cfg.output`), or the input
    unchanged when `cfg.enabled` is False. log_priors [E, kh, kw] for cfg.edges (nodes 0..K-1 the joints, K the
    torso; e.g. `learn_priors`); cfg's prior fields are not used here."""
    if not cfg.enabled:
        return heatmaps
    cfg.validate()
    heatmaps = jnp.asarray(heatmaps, jnp.float32)
    if heatmaps.ndim != 4:
        raise InputError("spatial model", "heatmaps", "[N, H, W, K]", heatmaps.shape)
    n, _, _, k = heatmaps.shape
    if np.shape(torso) != (n, 2):
        raise InputError("spatial model", "torso", f"shape {(n, 2)} (x, y cells)", np.shape(torso))
    tree_structure(cfg.edges, k + 1)
    return _apply(heatmaps, jnp.asarray(torso, jnp.float32), jnp.asarray(log_priors, jnp.float32), cfg.inference())


@jax.jit
def select_peaks(heatmaps: jax.Array, refined: jax.Array) -> jax.Array:
    """Points (x, y) [..., K, 2] in cells: the arg-max cell of the refined maps [..., H, W, K] (the spatial model
    selects the person), refined to sub-cell precision on the original heat-maps [..., H, W, K] around that cell
    (the heat-map localises; the marginal's peak is broadened by the priors): `heatmaps.subpixel_argmax`."""
    return hmap.subpixel_argmax(heatmaps, refined)


def marginal_nll(log_priors: jax.Array, log_unary: jax.Array, targets: jax.Array, mask: jax.Array, edges: Edges,
                 method: str = "direct") -> jax.Array:
    """Mean negative sum-product log-marginal of the target cells, a differentiable loss for learning the
    log-priors further. log_unary [N, V, H, W]; targets int [N, V, 2] (x, y cells); mask bool [N, V] (the nodes
    scored). Returns a scalar (0 when nothing is masked in)."""
    lm = jax.vmap(lambda u: marginals(u, log_priors, edges, "sum", method))(log_unary)  # [N, V, H, W]
    _, _, h, w = lm.shape
    x = jnp.clip(targets[..., 0], 0, w - 1)
    y = jnp.clip(targets[..., 1], 0, h - 1)
    flat = lm.reshape(lm.shape[:2] + (h * w,))
    val = jnp.take_along_axis(flat, (y * w + x)[..., None], axis=-1)[..., 0]
    m = mask.astype(jnp.float32)
    return -jnp.sum(val * m) / jnp.maximum(jnp.sum(m), 1.0)


def fit_priors(log_priors, heatmaps, torso, targets, visible, cfg: SpatialConfig = FLIC_VALIDATED,
               steps: int = 100, lr: float = 0.05, batch: int = 64, key: jax.Array | None = None) -> np.ndarray:
    """Log-priors [E, kh, kw] float32 trained as the paper trains its pairwise potentials: starting from
    `log_priors` (e.g. `learn_priors`' histograms), `steps` Adam steps (learning rate `lr`) on `marginal_nll`, the
    mean negative sum-product log-marginal of the ground-truth cells given the network's heat-maps (each edge's
    kernel a log-softmax of free logits, so it stays a distribution).

    heatmaps [N, H, W, K] (the coarse model's on training images), torso [N, 2] and targets [N, K, 2] (x, y cells,
    rounded to the nearest cell), visible [N, K] (the joints scored); unaries as inference makes them
    (`node_log_unaries` with cfg). Each step reads `batch` rows drawn with `key` (default PRNGKey(0))."""
    import optax

    cfg.validate()
    hm = np.asarray(heatmaps, np.float32)
    if hm.ndim != 4:
        raise InputError("spatial prior", "heatmaps", "[N, H, W, K]", hm.shape)
    n, _, _, k = hm.shape
    tgt, vis, tor = np.asarray(targets, np.float32), np.asarray(visible, bool), np.asarray(torso, np.float32)
    if tgt.shape != (n, k, 2) or vis.shape != (n, k) or tor.shape != (n, 2):
        raise InputError("spatial prior", "targets, visible, torso", f"[{n}, {k}, 2], [{n}, {k}], [{n}, 2]",
                         (tgt.shape, vis.shape, tor.shape))
    pri = jnp.asarray(log_priors, jnp.float32)
    if pri.ndim != 3 or pri.shape[0] != len(cfg.edges):
        raise InputError("spatial prior", "log_priors", f"[E={len(cfg.edges)}, kh, kw]", pri.shape)
    tree_structure(cfg.edges, k + 1)
    cells = np.rint(np.nan_to_num(tgt)).astype(np.int32)
    cells = np.concatenate([cells, np.rint(tor)[:, None].astype(np.int32)], axis=1)  # torso: never scored
    mask = np.concatenate([vis & np.all(np.isfinite(tgt), -1), np.zeros((n, 1), bool)], axis=1)
    opt = optax.adam(lr)

    def normalised(logits):
        e = logits.shape[0]
        return jax.nn.log_softmax(logits.reshape(e, -1), axis=-1).reshape(logits.shape)

    @jax.jit
    def step(logits, state, rows):
        def loss(lg):
            u = node_log_unaries(jnp.asarray(hm)[rows], jnp.asarray(tor)[rows], cfg)
            return marginal_nll(normalised(lg), u, jnp.asarray(cells)[rows], jnp.asarray(mask)[rows], cfg.edges,
                                cfg.method)

        g = jax.grad(loss)(logits)
        upd, state = opt.update(g, state, logits)
        return optax.apply_updates(logits, upd), state

    logits = jnp.maximum(pri, _NEG)
    state = opt.init(logits)
    key = jax.random.PRNGKey(0) if key is None else key
    b = min(int(batch), n)
    for t in range(int(steps)):
        rows = jax.random.choice(jax.random.fold_in(key, t), n, (b,), replace=False)
        logits, state = step(logits, state, rows)
    return np.asarray(normalised(logits), np.float32)
