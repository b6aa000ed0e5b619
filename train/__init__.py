"""convcorr_train: training entry points (`convcorr train ...`).

    pose_cascade   `python -m convcorr_train.pose_cascade --config NAME` (= `convcorr train pose --config NAME`)

The named training configs of the Tompson et al. cascade and their FLIC sweep live with the paper's experiments:
`convcorr_eval.tompson2015.configs`, `convcorr_eval.tompson2015.flic_sweep`.
"""
