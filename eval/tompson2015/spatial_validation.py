"""Tompson et al. 2015 Sec. 3.3 on FLIC: the spatial model's settings, chosen on the validation movies.

The tree MRF spatial model (`convcorr_jax.pose.spatial`), conditioned on the ground-truth torso, on FLIC's by-film
validation split.

    convcorr run tompson2015.spatial_validation --data-root FLIC --set run_dir=runs/pose_flic

Experiment `tompson2015.spatial_validation` (run folder runs/tompson2015.spatial_validation): prints the validation
table (one row per setting tried) and the chosen setting; metrics.json holds every row's PCK per read-out, the
search and the choice. The test split is never loaded. The setting chosen here is the library's
`convcorr_jax.pose.spatial.FLIC_VALIDATED`, the default of `tompson2015.flic` (`convcorr eval flic --spatial on`) and
the spatial model saved with a FLIC training run.

Priors: the child - parent offset histograms (`spatial.learn_priors`) of FLIC "train" (train minus the validation
movies: the people the network was trained on; `tompson2015.flic` on the test split uses all of FLIC train,
`tompson2015.flic_spatial.prior_split`) ground truth in the person crops of `convcorr_jax.pose.data` (a
square of crop_scale x the torso box's longer side around the torso box's centre), on the run's heat-map grid
(image_size / pool cells), with the torso box's centre (the crop's centre) as the root node. Only annotations are
read for them (the same affines as `flic_crops`, no image decoding): `tompson2015.flic_spatial.spatial_inputs`.

Search (`SEARCH`, coordinate-wise over fields of `spatial.SpatialConfig` from its defaults): mode x unary_power
together, then the prior's smoothing sigma (prior_sigma), its floor (prior_floor), its kernel side (kernel), the
torso unary's sigma (torso_sigma), each keeping the best so far. Score: the mean of elbow
and wrist PCK (torso-normalised) at 0.05 and 0.2 of the cascade with the spatial model (`predict.predict_crops`'s
"spatial_cascade": the coarse heat-maps refined by the model, the fine model cropped at the refined maps' arg-max);
ties keep the earlier setting. Rows also give the coarse read-out with the model ("spatial_coarse_refined":
`spatial.select_peaks`) and both read-outs without it.

With `simulate` (also without a trained run): a simulation of the failure the model addresses, since it needs no
trained network: each person's heat-map is a Gaussian of peak `true_peak` at every ground-truth joint plus, for a
random half of the joints, a stronger Gaussian (peak 1) at the same joint of another validation person placed at a
random position of the crop (a second person in the frame), plus uniform clutter. Without the model the arg-max
picks the other person's joints; the score with the model is what the FLIC priors recover.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import heatmaps as hmap
from convcorr_jax.pose import joints, predict
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.report import markdown_table, score_about
from convcorr_eval.tompson2015.flic_spatial import FlicPoints, flic_points, spatial_inputs
from convcorr_eval.tompson2015.flic_spatial import spatial_label as label
from convcorr_eval.tompson2015.trained import with_trained_state

ARM = {"Elbow": joints.FLIC.groups["Elbow"], "Wrist": joints.FLIC.groups["Wrist"]}
ALPHAS = (0.05, 0.2)
COLUMNS = tuple(f"{g}@{a:g}" for a in ALPHAS for g in ARM)
RUN_HELP = "a `convcorr train pose` FLIC run folder (config.json + checkpoints/)"


# fields of spatial.SpatialConfig tried in turn from SpatialConfig(); what this search chose on the validation movies
# is spatial.FLIC_VALIDATED (bench/RESULTS_pose.md)
SEARCH: tuple[tuple[tuple[str, ...], tuple[tuple, ...]], ...] = (
    (("mode", "unary_power"), tuple((m, p) for m in ("sum", "max") for p in (1.0, 2.0, 4.0, 8.0, 16.0))),
    (("prior_sigma",), ((0.0,), (0.5,), (1.0,), (2.0,))),
    (("prior_floor",), ((1e-6,), (1e-4,), (1e-2,), (1e-1,))),
    (("kernel",), ((0,), (15,), (9,))),
    (("torso_sigma",), ((0.0,), (0.5,), (1.0,), (2.0,))),
)
TINY_SEARCH = ((("mode",), (("sum",), ("max",))),)


def learn_priors(train: FlicPoints, pool: int, map_size: int, cfg: spatial_mrf.SpatialConfig) -> np.ndarray:
    """Log-priors [E, k, k] of cfg's tree from training ground truth (crop pixels -> cells of `pool`, a map of
    map_size cells): `spatial.learn_priors`."""
    return spatial_mrf.learn_priors(train.points, train.visible, train.torso, pool, cfg, map_size)


def arm_pck(pred: np.ndarray, gt) -> dict[str, float]:
    """PCK (percent) of elbows and wrists at each alpha of `ALPHAS`: {"Elbow@0.05": .., ...}; gt has points,
    visible, norm."""
    out = {}
    for a in ALPHAS:
        g = joints.group_pck(pred, gt.points, gt.visible, gt.norm, ARM, a)
        out.update({f"{k}@{a:g}": v for k, v in g.items()})
    return out


def score(row: dict[str, float]) -> float:
    """The selection score: mean of elbow and wrist PCK at 0.05 and 0.2."""
    return float(np.mean([row[c] for c in COLUMNS]))


# --- the simulation ----------------------------------------------------------------------------------------------

def simulated_heatmaps(gt: FlicPoints, pool: int, map_size: int, seed: int = 0, true_peak: float = 0.6,
                       sigma: float = 1.0, clutter: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Heat-maps [N, S, S, K] with a distractor person (module docstring) and the mask [N, K] of distracted
    joints."""
    rng = np.random.default_rng(seed)
    n, k, _ = gt.points.shape
    cells = np.asarray(hmap.image_to_map(gt.points, pool))
    other = rng.permutation(n)
    other = np.where(other == np.arange(n), (other + 1) % n, other)
    torso = np.asarray(hmap.image_to_map(gt.torso, pool))
    shift = rng.uniform(0, map_size - 1, (n, 1, 2)) - torso[other][:, None]
    distractor = cells[other] + shift
    distracted = rng.random((n, k)) < 0.5
    g = jax.jit(jax.vmap(lambda p: hmap.gaussian_targets(p, (map_size, map_size), sigma)))
    maps = true_peak * np.asarray(g(jnp.asarray(cells, jnp.float32)))
    far = np.where(distracted[:, None, None, :], np.asarray(g(jnp.asarray(distractor, jnp.float32))), 0.0)
    maps = np.maximum(maps, far) + clutter * rng.random(maps.shape)
    return maps.astype(np.float32), distracted


