"""Caffe .caffemodel wire reader/writer and caffe-tensorflow .npy reader.

pb_v1/pb_v2.caffemodel were serialised by the official protobuf runtime (tests/golden/weights/
make_caffe_golden.py, which also checks that the runtime parses our encoder's output); no protobuf here.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.weights.caffemodel import (
    CaffeLayer,
    _encode_caffemodel,
    npy_to_caffe_blobs,
    read_alexnet_npy,
    read_caffemodel,
    read_caffemodel_layers,
    write_caffemodel,
)

GOLDEN = Path(__file__).parent / "golden" / "weights"


def _net(rng):
    return {
        "conv1": [rng.standard_normal((4, 3, 3, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)],
        "fc6": ("InnerProduct",
                [rng.standard_normal((5, 36)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]),
        "fc7": [rng.standard_normal((2, 5)).astype(np.float32), rng.standard_normal(2).astype(np.float32)],
    }


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_files_written_by_official_protobuf(version):
    expected = np.load(GOLDEN / "pb_expected.npz")
    got = read_caffemodel(GOLDEN / f"pb_{version}.caffemodel")
    keys = [k for k in expected.files if k.startswith(version + "/")]
    assert sorted({k.split("/")[1] for k in keys}) == sorted(got)  # layers without blobs are left out
    for k in keys:
        _, layer, i = k.split("/")
        a = got[layer][int(i)]
        assert a.shape == expected[k].shape and a.dtype == expected[k].dtype, k
        np.testing.assert_array_equal(a, expected[k])
    types = {layer.name: layer.type for layer in read_caffemodel_layers(GOLDEN / f"pb_{version}.caffemodel")}
    assert types["conv1"] == "Convolution" and types["fc6"] == "InnerProduct"
    if version == "v1":
        assert types["data"] == "Data" and types["relu6"] == "ReLU"  # V1 enum values 5 and 18


@pytest.mark.parametrize("v1", [False, True])
@pytest.mark.parametrize("unpacked", [(), ("conv1", "fc6")])
def test_round_trip(tmp_path, v1, unpacked):
    net = _net(np.random.default_rng(1))
    path = tmp_path / "net.caffemodel"
    write_caffemodel(path, net, v1=v1, unpacked=unpacked)
    got = read_caffemodel(path)
    assert list(got) == list(net)
    for name, spec in net.items():
        blobs = spec[1] if isinstance(spec, tuple) else spec
        for a, b in zip(got[name], blobs):
            assert a.shape == b.shape, (name, a.shape)  # legacy 1x1xOxI / 1x1x1xO squeezed back
            np.testing.assert_array_equal(a, b)
    layers = read_caffemodel_layers(path)
    assert [layer.type for layer in layers] == ["Convolution", "InnerProduct", "InnerProduct"]


def test_legacy_dims_hand_encoded(tmp_path):
    """Bytes built by hand (not by our encoder): V1 layer, legacy dims 1x1x2x3, unpacked floats, then a bias."""

    def varint(v):
        out = bytearray()
        while True:
            out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
            v >>= 7
            if not v:
                return bytes(out)

    def ld(field, payload):
        return varint(field << 3 | 2) + varint(len(payload)) + payload

    w = np.arange(6, dtype=np.float32) - 2.5
    blob_w = b"".join(varint(f << 3) + varint(d) for f, d in zip((1, 2, 3, 4), (1, 1, 2, 3)))
    blob_w += b"".join(varint(5 << 3 | 5) + x.tobytes() for x in w)
    blob_b = b"".join(varint(f << 3) + varint(d) for f,
                      d in zip((1, 2, 3, 4), (1, 1, 1, 2))) + ld(5, np.float32([7, 8]).tobytes())
    layer = ld(4, b"ip") + varint(5 << 3) + varint(14) + ld(6, blob_w) + ld(6, blob_b)
    path = tmp_path / "hand.caffemodel"
    path.write_bytes(ld(1, b"hand") + ld(2, layer))
    got = read_caffemodel(path)
    np.testing.assert_array_equal(got["ip"][0], w.reshape(2, 3))
    np.testing.assert_array_equal(got["ip"][1], [7, 8])


def test_double_data_and_conv_keep_4d(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((1, 1, 1, 3))  # a 1x1x1x3 conv weight (blob 0) is NOT squeezed
    path = tmp_path / "d.caffemodel"
    write_caffemodel(path, {"c": ("Convolution", [w, np.zeros(1)])}, v1=True, double=("c",))
    got = read_caffemodel(path)
    assert got["c"][0].shape == (1, 1, 1, 3) and got["c"][0].dtype == np.float64
    np.testing.assert_array_equal(got["c"][0], w)
    assert got["c"][1].shape == (1,)


def test_every_truncation_is_an_error_or_a_layer_prefix(tmp_path):
    """Protobuf has no end marker: a cut between layers parses as a shorter net (the converter then reports the
    missing layers); a cut anywhere else raises InputError. Never a partly filled blob."""
    rng = np.random.default_rng(3)
    net = {"conv1": [rng.standard_normal((2, 1, 2, 2)).astype(np.float32), np.ones(2, np.float32)],
           "fc6": ("InnerProduct", [rng.standard_normal((3, 2)).astype(np.float32), np.zeros(3, np.float32)])}
    full = _encode_caffemodel(net, v1=True)
    path = tmp_path / "cut.caffemodel"
    reference = {k: (v[1] if isinstance(v, tuple) else v) for k, v in net.items()}
    n_prefix = 0
    for n in range(len(full)):
        path.write_bytes(full[:n])
        try:
            got = read_caffemodel(path)
        except InputError as e:
            assert str(path) in str(e)
            continue
        n_prefix += 1
        assert list(got) == list(reference)[: len(got)]
        for k, blobs in got.items():
            assert len(blobs) <= 2
            for a, b in zip(blobs, reference[k]):
                np.testing.assert_array_equal(a, b)
    assert 0 < n_prefix < 10


def test_corrupt_bytes_only_raise_input_error(tmp_path):
    full = _encode_caffemodel(_net(np.random.default_rng(4)), v1=False)
    rng = np.random.default_rng(0)
    path = tmp_path / "bad.caffemodel"
    errors = 0
    for _ in range(300):
        b = bytearray(full)
        for i in rng.integers(0, len(b), size=3):
            b[i] = int(rng.integers(0, 256))
        path.write_bytes(bytes(b))
        try:
            read_caffemodel(path)
        except InputError:
            errors += 1
    assert errors > 0


def test_bad_files(tmp_path):
    p = tmp_path / "x.caffemodel"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="at least one layer"):
        read_caffemodel(p)
    p.write_bytes(_encode_caffemodel({"a": [np.zeros((2, 2), np.float32)]})[:-3])
    with pytest.raises(InputError, match="runs past the end"):
        read_caffemodel(p)
    # shape says 6 values, data holds 4
    layer = CaffeLayer("fc", "InnerProduct", [np.zeros((2, 3), np.float32)])
    data = bytearray(_encode_caffemodel([layer]))
    bad = _encode_caffemodel([CaffeLayer("fc", "InnerProduct", [np.zeros((2, 2), np.float32)])])
    assert bytes([0x0A, 2, 2, 2]) in bad  # BlobShape.dim packed (2, 2)
    bad = bad.replace(bytes([0x0A, 2, 2, 2]), bytes([0x0A, 2, 2, 3]))  # -> (2, 3)
    assert bad != bytes(data)
    p.write_bytes(bad)
    with pytest.raises(InputError, match=r"layer 'fc' blob 0.*6 values for shape \(2, 3\).*4 values"):
        read_caffemodel(p)
    with pytest.raises(InputError, match="not found"):
        read_caffemodel(tmp_path / "nope.caffemodel")
    twice = _encode_caffemodel([layer, layer])
    p.write_bytes(twice)
    with pytest.raises(InputError, match="duplicate"):
        read_caffemodel(p)


def test_shape_dim_of_another_wire_type_is_an_input_error(tmp_path):
    """A BlobShape dim stored as a fixed32 (not a varint) is skipped as protobuf skips an unknown field, so the blob
    is reported by its shape (was: a TypeError comparing the raw bytes with 0)."""
    from convcorr_jax.weights.caffemodel import _key, _len_field

    shape = _len_field(7, _key(1, 5) + bytes([2, 0, 0, 0]))
    blob = shape + _len_field(5, np.zeros(2, np.float32).tobytes())
    layer = _len_field(1, b"fc") + _len_field(2, b"InnerProduct") + _len_field(7, blob)
    p = tmp_path / "dim.caffemodel"
    p.write_bytes(_len_field(1, b"net") + _len_field(100, layer))
    with pytest.raises(InputError, match=r"layer 'fc' blob 0.*1 values for shape \(\).*2 values"):
        read_caffemodel(p)


@pytest.mark.parametrize("form", ["unpacked", "packed", "legacy"])
def test_a_negative_dim_is_refused_as_such(tmp_path, form):
    """protobuf writes a negative int64 (or int32) as a 10-byte varint; an unpacked shape.dim was read unsigned
    (18446744073709551614), a packed or legacy one reached a size check: "-6 values for shape (-2, 3)". Now one
    error naming the file, the blob's dims and "non-negative dims"; bytes built by hand."""
    minus2 = bytes([0xFE] + [0xFF] * 8 + [0x01])  # int64 -2: two's complement, 7 bits a byte, low first

    def ld(field, payload):  # a length-delimited field; its key and length as varints (each < 2**14 here)
        short = [bytes([v]) if v < 128 else bytes([v & 0x7F | 0x80, v >> 7]) for v in (field << 3 | 2, len(payload))]
        return b"".join(short) + payload

    def write(first):  # a 2 x 3 InnerProduct weight whose first dim is the varint `first`
        dims = {"unpacked": ld(7, bytes([1 << 3]) + first + bytes([1 << 3, 3])),  # BlobShape.dim, wire type 0
                "packed": ld(7, ld(1, first + bytes([3]))),
                "legacy": bytes([1 << 3]) + first + bytes([2 << 3, 3])}[form]  # num, channels (height, width: 0)
        blob = dims + ld(5, np.zeros(6, np.float32).tobytes())
        path.write_bytes(ld(1, b"net") + ld(100, ld(1, b"fc") + ld(2, b"InnerProduct") + ld(7, blob)))

    path = tmp_path / "neg.caffemodel"
    write(minus2)
    field = "num/channels/height/width" if form == "legacy" else "shape.dim"
    with pytest.raises(InputError, match="expected non-negative dims, got \\(-2, 3") as e:
        read_caffemodel(path)
    assert (e.value.source, e.value.field) == (str(path), f"layer 'fc' blob 0 {field}")
    if form != "legacy":  # legacy dims 2 x 3 x 0 x 0 hold no values: another error
        write(bytes([2]))
        assert read_caffemodel(path)["fc"][0].shape == (2, 3)


