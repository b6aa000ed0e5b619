"""Every command refuses a mistake with exit code 2 and exactly one stderr line naming the field or file.

Each case runs the real `convcorr` entry point in-process (`convcorr_cli.main.main`). The errors must come before
any work: nothing here loads weights into a network, compiles a JAX program or generates data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import convcorr_cli.main as cli
from convcorr_jax.core import io, metrics
from convcorr_jax.backbones.registry import min_input_side, resolve_tap, resolve_taps
from convcorr_jax.data.formats import detect_dataset
from convcorr_jax.core.errors import InputError


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Good and bad inputs shared by the cases."""
    d = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(0)
    out = {"dir": d / "folder", "file": d / "plain.txt", "empty": d / "empty"}
    out["dir"].mkdir()
    out["empty"].mkdir()
    (out["dir"] / "x.txt").write_text("x")
    out["file"].write_text("not an image\n")
    for name, (h, w) in {"good": (64, 80), "dot": (1, 1), "thin": (3, 2000), "small": (20, 20)}.items():
        out[name] = d / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(out[name])
    out["garbage_png"] = d / "garbage.png"
    out["garbage_png"].write_bytes(b"\x89PNG\r\n\x1a\nthis is no image")
    out["truncated_png"] = d / "truncated.png"
    out["truncated_png"].write_bytes(out["good"].read_bytes()[:60])
    # PCK ground truth and predictions
    n, k = 4, 3
    points = rng.uniform(10, 50, (n, k, 2))
    gt = dict(points=points, visible=np.ones((n, k), bool), norm=np.full(n, 20.0))
    out["gt"] = d / "gt.npz"
    np.savez(out["gt"], **gt)
    out["preds"] = d / "preds.npz"
    np.savez(out["preds"], preds=points + 1)
    out["preds_nan"] = d / "preds_nan.npz"
    bad = points.copy()
    bad[0, 1] = np.nan
    np.savez(out["preds_nan"], preds=bad)
    out["preds_str"] = d / "preds_str.npz"
    np.savez(out["preds_str"], preds=np.full((n, k, 2), "a"))
    out["preds_shape"] = d / "preds_shape.npz"
    np.savez(out["preds_shape"], preds=points[:, :2])
    out["preds_key"] = d / "preds_key.npz"
    np.savez(out["preds_key"], other=points)
    out["preds_txt"] = d / "preds.txt"
    out["preds_txt"].write_text("1 2 3")
    out["garbage_npz"] = d / "garbage.npz"
    out["garbage_npz"].write_bytes(b"PK\x03\x04 not a zip at all")
    out["gt_zero_norm"] = d / "gt_zero.npz"
    np.savez(out["gt_zero_norm"], **dict(gt, norm=np.zeros(n)))
    out["gt_visible_shape"] = d / "gt_vis.npz"
    np.savez(out["gt_visible_shape"], **dict(gt, visible=np.ones(n, bool)))
    out["gt_no_norm"] = d / "gt_no_norm.npz"
    np.savez(out["gt_no_norm"], points=points, visible=gt["visible"])
    out["weights"] = d / "w.pth"
    out["weights"].write_bytes(b"not a weight file")
    return out


def run_cli(capsys, *argv) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, [ln for ln in cap.err.splitlines() if ln.strip()], cap.out


def refused(capsys, argv, *names) -> str:
    """Assert exit code 2 and one stderr line mentioning every one of `names`; returns the line."""
    code, err, _ = run_cli(capsys, *argv)
    assert code == 2, (argv, code, err)
    assert len(err) == 1, (argv, err)
    for name in names:
        assert str(name) in err[0], (name, err[0])
    return err[0]


