"""What people read: one unit per kind of number (PCK as percent with one decimal on the console and in reports,
fractions rounded to 6 significant digits in JSON, with the normaliser and alpha named), every row saying what it
ran on, tiny runs without the paper's numbers, results before the config, means over the same sub-classes."""

from __future__ import annotations

import dataclasses
import json
import math
import numpy as np
import pytest

from convcorr_cli.main import main
from convcorr_jax.core import cache, runinfo
from convcorr_eval import runner
from convcorr_eval.experiment import ExperimentConfig, Result
from convcorr_eval.long2014 import paper
from convcorr_eval.long2014 import pf_willow as pf_willow_eval
from convcorr_eval.report import NOT_COMPARABLE, percent, ran_on

NOISY = 0.6700000000000002  # float noise, as metrics.json held it


# ------------------------------------------------------------------------------------------------ rounding


def test_rounded_keeps_six_significant_digits_everywhere():
    assert NOISY != 0.67 and runinfo.rounded(NOISY) == 0.67 and runinfo.rounded(0.07 + 0.6) == 0.67 != 0.07 + 0.6
    assert runinfo.rounded(1 / 3) == 0.333333 and runinfo.rounded(2 / 3) == 0.666667
    assert runinfo.rounded(123456789.0) == 123457000.0 and runinfo.rounded(1.23456789e-7) == 1.23457e-7
    assert runinfo.rounded(7) == 7 and isinstance(runinfo.rounded(7), int)
    assert runinfo.rounded("0.123456789") == "0.123456789"
    assert math.isnan(runinfo.rounded(float("nan"))) and runinfo.rounded(float("inf")) == float("inf")
    nested = {"a": [np.float64(1 / 3), (np.float32(0.25), 2)], "b": np.array([[1 / 7, 10.0]]), "c": True}
    assert runinfo.rounded(nested) == {"a": [0.333333, [0.25, 2]], "b": [[0.142857, 10.0]], "c": True}


def test_metrics_record_rounds_results_not_the_key():
    key = cache.key("exp", {"lr": 0.000123456789}, "v1")
    rec = runinfo.metrics_record(key, True, 12.3456789, "s", "md", {"pck": {"0.1": NOISY}})
    assert rec["key"] == key and rec["key"]["settings"]["lr"] == 0.000123456789  # compared exactly by later runs
    assert rec["metrics"] == {"pck": {"0.1": 0.67}} and rec["seconds"] == 12.3457 and rec["status"] == "ok"
    assert set(rec) == {"key", "status", "seconds", "summary", "markdown", "metrics", "versions", "devices"}
    assert runinfo.metrics_record(key, False, 0.0, "s")["status"] == "running"


def test_training_metrics_use_the_same_schema():
    from convcorr_jax.pose.training import run_folder
    from convcorr_jax.pose.training.config import TrainConfig

    evals = [{"step": 2, "stage": 1, "loss": NOISY, "coarse_pck@0.05": 100 / 3, "cascade_pck@0.05": 50.0}]
    rec = run_folder.metrics_record(TrainConfig(name="r", data="flic"), evals, 1.0, True)
    assert set(rec) == set(runinfo.metrics_record({}, True, 0.0, "")) and rec["status"] == "ok"
    assert rec["metrics"]["evals"][0]["loss"] == 0.67 and rec["metrics"]["evals"][0]["coarse_pck@0.05"] == 33.3333
    assert rec["metrics"]["pck_about"] == {"unit": "percent", "normaliser": "torso", "alphas": [0.05],
                                           "per_joint": "at alpha 0.05"}


@dataclasses.dataclass(frozen=True)
class _Cfg(ExperimentConfig):
    pass


def _noisy_run(cfg, ctx) -> Result:
    return Result("summary line PCK 67.0", "## Results\n\n| row | PCK (%) |\n|:---|---:|\n| ours | 67.0 |",
                  {"pck": {"0.1": NOISY, "0.2": 1 / 3}})


