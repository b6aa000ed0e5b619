"""FLIC in one archive that travels: pack a FLIC folder (examples.mat + images/) into one tar with a sha256
checksum beside it, and unpack it, verified, into the folder the loader reads.

    info = pack_flic("FLIC", "flic.tar")                 # flic.tar + flic.tar.sha256; {"bytes", "sha256", ...}
    unpack_flic("flic.tar", "FLIC_copy")                 # checksum verified, then unpacked atomically

Archive: an uncompressed tar whose members are FLIC/examples.mat (as is) and FLIC/images/<name>.jpg for every
image examples.mat names, in sorted order, with zeroed times and owners (the same folder and settings give the same
bytes, so the same checksum). Images are re-encoded as JPEG at `quality` (default `QUALITY`: FLIC's 4,552 images
as shipped at 360 x 240 then take 58.7 MiB, against 105.5 MiB copied; same pixel size, so the loader maps the
annotations exactly as before: `data.flic.load_flic`) or copied as they are (`quality` None). The checksum file
`<archive>.sha256` holds one line "<sha256 hex>  <archive name>" (the `sha256sum` format). Both files are written
atomically (`io.atomic_path`), and replace only an archive packed before with its checksum file naming it: any other
file at either path is refused before any work (`check_archive_out`). Unpacking checks the archive's sha256
against the expected one (given, else the checksum file beside it) before reading it: a corrupted or truncated
archive is refused with one InputError.
"""

from __future__ import annotations

import io as _io
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convcorr_jax.core import interrupt, io
from convcorr_jax.data.fetch import DOWNLOADS, check_empty_out, install_archive
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.weights.fetch import check_sha256_form

TOP = "FLIC"
MAX_MIB = 60.0  # the archive's size limit by default (a file that travels with a job)
QUALITY = 70  # default JPEG quality: FLIC as shipped (360 x 240) fits MAX_MIB


SPLITS = ("all", "train")  # the images packed: every example's, or the training examples' alone


def _image_names(root: Path, split: str = "all") -> list[str]:
    """Sorted image file names examples.mat refers to (its `filepath` field), of every example or (split "train")
    of the examples with `istrain` set."""
    from convcorr_jax.data.flic import _loadmat

    ex = _loadmat(root / "examples.mat")["examples"].ravel()
    keep = [e for e in ex if split == "all" or bool(np.asarray(e["istrain"]).ravel()[0])]
    return sorted({str(e["filepath"].ravel()[0]) for e in keep})


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, _io.BytesIO(data))


def _encoded(path: Path, quality: int | None) -> bytes:
    if quality is None:
        return path.read_bytes()
    from PIL import Image

    with Image.open(path) as im:
        buf = _io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=int(quality), optimize=True)
    return buf.getvalue()


def checksum_path(archive: str | os.PathLike) -> Path:
    """The checksum file beside an archive: <archive>.sha256.

    Args:
        archive: the archive's path.

    Returns:
        Path "<archive>.sha256".
    """
    return Path(f"{archive}.sha256")


def _names_archive(out: Path) -> bool:
    """Whether `<out>.sha256` is a file whose line names `out` ("<sha256>  <out's name>", as the packers write)."""
    check = checksum_path(out)
    try:
        return check.is_file() and check.read_text(errors="replace").split()[1:2] == [out.name]
    except OSError:
        return False


def _is_own(out: Path, own: Callable[[Path], bool]) -> bool:
    """`own(out)`, False where the file cannot be read as an archive."""
    try:
        return own(out)
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile):
        return False


def check_archive_out(out: str | os.PathLike, kind: str, own: Callable[[Path], bool], field: str = "out") -> Path:
    """Refuse, before any work, an archive path that holds a file the packer did not write: an existing `out` is
    replaced only when it is a `kind` (`own`) with its checksum file naming it, never a user's other file (the FLIC
    folder's own examples.mat, notes, ...); an existing `<out>.sha256` only when it names `out`.

    Args:
        out: the archive to write.
        kind: what the archive is, for the message ("a pack-flic archive").
        own: whether an existing file's members are those of a `kind`.
        field: the name the error gives `out` (e.g. "--out").

    Returns:
        `out` as a Path.

    Raises:
        InputError: (one line) `out` or `<out>.sha256` cannot be written, or holds a file that is not the packer's.
    """
    out, check = io.check_writable(out, field), checksum_path(out)
    io.check_writable(check, field)
    if out.exists() or out.is_symlink():
        theirs = out if not (out.is_file() and _names_archive(out) and _is_own(out, own)) else None
    else:
        theirs = check if (check.exists() or check.is_symlink()) and not _names_archive(out) else None
    if theirs is not None:
        raise InputError(theirs, field, f"a new file, or {kind} written before with its .sha256",
                         "an existing file that is not one; nothing was written: give another path, or move it")
    return out


def _is_flic_pack(path: Path) -> bool:
    with tarfile.open(path) as tar:
        first = tar.next()
    return first is not None and first.name == f"{TOP}/examples.mat"