def test_helpers():
    assert resolve_tap("mobilenet_v2", "conv4") == "block12" and resolve_tap("vgg16", "conv4_1") == "conv4_1"
    assert resolve_taps("caffenet", "conv4,pool5,conv4") == ("conv4", "pool5")
    with pytest.raises(InputError, match="conv1, conv2.*block12"):
        resolve_tap("mobilenet_v2", "conv9")
    assert min_input_side("torchvision_alexnet", "conv4") == 31 and min_input_side("vgg16", "pool5") == 32
    gt = np.zeros((2, 3, 2))
    pred = gt.copy()
    pred[0, 0, 0] = np.nan
    pred[1, 2] = np.inf
    assert metrics.count_nonfinite(pred, gt) == 2
    assert metrics.count_nonfinite(pred, gt, np.array([[False, True, True], [True, True, True]])) == 1
    assert metrics.pck(pred, gt, np.ones((2, 3), bool), np.ones(2)) == pytest.approx(4 / 6)


def test_check_writable(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        io.check_writable(tmp_path / "f" / "out.npz", "--out")
    with pytest.raises(InputError, match="existing folder"):
        io.check_writable(tmp_path, "--out")
    with pytest.raises(InputError, match="existing file"):
        io.check_writable(tmp_path / "f", "--out", kind="folder")
    assert io.check_writable(tmp_path / "new" / "deeper" / "x.npz", "--out") == tmp_path / "new" / "deeper" / "x.npz"
    assert not (tmp_path / "new").exists()


def test_detect_dataset(tmp_path):
    assert detect_dataset(tmp_path) is None
    (tmp_path / "examples.mat").write_bytes(b"")
    assert detect_dataset(tmp_path) == "flic"
    with pytest.raises(InputError, match="data_root"):
        detect_dataset(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------------- align

ALIGN = [
    ("missing image", lambda f: ["align", f["dir"] / "nope.png", f["good"], "--out", f["empty"] / "o"],
     ("nope.png", "image_a")),
    ("folder as image", lambda f: ["align", f["good"], f["dir"], "--out", f["empty"] / "o"],
     ("is a folder, expected an image file", "image_b")),
    ("text file as image", lambda f: ["align", f["file"], f["good"], "--out", f["empty"] / "o"], ("plain.txt",)),
    ("garbage png", lambda f: ["align", f["good"], f["garbage_png"], "--out", f["empty"] / "o"], ("garbage.png",)),
    ("truncated png", lambda f: ["align", f["truncated_png"], f["good"], "--out", f["empty"] / "o"],
     ("truncated.png",)),
    ("1x1 target", lambda f: ["align", f["good"], f["dot"], "--out", f["empty"] / "o"], ("image_b", "1 x 1")),
    ("thin source", lambda f: ["align", f["thin"], f["good"], "--out", f["empty"] / "o"], ("image_a", "2000 x 3")),
    ("small source", lambda f: ["align", f["small"], f["good"], "--out", f["empty"] / "o"], ("image_a", "20 x 20")),
    ("beta zero", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--beta", "0"], ("--beta",)),
    ("beta negative", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--beta=-1"], ("--beta",)),
    ("iters zero", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--iters", "0"], ("--iters",)),
    ("levels zero", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--levels", "0"],
     ("--levels",)),
    ("window negative", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--window=-2"],
     ("--window",)),
    ("max side tiny", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--max-side", "4"],
     ("--max-side",)),
    ("out under a file", lambda f: ["align", f["good"], f["good"], "--out", f["file"] / "o"], ("--out", "is a file")),
    ("out is a file", lambda f: ["align", f["good"], f["good"], "--out", f["file"]], ("--out", "existing file")),
    ("json at the out folder", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--json",
                                          f["empty"] / "o"], ("--json", "not a folder above --out (flow.npy)")),
    ("unknown backbone", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--backbone", "resnet"],
     ("--backbone", "resnet")),
    ("set without dense", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--set", "radius=1"],
     ("--set",)),
    ("set unknown field", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--set",
                                     "nosuch=1"], ("nosuch",)),
    ("set badly typed", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--set",
                                   "radius=abc"], ("radius", "abc")),
    ("set out of range", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--set",
                                    "beta_fine=-1"], ("beta_fine",)),
    ("dense beta zero", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--beta", "0"],
     ("--beta",)),
    ("dense window", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--window", "3"],
     ("--window", "grid flow only", "got 3")),
    ("dense iters", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--iters", "8"],
     ("--iters", "grid flow only", "got 8")),
    ("dense levels", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--levels=3", "--dense"],
     ("--levels", "grid flow only", "got 3")),
    ("dense sift", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o", "--dense", "--features",
                              "sift"], ("--features", "with --dense", "got sift")),
    ("pixel features without dense", lambda f: ["align", f["good"], f["good"], "--out", f["empty"] / "o",
                                                "--pixel-features", "grad"], ("--pixel-features", "only with --dense")),
]

