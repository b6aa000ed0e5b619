"""Patch database + Figures 1-2 helpers (Long et al. section 2) on a tiny random-weight backbone run."""

import jax
import numpy as np
import pytest

from convcorr_jax.core import knn
from convcorr_jax.long2014 import locality
from convcorr_jax.core.errors import InputError


def test_extract_patches_and_paste_hand_values():
    img = np.arange(6 * 7 * 3, dtype=np.uint8).reshape(1, 6, 7, 3)
    p = locality._extract_patches(img, [0], np.array([[0.0, 5.0]]), 3)
    # centre (x=0, y=5): columns -1..1 clipped to 0..1, rows 4..6 clipped to 4..5
    np.testing.assert_array_equal(p[0, :, :, 0], img[0][[4, 5, 5]][:, [0, 0, 1], 0])
    out = locality._paste((6, 7, 3), np.array([[1.0, 1.0]]), np.ones((1, 3, 3, 3), np.float32))
    assert out[:3, :3].min() == 1 and out.sum() == 27


def test_contrast_stretch():
    x = np.linspace(0, 10, 101).reshape(1, -1, 1).repeat(3, -1)
    y = locality._contrast_stretch(x, 0, 100)
    assert y.min() == 0 and y.max() == 1
    assert np.all(locality._contrast_stretch(np.ones((2, 2, 3))) == 0.5)


def test_uniform_rf_control_k_large_is_local_mean():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, 16:] = 200
    out = locality._uniform_rf_control(img, rf_size=5, stride=8, offset=4.0, k=1)
    # rf of 5 px around centres 4, 12 (left half) and 20, 28 (right): patches stay on their own side
    assert out[:, :8].max() == 0 and out[:, 24:].min() == 200


def test_database_round_trip_and_figures(tmp_path):
    from convcorr_jax.backbones import get

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 64, 64, 3)).astype(np.uint8)
    d = locality._build_database(images, bb, params, "conv3", tmp_path / "db", batch_size=3, progress=False)
    db = locality._load_database(d)
    tap = bb.roles["conv3"]
    act = np.asarray(bb.apply(params, bb.preprocess(images), taps=(tap,))[tap])
    n, gh, gw, c = act.shape
    assert db["meta"]["count"] == n * gh * gw and db["features"].shape == (n * gh * gw, c)
    # row j of the database is the column (img, col, row) recorded in where.npy
    for j in [0, 7, n * gh * gw - 1]:
        i, col, row = db["where"][j]
        np.testing.assert_allclose(db["features"][j], act[i, row, col], rtol=1e-5, atol=1e-6)
    # the nearest neighbour of a database image's own feature is itself (cosine 1)
    s, idx = knn.topk_cosine_mmap(np.asarray(db["features"][5:6]), d / "features.npy", 1)
    assert float(s[0, 0]) == pytest.approx(1.0, abs=1e-5)
    # a query that is a database image is rebuilt exactly from its own patches (k = 1, interior pixels)
    rec = locality._reconstruct(images[1], db, bb, params, k=1)
    stride = db["meta"]["rf"]["stride"]
    inner = slice(stride, 64 - stride)
    assert np.abs(rec[inner, inner] - images[1][inner, inner]).mean() < 1.0
    avg = locality.rf_average(db, [0, 3], (1, 5))
    assert avg.shape == (2, 2, db["meta"]["rf"]["size"], db["meta"]["rf"]["size"], 3)
    from convcorr_eval.long2014.locality import figure1, figure2

    figure2({"conv3": avg}, (1, 5), tmp_path / "f2.png")
    figure1([images[1]], {"conv3 k=1": [rec]}, tmp_path / "f1.png")
    assert (tmp_path / "f1.png").stat().st_size > 1000 and (tmp_path / "f2.png").stat().st_size > 1000
    with pytest.raises(InputError, match="meta.json"):
        locality._load_database(tmp_path)


