"""`convcorr pose --list-models` and `convcorr pose --export-onnx FILE`: the two forms of the command that exit
without estimating joints (the shipped models named with their scores and what each expects; a model's coarse
heat-map network written as ONNX), each refusing the flags that estimate.
"""

from __future__ import annotations

import argparse
import time

from convcorr_jax.core import io
from convcorr_jax.core.errors import InputError
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import shipped
from convcorr_jax.pose.estimation import DEFAULT_MODEL, load
from convcorr_jax.pose.export.onnx_file import export_onnx
from convcorr_jax.pose.two_pass import frame_settings

GROUP_ORDER = ("Head", "Shoulder", "Elbow", "Wrist", "Hip")  # the order --list-models prints a model's scores in


def _frame_line(frames: dict, speed: dict) -> str:
    """How a model reads whole frames in two passes (its own settings, else FRAME_TEST_TIME's) and its time per
    frame."""
    own = frame_settings(frames.get("settings"))
    passes = 2 + int(own["refine"])
    text = (f"first pass letterboxed in {frames['input_size']} px, {passes} passes in all, crops at "
            f"{own['second_pass']:g} x the found torso's" + ("" if frames.get("settings") else " (FRAME_TEST_TIME's)"))
    if speed.get("s_per_frame_two_pass"):
        text += f"; {speed['s_per_frame_two_pass']:.2f} s per frame on {speed['machine']} ({speed['two_pass_how']})"
    return text


def list_models() -> int:
    """Print each shipped model: its summary, the people it was made for, what it expects and its scores."""
    for name in shipped.names():
        d = shipped.describe(name)
        print(f"{name}: {d.get('summary', '')}")
        print(f"  made for: {d.get('made_for') or 'not stated'}")
        print(f"  expects: {d.get('expects', '')}")
        size = d.get("config", {}).get("model", {}).get("image_size")
        speed = d.get("speed") or {}
        print(f"  input: {size} px" + (f"; {speed['ms_per_crop']:.1f} ms per crop on {speed['machine']} "
                                      f"({speed['how']})" if speed.get("ms_per_crop") else ""))
        if d.get("frame_statistics"):
            print(f"  whole frames (--two-pass): {_frame_line(d['frame_statistics'], speed)}")
        for what, scores in d.get("scores", {}).items():
            order = sorted(scores, key=lambda k: (GROUP_ORDER.index(k) if k in GROUP_ORDER else len(GROUP_ORDER), k))
            print(f"  {what}: " + ", ".join(f"{k} {scores[k]:.1f}" for k in order))
        saved = pose_readout.load_readout(shipped.MODELS / name)
        if saved is not None:
            split = saved[1].get("split", "validation split")
            print(f"  read-out: {saved[0].label()} (the read-out chosen on {_with_the(split)}: "
                  f"{saved[1].get('rule', '')})")
            test_time = saved[1].get("test_time")
            if test_time:
                print(f"  test-time flip and crop scales chosen on {test_time.get('chosen_on', '?')}: "
                      f"{test_time.get('rule', '')}")
            if saved[0].warn_below is not None:
                print(f"  warns below a mean confidence of {saved[0].warn_below:.2f} "
                      f"({saved[1].get('warning', {}).get('rule', 'chosen on its validation split')})")
        made = d.get("made_by", {})
        print(f"  made by: {made.get('command', '?')} at commit {made.get('commit', '?')}")
    return 0


def _with_the(text: str) -> str:
    """`text` with a leading "the " unless it has one ("the held-out split", "validation split" -> "the ...")."""
    return text if text.lower().startswith("the ") else f"the {text}"


def check_alone(args: argparse.Namespace, flag: str, allowed: str, **others: object) -> None:
    """InputError naming `flag` if any flag that estimates joints (or one of `others`, flag name -> value) is
    given beside it: a command that exits without estimating takes only `allowed`."""
    estimating = {"IMAGES": args.images, "--out": args.out is not None, "--json": args.json is not None,
                  "--torso-box": args.box, "--person-box": args.person_box, "--torso": args.torso,
                  "--spatial": args.spatial, "--readout": args.readout, "--flip": args.flip, "--scales": args.scales,
                  "--merge": args.merge, "--two-pass": args.two_pass, "--every": args.every != 1, **others}
    given = [name for name, value in estimating.items() if value]
    if given:
        raise InputError(None, flag, allowed, " ".join(given))


def export(args: argparse.Namespace) -> int:
    """`--export-onnx FILE`: the model's coarse network as ONNX (`export.onnx_file.export_onnx`); prints what it
    holds."""
    check_alone(args, "--export-onnx", "the model alone (--model, --batch)", **{"--list-models": args.list_models})
    batch = 1 if args.batch is None else args.batch
    if batch < 1:
        raise InputError(None, "--batch", "the file's batch size, an integer >= 1", batch)
    io.check_writable(args.export_onnx, "--export-onnx")
    t0 = time.perf_counter()
    info = export_onnx(load(args.model or DEFAULT_MODEL), args.export_onnx, batch=batch)
    (name, shape_in), (out, shape_out) = next(iter(info["inputs"].items())), next(iter(info["outputs"].items()))
    print(f"pose: wrote {info['path']} ({info['bytes'] / 2**20:.1f} MiB, ONNX opset {info['opset']}), model "
          f"{info['model']}: {name} float32 {shape_in} (RGB in [0, 1]) -> {out} float32 {shape_out} (stride "
          f"{info['stride']}; joints {' '.join(info['names'])}) ({time.perf_counter() - t0:.1f} s)")
    for line in info["not_exported"]:
        print(f"pose: {line}")
    return 0
