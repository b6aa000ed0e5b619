"""Where the dense flow's time goes, stage by stage, beside SIFT Flow C++'s own split, in one run.

    python bench/flow_dense_stages.py [--sizes 256 512] [--siftflow PEER_DIR] [--reps 3] [--set FIELD=VALUE ...]

Pair: scikit-image's Middlebury motorcycle (as `flow_dense.py`). For each size, after compilation, best of --reps:
  - the backbone's forward pass over both images (the conv taps `flow.dense` reads);
  - the finest level's pixel features (dense SIFT at 1 px with the defaults) of both images, one call per image;
  - `dense_flows` on one pair stopped after the top level, after the conv levels, after the 2 px level, and whole (each a
    `DenseConfig` with fewer levels; every row includes the forward pass and its pixel features), with its EPE;
  - the peer: its whole call, and its own timers of its dense SIFT (both images) and of its coarse-to-fine solve.
Then the issue's budget (1/10 of the peer's time) beside the cost of the stages every accurate setting measured on
the validation pairs keeps: the forward pass, the conv levels and per-pixel SIFT of both images.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core import config, runinfo
from convcorr_jax.features.extract import extract
from convcorr_jax.features.sift import to_grey
from convcorr_jax.flow import dense
from convcorr_jax.weights import load_backbone
from flow_dense import load_peer, motorcycle, scores
from timing import best_time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--siftflow", default=os.environ.get("SIFTFLOW_PEER"), help="folder of the peer's siftflow.py")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="change DenseConfig fields")
    args = p.parse_args()
    cfg = config.override(dense.DenseConfig(), args.set)
    print(runinfo.header("bench: dense flow stages beside SIFT Flow C++", {**vars(args), "config": str(cfg)}))
    with runinfo.timed() as total:
        peer = load_peer(args.siftflow)
        backbone, params = load_backbone("mobilenet_v2", None)
        finest = cfg.finest_features or cfg.pixel_features
        pix = jax.jit(functools.partial(dense.pixel_features, kind=finest, sift_bin=cfg.sift_bin,
                                        grad_sigma=cfg.grad_sigma))
        stages = [("top level (conv4 grid, whole-grid labels)", dataclasses.replace(cfg, conv_roles=(), fine_strides=())),
                  ("+ conv levels", dataclasses.replace(cfg, fine_strides=())),
                  ("+ 2 px level", dataclasses.replace(cfg, fine_strides=(2,))),
                  ("+ 1 px level (whole dense flow)", cfg)]
        for side in args.sizes:
            a, b, gt, _, nocc = motorcycle(side)
            ab = np.stack([a, b])
            taps = dense._taps(backbone, cfg)
            rows = [("backbone forward, both images", best_time(lambda: extract(backbone, params, ab, taps, batch_size=2),
                                                               reps=args.reps), None)]
            grey = [jnp.asarray(g) for g in to_grey(ab)]
            rows.append((f"{finest} at 1 px, both images", best_time(lambda: [pix(g) for g in grey], reps=args.reps), None))
            for name, c in stages:
                fn = lambda c=c: np.asarray(dense.dense_flows(a[None], b[None], backbone, params, c))[0]
                rows.append((f"dense flow to {name}", best_time(fn, reps=args.reps), scores(fn(), gt, [nocc])[0][0]))
            if peer is not None:
                runs = []
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    flow, info = peer.siftflow(a, b)
                    runs.append((time.perf_counter() - t0, info))
                tp, info = min(runs, key=lambda r: r[0])
                rows.append(("SIFT Flow C++: whole call, images to flow", tp, scores(flow, gt, [nocc])[0][0]))
                rows.append(("SIFT Flow C++: pre-filter + dense SIFT, both images", info["t_features"], None))
                rows.append(("SIFT Flow C++: coarse-to-fine solve (pyramid + BP)", info["t_solve"], None))
            print(f"\n{side} px ({a.shape[1]}x{a.shape[0]}):\n\n| stage | ms | EPE px (non-occl.) |\n|---|---|---|")
            for name, t, epe in rows:
                print(f"| {name} | {t * 1e3:.0f} | {'' if epe is None else f'{epe:.2f}'} |")
            if peer is not None:
                kept = rows[3][1] + rows[1][1]  # the flow to the conv levels (forward included) + SIFT at 1 px
                print(f"\n{side} px: budget (1/10 of the peer's {tp * 1e3:.0f} ms) {tp * 1e2:.0f} ms; forward + conv levels + "
                      f"SIFT at 1 px alone {kept * 1e3:.0f} ms ({kept / tp:.2f} of the peer's time); whole dense flow "
                      f"{rows[5][1] / tp:.2f} of it", flush=True)
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
