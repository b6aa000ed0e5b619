"""Synthetic datasets: determinism, splits, geometry, masks, and the round trip through the real loaders."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.data import synthetic as synthetic_data
from convcorr_jax.data.synthetic import datasets as synthetic_datasets

OBJ_SIZE, PEOPLE_SIZE, FACE_SIZE = 96, 64, 64


@pytest.fixture(scope="module", autouse=True)
def fresh_cache(tmp_path_factory):
    """A cache folder of this module's own, so every run exercises generation."""
    old = os.environ.get("CONVCORR_CACHE")
    os.environ["CONVCORR_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("CONVCORR_CACHE", None)
    else:
        os.environ["CONVCORR_CACHE"] = old


@pytest.fixture(scope="module")
def objects_all():
    return synthetic_data.load_objects(n=24, seed=3, split=None, image_size=OBJ_SIZE)


@pytest.fixture(scope="module")
def people_all():
    return synthetic_data.load_synthetic_people(n=16, seed=3, split=None, image_size=PEOPLE_SIZE)


@pytest.fixture(scope="module")
def faces_all():
    return synthetic_data.load_faces(n=16, seed=3, split=None, image_size=FACE_SIZE)


def _memory(kind, index, seed, size):
    r = synthetic_data.render_sample(kind, index, seed, size)
    return r if kind == "objects" else (r, None)


# ------------------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("kind,size", [("objects", OBJ_SIZE), ("people", PEOPLE_SIZE), ("faces", FACE_SIZE)])
def test_render_is_deterministic_by_seed_and_index(kind, size):
    a, la = _memory(kind, 5, 11, size)
    b, lb = _memory(kind, 5, 11, size)
    c, _ = _memory(kind, 5, 12, size)
    d, _ = _memory(kind, 6, 11, size)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.visible, b.visible)
    if la is not None:
        np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a.image, c.image) and not np.array_equal(a.points, c.points)
    assert not np.array_equal(a.image, d.image)


def test_subset_of_a_larger_set_is_identical(faces_all):
    small = synthetic_data.load_faces(n=6, seed=3, split=None, image_size=FACE_SIZE)
    assert [s.id for s in small] == [s.id for s in faces_all[:6]]
    for a, b in zip(small, faces_all[:6]):
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.image, b.image)


def test_parallel_generation_equals_serial(tmp_path):
    n = 64  # the pool is used from 64 items on
    synthetic_datasets.write_dataset("faces", tmp_path / "serial", n, seed=1, image_size=32, workers=1)
    synthetic_datasets.write_dataset("faces", tmp_path / "pool", n, seed=1, image_size=32, workers=2)
    files = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.p*"))
    assert len(files) == 2 * n
    for f in files:
        assert (tmp_path / "serial" / f).read_bytes() == (tmp_path / "pool" / f).read_bytes(), f


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed_refused_before_anything_is_written(tmp_path, seed):
    """A negative seed used to reach numpy's SeedSequence and end in a ValueError traceback, after the folder was
    made; it is an InputError naming the seed, and nothing is created."""
    from convcorr_jax.core.errors import InputError

    with pytest.raises(InputError, match="seed"):
        synthetic_datasets.write_dataset("faces", tmp_path / "s", 2, seed=seed, image_size=32)
    with pytest.raises(InputError, match="seed"):
        synthetic_data.load_faces(n=2, seed=seed, split=None, image_size=32)
    assert not (tmp_path / "s").exists()


def test_worker_pool_stops_on_a_stop_request(tmp_path):
    """With worker processes (64 items on, the `data synth` default of 2 workers) the main thread only waited for
    the pumping threads, no safe point: Ctrl-C was held until the whole set was written, then reported as a stop.
    It now stops within a moment, the workers ended."""
    from convcorr_jax.core import interrupt

    with interrupt.handling("test"), pytest.raises(interrupt.Interrupted):
        interrupt.request()
        synthetic_datasets.write_dataset("faces", tmp_path / "s", 64, seed=1, image_size=32, workers=2)
    assert len(list((tmp_path / "s").rglob("*.pts"))) < 64 and not (tmp_path / "s" / "synthetic.json").exists()


