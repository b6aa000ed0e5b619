"""MPII evaluation files: prediction files (`preds`; `read_preds`, `write_preds`) and the hourglass `annot/*.h5`
ground truth as an evaluation set (`read_eval_h5`), the files `convcorr eval pckh` scores.

Prediction files follow the conventions of the public MPII evaluation scripts: a MATLAB .mat (v5 or v7.3) or
HDF5 file with one array `preds`, of MATLAB size [N x 16 x 2] or [2 x 16 x N] (HDF5 stores MATLAB arrays with
the axes reversed, so h5py sees [2, 16, N] or [N, 16, 2] respectively). Coordinates are compared as stored:
the reference predictions and `part` share the MPII annotation frame, so no 1-based shift is applied.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from convcorr_jax.data.mpii import open_h5
from convcorr_jax.core.errors import InputError, check, check_finite, check_flags, check_shape
from convcorr_jax.core.io import atomic_path

NUM_JOINTS = 16


@dataclasses.dataclass(frozen=True)
class MPIIEvalSet:
    """Ground truth of an MPII evaluation split. part: [N, 16, 2] pixels (NaN where missing); missing: bool
    [N, 16] (no annotation, stored as (0, 0) in the h5); visible: bool [N, 16]; head: [N] head segment (0.6 x
    head-box diagonal, the h5 `normalize`); imgname: N names."""

    part: np.ndarray
    missing: np.ndarray
    visible: np.ndarray
    head: np.ndarray
    imgname: tuple[str, ...]


def _h5_dataset(f, key: str, path: Path, what: str):
    """The dataset `key` of the open h5 `f`, InputError naming the file and `key` (expected `what`) when it is a
    group (or another object that holds no data); its shape is the caller's to check."""
    import h5py  # lazily, as in data.mpii: importing the module (the experiments do) loads no HDF5

    obj = f[key]
    if not isinstance(obj, h5py.Dataset):
        raise InputError(path, key, f"a dataset {what}", f"an HDF5 {type(obj).__name__.lower()}")
    return obj


def _h5_numbers(f, key: str, path: Path, what: str) -> np.ndarray:
    """The dataset `key` of the open h5 `f` as float64; InputError naming the file, `key` and `what` (the shape
    expected) for a group, a scalar, text or a dataset that cannot be read."""
    obj = _h5_dataset(f, key, path, what)
    try:
        arr = obj[()]
    except (OSError, ValueError, TypeError) as e:  # a damaged file: its data unreadable
        raise InputError(path, key, f"a readable dataset {what}", f"{type(e).__name__}: {e}") from None
    check_shape(arr, "*", path, key, dtype="bool | int | float", note=what)
    return arr.astype(np.float64)


def read_eval_h5(path: str | Path) -> MPIIEvalSet:
    """Read `annot/valid.h5` (stacked-hourglass layout: part, visible, normalize, imgname, ...).

    A joint with no annotation is (0, 0) in `part` (the format; its `visible` is 0). A non-finite joint is also
    taken as missing where `visible` is 0, and refused where it is 1: a visible joint must have coordinates.
    `visible` holds 0 or 1; any other value (NaN, a "-1: missing" convention) is refused naming its index.

    Args:
      path: the h5 file; "part" and "normalize" are required, "visible" (default all True) and "imgname"
        (default empty names) optional.

    Returns:
      MPIIEvalSet: part float64 [N, 16, 2] (x, y) as stored (NaN where missing), missing bool [N, 16] (stored as
      (0, 0), or non-finite and not visible), visible bool [N, 16], head float64 [N], imgname N strings.

    Raises:
      InputError: naming the file and the dataset: a missing dataset, a group or scalar where an array is
        expected, text where numbers are, part not [N, 16, 2], visible not [N, 16], normalize not [N] or not all
        positive, imgname not N names, a visible other than 0 or 1 or a NaN or inf joint marked visible (its
        index).
    """
    path = Path(path)
    with open_h5(path) as f:
        for key in ("part", "normalize"):
            check(key in f, path, key, "dataset present", sorted(f.keys()))
        part = _h5_numbers(f, "part", path, f"[N, {NUM_JOINTS}, 2]")
        head = _h5_numbers(f, "normalize", path, "[N]")
        visible = _h5_numbers(f, "visible", path, f"[N, {NUM_JOINTS}]") if "visible" in f else None
        names = _h5_dataset(f, "imgname", path, "[N] (image names)")[()] if "imgname" in f else None
    dims = check_shape(part, f"N>=1 {NUM_JOINTS} 2", path, "part", note="(at least one person)")
    check_shape(head, "N", path, "normalize", dims)
    check(bool(np.all(head > 0)), path, "normalize", "positive head sizes", float(head.min()))
    visible = np.ones(part.shape[:2], bool) if visible is None else visible
    check_shape(visible, f"N {NUM_JOINTS}", path, "visible", dims)
    check_flags(visible, (0, 1), path, "visible", "0 or 1 per joint (1 visible; 0 occluded or not annotated)")
    visible = visible != 0
    check_finite(part, visible, path, "part", "finite (x, y) for each joint marked visible ((0, 0) marks a "
                 "missing joint)")
    names = ("",) * dims["N"] if names is None else names
    check_shape(names, "N", path, "imgname", dims)
    missing = np.all(part == 0, axis=-1) | ~np.all(np.isfinite(part), axis=-1)
    part = np.where(missing[..., None], np.nan, part)
    return MPIIEvalSet(part, missing, visible, head, tuple(x.decode() if isinstance(x, bytes) else str(x)
                                                           for x in names))


