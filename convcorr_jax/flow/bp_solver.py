"""Min-sum loopy belief propagation on a 4-connected grid of nodes with 2D labels (Long et al. 2014, section 3):
`solve` and `labelling_energy`.

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
sender's labels; a node with no neighbour on a side gets 0 from it. `flow.bp.align` solves each node on the window of
labels whose target lies in the grid (at most H x W of the (2R+1)^2 labels; the others have +inf cost), which
is the same minimisation; with the whole-grid window (the default) it starts from each node's cost at every
target cell (`target_cost`, `solve(..., targets=True)`) and never builds the (2H-1)(2W-1)-label volume.
After every iteration the labelling (argmin of beliefs, coarse ones copied to their blocks) is scored on the
fine problem; the lowest-energy labelling seen is returned, so the returned energy never exceeds any traced
energy.

One cohesive algorithm (the solver's schedule, multigrid and distance-transform messages share their window and
class layouts), hence one module above the usual size.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.errors import InputError, check
from convcorr_jax.flow.distance_transform import dt1d_min, rounded_product

class BPResult(NamedTuple):
    """labels [..., H, W, 2] int32 (dy, dx) grid cells; data/deformation/energy scalars (deformation includes
    the weight); trace [..., levels * iters] fine-grid energy after each iteration (coarsest level first)."""

    labels: jax.Array
    data_energy: jax.Array
    deformation_energy: jax.Array
    energy: jax.Array
    trace: jax.Array




def labelling_energy(cost: jax.Array, labels: jax.Array, weight: float, offsets: jax.Array | None = None,
                     targets: bool = False, truncation: float | jax.Array | None = None,
                     edge_scale: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(data, deformation) energy of `labels` [H, W, 2] (indices into the last two axes of cost [H, W, Ly, Lx]);
    the deformation is on labels + offsets [H, W, 2] (per-node label origins, label units) where given, each
    pair's term weight * min(||l_p - l_q||^2, truncation^2) where a truncation (labels) is given, times the pair's
    factor in edge_scale [H, W, 2] (edge to the node below, edge to the node right) where given.
    targets=True: cost [H, W, H, W] is indexed by target cell and labels are whole-grid displacement labels
    (as `solve(..., targets=True)` returns them); a label whose target leaves the grid costs +inf."""
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




