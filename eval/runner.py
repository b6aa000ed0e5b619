"""One experiment, one config, one run folder (`convcorr run EXPERIMENT`, `convcorr_cli.run`).

    cfg = make_config("long2014.table2", "tiny", ["weights=random"], backbone="caffenet")
    result, seconds, reused = run_experiment("long2014.table2", cfg, out="runs")

writes `runs/<name>/config.json`, `metrics.json`, `report.md`, `report.html` and `figures/`. A run's key
(experiment, config, code version, the data it reads and where every path it reads leads) and how two keys compare
are `run_keys`'s (`run_key`, `located`). A finished run whose key equals this one's is kept, not run again
(`--force` re-runs it; the header that run recorded is printed, `recorded_header`); one with the same settings but
older code or other data (a file added, removed or changed under data_root) is run again and replaced; one with
other settings is refused (`RunExists`: write elsewhere with `--set name=NEW`, or replace it with `--force`; the demo
replaces its changed stages). The default name is the experiment id, one folder per experiment; `convcorr eval`'s
aliases name theirs by their settings (`convcorr_cli.eval_runs`). `execute` is `run_experiment` with the state line
the commands print; both command modules call it, once. The module of experiment "<paper>.<name>" is
`convcorr_eval.<paper>.<name>` unless `registry.EXPERIMENTS` names another; its `run(cfg, ctx)` is the experiment,
its optional `check_inputs(cfg)` refuses bad inputs before any folder is made, `identify(cfg)` adds the state
of what it scores to the run key, `data_paths(cfg)` and `path_fields(cfg)` name the paths it reads (`run_keys`); an
output root that is, or lies inside, one of them is refused before any folder is made (`_check_out`).

One writer per run folder: a run holds an OS lock on it (`io.folder_lock`, `runs/.<name>.lock`); a second run on
the same folder is refused at once in one line naming the first one's process id (`io.FolderBusy`).

Atomic run folders: a run works in `runs/.<name>.partial/` and, finished, is swapped into `runs/<name>/` in one
step (`io.replace_dir`), so a run folder never mixes two runs and a failed or interrupted run leaves the previous
one untouched. Only a run folder is replaced (`RUN_FOLDER`: a config.json naming its experiment, and nothing but
the published files and the entries the run listed in it as its "outputs" when it finished); a folder holding
anything else, someone's notes or a sub-folder, is refused in one line naming them (`RunExists`), before any work,
and so is a partial folder without a run's config.json. The partial folder is kept for the next attempt with the
same settings and data (state such as training checkpoints resumes from it) and begins from the finished run's
state when the settings and data are those of that run.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from convcorr_jax.core import interrupt, io, runinfo
from convcorr_jax.core.config import override
from convcorr_jax.core.paths import refuse_inside
from convcorr_jax.data.formats import detect_dataset
from convcorr_jax.core.errors import InputError
from convcorr_eval import registry
from convcorr_eval.experiment import SIZES, Context, ExperimentConfig, Result, require_data
from convcorr_eval.run_keys import located, places, run_key, setting_changes, unrecorded_fields, why_again


def make_config(exp_id: str, size: str = "default", sets: Sequence[str] = (), backbone: str | None = None,
                data_root: str | None = None) -> ExperimentConfig:
    """The experiment's config at `size`, with `--backbone`, `--data-root` and `--set field=value` applied (`size`
    itself refused there: `--size` chooses the settings); a `--data-root` (or `--set data_root=`) without `data=`
    sets the dataset the folder holds (`data.formats.detect_dataset`) or is refused."""
    for assignment in sets:  # the size picks the settings (`get_config`); the field alone would only relabel them
        field, _, value = assignment.partition("=")
        if field.strip() == "size":
            raise InputError(None, "--set size", f"--size SIZE, one of {list(SIZES)} (it chooses the experiment's "
                             "settings; the field alone would only relabel them)", value.strip())
    cfg = registry.load(exp_id).get_config(size)
    pre = ([f"backbone={backbone}"] if backbone else []) + ([f"data_root={data_root}"] if data_root else [])
    cfg = override(cfg, [*pre, *sets])
    if cfg.data_root and cfg.data_root != os.path.normpath(cfg.data_root):  # DIR/ and DIR: one run, one key
        cfg = dataclasses.replace(cfg, data_root=os.path.normpath(cfg.data_root))
    fields = [s.split("=", 1)[0].strip() for s in sets]
    flag = "--set data_root" if "data_root" in fields else "--data-root" if data_root else None
    if flag and cfg.data_root and cfg.data == "synthetic" and "data" not in fields:
        found = detect_dataset(cfg.data_root)  # a folder without --set data=NAME: the dataset it holds (not ignored)
        if found is None:
            raise InputError(cfg.data_root, flag, "a folder of flic, mpii, lsp, voc, 300w or pf_willow data "
                             "(or --set data=NAME)", "no known dataset in it")
        cfg = override(cfg, [f"data={found}"])
    return cfg if cfg.name else dataclasses.replace(cfg, name=exp_id)


# what a finished run publishes; everything else in a run folder is state a later attempt may resume from
PUBLISHED = ("config.json", "metrics.json", "report.md", "report.html", "figures")


class RunExists(InputError):
    """The run folder holds a finished run with other settings, or is no run folder: not overwritten silently."""

    def __init__(self, run_dir: Path, what: str, way_out: str):
        super().__init__(run_dir, "run folder", way_out, what)
        self.run_dir = run_dir
        self.args = (f"{run_dir} {what}; {way_out}",)


def _is_run(folder: Path) -> bool:
    """Whether `folder` holds a run's config.json (a JSON object naming its experiment)."""
    c = _read_json(folder / "config.json")
    return isinstance(c, dict) and isinstance(c.get("experiment"), str)


