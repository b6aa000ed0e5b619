"""Tompson et al. 2015 on FLIC: score a trained run (Table 3, Figure 15, Table 2 on this CPU, refinement ablation).

    convcorr eval flic --model flic|MODEL_DIR|runs/pose_flic --root FLIC_FOLDER [--json out.json] [--figure f.png]
                       [--split test|val] [--refine on|off] [--spatial on|off] [--timing] [--out runs]
                       [--name N] [--force] [--set test_flip=true] [--set test_scales=0.8,0.9,1]
                       [--set test_merge=median]
                       [--set protocol=frame --set image_size=288 [--set second_pass=0.9]]
    convcorr run tompson2015.flic --data-root FLIC_FOLDER --set model=runs/pose_flic [--set split=val]

Experiment `tompson2015.flic`: scores a pose model (`Config.model`: a shipped model's name, an exported model folder
or a training run folder, `trained.scored_model`; `--run` / `run_dir` are older names) and never writes into it. Its
run folder (`convcorr eval flic`: runs/tompson2015.flic_<model>, with _val / _raw / _nospatial for --split val /
--refine off / --spatial off, then a digest of the settings and of the model's identity, `trained.model_state`)
holds config.json, metrics.json (the scores below), report.md/html and figures/flic_fig15.png. Prints the tables of
`markdown` and the line of `summary_line`; the "validated" row is the model's stored read-out (readout.json, chosen on
its validation split: `python -m convcorr_train.choose_readout` chooses it again with the spatial model's read-outs);
scored on that split (--split val), a line under Table 3 says the numbers are optimistic, and "validated" records
"readout_chosen_on" and "readout_chosen_on_scored_split" (`pose.readout.chosen_on_scored_split`).

FLIC PCK, torso-normalised (|l shoulder - r hip|, MODEC), on the run's inputs (`convcorr_jax.pose.data`: person
crops, or whole frames with `TrainConfig.protocol="frame"`, or another input with `Config.protocol` and
`image_size`; PCK is invariant to their uniform scale). Joint groups:
`convcorr_jax.pose.joints.FLIC`; "Head" pools the three face points l eye, r eye and nose, each scored on its own
(the paper's "Face" column). The JSON holds "protocol", "trunk" (the run's input and pretrained trunk), {"pck":
{"0.05": {"coarse": {group: fraction, "all": fraction}, "coarse+spatial": ..., "cascade": {...},
"cascade+spatial": ...}, "0.1": ..., "0.2": ...}} (fractions 0..1; each row's groups, then "all": the 11 joints
pooled; "product" and "product+spatial" with --refine on; the "+spatial" rows with --spatial on; "two-pass" with
`Config.second_pass`), plus "ablation" ({read-out: {alpha: {group: fraction, "all": fraction}}} for every read-out
of `convcorr_jax.pose.predict`, the "spatial_" ones with --spatial on), "spatial" (its settings), "curve" (Figure 15:
mean of wrist and elbow PCK at normalised distances 0..0.2, every read-out) and, with --timing, "table2_ms" (forward
ms per image on this CPU).
`--refine` picks the read-out of the main table for both models alike: on = parabola sub-cell refinement of the
coarse and of the fine arg-max (ours, not the paper's), off = integer arg-maxes.
`--spatial on` adds the rows of the tree MRF spatial model (Sec. 3.3, `convcorr_jax.pose.spatial`) applied to the
coarse heat-maps before the fine model, conditioned on the ground-truth torso (the torso box's centre: the person
crop's centre, or its place in the whole frame), with offset priors learned from the ground truth of FLIC train
(minus the validation movies when scoring those: `prior_split`; annotations only: `flic_points`); its settings (the
`spatial_*` fields, each a field of `convcorr_jax.pose.spatial.SpatialConfig`) default to the ones chosen on the
validation movies by `tompson2015.spatial_validation` (`spatial.FLIC_VALIDATED`).
The crops are built on the first call and cached.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from convcorr_jax.core import metrics
from convcorr_jax.core.errors import InputError
from convcorr_jax.data.flic_people import examples_mat
from convcorr_jax.pose import joints, predict, recrop
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import scales as pose_scales
from convcorr_jax.pose import spatial as spatial_mrf
from convcorr_jax.pose.data import PROTOCOLS, PoseArrays, crop_images, flic_crops, flic_split
from convcorr_jax.pose.predict import READOUTS
from convcorr_jax.pose.training.run_folder import load_run  # noqa: F401  (flic_sweep and the benches read runs through it)
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_jax.pose.recrop import TORSO
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.report import markdown_table, percent, save_figure, score_about
from convcorr_eval.tompson2015 import figures, paper
from convcorr_eval.tompson2015.flic_readout import with_validated
from convcorr_eval.tompson2015.flic_spatial import prior_split, spatial_inputs, spatial_label
from convcorr_eval.tompson2015.trained import (model_fields, model_help, model_name, scored_model, take_old_name,
                                               with_model_state)

ALPHAS = ("0.05", "0.1", "0.2")
CURVE_ALPHAS = np.round(np.linspace(0.0, 0.2, 21), 3)
HEAD = "Head = mean over the face points l eye, r eye, nose (the paper's Face column)"
MAIN = {"on": {"coarse": "coarse_refined", "coarse+spatial": "spatial_coarse_refined", "cascade": "cascade",
               "cascade+spatial": "spatial_cascade", "product": "cascade_product",
               "product+spatial": "spatial_cascade_product", "two-pass": "second_cascade"},
        "off": {"coarse": "coarse", "coarse+spatial": "spatial_coarse", "cascade": "cascade_raw",
                "cascade+spatial": "spatial_cascade_raw", "two-pass": "second_cascade_raw"}}
SPATIAL = "on"  # the default of --spatial, chosen on the validation movies (bench/RESULTS_pose.md)
SPLITS = ("test", "val")
FIGURE = "flic_fig15.png"
PAGE = "flic_best_worst.png"  # the best and worst people, ground truth beside prediction
# the experiment's spatial_* fields: each is the SpatialConfig field of the same name without the prefix
SPATIAL_FIELDS = ("mode", "unary_power", "kernel", "prior_sigma", "prior_floor", "torso_sigma")


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """data_root: the FLIC folder (examples.mat + images/); model: the model scored (a shipped model's name, a model
    folder or a training run folder; run_dir: its older name, `trained.take_old_name`); trained: the model's identity
    (`trained.model_state`, set by `identify`), part of the run key so that another model, or a run trained further,
    is scored again; split: test (final numbers) or val (the validation movies); refine: the main table's read-out (on:
    parabola sub-cell refinement of both arg-maxes, off: integer arg-maxes); spatial: on adds the rows with the
    spatial model, whose settings are `spatial.FLIC_VALIDATED` with the spatial_* fields (`SPATIAL_FIELDS`: mode,
    unary_power, kernel, prior_sigma, prior_floor, torso_sigma of `spatial.SpatialConfig`, defaults from
    FLIC_VALIDATED); test_flip: test-time horizontal flip with left/right joints swapped (`pose.flip`);
    test_scales: test-time crop scales, relative to the run's crop scale (person crops only): each person is
    cropped at each, predicted, and the predictions mapped back and merged by test_merge ("mean" or "median",
    `pose.scales.merge_scales`); (1,): one crop;
    protocol, image_size: the input the run is scored on, None: the run's own (`with_input`; e.g. a person-crop
    run on whole frames: protocol "frame", image_size 288 puts FLIC's 360 x 240 frames at 0.8 x, about the scale
    of the 128 px crops of 2.5 x the torso box); second_pass: with whole frames and a run trained on person crops,
    the "two-pass" row: every person cropped again around the torso joints the first pass predicted (cascade with
    the spatial model), at second_pass x the run's crop scale (`pose.recrop`), and scored by the run's own model;
    test_flip and test_scales then apply to the second pass only; None: no second pass;
    timing: Table 2 forward ms per image on this machine. The backbone and weights fields are unused (the cascade
    has its own weights)."""

    data: str = "flic"
    model: str | None = None
    run_dir: str | None = None
    trained: str | None = None
    split: str = "test"
    refine: str = "on"
    spatial: str = SPATIAL
    spatial_mode: str = spatial_mrf.FLIC_VALIDATED.mode
    spatial_unary_power: float = spatial_mrf.FLIC_VALIDATED.unary_power
    spatial_kernel: int = spatial_mrf.FLIC_VALIDATED.kernel
    spatial_prior_sigma: float = spatial_mrf.FLIC_VALIDATED.prior_sigma
    spatial_prior_floor: float = spatial_mrf.FLIC_VALIDATED.prior_floor
    spatial_torso_sigma: float = spatial_mrf.FLIC_VALIDATED.torso_sigma
    timing: bool = False
    test_flip: bool = False
    test_scales: tuple[float, ...] = (1.0,)
    test_merge: str = "mean"
    protocol: str | None = None
    image_size: int | None = None
    second_pass: float | None = None

    def __post_init__(self):
        super().__post_init__()
        take_old_name(self)
        if self.second_pass is not None and not (np.isfinite(self.second_pass) and self.second_pass > 0):
            raise InputError("config", "second_pass", "a finite crop scale factor > 0 or none", self.second_pass)
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise InputError("config", "protocol", f"one of {list(PROTOCOLS)} or none (the run's)", self.protocol)
        if self.image_size is not None and not (isinstance(self.image_size, int) and self.image_size > 0):
            raise InputError("config", "image_size", "a positive number of pixels or none (the run's)",
                             self.image_size)
        if not self.test_scales or any(not (np.isfinite(s) and s > 0) for s in self.test_scales):
            raise InputError("config", "test_scales", "one or more finite crop scales > 0", self.test_scales)
        pose_scales.check_merge(self.test_merge, "config", "test_merge")
        for field, value, allowed in (("split", self.split, SPLITS), ("refine", self.refine, tuple(MAIN)),
                                      ("spatial", self.spatial, ("on", "off"))):
            if value not in allowed:
                raise InputError("config", field, f"one of {list(allowed)}", value)
        self.spatial_model()

    def spatial_model(self) -> spatial_mrf.SpatialConfig:
        """`spatial.FLIC_VALIDATED` with the spatial_* fields, validated (InputError naming the spatial_ field)."""
        cfg = dataclasses.replace(spatial_mrf.FLIC_VALIDATED,
                                  **{f: getattr(self, f"spatial_{f}") for f in SPATIAL_FIELDS})
        try:
            return cfg.validate()
        except InputError as e:
            raise InputError("config", f"spatial_{e.field}", e.expected, e.got) from None

    def spatial_settings(self) -> spatial_mrf.SpatialConfig | None:
        """The spatial model's settings (`spatial_model`), or None with spatial off."""
        return None if self.spatial == "off" else self.spatial_model()