def test_cache_is_reused_and_leaves_no_temporary_folders():
    first = synthetic_datasets.dataset_dir("faces", 16, 3, FACE_SIZE)
    stamp = (first / "synthetic.json").stat().st_mtime_ns
    again = synthetic_datasets.dataset_dir("faces", 16, 3, FACE_SIZE)
    assert again == first and (first / "synthetic.json").stat().st_mtime_ns == stamp
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------------------ splits


@pytest.mark.parametrize(
    "loader,n,size", [(synthetic_data.load_objects, 24, OBJ_SIZE),
                      (synthetic_data.load_synthetic_people, 16, PEOPLE_SIZE),
                      (synthetic_data.load_faces, 16, FACE_SIZE)]
)
def test_splits_are_disjoint_and_cover_the_set(loader, n, size, objects_all, people_all, faces_all):
    tr = loader(n=n, seed=3, split="train", image_size=size)
    te = loader(n=n, seed=3, split="test", image_size=size)
    ids_tr, ids_te = {s.id for s in tr}, {s.id for s in te}
    assert ids_tr.isdisjoint(ids_te)
    assert len(tr) + len(te) == n and len(tr) > len(te) > 0
    assert all(s.extras["split"] == "train" for s in tr) and all(s.extras["split"] == "test" for s in te)


def test_split_fraction_is_about_a_quarter():
    from convcorr_jax.data.synthetic.render import is_test

    frac = np.mean([is_test(0, i) for i in range(4000)])
    assert 0.23 < frac < 0.27


# ------------------------------------------------------------------------------------------ geometry


def test_objects_schema_and_names(objects_all):
    from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES

    assert len(synthetic_data.OBJECT_CATEGORIES) >= 5
    cats = {s.category for s in objects_all}
    assert cats == set(synthetic_data.OBJECT_CATEGORIES)  # categories cycle with the index
    for c in synthetic_data.OBJECT_CATEGORIES:
        assert synthetic_data.OBJECT_KEYPOINTS[c] == KEYPOINT_NAMES[c] and 8 <= len(KEYPOINT_NAMES[c]) <= 16
    for s in objects_all:
        assert s.image.shape == (OBJ_SIZE, OBJ_SIZE, 3) and s.image.dtype == np.uint8
        assert np.all(np.isfinite(s.points))
        b = s.bbox
        assert 0 <= b[0] <= b[2] <= OBJ_SIZE - 1 and 0 <= b[1] <= b[3] <= OBJ_SIZE - 1
    vis = np.concatenate([s.visible for s in objects_all])
    assert 0.4 < vis.mean() < 0.97  # occlusion happens, but most keypoints are seen


@pytest.mark.parametrize(
    "fixture,size", [("objects_all", OBJ_SIZE), ("people_all", PEOPLE_SIZE), ("faces_all", FACE_SIZE)]
)
def test_visible_points_are_inside_the_image(fixture, size, request):
    for s in request.getfixturevalue(fixture):
        p = s.points[s.visible]
        assert np.all((p >= -0.5) & (p <= size - 0.5)), s.id


def test_people_annotations(people_all):
    from convcorr_jax.data.mpii import MPII_JOINTS

    for s in people_all:
        assert s.names == MPII_JOINTS and s.points.shape == (16, 2)
        hb = s.extras["head_box"]
        head_top, neck = s.points[9], s.points[8]
        # the head box contains the head top and lies above the pelvis... in the person's own frame: it is
        # close to the head-top/neck segment and about its size
        seg = np.linalg.norm(head_top - neck)
        diag = np.hypot(hb[2] - hb[0], hb[3] - hb[1])
        assert 0.8 * seg < diag < 4 * seg + 2, s.id
        assert hb[0] - 1 <= head_top[0] <= hb[2] + 1 and hb[1] - 1 <= head_top[1] <= hb[3] + 1
        # MPII scale = person height / 200 px: the joints span at most the person's height
        span = np.nanmax(s.points[:, 1]) - np.nanmin(s.points[:, 1])
        assert span <= s.extras["scale_raw"] * 200 + 1
        np.testing.assert_allclose(s.extras["normalize"], 0.6 * diag, rtol=1e-5)
        tb = s.extras["torso_box"]
        assert tb[0] <= s.points[12, 0] <= tb[2] and tb[1] <= s.points[3, 1] <= tb[3]


