"""Dense flow on real pairs never used to choose a setting: PF-WILLOW keypoint transfer, ours beside SIFT Flow C++.

    python bench/flow_dense_pf_willow.py --root PF-dataset-WILLOW [--side 256] [--pairs-per-class 90] [--siftflow DIR]

Protocol (PF-WILLOW's): ordered pairs (i, j) of a sub-class; flow from image i to image j; keypoint p of i goes to
p + flow(p); PCK against j's keypoints at alpha * max(w, h) of j's keypoint box (`correspondence_metrics.pf_pck`), mean over a
sub-class's pairs, then over sub-classes. Both images are resized (anisotropically) to `--side` x `--side`, as
`convcorr_jax.correspondence.frames` does for `transfer_points` and the PF-WILLOW experiment (one compiled
shape), the flow is read at the keypoint bilinearly, and the
moved point is mapped back to j's pixels. Ours: `flow.dense.DenseConfig()` defaults (MobileNetV2 ImageNet weights); the peer where given. Prints
PCK@0.05 / 0.1 / 0.2 and time per pair for each.
"""

from __future__ import annotations

import argparse
import os
import time

import jax.numpy as jnp
import numpy as np

from convcorr_jax.core import correspondence_metrics, runinfo
from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.data.pf_willow import pf_willow_classes, pf_willow_pairs
from convcorr_jax.data.types import load_image
from convcorr_jax.flow import dense
from convcorr_jax.flow.warp import bilinear_sample
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.weights import load_backbone
from flow_dense import load_peer


def moved(flow: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points [K, 2] (x, y) moved by a dense flow [H, W, 2] read bilinearly (held at the edges)."""
    f = np.asarray(bilinear_sample(jnp.asarray(flow), jnp.asarray(pts[:, 0]), jnp.asarray(pts[:, 1])))
    return pts + f


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default=os.environ.get("PF_WILLOW_ROOT"), help="PF-dataset-WILLOW folder")
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--pairs-per-class", type=int, default=90, help="the first N ordered pairs of each sub-class")
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    args = p.parse_args()
    if not args.root:
        raise SystemExit("give the PF-WILLOW folder with --root DIR or PF_WILLOW_ROOT=DIR")
    cfg = dense.DenseConfig()
    print(runinfo.header("bench: dense flow on PF-WILLOW, ours vs SIFT Flow C++", {**vars(args), "config": str(cfg)}))
    with runinfo.timed() as total:
        peer = load_peer(args.siftflow)
        backbone, params = load_backbone("mobilenet_v2", None)
        methods = ["ours"] + (["SIFT Flow C++"] if peer is not None else [])
        pred = {m: [] for m in methods}
        secs = {m: 0.0 for m in methods}
        gts, subs = [], []
        todo = [(c, src, dst) for c in pf_willow_classes(args.root)
                for src, dst in pf_willow_pairs(args.root, c)[: args.pairs_per_class]]
        for c, src, dst in progress_bar(todo, desc="pairs", unit="pair"):
            a, b = load_image(src.image_path), load_image(dst.image_path)
            hw = (args.side, args.side)
            ra, rb = resize(a, hw), resize(b, hw)
            pa = src.points * np.array([hw[1] / a.shape[1], hw[0] / a.shape[0]], np.float32)
            back = np.array([b.shape[1] / hw[1], b.shape[0] / hw[0]], np.float32)
            for m in methods:
                t0 = time.perf_counter()
                if m == "ours":
                    flow = np.asarray(dense.dense_flows(ra[None], rb[None], backbone, params, cfg))[0]
                else:
                    flow = peer.siftflow(ra, rb)[0]
                secs[m] += time.perf_counter() - t0
                pred[m].append(moved(np.asarray(flow, np.float32), pa) * back)
            gts.append(dst.points)
            subs.append(c)
        print(f"\n{len(todo)} pairs ({args.pairs_per_class} per sub-class at most), images at {args.side} x {args.side} px")
        print("| method | PCK@0.05 | PCK@0.1 | PCK@0.2 | s / pair (first call included) |\n|---|---|---|---|---|")
        for m in methods:
            r = correspondence_metrics.pf_pck(np.stack(pred[m]), np.stack(gts), subs)
            print(f"| {m} | {r['0.05']['mean']:.3f} | {r['0.1']['mean']:.3f} | {r['0.2']['mean']:.3f} | "
                  f"{secs[m] / len(todo):.2f} |")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
