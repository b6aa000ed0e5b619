"""Long et al. 2014's units, written once: lengths in their experiments are given in pixels of a 500 px frame
(`FRAME_PX`: BP's smoothness weight beta, the SIFT descriptor radius, the keypoint-prediction box and its sizes), and
features are scaled to a mean column norm of 512 (`FEATURE_NORM`, VLFeat's SIFT scale: the paper notes that conv4
and SIFT "have a similar scale") before BP flow."""

FRAME_PX = 500  # side (px) of the frame that Long et al.'s lengths and beta are given in
FEATURE_NORM = 512.0  # mean column norm features are scaled to before BP flow
