"""Atomic file output: a reader never sees a half-written file, a killed writer leaves none; `replace_dir` puts a
finished folder in place of another in one step, and only in place of one the project wrote (`check_replaceable`: a
folder of a `FolderKind`, else refused naming what is there); `check_writable` refuses an output path before any work;
`folder_fingerprint` tells whether the files under a folder changed (the run key of an experiment on real data);
`folder_lock` gives one writer at a time to a run folder."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from convcorr_jax.core import runinfo, staging
from convcorr_jax.core.errors import InputError

KINDS = ("file", "folder")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it onto `path` only if the block succeeds.

    The temporary file is `staging.make`'s (`.<name>.writing-<host>-<pid>-<random><suffix>`): it keeps the final
    suffix, so writers that infer the format from it still work, and one a killed writer left is removed by the next
    atomic write of `path` on this host. The folder is created if missing; the file gets the permissions a plain
    open() would (those of the file it replaces, else 0666 less the umask); on failure the temporary file is removed
    and `path` is untouched. A `path` that is a link is replaced by the new file (the link's target is left as it
    was).

    Args:
      path: the final file path.

    Returns:
      A context manager yielding the temporary Path to write.
    """
    path = Path(path)
    tmp = staging.make(path, folder=False, mode=0o666)  # a plain open()'s mode; removes killed writes' files
    try:  # an existing file keeps its own permissions
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
    except OSError:  # none there (or not readable): the plain open()'s mode stays
        pass
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_writable(path: str | os.PathLike, what: str, kind: str = "file") -> Path:
    """Raise InputError (source `path`, field `what`, e.g. "--out") unless `path` can be written as a `kind`.

    A file must not be an existing folder, a folder not an existing file; the nearest existing ancestor must be a
    writable folder (not a file). Creates nothing.

    Args:
      path: the output path.
      what: the name InputError gives it (e.g. "--out").
      kind: "file" or "folder".

    Returns:
      `path` as a Path.

    Raises:
      InputError: an unknown kind, an empty path, or a path that cannot be written as a `kind`.
    """
    if kind not in KINDS:
        raise InputError("check_writable", "kind", f"one of {list(KINDS)}", kind)
    p = Path(path)
    if str(path) == "":
        raise InputError(None, what, f"a {kind} path", "an empty string")
    if kind == "file" and p.is_dir():
        raise InputError(p, what, "a file path", "an existing folder")
    if kind == "folder" and p.exists() and not p.is_dir():
        raise InputError(p, what, "a folder path", "an existing file")
    parent = p.absolute().parent if kind == "file" or not p.exists() else p.absolute()
    while not parent.exists() and not parent.is_symlink():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(p, what, f"a {kind} path whose parent is a folder", f"{parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(p, what, f"a {kind} path in a writable folder", f"{parent} is not writable")
    return p


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary file renamed into place).

    Args:
      path: the file to write (its folder is created if missing).
      data: the contents.

    Returns:
      None; `path` holds data.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically.

    Args:
      path: the file to write (its folder is created if missing).
      text: the contents, written in the locale's default encoding.

    Returns:
      None; `path` holds text.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as standard JSON, indented, keys sorted, to `path` atomically: a NaN or infinite number is written
    as null (the bare NaN / Infinity of `json.dumps` is refused by strict parsers; `runinfo.rounded`).

    Args:
      path: the file to write.
      obj: a JSON value; numpy scalars and arrays, dataclasses and Paths are converted.

    Returns:
      None; `path` holds the JSON, 2-space indented, ending in a newline.
    """
    plain = runinfo.rounded(obj, None, nonfinite_null=True)
    write_text(path, json.dumps(plain, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save `array` as .npy at `path` atomically.

    Args:
      path: the file to write.
      array: any array-like (saved as `np.asarray(array)`).

    Returns:
      None; `path` holds the .npy.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array))


def save_npz(path: str | os.PathLike, /, **arrays: np.ndarray) -> None:
    """Save `arrays` as an .npz at `path` atomically.

    Args:
      path: the file to write.
      **arrays: name -> array-like, stored uncompressed under these names (not "file" or "allow_pickle": InputError).

    Returns:
      None; `path` holds the .npz.
    """
    if clash := sorted(set(arrays) & {"file", "allow_pickle"}):
        raise InputError("save_npz", "arrays", "names other than np.savez's own arguments file and allow_pickle", clash)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]  # numpy's stub


def replace_dir(src: str | os.PathLike, dst: str | os.PathLike, kind: FolderKind | None = None,
                field: str = "--out") -> None:
    """Move the folder `src` to `dst` (same file system), deleting what `dst` held, which must be a `kind` folder.

    `dst` is checked first (`check_replaceable`), and again if another writer's folder arrives there meanwhile: absent,
    empty, or a folder of `kind` holding nothing else; any other folder is refused and nothing moves. On Linux the two
    are then exchanged in one atomic step (renameat2 RENAME_EXCHANGE), so `dst` is never missing nor mixed; elsewhere
    the old `dst` is renamed aside first (a moment without `dst`).

    Args:
      src: the finished folder.
      dst: where it goes (may not exist yet).
      kind: what `dst` may be when it holds anything (None: only an absent or empty folder is replaced).
      field: the name the error gives `dst` (e.g. "--out").

    Returns:
      None; `src` is gone and `dst` holds its contents.

    Raises:
      NotOwned: `dst` holds something a `kind` folder does not (`src` is left in place).
    """
    src, dst = Path(src), Path(dst)
    if not check_replaceable(dst, kind, field):  # absent or empty: renamed onto
        try:
            os.rename(src, dst)
            return
        except OSError:  # another writer's folder arrived since the check: replaced (or refused) as any other
            if not dst.exists():
                raise
        check_replaceable(dst, kind, field)
    if not _exchange(src, dst):
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.rename(dst, old)
        os.rename(src, dst)
        src = old
    shutil.rmtree(src)  # the old folder, now at src


@dataclasses.dataclass(frozen=True)
class FolderKind:
    """A kind of folder the project makes or replaces as a whole, as `check_replaceable` knows it.

    name: what the kind is called in errors, with its article ("a model folder"). names: fnmatch patterns of the
    relative paths the kind writes ("model.json", "frames/spatial.json"); an entry matching one is the kind's with all
    it holds, a folder named by the start of a longer pattern ("frames" of "frames/x") is checked entry by entry.
    marker: whether a folder carries the kind's mark (a model.json that parses); None: the names alone decide.
    recorded: more names a folder records as its own (the entries an experiment run listed when it finished).
    """

    name: str
    names: tuple[str, ...]
    marker: Callable[[Path], bool] | None = None
    recorded: Callable[[Path], Iterable[str]] | None = None


class NotOwned(InputError):
    """A folder a command would make, replace or write into holds files the project did not write; the message is one
    line naming the folder and the first few of them (`check_replaceable`)."""

    def __init__(self, folder: Path, field: str, kind: FolderKind | None, foreign: list[str], is_kind: bool):
        self.foreign = foreign
        shown = ", ".join(foreign[:SHOWN]) + (f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else "")
        self.described = (f"holds {shown} besides the files of {kind.name}" if is_kind and kind is not None else
                          f"is not {kind.name} (it holds {shown})" if kind is not None else
                          f"is a non-empty folder (it holds {shown})")
        super().__init__(folder, field, f"a new or empty folder{'' if kind is None else ' or ' + kind.name}", shown,
                         message=f"{field} {self.described}; nothing was changed: give another {field}, or move "
                                 "those files out")


SHOWN = 3  # foreign entries named in a NotOwned message
LEFTOVER = staging.LEFTOVER  # what a killed writer left (`atomic_path`'s temporary file): the project's own


def _foreign_entries(folder: str | os.PathLike, kind: FolderKind | None) -> list[str]:
    """The entries under `folder` that a `kind` folder does not hold (`FolderKind.names`, its record, the temporary
    files of a killed atomic write).

    Args:
      folder: an existing folder.
      kind: the kind (None: every entry is foreign).

    Returns:
      Their paths relative to `folder`, sorted, a folder's with a trailing "/".
    """
    folder = Path(folder)
    names = () if kind is None else (*kind.names, *(kind.recorded(folder) if kind.recorded else ()))
    return _foreign(folder, tuple(names), "")


def _foreign(folder: Path, names: tuple[str, ...], prefix: str) -> list[str]:
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        rel, is_dir = prefix + entry.name, entry.is_dir(follow_symlinks=False)
        if any(fnmatch.fnmatchcase(rel, p) for p in names) or LEFTOVER.fullmatch(entry.name):
            continue
        if is_dir and any(p.startswith(rel + "/") for p in names):
            out += _foreign(Path(entry.path), names, rel + "/")
        else:
            out.append(rel + ("/" if is_dir else ""))
    return out


def check_replaceable(folder: str | os.PathLike, kind: FolderKind | None, field: str = "--out") -> bool:
    """Refuse, before any work, a folder a command would make or replace (or write into) that holds anything the
    project did not write there.

    The rule: an absent or empty folder is fine; an existing one must carry `kind`'s marker and hold nothing but
    the names `kind` writes (`_foreign_entries`). Anything else, a file, or a link is refused; nothing is touched.

    Args:
      folder: the folder.
      kind: what it may be when it holds anything (None: it must be absent or empty).
      field: the name the error gives it (e.g. "--out").

    Returns:
      True for an existing `kind` folder (to be replaced, or written into), False for an absent or empty one.

    Raises:
      InputError: a file or a link; NotOwned: a folder holding anything else (one line naming the first entries).
    """
    folder = Path(folder)
    if folder.is_symlink():
        raise InputError(folder, field, "a folder path (not a link)", f"a link to {os.readlink(folder)}")
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise InputError(folder, field, "a folder path", "an existing file")
    if not any(folder.iterdir()):
        return False
    marked = kind is not None and (kind.marker is None or kind.marker(folder))
    foreign = _foreign_entries(folder, kind) if marked else _foreign(folder, (), "")
    if foreign:  # "besides the files of" where the folder holds some of the kind's
        tops = {f.split("/")[0] for f in foreign}
        ours = marked and kind is not None and (kind.marker is not None or bool(set(os.listdir(folder)) - tops))
        raise NotOwned(folder, field, kind, foreign, ours)
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's contents, read in 1 MiB blocks.

    Args:
      path: the file.

    Returns:
      64 lowercase hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_fingerprint(root: str | os.PathLike) -> dict:
    """{"files": n, "bytes": b, "digest": hex} of the files under `root` (a folder, or one file).

    The digest is the sha256 of the sorted (relative path, size, modification time in ns) of every file, found by
    an `os.scandir` walk that follows links to folders (each folder once) and skips hidden names and `__pycache__`.
    File contents are not read, so a folder of thousands of images takes milliseconds; adding, removing, resizing
    or touching a file changes the digest.

    Args:
      root: a folder or one file.

    Returns:
      {"files": int count, "bytes": int total size, "digest": 16 hex digits}.

    Raises:
      InputError: `root` does not exist, or a folder below it cannot be read.
    """
    root = Path(root)
    try:
        top = root.stat()
    except OSError as e:
        raise InputError(root, "data_root", "an existing dataset folder or file", e.strerror or "missing") from None
    rows: list[tuple[str, int, int]] = [] if root.is_dir() else [(root.name, top.st_size, top.st_mtime_ns)]
    seen = {(top.st_dev, top.st_ino)}
    stack = [(root, "")] if root.is_dir() else []
    while stack:
        folder, rel = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError as e:
            raise InputError(folder, "data_root", "a readable folder", e.strerror or "unreadable") from None
        with entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name == "__pycache__":
                    continue
                try:
                    st = entry.stat()  # follows links
                except OSError:  # a dangling link: no file to read
                    continue
                if entry.is_dir():
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        stack.append((Path(entry.path), f"{rel}{entry.name}/"))
                elif entry.is_file():
                    rows.append((f"{rel}{entry.name}", st.st_size, st.st_mtime_ns))
    rows.sort()
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
    return {"files": len(rows), "bytes": sum(n for _, n, _ in rows), "digest": digest}


def _json_default(o: Any):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "__dataclass_fields__"):
        return dataclasses.asdict(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


class FolderBusy(InputError):
    """Another process holds the lock of a folder (`folder_lock`); its message is one line naming that process."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "run folder") -> Iterator[Path]:
    """Hold an exclusive OS lock (`fcntl.flock`) on `<parent>/.<name>.lock` while the block runs: one writer per
    folder.

    A second process is refused at once with `FolderBusy` naming the holder's process id (it does not wait: a run
    that waited for another with the same folder would then find its result, or overwrite it). The operating system
    drops the lock when its holder exits, killed or not, so a stale lock file never blocks.

    Args:
      folder: the run folder (it need not exist; the lock file sits beside it).
      what: the name `FolderBusy` gives the folder.

    Returns:
      A context manager yielding `folder` as a Path.

    Raises:
      FolderBusy: another process holds the lock. InputError: the lock file cannot be opened for writing (a folder
        of that name, a file without write permission).
    """
    folder = Path(folder)
    lock = folder.with_name(f".{folder.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:  # a folder of that name, an unwritable file: one line, not a traceback
        why = e.strerror or type(e).__name__
        raise InputError(lock, "lock file", f"a file this process can open for writing (the {what}'s lock, beside "
                         "it; it holds only the process id of its last writer)", why) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise FolderBusy(folder, what, "a folder no other process is writing",
                             f"in use by process {holder} (wait for it to finish, or write elsewhere)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield folder
    finally:
        os.close(fd)  # releases the lock
