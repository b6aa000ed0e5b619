"""Training: resume after kill -9 gives the uninterrupted result; NaN stops cleanly; wrong checkpoints and bad
data are refused with clear errors. Runs use a tiny model on stick-figure images; subprocesses share a
persistent compilation cache so only the first one compiles."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import overlap_in_turn, xla_flags
from convcorr_eval import runner

from convcorr_jax.core import cache
from convcorr_jax.core.config import override
from convcorr_jax.data import skeletons
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose.training import checkpoints, config, run_folder, stages
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.training.loop import TrainingDiverged, load_data, train
from convcorr_jax.pose.training.config import TrainConfig

TESTS = Path(__file__).resolve().parent
TINY = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)

SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import numpy as np, jax
    from test_pose_helpers import stick_people
    from convcorr_jax.pose import model as pose_model
    from convcorr_jax.pose.training import checkpoints, config, run_folder, stages
    from convcorr_jax.pose.training.loop import TrainingDiverged, load_data, train
    from convcorr_cli.main import setup_logging
    setup_logging()  # the training messages on stderr, as the command shows them
    from convcorr_jax.pose.training.config import TrainConfig
    out, delay = sys.argv[1], float(sys.argv[2])
    tiny = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), \
context=16)
    cfg = TrainConfig(name="r", out=out, model=tiny, batch_size=4, steps=(3, 3, 2), checkpoint_every=2,
                        eval_limit=0)
    r = train(cfg, (stick_people(12, 32, 0), stick_people(4, 32, 1)), progress=False,
                on_step=lambda n: time.sleep(delay))
    leaves = jax.tree_util.tree_leaves_with_path(r.params)
    np.savez(out + "/final.npz", **{{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}})
""")


def python_path(first: Path) -> str:
    """`first`, then the PYTHONPATH of this process (a checkout used from PYTHONPATH, not installed, stays
    importable in the subprocess)."""
    return os.pathsep.join([str(first)] + [p for p in [os.environ.get("PYTHONPATH")] if p])


def _env(extra=None):
    env = dict(os.environ)
    cache = Path(env.get("CONVCORR_CACHE", TESTS.parent / ".cache" / "tests")) / "jax_pose_compile"
    env.update(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
               PYTHONPATH=python_path(TESTS.parent))
    env["XLA_FLAGS"] = xla_flags()  # the suite's settings, without forced devices a caller's shell may have
    env.update(extra or {})
    return env


