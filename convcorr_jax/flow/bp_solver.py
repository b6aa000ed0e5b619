"""Min-sum loopy belief propagation on a 4-connected grid of nodes with 2D labels (Long et al. 2014, section 3):
`solve` and `_labelling_energy`.

Energy of a displacement field w on the source grid (4-connected, H x W nodes):

    E(w) = sum_p ||f_s(p) - f_t(p + w(p))||_2  +  beta * sum_(p,q) ||w(p) - w(q)||^2

Labels are 2D displacements (dy, dx) in grid cells, in a window |dy| <= Ry, |dx| <= Rx (default: the whole
target grid, R = size - 1); a label pointing outside the target grid has infinite cost. Displacements in the
smoothness term are measured in `pixel_scale` units per grid cell (the feature stride in pixels, so that beta
has the paper's meaning), i.e. the pairwise weight on grid labels is `beta * pixel_scale**2`.

Solver (Felzenszwalb & Huttenlocher 2006): messages are squared-Euclidean distance transforms of the sender's
belief (`distance_transform.dt1d_min`, exact; method chosen by label-axis length), bipartite checkerboard
schedule (at iteration t only nodes with (y + x) % 2 == t % 2 send, and only they compute messages; the two
classes of nodes are stored apart, so a step reads one class and writes the other), and coarse-to-fine
multigrid (level k groups 2^k x 2^k nodes that share a label; its data cost is the block sum; fine messages
start from the parent's). Messages are passed on cost / weight with a unit pairwise weight (E / weight has the
same minimisers; the DT's tables of (p - q)^2 become compile-time constants) and shifted to min 0 over the
sender's labels; a node with no neighbour on a side gets 0 from it. `flow.bp.solve_flow` solves each node on the
window of labels whose target lies in the grid (at most H x W of the (2R+1)^2 labels; the others have +inf cost), which
is the same minimisation; with the whole-grid window (the default) it starts from each node's cost at every
target cell (`target_cost`, `solve(..., targets=True)`) and never builds the (2H-1)(2W-1)-label volume.
After every iteration the labelling (argmin of beliefs, coarse ones copied to their blocks) is scored on the
fine problem; the lowest-energy labelling seen is returned, so the returned energy never exceeds any traced
energy.

The label windows and multigrid layouts live in `flow.bp_windows`, the messages and the checkerboard half-steps in
`flow.bp_messages`; this module runs the levels and scores their labellings.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import check, check_shape
from convcorr_jax.flow.bp_messages import (argmin_label, edge_factors, from_classes, half_step_classes,
                                           half_step_masked, neighbour_differences, to_classes)
from convcorr_jax.flow.bp_windows import (axis_windows, block_sum, crop_labels, expand_blocks, expand_msgs, pad_labels,
                                          target_windows)
from convcorr_jax.core.tracing import is_traced


class BPResult(NamedTuple):
    """labels [..., H, W, 2] int32 (dy, dx) grid cells; data/deformation/energy scalars (deformation includes
    the weight); trace [..., levels * iters] fine-grid energy after each iteration (coarsest level first)."""

    labels: jax.Array
    data_energy: jax.Array
    deformation_energy: jax.Array
    energy: jax.Array
    trace: jax.Array


def _labelling_energy(cost: jax.Array, labels: jax.Array, weight: float, offsets: jax.Array | None = None,
                     targets: bool = False, truncation: float | jax.Array | None = None,
                     edge_scale: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(data, deformation) energy of a labelling on costs [H, W, Ly, Lx].

    Args:
      cost: [H, W, Ly, Lx] costs, or with targets=True [H, W, H, W] indexed by target cell.
      labels: int [H, W, 2] indices into the last two axes of cost; with targets=True whole-grid displacement labels
        (as `solve(..., targets=True)` returns them), a label whose target leaves the grid costing +inf.
      weight: the pairwise weight.
      offsets: per-node label origins [H, W, 2] (label units): the deformation is on labels + offsets (None: none).
      targets: whether cost is target-indexed (above).
      truncation: each pair's term becomes weight * min(||l_p - l_q||^2, truncation^2) (labels; None: none).
      edge_scale: [H, W, 2] per-pair factors (edge to the node below, edge to the node right; None: none).

    Returns:
      (data, deformation) scalars in the cost's dtype; the deformation includes the weight.
    """
    h, w = cost.shape[:2]
    flat = cost.reshape(h, w, -1)
    if targets:
        ty = labels[..., 0] + jnp.arange(h)[:, None] - (h - 1)
        tx = labels[..., 1] + jnp.arange(w)[None, :] - (w - 1)
        inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
        idx = jnp.clip(ty, 0, h - 1) * w + jnp.clip(tx, 0, w - 1)
        data = jnp.sum(jnp.where(inside, jnp.take_along_axis(flat, idx[..., None], axis=-1)[..., 0], jnp.inf))
    else:
        idx = labels[..., 0] * cost.shape[3] + labels[..., 1]
        data = jnp.sum(jnp.take_along_axis(flat, idx[..., None], axis=-1))
    lab = labels.astype(cost.dtype) if offsets is None else labels.astype(cost.dtype) + offsets
    dv = jnp.sum(jnp.square(lab[1:] - lab[:-1]), -1)
    dh = jnp.sum(jnp.square(lab[:, 1:] - lab[:, :-1]), -1)
    if truncation is not None:
        t2 = jnp.square(jnp.asarray(truncation, cost.dtype))
        dv, dh = jnp.minimum(dv, t2), jnp.minimum(dh, t2)
    if edge_scale is not None:
        dv, dh = dv * edge_scale[:-1, :, 0], dh * edge_scale[:, :-1, 1]
    return data, weight * (jnp.sum(dv) + jnp.sum(dh))


