"""Train the Tompson et al. cascade: `python -m convcorr_train.pose_cascade --config default [--set field=value]`.

The same as `convcorr train pose ...` (the `convcorr` dispatcher runs it); the named configs are in
`convcorr_eval.tompson2015.configs`, their runtimes and measured numbers in bench/RESULTS_pose.md.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from convcorr_cli.main import main

    sys.exit(main(["train", "pose", *sys.argv[1:]]))
