"""Bad input: one `InputError` naming file, field and expectation; `skip_bad` skips and reports which."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_jax.data import KeypointSample
from convcorr_jax.data.faces300w import load_300w, _read_helen_txt, read_pts, write_pts
from convcorr_jax.data.flic import FLIC_LABELLED_NAMES, load_flic, read_plus_indices, write_flic_mat
from convcorr_jax.data.lsp import load_lsp
from convcorr_jax.data.mpii import MPII_JOINTS, load_mpii_h5, write_mpii_h5
from convcorr_jax.data.mpii_release import load_mpii_release
from convcorr_jax.data.types import load_image
from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES, load_voc_keypoints, read_keypoint_xml, write_keypoint_xml
from convcorr_jax.data.voc_segmentation import load_image_folder, load_voc_segmentation, write_label_png
from convcorr_jax.core.errors import InputError

GOOD_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
\t<image>2007_000032</image>
\t<voc_id>1</voc_id>
\t<category>aeroplane</category>
\t<visible_bounds height="10.00" width="20.00" xmin="5.00" ymin="6.00"/>
\t<keypoints>
\t\t<keypoint name="Top_Rudder" visible="1" x="{x}" y="8.00" z="0.00"/>
\t</keypoints>
</annotation>
"""


def _raises(fn, *args, field=None, path=None, **kw) -> InputError:
    with pytest.raises(InputError) as e:
        fn(*args, **kw)
    if field is not None:
        assert field in e.value.field, (e.value.field, str(e.value))
    if path is not None:
        assert str(path) in str(e.value)
    return e.value


# ---------------------------------------------------------------------------------------------- XML
@pytest.mark.parametrize("text, field", [
    (GOOD_XML.format(x="7.0")[:-30], "xml"),                                   # truncated file
    (GOOD_XML.format(x="abc"), "keypoint Top_Rudder x"),                       # not a number
    (GOOD_XML.format(x="nan"), "keypoint Top_Rudder x/y"),                     # NaN coordinate
    (GOOD_XML.format(x="7.0").replace("Top_Rudder", "Wing_Flap"), "keypoint name"),
    (GOOD_XML.format(x="7.0").replace("<image>2007_000032</image>", ""), "image"),
    (GOOD_XML.format(x="7.0").replace('visible="1"', 'visible="yes"'), "visible"),
    (GOOD_XML.format(x="7.0").replace("aeroplane", "spaceship"), "category"),
    (GOOD_XML.format(x="7.0").replace("<voc_id>1<", "<voc_id>nan<"), "voc_id"),  # was a ValueError traceback
    (GOOD_XML.format(x="7.0").replace('z="0.00"', 'z="0.00" zorder="inf"'), "zorder"),  # was an OverflowError
    (GOOD_XML.format(x="7.0").replace("</keypoints>", '</keypoints><polylinesegments><segment x="1 abc" y="2 3"/>'
                                      "</polylinesegments>"), "segment x"),
])
def test_bad_keypoint_xml(tmp_path, text, field):
    f = tmp_path / "aeroplane" / "2007_000032_1.xml"
    f.parent.mkdir()
    f.write_text(text)
    err = _raises(read_keypoint_xml, f, field=field, path=f)
    assert err.expected


def test_voc_keypoints_skip_bad_reports(tmp_path, caplog):
    d = tmp_path / "aeroplane"
    d.mkdir()
    (d / "a_1.xml").write_text(GOOD_XML.format(x="7.0"))
    (d / "b_1.xml").write_text("<annotation><image>")
    _raises(load_voc_keypoints, tmp_path, field="xml", path=d / "b_1.xml")
    got = load_voc_keypoints(tmp_path, skip_bad=True)
    assert len(got) == 1 and len(got.skipped) == 1 and str(d / "b_1.xml") in str(got.skipped[0])
    assert "skipped 1 bad record" in caplog.text
    assert "1 samples read, 1 skipped" in got.summary()


def test_voc_keypoints_missing_image_is_error(tmp_path):
    rng = np.random.default_rng(0)
    names = KEYPOINT_NAMES["bus"]
    s = KeypointSample(points=rng.uniform(0, 9, (8, 2)).astype(np.float32), visible=np.ones(8, bool), names=names,
                       bbox=np.array([0, 0, 9, 9], np.float32), category="bus", id="x")
    write_keypoint_xml(tmp_path / "ann" / "bus" / "2010_000001_1.xml", s, image_id="2010_000001")
    (tmp_path / "voc" / "JPEGImages").mkdir(parents=True)
    _raises(load_voc_keypoints, tmp_path / "ann", voc_root=tmp_path / "voc", with_images=True, field="image",
            path="2010_000001.jpg")
    assert len(load_voc_keypoints(tmp_path / "ann", voc_root=tmp_path / "voc", with_images=True, skip_bad=True)) == 0


