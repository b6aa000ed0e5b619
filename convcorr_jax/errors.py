"""The one error type for bad input: it names the file, the field and what was expected."""

from __future__ import annotations

import os

import numpy as np


class InputError(ValueError):
    """Malformed or unexpected input (file, array or argument).

    One convention for the first two arguments, everywhere:

    Attributes:
      source: where the value came from: the file path or URL it was read from; for a value passed in memory,
        the function or config that received it ("transfer_points", "BPConfig"; a private helper names its
        module, "knn"); None for the command line, whose fields are its flags ("--out").
      field: the field, key, layer or argument that is wrong (an item of a list argument as "points_a[2]"),
        never a word such as "shape" or "dtype": the shape or dtype wanted goes into `expected`.
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
    """`value` as a user reads it: numpy scalars as plain numbers, tuples / lists of them as (3, 4) / [3, 4].

    Args:
      value: any value.

    Returns:
      Its text.
    """
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
    """Raise `InputError(source, field, expected, got)` unless `condition` holds.

    Args:
      condition: what must hold.
      source: the file, function or config the value came from (None: the command line).
      field: the argument or field name.
      expected: what was expected, in words.
      got: the value given.

    Returns:
      None.

    >>> check(3 > 0, "pck", "alpha", "a number > 0", 3)
    >>> check(-1 > 0, "pck", "alpha", "a number > 0", -1)
    Traceback (most recent call last):
    ...
    convcorr_jax.errors.InputError: pck: field 'alpha': expected a number > 0, got -1
    """
    if not condition:
        raise InputError(source, field, expected, got)


def check_shape(x, spec: str, source, field: str, dims: dict[str, int] | None = None) -> dict[str, int]:
    """One-line shape check (kornia's `KORNIA_CHECK_SHAPE` habit): `x`'s shape against `spec`.

    Args:
      x: an array (anything with `.shape`, or array-like).
      spec: space-separated axes, each a number (that size), a name (any size, the same wherever the name recurs,
        in this call and in `dims`), or "*" (any number of leading axes, first only).
      source, field: where `x` came from, for the error.
      dims: sizes already bound by earlier checks of the same call.

    Returns:
      The names' sizes (with `dims`'), so that several arrays of one call agree.

    Raises:
      InputError: naming `field`, with the expected and the actual shape.

    >>> check_shape(np.zeros((2, 5, 2)), "N K 2", "pck", "pred")
    {'N': 2, 'K': 5}
    >>> check_shape(np.zeros((3, 5, 2)), "N K 2", "pck", "gt", {"N": 2, "K": 5})
    Traceback (most recent call last):
    ...
    convcorr_jax.errors.InputError: pck: field 'gt': expected shape [N=2, K=5, 2], got (3, 5, 2)
    """
    axes = spec.split()
    shape = tuple(int(v) for v in np.shape(x))
    lead = axes[:1] == ["*"]
    axes = axes[1:] if lead else axes
    sizes = dict(dims or {})
    ok = len(shape) >= len(axes) if lead else len(shape) == len(axes)
    for axis, n in zip(axes, shape[len(shape) - len(axes):] if ok else ()):
        if axis.isdigit():
            ok = ok and n == int(axis)
        else:
            ok = ok and sizes.setdefault(axis, n) == n
    if not ok:
        known = dims or {}
        want = ", ".join(f"{a}={known[a]}" if a in known else a for a in axes)
        raise InputError(source, field, f"shape [{'..., ' if lead else ''}{want}]", shape)
    return sizes
