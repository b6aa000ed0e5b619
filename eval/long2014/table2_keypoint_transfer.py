"""Long et al. 2014 Table 2: keypoint transfer by conv4 flow, SIFT flow and NN transfer (PCK).

    python eval/table2_keypoint_transfer.py                      # synthetic objects, 40 targets (~4 min, 2 cores)
    python eval/table2_keypoint_transfer.py --targets 0          # every test instance
    python eval/table2_keypoint_transfer.py --voc-root VOC2011   # VOC 2011 keypoints (annotations/ + JPEGImages/)

Prints the per-category PCK at alpha 0.1 and the means at 0.1 / 0.05 / 0.025 beside the paper's numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from convcorr_jax import runinfo
from convcorr_jax.correspondence import transfer


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voc-root", default=None)
    p.add_argument("--n", type=int, default=400, help="synthetic objects to generate (75%% train / 25%% test)")
    p.add_argument("--targets", type=int, default=40, help="test instances to evaluate (0: all)")
    p.add_argument("--box", type=int, default=192)
    p.add_argument("--neighbours", type=int, default=25)
    p.add_argument("--window", type=int, default=5, help="max displacement in grid cells (-1: whole grid)")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--beta", type=float, default=3e-3, help="used as is when --val-betas is empty")
    p.add_argument("--val-betas", default="3e-3,3e-2", help="comma-separated betas to choose from on a validation "
                   "split of the training set ('' : no selection)")
    p.add_argument("--sift-scale", choices=("stride", "box"), default="stride")
    p.add_argument("--weights", default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = transfer.TransferConfig(box=args.box, neighbours=args.neighbours, beta=args.beta, iters=args.iters,
                                  levels=args.levels, window=None if args.window < 0 else args.window,
                                  max_targets=args.targets or None, sift_scale=args.sift_scale,
                                  val_betas=tuple(float(b) for b in args.val_betas.split(",") if b))
    print(runinfo.header("Long et al. 2014 Table 2: keypoint transfer", dict(dataclasses.asdict(cfg), voc_root=args.voc_root, n=args.n), args.seed))
    with runinfo.timed("wall time"):
        from convcorr_jax.correspondence.data import load_train_test

        train, test = load_train_test(args.n, args.seed, voc_root=args.voc_root)
        test = transfer._interleave(test)
        backbone, params = transfer.load_backbone(args.weights)
        out = transfer.table2(train, test, backbone, params, cfg)
        print(out["markdown"])
        r = out["results"]
        print(f"summary: mean PCK@0.1 conv4 flow {r['conv4 flow'][0.1]['mean']:.1f}, SIFT flow {r['SIFT flow'][0.1]['mean']:.1f}, "
              f"NN transfer {r['NN transfer'][0.1]['mean']:.1f} ({out['n_targets']} targets, beta {out['config'].beta:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
