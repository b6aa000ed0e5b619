"""FLIC as one archive with a checksum (`data.flic_pack`, `convcorr data pack-flic` / `unpack-flic`): a fixture FLIC
folder packs, unpacks into the same files the loader reads the same way, a corrupted archive is refused in one
line, and the real FLIC folder's archive size is measured (skipped where it is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from convcorr_cli.main import main
from convcorr_jax.core import io
from convcorr_jax.data.flic import load_flic
from convcorr_jax.data.flic_pack import pack_flic, _read_checksum, unpack_flic
from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError


def test_pack_unpack_roundtrip(tiny_flic, tmp_path, capsys):
    tar = tmp_path / "out" / "flic.tar"
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar), "--copy"]) == 0
    assert "4 images (copied)" in capsys.readouterr().out
    assert _read_checksum(tar) == io.sha256_file(tar)
    assert (tmp_path / "out" / "flic.tar.sha256").read_text() == f"{io.sha256_file(tar)}  flic.tar\n"
    assert sorted(os.listdir(tar.parent)) == ["flic.tar", "flic.tar.sha256"]  # no temporary file left
    # the same folder packs to the same bytes
    again = pack_flic(tiny_flic, tmp_path / "again.tar", quality=None)
    assert again["sha256"] == _read_checksum(tar) and again["images"] == 4
    dest = tmp_path / "copy"
    assert main(["data", "unpack-flic", str(tar), "--out", str(dest)]) == 0
    assert "verified" in capsys.readouterr().out
    assert (dest / "examples.mat").read_bytes() == (tiny_flic / "examples.mat").read_bytes()
    for f in (tiny_flic / "images").iterdir():
        assert (dest / "images" / f.name).read_bytes() == f.read_bytes()
    a, b = load_flic(tiny_flic), load_flic(dest)
    np.testing.assert_array_equal(np.stack([s.points for s in a]), np.stack([s.points for s in b]))


def test_pack_shows_its_progress_unless_told_not_to(tiny_flic, tmp_path, capsys):
    """A long pack showed nothing until its summary line; now a line per tenth of the images on stderr (off a
    terminal), none with --no-progress, as the other long commands do."""
    tar = tmp_path / "flic.tar"
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar), "--copy"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split()[2] for line in err if line.startswith("pack-flic: ")][-1:] == ["4/4"], err
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar), "--copy", "--no-progress"]) == 0
    assert "pack-flic" not in capsys.readouterr().err


def test_pack_reencoded_keeps_size_and_points(tiny_flic, tmp_path):
    info = pack_flic(tiny_flic, tmp_path / "q.tar", quality=60)
    dest = tmp_path / "copy"
    unpack_flic(tmp_path / "q.tar", dest)
    a, b = load_flic(tiny_flic), load_flic(dest)
    assert info["quality"] == 60 and [s.extras["image_size"] for s in b] == [(360, 240)] * 4
    np.testing.assert_array_equal(np.stack([s.points for s in a]), np.stack([s.points for s in b]))
    diff = np.abs(load_image(a[0].image_path).astype(int) - load_image(b[0].image_path).astype(int))
    assert 0 < diff.mean() < 40  # re-encoded, the same picture
    with pytest.raises(InputError, match="archive size"):
        pack_flic(tiny_flic, tmp_path / "big.tar", max_mib=1e-4)
    assert not (tmp_path / "big.tar").exists() and not (tmp_path / "big.tar.sha256").exists()


def test_corrupted_archive_refused(tiny_flic, tmp_path, capsys):
    tar = tmp_path / "flic.tar"
    pack_flic(tiny_flic, tar)  # re-encoded at the default quality
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tar.write_bytes(bytes(data))
    dest = tmp_path / "copy"
    assert main(["data", "unpack-flic", str(tar), "--out", str(dest)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sha256" in err and "corrupted" in err
    assert not dest.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".copy")]
    Path(f"{tar}.sha256").unlink()
    with pytest.raises(InputError, match="checksum file"):
        unpack_flic(tar, dest)


@pytest.mark.slow
def test_real_flic_pack_size(flic_root, tmp_path):
    """FLIC as shipped here (4,552 JPEGs at 360 x 240) fits 60 MiB at the default quality, and unpacks to a folder
    the loader reads at the same image size."""
    info = pack_flic(flic_root, tmp_path / "flic.tar")
    assert info["images"] == 4552 and info["bytes"] <= 60 * 2**20
    unpack_flic(tmp_path / "flic.tar", tmp_path / "FLIC")
    test = load_flic(tmp_path / "FLIC", split="test")
    assert len(test) == 1016 and {s.extras["image_size"] for s in test} == {(360, 240)}


def test_pack_the_training_images_alone(tiny_flic, tmp_path):
    """split="train" packs the images of the examples with istrain set (the validation movies included, the test
    frames left out for scoring elsewhere), examples.mat whole; the unpacked folder loads its train split."""
    import tarfile

    from convcorr_jax.core.errors import InputError

    info = pack_flic(tiny_flic, tmp_path / "train.tar", quality=None, split="train")
    train_names = sorted({Path(s.image_path).name for s in load_flic(tiny_flic, split="train")})
    assert info["images"] == len(train_names) == 2 and info["split"] == "train"
    with tarfile.open(tmp_path / "train.tar") as tar:
        assert sorted(m.name for m in tar.getmembers()) == ["FLIC/examples.mat"] + [f"FLIC/images/{n}"
                                                                                     for n in train_names]
    unpack_flic(tmp_path / "train.tar", tmp_path / "out")
    assert len(load_flic(tmp_path / "out", split="train")) == 2
    with pytest.raises(InputError, match="split"):
        pack_flic(tiny_flic, tmp_path / "x.tar", split="test")


def test_pack_replaces_its_own_archive_and_no_other_file(tiny_flic, tmp_path, capsys):
    """--out naming the FLIC folder's own examples.mat, a user's file, or a path whose .sha256 is a user's file is
    refused in one line before any work, those files as they were; an earlier pack (with its .sha256) is replaced."""
    mat, notes = tiny_flic / "examples.mat", tmp_path / "notes.txt"
    notes.write_text("mine")
    (tmp_path / "new.tar.sha256").write_text("my own notes on new.tar\n")
    kept = {p: p.read_bytes() for p in (mat, notes, tmp_path / "new.tar.sha256")}
    for out in (mat, notes, tmp_path / "new.tar"):
        assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(out), "--copy"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "nothing was written" in err
    assert {p: p.read_bytes() for p in kept} == kept
    assert not (tmp_path / "new.tar").exists() and not Path(f"{mat}.sha256").exists()
    tar = tmp_path / "flic.tar"
    first = pack_flic(tiny_flic, tar, quality=None)
    again = pack_flic(tiny_flic, tar, quality=60)  # its own earlier archive: replaced
    assert again["sha256"] != first["sha256"] and _read_checksum(tar) == io.sha256_file(tar) == again["sha256"]


def test_unpack_a_malformed_sha256_says_what_a_sha256_is(tiny_flic, tmp_path):
    tar = tmp_path / "flic.tar"
    pack_flic(tiny_flic, tar, quality=None)
    with pytest.raises(InputError, match="64 hex digits"):
        unpack_flic(tar, tmp_path / "out", sha256="xyz")
    assert not (tmp_path / "out").exists()
    unpack_flic(tar, tmp_path / "out", sha256=io.sha256_file(tar).upper())  # any case
    assert (tmp_path / "out" / "examples.mat").is_file()


def test_folder_given_as_archive_named_a_folder(tmp_path, capsys):
    """A folder where the archive is expected used to be reported as a 'missing file'."""
    (tmp_path / "FLIC").mkdir()
    assert main(["data", "unpack-flic", str(tmp_path / "FLIC"), "--out", str(tmp_path / "copy")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "archive" in err and "got a folder" in err, err
    with pytest.raises(InputError, match="got missing file"):
        unpack_flic(tmp_path / "absent.tar", tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_pack_copy_with_quality_is_refused(tiny_flic, tmp_path, capsys):
    """`--copy --quality 40` copied the JPEGs and dropped --quality without a word (the archive as with --copy
    alone); it is one line naming --quality and --copy, nothing written. Either alone still packs."""
    tar = tmp_path / "flic.tar"
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar), "--copy", "--quality", "40"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--quality" in err and "--copy" in err and "40" in err, err
    assert not tar.exists() and not (tmp_path / "flic.tar.sha256").exists()
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar), "--quality", "40"]) == 0
    assert "JPEG quality 40" in capsys.readouterr().out


def test_pack_stops_at_the_next_image_on_ctrl_c_and_keeps_the_earlier_archive(tiny_flic, tmp_path, capsys,
                                                                              monkeypatch):
    """A stop (Ctrl-C, SIGTERM: `core.interrupt`) during packing ends it before the next image, exit code 130 with
    the stop line, not once every image is packed and the archive written; the earlier archive stays as it was."""
    from convcorr_jax.core import interrupt
    from convcorr_jax.data import flic_pack

    tar = tmp_path / "out" / "flic.tar"
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar), "--copy"]) == 0
    before = {p.name: p.read_bytes() for p in tar.parent.iterdir()}
    capsys.readouterr()
    encoded, seen = flic_pack._encoded, []

    def encoded_then_stop(path, quality):
        seen.append(path.name)
        interrupt.request()  # as the signal handler does, while the first image is encoded
        return encoded(path, quality)

    monkeypatch.setattr(flic_pack, "_encoded", encoded_then_stop)
    assert main(["data", "pack-flic", "--root", str(tiny_flic), "--out", str(tar)]) == 130
    out, err = capsys.readouterr()
    assert len(seen) == 1 and "pack-flic:" not in out
    assert err.splitlines()[-1] == "convcorr data: interrupted; run the same command to resume"
    assert {p.name: p.read_bytes() for p in tar.parent.iterdir()} == before  # no temporary file left either
