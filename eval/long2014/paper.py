"""Long et al. 2014's published numbers, shown beside ours (the data differ)."""

# Table 1: receptive field (size, stride) in pixels per CaffeNet layer
TABLE1 = {"conv1": (11, 4), "conv2": (51, 8), "conv3": (99, 16), "conv4": (131, 16), "conv5": (163, 16),
          "pool5": (195, 32)}
