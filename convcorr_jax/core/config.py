"""One config mechanism: frozen dataclasses, `override` from "field=value" strings, `from_dict` / `to_dict`,
and range checks.

    cfg = override(get_config("tiny"), ["model.pool=4", "steps=8,4,4", "data_root=/data/flic"])
    same = from_dict(type(cfg), to_dict(cfg))

Range checks: a config checks its own fields in `__post_init__` with `check_fields` (so every construction and
every `dataclasses.replace` is checked), and may define `check(self) -> None` for checks across fields (e.g. an
image size against the backbone's smallest input); `validate` calls every `check` of a nested config, and
`override` calls `validate` once all assignments are applied. `check_types` refuses a value of another type than
its field's annotation (a config built in Python: "3" for a number), which `override` and `from_dict` convert.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import sys
import types
import typing
from typing import TYPE_CHECKING, Any, Mapping, Sequence, TypeVar

from convcorr_jax.core.errors import InputError, unknown_name

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")  # a dataclass config
NONE_WORDS = ("none", "null")  # an optional field's None on the command line (any case; JSON's word too)


def to_dict(cfg: Any) -> dict:
    """A JSON-ready dict of a (nested) dataclass config.

    Args:
      cfg: a dataclass instance.

    Returns:
      dict of field name -> value, nested configs as dicts (`dataclasses.asdict`: tuples stay tuples, which JSON
      writes as lists).
    """
    return dataclasses.asdict(cfg)


@functools.cache
def _cached_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config class, once per class (`check_types` runs at every construction)."""
    return typing.get_type_hints(cls)


def _hints(cls: type) -> dict[str, Any]:
    """`_cached_hints` of `cls` (a plain `type` parameter: mypy takes no `type[X]` for functools.cache's
    Hashable arguments)."""
    return _cached_hints(cls)


def _convert(value: Any, tp: Any, where: str) -> Any:
    """`value` (a JSON value or a string from the command line) converted to the annotated type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS and type(None) in args):
            if type(None) in args:
                return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return _convert(value, a, where)
            except (InputError, ValueError, TypeError) as e:
                errors.append(str(e))
        raise InputError("config", where, _type_text(tp), value)
    if origin is tuple or tp is tuple:
        items = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else list(value)
        if args and args[-1] is Ellipsis:
            return tuple(_convert(v, args[0], where) for v in items)
        if args:
            if len(items) != len(args):
                raise InputError("config", where, f"{len(args)} comma-separated values", value)
            return tuple(_convert(v, a, where) for v, a in zip(items, args))
        return tuple(items)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise InputError("config", where, "a mapping", value)
        return dict(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise InputError("config", where, f"a mapping for {tp.__name__} (set its fields one by one)", value)
        return _from_dict(tp, value, f"{where}.")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        raise InputError("config", where, "true or false", value)
    if tp in (int, float):
        if isinstance(value, bool):
            raise InputError("config", where, tp.__name__, value)
        try:
            out = tp(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond float's range
            raise InputError("config", where, f"a number ({tp.__name__})", value) from None
        if tp is int and isinstance(value, float) and value != out:
            raise InputError("config", where, "an integer", value)
        return out
    if tp is str:
        if not isinstance(value, str):
            raise InputError("config", where, "a string", value)
        return value
    if origin is typing.Literal:
        if value not in args:
            raise InputError("config", where, f"one of {list(args)}", value)
        return value
    return value


def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """A dataclass `cls` built from a (nested) dict, every value checked against its annotation; unknown keys
    are errors, missing keys take the defaults.

    Args:
      cls: the config dataclass.
      d: field name -> JSON value or command-line string (nested dicts for nested configs).

    Returns:
      A `cls` instance (its own `__post_init__` checks run).

    Raises:
      InputError: an unknown key or a value that does not fit its annotation.
    """
    return _from_dict(cls, d, "")


def _from_dict(cls: type[T], d: Mapping[str, Any], prefix: str) -> T:
    """`from_dict`, its errors naming a nested config's fields by their dotted path (`prefix`: "model." or "")."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise unknown_name("config", prefix + unknown[0], unknown[0], sorted(names),
                           f"a field of {cls.__name__} ({', '.join(sorted(names))})", show_got=False)
    return cls(**{k: _convert(v, hints[k], prefix + k) for k, v in d.items()})


