"""Keypoint transfer on PF-WILLOW (Proposal Flow protocol): Long et al.'s Table 2 question on real images, with
BP flow (the paper's matcher) and the geometric matchers of Hyperpixel Flow and SCOT on the same features.

    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW                  # the validated default
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set transfer.method=ot_rhm
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --backbone mobilenet_v2 --set transfer.taps=block13
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set transfer.features=sift  # SIFT flow; or none
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --backbone torchvision_alexnet \\
        --set transfer.taps=conv4 --set transfer.grid=conv4 --set transfer.normalise=false \\
        --set transfer.beta=0.1                                                          # the single-tap row
    convcorr run long2014.pf_willow --data-root PF-dataset-WILLOW --set classes="car(S),duck(S)" --set pairs_per_class=9
    convcorr eval pf-willow --root PF-dataset-WILLOW --method rhm --taps conv4_1 conv5_1 --json pck.json

Protocol (PF's `dense_flow_eva_WILLOW.m`): every ordered pair (i, j), i != j, of a sub-class (90 per sub-class);
keypoints of image i moved into image j; PCK against j's keypoints at alpha * max(w, h) of the box of j's valid
keypoints, an error below it counting (`correspondence_metrics.pf_pck`), mean over the pairs of a sub-class, then
over sub-classes (HPF and SCOT count an error at most the threshold and average their 900 pairs, 90 per sub-class:
the same numbers but for an error exactly on the threshold). A keypoint is valid when
its coordinates are finite and on its image (`correspondence.points.valid_keypoints`): padded rows (-1, or -2
once a 1-based -1 is made 0-based) and NaN rows of the target are left out of the box and of the count; a keypoint
valid in the target but not in the source is a miss.

The transfer itself is the library's (`convcorr_jax.correspondence`: `frames.make_frames`,
`frame_transfer.move_points`; `transfer_points` is the same on any images), with the settings of `Config.transfer`
(a `PointTransferConfig`); `long2014.pf_willow_protocol` holds the protocol's pairs and ground truth, this
module the scoring (PCK), the report and the figure.

Frames: both images are resized (anisotropically, `geometry.box_to_affine` of the whole image) to `image_size` x
`image_size`. Features (`features`): "cnn" = hyperpixels (`features.hyperpixel.hyperpixel_taps`): each tap of
`taps` read at the nodes of one grid (`grid`: a stride in pixels or a tap), L2-normalised per node when
`normalise`, concatenated; "sift" = dense SIFT at the same nodes; "none" = no features: the zero flow (keypoints
move by the image-to-image scaling of the whole images; no label of the target is used).

Methods (`method`; None, the default: OT + RHM on conv features, BP flow on SIFT and on no features): "bp" = BP flow
(`flow.bp.solve_flow`, features scaled to a mean column norm of `feature_norm`, whole target grid as the label window,
displacements in pixels of a `paper_side` px image as Long et al. so beta keeps the paper's meaning; the grid flow
is read at the keypoint by bilinear interpolation between the 4 nearest nodes, edge values held outside the grid).
"cos", "rhm", "ot", "ot_rhm" = `correspondence.matching` (each source node's best target node; a keypoint moves by
the mean match of the source nodes within `radius` grid strides of it, HPF's transfer, over those within `trim`
grid strides of their median when `trim` is set). The moved point is mapped
back to j's pixels by j's resize. A one-tap "bp" row with `normalise=false` and the tap's own grid is the single-tap
conv flow of Long et al.

Settings are chosen on the validation set, the 6 bundled sub-classes (`VALIDATION_SUBCLASSES`;
`long2014.pf_willow_validation` writes that table); scores that count are on the other 4. Prints the mean
PCK@0.05 / 0.1 / 0.2 over the sub-classes under `data_root` as percentages with one decimal (the report too);
metrics.json keeps fractions in [0, 1] with the normaliser and alphas beside them (`pck_about`). Measured numbers
are in bench/RESULTS_real.md and docs/results.md.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from convcorr_jax.core import correspondence_metrics, io, runinfo
from convcorr_jax.core.config import check_fields
from convcorr_jax.correspondence.frame_transfer import move_points
from convcorr_jax.correspondence.matching import MATCHERS, MatchConfig
from convcorr_jax.correspondence.frames import Frames, frame_boxes, make_frames
from convcorr_jax.backbones.registry import check_input_side, resolve_tap
from convcorr_jax.correspondence.point_config import (FEATURES, METHODS, MIN_IMAGE_SIZE, PointTransferConfig,
                                                       method_label)
from convcorr_jax.correspondence.points import side_models, valid_keypoints
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, nest_transfer, require_data, sized
from convcorr_eval.figures import TransferRow, transfer_figure
from convcorr_eval.long2014 import paper
from convcorr_eval.long2014.common import sample_images
from convcorr_eval.long2014.pf_willow_protocol import (check_pairs, keypoint_table, pair_ground_truth,
                                                       pf_willow_set, select_classes)
from convcorr_eval.report import comparable, left_out, markdown_table, percent, ran_on, save_figure, score_about

__all__ = ["ALPHAS", "DEFAULT_GRID", "DEFAULT_TAPS", "FEATURES", "METHODS", "MIN_IMAGE_SIZE", "PCK_NORMALISER",
           "VALIDATION_SUBCLASSES", "Config", "Frames", "check_inputs", "evaluate_set", "frame_boxes", "get_config",
           "make_frames", "move_points", "pck_about", "pck_markdown", "peer_mean", "pf_willow_command",
           "ran_on_subclasses", "replace_fields", "run", "run_name", "score_frames", "scored_subclasses",
           "setting_text", "split_of", "steps_text", "valid_keypoints"]

ALPHAS = correspondence_metrics.PF_ALPHAS
# The taps of each backbone when `taps` is None, and the grid of each method when `grid` is None
# (`PointTransferConfig.DEFAULT_TAPS` / `DEFAULT_GRID`: the backbone specs and the matcher table).
DEFAULT_TAPS = PointTransferConfig.DEFAULT_TAPS
DEFAULT_GRID = PointTransferConfig.DEFAULT_GRID


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """The PF-WILLOW experiment: the protocol's fields, and the transfer's as one nested `PointTransferConfig`.

    Fields:
      backbone: the feature network; `transfer.backbone` follows it.
      transfer: how points move (`correspondence.PointTransferConfig`, whose defaults are the validated setting and
        whose docstring says where each comes from); `--set transfer.method=ot`, `--set transfer.taps=conv4_1`.
      classes: the sub-class folders scored (None: every one under data_root).
      pairs_per_class: the first N ordered pairs of each sub-class (source-major, `data.pf_willow.ordered_pairs`;
        None: all 90).
      figure_pairs: pairs drawn.
    """

    backbone: str = PointTransferConfig.backbone
    data: str = "pf_willow"
    transfer: PointTransferConfig = dataclasses.field(default_factory=PointTransferConfig)
    classes: tuple[str, ...] | None = None
    pairs_per_class: int | None = None
    figure_pairs: int = 4

    def __post_init__(self):
        super().__post_init__()
        nest_transfer(self)
        check_fields(self, at_least_one=("pairs_per_class",), nonnegative=("figure_pairs",))
        if self.classes is not None and (not self.classes or not all(self.classes)):
            raise InputError("config", "classes", "sub-class folder names (comma-separated) or none", self.classes)

    def check(self) -> None:
        """The taps and a tap grid belong to the backbone, and image_size is large enough for them."""
        t = self.transfer
        names = [("taps", n) for n in t.taps or ()] + ([("grid", t.grid)] if isinstance(t.grid, str) else [])
        for field, name in names:
            check_input_side(self.backbone, resolve_tap(self.backbone, name, field), t.image_size, "config",
                             "image_size")

    @property
    def label(self) -> str:
        """A short name of the row saying its features and method: "no features, zero flow", "SIFT features, BP
        flow", "conv4_1+conv5_1 features, OT + RHM", ..."""
        t = self.transfer
        if t.features == "none":
            return "no features, zero flow"
        what = "SIFT" if t.features == "sift" else "+".join(t.tap_names)
        return f"{what} features, {method_label(t.resolved_method)}{steps_text(t)}"


