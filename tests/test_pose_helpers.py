"""Tiny stand-in people generator for the pose tests (stick figures with the 16 MPII joints)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from convcorr_jax.data import skeletons
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose.data import PoseArrays, torso_size

# MPII skeleton edges
EDGES = [(0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12), (12, 7),
         (7, 13), (13, 14), (14, 15)]


def stick_people(n: int, size: int = 32, seed: int = 0) -> PoseArrays:
    rng = np.random.default_rng(seed)
    imgs, pts, vis, norm = [], [], [], []
    for _ in range(n):
        s = size / 32.0
        c = np.array([size / 2, size / 2]) + rng.normal(0, 2 * s, 2)
        p = np.zeros((16, 2))
        p[6] = c + [0, 3 * s]
        p[7] = c - [0, 5 * s]
        p[8] = p[7] - [0, 2 * s]
        p[9] = p[8] - [0, 3 * s]
        p[2], p[3] = p[6] + [-3 * s, 0], p[6] + [3 * s, 0]
        p[12], p[13] = p[7] + [-4 * s, 0], p[7] + [4 * s, 0]
        for a, b, cc in ((2, 1, 0), (3, 4, 5), (12, 11, 10), (13, 14, 15)):
            ang = rng.uniform(0.3, 2.8)
            p[b] = p[a] + 5 * s * np.array([np.cos(ang), np.sin(ang)])
            ang2 = ang + rng.uniform(-0.8, 0.8)
            p[cc] = p[b] + 5 * s * np.array([np.cos(ang2), np.sin(ang2)])
        p = np.clip(p, 0, size - 1)
        im = Image.fromarray((rng.uniform(0, 60, (size, size, 3))).astype(np.uint8))
        d = ImageDraw.Draw(im)
        for i, (a, b) in enumerate(EDGES):
            d.line([tuple(p[a]), tuple(p[b])], fill=(255, 40 + 13 * i, 200 - 10 * i), width=max(1, int(s)))
        imgs.append(np.asarray(im))
        pts.append(p.astype(np.float32))
        v = np.ones(16, bool)
        vis.append(v)
        norm.append(torso_size(p, skeletons.MPII))
    return PoseArrays(np.stack(imgs), np.stack(pts), np.stack(vis), np.asarray(norm, np.float32))


def test_train_cli_lists_every_config():
    """`--config` takes exactly the names of the one registry of pose configs, and each builds its TrainConfig."""
    import argparse

    from convcorr_train import pose_configs

    from convcorr_cli import train as cli

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    pose = p._subparsers._group_actions[0].choices["pose"]
    actions = {a.dest: a for a in pose._actions}
    assert tuple(actions["config"].choices) == tuple(pose_configs.CONFIGS) == pose_configs.NAMES
    assert tuple(actions["config"].help.split(", ")) == pose_configs.NAMES
    assert not {"name", "devices"} & set(actions)  # config fields are set with --set (the output root: --out)
    assert all(pose_configs.get_config(n).name == f"pose_{n}" for n in pose_configs.NAMES)


def test_joint_sets():
    from convcorr_jax.data.flic import FLIC_LABELLED_NAMES
    from convcorr_jax.data.lsp import LSP_JOINTS
    from convcorr_jax.data.mpii import MPII_JOINTS
    from convcorr_jax.pose import joints

    for js, names in ((joints.MPII, MPII_JOINTS), (joints.FLIC, FLIC_LABELLED_NAMES), (joints.LSP, LSP_JOINTS)):
        assert js.names == names
        k = js.num_joints
        assert sorted(js.flip) == list(range(k)) and all(js.flip[js.flip[i]] == i for i in range(k))
        ids = [j for g in js.groups.values() for j in g] + [j for e in js.edges for j in e] + list(js.left)
        assert 0 <= min(ids) and max(ids) < k
        for g in js.groups.values():  # a group is a joint, or a left/right pair (FLIC's face: eyes + nose)
            assert {js.flip[j] for j in g} == set(g)
    assert [joints.FLIC.names[j] for j in joints.FLIC.groups["Head"]] == ["leye", "reye", "nose"]
    assert list(joints.FLIC.groups) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip"]
    assert joints.joint_set("synthetic") is joints.MPII
    with pytest.raises(InputError, match="11"):
        joints.joint_set("flic", 16)


def test_group_pck_and_x_sigma():
    from convcorr_jax.pose import joints

    gt = np.zeros((2, 11, 2))
    pred = gt.copy()
    pred[0, 8, 0] = 5.0  # l eye of person 0 off by 5 px (norm 10 -> miss at alpha 0.05 * 10 = 0.5 px)
    vis = np.ones((2, 11), bool)
    vis[1, 2] = False  # an unlabelled wrist does not count
    pred[1, 2, 0] = 99.0
    res = joints.group_pck(pred, gt, vis, np.full(2, 10.0), joints.FLIC.groups, 0.05)
    assert res["Head"] == pytest.approx(100 * 5 / 6) and res["Wrist"] == 100.0 and res["Hip"] == 100.0
    assert joints.x_sigma(pred, gt, vis, (8,)) == pytest.approx(2.5)  # std of (5, 0)
    assert joints.x_sigma(pred, gt, vis, (8,), outlier=4.0) == 0.0



def test_group_pck_group_never_visible_is_nan_and_a_table_dash(recwarn):
    """A joint group with no visible joint in the test set is NaN without a RuntimeWarning, and Table 3's
    markdown shows it as "-" (it printed "nan")."""
    from convcorr_eval.report import markdown_table
    from convcorr_jax.pose import joints

    gt = np.zeros((2, 11, 2))
    vis = np.ones((2, 11), bool)
    vis[:, list(joints.FLIC.groups["Wrist"])] = False
    res = joints.group_pck(gt, gt, vis, np.full(2, 10.0), joints.FLIC.groups, 0.05)
    assert np.isnan(res["Wrist"]) and res["Elbow"] == 100.0
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    md = markdown_table(["model", *res], [["ours", *res.values()]])
    assert "nan" not in md and "| ours | 100.0 | 100.0 | 100.0 | - |" in md


def test_a_one_joint_head_column_names_its_joint():
    """MPII's and LSP's "Head" group is the head top alone, pooled; the MPII toolkit's "Head" (`convcorr eval pckh`,
    `metrics.PCKH_GROUPS`) is the mean of upper neck and head top. The tables of `convcorr eval pose` and `convcorr
    train pose` label the first "Head (head top)" and say how a group is made of its joints (both said "Head")."""
    from convcorr_eval.tompson2015 import pose_scores
    from convcorr_train import pose
    from convcorr_train.pose_configs import get_config

    from convcorr_jax.pose import joints

    label = {k: [joints.column_label(g, m, js.names) for g, m in js.groups.items()]
             for k, js in (("mpii", joints.MPII), ("lsp", joints.LSP), ("flic", joints.FLIC))}
    assert label["mpii"][:2] == label["lsp"][:2] == ["Head (head top)", "Shoulder"]
    assert label["flic"] == list(joints.FLIC.groups)  # the face's three points: its name alone
    assert joints.column_label("nose", (0,), ("nose",)) == "nose"  # a joint's own column
    sk = joints.MPII
    res = {"groups": dict(sk.groups), "keypoints": list(sk.names), "normaliser": "head", "data": "mpii",
           "split": "val", "scored_people": 2, "people": 2, "flip": False, "readout": "cascade",
           "models": {"validated": {"0.2": {**{g: 0.5 for g in sk.groups}, "mean": 0.5}}}}
    lines = pose_scores.markdown(res).split("\n")
    assert "a group and the mean pool the hits of their keypoints" in lines[0]
    assert lines[2].startswith("| model | Head (head top) | Shoulder |")
    per = [50.0] * 16
    table = pose.group_table(get_config("tiny"), {"step": 3, "coarse_per_joint@0.05": per,
                                                  "cascade_per_joint@0.05": per}).splitlines()
    assert "each the mean of its joints'" in table[0]
    assert table[1].split()[:4] == ["model", "Head", "(head", "top)"]


def test_train_group_table_shows_a_group_never_scored_as_a_dash(recwarn):
    """`convcorr train pose`'s closing table: a joint group none of whose joints was scored on the held-out people
    evaluated (per-joint NaN) is "-", without numpy's "Mean of empty slice" RuntimeWarning (it printed "nan" and
    the warning)."""
    from convcorr_train import pose
    from convcorr_train.pose_configs import get_config

    cfg = get_config("tiny")  # MPII's 16 joints: Head, Shoulder, ..., Ankle
    per = [float("nan")] * 6 + [50.0] * 10  # legs (MPII ids 0..5) never scored
    table = pose.group_table(cfg, {"step": 3, "coarse_per_joint@0.05": per, "cascade_per_joint@0.05": per})
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert "nan" not in table
    assert table.splitlines()[-1].split() == ["cascade", "50.0", "50.0", "50.0", "50.0", "-", "-", "-"]

def test_flic_tables_on_eleven_joints(tmp_path):
    """The tables of an 11-joint (FLIC) model use FLIC's groups and title (the MPII ids raised IndexError)."""
    import dataclasses

    import jax
    from convcorr_eval.tompson2015 import tables
    from convcorr_train import pose_configs

    from convcorr_jax.pose import model as pose_model

    tc = pose_configs.get_config("tiny")
    tc = dataclasses.replace(tc, data="flic", model=dataclasses.replace(tc.model, num_joints=11))
    rng = np.random.default_rng(0)
    n, s = 6, tc.model.image_size
    test = PoseArrays(rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8),
                      rng.uniform(5, s - 5, (n, 11, 2)).astype(np.float32), np.ones((n, 11), bool),
                      np.full(n, 20.0, np.float32))
    params = pose_model.init(jax.random.PRNGKey(0), tc.model)
    md, res = tables.evaluate_run(tc, params, test, figures_dir=tmp_path, timing=False, mpii_reference=None,
                                  on="tiny, synthetic: not comparable to the paper", with_paper=False)
    assert "FLIC people test set (6 people)" in md
    assert "| ours cascade 4x (tiny, synthetic: not comparable to the paper) |" in md and "paper (" not in md
    assert res["score_about"] == {"unit": "percent", "normaliser": "torso", "alpha": 0.05}
    assert "| model | Head | Shoulder | Elbow | Wrist | Hip | all |" in md
    assert "; all: every labelled keypoint of the 11, each in a column**" in md  # FLIC: no joint outside a column
    assert "| model | Head | Shoulder | Elbow | Wrist |\n" in md  # Table 1's columns labelled as Table 3's
    assert set(res["table3"]["cascade"]) == {"Head", "Shoulder", "Elbow", "Wrist", "Hip"}
    assert set(res["table1_sigma_x"]["coarse"]) == {"Head", "Shoulder", "Elbow", "Wrist"}
    assert {p.name for p in tmp_path.iterdir()} == {"tompson_pck_curves.png", "tompson_x_error_hist.png",
                                                   "tompson_skeletons.png"}


