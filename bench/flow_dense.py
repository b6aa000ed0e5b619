"""Dense flow, ours (`flow.dense`) beside SIFT Flow C++ (Ce Liu's solver, the peer) on the same pairs in one run.

    python bench/flow_dense.py [--sizes 256 512] [--siftflow PEER_DIR] [--batch 4] [--reps 2] [--set FIELD=VALUE ...]

Pairs: scikit-image's Middlebury motorcycle (left -> right), resized so the longer side is each size; ground
truth flow (-disparity, 0) scaled with the image. The file marks pixels without ground truth by inf; occluded
pixels (no visible match in the right image: off its edge, or hidden behind a nearer pixel of the row) are
derived from the disparities. Prints per pair and method: EPE (px) and % of pixels with error > 3 px over the
non-occluded pixels with ground truth (and over all pixels with ground truth), and time per pair (images in, flow out, after compilation; best of --reps), then the
throughput of `dense_flows` over --batch copies of the 256 px pair.

The peer is the folder holding `siftflow.py` (built with its build.sh; `SIFTFLOW_BUILD_DIR` names the build
folder), given by --siftflow or the env var SIFTFLOW_PEER; without it the peer rows are skipped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import numpy as np

from convcorr_jax.core import config, runinfo
from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.flow import dense
from convcorr_jax.weights import load_backbone


def occluded(disp: np.ndarray) -> np.ndarray:
    """Left pixels with no visible match in the right image: x - d off the image, or another left pixel of the
    row lands on the same right pixel (rounded) with a disparity larger by > 1 px (it is in front). NaN/inf:
    False."""
    h, w = disp.shape
    ok = np.isfinite(disp)
    d = np.where(ok, disp, -np.inf)
    t = np.rint(np.arange(w)[None, :] - np.where(ok, disp, 0)).astype(np.int64)
    inside = (t >= 0) & (t < w)
    zbuf = np.full((h, w), -np.inf)
    rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
    np.maximum.at(zbuf, (rows[inside & ok], t[inside & ok]), d[inside & ok])
    front = zbuf[rows, np.clip(t, 0, w - 1)]
    return ok & (~inside | (d < front - 1))


def motorcycle(side: int):
    """(a, b, gt flow [H, W, 2], valid [H, W], non-occluded [H, W]) at longer side `side`. The Middlebury file
    marks pixels without ground truth by inf; occlusion is derived from the disparities (`occluded`)."""
    from PIL import Image
    from skimage import data

    left, right, disp = data.stereo_motorcycle()
    s = side / max(left.shape[:2])
    hw = (round(left.shape[0] * s), round(left.shape[1] * s))
    ok = np.isfinite(disp)
    nearest = Image.Resampling.NEAREST
    d = np.asarray(Image.fromarray(np.where(ok, disp, 0).astype(np.float32)).resize(hw[::-1], nearest))
    valid = np.asarray(Image.fromarray(ok.astype(np.uint8)).resize(hw[::-1], nearest)).astype(bool)
    mask = Image.fromarray((ok & ~occluded(disp)).astype(np.uint8))
    nocc = np.asarray(mask.resize(hw[::-1], nearest)).astype(bool)
    d = d * (hw[1] / left.shape[1])
    return resize(left, hw), resize(right, hw), np.stack([-d, np.zeros_like(d)], -1), valid, nocc


def scores(flow, gt, masks):
    """[(EPE, % > 3 px) for each mask]."""
    e = np.linalg.norm(np.asarray(flow, np.float64) - gt, axis=-1)
    return [(float(e[m].mean()), float(100 * np.mean(e[m] > 3))) for m in masks]


def best_time(fn, reps):
    out, best = None, np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def load_peer(path):
    if not path:
        print("SIFT Flow peer skipped: give its folder with --siftflow DIR or SIFTFLOW_PEER=DIR", flush=True)
        return None
    if not os.path.exists(os.path.join(path, "siftflow.py")):
        print(f"SIFT Flow peer skipped: no siftflow.py in {path}", flush=True)
        return None
    sys.path.insert(0, path)
    mod = importlib.import_module("siftflow")
    try:
        mod._load()
    except RuntimeError as e:
        print(f"SIFT Flow peer skipped: {e}", flush=True)
        return None
    return mod


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    p.add_argument("--backbone", default="mobilenet_v2")
    p.add_argument("--weights", default=None)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--batch", type=int, default=4, help="pairs per call for the throughput row (0: skip)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="change DenseConfig fields")
    args = p.parse_args()
    cfg = config.override(dense.DenseConfig(), args.set)
    print(runinfo.header("bench: dense flow, ours vs SIFT Flow C++", {**vars(args), "config": str(cfg)}))
    with runinfo.timed() as total:
        peer = load_peer(args.siftflow)
        backbone, params = load_backbone(args.backbone, args.weights)
        rows = []
        for side in args.sizes:
            a, b, gt, valid, nocc = motorcycle(side)
            t0 = time.perf_counter()
            np.asarray(dense.dense_flows(a[None], b[None], backbone, params, cfg))[0]
            compile_s = time.perf_counter() - t0
            flow, t = best_time(lambda: np.asarray(dense.dense_flows(a[None], b[None], backbone, params, cfg))[0],
                                args.reps)
            (epe, bad), (epe_all, bad_all) = scores(flow, gt, (nocc, valid))
            rows.append((side, a.shape[:2], "ours (dense, conv4 top)", epe, bad, epe_all, bad_all, t))
            print(f"{side}: ours EPE {epe:.2f} px, >3px {bad:.1f}% (all with GT: {epe_all:.2f}, {bad_all:.1f}%), "
                  f"{t * 1e3:.0f} ms (first call {compile_s:.1f} s)", flush=True)
            if peer is not None:
                (flow, info), tp = best_time(lambda: peer.siftflow(a, b), args.reps)
                (epe, bad), (epe_all, bad_all) = scores(flow, gt, (nocc, valid))
                rows.append((side, a.shape[:2], "SIFT Flow C++", epe, bad, epe_all, bad_all, tp))
                print(f"{side}: SIFT Flow EPE {epe:.2f} px, >3px {bad:.1f}% (all with GT: {epe_all:.2f}, {bad_all:.1f}%), "
                      f"{tp * 1e3:.0f} ms "
                      f"(its solve {info['t_solve'] * 1e3:.0f} ms)", flush=True)
        print("\n| size (longer side) | image | method | EPE px (non-occl.) | > 3 px % (non-occl.) | EPE px (all GT) "
              "| > 3 px % (all GT) | ms / pair |")
        print("|---|---|---|---|---|---|---|---|")
        for side, hw, name, epe, bad, epe_all, bad_all, t in rows:
            print(f"| {side} | {hw[1]}x{hw[0]} | {name} | {epe:.2f} | {bad:.1f} | {epe_all:.2f} | {bad_all:.1f} | {t * 1e3:.0f} |")
        by = {(r[0], r[2].startswith("ours")): r for r in rows}
        for side in args.sizes:
            if (side, False) in by:
                o, s = by[(side, True)], by[(side, False)]
                print(f"{side}: time ours / peer {o[7] / s[7]:.2f}, EPE (non-occluded) ours / peer {o[3] / s[3]:.2f}")
        if args.batch:
            a, b, *_ = motorcycle(256)
            A, B = np.stack([a] * args.batch), np.stack([b] * args.batch)
            dense.dense_flows(A, B, backbone, params, cfg).block_until_ready()
            _, t = best_time(lambda: dense.dense_flows(A, B, backbone, params, cfg).block_until_ready(), args.reps)
            print(f"\nbatched ({args.batch} pairs of {a.shape[1]}x{a.shape[0]} per call): {args.batch / t:.2f} pairs/s "
                  f"({t / args.batch * 1e3:.0f} ms / pair)")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