# ---------------------------------------------------------------------------------------------- .pts
def _pts_text(n_header, n_rows, first="1.0 2.0"):
    rows = [first] + ["3.0 4.0"] * (n_rows - 1)
    return f"version: 1\nn_points:  {n_header}\n{{\n" + "\n".join(rows) + "\n}\n"


@pytest.mark.parametrize("text, field", [
    (_pts_text(68, 67), "points"),                         # wrong count
    (_pts_text(68, 68).replace("n_points:  68\n", ""), "n_points"),
    (_pts_text(68, 68).replace("n_points:  68", "n_points: many"), "n_points"),
    (_pts_text(68, 68).replace("{\n", ""), "braces"),
    (_pts_text(68, 68, first="1.0 2.0 3.0"), "points"),
    (_pts_text(68, 68, first="nan 2.0"), "points"),
    (_pts_text(68, 68).replace("version: 1", "garbage"), "header"),
])
def test_bad_pts(tmp_path, text, field):
    f = tmp_path / "a.pts"
    f.write_text(text)
    _raises(read_pts, f, field=field, path=f)


def test_pts_expected_count_and_skip(tmp_path):
    f = tmp_path / "ibug" / "a.pts"
    write_pts(f, np.zeros((49, 2)))
    _raises(read_pts, f, n_points=68, field="n_points")
    write_pts(tmp_path / "ibug" / "b.pts", np.ones((68, 2)))
    (tmp_path / "ibug" / "c.pts").write_bytes(b"\xff\xfe\x00binary")
    got = load_300w(tmp_path, skip_bad=True)
    assert [s.id for s in got] == ["ibug/b"] and len(got.skipped) == 2
    _raises(load_300w, tmp_path, field="n_points")
    # CRLF + one space after 'n_points:' (as in the real 300-VW files) is fine
    (tmp_path / "crlf.pts").write_bytes(_pts_text(68, 68).replace("  ", " ").replace("\n", "\r\n").encode())
    assert read_pts(tmp_path / "crlf.pts").shape == (68, 2)


def test_bad_helen_file(tmp_path):
    f = tmp_path / "1.txt"
    f.write_text("stem\n" + "1.0 , 2.0\n" * 193)
    _raises(_read_helen_txt, f, field="lines")


def test_300w_missing_image_when_required(tmp_path):
    write_pts(tmp_path / "afw" / "x.pts", np.ones((68, 2)))
    _raises(load_300w, tmp_path, require_images=True, field="image")


def test_coco_landmarks_json_interocular_and_malformed_entries(tmp_path):
    import json

    from convcorr_jax.data.faces300w import load_coco_landmarks_json

    kp = np.zeros((68, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.arange(68), 5.0, 1
    kp[45, 2] = 0  # the left outer eye corner is not labelled
    good = {"images": [{"id": 1, "file_name": "a.png", "width": 80, "height": 20}],
            "annotations": [{"id": 7, "image_id": 1, "keypoints": kp.ravel().tolist()}]}
    f = tmp_path / "faces.json"
    f.write_text(json.dumps(good))
    (s,) = load_coco_landmarks_json(f)
    assert np.isnan(s.points[45]).all() and np.isnan(s.extras["interocular"])  # was |p36 - (0, 0)| = 36.35
    kp[45, 2] = 1
    f.write_text(json.dumps({**good, "annotations": [{**good["annotations"][0], "keypoints": kp.ravel().tolist()}]}))
    assert load_coco_landmarks_json(f)[0].extras["interocular"] == pytest.approx(9.0)  # x 36 -> x 45, same y
    for bad, field in ((dict(good, images=[{"id": 1}]), "images[0]"),  # no file_name: was a KeyError
                       (dict(good, annotations=[5]), "annotations"),  # not an object: was an AttributeError
                       (dict(good, annotations=[{"id": 7, "image_id": 1, "keypoints": ["x", 1, 1]}]), "keypoints")):
        f.write_text(json.dumps(bad))  # the last was a ValueError traceback
        _raises(load_coco_landmarks_json, f, field=field, path=f)


@pytest.mark.parametrize("v, field_value", [(-1, "got -1"), (float("nan"), "got nan"), (3, "got 3"),
                                             ("x nan", "got [nan, 5.0]")])
def test_coco_landmarks_json_visibility_outside_0_1_2_is_refused(tmp_path, v, field_value):
    """v of a COCO triple is 0, 1 or 2: a -1 or NaN was read as "not labelled" (the point silently dropped), a 3
    as labelled, a NaN x with v 1 as a visible point without a place; refused naming the annotation and keypoint."""
    import json

    from convcorr_jax.data.faces300w import load_coco_landmarks_json

    kp = np.zeros((5, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.arange(5) + 10.0, 5.0, 1
    if v == "x nan":
        kp[2, 0] = np.nan
    else:
        kp[2, 2] = v
    f = tmp_path / "faces.json"
    f.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}],
                             "annotations": [{"id": 7, "image_id": 1, "keypoints": kp.ravel().tolist()}]}))
    err = _raises(load_coco_landmarks_json, f, field="annotation 7 keypoints", path=f)
    assert "keypoint 2" in err.expected and field_value in str(err), str(err)
    assert len(load_coco_landmarks_json(f, skip_bad=True).skipped) == 1
    kp[2] = (12.0, 5.0, 2)  # COCO's "visible"
    f.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}],
                             "annotations": [{"id": 7, "image_id": 1, "keypoints": kp.ravel().tolist()}]}))
    assert load_coco_landmarks_json(f)[0].visible.all()


