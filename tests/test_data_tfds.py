"""TFDS builders (tensorflow-datasets without TensorFlow): build from tiny manual folders, offline, read back."""

from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow_datasets")

from convcorr_jax.data import KeypointSample  # noqa: E402
from convcorr_jax.data.faces300w import write_pts  # noqa: E402
from convcorr_jax.data.mpii import MPII_JOINTS, write_mpii_h5  # noqa: E402
from convcorr_jax.data.voc_devkit import write_image_set, write_voc_annotation  # noqa: E402
from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES, write_keypoint_xml  # noqa: E402


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or resolve a name fails the test."""

    def refuse(*a, **k):
        raise AssertionError(f"network access attempted: {a[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _img(path, w, h, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def _kp(names, rng, category, w=40, h=30):
    pts = np.stack([rng.uniform(0, w - 1, len(names)), rng.uniform(0, h - 1, len(names))], 1).round(2)
    return KeypointSample(points=pts.astype(np.float32), visible=np.ones(len(names), bool), names=tuple(names),
                          bbox=np.array([1, 2, w - 2, h - 3], np.float32), category=category, id="x")


def test_voc_keypoints_builder(tmp_path, no_network):
    from convcorr_jax.data.tfds_builders import ConvcorrVocKeypoints, build, _iter_samples, _load_prepared

    rng = np.random.default_rng(0)
    man = tmp_path / "manual"
    ids = ["2008_000001", "2008_000002", "2008_000003"]
    for i, img_id in enumerate(ids):
        s = _kp(KEYPOINT_NAMES["cat"], rng, "cat")
        write_keypoint_xml(man / "annotations" / "cat" / f"{img_id}_1.xml", s, image_id=img_id, voc_id=1)
        write_voc_annotation(man / "VOC2011" / "Annotations" / f"{img_id}.xml", img_id, (40, 30),
                             [{"name": "cat", "bbox": (0, 1, 38, 28)}])
        _img(man / "VOC2011" / "JPEGImages" / f"{img_id}.jpg", 40, 30, 40 * i)
    write_image_set(man / "VOC2011" / "ImageSets" / "Main" / "train.txt", ids[:2])
    write_image_set(man / "VOC2011" / "ImageSets" / "Main" / "val.txt", ids[2:])
    ds = build("voc_keypoints", man, tmp_path / "tfds")
    assert sorted(ds) == ["train", "validation"] and len(ds["train"]) == 2 and len(ds["validation"]) == 1
    got = list(_iter_samples(ds["validation"]))[0]
    assert got.id == "cat/2008_000003_1" and got.names == KEYPOINT_NAMES["cat"]
    assert got.image.shape == (30, 40, 3) and abs(int(got.image.mean()) - 80) <= 2
    np.testing.assert_allclose(got.bbox, [0, 1, 38, 28])
    # read back from the prepared folder alone (a second process would do this)
    again = _load_prepared(tmp_path / "tfds" / "convcorr_voc_keypoints" / str(ConvcorrVocKeypoints.VERSION))
    assert len(again["train"]) == 2


def test_mpii_builder(tmp_path, no_network):
    from convcorr_jax.data.tfds_builders import build, _to_sample

    rng = np.random.default_rng(1)
    man = tmp_path / "manual"
    people = []
    for i in range(3):
        s = dataclasses.replace(_kp(MPII_JOINTS, rng, "person"), image_path=f"{i:09d}.jpg",
                                extras={"head_box": np.array([5, 5, 15, 17.0])})
        people.append(s)
        _img(man / "images" / f"{i:09d}.jpg", 40, 30, 10 * i)
    write_mpii_h5(man / "annot" / "train.h5", people[:2])
    write_mpii_h5(man / "annot" / "valid.h5", people[2:])
    ds = build("mpii", man, tmp_path / "tfds")
    assert len(ds["train"]) == 2 and len(ds["validation"]) == 1
    rec = _to_sample(ds["validation"][0])
    np.testing.assert_allclose(rec.points, people[2].points, atol=1e-5)
    assert float(rec.extras["normalize"]) == pytest.approx(0.6 * np.hypot(10, 12), rel=1e-6)
    np.testing.assert_allclose(rec.extras["head_box"], [5, 5, 15, 17])
    import tensorflow_datasets as tfds

    by_name = tfds.data_source("convcorr_mpii", split="train", data_dir=str(tmp_path / "tfds"), download=False)
    assert len(by_name) == 2  # the registered name works through tfds' own numpy API


def test_faces300w_builder(tmp_path, no_network):
    from convcorr_jax.data.tfds_builders import build, _to_sample

    rng = np.random.default_rng(2)
    man = tmp_path / "manual"
    for sub, n in (("helen/trainset", 2), ("lfpw/testset", 1), ("ibug", 1)):
        for i in range(n):
            write_pts(man / sub / f"f{i}.pts", rng.uniform(0, 30, size=(68, 2)))
            _img(man / sub / f"f{i}.jpg", 32, 32, 5 * i)
    ds = build("faces300w", man, tmp_path / "tfds")
    assert {k: len(v) for k, v in ds.items()} == {"train": 2, "common": 1, "challenging": 1}
    s = _to_sample(ds["challenging"][0])
    assert s.points.shape == (68, 2) and s.image.shape == (32, 32, 3)
    assert float(s.extras["interocular"]) == pytest.approx(float(np.linalg.norm(s.points[36] - s.points[45])), rel=1e-5)


def test_pf_willow_builder(tmp_path, no_network):
    import scipy.io as sio

    from convcorr_jax.data.tfds_builders import build, _iter_samples

    man = tmp_path / "manual"
    for sub in ("car(S)", "duck(S)"):
        for k in range(3):
            _img(man / "PF-dataset" / sub / f"im{k}.png", 20, 16, 30 * k)
            coords = np.stack([np.arange(1, 11) + k, np.arange(3, 13)]).astype(float)  # 1-based
            sio.savemat(man / "PF-dataset" / sub / f"im{k}.mat", {"pts_coord": coords})
    ds = build("pf_willow", man, tmp_path / "tfds")
    assert sorted(ds) == ["test"] and len(ds["test"]) == 6
    got = {s.id: s for s in _iter_samples(ds["test"])}
    s = got["duck(S)/im2"]
    assert s.extras["subclass"] == "duck(S)" and int(s.extras["index"]) == 2 and s.category == "duck"
    np.testing.assert_allclose(s.points[0], [2, 2])  # 1-based (3, 3) -> 0-based
    np.testing.assert_allclose(s.bbox, [2, 2, 11, 11])
    assert s.image.shape == (16, 20, 3) and abs(int(s.image.mean()) - 60) <= 2


def test_gcs_lookups_disabled_on_import():
    import convcorr_jax.data.tfds_builders  # noqa: F401
    from tensorflow_datasets.core.utils import gcs_utils

    assert gcs_utils._is_gcs_disabled


def test_builders_on_synthetic_sets(tmp_path, no_network):
    """The synthetic sets are written in the real formats, so the same builders prepare them."""
    from convcorr_jax.data import synthetic as synth

    from convcorr_jax.data.tfds_builders import build, _to_sample

    for kind, builder in (("objects", "voc_keypoints"), ("people", "mpii"), ("people", "flic"), ("faces", "faces300w")):
        if not (tmp_path / kind).exists():
            info = synth.write_dataset(kind, tmp_path / kind, 6, seed=0, image_size=64)
        ds = build(builder, tmp_path / kind, tmp_path / "tfds" / builder)
        assert sum(len(v) for v in ds.values()) == 6, kind
        assert len(ds["train"]) == info["train"]
        s = _to_sample(ds["train"][0])
        assert s.image.shape == (64, 64, 3) and np.isfinite(s.points).any(), kind


def test_flic_builder_keeps_the_movie_of_each_frame(tiny_flic, tmp_path, no_network):
    """A prepared FLIC set holds each frame's film, so the by-film validation split can be made from it."""
    from convcorr_jax.data.flic import load_flic
    from convcorr_jax.data.flic_split import movie_split
    from convcorr_jax.data.tfds_builders import ConvcorrFlic, _load_prepared, _iter_samples, build

    assert str(ConvcorrFlic.VERSION) in ConvcorrFlic.RELEASE_NOTES and str(ConvcorrFlic.VERSION) != "1.0.0"
    build("flic", tiny_flic, tmp_path / "tfds")
    ds = _load_prepared(tmp_path / "tfds" / "convcorr_flic" / str(ConvcorrFlic.VERSION))
    want = {s.id: s.extras["moviename"] for s in load_flic(tiny_flic, split="train")}
    got = {s.id: s.extras["moviename"] for s in _iter_samples(ds["train"])}
    assert got == want and sorted(want.values()) == ["a", "b"]
    train, val = movie_split(list(got.values()), fraction=0.5, seed=0)
    assert len(train) == len(val) == 1


