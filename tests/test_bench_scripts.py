"""The scripts in bench/ still run against today's library (the suite never runs the benchmarks themselves: they
take minutes to hours and some need a peer that is installed separately).

- Every bench/*.py compiles, each name it imports from the project (or from another bench script) exists, every
  dotted name it reads off an imported module exists and every call of one of them binds to its signature
  (tests/test_docs_code.py's check of the docs' python blocks, here with bench/ and the golden generators the
  scripts import on the path). Code a script runs in a child process (a string that imports the project) is
  checked the same way.
- The private library names the scripts use are the known ones (`PRIVATE`): a diagnosis or prototype script that
  needs a step the library keeps to itself; anything else uses the public name.
- Every script that prints or writes results prints the reproducibility header (`runinfo.header`: its config,
  seed, versions, devices); the only ones without are the helper modules of `NO_TABLE`, which run and print
  nothing. Every script with the header times itself with `runinfo.timed` and prints its wall time (the one that
  keeps its own clock is in `OWN_WALL_TIME`), and no "Machine:" line it writes is a fixed text.
- `--help` of every script with a `__main__` block answers at once, rc 0, whatever optional peer (torch,
  torchvision, faiss, cyvlfeat, mediapipe) is missing; bench/sift.py without cyvlfeat says in one line what to
  install.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import test_docs_code

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SCRIPTS = sorted(BENCH.glob("*.py"))
HELPERS = [ROOT / "tests" / "golden" / "backbones", ROOT / "tests" / "golden" / "weights"]  # make_golden, ...
LIBRARY = test_docs_code.PROJECT  # convcorr_jax, convcorr_cli, convcorr_eval, convcorr_train
SIBLINGS = tuple(p.stem for p in SCRIPTS) + ("make_golden", "make_caffe_golden")
# (script, library name): private names that a script must call, with why
PRIVATE = {
    # a prototype of RHM with local vote maps, built from RHM's own steps (bench/RESULTS_real.md, round six)
    ("local_hough.py", "convcorr_jax.correspondence.hough._gaussian_filter"),
    ("local_hough.py", "convcorr_jax.correspondence.hough._hough_space"),
    ("local_hough.py", "convcorr_jax.correspondence.hough._offset_bins"),
    # times dense flow stage by stage: the backbone forward alone needs the taps dense_flows reads
    ("flow_dense_stages.py", "convcorr_jax.flow.dense._taps"),
    # read-outs tried on rotated inputs: the model's own input affines, before rotating them
    ("pose_person_tried.py", "convcorr_jax.pose.estimation._input_affines"),
    # records the default's node matches at the carry's inputs and replays its carry on them (round eleven)
    ("pf_willow_carry_models.py", "convcorr_jax.correspondence.frame_transfer._carry"),
}

# scripts that print no table, with why: helper modules that other scripts import, with no __main__ and no print
NO_TABLE = {
    "timing.py": "best_time, the timing loop the JAX benchmarks share",
    "stereo_pairs.py": "layered_pair, the validation scenes that flow_dense_validation.py builds",
}


# scripts with the header that time themselves without `runinfo.timed`, with why (they still print "wall time")
OWN_WALL_TIME = {
    "accelerator.py": "its RESULTS file is rewritten after each stage with the wall time so far (r['wall_s'])",
}


@pytest.fixture
def bench_path(monkeypatch):
    """bench/ and the golden generators on sys.path and in the checker's project; the bench modules imported by
    the check are dropped afterwards (their names, e.g. `pose`, `ridge`, `timing`, are generic)."""
    for folder in (*HELPERS, BENCH):
        monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(test_docs_code, "PROJECT", test_docs_code.PROJECT + SIBLINGS)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in SIBLINGS:
            del sys.modules[name]


def _child_code(tree: ast.AST) -> list[str]:
    """The string constants of a script that are python code importing the project (run in a child process)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "import convcorr" in node.value:
            try:
                ast.parse(node.value)
            except SyntaxError:
                continue
            out.append(node.value)
    return out


# leaf_check.py falls back to runinfo's former module path on trees from before the move to core (what it is for):
# importing that name for the check warns as a former name should
@pytest.mark.filterwarnings(r"ignore:convcorr_jax\.runinfo is deprecated:DeprecationWarning")
def test_every_script_names_what_the_code_has(bench_path):
    problems = {}
    for script in SCRIPTS:
        text = script.read_text()
        found = test_docs_code.check_block(text)
        if not found:
            for code in _child_code(ast.parse(text)):
                found += test_docs_code.check_block(code)
        if found:
            problems[script.name] = found
    assert problems == {}


