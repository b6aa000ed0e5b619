"""`convcorr pose` on videos (`convcorr_cli.pose_video`): tiny synthetic clips written with PyAV, the estimation
step replaced by a cheap fake, so that these check the video plumbing: which frames are read and when (constant and
variable frame rates, every N-th), upright (a rotation in the display matrix), in any pixel format; the video written
(readable, its frame count, even sides); the JSON lines' schema; unreadable inputs and output paths refused in one
line before any work; an error or a stop midway leaving no file half-written and an earlier run's files as they were.
One test runs the command end to end with the shipped default model."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV (the video extra) reads and writes the videos of convcorr pose")

from convcorr_cli import pose_video  # noqa: E402
from convcorr_cli.main import main  # noqa: E402
from convcorr_jax.core import interrupt  # noqa: E402
from convcorr_jax.core.errors import InputError  # noqa: E402
from convcorr_jax.pose.estimation import Poses  # noqa: E402

NAMES = ("head", "hip")
STRIP = 10  # rows the fake drawing adds below each frame, as the legend strip does
KEYS = {"frame", "time", "width", "height", "torso", "joints", "mean_confidence", "warning"}


def _pattern(h: int, w: int, i: int = 0) -> np.ndarray:
    """uint8 RGB [h, w, 3]: a white block in the top-left quarter over a background that changes with `i`."""
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 2] = (30 * i) % 200
    a[: h // 2, : w // 2] = 255
    return a


def _clip(path: Path, n: int = 5, w: int = 64, h: int = 48, *, codec: str = "libx264", pix_fmt: str = "yuv420p",
          pts_ms: list[int] | None = None, rotation: int | None = None, gop: int | None = None) -> Path:
    """A clip of n `_pattern` frames at 10 frames per second, or at the times `pts_ms` (variable frame rate); with
    `gop` a keyframe every `gop` frames and no B-frames."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if gop is not None:
            s.codec_context.gop_size = gop
            s.codec_context.options = {"bf": "0", "keyint_min": str(gop), "sc_threshold": "0"}
        if pts_ms is not None:
            s.codec_context.time_base = s.time_base = Fraction(1, 1000)
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(_pattern(h, w, i), format="rgb24")
            if pts_ms is not None:
                f.pts, f.time_base = pts_ms[i], Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


class Fake:
    """The estimation step, cheap: each frame's joints at its centre; keeps the frames it was given."""

    def __init__(self, fail_at: int | None = None, stop_at: int | None = None):
        self.frames: list[np.ndarray] = []
        self.calls, self.fail_at, self.stop_at = 0, fail_at, stop_at

    def __call__(self, frames: list[np.ndarray]) -> Poses:
        self.calls += 1
        if self.calls == self.fail_at:
            raise InputError("estimate", "frames", "(a failure made by the test)", self.calls)
        if self.calls == self.stop_at:
            interrupt.request()  # as Ctrl-C does: a stop at the next safe point (the progress bar's update)
        self.frames += frames
        n = len(frames)
        centre = np.array([[(f.shape[1] - 1) / 2, (f.shape[0] - 1) / 2] for f in frames], np.float32)
        return Poses(points=np.repeat(centre[:, None], len(NAMES), 1), confidence=np.full((n, len(NAMES)), 0.5,
                     np.float32), names=NAMES, readout="fake", spatial=False, torso=centre)


def _draw(img: np.ndarray, poses: Poses, i: int) -> np.ndarray:
    return np.concatenate([img, np.full((STRIP, img.shape[1], 3), 255, np.uint8)])


def _never(frames):
    raise AssertionError("no frame is estimated")


