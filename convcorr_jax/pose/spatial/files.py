"""The spatial model's files (`convcorr_jax.pose.spatial`): its config and log-priors in a folder.

Files (`save_model`, `load_spatial_model`): a folder (a training run's) holds `spatial.json` ({"config": the
SpatialConfig's fields, "priors": {"file", "shape", ...what they were learned from}}) and `spatial_priors.npy` (the
log-priors, float32 [E, kh, kw]); both written atomically, the priors first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import numpy.typing as npt

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError, Source, check_shape
from convcorr_jax.pose.spatial.config import SpatialConfig, kernel_shape
from convcorr_jax.pose.spatial.inference import check_log_priors

CONFIG_FILE = "spatial.json"
PRIORS_FILE = "spatial_priors.npy"


def save_model(folder: str | os.PathLike, cfg: SpatialConfig, log_priors: npt.ArrayLike,
               about: Mapping[str, Any] | None = None) -> None:
    """Write the spatial model into `folder` (module docstring, "Files"): spatial_priors.npy then spatial.json.

    Args:
        folder: an existing folder (a training run's, or a model's).
        cfg: the spatial model's settings (validated).
        log_priors: float [E, kh, kw] log-priors for cfg.edges (stored float32; kh = kw = cfg.kernel where it is set).
        about: JSON-ready notes, e.g. what the priors were learned from (None: none).

    Returns:
        None; spatial_priors.npy holds the log-priors, then spatial.json {"config": cfg.to_dict(), "priors": {"file",
        "shape", **about}}, each written atomically.

    Raises:
        InputError: a bad config, or log-priors of another shape or dtype, holding NaN or +inf, or with a kernel -inf
            at every offset (`inference.check_log_priors`; `load_spatial_model` would refuse the file).
    """
    cfg.validate()
    pri = np.asarray(log_priors, np.float32)
    _check_priors(pri, cfg, "log_priors")
    folder = Path(folder)
    io.save_npy(folder / PRIORS_FILE, pri)
    io.write_json(folder / CONFIG_FILE, {"config": cfg.to_dict(),
                                         "priors": {**dict(about or {}), "file": PRIORS_FILE,
                                                    "shape": list(pri.shape)}})


def load_spatial_model(folder: str | os.PathLike) -> tuple[SpatialConfig, np.ndarray] | None:
    """(config, log-priors) saved in `folder` by `save_model`.

    Args:
        folder: a folder that may hold spatial.json and spatial_priors.npy.

    Returns:
        (SpatialConfig, float32 [E, kh, kw] log-priors); None when it holds no spatial.json.

    Raises:
        InputError: naming the file for a malformed spatial.json, or missing or mismatched priors, or priors
            holding NaN or +inf or with a kernel -inf at every offset (`inference.check_log_priors`).
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, "spatial.json", "a JSON object written by spatial.save_model", str(e)) from None
    if not isinstance(saved, dict) or "config" not in saved:
        raise InputError(path, "config", "a JSON object with the SpatialConfig under \"config\"",
                         type(saved).__name__)
    cfg = SpatialConfig.from_dict(saved["config"], path)
    pri_path = folder / PRIORS_FILE
    if not pri_path.is_file():
        raise InputError(pri_path, PRIORS_FILE, f"the log-priors saved beside {CONFIG_FILE}", "missing file")
    try:
        pri = np.load(pri_path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(pri_path, PRIORS_FILE, "a .npy array of log-priors [E, kh, kw]", str(e)) from None
    if np.issubdtype(pri.dtype, np.floating):
        with np.errstate(over="ignore"):  # float64 beyond float32's range: +-inf, refused as such
            pri = pri.astype(np.float32)
    _check_priors(pri, cfg, pri_path)
    return cfg, pri


def _check_priors(pri: np.ndarray, cfg: SpatialConfig, source: Source) -> None:
    kernel = [cfg.kernel, cfg.kernel] if cfg.kernel else ["kh", "kw"]
    check_shape(pri, [len(cfg.edges), *kernel], source, "log_priors", dtype="float", note="(log-priors, one per edge)")
    kernel_shape(pri.shape[1:])
    check_log_priors(pri, source, "log_priors", cfg.edges)
