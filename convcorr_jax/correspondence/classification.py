"""Keypoint classification (Long et al. section 4, Table 3, Figures 4-5).

Given an image and a keypoint location, predict the keypoint's type within its category. Features at a
keypoint: the column of a conv layer whose receptive-field centre is nearest to it, or a SIFT descriptor of
a given radius centred on it. One-vs-all linear SVMs per category (`convcorr_jax.linear.svm`), C = 1e-6 by
default or chosen by 5-fold cross-validation on the training split.

Keypoints used: visible, finite, inside the image. Others are skipped and counted (`KeypointSet.skipped`),
never silently: the counts are printed by the table script.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Sequence

import numpy as np

from convcorr_jax.errors import InputError, check
from convcorr_jax.linear import svm

ROLES = ("conv1", "conv2", "conv3", "conv4", "conv5")
SIFT_RADII = (10, 20, 40, 80, 160)

# Long et al. 2014, Table 3 (PASCAL VOC 2011 val), mean column only and per-category rows.
PAPER_CATEGORIES = ("aero", "bike", "bird", "boat", "bttl", "bus", "car", "cat", "chair", "cow", "table", "dog",
                    "horse", "mbike", "prsn", "plant", "sheep", "sofa", "train", "tv")
PAPER_TABLE3 = {
    "SIFT 10": [36, 42, 36, 32, 67, 64, 40, 37, 33, 37, 60, 34, 39, 38, 29, 63, 37, 42, 64, 75, 45],
    "SIFT 20": [37, 50, 39, 35, 74, 67, 47, 40, 36, 43, 68, 38, 42, 48, 33, 70, 44, 52, 68, 77, 50],
    "SIFT 40": [35, 54, 37, 41, 76, 68, 47, 37, 39, 40, 69, 36, 42, 49, 32, 69, 39, 52, 74, 78, 51],
    "SIFT 80": [33, 43, 37, 42, 75, 66, 42, 30, 43, 36, 70, 31, 36, 51, 27, 70, 35, 49, 69, 77, 48],
    "SIFT 160": [27, 36, 34, 38, 72, 59, 35, 25, 39, 30, 67, 27, 32, 46, 25, 70, 29, 48, 66, 76, 44],
    "conv1": [16, 14, 15, 19, 20, 29, 15, 22, 16, 17, 29, 17, 14, 16, 15, 33, 18, 12, 27, 29, 20],
    "conv2": [37, 43, 40, 35, 69, 63, 38, 44, 35, 40, 61, 38, 40, 44, 34, 65, 39, 41, 63, 72, 47],
    "conv3": [42, 50, 46, 41, 76, 69, 46, 52, 39, 45, 64, 47, 48, 52, 40, 74, 46, 50, 71, 77, 54],
    "conv4": [44, 53, 49, 42, 78, 70, 45, 55, 41, 48, 68, 51, 51, 53, 41, 76, 49, 52, 73, 76, 56],
    "conv5": [44, 51, 49, 41, 77, 68, 44, 53, 39, 45, 63, 50, 49, 52, 39, 73, 47, 47, 71, 75, 54],
}


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


def collect_keypoints(samples, require_in_image: bool = True) -> KeypointSet:
    """The usable keypoints of `samples` (visible, finite, inside the image if `require_in_image`)."""
    rows, skipped = [], {"not visible": 0, "outside image": 0}
    for i, s in enumerate(samples):
        pts = np.asarray(s.points, np.float64)
        vis = np.asarray(s.visible, bool) & np.all(np.isfinite(pts), axis=1)
        skipped["not visible"] += int((~vis).sum())
        if require_in_image:
            check(s.image is not None, s.image_path or s.id, "image", "a loaded image (sample.with_image())")
            h, w = s.image.shape[:2]
            inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= w - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= h - 0.5)
            skipped["outside image"] += int((vis & ~inside).sum())
            vis &= inside
        for k in np.flatnonzero(vis):
            rows.append((i, k, s.category, pts[k]))
    if not rows:
        return KeypointSet(np.zeros(0, int), np.zeros(0, int), np.zeros(0, str), np.zeros((0, 2)), skipped)
    return KeypointSet(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                       np.array([r[2] for r in rows]), np.stack([r[3] for r in rows]), skipped)


def conv_features(samples, kps: KeypointSet, backbone, params, roles: Sequence[str] = ROLES,
                  batch_size: int = 16) -> dict[str, np.ndarray]:
    """{role: X [M, C]}: the column of each role's tap nearest to each keypoint (whole images through the net)."""
    from convcorr_jax.features.columns import columns_at_points, extract_grids

    taps = [backbone.roles.get(r, r) for r in roles]
    for r, t in zip(roles, taps):
        check(t in backbone.geometry, backbone.name, "roles", f"a spatial tap for role {r!r}", t)
    grids = extract_grids(backbone, params, [s.image for s in samples], sorted(set(taps)), batch_size)
    out = {}
    for r, t in zip(roles, taps):
        rf = backbone.geometry[t]
        feats = np.zeros((len(kps), grids[t][0].shape[-1]), np.float32)
        for i in np.unique(kps.sample):
            sel = kps.sample == i
            feats[sel] = columns_at_points(grids[t][i], rf, kps.points[sel])
        out[r] = feats
    return out


