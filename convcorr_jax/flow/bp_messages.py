"""The messages of the BP solver (`convcorr_jax.flow.bp_solver`): squared-Euclidean distance transforms of the
senders' beliefs read at the receivers' label windows (tilted by per-node label origins, truncated, scaled per
edge), and one half-step of the checkerboard schedule, on every node ("masked") or on the sending class only, with
the two classes of nodes stored apart ("active").
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.flow.distance_transform import dt1d_min, rounded_product


def argmin_label(belief: jax.Array) -> jax.Array:
    """(y, x) label of each belief's first minimum, as `jnp.argmin` of the flattened labels.

    A minimum, then the smallest index holding it: two plain reductions, which XLA:CPU vectorises.

    Args:
      belief: [..., Ly, Lx] beliefs over 2D labels.

    Returns:
      int32 jax array [..., 2] (y, x) label indices (an all-NaN belief gives the last label).
    """
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
        assert out is not None  # every node has a shift: np.unique(sk) is not empty
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
    # belief would round two ways and its arg-min's equality test (`argmin_label`) miss
    return tuple(rounded_product(c[k], m) for k,
                 m in enumerate(_shifted_dt(h / c, weight, shift, axis, method, tilt, cap, par)))


def half_step_masked(cost: jax.Array, msgs: Sequence[jax.Array], weight: jax.Array | float, par: int | jax.Array,
                     win: tuple[np.ndarray, int, np.ndarray, int], method: str,
                     tilts: Sequence[jax.Array] | None = None, cap: jax.Array | float | None = None,
                     scales: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
    """Reference checkerboard step: every node computes its 4 messages, those with (y + x) % 2 == par are kept.

    Args:
      cost: [h, w, ny, nx] data costs in the nodes' label windows.
      msgs: 4 x [h, w, ny, nx] messages arriving from up, down, left, right.
      weight: the pairwise weight (the solver passes 1).
      par: 0 / 1, or a traced parity (the masks of both parities are constants, the step picks its own).
      win: (ys, ny, xs, nx) the label windows (`bp_windows.axis_windows`).
      method: the 1D DT method (`distance_transform.dt1d_min`).
      tilts: None, or the 4 [h, w, 2] receiver-minus-sender label origins of the messages sent down, up, right, left
        (`neighbour_differences`).
      cap: None or the truncation of the pairwise term.
      scales: None, or the 4 [h, w] factors of the pairwise term on the edges those messages cross (`edge_factors`).

    Returns:
      4 x [h, w, ny, nx] messages from up, down, left, right: the senders' new messages at their receivers, the
      senders' own incoming ones kept; a receiver with no neighbour on a side gets 0 from it.
    """
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


def to_classes(x: jax.Array, fill: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """Split a grid into its two checkerboard classes (see `_class_slots`).

    Args:
      x: [h, w, ...] per-node values.
      fill: the value of the dummy node for odd w.

    Returns:
      (class 0, class 1), each [h, ceil(w / 2), ...].
    """
    p = _to_pairs(x, fill)
    odd = jnp.asarray(np.arange(x.shape[0]) % 2 == 1).reshape(-1, *[1] * (p.ndim - 2))
    return jnp.where(odd, p[:, :, 1], p[:, :, 0]), jnp.where(odd, p[:, :, 0], p[:, :, 1])


def from_classes(x0: jax.Array, x1: jax.Array, w: int) -> jax.Array:
    """Inverse of `to_classes`.

    Args:
      x0, x1: the two classes [h, J, ...].
      w: the grid's width (dummy nodes dropped).

    Returns:
      [h, w, ...] per-node values.
    """
    odd = jnp.asarray(np.arange(x0.shape[0]) % 2 == 1).reshape(-1, *[1] * (x0.ndim - 1))
    return _from_pairs(jnp.stack([jnp.where(odd, x1, x0), jnp.where(odd, x0, x1)], axis=2), w)


def half_step_classes(b: jax.Array, ins_s: Sequence[jax.Array], weight: jax.Array | float, par: int | jax.Array,
                      win: tuple[np.ndarray, int, np.ndarray, int], method: str, w: int,
                      tilts_s: Sequence[jax.Array] | None = None, cap: jax.Array | float | None = None,
                      scales_s: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
    """Checkerboard step computing only the senders' messages, on the class layout of `to_classes`.

    The senders (class par) send to class 1 - par. A neighbour is the same slot one row up or down, or (left / right)
    the same or the next slot, by the row's parity: shifts and a per-row `where`, no gather, and nothing is copied
    between the classes. One DT per message (not a stacked batch of them): XLA then fuses b - m into the DT's first
    pass instead of writing the stack to memory.

    Args:
      b: the senders' belief [h, J, ny, nx].
      ins_s: the senders' 4 incoming messages [h, J, ny, nx] (from up, down, left, right).
      weight: the pairwise weight.
      par: 0 / 1, or a traced parity: what depends on it (slots, masks, window shifts) is a constant for each parity,
        of which the step picks its own (one program for both).
      win: (ys, ny, xs, nx) the label windows.
      method: the 1D DT method.
      w: the grid's width.
      tilts_s: None, or the senders' 4 tilts [h, J, 2] (messages sent down, up, right, left; see `_shifted_dt`).
      cap: None or the pairwise term's truncation (as `_shifted_dt`).
      scales_s: None, or the senders' 4 edge factors [h, J] (`_scaled_dt`).

    Returns:
      Class 1 - par's new incoming messages, 4 x [h, J, ny, nx] (from up, down, left, right; 0 where it has no
      neighbour).
    """
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
    """x at each node's 4-neighbour below, above, right and left, minus x.

    On per-node label origins: the receiver-minus-sender tilts of the messages each node sends.

    Args:
      x: [h, w, C] per-node values.

    Returns:
      4 jax arrays [h, w, C] in x's dtype: differences (below, above, right, left), 0 where there is no neighbour.
    """
    def nb(axis, by):  # value at the neighbour (node + by along axis), held at the edge
        n = x.shape[axis]
        idx = np.clip(np.arange(n) + by, 0, n - 1)
        return jnp.take(x, jnp.asarray(idx), axis=axis)
    return tuple(nb(a, by) - x for a, by in ((0, 1), (0, -1), (1, 1), (1, -1)))


def edge_factors(edge_scale: jax.Array) -> tuple[jax.Array, ...]:
    """The factor on the edge each node's message down, up, right and left crosses.

    Args:
      edge_scale: [h, w, 2] factors of the edge to the node below and to the node right.

    Returns:
      4 jax arrays [h, w] in edge_scale's dtype (down, up, right, left), 1 where there is no neighbour.
    """
    v, r = edge_scale[..., 0], edge_scale[..., 1]
    one_row, one_col = jnp.ones_like(v[:1]), jnp.ones_like(r[:, :1])
    return (jnp.concatenate([v[:-1], one_row]), jnp.concatenate([one_row, v[:-1]]),
            jnp.concatenate([r[:, :-1], one_col], 1), jnp.concatenate([one_col, r[:, :-1]], 1))
