"""The layout rule for array arguments: a library function checks an argument's shape, rank or dtype with one
`errors.check_shape` line, never by hand (`if x.ndim != 4: raise InputError(...)`, `check(x.shape[-1] == 3, ...)`)."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "convcorr_jax"
PROPERTIES = ("ndim", "shape", "dtype")
# calls that give the argument itself, converted or an item of it: `a = np.asarray(x)`, `for i, im in enumerate(xs)`
CONVERSIONS = ("asarray", "asanyarray", "array", "ascontiguousarray", "astype", "atleast_1d", "atleast_2d",
               "atleast_3d", "enumerate", "zip", "list", "tuple")
# "path:function" -> why its hand check stays; "pending": to convert, the module is being changed elsewhere
HAND_CHECKS = {
    "correspondence/warp_projection.py:_init_projection": "the config's dim against the sampled columns' count and "
                                                         "channels: the error names the config field to change (dim), "
                                                         "the columns are drawn by train_projection, not given",
    "pose/training/loop.py:check_inputs": "the config's joint count against its data's: the error names the config "
                                          "fields to change (model.num_joints, augment.flip_perm), not the array",
}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_argument(value: ast.AST, names: set[str]) -> bool:
    """Whether `value` is an argument, an item of one, or a conversion of one (`np.asarray(x)`, `x.astype(...)`)."""
    if isinstance(value, ast.Name):
        return value.id in names
    if isinstance(value, ast.Subscript):
        return _is_argument(value.value, names)
    if isinstance(value, (ast.Tuple, ast.List)):
        return any(_is_argument(v, names) for v in value.elts)
    if isinstance(value, ast.IfExp):
        return _is_argument(value.body, names) or _is_argument(value.orelse, names)
    if isinstance(value, ast.Call):
        func = value.func
        if getattr(func, "id", getattr(func, "attr", None)) not in CONVERSIONS:
            return False
        return (isinstance(func, ast.Attribute) and _is_argument(func.value, names)) or any(
            _is_argument(a, names) for a in value.args)
    return False


def _arguments(fn: ast.FunctionDef) -> set[str]:
    """`fn`'s arguments and the local names bound to one of them (as `_is_argument` reads it)."""
    names = {a.arg for a in fn.args.args + fn.args.kwonlyargs + fn.args.posonlyargs}
    names |= {a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None}
    while True:
        bound = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, (ast.For, ast.comprehension)):
                targets, value = [node.target], node.iter
            else:
                continue
            if _is_argument(value, names):
                bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if bound <= names:
            return names
        names |= bound


def _reads_a_property(test: ast.AST, names: set[str], shapes: set[str]) -> bool:
    """Whether `test` reads an argument's `.ndim`, `.shape` or `.dtype` (`np.shape(x)` too, or a local `shapes`)."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and node.attr in PROPERTIES and _root(node.value) in names:
            return True
        func = getattr(node, "func", None)
        if isinstance(func, ast.Attribute) and func.attr in PROPERTIES and node.args and _root(node.args[0]) in names:
            return True
        if isinstance(node, ast.Name) and node.id in shapes:
            return True
        if getattr(func, "id", None) == "getattr" and len(node.args) >= 2 and _root(node.args[0]) in names \
                and getattr(node.args[1], "value", None) in PROPERTIES:
            return True
    return False


def _raises_input_error(body: list[ast.stmt]) -> bool:
    for node in (n for stmt in body for n in ast.walk(stmt)):
        exc = getattr(node, "exc", None) if isinstance(node, ast.Raise) else None
        func = exc.func if isinstance(exc, ast.Call) else exc
        if getattr(func, "id", getattr(func, "attr", None)) == "InputError":
            return True
    return False


def _hand_checks(path: Path) -> dict[str, list[int]]:
    """`path`'s functions -> the lines of their hand checks: an `if` reading an argument's shape, rank or dtype whose
    body raises InputError, or an `errors.check(condition, ...)` whose condition reads one."""
    found: dict[str, list[int]] = {}
    for fn in ast.walk(ast.parse(path.read_text())):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        names = _arguments(fn)
        shapes = {n.targets[0].id for n in ast.walk(fn) if isinstance(n, ast.Assign) and len(n.targets) == 1
                  and isinstance(n.targets[0], ast.Name) and isinstance(n.value, (ast.Attribute, ast.Call))
                  and getattr(n.value, "attr", getattr(n.value.func, "attr", None) if isinstance(n.value, ast.Call)
                              else None) == "shape" and _reads_a_property(n.value, names, set())}
        for node in ast.walk(fn):
            if isinstance(node, ast.If) and _raises_input_error(node.body):
                test = node.test
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and node.args:
                test = node.args[0]
            else:
                continue
            if _reads_a_property(test, names, shapes):
                found.setdefault(fn.name, []).append(node.lineno)
    return found


def test_no_library_function_checks_an_array_argument_by_hand():
    """Every shape, rank or dtype check of an argument is one `check_shape(x, "N H W 3", source, field, dims,
    dtype=...)` line (cross-array sizes through its named sizes), not an `if ... raise InputError` or `check(...)`."""
    bad, seen = [], set()
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "core":
            continue
        rel = path.relative_to(LIBRARY).as_posix()
        for fn, lines in _hand_checks(path).items():
            seen.add(f"{rel}:{fn}")
            if f"{rel}:{fn}" not in HAND_CHECKS:
                bad += [f"{rel}:{line} ({fn})" for line in lines]
    assert not bad, "shape / rank / dtype checked by hand (use errors.check_shape):\n" + "\n".join(bad)
    stale = [k for k in HAND_CHECKS if k not in seen and (LIBRARY / k.split(":")[0]).exists()]
    assert not stale, f"named hand checks that are gone (drop them from HAND_CHECKS): {stale}"


def test_the_rule_finds_the_usual_hand_checks(tmp_path):
    """The scan sees the patterns it forbids, and passes a `check_shape` line and a bound on another argument."""
    path = tmp_path / "module.py"
    path.write_text('''
def by_if(x, y):
    a = np.asarray(x)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise InputError("f", "x", "[N, H, W, 3]", a.shape)

def by_check(images):
    for i, im in enumerate(images):
        check(im.dtype == np.uint8, "f", f"images[{i}]", "uint8")

def by_shape_local(image):
    shape = np.shape(image)
    check(len(shape) == 2, "f", "image", "[H, W]", shape)

def by_getattr(x):
    if getattr(x, "ndim", 0) != 4:
        raise InputError("f", "x", "[N, H, W, C]", x)

def fine(x, k):
    dims = check_shape(x, "N D", "f", "x")
    check(1 <= k <= dims["N"], "f", "k", "an integer in [1, N]", k)
    y = compute(x)
    if y.shape[0] < 2:
        raise InputError("f", "x", "a grid of >= 2 nodes", y.shape)
''')
    assert _hand_checks(path) == {"by_if": [4], "by_check": [9], "by_shape_local": [13],
                                  "by_getattr": [16]}
