"""`convcorr align IMG_A IMG_B --features conv4|sift [--backbone B --weights W] --out DIR`: BP flow from image A (source) to image B.

B is resized to A's size, features are computed on the grid of conv4 receptive-field centres of A (dense SIFT
at the same centres for `--features sift`), and the flow is solved with `flow.bp` (`flow.pair.align_pair`). Writes:
  DIR/flow.npy     [h, w, 2] float32: displacement (dx, dy) in pixels of A for each grid point
  DIR/grid_xy.npy  [h, w, 2] float32: (x, y) pixel of A at which each grid point sits
  DIR/energy.json  data, deformation and total energy, per-iteration trace, settings
  DIR/warp.png     A | B warped onto A | B

With `--dense` (`flow.pair.dense_align_pair`, coarse to fine from the conv4 grid down to pixels) the flow is per
pixel instead:
  DIR/flow.npy     [H, W, 2] float32 at A's size as given: pixel p = (x, y) of A corresponds to p + flow[p] in B
                   (B's pixels after B is resized to A's size)
  DIR/energy.json  settings;  DIR/warp.png  as above
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from convcorr_jax import config, io
from convcorr_jax.data.types import load_image
from convcorr_jax.flow.align import FEATURES
from convcorr_jax.flow.dense import PIXEL_FEATURES, DenseConfig
from convcorr_jax.flow.pair import align_pair, dense_align_pair
from convcorr_jax.weights import ARCHS, load_backbone


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image_a", help="source image (any size)")
    p.add_argument("image_b", help="target image (resized to the source's size)")
    p.add_argument("--features", choices=FEATURES, default="conv4")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--beta", type=float, default=None, help="smoothness weight (displacements in pixels of a 500 px "
                   "image); default: the paper's (BPConfig) for the grid flow, DenseConfig's for --dense")
    p.add_argument("--window", type=int, default=None, help="max displacement in grid cells (default: whole grid)")
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--dense", action="store_true", help="per-pixel coarse-to-fine flow (flow.dense; --beta sets its conv4 level, "
                   "--window/--iters/--levels apply to the grid flow only)")
    p.add_argument("--pixel-features", choices=PIXEL_FEATURES, default=DenseConfig.pixel_features,
                   help="finest levels' features with --dense")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="with --dense: change DenseConfig fields (e.g. edge_sigma=none: the paper's pairwise term)")
    p.add_argument("--max-side", type=int, default=320, help="A is resized so its longer side is at most this")
    p.add_argument("--backbone", choices=ARCHS, default="mobilenet_v2", help="feature network (conv4 role)")
    p.add_argument("--weights", default=None,
                   help="weight file, or 'random' (default: the backbone's real pretrained weights)")


def _save_png(path: Path, images: list[np.ndarray]) -> None:
    with io.atomic_path(path) as tmp:
        Image.fromarray(np.concatenate(images, axis=1)).save(tmp)


def run(args: argparse.Namespace) -> int:
    a, b = load_image(args.image_a), load_image(args.image_b)
    backbone, params = load_backbone(args.backbone, args.weights)
    d = Path(args.out)
    info = dict(image_a=args.image_a, image_b=args.image_b, a_size=list(a.shape[:2]))
    if args.dense:
        cfg = DenseConfig(beta=DenseConfig.beta if args.beta is None else args.beta, pixel_features=args.pixel_features)
        cfg = config.override(cfg, args.set)
        out = dense_align_pair(a, b, backbone, params, cfg, args.max_side)
        d.mkdir(parents=True, exist_ok=True)
        io.save_npy(d / "flow.npy", out["flow"])
        io.write_json(d / "energy.json", dict(dense=True, config=str(cfg), **info, work_scale=out["scale"]))
        _save_png(d / "warp.png", [a, out["warped"], out["b_resized"]])
        print(f"aligned {args.image_a} -> {args.image_b} (dense, {args.pixel_features} at the finest levels): "
              f"flow {out['flow'].shape}; wrote {d}/flow.npy, energy.json, warp.png")
        return 0
    out = align_pair(a, b, backbone, params, args.features, args.beta, args.window, args.iters, args.levels,
                     args.max_side)
    d.mkdir(parents=True, exist_ok=True)
    io.save_npy(d / "flow.npy", out["flow"])
    io.save_npy(d / "grid_xy.npy", out["grid_xy"])
    io.write_json(d / "energy.json", dict(out["energy"], **info, work_scale=out["scale"]))
    _save_png(d / "warp.png", [out["a_work"], out["warped"], out["b_resized"]])
    e = out["energy"]
    print(f"aligned {args.image_a} -> {args.image_b} ({args.features}, grid {e['grid_hw']}): data {e['data']:.1f}, "
          f"deformation {e['deformation']:.1f}; wrote {d}/flow.npy, grid_xy.npy, energy.json, warp.png")
    return 0
