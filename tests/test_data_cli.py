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


def test_inspect_with_images_stops_at_the_next_image_and_shows_its_progress(tmp_path, capsys, monkeypatch):
    """`data inspect --with-images` read every image before a stop (Ctrl-C, SIGTERM) took effect, and showed no
    progress; each record is now a safe point and the images read are shown on stderr (none with --no-progress)."""
    from convcorr_jax.core import interrupt
    from convcorr_jax.data import types

    out = tmp_path / "f"
    assert main(["data", "synth", "faces", "--n", "6", "--out", str(out), "--image-size", "32", "--workers", "1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    real, read = types.load_image, []

    def load_then_stop(path):
        read.append(path)
        interrupt.request()  # as the signal handler does, while the first image is read
        return real(path)

    monkeypatch.setattr(types, "load_image", load_then_stop)
    assert main(["data", "inspect", str(out), "--show", "0", "--with-images"]) == 130
    got = capsys.readouterr()
    assert len(read) == 1 and "samples read" not in got.out
    assert got.err.splitlines()[-1] == "convcorr data: interrupted; run the same command to resume"
    monkeypatch.setattr(types, "load_image", real)
    assert main(["data", "inspect", str(out), "--show", "0", "--with-images"]) == 0
    got = capsys.readouterr()
    assert "6 samples read, 0 skipped" in got.out
    assert [line.split()[2] for line in got.err.splitlines() if line.startswith("load_300w: ")][-1:] == ["6/6"]
    assert main(["data", "inspect", str(out), "--show", "0", "--with-images", "--no-progress"]) == 0
    assert main(["data", "inspect", str(out), "--show", "0"]) == 0  # annotations alone: a short read, no bar
    assert "load_300w" not in capsys.readouterr().err


def test_interrupted_synth_leaves_out_as_it_was(tmp_path, capsys, monkeypatch):
    """An interrupted `data synth` used to leave --out holding the images written so far (no annotations), which the
    same command, as its message advises, then refused as a non-empty folder; the set is now built beside --out and
    moved in whole, so --out stays absent and the rerun works."""
    import convcorr_jax.data.synthetic.datasets as ds

    real = ds.write_json

    def interrupted(path, obj):  # the set's record, written after the images and annotations
        raise KeyboardInterrupt

    out = tmp_path / "sub" / "f"
    monkeypatch.setattr(ds, "write_json", interrupted)
    assert main(["data", "synth", "faces", "--n", "3", "--out", str(out), "--image-size", "32", "--no-progress"]) == 130
    assert not out.exists() and not list(out.parent.iterdir())  # no staging folder left either
    monkeypatch.setattr(ds, "write_json", real)
    capsys.readouterr()
    assert main(["data", "synth", "faces", "--n", "3", "--out", str(out), "--image-size", "32", "--no-progress"]) == 0
    assert (out / "synthetic.json").is_file() and [p.name for p in out.parent.iterdir()] == ["f"]
    (out.parent / "empty").mkdir()  # an empty folder is filled, as before
    assert main(["data", "synth", "faces", "--n", "2", "--out", str(out.parent / "empty"), "--no-progress"]) == 0
    assert (out.parent / "empty" / "synthetic.json").is_file()


def test_every_format_has_a_reader_and_unknown_formats_are_refused(tmp_path):
    """`data.formats.READERS`: each format's reader is a function of its module (imported on first read); an unknown
    format is one InputError naming the path, the field and the known formats; a format of one's own is read."""
    import importlib

    import pytest

    from convcorr_jax.data.formats import FORMATS, READERS, Reader, read_format
    from convcorr_jax.core.errors import InputError

    assert list(FORMATS) == list(READERS) and len(FORMATS) == 19
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
    # a reader of one's own that gives neither an array nor a list (`FormatData`, what `read_format` is hinted to
    # return and `convcorr data inspect` prints): was returned as it was, the command failing on it later
    READERS.register("csv_dict", Reader("convcorr_jax.data.mpii", "read_joints_csv", "names", (),
                                        lambda read, path, options, what: (dict(zip(*read(path, 2))), what)))
    try:
        with pytest.raises(InputError, match=r"^convcorr_jax\.data\.mpii\.read_joints_csv: field 'data': expected "
                                             r"an array or a list of samples .*got dict$"):
            read_format(tmp_path / "x.csv", "csv_dict")
    finally:
        READERS.unregister("csv_dict")


def _voc_tree(root):
    """A VOC keypoint tree: annotations/<class>/<image>_<k>.xml."""
    from convcorr_jax.data.types import KeypointSample
    from convcorr_jax.data.voc_keypoints import KEYPOINT_NAMES, write_keypoint_xml

    names = KEYPOINT_NAMES["cat"]
    s = KeypointSample(points=np.stack([np.arange(len(names)) + 2.0, np.full(len(names), 5.0)], 1).astype(np.float32),
                       visible=np.ones(len(names), bool), names=tuple(names),
                       bbox=np.array([1, 2, 30, 20], np.float32), category="cat", id="x")
    write_keypoint_xml(root / "annotations" / "cat" / "2008_000001_1.xml", s, image_id="2008_000001", voc_id=1)
    return root


def test_inspect_tells_coco_keypoint_folders_from_voc_trees(tmp_path, capsys):
    """A COCO-format keypoint folder (annotations/*.json, `coco_keypoints.LAYOUTS`) is read as one, in either layout;
    a VOC tree (annotations/<class>/*.xml) is still read as VOC; `detect_dataset` no longer calls COCO "voc"."""
    from test_pose_skeletons import write_coco

    from convcorr_jax.data.formats import _detect_format, detect_dataset

    flat = tmp_path / "flat"
    write_coco(flat, "train", n=3)
    write_coco(flat, "val", n=2)
    own = tmp_path / "own"
    write_coco(own, "train", n=2)
    (own / "annotations" / "train.json").rename(own / "annotations" / "person_keypoints_train2017.json")
    (own / "images").rename(own / "train2017")
    voc = _voc_tree(tmp_path / "voc")
    assert [_detect_format(p) for p in (flat, own, voc)] == ["coco_keypoints", "coco_keypoints",
                                                            "voc_keypoints_parent"]
    assert detect_dataset(flat) is None and detect_dataset(voc) == "voc"
    for root, n in ((flat, 5), (own, 2)):
        assert main(["data", "inspect", str(root), "--show", "1"]) == 0
        out = capsys.readouterr().out
        assert f"{root}: COCO-format person-keypoint folder" in out and f"{n} samples read, 0 skipped" in out
        assert "category=person" in out
    assert main(["data", "inspect", str(voc), "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "PASCAL VOC 2011 keypoint XML folder" in out and "1 samples read" in out and "category=cat" in out


def test_inspect_refuses_ambiguous_and_unknown_folders_in_one_line(tmp_path, capsys):
    from test_pose_skeletons import write_coco

    both = _voc_tree(tmp_path / "both")
    write_coco(both, "train", n=2)
    odd = tmp_path / "odd"
    (odd / "annotations").mkdir(parents=True)
    (odd / "annotations" / "instances_train2017.json").write_text("{}")
    empty = tmp_path / "empty"
    (empty / "annotations").mkdir(parents=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hi")
    cases = ((both, ["field 'annotations'", "one format", "got both"]),
             (odd, ["field 'annotations'", "person_keypoints_{train,val}2017.json", "{train,val,test}.json"]),
             (empty, ["field 'format'", "a folder of a known format", "it holds annotations/"]),
             (tmp_path / "notes", ["field 'format'", "COCO-format keypoint files", "it holds readme.txt"]))
    for root, words in cases:
        assert main(["data", "inspect", str(root)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(root) in err and all(w in err for w in words), err
    assert main(["data", "inspect", str(both), "--format", "coco_keypoints", "--show", "0"]) == 0  # named: read
    assert "2 samples read" in capsys.readouterr().out


def test_inspect_voc_root_a_file_says_so(tmp_path, capsys):
    """`--voc-root FILE` (a file, not the devkit folder): one line naming the option's field and the file, saying
    the devkit folder was expected and a file given (it said "not found" though the path exists)."""
    voc = _voc_tree(tmp_path / "voc")
    (tmp_path / "VOC2011.tar").write_bytes(b"not a folder")
    assert main(["data", "inspect", str(voc), "--voc-root", str(tmp_path / "VOC2011.tar")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "VOC2011.tar" in err and "field 'voc_root'" in err
    assert "VOC2011 devkit folder" in err and err.endswith("got a file") and "not found" not in err


def test_inspect_refuses_an_option_the_format_does_not_read(tmp_path, capsys):
    """`--coordinate-base 1` on a joints CSV, `--voc-root` on FLIC, `--skip-bad` / `--with-images` on a single .pts
    file were dropped without a word (the output as if they were not given); each is one line naming the option,
    the format and the formats that read it. An image folder is read whole anyway: `--with-images` stays taken."""
    (tmp_path / "j.csv").write_text("a.jpg,1,2,3,4\n")
    write_pts(tmp_path / "x.pts", np.ones((68, 2)))
    cases = ((["j.csv", "--coordinate-base", "1"], "coordinate_base", "joints_csv", "coco_json"),
             (["j.csv", "--voc-root", str(tmp_path)], "voc_root", "joints_csv", "voc_keypoints"),
             (["x.pts", "--skip-bad"], "skip_bad", "format pts", "300w"),
             (["x.pts", "--with-images"], "with_images", "format pts", "flic"))
    for (name, *flags), field, fmt, taker in cases:
        assert main(["data", "inspect", str(tmp_path / name), *flags]) == 2, flags
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"field '{field}'" in err and fmt in err and taker in err, err
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 6)).save(tmp_path / "imgs" / "a.png")
    assert main(["data", "inspect", str(tmp_path / "imgs"), "--with-images", "--show", "0"]) == 0
    assert "1 samples read" in capsys.readouterr().out
