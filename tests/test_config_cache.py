"""The one config mechanism (override / from_dict) and the one cache (key = kind, settings, code version)."""

import dataclasses
import json

import pytest

from convcorr_jax.core import cache
from convcorr_jax.core.config import from_dict, override, to_dict
from convcorr_jax.core.errors import InputError


@dataclasses.dataclass(frozen=True)
class Inner:
    pool: int = 8
    widths: tuple[int, ...] = (16, 24)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = "x"
    lr: float = 1e-3
    steps: tuple[int, int, int] = (1, 2, 3)
    root: str | None = None
    flag: bool = False
    inner: Inner = Inner()


def test_override_parses_by_annotation():
    cfg = override(Outer(), ["lr=0.5", "steps=4,5,6", "root=/data", "flag=true", "inner.pool=4", "inner.widths=1,2,3"])
    assert cfg == Outer("x", 0.5, (4, 5, 6), "/data", True, Inner(4, (1, 2, 3)))
    assert override(cfg, ["root=none"]).root is None
    assert override(Outer(), ["name=12"]).name == "12"  # a string field stays a string


def test_override_null_and_spaced_lists():
    """JSON's "null" is None for an optional field as "none" is; spaces around the items of a list are not part of
    them ("conv3, conv4": two role names, not " conv4")."""
    assert override(Outer(root="/d"), ["root=null"]).root is None
    assert override(Outer(root="/d"), ["root=None "]).root is None
    assert override(Outer(), ["inner.widths=1, 2 ,3"]).inner.widths == (1, 2, 3)

    @dataclasses.dataclass(frozen=True)
    class Names:
        roles: tuple[str, ...] = ("conv3",)

    assert override(Names(), ["roles=conv3, conv4"]).roles == ("conv3", "conv4")


@pytest.mark.parametrize("bad,match", [("nope=1", "nope"), ("lr=abc", "lr"), ("steps=1,2", "steps"),
                                       ("inner.zzz=1", "inner.zzz"), ("flag=maybe", "flag"), ("lr", "field=value")])
def test_override_errors_name_the_field(bad, match):
    with pytest.raises(InputError, match=match):
        override(Outer(), [bad])


@pytest.mark.parametrize("bad,hint", [("stpes=1,2,3", "did you mean steps?"),
                                      ("inner.widht=1", "did you mean inner.widths?"),
                                      ("inenr.pool=4", "did you mean inner?"), ("zzz=1", None)])
def test_unknown_override_field_suggests_the_closest(bad, hint):
    """A misspelt --set field listed every field but did not say which one was meant."""
    with pytest.raises(InputError) as e:
        override(Outer(), [bad])
    assert ("did you mean" not in str(e.value)) if hint is None else str(e.value).endswith(hint)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="did you mean flag[?]$"):
        from_dict(Outer, {"flgs": True})


@dataclasses.dataclass(frozen=True)
class Mixed:
    parts: tuple[Inner, ...] = (Inner(), Inner(pool=4))
    steps: tuple[int, int, int] = (1, 2, 3)


def test_override_enters_a_tuple_of_configs_by_index():
    """A field of one item of a tuple of configs (a mixture's `datasets.1.share`) could not be set at all: the
    message said to set its fields one by one, and `parts.1.pool` was refused as no config group."""
    cfg = override(Mixed(), ["parts.1.pool=16", "parts.0.widths=3"])
    assert cfg.parts == (Inner(8, (3,)), Inner(16)) and Mixed().parts[1].pool == 4
    for bad, match in [("parts.2.pool=1", "index of parts below 2"), ("parts.x.pool=1", "index of parts below 2"),
                       ("parts.0=1", r"parts\.0\.FIELD=VALUE"), ("parts.0.poll=1", "did you mean parts.0.pool"),
                       ("steps.0=1", "not a config group"), ("parts.0.pool=x", "parts.0.pool")]:
        with pytest.raises(InputError, match=match):
            override(Mixed(), [bad])
    with pytest.raises(InputError, match="has items"):
        override(Mixed(parts=()), ["parts.0.pool=1"])


