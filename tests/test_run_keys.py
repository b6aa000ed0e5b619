"""A run's key holds its data: the fingerprint of the files under data_root (`io.folder_fingerprint`), so a run on
changed data (a file added, removed or touched) runs again instead of serving the old table, while an unchanged
folder keeps the finished run. On a fake experiment that counts its files (no JAX work), and end to end on
`convcorr eval pf-willow` with a sub-class folder added (a fixture folder, and the real PF-WILLOW where present)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

import convcorr_cli.main as cli
from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_eval import registry, run_keys, runner
from convcorr_eval.experiment import Context, ExperimentConfig, Result

FAKE = "convcorr_tests_fake_data_experiment"
CHANGED = "the data it reads changed since its finished run; running it again"


@dataclasses.dataclass(frozen=True)
class FakeConfig(ExperimentConfig):
    data: str = "pf_willow"  # real data: needs --data-root
    beta: float = 0.003


def _run(cfg: FakeConfig, ctx: Context) -> Result:
    names = sorted(p.name for p in Path(cfg.data_root).iterdir() if not p.name.startswith("."))
    return Result(f"{len(names)} files: {','.join(names)}", "", {"files": names})


@pytest.fixture
def fake(register_experiment) -> str:
    return register_experiment("test.fake_data", FAKE, "A fake experiment that lists its data folder.", FakeConfig,
                               _run)


def _cli(capsys, out: Path, root: Path | str, *sets: str) -> tuple[int, str, str]:
    rc = cli.main(["run", "test.fake_data", "--data-root", str(root), "--out", str(out),
                   *[a for s in sets for a in ("--set", s)]])
    o, e = capsys.readouterr()
    return rc, o, e


def test_folder_fingerprint(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("abc")
    (root / "sub" / "b.bin").write_bytes(b"12345")
    fp = io.folder_fingerprint(root)
    assert fp["files"] == 2 and fp["bytes"] == 8 and len(fp["digest"]) == 16
    for hidden in (root / ".git", root / "sub" / "__pycache__"):  # hidden names and __pycache__ are not data
        hidden.mkdir()
        (hidden / "x").write_text("not data")
    (root / ".DS_Store").write_text("x")
    assert io.folder_fingerprint(root) == fp
    os.symlink(root / "sub", tmp_path / "linked")  # a link to a folder is followed, each folder once
    os.symlink(root, root / "sub" / "loop")
    assert io.folder_fingerprint(tmp_path / "linked")["files"] == 2  # b.bin, loop/a.txt (loop/sub: seen)
    (root / "sub" / "loop").unlink()
    st = (root / "a.txt").stat()
    (root / "a.txt").write_text("xyz")  # same size, mtime restored: contents are not read (documented)
    os.utime(root / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert io.folder_fingerprint(root) == fp
    os.utime(root / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # touched
    touched = io.folder_fingerprint(root)
    assert touched["digest"] != fp["digest"] and touched["files"] == 2
    (root / "sub" / "c.bin").write_bytes(b"")  # an empty file added
    added = io.folder_fingerprint(root)
    assert added["files"] == 3 and added["bytes"] == 8 and added["digest"] != touched["digest"]
    (root / "sub" / "c.bin").rename(root / "c.bin")  # moved: the relative path is part of it
    assert io.folder_fingerprint(root)["digest"] != added["digest"]
    assert io.folder_fingerprint(root / "a.txt")["files"] == 1  # one file
    with pytest.raises(InputError, match="data_root"):
        io.folder_fingerprint(tmp_path / "missing")


def test_changed_data_runs_again_and_settings_are_still_refused(fake, tmp_path, capsys):
    root, out = tmp_path / "data", tmp_path / "runs"
    root.mkdir()
    (root / "one.txt").write_text("1")
    rc, printed, _ = _cli(capsys, out, root)
    assert rc == 0 and "ok in" in printed and "1 files: one.txt" in printed
    run_dir = out / "test.fake_data"
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    fp = io.folder_fingerprint(root)
    assert config["data"] == metrics["key"]["data"] == {"data_root": {"path": str(root), **fp}}
    # the report names its inputs
    assert f"inputs: data_root {root} (1 files, 1 bytes, digest {fp['digest']})" in (run_dir / "report.md").read_text()
    rc, printed, _ = _cli(capsys, out, root)  # unchanged folder: kept
    assert rc == 0 and "kept from an identical earlier run: 1 files: one.txt" in printed and CHANGED not in printed

    (root / "two.txt").write_text("2")  # a file added: run again, the new result replaces the old
    rc, printed, err = _cli(capsys, out, root)
    assert rc == 0 and not err and printed.splitlines()[0] == f"{run_dir}: {CHANGED}"
    assert "ok in" in printed and "2 files: one.txt,two.txt" in printed
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["files"] == ["one.txt", "two.txt"]
    assert _cli(capsys, out, root)[1].count("kept from an identical earlier run") == 1

    st = (root / "one.txt").stat()
    os.utime(root / "one.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: run again
    rc, printed, _ = _cli(capsys, out, root)
    assert rc == 0 and CHANGED in printed and "ok in" in printed

    (root / "three.txt").write_text("3")  # other settings on changed data: refused for the settings only
    rc, printed, err = _cli(capsys, out, root, "beta=0.5")
    assert rc == 2 and not printed and "holds a finished run with other settings (beta: 0.003 -> 0.5)" in err
    assert "digest" not in err and "data" not in err.split("(beta")[1].split(")")[0]
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["files"] == ["one.txt", "two.txt"]


def _data_and_link(tmp_path, monkeypatch) -> Path:
    """In tmp_path (the working folder): data/one.txt and a link "linked" to data/; returns data/."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data"
    root.mkdir()
    (root / "one.txt").write_text("1")
    os.symlink(root, tmp_path / "linked")
    return root


