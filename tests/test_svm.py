"""Batched JAX linear SVMs against scikit-learn's LinearSVC (LIBLINEAR), masks, CV and hard-negative mining."""


import jax
import numpy as np
import pytest
from sklearn.svm import LinearSVC

from convcorr_jax.core.errors import InputError
from convcorr_jax.linear import svm


def _blobs(n=600, d=20, k=4, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 1.5
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.normal(size=(n, d))) * scale
    return X.astype(np.float32), y


@pytest.mark.parametrize("C", [1e-4, 1e-2])
def test_newton_squared_hinge_matches_linearsvc(C):
    X, y = _blobs()
    Xtr, ytr, Xte, yte = X[:450], y[:450], X[450:], y[450:]
    ours = svm.fit_ova(Xtr, ytr, C=C, tol=1e-6)
    ref = LinearSVC(C=C, tol=1e-6, max_iter=100000).fit(Xtr, ytr)
    # same objective, same (regularised) bias convention: the solutions agree, so do the accuracies
    np.testing.assert_allclose(ours.W, ref.coef_, atol=2e-3 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(ours.b, ref.intercept_, atol=2e-3 * max(np.abs(ref.intercept_).max(), 1e-3))
    acc, acc_ref = (ours.predict(Xte) == yte).mean(), (ref.predict(Xte) == yte).mean()
    assert abs(acc - acc_ref) <= 0.01


def test_bias_scale_is_linearsvcs_intercept_scaling():
    """The bias is the weight of a constant feature `bias_scale` (5 here), returned multiplied by it: LinearSVC's
    intercept_ with intercept_scaling=5, and scores X @ W.T + b."""
    X, y = _blobs(n=300, d=8, seed=2)
    ours = svm.fit_ova(X, y, C=1e-2, tol=1e-6, bias_scale=5.0)
    ref = LinearSVC(C=1e-2, tol=1e-6, intercept_scaling=5.0, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(ours.W, ref.coef_, atol=2e-3 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(ours.b, ref.intercept_, atol=2e-3 * np.abs(ref.intercept_).max())


def test_dcd_hinge_matches_linearsvc():
    X, y = _blobs(n=400, d=10, seed=1, scale=1.0)
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
    C = 1e-2
    ours = svm.fit_ova(Xtr, ytr, C=C, loss="hinge", tol=1e-4, max_iter=2000)
    ref = LinearSVC(C=C, loss="hinge", tol=1e-6, max_iter=100000).fit(Xtr, ytr)
    np.testing.assert_allclose(ours.W, ref.coef_, atol=2e-2 * np.abs(ref.coef_).max())
    assert abs((ours.predict(Xte) == yte).mean() - (ref.predict(Xte) == yte).mean()) <= 0.01
    # DCD on the squared hinge converges to the Newton solution
    a = svm.fit_ova(Xtr, ytr, C=C, solver="dcd", tol=1e-5, max_iter=2000)
    b = svm.fit_ova(Xtr, ytr, C=C)
    np.testing.assert_allclose(a.W, b.W, atol=5e-3 * np.abs(b.W).max())


def test_mask_equals_training_on_the_subset():
    X, y = _blobs(n=200, seed=2)
    yb = np.where(y == 1, 1.0, -1.0)
    keep = np.random.default_rng(0).random(200) < 0.6
    masked = svm.fit_binary(X, np.stack([yb, yb]), C=np.array([1e-3, 1e-1]), mask=np.stack([keep, keep]))
    for j, C in enumerate([1e-3, 1e-1]):
        sub = svm.fit_binary(X[keep], yb[keep], C=C)
        np.testing.assert_allclose(masked.W[j], sub.W[0], rtol=1e-3, atol=1e-5)


def test_cross_validation_prefers_a_sensible_C_and_matches_manual_folds():
    X, y = _blobs(n=300, d=10, seed=3, scale=1.0)
    Cs = [1e-6, 1e-3, 1e-1]
    cv = svm.cross_validate(X, y, Cs, n_folds=5)
    assert cv["accuracy"].shape == (3,) and cv["fold_accuracy"].shape == (3, 5)
    # best_C is a float of the float32 grid: compared with 1e-6 itself it always differed
    assert cv["best_C"] == float(cv["C"][np.argmax(cv["accuracy"])]) != pytest.approx(1e-6)
    assert cv["accuracy"][0] < cv["accuracy"].max()
    import jax

    fold = svm._stratified_folds(y, 5, jax.random.PRNGKey(0))
    f = 2
    m = svm.fit_ova(X[fold != f], y[fold != f], C=1e-3)
    assert cv["fold_accuracy"][1, f] == pytest.approx((m.predict(X[fold == f]) == y[fold == f]).mean(), abs=1e-6)


def test_stratified_folds_balance_the_folds_and_each_class():
    """Dealt round-robin across the classes: three classes of 3 into 2 folds give folds of 5 and 4 (dealing each class
    from fold 0 gave 6 and 3), each class 2 and 1."""
    labels = np.repeat([0, 1, 2], 3)
    fold = svm._stratified_folds(labels, 2, jax.random.PRNGKey(0))
    assert sorted(np.bincount(fold, minlength=2).tolist()) == [4, 5]
    for c in range(3):
        assert sorted(np.bincount(fold[labels == c], minlength=2).tolist()) == [1, 2]


def test_cv_too_few_samples_falls_back_or_raises():
    X, y = _blobs(n=40, d=5, seed=4)
    y = y.copy()
    y[:3] = 9  # class 9 has >= 3 samples (maybe more): fewer folds with a warning
    y[y == 9] = 0
    y[:3] = 9
    with pytest.warns(UserWarning, match="3-fold"):
        cv = svm.cross_validate(X, y, [1e-3], n_folds=5)
    assert cv["n_folds"] == 3
    y[1:3] = 0
    with pytest.raises(InputError, match="at least 2 samples"):
        svm.cross_validate(X, y, [1e-3], n_folds=5)


def test_hard_negative_mining_converges_to_the_full_solution():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 8)).astype(np.float32)
    w_true = rng.normal(size=(2, 8))
    s = X @ w_true.T
    pos = (s > 2.0).T
    neg = (s < 1.0).T
    model, info = svm.mine_hard_negatives(X, pos, neg, C=1e-2, initial_negatives=100, max_rounds=20)
    assert info["new_hard_negatives"][-1] == 0 and info["rounds"] >= 2
    assert np.all(info["negatives_used"] < neg.sum(1))
    Y = np.where(pos, 1.0, -1.0)
    full = svm.fit_binary(X, Y, C=1e-2, mask=(pos | neg))
    np.testing.assert_allclose(model.W, full.W, rtol=2e-3, atol=2e-3 * np.abs(full.W).max())


def test_mining_under_a_cap_adds_the_highest_scoring_hard_negatives():
    """Round 0 on the positives alone (initial_negatives=0), then the 10 hard negatives of highest round-0 score (the
    cap): the model equals a fit on exactly those."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    s = X @ np.array([1.0, -0.5, 0.3, 0.8])
    pos, neg = (s > 1.0)[None], (s < 0.5)[None]
    model, info = svm.mine_hard_negatives(X, pos, neg, C=1e-1, initial_negatives=0, max_rounds=1, max_negatives=10)
    Y = np.where(pos, 1.0, -1.0)
    scores = svm.fit_binary(X, Y, C=1e-1, mask=pos).decision_function(X)[:, 0]
    hard = np.flatnonzero(neg[0] & (scores > -1.0))
    assert hard.size > 10 and info["negatives_used"].tolist() == [10]
    work = np.zeros((1, 400), bool)
    work[0, hard[np.argsort(-scores[hard], kind="stable")[:10]]] = True
    np.testing.assert_allclose(model.W, svm.fit_binary(X, Y, C=1e-1, mask=pos | work).W, rtol=1e-5, atol=1e-6)


def test_bad_input():
    X, y = _blobs(n=20, d=3)
    with pytest.raises(InputError, match="labels"):
        svm.fit_ova(X, np.zeros(20))
    with pytest.raises(InputError, match="C"):
        svm.fit_ova(X, y, C=0.0)
    with pytest.raises(InputError, match="Y"):
        svm.fit_binary(X, np.zeros(20))
    with pytest.raises(InputError, match="hinge"):
        svm.fit_ova(X, y, loss="hinge", solver="newton")
    with pytest.raises(InputError, match="positive"):
        svm.mine_hard_negatives(X, np.zeros((1, 20), bool), np.ones((1, 20), bool))


def test_mismatched_C_mask_and_empty_Cs_raise_one_line():
    """A C per problem or a mask of the wrong length, or no C to cross-validate, used to end in numpy's broadcast /
    empty-argmax ValueError; now one InputError naming the argument."""
    X, y = _blobs(n=20, d=3)
    yb = np.where(y == 1, 1.0, -1.0)
    with pytest.raises(InputError, match=r"field 'C'.*one C per problem"):
        svm.fit_ova(X, y, C=[1e-3, 1e-2])  # 4 classes
    with pytest.raises(InputError, match=r"field 'mask'"):
        svm.fit_binary(X, np.stack([yb, yb]), mask=np.ones((3, 20)))
    with pytest.raises(InputError, match=r"field 'mask'"):
        svm.fit_binary(X, yb, mask=np.ones(19))
    with pytest.raises(InputError, match=r"field 'Cs'.*at least one C"):
        svm.cross_validate(X, y, [])
    one = svm.fit_binary(X, np.stack([yb, yb]), C=np.array([1e-3, 1e-1]), mask=np.ones(20))  # [N] mask: for all
    np.testing.assert_allclose(one.W[1], svm.fit_binary(X, yb, C=1e-1).W[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("field,kwargs", [("X", {"nan": True}), ("C", {"C": np.inf}), ("C", {"C": np.nan})])
def test_non_finite_input_raises(field, kwargs):
    """A NaN feature or an infinite C used to give all-zero weights without a word."""
    X, y = _blobs(n=20, d=3)
    X = np.array(X, np.float32)
    if kwargs.pop("nan", False):
        X[0, 0] = np.nan
    with pytest.raises(InputError, match=field):
        svm.fit_ova(X, y, **kwargs)


@pytest.mark.parametrize("field,kwargs", [("mask", {"mask": 2}), ("mask", {"mask": -1}),
                                          ("bias_scale", {"bias_scale": np.nan}), ("max_iter", {"max_iter": 0}),
                                          ("max_iter", {"max_iter": 2.5})])
def test_fit_binary_refuses_a_mask_bias_scale_or_max_iter_out_of_range(field, kwargs):
    """A bias_scale of NaN gave all-zero weights, max_iter=0 ran the default, a mask of 2 weighted samples twice:
    each without a word."""
    X, y = _blobs(n=20, d=3)
    Y = np.where(np.asarray(y) == 0, 1.0, -1.0)
    if "mask" in kwargs:
        kwargs = {"mask": np.full(len(Y), kwargs["mask"], np.float32)}
    with pytest.raises(InputError, match=f"fit_binary: field '{field}'"):
        svm.fit_binary(np.asarray(X, np.float32), Y, **kwargs)


def _offset_problem(n=500, d=50, offset=100.0, seed=1):
    """Nearly separable labels on features with a large common offset: the float32 gradient's noise floor lies above
    tol * ||grad at 0||, so Newton-CG cannot reach tol in float32."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X @ rng.normal(size=d) > 0, 1.0, -1.0)
    y[rng.random(n) < 0.05] *= -1
    return (X + offset).astype(np.float32), y


def _primal_objective(W, b, X, y, C):
    z = y * (X.astype(np.float64) @ np.asarray(W, np.float64) + b)
    return 0.5 * (W @ W + b * b) + C * np.sum(np.maximum(0.0, 1.0 - z) ** 2)


def test_newton_stall_at_float32_stops_early_and_is_reported():
    """Newton-CG used to run all max_iter steps once float32 rounding stopped it (the line search bottoming out),
    with nothing telling the caller that tol was never reached; it now stops and reports the stall, at LinearSVC's
    objective and accuracy."""
    X, y = _offset_problem()
    C = 10.0
    model, info = svm.fit_binary(X, y, C=C, max_iter=200, return_info=True)
    assert info["stalled"][0] and not info["converged"][0] and info["residual"][0] > 1e-5
    assert info["iterations"][0] < 60
    ref = LinearSVC(C=C, tol=1e-10, max_iter=100000, dual=False).fit(X, y)
    f, f_ref = (_primal_objective(w[0], b[0], X, y, C) for w, b in ((model.W, model.b), (ref.coef_, ref.intercept_)))
    assert f == pytest.approx(f_ref, rel=1e-6)
    assert (np.sign(X @ model.W[0] + model.b[0]) == y).mean() == pytest.approx((ref.predict(X) == y).mean(), abs=2e-3)
    # a well-scaled problem converges as before, no stall
    Xb, yb = _blobs(n=200, seed=2)
    _, info = svm.fit_binary(Xb, np.where(yb == 1, 1.0, -1.0), C=1e-2, return_info=True)
    assert info["converged"][0] and not info["stalled"][0]


def test_fit_ova_return_info_and_rejected_elsewhere():
    """fit_ova(..., return_info=True) used to end in dataclasses.replace's TypeError on the (model, info) pair, and
    cross_validate / mine_hard_negatives in an AttributeError."""
    X, y = _blobs(n=60, d=5)
    model, info = svm.fit_ova(X, y, C=1e-2, return_info=True)
    assert list(model.classes) == [0, 1, 2, 3] and info["converged"].shape == (4,) and info["converged"].all()
    np.testing.assert_array_equal(model.W, svm.fit_ova(X, y, C=1e-2).W)
    with pytest.raises(InputError, match="return_info"):
        svm.cross_validate(X, y, [1e-2], return_info=True)
    with pytest.raises(InputError, match="return_info"):
        svm.mine_hard_negatives(X, y[None] == 0, y[None] != 0, return_info=True)


@pytest.mark.parametrize("n_folds", [1, 0, -1, 2.5, True])
def test_cross_validate_refuses_fewer_than_two_folds(n_folds):
    """n_folds=1 used to train every problem on no sample (the one fold is its own validation set) and report chance
    accuracy and a best_C without a word; 0 gave NaN accuracies, -1 / 2.5 a numpy traceback."""
    X, y = _blobs(n=20, d=3)
    with pytest.raises(InputError, match=r"field 'n_folds'.*int >= 2"):
        svm.cross_validate(X, y, [1e-3], n_folds=n_folds)


def test_cross_validate_labels_and_decision_function_widths_are_one_line():
    """Labels not one per row of X used to be a numpy broadcast ValueError ([N, 1]) or a misleading 'samples per
    class' error (too few labels); features of another width in LinearSVM.decision_function / predict a jax
    dot_general TypeError."""
    X, y = _blobs(n=20, d=3)
    with pytest.raises(InputError, match=r"field 'labels'.*\[N=20\]"):
        svm.cross_validate(X, y[:, None], [1e-3])
    with pytest.raises(InputError, match=r"field 'labels'.*got \(12,\)"):
        svm.cross_validate(X, y[:12], [1e-3])
    model = svm.fit_ova(X, y, C=1e-2)
    with pytest.raises(InputError, match=r"field 'X'.*D=3"):
        model.predict(X[:, :2])
    assert model.decision_function(X.tolist()).shape == (20, 4)


@pytest.mark.parametrize("field,kwargs", [("tol", {"tol": -1.0}), ("tol", {"tol": np.nan}), ("tol", {"tol": "x"}),
                                          ("bias_scale", {"bias_scale": "x"}), ("bias_scale", {"bias_scale": None}),
                                          ("C", {"C": "x"}), ("X", {"rows": 0})])
def test_fit_binary_refuses_a_tol_bias_scale_c_of_another_type_and_no_rows(field, kwargs):
    """A negative or NaN tol ran every iteration and reported no convergence, a tol / bias_scale / C of text was
    numpy's TypeError / ValueError traceback, and X with no rows returned a model of zero weights: each one
    InputError now; a numpy integer max_iter (refused before as "an int >= 1") is taken."""
    X, y = _blobs(n=20, d=3)
    Y = np.where(np.asarray(y) == 0, 1.0, -1.0)
    if "rows" in kwargs:
        X, Y, kwargs = X[:0], Y[:0], {}
    with pytest.raises(InputError, match=f"fit_binary: field '{field}'"):
        svm.fit_binary(X, Y, **kwargs)
    X, _ = _blobs(n=20, d=3)
    np.testing.assert_array_equal(svm.fit_binary(X, np.where(y == 0, 1.0, -1.0), max_iter=np.int64(5)).W,
                                  svm.fit_binary(X, np.where(y == 0, 1.0, -1.0), max_iter=5).W)


def test_fit_ova_refuses_repeated_or_scalar_classes():
    """classes=[0, 1, 1] fitted class 1 twice (two identical rows, predict never choosing the second); a scalar was
    len()'s TypeError; one class given was reported as too few distinct *labels*."""
    X, y = _blobs(n=20, d=3)
    with pytest.raises(InputError, match=r"fit_ova: field 'classes': expected distinct classes.*\[1\] more than once"):
        svm.fit_ova(X, y, classes=[0, 1, 1])
    with pytest.raises(InputError, match=r"fit_ova: field 'classes': expected shape \[K\]"):
        svm.fit_ova(X, y, classes=1)
    with pytest.raises(InputError, match=r"fit_ova: field 'classes': expected at least 2 distinct classes"):
        svm.fit_ova(X, y, classes=[1])
    assert svm.fit_ova(X, y, classes=[2, 0]).classes.tolist() == [2, 0]


@pytest.mark.parametrize("Cs,match", [(1e-2, r"shape \[nC>=1\].*got \(\)"), ([[1e-2, 1e-1]], r"got \(1, 2\)"),
                                      (["a"], "int or float"), ([1e-2, -1.0], "finite C values > 0"),
                                      ([np.nan], "finite C values > 0")])
def test_cross_validate_refuses_a_scalar_or_bad_cs_naming_cs(Cs, match):
    """The docstring's Cs is [nC]: a scalar was len()'s TypeError, a 2-D grid or a negative C an error naming
    fit_binary's C (with the repeated per-problem vector), text numpy's ValueError."""
    X, y = _blobs(n=20, d=3)
    with pytest.raises(InputError, match=rf"field 'Cs': expected .*{match}"):
        svm.cross_validate(X, y, Cs, n_folds=2)


@pytest.mark.parametrize("kw", [{"mask": np.ones(20)}, {"C": 1.0}])
def test_cross_validate_and_mining_refuse_the_arguments_they_set(kw):
    """mask= or C= passed on to fit_binary was Python's "multiple values for keyword argument" TypeError."""
    X, y = _blobs(n=20, d=3)
    field = next(iter(kw))
    with pytest.raises(InputError, match=f"training set: field '{field}'"):
        svm.cross_validate(X, y, [1e-2], n_folds=2, **kw)
    if field == "mask":
        with pytest.raises(InputError, match="mine_hard_negatives: field 'mask'"):
            svm.mine_hard_negatives(X, y[None] == 0, y[None] != 0, **kw)


@pytest.mark.parametrize("field,kwargs", [("max_rounds", {"max_rounds": -1}), ("max_rounds", {"max_rounds": 1.5}),
                                          ("initial_negatives", {"initial_negatives": -1}),
                                          ("initial_negatives", {"initial_negatives": 2.5}),
                                          ("max_negatives", {"max_negatives": -1}),
                                          ("positives", {"positives": np.nan}), ("negatives", {"negatives": 2.0})])
def test_mine_hard_negatives_refuses_negative_counts_and_non_flag_sets(field, kwargs):
    """max_rounds=-1 returned (None, info) (no model), initial_negatives=-1 / 2.5 were numpy's traceback,
    max_negatives=-1 was read as 0, a NaN positive flag as a positive: one InputError each now."""
    X, y = _blobs(n=20, d=3)
    pos, neg = (y[None] == 0).astype(np.float32), (y[None] != 0).astype(np.float32)
    if "positives" in kwargs:
        pos[0, y == 0] = kwargs.pop("positives")
    if "negatives" in kwargs:
        neg[0, y != 0] = kwargs.pop("negatives")
    with pytest.raises(InputError, match=f"mine_hard_negatives: field '{field}'"):
        svm.mine_hard_negatives(X, pos, neg, **kwargs)


def test_mine_hard_negatives_with_no_mining_round_returns_a_model():
    """max_rounds=0 is round 0 alone: a model, not None, and float 0 / 1 sets equal bool ones."""
    X, y = _blobs(n=40, d=3)
    model, info = svm.mine_hard_negatives(X, y[None] == 0, y[None] != 0, max_rounds=0)
    assert model.W.shape == (1, 3) and info["rounds"] == 0
    again, _ = svm.mine_hard_negatives(X, (y[None] == 0) * 1.0, (y[None] != 0) * 1.0, max_rounds=0)
    np.testing.assert_array_equal(model.W, again.W)


def test_predict_refuses_a_row_without_finite_scores():
    """A NaN or inf feature row has no largest score: refused naming the row, not given the first class (argmax of
    NaN scores is 0); the finite rows predict as before and decision_function still shows the NaN."""
    X, y = _blobs(n=60, d=4)
    m = svm.fit_ova(X, y, C=1e-2)
    bad = X[:3].copy()
    bad[1, 2] = np.nan
    assert np.isnan(m.decision_function(bad)[1]).all()
    with pytest.raises(InputError, match=r"X.*1 rows with non-finite scores, the first row \[1\]"):
        m.predict(bad)
    bad[1, 2] = np.inf
    with pytest.raises(InputError, match="non-finite"):
        m.predict(bad)
    np.testing.assert_array_equal(m.predict(X[:3]), m.classes[np.argmax(m.decision_function(X[:3]), axis=1)])
