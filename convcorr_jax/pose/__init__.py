"""Tompson et al. 2015, "Efficient Object Localization Using Convolutional Networks": the methods.

Modules: `model` (coarse multi-resolution heat-map ConvNet, crop module, Siamese fine model, cascade; `init`/`apply`),
`heatmaps` (targets, arg-max, sub-pixel refinement), `losses` (E1, E2), `augment` (on-device rotation/scale/flip),
`joints` (joint names, groups, skeletons and flips of MPII, FLIC and LSP; PCK per group), `train` (three-stage
data-parallel training, orbax checkpoints, resume), `predict` (coarse and cascade read-outs with and without
sub-cell refinement, crop -> image map), `flic_data` (FLIC person crops, by-movie validation split), `mpii_predict`
(MPII person crops, predictions in the original image), `mpii_files` (readers of MPII prediction and ground-truth
files, writer of prediction files). Tables and figures: `convcorr_eval.tompson2015`; named training configs: `convcorr_train.pose_configs`.
"""

from convcorr_jax.pose.joints import FLIC, LSP, MPII, JointSet, group_pck, joint_set

__all__ = ["FLIC", "LSP", "MPII", "JointSet", "group_pck", "joint_set"]
