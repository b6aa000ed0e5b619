"""Razavian et al. Fig. 4 (RGB reconstruction) and Table 3 / Fig. 5 (segmentation by 30x30xC ridge regressors).

    python eval/razavian_rgb_segmentation.py                      # synthetic objects
    python eval/razavian_rgb_segmentation.py --voc-root VOC2012   # VOC 2012 train (fit) / val (evaluate)
"""

from __future__ import annotations

import razavian_common as common


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--voc-root", default=None, help="VOC2012 folder (JPEGImages, SegmentationClass, ImageSets)")
    p.add_argument("--label-size", type=int, default=256, help="real labels are resized (nearest) to this square")
    args = p.parse_args(argv)
    from convcorr_jax import runinfo
    from convcorr_jax.regression import demo

    cfg, featurize, featurize_fc6, desc, out, figs = common.setup(args, "razavian_rgb_segmentation")
    header = runinfo.header("Razavian et al. 2015, Fig. 4 and Table 3 (RGB, segmentation)", cfg, args.seed)
    print(header, flush=True)
    with runinfo.timed() as t:
        seg, dataset = None, "synthetic objects"
        if args.voc_root:
            import dataclasses

            from convcorr_jax.data.voc_segmentation import load_voc_segmentation
            from convcorr_jax.regression import real
            from convcorr_jax.regression.features import resize_images

            def prep(image_set):
                ss = list(load_voc_segmentation(args.voc_root, image_set=image_set, with_images=True))
                labels = real.resize_labels([s.label for s in ss], args.label_size)
                ims = [resize_images(s.image[None], (args.label_size, args.label_size))[0] for s in ss]
                return [dataclasses.replace(s, label=l, image=i) for s, l, i in zip(ss, labels, ims)]

            names = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
                     "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
                     "train", "tvmonitor")
            seg, dataset = (prep("train"), prep("val"), names), "VOC 2012 train / val"
        md, m = demo.run_rgb_and_segmentation(cfg, featurize, figs, seg, dataset=dataset)
    common.finish(out, "Razavian et al. Fig. 4 / Table 3", header + f"\nwall time: {t['seconds']:.1f} s", f"Descriptor: {desc}.\n\n{md}", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