def _iterate(step, state, iters: int):
    """`iters` checkerboard iterations, state, labels_t = step(state, t % 2) for t < iters, as one `lax.scan` whose
    step gets its parity traced (the program holds one step, whatever `iters`).
    Returns (state, labels [iters, ...] stacked)."""
    return jax.lax.scan(step, state, jnp.asarray(np.arange(iters) % 2, jnp.int32))


def _bp_level(cost, msgs, weight, iters, win, method, schedule, offsets=None, cap=None, edge_scale=None):
    """`iters` checkerboard iterations (parity t % 2 sends at iteration t) on one level. cost [h, w, ny, nx] and
    msgs (4 x [h, w, ny, nx], arriving from up, down, left, right) in the nodes' label windows `win`; offsets:
    None or per-node label origins [h, w, 2] (the pairwise term on labels + offsets); cap: None or the pairwise
    term's truncation (min(|d|^2, cap) with the unit weight); edge_scale: None or [h, w, 2] factors of the pairwise
    term per edge (to the node below, to the node right). The iterations run in a loop (`_iterate`).
    Returns (msgs, labels [iters, h, w, 2] as full label indices)."""
    h, w = cost.shape[:2]
    tilts = None if offsets is None else neighbour_differences(offsets)
    scales = None if edge_scale is None else edge_factors(edge_scale)
    ys, _, xs, _ = win
    base = jnp.asarray(np.stack(np.broadcast_arrays(ys[:, None], xs[None, :]), -1), jnp.int32)
    if schedule == "masked":
        def masked(m, par):
            m = half_step_masked(cost, m, weight, par, win, method, tilts, cap, scales)
            return m, argmin_label(cost + m[0] + m[1] + m[2] + m[3]) + base

        return _iterate(masked, tuple(msgs), iters)
    # active half on the class layout; the belief a step's receivers end with (and its arg-min) is the next
    # step's senders', carried rather than recomputed. Per-class constants are stacked [class, ...] and the step
    # picks its senders' / receivers' class by its parity.
    c = jnp.stack(to_classes(cost))
    split = [to_classes(m) for m in msgs]
    ins = [tuple(s[k] for s in split) for k in (0, 1)]  # incoming messages of class 0 / 1
    # the 4 messages' tilts and edge factors stacked, one class split each: [class, h, J, 4, 2] / [class, h, J, 4]
    tilt_cls = None if tilts is None else jnp.stack(to_classes(jnp.stack(tilts, 2)))
    scale_cls = None if scales is None else jnp.stack(to_classes(jnp.stack(scales, -1), 1.0))  # no 0 / 0
    b = c[0] + ins[0][0] + ins[0][1] + ins[0][2] + ins[0][3]  # the senders' belief (class t % 2) ...

    def active(state, par):  # state: senders' incoming messages, receivers' (replaced), senders' belief, its arg-min
        sent, _, b, lab = state
        m = half_step_classes(b, sent, weight, par, win, method, w,
                               None if tilt_cls is None else tuple(jnp.moveaxis(tilt_cls[par], 2, 0)), cap,
                               None if scale_cls is None else tuple(jnp.moveaxis(scale_cls[par], -1, 0)))
        b = c[1 - par] + m[0] + m[1] + m[2] + m[3]
        lab_r = argmin_label(b)
        first = par == 0
        labels = from_classes(jnp.where(first, lab, lab_r), jnp.where(first, lab_r, lab), w) + base
        return (m, sent, b, lab_r), labels

    (last, other, _, _), labels = _iterate(active, (ins[0], ins[1], b, argmin_label(b)), iters)  # ... and its arg-min
    out = (other, last) if iters % 2 else (last, other)  # the last step (parity (iters - 1) % 2) wrote class iters % 2
    return tuple(from_classes(m0, m1, w) for m0, m1 in zip(*out)), labels


