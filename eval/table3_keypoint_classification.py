"""Long et al. 2014, Table 3 (and Figures 4-5): keypoint classification with conv columns vs SIFT.

    python eval/table3_keypoint_classification.py                 # synthetic objects (n=400), C = 1e-6
    python eval/table3_keypoint_classification.py --cv            # C by 5-fold CV + Figure 5 PNG
    python eval/table3_keypoint_classification.py --voc-annotations ANN --voc-root VOCdevkit/VOC2011

Prints the table (rows: SIFT radii 10..160, conv1..conv5; columns: categories + mean) beside the paper's
published numbers (different data). Default run: about 2-3 minutes on 2 CPU cores.
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
    p.add_argument("--C", type=float, default=1e-6)
    p.add_argument("--cv", action="store_true", help="choose C per category by 5-fold CV; write Figure 5")
    p.add_argument("--no-sift", action="store_true")
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
        if a.voc_annotations:
            from convcorr_jax.data.voc_keypoints import load_voc_keypoints

            train = [s.with_image() for s in load_voc_keypoints(a.voc_annotations, a.voc_root, image_set="train")]
            test = [s.with_image() for s in load_voc_keypoints(a.voc_annotations, a.voc_root, image_set="val")]
        else:
            from convcorr_jax.data.synthetic import load_objects

            train = load_objects(a.n, a.seed, "train", a.image_size)
            test = load_objects(a.n, a.seed, "test", a.image_size)
        backbone, params = load_pretrained("mobilenet_v2", a.weights)
        cv = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2] if a.cv else None
        out = cls.run_table3(train, test, backbone, params, radii=() if a.no_sift else cls.SIFT_RADII, C=a.C,
                             cv_Cs=cv)
        print(cls.table_markdown(out["results"]))
        print(f"keypoints: {out['n_train']} train / {out['n_test']} test; skipped {out['skipped']}")
        outdir = Path(a.out)
        if cv:
            cls.cv_curve_figure({k: v["cv"] for k, v in out["results"].items()}, outdir / "figure5_cv.png")
            print(f"Figure 5: {outdir / 'figure5_cv.png'}")
        io.write_json(outdir / "metrics.json", {k: {"mean": v["mean"], "accuracy": v["accuracy"], "C": v["C"]}
                                                 for k, v in out["results"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