def _values(value: Any) -> list:
    """The numbers a range check applies to: a scalar, or every item of a tuple/list; None skipped."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    return [v for v in items if v is not None]


def _paths(obj: Any, prefix: Sequence[str], groups: bool = False) -> list[str]:
    """The dotted paths of the config `obj`'s fields under `prefix` (its nested configs alone with `groups`)."""
    return [".".join([*prefix, f.name]) for f in dataclasses.fields(obj)
            if not groups or dataclasses.is_dataclass(getattr(obj, f.name))]


def check_fields(cfg: Any, positive: Sequence[str] = (), nonnegative: Sequence[str] = (),
                 at_least_one: Sequence[str] = (), fraction: Sequence[str] = (), source: str = "config",
                 prefix: str = "", finite: Sequence[str] = ()) -> None:
    """InputError naming the first field of `cfg` out of its range.

    Tuple fields are checked item by item; None passes (optional fields); values that are not real numbers
    (arrays, traced values) are left to the annotation's check.

    Args:
      cfg: the config (usually `self` in `__post_init__`).
      positive: fields that must be > 0.
      nonnegative: fields that must be >= 0.
      at_least_one: fields that must be >= 1.
      fraction: fields that must lie in (0, 1].
      source: the name InputError gives the config.
      prefix: put before a field's name in the message: its path in an enclosing config (e.g. "model.").
      finite: fields that must be finite (not inf; checked after the ranges above, so a learning rate of inf is
        refused as not finite and one of 0 as not > 0); an int always is, however large.

    Returns:
      None.

    Raises:
      InputError: a field out of its range (NaN included).
    """
    rules = ((positive, lambda v: v > 0, "> 0"), (nonnegative, lambda v: v >= 0, ">= 0"),
             (at_least_one, lambda v: v >= 1, ">= 1"), (fraction, lambda v: 0 < v <= 1, "a value in (0, 1]"),
             (finite, lambda v: isinstance(v, numbers.Integral) or math.isfinite(v), "a finite number"))
    for names, ok, expected in rules:
        for name in names:
            value = getattr(cfg, name)
            for v in _values(value):
                if not isinstance(v, numbers.Real) or isinstance(v, bool):
                    continue
                if v != v or not ok(v):
                    raise InputError(source, prefix + name,
                                     expected + (" for each item" if isinstance(value, (tuple, list)) else ""), value)


def _fits(value: Any, tp: Any) -> bool:
    """Whether `value` already is of the annotated type `tp` (no conversion: "3" is not a float, 1.0 not an int;
    an int is a float when float can hold it; a nested config is an instance of its class; a tuple's items each
    fit; other annotations accept anything)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):
        kind = numbers.Integral if tp is int else numbers.Real
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
        return tp is int or not isinstance(value, numbers.Integral) or abs(int(value)) <= sys.float_info.max
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if args and args[-1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return not args or (len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args)))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return isinstance(value, tp)
    return True


def _plural(tp: Any) -> str:
    """`_type_text` of several: "integers", "tuples (a string, anything)"."""
    first, _, rest = _type_text(tp).removeprefix("a ").removeprefix("an ").partition(" ")
    return f"{first}s" + (f" {rest}" if rest else "")


def _type_text(tp: Any) -> str:
    """An annotation in words, for an error: "none or a number", "true or false", "a tuple of strings"."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_text(a) for a in sorted(args, key=lambda a: a is not type(None)))
    if typing.get_origin(tp) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: "a tuple of integers", "a tuple of tuples (...)"
            return f"a tuple of {_plural(args[0])}"
        if len(set(args)) == 1:  # tuple[int, int]: "a tuple of 2 integers"
            return f"a tuple of {len(args)} {_plural(args[0])}"
        return "a tuple (" + ", ".join(_type_text(a) for a in args) + ")" if args else "a tuple"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a {tp.__name__}"
    return {type(None): "none", bool: "true or false", int: "an integer", float: "a number", str: "a string",
            Any: "anything"}.get(tp, getattr(tp, "__name__", str(tp)))


def check_types(cfg: Any, source: str = "config", prefix: str = "") -> None:
    """InputError naming the first field of the dataclass `cfg` whose value is not of its annotated type, as a
    config built in Python may hold ("3" for a number, "false" for a bool); `override` and `from_dict` convert
    command-line strings before a config is built.

    Args:
      cfg: the config (usually `self` in `__post_init__`, after any normalising of its own).
      source: the name InputError gives the config.
      prefix: put before a field's name in the message: its path in an enclosing config (e.g. "model.").

    Returns:
      None.

    Raises:
      InputError: naming `source`, the field, its type in words and the value given (repr, so "3" shows quoted).
    """
    hints = _hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in hints and not _fits(value, hints[f.name]):
            raise InputError(source, prefix + f.name, _type_text(hints[f.name]), repr(value))


