"""Tables 1-4 and figures of Tompson et al. for a trained run, as text/markdown plus metrics."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from convcorr_jax.pose import model as M
from convcorr_jax.pose import tables as tb
from convcorr_jax.pose import train as T


def config_from_dict(d: dict) -> T.TrainConfig:
    """Rebuild a TrainConfig from its config.json (lists -> tuples, nested dataclasses)."""

    def tup(x):
        return tuple(tup(v) for v in x) if isinstance(x, list) else x

    m = M.ModelConfig(**{k: tup(v) for k, v in d["model"].items()})
    from convcorr_jax.pose.augment import AugmentConfig

    a = AugmentConfig(**{k: tup(v) for k, v in d["augment"].items()})
    rest = {k: tup(v) for k, v in d.items() if k not in ("model", "augment")}
    return T.TrainConfig(model=m, augment=a, **rest)


def evaluate_run(cfg: T.TrainConfig, params: dict, test: T.PoseArrays, figures: Path | None = None,
                 fig_prefix: str = "pose", timing: bool = True, real_mpii: Path | None = None) -> tuple[str, dict]:
    """Markdown (Tables 1-4 beside the paper's numbers) and metrics for trained params on a test set."""
    coarse, casc = T.predict_all(params, test, cfg.model)
    g, v, n = test.points, test.visible, test.norm
    preds = {"coarse": coarse, "cascade": casc}
    pool = cfg.model.pool
    res: dict = {"pool": pool, "n_test": len(test)}
    md = []
    t3 = {k: tb.pck_groups(p, g, v, n, 0.05) for k, p in preds.items()}
    res["table3"] = t3
    res["pck@0.05"] = {k: float(100 * np.nanmean(T.metrics_pck(p, g, v, n, 0.05))) for k, p in preds.items()}
    cols = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"]
    rows = {f"ours coarse {pool}x": [t3["coarse"][c] for c in cols] + [res["pck@0.05"]["coarse"]],
            f"ours cascade {pool}x": [t3["cascade"][c] for c in cols] + [res["pck@0.05"]["cascade"]]}
    rows.update({f"paper (different data, FLIC): {k}": list(v4) + ["-"] * 4 for k, v4 in tb.PAPER_TABLE3.items()})
    md += [f"**Table 3: PCK@0.05 (torso-normalised), synthetic people test set ({len(test)} people)**", "",
           tb.md_table(["model"] + cols + ["all"], rows), ""]
    t1 = tb.table1(preds, g, v)
    res["table1_sigma_x"] = t1
    rows = {f"ours {k} {pool}x": [t1[k][c] for c in ("Head", "Shoulder", "Elbow", "Wrist")] for k in preds}
    rows.update({f"paper (different data): {k}": list(vv) for k, vv in tb.PAPER_TABLE1.items()})
    md += [f"**Table 1: sigma of x error (pixels at the {cfg.model.image_size}px input; |error| > 20 removed)**", "",
           tb.md_table(["model", "Head/Face", "Shoulder", "Elbow", "Wrist"], rows, "{:.2f}"), ""]
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
        alphas = np.linspace(0, 0.2, 21)
        tb.figure_pck_curves({k: tb.pck_curve(p, g, v, n, alphas) for k, p in preds.items()},
                             figures / f"{fig_prefix}_pck_curves.png", alphas)
        tb.figure_x_hist({f"{k}: head+shoulders": tb.x_errors(p, g, v, (9, 12, 13)) for k, p in preds.items()},
                         figures / f"{fig_prefix}_x_error_hist.png")
        tb.figure_skeletons(test.images, {"ground truth": g, "coarse": coarse, "cascade": casc},
                            figures / f"{fig_prefix}_skeletons.png")
        md += [f"![PCK curves](figures/{fig_prefix}_pck_curves.png) ![x error](figures/{fig_prefix}_x_error_hist.png)",
               "", f"![skeletons](figures/{fig_prefix}_skeletons.png)", ""]
    if timing:
        ft = tb.forward_times(cfg.model)
        res["table2_ms"] = {str(k): v for k, v in ft.items()}
        rows = {k: [ft[p].get(k, float("nan")) for p in (4, 8, 16)] for k in ("Coarse-Model", "Fine-Model", "Cascade")}
        rows.update({f"paper K40 (FLIC 320x240): {k}": list(vv) for k, vv in tb.PAPER_TABLE2.items()})
        md += [f"**Table 2: forward ms per image ({cfg.model.image_size}px, this CPU, batch 8)**", "",
               tb.md_table(["model", "4x pool", "8x pool", "16x pool"], rows), ""]
    if real_mpii is not None and (real_mpii / "hg_annot" / "valid.h5").is_file():
        from convcorr_jax.pose import pckh_report

        r = pckh_report.reference_results(real_mpii)
        res["table4_pckh"] = {k: pckh_report.json_tables(v) for k, v in r.items()}
        if figures is not None:
            pckh_report.pckh_curve_figure(r, figures / f"{fig_prefix}_pckh_mpii.png")
        cols4 = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
        rows = {k: [v["0.5"][c] for c in cols4] for k, v in r.items()}
        rows.update({f"paper: {k}": list(vv) for k, vv in tb.PAPER_TABLE4.items()})
        md += ["**Table 4: PCKh@0.5 on the MPII validation split (2958 people), published prediction files, official "
               "toolkit definition**", "", tb.md_table(["system"] + cols4, rows, "{:.2f}"), ""]
        if figures is not None:
            md += [f"![PCKh](figures/{fig_prefix}_pckh_mpii.png)", ""]
    return "\n".join(md), res