def pack_flic(root: str | os.PathLike, out: str | os.PathLike, quality: int | None = QUALITY,
              max_mib: float | None = MAX_MIB, split: str = "all", progress: bool = False) -> dict:
    """Pack the FLIC folder `root` into the tar `out` and write `<out>.sha256` (module docstring).

    Args:
        root: a FLIC folder holding examples.mat and images/.
        out: the tar to write.
        quality: None (copy the JPEGs) or 1..95 (re-encode as JPEG at this quality).
        max_mib: refuse (InputError, nothing written) an archive larger than this many MiB (None or inf: no
            limit; NaN or a size <= 0 is refused at once), checked before anything is written.
        split: "all" (every image) or "train" (the images of the training examples alone, validation movies
            included: a pack for training whose test split is scored elsewhere; examples.mat is kept whole).
        progress: a progress bar of the images packed (`core.progress`: plain log lines off a terminal).

    Returns:
        {"archive": str path, "bytes": the archive's size, "sha256": its hex digest, "images": number of images
        packed, "quality", "split"}.

    Raises:
        InputError: for a folder without examples.mat and images/, a bad quality or split, images examples.mat
            names that are missing, an archive over `max_mib`, or an `out` (or `<out>.sha256`) that exists and is
            not a pack-flic archive with its checksum file (`check_archive_out`: a user's file is never replaced).
        Interrupted: a stop was requested (`core.interrupt`: Ctrl-C, SIGTERM); checked before each image, `out` and
            its checksum file as they were, no temporary file left.
    """
    root, out = Path(root), check_archive_out(out, "a pack-flic archive", _is_flic_pack)
    if max_mib is not None and not max_mib > 0:  # NaN was no limit, 0 or less refused only once all was packed
        raise InputError("pack_flic", "max_mib", "a size > 0 (MiB; None or inf: no limit)", max_mib)
    mat = root / "examples.mat"
    if not mat.is_file() or not (root / "images").is_dir():
        raise InputError(root, "FLIC folder", "examples.mat and images/",
                         "a file" if root.is_file() else "missing")
    if quality is not None and not 1 <= int(quality) <= 95:
        raise InputError("pack_flic", "quality", "a JPEG quality in 1..95 (or None: copy)", quality)
    if split not in SPLITS:
        raise InputError("pack_flic", "split", f"one of {SPLITS}", split)
    names = _image_names(root, split)
    missing = [n for n in names if not (root / "images" / n).is_file()]
    if missing:
        raise InputError(root / "images", "images", f"the {len(names)} images examples.mat names",
                         f"{len(missing)} missing, e.g. {missing[0]}")
    with io.atomic_path(out) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, f"{TOP}/examples.mat", mat.read_bytes())
            for n in progress_bar(names, desc="pack-flic", unit="image", disable=not progress):
                interrupt.stop_if_requested()  # a safe point per image: Ctrl-C stops here, the archive not written
                _add(tar, f"{TOP}/images/{n}", _encoded(root / "images" / n, quality))
        size = tmp.stat().st_size
        if max_mib is not None and size > max_mib * 2**20:
            raise InputError(out, "archive size", f"<= {max_mib:g} MiB (lower --quality)",
                             f"{size / 2**20:.1f} MiB")
        digest = io.sha256_file(tmp)
    io.write_text(checksum_path(out), f"{digest}  {out.name}\n")
    return {"archive": str(out), "bytes": size, "sha256": digest, "images": len(names), "quality": quality,
            "split": split}


def _read_checksum(archive: str | os.PathLike) -> str:
    """The sha256 hex recorded in `<archive>.sha256`; InputError when it is missing or malformed.

    Args:
        archive: the archive whose checksum file is read.

    Returns:
        The lower-case 64-digit sha256 hex (the file's first word).

    Raises:
        InputError: when the checksum file is missing or its first word is not 64 hex digits.
    """
    path = checksum_path(archive)
    if not path.is_file():
        raise InputError(path, "checksum file", "the archive's <archive>.sha256 (or pass the sha256)", "missing")
    return check_sha256_form((path.read_text().split() or [""])[0][:80], path)


def verify_archive(archive: str | os.PathLike, about: str, sha256: str | None = None) -> Path:
    """`archive` as a Path once it exists and its sha256 is the expected one.

    Args:
        archive: the archive file.
        about: what it should be, for the message (e.g. "an existing FLIC archive (convcorr data pack-flic)").
        sha256: the expected hex digest (None: `_read_checksum(archive)`).

    Returns:
        The archive's Path.

    Raises:
        InputError: (one line) for a missing archive, a `sha256` that is not 64 hex digits, or a wrong checksum.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise InputError(archive, "archive", about, "a folder" if archive.is_dir() else "missing file")
    want = _read_checksum(archive) if sha256 is None else check_sha256_form(sha256, archive)
    got = io.sha256_file(archive)
    if got != want:
        raise InputError(archive, "sha256", want, f"{got} (corrupted or incomplete archive)")
    return archive


def unpack_flic(archive: str | os.PathLike, out: str | os.PathLike, sha256: str | None = None) -> str:
    """Verify `archive` and unpack its FLIC folder into `out` (absent or empty) atomically.

    Args:
        archive: a tar written by `pack_flic`.
        out: the folder to unpack into, absent or empty.
        sha256: the expected hex digest (None: `_read_checksum(archive)`).

    Returns:
        A one-line summary of the layout (str), from FLIC's layout check.

    Raises:
        InputError: (one line) for a missing archive, a non-empty `out`, a wrong checksum, or a bad layout.
    """
    out = check_empty_out(out)
    archive = verify_archive(archive, "an existing FLIC archive (convcorr data pack-flic)", sha256)
    return install_archive(archive, out, "flic", TOP, DOWNLOADS["flic"].check)
