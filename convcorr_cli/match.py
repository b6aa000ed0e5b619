"""`convcorr match A B --points P [--out OUT.json] [--figure FIG.png]`: move points of image A to the corresponding
places of image B (semantic correspondence, `convcorr_jax.correspondence.transfer_points`) and draw them.

P: a JSON file (a list of [x, y], or {"points": [[x, y], ...]}) or a CSV file (one "x,y" per line, an optional
header line), (x, y) pixels of A, 0-based, pixel centres at integers. Defaults: the validated method (SCOT's OT +
Hough matching on VGG-16 hyperpixels, `PointTransferConfig`); `--method`, `--backbone`, `--weights` and `--set
FIELD=VALUE` (any other field of PointTransferConfig: taps, grid, radius, image_size, features, ...) change it.
Writes:
  OUT.json  (default: P's folder, <P's stem>_in_<B's stem>.json) {"points_a", "points_b" ([x, y] pixels of B,
            null for a point off A), "confidence" (cosine similarity of the features at both ends, 0..1, null
            where none), the images, config, backbone, weights, versions, seconds}
  FIG.png   (default: OUT.json with .png) A and B side by side, each point's source and transferred position in
            one colour, joined by a line, with a legend. Without matplotlib (the `report` extra) the JSON is still
            written, its "figure" null, and one line on stderr says the figure was skipped and what to install.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from convcorr_cli.options import add_set
from convcorr_jax import config, io, runinfo
from convcorr_jax.backbones.registry import NAMES
from convcorr_jax.correspondence import PointTransferConfig, transfer_points
from convcorr_jax.correspondence.point_config import METHODS
from convcorr_jax.errors import InputError
from convcorr_jax.features.image import read_image
from convcorr_jax.optional import MissingExtra, require

CONFIDENCE = ("cosine similarity of the backbone features at the source point (A) and at the transferred point (B), "
              "0..1; null where a point has none")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image_a", help="source image (any size)")
    p.add_argument("image_b", help="target image (any size)")
    p.add_argument("--points", required=True, metavar="P",
                   help="points of A: JSON (a list of [x, y] or {\"points\": [[x, y], ...]}) or CSV (x,y per line, "
                        "optional header); pixels, 0-based")
    p.add_argument("--out", default=None, metavar="OUT.json",
                   help="output JSON (default: next to P, <P's stem>_in_<B's stem>.json)")
    p.add_argument("--figure", default=None, metavar="FIG.png", help="output figure (default: OUT with .png)")
    p.add_argument("--method", default=None, choices=METHODS,
                   help=f"matcher or BP flow (default: the validated one, "
                        f"{PointTransferConfig.DEFAULT_METHOD['cnn']} on conv features)")
    p.add_argument("--backbone", default=None, choices=NAMES,
                   help=f"feature network (default: the validated one, {PointTransferConfig.backbone})")
    p.add_argument("--weights", default=None,
                   help="weight file, or 'random' (default: the backbone's real pretrained weights)")
    add_set(p, "any other field of PointTransferConfig (taps, grid, radius, image_size, features, ...)")


def read_points(path: str | Path) -> np.ndarray:
    """Points [K, 2] float64 of a JSON or CSV points file (module docstring); InputError naming the file and field
    for anything else."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "points", "an existing JSON or CSV file", "no such file")
    text = p.read_text(errors="replace")
    if p.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(p, "points", "JSON", f"invalid JSON at line {e.lineno}") from None
        if isinstance(data, dict):
            if "points" not in data:
                raise InputError(p, "points", "a list of [x, y] or an object with a 'points' list",
                                 f"keys {sorted(data)}")
            data = data["points"]
        rows, where = data, "points"
    else:
        rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
        if rows and not _numeric(rows[0]):
            rows = rows[1:]  # header
        where = "x,y rows"
    if not isinstance(rows, list) or not rows:
        raise InputError(p, where, "at least one [x, y] point", rows if not isinstance(rows, list) else "none")
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, (list, tuple)) or len(r) != 2 or not _numeric(r):
            raise InputError(p, f"{where}[{i}]", "two numbers x, y (pixels)", r)
        out.append([float(v) for v in r])
    pts = np.asarray(out, np.float64)
    if not np.all(np.isfinite(pts)):
        raise InputError(p, where, "finite x, y", "a NaN or infinite value")
    return pts