def test_one_folder_named_relatively_absolutely_or_through_a_link_is_one_run(fake, tmp_path, monkeypatch, capsys):
    from convcorr_cli.eval_runs import run_name

    root = _data_and_link(tmp_path, monkeypatch)
    rc, printed, _ = _cli(capsys, Path("runs"), Path("data"))
    assert rc == 0 and "ok in" in printed
    run_dir = tmp_path / "runs" / "test.fake_data"
    written = "".join((run_dir / f).read_text() for f in ("config.json", "metrics.json", "report.md"))
    assert str(tmp_path) not in written  # the path as given; where it leads only as a digest
    assert json.loads((run_dir / "config.json").read_text())["data"]["data_root"]["path"] == "data"
    for same in (str(root), "./data/", "linked", str(tmp_path / "linked")):  # a second run before: other settings
        rc, printed, err = _cli(capsys, Path("runs"), same)
        assert rc == 0 and not err and "kept from an identical earlier run: 1 files: one.txt" in printed, same
    cfgs = [runner.make_config("test.fake_data", "tiny", data_root=r) for r in ("data", str(root), "linked")]
    assert len({run_name("fake", "test.fake_data", c) for c in cfgs}) == 1  # `convcorr eval`'s folders: one, not three
    other = tmp_path / "copy"
    shutil.copytree(root, other)  # another folder, even with the same files: another run, refused in place
    rc, printed, err = _cli(capsys, Path("runs"), Path("copy"))
    assert rc == 2 and 'holds a finished run with other settings (data_root: "data" -> "copy")' in err
    assert run_name("fake", "test.fake_data", runner.make_config("test.fake_data", "tiny", data_root="copy")) != \
        run_name("fake", "test.fake_data", cfgs[0])


