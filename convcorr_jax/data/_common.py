"""Helpers shared by the real-format loaders: bad-record policy, numeric checks, bounding boxes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

from convcorr_jax.core import interrupt
from convcorr_jax.core.errors import InputError, Source, is_real
from convcorr_jax.core.progress import bar as progress_bar

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


def collect(records: Iterable[T], parse: Callable[[T], object], skip_bad: bool, what: str = "",
            progress: bool = False) -> Loaded:
    """Apply `parse` to each record. An `InputError` propagates, or with `skip_bad` is recorded and skipped.

    When records are skipped a summary line goes to stderr (a logging warning), so nothing is dropped silently.
    Each record is a safe point (`core.interrupt`): a stop (Ctrl-C, SIGTERM) ends a long read, images included, at
    the next record.

    Args:
        records: the raw records, in order.
        parse: record -> one sample, a list of samples (all added), or None (nothing to add).
        skip_bad: record and skip a record whose `parse` raises `InputError` (else the error propagates).
        what: the loader's name for the warning line and the progress bar ("loader" when empty).
        progress: a progress bar of the records (`core.progress`: plain log lines off a terminal).

    Returns:
        A `Loaded` list of the samples in record order; its `skipped` holds the skipped records' errors.

    Raises:
        InputError: from `parse`, when `skip_bad` is False.
        Interrupted: a stop was requested (`core.interrupt`), checked before each record.
    """
    out = Loaded()
    for rec in progress_bar(records, desc=what or "loader", unit="record", disable=not progress):
        interrupt.stop_if_requested()
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
    """The variables of a MATLAB v5 .mat file (`scipy.io.loadmat`).

    Args:
        path: the .mat file.
        what: what the file should hold, for the message of a missing file.

    Returns:
        dict of variable name -> value as `scipy.io.loadmat` gives it (arrays at least 2-D, plus its `__header__`
        entries).

    Raises:
        InputError: naming the file, for a missing or unreadable one.
    """
    import scipy.io as sio

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "mat", what, "missing file")
    try:
        return sio.loadmat(path)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError for broken files
        raise InputError(path, "mat", "a readable MATLAB v5 .mat file", f"{type(e).__name__}: {e}") from None


def as_float(value: object, source: Source, field: str, text: bool = True) -> float:
    """Parse a float (a number, or with `text` a string such as "3.5"), raising `InputError` naming the field
    otherwise. A bool is refused either way (Python reads True as 1.0); without `text` a string is refused too (a
    JSON file's "3" is text, not a number).

    Args:
        value: a number, or with `text` a string that `float` parses.
        source, field: the file (or record) and field named in the error.
        text: accept strings (the attributes of XML files hold text); False for JSON values.

    Returns:
        The value as a Python float.

    Raises:
        InputError: naming source and field, for a value `float` rejects, a bool, or (without `text`) a string.
    """
    if isinstance(value, (bool, np.bool_)) or (not text and not is_real(value)):
        raise InputError(source, field, "a number" if text else "a number (not text, not true / false)",
                         _shown(value))
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(source, field, "a number", _shown(value)) from None


def _shown(value: object) -> object:
    """`value` for an error's `got`: text and None quoted as Python writes them ('3', None), a numpy scalar as it
    is (the error writes np.False_ as False)."""
    return repr(value) if value is None or isinstance(value, str) else value


def as_int(value: object, source: Source, field: str, text: bool = True) -> int:
    """Parse a whole number (an int, or a float or with `text` a string such as "3" or "3.00" that is one), raising
    `InputError` naming the field otherwise (NaN, inf, 2.5, a bool, other text; without `text` any string).

    Args:
        value: a number, or with `text` a string that `float` parses to a whole number.
        source, field: the file (or record) and field named in the error.
        text: accept strings (`as_float`); False for JSON values.

    Returns:
        The value as a Python int.

    Raises:
        InputError: naming source and field, for anything else.
    """
    v = as_float(value, source, field, text)
    if not (np.isfinite(v) and v == int(v)):
        raise InputError(source, field, "a whole number", _shown(value))
    return int(v)


def points_bbox(points: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Tight box (x0, y0, x1, y1) float32 around the finite (and masked) points; NaNs when there are none.

    Args:
        points: [K, 2] (x, y) pixel points (any float dtype; NaN or inf rows are left out).
        mask: optional bool [K]: only points True here count.

    Returns:
        float32 [4] (x0, y0, x1, y1), the points' min and max x and y; all NaN when no point counts.
    """
    p = np.asarray(points, np.float64)
    ok = np.all(np.isfinite(p), axis=-1)
    if mask is not None:
        ok &= np.asarray(mask, bool)
    if not ok.any():
        return np.full(4, np.nan, np.float32)
    q = p[ok]
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()], np.float32)


def check_coco_triples(trip: np.ndarray, names: Sequence[str], source: Source,
                       field: str) -> None:
    """Refuse COCO keypoint triples outside the convention: v must be 0 (not labelled), 1 (labelled, hidden) or 2
    (visible), x and y finite where v > 0. A NaN, -1 or 3 v would otherwise be read as "not labelled" (dropped) or
    as labelled, a labelled NaN x as a visible point without a place.

    Args:
        trip: float64 [K, 3] (x, y, v) per keypoint.
        names: the K keypoint names, one named in the error.
        source, field: the file and the annotation's field, for the error.

    Returns:
        None.

    Raises:
        InputError: naming the source, the field and the first keypoint (its name and index) that is wrong.
    """
    bad = ~np.isin(trip[:, 2], (0, 1, 2))
    if bad.any():
        j = int(np.argmax(bad))
        raise InputError(source, field, f"a visibility v of 0, 1 or 2 for each keypoint ({names[j]}'s, keypoint "
                         f"{j})", f"{trip[j, 2]:g}")
    bad = (trip[:, 2] > 0) & ~np.isfinite(trip[:, :2]).all(axis=1)
    if bad.any():
        j = int(np.argmax(bad))
        raise InputError(source, field, f"finite x, y for each labelled keypoint ({names[j]}'s, keypoint {j})",
                         trip[j, :2].tolist())


def folder_listing(folder: Path, shown: int = 5) -> str:
    """What a folder holds, for an error about it: its entries' names sorted (a folder's with a trailing "/"), the
    first `shown` of them, then "and N more"; "nothing" for an empty folder.

    Args:
        folder: an existing folder.
        shown: how many names to list.

    Returns:
        e.g. "VOC2011/, annotations/, readme.txt".
    """
    names = sorted(e.name + "/" * e.is_dir() for e in Path(folder).iterdir())
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "") or "nothing"
