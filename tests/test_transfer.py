"""Keypoint transfer protocol pieces, the align command's core, and bad input."""

import numpy as np
import pytest

from convcorr_jax.long2014 import retrieval_transfer
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError


def _sample(bbox, pts, image=None):
    pts = np.asarray(pts, np.float32)
    return KeypointSample(pts, np.ones(len(pts), bool), tuple(f"k{i}" for i in range(len(pts))),
                          np.asarray(bbox, np.float32), "thing", "x", image)


def test_box_coordinates_round_trip_and_crop():
    from convcorr_jax.core.geometry import invert_affine, transform_points

    img = np.zeros((50, 60, 3), np.uint8)
    img[20, 30] = 255  # a bright pixel that must land where its coordinate maps
    s = _sample((10, 5, 49, 44), [[30, 20], [10, 5], [49, 44]], img)  # 40 x 40 box
    crops, M = retrieval_transfer.box_crops([s], 80)
    crop, pts = crops[0], transform_points(s.points, M[0])
    np.testing.assert_allclose(pts, [[40.5, 30.5], [0.5, 0.5], [78.5, 78.5]], atol=1e-5)
    np.testing.assert_allclose(transform_points(pts, invert_affine(M[0])), s.points, atol=1e-4)
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert abs(x - 40.5) <= 1 and abs(y - 30.5) <= 1


def test_median_transfer_uses_order_and_visibility():
    pts = np.array([[[0, 0]], [[10, 10]], [[2, 4]], [[100, 100]]], np.float32)
    vis = np.array([[True], [True], [False], [True]])
    out = retrieval_transfer._median_transfer(pts, vis, np.array([2, 0, 1, 3]), 2, np.array([7, 7], np.float32))
    np.testing.assert_array_equal(out, [[5, 5]])  # neighbour 2 skipped (not labelled), median of 0 and 1
    out = retrieval_transfer._median_transfer(pts, np.zeros_like(vis), np.arange(4), 2, np.array([7, 7], np.float32))
    np.testing.assert_array_equal(out, [[7, 7]])


@pytest.mark.parametrize("cats,val_targets,emptied", [("aabb", 12, "all 2 of category 'a'"),
                                                      ("aaab", 2, "all 1 of category 'b'")])
def test_select_beta_names_val_targets_when_a_category_is_all_held_out(cats, val_targets, emptied):
    """A validation split holding out a category's every training instance used to fail deep inside as
    "run_transfer: field 'database.category'", naming nothing the user set."""
    n = len(cats)
    db = retrieval_transfer.Prepared(np.zeros((n, 8, 8, 3), np.uint8), np.zeros((n, 2, 2), np.float32),
                                     np.ones((n, 2), bool), np.eye(n, 5, dtype=np.float32),
                                     np.zeros((n, 2, 2, 3), np.float32), np.zeros((n, 2, 2, 128), np.float32),
                                     np.zeros((2, 2, 2), np.float32), 4)
    train = [KeypointSample(np.zeros((2, 2), np.float32), np.ones(2, bool), ("k0", "k1"),
                            np.array([0, 0, 7, 7], np.float32), c, "x") for c in cats]
    cfg = retrieval_transfer.RetrievalTransferConfig(val_betas=(1e-3, 3e-3), val_targets=val_targets)
    with pytest.raises(InputError, match=rf"RetrievalTransferConfig: field 'val_targets'.*got {val_targets}, "
                                         rf"which holds out {emptied}$"):
        retrieval_transfer._select_beta(db, train, cfg)


def test_evaluate_perfect_and_pck():
    s = [_sample((0, 0, 99, 49), [[10, 10], [50, 20]]), _sample((0, 0, 99, 49), [[30, 10], [60, 40]])]
    from convcorr_jax.core.geometry import box_to_affine, transform_points

    pred = np.stack([transform_points(x.points, box_to_affine(x.bbox, 64)) for x in s])
    off = pred.copy()
    off[:, 0] += [[64 * 12 / 100, 0]]  # 12 px error in image x for keypoint 0 of both: wrong at alpha 0.1 (10 px)
    r = retrieval_transfer.evaluate({"perfect": pred, "off": off}, s,
                                    retrieval_transfer.RetrievalTransferConfig(box=64))
    assert r["perfect"][0.025]["mean"] == pytest.approx(100.0)
    assert r["off"][0.1]["thing"] == pytest.approx(50.0)  # keypoint 0: 0 %, keypoint 1: 100 %


