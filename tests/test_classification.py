"""Keypoint columns, 3x3 concatenation and keypoint classification (Long et al. section 4) on hand-made data."""

import numpy as np
import pytest

from convcorr_jax.backbones.receptive_field import RF
from convcorr_jax.long2014 import classification as cls
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.columns import columns_at_points, neighbourhood_concat


def test_columns_at_points_picks_nearest_rf_centre():
    rf = RF(size=11, stride=4, offset=1.5)  # centres at 1.5, 5.5, 9.5, ...
    grid = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)  # h=5, w=6
    pts = np.array([[1.5, 1.5], [5.4, 9.6], [100.0, -50.0], [7.4, 3.6]])
    got = columns_at_points(grid, rf, pts)
    # hand-computed (col, row): (0,0), (1,2), clipped (5,0), (1.475->1, 0.525->1)
    np.testing.assert_array_equal(got, grid[[0, 2, 0, 1], [0, 1, 5, 1]])
    batched = columns_at_points(np.stack([grid, grid + 1]), rf, np.stack([pts, pts]))
    np.testing.assert_array_equal(batched[1], got + 1)
    with pytest.raises(InputError, match="finite"):
        columns_at_points(grid, rf, np.array([[np.nan, 1.0]]))
    with pytest.raises(InputError, match=r"points.*\[N=2, K, 2\]"):  # 3 rows of points for 2 grids
        columns_at_points(np.stack([grid, grid + 1]), rf, np.stack([pts, pts, pts]))
    with pytest.raises(InputError, match="size"):
        neighbourhood_concat(grid, 3.0)


