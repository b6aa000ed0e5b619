"""`convcorr pose IMAGES... [--model flic|RUN] [--out DIR] [--json FILE] [--person-box X0,Y0,X1,Y1 ... |
--torso-box X0,Y0,X1,Y1 ...]
[--spatial on|off] [--readout R] [--flip] [--scales S1,S2,...] [--merge mean|median] [--two-pass [--torso X,Y ...]]`,
`convcorr pose CLIP.mp4 --out DIR [--every N] [...]` and `convcorr pose --list-models`: the joints of the person in
each image or video frame from a trained pose model, drawn as a skeleton. `convcorr pose --export-onnx FILE [--model
flic|RUN] [--batch N]`: the model's coarse heat-map network as ONNX for runtimes without JAX
(`convcorr_jax.pose.export.onnx_file`, the `onnx` extra): prints the file's input and output and what it leaves out.

`--model`: a shipped model by name (default `person`, people of every kind from person boxes; `flic` with
`--torso-box` or `--two-pass`, FLIC's protocol; `convcorr_jax.pose.shipped`, `--list-models` names each with
its scores and what it expects) or a `convcorr train pose` run folder (`--run` is the same flag).
The images may have any size; each is the network's input as `convcorr_jax.pose.estimate` makes it: with
`--person-box` (one per image, in order; for one image, one per person in it: several people in one photo) a box
around the whole visible person, as detectors draw it (a FLIC model finds the torso inside it,
`convcorr_jax.pose.person_boxes`); with `--torso-box` (given as `--person-box` is) the person's torso box for a
FLIC model (the person crop of training) or the person's box for other runs (`--box`, its former name, still works and
says once on stderr that it means the torso box). Every box is checked against its image before any work
(`convcorr_jax.core.geometry.check_box`): finite, X0 <= X1 and Y0 <= Y1 (0-based inclusive pixels), overlapping the
image (partly outside is fine); a `--torso` point must lie inside its image. With no box, a FLIC model trained on
person crops runs whole frames in two passes from each frame's centre (`--two-pass` without `--torso`): on FLIC's
validation movies elbow / wrist PCK@0.2 79.2 / 75.8, against 58.4 / 52.3 with the whole image as the person box
and 30.7 / 29.0 letterboxed (bench/pose_no_box.py, bench/RESULTS_pose.md); other runs (or a model without frame
statistics) take the whole image letterboxed. The printed summary and the JSON's "input" say which ran.
`--spatial` on/off: the model's spatial model on crops (FLIC models; default: as the model's validated read-out
says, off for the shipped models; always on in two passes). `--flip`, `--scales` and `--merge` are test-time flip,
crop scales and how the scales' points are merged (unless given: the model's own flip and scales, as
`--list-models` names them, e.g. `person`'s flip and crop scale 0.9, else off and 1; mean; for FLIC person crops
`convcorr_jax.pose.estimation.CROP_TEST_TIME`, `--flip --scales 0.7,0.8,0.9,1,1.1,1.2 --merge median`, was chosen on
the validation movies). `--two-pass` (FLIC models trained on person crops): whole frames in two passes
(`convcorr_jax.pose.estimate(..., two_pass=True)` with `FRAME_TEST_TIME`), the spatial model conditioned on `--torso`
(one X,Y per image; default the image's centre). Images need `--out` or `--json` (or both): a command that would
write nothing is refused before any work. Writes:
  DIR/<image name>_pose.png  the image with the person box given (white), the torso box given or found (black) and
                             the torso point of two passes (a black cross), the skeleton of each person of the
                             image: one colour per limb (the joint set's bones, e.g. FLIC's
                             `convcorr_jax.pose.joints.FLIC.edges`), joints as dots, and a legend strip below
                             naming each limb and box in its colour
  FILE                       JSON: {"model": {"name", "kind" (shipped, model folder, run folder), "path", "digest"
                             ("sha256:..."), "digest_of" (params.npz as model.json records it, or a run folder's
                             parameters), "given" (the --model text)}, "input" (what ran, as printed), "no_box" (what
                             ran without a box, or null), "readout", "spatial", "flip", "scales", "merge",
                             "two_pass", "summary" (the printed summary line), "names" [K], "skeleton" [[i, j]...],
                             "warn_below", "images" (one per person: each image's, or each box's of the one
                             image given, in order): [{"image", "width", "height", "person_box" (given, or null),
                             "torso_box" (the box the crops were placed around, or null), "torso_box_from" ("given",
                             "found inside the person box", "the person box", "found by the first pass"), "torso"
                             [x, y] (the spatial model's point), "torso_from" ("given", "the frame's centre", "the
                             torso box's centre", "the image's centre"), "joints": [{"name", "x", "y",
                             "confidence"}] (K of them; (x, y) pixels of the image, 0-based, upright as viewers
                             show it (an EXIF orientation applied, `data.types.load_image`); confidence in [0, 1]:
                             the coarse heat-map's value at the joint), "mean_confidence", "warning" (a line when the
                             mean confidence is below the model's threshold "warn_below", chosen on its validation
                             split, two passes included; else null)}], "png" [paths], "seconds", "versions"}
A video (`convcorr_cli.pose_video.SUFFIXES`; one per command, with --out) is read with PyAV in batches, every N-th
frame (`--every`), each frame estimated as an image is with no box (two passes for a FLIC crop model):
DIR/<clip>_pose.mp4 with the skeletons drawn and DIR/<clip>_pose.jsonl, one JSON line per frame
(`convcorr_cli.pose_video`), with the progress of the frames on stderr (`--no-progress`: none).
Prints one line per person (mean confidence, the boxes and torso point used, the PNG), one more for each person
below the model's confidence threshold (`Poses.warned`), and a summary line (the model and its digest,
what ran, the read-out). The model, every image, box and point and the output paths are checked before any work
(no output over an image, the video or another output, none inside the model's folder: it is read, never written);
an error is one line.

This module parses the command line and runs the estimation; the flags read before any work are `pose_flags`'s,
the drawing `pose_draw`'s, --list-models and --export-onnx `pose_models`'s.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convcorr_cli import pose_video
from convcorr_cli.eval_output import check_output_paths
from convcorr_cli.options import document
from convcorr_cli.pose_draw import boxes_to_draw, draw
from convcorr_cli.pose_flags import make_plan, parse_boxes, parse_torso, png_paths
from convcorr_cli.pose_models import check_alone, export, list_models
from convcorr_jax.core import io, runinfo
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import read_image
from convcorr_jax.pose import predict
from convcorr_jax.pose import scales as pose_scales
from convcorr_jax.pose.estimation import (DEFAULT_MODEL, FRAME_MODEL, TORSO_MODEL, Poses, default_model, estimate,
                                          load, model_identity)
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME


class _TorsoBoxFlag(argparse.Action):
    """--torso-box and its former name --box: one list, in the order given; --box also marks `legacy_box`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), values])
        if option_string == "--box":
            namespace.legacy_box = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Read images (any size) or one video and estimate the joints of the person in each with a shipped "
             "pose model or a `convcorr train pose` run (--model), from a person box, a torso box or none. Writes "
             "each image with its skeleton drawn to --out as <image name>_pose.png and the joints of every image to "
             "the JSON --json (images need one or both); a video gives --out/<clip>_pose.mp4 and <clip>_pose.jsonl. "
             "--list-models prints the shipped models; --export-onnx writes the coarse network as ONNX.",
             "convcorr pose photo.jpg --out poses/",
             "convcorr pose photo.jpg --person-box 40,10,470,511 --model flic_256 --json photo.json",
             "convcorr pose clip.mp4 --out poses/ --every 2")
    p.set_defaults(legacy_box=False)
    p.add_argument("images", nargs="*", help="image files (any size), or one video (.mp4, .mov, .avi, ...)")
    p.add_argument("--model", "--run", dest="model", default=None,
                   help=f"a shipped model (default {DEFAULT_MODEL}; {TORSO_MODEL} with --torso-box, {FRAME_MODEL} with "
                        "--two-pass; see --list-models) or a `convcorr train pose` run folder (config.json + "
                        "checkpoints/); a folder named like a model: ./NAME")
    p.add_argument("--list-models", action="store_true",
                   help="name the shipped models, their scores and what each expects, and exit")
    p.add_argument("--export-onnx", default=None, metavar="FILE",
                   help="write the model's coarse heat-map network (images float32 [N, S, S, 3] in [0, 1] -> heat-maps "
                        "[N, S/pool, S/pool, K]) to FILE as ONNX and exit (the onnx extra; no IMAGES); FILE outside "
                        "the model's folder, new or an earlier export (any other file there is refused)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="with --export-onnx: the file's fixed batch size N (default 1)")
    p.add_argument("--out", default=None, help="folder for <image name>_pose.png, one per image (a video: "
                                                "<clip>_pose.mp4 and <clip>_pose.jsonl; required); images need "
                                                "--out or --json, or both")
    p.add_argument("--every", type=int, default=1, metavar="N", help="a video's every N-th frame (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar of a video's frames")
    p.add_argument("--json", default=None, help="write the joints of every image and what was used here (JSON)")
    p.add_argument("--person-box", dest="person_box", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="a box around the whole visible person in an image (pixels, 0-based inclusive, overlapping "
                        "the image), as detectors draw it, given once per image in order, or for one image once per "
                        "person in it (several people in one photo); a FLIC model finds the "
                        "torso inside it; --person-box=-5,0,40,60 for a negative X0")
    p.add_argument("--torso-box", "--box", dest="box", action=_TorsoBoxFlag, default=[], metavar="X0,Y0,X1,Y1",
                   help="the person's torso box in an image (pixels, 0-based inclusive, overlapping the image; "
                        "shoulders to hips, as FLIC labels it; other skeletons' runs: the person's box), given once "
                        "per image in order, or for one image once per person in it; --torso-box=-5,0,40,60 for a "
                        "negative X0; --box: its former name, still accepted with a note (a box around the whole "
                        "person is --person-box)")
    p.add_argument("--spatial", choices=("on", "off"), default=None,
                   help="the model's spatial model on crops (FLIC models); default: as the model's validated "
                        "read-out says (readout.json; the shipped models: off), else on where the model has one; "
                        "always on in two passes")
    p.add_argument("--readout", choices=predict.READOUTS, default=None,
                   help="the prediction read-out on crops (default: the model's own, chosen on its validation split; "
                        "see --list-models; cascade for a model without one); two passes use the model's own")
    p.add_argument("--flip", action="store_true",
                   help="test-time horizontal flip on crops, left and right joints swapped (default: the model's own, "
                        "see --list-models, else off; in two passes always on, FRAME_TEST_TIME's)")
    p.add_argument("--scales", default=None, metavar="S1,S2,...",
                   help="test-time crop scales, their points merged by --merge (default: the model's own, see "
                        "--list-models, else 1, one crop; FLIC crops: "
                        "--flip --scales 0.7,0.8,0.9,1,1.1,1.2 --merge median is the choice on the validation "
                        "movies, convcorr_jax.pose.estimation.CROP_TEST_TIME, used only when given; in two passes: "
                        "the second pass's, default FRAME_TEST_TIME's 0.7,0.8,0.9,1,1.1,1.2)")
    p.add_argument("--merge", choices=pose_scales.MERGES, default=None,
                   help="how the scales' points are merged: mean, or median of x and of y (default: mean; in two "
                        "passes: FRAME_TEST_TIME's median)")
    p.add_argument("--two-pass", action="store_true",
                   help="whole frames in two passes with a FLIC model trained on person crops (the paper's protocol, "
                        "settings chosen on the validation movies: convcorr_jax.pose.two_pass.FRAME_TEST_TIME); "
                        "what such a model does with no box anyway")
    p.add_argument("--torso", action="append", default=[], metavar="X,Y",
                   help="in two passes: the person's torso point in an image (pixels, inside the image), once per "
                        "image in order, or not at all (the images' centres)")


def _estimator(args: argparse.Namespace, r, plan: dict) -> Callable[..., Poses]:
    """The command's one estimation call, `call(images, torso_boxes=None, torso=None, person_boxes=None) ->
    Poses`: `estimate` with the read-out flags, in two passes (`FRAME_TEST_TIME`'s settings) where `plan` says so.
    `torso_boxes` (`--torso-box`) are torso boxes for a torso-crop model (`PoseModel.torso_crops`), else (as the flag
    says) the person's boxes."""
    def call(images, torso_boxes=None, torso=None, person_boxes=None) -> Poses:
        if plan["two_pass"]:
            return estimate(images, r, two_pass=True, torso=torso, flip=FRAME_TEST_TIME["flip"], scales=plan["scales"],
                            merge=plan["merge"])
        if torso_boxes is not None and not r.torso_crops:  # `--torso-box` to a model without torso crops
            torso_boxes, person_boxes = None, torso_boxes
        return estimate(images, r, torso_boxes=torso_boxes, spatial=plan["spatial"], readout=args.readout,
                        flip=plan["flip"], scales=plan["scales"], merge=plan["merge"], person_boxes=person_boxes)

    return call


def _sources(plan: dict, given: dict, torso_found: bool) -> tuple[str | None, str]:
    """(where the torso box came from or None, where the torso point came from), as the JSON and PNG say."""
    box: str | None
    if given["torso_box"]:
        box = "given"
    elif given["person_box"]:
        box = "found inside the person box" if torso_found else "the person box"
    else:
        box = "found by the first pass" if plan["two_pass"] else None
    if plan["two_pass"]:
        point = "given" if given["torso"] else "the frame's centre"
    else:
        point = "the torso box's centre" if box else "the image's centre"
    return box, point


def _record(path: str, img: np.ndarray, i: int, poses: Poses, person, sources: tuple[str | None, str]) -> dict:
    """The JSON record of image i: its size, the boxes and torso point given or found, the joints."""
    d = poses.as_dicts()[i]
    box = poses.torso_boxes[i] if poses.torso_boxes is not None else None
    box = None if box is None or not np.all(np.isfinite(box)) else [float(v) for v in box]
    d.pop("torso_box", None)
    return {"image": str(path), "width": int(img.shape[1]), "height": int(img.shape[0]),
            "person_box": None if person is None else [float(v) for v in person[i]], "torso_box": box,
            "torso_box_from": sources[0] if box is not None else None,
            "torso": [float(v) for v in poses.torso[i]], "torso_from": sources[1], **d}


def _numbers_text(v) -> str:
    return ",".join(f"{x:.1f}" for x in v)


def _people(paths: list[str], images: list[np.ndarray], poses: Poses, person, sources: tuple[str | None, str],
            pngs: list[Path], skeleton) -> list[dict]:
    """The JSON record of each person (one per image, or one per box of the one image given), each image drawn
    with every person in it (its PNG, where --out is given), and one line per person printed (and one for each
    person below the model's threshold)."""
    owner = [0] * len(poses) if len(images) == 1 else list(range(len(images)))  # each person's image
    records = [_record(paths[k], images[k], i, poses, person, sources) for i, k in enumerate(owner)]
    shown = [boxes_to_draw(rec["person_box"], rec["torso_box"], rec["torso"] if poses.spatial else None,
                           rec["torso_box_from"], rec["torso_from"]) for rec in records]
    for k, (png, img) in enumerate(zip(pngs, images)):
        mine = [i for i, o in enumerate(owner) if o == k]
        with io.atomic_path(png) as tmp:
            draw(img, poses.points[mine], poses.names, skeleton, [b for i in mine for b in shown[i]]).save(
                tmp, format="PNG")
    for i, (k, rec) in enumerate(zip(owner, records)):
        who = f"{paths[k]}" + (f" (person {i + 1} of {len(owner)})" if len(owner) > len(images) else "")
        last = i == len(owner) - 1 or owner[i + 1] != k
        print(f"{who}: {len(poses.names)} joints, mean confidence {rec['mean_confidence']:.2f}"
              + "".join(f"; {label} {_numbers_text(v)}" for label, v, _ in shown[i])
              + (f"; wrote {pngs[k]}" if pngs and last else ""))
        if poses.warned[i]:
            print(f"{who}: warning: {poses.warning(i)}")
    return records


def _video(args: argparse.Namespace, r, call: Callable[..., Poses], plan: dict, model: dict) -> int:
    t0 = time.perf_counter()
    io.check_writable(args.out, "--out", kind="folder")
    sources = _sources(plan, {"torso_box": False, "person_box": False, "torso": False}, False)

    def drawn(img, poses, i):
        record = _record("", img, i, poses, None, sources)
        boxes = boxes_to_draw(None, record["torso_box"], record["torso"] if plan["two_pass"] else None,
                              record["torso_box_from"], record["torso_from"])
        return np.asarray(draw(img, poses.points[i], r.names, r.skeleton, boxes))

    video, lines, n = pose_video.run_video(args.images[0], Path(args.out), args.every, call, drawn,
                                           progress=not args.no_progress)
    print(f"pose: {n} frame(s) of {args.images[0]} (every {args.every}), model {model['name']} "
          f"({model['digest'][:19]}), input: {plan['input']}; wrote {video} and {lines} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


def _note_box(args: argparse.Namespace) -> None:
    if args.legacy_box:
        print("pose: note: --box is the torso box (shoulders to hips; now named --torso-box); for a box around the "
              "whole person use --person-box", file=sys.stderr)


def _check(args: argparse.Namespace) -> bool:
    """The flags that need no model or image; whether the command reads a video."""
    if args.batch is not None:
        raise InputError(None, "--batch", "only with --export-onnx", args.batch)
    if not args.images:
        raise InputError(None, "IMAGES", "at least one image or video (or --list-models)", "none")
    if args.every < 1:
        raise InputError(None, "--every", "a frame stride >= 1", args.every)
    video = any(pose_video.is_video(p) for p in args.images)
    if not video and args.every != 1:
        raise InputError(None, "--every", "only with a video", args.every)
    # before the flags that read a box or a point are weighed (`make_plan`), whose errors would offer them
    wrong = [what for what, on in ((f"{len(args.images)} files", len(args.images) != 1), ("no --out", not args.out),
                                   ("--torso-box", args.box), ("--person-box", args.person_box),
                                   ("--torso", args.torso), ("--json", args.json)) if on]
    if video and wrong:
        raise InputError(None, "IMAGES", "one video per command, with --out and without --torso-box, --person-box, "
                         "--torso or --json (the frames' joints go to <clip>_pose.jsonl)",
                         f"{' '.join(args.images)} with {', '.join(wrong)}")
    return video


def _summary(n: int, model: dict, plan: dict, poses: Poses) -> str:
    return (f"pose: {n} image(s)" + (f", {len(poses)} people" if len(poses) != n else "")
            + f", model {model['name']} ({model['digest'][:19]}), input: {plan['input']}, read-out {poses.readout}"
            + (", test-time flip" if plan["flip"] else "")
            + (f", crop scales {'/'.join(f'{v:g}' for v in plan['scales'])} ({plan['merge']})"
               if plan["scales"] != (1.0,) else "")
            + f", spatial model {'on' if poses.spatial else 'off'}")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.export_onnx is not None:
        return export(args)
    if args.list_models:
        check_alone(args, "--list-models", "no other flag (it names every shipped model)",
               **{"--model": args.model, "--batch": args.batch is not None})
        return list_models()
    video = _check(args)
    given = args.model or default_model(torso_boxes=bool(args.box), two_pass=args.two_pass)
    r = load(given)  # a shipped model or a training run, or one line saying what was expected
    if not video and args.out is None and args.json is None:
        raise InputError(None, "--out", "--out DIR (a drawing per image) or --json FILE (the joints), or both: "
                         "without either nothing would be written", "neither")
    model = {**model_identity(r), "given": str(given)}
    if args.out is not None:  # an empty path is refused there, by name
        io.check_writable(args.out, "--out", kind="folder")
    if args.json is not None:
        io.check_writable(args.json, "--json")
    pngs = png_paths(Path(args.out), args.images) if args.out is not None and not video else []
    outputs = pose_video.output_paths(args.images[0], Path(args.out)) if video and args.out is not None else pngs
    # no output over an image, the video or another output (--json not the drawings' folder or above it), none
    # inside the model's folder (read, never written)
    check_output_paths({"--json": args.json, **{f"--out ({p.name})": p for p in outputs}},
                       {f"IMAGES[{i}]": p for i, p in enumerate(args.images)}, model=r.path)
    plan = make_plan(args, r, video)
    call = _estimator(args, r, plan)
    if video:
        return _video(args, r, call, plan, model)
    images = [read_image(p, "IMAGES") for p in args.images]
    sizes = [im.shape[:2] for im in images]
    boxes = parse_boxes(args.box, args.images, sizes, "--torso-box")
    person = parse_boxes(args.person_box, args.images, sizes, "--person-box")
    torso = parse_torso(args.torso, args.images, sizes)
    _note_box(args)
    poses = call(images, torso_boxes=boxes, torso=torso, person_boxes=person)
    found = person is not None and r.torso_crops
    sources = _sources(plan, {"torso_box": boxes is not None, "person_box": person is not None,
                              "torso": torso is not None}, found)
    records = _people(args.images, images, poses, person, sources, pngs, r.skeleton)
    line = _summary(len(images), model, plan, poses)
    if args.json is not None:
        io.write_json(args.json, {"model": model, "input": plan["input"], "no_box": plan["no_box"],
                                  "readout": poses.readout, "spatial": poses.spatial, "flip": plan["flip"],
                                  "scales": list(plan["scales"]), "merge": plan["merge"],
                                  "two_pass": plan["two_pass"], "summary": line,
                                  "names": list(poses.names), "skeleton": [list(e) for e in r.skeleton],
                                  "warn_below": poses.warn_below,
                                  "images": records, "png": [str(p) for p in pngs],
                                  "seconds": time.perf_counter() - t0, "versions": runinfo.versions()})
    print(f"{line} ({time.perf_counter() - t0:.1f} s)" + (f"; wrote {args.json}" if args.json else ""))
    return 0
