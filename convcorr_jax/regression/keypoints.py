"""Object keypoints from a global descriptor (Razavian et al. Table 2, Fig. 2b).

Each instance is described by the descriptor of a square crop around its bounding box (side = `context` x the
box's longer side, centred on the box; the image is padded with black where the crop leaves it), and a separate
set of ridge regressors is learnt per category, each keypoint fitted on the training instances where it is
visible. PCK(alpha): a visible keypoint is correct when its error is <= alpha * max(box width, box height).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convcorr_jax.metrics import pck_hits
from convcorr_jax.regression.features import Featurizer, crop_images, from_crop, to_crop
from convcorr_jax.regression.landmarks import LAMBDAS, fit_points, predict_points

ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.round(np.linspace(0.0, 0.5, 26), 3))


def instance_boxes(bboxes: np.ndarray, context: float = 1.1) -> np.ndarray:
    """Square crop boxes [N, 3] (cx, cy, side) around bboxes [N, 4] (x0, y0, x1, y1 inclusive)."""
    b = np.asarray(bboxes, np.float64)
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, context * np.maximum(w, h)], axis=1)


def bbox_norm(bboxes: np.ndarray) -> np.ndarray:
    """PCK normaliser [N]: max(box width, box height) in pixels."""
    b = np.asarray(bboxes, np.float64)
    return np.maximum(b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1)


def _arrays(samples):
    images = [s.with_image().image for s in samples]
    pts = np.stack([s.points for s in samples]).astype(np.float64)
    vis = np.stack([s.visible for s in samples]) & np.all(np.isfinite(pts), axis=-1)
    return images, pts, vis, np.stack([s.bbox for s in samples])


def _describe(images, boxes, featurize, crop_size):
    crops = [crop_images(im[None], bx[None], crop_size)[0] for im, bx in zip(images, boxes)] if len(
        {im.shape for im in images}) > 1 else crop_images(np.stack(images), boxes, crop_size)
    return featurize(np.asarray(crops))


@dataclasses.dataclass
class KeypointResult:
    pck: dict[str, float]  # category -> PCK@0.1 (0..1); "mean" = mean over categories
    curves: dict[str, np.ndarray]  # category -> PCK at each of ALPHAS
    alphas: tuple[float, ...]
    counts: dict[str, int]  # category -> test instances


def keypoint_table(train, test, featurize: Featurizer, crop_size: int = 128, context: float = 1.1,
                   lambdas: Sequence[float] = LAMBDAS, folds: int = 4, seed: int = 0,
                   alphas: Sequence[float] = ALPHAS) -> KeypointResult:
    """Per-category regressors on `train` (KeypointSample list), PCK on `test`."""
    cats = sorted({s.category for s in train} & {s.category for s in test})
    pck, curves, counts = {}, {}, {}
    for cat in cats:
        tr = [s for s in train if s.category == cat]
        te = [s for s in test if s.category == cat]
        im_tr, p_tr, v_tr, b_tr = _arrays(tr)
        im_te, p_te, v_te, b_te = _arrays(te)
        box_tr, box_te = instance_boxes(b_tr, context), instance_boxes(b_te, context)
        F_tr = _describe(im_tr, box_tr, featurize, crop_size)
        F_te = _describe(im_te, box_te, featurize, crop_size)
        model = fit_points(F_tr, to_crop(p_tr, box_tr, crop_size), v_tr, lambdas, min(folds, len(tr)), seed)
        pred = from_crop(predict_points(model, F_te), box_te, crop_size)
        norm = bbox_norm(b_te)
        curves[cat] = np.array([np.nanmean(pck_hits(pred, p_te, v_te, norm, a)) for a in alphas])
        pck[cat] = float(np.nanmean(pck_hits(pred, p_te, v_te, norm, 0.1)))
        counts[cat] = len(te)
    pck["mean"] = float(np.mean([pck[c] for c in cats])) if cats else float("nan")
    return KeypointResult(pck, curves, tuple(alphas), counts)
