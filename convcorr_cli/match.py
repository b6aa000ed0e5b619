"""`convcorr match A B --points P [--out OUT.json] [--figure FIG.png]`: move points of image A to the corresponding
places of image B (semantic correspondence, `convcorr_jax.correspondence.transfer_points`) and draw them.

P (`convcorr_jax.correspondence.point_files.read_points`): a JSON file (a list of [x, y], or {"points": [[x, y],
...]}), a CSV file (one "x,y" per line, an optional header line), PF-WILLOW's keypoint .mat (`pts_coord` 2 x K,
MATLAB's 1-based pixels, read 0-based) or this command's own OUT.json, whose "points_b" (the points transferred into
B) are read, so `convcorr match B C --points OUT.json` carries them on from B (a null point stays null, in its place,
and a point off B, being off that A, becomes null); (x, y) pixels of A, 0-based, pixel centres at integers. Any other
file is refused in one line naming it and these formats. Defaults: the validated method (`PointTransferConfig`: SCOT's
OT + Hough matching on VGG-16 + MobileNetV2 hyperpixels, MobileNetV2's CAM foreground prior); `--method`,
`--backbone`, `--weights` and `--set FIELD=VALUE` (any other field of PointTransferConfig: taps, extra_backbone,
prior, grid, radius, image_size, features, ...) change it. The printed line, the figure's title and OUT.json's "ran"
are one text, `PointTransferConfig.describe()` of the settings that ran (the method, each network and its taps, the
prior, the frame and the grid).
Writes:
  OUT.json  (default: P's folder, <P's stem>_in_<B's stem>.json) {"points_a" (null for a null point of P),
            "points_b" ([x, y] pixels of B to 3 decimals, as points_a, null for a point off A), "off_b" (per
            point: true where the point as written lies outside B's pixel extent [-0.5, w - 0.5] x [-0.5, h - 0.5],
            kept as carried, not clamped; null for a null point), "n_off_b" (how many), "confidence" (cosine
            similarity of the features at both ends, 0..1, null where none), "ran", "networks" ([{"backbone",
            "taps"}] whose features were matched), the images, points_file and points_format, config, weights, versions,
            seconds}
  FIG.png   (default: OUT.json with .png) A and B side by side, each point's source and transferred position in
            one colour, joined by a line, with a legend. Without matplotlib (the `report` extra) the JSON is still
            written, its "figure" null, and one line on stderr says the figure was skipped and what to install.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from convcorr_cli.options import add_set, check_outputs, document
from convcorr_jax.core import config, io, runinfo
from convcorr_jax.backbones.registry import NAMES
from convcorr_jax.correspondence import PointTransferConfig, transfer_points
from convcorr_jax.correspondence.point_config import METHODS
from convcorr_jax.correspondence.point_files import read_points
from convcorr_jax.correspondence.points import valid_keypoints
from convcorr_jax.features.image import read_image
from convcorr_jax.core.optional import MissingExtra, require

DECIMALS = 3  # OUT.json's points: pixels to 3 decimals
CONFIDENCE = ("cosine similarity of the backbone features at the source point (A) and at the transferred point (B), "
              "-1..1 (0..1 on ReLU features; linear taps, as MobileNetV2's and EfficientNet-Lite2's, can score "
              "below 0); null where a point has none")


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Read images A and B and the points of A (--points: JSON, CSV, PF-WILLOW's .mat or an output of "
             "this command) and move each point to the corresponding place of B (default: the validated OT + Hough "
             "matching on VGG-16, MobileNetV2 and EfficientNet-Lite2 hyperpixels with MobileNetV2's CAM prior). "
             "Writes the points in B with their confidences to the JSON --out (default: next to P, "
             "<P's stem>_in_<B's stem>.json) and a figure of both images with the matches joined to --figure "
             "(default: OUT with .png).",
             "convcorr match car_a.png car_b.png --points car_a.json",
             "convcorr match a.png b.png --points a.csv --out ab.json --figure ab.png --method rhm",
             "convcorr match b.png c.png --points a_in_b.json  # the points moved into B, carried on into C")
    p.add_argument("image_a", help="source image (any size)")
    p.add_argument("image_b", help="target image (any size)")
    p.add_argument("--points", required=True, metavar="P",
                   help="points of A, (x, y) pixels: JSON (a list of [x, y] or {\"points\": [[x, y], ...]}), CSV "
                        "(x,y per line, optional header), PF-WILLOW's .mat (pts_coord, 1-based: read 0-based) or "
                        "this command's OUT.json (its points_b, the points transferred into its B: match B C "
                        "--points OUT.json carries them on)")
    p.add_argument("--out", default=None, metavar="OUT.json",
                   help="output JSON (default: next to P, <P's stem>_in_<B's stem>.json)")
    p.add_argument("--figure", default=None, metavar="FIG.png", help="output figure (default: OUT with .png)")
    p.add_argument("--method", default=None, choices=METHODS,
                   help=f"matcher or BP flow (default: the validated one, "
                        f"{PointTransferConfig.DEFAULT_METHOD['cnn']} on conv features)")
    p.add_argument("--backbone", default=None, choices=NAMES,
                   help=f"feature network (default: the validated one, {PointTransferConfig.backbone}, with "
                        f"{PointTransferConfig.extra_backbone}'s and {PointTransferConfig.third_backbone}'s taps "
                        f"beside it, and {PointTransferConfig.prior}'s CAM prior: "
                        f"{' '.join(f'--set {f}=none' for f in PointTransferConfig.ONE_NETWORK)} for one network)")
    p.add_argument("--weights", default=None,
                   help="the backbone's weight file (the networks beside it keep their real pretrained weights), or "
                        "'random' (every network) (default: the real pretrained weights)")
    add_set(p, "any other field of PointTransferConfig (taps, grid, radius, image_size, features, ...)",
            ("radius=2", "taps=conv4,conv5"))


def default_outputs(points: str, image_b: str, out: str | None, fig: str | None) -> tuple[Path, Path]:
    """(JSON path, figure path): `out` or P's folder/<P's stem>_in_<B's stem>.json; `fig` or that with .png."""
    o = Path(out) if out else Path(points).with_name(f"{Path(points).stem}_in_{Path(image_b).stem}.json")
    return o, Path(fig) if fig else o.with_suffix(".png")


