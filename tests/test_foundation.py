"""Shared foundation: error type, atomic writes, sample schema, metrics, CLI dispatch."""

import dataclasses
import json
import os
import warnings

import numpy as np
import pytest

import convcorr_cli.main as cli
from convcorr_jax.core import correspondence_metrics, io, metrics, segmentation_metrics
from convcorr_jax.data.types import KeypointSample, load_image
from convcorr_jax.core.errors import InputError


def test_input_error_names_file_field_expectation():
    e = InputError("a/b.xml", "keypoints/x", "a finite float", "nan")
    assert str(e) == "a/b.xml: field 'keypoints/x': expected a finite float, got nan"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and os.listdir(tmp_path) == []
    io.write_json(target, {"a": np.float32(1.5)})
    assert json.loads(target.read_text()) == {"a": 1.5}


@pytest.mark.parametrize("name", ["file", "allow_pickle"])
def test_save_npz_refuses_the_names_of_np_savez_arguments(tmp_path, name):
    target = tmp_path / "a.npz"
    with pytest.raises(InputError, match=f"save_npz: field 'arrays'.*{name}"):
        io.save_npz(target, x=np.ones(2), **{name: np.zeros(3)})
    assert os.listdir(tmp_path) == []
    io.save_npz(target, x=np.ones(2), path=np.zeros(3))  # save_npz's own argument name is free
    with np.load(target) as z:
        assert sorted(z.files) == ["path", "x"] and z["path"].tolist() == [0, 0, 0]


def test_sample_schema_checks_shapes():
    names = ("a", "b")
    s = KeypointSample(np.zeros((2, 2), np.float32), np.ones(2, bool), names, np.zeros(4, np.float32), "x", "0")
    assert s.num_keypoints == 2
    with pytest.raises(InputError, match="points"):
        KeypointSample(np.zeros((3, 2), np.float32), np.ones(2, bool), names, np.zeros(4, np.float32), "x", "0")


def test_loaded_image_returns_the_image_or_names_the_sample_without_one():
    img = np.zeros((4, 5, 3), np.uint8)
    bare = KeypointSample(np.zeros((1, 2), np.float32), np.ones(1, bool), ("a",), np.zeros(4, np.float32), "x", "s7")
    assert dataclasses.replace(bare, image=img).loaded_image() is img
    for sample, source in ((bare, "s7"), (dataclasses.replace(bare, image_path="/d/im.jpg"), "/d/im.jpg")):
        with pytest.raises(InputError) as e:
            sample.loaded_image()
        assert (e.value.source, e.value.field) == (source, "image")
        assert str(e.value) == f"{source}: field 'image': expected a loaded image (a loader's " \
                               "with_images=True, or sample.with_image())"


def test_load_image_errors(tmp_path):
    with pytest.raises(InputError, match="missing file"):
        load_image(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0garbage")
    with pytest.raises(InputError, match="readable image"):
        load_image(bad)
    from PIL import Image

    Image.new("L", (5, 4), 7).save(tmp_path / "g.png")
    Image.new("CMYK", (5, 4), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    assert load_image(tmp_path / "g.png").shape == (4, 5, 3)
    assert load_image(tmp_path / "c.jpg").shape == (4, 5, 3)
    with pytest.raises(InputError, match="image size"):
        load_image(tmp_path / "g.png", expected_size=(4, 5))


def test_pck_hand_computed():
    gt = np.array([[[0, 0], [10, 0], [0, 10]]], float)
    pred = np.array([[[0, 1], [10, 3], [np.nan, np.nan]]], float)
    vis = np.array([[True, True, False]])
    # distances 1 and 3; norm 20, alpha 0.1 -> threshold 2: one of two evaluated keypoints is correct.
    assert metrics.pck(pred, gt, vis, np.array([20.0]), 0.1) == 0.5
    np.testing.assert_allclose(metrics.normalised_error(pred[:, :2], gt[:, :2], np.array([2.0])), [1.0])


def test_pck_threshold_boundary_and_nothing_evaluated():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[2.0, 0.0], [0.0, 2.5]]])  # exactly at alpha * norm = 2: a hit; 2.5: a miss
    assert metrics.pck(pred, gt, np.ones((1, 2), bool), np.array([20.0]), 0.1) == 0.5
    for alpha, off in ((0.29, 29.0), (0.57, 57.0)):  # exactly alpha x 100 off, though 0.29 * 100 < 29 in floats
        at = np.array([[[off, 0.0]]])
        assert metrics.pck(at, np.zeros((1, 1, 2)), np.ones((1, 1), bool), np.array([100.0]), alpha) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN, without numpy's "Mean of empty slice"
        assert np.isnan(metrics.pck(pred, gt, np.zeros((1, 2), bool), np.array([20.0])))