def validate(cfg: T) -> T:
    """Call `check()` of `cfg` and of every nested dataclass config that defines one (innermost first).

    Args:
      cfg: a dataclass config.

    Returns:
      `cfg` itself.

    Raises:
      InputError: whatever a `check()` raises.
    """
    for f in dataclasses.fields(cfg):
        sub = getattr(cfg, f.name)
        if dataclasses.is_dataclass(sub) and not isinstance(sub, type):
            validate(sub)
    check_ = getattr(cfg, "check", None)
    if callable(check_):
        check_()
    return cfg


def _group(obj: Any, name: str, key: str, path: Sequence[str]) -> Any:
    """The nested config `name` of `obj` on the way to `key`'s field: a config field of a config, or the item at
    index `name` of a tuple of configs (`datasets.1.share`).

    Args:
      obj: a config, or a tuple of configs.
      name: a field name, or a 0-based index into the tuple.
      key: the whole dotted key, for the message.
      path: the key's parts up to and including `name`.

    Returns:
      The nested config (a dataclass), or a tuple of configs.

    Raises:
      InputError: `name` is not a config group of `obj`, or not an index of its tuple.
    """
    if isinstance(obj, tuple):
        group = ".".join(path[:-1])
        if not obj:
            raise InputError("--set", key, f"a config whose {group} has items (this one has none)", name)
        if not (name.isdigit() and int(name) < len(obj)):
            raise InputError("--set", key, f"an index of {group} below {len(obj)} (0-based)", name)
        return obj[int(name)]
    sub = getattr(obj, name, None)
    item = typing.get_args(_hints(type(obj)).get(name)) if isinstance(sub, tuple) else ()
    if dataclasses.is_dataclass(sub) or (item and dataclasses.is_dataclass(item[0])):
        return sub
    raise unknown_name("--set", key, ".".join(path), _paths(obj, path[:-1], groups=True),
                       f"a config field ({name!r} is not a config group)", show_got=False)


def override(cfg: T, assignments: Sequence[str]) -> T:
    """Apply "field=value" and "sub.field=value" assignments to a (nested) frozen dataclass config.

    Values are parsed by the field's annotation: numbers, true/false, comma-separated tuples (spaces around an
    item ignored), "none" or "null" for an optional field. A tuple of configs is entered by its 0-based index
    ("datasets.1.share=0.25"). The result is checked by `validate`.

    Args:
      cfg: a frozen dataclass config.
      assignments: "field=value" strings, dotted paths for nested configs, applied in order.

    Returns:
      A new config (`dataclasses.replace`); cfg is unchanged.

    Raises:
      InputError: an unknown field, an unparsable value or one out of its range, naming it (its path, e.g.
        "transfer.beta").
    """
    for a in assignments:
        if "=" not in a:
            raise InputError("--set", a, "field=value")
        key, value = a.split("=", 1)
        path = key.split(".")
        objs: list[Any] = [cfg]  # the config, then each group on the way to the field: configs or tuples of them
        for i, p in enumerate(path[:-1]):
            objs.append(_group(objs[-1], p, key, path[:i + 1]))
        leaf = path[-1]
        if isinstance(objs[-1], tuple):
            group = ".".join(path[:-1])
            raise InputError("--set", key, f"a field of one item of {group} ({group}.{leaf}.FIELD=VALUE)")
        if leaf not in {f.name for f in dataclasses.fields(objs[-1])}:
            known = ", ".join(f.name for f in dataclasses.fields(objs[-1]))
            raise unknown_name("--set", key, key, _paths(objs[-1], path[:-1]),
                               f"a field of {type(objs[-1]).__name__} ({known})", show_got=False)
        try:
            new: Any = dataclasses.replace(objs[-1], **{leaf: _convert(value, _hints(type(objs[-1]))[leaf], key)})
        except InputError as e:
            if e.field != leaf or key == leaf:
                raise
            raise InputError(e.source, key, e.expected, e.got) from None
        for obj, p in zip(reversed(objs[:-1]), reversed(path[:-1])):
            new = (tuple(new if j == int(p) else x for j, x in enumerate(obj)) if isinstance(obj, tuple)
                   else dataclasses.replace(obj, **{p: new}))
        cfg = new
    return validate(cfg)
