"""The code of every page (README.md, docs/*.md, eval/*/README.md) names what the code has today.

- Every ```python block compiles, its imports resolve, every dotted name it reads off an imported module exists,
  and every call of one of the project's functions or classes binds to its signature (the number of positional
  arguments and the keyword names). Nothing is run: the blocks that run, on real weights and data, are
  tests/test_readme.py's (README.md, docs/library.md, docs/extending.md); the others (docs/models.md,
  docs/scaling.md, docs/weights.md) name an image, arrays or files of the reader's own. A third-party module
  that is not installed (an optional extra) is left unchecked, never the project's own.
- Every `--flag` of a `convcorr COMMAND ...` line, in a code block or inline code of any page, is a flag of that
  command (tests/test_docs_commands.py runs the command lines of docs/commands.md and the README;
  tests/test_docs_command_list.py parses the papers' READMEs; the prose of the other pages is checked here).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from test_cli_flags import PARSERS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "eval").glob("*/README.md"))]
PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)
PROJECT = ("convcorr_jax", "convcorr_cli", "convcorr_eval", "convcorr_train")
WITH_SUBCOMMANDS = {name.split()[0] for name in PARSERS if " " in name}


def _module(name: str, problems: list[str]):
    """The module `name`; None (and a problem for the project's own) when it does not import."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if name.split(".")[0] in PROJECT:
            problems.append(f"import {name}: {e}")
        return None


def _imports(tree: ast.AST, problems: list[str]) -> dict[str, object]:
    """{name bound by the block's imports: module or object}."""
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = _module(alias.name, problems)
                if module is not None and alias.asname:
                    names[alias.asname] = module
                elif module is not None:
                    names[alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = _module(node.module, problems)
            for alias in node.names if module is not None else ():
                if hasattr(module, alias.name):
                    names[alias.asname or alias.name] = getattr(module, alias.name)
                elif (sub := _module(f"{node.module}.{alias.name}", [])) is not None:
                    names[alias.asname or alias.name] = sub
                else:
                    problems.append(f"from {node.module} import {alias.name}: no such name")
    return names


def _resolve(node: ast.expr, names: dict[str, object], problems: list[str]):
    """The object a name or dotted name of imported things is (None when it is not one)."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names, problems)
        if base is None:
            return None
        if hasattr(base, node.attr):
            return getattr(base, node.attr)
        if inspect.ismodule(base) and (sub := _module(f"{base.__name__}.{node.attr}", [])) is not None:
            return sub
        problems.append(f"{ast.unparse(node)}: no such name")
    return None


def check_block(code: str) -> list[str]:
    """What in one python block names something the code does not have."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return [f"does not compile: {e}"]
    problems: list[str] = []
    names = _imports(tree, problems)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store):
            _resolve(node, names, problems)
        if not isinstance(node, ast.Call):
            continue
        f = _resolve(node.func, names, [])
        if not callable(f) or not str(getattr(f, "__module__", "")).startswith(PROJECT):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            continue
        try:
            inspect.signature(f).bind(*node.args, **{k.arg: k.value for k in node.keywords})
        except TypeError as e:
            problems.append(f"{ast.unparse(node)[:100]}: {e}")
        except ValueError:  # no signature to read
            pass
    return sorted(set(problems))


def test_check_block_finds_what_the_code_lacks():
    assert check_block("from convcorr_jax.weights import load_backbone\nb, p = load_backbone('caffenet', 'random')\n"
                       "import convcorr_jax.pose\nconvcorr_jax.pose.estimate(image, person_boxes=[box])") == []
    assert check_block("from convcorr_jax.weights import no_such_name") == [
        "from convcorr_jax.weights import no_such_name: no such name"]
    assert check_block("import convcorr_jax.pose\nconvcorr_jax.pose.no_such(1)") == [
        "convcorr_jax.pose.no_such: no such name"]
    assert check_block("from convcorr_jax.weights import load_backbone\nload_backbone('caffenet', nope=1)")[0] \
        .startswith("load_backbone('caffenet', nope=1): ")
    assert check_block("import convcorr_jax.no_such_module")[0].startswith("import convcorr_jax.no_such_module")
    assert check_block("import not_installed_extra_xyz\nnot_installed_extra_xyz.f(1)") == []
    assert check_block("def f(:\n") != []


BLOCKS = [(page, i, code) for page in PAGES for i, code in enumerate(PYTHON.findall(page.read_text()))]


def test_the_pages_have_python_blocks():
    assert {p.name for p, _, _ in BLOCKS} >= {"README.md", "library.md", "models.md", "scaling.md", "weights.md"}


@pytest.mark.parametrize("page,i,code", BLOCKS, ids=[f"{p.relative_to(ROOT)}#{i}" for p, i, _ in BLOCKS])
def test_python_block_names_what_the_code_has(page, i, code):
    assert check_block(code) == [], f"{page.relative_to(ROOT)}, python block {i + 1}"


def command_lines(text: str) -> list[str]:
    """The `convcorr ...` lines of a page (code blocks, indented blocks, inline code), `\\`-continued lines joined,
    comments and anything before `convcorr ` left out."""
    text = re.sub(r"\\\n\s*", " ", text)
    found = re.findall(r"`([^`\n]*?(?<![\w/.-])convcorr [^`\n]*)`", text)
    found += [line for line in text.splitlines() if re.match(r"\s*(\$ )?(\S*/)?convcorr ", line)]
    out = []
    for line in found:
        line = re.sub(r"\s+#.*$", "", line)
        out.append(" ".join(line[re.search(r"(?<![\w-])convcorr ", line).end():].split()))
    return out


def unknown_flags(line: str) -> list[str]:
    """The `--flags` of one command line (without `convcorr`) that its command lacks; `launch ... -- COMMAND` checks
    the launched command too. A line naming no command of the parsers is left to test_docs_command_list.py."""
    line, _, launched = line.partition(" -- ")
    tokens = re.sub(r"^--profile(=\S+)?\s*", "", line).split()
    if not tokens:
        return []
    if tokens[0] in WITH_SUBCOMMANDS and len(tokens) > 1:
        names = [f"{tokens[0]} {sub}" for sub in re.split(r"\\?\|", tokens[1])]
    else:
        names = [tokens[0]]
    out = []
    for name in filter(PARSERS.__contains__, names):
        flags = {f for a in PARSERS[name]._actions for f in a.option_strings}  # --backbone-module included
        used = re.findall(r"(?<![\w-])(--[a-z][\w-]*)", " ".join(tokens[1:]))
        out += [f"{name}: {f}" for f in used if f not in flags]
    return out + (unknown_flags(launched) if launched else [])


def test_command_lines_and_flags_are_read():
    text = "Run `convcorr eval flic|pose --model M --nope` or\n\n    .venv/bin/convcorr match a b --points p \\\n" \
           "      --figure f.png   # a comment --not-a-flag\n`convcorr --profile align A B --dense --out D`"
    lines = command_lines(text)
    assert lines == ["eval flic|pose --model M --nope", "--profile align A B --dense --out D",
                     "match a b --points p --figure f.png"]
    assert unknown_flags(lines[0]) == ["eval flic: --nope", "eval pose: --nope"]
    assert unknown_flags(lines[1]) == unknown_flags(lines[2]) == []
    assert unknown_flags("launch -n 2 -- train pose --config tiny --bogus") == ["train pose: --bogus"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_flag_a_page_gives_a_command_is_one_of_its_flags(page):
    lines = command_lines(page.read_text())
    bad = [f for line in lines for f in unknown_flags(line)]
    assert bad == [], f"{page.relative_to(ROOT)} gives commands flags they do not have: {bad}"
