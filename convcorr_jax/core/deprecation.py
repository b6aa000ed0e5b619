"""Names kept for one release under their former spelling, with a DeprecationWarning on use.

    __getattr__ = renamed(__name__, {"OldName": NewName})   # a module's former names (PEP 562)
    __getattr__ = renamed(__name__, {"OLD_DICT": "NEW_DICT"})  # a value without a name of its own: its new name
    __getattr__ = renamed(__name__, {"NAME": "package.module.NAME"})  # moved to another module: its dotted path

    alias_moved_modules()                                 # modules under their former dotted path (MOVED_MODULES)

The former name is no attribute of the module: only its module `__getattr__` answers it, so that every use warns,
and `from module import *` (the module's `__all__`, which names the new one) does not. A moved module leaves no
file behind: its former dotted path is answered by an import hook (`alias_moved_modules`, installed when
`convcorr_jax` is imported) with the very module at its new path, and a DeprecationWarning naming it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_FOUNDATION = ("errors", "io", "config", "cache", "paths", "compile_cache", "exported", "interrupt", "runinfo",
               "parallel", "progress", "geometry", "crop_geometry", "metrics", "knn", "long_frame", "registry",
               "optional", "deprecation")
# modules moved, kept one release under their former dotted path: former -> new
MOVED_MODULES: dict[str, str] = {
    **{f"convcorr_jax.{m}": f"convcorr_jax.core.{m}" for m in _FOUNDATION},
    "convcorr_jax.pose.mpii_files": "convcorr_jax.data.mpii_eval_files",
    **{f"convcorr_jax.pose.{old}": f"convcorr_jax.pose.{new}" for old, new in (
        ("train", "training.loop"), ("train_config", "training.config"), ("train_step", "training.stages"),
        ("checkpoints", "training.checkpoints"), ("event_log", "training.event_log"),
        ("run_folder", "training.run_folder"), ("run_export", "export.model_folder"),
        ("onnx_export", "export.onnx_file"), ("spatial_config", "spatial.config"),
        ("spatial_inference", "spatial.inference"), ("spatial_priors", "spatial.priors"),
        ("spatial_files", "spatial.files"))},
}


def renamed(module: str, renames: Mapping[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` that answers each former name with its new value and a DeprecationWarning naming the
    new name.

    Args:
      module: the module's dotted name (its `__name__`).
      renames: former name -> the object now under its new name (a class or function: its `__name__` and
        `__module__` give the new name the warning says), or the new name itself, a str, of a value of this module
        that has no name of its own (a dict of settings, a constant): the module's attribute of that name; or a
        dotted str "package.module.NAME": the attribute NAME of that module, imported on first use (a name moved to
        a module that imports this one).

    Returns:
      A function name -> the renamed object (warning once per use, pointing at the caller's line); AttributeError
      for any other name (so that `from package import submodule` still imports a submodule).
    """

    def attribute(name: str) -> Any:
        if name not in renames:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new = renames[name]
        if isinstance(new, str):  # a value named by its new name: of this module, or "package.module.NAME"
            where = new if "." in new else f"{module}.{new}"
            home, new_name = where.rsplit(".", 1)
            value = getattr(sys.modules[module] if home == module else importlib.import_module(home), new_name)
        else:
            new_name, where, value = new.__name__, f"{new.__module__}.{new.__name__}", new
        warnings.warn(f"{module}.{name} is deprecated and will be removed in the next release: use "
                      f"{new_name} ({where})", DeprecationWarning, stacklevel=2)
        return value

    return attribute


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """An import hook that answers a moved module's former dotted path with the module at its new path."""

    def __init__(self, moves: Mapping[str, str]):
        self.moves = dict(moves)
        self.specs: dict[str, importlib.machinery.ModuleSpec] = {}  # former path -> the module's own spec

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in self.moves else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = self.moves[spec.name]
        warnings.warn(f"{spec.name} is deprecated and will be removed in the next release: import {new}",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        if module.__spec__ is not None:  # a module set up by hand may have none: nothing to give back then
            self.specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module was imported at its new path. The import system has set its `__spec__` to
        the former path's (no file); it gets its own back, so that `importlib.util.find_spec` of the new path (as
        `cache.code_version` asks) still finds the file."""
        own = self.specs.get(module.__spec__.name) if module.__spec__ is not None else None
        if own is not None:
            module.__spec__ = own


def alias_moved_modules(moves: Mapping[str, str] = MOVED_MODULES) -> None:
    """Make every former dotted path of `moves` import, with a DeprecationWarning, the very module at its new path
    (`import convcorr_jax.io` gives `convcorr_jax.core.io`). Installed once, when `convcorr_jax` is imported.

    Args:
      moves: former dotted module path -> its new dotted path.

    Returns:
      None; the hook is appended to `sys.meta_path` unless one is there already.
    """
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules(moves))


__all__ = ["MOVED_MODULES", "alias_moved_modules", "renamed"]
