"""PCKh (official MPII toolkit definition) of MPII prediction files.

  python eval/pckh.py                      # the five published validation prediction files
  python eval/pckh.py --preds a.h5 b.mat --annot annot/valid.h5

Prints the tables at PCKh@0.5 and @0.1, the AUC, and writes the PCKh-total curve figure with --figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convcorr_jax import runinfo
from convcorr_jax.paths import real_data_root
from convcorr_jax.pose import pckh_report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preds", nargs="*", default=None)
    p.add_argument("--annot", default=None)
    p.add_argument("--figure", default=None, help="PNG of the PCKh-total curves")
    args = p.parse_args(argv)
    print(runinfo.header("PCKh, MPII validation (official toolkit definition)"))
    with runinfo.timed():
        if args.preds:
            results = {Path(f).stem: pckh_report.evaluate_file(f, args.annot) for f in args.preds}
        else:
            root = real_data_root()
            if root is None:
                print("no real data folder (set CONVCORR_REAL_DATA) and no --preds given", file=sys.stderr)
                return 2
            results = pckh_report.reference_results(root / "mpii")
        for t in ("0.5", "0.1"):
            print(pckh_report.format_table(results, t))
        for n, r in results.items():
            print(f"{n}: AUC {r['auc']:.2f}")
        if args.figure:
            pckh_report.pckh_curve_figure(results, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
