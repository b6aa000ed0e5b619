"""Cross-check the pure-Python Caffe wire reader/writer against the official protobuf runtime.

    pip install protobuf && python tests/golden/weights/make_caffe_golden.py

Builds the needed subset of BVLC `caffe.proto` (NetParameter, LayerParameter, V1LayerParameter, BlobProto,
BlobShape, same field numbers and packing) at run time, then
  1. writes pb_v2.caffemodel (V2 `layer`=100, `shape`, packed floats, a double_data blob) and
     pb_v1.caffemodel (V1 `layers`=2, enum types, legacy num/channels/height/width, 1x1xOxI InnerProduct,
     *unpacked* floats: the descriptor there declares `data` without [packed=true]) with the official
     serializer, and pb_expected.npz with the arrays as the reader must return them;
  2. parses the output of `convcorr_jax.weights.caffemodel._encode_caffemodel` (both forms) with the official
     parser and asserts the values round-trip.
The tests read the two .caffemodel files with our reader and compare to pb_expected.npz (no protobuf needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from convcorr_jax.weights.caffemodel import _encode_caffemodel

HERE = Path(__file__).resolve().parent
F = descriptor_pb2.FieldDescriptorProto


def build(packed_data: bool):
    fd = descriptor_pb2.FileDescriptorProto(name="caffe_subset.proto", package="caffe", syntax="proto2")

    def msg(name, fields):
        m = fd.message_type.add(name=name)
        for fname, num, ftype, label, type_name, packed in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
            if packed:
                f.options.packed = True

    O, R = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("BlobShape", [("dim", 1, F.TYPE_INT64, R, None, True)])
    msg("BlobProto", [
        ("shape", 7, F.TYPE_MESSAGE, O, ".caffe.BlobShape", False),
        ("data", 5, F.TYPE_FLOAT, R, None, packed_data),
        ("diff", 6, F.TYPE_FLOAT, R, None, True),
        ("double_data", 8, F.TYPE_DOUBLE, R, None, True),
        ("num", 1, F.TYPE_INT32, O, None, False),
        ("channels", 2, F.TYPE_INT32, O, None, False),
        ("height", 3, F.TYPE_INT32, O, None, False),
        ("width", 4, F.TYPE_INT32, O, None, False),
    ])
    msg("LayerParameter", [
        ("name", 1, F.TYPE_STRING, O, None, False),
        ("type", 2, F.TYPE_STRING, O, None, False),
        ("bottom", 3, F.TYPE_STRING, R, None, False),
        ("top", 4, F.TYPE_STRING, R, None, False),
        ("loss_weight", 5, F.TYPE_FLOAT, R, None, False),
        ("blobs", 7, F.TYPE_MESSAGE, R, ".caffe.BlobProto", False),
    ])
    msg("V1LayerParameter", [
        ("bottom", 2, F.TYPE_STRING, R, None, False),
        ("top", 3, F.TYPE_STRING, R, None, False),
        ("name", 4, F.TYPE_STRING, O, None, False),
        ("type", 5, F.TYPE_INT32, O, None, False),  # enum LayerType in caffe.proto; same wire encoding
        ("blobs", 6, F.TYPE_MESSAGE, R, ".caffe.BlobProto", False),
    ])
    msg("NetParameter", [
        ("name", 1, F.TYPE_STRING, O, None, False),
        ("layers", 2, F.TYPE_MESSAGE, R, ".caffe.V1LayerParameter", False),
        ("input", 3, F.TYPE_STRING, R, None, False),
        ("input_dim", 4, F.TYPE_INT32, R, None, False),
        ("layer", 100, F.TYPE_MESSAGE, R, ".caffe.LayerParameter", False),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("caffe.NetParameter"))


def blob_array(b, legacy_ip: bool):
    vals = np.array(b.double_data, np.float64) if len(b.double_data) else np.array(b.data, np.float32)
    if b.HasField("shape"):
        return vals.reshape(tuple(b.shape.dim))
    shape = (b.num, b.channels, b.height, b.width)
    if shape[:3] == (1, 1, 1):
        return vals.reshape(shape[3])
    if legacy_ip and shape[:2] == (1, 1):
        return vals.reshape(shape[2:])
    return vals.reshape(shape)


def main() -> None:
    rng = np.random.default_rng(0)
    conv_w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    conv_b = rng.standard_normal(4).astype(np.float32)
    fc_w = rng.standard_normal((5, 36)).astype(np.float32)
    fc_b = rng.standard_normal(5).astype(np.float32)
    dbl = rng.standard_normal((2, 3))
    expected = {}

    # 1a. V2 file written by the official runtime
    Net = build(packed_data=True)
    net = Net(name="tiny_v2")
    net.layer.add(name="data", type="Input", top=["data"])
    lc = net.layer.add(name="conv1", type="Convolution", bottom=["data"], top=["conv1"])
    for a in (conv_w, conv_b):
        b = lc.blobs.add()
        b.shape.dim.extend(a.shape)
        b.data.extend(a.reshape(-1).tolist())
    lf = net.layer.add(name="fc6", type="InnerProduct", loss_weight=[0.0])  # field 5 in V2 = loss_weight
    for a in (fc_w, fc_b):
        b = lf.blobs.add()
        b.shape.dim.extend(a.shape)
        b.data.extend(a.reshape(-1).tolist())
    ld = net.layer.add(name="dbl", type="InnerProduct")
    b = ld.blobs.add()
    b.shape.dim.extend(dbl.shape)
    b.double_data.extend(dbl.reshape(-1).tolist())
    (HERE / "pb_v2.caffemodel").write_bytes(net.SerializeToString())
    expected.update({"v2/conv1/0": conv_w, "v2/conv1/1": conv_b, "v2/fc6/0": fc_w, "v2/fc6/1": fc_b, "v2/dbl/0": dbl})

    # 1b. V1 file, legacy dims, unpacked floats
    NetU = build(packed_data=False)
    net = NetU(name="tiny_v1")
    net.layers.add(name="data", type=5, top=["data"])
    lc = net.layers.add(name="conv1", type=4)
    for a in (conv_w, conv_b):
        b = lc.blobs.add()
        dims = (1,) * (4 - a.ndim) + a.shape
        b.num, b.channels, b.height, b.width = dims
        b.data.extend(a.reshape(-1).tolist())
    lf = net.layers.add(name="fc6", type=14)
    for a in (fc_w, fc_b):
        b = lf.blobs.add()
        b.num, b.channels, b.height, b.width = (1,) * (4 - a.ndim) + a.shape
        b.data.extend(a.reshape(-1).tolist())
    net.layers.add(name="relu6", type=18)
    (HERE / "pb_v1.caffemodel").write_bytes(net.SerializeToString())
    expected.update({"v1/conv1/0": conv_w, "v1/conv1/1": conv_b, "v1/fc6/0": fc_w, "v1/fc6/1": fc_b})
    np.savez(HERE / "pb_expected.npz", **expected)

    # 2. our encoder, parsed by the official runtime
    layers = {"conv1": [conv_w, conv_b], "fc6": ("InnerProduct", [fc_w, fc_b]), "dbl": ("InnerProduct", [dbl])}
    for v1 in (False, True):
        for unpacked in ((), ("conv1",)):
            data = _encode_caffemodel(layers, v1=v1, unpacked=unpacked, double=("dbl",))
            parsed = (NetU if unpacked else Net).FromString(data)
            msgs = parsed.layers if v1 else parsed.layer
            assert [m.name for m in msgs] == list(layers), [m.name for m in msgs]
            if v1:
                assert [m.type for m in msgs] == [4, 14, 14]
            else:
                assert [m.type for m in msgs] == ["Convolution", "InnerProduct", "InnerProduct"]
            for m, want in zip(msgs, ([conv_w, conv_b], [fc_w, fc_b], [dbl])):
                got = [blob_array(b, legacy_ip=v1 and m.name != "conv1") for b in m.blobs]
                assert all(g.shape == w.shape and np.array_equal(g, w) for g, w in zip(got, want)), m.name
    print("official protobuf runtime parses _encode_caffemodel output (V1/V2, packed/unpacked, double): ok")
    for p in sorted(HERE.glob("pb_*")):
        print(f"{p.name:24s} {p.stat().st_size:6d} bytes")


if __name__ == "__main__":
    main()
