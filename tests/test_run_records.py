"""A run folder's JSON is standard JSON (a NaN score written as null, not the bare NaN strict parsers refuse), and
reads back as it was recorded (the NaN is NaN again, not None; files of older versions with bare NaN read too); a
kept run prints the run header its earlier run recorded, not today's. On a fake experiment (no JAX work) through
`convcorr run`, and a training run's metrics.json through `run_folder.read_metrics`."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

import convcorr_cli.main as cli
from convcorr_jax.core import io, runinfo
from convcorr_jax.pose.training import run_folder
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_eval import runner
from convcorr_eval.experiment import Context, ExperimentConfig, Result

FAKE = "convcorr_tests_nan_experiment"


def _refuse(name: str):
    raise ValueError(f"not standard JSON: {name}")


def _strict(text: str):
    """`text` parsed as standard JSON: a bare NaN, Infinity or -Infinity is refused."""
    return json.loads(text, parse_constant=_refuse)


@dataclasses.dataclass(frozen=True)
class NanConfig(ExperimentConfig):
    beta: float = 0.5


def _run(cfg: NanConfig, ctx: Context) -> Result:
    """Scores of which one has nothing to average (NaN), one is infinite, and a field that is None on purpose."""
    return Result("nan test", "| a |\n|---|\n| 1 |\n", {"pck": {"0.1": {"wrist": float("nan"), "mean": 0.25}},
                                                        "ratio": [1.0, float("inf"), float("-inf")], "label": None})


@pytest.fixture
def fake(register_experiment) -> str:
    return register_experiment("test.nanfake", FAKE, "A fake experiment with a NaN score.", NanConfig, _run)


def _check_scores(metrics: dict) -> None:
    wrist = metrics["pck"]["0.1"]["wrist"]
    assert isinstance(wrist, float) and math.isnan(wrist)  # NaN, not None
    assert metrics["pck"]["0.1"]["mean"] == 0.25 and metrics["ratio"] == [1.0, math.inf, -math.inf]
    assert metrics["label"] is None  # a None of the experiment's own stays None


def test_metrics_json_is_standard_json_and_the_kept_run_gives_the_nan_back(fake, tmp_path, capsys):
    args = ["run", "test.nanfake", "--size", "tiny", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    capsys.readouterr()
    run_dir = tmp_path / "test.nanfake"
    for name in ("metrics.json", "config.json"):
        _strict((run_dir / name).read_text())
    saved = _strict((run_dir / "metrics.json").read_text())
    assert saved["metrics"]["pck"]["0.1"]["wrist"] is None and saved["metrics"]["ratio"] == [1.0, None, None]
    assert saved["nonfinite"] == {"/metrics/pck/0.1/wrist": "NaN", "/metrics/ratio/1": "Infinity",
                                  "/metrics/ratio/2": "-Infinity"}
    _check_scores(runinfo.read_run_record(run_dir / "metrics.json")["metrics"])
    cfg = runner.make_config("test.nanfake", "tiny")
    result, _, reused = runner.run_experiment("test.nanfake", cfg, tmp_path, progress=False)  # kept: read back
    assert reused
    _check_scores(result.metrics)


def test_an_older_metrics_json_with_bare_nan_still_reads(fake, tmp_path, capsys):
    assert cli.main(["run", "test.nanfake", "--size", "tiny", "--out", str(tmp_path)]) == 0
    path = tmp_path / "test.nanfake" / "metrics.json"
    old = runinfo.read_run_record(path)  # as an older version wrote it: bare NaN / Infinity, no "nonfinite"
    path.write_text(json.dumps(old, indent=2))
    assert "NaN" in path.read_text() and "nonfinite" not in path.read_text()
    result, _, reused = runner.run_experiment("test.nanfake", runner.make_config("test.nanfake", "tiny"), tmp_path,
                                              progress=False)
    assert reused
    _check_scores(result.metrics)


def test_a_kept_run_prints_the_header_its_earlier_run_recorded(fake, tmp_path, capsys):
    args = ["run", "test.nanfake", "--size", "tiny", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    fresh = capsys.readouterr().out
    assert "== test.nanfake (test.nanfake) ==" in fresh and "versions: python" in fresh
    path = tmp_path / "test.nanfake" / "metrics.json"
    record = runinfo.read_run_record(path)
    assert record["devices"] == runinfo.devices()
    record.update(versions={"python": "3.0.1", "jax": "0.0.1"}, devices="8 x TPU v9 (tpu)", seconds=1234.5)
    io.write_json(path, record)  # as if an earlier install had made these numbers
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    head = out.split("[test.nanfake] kept from an identical earlier run")[0]
    assert "== test.nanfake (test.nanfake): kept, as recorded by the earlier run that made these numbers ==" in head
    config = json.loads(next(line for line in head.splitlines() if line.startswith("config: "))[len("config: "):])
    assert config == record["key"]["settings"] and config["beta"] == 0.5
    assert "seed: 0" in head and "versions: python 3.0.1, jax 0.0.1" in head
    assert "devices: 8 x TPU v9 (tpu)" in head and "wall time of that run: 1234.5 s" in head
    assert runinfo.versions()["python"] not in head.split("versions: ")[1].splitlines()[0]  # not today's
    del record["versions"], record["devices"]  # a record without them: said, not replaced by today's
    io.write_json(path, record)
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "versions: not recorded" in out and "devices: not recorded" in out


@pytest.mark.parametrize("field, value, said", [("seconds", None, "nothing"), ("summary", None, "nothing"),
                                                 ("metrics", None, "nothing"), ("seconds", "12 s", '"12 s"')])
def test_a_kept_run_whose_record_lacks_a_field_is_one_line(field, value, said, fake, tmp_path, capsys):
    """A kept run's metrics.json edited by hand to lack "seconds" or "summary" (or with one of another type) was a
    KeyError traceback: one line naming the file and the field, exit 2, the file as it was."""
    args = ["run", "test.nanfake", "--size", "tiny", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    path = tmp_path / "test.nanfake" / "metrics.json"
    record = runinfo.read_run_record(path)
    if value is None:
        del record[field]
    else:
        record[field] = value
    io.write_json(path, record)
    before = path.read_text()
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: field '{field}'" in err[0] and f"got {said}" in err[0], err
    assert path.read_text() == before


def test_an_alias_json_of_a_record_without_versions_says_null(fake, tmp_path, capsys):
    from convcorr_cli.eval_runs import with_experiment_run

    assert cli.main(["run", "test.nanfake", "--size", "tiny", "--out", str(tmp_path)]) == 0
    path = tmp_path / "test.nanfake" / "metrics.json"
    record = runinfo.read_run_record(path)
    del record["versions"], record["devices"]  # "not recorded" in the header; the JSON said so by a KeyError
    io.write_json(path, record)
    res = with_experiment_run({"pck": 0.5}, path.parent)
    assert res["versions"] is None and res["devices"] is None and res["pck"] == 0.5
    assert res["config"] == record["key"]["settings"]


def test_a_training_runs_nan_evaluation_reads_back_as_nan(tmp_path):
    cfg = TrainConfig(name="nan_run")
    evals = [{"step": 10, "stage": 1, "loss": float("nan"), "coarse_pck@0.05": float("nan"),
              "cascade_pck@0.05": 12.5}]
    io.write_json(tmp_path / "metrics.json", run_folder.metrics_record(cfg, evals, 3.0, False))
    _strict((tmp_path / "metrics.json").read_text())
    got = run_folder.read_metrics(tmp_path)["metrics"]["evals"][0]
    assert math.isnan(got["loss"]) and math.isnan(got["coarse_pck@0.05"]) and got["cascade_pck@0.05"] == 12.5
    # the record written again from what was read (a resumed run) is the same record
    again = run_folder.metrics_record(cfg, [got], 3.0, False)
    assert again["nonfinite"] == {"/metrics/evals/0/loss": "NaN", "/metrics/evals/0/coarse_pck@0.05": "NaN"}
    (tmp_path / "metrics.json").write_text(json.dumps([{**evals[0]}]))  # the oldest layout, bare NaN
    assert math.isnan(run_folder.read_metrics(tmp_path)["metrics"]["evals"][0]["loss"])


def test_write_json_and_restore_nonfinite(tmp_path):
    import numpy as np

    path = tmp_path / "x.json"
    io.write_json(path, {"a": np.float32("nan"), "b": np.array([1.0, np.inf]), "c": (float("-inf"), None),
                         "d": Path("p")})
    assert _strict(path.read_text()) == {"a": None, "b": [1.0, None], "c": [None, None], "d": "p"}
    record = {"x/y": {"~k": None}, "l": [None, 2], "n": None,
              "nonfinite": {"/x~1y/~0k": "NaN", "/l/0": "-Infinity", "/l/1": "NaN", "/nope/0": "NaN", "/n": "junk"}}
    got = runinfo._restore_nonfinite(record)
    assert math.isnan(got["x/y"]["~k"]) and got["l"] == [-math.inf, 2] and got["n"] is None
    assert "nonfinite" not in got
