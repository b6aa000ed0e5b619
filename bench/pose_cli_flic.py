"""`convcorr pose` from the shell on FLIC test, scored as the README's row is: the command run in a new process on
the test frames given by absolute path, with the annotated torso boxes (person crops; plain, and with
`CROP_TEST_TIME`'s flags) or the torso centres (whole frames, `--two-pass`), its JSON read back and scored by
`bench/pose_estimate_flic.py`'s `scores` (PCK@0.05 per joint group at FLIC's torso normaliser, wrist PCK@0.2).
Nothing is chosen here.

  python bench/pose_cli_flic.py --root FLIC [--model flic] [--limit N] [--json SCORES.json] [--golden FILE --golden-count 6]

Prints the config, one markdown row per read-out and the wall time of each command. --json writes {row: {group:
percent}} (what `train/ship_model.py --scores` keeps in model.json); --golden writes the first frames' CLI outputs
(image name, box, joints) for tests/test_pose_shipped.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from convcorr_jax.core import geometry, io, runinfo
from convcorr_jax.pose import data as pose_data
from convcorr_jax.pose.estimation import CROP_TEST_TIME
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pose_estimate_flic import GROUPS, SIZE, scores  # noqa: E402

SCALES = ",".join(f"{s:g}" for s in CROP_TEST_TIME["scales"])
READOUTS = {  # row -> the flags of `convcorr pose` (besides --model, --json and the boxes / torso points)
    "person crops (torso boxes), plain": ["--spatial", "off"],
    "person crops (torso boxes), CROP_TEST_TIME": ["--spatial", "off", "--flip", "--scales", SCALES,
                                                   "--merge", CROP_TEST_TIME["merge"]],
    "whole frames, two passes (torso centres), FRAME_TEST_TIME": ["--two-pass"],
}


def run_cli(model: str, paths: list[str], per_image: list[list[str]], flags: list[str], out: Path) -> dict:
    """`convcorr pose` in a new process; its JSON."""
    cmd = [sys.executable, "-m", "convcorr_cli", "pose", *paths, "--model", model, *flags, "--json", str(out)]
    for args in per_image:
        cmd += args
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="FLIC folder (examples.mat + images/)")
    p.add_argument("--model", default="flic", help="a shipped model or a run folder (default flic)")
    p.add_argument("--limit", type=int, default=None, help="the first N test people only (a smoke run)")
    p.add_argument("--json", default=None, help="write {row: {group: percent}} here")
    p.add_argument("--golden", default=None, help="write the first --golden-count people's CLI outputs here")
    p.add_argument("--golden-count", type=int, default=6)
    a = p.parse_args(argv)
    samples = pose_data.flic_split(a.root, "test")[:a.limit]
    print(runinfo.header("convcorr pose on FLIC test", {"model": a.model, "root": a.root, "people": len(samples),
                                                        "readouts": READOUTS, "FRAME_TEST_TIME": FRAME_TEST_TIME}, 0),
          flush=True)
    paths = [str(Path(s.image_path).resolve()) for s in samples]
    boxes = [np.asarray(s.extras["torso_box"], np.float64) for s in samples]
    box_args = [["--torso-box=" + ",".join(f"{v:.17g}" for v in b)] for b in boxes]
    torso_args = [["--torso=" + ",".join(f"{v:.17g}" for v in (b[:2] + b[2:]) / 2)] for b in boxes]
    gt, visible, _ = pose_data.flic_ground_truth(samples, SIZE, protocol="frame")
    affine, _ = pose_data.flic_sample_affines(samples, SIZE, protocol="frame")
    norm = pose_data.flic_torso_norm(gt)
    gt = np.nan_to_num(gt)
    lines = ["| `convcorr pose` | " + " | ".join(GROUPS) + " | Wrist@0.2 | s |", "|---" * (len(GROUPS) + 3) + "|"]
    table, golden = {}, None
    with runinfo.timed() as total, tempfile.TemporaryDirectory() as tmp:
        for row, flags in READOUTS.items():
            per_image = torso_args if "--two-pass" in flags else box_args
            with runinfo.timed() as wall:
                got = run_cli(a.model, paths, per_image, flags, Path(tmp) / "out.json")
            pts = np.array([[[j["x"], j["y"]] for j in im["joints"]] for im in got["images"]], np.float64)
            pts = np.asarray(geometry.transform_points(pts, affine))
            values = scores(pts, gt, visible, norm)
            table[row] = dict(zip([*GROUPS, "Wrist@0.2"], [round(float(v), 1) for v in values]))  # as printed
            lines.append(f"| {row} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {wall['seconds']:.0f} |")
            print(lines[-1], flush=True)
            if row.endswith("CROP_TEST_TIME"):
                golden = [{"image": Path(im["image"]).name, "box": im["torso_box"], "joints": im["joints"]}
                          for im in got["images"][:a.golden_count]]
    print("\n".join(lines))
    print(f"wall time {total['seconds']:.1f} s")
    if a.json:
        io.write_json(a.json, table)
    if a.golden:
        io.write_json(a.golden, {"model": a.model, "flags": READOUTS["person crops (torso boxes), CROP_TEST_TIME"],
                                 "people": golden})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