def test_code_and_data_changed_say_both_and_stage_starts_afresh(fake, tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    root.mkdir()
    (root / "one.txt").write_text("1")
    cfg = runner.make_config("test.fake_data", "tiny", data_root=str(root))
    runner.run_experiment("test.fake_data", cfg, tmp_path / "runs", progress=False)
    run_dir = tmp_path / "runs" / "test.fake_data"
    (run_dir / "state.txt").write_text("state of the run on the old data")  # not carried over to other data
    config = json.loads((run_dir / "config.json").read_text())  # the run's own state: listed as its output
    io.write_json(run_dir / "config.json", {**config, "outputs": [*config["outputs"], "state.txt"]})
    (root / "two.txt").write_text("2")
    monkeypatch.setattr(run_keys, "code_version", lambda: "other code")
    capsys.readouterr()
    assert not runner.run_experiment("test.fake_data", cfg, tmp_path / "runs", progress=False)[2]
    assert f"{run_dir}: the code and the data it reads changed since its finished run" in capsys.readouterr().out
    assert not (run_dir / "state.txt").exists()


def test_out_inside_the_data_it_reads_is_refused_before_any_work(fake, tmp_path, monkeypatch, capsys):
    """A run folder written into the dataset would change the data's fingerprint (never kept) and add files there."""
    root = _data_and_link(tmp_path, monkeypatch)
    for out in ("data", "data/runs", str(root / "runs"), "linked/runs"):
        rc, printed, err = _cli(capsys, Path(out), "data")
        assert rc == 2 and not printed and len(err.strip().splitlines()) == 1, (out, err)
        assert f"{out}: field '--out': expected a folder outside data_root data (read, never written)" in err
    assert sorted(p.name for p in root.iterdir()) == ["one.txt"]
    rc, printed, _ = _cli(capsys, Path("runs"), "data")  # beside the data: fine
    assert rc == 0 and "ok in" in printed


def test_out_through_a_link_in_the_data_is_refused(fake, tmp_path, monkeypatch, capsys):
    """--out a link inside the dataset to a folder outside: the run folder written through it is read as data (the
    fingerprint follows links to folders), so it is refused as a folder inside is (it was accepted: only the link's
    target was compared); so is a folder below the link (data/runs/sub was accepted: only a link given as --out
    itself counted as inside)."""
    root = _data_and_link(tmp_path, monkeypatch)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "runs")
    for out in ("data/runs", "data/runs/sub", "data/runs/sub/../deeper"):  # the link, or a folder reached through it
        rc, printed, err = _cli(capsys, Path(out), "data")
        assert rc == 2 and not printed, (out, err)
        assert f"{out}: field '--out': expected a folder outside data_root data (read, never written)" in err
    assert not any((tmp_path / "elsewhere").iterdir())


def test_synthetic_runs_have_no_data_in_their_key(fake, tmp_path):
    cfg = dataclasses.replace(runner.make_config("test.fake_data", "tiny"), data="synthetic")
    key = run_keys.run_key("test.fake_data", cfg)
    assert set(key) == {"kind", "settings", "version"}


