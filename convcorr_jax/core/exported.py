"""A jit whose traced and lowered program outlives the process (`jax.export`), for hot paths whose tracing is slow.

    @exported.jit(static_argnames=("levels", "cfg"))
    def _batch(x, y, levels, cfg): ...

JAX's persistent compilation cache (`convcorr_jax.enable_compile_cache`) saves XLA compilation, not tracing to a
jaxpr and lowering to StableHLO, which every new process repeats. For a function decorated here, once the cache is
on, the first call with given static arguments and input shapes exports the lowered program (`jax.export`) to
`<compile cache>/exported/<key>.bin`; a later process deserialises it and calls it instead of tracing the Python
function again. The key is a digest of the function's module and name, the static arguments (`_static_key`: values
`jax.jit` takes for the same static argument, equal and of the same type, share one program, e.g. two equal configs
whose fields are written 1 and 1.0; values that are not equal never do), the input shapes, dtypes and weak types,
the library's source (`cache.code_version`), the source file the function is defined in, the values it captures (a
closure's cells: numbers, strings, arrays by their bytes, modules and functions), the JAX version, the backend and
the JAX settings that change what tracing makes (`TRACING_FLAGS`: 64-bit types, matmul precision, the PRNG), so a
change to any of them exports again; a damaged file is exported again and replaced; a folder that cannot be written
(read-only, full) only logs a warning. Without the compilation cache, with `CONVCORR_NO_EXPORT=1`, or for a function
the key cannot identify (no readable source file, e.g. one typed at the prompt or a `functools.partial`; a captured
value other than those), the function is a plain `jax.jit`.

`cpu_options`: XLA compiler options for the function's programs when JAX's default backend is the CPU, e.g.
`QUICK_CPU` (LLVM's optimisation level 1 instead of XLA:CPU's default 3, without LLVM's expensive passes) for a
large program whose run time does not gain from them while its compilation pays for them; other backends compile
with their defaults.

Restrictions (those of `jax.export`): outputs are arrays or tuples / lists / dicts of arrays, no host callbacks;
the function is not transformed further (no vmap, grad or jit around a call to it).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import logging
import math
import os
import types
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax import export

from convcorr_jax.core import cache, io

FOLDER = "exported"
NO_EXPORT = "CONVCORR_NO_EXPORT"
QUICK_CPU = {"xla_backend_optimization_level": 1, "xla_llvm_disable_expensive_passes": True}
# jax.config settings read while tracing that change the program (its dtypes, dot precision, random bits) or whether
# it is refused (promotion rules): part of an exported program's key
TRACING_FLAGS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_default_prng_impl",
                 "jax_threefry_partitionable", "jax_numpy_dtype_promotion", "jax_numpy_rank_promotion")
log = logging.getLogger(__name__)


def _folder() -> Path | None:
    """`<compile cache>/exported`, or None when JAX's persistent compilation cache is off or NO_EXPORT is set."""
    root = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]  # a flag set at run time
    if not root or os.environ.get(NO_EXPORT, "") not in ("", "0"):
        return None
    return Path(root) / FOLDER


def _avals(tree: Any) -> Any:
    """The structure of the dynamic arguments and each leaf's shape, dtype and weak type (a weakly typed scalar
    takes the other operand's dtype when traced, a strongly typed one promotes it: two programs)."""
    leaves, treedef = jax.tree.flatten(tree)
    return str(treedef), [(np.shape(x), str(getattr(x, "dtype", type(x).__name__)),
                           bool(getattr(x, "weak_type", False))) for x in leaves]


def _flags() -> dict[str, str]:
    """The current value (as str) of each of `TRACING_FLAGS` this JAX has."""
    return {name: str(getattr(jax.config, name, None)) for name in TRACING_FLAGS}


def _options(cpu_options: dict | None) -> dict | None:
    """`cpu_options` on the CPU backend, else None (each backend's defaults)."""
    return dict(cpu_options) if cpu_options and jax.default_backend() == "cpu" else None


