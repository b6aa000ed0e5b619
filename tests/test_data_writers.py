"""Writers produce the real formats: what they write reads back through the loaders (and scipy/h5py/PIL)."""

from __future__ import annotations

import dataclasses
import os

import h5py
import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_jax.data import KeypointSample
from convcorr_jax.data.faces300w import (IBUG_68_NAMES, load_300w, _read_helen_txt, read_pts, _write_helen_txt,
                                         write_pts)
from convcorr_jax.data.flic import FLIC_LABELLED_NAMES, load_flic, write_flic_mat
from convcorr_jax.data.mpii import MPII_JOINTS, load_mpii_h5, write_mpii_h5
from convcorr_jax.data.mpii_release import _write_mpii_release, load_mpii_release
from convcorr_jax.data.voc_devkit import write_image_set, write_voc_annotation
from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES, load_voc_keypoints, read_keypoint_xml, write_keypoint_xml
from convcorr_jax.data.voc_segmentation import (VOC_PALETTE, load_voc_segmentation, read_label_png,
                                                write_label_png)


def _sample(names, rng, category="person", extras=None, nan_at=()):
    k = len(names)
    pts = rng.uniform(5, 90, size=(k, 2)).round(2).astype(np.float32)
    pts[list(nan_at)] = np.nan
    vis = np.isfinite(pts[:, 0]) & (rng.uniform(size=k) > 0.2)
    return KeypointSample(points=pts, visible=vis, names=tuple(names), bbox=np.array([3, 4, 95, 96], np.float32),
                          category=category, id="x", extras=extras or {})


def test_keypoint_xml_round_trip_and_voc_join(tmp_path):
    rng = np.random.default_rng(0)
    ann, voc = tmp_path / "annotations", tmp_path / "VOC2011"
    car = _sample(KEYPOINT_NAMES["car"], rng, "car", nan_at=(2, 5))
    per = _sample(KEYPOINT_NAMES["person"], rng, "person", nan_at=(0,),
                  extras={"foreground_polygons": [np.array([[1.0, 2.0], [30.0, 2.0], [15.0, 40.0]])]})
    write_keypoint_xml(ann / "car" / "2009_000001_2.xml", car, image_id="2009_000001", voc_id=2)
    write_keypoint_xml(ann / "person" / "2009_000001_0.xml", per, image_id="2009_000001")
    text = (ann / "person" / "2009_000001_0.xml").read_text()
    assert 'standalone="no"' in text and "<voc_id>" not in text and "zorder=" in text
    for got, want in ((read_keypoint_xml(ann / "car" / "2009_000001_2.xml"), car),
                      (read_keypoint_xml(ann / "person" / "2009_000001_0.xml"), per)):
        np.testing.assert_allclose(got.points, want.points, atol=0.006)  # %.2f
        np.testing.assert_array_equal(got.visible, want.visible)
        np.testing.assert_array_equal(got.extras["labelled"], np.isfinite(want.points[:, 0]))
        np.testing.assert_allclose(got.bbox, want.bbox)
    np.testing.assert_allclose(read_keypoint_xml(ann / "person" / "2009_000001_0.xml")
                               .extras["foreground_polygons"][0], [[1, 2], [30, 2], [15, 40]])
    # devkit side: object 1 is a person whose box overlaps the person file; object 2 the car (voc_id=2)
    write_voc_annotation(voc / "Annotations" / "2009_000001.xml", "2009_000001", (100, 100), [
        {"name": "person", "bbox": (2, 3, 96, 97), "occluded": 1}, {"name": "car", "bbox": (10, 11, 50, 60)}])
    (voc / "JPEGImages").mkdir(parents=True)
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(voc / "JPEGImages" / "2009_000001.jpg")
    write_image_set(voc / "ImageSets" / "Main" / "train.txt", ["2009_000001"])
    write_image_set(voc / "ImageSets" / "Main" / "val.txt", [])
    got = load_voc_keypoints(ann, voc_root=tmp_path, image_set="train", with_images=True)
    assert [s.category for s in got] == ["car", "person"]
    np.testing.assert_allclose(got[0].bbox, [10, 11, 50, 60])
    np.testing.assert_allclose(got[1].bbox, [2, 3, 96, 97])
    assert got[1].extras["occluded"] == 1 and got[0].extras["bbox_source"] == "voc"
    assert got[0].image.shape == (100, 100, 3)
    assert len(load_voc_keypoints(ann, voc_root=tmp_path, image_set="val")) == 0


