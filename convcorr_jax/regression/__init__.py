"""Razavian et al. 2015: ridge regression from a global convnet descriptor to landmarks (with the look-back
refinement), object keypoints, RGB pixels, segmentation labels and semantic directions."""

from convcorr_jax.regression import directions, features, keypoints, landmarks, lookback, rgb, segmentation
from convcorr_jax.regression.directions import Direction, learn_direction, move_along
from convcorr_jax.regression.features import Featurizer, backbone_featurizers, l2_normalise, pixel_featurizer
from convcorr_jax.regression.keypoints import KeypointResult, keypoint_table
from convcorr_jax.regression.landmarks import LandmarkResult, PointsModel, fit_points, landmark_table, predict_points
from convcorr_jax.regression.lookback import FACE68_SUBSETS, LookbackModel, apply_lookback, fit_lookback
from convcorr_jax.regression.rgb import RGBResult, rgb_reconstruction
from convcorr_jax.regression.segmentation import SegResult, segmentation_table

__all__ = [
    "directions", "features", "keypoints", "landmarks", "lookback", "rgb", "segmentation",
    "Direction", "learn_direction", "move_along", "Featurizer", "backbone_featurizers", "l2_normalise",
    "pixel_featurizer", "KeypointResult", "keypoint_table", "LandmarkResult", "PointsModel", "fit_points",
    "landmark_table", "predict_points", "FACE68_SUBSETS", "LookbackModel", "apply_lookback", "fit_lookback",
    "RGBResult", "rgb_reconstruction", "SegResult", "segmentation_table",
]