# ---------------------------------------------------------------------------------------------- FLIC .mat
def _flic(tmp_path, n=2):
    rng = np.random.default_rng(0)
    s = [KeypointSample(points=rng.uniform(0, 50, (11, 2)).astype(np.float32), visible=np.ones(11, bool),
                        names=FLIC_LABELLED_NAMES, bbox=np.zeros(4, np.float32), category="person", id=f"m{i}",
                        image_path=f"m-{i:08d}.jpg", extras={"imgdims": (20, 30, 3)}) for i in range(n)]
    write_flic_mat(tmp_path / "examples.mat", s, istrain=[True] * n)
    return sio.loadmat(tmp_path / "examples.mat")["examples"]


def test_flic_missing_field(tmp_path):
    ex = _flic(tmp_path)
    names = [n for n in ex.dtype.names if n != "coords"]
    ex2 = np.empty(ex.shape, dtype=[(n, object) for n in names])
    for n in names:
        for i in range(ex.shape[1]):
            ex2[0, i][n] = ex[0, i][n]
    sio.savemat(tmp_path / "examples.mat", {"examples": ex2})
    err = _raises(load_flic, tmp_path, field="examples fields")
    assert "coords" in str(err)


def test_flic_wrong_shape_nan_and_skip(tmp_path):
    ex = _flic(tmp_path, 3)
    ex[0, 0]["coords"] = np.zeros((2, 28))
    c = ex[0, 1]["coords"].copy()
    c[0, 2] = np.nan  # lwri is one of the 11 labelled joints
    ex[0, 1]["coords"] = c
    sio.savemat(tmp_path / "examples.mat", {"examples": ex})
    _raises(load_flic, tmp_path, field="coords", path="examples(1)")
    got = load_flic(tmp_path, skip_bad=True)
    assert len(got) == 1 and len(got.skipped) == 2
    assert "NaN at ['lwri']" in str(got.skipped[1])
    assert len(load_flic(tmp_path, joints="all", indices=[1])) == 1  # NaN allowed where slots may be unlabelled


@pytest.mark.parametrize("field,value", [("istrain", "yes"), ("currframe", "abc"), ("currframe", np.nan),
                                         ("imgdims", np.array([[np.nan, 30, 3]])), ("imgdims", np.array([[0, 30, 3]])),
                                         ("torsobox", np.array([[1, 2, np.nan, 4]]))])
def test_flic_fields_that_are_not_finite_numbers(tmp_path, field, value):
    """Text or NaN where FLIC stores numbers, and a zero image side, name the field (were ValueError, NaN boxes or a
    ZeroDivisionError)."""
    ex = _flic(tmp_path, 2)
    ex[0, 1][field] = value
    sio.savemat(tmp_path / "examples.mat", {"examples": ex})
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "images" / "m-00000001.jpg")
    _raises(load_flic, tmp_path, field=field, path="examples(2)")


def test_flic_not_a_mat_and_wrong_variable(tmp_path):
    (tmp_path / "examples.mat").write_bytes(b"this is not a mat file at all" * 10)
    _raises(load_flic, tmp_path, field="mat")
    sio.savemat(tmp_path / "examples.mat", {"other": np.zeros(3)})
    _raises(load_flic, tmp_path, field="examples")
    sio.savemat(tmp_path / "idx.mat", {"tr_plus_indices": np.array([[0, 1, 2]])})
    _raises(read_plus_indices, tmp_path / "idx.mat", field="tr_plus_indices")


