"""Save/load converted parameter trees with orbax-checkpoint (one directory per tree, replaced atomically, and only
in place of such a tree: `PARAMS_FOLDER`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from convcorr_jax.core import io, staging
from convcorr_jax.core.errors import InputError, Source

# what `save_params` replaces: a folder holding an orbax tree's files (orbax's names) and nothing else
PARAMS_FOLDER = io.FolderKind("an orbax parameter folder", (
    "_CHECKPOINT_METADATA", "_METADATA", "_sharding", "commit_success.txt", "manifest.ocdbt", "ocdbt.process_*", "d",
    "array_metadatas", "descriptor", "checkpoint"),
    marker=lambda f: (f / "_CHECKPOINT_METADATA").is_file() or (f / "_METADATA").is_file())


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.PyTreeCheckpointer()


def _flat(tree: Any) -> dict[str, Any]:
    import jax

    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path, simple=True, separator="/"): leaf for path, leaf in leaves}


def save_params(path: str | os.PathLike, params: Any) -> Path:
    """Write `params` (a pytree of arrays) to the orbax directory `path`, replacing it atomically.

    The tree is written to a sibling temporary directory first; only a complete checkpoint is swapped onto `path`
    (`io.replace_dir`), so a killed writer never leaves a partial one there (its temporary directory, `staging.make`'s,
    is removed by the next save to `path`). An existing `path` is replaced only when
    it is such a tree (`PARAMS_FOLDER`); any other non-empty folder is refused before anything is written.

    Args:
      path: the checkpoint directory (its parent is created).
      params: a pytree of arrays (stored as numpy arrays of their dtypes).

    Returns:
      The absolute Path of the directory written.

    Raises:
      InputError: `path` is a file, or (`io.NotOwned`) a folder holding anything an orbax tree does not.
    """
    import jax

    path = Path(path).absolute()
    io.check_replaceable(path, PARAMS_FOLDER, "path")
    tmp = staging.make(path)  # and removes the folders of killed saves to `path`
    try:  # orbax makes the folder it saves to: `tree` inside the staging folder
        _checkpointer().save(tmp / "tree", jax.tree_util.tree_map(np.asarray, params))
        io.replace_dir(tmp / "tree", path, PARAMS_FOLDER, "path")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only when the save or the swap failed
    return path


def load_orbax_params(path: str | os.PathLike, like: Any = None) -> Any:
    """Read a tree written by `save_params` (leaves as jax arrays on the default device).

    Args:
      path: the orbax checkpoint directory.
      like: optional tree (e.g. `backbone.init(key)` or `jax.eval_shape` of it) the stored tree must match exactly
        in keys, shapes and dtypes; otherwise `InputError` names the first mismatching key.

    Returns:
      The stored pytree with jax array leaves.

    Raises:
      InputError: for a missing or unreadable directory, or a mismatch with `like`.
    """
    import jax

    path = Path(path).absolute()
    if not path.is_dir():
        raise InputError(path, "checkpoint", "an orbax checkpoint directory written by save_params", "not found")
    try:
        tree = _checkpointer().restore(path)
    except Exception as e:
        raise InputError(path, "checkpoint", "a readable orbax checkpoint", f"{type(e).__name__}: {e}") from None
    tree = jax.tree_util.tree_map(np.asarray, tree)
    if like is not None:
        check_tree(tree, like, path)
    return jax.device_put(tree)  # a transfer per leaf (jnp.asarray would compile a program per leaf shape)


def check_tree(tree: Any, like: Any, source: Source = "params") -> None:
    """Raise `InputError` unless `tree` has exactly the keys, shapes and dtypes of `like`.

    Args:
      tree: the pytree checked.
      like: the expected pytree (arrays or `jax.ShapeDtypeStruct` leaves); keys compared as "a/b" paths.
      source: the name the error gives to `tree`.

    Returns:
      None; it only checks (the first missing key, then the first unexpected key, then the first shape or dtype
      mismatch is reported).
    """
    got, want = _flat(tree), _flat(like)
    missing = [k for k in want if k not in got]
    if missing:
        raise InputError(source, missing[0], f"a parameter of shape {tuple(np.shape(want[missing[0]]))}",
                         f"missing ({len(missing)} keys missing; this tree has e.g. {list(got)[:3]})")
    extra = [k for k in got if k not in want]
    if extra:
        raise InputError(source, extra[0], "no such parameter in the target architecture",
                         f"unexpected key ({len(extra)} unexpected)")
    for k, w in want.items():
        g = got[k]
        if tuple(np.shape(g)) != tuple(np.shape(w)):
            raise InputError(source, k, f"shape {tuple(np.shape(w))}", tuple(np.shape(g)))
        if np.dtype(g.dtype) != np.dtype(w.dtype):
            raise InputError(source, k, f"dtype {np.dtype(w.dtype)}", np.dtype(g.dtype))
