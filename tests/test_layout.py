"""The layout rule: the library holds methods only; every package folder is installed."""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from overload_stubs import is_overload_stub

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"convcorr_jax": "convcorr_jax", "convcorr_train": "train", "convcorr_eval": "eval",
                "convcorr_cli": "convcorr_cli"}


def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing from pyproject: {sorted(found - listed)}; stale: {sorted(listed - found)}"


def test_method_modules_hold_no_report_code():
    """No print, matplotlib or published numbers anywhere in the library (tracked or new files): printing and
    command lines live in `convcorr_cli`, reports and figures in `convcorr_eval`."""
    out = subprocess.run(["git", "grep", "--untracked", "-nE", r"matplotlib|PAPER_|\bprint\(", "--", "convcorr_jax"],
                         cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    assert not out, "\n".join(out)


def test_init_files_only_reexport():
    for init in (ROOT / "convcorr_jax").rglob("__init__.py"):
        src = init.read_text()
        assert not re.search(r"^(def|class) ", src, re.M), f"{init.relative_to(ROOT)} defines code"


# --- module sizes, import directions, console output, constants, docs/layout.md --------------------------------

LIBRARY = ROOT / "convcorr_jax"
MAX_LINES = 450
# modules allowed over MAX_LINES, each with its reason
LONG_MODULES = {
    "backbones/imagenet_classes.py": "a data table: the 1000 ImageNet class names",
}
# the library's layers, bottom to top: a package imports only its own layer's foundation and the layers below
LAYERS = (
    {"core", "__init__"},
    {"backbones"},
    {"weights"},
    {"data"},
    {"features"},
    {"flow", "linear"},
    {"correspondence", "long2014", "regression", "pose"},
)
ABOVE_LIBRARY = ("convcorr_eval", "convcorr_cli", "eval", "train", "convcorr_train")


def test_folders_show_the_layers():
    """The package root holds packages only (and its `__init__.py`): the foundation modules live in `core/`, and
    every folder of the library is one unit of `LAYERS`, so a module's floor is its folder's."""
    loose = sorted(p.name for p in LIBRARY.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules loose at the root of convcorr_jax/ (a foundation module belongs in core/): {loose}"
    folders = {p.parent.name for p in LIBRARY.glob("*/__init__.py")}
    units = set().union(*LAYERS) - {"__init__"}
    assert folders == units, f"folders in no layer: {sorted(folders - units)}; layers with no folder: " \
                             f"{sorted(units - folders)}"


# prefixes that were subpackages in disguise, and the subpackage each group lives in now
GROUPED = {"pose": {"spatial_": "spatial", "train": "training", "run_": "training", "onnx_": "export"}}


def test_grouped_modules_live_in_their_subpackages():
    """No module of a package carries a prefix whose group is a subpackage (`pose/spatial_config.py` is
    `pose/spatial/config.py`), and each of those subpackages holds modules."""
    bad = []
    for package, groups in GROUPED.items():
        for path in (LIBRARY / package).glob("*.py"):
            bad += [f"{package}/{path.name} (its group: {package}/{sub}/)" for prefix, sub in groups.items()
                    if path.stem.startswith(prefix)]
        for sub in set(groups.values()):
            if len([p for p in (LIBRARY / package / sub).glob("*.py") if p.name != "__init__.py"]) < 2:
                bad.append(f"{package}/{sub}/ holds fewer than two modules")
    assert not bad, "\n".join(bad)


def _layer(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at any depth of its code (lazy imports included)."""
    import ast

    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def _unit(module: str) -> str | None:
    """The library unit of a module name ("convcorr_jax.flow.bp" -> "flow", "convcorr_jax.core.io" -> "io")."""
    parts = module.split(".")
    if parts[0] != "convcorr_jax":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _library_files() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def test_library_modules_are_short_or_named():
    long = {str(p.relative_to(LIBRARY)): n for p in _library_files()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    unnamed = {k: v for k, v in long.items() if k not in LONG_MODULES}
    assert not unnamed, f"library modules over {MAX_LINES} lines (split them, or name them with a reason): {unnamed}"
    stale = set(LONG_MODULES) - set(long)
    assert not stale, f"named long modules that are no longer long (drop them from LONG_MODULES): {stale}"


MAX_FUNCTION_LINES = 60  # a function's lines, its docstring not counted
# folders whose functions may be longer, each with its reason
LONG_FUNCTION_FOLDERS = {
    "data/synthetic/": "drawing recipes: a figure's parts drawn one after another, and the writers of its files",
}
# functions allowed over MAX_FUNCTION_LINES elsewhere ("module.py:function"), each with its reason
LONG_FUNCTIONS = {
    "data/flic.py:load_flic": "one reader: examples.mat's fields, its splits, joints and image scales in file order",
    "data/mpii_release.py:load_mpii_release":
        "one reader: the release .mat's struct quirks, handled where they are read",
    "data/voc_keypoints.py:load_voc_keypoints": "one reader: the class folders, VOC boxes and image sets together",
    "data/voc_keypoints.py:read_keypoint_xml": "one reader: the fields of a Bourdev keypoint XML file in file order",
    "weights/fetch.py:_fetch": "one transfer: resume, stream, verify and rename share the partial file's state",
    "weights/torch_pickle.py:_read_legacy": "one reader: the legacy torch format's records in the order they come",
}


def _function_lengths(files: list[Path] | None = None, base: Path = LIBRARY) -> dict[str, int]:
    """"module.py:function" -> its lines without its docstring, for every function of `files` (default: the
    library's; nested ones under their own name; `@overload` stubs left out: the implementation is the function),
    the module named relative to `base`."""
    import ast

    out = {}
    for path in _library_files() if files is None else files:
        rel = str(path.relative_to(base))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not is_overload_stub(node):
                n = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                        isinstance(first.value.value, str):
                    n -= first.end_lineno - first.lineno + 1
                key = f"{rel}:{node.name}"
                out[key] = max(n, out.get(key, 0))
    return out


def test_library_functions_are_short_or_named():
    long = {k: n for k, n in _function_lengths().items() if n > MAX_FUNCTION_LINES}
    unnamed = {k: n for k, n in long.items()
               if k not in LONG_FUNCTIONS and not k.startswith(tuple(LONG_FUNCTION_FOLDERS))}
    assert not unnamed, (f"library functions over {MAX_FUNCTION_LINES} lines without their docstring (shorten them, "
                         f"or name them with a reason): {unnamed}")
    stale = set(LONG_FUNCTIONS) - set(long)
    assert not stale, f"named long functions that are no longer long (drop them from LONG_FUNCTIONS): {stale}"


# the code above the library keeps the same sizes: the experiments, training and the command line
ABOVE_FOLDERS = ("eval", "train", "convcorr_cli")
NOT_YET_SPLIT = "over the limit when the size checks came to eval/: to be split along a seam of its own"
# their modules allowed over MAX_LINES ("folder/module.py"), each with its reason
LONG_ABOVE_MODULES: dict[str, str] = {}
# their functions allowed over MAX_FUNCTION_LINES ("folder/module.py:function"), each with its reason
LONG_ABOVE_FUNCTIONS = {
    "eval/razavian2015/flic_joints.py:section": NOT_YET_SPLIT,
    "eval/razavian2015/landmarks.py:section": NOT_YET_SPLIT,
    "eval/razavian2015/rgb_segmentation.py:section": NOT_YET_SPLIT,
    "eval/tompson2015/tables.py:evaluate_run": NOT_YET_SPLIT,
    "convcorr_cli/pose.py:add_arguments": "one parser: the flags of `convcorr pose`, in the order its --help shows",
}


def _above_files() -> list[Path]:
    return sorted(p for folder in ABOVE_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def test_modules_above_the_library_are_short_or_named():
    """The experiments, training and the command line keep modules under MAX_LINES as the library does; the ones
    over it are named, each with its reason."""
    long = {str(p.relative_to(ROOT)): n for p in _above_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    unnamed = {k: v for k, v in long.items() if k not in LONG_ABOVE_MODULES}
    assert not unnamed, f"modules over {MAX_LINES} lines (split them, or name them with a reason): {unnamed}"
    stale = set(LONG_ABOVE_MODULES) - set(long)
    assert not stale, f"named long modules that are no longer long (drop them from LONG_ABOVE_MODULES): {stale}"


def test_functions_above_the_library_are_short_or_named():
    """The experiments', training's and the command line's functions keep under MAX_FUNCTION_LINES (without their
    docstring) as the library's do; the ones over it are named, each with its reason."""
    long = {k: n for k, n in _function_lengths(_above_files(), ROOT).items() if n > MAX_FUNCTION_LINES}
    unnamed = {k: n for k, n in long.items() if k not in LONG_ABOVE_FUNCTIONS}
    assert not unnamed, (f"functions over {MAX_FUNCTION_LINES} lines without their docstring (shorten them, or name "
                         f"them with a reason): {unnamed}")
    stale = set(LONG_ABOVE_FUNCTIONS) - set(long)
    assert not stale, f"named long functions that are no longer long (drop them from LONG_ABOVE_FUNCTIONS): {stale}"


def test_no_upward_import_of_any_kind():
    """The library never imports the experiments or the command line; within it, no unit imports a layer above its
    own, and the methods (correspondence, long2014, regression, pose) never import each other. The experiments never
    import the command line; training (train/) imports neither the experiments nor the command line."""
    bad = []
    for path in _library_files():
        rel = path.relative_to(LIBRARY)
        me = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module in _imports(path):
            if module.split(".")[0] in ABOVE_LIBRARY:
                bad.append(f"{rel}: {module}")
            unit = _unit(module)
            if unit is None or unit == me or unit not in set().union(*LAYERS):
                continue
            if _layer(unit) > _layer(me) or (_layer(unit) == _layer(me) and _layer(me) > 0):
                bad.append(f"{rel} ({me}) imports {module} ({unit})")
    for path in sorted((ROOT / "eval").rglob("*.py")):
        bad += [f"{path.relative_to(ROOT)}: {m}" for m in _imports(path) if m.split(".")[0] == "convcorr_cli"]
    for path in sorted((ROOT / "train").rglob("*.py")):  # training sits on the library, below the experiments
        bad += [f"{path.relative_to(ROOT)}: {m}" for m in _imports(path)
                if m.split(".")[0] in ("convcorr_cli", "convcorr_eval")]
    assert not bad, "\n".join(sorted(set(bad)))


def _module_files() -> dict[str, Path]:
    """Every module of the four packages by its dotted name (a package by its own name)."""
    out = {}
    for name, folder in PACKAGE_DIRS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [name, *path.relative_to(ROOT / folder).with_suffix("").parts]
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the four packages it imports, at any depth of its code (function bodies included):
    `from P import m` is the module P.m where m is one, else P. A module's import of a package holding it is no
    edge: Python has initialised that package before the module runs."""
    import ast

    files = _module_files()
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names)
        graph[name] = {t for t in targets if t in files and t != name and not name.startswith(f"{t}.")}
    return graph


# correspondence/: the method
POINT_TRANSFER = ("points", "point_config", "frames", "frame_transfer", "matching", "hough", "optimal_transport")
LONG_PROTOCOLS = ("retrieval_transfer", "locality", "classification", "prediction", "prediction_config",
                  "keypoint_detectors")  # long2014/: Long et al.'s


def test_point_transfer_imports_nothing_of_long_et_als_protocols():
    """The general point-transfer method reaches none of Long et al.'s protocol modules through any chain of
    imports (function bodies included); shared helpers live below both (e.g. `features.sift.sift_bin_size`)."""
    graph = _import_graph()
    protocols = {f"convcorr_jax.long2014.{m}" for m in LONG_PROTOCOLS} | {"convcorr_jax.long2014"}
    bad = []
    for m in POINT_TRANSFER:
        seen, todo = set(), [f"convcorr_jax.correspondence.{m}"]
        while todo:
            for t in graph[todo.pop()] - seen:
                seen.add(t)
                todo.append(t)
        bad += [f"{m} -> {t}" for t in sorted(seen & protocols)]
    assert not bad, "point transfer imports Long et al.'s protocols:\n" + "\n".join(bad)


# pose/: the training modules (the loop writes checkpoints) and the inference modules (export, loading, estimation,
# whole frames); the forward pass (`predict`), the model, its data and the spatial model are shared below both
POSE_INFERENCE = ("two_pass", "estimation", "loaded_model", "shipped")  # with every module of pose/export/


def _pose_modules(folder: str) -> set[str]:
    """The dotted names of the modules in `convcorr_jax/pose/<folder>/`."""
    return {f"convcorr_jax.pose.{folder}.{p.stem}" for p in (LIBRARY / "pose" / folder).glob("*.py")
            if p.name != "__init__.py"}


def _reached(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` reaches through any chain of imports."""
    seen, todo = set(), [start]
    while todo:
        for t in graph[todo.pop()] - seen:
            seen.add(t)
            todo.append(t)
    return seen


def test_pose_training_imports_no_inference_module():
    """No pose training module reaches an inference module through any chain of imports (function bodies
    included): the training modules are the folder `pose/training/`; the export step that makes a run folder a model
    (`pose/export/`, `model_folder.write_stage`) is passed to the loop by its caller (`convcorr train pose`), and a
    training run never reads its data again through inference code."""
    graph = _import_graph()
    training = _pose_modules("training")
    inference = {f"convcorr_jax.pose.{m}" for m in POSE_INFERENCE} | _pose_modules("export")
    assert inference <= set(graph) and len(training) >= 6, sorted(inference - set(graph))
    bad = [f"{m} -> {t}" for m in sorted(training) for t in sorted(_reached(graph, m) & inference)]
    assert not bad, "pose training imports inference modules:\n" + "\n".join(bad)


def test_no_import_cycle_at_any_depth():
    """No two modules import each other through any chain, counting the imports inside functions (lazy imports
    hide a cycle until the function runs; tests/test_imports.py checks those that run at import time)."""
    graph = _import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def strongly_connected(m: str) -> None:  # Tarjan's algorithm: every cycle lies in one component
        index[m] = low[m] = len(index)
        stack.append(m)
        for t in sorted(graph[m]):
            if t not in index:
                strongly_connected(t)
                low[m] = min(low[m], low[t])
            elif t in stack:
                low[m] = min(low[m], index[t])
        if low[m] == index[m]:
            part = stack[stack.index(m):]
            del stack[stack.index(m):]
            if len(part) > 1:
                cycles.append(" <-> ".join(sorted(part)))

    for m in sorted(graph):
        if m not in index:
            strongly_connected(m)
    assert not cycles, "import cycles (modules that import each other, lazily or not):\n" + "\n".join(cycles)


def test_no_console_output_in_the_library():
    """No print and no tqdm.write in the library: messages go through `logging` (or a callback the command
    line supplies)."""
    out = subprocess.run(["git", "grep", "--untracked", "-nE", r"\bprint\(|tqdm\.write|\.write\(f?\"\[",
                          "--", "convcorr_jax"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    assert not out, "\n".join(out)


# Long et al.'s units (`convcorr_jax.core.long_frame`): a number 500 on a line about a box, side or frame, or 512.0 on a
# line about a feature norm, anywhere but there
FRAME_LINE = re.compile(r"box|side|frame|paper|/ *$")
NORM_LINE = re.compile(r"norm")
# definitions with one home: (pattern, the one file allowed to hold it)
ONE_HOME = {
    r"torso=\(0, 7\)": "convcorr_jax/data/skeletons.py",  # FLIC's torso normaliser (lsho - rhip)
    r"^def split_indices\b": "convcorr_jax/data/flic_people.py",  # FLIC's train / validation split of its frames
    r"^def movie_split\b": "convcorr_jax/data/flic_split.py",  # the split by movie
    r"\bpool \* 2 \*\* ": "convcorr_jax/pose/model_config.py",  # the input-size multiple (`ModelConfig.size_multiple`)
    r"repeat\(\w+\[-1:\]": "convcorr_jax/core/parallel.py",  # last-batch padding (`parallel.pad_rows`)
    # the point-transfer methods, BP flow an entry beside the matchers (`point_config.TRANSFER_METHODS`): their table,
    # its entries and BP's default grid are written there alone, read by name everywhere else
    r"^class TransferMethod\b|\bTransferMethod\(": "convcorr_jax/correspondence/point_config.py",
    r"^TRANSFER_METHODS\b|^BP_GRID\b": "convcorr_jax/correspondence/point_config.py",
}
# the names this release's renames gave (CHANGELOG): each defined at the top level of one library module alone
RENAMED_TO = ("PoseModel", "LoopState", "FRAME_TEST_TIME", "FRAME_TEST_TIME_CROP", "CROP_TEST_TIME", "SCORERS",
              "TransferMethod", "TRANSFER_METHODS", "MOVED_MODULES")


def test_each_new_name_has_one_home():
    """Every name a rename of this release gave (`RENAMED_TO`) is defined (def, class or assignment at the top level)
    in exactly one library module; the others import it."""
    defined = _top_level_definitions()
    homes = {name: [m for m in defined.get(name, []) if m.startswith("convcorr_jax")] for name in RENAMED_TO}
    bad = {name: where for name, where in homes.items() if len(where) != 1}
    assert not bad, f"new names defined in no module or in more than one: {bad}"


CODE_FOLDERS = ("convcorr_jax", "eval", "convcorr_cli")


def _code_files() -> list[Path]:
    return sorted(p for folder in CODE_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def test_each_rule_has_one_home():
    """Long et al.'s 500 px frame and feature norm 512, FLIC's split and torso normaliser, the input-size multiple,
    last-batch padding and the point-transfer method table are each written in one module and imported where
    used."""
    import ast

    bad = []
    for path in _code_files():
        rel = str(path.relative_to(ROOT))
        src = path.read_text()
        lines = src.splitlines()
        for node in ast.walk(ast.parse(src)):
            number = isinstance(node, ast.Constant) and type(node.value) in (int, float)
            if number and rel != "convcorr_jax/core/long_frame.py":
                line = lines[node.lineno - 1].split("#")[0]
                if node.value == 500 and FRAME_LINE.search(line) or node.value == 512.0 and type(node.value) is float \
                        and NORM_LINE.search(line):
                    bad.append(f"{rel}:{node.lineno}: {node.value} (Long et al.'s units: core/long_frame.py)")
        for pattern, home in ONE_HOME.items():
            if rel != home and re.search(pattern, src, re.M):
                bad.append(f"{rel}: {pattern} (its home: {home})")
    assert not bad, "\n".join(bad)


def test_every_path_in_the_layout_page_exists():
    """Every path docs/layout.md names exists: relative to the repository, or in a table row to the row's folder
    (its first cell); the diagram's folders too."""
    missing = []
    for line in (ROOT / "docs" / "layout.md").read_text().splitlines():
        paths = re.findall(r"`([\w.-]+(?:/[\w.-]*)*(?:\.py|\.md|/))`", line)
        paths += re.findall(r"^(\w+/)\s", line)
        row = re.match(r"\| `([\w/]+/)` \|", line)
        for path in paths:
            if not ((ROOT / path).exists() or (row and (ROOT / row.group(1) / path).exists())):
                missing.append(path)
    assert not missing, f"docs/layout.md names paths that do not exist: {missing}"


def test_no_single_letter_module_aliases():
    """Modules are imported under their own names (or a descriptive one), never as a single letter."""
    out = subprocess.run(["git", "grep", "--untracked", "-nE", r"^\s*(from \S+ )?import .*\b\w+ as [A-Za-z]\b",
                          "--", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    out = [line for line in out if "PartitionSpec as P" not in line]  # a class, in JAX's own spelling
    assert not out, "\n".join(out)


# --- one name, one thing ---------------------------------------------------------------------------------------

# names that each once named two things in the four packages (the synthetic and the registry's people, a pose
# checkpoint's and an Orbax file's parameters, a backbone and the spatial model, PF benchmarks' and pose datasets'
# loaders, point transfer between images and through a flow)
ONCE_TWO_THINGS = ("load_people", "load_params", "load_model", "LOADERS", "transfer_points")
LOADER_NAME = re.compile(r"^(load|save|read|write)_\w+$|LOADERS$")


def _top_level_definitions() -> dict[str, list[str]]:
    """Every name a module of the four packages defines at its top level (a function, a class or an assignment;
    imports are not definitions, nor are a function's `@overload` stubs) -> the modules that define it."""
    import ast

    out: dict[str, list[str]] = {}
    for name, path in _module_files().items():
        for defined in _defined_names(ast.parse(path.read_text())):
            out.setdefault(defined, []).append(name)
    return out


def _defined_names(tree) -> list[str]:
    """The names a parsed module defines at its top level, once per definition (`_top_level_definitions`)."""
    import ast

    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not is_overload_stub(node):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def test_loaders_and_renamed_names_name_one_thing():
    """A loader or writer (`load_*`, `save_*`, `read_*`, `write_*`, a `*LOADERS` table) and each name of
    ONCE_TWO_THINGS is defined by one module of the four packages at most."""
    shared = {name: modules for name, modules in _top_level_definitions().items()
              if len(modules) > 1 and (LOADER_NAME.match(name) or name in ONCE_TWO_THINGS)}
    assert not shared, f"one name, two things (rename one of each): {shared}"


# the module-function convention (`init(key, ...) -> params`, `apply(params, x)`) is shared on purpose
CONVENTION = ("init", "apply")


def _documented_names() -> set[str]:
    """Every library name docs/library.md and the README name: `module.name` in text or code, and the names their
    examples import from `convcorr_jax`."""
    text = "".join((ROOT / page).read_text() for page in ("docs/library.md", "README.md"))
    names = set(re.findall(r"(?<=\w)\.([A-Za-z_]\w*)", text))
    for imported in re.findall(r"from convcorr_jax[\w.]* import ([\w, ]+)", text):
        names |= {n.strip() for n in imported.split(",")}
    return names


def test_entry_points_the_docs_name_have_one_home():
    """No two library modules define a public function or class of a name that docs/library.md or the README names
    (`ridge.predict` and a pose `predict` would be two things under one name); `init` / `apply` are the modules'
    convention, not a collision."""
    import ast

    defined: dict[str, list[str]] = {}
    for name, path in _module_files().items():
        if not name.startswith("convcorr_jax"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_") and \
                    not is_overload_stub(node):
                defined.setdefault(node.name, []).append(name)
    documented = _documented_names()
    assert {"align_images", "transfer_points", "estimate", "predict"} <= documented  # the parse finds them
    shared = {n: m for n, m in defined.items() if n in documented and len(m) > 1 and n not in CONVENTION}
    assert not shared, f"names the docs give, defined in more than one module (rename one of each): {shared}"


POSE_KINDS = ("synthetic", "mpii", "flic", "coco", "lsp", "person")  # the built-in pose dataset kinds


def test_no_pose_module_checks_a_dataset_kind_by_its_name():
    """What a pose dataset kind means is its entry's (`data.pose_sets.DATASETS`; its crop geometry
    `crop_geometry.CROPS`), looked up by the kind, never a comparison of a config's `data` or a `kind` with a kind's
    name; `pose/mixture_pack.py` packs the files of two named formats on purpose."""
    import ast

    bad = []
    for path in sorted((LIBRARY / "pose").glob("*.py")):
        if path.name == "mixture_pack.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            named = {getattr(side, "attr", getattr(side, "id", None)) for side in sides}
            values = {side.value for side in sides if isinstance(side, ast.Constant)}
            values |= {e.value for side in sides if isinstance(side, (ast.Tuple, ast.List, ast.Set))
                       for e in side.elts if isinstance(e, ast.Constant)}
            if named & {"data", "kind"} and values & set(POSE_KINDS):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, "dataset kinds checked by name:\n" + "\n".join(bad)


NAME_TABLES = ("convcorr_jax.backbones.registry:_SPECS", "convcorr_jax.correspondence.matching:MATCHERS",
               "convcorr_jax.correspondence.point_config:TRANSFER_METHODS",
               "convcorr_jax.data.pose_sets:DATASETS", "convcorr_jax.core.crop_geometry:CROPS",
               "convcorr_jax.data.skeletons:SKELETONS", "convcorr_jax.data.formats:READERS",
               "convcorr_jax.data.fetch:DOWNLOADS", "convcorr_jax.data.tfds_builders:BUILDERS",
               "convcorr_eval.registry:EXPERIMENTS")


def test_every_name_table_is_one_registry():
    """The project's name tables (a name a user types or registers -> its entry) are each a `registry.Registry`:
    one way to register, one error for an unknown name listing the known ones; the registry module's docstring
    names each of them."""
    import importlib

    from convcorr_jax.core.errors import InputError
    from convcorr_jax.core.registry import Registry

    doc = importlib.import_module("convcorr_jax.core.registry").__doc__
    for entry in NAME_TABLES:
        module, name = entry.split(":")
        table = getattr(importlib.import_module(module), name)
        assert isinstance(table, Registry), f"{entry} is a {type(table).__name__}, not a Registry"
        assert module.removeprefix("convcorr_jax.") in doc, f"registry.py's docstring misses {entry}"
        with pytest.raises(InputError, match="one of"):
            table["no such name"]


def _undocumented(tree) -> list[str]:
    """The public top-level functions of a parsed module whose docstring lacks `Returns:`, or `Args:` when they take
    any; `@overload` stubs need none (the implementation after them carries it)."""
    import ast

    bad = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_") or is_overload_stub(node):
            continue
        doc = ast.get_docstring(node) or ""
        args = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
        takes = any(a.arg not in ("self", "cls") for a in args) or node.args.vararg or node.args.kwarg
        if "Returns:" not in doc or (takes and "Args:" not in doc):
            bad.append(node.name)
    return bad


def test_every_public_function_documents_its_arguments_and_result():
    """Every public top-level function of the library has a docstring with `Args:` (when it takes any) and
    `Returns:` sections: the reference a reader looks up, with shapes and units."""
    import ast

    bad = [f"{path.relative_to(LIBRARY)}:{name}" for path in _library_files()
           for name in _undocumented(ast.parse(path.read_text()))]
    assert not bad, f"public functions without Args / Returns: {bad}"


OVERLOADED = '''
from typing import overload
import typing


@overload
def f(x: int) -> int: ...
@typing.overload
def f(x: str) -> str: ...
def f(x):
    """The value.

    Args:
      x: a value.

    Returns:
      x.
    """
    return x


@overload
def g(x: int,
      y: int = 0,
      z: int = 0) -> int: ...
def g(x, y=0, z=0):
    return x


def h(x):
    """Returns: x, with no Args."""
    return x
'''


def test_overload_stubs_are_no_functions_of_their_own(tmp_path):
    """The rules read an overloaded function's implementation, once: its stubs (`@overload`, `@typing.overload`)
    need no docstring, are no second definition of the name and no function whose size counts; an implementation
    without its docstring is still found, as is any other undocumented function, and a name defined twice is still
    two definitions."""
    import ast

    tree = ast.parse(OVERLOADED)
    assert [node.name for node in tree.body if is_overload_stub(node)] == ["f", "f", "g"]
    assert _undocumented(tree) == ["g", "h"]
    assert _defined_names(tree) == ["f", "g", "h"]
    assert _defined_names(ast.parse(OVERLOADED + "\n\ndef h(x):\n    return x\n")) == ["f", "g", "h", "h"]
    (tmp_path / "m.py").write_text(OVERLOADED)
    assert _function_lengths([tmp_path / "m.py"], tmp_path) == {"m.py:f": 2, "m.py:g": 2, "m.py:h": 2}


GENERIC_FIELDS = ("shape", "dtype", "ndim", "length", "channels", "rank")


def test_input_errors_name_the_argument_not_a_property():
    """`InputError(source, field, ...)` and `errors.check(cond, source, field, ...)`: the field names the argument,
    key or field that is wrong, never "shape" or "dtype" (what it should be goes into `expected`), unless the
    function has an argument of that name; the source is the file, or the function or config that received it,
    never one of the function's own arguments' names."""
    import ast

    bad = []
    for path in _code_files():
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            own = {a.arg for a in fn.args.args + fn.args.kwonlyargs + fn.args.posonlyargs}
            for call in ast.walk(fn):
                name = getattr(call, "func", None)
                name = getattr(name, "id", getattr(name, "attr", None))
                if not isinstance(call, ast.Call) or name not in ("InputError", "check"):
                    continue
                at = 1 if name == "InputError" else 2
                field = call.args[at] if len(call.args) > at else None
                source = call.args[at - 1] if len(call.args) >= at else None
                if isinstance(field, ast.Constant) and field.value in GENERIC_FIELDS and field.value not in own:
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: field {field.value!r}")
                if isinstance(source, ast.Constant) and source.value in own:
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: source {source.value!r} is an argument")
    assert not bad, "InputError fields that name a property, not the argument:\n" + "\n".join(sorted(set(bad)))


def test_moved_modules_leave_no_file_and_nothing_uses_their_former_paths():
    """A moved module (`core.deprecation.MOVED_MODULES`) leaves no file at its former path, its new path exists, the
    former path imports the very module with a DeprecationWarning (its own spec kept: `find_spec` of the new path
    still finds the file), and no file of the project names the former path but the table, the pages that say it
    still imports and CHANGELOG.md."""
    import importlib
    import importlib.util
    import sys
    import warnings

    from convcorr_jax.core.deprecation import MOVED_MODULES

    files, bad = _module_files(), []
    for old, new in MOVED_MODULES.items():
        if old in files:
            bad.append(f"{old} still has a file: {files[old].relative_to(ROOT)}")
        if new not in files:
            bad.append(f"{new} (the new path of {old}) is no module")
            continue
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        if module is not importlib.import_module(new):
            bad.append(f"{old} does not import {new}")
        elif module.__spec__.name != new or importlib.util.find_spec(new).origin is None:
            bad.append(f"importing {old} took {new}'s own spec (find_spec({new!r}) must still find its file)")
        if not any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught):
            bad.append(f"{old} does not warn with its new path")
    pattern = "|".join(re.escape(old) + r"\b" for old in MOVED_MODULES)
    used = subprocess.run(["git", "grep", "--untracked", "-nE", pattern, "--", ".", ":!CHANGELOG.md",
                           ":!convcorr_jax/core/deprecation.py", ":!tests/test_layout.py", ":!tests/test_pckh.py",
                           ":!convcorr_jax/__init__.py", ":!convcorr_jax/core/__init__.py", ":!docs/layout.md"],
                          cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    bad += [f"former path named: {line}" for line in used]
    assert not bad, "\n".join(bad)


# names renamed, kept one release as deprecated aliases (`core.deprecation.renamed`, a module `__getattr__`):
# "module:former name" -> the new name, for every module that answers the former name
DEPRECATED_NAMES = {
    "convcorr_jax.pose.loaded_model:PoseRun": "PoseModel",  # a loaded model is a model, not a run
    "convcorr_jax.pose.estimation:PoseRun": "PoseModel",
    "convcorr_jax.pose:PoseRun": "PoseModel",
    # test-time settings (flip, scales, merge, ...) are not a read-out (`pose.readout`, `predict.READOUTS`)
    "convcorr_jax.pose.two_pass:FRAME_READOUT": "FRAME_TEST_TIME",
    "convcorr_jax.pose.two_pass:FRAME_READOUT_CROP": "FRAME_TEST_TIME_CROP",
    "convcorr_jax.pose.estimation:CROP_READOUT": "CROP_TEST_TIME",
}
# keyword arguments renamed, kept one release with a DeprecationWarning: function -> its former keywords
DEPRECATED_KEYWORDS = {"estimate": ("boxes",),  # torso_boxes= or person_boxes=, one meaning each
                       "MatchConfig": ("method",)}  # scorer=: a matcher's scoring, not a point-transfer method


def test_deprecated_names_warn_and_nothing_uses_them():
    """A former name gives the new object with a DeprecationWarning naming the new name, is no attribute of its
    module (only its `__getattr__` answers it) nor in its `__all__`; no file of the four packages, the benchmarks,
    the docs or the README names it, but in the alias itself (the modules that answer it: their docstrings may say
    it is the former name) and the historical records (bench/RESULTS*.md, as CHANGELOG.md: what ran then, under
    the names it had)."""
    import ast
    import importlib

    bad = []
    homes = {}
    for entry, new in DEPRECATED_NAMES.items():
        module, old = entry.split(":")
        mod = importlib.import_module(module)
        homes.setdefault(old, set()).add(_module_files()[module])
        if old in vars(mod) or old in getattr(mod, "__all__", ()):
            bad.append(f"{entry} is an attribute of its module or in its __all__ (only `__getattr__` may answer it)")
        with pytest.warns(DeprecationWarning, match=new):
            got = getattr(mod, old)
        if got is not getattr(mod, new):
            bad.append(f"{entry} is not {module}.{new}")
    texts = _user_texts()
    texts.update({p: p.read_text() for p in _module_files().values() if p not in texts})
    texts = {p: t for p, t in texts.items() if not (p.parent == ROOT / "bench" and p.name.startswith("RESULTS"))}
    for old, alias_modules in homes.items():
        word = re.compile(rf"\b{old}\b")
        for path, text in texts.items():
            if path in alias_modules:
                tree = ast.parse(text)
                used = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == old
                        or isinstance(n, ast.Attribute) and n.attr == old]
                bad += [f"{path.relative_to(ROOT)}:{line} uses {old}" for line in used]
            elif word.search(text):
                bad.append(f"{path.relative_to(ROOT)} names {old}")
    assert not bad, "\n".join(bad)


def test_deprecated_keywords_are_passed_nowhere():
    """No call in the four packages or the benchmarks passes a deprecated keyword (`estimate(..., boxes=...)`,
    directly or as a literal dict's key), and no doc or README example writes one."""
    import ast

    bad = []
    paths = [p for p in _user_texts() if p.suffix == ".py"] + list(_module_files().values())
    for path in sorted(set(paths)):
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node, "func", None)
            name = getattr(name, "id", getattr(name, "attr", None))
            if not isinstance(node, ast.Call) or name not in DEPRECATED_KEYWORDS:
                continue
            passed = {k.arg for k in node.keywords if k.arg}
            passed |= {key.value for k in node.keywords if k.arg is None and isinstance(k.value, ast.Dict)
                       for key in k.value.keys if isinstance(key, ast.Constant)}
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}({kw}=...)"
                    for kw in sorted(passed & set(DEPRECATED_KEYWORDS[name]))]
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for name, keywords in DEPRECATED_KEYWORDS.items():
            for kw in keywords:
                calls = re.findall(rf"\b{name}\([^)]*(?<![\w.]){kw}=", page.read_text())
                bad += [f"{page.relative_to(ROOT)}: {name}({kw}=...)"] * bool(calls)
    assert not bad, "\n".join(bad)


# --- a public surface one can read ------------------------------------------------------------------------------

# where a library function counts as named: the other library modules, the command line, the experiments, training,
# the benchmarks and the docs (tests alone do not count)
USER_FOLDERS = ("convcorr_cli", "eval", "train", "bench")


def _user_texts() -> dict[Path, str]:
    """The text of every file that can name a library function: each library module, the `.py` and `.md` files of
    USER_FOLDERS (bench's own virtual environments left out), docs/*.md (docs/library.md without its API listing)
    and the README."""
    paths = list(_library_files())
    for folder in USER_FOLDERS:
        paths += [p for pattern in ("*.py", "*.md") for p in (ROOT / folder).rglob(pattern)
                  if not p.relative_to(ROOT / folder).parts[0].startswith(".venv")]
    paths += sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    texts = {p: p.read_text() for p in paths}
    library_page = ROOT / "docs" / "library.md"  # its API listing names every public name: it makes none public
    texts[library_page] = texts[library_page].split("## The API, package by package")[0]
    return texts


def _unnamed_public_functions() -> set[str]:
    """"module.py:function" for every public top-level function of the library whose name (a whole word) appears
    in no file but its own module and the tests: a re-export in an `__init__.py` counts as naming it, the module's
    own `__all__` does not."""
    import ast

    texts = _user_texts()
    words = {path: set(re.findall(r"\w+", text)) for path, text in texts.items()}  # a name is a whole \w+ word
    files_with: dict[str, int] = {}
    for ws in words.values():
        for w in ws:
            files_with[w] = files_with.get(w, 0) + 1
    out = set()
    for path in _library_files():
        for node in ast.parse(texts[path]).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                if files_with.get(node.name, 0) - (node.name in words[path]) == 0:
                    out.add(f"{path.relative_to(LIBRARY)}:{node.name}")
    return out


def test_public_functions_are_named_outside_their_module():
    """A public library function is one that another library module, the command line, the experiments, training,
    the benchmarks or the docs name (tests alone do not count): the rest are private (`_name`), and a helper only
    tests use lives in tests/. There are none."""
    unnamed = sorted(_unnamed_public_functions())
    assert not unnamed, f"public functions that only their own module and the tests name (make them private): {unnamed}"
