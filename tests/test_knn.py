"""Exact kNN: equal to a float64 NumPy brute force (indices and scores), blocked, streamed, sharded."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import xla_flags
from knn_oracle import brute_force_topk

from convcorr_jax.core import knn
from convcorr_jax.core.errors import InputError


def _assert_same(s, i, s_ref, i_ref, atol=2e-5):
    s, i = np.asarray(s), np.asarray(i)
    np.testing.assert_allclose(s, s_ref, atol=atol, rtol=1e-5)
    # indices must agree except where the reference itself has a near-tie at that rank
    gaps = np.abs(np.diff(s_ref, axis=1))
    near_tie = np.zeros_like(i, bool)
    near_tie[:, 1:] |= gaps < atol
    near_tie[:, :-1] |= gaps < atol
    assert np.all((i == i_ref) | near_tie)
    assert (i == i_ref).mean() > 0.99


@pytest.mark.parametrize("block,qblock", [(7, 5), (64, 64), (1000, 1000)])
def test_cosine_matches_brute_force(block, qblock):
    rng = np.random.default_rng(0)
    db = rng.normal(size=(301, 17)).astype(np.float32)
    q = rng.normal(size=(23, 17)).astype(np.float32)
    s, i = knn.topk_cosine(q, db, 5, block=block, qblock=qblock)
    s_ref, i_ref = brute_force_topk(q, db, 5)
    assert s.shape == (23, 5) and i.shape == (23, 5)
    _assert_same(s, i, s_ref, i_ref)


@pytest.mark.parametrize("k,n_cols", [(1, 64), (5, 256), (5, 1024), (20, 512), (3, 96)])
def test_block_topk_two_stage_equals_stable_sort_with_ties(k, n_cols):
    # integer scores in a small range: many exact ties, so the (score desc, index asc) rule is tested too
    assert knn._group_size(n_cols, k) is not None  # the two-stage selection is the path under test
    rng = np.random.default_rng(k * n_cols)
    s = rng.integers(-6, 7, size=(40, n_cols)).astype(np.float32)
    s[0] = 3.0  # a row that is one big tie
    s[1, -k:] = 100.0  # the winners all in the last group
    s[2] = -7.0
    s[2, [0, -2, -1]] = [5.0, 5.0, 9.0]  # the group of the 9 ranks first but the first 5 is in column 0
    sv, iv = jax.jit(knn._block_topk, static_argnums=1)(s, k)
    ref = np.argsort(-s, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(np.asarray(iv), ref)
    np.testing.assert_array_equal(np.asarray(sv), np.take_along_axis(s, ref, 1))


@pytest.mark.parametrize("n", [1024, 1000])  # whole blocks; padded (masked) last block
def test_cosine_two_stage_blocks_match_brute_force(n):
    rng = np.random.default_rng(5)
    db = rng.normal(size=(n, 16)).astype(np.float32)
    db[:, 1] = 10.0 + np.abs(db[:, 1])  # every row: negative cosine to query 1 below
    db[600] = db[3]  # exact duplicate rows in different blocks: tie, smaller index first
    db[900] = db[3] * 2
    q = np.abs(rng.normal(size=(9, 16))).astype(np.float32)
    q[0] = db[3]  # db[3], db[600], db[900] are this query's top-3 (score 1)
    q[1] = 0.1
    q[1, 1] = -5.0  # all its scores are negative: padded rows (score 0) must never win
    assert knn._group_size(256, 5) is not None
    s, i = knn.topk_cosine(q, db, 5, block=256, qblock=4)
    s_ref, i_ref = brute_force_topk(q, db, 5)
    _assert_same(s, i, s_ref, i_ref)
    np.testing.assert_array_equal(np.asarray(i)[0, :3], [3, 600, 900])
    assert np.all(np.asarray(s)[1] < 0) and np.all(np.asarray(i) < n)
    d, j = knn._topk_l2(q, db, 4, block=256, qblock=4)
    d_ref, j_ref = brute_force_topk(q, db, 4, metric="l2")
    np.testing.assert_allclose(np.asarray(d), d_ref, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(j), j_ref)


def test_l2_matches_brute_force():
    rng = np.random.default_rng(1)
    db = rng.normal(size=(257, 9)).astype(np.float32)
    q = rng.normal(size=(31, 9)).astype(np.float32)
    d, i = knn._topk_l2(q, db, 4, block=50, qblock=8)
    d_ref, i_ref = brute_force_topk(q, db, 4, metric="l2")
    np.testing.assert_allclose(np.asarray(d), d_ref, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(i), i_ref)
    assert np.all(np.diff(np.asarray(d), axis=1) >= 0)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_new_query_counts_below_qblock_compile_nothing_new(metric, count_compiles, tmp_path):
    """Calls with 5, 6, 7 and 8 queries (the count padded to a power of two by repeating the last query, the padded
    rows dropped): after the first call nothing is compiled again, in memory or streamed, and every call's
    neighbours are the brute force's."""
    rng = np.random.default_rng(11)
    db = rng.normal(size=(61, 7)).astype(np.float32)
    q = rng.normal(size=(8, 7)).astype(np.float32)
    np.save(tmp_path / "db.npy", db)
    search = knn.topk_cosine if metric == "cosine" else knn._topk_l2
    stream = knn.topk_cosine_mmap if metric == "cosine" else knn._topk_l2_mmap
    search(q[:5], db, 3)
    stream(q[:5], tmp_path / "db.npy", 3, chunk=32)
    with count_compiles() as n:
        found = {m: (search(q[:m], db, 3), stream(q[:m], tmp_path / "db.npy", 3, chunk=32)) for m in (6, 7, 8, 5)}
    assert n[0] == 0
    for m, results in found.items():
        s_ref, i_ref = brute_force_topk(q[:m], db, 3, metric)
        for s, i in results:
            assert s.shape == i.shape == (m, 3)
            np.testing.assert_array_equal(np.asarray(i), i_ref)
            np.testing.assert_allclose(np.asarray(s), s_ref, atol=1e-4)


