"""Loaders on the real annotation files (shared/data/real): counts, conventions and hand-checked values.

Each 1-based -> 0-based conversion is pinned by a value read by eye from the raw file.
"""

from __future__ import annotations

import collections

import h5py
import numpy as np
import pytest
from PIL import Image

from convcorr_jax.data.faces300w import (IBUG_68_NAMES, interocular_distance, load_300w, load_coco_landmarks_json,
                                         read_pts)
from convcorr_jax.data.flic import FLIC_JOINTS, FLIC_LABELLED, load_flic, read_plus_indices
from convcorr_jax.data.lsp import load_lsp, read_lsp_joints
from convcorr_jax.data.mpii import MPII_JOINTS, load_mpii_h5, read_joints_csv
from convcorr_jax.data.types import load_image
from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES, load_voc_keypoints


def _need(real_data, sub):
    p = real_data / sub
    if not p.exists():
        pytest.skip(f"{sub} not present in the real-data folder")
    return p


# ------------------------------------------------------------------------------------------ PASCAL keypoints
def test_pascal_keypoint_xml_samples(real_data):
    root = _need(real_data, "pascal_voc2011_keypoints_sample")
    samples = load_voc_keypoints(root)
    assert [s.id for s in samples] == ["aeroplane/2007_000032_1", "cat/2007_000528_1", "person/2008_000008_0"]
    aero, cat, person = samples
    # raw: <keypoint name="Top_Rudder" visible="1" x="245.14" y="81.07"/> -> 0-based (244.14, 80.07)
    i = aero.names.index("Top_Rudder")
    np.testing.assert_allclose(aero.points[i], [244.14, 80.07], atol=1e-4)
    # raw visible_bounds xmin=104 ymin=78 width=271 height=105 = VOC <bndbox> 104 78 375 183 (1-based)
    np.testing.assert_allclose(aero.bbox, [103, 77, 374, 182])
    assert aero.extras["voc_id"] == 1 and aero.extras["subcategory"] == "Passenger"
    assert aero.extras["labelled"].sum() == 14 and aero.names == KEYPOINT_NAMES["aeroplane"]
    missing = {n for n, ok in zip(aero.names, aero.extras["labelled"]) if not ok}
    assert missing == {"Left_Engine_Back",
                       "Right_Engine_Back"} and np.isnan(aero.points[~aero.extras["labelled"]]).all()
    assert cat.extras["labelled"].sum() == 10 and cat.visible.sum() == 10
    # person file: no voc_id, zorder present, R_Knee visible="0" x="224.74" y="148.31"
    assert person.extras["voc_id"] is None
    k = person.names.index("R_Knee")
    assert not person.visible[k] and person.extras["labelled"][k]
    np.testing.assert_allclose(person.points[k], [223.74, 147.31], atol=1e-4)
    assert person.extras["zorder"][person.names.index("L_Ankle")] == 2
    assert person.extras["z"][person.names.index("L_Ankle")] == pytest.approx(66.70)
    assert person.extras["labelled"].sum() == 14 and person.visible.sum() == 13
    # an occluded ankle can lie outside the visible box (DATA_FORMATS 1.3): L_Ankle y = 185.68 > box bottom 166
    assert person.points[person.names.index("L_Ankle"), 1] > person.bbox[3]


def test_pascal_xml_written_back_line_for_line(real_data, tmp_path):
    from convcorr_jax.data.voc_keypoints import read_keypoint_xml, write_keypoint_xml

    root = _need(real_data, "pascal_voc2011_keypoints_sample")
    for f in sorted(root.glob("*/*.xml")):
        write_keypoint_xml(tmp_path / f.name, read_keypoint_xml(f))
        assert sorted(f.read_text().splitlines()) == sorted((tmp_path / f.name).read_text().splitlines()), f.name


def test_keypoint_names_table():
    assert len(KEYPOINT_NAMES) == 20
    for c, names in KEYPOINT_NAMES.items():
        assert list(names) == sorted(names), c  # ASCII order, as MATLAB `unique` builds it
        assert 6 <= len(names) <= 23
    assert len(KEYPOINT_NAMES["person"]) == 23 and len(KEYPOINT_NAMES["aeroplane"]) == 16


