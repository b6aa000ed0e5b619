"""Names kept for one release under their former spelling, with a DeprecationWarning on use.

    __getattr__ = renamed(__name__, {"OldName": NewName})   # a module's former names (PEP 562)

The former name is no attribute of the module: only its module `__getattr__` answers it, so that every use warns,
and `from module import *` (the module's `__all__`, which names the new one) does not. A moved module keeps its old
file instead (it re-exports the new module's names and warns on import: `pose/mpii_files.py`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def renamed(module: str, renames: Mapping[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` that answers each former name with its new value and a DeprecationWarning naming the
    new name.

    Args:
      module: the module's dotted name (its `__name__`).
      renames: former name -> the object now under its new name (a class or function: its `__name__` and
        `__module__` give the new name the warning says).

    Returns:
      A function name -> the renamed object (warning once per use, pointing at the caller's line); AttributeError
      for any other name (so that `from package import submodule` still imports a submodule).
    """

    def attribute(name: str) -> Any:
        if name not in renames:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new = renames[name]
        warnings.warn(f"{module}.{name} is deprecated and will be removed in the next release: use "
                      f"{new.__name__} ({new.__module__}.{new.__name__})", DeprecationWarning, stacklevel=2)
        return new

    return attribute


__all__ = ["renamed"]