def _axis_windows(n: int, num_labels: int, k: int, crop: bool) -> tuple[np.ndarray, int]:
    """Label window of each level-k node along one axis: (first label index [ceil(n / 2^k)], window size).

    crop=False: the whole label axis. crop=True (labels are displacements -R..R, cost +inf where the target
    leaves the n-node grid): the smallest fixed-size windows that hold every finite-cost label of the node's
    2^k block and, for exact coarse-to-fine message transfer, the windows of its children."""
    s = 2**k
    nk = -(-n // s)
    if not crop:
        return np.zeros(nk, np.int64), num_labels
    r = (num_labels - 1) // 2
    n0 = min(num_labels, n)
    size = min(num_labels, n0 + s - 1)
    fine = np.minimum(np.maximum(0, r - np.arange(n)), num_labels - n0)  # level-0 window starts (non-increasing)
    last = np.minimum(np.arange(nk) * s + s, n) - 1  # last real fine node of each block
    start = np.minimum(fine[last], num_labels - size)
    lo, hi = np.maximum(0, r - np.arange(nk) * s), np.minimum(num_labels - 1, r + n - 1 - last)  # finite labels
    if not (num_labels % 2 == 1 and np.all(start <= lo) and np.all(hi < start + size)):
        raise InputError("bp.solve", "cost", "labels -R..R with +inf outside the target grid (crop=True)",
                         (n, num_labels))
    return start, size


def _node_windows(x: jax.Array, oy: np.ndarray, ny: int, ox: np.ndarray, nx: int) -> jax.Array:
    """x [h, w, Ly, Lx] -> [h, w, ny, nx]: node (y, x) keeps labels oy[y] + i, ox[x] + j (a per-node slice).
    With few distinct offsets, a `where` over their slices (elementwise: XLA fuses it with its producer without
    breaking vectorisation), both axes at once or (up to 4 offsets per axis) one axis at a time; otherwise one
    gather."""
    h, w, ly, lx = x.shape
    uy, ux = np.unique(oy), np.unique(ox)
    if len(uy) * len(ux) <= 4:
        out = None
        for a in uy:
            for b in ux:
                part = x[:, :, a : a + ny, b : b + nx]
                mask = (oy[:, None] == a) & (ox[None, :] == b)
                out = part if out is None else jnp.where(jnp.asarray(mask)[..., None, None], part, out)
        return out
    if len(uy) <= 4 and len(ux) <= 4:  # one axis at a time
        return _node_windows(_node_windows(x, oy, ny, np.zeros_like(ox), lx), np.zeros_like(oy), ny, ox, nx)
    sy, sx = jnp.asarray(np.repeat(oy, w), jnp.int32), jnp.asarray(np.tile(ox, h), jnp.int32)
    out = jax.vmap(lambda a, i, j: jax.lax.dynamic_slice(a, (i, j), (ny, nx)))(x.reshape(h * w, ly, lx), sy, sx)
    return out.reshape(h, w, ny, nx)


def _target_windows(t: jax.Array, k: int, win: tuple) -> jax.Array:
    """Level-k costs [h_k, w_k, ny, nx] in the label windows `win` of the whole-grid displacement labels
    (-(H-1)..H-1, -(W-1)..W-1) from target-indexed costs t [H, W, H, W]: what `_crop_labels(_block_sum(v, k),
    *win)` gives on the volume v = `cost_volume(fs, ft, (H - 1, W - 1))`, without building v's (2H-1)(2W-1)
    labels. Node y of block y // 2^k reads labels ys[y // 2^k] + i, i.e. target rows y + ys[y // 2^k] + i - (H-1)
    (+inf off the grid)."""
    ys, ny, xs, nx = win
    h, w = t.shape[:2]
    oy = np.arange(h) + ys[np.arange(h) >> k] - (h - 1)
    ox = np.arange(w) + xs[np.arange(w) >> k] - (w - 1)
    pads = [(max(0, -int(o.min())), max(0, int(o.max()) + n - size)) for o, n, size in ((oy, ny, h), (ox, nx, w))]
    tp = jnp.pad(t, [(0, 0), (0, 0), *pads], constant_values=jnp.inf)
    return _block_sum(_node_windows(tp, oy + pads[0][0], ny, ox + pads[1][0], nx), k)


def _crop_labels(x: jax.Array, ys: np.ndarray, ny: int, xs: np.ndarray, nx: int) -> jax.Array:
    """x [h, w, Ly, Lx] -> [h, w, ny, nx]: node (y, x) keeps labels ys[y] + i, xs[x] + j (i < ny, j < nx)."""
    if (ny, nx) == x.shape[2:]:
        return x
    return _node_windows(x, ys, ny, xs, nx)


def _expand_msgs(m: jax.Array, win: tuple, win_parent: tuple, hw: tuple[int, int]) -> jax.Array:
    """Parent messages m [h', w', >= ny', >= nx'] (parent windows, maybe padded) -> children [h, w, ny, nx]
    (children's windows, which lie inside their parents')."""
    (ys, ny, xs, nx), (ps, pny, px, pnx) = win, win_parent
    y, x = np.arange(hw[0]), np.arange(hw[1])
    oy, ox = ys[y] - ps[y // 2], xs[x] - px[x // 2]
    if oy.min() < 0 or ox.min() < 0 or oy.max() + ny > pny or ox.max() + nx > pnx:
        raise AssertionError("bp: a child's label window leaves its parent's")
    return _node_windows(_expand(m, 1, hw), oy, ny, ox, nx)


def _pad_labels(x: jax.Array, multiple: int, value: float) -> jax.Array:
    """Pad the label axes of x [h, w, ny, nx] with `value` up to a multiple of `multiple` where that adds at most
    1/8 of the axis; shorter axes, and those it would grow more, stay as they are (the rule and its timings:
    bench/RESULTS_flow.md)."""
    size = [-(-n // multiple) * multiple for n in x.shape[2:]]
    size = [m if n >= multiple and 8 * (m - n) <= n else n for m, n in zip(size, x.shape[2:])]
    return jnp.pad(x, [(0, 0), (0, 0)] + [(0, m - n) for m, n in zip(size, x.shape[2:])], constant_values=value)


def _block_sum(cost: jax.Array, k: int) -> jax.Array:
    """Sum of cost [H, W, ...] over 2^k x 2^k blocks (zero-padded at the far edges)."""
    if k == 0:
        return cost
    s = 2**k
    h, w = cost.shape[:2]
    hc, wc = -(-h // s), -(-w // s)
    c = jnp.pad(cost, [(0, hc * s - h), (0, wc * s - w)] + [(0, 0)] * (cost.ndim - 2))
    return c.reshape(hc, s, wc, s, *cost.shape[2:]).sum(axis=(1, 3))


def _expand(x: jax.Array, k: int, hw: tuple[int, int]) -> jax.Array:
    """Copy coarse per-node values x [h, w, ...] to the 2^k-finer grid of size hw."""
    if k == 0:
        return x
    s = 2**k
    x = jnp.repeat(jnp.repeat(x, s, axis=0), s, axis=1)
    return x[: hw[0], : hw[1]]


def _argmin_label(belief: jax.Array) -> jax.Array:
    """belief [..., Ly, Lx] -> [..., 2] (y, x) of its first minimum, as `jnp.argmin` of the flattened labels (a
    minimum, then the smallest index holding it: two plain reductions, which XLA:CPU vectorises)."""
    ly, lx = belief.shape[-2:]
    low = jnp.min(belief, axis=(-2, -1), keepdims=True)
    flat = jnp.asarray(np.arange(ly * lx, dtype=np.int32).reshape(ly, lx))
    i = jnp.min(jnp.where(belief == low, flat, ly * lx - 1), axis=(-2, -1))  # NaN: never equal, last label
    return jnp.stack([i // lx, i % lx], axis=-1).astype(jnp.int32)


def _shifted_dt(h: jax.Array, weight: jax.Array, shift: np.ndarray, axis: int, method: str,
                tilt: jax.Array | None = None, cap: jax.Array | None = None,
                par: jax.Array | None = None) -> tuple[jax.Array, ...]:
    """Separable 2D DT of h [k, M, ny, nx] read at the receivers' labels: a tuple of k messages [M, ny, nx];
    along `axis` (-2: y, -1: x) output i of message k is the DT at sender label i + shift[k, M] (the receiver's
    window starts `shift` labels later). Messages are shifted by the minimum of h, the DT's minimum over all the
    sender's labels (min-sum messages are defined up to a constant; +inf-cost padding labels never hold it), so
    they are >= 0. It is read off the first pass's output, which is written to memory anyway: a reduction over
    the second pass's output would make XLA compute that pass once for the reduction and once for the message.
    A shift that is the same for every node is a plain slice.
    tilt [k, M, 2]: the receiver's label origin minus the sender's, (dy, dx) in labels (not with shifts): message
    min_q h(q) + |x + tilt - q|^2 = DT[h(q) - 2 tilt . q](x) + 2 tilt . x + |tilt|^2, still exact.
    cap: truncated quadratic, the message min_q h(q) + min(weight |x - q|^2, cap) = min(DT(x), min h + cap), exact.
    par: None, or a (traced) checkerboard parity 0 / 1 choosing between the shifts shift[0] and shift[1] ([2, k, M]):
    each node selects the slice of its own shift among those of both (the same values, one program for both)."""
    pad = int(np.max(np.abs(shift), initial=0))
    other = -1 if axis == -2 else -2
    hmin = None if cap is None or tilt is None else jnp.min(h, axis=(-2, -1), keepdims=True)
    if tilt is not None:
        ty, tx = tilt[..., 0, None, None], tilt[..., 1, None, None]
        iy = jnp.arange(h.shape[-2], dtype=h.dtype)[:, None]
        ix = jnp.arange(h.shape[-1], dtype=h.dtype)[None, :]
        h = h - 2 * (ty * iy + tx * ix)
    first = dt1d_min(h, weight, axis=other, method=method)
    low = jnp.min(first, axis=(-2, -1), keepdims=True)  # = min h: D(q*) = h(q*) + w * 0
    v = dt1d_min(first, weight, axis=axis, pad=pad, method=method)  # positions -pad .. n - 1 + pad
    n = h.shape[axis]
    outs = []
    for k in range(h.shape[0]):
        out, sk = None, shift[k] if par is None else shift[:, k]
        for d in np.unique(sk):  # few distinct shifts: select the slice of each
            sl = [slice(None)] * (v.ndim - 1)
            sl[axis] = slice(pad + int(d), pad + int(d) + n)
            part = v[k][tuple(sl)]
            mask = jnp.asarray(sk == d) if par is None else jnp.asarray(sk == d)[par]
            out = part if out is None else jnp.where(mask[..., None, None], part, out)
        out = out - low[k]
        if tilt is not None:
            out = out + (2 * (ty[k] * iy + tx[k] * ix) + ty[k] ** 2 + tx[k] ** 2)
        if cap is not None:  # out is the message minus low (= min h without a tilt)
            out = jnp.minimum(out, cap if hmin is None else hmin[k] - low[k] + cap)
        outs.append(out)
    return tuple(outs)


def _window_shifts(starts: np.ndarray, receiver: np.ndarray, sender: np.ndarray) -> np.ndarray:
    """Window start of each receiver minus its sender's (index arrays of equal shape along one axis). Where either
    is off the grid the message is never delivered: those entries take the most common shift, so that a shift the
    same for every real pair stays a single slice in `_shifted_dt`."""
    n = len(starts)
    ok = (receiver >= 0) & (receiver < n) & (sender >= 0) & (sender < n)
    shift = starts[np.clip(receiver, 0, n - 1)] - starts[np.clip(sender, 0, n - 1)]
    values, counts = np.unique(shift[ok], return_counts=True)
    return np.where(ok, shift, values[np.argmax(counts)] if len(values) else 0)


def _scaled_dt(h, weight, shift, axis, method, tilt, cap, scale, par=None):
    """`_shifted_dt` of a pairwise term multiplied by scale [k, M] per message (None: 1): min_q h(q) + c g(x, q) =
    c min_q (h(q) / c + g(x, q)), so the DT of h / c, times c (still exact, still >= 0)."""
    if scale is None:
        return _shifted_dt(h, weight, shift, axis, method, tilt, cap, par)
    c = scale[..., None, None]
    # the product rounded on its own: contracted into the belief's sums (FMA) in one fusion and not in another, one
    # belief would round two ways and its arg-min's equality test (`_argmin_label`) miss
    return tuple(rounded_product(c[k], m) for k,
                 m in enumerate(_shifted_dt(h / c, weight, shift, axis, method, tilt, cap, par)))


def _half_step_masked(cost, msgs, weight, par, win, method, tilts=None, cap=None, scales=None):
    """Reference checkerboard step: every node computes its 4 messages, those with (y + x) % 2 == par are kept.
    cost, msgs [h, w, ny, nx] (msgs arriving from up, down, left, right); a receiver with no neighbour on a side
    gets 0 from it. tilts: None, or the 4 [h, w, 2] receiver-minus-sender label origins of the messages sent
    down, up, right, left (`neighbour_differences`). cap: None or the truncation of the pairwise term. scales:
    None, or the 4 [h, w] factors of the pairwise term on the edges those messages cross (`edge_factors`).
    par: 0 / 1, or a traced parity (the masks of both parities are constants, the step picks its own)."""
    ys, ny, xs, nx = win
    h, w = len(ys), len(xs)
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    mu, md, ml, mr = msgs
    belief = cost + mu + md + ml + mr
    tv = None if tilts is None else jnp.stack(tilts[:2])
    th = None if tilts is None else jnp.stack(tilts[2:])
    sv = None if scales is None else jnp.stack(scales[:2])
    sh = None if scales is None else jnp.stack(scales[2:])
    down, up = _scaled_dt(jnp.stack([belief - md, belief - mu]), weight,
                          np.stack([_window_shifts(ys, yy + 1, yy),
                                    _window_shifts(ys, yy - 1, yy)]), -2, method, tv, cap, sv)
    right, left = _scaled_dt(jnp.stack([belief - mr, belief - ml]), weight,
                             np.stack([_window_shifts(xs, xx + 1, xx),
                                       _window_shifts(xs, xx - 1, xx)]), -1, method, th, cap, sh)
    send = np.stack([(yy + xx) % 2 == p for p in (0, 1)])  # [parity, h, w]

    def deliver(old, msg, axis, by):  # receiver at sender + by along axis
        got = np.zeros_like(send)
        src = [slice(None)] * 3
        dst = [slice(None)] * 3
        src[axis + 1], dst[axis + 1] = (slice(0, -1), slice(1, None)) if by > 0 else (slice(1, None), slice(0, -1))
        got[tuple(dst)] = send[tuple(src)]
        moved = jnp.zeros_like(msg).at[tuple(dst[1:])].set(msg[tuple(src[1:])])
        return jnp.where(jnp.asarray(got)[par][..., None, None], moved,
                         jnp.where(jnp.asarray(send)[par][..., None, None], old, 0.0))

    return deliver(mu, down, 0, 1), deliver(md, up, 0, -1), deliver(ml, right, 1, 1), deliver(mr, left, 1, -1)


def _class_slots(h: int, j2: int) -> tuple[np.ndarray, np.ndarray]:
    """x of the node each checkerboard class keeps at [y, j]: class P holds nodes with (y + x) % 2 == P, row y's
    at x = 2j + (P + y) % 2 (x >= w: dummy nodes). Returns (x of class 0, x of class 1), each [h, J]."""
    y, j = np.arange(h)[:, None], np.arange(j2)[None, :]
    return 2 * j + y % 2, 2 * j + (1 + y) % 2


def _to_classes(x: jax.Array, fill: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """[h, w, ...] -> the two checkerboard classes, each [h, ceil(w / 2), ...] (see `_class_slots`; a dummy node for
    odd w holds `fill`)."""
    p = _to_pairs(x, fill)
    odd = jnp.asarray(np.arange(x.shape[0]) % 2 == 1).reshape(-1, *[1] * (p.ndim - 2))
    return jnp.where(odd, p[:, :, 1], p[:, :, 0]), jnp.where(odd, p[:, :, 0], p[:, :, 1])


def _from_classes(x0: jax.Array, x1: jax.Array, w: int) -> jax.Array:
    """Inverse of `_to_classes`: two classes [h, J, ...] -> [h, w, ...]."""
    odd = jnp.asarray(np.arange(x0.shape[0]) % 2 == 1).reshape(-1, *[1] * (x0.ndim - 1))
    return _from_pairs(jnp.stack([jnp.where(odd, x1, x0), jnp.where(odd, x0, x1)], axis=2), w)


def _half_step_classes(b, ins_s, weight, par, win, method, w, tilts_s=None, cap=None, scales_s=None):
    """Checkerboard step computing only the senders' messages, on the class layout of `_to_classes`: the senders
    (class par, belief b [h, J, ny, nx], incoming messages ins_s) send to class 1 - par: returns its new incoming
    messages (from up, down, left, right; 0 where it has no neighbour). A neighbour is the same slot one row up
    or down, or (left / right) the same or the next slot, by the row's parity: shifts and a per-row `where`, no
    gather, and nothing is copied between the classes. One DT per message (not a stacked batch of them): XLA then
    fuses b - m into the DT's first pass instead of writing the stack to memory. tilts_s: None, or the senders'
    4 tilts [h, J, 2] (messages sent down, up, right, left; see `_shifted_dt`); cap: as there; scales_s: None, or
    the senders' 4 edge factors [h, J] (`_scaled_dt`). par: 0 / 1, or a traced parity: what depends on it (slots,
    masks, window shifts) is a constant for each parity, of which the step picks its own (one program for both)."""
    ys, ny, xs, nx = win
    h, j2 = b.shape[:2]
    xa = np.stack(_class_slots(h, j2))  # sender x [parity, h, J]
    xr = xa[::-1]  # receiver x
    y = np.broadcast_to(np.arange(h)[:, None], xa.shape[1:])
    fu, fd, fl, fr = ins_s

    def pick(mask: np.ndarray) -> jax.Array:  # this step's [h, J] of a constant [parity, h, J]
        return jnp.asarray(mask)[par]

    def dt(m, shift, axis, k):
        tilt = None if tilts_s is None else tilts_s[k][None]
        scale = None if scales_s is None else scales_s[k][None]
        if shift.ndim == 3 and not np.array_equal(shift[0], shift[1]):  # [parity, h, J]
            return _scaled_dt((b - m)[None], weight, shift[:, None], axis, method, tilt, cap, scale, par)[0]
        return _scaled_dt((b - m)[None], weight, shift[-1][None] if shift.ndim == 3 else shift[None], axis,
                          method, tilt, cap, scale)[0]

    def rows(m, by):  # out[y] = m[y - by]
        return jnp.pad(m[:-1], [(1, 0)] + [(0, 0)] * 3) if by > 0 else jnp.pad(m[1:], [(0, 1)] + [(0, 0)] * 3)

    def slots(m, by):  # out[:, j] = m[:, j - by]
        if by > 0:
            return jnp.pad(m[:, :-1], [(0, 0), (1, 0), (0, 0), (0, 0)])
        return jnp.pad(m[:, 1:], [(0, 0), (0, 1), (0, 0), (0, 0)])

    even = pick(xr[:, :, :1] % 2 == 0)[..., None, None]  # [h, 1, 1, 1]: receivers at even x in this row
    down, up = dt(fd, _window_shifts(ys, y + 1, y), -2, 0), dt(fu, _window_shifts(ys, y - 1, y), -2, 1)
    right = dt(fr, np.stack([_window_shifts(xs, x + 1, x) for x in xa]), -1, 2)
    left = dt(fl, np.stack([_window_shifts(xs, x - 1, x) for x in xa]), -1, 3)
    real = xr < w
    new = (
        (rows(down, 1), real & (y >= 1)),  # from up: sender (y - 1, x), same slot
        (rows(up, -1), real & (y <= h - 2)),  # from down: sender (y + 1, x)
        (jnp.where(even, slots(right, 1), right), real & (xr >= 1)),  # from left: sender x - 1 in slot j - 1 or j
        (jnp.where(even, left, slots(left, -1)), real & (xr + 1 < w)),  # from right: slot j or j + 1
    )
    return tuple(jnp.where(pick(ok)[..., None, None], msg, 0.0) for msg, ok in new)


def _to_pairs(x: jax.Array, fill: float = 0.0) -> jax.Array:
    """[h, w, ...] -> [h, ceil(w / 2), 2, ...] (a dummy column holding `fill` for odd w)."""
    h, w = x.shape[:2]
    x = jnp.pad(x, [(0, 0), (0, w % 2)] + [(0, 0)] * (x.ndim - 2), constant_values=fill)
    return x.reshape(h, -1, 2, *x.shape[2:])


def _from_pairs(x: jax.Array, w: int) -> jax.Array:
    return x.reshape(x.shape[0], -1, *x.shape[3:])[:, :w]


def neighbour_differences(x: jax.Array) -> tuple[jax.Array, ...]:
    """x [h, w, C] at each node's 4-neighbour below, above, right and left, minus x: 4 x [h, w, C], 0 where there
    is no neighbour. On per-node label origins: the receiver-minus-sender tilts of the messages each node sends."""
    def nb(axis, by):  # value at the neighbour (node + by along axis), held at the edge
        n = x.shape[axis]
        idx = np.clip(np.arange(n) + by, 0, n - 1)
        return jnp.take(x, jnp.asarray(idx), axis=axis)
    return tuple(nb(a, by) - x for a, by in ((0, 1), (0, -1), (1, 1), (1, -1)))


def edge_factors(edge_scale: jax.Array) -> tuple[jax.Array, ...]:
    """edge_scale [h, w, 2] (edge to the node below, to the node right) -> the factor on the edge each node's
    message down, up, right and left crosses: 4 x [h, w] (1 where there is no neighbour)."""
    v, r = edge_scale[..., 0], edge_scale[..., 1]
    one_row, one_col = jnp.ones_like(v[:1]), jnp.ones_like(r[:, :1])
    return (jnp.concatenate([v[:-1], one_row]), jnp.concatenate([one_row, v[:-1]]),
            jnp.concatenate([r[:, :-1], one_col], 1), jnp.concatenate([one_col, r[:, :-1]], 1))


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
            m = _half_step_masked(cost, m, weight, par, win, method, tilts, cap, scales)
            return m, _argmin_label(cost + m[0] + m[1] + m[2] + m[3]) + base

        return _iterate(masked, tuple(msgs), iters)
    # active half on the class layout; the belief a step's receivers end with (and its arg-min) is the next
    # step's senders', carried rather than recomputed. Per-class constants are stacked [class, ...] and the step
    # picks its senders' / receivers' class by its parity.
    c = jnp.stack(_to_classes(cost))
    split = [_to_classes(m) for m in msgs]
    ins = [tuple(s[k] for s in split) for k in (0, 1)]  # incoming messages of class 0 / 1
    # the 4 messages' tilts and edge factors stacked, one class split each: [class, h, J, 4, 2] / [class, h, J, 4]
    tilt_cls = None if tilts is None else jnp.stack(_to_classes(jnp.stack(tilts, 2)))
    scale_cls = None if scales is None else jnp.stack(_to_classes(jnp.stack(scales, -1), 1.0))  # no 0 / 0
    b = c[0] + ins[0][0] + ins[0][1] + ins[0][2] + ins[0][3]  # the senders' belief (class t % 2) ...

    def active(state, par):  # state: senders' incoming messages, receivers' (replaced), senders' belief, its arg-min
        sent, _, b, lab = state
        m = _half_step_classes(b, sent, weight, par, win, method, w,
                               None if tilt_cls is None else tuple(jnp.moveaxis(tilt_cls[par], 2, 0)), cap,
                               None if scale_cls is None else tuple(jnp.moveaxis(scale_cls[par], -1, 0)))
        b = c[1 - par] + m[0] + m[1] + m[2] + m[3]
        lab_r = _argmin_label(b)
        first = par == 0
        labels = _from_classes(jnp.where(first, lab, lab_r), jnp.where(first, lab_r, lab), w) + base
        return (m, sent, b, lab_r), labels

    (last, other, _, _), labels = _iterate(active, (ins[0], ins[1], b, _argmin_label(b)), iters)  # ... and its arg-min
    ins = (other, last) if iters % 2 else (last, other)  # the last step (parity (iters - 1) % 2) wrote class iters % 2
    return tuple(_from_classes(m0, m1, w) for m0, m1 in zip(*ins)), labels


LABEL_MULTIPLE = 16  # label axes are padded to a multiple of this (the CPU's vector width); see `_pad_labels`


@functools.partial(jax.jit,
                   static_argnames=("iters", "levels", "method", "crop", "schedule", "label_multiple", "targets"))
def solve(
    cost: jax.Array,
    weight: float | jax.Array,
    iters: int = 10,
    levels: int = 3,
    method: str = "auto",
    crop: bool = False,
    schedule: str = "active",
    label_multiple: int = LABEL_MULTIPLE,
    offsets: jax.Array | None = None,
    targets: bool = False,
    truncation: float | jax.Array | None = None,
    edge_scale: jax.Array | None = None,
) -> BPResult:
    """Min-sum loopy BP on a 4-connected grid: cost [H, W, Ly, Lx] (+inf allowed), pairwise
    `weight * ||l_p - l_q||^2` on label indices. Batch over pairs with `jax.vmap(solve, (0, None))`.

    method: 1D DT of the messages ("auto", "tree", "brute", "envelope"; same values). crop=True when the labels are
    displacements -R..R with +inf wherever the target leaves the grid (as `cost_volume` makes them): each node
    then works on the window of labels that can be finite (<= H x W instead of (2R+1)^2; same minimisation).
    schedule: "active" computes only the sending half of the checkerboard; "masked" computes every node's
    messages and keeps the sending half (reference; same messages). label_multiple: each level's label axes
    are padded with +inf-cost labels to a multiple of it where that adds at most 1/8 (`_pad_labels`), which the
    DT's vectorised loops run faster on; same messages on the real labels, bit for bit (1: no padding).
    offsets: per-node label origins [H, W, 2] (dy, dx) in labels: the pairwise term becomes
    `weight * ||(l_p + o_p) - (l_q + o_q)||^2` (each node's labels are a window placed at its own origin, e.g.
    around an upsampled flow), still with exact DT messages (`_shifted_dt`'s tilt); one level, no crop.
    targets=True: cost [H, W, H, W] holds each node's cost at every target cell (`target_cost`), i.e. the labels
    are all displacements that stay on the grid: the same solve as crop=True on the volume
    `cost_volume(fs, ft, (H - 1, W - 1))`, with the same labels (indices into its -(H-1)..H-1 displacement
    labels), without building its (2H - 1)(2W - 1) labels per node. The coarser levels' block sums may add in
    another order than the volume's (on a 17 x 15 grid, level 3: up to 1.5e-5 apart), so level costs and
    labels equal the volume's up to float rounding, not always bit for bit.
    truncation: the pairwise term becomes `weight * min(||l_p - l_q||^2, truncation^2)` (labels; a truncated
    quadratic, beyond the paper's energy), still with exact messages (min of the DT and the sender's min + cap).
    edge_scale: [H, W, 2] factors > 0 of the pairwise term per edge (to the node below, to the node right; e.g.
    contrast-sensitive smoothness, beyond the paper's energy), exact messages (`_scaled_dt`); one level, no crop."""
    h, w = cost.shape[:2]
    if targets:  # offsets are then refused below (they need crop=False)
        check(tuple(cost.shape[2:]) == (h, w), "solve", "cost", f"target-indexed costs of shape {(h, w, h, w)}",
              tuple(cost.shape))
        crop = True
    num_labels = (2 * h - 1, 2 * w - 1) if targets else cost.shape[2:]
    weight = jnp.asarray(weight, cost.dtype)
    levels = max(1, min(levels, int(np.ceil(np.log2(max(h, w, 1)))) + 1))
    if offsets is not None:
        check(levels == 1 and not crop, "solve", "offsets", "levels=1 and crop=False with per-node offsets",
              (levels, crop))
        check(tuple(offsets.shape) == (h, w, 2), "solve", "offsets", f"shape {(h, w, 2)}", tuple(offsets.shape))
        offsets = jnp.asarray(offsets, cost.dtype)
    if edge_scale is not None:
        check(levels == 1 and not crop, "solve", "edge_scale", "levels=1 and crop=False with per-edge factors",
              (levels, crop))
        check(tuple(edge_scale.shape) == (h, w, 2), "solve", "edge_scale", f"shape {(h, w, 2)}",
              tuple(edge_scale.shape))
        edge_scale = jnp.asarray(edge_scale, cost.dtype)
    unit = cost / weight  # E / weight: same minimisers, unit pairwise weight (the DT's tables are constants)
    cap = None if truncation is None else jnp.square(jnp.asarray(truncation, cost.dtype))
    one = jnp.asarray(1.0, cost.dtype)
    msgs, prev = None, None
    traces, cands = [], []
    for k in reversed(range(levels)):
        win = (*_axis_windows(h, num_labels[0], k, crop), *_axis_windows(w, num_labels[1], k, crop))
        ck = _target_windows(unit, k, win) if targets else _crop_labels(_block_sum(unit, k), *win)
        ck = _pad_labels(ck, label_multiple, jnp.inf)
        if msgs is None:
            msgs = tuple(jnp.zeros_like(ck) for _ in range(4))
        else:  # children start from their parent's messages
            msgs = tuple(_pad_labels(_expand_msgs(m, win, prev, ck.shape[:2]), label_multiple, 0.0) for m in msgs)
        msgs, labels = _bp_level(ck, msgs, one, iters, win, method, schedule, offsets, cap, edge_scale)
        prev = win
        fine = jax.vmap(lambda lab: _expand(lab, k, (h, w)))(labels)  # [iters, H, W, 2]
        d, s = jax.vmap(lambda lab: labelling_energy(cost, lab, weight, offsets, targets, truncation, edge_scale))(fine)
        traces.append(d + s)
        cands.append(fine)
    trace = jnp.concatenate(traces)
    cands = jnp.concatenate(cands)
    best = jnp.argmin(jnp.where(jnp.isnan(trace), jnp.inf, trace))
    labels = cands[best]
    d, s = labelling_energy(cost, labels, weight, offsets, targets, truncation, edge_scale)
    return BPResult(labels, d, s, d + s, trace)
