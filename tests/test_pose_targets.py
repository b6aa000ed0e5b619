"""Coordinate conventions end to end: decoding the training targets returns the joints (coarse cells and fine
windows), through the same functions the model's predictions use."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.data import skeletons
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import heatmaps as hm
from convcorr_jax.pose import losses
from convcorr_jax.pose import model as pose_model
from convcorr_jax.pose import predict as pose_predict

CFG = pose_model.ModelConfig(image_size=64, pool=8, levels=3, bank=(4, 4, 4, 4), head=8, fine=(4, 4, 4, 4), context=40)


def _points(n=3, k=16, seed=0):
    return np.random.default_rng(seed).uniform(4, 59, (n, k, 2)).astype(np.float32)


def test_coarse_target_argmax_is_the_cell_holding_the_joint():
    pts = _points()
    t = losses.coarse_targets(jnp.asarray(pts), CFG)  # [N, S, S, K]
    xy = np.asarray(pose_model.coarse_points(t, CFG))
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
    origin = pose_model.window_origin(jnp.asarray(centres), CFG)
    t = losses._fine_targets(jnp.asarray(pts), origin, CFG)  # [N, w0, w0, K]
    xy = np.asarray(hm.map_to_image(origin.astype(jnp.float32) + hm.subpixel_argmax(t), 2.0))
    assert np.abs(xy - pts).max() < 0.15 * 2  # the cascade's decoding of its own target: < 0.3 px


def test_cascade_raw_read_out_of_the_fine_target_is_within_its_cell():
    """`predict`'s "cascade_raw", the window origin plus the fine map's integer arg-max at stride 2, decodes the fine
    target to the 2 px cell holding the joint: within 1 px of it."""
    pts = _points(seed=3)
    origin = pose_model.window_origin(jnp.asarray(pts + 3.0), CFG)
    t = losses._fine_targets(jnp.asarray(pts), origin, CFG)
    out = {"coarse_hm": jnp.zeros((len(pts), CFG.map_size, CFG.map_size, pts.shape[1])), "fine_hm": t,
           "origin": origin, "coarse_xy": None, "xy": None, "xy_product": None}
    raw = np.asarray(pose_predict._readouts(out, CFG.pool)["cascade_raw"])
    assert np.abs(raw - pts).max() <= 1.0 + 1e-5


@pytest.mark.parametrize("perm_name, names", [("MPII_FLIP", "mpii"), ("FLIC_FLIP", "flic")])
def test_flip_permutation_swaps_left_and_right_by_name(perm_name, names):
    from convcorr_jax.data.flic import FLIC_LABELLED_NAMES
    from convcorr_jax.data.mpii import MPII_JOINTS
    from convcorr_jax.pose import augment as aug

    perm = getattr(aug, perm_name)
    joints = MPII_JOINTS if names == "mpii" else FLIC_LABELLED_NAMES

    def mirror(n):  # "l shoulder" <-> "r shoulder", "lsho" <-> "rsho"; centre joints map to themselves
        return {"l": "r", "r": "l"}.get(n[0], n[0]) + n[1:] if n[0] in "lr" and n not in ("nose",) else n

    assert sorted(perm) == list(range(len(joints)))
    assert [joints[i] for i in perm] == [mirror(n) for n in joints]


def test_torso_size_for_mpii_and_flic_orders():
    from convcorr_jax.pose.data import torso_size

    mpii = np.zeros((16, 2), np.float32)
    mpii[13], mpii[2] = (10, 10), (13, 14)  # l shoulder, r hip
    flic = np.zeros((11, 2), np.float32)
    flic[0], flic[7] = (0, 0), (6, 8)  # lsho, rhip
    assert torso_size(mpii, skeletons.MPII) == pytest.approx(5.0)
    assert torso_size(flic, skeletons.FLIC) == pytest.approx(10.0)
    box = np.array([0, 0, 3, 4])
    assert torso_size(np.zeros((14, 2)), skeletons.LSP, box) == pytest.approx(5.0)  # lsho == rhip: the box
    assert torso_size(np.zeros((14, 2)), skeletons.LSP) == pytest.approx(1.0)
    with pytest.raises(InputError, match="points"):
        torso_size(np.zeros((14, 2)), skeletons.FLIC)  # never chosen by the number of joints
