"""`convcorr_jax.pose.estimate` and `convcorr pose`: a trained run applied to one's own images.

Run folders are written as training writes them (config.json, an orbax checkpoint) with the parameters of the
initial draw: these tests check the plumbing (inputs, read-outs, maps back to the image, the spatial model's files,
the command's outputs), not accuracy, so they need no training steps. The FLIC tests read the real FLIC folder and
skip without it; the others need no data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import predict
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.estimation import BATCH, CROP_TEST_TIME, estimate, load, spatial_model
from convcorr_train import pose_configs


@pytest.fixture(scope="module")
def flic_root(flic_subset):
    """Real FLIC people, a few per movie (`conftest.flic_subset`): this module's runs need no more."""
    return flic_subset[0]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory, write_pose_run) -> Path:
    """A run of the `tiny` config (16 MPII joints, 64 px inputs, data=synthetic): no spatial model."""
    return write_pose_run(dataclasses.replace(pose_configs.get_config("tiny"),
                                              out=str(tmp_path_factory.mktemp("runs"))))


@pytest.fixture(scope="module")
def flic_run(tmp_path_factory, flic_root, write_pose_run) -> Path:
    """A `flic_tiny` run (FLIC's 11 joints, 64 px person crops) on the real FLIC folder with the spatial model that
    training saves (`run_folder.write_spatial`), written before runs were models (no model.json)."""
    cfg = dataclasses.replace(pose_configs.get_config("flic_tiny"), out=str(tmp_path_factory.mktemp("runs")),
                              data_root=str(flic_root))
    run = write_pose_run(cfg)
    run_folder.write_spatial(run, cfg)
    return run


@pytest.fixture(scope="module")
def flic_model(flic_run, flic_root, tmp_path_factory) -> Path:
    """`flic_run` exported once with its FLIC folder (`model_folder.export`): a model folder with its frame
    statistics (at `two_pass.frame_input_size`, 144 px for 64 px crops) and a validated read-out."""
    from convcorr_jax.pose.export import model_folder

    out = tmp_path_factory.mktemp("models") / "flic_tiny"
    model_folder.export(flic_run, out, flic_root)
    return out


def _flic_test_people(flic_root, n: int):
    """The first n people of the FLIC test split: their frames (uint8) and torso boxes."""
    from convcorr_jax.data.flic import load_flic
    from convcorr_jax.data.types import load_image

    samples = load_flic(flic_root, split="test")[:n]
    return [load_image(s.image_path) for s in samples], [np.asarray(s.extras["torso_box"]) for s in samples]


def test_estimate_equals_what_eval_flic_scores_and_learns_the_missing_priors(flic_run, flic_root):
    """With each person's torso box, `estimate` on the whole frame gives the points `convcorr eval flic` scores
    (`predict.predict_crops` on the cached test crops, read-out "cascade", mapped back by `to_original`), with and
    without the spatial model; its confidence is the coarse heat-map's peak. The spatial model saved with the run
    has priors learned from the run's FLIC training split, equal to `priors_from_pixels` of those people's points
    with FLIC_VALIDATED's settings."""
    from convcorr_jax.pose.data import flic_crops

    n = 3
    frames, boxes = _flic_test_people(flic_root, n)
    run = load(flic_run)
    tc = run.config
    assert run.spatial is not None and run.readout is None  # no read-out chosen: the paper's cascade
    crops = flic_crops(flic_root, "test", tc.model.image_size, tc.crop_scale, protocol=tc.protocol)
    images = np.asarray(crops.arrays.images[:n])

    got = estimate(frames, flic_run, torso_boxes=boxes, spatial=False)
    # the references at `estimate`'s batch and outputs (an image's read-outs depend on neither): they reuse its
    # compiled programs
    want = predict.predict_crops(run.params, images, tc.model, batch=BATCH, peaks=True)
    np.testing.assert_allclose(got.points, predict.to_original(want["cascade"], crops.affine[:n]), atol=1e-3)
    assert got.readout == "cascade" and not got.spatial and got.names[0] == "lsho" and len(got.names) == 11
    hm = np.asarray(predict.coarse_heatmaps(run.params, images, tc.model, batch=BATCH))  # apply_coarse, jitted
    np.testing.assert_allclose(got.confidence, np.clip(hm.max(axis=(1, 2)), 0, 1), atol=1e-5)

    got = estimate(frames, flic_run, torso_boxes=boxes)  # spatial=None: on for a FLIC run
    assert got.spatial and got.readout == "spatial_cascade"
    cfg, priors = spatial_mrf.load_spatial_model(flic_run)
    assert cfg == spatial_mrf.FLIC_VALIDATED and priors.shape == (len(spatial_mrf.FLIC_EDGES), 15, 15)
    train = flic_crops(flic_root, run_folder.SPATIAL_SPLIT, tc.model.image_size, tc.crop_scale, protocol=tc.protocol)
    hand = spatial_mrf.priors_from_pixels(train.arrays.points, train.arrays.visible, train.torso, tc.model.pool,
                                          spatial_mrf.FLIC_EDGES, 15, cfg.prior_sigma, cfg.prior_floor)
    np.testing.assert_allclose(priors, hand, atol=1e-6)
    np.testing.assert_array_equal(spatial_model(load(flic_run))[1], priors)
    torso = np.asarray(hmap.image_to_map(crops.torso[:n], tc.model.pool), np.float32)
    want = predict.predict_crops(run.params, images, tc.model, spatial=predict.SpatialInputs(priors, torso, cfg),
                                 batch=BATCH, peaks=True)
    np.testing.assert_allclose(got.points, predict.to_original(want["spatial_cascade"], crops.affine[:n]),
                               atol=1e-3)
    np.testing.assert_allclose(got.torso, [(b[:2] + b[2:]) / 2 for b in boxes], atol=1e-4)
    # a test-time crop scale s: the crops `convcorr eval flic --set test_scales=...` makes at s x the crop scale
    from convcorr_jax.data.flic import load_flic
    from convcorr_jax.pose.data import flic_sample_affines
    from convcorr_jax.pose.estimation import _input_affines

    people = load_flic(flic_root, split="test")[:n]
    np.testing.assert_allclose(_input_affines(tc, [f.shape[:2] for f in frames], boxes, 0.8)[0],
                               flic_sample_affines(people, tc.model.image_size, tc.crop_scale * 0.8)[0], atol=1e-9)


