"""The one error type for bad input: it names the file, the field and what was expected."""

from __future__ import annotations

import difflib
import numbers
import os
from typing import Sequence, cast

import numpy as np
import numpy.typing as npt

# the float32 range the value checks hold numbers to (a float32 overflow or underflow turned into NaN / inf or 0)
F32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32, about 1.2e-38
F32_MAX = float(np.finfo(np.float32).max)  # the largest float32, about 3.4e38

# `InputError`'s source: a file path or URL, a function or config name, or None (the command line)
Source = str | os.PathLike | None


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

    def __init__(self, source: Source, field: str, expected: str, got: object = None,
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


def closest_name(name: object, known: Sequence[str]) -> str | None:
    """The known name closest to `name` (`difflib.get_close_matches`, the one lookup behind every "did you mean"
    of the library and of the command line), or None when none is close or `name` is not text.

    Args:
      name: what was given.
      known: the names it could have been.

    Returns:
      The closest of `known`, or None.

    >>> closest_name("gren", ["red", "green"])
    'green'
    """
    if not isinstance(name, str):
        return None
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1)
    return close[0] if close else None


def unknown_name(source: Source, field: str, name: object, known: Sequence[str], expected: str | None = None,
                 show_got: bool = True) -> InputError:
    """The error for `name`, which is none of `known`: the usual line, then "; did you mean X?" naming the closest
    known name (`closest_name`) when one is close.

    Args:
      source, field: as `InputError`'s.
      name: what was given.
      known: the names it could have been.
      expected: what was expected, in words (default: "one of [...]" listing `known`).
      show_got: end the usual line with ", got NAME" (False where `field` already is the name).

    Returns:
      The InputError (not raised); its `got` is `name`.

    >>> raise unknown_name("colour", "name", "gren", ["red", "green"])
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: colour: field 'name': expected one of ['red', 'green'], got gren; did you \
mean green?
    """
    known = [str(k) for k in known]
    expected = f"one of {known}" if expected is None else expected
    text = f"field '{field}': expected {expected}" + (f", got {plain(name)}" if show_got else "")
    close = closest_name(name, known)
    return InputError(source, field, expected, name, message=text + (f"; did you mean {close}?" if close else ""))


def check(condition: bool | np.bool_, source: Source, field: str, expected: str, got: object = None) -> None:
    """Raise `InputError(source, field, expected, got)` unless `condition` holds.

    Args:
      condition: what must hold (a bool, or NumPy's bool from an array comparison).
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
    convcorr_jax.core.errors.InputError: pck: field 'alpha': expected a number > 0, got -1
    """
    if not condition:
        raise InputError(source, field, expected, got)


def is_int(value: object, least: int | None = None) -> bool:
    """Whether `value` is an integer (a Python or numpy integer, not a bool), at least `least` when given: the
    counts, sizes and seeds the functions check.

    Args:
      value: anything.
      least: the smallest value allowed (None: any integer).

    Returns:
      True or False.

    >>> is_int(3, 1), is_int(np.int64(0), 1), is_int(True), is_int(2.0)
    (True, False, False, False)
    """
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and (least is None or bool(value >= least)))


def is_real(value: object, finite: bool = False) -> bool:
    """Whether `value` is a real number (a Python or numpy int or float, not a bool or text), also finite when
    `finite`: the factors, tolerances and exponents the functions check.

    Args:
      value: anything.
      finite: also refuse NaN and inf.

    Returns:
      True or False.

    >>> is_real(0.5), is_real(np.float32(2)), is_real(True), is_real("1"), is_real(float("nan"), finite=True)
    (True, True, False, False, False)
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return real and (not finite or bool(np.isfinite(cast(float, value))))  # a numbers.Real: numpy reads a float


# dtype kinds `check_shape` accepts by name (numpy's `dtype.kind` letters); any other name is a numpy dtype
DTYPE_KINDS = {"float": "f", "int": "iu", "uint": "u", "bool": "b", "number": "iufc"}


def _axes(spec: str | Sequence[str | int]) -> list[list[str]]:
    """The alternatives of a shape spec, each a list of axes: "N K 2 | K 2" -> [["N", "K", "2"], ["K", "2"]];
    ["B", "C", 3] -> [["B", "C", "3"]]."""
    if isinstance(spec, str):
        return [alt.split() for alt in spec.split("|")]
    return [[str(axis) for axis in spec]]


def _match(axes: list[str], shape: tuple[int, ...], sizes: dict[str, int]) -> dict[str, int] | None:
    """`sizes` with the names of `axes` bound to `shape`'s sizes, or None when the shape does not fit."""
    lead = axes[:1] == ["*"]
    axes = axes[1:] if lead else axes
    if len(shape) < len(axes) or (not lead and len(shape) != len(axes)):
        return None
    sizes = dict(sizes)
    for axis, n in zip(axes, shape[len(shape) - len(axes):]):
        name, _, least = axis.partition(">=")
        if n != (int(name) if name.isdigit() else sizes.setdefault(name, n)) or n < int(least or 0):
            return None
    return sizes


