"""Keypoint transfer on SPair-71k (its release split, HPF's and SCOT's PCK): the PF-WILLOW transfer on its pairs.

    convcorr run long2014.spair --data-root SPair-71k                      # the validated default, test split
    convcorr eval spair --root SPair-71k --method bp --features sift --pairs 5

PCK at alpha x max(w, h) of the target's object box (trg_bndbox), mean over the pairs (`long2014.pf_benchmarks`).
Settings are PF-WILLOW's validated ones (`long2014.pf_willow`); none is chosen on SPair-71k.
"""

from __future__ import annotations

from convcorr_eval.experiment import Context, Result
from convcorr_eval.long2014.pf_benchmarks import Config, benchmark_config, run_name
from convcorr_eval.long2014.pf_benchmarks import run as run_benchmark

__all__ = ["Config", "get_config", "run", "run_name"]


def get_config(size: str = "default") -> Config:
    return benchmark_config("spair", size)


def run(cfg: Config, ctx: Context) -> Result:
    return run_benchmark(cfg, ctx, ("spair",))
