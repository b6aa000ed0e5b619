"""Train the Tompson et al. cascade: `python -m train.pose_cascade --config default [--set field=value ...]`.

Same as `convcorr train pose`; see convcorr_jax/pose/configs.py for the named configs and their expected output.
"""

from __future__ import annotations

import argparse
import sys

from convcorr_jax import train_cli


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub_args = ["pose"] + list(sys.argv[1:] if argv is None else argv)
    train_cli.add_arguments(p)
    return train_cli.run(p.parse_args(sub_args))


if __name__ == "__main__":
    sys.exit(main())