def test_whole_images_are_letterboxed_and_the_run_is_loaded_once(synthetic_run):
    """Without a box the whole image is the input, letterboxed: an image padded with black to a square gives the
    same joints shifted by the padding. The loaded run is cached; a run without a spatial tree refuses spatial=True
    and runs without it by default."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 72, 3), dtype=np.uint8)
    square = np.zeros((72, 72, 3), np.uint8)
    square[16:56] = img
    assert load(synthetic_run).params is load(synthetic_run).params  # read once
    a = estimate(img, synthetic_run)
    b = estimate([square], load(synthetic_run))
    assert a.points.shape == (1, 16, 2) and a.confidence.shape == (1, 16) and not a.spatial
    np.testing.assert_allclose(a.points, b.points - np.array([0, 16]), atol=1e-3)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
    np.testing.assert_allclose(a.torso, [[35.5, 19.5]])
    assert np.all((a.confidence >= 0) & (a.confidence <= 1))
    with pytest.raises(InputError, match="spatial"):
        estimate(img, synthetic_run, spatial=True)


def test_test_time_scales_and_flip(synthetic_run):
    """A crop scale s with a box equals scale 1 with the box s times the side about the same centre; several scales
    give the mean of each scale's points and confidences; flip gives `predict`'s flipped read-out of the same
    input mapped back to the image."""
    from convcorr_jax.core import geometry
    from convcorr_jax.pose import joints

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    box, half = np.array([10.0, 10.0, 49.0, 49.0]), np.array([20.0, 20.0, 39.0, 39.0])  # sides 40 and 20, centre 29.5
    at_half = estimate(img, synthetic_run, person_boxes=[box], scales=(0.5,))
    np.testing.assert_allclose(at_half.points, estimate(img, synthetic_run, person_boxes=[half]).points, atol=1e-3)
    one = estimate(img, synthetic_run, person_boxes=[box])
    both = estimate(img, synthetic_run, person_boxes=[box], scales=[0.5, 1.0])
    np.testing.assert_allclose(both.points, (at_half.points + one.points) / 2, atol=1e-3)
    np.testing.assert_allclose(both.confidence, (at_half.confidence + one.confidence) / 2, atol=1e-6)
    run = load(synthetic_run)
    tc = run.config
    flipped = estimate(img, synthetic_run, flip=True)
    affine = pose_affine(tc, img)
    crops = geometry.crop_each([img], affine, tc.model.image_size, border="constant")
    want = predict.predict_crops(run.params, crops, tc.model, flip=joints.joint_set(tc.data, tc.model.num_joints).flip,
                                 batch=BATCH, peaks=True)  # `estimate`'s batch and outputs: its compiled program
    np.testing.assert_allclose(flipped.points, predict.to_original(want["cascade"], affine), atol=1e-3)
    assert np.abs(flipped.points - estimate(img, synthetic_run).points).max() > 0.1  # flip changes the read-out
    for bad in ((), (0.0,), (1.0, -2.0), (float("nan"),)):
        with pytest.raises(InputError, match="scales"):
            estimate(img, synthetic_run, scales=bad)
    with pytest.raises(InputError, match="flip"):
        estimate(img, synthetic_run, flip="yes")
    with pytest.raises(InputError, match="merge"):
        estimate(img, synthetic_run, scales=(0.9, 1.0), merge="max")


def pose_affine(tc, img: np.ndarray) -> np.ndarray:
    """The whole-image input affine of `estimate` without a box (`_input_affines`)."""
    from convcorr_jax.pose.estimation import _input_affines

    return _input_affines(tc, [img.shape[:2]], [None])[0]


def test_bad_images_boxes_and_runs_raise_one_input_error(synthetic_run, tmp_path):
    """Images are uint8 only: float images (NaN or not) never reach the model; the error names `estimate` (it named
    the helper `as_images`)."""
    img = np.zeros((32, 32, 3), np.uint8)
    nan = img.astype(np.float32)
    nan[3, 4, 0] = np.nan
    for bad, field in ((np.zeros((32, 32)), "images[0]"), (img.astype(np.float32), "images[0]"), (nan, "images[0]"),
                       ([img, nan], "images[1]"), (nan[None], "images[0]"),
                       ([img, np.zeros((8, 8, 4), np.uint8)], "images[1]"), ([], "images")):
        with pytest.raises(InputError, match="^estimate: field '" + field.replace("[", r"\[") + "'"):
            estimate(bad, synthetic_run)
    with pytest.raises(InputError, match="boxes"):
        estimate([img, img], synthetic_run, person_boxes=[(0, 0, 4, 4)])
    with pytest.raises(InputError, match=r"person_boxes\[0\]"):
        estimate(img, synthetic_run, person_boxes=[(5, 0, 4, 4)])
    with pytest.raises(InputError, match="readout"):
        estimate(img, synthetic_run, readout="best")
    for batch in (0, -1, 1.5, True, "8"):  # -1 gave no points at all, 0 and 1.5 a bare Python error
        with pytest.raises(InputError, match="batch"):
            estimate(img, synthetic_run, batch=batch)
        with pytest.raises(InputError, match="batch"):
            predict.predict_crops({}, np.zeros((1, 64, 64, 3), np.uint8), load(synthetic_run).config.model,
                                  batch=batch)
    with pytest.raises(run_folder.NotATrainingRun) as e:
        estimate(img, tmp_path)
    assert len(str(e.value).splitlines()) == 1 and "config.json + checkpoints/" in str(e.value)


def test_jax_arrays_are_images_and_boxes_as_numpy_arrays_are(synthetic_run):
    """A JAX array [N, H, W, 3] is N images and a JAX array [4] one image's box, as numpy arrays are (the batch was
    refused as one image of shape [N, H, W, 3], the box read as four boxes)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (2, 40, 48, 3), dtype=np.uint8)
    box = np.array([4.0, 2.0, 30.0, 37.0])
    want = estimate(imgs, synthetic_run, person_boxes=[box, box])
    got = estimate(jnp.asarray(imgs), synthetic_run, person_boxes=jnp.asarray([box, box]))
    np.testing.assert_allclose(got.points, want.points, atol=1e-4)
    one = estimate(imgs[0], synthetic_run, person_boxes=jnp.asarray(box))
    np.testing.assert_allclose(one.points, want.points[:1], atol=1e-4)