def get_config(size: str = "default") -> Config:
    """The same scoring at every size (the size of the trained model is the training run's)."""
    return sized(size, {s: Config(size=s) for s in ("tiny", "default", "full")})


def check_inputs(cfg: Config) -> None:
    """The FLIC folder (`data_root`) checked before any run folder is made: one InputError naming a file given in
    its place or a missing examples.mat (`flic_people.examples_mat`)."""
    if cfg.data_root is not None:
        examples_mat(cfg.data_root)


def identify(cfg: Config) -> Config:
    """cfg with `trained` set to its model's identity (`trained.with_model_state`; the runner calls it)."""
    return with_model_state(cfg)


# the scored model's folder, a path the runner compares by where it leads (`run_keys.places`)
path_fields = model_fields


def run_name(cfg: Config) -> str:
    """The readable run folder name of `convcorr eval flic`: tompson2015.flic_<model>[_val][_raw][_nospatial]..."""
    return ("tompson2015.flic_" + model_name(cfg.model) + ("_val" if cfg.split == "val" else "")
            + ("_raw" if cfg.refine == "off" else "") + ("_nospatial" if cfg.spatial == "off" else "")
            + ("_flip" if cfg.test_flip else "")
            + ("" if tuple(cfg.test_scales) == (1.0,) else "_scales" + "-".join(f"{s:g}" for s in cfg.test_scales))
            + ("" if cfg.test_merge == "mean" else f"_{cfg.test_merge}")
            + (f"_{cfg.protocol}" if cfg.protocol else "") + (f"_{cfg.image_size}px" if cfg.image_size else "")
            + (f"_pass2x{cfg.second_pass:g}" if cfg.second_pass is not None else ""))


