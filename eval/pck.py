"""PCK of prediction files against ground truth normalised per instance (`convcorr eval pck`).

    scores = pck_files("preds.npz", "gt.npz", alpha=0.05)

Predictions: `preds` [N, K, 2] (numbers) in an .npy, .npz or .h5 file; ground truth: an .npz with `points`
[N, K, 2], `visible` [N, K] and `norm` [N] (> 0, e.g. torso size for FLIC). A keypoint is evaluated where
`visible` is > 0 (NaN or a negative value, a "-1: missing" convention, is refused, naming its index); its ground
truth must then be finite (a NaN or inf point marked visible is refused, naming its index: `visible` 0 is how a
point is left out). Non-finite predictions of evaluated keypoints count as misses
(the usual convention for a missing prediction); their number is in the result (`nonfinite`) with a `warning` line
to print.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from convcorr_jax.core import metrics
from convcorr_jax.core.errors import InputError, check, check_finite, check_values

ALPHAS = np.round(np.arange(0, 0.21, 0.01), 2)
SUFFIXES = (".npy", ".npz", ".h5", ".hdf5")


def read_array(path: str | Path, key: str) -> np.ndarray:
    """Array `key` of an .npz or .h5 file, or the array of an .npy file; InputError naming the file for a missing
    file, a folder, another suffix, an unreadable file or a missing key."""
    p = Path(path)
    if p.is_dir():
        raise InputError(p, key, "a file", "a folder", message=f"is a folder, expected a {'/'.join(SUFFIXES)} file")
    check(p.is_file(), p, "file", "an existing file", "missing")
    check(p.suffix in SUFFIXES, p, "suffix", f"one of {list(SUFFIXES)}", p.suffix or "none")
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if p.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as f:
                check(key in f, p, key, "dataset present", sorted(f.keys()))
                obj = f[key]
                what = f"an HDF5 {type(obj).__name__.lower()}" if not isinstance(obj, h5py.Dataset) else "a scalar"
                check(isinstance(obj, h5py.Dataset) and obj.ndim > 0, p, key, "an array dataset", what)
                return np.asarray(obj[()])
        with np.load(p, allow_pickle=False) as z:
            check(key in z.files, p, key, "array present", z.files)
            return z[key]
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise InputError(p, key, f"a readable {p.suffix} file", f"{type(e).__name__}: {e}") from None


def nonfinite_warning(count: int, total: int, source: str | Path) -> str | None:
    """The line a command prints when `count` of `total` evaluated predictions of `source` are NaN or infinite
    (scored as misses), or None when `count` is 0."""
    if not count:
        return None
    return f"warning: {count} of {total} evaluated predictions in {source} are NaN or infinite; scored as misses"


def _numeric(a: np.ndarray, path, key: str, shape: str) -> np.ndarray:
    """`a` as float64, InputError unless it holds numbers (not strings or objects)."""
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InputError(path, key, f"a numeric array {shape}", f"dtype {a.dtype}")
    return np.asarray(a, np.float64)


def pck_files(preds: str | Path, gt: str | Path, alpha: float = 0.05) -> dict:
    """{"alpha", "per_joint" (percent per keypoint), "mean" (of the per_joint values scored), "pooled" (percent over
    all visible keypoints), "curve" ({alpha: pooled percent} for alpha 0, 0.01, ..., 0.2), "instances" (those with
    a visible keypoint; row i of `preds` is scored against row i of `gt`), "keypoints" (the visible keypoints
    scored), "nonfinite" (evaluated keypoints whose prediction is NaN/inf, scored as misses), "warning" (one line
    saying so, or None)}. InputError naming the file and field for a file that cannot be read as one, and for a NaN
    or inf ground-truth point marked visible (its index). A keypoint type never evaluated has NaN in per_joint (null
    in the command's JSON)."""
    check(0 < alpha <= 1, "--alpha", "alpha", "a value in (0, 1]", alpha)
    pred = _numeric(read_array(preds, "preds"), preds, "preds", "[N, K, 2]")
    points = _numeric(read_array(gt, "points"), gt, "points", "[N, K, 2]")
    vis = read_array(gt, "visible")
    norm = _numeric(read_array(gt, "norm"), gt, "norm", "[N]")
    check(points.ndim == 3 and points.shape[-1] == 2 and points.size > 0, gt, "points",
          "shape [N, K, 2], N and K >= 1 (at least one instance and keypoint)", points.shape)
    check(pred.shape == points.shape, preds, "preds", f"shape {points.shape} like the ground truth", pred.shape)
    check(vis.shape == points.shape[:2], gt, "visible", f"shape {points.shape[:2]} ([N, K])", vis.shape)
    vis = _numeric(vis, gt, "visible", "[N, K]")
    # NaN or negative (a "-1: missing" convention) would read as visible
    check_values(vis, vis >= 0, gt, "visible", "0 (left out) or a value > 0 (evaluated) per keypoint")
    vis = vis.astype(bool)
    check(norm.shape == points.shape[:1], gt, "norm", f"shape {points.shape[:1]} ([N])", norm.shape)
    check_finite(points, vis, gt, "points", "finite (x, y) wherever visible is 1 (visible 0 leaves a point out)")
    used = vis.any(axis=1)
    bad = np.flatnonzero(used & ~(np.isfinite(norm) & (norm > 0)))
    if bad.size:  # named by instance: a NaN norm is not in the range of the others
        raise InputError(gt, "norm", "finite values > 0 for each instance with a visible keypoint",
                         f"{norm[bad[0]]:g} at instance {bad[0]} ({bad.size} such in all)")
    norm = np.where(used, norm, np.nan)  # an instance with no visible keypoint is left out, whatever its norm
    nonfinite = metrics.count_nonfinite(pred, points, vis)
    total = int(np.sum(metrics.evaluated(points, vis)))
    per = 100 * metrics.pck_per_keypoint(pred, points, vis, norm, alpha)
    return {"alpha": alpha, "per_joint": per.tolist(), "mean": metrics.mean_scored(per),
            "pooled": 100 * metrics.pck(pred, points, vis, norm, alpha),
            "curve": {f"{a:g}": 100 * metrics.pck(pred, points, vis, norm, a) for a in ALPHAS},
            "instances": int(np.sum(used)), "keypoints": total, "nonfinite": nonfinite,
            "warning": nonfinite_warning(nonfinite, total, preds)}
