"""Razavian et al. 2015 on FLIC (Sapp & Taskar): the 11 upper-body joints, RGB reconstruction and a direction,
all from one descriptor of the whole frame or of the labelled person's box (the `razavian2015.tables` stage with
data=flic; `flic_crop` "frame" or "person").

    convcorr run razavian2015.tables --set data=flic --data-root FLIC        # MobileNetV2, 1,000 / 400 frames
    convcorr run razavian2015.tables --set data=flic --data-root FLIC --set flic_crop=person   # the paper's protocol
    convcorr run razavian2015.tables --size tiny --set data=flic --data-root FLIC --backbone caffenet \\
        --set weights=random

Prints "FLIC PCK@0.1 P% / @0.2 Q% (<descriptor>); RGB MAE M" for the headline descriptor; measured numbers and
times are in bench/RESULTS_real.md.

Protocol (flic_crop="frame", the default). Frames: a seeded sub-sample of `n_flic_train` FLIC train and `n_flic_test`
FLIC test frames (examples.mat's istrain / istest; None: all 3,987 / 1,016), whole frames as stored (360 x 240 for the
2x downscaled copy). No box, person crop or label is used at test time: the descriptor sees the whole frame. Targets:
the 11 labelled joints in frame pixels, one ridge regressor per coordinate (22), one lambda chosen by 4-fold CV on the
training frames only, over `landmarks.LAMBDAS` (1e-7..1e2 in half decades) continued by `common.EXTEND_TOP` half
decades (to 1e6) for a row whose best is 1e2 (`ridge.fit_cv`'s extend_top; a choice inside the grid is unchanged); the
table marks a lambda at the edge of those tried. PCK: a joint is correct when its error is <= alpha x torso size
(|lsho - rhip|, the FLIC / MODEC normaliser, per frame), per joint, then the mean over the 11 joints, at alpha 0.1 and
0.2. Rows: the dataset bias (the mean training pose), RGB + ridge (32 x 32 pixels), the descriptor (the headline: the
flattened pool5-role map, the input of the paper's fc6) and `extra_descriptor` (a second row, by default the global
average pool). Fig. 4: 46 x 46 RGB of the whole frame (squeezed from 3:2) by 6,348 regressors, MAE in [0, 1] units,
one lambda per descriptor by the joints' CV and grid rule (the table gives it, an edge marked). Fig. 6:
examples.mat holds no semantic attribute (its fields are poselet_hit_idx, moviename, coords, filepath, imgdims,
currframe, torsobox, istrain, istest), so the direction is learnt for a geometric attribute derived from the joint
labels, `flic_attribute`: "torso_x" (the torso centre's x / frame width: where the person stands) or "torso_size" (the
torso size / frame height: how close).

flic_crop="person" (the paper's protocol). Razavian et al.'s keypoint experiment (Table 2, PASCAL) describes the
ground-truth object box; here the object box is the person box of Long et al.'s FLIC experiments
(`convcorr_eval.long2014.common.flic_person_box`: the labelled torso box made square around its centre, side 2.5 x
its longer side). Like the paper's object box it comes from the labels, for the training and the test frames
alike, so the test descriptor knows which person is meant and where and how large it is; flic_crop="frame"
uses no test label. Each box is cropped (`core.geometry`, bilinear, zeros outside the frame) to the backbone's
`default_input_size` (224 x 224 for MobileNetV2); the ridge regressors are fitted to the joints in crop pixels and
their predictions are mapped back to the frame with the inverse affine, so PCK stays torso-normalised in frame
pixels; the dataset-bias row is the mean training pose in crop pixels mapped back the same way. RGB + ridge and
Fig. 4 see the crop (46 x 46, square). Fig. 6 is skipped: both label-derived attributes (where the torso is, how
large it is) are what the crop normalises away.
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.core import geometry
from convcorr_jax.backbones import get as get_backbone
from convcorr_jax.data.flic import FLIC_LABELLED_NAMES
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.metrics import pck_per_keypoint
from convcorr_jax.regression import landmarks, rgb
from convcorr_jax.regression.features import pixel_featurizer, resize_images
from convcorr_eval.long2014.common import flic_person_box
from convcorr_eval.razavian2015 import common, data, directions
from convcorr_eval.razavian2015.figures import image_grid, plot_points, save_image, to_uint8
from convcorr_eval.report import percent

ALPHAS = (0.1, 0.2)
ATTRIBUTES = common.FLIC_ATTRIBUTES
CROPS = ("frame", "person")
CROP_CHUNK = 100  # frames cropped per call (bounds the float32 working copy)


def attribute(frames: dict, name: str) -> np.ndarray:
    """[N] values of a label-derived attribute (`ATTRIBUTES`) of `flic_frames` output."""
    h, w = frames["images"].shape[1:3]
    tb = frames["torso_box"]
    if name == "torso_x":
        return (tb[:, 0] + tb[:, 2]) / 2 / w
    if name == "torso_size":
        return frames["torso"] / h
    raise InputError("config", "flic_attribute", f"one of {list(ATTRIBUTES)}", name)


def views(frames: dict, crop: str, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """What the regressors see of `flic_frames` output and where: images uint8 [N, h, w, 3] and affine maps
    M [N, 2, 3] (frame -> image pixels). crop "frame": the frames and the identity (`size` unused, None); "person":
    the `flic_person_box` of each labelled torso box cropped to `size` (h, w), zeros outside the frame."""
    im = frames["images"]
    if crop == "frame":
        return im, np.broadcast_to(np.eye(2, 3), (len(im), 2, 3))
    if crop != "person":
        raise InputError("config", "flic_crop", f"one of {list(CROPS)}", crop)
    if size is None:
        raise InputError("views", "size", "the (h, w) of the person crops (crop 'person')", None)
    M = geometry.box_to_affine(flic_person_box(frames["torso_box"]), size)
    crops = [geometry.crop(im[i:i + CROP_CHUNK], M[i:i + CROP_CHUNK], size, border="constant")
             for i in range(0, len(im), CROP_CHUNK)]
    return np.concatenate(crops), M


def pck_rows(pred: np.ndarray, gt: np.ndarray, torso: np.ndarray) -> dict[str, np.ndarray]:
    """{"0.1": [K + 1], "0.2": [K + 1]}: PCK (0..1) per joint, torso-normalised, and their mean (last entry)."""
    vis = np.ones(gt.shape[:2], bool)
    out = {}
    for a in ALPHAS:
        per = pck_per_keypoint(pred, gt, vis, torso, a)
        out[f"{a:g}"] = np.r_[per, per.mean()]
    return out


def section(cfg: common.Config, desc: common.Descriptors, figdir) -> tuple[str, dict]:
    """FLIC pose table, Fig. 4 RGB and Fig. 6 direction: (markdown, metrics)."""
    tr = data.flic_frames(cfg.dataset_root(), "train", cfg.n_flic_train, cfg.seed)
    te = data.flic_frames(cfg.dataset_root(), "test", cfg.n_flic_test, cfg.seed + 1)
    person = cfg.flic_crop == "person"
    size: tuple[int, int] | None = None
    if person:
        h, w = get_backbone(cfg.backbone).default_input_size
        size = (h, w)
    (im_tr, M_tr), (im_te, M_te) = views(tr, cfg.flic_crop, size), views(te, cfg.flic_crop, size)
    P_tr, P_te = tr["points"].astype(np.float64), te["points"].astype(np.float64)
    Q_tr, back = geometry.transform_points(P_tr, M_tr), geometry.invert_affine(M_te)  # targets in view pixels
    n_tr, n_te = len(im_tr), len(im_te)
    F_tr, F_te = desc.main(im_tr), desc.main(im_te)
    pix = pixel_featurizer((32, 32))
    preds = {"Dataset Bias (mean training pose)": np.broadcast_to(Q_tr.mean(0), P_te.shape)}  # view pixels
    lams, edges = {}, {}
    rows = [("RGB + ridge (32x32 pixels)", pix(im_tr), pix(im_te)), ("ConvNet + ridge", F_tr, F_te)]
    if desc.extra is not None:
        assert desc.extra_label is not None  # `common.make_descriptors` labels the extra descriptor it makes
        rows.append((desc.extra_label, desc.extra(im_tr), desc.extra(im_te)))
    for name, X_tr, X_te in rows:
        model = landmarks.fit_points(X_tr, Q_tr, None, seed=cfg.seed, extend_top=common.EXTEND_TOP)
        preds[name] = landmarks.predict_points(model, X_te)
        assert model.edge is not None  # fit_points records it
        lams[name], edges[name] = float(model.lam[0]), str(model.edge[0])
    pck = {name: pck_rows(geometry.transform_points(p, back), P_te, te["torso"]) for name, p in preds.items()}
    joints = list(FLIC_LABELLED_NAMES)
    k = min(6, n_te)
    plot_points(figdir / "razavian_flic_joints.png", im_te[:k],
                [geometry.transform_points(P_te[:k], M_te[:k]), preds["ConvNet + ridge"][:k]], ("lime", "red"),
                labels=("ground truth", "ConvNet + ridge"), title="FLIC test joints: ground truth and ConvNet + ridge")
    head = "| method | lambda | " + " | ".join(joints) + " | **mean** |"
    where = ("the person box (the labelled torso box made square, side 2.5 x its longer side, from the labels for "
             f"train and test alike as the paper's object box; cropped to {im_tr.shape[2]}x{im_tr.shape[1]} px, "
             "joints regressed in crop pixels and mapped back to the frame)" if person else
             f"the whole frame ({im_tr.shape[2]}x{im_tr.shape[1]} px, no test label used)")
    md = [f"**FLIC joints from {where}** ({n_tr} train / {n_te} test frames of FLIC's own split; PCK (%) per "
          "joint in frame pixels, normalised by the frame's torso size |lsho - rhip|, and the mean over the 11 "
          f"joints; lambda by 4-fold CV on the training frames over {landmarks.LAMBDAS[0]:.0e}.."
          f"{landmarks.LAMBDAS[-1]:.0e}, continued by {common.EXTEND_TOP} more steps of the grid where the best is "
          f"its top; a lambda at the edge of those tried is marked). Headline: ConvNet + ridge, {desc.text}.",
          ""]
    for a in ALPHAS:
        md += [f"PCK@{a:g}", "", head, "|---|---|" + "---|" * (len(joints) + 1)]
        for name, v in pck.items():
            lam = common.lambda_text(lams[name], edges[name]) if name in lams else "-"
            md.append(f"| {name} | {lam} | " + " | ".join(f"{percent(x)}" for x in v[f"{a:g}"][:-1])
                      + f" | **{100 * v[f'{a:g}'][-1]:.1f}** |")
        md.append("")
    md += ["![joints](figures/razavian_flic_joints.png) (green: truth, red: ConvNet + ridge)", ""]
    # Fig. 4: RGB reconstruction of the view (whole frame or person crop)
    r = rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed, extend_top=common.EXTEND_TOP)
    rgb_extra = (rgb.rgb_reconstruction(desc.extra(im_tr), im_tr, desc.extra(im_te), im_te, seed=cfg.seed,
                                        extend_top=common.EXTEND_TOP) if desc.extra is not None else None)
    rgb_rows = {"ConvNet + ridge": r, **({desc.extra_label: rgb_extra} if rgb_extra is not None else {})}
    show = (rgb.SIZE, int(round(rgb.SIZE * im_tr.shape[2] / im_tr.shape[1])))  # back to the view's aspect
    k = min(8, n_te)
    grid = [list(resize_images(to_uint8(r.originals[:k]), show)), list(resize_images(to_uint8(r.recon[:k]), show))]
    if rgb_extra is not None:
        grid.append(list(resize_images(to_uint8(rgb_extra.recon[:k]), show)))
    save_image(figdir / "razavian_flic_rgb.png", image_grid(grid), scale=2,
               row_titles=("original", "from the descriptor", "from the second descriptor")[:len(grid)],
               title="Fig. 4 on FLIC: test images rebuilt in RGB from their descriptors")
    md += ["**Fig. 4 on FLIC** (46x46x3 = 6,348 regressors of the "
           + ("person crop" if person else "whole frame, squeezed from 3:2") + "; MAE in [0, 1] units on the test "
           "frames; lambda by the joints' CV and grid rule, an edge marked)", "", "| descriptor | lambda | RGB MAE |",
           "|---|---|---|", f"| predicting the training mean image | - | {r.mae_mean_image:.3f} |"]
    md += [f"| {name} | {common.lambda_text(x.lam, x.edge)} | {x.mae:.3f} |" for name, x in rgb_rows.items()]
    md += ["", "![rgb](figures/razavian_flic_rgb.png) (rows: originals, ConvNet + ridge"
           + (f", {desc.extra_label}" if rgb_extra is not None else "")
           + f"; shown at the {'crop' if person else 'frame'}'s aspect)", ""]
    metrics = {"crop": cfg.flic_crop, "n_train": n_tr, "n_test": n_te, "joints": joints, "lambda": lams,
               "lambda_edge": edges,
               "pck": {m: {a: [float(x) for x in v[a]] for a in v} for m, v in pck.items()},
               "rgb_mae": r.mae, "rgb_mae_mean_image": r.mae_mean_image,
               "rgb_mae_extra": None if rgb_extra is None else rgb_extra.mae,
               "rgb_lambda": {name: x.lam for name, x in rgb_rows.items()},
               "rgb_lambda_edge": {name: x.edge for name, x in rgb_rows.items()}, "direction": None,
               "descriptor": desc.text, "extra_descriptor": desc.extra_label}
    if person:  # the label-derived attributes are what the person crop normalises away
        md += ["Fig. 6 is run on whole frames only (flic_crop=frame): the person crop is centred on the torso and "
               "scaled by it, which removes both label-derived attributes.", ""]
        return "\n".join(md), metrics
    # Fig. 6: a direction for a label-derived attribute (examples.mat has no semantic attribute)
    name = cfg.flic_attribute
    what = {"torso_x": "`torso_x`, the torso centre's x / frame width, derived from the FLIC torso box",
            "torso_size": "`torso_size`, the torso size / frame height, derived from the FLIC joints"}.get(name, name)
    dmd, dm = directions.attribute_section(cfg, desc, figdir, im_tr, attribute(tr, name), im_te, attribute(te, name),
                                           f"FLIC has no semantic attribute; {what}", name, tag="_flic",
                                           decoder=r)  # Fig. 4's decoder: the same descriptors and frames
    md += [dmd]
    return "\n".join(md), {**metrics, "direction": dm}


def summary(m: dict) -> str:
    p = m["pck"]["ConvNet + ridge"]
    where = "FLIC" if m["crop"] == "frame" else f"FLIC {m['crop']} box"
    return (f"{where} PCK@0.1 {percent(p['0.1'][-1])}% / @0.2 {percent(p['0.2'][-1])}% "
            f"(headline descriptor); RGB MAE {m['rgb_mae']:.3f}")
