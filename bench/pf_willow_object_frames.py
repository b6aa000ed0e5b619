"""Object frames on PF-WILLOW: each image cropped to the object's box found from the CAM prior, without labels.

    python bench/pf_willow_object_frames.py --root PF-dataset-WILLOW [--ts 0.2,0.35,0.5] [--ms 0.1,0.2,0.35]
        [--aspect 2,1] [--cache rows.json] [--loo]

The default pipeline (`pf_willow.Config()`: OT + RHM on VGG-16 + MobileNetV2 + EfficientNet-Lite2 hyperpixels,
the CAM prior of MobileNetV2's classifier, 224 x 224 frames, a node every 8 px) frames each whole image
(`frames.frame_boxes`). Here each image's frame is a box chosen from the image alone:

1. the CAM prior as the pipeline computes it on the whole-image frame (`features.cam.cam_prior` of the prior's
   network at the frame's 28 x 28 nodes, top 2 classes, in [0, 1]; floor + it equals the default's node prior,
   asserted);
2. the nodes whose CAM >= t x its maximum; their cells' bounding box (as fractions of the frame, so of the image);
3. that box grown by m x its side on each side, clipped to the image;
4. optionally (`--aspect L`): its shorter side (relative to the image's aspect) grown about its centre until the
   box's aspect is at most L times more elongated than the image's (L = 1: the image's aspect kept), kept inside
   the image.

Then the pipeline runs unchanged on those boxes (`pf_parts.PartStore` -> `frames.make_frames`: the crop, all three
networks' features and the CAM prior of the crop; the points go image -> frame by the box's affine and back), and
PCK is `pf_willow.score_frames`'s: original image pixels, the original keypoint boxes. t = 0, m = 0 gives the whole
image: its boxes equal `frame_boxes` (asserted), so that row is the default (its per-fold PCK@0.1 is checked
against the published default). Source keypoints outside their crop are still carried (by the nearest nodes'
matches, `carry.transfer_keypoints`); the script counts them and scores them apart.

Prints one markdown table (PCK@0.1 per fold, means of the six sub-classes and of all eight folds, PCK@0.05 / 0.2 of
the six), the boxes' sizes per sub-class and, with `--loo`, the leave-one-out over the plain (t, m) grid
(`pf_willow_selection.leave_one_out`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from convcorr_jax.core import correspondence_metrics, geometry, io, runinfo
from convcorr_jax.correspondence.frames import frame_boxes
from convcorr_jax.features.cam import cam_prior
from convcorr_jax.features.hyperpixel import resolve_taps, target_grid
from convcorr_eval.long2014 import pf_willow, pf_willow_protocol
from convcorr_eval.long2014 import pf_willow_validation as validation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pf_willow_carry_models import MIXED, loo_summary, row_cells  # noqa: E402

ALPHAS = ("0.05", "0.1", "0.2")
# the published default (bench/RESULTS_real.md, rounds nine to eleven), PCK@0.1 per fold in %
DEFAULT = {"car(G)": 77.2, "car(S)": 94.6, "duck(S)": 84.2, "motorbike(S)": 72.3, "winebottle(wC)": 81.6,
           "winebottle(woC)": 98.6, "car(G)+car(S)": 61.3, "winebottle(wC)+winebottle(woC)": 89.9}


def cam_maps(v: validation.Validation, c: pf_willow.Config) -> tuple[np.ndarray, float]:
    """(the CAM prior [N, h, w] in [0, 1] of every image's whole-image frame, as the pipeline computes it; seconds
    spent: the crop to 224 px and one pass of the prior's network)."""
    t = c.transfer
    bb, _ = v.model(c)
    t0 = time.perf_counter()
    rf, hw = target_grid(bb, resolve_taps(bb, t.tap_names), (t.image_size, t.image_size), t.grid_spec)
    M = geometry.box_to_affine(frame_boxes(v.images), t.image_size)
    crops = geometry.crop_each(v.images, M, t.image_size, border="edge")
    pb, pp = v.model(c, t.prior)
    cam = cam_prior(pb, pp, crops, rf, hw, t.prior_top_k)
    return cam, time.perf_counter() - t0


def cam_boxes(cam: np.ndarray, images: list, t: float, m: float, aspect: float | None = None) -> np.ndarray:
    """Boxes [N, 4] (x0, y0, x1, y1 inclusive image pixels) of the nodes whose CAM >= t x max (module docstring).

    cam [N, h, w] on the whole-image frames' node grid (node (r, k) the cell [k / w, (k + 1) / w] x [r / h,
    (r + 1) / h] of the image); m: margin, a fraction of the box's side on each side; aspect: None or L >= 1."""
    n, h, w = cam.shape
    out = np.empty((n, 4))
    for i, (c, im) in enumerate(zip(cam, images)):
        rows, cols = np.nonzero(c >= t * c.max())
        u = np.array([cols.min() / w, (cols.max() + 1) / w])  # x edges, fractions of the image
        s = np.array([rows.min() / h, (rows.max() + 1) / h])
        u, s = (np.clip(e + np.array([-1, 1]) * m * (e[1] - e[0]), 0, 1) for e in (u, s))
        if aspect is not None:
            u, s = _limit_aspect(u, s, aspect)
        H, W = im.shape[:2]
        out[i] = [W * u[0], H * s[0], W * u[1] - 1, H * s[1] - 1]
    return out


def _limit_aspect(u: np.ndarray, s: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """The box (x edges u, y edges s, fractions of the image) with its shorter relative side grown about its centre
    so that (width fraction / height fraction) lies in [1 / limit, limit], moved inside [0, 1] and clipped."""
    fw, fh = u[1] - u[0], s[1] - s[0]

    def grow(e, side):
        side = min(side, 1.0)
        lo = np.clip(0.5 * (e[0] + e[1]) - side / 2, 0.0, 1.0 - side)
        return np.array([lo, lo + side])

    if fw / fh > limit:
        s = grow(s, fw / limit)
    elif fh / fw > limit:
        u = grow(u, fh / limit)
    return u, s


def outside(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """bool [N, K]: the (finite) points outside their image's box's outer pixel edges."""
    x, y = points[..., 0], points[..., 1]
    b = boxes[:, None]
    out = (x < b[..., 0] - 0.5) | (x > b[..., 2] + 0.5) | (y < b[..., 1] - 0.5) | (y > b[..., 3] + 0.5)
    return out & np.all(np.isfinite(points), -1)


def run_row(v: validation.Validation, c: pf_willow.Config, boxes: np.ndarray) -> dict:
    """The default pipeline on frames of `boxes`: {"pck": {alpha: {fold: PCK}}, "seconds", "outside": counts}."""
    v.boxes, v.stores = boxes, {}
    t0 = time.perf_counter()
    frames, used, _ = v.frames(c, resolve_taps(v.model(c)[0], c.transfer.tap_names))
    r = pf_willow.score_frames(frames, v.samples, v.pairs, v.groups, c, taps=used)
    seconds = time.perf_counter() - t0
    points, valid = pf_willow_protocol.keypoint_table(v.samples)
    gt = points[v.pairs[:, 1]]
    src_out = outside(points, boxes)[v.pairs[:, 0]] & valid[v.pairs[:, 0]] & valid[v.pairs[:, 1]]
    trg_out = outside(points, boxes)[v.pairs[:, 1]] & valid[v.pairs[:, 0]] & valid[v.pairs[:, 1]]
    both = valid[v.pairs[:, 0]] & valid[v.pairs[:, 1]]
    cut = [s.id for s, o in zip(v.samples, outside(points, boxes) & valid) if o.any()]
    size = correspondence_metrics.pf_box_size(gt)  # the PF PCK's L, as `pf_pck_pairs`
    hit = np.linalg.norm(r["pred"] - gt, axis=-1) / size[:, None] < 0.1
    return {"pck": {a: {k: float(x) for k, x in r["pck"][a].items()} for a in ALPHAS}, "seconds": seconds,
            "outside": {"pairs_keypoints": int(both.sum()), "source_outside": int(src_out.sum()),
                        "source_outside_hit": int((hit & src_out).sum()), "target_outside": int(trg_out.sum()),
                        "target_outside_hit": int((hit & trg_out).sum()),
                        "inside_hit": int((hit & both & ~src_out).sum()), "images": cut}}


def box_sizes(boxes: np.ndarray, v: validation.Validation) -> str:
    """Mean width and height of the boxes as % of the image's, per sub-class."""
    wh = np.array([[(b[2] - b[0] + 1) / im.shape[1], (b[3] - b[1] + 1) / im.shape[0]]
                   for b, im in zip(boxes, v.images)])
    subs = np.array([s.id.split("/")[0] if "/" in s.id else "" for s in v.samples])
    groups = {g: [i for i in range(len(subs)) if subs[i] == g] for g in dict.fromkeys(subs)}
    return "; ".join(f"{g} {100 * wh[i, 0].mean():.0f} x {100 * wh[i, 1].mean():.0f}" for g, i in groups.items())


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--root", required=True, help="PF-dataset-WILLOW folder")
    a.add_argument("--ts", default="0.2,0.35,0.5", help="CAM thresholds (fractions of the image's maximum)")
    a.add_argument("--ms", default="0.1,0.2,0.35", help="margins (fractions of the box's side, each side)")
    a.add_argument("--aspect", default="", help="aspect limits L tried on the best plain (t, m) (e.g. 2,1)")
    a.add_argument("--cache", help=".json of the scored rows: read when present, each new row added")
    a.add_argument("--loo", action="store_true", help="leave-one-out over the plain (t, m) grid")
    args = a.parse_args()
    print(runinfo.header("bench: object frames from the CAM on PF-WILLOW", vars(args)), flush=True)
    rows = {}
    if args.cache and os.path.exists(args.cache):
        with open(args.cache) as f:
            rows = json.load(f)
    with runinfo.timed() as total:
        v = validation.Validation(validation.Config(data_root=args.root, rows=("method=ot_rhm",), mixed=MIXED))
        c = v.cfg.row_configs()[0]
        cam, t_cam = cam_maps(v, c)
        whole = frame_boxes(v.images)
        assert np.array_equal(cam_boxes(cam, v.images, 0.0, 0.0), whole)

        def score(name, boxes):
            if name not in rows:
                rows[name] = run_row(v, c, boxes)
                rows[name]["boxes"] = box_sizes(boxes, v)
                if args.cache:
                    io.write_text(args.cache, json.dumps(rows, indent=1))  # atomic: never half a file
            r = rows[name]
            o = r["outside"]
            print(f"{name}: {r['seconds']:.0f} s; boxes (w x h, % of the image) {r['boxes']}; source keypoints "
                  f"outside their crop {o['source_outside']} of {o['pairs_keypoints']} (hit at 0.1: "
                  f"{o['source_outside_hit']}), targets outside {o['target_outside']} (hit "
                  f"{o['target_outside_hit']}){'; in ' + ', '.join(o.get('images', [])) if o.get('images') else ''}",
                  flush=True)
            return r

        base = score("the default (t 0, m 0: the whole image)", whole)
        prior = v.stores[(c.weights, c.seed)].priors if v.stores else None
        if prior is not None:  # the CAM the boxes come from is the default's node prior less its floor
            p = next(x for k, x in prior.items() if not k[-1])
            assert np.allclose(p, c.transfer.prior_floor + cam, rtol=0, atol=1e-6)
        got = {g: round(100 * base["pck"]["0.1"][g], 1) for g in DEFAULT}
        assert got == DEFAULT, got
        grid = [(float(t), float(m)) for t in args.ts.split(",") for m in args.ms.split(",")]
        plain = [f"t {t:g}, m {m:g}" for t, m in grid]
        for (t, m), name in zip(grid, plain):
            score(name, cam_boxes(cam, v.images, t, m))
        if args.aspect:
            top = max(plain, key=lambda n: row_cells(rows[n]["pck"])[8])  # the mean of the six
            t, m = grid[plain.index(top)]
            for lim in (float(x) for x in args.aspect.split(",")):
                score(f"{top}, aspect within {lim:g}:1 of the image's", cam_boxes(cam, v.images, t, m, lim))
    six = [g for g in DEFAULT if not pf_willow_protocol.is_mixed(g)]
    print("\n| row | " + " | ".join(six + ["car(G)+car(S)", "winebottle(wC)+(woC)"])
          + " | mean of 6 | mean of 8 | PCK@0.05 | PCK@0.2 |")
    print("|---|" + "---:|" * (len(six) + len(MIXED) + 4))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in row_cells(r["pck"])) + " |")
    n_img = len(v.images)
    print(f"\nCAM for the boxes: {t_cam:.1f} s for {n_img} images ({t_cam / n_img:.2f} s an image, "
          f"{2 * t_cam / n_img:.2f} s for a pair's two images); the default row {base['seconds']:.0f} s for "
          f"{len(v.pairs)} pairs ({base['seconds'] / len(v.pairs):.2f} s a pair, {base['seconds'] / n_img:.2f} s an "
          f"image)")
    if args.loo:
        print(loo_summary({n: rows[n]["pck"]["0.1"] for n in plain}, plain, "over the plain grid"))
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