# ------------------------------------------------------------------------------------------ features, classify

FEATURES = [
    ("missing image", lambda f: ["features", f["dir"] / "nope.png", "--taps", "conv4", "--out", f["empty"] / "f.npz"],
     ("nope.png",)),
    ("folder as image", lambda f: ["features", f["dir"], "--taps", "conv4", "--out", f["empty"] / "f.npz"],
     ("is a folder, expected an image file",)),
    ("garbage image", lambda f: ["features", f["garbage_png"], "--taps", "conv4", "--out", f["empty"] / "f.npz"],
     ("garbage.png",)),
    ("thin image", lambda f: ["features", f["thin"], "--taps", "conv4", "--out", f["empty"] / "f.npz"],
     ("image", "2000 x 3")),
    ("unknown tap", lambda f: ["features", f["good"], "--taps", "conv9", "--out", f["empty"] / "f.npz"],
     ("--taps", "conv9", "conv4", "block12")),
    ("empty taps", lambda f: ["features", f["good"], "--taps", ",", "--out", f["empty"] / "f.npz"], ("--taps",)),
    ("unknown backbone", lambda f: ["features", f["good"], "--taps", "conv4", "--backbone", "resnet", "--out",
                                    f["empty"] / "f.npz"], ("--backbone", "resnet")),
    ("wrong suffix", lambda f: ["features", f["good"], "--taps", "conv4", "--out", f["empty"] / "f.png"],
     ("--out", ".npz")),
    ("out under a file", lambda f: ["features", f["good"], "--taps", "conv4", "--out", f["file"] / "f.npz"],
     ("--out", "is a file")),
    ("json is a folder", lambda f: ["features", f["good"], "--taps", "conv4", "--out", f["empty"] / "f.npz", "--json",
                                    f["dir"]], ("--json",)),
    ("small image, no resize", lambda f: ["features", f["small"], "--taps", "pool5", "--backbone", "vgg16", "--resize",
                                          "none", "--out", f["empty"] / "f.npz"], ("image", "32")),
]

CLASSIFY = [
    ("missing image", lambda f: ["classify", f["good"], f["dir"] / "nope.png"], ("nope.png",)),
    ("folder as image", lambda f: ["classify", f["dir"]], ("is a folder, expected an image file",)),
    ("truncated image", lambda f: ["classify", f["truncated_png"]], ("truncated.png",)),
    ("topk zero", lambda f: ["classify", f["good"], "--topk", "0"], ("--topk",)),
    ("topk too large", lambda f: ["classify", f["good"], "--topk", "5000"], ("--topk",)),
    ("unknown backbone", lambda f: ["classify", f["good"], "--backbone", "resnet"], ("--backbone",)),
    ("json under a file", lambda f: ["classify", f["good"], "--json", f["file"] / "p.json"], ("--json", "is a file")),
]

# ---------------------------------------------------------------------------------------------- data, weights

