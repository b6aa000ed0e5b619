"""Shipped pose models (`convcorr_jax.pose.shipped`): written from a run, read back by name, checked by sha256, used
by `estimate` / `estimate_frames` with no dataset on disk; `convcorr pose --model`, `--list-models`, videos."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import estimation, loaded_model, shipped, spatial, two_pass
from convcorr_jax.pose.export import model_folder
from convcorr_train import pose_configs, ship_model


def _priors(cfg: spatial.SpatialConfig, size: int, pool: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(size * 0.2, size * 0.8, (40, 11, 2)).astype(np.float32)
    torso = pts[:, [0, 3, 6, 7]].mean(1)
    return spatial.learn_priors(pts, np.ones((40, 11), bool), torso, pool, cfg, size // pool)


def _tiny_run(tmp_path, write_pose_run, data_root=None):
    """A flic_tiny run folder (initial parameters) with a spatial model and a finished metrics.json."""
    cfg = dataclasses.replace(pose_configs.get_config("flic_tiny"), out=str(tmp_path / "runs"), data_root=data_root)
    run = write_pose_run(cfg)
    sp = spatial.FLIC_VALIDATED
    spatial.save_model(run, sp, _priors(sp, cfg.model.image_size, cfg.model.pool, 0))
    io.write_json(run / "metrics.json", {"status": "ok", "key": {"kind": "train.pose", "version": "0" * 16},
                                         "seconds": 1.0, "versions": {}, "metrics": {"evals": []}})
    return run, cfg


@pytest.fixture
def tiny_run(tmp_path, write_pose_run):
    return _tiny_run(tmp_path, write_pose_run)


@pytest.fixture
def models(tmp_path, monkeypatch):
    """An empty folder of shipped models, for this test only."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(shipped, "MODELS", folder)
    shipped.read.cache_clear()
    loaded_model._shipped.cache_clear()
    yield folder
    shipped.read.cache_clear()
    loaded_model._shipped.cache_clear()


def _ship(run, cfg, models, frames=None, name="tiny"):
    r = estimation.load(run)
    return shipped.write(models / name, name, cfg, r.params, (r.spatial, r.log_priors), frames,
                         {"summary": "a test model", "expects": "a person crop", "scores": {"test": {"Wrist": 1.0}},
                          "made_by": {"command": "none", "commit": "none"}})


def test_a_shipped_model_gives_the_runs_points_bit_for_bit_with_no_dataset(tiny_run, models):
    run, cfg = tiny_run
    size, pool = 96, cfg.model.pool
    config = dataclasses.replace(spatial.FLIC_VALIDATED, unary_power=2.0)
    frames = shipped.FrameStatistics(size, pool, config, _priors(config, size, pool, 1), 1.2)
    record = _ship(run, cfg, models, frames)
    assert shipped.names() == ("tiny",) and record["config"]["data_root"] is None
    m = estimation.load("tiny")
    assert m.name == "tiny" and m.config == dataclasses.replace(cfg, out="runs")
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (70, 50, 3), np.uint8), rng.integers(0, 256, (40, 90, 3), np.uint8)]
    a, b = estimation.estimate(images, "tiny"), estimation.estimate(images, run)
    assert a.spatial and a.readout == "spatial_cascade"
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    # whole frames: the shipped statistics, the same as handing them to the run's PoseModel
    f = two_pass.estimate_frames(images, "tiny", input_size=size)
    g = two_pass.estimate_frames(images, dataclasses.replace(estimation.load(run), frames=frames), input_size=size)
    np.testing.assert_array_equal(f.points, g.points)
    with pytest.raises(InputError, match="frame statistics.*ship_model.*input_size 96"):
        two_pass.estimate_frames(images, "tiny", input_size=size + pool)


