"""Helpers shared by the real-format loaders: bad-record policy, numeric checks, bounding boxes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import numpy as np

from convcorr_jax.errors import InputError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Loaded(list):
    """A list of samples plus `skipped`: the `InputError`s of records left out because `skip_bad=True`."""

    def __init__(self, items=(), skipped: list[InputError] | None = None):
        super().__init__(items)
        self.skipped: list[InputError] = list(skipped or [])

    def summary(self) -> str:
        """One line: how many samples were read and how many skipped (with the first few reasons)."""
        line = f"{len(self)} samples read, {len(self.skipped)} skipped"
        if self.skipped:
            line += ": " + "; ".join(str(e) for e in self.skipped[:5]) + (" ..." if len(self.skipped) > 5 else "")
        return line


def collect(records: Iterable[T], parse: Callable[[T], object], skip_bad: bool, what: str = "") -> Loaded:
    """Apply `parse` to each record. An `InputError` propagates, or with `skip_bad` is recorded and skipped.

    `parse` may return one sample, a list of samples, or None (nothing to add). When records are skipped a
    summary line goes to stderr, so nothing is dropped silently.
    """
    out = Loaded()
    for rec in records:
        try:
            got = parse(rec)
        except InputError as e:
            if not skip_bad:
                raise
            out.skipped.append(e)
            continue
        if got is None:
            continue
        if isinstance(got, list):
            out.extend(got)
        else:
            out.append(got)
    if out.skipped:
        log.warning("%s: skipped %d bad record(s): %s%s", what or "loader", len(out.skipped),
                    "; ".join(str(e) for e in out.skipped[:5]), " ..." if len(out.skipped) > 5 else "")
    return out


def load_mat(path: str | os.PathLike, what: str) -> dict:
    """The variables of a MATLAB v5 .mat file (`scipy.io.loadmat`); InputError naming the file for a missing one
    (`what`: what the file should hold, for the message) or an unreadable one."""
    import scipy.io as sio

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "mat", what, "missing file")
    try:
        return sio.loadmat(path)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError for broken files
        raise InputError(path, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None


def as_float(value: object, source, field: str) -> float:
    """Parse a float (string or number), raising `InputError` naming the field otherwise."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(source, field, "a number", repr(value)) from None


def points_bbox(points: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Tight box (x0, y0, x1, y1) float32 around the finite (and masked) points; NaNs when there are none."""
    p = np.asarray(points, np.float64)
    ok = np.all(np.isfinite(p), axis=-1)
    if mask is not None:
        ok &= np.asarray(mask, bool)
    if not ok.any():
        return np.full(4, np.nan, np.float32)
    q = p[ok]
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()], np.float32)
