"""Exact k-nearest-neighbour search (cosine similarity or L2) over large feature databases.

Queries [Q, D] are matched against a database [N, D] block by block: each step scores a query block
against a database block (`qblock x block` floats), keeps the running top-k, and moves on, so an N x Q
score matrix never exists. Within a block the top-k is selected in two exact stages (the k column groups
with the largest maxima, then the top-k of their members), which on CPU costs a fraction of one `lax.top_k`
over the block. Everything is jit-compiled with static shapes (the database is padded to a whole
number of blocks, padded rows can never be returned; fewer queries than `qblock` are padded to the next power of
two, at least `QMIN`, by repeating the last query, so that query counts within a power of two share one program,
the padded rows' results dropped). With several devices the database blocks are sharded across them
(`jax.shard_map` over a 1-D mesh) and the per-device top-k lists are merged. Databases on disk (`.npy`,
memory-mapped) are streamed chunk by chunk.

Ties: scores are compared exactly; among equal scores the smaller database index comes first (the same
rule as a stable sort of `-score`). Different blockings may round dot products differently in the last bit,
so near-ties (|score gap| ~ 1e-7 relative) can swap order against another implementation.

Cosine: rows are l2-normalised (a zero row gets score 0 against everything). L2: `_topk_l2` returns squared
Euclidean distances, smallest first.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from convcorr_jax.core.errors import InputError, check, check_shape
from convcorr_jax.core.parallel import pad_rows, pow2_ceil

_NEG = -jnp.inf


def l2_normalize(x: jax.Array | np.ndarray, eps: float = 1e-12) -> jax.Array:
    """Rows of x [..., D] scaled to unit l2 norm; zero rows stay zero (`features.hyperpixel.l2_normalise` is this
    with a floor of 1e-6; `regression.l2_normalise`, numpy float32 rows [N, D]).

    Args:
      x: float [..., D] (jax or numpy).
      eps: floor on the norm a row is divided by.

    Returns:
      jax array [..., D], x's dtype. Differentiable everywhere: a zero row's gradient is finite (1 / eps), not NaN.
      A finite row whose sum of squares overflows the dtype (float32 entries beyond ~1e19) is scaled by its largest
      |entry| first, so it is still a unit row (it was divided by an infinite norm: all zeros); a row with an inf or
      NaN entry gives a NaN row.
    """
    # a zero row's norm is taken of ones (then replaced by eps): the norm's gradient at 0 is NaN
    nonzero = jnp.any(x != 0, axis=-1, keepdims=True)
    safe = jnp.where(nonzero, x, 1)
    n = jnp.linalg.norm(safe, axis=-1, keepdims=True)
    big = ~jnp.isfinite(n)  # the sum of squares overflowed: the row again, scaled into range first
    root = jnp.where(big, jnp.sqrt(jnp.max(jnp.abs(safe), axis=-1, keepdims=True)), 1)
    scaled = safe / root / root  # twice by the root: XLA divides by a reciprocal, 1 / 3e38 flushes to 0
    unit = scaled / jnp.linalg.norm(scaled, axis=-1, keepdims=True)
    return jnp.where(big, unit, x / jnp.where(nonzero, jnp.maximum(n, eps), eps))


def _merge(s_a, i_a, s_b, i_b, k):
    """Top-k of the union of two candidate lists [Q, ka], [Q, kb]; on equal scores the smaller index wins."""
    s = jnp.concatenate([s_a, s_b], axis=1)
    i = jnp.concatenate([i_a, i_b], axis=1)
    # lexicographic (score desc, index asc): sort by index first, then a stable sort by score.
    order = jnp.argsort(i, axis=1, stable=True)
    s, i = jnp.take_along_axis(s, order, 1), jnp.take_along_axis(i, order, 1)
    order = jnp.argsort(-s, axis=1, stable=True)[:, :k]
    return jnp.take_along_axis(s, order, 1), jnp.take_along_axis(i, order, 1)


def _block_scores(q, qsq, db, dbsq, metric):
    s = jnp.dot(q, db.T, precision=jax.lax.Precision.HIGHEST)
    if metric == "l2":  # negative squared distance, so that larger is better everywhere
        s = 2.0 * s - qsq[:, None] - dbsq[None, :]
    return s


def _group_size(bsz: int, k: int) -> int | None:
    """Group width m for `_block_topk` on `bsz` columns (a power of two dividing bsz, >= k groups, minimising
    the selection work bsz / m + k * m), or None when a plain top-k over the block is as cheap."""
    best = None
    m = 2
    while m <= bsz // k:
        if bsz % m == 0:
            cost = bsz // m + k * m
            if best is None or cost < best[0]:
                best = (cost, m)
        m *= 2
    return best[1] if best is not None and 2 * best[0] <= bsz else None


def _block_topk(s, k):
    """Exact top-k of each row of s [Q, B]: values [Q, k] descending and column indices [Q, k] int32,
    equal values in ascending column order.

    Two stages (cheaper than one `lax.top_k` over B columns on CPU): split the columns into G groups of m, take
    the k groups with the largest maxima (equal maxima: lower group first), then the top-k of those k * m
    scores. Exact: if x is in the row's top-k, every group ranked before x's group holds a distinct element
    ranked before x (its maximum), so at most k - 1 groups precede it.
    """
    qn, bsz = s.shape
    m = _group_size(bsz, k)
    if m is None:
        sv, iv = jax.lax.top_k(s, k)  # top_k prefers the lower index among equal values
        return sv, iv.astype(jnp.int32)
    sg = s.reshape(qn, bsz // m, m)
    _, gi = jax.lax.top_k(jnp.max(sg, axis=2), k)
    gi = jnp.sort(gi.astype(jnp.int32), axis=1)  # candidates in ascending column order keep the tie rule
    cand = jnp.take_along_axis(sg, gi[:, :, None], axis=1).reshape(qn, k * m)
    sv, ci = jax.lax.top_k(cand, k)
    cols = (gi[:, :, None] * m + jnp.arange(m, dtype=jnp.int32)).reshape(qn, k * m)
    return sv, jnp.take_along_axis(cols, ci, axis=1)


def _scan_db(q, db_blocks, valid, offset, k, metric):
    """Top-k of q [qb, D] against db_blocks [nb, B, D] (valid [nb, B] bool). Indices start at `offset`.

    Padding rows sit at the end of the database, so a block whose last row is valid is valid throughout and
    skips the masking pass over its scores.
    """
    nb, bsz, _ = db_blocks.shape
    qsq = jnp.sum(q * q, axis=1)
    kk = min(k, bsz)

    def step(carry, xs):
        s_run, i_run = carry
        blk, ok, j = xs
        dbsq = jnp.sum(blk * blk, axis=1)

        def full(_):
            return _block_topk(_block_scores(q, qsq, blk, dbsq, metric), kk)

        def masked(_):
            s = _block_scores(q, qsq, blk, dbsq, metric)
            return _block_topk(jnp.where(ok[None, :], s, _NEG), kk)

        sb, ib = jax.lax.cond(ok[-1], full, masked, None)
        ib = ib + offset + j * bsz
        # merge: every index of this block exceeds every index in the running list and both lists are in
        # (score desc, index asc) order, so top_k's lower-position-first tie rule keeps the smaller index first.
        s_all = jnp.concatenate([s_run, sb], axis=1)
        sv, p = jax.lax.top_k(s_all, k)
        return (sv, jnp.take_along_axis(jnp.concatenate([i_run, ib], axis=1), p, axis=1)), None

    init = (jnp.full((q.shape[0], k), _NEG, q.dtype), jnp.full((q.shape[0], k), jnp.iinfo(jnp.int32).max, jnp.int32))
    (s, i), _ = jax.lax.scan(step, init, (db_blocks, valid, jnp.arange(nb, dtype=jnp.int32)))
    return s, i


@functools.partial(jax.jit, static_argnames=("k", "metric", "qblock"))
def _topk_local(queries, db_blocks, valid, offset, k: int, metric: str, qblock: int):
    """queries [Qp, D] (Qp a multiple of qblock) -> top-k over all db blocks; query blocks run in sequence."""
    qb = queries.reshape(-1, qblock, queries.shape[-1])
    s, i = jax.lax.map(lambda q: _scan_db(q, db_blocks, valid, offset, k, metric), qb)
    return s.reshape(-1, k), i.reshape(-1, k)


QMIN = 8  # fewer queries than qblock: padded up to a power of two, at least this many


def _query_rows(q_n: int, qblock: int) -> tuple[int, int]:
    """(padded query count, query block) for q_n queries: a multiple of qblock from qblock queries up, below it
    the next power of two (>= QMIN, <= qblock) as one block, so that query counts within a power of two share
    one compiled program."""
    qblock = max(1, qblock)
    if q_n >= qblock:
        return q_n + -q_n % qblock, qblock
    size = min(qblock, pow2_ceil(q_n, QMIN))
    return size, size


def _check_finite_rows(x: jax.Array, source: str, field: str, offset: int | None = None,
                       rows: int | None = None) -> None:
    """Refuse NaN or inf in x [R, D] (a NaN score would outrank every finite one): one InputError naming the
    first bad row. `offset`: x is a chunk of a streamed array starting at that row (the count then stays unknown).
    `rows`: only the first `rows` rows are checked (the others are padding)."""
    ok = jnp.all(jnp.isfinite(x), axis=1)
    if not bool(jnp.all(ok)):
        bad = np.flatnonzero(~np.asarray(ok)[:rows])
        count = "the first such row" if offset is not None else f"{len(bad)} row{'s' if len(bad) > 1 else ''} in all"
        raise InputError(source, field, "finite values (no NaN or inf)",
                         f"NaN or inf in row {(offset or 0) + int(bad[0])} ({count})")


def _check_inputs(queries, database, k, qblock: int, metric: str) -> tuple[jax.Array, int, int]:
    """Check queries [Q, D] against database [N, D] and k; -> (the queries float32, padded to `_query_rows` by
    repeating the last row and l2-normalised for cosine [Qp, D], Q, the query block)."""
    if not isinstance(queries, (np.ndarray, jax.Array)):
        queries = np.asarray(queries, np.float32)
    dims = check_shape(database, "N D", "knn", "database")
    check_shape(queries, "Q D", "knn", "queries", dims, note="(D: the database's feature dimension)")
    check(isinstance(k, (int, np.integer)) and 1 <= k <= dims["N"], "knn", "k", f"an integer in [1, N = {dims['N']}]",
          k)
    q_n = queries.shape[0]
    size, qblock = _query_rows(q_n, qblock)
    if q_n < qblock or not isinstance(queries, jax.Array):  # padded on the host: no program per query count
        queries = np.asarray(queries, np.float32)
    queries = jnp.asarray(pad_rows(queries, size)[0] if q_n else queries, jnp.float32)
    _check_finite_rows(queries, "knn", "queries", rows=q_n)
    return (l2_normalize(queries) if metric == "cosine" else queries), q_n, qblock


def _topk(queries, database, k, metric, block, qblock, offset=0, devices=None):
    database = jnp.asarray(database, jnp.float32)
    qpad, q_n, qblock = _check_inputs(queries, database, k, qblock, metric)
    _check_finite_rows(database, "knn", "database")
    if metric == "cosine":
        database = l2_normalize(database)
    block = max(1, min(block, database.shape[0]))
    devices = list(jax.devices()) if devices is None else list(devices)
    ndev = len(devices)
    n = database.shape[0]
    dbp, _ = pad_rows(database, block * ndev)
    nb = dbp.shape[0] // block
    valid = (jnp.arange(dbp.shape[0]) < n).reshape(nb, block)
    blocks = dbp.reshape(nb, block, -1)
    if ndev == 1:
        s, i = _topk_local(qpad, blocks, valid, jnp.int32(offset), k, metric, qblock)
    else:
        s, i = _topk_sharded(qpad, blocks, valid, offset, k, metric, qblock, devices)
    return _trim(s, i, q_n, metric)


def _trim(s: jax.Array, i: jax.Array, q_n: int, metric: str) -> tuple[jax.Array, jax.Array]:
    """The first q_n rows of the padded results (L2: negated back to squared distances, clipped at 0), cut on the
    host: a jax slice would compile a program per query count."""
    if metric == "l2":
        s = jnp.maximum(-s, 0.0)
    if s.shape[0] == q_n:
        return s, i
    return jax.device_put(np.asarray(s)[:q_n]), jax.device_put(np.asarray(i)[:q_n])


def _topk_sharded(qpad, blocks, valid, offset, k, metric, qblock, devices):
    """Database blocks split over a 1-D device mesh; each device keeps its own top-k, then one merge."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    ndev = len(devices)
    nb, bsz, _ = blocks.shape
    mesh, fn = _sharded_program(tuple(devices), nb // ndev, bsz, int(offset), k, metric, qblock)
    blocks = jax.device_put(blocks, NamedSharding(mesh, P("db")))
    valid = jax.device_put(valid, NamedSharding(mesh, P("db")))
    s_all, i_all = fn(qpad, blocks, valid)  # [ndev, Qp, k]
    s, i = s_all[0], i_all[0]
    for d in range(1, ndev):
        s, i = _merge_jit(s, i, s_all[d], i_all[d], k)
    return s, i


@functools.lru_cache(maxsize=64)
def _sharded_program(devices: tuple, per: int, bsz: int, offset: int, k: int, metric: str, qblock: int):
    """(the mesh of `devices`, the jitted shard_map of `_topk_local` over it): made once per setting, so that a
    second call with the same shapes runs the program already compiled (a new closure each call was traced and
    compiled again every time)."""
    from jax.sharding import Mesh, PartitionSpec as P

    mesh = Mesh(np.array(devices), ("db",))

    def local(q, blk, ok):
        dev = jax.lax.axis_index("db")
        off = jnp.int32(offset) + dev.astype(jnp.int32) * per * bsz
        s, i = _topk_local(q, blk, ok, off, k, metric, qblock)
        return s[None], i[None]

    return mesh, jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P("db"), P("db")),
                                       out_specs=(P("db"), P("db")), check_vma=False))


