"""Soft mutual nearest neighbours (`matching.soft_mutual`, NCNet): the reweighting against a loop over the entries,
and `match_best` with `soft_mnn` taking the argmax of the reweighted confidences of the plain matcher."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from convcorr_jax.correspondence import matching
from convcorr_jax.correspondence.frame_transfer import _match_config
from convcorr_jax.correspondence.point_config import PointTransferConfig


def test_soft_mutual_by_loops():
    rng = np.random.default_rng(0)
    conf = rng.random((5, 7)).astype(np.float32)
    conf[2] = 0.0  # an all-zero row stays zero
    want = np.zeros_like(conf)
    for i in range(5):
        for j in range(7):
            col, row = conf[:, j].max(), conf[i].max()
            want[i, j] = 0.0 if row == 0 else conf[i, j] * conf[i, j] / col * conf[i, j] / row
    got = np.asarray(matching.soft_mutual(jnp.asarray(conf)))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    i, j = np.unravel_index(np.argmax(conf), conf.shape)  # the global best is its row's and column's: unchanged
    np.testing.assert_allclose(got[i, j], conf[i, j], rtol=1e-6)


def test_match_best_with_soft_mnn():
    rng = np.random.default_rng(1)
    fs, ft = rng.normal(size=(2, 1, 40, 8)).astype(np.float32)
    xy_s = rng.uniform(0, 32, (40, 2)).astype(np.float32)
    xy_t = rng.uniform(0, 32, (40, 2)).astype(np.float32)
    plain = matching.MatchConfig(scorer="ot_rhm")
    soft = matching.MatchConfig(scorer="ot_rhm", soft_mnn=True)
    conf = np.asarray(matching.match(fs[0], ft[0], xy_s, xy_t, (32, 32), (32, 32), plain))
    col, row = conf.max(0, keepdims=True), conf.max(1, keepdims=True)
    want = np.argmax(conf ** 3 / col / row, axis=1)
    idx, _ = matching.match_best(fs, ft, xy_s, xy_t, (32, 32), (32, 32), soft)
    np.testing.assert_array_equal(np.asarray(idx)[0], want)
    assert not np.array_equal(want, np.argmax(conf, axis=1))  # the reweighting changes some matches here
    assert _match_config(PointTransferConfig(soft_mnn=True)).soft_mnn
    assert "soft mutual nearest neighbours" in PointTransferConfig(soft_mnn=True).describe()
