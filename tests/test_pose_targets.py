"""Coordinate conventions end to end: decoding the training targets returns the joints (coarse cells and fine
windows), through the same functions the model's predictions use."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from convcorr_jax.pose import heatmaps as hm
from convcorr_jax.pose import losses
from convcorr_jax.pose import model as M

CFG = M.ModelConfig(image_size=64, pool=8, levels=3, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=40)


def _points(n=3, k=16, seed=0):
    return np.random.default_rng(seed).uniform(4, 59, (n, k, 2)).astype(np.float32)


def test_coarse_target_argmax_is_the_cell_holding_the_joint():
    pts = _points()
    t = losses.coarse_targets(jnp.asarray(pts), CFG)  # [N, S, S, K]
    xy = np.asarray(M.coarse_points(t, CFG))
    # integer arg-max: the centre of the 8 px cell containing the joint (cell k spans pixels 8k-0.5 .. 8k+7.5)
    np.testing.assert_array_equal(xy, (np.floor((pts + 0.5) / 8) * 8 + 3.5).astype(np.float32))
    # sub-cell refinement of the same maps lands within 0.15 cell (1.2 px) of the joint
    # (away from the border cells, where the refinement is documented to be 0)
    sub = np.asarray(hm.map_to_image(hm.subpixel_argmax(t), CFG.pool))
    inner = np.all((pts > 12) & (pts < 51), axis=-1)
    assert inner.sum() > 10 and np.abs(sub - pts)[inner].max() < 0.15 * CFG.pool


def test_fine_target_in_window_decodes_to_the_joint():
    pts = _points(seed=1)
    centres = pts + np.random.default_rng(2).uniform(-6, 6, pts.shape).astype(np.float32)  # a coarse guess
    origin = M.window_origin(jnp.asarray(centres), CFG)
    t = losses.fine_targets(jnp.asarray(pts), origin, CFG)  # [N, w0, w0, K]
    xy = np.asarray(hm.map_to_image(origin.astype(jnp.float32) + hm.subpixel_argmax(t), 2.0))
    assert np.abs(xy - pts).max() < 0.15 * 2  # the cascade's decoding of its own target: < 0.3 px
