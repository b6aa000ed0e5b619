"""`convcorr eval pose`: one evaluation for any trained pose model, on any skeleton.

    res = score_run("runs/pose_coco", "DIR", split="val")     # dict: the JSON `convcorr eval pose --json` writes
    print(markdown(res))

The model: a training run folder, an exported model folder or a shipped model's name (`trained.scored_model`: read
only, nothing is written into it). The model's own data kind (any registered in `data.pose_sets`: COCO-format
folders, LSP / LSPET, FLIC, MPII's "val" = valid.h5, and kinds users register) reads `split` of the dataset folder
`root` as its crop protocol makes the inputs (`pose.person_crops`), with the model's crop settings. Scores:
  PCK per joint and per joint group (`Skeleton.column_groups`) at alphas 0.05 / 0.1 / 0.2 / 0.5, normalised by the
    kind's normaliser (the skeleton's torso ends, head segment or the longer side of the person's box, or the one
    its entry names, as MPII's head box; named in the JSON),
    of the model's stored read-out ("validated": readout.json, chosen on its validation split; with the spatial
    model saved with it where the choice says so, conditioned on each crop's person centre; the cascade for a model
    without one), the cascade, the coarse model alone and the mean pose (the training split's mean keypoints in
    crop pixels, the same for every person; from the annotations: no training image is decoded or cropped);
    people whose normaliser joints are unlabelled are not scored (counted);
  PCKh@0.5 where the skeleton has a head segment (MPII: its head box's size, `PoseDataset.head_norm`, and the
    mean over the official toolkit's 14 joints, pelvis and thorax left out: `pckh_block`);
  COCO's OKS AP (pycocotools, the reference implementation) for kinds read from COCO-format files
    (`PoseDataset.oks`): the validated read-out's keypoints mapped back to the image, one detection per annotated
    person with the mean coarse heat-map peak as its score, against the split's annotation file (restricted to the
    split's images: a val split carved from the train file is scored on its own images); sigmas the file's
    (categories[].sigmas), else COCO-17's for COCO-17, else `DEFAULT_SIGMA` each.
JSON: {"pck": {alpha: {"mean": fraction, joint or group: fraction}} (the validated read-out), "readout": its
`predict` key, "normaliser": its name, "models": {"validated" | "cascade" | "coarse" | "mean_pose": the same},
"pckh" (where a head segment exists), "oks" (COCO data), "people", "scored_people", "carved" (how a carved split
was made), "readout_chosen_on" and "readout_chosen_on_scored_split" (`pose.readout.chosen_on_scored_split`; the
read-out and its warning threshold were chosen on the split scored, as MPII's val or synthetic people's test: the
numbers are optimistic, and a line under the table says so), ...}. Fractions in 0..1. A group pools its joints'
hits, and MPII's "Head" is the head top alone (in "pckh" too): not `convcorr eval pckh`'s toolkit columns (a group
the mean of its two joints, Head upper neck and head top); "pckh"'s "mean" on MPII is the toolkit's Total.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from convcorr_jax.core import metrics
from convcorr_jax.data import coco_keypoints, pose_sets
from convcorr_jax.data.skeletons import Skeleton
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.optional import require
from convcorr_jax.pose import heatmaps, joints, person_crops, predict
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.person_crops import PoseCrops, loader_options
from convcorr_jax.pose.loaded_model import PoseModel
from convcorr_jax.pose.training.config import TrainConfig
from convcorr_eval.tompson2015.trained import scored_model

ALPHAS = (0.05, 0.1, 0.2, 0.5)
SPLITS = ("train", "val", "test")
DEFAULT_SIGMA = 0.05  # OKS sigma of a keypoint whose file gives none
MODELS = ("validated", "cascade", "coarse", "mean_pose")
_OKS_NEEDS = "COCO's OKS AP (convcorr eval pose on COCO-format data)"


def crops_of(cfg: TrainConfig, root: str | Path, split: str) -> PoseCrops:
    """The person crops of `split` of the dataset `root` as the run `cfg` reads them (module docstring).

    Args:
        cfg: the run's TrainConfig.
        root: the dataset folder.
        split: "train", "val" or "test".

    Returns:
        the PoseCrops.
    """
    if split not in SPLITS:
        raise InputError("eval pose", "split", f"one of {SPLITS}", split)
    return person_crops.person_crops(cfg.data, root, split, cfg.model.image_size, cfg.crop_scale,
                                     protocol=cfg.protocol, **loader_options(cfg.data, cfg))


def _train_points(cfg: TrainConfig, root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(points [N, K, 2], visible [N, K]) of the train split's crops as the run `cfg` reads them (`crops_of`'s
    arrays' fields), from the annotations alone (`person_crops.person_points`: no image decoded or cropped)."""
    return person_crops.person_points(cfg.data, root, "train", cfg.model.image_size, cfg.crop_scale,
                                      protocol=cfg.protocol, **loader_options(cfg.data, cfg))


