"""The model folder's files by name (`pose.shipped`'s format): what a shipped model, an export and a training run's
folder hold beside its checkpoints.

Names only, so that the training modules (`run_folder`: which files a run folder may hold) and the export and
inference modules (`shipped`: reading and writing them) share them without the training side importing inference.
"""

from __future__ import annotations

import json
from pathlib import Path

from convcorr_jax.core import io
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import spatial

MODEL_FILE = "model.json"
PARAMS_FILE = "params.npz"
FRAMES = "frames"  # the subfolder of the frame statistics


def _is_model(folder: Path) -> bool:
    """Whether `folder` holds a model.json that is a model's record (a JSON object with "files")."""
    try:
        record = json.loads((folder / MODEL_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and isinstance(record.get("files"), dict)


# what `shipped.write` replaces: a folder with a model's model.json holding nothing but a model's files
MODEL_FOLDER = io.FolderKind("a model folder", (MODEL_FILE, PARAMS_FILE, spatial.CONFIG_FILE, spatial.PRIORS_FILE,
                                                pose_readout.FILE, f"{FRAMES}/{spatial.CONFIG_FILE}",
                                                f"{FRAMES}/{spatial.PRIORS_FILE}"), marker=_is_model)

__all__ = ["FRAMES", "MODEL_FILE", "MODEL_FOLDER", "PARAMS_FILE"]