@pytest.mark.parametrize("name", ["voc_keypoints", "mpii", "faces300w", "flic", "pf_willow"])
def test_missing_or_empty_manual_dir_is_one_input_error_naming_the_files(name, tmp_path, no_network):
    """Not tfds' two-line AssertionError with generic instructions: the folder, and what the builder reads there."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.data.tfds_builders import BUILDERS, build

    (tmp_path / "empty").mkdir()
    for folder, got in (("missing", "missing folder"), ("empty", "an empty folder")):
        with pytest.raises(InputError) as e:
            build(name, tmp_path / folder, tmp_path / "tfds")
        msg = str(e.value)
        assert "\n" not in msg and str(tmp_path / folder) in msg and "manual_dir" in msg and got in msg
        assert BUILDERS[name].MANUAL_LAYOUT in msg


def test_a_split_without_examples_is_left_out(tiny_flic, tmp_path, no_network):
    """A FLIC folder of train frames only prepares its train split (tfds refused an empty test split)."""
    import scipy.io as sio

    from convcorr_jax.data.tfds_builders import build

    ex = sio.loadmat(tiny_flic / "examples.mat")["examples"]
    for i in range(ex.size):  # every frame a train frame
        ex["istrain"].flat[i], ex["istest"].flat[i] = np.ones((1, 1), np.uint8), np.zeros((1, 1), np.uint8)
    sio.savemat(tiny_flic / "examples.mat", {"examples": ex})
    ds = build("flic", tiny_flic, tmp_path / "tfds")
    assert {k: len(v) for k, v in ds.items()} == {"train": 4}


def test_a_manual_dir_without_examples_is_an_input_error_and_prepares_nothing(tmp_path, no_network):
    """A 300-W folder without .pts files was prepared as a dataset of no split, then reused by every later build."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.data.tfds_builders import build

    man = tmp_path / "manual"
    man.mkdir()
    (man / "README.txt").write_text("the faces come later")
    with pytest.raises(InputError, match="manual_dir.*\\.pts files.*no example found"):
        build("faces300w", man, tmp_path / "tfds")
    write_pts(man / "ibug" / "f0.pts", np.random.default_rng(0).uniform(0, 30, size=(68, 2)))
    _img(man / "ibug" / "f0.jpg", 32, 32, 9)
    assert {k: len(v) for k, v in build("faces300w", man, tmp_path / "tfds").items()} == {"challenging": 1}


