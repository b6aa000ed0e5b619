"""Razavian et al. 2015 on the embedded default: every table and figure, one demo stage.

Descriptor: MobileNetV2 ImageNet weights, the flattened pool5-role map (block16), l2-normalised (see
`features.backbone_featurizers` for why this, not the 1280-d global pool, is the analogue of AlexNet's fc6; the
global pool is reported as an extra Table 1 row).
Sizes (synthetic data, ~75% train / 25% test):
  tiny:    36 faces at 64 px, 36 objects, a stand-in descriptor (random projection of 16x16 pixels): plumbing only.
  default: faces 500 (~375 train / ~125 test) at 128 px, look-back crops at 64 px; objects 300 (~225 / ~75),
           instance crops and whole images at 128 px; ~5 minutes on 2 CPU cores.
  full:    faces 2000, objects 1500, look-back crops at 128 px.
Real data (when the user gives roots): 300-W faces (`300w`), VOC keypoints (`voc_kp` annotations + `voc`),
VOC 2012 segmentation (`voc`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from convcorr_jax.regression import directions as dirs
from convcorr_jax.regression import features as feats
from convcorr_jax.regression import figures, keypoints, landmarks, lookback, rgb, segmentation
from convcorr_jax.regression.landmarks import stack_samples

PAPER_TABLE1 = {  # Helen, LFPW, IBUG
    "Dataset Bias": (0.501, 0.242, 0.352),
    "RGB + ridge": (0.096, 0.074, 0.160),
    "ConvNet + ridge": (0.065, 0.056, 0.096),
    "ConvNet + look-back": (0.058, 0.049, 0.074),
}
FC6_ROW = "ConvNet (fc6 role = global avg pool) + ridge"
PAPER_TABLE2_MEAN = 27.8  # ConvNet + ridge, mean PCK@0.1 over the 20 VOC classes
PAPER_TABLE2 = dict(zip(
    ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
     "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"],
    [21.3, 25.1, 22.7, 16.4, 47.3, 27.2, 29.9, 25.4, 19.7, 26.3, 22.0, 27.1, 25.5, 21.8, 33.8, 41.0, 28.2, 23.0, 23.9,
     47.3]))
PAPER_TABLE3_MEAN = 20.73  # mean AP (%) over 21 classes, VOC12 val
PAPER_TABLE3_BG = 79.12
PAPER_RGB_MAE = 0.12


@dataclasses.dataclass(frozen=True)
class Config:
    n_faces: int = 500
    n_objects: int = 300
    face_size: int = 128  # synthetic face image size = descriptor input size
    crop_size: int = 64  # look-back crop size
    object_crop: int = 128  # keypoint instance crop / whole-image descriptor size
    attribute: str = "yaw"
    seed: int = 0
    stand_in: bool = False  # tiny: random-projection descriptor instead of the backbone


CONFIGS = {
    "tiny": Config(n_faces=36, n_objects=36, face_size=64, crop_size=32, object_crop=48, stand_in=True),
    "default": Config(),
    "full": Config(n_faces=2000, n_objects=1500, crop_size=128),
}


def config_for(size: str, seed: int = 0) -> Config:
    return dataclasses.replace(CONFIGS[size], seed=seed)


def make_featurizers(cfg: Config, weights: str | None = None) -> tuple[Callable, Callable, str]:
    """(main descriptor, fc6-role global-pool descriptor, description), both memoised."""
    if cfg.stand_in:
        f = memoised(feats.random_featurizer(256, (16, 16), cfg.seed))
        return f, f, "random projection of 16x16 pixels (stand-in, tiny size only)"
    fz = feats.pretrained_featurizers(weights, ("pool5", "fc6"))
    return (memoised(fz["pool5"]), memoised(fz["fc6"]),
            "MobileNetV2 ImageNet, flattened pool5-role map (block16, stride 32), l2-normalised; the fc6-role "
            "global average pool (1280-d) is shown as an extra Table 1 row")


def memoised(featurize):
    """The featurizer with a cache keyed by the images' bytes (faces are described once for several tasks)."""
    import hashlib

    cache = {}

    def f(images):
        images = np.ascontiguousarray(images)
        key = (images.shape, hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest())
        if key not in cache:
            cache[key] = featurize(images)
        return cache[key]

    return f


def _describe_at(featurize, size):
    return lambda images: featurize(feats.resize_images(images, (size, size)))