def test_runner_metrics_json_is_rounded_and_report_puts_results_first(tmp_path, register_experiment):
    exp = register_experiment("fake.units", "fake_units", "A fake experiment.", _Cfg, _noisy_run)
    result, _, _ = runner.run_experiment(exp, runner.make_config(exp), tmp_path, progress=False)
    assert result.metrics["pck"]["0.1"] == NOISY  # the experiment's own value, unrounded
    text = (tmp_path / "fake.units" / "metrics.json").read_text()
    assert "0.6700000000000002" not in text and json.loads(text)["metrics"]["pck"] == {"0.1": 0.67, "0.2": 0.333333}
    for report in ("report.md", "report.html"):
        page = (tmp_path / "fake.units" / report).read_text()
        order = [page.index(s) for s in ("summary line PCK 67.0", "Results", "Run", "config", "wall time")]
        assert order == sorted(order), (report, order)


# ---------------------------------------------------------------------------------------------- labels


def test_percent_and_ran_on():
    assert percent(0.6734) == "67.3" and percent(1.0) == "100.0" and percent(NOISY) == "67.0"
    tiny = pf_willow_eval.get_config("tiny")
    assert ran_on(dataclasses.replace(tiny, data="synthetic"), "test").startswith(
        "tiny, synthetic: not comparable to the paper")
    on = ran_on(dataclasses.replace(pf_willow_eval.get_config("default"), backbone="vgg16"), "validation")
    assert on == "real pf_willow, default size, vgg16, validation split"


def _pck(subs: dict[str, float]) -> dict:
    """A `correspondence_metrics.pf_pck` result with per-sub-class PCK `subs` at 0.1 (half at 0.05, capped double at
    0.2)."""
    out = {}
    for a, f in (("0.05", 0.5), ("0.1", 1.0), ("0.2", 2.0)):
        row = {c: min(1.0, f * v) for c, v in subs.items()}
        out[a] = dict(row, mean=float(np.mean(list(row.values()))))
    return out


def test_pf_willow_report_in_percent_with_same_subclass_means():
    cfg = dataclasses.replace(pf_willow_eval.get_config("default"), backbone="vgg16")
    one = pf_willow_eval.pck_markdown(_pck({"car(S)": NOISY}), cfg.label, cfg)
    assert "| 67.0 | 67.0 |" in one and "0.67" not in one and "mean of 1" in one
    assert "real pf_willow, default size, vgg16, validation split" in one
    sift = [ln for ln in one.splitlines() if ln.startswith("| SIFT Flow C++ (peer harness")]
    # alpha 0.1: the peer's car(S) number, not its 4-sub-class mean; 0.05, 0.2: its mean is over 4, so "-"
    cells = {ln.split("alpha ")[1].split(" ")[0]: [c.strip() for c in ln.split("|")[2:-1]] for ln in sift}
    assert cells == {"0.05": ["-", "-"], "0.1": ["50.6", "50.6"], "0.2": ["-", "-"]}
    assert "all 10 sub-classes" in one  # what the published means are over

    four = pf_willow_eval.pck_markdown(_pck(dict.fromkeys(paper.PF_WILLOW_SIFTFLOW_CPP["subclasses"], 0.5)), cfg.label,
                                       cfg)
    peer = paper.PF_WILLOW_SIFTFLOW_CPP
    mean01 = percent(peer["pck"]["0.1"])  # its own mean over the same 4 sub-classes, as published
    lines = {ln.split("alpha ")[1].split(" ")[0]: ln for ln in four.splitlines()
             if ln.startswith("| SIFT Flow C++ (peer harness")}
    assert lines["0.1"].endswith(f"| {mean01} |") and lines["0.05"].endswith(f"| {percent(peer['pck']['0.05'])} |")
    assert "mean of 4" in four


def test_pf_willow_tiny_report_leaves_the_paper_out():
    md = pf_willow_eval.pck_markdown(_pck({"car(S)": 0.5}), "x", pf_willow_eval.get_config("tiny"))
    assert NOT_COMPARABLE in md and "tiny, real pf_willow: not comparable to the paper" in md
    assert "SIFT Flow C++" not in md and "Published" not in md and "CNNGeo" not in md