_merge_jit = jax.jit(_merge, static_argnames=("k",))


def topk_cosine(queries: npt.ArrayLike, database: npt.ArrayLike, k: int, block: int = 16384, qblock: int = 1024,
                devices: Sequence[jax.Device] | None = None) -> tuple[Any, Any]:  # jax arrays, see Returns
    """Exact top-k cosine similarity.

    Args:
      queries: [Q, D] float. database: [N, D] float (in memory; see `topk_cosine_mmap` for files).
      k: neighbours per query (1 <= k <= N).
      block, qblock: database rows and query rows scored per step (memory ~ qblock * block * 4 bytes).
      devices: devices to shard the database over (default: all local devices).
    Returns:
      scores [Q, k] float32 (cosine similarity, descending) and indices [Q, k] int32 into the database, both jax arrays.

    Raises:
      InputError: shapes that do not match, k not an integer in [1, N], or a NaN / inf in a query or database row.

    Examples:
      >>> db = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
      >>> sims, idx = topk_cosine(np.array([[1, 0.1]], np.float32), db, 2)
      >>> np.round(np.asarray(sims, np.float64), 3).tolist(), np.asarray(idx).tolist()
      ([[0.995, 0.774]], [[0, 2]])
    """
    return _topk(queries, database, k, "cosine", block, qblock, devices=devices)