def _split(samples, seed, key="split"):
    tr = [s for s in samples if s.extras.get(key, "train") == "train"]
    te = [s for s in samples if s.extras.get(key, "train") != "train"]
    if not te:  # no split field: deterministic 75 / 25
        idx = np.random.default_rng(seed).permutation(len(samples))
        cut = int(round(0.75 * len(samples)))
        tr, te = [samples[i] for i in idx[:cut]], [samples[i] for i in idx[cut:]]
    return tr, te


def load_faces(cfg: Config):
    from convcorr_jax.data import synthetic

    tr = synthetic.load_faces(n=cfg.n_faces, seed=cfg.seed, split="train", image_size=cfg.face_size)
    te = synthetic.load_faces(n=cfg.n_faces, seed=cfg.seed, split="test", image_size=cfg.face_size)
    return list(tr), list(te)


def load_objects(cfg: Config):
    from convcorr_jax.data import synthetic

    return (list(synthetic.load_objects(n=cfg.n_objects, seed=cfg.seed, split="train")),
            list(synthetic.load_objects(n=cfg.n_objects, seed=cfg.seed, split="test")))


def load_objects_segmentation(cfg: Config):
    from convcorr_jax.data import synthetic

    return (list(synthetic.load_objects_segmentation(n=cfg.n_objects, seed=cfg.seed, split="train")),
            list(synthetic.load_objects_segmentation(n=cfg.n_objects, seed=cfg.seed, split="test")),
            ("background",) + tuple(synthetic.OBJECT_CATEGORIES))


# ------------------------------------------------------------------------------------------------ tasks


def _fmt(x, digits=3):
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def run_faces(cfg: Config, featurize, figdir, train=None, test=None, dataset="synthetic faces",
              paper_col: int = 0, featurize_fc6=None) -> tuple[str, dict]:
    """Table 1 (+ look-back, Fig. 2a, Fig. 3) on one face dataset. Returns (markdown, metrics)."""
    if train is None:
        train, test = load_faces(cfg)
    im_tr, P_tr, _ = stack_samples(train)
    im_te, P_te, _ = stack_samples(test)
    size = im_tr.shape[1]
    alt = featurize_fc6 is not None and featurize_fc6 is not featurize
    F_tr = featurize(im_tr)
    F6_tr = featurize_fc6(im_tr) if alt else None  # same forward pass
    F_te = featurize(im_te)
    F6_te = featurize_fc6(im_te) if alt else None
    pix = feats.pixel_featurizer((32, 32))
    res = landmarks.landmark_table(F_tr, P_tr, F_te, P_te, pix(im_tr), pix(im_te), seed=cfg.seed)
    if alt:
        m6 = landmarks.fit_points(F6_tr, P_tr, None, seed=cfg.seed)
        res.errors[FC6_ROW] = float(np.mean(landmarks.face_errors(landmarks.predict_points(m6, F6_te), P_te)))
    # look-back: out-of-fold first-stage predictions on train define training crops and margins
    oof = landmarks.oof_points(F_tr, P_tr, res.lam, 4, cfg.seed)
    crop_feat = featurize  # crops are already crop_size x crop_size
    lb = lookback.fit_lookback(im_tr, P_tr, oof, crop_feat, lookback.FACE68_SUBSETS, cfg.crop_size, seed=cfg.seed)
    stage1 = res.pred["ConvNet + ridge"]
    refined, boxes = lookback.apply_lookback(lb, im_te, stage1, crop_feat)
    err_before = landmarks.face_errors(stage1, P_te)
    err_after = landmarks.face_errors(refined, P_te)
    res.errors["ConvNet + look-back"] = float(np.mean(err_after))
    from convcorr_jax.data.faces300w import interocular_distance

    iod = interocular_distance(P_te)[:, None]
    per_subset = {}
    for name, idx in lookback.FACE68_SUBSETS.items():
        idx = list(idx)
        b = np.mean(np.linalg.norm(stage1[:, idx] - P_te[:, idx], axis=-1) / iod)
        a = np.mean(np.linalg.norm(refined[:, idx] - P_te[:, idx], axis=-1) / iod)
        per_subset[name] = (float(b), float(a), lb.margins[name])
    # figures
    k = min(6, len(im_te))
    figures.plot_points(figdir / "razavian_fig3_lookback.png", im_te[:k], [P_te[:k], stage1[:k], refined[:k]],
                        ("lime", "red", "cyan"), {n: b[:k] for n, b in boxes.items()},
                        [f"{err_before[i]:.3f} -> {err_after[i]:.3f}" for i in range(k)])
    names = list(per_subset)
    figures.plot_curves(figdir / "razavian_fig2a_subsets.png", np.arange(len(names)),
                        {"before look-back": [per_subset[n][0] for n in names],
                         "after look-back": [per_subset[n][1] for n in names]},
                        "subset: " + ", ".join(f"{i}={n}" for i, n in enumerate(names)), "normalised error",
                        "Fig. 2a: error per landmark subset")
    paper_name = ("Helen", "LFPW", "IBUG")[paper_col]
    md = [f"**Table 1** (mean landmark error / inter-ocular distance; {dataset}: {len(train)} train, {len(test)} test, "
          f"{size}x{size} px; lambda {res.lam:.2g} by 4-fold CV)", "",
          f"| method | ours ({dataset}) | paper {paper_name} (different data) |", "|---|---|---|"]
    for m in ("Dataset Bias", "RGB + ridge", FC6_ROW, "ConvNet + ridge", "ConvNet + look-back"):
        if m in res.errors:
            paper = PAPER_TABLE1[m][paper_col] if m in PAPER_TABLE1 else None
            md.append(f"| {m} | {_fmt(res.errors[m])} | {_fmt(paper)} |")
    md += ["", f"**Look-back per subset** (Fig. 2a; six subsets, crops {cfg.crop_size} px, margin = max out-of-fold "
           "training error)", "", "| subset | before | after | margin (px) |", "|---|---|---|---|"]
    md += [f"| {n} | {b:.3f} | {a:.3f} | {m:.1f} |" for n, (b, a, m) in per_subset.items()]
    improved = res.errors["ConvNet + look-back"] < res.errors["ConvNet + ridge"]
    md += ["", f"Look-back {'improves' if improved else 'does NOT improve'} the error: "
           f"{res.errors['ConvNet + ridge']:.4f} -> {res.errors['ConvNet + look-back']:.4f} "
           f"({int(np.sum(err_after < err_before))}/{len(err_after)} test faces better).", "",
           "![look-back](figures/razavian_fig3_lookback.png) ![subsets](figures/razavian_fig2a_subsets.png)", ""]
    metrics = {"table1": res.errors, "lookback_subsets": per_subset, "lambda": res.lam,
               "lookback_improves": bool(improved)}
    return "\n".join(md), metrics