def test_faces_layout_and_attributes(faces_all):
    from convcorr_jax.data.faces300w import interocular_distance

    for s in faces_all:
        p = s.points
        at = s.extras["attributes"]
        assert set(synthetic_data.ATTRIBUTE_NAMES) <= set(at) and all(isinstance(v, float) for v in at.values())
        # iBUG layout: chin is the lowest jaw point, brows above the eyes, nose tip between eyes and mouth,
        # subject's right eye (36-41) on the image left, in the face's own (roll-corrected) frame
        c, sn = np.cos(-at["roll"]), np.sin(-at["roll"])
        q = (p - p.mean(0)) @ np.array([[c, sn], [-sn, c]])
        assert q[8, 1] == pytest.approx(q[0:17, 1].max(), abs=0.05 * interocular_distance(p))
        assert q[17:27, 1].mean() < q[36:48, 1].mean() < q[30, 1] < q[48:68, 1].mean()
        assert q[36:42, 0].mean() < q[42:48, 0].mean()
        assert q[48, 0] < q[54, 0] and q[36, 0] < q[39, 0] < q[42, 0] < q[45, 0]
    glasses = [s.extras["attributes"]["glasses"] for s in faces_all]
    assert set(glasses) <= {0.0, 1.0}


# ------------------------------------------------------------------------------------------ round trips


def test_objects_round_trip_through_voc_loaders(objects_all):
    for s in objects_all:
        m, label = _memory("objects", s.extras["index"], 3, OBJ_SIZE)
        assert (m.id, m.category, m.names) == (s.id, s.category, s.names)
        np.testing.assert_allclose(m.points, s.points, atol=2e-3)
        np.testing.assert_array_equal(m.visible, s.visible)
        np.testing.assert_array_equal(m.bbox, s.bbox)
        assert s.extras["bbox_source"] == "voc"
        assert np.abs(m.image.astype(int) - s.image).mean() < 6  # JPEG quality 95
        from convcorr_jax.data.voc_segmentation import read_label_png

        np.testing.assert_array_equal(read_label_png(s.extras["mask_path"]), label)
    seg = synthetic_data.load_objects_segmentation(n=24, seed=3, split=None, image_size=OBJ_SIZE)
    assert [g.id for g in seg] == sorted(s.extras["image_id"] for s in objects_all)


def test_masks_agree_with_keypoint_categories(objects_all):
    seg = {g.id: g for g in synthetic_data.load_objects_segmentation(n=24, seed=3, split=None, image_size=OBJ_SIZE)}
    for s in objects_all:
        lab = seg[s.extras["image_id"]].label
        cls = synthetic_data.OBJECT_CATEGORIES.index(s.category) + 1
        assert set(np.unique(lab).tolist()) <= {0, cls, 255}
        assert (lab == cls).sum() > 20
        # the object's box is the extent of its pixels before occlusion: every class pixel lies inside it
        ys, xs = np.nonzero(lab == cls)
        b = s.bbox
        assert xs.min() >= b[0] and xs.max() <= b[2] and ys.min() >= b[1] and ys.max() <= b[3]
        for (x, y), v in zip(s.points, s.visible):
            if v:
                xi, yi = int(round(x)), int(round(y))
                win = lab[max(yi - 2, 0) : yi + 3, max(xi - 2, 0) : xi + 3]
                assert (win == cls).any(), (s.id, x, y)


