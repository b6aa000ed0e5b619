"""TensorBoard event files of pose training: a tiny run writes loss per stage, learning rate and validation PCK at
the right steps, read back here from the TFRecord framing (length, masked CRC-32C of the length, data, masked
CRC-32C of the data) and `tensorboardX.proto.event_pb2.Event`; a diverged run leaves a readable file and its
resumed run a second one that purges the steps after its checkpoint; `logdir="off"` writes none; the writer prints
nothing."""

from __future__ import annotations

import logging
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from convcorr_jax.core import progress
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.training import stages
from convcorr_jax.pose.training.loop import TrainingDiverged, train
from convcorr_jax.pose.training.config import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_pose_helpers import stick_people  # noqa: E402

TINY = pose_model.ModelConfig(image_size=32, pool=4, levels=2, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=16)
STEPS = (2, 2, 1)


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path: Path) -> list[event_pb2.Event]:
    """Every record of a TFRecord event file, each CRC checked."""
    raw = path.read_bytes()
    out, i = [], 0
    while i < len(raw):
        head = raw[i:i + 8]
        (n,) = struct.unpack("<Q", head)
        (crc_n,) = struct.unpack("<I", raw[i + 8:i + 12])
        assert crc_n == masked_crc32c(head), f"{path}: bad length CRC at byte {i}"
        data = raw[i + 12:i + 12 + n]
        (crc_d,) = struct.unpack("<I", raw[i + 12 + n:i + 16 + n])
        assert len(data) == n and crc_d == masked_crc32c(data), f"{path}: bad data CRC at byte {i}"
        out.append(event_pb2.Event.FromString(data))
        i += 16 + n
    return out


def scalars(events: list[event_pb2.Event]) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of the simple_value summaries."""
    out: dict[str, dict[int, float]] = {}
    for e in events:
        for v in e.summary.value:
            if v.WhichOneof("value") == "simple_value":
                out.setdefault(v.tag, {})[e.step] = v.simple_value
    return out


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    return TrainConfig(name="tb", out=str(tmp_path), model=TINY, batch_size=4, steps=STEPS, checkpoint_every=2,
                         eval_limit=4, **kw)


DATA = (stick_people(12, 32, 0), stick_people(4, 32, 1))


def test_event_file_holds_loss_per_stage_lr_and_validation_pck(tmp_path, capsys, caplog):
    cfg = _cfg(tmp_path)
    with caplog.at_level(logging.INFO, logger=progress.LOG.name):
        res = train(cfg, DATA, progress=False)
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err == ""  # the library prints nothing
    said = [r.getMessage()[:5] for r in caplog.records if r.name == progress.LOG.name]
    assert said == ["[tb] "]  # the summary only
    files = sorted((tmp_path / "tb" / "tb").glob("events.out.tfevents.*"))
    assert len(files) == 1
    events = read_events(files[0])
    assert events[0].file_version.startswith("brain.Event:")
    s = scalars(events)
    assert sorted(s["loss/stage1"]) == [1, 2] and sorted(s["loss/stage2"]) == [3, 4] and sorted(s["loss/stage3"]) == [5]
    assert sorted(s["lr"]) == sorted(s["loss/e1"]) == sorted(s["loss/e2"]) == [1, 2, 3, 4, 5]
    starts = {1: 0, 2: STEPS[0], 3: STEPS[0] + STEPS[1]}
    for step, lr in s["lr"].items():
        stage = cfg.stage_of(step - 1)
        assert lr == pytest.approx(float(stages.lr_schedule(cfg, stage)(step - 1 - starts[stage])), rel=1e-6)
    assert s["loss/e2"][1] == s["loss/e2"][2] == 0.0 and s["loss/e2"][3] > 0  # stage 1 trains the coarse model
    assert [e["step"] for e in res.evals] == [2, 4, 5]
    for ev in res.evals:
        stage_loss = s[f"loss/stage{ev['stage']}"][ev["step"]]
        assert stage_loss == pytest.approx(ev["loss"], rel=1e-6)
        for k in ("coarse_pck@0.05", "cascade_pck@0.2"):
            assert s["val/" + k.replace("@", "_")][ev["step"]] == pytest.approx(ev[k], rel=1e-6)
    assert "val/coarse_per_joint_0.05" not in s  # lists are left out
    assert [ev["people"] for ev in res.evals] == [4, 4, 4] and "val/people" not in s  # eval_limit=4 of 4: recorded
    texts = [v.tag for e in events for v in e.summary.value if v.WhichOneof("value") != "simple_value"]
    assert any(t.startswith("config") for t in texts)


def test_diverged_run_leaves_a_readable_file_and_resume_purges(tmp_path, monkeypatch, nan_loss_at):
    cfg = _cfg(tmp_path)
    nan_loss_at(2)  # 0-based step 2: after the checkpoint of step 2
    with pytest.raises(TrainingDiverged):
        train(cfg, DATA, progress=False)
    monkeypatch.undo()
    tb = tmp_path / "tb" / "tb"
    first = sorted(tb.glob("events.out.tfevents.*"))
    assert len(first) == 1
    assert sorted(scalars(read_events(first[0]))["lr"]) == [1, 2]  # written before the loss became NaN
    train(cfg, DATA, progress=False)  # resumes from the checkpoint of step 2
    files = sorted(tb.glob("events.out.tfevents.*"))
    assert len(files) == 2
    second = read_events(next(f for f in files if f != first[0]))
    steps = sorted({step for v in scalars(second).values() for step in v})
    assert steps[0] >= 3 and steps[-1] == 5
    starts = [e for e in second if e.WhichOneof("what") == "session_log"]  # the purge: steps >= 3 of the first file
    assert len(starts) == 1 and starts[0].step == 3 and starts[0].session_log.status == event_pb2.SessionLog.START
    # as TensorBoard shows the two files (it keeps the earlier events of steps below the purge step): every step
    # once, the stage-1 evaluation at the checkpoint's step 2 included (a purge at 2 hid it and step 2's loss)
    shown = tensorboard_view([read_events(first[0]), second])
    assert sorted(shown["lr"]) == sorted(shown["loss/e1"]) == [1, 2, 3, 4, 5]
    assert sorted(shown["val/coarse_pck_0.05"]) == [2, 4, 5]


def tensorboard_view(files: list[list[event_pb2.Event]]) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of event files read in order, as TensorBoard's event accumulator shows them: a
    SessionLog.START event at step s drops the events read before it of steps >= s."""
    out: dict[str, dict[int, float]] = {}
    for events in files:
        for e in events:
            if e.WhichOneof("what") == "session_log" and e.session_log.status == event_pb2.SessionLog.START:
                out = {tag: {k: v for k, v in steps.items() if k < e.step} for tag, steps in out.items()}
            for tag, steps in scalars([e]).items():
                out.setdefault(tag, {}).update(steps)
    return out


