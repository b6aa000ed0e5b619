"""`convcorr match A B --points P`: the JSON it writes (points, confidences, settings), the figure, the default
output paths, the points file formats and one-line errors for a bad points file; the printed line, the figure's
title and the JSON's "ran" describe the settings that ran (`PointTransferConfig.describe`), as `convcorr align`'s
do (tests/test_match_points.py: every points format)."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest
from PIL import Image

from convcorr_cli import align as align_cli
from convcorr_cli import match as match_cli
from convcorr_cli.main import main
from convcorr_jax.backbones.registry import get as get_backbone
from convcorr_jax.correspondence import PointTransferConfig, Transfer
from convcorr_jax.correspondence.point_files import read_points
from convcorr_jax.core.errors import InputError
from convcorr_jax.flow.align import GridConfig

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
    out, fig = tmp_path / "o" / "moved.json", tmp_path / "figure"  # no suffix: a PNG
    rc = main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(tmp_path / "kp.csv"), *FAST,
               "--method", "cos", "--out", str(out), "--figure", str(fig)])
    assert rc == 0 and fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
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
    ("p.json", '[[1, "nan"]]', "points[0]"),  # named by its row, as documented
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


def test_an_output_over_an_input_or_another_output_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    """No input is overwritten and no output written over another: the figure as image A, --out as the points file,
    --out ending in .png (the default figure is --out with .png), align's --json as a file of its --out folder and
    an image inside --out; a figure format matplotlib cannot write. One line each, nothing read or written."""
    def never(*args, **kwargs):
        raise AssertionError("no image is read")

    monkeypatch.setattr(match_cli, "read_image", never)
    monkeypatch.setattr(align_cli, "read_image", never)
    a, b, p = (str(tmp_path / n) for n in ("a.png", "b.png", "p.json"))
    match = ["match", a, b, "--points", p, *FAST]
    for extra, flag, said in ((["--figure", a], "--figure", "an input"), (["--out", p], "--out", "an input"),
                              (["--out", str(tmp_path / "r.png")], "--figure", "another output"),
                              (["--figure", str(tmp_path / "f.xyz")], "--figure", ".png")):
        assert main([*match, *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"field '{flag}'" in err[0] and said in err[0], (extra, err)
    out = tmp_path / "aligned"
    for argv, flag in ((["align", a, b, "--out", str(out), "--json", str(out / "warp.png")], "--json"),
                       (["align", str(out / "flow.npy"), b, "--out", str(out)], "--out (flow.npy)")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"field '{flag}'" in err[0], (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []



def test_points_carried_outside_b_are_kept_flagged_and_counted(tmp_path, capsys):
    """The carry adds each point's (scaled) offset from its carrying nodes to their matches, unclamped: points near
    A's edge can land outside B. They keep their coordinates (the numbers are the library's) and are flagged in
    off_b, counted in n_off_b and in the printed line; a point off A is null in all three, counted in n_off_a and
    named in the line (it was counted nowhere: "6 points ... 5 moved" without a word on the sixth)."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    blocks = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(np.repeat(np.repeat(blocks, 8, 0), 8, 1)).save(tmp_path / "b.png")
    (tmp_path / "kp.json").write_text(json.dumps([[0, 0], [0, 63], [63, 0], [63, 63], [32, 32], [70, 5]]))
    assert main(["match", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--points", str(tmp_path / "kp.json"),
                 "--backbone", "caffenet", "--weights", "random", "--method", "cos", "--set", "image_size=64",
                 *[a for field in PointTransferConfig.ONE_NETWORK for a in ("--set", f"{field}=none")]]) == 0
    res = json.loads((tmp_path / "kp_in_b.json").read_text())
    pb = res["points_b"]
    outside = [p is not None and not (-0.5 <= p[0] <= 63.5 and -0.5 <= p[1] <= 63.5) for p in pb]
    assert any(outside) and pb[5] is None  # this seed carries some corner points past B's edge
    assert res["off_b"] == [o if p is not None else None for p, o in zip(pb, outside)]
    assert res["n_off_b"] == sum(outside)
    line = capsys.readouterr().out
    assert res["n_off_a"] == 1
    assert f"matched 6 points of {tmp_path / 'a.png'} into {tmp_path / 'b.png'}: 5 moved (1 off A: null in " \
        f"points_b), {sum(outside)} of them outside B (off_b);" in line, line