@pytest.mark.slow
def test_build_databases_one_pass_matches_single_role_builds(tmp_path):
    from convcorr_jax.backbones import get

    bb = get("mobilenet_v2")
    params = bb.init(jax.random.PRNGKey(1))
    images = np.random.default_rng(1).integers(0, 255, (5, 48, 48, 3)).astype(np.uint8)
    dirs = locality.build_databases(images, bb, params, {"conv3": tmp_path / "a3", "conv5": tmp_path / "a5"},
                                    batch_size=2, progress=False)  # 5 images: the last batch is padded
    for role in ("conv3", "conv5"):
        one = locality._load_database(locality._build_database(images, bb, params, role, tmp_path / f"b{role}",
                                                             batch_size=5, progress=False))
        both = locality._load_database(dirs[role])
        assert both["meta"] == one["meta"]
        # batches of 2 (padded) and of 5 are different float32 programs: sums in another order
        np.testing.assert_allclose(both["features"], one["features"], rtol=1e-5, atol=5e-5)
        np.testing.assert_array_equal(both["where"], one["where"])
        np.testing.assert_array_equal(both["images"], images)
    # several query images and several k from one kNN pass = one call per (query, k)
    db = locality._load_database(dirs["conv3"])
    many = locality._reconstruct_many([images[0], images[3]], db, bb, params, (1, 3))
    for k in (1, 3):
        for j, q in enumerate([images[0], images[3]]):
            np.testing.assert_array_equal(many[k][j], locality._reconstruct(q, db, bb, params, k))


def test_patch_databases_are_keyed_by_the_params_not_the_weights_name(tmp_path, monkeypatch):
    """A weight file replaced under the same name (same cfg.weights) builds new databases instead of serving the
    old weights' features from the cache."""
    import dataclasses

    from convcorr_eval.long2014 import locality as experiment

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    built = []

    def build(images, backbone, params, out, progress=False):
        built.append(float(params["w"][0]))
        for folder in out.values():
            folder.mkdir(parents=True)
            (folder / "features.npy").write_bytes(b"x")

    monkeypatch.setattr(experiment.locality, "build_databases", build)
    cfg = dataclasses.replace(experiment.get_config("tiny"), weights="my_weights.pth", roles=("conv3",))
    images = np.zeros((2, 8, 8, 3), np.uint8)
    bb = type("Backbone", (), {"name": "caffenet"})()
    first = experiment.patch_databases(images, bb, {"w": np.zeros(3, np.float32)}, cfg)
    assert experiment.patch_databases(images, bb, {"w": np.zeros(3, np.float32)}, cfg) == first  # reused
    other = experiment.patch_databases(images, bb, {"w": np.ones(3, np.float32)}, cfg)
    assert other != first and built == [0.0, 1.0]


def test_report_states_the_runs_own_patch_counts_against_the_papers(tmp_path, monkeypatch):
    """The report compares the run's databases with the paper's >= 1,000,000 patches from the counts it built, not
    from a fixed number (947,968 AlexNet patches at --size full were reported as "reaches 1,032,192")."""
    from convcorr_eval.experiment import Context
    from convcorr_eval.long2014 import locality as experiment

    queries = [np.zeros((16, 16, 3), np.uint8)]
    sizes = {"conv3": 947_968, "conv4": 947_968, "conv5": 947_968}
    panels = {f"{r} k=1": queries for r in sizes} | {"uniform rf k=1": queries}
    monkeypatch.setattr(experiment, "database_and_queries", lambda cfg: (None, queries, "images"))
    monkeypatch.setattr(experiment, "load_backbone",
                        lambda *a: (type("B", (), {"roles": {r: r for r in sizes}})(), None))
    monkeypatch.setattr(experiment, "patch_databases", lambda *a, **k: {})
    out = {"sizes": sizes, "panels": panels, "averages": {}}
    monkeypatch.setattr(experiment.locality, "run_locality", lambda *a, **k: out)
    monkeypatch.setattr(experiment, "figure1", lambda *a: None)
    monkeypatch.setattr(experiment, "figure2", lambda *a: None)
    cfg = experiment.get_config("tiny")
    md = experiment.run(cfg, Context(tmp_path, progress=False)).markdown
    assert "1,032,192" not in md and "1,035,000" not in md
    assert "947,968 patches, below it" in md
    assert "reaching it" in experiment.scale_note({"conv3": 1_032_192, "conv4": 1_000_000})


def test_the_control_covers_the_pixels_the_reconstruction_covers(tmp_path):
    """Figure 1's errors compare the k=1 reconstruction with the uniform-rf control: both are pasted on the tap's
    grid, so both leave the same pixels black. On torchvision's AlexNet conv3 at 192 px the formula's grid (every
    centre inside the image) is 12 x 12 where the tap's map is 11 x 11: the control covered 7 % fewer black pixels
    and the reconstructions paid ~7.5 (0..255) of error for it."""
    from convcorr_jax.backbones import get

    bb = get("torchvision_alexnet")
    params = bb.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(2)
    images = rng.integers(1, 255, (2, 192, 192, 3)).astype(np.uint8)  # no black pixel of their own
    dirs = locality.build_databases(images, bb, params, {"conv3": tmp_path / "c3"}, batch_size=2, progress=False)
    out = locality.run_locality(dirs, [images[0]], bb, params, ks1=(1,), ks2=(1,), n_seeds=1)
    rec, ctl = out["panels"]["conv3 k=1"][0], out["panels"]["uniform rf k=1"][0]
    assert bb.grid_size(bb.roles["conv3"], (192, 192)) == (11, 11)
    np.testing.assert_array_equal(rec.max(-1) == 0, ctl.max(-1) == 0)
    assert (rec.max(-1) == 0).mean() > 0.1  # the edge the tap's grid leaves uncovered


