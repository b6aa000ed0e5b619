"""PF-WILLOW transfer per pair: `long2014.pf_willow`'s default method beside SIFT Flow C++, same run and pairs.

    SIFTFLOW_BUILD_DIR=BUILD python bench/pf_willow_methods.py --root PF-dataset-WILLOW --siftflow PEER_DIR [--pairs 20] \
        [--also "extra_backbone=mobilenet_v2 prior=mobilenet_v2" ...]

Pairs: the first `--pairs` / (number of sub-classes) ordered pairs of each sub-class (Proposal Flow order, source i
-> target j). Ours: `correspondence.transfer_points` with `pf_willow.Config()`'s settings (the library's validated
defaults: features of both images, matching and transfer), one pair per call; the first pair compiles (its time is
printed apart) and the time per pair is the mean over the pairs after it. The peer: Ce Liu's SIFT Flow C++ (demo.m's
settings, its own dense SIFT included) on both images resized to `--side` x `--side`, its flow read bilinearly at the
keypoint and mapped back (as bench/flow_dense_pf_willow.py). `--also`: more settings of ours, each a row of
`PointTransferConfig` fields applied to the default ("field=value ...", tuple items joined by "+", as
`long2014.pf_willow_warped` rows), timed the same way in the same run. Prints the PF PCK of each on these pairs and
the ratio of each of ours' time per pair to the peer's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from convcorr_jax.core import correspondence_metrics, runinfo
from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.correspondence import transfer_points
from convcorr_jax.weights import load_backbone
from convcorr_eval.long2014 import pf_willow, pf_willow_protocol
from convcorr_eval.long2014.pf_willow_warped import parse_row
from flow_dense import load_peer
from flow_dense_pf_willow import moved


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default=os.environ.get("PF_WILLOW_ROOT"), help="PF-dataset-WILLOW folder")
    p.add_argument("--pairs", type=int, default=20, help="pairs in all, split evenly over the sub-classes")
    p.add_argument("--side", type=int, default=256, help="the peer's frame side (pixels)")
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    p.add_argument("--also", action="append", default=[], help="another setting of ours: 'field=value ...'")
    args = p.parse_args()
    if not args.root:
        raise SystemExit("give the PF-WILLOW folder with --root DIR or PF_WILLOW_ROOT=DIR")
    cfg = dataclasses.replace(pf_willow.get_config("default"), data_root=args.root)
    print(runinfo.header("bench: PF-WILLOW transfer per pair, default method vs SIFT Flow C++",
                         {**vars(args), "config": pf_willow.setting_text(cfg)}))
    with runinfo.timed() as total:
        peer = load_peer(args.siftflow)
        classes = pf_willow_protocol.select_classes(args.root)
        per = max(1, args.pairs // len(classes))
        samples, pairs, groups = pf_willow_protocol.pf_willow_set(args.root, per)
        backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
        points, valid = pf_willow_protocol.keypoint_table(samples)
        gt = pf_willow_protocol.pair_ground_truth(points, valid, pairs)

        rows, first = [], []
        for k, also in enumerate(["", *args.also]):
            c = dataclasses.replace(cfg, transfer=parse_row(also, cfg.transfer))
            ours, times = [], []
            for i, j in pairs:
                t0 = time.perf_counter()
                moved_ij = transfer_points(samples[i].image, samples[j].image, points[i], model=(backbone, params),
                                           config=c.transfer).points
                times.append(time.perf_counter() - t0)
                ours.append(moved_ij)
            first.append(times[0])
            name = "ours" + (f", default + {also}" if k else " (the default)")
            rows.append((f"{name}: " + pf_willow.setting_text(c), np.stack(ours), float(np.mean(times[1:]))))

        if peer is not None:
            theirs, secs = [], []
            hw = (args.side, args.side)
            for i, j in pairs:
                a, b = samples[i].image, samples[j].image
                pa = points[i] * np.array([hw[1] / a.shape[1], hw[0] / a.shape[0]])
                back = np.array([b.shape[1] / hw[1], b.shape[0] / hw[0]])
                t0 = time.perf_counter()
                flow = peer.siftflow(resize(a, hw), resize(b, hw))[0]
                secs.append(time.perf_counter() - t0)
                theirs.append(moved(np.asarray(flow, np.float32), np.nan_to_num(pa).astype(np.float32)) * back)
            rows.append((f"SIFT Flow C++ ({args.side} x {args.side}, demo.m's settings)", np.stack(theirs),
                         float(np.mean(secs))))

        print(f"\n{len(pairs)} pairs ({per} per sub-class); ours: first pair (compiles) "
              + ", ".join(f"{s:.2f} s" for s in first))
        print("| method | PCK@0.05 | PCK@0.1 | PCK@0.2 | s / pair |\n|---|---|---|---|---|")
        for name, pred, s in rows:
            r = correspondence_metrics.pf_pck(pred, gt, groups)
            print(f"| {name} | {r['0.05']['mean']:.3f} | {r['0.1']['mean']:.3f} | {r['0.2']['mean']:.3f} | {s:.3f} |")
        if peer is not None:
            for name, _, s in rows[:-1]:
                print(f"time ratio ours / SIFT Flow C++: {s / rows[-1][2]:.2f} ({name.partition(':')[0]})")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