# ------------------------------------------------------------------------------------------ 300-W / 300-VW
def test_300w_mirror_pairs_on_real_faces(real_data):
    """On real frontal faces each of 300-W's mirror pairs (`skeletons.FACE68`) has its left point (the subject's)
    at the larger image x, and a mirrored face with its points swapped by the pairs lies on the face."""
    from convcorr_jax.data.skeletons import FACE68

    faces = load_300w(_need(real_data, "300w/lfpw_samples"))
    pts = np.stack([f.points for f in faces]).astype(np.float64)
    assert all((pts[:, a, 0] > pts[:, b, 0]).all() for a, b in FACE68.flip_pairs)
    mirrored = (pts * [-1.0, 1.0])[:, list(FACE68.flip)]
    centred = [p - p.mean(axis=1, keepdims=True) for p in (pts, mirrored)]
    interocular = np.array([f.extras["interocular"] for f in faces])
    assert np.median(np.linalg.norm(centred[0] - centred[1], axis=-1) / interocular[:, None]) < 0.15


def test_300vw_pts_files(real_data):
    root = _need(real_data, "300w/mmpose_300vw")
    faces = load_300w(root, require_images=True)
    assert [f.id for f in faces] == ["001/annot/000006", "001/annot/000009", "401/annot/000731", "401/annot/000732"]
    # raw first line "743.224 197.764" (CRLF file, 'n_points: 68' with one space)
    np.testing.assert_allclose(faces[0].points[0], [742.224, 196.764], atol=1e-4)
    assert all(f.points.shape == (68, 2) and f.names == IBUG_68_NAMES for f in faces)
    img = load_image(faces[0].image_path)
    assert img.shape == (720, 1280, 3)
    # landmarks inside the image and the face reasonably sized (outer-eye-corner distance)
    for f in faces:
        assert (f.points >= 0).all() and (f.points[:, 0] < 1280).all() and (f.points[:, 1] < 720).all()
        assert 20 < f.extras["interocular"] < 300
        assert f.extras["interocular"] == pytest.approx(float(np.linalg.norm(f.points[36] - f.points[45])))
    # right eye (36-41, subject's right) lies on the image left of the left eye (42-47) in a frontal face
    assert faces[0].points[36:42, 0].mean() < faces[0].points[42:48, 0].mean()


def test_lfpw_pts_outer_eye_corners(real_data):
    """The official 300-W .pts of LFPW: 1-based values minus 1, and the NME normaliser is the distance between the
    outer eye corners (0-based 36 and 45: the extreme x of each eye), not between the eye centres (pupils)."""
    root = _need(real_data, "300w/lfpw_samples")
    files = sorted(root.glob("*.pts"))
    assert len(files) == 6
    # raw first line of image_0001.pts "115.167660 220.807529" -> 0-based (114.16766, 219.807529)
    np.testing.assert_allclose(read_pts(files[0])[0], [114.16766, 219.807529], atol=1e-4)
    for f in files:
        text = f.read_text()
        raw = np.array(text[text.index("{") + 1 : text.index("}")].split(), np.float64).reshape(-1, 2)
        p = read_pts(f).astype(np.float64)
        np.testing.assert_allclose(p, raw - 1, atol=1e-4)
        assert p[36, 0] == p[36:42, 0].min() and p[45, 0] == p[42:48, 0].max()  # outer corners, image left/right
        iod = interocular_distance(p)
        assert iod == pytest.approx(float(np.linalg.norm(p[36] - p[45])))
        assert 0.65 < np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0)) / iod < 0.75  # the pupils' is ~0.7 of it


def test_300vw_json_matches_pts(real_data):
    root = _need(real_data, "300w/mmpose_300vw")
    js = load_coco_landmarks_json(root / "anno_300vw.json", coordinate_base=1)
    assert len(js) == 3
    for s in js:
        pts = read_pts(root / (s.id.replace("imgs", "annot") + ".pts")).astype(np.float64)
        np.testing.assert_allclose(s.points, pts, atol=1e-4)  # mmpose copied the .pts values verbatim