def _listed(a: np.ndarray) -> list:
    """Rows of an array as lists, a NaN row as null (JSON)."""
    return [None if not np.all(np.isfinite(r)) else np.round(r, DECIMALS).tolist() for r in np.atleast_1d(a)]


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
    fig: Path | None  # None: the figure is skipped (no matplotlib)
    out, fig = default_outputs(args.points, args.image_b, args.out, args.figure)
    weights = {"--weights": args.weights} if args.weights not in (None, "random") else {}
    check_outputs({"--out": out, "--figure": fig},
                  {"image_a": args.image_a, "image_b": args.image_b, "--points": args.points, **weights})
    try:
        require("matplotlib", "report", str(fig))
    except MissingExtra as e:
        print(f"convcorr match: figure skipped: {e}", file=sys.stderr)
        fig = None
    else:
        from convcorr_eval.report import figure_format

        figure_format(fig, "--figure")  # a format matplotlib cannot write: refused before the work
    flags = {k: v for k, v in (("method", args.method), ("backbone", args.backbone)) if v is not None}
    used = dataclasses.replace(config.override(PointTransferConfig(), args.set), **flags)
    pf = read_points(args.points)
    pts, ran = pf.points, used.describe()
    a, b = read_image(args.image_a, "image_a"), read_image(args.image_b, "image_b")
    t = transfer_points(a, b, pts, weights=args.weights, config=used)
    if fig is not None:
        draw(fig, a, b, pts, t.points, (Path(args.image_a).name, Path(args.image_b).name),
             f"{len(pts)} points transferred: {ran}")
    conf = [None if not np.isfinite(c) else round(float(c), 4) for c in t.confidence]
    moved = np.all(np.isfinite(t.points), -1)
    # carried past B's edge: kept, flagged; judged on the points as written (`_listed`'s 3 decimals), so that a point
    # flagged off B is off B when OUT.json is read back as the points of B (match B C --points OUT.json)
    off_b = moved & ~valid_keypoints(np.round(t.points, DECIMALS), b.shape[:2])
    off_a = ~valid_keypoints(pts, a.shape[:2])  # not on A: nothing to carry, null in points_b
    res = {"image_a": args.image_a, "image_b": args.image_b, "points_file": args.points,
           "points_format": pf.format, "points_a": _listed(pts), "points_b": _listed(t.points),
           "off_b": [bool(o) if m else None for m, o in zip(moved, off_b)], "n_off_b": int(off_b.sum()),
           "n_off_a": int(off_a.sum()),
           "confidence": conf, "confidence_is": CONFIDENCE, "ran": ran,
           "networks": [{"backbone": n, "taps": list(taps)} for n, taps in used.networks],
           "config": {**config.to_dict(used), "method": used.resolved_method}, "tap_names": list(used.tap_names),
           "grid": used.grid_spec, "weights": args.weights or "pretrained", "versions": runinfo.versions(),
           "figure": None if fig is None else str(fig), "seconds": round(time.perf_counter() - t0, 2)}
    io.write_json(out, res)
    skipped = f" ({res['n_off_a']} off A: null in points_b)" if res["n_off_a"] else ""
    print(f"matched {len(pts)} point{'s' * (len(pts) != 1)} of {args.image_a} into {args.image_b}: "
          f"{int(moved.sum())} moved{skipped}, {res['n_off_b']} of them outside B (off_b); {ran}; wrote {out}"
          f"{'' if fig is None else f', {fig}'}")
    return 0