def replace_fields(cfg: Config, **fields) -> Config:
    """`cfg` with `fields` replaced: a field of `Config` itself (backbone, weights, classes, ...) or of its
    `transfer` (`PointTransferConfig`: method, taps, grid, image_size, ...), each checked."""
    own = {f.name for f in dataclasses.fields(cfg)}
    transfer = dataclasses.replace(cfg.transfer, **{k: v for k, v in fields.items() if k not in own})
    return dataclasses.replace(cfg, transfer=transfer, **{k: v for k, v in fields.items() if k in own})


def get_config(size: str = "default") -> Config:
    """The experiment's config at `size` ("tiny": 2 pairs per sub-class, 3 BP iterations, 160 px frames)."""
    return sized(size, {
        "tiny": Config(size=size, pairs_per_class=2, transfer=PointTransferConfig(iters=3, image_size=160),
                       figure_pairs=2),
        "default": Config(size=size),
        "full": Config(size=size),
    })


# ------------------------------------------------------------------------------------------------- scoring


def evaluate_set(samples: Sequence[KeypointSample], boxes: np.ndarray, groups: np.ndarray, cfg: Config, backbone,
                 params, pairs: np.ndarray, progress: bool = False) -> dict:
    """Transfer along `pairs` [P, 2] (indices into samples) and score with the PF PCK by `groups` [P].

    Returns {"pck" (`correspondence_metrics.pf_pck`), "pred" [P, K, 2], "flows" [P, h, w, 2], "frames", "seconds"}."""
    t0 = time.perf_counter()
    frames = make_frames(sample_images(samples), boxes, cfg.transfer, backbone, params,
                         **side_models(cfg.transfer, cfg.weights))
    return dict(score_frames(frames, samples, pairs, groups, cfg, progress), seconds=time.perf_counter() - t0)


