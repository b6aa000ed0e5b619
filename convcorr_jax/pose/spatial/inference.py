"""Exact inference in the spatial model (`convcorr_jax.pose.spatial`): belief propagation on its tree in log space,
and the model applied to heat-maps conditioned on the torso point.

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
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, Source, check, check_finite, check_finite_entries, check_shape
from convcorr_jax.core.tracing import is_traced
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose.spatial.config import METHODS, MODES, Edges, SpatialConfig, Tree, kernel_shape, tree_structure

_TINY = 1e-30  # smallest convolution result kept before the log (log = -69: impossible in practice)
IMPOSSIBLE_LOG = -1e4  # log-probability of an impossible cell: finite, so that shifts by a maximum stay finite


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
    # the convolution needs the kernel no larger than the map on both axes, or no smaller on both: a kernel larger
    # on one axis only is padded with impossible offsets (0 after exp) to reach the map's size on the other
    (h, w), (kh, kw) = b.shape, k.shape
    if (kh > h or kw > w) and (kh < h or kw < w):
        py, px = max(0, -(-(h - kh) // 2)), max(0, -(-(w - kw) // 2))
        k = jnp.pad(k, ((py, py), (px, px)))
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
    padded = jnp.pad(b, ((ry, ry), (rx, rx)), constant_values=IMPOSSIBLE_LOG)
    # source cell of offset index (i, j): downward x' = x - d, upward x' = x + d, with d = (i - ry, j - rx)
    sgn = 1 if upward else -1
    ys = np.arange(h)[:, None, None, None] + sgn * (np.arange(kh)[None, None, :, None] - ry) + ry
    xs = np.arange(w)[None, :, None, None] + sgn * (np.arange(kw)[None, None, None, :] - rx) + rx
    m = jnp.max(padded[ys, xs] + log_kernel[None, None], axis=(-2, -1))
    m = jnp.maximum(m, IMPOSSIBLE_LOG)
    return m - jax.lax.stop_gradient(jnp.max(m))


def _check_inputs(log_unary: jax.Array, log_priors: jax.Array, edges: Edges, mode: str, method: str) -> Tree:
    check_shape(log_unary, "V H W", "spatial model", "log_unary", note="(one map per tree node)")
    check_shape(log_priors, "E kh kw", "spatial model", "log_priors", {"E": len(edges)})
    kernel_shape(log_priors.shape[1:])
    if mode not in MODES:
        raise InputError("spatial model", "mode", f"one of {MODES}", mode)
    if method not in METHODS:
        raise InputError("spatial model", "method", f"one of {METHODS}", method)
    return tree_structure(edges, log_unary.shape[0])


@functools.partial(jax.jit, static_argnames=("edges", "mode", "method"))
def tree_messages(log_unary: jax.Array, log_priors: jax.Array, edges: Edges, mode: str = "sum",
                  method: str = "direct") -> tuple[jax.Array, jax.Array]:
    """The messages of exact belief propagation on the tree, each max-shifted to 0.

    up[e] goes from edge e's child to its parent (a function of the parent's cell), down[e] from the parent to the
    child (a function of the child's cell).

    Args:
        log_unary: float [V, H, W] log-unaries of the V nodes.
        log_priors: float [E, kh, kw] (odd kh, kw) log psi_e over offsets child - parent, entry
            [e, r_y + d_y, r_x + d_x].
        edges: static (parent, child) pairs forming one tree over the V nodes.
        mode: "sum" or "max".
        method: sum-product convolution, "direct" or "fft".

    Returns:
        (up, down): float32 [E, H, W] each. Values are not checked (this runs under jit): a NaN or +inf log-unary,
        a node -inf in every cell, or a NaN or +inf log-prior makes the messages it feeds NaN, and so every
        marginal; so does, in sum mode, a kernel -inf at every offset (in max mode its messages are 0: the edge is
        silently uninformative). -inf in some cells or at some offsets (impossible ones) is fine.
        `apply_spatial_model` checks its concrete inputs (`check_log_priors`).

    Raises:
        InputError: arrays of other shapes, an unknown mode or method, edges that are not one tree.
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
    """Log-marginals of every node of the tree.

    Args:
        log_unary, log_priors, edges, mode, method: as `tree_messages`.

    Returns:
        float32 [V, H, W]: sum-product: log p(x_v), logsumexp over the map 0; max-product: the log max-marginal shifted
        to maximum 0. NaN in (nearly) every cell of every node for a NaN or +inf log-unary or log-prior, a node -inf
        in every cell, or, in sum mode, a kernel -inf at every offset: values are not checked (`tree_messages`).

    Raises:
        InputError: as `tree_messages`.
    """
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
    """Coarse heat-maps (MSE-regressed Gaussians of peak 1) -> log-unaries: power * log(clip(h, 0, 1) + floor).

    Args:
        heatmaps: float [..., H, W, K].
        floor: added to every clipped value (> 0), so every cell stays possible.
        power: the inverse temperature (> 0): how much the heat-map is trusted against the prior.

    Returns:
        float [..., K, H, W] log-unaries, one map per joint.
    """
    u = power * jnp.log(jnp.clip(heatmaps, 0.0, 1.0) + floor)
    return jnp.moveaxis(u, -1, -3)


def torso_log_unary(torso: jax.Array, shape: tuple[int, int], sigma: float = 0.5) -> jax.Array:
    """Log-unary of the torso node at the given points.

    Args:
        torso: [..., 2] (x, y) heat-map cells.
        shape: (H, W) of the heat-map, cells.
        sigma: std of the Gaussian, cells; 0 gives a delta.

    Returns:
        float32 [..., H, W]: -(squared distance) / (2 sigma^2), or for sigma = 0 0 at the nearest cell inside the map
        and -1e4 (`IMPOSSIBLE_LOG`) elsewhere; NaN in every cell for a NaN coordinate (whatever sigma).
    """
    h, w = shape
    ys = jnp.arange(h, dtype=jnp.float32)[:, None]
    xs = jnp.arange(w, dtype=jnp.float32)[None, :]
    t = jnp.asarray(torso, jnp.float32)[..., None, None, :]
    if sigma > 0:
        return -((xs - t[..., 0]) ** 2 + (ys - t[..., 1]) ** 2) / (2.0 * sigma**2)
    cx = jnp.clip(jnp.rint(t[..., 0]), 0, w - 1)
    cy = jnp.clip(jnp.rint(t[..., 1]), 0, h - 1)
    u = jnp.where((xs == cx) & (ys == cy), 0.0, IMPOSSIBLE_LOG)
    return jnp.where(jnp.isnan(cx) | jnp.isnan(cy), jnp.nan, u)


def node_log_unaries(heatmaps: jax.Array, torso: jax.Array, cfg: SpatialConfig) -> jax.Array:
    """Log-unaries of the tree's nodes: the K heat-maps, and the torso as node K.

    Args:
        heatmaps: float [N, H, W, K] coarse heat-maps (`heatmap_log_unary`).
        torso: [N, 2] (x, y) heat-map cells (`torso_log_unary`).
        cfg: its unary_floor, unary_power and torso_sigma are used.

    Returns:
        float32 [N, K+1, H, W].
    """
    _, h, w, _ = heatmaps.shape
    u = heatmap_log_unary(heatmaps, cfg.unary_floor, cfg.unary_power)
    t = torso_log_unary(torso, (h, w), cfg.torso_sigma)
    return jnp.concatenate([u, t[:, None]], axis=1)


def check_log_priors(log_priors: npt.ArrayLike, source: Source, field: str, edges: Edges | None = None) -> None:
    """Refuse log-priors holding NaN or +inf (every marginal NaN), or a kernel -inf at every offset (an edge that
    allows no offset: every marginal NaN in sum mode, the edge silently uninformative in max mode); -inf at some
    offsets, impossible offsets, is allowed.

    Args:
        log_priors: float [E, kh, kw] log-priors (concrete).
        source, field: where they came from, for the error.
        edges: the (parent, child) pairs of the kernels, named in the error (None: the kernel's index only).

    Returns:
        None.

    Raises:
        InputError: naming `field` and how many entries are NaN or +inf, or `field[e]` for the first kernel -inf
            everywhere.
    """
    p = np.asarray(log_priors, np.float64)
    bad = int(np.count_nonzero(np.isnan(p) | (p == np.inf)))
    check(bad == 0, source, field, "log-probabilities, -inf allowed (no NaN or +inf)", f"{bad} NaN or +inf entries")
    if p.ndim != 3 or p.shape[1] * p.shape[2] == 0:
        return  # a shape the callers' check_shape refuses
    dead = np.flatnonzero(np.all(np.isneginf(p), axis=(1, 2)))
    if dead.size:
        e = int(dead[0])
        edge = "" if edges is None or e >= len(edges) else f" (edge {tuple(int(v) for v in edges[e])})"
        more = f"; {dead.size} such kernels" if dead.size > 1 else ""
        raise InputError(source, f"{field}[{e}]", "a kernel with at least one possible offset (not -inf everywhere)",
                         f"-inf at every offset{edge}{more}")


@functools.partial(jax.jit, static_argnames=("cfg",))
def _apply(heatmaps: jax.Array, torso: jax.Array, log_priors: jax.Array, cfg: SpatialConfig) -> jax.Array:
    u = node_log_unaries(heatmaps, torso, cfg)
    lm = jax.vmap(lambda x: marginals(x, log_priors, cfg.edges, cfg.mode, cfg.method))(u)[:, :-1]  # joints only
    out = lm if cfg.output == "log" else jnp.exp(lm)
    return jnp.moveaxis(out, 1, -1)


def apply_spatial_model(heatmaps: jax.Array, torso: jax.Array, log_priors: jax.Array,
                        cfg: SpatialConfig = SpatialConfig()) -> jax.Array:
    """Refined heat-maps of coarse heat-maps conditioned on the torso: each joint's marginal in the tree MRF.

    Args:
        heatmaps: float [N, H, W, K] coarse heat-maps.
        torso: [N, 2] (x, y) heat-map cells.
        log_priors: float [E, kh, kw] for cfg.edges (nodes 0..K-1 the joints, K the torso; e.g. `learn_priors`).
        cfg: the inference settings (module docstring; `cfg.output`); its prior fields are not used here.

    Returns:
        float32 [N, H, W, K] marginals ("prob") or log-marginals ("log"); the input unchanged when `cfg.enabled` is
        False.

    Raises:
        InputError: a bad config, arrays of other shapes, edges that are not one tree over K + 1 nodes, or, on
            concrete arrays, a NaN or +-inf heat-map entry or torso coordinate, or a NaN or +inf log-prior or a
            kernel -inf at every offset (`check_log_priors`; -inf at some offsets, impossible ones, is allowed).
            Inside a caller's jit values are not checked (docs/library.md, "Inside your own jit"): a NaN heat-map
            cell or torso coordinate gives NaN maps for every joint of its image, a NaN or +inf log-prior (or in sum
            mode a kernel -inf everywhere) for every image, and +-inf heat-map cells are read as 1 and 0.
    """
    if not cfg.enabled:
        return heatmaps
    cfg.validate()
    heatmaps = jnp.asarray(heatmaps, jnp.float32)
    dims = check_shape(heatmaps, "N H W K", "apply_spatial_model", "heatmaps")
    check_shape(torso, "N 2", "apply_spatial_model", "torso", dims, note="(x, y cells)")
    k = dims["K"]
    tree_structure(cfg.edges, k + 1)
    if not is_traced(heatmaps) and not bool(jnp.isfinite(heatmaps).all()):  # one bool leaves the device
        check_finite_entries(heatmaps, "apply_spatial_model", "heatmaps")
    if not is_traced(torso):
        check_finite(torso, np.ones(dims["N"], bool), "apply_spatial_model", "torso", "finite (x, y) cells")
    if not is_traced(log_priors):
        check_log_priors(log_priors, "apply_spatial_model", "log_priors", cfg.edges)
    return _apply(heatmaps, jnp.asarray(torso, jnp.float32), jnp.asarray(log_priors, jnp.float32), cfg.inference())


@jax.jit
def select_peaks(heatmaps: jax.Array, refined: jax.Array) -> jax.Array:
    """Points at the arg-max cell of the refined maps, refined to sub-cell precision on the original heat-maps.

    The spatial model selects the person; the heat-map localises (the marginal's peak is broadened by the priors):
    `heatmaps.subpixel_argmax`.

    Args:
        heatmaps: float [..., H, W, K] the original (coarse) heat-maps.
        refined: [..., H, W, K] the refined maps (`apply_spatial_model`).

    Returns:
        float [..., K, 2] (x, y) heat-map cells.
    """
    return hmap.subpixel_argmax(heatmaps, refined)