def test_the_same_parameters_give_the_same_bytes_and_a_damaged_file_is_named(tiny_run, models, tmp_path):
    run, cfg = tiny_run
    first = _ship(run, cfg, models)
    again = _ship(run, cfg, models, name="again")
    assert first["files"] == again["files"]
    params = models / "tiny" / shipped.PARAMS_FILE
    data = bytearray(params.read_bytes())
    data[len(data) // 2] ^= 1
    params.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"{params}: field 'sha256': expected {first['files']['params.npz']}"):
        estimation.load("tiny")
    (models / "again" / spatial.PRIORS_FILE).unlink()
    with pytest.raises(InputError, match="spatial_priors.npy.*missing file"):
        shipped.read("again")


def test_a_file_entry_outside_the_model_folder_is_refused(tiny_run, models, tmp_path):
    """model.json's "files" is the one record no sha256 covers: an entry that leaves the folder was read and hashed."""
    _ship(*tiny_run, models)
    record_path = models / "tiny" / shipped.MODEL_FILE
    record = json.loads(record_path.read_text())
    outside = models / "outside.txt"
    outside.write_text("not the model's")
    for rel in ("../outside.txt", str(outside), "frames/../../outside.txt"):
        bad = dict(record, files={**record["files"], rel: io.sha256_file(outside)})
        record_path.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=r"model\.json: field 'files\..*': expected a path inside the model"):
            shipped.read("tiny")


def test_a_loaded_model_is_read_again_when_any_of_its_files_changes(tiny_run, models, tmp_path):
    """The loaded-model cache was keyed by model.json's modification time (a shipped model: by its name alone), so a
    replaced params.npz was not seen: the old parameters were served, a damaged file was not named."""
    run, cfg = tiny_run
    r = estimation.load(run)
    _ship(run, cfg, models)
    folder = tmp_path / "folder"
    shutil.copytree(models / "tiny", folder)
    first = [loaded_model.load(m).params for m in ("tiny", folder)]  # cached
    other = jax.tree_util.tree_map(lambda a: np.asarray(a) + 1, r.params)
    shipped.write(models / "tiny", "tiny", cfg, other, (r.spatial, r.log_priors), None,
                  {"summary": "", "expects": "", "scores": {}, "made_by": {}})
    leaf = jax.tree_util.tree_leaves
    np.testing.assert_array_equal(leaf(loaded_model.load("tiny").params)[0], leaf(first[0])[0] + 1)
    (folder / shipped.PARAMS_FILE).write_bytes((models / "tiny" / shipped.PARAMS_FILE).read_bytes())  # params only
    with pytest.raises(InputError, match=r"params\.npz: field 'sha256'"):
        loaded_model.load(folder)


def test_an_unknown_model_is_one_line_naming_the_shipped_ones(models, tiny_run):
    _ship(*tiny_run, models)
    for bad in ("flc", "runs/none"):
        with pytest.raises(InputError) as e:
            estimation.load(bad)
        assert str(e.value) == (f"model '{bad}': expected a shipped model (tiny) or a `convcorr train pose` run "
                                "folder (config.json + checkpoints/)")


def test_ship_model_writes_the_runs_frame_statistics_from_its_flic_folder(tmp_path, write_pose_run, models,
                                                                         flic_subset):
    root = flic_subset[0]
    run, cfg = _tiny_run(tmp_path, write_pose_run, str(root))
    assert ship_model.main(["--run", str(run), "--name", "flic_test", "--commit", "c0", "--command", "train it"]) == 0
    record = shipped.describe("flic_test")
    assert record["made_by"]["commit"] == "c0" and record["config"]["data_root"] is None
    frames = shipped.read("flic_test").frames
    config = dataclasses.replace(spatial.FLIC_VALIDATED, unary_power=two_pass.FRAME_TEST_TIME["unary_power"])
    size = two_pass.frame_input_size(cfg.model)  # FRAME_TEST_TIME's 288 at 128 px crops, scaled to the model's
    priors, ratio = model_folder.train_statistics(str(root), size, cfg.model.pool, config)
    np.testing.assert_array_equal(frames.log_priors, priors)
    assert frames.ratio == ratio and frames.fits(size, cfg.model.pool, config)


