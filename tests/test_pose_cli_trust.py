"""`convcorr pose` and `pose.estimate` check every box and point where it enters, record what was used, and say one
line where a user needs one: boxes inverted, not finite or wholly outside the image and torso points outside their
frame are refused by both (one check, `geometry.check_box` / `check_point`); the JSON holds the model's digest and
every box and point used (two passes included); a command that would write nothing is refused; `--box` says once
that it means the torso box; the PNG shows the boxes; with no box a FLIC crop model runs two passes, and says so.

The shipped `flic` model (in the package) on small synthetic images: no dataset is read."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convcorr_cli import pose as pose_cli
from convcorr_cli import pose_draw, pose_flags
from convcorr_cli.main import main
from convcorr_jax.core import geometry
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import shipped
from convcorr_jax.pose.estimation import estimate, load, model_identity

H, W = 96, 128  # the synthetic images' size


def _ok_box(b, h: int = H, w: int = W) -> bool:
    """The rule, written out: four finite numbers, ordered, overlapping the image's pixels, no corner more than
    `BOX_REACH` times the image's longer side beyond it."""
    reach = geometry.BOX_REACH * max(h, w)
    return (len(b) == 4 and all(math.isfinite(v) for v in b) and b[0] <= b[2] and b[1] <= b[3]
            and b[0] < w and b[1] < h and b[2] > -1 and b[3] > -1
            and min(b[0], b[1]) >= -reach and b[2] <= w - 1 + reach and b[3] <= h - 1 + reach)


coord = st.one_of(st.floats(-300, 400, allow_nan=False), st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -0.5,
                                                                          0.0, W - 1.0, W, H - 1.0, H, -1e300, 1e300,
                                                                          -10 * W, 11 * W - 1, 11 * W]))


@settings(max_examples=300, deadline=None)
@given(box=st.lists(coord, min_size=4, max_size=4), h=st.integers(1, 300), w=st.integers(1, 300))
def test_check_box_accepts_exactly_the_finite_ordered_boxes_that_overlap_the_image(box, h, w):
    if _ok_box(box, h, w):
        np.testing.assert_array_equal(geometry.check_box(np.array(box), (h, w), "f", "boxes[0]", "images[0]"), box)
        return
    with pytest.raises(InputError) as e:
        geometry.check_box(np.array(box), (h, w), "f", "boxes[0]", "images[0]")
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and "boxes[0]" in msg and f"images[0] ({w} x {h} px" in msg


@settings(max_examples=200, deadline=None)
@given(point=st.lists(coord, min_size=2, max_size=2))
def test_check_point_accepts_exactly_the_points_inside_the_image(point):
    inside = all(math.isfinite(v) for v in point) and 0 <= point[0] <= W - 1 and 0 <= point[1] <= H - 1
    if inside:
        np.testing.assert_array_equal(geometry.check_point(point, (H, W), "f", "torso[0]"), point)
    else:
        with pytest.raises(InputError, match=r"torso\[0\].*inside the image \(128 x 96 px"):
            geometry.check_point(point, (H, W), "f", "torso[0]")


token = st.one_of(coord.map(repr), st.sampled_from(["", "x", "1e3", " 5", "0x10"]))


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(token, min_size=1, max_size=6))
def test_box_strings_of_the_command_line_are_checked_as_arrays_are(tokens):
    """A --person-box / --torso-box text is accepted exactly when it is four numbers making a box `_ok_box` takes;
    otherwise one line naming the flag, the image, its size and the text given."""
    text = ",".join(tokens)
    try:
        numbers = [float(t) for t in tokens]
    except ValueError:
        numbers = []
    if _ok_box(numbers):
        got = pose_flags.parse_boxes([text], ["a.png"], [(H, W)], "--person-box")
        np.testing.assert_array_equal(got[0], numbers)
        return
    with pytest.raises(InputError) as e:
        pose_flags.parse_boxes([text], ["a.png"], [(H, W)], "--person-box")
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and "--person-box" in msg and "a.png (128 x 96 px" in msg
    assert msg.endswith(f"got {text}")


