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
    """

    def __init__(self, source: str | os.PathLike | None, field: str, expected: str, got: object = None):
        self.source = None if source is None else os.fspath(source)
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{self.source}: " if self.source else ""
        msg = f"{where}field '{field}': expected {expected}"
        if got is not None:
            msg += f", got {got}"
        super().__init__(msg)


def check(condition: bool, source, field: str, expected: str, got: object = None) -> None:
    """Raise `InputError(source, field, expected, got)` unless `condition` holds."""
    if not condition:
        raise InputError(source, field, expected, got)
