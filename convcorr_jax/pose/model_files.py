"""The model folder's files by name (`pose.shipped`'s format): what a shipped model, an export and a training run's
folder hold beside its checkpoints; reading a folder's parameters (`read_params`) and checking them against its
config's model (`check_param_shapes`).

Names, the parameters' reader and their shapes' check only, so that the training modules (`run_folder`: which
files a run folder may hold; `checkpoints.start_params`: a run started from a model's parameters) and the export and
inference modules (`shipped`: reading and writing the rest) share them without the training side importing
inference.
"""

from __future__ import annotations

import hashlib
import json
from io import BytesIO
from pathlib import Path, PurePosixPath

import numpy as np
from flax import traverse_util

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import spatial
from convcorr_jax.pose.model_config import ModelConfig

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



def check_file(folder: str | Path, rel: str, want: str) -> bytes:
    """Check one file of a model folder against its sha256 in model.json's "files".

    Args:
        folder: the model folder.
        rel: the file's path relative to it.
        want: its sha256 (hex) as model.json records it.

    Returns:
        The file's contents as hashed (read once: a reader of these bytes reads what was checked, even when the file
        is replaced meanwhile, e.g. by a training run's next stage).

    Raises:
        InputError: naming the file, for a missing one or one of another sha256 (damaged or changed); naming
            model.json for a path that is absolute or leaves the folder ("..").
    """
    parts = PurePosixPath(str(rel).replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or Path(str(rel)).is_absolute():
        raise InputError(Path(folder) / MODEL_FILE, f"files.{rel}", "a path inside the model folder, relative to it",
                         rel)
    path = Path(folder) / rel
    if not path.is_file():
        raise InputError(path, rel, f"the model's file (sha256 {want})", "missing file")
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise InputError(path, "sha256", f"{want} (model.json): the file is damaged or changed (a shipped model: "
                         "reinstall convcorr-jax)", got)
    return data


def read_record(folder: str | Path) -> dict:
    """A model folder's model.json.

    Args:
        folder: a model folder (a shipped model's, an export, a training run that is a model).

    Returns:
        Its JSON record (any JSON value; the readers check its fields).

    Raises:
        InputError: naming model.json when it is missing or not JSON.
    """
    path = Path(folder) / MODEL_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, MODEL_FILE, "a model folder's JSON record", str(e)) from None


def recorded(folder: str | Path, record: dict, rels: tuple[str, ...]) -> bool:
    """Whether the files `rels` (e.g. spatial.json and its priors) are part of the model folder's record.

    Args:
        folder: the model folder.
        record: its model.json, whose "files" the reader has checked against their sha256.
        rels: the files, as paths relative to folder, that make one part of the model together.

    Returns:
        True where "files" records each of them; False where it records none and none is in the folder.

    Raises:
        InputError: naming a file that is in the folder but not recorded (another model's file, or one written
            after the model: it would be read unchecked), or naming model.json when it records only some of them.
    """
    files = record.get("files") if isinstance(record, dict) else None
    listed = [isinstance(files, dict) and rel in files for rel in rels]
    if all(listed):
        return True
    for rel, known in zip(rels, listed):
        if not known and (Path(folder) / rel).exists():
            raise InputError(Path(folder) / rel, f"files.{rel}", "a file model.json records with its sha256 (this "
                             "one is another model's or was written after the model: remove it, or write the model "
                             "again)", "a file model.json does not record")
    if any(listed):
        raise InputError(Path(folder) / MODEL_FILE, "files", f"all of {list(rels)} or none of them",
                         f"only {[r for r, known in zip(rels, listed) if known]}")
    return False


def read_params(folder: str | Path, record: dict | None = None) -> dict:
    """The parameters of the model folder `folder` (params.npz), checked against its sha256 in model.json.

    Args:
        folder: a model folder (a shipped model's, an export, a training run that is a model).
        record: its model.json when already read (None: read here).

    Returns:
        The parameters: nested dicts of float32 arrays, one level per "/" of the stored paths ("a/b/kernel").

    Raises:
        InputError: naming the file, for a missing or unreadable model.json, one whose "files" does not name
            params.npz, or a missing or changed params.npz.
    """
    folder = Path(folder)
    record = read_record(folder) if record is None else record
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or PARAMS_FILE not in files:
        raise InputError(folder / MODEL_FILE, "files", f"{{relative path: sha256}} naming {PARAMS_FILE}", files)
    data = check_file(folder, PARAMS_FILE, files[PARAMS_FILE])
    with np.load(BytesIO(data), allow_pickle=False) as z:  # the bytes checked, not the file again
        return traverse_util.unflatten_dict({key: z[key] for key in z.files}, sep="/")


def check_param_shapes(folder: str | Path, params: dict, cfg: ModelConfig) -> dict:
    """Check a model folder's parameters against the structure and shapes of its config's model.

    Args:
        folder: the model folder (named in the error).
        params: its parameters (`read_params`): nested dicts of arrays.
        cfg: the model's settings (validated here).

    Returns:
        The config's parameter shapes (`model.param_shapes`: `jax.ShapeDtypeStruct` leaves).

    Raises:
        InputError: naming params.npz and the first parameter path of another shape than the config's model's (or
            present in one only), both shapes; a config out of its range (`ModelConfig.validate`).
    """
    want = pose_model.param_shapes(cfg)
    got_shapes, want_shapes = _shapes(params), _shapes(want)
    for path in sorted(set(got_shapes) | set(want_shapes)):
        if got_shapes.get(path) != want_shapes.get(path):
            raise InputError(Path(folder) / PARAMS_FILE, path, f"shape {want_shapes.get(path, 'absent')} (the "
                             f"parameters of the config's model, num_joints={cfg.num_joints})",
                             f"shape {got_shapes.get(path, 'absent')}")
    return want


def _shapes(tree: dict) -> dict[str, tuple]:
    """{"a/b/kernel": shape} of a nested dict of arrays (or shape structs)."""
    return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}


__all__ = ["FRAMES", "MODEL_FILE", "MODEL_FOLDER", "PARAMS_FILE", "check_file", "check_param_shapes", "read_params",
           "read_record", "recorded"]
