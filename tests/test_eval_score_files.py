"""`convcorr eval pckh` and `convcorr eval pck` on small synthetic files: a missing published file is named, a
malformed file is one error naming the file and the field, NaN predictions are misses with a warning, a NaN
ground-truth point marked visible is refused, the JSON is strict JSON, and the tables come with the run's header."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io

from convcorr_cli.main import main
from convcorr_jax.core import runinfo
from convcorr_jax.core.errors import InputError
from convcorr_jax.data.mpii_eval_files import read_eval_h5, read_preds
from convcorr_eval.pck import pck_files
from convcorr_eval.tompson2015 import pckh

N = 4


def write_annot(path, **fields):
    """A small valid.h5 of N people (random joints, head segment 20 px); `fields` replace datasets ("group": an
    HDF5 group there instead). Returns part."""
    data = {"part": np.random.default_rng(0).uniform(10, 300, (N, 16, 2)), "normalize": np.full(N, 20.0),
            "visible": np.ones((N, 16)), "imgname": [b"a.jpg"] * N, **fields}
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            if isinstance(value, str) and value == "group":
                f.create_group(key)
            else:
                f[key] = value
    return data["part"]


def write_preds(path, preds):
    with h5py.File(path, "w") as f:
        f["preds"] = preds


def cli(capsys, *argv) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, [line for line in cap.err.splitlines() if line.strip()]


def strict_json(path):
    """json.loads that refuses NaN and Infinity (strict JSON)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(path.read_text(), parse_constant=refuse)


# ------------------------------------------------------------------------------------------ 1: missing files


@pytest.fixture
def reference(tmp_path):
    """An MPII folder with hg_annot/valid.h5 and one of the five published prediction files (newell.h5)."""
    (tmp_path / "mpii" / "hg_annot").mkdir(parents=True)
    (tmp_path / "mpii" / "reference_preds").mkdir()
    part = write_annot(tmp_path / "mpii" / "hg_annot" / "valid.h5")
    return tmp_path / "mpii", part


def test_reference_files_absent_are_named(reference, capsys):
    """--reference scores the published files present and names each absent one on stderr; none present is an
    error naming the folder; --reference beside --preds/--annot is refused (the files named would be ignored)."""
    root, part = reference
    code, _, err = cli(capsys, "eval", "pckh", "--reference", root)
    assert code == 2 and len(err) == 1 and "reference_preds" in err[0] and "newell.h5" in err[0], err
    write_preds(root / "reference_preds" / "newell.h5", part)
    assert [p.name for p in pckh.skipped_reference(root)] == [f for f in pckh.REFERENCE_PRED_FILES
                                                              if f != "newell.h5"]
    code, out, err = cli(capsys, "eval", "pckh", "--reference", root)
    assert code == 0 and "newell" in out
    # its Head is the toolkit's (upper neck and head top), not `convcorr eval pose`'s MPII head top alone
    assert "each group the mean of its two joints' PCKh (Head: upper neck and head top)" in out
    assert len(err) == 4 and all("not found" in e for e in err)
    assert {f for f in pckh.REFERENCE_PRED_FILES if f != "newell.h5"} == {
        next(f for f in pckh.REFERENCE_PRED_FILES if f in e) for e in err}
    code, _, err = cli(capsys, "eval", "pckh", "--reference", root, "--preds", root / "reference_preds" / "newell.h5")
    assert code == 2 and len(err) == 1 and "--reference" in err[0] and "not both" in err[0], err


def test_missing_prediction_or_ground_truth_is_named(reference, capsys):
    root, _ = reference
    annot = root / "hg_annot" / "valid.h5"
    for argv, named in ((["--preds", root / "nope.h5", "--annot", annot], "nope.h5"),
                        (["--preds", annot, "--annot", root / "gone.h5"], "gone.h5")):
        code, _, err = cli(capsys, "eval", "pckh", *argv)
        assert code == 2 and len(err) == 1 and named in err[0], err


# ------------------------------------------------------------------------------------------ 2: malformed files