def test_flic_plus_indices_that_are_not_whole_numbers(tmp_path):
    # a stored 1.5 was truncated to example 0 (1 - 1) without a word; NaN became a huge negative index
    for bad, got in ((1.5, "1.5"), (np.nan, "nan")):
        sio.savemat(tmp_path / "idx.mat", {"tr_plus_indices": np.array([[1.0, bad, 3.0]])})
        err = _raises(read_plus_indices, tmp_path / "idx.mat", field="tr_plus_indices")
        assert "entry 1" in err.expected and str(err.got) == got, str(err)
    sio.savemat(tmp_path / "idx.mat", {"tr_plus_indices": np.array([[1.0, 2.0, 20928.0]])})
    assert read_plus_indices(tmp_path / "idx.mat").tolist() == [0, 1, 20927]


def test_flic_image_of_unexpected_size(tmp_path):
    _flic(tmp_path, 1)
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((21, 30, 3), np.uint8)).save(tmp_path / "images" / "m-00000000.jpg")
    _raises(load_flic, tmp_path, with_images=True, field="image size")


# ---------------------------------------------------------------------------------------------- MPII / LSP
def test_mpii_h5_missing_key_and_shape(tmp_path):
    p = tmp_path / "valid.h5"
    with h5py.File(p, "w") as f:
        f["part"] = np.zeros((2, 16, 2))
    _raises(load_mpii_h5, p, field="visible")
    with h5py.File(p, "w") as f:
        f["part"] = np.zeros((2, 14, 2))
    err = _raises(load_mpii_h5, p, field="part")
    assert "(2, 14, 2)" in str(err)
    (tmp_path / "x.h5").write_text("nope")
    _raises(load_mpii_h5, tmp_path / "x.h5", field="file")


@pytest.mark.parametrize("key", ["index", "person", "torsoangle"])
def test_mpii_h5_optional_datasets_of_another_length(tmp_path, key):
    """An optional dataset with fewer rows than `part` is refused by name (it was an IndexError at its last person)."""
    p = tmp_path / "valid.h5"
    with h5py.File(p, "w") as f:
        for k, v in {"part": np.ones((2, 16, 2)), "visible": np.ones((2, 16)), "center": np.ones((2, 2)),
                     "scale": np.ones(2), "normalize": np.ones(2), "imgname": np.array([b"a.jpg", b"b.jpg"])}.items():
            f[k] = v
        f[key] = np.zeros(1)
    _raises(load_mpii_h5, p, field=key)


def _write_people_h5(path, n: int) -> list[KeypointSample]:
    """An MPII-style h5 of n people with random joints, all visible; returns the samples written."""
    rng = np.random.default_rng(0)
    people = [KeypointSample(points=rng.uniform(1, 50, (16, 2)).astype(np.float32), visible=np.ones(16, bool),
                             names=MPII_JOINTS, bbox=np.zeros(4, np.float32), category="person", id=f"p{i}",
                             extras={"head_box": [0, 0, 10, 10]}) for i in range(n)]
    write_mpii_h5(path, people)
    return people


def test_mpii_h5_nan_and_skip(tmp_path):
    s = _write_people_h5(tmp_path / "v.h5", 3)
    with h5py.File(tmp_path / "v.h5", "r+") as f:
        part = f["part"][()]
        part[1, 4, 0] = np.nan
        f["part"][...] = part
    _raises(load_mpii_h5, tmp_path / "v.h5", field="part", path="v.h5[1]")
    got = load_mpii_h5(tmp_path / "v.h5", skip_bad=True)
    assert [g.id for g in got] == ["p0_0", "p2_0"] and len(got.skipped) == 1
    with pytest.raises(InputError, match="head_box"):
        write_mpii_h5(tmp_path / "w.h5", [dataclasses.replace(s[0], extras={})])


def test_voc_keypoints_folder_without_class_folders_is_an_error_not_an_empty_set(tmp_path):
    """A keypoint folder with no <class>/ folder (the devkit root given, or the archive's annotations/ one level
    deeper) was read as an empty dataset without a word."""
    (tmp_path / "annotations" / "annotations" / "cat").mkdir(parents=True)
    err = _raises(load_voc_keypoints, tmp_path / "annotations", field="class folders")
    assert "annotations/" in str(err.got)
    _raises(load_voc_keypoints, tmp_path / "annotations", field="class folders", categories=["dog"])


def test_mpii_release_missing_variable_or_field(tmp_path):
    sio.savemat(tmp_path / "r.mat", {"NOTRELEASE": np.zeros(2)})
    _raises(load_mpii_release, tmp_path / "r.mat", field="RELEASE")
    rel = np.empty((1, 1), dtype=[("annolist", object), ("version", object)])
    rel[0, 0]["annolist"] = np.zeros((0, 0))
    rel[0, 0]["version"] = "12"
    sio.savemat(tmp_path / "r.mat", {"RELEASE": rel})
    _raises(load_mpii_release, tmp_path / "r.mat", field="RELEASE.annolist")


