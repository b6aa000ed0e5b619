"""What the error, warning and help texts tell a user to do points at things that exist. Every string of the library,
the command, the experiments and the training scripts (docstrings aside) is read for the remedies it names:

* a `--flag` exists on the command that shows the text (`COMMANDS_OF`: the command a module serves), or, in a command
  line `convcorr CMD [SUB] ...`, on that command; a script's own flags (`python -m ...`) on the script's parser;
* a `--set FIELD=` of `convcorr train pose` is a field of `TrainConfig` (dotted paths through its nested configs);
* a `CONVCORR_*` environment variable is read by the code under that name;
* an extra (`pip install 'convcorr-jax[X]'`, `optional.require(module, X, ...)`) is one of pyproject.toml's and
  installs the module;
* a `docs/*.md` page exists, with the heading a `#section` names; a `make` target is one of the Makefile's;
* a dotted `convcorr_jax.` name resolves to a module or one of its attributes.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from test_cli_flags import PARSERS
from test_docs_links import anchors

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("convcorr_jax", "convcorr_cli", "eval", "train")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
COMMAND_LINE = re.compile(r"convcorr ([a-z][\w-]*)((?:[^`'\"\n;)#|]*))")
SCRIPT_LINE = re.compile(r"python -m (convcorr_(?:jax|eval|train)(?:\.\w+)+)((?:[^`'\"\n;)#|]*))")
HOMES = {"convcorr_jax": "convcorr_jax", "convcorr_eval": "eval", "convcorr_train": "train"}
# texts that name the flags of one command without naming it: module (a file, or a folder ending in /) -> commands;
# a convcorr_cli module serves the command it is named after (pose_flags.py: pose); any other module's flags exist on
# some command
COMMANDS_OF = {
    "eval/demo.py": ("demo",),
    "eval/": ("run",),  # the runner and the experiments: `convcorr run` (eval's subcommands take the same flags)
    "train/pose.py": ("train pose",),
    "train/ship_model.py": ("pose",),  # besides its own flags: the model's expected input, as `convcorr pose` takes it
    "convcorr_jax/pose/training/": ("train pose",),
    "convcorr_jax/pose/loaded_model.py": ("pose",),
    "convcorr_jax/data/pose_sets.py": ("train pose", "eval pose"),
    "convcorr_jax/data/fetch.py": ("data fetch",),
    "convcorr_jax/data/flic_pack.py": ("data pack-flic",),
    "convcorr_jax/weights/sources.py": ("weights fetch",),
}
TOP_LEVEL = {"--help", "--version", "--profile"}  # `convcorr --version`, `convcorr --profile CMD`


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, each placeholder as {...}
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _strings(tree: ast.Module) -> list[str]:
    """Every string of a module but its docstrings and the parts of f-strings (read whole)."""
    skip = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body and \
                isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant):
            skip.add(id(n.body[0].value))
        if isinstance(n, ast.JoinedStr):
            skip.update(id(v) for v in ast.walk(n) if v is not n)
    return [t for n in ast.walk(tree) if id(n) not in skip and (t := _text(n)) is not None]


def _own_flags(tree: ast.Module) -> set[str]:
    """The flags a script's own parser defines (`add_argument("--x", ...)`)."""
    return {a.value for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "add_argument" for a in n.args if isinstance(a, ast.Constant)}


MODULES = {str(f.relative_to(ROOT)): ast.parse(f.read_text())
           for p in PACKAGES for f in sorted((ROOT / p).rglob("*.py"))}
TEXTS = {rel: _strings(tree) for rel, tree in MODULES.items()}
ALL_FLAGS = set().union(*(p._option_string_actions for p in PARSERS.values())) | TOP_LEVEL


def commands_of(rel: str) -> tuple[str, ...] | None:
    """The commands whose flags a module's texts name (None: any command's)."""
    if rel.startswith("convcorr_cli/"):
        stem = Path(rel).stem
        return tuple(c for c in PARSERS if c.split()[0] == stem or stem.startswith(c.split()[0] + "_")) or None
    homes = [m for m in COMMANDS_OF if rel == m or (m.endswith("/") and rel.startswith(m))]
    return COMMANDS_OF[max(homes, key=len)] if homes else None


