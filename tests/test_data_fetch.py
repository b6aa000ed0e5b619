"""`fetch_dataset` / `convcorr data fetch` against a loopback HTTP server serving fixture archives built here."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from convcorr_cli.main import main
from convcorr_jax.data.fetch import DOWNLOADS, fetch_dataset
from convcorr_jax.data.pf_willow import load_pf_willow
from convcorr_jax.core.errors import InputError


def _pf_zip() -> bytes:
    """A PF-dataset.zip look-alike: PF-dataset/<sub-class>/<name>.png|.mat, two sub-classes of two images."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for sub in ("car(S)", "duck(S)"):
            for k in range(2):
                png = io.BytesIO()
                Image.fromarray(np.full((12, 16, 3), 40 * k, np.uint8)).save(png, format="PNG")
                z.writestr(f"PF-dataset/{sub}/im{k}.png", png.getvalue())
                mat = io.BytesIO()
                sio.savemat(mat, {"pts_coord": np.stack([np.arange(1, 11) + k, np.arange(2, 12)]).astype(float)})
                z.writestr(f"PF-dataset/{sub}/im{k}.mat", mat.getvalue())
        z.writestr("__MACOSX/._junk", b"x")
    return buf.getvalue()


def _bad_layout_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("PF-dataset/readme.txt", b"no images here")
    return buf.getvalue()


PAYLOADS = {"/pf.zip": _pf_zip(), "/bad.zip": _bad_layout_zip(), "/notzip.zip": b"definitely not an archive" * 40}
SHA = {k: hashlib.sha256(v).hexdigest() for k, v in PAYLOADS.items()}


@pytest.fixture(scope="module")
def server(loopback_http):
    return loopback_http(PAYLOADS.get)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_fetch_success_layout_and_loader(server, tmp_path):
    out = tmp_path / "data" / "pf_willow"
    got = fetch_dataset("pf-willow", out, url=f"{server}/pf.zip", sha256=SHA["/pf.zip"],
                        size=len(PAYLOADS["/pf.zip"]), archive_dir=tmp_path / "archives", progress=False)
    assert got == out
    assert _listing(out) == sorted([f"{s}/im{k}.{e}" for s in ("car(S)", "duck(S)") for k in range(2)
                                    for e in ("png", "mat")] + ["car(S)", "duck(S)"])  # no __MACOSX
    assert _listing(tmp_path / "data") == ["pf_willow"] + [f"pf_willow/{p}" for p in _listing(out)]  # no temp left
    assert (tmp_path / "archives" / "PF-dataset.zip").read_bytes() == PAYLOADS["/pf.zip"]
    samples = load_pf_willow(out)
    assert [s.id for s in samples] == ["car(S)/im0", "car(S)/im1", "duck(S)/im0", "duck(S)/im1"]
    np.testing.assert_allclose(samples[1].points[0], [1, 1])  # 1-based (2, 2) -> 0-based
    # a second fetch into the same, now non-empty folder is refused and changes nothing
    with pytest.raises(InputError, match="non-empty"):
        fetch_dataset("pf-willow", out, url=f"{server}/pf.zip", sha256=SHA["/pf.zip"], progress=False,
                      archive_dir=tmp_path / "archives")


def test_fetch_wrong_checksum_leaves_nothing(server, tmp_path):
    out = tmp_path / "data" / "pf_willow"
    with pytest.raises(InputError) as e:
        fetch_dataset("pf-willow", out, url=f"{server}/pf.zip", sha256="0" * 64, archive_dir=tmp_path / "a",
                      progress=False)
    assert e.value.field == "sha256" and e.value.expected == "0" * 64 and e.value.got == SHA["/pf.zip"]
    assert not out.exists() and _listing(tmp_path / "a") == [] and _listing(tmp_path / "data") == []
    with pytest.raises(InputError, match="size") as e:
        fetch_dataset("pf-willow", out, url=f"{server}/pf.zip", sha256=SHA["/pf.zip"], size=123,
                      archive_dir=tmp_path / "a", progress=False)
    assert not out.exists() and _listing(tmp_path / "a") == []


