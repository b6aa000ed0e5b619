"""`errors.check_shape`: one-line checks of an array's axes (named, numbered, "*", alternatives) and dtype, each
failure one InputError naming the source, the field, what was expected and what was given."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from convcorr_jax.core.errors import InputError, check_shape


def _error(*args, **kw) -> InputError:
    with pytest.raises(InputError) as e:
        check_shape(*args, **kw)
    return e.value


def test_axes_as_a_list_like_kornia():
    assert check_shape(np.zeros((2, 3, 8, 9)), ["B", "C", "H", "W"], "f", "x") == {"B": 2, "C": 3, "H": 8, "W": 9}
    assert check_shape(np.zeros((5, 2)), ["N", 2], "f", "points") == {"N": 5}
    e = _error(np.zeros((5, 3)), ["N", 2], "f", "points", {"N": 4})
    assert (e.source, e.field, e.expected, e.got) == ("f", "points", "shape [N=4, 2]", (5, 3))


def test_alternatives_bind_the_first_that_fits():
    assert check_shape(np.zeros(4), "N | N T", "ridge", "Y") == {"N": 4}
    assert check_shape(np.zeros((4, 3)), "N | N T", "ridge", "Y") == {"N": 4, "T": 3}
    assert check_shape(np.zeros((4, 3)), "N | N T", "ridge", "Y", {"N": 4, "T": 3}) == {"N": 4, "T": 3}
    e = _error(np.zeros((4, 3, 2)), "N | N T", "ridge", "Y", {"N": 4})
    assert str(e) == "ridge: field 'Y': expected shape [N=4] or [N=4, T], got (4, 3, 2)"


def test_leading_axes_and_a_note():
    assert check_shape(np.zeros((2, 3, 68, 2)), "* 68 2", "f", "points") == {}
    e = _error(np.zeros((68, 3)), "* 68 2", "f", "points", note="(x, y) pixels")
    assert str(e) == "f: field 'points': expected shape [..., 68, 2] (x, y) pixels, got (68, 3)"


@pytest.mark.parametrize("dtype, good, bad", [
    ("float", [np.float32, np.float64, np.float16], [np.int32, np.uint8, bool]),
    ("int", [np.int8, np.int64, np.uint8], [np.float32, bool]),
    ("uint", [np.uint8, np.uint16], [np.int8, np.float32]),
    ("bool", [bool], [np.uint8, np.float32]),
    ("number", [np.int32, np.uint8, np.float32, np.complex64], [bool]),
    ("uint8", [np.uint8], [np.int8, np.uint16, np.float32]),
    ("float32", [np.float32], [np.float64]),
    ("uint8 | float", [np.uint8, np.float32, np.float64], [np.int32, np.uint16, bool]),
])
def test_dtypes_by_kind_or_by_name(dtype, good, bad):
    for t in good:
        check_shape(np.zeros((2, 3), t), "N 3", "f", "x", dtype=dtype)
    for t in bad:
        e = _error(np.zeros((2, 3), t), "N 3", "f", "x", dtype=dtype)
        assert e.field == "x" and e.got == str(np.dtype(t))
        assert e.expected == f"a {dtype.replace(' | ', ' or ')} array"


def test_the_shape_is_checked_before_the_dtype_and_jax_arrays_and_lists_are_read():
    assert "shape [N, 3]" in str(_error(np.zeros((2, 2), np.int32), "N 3", "f", "x", dtype="float"))
    assert check_shape(jnp.zeros((2, 3), jnp.bfloat16), "N 3", "f", "x", dtype="float") == {"N": 2}
    assert check_shape([[1, 2], [3, 4]], "N 2", "f", "x", dtype="int") == {"N": 2}
    assert "a uint8 array, got float32" in str(_error(jnp.zeros((1, 2, 2, 3)), "N H W 3", "f", "images",
                                                         dtype="uint8"))


def test_a_name_with_a_least_size():
    assert check_shape(np.zeros((2, 1)), "N>=2 D>=1", "ridge", "X") == {"N": 2, "D": 1}
    e = _error(np.zeros((1, 3)), "N>=2 D>=1", "ridge", "X")
    assert str(e) == "ridge: field 'X': expected shape [N>=2, D>=1], got (1, 3)"
    e = _error(np.zeros((4, 0)), "N | N T>=1", "ridge", "Y", {"N": 4})
    assert e.expected == "shape [N=4] or [N=4, T>=1]"
    assert check_shape(np.zeros((3, 5)), "N>=2 D", "f", "X", {"N": 3}) == {"N": 3, "D": 5}


RAGGED = [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), np.zeros((16, 20, 3), np.uint8)]


def test_a_ragged_list_is_one_line_naming_the_item_of_another_size():
    """A list of arrays of different shapes (numpy cannot stack it) was numpy's ValueError "setting an array element
    with a sequence ... inhomogeneous shape"."""
    e = _error(RAGGED, "N H W 3", "f", "images", dtype="uint8", note="(RGB)")
    assert str(e) == ("f: field 'images': expected all images of one size (stacked: shape [N, H, W, 3] (RGB)), got "
                      "images[0] of shape (16, 16, 3) and images[2] of shape (16, 20, 3)")
    assert "images[0] ragged" in str(_error([[[1], [2, 3]], [[1], [2]]], "N K 2", "f", "images"))


def _public_calls():
    from convcorr_jax.backbones import preprocess
    from convcorr_jax.core import geometry
    from convcorr_jax.features import sift
    from convcorr_jax.flow import dense
    from convcorr_jax.long2014 import locality
    from convcorr_jax.regression import features, lookback

    pts = np.zeros((3, 68, 2))
    return {
        "caffe": lambda: preprocess.caffe(RAGGED),
        "torchvision": lambda: preprocess.torchvision(RAGGED),
        "to_grey": lambda: sift.to_grey(RAGGED),
        "resize_images": lambda: features.resize_images(RAGGED, (8, 8)),
        "crop": lambda: geometry.crop(RAGGED, np.tile(np.eye(2, 3), (3, 1, 1)), 8),
        "dense_flows": lambda: dense.dense_flows(RAGGED, RAGGED, None, None),
        "build_databases": lambda: locality.build_databases(RAGGED, None, None, {}),
        "fit_lookback": lambda: lookback.fit_lookback(RAGGED, pts, pts, None),
    }


@pytest.mark.parametrize("name", list(_public_calls()))
def test_public_functions_refuse_images_of_different_sizes_in_one_line(name):
    with pytest.raises(InputError, match=r"field 'images(_a)?': expected all images(_a)? of one size .*"
                                         r"images(_a)?\[2\] of shape \(16, 20, 3\)"):
        _public_calls()[name]()