def _numeric(row) -> bool:
    try:
        [float(v) for v in row]
    except (TypeError, ValueError):
        return False
    return not any(isinstance(v, bool) for v in row)


def default_outputs(points: str, image_b: str, out: str | None, fig: str | None) -> tuple[Path, Path]:
    """(JSON path, figure path): `out` or P's folder/<P's stem>_in_<B's stem>.json; `fig` or that with .png."""
    o = Path(out) if out else Path(points).with_name(f"{Path(points).stem}_in_{Path(image_b).stem}.json")
    return o, Path(fig) if fig else o.with_suffix(".png")


def _listed(a: np.ndarray) -> list:
    """Rows of an array as lists, a NaN row as null (JSON)."""
    return [None if not np.all(np.isfinite(r)) else np.round(r, 3).tolist() for r in np.atleast_1d(a)]


def draw(path: Path, a: np.ndarray, b: np.ndarray, pa: np.ndarray, pb: np.ndarray,
         names: tuple[str, str] = ("A", "B"), title: str = "") -> None:
    """A and B side by side (`convcorr_eval.figures.transfer_figure`): point i's source (circle, on A) and
    transferred position (cross, on B) in colour i, joined by a line; legend: the markers and point indices."""
    from convcorr_eval.figures import TransferRow, transfer_figure
    from convcorr_eval.report import save_figure

    row = TransferRow(a, b, pa, pb, title=f"{names[0]} (left) -> {names[1]} (right)")
    save_figure(transfer_figure([row], title or "points transferred", names), path)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out, fig = default_outputs(args.points, args.image_b, args.out, args.figure)
    io.check_writable(out, "--out")
    io.check_writable(fig, "--figure")
    flags = {k: v for k, v in (("method", args.method), ("backbone", args.backbone)) if v is not None}
    used = dataclasses.replace(config.override(PointTransferConfig(), args.set), **flags)
    pts = read_points(args.points)
    a, b = read_image(args.image_a, "image_a"), read_image(args.image_b, "image_b")
    t = transfer_points(a, b, pts, weights=args.weights, config=used)
    try:
        require("matplotlib", "report", str(fig))
    except MissingExtra as e:
        print(f"convcorr match: figure skipped: {e}", file=sys.stderr)
        fig = None
    else:
        draw(fig, a, b, pts, t.points, (Path(args.image_a).name, Path(args.image_b).name),
             f"{len(pts)} points transferred ({used.matcher}, {used.backbone})")
    conf = [None if not np.isfinite(c) else round(float(c), 4) for c in t.confidence]
    res = {"image_a": args.image_a, "image_b": args.image_b, "points_file": args.points,
           "points_a": pts.tolist(), "points_b": _listed(t.points), "confidence": conf,
           "confidence_is": CONFIDENCE, "config": {**config.to_dict(used),
                                                   "method": used.matcher}, "tap_names": list(used.tap_names),
           "grid": used.grid_spec, "weights": args.weights or "pretrained", "versions": runinfo.versions(),
           "figure": None if fig is None else str(fig), "seconds": round(time.perf_counter() - t0, 2)}
    io.write_json(out, res)
    moved = sum(v is not None for v in res["points_b"])
    print(f"matched {len(pts)} points of {args.image_a} into {args.image_b} ({used.matcher}, {used.backbone} "
          f"{'+'.join(used.tap_names) if used.features == 'cnn' else used.features}): {moved} moved; wrote {out}"
          f"{'' if fig is None else f', {fig}'}")
    return 0