def _numeric(value, path: str | Path) -> np.ndarray:
    """`value` as float64; InputError naming `preds` unless it holds real numbers."""
    arr = np.asarray(value)
    check_shape(arr, "*", path, "preds", dtype="bool | int | float")
    return arr.astype(np.float64)


def _load_preds(path: Path) -> tuple[np.ndarray, bool]:
    """(`preds` of an HDF5 / MATLAB v7.3 file or of a MATLAB v5 .mat as float64, whether it was HDF5);
    InputError naming the file when it is neither, naming `preds` when that is missing or not numbers."""
    import h5py  # lazily, as in data.mpii: importing the module (the experiments do) loads no HDF5

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        hdf_error = f"not HDF5 ({e})"
    else:
        with f:
            check("preds" in f, path, "preds", "a dataset named 'preds'", sorted(f.keys()))
            return _h5_numbers(f, "preds", path, "[N, 16, 2] or [2, 16, N]"), True
    import scipy.io  # lazily: only a file that is not HDF5 needs it

    try:
        m = scipy.io.loadmat(path)
    except Exception as e:  # not HDF5, not MATLAB v5
        raise InputError(path, "file", "a MATLAB .mat or HDF5 file",
                         f"{hdf_error}, not MATLAB v5 ({type(e).__name__}: {e})") from None
    check("preds" in m, path, "preds", "a variable named 'preds'", sorted(k for k in m if not k.startswith("_")))
    return _numeric(m["preds"], path), False


def read_preds(path: str | Path, num: int | None = None) -> np.ndarray:
    """Read `preds` from a .mat/.h5 prediction file as float64 [N, 16, 2] (x, y).

    Args:
      path: the prediction file: HDF5 or MATLAB .mat (v5 or v7.3) holding `preds` of MATLAB size [N x 16 x 2] or
        [2 x 16 x N] (module docstring).
      num: expected N (the ground-truth count); None: no check.

    Returns:
      float64 [N, 16, 2] (x, y) in the MPII frame, as stored (no 1-based shift). NaN or inf entries are kept
      (`convcorr_eval.tompson2015.pckh` scores them as misses and counts them).

    Raises:
      InputError: naming the file: missing, not HDF5 or .mat, no numeric `preds` of those shapes (a group, a
        scalar or text), or N != num.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing prediction file (.mat or .h5)", "missing")
    arr, hdf = _load_preds(path)
    check(arr.ndim == 3 and arr.shape[1] == NUM_JOINTS and 2 in (arr.shape[0], arr.shape[2]), path, "preds",
          "shape [N, 16, 2] or [2, 16, N]", arr.shape)
    if hdf:
        # MATLAB's view is the reversed shape; the toolkit permutes when its first axis has size 2.
        arr = arr if arr.shape[2] == 2 else arr.transpose(2, 1, 0)
    else:
        arr = arr.transpose(2, 1, 0) if arr.shape[0] == 2 else arr
    if num is not None:
        check(arr.shape[0] == num, path, "preds", f"{num} predictions (one per ground-truth person)", arr.shape[0])
    return arr


def write_preds(path: str | Path, preds: np.ndarray) -> None:
    """Write predictions as an HDF5 `preds` file in the MPII frame.

    Args:
      path: the file to write (written atomically: a temporary file renamed when complete).
      preds: [N, 16, 2] (x, y) 0-based pixels of the original MPII images.

    Returns:
      None. Writes float64 `preds` [N, 16, 2] = preds + 1 (1-based, as `part` in annot/valid.h5), readable by
      `read_preds` and `convcorr eval pckh`.

    Raises:
      InputError: preds not [N, 16, 2].
    """
    import h5py  # lazily, as in data.mpii: importing the module (the experiments do) loads no HDF5

    p = np.asarray(preds, np.float64)
    check_shape(p, f"N {NUM_JOINTS} 2", path, "preds")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f["preds"] = p + 1.0
