"""Bad flags of `convcorr demo` refused in one line (exit 2) before any work."""

from __future__ import annotations

import pytest

import convcorr_cli.main as cli
import convcorr_eval.demo as demo


@pytest.mark.parametrize("flags, field", [(["--seed", "-3"], "--seed"), (["--weights", "missing.pth"], "--weights"),
                                          (["--weights", ""], "--weights")])
def test_demo_refuses_bad_shared_flags_before_any_stage(flags, field, tmp_path, monkeypatch, capsys):
    """A flag every stage shares is refused once, not reported as every stage failing with a report written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "run_experiment", lambda *a, **k: pytest.fail("a stage ran"))
    rc = cli.main(["demo", "--only", "table1", "--size", "tiny", "--out", "out", *flags])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and f"field '{field}'" in err, err
    assert not (tmp_path / "out").exists()
