"""Make a shipped pose model (`convcorr_jax.pose.shipped`) from a finished `convcorr train pose` run.

    python -m convcorr_train.ship_model --run runs/pose_flic --name flic --commit COMMIT \\
        --command "convcorr train pose --config flic --set data_root=FLIC" [--scores SCORES.json] [--out DIR]

Writes `convcorr_jax/pose/models/<name>/` (or --out): the run's last parameters (float32, byte-reproducible),
its spatial model, its validated read-out (readout.json, written by `convcorr eval flic --split val`), and for a
FLIC person-crop run the frame statistics `estimate_frames` needs (learned from the
run's data_root at `two_pass.FRAME_READOUT`'s input size), with model.json naming the command, the commit, the
run's code version and wall time, and the scores in SCORES.json ({what: {metric: percent}}, as
`bench/pose_cli_flic.py --json` writes them). Prints the files and their sha256.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

from convcorr_jax.errors import InputError
from convcorr_jax.pose import estimation, run_folder, shipped
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose.two_pass import FRAME_READOUT, train_statistics

EXPECTS = {"flic": "a person crop: the person's torso box (shoulders to hips, as FLIC labels it) with --box, or an "
                   "image showing one person about as a 2.5 x torso-box square does; or a whole frame with one "
                   "person and --two-pass (a torso point with --torso, else the frame's centre); one person per "
                   "box or frame"}
SUMMARY = {"flic": "Tompson et al.'s cascade (coarse heat-map model + fine model) on a MobileNetV2 ImageNet trunk, "
                   "fine-tuned on FLIC train minus the validation movies; 11 upper-body joints"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a finished `convcorr train pose` run folder")
    p.add_argument("--name", required=True, help="the model's name, e.g. flic")
    p.add_argument("--commit", required=True, help="the commit the run was trained at")
    p.add_argument("--command", required=True, help="the training command, as a user types it")
    p.add_argument("--scores", default=None, help="JSON {what: {metric: percent}} of the model's scores")
    p.add_argument("--out", default=None, help="the model folder (default: the package's models/<name>)")
    p.add_argument("--machine", default=f"{platform.machine()} CPU",
                   help="what the run trained on, e.g. '2-core AMD EPYC CPU, AVX2' (CPU floating point differs by "
                        "vector instruction set, so a retrain matches bit for bit only on the same kind)")
    a = p.parse_args(argv)
    run = estimation.load(Path(a.run))
    metrics = run_folder.read_metrics(a.run) or {}
    if metrics.get("status") != "ok":
        raise InputError(a.run, "metrics.json status", "a finished run (\"ok\")", metrics.get("status"))
    frames = None
    spatial = estimation.spatial_model(run)
    if run.config.data == "flic" and run.config.protocol == "person" and spatial is not None:
        config = dataclasses.replace(spatial[0], unary_power=float(FRAME_READOUT["unary_power"]))
        priors, ratio = train_statistics(str(run.config.data_root), FRAME_READOUT["input_size"],
                                         run.config.model.pool, config)
        frames = shipped.FrameStatistics(FRAME_READOUT["input_size"], run.config.model.pool, config, priors, ratio)
    scores = json.loads(Path(a.scores).read_text()) if a.scores else {}
    about = {"summary": SUMMARY.get(a.name, ""), "expects": EXPECTS.get(a.name, ""), "scores": scores,
             "made_by": {"command": a.command, "commit": a.commit, "code_version": metrics["key"]["version"],
                         "seconds": metrics.get("seconds"), "versions": metrics.get("versions"),
                         "machine": a.machine}}
    out = Path(a.out) if a.out else shipped.MODELS / a.name
    record = shipped.write(out, a.name, run.config, run.params, spatial, frames, about, pose_readout.load(a.run))
    for rel, sha in sorted(record["files"].items()):
        print(f"{out / rel}  {(out / rel).stat().st_size} bytes  sha256 {sha}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