@pytest.fixture(scope="module")
def mobilenet():
    import jax

    from convcorr_jax.backbones import get

    bb = get("mobilenet_v2")
    return bb, bb.init(jax.random.PRNGKey(0))


@pytest.mark.slow
def test_table2_end_to_end_random_backbone(mobilenet):
    """The whole protocol on a few synthetic objects (random-init backbone: checks plumbing, not accuracy)."""
    from convcorr_jax.data.synthetic import load_objects

    train, test = load_objects(n=40, seed=0, split="train"), load_objects(n=40, seed=0, split="test")
    cfg = retrieval_transfer.RetrievalTransferConfig(box=64, neighbours=3, top=2, iters=2, levels=1, window=2,
                                                     max_targets=2,
                                  val_betas=(3e-3, 3e-2), val_targets=3)
    out = retrieval_transfer.table2(train, test, *mobilenet, cfg)
    r = out["results"]
    assert set(r) == set(retrieval_transfer.METHODS)
    for m in r:
        assert 0.0 <= r[m][0.1]["mean"] <= 100.0
        assert r[m][0.025]["mean"] <= r[m][0.05]["mean"] + 1e-9 <= r[m][0.1]["mean"] + 2e-9
    from convcorr_eval.long2014.table2 import table_markdown

    assert "paper (different data" in table_markdown(r, out["n_targets"], out["config"])
    assert set(out["validation"]) == {3e-3, 3e-2} and out["config"].beta in (3e-3, 3e-2)
    nb = out["transfer"]["neighbours"]
    assert nb.shape[0] == 2 and 1 <= nb.shape[1] <= 3  # k is capped by the smallest training category


@pytest.mark.slow
def test_align_images_shapes_and_small_image(mobilenet):
    from convcorr_jax.flow.align import GridConfig, align_images

    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, size=(64, 80, 3), dtype=np.uint8)
    b = rng.integers(0, 255, size=(50, 70, 3), dtype=np.uint8)
    for feats in ("conv4", "sift"):
        out = align_images(a, b, *mobilenet, GridConfig(feats, iters=2, levels=1, window=2))
        h, w = out.grid_xy.shape[:2]
        assert out.flow.shape == (h, w, 2) and out.warped.shape == a.shape
        assert out.energy["total"] == pytest.approx(out.energy["data"] + out.energy["deformation"], rel=1e-5)
        # flow lands inside A's frame (labels cover only the grid)
        dst = out.grid_xy + out.flow
        assert dst[..., 0].min() >= out.grid_xy[..., 0].min() - 1e-3
        assert dst[..., 0].max() <= out.grid_xy[..., 0].max() + 1e-3
    with pytest.raises(InputError):
        align_images(a[:20, :20], b, *mobilenet)
    with pytest.raises(InputError, match="GridConfig or a DenseConfig"):
        align_images(a, b, *mobilenet, "conv4")
    with pytest.raises(InputError, match="features"):
        GridConfig("pixels")