def _final(d: Path) -> dict:
    with np.load(d / "final.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.mark.slow  # three training subprocesses; tests/test_pose_stop_resume.py resumes in process to the same end
def test_resume_after_kill9_matches_uninterrupted(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    r = subprocess.run([sys.executable, str(script), str(a), "0"], env=_env(), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "8 steps in" in r.stderr
    p = subprocess.Popen([sys.executable, str(script), str(b), "0.75"], env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    ckpt = b / "r" / "checkpoints"
    t0 = time.time()
    while time.time() - t0 < 300:
        steps = [int(x.name) for x in ckpt.iterdir() if x.name.isdigit()] if ckpt.is_dir() else []
        if steps and max(steps) >= 4 or p.poll() is not None:
            break
        time.sleep(0.1)
    assert p.poll() is None, "run ended before it could be killed"
    os.kill(p.pid, signal.SIGKILL)  # mid stage 2, between checkpoints 4 and 6
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert not (b / "final.npz").exists()
    r2 = subprocess.run([sys.executable, str(script), str(b), "0"], env=_env(), capture_output=True, text=True,
                        timeout=600)
    assert r2.returncode == 0, r2.stderr[-3000:]
    done = int(r2.stderr.split(" steps in")[0].split()[-1])
    assert 1 <= done <= 4  # resumed from step >= 4, not from scratch
    fa, fb = _final(a), _final(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


def test_nan_stops_and_keeps_last_good_checkpoint_then_foreign_config_refused(tmp_path, nan_loss_at):
    from test_pose_helpers import stick_people

    cfg = TrainConfig(name="n", out=str(tmp_path), model=TINY, batch_size=4, steps=(4, 0, 0), checkpoint_every=1,
                        eval_limit=0)
    data = (stick_people(8, 32, 0), stick_people(2, 32, 1))
    nan_loss_at(2)
    with pytest.raises(TrainingDiverged, match=r"at step 2 .*Last good checkpoint: step 2"):
        train(cfg, data, progress=False)
    steps = sorted(int(x.name) for x in (tmp_path / "n" / "checkpoints").iterdir() if x.name.isdigit())
    assert steps[-1] == 2  # the poisoned step 3 was never saved
    mgr = checkpoints.manager(tmp_path / "n" / "checkpoints")
    step, _, data_state = checkpoints.restore_checkpoint(mgr, cfg, tmp_path / "n" / "checkpoints")
    mgr.close()
    assert step == 2 and data_state == {"next_index": 2}  # the input iterator's state is saved with the step
    params = checkpoints.checkpoint_params(tmp_path / "n", cfg)
    assert np.all(np.isfinite(np.asarray(params["coarse"]["fc2"]["kernel"])))
    other = TrainConfig(name="n", out=str(tmp_path), model=pose_model.ModelConfig(**{**TINY.__dict__, "head": 12}),
                          batch_size=4, steps=(4, 0, 0))
    with pytest.raises(InputError, match=r"checkpoint written by this config.*: other settings \(model\)$"):
        train(other, data, progress=False)


def test_bad_training_input(tmp_path):
    from test_pose_helpers import stick_people

    data = stick_people(4, 32, 0)
    empty = data.take(np.arange(0))
    cfg = TrainConfig(name="e", out=str(tmp_path), model=TINY, batch_size=4, steps=(1, 0, 0))
    with pytest.raises(InputError, match="samples"):
        train(cfg, (empty, empty), progress=False)
    with pytest.raises(InputError, match="samples"):
        pose_data._arrays_from_samples([], 32, skeletons.MPII)
    with pytest.raises(InputError, match="data"):
        load_data(TrainConfig(data="coco"))
    with pytest.raises(InputError, match="data_root"):
        load_data(TrainConfig(data="mpii"))


def test_config_override_and_fingerprint():
    from convcorr_train import pose_configs

    c = override(pose_configs.get_config("default"), ["steps=10,5,5", "model.pool=4", "lr=0.1,0.1,0.1"])
    assert c.steps == (10, 5, 5) and c.model.pool == 4 and c.lr == (0.1, 0.1, 0.1)
    assert c.fingerprint() != pose_configs.get_config("default").fingerprint()
    # name/out/checkpointing do not change the fingerprint (a renamed run may resume)
    assert override(c, ["name=x", "checkpoint_every=7"]).fingerprint() == c.fingerprint()
    with pytest.raises(InputError, match="model.nope"):
        override(c, ["model.nope=1"])
    with pytest.raises(InputError):
        pose_configs.get_config("nope")
    assert c.stage_of(9) == 1 and c.stage_of(10) == 2 and c.stage_of(15) == 3
    f = pose_configs.get_config("flic")
    assert f.data == "flic" and f.model.num_joints == 11 and len(f.augment.flip_perm) == 11


def test_warmup_schedule_and_flic_data_mismatch(tmp_path):
    from test_pose_helpers import stick_people

    cfg = TrainConfig(steps=(200, 4, 0), lr=(1e-2, 1e-2, 1e-2), warmup=50)
    # linear warm-up from lr / 50 to lr over 50 steps, then cosine decay to 5 % of lr at step 200
    lr = stages.lr_schedule(cfg, 1)
    assert float(lr(0)) == pytest.approx(2e-4, rel=1e-5) and float(lr(50)) == pytest.approx(1e-2, rel=1e-5)
    assert float(lr(25)) == pytest.approx(5.1e-3, rel=1e-4)
    assert float(lr(125)) == pytest.approx(5e-4 + 0.5 * (1e-2 - 5e-4), rel=1e-4)  # half-way down the cosine
    assert float(lr(200)) == pytest.approx(5e-4, rel=1e-3)
    # warm-up capped at half the stage
    assert float(stages.lr_schedule(cfg, 2)(0)) == pytest.approx(1e-2 / 2, rel=1e-5)
    from convcorr_train import pose_configs

    flic = dataclasses.replace(pose_configs.get_config("flic"), out=str(tmp_path), steps=(1, 0, 0))
    mpii_like = stick_people(4, 128, 0)  # 16 MPII joints
    with pytest.raises(InputError, match="11"):
        train(flic, (mpii_like, mpii_like), progress=False)



def test_fingerprint_holds_the_code_version_and_old_code_checkpoints_resume_nowhere(tmp_path, monkeypatch):
    """The checkpoint fingerprint is settings + training code version: a run trained by other code is refused
    for resuming (the clear message) but its parameters still load for evaluation (same settings)."""
    from test_pose_helpers import stick_people

    cfg = TrainConfig(name="v", out=str(tmp_path), model=TINY, batch_size=4, steps=(1, 1, 0), checkpoint_every=1,
                        eval_limit=2)
    assert (config.code_version() == cache.code_version(*config.CODE)
            and "convcorr_jax.pose" in config.CODE)
    before, settings = cfg.fingerprint(), cfg.settings_digest()
    data = (stick_people(8, 32, 0), stick_people(2, 32, 1))
    train(cfg, data, progress=False)
    saved = json.loads((tmp_path / "v" / "metrics.json").read_text())
    # the runner's metrics.json schema; the runner reads its key as that of a finished run
    # ("nonfinite": where the record's nulls were NaN or infinite numbers, when it has any)
    assert set(saved) - {"nonfinite"} == {"key", "status", "seconds", "summary", "markdown", "metrics", "versions",
                                          "devices"}
    assert (saved["status"] == "ok" and saved["key"]["kind"] == "train.pose"
            and saved["key"]["version"] == config.code_version())
    assert ([e["step"] for e in saved["metrics"]["evals"]] == [1, 2]
            == [e["step"] for e in run_folder._read_evals(tmp_path / "v")])
    assert runner.finished_key(tmp_path / "v") == saved["key"]

    monkeypatch.setattr(config, "code_version", lambda: "0123456789abcdef")
    assert cfg.fingerprint() != before and cfg.settings_digest() == settings
    with pytest.raises(InputError, match="checkpoint written by this config.* the same settings, trained by another "
                       "version of the training code"):  # resuming: refused, saying why
        train(cfg, data, progress=False)
    tc, params = run_folder.load_run(tmp_path / "v")  # evaluation: same settings, other code: loads
    assert tc == cfg and np.all(np.isfinite(np.asarray(params["coarse"]["fc2"]["kernel"])))


@pytest.mark.parametrize("setting,field", [("batch_size=0", "batch_size"), ("lr=0,1,1", "lr"),
                                           ("steps=-1,1,1", "steps"), ("n_samples=0", "n_samples"),
                                           ("model.image_size=4", "model.image_size"),
                                           ("checkpoint_every=0", "checkpoint_every")])
def test_train_config_ranges(setting, field):
    from convcorr_train import pose_configs

    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        override(pose_configs.get_config("tiny"), [setting])


@pytest.mark.parametrize("setting,said", [
    ("seed=-1", "field 'seed': expected >= 0"),  # was numpy's traceback when the data was drawn
    ("augment.rotation=nan", "field 'augment.rotation': expected >= 0, got nan"),  # was trained, null in config.json
    ("augment.rotation=-5", "field 'augment.rotation': expected >= 0"),
    ("augment.scale=2,1", "field 'augment.scale': expected (low, high) with low <= high"),
    ("augment.scale=0,1", "field 'augment.scale': expected > 0"),
    ("augment.shift=-0.1", "field 'augment.shift': expected >= 0"),
    ("augment.half_body=2", "field 'augment.half_body': expected a value in [0, 1]"),
    ("augment.occlusion=nan", "field 'augment.occlusion': expected >= 0"),
    ("augment.colour=1.5", "field 'augment.colour': expected a value in [0, 1]"),
    ("augment.upper=3,99", "field 'augment.upper': expected joint ids below model.num_joints=16"),
    # without the halves' joints no crop was ever a half-body crop: a setting that changed nothing
    ("augment.half_body=0.3", "field 'augment.upper': expected the upper body's joint ids when augment.half_body > 0"),
])
def test_augmentation_and_seed_out_of_range_are_one_line_naming_the_key(setting, said, tmp_path, capsys):
    """Out-of-range augmentation settings were taken as they were (a NaN rotation trained a run whose config.json
    could not be read back) and a negative seed was a traceback from numpy."""
    from convcorr_cli.main import main

    assert main(["train", "pose", "--config", "tiny", "--out", str(tmp_path / "runs"), "--no-progress",
                 "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


def test_runs_trained_before_later_fields_keep_their_settings_digest():
    """Settings added later (`LATER_FIELDS`: the protocol, the trunk) are left out of the digest at their
    defaults: the default and `flic` configs keep the digests they had before those fields existed (computed by
    that code; `legacy=True`: the digest with data_root, as runs written before it was path-free have it), so their
    runs still load; a non-default value changes the digest; the data's path does not."""
    from convcorr_train import pose_configs

    assert TrainConfig().settings_digest(legacy=True) == "47402775ee8f38bf"
    assert pose_configs.get_config("flic_paper").settings_digest(legacy=True) == "3035cb5ff4bbb10e"
    moved = dataclasses.replace(TrainConfig(), trunk_lr=0.5)
    assert moved.settings_digest() != TrainConfig().settings_digest()
    elsewhere = dataclasses.replace(TrainConfig(), data_root="/elsewhere")
    assert elsewhere.settings_digest() == TrainConfig().settings_digest()
    assert elsewhere.settings_digest(legacy=True) != TrainConfig().settings_digest(legacy=True)


def test_a_config_with_an_int_for_a_float_setting_has_the_digest_its_config_json_reads_back(tmp_path):
    """A config built in Python with 0 for a float setting (spatial_dropout=0, "0 switches it off") or a NumPy
    scalar reads back from config.json as 0.0 and a plain number: the same settings digest, so its run folder is not
    refused as "a run of other settings" when the run starts again, and its checkpoints load under the config read
    back (`load_run`)."""
    from convcorr_jax.core import io
    from convcorr_jax.core.config import from_dict

    cfg = TrainConfig(name="i", out=str(tmp_path), model=dataclasses.replace(TINY, spatial_dropout=0), lambda_fine=0,
                      lr=(1, 1e-3, 1e-3), batch_size=np.int64(4), crop_scale=np.float32(1.25))
    cfg.run_dir().mkdir()
    io.write_json(cfg.run_dir() / "config.json", dataclasses.asdict(cfg))
    read = from_dict(TrainConfig, json.loads((cfg.run_dir() / "config.json").read_text()))
    assert read.settings_digest() == cfg.settings_digest() and read.fingerprint() == cfg.fingerprint()
    run_folder.check_run_folder(cfg)  # killed before its first checkpoint: started again, not refused
    assert checkpoints._same_settings({"settings_digest": cfg.settings_digest()}, read)


@pytest.mark.slow
def test_a_checkpoint_cut_short_is_skipped_and_training_resumes(tmp_path, caplog, monkeypatch, recwarn):
    """Every file of the newest checkpoint cut to half its length in turn (and the step's folder deleted):
    restoring never fails; it gives that step with the saved values or, where the cut file is needed, one warning
    line and the older step; training then resumes from there and finishes. The reads orbax abandons leave
    nothing behind: no unraisable coroutine, "coroutine ... was never awaited" warning or asyncio "Task exception
    was never retrieved", then or at a later garbage collection."""
    import gc
    import logging
    import shutil
    import sys
    import time

    from test_pose_helpers import stick_people

    leaked = []
    monkeypatch.setattr(sys, "unraisablehook", leaked.append)
    aio = logging.Handler(logging.ERROR)
    aio.emit = leaked.append
    monkeypatch.setattr(logging.getLogger("asyncio"), "handlers", [aio])  # "Task exception was never retrieved"

    cfg = TrainConfig(name="c", out=str(tmp_path), model=TINY, batch_size=4, steps=(3, 0, 0), checkpoint_every=1,
                        eval_limit=0)
    data = (stick_people(8, 32, 0), stick_people(2, 32, 1))
    train(cfg, data, progress=False)
    ckpt = tmp_path / "c" / "checkpoints"
    pristine = tmp_path / "pristine"
    shutil.copytree(ckpt, pristine)
    mgr = checkpoints.manager(ckpt)
    _, good, _ = checkpoints.restore_checkpoint(mgr, cfg, ckpt)
    mgr.close()
    files = sorted(p.relative_to(pristine) for p in (pristine / "3").rglob("*") if p.is_file() and p.stat().st_size)
    assert len(files) >= 3
    fell_back = 0
    for rel in [*files, None]:
        shutil.rmtree(ckpt)
        shutil.copytree(pristine, ckpt)
        if rel is None:
            shutil.rmtree(ckpt / "3")
        else:
            (ckpt / rel).write_bytes((pristine / rel).read_bytes()[: (pristine / rel).stat().st_size // 2])
        caplog.clear()
        mgr = checkpoints.manager(ckpt)
        with caplog.at_level(logging.WARNING, logger=checkpoints.log.name):
            step, state, _ = checkpoints.restore_checkpoint(mgr, cfg, ckpt)
        mgr.close()
        assert step in (2, 3), rel
        if step == 3:
            for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(good)):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        else:
            fell_back += 1
            if rel is not None:
                ours = [r for r in caplog.records if r.name != "absl"]  # absl: orbax's own note on a cut metadata file
                assert len(ours) == 1 and "checkpoint step 3 cannot be read" in ours[0].getMessage(), rel
    assert fell_back >= 2  # the meta JSON and the array data, at least, are needed
    shutil.rmtree(ckpt)
    shutil.copytree(pristine, ckpt)
    for rel in files:  # every file of step 3 damaged: training resumes from step 2 and writes step 3 again
        (ckpt / rel).write_bytes((pristine / rel).read_bytes()[:1])
    res = train(cfg, data, progress=False)
    steps = sorted(int(x.name) for x in ckpt.iterdir() if x.name.isdigit())
    assert steps[-1] == 3 and np.all(np.isfinite(np.asarray(jax.tree.leaves(res.params)[0])))
    time.sleep(1.0)  # time for any read still running in orbax's event loop to end
    gc.collect()
    assert not leaked, f"{len(leaked)} left behind, the first: {leaked[0]}"
    unawaited = [w for w in recwarn if "never awaited" in str(w.message)]
    assert not unawaited, f"{len(unawaited)} warnings, the first: {unawaited[0].message}"


def test_a_run_is_not_resumed_on_changed_data(tmp_path):
    """A checkpoint keeps the content digest of the training data (`checkpoints.data_fingerprint`); restoring it for
    training on other data is refused in one line naming data_root; the same data (from any folder), or no
    fingerprint, restore."""
    rng = np.random.default_rng(0)
    arrays = pose_data.PoseArrays(rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8),
                                  rng.random((3, 2, 2)).astype(np.float32), np.ones((3, 2), bool),
                                  np.ones(3, np.float32))
    cfg = TrainConfig(name="d", out=str(tmp_path), model=TINY, batch_size=4, steps=(1, 0, 0),
                      data_root=str(tmp_path / "a"))
    params = pose_model.init(jax.random.PRNGKey(0), TINY)
    mgr = checkpoints.manager(tmp_path / "ckpt")
    checkpoints.save_checkpoint(mgr, 1, {"params": params, "opt": stages.init_opt(cfg, 1, params)}, cfg,
                                {"next_index": 1}, checkpoints.data_fingerprint(arrays))
    moved = dataclasses.replace(cfg, data_root=str(tmp_path / "elsewhere"))  # the same data at another path
    same = checkpoints.data_fingerprint(arrays)
    assert checkpoints.restore_checkpoint(mgr, moved, tmp_path / "ckpt", data=same)[0] == 1
    changed = dataclasses.replace(arrays, images=arrays.images.copy())
    changed.images[0, 0, 0, 0] ^= 1
    with pytest.raises(InputError, match="data_root") as e:
        checkpoints.restore_checkpoint(mgr, cfg, tmp_path / "ckpt", data=checkpoints.data_fingerprint(changed))
    assert len(str(e.value).splitlines()) == 1 and "other data" in str(e.value)
    # evaluation: parameters load whatever the data
    assert checkpoints.restore_checkpoint(mgr, cfg, tmp_path / "ckpt")[0] == 1
    mgr.close()


@pytest.mark.parametrize("field, value, said", [
    ("steps", (0, 0, 0), "adding up to at least 1"),  # was "already trained to step 0 of 0", a run folder left
    ("optimizer", "adamw", "'adam' or 'sgd'"),  # was refused only after the run folder was written
    ("name", "../escape", "a run folder name"), ("name", "", "a run folder name"), ("name", "a/b", "a run folder name"),
    # a learning rate of inf passed (the first step's update made every parameter inf or NaN)
    ("lr", (float("inf"), 1e-3, 1e-3), r"a finite number for each item, got \(inf, 0\.001, 0\.001\)"),
    ("lr", (1e-3, float("nan"), 1e-3), "> 0 for each item"), ("lr", (1e-3, 1e-3, -1e-3), "> 0 for each item"),
    ("lr", (1e-3, 0.0, 1e-3), "> 0 for each item"), ("lr", (1e-3, 1e-3, float("-inf")), "> 0 for each item"),
    ("trunk_lr", float("inf"), "a finite number, got inf"), ("trunk_lr", float("nan"), "> 0"),
])
def test_a_config_that_would_train_nothing_or_elsewhere_is_refused(field, value, said):
    with pytest.raises(InputError, match=rf"field '{field}': expected .*{said}"):
        TrainConfig(**{field: value})


def test_out_logdir_and_devices_are_one_line_before_any_folder(tmp_path, capsys):
    """`convcorr train pose`: --out or --logdir naming a file, more devices than JAX sees: exit 2 in one line, no run
    folder and no lock left (they were tracebacks, one after writing half a run folder)."""
    from convcorr_cli.main import main

    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    base = ["train", "pose", "--config", "tiny", "--no-progress", "--set", "steps=1,0,0"]
    for extra, field in ((["--out", str(afile)], "out"),
                         (["--out", str(tmp_path / "runs"), "--logdir", str(afile)], "logdir"),
                         (["--out", str(tmp_path / "runs"), "--set", f"num_devices={len(jax.devices()) + 1}"],
                          "num_devices")):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and f"field '{field}'" in err.splitlines()[-1], (extra, err)  # after the data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"] and afile.read_text() == "mine"


def test_a_reader_refuses_an_unreadable_newest_checkpoint_that_training_skips(tmp_path, caplog):
    """The parameters of a run are its newest step's: a reader (`checkpoint_params`: export, evaluation, `pose.load`)
    refuses a damaged newest step in one line naming it, not serving an older step's as the run's; training skips it
    for the older one, whose steps it redoes."""
    cfg = TrainConfig(name="u", out=str(tmp_path), model=TINY, batch_size=4, steps=(2, 0, 0))
    params = pose_model.init(jax.random.PRNGKey(0), TINY)
    ckpt = tmp_path / "u" / "checkpoints"
    mgr = checkpoints.manager(ckpt)
    for step in (1, 2):
        state = {"params": params, "opt": stages.init_opt(cfg, cfg.stage_of(step - 1), params)}
        checkpoints.save_checkpoint(mgr, step, state, cfg, {"next_index": step})
    mgr.close()
    (ckpt / "2" / "meta" / "metadata").write_text("")  # cut short
    with pytest.raises(InputError, match=r"checkpoints/2: field 'checkpoint': expected a readable step") as e:
        checkpoints.checkpoint_params(tmp_path / "u", cfg)
    assert len(str(e.value).splitlines()) == 1
    mgr = checkpoints.manager(ckpt)
    assert checkpoints.restore_checkpoint(mgr, cfg, ckpt)[0] == 1  # training: skipped, said in one warning
    mgr.close()
    assert "checkpoint step 2 cannot be read" in caplog.text


def test_a_damaged_metrics_json_is_one_line_naming_it(tmp_path, capsys):
    """A metrics.json that is not JSON (a hand edit) was a JSONDecodeError traceback from ship_model and from
    `convcorr train pose` resuming the run; a "metrics" that is not an object an AttributeError."""
    from convcorr_train import ship_model

    run = tmp_path / "run"
    run.mkdir()
    for text, match in (("{", "metrics.json': expected the training run's JSON record"),
                        ('{"metrics": [1]}', "metrics.evals"), ("[1, 2", "JSON record")):
        (run / "metrics.json").write_text(text)
        with pytest.raises(InputError, match=match) as e:
            run_folder.read_metrics(run)
        assert str(run / "metrics.json") in str(e.value) and len(str(e.value).splitlines()) == 1
    assert ship_model.cli(["--run", str(run), "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "metrics.json" in err and not (tmp_path / "model").exists()


def test_too_few_synthetic_people_for_both_splits_is_one_line_naming_n_samples(tmp_path, capsys):
    """`--set n_samples=3` drew no held-out person: a traceback from numpy (stacking no boxes), not one line."""
    from convcorr_cli.main import main

    assert main(["train", "pose", "--config", "tiny", "--out", str(tmp_path / "runs"), "--no-progress",
                 "--set", "n_samples=3"]) == 2
    err = capsys.readouterr().err.strip()  # after the train split's line (progress), one error line
    assert "Traceback" not in err and err.count("error") == 1, err
    last = err.splitlines()[-1]
    assert "field 'n_samples': expected enough people for both splits" in last and last.endswith("got 3"), err
    assert not (tmp_path / "runs").exists()


def test_a_data_root_for_generated_people_is_refused_not_ignored(tmp_path, capsys):
    """`convcorr train pose --config tiny --set data_root=FLIC` (data=synthetic) trained on generated people, the
    folder ignored without a word; now one line naming data_root, nothing written. A mixture's data_root (the
    parts' base folder) is still taken."""
    from convcorr_cli.main import main
    from convcorr_train import pose

    folder = tmp_path / "FLIC"
    folder.mkdir()
    assert main(["train", "pose", "--config", "tiny", "--out", str(tmp_path / "runs"), "--no-progress",
                 "--set", f"data_root={folder}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "field 'data_root': expected unset for data=synthetic" in err, err
    assert "--set data=" in err and "flic" in err and err.endswith(f"got {folder}"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FLIC"]
    assert pose.config("person_tiny", str(tmp_path / "runs"), [f"data_root={folder}"]).data_root == str(folder)


def test_out_inside_the_dataset_folder_is_refused_before_any_work(tiny_flic, tmp_path, capsys, monkeypatch):
    """`convcorr train pose --out DIR` inside data_root wrote its run folder (checkpoints, event files) among the
    dataset's files, while `convcorr run` and `convcorr eval` refuse an output inside the data they read; now one line
    naming --out (or --logdir) and the data folder, wherever they lead, nothing written. A mixture part's folder
    counts as data too."""
    from convcorr_cli.main import main
    from convcorr_train import pose

    monkeypatch.chdir(tmp_path)
    os.symlink(tiny_flic, tmp_path / "linked")
    before = sorted(tiny_flic.rglob("*"))
    base = ["train", "pose", "--config", "tiny", "--no-progress", "--set", "data=flic", "--set",
            f"data_root={tiny_flic}", "--set", "steps=1,0,0"]
    for extra, flag, given in ((["--out", str(tiny_flic)], "--out", str(tiny_flic)),
                               (["--out", "FLIC/runs"], "--out", "FLIC/runs"),
                               (["--out", "linked/runs"], "--out", "linked/runs"),
                               (["--out", "runs", "--logdir", "linked/tb"], "--logdir", "linked/tb")):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"{given}: field '{flag}': expected a folder outside data_root {tiny_flic} (read, never written)" \
            in err, err
    assert sorted(tiny_flic.rglob("*")) == before and sorted(p.name for p in tmp_path.iterdir()) == ["FLIC", "linked"]
    mixture = tmp_path / "mix"
    (mixture / "flic").mkdir(parents=True)
    with pytest.raises(InputError, match=r"field '--out': expected a folder outside datasets\[0\]\.root"):
        pose.config("person_tiny", str(mixture / "flic" / "runs"), [f"data_root={mixture}"])
    assert pose.config("person_tiny", str(mixture / "runs"), [f"data_root={mixture}"]).out == str(mixture / "runs")


def test_joint_stage_with_lambda_fine_0_reports_the_fine_error_and_leaves_the_fine_model():
    """Stage 3 with lambda_fine=0 logged e2 as 0 (the step skipped the fine model whenever E2's weight was 0, though
    the stage trains it); now e2 is the fine model's E2, the loss is E1 alone, and the fine parameters, whose
    gradient is exactly 0, do not move."""
    from convcorr_jax.core import parallel

    cfg = TrainConfig(model=dataclasses.replace(TINY, out_init_std=0.1), batch_size=2, steps=(1, 1, 1),
                      lambda_fine=0.0)
    rng = np.random.default_rng(0)
    batch = {"image": rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8),
             "points": rng.uniform(8, 24, (2, 16, 2)).astype(np.float32), "visible": np.ones((2, 16), bool),
             "key": np.asarray(jax.random.key_data(jax.random.split(jax.random.PRNGKey(1), 2)))}
    params = pose_model.init(jax.random.PRNGKey(0), cfg.model)
    mesh = parallel.make_mesh(1)
    state = parallel.replicate({"params": params, "opt": stages.init_opt(cfg, 3, params)}, mesh)
    new, metrics = parallel.data_parallel_step(stages.make_local_step(cfg, 3), mesh)(
        state, parallel.shard_batch(batch, mesh))
    assert float(metrics["e2"]) > 0
    assert float(metrics["loss"]) == pytest.approx(float(metrics["e1"]), rel=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(params["fine"]), jax.tree_util.tree_leaves(new["params"]["fine"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_restores_that_overlap_in_two_threads_put_the_hook_level_and_filters_back(monkeypatch):
    """Two failing restores in two threads, the second entering while the first collects its abandoned reads and
    leaving after the first has returned: the unraisable-exception hook, asyncio's logger level and the warning
    filters are the ones found before (each restore putting back what it found left the first's silencing installed
    for good)."""
    import logging
    import threading
    import warnings

    class Damaged:
        def restore(self, step, args):
            raise ValueError("a damaged step")

    def hook(_):
        pass

    aio = logging.getLogger("asyncio")
    monkeypatch.setattr(sys, "unraisablehook", hook)
    monkeypatch.setattr(aio, "level", logging.WARNING)
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    errors, filters = [], list(warnings.filters)

    # inside both silencings: the first waits for the second to be in, the second for the first to be out
    def gated() -> int:
        overlap_in_turn(threads, first_in, second_in, first_out)
        return 0

    def first():
        errors.append(checkpoints._try_restore(Damaged(), 1, None)[1])
        first_out.set()

    monkeypatch.setattr(checkpoints, "_orbax_coroutines", gated)
    threads = [threading.Thread(target=first),
               threading.Thread(target=lambda: errors.append(checkpoints._try_restore(Damaged(), 1, None)[1]))]
    threads[0].start()
    assert first_in.wait(10)
    threads[1].start()
    for thread in threads:
        thread.join(20)
    assert errors == ["ValueError: a damaged step"] * 2
    assert sys.unraisablehook is hook and aio.level == logging.WARNING and warnings.filters == filters
