"""The functions that need a sample's image loaded refuse one holding only its path with one error: the sample's
path (or id) and the field "image" (`KeypointSample.loaded_image`), not four wordings of their own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from convcorr_eval.long2014.common import sample_images
from convcorr_jax.core.errors import InputError
from convcorr_jax.data import warped_pairs
from convcorr_jax.data.types import KeypointSample
from convcorr_jax.long2014 import classification, prediction

WANT = "field 'image': expected a loaded image (a loader's with_images=True, or sample.with_image())"


def _samples() -> list[KeypointSample]:
    """Two samples of three keypoints in a 32 x 32 image, the second holding only its path."""
    pts = np.array([[4, 4], [20, 6], [12, 24]], np.float32)
    loaded = KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.array([2, 2, 26, 26], np.float32), "toy",
                            "s0", image=np.zeros((32, 32, 3), np.uint8), image_path="/d/s0.jpg")
    return [loaded, dataclasses.replace(loaded, id="s1", image=None, image_path="/d/s1.jpg")]


@pytest.mark.parametrize("call", [
    sample_images,
    lambda s: prediction.box_crops(s, 16),
    lambda s: classification._collect_keypoints(s, require_in_image=True),
    lambda s: warped_pairs.warped_set(s, np.array([[0, 1], [1, 0]]), ["a", "a"], per_group=2, seed=0),
], ids=["sample_images", "box_crops", "collect_keypoints", "warped_set"])
def test_a_sample_without_its_image_is_named_in_one_wording(call):
    with pytest.raises(InputError) as e:
        call(_samples())
    assert (e.value.source, e.value.field) == ("/d/s1.jpg", "image")
    assert str(e.value) == f"/d/s1.jpg: {WANT}"