def with_input(tc: TrainConfig, protocol: str | None = None, image_size: int | None = None) -> TrainConfig:
    """tc scoring another input: `protocol` ("person", "frame", "native"; `pose.data`) and the input side
    `image_size` in pixels (a multiple of the model's pool); None keeps the run's. The models are convolutional,
    so a run trained on person crops reads whole frames with the same weights (the spatial model picks the person
    from the torso)."""
    protocol = tc.protocol if protocol is None else protocol
    size = tc.model.image_size if image_size is None else int(image_size)
    if protocol not in PROTOCOLS:
        raise InputError("config", "protocol", f"one of {list(PROTOCOLS)}", protocol)
    if size <= 0 or size % tc.model.pool:
        raise InputError("config", "image_size", f"a positive multiple of the model's pool {tc.model.pool}", size)
    if (protocol, size) == (tc.protocol, tc.model.image_size):
        return tc
    return dataclasses.replace(tc, protocol=protocol, model=dataclasses.replace(tc.model, image_size=size))


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
             timing: bool = False, spatial: spatial_mrf.SpatialConfig | None = None, test_flip: bool = False,
             page: str | Path | None = None, log_priors: np.ndarray | None = None,
             test_scales: tuple[float, ...] = (1.0,), second_pass: TrainConfig | None = None,
             second_scale: float = 1.0, test_merge: str = "mean") -> dict:
    """Scores of trained params on a FLIC split (see the module docstring); spatial: the spatial model's settings
    (None: without it); test_flip: test-time flip with left/right joints swapped (`pose.flip`); test_scales: crop
    scales relative to the run's (person crops only), predictions mapped into the run's crops and merged by
    test_merge ("mean" or "median", `pose.scales.merge_scales`; `Config.test_scales`); page: where to draw
    the best and worst people (`page_figure`; None: not drawn); log_priors: the spatial model's priors
    [E, kh, kw] in place of the ground-truth histograms (e.g. `spatial.fit_priors`); second_pass: a person-crop
    config of the same params (the run's own) for the "two-pass" read-outs on whole frames (`second_pass_points`,
    crops at second_scale x its crop scale); test_flip and test_scales then apply to the second pass only."""
    js = joints.joint_set("flic", tc.model.num_joints)
    scales = tuple(float(s) for s in test_scales)
    if second_pass is not None and (tc.protocol == "person" or second_pass.protocol != "person"):
        raise InputError("config", "second_pass", "whole frames (protocol frame or native) scored with a run "
                         "trained on person crops", f"{tc.protocol} inputs, a {second_pass.protocol} run")
    if scales != (1.0,) and tc.protocol != "person" and second_pass is None:
        raise InputError("config", "test_scales", "(1,) for whole frames (crop scales apply to person crops)", scales)
    base = flic_crops(root, split, tc.model.image_size, tc.crop_scale, protocol=tc.protocol)
    data = base.arrays
    by_scale = []
    for s in (1.0,) if second_pass is not None else scales:  # with a second pass, the scales are its own
        crops = base if s == 1.0 else flic_crops(root, split, tc.model.image_size, tc.crop_scale * s,
                                                 protocol=tc.protocol)
        sp = None if spatial is None else spatial_inputs(root, tc.model.image_size, tc.model.pool, tc.crop_scale * s,
                                                          len(data), spatial, split, protocol=tc.protocol)
        if sp is not None and log_priors is not None:
            sp = dataclasses.replace(sp, log_priors=np.asarray(log_priors, np.float32))
        flip = joints.FLIC.flip if test_flip and second_pass is None else None
        preds = predict.predict_crops(params, crops.arrays.images, tc.model, spatial=sp, flip=flip)
        by_scale.append((crops.affine, preds))
    preds = by_scale[0][1] if len(by_scale) == 1 else {
        k: pose_scales.merge_scales([p[k] for _, p in by_scale], [a for a, _ in by_scale], base.affine, test_merge)
        for k in by_scale[0][1]}
    if second_pass is not None:
        first = preds[MAIN[refine]["cascade" if spatial is None else "cascade+spatial"]]
        preds.update(second_pass_points(second_pass, params, root, split, first, base.affine, second_scale,
                                        test_flip, scales, test_merge))
    res: dict = {"split": split, "n": len(data), "refine": refine, "test_flip": bool(test_flip),
                 "test_scales": list(scales), "test_merge": test_merge,
                 "second_pass": None if second_pass is None else {"crop_scale": second_pass.crop_scale * second_scale,
                                                                  "image_size": second_pass.model.image_size},
                 "pool": tc.model.pool, "protocol": tc.protocol,
                 "trunk": tc.model.trunk or "none (the paper's banks)",
                 "image_size": tc.model.image_size, "head": HEAD,
                 "spatial": None if spatial is None else {**spatial.to_dict(), "label": spatial_label(spatial),
                                                          "priors": f"FLIC {prior_split(split)} ground truth"}}
    res["ablation"] = {k: {a: group_table(p, data, float(a)) for a in ALPHAS} for k, p in preds.items()}
    if page is not None:
        readout = MAIN[refine]["two-pass" if second_pass is not None else
                               "cascade" if spatial is None else "cascade+spatial"]
        page_figure(data, preds[readout], js, f"FLIC {split}, {readout}", page)
    res["pck"] = {a: {m: res["ablation"][r][a] for m, r in MAIN[refine].items() if r in preds} for a in ALPHAS}
    res["pck_about"] = score_about("torso", [float(a) for a in ALPHAS])
    res["curve"] = {"alphas": [float(a) for a in CURVE_ALPHAS],
                    **{k: arm_curve(p, data) for k, p in preds.items()}}
    if timing:
        from convcorr_eval.tompson2015.tables import forward_times

        res["table2_ms"] = {str(k): v for k, v in forward_times(tc.model).items()}
    return res