def test_pck_leaves_out_a_person_without_a_normaliser():
    """A NaN norm (`Skeleton.normaliser_lengths` of a person missing a torso end) leaves that person out (NaN
    hits), as mmpose's `_calc_distances` masks a zero normaliser; it was scored as misses at every keypoint."""
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])  # person 1 perfect, no normaliser
    norm = np.array([20.0, np.nan])
    vis = np.ones((2, 2), bool)
    hits = metrics.pck_hits(pred, gt, vis, norm, 0.1)
    np.testing.assert_array_equal(hits[0], [1.0, 0.0])
    assert np.isnan(hits[1]).all()
    assert metrics.pck(pred, gt, vis, norm, 0.1) == 0.5  # 1 of person 0's 2 (it was 1 of 4)
    np.testing.assert_array_equal(metrics.pck_per_keypoint(pred, gt, vis, norm, 0.1), [1.0, 0.0])


@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_pck_refuses_a_finite_norm_not_above_zero(bad):
    """A zero norm would make every prediction but an exact one a miss, a negative one every prediction: refused,
    naming the first such instance and its value; NaN and inf still leave an instance out."""
    gt = np.zeros((4, 2, 2))
    norm = np.array([20.0, np.nan, bad, bad])
    with pytest.raises(InputError,
                       match=rf"pck_hits: field 'norm': expected values > 0 .*got {bad:g} at instance 2 \(2 "):
        metrics.pck_hits(gt, gt, None, norm, 0.1)
    with pytest.raises(InputError, match="instance 2"):
        metrics.pck(gt, gt, None, norm, 0.1)
    hits = metrics.pck_hits(gt, gt, None, np.array([20.0, np.nan, np.inf, 1e-9]), 0.1)
    assert np.isnan(hits[1:3]).all() and (hits[[0, 3]] == 1.0).all()


@pytest.mark.parametrize("name", ["pck_hits", "pck", "pck_per_keypoint"])
def test_pck_errors_name_the_function_called(name):
    """`pck` and `pck_per_keypoint` share `pck_hits`' checks; their errors all said "pck", whichever was called."""
    gt = np.zeros((2, 3, 2))
    for pred, vis, norm, field in [(np.zeros((1, 3, 2)), None, np.ones(2), "pred"),
                                   (gt, np.ones((2, 2), bool), np.ones(2), "visible"),
                                   (gt, None, np.array([1.0, 0.0]), "norm")]:
        with pytest.raises(InputError) as e:
            getattr(metrics, name)(pred, gt, vis, norm, 0.1)
        assert (e.value.source, e.value.field) == (name, field)
        assert str(e.value).startswith(f"{name}: field '{field}'")