def test_a_folder_prepared_with_images_as_stored_is_not_reused(tmp_path, monkeypatch, no_network):
    """Images became upright by their EXIF orientation after 1.0.0: a 1.0.0 folder prepared then (sideways image)
    must not be what `build` returns now."""
    from PIL import ImageOps

    import tensorflow_datasets as tfds
    from convcorr_jax.data.tfds_builders import ConvcorrFaces300w, build, _to_sample

    man = tmp_path / "manual"
    write_pts(man / "ibug" / "f0.pts", np.random.default_rng(0).uniform(0, 19, size=(68, 2)))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    Image.fromarray(np.full((20, 40, 3), 99, np.uint8)).save(man / "ibug" / "f0.jpg", exif=exif)
    with monkeypatch.context() as m:  # as 1.0.0 prepared it: the pixels as stored, 40 wide and 20 high
        m.setattr(ImageOps, "exif_transpose", lambda im: im)
        m.setattr(ConvcorrFaces300w, "VERSION", tfds.core.Version("1.0.0"))
        old = build("faces300w", man, tmp_path / "tfds")
        assert _to_sample(old["challenging"][0]).image.shape == (20, 40, 3)
    now = build("faces300w", man, tmp_path / "tfds")
    assert _to_sample(now["challenging"][0]).image.shape == (40, 20, 3)


