"""Dense flow between two feature grids by BP (Long et al. 2014, section 3): the settings (`BPConfig`),
`solve_flow` of one pair or a batch of pairs (split into groups per call and over devices), and
`solve_flow_in_frame`, the scaling of the smoothness term to Long et al.'s frame. Two images: `flow.align`.

Energy of a displacement field w on the source grid (4-connected, H x W nodes):

    E(w) = sum_p ||f_s(p) - f_t(p + w(p))||_2  +  beta * sum_(p,q) ||w(p) - w(q)||^2

Labels are 2D displacements (dy, dx) in grid cells, in a window |dy| <= Ry, |dx| <= Rx (default: the whole
target grid, R = size - 1); a label pointing outside the target grid has infinite cost. Displacements in the
smoothness term are measured in `pixel_scale` units per grid cell (the feature stride in pixels, so that beta
has the paper's meaning), i.e. the pairwise weight on grid labels is `beta * pixel_scale**2`. The costs:
`flow.cost_volume`; the solver: `flow.bp_solver`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from convcorr_jax.core import parallel
from convcorr_jax.core.config import check_fields, check_types
from convcorr_jax.core.errors import F32_MAX, InputError, check
from convcorr_jax.flow.bp_solver import solve
from convcorr_jax.flow.cost_volume import check_features, cost_volume, resolve_window, target_cost
from convcorr_jax.flow.distance_transform import METHODS
from convcorr_jax.core.long_frame import FRAME_PX


@dataclasses.dataclass(frozen=True)
class BPConfig:
    """BP flow settings; defaults follow Long et al. (beta = 3e-3, displacements in pixels)."""

    beta: float = 3e-3
    window: tuple[int, int] | int | None = None  # (Ry, Rx) grid cells; None: whole target grid
    iters: int = 10  # BP iterations per level
    levels: int = 3  # multigrid levels (1 = plain BP)
    # 1D DT of the messages: "auto" (by label-axis length), "tree", "brute" or "envelope"; same result
    dt_method: str = "auto"

    def __post_init__(self):
        check_types(self, "BPConfig")
        check_fields(self, positive=("beta",), nonnegative=("window",), at_least_one=("iters", "levels"),
                     finite=("beta",), source="BPConfig")


class FlowResult(NamedTuple):
    """flow [..., H, W, 2] (dx, dy) in pixels (grid cells x pixel_scale); energies as in `BPResult`."""

    flow: jax.Array
    labels: jax.Array
    data_energy: jax.Array
    deformation_energy: jax.Array
    energy: jax.Array
    trace: jax.Array


@functools.partial(jax.jit, static_argnames=("window",))
def _cost_volume_jit(fs, ft, window):
    return cost_volume(fs, ft, window)


_target_cost_jit = jax.jit(target_cost)


def _align(fs, ft, config: BPConfig, pixel_scale):
    # the costs are their own XLA program: fused into the solver's many readers they cost more. The whole-grid
    # window (the default) is solved on target-indexed costs (`solve(..., targets=True)`): same labels
    h, w = fs.shape[:2]
    window = resolve_window(config.window, (h, w))
    whole = window == (h - 1, w - 1)
    cost = _target_cost_jit(fs, ft) if whole else _cost_volume_jit(fs, ft, window)
    return _flow_from_costs(cost, config, pixel_scale, whole)


@functools.partial(jax.jit, static_argnames=("config", "targets"))
def _flow_from_costs(cost, config: BPConfig, pixel_scale, targets: bool):
    h, w = cost.shape[:2]
    ry, rx = (h - 1, w - 1) if targets else ((cost.shape[2] - 1) // 2, (cost.shape[3] - 1) // 2)
    weight = config.beta * jnp.square(pixel_scale)
    res = solve(cost, weight, config.iters, config.levels, config.dt_method, crop=True, targets=targets)
    disp = res.labels - jnp.array([ry, rx], jnp.int32)  # (dy, dx) cells
    flow = disp[..., ::-1].astype(jnp.float32) * pixel_scale  # (dx, dy) pixels
    return FlowResult(flow, disp, res.data_energy, res.deformation_energy, res.energy, res.trace)


def _check_positive(value, name: str) -> None:
    """InputError unless value is a finite number > 0."""
    try:
        ok = bool(np.isfinite(value) and value > 0)
    except (TypeError, ValueError):
        ok = False
    check(ok, "bp.solve_flow", name, "a finite number > 0", value)


def _check_weight(config: BPConfig, pixel_scale: float, hw: tuple[int, int]) -> None:
    """InputError unless the pairwise weight beta * pixel_scale**2 and the deformation energy of any labelling (the
    weight times each edge's largest squared label step) stay finite in float32: pixel_scale 1e20 overflowed the
    weight and the energy was inf or NaN, the flow arbitrary."""
    h, w = hw
    ry, rx = resolve_window(config.window, hw)
    step2 = min(2 * ry, h) ** 2 + min(2 * rx, w) ** 2  # neighbours' targets lie in the grid: |dy_p - dy_q| <= H
    with np.errstate(over="ignore"):
        scale2 = np.float64(pixel_scale) ** 2
        most = np.float64(config.beta) * scale2 * step2 * (h * (w - 1) + (h - 1) * w)
    check(bool(scale2 < F32_MAX and most < F32_MAX / 2), "bp.solve_flow", "pixel_scale",
          f"a pixel_scale whose deformation energies (beta = {config.beta:g} x pixel_scale**2 x squared label steps)"
          f" fit float32 on this {h} x {w} grid", pixel_scale)


CPU_PAIRS_PER_CALL = 1  # batched `solve_flow` on a CPU solves this many pairs per call (see there)


def resolve_pairs_per_call(pairs_per_call: int | str | None) -> int | None:
    """`solve_flow`'s pairs per compiled call.

    Args:
      pairs_per_call: "auto" (`CPU_PAIRS_PER_CALL` on a CPU backend, None (one vmap) on accelerators), an integer
        >= 1 or None (as given).

    Returns:
      int >= 1 pairs per call, or None for one vmap over all pairs.

    Raises:
      InputError: any other value.
    """
    if pairs_per_call == "auto":
        return CPU_PAIRS_PER_CALL if jax.default_backend() == "cpu" else None
    if pairs_per_call is None or (isinstance(pairs_per_call, int) and pairs_per_call >= 1):
        return pairs_per_call
    raise InputError("bp.solve_flow", "pairs_per_call", "an integer >= 1, None or 'auto'", pairs_per_call)


def solve_flow(fs: jax.Array | np.ndarray, ft: jax.Array | np.ndarray, config: BPConfig = BPConfig(),
               pixel_scale: float = 1.0, mesh: Mesh | None = None, pairs_per_call: int | str | None = "auto"
               ) -> FlowResult:
    """Flow from source features fs [H, W, C] to target ft [H, W, C] (or batched [N, H, W, C]) by BP.

    Batched pairs are solved `pairs_per_call` at a time, vmapped within a call; the calls are dispatched without
    waiting and N is padded to a multiple by repeating the last pair (one compile; the padding is dropped).
    Small groups keep BP's working set in cache, and XLA:CPU already spreads one pair's messages over the cores
    (group sizes compared at the paper's scale: bench/RESULTS_flow.md). Same labels either way.

    Args:
      fs, ft: source and target feature grids of equal shape, [H, W, C] or [N, H, W, C] (cast to float32), finite,
        at least 2 nodes each, norms below about 1.3e19 (their squares must fit float32) and, unless all 0, the
        largest above about 1.1e-19 (its square must not underflow float32).
      config: the BP settings (`BPConfig`).
      pixel_scale: pixels per grid cell (the feature stride), finite and > 0: the smoothness term's unit.
      mesh: batched pairs are also split over the devices of this 1-D mesh (`parallel.make_mesh()`, one process),
        each device solving its pairs with `vmap`; N is padded to a multiple of the device count by repeating the
        last pair, and the padding is dropped. Same result as without a mesh.
      pairs_per_call: an integer >= 1; None: one vmap over all N; "auto": `CPU_PAIRS_PER_CALL` on a CPU backend,
        None on accelerators.

    Returns:
      A `FlowResult` of jax arrays ([N, ...] leading where batched): flow float32 [H, W, 2] (dx, dy) in pixels
      (grid cells x pixel_scale), labels int32 [H, W, 2] (dy, dx) displacements in grid cells, data / deformation /
      total energy float32 scalars and the energy trace float32 [levels * iters].

    Raises:
      InputError: features of mismatched shapes, not finite or of norms whose squares overflow or (nonzero) all
        underflow float32 (`cost_volume.check_features`), an unknown `config.dt_method`, a pixel_scale not finite
        and > 0 or so large that beta * pixel_scale**2 x the squared label steps overflows float32, a bad
        pairs_per_call.

    Examples:
      >>> import numpy as np
      >>> fs = np.random.default_rng(0).normal(size=(4, 5, 8)).astype(np.float32)
      >>> ft = np.roll(fs, 1, axis=1)   # the target: the source moved one cell (16 px) right
      >>> res = solve_flow(fs, ft, BPConfig(beta=1e-3, iters=4, levels=1), pixel_scale=16.0)
      >>> np.asarray(res.flow)[1, :4].tolist()   # (dx, dy) pixels of four nodes
      [[16.0, 0.0], [16.0, 0.0], [16.0, 0.0], [16.0, 0.0]]
    """
    check_features(fs, ft)
    if config.dt_method not in ("auto", *METHODS):
        raise InputError("BPConfig", "dt_method", "'auto', 'tree', 'brute' or 'envelope'", config.dt_method)
    _check_positive(pixel_scale, "pixel_scale")
    _check_weight(config, pixel_scale, (np.shape(fs)[-3], np.shape(fs)[-2]))
    group = resolve_pairs_per_call(pairs_per_call)
    fs, ft = jnp.asarray(fs, jnp.float32), jnp.asarray(ft, jnp.float32)
    scale = jnp.float32(pixel_scale)
    if fs.ndim == 4 and mesh is not None and mesh.devices.size > 1:
        return parallel.shard_rows(_pairs_fn(config, float(pixel_scale)), mesh, fs, ft)
    if fs.ndim == 4 and group is not None and fs.shape[0] > group:
        (fs, ft), n = parallel.pad_rows((fs, ft), group)
        solve_group = _pairs_fn(config, float(pixel_scale))
        parts = [solve_group(fs[a:a + group], ft[a:a + group]) for a in range(0, fs.shape[0], group)]
        return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs)[:n], *parts)
    if fs.ndim == 4:
        return jax.vmap(_align, in_axes=(0, 0, None, None))(fs, ft, config, scale)
    return _align(fs, ft, config, scale)


def solve_flow_in_frame(fs: jax.Array | np.ndarray, ft: jax.Array | np.ndarray, config: BPConfig, stride: float,
                        frame_side: float, paper_side: float = FRAME_PX, **kwargs: Any) -> FlowResult:
    """`solve_flow` with the smoothness term in pixels of a `paper_side` frame (beta keeps the paper's meaning).

    The one place where every protocol's `pixel_scale` (stride x paper_side / frame_side) is made.

    Args:
      fs, ft: source and target features [H, W, C] or [N, H, W, C] (as `solve_flow`).
      config: the BP settings (`BPConfig`).
      stride: frame pixels per grid cell.
      frame_side: the frame's side in pixels (its longer side for a non-square one).
      paper_side: the side (px) of the frame the paper's beta is meant in (`FRAME_PX`).
      **kwargs: `solve_flow`'s mesh and pairs_per_call.

    Returns:
      A `FlowResult` of jax arrays: flow float32 [..., H, W, 2] (dx, dy) in frame pixels; energies in paper
      units.

    Raises:
      InputError: stride, frame_side or paper_side not finite and > 0, or `solve_flow`'s checks.
    """
    for name, value in (("stride", stride), ("frame_side", frame_side), ("paper_side", paper_side)):
        _check_positive(value, name)
    scale = paper_side / frame_side
    res = solve_flow(fs, ft, config, stride * scale, **kwargs)
    return res._replace(flow=res.flow / scale)


@functools.lru_cache(maxsize=16)
def _pairs_fn(config: BPConfig, pixel_scale: float):
    """vmap of `_align` over pairs for one (config, pixel_scale): the stable function `parallel.shard_rows` keys."""
    return jax.vmap(lambda a, b: _align(a, b, config, jnp.float32(pixel_scale)))