def run_keypoints(cfg: Config, featurize, figdir, train=None, test=None, dataset="synthetic objects"
                  ) -> tuple[str, dict]:
    """Table 2 and Fig. 2b."""
    if train is None:
        train, test = load_objects(cfg)
    crop_feat = _describe_at(featurize, cfg.object_crop)
    res = keypoints.keypoint_table(train, test, crop_feat, cfg.object_crop, seed=cfg.seed)
    cats = [c for c in res.pck if c != "mean"]
    curves = dict(res.curves)
    curves["mean"] = np.mean([res.curves[c] for c in cats], axis=0)
    figures.plot_curves(figdir / "razavian_fig2b_pck.png", res.alphas, curves, "alpha", "PCK",
                        f"Fig. 2b: PCK vs alpha ({dataset})")
    md = [f"**Table 2** (PCK@0.1, %, per category; {dataset}: {len(train)} train / {len(test)} test instances; "
          f"square box crops at {cfg.object_crop} px)", "",
          "| category | test instances | ours | paper ConvNet + ridge (different data) |", "|---|---|---|---|"]
    md += [f"| {c} | {res.counts[c]} | {100 * res.pck[c]:.1f} | {PAPER_TABLE2.get(c, '-')} |" for c in cats]
    md += [f"| **mean** | {sum(res.counts.values())} | {100 * res.pck['mean']:.1f} | {PAPER_TABLE2_MEAN} |", "",
           "![pck](figures/razavian_fig2b_pck.png)", ""]
    return "\n".join(md), {"pck@0.1": res.pck, "counts": res.counts}