def _spy(monkeypatch, fake: bool):
    """Record the config `convcorr match` hands transfer_points and the title it gives the figure; `fake`: the
    transfer returns the points unmoved (no network runs)."""
    seen = {}
    real, real_draw = match_cli.transfer_points, match_cli.draw

    def transfer(a, b, pts, weights=None, config=None):
        seen["config"] = config
        if fake:
            return Transfer(np.asarray(pts, np.float64), np.ones(len(pts)))
        return real(a, b, pts, weights=weights, config=config)

    def draw(path, a, b, pa, pb, names=("A", "B"), title=""):
        seen["title"] = title
        real_draw(path, a, b, pa, pb, names, title)

    monkeypatch.setattr(match_cli, "transfer_points", transfer)
    monkeypatch.setattr(match_cli, "draw", draw)
    return seen


@pytest.mark.parametrize("argv, says, not_said", [
    ([], ("OT + RHM (ot_rhm)", "vgg16 conv4_1+conv5_1+conv5_2", "mobilenet_v2 block13+block14",
          "efficientnet_lite2 block14+block18", "mobilenet_v2 CAM prior (top 2)", "224 px frames, grid 8 px"),
     ()),  # the default: three networks
    ([a for field in PointTransferConfig.ONE_NETWORK for a in ("--set", f"{field}=none")],  # as `match --help` says
     ("vgg16 conv4_1+conv5_1+conv5_2 hyperpixels",), ("mobilenet", "efficientnet", "prior")),
    (["--method", "bp"], ("BP flow (bp) on vgg16 conv4_1+conv5_1+conv5_2 hyperpixels", "grid 16 px"),
     ("mobilenet", "efficientnet", "prior")),  # BP flow: one network, no prior
    (["--set", "features=sift"], ("BP flow (bp) on dense SIFT",), ("vgg16", "mobilenet", "efficientnet", "prior")),
])
def test_match_says_what_runs_in_its_line_figure_title_and_json(pair, tmp_path, monkeypatch, capsys, argv, says,
                                                               not_said):
    seen = _spy(monkeypatch, fake=True)
    (tmp_path / "kp.json").write_text(json.dumps([[60, 80], [120.5, 100]]))
    assert main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(tmp_path / "kp.json"),
                 *argv]) == 0
    ran = seen["config"].describe()
    line = capsys.readouterr().out.strip()
    res = json.loads((tmp_path / "kp_in_b.json").read_text())
    assert f"; {ran}; wrote" in line and seen["title"] == f"2 points transferred: {ran}" and res["ran"] == ran
    assert res["networks"] == [{"backbone": n, "taps": list(t)} for n, t in seen["config"].networks]
    for text in (line, seen["title"], res["ran"]):
        assert all(s in text for s in says) and not any(s in text for s in not_said), text


def test_match_describes_the_config_that_ran_with_a_real_transfer(pair, tmp_path, monkeypatch, capsys):
    seen = _spy(monkeypatch, fake=False)
    (tmp_path / "kp.csv").write_text("60,80\n120.5,100\n")
    assert main(["match", str(pair / "a.png"), str(pair / "b.png"), "--points", str(tmp_path / "kp.csv"),
                 *FAST]) == 0
    cfg = seen["config"]
    assert cfg.backbone == "caffenet" and cfg.extra_backbone == "mobilenet_v2" and cfg.prior == "mobilenet_v2"
    assert cfg.third_backbone == "efficientnet_lite2"
    ran = cfg.describe()
    assert ran == ("OT + RHM (ot_rhm) on caffenet conv3+conv4 + mobilenet_v2 block13+block14 + efficientnet_lite2 "
                   "block14+block18 hyperpixels, mobilenet_v2 CAM prior (top 2), 64 px frames, grid 8 px")
    res = json.loads((tmp_path / "kp_in_b.json").read_text())
    assert res["ran"] == ran and seen["title"].endswith(ran) and ran in capsys.readouterr().out
    assert res["points_format"] == "csv"


