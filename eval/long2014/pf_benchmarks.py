"""Keypoint transfer on the pair-list benchmarks the field reports beside PF-WILLOW: PF-PASCAL and SPair-71k.

The transfer is PF-WILLOW's (`long2014.pf_willow`: the same `Config` fields and defaults, the library's
`frames.make_frames` and `frame_transfer.move_points`); what differs is the pair list and the PCK of HPF and SCOT:

- pairs: the release's split (`data.pf_pascal.load_pf_pascal`, `data.spair.load_spair`), each pair with the
  keypoints both images show;
- the protocol guard (`valid_pair_keypoints`): a keypoint that is padding or off its image (NaN, -1 / -2 rows,
  `correspondence.points.valid_keypoints`) is left out of the target's count and is a miss in the source; the
  threshold never comes from keypoints, so no padded keypoint can enter it;
- PCK (`benchmark_pck`): a keypoint is correct when ||pred - gt|| <= alpha * L (`metrics.pck_hits`, HPF's
  `torch.le`), L = max(h, w) of the target image (PF-PASCAL) or max(w, h) of the target's object box (SPair-71k)
  (`data.keypoint_pairs.pair_norms`); per pair the fraction of its keypoints; "mean" is the mean over all pairs
  (HPF's and SCOT's average), and each category's mean over its pairs is given beside it.

Images are read and turned into frames in chunks of `IMAGES_PER_CHUNK`, so a split's images are never all in memory.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from convcorr_jax.core import metrics
from convcorr_jax.correspondence.frame_transfer import move_points
from convcorr_jax.correspondence.frames import Frames, frame_boxes, make_frames
from convcorr_jax.correspondence.points import side_models, valid_keypoints
from convcorr_jax.data.keypoint_pairs import TITLES, KeypointPairs, pair_norms
from convcorr_jax.data.pf_pascal import SPLITS, load_pf_pascal
from convcorr_jax.data.spair import load_spair
from convcorr_jax.data.types import load_image
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, Result, require_data
from convcorr_eval.long2014 import pf_willow
from convcorr_eval.report import markdown_table, percent, ran_on, score_about

ALPHAS = (0.05, 0.1, 0.15)
IMAGES_PER_CHUNK = 64
PF_LOADERS = {"pf_pascal": load_pf_pascal, "spair": load_spair}
NORMS = {"pf_pascal": "image", "spair": "box"}  # which L each benchmark's PCK uses (`keypoint_pairs.pair_norms`)
THRESHOLDS = {"image": "alpha x max(h, w) of the target image", "box": "alpha x max(w, h) of the target's object box"}


@dataclasses.dataclass(frozen=True)
class Config(pf_willow.Config):
    """PF-WILLOW's transfer settings (`long2014.pf_willow.Config`, same defaults) on a benchmark split: data
    "pf_pascal" or "spair"; split "trn", "val" or "test"; classes: the categories scored (None: all);
    pairs_per_class: the first N pairs of each category in release order (None: all)."""

    data: str = "pf_pascal"
    split: str = "test"

    def __post_init__(self):
        super().__post_init__()
        if self.split not in SPLITS:
            raise InputError("config", "split", f"one of {list(SPLITS)}", self.split)


def benchmark_config(data: str, size: str = "default") -> Config:
    """The config of `data` at `size` (tiny: 2 pairs per category, 160 px frames, 3 BP iterations)."""
    base = pf_willow.get_config(size)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(pf_willow.Config)
              if f.name not in ("data", "name")}
    return Config(**fields, data=data)


def load_pairs(cfg: Config) -> KeypointPairs:
    """The split's pairs under cfg.data_root, restricted to cfg.classes and cfg.pairs_per_class."""
    kp = PF_LOADERS[cfg.data](cfg.dataset_root(), cfg.split)
    return kp.first_per_category(cfg.pairs_per_class, cfg.classes)


