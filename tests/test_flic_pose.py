"""FLIC and MPII evaluation paths of the pose cascade, end to end: the by-movie validation split, a flic_tiny run
trained and scored by `convcorr eval flic` on the real FLIC folder, and MPII predictions written back in the MPII
frame (1-based, original image) and scored by `convcorr eval pckh` / `convcorr eval mpii`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from convcorr_eval.tompson2015 import tables

from convcorr_jax.core import crop_geometry, geometry, metrics
from convcorr_jax.data import mpii_eval_files, skeletons
from convcorr_jax.data.flic_split import movie_split
from convcorr_jax.data.mpii import load_mpii_h5
from convcorr_jax.data.synthetic import load_synthetic_people
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import predict
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.training.loop import load_data, train
from convcorr_jax.pose.training.config import TrainConfig

MPII_IMAGES = ("004645041.jpg", "005808361.jpg", "051423444.jpg", "052475643.jpg", "060754485.jpg")


def test_movie_split_keeps_movies_whole():
    movies = [f"m{i % 7}" for i in range(200)] + ["big"] * 100
    tr, va = movie_split(movies, 0.2, seed=3)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(movies)
    assert not {movies[i] for i in tr} & {movies[i] for i in va}
    assert 0 < len(va) <= 0.2 * len(movies) or len({movies[i] for i in va}) == 1
    np.testing.assert_array_equal(movie_split(movies, 0.2, seed=3)[1], va)
    with pytest.raises(InputError):
        movie_split(["a"] * 5, 0.2)


def test_flic_validation_split_by_movie(flic_root):
    from convcorr_jax.data.flic import load_flic

    train = load_flic(flic_root, split="train")
    movies = [s.extras["moviename"] for s in train]
    tr = pose_data.split_indices(movies, "train")
    va = pose_data.split_indices(movies, "val")
    assert len(tr) + len(va) == len(train) == 3987
    assert not {movies[i] for i in tr} & {movies[i] for i in va}
    assert 0.1 * len(train) < len(va) <= pose_data.VAL_FRACTION * len(train)


def test_flic_split_parses_once_per_version_of_the_annotations(tiny_flic, monkeypatch):
    """`flic_split` reads examples.mat once per process: a second call parses nothing and returns a new list of the
    same samples; a rewritten examples.mat (or an image added to images/) is read again, and a broken one still
    raises its InputError."""
    import dataclasses
    import os

    from convcorr_jax.data import flic

    calls = []
    real = flic.load_flic
    monkeypatch.setattr(flic, "load_flic", lambda *a, **k: calls.append(k.get("split")) or real(*a, **k))
    first = pose_data.flic_split(tiny_flic, "test")
    again = pose_data.flic_split(tiny_flic, "test")
    assert calls == ["test"] and again is not first and again == first
    assert [s.extras["index"] for s in again] == [2, 3]
    again.pop()  # the caller's list: the cached samples are untouched
    assert len(pose_data.flic_split(tiny_flic, "test")) == 2 and calls == ["test"]
    pose_data.flic_split(tiny_flic, "trainval")
    assert calls == ["test", "train"]
    samples = real(tiny_flic)
    moved = [dataclasses.replace(s, points=s.points + 1) if i == 2 else s for i, s in enumerate(samples)]
    flic.write_flic_mat(tiny_flic / "examples.mat", moved, istrain=[True, True, False, False])
    st = (tiny_flic / "examples.mat").stat()
    os.utime(tiny_flic / "examples.mat", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    reread = pose_data.flic_split(tiny_flic, "test")
    assert calls == ["test", "train", "test"]
    np.testing.assert_allclose(reread[0].points, first[0].points + 1, atol=1e-4)
    images = tiny_flic / "images"
    (images / "extra.jpg").write_bytes((images / "m0-00000001.jpg").read_bytes())
    st = images.stat()
    os.utime(images, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    pose_data.flic_split(tiny_flic, "test")
    assert calls == ["test", "train", "test", "test"]
    (tiny_flic / "examples.mat").write_bytes(b"not a mat file")
    with pytest.raises(InputError, match="examples.mat"):
        pose_data.flic_split(tiny_flic, "test")


@pytest.mark.slow
def test_flic_tiny_train_and_eval(flic_subset, tmp_path):
    """`convcorr train pose --config flic_tiny` (which saves the spatial model: the validated config and priors
    learned from the people it trains on) then `convcorr eval flic` on the FLIC test split (with the spatial
    model's rows) and the spatial model's validation (`tompson2015.spatial_validation`, tiny search) on it; real
    FLIC people (`flic_subset`: 10 training movies, 24 test people)."""
    from convcorr_cli.main import main
    from convcorr_jax.pose import spatial as spatial_mrf

    root, _, n_test = flic_subset
    assert main(["train", "pose", "--config", "flic_tiny", "--set", f"out={tmp_path}", "--set",
                 f"data_root={root}", "--no-progress"]) == 0
    run = tmp_path / "pose_flic_tiny"
    assert [e["step"] for e in run_folder._read_evals(run)] == [8, 12, 16]
    cfg, priors = spatial_mrf.load_spatial_model(run)
    assert cfg == spatial_mrf.FLIC_VALIDATED
    np.testing.assert_array_equal(priors, run_folder.learn_spatial(run_folder._run_config(run)))
    saved = json.loads((run / spatial_mrf.CONFIG_FILE).read_text())["priors"]
    from convcorr_jax.data.flic import load_flic

    train_people = len(movie_split([p.extras["moviename"] for p in load_flic(root, "train")])[0])  # less val movies
    assert 0 < train_people < flic_subset[1]
    assert saved["file"] == spatial_mrf.PRIORS_FILE and saved["stride"] == 4 and saved["people"] == train_people
    out = tmp_path / "flic.json"
    assert main(["eval", "flic", "--model", str(run), "--root", str(root), "--json", str(out), "--figure",
                 str(tmp_path / "fig15.png"), "--out-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    saved = json.loads(next((tmp_path / "runs").glob("tompson2015.flic_pose_flic_tiny_*/metrics.json")).read_text())
    assert saved["status"] == "ok" and res == {"seconds": saved["seconds"], **saved["metrics"],
                                               "config": saved["key"]["settings"], "versions": saved["versions"],
                                               "devices": saved["devices"]}
    assert res["split"] == "test" and res["n"] == n_test
    assert res["spatial"]["priors"] == "FLIC trainval ground truth"
    for a in ("0.05", "0.1", "0.2"):
        for model in ("coarse", "coarse+spatial", "cascade", "cascade+spatial"):
            t = res["pck"][a][model]
            assert set(t) == {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "all"}
            assert all(0.0 <= v <= 1.0 for v in t.values())
    assert res["pck"]["0.05"]["cascade"] == res["ablation"]["cascade"]["0.05"]
    curve = res["curve"]["cascade"]
    assert len(curve) == 21 and curve[0] == 0.0 and np.all(np.diff(curve) >= 0)
    assert (tmp_path / "fig15.png").stat().st_size > 1000
    assert main(["run", "tompson2015.spatial_validation", "--size", "tiny", "--data-root", str(root), "--set",
                 f"run_dir={run}", "--set", "simulate=false", "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    val = json.loads((tmp_path / "runs" / "tompson2015.spatial_validation" / "metrics.json").read_text())["metrics"]
    rows = val["run"]["rows"]
    assert [r["label"] for r in rows] == ["default", "mode=max"] and val["run"]["split"] == "val"
    assert val["run"]["chosen"]["mode"] == ("max" if rows[1]["score"] > rows[0]["score"] else "sum")


@pytest.mark.slow
def test_flic_trunk_model_on_whole_frames(flic_subset, tmp_path):
    """The generic-feature model (pretrained MobileNetV2 trunk) on the whole-frame protocol through the commands:
    trained on letterboxed FLIC frames, scored on the test frames with the spatial model conditioned on each
    person's torso point; the report names the protocol and the trunk."""
    from convcorr_cli.main import main

    flic_root, _, n_test = flic_subset  # real FLIC frames: 10 training movies, 24 test people
    sets = ["model.image_size=64", "model.context=16", "protocol=frame", "steps=2,1,1", "batch_size=4",
            "eval_limit=16", "checkpoint_every=2", f"out={tmp_path}", f"data_root={flic_root}"]
    assert main(["train", "pose", "--config", "flic_frame", *[a for s in sets for a in ("--set", s)],
                 "--no-progress"]) == 0
    run = tmp_path / "pose_flic_frame"
    tc = run_folder._run_config(run)
    assert tc.protocol == "frame" and tc.model.trunk == "mobilenet_v2" and tc.trunk_train == "block7"
    assert [e["step"] for e in run_folder._read_evals(run)] == [2, 3, 4]
    out = tmp_path / "frame.json"
    assert main(["eval", "flic", "--run", str(run), "--root", str(flic_root), "--json", str(out), "--out-dir",
                 str(tmp_path / "runs"), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert res["protocol"] == "frame" and res["trunk"] == "mobilenet_v2" and res["n"] == n_test
    assert set(res["pck"]["0.2"]) == {"coarse", "coarse+spatial", "cascade", "cascade+spatial", "product",
                                      "product+spatial"}
    report = next((tmp_path / "runs").glob("tompson2015.flic_*/report.md")).read_text()
    assert "input: whole frames; pretrained trunk: mobilenet_v2" in report


def _mpii_folder(real_data, tmp_path) -> Path:
    """An MPII folder of the 5 real mmpose test people: {train,valid}.h5 (their rows of valid.h5) and images/
    (links to the images), the layout `train.load_data` reads for data="mpii"."""
    from convcorr_jax.data.mpii import load_mpii_h5, write_mpii_h5

    src = real_data / "mpii"
    if not (src / "hg_annot" / "valid.h5").is_file() or not (src / "mmpose_tests").is_dir():
        pytest.skip(f"MPII valid.h5 / mmpose_tests not found under {src}")
    people = [p for p in load_mpii_h5(src / "hg_annot" / "valid.h5") if p.extras["imgname"] in MPII_IMAGES]
    assert len(people) >= 5
    (tmp_path / "images").mkdir()
    for name in MPII_IMAGES:
        (tmp_path / "images" / name).symlink_to(src / "mmpose_tests" / name)
    for split in ("train", "valid"):
        write_mpii_h5(tmp_path / f"{split}.h5", people, head_box=False)
    return tmp_path


def test_mpii_writeback_round_trip(real_data, tmp_path):
    """Ground truth mapped into the person crops and back, written as an MPII h5, scores PCKh 100."""
    from convcorr_cli.main import main
    from convcorr_jax.data.mpii import load_mpii_h5

    folder = _mpii_folder(real_data, tmp_path)
    people = load_mpii_h5(folder / "valid.h5", image_root=folder / "images")
    crops, affine = pose_data.mpii_person_crops(people, 64)
    assert crops.shape == (len(people), 64, 64, 3) and crops.dtype == np.uint8 and crops.std() > 10
    gt = np.stack([p.points for p in people]).astype(np.float64)
    in_crop = np.asarray(geometry.transform_points(gt, affine))
    back = predict.to_original(in_crop, affine)
    np.testing.assert_allclose(back, gt, atol=1e-3)
    out = tmp_path / "gt_preds.h5"
    mpii_eval_files.write_preds(out, np.nan_to_num(back))
    np.testing.assert_allclose(mpii_eval_files.read_preds(out), np.nan_to_num(gt) + 1.0, atol=1e-3)
    assert main(["eval", "pckh", "--preds", str(out), "--annot", str(folder / "valid.h5"), "--json",
                 str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["0.5"]["Total"] == pytest.approx(100.0)


@pytest.mark.slow
def test_mpii_tiny_run_scored_by_pckh(real_data, tmp_path):
    """A tiny model trained on the 5 MPII people; `convcorr eval mpii` writes its predictions and scores PCKh."""
    from convcorr_cli.main import main

    folder = _mpii_folder(real_data, tmp_path)
    tiny = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4),
                                  context=16)
    cfg = TrainConfig(name="mpii_tiny", out=str(tmp_path / "runs"), data="mpii", data_root=str(folder),
                        model=tiny, batch_size=4, steps=(2, 2, 2), checkpoint_every=2, eval_limit=0)
    train(cfg, progress=False, on_stage=model_folder.write_stage)
    preds = tmp_path / "preds.h5"
    assert main(["eval", "mpii", "--run", str(tmp_path / "runs" / "mpii_tiny"), "--annot", str(folder / "valid.h5"),
                 "--images", str(folder / "images"), "--h5", str(preds), "--json", str(tmp_path / "pckh.json"),
                 "--out", str(tmp_path / "eval_runs"), "--no-progress"]) == 0
    kept = next((tmp_path / "eval_runs").glob("tompson2015.mpii_mpii_tiny_*/preds.h5"))  # the run folder's copy
    assert kept.read_bytes() == preds.read_bytes()
    p = mpii_eval_files.read_preds(preds)
    assert p.shape == (5, 16, 2) and np.all(np.isfinite(p))
    assert 0.0 <= json.loads((tmp_path / "pckh.json").read_text())["0.5"]["Total"] <= 100.0


def test_mpii_people_are_scored_with_pckh(real_data, tmp_path):
    """data="mpii": the PCK normaliser is the head size (0.6 x head-box diagonal) in crop pixels, so that the
    training loop and the Tompson tables report PCKh@0.5: a joint moved 0.45 head sizes is a hit, 0.55 a miss."""
    folder = _mpii_folder(real_data, tmp_path)
    cfg = TrainConfig(data="mpii", data_root=str(folder), model=pose_model.ModelConfig(image_size=64))
    _, test = load_data(cfg)
    people = load_mpii_h5(folder / "valid.h5")
    want = [p.extras["normalize"] * 64 / (200.0 * p.extras["scale"] * 1.25) for p in people]
    np.testing.assert_allclose(test.norm, want, rtol=1e-5)
    assert pose_data.headline("mpii") == ("PCKh", 0.5) and pose_data.headline("flic") == ("PCK", 0.05)
    for shift, hit in ((0.45, 1.0), (0.55, 0.0)):
        pred = test.points + np.stack([test.norm * shift, np.zeros_like(test.norm)], -1)[:, None, :]
        assert metrics.pck(pred, test.points, test.visible, test.norm, 0.5) == pytest.approx(hit)
    params = pose_model.init(jax.random.PRNGKey(0), cfg.model)
    md, res = tables.evaluate_run(cfg, params, test, timing=False)
    # synthetic people carry MPII-style head sizes too, but are scored with the torso (PCK@0.05)
    people = load_synthetic_people(n=8, seed=0, split="train", image_size=64)
    assert "head_size" in people[0].extras
    torso = [pose_data.torso_size(np.asarray(p.points), skeletons.MPII, np.asarray(p.bbox)) for p in people]
    np.testing.assert_allclose(pose_data._arrays_from_samples(people, 64, skeletons.MPII).norm, torso, rtol=1e-6)
    assert res["score"] == "PCKh@0.5" and "**Table 3: PCKh@0.5 (head-normalised), MPII people" in md
    assert set(res["pckh@0.5"]) == {"coarse", "cascade"}


def test_crop_scale_sets_the_person_crop_side():
    """flic_affines: the torso box's centre stays at the crop's centre and its longer pixel extent becomes
    size / scale pixels, for every crop scale (TrainConfig.crop_scale)."""
    box = np.array([[10.0, 20.0, 50.0, 100.0]])  # 41 x 81 px torso box (0-based inclusive)
    ends = np.array([[[30.0, 19.5], [30.0, 100.5], [30.0, 60.0]]])  # top edge, bottom edge, centre
    centres = []
    for scale in (2.0, 2.5, 3.0):
        q = np.asarray(geometry.transform_points(ends, crop_geometry.flic_affines(box, 128, scale)))[0]
        assert np.linalg.norm(q[1] - q[0]) == pytest.approx(128 / scale, rel=1e-6)
        centres.append(q[2])
    np.testing.assert_allclose(centres, [centres[0]] * 3, atol=1e-6)
    np.testing.assert_allclose(centres[0], [63.5, 63.5], atol=0.51)


def test_flic_spatial_priors_from_train_annotations(flic_root):
    """The spatial model's inputs for FLIC crops (annotations only): the torso at the crop's centre cell, priors
    learned from FLIC train (minus the validation movies for val, all of it for test) whose likeliest offsets put
    the shoulders above the torso centre, left shoulder on the image's right, and the nose above the shoulders."""
    from convcorr_eval.tompson2015 import flic_spatial

    from convcorr_jax.pose import spatial as spatial_mrf

    assert flic_spatial.prior_split("val") == "train" and flic_spatial.prior_split("test") == "trainval"
    sp = flic_spatial.spatial_inputs(flic_root, 128, 8, 2.5, 3, spatial_mrf.SpatialConfig(prior_sigma=0.0), split="val")
    np.testing.assert_allclose(sp.torso, [[7.5, 7.5]] * 3, atol=0.01)
    assert sp.log_priors.shape == (len(spatial_mrf.FLIC_EDGES), 31, 31) and np.all(np.isfinite(sp.log_priors))
    np.testing.assert_allclose(np.exp(sp.log_priors).sum(axis=(1, 2)), 1.0, rtol=1e-4)

    def mode(child):
        e = [c for _, c in spatial_mrf.FLIC_EDGES].index(child)
        dy, dx = np.unravel_index(np.argmax(sp.log_priors[e]), (31, 31))
        return dx - 15, dy - 15

    lsho, rsho, nose = mode(0), mode(3), mode(10)
    assert lsho[1] < 0 and rsho[1] < 0 and lsho[0] > rsho[0] and nose[1] < min(lsho[1], rsho[1])
    train = flic_spatial.flic_points(str(flic_root), "train", 128, 2.5)
    trainval = flic_spatial.flic_points(str(flic_root), "trainval", 128, 2.5)
    assert (len(train.points) + len(flic_spatial.flic_points(str(flic_root), "val", 128, 2.5).points)
            == len(trainval.points))


def test_frame_protocol_letterboxes_the_whole_frame(flic_root):
    """protocol "frame": the frame's longer side spans the crop, the frame is centred (black bands above and below
    a landscape frame), every labelled joint lies inside, and the torso point is the torso box's centre (the
    spatial model's root); "person" keeps the torso at the crop's centre."""
    from convcorr_eval.tompson2015 import flic_spatial

    from convcorr_jax.data.flic import load_flic

    samples = load_flic(flic_root, split="test")[:4]
    w, h = samples[0].extras["image_size"] or samples[0].extras["imgdims"][1::-1]
    affine, torso = pose_data.flic_sample_affines(samples, 128, protocol="frame")
    corners = np.asarray(geometry.transform_points(np.array([[[-0.5, -0.5], [w - 0.5, h - 0.5]]]), affine[:1]))[0]
    side = 128 * min(w, h) / max(w, h)
    np.testing.assert_allclose(corners[1] - corners[0], [128, side] if w >= h else [side, 128], rtol=1e-6)
    np.testing.assert_allclose((corners[0] + corners[1]) / 2, [63.5, 63.5], atol=1e-6)
    box = samples[1].extras["torso_box"]
    centre = geometry.transform_points(((box[:2] + box[2:]) / 2)[None, None].astype(np.float64), affine[1:2])
    np.testing.assert_allclose(torso[1], np.asarray(centre)[0, 0], atol=1e-4)
    crops = pose_data.crop_images(samples, affine, 128)
    band = int((128 - side) / 2) - 1
    assert band > 0 and crops[:, :band].max() == 0 and crops[:, -band:].max() == 0 and crops[:, 60:68].max() > 0
    pts = np.asarray(geometry.transform_points(np.stack([s.points for s in samples]), affine))
    lab = np.stack([s.extras["labelled"] for s in samples])
    assert np.all((pts[lab] >= 0) & (pts[lab] <= 127))
    _, person_torso = pose_data.flic_sample_affines(samples, 128, protocol="person")
    np.testing.assert_allclose(person_torso, [[63.5, 63.5]] * 4, atol=1e-3)
    with pytest.raises(InputError, match="protocol"):
        pose_data.flic_sample_affines(samples, 128, protocol="whole")
    pts_frame = flic_spatial.flic_points(str(flic_root), "test", 128, 2.5, "frame")
    assert pts_frame.torso.shape == (len(load_flic(flic_root, split="test")), 2)
    np.testing.assert_allclose(pts_frame.torso[:4], torso, atol=1e-4)


def test_flic_points_follow_an_edited_examples_mat(tiny_flic):
    """`flic_spatial.flic_points` reads examples.mat again once it changes (it was cached by the root string alone,
    so an edited file kept its old ground truth for the rest of the process)."""
    import os

    from convcorr_eval.tompson2015 import flic_spatial
    from convcorr_jax.data.flic import load_flic, write_flic_mat

    before = flic_spatial.flic_points(str(tiny_flic), "test", 64, 2.5)
    samples = list(load_flic(tiny_flic))
    moved = [dataclasses.replace(s, points=s.points + 7.0) for s in samples]
    mat = tiny_flic / "examples.mat"
    stat = mat.stat()
    write_flic_mat(mat, moved, istrain=[s.extras["istrain"] for s in samples])
    os.utime(mat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later version, whatever the clock's grain
    after = flic_spatial.flic_points(str(tiny_flic), "test", 64, 2.5)
    assert not np.allclose(before.points, after.points)