def test_malformed_prediction_files(tmp_path, capsys):
    """A group, a scalar, a damaged HDF5 file or a struct in a .mat: one InputError naming the file, the field and
    what was expected; the CLI prints it as one line."""
    with h5py.File(tmp_path / "group.h5", "w") as f:
        f.create_group("preds")
    write_preds(tmp_path / "scalar.h5", 3.0)
    write_preds(tmp_path / "good.h5", np.zeros((N, 16, 2)))
    (tmp_path / "cut.h5").write_bytes((tmp_path / "good.h5").read_bytes()[:1500])
    scipy.io.savemat(tmp_path / "struct.mat", {"preds": {"a": np.zeros(3)}})
    cases = {"group.h5": ("'preds'", "a dataset [N, 16, 2] or [2, 16, N]", "an HDF5 group"),
             "scalar.h5": ("'preds'", "shape [N, 16, 2] or [2, 16, N]", "got ()"),
             "cut.h5": ("'file'", "a MATLAB .mat or HDF5 file", "not HDF5"),
             "struct.mat": ("'preds'", "int or float array", "got")}
    for name, words in cases.items():
        with pytest.raises(InputError) as e:
            read_preds(tmp_path / name)
        assert str(e.value).startswith(str(tmp_path / name)) and all(w in str(e.value) for w in words), e.value
    annot = tmp_path / "valid.h5"
    write_annot(annot)
    code, _, err = cli(capsys, "eval", "pckh", "--preds", tmp_path / "group.h5", "--annot", annot)
    assert code == 2 and len(err) == 1 and "group.h5: field 'preds'" in err[0], err


@pytest.mark.parametrize("fields, words", [
    ({"part": "group"}, ("field 'part'", "a dataset [N, 16, 2]", "an HDF5 group")),
    ({"part": np.full((N, 16, 2), b"x")}, ("field 'part'", "int or float array [N, 16, 2]", "|S1")),
    ({"part": 5.0}, ("field 'part'", "shape [N>=1, 16, 2]", "got ()")),
    ({"visible": np.ones(3)}, ("field 'visible'", "shape [N=4, 16]", "got (3,)")),
    ({"normalize": "group"}, ("field 'normalize'", "a dataset [N]", "an HDF5 group")),
    ({"imgname": 7}, ("field 'imgname'", "shape [N=4]", "got ()")),
], ids=["part group", "part text", "part scalar", "visible shape", "normalize group", "imgname scalar"])
def test_malformed_ground_truth(tmp_path, fields, words):
    path = tmp_path / "valid.h5"
    write_annot(path, **fields)
    with pytest.raises(InputError) as e:
        read_eval_h5(path)
    assert str(e.value).startswith(str(path)) and all(w in str(e.value) for w in words), e.value


# ------------------------------------------------------------------------------- 3: NaN predictions, misses


def test_nan_predictions_are_misses_with_a_warning(tmp_path, capsys):
    annot = tmp_path / "valid.h5"
    part = write_annot(annot)
    preds = part.copy()
    preds[1, 2] = np.nan
    preds[2, 10, 0] = np.inf
    write_preds(tmp_path / "p.h5", preds)
    r = pckh.evaluate_file(tmp_path / "p.h5", annot)
    assert r["nonfinite"] == 2 and "2 of 56" in r["warning"] and "scored as misses" in r["warning"]
    assert r["0.5"]["Total"] < 100 and r["0.5"]["Hip"] == 87.5 and r["0.5"]["Wrist"] == 87.5  # misses, not dropped
    write_preds(tmp_path / "q.h5", part)
    assert pckh.evaluate_file(tmp_path / "q.h5", annot)["warning"] is None
    code, _, err = cli(capsys, "eval", "pckh", "--preds", tmp_path / "p.h5", "--annot", annot)
    assert code == 0 and len(err) == 1 and "2 of 56" in err[0] and "p.h5" in err[0], err