def test_align_images_of_jax_arrays_equals_numpy(mobilenet):
    """Images as JAX arrays (uint8 RGB, as `jnp.asarray` of a photo gives) align as the same numpy arrays do: B
    resized to A's size (and A to max_side) raised PIL's AttributeError '__array_interface__'."""
    import jax.numpy as jnp

    from convcorr_jax.backbones.preprocess import resize
    from convcorr_jax.flow.align import GridConfig, align_images

    rng = np.random.default_rng(1)
    a = rng.integers(0, 255, size=(70, 90, 3), dtype=np.uint8)
    b = rng.integers(0, 255, size=(50, 70, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize(jnp.asarray(b), (30, 40)), resize(b, (30, 40)))
    cfg = GridConfig(iters=1, levels=1, window=1)
    want = align_images(a, b, *mobilenet, cfg, max_side=80)
    got = align_images(jnp.asarray(a), jnp.asarray(b), *mobilenet, cfg, max_side=80)
    assert isinstance(got.warped, np.ndarray) and isinstance(got.a_work, np.ndarray)
    np.testing.assert_array_equal(got.flow, want.flow)
    np.testing.assert_array_equal(got.warped, want.warped)


def test_align_images_brings_a_max_side_flow_back_to_a_per_axis(mobilenet, monkeypatch):
    """A of 100 x 161 px with max_side 80 is solved at 50 x 80 px: back in A's pixels x is scaled by 161 / 80 and y
    by 100 / 50. Both were scaled by 1 / scale = 161 / 80, which put the grid's nodes and the flow's dy up to 0.6%
    off along y (up to half a working pixel times 1 / scale where the rounding of the working size is worst)."""
    from convcorr_jax.backbones.receptive_field import grid_centers
    from convcorr_jax.flow import align
    from convcorr_jax.flow.dense import DenseConfig

    rng = np.random.default_rng(2)
    a = rng.integers(0, 255, size=(100, 161, 3), dtype=np.uint8)
    b = rng.integers(0, 255, size=(60, 70, 3), dtype=np.uint8)
    back = np.array([161 / 80, 100 / 50])
    out = align.align_images(a, b, *mobilenet, align.GridConfig(iters=1, levels=1, window=1), max_side=80)
    assert out.a_work.shape == (50, 80, 3) and out.scale == pytest.approx(80 / 161)
    nodes = grid_centers(mobilenet[0].geometry[mobilenet[0].roles["conv4"]], out.grid_xy.shape[:2])
    np.testing.assert_allclose(out.grid_xy, (nodes + 0.5) * back - 0.5, atol=1e-4)
    at_nodes = out.dense_flow[nodes[..., 1].astype(int), nodes[..., 0].astype(int)]  # the spline's knots
    np.testing.assert_allclose(out.flow, at_nodes * back, atol=1e-4)

    # dense flow: a flow of one working pixel right and down is 161 / 80 px right and 100 / 50 px down in A
    monkeypatch.setattr(align, "dense_flows", lambda a, b, *args: np.ones((1, *a.shape[1:3], 2), np.float32))
    dense = align.align_images(a, b, *mobilenet, DenseConfig(), max_side=80)
    assert dense.flow.shape == (100, 161, 2)
    np.testing.assert_allclose(dense.flow, np.broadcast_to(back, dense.flow.shape), rtol=1e-6)


@pytest.mark.parametrize("a_hw,b_hw,max_side,field", [((20, 20), (64, 80), None, "a"), ((64, 80), (10, 80), None, "b"),
                                                       ((64, 80), (64, 80), 8, "max_side")])
def test_align_images_names_its_own_argument_for_an_image_too_small(a_hw, b_hw, max_side, field):
    """Too small an image (or max_side) is refused naming align_images and its argument, as a grey or float image is;
    it named no function and 'image_a' / 'image_b' (the align command's names; "align" for max_side)."""
    from convcorr_jax.backbones import get
    from convcorr_jax.flow.align import align_images

    a, b = np.zeros((*a_hw, 3), np.uint8), np.zeros((*b_hw, 3), np.uint8)
    with pytest.raises(InputError, match=f"^align_images: field '{field}': expected (an image of at least|>=) 32 px"):
        align_images(a, b, get("mobilenet_v2"), None, max_side=max_side)


def test_the_smallest_image_align_images_accepts_gives_two_conv4_columns_each_way():
    """`_min_image_side` is where every backbone's conv4-role tap has MIN_GRID columns on each side; a smaller
    image is refused before any network runs. It was two conv4 strides (32 px), where the AlexNets' conv4 is 1 x 1:
    such an image passed the check and was refused after the network ran, as 'image_a: field 'size''."""
    from convcorr_jax.backbones import NAMES, get
    from convcorr_jax.flow.align import MIN_GRID, _min_image_side, align_images

    for name in NAMES:
        bb = get(name)
        assert min(bb.grid_size(bb.roles["conv4"], (_min_image_side(bb),) * 2)) >= MIN_GRID, name
    caffenet = get("caffenet")
    need = _min_image_side(caffenet)
    assert need > 32 and min(caffenet.grid_size("conv4", (need - 1,) * 2)) < MIN_GRID
    small = np.zeros((need - 1, 64, 3), np.uint8)
    with pytest.raises(InputError, match=f"field 'a': expected an image of at least {need} px on each side"):
        align_images(small, small, caffenet, None)  # no params: refused before the network


@pytest.mark.parametrize("backbone,max_side,field,got", [("mobilenet_v2", None, "backbone", "'mobilenet_v2'"),
                                                         (None, "64", "max_side", "'64'")])
def test_align_images_refuses_a_backbone_name_or_a_max_side_of_text_in_one_line(backbone, max_side, field, got):
    """A backbone's name where the Backbone goes raised AttributeError ('str' object has no attribute 'roles'), a
    max_side of text TypeError ('<' not supported)."""
    from convcorr_jax.backbones import get
    from convcorr_jax.flow.align import align_images

    a = np.zeros((64, 80, 3), np.uint8)
    with pytest.raises(InputError, match=f"^align_images: field '{field}': expected .*, got {got}$"):
        align_images(a, a, backbone or get("mobilenet_v2"), None, max_side=max_side)


@pytest.mark.parametrize("a_bad,field", [((64, 80), "a"), ((64, 80, 4), "a"), ((0, 0, 3), "a"),
                                         ("float32", "a"), ("nan", "a"), ((64, 80), "b"), ("float32", "b")])
def test_align_images_refuses_images_not_uint8_rgb_in_one_line(a_bad, field):
    """A grey or RGBA image, an empty one, float (or NaN) pixels: one InputError naming the image, before any
    network runs (a grey or RGBA image A raised numpy's "all input arrays must have the same shape"; float pixels were
    reported as extract's 'images')."""
    from convcorr_jax.flow.align import GridConfig, align_images

    good = np.zeros((64, 80, 3), np.uint8)
    if a_bad == "float32":
        bad = good.astype(np.float32)
    elif a_bad == "nan":
        bad = np.full((64, 80, 3), np.nan, np.float32)
    else:
        bad = np.zeros(a_bad, np.uint8)
    a, b = (bad, good) if field == "a" else (good, bad)
    with pytest.raises(InputError, match=f"^align_images: field '{field}': expected .*(RGB in \\[0, 255\\])"):
        align_images(a, b, None, None, GridConfig(iters=1, levels=1))


def test_evaluate_category_without_visible_keypoints_is_left_out_of_the_mean(recwarn):
    """A target category whose keypoints are all invisible has no PCK: it is NaN ("-" in the table) and the mean
    is over the categories scored; it used to turn every mean into NaN (and `_select_beta` into the first beta)."""
    a = _sample((0, 0, 99, 99), [[10, 10], [50, 50]])
    b = KeypointSample(np.array([[10, 10], [50, 50]], np.float32), np.zeros(2, bool), ("k0", "k1"),
                       np.array([0, 0, 99, 99], np.float32), "other", "y")
    pred = np.array([[[6.4, 6.4], [60.0, 60.0]], [[0, 0], [0, 0]]], np.float32)  # box 64: a's keypoint 0 exact
    r = retrieval_transfer.evaluate({"m": pred}, [a, b], retrieval_transfer.RetrievalTransferConfig(box=64))
    for alpha in retrieval_transfer.ALPHAS:
        assert r["m"][alpha]["thing"] == pytest.approx(50.0) and np.isnan(r["m"][alpha]["other"])
        assert r["m"][alpha]["mean"] == pytest.approx(50.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    from convcorr_eval.long2014.table2 import table_markdown

    md = table_markdown(r, 2, retrieval_transfer.RetrievalTransferConfig(box=64))
    assert "| other | thing | mean of 1, a=0.1 |" in md and "| m | - | 50.0 | 50.0 | 50.0 | 50.0 |" in md
    assert "nan" not in md


def test_run_transfer_neighbours_and_nn_transfer_match_a_plain_loop():
    """Neighbours: the `neighbours` most cosine-similar database instances of the query's own category; NN transfer:
    per keypoint the first of them that labels it (else the box centre), against loops."""
    rng = np.random.default_rng(0)

    def prep(n):
        return retrieval_transfer.Prepared(
            np.zeros((n, 16, 16, 3), np.uint8), rng.uniform(0, 15, (n, 3, 2)).astype(np.float32),
            rng.random((n, 3)) > 0.5, rng.normal(size=(n, 6)).astype(np.float32),
            rng.normal(size=(n, 2, 2, 4)).astype(np.float32), rng.normal(size=(n, 2, 2, 128)).astype(np.float32),
            np.stack(np.meshgrid([4.0, 12.0], [4.0, 12.0]), -1).astype(np.float32), 8)

    db, q = prep(9), prep(4)
    dbc, qc = np.array(list("aaabbbbba")), np.array(list("abba"))
    cfg = retrieval_transfer.RetrievalTransferConfig(box=16, neighbours=3, top=2, iters=1, levels=1, window=1)
    out = retrieval_transfer._run_transfer(q, db, qc, dbc, cfg)
    for i in range(4):
        cand = np.flatnonzero(dbc == qc[i])
        sims = [db.retrieval[j] @ q.retrieval[i] / np.linalg.norm(db.retrieval[j]) for j in cand]
        nb = cand[np.argsort(-np.array(sims), kind="stable")[:3]]
        np.testing.assert_array_equal(out["neighbours"][i], nb)
        for k in range(3):
            have = [j for j in nb if db.visible[j, k]]
            np.testing.assert_allclose(out["pred"]["NN transfer"][i, k], db.points[have[0], k] if have else [7.5, 7.5])


def test_a_querys_neighbours_do_not_depend_on_the_other_queries():
    """Each query gets `neighbours` of its own category (all of them in a smaller category, -1 after them): a query
    of a category with 2 database instances cut every other query to 2 neighbours as well, so a target's
    predictions changed with the other targets of the run."""
    rng = np.random.default_rng(1)

    def unit(shape):  # unit columns: the feature scale (mean column norm) is the same for any set of queries
        x = rng.random(shape).astype(np.float32)
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def prep(n):
        return retrieval_transfer.Prepared(
            np.zeros((n, 16, 16, 3), np.uint8), rng.uniform(0, 15, (n, 3, 2)).astype(np.float32),
            np.ones((n, 3), bool), rng.normal(size=(n, 6)).astype(np.float32), unit((n, 2, 2, 4)),
            unit((n, 2, 2, 128)), np.stack(np.meshgrid([4.0, 12.0], [4.0, 12.0]), -1).astype(np.float32), 8)

    db, q = prep(8), prep(2)
    dbc = np.array(list("aaaaaabb"))
    cfg = retrieval_transfer.RetrievalTransferConfig(box=16, neighbours=4, top=3, iters=1, levels=1, window=1)
    both = retrieval_transfer._run_transfer(q, db, ["a", "b"], dbc, cfg)
    alone = retrieval_transfer._run_transfer(retrieval_transfer._take(q, np.array([0])), db, ["a"], dbc, cfg)
    assert (both["neighbours"][0] >= 0).all() and both["neighbours"].shape == (2, 4)
    np.testing.assert_array_equal(both["neighbours"][0], alone["neighbours"][0])
    for m in retrieval_transfer.METHODS:
        np.testing.assert_allclose(both["pred"][m][0], alone["pred"][m][0], atol=1e-5)
        assert np.isfinite(both["pred"][m][1]).all()
    for m in retrieval_transfer.METHODS[:2]:
        np.testing.assert_allclose(both["energies"][m][0], alone["energies"][m][0], rtol=1e-6)
        assert np.isfinite(both["energies"][m][1, :2]).all() and np.isnan(both["energies"][m][1, 2:]).all()
    np.testing.assert_array_equal(both["neighbours"][1, 2:], -1)
    assert set(both["neighbours"][1, :2]) == {6, 7}


def test_interleave_of_no_sample_is_empty():
    """An empty test set failed in interleave with max()'s ValueError before table2 could refuse it in one line."""
    assert retrieval_transfer.interleave([]) == []
    s = [_sample([0, 0, 7, 7], [[1, 1]]) for _ in range(3)]
    assert [x.category for x in retrieval_transfer.interleave(s)] == ["thing"] * 3
    with pytest.raises(InputError, match="non-empty train and test sets"):
        retrieval_transfer.table2(s, retrieval_transfer.interleave([]), None, None,
                                  retrieval_transfer.RetrievalTransferConfig())


def test_evaluate_refuses_predictions_not_one_row_per_sample():
    """Fewer prediction rows than samples was an IndexError traceback; more were read against the samples by position
    without a word (predictions of another list of targets). Too few keypoint slots named pck's 'pred', not pred_box."""
    cfg = retrieval_transfer.RetrievalTransferConfig(box=50)
    samples = [_sample((0, 0, 49, 49), [[10, 10], [30, 30]]) for _ in range(2)]
    for rows in (1, 3):
        with pytest.raises(InputError, match=r"evaluate: field 'pred_box\['m'\]'.*\[Q=2, K, 2\]"):
            retrieval_transfer.evaluate({"m": np.zeros((rows, 2, 2))}, samples, cfg)
    with pytest.raises(InputError, match=r"evaluate: field 'pred_box\['m'\]'.*2 keypoints, got 1 slots"):
        retrieval_transfer.evaluate({"m": np.zeros((2, 1, 2))}, samples, cfg)