def test_mpii_tables_all_column_is_the_toolkit_total(monkeypatch):
    """On MPII the Table 3 "all" column is labelled PCKh@0.5: it pools the official toolkit's 14 joints (pelvis and
    thorax left out, as `convcorr eval pckh`), not all 16 (the published Tompson file: 82.3 against 71.5)."""
    import dataclasses

    import jax
    from convcorr_eval.tompson2015 import tables
    from convcorr_train import pose_configs

    from convcorr_jax.pose import model as pose_model

    tc = pose_configs.get_config("tiny")
    tc = dataclasses.replace(tc, data="mpii", model=dataclasses.replace(tc.model, num_joints=16))
    rng = np.random.default_rng(0)
    n, s = 4, tc.model.image_size
    gt = rng.uniform(5, s - 5, (n, 16, 2)).astype(np.float32)
    test = PoseArrays(rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8), gt, np.ones((n, 16), bool),
                      np.full(n, 4.0, np.float32))
    pred = gt.copy()
    pred[:, [6, 7]] += 100.0  # pelvis and thorax far off: no part of the toolkit's Total
    monkeypatch.setattr(tables.predict, "predict_crops", lambda *a, **k: {"coarse": pred, "cascade": pred})
    params = pose_model.init(jax.random.PRNGKey(0), tc.model)
    md, res = tables.evaluate_run(tc, params, test, timing=False, mpii_reference=None, with_paper=False)
    assert res["score"] == "PCKh@0.5" and res["pckh@0.5"] == {"coarse": 100.0, "cascade": 100.0}
    assert "all: the MPII toolkit's 14 joints (pelvis and thorax left out)" in md
    assert "| model | Head (head top) | Shoulder |" in md  # not the toolkit's Head (upper neck and head top)
    # Table 1 said "Head/Face" for the head top Table 3 labels "Head (head top)"; "all" pools the upper neck, shown
    # in no column, and the caption did not say so
    assert "| model | Head (head top) | Shoulder | Elbow | Wrist |\n" in md and "Head/Face" not in md
    assert "all: the MPII toolkit's 14 joints (pelvis and thorax left out), upper neck in no column**" in md


