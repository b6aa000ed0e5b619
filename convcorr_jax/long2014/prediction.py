"""Sliding-window keypoint prediction with a nearest-neighbour Gaussian prior (Long et al. section 5, Table 4).

Per instance: the ground-truth box is resampled to `box_size` x `box_size`; conv5 (the backbone's role) is
computed on it and every column is concatenated with its 3 x 3 neighbourhood. Per keypoint type a linear SVM
is trained with hard-negative mining (`svm.mine_hard_negatives`): positives are the `n_positives` feature
locations closest to the keypoint, negatives the locations whose receptive field does not contain it.

"Receptive field" for the negative rule (the analogous construction for other backbones): a square of half
width `neg_half` around the location, default the paper's 195-px field in a 500-px box scaled to `box_size`
(97.5 * box_size / 500 px) and capped at the real 3x3 field of the tap. MobileNetV2's conv5 role (block13,
267 px + 2 strides) would contain every keypoint of a small box, leaving no negatives.

Dense SIFT baseline: a stride-8 grid with 8-px bins; positives within 2 bins, negatives at least 4 bins away.

C: the paper's C = 1e-6 suits unnormalised Caffe conv5 features (norms ~1e2-1e3) over ~1e5 windows. The
regularisation strength scales with C * N * |x|^2, so MobileNetV2's smaller features (|x| ~ 15 for the 3x3
block13 stack) need C ~ 1e-3 and unit-norm SIFT C ~ 0.1 to reach a comparable regime (config fields `C`,
`sift_C`; the Table 4 experiment reports the values used).

Prior: the training instance of the same category nearest by pool5 cosine similarity (`knn.topk_cosine`; if it
lacks the keypoint, the next neighbour that has it); a spherical Gaussian with sigma = 22 px * box_size / 500
at its keypoint. Score f = s'^(1 - eta) * p^eta with s' = sigmoid(s), the SVM margin passed through a logistic
(margins -1 / +1 -> 0.27 / 0.73) so that it is positive; eta = 0.1 (in [0, 1]). Prediction: arg-max over all locations.

Keypoints outside their box are excluded from training (counted) but still evaluated. Boxes must have
x1 > x0 and y1 > y0 (finite), else InputError.

The settings are `prediction_config.PredictionConfig`, the detectors and the prior `keypoint_detectors.py`.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from convcorr_jax.core import geometry, metrics
from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.receptive_field import grid_centers
from convcorr_jax.backbones.registry import check_input_side, resolve_tap
from convcorr_jax.core.errors import check
from convcorr_jax.features import sift
from convcorr_jax.features.columns import extract_grids, neighbourhood_concat
from convcorr_jax.core.long_frame import FRAME_PX
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.core.progress import bar as progress_bar
from convcorr_jax.long2014.keypoint_detectors import (InstanceFeatures, _predict_keypoints, _prior_means,
                                                      _train_detectors)
from convcorr_jax.long2014.prediction_config import PredictionConfig


def box_maps(samples: Sequence[KeypointSample], size: int) -> np.ndarray:
    """Image -> resampled-box affine maps (`geometry.box_to_affine`).

    Args:
      samples: n `KeypointSample`s (their bbox: (x0, y0, x1, y1) 0-based inclusive pixels).
      size: the resampled box's side in pixels.

    Returns:
      [n, 2, 3] affines, image pixels -> box pixels.

    Raises:
      InputError: no sample, or a box that is not finite with x1 > x0 and y1 > y0.
    """
    check(len(samples) > 0, "box_maps", "samples", "at least one sample", 0)
    for s in samples:
        b = np.asarray(s.bbox, np.float64)
        check(bool(np.all(np.isfinite(b))) and b[2] > b[0] and b[3] > b[1], s.image_path or s.id, "bbox",
              "a finite box with x1 > x0 and y1 > y0", b.tolist())
    return geometry.box_to_affine(np.stack([np.asarray(s.bbox, np.float64) for s in samples]), size)


def box_crops(samples: Sequence[KeypointSample], size: int, border: str = "edge") -> np.ndarray:
    """Every sample's box (`box_maps`) resampled, bilinear.

    Args:
      samples: N `KeypointSample`s with images loaded.
      size: the crop's side in pixels.
      border: outside the image (`geometry.crop`): "edge" repeats the edge pixels, as Table 4 does; "constant" is
        black, as Table 2 does.

    Returns:
      uint8 RGB [N, size, size, 3].

    Raises:
      InputError: an image not loaded, or a bad box.
    """
    images = [s.loaded_image() for s in samples]
    return geometry.crop_each(images, box_maps(samples, size), size, border=border)


def box_keypoints(samples: Sequence[KeypointSample], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The samples' keypoints in box pixels, with their visibility and trainability.

    Args:
      samples: n `KeypointSample`s with K keypoints each.
      size: the resampled box's side in pixels.

    Returns:
      (keypoints float64 [n, K, 2] (x, y) box pixels, visible bool [n, K] (and finite), trainable bool [n, K]
      (visible and inside the box)).

    Raises:
      InputError: samples of different keypoint counts, or `box_maps`' refusals.
    """
    M = box_maps(samples, size)
    check(len(ks := sorted({s.num_keypoints for s in samples})) == 1, "box_keypoints", "samples",
          "one keypoint count (K) for all samples (one category's)", ks)
    kp = geometry.transform_points(np.stack([np.asarray(s.points, np.float64) for s in samples]), M)
    vis = np.stack([np.asarray(s.visible, bool) for s in samples]) & np.all(np.isfinite(kp), -1)
    inside = (kp[..., 0] >= -0.5) & (kp[..., 0] <= size - 0.5) & (kp[..., 1] >= -0.5) & (kp[..., 1] <= size - 0.5)
    return kp, vis, vis & inside


