"""Razavian et al. 2015 Fig. 4 (RGB reconstruction) and Table 3 / Fig. 5 (segmentation by 30x30xC regressors).

    convcorr run razavian2015.rgb_segmentation                                 # synthetic objects, MobileNetV2
    convcorr run razavian2015.rgb_segmentation --set data=voc --data-root VOC2012   # train (fit) / val
    convcorr run razavian2015.rgb_segmentation --size tiny --backbone caffenet --set weights=random

Prints the held-out RGB mean absolute error ([0, 1] units) and the segmentation mean IoU over classes incl.
background (%, VOC's measure; pixel AP beside it).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.core.config import check_fields
from convcorr_jax.regression import rgb, segmentation
from convcorr_jax.regression.features import resize_images
from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.razavian2015 import common, data, paper
from convcorr_eval.razavian2015.figures import image_grid, save_image, segmentation_figure, to_uint8
from convcorr_eval.report import comparable, left_out, percent, ran_on


@dataclasses.dataclass(frozen=True)
class Config(common.Config):
    """`label_size`: real (VOC) images and label maps are resized to this square."""

    label_size: int = 256

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, at_least_one=("label_size",))


def get_config(size: str = "default") -> Config:
    return common.config_at(Config, size)


def section(cfg: common.Config, desc: common.Descriptors, figdir, seg, dataset: str = "synthetic objects"
            ) -> tuple[str, dict]:
    """Fig. 4 and Table 3 / Fig. 5 on the same whole images, described at `cfg.object_crop` px; the extra
    descriptor (if any) as a labelled second row of each. InputError naming a sample (`SegSample`) that holds only
    its path (`SegSample.loaded_image`)."""
    seg_tr, seg_te, class_names = seg
    im_tr = np.stack([s.loaded_image() for s in seg_tr])
    im_te = np.stack([s.loaded_image() for s in seg_te])
    size = (cfg.object_crop, cfg.object_crop)
    x_tr, x_te = resize_images(im_tr, size), resize_images(im_te, size)
    F_tr, F_te = desc.main(x_tr), desc.main(x_te)
    r = rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed, extend_top=common.EXTEND_TOP)
    k = min(8, len(im_te))
    save_image(figdir / "razavian_fig4_rgb.png",
               image_grid([list(to_uint8(r.originals[:k])), list(to_uint8(r.recon[:k]))]), scale=2,
               row_titles=("original",
                           "reconstruction"), title="Fig. 4: test images rebuilt in RGB from their descriptors")
    C = len(class_names)
    lab_tr = np.stack([s.label for s in seg_tr])
    lab_te = np.stack([s.label for s in seg_te])
    sres = segmentation.segmentation_table(F_tr, lab_tr, F_te, lab_te, C, seed=cfg.seed)
    segmentation_figure(figdir / "razavian_fig5_segmentation.png", im_te[:3], lab_te[:3], sres.scores, sres.pred,
                        class_names=class_names)
    extra = None
    if desc.extra is not None:
        E_tr, E_te = desc.extra(x_tr), desc.extra(x_te)
        extra = (rgb.rgb_reconstruction(E_tr, im_tr, E_te, im_te, seed=cfg.seed, extend_top=common.EXTEND_TOP),
                 segmentation.segmentation_table(E_tr, lab_tr, E_te, lab_te, C, seed=cfg.seed))
    miou = float(np.nanmean(sres.iou))
    md = [f"**Fig. 4 RGB reconstruction** ({dataset}, {len(im_tr)} train / {len(im_te)} test images, 46x46x3 = 6,348 "
          f"regressors, one lambda by 4-fold CV on the training images): held-out MAE {r.mae:.3f} at lambda "
          f"{common.lambda_text(r.lam, r.edge)} (predicting the mean image: {r.mae_mean_image:.3f}"
          + (f"; {desc.extra_label}: {extra[0].mae:.3f} at lambda {common.lambda_text(extra[0].lam, extra[0].edge)}"
             if extra else "")
          + (f"); paper (different data, ImageNet): {paper.RGB_MAE}" if comparable(cfg) else ")")
          + f"; {ran_on(cfg, 'test')}", "",
          "![rgb](figures/razavian_fig4_rgb.png) (top: originals, bottom: reconstructions)", "",
          f"**Table 3** ({dataset}: 30x30x{C} = {900 * C:,} regressors + {C}x{C} mixing matrix). Headline: IoU as "
          "VOC reports it (per class from the confusion matrix over all test pixels, void ignored, then the mean over "
          "the classes scored, background included: a class in neither the labels nor the predictions has none); "
          f"pixel accuracy {percent(sres.pixel_acc)}%. Pixel AP (ranking every "
          "non-void pixel by the class's upsampled score) is the second column because it is the measure of the "
          "paper's Table 3, so it is the one to hold beside the paper; it scores the score maps without a decision, "
          "while IoU scores the arg-max labelling.", "",
          f"| class ({ran_on(cfg, 'test')}) | IoU ours (%) | pixel AP ours (%) |", "|---|---|---|"]
    md += [f"| {n} | {common.fmt(100 * sres.iou[i], 1)} | {common.fmt(100 * sres.ap[i], 1)} |"
           for i, n in enumerate(class_names)]
    md += [f"| **mean of the {int(np.sum(np.isfinite(sres.iou)))} classes scored** | {percent(miou)} | "
           f"{percent(sres.mean_ap)} |"]
    if extra:
        md += [f"| mean, {desc.extra_label} | {percent(float(np.nanmean(extra[1].iou)))} | "
               f"{percent(extra[1].mean_ap)} |"]
    md += ["", (f"Paper (different data, VOC12 val, mean over its 21 classes): mean pixel AP {paper.TABLE3_MEAN}, "
                f"background AP {paper.TABLE3_BG} (the paper gives no IoU)." if comparable(cfg) else
                left_out(cfg)), "",
           "![segmentation](figures/razavian_fig5_segmentation.png)", ""]
    metrics = {"rgb_mae": r.mae, "rgb_mae_mean_image": r.mae_mean_image, "rgb_lambda": r.lam,
               "rgb_lambda_edge": r.edge,
               "seg_mean_iou": miou, "seg_iou": dict(zip(class_names, map(float, sres.iou))),
               "seg_ap": dict(zip(class_names, map(float, sres.ap))), "seg_mean_ap": sres.mean_ap,
               "seg_pixel_acc": sres.pixel_acc,
               "seg_about": {"unit": "fraction in [0, 1]", "mean": "over the classes scored, background included"}}
    if extra:
        metrics["extra"] = {"descriptor": desc.extra_label, "rgb_mae": extra[0].mae, "rgb_lambda": extra[0].lam,
                            "rgb_lambda_edge": extra[0].edge,
                            "seg_mean_iou": float(np.nanmean(extra[1].iou)), "seg_mean_ap": extra[1].mean_ap}
    return "\n".join(md), metrics


def summary(m: dict) -> str:
    return f"RGB MAE {m['rgb_mae']:.3f}; seg mIoU {percent(m['seg_mean_iou'])}% (pixel AP {percent(m['seg_mean_ap'])}%)"


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic", "voc"))
    desc = common.make_descriptors(cfg)
    if cfg.data == "voc":
        seg, dataset = data.voc_segmentation(cfg.dataset_root(), cfg.label_size), "VOC 2012 train / val"
    else:
        seg, dataset = data.synthetic_segmentation(cfg), "synthetic objects"
    md, m = section(cfg, desc, ctx.figures, seg, dataset)
    return Result(summary(m), f"Descriptor: {desc.text}.\n\n{md}", m)