DATA = [
    ("synth n zero", lambda f: ["data", "synth", "objects", "--n", "0", "--out", f["empty"] / "s"], ("--n",)),
    ("synth image size", lambda f: ["data", "synth", "faces", "--image-size", "8", "--out", f["empty"] / "s"],
     ("--image-size",)),
    ("synth seed negative", lambda f: ["data", "synth", "faces", "--seed=-1", "--out", f["empty"] / "s"], ("--seed",)),
    ("synth workers zero", lambda f: ["data", "synth", "faces", "--workers", "0", "--out", f["empty"] / "s"],
     ("--workers",)),
    ("synth noise negative", lambda f: ["data", "synth", "people", "--noise-sigma=-1", "--out", f["empty"] / "s"],
     ("--noise-sigma",)),
    ("synth out is a file", lambda f: ["data", "synth", "faces", "--out", f["file"]], ("--out",)),
    ("synth out not empty", lambda f: ["data", "synth", "faces", "--out", f["dir"]], ("--out", "non-empty")),
    ("synth out under a file", lambda f: ["data", "synth", "faces", "--out", f["file"] / "s"], ("--out", "is a file")),
    ("inspect missing", lambda f: ["data", "inspect", f["dir"] / "nope.mat"], ("nope.mat",)),
    ("inspect show negative", lambda f: ["data", "inspect", f["good"], "--show=-1"], ("--show",)),
    ("fetch out under a file", lambda f: ["data", "fetch", "flic", "--out", f["file"] / "x"], ("--out",)),
    ("fetch size zero", lambda f: ["data", "fetch", "flic", "--out", f["empty"] / "x", "--size", "0"], ("--size",)),
]

WEIGHTS = [
    ("inspect missing", lambda f: ["weights", "inspect", f["dir"] / "nope.pth"], ("nope.pth",)),
    ("import missing", lambda f: ["weights", "import", f["dir"] / "nope.pth", "--arch", "vgg16"], ("nope.pth",)),
    ("import out under a file", lambda f: ["weights", "import", f["weights"], "--arch", "vgg16", "--out",
                                           f["file"] / "o"], ("--out", "is a file")),
    ("fetch sha256 without url", lambda f: ["weights", "fetch", "alexnet", "--sha256", "0" * 64], ("--sha256",)),
    ("fetch url for another", lambda f: ["weights", "fetch", "mobilenet_v2", "--url", "http://x"], ("--url",)),
]

# ----------------------------------------------------------------------------------------------- run, train