def _axis_text(axis: str, known: dict[str, int]) -> str:
    """An axis as the error shows it: "N=3" once N is bound, else as written ("N", "N>=2", "2")."""
    name = axis.partition(">=")[0]
    return f"{name}={known[name]}" if name in known else axis


def _kind(dtype: np.dtype) -> str:
    """numpy's kind letter of `dtype`, JAX's extra types (ml_dtypes: bfloat16, float8_*, int4, ...) by their name."""
    if dtype.kind != "V":
        return dtype.kind
    return next((k for prefix, k in (("bfloat", "f"), ("float", "f"), ("uint", "u"), ("int", "i"))
                 if dtype.name.startswith(prefix)), "V")


def _dtype_ok(dtype: np.dtype, want: str) -> bool:
    """Whether `dtype` is one of the " | "-separated kinds (`DTYPE_KINDS`) or numpy dtypes of `want`."""
    for name in want.split("|"):
        name = name.strip()
        if _kind(dtype) in DTYPE_KINDS.get(name, "") or (name not in DTYPE_KINDS and dtype == np.dtype(name)):
            return True
    return False


def _want(alternatives: list[list[str]], known: dict[str, int]) -> str:
    """The shapes of a spec's alternatives as an error shows them: "[N=4, T] or [N=4]"."""
    return " or ".join("[" + ", ".join("..." if a == "*" else _axis_text(a, known) for a in axes) + "]"
                       for axes in alternatives)


def _shape(x, alternatives: list[list[str]], source, field: str, note: str) -> tuple[int, ...]:
    """`x`'s shape; a ragged array-like (a list of arrays of different shapes, which numpy cannot stack) refused
    naming its first item of another shape than the first's."""
    try:
        return tuple(int(v) for v in np.shape(x))
    except ValueError as e:  # numpy: "setting an array element with a sequence ... inhomogeneous shape"
        reason = str(e)
    shapes = [_item_shape(item) for item in x]
    i = next((i for i, s in enumerate(shapes) if s is None or s != shapes[0]), None)
    if i is None:  # not a ragged list: numpy's own words
        raise InputError(source, field, f"an array of shape {_want(alternatives, {})}", reason)
    got = (f"{field}[0] of shape {plain(shapes[0])} and " if i else "") + f"{field}[{i}] " + (
        "ragged" if shapes[i] is None else f"of shape {plain(shapes[i])}")
    raise InputError(source, field, f"all {field} of one size (stacked: shape {_want(alternatives, {})}"
                     f"{' ' + note if note else ''})", got)


def _item_shape(item) -> tuple[int, ...] | None:
    """The shape of one item of a ragged array-like, None when the item is itself ragged."""
    try:
        return tuple(int(v) for v in np.shape(item))
    except ValueError:
        return None


