"""Long et al. 2014, Table 3 (and Figures 4-5): keypoint classification with conv columns vs SIFT.

    python eval/table3_keypoint_classification.py                 # synthetic objects (n=400)
    python eval/table3_keypoint_classification.py --cv            # C by 5-fold CV + Figure 5 PNG
    python eval/table3_keypoint_classification.py --voc-annotations ANN --voc-root VOCdevkit/VOC2011

Prints the table (rows: SIFT radii 10..160, conv1..conv5; columns: categories + mean) beside the paper's
published numbers (different data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="synthetic objects (train + test)")
    p.add_argument("--image-size", type=int, default=192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--C", type=float, default=None,
                   help="one C for every feature (default: 1e-3 for conv columns, 1.0 for unit-norm SIFT; the "
                        "paper's 1e-6 suits unnormalised Caffe features)")
    p.add_argument("--cv", action="store_true", help="choose C per category by 5-fold CV; write Figure 5")
    p.add_argument("--no-sift", action="store_true")
    p.add_argument("--figure4", action="store_true", help="also write Figure 4 (arg-max histograms, slow: one "
                   "forward pass per pixel shift of each test image)")
    p.add_argument("--fig4-category", default="dog")
    p.add_argument("--fig4-keypoints", default="L_Eye,Nose")
    p.add_argument("--fig4-images", type=int, default=8)
    p.add_argument("--fig4-step", type=int, default=1, help="pixel step of the shifts (1 = single-pixel stride)")
    p.add_argument("--weights", default=None, help="MobileNetV2 weight file (default: bundled ImageNet weights)")
    p.add_argument("--voc-annotations", default=None, help="PASCAL keypoint annotation folder (real data)")
    p.add_argument("--voc-root", default=None, help="VOC2011 folder with JPEGImages (real data)")
    p.add_argument("--out", default="runs/table3", help="folder for figures and metrics")
    a = p.parse_args(argv)

    from convcorr_jax import io, runinfo
    from convcorr_jax.correspondence import classification as cls
    from convcorr_jax.weights import load_pretrained

    print(runinfo.header("Long et al. 2014 Table 3: keypoint classification", vars(a), a.seed), flush=True)
    with runinfo.timed("table3 wall time"):
        from convcorr_jax.correspondence.data import load_train_test

        train, test = load_train_test(a.n, a.seed, a.image_size, a.voc_root, a.voc_annotations)
        backbone, params = load_pretrained("mobilenet_v2", a.weights)
        cv = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0] if a.cv else None
        C = {"conv": 1e-3, "SIFT": 1.0} if a.C is None else a.C
        out = cls.run_table3(train, test, backbone, params, radii=() if a.no_sift else cls.SIFT_RADII, C=C,
                             cv_Cs=cv)
        print(cls.table_markdown(out["results"]))
        print(f"keypoints: {out['n_train']} train / {out['n_test']} test; skipped {out['skipped']}")
        outdir = Path(a.out)
        if cv:
            cls.cv_curve_figure({k: v["cv"] for k, v in out["results"].items()}, outdir / "figure5_cv.png")
            print(f"Figure 5: {outdir / 'figure5_cv.png'}")
        if a.figure4:
            f4 = cls.run_figure4(train, test, backbone, params, a.fig4_category, a.fig4_keypoints.split(","),
                                 outdir / "figure4_argmax_histograms.png", C=a.C or 1e-3, sift_C=a.C or 1.0, n_images=a.fig4_images,
                                 step=a.fig4_step)
            print(f"Figure 4: {outdir / 'figure4_argmax_histograms.png'}; boundary maxima excluded: {f4['excluded']}")
        io.write_json(outdir / "metrics.json", {k: {"mean": v["mean"], "accuracy": v["accuracy"], "C": v["C"]}
                                                 for k, v in out["results"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