RUN = [
    ("unknown experiment", lambda f: ["run", "long2014.table9"], ("long2014.table9",)),
    ("set unknown field", lambda f: ["run", "long2014.table2", "--set", "nosuch=1"], ("nosuch",)),
    ("set badly typed", lambda f: ["run", "long2014.table2", "--set", "seed=abc"], ("seed", "abc")),
    ("set no equals", lambda f: ["run", "long2014.table2", "--set", "seed"], ("field=value",)),
    ("size set, not chosen", lambda f: ["run", "long2014.table2", "--size", "tiny", "--set", "size=full"],
     ("--set size", "--size SIZE", "full")),  # it relabelled a tiny run "full size", published numbers beside it
    ("unknown backbone", lambda f: ["run", "long2014.table2", "--backbone", "resnet"], ("backbone", "resnet")),
    ("unknown dataset", lambda f: ["run", "long2014.table2", "--set", "data=imagenet"], ("data", "imagenet")),
    ("seed negative", lambda f: ["run", "long2014.table2", "--set=seed=-1"], ("seed",)),
    ("run name with a path", lambda f: ["run", "long2014.table2", "--set", "name=../x"], ("name",)),
    ("out is a file", lambda f: ["run", "long2014.table1", "--size", "tiny", "--out", f["gt"]],
     ("--out", "a folder path", "an existing file")),  # was a FileExistsError traceback from the run folder's lock
    ("beta zero", lambda f: ["run", "long2014.table2", "--set", "transfer.beta=0"], ("transfer.beta",)),
    ("neighbours zero", lambda f: ["run", "long2014.table2", "--set", "transfer.neighbours=0"],
     ("transfer.neighbours",)),
    ("box below the backbone's input", lambda f: ["run", "long2014.table2", "--size", "tiny", "--backbone", "caffenet",
                                                  "--set", "transfer.box=16"], ("box", "31")),
    ("unknown transfer layer", lambda f: ["run", "long2014.table2", "--set", "transfer.layer=conv9"],
     ("layer", "conv9")),
    ("n_objects zero", lambda f: ["run", "long2014.table3", "--set", "n_objects=0"], ("n_objects",)),
    ("cv with no C", lambda f: ["run", "long2014.table3", "--set", "cv=true", "--set", "cv_Cs="], ("cv_Cs", "none")),
    ("unknown role", lambda f: ["run", "long2014.table3", "--set", "roles=conv3,conv9"], ("roles", "conv9")),
    ("image size below the backbone's input", lambda f: ["run", "long2014.table3", "--backbone", "vgg16", "--set",
                                                         "image_size=4"], ("image_size",)),
    ("C zero", lambda f: ["run", "long2014.table3", "--set", "conv_C=0"], ("conv_C",)),
    ("no feature", lambda f: ["run", "long2014.table3", "--set", "roles=", "--set", "sift_radii="],
     ("roles", "sift_radii")),  # was max()'s ValueError on an empty table after loading the data
    ("alpha out of range", lambda f: ["run", "long2014.table4", "--set", "prediction.alpha=1.5"],
     ("prediction.alpha",)),
    ("val fraction", lambda f: ["run", "long2014.table4", "--set", "val_fraction=1"], ("val_fraction",)),
    ("box below the prior role's input", lambda f: ["run", "long2014.table4", "--size", "tiny", "--backbone",
                                                    "caffenet", "--set", "prediction.box_size=40"],
     ("prediction.box_size", "55", "pool5")),  # conv5 fits in 40 px, pool5 does not: was a ZeroDivisionError
    ("locality k zero", lambda f: ["run", "long2014.locality", "--set", "ks1=1,0"], ("ks1",)),
    ("data figures grid", lambda f: ["run", "long2014.data", "--set", "grid_cols=0"], ("grid_cols",)),
    ("feature batch zero", lambda f: ["run", "razavian2015.tables", "--set", "feature_batch=0"], ("feature_batch",)),
    ("unknown descriptor", lambda f: ["run", "razavian2015.landmarks", "--set", "descriptor=conv9"],
     ("descriptor", "conv9")),
    ("face size below the backbone's input", lambda f: ["run", "razavian2015.landmarks", "--backbone", "caffenet",
                                                        "--set", "face_size=32"], ("face_size",)),
    ("flic crop", lambda f: ["run", "razavian2015.tables", "--set", "flic_crop=head"], ("flic_crop",)),
    ("unknown face attribute", lambda f: ["run", "razavian2015.directions", "--set", "attribute=gender"],
     ("attribute", "gender", "male")),  # was a KeyError traceback after the descriptors were computed
    ("unknown flic attribute", lambda f: ["run", "razavian2015.tables", "--set", "flic_attribute=gender"],
     ("flic_attribute", "gender", "torso_x")),  # was refused only after the whole FLIC pose table had run
    ("label size zero", lambda f: ["run", "razavian2015.rgb_segmentation", "--set", "label_size=0"], ("label_size",)),
    ("real data without a root", lambda f: ["run", "long2014.table2", "--set", "data=flic", "--out", f["empty"]],
     ("data_root",)),
]

TRAIN = [
    ("set unknown field", lambda f: ["train", "pose", "--set", "nosuch=1"], ("nosuch",)),
    ("set badly typed", lambda f: ["train", "pose", "--set", "seed=abc"], ("seed", "abc")),
    ("batch size zero", lambda f: ["train", "pose", "--set", "batch_size=0"], ("batch_size",)),
    ("unknown data", lambda f: ["train", "pose", "--set", "data=nosuch"], ("data", "nosuch")),
    ("unknown trunk", lambda f: ["train", "pose", "--set", "model.trunk=resnet50"], ("trunk", "resnet50")),
    ("trunk layer", lambda f: ["train", "pose", "--config", "flic", "--set", "trunk_train=block20"],
     ("trunk_train", "block20")),
    ("trunk pool", lambda f: ["train", "pose", "--config", "flic", "--set", "model.pool=4"], ("pool", "4")),
]