# ------------------------------------------------------------------------------------------------ PF-WILLOW
def _sub_class(folder: Path, seed: int, n: int = 3) -> None:
    """A PF-WILLOW sub-class folder: n images with their pts_coord .mat files (1-based x, y rows)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        sio.savemat(folder / f"im{i}.mat", {"pts_coord": np.stack([rng.uniform(1, 40, 10), rng.uniform(1, 30, 10)])})
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(folder / f"im{i}.png")


def _pf_willow_twice(root: Path, add, out: Path, capsys) -> tuple[str, str]:
    """`convcorr eval pf-willow --root root` (no flow, 2 pairs per sub-class), `add()` a sub-class, the same command
    again: the two outputs."""
    args = ["eval", "pf-willow", "--root", str(root), "--features", "none", "--backbone", "caffenet", "--weights",
            "random", "--pairs", "2", "--out-dir", str(out), "--no-progress"]
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    add()
    assert cli.main(args) == 0
    return first, capsys.readouterr().out


def _table_head(printed: str) -> str:
    return next(line for line in printed.splitlines() if line.startswith("| alpha |"))


def test_eval_pf_willow_sees_a_sub_class_added(tmp_path, capsys):
    root = tmp_path / "pf"
    _sub_class(root / "a(S)", 0)
    first, second = _pf_willow_twice(root, lambda: _sub_class(root / "b(S)", 1), tmp_path / "runs", capsys)
    assert _table_head(first) == "| alpha | a(S) | mean of 1 |" and ", 2 pairs," in first
    assert CHANGED in second and "kept from an identical earlier run" not in second
    assert _table_head(second) == "| alpha | a(S) | b(S) | mean of 2 |" and ", 4 pairs," in second
    runs = [p for p in (tmp_path / "runs").iterdir() if not p.name.endswith(".lock")]
    assert len(runs) == 1  # the same settings: the same folder, replaced


def test_eval_pf_willow_real_sub_class_added(real_data, tmp_path, capsys):
    real = real_data / "pf_willow" / "PF-dataset-WILLOW"
    classes = sorted(p.name for p in real.iterdir() if p.is_dir()) if real.is_dir() else []
    if len(classes) < 2:
        pytest.skip("pf_willow/PF-dataset-WILLOW with 2 sub-classes not present in the real-data folder")
    root = tmp_path / "PF-dataset-WILLOW"
    shutil.copytree(real / classes[0], root / classes[0])
    first, second = _pf_willow_twice(root, lambda: shutil.copytree(real / classes[1], root / classes[1]),
                                     tmp_path / "runs", capsys)
    assert _table_head(first) == f"| alpha | {classes[0]} | mean of 1 |"
    assert CHANGED in second and _table_head(second) == f"| alpha | {classes[0]} | {classes[1]} | mean of 2 |"


def test_an_experiment_names_the_files_it_reads(tmp_path):
    """`tompson2015.mpii` reads an annotation file and an image folder, not data_root: both are in its run key."""
    from convcorr_eval.tompson2015 import mpii

    annot = tmp_path / "annot" / "valid.h5"
    annot.parent.mkdir()
    annot.write_bytes(b"x")
    (tmp_path / "images").mkdir()
    cfg = mpii.Config(annot=str(annot))
    assert run_keys.data_paths("tompson2015.mpii", cfg) == {"annot": str(annot), "images": str(tmp_path / "images")}
    key = run_keys.run_key("tompson2015.mpii", cfg)["data"]
    assert set(key) == {"annot", "images"} and key["images"]["files"] == 0
    (tmp_path / "images" / "a.jpg").write_bytes(b"y")
    assert run_keys.run_key("tompson2015.mpii", cfg)["data"]["images"] != key["images"]
    annot.write_bytes(b"xx")
    assert run_keys.run_key("tompson2015.mpii", cfg)["data"]["annot"] != key["annot"]


def test_tompson_tables_key_holds_the_published_mpii_predictions(tmp_path, monkeypatch):
    """Table 4 of `tompson2015.tables` is read from the real MPII folder's published prediction files: a changed
    one used to leave the run key as it was, so the stale table was kept."""
    mpii = tmp_path / "real" / "mpii"
    (mpii / "hg_annot").mkdir(parents=True)
    (mpii / "reference_preds").mkdir()
    (mpii / "hg_annot" / "valid.h5").write_bytes(b"x")
    (mpii / "reference_preds" / "tompson.h5").write_bytes(b"p")
    monkeypatch.setenv("CONVCORR_REAL_DATA", str(tmp_path / "real"))
    cfg = runner.make_config("tompson2015.tables", "tiny")
    key = run_keys.located(run_keys.run_key("tompson2015.tables", cfg))
    assert set(key["data"]) == {"mpii_annot", "mpii_reference_preds"}
    (mpii / "reference_preds" / "tompson.h5").write_bytes(b"changed")
    assert run_keys.located(run_keys.run_key("tompson2015.tables", cfg))["data"] != key["data"]
    off = runner.make_config("tompson2015.tables", "tiny", ["reference_pckh=false"])
    assert "data" not in run_keys.run_key("tompson2015.tables", off)  # no Table 4: nothing read


def test_a_weight_file_is_part_of_the_key(tmp_path):
    cfg = registry.load("long2014.table1").get_config("tiny")
    w = tmp_path / "w.pth"
    w.write_bytes(b"weights")
    keyed = dataclasses.replace(cfg, weights=str(w))
    assert "data" not in run_keys.run_key("long2014.table1", cfg)
    assert run_keys.data_paths("long2014.table1", keyed) == {"weights": str(w)}
    before = run_keys.run_key("long2014.table1", keyed)["data"]
    w.write_bytes(b"other weights")
    assert run_keys.run_key("long2014.table1", keyed)["data"] != before


# ------------------------------------------------------------------------------------------------ model paths
def _model_spellings(tmp_path, monkeypatch) -> list[str]:
    """In tmp_path (the working folder): a model folder "my models/flic" (a model.json) and a link to it; the model
    as `--model` may be typed: relatively, with ./ and a trailing slash, absolutely, through the link."""
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "my models" / "flic"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{}")
    os.symlink(model, tmp_path / "linked")
    return ["my models/flic", "./my models/flic/", str(model), "linked"]


def _scored(monkeypatch, exp_id: str) -> list[str]:
    """The experiment's run replaced by one that records each model it scores (no JAX work)."""
    scored = []

    def fake_run(cfg, ctx) -> Result:
        scored.append(cfg.model)
        return Result(f"scored {len(scored)}", "", {"scored": len(scored)})

    monkeypatch.setattr(registry.load(exp_id), "run", fake_run)
    return scored


