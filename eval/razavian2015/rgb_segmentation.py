"""Razavian et al. 2015 Fig. 4 (RGB reconstruction) and Table 3 / Fig. 5 (segmentation by 30x30xC regressors).

    convcorr run razavian2015.rgb_segmentation                                 # synthetic objects, MobileNetV2
    convcorr run razavian2015.rgb_segmentation --set data=voc --data-root VOC2012   # train (fit) / val
    convcorr run razavian2015.rgb_segmentation --size tiny --backbone caffenet --set weights=random

Runtime on a 2-core CPU: ~1 min (default), ~10 s (tiny). Prints the held-out RGB mean absolute error ([0, 1]
units) and the mean per-class pixel AP (%).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from convcorr_jax.regression import rgb, segmentation
from convcorr_jax.regression.features import resize_images
from convcorr_eval import runner
from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.razavian2015 import common, data, paper
from convcorr_eval.razavian2015.figures import image_grid, save_image, segmentation_figure, to_uint8


@dataclasses.dataclass(frozen=True)
class Config(common.Config):
    """`label_size`: real (VOC) images and label maps are resized to this square."""

    label_size: int = 256


def get_config(size: str = "default") -> Config:
    return common.config_at(Config, size)


def section(cfg: common.Config, desc: common.Descriptors, figdir, seg, dataset: str = "synthetic objects"
            ) -> tuple[str, dict]:
    """Fig. 4 and Table 3 / Fig. 5 on the same whole images, described at `cfg.object_crop` px."""
    seg_tr, seg_te, class_names = seg
    im_tr = np.stack([s.image for s in seg_tr])
    im_te = np.stack([s.image for s in seg_te])
    size = (cfg.object_crop, cfg.object_crop)
    F_tr, F_te = desc.main(resize_images(im_tr, size)), desc.main(resize_images(im_te, size))
    r = rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed)
    k = min(8, len(im_te))
    save_image(figdir / "razavian_fig4_rgb.png",
               image_grid([list(to_uint8(r.originals[:k])), list(to_uint8(r.recon[:k]))]), scale=2)
    C = len(class_names)
    lab_tr = np.stack([s.label for s in seg_tr])
    lab_te = np.stack([s.label for s in seg_te])
    sres = segmentation.segmentation_table(F_tr, lab_tr, F_te, lab_te, C, seed=cfg.seed)
    segmentation_figure(figdir / "razavian_fig5_segmentation.png", im_te[:3], lab_te[:3], sres.scores, sres.pred)
    md = [f"**Fig. 4 RGB reconstruction** ({dataset}, {len(im_tr)} train / {len(im_te)} test images, 46x46x3 = 6,348 "
          f"regressors): held-out MAE {r.mae:.3f} (predicting the mean image: {r.mae_mean_image:.3f}); "
          f"paper (different data, ImageNet): {paper.RGB_MAE}", "",
          "![rgb](figures/razavian_fig4_rgb.png) (top: originals, bottom: reconstructions)", "",
          f"**Table 3** (per-class pixel AP, %; {dataset}: 30x30x{C} = {900 * C:,} regressors + {C}x{C} mixing "
          f"matrix; pixel accuracy {100 * sres.pixel_acc:.1f}%)", "",
          "| class | AP ours | IoU ours |", "|---|---|---|"]
    md += [f"| {n} | {common.fmt(100 * sres.ap[i], 1)} | {common.fmt(100 * sres.iou[i], 1)} |"
           for i, n in enumerate(class_names)]
    md += [f"| **mean** | {100 * sres.mean_ap:.1f} | {100 * np.nanmean(sres.iou):.1f} |", "",
           f"Paper (different data, VOC12 val, 21 classes): mean AP {paper.TABLE3_MEAN}, background AP "
           f"{paper.TABLE3_BG}.", "", "![segmentation](figures/razavian_fig5_segmentation.png)", ""]
    metrics = {"rgb_mae": r.mae, "rgb_mae_mean_image": r.mae_mean_image,
               "seg_ap": dict(zip(class_names, map(float, sres.ap))), "seg_mean_ap": sres.mean_ap,
               "seg_mean_iou": float(np.nanmean(sres.iou)), "seg_pixel_acc": sres.pixel_acc}
    return "\n".join(md), metrics


def summary(m: dict) -> str:
    return f"RGB MAE {m['rgb_mae']:.3f}; seg mAP {100 * m['seg_mean_ap']:.1f}%"


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic", "voc"))
    desc = common.make_descriptors(cfg)
    if cfg.data == "voc":
        seg, dataset = data.voc_segmentation(cfg.data_root, cfg.label_size), "VOC 2012 train / val"
    else:
        seg, dataset = data.synthetic_segmentation(cfg), "synthetic objects"
    md, m = section(cfg, desc, ctx.figures, seg, dataset)
    return Result(summary(m), f"Descriptor: {desc.text}.\n\n{md}", m)


if __name__ == "__main__":
    sys.exit(runner.main("razavian2015.rgb_segmentation"))