def check_shape(x: npt.ArrayLike, spec: str | Sequence[str | int], source: Source, field: str,
                dims: dict[str, int] | None = None, dtype: str | None = None, note: str = "") -> dict[str, int]:
    """One-line shape (and dtype) check, kornia's `KORNIA_CHECK_SHAPE(x, ["B", "C", "H", "W"])` habit.

    Args:
      x: an array (anything with `.shape` and `.dtype`, or array-like).
      spec: the axes, space-separated ("N K 2") or a list (["B", "C", "H", "W"], ["N", 2]), each a number (that
        size), a name (any size, the same wherever the name recurs, in this call and in `dims`), a name with a
        least size ("N>=2"), or "*" (any number of leading axes, first only). Alternatives are separated by "|"
        ("N | N T": one axis or two); the first that fits binds its names.
      source, field: where `x` came from, for the error.
      dims: sizes already bound by earlier checks of the same call.
      dtype: None (any), a kind of `DTYPE_KINDS` ("float", "int", "uint", "bool", "number": numpy's numbers) or a
        numpy dtype name ("uint8", "float32"); alternatives separated by "|" ("uint8 | float").
      note: words after what is expected in the error (shape or dtype), what the axes mean ("(x, y) pixels").

    Returns:
      The names' sizes (with `dims`'), so that several arrays of one call agree.

    Raises:
      InputError: naming `field`, with the expected and the actual shape (or dtype).

    >>> check_shape(np.zeros((2, 5, 2)), "N K 2", "pck", "pred")
    {'N': 2, 'K': 5}
    >>> check_shape(np.zeros((3, 5, 2)), "N K 2", "pck", "gt", {"N": 2, "K": 5})
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: pck: field 'gt': expected shape [N=2, K=5, 2], got (3, 5, 2)
    >>> check_shape(np.zeros((1, 3, 8, 8), np.uint8), ["B", "C", "H", "W"], "f", "images", dtype="uint8 | float")
    {'B': 1, 'C': 3, 'H': 8, 'W': 8}
    >>> check_shape(np.zeros((4, 2), int), "* 2", "f", "points", dtype="float", note="(x, y) pixels")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: f: field 'points': expected a float array (x, y) pixels, got int64
    >>> check_shape(np.zeros(3), "N T | N", "ridge", "Y", {"N": 4}, note="(a row each)")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: ridge: field 'Y': expected shape [N=4, T] or [N=4] (a row each), got (3,)
    >>> check_shape(np.zeros((1, 3)), "N>=2 D>=1", "ridge", "X")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: ridge: field 'X': expected shape [N>=2, D>=1], got (1, 3)
    """
    alternatives = _axes(spec)
    shape = _shape(x, alternatives, source, field, note)
    for axes in alternatives:
        sizes = _match(axes, shape, dims or {})
        if sizes is not None:
            break
    else:
        raise InputError(source, field, f"shape {_want(alternatives, dims or {})}{' ' + note if note else ''}", shape)
    if dtype is not None:
        got = np.dtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)
        if not _dtype_ok(got, dtype):
            kinds = " or ".join(n.strip() for n in dtype.split("|"))
            raise InputError(source, field, f"a {kinds} array{' ' + note if note else ''}", str(got))
    return sizes


def check_finite(points: npt.ArrayLike, where: npt.ArrayLike, source: Source, field: str, expected: str) -> None:
    """Refuse non-finite points where they must be finite (e.g. ground truth marked visible): one InputError
    naming the first such index of `field` and how many there are.

    Args:
      points: [..., D] coordinates (e.g. [N, K, 2] (x, y)).
      where: bool [...] (points.shape[:-1]): where each point must be finite.
      source, field: where `points` came from, for the error.
      expected: what was expected, in words.

    Returns:
      None.

    >>> check_finite(np.array([[[1.0, np.nan]]]), np.array([[True]]), "gt.npz", "points", "finite where visible")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: gt.npz: field 'points': expected finite where visible, got NaN or inf at \
points[0, 0] (1 point in all)
    """
    bad = np.argwhere(~np.all(np.isfinite(np.asarray(points, np.float64)), axis=-1) & np.asarray(where, bool))
    if len(bad):
        index = ", ".join(str(int(i)) for i in bad[0])
        raise InputError(source, field, expected, f"NaN or inf at {field}[{index}] ({len(bad)} point"
                         f"{'s' if len(bad) > 1 else ''} in all)")