def test_the_json_holds_the_printed_ubody_column_and_the_auc(tmp_path, capsys):
    """The JSON left out the UBody column the tables print and the AUC the summary line prints: it holds every
    printed column at each threshold, UBody and the AUC equal to a brute-force count of the distances."""
    part = write_annot(tmp_path / "valid.h5")  # head segment 20 px
    preds = part + np.random.default_rng(1).normal(0, 6, part.shape)
    write_preds(tmp_path / "p.h5", preds)
    code, out, _ = cli(capsys, "eval", "pckh", "--preds", tmp_path / "p.h5", "--annot", tmp_path / "valid.h5",
                       "--json", tmp_path / "pckh.json")
    data = strict_json(tmp_path / "pckh.json")
    d = np.linalg.norm(preds - part, axis=-1) / 20.0  # [N, 16] head segments
    ubody, scored = d[:, 10:], np.delete(d, [6, 7], axis=1)  # wrists, elbows, shoulders; all but pelvis, thorax
    row = next(line.split() for line in out.splitlines() if line.startswith("p "))  # the first table's row
    for t in ("0.5", "0.1"):
        assert set(data[t]) == set(pckh.COLUMNS)
        assert data[t]["UBody"] == pytest.approx(100 * np.mean(ubody <= float(t)), abs=1e-3)
    assert f"{data['0.5']['UBody']:.1f}" == row[1 + pckh.COLUMNS.index("UBody")]
    curve = [100 * np.mean(scored <= t) for t in np.linspace(0, 0.5, 51)]
    auc = sum((a + b) / 2 for a, b in zip(curve[:-1], curve[1:])) / 50  # trapezoids over 0..0.5, scaled to 0..1
    assert code == 0 and 0 < auc < 100 and data["auc"] == pytest.approx(auc, abs=1e-3)
    assert f"AUC(0..0.5) {data['auc']:.1f}" in out


def test_what_was_scored_is_counted_in_the_output_and_the_json(tmp_path, capsys):
    """pckh and pck print and write how many were scored, row by row: pckh the people and the annotated joints its
    Total pools (pelvis and thorax count nowhere, nor do their NaN predictions), pck the instances with a visible
    keypoint and the visible keypoints (and the pooled score it prints)."""
    part = np.random.default_rng(0).uniform(10, 300, (N, 16, 2))
    part[0, [0, 6]] = 0  # person 0: right ankle and pelvis not annotated
    write_annot(tmp_path / "valid.h5", part=part)
    preds = part.copy()
    preds[1, 6] = np.nan  # pelvis: not scored, not a miss
    preds[2, 15] = np.nan  # left wrist: a miss
    write_preds(tmp_path / "p.h5", preds)
    code, out, err = cli(capsys, "eval", "pckh", "--preds", tmp_path / "p.h5", "--annot", tmp_path / "valid.h5",
                         "--json", tmp_path / "pckh.json")
    data = strict_json(tmp_path / "pckh.json")
    assert code == 0 and (data["people"], data["joints"], data["nonfinite"]) == (N, N * 14 - 1, 1)
    assert f"{N} people" in out and f"{N * 14 - 1} annotated joints scored" in out and "1 of 55" in err[0], (out, err)
    assert data["0.5"]["Total"] == pytest.approx(100 * (N * 14 - 2) / (N * 14 - 1), abs=1e-3)
    visible = np.ones((N, 3))
    visible[0] = 0  # instance 0 not scored at all
    visible[1, 2] = 0
    np.savez(tmp_path / "gt.npz", points=part[:, :3], visible=visible, norm=np.full(N, 50.0))
    np.savez(tmp_path / "preds.npz", preds=part[:, :3] + [[[0, 0], [0, 0], [100, 0]]])
    code, out, _ = cli(capsys, "eval", "pck", "--preds", tmp_path / "preds.npz", "--gt", tmp_path / "gt.npz",
                       "--json", tmp_path / "pck.json")
    data = strict_json(tmp_path / "pck.json")
    assert code == 0 and (data["instances"], data["keypoints"]) == (N - 1, 3 * (N - 1) - 1)
    assert data["pooled"] == pytest.approx(100 * 6 / 8, abs=1e-3)
    assert f"scored: {3 * (N - 1) - 1} visible keypoints of {N - 1} instances" in out, out