def decode(maps: np.ndarray, pool: int, batch: int = 256) -> np.ndarray:
    """Sub-cell arg-max of heat-maps [N, S, S, K] -> crop pixels [N, K, 2]."""
    out = [np.asarray(hmap.map_to_image(hmap.subpixel_argmax(jnp.asarray(maps[i:i + batch])), pool))
           for i in range(0, len(maps), batch)]
    return np.concatenate(out)


def decode_selected(maps: np.ndarray, refined: np.ndarray, pool: int, batch: int = 256) -> np.ndarray:
    """`spatial.select_peaks` (the refined maps' arg-max cell, sub-cell refined on the coarse maps) -> crop
    pixels [N, K, 2]."""
    out = [np.asarray(hmap.map_to_image(spatial_mrf.select_peaks(jnp.asarray(maps[i:i + batch]),
                                                       jnp.asarray(refined[i:i + batch])), pool))
           for i in range(0, len(maps), batch)]
    return np.concatenate(out)


def refine(maps: np.ndarray, torso_cells: np.ndarray, priors: np.ndarray, cfg: spatial_mrf.SpatialConfig,
           batch: int = 64) -> np.ndarray:
    """`spatial.apply_spatial_model` in batches of a fixed size (the last one padded)."""
    n = len(maps)
    out = []
    for i in range(0, n, batch):
        idx = np.minimum(np.arange(i, i + batch), n - 1)
        r = spatial_mrf.apply_spatial_model(jnp.asarray(maps[idx]), jnp.asarray(torso_cells[idx]), jnp.asarray(priors),
                                            cfg)
        out.append(np.asarray(r)[: min(batch, n - i)])
    return np.concatenate(out)


