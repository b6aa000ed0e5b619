"""`convcorr pose CLIP --out DIR [--every N]`: the joints in every N-th frame of a video, drawn into a new video, and
one JSON line per frame.

Frames are decoded by PyAV (the `video` extra) in batches of `BATCH_FRAMES`, each batch estimated by one call
(`pose.estimate`: with two_pass=True under --two-pass, and with no box for a FLIC model trained on person crops, as
for images), drawn (`convcorr_cli.pose_draw.draw`, with the torso box the second pass found) and encoded as H.264
(yuv420p, even sides) at the clip's frame rate / N. Frames are read upright, as players show them: a clip with a
rotation in its display matrix (phones' portrait clips, `VideoFrame.rotation`) is turned by it (multiples of 90
degrees; a mirroring in the matrix is not applied), so the joints, "width" and "height" are those of the upright frame.
The output paths are checked before any frame is read; both are written, each atomically, or neither (an error or
a stop, Ctrl-C, leaves the files of an earlier run as they were):
  DIR/<clip name>_pose.mp4     the frames with the skeleton and the legend strip below
  DIR/<clip name>_pose.jsonl   one line per frame read: {"frame" (0-based index among the clip's decoded frames: a
                               clip whose first frames cannot be decoded starts at its first decodable frame),
                               "time" (s, the frame's presentation time, variable frame rates included), "width",
                               "height", "torso" [x, y] (the spatial model's point), "joints": [{"name", "x", "y",
                               "confidence"}], "mean_confidence", "warning", "torso_box" [4] (where one was found)}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from convcorr_jax.core import io, runinfo
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import require
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.pose.estimation import Poses

SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")  # read as videos
BATCH_FRAMES = 16  # frames per estimation call
CODEC = "libx264"


def is_video(path: str) -> bool:
    """Whether `path` is read as a video (by its suffix, `SUFFIXES`)."""
    return Path(path).suffix.lower() in SUFFIXES


def _av():
    return require("av", "video", "convcorr pose on videos")


def probe(path: str) -> tuple[Fraction, int]:
    """(frame rate, frame count or 0 when the container does not say) of the first video stream; InputError naming
    the file and the reader's reason when it cannot be read."""
    av = _av()
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise InputError(path, "video stream", "a file with a video stream", "none")
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate or Fraction(25)
            return Fraction(rate), int(s.frames or 0)
    except (av.error.FFmpegError, OSError) as e:
        raise InputError(path, "video", "a video PyAV (FFmpeg) can read", str(e)) from None


def upright(img: np.ndarray, rotation: float) -> np.ndarray:
    """`img` [H, W, C] turned counter-clockwise by `rotation` degrees (a frame's `VideoFrame.rotation`, its display
    matrix's angle), rounded to a multiple of 90: the frame as players show it."""
    k = round(float(rotation) / 90) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def frames(path: str, every: int) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time in s, uint8 RGB [H, W, 3]) of every `every`-th decoded frame of the clip's first video stream,
    upright (`upright`)."""
    av = _av()
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            for i, f in enumerate(c.decode(stream)):
                if i % every == 0:
                    yield (i, float(f.time if f.time is not None else 0.0),
                           upright(f.to_ndarray(format="rgb24"), getattr(f, "rotation", 0) or 0))
    except av.error.FFmpegError as e:
        raise InputError(path, "video", "a video PyAV (FFmpeg) can read", str(e)) from None


def _batches(it: Iterator, n: int) -> Iterator[list]:
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _even(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def output_paths(path: str, out: Path) -> tuple[Path, Path]:
    """The files `run_video` writes for the clip `path` into the folder `out`: (<clip>_pose.mp4, <clip>_pose.jsonl)."""
    stem = Path(path).stem
    return out / f"{stem}_pose.mp4", out / f"{stem}_pose.jsonl"


def run_video(path: str, out: Path, every: int, estimate: Callable[[list[np.ndarray]], Poses],
              draw: Callable[[np.ndarray, Poses, int], np.ndarray], progress: bool = True) -> tuple[Path, Path, int]:
    """Estimate, draw and write one clip (module docstring): `estimate` maps a list of frames to Poses, `draw` a
    frame, the batch's Poses and the frame's index in it to the annotated RGB image; `progress`: a bar of the frames
    (`core.progress`: plain lines off a terminal), False for none. Returns (video path, JSON lines path, frames
    written)."""
    av = _av()
    stem = Path(path).stem
    video_path, lines_path = output_paths(path, out)
    for p in (video_path, lines_path):  # before any work: a folder there would fail after it, one file written
        io.check_writable(p, "--out")
    rate, total = probe(path)
    n = 0
    with io.atomic_path(video_path) as tmp_video, io.atomic_path(lines_path) as tmp_lines:
        container = av.open(str(tmp_video), mode="w", format="mp4")
        stream = None
        bar = progress_bar(total=-(-total // every) if total else None, desc=stem, unit="frame",
                           disable=not progress)
        try:
            with open(tmp_lines, "w") as lines:
                for batch in _batches(frames(path, every), BATCH_FRAMES):
                    poses = estimate([f for _, _, f in batch])
                    for i, ((index, t, frame), record) in enumerate(zip(batch, poses.as_dicts())):
                        img = _even(np.asarray(draw(frame, poses, i)))
                        if stream is None:
                            stream = container.add_stream(CODEC, rate=rate / every)
                            stream.width, stream.height, stream.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
                        if img.shape[:2] != (stream.height, stream.width):
                            raise InputError(path, f"frame {index}", f"{stream.width} x {stream.height} pixels "
                                             "as the frames before it", f"{img.shape[1]} x {img.shape[0]}")
                        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                            container.mux(packet)
                        line = {"frame": index, "time": round(t, 6), "width": int(frame.shape[1]),
                                "height": int(frame.shape[0]), "torso": [float(v) for v in poses.torso[i]], **record}
                        # standard JSON: a NaN or infinite number (no torso found) is null
                        lines.write(json.dumps(runinfo.rounded(line, None, nonfinite_null=True),
                                               allow_nan=False) + "\n")
                        n += 1
                    bar.update(len(batch))
            if stream is None:
                raise InputError(path, "video", "at least one frame", "none")
            for packet in stream.encode():
                container.mux(packet)
        finally:
            bar.close()
            container.close()
    return video_path, lines_path, n


__all__ = ["BATCH_FRAMES", "CODEC", "SUFFIXES", "frames", "is_video", "probe", "run_video", "upright"]
