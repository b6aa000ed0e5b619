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
`--person-box` (one per image, in order) a box around the whole visible person, as detectors draw it (a FLIC model
finds the torso inside it, `convcorr_jax.pose.person_boxes`); with `--torso-box` the person's torso box for a FLIC
model (the person crop of training) or the person's box for other runs (`--box`, its former name, still works and
says once on stderr that it means the torso box). Every box is checked against its image before any work
(`convcorr_jax.core.geometry.check_box`): finite, X0 <= X1 and Y0 <= Y1 (0-based inclusive pixels), overlapping the
image (partly outside is fine); a `--torso` point must lie inside its image. With no box, a FLIC model trained on
person crops runs whole frames in two passes from each frame's centre (`--two-pass` without `--torso`): on FLIC's
validation movies elbow / wrist PCK@0.2 79.2 / 75.8, against 58.4 / 52.3 with the whole image as the person box
and 30.7 / 29.0 letterboxed (bench/pose_no_box.py, bench/RESULTS_pose.md); other runs (or a model without frame
statistics) take the whole image letterboxed. The printed summary and the JSON's "input" say which ran.
`--spatial` on/off: the model's spatial model on crops (FLIC models; default: as the model's validated read-out
says, off for the shipped models; always on in two passes). `--flip`, `--scales` and `--merge` are test-time flip,
crop scales and how the scales' points are merged (off, 1 and mean unless given; for FLIC person crops
`convcorr_jax.pose.estimation.CROP_TEST_TIME`, `--flip --scales 0.7,0.8,0.9,1,1.1,1.2 --merge median`, was chosen on
the validation movies). `--two-pass` (FLIC models trained on person crops): whole frames in two passes
(`convcorr_jax.pose.estimate(..., two_pass=True)` with `FRAME_TEST_TIME`), the spatial model conditioned on `--torso`
(one X,Y per image; default the image's centre). Images need `--out` or `--json` (or both): a command that would
write nothing is refused before any work. Writes:
  DIR/<image name>_pose.png  the image with the person box given (white), the torso box given or found (black) and
                             the torso point of two passes (a black cross), the skeleton: one colour per limb (the
                             joint set's bones, e.g. FLIC's `convcorr_jax.pose.joints.FLIC.edges`), joints as dots,
                             and a legend strip below naming each limb and box in its colour
  FILE                       JSON: {"model": {"name", "kind" (shipped, model folder, run folder), "path", "digest"
                             ("sha256:..."), "digest_of" (params.npz as model.json records it, or a run folder's
                             parameters), "given" (the --model text)}, "input" (what ran, as printed), "no_box" (what
                             ran without a box, or null), "readout", "spatial", "flip", "scales", "merge",
                             "two_pass", "summary" (the printed summary line), "names" [K], "skeleton" [[i, j]...],
                             "warn_below", "images": [{"image", "width", "height", "person_box" (given, or null),
                             "torso_box" (the box the crops were placed around, or null), "torso_box_from" ("given",
                             "found inside the person box", "the person box", "found by the first pass"), "torso"
                             [x, y] (the spatial model's point), "torso_from" ("given", "the frame's centre", "the
                             torso box's centre", "the image's centre"), "joints": [{"name", "x", "y",
                             "confidence"}] (K of them; (x, y) pixels of the image, 0-based; confidence in [0, 1]:
                             the coarse heat-map's value at the joint), "mean_confidence", "warning" (a line when the
                             mean confidence is below the model's threshold "warn_below", chosen on its validation
                             split, two passes included; else null)}], "png" [paths], "seconds", "versions"}