def test_fetch_interrupted_download_unpacks_nothing_and_keeps_its_bytes(server, tmp_path):
    """A transfer the network cut leaves no `out`; its bytes stay in the archive's .part file for the next fetch."""
    out = tmp_path / "data" / "pf_willow"
    with pytest.raises(InputError, match="connection closed early") as e:
        fetch_dataset("pf-willow", out, url=f"{server}/cut/pf.zip", sha256=SHA["/pf.zip"],
                      archive_dir=tmp_path / "a", progress=False)
    assert e.value.field == "download" and "/cut/pf.zip" in e.value.source
    assert not out.exists() and _listing(tmp_path / "data") == []
    assert _listing(tmp_path / "a") == [".PF-dataset.zip.part"]
    body = PAYLOADS["/pf.zip"]
    assert (tmp_path / "a" / ".PF-dataset.zip.part").read_bytes() == body[: len(body) // 3]


def test_fetch_stopped_by_ctrl_c_keeps_its_bytes_and_the_same_call_resumes(server, tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM mid-download ("run the same command to resume"): the bytes stay in the .part file and the
    next fetch asks for the rest (HTTP Range), as `weights fetch` does; it restarted from byte 0."""
    import urllib.request

    from convcorr_jax.core import interrupt
    from convcorr_jax.weights import fetch

    ranges = []
    real = urllib.request.urlopen

    def urlopen(request, *args, **kwargs):
        ranges.append(request.get_header("Range"))
        return real(request, *args, **kwargs)

    monkeypatch.setattr(fetch, "CHUNK", 256)
    monkeypatch.setattr(fetch.urllib.request, "urlopen", urlopen)
    out, a = tmp_path / "pf", tmp_path / "a"
    kw = {"url": f"{server}/pf.zip", "sha256": SHA["/pf.zip"], "archive_dir": a, "progress": False}
    with interrupt.handling("convcorr test"), pytest.raises(interrupt.Interrupted):
        interrupt.request()  # the signal came: the progress bar's first update (a safe point) stops the transfer
        fetch_dataset("pf-willow", out, **kw)
    assert not out.exists() and (a / ".PF-dataset.zip.part").read_bytes() == PAYLOADS["/pf.zip"][:256]
    assert fetch_dataset("pf-willow", out, **kw) == out and len(load_pf_willow(out)) == 4
    assert ranges == [None, "bytes=256-"] and _listing(a) == ["PF-dataset.zip"]  # the test server sends it whole


@pytest.mark.parametrize("path,field", [("/bad.zip", "layout"), ("/notzip.zip", "archive")])
def test_fetch_bad_archive_unpacks_nothing(server, tmp_path, path, field):
    out = tmp_path / "data" / "pf_willow"
    with pytest.raises(InputError) as e:
        fetch_dataset("pf-willow", out, url=f"{server}{path}", sha256=SHA[path], archive_dir=tmp_path / "a",
                      progress=False)
    assert e.value.field == field
    assert not out.exists() and _listing(tmp_path / "data") == []  # the temporary folder is gone too


def test_fetch_needs_a_checksum_and_knows_flic(tmp_path):
    with pytest.raises(InputError, match="pass --sha256") as e:
        fetch_dataset("pf-willow", tmp_path / "x", progress=False)
    assert e.value.field == "sha256" and "PF-dataset.zip" in e.value.source
    assert not (tmp_path / "x").exists()
    flic = DOWNLOADS["flic"]
    assert flic.size == 300257553 and len(flic.sha256) == 64 and flic.top == "FLIC"
    with pytest.raises(InputError, match="one of"):
        fetch_dataset("mnist", tmp_path / "x")


def test_cli_fetch(server, tmp_path, capsys):
    out = tmp_path / "pf"
    args = ["data", "fetch", "pf-willow", "--out", str(out), "--url", f"{server}/pf.zip",
            "--archive-dir", str(tmp_path / "a"), "--no-progress"]
    assert main(args) == 2  # no checksum known for PF-WILLOW
    assert "--sha256" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--sha256", SHA["/pf.zip"]]) == 0
    assert "2 sub-classes, 4 images" in capsys.readouterr().out
    assert len(load_pf_willow(out)) == 4
