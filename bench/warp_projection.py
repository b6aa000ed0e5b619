"""Train a projection of the default hyperpixels across known warps of photos (no labels), for PF-WILLOW.

    python bench/warp_projection.py --flic FLIC --lspet LSPET --cache CACHE --out OUT

Photos: FLIC training frames outside the validation movies (`flic_split.movie_split`, fraction 0.15, seed 0) and
LSP-extended im00001-im05000 (never im05001-im06000), `--photos` of each, drawn with the seed. Each photo is resized
to the method's 224 px frame and warped by a random homography (`warp_projection.frame_warp`: scale 0.7-1.4,
rotation +-20 degrees, flip 1/2, tilt 0.2, shift +-0.1) onto another photo's frame as background; the default's
hyperpixels (VGG-16 conv4_1+conv5_1+conv5_2, MobileNetV2 block13+block14, EfficientNet-Lite2 block14+block18, grid
8) of both are cached (float16) under CACHE. Each variant of --variants ("lowrank:64", "linear:256") is trained on
90 % of the photos (`warp_projection.train_projection`), its warp match rate reported on the other 10 %, and
written to OUT/<kind><dim>.npz with its sha256. PF-WILLOW is never read here (bench/RESULTS_real.md: the result).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import jax
import numpy as np

from convcorr_jax.core import io, runinfo
from convcorr_jax.core.progress import bar
from convcorr_jax.correspondence.frames import frame_boxes, make_frames
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.correspondence.points import side_models
from convcorr_jax.correspondence.warp_projection import (
    ProjectionTrainConfig,
    frame_warp,
    match_rate,
    node_targets,
    save_projection,
    train_projection,
)
from convcorr_jax.data.flic import load_flic
from convcorr_jax.data.flic_split import movie_split
from convcorr_jax.data.types import load_image
from convcorr_jax.data.warped_pairs import WarpConfig, resize_to, warp_image
from convcorr_jax.weights import load_backbone

SIZE = 224
LSPET_TRAIN = 5000  # im00001-im05000 only: im05001-im06000 are held out elsewhere
WARP = WarpConfig(scale_min=0.7, scale_max=1.4, rotation=20.0, perspective=0.2, flip=0.5, shift=0.1)


def photo_paths(flic: Path, lspet: Path, n: int, seed: int) -> list[Path]:
    """n FLIC training frames outside the validation movies, then n LSP-extended images of im00001-im05000."""
    rng = np.random.default_rng(seed)
    samples = load_flic(flic, split="train", skip_bad=True)
    train, _ = movie_split([s.extras["moviename"] for s in samples], 0.15, 0)
    flic_pick = sorted(rng.choice(train, n, replace=False).tolist())
    lsp_pick = sorted(rng.choice(LSPET_TRAIN, n, replace=False).tolist())
    return [Path(samples[i].image_path) for i in flic_pick] + [lspet / f"im{i + 1:05d}.jpg" for i in lsp_pick]


def warped_frames(paths: list[Path], seed: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(frames [P] uint8 224 x 224, their warped images [P] on another photo's frame, H float64 [P, 3, 3])."""
    frames = [resize_to(load_image(p), (SIZE, SIZE)) for p in bar(paths, desc="photos")]
    warped, hs = [], []
    for n, f in enumerate(frames):
        rng = np.random.default_rng([seed, n])
        H = frame_warp(rng, SIZE, WARP)
        other = (n + 1 + int(rng.integers(len(frames) - 1))) % len(frames)
        bg = resize_to(frames[other], (SIZE, SIZE), bool(rng.uniform() < 0.5))
        warped.append(warp_image(f, H, (SIZE, SIZE), background=bg))
        hs.append(H)
    return frames, warped, np.stack(hs)