def score_frames(frames: Frames, samples: Sequence[KeypointSample], pairs: np.ndarray, groups: np.ndarray,
                 cfg: Config, progress: bool = False, taps: Sequence[str] | None = None) -> dict:
    """cfg.transfer's method along `pairs` on precomputed `frames` (the parts `taps`, resolved names; None: all),
    PF PCK by `groups`. Returns {"pck" (`correspondence_metrics.pf_pck`), "pred" [P, K, 2], "flows"
    (`frame_transfer.move_points`), "frames"}."""
    points, valid = keypoint_table(samples)
    gt = pair_ground_truth(points, valid, pairs, [s.id for s in samples])
    pred, flows = move_points(frames, points[pairs[:, 0]], pairs, cfg.transfer, taps, progress)
    pck = correspondence_metrics.pf_pck(pred, gt, groups, ALPHAS)
    return {"pck": pck, "pred": pred, "flows": flows, "frames": frames}


def check_inputs(cfg: Config) -> None:
    """The runner's check before any run folder is made (`runner.run_experiment`): every sub-class has a pair."""
    if cfg.data_root:  # without one, `run` names what is missing
        check_pairs(cfg.data_root, select_classes(cfg.data_root, cfg.classes))


def run_pf_willow(cfg: Config, backbone=None, params=None, progress: bool = False) -> dict:
    """`evaluate_set` on PF-WILLOW under `cfg.data_root`; adds "samples", "pairs", "groups"."""
    require_data(cfg, ("pf_willow",))
    if backbone is None:
        backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    samples, pairs, groups = pf_willow_set(cfg.dataset_root(), cfg.pairs_per_class, cfg.classes)
    out = evaluate_set(samples, frame_boxes(sample_images(samples)), groups, cfg, backbone, params, pairs, progress)
    return dict(out, samples=samples, pairs=pairs, groups=groups)


# ----------------------------------------------------------------------------------------------- reporting


def setting_text(cfg: Config) -> str:
    """One line naming the row's settings (features, method, taps, grid, size, beta or radius)."""
    t = cfg.transfer
    if t.features == "none":
        return f"no features, zero flow (whole-image scaling), frame {t.image_size} px"
    feats = "SIFT features (dense SIFT)" if t.features == "sift" else (
        f"{cfg.backbone} ({cfg.weights or 'pretrained'}) {'+'.join(t.tap_names)} features"
        + ("" if t.normalise else ", raw activations"))
    how = (f"BP flow, beta {t.bp_beta:g}, {t.levels} levels x {t.iters} iterations"
           if t.resolved_method == "bp"
           else f"{method_label(t.resolved_method)} ({t.resolved_method}), radius {t.radius:g} grid strides"
           + (f", mirrored source too (margin {t.flip_margin:g})" if t.flip_source else "")
           + (f", cycle consistency {t.cycle:g}" if t.cycle is not None else ""))
    return f"{feats}, grid {t.grid_spec}, frame {t.image_size} px, {how}{steps_text(t)}"


