"""Every registered experiment runs at tiny size on CaffeNet with seeded random weights (plumbing on the papers'
Caffe layout), the runner keeps identical runs and re-runs changed ones, the demo runs every stage at tiny size on the
real weights (Long et al.'s stages on torchvision's AlexNet conv layers, the others on MobileNetV2), and fails when a
stage's claim is not met at the demo's own settings."""

import dataclasses
import json
import re
import sys

import pytest

import convcorr_cli.main as cli
from convcorr_jax.core.paths import real_data_root
from convcorr_eval import experiment, registry
from convcorr_eval import demo
from convcorr_eval.demo import STAGES, tompson_claim
from convcorr_eval.runner import experiments, make_config, run_experiment
from report_consistency import check_run_folder


# columns of numbers that are no scores of the run (metrics.json need not hold them): geometry, sizes
NOT_SCORES = ("rf size (ours)", "stride (ours)", "centre of unit 0", "rf size, paper", "stride, paper", "rf size",
              "stride", "image px", "keypoints", "test instances", "s")  # "s": seconds


def _check_report(run_dir, markdown):
    rows = [line for line in markdown.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    assert len(rows) >= 2 and any(re.search(r"\d", r) for r in rows[1:]), "no table with numbers"
    for fig in re.findall(r"\((figures/[^)]+\.png)\)", markdown):
        assert (run_dir / fig).is_file(), fig


# where the bundled real data keeps each dataset an experiment may default to
REAL_FOLDERS = {"pf_willow": "pf_willow/PF-dataset-WILLOW", "flic": "flic", "pf_pascal": "pf_pascal/PF-PASCAL",
                "spair": "spair/SPair-71k"}
# experiments that score a trained pose run given to them (run_dir)
SCORERS = ("tompson2015.flic", "tompson2015.mpii")
# the longest, marked slow (`make test-all`), each run at tiny size by a test that checks more: razavian2015.tables
# (tests/test_regression_demo.py), long2014.pf_willow_validation (tests/test_pf_willow_transfer.py) and
# tompson2015.spatial_validation (tests/test_flic_pose.py, itself slow); long2014.pf_willow (the same tiny run on
# caffenet's random weights as tests/test_pf_willow_transfer.py's cnn-ot_rhm case); razavian2015.landmarks and
# razavian2015.rgb_segmentation (the sections razavian2015.tables runs in tests/test_regression_demo.py)
SLOW = ("razavian2015.tables", "long2014.pf_willow_validation", "tompson2015.spatial_validation",
        "long2014.pf_willow", "razavian2015.landmarks", "razavian2015.rgb_segmentation")


@pytest.mark.parametrize("exp_id", [pytest.param(e, marks=pytest.mark.slow) if e in SLOW else e
                                    for e in registry.EXPERIMENTS])
def test_experiment_tiny_on_caffenet_random_weights(exp_id, tmp_path):
    cfg = make_config(exp_id, "tiny", ["weights=random"], backbone="caffenet")
    if exp_id in SCORERS:
        pytest.skip(f"{exp_id} scores a trained pose run: tests/test_eval_aliases.py trains one and scores it")
    if cfg.data != "synthetic":  # an experiment on real data only: the bundled copy, if present
        real = real_data_root()
        folder = real / REAL_FOLDERS[cfg.data] if real is not None else None
        if folder is None or not folder.is_dir():
            pytest.skip(f"{exp_id} needs real {cfg.data} data: none found (set CONVCORR_REAL_DATA)")
        cfg = dataclasses.replace(cfg, data_root=str(folder))
    res, seconds, reused = run_experiment(exp_id, cfg, tmp_path, progress=False)
    run_dir = tmp_path / cfg.name
    for f in ("config.json", "metrics.json", "report.md", "report.html"):
        assert (run_dir / f).is_file(), f
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["status"] == "ok" and saved["key"]["settings"]["backbone"] == "caffenet" and not reused
    _check_report(run_dir, res.markdown)
    check_run_folder(run_dir, NOT_SCORES)  # report.md, report.html, config.json and metrics.json agree


def test_runner_keeps_identical_runs_and_reruns_changed_ones(tmp_path, capsys):
    args = ["run", "long2014.table1", "--size", "tiny", "--set", "classify=false", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    assert "ok in" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert "kept from an identical earlier run" in capsys.readouterr().out
    assert cli.main(args + ["--set", "seed=1"]) == 2  # another setting: refused, the finished run kept ...
    assert "--set name=NEW, or replace it with --force" in capsys.readouterr().err
    assert cli.main(args + ["--set", "seed=1", "--force"]) == 0  # ... run again on request
    assert "ok in" in capsys.readouterr().out
    assert cli.main(args + ["--force"]) == 0
    assert "ok in" in capsys.readouterr().out


class _DataChecked(Exception):
    """Raised by the stand-in `require_data`: the datasets the experiment checked for."""


class _WorkBegan(Exception):
    """Raised by the stand-in `load_backbone`: the experiment began its work without checking `data`."""


@pytest.mark.parametrize("exp_id", list(registry.EXPERIMENTS))
def test_registry_datasets_are_what_each_experiment_checks(exp_id, tmp_path, monkeypatch):
    """`registry.ACCEPTED_DATA` (printed by `run --list`) against the experiment's own `require_data` call, captured
    by running it with a stand-in that stops there; an experiment that loads its backbone first reads no dataset."""
    assert set(registry.ACCEPTED_DATA) == set(registry.EXPERIMENTS)
    mod = registry.load(exp_id)

    def checked(cfg, supported):
        raise _DataChecked(tuple(supported))

    def began(*args, **kwargs):
        raise _WorkBegan()

    original = experiment.require_data
    for name, m in list(sys.modules.items()):
        if name.startswith("convcorr_eval"):
            if getattr(m, "require_data", None) is original:
                monkeypatch.setattr(m, "require_data", checked)
            if callable(getattr(m, "load_backbone", None)):
                monkeypatch.setattr(m, "load_backbone", began)
    with pytest.raises((_DataChecked, _WorkBegan)) as stopped:
        mod.run(mod.get_config("tiny"), experiment.Context(tmp_path, progress=False))
    found = stopped.value.args[0] if isinstance(stopped.value, _DataChecked) else ()
    assert registry.ACCEPTED_DATA[exp_id] == found


def test_run_list_prints_whole_descriptions_and_datasets(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["run", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("long2014.table1 ") and max(map(len, out.splitlines())) <= 80
    blocks = re.split(r"\n(?=\S)", out.strip())  # one block per experiment: its id starts a line
    assert [b.split()[0] for b in blocks] == list(registry.EXPERIMENTS)
    for block, (exp_id, doc) in zip(blocks, experiments().items()):
        text = " ".join(block.split()[1:])
        assert text.startswith(doc) and len(doc) > 40 and doc.endswith("."), exp_id  # whole: to its full stop
        accepted = ", ".join(registry.ACCEPTED_DATA[exp_id]) or "none (reads no dataset)"
        assert text[len(doc):].strip() == "data: " + accepted
    assert "Hyperpixel Flow and SCOT on the same features. data: pf_willow" in " ".join(out.split())
    for exp_id, doc in experiments().items():  # read from the source, as the imported module's docstring says
        assert doc == " ".join(registry.load(exp_id).__doc__.strip().split("\n\n", 1)[0].split()), exp_id


@pytest.mark.parametrize("exp_id", [e for e in registry.EXPERIMENTS if registry.ACCEPTED_DATA[e]])
def test_run_refuses_data_the_experiment_does_not_take_as_such(exp_id, tmp_path, capsys):
    """`run razavian2015.landmarks --set data=voc` asked for the folder of the voc dataset (the shared data_root
    check ran before the experiment's own `require_data`): data it does not take is refused naming `data` and the
    ones it takes, with or without --data-root, before any folder is made."""
    accepted = registry.ACCEPTED_DATA[exp_id]
    other = next(d for d in experiment.DATASETS if d not in accepted)
    for extra in ([], ["--data-root", str(tmp_path)]):
        argv = ["run", exp_id, "--size", "tiny", "--set", f"data={other}", "--out", str(tmp_path / "runs"), *extra]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "field 'data':" in err[0] and f"got {other}" in err[0], err
        assert all(repr(d) in err[0] for d in accepted), err
    assert not (tmp_path / "runs").exists()


def test_runner_rejects_unknown_experiment_and_field(tmp_path, capsys):
    assert cli.main(["run", "long2014.nope", "--out", str(tmp_path)]) == 2
    assert "long2014.table1" in capsys.readouterr().err
    assert cli.main(["run", "long2014.table1", "--set", "nope=1", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli.main(["demo", "--only", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--only" in err and "nope" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_demo_every_stage_into_one_report(tmp_path):
    """`make demo`'s job, whole, at tiny size: every stage runs, one report with a numeric table per stage."""
    out = tmp_path / "demo"
    rc = cli.main(["demo", "--size", "tiny", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    failed = {k: v for k, v in metrics.items() if k != "run" and v["status"] != "ok"}  # "run": what ran
    assert rc == 0 and not failed and set(metrics) == {*STAGES, "run"}, failed
    report = (out / "report.md").read_text()
    for name in STAGES:
        section = report.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        _check_report(out, section)
        check_run_folder(out / name, NOT_SCORES)  # each stage's own run folder
    assert "<table>" in (out / "report.html").read_text()
    verdict = tompson_claim(metrics["tompson"]["metrics"])  # the claim reads what the stage writes
    assert verdict is None or verdict.startswith("the cascade is not clearly above"), verdict


def test_tompson_claim_on_hand_made_metrics():
    """The claim holds for the default run's numbers and fails, saying what was measured, below either margin."""
    def m(coarse, cascade):
        return {"score": "PCK@0.05", "pck@0.05": {"coarse": coarse, "cascade": cascade}}

    assert tompson_claim(m(1.7, 8.9)) is None and tompson_claim(m(0.0, 5.0)) is None
    assert "coarse 5.0, cascade 7.5" in tompson_claim(m(5.0, 7.5))  # 2.5 above: under the 3.0 margin
    assert "coarse 0.5, cascade 4.9" in tompson_claim(m(0.5, 4.9))  # under 5.0
    assert tompson_claim({"score": "PCKh@0.5"}).startswith("no torso PCK@0.05")


@pytest.mark.parametrize("cascade,settings,failed", [(8.9, {}, []), (2.0, {}, ["tompson"]),
                                                     (2.0, {"seed": 1}, []), (2.0, {"size": "tiny"}, [])])
def test_demo_fails_when_its_claim_is_not_met_at_its_own_settings(cascade, settings, failed, tmp_path, monkeypatch,
                                                                   capsys):
    """`run_demo` checks each stage's claim after it runs, at the demo's own settings only (default size, seed 0,
    each config's backbone and weights); a claim not met fails the demo and is written in metrics.json. The claim
    at default size is `convcorr demo`'s to check (800 training steps); here a stand-in runs the stage."""
    def stand_in(exp_id, cfg, out, force=False, progress=True, replace=False):
        metrics = {"score": "PCK@0.05", "pck@0.05": {"coarse": 1.7, "cascade": cascade}}
        return experiment.Result(summary="stand-in", markdown="| a | b |\n|---|---|\n| 1 | 2 |",
                                 metrics=metrics), 0.1, False

    monkeypatch.setattr(demo, "run_experiment", stand_in)
    assert demo.run_demo(["tompson"], out=tmp_path, **settings) == failed
    status = json.loads((tmp_path / "metrics.json").read_text())["tompson"]["status"]
    assert status == ("claim not met" if failed else "ok")
    assert ("[tompson] claim not met: the cascade is not clearly above" in capsys.readouterr().out) == bool(failed)


def test_demo_report_keeps_its_table_when_a_stage_fails_with_a_message_of_several_lines(tmp_path, monkeypatch):
    """A failed stage's message (an XLA error, a traceback's text) is one line in the summary table, so the rows
    after it stay in the table, and stands in full, as written, in the stage's section."""
    def failing(exp_id, cfg, out, force=False, progress=True, replace=False):
        raise RuntimeError("compile failed:\n  at <lambda> | step 2\n\n# not a heading")

    monkeypatch.setattr(demo, "run_experiment", failing)
    assert demo.run_demo(["table1", "data"], size="tiny", out=tmp_path) == ["table1", "data"]
    md = (tmp_path / "report.md").read_text()
    for name in ("table1", "data"):
        row = f"| {name} | {STAGES[name]} | failed | "
        assert row in md and md.split(row)[1].split("\n")[0].endswith(
            "FAILED: RuntimeError: compile failed: at <lambda> / step 2 # not a heading |")
    page = (tmp_path / "report.html").read_text()
    assert page.count("<tr>") == 3 and "<h1>not a heading" not in page and "<h1># not" not in page
    assert "<pre><code>RuntimeError: compile failed:\n  at &lt;lambda&gt; | step 2\n\n# not a heading" in page
