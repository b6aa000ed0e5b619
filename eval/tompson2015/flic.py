"""Tompson et al. 2015 on FLIC: score a trained run (Table 3, Figure 15, Table 2 on this CPU, refinement ablation).

    convcorr eval flic --run runs/pose_flic --root FLIC_FOLDER [--json out.json] [--figure fig15.png]
                       [--split test|val] [--refine on|off] [--timing]

FLIC PCK, torso-normalised (|l shoulder - r hip|, MODEC), on the person crops of `convcorr_jax.pose.data`
(PCK is invariant to the crop's uniform scale). Joint groups: `convcorr_jax.pose.joints.FLIC`; "Head" pools the
three face points l eye, r eye and nose, each scored on its own (the paper's "Face" column). The JSON holds
{"pck": {"0.05": {"coarse": {group: fraction}, "cascade": {...}}, "0.1": ..., "0.2": ...}} (fractions 0..1),
plus "ablation" (all four read-outs of `convcorr_jax.pose.predict`), "curve" (Figure 15: mean of wrist and elbow
PCK at normalised distances 0..0.2) and, with --timing, "table2_ms" (forward ms per image on this CPU).
`--refine` picks the read-out of the main table for both models alike: on = parabola sub-cell refinement of the
coarse and of the fine arg-max (ours, not the paper's), off = integer arg-maxes. The crops are built on the first
call and cached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convcorr_jax import metrics
from convcorr_jax.pose import joints, predict
from convcorr_jax.pose.data import PoseArrays, flic_crops
from convcorr_jax.pose.train import TrainConfig, load_run  # noqa: F401 (load_run: `convcorr eval flic`'s loader)
from convcorr_eval.report import markdown_table
from convcorr_eval.tompson2015 import figures, paper

ALPHAS = ("0.05", "0.1", "0.2")
CURVE_ALPHAS = np.round(np.linspace(0.0, 0.2, 21), 3)
HEAD = "Head = mean over the face points l eye, r eye, nose (the paper's Face column)"
MAIN = {"on": {"coarse": "coarse_refined", "cascade": "cascade"},
        "off": {"coarse": "coarse", "cascade": "cascade_raw"}}


def group_table(pred: np.ndarray, data: PoseArrays, alpha: float) -> dict[str, float]:
    """PCK (fraction) per FLIC joint group and over all 11 joints ("all")."""
    g = joints.group_pck(pred, data.points, data.visible, data.norm, joints.FLIC.groups, alpha)
    out = {k: v / 100 for k, v in g.items()}
    out["all"] = float(metrics.pck(pred, data.points, data.visible, data.norm, alpha))
    return out


def arm_curve(pred: np.ndarray, data: PoseArrays, alphas=CURVE_ALPHAS) -> list[float]:
    """Figure 15: mean of the wrist and elbow PCK (fraction) at each normalised distance."""
    arm = joints.FLIC.groups["Wrist"] + joints.FLIC.groups["Elbow"]
    hits = [metrics.pck_hits(pred, data.points, data.visible, data.norm, float(a))[:, list(arm)] for a in alphas]
    return [float(np.nanmean(h)) for h in hits]


def evaluate(tc: TrainConfig, params: dict, root: str | Path, split: str = "test", refine: str = "on",
             timing: bool = False) -> dict:
    """Scores of trained params on a FLIC split (see the module docstring)."""
    joints.joint_set("flic", tc.model.num_joints)
    data = flic_crops(root, split, tc.model.image_size, tc.crop_scale).arrays
    preds = predict.predict(params, data.images, tc.model)
    res: dict = {"split": split, "n": len(data), "refine": refine, "pool": tc.model.pool,
                 "image_size": tc.model.image_size, "head": HEAD}
    res["ablation"] = {k: {a: group_table(p, data, float(a)) for a in ALPHAS} for k, p in preds.items()}
    res["pck"] = {a: {m: res["ablation"][r][a] for m, r in MAIN[refine].items()} for a in ALPHAS}
    res["curve"] = {"alphas": [float(a) for a in CURVE_ALPHAS],
                    **{k: arm_curve(p, data) for k, p in preds.items()}}
    if timing:
        from convcorr_eval.tompson2015.tables import forward_times

        res["table2_ms"] = {str(k): v for k, v in forward_times(tc.model).items()}
    return res


def markdown(res: dict, with_paper: bool = True) -> str:
    """Table 3 (PCK@0.05 in percent, the paper's rows beside ours), the PCK tables at 0.05/0.1/0.2, the ablation
    and (if measured) Table 2."""
    groups = list(joints.FLIC.groups)
    t3 = res["pck"]["0.05"]
    rows = [[f"ours {m} {res['pool']}x", *[100 * t3[m][c] for c in paper.TABLE3_COLUMNS]] for m in t3]
    if with_paper:
        rows += [[f"paper {k}", *v] for k, v in paper.TABLE3.items()]
    md = [f"**Table 3: FLIC {res['split']} PCK@0.05 (torso), {res['n']} people; {res['head']}**", "",
          markdown_table(["model", *paper.TABLE3_COLUMNS], rows, "{:.1f}"), ""]
    rows = [[f"{m} @{a}", *[100 * res["pck"][a][m][c] for c in groups + ["all"]]] for a in ALPHAS
            for m in res["pck"][a]]
    md += [f"**PCK (percent) per joint group, refinement {res['refine']}**", "",
           markdown_table(["model @alpha", *groups, "all"], rows, "{:.1f}"), ""]
    rows = [[k, *[100 * res["ablation"][k][a][c] for a in ALPHAS for c in ("Head", "Shoulder", "Elbow", "Wrist")]]
            for k in res["ablation"]]
    hdr = [f"{c[:3]}@{a}" for a in ALPHAS for c in ("Head", "Shoulder", "Elbow", "Wrist")]
    md += ["**Ablation (same checkpoint): coarse vs cascade, with and without parabola sub-cell refinement**", "",
           markdown_table(["read-out", *hdr], rows, "{:.1f}"), ""]
    if "table2_ms" in res:
        ft = res["table2_ms"]
        rows = [[k, *[ft[p].get(k, float("nan")) for p in ("4", "8", "16")]]
                for k in ("Coarse-Model", "Fine-Model", "Cascade")]
        rows += [[f"paper K40 GPU, 320x240: {k}", *v] for k, v in paper.TABLE2.items()]
        md += [f"**Table 2: forward ms per image on this CPU ({res['image_size']} px crops, batch 8, untrained "
               "weights of the same shapes)**", "", markdown_table(["model", "4x pool", "8x pool", "16x pool"], rows,
                                                                    "{:.1f}"), ""]
    return "\n".join(md)


def curve_figure(res: dict, path: str | Path) -> None:
    """Figure 15: mean wrist + elbow PCK (percent) against normalised distance, one line per read-out."""
    c = res["curve"]
    alphas = np.asarray(c["alphas"])
    figures.pck_curves({k: 100 * np.asarray(c[k]) for k in predict.READOUTS}, Path(path), alphas,
                       f"FLIC {res['split']}: wrist + elbow (Fig. 15)")