# ---------------------------------------------------------------------------------------------------- eval

EVAL = [
    ("pck missing preds", lambda f: ["eval", "pck", "--preds", f["dir"] / "nope.npz", "--gt", f["gt"]], ("nope.npz",)),
    ("pck preds folder", lambda f: ["eval", "pck", "--preds", f["dir"], "--gt", f["gt"]], ("is a folder",)),
    ("pck wrong suffix", lambda f: ["eval", "pck", "--preds", f["preds_txt"], "--gt", f["gt"]],
     ("preds.txt", "suffix")),
    ("pck garbage npz", lambda f: ["eval", "pck", "--preds", f["garbage_npz"], "--gt", f["gt"]], ("garbage.npz",)),
    ("pck string preds", lambda f: ["eval", "pck", "--preds", f["preds_str"], "--gt", f["gt"]], ("preds", "numeric")),
    ("pck wrong shape", lambda f: ["eval", "pck", "--preds", f["preds_shape"], "--gt", f["gt"]], ("preds", "shape")),
    ("pck missing key", lambda f: ["eval", "pck", "--preds", f["preds_key"], "--gt", f["gt"]], ("preds",)),
    ("pck gt missing norm", lambda f: ["eval", "pck", "--preds", f["preds"], "--gt", f["gt_no_norm"]], ("norm",)),
    ("pck zero norm", lambda f: ["eval", "pck", "--preds", f["preds"], "--gt", f["gt_zero_norm"]], ("norm", "> 0")),
    ("pck visible shape", lambda f: ["eval", "pck", "--preds", f["preds"], "--gt", f["gt_visible_shape"]],
     ("visible",)),
    ("pck alpha zero", lambda f: ["eval", "pck", "--preds", f["preds"], "--gt", f["gt"], "--alpha", "0"], ("alpha",)),
    ("pckh annot not hdf5", lambda f: ["eval", "pckh", "--preds", f["dir"] / "nope.h5", "--annot", f["gt"]],
     ("gt.npz", "HDF5")),
    ("pckh missing annot", lambda f: ["eval", "pckh", "--preds", f["preds"], "--annot", f["dir"] / "valid.h5"],
     ("valid.h5",)),
    ("pckh no annot", lambda f: ["eval", "pckh", "--preds", f["preds"]], ("--annot",)),
]

TABLES = (("align", ALIGN), ("features", FEATURES), ("classify", CLASSIFY), ("data", DATA), ("weights", WEIGHTS),
          ("run", RUN), ("train", TRAIN), ("eval", EVAL))
CASES = [(f"{cmd} {name}", argv, names) for cmd, table in TABLES
         for name, argv, names in table]


@pytest.mark.parametrize("argv, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused(files, capsys, tmp_path, monkeypatch, argv, names):
    monkeypatch.chdir(tmp_path)  # a command that wrongly starts work writes here, not into the checkout
    refused(capsys, argv(files), *names)


def test_pck_nonfinite_predictions_reported(files, capsys):
    from convcorr_eval.pck import pck_files

    r = pck_files(files["preds_nan"], files["gt"], 0.05)
    assert r["nonfinite"] == 1 and "1 of 12" in r["warning"] and r["per_joint"][1] < 100
    assert pck_files(files["preds"], files["gt"], 0.5)["warning"] is None
    code, err, out = run_cli(capsys, "eval", "pck", "--preds", files["preds_nan"], "--gt", files["gt"])
    assert code == 0
    assert any("1 of 12" in line for line in err + out.splitlines())


def test_data_root_without_dataset(files, capsys, tmp_path):
    refused(capsys, ["run", "long2014.table2", "--data-root", files["empty"], "--out", tmp_path], "--data-root")
