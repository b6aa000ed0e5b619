"""Images from strangers: one reader (`data.types.load_image`) checks the size a file declares against a limit
before decoding, and names empty, unknown and truncated files; every command that reads images says so in one
line with exit code 2 (each case a subprocess: exit code, stderr, and that nothing was written)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcorr_jax.data.types import MAX_PIXELS_ENV, load_image
from convcorr_jax.data.voc_segmentation import read_label_png
from convcorr_jax.core.errors import InputError


def _png_header(path: Path, w: int, h: int) -> Path:
    """A small file whose PNG header declares w x h RGB pixels (the pixel data is a few bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.full((40, 50, 3), 100, np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "unknown.png").write_bytes(b"not an image at all" * 10)
    return {"good": good, "bomb": _png_header(tmp_path / "bomb.png", 30_000, 30_000),
            "big": _png_header(tmp_path / "big.png", 8_000, 8_000), "truncated": truncated,
            "empty": tmp_path / "empty.jpg", "unknown": tmp_path / "unknown.png"}


def test_the_reader_checks_the_declared_size_before_decoding(files, monkeypatch):
    assert load_image(files["good"]).shape == (40, 50, 3)
    for name, got in (("bomb", "larger"), ("big", "8000 x 8000 = 64,000,000 pixels declared")):
        with pytest.raises(InputError) as e:
            load_image(files[name])
        msg = str(e.value)
        assert str(files[name]) in msg and "at most 50,000,000 pixels" in msg and got in msg and "\n" not in msg
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")  # the limit is configurable: 40 x 50 = 2,000 pixels is now too many
    with pytest.raises(InputError, match="2,000 pixels declared"):
        load_image(files["good"])
    with pytest.raises(InputError, match="2,000 pixels declared"):
        read_label_png(files["good"])
    monkeypatch.setenv(MAX_PIXELS_ENV, "many")
    with pytest.raises(InputError, match=MAX_PIXELS_ENV):
        load_image(files["good"])


def test_empty_unknown_and_truncated_files_are_named(files):
    for name in ("truncated", "empty", "unknown"):
        with pytest.raises(InputError) as e:
            load_image(files[name])
        assert str(files[name]) in str(e.value) and "readable image file" in str(e.value)


@pytest.mark.parametrize("argv", [["classify", "{f}"], ["features", "{f}", "--taps", "conv1", "--out", "{npz}"],
                                  ["match", "{f}", "{good}", "--points", "{points}", "--out", "{out}"]])
@pytest.mark.parametrize("bad", ["bomb", "truncated"])
def test_commands_refuse_a_hostile_image_in_one_line(argv, bad, files, tmp_path):
    points = tmp_path / "points.json"
    points.write_text("[[1, 1]]")
    out, npz = tmp_path / "out.json", tmp_path / "out.npz"
    args = [a.format(f=files[bad], good=files["good"], points=points, out=out, npz=npz) for a in argv]
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", *args], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(files[bad]) in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() and not npz.exists()
