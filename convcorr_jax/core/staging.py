"""Staging beside a target: a file or folder is built under a hidden name beside the place it goes, then renamed
onto it. A process killed meanwhile (SIGKILL skips every clean-up) leaves its staging file or folder behind; the next
staging for the same target on the same host removes those whose process is gone, and nothing else.

Names: `.<target name>.writing-<host>-<pid>-<8 random characters>` (`prefix(target)` + pid + "-" + random).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path


def prefix(target: str | os.PathLike) -> str:
    """The start of the names `make(target)` stages under: `.<name>.writing-<host>-`.

    Args:
      target: the file or folder being written.

    Returns:
      The prefix (str); a pid, "-" and 8 random characters follow it.
    """
    return f".{Path(target).name}.writing-{socket.gethostname()}-"


def _remove_dead(target: str | os.PathLike, folder: bool = True) -> list[Path]:
    """Remove the staging folders (or files, `folder` False) a killed process on this host left for `target`: the
    entries beside it named `prefix(target)` + pid + "-" + 8 random characters whose process is gone.

    Anything else is left alone: a live process's entry (another user's too), other hosts' entries, links, the other
    kind (a file when `folder`), names that do not match exactly.

    Args:
      target: the file or folder being written (its parent folder is scanned; a missing one holds nothing).
      folder: whether the staging entries are folders (else files).

    Returns:
      The paths removed.
    """
    target = Path(target)
    pattern = re.compile(re.escape(prefix(target)) + r"(\d+)-[a-z0-9_]{8}")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if (found is None or entry.is_symlink() or entry.is_dir(follow_symlinks=False) != folder
                or int(found[1]) == os.getpid()):
            continue
        try:
            os.kill(int(found[1]), 0)
        except ProcessLookupError:  # no such process: its writer is dead
            (shutil.rmtree(entry.path, ignore_errors=True) if folder else Path(entry.path).unlink(missing_ok=True))
            removed.append(Path(entry.path))
        except (OSError, OverflowError):  # alive (another user's process), or not to be told: leave it
            pass
    return removed


def make(target: str | os.PathLike, folder: bool = True) -> Path:
    """Create an empty staging folder (or file) beside `target`, after removing the ones killed writers of the same
    target left (`_remove_dead`).

    A folder gets the permissions a plain mkdir would give (0777 less the umask), a file mkstemp's (0600): the
    caller sets a file's own.

    Args:
      target: the file or folder being written (its parent is created).
      folder: stage a folder (else an empty file).

    Returns:
      The staging path, `prefix(target)` + pid + "-" + 8 random characters; the caller renames it onto `target`
      or removes it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead(target, folder)
    start = f"{prefix(target)}{os.getpid()}-"
    if not folder:
        fd, name = tempfile.mkstemp(prefix=start, dir=target.parent)
        os.close(fd)
        return Path(name)
    tmp = Path(tempfile.mkdtemp(prefix=start, dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700
    return tmp


__all__ = ["make", "prefix"]