def test_300w_coco_json(real_data):
    root = _need(real_data, "300w/mmpose_tests")
    faces = load_coco_landmarks_json(root / "test_300w.json")
    assert [f.id for f in faces] == ["indoor_029", "indoor_020"]
    assert all(f.points.shape == (68, 2) and f.visible.all() for f in faces)
    np.testing.assert_allclose(faces[0].points[0], [268.0, 398.882], atol=1e-4)
    for f in faces:
        img = load_image(f.image_path, expected_size=f.extras["image_size"])  # palette PNG -> RGB
        assert img.dtype == np.uint8 and img.shape[2] == 3
        assert interocular_distance(f.points) > 50


# ------------------------------------------------------------------------------------------ FLIC
@pytest.mark.slow
def test_flic_examples(real_data):
    root = _need(real_data, "flic")
    allx = load_flic(root)
    assert len(allx) == 5003
    assert sum(s.extras["istrain"] for s in allx) == 3987 and sum(s.extras["istest"] for s in allx) == 1016
    assert len(load_flic(root, split="train")) == 3987 and len(load_flic(root, split="test")) == 1016
    assert all(s.points.shape == (11, 2) and s.visible.all() for s in allx)
    assert {s.extras["imgdims"] for s in allx} == {(480, 720, 3)}
    assert len({s.image_path for s in allx}) == 4552  # several people share a frame
    # the images on disk are the 2x downscaled copies (360 x 240): every example maps with s = 0.5
    assert {s.extras["image_size"] for s in allx} == {(360, 240)} and {s.extras["image_scale"] for s in allx} == {0.5}
    # raw coords(:,1) of example 1: lsho = (327.8776, 213.3125) (1-based) -> (326.8776, 212.3125) 0-based at
    # 720 x 480 -> (p + 0.5) * 0.5 - 0.5 = (163.1888, 105.9063) on the 360 x 240 image
    np.testing.assert_allclose(allx[0].points[0], [163.18878, 105.90625], atol=1e-4)
    # raw torsobox 218.7541 216.80336 314.80557 360.88055 (1-based, full size); rhip = (195.2449, 356.1875)
    np.testing.assert_allclose(allx[0].extras["torso_box"], [108.62705, 107.65168, 156.65279, 179.69028], atol=1e-4)
    assert allx[0].extras["torso_size"] == pytest.approx(
        0.5 * np.linalg.norm(np.array([327.87756, 213.3125]) - np.array([195.2449, 356.1875])), rel=1e-5)
    assert allx[0].image_path.endswith("images/12-oclock-high-special-edition-00006361.jpg")
    full = load_flic(root, joints="all")
    lab = np.stack([s.extras["labelled"] for s in full])
    assert lab.shape == (5003, 29) and np.where(lab.all(0))[0].tolist() == list(FLIC_LABELLED)
    assert not lab[:, [i for i in range(29) if i not in FLIC_LABELLED]].any()
    assert full[0].names == FLIC_JOINTS


def test_flic_real_downscaled_image_matches_points(real_data):
    root = _need(real_data, "flic")
    s = load_flic(root, indices=[0], with_images=True)[0]
    assert s.image.shape == (240, 360, 3)  # checked against the header size, not imgdims
    assert (s.points >= 0).all() and (s.points[:, 0] < 360).all() and (s.points[:, 1] < 240).all()


def _flic_fixture(tmp_path, size):
    """One FLIC example at imgdims 40 x 60 (h, w) with lsho at 1-based (11, 21); its image saved at `size`."""
    import dataclasses

    from convcorr_jax.data.flic import FLIC_LABELLED_NAMES, write_flic_mat
    from convcorr_jax.data.types import KeypointSample

    pts = np.tile(np.array([[10.0, 20.0]], np.float32), (11, 1)) + np.arange(11, dtype=np.float32)[:, None]
    s = KeypointSample(points=pts, visible=np.ones(11, bool), names=FLIC_LABELLED_NAMES, bbox=np.zeros(4, np.float32),
                       category="person", id="m0", image_path="m-00000001.jpg",
                       extras={"imgdims": (40, 60, 3), "torso_box": np.array([1, 3, 41, 35], np.float32)})
    write_flic_mat(tmp_path / "examples.mat", [dataclasses.replace(s)], istrain=[True])
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(tmp_path / "images" / "m-00000001.jpg")
    return pts


