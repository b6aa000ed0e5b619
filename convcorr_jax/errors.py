"""The one error type for bad input: it names the file, the field and what was expected."""

from __future__ import annotations

import os


class InputError(ValueError):
    """Malformed or unexpected input (file, array or argument).

    Attributes:
      source: the file path, or a short description of the in-memory input (e.g. "images").
      field: the field, key, layer or argument that is wrong.
      expected: what was expected there.
      got: what was found (optional).
      message: the text after "source: " when the standard "field 'F': expected E, got G" reads worse (optional;
        it should still name the field).

    The message is one line: newlines in any part are replaced by spaces.
    """

    def __init__(self, source: str | os.PathLike | None, field: str, expected: str, got: object = None,
                 message: str | None = None):
        self.source = None if source is None else os.fspath(source)
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{self.source}: " if self.source else ""
        if message is not None:
            msg = f"{where}{message}"
        else:
            msg = f"{where}field '{field}': expected {expected}"
            if got is not None:
                msg += f", got {plain(got)}"
        super().__init__(" ".join(msg.splitlines()))


def plain(value: object) -> str:
    """`value` as a user reads it: numpy scalars as plain numbers, tuples/lists of them as (3, 4) / [3, 4]."""
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        inner = ", ".join(repr(v) if isinstance(v, str) else plain(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return str(item())
    return str(value)


def check(condition: bool, source, field: str, expected: str, got: object = None) -> None:
    """Raise `InputError(source, field, expected, got)` unless `condition` holds."""
    if not condition:
        raise InputError(source, field, expected, got)