def test_eval_flic_names_and_keys_its_run_by_where_the_model_is(tiny_flic, tmp_path, monkeypatch, capsys):
    """`convcorr eval flic --model` spelled four ways named four run folders and scored the model four times; `convcorr
    run tompson2015.flic --set model=` spelled another way was refused as a finished run with other settings."""
    import argparse

    from convcorr_cli.eval_runs import run_alias
    from convcorr_eval.tompson2015 import flic_scores

    spellings = _model_spellings(tmp_path, monkeypatch)
    scored = _scored(monkeypatch, "tompson2015.flic")
    args = argparse.Namespace(name=None, out="runs", force=False, no_progress=True, metric="flic")
    runs = set()
    for model in spellings:
        cfg = runner.make_config("tompson2015.flic", sets=[f"model={model}"], data_root=str(tiny_flic))
        result, run_dir = run_alias("flic", "tompson2015.flic", cfg, flic_scores.run_name(cfg), args)
        assert result.metrics == {"scored": 1}, model  # the first one's result, kept
        runs.add(run_dir)
    assert len(runs) == 1 and len(scored) == 1 and capsys.readouterr().out.count("kept from an identical") == 3
    for model in spellings:  # `convcorr run`: one folder named by the experiment, kept
        cfg = runner.make_config("tompson2015.flic", sets=[f"model={model}"], data_root=str(tiny_flic))
        assert runner.run_experiment("tompson2015.flic", cfg, "runs", progress=False)[0].metrics == {"scored": 2}
    assert len(scored) == 2


def test_eval_mpii_names_its_run_by_where_its_files_are(tmp_path, monkeypatch):
    """`convcorr eval mpii`: --model, --annot and --images spelled another way named another run folder."""
    from convcorr_cli.eval_runs import run_name

    models = _model_spellings(tmp_path, monkeypatch)
    (tmp_path / "mpii" / "annot").mkdir(parents=True)
    (tmp_path / "mpii" / "annot" / "valid.h5").write_bytes(b"x")
    (tmp_path / "mpii" / "images").mkdir()
    os.symlink(tmp_path / "mpii", tmp_path / "mpii_link")
    ways = [(models[0], "mpii/annot/valid.h5", None), (models[1], "./mpii/annot/../annot/valid.h5", "mpii/images/"),
            (models[2], str(tmp_path / "mpii/annot/valid.h5"), str(tmp_path / "mpii/images")),
            (models[3], "mpii_link/annot/valid.h5", "mpii_link/images")]
    names = set()
    for model, annot, images in ways:
        cfg = runner.make_config("tompson2015.mpii", sets=[f"model={model}", f"annot={annot}"]
                                 + ([f"images={images}"] if images else []))
        names.add(run_name("tompson2015.mpii_flic", "tompson2015.mpii", cfg))
    assert len(names) == 1, names
    other = runner.make_config("tompson2015.mpii", sets=["model=flic", "annot=mpii/annot/valid.h5"])  # shipped
    assert run_name("tompson2015.mpii_flic", "tompson2015.mpii", other) not in names