def test_torso_pck_protocol_of_sapp_taskar_by_hand():
    """FLIC and LSP torso PCK as eval_pck.m (Sapp & Taskar; bearpaw/eval_pose utils/eval_pck.m): the torso is
    ||l shoulder - r hip|| of the ground truth, a joint counts when d <= alpha * torso, a group averages its two
    sides (equal to pooling when both are labelled, as for every FLIC test person)."""
    from convcorr_jax.data import skeletons
    from convcorr_jax.pose import joints

    flic = skeletons.get("flic")
    gt = np.zeros((1, 11, 2))
    gt[0, flic.names.index("lsho")] = (0.0, 0.0)
    gt[0, flic.names.index("rhip")] = (60.0, 80.0)  # torso 100 px
    gt[0, flic.names.index("rsho")] = (50.0, 0.0)  # r shoulder - l hip is another length: not the torso
    gt[0, flic.names.index("lhip")] = (0.0, 30.0)
    torso = flic.normaliser_lengths(gt, np.ones((1, 11), bool))
    assert torso[0] == pytest.approx(100.0)
    pred = gt.copy()
    pred[0, flic.names.index("lelb"), 0] += 5.0  # exactly 0.05 x 100: a hit (<=)
    pred[0, flic.names.index("relb"), 0] += 5.001  # just beyond: a miss
    pred[0, flic.names.index("lwri"), 1] += 20.0  # a hit at 0.2 only
    g05 = joints.group_pck(pred, gt, np.ones((1, 11), bool), torso, flic.groups, 0.05)
    g20 = joints.group_pck(pred, gt, np.ones((1, 11), bool), torso, flic.groups, 0.2)
    assert (g05["Elbow"], g05["Wrist"], g20["Elbow"], g20["Wrist"]) == (50.0, 50.0, 100.0, 100.0)
    lsp = skeletons.get("lsp")
    assert lsp.torso == (9, 2) and [lsp.names[j] for j in lsp.torso] == ["l shoulder", "r hip"]  # its 10 and 3


def test_normalised_error_of_a_face_with_no_visible_point_is_nan_without_a_warning():
    gt = np.zeros((3, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]], [[np.nan, 0.0], [0.0, 2.0]]])
    vis = np.array([[True, True], [False, False], [True, True]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN for the second face, without numpy's "Mean of empty slice"
        err = metrics.normalised_error(pred, gt, np.array([2.0, 1.0, 4.0]), vis)
        all_nan = metrics.normalised_error(pred[:1], gt[:1], np.ones(1), np.zeros((1, 2), bool))
    # face 0: (5 + 1) / 2 points / norm 2; face 1: none visible; face 2: the NaN prediction of a visible point a miss
    np.testing.assert_allclose(err, [1.5, np.nan, np.inf])
    assert np.isnan(all_nan).all() and err.dtype == np.float64


def test_normalised_error_of_one_counted_point_is_its_distance():
    """The mean runs over the counted points only: one visible point, its distance / norm (hidden points far off)."""
    pred = np.array([[[3.0, 4.0], [90.0, 90.0], [-50.0, 7.0]]])
    err = metrics.normalised_error(pred, np.zeros((1, 3, 2)), np.array([2.0]), np.array([[True, False, False]]))
    np.testing.assert_allclose(err, [2.5])


def test_normalised_error_scores_a_non_finite_prediction_as_a_miss():
    """As the module promises: a NaN / inf prediction of a counted point makes the face's error inf; it used to be
    left out of the face's mean (a face with one NaN point scored better than one with every point off). A hidden
    point's NaN prediction and a NaN ground truth stay out of the mean."""
    gt = np.zeros((2, 3, 2))
    pred = np.full((2, 3, 2), 3.0)
    pred[:, 2] = np.nan
    assert np.isinf(metrics.normalised_error(pred, gt, np.ones(2))).all()
    vis = np.array([[True, True, False], [True, True, True]])
    np.testing.assert_allclose(metrics.normalised_error(pred, gt, np.ones(2), vis), [np.hypot(3, 3), np.inf])
    gt[:, 2] = np.nan
    np.testing.assert_allclose(metrics.normalised_error(pred, gt, np.ones(2)), [np.hypot(3, 3)] * 2)


def test_normalised_error_leaves_out_an_instance_whose_norm_is_not_finite_as_pck_does():
    """An inf norm divided the error to 0, a perfect score, where `pck_hits` leaves the instance out; now NaN, as
    for a NaN norm, with the other instances scored as before."""
    gt = np.zeros((3, 2, 2))
    pred = np.full((3, 2, 2), 3.0)
    norm = np.array([2.0, np.inf, np.nan])
    err = metrics.normalised_error(pred, gt, norm)
    np.testing.assert_allclose(err, [np.hypot(3, 3) / 2, np.nan, np.nan])
    assert np.isnan(metrics.pck_hits(pred, gt, None, norm, 0.1)[1:]).all()



@pytest.mark.parametrize("name, home", [
    ("segmentation_average_precision", segmentation_metrics), ("segmentation_iou", segmentation_metrics),
    ("PF_ALPHAS", correspondence_metrics), ("pf_box_size", correspondence_metrics),
    ("pf_pck_pairs", correspondence_metrics), ("pf_pck", correspondence_metrics)])
def test_moved_metrics_still_answer_from_metrics_for_one_release(name, home):
    """The segmentation and Proposal Flow metrics moved out of `metrics`: their former home gives the very object with
    a DeprecationWarning naming the new module (resolved on use: the new modules import `metrics`), and holds no
    attribute of that name; other names are still an AttributeError."""
    assert name not in vars(metrics)
    with pytest.warns(DeprecationWarning, match=rf"metrics\.{name} is deprecated.*{home.__name__}\.{name}"):
        assert getattr(metrics, name) is getattr(home, name)
    with pytest.raises(AttributeError):
        metrics.no_such_metric

@pytest.mark.parametrize("args,field", [
    ((np.zeros((1, 3, 1)), np.zeros((1, 3, 1)), np.ones((1, 3), bool), np.ones(1)), "gt"),  # 1-D points scored
    ((np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), np.ones((1, 2), bool), np.ones(1)), "visible"),
    ((np.zeros((3, 2)), np.zeros((3, 2)), np.ones(3, bool), np.ones(1)), "gt"),
    ((np.zeros((1, 3, 2)), np.zeros((2, 3, 2)), None, np.ones(2)), "pred"),
    ((np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), None, 20.0), "norm"),
])
def test_pck_bad_shapes_raise_input_error(args, field):
    """[N, K, 1] points used to be scored as if 1-D; other shapes raised IndexError or a broadcast ValueError."""
    with pytest.raises(InputError, match=field):
        metrics.pck(*args)


