"""Extending the library without editing it: a small Flax CNN defined here is registered as a backbone and used by
`transfer_points`, `features.extract`, `convcorr match --backbone` (in this process, and through
`--backbone-module FILE.py`) and an experiment; a matcher registered here is used by `transfer_points`; the tables
(backbone specs, matchers) are what the callers read."""

from __future__ import annotations

import json

import flax.linen as nn
import jax
import numpy as np
import pytest
from PIL import Image

from convcorr_cli.main import main
from convcorr_jax import backbones
from convcorr_jax.correspondence import PointTransferConfig, matching, transfer_points
from convcorr_jax.correspondence.point_config import METHODS
from convcorr_jax.core.errors import InputError

NAME = "test_tiny_cnn"


class TinyCNN(nn.Module):
    """Two 3 x 3 convolutions, each followed by a 2 x 2 max pool: taps c1 (stride 2) and c2 (stride 4)."""

    @nn.compact
    def __call__(self, x):
        c1 = nn.max_pool(nn.relu(nn.Conv(8, (3, 3))(x)), (2, 2), (2, 2))
        c2 = nn.max_pool(nn.relu(nn.Conv(16, (3, 3))(c1)), (2, 2), (2, 2))
        return {"c1": c1, "c2": c2}


# receptive fields in input pixels: (size, stride, offset of unit (0, 0)'s centre)
TAPS = {"c1": (4, 2, 0.5), "c2": (10, 4, 1.5)}


@pytest.fixture(scope="module")
def tiny():
    """TinyCNN registered as NAME with seeded parameters (removed afterwards)."""
    params = TinyCNN().init(jax.random.key(0), np.zeros((1, 64, 64, 3), np.float32))
    bb = backbones.register(NAME, TinyCNN(), params, taps=TAPS, preprocess="torchvision", input_size=(64, 64),
                            default_taps={"point_transfer": ("c1", "c2")}, replace=True)
    yield bb, params
    backbones.unregister(NAME)


def _images():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)
    return a, np.ascontiguousarray(a[:, ::-1])


def test_a_registered_flax_cnn_is_a_backbone(tiny):
    bb, params = tiny
    assert NAME in backbones.NAMES and backbones.get(NAME) is bb
    assert bb.taps == ("c1", "c2") and bb.geometry["c2"].stride == 4 and bb.spatial_taps == ("c1", "c2")
    assert bb.grid_size("c2", (64, 64)) == (16, 16)
    from convcorr_jax.features.extract import extract

    out = extract(bb, params, np.zeros((3, 64, 64, 3), np.uint8), ("c1", "c2"), batch_size=2)
    assert out["c1"].shape == (3, 32, 32, 8) and out["c2"].shape == (3, 16, 16, 16)
    from convcorr_jax.backbones.registry import min_input_side, spec

    assert spec(NAME).default_taps["point_transfer"] == ("c1", "c2") and min_input_side(NAME, "c2") == 4


def test_transfer_points_runs_on_the_registered_cnn(tiny):
    a, b = _images()
    pts = np.array([[20.0, 30.0], [70.0, 40.0]])
    t = transfer_points(a, b, pts, backbone=NAME, image_size=64)
    assert t.points.shape == (2, 2) and np.all(np.isfinite(t.points)) and np.all(t.confidence <= 1 + 1e-6)
    same = transfer_points(a, b, pts, config=PointTransferConfig(backbone=NAME, image_size=64),
                           model=(tiny[0], tiny[1]))
    np.testing.assert_array_equal(t.points, same.points)


def test_convcorr_match_runs_on_the_registered_cnn(tiny, tmp_path, capsys):
    a, b = _images()
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    (tmp_path / "p.json").write_text(json.dumps([[20, 30], [70, 40]]))
    rc = main(["match", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--points", str(tmp_path / "p.json"),
               "--backbone", NAME, "--set", "image_size=64"])
    assert rc == 0, capsys.readouterr().err
    out = json.loads((tmp_path / "p_in_b.json").read_text())
    assert out["config"]["backbone"] == NAME and out["tap_names"] == ["c1", "c2"]
    assert all(p is not None for p in out["points_b"])


