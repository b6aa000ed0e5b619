"""Long et al. 2014's published numbers, shown beside ours (the data differ)."""

from typing import Any

# Table 1: receptive field (size, stride) in pixels per CaffeNet layer
TABLE1 = {"conv1": (11, 4), "conv2": (51, 8), "conv3": (99, 16), "conv4": (131, 16), "conv5": (163, 16),
          "pool5": (195, 32)}

# VOC category abbreviations of the paper's per-category columns (Tables 3 and 4)
CATEGORIES = ("aero", "bike", "bird", "boat", "bttl", "bus", "car", "cat", "chair", "cow", "table", "dog", "horse",
              "mbike", "prsn", "plant", "sheep", "sofa", "train", "tv")

# Table 2: keypoint transfer, mean PCK (%) over the VOC categories at alpha 0.1 / 0.05 / 0.025
TABLE2 = {
    "conv4 flow": {"mean": (24.9, 11.8, 4.08)},
    "SIFT flow": {"mean": (24.7, 10.9, 3.55)},
    "NN transfer": {"mean": (19.9, 7.8, 2.35)},
}

# Table 3: keypoint classification accuracy (%) on PASCAL VOC 2011 val, per category in CATEGORIES order, then mean
TABLE3 = {
    "SIFT 10": [36, 42, 36, 32, 67, 64, 40, 37, 33, 37, 60, 34, 39, 38, 29, 63, 37, 42, 64, 75, 45],
    "SIFT 20": [37, 50, 39, 35, 74, 67, 47, 40, 36, 43, 68, 38, 42, 48, 33, 70, 44, 52, 68, 77, 50],
    "SIFT 40": [35, 54, 37, 41, 76, 68, 47, 37, 39, 40, 69, 36, 42, 49, 32, 69, 39, 52, 74, 78, 51],
    "SIFT 80": [33, 43, 37, 42, 75, 66, 42, 30, 43, 36, 70, 31, 36, 51, 27, 70, 35, 49, 69, 77, 48],
    "SIFT 160": [27, 36, 34, 38, 72, 59, 35, 25, 39, 30, 67, 27, 32, 46, 25, 70, 29, 48, 66, 76, 44],
    "conv1": [16, 14, 15, 19, 20, 29, 15, 22, 16, 17, 29, 17, 14, 16, 15, 33, 18, 12, 27, 29, 20],
    "conv2": [37, 43, 40, 35, 69, 63, 38, 44, 35, 40, 61, 38, 40, 44, 34, 65, 39, 41, 63, 72, 47],
    "conv3": [42, 50, 46, 41, 76, 69, 46, 52, 39, 45, 64, 47, 48, 52, 40, 74, 46, 50, 71, 77, 54],
    "conv4": [44, 53, 49, 42, 78, 70, 45, 55, 41, 48, 68, 51, 51, 53, 41, 76, 49, 52, 73, 76, 56],
    "conv5": [44, 51, 49, 41, 77, 68, 44, 53, 39, 45, 63, 50, 49, 52, 39, 73, 47, 47, 71, 75, 54],
}

# Table 4: keypoint prediction PCK@0.1 (%), CaffeNet, per category in CATEGORIES order, then mean
TABLE4 = {
    "SIFT": [17.9, 16.5, 15.3, 15.6, 25.7, 21.7, 22.0, 12.6, 11.3, 7.6, 6.5, 12.5, 18.3, 15.1, 15.9, 21.3, 14.7,
             15.1, 9.2, 19.9, 15.7],
    "SIFT+prior": [33.5, 36.9, 22.7, 23.1, 44.0, 42.6, 39.3, 22.1, 18.5, 23.5, 11.2, 20.6, 32.2, 33.9, 26.7, 30.6,
                   25.7, 26.5, 21.9, 32.4, 28.4],
    "conv5": [38.5, 37.6, 29.6, 25.3, 54.5, 52.1, 28.6, 31.5, 8.9, 30.5, 24.1, 23.7, 35.8, 29.9, 39.3, 38.2, 30.5,
              24.5, 41.5, 42.0, 33.3],
    "conv5+prior": [50.9, 48.8, 35.1, 32.5, 66.1, 62.0, 45.7, 34.2, 21.4, 41.1, 27.2, 29.3, 46.8, 45.6, 47.1, 42.5,
                    38.8, 37.6, 50.7, 45.6, 42.5],
}

# PF-WILLOW keypoint transfer (Proposal Flow protocol: all 10 sub-classes, 900 ordered pairs, alpha x max(w, h) of
# the target's keypoint box), PCK@0.1 (%): Ham et al. CVPR 2016 as tabulated by Rocco et al. CVPR 2017, Table 1
# (CNNGeo is Rocco et al.'s own), Hyperpixel Flow (Min et al. ICCV 2019) and SCOT (Liu et al. CVPR 2020).
PF_WILLOW_PCK01 = {"DeepFlow": 20, "GMK": 27, "DSP": 29, "SIFT Flow": 38, "Proposal Flow LOM": 56, "CNNGeo": 57,
                   "HPF": 74.4, "SCOT": 76.2}
PF_WILLOW_PCK01_SOURCE = ("Ham et al. 2016 as tabulated by Rocco et al. 2017, Table 1; CNNGeo: Rocco et al. 2017; "
                          "HPF: Min et al. 2019; SCOT: Liu et al. 2020")
# The features behind the published numbers (where known here).
PF_WILLOW_FEATURES = {"DSP": "SIFT", "SIFT Flow": "SIFT",
                      "Proposal Flow LOM": "HOG", "CNNGeo": "ResNet-101", "HPF": "ResNet-101", "SCOT": "ResNet-101"}

# SIFT Flow C++ (Ce Liu's solver with demo.m's settings) on the 4 PF-WILLOW sub-classes of "subclasses" (those
# bundled when it was measured), same pairs and PCK (fractions 0..1): mean over sub-classes at each alpha, and per
# sub-class at alpha 0.1. Two protocols: the peer harness's own (images at native resolution), and ours (both images
# resized to 256 x 256, the flow read at the keypoint; measured by bench/flow_dense_pf_willow.py,
# bench/RESULTS_flow.md).
PF_WILLOW_SIFTFLOW_CPP: dict[str, Any] = {
    "protocol": "peer harness, native resolution",
    "pck": {"0.05": 0.279, "0.1": 0.510, "0.2": 0.779},
    "per_subclass": {"car(S)": 0.506, "duck(S)": 0.322, "motorbike(S)": 0.388, "winebottle(woC)": 0.826},
    "subclasses": ("car(S)", "duck(S)", "motorbike(S)", "winebottle(woC)"),  # what "pck" is the mean over
}
PF_WILLOW_SIFTFLOW_CPP_256: dict[str, Any] = {
    "protocol": "our frame: 256 x 256, bench/flow_dense_pf_willow.py",
    "pck": {"0.05": 0.302, "0.1": 0.542, "0.2": 0.806},
    "subclasses": ("car(S)", "duck(S)", "motorbike(S)", "winebottle(woC)"),
}
