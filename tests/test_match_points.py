"""Points files (`convcorr_jax.correspondence.point_files.read_points`, `convcorr match --points`): JSON, CSV,
PF-WILLOW's .mat (1-based, read 0-based) and `convcorr match`'s own output (its points_b) are read; anything else is
refused in one line naming the file and the formats; match -> output -> --points round trips."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from convcorr_cli.main import main
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.point_files import EXPECTED, read_points
from convcorr_jax.data.pf_willow import read_pts_coord
from convcorr_jax.core.errors import InputError

FAST = ["--backbone", "caffenet", "--weights", "random", "--set", "image_size=64",
        *[a for field in PointTransferConfig.ONE_NETWORK for a in ("--set", f"{field}=none")]]  # one network
coords = arrays(np.float64, st.tuples(st.integers(1, 12), st.just(2)),
                elements=st.floats(-0.5, 2000, allow_nan=False).map(lambda v: round(v, 3)))


def _write(folder: Path, kind: str, pts: np.ndarray) -> Path:
    """pts [K, 2] (0-based) written in one format."""
    rows = pts.tolist()
    if kind == "json":
        path = folder / "p.json"
        path.write_text(json.dumps(rows))
    elif kind == "json_object":
        path = folder / "p.json"
        path.write_text(json.dumps({"points": rows, "note": "from a labelling tool"}))
    elif kind == "csv":
        path = folder / "p.csv"
        path.write_text("x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in rows))
    elif kind == "mat":  # PF-WILLOW's layout: pts_coord [2 x K], MATLAB's 1-based pixels
        path = folder / "p.mat"
        sio.savemat(path, {"pts_coord": pts.T + 1.0})
    else:  # a match output: its points_b
        path = folder / "p_in_b.json"
        path.write_text(json.dumps({"image_a": "a.png", "image_b": "b.png", "points_a": [[0, 0]] * len(rows),
                                    "points_b": rows, "confidence": [0.5] * len(rows)}))
    return path


FORMAT = {"json": "json", "json_object": "json", "csv": "csv", "mat": "pf_willow_mat", "match": "match_output"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pts=coords, kind=st.sampled_from(sorted(FORMAT)))
def test_every_format_reads_back_the_points_written(pts, kind):
    with tempfile.TemporaryDirectory() as d:
        got = read_points(_write(Path(d), kind, pts))
    assert got.format == FORMAT[kind] and got.points.dtype == np.float64 and got.points.shape == pts.shape
    np.testing.assert_allclose(got.points, pts, atol=5e-4 if kind == "mat" else 0)  # .mat: read as float32


def test_a_synthetic_pf_willow_mat_is_read_zero_based(tmp_path):
    path = tmp_path / "kp.mat"
    sio.savemat(path, {"pts_coord": np.array([[1.0, 11.0, 101.0], [1.0, 21.0, 201.0]])})  # 1-based x row, y row
    got = read_points(path)
    assert got.format == "pf_willow_mat" and got.points.tolist() == [[0, 0], [10, 20], [100, 200]]


def test_a_real_pf_willow_mat_is_read_as_the_loader_reads_it(pf_root):
    path = Path(pf_root) / "car(S)" / "Cars_000a.mat"
    got = read_points(path)
    raw = sio.loadmat(path)["pts_coord"]
    assert got.format == "pf_willow_mat" and got.points.shape == (10, 2)
    np.testing.assert_allclose(got.points, raw.T - 1.0, atol=1e-4)
    np.testing.assert_array_equal(got.points, read_pts_coord(path).astype(np.float64))


def test_a_match_output_keeps_its_null_points_in_place(tmp_path):
    path = tmp_path / "kp_in_b.json"
    path.write_text(json.dumps({"points_a": [[1, 2], [3, 4], [5, 6]], "points_b": [[10, 20], None, [30, 40]]}))
    got = read_points(path)
    assert got.format == "match_output" and got.points[[0, 2]].tolist() == [[10, 20], [30, 40]]
    assert np.isnan(got.points[1]).all()
    path.write_text(json.dumps({"points_b": [None, None]}))
    with pytest.raises(InputError, match="only null points"):
        read_points(path)


def _refused(path: Path) -> str:
    with pytest.raises(InputError) as e:
        read_points(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and "\ufffd" not in msg and len(msg) < 600, msg
    return msg


def test_a_csv_header_is_read_by_its_names(tmp_path):
    """"x,y" (any case, spaced) is skipped; "y,x" is refused naming the file and the header, never read as x,y."""
    for header in ("x,y", "X, Y", "name,value"):
        (tmp_path / "p.csv").write_text(f"{header}\n10,50\n")
        np.testing.assert_array_equal(read_points(tmp_path / "p.csv").points, [[10.0, 50.0]])
    (tmp_path / "yx.csv").write_text("y,x\n10,50\n")
    with pytest.raises(InputError, match=r"yx.csv: field 'header': expected columns x,y in that order.*got y,x"):
        read_points(tmp_path / "yx.csv")


@pytest.mark.parametrize("text, row", [("1,2o\n3,4\n", "['1', '2o']"), ("0x10,2\n", "['0x10', '2']"),
                                       ("7,\n8,9\n", "['7', '']")])
def test_a_first_csv_row_holding_a_number_is_a_point_never_a_header(tmp_path, text, row):
    """A first row with a number in it is a (mistyped) point, refused naming it; it was dropped as a header, the
    points after it silently renumbered."""
    (tmp_path / "p.csv").write_text(text)
    assert f"field 'x,y rows[0]': expected two numbers x, y (pixels), got {row}" in _refused(tmp_path / "p.csv")


def test_a_json_integer_beyond_floats_range_is_refused_in_one_line(tmp_path):
    (tmp_path / "p.json").write_text("[[1" + "0" * 400 + ", 2]]")
    assert "field 'points[0]': expected two numbers x, y (pixels)" in _refused(tmp_path / "p.json")


@pytest.mark.parametrize("name, text, field, got", [
    ("p.csv", "x,y\n1,2\n3,4\n5,nan\n7,inf\n", "x,y rows[2]", "['5', 'nan'] (a NaN or infinite value; 2 such rows"),
    ("p.json", "[[1, 2], [NaN, 3]]", "points[1]", "[nan, 3] (a NaN or infinite value)"),
    ("q.json", '{"points_b": [null, [1, 2], [4, Infinity]]}', "points_b[2]", "[4, inf] (a NaN or infinite value)"),
])
def test_a_non_finite_point_is_refused_naming_its_row(tmp_path, name, text, field, got):
    """A NaN / inf point is named by its row, as `read_points` documents ("points[2]"); the line named no row, so a
    long file's bad point had to be hunted for."""
    (tmp_path / name).write_text(text)
    assert f"field '{field}': expected finite x, y, got {got}" in _refused(tmp_path / name)


