"""The places that read a `KeypointSample`'s (or a `SegSample`'s) image refuse a sample holding only its path (read with
`with_images=False`, or a lazily read set) with one InputError naming the sample's path and the field "image"
(`KeypointSample.loaded_image`), not a numpy or None error (or an error of some array function further on)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from convcorr_eval.long2014 import pf_willow
from convcorr_eval.razavian2015 import data, directions, rgb_segmentation
from convcorr_jax.core.errors import InputError
from convcorr_jax.data.types import KeypointSample, SegSample
from convcorr_jax.long2014 import classification
from convcorr_jax.regression import keypoints, landmarks

WANT = "field 'image': expected a loaded image (a loader's with_images=True, or sample.with_image())"


def _samples() -> list[KeypointSample]:
    """Two samples of three keypoints in a 32 x 32 image, the second holding only its path (no such file)."""
    pts = np.array([[4, 4], [20, 6], [12, 24]], np.float32)
    loaded = KeypointSample(pts, np.ones(3, bool), ("a", "b", "c"), np.array([2, 2, 26, 26], np.float32), "toy",
                            "s0", image=np.zeros((32, 32, 3), np.uint8), image_path="/d/s0.jpg",
                            extras={"attributes": {"yaw": 0.0}})
    return [loaded, dataclasses.replace(loaded, id="s1", image=None, image_path="/d/s1.jpg")]


def _keypoints(samples):
    return classification._collect_keypoints(samples, require_in_image=False)


def _conv_features(samples):
    from convcorr_jax.backbones import get

    return classification._conv_features(samples, _keypoints(samples), get("mobilenet_v2"), None, ("conv3",))


def _transfer_figure(samples):
    out = {"pairs": np.array([[0, 1]]), "samples": samples, "groups": np.array(["toy"]), "pred": np.zeros((1, 3, 2))}
    pf_willow.figure(Path("unused.png"), out)  # refused before anything is drawn or written


READS = {
    "sift_features": lambda s: classification._sift_features(s, _keypoints(s), (8,)),
    "conv_features": _conv_features,
    "razavian_directions": lambda s: directions.section(directions.get_config("tiny"), None, None, s, s),
    "pf_willow_figure": _transfer_figure,
}


@pytest.mark.parametrize("call", list(READS.values()), ids=list(READS))
def test_a_sample_without_its_image_is_refused_naming_it(call):
    with pytest.raises(InputError) as e:
        call(_samples())
    assert (e.value.source, e.value.field) == ("/d/s1.jpg", "image")
    assert str(e.value) == f"/d/s1.jpg: {WANT}"


def _on_disk(tmp_path: Path) -> list[KeypointSample]:
    """`_samples()` with the second sample's image written to its path (the same pixels), not held."""
    from PIL import Image

    loaded, bare = _samples()
    path = tmp_path / "s1.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    return [loaded, dataclasses.replace(bare, image_path=str(path))]


def _crop_images(samples):
    return [s.image for s in data.face_crop_samples(samples, data.RelativeBox((0.5, 0.5), 0.5), 16)]


LOADS = {  # each loads a sample's image from its path (`with_image`); the value: what is compared
    "keypoint_table": lambda s: keypoints.keypoint_table(s, s, lambda x: x.reshape(len(x), -1)[:, :8] / 255.0,
                                                         crop_size=16, folds=2).pck,
    "stack_samples": lambda s: landmarks.stack_samples(s)[0],
    "razavian_mean_shape_box": lambda s: dataclasses.astuple(data.mean_shape_box(s)),
    "razavian_face_crop_samples": _crop_images,
}


@pytest.mark.parametrize("call", list(LOADS.values()), ids=list(LOADS))
def test_a_sample_with_neither_image_nor_path_is_refused_naming_its_id(call):
    loaded, bare = _samples()
    with pytest.raises(InputError) as e:
        call([loaded, dataclasses.replace(bare, image_path=None)])
    assert (e.value.source, e.value.field) == ("s1", "image")
    assert str(e.value) == "s1: field 'image': expected a loaded image, or an image_path to load it from"


@pytest.mark.parametrize("call", list(LOADS.values()), ids=list(LOADS))
def test_a_sample_holding_its_path_is_loaded_from_it(call, tmp_path):
    loaded = _samples()[0]
    same = [loaded, dataclasses.replace(loaded, id="s1")]
    np.testing.assert_equal(call(_on_disk(tmp_path)), call(same))
    with pytest.raises(InputError, match="s1.jpg: field 'image': expected an existing image file"):
        call(_samples())


def _segmentation(image_path: str | None) -> tuple[list[SegSample], list[SegSample], tuple[str, ...]]:
    """(train, test, class names) of two 32 x 32 label maps, the second sample of each split without its image."""
    loaded = SegSample(np.zeros((32, 32), np.uint8), "g0", image=np.zeros((32, 32, 3), np.uint8))
    bare = dataclasses.replace(loaded, id="g1", image=None, image_path=image_path)
    return [loaded, bare], [loaded, bare], ("background", "toy")


def test_segmentation_samples_without_their_images_are_refused_naming_them():
    cfg = rgb_segmentation.get_config("tiny")
    with pytest.raises(InputError) as e:
        rgb_segmentation.section(cfg, None, None, _segmentation("/d/g1.jpg"))  # refused before describing
    assert (e.value.source, e.value.field) == ("/d/g1.jpg", "image")
    assert str(e.value) == f"/d/g1.jpg: {WANT}"
    with pytest.raises(InputError) as e:
        _segmentation(None)[0][1].with_image()
    assert (e.value.source, e.value.field) == ("g1", "image")