def test_one_image_with_several_boxes_is_one_person_per_box(synthetic_run):
    """Several people in one photo: one image (an array [H, W, 3], a list of one or an array [1, H, W, 3]) with P
    boxes gives P rows in box order, each what a call with that image and that box alone gives (was refused: "give
    the image once per box"); N > 1 images keep one box per image, and the error says how for one photo."""
    img = np.random.default_rng(4).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    boxes = [[4.0, 2.0, 30.0, 37.0], [10.0, 5.0, 40.0, 39.0], [0.0, 0.0, 20.0, 20.0]]
    got = estimate(img, synthetic_run, person_boxes=boxes)
    assert got.points.shape[0] == got.confidence.shape[0] == got.torso.shape[0] == len(got) == 3
    for as_given in ([img], img[None]):
        np.testing.assert_array_equal(estimate(as_given, synthetic_run, person_boxes=np.array(boxes)).points,
                                      got.points)
    for i, box in enumerate(boxes):
        alone = estimate(img, synthetic_run, person_boxes=box)
        np.testing.assert_allclose(got.points[i], alone.points[0], atol=1e-6)
        np.testing.assert_allclose(got.confidence[i], alone.confidence[0], atol=1e-6)
        np.testing.assert_allclose(got.torso[i], alone.torso[0], atol=1e-6)
    with pytest.raises(InputError, match="several people in one photo: give that one image with all its boxes"):
        estimate([img, img], synthetic_run, person_boxes=boxes)
    with pytest.raises(InputError, match=r"person_boxes\[2\].*images\[0\]"):  # each box checked against the one image
        estimate(img, synthetic_run, person_boxes=[*boxes[:2], [100.0, 100.0, 120.0, 120.0]])
    with pytest.raises(InputError) as e:  # fewer boxes than images: no such hint
        estimate([img, img], synthetic_run, person_boxes=boxes[:1])
    assert "several people" not in str(e.value)


@pytest.mark.parametrize("model, boxes, settings", [
    ("person", "person_boxes", {}),
    ("flic", "person_boxes", {"flip": True, "scales": CROP_TEST_TIME["scales"][::4]}),  # the torso found first
])
def test_one_photo_of_several_people_is_cropped_without_copying_it(crop_arguments, model, boxes, settings):
    """One photo with P boxes: no crop program gets the photo P times ([P, H, W, 3]: the photo once per person), and
    the poses are those of P separate copies of it, bit for bit (points, confidence, torso boxes; FLIC: the torso
    found inside each person box first, `pose.person_boxes`, then test-time flip and crop scales)."""
    img = np.random.default_rng(3).integers(0, 256, (190, 250, 3), np.uint8)
    people = [(10, 5, 90, 180), (80, 20, 170, 185), (150, 0, 240, 150)]
    seen = crop_arguments
    one = estimate(img, model, **{boxes: people}, **settings)
    assert seen and all(s == (192, 256, 3) for s in seen)  # the photo once (padded to geometry.BUCKET)
    copies = estimate([img.copy() for _ in people], model, **{boxes: people}, **settings)
    for field in ("points", "confidence", "torso_boxes"):
        np.testing.assert_array_equal(getattr(one, field), getattr(copies, field))