@pytest.mark.parametrize("name, make, got", [
    ("photo.png", lambda p: Image.new("RGB", (8, 8)).save(p), "binary data (a PNG image)"),
    ("photo.json", lambda p: Image.new("RGB", (8, 8)).save(p, format="JPEG"), "binary data (a JPEG image)"),
    ("kp.csv", lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p),
     "binary data (a NumPy .npy file)"),
    ("other.mat", lambda p: sio.savemat(p, {"keypoints": np.zeros((2, 3))}),
     "a .mat without pts_coord (variables ['keypoints'])"),
    ("broken.mat", lambda p: p.write_bytes(b"\x00\x01garbage" * 20), "an unreadable .mat"),
    ("PF.mat", lambda p: p.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200)), "an unreadable .mat"),
    ("notes.txt", lambda p: p.write_text("my points\nthe wheel, the roof and the door\n"), "text without x,y rows"),
    ("kp.json", lambda p: p.write_text('{"keypoints": [[1, 2]]}'), "a JSON object with keys ['keypoints']"),
])
def test_other_files_are_refused_in_one_line_naming_the_formats(tmp_path, name, make, got):
    path = tmp_path / name
    make(path)
    msg = _refused(path)
    assert f"expected {EXPECTED}, got {got}" in msg, msg


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), at=st.integers(0, 299), suffix=st.sampled_from(["", ".csv",
                                                                                               ".json", ".txt"]))
def test_binary_bytes_are_refused_never_garbled(data, at, suffix):
    data = data[:at] + b"\x00" + data[at:]  # a NUL byte: not text
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"points{suffix}"
        path.write_bytes(data)
        # bytes that open with a .mat header are read as a .mat and refused as one ("PF.mat" above)
        got = "an unreadable .mat" if data.startswith(b"MATLAB") else "binary data"
        assert f"expected {EXPECTED}, got {got}" in _refused(path)


def test_a_pf_willow_mat_as_points_exits_0_and_a_png_exits_2_in_one_line(pf_root, tmp_path, capsys):
    sub = Path(pf_root) / "car(S)"
    out = tmp_path / "moved.json"
    assert main(["match", str(sub / "Cars_000a.png"), str(sub / "Cars_001b.png"), "--points",
                 str(sub / "Cars_000a.mat"), *FAST, "--out", str(out), "--figure", str(tmp_path / "f.png")]) == 0
    res = json.loads(out.read_text())
    assert res["points_format"] == "pf_willow_mat"
    np.testing.assert_allclose(res["points_a"], read_pts_coord(sub / "Cars_000a.mat"), atol=1e-3)
    capsys.readouterr()
    assert main(["match", str(sub / "Cars_000a.png"), str(sub / "Cars_001b.png"), "--points",
                 str(sub / "Cars_000a.png"), *FAST, "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"convcorr match: error: {sub / 'Cars_000a.png'}: field 'points': expected {EXPECTED}, got "
                   "binary data (a PNG image)")
    assert not (tmp_path / "x.json").exists()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A: scikit-image's cat cut to 200 x 240; B: A mirrored, 160 x 200; C: B again at 180 x 180."""
    from skimage import data

    d = tmp_path_factory.mktemp("points")
    a = data.chelsea()[50:250, 100:340]
    b = Image.fromarray(a[:, ::-1]).resize((200, 160))
    Image.fromarray(a).save(d / "a.png")
    b.save(d / "b.png")
    b.resize((180, 180)).save(d / "c.png")
    return d


def test_round_trip_match_output_as_points_carries_them_on(pair, tmp_path):
    (tmp_path / "kp.json").write_text(json.dumps([[60, 80], [120.5, 100], [300, 10]]))  # the last is off A
    assert main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(tmp_path / "kp.json"), *FAST,
                 "--method", "cos"]) == 0
    first = json.loads((tmp_path / "kp_in_b.json").read_text())
    assert first["points_b"][2] is None and first["points_b"][0] is not None
    assert main(["match", str(pair / "b.png"), str(pair / "c.png"), "--points", str(tmp_path / "kp_in_b.json"),
                 *FAST, "--method", "cos"]) == 0
    second = json.loads((tmp_path / "kp_in_b_in_c.json").read_text())
    assert second["points_format"] == "match_output" and second["points_a"] == first["points_b"]
    assert second["points_b"][2] is None and second["confidence"][2] is None  # null stays null, in its place
    assert all(p is not None for p in second["points_b"][:2])