def test_flic_scale_full_size_unchanged(tmp_path):
    pts = _flic_fixture(tmp_path, (60, 40))
    s = load_flic(tmp_path, with_images=True)[0]
    assert s.extras["image_scale"] == 1.0 and s.extras["image_size"] == (60, 40)
    np.testing.assert_allclose(s.points, pts, atol=1e-5)
    np.testing.assert_allclose(s.extras["torso_box"], [1, 3, 41, 35], atol=1e-5)


def test_flic_scale_downscaled_2x(tmp_path):
    from convcorr_jax.data.flic import write_flic_mat

    pts = _flic_fixture(tmp_path, (30, 20))
    s = load_flic(tmp_path, with_images=True)[0]
    assert s.extras["image_scale"] == 0.5 and s.extras["image_size"] == (30, 20)
    assert s.extras["imgdims"] == (40, 60, 3) and s.image.shape == (20, 30, 3)
    # lsho 0-based (10, 20) at 60 x 40 -> (10.5 * 0.5 - 0.5, 20.5 * 0.5 - 0.5) = (4.75, 9.75) at 30 x 20
    np.testing.assert_allclose(s.points[0], [4.75, 9.75], atol=1e-5)
    np.testing.assert_allclose(s.points, (pts + 0.5) * 0.5 - 0.5, atol=1e-5)
    np.testing.assert_allclose(s.extras["torso_box"], [0.25, 1.25, 20.25, 17.25], atol=1e-5)
    assert s.extras["torso_size"] == pytest.approx(0.5 * np.linalg.norm(pts[0] - pts[7]), rel=1e-5)  # lsho - rhip
    # writing the sample back restores the stored full-size coordinates
    out = tmp_path / "back"
    out.mkdir()
    write_flic_mat(out / "examples.mat", [s], istrain=[True])
    import scipy.io as sio

    a, b = (sio.loadmat(p / "examples.mat")["examples"][0, 0] for p in (tmp_path, out))
    np.testing.assert_allclose(b["coords"], a["coords"], atol=1e-4)
    np.testing.assert_allclose(b["torsobox"], a["torsobox"], atol=1e-4)
    np.testing.assert_array_equal(b["imgdims"], a["imgdims"])


@pytest.mark.parametrize("size,kind", [((30, 40), "non-uniform"), ((45, 30), "unexpected"), ((31, 20), "non-uniform")])
def test_flic_scale_bad_ratio(tmp_path, size, kind):
    from convcorr_jax.core.errors import InputError

    _flic_fixture(tmp_path, size)
    with pytest.raises(InputError) as e:
        load_flic(tmp_path)  # the header is read without with_images
    assert e.value.field == "image size" and e.value.source.endswith("images/m-00000001.jpg")
    assert kind in str(e.value) and "(60, 40)" in str(e.value)
    assert len(load_flic(tmp_path, skip_bad=True).skipped) == 1


def test_flic_missing_image_keeps_imgdims_coordinates(tmp_path):
    pts = _flic_fixture(tmp_path, (30, 20))
    (tmp_path / "images" / "m-00000001.jpg").unlink()
    s = load_flic(tmp_path)[0]
    assert s.extras["image_scale"] == 1.0 and s.extras["image_size"] is None
    np.testing.assert_allclose(s.points, pts, atol=1e-5)


def test_flic_plus_indices(real_data):
    root = _need(real_data, "flic")
    tr = read_plus_indices(root / "tr_plus_indices.mat")
    ts = read_plus_indices(root / "ts_plus_indices.mat")
    assert tr.shape == (17380,) and ts.shape == (3548,)
    # 1-based in the file: the test list reaches 20,928 = len(FLIC-full), so 0-based max is 20,927
    assert tr.min() == 0 and ts.max() == 20927
    assert len(np.intersect1d(tr, ts)) == 0