def test_people_round_trip_through_mpii_and_flic(people_all):
    flic = {s.id: s for s in synthetic_data.load_synthetic_people(n=16, seed=3, split=None, image_size=PEOPLE_SIZE,
                                                                  view="flic")}
    assert set(flic) == {s.id for s in people_all}
    for s in people_all:
        m, _ = _memory("people", s.extras["index"], 3, PEOPLE_SIZE)
        assert m.id == s.id and m.names == s.names
        np.testing.assert_allclose(m.points, s.points, atol=1e-4)
        np.testing.assert_array_equal(m.visible, s.visible)
        np.testing.assert_allclose(m.extras["head_box"], s.extras["head_box"], atol=1e-4)
        np.testing.assert_allclose(m.extras["center_raw"], s.extras["center_raw"], atol=1e-3)
        np.testing.assert_allclose(m.extras["scale_raw"], s.extras["scale_raw"], rtol=1e-6)
        np.testing.assert_allclose(m.extras["center"], s.extras["center"], atol=1e-3)
        np.testing.assert_allclose(m.extras["scale"], s.extras["scale"], rtol=1e-6)
        np.testing.assert_allclose(m.extras["normalize"], s.extras["normalize"], rtol=1e-5)
        np.testing.assert_allclose(m.extras["torso_box"], s.extras["torso_box"], atol=1e-4)
        assert np.abs(m.image.astype(int) - s.image).mean() < 6
        f = flic[s.id]
        np.testing.assert_allclose(f.points, m.extras["flic_points"], atol=1e-4)
        np.testing.assert_allclose(f.extras["torso_box"], m.extras["torso_box"], atol=1e-3)
        np.testing.assert_array_equal(f.image, s.image)
        assert f.extras["istrain"] == (s.extras["split"] == "train")
        # the FLIC shoulders/hips are the MPII ones
        np.testing.assert_allclose(f.points[[0, 3, 6, 7]], s.points[[13, 12, 3, 2]], atol=1e-4)


def test_people_annotation_noise_moves_points_not_images():
    a, _ = _memory("people", 2, 0, PEOPLE_SIZE)
    b = synthetic_data.render_sample("people", 2, 0, PEOPLE_SIZE, noise_sigma=2.0)
    np.testing.assert_array_equal(a.image, b.image)
    d = np.linalg.norm(a.points - b.points, axis=1)
    assert 0.5 < d.mean() < 5.0


def test_faces_round_trip_through_300w_loader(faces_all):
    import json

    root = synthetic_datasets.dataset_dir("faces", 16, 3, FACE_SIZE)
    attrs = json.loads((root / "attributes.json").read_text())
    for s in faces_all:
        m, _ = _memory("faces", s.extras["index"], 3, FACE_SIZE)
        assert m.id == s.id and s.names == m.names and len(s.names) == 68
        np.testing.assert_allclose(m.points, s.points, atol=1e-4)
        np.testing.assert_array_equal(m.visible, s.visible)
        np.testing.assert_array_equal(m.image, s.image)  # PNG: lossless
        assert s.extras["attributes"] == m.extras["attributes"] == attrs[s.id]
        assert Path(s.image_path).parent.name == f"{s.extras['split']}set"


# ------------------------------------------------------------------------------------------ difficulty


def test_shapes_vary_enough_that_a_mean_shape_fails(objects_all, people_all, faces_all):
    from convcorr_jax.core.metrics import pck

    # objects: keypoints relative to the box; predicting the category's mean relative shape
    objs = synthetic_data.load_objects(n=120, seed=4, split=None, image_size=64)
    accs = []
    for c in synthetic_data.OBJECT_CATEGORIES:
        ss = [s for s in objs if s.category == c]
        rel = np.stack([(s.points - s.bbox[:2]) / np.maximum(s.bbox[2:] - s.bbox[:2], 1) for s in ss])
        mean = rel.mean(0)
        pred = np.stack([s.bbox[:2] + mean * np.maximum(s.bbox[2:] - s.bbox[:2], 1) for s in ss])
        gt = np.stack([s.points for s in ss])
        vis = np.stack([s.visible for s in ss])
        size = np.stack([np.max(s.bbox[2:] - s.bbox[:2]) for s in ss])
        d = np.linalg.norm(pred - gt, axis=-1) / size[:, None]
        accs.append(float((d[vis] <= 0.1).mean()))
    assert np.mean(accs) < 0.4, accs
    # faces: the mean shape placed at the image centre, NME by inter-ocular distance
    from convcorr_jax.data.faces300w import interocular_distance

    P = np.stack([s.points for s in faces_all])
    nme = (np.linalg.norm(P - P.mean(0), axis=-1).mean(1) / interocular_distance(P)).mean()
    assert nme > 0.15, nme
    # people: the mean pose placed at the person's centre and scale, PCKh@0.5
    Q = np.stack([(s.points - s.extras["center_raw"]) / s.extras["scale_raw"] for s in people_all])
    pred = (
        Q.mean(0)[None] * np.array([s.extras["scale_raw"] for s in people_all])[:, None, None]
        + np.stack([s.extras["center_raw"] for s in people_all])[:, None]
    )
    gt = np.stack([s.points for s in people_all])
    h = np.array([s.extras["normalize"] for s in people_all])
    assert (np.linalg.norm(pred - gt, axis=-1) / h[:, None] <= 0.5).mean() < 0.5
    assert pck is not None


