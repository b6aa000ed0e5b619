"""`pose.person_boxes` (the torso inside a whole-person box) and `pose.readout`'s warning threshold, against
hand-computed values."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from convcorr_jax.core import geometry
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import person_boxes as pb
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.estimation import Poses


def test_first_affines_are_squares_of_side_times_the_longer_side_about_the_shifted_centre():
    box = np.array([[10.0, 20.0, 49.0, 99.0]])  # 40 x 80 px
    a = pb._first_affines(box, 64, side=1.5, shift=0.25)
    # centre (29.5, 59.5) + (0, 0.25 * 80) = (29.5, 79.5); side 1.5 * 80 = 120
    corners = geometry.transform_points(np.array([[[29.5 - 60, 79.5 - 60], [29.5 + 60, 79.5 + 60]]]), a)
    np.testing.assert_allclose(np.asarray(corners)[0], [[-0.5, -0.5], [63.5, 63.5]], atol=1e-9)


def test_torso_from_points_scales_the_torso_joints_box_about_its_centre():
    pts = np.full((1, 11, 2), np.nan)
    pts[0, [0, 3, 6, 7]] = [[10, 10], [30, 10], [12, 50], [28, 50]]  # shoulders and hips; the rest unlabelled
    got = pb.torso_from_points(pts, (0, 3, 6, 7), ratio=1.0, scale=1.0)
    np.testing.assert_allclose(got, [[10, 10, 30, 50]])  # the tight box itself
    got = pb.torso_from_points(pts, (0, 3, 6, 7), ratio=0.5, scale=2.0)
    np.testing.assert_allclose(got, [[10, 10, 30, 50]])
    got = pb.torso_from_points(pts, (0, 3, 6, 7), ratio=1.0, scale=2.0)
    # centre (20, 30), extent (21, 41) -> (42, 82): inclusive bounds centre -/+ (extent - 1) / 2
    np.testing.assert_allclose(got, [[20 - 20.5, 30 - 40.5, 20 + 20.5, 30 + 40.5]])


def test_boxes_from_joints_move_each_side_out_by_the_margin_of_the_longer_side():
    pts = np.array([[[0.0, 0.0], [20.0, 100.0], [np.nan, np.nan]]])
    np.testing.assert_allclose(pb.boxes_from_joints(pts, 0.1), [[-10, -10, 30, 110]])


def test_person_boxes_are_checked_against_their_images():
    """`_check_person_boxes`: one box per image, each finite, ordered and overlapping its image (partly outside is
    fine); one error naming person_boxes[i] and images[i]."""
    images = [np.zeros((40, 60, 3), np.uint8), np.zeros((80, 30, 3), np.uint8)]
    ok = pb._check_person_boxes([(-10, -10, 5, 5), (29, 79, 100, 200)], images)
    np.testing.assert_array_equal(ok, [[-10, -10, 5, 5], [29, 79, 100, 200]])
    for bad, field in (([(0, 0, 5, 5)], "person_boxes"), ([(0, 0, 5, 5), (30, 0, 40, 10)], r"person_boxes\[1\]"),
                       ([(5, 0, 4, 4), (0, 0, 1, 1)], r"person_boxes\[0\]"),
                       ([(0, 0, 5, 5), (0, 0, 1, np.inf)], r"person_boxes\[1\]")):
        with pytest.raises(InputError, match=field) as e:
            pb._check_person_boxes(bad, images, "f")
        assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize("bad", [{"side": 0.0}, {"shift": 1.0}, {"scale": -1.0}, {"side": float("nan")}])
def test_bad_settings_are_one_error_naming_the_setting(bad):
    settings = {**pb.PERSON_BOX, **bad}
    name = next(iter(bad))
    with pytest.raises(InputError, match=name):
        pb._check_settings(settings["side"], settings["shift"], settings["scale"])


def test_right_people_need_every_scored_arm_joint_within_02():
    gt = np.zeros((3, 2, 2))
    norm = np.array([10.0, 10.0, 10.0])
    pred = gt.copy()
    pred[1, 1] = [2.5, 0]  # 0.25 x norm: wrong
    pred[2, 1] = [9.0, 9.0]  # unscored
    scored = np.array([[True, True], [True, True], [True, False]])
    np.testing.assert_array_equal(pose_readout.right_people(pred, gt, scored, norm, (0, 1)), [True, False, True])
    none = np.zeros((3, 2), bool)
    assert not pose_readout.right_people(pred, gt, none, norm, (0, 1)).any()


def test_warning_threshold_is_the_5th_percentile_of_the_right_peoples_mean_confidence():
    conf = np.stack([np.full(4, v) for v in np.linspace(0, 1, 101)])
    right = np.ones(101, bool)
    right[:50] = False  # the right people's means: 0.50 ... 1.00
    assert pose_readout.warning_threshold(conf, right) == pytest.approx(np.quantile(np.linspace(0.5, 1, 51), 0.05))
    with pytest.raises(InputError, match="right"):
        pose_readout.warning_threshold(conf, np.zeros(101, bool))


def test_decide_keeps_the_threshold_in_the_readout_and_its_record(tmp_path):
    scores = {pose_readout.Readout("cascade", False): {"Elbow": 0.5, "Wrist": 0.4}}
    choice, record = pose_readout.decide(scores, ("Elbow", "Wrist"), "elbows and wrists", "val", 10, "crops",
                                         (0.31234, 7))
    assert choice.warn_below == 0.3123 and record["warning"]["right_people"] == 7
    assert choice == pose_readout.Readout("cascade", False)  # the threshold is not part of the read-out's identity
    pose_readout.save_readout(tmp_path, choice, record)
    loaded, rec = pose_readout.load_readout(tmp_path)
    assert loaded.warn_below == 0.3123 and rec["warning"]["threshold"] == 0.3123
    with pytest.raises(InputError, match="warn_below"):
        pose_readout.Readout("cascade", False, 1.5)


def test_choose_passes_over_candidates_with_nothing_visible_and_falls_back_to_the_default():
    """A candidate whose groups' mean is NaN (no visible wrist on the split) is not chosen, even first; with no
    candidate scored the choice is the default read-out and the record says it was not a choice."""
    R = pose_readout.Readout
    nan = float("nan")
    scores = {R("coarse_refined", False): {"Elbow": nan, "Wrist": 0.9},
              R("cascade", False): {"Elbow": 0.5, "Wrist": 0.4}}
    assert pose_readout.choose(scores, ("Elbow", "Wrist")) == R("cascade", False)
    scores = {R("coarse_refined", False): {"Elbow": nan, "Wrist": nan},
              R("cascade", False): {"Elbow": nan, "Wrist": 1.0}, R("cascade", True): {"Elbow": nan, "Wrist": nan}}
    choice, record = pose_readout.decide(scores, ("Elbow", "Wrist"), "elbows and wrists", "val", 3, "crops")
    assert choice == R(pose_readout.DEFAULT_NAME, False)
    assert "not a choice" in record["rule"] and record["scores"]["cascade"] == {"Elbow": None, "Wrist": 100.0}
    json.dumps(record, allow_nan=False)  # strict JSON: the NaN scores are null


def test_a_readout_file_with_spatial_spelled_as_a_string_is_refused(tmp_path):
    """readout.json's "spatial" is a JSON boolean: "false" as a string (truthy) is refused, not read as true."""
    pose_readout.save_readout(tmp_path, pose_readout.Readout("cascade", False), {"rule": "given"})
    path = tmp_path / pose_readout.FILE
    record = json.loads(path.read_text())
    record["readout"]["spatial"] = "false"
    path.write_text(json.dumps(record))
    with pytest.raises(InputError, match="readout.spatial.*got .false.$") as e:
        pose_readout.load_readout(tmp_path)
    assert str(path) in str(e.value)