def command_line_problems(text: str) -> tuple[list[str], str]:
    """(what is wrong with each `convcorr CMD [SUB] ...` or `python -m convcorr_....SCRIPT ...` command line in
    `text`, the text without them)."""
    problems = []
    for m in SCRIPT_LINE.finditer(text):
        package, _, rest = m.group(1).partition(".")
        rel = f"{HOMES[package]}/{rest.replace('.', '/')}.py"
        if rel not in MODULES:
            problems.append(f"python -m {m.group(1)}: no such module")
            continue
        own = _own_flags(MODULES[rel])
        problems += [f"python -m {m.group(1)}: no {f}" for f in FLAG.findall(m.group(2)) if f not in own]
    text = SCRIPT_LINE.sub("", text)
    for m in COMMAND_LINE.finditer(text):
        words, rest = m.group(1), m.group(2)
        rest, _, launched = rest.partition(" -- ")  # `convcorr launch ... -- train pose ...`: the launched command's
        if launched:
            problems += command_line_problems("convcorr " + launched)[0]
        subs = [c for c in PARSERS if c.split()[0] == words]
        if not subs:
            continue  # "convcorr command", "convcorr-jax": no command of its name
        second = m2.group(0) if (m2 := re.match(r"[a-z][\w-]*", rest.strip())) else ""
        if subs != [words]:  # a command with subcommands: the word after it names one
            if second and f"{words} {second}" not in PARSERS:
                problems.append(f"convcorr {words} {second}: no such subcommand")
                continue
            subs = [f"{words} {second}"] if f"{words} {second}" in PARSERS else subs
        options = set().union(*(PARSERS[c]._option_string_actions for c in subs))
        problems += [f"convcorr {' / '.join(subs)}: no {f}" for f in FLAG.findall(rest) if f not in options]
    return problems, COMMAND_LINE.sub("", text)


def flag_problems(rel: str) -> list[str]:
    """The flags a module's texts name that the command showing them does not take."""
    own, commands, out = _own_flags(MODULES[rel]), commands_of(rel), []
    for text in TEXTS[rel]:
        if re.fullmatch(r"-{1,2}[\w-]+(=\S*)?", text.strip()):
            continue  # a flag alone: an option's definition, or another program's argument (git, XLA)
        problems, rest = command_line_problems(text)
        out += problems
        for flag in FLAG.findall(rest):
            if flag in own or flag in TOP_LEVEL:
                continue
            lacking = [c for c in commands if flag not in PARSERS[c]._option_string_actions] if commands else \
                ([] if flag in ALL_FLAGS else ["any command"])
            if lacking and not (commands and len(lacking) < len(commands) and rel.startswith("convcorr_cli/")):
                out.append(f"{flag} (not on convcorr {', '.join(lacking)}): {text[:100]!r}")
    return out


def test_the_checks_find_what_dangles():
    assert command_line_problems("run `convcorr train pose --set name=NEW` or `convcorr run --nope`")[0] == \
        ["convcorr run: no --nope"]
    assert command_line_problems("convcorr data fecth x; convcorr launch -n 2 -- train pose --conf tiny")[0] == \
        ["convcorr data fecth: no such subcommand", "convcorr train pose: no --conf"]
    assert command_line_problems("python -m convcorr_train.ship_model --run R --nope")[0] == \
        ["python -m convcorr_train.ship_model: no --nope"]
    assert commands_of("eval/long2014/table3.py") == ("run",) and commands_of("eval/demo.py") == ("demo",)
    assert commands_of("convcorr_cli/pose_flags.py") == ("pose",) and commands_of("convcorr_jax/flow/bp.py") is None
    assert len(commands_of("convcorr_cli/eval_models.py")) == 8


@pytest.mark.parametrize("rel", sorted(MODULES))
def test_every_flag_a_text_names_is_on_its_command(rel):
    assert not flag_problems(rel), f"{rel}: " + "; ".join(flag_problems(rel))


def _field(cls: type, path: str) -> bool:
    """Whether the dotted `path` names a field of the dataclass `cls` (through nested configs and their tuples)."""
    head, _, rest = path.partition(".")
    hit = next((f for f in dataclasses.fields(cls) if f.name == head), None)
    if hit is None or not rest:
        return hit is not None
    default = hit.default_factory() if hit.default_factory is not dataclasses.MISSING else hit.default
    if isinstance(default, tuple):
        index, _, rest = rest.partition(".")
        return index.isdigit() and bool(rest)  # datasets.1.share: an item's field (the tuple is empty by default)
    return dataclasses.is_dataclass(default) and _field(type(default), rest)


