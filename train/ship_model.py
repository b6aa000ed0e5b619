"""Export a `convcorr train pose` run as a model folder (`convcorr_jax.pose.shipped`'s format), for any skeleton;
with --name and no --out, a model shipped in the package.

    python -m convcorr_train.ship_model --run runs/pose_flic --out MODEL_DIR [--root DATA] [--name NAME]
        [--commit COMMIT] [--command "convcorr train pose --config flic --set data_root=FLIC"] [--scores S.json]
    python -m convcorr_train.ship_model --run runs/pose_flic --name flic --commit COMMIT --command ...

Writes (`pose.export.model_folder.export`) the run's last parameters (float32, byte-reproducible), its skeleton, its
spatial model, its validated read-out (readout.json: the run's own, else chosen on its validation split now), and for a
FLIC person-crop run the frame statistics `estimate_frames` needs, with model.json naming the command, the commit,
the run's code version and wall time, and the scores in SCORES.json ({what: {metric: percent}}, as
`bench/pose_cli_flic.py --json` writes them). What the run lacks is made from its data: --root gives the data's
folder when the run's data_root is not on this machine (a run trained elsewhere). Prints the files and their
sha256. The model then loads anywhere: `convcorr pose --model MODEL_DIR`, `pose.estimate(..., model=MODEL_DIR)`.

The folder is made in one step (built beside it, then swapped in). An existing model folder (model.json and a
model's files, nothing else) is replaced only with --force; a folder holding anything else (a notes file, a
sub-folder, a training run) is refused in one line naming what is there, before any work, and left as it was.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from pathlib import Path

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import shipped
from convcorr_jax.pose.export import model_folder
from convcorr_jax.pose.training import run_folder

EXPECTS = {"flic": "a person crop: the person's torso box (shoulders to hips, as FLIC labels it) with --torso-box, "
                   "or an image showing one person about as a 2.5 x torso-box square does; or a whole frame with one "
                   "person and --two-pass (a torso point with --torso, else the frame's centre); one person per "
                   "box or frame"}
SUMMARY = {"flic": "Tompson et al.'s cascade (coarse heat-map model + fine model) on a MobileNetV2 ImageNet trunk, "
                   "fine-tuned on FLIC train minus the validation movies; 11 upper-body joints"}


def _read_scores(path: str | None) -> dict:
    """The model's scores from --scores' JSON file ({} without one).

    Args:
        path: the file, {what: {metric: percent}} (as `bench/pose_cli_flic.py --json` writes it), or None.

    Returns:
        The scores as a dict.

    Raises:
        InputError: one line naming the file: missing, unreadable, not JSON, or not an object of objects.
    """
    if path is None:
        return {}
    try:
        scores = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, "--scores", "a JSON file {what: {metric: percent}}", " ".join(str(e).split())) from None
    if not isinstance(scores, dict) or not all(isinstance(v, dict) for v in scores.values()):
        raise InputError(path, "--scores", "a JSON object {what: {metric: percent}}", type(scores).__name__ if not
                         isinstance(scores, dict) else "a value that is not an object")
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--run", required=True, help="a finished `convcorr train pose` run folder")
    p.add_argument("--out", default=None, help="the model folder (default with --name: the package's models/NAME)")
    p.add_argument("--name", default=None, help="the model's name (default: --out's folder name)")
    p.add_argument("--root", default=None, help="the run's dataset folder here, when its data_root is elsewhere")
    p.add_argument("--commit", default="", help="the commit the run was trained at")
    p.add_argument("--command", default="", help="the training command, as a user types it")
    p.add_argument("--scores", default=None, help="JSON {what: {metric: percent}} of the model's scores")
    p.add_argument("--summary", default=None, help="one line on what the model is")
    p.add_argument("--expects", default=None, help="one line on the input the model expects")
    p.add_argument("--made-for", default="", help="one line on the people the model was made for (--list-models)")
    p.add_argument("--machine", default=f"{platform.machine()} CPU",
                   help="what the run trained on, e.g. '2-core AMD EPYC CPU, AVX2' (CPU floating point differs by "
                        "vector instruction set, so a retrain matches bit for bit only on the same kind)")
    p.add_argument("--force", action="store_true", help="replace the model folder already there (one that "
                   "ship_model wrote); a folder holding anything else is refused all the same")
    a = p.parse_args(argv)
    scores = _read_scores(a.scores)  # before any work
    if a.out is None and a.name is None:
        raise InputError(None, "--out", "a model folder (or --name NAME for the package's models/NAME)", "none")
    name = a.name or Path(a.out).name
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):  # a path would write outside the models folder
        raise InputError(None, "--name" if a.name else "--out", "a plain model name (letters, digits, _ . -; no "
                         "path), the model folder's name", name)
    out = Path(a.out) if a.out else shipped.MODELS / name
    field = "--out" if a.out else "--name"
    if io.check_replaceable(out, shipped.MODEL_FOLDER, field) and not a.force:  # before any work
        raise InputError(out, field, "a new or empty folder, or --force to replace the model folder there",
                         "a model folder (model.json)")
    metrics = run_folder.read_metrics(a.run) or {}
    if metrics.get("status") != "ok":
        raise InputError(a.run, "metrics.json status", "a finished run (\"ok\")", metrics.get("status"))
    about = {"summary": a.summary if a.summary is not None else SUMMARY.get(name, ""),
             "expects": a.expects if a.expects is not None else EXPECTS.get(name, ""), "scores": scores,
             "made_for": a.made_for,
             "made_by": {"command": a.command, "commit": a.commit, "code_version": metrics["key"]["version"],
                         "seconds": metrics.get("seconds"), "versions": metrics.get("versions"),
                         "machine": a.machine}}
    record = model_folder.export(a.run, out, a.root, about, name)
    for rel, sha in sorted(record["files"].items()):
        print(f"{out / rel}  {(out / rel).stat().st_size} bytes  sha256 {sha}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """`main` as a command: bad input (a refused --out, an unfinished run) is one line on stderr, exit code 2."""
    try:
        return main(argv)
    except InputError as e:
        print(f"ship_model: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(cli())
