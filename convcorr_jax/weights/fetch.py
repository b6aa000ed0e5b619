"""Verified downloads: stream to a temporary file beside the target, check sha256, then rename atomically.

A wrong hash or any other failure leaves no file at the target and no temporary file behind (a killed download's
file, `core.staging`'s name, is removed by the next download to the same target). With `resume`, a
transfer cut by the network keeps its bytes in `.<name>.part` beside the target, and the next call asks only for
the rest (HTTP Range); a transfer stopped by Ctrl-C or SIGTERM (`core.interrupt`) keeps its bytes too, so the
same command resumes it. The whole file is still checked against its sha256 before it is renamed into place.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from convcorr_jax.core import interrupt, staging
from convcorr_jax.core.errors import InputError, Source
from convcorr_jax.core.io import sha256_file
from convcorr_jax.core.progress import bar as progress_bar

try:
    import fcntl
except ImportError:  # no POSIX file locks: downloads start over instead of resuming
    fcntl = None  # type: ignore[assignment]  # the optional-module idiom: None where the platform has none

log = logging.getLogger(__name__)

CHUNK = 1 << 16
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)
SCHEMES = ("http", "https", "ftp", "file")  # what urllib's default opener fetches (data: URLs aside)
SHA256_FORM = re.compile(r"[0-9a-fA-F]{64}")


def check_url(url: str, field: str = "url") -> str:
    """`url` when it is a well-formed address `download` can fetch; InputError naming it otherwise, before any request.

    Args:
      url: the address.
      field: the name the error gives it (e.g. "--url").

    Returns:
      `url`, unchanged.

    Raises:
      InputError: source `url`: an empty string, one that does not parse, a scheme other than `SCHEMES`, an http(s) or
        ftp URL without a host or with a bad port, a file URL without a path.
    """
    expected = f"a URL of the file ({', '.join(s + '://' for s in SCHEMES)})"
    if not url or not url.strip():
        raise InputError(None, field, expected, "an empty string")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # parsed on access: ValueError for a port "x" or 99999
    except ValueError as e:
        raise InputError(url, field, expected, f"a malformed URL ({e})") from None
    if parts.scheme.lower() not in SCHEMES:
        got = f"scheme {parts.scheme}://" if parts.scheme else "no scheme (a local file is file:///path)"
        raise InputError(url, field, expected, got)
    if parts.scheme.lower() != "file" and not parts.hostname:
        raise InputError(url, field, expected, "no host name")
    if parts.scheme.lower() == "file" and not parts.path.strip("/"):
        raise InputError(url, field, expected, "no file path")
    return url


def check_sha256_form(sha256: str, source: Source = None, field: str = "sha256") -> str:
    """`sha256` in lower case when it is a full sha256 (64 hex digits); InputError otherwise, before any download.

    Args:
      sha256: the hex digest given.
      source: the source the error names (the URL it is the hash of; None: the command line).
      field: the name the error gives it (e.g. "--sha256").

    Returns:
      The 64 lowercase hex digits.

    Raises:
      InputError: for anything but 64 hex digits (its length and first bad character told).
    """
    text = str(sha256).strip()
    if SHA256_FORM.fullmatch(text):
        return text.lower()
    bad = next((c for c in text if c not in "0123456789abcdefABCDEF"), None)
    got = f"{len(text)} characters" + (f", {bad!r} not a hex digit" if bad is not None else "")
    raise InputError(source, field, "a full sha256: 64 hex digits", f"{sha256!r} ({got})")


def check_sha256(path: str | os.PathLike, sha256: str | None = None, prefix: str | None = None,
                 source: str | None = None) -> str:
    """Return the file's sha256; raise `InputError` unless it equals `sha256` / starts with `prefix`.

    Args:
      path: the file hashed.
      sha256: the full expected hex digest (any case), or None to skip that check.
      prefix: an expected leading part of the hex digest (e.g. from a file name), or None.
      source: the name the error gives to the file (default: `path`).

    Returns:
      The file's sha256 as 64 lowercase hex characters.

    Raises:
      InputError: field "sha256", for a digest that differs from `sha256` or does not start with `prefix`.
    """
    digest = sha256_file(path)
    _check_digest(source or os.fspath(path), digest, sha256, prefix)
    return digest


def _check_digest(source: str, digest: str, sha256: str | None, prefix: str | None) -> None:
    if sha256 and digest != sha256.lower():
        raise InputError(source, "sha256", sha256.lower(), digest)
    if prefix and not digest.startswith(prefix.lower()):
        raise InputError(source, "sha256", f"a hash starting with {prefix.lower()} (from the file name)", digest)


def partial_path(dest: str | os.PathLike) -> Path:
    """Where `download(..., resume=True)` keeps the bytes of an interrupted transfer to `dest`.

    Args:
      dest: the download's target file.

    Returns:
      `.<name>.part` in dest's folder, as a Path.
    """
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.part")


def _is_valid(dest: Path, sha256: str | None, prefix: str | None) -> bool:
    if not dest.is_file():
        return False
    try:
        check_sha256(dest, sha256, prefix)
        return True
    except InputError:
        return False  # stale or foreign file: download again and replace it


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, sha256_prefix: str | None = None,
             progress: bool = False, timeout: float = 60.0, size: int | None = None, resume: bool = False) -> Path:
    """Download `url` to `dest` unless a file with the right hash is already there.

    The body streams (with a progress bar when `progress`, `convcorr_jax.core.progress`) into a temporary file in dest's
    folder while being hashed; the file is renamed onto `dest` only if its length matches Content-Length (and `size`,
    when given) and its sha256 equals `sha256` (or, when only `sha256_prefix` is known, e.g. torchvision's 8-hex suffix
    in the file name, starts with it). Concurrent calls for one `dest` with `resume` wait for each other (POSIX file
    lock).

    Args:
      url: the address fetched.
      dest: the target file (its folder is created).
      sha256, sha256_prefix: the full expected hex digest, or a known prefix of it; at least one is required.
      progress: show a progress bar.
      timeout: seconds per connection attempt and read.
      size: the expected length in bytes, or None.
      resume: keep the bytes of a transfer cut by the network in `partial_path(dest)` and continue from there next
        time (a server that ignores Range sends the whole file again).

    Returns:
      `dest` as a Path, holding the verified file.

    Raises:
      InputError: `InputError(url, field, expected, got)` for every failure: field "download" for the network (HTTP
        errors, refused connections, a body cut short), "sha256" or "size"; also when neither hash is given. A URL
        `check_url` refuses (field "url") and a `sha256` that is not 64 hex digits are refused before any request.
    """
    check_url(url)
    if sha256:
        sha256 = check_sha256_form(sha256, url)
    if not sha256 and not sha256_prefix:
        raise InputError(url, "sha256", "a full sha256 or a known hash prefix to verify the download", "none")
    dest = Path(dest)
    if _is_valid(dest, sha256, sha256_prefix):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not resume or fcntl is None:
        tmp = staging.make(dest, folder=False)  # and removes the files of killed downloads to `dest`
        with open(tmp, "r+b") as fresh:
            return _fetch(url, dest, tmp, fresh, False, sha256, sha256_prefix, progress, timeout, size)
    part = partial_path(dest)
    out = _locked_part(part)
    try:
        if _is_valid(dest, sha256, sha256_prefix):  # another process finished it while we waited
            if os.fstat(out.fileno()).st_size == 0:
                part.unlink(missing_ok=True)
            return dest
        return _fetch(url, dest, part, out, True, sha256, sha256_prefix, progress, timeout, size)
    finally:
        out.close()


def _locked_part(part: Path) -> BinaryIO:
    """`part` opened for reading and appending, under an exclusive lock on the file that is at that path now."""
    while True:
        f = open(part, "a+b")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            if os.stat(part).st_ino == os.fstat(f.fileno()).st_ino:
                return f
        except FileNotFoundError:
            pass  # renamed or removed by the process that held the lock: lock the new one
        f.close()


def _content_range_start(value: str | None) -> int | None:
    """First byte of a `Content-Range: bytes START-END/TOTAL` header, or None."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _failure(e: Exception) -> str:
    """What went wrong in a request, in words: "HTTP error 404 (Not Found)", "connection refused (...)"."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP error {e.code} ({e.reason})"
    if isinstance(e, urllib.error.URLError):
        return f"no response: {e.reason}"
    return f"{type(e).__name__}: {e}"


def _fetch(url: str, dest: Path, part: Path, out: BinaryIO, keep: bool, sha256: str | None, prefix: str | None,
           progress: bool, timeout: float, size: int | None) -> Path:
    """Stream `url` into the open file `out` (at path `part`) from its current end when `keep`, then verify and
    rename it onto `dest`. `part` is removed on failure, except when `keep` and the network or a stop (Ctrl-C,
    SIGTERM) cut a transfer."""
    done = resumable = False
    try:
        out.seek(0, os.SEEK_END)
        have = out.tell() if keep else 0
        h = hashlib.sha256()
        if have:
            out.seek(0)
            for block in iter(lambda: out.read(1 << 20), b""):
                h.update(block)
        got = start = 0
        try:
            request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status = getattr(resp, "status", None)
                if have and status == 206 and _content_range_start(resp.headers.get("Content-Range")) == have:
                    start = have
                    log.info("resuming %s at byte %d", url, have)
                else:
                    h = hashlib.sha256()
                out.seek(start)
                out.truncate()
                length = resp.headers.get("Content-Length")
                total = start + int(length) if length is not None else size
                if size is not None and total != size:
                    raise InputError(url, "size", f"{size} bytes", f"Content-Length {total}")
                got = start
                with progress_bar(total=total, initial=start, unit="B", unit_scale=True, desc=dest.name,
                                  disable=not progress) as bar:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        got += len(block)
                        bar.update(len(block))
        except InputError:
            raise
        except (interrupt.Interrupted, KeyboardInterrupt):
            resumable = True  # stopped by the user: the same command asks for the rest
            raise
        except NETWORK_ERRORS as e:
            resumable = not isinstance(e, urllib.error.HTTPError)  # an HTTP error status (404, 416) drops the part
            raise InputError(url, "download", "the file at this address", _failure(e)) from None
        if total is not None and got < total:
            resumable = True
            raise InputError(url, "download", f"{total} bytes (Content-Length)",
                             f"{got} bytes: connection closed early")
        if total is not None and got != total:
            raise InputError(url, "download", f"{total} bytes (Content-Length)", f"{got} bytes")
        if size is not None and got != size:
            raise InputError(url, "size", f"{size} bytes", f"{got} bytes")
        digest = h.hexdigest()
        _check_digest(url, digest, sha256, prefix)
        out.flush()
        os.replace(part, dest)
        done = True
        log.info("downloaded %s -> %s (%d bytes, sha256 %s...)", url, dest, got, digest[:16])
        return dest
    finally:
        if not done and not (keep and resumable and out.tell() > 0):
            part.unlink(missing_ok=True)
