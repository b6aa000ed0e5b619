"""Every public top-level function of the library (a `def` not starting with `_`) annotates each parameter and its
return: the package ships `py.typed`, so its hints are part of its API, and `make typecheck` (mypy) checks them at
every call site in the library, the command, the experiments and the training scripts."""

from __future__ import annotations

import ast
from pathlib import Path

from overload_stubs import is_overload_stub

LIBRARY = Path(__file__).resolve().parents[1] / "convcorr_jax"


def incomplete(tree: ast.Module) -> list[str]:
    """The public top-level functions of a module with a parameter or the return not annotated, as
    "name(param, ..., -> return)" naming what lacks a hint. An overloaded function's `@overload` stubs are checked
    as well as its implementation (their hints are the ones its callers are checked against), a stub named
    "name(...) in an @overload stub"."""
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
            continue
        a = node.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []),
                  *([a.kwarg] if a.kwarg else [])]
        bare = [p.arg for p in params if p.annotation is None] + (["-> return"] if node.returns is None else [])
        if bare:
            out.append(f"{node.name}({', '.join(bare)})" + (" in an @overload stub" if is_overload_stub(node) else ""))
    return out


def test_every_public_function_of_the_library_is_annotated():
    bad = {str(p.relative_to(LIBRARY.parent)): found for p in sorted(LIBRARY.rglob("*.py"))
           if (found := incomplete(ast.parse(p.read_text(), str(p))))}
    assert not bad, "public functions without full type hints:\n" + "\n".join(f"{k}: {v}" for k, v in bad.items())


def test_the_check_finds_a_parameter_or_a_return_without_a_hint():
    tree = ast.parse("def f(a: int, b, *c, d: int = 1, **e) -> int: ...\n"
                     "def g(a: int): ...\ndef h(a: int) -> None: ...\ndef _private(a): ...\n")
    assert incomplete(tree) == ["f(b, c, e)", "g(-> return)"]


def test_the_check_reads_overload_stubs_and_the_implementation():
    tree = ast.parse("from typing import overload\n\n@overload\ndef f(a: int) -> int: ...\n@overload\n"
                     "def f(a) -> str: ...\ndef f(a: int | str) -> int | str: return a\n\n@overload\n"
                     "def g(a: int) -> int: ...\ndef g(a): return a\n")
    assert incomplete(tree) == ["f(a) in an @overload stub", "g(a, -> return)"]