# ------------------------------------------------------------------------------------------ MPII
def test_mpii_valid_h5(real_data):
    path = _need(real_data, "mpii/hg_annot/valid.h5")
    people = load_mpii_h5(path)
    assert len(people) == 2958 and len({p.extras["imgname"] for p in people}) == 2729
    assert people[0].names == MPII_JOINTS
    # raw part[0][0] = (804, 711) -> (803, 710)
    np.testing.assert_allclose(people[0].points[0], [803, 710])
    labelled = np.stack([p.extras["labelled"] for p in people])
    vis = np.stack([p.visible for p in people])
    assert (~labelled).sum() == 3088  # joints stored as (0, 0)
    assert (vis & ~labelled).sum() == 0 and (labelled & ~vis).sum() == 10243  # occluded but annotated
    assert all(p.extras["normalize"] > 0 and p.extras["head_size"] == p.extras["normalize"] for p in people)


def test_mpii_json_vs_h5(real_data):
    """mmpose's json (MPII objpos/scale and joints, 1-based) against the h5 rows of the same images."""
    import json

    root = _need(real_data, "mpii")
    anns = json.loads((root / "mmpose_tests" / "test_mpii.json").read_text())
    people = load_mpii_h5(root / "hg_annot" / "valid.h5")
    by_img = collections.defaultdict(list)
    for p in people:
        by_img[p.extras["imgname"]].append(p)
    matched = 0
    for a in anns:
        cands = by_img.get(a["image"], [])
        if not cands:
            continue
        j = np.asarray(a["joints"], np.float64) - 1.0
        best = min(cands, key=lambda p: np.nanmax(np.abs(p.points - j)))
        lab = best.extras["labelled"]
        d = np.abs(best.points[lab] - j[lab])
        assert d.max() < 1.0  # the h5 truncates the fractional neck/head-top coordinates
        assert (np.asarray(a["joints_vis"])[lab] > 0).all()
        np.testing.assert_allclose(best.extras["center_raw"], np.asarray(a["center"]) - 1.0, atol=1e-4)
        assert best.extras["scale_raw"] == pytest.approx(a["scale"], rel=1e-5)
        matched += 1
    assert matched == 5


def test_mpii_mobilepose_csv(real_data):
    root = _need(real_data, "mpii/mobilepose_csv")
    names, joints = read_joints_csv(root / "train_joints.csv", 16)
    assert len(names) == 17928 and len(set(names)) == 11210 and joints.shape == (17928, 16, 2)
    names, joints = read_joints_csv(root / "test_joints.csv", 16)
    assert len(names) == 1991
    # first row: 093311333.jpg,710.0,409.0,...
    assert names[0] == "093311333.jpg" and joints[0, 0].tolist() == [710.0, 409.0]


# ------------------------------------------------------------------------------------------ LSP / LSPET
def test_lsp_joints(real_data):
    root = _need(real_data, "lsp")
    coords, flag, layout = read_lsp_joints(root / "joints.mat")
    assert layout == "lsp" and coords.shape == (2000, 14, 2)
    people = load_lsp(root)
    assert len(people) == 2000 and people[0].image_path.endswith("images/im0001.jpg")
    # raw joints(1:2, 1, 1) = (473.953, 552.632) -> 0-based (472.953, 551.632)
    np.testing.assert_allclose(people[0].points[0], [472.95283, 551.63152], atol=1e-4)
    vis = np.stack([p.visible for p in people])
    assert vis.mean() == pytest.approx(0.927, abs=1e-3)  # flag 1 = occluded, so most joints visible
    assert all(p.extras["labelled"].all() for p in people)