def run_rgb_and_segmentation(cfg: Config, featurize, figdir, seg=None, dataset="synthetic objects"
                             ) -> tuple[str, dict]:
    """Fig. 4 (RGB reconstruction) and Table 3 / Fig. 5 (segmentation) on the same whole images."""
    seg_tr, seg_te, class_names = seg if seg is not None else load_objects_segmentation(cfg)
    whole = _describe_at(featurize, cfg.object_crop)
    im_tr = np.stack([s.image for s in seg_tr])
    im_te = np.stack([s.image for s in seg_te])
    F_tr, F_te = whole(im_tr), whole(im_te)
    r = rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed)
    k = min(8, len(im_te))
    grid = figures.image_grid([list(figures.to_uint8(r.originals[:k])), list(figures.to_uint8(r.recon[:k]))], scale=2)
    figures.save_png(figdir / "razavian_fig4_rgb.png", grid)
    C = len(class_names)
    lab_tr = np.stack([s.label for s in seg_tr])
    lab_te = np.stack([s.label for s in seg_te])
    sres = segmentation.segmentation_table(F_tr, lab_tr, F_te, lab_te, C, seed=cfg.seed)
    _seg_figure(figdir / "razavian_fig5_segmentation.png", im_te[:3], lab_te[:3], sres)
    md = [f"**Fig. 4 RGB reconstruction** ({dataset}, {len(im_tr)} train / {len(im_te)} test images, 46x46x3 = 6,348 "
          f"regressors): held-out MAE {r.mae:.3f} (predicting the mean image: {r.mae_mean_image:.3f}); "
          f"paper (different data, ImageNet): {PAPER_RGB_MAE}", "",
          "![rgb](figures/razavian_fig4_rgb.png) (top: originals, bottom: reconstructions)", "",
          f"**Table 3** (per-class pixel AP, %; {dataset}: 30x30x{C} = {900 * C:,} regressors + {C}x{C} mixing "
          f"matrix; pixel accuracy {100 * sres.pixel_acc:.1f}%)", "",
          "| class | AP ours | IoU ours |", "|---|---|---|"]
    md += [f"| {n} | {_fmt(100 * sres.ap[i], 1)} | {_fmt(100 * sres.iou[i], 1)} |" for i, n in enumerate(class_names)]
    md += [f"| **mean** | {100 * sres.mean_ap:.1f} | {100 * np.nanmean(sres.iou):.1f} |", "",
           f"Paper (different data, VOC12 val, 21 classes): mean AP {PAPER_TABLE3_MEAN}, background AP {PAPER_TABLE3_BG}.",
           "", "![segmentation](figures/razavian_fig5_segmentation.png)", ""]
    metrics = {"rgb_mae": r.mae, "rgb_mae_mean_image": r.mae_mean_image,
               "seg_ap": dict(zip(class_names, map(float, sres.ap))), "seg_mean_ap": sres.mean_ap,
               "seg_mean_iou": float(np.nanmean(sres.iou)), "seg_pixel_acc": sres.pixel_acc}
    return "\n".join(md), metrics


def _seg_figure(path, images, labels, sres):
    """Per image: the image, ground truth, arg-max and each class's score map (one shared intensity scale)."""
    n, H, W = labels.shape
    C = sres.scores.shape[-1]
    palette = (np.array([[0, 0, 0]] + [[(37 * i) % 256, (91 * i) % 256, (157 * i) % 256] for i in range(1, 256)])
               ).astype(np.uint8)
    s = sres.scores[:n]
    lo, hi = float(np.percentile(s, 1)), float(np.percentile(s, 99))
    rows = []
    for i in range(n):
        maps = [figures.to_uint8((s[i, ..., c] - lo) / max(hi - lo, 1e-6)) for c in range(C)]
        rows.append([images[i] if images[i].shape[:2] == (H, W) else np.zeros((H, W, 3), np.uint8),
                     palette[labels[i]], palette[sres.pred[i]]] + maps)
    figures.save_png(path, figures.image_grid(rows))


