"""Demo stages for Long et al. sections 2, 4 and 5: feature locality (Figures 1-2), keypoint classification
(Table 3, Figure 5) and keypoint prediction (Table 4, Figure 6) on the synthetic objects.

Sizes: "tiny" (seconds, CI), "default" (a few minutes on 2 CPU cores), "full" (paper-like settings).
"""

from __future__ import annotations

import numpy as np

from convcorr_jax.demo import DemoContext, StageResult

# (n objects, image size) per demo size; the default matches the other stages' synthetic objects (shared cache)
_DATA = {"tiny": (24, 96), "default": (400, 192), "full": (400, 192)}


def _backbone(ctx: DemoContext):
    from convcorr_jax.weights import load_pretrained

    return load_pretrained("mobilenet_v2", ctx.weights)


def _objects(ctx: DemoContext):
    from convcorr_jax.correspondence.data import load_train_test

    n, size = _DATA[ctx.size]
    train, test = load_train_test(n, ctx.seed, size, ctx.roots.get("voc"))
    if ctx.size == "tiny":  # a tiny split may miss a category in training: evaluate the covered ones only
        cats = {s.category for s in train}
        test = [s for s in test if s.category in cats]
    return train, test


def demo_stage_table3(ctx: DemoContext) -> StageResult:
    """Table 3 (conv1..conv5 columns and SIFT radii, one-vs-all SVMs) and, beyond tiny, Figure 5 (CV over C)."""
    from convcorr_jax.correspondence import classification as cls

    train, test = _objects(ctx)
    backbone, params = _backbone(ctx)
    # CV over C (Figure 5) only at full size: on 2 CPU cores it multiplies the stage time by ~5. The fixed
    # values are in the regime CV picks for MobileNetV2 columns and unit-norm SIFT (see eval/table3 --cv).
    cv = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0] if ctx.size == "full" else None
    C = {"conv": 1e-3, "SIFT": 1.0}
    radii = (20,) if ctx.size == "tiny" else cls.SIFT_RADII
    roles = ("conv5",) if ctx.size == "tiny" else cls.ROLES
    out = cls.run_table3(train, test, backbone, params, roles=roles, radii=radii, C=C, cv_Cs=cv,
                         progress=ctx.size != "tiny")
    res = out["results"]
    md = [cls.table_markdown(res), "",
          f"{out['n_train']} training / {out['n_test']} test keypoints; skipped (train + test): {out['skipped']}. "
          f"Backbone {backbone.name}: conv roles -> taps {dict((r, backbone.roles[r]) for r in cls.ROLES)}. "
          + ("C chosen per category by 5-fold CV on the training split." if cv else
             f"C fixed: {C} (CV and Figure 5: `python eval/table3_keypoint_classification.py --cv`).")]
    if cv:
        path = ctx.figures / "long2014_fig5_cv_accuracy_vs_C.png"
        cls.cv_curve_figure({k: v["cv"] for k, v in res.items()}, path)
        md += ["", "![Figure 5](figures/long2014_fig5_cv_accuracy_vs_C.png)"]
    best = max(res, key=lambda k: res[k]["mean"])
    conv_best = max((k for k in res if k.startswith("conv")), key=lambda k: res[k]["mean"])
    sift_best = max((k for k in res if k.startswith("SIFT")), key=lambda k: res[k]["mean"])
    summary = (f"keypoint classification: best {best} {100 * res[best]['mean']:.1f}%; best conv {conv_best} "
               f"{100 * res[conv_best]['mean']:.1f}% vs best SIFT {sift_best} {100 * res[sift_best]['mean']:.1f}%")
    return StageResult(summary, "\n".join(md), {k: {"mean": v["mean"], **v["accuracy"]} for k, v in res.items()})