def test_unknown_registry_name_suggests_the_closest():
    """`convcorr run long2014.tabel1` listed the experiments without naming the one close to the typo."""
    from convcorr_eval.registry import EXPERIMENTS

    with pytest.raises(InputError, match=r"got long2014\.tabel1; did you mean long2014\.table1[?]$") as e:
        EXPERIMENTS["long2014.tabel1"]
    assert e.value.got == "long2014.tabel1"
    with pytest.raises(InputError) as e:
        EXPERIMENTS["completely.different"]
    assert "did you mean" not in str(e.value)


def test_from_dict_round_trip_and_unknown_key():
    cfg = override(Outer(), ["inner.pool=2", "steps=7,8,9"])
    d = json.loads(json.dumps(to_dict(cfg)))  # tuples become lists on the way through JSON
    assert from_dict(Outer, d) == cfg
    with pytest.raises(InputError, match="extra"):
        from_dict(Outer, {"extra": 1})


def test_cache_rebuilds_on_new_code_version_or_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "value.txt").write_text(str(len(builds)))

    a = cache.cached("thing", {"n": 1}, "v1", build)
    assert (a / "value.txt").read_text() == "1" and len(builds) == 1
    assert cache.cached("thing", {"n": 1}, "v1", build) == a and len(builds) == 1  # reused
    b = cache.cached("thing", {"n": 1}, "v2", build)  # new code version: rebuilt, elsewhere
    assert b != a and (b / "value.txt").read_text() == "2"
    c = cache.cached("thing", {"n": 2}, "v1", build)  # another setting: rebuilt
    assert c not in (a, b) and len(builds) == 3
    # an entry whose KEY.json does not match (stale or damaged) is never reused
    (a / cache.KEY_FILE).write_text(json.dumps({"kind": "thing", "settings": {"n": 1}, "version": "old"}))
    assert cache.cached("thing", {"n": 1}, "v1", build) == a and (a / "value.txt").read_text() == "4"


def test_cache_failed_build_leaves_no_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))

    def boom(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.cached("thing", {"n": 1}, "v1", boom)
    assert not cache._is_valid(cache.entry_path("thing", {"n": 1}, "v1"), "thing", {"n": 1}, "v1")
    assert list((tmp_path / "thing").iterdir()) == []


def test_code_version_follows_the_source(tmp_path, monkeypatch):
    pkg = tmp_path / "cvpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("A = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    v1 = cache.code_version.__wrapped__("cvpkg")
    (pkg / "mod.py").write_text("B = 2\n")
    v2 = cache.code_version.__wrapped__("cvpkg")
    assert v1 != v2 and len(v2) == 16


def test_one_digest_for_entries_and_fingerprints(monkeypatch, tmp_path):
    """`cache.digest`: sha256 of sorted-key JSON, the same for equal content in any key order; cache entries are
    named by it."""
    import hashlib

    a, b = {"x": 1, "y": [1, 2], "z": {"q": None, "p": 0.5}}, {"z": {"p": 0.5, "q": None}, "y": [1, 2], "x": 1}
    assert cache.digest(a) == cache.digest(b) and len(cache.digest(a)) == 16 and len(cache.digest(a, 20)) == 20
    assert cache.digest(a) == hashlib.sha256(json.dumps(a, sort_keys=True).encode()).hexdigest()[:16]
    assert cache.digest({**a, "x": 2}) != cache.digest(a)
    monkeypatch.setenv("CONVCORR_CACHE", str(tmp_path))
    assert cache.entry_path("k", a, "v1").name == cache.digest(cache.key("k", a, "v1"), 20)
    assert cache.entry_path("k", a, "v1") != cache.entry_path("k", a, "v2")


def test_file_stamp_is_size_and_mtime_and_none_for_a_missing_file(tmp_path):
    """`cache.file_stamp`, the one file identity of cache keys (a loaded model folder's files, the images and
    annotations person crops are cut from): (size, mtime in ns), changed by a rewrite of the same size; None for a
    missing file, or its FileNotFoundError with missing_ok=False."""
    import os

    f = tmp_path / "a.bin"
    f.write_bytes(b"abcd")
    st = f.stat()
    assert cache.file_stamp(f) == (4, st.st_mtime_ns) == cache.file_stamp(str(f), missing_ok=False)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert cache.file_stamp(f) == (4, st.st_mtime_ns + 1)
    assert cache.file_stamp(tmp_path / "gone") is None
    with pytest.raises(FileNotFoundError):
        cache.file_stamp(tmp_path / "gone", missing_ok=False)
