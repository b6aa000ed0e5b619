"""The NumPy reference of `convcorr_jax.core.knn`'s top-k searches: the full score matrix in float64, for small
inputs."""

from __future__ import annotations

import numpy as np


def brute_force_topk(queries: np.ndarray, database: np.ndarray, k: int, metric: str = "cosine"):
    """NumPy reference (float64, full score matrix; small inputs only) with the same tie rule.

    Args:
      queries: [Q, D]; database: [N, D].
      k: neighbours per query.
      metric: "cosine"; any other value means squared L2.

    Returns:
      (scores float64 [Q, k]: cosine similarities descending, or squared distances ascending (not clipped at 0),
      indices int64 [Q, k]).
    """
    q = np.asarray(queries, np.float64)
    d = np.asarray(database, np.float64)
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        s = q @ d.T
        idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    else:
        s = (q * q).sum(1)[:, None] - 2 * q @ d.T + (d * d).sum(1)[None]
        idx = np.argsort(s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, 1), idx
