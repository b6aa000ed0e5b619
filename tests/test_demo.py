"""The main job in a tiny configuration: every stage runs, the report has every section with numbers."""

import json
import re

from convcorr_jax import cli
from convcorr_jax.demo import STAGES


def test_tiny_demo_writes_complete_report(tmp_path):
    out = tmp_path / "demo"
    rc = cli.main(["demo", "--size", "tiny", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    failed = {k: v for k, v in metrics.items() if v["status"] != "ok"}
    assert rc == 0 and not failed, failed
    assert set(metrics) == set(STAGES)
    report = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for name in STAGES:
        section = report.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        # every stage contributes at least one markdown table with at least one number in a body row
        rows = [line for line in section.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
        assert len(rows) >= 2, f"stage {name} has no table"
        assert any(re.search(r"\d", r) for r in rows[1:]), f"stage {name} table has no numbers"
        for fig in re.findall(r"\((figures/[^)]+\.png)\)", section):
            assert (out / fig).is_file(), fig
    assert "<table>" in html and "<img" in html


def test_demo_rejects_unknown_stage(tmp_path, capsys):
    assert cli.main(["demo", "--only", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown stage" in capsys.readouterr().err


def test_demo_keeps_finished_stages_and_reruns_on_request(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--size", "tiny", "--only", "table1", "--out", str(out)]) == 0
    saved = json.loads((out / "stages" / "table1.json").read_text())
    assert saved["status"] == "ok" and saved["key"]["size"] == "tiny"
    capsys.readouterr()
    assert cli.main(["demo", "--size", "tiny", "--only", "table1", "--out", str(out)]) == 0
    assert "[table1] done before" in capsys.readouterr().out
    assert cli.main(["demo", "--size", "tiny", "--only", "table1", "--out", str(out), "--force"]) == 0
    assert "[table1] ok in" in capsys.readouterr().out
    # a result computed with other settings is not reused, and not mixed into this run's report
    assert cli.main(["demo", "--size", "tiny", "--seed", "1", "--only", "table1", "--out", str(out)]) == 0
    assert "[table1] ok in" in capsys.readouterr().out
    assert "## table1" in (out / "report.md").read_text()
