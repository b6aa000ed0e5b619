"""Published numbers of Tompson et al. 2015 (FLIC at 360 x 240 for Tables 1-3; MPII test set for Table 4)."""

from __future__ import annotations

# Table 1: sigma of x error (pixels at 360 x 240): Face, Shoulder, Elbow, Wrist
TABLE1 = {"Label noise": (0.65, 2.46, 2.14, 1.57), "4x": (1.09, 2.43, 2.59, 2.82), "8x": (1.46, 2.47, 2.49, 3.41),
          "16x": (1.45, 2.78, 3.78, 4.16)}
TABLE1_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist")
# Table 2: forward ms per image on a K40 (FLIC 320 x 240) at 4x, 8x, 16x pooling
TABLE2 = {"Coarse-Model": (140.0, 74.9, 54.7), "Fine-Model": (17.2, 19.3, 15.9), "Cascade": (157.2, 94.2, 70.6)}
# Table 3: FLIC PCK@0.05: Head (face), Shoulder, Elbow, Wrist
TABLE3 = {"This work 4x": (92.6, 73.0, 57.1, 60.4), "This work 8x": (92.1, 75.8, 55.6, 56.6),
          "This work 16x": (91.6, 73.0, 47.7, 45.5)}
TABLE3_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist")
# Table 4: MPII PCKh@0.5: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Total
TABLE4 = {"Tompson et al. 2015, scale normalized (test)": (96.1, 91.9, 83.9, 77.8, 80.9, 72.3, 64.8, 82.0)}