def _npy_layers(rng):
    return {
        "conv1": [rng.standard_normal((3, 3, 3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)],
        "fc6": [rng.standard_normal((2 * 2 * 4, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)],
        "fc7": [rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)],
    }


def test_npy_list_and_dict_forms(tmp_path):
    layers = _npy_layers(np.random.default_rng(5))
    a = tmp_path / "list.npy"
    np.save(a, layers, allow_pickle=True)
    b = tmp_path / "dict_py2.npy"  # newer caffe-tensorflow dict-of-dicts, protocol-2 pickle like the 2016 files
    with open(b, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        obj = {k: {"weights": w, "biases": bias} for k, (w, bias) in layers.items()}
        pickle.dump(np.array(obj, dtype=object), f, protocol=2)
    for path in (a, b):
        got = read_alexnet_npy(path)
        assert list(got) == list(layers)
        for k in layers:
            for x, y in zip(got[k], layers[k]):
                np.testing.assert_array_equal(x, y)


def test_npy_to_caffe_layout_brute_force():
    layers = _npy_layers(np.random.default_rng(6))
    caffe = npy_to_caffe_blobs(layers)
    w = layers["conv1"][0]
    assert caffe["conv1"][0].shape == (4, 3, 3, 3)
    for o, i, y, x in np.ndindex(4, 3, 3, 3):
        assert caffe["conv1"][0][o, i, y, x] == w[y, x, i, o]
    f = layers["fc6"][0]  # rows (h, w, c) -> caffe columns (c, h, w)
    for o, c, y, x in np.ndindex(5, 4, 2, 2):
        assert caffe["fc6"][0][o, c * 4 + y * 2 + x] == f[(y * 2 + x) * 4 + c, o]
    np.testing.assert_array_equal(caffe["fc7"][0], layers["fc7"][0].T)  # later fc: plain transpose


def test_npy_bad_input(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.zeros(3))
    with pytest.raises(InputError, match="pickled 0-d object array"):
        read_alexnet_npy(p)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo should-not-run",))

    with open(p, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(np.array({"conv1": [Evil()]}, dtype=object), f, protocol=2)
    with pytest.raises(InputError, match="system"):
        read_alexnet_npy(p)
    np.save(p, {"conv1": [np.zeros((2, 2, 2, 2)), np.zeros(2)]}, allow_pickle=True)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(InputError, match="npy"):
        read_alexnet_npy(p)


def test_v0_layer_nested_in_v1(tmp_path):
    """Ancient files: V1 `layers` entries wrapping a V0LayerParameter (field 1: name=1, type=2 string, blobs=50)."""
    from convcorr_jax.weights.caffemodel import _enc_blob, _len_field

    w = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    v0 = _len_field(1, b"conv1") + _len_field(2, b"conv") + _len_field(50, _enc_blob(w, True, False, False))
    path = tmp_path / "v0.caffemodel"
    path.write_bytes(_len_field(1, b"old") + _len_field(2, _len_field(1, v0)))
    layers = read_caffemodel_layers(path)
    assert [(layer.name, layer.type) for layer in layers] == [("conv1", "Convolution")]
    np.testing.assert_array_equal(layers[0].blobs[0], w)


@pytest.mark.parametrize("v1", [False, True])
def test_caffenet_and_bvlc_alexnet_files_are_told_apart_by_their_layer_order(tmp_path, v1):
    """Both nets hold blobs of the same names and shapes; a .caffemodel also stores its blob-less layers, and
    pool1 before norm1 is caffenet's order, norm1 before pool1 bvlc_alexnet's. Converting a file for the other net
    used to succeed and compute other features."""
    from convcorr_jax.weights.load import convert_file

    files = {}
    for arch, order in (("caffenet", ("pool1", "norm1")), ("bvlc_alexnet", ("norm1", "pool1"))):
        layers = {"conv1": ("Convolution", []), "relu1": ("ReLU", [])}
        layers.update({n: ("Pooling" if n.startswith("pool") else "LRN", []) for n in order})
        files[arch] = tmp_path / f"{arch}.caffemodel"
        write_caffemodel(files[arch], layers, v1=v1)
    for arch, other in (("caffenet", "bvlc_alexnet"), ("bvlc_alexnet", "caffenet")):
        with pytest.raises(InputError, match="conv1.*missing layer"):  # the order is right: on to the blobs
            convert_file(files[arch], arch)
        with pytest.raises(InputError) as e:
            convert_file(files[other], arch)
        first, second = ("LRN 'norm1'", "Pooling 'pool1'") if other == "bvlc_alexnet" else ("Pooling 'pool1'",
                                                                                           "LRN 'norm1'")
        assert str(e.value).startswith(f"{files[other]}: field 'layer order': expected {arch}'s ")
        assert str(e.value).endswith(f"(the file's order is {other}'s: use that backbone), got {first} before "
                                     f"{second}")