def second_pass_points(tc: TrainConfig, params: dict, root: str | Path, split: str, first: np.ndarray,
                       frame_affine: np.ndarray, scale: float = 1.0, test_flip: bool = False,
                       test_scales: tuple[float, ...] = (1.0,), merge: str = "mean") -> dict[str, np.ndarray]:
    """The "second_" read-outs [N, K, 2] in the frame inputs of frame_affine [N, 2, 3] (image -> input): each
    person of FLIC `split` cropped around the torso joints (`TORSO`) of first [N, K, 2] (the first pass, frame
    input pixels) at tc's input size and scale x tc.crop_scale x the train annotations' torso-box ratio
    (`recrop.box_ratio` on `prior_split(split)`), optionally at test_scales of it and mirrored, predicted by
    params under tc (a person-crop config), mapped back and merged by merge (`pose.scales.merge_scales`)."""
    prior = flic_split(root, prior_split(split))
    ratio = recrop.box_ratio(np.stack([s.extras["torso_box"] for s in prior]),
                             np.stack([s.points for s in prior]), TORSO)
    samples = flic_split(root, split)
    size = tc.model.image_size
    affines, preds = [], []
    for s in test_scales:
        affine = recrop.crop_affines(first, frame_affine, TORSO, size, tc.crop_scale * scale * s, ratio)
        preds.append(predict.predict_crops(params, crop_images(samples, affine, size), tc.model,
                                     flip=joints.FLIC.flip if test_flip else None))
        affines.append(affine)
    return {f"second_{k}": pose_scales.merge_scales([p[k] for p in preds], affines, frame_affine, merge)
            for k in READOUTS}


