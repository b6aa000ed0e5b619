"""What the source-reading rules (`test_layout.py`, `test_api_listing.py`, `test_public_annotations.py`) make of
`typing.overload`: a def decorated `@overload` is a typed signature for the type checker, not a function of its own.
It needs no docstring, is not listed or counted as a second definition of its name, and its size is not a
function's; the implementation that follows the stubs is the function those rules read."""

from __future__ import annotations

import ast


def is_overload_stub(node: ast.AST) -> bool:
    """Whether `node` is a def decorated `@overload` (or `@typing.overload`, `@t.overload`).

    Args:
      node: any node of a parsed module.

    Returns:
      True for an overload stub, False for anything else (the implementation included).
    """
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    names = {d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else None
             for d in node.decorator_list}
    return "overload" in names