def jit(fun: Callable | None = None, *, static_argnames: Sequence[str] = (), cpu_options: dict | None = None
        ) -> Callable:
    """`jax.jit(fun, static_argnames=...)` whose programs are exported to, and read back from, the compilation
    cache's `exported/` folder, compiled with `cpu_options` on a CPU (see the module doc).

    Call the result with the static arguments by name or position.

    Args:
      fun: the function to compile, or None to use `jit(...)` as a decorator with arguments.
      static_argnames: names of fun's static (hashable, compile-time) arguments.
      cpu_options: XLA compiler options on the CPU backend (e.g. `QUICK_CPU`), or None: the defaults.

    Returns:
      The wrapped function (its plain `jax.jit` as `.jitted`, for transformations and tests); with fun None, a
      decorator that makes one.
    """
    if fun is None:
        return functools.partial(jit, static_argnames=static_argnames, cpu_options=cpu_options)
    static = tuple(static_argnames)
    plain: dict[str, Callable] = {}  # backend -> jax.jit of fun with that backend's options

    def jitted(*args, **kwargs):
        backend = jax.default_backend()
        if backend not in plain:
            plain[backend] = jax.jit(fun, static_argnames=static, compiler_options=_options(cpu_options))
        return plain[backend](*args, **kwargs)
    sig = inspect.signature(fun)
    calls: dict[str, Callable] = {}  # key -> jitted call of the exported program, for this process
    seen: dict[tuple, Any] = {}  # (type, static value) -> the key of the first equal one, for this process
    source: list[str | None] = []  # the digest of fun's source file, read on the first call with a folder

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        folder = _folder()
        if folder is not None and not source:
            source.append(_source_digest(fun))
        captured = _captured(fun) if folder is not None and source[0] is not None else None
        if captured is None or folder is None:  # no cache, or a function the key cannot identify
            return jitted(*args, **kwargs)
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        statics = {k: v for k, v in bound.arguments.items() if k in static}
        dynamic = [v for k, v in bound.arguments.items() if k not in static]
        key = cache.digest({"fun": f"{fun.__module__}.{fun.__qualname__}", "static": {k: _interned(seen, v) for k, v
                            in statics.items()}, "in": _avals(dynamic), "code": cache.code_version("convcorr_jax"),
                            "source": source[0], "captured": captured, "jax": jax.__version__,
                            "backend": jax.default_backend(), "flags": _flags()}, 32)
        call = calls.get(key)
        if call is None:
            path = folder / f"{key}.bin"
            try:
                exp = export.deserialize(bytearray(path.read_bytes()))
            except Exception:  # missing, or damaged (deserialize raises struct, attribute and value errors)
                exp = export.export(jax.jit(lambda *dyn: fun(*_merge(sig, dyn, statics))))(*dynamic)
                _save(path, exp)
            call = calls.setdefault(key, jax.jit(exp.call, compiler_options=_options(cpu_options)))
        return call(*dynamic)

    wrapper.jitted = jitted  # type: ignore[attr-defined]  # the plain jit (for transformations and tests)
    return wrapper


def _interned(seen: dict[tuple, Any], value: Any) -> Any:
    """`_static_key(value)`, or the key of the first value of the same type equal to it (== and the same hash, as
    `jax.jit` finds its static arguments) that this process keyed (`seen`): one program for them even where
    `_static_key` cannot tell they are equal."""
    try:
        key = seen.get((type(value), value))
    except (TypeError, ValueError):  # unhashable (jax.jit refuses it as a static argument), or == fails
        return _static_key(value)
    if key is None:  # the walk of `_static_key` once per distinct value, not on every call
        key = seen[(type(value), value)] = _static_key(value)
    return key


def _static_key(value: Any) -> list:
    """The key of a static argument, the same in every process: its type and `_canonical(value)`, or its repr where that
    cannot take it. As `jax.jit` takes static arguments: values of one type that are equal (== and one hash) have
    one key (a config with beta=1 and one with beta=1.0: inside a value, 1, 1.0 and True are equal), values of other
    types (1, 1.0 and True as the argument itself) or unequal values have different keys."""
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    try:
        return [kind, _canonical(value, 0)]
    except (TypeError, ValueError, OverflowError, RecursionError):
        return [kind, "repr", repr(value)]