def markdown(res: dict, with_paper: bool = True) -> str:
    """Table 3 (PCK@0.05 in percent, the paper's rows beside ours), the PCK tables at 0.05/0.1/0.2, the ablation
    and (if measured) Table 2."""
    groups = list(joints.FLIC.groups)
    t3 = res["pck"]["0.05"]
    on = f"real flic, {res['split']} split, {res['n']} people"  # what our rows ran on
    rows = [[f"ours {m} {res['pool']}x ({on})", *[100 * t3[m][c] for c in paper.TABLE3_COLUMNS]] for m in t3]
    if res.get("validated"):
        v = res["validated"]
        rows.insert(0, [f"ours validated: {v['readout']} {res['pool']}x ({on})",
                        *[100 * v["pck"]["0.05"][c] for c in paper.TABLE3_COLUMNS]])
    if with_paper:
        rows += [[f"paper {k}", *v] for k, v in paper.TABLE3.items()]
    sm = res.get("spatial")
    with_sm = f"; +spatial: the spatial model ({sm['label']}) before the fine model" if sm else ""
    inputs = {"person": "person crops", "frame": "whole frames", "native": "whole frames at native size"}[
        res.get("protocol", "person")] + (", test-time flip" if res.get("test_flip") else "") + (
        ", test-time crop scales " + " / ".join(f"{s:g}" for s in res["test_scales"])
        + ("" if res.get("test_merge", "mean") == "mean" else f" (their {res['test_merge']})")
        if res.get("test_scales", [1.0]) != [1.0] else "") + (
        f" ({res['image_size']} px; the run trained on {res['trained_protocol']} inputs)"
        if res.get("trained_protocol", res.get("protocol")) != res.get("protocol") else "") + (
        f"; two-pass: each person cropped again around the predicted torso ({res['second_pass']['image_size']} px, "
        f"{res['second_pass']['crop_scale']:g} x the torso box; flip and scales apply to this pass)"
        if res.get("second_pass") else "")
    trunk = res.get("trunk", "none (the paper's banks)")
    v = res.get("validated")
    chosen = (f"; validated: the model's stored read-out {v['readout']} ({v['label']}), chosen on the "
              f"{v['chosen_on']} by the rule: {v['rule']}" if v else "")
    note = pose_readout.same_split_note(v) if v else ""
    md = [f"**Table 3: FLIC {res['split']} PCK@0.05 (torso, %), {res['n']} people; input: {inputs}; pretrained trunk: "
          f"{trunk}; {res['head']}{with_sm}{chosen}**", "",
          markdown_table(["model", *paper.TABLE3_COLUMNS], rows, "{:.1f}"), "", *([note, ""] if note else [])]
    rows = [[f"{m} @{a}", *[100 * res["pck"][a][m][c] for c in groups + ["all"]]] for a in ALPHAS
            for m in res["pck"][a]]
    md += [f"**PCK (percent) per joint group, refinement {res['refine']}**", "",
           markdown_table(["model @alpha", *groups, "all"], rows, "{:.1f}"), ""]
    rows = [[k, *[100 * res["ablation"][k][a][c] for a in ALPHAS for c in ("Head", "Shoulder", "Elbow", "Wrist")]]
            for k in res["ablation"]]
    hdr = [f"{c[:3]}@{a}" for a in ALPHAS for c in ("Head", "Shoulder", "Elbow", "Wrist")]
    md += ["**Ablation (same checkpoint), PCK (percent): coarse vs cascade, with and without parabola sub-cell "
           "refinement"
           + (", with and without the spatial model (spatial_)" if sm else "") + "**", "",
           markdown_table(["read-out", *hdr], rows, "{:.1f}"), ""]
    if "table2_ms" in res:
        ft = res["table2_ms"]
        rows = [[k, *[ft.get(p, {}).get(k, float("nan")) for p in ("4", "8", "16")]]
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
    figures.pck_curves({k: 100 * np.asarray(v) for k, v in c.items() if k != "alphas"}, Path(path), alphas,
                       f"FLIC {res['split']}: wrist + elbow (Fig. 15)")


def page_figure(data: PoseArrays, pred: np.ndarray, joint_set: joints.JointSet, label: str, path: str | Path,
                alpha: float = 0.05) -> None:
    """The people with the highest and the lowest PCK@alpha (torso) of their own joints, ground truth beside the
    prediction (`figures.best_worst_figure`)."""
    score = figures.image_scores(metrics.pck_hits(pred, data.points, data.visible, data.norm, alpha))
    save_figure(figures.best_worst_figure(data.images, data.points, pred, data.visible, score, joint_set,
                                          f"PCK@{alpha:g}", f"{label}: best and worst people by PCK@{alpha:g} "
                                          "(torso) of their joints"), path)


def summary_line(res: dict) -> str:
    """FLIC <split> PCK@0.05 (torso) of the coarse model and the cascade (and each with the spatial model) per
    joint group, in percent."""
    t = res["pck"]["0.05"]
    if res.get("validated"):
        t = {f"validated ({res['validated']['readout']})": res["validated"]["pck"]["0.05"], **t}
    return f"FLIC {res['split']} PCK@0.05 (torso): " + " | ".join(
        f"{m} " + " ".join(f"{c} {percent(v)}" for c, v in t[m].items()) for m in t)


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("flic",))
    if cfg.model is None:
        raise InputError("config", "model", model_help())
    model, saved = scored_model(cfg.model)  # read only: scoring never writes into the model
    tc, params = model.config, model.params
    if tc.model.num_joints != joints.FLIC.num_joints:
        raise InputError(cfg.model, "joints", f"a model of FLIC's {joints.FLIC.num_joints} joints",
                         f"{tc.model.num_joints} joints ({tc.data})")
    trained_on = tc.protocol
    second = None if cfg.second_pass is None else tc
    tc = with_input(tc, cfg.protocol, cfg.image_size)
    res = evaluate(tc, params, cfg.dataset_root(), cfg.split, cfg.refine, cfg.timing, cfg.spatial_settings(),
                   cfg.test_flip, page=ctx.figures / PAGE, test_scales=cfg.test_scales, second_pass=second,
                   second_scale=cfg.second_pass or 1.0, test_merge=cfg.test_merge)
    res["model"] = str(cfg.model)
    res["trained_protocol"] = trained_on
    res = with_validated(res, saved)
    curve_figure(res, ctx.figures / FIGURE)
    md = (f"{markdown(res)}\n![Figure 15: wrist + elbow PCK](figures/{FIGURE})\n\n"
          f"![best and worst people: ground truth beside prediction](figures/{PAGE})\n")
    return Result(summary_line(res), md, res)
