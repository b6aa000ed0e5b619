"""Keypoint transfer on PF-PASCAL (HPF's and SCOT's split and PCK): the PF-WILLOW transfer on its pairs.

    convcorr run long2014.pf_pascal --data-root PF-PASCAL                   # the validated default, test split
    convcorr eval pf-pascal --root PF-PASCAL --method bp --features sift --pairs 5

PCK at alpha x max(h, w) of the target image, mean over the pairs (`long2014.pf_benchmarks`). Settings are
PF-WILLOW's validated ones (`long2014.pf_willow`); none is chosen on PF-PASCAL.
"""

from __future__ import annotations

from convcorr_eval.experiment import Context, Result
from convcorr_eval.long2014.pf_benchmarks import Config, benchmark_config, run_name
from convcorr_eval.long2014.pf_benchmarks import run as run_benchmark

__all__ = ["Config", "get_config", "run", "run_name"]


def get_config(size: str = "default") -> Config:
    return benchmark_config("pf_pascal", size)


def run(cfg: Config, ctx: Context) -> Result:
    return run_benchmark(cfg, ctx, ("pf_pascal",))
