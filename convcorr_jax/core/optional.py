"""Optional dependencies: the extras of convcorr-jax, imported where they are needed, with one error line naming the
extra to install when one is missing.

    tfds = require("tensorflow_datasets", "tfds", "convcorr_jax.data.tfds_builders")
    __getattr__ = lazy_exports(__name__, {"load_flic": "flic"})   # a package's re-exports, imported on first use

Extras (pyproject.toml): `report` (reports and figures of `convcorr eval`, `run`, `demo`, `match`, `align`),
`tfds` (tensorflow-datasets: `convcorr_jax.data.tfds_builders`), `bench` (scikit-learn: the scripts in bench/),
`video` (PyAV: `convcorr pose` on videos), `coco` (pycocotools: COCO's OKS AP in `convcorr eval pose`), `test`
(the test suite: pytest and the others), `cuda12` (JAX for NVIDIA GPUs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from convcorr_jax.core.errors import InputError

# import name -> the name pip installs it by, where they differ
DISTRIBUTIONS = {"skimage": "scikit-image", "sklearn": "scikit-learn", "tensorflow_datasets": "tensorflow-datasets"}


class MissingExtra(InputError, ImportError):
    """An optional dependency is not installed. One line: what needs it, the package and the pip line of its extra,
    "convcorr_jax.data.tfds_builders needs tensorflow-datasets: pip install 'convcorr-jax[tfds]'". An InputError
    (the `convcorr` command prints it as one line, exit code 2) and an ImportError (`except ImportError` catches it).

    Attributes: `name` (the module not found, as ImportError's), `package` (its pip name), `extra`."""

    def __init__(self, module: str, extra: str, what: str):
        top = module.partition(".")[0]
        self.package, self.extra = DISTRIBUTIONS.get(top, top), extra
        super().__init__(None, "extra", f"convcorr-jax[{extra}]",
                         message=f"{what} needs {self.package}: pip install 'convcorr-jax[{extra}]'")
        self.name = module


def require(module: str, extra: str, what: str) -> ModuleType:
    """The module `module` imported, or MissingExtra naming `what` needs it and the `extra` that installs it.

    Only a missing `module` (or a package above it) is reported so; any other failure of its import is raised as
    it is.

    Args:
      module: the dotted import name (e.g. "tensorflow_datasets").
      extra: the convcorr-jax extra that installs it (e.g. "tfds").
      what: what needs it, for the message (e.g. "convcorr_jax.data.tfds_builders").

    Returns:
      The imported module.

    Raises:
      MissingExtra: module (or a package above it) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        parts = module.split(".")
        if e.name not in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}:
            raise
        raise MissingExtra(module, extra, what) from None


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's module `__getattr__` that imports the module of each name it re-exports on first use, so that
    importing one of its modules imports none of the others.

    Args:
      package: the package's dotted name (its `__name__`).
      homes: re-exported name -> the package's module that defines it (e.g. {"load_flic": "flic"}).

    Returns:
      A function name -> the name's value from its module; AttributeError for a name not in `homes` (so that
      `from package import submodule` still imports the submodule).
    """

    def attribute(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)

    return attribute


__all__ = ["DISTRIBUTIONS", "MissingExtra", "lazy_exports", "require"]