def pck_columns(pred: np.ndarray, gt: np.ndarray, scored: np.ndarray, norm: np.ndarray, skeleton: Skeleton,
                alphas=ALPHAS) -> dict[str, dict[str, float]]:
    """{alpha: {"mean": fraction, joint: fraction, group: fraction}}: PCK pooled over all scored keypoints, per joint
    and per joint group (the group's joints and people pooled).

    Args:
        pred: predictions [N, K, 2].
        gt: ground truth [N, K, 2].
        scored: bool [N, K], the keypoints scored.
        norm: the normaliser [N] (pixels, > 0; NaN leaves the person out).
        skeleton: names and groups.
        alphas: the thresholds (fractions of the normaliser).

    Returns:
        the table, fractions 0..1 (NaN where nothing is scored).
    """
    out = {}
    for a in alphas:
        hits = metrics.pck_hits(pred, gt, scored, norm, a)
        row = {"mean": _mean(hits)}
        row.update({n: _mean(hits[:, j]) for j, n in enumerate(skeleton.names)})
        row.update({g: _mean(hits[:, list(js)]) for g, js in skeleton.column_groups.items()})
        out[f"{a:g}"] = row
    return out


def pckh_block(preds: dict, gt: np.ndarray, labelled: np.ndarray, head: np.ndarray, skeleton: Skeleton,
               head_norm: str = "") -> dict:
    """The result's "pckh": {"normaliser": in words, "models": {model: `pck_columns` at 0.5}}. With MPII's head box
    (`head_norm`) on the MPII skeleton, "mean" is the official toolkit's Total: pelvis and thorax are left out
    (`metrics.pckh_pooled_joints`; their columns NaN), as `convcorr eval pckh` scores.

    Args:
        preds: {model: predictions [N, K, 2]} (`MODELS` are scored).
        gt, labelled: ground truth [N, K, 2] and bool [N, K].
        head: the head segment [N] (pixels; NaN: the person is not scored).
        skeleton: names, groups and head segment.
        head_norm: the dataset's head-size name ("MPII head box"), "" where the head segment is two joints.

    Returns:
        the dict above (fractions 0..1).
    """
    ok = np.asarray(labelled, bool) & np.isfinite(head)[:, None]
    if not head_norm:
        assert skeleton.head is not None  # no head-size name: the head segment is two of its joints
        name = f"head segment ({skeleton.names[skeleton.head[0]]} - {skeleton.names[skeleton.head[1]]})"
    else:
        name = f"head segment ({head_norm})"
        pooled, about = metrics.pckh_pooled_joints(skeleton.name, skeleton.num_joints)
        ok &= pooled
        name += f"; mean over {about}" if about else ""
    return {"normaliser": name, "models": {m: pck_columns(preds[m], gt, ok, head, skeleton, (0.5,)) for m in MODELS}}


