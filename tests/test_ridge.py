"""Ridge regression: parity with scikit-learn, CV choice equal to a brute-force refit loop for every route and both
engines (NumPy/SciPy on CPU, jitted JAX), the cost-model route choice, bad input."""

import threading
import time

import numpy as np
import pytest
import scipy.linalg as sl
from conftest import overlap_in_turn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from threadpoolctl import ThreadpoolController

from convcorr_jax.core.errors import InputError
from convcorr_jax.linear import ridge, ridge_kernels
from convcorr_jax.linear.cholesky import NotPositiveDefinite, solve_shifted


def _data(n, d, t, seed=0, noise=0.5, offset=2.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + offset * rng.normal(size=d)  # non-zero column means
    Wt = rng.normal(size=(d, t)) / np.sqrt(d)
    Y = X @ Wt + 1.5 + noise * rng.normal(size=(n, t))
    return X, Y


def _relerr(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-12)


def _brute_cv(X, Y, lambdas, folds):
    """CV MSE [L] by refitting scikit-learn Ridge for every (lambda, fold)."""
    n = X.shape[0]
    out = []
    for lam in lambdas:
        errs = []
        for val in folds:
            tr = np.setdiff1d(np.arange(n), val)
            pred = Ridge(alpha=lam).fit(X[tr], Y[tr]).predict(X[val])
            errs.append(np.mean((pred - Y[val]) ** 2))
        out.append(np.mean(errs))
    return np.array(out)


@pytest.mark.parametrize("n,d", [(80, 12), (25, 60)])  # primal (d <= n) and dual (n < d)
@pytest.mark.parametrize("lam", [1e-3, 0.7, 300.0])
def test_fit_matches_sklearn_float64(n, d, lam):
    X, Y = _data(n, d, 7)
    m = ridge.fit(X, Y, lam, dtype="float64")
    sk = Ridge(alpha=lam, fit_intercept=True).fit(X, Y)
    assert m.W.dtype == np.float64
    assert _relerr(m.W, sk.coef_.T) < 1e-5
    assert _relerr(m.b, sk.intercept_) < 1e-5
    assert _relerr(ridge.predict(m, X), sk.predict(X)) < 1e-5


@pytest.mark.parametrize("n,d", [(80, 12), (25, 60)])
def test_fit_matches_sklearn_float32(n, d):
    X, Y = _data(n, d, 3, seed=1)
    m = ridge.fit(X, Y, 0.5)
    sk = Ridge(alpha=0.5).fit(X, Y)
    assert m.W.dtype == np.float32
    assert _relerr(m.W, sk.coef_.T) < 1e-3


def test_closed_form_by_hand_and_intercept_is_mean_on_centred_x():
    X, Y = _data(30, 5, 2, seed=2)
    lam = 2.0
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    W = np.linalg.solve(Xc.T @ Xc + lam * np.eye(5), Xc.T @ Yc)
    m = ridge.fit(X, Y, lam, dtype="float64")
    np.testing.assert_allclose(m.W, W, rtol=1e-10)
    np.testing.assert_allclose(m.b, Y.mean(0) - X.mean(0) @ W, rtol=1e-10)
    mc = ridge.fit(Xc, Y, lam, dtype="float64")  # eq. 3: w0 = mean(y) when X is centred
    np.testing.assert_allclose(mc.b, Y.mean(0), rtol=1e-10)


def test_one_dimensional_target_and_per_target_lambda():
    X, Y = _data(40, 6, 3, seed=3)
    m1 = ridge.fit(X, Y[:, 1], 0.3, dtype="float64")
    assert m1.W.shape == (6,) and np.ndim(m1.b) == 0
    np.testing.assert_allclose(m1.W, Ridge(alpha=0.3).fit(X, Y[:, 1]).coef_, rtol=1e-8)
    lams = np.array([0.01, 1.0, 100.0])
    m = ridge.fit(X, Y, lams, dtype="float64")  # eigen path, one lambda per column
    for t in range(3):
        np.testing.assert_allclose(m.W[:, t], Ridge(alpha=lams[t]).fit(X, Y[:, t]).coef_, rtol=1e-8)


@pytest.mark.parametrize("n,d", [(64, 10), (32, 50)])
def test_cv_equals_brute_force_refit_loop(n, d):
    X, Y = _data(n, d, 4, seed=4, noise=1.0)
    lambdas = np.logspace(-2, 5, 11)
    folds = ridge.make_folds(n, 4, seed=1)
    best, err = ridge.cv_lambda(X, Y, lambdas, folds, dtype="float64")
    brute = _brute_cv(X, Y, lambdas, folds)
    np.testing.assert_allclose(err, brute, rtol=1e-8)
    assert best == lambdas[np.argmin(brute)]
    assert 0 < np.argmin(brute) < len(lambdas) - 1  # an interior optimum, so the choice is meaningful
    best32, err32 = ridge.cv_lambda(X, Y, lambdas, folds)
    np.testing.assert_allclose(err32, brute, rtol=1e-3)


def test_cv_matches_gridsearchcv_and_per_target():
    X, Y = _data(48, 8, 3, seed=5, noise=2.0)
    lambdas = np.logspace(-2, 3, 8)
    folds = ridge.make_folds(48, 4, seed=3)
    cv = [(np.setdiff1d(np.arange(48), v), v) for v in folds]
    gs = GridSearchCV(Ridge(), {"alpha": list(lambdas)}, cv=cv, scoring="neg_mean_squared_error").fit(X, Y)
    best, err = ridge.cv_lambda(X, Y, lambdas, folds, dtype="float64")
    assert best == gs.best_params_["alpha"]
    np.testing.assert_allclose(-err, gs.cv_results_["mean_test_score"], rtol=1e-8)
    bt, errt = ridge.cv_lambda(X, Y, lambdas, folds, per_target=True, dtype="float64")
    for t in range(3):
        assert bt[t] == lambdas[np.argmin(_brute_cv(X, Y[:, t], lambdas, folds))]
    model, res = ridge.fit_cv(X, Y, lambdas, folds, dtype="float64")
    np.testing.assert_allclose(model.W, Ridge(alpha=best).fit(X, Y).coef_.T, rtol=1e-8)
    # the CV errors come with the lambda grid they belong to and the choice
    np.testing.assert_array_equal(res.lambdas, lambdas)
    np.testing.assert_allclose(-res.errors, gs.cv_results_["mean_test_score"], rtol=1e-8)
    assert res.best == model.lam == lambdas[np.argmin(res.errors)]


def test_folds_seed_and_key():
    import jax

    f1 = ridge.make_folds(10, 4, seed=0)
    assert sorted(np.concatenate(f1).tolist()) == list(range(10)) and [len(f) for f in f1] == [3, 3, 2, 2]
    assert all(np.array_equal(a, b) for a, b in zip(f1, ridge.make_folds(10, 4, seed=0)))
    fk = ridge.make_folds(10, 4, key=jax.random.key(0))
    assert sorted(np.concatenate(fk).tolist()) == list(range(10))


def test_rank_deficient_and_n_less_than_d():
    rng = np.random.default_rng(6)
    B = rng.normal(size=(20, 3))
    X = np.concatenate([B, B, B @ rng.normal(size=(3, 4)), np.ones((20, 2))], axis=1)  # rank 3, 12 columns
    Y = rng.normal(size=(20, 2))
    m = ridge.fit(X, Y, 0.1, dtype="float64")
    assert _relerr(m.W, Ridge(alpha=0.1).fit(X, Y).coef_.T) < 1e-6
    np.testing.assert_allclose(m.W[-2:], 0.0, atol=1e-12)  # constant columns get no weight
    best, err = ridge.cv_lambda(X, Y, [0.1, 1.0], 4, dtype="float64")
    assert np.all(np.isfinite(err))


def test_constant_targets():
    X, _ = _data(30, 5, 1, seed=7)
    Y = np.full((30, 2), 4.0)
    m = ridge.fit(X, Y, 1.0, dtype="float64")
    np.testing.assert_allclose(m.W, 0.0, atol=1e-12)
    np.testing.assert_allclose(m.b, 4.0)
    best, err = ridge.cv_lambda(X, Y, [0.1, 1.0], 3, dtype="float64")
    np.testing.assert_allclose(err, 0.0, atol=1e-20)


@pytest.mark.parametrize(
    "case",
    ["nan_x", "inf_y", "rows", "x_rank", "lam_zero", "lam_neg", "lam_shape", "folds_big", "folds_bad_idx", "dtype",
     "method"],
)
def test_bad_input_raises_input_error(case):
    X, Y = _data(12, 3, 2)
    kw = {}
    fn = ridge.fit
    args = [X, Y, 1.0]
    if case == "nan_x":
        X[3, 1] = np.nan
    elif case == "inf_y":
        Y[0, 0] = np.inf
    elif case == "rows":
        args[1] = Y[:-1]
    elif case == "x_rank":
        args[0] = X[None]
    elif case == "lam_zero":
        args[2] = 0.0
    elif case == "lam_neg":
        args[2] = [-1.0, 1.0]
    elif case == "lam_shape":
        args[2] = [1.0, 2.0, 3.0]
    elif case == "folds_big":
        fn, args, kw = ridge.cv_lambda, [X, Y, [1.0]], {"folds": 13}
    elif case == "folds_bad_idx":
        fn, args, kw = ridge.cv_lambda, [X, Y, [1.0]], {"folds": [np.arange(3), np.array([11, 12])]}
    elif case == "dtype":
        kw = {"dtype": "float16"}
    elif case == "method":
        fn, args, kw = ridge.fit_cv, [X, Y, [1.0]], {"method": "qr"}
    with pytest.raises(InputError) as info:
        fn(*args, **kw)
    if case in ("nan_x", "inf_y"):  # the function and the argument, not "X: field 'values'" (read as a file X)
        assert str(info.value).startswith(f"ridge: field '{'X' if case == 'nan_x' else 'Y'}': expected finite")


ROUTES = ("eig", "chol", "dual", "dual-chol")


def _check_all_routes(X, Y, lambdas, folds):
    """Every route: CV errors equal to the brute-force refit loop and GridSearchCV, same choice, refit equal to
    Ridge."""
    n = X.shape[0]
    brute = _brute_cv(X, Y, lambdas, folds)
    cv = [(np.setdiff1d(np.arange(n), v), v) for v in folds]
    gs = GridSearchCV(Ridge(), {"alpha": list(lambdas)}, cv=cv, scoring="neg_mean_squared_error").fit(X, Y)
    per_t = np.array([[np.mean([np.mean((Ridge(alpha=lam).fit(X[tr], Y[tr, t]).predict(X[v]) - Y[v, t]) ** 2)
                                for tr, v in cv]) for t in range(Y.shape[1])] for lam in lambdas])
    for route in ROUTES:
        model, res = ridge.fit_cv(X, Y, lambdas, folds, dtype="float64", method=route)
        assert _relerr(res.errors, brute) < 1e-5, route
        assert res.best == gs.best_params_["alpha"] == lambdas[np.argmin(brute)], route
        sk = Ridge(alpha=float(res.best)).fit(X, Y)
        assert _relerr(model.W, sk.coef_.T) < 1e-5 and _relerr(model.b, sk.intercept_) < 1e-5, route
        assert _relerr(ridge.predict(model, X), sk.predict(X)) < 1e-5, route
        bt, errt = ridge.cv_lambda(X, Y, lambdas, folds, per_target=True, dtype="float64", method=route)
        assert _relerr(errt, per_t) < 1e-5, route
        np.testing.assert_array_equal(bt, lambdas[np.argmin(per_t, axis=0)])
        mt, _ = ridge.fit_cv(X, Y, lambdas, folds, per_target=True, dtype="float64", method=route)
        for t in range(Y.shape[1]):
            assert _relerr(mt.W[:, t], Ridge(alpha=bt[t]).fit(X, Y[:, t]).coef_) < 1e-5, route


@pytest.mark.parametrize("n,d", [(60, 14), (28, 45)])  # training folds larger / smaller than d
def test_every_route_matches_sklearn_float64(n, d):
    X, Y = _data(n, d, 3, seed=8, noise=1.5)
    _check_all_routes(X, Y, np.logspace(-2, 4, 7), ridge.make_folds(n, 4, seed=2))


@pytest.mark.parametrize("n,d", [(60, 14), (28, 45)])
def test_every_route_on_the_jax_engine(n, d, monkeypatch):
    """The accelerator engine (jitted JAX), forced on the CPU backend, gives the same results."""
    monkeypatch.setattr(ridge, "_use_xla", lambda: True)
    X, Y = _data(n, d, 3, seed=9, noise=1.5)
    _check_all_routes(X, Y, np.logspace(-2, 4, 7), ridge.make_folds(n, 4, seed=2))
    m = ridge.fit(X, Y[:, 0], 0.3, dtype="float64")
    assert _relerr(m.W, Ridge(alpha=0.3).fit(X, Y[:, 0]).coef_) < 1e-8


def test_non_partition_folds_use_the_downdate():
    X, Y = _data(40, 6, 2, seed=10, noise=1.0)
    folds = [np.arange(0, 10), np.arange(5, 20), np.arange(30, 38)]  # overlapping, rows 20-29 never validated
    lambdas = np.logspace(-1, 3, 5)
    brute = _brute_cv(X, Y, lambdas, folds)
    for route in ROUTES:
        np.testing.assert_allclose(ridge.cv_errors(X, Y, lambdas, folds, dtype="float64", method=route).mean(1),
                                   brute, rtol=1e-8)


def test_cholesky_breakdown_falls_back_to_eigen(monkeypatch):
    X, Y = _data(50, 8, 2, seed=11)
    lambdas = np.logspace(-2, 2, 5)
    ref = ridge.cv_errors(X, Y, lambdas, 4, dtype="float64", method="eig")

    def broken(*a, **k):
        raise NotPositiveDefinite("leading minor of order 1 is not positive")

    monkeypatch.setattr(ridge_kernels, "solve_shifted", broken)
    np.testing.assert_allclose(ridge.cv_errors(X, Y, lambdas, 4, dtype="float64", method="chol"), ref, rtol=1e-10)
    m = ridge.fit(X, Y, 0.5, dtype="float64")
    assert _relerr(m.W, Ridge(alpha=0.5).fit(X, Y).coef_.T) < 1e-8


@pytest.mark.parametrize("n,d,t,L,expected", [
    (8000, 4096, 136, 8, "chol"),  # bench case A: 8 Choleskys per fold cost less than one eigh
    (8000, 4096, 136, 40, "eig"),  # long grid: one eigh per fold
    (2000, 1024, 18900, 8, "eig"),  # many targets: per-lambda solves with 18,900 right-hand sides dominate
    (400, 20000, 10, 8, "dual-chol"),  # n << d: the 300 x 300 training kernels
    (400, 20000, 10, 60, "dual"),
])
def test_auto_route_follows_the_cost_model(n, d, t, L, expected):
    sizes = [len(f) for f in np.array_split(np.arange(n), 4)]
    assert ridge.choose_route(n, d, t, L, sizes) == expected
    cost = ridge.route_costs(n, d, t, L, sizes)
    assert min(cost, key=cost.get) == expected
    assert ridge.choose_route(n, d, t, L, sizes, method="eig") == "eig"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_solve_shifted_is_scipy_cho_solve_bit_for_bit(dtype):
    """The GIL-free potrf/potrs equals scipy's cho_factor + cho_solve on a symmetric matrix, whatever its memory order,
    and solves the shifted system."""
    rng = np.random.default_rng(12)
    Z = rng.normal(size=(90, 70)).astype(dtype)
    S, B = Z.T @ Z, rng.normal(size=(70, 5)).astype(dtype)
    assert np.array_equal(S, S.T)
    A = S + 0.3 * np.eye(70, dtype=dtype)
    ref = sl.cho_solve(sl.cho_factor(A, lower=True), B)
    for M in (S, np.asfortranarray(S), S.copy()[::1, ::1]):
        X = solve_shifted(M, 0.3, B)
        assert X.dtype == np.dtype(dtype) and np.array_equal(X, ref)
    tol = 1e-4 if dtype == "float32" else 1e-10
    assert _relerr(solve_shifted(S, 0.3, B), np.linalg.solve(A.astype(np.float64), B)) < tol
    assert solve_shifted(S, 0.3, B[:, :0]).shape == (70, 0)
    assert np.array_equal(S, Z.T @ Z)  # the input is not overwritten


def test_solve_shifted_reports_breakdown_and_bad_arguments():
    with pytest.raises(NotPositiveDefinite, match="order 2"):
        solve_shifted(np.ones((3, 3)), 0.0, np.ones((3, 1)))  # rank one: the second pivot is 0
    with pytest.raises(TypeError, match="one float dtype"):
        solve_shifted(np.eye(3), 1.0, np.ones((3, 1), np.float32))
    with pytest.raises(TypeError, match=r"\[r, r\]"):
        solve_shifted(np.ones((3, 2)), 1.0, np.ones((3, 1)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threaded_cholesky_cv_equals_one_thread(dtype, monkeypatch):
    """The (fold, lambda) tasks on a pool give the errors of the same folds solved one after another, bit for bit, with
    a pool smaller than, equal to and larger than the number of folds; and match the eigen route."""
    X, Y = _data(120, 30, 4, seed=13, noise=1.0)
    lambdas, folds = np.logspace(-2, 3, 6), ridge.make_folds(120, 5, seed=3)
    monkeypatch.setattr(ridge_kernels, "_cores", lambda: 1)
    one = ridge.cv_errors(X, Y, lambdas, folds, dtype=dtype, method="chol")
    for cores in (2, 5, 64):
        monkeypatch.setattr(ridge_kernels, "_cores", lambda c=cores: c)
        assert np.array_equal(ridge.cv_errors(X, Y, lambdas, folds, dtype=dtype, method="chol"), one), cores
    eig = ridge.cv_errors(X, Y, lambdas, folds, dtype=dtype, method="eig")
    assert _relerr(one, eig) < (1e-4 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("n,d", [(60, 14), (28, 45)])  # the primal and the dual system
def test_per_target_fit_by_one_cholesky_per_distinct_lambda(n, d, monkeypatch):
    """Per-target lambdas with few distinct values are solved by one Cholesky per value (on a pool), equal to the
    eigen route and to scikit-learn per column; with 12 or more distinct values the eigen route is taken."""
    X, Y = _data(n, d, 7, seed=14, noise=1.0)
    lam = np.array([0.3, 2.0, 0.3, 50.0, 2.0, 0.3, 7.0])
    calls = []
    real = ridge_kernels.solve_shifted
    monkeypatch.setattr(ridge_kernels, "solve_shifted", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    m = ridge.fit(X, Y, lam, dtype="float64")
    assert sorted(calls) == [0.3, 2.0, 7.0, 50.0]
    for t in range(Y.shape[1]):
        sk = Ridge(alpha=lam[t]).fit(X, Y[:, t])
        assert _relerr(m.W[:, t], sk.coef_) < 1e-8 and abs(m.b[t] - sk.intercept_) < 1e-8 * max(1, abs(sk.intercept_))
    eig = ridge_kernels._eig_solve(X.T @ X, X.T @ Y, lam, False)  # the eigen route on the same system, uncentred
    assert _relerr(ridge_kernels.shifted_solve(X.T @ X, X.T @ Y, lam), eig) < 1e-9
    calls.clear()
    many = np.linspace(0.5, 6.0, 12)
    Y12 = np.repeat(Y, 2, axis=1)[:, :12]
    m12 = ridge.fit(X, Y12, many, dtype="float64")
    assert calls == []
    for t in (0, 11):
        assert _relerr(m12.W[:, t], Ridge(alpha=many[t]).fit(X, Y12[:, t]).coef_) < 1e-8


def test_pool_size_follows_cores_tasks_and_free_memory(monkeypatch):
    """One thread per core, no more than the tasks, and no more buffers than a quarter of the free memory holds."""
    monkeypatch.setattr(ridge_kernels, "_cores", lambda: 16)
    monkeypatch.setattr(ridge_kernels, "_free_memory", lambda: 8 << 30)
    assert ridge_kernels._threads(32, 64 << 20) == 16  # d = 4,096 float32: 16 buffers of 64 MiB
    assert ridge_kernels._threads(3, 64 << 20) == 3
    assert ridge_kernels._threads(32, 1 << 30) == 2  # d = 16,384 float32: 1 GiB each, 2 GiB allowed
    assert ridge_kernels._threads(32, 64 << 30) == 1
    monkeypatch.setattr(ridge_kernels, "_free_memory", lambda: 0)
    X, Y = _data(60, 14, 3, seed=15, noise=1.0)  # a pool of one thread gives the same errors
    lambdas = np.logspace(-2, 2, 4)
    np.testing.assert_allclose(ridge.cv_errors(X, Y, lambdas, 4, dtype="float64", method="chol"),
                               ridge.cv_errors(X, Y, lambdas, 4, dtype="float64", method="eig"), rtol=1e-9)


def test_an_error_in_a_fold_cancels_the_queued_factorisations(monkeypatch):
    """A failing fold preparation surfaces as itself, and the factorisations still queued are dropped, not run
    (each solve sleeps 20 ms, so run to the end the other folds' 18 would all happen)."""
    X, Y = _data(80, 10, 2, seed=16, noise=1.0)
    calls = []
    real = ridge_kernels.solve_shifted

    def slow(*a, **k):
        calls.append(1)
        time.sleep(0.02)
        return real(*a, **k)

    monkeypatch.setattr(ridge_kernels, "_cores", lambda: 1)
    monkeypatch.setattr(ridge_kernels, "solve_shifted", slow)
    prep = ridge_kernels.prep_primal
    seen = []

    def failing(*a, **k):  # the second fold's preparation fails, the others work
        seen.append(1)
        if len(seen) == 2:
            raise MemoryError("fold 1")
        return prep(*a, **k)

    monkeypatch.setattr(ridge, "prep_primal", failing)
    with pytest.raises(MemoryError, match="fold 1"):
        ridge.cv_errors(X, Y, np.logspace(-2, 2, 6), 4, dtype="float64", method="chol")
    assert 6 <= len(calls) < 18


@pytest.mark.parametrize("folds", [[np.array([0, 1]), np.array([2, 3])],  # rows 4.. in no fold
                                   [np.arange(0, 6), np.arange(4, 9)]])  # rows 4, 5 in both
def test_cross_val_predict_needs_folds_that_partition_the_rows(folds):
    """Rows outside every explicit fold used to come back as 0 predictions."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(9, 2)), rng.normal(size=9)
    with pytest.raises(InputError, match="folds"):
        ridge.cross_val_predict(X, Y, 1.0, folds=folds)
    out = ridge.cross_val_predict(X, Y, 1.0, folds=[np.arange(0, 4), np.arange(4, 9)], dtype="float64")
    expect = ridge.predict(ridge.fit(X[4:], Y[4:], 1.0, "float64"), X[:4])
    np.testing.assert_allclose(out[:4], expect)


def _weak_signal(seed=0, n=200, d=10, t=6):
    """Noise 1, weights ~0.03: the CV's best lambda is ~1e3, above a grid that stops at 1e2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ (0.03 * rng.normal(size=(d, t))) + rng.normal(size=(n, t))


def test_fit_cv_reports_the_grid_edge_and_extends_the_top_until_the_choice_is_interior():
    X, Y = _weak_signal()
    grid = np.logspace(-2, 2, 9)  # half-decade steps up to 1e2
    _, cv = ridge.fit_cv(X, Y, grid, dtype="float64")
    assert float(cv.best) == 100.0 and str(cv.edge) == "high" and cv.lambdas.size == 9
    model, cv = ridge.fit_cv(X, Y, grid, dtype="float64", extend_top=8)  # up to 1e6
    np.testing.assert_allclose(cv.lambdas[9:], np.logspace(2.5, 6, 8), rtol=1e-12)
    assert 100.0 < float(cv.best) < 1e6 and str(cv.edge) == "" and cv.errors.shape == (17,)
    assert float(cv.best) == cv.lambdas[np.argmin(cv.errors)]
    ref = ridge.fit(X, Y, float(cv.best), dtype="float64")  # the model is refitted with the extended choice
    np.testing.assert_allclose(model.W, ref.W, rtol=1e-8, atol=1e-12)
    # the bottom edge is reported too (nothing is added below it)
    Xs, Ys = _data(60, 4, 2, seed=5, noise=1e-3)
    _, cv = ridge.fit_cv(Xs, Ys, np.logspace(0, 2, 5), dtype="float64", extend_top=4)
    assert float(cv.best) == 1.0 and str(cv.edge) == "low" and cv.lambdas.size == 5


def test_fit_cv_extension_leaves_interior_choices_alone():
    X, Y = _data(80, 6, 3, seed=4)  # strong signal: the best lambda is well inside the grid
    grid = np.logspace(-3, 3, 13)
    m0, cv0 = ridge.fit_cv(X, Y, grid, dtype="float64")
    m1, cv1 = ridge.fit_cv(X, Y, grid, dtype="float64", extend_top=6)
    assert str(cv0.edge) == "" and float(cv0.best) == float(cv1.best) and cv1.lambdas.size == 13
    np.testing.assert_array_equal(m0.W, m1.W)
    # per target: only the targets whose best was the top may move
    Xw, Yw = _weak_signal(seed=1, t=3)
    Ymix = np.concatenate([Yw, Xw @ np.ones((10, 1)) + 0.1 * np.random.default_rng(2).normal(size=(200, 1))], 1)
    grid = np.logspace(-2, 2, 9)
    _, p0 = ridge.fit_cv(Xw, Ymix, grid, per_target=True, dtype="float64")
    _, p1 = ridge.fit_cv(Xw, Ymix, grid, per_target=True, dtype="float64", extend_top=8)
    inside = p0.best < 100.0
    assert inside[-1] and not inside.all()
    np.testing.assert_array_equal(p1.best[inside], p0.best[inside])
    assert np.all(p1.best[~inside] >= 100.0) and p1.edge.shape == (4,)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_fit_cv_rejects_a_bad_extend_top(bad):
    X, Y = _data(20, 3, 1)
    with pytest.raises(InputError, match="extend_top"):
        ridge.fit_cv(X, Y, extend_top=bad)


def test_fit_points_records_the_edge_of_its_lambda():
    from convcorr_jax.regression import landmarks

    X, Y = _weak_signal(t=4)
    P = Y.reshape(200, 2, 2)
    grid = np.logspace(-2, 2, 9)
    assert list(landmarks.fit_points(X, P, None, grid).edge) == ["high", "high"]
    m = landmarks.fit_points(X, P, None, grid, extend_top=8)
    assert list(m.edge) == ["", ""] and 100.0 < m.lam[0] < 1e6


@pytest.mark.parametrize("method", ["eig", "chol", "dual", "dual-chol"])
@pytest.mark.parametrize("scale, field", [(1e17, "X, Y"), (1e20, "X")])
def test_cv_refuses_errors_or_a_gram_that_overflowed(method, scale, field):
    """float32 features of 1e20 overflow the Gram / kernel (an eigen-decomposition failed with LinAlgError, or the CV
    errors came out NaN and the first lambda was chosen, edge "low"); of 1e17 the squared errors overflow."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 30)) * scale, rng.normal(size=(10, 2))
    with pytest.raises(InputError, match=rf"field '{field}': .* not finite: float32 overflowed .*dtype='float64'"):
        ridge.fit_cv(X, Y, method=method)
    with pytest.raises(InputError, match="not finite: float32 overflowed"):
        ridge.cv_errors(X, Y, method=method)


def test_cv_refuses_targets_whose_errors_overflow_and_float64_takes_them():
    X, Y = _data(40, 3, 2)
    with pytest.raises(InputError, match=r"field 'X, Y': the CV errors of 15 of 15 lambdas are not finite"):
        ridge.cv_lambda(X, Y * 1e20)
    _, cv = ridge.fit_cv(X, Y * 1e20, dtype="float64")
    assert np.all(np.isfinite(cv.errors))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_cv_refuses_non_finite_input_up_front(bad):
    X, Y = _data(20, 3, 1)
    X[3, 1] = bad
    with pytest.raises(InputError, match="field 'X': expected finite numbers"):
        ridge.fit_cv(X, Y)


def _wide(scale):
    """Features of `scale` as (primal X [40, 3], dual X [5, 30]) and targets [40, 2], float32."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(40, 3)) * scale).astype("float32")
    return X, (rng.normal(size=(5, 30)) * scale).astype("float32"), rng.normal(size=(40, 2)).astype("float32")


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the InputError alone, no numpy overflow warning
@pytest.mark.parametrize("xla", [False, True])
@pytest.mark.parametrize("route, kind", [("primal", "Gram X\\^T X"), ("dual", "kernel X X\\^T"),
                                         ("per-target", "Gram X\\^T X"), ("cross_val_predict", "Gram X\\^T X")])
def test_fit_refuses_a_gram_or_kernel_that_overflowed(route, kind, xla, monkeypatch):
    """float32 features of 1e20 overflow the Gram / kernel, whose solve returned W = 0 (b = mean(Y)) silently."""
    monkeypatch.setattr(ridge, "_use_xla", lambda: xla)
    Xp, Xd, Y = _wide(1e20)
    call = {"primal": lambda dt: ridge.fit(Xp, Y, 1.0, dt), "dual": lambda dt: ridge.fit(Xd, Y[:5], 1.0, dt),
            "per-target": lambda dt: ridge.fit(Xp, Y, [1.0, 2.0], dt),
            "cross_val_predict": lambda dt: ridge.cross_val_predict(Xp, Y, 1.0, dtype=dt)}[route]
    with pytest.raises(InputError, match=rf"^ridge: field 'X': the {kind} of the centred X is not finite: float32 "
                                         r"overflowed \(largest \|X\| .*e\+20\); rescale X, or use dtype='float64'$"):
        call("float32")
    out = call("float64")
    out = out if route == "cross_val_predict" else out.W
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 0


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("engine", ["fit_numpy", "fit_jax"])
def test_the_engines_refuse_a_gram_that_overflowed(engine):
    Xp, Xd, Y = _wide(1e20)
    fit = getattr(ridge_kernels, engine)
    for X, Yr, kind in ((Xp, Y, "Gram"), (Xd, Y[:5], "kernel")):
        with pytest.raises(InputError, match=f"field 'X': the {kind} .* not finite: float32 overflowed"):
            fit(X, Yr, np.float32(1.0))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("xla", [False, True])
def test_fit_refuses_weights_that_overflowed(xla, monkeypatch):
    """Small features and large targets: a finite Gram, weights beyond float32 (-inf before)."""
    monkeypatch.setattr(ridge, "_use_xla", lambda: xla)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 3)) * 1e-4, rng.normal(size=(40, 2)) * 1e36
    with pytest.raises(InputError, match=r"field 'X, Y': the ridge weights W, b are not finite: float32 overflowed "
                                         r"\(largest \|X\| .*, \|Y\| .*e\+36\); rescale X and Y, or use"):
        ridge.fit(X, Y, 1e-9)
    m = ridge.fit(X, Y, 1e-9, dtype="float64")
    assert np.all(np.isfinite(m.W)) and np.abs(m.W).max() > 3.4e38  # beyond float32


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("method", ["eig", "chol", "dual", "dual-chol"])
def test_cv_overflow_is_the_input_error_alone(method):
    rng = np.random.default_rng(0)
    for scale in (1e17, 1e20):
        with pytest.raises(InputError, match="not finite: float32 overflowed"):
            ridge.fit_cv(rng.normal(size=(10, 30)) * scale, rng.normal(size=(10, 2)), method=method)


@pytest.mark.parametrize("n,folds", [(2, 2), (3, 2)])
def test_a_fold_count_leaving_one_training_row_is_an_input_error(n, folds):
    """2 folds of 3 rows train one fold on a single row (every lambda then predicts its mean, the CV errors tie and
    the smallest lambda won, silently): refused like explicit folds that leave fewer than 2 training rows."""
    X, Y = _data(n, 3, 2)
    for fn in (ridge.cv_errors, ridge.fit_cv, ridge.cv_lambda):
        with pytest.raises(InputError, match="ridge: field 'folds': .*at least 2 training rows"):
            fn(X, Y, [0.1, 1.0], folds)
    with pytest.raises(InputError, match="field 'folds'"):
        ridge.cross_val_predict(X, Y, 0.1, folds)
    with pytest.raises(InputError, match="ridge: field 'folds': expected an int in \\[2"):
        ridge.fit_cv(X, Y, [0.1, 1.0], 4.0)


def test_three_rows_in_three_folds_still_cross_validate():
    X, Y = _data(3, 3, 2)
    assert ridge.cv_errors(X, Y, [0.1, 1.0], 3).shape == (2, 2)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_predict_refuses_what_the_fits_refuse():
    """predict returned NaN rows for NaN features, inf (or NaN) predictions for finite float32 features beyond the
    model's range, and dropped the imaginary part of complex features with only a warning (so did fit): one
    InputError each, as the fits give for their own inputs and overflows."""
    X, Y = _data(20, 3, 2)
    m = ridge.fit(X, Y * 1e30, 0.1)  # float32 weights of about 1e30
    bad = X[:2].copy()
    bad[1, 2] = np.nan
    with pytest.raises(InputError, match="ridge.predict: field 'X': expected finite numbers.*1 non-finite"):
        ridge.predict(m, bad)
    with pytest.raises(InputError, match="ridge.predict: field 'X': .*fit float32.*predictions that overflowed"):
        ridge.predict(m, np.full((2, 3), 3e38, np.float32))
    with pytest.raises(InputError, match="ridge.predict: field 'X': expected a int or float or bool array"):
        ridge.predict(m, X[:2] + 1j)
    with pytest.raises(InputError, match="ridge: field 'X': expected a int or float or bool array"):
        ridge.fit(X + 1j, Y, 0.1)
    assert np.all(np.isfinite(ridge.predict(m, X[:2] * 1e10)))  # float64 features: promoted, no overflow
    assert ridge.predict(m, X[:0]).shape == (0, 2)



def test_fits_that_overlap_in_two_threads_give_the_blas_threads_back(monkeypatch):
    """Two fits in two threads, the second entering its one-BLAS-thread step while the first is in it and leaving it
    after the first has returned (its thread still alive): the process's BLAS thread count is the one found before,
    not the 1 the first set (each fit putting back what it found, or threadpoolctl ignoring a thread other than the
    one that set the count), and both fits are right."""
    blas_threads = lambda: {i["num_threads"] for i in ThreadpoolController().select(user_api="blas").info()}
    before = blas_threads()
    if before == {1}:
        pytest.skip("BLAS runs on one thread already: nothing to put back")
    X, Y = _data(40, 6, 2, seed=21)
    first_in, second_in, first_out, done = (threading.Event() for _ in range(4))
    real, models = ridge_kernels.solve_shifted, {}

    def gated(*a, **k):
        overlap_in_turn(threads, first_in, second_in, first_out)
        return real(*a, **k)

    def first():
        models[0] = ridge.fit(X, Y, 0.5, dtype="float64")
        first_out.set()
        done.wait(10)  # alive until the second has left

    monkeypatch.setattr(ridge_kernels, "solve_shifted", gated)
    threads = [threading.Thread(target=first),
               threading.Thread(target=lambda: models.update({1: ridge.fit(X, Y, 0.5, dtype="float64")}))]
    threads[0].start()
    assert first_in.wait(10)
    threads[1].start()
    threads[1].join(20)
    after = blas_threads()
    done.set()
    threads[0].join(10)
    assert after == before
    sk = Ridge(alpha=0.5).fit(X, Y)
    assert all(_relerr(models[i].W, sk.coef_.T) < 1e-8 for i in range(2))
