"""`convcorr train` lives in `convcorr_cli.train`; its parser and runner are named here for
`python -m convcorr_train.pose_cascade`."""

from convcorr_cli.train import add_arguments, run

__all__ = ["add_arguments", "run"]