def _mean(hits: np.ndarray) -> float:
    return float(np.nanmean(hits)) if np.isfinite(hits).any() else float("nan")


def mean_pose(points: np.ndarray, labelled: np.ndarray, n: int) -> np.ndarray:
    """The mean pose [n, K, 2]: each keypoint's mean over the people where it is labelled, repeated n times.

    Args:
        points: training points [M, K, 2].
        labelled: bool [M, K].
        n: how many people to predict for.

    Returns:
        the predictions.
    """
    w = np.asarray(labelled, np.float64)[..., None]
    mean = (np.asarray(points, np.float64) * w).sum(0) / np.maximum(w.sum(0), 1)
    return np.broadcast_to(mean, (n, *mean.shape)).copy()


def coco_sigmas(skeleton: Skeleton) -> tuple[np.ndarray, str]:
    """(OKS sigmas [K], where they come from): the skeleton's, else `DEFAULT_SIGMA` each.

    Args:
        skeleton: the skeleton.

    Returns:
        (sigmas, their source in words).
    """
    if skeleton.sigmas is not None:
        return np.asarray(skeleton.sigmas, np.float64), f"skeleton {skeleton.name}"
    return np.full(skeleton.num_joints, DEFAULT_SIGMA), f"{DEFAULT_SIGMA} each (the file gives no sigmas)"


def coco_ground_truth(path: str | Path, image_ids=None) -> dict:
    """The annotation file as pycocotools reads it: every annotation checked as the people's reader checks it and
    with area, iscrowd and num_keypoints (`data.coco_keypoints.ground_truth_annotations`: filled in where the file
    leaves them out; its ids the positions + 1, as pycocotools needs them; InputError naming the file and the field
    for a bad one, crowd and other-category annotations too). The file is parsed once (`coco_keypoints.parsed_once`;
    inside an enclosing block, the parse the people's readers share); the returned dict and its annotations are
    copies.

    Args:
        path: the COCO-format .json.
        image_ids: the images scored (None: all): the others are left out of `images`, so they are not evaluated
            (`annotations` keep their positions, which the detections name).

    Returns:
        the dataset dict.
    """
    with coco_keypoints.parsed_once():  # one parse for the two reads (or the enclosing block's)
        obj = dict(coco_keypoints.read_annotations(path))  # shared with the data readers: copies of what changes
        obj["annotations"] = coco_keypoints.ground_truth_annotations(path)  # copies: pycocotools marks them
    if image_ids is not None:
        keep = set(image_ids)
        obj["images"] = [im for im in obj["images"] if im.get("id") in keep]
    obj.setdefault("info", {})
    return obj


