"""Razavian et al. 2015, published numbers (shown beside ours for orientation only: the data differ)."""

TABLE1 = {  # mean landmark error / inter-ocular distance: Helen, LFPW, IBUG
    "Dataset Bias": (0.501, 0.242, 0.352),
    "RGB + ridge": (0.096, 0.074, 0.160),
    "ConvNet + ridge": (0.065, 0.056, 0.096),
    "ConvNet + look-back": (0.058, 0.049, 0.074),
}
TABLE1_COLUMNS = ("Helen", "LFPW", "IBUG")
TABLE2_MEAN = 27.8  # ConvNet + ridge, mean PCK@0.1 (%) over the 20 VOC classes
TABLE2 = dict(zip(
    ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
     "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"],
    [21.3, 25.1, 22.7, 16.4, 47.3, 27.2, 29.9, 25.4, 19.7, 26.3, 22.0, 27.1, 25.5, 21.8, 33.8, 41.0, 28.2, 23.0, 23.9,
     47.3]))
TABLE3_MEAN = 20.73  # mean AP (%) over 21 classes, VOC12 val
TABLE3_BG = 79.12  # background AP (%)
RGB_MAE = 0.12  # Fig. 4, ImageNet, [0, 1] units