def test_cli_overview_and_unknown(capsys):
    assert cli.main([]) == 0
    assert "commands:" in capsys.readouterr().out
    assert cli.main(["no-such-command"]) == 2


def test_cli_eval_pck(tmp_path, capsys):
    """`convcorr eval pck`: per-joint PCK, the pooled score and the curve printed; JSON of the per-joint mean."""
    gt = np.zeros((2, 3, 2))
    pred = gt + np.array([[[1, 0], [3, 0], [25, 0]], [[0, 1], [10, 0], [0, 25]]], np.float64)
    np.savez(tmp_path / "gt.npz", points=gt, visible=np.array([[1, 1, 1], [1, 1, 0]], bool), norm=np.full(2, 100.0))
    np.save(tmp_path / "preds.npy", pred)
    out = tmp_path / "pck.json"
    assert cli.main(["eval", "pck", "--preds", str(tmp_path / "preds.npy"), "--gt", str(tmp_path / "gt.npz"),
                     "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert ("PCK@0.05 (%) per joint: 100.0 50.0 0.0\nPCK@0.05 (%) mean of the 3 joints scored: 50.0; pooled over "
            "every visible keypoint: 60.0\ncurve (pooled): 0:0.0 0.01:") in text
    assert " 0.2:80.0\n" in text
    saved = json.loads(out.read_text())
    assert set(saved) == {"alpha", "per_joint", "mean", "pooled", "curve", "instances", "keypoints", "nonfinite",
                          "about", "config", "versions", "devices", "seconds"} and saved["mean"] == 50.0
    assert (saved["pooled"], saved["instances"], saved["keypoints"]) == (60.0, 2, 5)
    assert saved["about"]["unit"] == "percent" and "torso" in saved["about"]["normaliser"]
    assert saved["nonfinite"] == 0
    assert saved["per_joint"] == [100.0, 50.0, 0.0] and len(saved["curve"]) == 21 and saved["curve"]["0.2"] == 80.0
    assert cli.main(["eval", "pck", "--preds", str(tmp_path / "gt.npz"), "--gt", str(tmp_path / "gt.npz")]) == 2
    assert "preds" in capsys.readouterr().err  # gt.npz holds no `preds`


def test_cli_eval_pck_joint_never_visible(tmp_path, capsys, recwarn):
    """A joint never visible is "-" in the console and null in the JSON; the printed mean is the JSON's (over the
    joints scored), where it printed "nan" and, as "mean", the pooled score."""
    gt = np.zeros((2, 3, 2))
    pred = gt + np.array([[[1, 0], [25, 0], [0, 0]], [[0, 1], [0, 0], [0, 0]]], np.float64)
    np.savez(tmp_path / "gt.npz", points=gt, visible=np.array([[1, 1, 0], [1, 1, 0]], bool), norm=np.full(2, 100.0))
    np.save(tmp_path / "preds.npy", pred)
    args = ["eval", "pck", "--preds", str(tmp_path / "preds.npy"), "--gt", str(tmp_path / "gt.npz")]
    assert cli.main([*args, "--json", str(tmp_path / "o.json")]) == 0
    text = capsys.readouterr().out
    assert "per joint: 100.0 50.0 -\n" in text and "mean of the 2 joints scored: 75.0;" in text
    assert "nan" not in text and json.loads((tmp_path / "o.json").read_text())["per_joint"][2] is None
    np.savez(tmp_path / "gt.npz", points=gt, visible=np.zeros((2, 3), bool), norm=np.full(2, 100.0))
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "per joint: - - -\n" in text and "mean of the 0 joints scored: -;" in text and "nan" not in text
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_atomic_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    """As a plain open() would: a private (0600) file rewritten stays private; a new file gets 0666 less the umask."""
    target = tmp_path / "private.json"
    target.write_text("{}")
    os.chmod(target, 0o600)
    io.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1} and (target.stat().st_mode & 0o777) == 0o600
    umask = os.umask(0o022)
    try:
        io.write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(umask)
    assert ((tmp_path / "new.txt").stat().st_mode & 0o777) == 0o644


