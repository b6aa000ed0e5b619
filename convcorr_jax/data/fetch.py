"""Download, verify and unpack dataset archives into the layout the loaders read.

`fetch_dataset("flic", out)` downloads the archive into a cache with `convcorr_jax.weights.fetch.download` (size and
sha256 checked, atomic rename; resumable: a transfer cut by the network or stopped by Ctrl-C or SIGTERM keeps its
bytes in `.<archive>.part` beside the archive, and the next fetch asks only for the rest, HTTP Range, as `convcorr
weights fetch` does), then unpacks it into a temporary folder beside `out`, checks the layout the loader needs, and
renames the folder onto `out` at the end: a failure at any step leaves no half-unpacked `out` and no temporary
folder (a killed one's is removed by the next fetch).

Layouts after fetching (`out` is the loader's root):
* pf-willow: `out/<sub-class>/*.png|*.mat` -> `load_pf_willow(out)` (the archive's `PF-dataset/` folder).
* flic: `out/examples.mat`, `out/images/*.jpg` -> `load_flic(out)` (the archive's `FLIC/` folder).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from convcorr_jax.core import io, staging
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.paths import cache_dir
from convcorr_jax.core.registry import Registry
from convcorr_jax.weights.fetch import download

log = logging.getLogger(__name__)


def _check_pf_willow(root: Path) -> str:
    from convcorr_jax.data.pf_willow import pf_willow_classes

    classes = pf_willow_classes(root)
    n = sum(len(list((root / c).glob("*.png"))) for c in classes)
    return f"{len(classes)} sub-classes, {n} images"


def _check_flic(root: Path) -> str:
    if not (root / "examples.mat").is_file():
        raise InputError(root, "examples.mat", "FLIC's examples.mat at the archive's top folder", "missing")
    if not (root / "images").is_dir():
        raise InputError(root, "images", "FLIC's images/ folder beside examples.mat", "missing")
    return f"examples.mat, {sum(1 for _ in (root / 'images').glob('*.jpg'))} images"


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where a dataset archive comes from and how it is checked.

    url: official download address; sha256 / size (bytes): the archive's published checksum and length, None
    where none is published (then the caller must pass one); top: the archive's top folder, which becomes `out`;
    check: verifies the unpacked layout, returns a one-line summary; cite: where url and checksum come from.
    """

    url: str
    filename: str
    sha256: str | None
    size: int | None
    top: str
    check: Callable[[Path], str]
    cite: str


DOWNLOADS: Registry[DatasetSource] = Registry("data fetch", {
    "pf-willow": DatasetSource(
        url="https://www.di.ens.fr/willow/research/proposalflow/dataset/PF-dataset.zip",
        filename="PF-dataset.zip", sha256=None, size=None, top="PF-dataset", check=_check_pf_willow,
        cite="Proposal Flow project page (www.di.ens.fr/willow/research/proposalflow); no checksum is published"),
    "flic": DatasetSource(
        url="https://drive.google.com/uc?id=0B4K3PZp8xXDJN0Fpb0piVjQ3Y3M&export=download",
        filename="FLIC.zip", size=300257553,
        sha256="778a4847f068592af40e959381c153838e4f68bb1d798e3824a9d88e5b881955", top="FLIC", check=_check_flic,
        cite="the FLIC page (bensapp.github.io/flic-dataset.html) links this file; size and sha256 are the ones "
             "TensorFlow Datasets registers (tensorflow_datasets/url_checksums/flic.txt)"),
}, field="dataset")


def _members_safe(names: list[str], archive: Path) -> None:
    for n in names:
        p = Path(n)
        if p.is_absolute() or ".." in p.parts:
            raise InputError(archive, "member", "relative paths inside the archive", n)


def _unpack_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Extract a .zip or .tar(.gz|.bz2|.xz) into the existing folder `dest`; absolute or '..' members are refused.

    Args:
        archive: the archive file (its type is read from its content, not its name).
        dest: an existing folder to extract into.

    Returns:
        None; writes the archive's members under `dest`.

    Raises:
        InputError: for a file that is neither zip nor tar, a truncated or unreadable archive, or a member with an
            absolute or '..' path.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _members_safe(z.namelist(), archive)
                z.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                _members_safe(t.getnames(), archive)
                t.extractall(dest, filter="data")
        else:
            raise InputError(archive, "archive", "a .zip or .tar archive", "neither")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(archive, "archive", "a complete, readable archive", f"{type(e).__name__}: {e}") from None


