"""PF-WILLOW validation: the settings of `long2014.pf_willow` chosen on the validation sub-classes.

    convcorr run long2014.pf_willow_validation --data-root PF-dataset-WILLOW            # the rows behind the defaults
    convcorr run long2014.pf_willow_validation --data-root PF-dataset-WILLOW \\
        --set rows="method=bp beta=0.03,method=rhm backbone=mobilenet_v2 taps=block12+block13"
    convcorr run long2014.pf_willow_validation --data-root PF-dataset-WILLOW --set search=vgg16 --set rows=
    convcorr run long2014.pf_willow_validation --data-root PF-dataset-WILLOW \
        --set 'mixed=car(G)+car(S),winebottle(wC)+winebottle(woC)' --set rows="method=ot_rhm,hough_side=7"

The bundled sub-classes (car(G), car(S), duck(S), motorbike(S), winebottle(wC), winebottle(woC); 90 ordered pairs
each) are PF-WILLOW's validation set: every setting of the PF-WILLOW experiment is chosen here, and scores that
count are measured on the other 4 sub-classes. Each row reports its mean over the sub-classes and its worst one;
leave one sub-class out (`leave_one_out`) chooses on all but one sub-class and scores the choice on the one left
out, in turn, so that a setting which wins on average by hurting one kind of object shows it. `mixed` adds the cross
pairs of two sub-classes of one object (side against general car views, bottles with and without clutter: the kind
of pairs PF-WILLOW's held-out car(M) and winebottle(M) hold) as folds that are scored and never chosen on.

A row is a set of `long2014.pf_willow` Config fields or fields of its `transfer`
(`PointTransferConfig`), space-separated `field=value` (taps joined by "+"), applied to `pf_willow.get_config(size)`;
rows are separated by commas on the command line. Rows
sharing (features, backbone, weights, frame size, grid, normalise) share one computation of the base features
(every tap any of them needs, `correspondence.frames.make_frames`), and every part a row adds (other scales, an
extra backbone, mirrored sources, a CAM prior) is computed once (`pf_parts.PartStore`); each row is then matched
and scored on exactly its own parts (`pf_willow.score_frames`).

`search`: backbones whose taps are chosen by greedy forward selection as Hyperpixel Flow's search (Min et al.
2019): the single candidate tap (`CANDIDATES`) with the highest mean PCK@0.1 under `search_method`, then taps
added one at a time while PCK@0.1 rises (at most `search_max_taps`). Writes the table (mean PF PCK at alpha
0.05 / 0.1 / 0.2, seconds) and marks the row with the highest mean PCK@0.1 (the defaults of `long2014.pf_willow`)
and the best row of each backbone.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from convcorr_jax.core.config import check_fields, override
from convcorr_jax.correspondence.frames import frame_boxes
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.hyperpixel import resolve_taps
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.long2014 import pf_willow, pf_willow_protocol
from convcorr_eval.long2014.common import sample_images
from convcorr_eval.long2014.pf_parts import PartStore
from convcorr_eval.long2014.pf_willow_selection import best, chosen_on, fold_keys, leave_one_out, worst
from convcorr_eval.report import markdown_table, percent, ran_on, score_about

# Candidate taps of the greedy search per backbone (tap names; roles are accepted too).
CANDIDATES = {
    "torchvision_alexnet": ("conv2", "conv3", "conv4", "conv5"),
    "bvlc_alexnet": ("conv2", "conv3", "conv4", "conv5"),
    "caffenet": ("conv2", "conv3", "conv4", "conv5"),
    "vgg16": ("conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"),
    "mobilenet_v2": ("block6", "block8", "block10", "block11", "block12", "block13", "block14"),
    "efficientnet_lite2": ("block7", "block10", "block12", "block13", "block14", "block15", "block16", "block18"),
}

# The rows behind `pf_willow.Config`'s defaults: the single-tap conv flow (raw activations as Long et al., and
# L2-normalised), SIFT and no flow; VGG-16 hyperpixels with BP over beta and with every matcher, the transfer
# radius, the greedy search's third tap, a larger frame for the two best; AlexNet and MobileNetV2 hyperpixels.
DEFAULT_ROWS = (
    "backbone=torchvision_alexnet method=bp taps=conv4 grid=conv4 normalise=false beta=0.1",
    "backbone=torchvision_alexnet method=bp taps=conv4 grid=conv4 beta=0.1",
    "backbone=torchvision_alexnet features=sift method=bp grid=conv4 beta=0.1",
    "backbone=torchvision_alexnet features=none",
    "backbone=vgg16 method=bp taps=conv4_1+conv5_1 grid=16 beta=0.01",
    "backbone=vgg16 method=bp taps=conv4_1+conv5_1 grid=16 beta=0.03",
    "backbone=vgg16 method=bp taps=conv4_1+conv5_1 grid=16 beta=0.1",
    "backbone=vgg16 method=bp taps=conv4_1+conv5_1 grid=16 beta=0.3",
    "backbone=vgg16 method=cos taps=conv4_1+conv5_1 grid=8 radius=1",
    "backbone=vgg16 method=rhm taps=conv4_1+conv5_1 grid=8 radius=1",
    "backbone=vgg16 method=ot taps=conv4_1+conv5_1 grid=8 radius=1",
    "backbone=vgg16 method=ot_rhm taps=conv4_1+conv5_1 grid=8 radius=1",
    "backbone=vgg16 method=ot_rhm taps=conv4_1+conv5_1 grid=8 radius=2",
    "backbone=vgg16 method=ot_rhm taps=conv4_1+conv5_1+conv5_2 grid=8 radius=2",
    "backbone=vgg16 method=ot_rhm taps=conv4_1+conv5_1 grid=8 radius=2 image_size=320",
    "backbone=vgg16 method=bp taps=conv4_1+conv5_1 grid=16 beta=0.01 image_size=320",
    "backbone=torchvision_alexnet method=ot_rhm taps=conv3+conv4 grid=8 radius=1",
    "backbone=mobilenet_v2 method=bp taps=block12+block13 grid=16 beta=0.03",
)


def parse_row(row: str, base: pf_willow.Config) -> pf_willow.Config:
    """A row "field=value field=value ..." (taps joined by "+") applied to `base` (`config.override`, checked): a
    field of `pf_willow.Config` itself (backbone, weights, ...) or of its `transfer` (`PointTransferConfig`:
    method, taps, grid, beta, ...), or a dotted path ("transfer.beta=0.1")."""
    own = {f.name for f in dataclasses.fields(pf_willow.Config)}
    transfer = {f.name for f in dataclasses.fields(PointTransferConfig)}
    sets = []
    for token in row.split():
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise InputError("config", "rows", "space-separated field=value tokens", token)
        path = key if key in own or "." in key or key not in transfer else f"transfer.{key}"
        sets.append(f"{path}={value.replace('+', ',')}")
    return override(base, sets)


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """rows: `pf_willow.Config` settings, one string per row (module docstring); search: backbones whose taps are
    chosen greedily (`CANDIDATES`, `search_method` at `search_grid`, `pf_willow`'s default frame size), before the
    rows; extra_search: a second network whose taps are chosen per fold by greedy forward selection nested in the
    leave-one-out (`nested_extra_search`, at most `extra_search_max_taps`, on the first row's setting); steps:
    "NAME:i+j+..." groups of row indices (0-based, into `rows`), each given its own leave-one-out over those rows;
    pairs_per_class: the first N ordered pairs of each sub-class (None: all 90); mixed: mixed-view sets "A+B"
    (`pf_willow_protocol.pf_willow_set`: the cross pairs of two sub-classes of one object, e.g. "car(G)+car(S)"),
    each one more fold of the leave-one-out, scored but never chosen on (`leave_one_out`). backbone and weights are
    the rows' defaults."""

    data: str = "pf_willow"
    backbone: str = pf_willow.Config.backbone
    rows: tuple[str, ...] = DEFAULT_ROWS
    search: tuple[str, ...] = ()
    search_method: str = "rhm"
    search_grid: int = 8
    search_max_taps: int = 5
    extra_search: str | None = None
    extra_search_max_taps: int = 3
    steps: tuple[str, ...] = ()
    pairs_per_class: int | None = None
    mixed: tuple[str, ...] = ()

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, at_least_one=("pairs_per_class", "search_grid", "search_max_taps",
                                         "extra_search_max_taps"))
        if self.extra_search is not None and (self.extra_search not in CANDIDATES or not self.rows):
            raise InputError("config", "extra_search", f"a backbone with candidate taps {list(CANDIDATES)} and rows",
                             self.extra_search)
        if self.search_method not in pf_willow.METHODS:
            raise InputError("config", "search_method", f"one of {list(pf_willow.METHODS)}", self.search_method)
        for b in self.search:
            if b not in CANDIDATES:
                raise InputError("config", "search", f"backbones with candidate taps {list(CANDIDATES)}", b)
        if not self.rows and not self.search:
            raise InputError("config", "rows", "at least one row (or a search)", "none")
        for m in self.mixed:  # the names here; that they are sub-classes of the data, when it is read
            pf_willow_protocol.mixed_parts(m)
        self.row_configs()  # every row parses
        self.step_rows()

    def base(self) -> pf_willow.Config:
        """`pf_willow.get_config(size)` with this config's data, backbone, weights, seed and pairs."""
        return dataclasses.replace(pf_willow.get_config(self.size), data=self.data, data_root=self.data_root,
                                   backbone=self.backbone, weights=self.weights, seed=self.seed,
                                   pairs_per_class=self.pairs_per_class, figure_pairs=0)

    def row_configs(self) -> list[pf_willow.Config]:
        return [parse_row(r, self.base()) for r in self.rows]

    def step_rows(self) -> dict[str, list[int]]:
        """{step name: its row indices} of `steps`; InputError naming `steps` for a malformed group."""
        out = {}
        for step in self.steps:
            name, sep, idx = step.rpartition(":")
            try:
                rows = [int(i) for i in idx.replace(",", "+").split("+")]
            except ValueError:
                rows = []
            if not sep or not name or not rows or not all(0 <= i < len(self.rows) for i in rows):
                raise InputError("config", "steps", f"NAME:i+j+... with row indices in [0, {len(self.rows)})", step)
            out[name] = rows
        return out


# The tiny rows' matchers read the row's backbone alone (no second or third network, no CAM prior): a tiny run checks
# the validation's rows, folds and report; the default's networks are checked at tiny size by `long2014.pf_willow`.
ONE_NETWORK = " ".join(f"{field}=none" for field in PointTransferConfig.ONE_NETWORK)


def get_config(size: str = "default") -> Config:
    return sized(size, {
        "tiny": Config(size=size, rows=("method=bp", f"method=ot_rhm {ONE_NETWORK}",
                                        f"method=rhm radius=2 {ONE_NETWORK}", "features=none"), pairs_per_class=2),
        "default": Config(size=size),
        "full": Config(size=size, search=("torchvision_alexnet", "vgg16", "mobilenet_v2")),
    })


def frames_key(c: pf_willow.Config) -> tuple:
    """Rows with the same key share their base features (the parts other settings add are shared by `PartStore`)."""
    t = c.transfer
    return (t.features, c.backbone, c.weights, t.image_size, t.grid_spec, t.normalise)


class Validation:
    """Scores `pf_willow.Config` rows on the validation pairs; loaded backbones and the last features kept."""

    def __init__(self, cfg: Config, progress: bool = False):
        require_data(cfg, ("pf_willow",))
        self.cfg = cfg
        self.progress = progress
        self.samples, self.pairs, self.groups = pf_willow_protocol.pf_willow_set(
            cfg.dataset_root(), cfg.pairs_per_class, mixed=cfg.mixed)
        self.images = sample_images(self.samples)
        self.boxes = frame_boxes(self.images)
        self.models: dict = {}
        self.stores: dict = {}  # (weights, seed) -> PartStore

    def model(self, c: pf_willow.Config, name: str | None = None):
        """(Backbone, params) of `name` (None: the row's backbone) with the row's weights and seed."""
        key = (name or c.backbone, c.weights, c.seed)
        if key not in self.models:
            self.models[key] = load_backbone(*key)
        return self.models[key]

    def frames(self, c: pf_willow.Config, taps: tuple[str, ...]):
        """(frames holding the parts row `c` uses, their names (None: all), seconds spent computing now); taps: the
        backbone's taps worth computing with the first base frames."""
        key = (c.weights, c.seed)
        if key not in self.stores:
            self.stores[key] = PartStore(self.images, self.boxes, functools.partial(self.model, c))
        return self.stores[key].frames(c.transfer, taps)

    def score(self, c: pf_willow.Config, taps_needed: tuple[str, ...] | None = None, origin: str = "row") -> dict:
        """One row: {"config", "label" fields..., "pck": {alpha: mean over the sub-classes, the mixed-view sets
        left out}, "per_class" (PCK@0.1 of each sub-class and mixed-view set), "seconds" (features where computed
        for this row, matching and transfer)}."""
        backbone, _ = self.model(c)
        t = c.transfer
        taps = resolve_taps(backbone, t.tap_names)
        frames, used, t_frames = self.frames(c, taps_needed or taps)
        t0 = time.perf_counter()
        r = pf_willow.score_frames(frames, self.samples, self.pairs, self.groups, c, taps=used)
        return {"config": c, "origin": origin, "backbone": c.backbone, "features": t.features,
                "method": t.resolved_method,
                "taps": "+".join(taps) if t.features == "cnn" else t.features, "size": t.image_size,
                "grid": t.grid_spec, "normalise": t.normalise, "beta": t.bp_beta, "radius": t.radius,
                "flip": t.flip_source, "cycle": t.cycle, "extra": pf_willow.steps_text(t),
                "pck": {a: float(np.mean([v for k, v in r["pck"][a].items()
                                          if k != "mean" and not pf_willow_protocol.is_mixed(k)])) for a in r["pck"]},
                "per_class": {k: v for k, v in r["pck"]["0.1"].items() if k != "mean"},
                "seconds": round(t_frames + time.perf_counter() - t0, 1)}

    def search(self, backbone: str) -> list[dict]:
        """Greedy forward selection of `backbone`'s taps (module docstring); returns the rows it scored."""
        cfg = self.cfg
        base = parse_row(f"backbone={backbone} method={cfg.search_method} grid={cfg.search_grid}", cfg.base())
        cands = tuple(resolve_taps(self.model(base)[0], CANDIDATES[backbone]))
        rows, best = [], -1.0
        chosen: tuple[str, ...] = ()
        while len(chosen) < min(cfg.search_max_taps, len(cands)):
            trial: tuple[tuple[str, ...], float] | None = None
            for t in (t for t in cands if t not in chosen):
                taps = tuple(sorted(chosen + (t,), key=cands.index))
                r = self.score(dataclasses.replace(base, transfer=dataclasses.replace(base.transfer, taps=taps)),
                               cands, origin="search")
                rows.append(r)
                if trial is None or r["pck"]["0.1"] > trial[1]:
                    trial = (taps, r["pck"]["0.1"])
            assert trial is not None  # the loop's condition leaves a candidate not chosen
            if trial[1] <= best:
                break
            chosen, best = trial
        return rows


def validate(cfg: Config, progress: bool = False) -> tuple[list[dict], dict[str, int]]:
    """The search rows, then the rows of `cfg.rows` (features shared by rows with the same `frames_key`; rows
    reported in the given order), then the rows of `cfg.extra_search` (`nested_extra_search` on the first row);
    and {sub-class: index of that fold's searched row} ({} without the nested search)."""
    v = Validation(cfg, progress)
    out = []
    for b in progress_bar(cfg.search, desc="tap search", disable=not progress):
        out += v.search(b)
    configs = cfg.row_configs()
    order = sorted(range(len(configs)), key=lambda i: [frames_key(c) for c in configs].index(frames_key(configs[i])))
    rows: dict[int, dict] = {}
    for i in progress_bar(order, desc="validation rows", disable=not progress):
        c = configs[i]
        key = frames_key(c)
        backbone, _ = v.model(c)
        need = tuple(dict.fromkeys(t for o in configs if frames_key(o) == key
                                   for t in resolve_taps(backbone, o.transfer.tap_names)))
        rows[i] = v.score(c, need)
    out += [rows[i] for i in range(len(configs))]
    if cfg.extra_search is None:
        return out, {}
    found, chosen = nested_extra_search(v, configs[0], cfg.extra_search, cfg.extra_search_max_taps)
    return out + found, {c: len(out) + i for c, i in chosen.items()}


def nested_extra_search(v: Validation, base: pf_willow.Config, net: str, max_taps: int
                        ) -> tuple[list[dict], dict[str, int]]:
    """Greedy forward selection of a second network's taps (`CANDIDATES[net]`, read beside `base`'s hyperpixels
    as `extra_backbone`, or as `third_backbone` when `base` already reads another extra backbone), nested in the
    leave-one-out: for each sub-class c, starting from `base` alone, add the
    candidate tap that gives the highest mean PCK@0.1 over the sub-classes other than c, while that mean rises (at
    most `max_taps` taps). Each tap set is scored once (`Validation.score`) and shared by the folds.

    Returns (the rows scored, base's first; {sub-class: index into those rows of the fold's chosen row}).
    """
    cands = resolve_taps(v.model(base, net)[0], CANDIDATES[net])
    rows = [v.score(base, origin="extra search")]
    seen: dict[tuple, int] = {(): 0}

    side = "extra" if base.transfer.extra_backbone in (None, net) else "third"

    def row(taps: tuple) -> int:
        if taps not in seen:
            t = base.transfer
            c = dataclasses.replace(base, transfer=dataclasses.replace(t, extra_backbone=net, extra_taps=taps)
                                    if side == "extra" else dataclasses.replace(t, third_backbone=net, third_taps=taps))
            rows.append(v.score(c, origin="extra search"))
            seen[taps] = len(rows) - 1
        return seen[taps]

    chosen_rows = {}
    keys = list(rows[0]["per_class"])
    for c in progress_bar(fold_keys(keys), desc=f"{net} taps per fold", disable=not v.progress):
        def others(i: int) -> float:
            return float(np.mean([rows[i]["per_class"][k] for k in chosen_on(c, keys)]))

        chosen: tuple[str, ...] = ()
        at = 0
        while len(chosen) < min(max_taps, len(cands)):
            trials = {row(taps): taps for taps in (tuple(sorted(chosen + (t,), key=cands.index))
                                                   for t in cands if t not in chosen)}
            top = max(trials, key=others)  # ties: the first candidate
            if others(top) <= others(at):
                break
            at, chosen = top, trials[top]
        chosen_rows[c] = at
    return rows, chosen_rows


def setting(r: dict) -> str:
    """beta for BP rows; the radius, the mirrored source (flip) and cycle consistency for matcher rows; "raw" for
    un-normalised features."""
    if r["features"] == "none":
        return "-"
    if r["method"] == "bp":
        s = f"beta {r['beta']:g}"
    else:
        cycle = "off" if r["cycle"] is None else f"{r['cycle']:g}"
        s = f"radius {r['radius']:g}, flip {'on' if r['flip'] else 'off'}, cycle {cycle}{r.get('extra', '')}"
    return s + ("" if r["normalise"] or r["features"] != "cnn" else ", raw")


def _row_name(r: dict) -> str:
    """A row in a few words: method, backbone, taps, frame size and `setting`."""
    return f"{r['method']} {r['backbone']} {r['taps']} {r['size']} px, {setting(r)}"


def _folds_md(title: str, rows: list[dict], folds: list[dict]) -> list[str]:
    """A leave-one-out table (`leave_one_out`'s folds) with its mean and worst left-out PCK@0.1 over the
    sub-classes, then the mixed-view folds' and the mean over every fold."""
    own = [f for f in folds if not pf_willow_protocol.is_mixed(f["left_out"])]
    worst_fold = min(own, key=lambda f: f["score"])
    mixed = [f for f in folds if f not in own]
    sets = ", ".join(f"{f['left_out']} {percent(f['score'])} %" for f in mixed)
    tail = (f" Mixed-view sets: {sets}; mean over "
            f"all {len(folds)} folds {percent(np.mean([f['score'] for f in folds]))} %." if mixed else "")
    return ["", title, "",
            markdown_table(["left out", "chosen row", "mean PCK@0.1 of the others (%)", "PCK@0.1 left out (%)"],
                           [[f["left_out"], _row_name(rows[f["row"]]), 100 * f["train"], 100 * f["score"]]
                            for f in folds], "{:.1f}"), "",
            f"Left-out PCK@0.1: mean {percent(np.mean([f['score'] for f in own]))} %, worst "
            f"{percent(worst_fold['score'])} % ({worst_fold['left_out']})." + tail]


def run(cfg: Config, ctx: Context) -> Result:
    rows, searched = validate(cfg, ctx.progress)
    top, per = best(rows)
    table = [[r["method"] if r["features"] != "none" else "none", r["backbone"] if r["features"] == "cnn" else "-",
              r["taps"], r["size"], r["grid"] if r["features"] != "none" else "-", setting(r),
              *(100 * r["pck"][a] for a in ("0.05", "0.1", "0.2")),
              f"{percent(worst(r)[1])} {worst(r)[0]}",
              *([100 * np.mean([r["per_class"][m] for m in cfg.mixed])] if cfg.mixed else []), f"{r['seconds']:.0f}",
              ("**chosen**" if r is top else "best of backbone" if per.get(r["backbone"]) is r
               else "search" if r["origin"] == "search" else "")] for r in rows]
    groups = pf_willow_protocol.pf_willow_set(cfg.dataset_root(), cfg.pairs_per_class, mixed=cfg.mixed,
                                              with_images=False)[2]
    n_pairs = int(sum(not pf_willow_protocol.is_mixed(g) for g in groups))
    on = ran_on(cfg, "validation", "backbone of each row")
    mixed = (f", then the {len(groups) - n_pairs} cross pairs of the mixed-view sets {', '.join(cfg.mixed)} (their "
             "mean PCK@0.1 a column of its own, not in the mean)") if cfg.mixed else ""
    md = [f"**PF-WILLOW validation** ({on}; {n_pairs} ordered pairs of the validation sub-classes{mixed}; PCK (%) at "
          f"alpha x the {pf_willow.PCK_NORMALISER}, mean over the sub-classes; seconds: the features where computed "
          "for the row, then matching and transfer)", "",
          markdown_table(["method", "backbone", "taps", "size", "grid", "setting", "PCK@0.05", "PCK@0.1", "PCK@0.2",
                          "worst sub-class @0.1", *(["mixed views @0.1"] if cfg.mixed else []), "s", ""], table,
                         "{:.1f}"), ""]
    md += [f"Chosen (highest mean PCK@0.1): {top['method']}, {top['backbone']} {top['taps']}, {top['size']} px, grid "
           f"{top['grid']}, {setting(top)} (PCK@0.1 {percent(top['pck']['0.1'])} %).", ""]
    md += [f"- {b}: {r['method']} {r['taps']}, {r['size']} px, grid {r['grid']}, {setting(r)} "
           f"(PCK@0.1 {percent(r['pck']['0.1'])} %)" for b, r in per.items()]
    folds, steps = [], {}
    if len(rows[0]["per_class"]) > 1:
        listed = [i for i, r in enumerate(rows) if r["origin"] != "extra search"]
        allowed = {c: listed + ([searched[c]] if c in searched else []) for c in rows[0]["per_class"]}
        folds = leave_one_out(rows, allowed)
        n_search = sum(r["origin"] == "search" for r in rows)
        for name, idx in cfg.step_rows().items():
            steps[name] = leave_one_out(rows, {c: [n_search + i for i in idx] for c in allowed})
            md += _folds_md(f"**Leave one sub-class out, {name}** (rows {', '.join(str(i) for i in idx)} of "
                            "`rows` only):", rows, steps[name])
        if searched:
            steps["extra search"] = [{"left_out": c, "row": i, "score": float(rows[i]["per_class"][c]),
                                      "train": float(np.mean([rows[i]["per_class"][k]
                                                              for k in chosen_on(c, list(rows[i]["per_class"]))]))}
                                     for c, i in searched.items()]
            md += _folds_md(f"**Leave one sub-class out, {cfg.extra_search} taps searched per fold** (greedy "
                            "forward selection on the other sub-classes, `nested_extra_search`):", rows,
                            steps["extra search"])
        md += _folds_md("**Leave one sub-class out** (the row with the highest mean PCK@0.1 on the other "
                        "sub-classes, scored on the one left out; the rows of `rows`"
                        + (", and each fold's own searched row" if searched else "") + "):", rows, folds)
    keep = ("backbone", "features", "method", "taps", "size", "grid", "normalise", "beta", "radius", "flip", "cycle")
    metrics = {"pck_about": score_about(pf_willow.PCK_NORMALISER, pf_willow.ALPHAS,
                                        mean="unweighted mean over the validation sub-classes"),
               "rows": [{k: v for k, v in r.items() if k != "config"} for r in rows],
               "leave_one_out": folds,
               "steps": steps,
               "chosen": {k: top[k] for k in keep},
               "per_backbone": {b: {k: r[k] for k in keep} for b, r in per.items()}}
    return Result(f"PF-WILLOW validation, chosen: {top['method']} {top['backbone']} {top['taps']} {top['size']} px "
                  f"{setting(top)}: PCK@0.1 {percent(top['pck']['0.1'])} %", "\n".join(md), metrics)
