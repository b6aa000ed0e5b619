"""`convcorr --version`: the installed package version and, from a git checkout, the commit it runs."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

from convcorr_cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def test_version_names_the_package_and_the_checkout_commit(capsys):
    assert main(["--version"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"convcorr-jax {metadata.version('convcorr-jax')}")
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=8", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert f"(git {head}" in line
    assert main(["-V"]) == 0 and capsys.readouterr().out.strip() == line


def test_overview_names_version(capsys):
    assert main([]) == 0 and "convcorr --version" in capsys.readouterr().out