def run_directions(cfg: Config, featurize, figdir, train=None, test=None) -> tuple[str, dict]:
    """Eq. 6-7 / Fig. 6 on the synthetic faces' attribute `cfg.attribute`."""
    if train is None:
        train, test = load_faces(cfg)
    name = cfg.attribute
    im_tr = np.stack([s.image for s in train])
    im_te = np.stack([s.image for s in test])
    a_tr = np.array([s.extras["attributes"][name] for s in train], np.float64)
    a_te = np.array([s.extras["attributes"][name] for s in test], np.float64)
    F_tr, F_te = featurize(im_tr), featurize(im_te)
    d = dirs.learn_direction(F_tr, a_tr, seed=cfg.seed)
    pred = F_te @ d.model.W + d.model.b
    r2 = 1 - np.mean((pred - a_te) ** 2) / max(np.var(a_te), 1e-12)
    dec = rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed)
    k = min(4, len(im_te))
    moved = dirs.move_along(d, F_te[:k], steps=7)  # [k, 7, d]
    strips = rgb.decode(dec.model, moved.reshape(-1, moved.shape[-1])).reshape(k, 7, rgb.SIZE, rgb.SIZE, 3)
    # does the decoded image carry the attribute? describe the decoded faces again and regress the attribute
    redesc = featurize(feats.resize_images(figures.to_uint8(strips.reshape(-1, rgb.SIZE, rgb.SIZE, 3)),
                                           im_tr.shape[1:3]))
    a_back = (redesc @ d.model.W + d.model.b).reshape(k, 7)
    rho = float(np.mean([np.corrcoef(np.arange(7), a_back[i])[0, 1] for i in range(k)]))
    rows = [[figures.to_uint8(dec.originals[i])] + list(figures.to_uint8(strips[i])) for i in range(k)]
    figures.save_png(figdir / "razavian_fig6_directions.png", figures.image_grid(rows, scale=2))
    md = [f"**Fig. 6 semantic direction** (attribute `{name}` of the synthetic faces): attribute regressor test "
          f"R^2 {r2:.3f}; moving along the direction over t in [{d.t_range[0]:.3f}, {d.t_range[1]:.3f}] and "
          f"decoding to RGB; the attribute regressed back from the decoded images correlates with t at "
          f"{rho:.2f} (mean Pearson over {k} faces).", "",
          "![directions](figures/razavian_fig6_directions.png) (first column: 46x46 target of the original; then the "
          "decoded strip)", ""]
    return "\n".join(md), {"attribute": name, "r2": float(r2), "decoded_attribute_corr": rho}


def run_faces_300w(cfg: Config, featurize, figdir, root, featurize_fc6=None) -> tuple[list[str], dict]:
    """Table 1 on real 300-W faces (Helen, LFPW, IBUG columns) from a folder with images; markdown parts, metrics."""
    from convcorr_jax.data.faces300w import load_300w
    from convcorr_jax.regression import real

    splits = real.split_300w(load_300w(root, require_images=True))
    parts, metrics = [], {}
    for col, name in enumerate(("Helen", "LFPW", "IBUG")):
        if name in splits:
            tr, te = (real.face_crop_samples(x, cfg.face_size) for x in splits[name])
            md, m = run_faces(cfg, featurize, figdir, tr, te, dataset=name, paper_col=col, featurize_fc6=featurize_fc6)
            parts.append(md)
            metrics[name] = m
    return parts, metrics


def demo_stage(ctx):
    """All Razavian et al. experiments at ctx.size; figures under ctx.figures."""
    from convcorr_jax.demo import StageResult

    cfg = config_for(ctx.size, ctx.seed)
    t0 = time.perf_counter()
    featurize, featurize_fc6, desc = make_featurizers(cfg, ctx.weights)
    figdir = ctx.figures
    faces = load_faces(cfg)
    parts, metrics = [f"Descriptor: {desc}. Config: `{dataclasses.asdict(cfg)}`.", ""], {}
    md, m = run_faces(cfg, featurize, figdir, *faces, featurize_fc6=featurize_fc6)
    parts.append(md)
    metrics["faces"] = m
    if ctx.roots.get("300w"):  # the same table on the user's real 300-W faces
        real_parts, metrics["faces_300w"] = run_faces_300w(cfg, featurize, figdir, ctx.roots["300w"], featurize_fc6)
        parts += real_parts
    md, m = run_directions(cfg, featurize, figdir, *faces)
    parts.append(md)
    metrics["directions"] = m
    md, m = run_keypoints(cfg, featurize, figdir)
    parts.append(md)
    metrics["keypoints"] = m
    md, m = run_rgb_and_segmentation(cfg, featurize, figdir)
    parts.append(md)
    metrics["rgb_seg"] = m
    t1 = metrics["faces"]["table1"]
    summary = (f"landmarks {t1['ConvNet + ridge']:.3f} -> look-back {t1['ConvNet + look-back']:.3f} "
               f"(bias {t1['Dataset Bias']:.3f}); PCK@0.1 {100 * metrics['keypoints']['pck@0.1']['mean']:.1f}%; "
               f"RGB MAE {metrics['rgb_seg']['rgb_mae']:.3f}; seg mAP {100 * metrics['rgb_seg']['seg_mean_ap']:.1f}%"
               f" ({time.perf_counter() - t0:.0f} s)")
    return StageResult(summary, "\n".join(parts), metrics)
