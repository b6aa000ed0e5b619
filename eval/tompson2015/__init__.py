"""Tompson et al. 2015 experiments: `tables` (the cascade's Tables 1-4, experiment `tompson2015.tables`),
`flic_scores` (a trained run on FLIC: Table 3, Figure 15, refinement ablation; experiment `tompson2015.flic`,
`convcorr eval flic`), `mpii` (a trained MPII run's predictions as an MPII h5 scored by PCKh; experiment
`tompson2015.mpii`, `convcorr eval mpii`), `pckh` (PCKh of MPII prediction files, `convcorr eval pckh`),
`spatial_validation` (the spatial model's settings on the validation movies), `flic_spatial` (the spatial model's
FLIC inputs, shared by those three), `flic_readout` (the validated read-out of `tompson2015.flic`: the choice on the
validation movies and the model's stored one), `flic_sweep` (the FLIC validation sweep), `figures`, `paper`
(published numbers). The named training configs of `convcorr train pose --config NAME` are in
`convcorr_train.pose_configs`."""