def _as_written_before(run_dir: Path, field: str) -> None:
    """The run folder as a run recorded before `field` was compared by where it leads: no "where" entry for it."""
    for name, at in (("config.json", ()), ("metrics.json", ("key",))):
        record = json.loads((run_dir / name).read_text())
        holder = record
        for k in at:
            holder = holder[k]
        del holder["where"][field]
        io.write_json(run_dir / name, record)


def test_a_run_recorded_before_its_model_was_placed_is_kept_or_run_again_never_refused(tiny_flic, tmp_path,
                                                                                        monkeypatch, capsys):
    spellings = _model_spellings(tmp_path, monkeypatch)
    scored = _scored(monkeypatch, "tompson2015.flic")

    def run(model: str) -> tuple[Result, float, bool]:
        cfg = runner.make_config("tompson2015.flic", sets=[f"model={model}"], data_root=str(tiny_flic))
        return runner.run_experiment("tompson2015.flic", cfg, tmp_path / "runs", progress=False)

    run(spellings[0])
    run_dir = tmp_path / "runs" / "tompson2015.flic"
    assert "model" in json.loads((run_dir / "config.json").read_text())["where"]
    _as_written_before(run_dir, "model")
    assert run(spellings[2])[2] and len(scored) == 1  # "my models/flic" leads here too: identical, kept
    assert "model" not in json.loads((run_dir / "config.json").read_text())["where"]  # kept as it was
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the recorded "my models/flic" leads nowhere from here
    capsys.readouterr()
    result, _, reused = run(spellings[2])
    assert not reused and result.metrics == {"scored": 2}  # run again in place, not refused
    said = capsys.readouterr().out
    assert f"{run_dir}: its finished run did not record where model led; running it again" in said
    assert run(str(tmp_path / "linked"))[2]  # now recorded: the link is the same run


def test_eval_flic_out_inside_the_model_folder_is_refused_before_any_work(tiny_flic, tmp_path, monkeypatch, capsys):
    """`convcorr eval flic --model M --out M/runs` wrote a run folder into the model folder it scores (only the data
    paths were checked): refused in one line naming --out and the model folder, before any work, however the folder
    is reached; an --out beside the model folder runs. A shipped model's name is no folder of the user's."""
    from convcorr_eval.tompson2015 import flic_scores

    spellings = _model_spellings(tmp_path, monkeypatch)
    scored = _scored(monkeypatch, "tompson2015.flic")
    monkeypatch.setattr(flic_scores, "markdown", lambda res: "")  # the fake run's metrics hold no tables
    monkeypatch.setattr(flic_scores, "summary_line", lambda res: res)

    def eval_flic(model: str, out: str) -> tuple[int, str, str]:
        rc = cli.main(["eval", "flic", "--model", model, "--root", str(tiny_flic), "--out", out, "--no-progress"])
        printed, err = capsys.readouterr()
        return rc, printed, err

    for model, out in ((spellings[0], "my models/flic/runs"), (spellings[2], "linked/runs"),
                       (spellings[3], "my models/flic")):
        rc, printed, err = eval_flic(model, out)
        assert rc == 2 and not printed and len(err.strip().splitlines()) == 1, (model, out, err)
        assert f"{out}: field '--out': expected a folder outside model {model} (read, never written)" in err
    assert sorted(p.name for p in (tmp_path / "my models" / "flic").iterdir()) == ["model.json"] and not scored
    rc, printed, _ = eval_flic(spellings[0], "runs")  # beside the model folder: fine
    assert rc == 0 and scored == [spellings[0]]
    assert run_keys.places("tompson2015.flic", runner.make_config("tompson2015.flic", sets=["model=flic"])) == {}