def evaluate_simulated(root: str | Path, image_size: int, pool: int, settings: dict[str, spatial_mrf.SpatialConfig],
                       seed: int = 0, limit: int | None = None) -> dict:
    """Arm PCK on simulated two-person heat-maps of FLIC "val" (the first `limit` people), without and with each
    spatial setting (name -> SpatialConfig), priors from FLIC "train"."""
    val = flic_points(str(root), "val", image_size)
    if limit is not None:
        val = FlicPoints(*(a[:limit] for a in dataclasses.astuple(val)))
    map_size = image_size // pool
    maps, distracted = simulated_heatmaps(val, pool, map_size, seed)
    torso = np.asarray(hmap.image_to_map(val.torso, pool))
    train = flic_points(str(root), "train", image_size)
    res: dict[str, Any] = {"split": "val", "n": len(val.points), "image_size": image_size, "pool": pool,
           "distracted_fraction": float(distracted.mean()), "rows": {"without": arm_pck(decode(maps, pool), val)},
           "rows_about": score_about("torso", ALPHAS, "percent")}
    for name, s in settings.items():
        pri = learn_priors(train, pool, map_size, s)
        r = refine(maps, torso, pri, s.validate())
        res["rows"][name] = arm_pck(decode_selected(maps, r, pool), val)
        res["rows"][name + " (marginal decode)"] = arm_pck(decode(r, pool), val)
    return res


# --- the validation of a trained run -------------------------------------------------------------------------

def validate_run(run: str | Path, root: str | Path, search=SEARCH, progress: bool = False) -> dict:
    """Coordinate-wise search (module docstring) of the spatial settings on a trained FLIC run's validation people:
    {"rows": [{"settings", "label", "score", "pck": {read-out: arm PCK}}...], "chosen": SpatialConfig dict,
    "without": arm PCK of the read-outs without the model}."""
    from convcorr_jax.pose.data import flic_crops
    from convcorr_jax.pose.training.run_folder import load_run
    from convcorr_jax.core.progress import bar as progress_bar

    tc, params = load_run(run)
    mc = tc.model
    if mc.num_joints != 11:
        raise InputError(run, "model.num_joints", "11 (a FLIC run: `convcorr train pose --config flic`)",
                         mc.num_joints)
    data = flic_crops(root, "val", mc.image_size, tc.crop_scale, protocol=tc.protocol).arrays
    n = len(data)
    tried: dict[spatial_mrf.SpatialConfig, dict] = {}
    base = predict.predict_crops(params, data.images, mc)
    without = {k: arm_pck(base[k], data) for k in ("coarse_refined", "cascade")}

    def evaluate(s: spatial_mrf.SpatialConfig) -> dict:
        if s not in tried:
            sp = spatial_inputs(root, mc.image_size, mc.pool, tc.crop_scale, n, s, protocol=tc.protocol)
            p = predict.predict_crops(params, data.images, mc, spatial=sp)
            pck = {k: arm_pck(p[f"spatial_{k}"], data) for k in ("coarse_refined", "cascade")}
            tried[s] = {"settings": s.to_dict(), "label": label(s), "score": score(pck["cascade"]),
                        "pck": pck}
        return tried[s]

    best = spatial_mrf.SpatialConfig()
    total = sum(len(v) for _, v in search)
    bar = progress_bar(total=total, disable=not progress, desc="spatial settings", leave=False)
    for fields, values in search:
        cands = [dataclasses.replace(best, **dict(zip(fields, v))) for v in values]
        scores = []
        for c in cands:
            scores.append(evaluate(c)["score"])
            bar.update(1)
        i = int(np.argmax(scores))  # the first maximum: ties keep the earlier setting
        if scores[i] > evaluate(best)["score"]:
            best = cands[i]
    bar.close()
    return {"run": str(run), "split": "val", "n": n, "pool": mc.pool, "image_size": mc.image_size,
            "without": without, "without_score": score(without["cascade"]), "rows": list(tried.values()),
            "chosen": best.to_dict(), "chosen_label": label(best), "chosen_score": tried[best]["score"]}