def test_the_check_sees_a_renamed_or_misused_name(bench_path):
    assert test_docs_code.check_block("from timing import best_time\nbest_time(f, reps=3, nope=1)") != []
    assert test_docs_code.check_block("from flow_dense import no_such_name") == [
        "from flow_dense import no_such_name: no such name"]
    assert test_docs_code.check_block("from timing import best_time\nbest_time(f, 1, reps=3)") == []


def _private_names(script: Path) -> set[tuple[str, str]]:
    """(script, module.name) of each private name (`_x`) the script takes from a library module."""
    tree, out = ast.parse(script.read_text()), set()
    names = test_docs_code._imports(tree, [])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(LIBRARY):
            out |= {(script.name, f"{node.module}.{a.name}") for a in node.names if a.name.startswith("_")}
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)):
            mod = names.get(node.value.id)
            if inspect.ismodule(mod) and mod.__name__.startswith(LIBRARY):
                out.add((script.name, f"{mod.__name__}.{node.attr}"))
    return out


def test_private_library_names_are_the_known_ones(bench_path):
    used = set().union(*(_private_names(s) for s in SCRIPTS))
    assert used == PRIVATE, "use the public name, or add the private one to PRIVATE with why the script needs it"


def _calls_header(tree: ast.AST) -> bool:
    """Whether the code calls `runinfo.header`."""
    return _calls_runinfo(tree, "header")


def _calls_runinfo(tree: ast.AST, name: str) -> bool:
    """Whether the code calls `runinfo.<name>` (`runinfo.name(...)` on the module imported under any name, or
    `name(...)` imported from it)."""
    modules, functions = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if node.module.split(".")[-1] == "runinfo" and a.name == name:
                    functions.add(a.asname or a.name)
                elif a.name == "runinfo":
                    modules.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            modules |= {a.asname for a in node.names if a.name.endswith(".runinfo") and a.asname}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in functions:
                return True
            if (isinstance(f, ast.Attribute) and f.attr == name and isinstance(f.value, ast.Name)
                    and f.value.id in modules):
                return True
    return False