def test_lspet_joints_and_csv(real_data):
    root = _need(real_data, "lspet")
    coords, flag, layout = read_lsp_joints(root / "joints.mat")
    assert layout == "lspet" and coords.shape == (10000, 14, 2)
    people = load_lsp(root)
    assert len(people) == 10000 and people[0].image_path.endswith("images/im00001.jpg")
    lab = np.stack([p.extras["labelled"] for p in people])
    assert lab.mean() == pytest.approx(1 - 0.11990714, abs=1e-6)
    # flag 0 = not in the image: every such joint has a coordinate <= 0 (image 1's right ankle: (0, -26.1))
    assert ((coords[..., 0] <= 0) | (coords[..., 1] <= 0))[flag == 0].all()
    assert np.isnan(people[0].points[0]).all() and not people[0].visible[0]
    np.testing.assert_allclose(people[0].points[1], [25.03094, 85.41023], atol=1e-4)
    # MobilePose CSV: rows 1..10000 are LSPET (as stored), then LSP's first 1000 images
    names, csv = read_joints_csv(root / "mobilepose_train_joints.csv", 14)
    assert len(names) == 11000 and names[0] == "im00001.jpg" and names[10000] == "im0001.jpg"
    ok = (flag == 1) & np.all(csv[:10000] != -1, axis=-1) & np.all(np.isfinite(csv[:10000]), axis=-1)
    np.testing.assert_allclose(csv[:10000][ok], coords[ok], atol=1e-4)
    lsp_root = real_data / "lsp"
    if lsp_root.exists():
        lsp_coords = read_lsp_joints(lsp_root / "joints.mat")[0]
        np.testing.assert_allclose(csv[10000:], lsp_coords[:1000], atol=1e-4)
        small_names, small = read_joints_csv(root / "mobilepose_train_lsp_small_joints.csv", 14)
        test_names, test = read_joints_csv(root / "mobilepose_test_joints.csv", 14)
        assert len(small_names) == 1000 and len(test_names) == 1000
        np.testing.assert_allclose(test, lsp_coords[1000:], atol=1e-4)  # LSP test half = images 1001..2000


def test_mpii_h5_with_the_real_mmpose_images(real_data):
    """The 5 real MPII images shipped with mmpose's tests load through `load_mpii_h5(image_root=...)`."""
    root = _need(real_data, "mpii")
    imgs = {p.name for p in (root / "mmpose_tests").glob("*.jpg")}
    people = [p for p in load_mpii_h5(root / "hg_annot" / "valid.h5", image_root=root / "mmpose_tests")
              if p.extras["imgname"] in imgs]
    assert len({p.extras["imgname"] for p in people}) == 5
    for p in people:
        img = p.with_image().image
        h, w = img.shape[:2]
        lab = p.extras["labelled"]
        assert (p.points[lab] >= 0).all() and (p.points[lab, 0] < w).all() and (p.points[lab, 1] < h).all()


def test_flic_written_back_matches_real_struct(real_data, tmp_path):
    import scipy.io as sio

    from convcorr_jax.data.flic import write_flic_mat

    root = _need(real_data, "flic")
    samples = load_flic(root, joints="all", indices=range(0, 5003, 500))
    write_flic_mat(tmp_path / "examples.mat", samples, istrain=[s.extras["istrain"] for s in samples])
    real = sio.loadmat(root / "examples.mat")["examples"][0]
    ours = sio.loadmat(tmp_path / "examples.mat")["examples"][0]
    assert ours.dtype.names == real.dtype.names
    for s, o in zip(samples, ours):
        r = real[s.extras["index"]]
        np.testing.assert_allclose(o["coords"], r["coords"], atol=1e-4)  # NaN in the same slots
        for f in ("moviename", "filepath"):
            assert o[f].tolist() == r[f].tolist()
        for f in ("imgdims", "currframe", "istrain", "istest", "poselet_hit_idx"):
            np.testing.assert_array_equal(o[f], r[f])
            assert f == "currframe" or o[f].dtype == r[f].dtype, f  # MATLAB picks int32/uint16 for currframe
        np.testing.assert_allclose(o["torsobox"], r["torsobox"], atol=1e-4)


def test_mpii_h5_written_back_matches_real(real_data, tmp_path):
    from convcorr_jax.data.mpii import write_mpii_h5

    path = _need(real_data, "mpii/hg_annot/valid.h5")
    write_mpii_h5(tmp_path / "valid.h5", load_mpii_h5(path), head_box=False)
    with h5py.File(path) as real, h5py.File(tmp_path / "valid.h5") as ours:
        assert sorted(ours) == sorted(real)
        for k in real:
            assert ours[k].shape == real[k].shape and ours[k].dtype == real[k].dtype, k
            if k == "imgname":
                assert ours[k][()].tolist() == real[k][()].tolist()
            else:
                np.testing.assert_allclose(ours[k][()], real[k][()], atol=1e-3, err_msg=k)  # center via float32
