"""`long2014.pf_parts.PartStore`: each validation row is scored on exactly its own parts (other scales, a second
network, mirrored sources, a CAM prior; the mirrored sources' prior only with mirrored sources), equal to
`make_frames` of the row, each part computed once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from convcorr_jax.correspondence.frames import make_frames
from convcorr_jax.correspondence.point_config import PointTransferConfig
from convcorr_jax.weights import load_backbone
from convcorr_eval.long2014.pf_parts import PartStore


@pytest.fixture(scope="module")
def models():
    return {name: load_backbone(name, "random") for name in ("caffenet", "mobilenet_v2")}


def test_rows_get_their_own_parts_once(models):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 72, 3), dtype=np.uint8) for _ in range(3)]
    boxes = np.array([[0, 0, 71, 63]] * 3, np.float64)
    log: list[str] = []
    store = PartStore(images, boxes, models.__getitem__, log=log.append)
    plain = PointTransferConfig(backbone="caffenet", taps=("conv3",), grid=8, image_size=64,
                                **PointTransferConfig.ONE_NETWORK)
    full = dataclasses.replace(plain, scales=(1.0, 2.0), extra_backbone="caffenet", extra_taps=("conv4",),
                               flip_source=True, prior="mobilenet_v2", prior_top_k=1)
    fr, used, _ = store.frames(plain)
    assert used == ["conv3"] and fr.flipped is None and fr.prior is None
    # the CAM prior without mirrored sources: the mirrored sources' prior is not computed
    fr, _, _ = store.frames(dataclasses.replace(plain, prior="mobilenet_v2", prior_top_k=1))
    assert fr.prior is not None and fr.flipped_prior is None
    assert [line for line in log if line.startswith("prior:")] == ["prior: CAM of mobilenet_v2 top 1"]
    fr, used, _ = store.frames(full)
    assert used == ["conv3", "conv3@2", "caffenet:conv4", "caffenet:conv4@2"]
    want = make_frames(images, boxes, full, *models["caffenet"], extra=models["caffenet"], prior=models["mobilenet_v2"])
    for k in used:
        np.testing.assert_allclose(fr.parts[k], want.parts[k], atol=1e-5)
        np.testing.assert_allclose(fr.flipped[k], want.flipped[k], atol=1e-5)
    np.testing.assert_allclose(fr.prior, want.prior, atol=1e-5)
    np.testing.assert_allclose(fr.flipped_prior, want.flipped_prior, atol=1e-5)
    n_logged = len(log)
    again, _, _ = store.frames(full)  # nothing new to compute
    assert len(log) == n_logged and again.parts.keys() == fr.parts.keys()
    # a row without the prior or the extra network does not see them
    fr, used, _ = store.frames(dataclasses.replace(full, prior=None, extra_backbone=None))
    assert used == ["conv3", "conv3@2"] and fr.prior is None


def test_third_network_row(models):
    """A row with a third network gets its parts after the second's, equal to `make_frames` with all three."""
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    boxes = np.array([[0, 0, 63, 63]] * 2, np.float64)
    store = PartStore(images, boxes, models.__getitem__)
    row = PointTransferConfig(backbone="caffenet", taps=("conv3",), grid=8, image_size=64, extra_backbone="caffenet",
                              extra_taps=("conv4",), third_backbone="mobilenet_v2", third_taps=("block13",),
                              prior=None)
    fr, used, _ = store.frames(row)
    assert used == ["conv3", "caffenet:conv4", "mobilenet_v2:block13"]
    want = make_frames(images, boxes, row, *models["caffenet"], extra=models["caffenet"], third=models["mobilenet_v2"])
    for k in used:
        np.testing.assert_allclose(fr.parts[k], want.parts[k], atol=1e-5)
    fr, used, _ = store.frames(dataclasses.replace(row, third_backbone=None))
    assert used == ["conv3", "caffenet:conv4"]