def test_pf_willow_json_names_normaliser_and_alphas():
    about = pf_willow_eval.pck_about(_pck({"a(S)": 0.5, "b(S)": 0.25}))
    assert about["normaliser"] == "target keypoint box" and about["alphas"] == [0.05, 0.1, 0.2]
    assert about["unit"] == "fraction in [0, 1]" and "2 sub-classes" in about["mean"]


def test_eval_pf_willow_console_percent_json_fractions(tmp_path, capsys, write_pf_willow):
    root, js = write_pf_willow(tmp_path / "pf", ("a(S)", "b(S)")), tmp_path / "pck.json"
    assert main(["eval", "pf-willow", "--root", str(root), "--features", "none", "--backbone", "caffenet",
                 "--weights", "random", "--pairs", "2", "--out", str(tmp_path / "runs"), "--json", str(js),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(js.read_text())
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in printed.splitlines()
            if ln.startswith("| 0.")}
    assert set(rows) == {"0.05", "0.1", "0.2"} and "PCK (%) at alpha x the target keypoint box" in printed
    for a, cells in rows.items():  # console: percent, one decimal, of the JSON's fractions
        want = [percent(saved["pck"][a][c]) for c in ("a(S)", "b(S)", "mean")]
        assert cells == want and all(c == f"{float(c):.1f}" for c in cells), (a, cells, want)
    assert all(0 <= v <= 1 for row in saved["pck"].values() for v in row.values())
    assert all(v == float(f"{v:.6g}") for row in saved["pck"].values() for v in row.values())
    assert saved["pck_about"]["normaliser"] == "target keypoint box"
    # features none: no network; a(S), b(S) are not validation sub-classes
    assert "real pf_willow, default size, no network, test split" in printed


# ---------------------------------------------------------------------------------- experiments' tables


@pytest.mark.parametrize("tiny", [True, False])
def test_long2014_tables_label_rows_and_drop_the_paper_when_tiny(tiny):
    from convcorr_eval.long2014 import table3, table4

    cfg = dataclasses.replace(table4.get_config("tiny" if tiny else "default"), backbone="caffenet")
    md4 = table4.table_markdown({"conv5": {"dog": 0.5, "cat": 0.25, "mean": 0.375}}, cfg=cfg)
    md3 = table3.table_markdown({"conv5": {"accuracy": {"dog": 0.5}, "mean": 0.5}}, cfg=cfg)
    for md in (md4, md3):
        assert ("paper (different data" in md) is not tiny
        assert (NOT_COMPARABLE in md) is tiny
        label = "tiny, synthetic: not comparable to the paper" if tiny else "synthetic, default size, caffenet"
        assert f"| conv5 ({label}" in md
    assert "mean of 2" in md4 and ("mean of 20" in md4) is not tiny
    assert "| 25.0 | 50.0 | 37.5 |" in md4  # cat, dog, their mean: percent with one decimal


def test_random_weights_are_not_labelled_comparable_to_the_paper():
    from convcorr_eval.long2014 import table3, table4
    from convcorr_eval.report import comparable

    cfg = dataclasses.replace(table4.get_config("default"), backbone="caffenet", weights="random")
    md4 = table4.table_markdown({"conv5": {"dog": 0.5, "cat": 0.25, "mean": 0.375}}, cfg=cfg)
    md3 = table3.table_markdown({"conv5": {"accuracy": {"dog": 0.5}, "mean": 0.5}}, cfg=cfg)
    for md in (md4, md3):
        assert "paper (different data" not in md and "Random weights: not comparable to the paper" in md
        assert "| conv5 (synthetic, default size: not comparable to the paper; caffenet (random weights)" in md
    assert not comparable(cfg) and comparable(cfg, network=False)  # a network of its own: cfg.weights unused
    assert ran_on(cfg, "test", "no network") == "synthetic, default size, no network, test split"
    assert ran_on(dataclasses.replace(cfg, size="tiny"), "test") == (
        "tiny, synthetic: not comparable to the paper; caffenet (random weights), test split")
    willow = dataclasses.replace(pf_willow_eval.get_config("default"), weights="random")
    md = pf_willow_eval.pck_markdown(_pck({"car(S)": 0.5}), "x", willow)
    assert "SIFT Flow C++" not in md and "Random weights: not comparable to the paper" in md
    sift = dataclasses.replace(willow, transfer=dataclasses.replace(willow.transfer, features="sift"))
    assert "SIFT Flow C++" in pf_willow_eval.pck_markdown(_pck({"car(S)": 0.5}), "x", sift)  # no network's weights


def test_score_about_names_unit_normaliser_and_alpha():
    from convcorr_eval.report import score_about

    assert score_about("torso", 0.05, "percent") == {"unit": "percent", "normaliser": "torso", "alpha": 0.05}
    assert score_about("head segment", (0.5, 0.1), over="14 joints") == {
        "unit": "fraction in [0, 1]", "normaliser": "head segment", "alphas": [0.5, 0.1], "over": "14 joints"}


def test_demo_report_puts_the_stages_before_the_run_header(tmp_path, monkeypatch, register_experiment):
    from convcorr_eval import demo

    exp = register_experiment("fake.units_demo", "fake_units_demo", "A fake experiment.", _Cfg, _noisy_run)
    monkeypatch.setitem(demo.STAGES, "fake", exp)
    assert demo.run_demo(["fake"], size="tiny", out=tmp_path) == []
    page = (tmp_path / "report.md").read_text()
    order = [page.index(s) for s in ("| stage |", "summary line PCK 67.0", "## Run", "config", "wall time")]
    assert order == sorted(order), order
    assert json.loads((tmp_path / "metrics.json").read_text())["fake"]["metrics"]["pck"]["0.1"] == 0.67


@pytest.mark.parametrize("settings,said,unsaid", [
    ({}, ("Embedded default", "real ImageNet conv weights", "for orientation only"), ("not comparable",)),
    ({"backbone": "caffenet", "weights": "random"}, ("stages on caffenet with random weights",
                                                     "Random weights: not comparable to the paper"),
     ("real ImageNet", "Embedded default")),
    ({"size": "tiny", "backbone": "vgg16"}, ("on vgg16 with the real pretrained weights", "Size tiny: not comparable"),
     ("AlexNet", "for orientation only"))])
def test_demo_report_says_the_networks_and_weights_it_ran_on(settings, said, unsaid, tmp_path, monkeypatch,
                                                            register_experiment):
    from convcorr_eval import demo

    exp = register_experiment("fake.units_demo", "fake_units_demo", "A fake experiment.", _Cfg, _noisy_run)
    monkeypatch.setitem(demo.STAGES, "fake", exp)
    assert demo.run_demo(["fake"], out=tmp_path, **settings) == []
    opening = (tmp_path / "report.md").read_text().split("\n")[2]
    assert all(s in opening for s in said) and not any(s in opening for s in unsaid), opening


def test_demo_report_and_metrics_say_what_ran_as_the_console(tmp_path, monkeypatch, register_experiment, capsys):
    """The report's run header is the console's (backbone and weights, which change the numbers, included);
    metrics.json holds the same config, the seed, the versions and the wall time."""
    from convcorr_eval import demo

    exp = register_experiment("fake.units_demo", "fake_units_demo", "A fake experiment.", _Cfg, _noisy_run)
    monkeypatch.setitem(demo.STAGES, "fake", exp)
    assert demo.run_demo(["fake"], size="tiny", out=tmp_path, seed=3, backbone="caffenet", weights="random") == []
    console = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(("config: ", "seed: "))][:2]
    page = (tmp_path / "report.md").read_text().split("## Run", 1)[1]  # the demo's header first, then the stage's
    config = json.loads(console[0][len("config: "):])
    assert json.loads(page.split("config:\n", 1)[1].split("\nseed: 3", 1)[0]) == config and console[1] == "seed: 3"
    run = json.loads((tmp_path / "metrics.json").read_text())["run"]
    assert run["config"] == config and config["backbone"] == "caffenet" and config["weights"] == "random"
    assert run["seed"] == 3 and run["versions"] == runinfo.versions() and run["seconds"] >= 0
    assert run["devices"] == runinfo.devices()
