"""The run folders of the `convcorr eval` subcommands that are experiments of `convcorr run` (flic, mpii, pf-willow,
pf-pascal, spair): their run folder options, the folder's default name (a digest of every setting), the run itself,
and the files copied out of the folder and the JSON's record of the run read back from its metrics.json.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from convcorr_jax.core import cache, io, runinfo
from convcorr_jax.core.config import to_dict
from convcorr_jax.core.errors import InputError
from convcorr_jax.core.paths import lies_inside
from convcorr_eval import registry
from convcorr_eval.experiment import ExperimentConfig, Result
from convcorr_eval.run_keys import located, path_identity, places
from convcorr_eval.runner import execute
from convcorr_cli.eval_output import check_output_paths, check_outside, model_folder
from convcorr_cli.options import add_out


def run_arguments(a: argparse.ArgumentParser) -> None:
    """The run folder options of the experiment aliases (as `convcorr run`'s --out, --set name=, --force)."""
    add_out(a, "output root: the run folder is OUT/<name>", default="runs", metavar="DIR", old=("--out-dir",))
    a.add_argument("--name", default=None, help="run folder name (default: the experiment's readable name for "
                   "these inputs and a digest of every setting); --set name=NAME is the same")
    a.add_argument("--force", action="store_true", help="run again even if an identical finished run exists, "
                   "and replace a finished run with other settings")
    a.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")


def run_name(readable: str, exp_id: str, cfg: ExperimentConfig) -> str:
    """The default run folder name of an alias: `readable` (the experiment's name for its inputs), `_`, and the
    first 6 hex digits of `cache.digest` of every setting of `cfg` but its name (with the identity of a scored model,
    `trained`, set by the experiment's `identify`; every path it reads, `run_keys.places` (data_root, the model's
    folder, an annotation file), by where it leads, `run_keys.located`). Different settings or models get different
    folders; the same settings the same one (a finished run is found again and kept), also for one dataset folder or
    model given relatively, absolutely or through a link."""
    settings = {k: v for k, v in to_dict(cfg).items() if k != "name"}
    where = {field: path_identity(p) for field, p in places(exp_id, cfg).items()}
    return f"{readable}_{cache.digest(located({'settings': settings, 'where': where})['settings'], 6)}"


def run_alias(command: str, exp_id: str, cfg: ExperimentConfig, name: str, args: argparse.Namespace,
              outputs: dict[str, str | None] | None = None,
              inputs: dict[str, str | None] | None = None) -> tuple[Result | None, Path]:
    """`convcorr run exp_id` with `cfg` named `--name`, else `--set name=NEW` (the way out the runner's refusals
    name), else `run_name(name, exp_id, cfg)` (after the experiment's `identify`: the scored model's identity is part
    of the digest), under `--out`: (result or None when it failed, run folder). The output files in `outputs` (by flag)
    are checked before the run (`check_output_paths`: none of them one of the input files `inputs` (by flag) or
    inside the dataset folder or the scored model's folder, `--model`; `--out` by the runner), and none inside the
    run folder the run writes or a folder above it (once its name is known, before the run)."""
    model = getattr(args, "model", None)
    check_output_paths(outputs or {}, inputs or {}, cfg.data_root, model and model_folder(model))
    identify = getattr(registry.load(exp_id), "identify", None)
    cfg = identify(cfg) if identify is not None else cfg
    named = cfg.name if cfg.name != exp_id else None  # `make_config` names an unnamed run by its experiment id
    cfg = dataclasses.replace(cfg, name=args.name or named or run_name(name, exp_id, cfg))
    run_dir = Path(args.out) / cfg.name
    check_outside(outputs or {}, run_dir, f"the run folder {run_dir} (the run writes it)")
    for flag, path in (outputs or {}).items():  # a file where the run needs a folder: a traceback after the run
        if path and lies_inside(run_dir, path):
            raise InputError(path, flag, f"a file path, not a folder above the run folder {run_dir}",
                             "a folder above it")
    result = execute(f"eval {args.metric}", exp_id, cfg, args.out, args.force, not args.no_progress)
    return result, run_dir


def copy_output(src: Path, dst: str | None) -> None:
    """Copy a file of the run folder to `dst` (atomically) where one is given, and say so."""
    if dst:
        io.write_bytes(dst, src.read_bytes())
        print(f"wrote {dst}")


def with_experiment_run(scores: dict, run_dir: Path) -> dict:
    """An experiment alias's JSON: `scores` and the record of its run, from its run folder's metrics.json (also for a
    run kept from an identical earlier one: the versions and wall time that made the numbers): "config" (every
    setting, the seed among them), "versions" and "devices" (each null where the file records none), and "seconds"
    where `scores` has none of its own."""
    rec = runinfo.read_run_record(run_dir / "metrics.json")
    return {"seconds": rec["seconds"], **scores, "config": rec["key"]["settings"], "versions": rec.get("versions"),
            "devices": rec.get("devices")}
