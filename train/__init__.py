"""Training entry points and their named configs (installed as `convcorr_train`).

`pose_configs`: the named `TrainConfig`s of Tompson et al.'s cascade (`convcorr train pose --config NAME`);
`pose`: the entry point `convcorr train pose` calls (config, training, the final read-out).
"""