@pytest.mark.parametrize("v", [-1, 2, "2", "-1", "nan", "0.5"])
def test_mpii_release_is_visible_other_than_0_or_1_is_refused(tmp_path, v):
    """is_visible is 0 or 1 (a number or a string; empty: visible): a -1 or 2 was read as visible, a NaN was a
    ValueError traceback; refused naming the rect and the point."""
    from convcorr_jax.data.mpii_release import _write_mpii_release

    rect = {"head_box": (0, 0, 10, 10), "scale": 1.0, "center": (5, 5), "points": {0: (5, 5, 1), 4: (6, 6, v)}}
    _write_mpii_release(tmp_path / "r.mat", [{"name": "a.jpg", "train": True, "rects": [rect]}])
    err = _raises(load_mpii_release, tmp_path / "r.mat", field="point 4 is_visible", path="annorect(1)")
    assert "0 or 1" in err.expected
    rect["points"][4] = (6, 6, "0")
    _write_mpii_release(tmp_path / "r.mat", [{"name": "a.jpg", "train": True, "rects": [rect]}])
    assert load_mpii_release(tmp_path / "r.mat")[0].visible[[0, 4]].tolist() == [True, False]


@pytest.mark.parametrize("where, field", [("point", "x"), ("point", "id"), ("objpos", "y")])
def test_mpii_release_missing_or_bad_number_is_one_clear_error(tmp_path, where, field):
    """A point's x or id, or objpos.y, that is empty was a TypeError traceback (never skipped by skip_bad); a NaN or
    2.5 joint id was a ValueError traceback or read as joint 2. Each is one InputError naming the rect and field."""
    from convcorr_jax.data.mpii_release import _write_mpii_release

    rect = {"head_box": (0, 0, 10, 10), "scale": 1.0, "center": (5, 5), "points": {0: (5, 5, 1), 4: (6, 6, 1)}}
    _write_mpii_release(tmp_path / "r.mat", [{"name": "a.jpg", "train": True, "rects": [rect]}])
    m = sio.loadmat(tmp_path / "r.mat")
    r = m["RELEASE"][0, 0]["annolist"][0, 0]["annorect"][0, 0]
    target = r["annopoints"][0, 0]["point"][0, 1] if where == "point" else r["objpos"][0, 0]
    target[field] = np.zeros((0, 0))
    sio.savemat(tmp_path / "bad.mat", {"RELEASE": m["RELEASE"]})
    err = _raises(load_mpii_release, tmp_path / "bad.mat", field=field, path="annorect(1)")
    assert err.got == "missing or empty"
    assert len(load_mpii_release(tmp_path / "bad.mat", skip_bad=True).skipped) == 1
    if where == "point" and field == "id":
        for jid in (np.nan, 2.5):
            target[field] = np.array([[jid]])
            sio.savemat(tmp_path / "bad.mat", {"RELEASE": m["RELEASE"]})
            _raises(load_mpii_release, tmp_path / "bad.mat", field="annopoints.point.id", path="annorect(1)")


def test_mpii_h5_and_lsp_flags_name_their_index(tmp_path):
    """A visibility flag other than 0/1 is refused naming where it is (the errors gave only the values found)."""
    _write_people_h5(tmp_path / "v.h5", 2)
    with h5py.File(tmp_path / "v.h5", "r+") as f:
        vis = f["visible"][()]
        vis[1, 6] = -1
        f["visible"][...] = vis
    err = _raises(load_mpii_h5, tmp_path / "v.h5", field="visible", path="v.h5[1]")
    assert "-1 at visible[6]" in str(err), str(err)
    j = np.zeros((3, 14, 4))
    j[2, 9, 1] = np.nan  # LSP layout: image 1 (0-based), joint 9
    sio.savemat(tmp_path / "joints.mat", {"joints": j})
    err = _raises(load_lsp, tmp_path, field="joints flag", path="joints.mat")
    assert "nan at joints flag[1, 9]" in str(err), str(err)


