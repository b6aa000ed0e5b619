"""Long et al. 2014, Table 4 and Figure 6: sliding-window keypoint prediction, conv5 vs dense SIFT, +/- the
nearest-neighbour Gaussian prior; PCK at alpha = 0.1 of max(box w, h).

    python eval/table4_keypoint_prediction.py                      # synthetic objects, boxes at 192 px
    python eval/table4_keypoint_prediction.py --box-size 500       # the paper's box size (slow on CPU)
    python eval/table4_keypoint_prediction.py --voc-annotations ANN --voc-root VOCdevkit/VOC2011

Default run: about 3-4 minutes on 2 CPU cores. Writes figure6_predictions.png and metrics.json to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--image-size", type=int, default=192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--box-size", type=int, default=192, help="resampled box size (paper: 500)")
    p.add_argument("--C", type=float, default=1e-3, help="SVM C (paper 1e-6 for Caffe conv5; MobileNetV2 features are smaller)")
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--sigma", type=float, default=22.0, help="prior sigma in px at box size 500 (scaled)")
    p.add_argument("--max-rounds", type=int, default=3, help="hard-negative mining rounds (cap)")
    p.add_argument("--no-sift", action="store_true")
    p.add_argument("--weights", default=None)
    p.add_argument("--voc-annotations", default=None)
    p.add_argument("--voc-root", default=None)
    p.add_argument("--out", default="runs/table4")
    a = p.parse_args(argv)


    from convcorr_jax import io, runinfo
    from convcorr_jax.correspondence import prediction as P
    from convcorr_jax.weights import load_pretrained

    cfg = P.PredictionConfig(box_size=a.box_size, C=a.C, eta=a.eta, sigma=a.sigma, max_rounds=a.max_rounds)
    print(runinfo.header("Long et al. 2014 Table 4: keypoint prediction", {"args": vars(a), "config": cfg}, a.seed),
          flush=True)
    with runinfo.timed("table4 wall time"):
        from convcorr_jax.correspondence.data import load_train_test

        train, test = load_train_test(a.n, a.seed, a.image_size, a.voc_root, a.voc_annotations)
        backbone, params = load_pretrained("mobilenet_v2", a.weights)
        out = P.run_table4(train, test, backbone, params, cfg, sift=not a.no_sift)
        print(P.table_markdown(out["rows"]))
        print(f"negatives beyond {out['neg_half']:.1f} px; {out['skipped']} keypoints outside their box excluded "
              "from training")
        outdir = Path(a.out)
        names = [r for r in ("SIFT+prior", "conv5+prior") if r in out["pred"]]
        cats = [c for c in out["test"] if out["test"][c]][:5]
        P.overlay_figure([out["test"][c][0] for c in cats],
                         {r: [out["pred"][r][c][0] for c in cats] for r in names}, cfg,
                         outdir / "figure6_predictions.png")
        print(f"Figure 6: {outdir / 'figure6_predictions.png'}")
        io.write_json(outdir / "metrics.json", out["rows"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