def test_the_default_config_names_the_three_networks_and_the_prior():
    ran = PointTransferConfig().describe()
    assert ran.startswith("OT + RHM (ot_rhm) on vgg16 ") and "+ mobilenet_v2 block13+block14" in ran
    assert "+ efficientnet_lite2 block14+block18 hyperpixels" in ran
    assert "mobilenet_v2 CAM prior" in ran
    cos = PointTransferConfig(method="cos", scales=(0.5, 1.0), flip_source=True).describe()
    assert "at scales 0.5/1" in cos and "(top 2, unused by cos)" in cos and "mirrored source tried" in cos
    assert PointTransferConfig(features="none").describe().startswith("zero flow (features none)")


@pytest.mark.parametrize("extra, says", [
    ([], "BP flow on caffenet conv4 (its conv4 tap)"),
    (["--features", "sift"], "BP flow on dense SIFT at caffenet conv4's grid (stride 16 px)"),
])
def test_align_says_what_runs(pair, tmp_path, monkeypatch, capsys, extra, says):
    seen = {}
    real = align_cli._save_figure

    def save(path, *a, **k):
        seen["title"] = a[4]
        real(path, *a, **k)

    monkeypatch.setattr(align_cli, "_save_figure", save)
    assert main(["align", str(pair / "a.png"), str(pair / "b.png"), "--out", str(tmp_path / "o"), "--backbone",
                 "caffenet", "--weights", "random", "--max-side", "90", "--iters", "2", *extra]) == 0
    summary = json.loads((tmp_path / "o" / "energy.json").read_text())
    assert summary["ran"] == says and seen["title"].startswith(f"a.png -> b.png: {says}, grid ")
    assert f"({says}, grid " in capsys.readouterr().out


def test_align_grid_flags_default_to_the_grid_configs():
    """--window/--iters/--levels unset: GridConfig's settings (8 iterations, not BPConfig's 10); set: as given."""
    p = argparse.ArgumentParser()
    align_cli.add_arguments(p)
    cfg = align_cli._settings(p.parse_args(["a.png", "b.png", "--out", "o"]))
    assert (cfg.beta, cfg.window, cfg.iters, cfg.levels) == (GridConfig.beta, None, GridConfig.iters, GridConfig.levels)
    cfg = align_cli._settings(p.parse_args(["a.png", "b.png", "--out", "o", "--window", "3", "--iters", "2",
                                            "--levels", "1"]))
    assert (cfg.window, cfg.iters, cfg.levels) == (3, 2, 1)


def test_align_dense_names_the_pixel_features_set_not_the_flag():
    p = argparse.ArgumentParser()
    align_cli.add_arguments(p)
    parsed = p.parse_args(["a.png", "b.png", "--out", "o", "--dense", "--set", "pixel_features=grad"])
    cfg = align_cli._settings(parsed)
    ran = align_cli.describe(parsed, cfg, get_backbone("mobilenet_v2"))
    assert cfg.pixel_features == "grad" and parsed.pixel_features is None
    assert ran == "dense flow, coarse to fine: mobilenet_v2 block12 + block6 + block3, then grad pixel features"


def _stub_dense_align(monkeypatch, fail: bool = False):
    """`convcorr align --dense` without a network or a solve: caffenet's random weights are not even made, the flow
    is zeros at A's size, the figure a placeholder file (written atomically like the real one)."""
    from types import SimpleNamespace

    from convcorr_jax.core import io

    def solve(a, b, backbone, params, cfg, max_side):
        if fail:
            raise InputError("align_images", "image_b", "a solvable pair", "a failure in the solve")
        return SimpleNamespace(flow=np.zeros((*a.shape[:2], 2), np.float32), b_resized=b, warped=b, scale=1.0)

    monkeypatch.setattr(align_cli, "load_backbone", lambda name, weights: (get_backbone(name), {}))
    monkeypatch.setattr(align_cli, "align_images", solve)
    monkeypatch.setattr(align_cli, "_save_figure", lambda path, *a, **k: io.write_bytes(path, b"png"))