def _outputs(folder: Path) -> list[str]:
    """The entries a finished run listed as its own in its config.json ("outputs"), [] without the list."""
    c = _read_json(folder / "config.json")
    names = c.get("outputs") if isinstance(c, dict) else None
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


# what a run replaces: a run folder holding nothing but its published files and the entries it listed; and what
# it deletes beside it: its partial folders (anything below a run's config.json, the state of an unfinished attempt)
RUN_FOLDER = io.FolderKind("a run folder", PUBLISHED, marker=_is_run, recorded=_outputs)
PARTIAL = io.FolderKind("a partial run folder", ("*",), marker=_is_run)


def _check_owned(folder: Path, kind: io.FolderKind) -> bool:
    """`io.check_replaceable` of a run's folder, refused as `RunExists` (one line naming what is there)."""
    try:
        return io.check_replaceable(folder, kind, "run folder")
    except io.NotOwned as e:
        raise RunExists(folder, e.described, "nothing was changed: write this run elsewhere with --set name=NEW or "
                        "--out DIR, or move those files out") from None


def _check_out(out: str | os.PathLike, exp_id: str, cfg: ExperimentConfig) -> None:
    """Refuse an output root `out` that is, or lies inside, a file or folder the run reads (`places`: its
    `data_paths`, data_root and the experiment's `path_fields`, such as a scored model's folder; wherever they lead:
    `paths.lies_inside`): a run never writes into its dataset or into the model it scores (and a run folder in the
    data would change the data's fingerprint, so the run could never be kept). A shipped model's name is no path.

    Args:
        out: the output root (`--out`; it need not exist).
        exp_id: the experiment id.
        cfg: the run's config (after the experiment's `identify`).

    Returns:
        None.

    Raises:
        InputError: naming --out and the input it lies in.
    """
    for field, path in sorted(places(exp_id, cfg).items()):
        refuse_inside(out, path, out, "--out", f"{field} {path} (read, never written)", "folder")


def _read_json(path: Path) -> Any:
    """The JSON value of `path` (a metrics.json's NaN scores given back: `runinfo.read_run_record`), None when it
    cannot be read or is not JSON."""
    try:
        return runinfo.read_run_record(path)
    except (OSError, ValueError):
        return None


