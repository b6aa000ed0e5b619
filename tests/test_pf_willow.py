"""PF-WILLOW loader (real files and fixtures) and the Proposal Flow benchmark's PCK against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_jax.data.pf_willow import (PF_WILLOW_PARTS, load_pf_willow, ordered_pairs, pf_willow_classes,
                                         pf_willow_pairs, read_pts_coord)
from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.correspondence_metrics import pf_box_size, pf_pck, pf_pck_pairs


def _root(real_data):
    p = real_data / "pf_willow" / "PF-dataset-WILLOW"
    if not p.is_dir():
        pytest.skip("pf_willow/PF-dataset-WILLOW not present in the real-data folder")
    return p


# ------------------------------------------------------------------------------------------ real files
def test_real_pf_willow_samples(real_data):
    root = _root(real_data)
    classes = pf_willow_classes(root)
    assert list(classes) == ["car(G)", "car(S)", "duck(S)", "motorbike(S)", "winebottle(wC)", "winebottle(woC)"]
    samples = load_pf_willow(root)
    assert len(samples) == 10 * len(classes) and not samples.skipped
    assert all(s.points.shape == (10, 2) and s.visible.all() and s.names == PF_WILLOW_PARTS for s in samples)
    assert [s.extras["subclass"] for s in samples[::10]] == list(classes)  # sub-class-major, 10 images each
    car = samples[10]
    assert car.id == "car(S)/Cars_000a" and car.category == "car" and car.extras["subclass"] == "car(S)"
    # raw pts_coord(:,1) = (77.63201872, 145.18716578), 1-based -> 0-based
    np.testing.assert_allclose(car.points[0], [76.63201872, 144.18716578], atol=1e-4)
    # tight keypoint box: raw x in [18.62466578, 284.98495989], y in [79.56216578, 153.4592246]
    np.testing.assert_allclose(car.bbox, [17.62466578, 78.56216578, 283.98495989, 152.4592246], atol=1e-4)
    # every keypoint lies on its image (pixel extent -0.5 .. size - 0.5)
    for s in samples[::7]:
        h, w = load_image(s.image_path).shape[:2]
        assert (s.points >= -0.5).all() and (s.points[:, 0] <= w - 0.5).all() and (s.points[:, 1] <= h - 0.5).all()


def test_real_pf_willow_pairs_and_perfect_pck(real_data):
    root = _root(real_data)
    pairs = pf_willow_pairs(root, "duck(S)")
    assert len(pairs) == 90 and len({(a.id, b.id) for a, b in pairs}) == 90
    assert all(a.id != b.id and a.extras["subclass"] == b.extras["subclass"] == "duck(S)" for a, b in pairs)
    assert pairs[0][0].id == pairs[8][0].id != pairs[9][0].id  # source-major: 9 targets per source
    gt = np.stack([b.points for _, b in pairs])
    src = np.stack([a.points for a, _ in pairs])
    table = pf_pck(gt, gt, ["duck(S)"] * 90)
    assert table["0.1"] == {"duck(S)": 1.0, "mean": 1.0}
    # copying the source keypoints is a weak but non-trivial baseline: monotone in alpha, below 1
    base = pf_pck(src, gt, ["duck(S)"] * 90)
    assert 0.0 <= base["0.05"]["mean"] <= base["0.1"]["mean"] <= base["0.2"]["mean"] < 1.0


# ------------------------------------------------------------------------------------------ fixtures
def _write(folder, name, coords, image=True):
    folder.mkdir(parents=True, exist_ok=True)
    sio.savemat(folder / f"{name}.mat", {"pts_coord": np.asarray(coords, np.float64)})
    if image:
        Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(folder / f"{name}.png")


def test_one_based_to_zero_based(tmp_path):
    coords = np.stack([np.arange(1, 11), np.arange(11, 21)]).astype(float)  # x = 1..10, y = 11..20 (1-based)
    _write(tmp_path / "duck(S)", "a", coords)
    _write(tmp_path / "duck(S)", "b", coords + 0.5)
    pts = read_pts_coord(tmp_path / "duck(S)" / "a.mat")
    np.testing.assert_array_equal(pts[:, 0], np.arange(10))
    np.testing.assert_array_equal(pts[:, 1], np.arange(10, 20))
    s = load_pf_willow(tmp_path)
    assert [x.id for x in s] == ["duck(S)/a", "duck(S)/b"]
    np.testing.assert_array_equal(s[0].bbox, [0, 10, 9, 19])
    np.testing.assert_allclose(s[1].points, pts + 0.5)


def test_bad_files_name_file_and_field(tmp_path):
    good = np.ones((2, 10))
    _write(tmp_path / "car(S)", "ok", good)
    _write(tmp_path / "car(S)", "short", np.ones((2, 9)))
    _write(tmp_path / "car(S)", "nan", np.where(np.eye(2, 10) > 0, np.nan, 1.0))
    (tmp_path / "car(S)" / "nomat.png").write_bytes((tmp_path / "car(S)" / "ok.png").read_bytes())
    with pytest.raises(InputError) as e:
        load_pf_willow(tmp_path)
    assert e.value.field == "pts_coord" and e.value.source.endswith("nan.mat")
    got = load_pf_willow(tmp_path, skip_bad=True)
    assert [s.id for s in got] == ["car(S)/ok"]
    assert {(x.field, x.source.rsplit("/", 1)[-1]) for x in got.skipped} == {
        ("pts_coord", "nan.mat"), ("mat", "nomat.mat"), ("pts_coord", "short.mat")}
    assert "[2, 10]" in str([x for x in got.skipped if x.source.endswith("short.mat")][0])
    sio.savemat(tmp_path / "car(S)" / "ok.mat", {"other": good})
    with pytest.raises(InputError, match="pts_coord"):
        read_pts_coord(tmp_path / "car(S)" / "ok.mat")
    with pytest.raises(InputError, match="sub-class"):
        load_pf_willow(tmp_path, classes=["duck(S)"])
    with pytest.raises(InputError, match="root"):
        pf_willow_classes(tmp_path / "missing")



def test_a_keypoint_mat_without_its_png_is_refused_not_left_out(tmp_path, write_pf_willow):
    """A sub-class folder missing an image (its .mat there) was read as the images left: PCK on 6 of the 12 ordered
    pairs of 4 images, no word said. The missing PNG is one InputError naming it (with `skip_bad`: skipped and
    recorded, as a bad .mat is)."""
    root = write_pf_willow(tmp_path / "w", classes=("car(S)",), n=4)
    (root / "car(S)" / "im2.png").unlink()
    with pytest.raises(InputError) as e:
        load_pf_willow(root)
    assert e.value.field == "image" and e.value.source.endswith("car(S)/im2.png") and "missing" in str(e.value)
    got = load_pf_willow(root, skip_bad=True)
    assert [s.id for s in got] == ["car(S)/im0", "car(S)/im1", "car(S)/im3"]
    assert [(x.field, x.source.rsplit("/", 1)[-1]) for x in got.skipped] == [("image", "im2.png")]

def test_ordered_pairs():
    p = ordered_pairs(10)
    assert p.shape == (90, 2) and (p[:, 0] != p[:, 1]).all() and len({tuple(x) for x in p.tolist()}) == 90
    assert ordered_pairs(3).tolist() == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]


# ------------------------------------------------------------------------------------------ PF protocol PCK
def test_pf_pck_hand_computed():
    # class A target: box x 0..10, y 0..20 -> L = max(10, 20) = 20 (no +1); thresholds 1, 2, 4 px (strict <)
    ga = np.array([[0, 0], [10, 0], [0, 20], [5, 5]], float)
    # class B target: box x 0..4, y 0..2 -> L = 4; thresholds 0.2, 0.4, 0.8 px
    gb = np.array([[0, 0], [4, 0], [0, 2], [1, 1]], float)
    dx = lambda g, d: g + np.stack([np.asarray(d, float), np.zeros(4)], -1)
    pred = np.stack([dx(ga, [0.5, 1.0, 3.0, 4.0]),  # A1: hits 1/4, 2/4, 3/4 (1.0 and 4.0 sit on a threshold: miss)
                     dx(ga, [0, 0, 0, np.nan]),  # A2: a NaN prediction is a miss: 3/4 at every alpha
                     dx(gb, [0.1, 0.3, 0.9, 0.0])])  # B1: 2/4, 3/4, 3/4
    gt = np.stack([ga, ga, gb])
    np.testing.assert_array_equal(pf_box_size(gt), [20, 20, 4])
    np.testing.assert_allclose(pf_pck_pairs(pred, gt), [[0.25, 0.75, 0.5], [0.5, 0.75, 0.75], [0.75, 0.75, 0.75]])
    t = pf_pck(pred, gt, ["A", "A", "B"])
    assert set(t) == {"0.05", "0.1", "0.2"}
    assert t["0.05"] == pytest.approx({"A": 0.5, "B": 0.5, "mean": 0.5})
    # mean of sub-class means (0.625 + 0.75) / 2, not the pooled pair mean 2 / 3
    assert t["0.1"] == pytest.approx({"A": 0.625, "B": 0.75, "mean": 0.6875})
    assert t["0.2"] == pytest.approx({"A": 0.75, "B": 0.75, "mean": 0.75})
    # a missing ground-truth keypoint is left out of its pair's fraction
    gt2 = gt.copy()
    gt2[0, 0] = np.nan
    assert pf_pck_pairs(pred, gt2)[1, 0] == pytest.approx(1 / 3)
    with pytest.raises(InputError, match="subclass"):
        pf_pck(pred, gt, ["A", "B"])


def test_pf_pck_is_the_reference_protocol_by_hand():
    """PF's dense_flow_eva_WILLOW.m: L = max(w, h) of the box of the target's keypoints (not the source's, not the
    image), a keypoint counts when d / L < alpha (its histogram bins [a, b)); the per-sub-class means then their
    mean, which with the same number of pairs per sub-class (90 each, HPF's and SCOT's 900) is their mean over
    pairs."""
    tgt = np.array([[0, 0], [30, 0], [0, 10], [10, 5]], float)  # box 30 x 10: L = 30, thresholds 1.5, 3, 6 px
    src = tgt * 3  # a source box 90 x 30 must not set L
    pred = tgt + np.array([[1.0, 0], [0, 2.9], [3.0, 0], [4.0, 3.0]])  # d = 1, 2.9, 3 (on 0.1 L), 5
    assert pf_box_size(np.stack([tgt, src]))[0] == 30
    np.testing.assert_allclose(pf_pck_pairs(pred[None], tgt[None])[:, 0], [0.25, 0.5, 1.0])
    # two sub-classes of two pairs each: their mean of means is the mean over the four pairs
    gt = np.stack([tgt] * 4)
    preds = np.stack([pred, tgt, pred, pred + 100])  # per pair @0.1: 0.5, 1, 0.5, 0
    t = pf_pck(preds, gt, ["A", "A", "B", "B"])["0.1"]
    assert t == pytest.approx({"A": 0.75, "B": 0.25, "mean": 0.5})
    assert t["mean"] == pytest.approx(pf_pck_pairs(preds, gt)[1].mean())


@pytest.mark.parametrize("pred", [np.zeros((1, 4, 2)), np.zeros((3, 1, 2))], ids=["one pair", "one keypoint"])
def test_pf_pck_refuses_predictions_of_another_shape(pred):
    """pred is not broadcast against gt [3, 4, 2] (it was: every pair, or every keypoint, scored on one row)."""
    gt = np.arange(24, dtype=float).reshape(3, 4, 2)
    with pytest.raises(InputError, match="pred"):
        pf_pck_pairs(pred, gt)
    with pytest.raises(InputError, match="pred"):
        pf_pck(pred, gt, ["A"] * 3)


def test_pf_pck_refuses_a_target_box_of_no_size():
    """One finite target keypoint, or all at one place: L = 0, no threshold (was a RuntimeWarning and a miss)."""
    gt = np.array([[[5.0, 5.0], [np.nan, np.nan]], [[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [4.0, 0.0]]])
    with pytest.raises(InputError, match=r"positive size.*1 finite keypoint\(s\) in pair 0 \(2 such pairs\)"):
        pf_pck_pairs(gt, gt)
    with pytest.raises(InputError, match="0 finite keypoint"):
        pf_pck_pairs(gt[:1] * np.nan, gt[:1] * np.nan)
    assert pf_pck_pairs(gt[2:], gt[2:]).tolist() == [[1.0], [1.0], [1.0]]


@pytest.mark.parametrize("name", ["pf_pck_pairs", "pf_pck"])
def test_pf_pck_errors_name_the_function_called(name):
    """`pf_pck_pairs` shares `pf_pck`'s checks; its errors said "pf_pck", a function the user had not called."""
    gt = np.array([[[5.0, 5.0], [np.nan, np.nan]]])
    call = {"pf_pck_pairs": lambda p, g: pf_pck_pairs(p, g), "pf_pck": lambda p, g: pf_pck(p, g, ["A"] * len(g))}[name]
    for pred, g, field in [(np.zeros((2, 2, 2)), gt, "pred"), (np.zeros((1, 3)), np.zeros((1, 3)), "gt"),
                           (gt, gt, "gt")]:
        with pytest.raises(InputError) as e:
            call(pred, g)
        assert (e.value.source, e.value.field) == (name, field)
        assert str(e.value).startswith(f"{name}: field '{field}'")