def _read(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("every", [1, 2])
def test_a_clip_gives_every_nth_frame_a_video_frame_and_a_json_line(tmp_path, every):
    clip = _clip(tmp_path / "clip.mp4", n=5)
    fake = Fake()
    video, lines, n = pose_video.run_video(str(clip), tmp_path / "out", every, fake, _draw)
    assert (video, lines) == (tmp_path / "out" / "clip_pose.mp4", tmp_path / "out" / "clip_pose.jsonl")
    want = list(range(0, 5, every))
    assert n == len(want) == len(fake.frames)
    got = _lines(lines)
    assert [x["frame"] for x in got] == want
    assert [x["time"] for x in got] == pytest.approx([i / 10 for i in want])
    for x in got:
        assert set(x) == KEYS and (x["width"], x["height"]) == (64, 48) and x["warning"] is None
        assert [j["name"] for j in x["joints"]] == list(NAMES) and set(x["joints"][0]) == {"name", "x", "y",
                                                                                          "confidence"}
        assert (x["joints"][0]["x"], x["joints"][0]["y"]) == (31.5, 23.5) and x["torso"] == [31.5, 23.5]
    decoded = _read(video)
    assert len(decoded) == n and decoded[0].shape == (48 + STRIP, 64, 3)
    with av.open(str(video)) as c:
        assert c.streams.video[0].average_rate == Fraction(10, every)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip_pose.jsonl", "clip_pose.mp4"]


def test_odd_sides_are_padded_to_even_ones_and_the_json_keeps_the_frames_size(tmp_path):
    clip = _clip(tmp_path / "odd.mp4", n=3, w=101, h=57, pix_fmt="yuv444p")
    fake = Fake()
    video, lines, n = pose_video.run_video(str(clip), tmp_path / "out", 1, fake, lambda img, poses, i: img)
    assert n == 3 and fake.frames[0].shape == (57, 101, 3)
    assert [(x["width"], x["height"]) for x in _lines(lines)] == [(101, 57)] * 3
    decoded = _read(video)
    assert len(decoded) == 3 and decoded[0].shape == (58, 102, 3)  # H.264 in yuv420p: even sides


def test_a_variable_frame_rate_clip_gives_each_frame_its_own_time(tmp_path):
    times = [0, 40, 150, 160, 400, 1000]
    clip = _clip(tmp_path / "vfr.mp4", n=len(times), pts_ms=times)
    for every in (1, 2):
        _, lines, n = pose_video.run_video(str(clip), tmp_path / "out", every, Fake(), _draw)
        got = _lines(lines)
        assert [x["time"] for x in got] == pytest.approx([t / 1000 for t in times[::every]])
        assert [x["frame"] for x in got] == list(range(0, len(times), every)) and n == len(got)


def test_a_one_frame_clip(tmp_path):
    clip = _clip(tmp_path / "one.mp4", n=1)
    assert pose_video.probe(str(clip))[1] in (0, 1)
    video, lines, n = pose_video.run_video(str(clip), tmp_path / "out", 3, Fake(), _draw)
    assert n == 1 and [x["frame"] for x in _lines(lines)] == [0] and len(_read(video)) == 1


@pytest.mark.parametrize("codec, pix_fmt, suffix", [("mjpeg", "yuvj420p", ".avi"), ("ffv1", "gray", ".mkv"),
                                                    ("libx264rgb", "rgb24", ".mkv"), ("libx264", "yuv444p", ".mov")])
def test_frames_of_any_pixel_format_are_read_as_rgb(tmp_path, codec, pix_fmt, suffix):
    clip = _clip(tmp_path / f"clip{suffix}", n=2, codec=codec, pix_fmt=pix_fmt)
    fake = Fake()
    _, _, n = pose_video.run_video(str(clip), tmp_path / "out", 1, fake, _draw)
    assert n == 2
    f = fake.frames[0]  # the first frame: a white block over black, the same in gray
    assert f.dtype == np.uint8 and f.shape == (48, 64, 3)
    assert np.abs(f.astype(float) - _pattern(48, 64)).mean() < 12


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_clip_with_a_rotation_is_read_upright_as_players_show_it(tmp_path, rotation):
    """Phones store portrait clips sideways with a rotation in the display matrix: the frames are turned by it
    (counter-clockwise, `VideoFrame.rotation`) before estimation, and the JSON gives the upright size."""
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix (VideoStream.set_display_rotation)")
    clip = _clip(tmp_path / "phone.mp4", n=2, w=64, h=48, rotation=rotation)
    with av.open(str(clip)) as c:
        if (next(c.decode(video=0)).rotation - rotation) % 360:
            pytest.skip("this PyAV does not read the display matrix back (VideoFrame.rotation)")
    fake = Fake()
    video, lines, _ = pose_video.run_video(str(clip), tmp_path / "out", 1, fake, _draw)
    want = np.rot90(_pattern(48, 64), rotation // 90).astype(float)
    assert fake.frames[0].shape == want.shape
    assert np.abs(fake.frames[0].astype(float) - want).mean() < 12
    h, w = want.shape[:2]
    assert [(x["width"], x["height"]) for x in _lines(lines)] == [(w, h)] * 2
    assert _read(video)[0].shape == (h + STRIP, w, 3)


def test_upright_turns_counter_clockwise_by_multiples_of_90():
    a = np.arange(6).reshape(2, 3, 1)
    assert pose_video.upright(a, 0) is a
    np.testing.assert_array_equal(pose_video.upright(a, 90)[..., 0], [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(pose_video.upright(a, -90), pose_video.upright(a, 270))
    np.testing.assert_array_equal(pose_video.upright(a, 180)[..., 0], [[5, 4, 3], [2, 1, 0]])
    np.testing.assert_array_equal(pose_video.upright(a, 89.6), pose_video.upright(a, 90))


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=8000)
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 8000, 0
        for p in [*s.encode(f), *s.encode()]:
            c.mux(p)
    return path


def _no_keyframe(tmp_path: Path) -> Path:
    """A clip of P frames only (its keyframe's packet dropped): nothing in it can be decoded."""
    src = _clip(tmp_path / "src.mp4", n=4)
    with av.open(str(src)) as i, av.open(str(tmp_path / "nokey.mp4"), "w") as o:
        si = i.streams.video[0]
        so = o.add_stream_from_template(si)
        for p in i.demux(si):
            if p.dts is not None and not p.is_keyframe:
                p.stream = so
                o.mux(p)
    return tmp_path / "nokey.mp4"


@pytest.mark.parametrize("case, expected", [
    ("audio only", "a file with a video stream"), ("text", "a video PyAV (FFmpeg) can read"),
    ("empty", "a video PyAV (FFmpeg) can read"), ("missing", "a video PyAV (FFmpeg) can read"),
    ("folder", "a video PyAV (FFmpeg) can read"), ("no frame decodes", "at least one frame")])
def test_unreadable_clips_are_one_line_naming_the_file_and_write_nothing(tmp_path, case, expected):
    path = tmp_path / "in.mp4"
    if case == "audio only":
        _audio_only(path)
    elif case == "text":
        path.write_text("not a video at all\n" * 20)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "folder":
        path.mkdir()
    elif case == "no frame decodes":
        path = _no_keyframe(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(InputError) as e:
        pose_video.run_video(str(path), out, 1, Fake() if case == "no frame decodes" else _never, _draw)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and str(path) in msg and expected in msg, msg
    assert not out.exists() or list(out.iterdir()) == []


def test_a_clip_whose_first_frames_do_not_decode_starts_at_its_first_decodable_frame(tmp_path):
    """Its first keyframe lost (as in a clip cut from a stream): the frames before the next one are not decoded;
    the JSON's "frame" counts the frames decoded and "time" is each frame's own, so the lost start shows there."""
    src = _clip(tmp_path / "src.mp4", n=8, gop=4)
    with av.open(str(src)) as i, av.open(str(tmp_path / "cut.mp4"), "w") as o:
        si = i.streams.video[0]
        so = o.add_stream_from_template(si)
        packets = [p for p in i.demux(si) if p.dts is not None]
        assert [p.is_keyframe for p in packets] == [True, False, False, False] * 2
        for p in packets[1:]:
            p.stream = so
            o.mux(p)
    _, lines, n = pose_video.run_video(str(tmp_path / "cut.mp4"), tmp_path / "out", 1, Fake(), _draw)
    got = _lines(lines)
    assert n == len(got) == 4 and [x["frame"] for x in got] == [0, 1, 2, 3]
    assert [x["time"] for x in got] == pytest.approx([0.4, 0.5, 0.6, 0.7])


@pytest.mark.parametrize("taken", ["clip_pose.mp4", "clip_pose.jsonl"])
def test_an_output_path_that_is_a_folder_is_refused_before_any_work(tmp_path, taken):
    clip = _clip(tmp_path / "clip.mp4", n=2)
    out = tmp_path / "out"
    (out / taken).mkdir(parents=True)
    with pytest.raises(InputError) as e:
        pose_video.run_video(str(clip), out, 1, _never, _draw)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and str(out / taken) in msg and "--out" in msg and "folder" in msg
    assert [p.name for p in out.iterdir()] == [taken] and (out / taken).is_dir()


@pytest.mark.parametrize("how", ["error", "stop"])
def test_an_error_or_a_stop_midway_leaves_the_earlier_runs_files_as_they_were(tmp_path, monkeypatch, how):
    """Both files are written, or neither: the second batch fails (or Ctrl-C lands during it) and the files of the
    run before are untouched, no temporary file left."""
    monkeypatch.setattr(pose_video, "BATCH_FRAMES", 2)
    clip = _clip(tmp_path / "clip.mp4", n=6)
    out = tmp_path / "out"
    pose_video.run_video(str(clip), out, 1, Fake(), _draw)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    if how == "error":
        with pytest.raises(InputError):
            pose_video.run_video(str(clip), out, 2, Fake(fail_at=2), _draw)
    else:
        with interrupt.handling("convcorr pose"), pytest.raises(interrupt.Interrupted):
            pose_video.run_video(str(clip), out, 2, Fake(stop_at=2), _draw)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_progress_of_the_frames_is_shown_unless_turned_off_and_stops_either_way(tmp_path, caplog):
    """`progress=False` (`convcorr pose CLIP --no-progress`, the flag of the other long commands) shows no progress
    of the frames; the command had no such flag. A stop still lands at the next batch with the bar off."""
    clip = _clip(tmp_path / "clip.mp4", n=3)
    with caplog.at_level("INFO", logger="convcorr_jax.core.progress"):
        pose_video.run_video(str(clip), tmp_path / "on", 1, Fake(), _draw)
        shown = [r.getMessage() for r in caplog.records]
        caplog.clear()
        pose_video.run_video(str(clip), tmp_path / "off", 1, Fake(), _draw, progress=False)
        assert shown and shown[-1].startswith("clip: ") and "3/3" in shown[-1] and caplog.records == []
    with interrupt.handling("convcorr pose"), pytest.raises(interrupt.Interrupted):
        pose_video.run_video(str(clip), tmp_path / "stop", 1, Fake(stop_at=1), _draw, progress=False)
    assert not (tmp_path / "stop").exists() or list((tmp_path / "stop").iterdir()) == []


def test_the_command_refuses_an_out_that_is_a_file_and_names_it(tmp_path, capsys, monkeypatch):
    from convcorr_cli import pose as pose_cli

    monkeypatch.setattr(pose_cli, "estimate", _never)
    clip = _clip(tmp_path / "clip.mp4", n=2)
    mine = tmp_path / "notes.txt"
    mine.write_text("the user's")
    assert main(["pose", str(clip), "--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(mine) in err[0] and "--out" in err[0]
    assert mine.read_text() == "the user's"
    (tmp_path / "out" / "clip_pose.jsonl").mkdir(parents=True)
    assert main(["pose", str(clip), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clip_pose.jsonl" in err[0]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip_pose.jsonl"]


def test_the_command_end_to_end_with_the_default_model(tmp_path, capsys):
    """`convcorr pose clip.mp4 --out DIR` with the shipped default model (the whole frame letterboxed), a sideways
    phone clip where PyAV can write one: the joints lie in the upright frame."""
    rotate = hasattr(av.video.stream.VideoStream, "set_display_rotation")
    clip = _clip(tmp_path / "clip.mp4", n=2, w=64, h=48, rotation=-90 if rotate else None)
    assert main(["pose", str(clip), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    got = capsys.readouterr()
    assert "pose: 2 frame(s) of" in got.out and "clip: " not in got.err  # no progress line of the frames
    got = _lines(tmp_path / "out" / "clip_pose.jsonl")
    w, h = (48, 64) if rotate else (64, 48)
    assert len(got) == 2 and all(KEYS <= set(x) and (x["width"], x["height"]) == (w, h) for x in got)
    pts = np.array([[j["x"], j["y"]] for x in got for j in x["joints"]])
    assert len(got[0]["joints"]) == 17 and np.isfinite(pts).all()
    decoded = _read(tmp_path / "out" / "clip_pose.mp4")
    assert len(decoded) == 2 and decoded[0].shape[0] > h and decoded[0].shape[1] >= w
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip_pose.jsonl", "clip_pose.mp4"]


@pytest.mark.parametrize("flags, said", [
    (["--torso", "3,3"], "with --torso"),  # was: "only in two passes ...; --torso-box gives ..."
    (["--torso-box", "1,1,5,5", "--person-box", "1,1,5,5"], "with --torso-box, --person-box"),  # was: "not both"
    (["--model", "flic", "--torso-box", "1,1,5,5"], "with --torso-box"),
])
def test_a_video_with_a_box_or_point_flag_is_refused_before_the_model_is_read(tmp_path, capsys, monkeypatch, flags,
                                                                               said):
    """The flags a video does not take are refused in one line naming them, before the model is read and before
    the box and point flags are weighed against each other, whose errors would offer another box flag."""
    from convcorr_cli import pose as pose_cli

    monkeypatch.setattr(pose_cli, "load", lambda model: pytest.fail("the model was read"))
    clip = _clip(tmp_path / "clip.mp4", n=2)
    assert main(["pose", str(clip), "--out", str(tmp_path / "out"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "field 'IMAGES'" in err[0] and err[0].endswith(said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("flag", [["--flip"], ["--readout", "cascade"], ["--spatial", "off"]])
def test_a_video_with_a_flag_two_passes_fix_names_the_flag_and_offers_no_box(tmp_path, capsys, flag):
    """A FLIC crop model reads a video's frames in two passes, whose settings are fixed: the flag is refused in one
    line that does not send the user to a box flag (was: "--flip with a box (--person-box or --torso-box)")."""
    clip = _clip(tmp_path / "clip.mp4", n=2)
    assert main(["pose", str(clip), "--out", str(tmp_path / "out"), "--model", "flic", *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"field '{flag[0]}'" in err[0] and "a video without" in err[0]
    assert "--person-box" not in err[0] and "--torso-box" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_two_passes_with_a_model_not_trained_on_person_crops_is_refused_before_any_frame(tmp_path, capsys):
    """--two-pass with the person model: one line naming --two-pass before any frame is read, no folder made (it
    was the first batch's "field 'config'" error, an empty --out folder left behind)."""
    clip = _clip(tmp_path / "clip.mp4", n=2)
    assert main(["pose", str(clip), "--out", str(tmp_path / "out"), "--two-pass", "--model", "person"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "field '--two-pass'" in err[0] and "the model person" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