def finished_key(run_dir: Path) -> dict | None:
    """The key of the finished run in `run_dir`, or None."""
    saved = _read_json(run_dir / "metrics.json")
    return saved["key"] if isinstance(saved, dict) and saved.get("status") == "ok" and "key" in saved else None


def _record_settings(record: dict) -> tuple:
    """(experiment, config, data fingerprint or None) of a run's config.json `record`, its data paths by where they
    lead (`located`)."""
    key = located({"settings": record.get("config"), "data": record.get("data"), "where": record.get("where")})
    return record.get("experiment"), key["settings"], key["data"]


def _settings(folder: Path) -> tuple | None:
    """`_record_settings` of the run (finished or partial) in `folder`, from its config.json, or None."""
    c = _read_json(folder / "config.json")
    return _record_settings(c) if isinstance(c, dict) and isinstance(c.get("config"), dict) else None


def _kept_record(path: Path) -> dict:
    """The finished run's metrics.json at `path`, as a kept run reports it: InputError naming the file and the field
    where "summary" (a string), "seconds" (a number) or "metrics" (an object) is missing or is not one (a file edited
    by hand)."""
    prev = runinfo.read_run_record(path)
    for field, kind, what in (("summary", str, "a string"), ("seconds", (int, float), "a number"),
                              ("metrics", dict, "an object")):
        value = prev.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(path, field, f"{what}, as the run wrote it (run it again with --force)",
                             "nothing" if field not in prev else json.dumps(value))
    return prev


def _check_folder(run_dir: Path, key: dict, force: bool, replace: bool) -> str:
    """What to do with `run_dir`: "keep" (an identical finished run), "run"; raises RunExists where a run may not
    replace what is there (a folder that is not a run folder, or holds files no run wrote: `RUN_FOLDER`)."""
    prev = finished_key(run_dir)
    unrecorded = unrecorded_fields(prev, key) if prev is not None else []
    if prev is not None and located(prev, unrecorded) == located(key) and not force:
        return "keep"
    _check_owned(run_dir, RUN_FOLDER)
    if prev is None or force:
        return "run"
    changes = sorted(setting_changes(prev, key, unrecorded), key=lambda c: not c.startswith("experiment: "))
    if changes and not replace:
        shown = "; ".join(changes[:3]) + (f"; {len(changes) - 3} more" if len(changes) > 3 else "")
        raise RunExists(run_dir, f"holds a finished run with other settings ({shown})",
                        "write this run elsewhere with --set name=NEW, or replace it with --force")
    if not changes:  # the same settings: other code or other data, run again in place
        print(f"{run_dir}: {why_again(prev, key, unrecorded)}; running it again", flush=True)
    return "run"


def _stage(run_dir: Path, record: dict) -> Path:
    """The attempt's folder `.<name>.partial` beside `run_dir`: the previous attempt's with the settings of the run's
    config.json `record` (experiment, config, data), else a new one holding `record` and the finished run's state when
    that run has these settings; without published files but config.json. A partial folder of other settings is
    deleted only when it is a run's (`PARTIAL`), else refused."""
    settings = _record_settings(record)
    stage = run_dir.with_name(f".{run_dir.name}.partial")
    if stage.exists() and _settings(stage) != settings:
        _check_owned(stage, PARTIAL)
        shutil.rmtree(stage)
    if not stage.exists():
        fresh = run_dir.with_name(f".{run_dir.name}.seeding")
        if fresh.exists():  # a seeding cut short
            _check_owned(fresh, PARTIAL)
            shutil.rmtree(fresh)
        fresh.mkdir(parents=True)
        io.write_json(fresh / "config.json", record)  # a partial folder carries a run's config.json from the start
        if run_dir.is_dir() and _settings(run_dir) == settings:
            for entry in run_dir.iterdir():
                if entry.name not in PUBLISHED:
                    (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, fresh / entry.name)
        fresh.rename(stage)
    for name in PUBLISHED[1:]:  # all but config.json, which the caller writes again
        if (stage / name).is_dir():
            shutil.rmtree(stage / name)
        else:
            (stage / name).unlink(missing_ok=True)
    return stage


