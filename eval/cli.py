"""`convcorr eval` lives in `convcorr_cli.eval`; `main` runs it for script entry points
(`python -m convcorr_eval.tompson2015.pckh ...`)."""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """`convcorr eval ARGS` as a function."""
    from convcorr_cli.main import main as convcorr

    return convcorr(["eval", *(sys.argv[1:] if argv is None else argv)])
