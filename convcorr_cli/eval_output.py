"""What every `convcorr eval` subcommand checks, prints and writes: its output paths checked before any work, the
run header above its tables, and its JSON (with the record of its run: "config", "versions", "devices", "seconds")
and figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from convcorr_jax.core import io, runinfo
from convcorr_jax.core.paths import refuse_inside
from convcorr_cli.options import check_outputs


def check_output_paths(outputs: Mapping[str, str | Path | None], inputs: Mapping[str, str | Path | None],
                       data_root: str | Path | None = None, model: str | Path | None = None) -> None:
    """Before any work: each output file given (by flag) writable as a file, none of them an input or another
    output (`options.check_outputs`), none inside the dataset folder `data_root` or the scored model's folder
    `model` (`model_folder`; both read, never written)."""
    given = {flag: p for flag, p in outputs.items() if p}
    check_outputs(given, {name: p for name, p in inputs.items() if p})
    for folder, what in ((data_root, "the dataset folder"), (model, "the model's folder")):
        check_outside(given, folder, f"{what} {folder} (read, never written)")


def check_outside(outputs: Mapping[str, str | Path | None], folder: str | Path | None, what: str) -> None:
    """InputError naming the flag unless each output file given in `outputs` (by flag) lies outside `folder`
    (None: no check; `paths.refuse_inside`: links followed, a link in `folder` inside it); `what` names the folder in
    the message ("the run folder runs/r (the run writes it)")."""
    for flag, path in outputs.items():
        refuse_inside(path, folder, path, flag, what)


def model_folder(model: str | Path) -> Path | None:
    """The folder of a pose model as `--model` names it (`convcorr_jax.pose.load`): a shipped model's own folder
    for its name, else the model or run folder given; None for neither (`load` then refuses it)."""
    from convcorr_jax.pose import shipped

    path = shipped.MODELS / str(model) if shipped.is_name(str(model)) else Path(model)
    return path if path.is_dir() else None


def write_outputs(json_path: str | None, obj, figure_path: str | None = None,
                  draw: Callable[[str], None] | None = None) -> None:
    """Write the JSON (atomically, numbers to 6 significant digits: `runinfo.rounded`; a NaN or infinite number,
    e.g. the score of a joint never evaluated, as null: strict JSON) and draw the figure, each where a path is
    given, and say so."""
    if json_path:
        io.write_json(json_path, runinfo.rounded(obj, nonfinite_null=True))
        print(f"wrote {json_path}")
    if figure_path and draw is not None:
        draw(figure_path)
        print(f"wrote {figure_path}")


def print_header(title: str, config: dict) -> None:
    """The reproducibility header a scoring command prints above its tables (`runinfo.header`: config, versions,
    devices; "seed": null in the config: scoring draws no random numbers)."""
    print(runinfo.header(title, {**config, "seed": None}), flush=True)


# what a scoring command's JSON says of its run, beside the scores
RUN_FIELDS = ("config", "versions", "devices", "seconds")


def scoring_run(config: dict, seconds: float) -> dict:
    """The JSON's record of a scoring command's run, as its header: {"config" ("seed": null: no random numbers),
    "versions" (`runinfo.versions`), "devices" (the JAX devices, `runinfo.devices`), "seconds" (wall time)}."""
    return {"config": {**config, "seed": None}, "versions": runinfo.versions(), "devices": runinfo.devices(),
            "seconds": seconds}