def extract(images: list[np.ndarray], cache: Path, chunk: int = 16) -> tuple[np.ndarray, np.ndarray, float]:
    """The default's concatenated hyperpixels of `images` (float16 [N, h, w, C], cached per chunk), grid_xy, stride."""
    cfg = PointTransferConfig(prior=None)
    bb, params = load_backbone(cfg.backbone)
    side = side_models(cfg)
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for s in bar(range(0, len(images), chunk), desc="hyperpixels"):
        f = cache / f"feats_{s:05d}_{chunk}.npz"
        if not f.exists():
            ims = images[s:s + chunk]
            fr = make_frames(ims, frame_boxes(ims), cfg, bb, params, extra=side["extra"], third=side["third"])
            io.save_npz(f, feats=fr.features().astype(np.float16), grid=fr.grid_xy, stride=fr.stride)  # atomic
        with np.load(f) as z:
            out.append(z["feats"])
            grid, stride = z["grid"], float(z["stride"])
    return np.concatenate(out), grid, stride


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flic", type=Path, required=True)
    ap.add_argument("--lspet", type=Path, required=True, help="LSP-extended folder of im00001.jpg ...")
    ap.add_argument("--cache", type=Path, required=True, help="feature cache folder")
    ap.add_argument("--out", type=Path, required=True, help="folder of the trained .npz files")
    ap.add_argument("--photos", type=int, default=120, help="photos of each source")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="lowrank:64", help="kind:dim,... (lowrank:64, linear:256)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--tau", type=float, default=0.1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # progress lines where stderr is no terminal
    cfgs = [ProjectionTrainConfig(kind=v.split(":")[0], dim=int(v.split(":")[1]), steps=args.steps, tau=args.tau)
            for v in args.variants.split(",")]
    print(runinfo.header("projection across warps", {**vars(args), "warp": dataclasses.asdict(WARP),
                                                     "train": [dataclasses.asdict(c) for c in cfgs]}, args.seed))
    with runinfo.timed() as total:
        paths = photo_paths(args.flic, args.lspet, args.photos, args.seed)
        frames, warped, hs = warped_frames(paths, args.seed)
        feats, grid, stride = extract(frames + warped, args.cache / f"s{args.seed}_n{args.photos}")
        p = len(frames)
        fs, ft = feats[:p].reshape(p, -1, feats.shape[-1]), feats[p:].reshape(p, -1, feats.shape[-1])
        tv = np.stack([np.stack(node_targets(grid, H, stride)) for H in hs])
        target, valid = tv[:, 0].astype(np.int32), tv[:, 1].astype(bool)
        test = np.random.default_rng(args.seed).permutation(p)[: p // 10]
        fit = np.setdiff1d(np.arange(p), test)
        print(f"photos {p} ({args.photos} FLIC + {args.photos} LSPET), fit {len(fit)}, held out {len(test)}, "
              f"C {feats.shape[-1]}, nodes {fs.shape[1]}, valid {valid.mean():.2f}")
        base = match_rate(None, fs[test], ft[test], target[test], valid[test])
        print(f"identity: warp match rate on held-out photos {base:.3f}")
        args.out.mkdir(parents=True, exist_ok=True)
        for cfg in cfgs:
            params, losses = train_projection(fs[fit], ft[fit], target[fit], valid[fit], jax.random.PRNGKey(args.seed),
                                              cfg, progress=True)
            rate = match_rate(params, fs[test], ft[test], target[test], valid[test])
            meta = {"networks": PointTransferConfig().describe(), "train": dataclasses.asdict(cfg),
                    "photos": f"{args.photos} FLIC train (outside validation movies) + {args.photos} LSPET im00001-05000",
                    "seed": args.seed, "warp": dataclasses.asdict(WARP), "held_out_match_rate": rate}
            name = args.out / f"{cfg.kind}{cfg.dim}.npz"
            sha = save_projection(name, params, meta)
            print(f"{cfg.kind} {cfg.dim}: loss {losses[:20].mean():.3f} -> {losses[-20:].mean():.3f}, warp match rate "
                  f"{base:.3f} -> {rate:.3f}; {name.name} sha256 {sha}")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