def test_label_png_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    lab = rng.integers(0, 21, size=(17, 23)).astype(np.uint8)
    lab[0, :] = 255
    write_label_png(tmp_path / "SegmentationClass" / "a.png", lab)
    with Image.open(tmp_path / "SegmentationClass" / "a.png") as im:
        assert im.mode == "P"
        assert np.array(im.getpalette()[:6]).tolist() == [0, 0, 0, 128, 0, 0]
        assert tuple(np.array(im.convert("RGB"))[0, 0]) == (224, 224, 192)  # void colour of the VOC palette
    np.testing.assert_array_equal(read_label_png(tmp_path / "SegmentationClass" / "a.png"), lab)
    assert tuple(VOC_PALETTE[15]) == (192, 128, 128)  # person
    (tmp_path / "JPEGImages").mkdir()
    Image.fromarray(np.full((17, 23, 3), 7, np.uint8)).save(tmp_path / "JPEGImages" / "a.jpg")
    segs = load_voc_segmentation(tmp_path, with_images=True)
    assert len(segs) == 1 and segs[0].image.shape == (17, 23, 3)
    np.testing.assert_array_equal(segs[0].label, lab)


def test_pts_and_helen_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 200, size=(68, 2)).astype(np.float32)
    write_pts(tmp_path / "helen" / "testset" / "1_a.pts", pts)
    text = (tmp_path / "helen" / "testset" / "1_a.pts").read_text().splitlines()
    assert text[:3] == ["version: 1", "n_points:  68", "{"] and text[-1] == "}"
    assert float(text[3].split()[0]) == pytest.approx(pts[0, 0] + 1, abs=1e-5)  # written 1-based
    np.testing.assert_allclose(read_pts(tmp_path / "helen" / "testset" / "1_a.pts"), pts, atol=1e-5)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "helen" / "testset" / "1_a.jpg")
    faces = load_300w(tmp_path, with_images=True)
    assert faces[0].extras["split"] == "common" and faces[0].names == IBUG_68_NAMES and faces[0].image is not None
    h = rng.uniform(0, 200, size=(194, 2))
    _write_helen_txt(tmp_path / "h.txt", "100032540_1", h)
    stem, got = _read_helen_txt(tmp_path / "h.txt")
    assert stem == "100032540_1"
    np.testing.assert_allclose(got, h, atol=1e-5)


def test_300w_images_with_upper_case_suffixes_are_found(tmp_path):
    """An image beside its .pts file whose suffix is upper case (x.JPG, x.PNG, as cameras and Windows copies name
    them) was not found (image_path None; with_images an error saying it is missing); 300-VW's imgs/ alike."""
    rng = np.random.default_rng(4)
    root = tmp_path / "my faces" / "über"
    for stem, suffix in (("a", ".JPG"), ("b", ".PNG"), ("c", ".Jpeg"), ("d", ".png")):
        write_pts(root / f"{stem}.pts", rng.uniform(0, 8, size=(68, 2)))
        Image.fromarray(np.full((8, 8, 3), ord(stem), np.uint8)).save(root / f"{stem}{suffix}",
                                                                      format="PNG" if "p" in suffix.lower() else "JPEG")
    write_pts(root / "clip" / "annot" / "000001.pts", rng.uniform(0, 8, size=(68, 2)))
    (root / "clip" / "imgs").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "clip" / "imgs" / "000001.JPG", format="JPEG")
    write_pts(root / "e.pts", rng.uniform(0, 8, size=(68, 2)))  # no image
    faces = {s.id: s for s in load_300w(root)}
    assert {k: s.image_path and os.path.basename(s.image_path) for k, s in faces.items()} == {
        "a": "a.JPG", "b": "b.PNG", "c": "c.Jpeg", "d": "d.png", "clip/annot/000001": "000001.JPG", "e": None}
    faces = load_300w(root, subsets=["a", "b", "clip"], with_images=True)
    assert [s.image.shape for s in faces] == [(8, 8, 3)] * 3

def test_flic_mat_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    samples = [dataclasses.replace(_sample(FLIC_LABELLED_NAMES, rng), image_path=f"/x/m-{i:08d}.jpg",
                                   extras={"torso_box": np.array([10, 20, 60, 90], np.float32)})
               for i in range(4)]
    samples = [dataclasses.replace(s, visible=np.ones(11, bool)) for s in samples]
    write_flic_mat(tmp_path / "examples.mat", samples, istrain=[True, True, False, True])
    # the MODEC struct layout, readable the way TFDS reads it
    m = sio.loadmat(tmp_path / "examples.mat", struct_as_record=True, squeeze_me=True, mat_dtype=True)
    assert m["examples"].dtype.names[:9] == ("poselet_hit_idx", "moviename", "coords", "filepath", "imgdims",
                                           "currframe", "torsobox", "istrain", "istest")
    assert m["examples"][0]["coords"].shape == (2, 29)
    got = load_flic(tmp_path)
    assert len(got) == 4 and [s.extras["istest"] for s in got] == [False, False, True, False]
    for g, s in zip(got, samples):
        np.testing.assert_allclose(g.points, s.points, atol=1e-4)
        np.testing.assert_allclose(g.extras["torso_box"], [10, 20, 60, 90], atol=1e-4)
    assert got[0].image_path.endswith("images/m-00000000.jpg")
    assert len(load_flic(tmp_path, split="test")) == 1