def test_convcorr_pose_lists_models_and_uses_one_by_name(tiny_run, models, tmp_path, capsys):
    from PIL import Image

    from convcorr_cli.main import main

    _ship(*tiny_run, models)
    assert main(["pose", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "tiny: a test model" in out and "expects: a person crop" in out and "test: Wrist 1.0" in out
    img = tmp_path / "person.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (60, 40, 3), np.uint8)).save(img)
    assert main(["pose", str(img), "--model", "tiny", "--json", str(tmp_path / "p.json")]) == 0
    got = json.loads((tmp_path / "p.json").read_text())
    want = estimation.estimate(np.asarray(Image.open(img)), "tiny")
    np.testing.assert_allclose([[j["x"], j["y"]] for j in got["images"][0]["joints"]], want.points[0], rtol=0,
                               atol=1e-4)
    assert main(["pose", str(img), "--model", "nope"]) == 2
    assert "model 'nope': expected a shipped model (tiny)" in capsys.readouterr().err


def test_convcorr_pose_on_a_video_writes_an_annotated_video_and_json_lines(tiny_run, models, tmp_path, capsys,
                                                                           write_clip):
    import av

    from convcorr_cli.main import main

    _ship(*tiny_run, models)
    clip = tmp_path / "clip.mp4"
    frames = np.zeros((9, 48, 64, 3), np.uint8)
    for i in range(9):  # a bright square moving right over a darkening background
        frames[i, :, :, 0] = 20 * i
        frames[i, 10:30, 5 + 3 * i:20 + 3 * i] = 255
    write_clip(clip, frames)
    out = tmp_path / "out"
    assert main(["pose", str(clip), "--model", "tiny", "--out", str(out), "--every", "2"]) == 0
    lines = [json.loads(x) for x in (out / "clip_pose.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == [0, 2, 4, 6, 8]
    assert all(len(x["joints"]) == 11 and (x["width"], x["height"]) == (64, 48) for x in lines)
    with av.open(str(out / "clip_pose.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    assert len(decoded) == 5 and decoded[0].shape[1] >= 64 and decoded[0].shape[0] > 48  # the legend strip below
    # the joints written are the ones `estimate` gives for those frames
    with av.open(str(clip)) as c:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(c.streams.video[0])) if i % 2 == 0]
    want = estimation.estimate(frames, "tiny")
    np.testing.assert_allclose([[[j["x"], j["y"]] for j in x["joints"]] for x in lines], want.points, atol=1e-4)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    capsys.readouterr()
    assert main(["pose", str(bad), "--model", "tiny", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "a video PyAV (FFmpeg) can read" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["clip_pose.jsonl", "clip_pose.mp4"]


GOLDEN = {"flic": Path(__file__).resolve().parent / "golden" / "pose_flic_cli.json",
          "flic_256": Path(__file__).resolve().parent / "golden" / "pose_flic_256_cli.json"}


def test_the_shipped_flic_models_are_listed_with_their_scores():
    assert {"flic", "flic_256"} <= set(shipped.names())
    d = shipped.describe("flic")
    # the shipped model.json files keep their rows' labels as written then (CROP_TEST_TIME's former name)
    crops = d["scores"]["person crops (torso boxes), CROP_READOUT"]
    assert crops["Elbow"] > 50 and crops["Wrist"] > 50 and d["config"]["data_root"] is None
    assert d["made_by"]["command"].startswith("convcorr train pose --config flic")
    big = shipped.read("flic_256")
    crops = big.record["scores"]["person crops (torso boxes), CROP_READOUT"]
    assert big.config.model.image_size == 256 and crops["Elbow"] > 60 and crops["Wrist"] > 60
    assert big.readout.name == "cascade_product" and not big.readout.spatial  # chosen on the validation movies
    assert big.frames.input_size == 576 and big.skeleton.names[0] == "lsho"


# flic_256 (576 px frames, 256 px crops) is marked slow (`make test-all`): the same command and golden check as flic's
@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m == "flic_256" else m
                                   for m in sorted(GOLDEN)])
def test_convcorr_pose_gives_the_stored_points_on_flic_test_frames(flic_root, tmp_path, model):
    """`convcorr pose` with a shipped model (`flic` the default), FLIC test frames by absolute path and their torso
    boxes, CROP_TEST_TIME's flags: the points `bench/pose_cli_flic.py --golden` stored from the same command."""
    from convcorr_cli.main import main

    g = json.loads(GOLDEN[model].read_text())
    assert g["model"] == model
    paths = [str((flic_root / "images" / p["image"]).resolve()) for p in g["people"]]
    boxes = ["--torso-box=" + ",".join(repr(v) for v in p["box"]) for p in g["people"]]
    chosen = [] if model == "flic" else ["--model", model]
    assert main(["pose", *paths, *boxes, *g["flags"], *chosen, "--json", str(tmp_path / "p.json")]) == 0
    got = json.loads((tmp_path / "p.json").read_text())["images"]
    assert [Path(im["image"]).name for im in got] == [p["image"] for p in g["people"]]
    for im, want in zip(got, g["people"]):
        xy = [[j["x"], j["y"]] for j in im["joints"]]
        np.testing.assert_allclose(xy, [[j["x"], j["y"]] for j in want["joints"]], rtol=0, atol=1e-3)


def _bench(name: str):
    import importlib.util
    import sys

    script = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # the script's dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


# marked slow (`make test-all`): the two bench scripts end to end on real data; tests/test_pose_estimate.py checks the
# same pieces in the fast tier (bench/pose_estimate_flic.py's rows are `estimate`'s points scored as PCK,
# `estimate(person_boxes=...)` on a FLIC model, and the warnings flag each person below the model's threshold)
@pytest.mark.slow
def test_person_box_and_warning_benches_score_what_estimate_gives(flic_root, real_data, capsys):
    """bench/pose_person_boxes.py and bench/pose_warnings.py on the first 3 people of each set with the shipped
    `flic`: their rows are `estimate`'s points scored as PCK, and the warnings bench flags exactly the people
    whose mean confidence is below the model's stored threshold."""
    from convcorr_jax.pose import estimate, person_boxes as pb

    boxes_bench = _bench("pose_person_boxes")
    assert boxes_bench.main(["--root", str(flic_root), "--split", "test", "--limit", "3", "--one-crop"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| person boxes") or ln.startswith("| torso boxes")]
    assert len(rows) == 4 and rows[:2] == rows[2:]  # printed as they come, then as one table
    s = boxes_bench.Scorer(str(flic_root), "test", 3)
    want = s.row(estimate(s.frames, "flic", person_boxes=list(pb.boxes_from_joints(
        np.stack([x.points for x in s.samples])))).points)
    np.testing.assert_allclose([float(v) for v in rows[3].split("|")[2:8]], want, atol=0.051)
    lspet = real_data / "lspet"
    if not (lspet / "joints.mat").is_file():
        pytest.skip(f"LSP-extended is not at {lspet}")
    warn_bench = _bench("pose_warnings")
    assert warn_bench.main(["--flic", str(flic_root), "--lspet", str(lspet), "--limit", "3", "--one-crop"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("| FLIC test, torso boxes |"))
    poses = estimate(s.frames, "flic", torso_boxes=s.torso)
    warned = poses.confidence.mean(-1) < shipped.read("flic").readout.warn_below
    assert float(row.split("|")[3]) == pytest.approx(100 * warned.mean(), abs=0.05)


PERSON_GOLDEN = Path(__file__).resolve().parent / "golden" / "pose_person_cli.json"


def test_the_person_model_gives_a_full_body_skeleton_with_no_dataset(tmp_path, capsys):
    """`convcorr pose PHOTO --person-box ... --model person` from the package alone: the 17 joints of the person
    skeleton, legs included, inside the frame near the box; --list-models names the people it was made for."""
    import importlib.util

    from convcorr_cli.main import main

    img = Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"  # public domain (NASA)
    assert main(["pose", str(img), "--person-box", "60,20,460,511", "--model", "person", "--json",
                 str(tmp_path / "p.json")]) == 0
    joints = json.loads((tmp_path / "p.json").read_text())["images"][0]["joints"]
    names = [j["name"] for j in joints]
    assert len(names) == 17 and {"l knee", "r knee", "l ankle", "r ankle", "neck", "head top"} <= set(names)
    xy = np.array([[j["x"], j["y"]] for j in joints])
    assert np.isfinite(xy).all() and (xy > -60).all() and (xy < 572).all()
    capsys.readouterr()
    assert main(["pose", "--list-models"]) == 0
    listed = capsys.readouterr().out
    assert "person: people of every kind" in listed and "LSP-extended" in listed
    assert listed.count("made for:") == len(shipped.names())


def test_the_person_model_gives_the_stored_points_on_lsp_extended_validation_people(real_data, tmp_path):
    """`convcorr pose` with `person` on four LSP-extended validation people (im05001-im05004) and their person boxes
    (the labelled joints' box, 15 % added): the points stored from the same command when the model shipped."""
    from convcorr_cli.main import main

    g = json.loads(PERSON_GOLDEN.read_text())
    root = real_data / "lspet" / "images"
    if not (root / g["people"][0]["image"]).is_file():
        pytest.skip(f"LSP-extended's validation images not found under {root}")
    paths = [str((root / p["image"]).resolve()) for p in g["people"]]
    boxes = ["--person-box=" + ",".join(repr(v) for v in p["box"]) for p in g["people"]]
    assert main(["pose", *paths, *boxes, "--model", "person", "--json", str(tmp_path / "p.json")]) == 0
    got = json.loads((tmp_path / "p.json").read_text())["images"]
    for im, want in zip(got, g["people"]):
        assert [j["name"] for j in im["joints"]] == [j["name"] for j in want["joints"]]
        np.testing.assert_allclose([[j["x"], j["y"]] for j in im["joints"]],
                                   [[j["x"], j["y"]] for j in want["joints"]], rtol=0, atol=1e-3)


def test_list_models_says_where_each_choice_was_made(capsys):
    """`--list-models` on the shipped models: the read-out's split reads as English whether or not the record says
    "the ...", and a model whose test-time flip and crop scales were chosen by a rule of their own names that rule
    and its data (the `person` model: PCK@0.2 on FLIC's and LSP-extended's validation people)."""
    from convcorr_cli.main import main

    assert main(["pose", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "the the " not in out and out.count("read-out: ") == len(shipped.names())
    rule = json.loads((shipped.MODELS / "person" / "readout.json").read_text())["test_time"]["rule"]
    assert "test-time flip and crop scales chosen on " in out and rule in out


@pytest.mark.parametrize("edit, match", [
    # a config out of its range: was a TypeError from jax's concatenate deep in the first estimate
    (lambda d: d["config"]["model"].update(pool=6), r"model\.json: field 'config\.model\.pool': expected 4, 8 or 16"),
    (lambda d: d["config"]["model"].update(sigma=-1.0), r"model\.json: field 'config\.model\.sigma': expected > 0"),
    # another width than the parameters': was a traceback from inside the network
    (lambda d: d["config"]["model"].update(head=32), r"params\.npz: field 'coarse/fc1/bias': expected shape \(32,\)"),
    # was "flip: field 'perm'", naming neither the file nor what was wrong with it
    (lambda d: d["config"]["model"].update(num_joints=3), r"params\.npz: field 'coarse/fc2/bias'.*num_joints=3"),
    (lambda d: d.pop("config"), r"model\.json: field 'config': expected the model's training config"),  # KeyError
    (lambda d: d["skeleton"]["names"].append("chin"), r"model\.json: field 'skeleton\.names': expected 17 joints"),
    # a skeleton field the Skeleton refuses: was the generic field 'skeleton', the detail only in its `got`
    (lambda d: d["skeleton"].update(flip_pairs=[[3, 3]]),
     r"model\.json: field 'skeleton\.flip_pairs': expected two different joints, got \(3, 3\)$"),
    (lambda d: d["skeleton"].update(links=[[0, 99]]), r"model\.json: field 'skeleton\.links': expected joint ids"),
    (lambda d: d["skeleton"].update(tree=[[1.5, 2]]), r"model\.json: field 'skeleton\.tree': expected node ids"),
    # a required key missing: was the generic field 'skeleton', the key only in its `got`
    (lambda d: d["skeleton"].pop("names"), r"model\.json: field 'skeleton\.names': expected the keypoint names"),
])
def test_a_model_folder_with_an_edited_config_is_one_line_naming_it(tmp_path, edit, match):
    """A copied model folder whose model.json's config was edited (model.json holds the other files' sha256, not its
    own) is refused when loaded, one InputError naming the file and the field, before any image is read."""
    folder = tmp_path / "person"
    shutil.copytree(shipped.MODELS / "person", folder)
    record = json.loads((folder / shipped.MODEL_FILE).read_text())
    edit(record)
    (folder / shipped.MODEL_FILE).write_text(json.dumps(record))
    with pytest.raises(InputError, match=match):
        loaded_model.load(folder)


@pytest.mark.parametrize("edit, field, expected", [
    # a required key missing: each was the generic field 'skeleton' ("a skeleton record ..."), the key in its `got`
    (lambda d: d.pop("names"), "skeleton.names", "the keypoint names"),
    (lambda d: d.pop("links"), "skeleton.links", "the bones"),
    (lambda d: d.pop("name"), "skeleton.name", "the skeleton's name"),
    # names that are not a list of strings: 5 was the generic field, [0, 1, ...] and "abc" were accepted
    (lambda d: d.update(names=5), "skeleton.names", "a list of keypoint names"),
    (lambda d: d.update(names=list(range(17))), "skeleton.names", "a list of keypoint names"),
    (lambda d: d.update(names="abc"), "skeleton.names", "a list of keypoint names"),
    # names the Skeleton refuses (one check, its own): "" was accepted
    (lambda d: d["names"].__setitem__(3, ""), "skeleton.names", r"a list of keypoint names \(non-blank strings\)"),
    (lambda d: d["names"].__setitem__(3, d["names"][0]), "skeleton.names", "distinct keypoint names"),
    # a name or title that is not text: str() made it one ("3")
    (lambda d: d.update(name=3), "skeleton.name", "a non-blank string, got 3"),
    (lambda d: d.update(title=["person"]), "skeleton.title", r"a string, got \['person'\]"),
    # ends and sigmas that are not lists: were the generic field ("'int' object is not iterable")
    (lambda d: d.update(torso=5), "skeleton.torso", "two joint ids"),
    (lambda d: d.update(head=5), "skeleton.head", "two joint ids"),
    (lambda d: d.update(sigmas=5), "skeleton.sigmas", "a sequence of 17"),
])
def test_a_skeleton_record_names_the_key_it_lacks_or_that_is_wrong(edit, field, expected):
    """model.json's skeleton: a missing or malformed key is named as its own field, not as 'skeleton'."""
    record = json.loads((shipped.MODELS / "person" / shipped.MODEL_FILE).read_text())["skeleton"]
    assert shipped._skeleton_from(json.loads(json.dumps(record)), "model.json").num_joints == 17
    edit(record)
    with pytest.raises(InputError, match=f"model.json: field '{field}': expected {expected}") as e:
        shipped._skeleton_from(record, "model.json")
    assert e.value.field == field
    with pytest.raises(InputError, match="model.json: field 'skeleton': expected an object"):  # was AttributeError
        shipped._skeleton_from([record], "model.json")


def test_a_model_folder_without_its_model_json_is_one_line_naming_it(tmp_path):
    """A model folder copied in part (params.npz but no model.json) names model.json and the folder: it was "expected
    a `convcorr train pose` run (config.json + checkpoints/)", naming neither."""
    folder = tmp_path / "person"
    shutil.copytree(shipped.MODELS / "person", folder)
    (folder / shipped.MODEL_FILE).unlink()
    with pytest.raises(InputError) as e:
        loaded_model.load(folder)
    assert e.value.field == shipped.MODEL_FILE and e.value.source == str(folder.resolve())
    assert str(e.value).startswith(f"{folder.resolve()}: field 'model.json': ") and "params.npz" in str(e.value)
    (folder / shipped.PARAMS_FILE).unlink()  # no model file at all: neither a model nor a run, as before
    with pytest.raises(InputError, match=r"expected a `convcorr train pose` run"):
        loaded_model.load(folder)


def test_a_file_given_as_the_model_names_the_file_and_its_folder(tmp_path, capsys):
    """A file given as the model (model.json, params.npz, an image) is one line naming the file, what a model is and,
    for a file of a model folder, that folder: it was "run folder X/model.json: expected a `convcorr train pose`
    run", as if the file were a folder."""
    from convcorr_cli.main import main

    folder = shipped.MODELS / "flic"
    for rel in (shipped.MODEL_FILE, shipped.PARAMS_FILE):
        with pytest.raises(InputError) as e:
            loaded_model.load(folder / rel)
        assert e.value.field == "model" and e.value.source == str((folder / rel).resolve())
        assert "a model folder (model.json + params.npz)" in str(e.value)
        assert str(e.value).endswith(f"got a file: give its folder {folder.resolve()}")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"not a model")
    assert main(["pose", "--export-onnx", str(tmp_path / "x.onnx"), "--model", str(photo)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and err.endswith("got a file") and "field 'model'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_file_model_json_does_not_record_is_refused_not_read_unchecked(tiny_run, models, tmp_path):
    """A read-out or spatial model in a model folder that model.json does not record (another model's files copied
    over it) was read without any sha256 check: the copied read-out, flip, crop scale and warning threshold were
    used without a word. It is one line naming the file."""
    real = Path(shipped.__file__).resolve().parent / "models"
    _ship(*tiny_run, models)  # no read-out: model.json records params.npz and the spatial model
    folder = tmp_path / "tiny"
    shutil.copytree(models / "tiny", folder)
    assert loaded_model.load(folder).readout is None
    shutil.copy(real / "person" / "readout.json", folder / "readout.json")
    with pytest.raises(InputError, match=r"readout\.json: field 'files\.readout\.json': .*does not record"):
        loaded_model.load(folder)
    person = tmp_path / "person"  # records params.npz and readout.json alone
    shutil.copytree(real / "person", person)
    shutil.copy(real / "flic" / spatial.CONFIG_FILE, person / spatial.CONFIG_FILE)
    with pytest.raises(InputError, match=r"spatial\.json: field 'files\.spatial\.json': .*does not record"):
        loaded_model.load(person)


@pytest.fixture(scope="module")
def stopped_runs(tiny_flic_module, tmp_path_factory):
    """A flic_tiny run on `tiny_flic` (stages end at steps 2, 4 and 6; a checkpoint after every step) stopped after
    step 1, copied (a run in its first stage), then resumed and stopped after step 3 (a run that is a model at its
    first stage's end, with a newer checkpoint mid-stage): (FLIC folder, first-stage run, mid-stage run)."""
    import signal

    from convcorr_jax.core import interrupt
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose

    tmp = tmp_path_factory.mktemp("stopped_runs")
    cfg = pose.config("flic_tiny", str(tmp / "runs"), [f"data_root={tiny_flic_module}", "steps=2,2,2",
                                                        "checkpoint_every=1"])
    for stop in (1, 3):
        with pytest.raises(interrupt.Interrupted), interrupt.handling("test"):
            loop.train(cfg, on_step=lambda n, stop=stop: n == stop and interrupt.request(signal.SIGTERM),
                       on_stage=model_folder.write_stage)
        if stop == 1:
            first = Path(shutil.copytree(cfg.run_dir(), tmp / "first_stage"))
    return tiny_flic_module, first, cfg.run_dir()


def test_an_export_of_a_run_stopped_mid_stage_holds_the_parameters_its_readout_was_chosen_for(stopped_runs,
                                                                                               tmp_path):
    """The read-out in a run's readout.json was chosen for the parameters of its last stage's end (its params.npz);
    `model_folder.export` paired it with the newest checkpoint's parameters, which a run stopped or still training
    mid-stage has, without a word. The export holds the run's own model files, as `load(run)` reads the run."""
    from convcorr_jax.pose.training import run_folder

    root, _, run = stopped_runs
    assert run_folder.saved_steps(run)[-1] == 3 and json.loads((run / "model.json").read_text())["made_by"]["step"] == 2
    newest = shipped._flatten(run_folder.load_run(run)[1])
    own = shipped._flatten(loaded_model.load(run).params)
    assert any(not np.array_equal(newest[k], own[k]) for k in own)  # step 3 is not the read-out's parameters
    record = model_folder.export(run, tmp_path / "model", root)
    run_files = json.loads((run / "model.json").read_text())["files"]
    assert record["files"]["params.npz"] == run_files["params.npz"]
    assert record["files"]["readout.json"] == run_files["readout.json"]
    exported = shipped._flatten(loaded_model.load(tmp_path / "model").params)
    assert all(np.array_equal(exported[k], own[k]) for k in own)
    other = Path(shutil.copytree(run, tmp_path / "other"))  # model files of other settings copied into the run
    record = json.loads((other / "model.json").read_text())
    record["config"]["seed"] += 1
    (other / "model.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"model\.json: field 'config': expected the run's settings"):
        model_folder.export(other, tmp_path / "model2", root)


def test_a_run_that_has_not_finished_its_first_stage_is_refused_in_one_line(stopped_runs, tiny_run):
    """A run folder without model.json was loaded as a run written before runs were models: the parameters of a
    run still in its first stage (or stopped there), the spatial cascade read-out, and nothing said the run had not
    finished its first stage. It is one line naming the run and its step; a run at its last step without model.json
    (an older run) still loads from its checkpoint."""
    _, first, _ = stopped_runs
    assert not (first / shipped.MODEL_FILE).exists()
    with pytest.raises(InputError) as e:
        loaded_model.load(first)
    msg = str(e.value)
    assert msg.splitlines() == [msg] and msg.startswith(f"{first.resolve()}: the run has not finished its first "
                                                        "stage (step 1 of 2 saved)")
    with pytest.raises(InputError, match="has not finished its first stage"):
        estimation.estimate([np.zeros((64, 64, 3), np.uint8)], model=first)
    run, _ = tiny_run
    assert loaded_model.load(run).readout is None and not (run / shipped.MODEL_FILE).exists()


def test_parameters_replaced_while_read_give_the_checked_ones(tmp_path, monkeypatch):
    """A training run's next stage replaces params.npz while a reader loads the run as a model: the reader got the
    new file, read again after checking the old one against model.json, so its parameters silently did not match
    the rest of the model.json it read. The bytes checked are the bytes loaded now."""
    from convcorr_jax.pose import model_files

    old, new = {"a/kernel": np.zeros((2, 2), np.float32)}, {"a/kernel": np.ones((2, 2), np.float32)}
    io.save_npz(tmp_path / model_files.PARAMS_FILE, **old)
    record = {"files": {model_files.PARAMS_FILE: io.sha256_file(tmp_path / model_files.PARAMS_FILE)}}
    check = model_files.check_file

    def next_stage_meanwhile(folder, rel, want):
        data = check(folder, rel, want)
        io.save_npz(tmp_path / model_files.PARAMS_FILE, **new)  # the training run's next stage, just after the check
        return data

    monkeypatch.setattr(model_files, "check_file", next_stage_meanwhile)
    params = model_files.read_params(tmp_path, record)
    np.testing.assert_array_equal(params["a"]["kernel"], old["a/kernel"])