def _content_root(tmp: Path, top: str) -> Path:
    """The unpacked folder that becomes `out`: `top` if present, else the single top-level folder, else tmp."""
    if (tmp / top).is_dir():
        return tmp / top
    entries = [p for p in tmp.iterdir() if not p.name.startswith("__MACOSX")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp


def fetch_dataset(name: str, out: str | os.PathLike, url: str | None = None, sha256: str | None = None,
                  size: int | None = None, archive_dir: str | os.PathLike | None = None,
                  progress: bool = True, timeout: float = 60.0) -> Path:
    """Download dataset `name` ("pf-willow" | "flic"), verify it and unpack it atomically into `out`.

    Args:
        name: a key of `DOWNLOADS`.
        out: the folder to create; it must not exist yet or be empty.
        url, sha256, size: override the registered source (`DOWNLOADS`); size in bytes. The registered sha256 and
            size apply only to the registered url; a source without a published sha256 needs `sha256`.
        archive_dir: where the archive is kept (default: the cache's `downloads/`); reused when its hash matches. The
            bytes of an interrupted download stay there in `.<archive name>.part` and the next call resumes them.
        progress: show download progress.
        timeout: network timeout in seconds.

    Returns:
        `out` as a Path: the loader's root.

    Raises:
        InputError: for an unknown name, no sha256 to check against, a non-empty `out`, or an archive whose layout
            fails the dataset's check.
    """
    src = DOWNLOADS[name]
    url = url or src.url
    sha256 = sha256 or (src.sha256 if url == src.url else None)
    size = size if size is not None else (src.size if url == src.url else None)
    if not sha256:
        raise InputError(url, "sha256", f"a sha256 for {name}'s archive (pass --sha256): {src.cite}", "none")
    out = check_empty_out(out)
    folder = Path(archive_dir) if archive_dir is not None else cache_dir("downloads")
    archive = download(url, folder / src.filename, sha256=sha256, progress=progress, timeout=timeout, size=size,
                       resume=True)
    summary = install_archive(archive, out, name, src.top, src.check)
    log.info("%s: unpacked into %s (%s)", name, out, summary)
    return out


def check_empty_out(out: str | os.PathLike) -> Path:
    """`out` as a Path, or InputError unless it is absent or an empty folder (the place to unpack into).

    Args:
        out: the folder to unpack into.

    Returns:
        `out` as a Path.

    Raises:
        InputError: when `out` is a file or a link; `io.NotOwned` (one line naming what is there) when it is a
            non-empty folder.
    """
    out = Path(out)
    io.check_replaceable(out, None, "out")  # nothing is unpacked among someone's files
    return out


def install_archive(archive: Path, out: Path, name: str, top: str, check: Callable[[Path], str]) -> str:
    """Unpack `archive` into a temporary folder beside `out`, check the layout of its folder `top` (`check`), and
    rename that folder onto `out` (absent or empty): nothing half-unpacked is left behind. The temporary folder is
    `staging.make`'s; one a killed unpacking left is removed by the next one for the same `out`.

    The folder taken is `top` when the archive holds it, else the archive's single top-level folder, else the whole
    unpacked tree.

    Args:
        archive: the downloaded archive.
        out: the destination folder, absent or empty (its parents are created).
        name: the dataset's name, for the error message.
        top: the archive's top folder, which becomes `out`.
        check: verifies the unpacked layout and returns a one-line summary; raises InputError otherwise.

    Returns:
        check's one-line summary (str).

    Raises:
        InputError: from `_unpack_archive`, or naming the archive when `check` refuses the layout.
    """
    tmp = staging.make(out)  # and removes the folders of killed unpackings of `out`
    try:
        _unpack_archive(archive, tmp)
        root = _content_root(tmp, top)
        try:
            summary = check(root)
        except InputError as e:
            raise InputError(archive, "layout", f"{name}'s files: {e.field} ({e.expected})", e.got) from None
        io.replace_dir(root, out, None, "out")  # checked again: still absent or empty (another unpacking's: refused)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return summary
