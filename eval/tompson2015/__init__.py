"""Tompson et al. 2015 experiments: `tables` (the cascade's Tables 1-4, experiment `tompson2015.tables`),
`pckh` (PCKh of MPII prediction files, `convcorr eval pckh`), `figures`, `paper` (published numbers)."""
