"""Keypoint classification (Long et al. section 4, Table 3, Figures 4-5).

Given an image and a keypoint location, predict the keypoint's type within its category. Features at a
keypoint: the column of a conv layer whose receptive-field centre is nearest to it, or a SIFT descriptor of
a given radius centred on it. One-vs-all linear SVMs per category (`convcorr_jax.linear.svm`), C = 1e-6 by
default or chosen by 5-fold cross-validation on the training split.

Keypoints used: visible, finite, inside the image. Others are skipped and counted (`KeypointSet.skipped`),
never silently: the Table 3 experiment reports the counts.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Sequence

import numpy as np

from convcorr_jax.backbones.base import Backbone, Params
from convcorr_jax.backbones.registry import resolve_tap
from convcorr_jax.core.errors import InputError, check, check_finite_entries, check_shape, is_int
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.features import sift
from convcorr_jax.features.columns import columns_at_points, extract_grids
from convcorr_jax.linear import svm
from convcorr_jax.linear.svm_checks import check_Cs
from convcorr_jax.core.progress import bar as progress_bar

ROLES = ("conv1", "conv2", "conv3", "conv4", "conv5")
SIFT_RADII = (10, 20, 40, 80, 160)

@dataclasses.dataclass(frozen=True)
class KeypointSet:
    """Keypoint instances of a list of samples (one row per used keypoint).

    sample [M] index into the sample list; label [M] keypoint index within its category's names;
    category [M] str; points [M, 2] (x, y) pixels; skipped: {reason: count}.
    """

    sample: np.ndarray
    label: np.ndarray
    category: np.ndarray
    points: np.ndarray
    skipped: dict

    def __len__(self) -> int:
        return len(self.sample)


def _collect_keypoints(samples, require_in_image: bool = True) -> KeypointSet:
    """The usable keypoints of `samples`: visible, finite, inside the image if `require_in_image`.

    Args:
      samples: `KeypointSample`s (images loaded when `require_in_image`).
      require_in_image: also drop keypoints outside the pixel extent [-0.5, w - 0.5] x [-0.5, h - 0.5].

    Returns:
      A `KeypointSet`, one row per used keypoint; its `skipped` counts "not visible" and "outside image".

    Raises:
      InputError: require_in_image with a sample whose image is not loaded.
    """
    rows, skipped = [], {"not visible": 0, "outside image": 0}
    for i, s in enumerate(samples):
        pts = np.asarray(s.points, np.float64)
        vis = np.asarray(s.visible, bool) & np.all(np.isfinite(pts), axis=1)
        skipped["not visible"] += int((~vis).sum())
        if require_in_image:
            h, w = s.loaded_image().shape[:2]
            inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= w - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= h - 0.5)
            skipped["outside image"] += int((vis & ~inside).sum())
            vis &= inside
        for k in np.flatnonzero(vis):
            rows.append((i, k, s.category, pts[k]))
    if not rows:
        return KeypointSet(np.zeros(0, int), np.zeros(0, int), np.zeros(0, str), np.zeros((0, 2)), skipped)
    return KeypointSet(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                       np.array([r[2] for r in rows]), np.stack([r[3] for r in rows]), skipped)


def _conv_features(samples, kps: KeypointSet, backbone, params, roles: Sequence[str] = ROLES,
                  batch_size: int = 16) -> dict[str, np.ndarray]:
    """The column of each role's tap nearest to each keypoint (whole images through the net).

    Args:
      samples: the `KeypointSample`s `kps` indexes, images loaded.
      kps: the keypoints (`_collect_keypoints(samples)`).
      backbone, params: the network.
      roles: conv roles (or tap names) of the backbone, each a spatial tap.
      batch_size: images per forward pass.

    Returns:
      {role: X float32 [M, C]}, one row per keypoint of kps.

    Raises:
      InputError: a role that is not a spatial tap of the backbone; a sample holding only its path
        (`KeypointSample.loaded_image`).
    """
    taps = [resolve_tap(backbone, r, "roles") for r in roles]
    for r, t in zip(roles, taps):
        check(t in backbone.geometry, backbone.name, "roles", f"a spatial tap for role {r!r}", t)
    grids = extract_grids(backbone, params, [s.loaded_image() for s in samples], sorted(set(taps)), batch_size)
    out = {}
    for r, t in zip(roles, taps):
        rf = backbone.geometry[t]
        feats = np.zeros((len(kps), grids[t][0].shape[-1]), np.float32)
        for i in np.unique(kps.sample):
            sel = kps.sample == i
            feats[sel] = columns_at_points(grids[t][i], rf, kps.points[sel])
        out[r] = feats
    return out


def _sift_features(samples, kps: KeypointSet, radii: Sequence[int] = SIFT_RADII) -> dict[str, np.ndarray]:
    """VLFeat-style SIFT descriptors centred (nearest pixel) on the keypoints, upright (`features.sift.sift_grid`).

    Args:
      samples: the `KeypointSample`s `kps` indexes, images loaded.
      kps: the keypoints (`_collect_keypoints(samples)`).
      radii: descriptor radii r in pixels (bin size r / 2, 4 x 4 bins).

    Returns:
      {"SIFT r": X float32 [M, 128]}, one row per keypoint of kps.

    Raises:
      InputError: a sample of kps holding only its path (`KeypointSample.loaded_image`).
    """
    out = {f"SIFT {r}": np.zeros((len(kps), 128), np.float32) for r in radii}
    for i in np.unique(kps.sample):
        sel = np.flatnonzero(kps.sample == i)
        grey = sift.to_grey(samples[i].loaded_image())
        xs, ys = kps.points[sel, 0], kps.points[sel, 1]
        diag = np.arange(len(sel))
        for r in radii:
            bins = max(1, int(round(r / 2)))  # d: the [K, K, 128] grid
            d = np.asarray(sift.sift_grid(grey, xs, ys, bins))
            out[f"SIFT {r}"][sel] = d[diag, diag]
    return out


def classify(train_X: np.ndarray, train: KeypointSet, test_X: np.ndarray, test: KeypointSet, C: float = 1e-6,
             cv_Cs: Sequence[float] | None = None, n_folds: int = 5, **svm_kw: Any) -> dict:
    """Per-category one-vs-all keypoint classification accuracy.

    With `cv_Cs`, C is picked per category by `n_folds`-fold CV on the training rows (fallback documented in
    `svm.cross_validate`; a category whose CV is impossible keeps `C` with a warning). A category with a single
    keypoint type in training predicts that type (with a warning).

    Args:
      train_X, test_X: features [M_train, D], [M_test, D], one row per keypoint of train / test.
      train, test: the `KeypointSet`s (labels, categories).
      C: the SVM's C when not cross-validated.
      cv_Cs, n_folds: the candidate Cs (None: no CV) and the folds.
      **svm_kw: passed to `svm.fit_ova` and `svm.cross_validate`.

    Returns:
      {"accuracy": {category: acc (0..1)}, "mean": mean over categories (NaN for none), "C": {category: C used},
      "cv": {category: cv dict}}.

    Raises:
      InputError: features not one row per keypoint (of one width D) or not finite, a test category without training
        keypoints, or with cv_Cs an n_folds that is not an int >= 2 or cv_Cs not a list of finite values > 0.
    """
    d = check_shape(train_X, "M D", "classify", "train_X", {"M": len(train)}, note="(one row per training keypoint)")
    check_shape(test_X, "M D", "classify", "test_X", {"M": len(test), "D": d["D"]}, note="(one row per test keypoint)")
    for field, X in (("train_X", train_X), ("test_X", test_X)):  # a NaN score's arg-max is the first class
        check_finite_entries(X, "classify", field, "finite features (no NaN/inf)")
    _check_cv(cv_Cs, n_folds, "classify")
    acc, used, cvs = {}, {}, {}
    for cat in sorted(set(test.category.tolist())):
        tr, te = train.category == cat, test.category == cat
        check(tr.any(), "training set", f"category {cat!r}", "training keypoints for every test category", 0)
        ytr = train.label[tr]
        c = C
        if len(np.unique(ytr)) < 2:
            warnings.warn(f"category {cat!r}: a single keypoint type in training; every prediction is that type")
            pred = np.full(te.sum(), ytr[0])
        else:
            if cv_Cs is not None:
                try:
                    cvs[cat] = svm.cross_validate(train_X[tr], ytr, cv_Cs, n_folds=n_folds,
                                                  source=f"category {cat!r}", **svm_kw)
                    c = cvs[cat]["best_C"]
                except InputError as e:
                    warnings.warn(f"{e}; keeping C = {C}")
            model = svm.fit_ova(train_X[tr], ytr, C=c, **svm_kw)
            pred = model.predict(test_X[te])
        acc[cat] = float((pred == test.label[te]).mean())
        used[cat] = c
    return {"accuracy": acc, "mean": float(np.mean(list(acc.values()))) if acc else float("nan"), "C": used,
            "cv": cvs}


def _check_cv(cv_Cs, n_folds, source: str) -> None:
    """InputError unless cv_Cs is None or a list of finite Cs > 0 with n_folds an int >= 2: refused once, as
    `classify` only warns and keeps its fixed C for a category whose CV fails."""
    if cv_Cs is not None:
        check(is_int(n_folds, 2), source, "n_folds", "an int >= 2 (the CV folds that choose C)", n_folds)
        check_Cs(cv_Cs, source, "cv_Cs")


def run_table3(train: Sequence[KeypointSample], test: Sequence[KeypointSample], backbone: Backbone, params: Params,
               roles: Sequence[str] = ROLES, radii: Sequence[int] = SIFT_RADII, C: float | dict = 1e-6,
               cv_Cs: Sequence[float] | None = None, n_folds: int = 5, progress: bool = False, **svm_kw: Any) -> dict:
    """Table 3: keypoint classification accuracy per feature (SIFT radii, conv roles) and category.

    Args:
      train, test: `KeypointSample`s with images loaded.
      backbone, params: the network of the conv features.
      roles, radii: the conv roles and SIFT radii (px) to compare (empty: none of that kind).
      C: one value, or {feature name ("SIFT 20", "conv3", ...) or kind ("SIFT", "conv"): C} (missing: 1e-6).
      cv_Cs, n_folds, **svm_kw: as `classify`.
      progress: a progress bar over the features.

    Returns:
      {"results": {feature: classify(...) output}, "skipped": {reason: count} (train + test), "n_train", "n_test"
      (keypoints)}.

    Raises:
      InputError: no usable keypoint in train or test, no role and no radius, bad cv_Cs or n_folds (`classify`).
    """
    check(len(roles) + len(radii) > 0, "run_table3", "roles", "at least one conv role, or a SIFT radius in radii",
          "none")
    _check_cv(cv_Cs, n_folds, "run_table3")
    ktr, kte = _collect_keypoints(train), _collect_keypoints(test)
    check(len(ktr) > 0 and len(kte) > 0, "samples", "keypoints", "visible keypoints inside the images", 0)
    feats_tr, feats_te = {}, {}
    if radii:
        feats_tr.update(_sift_features(train, ktr, radii))
        feats_te.update(_sift_features(test, kte, radii))
    if roles:
        feats_tr.update(_conv_features(train, ktr, backbone, params, roles))
        feats_te.update(_conv_features(test, kte, backbone, params, roles))
    results = {}
    for name in progress_bar(list(feats_tr), desc="table3 features", disable=not progress):
        fallback = C.get(name.split()[0] if name.startswith("SIFT") else "conv", 1e-6) if isinstance(C, dict) else C
        c = C.get(name, fallback) if isinstance(C, dict) else C
        results[name] = classify(feats_tr[name], ktr, feats_te[name], kte, C=c, cv_Cs=cv_Cs, n_folds=n_folds,
                                 **svm_kw)
    skipped = {k: ktr.skipped[k] + kte.skipped[k] for k in ktr.skipped}
    return {"results": results, "skipped": skipped, "n_train": len(ktr), "n_test": len(kte)}


def _shifted_images(image: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """An image translated by integer shifts: out[s][y, x] = image[y - ty, x - tx] (edge pixels repeated).

    Args:
      image: uint8 [H, W, 3].
      shifts: int [S, 2] (tx, ty) >= 0 pixels.

    Returns:
      uint8 [S, H, W, 3].
    """
    h, w = image.shape[:2]
    p = int(np.max(shifts)) if len(shifts) else 0
    padded = np.pad(image, ((p, p), (p, p), (0, 0)), mode="edge")
    return np.stack([padded[p - ty:p - ty + h, p - tx:p - tx + w] for tx, ty in shifts])


def _dense_window_scores_conv(image, points, labels, model: svm.LinearSVM, backbone, params, role: str,
                             radius: int = 10, step: int = 1, batch_size: int = 16) -> np.ndarray:
    """Figure 4 (conv): the one-vs-all score of each keypoint's own class at every pixel of a window around it.

    Pixel-exact evaluation: the image is translated by every (tx, ty) in [0, stride)^2 (every `step`), so that
    each window pixel lands exactly on a column's receptive-field centre in one of the translated copies. A tap whose
    centres sit between pixels (offset q + 1/2, e.g. VGG-16's) puts its window on that half-pixel lattice: the window
    is centred on the lattice point nearest the keypoint, cells 1 px apart (whole translations reach no other points).

    Args:
      image: uint8 RGB [H, W, 3].
      points: [P, 2] (x, y) pixels (rounded to the nearest pixel, or lattice point).
      labels: int [P] each keypoint's class (one of `model.classes`).
      model: the one-vs-all SVM on the role's columns.
      backbone, params, role: the network and the conv role of the features.
      radius: window half-width r in pixels.
      step: the translation step in pixels.
      batch_size: images per forward pass.

    Returns:
      float [P, 2r+1, 2r+1] scores, row = y offset, column = x offset; NaN where `step` skips a pixel (or the
      window leaves the feature grid).
    """
    tap = resolve_tap(backbone, role, "role")
    rf = backbone.geometry[tap]
    stride, off = rf.stride, rf.offset
    ts = np.arange(0, stride, step)
    shifts = np.stack(np.meshgrid(ts, ts, indexing="xy"), -1).reshape(-1, 2)
    grids = np.stack(extract_grids(backbone, params, list(_shifted_images(image, shifts)), [tap], batch_size)[tap])
    gh, gw = grids.shape[1:3]
    which = np.full((int(stride), int(stride)), -1)  # [tx, ty] -> index of that translated copy, -1 if skipped
    which[shifts[:, 0], shifts[:, 1]] = np.arange(len(shifts))
    cls_idx = {c: i for i, c in enumerate(np.asarray(model.classes).tolist())}
    k = np.array([cls_idx[int(lab)] for lab in labels], np.int64)
    d = np.arange(-radius, radius + 1)
    frac = off - np.floor(off)  # 0, or 1/2 for centres between pixels
    p = np.rint(np.asarray(points, np.float64) - frac) + frac
    x = p[:, None, None, 0] + d[None, None, :]  # [P, 1, S]
    y = p[:, None, None, 1] + d[None, :, None]  # [P, S, 1]
    x, y = np.broadcast_arrays(x, y)
    tx, ty = np.mod(off - x, stride), np.mod(off - y, stride)
    whole = (np.abs(tx - np.rint(tx)) < 1e-6) & (np.abs(ty - np.rint(ty)) < 1e-6)
    txi, tyi = np.rint(tx).astype(np.int64) % stride, np.rint(ty).astype(np.int64) % stride
    shift = np.where(whole, which[txi, tyi], -1)
    col, row = np.rint((x + tx - off) / stride).astype(np.int64), np.rint((y + ty - off) / stride).astype(np.int64)
    ok = (shift >= 0) & (col >= 0) & (col < gw) & (row >= 0) & (row < gh)
    feats = grids[np.where(ok, shift, 0), np.clip(row, 0, gh - 1), np.clip(col, 0, gw - 1)]  # [P, S, S, D]
    scores = np.einsum("psqd,pd->psq", feats, np.asarray(model.W)[k]) + np.asarray(model.b)[k][:, None, None]
    out = np.where(ok, scores, np.nan)
    return out


def _dense_window_scores_sift(image, points, labels, model: svm.LinearSVM, radius_px: int,
                             radius: int = 10) -> np.ndarray:
    """Figure 4 (SIFT): the same window scores with SIFT descriptors computed at every window pixel.

    Args:
      image: uint8 RGB [H, W, 3].
      points: [P, 2] (x, y) pixels (rounded to the nearest pixel).
      labels: int [P] each keypoint's class (one of `model.classes`).
      model: the one-vs-all SVM on SIFT descriptors of radius `radius_px`.
      radius_px: the descriptor radius in pixels (bin size radius_px / 2).
      radius: window half-width r in pixels.

    Returns:
      float64 [P, 2r+1, 2r+1] scores, row = y offset, column = x offset.
    """
    grey = sift.to_grey(image)
    size = 2 * radius + 1
    out = np.full((len(points), size, size), np.nan)
    cls_idx = {c: i for i, c in enumerate(np.asarray(model.classes).tolist())}
    for j, (p, lab) in enumerate(zip(np.rint(points).astype(int), labels)):
        xs, ys = p[0] + np.arange(-radius, radius + 1), p[1] + np.arange(-radius, radius + 1)
        bins = max(1, int(round(radius_px / 2)))  # d: [size, size, 128]
        d = np.asarray(sift.sift_grid(grey, xs, ys, bins))
        k = cls_idx[int(lab)]
        out[j] = d @ model.W[k] + model.b[k]
    return out


def _argmax_histogram(score_maps: np.ndarray) -> tuple[np.ndarray, int]:
    """Figure 4 histogram: counts of each window's arg-max, maxima on the window boundary excluded (as in the paper).

    Args:
      score_maps: [N, 2r+1, 2r+1] window scores (NaN ignored; all-NaN windows skipped).

    Returns:
      (counts int64 [2r+1, 2r+1], how many maxima were excluded).
    """
    size = score_maps.shape[-1]
    hist = np.zeros((size, size), np.int64)
    excluded = 0
    for s in score_maps:
        if np.all(np.isnan(s)):
            continue
        r, c = np.unravel_index(int(np.nanargmax(s)), s.shape)
        if r in (0, size - 1) or c in (0, size - 1):
            excluded += 1
            continue
        hist[r, c] += 1
    return hist, excluded


def run_figure4(train: Sequence[KeypointSample], test: Sequence[KeypointSample], backbone: Backbone, params: Params,
                category: str, keypoint_names: Sequence[str], role: str = "conv4", sift_radius: int = 20,
                C: float = 1e-6, sift_C: float = 1e-6, n_images: int = 8, step: int = 1, radius: int = 10) -> dict:
    """Figure 4: arg-max histograms of the keypoint classifiers (conv `role` and SIFT) around ground-truth keypoints.

    Args:
      train, test: `KeypointSample`s with images loaded (those of `category` are used).
      backbone, params: the network.
      category: the object category.
      keypoint_names: the keypoints (names of the category) whose windows are scored.
      role, sift_radius: the conv role and the SIFT radius (px) of the two classifiers.
      C, sift_C: the SVMs' C.
      n_images: test images used (the first ones of the category).
      step: the translation step (`_dense_window_scores_conv`).
      radius: window half-width r in pixels (10: 21 x 21 windows).

    Returns:
      {"histograms": {panel name: counts [2r+1, 2r+1]}, "excluded": {panel name: boundary maxima}}.

    Raises:
      InputError: no train or test instance of the category, a keypoint name not of it or never visible in training,
        n_images, step or radius not an integer >= 1.
    """
    for field, v in (("n_images", n_images), ("step", step), ("radius", radius)):
        check(is_int(v, 1), "run_figure4", field, "an integer >= 1", v)
    tr = [s for s in train if s.category == category]
    te = [s for s in test if s.category == category][:n_images]
    check(len(tr) > 0 and len(te) > 0, "samples", "category", f"train and test instances of {category!r}", category)
    names = list(tr[0].names)
    for k in keypoint_names:
        check(k in names, category, "keypoint_names", f"names from {names}", k)
    ktr, kte = _collect_keypoints(tr), _collect_keypoints(te)
    conv_model = svm.fit_ova(_conv_features(tr, ktr, backbone, params, (role,))[role], ktr.label, C=C)
    sift_model = svm.fit_ova(_sift_features(tr, ktr, (sift_radius,))[f"SIFT {sift_radius}"], ktr.label, C=sift_C)
    want = [names.index(k) for k in keypoint_names]
    seen = set(np.asarray(ktr.label).tolist())
    for t in want:
        check(t in seen, category, "keypoint_names", f"keypoints visible in some training instance of {category!r}",
              names[t])
    maps: dict[tuple[str, int], list[np.ndarray]] = {(kind, t): [] for kind in ("conv", "sift") for t in want}
    for i, s in enumerate(te):
        sel = (kte.sample == i) & np.isin(kte.label, want)
        if not sel.any():
            continue
        pts, labs = kte.points[sel], kte.label[sel]
        image = s.loaded_image()
        conv = _dense_window_scores_conv(image, pts, labs, conv_model, backbone, params, role, radius, step)
        sft = _dense_window_scores_sift(image, pts, labs, sift_model, sift_radius, radius)
        for j, lab in enumerate(labs):
            maps[("conv", lab)].append(conv[j])
            maps[("sift", lab)].append(sft[j])
    hists, excluded = {}, {}
    for (kind, t), m in maps.items():
        name = f"{'SIFT ' + str(sift_radius) if kind == 'sift' else role}: {names[t]} (n={len(m)})"
        hists[name], excluded[name] = _argmax_histogram(np.array(m).reshape(-1, 2 * radius + 1, 2 * radius + 1))
    return {"histograms": hists, "excluded": excluded}
