"""pose.mixture_pack: a mixture's train and validation people packed to travel, read back by the same loaders; and
an LSP folder holding only the parts it is read for."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcorr_jax.data import pose_sets
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import mixture_pack
from convcorr_jax.pose.data_part import DataPart

PARTS = {"train_images": 6, "val_images": 2, "test_images": 2}


@pytest.fixture
def small_lspet(real_data, tmp_path) -> Path:
    """The first 10 LSP-extended images with the real joints.mat: train 6, val 2, test 2."""
    src = real_data / "lspet"
    if not (src / "joints.mat").is_file() or not (src / "images" / "im00010.jpg").is_file():
        pytest.skip(f"LSP-extended not found under {real_data}")
    root = tmp_path / "lspet"
    (root / "images").mkdir(parents=True)
    shutil.copy(src / "joints.mat", root / "joints.mat")
    for i in range(1, 11):
        shutil.copy(src / "images" / f"im{i:05d}.jpg", root / "images")
    return root


def test_masked_keeps_the_squares_about_the_boxes():
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    out = mixture_pack.masked(img, np.array([[10.0, 5.0, 14.0, 9.0]]), keep=1.0)  # square 4 px about (12, 7)
    inside = np.zeros((20, 30), bool)
    inside[5:10, 10:15] = True
    assert (out[inside] == img[inside]).all() and (out[~inside] == mixture_pack.GREY).all()


def test_packed_lsp_folder_reads_back_scaled(small_lspet, tmp_path):
    part = DataPart("lsp", str(small_lspet), options=tuple(PARTS.items()))
    info = mixture_pack.pack_mixture([part], tmp_path / "p.zip", quality=90, max_side=60, keep=1.25)
    assert info["images"] == {"lspet": 8}  # train + val; the test part never travels
    assert mixture_pack.unpack_mixture(tmp_path / "p.zip", tmp_path / "data") == "lspet: 8 images"
    out = tmp_path / "data"
    assert sorted(p.name for p in (out / "lspet" / "images").iterdir())[-1] == "im00008.jpg"
    for split in ("train", "val"):
        before = pose_sets.load_people("lsp", small_lspet, split, **PARTS)
        after = pose_sets.load_people("lsp", out / "lspet", split, **PARTS)
        assert len(after) == len(before)
        for a, b in zip(before.samples, after.samples):
            with Image.open(a.image_path) as i0, Image.open(b.image_path) as i1:
                s = np.array(i1.size) / np.array(i0.size)
            lab = a.extras["labelled"]
            # pixel centres kept: x' = (x + 0.5) s - 0.5
            np.testing.assert_allclose(b.points[lab], (a.points[lab] + 0.5) * s - 0.5, atol=1e-3)
            assert np.ptp(b.points[lab], axis=0).max() <= 60 / 1.3 + 1  # the labelled joints' box: <= max_side
    with pytest.raises(InputError, match="val_images / test_images"):
        pose_sets.load_people("lsp", out / "lspet", "test", **PARTS)


def test_unpack_refuses_a_damaged_archive(small_lspet, tmp_path):
    part = DataPart("lsp", str(small_lspet), options=tuple(PARTS.items()))
    mixture_pack.pack_mixture([part], tmp_path / "p.zip", quality=50)
    data = bytearray((tmp_path / "p.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "p.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        mixture_pack.unpack_mixture(tmp_path / "p.zip", tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_pack_refuses_a_kind_it_cannot_rewrite(tmp_path):
    with pytest.raises(InputError, match="datasets.kind"):
        mixture_pack.pack_mixture([DataPart("coco", str(tmp_path))], tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()


def test_pack_replaces_its_own_archive_and_no_other_file(tiny_flic, tmp_path):
    """An `out` that is a user's file (or whose .sha256 is) is refused before any work, the file as it was; the
    archive an earlier pack wrote there (with its .sha256) is replaced."""
    part = DataPart("flic", str(tiny_flic))
    notes = tmp_path / "notes.zip"
    notes.write_bytes(b"mine")
    (tmp_path / "new.zip.sha256").write_text("my own notes\n")
    for out in (notes, tmp_path / "new.zip", tiny_flic / "examples.mat"):
        with pytest.raises(InputError, match="nothing was written"):
            mixture_pack.pack_mixture([part], out)
    assert notes.read_bytes() == b"mine" and (tmp_path / "new.zip.sha256").read_text() == "my own notes\n"
    assert not (tmp_path / "new.zip").exists() and not (tiny_flic / "examples.mat.sha256").exists()
    first = mixture_pack.pack_mixture([part], tmp_path / "p.zip", quality=50)
    again = mixture_pack.pack_mixture([part], tmp_path / "p.zip", quality=20)
    assert again["sha256"] != first["sha256"] and (tmp_path / "p.zip.sha256").read_text().split()[0] == again["sha256"]
    assert "FLIC: " in mixture_pack.unpack_mixture(tmp_path / "p.zip", tmp_path / "data")


def test_pack_refuses_a_part_without_its_folder(tmp_path):
    """A part whose root is None (not resolved by `TrainConfig.part_roots()`) made Path(None)'s TypeError."""
    with pytest.raises(InputError, match="datasets.root"):
        mixture_pack.pack_mixture([DataPart("flic")], tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()
