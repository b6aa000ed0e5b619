"""Why the fine model loses to the refined coarse read-out: measurements on FLIC's validation movies.

    python bench/cascade_diagnosis.py --run RUN --root FLIC [--split val] [--json out.json]

For a trained person-crop run (e.g. the shared `flic_gpu` run, or `flic`), on one forward pass per centring:
  * PCK@0.05 (torso) per joint group of the refined coarse read-out, the cascade (window at the coarse arg-max,
    the paper's inference), the cascade with the window centred on the true joint (the fine model's own
    accuracy), and each without sub-cell refinement;
  * the coarse error in pixels against the fine window's half side (`model.context / 2`): the share of joints
    whose true location lies inside the window at all;
  * how the fine and coarse outputs combine: the paper's offset (window origin + fine arg-max), the product of the
    fine map and the coarse map sampled on the fine grid (each clipped at 0, the coarse raised to a power), and a
    gated choice (fine where its peak is above a threshold, else coarse).
Every number is on the split given (validation movies by default: nothing here is chosen on test).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from convcorr_eval.tompson2015.flic_scores import group_table  # noqa: E402

from convcorr_jax.core import io, runinfo  # noqa: E402
from convcorr_jax.pose import heatmaps as hmap  # noqa: E402
from convcorr_jax.pose import model as pose_model  # noqa: E402
from convcorr_jax.pose import shipped  # noqa: E402
from convcorr_jax.pose.data import flic_crops  # noqa: E402
from convcorr_jax.pose.training.run_folder import load_run  # noqa: E402

GROUPS = ("Head", "Shoulder", "Elbow", "Wrist")
POWERS = (0.5, 1.0, 2.0, 4.0)  # coarse map exponents of the product read-out
GATES = (0.2, 0.3, 0.4, 0.5, 0.6)  # fine-peak thresholds of the gated read-out


def forward(params, images: np.ndarray, cfg: pose_model.ModelConfig, centers: np.ndarray | None,
            batch: int = 16) -> dict[str, np.ndarray]:
    """`model.apply` over images uint8 [N, S, S, 3] in batches; centers [N, K, 2] pixels or None (coarse arg-max)."""
    import jax

    fn = jax.jit(lambda p, x, c: pose_model.apply(p, x.astype("float32") / 255.0, cfg, centers=c))
    fn0 = jax.jit(lambda p, x: pose_model.apply(p, x.astype("float32") / 255.0, cfg))
    keys = ("coarse_hm", "fine_hm", "origin", "coarse_xy", "xy", "xy_product")
    parts: dict[str, list] = {k: [] for k in keys}
    n = len(images)
    for i in range(0, n, batch):
        idx = np.minimum(np.arange(i, i + batch), n - 1)
        out = fn0(params, images[idx]) if centers is None else fn(params, images[idx],
                                                                 np.asarray(centers[idx], np.float32))
        m = min(batch, n - i)
        for k in keys:
            parts[k].append(np.asarray(out[k])[:m])
    return {k: np.concatenate(v) for k, v in parts.items()}


def coarse_on_fine_grid(coarse_hm: np.ndarray, origin: np.ndarray, cfg: pose_model.ModelConfig) -> np.ndarray:
    """The coarse heat-maps [N, S, S, K] sampled bilinearly at every fine cell's image position: [N, w, w, K]
    (`model.coarse_in_windows`, the product read-out's sampling)."""
    return np.asarray(pose_model.coarse_in_windows(coarse_hm, origin, cfg))


def window_points(maps: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Sub-cell arg-max of window maps [N, w, w, K] -> image pixels [N, K, 2]."""
    return np.asarray(hmap.map_to_image(origin.astype(np.float32) + np.asarray(hmap.subpixel_argmax(maps)), 2.0))


def pck(pred: np.ndarray, data) -> dict[str, float]:
    t = group_table(pred, data, 0.05)
    return {g: round(100 * t[g], 1) for g in (*GROUPS, "all")}


def diagnose(run: str, root: str, split: str) -> dict:
    t0 = time.perf_counter()
    if shipped.is_name(run) or (Path(run) / shipped.MODEL_FILE).is_file():
        m = shipped.read(run) if shipped.is_name(run) else shipped.read_folder(run)
        tc, params = m.config, m.params
    else:
        tc, params = load_run(run)
    cfg = tc.model
    data = flic_crops(root, split, cfg.image_size, tc.crop_scale).arrays
    gt = np.where(np.isfinite(data.points), data.points, cfg.image_size / 2).astype(np.float32)
    at_coarse = forward(params, data.images, cfg, None)
    at_truth = forward(params, data.images, cfg, gt)
    coarse_ref = np.asarray(hmap.map_to_image(hmap.subpixel_argmax(at_coarse["coarse_hm"]), cfg.pool))
    raw = lambda o: np.asarray(hmap.map_to_image(o["origin"] + hmap.argmax_2d(o["fine_hm"]), 2.0))  # noqa: E731
    rows = {"coarse_refined": pck(coarse_ref, data), "coarse (integer)": pck(at_coarse["coarse_xy"], data),
            "cascade (window at coarse arg-max)": pck(at_coarse["xy"], data),
            f"cascade, product read-out (coarse^{pose_model.PRODUCT_POWER:g})": pck(at_coarse["xy_product"], data),
            "cascade, no sub-cell refinement": pck(raw(at_coarse), data),
            "fine at the true joint": pck(at_truth["xy"], data),
            "fine at the true joint, no sub-cell refinement": pck(raw(at_truth), data)}
    # coarse error against the window
    vis = data.visible & np.isfinite(data.points).all(-1)
    err = np.linalg.norm(coarse_ref - data.points, axis=-1)[vis]
    thr = (0.05 * data.norm[:, None] * np.ones_like(data.visible, float))[vis]
    half = cfg.context / 2
    errors = {"window half side px": half, "median PCK@0.05 threshold px": float(np.median(thr)),
              "coarse error px: median / 75% / 90% / 95%": [round(float(np.percentile(err, q)), 1)
                                                            for q in (50, 75, 90, 95)],
              "share of joints inside the window": round(float(np.mean(err < half - 2)), 3)}
    # the true joint inside the coarse-centred window: is the fine model then right?
    casc_err = np.linalg.norm(at_coarse["xy"] - data.points, axis=-1)[vis]
    inside = err < half - 2
    errors["cascade error px (true joint inside the window): median / 90%"] = [
        round(float(np.percentile(casc_err[inside], q)), 1) for q in (50, 90)]
    errors["coarse right, cascade wrong at 0.05"] = round(float(np.mean((err <= thr) & (casc_err > thr))), 3)
    errors["coarse wrong, cascade right at 0.05"] = round(float(np.mean((err > thr) & (casc_err <= thr))), 3)
    # combinations
    fine = np.maximum(at_coarse["fine_hm"], 0)
    cgrid = np.maximum(coarse_on_fine_grid(at_coarse["coarse_hm"], at_coarse["origin"], cfg), 0)
    combos = {}
    for p in POWERS:
        combos[f"product fine x coarse^{p:g}"] = pck(window_points(fine * cgrid ** p, at_coarse["origin"]), data)
    combos["product fine x coarse^8"] = pck(window_points(fine * cgrid ** 8, at_coarse["origin"]), data)
    again = forward(params, data.images, cfg, at_coarse["xy"])
    combos["cascade, window re-centred on the first cascade point"] = pck(again["xy"], data)
    fine2 = np.maximum(again["fine_hm"], 0)
    cgrid2 = np.maximum(coarse_on_fine_grid(again["coarse_hm"], again["origin"], cfg), 0)
    for p in (1.0, 2.0, 4.0):
        combos[f"re-centred, product fine x coarse^{p:g}"] = pck(window_points(fine2 * cgrid2 ** p, again["origin"]),
                                                                 data)
    prod = window_points(fine * cgrid ** 2, at_coarse["origin"])
    third = forward(params, data.images, cfg, prod)
    cgrid3 = np.maximum(coarse_on_fine_grid(third["coarse_hm"], third["origin"], cfg), 0)
    combos["re-centred on the product^2 point, product^2"] = pck(window_points(
        np.maximum(third["fine_hm"], 0) * cgrid3 ** 2, third["origin"]), data)
    combos["sum fine + coarse"] = pck(window_points(fine + cgrid, at_coarse["origin"]), data)
    peak = fine.max(axis=(1, 2))  # [N, K]
    for g in GATES:
        choose = (peak >= g)[..., None]
        combos[f"gated: fine where its peak >= {g:g}, else coarse"] = pck(
            np.where(choose, at_coarse["xy"], coarse_ref), data)
    return {"run": str(run), "split": split, "people": len(data), "image_size": cfg.image_size,
            "context": cfg.context, "sigma": cfg.sigma, "lambda_fine": tc.lambda_fine, "lr": list(tc.lr),
            "steps": list(tc.steps), "readouts": rows, "errors": errors, "combinations": combos,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a run folder or a shipped model's name")
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--split", default="val", choices=("val", "test", "train"))
    p.add_argument("--json", default=None, help="also write the results, with the config and versions, to this file")
    a = p.parse_args(argv)
    print(runinfo.header("why the fine model loses to the refined coarse read-out", vars(a)), flush=True)
    with runinfo.timed() as total:
        res = diagnose(a.run, a.root, a.split)
        text = json.dumps(res, indent=1)
        print(text)
        if a.json:  # with the run's config and versions, as the commands' JSON outputs record them
            io.write_json(a.json, {**res, "config": vars(a), "versions": runinfo.versions()})
    print(f"wall time {total['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