def test_lsp_unexpected_shape(tmp_path):
    sio.savemat(tmp_path / "joints.mat", {"joints": np.zeros((2, 14, 5))})
    err = _raises(load_lsp, tmp_path, field="joints")
    assert "3 x 14 x N" in err.expected
    sio.savemat(tmp_path / "joints.mat", {"joints": np.full((3, 14, 5), 2.0)})
    _raises(load_lsp, tmp_path, field="joints flag")
    j = np.zeros((14, 3, 4))
    j[3, 0, 2] = np.nan  # LSPET layout, image 3: NaN x
    sio.savemat(tmp_path / "joints.mat", {"joints": j})
    _raises(load_lsp, tmp_path, field="joints", path="joints.mat[3]")
    got = load_lsp(tmp_path, skip_bad=True)
    assert len(got) == 3 and "joints.mat[3]" in str(got.skipped[0])
    for text in ("abc", np.array([[1, 2], [3, 4]], dtype=object)):  # text, a cell: were ValueError tracebacks
        sio.savemat(tmp_path / "joints.mat", {"joints": text})
        _raises(load_lsp, tmp_path, field="joints", path="joints.mat")


def test_lsp_indices_outside_the_file_are_refused(tmp_path):
    j = np.zeros((3, 14, 4))  # LSP layout, 4 images
    j[0], j[1] = np.arange(1, 5), 10.0  # x = image number (1-based), y = 10
    sio.savemat(tmp_path / "joints.mat", {"joints": j})
    got = load_lsp(tmp_path, indices=[3, 0])
    assert [s.id for s in got] == ["lsp/im0004", "lsp/im0001"]
    assert got[0].points[0].tolist() == [3.0, 9.0]
    # -1 read image 4's joints as the person of "im0000.jpg"; 4 was numpy's IndexError traceback
    for bad in ([-1], [0, 4]):
        err = _raises(load_lsp, tmp_path, indices=bad, field="indices", path="joints.mat")
        assert "0..3" in err.expected, str(err)


def test_lsp_people_without_labelled_joints_or_with_an_unreadable_image(tmp_path):
    from convcorr_jax.data import lsp

    j = np.zeros((14, 3, 2))  # LSPET layout: every flag 0, no person has a labelled joint
    sio.savemat(tmp_path / "joints.mat", {"joints": j})
    (tmp_path / "images").mkdir()
    for i in (1, 2):
        Image.new("RGB", (8, 6)).save(tmp_path / "images" / f"im0000{i}.jpg")
    err = _raises(lsp.people, tmp_path, "train", val_fraction=0.0, field="split")  # was numpy's "need at least one"
    assert "none (2 without one)" in str(err)
    j[:, 2, :], j[:, :2, :] = 1, 3.0
    sio.savemat(tmp_path / "joints.mat", {"joints": j})
    assert lsp.people(tmp_path, "train", val_fraction=0.0).boxes.tolist() == [[0, 0, 7, 5]] * 2
    (tmp_path / "images" / "im00002.jpg").write_bytes(b"not a jpeg")  # was PIL's UnidentifiedImageError
    _raises(lsp.people, tmp_path, "train", val_fraction=0.0, field="image", path="im00002.jpg")