def test_backbone_module_flag_imports_a_file_that_registers(tmp_path, capsys):
    """`--backbone-module FILE.py` registers the network before --backbone is read (a new name, a file outside the
    package: its params drawn by the module's own init)."""
    (tmp_path / "mine.py").write_text(
        "import flax.linen as nn\nfrom convcorr_jax import backbones\n\n"
        "class Net(nn.Module):\n    @nn.compact\n    def __call__(self, x):\n"
        "        return {'f': nn.max_pool(nn.relu(nn.Conv(4, (3, 3))(x)), (4, 4), (4, 4))}\n\n"
        "backbones.register('file_cnn', Net(), taps={'f': (6, 4, 1.5)}, replace=True)\n")
    a, b = _images()
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    (tmp_path / "p.json").write_text(json.dumps([[20, 30]]))
    try:
        rc = main(["match", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--points", str(tmp_path / "p.json"),
                   "--backbone-module", str(tmp_path / "mine.py"), "--backbone", "file_cnn", "--weights", "random",
                   "--set", "image_size=64", "--method", "cos", "--set", "flip_source=false", "--set", "cycle=none"])
        assert rc == 0, capsys.readouterr().err
        assert json.loads((tmp_path / "p_in_b.json").read_text())["tap_names"] == ["f"]
    finally:
        backbones.unregister("file_cnn")
    assert main(["match", "x.png", "y.png", "--points", "p.json", "--backbone-module", "no_such_module_xyz"]) == 2
    assert "--backbone-module" in capsys.readouterr().err


def test_a_registered_backbone_reads_its_weight_file(tiny, tmp_path):
    import flax.serialization

    from convcorr_jax.weights import load_backbone
    from convcorr_jax.weights.fetch import sha256_file

    bb, params = tiny
    f = tmp_path / "tiny.msgpack"
    f.write_bytes(flax.serialization.to_bytes(params))
    backbones.register("test_tiny_file", TinyCNN(), taps=TAPS, weights=str(f), sha256=sha256_file(f), replace=True)
    try:
        _, loaded = load_backbone("test_tiny_file")
        assert jax.tree.all(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), loaded, params))
        backbones.register("test_tiny_file", TinyCNN(), taps=TAPS, weights=str(f), sha256="0" * 64, replace=True)
        with pytest.raises(InputError, match="sha256"):
            load_backbone("test_tiny_file")
    finally:
        backbones.unregister("test_tiny_file")


def test_a_registered_matcher_is_read_by_every_caller(tiny):
    def nearest_only(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights=None, trg_weights=None):
        return sim * 2.0  # the same argmax as "cos"

    matching.register_matcher("test_double_cos", nearest_only, "doubled cosine", grid=8, replace=True)
    try:
        assert "test_double_cos" in METHODS and PointTransferConfig.DEFAULT_GRID["test_double_cos"] == 8
        a, b = _images()
        pts = np.array([[20.0, 30.0]])
        got = transfer_points(a, b, pts, "test_double_cos", NAME, image_size=64, flip_source=False, cycle=None)
        want = transfer_points(a, b, pts, "cos", NAME, image_size=64, flip_source=False, cycle=None)
        np.testing.assert_array_equal(got.points, want.points)
    finally:
        matching.MATCHERS.unregister("test_double_cos")
    with pytest.raises(InputError, match="method"):
        PointTransferConfig(method="test_double_cos")


def test_registries_refuse_unknown_and_duplicate_names():
    with pytest.raises(InputError, match="one of"):
        backbones.get("no_such_backbone")
    with pytest.raises(InputError, match="not yet registered"):
        matching.register_matcher("cos", matching._cos_matcher, "again")


