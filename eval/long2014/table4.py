"""Long et al. 2014 Table 4 and Figure 6: sliding-window keypoint prediction, conv5 vs dense SIFT, +/- the
nearest-neighbour Gaussian prior; PCK at alpha = 0.1 of max(box w, h).

    convcorr run long2014.table4                                   # synthetic objects, boxes at 192 px
    convcorr run long2014.table4 --set prediction.box_size=500     # the paper's box size (slow on CPU)
    convcorr run long2014.table4 --set data=voc --data-root VOC2011
    convcorr run long2014.table4 --set data=flic --data-root FLIC --set prediction.max_negatives=none \
        --set val_Cs=1e-5,1e-4,1e-3 --set val_sift_Cs=0.1,1,10    # C per feature on a validation split of train

Prints PCK@0.1 of SIFT, SIFT+prior, conv5 and conv5+prior; measured numbers: bench/RESULTS_real.md.
data=flic: `n_train` / `n_test` people drawn from each split (FLIC default: 300 / 150; the person box of
`convcorr_eval.long2014.common`). With `val_Cs` / `val_sift_Cs`, C (conv5) and sift_C are chosen by the PCK@0.1
without prior on a validation split of the training instances (`val_fraction`, by movie where the samples
name one), then the detectors are retrained on the whole training split; the test split is never seen.
FLIC (300 / 150 people) needs `prediction.max_negatives=none`: with the default cap of 20,000 mined negatives per
detector the dense SIFT detectors collapse on the validation split (the numbers: bench/RESULTS_real.md).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from convcorr_jax.backbones.registry import check_input_side, resolve_tap
from convcorr_jax.core.config import check_fields
from convcorr_jax.core.metrics import mean_scored
from convcorr_jax.long2014 import prediction as point_prediction
from convcorr_jax.data.flic_split import movie_split
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.long_frame import FRAME_PX
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, sized
from convcorr_eval.long2014 import common, paper
from convcorr_eval.long2014.common import load_train_test
from convcorr_eval.report import markdown_table, ours, paper_block, percent, plt, ran_on, save_figure, score_about


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """`prediction`: the protocol's settings (see `convcorr_jax.long2014.prediction`; C fixed unless
    `val_Cs` / `val_sift_Cs` choose it on a validation split of train); `sift`: also the dense SIFT rows."""

    backbone: str = common.BACKBONE
    n_objects: int = 400
    image_size: int = 192
    n_train: int | None = 300  # data=flic: people drawn from the training split; None: all
    n_test: int | None = 150  # ... and from the test split
    val_Cs: tuple[float, ...] = ()  # conv5 C candidates chosen on a validation split of train (empty: prediction.C)
    val_sift_Cs: tuple[float, ...] = ()  # SIFT C candidates (empty: prediction.sift_C)
    val_fraction: float = 0.2
    prediction: point_prediction.PredictionConfig = point_prediction.PredictionConfig(box_size=192, C=1e-3,
                                                                                      max_rounds=3)
    sift: bool = True
    figure_rows: int = 5

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, positive=("val_Cs", "val_sift_Cs"), nonnegative=("figure_rows",),
                     finite=("val_Cs", "val_sift_Cs"), at_least_one=("n_objects", "image_size", "n_train", "n_test"))
        if not 0 < self.val_fraction < 1:
            raise InputError("config", "val_fraction", "a value in (0, 1) (the validation share of train)",
                             self.val_fraction)

    def check(self) -> None:
        pc = self.prediction
        for field in ("role", "prior_role"):
            check_input_side(self.backbone, resolve_tap(self.backbone, getattr(pc, field), f"prediction.{field}"),
                             pc.box_size, "config", "prediction.box_size")


VAL_CS = (1e-6, 1e-5, 1e-4, 1e-3)  # conv5 C candidates (as on FLIC)
VAL_SIFT_CS = (0.1, 1.0, 10.0)


def get_config(size: str = "default") -> Config:
    PC = point_prediction.PredictionConfig
    return sized(size, {
        "tiny": Config(size=size, n_objects=24, image_size=96, n_train=12, n_test=6,
                       prediction=PC(box_size=96, C=1e-3, max_rounds=1)),
        # fixed C at default size (cheap); full and the FLIC runs choose it on a validation split of train, as the
        # right C depends on the backbone's feature scale
        "default": Config(size=size),
        "full": Config(size=size, n_train=None, n_test=None, prediction=PC(box_size=FRAME_PX, C=1e-3, max_rounds=3),
                       val_Cs=VAL_CS, val_sift_Cs=VAL_SIFT_CS),
    })


def table_markdown(rows: dict[str, dict[str, float]], title: str = "Keypoint prediction PCK@0.1 (%)",
                   cfg=None) -> str:
    """This run's rows (categories + their mean over the categories scored; "-": no visible test keypoint) and the
    paper's (mean over its 20 VOC categories). cfg: the run's config: each row says what it ran on
    (`report.ran_on`) and a tiny run leaves the paper's table out."""
    cats = sorted({c for r in rows.values() for c in r if c != "mean"})
    on = ran_on(cfg, "test") if cfg is not None else None
    table = [[ours(name, on)] + [100 * r[c] if np.isfinite(r.get(c, np.nan)) else None for c in [*cats, "mean"]]
             for name, r in rows.items()]
    scored = [c for c in cats if any(np.isfinite(r.get(c, np.nan)) for r in rows.values())]
    theirs = markdown_table(["method", *paper.CATEGORIES, f"mean of {len(paper.CATEGORIES)}"],
                            [[n, *v] for n, v in paper.TABLE4.items()])
    return "\n".join([f"**{title}, this run**", "", markdown_table(["method", *cats, f"mean of {len(scored)}"], table),
                      "", *paper_block(cfg, "**paper (different data): Long et al. 2014 Table 4, PASCAL VOC 2011, "
                                       "CaffeNet; mean over its 20 categories**", theirs)])