def test_neighbourhood_concat_matches_loop():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    out = np.asarray(neighbourhood_concat(g, 3))
    assert out.shape == (2, 4, 5, 27)
    pad = np.pad(g, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for y in range(4):
        for x in range(5):
            ref = np.concatenate([pad[:, y + dy, x + dx] for dy in range(3) for dx in range(3)], -1)
            np.testing.assert_array_equal(out[:, y, x], ref)
    np.testing.assert_array_equal(out[..., 12:15], g)  # centre block


def _toy(n, seed):
    """Images with K=4 keypoints, each marked by its own colour in a 5x5 square (a learnable local cue)."""
    rng = np.random.default_rng(seed)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    out = []
    for i in range(n):
        img = rng.integers(0, 60, (48, 48, 3)).astype(np.uint8)
        pts = rng.uniform(4, 43, (4, 2)).astype(np.float32)
        for k, (x, y) in enumerate(np.rint(pts).astype(int)):
            img[y - 2:y + 3, x - 2:x + 3] = colours[k]
        vis = np.ones(4, bool)
        if i == 0:
            pts[3] = [60.0, 10.0]  # outside the image: skipped and counted
        out.append(KeypointSample(pts, vis, ("a", "b", "c", "d"), np.array([0, 0, 47, 47], np.float32),
                                  "toy" if i % 2 else "toy2", f"s{i}", image=img))
    return out


def _pixel_features(samples, kps):
    """Mean colour of the 3x3 patch at each keypoint: a stand-in for a conv column."""
    X = np.zeros((len(kps), 3), np.float32)
    for j, (i, p) in enumerate(zip(kps.sample, kps.points)):
        x, y = np.clip(np.rint(p).astype(int), 1, 46)
        X[j] = samples[i].image[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(0)
    return X


def test_classify_learns_colour_cue_and_counts_skipped():
    train, test = _toy(40, 0), _toy(20, 1)
    ktr, kte = cls._collect_keypoints(train), cls._collect_keypoints(test)
    assert ktr.skipped["outside image"] == 1 and len(ktr) == 40 * 4 - 1
    res = cls.classify(_pixel_features(train, ktr), ktr, _pixel_features(test, kte), kte, C=1e-3)
    assert set(res["accuracy"]) == {"toy", "toy2"}
    assert res["mean"] >= 0.9
    # scikit-learn's LinearSVC on the same features: the same accuracy within 1 point per category
    from sklearn.svm import LinearSVC

    Xtr, Xte = _pixel_features(train, ktr), _pixel_features(test, kte)
    for cat, acc in res["accuracy"].items():
        tr, te = ktr.category == cat, kte.category == cat
        ref = LinearSVC(C=1e-3, tol=1e-6, max_iter=100000).fit(Xtr[tr], ktr.label[tr])
        assert abs(acc - (ref.predict(Xte[te]) == kte.label[te]).mean()) <= 0.01
    # with CV over C: the C used per category is the CV arg-max, and the table renders both blocks
    res_cv = cls.classify(_pixel_features(train, ktr), ktr, _pixel_features(test, kte), kte, cv_Cs=[1e-9, 1e-3],
                          n_folds=3)
    for cat, cv in res_cv["cv"].items():
        assert res_cv["C"][cat] == cv["best_C"] == float(cv["C"][np.argmax(cv["accuracy"])])
        assert cv["accuracy"].max() >= 0.9 and cv["fold_accuracy"].shape == (2, 3)
    from convcorr_eval.long2014.table3 import table_markdown

    md = table_markdown({"pixels": res})
    assert f"| pixels | {100 * res['accuracy']['toy']:.1f} |" in md and "paper (different data)" in md


def test_classify_rejects_category_without_training_data():
    train, test = _toy(6, 0), _toy(6, 1)
    train = [s for s in train if s.category == "toy"]
    ktr, kte = cls._collect_keypoints(train), cls._collect_keypoints(test)
    with pytest.raises(InputError, match="toy2"):
        cls.classify(_pixel_features(train, ktr), ktr, _pixel_features(test, kte), kte)


def test_conv_features_use_the_backbone_geometry():
    """_conv_features == columns of the backbone's own activations at the nearest rf centre."""
    import jax

    from convcorr_jax.backbones import get

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.PRNGKey(0))
    samples = _toy(2, 3)
    kps = cls._collect_keypoints(samples)
    feats = cls._conv_features(samples, kps, bb, params, roles=("conv3",), batch_size=2)
    tap = bb.roles["conv3"]
    act = np.asarray(bb.apply(params, bb.preprocess(np.stack([s.image for s in samples])), taps=(tap,))[tap])
    rf = bb.geometry[tap]
    for j in [0, 5]:
        c, r = np.clip(np.rint((kps.points[j] - rf.offset) / rf.stride), 0, [act.shape[2] - 1, act.shape[1] - 1])
        np.testing.assert_allclose(feats["conv3"][j], act[kps.sample[j], int(r), int(c)], rtol=1e-4, atol=1e-5)


def test_figure4_helpers():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    sh = cls._shifted_images(img, np.array([[0, 0], [2, 1]]))
    np.testing.assert_array_equal(sh[0], img)
    np.testing.assert_array_equal(sh[1][1:, 2:], img[:-1, :-2])  # out[y, x] = image[y - 1, x - 2]
    np.testing.assert_array_equal(sh[1][0, 2:], img[0, :-2])  # edge row repeated
    maps = np.zeros((4, 5, 5))
    maps[0, 2, 3] = 1  # interior maximum -> counted
    maps[1, 0, 2] = 1  # boundary maximum -> excluded
    maps[2, 2, 3] = 5
    maps[3] = np.nan  # not evaluated -> ignored
    hist, excluded = cls._argmax_histogram(maps)
    assert excluded == 1 and hist.sum() == 2 and hist[2, 3] == 2


def test_dense_window_scores_conv_equals_pixel_loop():
    """Figure 4 window scores (index arrays) == a loop over window pixels picking the translated copy whose column
    is centred on the pixel (skipped shifts and off-grid pixels NaN)."""
    import jax

    from convcorr_jax.backbones import get
    from convcorr_jax.features.columns import extract_grids
    from convcorr_jax.linear.svm import LinearSVM

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.PRNGKey(0))
    img = np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)
    pts, labs = np.array([[10.2, 20.0], [3.0, 44.6]]), np.array([7, 3])
    rng = np.random.default_rng(1)
    tap = bb.roles["conv3"]
    d = bb.geometry[tap]
    steps = np.arange(0, d.stride, 2)
    shifts = np.stack(np.meshgrid(steps, steps, indexing="xy"), -1).reshape(-1, 2)
    grids = np.stack(extract_grids(bb, params, list(cls._shifted_images(img, shifts)), [tap], 4)[tap])
    model = LinearSVM(rng.normal(size=(2, grids.shape[-1])), rng.normal(size=2), np.array([3, 7]))
    got = cls._dense_window_scores_conv(img, pts, labs, model, bb, params, "conv3", radius=4, step=2, batch_size=4)
    want = np.full((2, 9, 9), np.nan)
    lut = {tuple(t): i for i, t in enumerate(shifts)}
    for j, (p, lab) in enumerate(zip(np.rint(pts).astype(int), labs)):
        k = int(np.nonzero(model.classes == lab)[0][0])
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                x, y = p[0] + dx, p[1] + dy
                t = ((d.offset - x) % d.stride, (d.offset - y) % d.stride)
                if t in lut:
                    col, row = round((x + t[0] - d.offset) / d.stride), round((y + t[1] - d.offset) / d.stride)
                    if 0 <= col < grids.shape[2] and 0 <= row < grids.shape[1]:
                        want[j, dy + 4, dx + 4] = grids[lut[t], row, col] @ model.W[k] + model.b[k]
    assert np.isfinite(want).sum() > 10 and np.isnan(want).sum() > 10
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dense_window_scores_conv_on_half_pixel_centres():
    """A tap whose column centres sit between pixels (VGG-16 conv2: offset 0.5) used to leave every Figure 4 window
    NaN (no whole translation puts a pixel on a centre), an empty histogram without a word. The window now lies on
    the half-pixel lattice of centres, each cell scored by the column centred on it in some translated copy."""
    import jax

    from convcorr_jax.backbones import get
    from convcorr_jax.features.columns import extract_grids
    from convcorr_jax.linear.svm import LinearSVM

    from convcorr_jax.backbones import layers

    def eighth(a):  # HWIO kernels and biases at an eighth of the channels (the image's 3 kept)
        return (*a.shape[:2], a.shape[2] if a.shape[2] == 3 else a.shape[2] // 8, a.shape[3] // 8) if a.ndim == 4 \
            else (a.shape[0] // 8,)

    bb = get("vgg16")  # random conv layers at an eighth of the width, no dense layers: the same geometry, fast
    like = jax.eval_shape(lambda: bb.init(jax.random.PRNGKey(0)))
    conv = {k: v for k, v in like.items() if all(leaf.ndim != 2 for leaf in jax.tree_util.tree_leaves(v))}
    params = layers.init_tree(jax.random.PRNGKey(0), jax.tree_util.tree_map(eighth, conv))
    tap = bb.roles["conv2"]
    d = bb.geometry[tap]
    assert d.offset % 1 == 0.5 and d.stride == 2
    img = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    shifts = np.array([[tx, ty] for ty in range(2) for tx in range(2)])
    grids = np.stack(extract_grids(bb, params, list(cls._shifted_images(img, shifts)), [tap], 4)[tap])
    # every column of every translated copy, keyed by its centre in the original image's pixels
    centre = {(d.offset + c * d.stride - tx, d.offset + r * d.stride - ty): grids[i, r, c]
              for i, (tx, ty) in enumerate(shifts) for r in range(grids.shape[1]) for c in range(grids.shape[2])}
    rng = np.random.default_rng(1)
    model = LinearSVM(rng.normal(size=(2, grids.shape[-1])), rng.normal(size=2), np.array([3, 7]))
    got = cls._dense_window_scores_conv(img, np.array([[11.2, 12.9]]), np.array([7]), model, bb, params, "conv2",
                                        radius=2, batch_size=4)
    assert np.isfinite(got).all()
    for dy in range(-2, 3):
        for dx in range(-2, 3):  # lattice point nearest (11.2, 12.9): (11.5, 12.5)
            want = centre[(11.5 + dx, 12.5 + dy)] @ model.W[1] + model.b[1]
            assert got[0, dy + 2, dx + 2] == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_classify_checks_feature_rows_against_keypoints():
    """Feature matrices that are not one row per keypoint (or of another width) are one InputError naming them."""
    samples = _toy(4, 7)
    kps = cls._collect_keypoints(samples)
    X = np.random.default_rng(0).normal(size=(len(kps), 6))
    with pytest.raises(InputError, match="'train_X'"):
        cls.classify(X[:-1], kps, X, kps)
    with pytest.raises(InputError, match="'test_X'"):
        cls.classify(X, kps, X[:, :4], kps)
    for folds in (1, 2.5):  # each category warned and kept C: n_folds=1 was chance-level CV without a word before
        with pytest.raises(InputError, match="classify: field 'n_folds': expected an int >= 2"):
            cls.classify(X, kps, X, kps, cv_Cs=[1e-3, 1.0], n_folds=folds)


@pytest.mark.parametrize("field,value", [("step", 0), ("radius", 0), ("n_images", 0), ("step", 1.5)])
def test_figure4_refuses_counts_below_one_naming_them(field, value):
    """step 0 was a ZeroDivisionError after the classifiers were fitted, radius 0 a window that is all boundary (no
    histogram), n_images 0 reported as 'no instances of the category'."""
    with pytest.raises(InputError, match=rf"run_figure4: field '{field}'.*integer >= 1.*got {value}"):
        cls.run_figure4([], [], None, None, "toy", ["a"], **{field: value})


def test_table3_without_any_feature_is_one_line():
    """No conv role and no SIFT radius ran nothing and returned an empty table (the experiment then failed in max())."""
    with pytest.raises(InputError, match=r"run_table3: field 'roles'.*at least one conv role.*radii"):
        cls.run_table3([], [], None, None, roles=(), radii=())


@pytest.mark.parametrize("cv_Cs", [[0.0, 1e-3], [float("nan")], [], 1e-3, ["a"]])
def test_bad_cv_Cs_are_refused_not_replaced_by_the_fixed_C(cv_Cs):
    """The per-category fallback for a CV that cannot run (a one-sample class) caught every InputError, so a C of 0, a
    NaN or an empty grid was a warning per category and the fixed C used in its place, the table reading as
    cross-validated. Refused once, naming cv_Cs; run_table3 refuses before computing any feature."""
    samples = _toy(8, 7)
    kps = cls._collect_keypoints(samples)
    X = np.random.default_rng(0).normal(size=(len(kps), 6))
    with pytest.raises(InputError, match="classify: field 'cv_Cs'"):
        cls.classify(X, kps, X, kps, cv_Cs=cv_Cs, n_folds=2)
    with pytest.raises(InputError, match="run_table3: field 'cv_Cs'"):
        cls.run_table3([], [], None, None, cv_Cs=cv_Cs)


def test_non_finite_features_are_refused_not_scored():
    """A NaN in a test keypoint's features made every class score NaN, whose arg-max is the first class: the keypoint
    was classified as type 0 and scored without a word (a NaN training row of a one-type category was never read)."""
    samples = _toy(8, 7)
    kps = cls._collect_keypoints(samples)
    X = np.random.default_rng(0).normal(size=(len(kps), 6))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match=r"classify: field 'test_X'.*finite.*got 1 non-finite"):
        cls.classify(X, kps, bad, kps)
    bad[3, 2] = np.inf
    with pytest.raises(InputError, match=r"classify: field 'train_X'.*finite"):
        cls.classify(bad, kps, X, kps)
