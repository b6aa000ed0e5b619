"""The label windows and multigrid layouts of the BP solver (`convcorr_jax.flow.bp_solver`): each level's per-node
windows of labels (the whole label axis, or with crop=True the labels whose target can lie in the grid), block sums
of the data cost over 2^k x 2^k nodes, parent-to-child message transfer and the label padding to a vector width.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import InputError


def axis_windows(n: int, num_labels: int, k: int, crop: bool) -> tuple[np.ndarray, int]:
    """Label window of each level-k node along one axis.

    crop=False: the whole label axis. crop=True (labels are displacements -R..R, cost +inf where the target
    leaves the n-node grid): the smallest fixed-size windows that hold every finite-cost label of the node's
    2^k block and, for exact coarse-to-fine message transfer, the windows of its children.

    Args:
      n: fine-grid nodes along the axis.
      num_labels: labels along the axis (2R + 1 with crop=True).
      k: the multigrid level (nodes group 2^k fine nodes).
      crop: whether to window the labels (above).

    Returns:
      (first label index int64 [ceil(n / 2^k)] of each level-k node, window size int).

    Raises:
      InputError: crop=True on labels that are not -R..R with +inf outside the target grid.
    """
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
        assert out is not None  # every node has an offset on each axis: uy and ux are not empty
        return out
    if len(uy) <= 4 and len(ux) <= 4:  # one axis at a time
        return _node_windows(_node_windows(x, oy, ny, np.zeros_like(ox), lx), np.zeros_like(oy), ny, ox, nx)
    sy, sx = jnp.asarray(np.repeat(oy, w), jnp.int32), jnp.asarray(np.tile(ox, h), jnp.int32)
    out = jax.vmap(lambda a, i, j: jax.lax.dynamic_slice(a, (i, j), (ny, nx)))(x.reshape(h * w, ly, lx), sy, sx)
    return out.reshape(h, w, ny, nx)


def target_windows(t: jax.Array, k: int, win: tuple) -> jax.Array:
    """Level-k costs in label windows of the whole-grid displacement labels, from target-indexed costs.

    The labels are (-(H-1)..H-1, -(W-1)..W-1); the result is what `crop_labels(block_sum(v, k), *win)` gives on the
    volume v = `cost_volume(fs, ft, (H - 1, W - 1))`, without building v's (2H-1)(2W-1) labels. Node y of block
    y // 2^k reads labels ys[y // 2^k] + i, i.e. target rows y + ys[y // 2^k] + i - (H-1) (+inf off the grid).

    Args:
      t: target-indexed costs [H, W, H, W] (`target_cost`).
      k: the multigrid level.
      win: (ys, ny, xs, nx): the level's window starts [h_k], [w_k] and sizes (`axis_windows`).

    Returns:
      Costs [h_k, w_k, ny, nx], block sums over 2^k x 2^k nodes.
    """
    ys, ny, xs, nx = win
    h, w = t.shape[:2]
    oy = np.arange(h) + ys[np.arange(h) >> k] - (h - 1)
    ox = np.arange(w) + xs[np.arange(w) >> k] - (w - 1)
    pads = [(max(0, -int(o.min())), max(0, int(o.max()) + n - size)) for o, n, size in ((oy, ny, h), (ox, nx, w))]
    tp = jnp.pad(t, [(0, 0), (0, 0), *pads], constant_values=jnp.inf)
    return block_sum(_node_windows(tp, oy + pads[0][0], ny, ox + pads[1][0], nx), k)


def crop_labels(x: jax.Array, ys: np.ndarray, ny: int, xs: np.ndarray, nx: int) -> jax.Array:
    """Per-node label windows of x: node (y, x) keeps labels ys[y] + i, xs[x] + j (i < ny, j < nx).

    Args:
      x: costs or messages [h, w, Ly, Lx].
      ys, xs: int window starts [h] and [w].
      ny, nx: window sizes.

    Returns:
      [h, w, ny, nx] (x itself where (ny, nx) is already its label shape).
    """
    if (ny, nx) == x.shape[2:]:
        return x
    return _node_windows(x, ys, ny, xs, nx)


def expand_msgs(m: jax.Array, win: tuple, win_parent: tuple, hw: tuple[int, int]) -> jax.Array:
    """Parent messages copied to their children's label windows (which lie inside their parents').

    Args:
      m: parent messages [h', w', >= ny', >= nx'] (parent windows, maybe padded).
      win, win_parent: (starts_y, ny, starts_x, nx) of the children's and the parents' level (`axis_windows`).
      hw: (h, w) the children's grid.

    Returns:
      Children's messages [h, w, ny, nx].

    Raises:
      AssertionError: a child's window leaves its parent's.
    """
    (ys, ny, xs, nx), (ps, pny, px, pnx) = win, win_parent
    y, x = np.arange(hw[0]), np.arange(hw[1])
    oy, ox = ys[y] - ps[y // 2], xs[x] - px[x // 2]
    if oy.min() < 0 or ox.min() < 0 or oy.max() + ny > pny or ox.max() + nx > pnx:
        raise AssertionError("bp: a child's label window leaves its parent's")
    return _node_windows(expand_blocks(m, 1, hw), oy, ny, ox, nx)


def pad_labels(x: jax.Array, multiple: int, value: float) -> jax.Array:
    """Pad the label axes of x up to a multiple of `multiple` where that adds at most 1/8 of the axis.

    Shorter axes, and those it would grow more, stay as they are (the rule and its timings: bench/RESULTS_flow.md).

    Args:
      x: [h, w, ny, nx] costs or messages.
      multiple: the label multiple (the vector width).
      value: the fill (+inf for costs, 0 for messages).

    Returns:
      [h, w, ny', nx'] with ny' >= ny, nx' >= nx.
    """
    size = [-(-n // multiple) * multiple for n in x.shape[2:]]
    size = [m if n >= multiple and 8 * (m - n) <= n else n for m, n in zip(size, x.shape[2:])]
    return jnp.pad(x, [(0, 0), (0, 0)] + [(0, m - n) for m, n in zip(size, x.shape[2:])], constant_values=value)


def block_sum(cost: jax.Array, k: int) -> jax.Array:
    """Sum of cost over 2^k x 2^k blocks of nodes (zero-padded at the far edges).

    Args:
      cost: [H, W, ...] per-node values.
      k: the level (k = 0: cost as given).

    Returns:
      [ceil(H / 2^k), ceil(W / 2^k), ...] block sums.
    """
    if k == 0:
        return cost
    s = 2**k
    h, w = cost.shape[:2]
    hc, wc = -(-h // s), -(-w // s)
    c = jnp.pad(cost, [(0, hc * s - h), (0, wc * s - w)] + [(0, 0)] * (cost.ndim - 2))
    return c.reshape(hc, s, wc, s, *cost.shape[2:]).sum(axis=(1, 3))


def expand_blocks(x: jax.Array, k: int, hw: tuple[int, int]) -> jax.Array:
    """Copy coarse per-node values to the 2^k-finer grid.

    Args:
      x: [h, w, ...] per-node values of level k.
      k: the level (k = 0: x as given).
      hw: (H, W) the fine grid's size (the repeated grid is cut to it).

    Returns:
      [H, W, ...]: each fine node holds its block's value.
    """
    if k == 0:
        return x
    s = 2**k
    x = jnp.repeat(jnp.repeat(x, s, axis=0), s, axis=1)
    return x[: hw[0], : hw[1]]
