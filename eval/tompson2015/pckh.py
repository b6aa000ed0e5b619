"""PCKh (official MPII toolkit definition) of MPII prediction files, as tables, JSON and a figure.

    convcorr eval pckh --preds a.h5 b.mat --annot annot/valid.h5
    convcorr eval pckh --reference MPII_FOLDER     # the five published validation files

is `convcorr eval pckh ...`: prints the tables at PCKh@0.5 and @0.1 and the AUC.

A NaN or inf prediction of an annotated joint is a miss (infinitely far: the toolkit's rule, and the usual PCKh
convention for a missing prediction); `evaluate_file` counts them and gives a warning line to print. Ground truth
as `read_eval_h5` reads it: a NaN joint marked visible is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convcorr_jax.core import metrics
from convcorr_jax.core.runinfo import score_about
from convcorr_jax.data.mpii_eval_files import read_eval_h5, read_preds
from convcorr_eval.pck import nonfinite_warning

COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "UBody", "Total")
# what the columns are, printed under the tables: not the pooled groups of `convcorr eval pose`, whose MPII "Head" is
# the head top alone
COLUMNS_ABOUT = ("columns: the MPII toolkit's, each group the mean of its two joints' PCKh (Head: upper neck and head "
                 "top); UBody pools wrists, elbows and shoulders, Total the 14 joints without pelvis and thorax")
REFERENCE_PRED_FILES = ("tompson.h5", "newell.h5", "bearpaw-hg_s1_b1.mat", "bearpaw-hg_s2_b1.mat",
                        "bearpaw-hg_s8_b1.mat")


def evaluate_file(preds: str | Path, annot: str | Path, thresholds=(0.5, 0.1)) -> dict:
    """PCKh tables of one prediction file.

    Args:
      preds: a prediction file (`read_preds`).
      annot: the ground truth h5 (`read_eval_h5`).
      thresholds: the tables' thresholds in head segments.

    Returns:
      {"0.5": {...}, "0.1": {...} (percent per group, "UBody", "Total"), "auc": float, "curve": [51] Total,
      "people": the people scored (row i of the file against person i of `annot`), "joints": the annotated joints
      Total pools (the toolkit's 14 joints of each person), "nonfinite": those whose prediction is NaN or inf
      (scored as misses), "warning": a line saying so, or None}.
    """
    gt = read_eval_h5(annot)
    pred = read_preds(preds, num=gt.part.shape[0])
    pooled = list(metrics.MPII_TOOLKIT_JOINTS)  # pelvis and thorax count in no column
    nonfinite = metrics.count_nonfinite(pred[:, pooled], gt.part[:, pooled])
    out: dict[str, Any] = metrics.pckh_table(pred, gt.part, gt.head, gt.missing, thresholds)
    curve = metrics.pckh_curves(metrics.pckh_distances(pred, gt.part, gt.head, gt.missing))["Total"]
    out["auc"] = metrics.pckh_auc(curve)
    out["curve"] = [float(v) for v in curve]
    out["people"] = int(pred.shape[0])
    out["joints"] = int(np.sum(metrics.evaluated(gt.part[:, pooled])))
    out["nonfinite"] = nonfinite
    out["warning"] = nonfinite_warning(nonfinite, out["joints"], preds)
    return out


def json_tables(result: dict, thresholds=("0.5", "0.1")) -> dict:
    """The CLI's JSON: the printed tables and what was scored.

    Args:
      result: an `evaluate_file` result.
      thresholds: the tables kept (threshold text, head segments).

    Returns:
      {"0.5": {"Head": .., ..., "Ankle": .., "UBody": .., "Total": ..}, "0.1": {...}} (percent, the columns of
      `COLUMNS`, 4 decimals), "auc": the area under the Total curve over thresholds 0..0.5 (percent,
      `metrics.pckh_auc`), "people", "joints" and "nonfinite" (`evaluate_file`), where the result has them, and
      "about" (`report.score_about`: percent, normaliser "head segment", the thresholds as alphas).
    """
    tables = {t: {c: round(result[t][c], 4) for c in COLUMNS} for t in thresholds if t in result}
    counts = {k: result[k] for k in ("people", "joints", "nonfinite") if k in result}
    auc = {"auc": round(result["auc"], 4)} if "auc" in result else {}
    return dict(tables, **auc, **counts, about=score_about("head segment", [float(t) for t in tables], "percent"))


def format_table(rows: dict[str, dict], threshold: str = "0.5", markdown: bool = False) -> str:
    """One line per named result at a threshold (percent, one decimal)."""
    width = max([len(n) for n in rows] + [6])
    if markdown:
        lines = [f"| PCKh@{threshold} | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        lines += [f"| {n} | " + " | ".join(f"{r[threshold][c]:.1f}" for c in COLUMNS) + " |" for n, r in rows.items()]
    else:
        lines = [f"{'PCKh@' + threshold:<{width}} " + " ".join(f"{c:>8}" for c in COLUMNS)]
        lines += [f"{n:<{width}} " + " ".join(f"{r[threshold][c]:8.1f}" for c in COLUMNS) for n, r in rows.items()]
    return "\n".join(lines)


def has_reference(mpii_root: str | Path | None) -> bool:
    """Whether `mpii_root` holds hg_annot/valid.h5 (and so, possibly, reference_preds/)."""
    return mpii_root is not None and (Path(mpii_root) / "hg_annot" / "valid.h5").is_file()


def skipped_reference(mpii_root: str | Path) -> list[Path]:
    """The published prediction files (`REFERENCE_PRED_FILES`) absent from `<mpii_root>/reference_preds/`: those
    `reference_results` leaves out (a caller says so)."""
    folder = Path(mpii_root) / "reference_preds"
    return [folder / f for f in REFERENCE_PRED_FILES if not (folder / f).is_file()]


def reference_results(mpii_root: str | Path) -> dict[str, dict]:
    """PCKh of the five published validation prediction files under `<mpii_root>/reference_preds/`, each that is
    there (`skipped_reference` names the others)."""
    root = Path(mpii_root)
    annot = root / "hg_annot" / "valid.h5"
    return {Path(f).stem: evaluate_file(root / "reference_preds" / f, annot) for f in REFERENCE_PRED_FILES
            if (root / "reference_preds" / f).is_file()}


def pckh_curve_figure(results: dict[str, dict], path: str | Path) -> None:
    """PCKh-total curves over thresholds 0..0.5 as a PNG (matplotlib: the `report` extra)."""
    from convcorr_eval.report import plt, save_figure

    fig, ax = plt.subplots(figsize=(5, 4))
    t = np.asarray(metrics.PCKH_THRESHOLDS)
    for name, r in results.items():
        ax.plot(t, r["curve"], label=f"{name} (AUC {r['auc']:.1f})")
    ax.set_xlabel("normalised distance (head segments)")
    ax.set_ylabel("PCKh total (%)")
    ax.set_title("MPII PCKh total against the threshold", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=90)
