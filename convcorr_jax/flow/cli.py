"""`convcorr align IMG_A IMG_B --features conv4|sift --out DIR`: BP flow from image A (source) to image B.

B is resized to A's size, features are computed on the grid of conv4 receptive-field centres of A (dense SIFT
at the same centres for `--features sift`), and the flow is solved with `flow.bp`. Writes:
  DIR/flow.npy     [h, w, 2] float32: displacement (dx, dy) in pixels of A for each grid point
  DIR/grid_xy.npy  [h, w, 2] float32: (x, y) pixel of A at which each grid point sits
  DIR/energy.json  data, deformation and total energy, per-iteration trace, settings
  DIR/warp.png     A | B warped onto A | B
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convcorr_jax.backbones.preprocess import resize
from convcorr_jax.errors import check


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image_a", help="source image (any size)")
    p.add_argument("image_b", help="target image (resized to the source's size)")
    p.add_argument("--features", choices=("conv4", "sift"), default="conv4")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--beta", type=float, default=3e-3, help="smoothness weight (displacements in pixels of a 500 px image)")
    p.add_argument("--window", type=int, default=None, help="max displacement in grid cells (default: whole grid)")
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--max-side", type=int, default=320, help="A is resized so its longer side is at most this")
    p.add_argument("--weights", default=None, help="backbone weight file (default: fetched MobileNetV2)")


def align_images(a: np.ndarray, b: np.ndarray, features: str = "conv4", backbone=None, params=None, beta: float = 3e-3,
                 window: int | None = None, iters: int = 8, levels: int = 3, sift_radius: float = 20.0) -> dict:
    """Align uint8 RGB A [H, W, 3] to B (resized to A's size). Returns flow, grid_xy, energies, dense flow, warp."""
    from convcorr_jax.backbones.geometry import grid_centers
    from convcorr_jax.features.extract import extract
    from convcorr_jax.features.sift import sift_grid, to_grey
    from convcorr_jax.flow import bp
    from convcorr_jax.flow.warp import dense_flow_spline, warp_image
    from convcorr_jax.correspondence.transfer import feature_scale

    h, w = a.shape[:2]
    b = resize(b, (h, w))
    tap = backbone.roles["conv4"]
    rf = backbone.geometry[tap]
    check(min(h, w) >= rf.stride * 2, "image_a", "size", f"at least {rf.stride * 2} px on each side (conv4 stride {rf.stride})", (h, w))
    conv = extract(backbone, params, np.stack([a, b]), (tap,), batch_size=2)[tap]
    check(conv.shape[1] * conv.shape[2] >= 2, "image_a", "size", "an image giving a conv4 grid of >= 2 columns", conv.shape[1:3])
    grid = grid_centers(rf, conv.shape[1:3])
    side = max(h, w)
    if features == "sift":
        bin_size = max(1, int(round(sift_radius / 2 * side / 500)))
        xs, ys = grid[0, :, 0], grid[:, 0, 1]
        feats = np.stack([np.asarray(sift_grid(g, xs, ys, bin_size)) for g in to_grey(np.stack([a, b]))])
    else:
        feats = conv
    feats = feats * feature_scale(feats, 512.0)
    pixel_scale = 500.0 / side  # displacements in pixels of a 500 px image for the smoothness term
    res = bp.align(feats[0], feats[1], bp.BPConfig(beta, window, iters, levels, "brute"), rf.stride * pixel_scale)
    flow = np.asarray(res.flow) / pixel_scale  # pixels of A
    dense = dense_flow_spline(flow, grid, (h, w))
    warped = np.clip(np.asarray(warp_image(b, dense)), 0, 255).astype(np.uint8)
    energy = {"data": float(res.data_energy), "deformation": float(res.deformation_energy), "total": float(res.energy),
              "trace": np.asarray(res.trace).tolist(), "features": features, "beta": beta, "grid_hw": list(grid.shape[:2]),
              "units": "deformation uses displacements in pixels of A scaled to a 500 px longer side"}
    return {"flow": flow.astype(np.float32), "grid_xy": grid.astype(np.float32), "energy": energy, "dense_flow": dense,
            "warped": warped, "b_resized": b}


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from convcorr_jax import io
    from convcorr_jax.data.types import load_image
    from convcorr_jax.weights import load_pretrained

    a, b = load_image(args.image_a), load_image(args.image_b)
    a_size = list(a.shape[:2])
    scale = min(1.0, args.max_side / max(a.shape[:2]))
    if scale < 1.0:
        a = resize(a, (max(1, round(a.shape[0] * scale)), max(1, round(a.shape[1] * scale))))
    backbone, params = load_pretrained("mobilenet_v2", path=args.weights)
    out = align_images(a, b, args.features, backbone, params, args.beta, args.window, args.iters, args.levels)
    d = Path(args.out)
    d.mkdir(parents=True, exist_ok=True)
    # back to pixels of the original A (the work ran on A resized by `scale`; pixel centres at integers)
    io.save_npy(d / "flow.npy", (out["flow"] / scale).astype(np.float32))
    io.save_npy(d / "grid_xy.npy", ((out["grid_xy"] + 0.5) / scale - 0.5).astype(np.float32))
    io.write_json(d / "energy.json", dict(out["energy"], image_a=args.image_a, image_b=args.image_b, a_size=a_size, work_scale=scale))
    with io.atomic_path(d / "warp.png") as tmp:
        Image.fromarray(np.concatenate([a, out["warped"], out["b_resized"]], axis=1)).save(tmp)
    e = out["energy"]
    print(f"aligned {args.image_a} -> {args.image_b} ({args.features}, grid {e['grid_hw']}): data {e['data']:.1f}, "
          f"deformation {e['deformation']:.1f}; wrote {d}/flow.npy, grid_xy.npy, energy.json, warp.png")
    return 0