def test_seeds_and_neighbour_counts_beyond_the_database_are_one_line(tmp_path):
    """n_seeds above a database's patch count was numpy's "Cannot take a larger sample" ValueError, a Figure 1 k above
    it knn's 'k', a seed row outside it an IndexError: each is one InputError naming the argument."""
    from convcorr_jax.core import io

    d = tmp_path / "db"
    d.mkdir()
    io.save_npy(d / "features.npy", np.ones((4, 2), np.float32))
    io.save_npy(d / "where.npy", np.zeros((4, 3), np.int32))
    io.save_npy(d / "images.npy", np.zeros((1, 8, 8, 3), np.uint8))
    io.write_json(d / "meta.json", {"tap": "conv3", "rf": {"size": 3, "stride": 2, "offset": 1.0}, "count": 4})
    run = lambda **kw: locality.run_locality({"conv3": d}, [], None, None, **kw)  # noqa: E731
    with pytest.raises(InputError, match=r"run_locality: field 'n_seeds'.*at most the 4 patches.*got 5"):
        run(ks1=(1,), n_seeds=5)
    with pytest.raises(InputError, match=r"run_locality: field 'ks1'.*at most the 4 patches.*got 9"):
        run(ks1=(1, 9), n_seeds=1)
    with pytest.raises(InputError, match=r"rf_average: field 'seeds'.*\[0, 4\).*got \[1, 4\]"):
        locality.rf_average(locality._load_database(d), [1, 4], (1,))


def test_neighbour_counts_below_one_and_fractional_seeds_are_one_line(tmp_path):
    """A k of 0 next to a larger one averaged no patch: a silent all-NaN Figure 2 panel (a negative k a flat grey
    one); alone it was knn's field 'k', not the argument given; a fractional seed was numpy's IndexError."""
    from convcorr_jax.core import io

    d = tmp_path / "db"
    d.mkdir()
    io.save_npy(d / "features.npy", np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32))
    io.save_npy(d / "where.npy", np.zeros((4, 3), np.int32))
    io.save_npy(d / "images.npy", np.zeros((1, 8, 8, 3), np.uint8))
    io.write_json(d / "meta.json", {"tap": "conv3", "rf": {"size": 3, "stride": 2, "offset": 1.0}, "count": 4})
    db = locality._load_database(d)
    for ks in ((0, 2), (-2, 2), (1.5,), ()):
        with pytest.raises(InputError, match=r"rf_average: field 'ks'.*integers >= 1"):
            locality.rf_average(db, [0], ks)
    with pytest.raises(InputError, match=r"rf_average: field 'seeds'.*integer rows.*got \[0.5\]"):
        locality.rf_average(db, [0.5], (1,))
    assert np.isfinite(locality.rf_average(db, np.array([0, 3]), (1, 2))).all()
    for field, kw in (("ks1", {"ks1": (0,)}), ("ks2", {"ks2": (0, 5)})):
        with pytest.raises(InputError, match=rf"run_locality: field '{field}'.*integers >= 1"):
            locality.run_locality({"conv3": d}, [], None, None, **{"ks1": (1,), "n_seeds": 1, **kw})


@pytest.mark.parametrize("kw,field", [({"names": ("chelsea", "no_such_photo")}, "names"),
                                      ({"names": "chelsea"}, "names"), ({"names": (3,)}, "names"),
                                      ({"size": 0}, "size"), ({"size": 96.5}, "size")])
def test_query_images_refuses_unknown_names_and_sizes_in_one_line(kw, field):
    """An unknown name (the locality experiment's `queries` field) was an AttributeError traceback from skimage.data,
    a str its letters read as names, a size of 0 a ValueError from PIL."""
    pytest.importorskip("skimage")
    with pytest.raises(InputError, match=rf"query_images: field '{field}'"):
        locality.query_images(**kw)