def test_an_id_twice_is_one_input_error_naming_it(tmp_path, no_network):
    """Two people of one image without a person index: tfds failed late with "No module named 'tensorflow'". The same
    people in train.h5 and valid.h5: the example was in both splits without a word."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.data.tfds_builders import build

    rng = np.random.default_rng(3)
    man = tmp_path / "manual"
    _img(man / "images" / "a.jpg", 40, 30, 0)
    two = [dataclasses.replace(_kp(MPII_JOINTS, rng, "person"), image_path="a.jpg",
                               extras={"head_box": np.array([5, 5, 15, 17.0])}) for _ in range(2)]
    write_mpii_h5(man / "annot" / "train.h5", two)
    with pytest.raises(InputError, match="manual.*'id'.*'a_0' twice in train"):
        build("mpii", man, tmp_path / "tfds")
    write_mpii_h5(man / "annot" / "train.h5", two[:1])
    write_mpii_h5(man / "annot" / "valid.h5", two[:1])
    with pytest.raises(InputError, match="'a_0' in both train and validation"):
        build("mpii", man, tmp_path / "tfds")
    assert not list((tmp_path / "tfds").rglob("dataset_info.json"))  # nothing prepared


def test_a_split_reads_back_as_its_loaders_samples_in_order(tmp_path, no_network):
    """Record i of a split is the loader's sample i, every field equal (a missing joint NaN, not 0 or -1); tfds
    shuffled the records by a hash of the id, so predictions in the loader's order were scored against other people."""
    from convcorr_jax.data.mpii import load_mpii_h5
    from convcorr_jax.data.tfds_builders import build, _iter_samples

    rng = np.random.default_rng(4)
    man = tmp_path / "manual"
    people = []
    for i in range(6):
        s = _kp(MPII_JOINTS, rng, "person")
        s.points[i] = np.nan
        s.visible[(i + 1) % 16] = False
        people.append(dataclasses.replace(s, image_path=f"{i:09d}.jpg",
                                          extras={"head_box": np.array([5, 5, 15, 17.0])}))
        _img(man / "images" / f"{i:09d}.jpg", 40, 30, 10 * i)
    write_mpii_h5(man / "annot" / "train.h5", people[:5])
    write_mpii_h5(man / "annot" / "valid.h5", people[5:])
    ds = build("mpii", man, tmp_path / "tfds")
    for split, h5 in (("train", "train.h5"), ("validation", "valid.h5")):
        want = list(load_mpii_h5(man / "annot" / h5, image_root=man / "images", with_images=True))
        got = list(_iter_samples(ds[split]))
        assert [s.id for s in got] == [s.id for s in want]
        for g, w in zip(got, want):
            for f in ("points", "visible", "bbox", "image"):
                np.testing.assert_array_equal(getattr(g, f), getattr(w, f), err_msg=f"{g.id} {f}")
                assert getattr(g, f).dtype == getattr(w, f).dtype
            assert (g.names, g.category, g.image_path) == (w.names, w.category, w.image_path)
            np.testing.assert_array_equal(g.extras["labelled"], w.extras["labelled"])
            np.testing.assert_array_equal(g.extras["head_box"], w.extras["head_box"])
    assert np.isnan(got[0].points[5]).all() and not got[0].visible[5]