def test_align_dense_removes_the_grid_xy_of_an_earlier_grid_run_and_nothing_else(tmp_path, monkeypatch, capsys):
    """A --dense run into the folder of an earlier grid run: its grid_xy.npy (no longer matching flow.npy) goes once
    the flow is solved, so the folder holds one run; the user's files beside it, a grid_xy.npy that is a folder and
    every file of a run that fails stay."""
    _stub_dense_align(monkeypatch)
    for name, size in (("a.png", (96, 64)), ("b.png", (96, 64))):
        Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(tmp_path / name)
    out = tmp_path / "o"
    out.mkdir()
    earlier = {"flow.npy": b"grid flow", "grid_xy.npy": b"grid points", "energy.json": b"{}", "warp.png": b"old",
               "notes.txt": b"mine", "grid_xy.npy.bak": b"mine too"}
    for name, data in earlier.items():
        (out / name).write_bytes(data)
    (out / "runs").mkdir()
    (out / "runs" / "grid_xy.npy").write_bytes(b"in a sub-folder: not an output of this folder")
    argv = ["align", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--dense", "--out", str(out), "--backbone",
            "caffenet", "--weights", "random"]
    _stub_dense_align(monkeypatch, fail=True)
    assert main(argv) == 2 and "a failure in the solve" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == earlier  # a failed run changes nothing
    _stub_dense_align(monkeypatch)
    assert main(argv) == 0
    assert capsys.readouterr().out.rstrip().endswith("; removed grid_xy.npy of an earlier run")
    assert sorted(p.name for p in out.iterdir()) == ["energy.json", "flow.npy", "grid_xy.npy.bak", "notes.txt", "runs",
                                                      "warp.png"]
    assert np.load(out / "flow.npy").shape == (64, 96, 2) and json.loads((out / "energy.json").read_text())["dense"]
    assert (out / "notes.txt").read_bytes() == b"mine" and (out / "runs" / "grid_xy.npy").is_file()
    assert main(argv) == 0 and "removed" not in capsys.readouterr().out  # again: nothing stale
    (out / "grid_xy.npy").mkdir()  # a folder by that name is not a file align wrote: it stays
    (out / "grid_xy.npy" / "x").write_bytes(b"mine")
    assert main(argv) == 0 and "removed" not in capsys.readouterr().out
    assert (out / "grid_xy.npy" / "x").read_bytes() == b"mine"


def test_off_b_is_judged_on_the_points_as_written(tmp_path, monkeypatch):
    """points_b is written to 3 decimals and read back as the points of B (`match B C --points OUT.json`): a point
    carried 0.0004 px past B's edge is written on the edge (63.5 of a 64-px B), so it is not flagged off B, as
    reading it back finds it on B; one 0.0006 px past is written past the edge and flagged."""
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "kp.json").write_text(json.dumps([[10, 10], [20, 20], [30, 30]]))
    carried = np.array([[63.5004, 5.0], [63.5006, 5.0], [-0.5004, 5.0]])
    monkeypatch.setattr(match_cli, "transfer_points", lambda a, b, pts, weights=None, config=None:
                        Transfer(carried, np.ones(len(pts))))
    monkeypatch.setattr(match_cli, "draw", lambda *a, **k: None)
    assert main(["match", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--points", str(tmp_path / "kp.json"),
                 "--figure", str(tmp_path / "fig.png")]) == 0
    res = json.loads((tmp_path / "kp_in_b.json").read_text())
    assert res["points_b"] == [[63.5, 5.0], [63.501, 5.0], [-0.5, 5.0]]
    back = read_points(tmp_path / "kp_in_b.json").points
    assert res["off_b"] == [not (-0.5 <= x <= 63.5 and -0.5 <= y <= 63.5) for x, y in back] == [False, True, False]
    assert res["n_off_b"] == 1
