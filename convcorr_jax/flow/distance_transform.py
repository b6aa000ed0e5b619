"""Squared Euclidean distance transform of sampled functions (Felzenszwalb & Huttenlocher 2004).

    D(p) = min_q f(q) + w * (p - q)^2          (1D, p, q in 0..n-1)
    D(y, x) = min_(y', x') f(y', x') + wy * (y - y')^2 + wx * (x - x')^2     (2D, separable)

`f` is any array of costs (not a binary image); `+inf` entries never win (a row of only `+inf` gives `+inf`
and arg-min 0), a `-inf` entry wins everywhere (its row gives `-inf`, arg-min its first `-inf`); NaN entries are
read as `+inf` by every function and method. Weights must be > 0. `dt1d` is
the exact O(n) lower-envelope algorithm under `jit` (`lax.fori_loop` over the static row length, vectorised over
all leading axes); `dt1d_brute` is the O(n^2) reference with arg-min.

`dt1d_min` (values only, what BP messages need) picks its method by row length (`method="auto"`): up to
`AUTO_TREE_MAX` ("tree") it unrolls the minimum over the n candidates into one elementwise fusion (n slices of f,
each plus its constant row of w d^2, reduced by a balanced tree of minima, which vectorises along the other axes);
up to `AUTO_BRUTE_MAX` ("brute") it takes the minimum over all n candidates as one fused reduction (O(n^2) work,
but no n x n array is written to memory); above that the O(n) sequential envelope. The two thresholds were set by
timing the methods on XLA:CPU (bench/RESULTS_flow.md). It can also evaluate D on a range extended by `pad`
positions on both sides, which BP needs when sender and receiver store their labels in different windows.

Values: the lower envelope picks the parabola that is minimal at p; to be robust to rounding of the
intersection points, each p also checks the envelope's neighbouring parabolas. Every method returns the value
as `f(q*) + w * (p - q*)^2` with the product rounded on its own (no fused multiply-add), so all methods give
bit-identical values. Arg-min ties: among equal values, the smaller q on the envelope wins;
a brute-force `argmin` also returns the smallest minimiser, so ties only differ when three or more parabolas
meet in one point (then q* is still a minimiser).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _check_weight(w, name="w"):
    from convcorr_jax.core.errors import InputError

    try:
        val = float(w)
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return  # traced: cannot check here
    if not val > 0:
        raise InputError("distance_transform", name, "a weight > 0", val)


def rounded_product(w: jax.Array, x: jax.Array) -> jax.Array:
    """w * x (w >= 0) rounded to the dtype on its own.

    XLA:CPU contracts a multiply feeding an add into one FMA in some fusions (elementwise loops) and not in others
    (reductions), so the same sum would round two ways; OR-ing the product's bits with a zero known only at run time
    (w < 0 is false for every valid weight) hides the multiply from the contraction.

    Args:
      w: weight(s) >= 0, broadcastable against x.
      x: float values (float16, bfloat16, float32 or float64; the bit trick reads them as integers of their width).

    Returns:
      jax array w * x in x's dtype, broadcast shape.
    """
    t = w * x
    ints = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[jnp.dtype(t.dtype).itemsize]
    bits = lax.bitcast_convert_type(t, ints) | (w < 0).astype(ints)
    return lax.bitcast_convert_type(bits, t.dtype)


def _wsq(w: jax.Array, d: jax.Array) -> jax.Array:
    """w * d^2 rounded on its own (`rounded_product`), so that every method computes f(q) + w * d^2 with the same
    two roundings."""
    return rounded_product(w, jnp.square(d))


def _cost(fq: jax.Array, w: jax.Array, d: jax.Array) -> jax.Array:
    """f(q) + w * d^2 (rounded as in `_wsq`)."""
    return fq + _wsq(w, d)


def _value_at(g: jax.Array, w: jax.Array, arg: jax.Array) -> jax.Array:
    """D(p) = g[arg[p]] + w * (p - arg[p])^2 along the last axis, rounded as in `dt1d_min`, so equal arg-mins give
    bit-identical values for every method."""
    p = jnp.arange(g.shape[-1], dtype=g.dtype)
    fq = jnp.take_along_axis(g, arg, axis=-1)
    return jnp.where(jnp.isfinite(fq), _cost(fq, w, p - arg.astype(g.dtype)), fq)  # +-inf: f(q*) itself


def _dt1d_row(f: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Lower envelope DT of one row f [n] -> (values [n], argmin [n] int32)."""
    n = f.shape[0]
    dtype = f.dtype
    finite = jnp.isfinite(f)
    inf = jnp.array(jnp.inf, dtype)

    def intersect(q, r):  # abscissa where parabolas rooted at q and r (r < q) meet
        qf, rf = q.astype(dtype), r.astype(dtype)
        return (f[q] - f[r]) / (2 * w * (qf - rf)) + (qf + rf) / 2

    def body(q, state):
        v, z, k = state  # envelope roots v[0..k], boundaries z[0..k+1]; k = -1 when empty
        ok = finite[q]  # +inf costs never enter the envelope

        def pop_cond(kk):
            return ok & (kk >= 0) & (intersect(q, v[jnp.maximum(kk, 0)]) <= z[jnp.maximum(kk, 0)])

        k2 = lax.while_loop(pop_cond, lambda kk: kk - 1, k)
        # k2 == -1 only if the envelope was empty (z[0] = -inf never pops)
        s = jnp.where(k2 < 0, -inf, intersect(q, v[jnp.maximum(k2, 0)]))
        k3 = jnp.where(ok, k2 + 1, k)
        # O(1) writes (a no-op when q is skipped: position k3 = k is rewritten with its own value)
        v = v.at[k3].set(jnp.where(ok, q, v[k3]))
        z = z.at[k3].set(jnp.where(ok, s, z[k3]))
        z = z.at[k3 + 1].set(jnp.where(ok, inf, z[k3 + 1]))
        return v, z, k3

    v0 = jnp.zeros(n, jnp.int32)
    z0 = jnp.full(n + 1, jnp.inf, dtype)
    v, z, k = lax.fori_loop(0, n, body, (v0, z0, jnp.int32(-1)))
    p = jnp.arange(n, dtype=dtype)
    # segment index of p: number of boundaries z[1..k] strictly below p (z is non-decreasing, z[k+1:] = inf)
    z = jnp.where(jnp.arange(n + 1) <= k, z, jnp.inf)  # drop stale boundaries left by popped parabolas
    seg = jnp.searchsorted(z[1:], p, side="left").astype(jnp.int32)  # O(n log n), vectorised
    seg = jnp.clip(seg, 0, jnp.maximum(k, 0))
    best_val = jnp.full(n, jnp.inf, dtype)
    best_arg = jnp.zeros(n, jnp.int32)
    for off in (-1, 0, 1):  # neighbours on the envelope guard against rounding of z
        kk = jnp.clip(seg + off, 0, jnp.maximum(k, 0))
        q = v[kk]
        val = jnp.where(k >= 0, _cost(f[q], w, p - q.astype(dtype)), jnp.inf)
        better = (val < best_val) | ((val == best_val) & (q < best_arg))
        best_val = jnp.where(better, val, best_val)
        best_arg = jnp.where(better, q, best_arg)
    neg = f == -inf  # a -inf cost wins everywhere (the first one, as a brute-force argmin)
    first = jnp.argmax(neg).astype(jnp.int32)
    return jnp.where(neg[first], -inf, best_val), jnp.where(neg[first], first, best_arg)