A video (`convcorr_cli.pose_video.SUFFIXES`; one per command, with --out) is read with PyAV in batches, every N-th
frame (`--every`), each frame estimated as an image is with no box (two passes for a FLIC crop model):
DIR/<clip>_pose.mp4 with the skeletons drawn and DIR/<clip>_pose.jsonl, one JSON line per frame
(`convcorr_cli.pose_video`).
Prints one line per image (mean confidence, the boxes and torso point used, the PNG), one more for each image whose
person is below the model's confidence threshold (`Poses.warned`), and a summary line (the model and its digest,
what ran, the read-out). The model, every image, box and point and the output paths are checked before any work;
an error is one line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from convcorr_cli import pose_video
from convcorr_cli.options import document
from convcorr_jax.core import geometry, io, runinfo
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import read_image
from convcorr_jax.pose import predict, shipped
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import scales as pose_scales
from convcorr_jax.pose.estimation import (DEFAULT_MODEL, FRAME_MODEL, TORSO_MODEL, Poses, default_model, estimate,
                                          load, model_identity)
from convcorr_jax.pose.export.onnx_file import export_onnx
from convcorr_jax.pose.two_pass import FRAME_TEST_TIME, frame_settings

GROUP_ORDER = ("Head", "Shoulder", "Elbow", "Wrist", "Hip")  # the order --list-models prints a model's scores in
# one colour per limb, in the order of the joint set's edges (repeats after 12 limbs)
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40))
# the boxes drawn under the skeleton, colours no limb has, each edged in the other
BOX_COLOURS = {"person box": (255, 255, 255), "torso box": (0, 0, 0)}


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
                        "the model's folder")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="with --export-onnx: the file's fixed batch size N (default 1)")
    p.add_argument("--out", default=None, help="folder for <image name>_pose.png, one per image (a video: "
                                                "<clip>_pose.mp4 and <clip>_pose.jsonl; required); images need "
                                                "--out or --json, or both")
    p.add_argument("--every", type=int, default=1, metavar="N", help="a video's every N-th frame (default 1)")
    p.add_argument("--json", default=None, help="write the joints of every image and what was used here (JSON)")
    p.add_argument("--person-box", dest="person_box", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="a box around the whole visible person in an image (pixels, 0-based inclusive, overlapping "
                        "the image), as detectors draw it, given once per image in order; a FLIC model finds the "
                        "torso inside it; --person-box=-5,0,40,60 for a negative X0")
    p.add_argument("--torso-box", "--box", dest="box", action=_TorsoBoxFlag, default=[], metavar="X0,Y0,X1,Y1",
                   help="the person's torso box in an image (pixels, 0-based inclusive, overlapping the image; "
                        "shoulders to hips, as FLIC labels it; other skeletons' runs: the person's box), given once "
                        "per image in order; --torso-box=-5,0,40,60 for a negative X0; --box: its former name, "
                        "still accepted with a note (a box around the whole person is --person-box)")
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


def _numbers(text: str) -> np.ndarray:
    """Comma-separated numbers -> float64 [k] (empty when one is not a number)."""
    try:
        return np.array([float(x) for x in text.split(",")])
    except ValueError:
        return np.zeros(0)


def _count(texts: list[str], n: int, flag: str) -> None:
    if texts and len(texts) != n:
        raise InputError(None, flag, f"one per image ({n}), or none", f"{len(texts)} given")


def parse_boxes(texts: list[str], paths: list[str], sizes: list[tuple[int, int]],
                flag: str) -> list[np.ndarray] | None:
    """One box per image from a repeated box flag (None when not given), each checked against its image by
    `geometry.check_box` (finite, X0 <= X1, Y0 <= Y1, overlapping the image; partly outside is fine): one
    InputError naming the flag, the image, what was expected and the text given otherwise."""
    if not texts:
        return None
    _count(texts, len(paths), flag)
    return [geometry.check_box(_numbers(t), size, None, flag, str(path), got=t)
            for t, path, size in zip(texts, paths, sizes)]


def parse_torso(texts: list[str], paths: list[str], sizes: list[tuple[int, int]]) -> np.ndarray | None:
    """One torso point per image from --torso (None when not given), each finite and inside its image
    (`geometry.check_point`); one InputError naming --torso, the image and the text otherwise."""
    if not texts:
        return None
    _count(texts, len(paths), "--torso")
    return np.stack([geometry.check_point(_numbers(t), size, None, "--torso", str(path), got=t)
                     for t, path, size in zip(texts, paths, sizes)])