def _per_node_term(x: jax.Array | None, name: str, what: str, cost: jax.Array, levels: int,
                   crop: bool) -> jax.Array | None:
    """`solve`'s offsets or edge_scale x [H, W, 2] checked (one level, no crop, the grid's shape) and cast to the
    cost's dtype; None stays None."""
    if x is None:
        return None
    h, w = cost.shape[:2]
    check(levels == 1 and not crop, "solve", name, f"levels=1 and crop=False with {what}", (levels, crop))
    check_shape(x, "H W 2", "solve", name, {"H": h, "W": w})
    return jnp.asarray(x, cost.dtype)


def _level_problem(unit: jax.Array, k: int, num_labels: tuple[int, int], crop: bool, targets: bool,
                   label_multiple: int, msgs: tuple | None, prev: tuple | None) -> tuple[tuple, jax.Array, tuple]:
    """Level k of `solve`: its label windows `win`, its costs [h_k, w_k, ny, nx] in them (block sums of unit
    [H, W, ...], padded by `pad_labels`) and its starting messages (4 x the costs' shape): 0 on the coarsest level,
    else the parent level's `msgs` (in the parent's windows `prev`) copied to the children. Returns (win, costs,
    msgs)."""
    h, w = unit.shape[:2]
    win = (*axis_windows(h, num_labels[0], k, crop), *axis_windows(w, num_labels[1], k, crop))
    ck = target_windows(unit, k, win) if targets else crop_labels(block_sum(unit, k), *win)
    ck = pad_labels(ck, label_multiple, jnp.inf)
    if msgs is None:
        return win, ck, tuple(jnp.zeros_like(ck) for _ in range(4))
    assert prev is not None  # the parent level's windows come with its messages
    hw = (ck.shape[0], ck.shape[1])
    return win, ck, tuple(pad_labels(expand_msgs(m, win, prev, hw), label_multiple, 0.0) for m in msgs)


LABEL_MULTIPLE = 16  # label axes are padded to a multiple of this (the CPU's vector width); see `pad_labels`