# ------------------------------------------------------------------------- 4: NaN ground truth marked visible


def test_nan_ground_truth_marked_visible_is_refused(tmp_path, capsys):
    """pckh: a NaN joint is missing where `visible` is 0, refused where it is 1 (file, field, index); pck: a NaN
    point marked visible is refused the same way."""
    part = np.random.default_rng(0).uniform(10, 300, (N, 16, 2))
    part[2, 5] = np.nan
    visible = np.ones((N, 16))
    write_annot(tmp_path / "bad.h5", part=part, visible=visible)
    with pytest.raises(InputError, match=r"bad\.h5: field 'part': expected finite .* visible.* part\[2, 5\] \(1 "):
        read_eval_h5(tmp_path / "bad.h5")
    write_annot(tmp_path / "ok.h5", part=part, visible=np.where(np.isnan(part[..., 0]), 0, visible))
    gt = read_eval_h5(tmp_path / "ok.h5")
    assert gt.missing[2, 5] and gt.missing.sum() == 1
    np.savez(tmp_path / "gt.npz", points=part, visible=visible, norm=np.full(N, 50.0))
    np.savez(tmp_path / "preds.npz", preds=np.nan_to_num(part))
    with pytest.raises(InputError, match=r"gt\.npz: field 'points'.*points\[2, 5\] \(1 point in all\)"):
        pck_files(tmp_path / "preds.npz", tmp_path / "gt.npz")
    code, _, err = cli(capsys, "eval", "pck", "--preds", tmp_path / "preds.npz", "--gt", tmp_path / "gt.npz")
    assert code == 2 and len(err) == 1 and "gt.npz: field 'points'" in err[0] and "points[2, 5]" in err[0], err
    np.savez(tmp_path / "gt_ok.npz", points=part, visible=np.where(np.isnan(part[..., 0]), 0, visible),
             norm=np.full(N, 50.0))
    assert pck_files(tmp_path / "preds.npz", tmp_path / "gt_ok.npz")["pooled"] == 100.0


@pytest.mark.parametrize("odd", [-1.0, np.nan, 2.0])
def test_pckh_ground_truth_visible_other_than_0_or_1_is_refused(tmp_path, capsys, odd):
    """valid.h5's `visible` is 0 or 1: a -1 ("missing"), NaN or 2 was cast to bool and read as visible (a NaN
    joint so flagged was then refused as a 'part' marked visible); refused naming `visible` and its index."""
    part = np.random.default_rng(0).uniform(10, 300, (N, 16, 2))
    part[2, 5] = np.nan
    visible = np.ones((N, 16))
    visible[2, 5] = 0
    visible[3, 7] = odd
    annot = tmp_path / "valid.h5"
    write_annot(annot, part=part, visible=visible)
    with pytest.raises(InputError, match=r"valid\.h5: field 'visible': expected 0 or 1 .* at visible\[3, 7\] \(1 such"):
        read_eval_h5(annot)
    write_preds(tmp_path / "p.h5", np.nan_to_num(part))
    code, _, err = cli(capsys, "eval", "pckh", "--preds", tmp_path / "p.h5", "--annot", annot)
    assert code == 2 and len(err) == 1 and "field 'visible'" in err[0] and "visible[3, 7]" in err[0], err
    visible[3, 7] = 0
    write_annot(annot, part=part, visible=visible)
    assert not read_eval_h5(annot).visible[3, 7]


def test_pck_files_leaves_out_an_instance_with_nothing_visible_whatever_its_norm(tmp_path):
    """`norm` must be > 0 where an instance has a visible keypoint; an instance with none is left out, so a 0 norm
    there (a common placeholder) is no error."""
    part = np.random.default_rng(1).uniform(10, 300, (3, 4, 2))
    visible = np.ones((3, 4))
    visible[1] = 0
    np.savez(tmp_path / "gt.npz", points=part, visible=visible, norm=np.array([50.0, 0.0, 50.0]))
    np.savez(tmp_path / "preds.npz", preds=part)
    r = pck_files(tmp_path / "preds.npz", tmp_path / "gt.npz")
    assert r["pooled"] == 100.0 and r["per_joint"] == [100.0] * 4
    np.savez(tmp_path / "gt0.npz", points=part, visible=np.ones((3, 4)), norm=np.array([50.0, 0.0, 50.0]))
    with pytest.raises(InputError, match=r"gt0\.npz: field 'norm': expected finite values > 0"):
        pck_files(tmp_path / "preds.npz", tmp_path / "gt0.npz")