@pytest.mark.parametrize("labels", [[["A"], ["B"]], [["A", "A"], ["B", "B"]]], ids=["[P, 1] column", "[P, 2]"])
def test_pf_pck_refuses_sub_class_labels_that_are_not_one_per_pair(labels):
    """Labels [P, 1] (a table's column) were a ValueError traceback from np.bincount; [P, 2] a count mismatch: both
    are one line naming subclass and the shape got. A [P] list scores."""
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]]] * 2)
    with pytest.raises(InputError, match=r"subclass.*shape \[P=2\] \(one per pair\), got \(2, "):
        pf_pck(gt, gt, np.array(labels))
    assert pf_pck(gt, gt, ["A", "B"])["0.1"] == {"A": 1.0, "B": 1.0, "mean": 1.0}


def test_sub_class_with_one_image_is_refused_before_work(tmp_path, capsys):
    """A sub-class folder with one annotated image has no ordered pair: one line naming it, exit 2."""
    import convcorr_cli.main as cli
    from convcorr_eval.long2014.pf_willow_protocol import check_pairs

    coords = np.stack([np.arange(1, 11), np.arange(11, 21)]).astype(float)
    _write(tmp_path / "duck(S)", "a", coords)
    _write(tmp_path / "duck(S)", "b", coords)
    _write(tmp_path / "car(S)", "a", coords)
    check_pairs(tmp_path, ["duck(S)"])
    with pytest.raises(InputError, match=r"car\(S\).*at least 2 annotated images"):
        check_pairs(tmp_path, ["duck(S)", "car(S)"])
    assert cli.main(["eval", "pf-willow", "--root", str(tmp_path), "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "car(S)" in err[0] and "images" in err[0]
    assert not (tmp_path / "runs").exists()


def test_mixed_view_pairs_are_every_cross_pair_of_two_sub_classes(tmp_path):
    """`pf_willow_set(mixed=...)`: the pairs within each sub-class, then every image of A to every image of B and
    back, grouped "A+B"; a set not made of two sub-classes present is refused naming `mixed`."""
    from convcorr_eval.long2014.pf_willow_protocol import pf_willow_set

    coords = np.stack([np.arange(1, 11), np.arange(11, 21)]).astype(float)
    for sub, names in (("car(G)", "ab"), ("car(S)", "cde")):
        for n in names:
            _write(tmp_path / sub, n, coords)
    samples, pairs, groups = pf_willow_set(tmp_path, mixed=["car(G)+car(S)"])
    ids = [s.id for s in samples]
    assert len(samples) == 5 and list(groups).count("car(G)") == 2 and list(groups).count("car(S)") == 6
    cross = pairs[groups == "car(G)+car(S)"]
    g, s = [0, 1], [2, 3, 4]  # car(G) a, b; car(S) c, d, e (sub-class order)
    assert [tuple(p) for p in cross] == [(i, j) for i in g for j in s] + [(j, i) for j in s for i in g], ids
    assert all(x.image is not None for x in samples)
    bare, bare_pairs, bare_groups = pf_willow_set(tmp_path, mixed=["car(G)+car(S)"], with_images=False)
    assert [x.id for x in bare] == ids and all(x.image is None for x in bare)  # the same set, no image decoded
    np.testing.assert_array_equal(bare_pairs, pairs)
    np.testing.assert_array_equal(bare_groups, groups)
    with pytest.raises(InputError, match="mixed"):
        pf_willow_set(tmp_path, mixed=["car(G)+duck(S)"])
    with pytest.raises(InputError, match="mixed"):
        pf_willow_set(tmp_path, mixed=["car(G)+car(G)"])