def run_experiment(exp_id: str, cfg: ExperimentConfig, out: str | Path = "runs", force: bool = False,
                   progress: bool = True, replace: bool = False) -> tuple[Result, float, bool]:
    """Run `exp_id` with `cfg` into `out/<cfg.name>/`: (result, seconds, reused). `force`: run again even if an
    identical finished run is there; `replace`: a finished run with other settings is replaced, not refused
    (`RunExists`). Exceptions propagate; a stop request (`convcorr_jax.core.interrupt`) raises Interrupted; `out`
    that is a file, or that is or lies inside a file or folder the run reads (`_check_out`), is an InputError naming
    --out, before any folder is made; so is `data` the experiment does not take (`registry.ACCEPTED_DATA`), naming
    `data` and the ones it takes, before its dataset folder is asked for; so is a missing `report` extra (the run
    writes its report with matplotlib and markdown: `convcorr_eval.report`), before any work."""
    import convcorr_eval.report  # noqa: F401  (MissingExtra, one line, before any work)

    io.check_writable(out, "--out", kind="folder")
    if registry.ACCEPTED_DATA.get(exp_id):  # data the experiment does not take: refused as such, not for its folder
        require_data(cfg, registry.ACCEPTED_DATA[exp_id])
    cfg.check_data_root()
    cfg.check_weights()  # a mistyped weight file: refused before any folder is made
    check_inputs = getattr(registry.load(exp_id), "check_inputs", None)
    if check_inputs is not None:  # refused before any folder is made
        check_inputs(cfg)
    identify = getattr(registry.load(exp_id), "identify", None)
    if identify is not None:  # inputs that belong in the key (the state of a scored training run)
        cfg = identify(cfg)
    _check_out(out, exp_id, cfg)
    run_dir = Path(out) / cfg.name
    key = run_key(exp_id, cfg)
    with io.folder_lock(run_dir):  # one writer per run folder: a second run on it is refused, naming the first
        return _run_locked(exp_id, cfg, run_dir, key, force, replace, progress)


def _run_locked(exp_id: str, cfg: ExperimentConfig, run_dir: Path, key: dict, force: bool, replace: bool,
                progress: bool) -> tuple[Result, float, bool]:
    if _check_folder(run_dir, key, force, replace) == "keep":
        prev = _kept_record(run_dir / "metrics.json")
        print(recorded_header(exp_id, cfg.name, prev), flush=True)
        return Result(prev["summary"], prev.get("markdown", ""), prev["metrics"]), prev["seconds"], True
    interrupt.stop_if_requested()
    data = {k: key[k] for k in ("data", "where") if k in key}
    record = {"experiment": exp_id, "config": key["settings"], "code": key["version"], **data}
    stage = _stage(run_dir, record)
    io.write_json(stage / "config.json", record)
    header = runinfo.header(f"{exp_id} ({cfg.name})", cfg, cfg.seed) + _inputs_line(key)
    print(header, flush=True)
    t0 = time.perf_counter()
    result = registry.load(exp_id).run(cfg, Context(stage, progress))
    seconds = time.perf_counter() - t0
    from convcorr_eval.report import write_report  # imported by run_experiment already: the report extra is there

    write_report(stage, exp_id, report_markdown(exp_id, header, seconds, result))
    io.write_json(stage / "metrics.json", runinfo.metrics_record(key, True, seconds, result.summary, result.markdown,
                                                                 result.metrics))
    io.write_json(stage / "config.json", {**record, "outputs": sorted(os.listdir(stage))})  # what the run wrote
    _check_owned(run_dir, RUN_FOLDER)  # again: nothing else arrived while it ran
    io.replace_dir(stage, run_dir, RUN_FOLDER, "run folder")
    return result, seconds, False


