"""orbax save/load, `load_pretrained` on the real MobileNetV2 file, `convert_file` errors and the CLI."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import (
    check_tree,
    convert_file,
    load_orbax_params,
    load_pretrained,
    read_torch_state_dict,
    save_params,
    write_caffemodel,
)

GOLDEN = Path(__file__).parent / "golden" / "weights"


def _tree(seed=0):
    rng = np.random.default_rng(seed)
    return {"conv": {"kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
                     "bias": rng.standard_normal(4).astype(np.float32)},
            "fc": {"kernel": rng.standard_normal((4, 2)).astype(np.float32)}}


def test_orbax_round_trip_and_atomic_replace(tmp_path):
    path = tmp_path / "ckpt"
    save_params(path, _tree(0))
    save_params(path, _tree(1))  # replaces the first tree
    got = load_orbax_params(path, like=_tree())
    want = _tree(1)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary directories left


def test_orbax_mismatch_names_the_key(tmp_path):
    path = tmp_path / "ckpt"
    save_params(path, _tree())
    other = _tree()
    other["fc"]["bias"] = np.zeros(2, np.float32)
    with pytest.raises(InputError, match="fc/bias") as e:
        load_orbax_params(path, like=other)
    assert "missing" in str(e.value.got)
    other = _tree()
    other["conv"]["kernel"] = np.zeros((5, 5, 2, 4), np.float32)
    with pytest.raises(InputError, match=r"conv/kernel.*shape \(5, 5, 2, 4\).*\(3, 3, 2, 4\)"):
        load_orbax_params(path, like=other)
    with pytest.raises(InputError, match="not found"):
        load_orbax_params(tmp_path / "nothing")


def test_load_pretrained_mobilenet_equals_direct_conversion(monkeypatch, tmp_path):
    from convcorr_jax.backbones import get
    from convcorr_jax.weights import converted_cache_dir, sources

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    backbone, params = load_pretrained()
    assert backbone.name == "mobilenet_v2"
    ckpt = converted_cache_dir("mobilenet_v2", sources.MOBILENET_V2.sha256)
    assert (ckpt / "params").is_dir() and ckpt.parent.name == "weights"
    sd = read_torch_state_dict(sources.package_file())
    # the tree holds the file's values in HWIO / (in, out) layout
    np.testing.assert_array_equal(np.asarray(params["stem"]["kernel"]), sd["features.0.0.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(np.asarray(params["classifier"]["kernel"]), sd["classifier.1.weight"].T)
    n = sum(int(np.size(v)) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    assert sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params)) == n
    # second call reads the orbax cache, same values
    _, again = load_pretrained()
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    check_tree(again, jax.eval_shape(lambda: get("mobilenet_v2").init(jax.random.key(0))))
    # a corrupt cache is converted again, not trusted
    for f in ckpt.rglob("*"):
        if f.is_file():
            f.write_bytes(b"")
    _, third = load_pretrained()
    np.testing.assert_array_equal(np.asarray(third["stem"]["kernel"]), np.asarray(params["stem"]["kernel"]))


def test_wrong_architecture_for_a_file():
    from convcorr_jax.weights import sources

    mobilenet = sources.package_file()
    with pytest.raises(InputError) as e:
        convert_file(mobilenet, "torchvision_alexnet")
    assert str(mobilenet) in str(e.value) and "features.0.weight" in str(e.value)
    with pytest.raises(InputError, match="caffenet or bvlc_alexnet"):
        convert_file(GOLDEN / "pb_v2.caffemodel", "mobilenet_v2")


def test_missing_and_misshapen_keys(tmp_path):
    # a Caffe file with only one small conv1 layer: wrong shape for caffenet's conv1 is named
    path = tmp_path / "small.caffemodel"
    write_caffemodel(path, {"conv1": [np.zeros((4, 3, 3, 3), np.float32), np.zeros(4, np.float32)]})
    with pytest.raises(InputError, match=r"conv1.*\(96, 3, 11, 11\)") as e:
        convert_file(path, "caffenet")
    assert str(path) in str(e.value)
    # the torch fixture is not a mobilenet: the first missing key is named with its expected shape
    with pytest.raises(InputError, match=r"features\.0\.0\.weight.*\(32, 3, 3, 3\)"):
        convert_file(GOLDEN / "tiny_zip.pth", "mobilenet_v2")
    with pytest.raises(InputError, match="suffix"):
        convert_file(tmp_path / "weights.h5", "mobilenet_v2")
    with pytest.raises(InputError, match="arch"):
        convert_file(GOLDEN / "tiny_zip.pth", "resnet50")


def test_cli_inspect_and_import_errors(capsys, tmp_path):
    from convcorr_cli.main import main

    assert main(["weights", "inspect", str(GOLDEN / "tiny_legacy.pth")]) == 0
    out = capsys.readouterr().out
    assert "conv.weight" in out and "(3, 2, 3, 3)" in out and "13 arrays" in out
    assert main(["weights", "inspect", str(GOLDEN / "pb_v1.caffemodel")]) == 0
    out = capsys.readouterr().out
    assert "fc6 [InnerProduct] blob0" in out and "(5, 36)" in out
    assert main(["weights", "import", str(GOLDEN / "tiny_zip.pth"), "--arch", "torchvision_alexnet",
                 "--out", str(tmp_path / "out")]) == 2
    assert "features.0.weight" in capsys.readouterr().err and not (tmp_path / "out").exists()
    bad = tmp_path / "cut.pth"
    bad.write_bytes((GOLDEN / "tiny_legacy.pth").read_bytes()[:-5])
    assert main(["weights", "inspect", str(bad)]) == 2
    assert "cut.pth" in capsys.readouterr().err


def test_cli_import_mobilenet(capsys, tmp_path):
    from convcorr_cli.main import main
    from convcorr_jax.weights import sources

    out = tmp_path / "mnv2"
    assert main(["weights", "import", str(sources.package_file()), "--arch", "mobilenet_v2", "--out", str(out)]) == 0
    assert "3,538,984 parameters" in capsys.readouterr().out
    assert main(["weights", "inspect", str(out)]) == 0
    assert "stem/kernel" in capsys.readouterr().out
    backbone, params = load_pretrained("mobilenet_v2", out)  # the imported directory loads as params
    assert backbone.name == "mobilenet_v2" and params["classifier"]["kernel"].shape == (1280, 1000)
    with pytest.raises(InputError, match="conv1/bias"):
        load_pretrained("torchvision_alexnet", out)


def test_params_of_another_architecture_are_refused(tmp_path):
    from convcorr_jax.backbones import get

    path = tmp_path / "mnv2"
    _, params = load_pretrained()
    save_params(path, params)
    like = jax.eval_shape(lambda: get("torchvision_alexnet").init(jax.random.key(0)))
    with pytest.raises(InputError, match="conv1/bias") as e:
        load_orbax_params(path, like=like)
    assert str(path) in str(e.value)


def test_npy_file_for_caffe_arch(tmp_path):
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, {"conv1": [np.zeros((11, 11, 3, 8), np.float32), np.zeros(8, np.float32)]}, allow_pickle=True)
    with pytest.raises(InputError, match=r"conv1.*\(96, 3, 11, 11\)"):
        convert_file(path, "bvlc_alexnet")
    with pytest.raises(InputError, match="caffenet or bvlc_alexnet"):
        convert_file(path, "torchvision_alexnet")


def test_cli_fetch_mobilenet(monkeypatch, capsys, tmp_path):
    from convcorr_cli.main import main

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    assert main(["weights", "fetch", "mobilenet_v2"]) == 0
    out = capsys.readouterr().out
    assert "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889" in out
    (entry,) = (tmp_path / "weights").iterdir()
    assert (entry / "params").is_dir() and '"arch": "mobilenet_v2"' in (entry / "KEY.json").read_text()


def test_random_weights_are_drawn_once_and_equal_a_fresh_init():
    """`load_backbone(name, "random", seed)` equals the backbone's own seeded init; a second call reuses the draw
    (the same arrays) in new containers, so that changing one tree's dicts leaves the other's alone; another seed
    draws other weights."""
    from convcorr_jax.backbones import get
    from convcorr_jax.weights.load import load_backbone

    backbone, first = load_backbone("mobilenet_v2", "random", seed=3)
    _, again = load_backbone("mobilenet_v2", "random", seed=3)
    fresh = get("mobilenet_v2").init(jax.random.key(3))
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(fresh)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert all(a is b for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)))
    key = next(iter(again))
    again[key] = None
    assert first[key] is not None and load_backbone("mobilenet_v2", "random", seed=3)[1][key] is not None
    other = load_backbone("mobilenet_v2", "random", seed=4)[1]
    assert not all(np.array_equal(np.asarray(a), np.asarray(b))
                   for a, b in zip(jax.tree.leaves(other), jax.tree.leaves(first)))


def test_a_missing_weight_path_is_one_line_naming_what_is_read(tmp_path):
    """A mistyped 'random', a missing folder or a missing file: not found, with what `weights` takes (not a
    complaint about the suffix of a path that does not exist)."""
    from convcorr_jax.weights.load import load_backbone

    for w in ("Random", tmp_path / "tree", tmp_path / "w.pth"):
        with pytest.raises(InputError, match=r"field 'weights'.*existing weight file.*orbax folder.*'random'.*"
                                             r"got not found$") as e:
            load_backbone("mobilenet_v2", w)
        assert str(w) in str(e.value) and "\n" not in str(e.value)