def _topk_l2(queries, database, k: int, block: int = 16384, qblock: int = 1024, devices=None):
    """Exact k nearest neighbours in Euclidean distance.

    Args:
      queries, database, k, block, qblock, devices: as `topk_cosine`.

    Returns:
      squared distances [Q, k] float32 (ascending, clipped at 0) and indices [Q, k] int32 into the database, as
      jax arrays.
    """
    return _topk(queries, database, k, "l2", block, qblock, devices=devices)


def _stream(queries, npy_path, k, metric, chunk, block, qblock, progress):
    path = os.fspath(npy_path)
    try:
        db = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise InputError(path, "file", "a readable .npy array [N, D]", f"{type(e).__name__}: {e}") from e
    check_shape(db, "N D", path, "array", dtype="float")
    queries, q_n, qblock = _check_inputs(queries, db[:1] if db.shape[0] else db, 1, qblock, metric)
    check(isinstance(k, (int, np.integer)) and 1 <= k <= db.shape[0], "knn", "k",
          f"an integer in [1, N = {db.shape[0]}]", k)
    check(isinstance(chunk, (int, np.integer)) and chunk >= 1, "knn", "chunk", "an integer >= 1", chunk)
    n = db.shape[0]
    chunk = min(chunk, n)
    s_run = i_run = None
    starts = range(0, n, chunk)
    if progress:
        from convcorr_jax.core.progress import bar as progress_bar

        starts = progress_bar(starts, desc=f"knn {os.path.basename(path)}", unit="chunk")
    for start in starts:
        part = jnp.asarray(np.asarray(db[start:start + chunk], np.float32))
        _check_finite_rows(part, path, "array", start)
        if metric == "cosine":
            part = l2_normalize(part)
        if part.shape[0] < chunk:  # keep one compiled shape: pad, padded rows are masked inside
            part = jnp.concatenate([part, jnp.zeros((chunk - part.shape[0], part.shape[1]), part.dtype)])
        kk = min(k, chunk)
        s, i = _topk_chunk(queries, part, min(n - start, chunk), start, kk, metric, block, qblock)
        if s_run is None:
            s_run, i_run = s, i
        else:
            s_run, i_run = _merge_jit(s_run, i_run, s, i, k)
    assert s_run is not None and i_run is not None  # k <= N was checked: N >= 1, so at least one chunk ran
    return _trim(s_run, i_run, q_n, metric)


