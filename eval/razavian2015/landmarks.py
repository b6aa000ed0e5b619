"""Razavian et al. 2015 Table 1, Fig. 2a and Fig. 3: facial landmarks by ridge regression, and the look-back.

    convcorr run razavian2015.landmarks                                        # synthetic faces, MobileNetV2
    convcorr run razavian2015.landmarks --set data=300w --data-root DIR        # 300-W (helen/, lfpw/, afw/, ibug/)
    convcorr run razavian2015.landmarks --size tiny --backbone caffenet --set weights=random

Prints the mean landmark error / inter-ocular distance (between the outer eye corners, as 300-W's evaluation) of
ConvNet + ridge, after the look-back, and of the dataset bias: "landmarks E1 -> look-back E2 (bias E0)".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcorr_jax.data.faces300w import interocular_distance
from convcorr_jax.regression import landmarks, lookback
from convcorr_jax.regression.features import pixel_featurizer
from convcorr_jax.regression.landmarks import stack_samples
from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.razavian2015 import common, data, paper
from convcorr_eval.razavian2015.figures import plot_curves, plot_points
from convcorr_eval.report import comparable, ran_on


@dataclasses.dataclass(frozen=True)
class Config(common.Config):
    """Table 1 on synthetic faces or 300-W."""


def get_config(size: str = "default") -> Config:
    return common.config_at(Config, size)


def section(cfg: common.Config, desc: common.Descriptors, figdir, train, test, dataset: str = "synthetic faces",
            paper_col: int = 0) -> tuple[str, dict]:
    """Table 1 (+ look-back, Fig. 2a, Fig. 3) on one face dataset: (markdown, metrics)."""
    im_tr, P_tr, _ = stack_samples(train)
    im_te, P_te, _ = stack_samples(test)
    size = im_tr.shape[1]
    F_tr, F_te = desc.main(im_tr), desc.main(im_te)
    pix = pixel_featurizer((32, 32))
    res = landmarks.landmark_table(F_tr, P_tr, F_te, P_te, pix(im_tr), pix(im_te), seed=cfg.seed)
    extra_row = desc.extra_label
    if desc.extra is not None:  # same forward pass as the main descriptor
        assert extra_row is not None  # `make_descriptors` labels the extra descriptor it makes
        m6 = landmarks.fit_points(desc.extra(im_tr), P_tr, None, seed=cfg.seed)
        res.errors[extra_row] = float(np.mean(landmarks.face_errors(landmarks.predict_points(m6, desc.extra(im_te)),
                                                                    P_te)))
    # look-back: out-of-fold first-stage predictions on train define training crops and margins
    oof = landmarks.oof_points(F_tr, P_tr, res.lam, 4, cfg.seed)
    lb = lookback.fit_lookback(im_tr, P_tr, oof, desc.main, lookback.FACE68_SUBSETS, cfg.crop_size, seed=cfg.seed)
    stage1 = res.pred["ConvNet + ridge"]
    refined, boxes = lookback.apply_lookback(lb, im_te, stage1, desc.main)
    err_before = landmarks.face_errors(stage1, P_te)
    err_after = landmarks.face_errors(refined, P_te)
    res.errors["ConvNet + look-back"] = float(np.mean(err_after))
    iod = interocular_distance(P_te)[:, None]
    per_subset = {}
    for name, subset in lookback.FACE68_SUBSETS.items():
        idx = list(subset)
        b = np.mean(np.linalg.norm(stage1[:, idx] - P_te[:, idx], axis=-1) / iod)
        a = np.mean(np.linalg.norm(refined[:, idx] - P_te[:, idx], axis=-1) / iod)
        per_subset[name] = (float(b), float(a), lb.margins[name])
    tag = "" if dataset == "synthetic faces" else f"_{dataset.lower().replace(' ', '_')}"
    k = min(6, len(im_te))
    plot_points(figdir / f"razavian_fig3_lookback{tag}.png", im_te[:k], [P_te[:k], stage1[:k], refined[:k]],
                ("lime", "red", "cyan"), {n: b[:k] for n, b in boxes.items()},
                [f"{err_before[i]:.3f} -> {err_after[i]:.3f}" for i in range(k)],
                labels=("ground truth", "before look-back", "after look-back"),
                title=f"Fig. 3: look-back refinement ({dataset}; panel titles: normalised error before -> after)")
    names = list(per_subset)
    plot_curves(figdir / f"razavian_fig2a_subsets{tag}.png", np.arange(len(names)),
                {"before look-back": [per_subset[n][0] for n in names],
                 "after look-back": [per_subset[n][1] for n in names]},
                "subset: " + ", ".join(f"{i}={n}" for i, n in enumerate(names)), "normalised error",
                "Fig. 2a: error per landmark subset")
    paper_name = paper.TABLE1_COLUMNS[paper_col]
    with_paper = comparable(cfg)  # a tiny or random-weights run leaves the paper's column out
    md = [f"**Table 1** (mean landmark error / outer-eye-corner distance; {dataset}: {len(train)} train, "
          f"{len(test)} test, {size}x{size} px; lambda {res.lam:.2g} by 4-fold CV)", "",
          f"| method | ours ({dataset}; {ran_on(cfg, 'test')}) |"
          + (f" paper {paper_name} (different data) |" if with_paper else ""), "|---|---|" + "---|" * with_paper]
    for m in ("Dataset Bias", "RGB + ridge", "ConvNet + ridge", "ConvNet + look-back", extra_row):
        if m in res.errors:
            ref = paper.TABLE1[m][paper_col] if m in paper.TABLE1 else None
            md.append(f"| {m} | {common.fmt(res.errors[m])} |" + (f" {common.fmt(ref)} |" if with_paper else ""))
    md += ["", f"**Look-back per subset** (Fig. 2a; six subsets, crops {cfg.crop_size} px, margin = max out-of-fold "
           "training error)", "", "| subset | before | after | margin (px) |", "|---|---|---|---|"]
    md += [f"| {n} | {b:.3f} | {a:.3f} | {m:.1f} |" for n, (b, a, m) in per_subset.items()]
    improved = res.errors["ConvNet + look-back"] < res.errors["ConvNet + ridge"]
    md += ["", f"Look-back {'improves' if improved else 'does NOT improve'} the error: "
           f"{res.errors['ConvNet + ridge']:.4f} -> {res.errors['ConvNet + look-back']:.4f} "
           f"({int(np.sum(err_after < err_before))}/{len(err_after)} test faces better).", "",
           f"![look-back](figures/razavian_fig3_lookback{tag}.png) "
           f"![subsets](figures/razavian_fig2a_subsets{tag}.png)", ""]
    metrics = {"table1": res.errors, "lookback_subsets": per_subset, "lambda": res.lam,
               "lookback_improves": bool(improved)}
    return "\n".join(md), metrics


def summary(t1: dict) -> str:
    return (f"landmarks {t1['ConvNet + ridge']:.3f} -> look-back {t1['ConvNet + look-back']:.3f} "
            f"(bias {t1['Dataset Bias']:.3f})")


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic", "300w"))
    desc = common.make_descriptors(cfg)
    parts, metrics = [f"Descriptor: {desc.text}.", ""], {}
    if cfg.data == "synthetic":
        md, metrics["faces"] = section(cfg, desc, ctx.figures, *data.synthetic_faces(cfg))
        parts.append(md)
        return Result(summary(metrics["faces"]["table1"]), "\n".join(parts), metrics)
    lines = []
    for name, (tr, te) in data.faces_300w(cfg.dataset_root(), cfg.face_size).items():
        md, metrics[name] = section(cfg, desc, ctx.figures, tr, te, dataset=name,
                                    paper_col=paper.TABLE1_COLUMNS.index(name))
        parts.append(md)
        lines.append(f"{name}: {summary(metrics[name]['table1'])}")
    return Result("; ".join(lines) or "no 300-W split found", "\n".join(parts), metrics)