@pytest.mark.parametrize("odd", [-1.0, np.nan])
def test_pck_files_refuses_a_negative_or_nan_visible(tmp_path, odd):
    """`visible` -1 (some datasets' "missing") or NaN was read as visible: the keypoint was scored (here a miss that
    lowers PCK) without a word; refused naming the index."""
    part = np.random.default_rng(2).uniform(10, 300, (3, 4, 2))
    visible = np.ones((3, 4))
    visible[2, 1] = odd
    np.savez(tmp_path / "gt.npz", points=part, visible=visible, norm=np.full(3, 50.0))
    np.savez(tmp_path / "preds.npz", preds=part + 40.0)
    with pytest.raises(InputError, match=r"gt\.npz: field 'visible': expected 0 \(left out\) or a value > 0 .*"
                       r"at visible\[2, 1\] \(1 such in all\)"):
        pck_files(tmp_path / "preds.npz", tmp_path / "gt.npz")
    visible[2, 1] = 2.0  # COCO's "labelled and visible"
    np.savez(tmp_path / "gt.npz", points=part, visible=visible, norm=np.full(3, 50.0))
    assert pck_files(tmp_path / "preds.npz", tmp_path / "gt.npz")["pooled"] == 0.0


@pytest.mark.parametrize("n, k", [(0, 3), (2, 0)])
def test_pck_refuses_an_empty_ground_truth(tmp_path, capsys, n, k):
    """A ground truth with no instance or no keypoint is one error naming the file and `points`, not a run that
    exits 0 with nothing scored."""
    np.savez(tmp_path / "gt.npz", points=np.zeros((n, k, 2)), visible=np.ones((n, k)), norm=np.ones(n))
    np.savez(tmp_path / "preds.npz", preds=np.zeros((n, k, 2)))
    code, out, err = cli(capsys, "eval", "pck", "--preds", tmp_path / "preds.npz", "--gt", tmp_path / "gt.npz")
    assert code == 2 and len(err) == 1 and "gt.npz" in err[0] and "points" in err[0] and "N and K >= 1" in err[0], err


def test_pck_files_names_the_instance_of_a_nan_norm(tmp_path):
    """A NaN norm of an instance with visible keypoints is refused naming the instance and its value (the message
    gave the least finite norm, a valid value, as what was wrong)."""
    part = np.random.default_rng(1).uniform(10, 300, (3, 4, 2))
    np.savez(tmp_path / "preds.npz", preds=part)
    np.savez(tmp_path / "gt.npz", points=part, visible=np.ones((3, 4)), norm=np.array([50.0, np.nan, 40.0]))
    with pytest.raises(InputError, match=r"gt\.npz: field 'norm': .*got nan at instance 1 \(1 such in all\)"):
        pck_files(tmp_path / "preds.npz", tmp_path / "gt.npz")


# -------------------------------------------------------------------------------------------- 5: strict JSON