def demo_stage_table4(ctx: DemoContext) -> StageResult:
    """Table 4 (SIFT, SIFT+prior, conv5, conv5+prior) and Figure 6 overlays."""
    from convcorr_jax.correspondence import prediction as P

    train, test = _objects(ctx)
    backbone, params = _backbone(ctx)
    box = {"tiny": 96, "default": 192, "full": 500}[ctx.size]
    cfg = P.PredictionConfig(box_size=box, C=1e-3, max_rounds=1 if ctx.size == "tiny" else 3)
    out = P.run_table4(train, test, backbone, params, cfg, progress=ctx.size != "tiny")
    rows = out["rows"]
    cats = list(out["test"])
    fig_samples, fig_preds = [], {"SIFT+prior": [], "conv5+prior": []}
    for cat in cats[:5]:
        if out["test"][cat]:
            fig_samples.append(out["test"][cat][0])
            for k in fig_preds:
                fig_preds[k].append(out["pred"][k][cat][0])
    path = ctx.figures / "long2014_fig6_keypoint_prediction.png"
    P.overlay_figure(fig_samples, fig_preds, cfg, path)
    md = [P.table_markdown(rows), "",
          f"Boxes resampled to {box} px (paper: 500); conv5 = {backbone.roles['conv5']} 3x3-concatenated; negatives "
          f"beyond {out['neg_half']:.1f} px (Chebyshev) of the keypoint; C = {cfg.C}; prior sigma "
          f"{cfg.sigma * box / 500:.1f} px, eta {cfg.eta}; {out['skipped']} keypoints outside their box excluded "
          "from training.", "", "![Figure 6](figures/long2014_fig6_keypoint_prediction.png)"]
    gain_c = rows["conv5+prior"]["mean"] - rows["conv5"]["mean"]
    gain_s = rows["SIFT+prior"]["mean"] - rows["SIFT"]["mean"]
    summary = (f"keypoint prediction PCK@0.1: SIFT {100 * rows['SIFT']['mean']:.1f}, +prior "
               f"{100 * rows['SIFT+prior']['mean']:.1f} ({100 * gain_s:+.1f}); conv5 {100 * rows['conv5']['mean']:.1f}, "
               f"+prior {100 * rows['conv5+prior']['mean']:.1f} ({100 * gain_c:+.1f})")
    return StageResult(summary, "\n".join(md), {"rows": rows, "prior_gain_conv5": gain_c, "prior_gain_sift": gain_s})


def demo_stage_locality(ctx: DemoContext) -> StageResult:
    """Figures 1-2 over a patch database of the synthetic training images (queries: scikit-image photographs)."""
    from convcorr_jax.correspondence import locality

    train, _ = _objects(ctx)
    backbone, params = _backbone(ctx)
    n, size = _DATA[ctx.size]
    images = np.stack([s.image for s in train])
    queries = locality.query_images(size, ("chelsea", "astronaut") if ctx.size == "tiny" else
                                    ("chelsea", "astronaut", "coffee", "rocket"))
    ks2 = (5, 50) if ctx.size == "tiny" else (5, 50, 500)
    db_root = ctx.cache("patchdb", f"{backbone.name}-objects-n{n}-s{ctx.seed}-{size}")
    out = locality.run_locality(images, queries, backbone, params, db_root, ks2=ks2, n_seeds=2 if ctx.size == "tiny"
                                else 3, seed=ctx.seed, figures_dir=ctx.figures, progress=ctx.size != "tiny")
    sizes = out["sizes"]
    md = ["Patch databases (features of the synthetic training images, cosine kNN): "
          + ", ".join(f"{r} ({backbone.roles[r]}): {c:,} patches" for r, c in sizes.items())
          + ". The paper uses >= 1,000,000 patches of PASCAL VOC 2011 per layer; see "
            "`eval/figure1_patch_reconstruction.py --help` for the large run.", "",
          "![Figure 1](figures/long2014_fig1_patch_reconstruction.png)", "",
          "![Figure 2](figures/long2014_fig2_rf_average.png)"]
    # a number to track: how much closer (mean abs pixel error) the k=1 reconstruction is than the control
    metrics = {"database_sizes": sizes}
    for role in sizes:
        errs = [np.abs(r - q.astype(np.float32)).mean() for r, q in zip(out["panels"][f"{role} k=1"], queries)]
        metrics[f"{role}_k1_abs_err"] = float(np.mean(errs))
    ctl = [np.abs(r - q.astype(np.float32)).mean() for r, q in zip(out["panels"]["uniform rf k=1"], queries)]
    metrics["uniform_rf_k1_abs_err"] = float(np.mean(ctl))
    md += ["", "| layer (tap) | database patches | k=1 reconstruction mean abs error (0..255) |", "|---|---|---|"]
    md += [f"| {r} ({backbone.roles[r]}) | {c:,} | {metrics[f'{r}_k1_abs_err']:.1f} |" for r, c in sizes.items()]
    md += [f"| uniform-rf control | - | {metrics['uniform_rf_k1_abs_err']:.1f} |"]
    summary = (f"locality: databases {', '.join(f'{r} {c:,}' for r, c in sizes.items())} patches; k=1 reconstruction "
               f"abs error " + ", ".join(f"{r} {metrics[f'{r}_k1_abs_err']:.1f}" for r in sizes)
               + f" vs uniform-rf control {metrics['uniform_rf_k1_abs_err']:.1f} (0..255)")
    return StageResult(summary, "\n".join(md), metrics)