def test_normalised_error_refuses_shapes_that_only_broadcast_and_a_norm_not_above_zero():
    """A norm [N, 1] (a column, as a per-point division takes it) gave an [N, N] table whose mean was no face's error,
    a norm [1] or predictions [K, 2] were broadcast over every face, and a negative norm gave a negative error; now
    each is one InputError. A NaN norm still leaves the face NaN."""
    gt = np.zeros((2, 3, 2))
    pred = np.full((2, 3, 2), 3.0)
    pred[1] = 6.0
    err = np.hypot(3, 3) * np.array([1.0, 2.0]) / np.array([2.0, 4.0])
    np.testing.assert_allclose(metrics.normalised_error(pred, gt, np.array([2.0, 4.0])), err)
    for args, field in (((pred, gt, np.array([[2.0], [4.0]])), "norm"), ((pred, gt, np.array([2.0])), "norm"),
                        ((pred[0], gt, np.array([2.0, 4.0])), "pred"), ((pred, gt[:, :2], np.ones(2)), "pred"),
                        ((pred, gt, np.ones(2), np.ones(3, bool)), "visible")):
        with pytest.raises(InputError, match=f"normalised_error: field '{field}': expected shape"):
            metrics.normalised_error(*args)
    with pytest.raises(InputError, match=r"field 'norm': expected values > 0 \(pixels\), got -2 at instance 0"):
        metrics.normalised_error(pred, gt, np.array([-2.0, 0.0]))
    np.testing.assert_allclose(metrics.normalised_error(pred, gt, np.array([np.nan, 4.0])), [np.nan, err[1]])
