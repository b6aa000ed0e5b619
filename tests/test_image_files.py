"""Image files as people's own tools write them, through the one reader (`data.types.load_image`): PIL's warnings
(a 12000 x 9000 photo past PIL's decompression-bomb warning, a palette PNG with transparency, corrupt EXIF data)
become at most one log line naming the file, not lines of PIL's source on stderr beside a command's one-line error;
a file of several frames is read as its first with a note; `data inspect` reads an RGB PNG as an image, not as a
label PNG."""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from PIL import Image
from test_hostile_images import _png_header

from convcorr_jax.core.errors import InputError
from convcorr_jax.data.formats import _detect_format, read_format
from convcorr_jax.data.types import MAX_PIXELS_ENV, load_image, relay_pil_warnings

LOGGER = "convcorr_jax.data.types"


def _halves() -> np.ndarray:
    """40 x 60 (w x h) RGB: red top half, blue bottom half."""
    a = np.zeros((60, 40, 3), np.uint8)
    a[:30, :, 0] = 255
    a[30:, :, 2] = 255
    return a


def _read(path, caplog):
    """load_image(path) with Python's warnings recorded: (image, warnings, log lines of the reader)."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        img = load_image(path)
    return img, [str(w.message) for w in said], [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_a_photo_past_pils_warning_size_is_refused_without_pils_warning(tmp_path):
    """12000 x 9000 = 108 megapixels: above the 50-megapixel limit and above PIL's warning size (89 megapixels):
    one InputError, and no DecompressionBombWarning beside it."""
    path = _png_header(tmp_path / "big photo.png", 12000, 9000)
    with warnings.catch_warnings(record=True) as said, pytest.raises(InputError, match="108,000,000 pixels declared"):
        warnings.simplefilter("always")
        load_image(path)
    assert [str(w.message) for w in said] == []


def test_the_command_says_so_in_one_line(tmp_path):
    path = _png_header(tmp_path / "big.png", 12000, 9000)
    r = subprocess.run([sys.executable, "-m", "convcorr_cli", "classify", str(path)], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"convcorr classify: error: {path}: field 'image': expected an image of at most 50,000,000 pixels "
        f"(${MAX_PIXELS_ENV}), got 12000 x 9000 = 108,000,000 pixels declared in its header"], r.stderr


def test_a_limit_past_pils_own_names_pils(tmp_path, monkeypatch):
    """$CONVCORR_MAX_PIXELS above PIL's own refusal size (2 x PIL.Image.MAX_IMAGE_PIXELS): the error names the
    limit that refused the file, not the larger one it was allowed."""
    monkeypatch.setenv(MAX_PIXELS_ENV, "300000000")
    with pytest.raises(InputError) as e:
        load_image(_png_header(tmp_path / "pano.png", 15000, 13000))
    assert f"at most {2 * Image.MAX_IMAGE_PIXELS:,} pixels (PIL's own limit" in str(e.value)
    assert "300,000,000" not in str(e.value)


@pytest.mark.parametrize("transparency", [0, bytes([0, 128, 255, 255])])
def test_a_palette_png_with_transparency_is_read_with_one_note(tmp_path, caplog, transparency):
    """A palette PNG with a tRNS chunk (web graphics, pngquant's output): its palette's colours, the transparency
    dropped with the reader's own note (as for RGBA), and no PIL UserWarning on stderr."""
    path = tmp_path / "web.png"
    Image.fromarray(_halves()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(
        path, transparency=transparency)
    img, said, logged = _read(path, caplog)
    np.testing.assert_array_equal(img, _halves())
    assert said == [] and logged == [f"{path}: P image read as RGB (colour, alpha dropped)"]


def test_corrupt_exif_is_one_log_line_naming_the_file(tmp_path, caplog):
    """A JPEG whose EXIF block is cut short (some cameras and editors write one): read, and PIL's "Corrupt EXIF data"
    is one log line naming the file instead of a Python warning with PIL's source line."""
    path = tmp_path / "camera.jpg"
    Image.fromarray(_halves()).save(path, quality=95)
    data = path.read_bytes()
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00" * 2
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:])
    img, said, logged = _read(path, caplog)
    assert img.ndim == 3 and said == []
    assert len(logged) == 1 and logged[0].startswith(f"{path}: Corrupt EXIF data") and "\n" not in logged[0]


@pytest.mark.parametrize("suffix", [".gif", ".tiff", ".png", ".webp"])
def test_several_frames_the_first_with_a_note(tmp_path, caplog, suffix):
    path = tmp_path / f"clip{suffix}"
    frames = [Image.fromarray(np.full((20, 30, 3), v, np.uint8)) for v in (10, 200, 90)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    img, said, logged = _read(path, caplog)
    assert img.shape == (20, 30, 3) and abs(int(img.mean()) - 10) <= 2 and said == []
    assert logged == [f"{path}: 3 frames (an animation or a multi-page file); the first is read"]


def test_data_inspect_reads_an_rgb_png_as_an_image(tmp_path):
    """A .png is a label PNG only when it can be one (palette or L); a photo saved as RGB or RGBA PNG is an image."""
    Image.fromarray(_halves()).save(tmp_path / "photo.png")
    Image.fromarray(np.dstack([_halves(), np.full((60, 40), 200, np.uint8)]), "RGBA").save(tmp_path / "rgba.png")
    label = tmp_path / "label.png"
    Image.fromarray(np.zeros((6, 5), np.uint8)).convert("P").save(label)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert [_detect_format(tmp_path / n) for n in ("photo.png", "rgba.png", "label.png", "broken.png")] == [
        "image", "image", "label_png", "label_png"]
    img, what = read_format(tmp_path / "photo.png")
    np.testing.assert_array_equal(img, _halves())
    assert what.endswith("image")


def test_pil_warnings_of_reads_in_two_threads_at_once_are_each_relayed_and_the_filters_come_back(caplog):
    """Two reads in two threads, the second starting inside the first and ending after it (as a thread pool loading
    images does): each read's warning is one log line naming its own file, and the process's warnings filters and
    display are as before. Before, the blocks saved and put back the process-wide warnings state each on its own: the
    first read's warning was named with the second's file, the second's reached stderr, and the first's "always"
    filter and recorder stayed installed (every later warning of the program swallowed)."""
    filters, shown = list(warnings.filters), (warnings.showwarning, getattr(warnings, "_showwarnmsg_impl", None))
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with relay_pil_warnings("first.png"):
            first_in.set()
            assert second_in.wait(10)
            warnings.warn("Corrupt EXIF data (first)")
        first_out.set()

    def second():
        assert first_in.wait(10)
        with relay_pil_warnings("second.png"):
            second_in.set()
            assert first_out.wait(10)
            warnings.warn("Corrupt EXIF data (second)")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    with caplog.at_level(logging.WARNING, logger=LOGGER), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("default")
        inner = list(warnings.filters)
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert list(warnings.filters) == inner
        warnings.warn("the program's own")
    assert [str(w.message) for w in said] == ["the program's own"]
    assert sorted(r.getMessage() for r in caplog.records if r.name == LOGGER) == [
        "first.png: Corrupt EXIF data (first) (PIL, reading it)",
        "second.png: Corrupt EXIF data (second) (PIL, reading it)"]
    assert list(warnings.filters) == filters
    assert (warnings.showwarning, getattr(warnings, "_showwarnmsg_impl", None)) == shown
