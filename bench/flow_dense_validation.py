"""Choose dense-flow settings on validation pairs (never on the motorcycle test pair of `flow_dense.py`).

    python bench/flow_dense_validation.py --flic FLIC_ROOT [--pairs 12] [--side 256] [--siftflow PEER_DIR]

Validation pairs: `stereo_pairs.layered_pair` scenes textured with FLIC training images (letterbox bars cropped),
seeded. Each candidate is `flow.dense.DenseConfig()` with the listed fields changed (the first: the defaults
before this search; the last: the defaults it chose); all pairs run in one `dense_align_batch` call per
candidate. Prints, per candidate, the mean EPE (px) and % > 3 px over the
non-occluded pixels, and the time per pair of the batch; the peer (SIFT Flow C++) on the same pairs where given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from convcorr_jax import runinfo
from convcorr_jax.data.flic import load_flic
from convcorr_jax.data.types import load_image
from convcorr_jax.flow import dense
from convcorr_jax.weights import load_backbone
from flow_dense import load_peer, scores
from stereo_pairs import layered_pair

PREVIOUS = {"beta": 3e-3, "finest_radius": 1, "pixel_features": "grad", "sift_bin": 3, "top_side": 256,
            "smooth": "residual", "beta_fine": 0.5, "fine_iters": 4}  # the defaults before
S2 = {"pixel_features": "sift", "sift_bin": 2, "fine_strides": (1,), "finest_radius": 2}  # one 1 px level
RES = {"smooth": "residual", "beta_fine": 0.5, "fine_iters": 4}
CANDIDATES: dict[str, dict] = {
    "previous default (grad 3, beta 3e-3, 2 and 1 px levels, r1 at 1 px)": PREVIOUS,
    "previous, beta 1e-2": {**PREVIOUS, "beta": 1e-2},
    "previous, beta_fine 2": {**PREVIOUS, "beta_fine": 2.0},
    "previous, sift 3": {**PREVIOUS, "pixel_features": "sift"},
    "previous, sift 2": {**PREVIOUS, "pixel_features": "sift", "sift_bin": 2},
    "sift 2, 1 px level only, r2, beta 3e-3": {**PREVIOUS, **S2},
    "sift 2, 1 px level only, r2, beta 1e-2": {**PREVIOUS, **S2, "beta": 1e-2},
    "grad 3, 1 px level only, r2, beta 1e-2": {**PREVIOUS, **S2, "beta": 1e-2, "pixel_features": "grad", "sift_bin": 3},
    "conv taps at <= 256 px, sift 2, beta 1e-2, pixel levels halving to 1 px, r2": {**RES, "top_side": 256},
    "conv taps at <= 256 px, sift 3, ...": {**RES, "top_side": 256, "sift_bin": 3},
    "conv taps at <= 256 px, sift 4, ...": {**RES, "top_side": 256, "sift_bin": 4},
    "conv taps at full size, sift 2, ... (residual smoothness, beta_fine 0.5, 4 fine iterations)": RES,
    "same, smoothness on the flow": {"beta_fine": 0.5, "fine_iters": 4},
    "flow smoothness, beta_fine 1, 4 it": {"beta_fine": 1.0, "fine_iters": 4},
    "flow smoothness, beta_fine 2, 4 it": {"fine_iters": 4},
    "default (flow smoothness, beta_fine 2, 8 fine iterations)": {},
    "default, 12 fine iterations": {"fine_iters": 12},
    "default, beta_fine 4": {"beta_fine": 4.0},
    "default, beta_fine 1": {"beta_fine": 1.0},
    "pixel levels on binned images (default since)": {},
    "binned, + a 4 px SIFT level after conv1": {"fine_strides": (4, 2, 1)},
    "binned, SIFT at 4, 2, 1 px instead of conv1": {"conv_roles": ("conv3", "conv2"), "fine_strides": (4, 2, 1)},
    "binned, radius 3": {"radius": 3},
    "binned, sift bin 3": {"sift_bin": 3},
    "binned, beta_fine 4": {"beta_fine": 4.0},
    "binned, sub-pixel step minimising the level's energy, 10 sweeps": {"subpixel_iters": 10},
    "binned, sub-pixel step minimising the level's energy, 30 sweeps": {"subpixel_iters": 30},
    "default (binned, 10 sub-pixel sweeps), stopped after the conv levels (diagnostic)": {"fine_strides": ()},
    "default, stopped after the 2 px level (diagnostic)": {"fine_strides": (2,)},
    "default, 3 x 3 labels at 1 px": {"finest_radius": 1},
    "default, gradient features at 1 px": {"finest_features": "grad"},
    "default, 3 x 3 labels and gradient features at 1 px": {"finest_radius": 1, "finest_features": "grad"},
    "default, 4 BP iterations at 1 px": {"finest_iters": 4},
    "default, 2 BP iterations at 1 px": {"finest_iters": 2},
    "default, 2 BP iterations and 30 sub-pixel sweeps at 1 px": {"finest_iters": 2, "subpixel_iters": 30},
    "default, 7 x 7 labels above the 1 px level": {"radius": 3, "finest_radius": 2},
    "default, 7 x 7 labels at every level": {"radius": 3},
    "default, truncated quadratic below the top, 1 px": {"truncation": 1.0},
    "default, truncated quadratic below the top, 2 px": {"truncation": 2.0},
    "default, truncated quadratic below the top, 4 px": {"truncation": 4.0},
    "default, truncated quadratic below the top, 8 px": {"truncation": 8.0},
    "default, truncated quadratic below the top, 16 px": {"truncation": 16.0},
    "default, top beta 3e-2": {"beta": 3e-2},
    "default, top beta 0.1": {"beta": 0.1},
    "default, top beta 0.3": {"beta": 0.3},
}


def unletterboxed(img: np.ndarray, level: float = 16.0) -> np.ndarray:
    """img without its dark rows / columns at the borders (film letterbox bars): mean grey <= level."""
    g = img.mean(-1)
    rows, cols = np.flatnonzero(g.mean(1) > level), np.flatnonzero(g.mean(0) > level)
    return img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def validation_pairs(flic_root: str, n: int, side: int, seed: int):
    """n layered stereo pairs (a, b, gt, nocc) at longer side `side` (3:2), textures from FLIC training images."""
    samples = load_flic(flic_root, split="train")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(samples), 2 * n, replace=False)
    hw = (round(side * 2 / 3), side)
    out = []
    for i in range(n):
        bg, fg = (unletterboxed(load_image(samples[j].image_path)) for j in idx[2 * i:2 * i + 2])
        out.append(layered_pair(rng, bg, fg, hw))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--flic", default=os.environ.get("FLIC_ROOT"), help="FLIC folder (examples.mat, images/)")
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", type=int, nargs="*", default=None, help="indices of the candidates to run (default: all)")
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    args = p.parse_args()
    if not args.flic:
        raise SystemExit("give the FLIC folder with --flic DIR or FLIC_ROOT=DIR")
    print(runinfo.header("bench: dense flow settings on validation pairs", vars(args)))
    pairs = validation_pairs(args.flic, args.pairs, args.side, args.seed)
    A, B = np.stack([q[0] for q in pairs]), np.stack([q[1] for q in pairs])
    backbone, params = load_backbone("mobilenet_v2", None)
    rows = []
    for i, (name, change) in enumerate(CANDIDATES.items()):
        if args.only and i not in args.only:
            continue
        cfg = dataclasses.replace(dense.DenseConfig(), **change)
        dense.dense_align_batch(A, B, backbone, params, cfg).block_until_ready()  # compile
        t0 = time.perf_counter()
        flows = np.asarray(dense.dense_align_batch(A, B, backbone, params, cfg))
        t = (time.perf_counter() - t0) / len(pairs)
        s = np.array([scores(f, q[2], [q[3]])[0] for f, q in zip(flows, pairs)])
        rows.append((name, s[:, 0].mean(), s[:, 1].mean(), t))
        print(f"{name}: EPE {rows[-1][1]:.3f} px, > 3 px {rows[-1][2]:.1f} %, {t * 1e3:.0f} ms / pair "
              f"(per pair EPE {np.array2string(s[:, 0], precision=2)})", flush=True)
    peer = load_peer(args.siftflow)
    if peer is not None:
        t0 = time.perf_counter()
        s = np.array([scores(peer.siftflow(q[0], q[1])[0], q[2], [q[3]])[0] for q in pairs])
        t = (time.perf_counter() - t0) / len(pairs)
        rows.append(("SIFT Flow C++ (peer)", s[:, 0].mean(), s[:, 1].mean(), t))
        print(f"peer: EPE {rows[-1][1]:.3f} px (per pair {np.array2string(s[:, 0], precision=2)})", flush=True)
    print("\n| candidate | EPE px (non-occl.) | > 3 px % | ms / pair |\n|---|---|---|---|")
    for name, epe, bad, t in rows:
        print(f"| {name} | {epe:.3f} | {bad:.1f} | {t * 1e3:.0f} |")


if __name__ == "__main__":
    main()