def test_naming_the_models_own_readout_changes_nothing():
    """readout= the shipped model's validated read-out gives readout=None's points and spatial setting: the spatial
    default is the validated read-out's whichever read-out is named (naming it turned the spatial model on)."""
    r = load("flic")
    img = np.random.default_rng(0).integers(0, 255, (200, 160, 3), np.uint8)
    box = [(50, 40, 110, 120)]
    own = estimate(img, "flic", torso_boxes=box)
    named = estimate(img, "flic", torso_boxes=box, readout=r.readout.name)
    assert own.spatial == named.spatial == r.readout.spatial and own.readout == named.readout
    np.testing.assert_array_equal(own.points, named.points)


def test_an_older_flic_run_without_its_data_says_how_to_get_the_spatial_model(tmp_path, write_pose_run):
    """A FLIC run saved before runs kept their spatial model, whose FLIC folder is gone: the spatial model is
    refused with one line naming spatial.json and the ways out; spatial=False still estimates."""
    cfg = dataclasses.replace(pose_configs.get_config("flic_tiny"), out=str(tmp_path), data_root=str(tmp_path / "gone"))
    run = write_pose_run(cfg)
    img = np.random.default_rng(1).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    with pytest.raises(InputError) as e:
        estimate(img, run)
    msg = str(e.value)
    assert (len(msg.splitlines()) == 1 and spatial_mrf.CONFIG_FILE in msg and "ship_model" in msg
            and "spatial=False" in msg)
    got = estimate(img, run, spatial=False)
    assert got.points.shape == (1, 11, 2) and not got.spatial and not (run / spatial_mrf.CONFIG_FILE).exists()


def _image_files(tmp_path: Path) -> list[Path]:
    from skimage import data

    paths = []
    for name, img in (("astronaut", data.astronaut()[:200, :160]), ("coffee", data.coffee()[::4, ::4])):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(img).save(paths[-1])
    return paths


