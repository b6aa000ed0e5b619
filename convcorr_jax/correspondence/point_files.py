"""Point files: the points of an image that `convcorr match --points` (or a Python caller) moves.

`read_points(path)` reads, telling the formats apart by content (a name's suffix only decides JSON or .mat):
  JSON          a list of [x, y], or {"points": [[x, y], ...]}
  CSV           one "x,y" per line, an optional header line (no number in it; "y,x" refused: the columns are x, y)
  PF-WILLOW     its keypoint .mat: `pts_coord` [2 x K], MATLAB's 1-based pixels (1 subtracted once, by
                `data.pf_willow.pts_coord_points`)
  match output  `convcorr match`'s own JSON: its "points_b", the points transferred into image B, so that
                `convcorr match B C --points OUT.json` carries them on from B; a point null there (off A) stays
                null, in its place
All give (x, y) pixels, 0-based, pixel centres at integers. Anything else (a binary file, an image, a .mat without
`pts_coord`, a JSON object without a points list) is one InputError line naming the file and these formats.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convcorr_jax.data._common import load_mat
from convcorr_jax.data.pf_willow import pts_coord_points
from convcorr_jax.core.errors import InputError, plain

FORMATS = ("json", "csv", "pf_willow_mat", "match_output")
EXPECTED = ('a points file: JSON ([[x, y], ...] or {"points": [[x, y], ...]}), CSV (x,y per line), '
            "PF-WILLOW's .mat (pts_coord 2 x K, 1-based) or convcorr match's output JSON (its points_b)")
SNIFF = 8192  # bytes read to tell a binary file from text
MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
         (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"RIFF", "a RIFF file (WebP, WAV, ...)"),
         (b"\x89HDF", "an HDF5 file"), (b"PK\x03\x04", "a zip archive (.npz, ...)"),
         (b"\x93NUMPY", "a NumPy .npy file"), (b"%PDF", "a PDF"), (b"BM", "a BMP image"))


class PointsFile(NamedTuple):
    """What `read_points` returns.

    points: [K, 2] float64 (x, y) pixels, 0-based; NaN rows only for the null points of a match output.
    format: the format read, one of `FORMATS`.
    """

    points: np.ndarray
    format: str


def read_points(path: str | os.PathLike) -> PointsFile:
    """The points of a points file (module docstring: JSON, CSV, PF-WILLOW's .mat, `convcorr match`'s output).

    Args:
      path: the file.

    Returns:
      A `PointsFile`: points [K, 2] float64 (x, y) pixels, 0-based, K >= 1, and the format read.

    Raises:
      InputError: one line naming the file: a missing file; a file of no format above (naming the formats); a
        point that is not two finite numbers (naming its row, "points[2]").
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "points", f"an existing file, {EXPECTED}", "a folder" if p.is_dir() else "no such file")
    with open(p, "rb") as f:
        head = f.read(SNIFF)
    if head.startswith(b"MATLAB") or p.suffix.lower() == ".mat":
        return PointsFile(_mat_points(p), "pf_willow_mat")
    text = None if b"\x00" in head else _utf8(p.read_bytes())
    if text is None:
        kind = next((name for magic, name in MAGIC if head.startswith(magic)), None)
        raise InputError(p, "points", EXPECTED, f"binary data{f' ({kind})' if kind else ''}")
    if p.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        return _json_points(p, text)
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if rows and not any(len(r) == 2 and _numeric(r) for r in rows) and (len(rows) > 1 or len(rows[0]) != 2):
        raise InputError(p, "points", EXPECTED, f"text without x,y rows (line 1: {_short(rows[0])})")
    if rows and not any(_numeric([c]) for c in rows[0]):  # a header: no number in it (a typo'd row is refused)
        names = [c.strip().lower() for c in rows[0]]
        if len(names) == 2 and set(names) == {"x", "y"} and names != ["x", "y"]:
            raise InputError(p, "header", "columns x,y in that order (x: pixels from the left, y: from the top)",
                             ",".join(rows[0]))
        rows = rows[1:]  # header
    return PointsFile(_rows(p, rows, "x,y rows"), "csv")


def _utf8(data: bytes) -> str | None:
    """`data` as UTF-8 text (a byte-order mark dropped); None for bytes that are not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _mat_points(p: Path) -> np.ndarray:
    """The 0-based points of a PF-WILLOW .mat; the formats named for an unreadable .mat or one without pts_coord."""
    try:
        variables = load_mat(p, EXPECTED)
    except InputError as e:
        raise InputError(p, "points", EXPECTED, f"an unreadable .mat ({_short(e.got, 120)})") from None
    if "pts_coord" not in variables:
        names = sorted(k for k in variables if not k.startswith("_"))
        raise InputError(p, "points", EXPECTED, f"a .mat without pts_coord (variables {_short(names)})")
    return pts_coord_points(variables, p, None).astype(np.float64)


def _json_points(p: Path, text: str) -> PointsFile:
    """The points of a JSON points file or of a match output (its points_b)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(p, "points", "valid JSON", f"invalid JSON at line {e.lineno}") from None
    if isinstance(data, dict):
        if "points" in data:
            return PointsFile(_rows(p, data["points"], "points"), "json")
        if "points_b" in data:
            return PointsFile(_rows(p, data["points_b"], "points_b", nulls=True), "match_output")
        raise InputError(p, "points", EXPECTED, f"a JSON object with keys {_short(sorted(data))}")
    return PointsFile(_rows(p, data, "points"), "json")


def _rows(p: Path, rows: object, where: str, nulls: bool = False) -> np.ndarray:
    """[K, 2] float64 of rows of two numbers (null rows NaN where `nulls`); InputError naming the row."""
    if not isinstance(rows, list) or not rows:
        raise InputError(p, where, "at least one [x, y] point", "none" if isinstance(rows, list) else _short(rows))
    out = []
    for i, r in enumerate(rows):
        if nulls and r is None:
            out.append([np.nan, np.nan])
        elif isinstance(r, (list, tuple)) and len(r) == 2 and _numeric(r):
            out.append([float(v) for v in r])
        else:
            raise InputError(p, f"{where}[{i}]", f"two numbers x, y (pixels){' or null' if nulls else ''}",
                             _short(r))
    pts = np.asarray(out, np.float64)
    given = np.array([not (nulls and r is None) for r in rows])
    bad = np.flatnonzero(given & ~np.all(np.isfinite(pts), -1))
    if len(bad):  # named by its row, as a row of no two numbers is: the first of them, and how many
        raise InputError(p, f"{where}[{int(bad[0])}]", "finite x, y", f"{_short(rows[bad[0]])} (a NaN or infinite "
                         f"value{f'; {len(bad)} such rows in all' if len(bad) > 1 else ''})")
    if not given.any():
        raise InputError(p, where, "at least one [x, y] point", "only null points")
    return pts


def _numeric(row) -> bool:
    try:
        [float(v) for v in row]
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond float's range
        return False
    return not any(isinstance(v, bool) for v in row)


def _short(value: object, limit: int = 60) -> str:
    """`value` as text of at most `limit` characters."""
    text = plain(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


__all__ = ["EXPECTED", "FORMATS", "PointsFile", "read_points"]