def steps_text(t: PointTransferConfig) -> str:
    """The steps beyond one backbone at one scale with uniform OT marginals and HPF's Hough width: ", + NET taps,
    scales a+b, CAM prior NET top k floor f, Hough width w, trimmed carry t, carriers weighted by distance (sigma
    s), offsets scaled by the matches' spread, soft MNN" ("" for none)."""
    out = ""
    if t.features == "cnn" and t.extra_backbone is not None:
        out += f", + {t.extra_backbone} {'+'.join(t.extra_tap_names)}"
    if t.features == "cnn" and t.third_backbone is not None:
        out += f", + {t.third_backbone} {'+'.join(t.third_tap_names)}"
    if t.features == "cnn" and t.scales != (1.0,):
        out += ", scales " + "+".join(f"{v:g}" for v in t.scales)
    if t.features == "cnn" and t.resolved_method != "bp" and t.prior is not None:
        out += f", CAM prior {t.prior} top {t.prior_top_k} floor {t.prior_floor:g}"
    if t.resolved_method != "bp" and MATCHERS[t.resolved_method].hough and t.hough_side != MatchConfig.side:
        out += f", Hough width {t.hough_side}"
    if t.resolved_method != "bp" and t.trim is not None:  # any matcher's carry, on any features
        out += f", trimmed carry {t.trim:g}"
    if t.resolved_method != "bp" and t.carry_sigma is not None:
        out += f", carriers weighted by distance (sigma {t.carry_sigma:g})"
    if t.resolved_method != "bp" and t.carry_scale:
        out += ", offsets scaled by the matches' spread"
    if t.features == "cnn" and t.resolved_method != "bp" and t.soft_mnn:
        out += ", soft MNN"
    if t.features == "cnn" and t.resolved_method != "bp" and t.projection is not None:
        out += f", projection {t.projection.rsplit('/', 1)[-1]}"
    return out


# PF-WILLOW's validation set: the 6 bundled sub-classes settings are chosen on; the other 4 are the test set
VALIDATION_SUBCLASSES = ("car(G)", "car(S)", "duck(S)", "motorbike(S)", "winebottle(wC)", "winebottle(woC)")


def split_of(subs: Sequence[str]) -> str:
    """The split the sub-classes `subs` belong to: "validation", "test", or "validation + test"."""
    val = [c in VALIDATION_SUBCLASSES for c in subs]
    return "validation" if all(val) else "test" if not any(val) else "validation + test"


def ran_on_subclasses(cfg: Config, subs: Sequence[str]) -> str:
    """What a run on the sub-classes `subs` ran on (`report.ran_on`): data, size, network (none for SIFT or no
    features) and split."""
    return ran_on(cfg, split_of(subs), cfg.backbone if cfg.transfer.features == "cnn" else "no network")


PCK_NORMALISER = "target keypoint box"  # alpha x max(w, h) of the box of the target's valid keypoints


def pck_about(pck: dict) -> dict:
    """What the PCK numbers `pck` (`correspondence_metrics.pf_pck`) of a run's metrics are: fractions in [0, 1],
    the normaliser, the alphas, and what "mean" is over."""
    subs = [c for c in pck["0.1"] if c != "mean"]
    return score_about(PCK_NORMALISER, ALPHAS,
                       mean=f"unweighted mean over the {len(subs)} sub-classes scored: {', '.join(subs)}")


def peer_mean(peer: dict, alpha: str, subs: Sequence[str]) -> float | None:
    """A published peer's PCK at `alpha` averaged over exactly the sub-classes `subs` (fraction), or None where
    it cannot be: its own mean when that is over the same sub-classes (`peer["subclasses"]`), else the mean of its
    per-sub-class numbers when it has them for every one of `subs` at this alpha."""
    if set(subs) == set(peer["subclasses"]):
        return peer["pck"][alpha]
    per = peer.get("per_subclass", {}) if alpha == "0.1" else {}
    return float(np.mean([per[c] for c in subs])) if subs and all(c in per for c in subs) else None


