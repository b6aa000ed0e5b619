"""No module of the package imports or runs pip: weight files come by plain HTTP (`convcorr_jax.weights.sources`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("convcorr_jax", "eval", "train", "convcorr_cli")
RUNNERS = {"run", "call", "check_call", "check_output", "Popen", "system", "popen", "getoutput", "getstatusoutput",
           "execv", "execvp", "execvpe", "execl", "execlp", "spawnv", "spawnvp", "create_subprocess_exec",
           "create_subprocess_shell"}
PIP_WORD = re.compile(r"(^|[\s/])pip3?(\.exe)?($|\s)")


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_pip(value: object) -> bool:
    return isinstance(value, str) and bool(PIP_WORD.search(value))


def pip_uses(source: str, filename: str = "<source>") -> list[str]:
    """'file:line what' of every import of pip / pip.*, `importlib.import_module("pip...")`, command list
    literal holding "pip", and process call with a pip command among its arguments."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] == "pip"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pip" and not node.level:
            found.append(f"{where} from {node.module} import")
        elif isinstance(node, (ast.List, ast.Tuple)):
            if any(isinstance(e, ast.Constant) and e.value in ("pip", "pip3") for e in node.elts):
                found.append(f"{where} a command list with pip")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            args = [c.value for a in node.args for c in ast.walk(a) if isinstance(c, ast.Constant)]
            if name == "import_module" and args and isinstance(args[0], str) and args[0].split(".")[0] == "pip":
                found.append(f"{where} import_module({args[0]!r})")
            elif name in RUNNERS and any(_is_pip(v) for v in args):
                found.append(f"{where} {name}(... pip ...)")
    return found


def test_the_checker_finds_pip():
    old = ('import subprocess, sys\nfrom pip._internal.models.index import PyPI\nimport pip\n'
           'cmd = [sys.executable, "-m", "pip", "install", "x"]\nsubprocess.run(cmd)\n'
           'subprocess.run("pip download x", shell=True)\nimportlib.import_module("pip._internal")\n')
    assert len(pip_uses(old)) == 5
    assert pip_uses('files = [Path(d) / "pip" / "pip.conf"]\nlog.info("pip.conf: %s", f)\n') == []


def test_no_module_imports_or_runs_pip():
    files = [f for folder in FOLDERS for f in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 20
    found = [u for f in files for u in pip_uses(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert found == []
