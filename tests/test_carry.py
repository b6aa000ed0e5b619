"""Keypoint carry (`correspondence.carry`): HPF's transfer, trimmed, weighted and scaled, against hand-computed
values and brute force."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.correspondence import carry, matching
from convcorr_jax.correspondence.carry import _transfer_from_matrix, spread_ratio, transfer_keypoints


def test_transfer_keypoints_by_hand():
    src = jnp.asarray([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    trg = jnp.asarray([[100.0, 100.0], [110.0, 104.0]])
    best = jnp.asarray([0, 1, 0, 1])
    # p = (4, 3), radius 6: carriers 0 (|4|,|3|) and 1 (|-6|,|3|); moves: (100, 100) + (4, 3), (110, 104) + (-6, 3)
    got = np.asarray(transfer_keypoints(best, src, trg, jnp.asarray([[4.0, 3.0]]), 6.0))
    np.testing.assert_allclose(got, [[(104 + 104) / 2, (103 + 107) / 2]])
    # radius 1: no carrier -> the nearest node (0)
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, jnp.asarray([[4.0, 3.0]]), 1.0)),
                               [[104.0, 103.0]])
    conf = jnp.asarray([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(_transfer_from_matrix(conf, src, trg, jnp.asarray([[4.0, 3.0]]), 6.0)),
                               got)


def test_trimmed_transfer_by_hand():
    """Three carriers move p to (10, 0), (12, 0) and (60, 0): the median is (12, 0); trim 5 averages the two near
    it, trim 100 all three (the plain mean); a median far from every carrier (trim 1 of an even count) falls back
    to all carriers."""
    src = jnp.asarray([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    trg = jnp.asarray([[10.0, 0.0], [14.0, 0.0], [64.0, 0.0]])
    best = jnp.asarray([0, 1, 2])
    p = jnp.asarray([[0.0, 0.0]])  # moves: trg[i] + p - src[i] = (10, 0), (12, 0), (60, 0)
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 5.0, trim=5.0)), [[11.0, 0.0]])
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 5.0, trim=100.0)),
                               np.asarray(transfer_keypoints(best, src, trg, p, 5.0)))
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 5.0)), [[82 / 3, 0.0]], rtol=1e-6)
    keep = jnp.asarray([True, False, True])  # carriers (10, 0), (60, 0): median (35, 0), 25 from both
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 5.0, keep, trim=1.0)), [[35.0, 0.0]])


@pytest.mark.parametrize("trim, sigma, scale", [(4.0, None, None), (12.0, None, None), (None, 10.0, None),
                                               (12.0, 10.0, None), (12.0, None, 1.5), (None, 10.0, 3.0)])
def test_trimmed_weighted_and_scaled_transfer_equals_brute_force(trim, sigma, scale):
    """The carriers within radius (the nearest kept node if none), their offsets scaled per axis by the kept
    nodes' spread ratio (clipped; none: 1), those within `trim` of their median (all if none), weighted by a
    Gaussian of sigma in their distance to the point (equal weights for None)."""
    rng = np.random.default_rng(1)
    xy = np.stack(np.meshgrid(np.arange(4, 64, 8), np.arange(4, 64, 8)), -1).reshape(-1, 2).astype(np.float32)
    best = rng.integers(0, len(xy), len(xy))
    pts = rng.uniform(0, 64, (12, 2)).astype(np.float32)
    keep = rng.random(len(xy)) > 0.3
    best[keep] = np.clip(best[keep] + 3, 0, len(xy) - 1)  # kept matches spread unlike their nodes
    got = np.asarray(transfer_keypoints(jnp.asarray(best), jnp.asarray(xy), jnp.asarray(xy), jnp.asarray(pts), 16.0,
                                        jnp.asarray(keep), trim=trim, sigma=sigma, scale_clip=scale))
    ratio = np.ones(2) if scale is None else np.clip(xy[best][keep].std(0) / xy[keep].std(0), 1 / scale, scale)
    for k, p in enumerate(pts):
        d = p - xy
        carriers = (np.abs(d) <= 16).all(1) & keep
        if not carriers.any():
            carriers = np.arange(len(xy)) == np.argmin(np.where(keep, (d * d).sum(1), np.inf))
        moved_all = xy[best] + d * ratio
        if trim is not None:
            moved = moved_all[carriers]
            near = np.linalg.norm(moved - np.median(moved, 0), axis=1) <= trim
            carriers[np.flatnonzero(carriers)[~near]] = not near.any()
        w = np.ones(carriers.sum()) if sigma is None else np.exp(-(d[carriers] ** 2).sum(1) / (2 * sigma ** 2))
        want = (w[:, None] * moved_all[carriers]).sum(0) / w.sum()
        np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-4)


def test_transfer_falls_back_to_the_nearest_kept_node_and_to_every_node_when_none_is_kept():
    """No node within radius 1 of p = (4, 0): the nearest kept node carries (node 1, 6 px off, not the nearer node 0
    that is not kept); with no node kept every node carries (as keep=None), node 2 within radius 5 of (28, 0)."""
    src = jnp.asarray([[0.0, 0.0], [10.0, 0.0], [30.0, 0.0]])
    trg = jnp.asarray([[100.0, 0.0], [200.0, 0.0], [300.0, 0.0]])
    best = jnp.asarray([0, 1, 2])
    keep = jnp.asarray([False, True, True])
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, jnp.asarray([[4.0, 0.0]]), 1.0, keep)),
                               [[194.0, 0.0]])
    p = jnp.asarray([[28.0, 0.0]])
    none_kept = transfer_keypoints(best, src, trg, p, 5.0, jnp.zeros(3, bool))
    np.testing.assert_allclose(np.asarray(none_kept), [[298.0, 0.0]])
    np.testing.assert_allclose(np.asarray(none_kept), np.asarray(transfer_keypoints(best, src, trg, p, 5.0)))


def test_distance_weighted_transfer_by_hand():
    """Carriers at distance 0 and 2 from p move it to (10, 0) and (12, 0): sigma 2 weighs them 1 and exp(-1/2); a
    very wide sigma gives the plain mean; a lone fallback carrier far from p still moves it (weight 1, not 0)."""
    src = jnp.asarray([[0.0, 0.0], [2.0, 0.0]])
    trg = jnp.asarray([[10.0, 0.0], [14.0, 0.0]])
    best = jnp.asarray([0, 1])
    p = jnp.asarray([[0.0, 0.0]])
    w = np.exp(-0.5)
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 5.0, sigma=2.0)),
                               [[(10.0 + 12.0 * w) / (1.0 + w), 0.0]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 5.0, sigma=1e6)), [[11.0, 0.0]],
                               rtol=1e-6)
    far = jnp.asarray([[500.0, 0.0]])  # no carrier within radius 5: the nearest node (2, 0) alone, 498 px away
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, far, 5.0, sigma=1.0)), [[512.0, 0.0]])


def test_spread_ratio_by_hand():
    """Matches twice as wide in x and as tall in y: ratio (2, 1); clipped to [1 / c, c]; only the counted nodes;
    fewer than MIN_SPREAD_NODES counted: 1."""
    src = jnp.asarray([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 5.0], [40.0, 40.0]])
    trg = src * jnp.asarray([2.0, 1.0]) + 7.0
    every = jnp.ones(6, bool)
    np.testing.assert_allclose(np.asarray(spread_ratio(src, trg, every, 4.0)), [2.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(spread_ratio(src, trg, every, 1.5)), [1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(spread_ratio(trg, src, every, 4.0)), [0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(spread_ratio(trg, src, every, 1.5)), [1 / 1.5, 1.0], rtol=1e-6)
    odd = trg.at[5].set(jnp.asarray([0.0, 500.0]))  # a wild match of the uncounted node changes nothing
    counted = jnp.asarray([True, True, True, True, True, False])
    np.testing.assert_allclose(np.asarray(spread_ratio(src, odd, counted, 4.0)), [2.0, 1.0], rtol=1e-6)
    assert carry.MIN_SPREAD_NODES == 5
    np.testing.assert_allclose(np.asarray(spread_ratio(src, trg, counted.at[0].set(False), 4.0)), [1.0, 1.0])



def test_spread_ratio_is_one_on_an_axis_where_the_source_nodes_do_not_spread():
    """Five counted nodes in one row (no spread in y): the y ratio is undefined and taken as 1, whatever the matches'
    spread in y (it was the clip bound, 4, or 1 / 4 when the matches did not spread either); x as before."""
    row = jnp.asarray([[0.0, 3.0], [10.0, 3.0], [20.0, 3.0], [30.0, 3.0], [40.0, 3.0]])
    every = jnp.ones(5, bool)
    spread_y = row * jnp.asarray([2.0, 1.0]) + jnp.asarray([[0.0, 0.0], [0.0, 4.0], [0.0, 8.0], [0.0, 2.0], [0.0, 6.0]])
    np.testing.assert_allclose(np.asarray(spread_ratio(row, spread_y, every, 4.0)), [2.0, 1.0], rtol=1e-6)
    flat_y = row * jnp.asarray([0.5, 1.0]) + 9.0
    np.testing.assert_allclose(np.asarray(spread_ratio(row, flat_y, every, 4.0)), [0.5, 1.0], rtol=1e-6)

def test_scaled_transfer_by_hand():
    """Five nodes whose matches spread 2x in x: a point 2 px right of and 1 px below its only carrier moves 4 px
    right of and 1 px below the carrier's match (2 px right unscaled)."""
    src = jnp.asarray([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 5.0]])
    trg = src * jnp.asarray([2.0, 1.0]) + jnp.asarray([100.0, 50.0])
    best = jnp.arange(5)
    p = jnp.asarray([[7.0, 6.0]])  # radius 3: carrier node 4 (5, 5) only, matched to (110, 55)
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 3.0, scale_clip=4.0)), [[114.0, 56.0]])
    np.testing.assert_allclose(np.asarray(transfer_keypoints(best, src, trg, p, 3.0)), [[112.0, 56.0]])


def test_former_matching_names_forward_to_carry():
    with pytest.warns(DeprecationWarning, match="carry.transfer_keypoints"):
        assert matching.transfer_keypoints is carry.transfer_keypoints
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert carry.cycle_consistent is not None