def test_cli_pose_writes_the_joints_and_a_drawing_per_image(synthetic_run, tmp_path):
    from convcorr_cli.main import main

    paths = _image_files(tmp_path)
    out, js = tmp_path / "out", tmp_path / "joints.json"
    assert main(["pose", *map(str, paths), "--run", str(synthetic_run), "--out", str(out), "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["spatial"] is False and res["readout"] == "cascade" and len(res["names"]) == 16
    assert [r["image"] for r in res["images"]] == [str(p) for p in paths]
    for r, p in zip(res["images"], paths):
        assert len(r["joints"]) == 16 and [j["name"] for j in r["joints"]] == res["names"]
        assert all(0 <= j["confidence"] <= 1 and np.isfinite([j["x"], j["y"]]).all() for j in r["joints"])
        w, h = Image.open(p).size
        assert (r["width"], r["height"]) == (w, h)
        png = out / f"{p.stem}_pose.png"
        assert str(png) in res["png"]
        drawn = Image.open(png)
        assert drawn.width >= w and drawn.height > h  # the image and the legend strip below
    first = estimate(np.asarray(Image.open(paths[0]).convert("RGB")), synthetic_run)
    np.testing.assert_allclose([[j["x"], j["y"]] for j in res["images"][0]["joints"]], first.points[0], atol=1e-4)
    assert main(["pose", str(paths[0]), "--run", str(synthetic_run), "--json", str(js), "--flip", "--scales",
                 "0.8,1"]) == 0
    res = json.loads(js.read_text())
    assert res["flip"] is True and res["scales"] == [0.8, 1.0]
    both = estimate(np.asarray(Image.open(paths[0]).convert("RGB")), synthetic_run, flip=True, scales=(0.8, 1.0))
    np.testing.assert_allclose([[j["x"], j["y"]] for j in res["images"][0]["joints"]], both.points[0], atol=1e-4)
    assert main(["pose", str(paths[0]), "--run", str(synthetic_run), "--json", str(js), "--scales", "0.8,1,1.2",
                 "--merge", "median"]) == 0
    res = json.loads(js.read_text())
    assert res["merge"] == "median" and res["scales"] == [0.8, 1.0, 1.2]
    image = np.asarray(Image.open(paths[0]).convert("RGB"))
    med = estimate(image, synthetic_run, scales=(0.8, 1.0, 1.2), merge="median")
    np.testing.assert_allclose([[j["x"], j["y"]] for j in res["images"][0]["joints"]], med.points[0], atol=1e-4)
    each = [estimate(image, synthetic_run, scales=(s,)).points[0] for s in (0.8, 1.0, 1.2)]
    np.testing.assert_allclose(med.points[0], np.median(each, axis=0), atol=1e-3)  # per scale, in image pixels


def test_cli_pose_bad_input_is_one_line(synthetic_run, tmp_path, capsys):
    from convcorr_cli.main import main

    paths = _image_files(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    for argv, what in (([str(paths[0]), "--run", str(tmp_path)], "run folder"),
                       ([str(text), "--run", str(synthetic_run)], "IMAGES"),
                       ([*map(str, paths), "--run", str(synthetic_run), "--box", "0,0,10,10"], "--torso-box"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--torso-box", "0,0,10"], "--torso-box"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--spatial", "on"], "FLIC run"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--scales", "0.8,x"], "--scales"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--scales", "0"], "--scales"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--two-pass"], "person crops"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--two-pass", "--box", "0,0,9,9"], "--two-pass"),
                       ([str(paths[0]), "--run", str(synthetic_run), "--torso", "3,4"], "--torso"),
                       # the model is refused first (`make_plan`), before any image or --torso is read
                       ([str(paths[0]), "--run", str(synthetic_run), "--two-pass", "--torso", "3"], "--two-pass")):
        assert main(["pose", *argv, "--json", str(tmp_path / "j.json")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and what in err and "Traceback" not in err, err
    assert not (tmp_path / "j.json").exists()


def test_estimate_frames_is_the_two_pass_eval_of_whole_frames(flic_model, flic_root):
    """`pose.two_pass.estimate_frames` on whole FLIC frames with their annotated torso points: the frame priors are
    the eval's (`flic_spatial.spatial_inputs` of the validation split, learned on train), the torso ratio the
    eval's, the first pass `predict` on the letterboxed frames with the spatial model, the second pass the crops of
    `recrop.crop_affines` around the first pass's torso at each scale with flip, averaged (`scales.merge_scales`) and
    mapped back to the frame."""
    from convcorr_eval.tompson2015.flic_spatial import spatial_inputs

    from convcorr_jax.pose import joints, recrop
    from convcorr_jax.pose import scales as pose_scales
    from convcorr_jax.pose.data import crop_images, flic_sample_affines, flic_split
    from convcorr_jax.pose.recrop import TORSO
    from convcorr_jax.pose.export.model_folder import train_statistics
    from convcorr_jax.pose.two_pass import _torso_points, estimate_frames, frame_input_size

    run = dataclasses.replace(load(flic_model), readout=None)  # the second pass's read-out: the paper's cascade
    tc = run.config
    cfg = dataclasses.replace(run.spatial, unary_power=2.0)
    size = frame_input_size(tc.model)
    assert size == 144 and run.frames.input_size == size
    n = 3
    priors, ratio = train_statistics(str(flic_root), size, tc.model.pool, cfg)
    sp = spatial_inputs(flic_root, size, tc.model.pool, tc.crop_scale, n, cfg, split="val", protocol="frame")
    np.testing.assert_array_equal(priors, sp.log_priors)
    train = flic_split(flic_root, "train")
    assert ratio == recrop.box_ratio(np.stack([s.extras["torso_box"] for s in train]),
                                     np.stack([s.points for s in train]), TORSO)

    from convcorr_jax.data.types import load_image

    people = flic_split(flic_root, "val")[:n]
    frames = [load_image(s.image_path) for s in people]
    torso = np.stack([(s.extras["torso_box"][:2] + s.extras["torso_box"][2:]) / 2 for s in people])
    got = estimate_frames(frames, run, torso=torso, scales=(0.9, 1.0), refine=0)  # input_size: the model's
    frame_affine = flic_sample_affines(people, size, protocol="frame")[0]  # the eval's frame inputs
    # the reference at the library's batch and outputs (the read-outs of an image do not depend on either): it
    # reuses `estimate_frames`'s compiled programs instead of compiling its own
    first = predict.predict_crops(run.params, crop_images(people, frame_affine, size),
                            dataclasses.replace(tc.model, image_size=size), spatial=sp, batch=BATCH)["spatial_cascade"]
    xy, affines = [], []
    for s in (0.9, 1.0):
        a = recrop.crop_affines(first, frame_affine, TORSO, tc.model.image_size, tc.crop_scale * 0.9 * s, ratio)
        xy.append(predict.predict_crops(run.params, crop_images(people, a, tc.model.image_size), tc.model,
                                  flip=joints.FLIC.flip, batch=BATCH, peaks=True)["cascade"])
        affines.append(a)
    want = predict.to_original(pose_scales.merge_scales(xy, affines, frame_affine), frame_affine)
    np.testing.assert_allclose(got.points, want, atol=1e-3)
    assert got.readout == "two-pass cascade" and got.spatial and got.points.shape == (n, 11, 2)
    np.testing.assert_allclose(got.torso, torso, atol=1e-4)
    np.testing.assert_allclose(_torso_points(None, [(240, 360)]), [[179.5, 119.5]])  # no torso: the frame's centre


def test_estimate_frames_refuses_other_runs_and_bad_settings(synthetic_run, flic_run):
    from convcorr_jax.pose.two_pass import estimate_frames

    img = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(InputError, match="person crops"):
        estimate_frames(img, synthetic_run)
    nan = img.astype(np.float32)
    nan[3, 4, 0] = np.nan
    for bad in (nan, [img, nan], nan[None]):  # uint8 only: the error named the helper `as_images`
        with pytest.raises(InputError, match=r"^estimate_frames: field 'images\[\d\]': expected a uint8 array"):
            estimate_frames(bad, flic_run)
    for kw, field in (({"torso": [[1.0, 2.0], [3.0, 4.0]]}, "torso"), ({"torso": [np.nan, 1.0]}, "torso"),
                      ({"input_size": 30}, "input_size"), ({"scales": ()}, "scales"),
                      ({"second_pass": 0.0}, "second_pass"), ({"refine": -1}, "refine"), ({"refine": True}, "refine"),
                      ({"refine_scales": (0.0,)}, "scales")):
        with pytest.raises(InputError, match=field):
            estimate_frames(img, flic_run, **kw)


def test_estimate_frames_refine_recrops_about_the_pass_before(flic_model, flic_root):
    """With refine=1 the last pass's torso box is the one the two-pass call's points give (their shoulders and
    hips x the model's ratio x second_pass), and its points are `estimate`'s crop read-out about that box; the first
    pass alone (`first_pass`) places the two-pass box."""
    from convcorr_jax.data.types import load_image
    from convcorr_jax.pose.data import flic_split
    from convcorr_jax.pose.person_boxes import torso_from_points
    from convcorr_jax.pose.recrop import TORSO
    from convcorr_jax.pose.two_pass import estimate_frames, first_pass

    people = flic_split(flic_root, "val")[:2]
    frames = [load_image(s.image_path) for s in people]
    torso = np.stack([(s.extras["torso_box"][:2] + s.extras["torso_box"][2:]) / 2 for s in people])
    ratio, kw = load(flic_model).frames.ratio, {"torso": torso, "scales": (1.0,), "second_pass": 0.9}
    two = estimate_frames(frames, flic_model, refine=0, **kw)
    np.testing.assert_allclose(two.torso_boxes, torso_from_points(first_pass(frames, flic_model, torso=torso), TORSO,
                                                                  ratio, 0.9), atol=1e-3)
    three = estimate_frames(frames, flic_model, refine=1, refine_scales=(1.0,), **kw)
    box = torso_from_points(two.points, TORSO, ratio, 0.9)
    np.testing.assert_allclose(three.torso_boxes, box, atol=1e-3)
    want = estimate(frames, flic_model, torso_boxes=list(box), flip=True, scales=(1.0,))
    np.testing.assert_allclose(three.points, want.points, atol=0.05)
    assert three.readout == two.readout and not np.allclose(three.torso_boxes, two.torso_boxes)


def test_cli_pose_two_pass_is_estimate_frames(flic_model, flic_root, tmp_path):
    from convcorr_cli.main import main
    from convcorr_jax.pose.data import flic_split
    from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, estimate_frames

    person = flic_split(flic_root, "val")[0]
    frame, js = tmp_path / "frame.png", tmp_path / "j.json"
    Image.open(person.image_path).convert("RGB").save(frame)
    torso = (person.extras["torso_box"][:2] + person.extras["torso_box"][2:]) / 2
    assert main(["pose", str(frame), "--run", str(flic_model), "--two-pass", "--torso", f"{torso[0]},{torso[1]}",
                 "--scales", "1", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["two_pass"] is True and res["flip"] is True and res["scales"] == [1.0]
    assert res["readout"] == f"two-pass {load(flic_model).readout.name}" and res["spatial"] is True
    settings = {k: v for k, v in FRAME_TEST_TIME.items() if k != "input_size"}  # the model's own input size
    want = estimate_frames(np.asarray(Image.open(frame)), flic_model, torso=torso, **dict(settings, scales=(1.0,)))
    np.testing.assert_allclose([[j["x"], j["y"]] for j in res["images"][0]["joints"]], want.points[0], atol=1e-4)


def test_library_bench_scores_estimate_like_pck_in_image_pixels(flic_model, flic_root, capsys):
    """bench/pose_estimate_flic.py on the first 3 FLIC test people: one table row per library call, and its first
    row (plain `estimate` with the torso boxes) equals PCK computed here in image pixels (PCK is invariant to the
    uniform scale of the frame inputs the script scores in)."""
    import importlib.util

    from convcorr_jax.data.flic import load_flic
    from convcorr_jax.pose import joints
    from convcorr_jax.pose.data import flic_torso_norm

    script = Path(__file__).resolve().parent.parent / "bench" / "pose_estimate_flic.py"
    spec = importlib.util.spec_from_file_location("pose_estimate_flic", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--run", str(flic_model), "--root", str(flic_root), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.split("| call |")[-1].splitlines() if ln.startswith("| `")]
    assert len(rows) == 4 and "wall time" in out
    frames, boxes = _flic_test_people(flic_root, 3)
    samples = load_flic(flic_root, split="test")[:3]
    gt = np.stack([s.points for s in samples]).astype(np.float64)
    labelled = [s.extras.get("labelled", s.visible) for s in samples]  # FLIC: annotated, possibly occluded
    visible = np.isfinite(gt).all(-1) & np.stack([np.asarray(v, bool) for v in labelled])
    pred = estimate(frames, flic_model, torso_boxes=boxes, spatial=False).points
    at = {a: joints.group_pck(pred, np.nan_to_num(gt), visible, flic_torso_norm(gt), joints.FLIC.groups, a)
          for a in (0.05, 0.2)}
    want = [at[0.05][g] for g in mod.GROUPS] + [at[0.2]["Wrist"]]
    got = [float(v) for v in rows[0].split("|")[2:-2]]
    np.testing.assert_allclose(got, want, atol=0.051)  # the table's one decimal


def test_person_boxes_find_the_torso_with_the_models_first_pass_then_crop_as_torso_boxes(flic_model, flic_root):
    """`estimate(person_boxes=...)` on a FLIC model: the torso boxes are `person_boxes.find_torso_boxes` of one first
    pass (PERSON_BOX, the model's torso ratio and read-out), and the joints are `estimate` on those torso boxes; a
    None entry is the whole image; boxes and person_boxes together, or a model without its ratio, are refused."""
    from convcorr_jax.pose import person_boxes as pb
    from convcorr_jax.pose.recrop import TORSO

    frames, boxes = _flic_test_people(flic_root, 3)
    person = [np.array([b[0] - 30, b[1] - 40, b[2] + 30, b[3] + 60]) for b in boxes]
    got = estimate(frames, flic_model, person_boxes=[person[0], person[1], None])
    run = load(flic_model)
    whole = np.array([0, 0, frames[2].shape[1] - 1, frames[2].shape[0] - 1], np.float64)
    torso = pb.find_torso_boxes(run.params, run.config.model, frames, np.stack([person[0], person[1], whole]),
                           run.frames.ratio, run.readout.name, TORSO)
    np.testing.assert_allclose(got.torso_boxes, torso, atol=1e-3)
    want = estimate(frames, flic_model, torso_boxes=list(torso))
    np.testing.assert_allclose(got.points, want.points, atol=1e-4)
    with pytest.warns(DeprecationWarning, match="torso_boxes"):  # the former name: torso boxes for this model
        old = estimate(frames, flic_model, boxes=list(torso))
    np.testing.assert_array_equal(old.points, want.points)
    with pytest.raises(InputError, match="not both"):
        estimate(frames, flic_model, torso_boxes=boxes, person_boxes=person)
    with pytest.raises(InputError, match=r"person_boxes\[1\]"):
        estimate(frames[:2], flic_model, person_boxes=[person[0], (5, 0, 4, 4)])
    no_ratio = dataclasses.replace(run, frames=None)
    with pytest.raises(InputError, match="ship_model"):
        estimate(frames[0], no_ratio, person_boxes=[person[0]])


def test_person_boxes_are_the_box_of_runs_not_trained_on_flic_torso_crops(synthetic_run, tmp_path):
    """A model without torso crops takes a person box as its box; torso_boxes are refused, naming person_boxes;
    `boxes=` (deprecated) means person_boxes for it and says so; `convcorr pose --torso-box` gives such a model
    the box as its person box, as the flag says, without a warning."""
    import warnings

    from convcorr_cli.main import main

    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    box = np.array([4.0, 6.0, 40.0, 44.0])
    a = estimate(img, synthetic_run, person_boxes=[box])
    with pytest.warns(DeprecationWarning, match="person_boxes") as caught:
        b = estimate(img, synthetic_run, boxes=[box])
    assert caught[0].filename == __file__  # points at the caller's line
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.torso_boxes[0], box.astype(np.float32))
    with pytest.raises(InputError, match="torso_boxes.*person_boxes") as e:
        estimate(img, synthetic_run, torso_boxes=[box])
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(InputError, match="not both"):
        estimate(img, synthetic_run, boxes=[box], person_boxes=[box])
    path, js = tmp_path / "person.png", tmp_path / "joints.json"
    Image.fromarray(img).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert main(["pose", str(path), "--run", str(synthetic_run), "--torso-box=4,6,40,44", "--json", str(js)]) == 0
    joints = json.loads(js.read_text())["images"][0]["joints"]
    np.testing.assert_allclose([[j["x"], j["y"]] for j in joints], a.points[0], atol=1e-4)


def test_warnings_flag_people_below_the_models_threshold_in_the_library_json_and_cli(flic_model, flic_root,
                                                                                      tmp_path, capsys):
    """A model's warn_below (readout.json) flags each person whose mean confidence is below it: `Poses.warned`,
    the JSON's per-person "warning" and one CLI line per warned image; a threshold of 0 flags nobody."""
    from convcorr_cli.main import main
    from convcorr_jax.pose import readout as pose_readout
    from convcorr_jax.pose.export import model_folder

    frames, boxes = _flic_test_people(flic_root, 2)
    plain = estimate(frames, flic_model, torso_boxes=boxes)
    mean = plain.confidence.mean(-1)
    choice, record = pose_readout.load_readout(flic_model)
    folder = tmp_path / "warned"
    import shutil

    shutil.copytree(flic_model, folder)
    cut = float(mean.max() + mean.min()) / 2  # between the two people: the lower one is warned
    model_folder.set_readout(folder, dataclasses.replace(choice, warn_below=cut), record)
    got = estimate(frames, folder, torso_boxes=boxes)
    assert got.warn_below == pytest.approx(cut)
    np.testing.assert_array_equal(got.warned, mean < cut)
    d = got.as_dicts()
    low = int(np.argmin(mean))
    assert d[low]["warning"].startswith("low confidence") and d[1 - low]["warning"] is None
    assert d[low]["mean_confidence"] == pytest.approx(float(mean[low]), abs=1e-6)
    paths = []
    for i, f in enumerate(frames):
        paths.append(tmp_path / f"f{i}.png")
        Image.fromarray(f).save(paths[-1])
    js = tmp_path / "p.json"
    capsys.readouterr()
    assert main(["pose", *map(str, paths), "--model", str(folder), "--json", str(js),
                 *[f"--torso-box={','.join(map(str, b))}" for b in boxes]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln for ln in out if "warning:" in ln] == [f"{paths[low]}: warning: {d[low]['warning']}"]
    res = json.loads(js.read_text())
    assert res["warn_below"] == pytest.approx(cut) and res["images"][low]["warning"] == d[low]["warning"]
    model_folder.set_readout(folder, dataclasses.replace(choice, warn_below=0.0), record)
    assert not estimate(frames, folder, torso_boxes=boxes).warned.any()


def test_cli_person_box_is_estimate_with_person_boxes(flic_model, flic_root, tmp_path, capsys):
    from convcorr_cli.main import main

    frames, boxes = _flic_test_people(flic_root, 1)
    person = np.array([boxes[0][0] - 20, boxes[0][1] - 30, boxes[0][2] + 20, boxes[0][3] + 50])
    path, js = tmp_path / "f.png", tmp_path / "p.json"
    Image.fromarray(frames[0]).save(path)
    flag = "--person-box=" + ",".join(repr(float(v)) for v in person)
    assert main(["pose", str(path), "--model", str(flic_model), flag, "--json", str(js)]) == 0
    res = json.loads(js.read_text())["images"][0]
    want = estimate(frames[0], flic_model, person_boxes=[person])
    np.testing.assert_allclose([[j["x"], j["y"]] for j in res["joints"]], want.points[0], atol=1e-3)
    assert res["person_box"] == [float(v) for v in person] and len(res["torso_box"]) == 4
    capsys.readouterr()
    assert main(["pose", str(path), "--model", str(flic_model), flag, "--torso-box=1,2,30,40", "--json", str(js)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--person-box" in err[0] and "not both" in err[0]


def test_one_call_for_crops_and_whole_frames(flic_model, flic_root):
    """`estimate(..., two_pass=True)` is the whole-frame estimate (`two_pass.estimate_frames`); settings the two
    passes fix, or a torso point without them, are one error naming the argument."""
    from convcorr_jax.pose.two_pass import estimate_frames

    frames, boxes = _flic_test_people(flic_root, 1)
    got = estimate(frames, flic_model, two_pass=True, scales=(1.0,))
    np.testing.assert_array_equal(got.points, estimate_frames(frames, flic_model, scales=(1.0,)).points)
    for bad, name in (({"torso_boxes": boxes}, "torso_boxes"), ({"readout": "cascade"}, "readout"),
                      ({"spatial": False}, "spatial")):
        with pytest.raises(InputError, match=name):
            estimate(frames, flic_model, two_pass=True, **bad)
    with pytest.raises(InputError, match="torso"):
        estimate(frames, flic_model, torso=[[10.0, 20.0]])


def test_a_models_own_frame_settings_are_estimate_frames_defaults(flic_model, flic_root, tmp_path):
    """model.json's frame_statistics.settings replace FRAME_TEST_TIME's second_pass / refine / refine_scales as
    `estimate_frames`'s defaults (an explicit argument still wins); a key outside `FRAME_SETTINGS` is refused
    naming the field."""
    import shutil

    from convcorr_jax.data.types import load_image
    from convcorr_jax.pose.data import flic_split
    from convcorr_jax.pose.two_pass import estimate_frames

    folder = tmp_path / "own"
    shutil.copytree(flic_model, folder)
    record = json.loads((folder / "model.json").read_text())
    record["frame_statistics"]["settings"] = {"second_pass": 1.0, "refine": 1}
    (folder / "model.json").write_text(json.dumps(record))
    people = flic_split(flic_root, "val")[:1]
    frames = [load_image(s.image_path) for s in people]
    own = estimate_frames(frames, folder, scales=(1.0,))
    want = estimate_frames(frames, flic_model, scales=(1.0,), second_pass=1.0, refine=1)
    np.testing.assert_allclose(own.points, want.points, atol=1e-4)
    plain = estimate_frames(frames, folder, scales=(1.0,), second_pass=0.9, refine=0)
    np.testing.assert_allclose(plain.points, estimate_frames(frames, flic_model, scales=(1.0,)).points, atol=1e-4)
    assert not np.allclose(own.torso_boxes, plain.torso_boxes)
    record["frame_statistics"]["settings"] = {"scales": [1.0]}
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="frame_statistics.settings"):
        load(str(folder) + "/")


def test_a_null_frame_setting_of_a_model_is_one_input_error():
    """A model whose model.json holds null for one of its own whole-frame settings (frame_statistics.settings) made
    `estimate_frames` fail with int(None)'s TypeError after its first pass; it is one InputError naming the field."""
    from types import SimpleNamespace

    from convcorr_jax.pose import two_pass

    model = SimpleNamespace(path=Path("model"), frames=SimpleNamespace(settings={"refine": None}))
    with pytest.raises(InputError, match="frame_statistics.settings"):
        two_pass._own_settings(model, (None, None, None))
    assert two_pass._own_settings(model, (None, 2, None)) == (0.9, 2, (1.0,))  # an explicit argument still wins


@pytest.mark.parametrize("key, value", [("refine", "two"), ("refine", True), ("second_pass", -1.0),
                                        ("refine_scales", "x"), ("refine_scales", [])])
def test_a_wrong_typed_frame_setting_of_a_model_names_its_model_json(key, value):
    """A bad value among a model's own whole-frame settings was reported as an argument of `estimate_frames`; it
    names the model's model.json and the setting, as a null does."""
    from types import SimpleNamespace

    from convcorr_jax.pose import two_pass

    model = SimpleNamespace(path=Path("model"), frames=SimpleNamespace(settings={key: value}))
    with pytest.raises(InputError, match=rf"^model/model.json: field 'frame_statistics.settings.{key}'"):
        two_pass._own_settings(model, (None, None, None))
    given = tuple(two_pass.FRAME_TEST_TIME[k] if k == key else None for k in ("second_pass", "refine", "refine_scales"))
    assert two_pass._own_settings(model, given)[0] == 0.9  # an explicit argument still wins
    with pytest.raises(InputError, match="^estimate_frames: field 'refine_scales'"):
        two_pass._check_settings(None, None, "x")