@pytest.mark.parametrize("args, field", [
    (dict(name="bp"), "name"),  # was registered: a MatchConfig scorer, while method="bp" still ran BP flow
    (dict(grid=0), "grid"),  # was accepted: transfer_points then failed naming the hyperpixel stride
    (dict(grid=2.5), "grid"),  # was truncated to 2
    (dict(cos_power=-1.0), "cos_power"),  # was accepted: inf / NaN confidences
    (dict(cos_power=float("nan")), "cos_power"),
    (dict(scores=3), "scores"),  # was accepted: a TypeError at the first match
])
def test_register_matcher_refuses_a_bad_entry_in_one_line(args, field):
    call = {"name": "test_bad_matcher", "scores": matching._cos_matcher, "label": "bad", **args}
    with pytest.raises(InputError, match=f"matcher {call['name']}: field '{field}'") as e:
        matching.register_matcher(**call)
    assert "\n" not in str(e.value) and call["name"] not in matching.MATCHERS


@pytest.mark.parametrize("source", ["params", "file"])
def test_an_apply_function_backbone_knows_its_map_sizes(tiny, tmp_path, source):
    """A plain apply function registered with its params gets its map sizes from their shapes: hyperpixel grids,
    the smallest input and `extract` work on it (its maps used to be 0 x 0 on every input). Registered with its
    weight file alone its sizes are unknown (no params until loaded): it loads (no init to check the file's shapes
    against) and `extract` runs it."""
    import flax.serialization

    from convcorr_jax.backbones.registry import min_input_side
    from convcorr_jax.features.extract import extract
    from convcorr_jax.features.hyperpixel import target_grid

    _, params = tiny
    name = f"test_tiny_apply_{source}"
    if source == "params":
        bb = backbones.register(name, TinyCNN().apply, params, taps=("c1", "c2"), replace=True)
    else:
        f = tmp_path / "tiny.msgpack"
        f.write_bytes(flax.serialization.to_bytes(params))
        bb = backbones.register(name, TinyCNN().apply, taps=TAPS, weights=str(f), replace=True)
    try:
        if source == "params":
            assert bb.grid_size("c2", (64, 48)) == (16, 12) and min_input_side(bb, "c2") == 4
            assert target_grid(bb, ("c1", "c2"), (64, 48)) == (bb.geometry["c1"], (32, 24))
        else:  # read as it is: no init to check its shapes against
            from convcorr_jax.weights import load_backbone

            loaded = load_backbone(name)[1]
            assert jax.tree.all(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), loaded, params))
            from convcorr_jax.backbones.registry import check_input_side

            with pytest.raises(InputError, match=f"{name}: field 'map sizes'.*weight file alone.*got unknown"):
                check_input_side(bb, "c2", 64, "cfg", "image_size")  # was ">= 4096 px": every image refused
        images = np.random.default_rng(0).integers(0, 256, (1, 64, 48, 3), dtype=np.uint8)
        assert extract(bb, params, images, ("c1", "c2"))["c2"].shape == (1, 16, 12, 16)
    finally:
        backbones.unregister(name)


def test_register_refuses_roles_and_default_taps_naming_no_tap(tiny):
    """A role mapped to no tap, or a default tap that is neither a tap nor a role, is refused when registered, in
    one line naming the entry (it used to register and fail only when used, naming the tap a role stands for)."""
    from convcorr_jax.backbones.registry import default_taps

    _, params = tiny
    name = "test_tiny_roles"
    with pytest.raises(InputError, match=r"test_tiny_roles: field 'roles\['conv4'\]'.*got c7"):
        backbones.register(name, TinyCNN(), params, taps=TAPS, roles={"conv4": "c7"}, replace=True)
    with pytest.raises(InputError, match=r"field 'default_taps\['point_transfer'\]'.*got c9"):
        backbones.register(name, TinyCNN(), params, taps=TAPS, default_taps={"point_transfer": ("c1", "c9")},
                           replace=True)
    assert name not in backbones.NAMES
    bb = backbones.register(name, TinyCNN(), params, taps=TAPS, roles={"conv4": "c2"},
                            default_taps={"point_transfer": ("conv4",)}, replace=True)
    try:
        assert default_taps(name) == ("conv4",) and bb.roles == {"conv4": "c2"}
    finally:
        backbones.unregister(name)