def test_ties_smaller_index_first_across_blocks():
    # duplicate rows spread across different blocks: exact ties must come out in index order
    base = np.eye(4, dtype=np.float32)
    db = np.concatenate([base, base * 2, base * 3, np.full((5, 4), 0.1, np.float32)])  # rows 0,4,8 identical dir
    q = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32)
    s, i = knn.topk_cosine(q, db, 3, block=3, qblock=1)
    np.testing.assert_array_equal(np.asarray(i), [[0, 4, 8], [2, 6, 10]])
    np.testing.assert_allclose(np.asarray(s), 1.0, atol=1e-6)


def test_zero_rows_and_k_equal_n():
    db = np.zeros((6, 3), np.float32)
    db[2] = [1, 0, 0]
    s, i = knn.topk_cosine(np.array([[2.0, 0, 0]], np.float32), db, 6, block=4)
    assert int(i[0, 0]) == 2 and float(s[0, 0]) == pytest.approx(1.0)
    np.testing.assert_array_equal(np.asarray(i[0, 1:]), [0, 1, 3, 4, 5])  # zero rows score 0, index order
    np.testing.assert_allclose(np.asarray(s[0, 1:]), 0.0)


def test_mmap_stream_matches_in_memory(tmp_path):
    rng = np.random.default_rng(2)
    db = rng.normal(size=(1003, 12)).astype(np.float32)
    q = rng.normal(size=(11, 12)).astype(np.float32)
    np.save(tmp_path / "db.npy", db)
    s, i = knn.topk_cosine_mmap(q, tmp_path / "db.npy", 7, chunk=100, block=32, qblock=4)
    s_ref, i_ref = brute_force_topk(q, db, 7)
    _assert_same(s, i, s_ref, i_ref)
    d, j = knn._topk_l2_mmap(q, tmp_path / "db.npy", 3, chunk=100, block=32, qblock=4)
    d_ref, j_ref = brute_force_topk(q, db, 3, metric="l2")
    np.testing.assert_array_equal(np.asarray(j), j_ref)


def test_bad_input(tmp_path):
    db = np.zeros((5, 3), np.float32)
    with pytest.raises(InputError, match="feature dimension"):
        knn.topk_cosine(np.zeros((2, 4), np.float32), db, 1)
    with pytest.raises(InputError, match="k"):
        knn.topk_cosine(np.zeros((2, 3), np.float32), db, 6)
    with pytest.raises(InputError, match="shape"):
        knn.topk_cosine(np.zeros(3, np.float32), db, 1)
    (tmp_path / "bad.npy").write_bytes(b"not an npy")
    with pytest.raises(InputError, match="readable .npy"):
        knn.topk_cosine_mmap(np.zeros((1, 3), np.float32), tmp_path / "bad.npy", 1)


@pytest.mark.parametrize("kwargs,field", [({"k": 2.0}, "'k'"), ({"k": 2, "chunk": 0}, "chunk")])
def test_mmap_bad_k_or_chunk_raises_input_error(tmp_path, kwargs, field):
    """A float k used to fail deep in `lax.top_k` (TypeError), chunk=0 in `range` (ValueError)."""
    np.save(tmp_path / "db.npy", np.ones((5, 3), np.float32))
    with pytest.raises(InputError, match=field):
        knn.topk_cosine_mmap(np.ones((2, 3), np.float32), tmp_path / "db.npy", **kwargs)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_non_finite_database_or_query_row_is_refused(tmp_path, metric):
    """A NaN database row used to come back first for every query (with a NaN score); a NaN query got NaN
    scores against everything. Both are refused, naming the row; the streamed path names the file and the row."""
    db = np.array([[1, 0], [0, 1], [1, 1], [2, 0], [0, 2], [1, 2]], np.float32)
    db[4, 1] = np.nan
    q = np.array([[1, 0.1]], np.float32)
    in_memory = knn.topk_cosine if metric == "cosine" else knn._topk_l2
    streamed = knn.topk_cosine_mmap if metric == "cosine" else knn._topk_l2_mmap
    with pytest.raises(InputError, match=r"'database'.*finite.*row 4 \(1 row in all\)"):
        in_memory(q, db, 2)
    np.save(tmp_path / "db.npy", db)
    with pytest.raises(InputError, match=r"db\.npy: field 'array'.*finite.*row 4 "):
        streamed(q, tmp_path / "db.npy", 2, chunk=3)
    db[4, 1] = 2.0
    with pytest.raises(InputError, match=r"'queries'.*finite.*row 1 "):
        in_memory(np.array([[1, 0], [np.inf, 0]], np.float32), db, 2)
    with pytest.raises(InputError, match=r"'queries'.*finite.*row 0 "):
        streamed(np.array([[np.nan, 0]], np.float32), tmp_path / "db.npy", 2)