def _prints(tree: ast.AST) -> bool:
    """Whether the code calls print or has a `__main__` block."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
               or isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in ast.walk(tree))


def test_every_script_prints_the_run_header():
    """A table without its config, seed, versions and devices cannot be compared with a later run's (knn, svm,
    ridge, the goldens scripts, leaf_check and others printed none)."""
    assert set(NO_TABLE) <= {s.name for s in SCRIPTS}, "NO_TABLE names a script that is gone"
    missing = [s.name for s in SCRIPTS if s.name not in NO_TABLE and not _calls_header(ast.parse(s.read_text()))]
    assert missing == [], "print runinfo.header(title, config, seed) at the start (or add a helper to NO_TABLE)"
    printing = [name for name in NO_TABLE if _prints(ast.parse((BENCH / name).read_text()))]
    assert printing == [], "a script in NO_TABLE prints: give it the header"


def test_the_header_check_sees_a_removed_call():
    calling = [s for s in SCRIPTS if _calls_header(ast.parse(s.read_text()))]
    assert calling
    for script in calling:  # each script's header call(s) renamed away
        assert not _calls_header(ast.parse(script.read_text().replace("header(", "heading("))), script.name
    assert _calls_header(ast.parse("import convcorr_jax.core.runinfo as ri\nri.header('t')"))
    assert _calls_header(ast.parse("from convcorr_jax.core.runinfo import header as h\nh('t')"))
    assert not _calls_header(ast.parse("from convcorr_jax.core import runinfo\nrun_header = runinfo.header"))
    assert not _calls_header(ast.parse("def header(t):\n    return t\nheader('t')"))


def _prints_wall_time(tree: ast.AST) -> bool:
    """Whether the code has an f-string that says "wall time {seconds}" (printed, or in the table it prints)."""
    return any(isinstance(n, ast.JoinedStr) and any(
        isinstance(v, ast.Constant) and v.value.endswith("wall time ") and isinstance(after, ast.FormattedValue)
        for v, after in zip(n.values, n.values[1:])) for n in ast.walk(tree))


def test_every_script_with_the_header_prints_its_wall_time():
    """The closing line of every table: `with runinfo.timed() as total:` ... `print(f"wall time ...")` (backbone,
    bp_speed, the flow_dense scripts, pose, sift, winograd and others printed none)."""
    assert set(OWN_WALL_TIME) <= {s.name for s in SCRIPTS}, "OWN_WALL_TIME names a script that is gone"
    trees = {s.name: ast.parse(s.read_text()) for s in SCRIPTS}
    headed = {name: tree for name, tree in trees.items() if _calls_header(tree)}
    untimed = [name for name, tree in headed.items() if name not in OWN_WALL_TIME
               and not _calls_runinfo(tree, "timed")]
    assert untimed == [], "time the run with runinfo.timed and print its wall time last (or add it to OWN_WALL_TIME)"
    silent = [name for name, tree in headed.items() if not _prints_wall_time(tree)]
    assert silent == [], 'print(f"wall time {total[\'seconds\']:.1f} s") after the timed block'


def test_the_wall_time_check_sees_a_removed_timer():
    timed = [s for s in SCRIPTS if _calls_runinfo(ast.parse(s.read_text()), "timed")]
    assert len(timed) > 20
    for script in timed:  # each script's timer renamed away, or its wall-time line
        text = script.read_text()
        assert not _calls_runinfo(ast.parse(text.replace("timed(", "timer(")), "timed"), script.name
        assert not _prints_wall_time(ast.parse(text.replace("wall time", "took"))), script.name
    assert _calls_runinfo(ast.parse("from convcorr_jax.core.runinfo import header, timed\nwith timed() as w:\n"
                                    "    pass"), "timed")
    assert not _calls_runinfo(ast.parse("import time\nt0 = time.perf_counter()"), "timed")
    assert not _prints_wall_time(ast.parse('print(f"wall {time.perf_counter() - t0:.0f} s")'))
    assert _prints_wall_time(ast.parse('print(f"wall time {total[\'seconds\']:.1f} s")'))


def _fixed_machine_texts(tree: ast.AST) -> list[str]:
    """The strings of the code that write a "Machine:" line with a fixed text after it: each "Machine:" must end
    its piece of an f-string, the machine itself a formatted value (e.g. `runinfo.machine()`)."""
    out, pieces = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            pieces |= {id(v) for v in node.values}
            for v, after in zip(node.values, [*node.values[1:], None]):
                if (isinstance(v, ast.Constant) and "Machine:" in v.value
                        and not (v.value.rstrip().endswith("Machine:") and isinstance(after, ast.FormattedValue))):
                    out.append(ast.unparse(node))
    out += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and "Machine:" in n.value and id(n) not in pieces]
    return out


def test_no_script_writes_a_fixed_machine():
    """bench/backbone.py and bench/pose.py wrote "Machine: 2-core ... CPU, no GPU" into their results whatever
    machine ran them."""
    found = {s.name: m for s in SCRIPTS if (m := _fixed_machine_texts(ast.parse(s.read_text())))}
    assert found == {}, "say the machine with runinfo.machine()"
    assert _fixed_machine_texts(ast.parse('f"Machine: 2-core CPU ({platform.machine()}), no GPU; load {x:.1f}"'))
    assert _fixed_machine_texts(ast.parse('"Machine: 2-core x86_64 CPU, no GPU"'))
    assert not _fixed_machine_texts(ast.parse('f"Machine: {runinfo.machine()} (1-min load average {x:.1f})"'))


def test_pose_results_say_this_machine(bench_path, tmp_path, monkeypatch):
    """bench/pose.py's RESULTS text: this machine's CPU cores and JAX devices (runinfo.machine), not '2-core CPU,
    no GPU' and 'the same 2 cores' (the forward timings are faked here)."""
    import pose
    from convcorr_eval.tompson2015 import tables
    from convcorr_jax.core import runinfo
    from convcorr_train import pose_configs

    monkeypatch.setattr(tables, "forward_times", lambda model: {p: {"Coarse-Model": 1.0} for p in (4, 8, 16)})
    out = tmp_path / "RESULTS_pose.md"
    args = pose.argparse.Namespace(out=str(out), config="default", stage=3, steps=2)
    rows = [{"devices": 1, "images_s": 2.0, "step_s": 4.0, "compile_s": 1.0}]
    pose.write_results(args, pose_configs.get_config("default"), rows, 0.5)
    text = out.read_text()
    assert f"Machine: {runinfo.machine()};" in text
    assert f"(the same {os.cpu_count()} CPU cores)" in text and "2-core" not in text and "no GPU" not in text


