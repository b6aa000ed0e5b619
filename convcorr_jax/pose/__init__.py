"""Tompson et al. 2015, "Efficient Object Localization Using Convolutional Networks": the methods.

Modules: `model` (coarse multi-resolution heat-map ConvNet, crop module, Siamese fine model, cascade;
`init`/`apply`), `heatmaps` (targets, arg-max, sub-pixel refinement), `losses` (E1, E2), `augment` (on-device
rotation/scale/flip), `joints` (joint names, groups, skeletons and flips of MPII, FLIC and LSP; PCK per group),
`data` (the arrays, synthetic / FLIC / MPII person crops, the grain training pipeline), `training/` (config, three-
stage data-parallel training, orbax checkpoints, resume), `export/` (a run made a model folder; ONNX), `predict`
(the prediction loop: coarse and cascade read-outs with and without sub-cell refinement, crop -> image map), `flip`
and `scales` (test-time flip and crop scales), `recrop` (a second-pass person crop around a first pass's torso on
whole frames), `spatial/` (the tree MRF spatial model: config, priors, inference, files), `estimation` (the one call
for a trained model on one's own images, person crops and whole frames: `convcorr_jax.pose.estimate(images,
model="flic", person_boxes=... | torso_boxes=... | two_pass=True)`), `loaded_model` (`convcorr_jax.pose.load("flic"
| model or run folder)`: a `PoseModel`; `Poses`), `person_boxes` (the torso inside a whole-person box), `shipped`
(the trained models that ship with the package, by name), `two_pass` (whole frames in two passes with a crop-trained
FLIC model, `estimate(..., two_pass=True)`). MPII's prediction and ground-truth files:
`convcorr_jax.data.mpii_eval_files` (its former path `pose.mpii_files` still imports for one release, as do
`pose.train`, `pose.run_export`, ...: `core.deprecation.MOVED_MODULES`); `PoseRun`, the former name of `PoseModel`,
still works for one release with a DeprecationWarning. Tables and figures: `convcorr_eval.tompson2015`; named
training configs: `convcorr_train.pose_configs`."""

from convcorr_jax.core.deprecation import renamed
from convcorr_jax.pose.estimation import estimate
from convcorr_jax.pose.joints import FLIC, LSP, MPII, JointSet, group_pck, joint_set
from convcorr_jax.pose.loaded_model import PoseModel, Poses, load

__getattr__ = renamed(__name__, {"PoseRun": PoseModel})  # former names, one release

__all__ = ["FLIC", "LSP", "MPII", "JointSet", "PoseModel", "Poses", "estimate", "group_pck", "joint_set", "load"]