def dense_conv(samples: Sequence[KeypointSample], backbone: Backbone, params: Params, cfg: PredictionConfig
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """conv5 3x3-concatenated features, their centres and pool5 vectors of every sample's resampled box.

    Args:
      samples: n `KeypointSample`s with images loaded.
      backbone, params: the network (its `cfg.role` and `cfg.prior_role` taps).
      cfg: the settings (box_size, role, prior_role, neighbourhood, batch_size).

    Returns:
      (X [n, L, D] over the L grid locations, centres [L, 2] (x, y) box pixels, pool5 vectors [n, P]).
    """
    tap, ptap = resolve_tap(backbone, cfg.role, "role"), resolve_tap(backbone, cfg.prior_role, "prior_role")
    for t in dict.fromkeys((tap, ptap)):
        check_input_side(backbone, t, cfg.box_size, "PredictionConfig", "box_size")
    crops = box_crops(samples, cfg.box_size)
    g = extract_grids(backbone, params, crops, sorted({tap, ptap}), cfg.batch_size)
    X = np.asarray(neighbourhood_concat(np.stack(g[tap]), cfg.neighbourhood))
    n, gh, gw, d = X.shape
    centres = grid_centers(backbone.geometry[tap], (gh, gw)).reshape(-1, 2)
    prior = np.stack(g[ptap]).reshape(n, -1)
    return X.reshape(n, gh * gw, d), centres, prior


def dense_sift(samples: Sequence[KeypointSample], cfg: PredictionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Dense SIFT (stride `sift_step`, bin `sift_bin`) of every resampled box.

    Args:
      samples: n `KeypointSample`s with images loaded.
      cfg: the settings (box_size, sift_step, sift_bin).

    Returns:
      (X float32 [n, L, 128], centres float32 [L, 2] (x, y) box pixels).
    """
    check(cfg.box_size > 3 * cfg.sift_bin, "PredictionConfig", "box_size",
          f">= {3 * cfg.sift_bin + 1} px (one dense SIFT frame of 4 bins of sift_bin {cfg.sift_bin} px)", cfg.box_size)
    feats, centres = [], None
    for crop in box_crops(samples, cfg.box_size):
        grey = sift.to_grey(crop)
        frames, desc = sift.dsift(grey, bin_size=cfg.sift_bin, step=cfg.sift_step)
        feats.append(np.asarray(desc, np.float32))
        centres = np.asarray(frames, np.float32)[:, :2]
    assert centres is not None  # box_crops refuses no samples
    return np.stack(feats), centres


def instance_features(samples: Sequence[KeypointSample], X: np.ndarray, centres: np.ndarray, prior: np.ndarray | None,
                      cfg: PredictionConfig) -> InstanceFeatures:
    """Bundle dense features of one category's samples with their keypoints in box pixels.

    Args:
      samples: the category's n `KeypointSample`s.
      X, centres: features [n, L, D] and their centres [L, 2] box pixels (`dense_conv`, `dense_sift`).
      prior, cfg: pool5 vectors [n, P] (or None); the settings (box_size).

    Returns:
      `InstanceFeatures` (keypoints [n, K, 2] box pixels, trainable [n, K]).
    """
    kp, _, trainable = box_keypoints(samples, cfg.box_size)
    return InstanceFeatures(X, centres, kp, trainable, prior)


def default_neg_half(backbone: Backbone, cfg: PredictionConfig) -> float:
    """Half-width (box pixels) of the region around a keypoint whose windows are not negatives.

    Args:
      backbone: the network (its `cfg.role` tap's receptive field).
      cfg: the settings (neg_half, role, neighbourhood, box_size).

    Returns:
      cfg.neg_half, else the role's receptive field over the neighbourhood, at most Long et al.'s 97.5 * box_size / 500.
    """
    if cfg.neg_half is not None:
        return float(cfg.neg_half)
    rf = backbone.geometry[resolve_tap(backbone, cfg.role, "role")]
    field = rf.size + (cfg.neighbourhood - 1) * rf.stride
    return float(min(97.5 * cfg.box_size / FRAME_PX, (field - 1) / 2.0))


def evaluate(samples: Sequence[KeypointSample], pred_box: np.ndarray, cfg: PredictionConfig) -> np.ndarray:
    """PCK hits at alpha * max(box w, h) in image pixels.

    Args:
      samples: the n test `KeypointSample`s.
      pred_box: [n, K, 2] predictions in box pixels (mapped back to the image).
      cfg: the settings (box_size, alpha).

    Returns:
      float [n, K] hits (1 / 0; NaN where not evaluated).
    """
    pred = geometry.transform_points(np.asarray(pred_box, np.float64),
                                     geometry.invert_affine(box_maps(samples, cfg.box_size)))
    gt = np.stack([np.asarray(s.points, np.float64) for s in samples])
    vis = np.stack([np.asarray(s.visible, bool) for s in samples])
    b = np.stack([np.asarray(s.bbox, np.float64) for s in samples])
    norm = np.maximum(b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1)
    return metrics.pck_hits(pred, gt, vis, norm, cfg.alpha)


def per_type_pck(hits: np.ndarray) -> float:
    """A category's PCK: the mean over keypoint types of each type's PCK (Long et al. section 3).

    Args:
      hits: [n, K] (NaN where not evaluated); types never evaluated are left out.

    Returns:
      float in 0..1 (NaN if no type is evaluated).
    """
    counts = np.sum(np.isfinite(hits), axis=0)
    seen = counts > 0
    return float(np.mean(np.nansum(hits, axis=0)[seen] / counts[seen])) if seen.any() else float("nan")


def run_category(ftr: InstanceFeatures, fte: InstanceFeatures, test_s: Sequence[KeypointSample], kind: str,
                 cfg: PredictionConfig, neg_half: float = 0.0, key: jax.Array | None = None) -> dict:
    """Train + predict for one category and one feature kind; PCK hits with and without the prior.

    Args:
      ftr, fte: the category's training and test `InstanceFeatures`.
      test_s: the test `KeypointSample`s.
      kind, cfg, neg_half, key: as `_train_detectors`.

    Returns:
      {"hits", "hits_prior": [n, K] (`evaluate`), "pred", "pred_prior": [n, K, 2] box pixels (NaN, a miss, for the
      types in info['missing']), "info" (the detectors'), "neighbour": [n] first prior neighbours}.

    Raises:
      InputError: a kind other than "conv" and "sift".
    """
    check(kind in ("conv", "sift"), "run_category", "kind", '"conv" or "sift" (the rule that picks positives and '
          'negatives)', kind)
    mu, nn = _prior_means(ftr, fte)  # first: it refuses features without priors before any training
    model, info = _train_detectors(ftr, kind, cfg, neg_half, key)
    p0, p1 = _predict_keypoints(model, fte, None, cfg), _predict_keypoints(model, fte, mu, cfg)
    p0[:, info["missing"]] = p1[:, info["missing"]] = np.nan  # no detector: no prediction (a miss), not location 0
    return {"hits": evaluate(test_s, p0, cfg), "hits_prior": evaluate(test_s, p1, cfg), "pred": p0,
            "pred_prior": p1, "info": info, "neighbour": nn}


def run_table4(train: Sequence[KeypointSample], test: Sequence[KeypointSample], backbone: Backbone, params: Params,
               cfg: PredictionConfig = PredictionConfig(), sift: bool = True, key: jax.Array | None = None,
               progress: bool = False) -> dict:
    """Table 4 over every category of `test`: rows SIFT, SIFT+prior, conv5, conv5+prior -> {category: PCK, mean}.

    A category's PCK averages its keypoint types (`per_type_pck`), the mean averages the categories scored (NaN: no
    visible test keypoint). The prior for both features comes from pool5 nearest neighbours (as in the paper).

    Args:
      train, test: `KeypointSample`s with images loaded.
      backbone, params: the network.
      cfg: the settings.
      sift: also the SIFT rows.
      key: `jax.random` key of the mining (None: PRNGKey(0)).
      progress: a progress bar over the categories.

    Returns:
      {"rows", "hits" {row: {cat: [n, K]}}, "pred" {row: {cat: [n, K, 2] box px}}, "test" {cat: samples},
      "skipped" (keypoints excluded from training), "neg_half" (box px), "info"}.

    Raises:
      InputError: an empty train or test set, a test category without training instances or of mixed K.
    """
    check(len(train) > 0 and len(test) > 0, "run_table4", "samples", "non-empty train and test sets", 0)
    key = jax.random.PRNGKey(0) if key is None else key
    neg_half = default_neg_half(backbone, cfg)
    cats = sorted({s.category for s in test})
    rows: dict[str, dict] = ({"SIFT": {}, "SIFT+prior": {}, "conv5": {}, "conv5+prior": {}} if sift
                             else {"conv5": {}, "conv5+prior": {}})
    hits: dict[str, dict] = {r: {} for r in rows}
    preds: dict[str, dict] = {r: {} for r in rows}
    tests, info, skipped = {}, {}, 0
    Xtr, ctr, Ptr = dense_conv(train, backbone, params, cfg)
    Xte, cte, Pte = dense_conv(test, backbone, params, cfg)
    Str, sctr = dense_sift(train, cfg) if sift else (None, None)
    Ste, scte = dense_sift(test, cfg) if sift else (None, None)
    for cat in progress_bar(cats, desc="table4 categories", disable=not progress):
        itr = [i for i, s in enumerate(train) if s.category == cat]
        ite = [i for i, s in enumerate(test) if s.category == cat]
        check(len(itr) > 0, "training set", f"category {cat!r}", "training instances for every test category", 0)
        tr, te = [train[i] for i in itr], [test[i] for i in ite]
        check(len(ks := sorted({s.num_keypoints for s in tr + te})) == 1, "samples", f"category {cat!r}",
              "one keypoint count (K) for all its instances", ks)
        tests[cat] = te
        _, vis, trainable = box_keypoints(tr, cfg.box_size)
        skipped += int((vis & ~trainable).sum())
        results = {"conv5": run_category(instance_features(tr, Xtr[itr], ctr, Ptr[itr], cfg),
                                         instance_features(te, Xte[ite], cte, Pte[ite], cfg), te, "conv", cfg,
                                         neg_half, key)}
        if sift:  # the prior still comes from pool5 neighbours
            assert Str is not None and Ste is not None and sctr is not None and scte is not None  # computed when sift
            results["SIFT"] = run_category(instance_features(tr, Str[itr], sctr, Ptr[itr], cfg),
                                           instance_features(te, Ste[ite], scte, Pte[ite], cfg), te, "sift", cfg,
                                           0.0, key)
        info[cat] = {k: v["info"] for k, v in results.items()}
        for name, r in results.items():
            hits[name][cat], hits[name + "+prior"][cat] = r["hits"], r["hits_prior"]
            preds[name][cat], preds[name + "+prior"][cat] = r["pred"], r["pred_prior"]
    for name in rows:
        rows[name].update({cat: per_type_pck(hits[name][cat]) for cat in cats})
        rows[name]["mean"] = metrics.mean_scored([rows[name][c] for c in cats])
    order = [r for r in ("SIFT", "SIFT+prior", "conv5", "conv5+prior") if r in rows]
    return {"rows": {r: rows[r] for r in order}, "hits": hits, "pred": preds, "test": tests,
            "skipped": skipped, "neg_half": neg_half, "info": info}
