"""`convcorr match A B --points P`: the JSON it writes (points, confidences, settings), the figure, the default
output paths, the points file formats and one-line errors for a bad points file."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from convcorr_cli.main import main
from convcorr_cli.match import read_points
from convcorr_jax.errors import InputError

FAST = ["--backbone", "caffenet", "--weights", "random", "--set", "image_size=64"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A: scikit-image's cat (300 x 451) cut to 200 x 240; B: A mirrored left-right, 160 x 200 (another size)."""
    from skimage import data

    d = tmp_path_factory.mktemp("match")
    a = data.chelsea()[50:250, 100:340]
    b = np.asarray(Image.fromarray(a[:, ::-1]).resize((200, 160)))
    Image.fromarray(a).save(d / "a.png")
    Image.fromarray(b).save(d / "b.png")
    return d


def test_match_writes_points_confidences_and_a_figure(pair, capsys):
    pts = [[60, 80], [120.5, 100], [200, 150], [300, 10]]  # the last one is off A
    (pair / "kp.json").write_text(json.dumps({"points": pts}))
    rc = main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(pair / "kp.json"), *FAST])
    assert rc == 0
    out = json.loads((pair / "kp_in_b.json").read_text())  # default: next to the points file
    assert out["points_a"] == pts and len(out["points_b"]) == len(out["confidence"]) == 4
    assert out["points_b"][3] is None and out["confidence"][3] is None
    for (x, y), c in zip(out["points_b"][:3], out["confidence"][:3]):
        assert -0.5 <= x <= 199.5 and -0.5 <= y <= 159.5 and 0 <= c <= 1
    assert out["config"]["method"] == "ot_rhm" and out["config"]["backbone"] == "caffenet"
    assert out["config"]["image_size"] == 64 and out["tap_names"] == ["conv3", "conv4"] and out["grid"] == 8
    assert out["weights"] == "random" and "cosine" in out["confidence_is"]
    fig = pair / "kp_in_b.png"
    assert out["figure"] == str(fig) and fig.is_file() and Image.open(fig).size[0] > 200
    assert "wrote" in capsys.readouterr().out


def test_match_csv_points_with_a_header_and_chosen_outputs(pair, tmp_path):
    (tmp_path / "kp.csv").write_text("x,y\n60,80\n120.5,100\n")
    out, fig = tmp_path / "o" / "moved.json", tmp_path / "f.png"
    rc = main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(tmp_path / "kp.csv"), *FAST,
               "--method", "cos", "--out", str(out), "--figure", str(fig)])
    assert rc == 0 and fig.is_file()
    res = json.loads(out.read_text())
    assert res["points_a"] == [[60.0, 80.0], [120.5, 100.0]] and res["config"]["method"] == "cos"
    assert all(p is not None for p in res["points_b"])


def test_match_without_matplotlib_writes_its_json_and_says_the_figure_was_skipped(pair, tmp_path, monkeypatch,
                                                                               capsys):
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib` fails as when it is not installed
    (tmp_path / "kp.json").write_text(json.dumps([[60, 80], [120.5, 100]]))
    rc = main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(tmp_path / "kp.json"), *FAST,
               "--method", "cos"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    res = json.loads((tmp_path / "kp_in_b.json").read_text())
    assert res["points_a"] == [[60, 80], [120.5, 100]] and len(res["points_b"]) == 2 and res["figure"] is None
    assert not (tmp_path / "kp_in_b.png").exists()
    lines = [line for line in err.splitlines() if line.startswith("convcorr match")]
    assert lines == [f"convcorr match: figure skipped: {tmp_path / 'kp_in_b.png'} needs matplotlib: "
                     "pip install 'convcorr-jax[report]'"], err
    assert "wrote" in out and "kp_in_b.png" not in out


@pytest.mark.parametrize("name,text,field", [
    ("p.json", "[[1, 2], [3]]", "points[1]"),
    ("p.json", '{"pts": [[1, 2]]}', "points"),
    ("p.json", "[[1, 2]", "points"),
    ("p.json", "[]", "points"),
    ("p.csv", "x,y\n1,2\n3,four\n", "x,y rows[1]"),
    ("p.csv", "x,y\n", "x,y rows"),
    ("p.json", '[[1, "nan"]]', "points"),
])
def test_bad_points_file_is_one_line_naming_file_and_field(tmp_path, name, text, field):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as e:
        read_points(path)
    assert str(path) in str(e.value) and f"field '{field}'" in str(e.value) and "\n" not in str(e.value)


def test_bad_points_file_exits_2_before_any_work(pair, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"points": [[1, 2, 3]]}')
    rc = main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(bad), *FAST])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(bad) in err and "points[0]" in err
    assert not (tmp_path / "bad_in_b.json").exists()
