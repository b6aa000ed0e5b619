"""The keypoint detectors of Long et al.'s sliding-window prediction (Table 4, `prediction.py`), per category and
keypoint type: the training locations (positives and negatives), the hard-negative-mined linear SVMs, the
nearest-neighbour Gaussian prior and the arg-max prediction; `InstanceFeatures`, the dense features they read.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from convcorr_jax.core import knn
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.long_frame import FRAME_PX
from convcorr_jax.linear import svm
from convcorr_jax.long2014.prediction_config import PredictionConfig


@dataclasses.dataclass
class InstanceFeatures:
    """Dense features of resampled boxes: X [n, L, D], centres [L, 2] (x, y) in box pixels,
    keypoints [n, K, 2] in box pixels, trainable [n, K] (visible and inside the box), prior [n, P] or None."""

    X: np.ndarray
    centres: np.ndarray
    keypoints: np.ndarray
    trainable: np.ndarray
    prior: np.ndarray | None = None


def _training_masks(f: InstanceFeatures, kind: str, cfg: PredictionConfig, neg_half: float = 0.0):
    """Positive and negative locations per keypoint type for one category's training instances.

    kind "conv": positives = the `n_positives` locations nearest to the keypoint, negatives = locations whose field
    (half width `neg_half`, Chebyshev) excludes it. kind "sift": positives within 2 bins (else the nearest location),
    negatives at least 4 bins away (Euclidean).

    Args:
      f: the category's training `InstanceFeatures` (n instances, L locations, K types).
      kind, cfg: "conv" or "sift"; the settings (n_positives, sift_bin).
      neg_half: box pixels (kind "conv").

    Returns:
      (positives, negatives): bool [K, n * L] each.
    """
    n, L, _ = f.X.shape
    K = f.keypoints.shape[1]
    pos, neg = np.zeros((K, n, L), bool), np.zeros((K, n, L), bool)
    for i in range(n):
        for k in np.flatnonzero(f.trainable[i]):
            diff = f.centres - f.keypoints[i, k]
            dist = np.linalg.norm(diff, axis=1)
            if kind == "conv":
                pos[k, i, np.argsort(dist, kind="stable")[: cfg.n_positives]] = True
                neg[k, i] = np.abs(diff).max(axis=1) > neg_half
            else:
                pos[k, i] = dist <= 2 * cfg.sift_bin
                if not pos[k, i].any():
                    pos[k, i, np.argmin(dist)] = True
                neg[k, i] = dist >= 4 * cfg.sift_bin
    return pos.reshape(K, n * L), neg.reshape(K, n * L)


def _train_detectors(f: InstanceFeatures, kind: str, cfg: PredictionConfig, neg_half: float = 0.0,
                    key: jax.Array | None = None):
    """Hard-negative-mined SVMs for the K keypoint types of one category (`svm.mine_hard_negatives`).

    Keypoint types without any training positive get a zero detector (info['missing']; `run_category` predicts NaN).

    Args:
      f, kind, cfg, neg_half: as `_training_masks` (cfg also sets C / sift_C and the mining).
      key: `jax.random` key of the mining's first negative subset (None: seed 0).

    Returns:
      (LinearSVM with W float32 [K, D], b [K]; info: {"missing": [type indices]} and the mining's info).
    """
    pos, neg = _training_masks(f, kind, cfg, neg_half)
    have = pos.any(1)
    X = f.X.reshape(-1, f.X.shape[-1])
    C = cfg.C if kind == "conv" else cfg.sift_C
    W, b = np.zeros((pos.shape[0], X.shape[1]), np.float32), np.zeros(pos.shape[0], np.float32)
    info = {"missing": np.flatnonzero(~have).tolist()}
    if have.any():
        model, mi = svm.mine_hard_negatives(X, pos[have], neg[have], C=C, initial_negatives=cfg.initial_negatives,
                                            max_rounds=cfg.max_rounds, max_negatives=cfg.max_negatives, key=key)
        W[have], b[have] = model.W, model.b
        info.update(mi)
    return svm.LinearSVM(W, b), info


def _prior_means(train: InstanceFeatures, test: InstanceFeatures, n_neighbours: int = 10):
    """Per test instance and keypoint type, the keypoint of the nearest training instance (pool5 cosine) that has it.

    Args:
      train, test: `InstanceFeatures` with pool5 priors [n, P].
      n_neighbours: training neighbours searched, nearest first.

    Returns:
      (means float64 [n_test, K, 2] box pixels (NaN where no neighbour has it), first-neighbour indices [n_test]).

    Raises:
      InputError: features without their pool5 priors (`instance_features` with prior None), naming `run_category`.
    """
    if train.prior is None or test.prior is None:
        raise InputError("run_category", "ftr" if train.prior is None else "fte", "InstanceFeatures with pool5 priors "
                         "[n, P] (the keypoint prior comes from their nearest neighbours)", "prior None")
    k = min(n_neighbours, train.prior.shape[0])
    _, idx = knn.topk_cosine(test.prior, train.prior, k)
    idx = np.asarray(idx)
    has = train.trainable[idx]  # [n_test, k, K]: which neighbours label which type
    first = np.take_along_axis(idx, np.argmax(has, axis=1), 1)  # [n_test, K]: the nearest one labelling it
    mu = np.where(has.any(1)[..., None], train.keypoints[first, np.arange(has.shape[2])], np.nan)
    return mu, idx[:, 0]


@jax.jit
def _combine(scores, centres, mu, sigma, eta):
    """log f = (1 - eta) log sigmoid(s) + eta log p, p = exp(-|c - mu|^2 / 2 sigma^2); NaN mu -> no prior.
    scores [L, K], centres [L, 2], mu [K, 2] -> [L, K]."""
    d2 = jnp.sum((centres[:, None, :] - mu[None]) ** 2, -1)
    logp = jnp.where(jnp.isnan(d2), 0.0, -d2 / (2 * sigma**2))
    return (1 - eta) * jax.nn.log_sigmoid(scores) + eta * logp


def _predict_keypoints(model: svm.LinearSVM, f: InstanceFeatures, mu: np.ndarray | None,
                      cfg: PredictionConfig) -> np.ndarray:
    """Predicted keypoints: the arg-max location of each detector (with the prior when mu is given).

    Args:
      model: the K detectors (`_train_detectors`).
      f: the test `InstanceFeatures` (n instances).
      mu: prior means [n, K, 2] box pixels (`_prior_means`; NaN: no prior for that type), or None.
      cfg: the settings (sigma, box_size, eta).

    Returns:
      float64 [n, K, 2] (x, y) box pixels.
    """
    out = np.zeros(f.keypoints.shape)
    sigma = cfg.sigma * cfg.box_size / FRAME_PX
    for i in range(f.X.shape[0]):
        s = np.asarray(svm.decision_function(jnp.asarray(model.W), jnp.asarray(model.b), jnp.asarray(f.X[i])))
        if mu is not None:
            s = np.asarray(_combine(jnp.asarray(s), jnp.asarray(f.centres), jnp.asarray(mu[i], jnp.float32),
                                    sigma, cfg.eta))
        out[i] = f.centres[np.argmax(s, axis=0)]
    return out