def overlay_figure(samples, preds: dict[str, list], box_size: int, path, max_rows: int = 5) -> None:
    """Figure 6: per row a resampled box with ground truth, then each method's predictions (colour = keypoint).
    preds[method][row] = [K, 2] box pixels for samples[row]."""
    rows = min(max_rows, len(samples))
    cols = 1 + len(preds)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    crops = point_prediction.box_crops(samples[:rows], box_size)
    for r in range(rows):
        # categories differ in their keypoint count
        kp, vis, _ = point_prediction.box_keypoints(samples[r:r + 1], box_size)
        colours = plt.cm.tab20(range(kp.shape[1]))
        for c, (name, pts) in enumerate([("ground truth", kp[0])] + [(k, v[r]) for k, v in preds.items()]):
            ax = axes[r, c]
            ax.imshow(crops[r])
            m = vis[0]
            ax.scatter(pts[m, 0], pts[m, 1], c=colours[m], s=18, edgecolors="k", linewidths=0.5)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
        axes[r, 0].set_ylabel(samples[r].category, fontsize=8)
    fig.suptitle("Figure 6: keypoints predicted in held-out boxes (columns: ground truth, then each method; "
                 "colour = keypoint)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def validation_split(samples, fraction: float, seed: int) -> tuple[list, list]:
    """(fit, validation) of training samples: by movie where every sample names one (extras["moviename"], no film
    on both sides), else a seeded random split of the samples; categories missing from fit are dropped."""
    movies = [s.extras.get("moviename") for s in samples]
    if all(m is not None for m in movies) and len(set(movies)) > 1:
        fit, val = movie_split(movies, fraction, seed)
    else:
        perm = np.random.default_rng(seed).permutation(len(samples))
        n_val = max(1, int(round(fraction * len(samples))))
        fit, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    fit_s = [samples[i] for i in fit]
    cats = {s.category for s in fit_s}
    return fit_s, [samples[i] for i in val if samples[i].category in cats]


def select_C(train, backbone, params, cfg: Config, key) -> dict:
    """C for conv5 and SIFT detectors by PCK@0.1 (no prior, per keypoint type, mean over categories) on a
    validation split of `train`; features computed once. Returns {"C", "sift_C", "curve": {kind: {C: PCK}},
    "n_fit", "n_val"}."""
    pc = cfg.prediction
    fit, val = validation_split(train, cfg.val_fraction, cfg.seed)
    if not fit or not val:
        raise InputError("long2014.table4", "val_fraction", "a validation split (val_Cs) with fit and validation "
                         "instances of a shared category", f"{len(fit)} fit / {len(val)} validation of {len(train)}")
    neg_half = point_prediction.default_neg_half(backbone, pc)
    Xf, cf, Pf = point_prediction.dense_conv(fit, backbone, params, pc)
    Xv, cv, Pv = point_prediction.dense_conv(val, backbone, params, pc)
    kinds = {"conv": (list(cfg.val_Cs), "C", (Xf, cf, Xv, cv), neg_half)}
    if cfg.sift and cfg.val_sift_Cs:
        Sf, sf = point_prediction.dense_sift(fit, pc)
        Sv, sv = point_prediction.dense_sift(val, pc)
        kinds["sift"] = (list(cfg.val_sift_Cs), "sift_C", (Sf, sf, Sv, sv), 0.0)
    chosen = {"C": pc.C, "sift_C": pc.sift_C}
    curve: dict[str, dict[float, float]] = {}
    for kind, (Cs, field, (Xa, ca, Xb, cb), nh) in kinds.items():
        if not Cs:
            continue
        curve[kind] = {}
        for C in Cs:
            pcc = dataclasses.replace(pc, C=C) if field == "C" else dataclasses.replace(pc, sift_C=C)
            pcks = []
            for cat in sorted({s.category for s in val}):
                ia = [i for i, s in enumerate(fit) if s.category == cat]
                ib = [i for i, s in enumerate(val) if s.category == cat]
                fa = point_prediction.instance_features([fit[i] for i in ia], Xa[ia], ca, Pf[ia], pcc)
                fb = point_prediction.instance_features([val[i] for i in ib], Xb[ib], cb, Pv[ib], pcc)
                r = point_prediction.run_category(fa, fb, [val[i] for i in ib], kind, pcc, nh, key)
                pcks.append(point_prediction.per_type_pck(r["hits"]))
            curve[kind][C] = mean_scored(pcks)
        scored = [C for C in curve[kind] if np.isfinite(curve[kind][C])]
        if not scored:
            raise InputError("long2014.table4", "val_fraction", f"a validation split with a visible keypoint to "
                             f"score each {field} on", f"{len(val)} validation instances, none scored")
        chosen[field] = max(scored, key=curve[kind].__getitem__)
    return {**chosen, "curve": curve, "n_fit": len(fit), "n_val": len(val)}


def run(cfg: Config, ctx: Context) -> Result:
    train, test = load_train_test(cfg, cfg.n_objects, cfg.image_size, covered_only=True, n_train=cfg.n_train,
                                  n_test=cfg.n_test)
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    pc = cfg.prediction
    sel = None
    if cfg.val_Cs or (cfg.sift and cfg.val_sift_Cs):
        sel = select_C(train, backbone, params, cfg, jax.random.PRNGKey(cfg.seed))
        pc = dataclasses.replace(pc, C=sel["C"], sift_C=sel["sift_C"])
    out = point_prediction.run_table4(train, test, backbone, params, pc, sift=cfg.sift,
                                      key=jax.random.PRNGKey(cfg.seed),
                       progress=ctx.progress and cfg.size != "tiny")
    rows = out["rows"]
    names = [r for r in ("SIFT+prior", "conv5+prior") if r in out["pred"]]
    cats = [c for c in out["test"] if out["test"][c]][: cfg.figure_rows]
    path = ctx.figures / "long2014_fig6_keypoint_prediction.png"
    overlay_figure([out["test"][c][0] for c in cats], {r: [out["pred"][r][c][0] for c in cats] for r in names},
                   pc.box_size, path, cfg.figure_rows)
    md = [table_markdown(rows, cfg=cfg), "",
          f"Data: {cfg.data}, {len(train)} training / {len(test)} test instances. "
          f"Boxes resampled to {pc.box_size} px (paper: 500); conv5 = {backbone.roles[pc.role]} 3x3-concatenated; "
          f"negatives beyond {out['neg_half']:.1f} px (Chebyshev) of the keypoint; C = {pc.C}, SIFT C = {pc.sift_C}; "
          "prior sigma "
          f"{pc.sigma * pc.box_size / FRAME_PX:.1f} px, eta {pc.eta}; {out['skipped']} keypoints outside their box "
          "excluded from training.", "", f"![Figure 6](figures/{path.name})"]
    if sel is not None:
        md += ["", f"C chosen on a validation split of the training instances ({sel['n_fit']} fit / {sel['n_val']} "
               "validation, by movie where named; PCK@0.1 without prior; test never seen): "
               + "; ".join(f"{k}: " + ", ".join(f"C={c:g} {percent(v)}" for c, v in cur.items())
                           for k, cur in sel["curve"].items())
               + f" -> C = {sel['C']:g}, SIFT C = {sel['sift_C']:g}."]
    metrics = {"rows": rows, "rows_about": score_about("longer side of the object box", 0.1),
               "C": pc.C, "sift_C": pc.sift_C, "selection": sel,
               "prior_gain_conv5": rows["conv5+prior"]["mean"] - rows["conv5"]["mean"]}
    summary = (f"keypoint prediction PCK@0.1: conv5 {percent(rows['conv5']['mean'])}, +prior "
               f"{percent(rows['conv5+prior']['mean'])} ({100 * metrics['prior_gain_conv5']:+.1f})")
    if cfg.sift:
        metrics["prior_gain_sift"] = rows["SIFT+prior"]["mean"] - rows["SIFT"]["mean"]
        summary = (f"keypoint prediction PCK@0.1: SIFT {percent(rows['SIFT']['mean'])}, +prior "
                   f"{percent(rows['SIFT+prior']['mean'])} ({100 * metrics['prior_gain_sift']:+.1f}); "
                   + summary.split(": ", 1)[1])
    return Result(summary, "\n".join(md), metrics)
