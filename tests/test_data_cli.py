"""`convcorr data inspect`: detects the format, prints what the loader reads, reports skipped records."""

from __future__ import annotations

import numpy as np

from convcorr_cli.main import main
from convcorr_jax.data.faces300w import write_pts


def test_inspect_pts_folder_and_skip_bad(tmp_path, capsys):
    write_pts(tmp_path / "ibug" / "a.pts", np.arange(136, dtype=np.float64).reshape(68, 2))
    (tmp_path / "ibug" / "b.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    assert main(["data", "inspect", str(tmp_path)]) == 2  # the bad file stops the run, named on stderr
    err = capsys.readouterr().err
    assert "b.pts" in err and "field 'points'" in err and "68 point lines" in err
    assert main(["data", "inspect", str(tmp_path), "--skip-bad", "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 samples read, 1 skipped" in out and "skipped: " in out and "b.pts" in out
    assert "jaw_0          [0.0, 1.0]" in out  # 0-based on screen: written (0, 1) -> file (1, 2) -> (0, 1)


def test_inspect_single_files(tmp_path, capsys):
    write_pts(tmp_path / "x.pts", np.ones((68, 2)))
    assert main(["data", "inspect", str(tmp_path / "x.pts")]) == 0
    assert "array (68, 2) float32" in capsys.readouterr().out
    assert main(["data", "inspect", str(tmp_path / "missing.h5")]) == 2
    assert "missing" in capsys.readouterr().err


def test_inspect_real_flic(real_data, capsys):
    if not (real_data / "flic").exists():
        import pytest

        pytest.skip("flic not present")
    assert main(["data", "inspect", str(real_data / "flic"), "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "5003 samples read, 0 skipped" in out and "lsho           [163.19, 105.91]" in out


def test_synth_then_inspect(tmp_path, capsys):
    """`convcorr data synth` (dispatched to the synthetic package) writes a folder the inspect loaders read."""
    assert main(["data", "synth", "faces", "--n", "3", "--out", str(tmp_path / "f"), "--image-size", "64"]) == 0
    capsys.readouterr()
    assert main(["data", "inspect", str(tmp_path / "f"), "--show", "0", "--with-images"]) == 0
    assert "3 samples read, 0 skipped" in capsys.readouterr().out


def test_every_format_has_a_reader_and_unknown_formats_are_refused(tmp_path):
    """`data.formats.READERS`: each format's reader is a function of its module (imported on first read); an unknown
    format is one InputError naming the path, the field and the known formats; a format of one's own is read."""
    import importlib

    import pytest

    from convcorr_jax.data.formats import FORMATS, READERS, Reader, read_format
    from convcorr_jax.core.errors import InputError

    assert list(FORMATS) == list(READERS) and len(FORMATS) == 18
    for name, reader in READERS.items():
        assert callable(getattr(importlib.import_module(f"convcorr_jax.data.{reader.module}"), reader.function)), name
    (tmp_path / "x.csv").write_text("a.jpg,1,2,-1,-1\n\nb.jpg,3,4,5,6\n")
    joints, what = read_format(tmp_path / "x.csv")
    assert what == "joints CSV (2 rows, 2 images, 2 joints, as stored)" and joints.shape == (2, 2, 2)
    with pytest.raises(InputError, match=r"x\.csv: field 'format': expected one of \['flic', 'flic_plus', .*"
                                         r"'pf_willow_mat'\], got nope$"):
        read_format(tmp_path / "x.csv", "nope")
    READERS.register("csv_names", Reader("convcorr_jax.data.mpii", "read_joints_csv", "names", (),
                                         lambda read, path, options, what: (read(path, 2)[0], what)))
    try:
        assert read_format(tmp_path / "x.csv", "csv_names") == (["a.jpg", "b.jpg"], "names")
        assert "csv_names" in FORMATS
    finally:
        READERS.unregister("csv_names")