def _canonical(v: Any, depth: int) -> Any:
    """A JSON-able form of `v` that is the same for two values exactly when they are equal with one hash (== alone is
    not enough: np.float32(0.1) == 0.1 under NumPy 2, their hashes differ): numbers by their exact value, strings,
    bytes and None, tuples (named ones too) and lists item by item, frozensets and sets as their sorted items,
    dataclasses with their generated __eq__ by class and compared fields. TypeError for anything else (an __eq__ of
    its own could call equal what the form tells apart, or the reverse)."""
    cls, eq = type(v), getattr(type(v), "__eq__", None)
    if depth > 32:
        raise TypeError("nested too deep")
    if v is None or cls is str:
        return v
    if cls is bytes:
        return ["bytes", v.hex()]
    if cls in (bool, int, float, complex) or isinstance(v, _NUMPY_NUMBERS):
        return ["number", _number(v)]
    if isinstance(v, (tuple, list)) and eq in (tuple.__eq__, list.__eq__):
        return ["list" if eq is list.__eq__ else "tuple", [_canonical(x, depth + 1) for x in v]]
    if isinstance(v, (frozenset, set)) and eq in (frozenset.__eq__, set.__eq__):
        return ["set", sorted((_canonical(x, depth + 1) for x in v), key=repr)]
    generated = getattr(getattr(eq, "__code__", None), "co_filename", None) == "<string>"  # not one of its own
    if dataclasses.is_dataclass(v) and cls.__dataclass_params__.eq and generated:
        return ["dataclass", f"{cls.__module__}.{cls.__qualname__}",
                [[f.name, _canonical(getattr(v, f.name), depth + 1)] for f in dataclasses.fields(v) if f.compare]]
    raise TypeError(cls.__name__)


# NumPy scalars whose value a Python int or float holds exactly (longdouble does not)
_NUMPY_NUMBERS = (np.bool_, np.integer, np.float16, np.float32, np.float64, np.complex64, np.complex128)


def _number(v: Any) -> str:
    """A number's exact value as text, the same for equal numbers of any type (1, 1.0, True, np.int32(1), 1+0j:
    "1"; 0.1: the fraction the float holds; "inf", "-inf", "nan")."""
    if isinstance(v, (complex, np.complexfloating)):
        real, imag = _number(v.real), _number(v.imag)
        return real if imag == "0" else f"{real}{'' if imag.startswith('-') else '+'}{imag}j"
    if isinstance(v, (bool, int, np.bool_, np.integer)):
        return str(int(v))
    v = float(v)  # float16 / float32 / float64: exact
    return str(Fraction(v)) if math.isfinite(v) else repr(v)


def _source_digest(fun: Callable) -> str | None:
    """sha256 (16 hex) of the file `fun` is defined in, or None where it has none to read (typed at the prompt, a
    `functools.partial` or another callable without code)."""
    try:
        return hashlib.sha256(Path(fun.__code__.co_filename).read_bytes()).hexdigest()[:16]
    except (AttributeError, OSError, TypeError, ValueError):
        return None


def _captured(fun: Callable, depth: int = 0) -> list | None:
    """What `fun`'s closure cells hold, as its exported program's key takes them (tracing bakes them into the
    program): numbers, strings, None and arrays (by dtype, shape and bytes), in lists / tuples / dicts of them,
    modules (by name) and functions (by name, source file and what they capture in turn); None when a cell holds
    anything else (its value cannot be keyed: the function is not exported)."""

    def value(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            return [type(v).__name__, repr(v)]
        if isinstance(v, (list, tuple)):
            return [type(v).__name__, [value(x) for x in v]]
        if isinstance(v, dict):
            return ["dict", [[value(k), value(x)] for k, x in v.items()]]
        if isinstance(v, (np.ndarray, np.generic, jax.Array)) and not isinstance(v, jax.core.Tracer):
            return ["array", cache.arrays_digest([v])]
        if isinstance(v, types.ModuleType):
            return ["module", v.__name__]
        source = _source_digest(v) if isinstance(v, types.FunctionType) and depth < 4 else None
        if source is not None:
            inner = _captured(v, depth + 1)
            if inner is not None:
                return ["function", f"{v.__module__}.{v.__qualname__}", source, inner]
        raise TypeError(type(v).__name__)

    try:
        return [value(c.cell_contents) for c in (getattr(fun, "__closure__", None) or ())]
    except (TypeError, ValueError):  # a value that cannot be keyed, or an empty cell
        return None


def _save(path: Path, exp: export.Exported) -> None:
    """Write `exp` to `path` atomically (a reader sees all of it or none); a folder that cannot take it (read-only,
    full, a file in the way) costs the next process a tracing, not this call its result: one warning line."""
    try:
        io.write_bytes(path, bytes(exp.serialize()))
    except OSError as e:
        log.warning("could not keep the exported program %s (%s); it is traced again in the next process", path,
                    e.strerror or type(e).__name__)


def _merge(sig: inspect.Signature, dynamic: Sequence[Any], statics: dict) -> list:
    """The positional arguments of the function: `dynamic` in order with `statics` put back in their places."""
    it = iter(dynamic)
    return [statics[name] if name in statics else next(it) for name in sig.parameters]
