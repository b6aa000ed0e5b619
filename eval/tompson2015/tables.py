"""Tompson et al. 2015 Tables 1-4: train the coarse/fine cascade, then score it beside the paper.

    convcorr run tompson2015.tables --size tiny --backbone caffenet --set weights=random   # smoke test
    convcorr run tompson2015.tables                                  # default: 300 / 450 / 50 steps
    convcorr run tompson2015.tables --set data=flic --data-root DIR  # FLIC's 11 joints (examples.mat + images):
                                     # trained on FLIC train minus the validation movies, scored on FLIC test
    convcorr run tompson2015.tables --set model=runs/pose_default    # tables of a trained model: a run folder,
    convcorr run tompson2015.tables --set model=flic --data-root FLIC  # a model folder or a shipped model's name

Prints "tompson: PCK@0.05 coarse C -> cascade F (S s)" (at tiny the numbers are meaningless), plus MPII PCKh@0.5
of the published prediction files when the real annotation folder holds them (Table 4). The pose cascade is trained
from scratch on the experiment's data: the `backbone` and `weights` fields are unused here.

Tables: 3, PCK@0.05 per joint group (the dataset's groups, `convcorr_jax.pose.joints`; torso-normalised; a
model trained on MPII is scored with PCKh@0.5, the head size of `valid.h5` as normaliser, `pose.data.headline`,
its "all" column the MPII toolkit's Total over 14 joints; the caption names what "all" pools, `total_joints`);
1, sigma of the x error per group; 2 (not at tiny), forward milliseconds per image at 4x/8x/16x pooling on this
CPU; 4, PCKh of the published MPII validation prediction files.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from convcorr_jax.core import metrics
from convcorr_jax.core.paths import real_data_root
from convcorr_jax.pose import joints, predict
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose.training.loop import load_data, train
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_jax.pose.data import PoseArrays, flic_crops, headline
from convcorr_jax.core.errors import InputError
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.report import comparable, markdown_table, ran_on, score_about
from convcorr_eval.tompson2015 import figures, paper, pckh
from convcorr_eval.tompson2015.trained import model_fields, scored_model, take_old_name, with_model_state
from convcorr_train import pose_configs

DATA = ("synthetic", "flic", "mpii")


def _train_config(size: str) -> TrainConfig:
    tiny, default = pose_configs.get_config("tiny"), pose_configs.get_config("default")
    return sized(size, {
        "tiny": dataclasses.replace(tiny, steps=(4, 2, 2), n_samples=24, eval_limit=8),
        "default": dataclasses.replace(default, steps=(300, 450, 50), checkpoint_every=50, eval_limit=120),
        "full": default,
    })


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """train: the cascade's TrainConfig (`--set train.steps=8,4,4`, `--set train.model.pool=16`); its data,
    data_root, seed, out and name come from this config and the run folder, and its joint count and flip
    permutation from `data`. timing: Table 2. reference_pckh: Table 4 when the real MPII folder
    (`convcorr_jax.core.paths.real_data_root()/mpii`) holds the published prediction files. model: score this trained
    model instead of training (a training run folder, a model folder or a shipped model's name, read only; its test
    split read from `data_root`, else the run's own; run_dir: its older name); trained: its identity
    (`trained.model_state`, set by `identify`), part of the run key."""

    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    timing: bool = True
    reference_pckh: bool = True
    model: str | None = None
    run_dir: str | None = None
    trained: str | None = None

    def __post_init__(self):
        super().__post_init__()
        take_old_name(self)


def get_config(size: str = "default") -> Config:
    return Config(size=size, train=_train_config(size), timing=size != "tiny")


def identify(cfg: Config) -> Config:
    """cfg with `trained` set to the identity of the model it scores, where it scores one (the runner calls it)."""
    return with_model_state(cfg, required=False)


# the scored model's folder, a path the runner compares by where it leads (`run_keys.places`)
path_fields = model_fields


def _mpii_reference(cfg: Config) -> Path | None:
    """The real MPII folder whose published prediction files make Table 4 (`reference_pckh`), else None."""
    real = real_data_root()
    return real / "mpii" if cfg.reference_pckh and real is not None else None


def data_paths(cfg: Config) -> dict[str, str | None]:
    """What a run reads (part of the run key, so a changed file makes a new run): data_root, and for Table 4 the
    MPII validation annotations and the folder of published prediction files (`pckh.reference_results`)."""
    mpii = _mpii_reference(cfg)
    if mpii is None or not pckh.has_reference(mpii):
        return {"data_root": cfg.data_root}
    preds = mpii / "reference_preds"
    return {"data_root": cfg.data_root, "mpii_annot": str(mpii / "hg_annot" / "valid.h5"),
            "mpii_reference_preds": str(preds) if preds.is_dir() else None}


def train_config(cfg: Config, ctx: Context) -> TrainConfig:
    """cfg.train with the experiment's data, seed and joint set; one run folder per training config, so that a
    changed schedule trains afresh and the same config resumes from its checkpoints."""
    js = joints.joint_set(cfg.data)
    tc = cfg.train
    tc = dataclasses.replace(tc, data=cfg.data, data_root=cfg.data_root, seed=cfg.seed,
                             out=str(ctx.run_dir / "pose_runs"),
                             model=dataclasses.replace(tc.model, num_joints=js.num_joints),
                             augment=dataclasses.replace(tc.augment, flip_perm=js.flip))
    return dataclasses.replace(tc, name=f"pose_{cfg.size}-{tc.fingerprint()[:8]}")


def forward_times(base: pose_model.ModelConfig, pools=(4, 8, 16), batch: int = 8,
                  repeats: int = 10) -> dict[int, dict[str, float]]:
    """Forward ms per image (best of `repeats`; untrained weights, time does not depend on values) of the coarse
    model, the fine model and the cascade at each pooling (a pretrained trunk's model: pool 8 only, its stride)."""
    out = {}
    for pool in (p for p in pools if not base.trunk or p == 8):
        cfg = dataclasses.replace(base, pool=pool)
        params = pose_model.init(jax.random.PRNGKey(0), cfg)
        x = jax.random.uniform(jax.random.PRNGKey(1), (batch, cfg.image_size, cfg.image_size, 3))
        coarse = jax.jit(lambda p, x: pose_model.apply_coarse(p, x, cfg)[:2])
        full = jax.jit(lambda p, x: pose_model.apply(p, x, cfg)["xy"])
        hm, feats = coarse(params, x)
        origin = pose_model.window_origin(pose_model.coarse_points(hm, cfg), cfg)
        fine = None if cfg.variant == "standard" else jax.jit(
            lambda p, f, o: pose_model.Fine(cfg).apply(
                {"params": p["fine"]}, [pose_model.crop(fi, o, lv, cfg) for lv, fi in enumerate(f)]))
        res = {}
        for name, fn, args in (("Coarse-Model", coarse, (params, x)), ("Cascade", full, (params, x)),
                               ("Fine-Model", fine, (params, feats, origin))):
            if fn is None:
                continue
            jax.block_until_ready(fn(*args))
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(*args))
                ts.append(time.perf_counter() - t0)
            res[name] = 1000 * min(ts) / batch
        out[pool] = res
    return out


def _rows(named: dict[str, list]) -> list[list]:
    return [[name, *vals] for name, vals in named.items()]


def total_joints(js: joints.JointSet, visible: np.ndarray, pckh: bool = True) -> tuple[np.ndarray, str]:
    """The keypoints an "all" column pools and what they are, in words, for the table's title.

    Args:
        js: the test set's joint set.
        visible: bool [N, K], the labelled keypoints.
        pckh: whether "all" is a PCKh (on the 16 MPII joints the toolkit's Total) or a PCK (every keypoint).

    Returns:
        (bool [N, K], text): the keypoints pooled: with pckh on the 16 MPII joints the official toolkit's Total
        (`metrics.pckh_pooled_joints`: pelvis and thorax left out, as `convcorr eval pckh` scores and training's
        held-out PCKh pools), else `visible` as it is; the text "; all: ..." says which they are and names those
        pooled that no column shows (MPII's upper neck, LSP's neck).
    """
    k = len(js.names)
    pooled, about = metrics.pckh_pooled_joints(js.name, k) if pckh else (np.ones(k, bool), "")
    shown = {j for members in js.groups.values() for j in members}
    hidden = [js.names[j] for j in range(k) if pooled[j] and j not in shown]
    listed = ", ".join(hidden[:-1]) + (" and " if len(hidden) > 1 else "") + (hidden[-1] if hidden else "")
    text = (about or f"every labelled keypoint of the {k}") + (f", {listed} in no column" if hidden else
                                                               ", each in a column")
    return np.asarray(visible, bool) & pooled, f"; all: {text}"


def evaluate_run(tc: TrainConfig, params: dict, test: PoseArrays, figures_dir: Path | None = None,
                 timing: bool = True, mpii_reference: Path | None = None, on: str = "",
                 with_paper: bool = True) -> tuple[str, dict]:
    """Markdown (Tables 1-4 beside the paper's numbers) and metrics of trained params on a test set, with the
    joint groups of the training data (`tc.data`). on: what our rows ran on (`report.ran_on`), added to each;
    with_paper: False leaves the paper's rows out (a tiny run, `report.comparable`)."""
    js = joints.joint_set(tc.data, tc.model.num_joints)
    title = "synthetic people (MPII joints)" if tc.data == "synthetic" else f"{js.dataset} people"
    out = predict.predict_crops(params, test.images, tc.model)
    coarse, casc = out["coarse"], out["cascade"]
    g, v, n = test.points, test.visible, test.norm
    preds = {"coarse": coarse, "cascade": casc}
    pool = tc.model.pool
    res: dict = {"pool": pool, "n_test": len(test), "joints": js.dataset}
    score, alpha = headline(tc.data)  # MPII: PCKh@0.5 (test.norm = head size); else PCK@0.05 (torso)
    unit = "head-normalised" if score == "PCKh" else "torso-normalised"
    t3 = {k: joints.group_pck(p, g, v, n, js.groups, alpha) for k, p in preds.items()}
    res["table3"], res["score"] = t3, f"{score}@{alpha:g}"
    v_all, all_about = total_joints(js, v, score == "PCKh")  # PCKh on MPII: the toolkit's Total
    overall = {k: float(100 * metrics.pck(p, g, v_all, n, alpha)) for k, p in preds.items()}
    res[res["score"].lower()] = overall  # "pck@0.05" or "pckh@0.5"
    res["score_about"] = score_about("head segment" if score == "PCKh" else "torso", alpha, "percent")
    cols = list(js.groups)
    ours = f" ({on})" if on else ""
    rows: dict[str, list[Any]] = {f"ours {k} {pool}x{ours}": [t3[k][c] for c in cols] + [overall[k]] for k in preds}
    rows.update({f"paper (different data, FLIC): {k}": [vals[paper.TABLE3_COLUMNS.index(c)]
                                                        if c in paper.TABLE3_COLUMNS else "-" for c in cols] + ["-"]
                 for k, vals in paper.TABLE3.items() if with_paper})
    md = [f"**Table 3: {score}@{alpha:g} ({unit}), {title} test set ({len(test)} people){all_about}**", "",
          markdown_table(["model", *[joints.column_label(c, js.groups[c], js.names) for c in cols], "all"],
                         _rows(rows)), ""]
    t1_cols = [c for c in paper.TABLE1_COLUMNS if c in js.groups]
    t1 = {k: {c: joints.x_sigma(p, g, v, js.groups[c]) for c in t1_cols} for k, p in preds.items()}
    res["table1_sigma_x"] = t1
    rows = {f"ours {k} {pool}x{ours}": [t1[k][c] for c in t1_cols] for k in preds}
    rows.update({f"paper (different data): {k}": list(vals) for k, vals in paper.TABLE1.items() if with_paper})
    t1_labels = [joints.column_label(c, js.groups[c], js.names) for c in t1_cols]  # as Table 3 labels them
    face = "; the paper names the Head column Face (FLIC's l eye, r eye and nose)" if with_paper else ""
    md += [f"**Table 1: sigma of x error (pixels at the {tc.model.image_size}px input; |error| > 20 removed), "
           f"{title}{face}**", "", markdown_table(["model", *t1_labels], _rows(rows), "{:.2f}"), ""]
    if figures_dir is not None:
        alphas = np.linspace(0, 4 * alpha, 21)  # PCK 0..0.2 (torso); MPII PCKh 0..2
        figures.pck_curves({k: np.array([100 * metrics.pck(p, g, v_all, n, a) for a in alphas])
                            for k, p in preds.items()},
                           figures_dir / "tompson_pck_curves.png", alphas, f"{score} ({unit}), {title}",
                           "head size" if score == "PCKh" else "torso")
        head_sho = js.groups["Head"] + js.groups["Shoulder"]
        figures.x_error_hist({f"{k}: head+shoulders": joints.x_errors(p, g, v, head_sho) for k, p in preds.items()},
                             figures_dir / "tompson_x_error_hist.png")
        figures.skeletons(test.images, {"ground truth": g, "coarse": coarse, "cascade": casc}, js,
                          figures_dir / "tompson_skeletons.png", shown={"ground truth": v})
        md += ["![PCK curves](figures/tompson_pck_curves.png) ![x error](figures/tompson_x_error_hist.png)", "",
               "![skeletons](figures/tompson_skeletons.png)", ""]
    if timing:
        ft = forward_times(tc.model)
        res["table2_ms"] = {str(k): v for k, v in ft.items()}
        rows = {k: [ft.get(p, {}).get(k, float("nan")) for p in (4, 8, 16)]
                for k in ("Coarse-Model", "Fine-Model", "Cascade")}
        rows.update({f"paper K40 (FLIC 320x240): {k}": list(vals) for k, vals in paper.TABLE2.items() if with_paper})
        md += [f"**Table 2: forward ms per image ({tc.model.image_size}px, this CPU, batch 8)**", "",
               markdown_table(["model", "4x pool", "8x pool", "16x pool"], _rows(rows)), ""]
    if mpii_reference is not None and pckh.has_reference(mpii_reference):
        r = pckh.reference_results(mpii_reference)
        res["table4_pckh"] = {k: pckh.json_tables(val) for k, val in r.items()}
        cols4 = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
        rows = {f"{k} (real mpii, validation split, published predictions)": [val["0.5"][c] for c in cols4]
                for k, val in r.items()}
        rows.update({f"paper: {k}": list(vals) for k, vals in paper.TABLE4.items() if with_paper})
        md += ["**Table 4: PCKh@0.5 on the MPII validation split (2958 people), published prediction files, official "
               "toolkit definition**", "", markdown_table(["system", *cols4], _rows(rows), "{:.1f}"), ""]
        notes = [f"{f.name} not found under {f.parent.name}/: its row is left out" for f in
                 pckh.skipped_reference(mpii_reference)] + [v["warning"] for v in r.values() if v["warning"]]
        md += [*(f"- {n}" for n in notes), ""] if notes else []
        if figures_dir is not None:
            pckh.pckh_curve_figure(r, figures_dir / "tompson_pckh_mpii.png")
            md += ["![PCKh](figures/tompson_pckh_mpii.png)", ""]
    return "\n".join(md), res


def _test_set(tc: TrainConfig) -> PoseArrays:
    """The test split of a training config's data (FLIC: its test crops; `load_data` gives train/validation)."""
    if tc.data == "flic":
        assert tc.data_root is not None  # `run` refuses a model without it; training's `load_data` refused it first
        return flic_crops(tc.data_root, "test", tc.model.image_size, tc.crop_scale, protocol=tc.protocol).arrays
    return load_data(tc)[1]


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, DATA)
    t0 = time.time()
    if cfg.model is not None:  # a trained model: read, never written into
        model, _ = scored_model(cfg.model)
        tc, params = model.config, model.params
        tc = dataclasses.replace(tc, data_root=cfg.data_root or tc.data_root)
        if tc.data != "synthetic" and not tc.data_root:
            raise InputError("config", "data_root", f"the model's {tc.data} folder (--data-root DIR): its test "
                             "split is scored", None)
        test_set = _test_set(tc)
        head, images_per_s = f"Model {cfg.model} ({tc.steps} steps, pool {tc.model.pool}x).\n\n", None
    else:
        tc = train_config(cfg, ctx)
        train_set, test_set = load_data(tc)
        test_set = test_set.first(tc.eval_limit)
        trained = train(tc, (train_set, test_set), progress=ctx.progress)
        params, images_per_s = trained.params, trained.images_per_s
        if tc.data == "flic":  # trained and monitored on FLIC train / validation movies; scored on test
            test_set = _test_set(tc).first(tc.eval_limit)
        people = "synthetic people" if tc.data == "synthetic" else tc.data.upper() + " people"
        head = (f"Cascade trained in three stages ({tc.steps} steps, batch {tc.batch_size}, pool {tc.model.pool}x) "
                f"on {len(train_set)} {people}")
    mpii = _mpii_reference(cfg)
    net = f"{tc.model.trunk} trunk" if tc.model.trunk else "cascade trained from scratch"
    on = ran_on(dataclasses.replace(cfg, data=tc.data), "test", net)  # backbone and weights unused: its own network
    md, metrics_ = evaluate_run(tc, params, test_set, ctx.figures, cfg.timing, mpii, on,
                                comparable(cfg, network=False))
    if images_per_s is not None:
        metrics_["train_images_per_s"] = images_per_s
    metrics_["wall_s"] = time.time() - t0
    score = metrics_["score"]
    c, f = metrics_[score.lower()]["coarse"], metrics_[score.lower()]["cascade"]
    if cfg.model is None:
        head += f"; test {score}: coarse {c:.1f}, cascade {f:.1f}.\n\n"
    summary = f"tompson: {score} (%) coarse {c:.1f} -> cascade {f:.1f} ({metrics_['wall_s']:.0f} s)"
    if "table4_pckh" in metrics_:
        tot = {k: val["0.5"]["Total"] for k, val in metrics_["table4_pckh"].items()}
        summary += "; MPII PCKh@0.5 " + ", ".join(f"{k} {val:.1f}" for k, val in tot.items())
    return Result(summary, head + md, metrics_)
