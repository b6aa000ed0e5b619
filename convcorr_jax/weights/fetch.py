"""Verified downloads: stream to a temporary file beside the target, check sha256, then rename atomically.

A wrong hash, a connection closed early or any other failure leaves no file at the target and no
temporary file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from convcorr_jax.errors import InputError
from convcorr_jax.io import sha256_file  # noqa: F401 (re-exported: the weights' checksums)

log = logging.getLogger(__name__)

CHUNK = 1 << 16


def check_sha256(path: str | os.PathLike, sha256: str | None = None, prefix: str | None = None,
                 source: str | None = None) -> str:
    """Return the file's sha256; raise `InputError` unless it equals `sha256` / starts with `prefix`."""
    digest = sha256_file(path)
    if sha256 and digest != sha256.lower():
        raise InputError(source or path, "sha256", sha256.lower(), digest)
    if prefix and not digest.startswith(prefix.lower()):
        raise InputError(source or path, "sha256", f"a hash starting with {prefix.lower()} (from the file name)",
                         digest)
    return digest


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, sha256_prefix: str | None = None,
             progress: bool = False, timeout: float = 60.0, size: int | None = None) -> Path:
    """Download `url` to `dest` unless a file with the right hash is already there; returns `dest`.

    The body streams (with a progress bar when `progress`, `convcorr_jax.progress`) into a temporary file in
    dest's folder while being hashed; the file is renamed onto `dest` only if its length matches Content-Length (and
    `size`, bytes, when given) and its sha256 equals `sha256` (or, when only `sha256_prefix` is known, e.g.
    torchvision's 8-hex suffix in the file name, starts with it).
    """
    from convcorr_jax.progress import bar as progress_bar

    if not sha256 and not sha256_prefix:
        raise InputError(url, "sha256", "a full sha256 or a known hash prefix to verify the download", "none")
    dest = Path(dest)
    if dest.is_file():
        try:
            check_sha256(dest, sha256, sha256_prefix)
            return dest
        except InputError:
            pass  # stale or foreign file: download again and replace it
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        got = 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length is not None else size
                if size is not None and total != size:
                    raise InputError(url, "size", f"{size} bytes", f"Content-Length {total}")
                with progress_bar(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
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
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            raise InputError(url, "download", "a complete HTTP response", f"{type(e).__name__}: {e}") from None
        if total is not None and got != total:
            raise InputError(url, "download", f"{total} bytes (Content-Length)",
                             f"{got} bytes: connection closed early")
        if size is not None and got != size:
            raise InputError(url, "size", f"{size} bytes", f"{got} bytes")
        digest = h.hexdigest()
        if sha256 and digest != sha256.lower():
            raise InputError(url, "sha256", sha256.lower(), digest)
        if sha256_prefix and not digest.startswith(sha256_prefix.lower()):
            raise InputError(url, "sha256", f"a hash starting with {sha256_prefix.lower()}", digest)
        os.replace(tmp, dest)
        log.info("downloaded %s -> %s (%d bytes, sha256 %s...)", url, dest, got, digest[:16])
        return dest
    finally:
        if tmp.exists():
            tmp.unlink()
