"""Tables 1-4 of Tompson et al. for a trained run: `python eval/tompson_tables.py runs/pose_default`.

Reads runs/<name>/config.json and the latest checkpoint, evaluates on the run's test data, prints the tables
(markdown) beside the paper's numbers and writes figures to runs/<name>/figures/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from convcorr_jax import io, runinfo
from convcorr_jax.paths import real_data_root
from convcorr_jax.pose import report
from convcorr_jax.pose import train as T


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--no-timing", action="store_true", help="skip Table 2 (forward times)")
    args = p.parse_args(argv)
    run = Path(args.run_dir)
    cfg = report.config_from_dict(json.loads((run / "config.json").read_text()))
    print(runinfo.header("Tompson et al. 2015, Tables 1-4", cfg, cfg.seed))
    with runinfo.timed():
        params = T.load_params(run, cfg)
        _, test = T.load_data(cfg)
        root = real_data_root()
        md, res = report.evaluate_run(cfg, params, test, figures=run / "figures", timing=not args.no_timing,
                                      real_mpii=root / "mpii" if root else None)
        print(md)
        io.write_json(run / "tables.json", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