def execute(command: str, exp_id: str, cfg: ExperimentConfig, out: str | Path, force: bool,
            progress: bool) -> Result | None:
    """`run_experiment` into `out/<cfg.name>/` with the state line ("[ID] ok in S s: SUMMARY" or "kept from an
    identical earlier run", below the header that run recorded: `recorded_header`; then the report's path); None
    when the experiment failed (its traceback and "convcorr COMMAND: failed" printed, the run folder as it was).
    InputError and interrupts propagate."""
    run_dir = Path(out) / cfg.name
    try:
        result, seconds, reused = run_experiment(exp_id, cfg, out, force, progress)
    except InputError:
        raise
    except Exception:
        interrupt.stop_if_requested()  # an error after a signal is the interrupt's doing: stop, not "failed"
        traceback.print_exc()
        kept = f"; {run_dir} is as it was" if run_dir.exists() else ""
        print(f"convcorr {command}: failed{kept}", file=sys.stderr)
        return None
    state = "kept from an identical earlier run" if reused else f"ok in {seconds:.1f} s"
    print(f"[{exp_id}] {state}: {result.summary}\nreport: {run_dir / 'report.md'} and {run_dir / 'report.html'}",
          flush=True)
    return result


def report_markdown(exp_id: str, header: str, seconds: float, result: Result) -> str:
    """A run's report: the title, the results (summary line, then the experiment's tables and figures), then what
    ran (the run header: config, seed, versions, devices, inputs) and the wall time."""
    return "\n".join([f"# {exp_id}", "", f"**{result.summary}**", "", result.markdown, "", "## Run", "", "```", header,
                      f"wall time: {seconds:.1f} s", "```", ""])


def recorded_header(exp_id: str, name: str, record: dict) -> str:
    """The run header of the finished run whose numbers a kept run reports, as its metrics.json `record` holds it
    (not today's versions, which made none of them): its config and seed, the versions and devices it ran with, its
    inputs and its wall time, titled as that earlier run's.

    Args:
        exp_id: the experiment id.
        name: the run folder's name.
        record: the run folder's metrics.json (`runinfo.read_run_record`).

    Returns:
        The lines joined by newlines (no trailing newline).
    """
    key = record.get("key") or {}
    settings = key.get("settings") if isinstance(key.get("settings"), dict) else None
    seed = settings.get("seed") if settings else None
    title = f"{exp_id} ({name}): kept, as recorded by the earlier run that made these numbers"
    seconds = record.get("seconds")
    wall = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "not recorded"
    return (runinfo.header(title, settings, seed, recorded=record) + _inputs_line(key)
            + f"\nwall time of that run: {wall}")


def _inputs_line(key: dict) -> str:
    """"\ninputs: <field> <path> (<files> files, <bytes> bytes, digest <d>); ..." of a run key's data, else ""."""
    data = key.get("data")
    if not data:
        return ""
    return "\ninputs: " + "; ".join(f"{field} {d['path']} ({d['files']} files, {d['bytes']} bytes, digest "
                                    f"{d['digest']})" for field, d in data.items())


def experiments() -> dict[str, str]:
    """Experiment id -> the first paragraph of its module's docstring, on one line. The docstrings are read from
    the modules' source, not imported: `convcorr run --list` needs neither the `report` extra nor JAX's start."""
    docs = {exp_id: (_docstring(registry.EXPERIMENTS[exp_id]) or "").strip() for exp_id in registry.EXPERIMENTS}
    return {exp_id: " ".join(doc.split("\n\n", 1)[0].split()) for exp_id, doc in docs.items()}


def _docstring(module: str) -> str | None:
    """The docstring of the module `module` (dotted name), read from its source file without importing it (its
    package is imported; a module without a .py source is imported), or None when it has none."""
    spec = importlib.util.find_spec(module)
    origin = None if spec is None else spec.origin
    if origin is None or not origin.endswith(".py"):
        return importlib.import_module(module).__doc__
    return ast.get_docstring(ast.parse(Path(origin).read_text(encoding="utf-8")), clean=False)
