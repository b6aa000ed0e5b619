"""Razavian et al. 2015: ridge regression from a global convnet descriptor to landmarks (landmarks.py, with the
look-back refinement in lookback.py), object keypoints (keypoints.py), RGB pixels (rgb.py), segmentation labels
(segmentation.py) and semantic directions (directions.py); descriptors and crops in features.py, real-dataset
helpers in real.py, the demo stage in demo.py."""
