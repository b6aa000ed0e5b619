"""Choose dense-flow settings on validation pairs (never on the motorcycle test pair of `flow_dense.py`).

    python bench/flow_dense_validation.py --flic FLIC_ROOT [--pairs 12] [--side 256] [--siftflow PEER_DIR]
    python bench/flow_dense_validation.py --flic FLIC_ROOT --side 512 --pairs 8 --errors FIGURE.png [--set edge_sigma=None]

`--errors` runs no candidates: it shows where the defaults' error is, stage by stage (stopped after the conv levels,
after the 2 px level, whole): mean EPE and % of pixels over 3 / 6 / 12 px, and a figure of the worst pairs (image,
ground-truth dx, dx after the conv levels, final error).

Validation pairs: `stereo_pairs.layered_pair` scenes textured with FLIC training images (letterbox bars cropped),
seeded. Each candidate is `flow.dense.DenseConfig()` with the listed fields changed (the first: the defaults
before this search; the last: the defaults it chose); all pairs run in one `dense_flows` call per
candidate. Prints, per candidate, the mean EPE (px) and % > 3 px over the
non-occluded pixels, and the time per pair of the batch; the peer (SIFT Flow C++) on the same pairs where given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from convcorr_eval.report import plt, save_figure
from convcorr_jax.core import config, runinfo
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
    "paper's pairwise term (top beta 0.1), beta_fine 8": {"edge_sigma": None, "beta_fine": 8.0},
    "paper's pairwise term, top beta 0.3 and beta_fine 8": {"edge_sigma": None, "beta": 0.3, "beta_fine": 8.0},
    "paper's pairwise term, 16 BP iterations at the top": {"edge_sigma": None, "iters": 16},
    "paper's pairwise term, 4 multigrid levels x 12 iterations at the top": {"edge_sigma": None, "levels": 4,
                                                                             "iters": 12},
    "paper's pairwise term, conv taps at <= 256 px": {"edge_sigma": None, "top_side": 256},
    "paper's pairwise term, 7 x 7 labels above the 1 px level": {"edge_sigma": None, "radius": 3, "finest_radius": 2},
    "paper's pairwise term below the top (defaults before the contrast-sensitive one)": {"edge_sigma": None},
    "contrast-sensitive pairwise term below the top, sigma 0.05": {"edge_sigma": 0.05},
    "contrast-sensitive pairwise term below the top, sigma 0.1 (the default since)": {"edge_sigma": 0.1},
    "contrast-sensitive pairwise term below the top, sigma 0.2": {"edge_sigma": 0.2},
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


def error_stages(pairs, A, B, backbone, params, figure: str, base: dense.DenseConfig, peer=None,
                 worst: int = 3) -> None:
    """Print the error of `base` (the defaults, or as changed by --set) stage by stage (EPE, % > 3 / 6 / 12 px over
    the non-occluded pixels; the peer's beside where given) and save a figure of the `worst` pairs: image a, ground-truth dx, dx after the conv
    levels, final error (capped at 15 px; occluded pixels grey)."""
    stages = {"conv levels": {"fine_strides": ()}, "+ 2 px level": {"fine_strides": (2,)}, "whole (defaults)": {}}
    flows, errors = {}, {}  # errors: per pair, the error of each non-occluded pixel
    print("\n| stopped after | EPE px | > 3 px % | > 6 px % | > 12 px % |\n|---|---|---|---|---|")
    for name in [*stages, *(["SIFT Flow C++ (peer)"] if peer is not None else [])]:
        if name in stages:
            cfg = dataclasses.replace(base, **stages[name])
            flows[name] = np.asarray(dense.dense_flows(A, B, backbone, params, cfg))
        else:
            flows[name] = np.stack([peer.siftflow(q[0], q[1])[0] for q in pairs])
        err = errors[name] = [np.linalg.norm(f - q[2], axis=-1)[q[3]] for f, q in zip(flows[name], pairs)]
        cols = [np.mean([e.mean() for e in err])] + [np.mean([100 * np.mean(e > t) for e in err]) for t in (3, 6, 12)]
        print(f"| {name} | {cols[0]:.3f} | " + " | ".join(f"{c:.2f}" for c in cols[1:]) + " |", flush=True)
    epe = [e.mean() for e in errors["whole (defaults)"]]
    rows = np.argsort(epe)[::-1][:worst]
    fig, ax = plt.subplots(len(rows), 4, figsize=(16, 3.2 * len(rows)), squeeze=False)
    for r, i in enumerate(rows):
        a, _, gt, nocc = pairs[i]
        lo, hi = gt[..., 0].min(), gt[..., 0].max()
        err = np.full(nocc.shape, np.nan)
        err[nocc] = errors["whole (defaults)"][i]
        panels = [(a, None, f"pair {i}: image a"), (gt[..., 0], "jet", "ground-truth dx (px)"),
                  (flows["conv levels"][i][..., 0], "jet", "dx after the conv levels"),
                  (np.minimum(err, 15), "magma", f"final error, px (capped at 15; grey: occluded); EPE {epe[i]:.2f}")]
        for k, (img, cmap, title) in enumerate(panels):
            cm = None if cmap is None else plt.get_cmap(cmap).with_extremes(bad="0.6")
            im = ax[r, k].imshow(img, cmap=cm, **({"vmin": lo, "vmax": hi} if cmap == "jet" else {}))
            ax[r, k].set_title(title, fontsize=9)
            ax[r, k].axis("off")
            if cmap is not None:
                fig.colorbar(im, ax=ax[r, k], fraction=0.03)
    save_figure(fig, figure, dpi=70)
    print(f"figure: {figure}")


def candidates(args, pairs, A, B, backbone, params) -> None:
    """Score and time each of `CANDIDATES` (those of --only) on the pairs, and the peer where given; print the table."""
    rows = []
    for i, (name, change) in enumerate(CANDIDATES.items()):
        if args.only and i not in args.only:
            continue
        cfg = dataclasses.replace(dense.DenseConfig(), **change)
        dense.dense_flows(A, B, backbone, params, cfg).block_until_ready()  # compile
        t0 = time.perf_counter()
        flows = np.asarray(dense.dense_flows(A, B, backbone, params, cfg))
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--flic", default=os.environ.get("FLIC_ROOT"), help="FLIC folder (examples.mat, images/)")
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", type=int, nargs="*", default=None, help="indices of the candidates to run (default: all)")
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    p.add_argument("--errors", default=None, metavar="FIGURE", help="show where the defaults' error is (no candidates)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="with --errors: change DenseConfig fields")
    args = p.parse_args()
    if not args.flic:
        raise SystemExit("give the FLIC folder with --flic DIR or FLIC_ROOT=DIR")
    print(runinfo.header("bench: dense flow settings on validation pairs", vars(args)))
    with runinfo.timed() as total:
        pairs = validation_pairs(args.flic, args.pairs, args.side, args.seed)
        A, B = np.stack([q[0] for q in pairs]), np.stack([q[1] for q in pairs])
        backbone, params = load_backbone("mobilenet_v2", None)
        if args.errors:
            error_stages(pairs, A, B, backbone, params, args.errors, config.override(dense.DenseConfig(), args.set),
                         load_peer(args.siftflow))
        else:
            candidates(args, pairs, A, B, backbone, params)
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