def pck_markdown(pck: dict, label: str, cfg: Config | None = None) -> str:
    """PCK (percent, one decimal) per sub-class at each alpha; the mean column over the sub-classes of the
    columns, for our rows and for the published peers on the same pairs (a peer's cell "-" where its numbers do
    not cover those sub-classes). Each of our rows says what it ran on (`report.ran_on`); a run that is not
    comparable (size tiny, or random weights of the CNN features) leaves the published numbers out
    (`report.comparable`)."""
    subs = [c for c in pck["0.1"] if c != "mean"]
    on = ran_on_subclasses(cfg, subs) if cfg is not None else label
    rows = [[f"ours, {label} ({on}), alpha {a}"] + [percent(pck[a][c]) for c in subs] + [percent(pck[a]["mean"])]
            for a in pck]
    lines = []
    network = cfg is not None and cfg.transfer.features == "cnn"  # SIFT or no features: no network's weights
    if cfg is None or comparable(cfg, network):
        for peer in (paper.PF_WILLOW_SIFTFLOW_CPP, paper.PF_WILLOW_SIFTFLOW_CPP_256):
            for a in peer["pck"]:
                per = peer.get("per_subclass", {}) if a == "0.1" else {}
                mean = peer_mean(peer, a, subs)
                rows.append([f"SIFT Flow C++ ({peer['protocol']}; real pf_willow, validation split), alpha {a}"]
                            + [percent(per[c]) if c in per else "-" for c in subs]
                            + [percent(mean) if mean is not None else "-"])
        pub = "; ".join(f"{m} {v}" for m, v in paper.PF_WILLOW_PCK01.items())
        lines = ["", (f"Published PF-WILLOW PCK@0.1 (%), mean over all 10 sub-classes, not over the ones above "
                      f"({paper.PF_WILLOW_PCK01_SOURCE}): {pub}.")]
    else:
        lines = ["", left_out(cfg, "the published numbers", network)]
    head = ["method", *subs, f"mean of {len(subs)}"]
    about = (f"PCK (%) at alpha x max(w, h) of the {PCK_NORMALISER}; the mean is over the {len(subs)} sub-classes "
             f"of the columns ({', '.join(subs)}), for every row.")
    return "\n".join([about, "", markdown_table(head, rows), *lines])


FIGURE_ALPHA = 0.1  # the hit threshold drawn: alpha x max side of the target's keypoint box


def figure(path: Path, out: dict, n: int = 4, title: str = "PF-WILLOW keypoint transfer") -> None:
    """The first pair of each sub-class (at most n), one row each (`convcorr_eval.figures.transfer_figure`): the
    source image (left) with its keypoints (circles, colour = keypoint index), the target (right) with the
    transferred keypoints (crosses, same colours) and the true ones (hollow squares), each prediction joined to its
    truth by a green line within FIGURE_ALPHA x the max side of the target's keypoint box (a PCK hit) and a red
    one beyond it (a miss); the row title counts the hits. InputError naming a drawn sample that holds only its
    path (`KeypointSample.loaded_image`)."""
    pairs, samples, groups = out["pairs"], out["samples"], out["groups"]
    points, valid = keypoint_table(samples)
    pick = [int(np.flatnonzero(groups == g)[0]) for g in dict.fromkeys(groups)][:n]
    rows = []
    for p in pick:
        i, j = pairs[p]
        thr = FIGURE_ALPHA * float(correspondence_metrics.pf_box_size(points[j][None])[0])
        hits = int(np.sum(np.linalg.norm(out["pred"][p] - points[j], axis=-1)[valid[j]] < thr))
        source, target = samples[i].loaded_image(), samples[j].loaded_image()
        rows.append(TransferRow(source, target, points[i], out["pred"][p], points[j], thr,
                                f"{samples[i].id} -> {samples[j].id}: {hits} of {int(valid[j].sum())} "
                                f"keypoints within {FIGURE_ALPHA:g} x box = {thr:.0f} px"))
    save_figure(transfer_figure(rows, title, ("source", "target"), f"{FIGURE_ALPHA:g} x box (hit)"), path)


