"""Train the Tompson et al. cascade: `python -m convcorr_train.pose_cascade --config default [--set field=value]`.

The same as `convcorr train pose`; the named configs are in `convcorr_train.pose_configs`, their runtimes and
measured numbers in bench/RESULTS_pose.md.
"""

from __future__ import annotations

import argparse
import sys

from convcorr_train import cli


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convcorr_train.pose_cascade", description=__doc__.splitlines()[0])
    cli.add_arguments(p)
    return cli.run(p.parse_args(["pose", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