def sift_features(samples, kps: KeypointSet, radii: Sequence[int] = SIFT_RADII) -> dict[str, np.ndarray]:
    """{"SIFT r": X [M, 128]}: VLFeat-style SIFT descriptors centred (nearest pixel) on the keypoints, descriptor
    radius r pixels (bin size r / 2, 4 x 4 bins), upright (`convcorr_jax.features.sift.sift_grid`)."""
    from convcorr_jax.features import sift

    out = {f"SIFT {r}": np.zeros((len(kps), 128), np.float32) for r in radii}
    for i in np.unique(kps.sample):
        sel = np.flatnonzero(kps.sample == i)
        grey = sift.to_grey(samples[i].image)
        xs, ys = kps.points[sel, 0], kps.points[sel, 1]
        diag = np.arange(len(sel))
        for r in radii:
            d = np.asarray(sift.sift_grid(grey, xs, ys, max(1, int(round(r / 2)))))  # [K, K, 128] grid
            out[f"SIFT {r}"][sel] = d[diag, diag]
    return out


def classify(train_X, train: KeypointSet, test_X, test: KeypointSet, C: float = 1e-6,
             cv_Cs: Sequence[float] | None = None, n_folds: int = 5, **svm_kw) -> dict:
    """Per-category one-vs-all keypoint classification accuracy.

    With `cv_Cs`, C is picked per category by `n_folds`-fold CV on the training rows (fallback documented in
    `svm.cross_validate`; a category whose CV is impossible keeps `C` with a warning).
    Returns {"accuracy": {category: acc (0..1)}, "mean": mean over categories, "C": {category: C used},
    "cv": {category: cv dict}}.
    """
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


def table_markdown(results: dict[str, dict], title: str = "Keypoint classification accuracy (%)") -> str:
    """Markdown table: rows = feature names, columns = categories + mean; then the paper's rows."""
    rows = list(results)
    cats = sorted({c for r in results.values() for c in r["accuracy"]})
    lines = [f"**{title}, this run**", "", "| feature | " + " | ".join(cats) + " | mean |",
             "|---" * (len(cats) + 2) + "|"]
    for r in rows:
        a = results[r]["accuracy"]
        cells = [f"{100 * a[c]:.1f}" if c in a else "-" for c in cats]
        lines.append(f"| {r} | " + " | ".join(cells) + f" | {100 * results[r]['mean']:.1f} |")
    lines += ["", "**paper (different data): Long et al. 2014 Table 3, PASCAL VOC 2011 val, CaffeNet**", "",
              "| feature | " + " | ".join(PAPER_CATEGORIES) + " | mean |", "|---" * (len(PAPER_CATEGORIES) + 2) + "|"]
    for r, v in PAPER_TABLE3.items():
        lines.append(f"| {r} | " + " | ".join(str(x) for x in v) + " |")
    return "\n".join(lines)


