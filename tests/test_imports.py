"""Imports point one way: convcorr_cli -> convcorr_eval -> convcorr_jax. The library has no
import cycle, no argparse and no import of the layers above it; every `convcorr` command runs with JAX's
persistent compilation cache, and the script entry points the README shows still start."""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convcorr_cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = "convcorr_jax"
ABOVE = ("convcorr_eval", "convcorr_cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((ROOT / LIBRARY).rglob("*.py"))}


def _import_nodes(tree: ast.Module, import_time: bool) -> list[ast.stmt]:
    """Import statements of a module: all of them, or (import_time) those outside function and class bodies."""
    if not import_time:
        return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo.extend(n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt))
    return found


def _imported(name: str, path: Path, import_time: bool) -> set[str]:
    """Absolute names a module imports (`from P import m` names the module P.m where m is one)."""
    out = set()
    for node in _import_nodes(ast.parse(path.read_text()), import_time):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = name.split(".")[: None if path.name == "__init__.py" else -1]
            base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
        out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return out


def _library_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_library_import_graph_is_acyclic():
    """No cycle through the imports that run when a module is imported (those in function bodies run later)."""
    graph = {m: {t for t in map(_library_module, _imported(m, p, True)) if t and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            assert state.get(t) != 1, "import cycle: " + " -> ".join(path[path.index(t):] + [m, t])
            if t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m, [])


def test_library_has_no_argparse_and_imports_nothing_above_it():
    """No argparse, and no convcorr_eval / convcorr_cli, in any import of the library (lazy ones
    included) nor as a module name handed to importlib."""
    bad = []
    for name, path in MODULES.items():
        for target in _imported(name, path, import_time=False):
            if target.split(".")[0] in ("argparse", *ABOVE):
                bad.append(f"{path.relative_to(ROOT)} imports {target}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(
                    rf"({'|'.join(ABOVE)})(\.\w+)*", node.value):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
    assert not bad, "\n".join(bad)


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -c code args...` in a fresh interpreter, on the CPU."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ if env is None else env, JAX_PLATFORMS="cpu"))


def test_importing_the_library_loads_nothing_above_it():
    """Every library module imported in one fresh interpreter: none fails, and none pulls in a layer above."""
    r = _python(f"""
        import importlib, pkgutil, sys
        import {LIBRARY}
        names = sorted(m.name for m in pkgutil.walk_packages({LIBRARY}.__path__, "{LIBRARY}."))
        for name in names:
            importlib.import_module(name)
        above = sorted(m for m in sys.modules if m.split(".")[0] in {ABOVE!r})
        assert not above, above
        print(len(names), "modules")
        """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.split()[0]) >= len(MODULES) - 1  # all but the top-level package itself


HOST_STATE = """
    import faulthandler, importlib, json, logging, os, signal, sys, threading, warnings
    import jax, matplotlib, numpy as np

    def state():
        loggers = {n: [l.level, [repr(h) for h in l.handlers], l.propagate, l.disabled]
                   for n, l in logging.root.manager.loggerDict.items() if isinstance(l, logging.Logger)}
        return {"jax.config": {k: repr(v) for k, v in jax.config.values.items()}, "os.environ": dict(os.environ),
                "root logger": [logging.root.level, [repr(h) for h in logging.root.handlers]],
                "logging.disable": logging.root.manager.disable, "loggers": loggers,
                "warnings": [repr(f) for f in warnings.filters] + [repr(warnings.showwarning)],
                "numpy": [repr(np.get_printoptions()), repr(np.geterr())],
                "matplotlib": {k: repr(v) for k, v in dict.items(matplotlib.rcParams)}, "sys.path": list(sys.path),
                "signals": [repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM)],
                "hooks": [repr(h) for h in (sys.excepthook, threading.excepthook, sys.unraisablehook,
                                            sys.displayhook)] + [faulthandler.is_enabled()], "cwd": os.getcwd()}

    before = state()
    for name in sys.argv[1:]:
        importlib.import_module(name)
    after = state()
    changed = {}
    for part, was in before.items():
        now = after[part]
        if isinstance(was, dict):  # a library's logger made by its import (a NullHandler at most) is no change
            keys = [k for k in set(was) | set(now) if was.get(k) != now.get(k) and not (
                part == "loggers" and k not in was and now[k][0] == 0 and all("NullHandler" in h for h in now[k][1]))]
            if keys:
                changed[part] = {k: [was.get(k), now.get(k)] for k in sorted(keys)}
        elif was != now:
            changed[part] = [was, now]
    print(json.dumps(changed))
"""
PACKAGES = ["convcorr_jax"] + [f"convcorr_jax.{p}" for p in ("core", "backbones", "correspondence", "data",
                                                             "features", "flow", "linear", "long2014", "pose",
                                                             "regression", "weights")]


def test_importing_the_library_leaves_the_host_process_as_it_was(tmp_path):
    """The package and each subpackage imported into a program change none of its process-wide settings (JAX's
    config, the environment, logging, warnings filters, NumPy's print options and error handling, matplotlib's
    rcParams, sys.path, signal handlers, exception hooks, the current folder) and write no file (a cache folder)."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KMP_DUPLICATE_LIB_OK", "MPLBACKEND")}
    r = _python(HOST_STATE, *PACKAGES, env=dict(env, HOME=str(home), CONVCORR_CACHE=str(cache),
                                                MPLCONFIGDIR=str(tmp_path / "mpl")))
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.splitlines()[-1]) == {}
    assert not cache.exists() and not any(home.iterdir())


def test_every_command_module_builds_its_parser():
    for name, (module, _) in COMMANDS.items():
        assert module.startswith("convcorr_cli."), name
        parser = argparse.ArgumentParser(prog=f"convcorr {name}")
        importlib.import_module(module).add_arguments(parser)
        assert parser.format_help()


CACHE_CHECK = """
    import jax, json, sys
    from convcorr_cli.main import main
    rc = main(["weights", "inspect", sys.argv[1]])
    jax.jit(lambda x: x * 2 + 1)(jax.numpy.arange(3.0)).block_until_ready()  # compiled after the command
    print(json.dumps({"rc": rc, "dir": jax.config.jax_compilation_cache_dir,
                      "min_secs": jax.config.jax_persistent_cache_min_compile_time_secs,
                      "min_bytes": jax.config.jax_persistent_cache_min_entry_size_bytes}))
"""


def _cache_run(tmp_path: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    r = _python(CACHE_CHECK, str(ROOT / "tests" / "golden" / "weights" / "tiny_legacy.pth"),
                env=dict(base, CONVCORR_CACHE=str(tmp_path), **env))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])


def test_dispatcher_turns_on_the_compilation_cache(tmp_path):
    got = _cache_run(tmp_path)
    assert got["rc"] == 0 and got["dir"] == str(tmp_path / "jax")
    assert got["min_secs"] == 0 and got["min_bytes"] == -1  # CPU compiles (well under a second) are kept too
    assert any((tmp_path / "jax").iterdir()), "no compiled program was written to the cache"


def test_compilation_cache_opt_out(tmp_path):
    got = _cache_run(tmp_path, CONVCORR_NO_COMPILE_CACHE="1")
    assert got["rc"] == 0 and got["dir"] is None and not (tmp_path / "jax").exists()


LIBRARY_CACHE_CHECK = """
    import jax, json, sys
    import convcorr_jax
    folder = convcorr_jax.enable_compile_cache(sys.argv[1] if len(sys.argv) > 1 else None)
    jax.jit(lambda x: x * 3 - 1)(jax.numpy.arange(4.0)).block_until_ready()
    print(json.dumps({"folder": folder, "dir": jax.config.jax_compilation_cache_dir,
                      "min_secs": jax.config.jax_persistent_cache_min_compile_time_secs}))
"""


def test_library_turns_on_the_compilation_cache(tmp_path):
    """`convcorr_jax.enable_compile_cache()`: the default folder, an explicit one, and the opt-out."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    base.pop("CONVCORR_NO_COMPILE_CACHE", None)
    for args, env, want in (((), {}, tmp_path / "jax"), ((str(tmp_path / "mine"),), {}, tmp_path / "mine"),
                            ((), {"CONVCORR_NO_COMPILE_CACHE": "1"}, None)):
        r = _python(LIBRARY_CACHE_CHECK, *args, env=dict(base, CONVCORR_CACHE=str(tmp_path), **env))
        assert r.returncode == 0, r.stderr[-3000:]
        got = json.loads(r.stdout.splitlines()[-1])
        if want is None:
            assert got["folder"] is None and got["dir"] is None
        else:
            assert got["folder"] == got["dir"] == str(want) and got["min_secs"] == 0
            assert any(want.iterdir()), f"no compiled program was written to {want}"


def test_a_compilation_cache_folder_that_cannot_be_made_is_one_input_error(tmp_path):
    import convcorr_jax
    from convcorr_jax.core.errors import InputError

    (tmp_path / "file").write_text("mine")  # a file on the way: NotADirectoryError's traceback before
    with pytest.raises(InputError, match=r"file/jax: field 'path': expected a compilation cache folder"):
        convcorr_jax.enable_compile_cache(tmp_path / "file" / "jax")
    assert (tmp_path / "file").read_text() == "mine"


def test_a_compilation_cache_folder_that_cannot_be_written_is_one_input_error(tmp_path, monkeypatch):
    """A read-only cache whose jax/ folder exists (a shared cache on a cluster): refused in one line naming the way
    out, as when jax/ cannot be made, not a two-line JAX warning for every program compiled."""
    import convcorr_jax
    from convcorr_jax.core import compile_cache
    from convcorr_jax.core.errors import InputError

    folder = tmp_path / "jax"
    folder.mkdir()
    access = os.access  # root writes through permission bits: the read-only mount is what os.access reports
    monkeypatch.setattr(compile_cache.os, "access", lambda p, mode: access(p, mode) and Path(p) != folder)
    with pytest.raises(InputError, match=r"jax: field 'path': .*CONVCORR_NO_COMPILE_CACHE=1.*cannot be written"):
        convcorr_jax.enable_compile_cache(folder)


@pytest.mark.parametrize("argv", [["-m", "convcorr_cli", "run", "--help"], ["-m", "convcorr_cli.launch", "--help"]])
def test_script_entry_points_start(argv):
    """`python -m` entry points of the README: the command, the launcher."""
    r = subprocess.run([sys.executable, *argv], cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS="cpu"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("usage: "), r.stderr[-3000:]


@pytest.mark.slow
def test_command_modules_compile_nothing_when_imported():
    """The dispatcher turns the cache on after importing the command's module: importing compiles nothing."""
    r = _python("""
        import importlib, jax
        events = []
        jax.monitoring.register_event_duration_secs_listener(lambda name, secs, **kw: events.append(name))
        from convcorr_cli.main import COMMANDS
        for module, _ in COMMANDS.values():
            importlib.import_module(module)
        print([e for e in events if "compil" in e])
        """)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr[-3000:]


# the modules of data/ pose inference may import: the package itself and the skeleton definitions (names, flips and
# links of the joints, the left / right words of their names and the checks of these fields: definitions, not
# readers); never a dataset's reader or adapter (flic, flic_people, pose_dataset, pose_sets, lsp, ...)
INFERENCE_DATA_MODULES = {"convcorr_jax.data", "convcorr_jax.data.skeletons", "convcorr_jax.data.keypoint_sides",
                          "convcorr_jax.data.skeleton_checks"}


def test_pose_inference_imports_no_dataset_reader():
    """Estimating from a shipped model (`pose.estimation`, `pose.two_pass` and what they import, the model loaded)
    imports no dataset reader or adapter of data/: what inference needs of a dataset kind travels with the model
    (its skeleton) or is known from its config (`crop_geometry.crop_of`)."""
    r = _python("""
        import sys
        import convcorr_jax.pose.estimation, convcorr_jax.pose.two_pass
        from convcorr_jax.pose import load
        run = load("flic")
        assert run.torso_crops and run.flip is not None
        print(sorted(m for m in sys.modules if m.startswith("convcorr_jax.data")))
        """)
    assert r.returncode == 0, r.stderr[-3000:]
    imported = set(ast.literal_eval(r.stdout.strip().splitlines()[-1]))
    assert imported <= INFERENCE_DATA_MODULES, sorted(imported - INFERENCE_DATA_MODULES)
