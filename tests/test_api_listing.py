"""docs/library.md's last section lists the library's API, package by package: every public function and class of
every module, under the module's dotted name. This test keeps it equal to the code; run this file to write it:

    python tests/test_api_listing.py        # rewrites the section from its heading to the end of docs/library.md
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from overload_stubs import is_overload_stub

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "convcorr_jax"
PAGE = ROOT / "docs" / "library.md"
HEADING = "## The API, package by package"
INTRO = """\
Every public function (`name()`) and class of the library, module by module; a package's own line gives the names
its `__init__.py` re-exports (`from convcorr_jax.pose import estimate`). Anything else is private (`_name`) and may
change without notice. `tests/test_api_listing.py` keeps this list equal to the code (`python
tests/test_api_listing.py` writes it)."""


def _first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, on one line (empty when there is none)."""
    text = " ".join((doc or "").split())
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def _public(tree: ast.Module) -> list[str]:
    """The public top-level functions (`name()`) and classes of a module, in file order; an overloaded function once
    (its implementation, not its `@overload` stubs)."""
    return [f"{n.name}()" if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) else n.name
            for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and not n.name.startswith("_") and not is_overload_stub(n)]


def _exported(tree: ast.Module) -> list[str]:
    """The names an `__init__.py`'s literal `__all__` lists (empty when it has none or computes it)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:
                return []
    return []


def api_section() -> str:
    """The section as it should read: a heading per package, a line per module with public names."""
    lines = [HEADING, "", INTRO]
    for init in sorted(LIBRARY.rglob("__init__.py")):
        package = init.parent
        dotted = ".".join(package.relative_to(ROOT).parts)
        tree = ast.parse(init.read_text())
        lines += ["", f"### `{dotted}`", "", _first_sentence(ast.get_docstring(tree)) or "(no summary)", ""]
        if exported := _exported(tree):
            lines.append(f"- the package: {', '.join(f'`{n}`' for n in exported)}")
        for path in sorted(package.glob("*.py")):
            if path.name == "__init__.py":
                continue
            names = _public(ast.parse(path.read_text()))
            if names:
                lines.append(f"- `{path.stem}`: {', '.join(f'`{n}`' for n in names)}")
    return "\n".join(lines) + "\n"


def _page_parts() -> tuple[str, str]:
    """docs/library.md before the section, and the section (empty when the page has none)."""
    text = PAGE.read_text()
    at = text.find(HEADING)
    return (text, "") if at < 0 else (text[:at], text[at:])


def test_the_api_listing_is_the_code():
    """Every public function and class of the library is listed under its module, and nothing else is: a new public
    name, a rename or a name made private changes the list (run this file to rewrite it)."""
    _, section = _page_parts()
    assert section, f"docs/library.md has no {HEADING!r} section: run python tests/test_api_listing.py"
    assert section == api_section(), "docs/library.md's API listing differs from the code: run " \
                                     "python tests/test_api_listing.py and review the diff"


def test_the_listing_names_each_package_and_the_main_calls():
    """The listing has a heading for every package folder, and the calls the README starts from are in it."""
    section = api_section()
    for init in LIBRARY.rglob("__init__.py"):
        assert f"### `{'.'.join(init.parent.relative_to(ROOT).parts)}`" in section
    for call in ("`transfer_points()`", "`estimate()`", "`check_shape()`", "`align_images()`", "`load_backbone()`"):
        assert call in section, call


def test_an_overloaded_function_is_listed_once():
    """`@overload` stubs are no names of their own: the function is listed once, where its implementation is; every
    other public def and class is listed, private ones are not."""
    tree = ast.parse("from typing import overload\n\n@overload\ndef f(x: int) -> int: ...\n@overload\n"
                     "def f(x: str) -> str: ...\ndef f(x): return x\ndef g(): pass\ndef _h(): pass\nclass K: pass\n")
    assert _public(tree) == ["f()", "g()", "K"]


if __name__ == "__main__":
    before, _ = _page_parts()
    PAGE.write_text(before.rstrip("\n") + "\n\n" + api_section())
    sys.exit(0)