def test_cascade_diagnosis_json_carries_config_and_versions(bench_path, tmp_path, monkeypatch):
    """--json was written with Path.write_text (not atomic: a half-written file on a crash; no missing folder
    made) and held the results alone, without the config and versions the header printed."""
    import cascade_diagnosis
    from convcorr_jax.core import runinfo

    monkeypatch.setattr(cascade_diagnosis, "diagnose", lambda run, root, split: {"run": run, "seconds": 1.5})
    out = tmp_path / "new" / "diagnosis.json"
    assert cascade_diagnosis.main(["--run", "r", "--root", "flic", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["run"] == "r" and rec["seconds"] == 1.5 and rec["versions"] == runinfo.versions()
    assert rec["config"] == {"run": "r", "root": "flic", "split": "val", "json": str(out)}


def test_ridge_out_carries_the_header(bench_path, tmp_path, monkeypatch, capsys):
    """--out wrote the table and machine alone: no config, seed or versions in the file."""
    import ridge
    from convcorr_jax.core import runinfo

    row = {"n": 8, "d": 4, "T": 2, "ratio": 0.5, "route": "eig", "ours_s": 1.0, "ours_first_call_s": 2.0,
           "sklearn_s": 2.0, "lam_ours": 0.1, "lam_sklearn": 0.1, "equal_lambda": True, "pred_rel_err": 0.0,
           "coef_rel_err": 0.0, "cv_err_rel_diff": 0.0, "load": (0.5, 0.5)}
    monkeypatch.setattr(ridge, "bench", lambda n, d, t, lambdas, method: dict(row))
    out = tmp_path / "ridge.md"
    assert ridge.main(["--quick", "--only", "A", "--out", str(out)]) == 0
    text = out.read_text()
    header = runinfo.header("bench: ridge CV, ours vs scikit-learn GridSearchCV(Ridge)",
                            {"quick": True, "only": "A", "out": str(out), "seg_n": 4000, "seg_d": 2048,
                             "method": "auto"}, 0)
    assert text.startswith(f"# Ridge CV benchmark\n\n```\n{header}\n```\n")
    assert "| A | 8 | 4 | 2 | **0.500** |" in text
    assert capsys.readouterr().out.count(header) == 1


def _main_scripts() -> list[Path]:
    return [s for s in SCRIPTS if 'if __name__ == "__main__":' in s.read_text()]


def _missing_top_level_module(script: Path) -> str | None:
    """A third-party module the script imports at its top level that is not installed, else None."""
    for node in ast.parse(script.read_text()).body:
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for mod in mods:
            top = mod.split(".")[0]
            if top in SIBLINGS or top in sys.stdlib_module_names:
                continue
            if importlib.util.find_spec(top) is None:
                return top
    return None


@pytest.mark.slow  # about 40 interpreters importing JAX: ~100 s on 2 CPU cores
@pytest.mark.parametrize("script", _main_scripts(), ids=lambda p: p.name)
def test_help_answers_without_running(script):
    if (missing := _missing_top_level_module(script)) is not None:
        pytest.skip(f"{script.name} imports {missing} at its top level, not installed here")
    r = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    first = ast.get_docstring(ast.parse(script.read_text())).splitlines()[0]
    assert "Traceback" not in r.stderr
    assert r.stdout.startswith("usage:") or r.stdout.startswith(first), "--help printed no usage: it ran the script"


def test_sift_without_cyvlfeat_says_what_to_install():
    if importlib.util.find_spec("cyvlfeat") is not None:
        pytest.skip("cyvlfeat is installed here")
    r = subprocess.run([sys.executable, str(BENCH / "sift.py")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "bench/sift.py needs cyvlfeat: apt-get install libvlfeat-dev; pip install --no-build-isolation cyvlfeat"]


# np.savez of a file in a temporary folder (a child process's input or output): never a file a later run reads
TEMPORARY_SAVEZ = {"effnet_goldens.py": 2, "pose_blazepose.py": 1}
_WRITERS = {("json", "dump"), ("np", "savez"), ("np", "savez_compressed"), ("np", "save")}


def test_bench_files_are_written_atomically():
    """A script's JSON and .npz files (results, and the caches a second run reads: --cache, feature folders) go
    through `io.write_text` / `io.write_json` / `io.save_npz`, which rename a whole file into place: json.dump or
    np.savez into the file itself left half a file when the run stopped, and the next run read it and failed."""
    found = {}
    for path in SCRIPTS:
        for node in ast.walk(ast.parse(path.read_text())):
            f = node.func if isinstance(node, ast.Call) else None
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in _WRITERS:
                found[path.name] = found.get(path.name, 0) + 1
    assert found == TEMPORARY_SAVEZ
