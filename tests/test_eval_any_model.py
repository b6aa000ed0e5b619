"""Every evaluation takes any pose model where it took a training run: a shipped model's name, an exported model
folder (`convcorr_train.ship_model`) or a run folder (`--model`; `--run` still works), scores it with its stored
read-out and never writes into it. A tiny run and its export score the same in `convcorr eval flic`, `eval pose`,
`eval mpii` and their `convcorr run` twins (`tompson2015.flic`, `tompson2015.mpii`, `tompson2015.tables`), each
model in its own run folder; a read-out is chosen again only by the explicit step `convcorr_train.choose_readout`;
and the shipped `flic` scores on real FLIC's validation movies as bench/RESULTS_pose.md says, its folder byte for
byte unchanged."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from convcorr_cli.main import main
from convcorr_jax.pose import joints, readout, shipped
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.augment import AugmentConfig
from convcorr_jax.pose.data import PoseArrays
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_eval.tompson2015 import flic_readout, trained

TINY = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)


def _bytes(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under folder."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


RUN = ("config", "versions", "devices", "seconds")  # what an eval JSON says of its run (model path, wall time)


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


@pytest.fixture(scope="module")
def flic_run(tiny_flic_module, tmp_path_factory):
    """A flic_tiny run trained on `tiny_flic` (a run folder that is a model: it chose its read-out on the validation
    movie) and its export, a model folder made by `convcorr_train.ship_model`: (FLIC folder, run, export). Trained
    once for the module: a test that writes into one of them works on its own copy."""
    tiny_flic, tmp_path = tiny_flic_module, tmp_path_factory.mktemp("flic_run")
    from convcorr_jax.pose.export import model_folder
    from convcorr_jax.pose.training import loop
    from convcorr_train import pose, ship_model

    cfg = pose.config("flic_tiny", str(tmp_path / "runs"), [f"data_root={tiny_flic}", "steps=2,1,1"])
    loop.train(cfg, on_stage=model_folder.write_stage)
    run = cfg.run_dir()
    export = tmp_path / "exported" / "my_flic"
    assert ship_model.main(["--run", str(run), "--out", str(export), "--root", str(tiny_flic)]) == 0
    assert (export / shipped.MODEL_FILE).is_file() and not (export / "checkpoints").exists()
    return tiny_flic, run, export


def test_a_run_and_its_export_score_the_same_and_are_not_written(flic_run, tmp_path, capsys):
    root, run, export = flic_run
    before = {m: _bytes(m) for m in (run, export)}
    assert readout.load_readout(run)[0] == readout.load_readout(export)[0]  # the run's choice, kept by the export
    out = tmp_path / "scores"
    res = {}
    for m, flag in ((run, "--run"), (export, "--model")):
        js = tmp_path / f"{m.name}.json"
        assert main(["eval", "flic", flag, str(m), "--root", str(root), "--out", str(out), "--json", str(js),
                     "--no-progress"]) == 0
        printed = capsys.readouterr().out
        assert "ours validated: " in printed and "FLIC test PCK@0.05 (torso): validated (" in printed
        res[m] = _json(js)
    assert res[run]["model"] == str(run) and res[export]["model"] == str(export)
    assert _without(res[run], "model", *RUN) == _without(res[export], "model", *RUN)
    assert res[run]["validated"]["readout"] == readout.load_readout(run)[0].key
    # the keys `eval flic --json`'s help and docs/commands.md name
    assert {"pck", "validated", "ablation", "curve", "spatial", "n", *RUN} <= set(res[run])
    assert {"cascade", "coarse", "product", "cascade+spatial"} <= set(res[run]["pck"]["0.05"])
    # each model its own run folder: the readable name and a digest of the settings and of the model's identity
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert len(names) == 2 and re.fullmatch(r"tompson2015\.flic_my_flic_[0-9a-f]{6}", names[0]), names
    assert re.fullmatch(r"tompson2015\.flic_pose_flic_tiny_[0-9a-f]{6}", names[1]), names
    key = _json(out / names[0] / "metrics.json")["key"]["settings"]
    assert key["model"] == str(export) and key["trained"] == trained.model_state(export)
    assert key["trained"] == f"model.json {hashlib.sha256((export / 'model.json').read_bytes()).hexdigest()}"
    # `convcorr eval pose` (FLIC is one of its kinds) and the `convcorr run` twin of `eval flic`
    pose = {}
    for m in (run, export):
        js = tmp_path / f"pose_{m.name}.json"
        assert main(["eval", "pose", "--model", str(m), "--root", str(root), "--split", "test", "--json",
                     str(js)]) == 0
        pose[m] = _json(js)
    assert _without(pose[run], "model", *RUN) == _without(pose[export], "model", *RUN)
    assert pose[run]["readout"] == readout.load_readout(run)[0].key and pose[run]["people"] == 2
    # the keys `eval pose --json`'s help and docs/commands.md name
    assert {"pck", "readout", "models", "people", "scored_people", "normaliser", "skeleton", "keypoints", "groups",
            *RUN} <= set(pose[run])
    assert set(pose[run]["models"]) == {"validated", "cascade", "coarse", "mean_pose"}
    assert set(pose[run]["pck"]) == {"0.05", "0.1", "0.2", "0.5"} and "mean" in pose[run]["pck"]["0.2"]
    twin = tmp_path / "twin"
    assert main(["run", "tompson2015.flic", "--data-root", str(root), "--set", f"model={export}", "--set",
                 "name=scored", "--out", str(twin), "--no-progress"]) == 0
    assert _without(_json(twin / "scored" / "metrics.json")["metrics"], "model") == _without(res[run], "model", *RUN)
    tables = {}
    for m, field in ((run, "run_dir"), (export, "model")):  # the Tompson tables of a model; run_dir: older name
        assert main(["run", "tompson2015.tables", "--size", "tiny", "--data-root", str(root), "--set",
                     f"{field}={m}", "--set", "reference_pckh=false", "--set", f"name=t_{m.name}", "--out",
                     str(twin), "--no-progress"]) == 0
        saved = _json(twin / f"t_{m.name}" / "metrics.json")
        assert saved["key"]["settings"]["model"] == str(m) and saved["key"]["settings"]["trained"]
        tables[m] = saved["metrics"]
    assert _without(tables[run], "wall_s") == _without(tables[export], "wall_s") and tables[run]["n_test"] == 2
    assert {m: _bytes(m) for m in (run, export)} == before  # scoring wrote nothing into either model


def test_choosing_the_readout_is_its_own_step(flic_run, tmp_path, capsys):
    """`eval flic --split val` leaves the model as it is; `convcorr_train.choose_readout` weighs the spatial
    read-outs too, by the rule `flic_readout.readout_choice` applies to the same scores, keeps the warning threshold,
    and leaves a model folder that still reads (model.json's hash of readout.json refreshed)."""
    from convcorr_jax.pose import load
    from convcorr_train import choose_readout

    root, run, shared = flic_run
    export = Path(shutil.copytree(shared, tmp_path / shared.name))  # choose_readout writes into it: a copy
    files = _bytes(export)
    js = tmp_path / "val.json"
    assert main(["eval", "flic", "--model", str(export), "--root", str(root), "--split", "val", "--out",
                 str(tmp_path / "scores"), "--json", str(js), "--no-progress"]) == 0
    assert _bytes(export) == files and "readout_saved" not in _json(js)
    res = _json(js)
    saved = readout.load_readout(export)
    capsys.readouterr()
    assert choose_readout.main(["--run", str(export), "--root", str(root), "--dry-run"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("chosen: ") for ln in printed) and _bytes(export) == files  # a dry run writes nothing
    config = json.loads(next(ln[len("config: "):] for ln in printed if ln.startswith("config: ")))
    assert printed[0] == "== choose_readout ==" and config["dry_run"] is True and config["seed"] is None
    assert any(ln.startswith("versions: python ") for ln in printed) and printed[-1].startswith("wall time ")
    assert choose_readout.main(["--model", str(export), "--root", str(root)]) == 0
    assert f"wrote {export / readout.FILE}" in capsys.readouterr().out
    choice, record = readout.load_readout(export)
    want_choice, want = flic_readout.readout_choice(res, with_spatial=True, saved=saved)
    assert choice == want_choice and choice.warn_below == saved[0].warn_below
    assert record["scores"] == want["scores"] and len(record["scores"]) == 6  # with and without the spatial model
    assert record.get("warning") == saved[1].get("warning") and record["people"] == res["n"] == 1
    assert set(_bytes(export)) == set(files) and _bytes(export) != files
    assert load(export).readout == choice  # the folder still reads, every file against model.json's sha256
    assert choose_readout.main(["--run", str(tmp_path / "absent"), "--root", str(root)]) == 2
    assert "choose_readout: error:" in capsys.readouterr().err


def _synthetic_run(out: Path) -> Path:
    """A tiny 16-joint cascade trained for 2 steps on random images (no model files: a run written as before)."""
    from convcorr_jax.pose.training.loop import train

    js = joints.joint_set("synthetic", 16)
    cfg = TrainConfig(name="pose", out=str(out), data="synthetic", model=dataclasses.replace(TINY, num_joints=16),
                      augment=dataclasses.replace(AugmentConfig(), flip_perm=js.flip), batch_size=4, steps=(1, 1, 0),
                      checkpoint_every=1, eval_limit=0, n_samples=8)
    rng = np.random.default_rng(0)
    arrays = PoseArrays(rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8),
                        rng.uniform(4, 28, (8, 16, 2)).astype(np.float32), np.ones((8, 16), bool),
                        np.full(8, 10.0, np.float32))
    train(cfg, (arrays, arrays), progress=False)
    return out / "pose"


@pytest.mark.slow
def test_eval_mpii_scores_a_run_and_its_export_alike(tmp_path, capsys):
    from convcorr_jax.data.synthetic.datasets import write_dataset
    from convcorr_jax.pose.export import model_folder

    people = tmp_path / "people"
    write_dataset("people", people, n=16, seed=0, image_size=64)
    run = _synthetic_run(tmp_path / "train")
    readout.save_readout(run, readout.Readout("coarse_refined", False), {"rule": "given"})  # a stored choice
    export = tmp_path / "model"
    model_folder.export(run, export)
    files = {m: _bytes(m) for m in (run, export)}
    tables = {}
    for m in (run, export):
        js = tmp_path / f"{m.name}.json"
        assert main(["eval", "mpii", "--model", str(m), "--annot", str(people / "annot" / "valid.h5"), "--images",
                     str(people / "images"), "--json", str(js), "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
        assert "coarse_refined" in capsys.readouterr().out  # the stored read-out
        tables[m] = _json(js)
    assert _without(tables[run], *RUN) == _without(tables[export], *RUN)
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    assert len(folders) == 2 and all(n.startswith("tompson2015.mpii_") for n in folders)
    assert {m: _bytes(m) for m in (run, export)} == files


@pytest.mark.slow
def test_the_shipped_flic_scores_on_the_validation_movies_and_is_left_as_it_was(flic_root, tmp_path, capsys):
    """`convcorr eval flic --model flic --split val` on real FLIC (597 people): the refined coarse read-out and the
    model's validated read-out (the cascade) as bench/RESULTS_pose.md, Head / Shoulder / Elbow / Wrist PCK@0.05."""
    folder = shipped.MODELS / "flic"
    files = _bytes(folder)
    t0 = time.perf_counter()
    assert main(["eval", "flic", "--model", "flic", "--root", str(flic_root), "--split", "val", "--out",
                 str(tmp_path / "runs"), "--no-progress"]) == 0
    seconds = time.perf_counter() - t0
    printed = capsys.readouterr().out
    line = next(t for t in printed.splitlines() if t.startswith("FLIC val PCK@0.05 (torso): "))
    with capsys.disabled():
        print(f"\n{line}\n{seconds:.0f} s")
    assert "validated (cascade) Head 89.9 Shoulder 72.4 Elbow 49.9 Wrist 46.0" in line, line
    assert "| coarse Head 72.5 Shoulder 66.4 Elbow 44.9 Wrist 38.9" in line, line
    assert "| cascade Head 89.9 Shoulder 72.4 Elbow 49.9 Wrist 46.0" in line, line
    assert "ours validated: cascade 8x (real flic, val split, 597 people)" in printed
    assert _bytes(folder) == files


def test_a_readout_chosen_on_the_scored_split_says_its_scores_are_optimistic(write_pose_run, tmp_path):
    """Synthetic people's held-out split is "test": training records it in readout.json ("split_name"), and `eval
    pose --split test` says under its table and in its JSON that the read-out was chosen on the people it scores;
    on another split it says nothing and records false; a record that predates "split_name" is "unknown"."""
    from convcorr_eval.tompson2015 import pose_scores
    from convcorr_jax.data.skeletons import MPII
    from convcorr_jax.pose.export import model_folder

    js = joints.joint_set("synthetic", 16)
    cfg = TrainConfig(name="pose", out=str(tmp_path), data="synthetic", model=dataclasses.replace(TINY, num_joints=16),
                      augment=dataclasses.replace(AugmentConfig(), flip_perm=js.flip), steps=(1, 1, 0), n_samples=4)
    n = 4
    held = PoseArrays(np.zeros((n, 8, 8, 3), np.uint8), np.full((n, 16, 2), 4.0), np.ones((n, 16), bool),
                      np.full(n, 10.0))
    preds = {**{name: held.points for name in readout.NAMES}, "peak": np.full((n, 16), 0.5)}
    choice, record = model_folder.choose_readout(cfg, None, held, MPII, preds=preds)
    assert record["split_name"] == "test"  # the split it was chosen on, as a scorer names it
    run = write_pose_run(cfg)
    readout.save_readout(run, choice, record)
    res = pose_scores.score_run(run, "", "test")
    assert res["readout_chosen_on"] == "test" and res["readout_chosen_on_scored_split"] is True
    assert readout.SAME_SPLIT_NOTE.format(split="test") in pose_scores.markdown(res)
    res = pose_scores.score_run(run, "", "train")
    assert res["readout_chosen_on_scored_split"] is False and "optimistic" not in pose_scores.markdown(res)
    readout.save_readout(run, choice, {k: v for k, v in record.items() if k != "split_name"})  # an older record
    res = pose_scores.score_run(run, "", "test")
    assert res["readout_chosen_on"] == res["readout_chosen_on_scored_split"] == "unknown"
    assert "optimistic" not in pose_scores.markdown(res)
    # FLIC: chosen on the validation movies (the shipped models' older words too), scored on test: nothing to say
    for old in ({"split": "FLIC validation movies"}, {"split_name": "val"}):
        assert readout.chosen_on_scored_split(old, "test") == {"readout_chosen_on": "val",
                                                               "readout_chosen_on_scored_split": False}
        assert readout.chosen_on_scored_split(old, "val")["readout_chosen_on_scored_split"] is True
    assert readout.chosen_on_scored_split({"split_name": "val"}, "val", same_data=False)[
        "readout_chosen_on_scored_split"] is False  # another dataset's val split
