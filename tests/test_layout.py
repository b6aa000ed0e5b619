"""The layout rule: the library holds methods only; every package folder is installed."""

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"convcorr_jax": "convcorr_jax", "convcorr_eval": "eval", "convcorr_train": "train",
                "convcorr_cli": "convcorr_cli"}


def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing from pyproject: {sorted(found - listed)}; stale: {sorted(listed - found)}"


def test_method_modules_hold_no_report_code():
    """No print, matplotlib or published numbers anywhere in the library (tracked or new files): printing and
    command lines live in `convcorr_cli`, reports and figures in `convcorr_eval`."""
    out = subprocess.run(["git", "grep", "--untracked", "-nE", r"matplotlib|PAPER_|\bprint\(", "--", "convcorr_jax"],
                         cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    assert not out, "\n".join(out)


def test_init_files_only_reexport():
    for init in (ROOT / "convcorr_jax").rglob("__init__.py"):
        src = init.read_text()
        assert not re.search(r"^(def|class) ", src, re.M), f"{init.relative_to(ROOT)} defines code"
