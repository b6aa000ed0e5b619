"""convcorr_eval: the experiments of the three papers, one folder per paper, on top of the `convcorr_jax` library.

    long2014/       Long, Zhang, Darrell 2014: Tables 1-4, Figures 1-2, 4-6
    razavian2015/   Razavian et al. 2015: landmarks with look-back, keypoints, RGB, segmentation, directions
    tompson2015/    Tompson et al. 2015: cascade tables, PCK / PCKh evaluation

Every experiment is a module with `get_config(size) -> Config` and `run(cfg, ctx) -> Result`; `runner` runs one
into `runs/<name>/{config.json, metrics.json, report.md, report.html, figures/}` (its key, and how two runs compare:
`run_keys`) and `demo` runs an ordered list.
Installed as the package `convcorr_eval` (this folder), next to the library `convcorr_jax`.
"""
