"""Regenerate `vlfeat_dsift.npz`: real VLFeat dense SIFT (cyvlfeat -> libvl, VLFeat 0.9.21) on crops of
scikit-image's bundled real photographs.

Needs: `apt-get install libvlfeat-dev; pip install numpy cython scikit-image;
pip install --no-build-isolation cyvlfeat`. Run: `python tests/golden/sift/make_sift_golden.py`.

Stored per case: the grey input (uint8, the test divides by 255), VLFeat's frames converted to 0-based (x, y)
and its float descriptors (VLFeat returns min(512 d, 255)) divided by 512, as float16 to keep the file small.
"""

from pathlib import Path

import numpy as np
import skimage.data
from cyvlfeat.sift import dsift
from skimage.color import rgb2gray

# (name, image, crop (y0, y1, x0, x1), bin size, step)
CASES = [
    ("camera_b4_s4", lambda: skimage.data.camera(), (100, 196, 150, 246), 4, 4),
    ("camera_sky_b4_s4", lambda: skimage.data.camera(), (110, 174, 40, 104), 4, 4),  # low contrast: 255 cap
    ("astronaut_b3_s3", lambda: (rgb2gray(skimage.data.astronaut()) * 255).round().astype(np.uint8),
     (60, 140, 180, 280), 3, 3),
    ("coffee_b8_s6", lambda: (rgb2gray(skimage.data.coffee()) * 255).round().astype(np.uint8), (150, 246, 200, 296), 8,
     6),
    ("chelsea_b5_s5", lambda: (rgb2gray(skimage.data.chelsea()) * 255).round().astype(np.uint8), (40, 120, 100, 190), 5,
     5),
]


def main() -> None:
    out = {}
    for name, load, (y0, y1, x0, x1), size, step in CASES:
        grey = np.asarray(load())[y0:y1, x0:x1].astype(np.uint8)
        frames, desc = dsift(grey.astype(np.float32) / 255.0, step=step, size=size, float_descriptors=True)
        out[f"{name}/image"] = grey
        out[f"{name}/frames_xy"] = frames[:, ::-1].astype(np.float32)  # cyvlfeat returns (y, x)
        out[f"{name}/descriptors"] = (desc / 512.0).astype(np.float16)
        out[f"{name}/params"] = np.array([size, step], np.int32)
        print(name, grey.shape, desc.shape)
    path = Path(__file__).with_name("vlfeat_dsift.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