def _node_argmin(cost: jax.Array, targets: bool) -> jax.Array:
    """Each node's cheapest label [H, W, 2] (dy, dx) label indices: the exact minimiser without a pairwise term.
    cost as in `_labelling_energy` (targets=True: the target cell's displacement label, as `solve` returns it)."""
    h, w = cost.shape[:2]
    nx = w if targets else cost.shape[3]
    i = jnp.argmin(cost.reshape(h, w, -1), axis=-1).astype(jnp.int32)
    lab = jnp.stack([i // nx, i % nx], -1)
    if targets:  # target cell (ty, tx) of node (y, x): label (ty - y + H - 1, tx - x + W - 1)
        node = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1)
        lab = lab - jnp.asarray(node, jnp.int32) + jnp.asarray([h - 1, w - 1], jnp.int32)
    return lab


def solve(cost: jax.Array, weight: float | jax.Array, iters: int = 10, levels: int = 3, method: str = "auto",
          crop: bool = False, schedule: str = "active", label_multiple: int = LABEL_MULTIPLE,
          offsets: jax.Array | None = None, targets: bool = False, truncation: float | jax.Array | None = None,
          edge_scale: jax.Array | None = None) -> BPResult:
    """Min-sum loopy BP on a 4-connected grid with pairwise `weight * ||l_p - l_q||^2` on label indices.

    Batch over pairs with `jax.vmap(solve, (0, None))`.

    Args:
      cost: [H, W, Ly, Lx] data costs (+inf allowed).
      weight: the pairwise weight, finite and >= 0 (InputError otherwise, checked where it is a concrete number, not
        a traced one). Messages are passed on cost / weight; weight 0 (no pairwise term) returns each node's cheapest
        label, the exact minimum.
      iters, levels: BP iterations per level and multigrid levels (capped at ceil(log2(max(H, W))) + 1).
      method: 1D DT of the messages ("auto", "tree", "brute", "envelope"; same values).
      crop: True when the labels are displacements -R..R with +inf wherever the target leaves the grid (as
        `cost_volume` makes them): each node then works on the window of labels that can be finite (<= H x W instead
        of (2R+1)^2; same minimisation).
      schedule: "active" computes only the sending half of the checkerboard; "masked" computes every node's
        messages and keeps the sending half (reference; same messages).
      label_multiple: each level's label axes are padded with +inf-cost labels to a multiple of it where that adds at
        most 1/8 (`pad_labels`), which the DT's vectorised loops run faster on; same messages on the real labels, bit
        for bit (1: no padding).
      offsets: per-node label origins [H, W, 2] (dy, dx) in labels: the pairwise term becomes
        `weight * ||(l_p + o_p) - (l_q + o_q)||^2` (each node's labels are a window placed at its own origin, e.g.
        around an upsampled flow), still with exact DT messages (`_shifted_dt`'s tilt); one level, no crop.
      targets: True: cost [H, W, H, W] holds each node's cost at every target cell (`target_cost`), i.e. the labels
        are all displacements that stay on the grid: the same solve as crop=True on the volume
        `cost_volume(fs, ft, (H - 1, W - 1))`, with the same labels (indices into its -(H-1)..H-1 displacement
        labels), without building its (2H - 1)(2W - 1) labels per node. The coarser levels' block sums may add in
        another order than the volume's (on a 17 x 15 grid, level 3: up to 1.5e-5 apart), so level costs and
        labels equal the volume's up to float rounding, not always bit for bit.
      truncation: the pairwise term becomes `weight * min(||l_p - l_q||^2, truncation^2)` (labels; a truncated
        quadratic, beyond the paper's energy), still with exact messages (min of the DT and the sender's min + cap).
      edge_scale: [H, W, 2] factors > 0 of the pairwise term per edge (to the node below, to the node right; e.g.
        contrast-sensitive smoothness, beyond the paper's energy), exact messages (`_scaled_dt`); one level, no crop.

    Returns:
      A `BPResult` of jax arrays: labels int32 [H, W, 2] (dy, dx) label indices of the lowest-energy labelling
      seen, its data, deformation and total energy (float32 scalars), and the trace float32 [levels * iters]
      (coarsest level first).

    Raises:
      InputError: costs not [H, W, Ly, Lx] (targets=True: not [H, W, H, W]); offsets or edge_scale not [H, W, 2],
        or with levels > 1 or crop; a concrete weight not finite and >= 0.
    """
    if not is_traced(weight):
        w = np.asarray(weight)
        check_shape(w, "", "solve", "weight", dtype="number", note="(a scalar)")
        check(bool(np.isfinite(w) and w >= 0), "solve", "weight", "a finite number >= 0", weight)
    return _solve(cost, weight, iters, levels, method, crop, schedule, label_multiple, offsets, targets, truncation,
                  edge_scale)


@functools.partial(jax.jit,
                   static_argnames=("iters", "levels", "method", "crop", "schedule", "label_multiple", "targets"))
def _solve(cost, weight, iters, levels, method, crop, schedule, label_multiple, offsets, targets, truncation,
           edge_scale) -> BPResult:
    """`solve` after its weight check, jitted."""
    check_shape(cost, "H W H W" if targets else "H W Ly Lx", "solve", "cost",
                note="(target-indexed costs)" if targets else "(a data cost per node and label)")
    h, w = cost.shape[:2]
    crop = crop or targets  # offsets are then refused below (they need crop=False)
    num_labels = (2 * h - 1, 2 * w - 1) if targets else cost.shape[2:]
    weight = jnp.asarray(weight, cost.dtype)
    levels = max(1, min(levels, int(np.ceil(np.log2(max(h, w, 1)))) + 1))
    offsets = _per_node_term(offsets, "offsets", "per-node offsets", cost, levels, crop)
    edge_scale = _per_node_term(edge_scale, "edge_scale", "per-edge factors", cost, levels, crop)
    unit = cost / weight  # E / weight: same minimisers, unit pairwise weight (the DT's tables are constants)
    cap = None if truncation is None else jnp.square(jnp.asarray(truncation, cost.dtype))
    one = jnp.asarray(1.0, cost.dtype)
    msgs, prev = None, None
    traces, cands = [], []
    for k in reversed(range(levels)):
        win, ck, msgs = _level_problem(unit, k, num_labels, crop, targets, label_multiple, msgs, prev)
        msgs, labels = _bp_level(ck, msgs, one, iters, win, method, schedule, offsets, cap, edge_scale)
        prev = win
        fine = jax.vmap(lambda lab: expand_blocks(lab, k, (h, w)))(labels)  # [iters, H, W, 2]
        d, s = jax.vmap(lambda lab: _labelling_energy(cost, lab, weight, offsets, targets, truncation,
                                                      edge_scale))(fine)
        traces.append(d + s)
        cands.append(fine)
    trace = jnp.concatenate(traces)
    labels = jnp.concatenate(cands)[jnp.argmin(jnp.where(jnp.isnan(trace), jnp.inf, trace))]  # the lowest energy's
    labels = jnp.where(weight == 0, _node_argmin(cost, targets), labels)  # no pairwise term: BP's cost / 0 is void
    d, s = _labelling_energy(cost, labels, weight, offsets, targets, truncation, edge_scale)
    return BPResult(labels, d, s, d + s, trace)
