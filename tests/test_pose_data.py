"""The pose input pipeline (`pose.data.train_dataset`, grain): batches are a function of (seed, step) only, every
process reads only its rows and the rows of all processes make the one-process batch, and an iterator resumed from
its saved state continues exactly where an uninterrupted one goes; the FLIC and MPII person-box rules."""

from __future__ import annotations

import grain
import jax
import numpy as np
import pytest
from test_pose_helpers import stick_people

from convcorr_jax.core import crop_geometry, geometry
from convcorr_jax.data import mpii
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import data as pose_data


def _old_rule(n: int, batch: int, step: int, seed: int) -> np.ndarray:
    """Rows of step `step`: consecutive slices of one seeded permutation per epoch (the rule before grain)."""
    g = step * batch + np.arange(batch)
    return np.array([np.random.default_rng([seed, int(e)]).permutation(n)[p] for e, p in zip(g // n, g % n)])


class _Recorded:
    """An image array that records which rows were read."""

    def __init__(self, images: np.ndarray):
        self.images, self.read, self.shape = images, set(), images.shape

    def __getitem__(self, i):
        self.read.add(int(i))
        return self.images[i]


def test_batches_follow_seed_and_step_and_cover_each_epoch():
    data = stick_people(10, 32, 0)
    ds = pose_data.train_dataset(data, 8, 6, seed=3)
    assert len(ds) == 6
    for step in range(6):
        b = ds[step]
        rows = _old_rule(10, 8, step, 3)
        assert b["image"].shape == (8, 32, 32, 3) and b["image"].dtype == np.uint8 and b["key"].dtype == np.uint32
        np.testing.assert_array_equal(b["image"], data.images[rows])
        np.testing.assert_array_equal(b["points"], data.points[rows])
        np.testing.assert_array_equal(b["visible"], data.visible[rows])
        np.testing.assert_array_equal(b["key"], pose_data.sample_keys(3, step, 8))
    first_epoch = [pose_data.record_index(10, 0, p) for p in range(10)]
    assert sorted(first_epoch) == list(range(10))
    np.testing.assert_array_equal(pose_data.train_dataset(data, 8, 6, seed=3)[4]["image"], ds[4]["image"])
    assert not np.array_equal(pose_data.train_dataset(data, 8, 6, seed=4)[4]["image"], ds[4]["image"])


def test_each_process_reads_only_its_rows_and_the_rows_make_the_global_batch():
    data = stick_people(10, 32, 0)
    whole = pose_data.train_dataset(data, 8, 3, seed=3)
    one, jax_process = pose_data.shard_of(slice(0, 8), 8), grain.sharding.ShardByJaxProcess()  # one process here
    assert (one.shard_index, one.shard_count) == (jax_process.shard_index, jax_process.shard_count) == (0, 1)
    assert pose_data.shard_of(slice(4, 8), 8) == grain.sharding.ShardOptions(1, 2)
    for step in range(3):
        parts = []
        for rows in (slice(0, 4), slice(4, 8)):
            rec = _Recorded(data.images)
            part = pose_data.train_dataset(pose_data.PoseArrays(rec, data.points, data.visible, data.norm), 8, 3,
                                           seed=3,
                                   shard=pose_data.shard_of(rows, 8))[step]
            assert rec.read == set(_old_rule(10, 8, step, 3)[rows].tolist())  # this process's rows, no others
            parts.append(part)
        for k, v in whole[step].items():
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), v, err_msg=k)
    with pytest.raises(InputError, match="rows"):
        pose_data.shard_of(slice(1, 4), 8)


def test_iterator_resumes_from_its_saved_state_in_any_process_count():
    data = stick_people(10, 32, 0)

    def iterator(rows: slice):
        ds = pose_data.train_dataset(data, 8, 7, seed=5, shard=pose_data.shard_of(rows, 8))
        return iter(ds.to_iter_dataset(pose_data.READ_OPTIONS))

    straight = iterator(slice(0, 8))
    want = [next(straight) for _ in range(7)]
    it = iterator(slice(0, 8))
    for _ in range(3):
        next(it)
    state = it.get_state()
    assert state == {"next_index": 3}
    again = iterator(slice(0, 8))
    again.set_state(state)  # e.g. after a restart, from the checkpoint
    for w in want[3:]:
        got = next(again)
        for k in w:
            np.testing.assert_array_equal(got[k], w[k], err_msg=k)
    halves = [iterator(rows) for rows in (slice(0, 4), slice(4, 8))]  # the same state in two processes
    for h in halves:
        h.set_state(state)
    got = [next(h) for h in halves]
    for k in want[3]:
        np.testing.assert_array_equal(np.concatenate([g[k] for g in got]), want[3][k], err_msg=k)
    with pytest.raises(StopIteration):
        next(again)


def test_training_batches_match_the_keys_of_the_step():
    """Sample keys do not depend on how the batch is split: row r of step t has split(fold_in(seed, t))[r]."""
    keys = pose_data.sample_keys(0, 3, 8)
    want = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0), 3), 8)
    np.testing.assert_array_equal(keys, np.asarray(want))


def test_flic_person_square_is_the_torso_box_extent_times_the_scale():
    """One FLIC box rule: centred on the torso box, side 2.5 x its longer pixel extent (x1 - x0 + 1)."""
    tb = np.array([[10.0, 20.0, 49.0, 99.0]])  # 40 x 80 pixels
    centres, sides = crop_geometry.person_square(tb)
    np.testing.assert_allclose(centres, [[29.5, 59.5]])
    np.testing.assert_allclose(sides, [2.5 * 80])
    box = geometry.square_box(centres, sides)[0]
    assert box[2] - box[0] + 1 == pytest.approx(200.0) and box[3] - box[1] + 1 == pytest.approx(200.0)
    q = geometry.transform_points(np.array([[29.5, 59.5]]), crop_geometry.flic_affines(tb, 128)[0])
    np.testing.assert_allclose(q, [[63.5, 63.5]], atol=1e-9)  # the torso centre is the crop centre


def test_crop_geometry_affines_scale_the_square_about_its_centre():
    """A test-time crop scale multiplies the square's side for torso boxes (on top of the crop scale) and for person
    boxes (which ignore the crop scale): the square's outer edges go to the input's."""
    tb = np.array([[10.0, 20.0, 29.0, 59.0]])  # 20 x 40 pixels, centre (19.5, 39.5)
    for geo, half in ((crop_geometry.TORSO_CROP, 2.5 * 1.2 * 40 / 2), (crop_geometry.BOX_CROP, 1.2 * 40 / 2)):
        edges = np.array([[19.5 - half, 39.5 - half], [19.5 + half, 39.5 + half]])
        q = geometry.transform_points(edges, geo.affines(tb, 128, 2.5, scale=1.2)[0])
        np.testing.assert_allclose(q, [[-0.5, -0.5], [127.5, 127.5]], atol=1e-9)


def test_long_and_tompson_flic_experiments_share_the_person_box():
    from convcorr_eval.long2014.common import flic_person_box

    tb = np.array([[10.0, 20.0, 49.0, 99.0], [3.2, 4.5, 30.1, 12.0]])
    np.testing.assert_allclose(geometry.box_to_affine(flic_person_box(tb), 128), crop_geometry.flic_affines(tb, 128))


def test_mpii_person_square_is_250_pixels_per_stored_scale():
    centres, sides = mpii.person_square(np.array([[100.0, 50.0]]), np.array([1.6]))
    np.testing.assert_allclose(sides, [400.0])
    a = pose_data._mpii_affines(centres, np.array([1.6]), 64)[0]
    np.testing.assert_allclose(a[0, 0], 64 / 400.0)
