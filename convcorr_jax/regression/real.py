"""Real datasets for the ridge experiments: 300-W faces, PASCAL VOC keypoints and VOC 2012 segmentation.

Faces: each face is cropped to a square around its ground-truth landmarks' box enlarged by `margin` on each side
(standing in for a face detector's box, which the 300-W files do not give) and resized to `size`; the points
follow. Table 1 protocol: Helen and LFPW train on their trainset and test on their testset; IBUG (test only)
is predicted by a model trained on Helen + LFPW trainsets + AFW (the 300-W convention).
Segmentation: images are described whole; label maps are resized (nearest) to `label_size` so they stack.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.regression.features import from_crop, square_boxes, to_crop


def crop_square(image: np.ndarray, box, size: int) -> np.ndarray:
    """PIL bilinear crop of uint8 [H, W, 3] at box (cx, cy, side) (the same mapping as `features.crop_images`,
    black outside) resized to size x size; works for any image size without recompiling."""
    from PIL import Image

    cx, cy, side = (float(v) for v in box)
    x0, y0 = cx - side / 2 + 0.5, cy - side / 2 + 0.5  # PIL: pixel i covers [i, i + 1)
    im = Image.fromarray(np.asarray(image, np.uint8))
    return np.asarray(im.transform((size, size), Image.EXTENT, (x0, y0, x0 + side, y0 + side), Image.BILINEAR))


def face_crop_samples(samples, size: int = 128, margin: float = 0.25):
    """Square face crops (KeypointSample list with `image` set and points in crop pixels)."""
    out = []
    for s in samples:
        s = s.with_image()
        p = np.asarray(s.points, np.float64)[None]
        span = float(np.max(np.nanmax(p[0], 0) - np.nanmin(p[0], 0)))
        box = square_boxes(p, margin * span)
        pts = to_crop(p, box, size)[0].astype(np.float32)
        extras = dict(s.extras, crop_box=box[0])
        out.append(dataclasses.replace(s, image=crop_square(s.image, box[0], size), points=pts, image_path=None,
                                       extras=extras))
    return out


def uncrop_points(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop pixels [N, K, 2] back to original image pixels (boxes [N, 3] from extras["crop_box"])."""
    return from_crop(points, boxes, size)


def split_300w(samples) -> dict[str, tuple[list, list]]:
    """{"Helen": (train, test), "LFPW": ..., "IBUG": ...} from `load_300w` samples (missing parts are left out)."""
    by = lambda sub, split: [s for s in samples if s.extras.get("subset") == sub and s.extras.get("split") == split]  # noqa: E731
    out = {}
    for name, sub in (("Helen", "helen"), ("LFPW", "lfpw")):
        tr, te = by(sub, "train"), by(sub, "common")
        if tr and te:
            out[name] = (tr, te)
    ib = [s for s in samples if s.extras.get("subset") == "ibug"]
    tr_all = by("helen", "train") + by("lfpw", "train") + [s for s in samples if s.extras.get("subset") == "afw"]
    if ib and tr_all:
        out["IBUG"] = (tr_all, ib)
    return out


def resize_labels(labels: list[np.ndarray], size: int) -> np.ndarray:
    """Nearest-neighbour resize of label maps to [N, size, size] (void stays 255)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.asarray(l, np.uint8)).resize((size, size), Image.NEAREST))
                     for l in labels])
