"""The layout rule: the library holds methods only; every package folder is installed."""

import re
import subprocess
import tomllib
from pathlib import Path

from convcorr_jax.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"convcorr_jax": "convcorr_jax", "convcorr_eval": "eval", "convcorr_train": "train"}


def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing from pyproject: {sorted(found - listed)}; stale: {sorted(listed - found)}"


def test_method_modules_hold_no_report_code():
    """No print, matplotlib or published numbers in the library outside its command-line modules (cli*.py and
    the modules `convcorr` dispatches to)."""
    out = subprocess.run(["git", "grep", "-nE", r"matplotlib|PAPER_|\bprint\(", "--", "convcorr_jax"], cwd=ROOT,
                         capture_output=True, text=True).stdout.splitlines()
    commands = {m.replace(".", "/") + ".py" for m, _ in COMMANDS.values()}
    cli = re.compile(r"^convcorr_jax/(cli\.py|.*/cli[_a-z]*\.py):")
    offending = [line for line in out if not cli.match(line) and line.split(":", 1)[0] not in commands]
    assert not offending, "\n".join(offending)


def test_init_files_only_reexport():
    for init in (ROOT / "convcorr_jax").rglob("__init__.py"):
        src = init.read_text()
        assert not re.search(r"^(def|class) ", src, re.M), f"{init.relative_to(ROOT)} defines code"
