"""Tompson et al. 2015, "Efficient Object Localization Using Convolutional Networks".

Modules: `model` (coarse multi-resolution heat-map ConvNet, crop module, Siamese fine model, cascade; `init`/`apply`),
`heatmaps` (targets, arg-max, sub-pixel refinement), `losses` (E1, E2), `augment` (on-device rotation/scale/flip),
`train` (three-stage data-parallel training, orbax checkpoints, resume), `configs` (named TrainConfigs),
`tables`/`report` (Tables 1-4, figures), `mpii_files`/`pckh_report` (official-toolkit PCKh of prediction files),
`demo` (`demo_stage(ctx)`).
"""