def _scales(text: str) -> tuple[float, ...]:
    v = tuple(float(x) for x in _numbers(text))
    if not v or not all(np.isfinite(x) and x > 0 for x in v):
        raise InputError(None, "--scales", "crop scales > 0 separated by commas, e.g. 0.8,0.9,1", text)
    return v


def _png_paths(out: Path, images: list[str]) -> list[Path]:
    """<out>/<image name>_pose.png, one distinct file per image: a repeated name gets the first free _2, _3 ...
    suffix (never another image's own name: a.jpg, b/a.jpg and a_2.jpg give a, a_3 and a_2)."""
    stems = [Path(name).stem for name in images]
    used = set(stems)  # every image's own name is reserved before any suffix is handed out
    taken: set[str] = set()
    paths = []
    for stem in stems:
        name, n = stem, 1
        while name in taken or (n > 1 and name in used):
            n += 1
            name = f"{stem}_{n}"
        taken.add(name)
        paths.append(out / f"{name}_pose.png")
    return paths


def boxes_to_draw(person_box, torso_box, torso, torso_box_from: str | None, torso_from: str | None
                  ) -> list[tuple[str, np.ndarray, tuple[int, int, int]]]:
    """(legend label, box [4] or point [2], colour) for `draw`: the person box given, the torso box given or found
    and the torso point, each where there is one. A person-box model's crops are placed around the person box itself
    (`torso_box_from` "the person box"): that box is drawn and named once, as the person box."""
    out = []
    if person_box is not None:
        out.append(("person box (given)", np.asarray(person_box, np.float64), BOX_COLOURS["person box"]))
    if torso_box_from == "the person box" and person_box is not None:
        torso_box = None
    if torso_box is not None and np.all(np.isfinite(torso_box)):
        out.append((f"torso box ({torso_box_from})", np.asarray(torso_box, np.float64), BOX_COLOURS["torso box"]))
    if torso is not None and torso_from is not None:
        out.append((f"torso point ({torso_from})", np.asarray(torso, np.float64), BOX_COLOURS["torso box"]))
    return out


def _legend(d: ImageDraw.ImageDraw, width: int, labels: list[tuple[str, tuple, bool]]) -> Image.Image:
    """The legend strip: each (text, colour, outlined) as a swatch and its text, wrapped at `width`."""
    rows, row, x = [], [], 4
    for text, colour, outline in labels:
        tw = int(d.textlength(text)) + 20
        if row and x + tw > width:
            rows.append(row)
            row, x = [], 4
        row.append((x, text, colour, outline))
        x += tw
    if row:
        rows.append(row)
    legend = Image.new("RGB", (width, 14 * len(rows) + 4), "white")
    ld = ImageDraw.Draw(legend)
    for k, items in enumerate(rows):
        for x0, text, colour, outline in items:
            ld.rectangle([x0, 4 + 14 * k, x0 + 8, 12 + 14 * k], fill=colour, outline="black" if outline else None)
            ld.text((x0 + 11, 2 + 14 * k), text, fill="black")
    return legend