# --- the experiment ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """data_root: the FLIC folder; run_dir: a trained FLIC run (None: the simulation only); trained: that run's
    state (`pose.training.run_folder.run_state`, part of the run key); simulate: also the simulated two-person table
    (its crops: sim_image_size px, heat-maps of stride sim_pool); limit: at most this many validation people in the
    simulation (None: all). tiny: the search of mode only, 64 simulated people."""

    data: str = "flic"
    run_dir: str | None = None
    trained: str | None = None
    simulate: bool = True
    sim_image_size: int = 128
    sim_pool: int = 8
    limit: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.sim_image_size % self.sim_pool or self.sim_pool < 1:
            raise InputError("config", "sim_image_size", f"a multiple of sim_pool={self.sim_pool}",
                             self.sim_image_size)


def get_config(size: str = "default") -> Config:
    return sized(size, {"tiny": Config(size="tiny", limit=64), "default": Config(), "full": Config(size="full")})


def identify(cfg: Config) -> Config:
    """cfg with `trained` set from its run folder when one is given (`trained.with_trained_state`; the runner
    calls it)."""
    return with_trained_state(cfg, None)


def path_fields(cfg: Config) -> dict[str, str | None]:
    """The config fields naming a path the run reads besides its data (the runner compares them by where they lead,
    `run_keys.places`): the trained run's folder, run_dir."""
    return {"run_dir": cfg.run_dir}


def markdown(res: dict) -> str:
    md = []
    if "run" in res:
        r = res["run"]
        rows = [["without the spatial model", *[r["without"]["coarse_refined"][c] for c in COLUMNS],
                 *[r["without"]["cascade"][c] for c in COLUMNS], r["without_score"]]]
        rows += [[row["label"], *[row["pck"]["coarse_refined"][c] for c in COLUMNS],
                  *[row["pck"]["cascade"][c] for c in COLUMNS], row["score"]] for row in r["rows"]]
        md += [f"**Spatial model settings on FLIC val ({r['n']} people, by film), run {Path(r['run']).name}: "
               f"PCK (percent, torso) of the coarse model (sub-cell) and the cascade, each with the model; "
               f"score = mean of the cascade's four columns**", "",
               markdown_table(["setting", *[f"coarse {c}" for c in COLUMNS], *[f"cascade {c}" for c in COLUMNS],
                               "score"], rows, "{:.1f}"), "",
               f"Chosen: {r['chosen_label']} (score {r['chosen_score']:.1f}; without the model "
               f"{r['without_score']:.1f}).", ""]
    if "simulated" in res:
        s = res["simulated"]
        rows = [[k, *[v[c] for c in COLUMNS]] for k, v in s["rows"].items()]
        md += [f"**Simulated second person on FLIC val ({s['n']} people, {100 * s['distracted_fraction']:.0f}% of "
               f"joints distracted), {s['image_size']} px crops, pool {s['pool']}: arm PCK (percent)**", "",
               markdown_table(["setting", *COLUMNS], rows, "{:.1f}"), ""]
    return "\n".join(md)


def summary_line(res: dict) -> str:
    if "run" in res:
        r = res["run"]
        return (f"FLIC val spatial model: chosen {r['chosen_label']}, elbow+wrist score {r['chosen_score']:.1f} "
                f"(without {r['without_score']:.1f}), {len(r['rows'])} settings tried")
    s = res["simulated"]["rows"]
    return "FLIC val, simulated second person: elbow+wrist score " + ", ".join(
        f"{k} {score(v):.1f}" for k, v in s.items() if "marginal" not in k)


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("flic",))
    if cfg.run_dir is None and not cfg.simulate:
        raise InputError("config", "run_dir", RUN_HELP + " (or simulate=true)")
    res: dict = {"priors_split": "train"}
    if cfg.run_dir is not None:
        res["run"] = validate_run(cfg.run_dir, cfg.dataset_root(), TINY_SEARCH if cfg.size == "tiny" else SEARCH,
                                  ctx.progress)
    if cfg.simulate:
        chosen = (spatial_mrf.SpatialConfig.from_dict(res["run"]["chosen"]) if "run" in res
                  else spatial_mrf.FLIC_VALIDATED)
        sims = {"sum": dataclasses.replace(chosen, mode="sum"), "max": dataclasses.replace(chosen, mode="max")}
        res["simulated"] = evaluate_simulated(cfg.dataset_root(), cfg.sim_image_size, cfg.sim_pool, sims, cfg.seed,
                                              cfg.limit)
    return Result(summary_line(res), markdown(res), res)
