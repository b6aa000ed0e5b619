"""Every output path of a `convcorr` command is checked before any work against the command's own inputs: an output
that names an input file (an image, the weight file) or lies inside a folder it reads (the scored model's folder)
is one error line, exit code 2, and every file is left as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcorr_cli import align as align_cli
from convcorr_cli import eval_runs
from convcorr_cli import match as match_cli
from convcorr_cli import pose as pose_cli
from convcorr_cli.main import main
from convcorr_jax.pose import shipped


def _never(*args, **kwargs):
    raise AssertionError("no work is done")


@pytest.fixture
def files(tmp_path, monkeypatch) -> dict[str, Path]:
    """Two tiny images, a points file, a weight file and a copy of the shipped `person` model folder; the work of
    each command replaced by `_never`."""
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "p.json").write_text("[[10, 12]]")
    (tmp_path / "w.npy").write_bytes(b"the user's weights")
    shutil.copytree(shipped.MODELS / "person", tmp_path / "model")
    for module, name in ((pose_cli, "estimate"), (match_cli, "transfer_points"), (align_cli, "load_backbone"),
                         (eval_runs, "execute")):
        monkeypatch.setattr(module, name, _never)
    from convcorr_eval.tompson2015 import pose_scores

    monkeypatch.setattr(pose_scores, "score_run", _never)
    return {"a": tmp_path / "a.png", "b": tmp_path / "b.png", "p": tmp_path / "p.json", "w": tmp_path / "w.npy",
            "model": tmp_path / "model", "tmp": tmp_path}


def _refused(argv: list[str], field: str, said: str, kept: list[Path], capsys) -> None:
    before = {p: p.read_bytes() for p in kept}
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"field '{field}'" in err[0] and said in err[0], (argv, err)
    assert all(p.read_bytes() == b for p, b in before.items())


@pytest.mark.parametrize("command", ["pose --json", "match --out", "match --figure", "align --json"])
def test_an_output_naming_an_input_file_is_refused_before_any_work(files, command, capsys):
    a, b, w = str(files["a"]), str(files["b"]), str(files["w"])
    argv, field, kept = {
        "pose --json": (["pose", a, "--json", a], "--json", [files["a"]]),  # the image was replaced by the JSON
        "match --out": (["match", a, b, "--points", str(files["p"]), "--weights", w, "--out", w], "--out",
                        [files["w"]]),
        "match --figure": (["match", a, b, "--points", str(files["p"]), "--weights", w, "--figure", w],
                           "--figure", [files["w"]]),
        "align --json": (["align", a, b, "--out", str(files["tmp"] / "ab"), "--weights", w, "--json", w], "--json",
                         [files["w"]]),
    }[command]
    _refused(argv, field, "an input", kept, capsys)


@pytest.mark.parametrize("command", ["pose --json", "pose --out", "eval pose --json", "eval flic --json",
                                     "eval flic --figure", "eval mpii --h5"])
def test_an_output_inside_the_model_folder_is_refused_before_any_work(files, command, capsys):
    """The model is read, never written (`convcorr eval`'s docs: scoring never writes into it): its readout.json
    replaced by the scores, or drawings written among its files, was not refused."""
    model, inside = str(files["model"]), str(files["model"] / "readout.json")
    root = files["tmp"] / "data"
    root.mkdir()
    runs = ["--out", str(files["tmp"] / "runs")]
    argv, field = {
        "pose --json": (["pose", str(files["a"]), "--model", model, "--json", inside], "--json"),
        "pose --out": (["pose", str(files["a"]), "--model", model, "--out", model], "--out (a_pose.png)"),
        "eval pose --json": (["eval", "pose", "--model", model, "--root", str(root), "--json", inside], "--json"),
        "eval flic --json": (["eval", "flic", "--model", model, "--root", str(root), *runs, "--json", inside],
                             "--json"),
        "eval flic --figure": (["eval", "flic", "--model", model, "--root", str(root), *runs, "--figure",
                                str(files["model"] / "fig15.png")], "--figure"),
        "eval mpii --h5": (["eval", "mpii", "--model", model, "--annot", str(root / "valid.h5"), *runs, "--h5",
                            str(files["model"] / "preds.h5")], "--h5"),
    }[command]
    _refused(argv, field, "outside the model's folder", sorted(files["model"].iterdir()), capsys)
    assert sorted(p.name for p in files["model"].iterdir()) == ["model.json", "params.npz", "readout.json"]


@pytest.mark.parametrize("command", ["run", "eval pf-willow"])
def test_a_run_folder_inside_the_dataset_folder_is_refused_before_any_work(tmp_path, command, capsys, monkeypatch):
    """--out DIR whose run folder lies inside --root / --data-root: one line naming --out, nothing written there (the
    run folder was written among the dataset's files, and changed the fingerprint its key holds: never kept)."""
    from test_eval_aliases import _pf_fixture

    from convcorr_eval import registry

    monkeypatch.setattr(registry.load("long2014.pf_willow"), "run", _never)
    root = _pf_fixture(tmp_path / "pf")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    argv = {"run": ["run", "long2014.pf_willow", "--size", "tiny", "--data-root", str(root)],
            "eval pf-willow": ["eval", "pf-willow", "--root", str(root), "--size", "tiny"]}[command]
    for out in (root, root / "runs"):
        assert main([*argv, "--out", str(out)]) == 2, out
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "field '--out'" in err[0] and "outside data_root" in err[0], err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_a_json_at_the_runs_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """`eval pf-willow --out R --json R`: the run folder was written into R, then the JSON's rename onto the folder
    ended in an IsADirectoryError traceback."""
    from test_eval_aliases import _pf_fixture

    from convcorr_eval import registry

    monkeypatch.setattr(registry.load("long2014.pf_willow"), "run", _never)
    root, out = _pf_fixture(tmp_path / "pf"), tmp_path / "runs"
    _refused(["eval", "pf-willow", "--root", str(root), "--size", "tiny", "--out", str(out), "--json", str(out)],
             "--json", "not a folder above the run folder", [], capsys)
    assert not out.exists()


@pytest.mark.parametrize("named", ["image", "--json"])
def test_a_profile_file_naming_a_file_of_the_command_is_refused_before_any_work(files, named, capsys):
    """`convcorr --profile=FILE COMMAND ...`: FILE one of the command's own files (its image, its --json) is one line
    naming --profile (the profile's JSON replaced the image, or the command's JSON, after the run)."""
    j = files["tmp"] / "j.json"
    j.write_text("{}")
    target = {"image": files["a"], "--json": j}[named]
    _refused([f"--profile={target}", "pose", str(files["a"]), "--json", f"{j}"], "--profile", "names it",
             [files["a"], j], capsys)


def test_check_outputs_follows_links_and_takes_a_link_loop(tmp_path):
    """An output that is a link to an input is refused; a link loop as an output is no RuntimeError traceback."""
    from convcorr_cli.options import check_outputs
    from convcorr_jax.core.errors import InputError

    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    (tmp_path / "to_a.json").symlink_to(image)
    with pytest.raises(InputError, match="to_a.json"):
        check_outputs({"--json": tmp_path / "to_a.json"}, {"image_a": image})
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    check_outputs({"--json": tmp_path / "loop.json"}, {"image_a": image})
