"""Our SIFT BP flow beside SIFT Flow C++ on the same PF-WILLOW validation pairs, plain and warped; seconds per pair.

    SIFTFLOW_BUILD_DIR=BUILD python bench/sift_flow_pf_willow.py --root PF-dataset-WILLOW --siftflow PEER_DIR \\
        [--pairs-per-class 90] [--warped-per-class 30] [--set transfer.grid=16 --set transfer.beta=0.03 ...]

Two sets from the sub-classes under `--root`: "PF-WILLOW", the first `--pairs-per-class` ordered pairs of each
sub-class; "warped", `--warped-per-class` ordered pairs per sub-class whose target is warped and pasted onto another
sub-class's image (`data.warped_pairs.warped_set`, seed `--seed`, its default `WarpConfig`: scale 0.5-2x, rotation
+-30 degrees, tilt, flips). Ours: `correspondence.transfer_points` with `pf_willow.Config`'s transfer with
features="sift", method="bp" and the `--set` fields (the defaults: the validated SIFT BP row), one pair per call from the two images
to the moved keypoints; the first call (compilation) is timed apart. The peer: Ce Liu's SIFT Flow C++ (demo.m's
settings, its dense SIFT included) on the two images at full size, a keypoint moved by the flow at its nearest pixel
(Proposal Flow's `dense_flow_eva_WILLOW.m`, the protocol of the peer's published 0.510). PCK: `correspondence_metrics.pf_pck`
(alpha x the target's keypoint box, mean per sub-class, then over sub-classes).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from convcorr_jax.core import correspondence_metrics, runinfo
from convcorr_jax.core.config import override
from convcorr_jax.correspondence import transfer_points
from convcorr_jax.data.warped_pairs import WarpConfig, warped_set
from convcorr_jax.weights import load_backbone
from convcorr_eval.long2014 import pf_willow, pf_willow_protocol
from flow_dense import load_peer


def peer_moved(flow: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points [K, 2] moved by a dense flow [H, W, 2] read at the nearest pixel (clipped to the image); NaN stays."""
    h, w = flow.shape[:2]
    ok = np.all(np.isfinite(pts), -1)
    q = np.nan_to_num(pts)
    x = np.clip(np.rint(q[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.rint(q[:, 1]).astype(int), 0, h - 1)
    out = q + flow[y, x]
    out[~ok] = np.nan
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default=os.environ.get("PF_WILLOW_ROOT"), help="PF-dataset-WILLOW folder")
    p.add_argument("--pairs-per-class", type=int, default=90)
    p.add_argument("--warped-per-class", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="the warped set's seed")
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a field of pf_willow.Config")
    args = p.parse_args()
    if not args.root:
        raise SystemExit("give the PF-WILLOW folder with --root DIR or PF_WILLOW_ROOT=DIR")
    cfg = override(pf_willow.get_config("default"), [f"data_root={args.root}", "transfer.features=sift",
                                                     "transfer.method=bp", *args.set])
    print(runinfo.header("bench: SIFT BP flow vs SIFT Flow C++ on PF-WILLOW validation, plain and warped",
                         {**vars(args), "config": pf_willow.setting_text(cfg)}), flush=True)
    with runinfo.timed() as total:
        peer = load_peer(args.siftflow)
        samples, pairs, groups = pf_willow_protocol.pf_willow_set(args.root, args.pairs_per_class)
        full, full_pairs, full_groups = pf_willow_protocol.pf_willow_set(args.root)
        everything, wpairs, wgroups = warped_set(full, full_pairs, full_groups, args.warped_per_class, args.seed,
                                                 WarpConfig())
        points, valid = pf_willow_protocol.keypoint_table(everything)
        model = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
        print("| set | method | pairs | PCK@0.05 | PCK@0.1 | PCK@0.2 | s / pair |\n|---|---|---|---|---|---|---|",
              flush=True)
        for name, (pp, gg) in {"PF-WILLOW": (pairs, groups), "warped": (wpairs, wgroups)}.items():
            gt = pf_willow_protocol.pair_ground_truth(points, valid, pp)
            preds = {"ours: " + pf_willow.setting_text(cfg): [], "SIFT Flow C++ (full size, demo.m's settings)": []}
            secs = {k: [] for k in preds}
            for i, j in pp:
                a, b = everything[i].image, everything[j].image
                for k in preds:
                    if k.startswith("SIFT Flow") and peer is None:
                        continue
                    t0 = time.perf_counter()
                    if k.startswith("ours"):
                        out = transfer_points(a, b, points[i], model=model, config=cfg.transfer).points
                    else:
                        out = peer_moved(np.asarray(peer.siftflow(a, b)[0], np.float32), points[i])
                    secs[k].append(time.perf_counter() - t0)
                    preds[k].append(out)
            for k, v in preds.items():
                if not v:
                    continue
                r = correspondence_metrics.pf_pck(np.stack(v), gt, gg)
                s = secs[k][1:] if k.startswith("ours") else secs[k]
                print(f"| {name} | {k} | {len(pp)} | {r['0.05']['mean']:.3f} | {r['0.1']['mean']:.3f} | "
                      f"{r['0.2']['mean']:.3f} | {np.mean(s):.3f} |", flush=True)
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