def test_poses_warn_only_below_the_threshold():
    conf = np.array([[0.2, 0.4], [0.6, 0.8]], np.float32)
    p = Poses(np.zeros((2, 2, 2), np.float32), conf, ("a", "b"), "cascade", False, np.zeros((2, 2), np.float32))
    assert not p.warned.any() and p.as_dicts()[0]["warning"] is None  # no threshold: no warning
    p = dataclasses.replace(p, warn_below=0.5)
    np.testing.assert_array_equal(p.warned, [True, False])
    assert "0.30 below 0.50" in p.warning(0) and p.warning(1) is None


def test_training_chooses_the_readout_and_its_threshold_from_the_held_out_predictions():
    """`model_folder.choose_readout` with the predictions training made: the rule's read-out (here the cascade,
    exact on 8 of 10 people) and the threshold from the peaks of the people it gets right, by hand."""
    from convcorr_jax.data.skeletons import FLIC
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.person_crops import PoseArrays
    from convcorr_train import pose_configs

    rng = np.random.default_rng(0)
    n, k = 10, FLIC.num_joints
    gt = rng.uniform(10, 50, (n, k, 2))
    held = PoseArrays(np.zeros((n, 8, 8, 3), np.uint8), gt, np.ones((n, k), bool), np.full(n, 20.0))
    cascade = gt.copy()
    cascade[[3, 7], FLIC.groups["Wrist"][0]] += 10.0  # 0.5 x norm: those two people are wrong
    preds = {name: gt + 6.0 for name in pose_readout.NAMES}  # 0.42 x norm: every joint wrong
    preds["cascade"] = cascade
    preds["peak"] = rng.uniform(0, 1, (n, k))
    cfg = pose_configs.get_config("flic_tiny")
    choice, record = model_folder.choose_readout(cfg, None, held, FLIC, preds=preds)
    right = np.ones(n, bool)
    right[[3, 7]] = False
    want = float(np.quantile(preds["peak"].mean(-1)[right], pose_readout.WARN_QUANTILE))
    assert choice.name == "cascade" and not choice.spatial
    assert choice.warn_below == round(want, 4) and record["warning"]["right_people"] == 8


def test_check_shape_names_the_field_and_the_sizes_it_expected():
    from convcorr_jax.core.errors import check_shape

    dims = check_shape(np.zeros((4, 3, 2)), "N K 2", "f", "points")
    assert dims == {"N": 4, "K": 3}
    assert check_shape(np.zeros((7, 5, 4, 3, 2)), "* K 2", "f", "x", {"K": 3}) == {"K": 3}
    for bad, spec, known, msg in (
            (np.zeros((4, 3)), "N K 2", None, "expected shape [N, K, 2], got (4, 3)"),
            (np.zeros((5, 3, 2)), "N K 2", dims, "expected shape [N=4, K=3, 2], got (5, 3, 2)"),
            (np.zeros((4, 2, 2)), "N N 2", None, "expected shape [N, N, 2], got (4, 2, 2)")):
        with pytest.raises(InputError) as e:
            check_shape(bad, spec, "f", "points", known)
        assert str(e.value) == f"f: field 'points': {msg}"
    with pytest.raises(InputError, match=r"person_boxes.*\[N, 4\]"):
        pb._first_affines(np.zeros((2, 3)), 64, 1.0, 0.0)
    with pytest.raises(InputError, match=r"field 'right': expected shape \[N=3\]"):
        pose_readout.warning_threshold(np.zeros((3, 2)), np.ones(4, bool))