def cv_curve_figure(cv_by_feature: dict[str, dict[str, dict]], path) -> None:
    """Figure 5: mean CV accuracy vs C (log axis), one line per feature (averaged over categories)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convcorr_jax import io

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for feat, per_cat in cv_by_feature.items():
        if not per_cat:
            continue
        Cs = next(iter(per_cat.values()))["C"]
        acc = np.mean([v["accuracy"] for v in per_cat.values()], axis=0)
        ax.semilogx(Cs, 100 * acc, marker="o", label=feat)
    ax.set_xlabel("C")
    ax.set_ylabel("5-fold CV accuracy (%)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run_table3(train, test, backbone, params, roles: Sequence[str] = ROLES, radii: Sequence[int] = SIFT_RADII,
               C: float | dict = 1e-6, cv_Cs: Sequence[float] | None = None, n_folds: int = 5, progress: bool = True,
               **svm_kw) -> dict:
    """Table 3: keypoint classification accuracy per feature (SIFT radii, conv roles) and category.

    C: one value, or {feature name ("SIFT 20", "conv3", ...) or kind ("SIFT", "conv"): C}.
    Returns {"results": {feature: classify(...) output}, "skipped": {reason: count} (train + test), "n_train",
    "n_test" (keypoints)}.
    """
    from tqdm import tqdm

    ktr, kte = collect_keypoints(train), collect_keypoints(test)
    check(len(ktr) > 0 and len(kte) > 0, "samples", "keypoints", "visible keypoints inside the images", 0)
    feats_tr, feats_te = {}, {}
    if radii:
        feats_tr.update(sift_features(train, ktr, radii))
        feats_te.update(sift_features(test, kte, radii))
    if roles:
        feats_tr.update(conv_features(train, ktr, backbone, params, roles))
        feats_te.update(conv_features(test, kte, backbone, params, roles))
    results = {}
    for name in tqdm(list(feats_tr), desc="table3 features", disable=not progress):
        c = C.get(name, C.get(name.split()[0] if name.startswith("SIFT") else "conv", 1e-6)) if isinstance(C, dict) else C
        results[name] = classify(feats_tr[name], ktr, feats_te[name], kte, C=c, cv_Cs=cv_Cs, n_folds=n_folds,
                                 **svm_kw)
    skipped = {k: ktr.skipped[k] + kte.skipped[k] for k in ktr.skipped}
    return {"results": results, "skipped": skipped, "n_train": len(ktr), "n_test": len(kte)}


def shifted_images(image: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """image uint8 [H, W, 3] translated by integer shifts [S, 2] (tx, ty) >= 0: out[s][y, x] = image[y - ty, x - tx]
    (edge pixels repeated). Returns [S, H, W, 3]."""
    h, w = image.shape[:2]
    p = int(np.max(shifts)) if len(shifts) else 0
    padded = np.pad(image, ((p, p), (p, p), (0, 0)), mode="edge")
    return np.stack([padded[p - ty:p - ty + h, p - tx:p - tx + w] for tx, ty in shifts])


def dense_window_scores_conv(image, points, labels, model: svm.LinearSVM, backbone, params, role: str,
                             radius: int = 10, step: int = 1, batch_size: int = 16) -> np.ndarray:
    """Figure 4 (conv): the one-vs-all score of each keypoint's own class at every pixel of a (2r+1)^2 window
    around it, [P, 2r+1, 2r+1] (NaN where `step` skips a pixel).

    Pixel-exact evaluation: the image is translated by every (tx, ty) in [0, stride)^2 (every `step`), so that
    each window pixel lands exactly on a column's receptive-field centre in one of the translated copies.
    """
    from convcorr_jax.features.columns import extract_grids

    tap = backbone.roles.get(role, role)
    rf = backbone.geometry[tap]
    stride, off = rf.stride, rf.offset
    ts = np.arange(0, stride, step)
    shifts = np.stack(np.meshgrid(ts, ts, indexing="xy"), -1).reshape(-1, 2)
    grids = np.stack(extract_grids(backbone, params, list(shifted_images(image, shifts)), [tap], batch_size)[tap])
    gh, gw = grids.shape[1:3]
    which = np.full((int(stride), int(stride)), -1)  # [tx, ty] -> index of that translated copy, -1 if skipped
    which[shifts[:, 0], shifts[:, 1]] = np.arange(len(shifts))
    cls_idx = {c: i for i, c in enumerate(np.asarray(model.classes).tolist())}
    k = np.array([cls_idx[int(lab)] for lab in labels], np.int64)
    d = np.arange(-radius, radius + 1)
    p = np.rint(np.asarray(points, np.float64)).astype(np.int64)
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


def dense_window_scores_sift(image, points, labels, model: svm.LinearSVM, radius_px: int,
                             radius: int = 10) -> np.ndarray:
    """Figure 4 (SIFT): the same window scores with SIFT descriptors computed at every window pixel."""
    from convcorr_jax.features import sift

    grey = sift.to_grey(image)
    size = 2 * radius + 1
    out = np.full((len(points), size, size), np.nan)
    cls_idx = {c: i for i, c in enumerate(np.asarray(model.classes).tolist())}
    for j, (p, lab) in enumerate(zip(np.rint(points).astype(int), labels)):
        xs, ys = p[0] + np.arange(-radius, radius + 1), p[1] + np.arange(-radius, radius + 1)
        d = np.asarray(sift.sift_grid(grey, xs, ys, max(1, int(round(radius_px / 2)))))  # [size, size, 128]
        k = cls_idx[int(lab)]
        out[j] = d @ model.W[k] + model.b[k]
    return out


def argmax_histogram(score_maps: np.ndarray) -> tuple[np.ndarray, int]:
    """Figure 4 histogram: counts [2r+1, 2r+1] of each window's arg-max (NaN ignored), maxima on the window
    boundary excluded (as in the paper); also returns how many were excluded."""
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


def histogram_figure(hists: dict[str, np.ndarray], path) -> None:
    """One panel per (feature, keypoint) histogram; the window centre (the ground truth) is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convcorr_jax import io

    fig, axes = plt.subplots(1, len(hists), figsize=(2.4 * len(hists), 2.6), squeeze=False)
    for ax, (name, h) in zip(axes[0], hists.items()):
        ax.imshow(h, cmap="hot", interpolation="nearest")
        r = h.shape[0] // 2
        ax.plot([r], [r], "c+", ms=8)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run_figure4(train, test, backbone, params, category: str, keypoint_names: Sequence[str], path,
                role: str = "conv4", sift_radius: int = 20, C: float = 1e-6, sift_C: float = 1e-6,
                n_images: int = 8, step: int = 1, radius: int = 10) -> dict:
    """Figure 4: arg-max histograms of the keypoint classifiers (conv `role` and SIFT) over 21 x 21 windows
    around the ground-truth keypoints `keypoint_names` of `category` in up to `n_images` test images."""
    tr = [s for s in train if s.category == category]
    te = [s for s in test if s.category == category][:n_images]
    check(len(tr) > 0 and len(te) > 0, "samples", "category", f"train and test instances of {category!r}", category)
    names = list(tr[0].names)
    for k in keypoint_names:
        check(k in names, category, "keypoint_names", f"names from {names}", k)
    ktr, kte = collect_keypoints(tr), collect_keypoints(te)
    conv_model = svm.fit_ova(conv_features(tr, ktr, backbone, params, (role,))[role], ktr.label, C=C)
    sift_model = svm.fit_ova(sift_features(tr, ktr, (sift_radius,))[f"SIFT {sift_radius}"], ktr.label, C=sift_C)
    want = [names.index(k) for k in keypoint_names]
    seen = set(np.asarray(ktr.label).tolist())
    for k in want:
        check(k in seen, category, "keypoint_names", f"keypoints visible in some training instance of {category!r}",
              names[k])
    maps = {("conv", k): [] for k in want} | {("sift", k): [] for k in want}
    for i, s in enumerate(te):
        sel = (kte.sample == i) & np.isin(kte.label, want)
        if not sel.any():
            continue
        pts, labs = kte.points[sel], kte.label[sel]
        conv = dense_window_scores_conv(s.image, pts, labs, conv_model, backbone, params, role, radius, step)
        sft = dense_window_scores_sift(s.image, pts, labs, sift_model, sift_radius, radius)
        for j, lab in enumerate(labs):
            maps[("conv", lab)].append(conv[j])
            maps[("sift", lab)].append(sft[j])
    hists, excluded = {}, {}
    for (kind, k), m in maps.items():
        name = f"{'SIFT ' + str(sift_radius) if kind == 'sift' else role}: {names[k]} (n={len(m)})"
        hists[name], excluded[name] = argmax_histogram(np.array(m).reshape(-1, 2 * radius + 1, 2 * radius + 1))
    histogram_figure(hists, path)
    return {"histograms": hists, "excluded": excluded}