def chunked_frames(paths: tuple[str, ...], cfg: Config, backbone, params) -> tuple[Frames, np.ndarray]:
    """(Frames of every image of `paths`, image sizes [N, 2] (height, width)), computed `IMAGES_PER_CHUNK` images at
    a time (`frames.make_frames` with cfg.transfer)."""
    parts, hw = [], []
    for s in range(0, len(paths), IMAGES_PER_CHUNK):
        images = [load_image(p) for p in paths[s:s + IMAGES_PER_CHUNK]]
        hw += [im.shape[:2] for im in images]
        parts.append(make_frames(images, frame_boxes(images), cfg.transfer, backbone, params,
                                 **side_models(cfg.transfer, cfg.weights)))
    per_image = {f.name: _joined([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Frames)
                 if f.name not in ("grid_xy", "stride")}  # the features, the CAM prior, the mirrored frames' too
    return dataclasses.replace(parts[0], **per_image), np.array(hw, np.int64).reshape(-1, 2)


def _joined(values: list):
    """The chunks' values of one per-image field of `Frames` joined along the images: arrays concatenated, dicts of
    arrays concatenated per key, None (a field these frames do not have) kept."""
    if values[0] is None:
        return None
    if isinstance(values[0], dict):
        return {k: np.concatenate([v[k] for v in values]) for k in values[0]}
    return np.concatenate(values)


def valid_pair_keypoints(kp: KeypointPairs, image_hw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The protocol guard: (src, trg) [P, K, 2] with each keypoint that is padding or off its image
    (`valid_keypoints`: not finite, or outside [-0.5, w - 0.5] x [-0.5, h - 0.5]) set to NaN."""
    out = []
    for pts, col in ((kp.src, 0), (kp.trg, 1)):
        hw = np.asarray(image_hw)[kp.pairs[:, col]]
        ok = np.stack([valid_keypoints(pts[p], tuple(hw[p])) for p in range(len(pts))])
        out.append(np.where(ok[..., None], pts, np.nan))
    return out[0], out[1]


def benchmark_pck(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray, category: np.ndarray,
                  alphas=ALPHAS, names: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
    """HPF/SCOT PCK (0..1) at each alpha (keyed as text): per pair the fraction of its finite target keypoints gt
    [P, K, 2] with ||pred - gt|| <= alpha * norm [P] (`metrics.pck_hits`; a non-finite prediction is a miss);
    {"<category>": mean over its pairs, ..., "mean": mean over all pairs}. InputError for a pair with no finite
    target keypoint."""
    empty = np.flatnonzero(~np.all(np.isfinite(gt), -1).any(-1))
    if empty.size:
        raise InputError(names[empty[0]] if names else f"pair {empty[0]}", "trg_kps",
                         "at least one valid target keypoint per pair", "none")
    category = np.asarray(category).astype(str)
    out = {}
    for a in alphas:
        per_pair = np.nanmean(metrics.pck_hits(pred, gt, None, norm, a), axis=-1)
        row = {c: float(per_pair[category == c].mean()) for c in dict.fromkeys(category.tolist())}
        row["mean"] = float(per_pair.mean())
        out[f"{a:g}"] = row
    return out


def evaluate_pairs(kp: KeypointPairs, cfg: Config, backbone, params, progress: bool = False) -> dict:
    """cfg.transfer's matcher on every pair of `kp`. Returns {"pck" (`benchmark_pck`), "pred" [P, K, 2], "norm" [P],
    "seconds"}."""
    t0 = time.perf_counter()
    frames, hw = chunked_frames(kp.images, cfg, backbone, params)
    src, trg = valid_pair_keypoints(kp, hw)
    norm = pair_norms(kp, hw)
    pred, _ = move_points(frames, src, kp.pairs, cfg.transfer, progress=progress)
    return {"pck": benchmark_pck(pred, trg, norm, kp.category, ALPHAS, kp.names), "pred": pred, "norm": norm,
            "seconds": time.perf_counter() - t0}


def run_benchmark(cfg: Config, progress: bool = False, supported: tuple[str, ...] = tuple(PF_LOADERS)) -> dict:
    """`evaluate_pairs` on the split under cfg.data_root (cfg.data one of `supported`); adds "pairs" (count) and
    "categories" {name: pairs}."""
    require_data(cfg, supported)
    kp = load_pairs(cfg)
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    out = evaluate_pairs(kp, cfg, backbone, params, progress)
    return dict(out, pairs=len(kp.pairs), categories=pf_willow.scored_subclasses(kp.category))


def table(pck: dict) -> str:
    """PCK (%, one decimal) per category and the mean over pairs, one row per alpha (markdown)."""
    cats = [c for c in pck[next(iter(pck))] if c != "mean"]
    return markdown_table(["alpha", *cats, "mean over pairs"],
                          [[a, *(pck[a][c] for c in cats), pck[a]["mean"]] for a in pck], percent)


def run(cfg: Config, ctx: Context, supported: tuple[str, ...] = tuple(PF_LOADERS)) -> Result:
    """The experiment of `long2014.pf_pascal` and `long2014.spair` (cfg.data one of `supported`)."""
    out = run_benchmark(cfg, ctx.progress, supported)
    title = TITLES.get(cfg.data, cfg.data)
    m = out["pck"]
    norm = THRESHOLDS[NORMS[cfg.data]]
    on = ran_on(cfg, cfg.split, cfg.backbone if cfg.transfer.features == "cnn" else "no network")
    md = [f"{title} {cfg.split} split ({on}), PCK (%) ({norm}; mean over pairs, as HPF and SCOT; per category beside "
          "it):", "",
          table(m), "", f"{out['pairs']} pairs; {pf_willow.setting_text(cfg)}; {out['seconds']:.0f} s.", ""]
    summary = (f"{title} {cfg.split} ({out['pairs']} pairs, {cfg.label}; {on}): PCK (%) @0.05 "
               f"{percent(m['0.05']['mean'])}, @0.1 {percent(m['0.1']['mean'])}, @0.15 {percent(m['0.15']['mean'])}")
    about = score_about({"image": "target image size", "box": "target object box"}[NORMS[cfg.data]],
                        [float(a) for a in m], mean="over pairs")
    return Result(summary, "\n".join(md), {"pck": m, "pck_about": about, "pairs": out["pairs"],
                                           "categories": out["categories"],
                                           "split": cfg.split, "seconds": out["seconds"]})


def run_name(cfg: Config) -> str:
    """The run folder name of `convcorr eval pf-pascal` / `spair`: long2014.<data>_<split>_ then PF-WILLOW's row
    name parts (`pf_willow.run_name`)."""
    return pf_willow.run_name(cfg).replace("long2014.pf_willow_", f"long2014.{cfg.data}_{cfg.split}_", 1)

