"""PCK of prediction files against ground truth normalised per instance (`convcorr eval pck`).

    scores = pck_files("preds.npz", "gt.npz", alpha=0.05)

Predictions: `preds` [N, K, 2] in an .npy, .npz or .h5 file; ground truth: an .npz with `points` [N, K, 2],
`visible` [N, K] and `norm` [N] (e.g. torso size for FLIC).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convcorr_jax import metrics
from convcorr_jax.errors import check

ALPHAS = np.round(np.arange(0, 0.21, 0.01), 2)


def read_array(path: str | Path, key: str) -> np.ndarray:
    """Array `key` of an .npz or .h5 file, or the array of an .npy file."""
    p = Path(path)
    check(p.is_file(), p, "file", "an existing file", "missing")
    if p.suffix == ".npy":
        return np.load(p)
    if p.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "r") as f:
            check(key in f, p, key, "dataset present", sorted(f.keys()))
            return np.asarray(f[key][:])
    with np.load(p) as z:
        check(key in z.files, p, key, "array present", z.files)
        return z[key]


def pck_files(preds: str | Path, gt: str | Path, alpha: float = 0.05) -> dict:
    """{"alpha", "per_joint" (percent per keypoint), "mean" (of per_joint), "pooled" (percent over all visible
    keypoints), "curve" ({alpha: percent} for alpha 0, 0.01, ..., 0.2)}."""
    pred = np.asarray(read_array(preds, "preds"), np.float64)
    points = np.asarray(read_array(gt, "points"), np.float64)
    vis = np.asarray(read_array(gt, "visible"), bool)
    norm = np.asarray(read_array(gt, "norm"), np.float64)
    check(pred.shape == points.shape, preds, "preds", f"shape {points.shape} like the ground truth", pred.shape)
    per = 100 * metrics.pck_per_keypoint(pred, points, vis, norm, alpha)
    return {"alpha": alpha, "per_joint": per.tolist(), "mean": float(np.nanmean(per)),
            "pooled": 100 * metrics.pck(pred, points, vis, norm, alpha),
            "curve": {f"{a:g}": 100 * metrics.pck(pred, points, vis, norm, a) for a in ALPHAS}}