def test_sharded_over_eight_devices_matches_brute_force():
    code = textwrap.dedent("""
        import sys
        import numpy as np, jax
        from convcorr_jax.core import knn
        sys.path.insert(0, TESTS)
        from knn_oracle import brute_force_topk
        assert len(jax.devices()) == 8
        rng = np.random.default_rng(3)
        db = rng.normal(size=(1000, 16)).astype(np.float32)
        q = rng.normal(size=(37, 16)).astype(np.float32)
        s, i = knn.topk_cosine(q, db, 5, block=40, qblock=16)
        s_ref, i_ref = brute_force_topk(q, db, 5)
        np.testing.assert_allclose(np.asarray(s), s_ref, atol=2e-5)
        np.testing.assert_array_equal(np.asarray(i), i_ref)
        print("OK")
    """)
    code = f"TESTS = {os.path.dirname(os.path.abspath(__file__))!r}\n{code}"  # the oracle's folder
    env = dict(os.environ, XLA_FLAGS=xla_flags(8), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK" in out.stdout


def test_sharded_search_compiles_nothing_on_a_second_call_with_the_same_shapes():
    """Over two devices, a second search with the same shapes (and another query count within the same power of
    two) compiles nothing and gives the first one's neighbours bit for bit: the sharded program was a new closure
    jitted on every call, traced and compiled again each time."""
    code = textwrap.dedent("""
        import numpy as np, jax
        from convcorr_jax.core import knn
        assert len(jax.devices()) == 2
        n = [0]
        jax.monitoring.register_event_duration_secs_listener(
            lambda event, secs, **kw: n.__setitem__(0, n[0] + (event == "/jax/core/compile/backend_compile_duration")))
        rng = np.random.default_rng(3)
        db = rng.normal(size=(200, 8)).astype(np.float32)
        q = rng.normal(size=(13, 8)).astype(np.float32)
        first = [np.asarray(a) for a in knn.topk_cosine(q, db, 3, block=40)]
        n[0] = 0
        again = [np.asarray(a) for a in knn.topk_cosine(q, db, 3, block=40)]
        knn.topk_cosine(q[:11], db, 3, block=40)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
        print("COMPILES", n[0])
    """)
    env = dict(os.environ, XLA_FLAGS=xla_flags(2), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "COMPILES 0" in out.stdout, out.stdout


def test_real_mobilenet_features_match_brute_force():
    """Columns of real ImageNet MobileNetV2 features (conv3 role) of scikit-image's photographs."""
    from convcorr_jax.long2014.locality import query_images
    from convcorr_jax.features.columns import extract_grids
    from convcorr_jax.weights import load_pretrained

    bb, params = load_pretrained("mobilenet_v2")
    tap = bb.roles["conv3"]
    grids = extract_grids(bb, params, query_images(96, ("chelsea", "coffee", "astronaut")), [tap], batch_size=3)[tap]
    db = np.concatenate([g.reshape(-1, g.shape[-1]) for g in grids[:2]])
    q = grids[2].reshape(-1, grids[2].shape[-1])
    s, i = knn.topk_cosine(q, db, 5, block=50, qblock=16)
    s_ref, i_ref = brute_force_topk(q, db, 5)
    _assert_same(s, i, s_ref, i_ref)
    d, j = knn._topk_l2(q, db, 3, block=64)
    d_ref, j_ref = brute_force_topk(q, db, 3, "l2")
    np.testing.assert_allclose(np.asarray(d), d_ref, rtol=1e-4, atol=1e-3)
    assert (np.asarray(j) == j_ref).mean() > 0.99


def test_l2_normalize_is_differentiable_at_a_zero_row():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(np.asarray(knn.l2_normalize(x)), [[0.6, 0.8], [0.0, 0.0]])
    g = np.asarray(jax.grad(lambda x: knn.l2_normalize(x).sum())(jax.numpy.asarray(x)))
    assert np.isfinite(g).all(), g
    np.testing.assert_allclose(g[0], [0.2 - 7 * 3 / 125, 0.2 - 7 * 4 / 125], rtol=1e-5)  # 1/n - (x + y) x_i / n^3