# ---------------------------------------------------------------------------------------------- images
def test_images_grayscale_cmyk_truncated_missing(tmp_path):
    Image.fromarray(np.full((6, 5), 77, np.uint8), "L").save(tmp_path / "g.png")
    Image.new("CMYK", (5, 6), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    g, c = load_image(tmp_path / "g.png"), load_image(tmp_path / "c.jpg")
    assert g.shape == c.shape == (6, 5, 3) and (g == 77).all() and c.min() > 240  # CMYK white -> RGB white
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    _raises(load_image, tmp_path / "t.jpg", field="image", path="t.jpg")
    _raises(load_image, tmp_path / "none.jpg", field="image")
    _raises(load_image, tmp_path / "g.png", expected_size=(6, 5), field="image size")
    got = load_image_folder(tmp_path, skip_bad=True)
    assert [p for p, _ in got] == ["c.jpg", "g.png"] and len(got.skipped) == 1
    _raises(load_image_folder, tmp_path, field="image")


def test_wide_greyscale_images_are_scaled_to_eight_bits(tmp_path):
    """16-bit greyscale (PNG, "I;16") and 32-bit "I" images: 0-65535 scaled to 0-255 (v * 255 / 65535, rounded), not
    clipped at 255 as PIL's own conversion does (a 16-bit photo read white); "I" values within 0-255 kept; past
    65535 refused, naming the file."""
    want = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(want.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    Image.fromarray(np.array([[0, 128, 65535]], np.uint16)).save(tmp_path / "r16.png")
    Image.fromarray(want.astype(np.int32)).save(tmp_path / "g32.tif")
    Image.fromarray(want.astype(np.int32) * 257).save(tmp_path / "w32.tif")
    for name in ("g16.png", "g32.tif", "w32.tif"):
        got = load_image(tmp_path / name)
        assert got.shape == (16, 16, 3) and got.dtype == np.uint8, name
        np.testing.assert_array_equal(got, np.repeat(want[..., None], 3, -1), err_msg=name)
    np.testing.assert_array_equal(load_image(tmp_path / "r16.png")[0, :, 0], [0, 0, 255])  # 128 / 257 rounds to 0
    Image.fromarray(want.astype(np.int32) * 1000).save(tmp_path / "big.tif")
    _raises(load_image, tmp_path / "big.tif", field="image values", path="big.tif")
    _raises(load_image, tmp_path / "g16.png", colour="require", field="image mode")


def test_one_bit_and_other_colour_modes_are_read(tmp_path):
    """1-bit (PNG, TIFF, BMP), YCbCr and LAB (TIFF) images are read as RGB, as PIL converts them (1-bit as greyscale:
    0 / 255, refused with colour="require"); a float "F" image is refused, saying how to convert it."""
    bits = np.array([[0, 1, 1], [1, 0, 0]], bool)
    for ext in ("png", "tif", "bmp"):
        Image.fromarray(bits).save(tmp_path / f"b.{ext}")
        assert Image.open(tmp_path / f"b.{ext}").mode == "1"
        np.testing.assert_array_equal(load_image(tmp_path / f"b.{ext}"), np.repeat(bits[..., None] * 255, 3, -1))
    _raises(load_image, tmp_path / "b.png", colour="require", field="image mode")
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), np.uint8)
    for mode, err in (("YCbCr", 3), ("LAB", 16)):  # PIL's round trip through the mode, 8 bits a channel
        Image.fromarray(rgb).convert(mode).save(tmp_path / f"{mode}.tif")
        assert Image.open(tmp_path / f"{mode}.tif").mode == mode
        got = load_image(tmp_path / f"{mode}.tif", colour="require")
        np.testing.assert_array_equal(got, np.asarray(Image.open(tmp_path / f"{mode}.tif").convert("RGB")))
        assert np.abs(got.astype(int) - rgb).max() <= err, mode
    Image.fromarray(np.ones((3, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputError, match="scale them to 0-255") as e:
        load_image(tmp_path / "f.tif")
    assert e.value.field == "image mode" and "F (32-bit float)" in str(e.value.got)


def test_bad_label_pngs(tmp_path):
    seg = tmp_path / "SegmentationClass"
    seg.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(seg / "rgb.png")
    write_label_png(seg / "range.png", np.full((4, 4), 30, np.uint8))
    write_label_png(seg / "size.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "JPEGImages").mkdir()
    Image.fromarray(np.zeros((5, 4, 3), np.uint8)).save(tmp_path / "JPEGImages" / "size.jpg")
    got = load_voc_segmentation(tmp_path, skip_bad=True, with_images=True)
    assert len(got) == 0 and len(got.skipped) == 3
    fields = sorted(e.field for e in got.skipped)
    assert fields == ["image size", "label mode", "label values"]
    with pytest.raises(InputError, match="uint8"):
        write_label_png(seg / "f.png", np.zeros((4, 4), np.float32))


def test_voc_id_pointing_at_another_class(tmp_path):
    from convcorr_jax.data.voc_devkit import write_voc_annotation

    d = tmp_path / "ann" / "aeroplane"
    d.mkdir(parents=True)
    (d / "2007_000032_1.xml").write_text(GOOD_XML.format(x="7.0"))
    write_voc_annotation(tmp_path / "voc" / "Annotations" / "2007_000032.xml", "2007_000032", (50, 50),
                         [{"name": "person", "bbox": (0, 0, 9, 9)}])
    _raises(load_voc_keypoints, tmp_path / "ann", voc_root=tmp_path / "voc", field="voc_id")
    write_voc_annotation(tmp_path / "voc" / "Annotations" / "2007_000032.xml", "2007_000032", (50, 50), [])
    err = _raises(load_voc_keypoints, tmp_path / "ann", voc_root=tmp_path / "voc", field="voc_id")
    assert "1..0" in err.expected


def test_voc_root_a_file(tmp_path):
    d = tmp_path / "ann" / "aeroplane"
    d.mkdir(parents=True)
    (d / "2007_000032_1.xml").write_text(GOOD_XML.format(x="7.0"))
    (tmp_path / "VOC2011.tar").write_bytes(b"")
    err = _raises(load_voc_keypoints, tmp_path / "ann", voc_root=tmp_path / "VOC2011.tar", field="voc_root",
                  path=tmp_path / "VOC2011.tar")
    assert err.got == "a file" and "devkit folder" in err.expected
    _raises(load_voc_keypoints, tmp_path / "ann", voc_root=tmp_path / "nothing", field="voc_root")  # as before


@pytest.mark.parametrize("text, field", [
    ("", "rows"),                                          # an empty file: was a ValueError from reshape
    ("\n  \n", "rows"),
    ("a.jpg,1,2,nan,4\n", "line 1"),                       # NaN and inf were read as joints
    ("a.jpg,1,2,3,4\nb.jpg,inf,2,3,4\n", "line 2"),
    ("a.jpg,1,2\n", "line 1"),                             # 1 joint of 2 (`read_format` reads 1 joint from it)
    ("a.jpg\n", "line 1")])
def test_bad_joints_csv(tmp_path, text, field):
    from convcorr_jax.data.formats import read_format
    from convcorr_jax.data.mpii import read_joints_csv

    p = tmp_path / "joints.csv"
    p.write_text(text)
    _raises(read_joints_csv, p, 2, field=field, path=p)
    if text.strip() and text != "a.jpg,1,2\n":
        _raises(read_format, p, field=field, path=p)  # the joint count read from the first row
    _raises(read_format, tmp_path / "none.csv", "joints_csv", field="file")  # was a FileNotFoundError


def test_joints_csv_with_a_byte_order_mark_and_crlf(tmp_path):
    """A BOM (a CSV saved by a spreadsheet) became part of the first image's name."""
    from convcorr_jax.data.formats import read_format
    from convcorr_jax.data.mpii import read_joints_csv

    p = tmp_path / "joints.csv"
    p.write_bytes(b"\xef\xbb\xbfa.jpg,1,2,-1,-1\r\nb.jpg,5,6,7,8\r\n")
    names, joints = read_joints_csv(p, 2)
    assert names == ["a.jpg", "b.jpg"] and joints.shape == (2, 2, 2)
    assert np.isnan(joints[0, 1]).all() and joints[1].tolist() == [[5, 6], [7, 8]]
    assert read_format(p)[0].shape == (2, 2, 2)


def test_text_annotations_with_a_byte_order_mark_or_not_utf8(tmp_path):
    """A UTF-8 BOM (a file saved by a Windows editor) made a .pts whose first line is n_points "missing n_points",
    a PF-PASCAL pair list's correct header "wrong" (the message showed the same header) and an image set's first id
    another id; a json that is not UTF-8 was a UnicodeDecodeError traceback (COCO-style landmarks, PF-PASCAL)."""
    import json

    from convcorr_jax.data.faces300w import load_coco_landmarks_json
    from convcorr_jax.data.pf_pascal import _read_pairs_csv
    from convcorr_jax.data.voc_devkit import read_image_set

    bom = b"\xef\xbb\xbf"
    pts = tmp_path / "a.pts"
    pts.write_bytes(bom + b"n_points: 2\r\n{\r\n1 2\r\n3 4\r\n}\r\n")
    assert read_pts(pts).tolist() == [[0, 1], [2, 3]]
    pairs = tmp_path / "test_pairs.csv"
    pairs.write_bytes(bom + b"source_image,target_image,class\r\nJPEGImages/a.jpg,JPEGImages/b.jpg,1\r\n")
    assert _read_pairs_csv(pairs) == [("a.jpg", "b.jpg", "aeroplane")]
    ids = tmp_path / "val.txt"
    ids.write_bytes(bom + b"2008_000001\r\n2008_000002\r\n")
    assert read_image_set(ids) == ["2008_000001", "2008_000002"]
    js = tmp_path / "faces.json"
    js.write_bytes(bom + json.dumps({"images": [], "annotations": []}).encode())
    assert list(load_coco_landmarks_json(js)) == []
    for f in (js, pairs):
        f.write_bytes(b"\xff\xfe" + "{}".encode("utf-16-le"))
        _raises(load_coco_landmarks_json if f is js else _read_pairs_csv, f, path=f)


def test_a_dataset_root_that_is_a_file_is_called_a_file(tmp_path):
    """A PF-WILLOW root or pack-flic's FLIC folder given as a file (an image, the archive) was reported as missing."""
    from convcorr_jax.data.flic_pack import pack_flic
    from convcorr_jax.data.pf_willow import pf_willow_classes

    image = tmp_path / "my data" / "Bild Eins.JPG"
    image.parent.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(image, format="JPEG")
    for call, says in ((lambda: pf_willow_classes(image), "expected a PF-WILLOW folder"),
                       (lambda: pack_flic(image, tmp_path / "flic.tar"), "expected examples.mat and images/")):
        with pytest.raises(InputError, match=f"{says}.*, got a file$"):
            call()
    with pytest.raises(InputError, match="got missing$"):
        pf_willow_classes(tmp_path / "nowhere")