def draw(image: np.ndarray, points: np.ndarray, names: tuple[str, ...], skeleton: tuple[tuple[int, int], ...],
         boxes: list[tuple[str, np.ndarray, tuple[int, int, int]]] = ()) -> Image.Image:
    """The image with the skeleton (one colour per limb, `PALETTE`), the joints as white dots, `boxes` (label, box
    [4] as an outline or point [2] as a cross, colour; `boxes_to_draw`: the person and torso boxes in
    `BOX_COLOURS`, white edged in black and black in white), and a legend strip below naming each limb and box in
    its colour."""
    h, w = image.shape[:2]
    width = max(2, round(max(h, w) / 150))
    canvas = Image.fromarray(image).convert("RGB")
    d = ImageDraw.Draw(canvas)
    for _, v, colour in boxes:
        edge = "black" if sum(colour) > 382 else "white"
        if len(v) == 4:  # inclusive pixels: the outer edges are half a pixel out
            edges = [float(v[0]) - 0.5, float(v[1]) - 0.5, float(v[2]) + 0.5, float(v[3]) + 0.5]
            d.rectangle([edges[0] - 1, edges[1] - 1, edges[2] + 1, edges[3] + 1], outline=edge,
                        width=width + 2)  # 1 px either side
            d.rectangle(edges, outline=colour, width=width)
        else:  # a cross, edged as the boxes are
            r = 3 * width
            for fill, w_line, out in ((edge, width + 2, r + 1), (colour, width, r)):
                for line in ([v[0] - out, v[1], v[0] + out, v[1]], [v[0], v[1] - out, v[0], v[1] + out]):
                    d.line([float(c) for c in line], fill=fill, width=w_line)
    for e, (i, j) in enumerate(skeleton):
        d.line([tuple(map(float, points[i])), tuple(map(float, points[j]))], fill=PALETTE[e % len(PALETTE)],
               width=width)
    r = width + 1
    for x, y in points:
        d.ellipse([x - r, y - r, x + r, y + r], fill="white", outline="black")
    labels = [(f"{names[i]}-{names[j]}", PALETTE[e % len(PALETTE)], False) for e, (i, j) in enumerate(skeleton)]
    labels += [(label, colour, True) for label, _, colour in boxes]
    legend = _legend(d, max(w, 160), labels)
    out = Image.new("RGB", (max(w, legend.width), h + legend.height), "white")
    out.paste(canvas, (0, 0))
    out.paste(legend, (0, h))
    return out


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


def _alone(args: argparse.Namespace, flag: str, allowed: str, **others: object) -> None:
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
    _alone(args, "--export-onnx", "the model alone (--model, --batch)", **{"--list-models": args.list_models})
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


def _plan(args: argparse.Namespace, r) -> dict:
    """What the command runs, decided from the flags and the model before any work: {"two_pass", "input" (the
    line the output and the JSON give), "no_box" (what was done without a box, or None), "flip", "scales",
    "merge", "spatial" (None: the model's)}. Flags that cannot apply are one InputError."""
    if args.box and args.person_box:
        raise InputError(None, "--person-box", "--person-box or --torso-box, not both", "both")
    crop_model = r.torso_crops
    no_box = not (args.box or args.person_box or args.two_pass)
    two_pass = args.two_pass or (no_box and crop_model and r.frames is not None)
    if two_pass:
        fixed = [f for f, on in (("--torso-box", args.box), ("--person-box", args.person_box), ("--flip", args.flip),
                                 ("--readout", args.readout is not None), ("--spatial off", args.spatial == "off"))
                 if on]
        if fixed and args.two_pass:
            raise InputError(None, "--two-pass", "whole frames with --torso points only (no --torso-box, --person-"
                             "box, --flip, --readout or --spatial off: the two passes' settings are FRAME_TEST_TIME's)",
                             "other flags too")
        if fixed:
            raise InputError(None, fixed[0].split()[0], f"{fixed[0]} with a box (--person-box or --torso-box): with "
                             f"no box the model {r.name or r.path} runs whole frames in two passes (FRAME_TEST_TIME's "
                             "settings: flip on, the model's read-out, spatial model on)", fixed[0])
    elif args.torso:
        raise InputError(None, "--torso", "only in two passes (--two-pass, or no box with a FLIC model trained on "
                         "person crops); --torso-box gives the person's torso", "--torso")
    if two_pass:
        source = "the torso points given" if args.torso else "each frame's centre"
        text = f"whole frames in two passes from {source}" + ("" if args.two_pass else " (no box given)")
    elif args.person_box:
        text = "the person boxes given" + ("; the torso found inside each by a first pass" if crop_model else "")
    elif args.box:
        text = "the torso boxes given" if crop_model else "the boxes given (--torso-box: this run's person box)"
    else:
        text = "the whole image letterboxed (no box given)" + (
            "; the model has no frame statistics for two passes" if crop_model else "")
    own_flip, own_scales = r.test_time  # the model's own test-time flip and scales
    default_scales = FRAME_TEST_TIME["scales"] if two_pass else own_scales
    return {"two_pass": two_pass, "input": text,
            "no_box": (("two passes from each frame's centre" if two_pass else "the whole image letterboxed")
                       if no_box else None),
            "flip": bool(args.flip or (FRAME_TEST_TIME["flip"] if two_pass else own_flip)),
            "scales": default_scales if args.scales is None else _scales(args.scales),
            "merge": args.merge or (FRAME_TEST_TIME["merge"] if two_pass else "mean"),
            "spatial": None if args.spatial is None else args.spatial == "on"}


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


