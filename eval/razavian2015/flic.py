"""Razavian et al. 2015 on FLIC (Sapp & Taskar): the 11 upper-body joints, RGB reconstruction and a direction,
all from one descriptor of the whole frame (the `razavian2015.tables` stage with data=flic).

    convcorr run razavian2015.tables --set data=flic --data-root FLIC        # MobileNetV2, 1,000 / 400 frames
    convcorr run razavian2015.tables --size tiny --set data=flic --data-root FLIC --backbone caffenet --set weights=random

Runtime on the shared 2-core CPU (load average 8-12, so several times an idle machine's): default 18 min wall
(6.5 min CPU), tiny ~2 min wall (~40 s CPU). Prints (default, MobileNetV2 ImageNet weights) "FLIC PCK@0.1 3.7% /
@0.2 11.2% (global descriptor); RGB MAE 0.121"; the flattened pool5-role map row gives 6.6% / 21.2% and MAE 0.109.

Protocol. Frames: a seeded sub-sample of `n_flic_train` FLIC train and `n_flic_test` FLIC test frames (examples.mat's
istrain / istest; None: all 3,987 / 1,016), whole frames as stored (360 x 240 for the 2x downscaled copy). No
box, person crop or label is used at test time: the descriptor sees the whole frame. Targets: the 11 labelled
joints in frame pixels, one ridge regressor per coordinate (22), one lambda chosen by 4-fold CV on the training
frames only. PCK: a joint is correct when its error is <= alpha x torso size (|lsho - rhip|, the FLIC / MODEC
normaliser, per frame), per joint, then the mean over the 11 joints, at alpha 0.1 and 0.2. Rows: the dataset bias
(the mean training pose), RGB + ridge (32 x 32 pixels), the global descriptor (the headline, the paper's fc6) and
the flattened spatial map (`extra_descriptor`, a second row). Fig. 4: 46 x 46 RGB of the whole frame (squeezed
from 3:2) by 6,348 regressors, MAE in [0, 1] units. Fig. 6: examples.mat holds no semantic attribute (its fields
are poselet_hit_idx, moviename, coords, filepath, imgdims, currframe, torsobox, istrain, istest), so the direction
is learnt for a geometric attribute derived from the joint labels, `flic_attribute`: "torso_x" (the torso
centre's x / frame width: where the person stands) or "torso_size" (the torso size / frame height: how close).
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.data.flic import FLIC_LABELLED_NAMES
from convcorr_jax.errors import InputError
from convcorr_jax.metrics import pck_per_keypoint
from convcorr_jax.regression import landmarks, rgb
from convcorr_jax.regression.features import pixel_featurizer, resize_images
from convcorr_eval.razavian2015 import common, data, directions
from convcorr_eval.razavian2015.figures import image_grid, plot_points, save_image, to_uint8

ALPHAS = (0.1, 0.2)
ATTRIBUTES = ("torso_x", "torso_size")


def attribute(frames: dict, name: str) -> np.ndarray:
    """[N] values of a label-derived attribute (`ATTRIBUTES`) of `flic_frames` output."""
    h, w = frames["images"].shape[1:3]
    tb = frames["torso_box"]
    if name == "torso_x":
        return (tb[:, 0] + tb[:, 2]) / 2 / w
    if name == "torso_size":
        return frames["torso"] / h
    raise InputError("config", "flic_attribute", f"one of {list(ATTRIBUTES)}", name)


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
    tr = data.flic_frames(cfg.data_root, "train", cfg.n_flic_train, cfg.seed)
    te = data.flic_frames(cfg.data_root, "test", cfg.n_flic_test, cfg.seed + 1)
    im_tr, im_te = tr["images"], te["images"]
    P_tr, P_te = tr["points"].astype(np.float64), te["points"].astype(np.float64)
    n_tr, n_te = len(im_tr), len(im_te)
    F_tr, F_te = desc.main(im_tr), desc.main(im_te)
    pix = pixel_featurizer((32, 32))
    preds, lams = {"Dataset Bias (mean training pose)": np.broadcast_to(P_tr.mean(0), P_te.shape)}, {}
    rows = [("RGB + ridge (32x32 pixels)", pix(im_tr), pix(im_te)), ("ConvNet + ridge", F_tr, F_te)]
    if desc.extra is not None:
        rows.append((desc.extra_label, desc.extra(im_tr), desc.extra(im_te)))
    for name, X_tr, X_te in rows:
        model = landmarks.fit_points(X_tr, P_tr, None, seed=cfg.seed)
        preds[name] = landmarks.predict_points(model, X_te)
        lams[name] = float(model.lam[0])
    pck = {name: pck_rows(p, P_te, te["torso"]) for name, p in preds.items()}
    joints = list(FLIC_LABELLED_NAMES)
    k = min(6, n_te)
    plot_points(figdir / "razavian_flic_joints.png", im_te[:k], [P_te[:k], preds["ConvNet + ridge"][:k]],
                ("lime", "red"))
    head = "| method | lambda | " + " | ".join(joints) + " | **mean** |"
    md = [f"**FLIC joints from the whole frame** ({n_tr} train / {n_te} test frames of FLIC's own split, "
          f"{im_tr.shape[2]}x{im_tr.shape[1]} px; PCK (%) per joint, normalised by the frame's torso size "
          "|lsho - rhip|, and the mean over the 11 joints; lambda by 4-fold CV on the training frames). "
          "Headline: ConvNet + ridge, the global descriptor.", ""]
    for a in ALPHAS:
        md += [f"PCK@{a:g}", "", head, "|---|---|" + "---|" * (len(joints) + 1)]
        for name, v in pck.items():
            lam = f"{lams[name]:.2g}" if name in lams else "-"
            md.append(f"| {name} | {lam} | " + " | ".join(f"{100 * x:.1f}" for x in v[f"{a:g}"][:-1])
                      + f" | **{100 * v[f'{a:g}'][-1]:.1f}** |")
        md.append("")
    md += ["![joints](figures/razavian_flic_joints.png) (green: truth, red: ConvNet + ridge)", ""]
    # Fig. 4: RGB reconstruction of the whole frame
    r = rgb.rgb_reconstruction(F_tr, im_tr, F_te, im_te, seed=cfg.seed)
    rgb_extra = (rgb.rgb_reconstruction(desc.extra(im_tr), im_tr, desc.extra(im_te), im_te, seed=cfg.seed)
                 if desc.extra is not None else None)
    show = (rgb.SIZE, int(round(rgb.SIZE * im_tr.shape[2] / im_tr.shape[1])))  # back to the frame's aspect
    k = min(8, n_te)
    grid = [list(resize_images(to_uint8(r.originals[:k]), show)), list(resize_images(to_uint8(r.recon[:k]), show))]
    if rgb_extra is not None:
        grid.append(list(resize_images(to_uint8(rgb_extra.recon[:k]), show)))
    save_image(figdir / "razavian_flic_rgb.png", image_grid(grid), scale=2)
    md += ["**Fig. 4 on FLIC** (46x46x3 = 6,348 regressors of the whole frame, squeezed from 3:2; MAE in [0, 1] "
           "units on the test frames)", "", "| descriptor | RGB MAE |", "|---|---|",
           f"| predicting the training mean image | {r.mae_mean_image:.3f} |", f"| ConvNet + ridge | {r.mae:.3f} |"]
    if rgb_extra is not None:
        md.append(f"| {desc.extra_label} | {rgb_extra.mae:.3f} |")
    md += ["", "![rgb](figures/razavian_flic_rgb.png) (rows: originals, global descriptor"
           + (", flattened map" if rgb_extra is not None else "") + "; shown at the frame's aspect)", ""]
    # Fig. 6: a direction for a label-derived attribute (examples.mat has no semantic attribute)
    name = cfg.flic_attribute
    what = {"torso_x": "`torso_x`, the torso centre's x / frame width, derived from the FLIC torso box",
            "torso_size": "`torso_size`, the torso size / frame height, derived from the FLIC joints"}.get(name, name)
    dmd, dm = directions.attribute_section(cfg, desc, figdir, im_tr, attribute(tr, name), im_te, attribute(te, name),
                                           f"FLIC has no semantic attribute; {what}", name, tag="_flic")
    md += [dmd]
    metrics = {"n_train": n_tr, "n_test": n_te, "joints": joints, "lambda": lams,
               "pck": {m: {a: [float(x) for x in v[a]] for a in v} for m, v in pck.items()},
               "rgb_mae": r.mae, "rgb_mae_mean_image": r.mae_mean_image,
               "rgb_mae_extra": None if rgb_extra is None else rgb_extra.mae, "direction": dm,
               "extra_descriptor": desc.extra_label}
    return "\n".join(md), metrics


def summary(m: dict) -> str:
    p = m["pck"]["ConvNet + ridge"]
    return (f"FLIC PCK@0.1 {100 * p['0.1'][-1]:.1f}% / @0.2 {100 * p['0.2'][-1]:.1f}% (global descriptor); "
            f"RGB MAE {m['rgb_mae']:.3f}")