def test_json_has_no_bare_nan(tmp_path, capsys):
    """A score with nothing to average (every ankle missing; a keypoint never visible) is null in the JSON."""
    part = np.random.default_rng(0).uniform(10, 300, (N, 16, 2))
    part[:, [0, 5]] = 0  # both ankles missing for everyone: the Ankle column is NaN
    write_annot(tmp_path / "valid.h5", part=part)
    write_preds(tmp_path / "p.h5", part)
    out = tmp_path / "pckh.json"
    assert main(["eval", "pckh", "--preds", str(tmp_path / "p.h5"), "--annot", str(tmp_path / "valid.h5"),
                 "--json", str(out)]) == 0
    data = strict_json(out)
    assert data["0.5"]["Ankle"] is None and data["0.5"]["Total"] == 100.0
    np.savez(tmp_path / "gt.npz", points=part[:, :3], visible=np.array([[1, 1, 0]] * N), norm=np.full(N, 50.0))
    np.savez(tmp_path / "preds.npz", preds=part[:, :3])
    out = tmp_path / "pck.json"
    assert main(["eval", "pck", "--preds", str(tmp_path / "preds.npz"), "--gt", str(tmp_path / "gt.npz"),
                 "--json", str(out)]) == 0
    assert strict_json(out)["per_joint"] == [100.0, 100.0, None]
    assert runinfo.rounded({"a": [float("nan"), np.float32("inf"), 1 / 3]}, nonfinite_null=True) == {
        "a": [None, None, 0.333333]}


# ----------------------------------------------------------------------------- 6: config, versions, wall time


def test_tables_come_with_the_header(tmp_path, capsys):
    part = write_annot(tmp_path / "valid.h5")
    write_preds(tmp_path / "p.h5", part)
    np.savez(tmp_path / "gt.npz", points=part[:, :3], visible=np.ones((N, 3)), norm=np.full(N, 50.0))
    np.savez(tmp_path / "preds.npz", preds=part[:, :3])
    for argv in (["pckh", "--preds", tmp_path / "p.h5", "--annot", tmp_path / "valid.h5"],
                 ["pck", "--preds", tmp_path / "preds.npz", "--gt", tmp_path / "gt.npz", "--alpha", "0.1"]):
        code, out, _ = cli(capsys, "eval", *argv)
        lines = out.splitlines()
        assert code == 0 and lines[0] == f"== convcorr eval {argv[0]} =="
        config = json.loads(next(ln for ln in lines if ln.startswith("config: "))[len("config: "):])
        assert config["preds"] in (str(argv[2]), [str(argv[2])]) and config["seed"] is None
        assert any(ln.startswith("versions: python ") and "numpy" in ln for ln in lines)
        assert lines[-1].startswith("wall time ") and lines[-1].endswith(" s")
    assert config["alpha"] == 0.1


def test_the_json_says_what_ran_as_the_header(tmp_path, capsys):
    """The JSON of pckh (one file, several) and pck carries the header's config (seed null: no random numbers),
    versions and wall time; a file named as a run field among several is refused (its row would be overwritten)."""
    part = write_annot(tmp_path / "valid.h5")
    for name in ("p", "q", "config"):
        write_preds(tmp_path / f"{name}.h5", part)
    np.savez(tmp_path / "gt.npz", points=part[:, :3], visible=np.ones((N, 3)), norm=np.full(N, 50.0))
    np.savez(tmp_path / "preds.npz", preds=part[:, :3])
    annot = ["--annot", tmp_path / "valid.h5"]
    runs = {"one.json": ["pckh", "--preds", tmp_path / "p.h5", *annot],
            "two.json": ["pckh", "--preds", tmp_path / "p.h5", tmp_path / "q.h5", *annot],
            "pck.json": ["pck", "--preds", tmp_path / "preds.npz", "--gt", tmp_path / "gt.npz", "--alpha", "0.1"]}
    for name, argv in runs.items():
        code, out, _ = cli(capsys, "eval", *argv, "--json", tmp_path / name)
        data = strict_json(tmp_path / name)
        printed = json.loads(next(ln for ln in out.splitlines() if ln.startswith("config: "))[len("config: "):])
        assert code == 0 and data["config"] == printed and data["config"]["seed"] is None
        assert data["versions"] == runinfo.versions() and data["seconds"] >= 0
        assert data["devices"] == runinfo.devices()  # the machine that scored, as the header prints it
    assert strict_json(tmp_path / "two.json")["p"]["0.5"]["Total"] == 100.0
    assert strict_json(tmp_path / "pck.json")["config"]["alpha"] == 0.1
    code, _, err = cli(capsys, "eval", "pckh", "--preds", tmp_path / "p.h5", tmp_path / "config.h5", *annot)
    assert code == 2 and "config.h5" in err[-1] and "--preds" in err[-1]
