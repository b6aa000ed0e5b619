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
from convcorr_jax.core.errors import InputError, check, check_shape
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


def read_eval_h5(path: str | Path) -> MPIIEvalSet:
    """Read `annot/valid.h5` (stacked-hourglass layout: part, visible, normalize, imgname, ...).

    Args:
      path: the h5 file; "part" and "normalize" are required, "visible" (default all True) and "imgname"
        (default empty names) optional.

    Returns:
      MPIIEvalSet: part float64 [N, 16, 2] (x, y) as stored (NaN where missing), missing bool [N, 16] (stored as
      (0, 0) or non-finite), visible bool [N, 16], head float64 [N], imgname N strings.

    Raises:
      InputError: a missing dataset, part not [N, 16, 2], normalize not [N] or not all positive.
    """
    path = Path(path)
    with open_h5(path) as f:
        for key in ("part", "normalize"):
            check(key in f, path, key, "dataset present", sorted(f.keys()))
        part = np.asarray(f["part"][:], np.float64)
        head = np.asarray(f["normalize"][:], np.float64)
        n = part.shape[0]
        visible = np.asarray(f["visible"][:], bool) if "visible" in f else np.ones(part.shape[:2], bool)
        names = (tuple(x.decode() if isinstance(x, bytes) else str(x) for x in f["imgname"][:])
                 if "imgname" in f else ("",) * n)
    dims = check_shape(part, f"N {NUM_JOINTS} 2", path, "part")
    check_shape(head, "N", path, "normalize", dims)
    check(bool(np.all(head > 0)), path, "normalize", "positive head sizes", float(head.min()))
    missing = np.all(part == 0, axis=-1) | ~np.all(np.isfinite(part), axis=-1)
    part = np.where(missing[..., None], np.nan, part)
    return MPIIEvalSet(part, missing, visible, head, names)


def _numeric(value, path: str | Path) -> np.ndarray:
    """`value` as float64; InputError naming `preds` unless it holds real numbers."""
    arr = np.asarray(value)
    check_shape(arr, "*", path, "preds", dtype="bool | int | float")
    return arr.astype(np.float64)


def read_preds(path: str | Path, num: int | None = None) -> np.ndarray:
    """Read `preds` from a .mat/.h5 prediction file as float64 [N, 16, 2] (x, y).

    Args:
      path: the prediction file: HDF5 or MATLAB .mat (v5 or v7.3) holding `preds` of MATLAB size [N x 16 x 2] or
        [2 x 16 x N] (module docstring).
      num: expected N (the ground-truth count); None: no check.

    Returns:
      float64 [N, 16, 2] (x, y) in the MPII frame, as stored (no 1-based shift).

    Raises:
      InputError: naming the file: missing, not HDF5 or .mat, no numeric `preds` of those shapes, or N != num.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing prediction file (.mat or .h5)", "missing")
    arr, hdf = None, False
    try:
        import h5py  # lazily, as in data.mpii: importing the module (the experiments do) loads no HDF5

        with h5py.File(path, "r") as f:
            check("preds" in f, path, "preds", "a dataset named 'preds'", sorted(f.keys()))
            arr, hdf = _numeric(f["preds"][:], path), True
    except OSError:
        import scipy.io  # lazily: only a file that is not HDF5 needs it

        try:
            m = scipy.io.loadmat(path)
        except Exception as e:  # not HDF5, not MATLAB v5
            raise InputError(path, "file", "a MATLAB .mat or HDF5 file", type(e).__name__) from None
        check("preds" in m, path, "preds", "a variable named 'preds'", sorted(k for k in m if not k.startswith("_")))
        arr = _numeric(m["preds"], path)
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
