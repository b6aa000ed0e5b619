"""Where the library keeps caches and where it looks for the real annotation files; whether an output path lies
inside a folder (`lies_inside`), and the one refusal of one that does (`refuse_inside`)."""

from __future__ import annotations

import os
from pathlib import Path

from convcorr_jax.core.errors import InputError, Source

CACHE_ENV = "CONVCORR_CACHE"


def cache_dir(*parts: str) -> Path:
    """Cache root for weights, generated datasets and features: $CONVCORR_CACHE or ~/.cache/convcorr_jax (also when
    CONVCORR_CACHE is set to "": an empty value never means the working directory). A leading "~" is the home
    folder and a relative value is made absolute from the working folder.

    Args:
      *parts: sub-folder names below the root (none: the root itself).

    Returns:
      Path of the folder, created (with its parents) if missing.

    Raises:
      InputError: the folder cannot be made (CONVCORR_CACHE names a file, or a place that is not writable), in one
        line naming the path and CONVCORR_CACHE.
    """
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "convcorr_jax").expanduser().absolute()
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file on the way (FileExistsError, NotADirectoryError), no permission, no space
        raise InputError(path, CACHE_ENV, "a cache folder that can be created and written (set CONVCORR_CACHE to "
                         "another folder)", e.strerror or type(e).__name__) from None
    return path


def real_data_root() -> Path | None:
    """Folder of real annotation files: $CONVCORR_REAL_DATA (a leading "~" is the home folder), else
    `shared/data/real` beside the repository.

    Returns:
      Path of the first of the two that is a folder, or None when neither exists (a user's machine without the
      bundled annotation files).
    """
    env = os.environ.get("CONVCORR_REAL_DATA")
    candidates = [Path(env).expanduser()] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "data" / "real")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def lies_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether writing `path` could land in `folder`: `path` is `folder` or lies below it, each taken where it leads.

    Links are followed and ".." is taken after the links before it (`os.path.realpath`: a link loop is left as it
    is, never an error); a relative path is taken from the working folder; neither path need exist. A link in
    `folder` counts as part of it, whether it is `path` itself or a folder on its way (`folder/link/x.json`): an
    atomic write replaces a link in its own folder (`io.atomic_path`), and a folder reached through a link in
    `folder` is read as part of it (`io.folder_fingerprint`).

    Args:
      path: the output path, as given.
      folder: the folder that must not be written (a file: only `path` naming that file is inside it).

    Returns:
      True when `path` leads into `folder`, or is reached through a link that lies in `folder`.
    """
    top = Path(os.path.realpath(folder))
    given = Path(path).absolute()  # ".." kept: it is taken after the links before it
    target = Path(os.path.realpath(given))
    if target.is_relative_to(top):
        return True
    for link in (p for p in (given, *given.parents) if os.path.islink(p)):  # `path` itself or a folder on its way
        if (Path(os.path.realpath(link.parent)) / link.name).is_relative_to(top) and \
                target.is_relative_to(os.path.realpath(link)):
            return True
    return False


def refuse_inside(path: str | os.PathLike | None, folder: str | os.PathLike | None, source: Source,
                  field: str, what: str, noun: str = "path") -> None:
    """Refuse an output `path` that lies inside `folder` (`lies_inside`), a folder a command reads or another of its
    outputs writes: one InputError, worded the same wherever a command checks its outputs.

    Args:
      path: the path written (empty or None: no check).
      folder: the folder it must stay out of (empty or None: no check).
      source: the error's source: the path as the user gave it (a run folder is written under the --out given).
      field: the flag or field that named it ("--out", "--json").
      what: the folder in words, with its path ("data_root data (read, never written)").
      noun: what was expected outside it, "path" (a file) or "folder".

    Returns:
      None.

    Raises:
      InputError: (source, field, "a <noun> outside <what>", "a path inside it") when `path` leads into `folder`.
    """
    if path and folder and lies_inside(path, folder):
        raise InputError(source, field, f"a {noun} outside {what}", "a path inside it")