def test_mpii_h5_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    samples = [dataclasses.replace(_sample(MPII_JOINTS, rng, nan_at=(i,)), image_path=f"/x/{i:09d}.jpg",
                                   extras={"head_box": np.array([10, 10, 40, 50.0]), "center_raw": [50.0, 60.0],
                                           "scale_raw": 0.5, "person": i % 2})
               for i in range(3)]
    write_mpii_h5(tmp_path / "annot" / "valid.h5", samples)
    with h5py.File(tmp_path / "annot" / "valid.h5") as f:
        assert {k: f[k].dtype.kind for k in f} == {
            "center": "f", "imgname": "S", "index": "f", "normalize": "f", "part": "f", "person": "f",
            "scale": "f", "torsoangle": "f", "visible": "f", "headbox": "f"}
        assert f["part"].shape == (3, 16, 2) and f["part"][0, 0].tolist() == [0, 0]  # missing joint
        assert f["normalize"][0] == pytest.approx(0.6 * 50.0)  # 0.6 * head diagonal (30, 40)
        assert f["scale"][0] == pytest.approx(1.25 * 0.5) and f["center"][0, 1] == pytest.approx(61 + 7.5)
    got = load_mpii_h5(tmp_path / "annot" / "valid.h5")
    for g, s in zip(got, samples):
        np.testing.assert_allclose(g.points, s.points, atol=1e-5)
        np.testing.assert_array_equal(g.visible, s.visible)
        np.testing.assert_allclose(g.extras["head_box"], [10, 10, 40, 50])
        np.testing.assert_allclose(g.extras["center_raw"], [50, 60])
        assert g.extras["scale_raw"] == pytest.approx(0.5)
    assert got[1].id == "000000001_1" and got[0].image_path.endswith("images/000000000.jpg")


def test_mpii_release_round_trip_with_quirks(tmp_path):
    images = [
        {"name": "a.jpg", "train": True, "single_person": [0], "act_name": "run", "act_id": 3,
         "rects": [{"head_box": (9, 19, 39, 59), "scale": 1.5, "center": (30, 80),
                    "points": {0: (10, 20, 1), 9: (11.5, 21.5, "0"), 13: (40, 50, None)}},
                   {"head_box": (100, 100, 120, 130), "scale": 1.0, "center": (110, 160),
                    "points": {3: (101, 102, 0)}}]},
        {"name": "b.jpg", "train": False, "rects": [{"scale": 2.0, "center": (5, 6)},  # test image
                                                    {"scale": 1.0, "center": (7, 8), "points": {}}]},  # empty struct
    ]
    _write_mpii_release(tmp_path / "rel.mat", images)
    got = load_mpii_release(tmp_path / "rel.mat")
    assert [s.id for s in got] == ["a_0", "a_1"]
    a = got[0]
    np.testing.assert_allclose(a.points[[0, 9, 13]], [[10, 20], [11.5, 21.5], [40, 50]])
    assert a.visible[[0, 9, 13]].tolist() == [True, False, True]  # string '0' -> occluded, empty -> visible
    assert np.isnan(a.points[1]).all() and not a.extras["labelled"][1]
    np.testing.assert_allclose(a.extras["head_box"], [9, 19, 39, 59])
    assert a.extras["head_size"] == pytest.approx(0.6 * 50.0)
    assert a.extras["single_person"] and not got[1].extras["single_person"] and a.extras["act_name"] == "run"
    assert got[1].visible[3] == False  # noqa: E712
    allr = load_mpii_release(tmp_path / "rel.mat", annotated_only=False)
    assert len(allr) == 4 and not allr[2].extras["img_train"] and np.isnan(allr[2].points).all()
    np.testing.assert_allclose(allr[2].extras["center"], [5, 6])