def _image(tmp_path: Path, name: str = "img.png", value: int = 128) -> Path:
    path = tmp_path / name
    Image.fromarray(np.full((H, W, 3), value, np.uint8)).save(path)
    return path


BAD_BOXES = {"inverted": "50,10,20,60", "not finite": "0,0,nan,60", "infinite": "0,0,inf,60",
             "wholly outside": "1000,1000,1100,1100", "left of the image": "-40,0,-1,50"}


@pytest.mark.parametrize("flag", ["--person-box", "--torso-box"])
@pytest.mark.parametrize("what", sorted(BAD_BOXES))
def test_cli_refuses_bad_boxes_in_one_line_naming_the_image(tmp_path, capsys, flag, what):
    img, js = _image(tmp_path), tmp_path / "j.json"
    assert main(["pose", str(img), f"{flag}={BAD_BOXES[what]}", "--json", str(js)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and str(img) in err[0] and BAD_BOXES[what] in err[0], err
    assert not js.exists()


def test_cli_refuses_a_torso_point_outside_its_frame(tmp_path, capsys):
    img, js = _image(tmp_path), tmp_path / "j.json"
    for point in ("128,10", "-1,5", "5,nan", "3"):
        assert main(["pose", str(img), "--two-pass", f"--torso={point}", "--json", str(js)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--torso" in err[0] and "inside" in err[0] and point in err[0], err
    assert not js.exists()


def test_estimate_takes_one_box_however_given_and_names_what_is_not_a_setting():
    """One image's single box is one box as an array [4], a list or a tuple of numbers (a list was taken for four
    boxes: "expected 1 boxes, got 4"); a number for the boxes, scales that are not numbers, a flip that is not a
    bool and a ragged torso for two passes are one InputError each (were TypeError / ValueError, or flip="yes"
    silently on)."""
    img = np.full((H, W, 3), 128, np.uint8)
    box, fast = (20, 10, 60, 80), {"flip": False, "scales": (1.0,), "spatial": False}
    want = estimate(img, "flic", torso_boxes=np.array(box), **fast).points
    for as_given in (list(box), box, [float(v) for v in box], [box]):
        np.testing.assert_array_equal(estimate(img, "flic", torso_boxes=as_given, **fast).points, want)
    for kw, field in (({"person_boxes": 5}, "person_boxes"), ({"scales": "0.8,x"}, "scales"),
                      ({"scales": [[1.0, 0.9]]}, "scales"), ({"two_pass": True, "flip": "yes"}, "flip"),
                      ({"two_pass": True, "torso": [[1, 2], None]}, "torso"),
                      ({"two_pass": True, "torso": [[1, 2], [3]]}, "torso")):
        with pytest.raises(InputError, match=f"field '{field}'"):
            estimate([img, img], "flic", **kw)


def test_estimate_refuses_bad_boxes_and_points_in_one_line():
    img = np.full((H, W, 3), 128, np.uint8)
    for name in ("torso_boxes", "person_boxes"):
        for bad in ((50, 10, 20, 60), (0, 0, np.nan, 60), (1000, 1000, 1100, 1100), (0, 0, 1, 2, 3)):
            with pytest.raises(InputError) as e:
                estimate([img, img], "flic", **{name: [(0, 0, 10, 10), bad]})
            msg = str(e.value)
            assert len(msg.splitlines()) == 1 and f"{name}[1]" in msg and "images[1] (128 x 96 px" in msg, msg
    with pytest.raises(InputError, match=r"torso\[0\].*inside images\[0\]"):
        estimate(img, "flic", two_pass=True, torso=[[500.0, 5.0]])
    from convcorr_jax.pose import person_boxes as pb

    run = load("flic")
    with pytest.raises(InputError, match=r"find_torso_boxes: field 'person_boxes\[0\]'"):
        pb.find_torso_boxes(run.params, run.config.model, [img], np.array([[200.0, 0, 300, 50]]), 1.0, "cascade",
                            (0, 3, 6, 7))


def test_two_pass_settings_take_numpy_numbers_and_refuse_what_is_not_a_finite_number_in_one_line():
    """second_pass as a numpy float (a sweep's value) is a crop scale (was refused: "expected a crop scale factor > 0,
    got 0.9"); an infinite second_pass is refused by name (was box_to_affine's error about 'boxes' of NaN, after the
    first pass); an input_size that is not an integer is refused (was truncated, 288.5 read as 288, or int()'s
    ValueError for text)."""
    from convcorr_jax.pose import two_pass

    assert two_pass._check_settings(np.float32(0.5), np.int64(1), None)[:2] == (0.5, 1)
    img = np.full((H, W, 3), 128, np.uint8)
    for kw, field in (({"second_pass": np.inf}, "second_pass"), ({"second_pass": True}, "second_pass"),
                      ({"input_size": 288.5}, "input_size"), ({"input_size": "288"}, "input_size"),
                      ({"input_size": True}, "input_size")):
        with pytest.raises(InputError, match=f"field '{field}'"):
            two_pass.estimate_frames(img, "flic", **kw)
    with pytest.raises(InputError, match="field 'input_size'"):
        two_pass.first_pass(img, "flic", input_size=288.5)


def test_the_found_torso_box_of_two_passes_is_the_one_their_crops_are_placed_around():
    """`flic_affines` of the recorded torso box at the run's crop scale x s is `recrop.crop_affines` of the first
    pass's points at crop scale x second_pass x s (the second pass's crop at scale s)."""
    from convcorr_jax.core.crop_geometry import flic_affines, frame_affines
    from convcorr_jax.pose import person_boxes as pb
    from convcorr_jax.pose import predict, recrop

    rng = np.random.default_rng(0)
    frame = frame_affines(np.array([[360.0, 240.0], [200.0, 300.0]]), 288)
    first = rng.uniform(40, 250, (2, 11, 2))
    box = pb.torso_from_points(predict.to_original(first, frame), recrop.TORSO, 0.93, 0.9)
    for s in (0.7, 1.0, 1.2):
        np.testing.assert_allclose(flic_affines(box, 128, 2.5 * s),
                                   recrop.crop_affines(first, frame, recrop.TORSO, 128, 2.5 * 0.9 * s, 0.93), atol=1e-9)


def test_drawings_get_one_file_per_image_whatever_the_names():
    """<out>/<name>_pose.png, a repeated name the first free suffix: never another image's own name."""
    for images, want in ((["a/photo.jpg", "b/photo.jpg", "photo_2.jpg"], ["photo", "photo_3", "photo_2"]),
                         (["x.jpg", "x.png", "x.jpg"], ["x", "x_2", "x_3"]),
                         (["p_2.jpg", "p.jpg", "q/p.jpg", "r/p.jpg"], ["p_2", "p", "p_3", "p_4"])):
        paths = pose_flags.png_paths(Path("out"), images)
        assert [p.name for p in paths] == [f"{w}_pose.png" for w in want] and len(set(paths)) == len(images)


def test_a_command_that_would_write_nothing_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """No --out and no --json: one line once the model is known, before an image is read or estimated."""
    img = _image(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("no image is read")

    monkeypatch.setattr(pose_cli, "read_image", never)
    monkeypatch.setattr(pose_cli, "estimate", never)
    for extra in ([], ["--person-box", "0,0,10,10"], ["--two-pass"]):
        assert main(["pose", str(img), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out" in err[0] and "--json" in err[0] and "nothing" in err[0], err
    assert main(["pose", "--list-models"]) == 0  # writes nothing but prints: not refused
    for named, extra in (("IMAGES", [str(img)]), ("--out", ["--out", str(tmp_path / "o")]), ("--out", ["--out", ""]),
                         ("--json", ["--json", str(tmp_path / "j.json")]), ("--person-box", ["--person-box", "1,2"]),
                         ("--model", ["--model", "flic"]), ("--batch", ["--batch", "2"])):
        assert main(["pose", "--list-models", *extra]) == 2, extra  # the listing takes no other flag: refused
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--list-models" in err[0] and named in err[0].split("got")[-1], (extra, err)
    assert not (tmp_path / "o").exists() and not (tmp_path / "j.json").exists()


def test_a_drawing_path_that_is_a_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """--out DIR holding a folder named like an image's drawing: one line naming it before any estimate, no other
    drawing or JSON written (it failed after the work with a traceback, the drawings before it written)."""
    imgs = [_image(tmp_path, "a.png"), _image(tmp_path, "b.png")]

    def never(*args, **kwargs):
        raise AssertionError("nothing is estimated")

    monkeypatch.setattr(pose_cli, "estimate", never)
    out = tmp_path / "out"
    (out / "b_pose.png").mkdir(parents=True)
    assert main(["pose", *map(str, imgs), "--out", str(out), "--json", str(tmp_path / "j.json"),
                 "--model", "flic", "--torso-box", "10,10,50,50", "--torso-box", "10,10,50,50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out / "b_pose.png") in err[0] and "--out" in err[0], err
    assert [p.name for p in out.iterdir()] == ["b_pose.png"] and not (tmp_path / "j.json").exists()


def test_a_json_path_at_the_out_folder_or_above_it_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """--json naming the --out folder (or a folder above it), neither there yet: one line naming --json before any
    estimate (the drawings were written into the folder, then the JSON's rename onto it failed with a traceback,
    exit 1)."""
    img = _image(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("nothing is estimated")

    monkeypatch.setattr(pose_cli, "estimate", never)
    for out, json_path in (("same", "same"), ("same/sub", "same"), ("same", "./same/")):
        assert main(["pose", str(img), "--out", str(tmp_path / out), "--json", str(tmp_path / json_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "field '--json'" in err[0] and "not a folder above --out (img_pose.png)" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]


@pytest.fixture(scope="module")
def no_box_run(tmp_path_factory):
    """`convcorr pose IMG --out DIR --json FILE --scales 1` with the shipped flic model and no box; (JSON, stdout,
    folder)."""
    tmp = tmp_path_factory.mktemp("no_box")
    img = np.zeros((H, W, 3), np.uint8)
    img[20:80, 50:80] = 200  # something in the middle
    Image.fromarray(img).save(tmp / "img.png")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["pose", str(tmp / "img.png"), "--out", str(tmp / "out"), "--json", str(tmp / "j.json"),
                     "--scales", "1", "--model", "flic"]) == 0
    return json.loads((tmp / "j.json").read_text()), out.getvalue(), tmp


# the whole-frame case runs flic_256's two passes and is slow (`make test-all`); the no-box test below runs two
# passes through the command with flic, and tests/test_docs_commands.py's `pose photo.jpg --two-pass` flic_256's
@pytest.mark.parametrize("case, flags, model", [
    ("none", [], "person"), ("person", ["--person-box", "40,10,90,90"], "person"),
    ("torso", ["--torso-box", "50,20,80,60"], "flic"),
    pytest.param("frame", ["--two-pass", "--scales", "1"], "flic_256", marks=pytest.mark.slow)])
def test_the_default_model_is_person_for_photos_and_flic_for_flics_protocol(tmp_path, case, flags, model):
    """No --model: `person` with a person box or none (the whole image is the box), `flic` with a torso box,
    `flic_256` in its own two passes for a whole frame (--two-pass)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[20:80, 50:80] = 200
    Image.fromarray(img).save(tmp_path / "img.png")
    assert main(["pose", str(tmp_path / "img.png"), *flags, "--json", str(tmp_path / "out.json")]) == 0
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["model"]["name"] == model
    # that two passes give estimate's points: the next test (flic) and test_pose_shipped.py (flic_256, slow tier)
    assert got["two_pass"] is (case == "frame")
    joints = len(got["images"][0]["joints"])
    if case == "none":
        assert got["input"] == "the whole image letterboxed (no box given)"
    if model == "person":
        assert joints == 17 and got["flip"] is True  # the person model's own test-time flip (readout.json)
    if case == "torso":
        assert joints == 11


def test_whole_frames_load_flic_256_when_no_model_is_named(tmp_path, monkeypatch):
    """The fast half of the slow whole-frame case above: `--two-pass` without --model loads `flic_256`, with
    --model the model named."""
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "img.png")
    loaded = []

    def stop(model):
        loaded.append(model)
        raise InputError(None, "--model", "(stopped by the test)", model)

    monkeypatch.setattr(pose_cli, "load", stop)
    for flags in ([], ["--model", "flic"]):
        assert main(["pose", str(tmp_path / "img.png"), "--two-pass", *flags, "--json", str(tmp_path / "j.json")]) == 2
    assert loaded == ["flic_256", "flic"]


def test_no_box_runs_two_passes_from_the_frames_centre_and_says_so(no_box_run):
    res, out, tmp = no_box_run
    assert res["two_pass"] is True and res["no_box"] == "two passes from each frame's centre"
    assert res["input"] == "whole frames in two passes from each frame's centre (no box given)"
    assert res["readout"] == f"two-pass {load('flic').readout.name}" and res["spatial"] is True and res["flip"] is True
    im = res["images"][0]
    assert im["person_box"] is None and im["torso_from"] == "the frame's centre"
    assert im["torso"] == [(W - 1) / 2, (H - 1) / 2]
    assert im["torso_box_from"] == "found by the first pass" and len(im["torso_box"]) == 4
    want = estimate(np.asarray(Image.open(tmp / "img.png").convert("RGB")), "flic", two_pass=True, scales=(1.0,))
    np.testing.assert_allclose(im["torso_box"], want.torso_boxes[0], atol=1e-3)
    np.testing.assert_allclose([[j["x"], j["y"]] for j in im["joints"]], want.points[0], atol=1e-3)
    assert res["warn_below"] == load("flic").readout.warn_below  # two passes warn as crops do
    assert (im["warning"] is not None) == bool(want.warned[0])


@pytest.mark.parametrize("model, passes", [("flic", "two"), ("flic_256", "three")])
def test_whole_frames_say_how_many_passes_the_model_makes(model, passes):
    """`flic_256` refines once more over whole frames (its own frame settings, a third pass): the summary line and
    the JSON's "input" say three passes, as the README and --list-models do, not the protocol's two."""
    import argparse

    parser = argparse.ArgumentParser()
    pose_cli.add_arguments(parser)
    r = load(model)
    plan = pose_flags.make_plan(parser.parse_args(["img.png", "--two-pass", "--torso", "5,5", "--json", "j"]), r)
    assert plan["input"] == f"whole frames in {passes} passes from the torso points given"
    plan = pose_flags.make_plan(parser.parse_args(["img.png", "--json", "j"]), r)
    assert plan["no_box"] == f"{passes} passes from each frame's centre"
    assert plan["input"] == f"whole frames in {passes} passes from each frame's centre (no box given)"



def test_without_flip_or_scales_the_command_uses_the_models_own_as_its_help_says():
    """`convcorr pose` without --flip / --scales reads with the model's own test-time flip and scales (`person`'s:
    flip on, crop scale 0.9; `flic`'s: off and 1), and the command's documentation says so, not "off and 1"."""
    import argparse

    parser = argparse.ArgumentParser()
    pose_cli.add_arguments(parser)
    for model in ("person", "flic"):
        r = load(model)
        plan = pose_flags.make_plan(parser.parse_args(["img.png", "--person-box", "0,0,9,9", "--json", "j"]), r)
        assert (plan["flip"], tuple(plan["scales"]), plan["merge"]) == (*r.test_time, "mean")
    assert load("person").test_time == (True, (0.9,))
    doc = " ".join(pose_cli.__doc__.split())
    assert "unless given: the model's own flip and scales" in doc and "(off, 1 and mean unless given" not in doc

def test_the_json_names_the_model_by_its_digest(no_box_run):
    res = no_box_run[0]
    params = shipped.MODELS / "flic" / shipped.PARAMS_FILE
    assert res["model"]["name"] == "flic" and res["model"]["kind"] == "shipped" and res["model"]["given"] == "flic"
    assert res["model"]["digest"] == "sha256:" + hashlib.sha256(params.read_bytes()).hexdigest()
    assert res["model"]["digest"] == "sha256:" + shipped.describe("flic")["files"][shipped.PARAMS_FILE]


def test_the_printed_lines_say_what_the_json_records(no_box_run):
    """The summary line is the JSON's "summary" (and names the input, the read-out and the digest); the image's
    line names the torso box and point the JSON holds; the help says what the run did."""
    res, out, tmp = no_box_run
    lines = out.strip().splitlines()
    assert lines[-1].startswith(res["summary"] + " (")
    assert res["input"] in lines[-1] and res["readout"] in lines[-1] and res["model"]["digest"][:19] in lines[-1]
    im = res["images"][0]
    first = next(ln for ln in lines if ln.startswith(im["image"] + ": 11 joints"))
    assert f"torso box (found by the first pass) {','.join(f'{v:.1f}' for v in im['torso_box'])}" in first
    assert f"torso point (the frame's centre) {(W - 1) / 2:.1f},{(H - 1) / 2:.1f}" in first
    assert f"mean confidence {im['mean_confidence']:.2f}" in first
    import argparse

    parser = argparse.ArgumentParser()
    pose_cli.add_arguments(parser)
    helps = {a.dest: a.help for a in parser._actions}
    assert "two passes" in helps["two_pass"] and "with no box" in helps["two_pass"]
    assert "always on in two passes" in helps["spatial"] and res["spatial"] is True
    assert "in two passes always on" in helps["flip"] and res["flip"] is True


def test_png_shows_the_boxes_given_and_found(tmp_path, capsys):
    """A person box partly outside the image is accepted: the PNG draws it (white, edged in black) and the torso
    box found inside it (black, edged in white), both named in the legend; the JSON records both, and the joints
    are `estimate`'s with that person box."""
    img = _image(tmp_path)
    box = [-20.0, 10.0, 90.0, 150.0]  # partly outside: people are cut by the frame
    js, out = tmp_path / "j.json", tmp_path / "out"
    assert main(["pose", str(img), "--person-box=" + ",".join(map(str, box)), "--model", "flic", "--out", str(out),
                 "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    im = res["images"][0]
    assert res["input"].startswith("the person boxes given") and res["no_box"] is None and res["two_pass"] is False
    assert im["person_box"] == box and im["torso_box_from"] == "found inside the person box"
    want = estimate(np.asarray(Image.open(img)), "flic", person_boxes=[box])
    np.testing.assert_allclose(im["torso_box"], want.torso_boxes[0], atol=1e-3)
    np.testing.assert_allclose([[j["x"], j["y"]] for j in im["joints"]], want.points[0], atol=1e-3)
    drawn = np.asarray(Image.open(out / "img_pose.png").convert("RGB"))
    assert drawn.shape[0] > H  # the legend strip
    x1, y0 = int(box[2]), int(box[1])  # the person box's right and top edges, inside the image
    rows = drawn[y0 + 5:min(H, int(box[3])) - 5, x1]
    assert (rows == 255).all(-1).mean() > 0.5  # white along its right edge
    legend = drawn[H:]
    assert (legend == 0).all(-1).any() and (legend == 255).all(-1).any()
    capsys.readouterr()


def test_one_image_with_two_person_boxes_writes_both_people(tmp_path, capsys):
    """Several people in one photo: one image with --person-box given twice is two people (was refused: one box per
    image), each with its box and `estimate`'s joints in the JSON, a line each, both drawn on the one PNG; with two
    images the flag stays once per image, and the error says how for one photo."""
    img, js, out = _image(tmp_path), tmp_path / "j.json", tmp_path / "out"
    boxes = [[5.0, 5.0, 60.0, 90.0], [66.0, 4.0, 120.0, 88.0]]
    flags = [f"--person-box={','.join(map(str, b))}" for b in boxes]
    capsys.readouterr()
    assert main(["pose", str(img), *flags, "--model", "flic", "--out", str(out), "--json", str(js)]) == 0
    printed = capsys.readouterr().out
    res = json.loads(js.read_text())
    want = estimate(np.asarray(Image.open(img)), "flic", person_boxes=boxes)
    assert [im["image"] for im in res["images"]] == [str(img)] * 2
    assert [im["person_box"] for im in res["images"]] == boxes
    for im, pts in zip(res["images"], want.points):
        np.testing.assert_allclose([[j["x"], j["y"]] for j in im["joints"]], pts, atol=1e-3)
    assert res["png"] == [str(out / "img_pose.png")] and sorted(p.name for p in out.iterdir()) == ["img_pose.png"]
    assert "(person 1 of 2)" in printed and "(person 2 of 2)" in printed
    assert "pose: 1 image(s), 2 people, model flic (sha256:" in printed
    drawn = np.asarray(Image.open(out / "img_pose.png").convert("RGB"))
    for b in boxes:  # each person box white along its right edge
        assert (drawn[int(b[1]) + 5:int(b[3]) - 5, int(b[2])] == 255).all(-1).mean() > 0.5
    b = _image(tmp_path, "b.png", 90)
    assert main(["pose", str(img), str(b), *flags, "--person-box=1,1,9,9", "--json", str(js)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one per image (2)" in err[0] and "several people in one photo" in err[0], err


def test_draw_outlines_the_boxes_in_their_colours_and_names_them_in_the_legend():
    img = np.full((H, W, 3), 128, np.uint8)
    pts = np.full((11, 2), 5.0)
    run = load("flic")
    boxes = pose_draw.boxes_to_draw([10, 10, 100, 80], [40, 20, 70, 60], None, "found inside the person box", None)
    assert [b[0] for b in boxes] == ["person box (given)", "torso box (found inside the person box)"]
    plain = np.asarray(pose_draw.draw(img, pts, run.names, run.skeleton))
    drawn = np.asarray(pose_draw.draw(img, pts, run.names, run.skeleton, boxes))
    assert plain.shape[0] < drawn.shape[0]  # the legend holds two more entries (a row more at this width)
    assert (drawn[20:70, 100] == pose_draw.BOX_COLOURS["person box"]).all()  # its right edge (x1 = 100)
    assert (drawn[30:50, 40] == pose_draw.BOX_COLOURS["torso box"]).all()  # its left edge (x0 = 40)
    assert (drawn[30:50, 38] == 255).all()  # the torso box's white edge, outside it
    assert (plain[30:50, 40] == 128).all()


def test_a_person_box_models_crop_box_is_named_once_as_the_person_box():
    """`person` places its crops around the person box itself: the legend and printed line name that box once, not
    again as a "torso box (the person box)"."""
    box = [10.0, 10.0, 100.0, 80.0]
    shown = pose_draw.boxes_to_draw(box, box, [55.0, 45.0], "the person box", "the torso box's centre")
    assert [b[0] for b in shown] == ["person box (given)", "torso point (the torso box's centre)"]
    no_box = pose_draw.boxes_to_draw(None, [0.0, 0.0, 50.0, 50.0], None, "the person box", None)
    assert [b[0] for b in no_box] == ["torso box (the person box)"]  # no person box given: the crop box stays


def test_legacy_box_works_and_says_once_what_it_means(tmp_path, capsys):
    a, b = _image(tmp_path, "a.png"), _image(tmp_path, "b.png", 90)
    js, js2 = tmp_path / "old.json", tmp_path / "new.json"
    capsys.readouterr()
    assert main(["pose", str(a), str(b), "--box", "30,20,70,70", "--box=-10,0,40,60", "--json", str(js)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len([ln for ln in err if "--box" in ln]) == 1
    note = next(ln for ln in err if "--box" in ln)
    assert "torso box" in note and "--torso-box" in note and "--person-box" in note
    assert main(["pose", str(a), str(b), "--torso-box", "30,20,70,70", "--torso-box=-10,0,40,60", "--json",
                 str(js2)]) == 0
    assert "--box" not in capsys.readouterr().err
    old, new = json.loads(js.read_text()), json.loads(js2.read_text())
    assert [im["torso_box"] for im in old["images"]] == [[30.0, 20.0, 70.0, 70.0], [-10.0, 0.0, 40.0, 60.0]]
    assert old["images"][0]["torso_box_from"] == "given" and old["input"] == "the torso boxes given"
    assert [im["joints"] for im in old["images"]] == [im["joints"] for im in new["images"]]
    assert old["spatial"] is False  # the shipped models: off on crops, as --spatial's help says


def test_model_identity_of_a_run_folder_hashes_its_parameters():
    """A run folder without model.json: the digest of its parameters' bytes (path order), not of a file; it changes
    with any parameter."""
    import dataclasses

    import jax

    fake = dataclasses.replace(load("flic"), path=Path("/nonexistent/run"), name=None)
    got = model_identity(fake)
    assert got["kind"] == "run folder" and got["digest"].startswith("sha256:") and "parameters" in got["digest_of"]
    assert got["name"] == "run" and got["digest"] == model_identity(fake)["digest"]
    leaves, tree = jax.tree_util.tree_flatten(fake.params)
    leaves[0] = np.asarray(leaves[0]) + 1
    changed = dataclasses.replace(fake, params=jax.tree_util.tree_unflatten(tree, leaves))
    assert model_identity(changed)["digest"] != got["digest"]


def test_every_limb_of_coco_and_the_shipped_models_has_its_own_colour():
    """The legend names each limb by its colour: a colour shared by two limbs (the palette had 12 colours for the
    `person` model's 17 limbs and COCO's 19) names neither, and none is a box's colour."""
    from convcorr_jax.data.skeletons import COCO17

    limbs = max(len(COCO17.links), *(len(load(m).skeleton) for m in ("flic", "person")))
    colours = pose_draw.PALETTE[:limbs]
    assert len(pose_draw.PALETTE) >= limbs and len(set(colours)) == limbs
    assert not set(colours) & set(pose_draw.BOX_COLOURS.values())


@pytest.mark.parametrize("side", [200, 2000])
def test_the_legend_text_grows_with_the_image(side):
    """The legend of a large photo is drawn in proportion (its text was 10 px on any image: a speck on a 2000 px
    photo viewed whole); small images keep the base size."""
    run = load("flic")
    img = np.full((side, side, 3), 128, np.uint8)
    pts = np.linspace(side * 0.2, side * 0.8, 22).reshape(11, 2)
    drawn = np.asarray(pose_draw.draw(img, pts, run.names, run.skeleton))
    strip = drawn[side:]
    ink = np.flatnonzero((strip < 64).all(-1).any(1))  # rows with dark (text) pixels
    gaps = np.flatnonzero(np.diff(ink) > 1)
    height = (ink[gaps[0]] if len(gaps) else ink[-1]) - ink[0] + 1  # the first legend row's text
    assert (8 <= height <= 14) if side == 200 else height >= 30
