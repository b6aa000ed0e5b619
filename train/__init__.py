"""convcorr_train: training entry points and named training configs (`convcorr train ...`).

    cli            `convcorr train pose --config NAME --set field=value`
    pose_cascade   `python -m convcorr_train.pose_cascade --config NAME` (the same)
    pose_configs   the named TrainConfigs of the Tompson et al. cascade (runtimes, numbers: bench/RESULTS_pose.md)
"""
