"""`convcorr eval flic|mpii|pf-willow` are the runner's experiments `tompson2015.flic`, `tompson2015.mpii` and
`long2014.pf_willow`: each writes a run folder (config.json + metrics.json + report), keeps an identical finished
run, gives another model (a run trained again) its own folder, copies its outputs where asked; the PF-WILLOW subset
options pick the right pairs; bad input and out-of-range settings are one error line and exit code 2. Data:
synthetic people written in the FLIC and MPII formats, a PF-WILLOW fixture folder, and (where present) the real
PF-WILLOW folder."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_cli.main import main
from convcorr_jax.correspondence import PointTransferConfig
from convcorr_jax.data import mpii_eval_files
from convcorr_jax.data.synthetic.datasets import write_dataset
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import joints
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.augment import AugmentConfig
from convcorr_jax.pose.data import PoseArrays
from convcorr_jax.pose.training.loop import train
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_eval.long2014 import pf_willow as pf_willow_eval
from convcorr_eval.long2014 import pf_willow_protocol
from convcorr_eval.tompson2015 import flic_scores, pckh, trained
from report_consistency import check_run_folder

TINY = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)
RUN_FILES = ("config.json", "metrics.json", "report.md", "report.html")


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    """16 synthetic people in the real formats: FLIC's examples.mat + images/, MPII's annot/{train,valid}.h5."""
    root = tmp_path_factory.mktemp("people")
    write_dataset("people", root, n=16, seed=0, image_size=64)
    return root


def _trained(out: Path, data: str, num_joints: int, seed: int = 0) -> Path:
    """A tiny cascade trained for 2 steps on random images (`data` decides only the joint set and the scores)."""
    js = joints.joint_set(data, num_joints)
    cfg = TrainConfig(name="pose", out=str(out), data=data, model=dataclasses.replace(TINY, num_joints=num_joints),
                        augment=dataclasses.replace(AugmentConfig(), flip_perm=js.flip), batch_size=4,
                        steps=(1, 1, 0), checkpoint_every=1, eval_limit=0, seed=seed)
    rng = np.random.default_rng(0)
    arrays = PoseArrays(rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8),
                        rng.uniform(4, 28, (8, num_joints, 2)).astype(np.float32), np.ones((8, num_joints), bool),
                        np.full(8, 10.0, np.float32))
    train(cfg, (arrays, arrays), progress=False)
    return out / "pose"


def _folder(out: Path, readable: str) -> Path:
    """The one run folder under `out` named `readable` + "_" + a 6-hex digest of the settings (`eval.run_name`)."""
    found = [p for p in out.iterdir() if re.fullmatch(re.escape(readable) + r"_[0-9a-f]{6}", p.name)]
    assert len(found) == 1, sorted(p.name for p in out.iterdir())
    return found[0]


def _saved(run_dir: Path, exp_id: str) -> dict:
    for f in RUN_FILES:
        assert (run_dir / f).is_file(), f
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert metrics["status"] == "ok" and metrics["key"]["kind"] == exp_id == config["experiment"]
    return metrics


def _ran(res: dict, saved: dict) -> dict:
    """An alias's JSON less what it says of its run (checked against the run folder's metrics.json `saved`):
    the config (every setting, the seed among them), the versions and, where the scores hold none, the wall time."""
    assert res["config"] == saved["key"]["settings"] and "seed" in res["config"]
    assert res["versions"] == saved["versions"] and res["devices"] == saved["devices"] and res["seconds"] >= 0
    own = "seconds" in saved["metrics"]
    return {k: v for k, v in res.items() if k not in ("config", "versions", "devices") and (own or k != "seconds")}


@pytest.mark.slow
def test_eval_flic_is_a_run_of_the_experiment(people, tmp_path, capsys, monkeypatch):
    run = _trained(tmp_path / "train", "flic", 11)
    out, js, fig = tmp_path / "runs", tmp_path / "flic.json", tmp_path / "fig15.png"
    args = ["eval", "flic", "--run", str(run), "--root", str(people), "--out-dir", str(out), "--no-progress"]
    assert main([*args, "--json", str(js), "--figure", str(fig)]) == 0
    printed = capsys.readouterr().out
    assert "**Table 3: FLIC test PCK@0.05 (torso, %), 4 people" in printed
    assert "FLIC test PCK@0.05 (torso): coarse" in printed
    run_dir = _folder(out, "tompson2015.flic_pose")
    saved = _saved(run_dir, "tompson2015.flic")
    check_run_folder(run_dir)  # report.md, report.html, config.json and metrics.json agree (tables in percent)
    assert saved["key"]["settings"]["model"] == str(run) and saved["key"]["settings"]["run_dir"] is None  # --run
    assert saved["key"]["settings"]["trained"] == run_folder.run_state(run)  # a run without model files: its state
    res = json.loads(js.read_text())
    assert _ran(res, saved) == saved["metrics"] and res["n"] == 4 and res["split"] == "test"
    assert fig.read_bytes() == (run_dir / "figures" / "flic_fig15.png").read_bytes()
    assert main(args) == 0  # identical: kept
    assert "kept from an identical earlier run" in capsys.readouterr().out
    assert set(res["pck"]["0.05"]) == {"coarse", "coarse+spatial", "cascade", "cascade+spatial", "product",
                                       "product+spatial"}  # spatial on
    assert res["pck"]["0.05"]["cascade+spatial"] == res["ablation"]["spatial_cascade"]["0.05"]
    assert "| ours cascade+spatial 4x (real flic, test split, 4 people) |" in printed and res["spatial"]["label"]
    assert res["pck_about"] == {"unit": "fraction in [0, 1]", "normaliser": "torso", "alphas": [0.05, 0.1, 0.2]}
    assert main([*args, "--refine", "off"]) == 0  # another read-out: its own folder
    assert (_folder(out, "tompson2015.flic_pose_raw") / "metrics.json").is_file()
    assert main([*args, "--spatial", "off"]) == 0  # without the spatial model: its own folder, without its rows
    off = _saved(_folder(out, "tompson2015.flic_pose_nospatial"), "tompson2015.flic")["metrics"]
    assert set(off["pck"]["0.05"]) == {"coarse", "cascade", "product"} and off["spatial"] is None
    assert off["pck"]["0.05"]["cascade"] == pytest.approx(res["pck"]["0.05"]["cascade"])
    assert main([*args, "--set", "test_flip=true", "--spatial", "off"]) == 0  # any other field: its own folder
    flip = _saved(_folder(out, "tompson2015.flic_pose_nospatial_flip"), "tompson2015.flic")
    assert flip["key"]["settings"]["test_flip"] is True and flip["metrics"]["n"] == 4
    assert main([*args, "--set", "test_scales=0.9,1.1", "--spatial", "off"]) == 0  # test-time crop scales
    scaled = _saved(_folder(out, "tompson2015.flic_pose_nospatial_scales0.9-1.1"), "tompson2015.flic")["metrics"]
    assert scaled["test_scales"] == [0.9, 1.1] and scaled["n"] == 4
    assert scaled["pck"]["0.2"]["cascade"] != off["pck"]["0.2"]["cascade"] or scaled["curve"] != off["curve"]
    assert main([*args, "--set", "test_scales=0,1"]) == 2 and "test_scales" in capsys.readouterr().err
    assert main([*args, "--set", "test_scales=0.9,1,1.1", "--set", "test_merge=median", "--spatial", "off"]) == 0
    med = _saved(_folder(out, "tompson2015.flic_pose_nospatial_scales0.9-1-1.1_median"), "tompson2015.flic")["metrics"]
    assert med["test_merge"] == "median" and "(their median)" in capsys.readouterr().out
    assert main([*args, "--set", "test_merge=max"]) == 2 and "test_merge" in capsys.readouterr().err
    framed_args = [*args, "--set", "protocol=frame", "--set", "image_size=64", "--spatial", "off"]
    assert main(framed_args) == 0  # the crop-trained run on whole frames: its own folder
    framed = _saved(_folder(out, "tompson2015.flic_pose_nospatial_frame_64px"), "tompson2015.flic")["metrics"]
    assert (framed["protocol"], framed["trained_protocol"], framed["image_size"]) == ("frame", "person", 64)
    assert framed["n"] == 4 and framed["curve"] != off["curve"]
    assert "whole frames (64 px; the run trained on person inputs)" in capsys.readouterr().out
    assert main([*args, "--set", "image_size=62"]) == 2 and "multiple of the model's pool" in capsys.readouterr().err
    # the two-pass rows are the second pass's own predictions, not the first pass's copied: their arm curves differ.
    # The tiny model may miss every joint at Figure 15's distances (0..0.2), so this run's curve spans 0..10 torsos
    wide = np.round(np.linspace(0.0, 10.0, 201), 3)
    with monkeypatch.context() as m:
        m.setattr(flic_scores, "CURVE_ALPHAS", wide)
        m.setattr(flic_scores, "arm_curve", lambda p, d, arm=flic_scores.arm_curve: arm(p, d, wide))
        assert main([*args, "--set", "protocol=frame", "--set", "image_size=64", "--set", "second_pass=1.2"]) == 0
    two = _saved(_folder(out, "tompson2015.flic_pose_frame_64px_pass2x1.2"), "tompson2015.flic")["metrics"]
    assert two["second_pass"] == {"crop_scale": pytest.approx(1.2 * 2.5), "image_size": 32}
    assert set(two["pck"]["0.05"]) == {"coarse", "coarse+spatial", "cascade", "cascade+spatial", "product",
                                       "product+spatial", "two-pass"}
    assert two["curve"]["alphas"] == wide.tolist()
    assert two["curve"]["second_cascade"] != two["curve"]["spatial_cascade"]
    assert "two-pass: each person cropped again around the predicted torso" in capsys.readouterr().out
    assert main([*args, "--set", "second_pass=1"]) == 2  # person crops: nothing to crop again
    assert "second_pass" in capsys.readouterr().err
    assert main([*args, "--set", "protocol=frames"]) == 2 and "protocol" in capsys.readouterr().err
    assert main([*args, "--timing", "--name", run_dir.name]) == 2  # other settings in a named folder: refused ...
    assert "--force" in capsys.readouterr().err
    shutil.rmtree(run)
    _trained(tmp_path / "train", "flic", 11, seed=1)  # trained again in the same folder: another model, whose
    assert main(args) == 0  # identity is part of the folder name's digest: scored into its own folder ...
    assert "ok in" in capsys.readouterr().out
    assert len([p for p in out.iterdir() if re.fullmatch(r"tompson2015\.flic_pose_[0-9a-f]{6}", p.name)]) == 2
    assert main([*args, "--name", run_dir.name]) == 2  # ... and in the first model's folder refused as any change
    assert "holds a finished run with other settings (trained: " in capsys.readouterr().err
    assert main([*args, "--name", run_dir.name, "--force"]) == 0  # ... unless asked
    assert "ok in" in capsys.readouterr().out


def test_eval_mpii_is_a_run_of_the_experiment(people, tmp_path, capsys):
    run = _trained(tmp_path / "train", "synthetic", 16)
    preds, js, out = tmp_path / "preds.h5", tmp_path / "pckh.json", tmp_path / "runs"
    assert main(["eval", "mpii", "--run", str(run), "--annot", str(people / "annot" / "valid.h5"), "--images",
                 str(people / "images"), "--h5", str(preds), "--json", str(js), "--out-dir", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {preds}" in printed and "PCKh@0.5" in printed and "PCKh@0.1" in printed
    run_dir = _folder(out, "tompson2015.mpii_pose")
    saved = _saved(run_dir, "tompson2015.mpii")
    check_run_folder(run_dir)  # ... and metrics.json names the percent its tables print
    assert (run_dir / "preds.h5").read_bytes() == preds.read_bytes()
    n = json.loads((people / "synthetic.json").read_text())["test"]  # the people of valid.h5
    assert mpii_eval_files.read_preds(preds).shape == (n, 16, 2) and saved["metrics"]["people"] == n
    tables = json.loads(js.read_text())
    assert set(_ran(tables, saved)) == {"0.5", "0.1", "auc", "about", "people", "joints", "nonfinite"}
    assert tables["people"] == n
    for t in ("0.5", "0.1"):  # every column of the printed tables, UBody among them, and the summary's AUC
        assert set(tables[t]) == set(pckh.COLUMNS)
        assert tables[t] == pytest.approx({c: saved["metrics"][t][c] for c in pckh.COLUMNS}, abs=1e-4)
    assert tables["auc"] == pytest.approx(saved["metrics"]["auc"], abs=1e-4)
    assert f"AUC(0..0.5) {saved['metrics']['auc']:.1f}" in saved["summary"]


@pytest.mark.parametrize("flag", ["--h5", "--json"])
def test_eval_mpii_refuses_to_write_over_its_annotation_file(flag, people, tmp_path, capsys):
    """--h5 or --json naming the --annot file: one line before any work, the annotation file left as it was (it was
    replaced by the predictions, or a half-read JSON, after the run)."""
    annot = tmp_path / "valid.h5"
    annot.write_bytes((people / "annot" / "valid.h5").read_bytes())
    before = annot.read_bytes()
    rc = main(["eval", "mpii", "--model", str(tmp_path / "no_model"), "--annot", str(annot), flag, str(annot),
               "--out-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"field '{flag}'" in err[0] and "--annot" in err[0], err
    assert annot.read_bytes() == before and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["flic", "mpii", "pose"])
def test_eval_of_a_folder_without_a_model_is_one_line(command, people, tmp_path, capsys):
    extra = {"flic": ["--root", str(people)], "pose": ["--root", str(people)],
             "mpii": ["--annot", str(people / "annot" / "valid.h5"), "--h5", str(tmp_path / "p.h5")]}[command]
    other = tmp_path / "experiment_run"  # a `convcorr run` folder: config.json of another kind, no checkpoints
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"experiment": "long2014.table1", "config": {}, "code": "x"}))
    (other / "checkpoints").mkdir()
    out = [] if command == "pose" else ["--out-dir", str(tmp_path / "runs")]
    for folder in (tmp_path / "missing", other):
        for flag in ("--model", "--run"):
            rc = main(["eval", command, flag, str(folder), *extra, *out])
            err = capsys.readouterr().err.strip()
            assert rc == 2 and err == f"convcorr eval {command}: error: model {folder}: expected {trained.model_help()}"
            assert "model folder (model.json" in err and "flic" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "p.h5").exists()


def test_eval_flic_with_a_file_as_root_names_that_file(tmp_path, capsys):
    """--root given a file other than examples.mat: one line naming that file, not an examples.mat beside it."""
    afile = tmp_path / "notes.txt"
    afile.write_text("not FLIC")
    rc = main(["eval", "flic", "--model", "flic", "--root", str(afile), "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{afile}: field 'root'" in err[0] and "examples.mat" in err[0], err
    assert not (tmp_path / "runs").exists()


def test_eval_outputs_never_over_inputs_data_or_folders(tmp_path, capsys):
    """eval pck / pckh / pf-willow: --json naming an input or a folder, a file inside --root or inside the run
    folder the command writes, --out naming a file, two prediction files of one name (one table row would hide the
    other): exit 2 in one line, before any work, every file as it was."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "preds.npz", preds=rng.uniform(0, 50, (4, 3, 2)))
    np.savez(tmp_path / "gt.npz", points=rng.uniform(0, 50, (4, 3, 2)), visible=np.ones((4, 3), bool),
             norm=np.full(4, 30.0))
    (tmp_path / "folder").mkdir()
    root = _pf_fixture(tmp_path / "pf")
    mat = root / "a(S)" / "im0.mat"
    before = {p: p.read_bytes() for p in (tmp_path / "preds.npz", tmp_path / "gt.npz", mat)}
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    pck = ["eval", "pck", "--preds", str(tmp_path / "preds.npz"), "--gt", str(tmp_path / "gt.npz")]
    quick = ["eval", "pf-willow", "--root", str(root), "--size", "tiny", "--features", "none", "--backbone",
             "caffenet", "--weights", "random", "--no-progress", "--out", str(tmp_path / "runs")]
    for argv, field, said in (
            ([*pck, "--json", str(tmp_path / "preds.npz")], "--json", "an input"),
            ([*pck, "--json", str(tmp_path / "folder")], "--json", "an existing folder"),
            (["eval", "pckh", "--preds", str(tmp_path / "a" / "p.h5"), str(tmp_path / "b" / "p.h5"), "--annot",
              str(tmp_path / "valid.h5")], "--preds", "different names"),
            (["eval", "pf-willow", "--root", str(root), "--size", "tiny", "--out", str(tmp_path / "runs"),
              "--json", str(mat)], "--json", "outside the dataset folder"),
            (["eval", "pf-willow", "--root", str(root), "--size", "tiny", "--out", str(afile)], "--out",
             "a folder path"),
            ([*quick, "--name", "r", "--json", str(tmp_path / "runs" / "r" / "metrics.json")], "--json",
             "outside the run folder"),  # was written over the run's own metrics.json: the run was never kept
            ([*quick, "--set", "name=r", "--json", str(tmp_path / "runs" / "r" / "figures" / "f.json")], "--json",
             "outside the run folder")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"field '{field}'" in err[0] and said in err[0], (argv, err)
    assert all(p.read_bytes() == b for p, b in before.items()) and afile.read_text() == "mine"
    assert not (tmp_path / "runs").exists()

    with pytest.raises(InputError, match=r"field 'classes': expected each sub-class once, got a\(S\)"):
        pf_willow_protocol.select_classes(root, ["a(S)", "b(S)", "a(S)"])  # its pairs were scored twice
    from convcorr_eval.runner import make_config

    same = [make_config("long2014.pf_willow", "tiny", data_root=r).data_root for r in (str(root), f"{root}/")]
    assert same[0] == same[1] == str(root)  # DIR/ and DIR: one run folder, one key
    by_set = make_config("long2014.pf_willow", "tiny", sets=[f"data_root={root}/"]).data_root
    assert by_set == str(root)  # the same by --set data_root=DIR/


# ------------------------------------------------------------------------------------------------ PF-WILLOW
def _pf_fixture(root: Path, classes=("a(S)", "b(S)", "c(S)"), n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            coords = np.stack([rng.uniform(1, 40, 10), rng.uniform(1, 30, 10)])  # 1-based x, y rows
            sio.savemat(root / c / f"im{i}.mat", {"pts_coord": coords})
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(root / c / f"im{i}.png")
    return root


def test_pf_willow_subset_selects_the_pairs(tmp_path):
    root = _pf_fixture(tmp_path / "pf")
    samples, pairs, groups = pf_willow_protocol.pf_willow_set(root, 2, ("c(S)", "a(S)"))
    assert [s.id for s in samples] == [f"{c}/im{i}" for c in ("c(S)", "a(S)") for i in range(4)]
    assert pairs.tolist() == [[0, 1], [0, 2], [4, 5], [4, 6]] and groups.tolist() == ["c(S)"] * 2 + ["a(S)"] * 2
    _, pairs, groups = pf_willow_protocol.pf_willow_set(root)
    assert len(pairs) == 3 * 12 and sorted(set(groups)) == ["a(S)", "b(S)", "c(S)"]
    with pytest.raises(InputError, match=r"a\(S\), b\(S\), c\(S\).*got d\(S\)"):
        pf_willow_protocol.pf_willow_set(root, None, ("a(S)", "d(S)"))
    cfg = pf_willow_eval.Config(classes=("a(S)",), pairs_per_class=3, transfer=PointTransferConfig(features="none"),
                                backbone="caffenet", weights="random")
    assert pf_willow_eval.run_name(cfg) == "long2014.pf_willow_none_caffenet_random_aS_3pairs"


def test_eval_pf_willow_subset_writes_a_run(tmp_path, capsys):
    root = _pf_fixture(tmp_path / "pf")
    out, js = tmp_path / "runs", tmp_path / "pck.json"
    assert main(["eval", "pf-willow", "--root", str(root), "--features", "none", "--backbone", "caffenet",
                 "--weights", "random", "--classes", "a(S),c(S)", "--pairs", "3", "--out-dir", str(out),
                 "--json", str(js), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert ("PF-WILLOW keypoint transfer (no features, zero flow (whole-image scaling), frame 224 px), PCK (%) at "
            "alpha x the target keypoint box, 6 pairs") in printed
    assert "| alpha | a(S) | c(S) | mean of 2 |" in printed
    saved = _saved(_folder(out, "long2014.pf_willow_none_caffenet_random_aS+cS_3pairs"), "long2014.pf_willow")
    assert saved["key"]["settings"]["classes"] == ["a(S)", "c(S)"] and saved["key"]["settings"]["pairs_per_class"] == 3
    res = json.loads(js.read_text())
    assert _ran(res, saved) == saved["metrics"] and res["pairs"] == 6
    assert set(res["pck"]["0.1"]) == {"a(S)", "c(S)", "mean"}
    assert main(["eval", "pf-willow", "--root", str(root), "--features", "none", "--backbone", "caffenet",
                 "--weights", "random", "--classes", "a(S),c(S)", "--pairs", "3", "--out-dir", str(out),
                 "--json", str(js), "--no-progress"]) == 0  # kept: the JSON of the run that made the numbers
    assert "kept from an identical earlier run" in capsys.readouterr().out and json.loads(js.read_text()) == res
    rc = main(["eval", "pf-willow", "--root", str(root), "--classes", "a(S),zebra(S)", "--out-dir", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "zebra(S)" in err and "a(S), b(S), c(S)" in err


def test_eval_pf_willow_default_names_differ_by_settings(tmp_path, capsys):
    """Default run names hold a digest of the settings: `--method rhm` after `--features none` is another run (the
    readable names are equal, since no flow has no method), the same options find their finished run, `--size` is
    the experiment's size and `--image-size` the frame side."""
    root = _pf_fixture(tmp_path / "pf", classes=("a(S)",), n=3)
    out = tmp_path / "runs"
    base = ["eval", "pf-willow", "--root", str(root), "--features", "none", "--backbone", "caffenet", "--weights",
            "random", "--out-dir", str(out), "--no-progress"]
    for extra, state in (([], "ok in"), (["--method", "rhm"], "ok in"), (["--method", "rhm"], "kept from"),
                         (["--size", "tiny"], "ok in")):
        assert main([*base, *extra]) == 0, capsys.readouterr().err
        assert state in capsys.readouterr().out, extra
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and "160px" not in p.name)
    assert len(names) == 2 and all(re.fullmatch(r"long2014\.pf_willow_none_caffenet_random_[0-9a-f]{6}", n)
                                   for n in names), names
    assert _folder(out, "long2014.pf_willow_none_caffenet_160px_random_2pairs").is_dir()  # tiny's frame and pairs
    methods = {json.loads((out / n / "config.json").read_text())["config"]["transfer"]["method"] for n in names}
    assert methods == {None, "rhm"}  # features none: the validated method (BP flow) unless --method names one
    assert main([*base, "--size", "tiny", "--image-size", "192"]) == 0
    printed = capsys.readouterr().out
    # tiny: 2 pairs per sub-class; the frame side as given
    assert "frame 192 px), PCK (%) at alpha x the target keypoint box, 2 pairs" in printed
    assert main([*base, "--size", "tiny"]) == 0 and "frame 160 px), PCK (%) at alpha x" in capsys.readouterr().out


def test_eval_pf_willow_subset_on_the_real_folder(real_data, tmp_path, capsys):
    root = real_data / "pf_willow" / "PF-dataset-WILLOW"
    if not (root / "duck(S)").is_dir():
        pytest.skip("pf_willow/PF-dataset-WILLOW/duck(S) not present in the real-data folder")
    js = tmp_path / "pck.json"
    assert main(["eval", "pf-willow", "--root", str(root), "--features", "none", "--backbone", "caffenet",
                 "--weights", "random", "--classes", "duck(S)", "--pairs", "2", "--out-dir", str(tmp_path / "runs"),
                 "--json", str(js), "--no-progress"]) == 0
    res = json.loads(js.read_text())
    assert res["pairs"] == 2 and set(res["pck"]["0.1"]) == {"duck(S)", "mean"}


# ------------------------------------------------------------------------------------------------ ranges
@pytest.mark.parametrize("argv,field", [
    (["train", "pose", "--config", "tiny", "--set", "batch_size=0"], "batch_size"),
    (["train", "pose", "--config", "tiny", "--set", "lr=0,1e-3,1e-3"], "lr"),
    (["train", "pose", "--config", "tiny", "--set", "steps=-1,4,4"], "steps"),
    (["train", "pose", "--config", "tiny", "--set", "model.image_size=4"], "model.image_size"),
    (["run", "long2014.pf_willow", "--set", "transfer.beta=0"], "transfer.beta"),
    (["run", "long2014.pf_willow", "--set", "transfer.iters=0"], "transfer.iters"),
    (["run", "long2014.pf_willow", "--set", "transfer.levels=0"], "transfer.levels"),
    (["run", "long2014.pf_willow", "--set", "transfer.image_size=32"], "transfer.image_size"),
    (["run", "long2014.pf_willow", "--set", "transfer.batch=0"], "transfer.batch"),
    (["run", "long2014.pf_willow", "--set", "pairs_per_class=0"], "pairs_per_class"),
    (["eval", "pf-willow", "--root", "PF", "--pairs", "0"], "pairs_per_class"),
    (["eval", "pf-willow", "--root", "PF", "--image-size", "32"], "transfer.image_size"),
    (["eval", "pf-willow", "--root", "PF", "--backbone", "vgg16", "--taps", "conv9"], "taps"),
    (["run", "long2014.pf_willow", "--set", "transfer.radius=0"], "transfer.radius"),
    (["run", "long2014.pf_willow", "--set", "transfer.method=sgd"], "transfer.method"),
    (["run", "tompson2015.flic", "--set", "split=train"], "split"),
    (["run", "tompson2015.flic", "--set", "spatial_mode=avg"], "spatial_mode"),
    (["run", "tompson2015.flic", "--set", "spatial_kernel=4"], "spatial_kernel"),
    (["run", "tompson2015.flic", "--set", "second_pass=inf"], "second_pass"),  # was accepted: NaN crops
    (["run", "tompson2015.flic", "--set", "test_scales=1,inf"], "test_scales"),
    (["run", "tompson2015.mpii", "--set", "readout=best"], "readout"),
])
def test_out_of_range_settings_exit_2_with_one_line(argv, field, tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    assert main([*argv, *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"field '{field}'" in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir())