def _topk_chunk(qpad, part, n_valid, offset, k, metric, block, qblock):
    """Top-k of the padded queries qpad [Qp, D] (Qp a multiple of qblock) against one chunk part [C, D] whose
    first n_valid rows are real, indices from `offset`."""
    block = max(1, min(block, part.shape[0]))
    dbp, _ = pad_rows(part, block)
    nb = dbp.shape[0] // block
    valid = (jnp.arange(dbp.shape[0]) < n_valid).reshape(nb, block)
    return _topk_local(qpad, dbp.reshape(nb, block, -1), valid, jnp.int32(offset), k, metric, qblock)


def topk_cosine_mmap(queries: npt.ArrayLike, npy_path: str | os.PathLike, k: int, chunk: int = 262144,
                     block: int = 16384, qblock: int = 1024, progress: bool = False) -> tuple[Any, Any]:
    """Exact top-k cosine similarity against a `.npy` database [N, D] read chunk by chunk (memory-mapped).

    Only `chunk` rows are in memory at a time.

    Args:
      queries: [Q, D] float.
      npy_path: a float `.npy` file holding the database [N, D].
      k: neighbours per query (1 <= k <= N).
      chunk: database rows read per step.
      block, qblock: as `topk_cosine`.
      progress: draw a progress bar over the chunks.

    Returns:
      scores [Q, k] float32 (cosine similarity, descending) and indices [Q, k] int32, jax arrays as `topk_cosine`'s.

    Raises:
      InputError: an unreadable file, a database that is not a float [N, D], mismatched D, k not an integer in
        [1, N], chunk not an integer >= 1, or a NaN / inf in a query or database row.
    """
    return _stream(queries, npy_path, k, "cosine", chunk, block, qblock, progress)


def _topk_l2_mmap(queries, npy_path, k: int, chunk: int = 262144, block: int = 16384, qblock: int = 1024,
                 progress: bool = False):
    """`_topk_l2` against a memory-mapped `.npy` database [N, D].

    Args:
      queries, npy_path, k, chunk, block, qblock, progress: as `topk_cosine_mmap`.

    Returns:
      squared distances [Q, k] float32 (ascending, clipped at 0) and indices [Q, k] int32.

    Raises:
      InputError: as `topk_cosine_mmap`.
    """
    return _stream(queries, npy_path, k, "l2", chunk, block, qblock, progress)