def test_images_carry_detail_finer_than_8_pixels(objects_all, people_all, faces_all):
    """Energy lost by 8x8 average pooling is a sizeable part of the image: detail below a pooling stride."""
    for group in (objects_all, people_all, faces_all):
        lost = []
        for s in group:
            x = s.image.astype(np.float64)
            h, w = (x.shape[0] // 8) * 8, (x.shape[1] // 8) * 8
            x = x[:h, :w]
            pooled = x.reshape(h // 8, 8, w // 8, 8, 3).mean((1, 3))
            up = np.repeat(np.repeat(pooled, 8, 0), 8, 1)
            lost.append(np.abs(x - up).mean())
        assert np.mean(lost) > 8.0, np.mean(lost)


# ------------------------------------------------------------------------------------------ commands


def test_synth_cli_writes_real_format_folders(tmp_path):
    from convcorr_cli.main import main
    from convcorr_jax.data.faces300w import load_300w
    from convcorr_jax.data.flic import load_flic
    from convcorr_jax.data.mpii import load_mpii_h5
    from convcorr_jax.data.voc_keypoints import load_voc_keypoints

    assert (
        main(
            [
                "data",
                "synth",
                "objects",
                "--n",
                "6",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "o"),
                "--image-size",
                "64",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    o = tmp_path / "o"
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Main", "ImageSets/Segmentation"):
        assert (o / sub).is_dir(), sub
    assert len(list((o / "annotations").glob("*/*.xml"))) == 6
    assert len(load_voc_keypoints(o / "annotations", voc_root=o, with_images=True)) == 6
    assert main(["data", "synth", "people", "--n", "5", "--out", str(tmp_path / "p"), "--image-size", "64"]) == 0
    p = tmp_path / "p"
    n_h5 = sum(len(load_mpii_h5(p / "annot" / f, with_images=True)) for f in ("train.h5", "valid.h5"))
    assert n_h5 == 5 and len(load_flic(p, with_images=True)) == 5
    assert main(["data", "synth", "faces", "--n", "4", "--out", str(tmp_path / "f"), "--image-size", "48"]) == 0
    assert len(load_300w(tmp_path / "f", with_images=True)) == 4
    # a non-empty output folder is refused with the one error type (exit code 2)
    assert main(["data", "synth", "faces", "--n", "4", "--out", str(tmp_path / "f")]) == 2


def test_example_grids_write_pngs(tmp_path):
    from PIL import Image

    from convcorr_eval.long2014.data_figures import grid

    grid("faces", 2, 0, 64, 2, tmp_path / "faces.png")
    grid("objects", 2, 0, 64, 2, tmp_path / "objects.png", tmp_path / "objects_masks.png")
    for name in ("faces.png", "objects.png", "objects_masks.png"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


def test_object_mean_layout_pck_is_measured_as_long_table4_rows():
    """By hand: five boxes (0, 0, 9, 9), 10 px with inclusive sides, so alpha 0.1 allows 1 px. Type 0 sits at x 0,
    0, 0, 0, 4 and is visible in the first image only, whose leave-one-out mean is 1 px off: a hit (a 9 px side
    would allow 0.9). Type 1 at x 0, 0, 0, 0, 2 is visible everywhere: the first four means are 0.5 px off, the
    fifth 2 px: 4 of 5. The mean over types is (1 + 4/5) / 2 = 0.9; pooling the six keypoints would give 5/6."""
    from types import SimpleNamespace

    from convcorr_eval.long2014.data_figures import object_mean_shape_pck

    xs = [(0.0, 0.0)] * 4 + [(4.0, 2.0)]
    samples = [SimpleNamespace(category="bird", bbox=np.array([0.0, 0.0, 9.0, 9.0]),
                               points=np.array([[x0, 5.0], [x1, 5.0]]), visible=np.array([i == 0, True]))
               for i, (x0, x1) in enumerate(xs)]
    assert object_mean_shape_pck(samples) == pytest.approx({"bird": 0.9})


def test_bad_arguments_raise_input_error():
    from convcorr_jax.core.errors import InputError

    with pytest.raises(InputError):
        synthetic_data.load_faces(n=0)
    with pytest.raises(InputError):
        synthetic_data.load_objects(n=4, split="val")
    with pytest.raises(InputError):
        synthetic_data.load_synthetic_people(n=4, view="lsp")


def test_demo_stage_tiny(tmp_path):
    from convcorr_eval.experiment import Context
    from convcorr_eval.long2014.data_figures import face_mean_shape_nme, get_config, run

    res = run(get_config("tiny"), Context(tmp_path, progress=False))
    for name in ("synthetic_objects.png", "synthetic_objects_masks.png", "synthetic_people.png", "synthetic_faces.png"):
        assert (tmp_path / "figures" / name).is_file()
        assert f"figures/{name}" in res.markdown
    m = res.metrics
    # the image side in pixels is a whole number: it was printed as "192.0"
    sides = {line.split(" | ")[0][2:]: line.split(" | ")[2] for line in res.markdown.splitlines()
             if line.startswith(("| objects |", "| people |", "| faces |"))}
    assert sides and all(re.fullmatch(r"[0-9]+", side) for side in sides.values()), sides
    assert set(m["object_mean_layout_pck"]) == set(synthetic_data.OBJECT_CATEGORIES)
    assert 0 <= m["people_mean_pose_pckh"] <= 1 and m["face_mean_shape_nme"] > 0
    # hand check of the leave-one-out mean shape on three faces: the mean of the other two
    fs = synthetic_data.load_faces(n=8, seed=0, split=None)[:3]
    from convcorr_jax.data.faces300w import interocular_distance

    want = np.mean(
        [
            np.linalg.norm((fs[(i + 1) % 3].points + fs[(i + 2) % 3].points) / 2 - fs[i].points, axis=1).mean()
            / interocular_distance(fs[i].points)
            for i in range(3)
        ]
    )
    assert face_mean_shape_nme(fs) == pytest.approx(want, rel=1e-5)


def test_mean_pose_pckh_pools_the_mpii_toolkit_joints():
    """The people's image-blind PCKh@0.5 pools the MPII toolkit's 14 joints, as `convcorr eval pckh`: pelvis and
    thorax wherever they are leave it at 1 when the other 14 joints of everyone are the mean pose's."""
    from types import SimpleNamespace

    from convcorr_eval.long2014.data_figures import people_mean_pose_pckh

    pose = np.random.default_rng(0).uniform(-1, 1, (16, 2))
    people = []
    for i in range(3):
        pts = pose.copy()
        pts[[6, 7]] += 50.0 * i  # pelvis and thorax scattered: the others' mean misses them by 75 head sizes
        people.append(SimpleNamespace(points=pts, extras={"center": np.zeros(2), "scale": 1.0, "normalize": 1.0}))
    assert people_mean_pose_pckh(people) == pytest.approx(1.0)


def test_people_face_the_way_their_toes_point_and_label_sides_as_real_data():
    """The face is on the front of the head (where the toes point and the knees bend), so a person seen face-on
    shows the joints labelled "r" on the image's left, as FLIC, LSP and MPII label people (from the person's view):
    the face was on the back of the head, so every face-on person was labelled as a mirror image."""
    from convcorr_jax.data.synthetic import people

    for i in range(100):
        J = people.skeleton(np.random.default_rng(i))
        toes = (J["r toe"] - J["r ankle"]) + (J["l toe"] - J["l ankle"])
        assert np.dot(J["nose"] - J["head centre"], toes) > 0, i
    order = []
    for i in range(24):
        s = people.render_person(i, seed=1, image_size=PEOPLE_SIZE)
        fp, fv = s.extras["flic_points"], s.extras["flic_visible"]
        if fv[8] and fv[9] and fv[10]:  # both eyes and the nose seen: the face turned to the camera
            order.append(fp[9, 0] < fp[8, 0])  # r eye left of l eye
    assert len(order) >= 5 and np.mean(order) >= 0.75, order