def test_helen_folder_and_image_folder(tmp_path):
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.data.faces300w import HELEN_194_NAMES, _load_helen
    from convcorr_jax.data.voc_segmentation import load_image_folder

    rng = np.random.default_rng(5)
    for stem in ("10_1", "2_1"):
        _write_helen_txt(tmp_path / "annotation" / f"{stem}.txt", stem, rng.uniform(0, 50, (194, 2)))
        (tmp_path / "helen_1").mkdir(exist_ok=True)
        Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(tmp_path / "helen_1" / f"{stem}.jpg")
    (tmp_path / "trainnames.txt").write_text("2_1\n")
    (tmp_path / "testnames.txt").write_text("10_1\n")
    faces = _load_helen(tmp_path, with_images=True)
    assert [f.id for f in faces] == ["2_1", "10_1"] and [f.extras["split"] for f in faces] == ["train", "test"]
    assert faces[0].names == HELEN_194_NAMES and faces[0].image.shape == (50, 60, 3)
    got = load_image_folder(tmp_path / "helen_1", size=(16, 8))
    assert [p for p, _ in got] == ["10_1.jpg", "2_1.jpg"] and got[0][1].shape == (8, 16, 3)
    # a second image of the name 2_1 elsewhere: which one the annotation means is refused, never left to listing order
    (tmp_path / "helen_2").mkdir()
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(tmp_path / "helen_2" / "2_1.png")
    with pytest.raises(InputError, match=r"one image named 2_1 .*several: helen_1/2_1.jpg, helen_2/2_1.png"):
        _load_helen(tmp_path)
    assert [f.id for f in _load_helen(tmp_path, skip_bad=True)] == ["10_1"]


@pytest.mark.parametrize("suffix, fmt", [(".tif", "TIFF"), (".TIFF", "TIFF"), (".webp", "WEBP")])
def test_300w_and_helen_find_tiff_and_webp_images(tmp_path, suffix, fmt):
    """300-W and Helen looked for .jpg/.jpeg/.png/.bmp only: a face beside a .tif, .tiff or .webp image, which the
    other readers take (`types.IMAGE_EXTENSIONS`), had no image (with_images: an error saying it was missing)."""
    from convcorr_jax.data.faces300w import _load_helen

    rng = np.random.default_rng(6)
    write_pts(tmp_path / "w" / "a.pts", rng.uniform(0, 8, size=(68, 2)))
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(tmp_path / "w" / f"a{suffix}", format=fmt)
    face = load_300w(tmp_path / "w", with_images=True)[0]
    assert face.image_path.endswith(f"a{suffix}") and face.image.shape == (8, 8, 3)
    _write_helen_txt(tmp_path / "h" / "annotation" / "1_1.txt", "1_1", rng.uniform(0, 50, (194, 2)))
    (tmp_path / "h" / "helen_1").mkdir()
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(tmp_path / "h" / "helen_1" / f"1_1{suffix}", format=fmt)
    assert _load_helen(tmp_path / "h", with_images=True)[0].image.shape == (50, 60, 3)


def test_helen_missing_image_names_every_suffix_tried(tmp_path):
    """Helen's missing-image error named only `{stem}.jpg`, though .jpeg, .png and the others are looked for too."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.data.faces300w import _load_helen

    _write_helen_txt(tmp_path / "annotation" / "1_1.txt", "1_1", np.zeros((194, 2)))
    with pytest.raises(InputError) as e:
        _load_helen(tmp_path, with_images=True)
    said = str(e.value)
    assert len(said.splitlines()) == 1 and "field 'image'" in said and said.endswith("got missing"), said
    assert f"an image 1_1.jpg, 1_1.jpeg, 1_1.png, 1_1.bmp, 1_1.ppm, 1_1.tif, 1_1.tiff or 1_1.webp (suffix in any " \
        f"case) under {tmp_path}" in said, said


def test_voc_train_test_split_reads_a_voc_style_folder(tmp_path):
    """The Long et al. split loader reads a VOC-style folder: here the synthetic objects, written in that format."""
    from convcorr_jax.data import synthetic
    from convcorr_jax.data.voc_keypoints import load_voc_train_test
    from convcorr_jax.core.errors import InputError

    train = synthetic.load_objects(n=12, seed=0, split="train", image_size=96)
    test = synthetic.load_objects(n=12, seed=0, split="test", image_size=96)
    root = synthetic.dataset_dir("objects", 12, 0, 96)
    tr, te = load_voc_train_test(root, test_set="test")
    assert sorted(s.id for s in tr) == sorted(s.id for s in train)
    assert sorted(s.id for s in te) == sorted(s.id for s in test)
    by_id = {s.id: s for s in train}
    for s in tr:
        np.testing.assert_array_equal(s.image, by_id[s.id].image)
        np.testing.assert_allclose(s.points, by_id[s.id].points)
    with pytest.raises(InputError, match="annotations"):
        load_voc_train_test(tmp_path)
    with pytest.raises(InputError, match="voc_root"):
        load_voc_train_test(None, tmp_path)
