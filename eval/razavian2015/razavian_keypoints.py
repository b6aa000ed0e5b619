"""Razavian et al. Table 2 and Fig. 2b: object keypoints by ridge regression (PCK@0.1 per category, PCK vs alpha).

    python eval/razavian_keypoints.py                                   # synthetic objects
    python eval/razavian_keypoints.py --voc-kp-root ANN --voc-root VOC  # PASCAL VOC 2011 keypoints + images
"""

from __future__ import annotations

import razavian_common as common


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--voc-kp-root", default=None, help="keypoint annotations (<class>/*.xml)")
    p.add_argument("--voc-root", default=None, help="VOC2011 folder with JPEGImages")
    args = p.parse_args(argv)
    from convcorr_jax import runinfo
    from convcorr_jax.regression import demo

    cfg, featurize, featurize_fc6, desc, out, figs = common.setup(args, "razavian_keypoints")
    header = runinfo.header("Razavian et al. 2015, Table 2 (object keypoints)", cfg, args.seed)
    print(header, flush=True)
    with runinfo.timed() as t:
        train = test = None
        dataset = "synthetic objects"
        if args.voc_kp_root:
            from convcorr_jax.data.voc_keypoints import load_voc_keypoints

            samples = list(load_voc_keypoints(args.voc_kp_root, args.voc_root, with_images=True))
            train, test = demo._split(samples, args.seed, key="_no_split_field")
            dataset = "PASCAL VOC keypoints (random 75/25 split)"
        md, m = demo.run_keypoints(cfg, featurize, figs, train, test, dataset=dataset)
    common.finish(out, "Razavian et al. Table 2", header + f"\nwall time: {t['seconds']:.1f} s", f"Descriptor: {desc}.\n\n{md}", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
