"""`convcorr_jax.core.exported.jit`: the same values as `jax.jit`; the program is exported once per static arguments and
input shapes, and a new process calls the exported program without tracing the Python function."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import convcorr_jax
    from convcorr_jax.core import exported

    traced = []

    @exported.jit(static_argnames=("power", "scale"))
    def f(x, y, power, scale=2.0):
        traced.append(x.shape)
        return {"sum": jnp.sum(x ** power) * scale + y, "rows": x.mean(1)}

    convcorr_jax.enable_compile_cache(sys.argv[1])
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    out = []
    for args in [(x, 1.0, 2), (x, 1.0, 2), (x, 1.0, 3), (x[:2], 1.0, 2)]:
        r = f(*args)
        plain = f.jitted(*args)
        out.append({"sum": float(r["sum"]), "rows": np.asarray(r["rows"]).tolist(),
                    "equal": bool(np.array_equal(r["sum"], plain["sum"]) and np.array_equal(r["rows"], plain["rows"]))})
    traced_by_wrapper = len(traced) - 3  # the plain jit traces each of the 3 distinct calls once
    print(json.dumps({"out": out, "traced": traced_by_wrapper}))
"""


def _child(cache: Path, script: str = CHILD, **env) -> dict:
    """Run `script` from a file beside `cache` (a function typed with `python -c` has no source file to key by, and
    is not exported); its last line of output as JSON."""
    path = cache.parent / "child.py"
    path.write_text(textwrap.dedent(script))
    r = subprocess.run([sys.executable, str(path), str(cache)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu", **env))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])


def test_exported_programs_are_written_once_and_read_back(tmp_path):
    tmp_path = tmp_path / "cache"
    first = _child(tmp_path)
    x = np.arange(12.0).reshape(3, 4)
    assert [o["sum"] for o in first["out"]] == [float((x ** 2).sum() * 2 + 1), float((x ** 2).sum() * 2 + 1),
                                              float((x ** 3).sum() * 2 + 1), float((x[:2] ** 2).sum() * 2 + 1)]
    assert all(o["equal"] for o in first["out"])
    assert first["traced"] == 3  # exported once per (static arguments, shapes); the repeat call is not traced
    files = sorted((tmp_path / "exported").glob("*.bin"))
    assert len(files) == 3
    second = _child(tmp_path)
    assert second["out"] == first["out"] and second["traced"] == 0  # read back: the function is never traced
    files[0].write_bytes(b"damaged")
    assert _child(tmp_path)["traced"] == 1  # a damaged entry is exported again
    assert len(list((tmp_path / "exported").glob("*.bin"))) == 3


def test_without_the_cache_or_when_turned_off_it_is_a_plain_jit(tmp_path):
    tmp_path = tmp_path / "cache"
    got = _child(tmp_path, CONVCORR_NO_EXPORT="1")
    assert got["traced"] == 0 and all(o["equal"] for o in got["out"])  # the wrapper itself never traces
    assert not (tmp_path / "exported").exists()


def test_cpu_options_reach_the_compiler_and_keep_the_values():
    """`cpu_options` are XLA compiler options on a CPU: an unknown one is refused by XLA (so they are passed on),
    and QUICK_CPU gives the default options' values bit for bit."""
    import jax
    import jax.numpy as jnp
    import pytest

    from convcorr_jax.core import exported

    def f(x, k):
        return jnp.cumsum(jnp.sin(x) * jnp.exp(-x / k), axis=0) @ x.T

    x = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    quick = exported.jit(f, static_argnames=("k",), cpu_options=exported.QUICK_CPU)
    np.testing.assert_array_equal(np.asarray(quick(x, k=3.0)), np.asarray(jax.jit(f, static_argnums=1)(x, 3.0)))
    bad = exported.jit(f, static_argnames=("k",), cpu_options={"no_such_xla_option": 1})
    with pytest.raises(Exception, match="no_such_xla_option"):
        bad(x, k=3.0)


def test_a_program_exported_under_other_jax_settings_is_not_reused(tmp_path, monkeypatch):
    """64-bit types and the matmul precision change what tracing makes: a program exported without them is not
    called with them on (it gave float32 where `jax.jit` gives float64)."""
    import jax
    import jax.numpy as jnp

    from convcorr_jax.core import exported

    def f(x):
        return x + jnp.arange(3) * 0.1

    g = exported.jit(f)
    monkeypatch.setattr(exported, "_folder", lambda: tmp_path / "exported")  # as with the compilation cache on
    assert g(np.ones(3, np.int32)).dtype == jnp.float32
    with jax.enable_x64(True):
        got, plain = g(np.ones(3, np.int32)), g.jitted(np.ones(3, np.int32))
        assert got.dtype == plain.dtype == jnp.float64
    with jax.default_matmul_precision("highest"):
        g(np.ones(3, np.int32))
    assert len(list((tmp_path / "exported").glob("*.bin"))) == 3


EDITED = """
    import json, sys
    import jax.numpy as jnp
    import convcorr_jax
    from convcorr_jax.core import exported

    @exported.jit
    def f(x):
        return x * FACTOR

    convcorr_jax.enable_compile_cache(sys.argv[1])
    print(json.dumps(float(f(jnp.ones(3)).sum())))
"""


def test_an_edited_script_exports_its_function_again(tmp_path):
    """A user's function outside the library: editing its file makes a new program, not the old one's result."""
    assert _child(tmp_path / "cache", EDITED.replace("FACTOR", "2.0")) == 6.0
    assert _child(tmp_path / "cache", EDITED.replace("FACTOR", "3.0")) == 9.0
    assert len(list((tmp_path / "cache" / "exported").glob("*.bin"))) == 2


def test_captured_values_are_part_of_the_key(tmp_path, monkeypatch):
    """Two closures of one function that capture other values are two programs; a closure over a value the key
    cannot take, and a callable without source (a partial), are plain jits, never another function's program."""
    import functools

    import jax.numpy as jnp

    from convcorr_jax.core import exported

    def make(scale):
        return exported.jit(lambda x: x * scale)

    monkeypatch.setattr(exported, "_folder", lambda: tmp_path / "exported")  # as with the compilation cache on
    x = jnp.ones(2)
    assert [float(make(s)(x)[0]) for s in (2.0, 3.0, np.float32(4.0), np.full(2, 5.0), np.full(2, 6.0))] == \
        [2.0, 3.0, 4.0, 5.0, 6.0]
    assert len(list((tmp_path / "exported").glob("*.bin"))) == 5

    class Scale:
        def __init__(self, s):
            self.s = s

    opaque = [exported.jit((lambda c: lambda x: x * c.s)(Scale(s))) for s in (7.0, 8.0)]
    assert [float(g(x)[0]) for g in opaque] == [7.0, 8.0]
    assert float(exported.jit(functools.partial(lambda x, s: x * s, s=9.0))(x)[0]) == 9.0
    assert len(list((tmp_path / "exported").glob("*.bin"))) == 5


def test_a_weakly_typed_argument_is_another_program(tmp_path, monkeypatch):
    """`jnp.asarray(2.0)` (weakly typed) takes a bfloat16 operand's dtype, `jnp.float32(2.0)` promotes it to
    float32: the program exported for one is not called for the other (it gave the other's dtype)."""
    import jax.numpy as jnp

    from convcorr_jax.core import exported

    def f(x, y):
        return x * y

    g = exported.jit(f)
    monkeypatch.setattr(exported, "_folder", lambda: tmp_path / "exported")  # as with the compilation cache on
    x = jnp.ones(2, jnp.bfloat16)
    for y in (jnp.asarray(2.0), jnp.float32(2.0), jnp.asarray(2.0)):
        assert g(x, y).dtype == g.jitted(x, y).dtype
    assert len(list((tmp_path / "exported").glob("*.bin"))) == 2


@dataclasses.dataclass(frozen=True)
class _Cfg:
    beta: float
    taps: tuple = ("conv4",)


@dataclasses.dataclass(frozen=True)
class _OtherCfg:
    beta: float
    taps: tuple = ("conv4",)


class _Pair(NamedTuple):
    a: Any
    b: Any


_TRACED: list = []


def test_equal_static_arguments_written_differently_share_one_program(tmp_path, monkeypatch):
    """Static arguments `jax.jit` takes for the same one (equal, of one type: configs with beta=1, 1.0, True or
    np.float64(1.0)) are exported once and read back by another process's wrapper (they were keyed by repr: one
    tracing and export each); 1, 1.0 and True as the argument itself are three programs, as with `jax.jit` (x * 1
    is int32, x * 1.0 float32), and unequal configs two."""
    import jax.numpy as jnp

    from convcorr_jax.core import exported

    traced = _TRACED  # not a closure's cell: what a function captures is part of its key
    traced.clear()

    def f(x, cfg):
        _TRACED.append(cfg)
        return x * (cfg.beta if isinstance(cfg, _Cfg) else cfg)

    monkeypatch.setattr(exported, "_folder", lambda: tmp_path / "exported")  # as with the compilation cache on
    files = lambda: len(list((tmp_path / "exported").glob("*.bin")))  # noqa: E731
    g = exported.jit(f, static_argnames=("cfg",))
    x = jnp.arange(3.0)
    for cfg in (_Cfg(1), _Cfg(1.0), _Cfg(True), _Cfg(np.float64(1.0))):
        np.testing.assert_array_equal(g(x, cfg=cfg), [0.0, 1.0, 2.0])
    assert (len(traced), files()) == (1, 1)
    another = exported.jit(f, static_argnames=("cfg",))  # as in a new process: its own table of static arguments
    another(x, cfg=_Cfg(1.0))
    assert (len(traced), files()) == (1, 1)
    np.testing.assert_array_equal(another(x, cfg=_Cfg(0.5)), [0.0, 0.5, 1.0])
    assert (len(traced), files()) == (2, 2)
    xi = jnp.arange(3)
    assert [str(g(xi, cfg=n).dtype) for n in (1, 1.0, True)] == ["int32", "float32", "int32"]
    assert (len(traced), files()) == (5, 5)


def test_static_keys_are_equal_exactly_for_values_jax_jit_takes_as_one():
    """Two static arguments have one key when they are of one type, equal (==) and of one hash, else two: inside a
    value 1, 1.0 and True are equal (and a named tuple and a tuple), as the argument itself they are of different
    types; np.float32(0.1) == 0.1 under NumPy 2, but their hashes differ."""
    from convcorr_jax.core.exported import _static_key

    values = [1, 1.0, True, 0.0, -0.0, 0.1, np.float32(0.1), np.float64(0.1), 10 ** 30, float(10 ** 30), 1 + 0j,
              1 + 1j, float("inf"), None, "None", "x", b"x", (1,), (1.0,), (True,), (np.int32(1),), (1 + 0j,),
              ("x",), (10 ** 30,), (float(10 ** 30),), (0.1,), (np.float32(0.1),), _Pair(1, 2), (_Pair(1, 2),),
              ((1, 2),), ((1.0, 2),), frozenset({1, 2}), frozenset({2.0, 1}), frozenset({3}), _Cfg(1), _Cfg(1.0),
              _Cfg(0.1), _Cfg(np.float32(0.1)), _Cfg(1, ("conv5",)), _OtherCfg(1), (_Cfg(1),), (_OtherCfg(1),),
              ("a", None), ("a", "None")]
    def equal(a, b) -> bool:
        try:
            return type(a) is type(b) and bool(a == b) and hash(a) == hash(b)
        except ValueError:  # (np.float32(0.1),) == (_Pair(1, 2),): NumPy compares the scalar with each item
            return False

    for a in values:
        for b in values:
            assert (_static_key(a) == _static_key(b)) == equal(a, b), (a, b)
