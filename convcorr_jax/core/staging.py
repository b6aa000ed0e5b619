"""Staging beside a target: a file or folder is built under a hidden name beside the place it goes, then renamed
onto it. A process killed meanwhile (SIGKILL skips every clean-up) leaves its staging file or folder behind; the next
staging for the same target by the same writer identity (host and pid namespace) removes those whose process is
gone, and nothing else.

Names: `.<target name>.writing-<host>[@<pid namespace>]-<pid>-<8 random characters>` (`prefix(target)` + pid + "-"
+ random), a file's followed by the target's suffix (writers that infer the format from it still work). The pid
namespace (Linux: the inode of /proc/self/ns/pid) tells apart containers that share a hostname and a folder but not
their pids: a pid is only judged dead by a process that sees the same pids. `io.atomic_path`, and the
writers built on it, stage their files here too.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import stat
import sys
import threading
import time
import warnings
from pathlib import Path


# what a killed writer leaves beside its target: a staging name (any host; a file's ends in the target's suffix), or
# the name `io.atomic_path` staged under before, which names no process: `.<stem>.<8 random characters>.part[<suffix>]`
LEFTOVER = re.compile(r"\..+\.writing-.+-[0-9]+-[a-z0-9_]{8}(\.[^.]+)?|\..*\.[a-z0-9_]{8}\.part(\.[^.]+)?")


def prefix(target: str | os.PathLike) -> str:
    """The start of the names `make(target)` stages under: `.<name>.writing-<host>[@<pid namespace>]-`.

    Args:
      target: the file or folder being written.

    Returns:
      The prefix (str); a pid, "-" and 8 random characters follow it.
    """
    return f".{Path(target).name}.writing-{socket.gethostname()}{_pid_namespace()}-"


def _pid_namespace() -> str:
    """"@" + the inode of this process's pid namespace (/proc/self/ns/pid), or "" where the system has none to read:
    two processes with the same hostname (containers) judge each other's pids only when they see the same pids."""
    try:
        return f"@{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _remove_dead(target: str | os.PathLike, folder: bool = True) -> list[Path]:
    """Remove the staging folders (or files, `folder` False) a killed process of this host and pid namespace left for
    `target`: the entries beside it named `prefix(target)` + pid + "-" + 8 random characters (+ the target's suffix,
    for a file) whose process is gone.

    Anything else is left alone: a live process's entry (another user's too, and a dead writer's pid now another
    process's), other hosts' and other pid namespaces' entries (and those named before the namespace was), links
    (never followed), the other kind (a file when `folder`), names that do not match exactly. One that cannot be
    removed is warned about (RuntimeWarning) and left.

    Args:
      target: the file or folder being written (its parent folder is scanned; a missing one holds nothing).
      folder: whether the staging entries are folders (else files).

    Returns:
      The paths removed (a concurrent writer may have removed them first).
    """
    target = Path(target)
    suffix = "" if folder else f"(?:{re.escape(target.suffix)})?"
    pattern = re.compile(re.escape(prefix(target)) + r"([0-9]+)-[a-z0-9_]{8}" + suffix)
    removed: list[Path] = []
    for name in _listing(target.parent, fresh=folder):
        found = pattern.fullmatch(name)
        if found is None or int(found[1]) == os.getpid() or _alive(int(found[1])):
            continue
        path = target.parent / name
        try:
            mode = os.lstat(path).st_mode
        except OSError:  # gone (removed by a concurrent writer)
            continue
        if (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)) and _remove(path, folder):
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (one of another user's too: PermissionError)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True


def _listing(folder: Path, fresh: bool) -> list[str]:
    """The names under `folder` that may be staging entries (with ".writing-"); unless `fresh`, a listing under
    _FRESH_S old is reused (a folder of thousands of files written one by one is not listed once a file: a file a
    writer killed meanwhile is left to a later write). Safe across threads: the saved listing is read in one lookup
    (another thread may empty the table at any time), and the table is emptied and filled under a lock."""
    key, now = os.path.abspath(folder), time.monotonic()
    saved = None if fresh else _LISTED.get(key)
    if saved is not None and now - saved[0] < _FRESH_S:
        return saved[1]
    try:
        names = [n for n in os.listdir(folder) if ".writing-" in n]
    except OSError:
        names = []
    if not fresh:
        with _LISTED_LOCK:
            if len(_LISTED) >= 256:
                _LISTED.clear()
            _LISTED[key] = (now, names)
    return names


_LISTED: dict[str, tuple[float, list[str]]] = {}  # folder -> (when a file staging listed it, `_listing`'s names)
_LISTED_LOCK = threading.Lock()  # one thread at a time empties (at 256 folders) and fills _LISTED
_FRESH_S = 1.0


def _remove(path: Path, folder: bool) -> bool:
    """Remove a dead writer's staging folder or file; False, with a RuntimeWarning, where it cannot be (what is
    already gone is not an error: a concurrent writer removing it too)."""
    errors: list[BaseException] = []

    def note(func, p, exc) -> None:
        exc = exc if isinstance(exc, BaseException) else exc[1]
        if not isinstance(exc, FileNotFoundError):
            errors.append(exc)

    if folder:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=note)
        else:
            shutil.rmtree(path, onerror=note)
    else:
        try:
            path.unlink()
        except OSError as e:
            note(None, path, e)
    if errors:
        why = getattr(errors[0], "strerror", None) or errors[0]
        warnings.warn(f"{path}: a killed writer's staging {'folder' if folder else 'file'} could not be removed "
                      f"({why}); remove it by hand", RuntimeWarning, stacklevel=4)
    return not errors


def make(target: str | os.PathLike, folder: bool = True, mode: int | None = None) -> Path:
    """Create an empty staging folder (or file) beside `target`, after removing the ones killed writers of the same
    target left (`_remove_dead`; one that cannot be removed is a RuntimeWarning, and the staging goes on).

    The entry is created with `mode` less the umask, as mkdir and open apply it (no change of the process's umask,
    which other threads share).

    Args:
      target: the file or folder being written (its parent is created).
      folder: stage a folder (else an empty file).
      mode: permission bits before the umask; None: 0o777 for a folder (a plain mkdir's), 0o600 for a file
        (mkstemp's: the caller sets a file's own, or passes 0o666 for a plain open()'s).

    Returns:
      The staging path, `prefix(target)` + pid + "-" + 8 random characters (+ `target`'s suffix, for a file); the
      caller renames it onto `target` or removes it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead(target, folder)
    mode = (0o777 if folder else 0o600) if mode is None else mode
    start, end = f"{prefix(target)}{os.getpid()}-", "" if folder else target.suffix
    for _ in range(100):
        path = target.parent / f"{start}{secrets.token_hex(4)}{end}"
        try:
            if folder:
                os.mkdir(path, mode)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{target.parent}: no free staging name for {target.name}")


__all__ = ["make", "prefix"]