def test_tables_all_caption_names_the_joints_pooled_outside_the_columns():
    """The "all" column of tompson2015.tables' Table 3 pools joints no column shows: its caption names them (a PCK
    pools every labelled keypoint, the MPII PCKh the toolkit's 14); the keypoints pooled are unchanged."""
    from convcorr_eval.tompson2015 import tables

    from convcorr_jax.pose import joints

    visible = np.ones((2, 16), bool)
    v, text = tables.total_joints(joints.MPII, visible, pckh=False)  # synthetic people: MPII joints, PCK
    assert v.all() and text == "; all: every labelled keypoint of the 16, pelvis, thorax and upper neck in no column"
    v, text = tables.total_joints(joints.MPII, visible)
    assert v.sum() == 28 and not v[:, [6, 7]].any() and text.endswith("left out), upper neck in no column")
    v, text = tables.total_joints(joints.LSP, np.ones((1, 14), bool))  # not MPII's 16: every keypoint
    assert v.all() and text == "; all: every labelled keypoint of the 14, neck in no column"


def test_person_crop_points_follow_the_image():
    """Person crops (geometry.crop_each under square_affines): a marked pixel lands where its point is mapped."""
    from convcorr_jax.core import geometry
    from convcorr_jax.data.types import KeypointSample
    from convcorr_jax.core.crop_geometry import square_affines
    from convcorr_jax.pose.data import crop_images

    img = np.zeros((90, 120, 3), np.uint8)
    img[40:43, 70:73] = 255  # a 3x3 white square centred on (71, 41)
    s = KeypointSample(points=np.array([[71.0, 41.0]], np.float32), visible=np.ones(1, bool), names=("p",),
                       bbox=np.array([0, 0, 119, 89], np.float32), category="person", id="x", image=img)
    affine = square_affines(np.array([[60.0, 45.0]]), np.array([60.0]), 30)
    crop, pts = crop_images([s], affine, 30)[0], geometry.transform_points(s.points.astype(np.float64), affine[0])
    assert crop.shape == (30, 30, 3) and crop.dtype == np.uint8
    # the square's outer edges (30, 15)..(90, 75) go to the crop's (-0.5, -0.5)..(29.5, 29.5): scale 1/2
    np.testing.assert_allclose(pts, [[(71 - 30) / 2 - 0.5, (41 - 15) / 2 - 0.5]])
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert abs(x - pts[0, 0]) <= 0.5 and abs(y - pts[0, 1]) <= 0.5
    assert crop[0, 0, 0] == 0  # black outside and in the unmarked image