def check_finite_entries(a: npt.ArrayLike, source: Source, field: str,
                         expected: str = "finite numbers (no NaN/inf)") -> None:
    """Refuse an array with NaN or inf anywhere: one InputError naming `field` and how many entries are not finite
    (features, targets, attributes: where the count says more than an index).

    Args:
      a: an array of numbers, any shape (numpy or array-like).
      source, field: where `a` came from, for the error.
      expected: what was expected, in words.

    Returns:
      None.

    >>> check_finite_entries(np.array([[1.0, np.inf], [np.nan, 0.0]]), "ridge", "X")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: ridge: field 'X': expected finite numbers (no NaN/inf), got 2 non-finite \
entries
    """
    a = np.asarray(a)
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    check(bad == 0, source, field, expected, f"{bad} non-finite entries")


def check_flags(flags: npt.ArrayLike, allowed: Sequence[float], source: Source, field: str, expected: str) -> None:
    """Refuse flags (visibility, occlusion) outside the values a format defines: a NaN, a -1 or a 3 where only 0
    and 1 exist would otherwise be cast to bool and read as set. One InputError naming the first such index of
    `field`, its value and how many there are.

    Args:
      flags: numbers, any shape (e.g. [N, K] visibility).
      allowed: the values the format defines (e.g. (0, 1)).
      source, field: where `flags` came from, for the error.
      expected: what was expected, in words.

    Returns:
      None.

    >>> check_flags(np.array([[1.0, 0.0], [-1.0, 1.0]]), (0, 1), "valid.h5", "visible", "0 or 1")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: valid.h5: field 'visible': expected 0 or 1, got -1 at visible[1, 0] (1 \
such in all)
    """
    f = np.asarray(flags, np.float64)
    check_values(f, np.isin(f, np.asarray(allowed, np.float64)), source, field, expected)


def check_values(values: npt.ArrayLike, ok: npt.ArrayLike, source: Source, field: str, expected: str) -> None:
    """Refuse `values` wherever `ok` is False: one InputError naming the first such index of `field`, its value and
    how many there are (`check_flags` for a set of allowed values; a range: `ok = values >= 0`).

    Args:
      values: numbers, any shape.
      ok: bool, values' shape: where a value is acceptable.
      source, field: where `values` came from, for the error.
      expected: what was expected, in words.

    Returns:
      None.
    """
    bad = np.argwhere(~np.asarray(ok, bool))
    if len(bad):
        index = ", ".join(str(int(i)) for i in bad[0])
        got = np.asarray(values)[tuple(bad[0])]
        raise InputError(source, field, expected, f"{got:g} at {field}[{index}] ({len(bad)} such in all)")


def check_class_ids(ids: npt.ArrayLike, num_classes: int, source: Source, field: str, expected: str = "") -> np.ndarray:
    """Class ids as int64, refused (one InputError naming the first few) when any is outside 0..num_classes-1.

    Args:
      ids: integer array-like of any shape (e.g. the non-void pixels of a label map).
      num_classes: C.
      source, field: where `ids` came from, for the error.
      expected: words after "class ids in 0..C-1" in the error (" or 255 (void)").

    Returns:
      int64 array of ids' shape.

    >>> check_class_ids([0, 3, 7], 3, "f", "labels", " or 255 (void)")
    Traceback (most recent call last):
    ...
    convcorr_jax.core.errors.InputError: f: field 'labels': expected class ids in 0..2 or 255 (void), got [3, 7]
    """
    ids = np.asarray(ids).astype(np.int64)
    bad = np.unique(ids[(ids < 0) | (ids >= num_classes)])
    check(bad.size == 0, source, field, f"class ids in 0..{num_classes - 1}{expected}", bad[:5].tolist())
    return ids


def as_float_array(a: npt.ArrayLike) -> np.ndarray:
    """A checked real array (`check_shape`'s "int | float") as floats that neither wrap nor round in a difference:
    float32 and float64 as given, any other real dtype (integers, unsigned ones too, float16, bfloat16) as float64.

    Args:
      a: a real array of any shape (e.g. [N, K, 2] pixel points).

    Returns:
      float32 or float64 array of a's shape (a itself where it already is one).
    """
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