def test_every_train_pose_set_a_text_names_is_a_field():
    from convcorr_jax.pose.training.config import TrainConfig

    texts = [t for rel, ts in TEXTS.items() if commands_of(rel) == ("train pose",) for t in ts]
    texts += [m.group(0) for ts in TEXTS.values() for t in ts for m in COMMAND_LINE.finditer(t)
              if m.group(1) == "train" and m.group(2).startswith(" pose")]
    fields = {f for t in texts for f in re.findall(r"--set ([\w.]+)=", t)}
    assert fields >= {"name", "data_root", "augment.flip"}, fields
    assert not [f for f in fields if not _field(TrainConfig, f)], fields


def _env_reads() -> set[str]:
    """The environment variables the code reads: `os.environ.get(X)`, `os.environ[X]`, `os.getenv(X)`, `X in
    os.environ`, X a literal or a module constant holding one."""
    out = set()
    for tree in MODULES.values():
        consts = {t.id: n.value.value for n in tree.body
                  if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                  for t in n.targets if isinstance(t, ast.Name)}
        for n in ast.walk(tree):
            keys = []
            if isinstance(n, ast.Call) and ast.unparse(n.func) in ("os.environ.get", "os.getenv") and n.args:
                keys = [n.args[0]]
            elif isinstance(n, ast.Subscript) and ast.unparse(n.value) == "os.environ":
                keys = [n.slice]
            elif isinstance(n, ast.Compare) and any(ast.unparse(c) == "os.environ" for c in n.comparators):
                keys = [n.left]
            for k in keys:
                name = k.value if isinstance(k, ast.Constant) else consts.get(getattr(k, "id", None))
                if isinstance(name, str):
                    out.add(name)
    return out


def test_every_convcorr_environment_variable_a_text_names_is_read():
    named = {v for ts in TEXTS.values() for t in ts for v in re.findall(r"\bCONVCORR_[A-Z0-9_]+", t)}
    assert "CONVCORR_CACHE" in named
    assert not named - _env_reads(), sorted(named - _env_reads())


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _installs(extra: str, distribution: str, extras: dict[str, list[str]]) -> bool:
    """Whether pip installing convcorr-jax[extra] installs `distribution`: named in the extra, or required by a
    distribution it names (its installed metadata)."""
    named = _requirement_names(extras[extra])
    if distribution in named:
        return True
    for dist in named:
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        if distribution in _requirement_names([r for r in requires if "extra ==" not in r]):
            return True
    return False


def test_every_extra_a_text_names_exists_and_installs_its_module():
    from convcorr_jax.core.optional import DISTRIBUTIONS

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {x for ts in TEXTS.values() for t in ts for x in re.findall(r"convcorr-jax\[([\w-]+)\]", t)} - {"{}"}
    assert not named - set(extras), sorted(named - set(extras))
    calls = [(n.args[0].value, n.args[1].value) for tree in MODULES.values() for n in ast.walk(tree)
             if isinstance(n, ast.Call) and ast.unparse(n.func) == "require" and len(n.args) >= 2
             and all(isinstance(a, ast.Constant) for a in n.args[:2])]
    assert len(calls) >= 10
    for module, extra in calls:
        top = module.partition(".")[0]
        dist = DISTRIBUTIONS.get(top, top).lower().replace("_", "-")
        assert extra in extras and _installs(extra, dist, extras), (module, extra)


def test_every_docs_page_and_make_target_a_text_names_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for rel, texts in TEXTS.items():
        for t in texts:
            for page, section in re.findall(r"\bdocs/([\w./-]+?\.md)(?:#([\w-]+))?", t):
                assert (ROOT / "docs" / page).is_file(), (rel, page)
                assert not section or section in anchors(ROOT / "docs" / page), (rel, page, section)
            for target in re.findall(r"`make ([\w-]+)`", t):
                assert target in targets, (rel, target)


def _resolves(name: str) -> bool:
    """Whether a dotted name is a module (found, not imported: an extra's module needs no extra here) or an attribute
    of one."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            if importlib.util.find_spec(".".join(parts[:i])) is None:
                continue
        except ModuleNotFoundError:  # a name below a module that is no package
            continue
        if i == len(parts):
            return True
        obj = importlib.import_module(".".join(parts[:i]))
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_convcorr_jax_name_a_text_names_resolves():
    names = {n for ts in TEXTS.values() for t in ts
             for n in re.findall(r"(?<![\w.])(convcorr_(?:jax|eval|train)(?:\.[A-Za-z_]\w*)+)", t)}
    assert "convcorr_jax.data.tfds_builders" in names
    assert not [n for n in names if not _resolves(n)], sorted(n for n in names if not _resolves(n))