@pytest.mark.slow
def test_logdir_off_and_elsewhere(tmp_path):
    off = _cfg(tmp_path, logdir="off")
    assert off.event_dir() is None and off.settings_digest() == _cfg(tmp_path).settings_digest()
    train(off, DATA, progress=False)
    assert not (tmp_path / "tb" / "tb").exists()
    elsewhere = tmp_path / "events"
    cfg = _cfg(tmp_path / "b", logdir=str(elsewhere))
    train(cfg, DATA, progress=False)
    (f,) = elsewhere.glob("events.out.tfevents.*")
    assert sorted(scalars(read_events(f))["loss/stage3"]) == [5]
    np.testing.assert_equal(cfg.fingerprint(), _cfg(tmp_path / "b").fingerprint())


@pytest.mark.slow
def test_cli_logdir(tmp_path, capsys):
    """`convcorr train pose --logdir DIR` writes the event files there and says where."""
    from convcorr_cli.main import main

    logdir = tmp_path / "tb_here"
    assert main(["train", "pose", "--config", "tiny", "--set", f"out={tmp_path}", "--set", "steps=1,1,0", "--set",
                 "n_samples=8", "--set", "batch_size=4", "--set", "eval_limit=0", "--logdir", str(logdir),
                 "--no-progress"]) == 0
    assert f"event files: {logdir} (tensorboard --logdir {logdir})" in capsys.readouterr().out
    (f,) = logdir.glob("events.out.tfevents.*")
    s = scalars(read_events(f))
    assert sorted(s["loss/stage1"]) == [1] and sorted(s["loss/stage2"]) == [2] and "loss/stage3" not in s
    assert not (tmp_path / "pose_tiny" / "tb").exists()