def _as_costs(f: jax.Array) -> jax.Array:
    """f as float costs: non-float input cast to float32, NaN read as +inf (so that no method lets a NaN win or
    spread)."""
    f = jnp.asarray(f)
    if not jnp.issubdtype(f.dtype, jnp.floating):
        f = f.astype(jnp.float32)
    return jnp.where(jnp.isnan(f), jnp.inf, f)


def _move(f, axis):
    return jnp.moveaxis(f, axis, -1)


@functools.partial(jax.jit, static_argnames=("axis",))
def dt1d(f: jax.Array, w: float | jax.Array = 1.0, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """Exact 1D DT along `axis` of f (O(n) lower envelope).

    Args:
      f: costs [..., n, ...] (non-float input is cast to float32; +inf and NaN never win).
      w: the weight > 0 of (p - q)^2 (not checked here).
      axis: the axis the transform runs along.

    Returns:
      jax arrays (values like f, arg-min int32 indices along `axis`).
    """
    f = _as_costs(f)
    w = jnp.asarray(w, f.dtype)
    g = _move(f, axis)
    shape = g.shape
    rows = g.reshape(-1, shape[-1])
    _, args = jax.vmap(_dt1d_row, in_axes=(0, None))(rows, w)
    vals = _value_at(rows, w, args)
    return jnp.moveaxis(vals.reshape(shape), -1, axis), jnp.moveaxis(args.reshape(shape), -1, axis)


@functools.partial(jax.jit, static_argnames=("axis",))
def dt1d_brute(f: jax.Array, w: float | jax.Array = 1.0, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """Brute-force O(n^2) reference of `dt1d` (arg-min: smallest minimiser).

    Args:
      f: costs [..., n, ...] (non-float input is cast to float32; NaN is read as +inf).
      w: the weight > 0 of (p - q)^2.
      axis: the axis the transform runs along.

    Returns:
      jax arrays (values like f, arg-min int32 indices along `axis`).
    """
    f = _as_costs(f)
    w = jnp.asarray(w, f.dtype)
    g = _move(f, axis)
    n = g.shape[-1]
    idx = jnp.arange(n, dtype=f.dtype)
    cost = _cost(g[..., None, :], w, idx[:, None] - idx[None, :])  # [..., p, q]
    args = jnp.argmin(cost, axis=-1).astype(jnp.int32)
    vals = _value_at(g, w, args)
    return jnp.moveaxis(vals, -1, axis), jnp.moveaxis(args, -1, axis)


AUTO_TREE_MAX = 64  # dt1d_min(method="auto"): unrolled tree of minima up to this row length,
AUTO_BRUTE_MAX = 1024  # fused reduction up to this one, envelope above
METHODS = ("tree", "brute", "envelope")


def _resolve_method(n: int, method: str = "auto") -> str:
    """The 1D DT method used for rows of length n.

    Args:
      n: the row length.
      method: "auto" (tree iff n <= AUTO_TREE_MAX, else brute iff n <= AUTO_BRUTE_MAX, else envelope), "tree",
        "brute" or "envelope".

    Returns:
      "tree", "brute" or "envelope".

    Raises:
      InputError: another method name.
    """
    if method == "auto":
        return "tree" if n <= AUTO_TREE_MAX else "brute" if n <= AUTO_BRUTE_MAX else "envelope"
    if method not in METHODS:
        from convcorr_jax.core.errors import InputError

        raise InputError("distance_transform", "method", "'auto', 'tree', 'brute' or 'envelope'", method)
    return method


def _tree_min(terms: list[jax.Array]) -> jax.Array:
    """Elementwise minimum of equally shaped arrays by a balanced tree (a select, which vectorises on XLA:CPU;
    inputs hold no NaN)."""
    while len(terms) > 1:
        pairs = [jnp.where(a < b, a, b) for a, b in zip(terms[0::2], terms[1::2])]
        terms = pairs + terms[len(pairs) * 2:]
    return terms[0]


@functools.partial(jax.jit, static_argnames=("axis", "pad", "method"))
def dt1d_min(f: jax.Array, w: float | jax.Array = 1.0, axis: int = -1, pad: int = 0, method: str = "auto") -> jax.Array:
    """Values of the exact 1D DT along `axis` of f, evaluated at p = -pad .. n - 1 + pad.

    Bit for bit the values of `dt1d_brute` (pad = 0) with every method.

    Args:
      f: costs [..., n, ...] (non-float input is cast to float32; NaN is read as +inf).
      w: the weight > 0 of (p - q)^2.
      axis: the axis the transform runs along.
      pad: extra positions evaluated on both sides (>= 0).
      method: "auto", "tree", "brute" or "envelope" (see `_resolve_method`).

    Returns:
      A jax array of values like f but with n + 2 pad entries along `axis`.

    Raises:
      InputError: an unknown method.
    """
    f = _as_costs(f)
    w = jnp.asarray(w, f.dtype)
    axis = axis % f.ndim
    n = f.shape[axis]
    chosen = _resolve_method(n, method)
    if chosen == "tree":
        # out[..., p, rest] = min over the n slices f[..., q, rest] + w (p - q)^2 (a row of P constants each)
        rows = np.arange(-pad, n + pad)
        wd2 = _wsq(w, jnp.asarray(rows[:, None] - np.arange(n), f.dtype))  # [P, n]
        shape = [1] * f.ndim
        shape[axis] = n + 2 * pad
        return _tree_min([lax.slice_in_dim(f, q, q + 1, axis=axis) + wd2[:, q].reshape(shape) for q in range(n)])
    if chosen == "brute":
        # out[..., p, rest] = min_q f[..., q, rest] + w (p - q)^2 as one fused reduction over q in place: no
        # transpose (the axes after `axis` stay innermost and vectorise) and no n x n array in memory
        q = jnp.arange(n, dtype=f.dtype)
        p = jnp.arange(-pad, n + pad, dtype=f.dtype)
        wd2 = _wsq(w, p[:, None] - q).reshape(n + 2 * pad, n, *([1] * (f.ndim - axis - 1)))
        return jnp.min(jnp.expand_dims(f, axis) + wd2, axis=axis + 1)
    g = _move(f, axis)
    if pad:
        g = jnp.pad(g, [(0, 0)] * (g.ndim - 1) + [(pad, pad)], constant_values=jnp.inf)
    rows = g.reshape(-1, g.shape[-1])
    args = jax.vmap(_dt1d_row, in_axes=(0, None))(rows, w)[1]
    vals = _value_at(rows, w, args).reshape(g.shape)
    return jnp.moveaxis(vals, -1, axis)


def _dt2d(f: jax.Array, wy: float = 1.0, wx: float = 1.0, method: str = "envelope") -> tuple[jax.Array, jax.Array]:
    """Separable 2D DT over the last two axes of f.

    Args:
      f: costs [..., H, W].
      wy, wx: the weights > 0 of (y - y')^2 and (x - x')^2.
      method: "envelope" (exact O(HW)) or "brute" (two brute-force 1D passes, O(HW(H+W))).

    Returns:
      (values [..., H, W], arg-min [..., H, W, 2] int32 as (y', x')).

    Raises:
      InputError: a weight not > 0 (checked where it is concrete).
    """
    _check_weight(wy, "wy")
    _check_weight(wx, "wx")
    one = dt1d if method == "envelope" else dt1d_brute
    vx, ax = one(f, wx, axis=-1)  # along x for every row y'
    vy, ay = one(vx, wy, axis=-2)  # along y for every column x
    ax_sel = jnp.take_along_axis(ax, ay, axis=-2)  # x' of the chosen row y' for each (y, x)
    return vy, jnp.stack([ay, ax_sel], axis=-1)


def _dt2d_values(f: jax.Array, wy: float, wx: float, method: str = "auto") -> jax.Array:
    """Values only of `_dt2d` (what BP messages need).

    Args:
      f: costs [..., H, W].
      wy, wx: the weights > 0 of (y - y')^2 and (x - x')^2.
      method: as in `dt1d_min`.

    Returns:
      Values [..., H, W] (float32 for non-float f).
    """
    return dt1d_min(dt1d_min(f, wx, axis=-1, method=method), wy, axis=-2, method=method)
