"""Trained models travel: a run folder is a model (`pose.export.model_folder`), so that after its dataset is deleted
and the folder moved, `pose.estimate` (crops, and whole frames with two_pass) and `convcorr pose` give the same joints
as before, and inference leaves the folder's bytes unchanged; an older run without its model files is exported once
with its data."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_pose_skeletons import write_coco

from convcorr_cli.main import main
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import estimate, readout, shipped
from convcorr_jax.pose.export import model_folder


def _bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_coco_run_moved_without_its_data_estimates_the_same(tmp_path, capsys):
    from convcorr_train import pose

    root = tmp_path / "coco"
    write_coco(root, "train", n=8, size=64)
    write_coco(root, "val", n=4, size=64)
    cfg = pose.config("coco_tiny", str(tmp_path / "runs"), [f"data_root={root}", "steps=2,1,1"])
    assert pose.main("coco_tiny", cfg, progress=False) == 0  # `convcorr train pose`: the loop, then the export step
    capsys.readouterr()
    run = cfg.run_dir()
    record = json.loads((run / shipped.MODEL_FILE).read_text())
    assert len(record["skeleton"]["names"]) == cfg.model.num_joints == 5  # the file's own skeleton
    chosen = readout.load_readout(run)
    assert chosen is not None and chosen[0].spatial is False and chosen[1]["people"] == 4
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "images").glob("val_*.png"))]
    before = estimate(images, model=str(run))
    assert before.readout == chosen[0].name  # the validated read-out by default
    out = tmp_path / "before.json"
    assert main(["pose", *map(str, sorted((root / "images").glob("val_*.png"))), "--model", str(run),
                 "--json", str(out)]) == 0
    # the data deleted, the run moved: the same joints, from the folder alone
    kept = tmp_path / "kept"
    kept.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(kept / f"val_{i}.png")
    moved = tmp_path / "elsewhere" / "my_model"
    moved.parent.mkdir()
    shutil.move(str(run), moved)
    shutil.rmtree(root)
    files = _bytes(moved)
    after = estimate(images, model=str(moved))
    np.testing.assert_array_equal(after.points, before.points)
    np.testing.assert_array_equal(after.confidence, before.confidence)
    out2 = tmp_path / "after.json"
    assert main(["pose", *map(str, sorted(kept.glob("val_*.png"))), "--model", str(moved), "--json", str(out2)]) == 0
    a, b = json.loads(out.read_text()), json.loads(out2.read_text())
    assert [p["joints"] for p in a["images"]] == [p["joints"] for p in b["images"]]
    assert _bytes(moved) == files  # inference wrote nothing into the model folder


def test_a_flic_run_estimates_whole_frames_after_its_folder_is_deleted(tiny_flic, tmp_path):
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose

    cfg = pose.config("flic_tiny", str(tmp_path / "runs"), [f"data_root={tiny_flic}", "steps=2,1,1"])
    loop.train(cfg, on_stage=model_folder.write_stage)
    run = cfg.run_dir()
    record = json.loads((run / shipped.MODEL_FILE).read_text())
    assert record["frame_statistics"]["input_size"] == 144  # FRAME_TEST_TIME's 288 for 128 px crops, at 64 px
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tiny_flic / "images").glob("*.jpg"))[:2]]
    torso = np.array([[140.0, 100.0], [150.0, 110.0]])
    before = estimate(frames, str(run), two_pass=True, torso=torso, scales=(1.0,))
    moved = tmp_path / "moved"
    shutil.move(str(run), moved)
    shutil.rmtree(tiny_flic)
    files = _bytes(moved)
    after = estimate(frames, str(moved), two_pass=True, torso=torso, scales=(1.0,))
    np.testing.assert_array_equal(after.points, before.points)
    assert _bytes(moved) == files


def test_an_old_run_names_the_export_and_the_export_makes_what_it_lacks(tiny_flic, tmp_path, write_pose_run):
    from convcorr_train import pose, ship_model

    cfg = pose.config("flic_tiny", str(tmp_path / "runs"), [f"data_root={tiny_flic}"])
    run = write_pose_run(cfg)  # config.json + a checkpoint: a run written before runs were models
    frames = [np.zeros((240, 360, 3), np.uint8)]
    with pytest.raises(InputError, match="ship_model") as e:
        estimate(frames, str(run), two_pass=True)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(InputError, match="--root"):
        model_folder.export(run, tmp_path / "m", tmp_path / "absent")
    (run / "metrics.json").write_text(json.dumps({"status": "ok", "key": {"version": "v"}, "metrics": {"evals": []}}))
    assert ship_model.main(["--run", str(run), "--out", str(tmp_path / "model"), "--root", str(tiny_flic)]) == 0
    m = shipped.read_folder(tmp_path / "model")
    assert m.frames is not None and m.readout is not None and m.skeleton is not None and m.spatial is not None
    assert estimate(frames, str(tmp_path / "model"), two_pass=True, scales=(1.0,)).points.shape == (1, 11, 2)


def test_loading_a_model_and_estimating_imports_no_training_module():
    """`import convcorr_jax.pose`, `pose.load("flic")` and `pose.estimate` bring in neither grain nor orbax nor
    optax, nor any training module (checked in a new interpreter)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\nimport convcorr_jax.pose as pose\n"
            "pose.estimate(np.zeros((64, 48, 3), np.uint8), pose.load('flic'))\n"
            "bad = ('grain', 'orbax', 'optax', 'tensorboardX', 'convcorr_jax.pose.training.loop', "
            "'convcorr_jax.pose.training.checkpoints', 'convcorr_jax.pose.data', 'convcorr_jax.pose.training.stages')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in bad or m in bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_parameters_are_stored_by_slash_paths_and_a_name_with_a_slash_is_refused():
    """`shipped._flatten` gives the "a/b/kernel" paths that `model_files.read_params` unflattens (an inverse pair);
    a parameter name holding "/" could not be read back, so it is refused by name."""
    from flax import traverse_util

    tree = {"head": {"conv": {"kernel": np.ones((1, 1, 2, 3), np.float32), "bias": np.zeros(3, np.float32)}},
            "scale": np.float32(2.0)}
    flat = shipped._flatten(tree)
    assert sorted(flat) == ["head/conv/bias", "head/conv/kernel", "scale"]
    back = traverse_util.unflatten_dict(flat, sep="/")
    assert back.keys() == tree.keys() and back["head"]["conv"].keys() == tree["head"]["conv"].keys()
    np.testing.assert_array_equal(back["head"]["conv"]["kernel"], tree["head"]["conv"]["kernel"])
    with pytest.raises(InputError, match="'a/b'.*without '/'"):
        shipped._flatten({"head": {"a/b": np.ones(1)}})