def run(cfg: Config, ctx: Context) -> Result:
    out = run_pf_willow(cfg, progress=ctx.progress)
    pck = out["pck"]
    fig = ctx.figures / "pf_willow_transfer.png"
    figure(fig, out, cfg.figure_pairs, f"PF-WILLOW keypoint transfer: {setting_text(cfg)}")
    subs = scored_subclasses(out["groups"])
    md = [pck_markdown(pck, cfg.label, cfg), "",
          f"{len(out['pairs'])} ordered pairs; {setting_text(cfg)}; {out['seconds']:.0f} s.", "",
          "Sub-classes scored: " + ", ".join(f"{c} ({n} pairs)" for c, n in subs.items()) + ".", ""]
    md += ["The bundled sub-classes are PF-WILLOW's validation set: every setting was chosen on them "
           "(`long2014.pf_willow_validation`), so numbers on them are validation numbers.", ""]
    md += [f"![transferred keypoints](figures/{fig.name})", ""]
    m = pck
    on = ran_on_subclasses(cfg, list(subs))
    summary = (f"PF-WILLOW ({len(out['pairs'])} pairs, {cfg.label}; {on}): mean PCK (%) over {len(subs)} sub-classes"
               f" @0.05 {percent(m['0.05']['mean'])}, @0.1 {percent(m['0.1']['mean'])}, "
               f"@0.2 {percent(m['0.2']['mean'])}")
    return Result(summary, "\n".join(md), {"pck": pck, "pck_about": pck_about(pck),
                                           "pairs": int(len(out["pairs"])), "subclasses": subs,
                                           "seconds": out["seconds"]})


def scored_subclasses(groups: np.ndarray) -> dict[str, int]:
    """{sub-class: ordered pairs scored} in the order the sub-classes were scored."""
    return dict(Counter(np.asarray(groups).astype(str).tolist()))


def run_name(cfg: Config) -> str:
    """The run folder name of `convcorr eval pf-willow`: long2014.pf_willow_<row>_<backbone> (row: "none",
    "sift[_<method>]" or "<method>_<tap+tap>"), then the frame size when not 224, the weights (random or the file's
    stem), the sub-classes and the pairs per sub-class where they are set."""
    t = cfg.transfer
    if t.features == "cnn":
        parts = [t.resolved_method, "+".join(t.tap_names)]
    else:
        parts = [t.features] + ([t.resolved_method] if t.features == "sift" and t.resolved_method != "bp" else [])
    parts.append(cfg.backbone)
    if t.image_size != PointTransferConfig.image_size:
        parts.append(f"{t.image_size}px")
    if cfg.weights is not None:
        parts.append(Path(cfg.weights).stem)
    if cfg.classes is not None:
        parts.append("+".join("".join(ch for ch in c if ch.isalnum()) for c in cfg.classes))
    if cfg.pairs_per_class is not None:
        parts.append(f"{cfg.pairs_per_class}pairs")
    return "long2014.pf_willow_" + "_".join(parts)


def pf_willow_command(root: str | os.PathLike, features: str = "cnn", backbone: str | None = None,
                      weights: str | None = None, json_out: str | os.PathLike | None = None,
                      progress: bool = True, **fields) -> dict:
    """All ordered pairs of every sub-class under `root` with the default settings.

    Args:
      root: the PF-WILLOW folder; features, backbone, weights: as in `Config` / `PointTransferConfig`.
      json_out: where to write the result (atomically; numbers to 6 significant digits).
      progress: progress bars.
      fields: other fields of `Config` or of its `transfer` (`PointTransferConfig`).

    Returns:
      {"pck": {"0.05": {"<sub-class>": v, ..., "mean": v}, ...}, "pck_about": `pck_about`, "pairs": N,
      "subclasses": {"<sub-class>": pairs scored}, "seconds": s}.
    """
    cfg = get_config("default")
    cfg = replace_fields(cfg, data_root=os.fspath(root), features=features, backbone=backbone or cfg.backbone,
                         weights=weights, **fields)
    cfg.check()
    t0 = time.perf_counter()
    out = run_pf_willow(cfg, progress=progress)
    res = {"pck": out["pck"], "pck_about": pck_about(out["pck"]), "pairs": int(len(out["pairs"])),
           "subclasses": scored_subclasses(out["groups"]), "seconds": round(time.perf_counter() - t0, 1)}
    if json_out is not None:
        io.write_json(json_out, runinfo.rounded(res))
    return res