def oks_ap(gt: dict, detections: list[dict], sigmas: np.ndarray) -> dict[str, float]:
    """COCO's keypoint AP (pycocotools' COCOeval, iouType "keypoints") of `detections` against the dataset `gt`.

    Args:
        gt: a COCO-format dataset dict (`coco_ground_truth`).
        detections: [{"image_id", "category_id", "keypoints": [x, y, v] * K, "score"}].
        sigmas: the OKS sigma per keypoint [K].

    Returns:
        {"AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L"}.

    Raises:
        MissingExtra: pycocotools is not installed (the `coco` extra).
    """
    import contextlib
    import io

    COCO = require("pycocotools.coco", "coco", _OKS_NEEDS).COCO
    COCOeval = require("pycocotools.cocoeval", "coco", _OKS_NEEDS).COCOeval
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it goes
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(detections)
        ev = COCOeval(coco, res, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L")
    return {n: float(v) for n, v in zip(names, ev.stats)}


def coco_detections(points: np.ndarray, scores: np.ndarray, crops: PoseCrops, gt: dict) -> list[dict]:
    """One pycocotools detection per person, with the annotation's image and category.

    Args:
        points: keypoints [N, K, 2] in image pixels.
        scores: [N] detection scores.
        crops: the people's crops (crops.index: each annotation's position in the file).
        gt: the annotation file's dataset dict.

    Returns:
        the detections.
    """
    anns = gt["annotations"]
    out = []
    for p, s, i in zip(points, scores, crops.index):
        ann = anns[int(i)]
        kp = np.concatenate([p, np.ones((len(p), 1))], 1).ravel()
        out.append({"image_id": ann["image_id"], "category_id": ann["category_id"],
                    "keypoints": [float(v) for v in kp], "score": float(s)})
    return out


def skeleton_of(cfg: TrainConfig, root: str | Path) -> Skeleton:
    """The skeleton of a run's data (`data.pose_sets.skeleton`; a COCO-format folder's own).

    Args:
        cfg: the run's TrainConfig.
        root: the dataset folder.

    Returns:
        the Skeleton.
    """
    return pose_sets.skeleton(cfg.data, root, **loader_options(cfg.data, cfg))


def validated_predictions(run: PoseModel, crops: PoseCrops, flip: tuple[int, ...] | None) -> tuple[dict, str]:
    """The model's read-outs of the crops, with its stored read-out as "validated".

    Args:
        run: the loaded model.
        crops: the person crops (their `torso`: each person's centre, conditions the spatial model).
        flip: the skeleton's left/right permutation for test-time flip, or None.

    Returns:
        (`predict.predict_crops`'s read-outs with peaks, plus "validated" [N, K, 2]; the validated read-out's key).
    """
    tc, chosen = run.config, run.readout
    sp = None
    if chosen is not None and chosen.spatial and run.spatial is not None:
        assert run.log_priors is not None  # saved, and loaded, with the spatial model (`loaded_model.PoseModel`)
        sp = predict.SpatialInputs(run.log_priors, np.asarray(heatmaps.image_to_map(crops.torso, tc.model.pool),
                                                             np.float32), run.spatial)
    preds = predict.predict_crops(run.params, crops.arrays.images, tc.model, peaks=True, flip=flip, spatial=sp)
    key = "cascade" if chosen is None else ("spatial_" if sp is not None else "") + chosen.name
    preds["validated"] = preds[key]
    return preds, key


def score_run(model: str | Path, root: str | Path, split: str = "val", flip: bool = False) -> dict:
    """Score a trained pose model on `split` of the dataset `root` (module docstring).

    Args:
        model: a training run folder, a model folder or a shipped model's name (read only).
        root: the dataset folder, of the model's data kind.
        split: "val" or "test" (or "train").
        flip: test-time flip (each crop averaged with its mirror, `pose.flip`).

    Returns:
        the result dict (module docstring).
    """
    with coco_keypoints.parsed_once():  # the skeleton, the crops, the mean pose and the OKS ground truth: one parse
        return _score_run(model, root, split, flip)


def _score_run(model: str | Path, root: str | Path, split: str, flip: bool) -> dict:
    """`score_run` without its `parsed_once` block (same arguments and result)."""
    t0 = time.perf_counter()
    run, saved = scored_model(model)
    cfg = run.config
    sk = skeleton_of(cfg, root)
    if sk.num_joints != cfg.model.num_joints:
        raise InputError(root, "keypoints", f"{cfg.model.num_joints} keypoints as the model {model} was trained on",
                         sk.num_joints)
    entry = pose_sets.dataset(cfg.data)
    if entry.oks:  # the coco extra: refused in one line before the work, not in a traceback after it
        require("pycocotools.cocoeval", "coco", _OKS_NEEDS)
    crops = crops_of(cfg, root, split)
    arr = crops.arrays
    train = _train_points(cfg, root) if split != "train" else (arr.points, arr.visible)  # before the model runs
    preds, key = validated_predictions(run, crops, sk.flip if flip else None)
    preds["mean_pose"] = mean_pose(*train, len(arr))
    norm = np.asarray(arr.norm, np.float64)
    scored = np.asarray(arr.visible) & np.isfinite(norm)[:, None]
    models = {m: pck_columns(preds[m], arr.points, scored, norm, sk) for m in MODELS}
    res = {"model": str(model), "root": str(root), "split": split, "data": cfg.data, "skeleton": sk.name,
           "keypoints": list(sk.names), "groups": {g: list(j) for g, j in sk.column_groups.items()},
           "normaliser": entry.normaliser or sk.normaliser_name(),
           "people": int(len(arr)), "scored_people": int(np.isfinite(norm).sum()), "flip": bool(flip),
           "readout": key, "pck": models["validated"], "models": models,
           **pose_readout.chosen_on_scored_split(saved and saved[1], split)}
    if crops.carved:
        res["carved"] = crops.carved
    head = norm if entry.head_norm else sk.head_lengths(arr.points, arr.visible)
    if head is not None:
        res["pckh"] = pckh_block(preds, arr.points, arr.visible, head, sk, entry.head_norm)
    if entry.oks:
        people = pose_sets.load_people(cfg.data, root, split, **loader_options(cfg.data, cfg))
        gt = coco_ground_truth(people.source, {s.extras.get("image_id") for s in people.samples})
        sigmas, where = coco_sigmas(sk)
        image_pts = predict.to_original(preds["validated"], crops.affine)
        peak = preds["spatial_peak" if key.startswith("spatial_") else "peak"]
        dets = coco_detections(image_pts, np.asarray(peak).mean(1), crops, gt)
        res["oks"] = {**oks_ap(gt, dets, sigmas), "sigmas": [float(s) for s in sigmas], "sigmas_from": where,
                      "detections": len(dets), "score": "the mean coarse heat-map peak", "readout": key}
    res["seconds"] = time.perf_counter() - t0
    return res


def markdown(res: dict, alpha: float = 0.2) -> str:
    """The PCK table at `alpha` (percent): a row per model, a column per joint group and the mean; then PCKh and
    OKS AP where present.

    Args:
        res: `score_run`'s result.
        alpha: the threshold shown.

    Returns:
        markdown text.
    """
    a = f"{alpha:g}"
    cols = list(res["groups"]) + ["mean"]
    names = res.get("keypoints")  # a one-joint group of another name is labelled with its joint: "Head (head top)"
    labels = [joints.column_label(g, js, names) if names else g for g, js in res["groups"].items()] + ["mean"]
    lines = [f"PCK@{a} (%), normaliser: {res['normaliser']}; {res['data']} {res['split']} split, "
             f"{res['scored_people']} of {res['people']} people scored" + (", test-time flip" if res["flip"] else "")
             + f"; validated: the model's stored read-out, {res['readout']}; a group and the mean pool the hits of "
             "their keypoints",
             "", "| model | " + " | ".join(c.replace("|", "/") for c in labels) + " |", "|---|" + "---:|" * len(cols)]
    for m, table in res["models"].items():
        lines.append(f"| {m} | " + " | ".join(_pct(table[a][c]) for c in cols) + " |")
    if note := pose_readout.same_split_note(res):
        lines += ["", note]
    if "pckh" in res:
        lines.append("")
        lines.append(f"PCKh@0.5 (%), {res['pckh']['normaliser']}: " + ", ".join(
            f"{m} {_pct(t['0.5']['mean'])}" for m, t in res["pckh"]["models"].items()))
    if "oks" in res:
        o = res["oks"]
        lines.append("")
        lines.append(f"OKS AP (pycocotools, sigmas {o['sigmas_from']}): AP {100 * o['AP']:.1f}, AP50 "
                     f"{100 * o['AP50']:.1f}, AP75 {100 * o['AP75']:.1f} ({o['detections']} detections)")
    return "\n".join(lines)


def _pct(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{100 * v:.1f}"


__all__ = ["ALPHAS", "DEFAULT_SIGMA", "coco_ground_truth", "crops_of", "markdown", "mean_pose", "oks_ap",
           "pck_columns", "pckh_block", "score_run", "validated_predictions"]