def _video(args: argparse.Namespace, r, call: Callable[..., Poses], plan: dict, model: dict) -> int:
    if len(args.images) != 1 or not args.out or args.box or args.person_box or args.torso or args.json:
        raise InputError(None, "IMAGES", "one video per command, with --out and without --torso-box, --person-box, "
                         "--torso or --json (the frames' joints go to <clip>_pose.jsonl)", " ".join(args.images))
    t0 = time.perf_counter()
    io.check_writable(args.out, "--out", kind="folder")
    sources = _sources(plan, {"torso_box": False, "person_box": False, "torso": False}, False)

    def drawn(img, poses, i):
        record = _record("", img, i, poses, None, sources)
        boxes = boxes_to_draw(None, record["torso_box"], record["torso"] if plan["two_pass"] else None,
                              record["torso_box_from"], record["torso_from"])
        return np.asarray(draw(img, poses.points[i], r.names, r.skeleton, boxes))

    video, lines, n = pose_video.run_video(args.images[0], Path(args.out), args.every, call, drawn)
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
    return video


def _summary(n: int, model: dict, plan: dict, poses: Poses) -> str:
    return (f"pose: {n} image(s), model {model['name']} ({model['digest'][:19]}), input: {plan['input']}, "
            f"read-out {poses.readout}" + (", test-time flip" if plan["flip"] else "")
            + (f", crop scales {'/'.join(f'{v:g}' for v in plan['scales'])} ({plan['merge']})"
               if plan["scales"] != (1.0,) else "")
            + f", spatial model {'on' if poses.spatial else 'off'}")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.export_onnx is not None:
        return export(args)
    if args.list_models:
        _alone(args, "--list-models", "no other flag (it names every shipped model)",
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
    plan = _plan(args, r)
    call = _estimator(args, r, plan)
    if video:
        return _video(args, r, call, plan, model)
    images = [read_image(p, "IMAGES") for p in args.images]
    sizes = [im.shape[:2] for im in images]
    boxes = parse_boxes(args.box, args.images, sizes, "--torso-box")
    person = parse_boxes(args.person_box, args.images, sizes, "--person-box")
    torso = parse_torso(args.torso, args.images, sizes)
    pngs = _png_paths(Path(args.out), args.images) if args.out is not None else []
    for png in pngs:  # a folder of that name would fail after the work, the drawings before it written
        io.check_writable(png, "--out")
    _note_box(args)
    poses = call(images, torso_boxes=boxes, torso=torso, person_boxes=person)
    found = person is not None and r.torso_crops
    sources = _sources(plan, {"torso_box": boxes is not None, "person_box": person is not None,
                              "torso": torso is not None}, found)
    records = []
    for i, (path, img) in enumerate(zip(args.images, images)):
        records.append(_record(path, img, i, poses, person, sources))
        rec = records[-1]
        shown = boxes_to_draw(rec["person_box"], rec["torso_box"], rec["torso"] if poses.spatial else None,
                              rec["torso_box_from"], rec["torso_from"])
        if pngs:
            with io.atomic_path(pngs[i]) as tmp:
                draw(img, poses.points[i], poses.names, r.skeleton, shown).save(tmp, format="PNG")
        print(f"{path}: {len(poses.names)} joints, mean confidence {rec['mean_confidence']:.2f}"
              + "".join(f"; {label} {_numbers_text(v)}" for label, v, _ in shown)
              + (f"; wrote {pngs[i]}" if pngs else ""))
        if poses.warned[i]:
            print(f"{path}: warning: {poses.warning(i)}")
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
