"""`convcorr pose IMAGES... [--model flic|RUN] [--out DIR] [--json FILE] [--person-box X0,Y0,X1,Y1 ... |
--torso-box X0,Y0,X1,Y1 ...]
[--spatial on|off] [--readout R] [--flip] [--scales S1,S2,...] [--merge mean|median] [--two-pass [--torso X,Y ...]]`,
`convcorr pose CLIP.mp4 --out DIR [--every N] [...]` and `convcorr pose --list-models`: the joints of the person in
each image or video frame from a trained pose model, drawn as a skeleton. `convcorr pose --export-onnx FILE [--model
flic|RUN] [--batch N]`: the model's coarse heat-map network as ONNX for runtimes without JAX
(`convcorr_jax.pose.onnx_export`, the `onnx` extra): prints the file's input and output and what it leaves out.

`--model`: a shipped model by name (default `flic`, `convcorr_jax.pose.shipped`; `--list-models` names each with
its scores and what it expects) or a `convcorr train pose` run folder (`--run` is the same flag).
The images may have any size; each is the network's input as `convcorr_jax.pose.estimate` makes it: the whole
image letterboxed; with `--person-box` (one per image, in order) a box around the whole visible person, as
detectors draw it (a FLIC model finds the torso inside it, `convcorr_jax.pose.person_boxes`); with `--torso-box`
the person's torso box for a FLIC model (the person crop of training) or the person's box for other runs.
`--spatial` on/off: the model's spatial model (FLIC models;
default: on when the model has one). `--flip`, `--scales` and `--merge` are test-time flip, crop scales and how
the scales' points are merged (`convcorr_jax.pose.estimation.CROP_READOUT`: `--flip --scales 0.7,0.8,0.9,1,1.1,1.2
--merge median`, chosen for FLIC person crops on the validation movies). `--two-pass` (FLIC models trained on
person crops): whole frames in two passes (`convcorr_jax.pose.estimate(..., two_pass=True)` with `FRAME_READOUT`), the
spatial model conditioned on `--torso` (one X,Y per image; default the image's centre). Writes:
  DIR/<image name>_pose.png  the image with the skeleton: one colour per limb (the joint set's bones, e.g. FLIC's
                             `convcorr_jax.pose.joints.FLIC.edges`), joints as dots, a legend strip below naming
                             each limb in its colour
  FILE                       JSON: {"run", "readout", "spatial", "flip", "scales", "merge", "two_pass", "names" [K],
                             "skeleton" [[i, j]...], "warn_below", "images": [{"image", "width", "height", "box",
                             "person_box", "torso", "torso_box" (the crop's, given or found), "joints": [{"name",
                             "x", "y", "confidence"}] (K of them; (x, y) pixels of the image, 0-based; confidence in
                             [0, 1]: the coarse heat-map's value at the joint), "mean_confidence", "warning" (a line
                             when the mean confidence is below the model's threshold "warn_below", chosen on its
                             validation split; else null)}], "png" [paths], "seconds", "versions"}
A video (`convcorr_cli.pose_video.SUFFIXES`; one per command, with --out) is read with PyAV in batches, every N-th
frame (`--every`), each frame estimated as an image is (with --two-pass as a whole frame): DIR/<clip>_pose.mp4 with
the skeletons drawn and DIR/<clip>_pose.jsonl, one JSON line per frame (`convcorr_cli.pose_video`).
Prints one line per image (mean confidence, the PNG), one more for each image whose person is below the model's
confidence threshold (`Poses.warned`), and a summary line. The model, every image and the output
paths are checked before any work; an error is one line.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from convcorr_cli import pose_video
from convcorr_jax import io, runinfo
from convcorr_jax.errors import InputError
from convcorr_jax.features.image import read_image
from convcorr_jax.pose import predict, shipped
from convcorr_jax.pose import readout as pose_readout
from convcorr_jax.pose import scales as pose_scales
from convcorr_jax.pose.estimation import DEFAULT_MODEL, Poses, estimate, load
from convcorr_jax.pose.onnx_export import export_onnx
from convcorr_jax.pose.two_pass import FRAME_READOUT

GROUP_ORDER = ("Head", "Shoulder", "Elbow", "Wrist", "Hip")  # the order --list-models prints a model's scores in
# one colour per limb, in the order of the joint set's edges (repeats after 12 limbs)
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", help="image files (any size), or one video (.mp4, .mov, .avi, ...)")
    p.add_argument("--model", "--run", dest="model", default=DEFAULT_MODEL,
                   help=f"a shipped model (default {DEFAULT_MODEL}; see --list-models) or a `convcorr train pose` "
                        "run folder (config.json + checkpoints/); a folder named like a model: ./NAME")
    p.add_argument("--list-models", action="store_true",
                   help="name the shipped models, their scores and what each expects, and exit")
    p.add_argument("--export-onnx", default=None, metavar="FILE",
                   help="write the model's coarse heat-map network (images float32 [N, S, S, 3] in [0, 1] -> heat-maps "
                        "[N, S/pool, S/pool, K]) to FILE as ONNX and exit (the onnx extra; no IMAGES)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="with --export-onnx: the file's fixed batch size N (default 1)")
    p.add_argument("--out", default=None, help="folder for <image name>_pose.png, one per image (a video: "
                                                "<clip>_pose.mp4 and <clip>_pose.jsonl; required)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="a video's every N-th frame (default 1)")
    p.add_argument("--json", default=None, help="write the joints of every image here (JSON)")
    p.add_argument("--person-box", dest="person_box", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="a box around the whole visible person in an image (pixels, 0-based inclusive), as detectors "
                        "draw it, given once per image in order; a FLIC model finds the torso inside it; "
                        "--person-box=-5,0,40,60 for a negative X0")
    p.add_argument("--torso-box", "--box", dest="box", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="the person's torso box in an image (pixels, 0-based inclusive; shoulders to hips, as FLIC "
                        "labels it; other skeletons' runs: the person's box), given once per image in order, or "
                        "not at all (the whole images); --torso-box=-5,0,40,60 for a negative X0; --box: its "
                        "former name, still accepted")
    p.add_argument("--spatial", choices=("on", "off"), default=None,
                   help="the run's spatial model (FLIC runs); default: on when the run has one")
    p.add_argument("--readout", choices=predict.READOUTS, default=None,
                   help="the prediction read-out (default: the model's own, chosen on its validation split; see "
                        "--list-models; cascade for a model without one)")
    p.add_argument("--flip", action="store_true",
                   help="test-time horizontal flip, left and right joints swapped (FLIC crops: chosen on validation)")
    p.add_argument("--scales", default=None, metavar="S1,S2,...",
                   help="test-time crop scales, their points merged by --merge (default 1; FLIC crops with "
                        "--torso-box: see convcorr_jax.pose.estimation.CROP_READOUT, chosen on the validation "
                        "movies; with --two-pass: the second pass's, default FRAME_READOUT's)")
    p.add_argument("--merge", choices=pose_scales.MERGES, default=None,
                   help="how the scales' points are merged: mean, or median of x and of y (default: mean; with "
                        "--two-pass: FRAME_READOUT's)")
    p.add_argument("--two-pass", action="store_true",
                   help="whole frames in two passes with a FLIC run trained on person crops (the paper's protocol, "
                        "settings chosen on the validation movies: convcorr_jax.pose.two_pass.FRAME_READOUT)")
    p.add_argument("--torso", action="append", default=[], metavar="X,Y",
                   help="with --two-pass: the person's torso point in an image (pixels), once per image in order, "
                        "or not at all (the images' centres)")


def _numbers(text: str) -> np.ndarray:
    """Comma-separated numbers -> float64 [k] (empty when one is not a number)."""
    try:
        return np.array([float(x) for x in text.split(",")])
    except ValueError:
        return np.zeros(0)


def _per_image(texts: list[str], n: int, flag: str, width: int, expected: str, ok=None) -> list[np.ndarray] | None:
    """One value of `width` finite numbers per image from a repeated flag (None when not given); one InputError
    naming the flag otherwise (`ok`: a further check of each value)."""
    if not texts:
        return None
    if len(texts) != n:
        raise InputError(None, flag, f"one per image ({n}), or none", f"{len(texts)} given")
    out = []
    for t in texts:
        v = _numbers(t)
        if v.shape != (width,) or not np.all(np.isfinite(v)) or (ok is not None and not ok(v)):
            raise InputError(None, flag, expected, t)
        out.append(v)
    return out


def _boxes(texts: list[str], n: int, flag: str = "--torso-box") -> list[np.ndarray] | None:
    return _per_image(texts, n, flag, 4, "X0,Y0,X1,Y1 pixels with X0 <= X1 and Y0 <= Y1",
                      lambda v: v[2] >= v[0] and v[3] >= v[1])


def _torso(texts: list[str], n: int) -> np.ndarray | None:
    points = _per_image(texts, n, "--torso", 2, "X,Y pixels")
    return None if points is None else np.stack(points)


def _scales(text: str) -> tuple[float, ...]:
    v = tuple(float(x) for x in _numbers(text))
    if not v or not all(np.isfinite(x) and x > 0 for x in v):
        raise InputError(None, "--scales", "crop scales > 0 separated by commas, e.g. 0.8,0.9,1", text)
    return v


def _png_paths(out: Path, images: list[str]) -> list[Path]:
    """<out>/<image name>_pose.png, a _2, _3 ... suffix for repeated names."""
    seen: dict[str, int] = {}
    paths = []
    for name in images:
        stem = Path(name).stem
        seen[stem] = seen.get(stem, 0) + 1
        paths.append(out / (f"{stem}_pose.png" if seen[stem] == 1 else f"{stem}_{seen[stem]}_pose.png"))
    return paths


def draw(image: np.ndarray, points: np.ndarray, names: tuple[str, ...],
         skeleton: tuple[tuple[int, int], ...]) -> Image.Image:
    """The image with the skeleton (one colour per limb, `PALETTE`), the joints as white dots, and a legend strip
    below naming each limb in its colour."""
    h, w = image.shape[:2]
    width = max(2, round(max(h, w) / 150))
    canvas = Image.fromarray(image).convert("RGB")
    d = ImageDraw.Draw(canvas)
    for e, (i, j) in enumerate(skeleton):
        d.line([tuple(map(float, points[i])), tuple(map(float, points[j]))], fill=PALETTE[e % len(PALETTE)],
               width=width)
    r = width + 1
    for x, y in points:
        d.ellipse([x - r, y - r, x + r, y + r], fill="white", outline="black")
    labels = [(f"{names[i]}-{names[j]}", PALETTE[e % len(PALETTE)]) for e, (i, j) in enumerate(skeleton)]
    rows, row, x = [], [], 4
    for text, colour in labels:  # wrap the legend at the image's width
        tw = int(d.textlength(text)) + 20
        if row and x + tw > max(w, 160):
            rows.append(row)
            row, x = [], 4
        row.append((x, text, colour))
        x += tw
    if row:
        rows.append(row)
    legend = Image.new("RGB", (max(w, 160), 14 * len(rows) + 4), "white")
    ld = ImageDraw.Draw(legend)
    for k, items in enumerate(rows):
        for x0, text, colour in items:
            ld.rectangle([x0, 4 + 14 * k, x0 + 8, 12 + 14 * k], fill=colour)
            ld.text((x0 + 11, 2 + 14 * k), text, fill="black")
    out = Image.new("RGB", (max(w, legend.width), h + legend.height), "white")
    out.paste(canvas, (0, 0))
    out.paste(legend, (0, h))
    return out


def list_models() -> int:
    """Print each shipped model: its summary, what it expects and its scores."""
    for name in shipped.names():
        d = shipped.describe(name)
        print(f"{name}: {d.get('summary', '')}")
        print(f"  expects: {d.get('expects', '')}")
        size = d.get("config", {}).get("model", {}).get("image_size")
        speed = d.get("speed") or {}
        print(f"  input: {size} px" + (f"; {speed['ms_per_crop']:.1f} ms per crop on {speed['machine']} "
                                      f"({speed['how']})" if speed.get("ms_per_crop") else ""))
        for what, scores in d.get("scores", {}).items():
            order = sorted(scores, key=lambda k: (GROUP_ORDER.index(k) if k in GROUP_ORDER else len(GROUP_ORDER), k))
            print(f"  {what}: " + ", ".join(f"{k} {scores[k]:.1f}" for k in order))
        saved = pose_readout.load_readout(shipped.MODELS / name)
        if saved is not None:
            print(f"  read-out: {saved[0].label()} (chosen on the {saved[1].get('split', 'validation split')}: "
                  f"{saved[1].get('rule', '')})")
            if saved[0].warn_below is not None:
                print(f"  warns below a mean confidence of {saved[0].warn_below:.2f} "
                      f"({saved[1].get('warning', {}).get('rule', 'chosen on its validation split')})")
        made = d.get("made_by", {})
        print(f"  made by: {made.get('command', '?')} at commit {made.get('commit', '?')}")
    return 0


def export(args: argparse.Namespace) -> int:
    """`--export-onnx FILE`: the model's coarse network as ONNX (`onnx_export.export_onnx`); prints what it holds."""
    estimating = {"IMAGES": args.images, "--out": args.out, "--json": args.json, "--torso-box": args.box,
                  "--person-box": args.person_box,
                  "--torso": args.torso, "--spatial": args.spatial, "--readout": args.readout, "--flip": args.flip,
                  "--scales": args.scales, "--merge": args.merge, "--two-pass": args.two_pass,
                  "--every": args.every != 1, "--list-models": args.list_models}
    given = [name for name, value in estimating.items() if value]
    if given:
        raise InputError(None, "--export-onnx", "the model alone (--model, --batch)", " ".join(given))
    batch = 1 if args.batch is None else args.batch
    if batch < 1:
        raise InputError(None, "--batch", "the file's batch size, an integer >= 1", batch)
    io.check_writable(args.export_onnx, "--export-onnx")
    t0 = time.perf_counter()
    info = export_onnx(load(args.model), args.export_onnx, batch=batch)
    (name, shape_in), (out, shape_out) = next(iter(info["inputs"].items())), next(iter(info["outputs"].items()))
    print(f"pose: wrote {info['path']} ({info['bytes'] / 2**20:.1f} MiB, ONNX opset {info['opset']}), model "
          f"{info['model']}: {name} float32 {shape_in} (RGB in [0, 1]) -> {out} float32 {shape_out} (stride "
          f"{info['stride']}; joints {' '.join(info['names'])}) ({time.perf_counter() - t0:.1f} s)")
    for line in info["not_exported"]:
        print(f"pose: {line}")
    return 0


def _estimator(args: argparse.Namespace, r, scales, merge, spatial) -> Callable[..., Poses]:
    """The command's one estimation call, `call(images, boxes=None, torso=None, person_boxes=None) -> Poses`:
    `estimate` with the read-out flags, in two passes (`FRAME_READOUT`'s settings) under --two-pass."""
    def call(images, boxes=None, torso=None, person_boxes=None) -> Poses:
        if args.two_pass:
            return estimate(images, r, two_pass=True, torso=torso, flip=FRAME_READOUT["flip"], scales=scales,
                            merge=merge)
        return estimate(images, r, boxes=boxes, spatial=spatial, readout=args.readout, flip=args.flip,
                        scales=scales, merge=merge, person_boxes=person_boxes)

    return call


def _video(args: argparse.Namespace, r, call: Callable[..., Poses]) -> int:
    if len(args.images) != 1 or not args.out or args.box or args.person_box or args.torso or args.json:
        raise InputError(None, "IMAGES", "one video per command, with --out and without --torso-box, --person-box, "
                         "--torso or --json (the frames' joints go to <clip>_pose.jsonl)", " ".join(args.images))
    t0 = time.perf_counter()
    io.check_writable(args.out, "--out", kind="folder")
    video, lines, n = pose_video.run_video(args.images[0], Path(args.out), args.every, call,
                                           lambda img, pts: np.asarray(draw(img, pts, r.names, r.skeleton)))
    print(f"pose: {n} frame(s) of {args.images[0]} (every {args.every}), model {args.model}; wrote {video} and "
          f"{lines} ({time.perf_counter() - t0:.1f} s)")
    return 0


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.export_onnx is not None:
        return export(args)
    if args.batch is not None:
        raise InputError(None, "--batch", "only with --export-onnx", args.batch)
    if args.list_models:
        return list_models()
    if not args.images:
        raise InputError(None, "IMAGES", "at least one image or video (or --list-models)", "none")
    if args.every < 1:
        raise InputError(None, "--every", "a frame stride >= 1", args.every)
    r = load(args.model)  # a shipped model or a training run, or one line saying what was expected
    if args.out:
        io.check_writable(args.out, "--out", kind="folder")
    if args.json:
        io.check_writable(args.json, "--json")
    boxes = _boxes(args.box, len(args.images))
    person = _boxes(args.person_box, len(args.images), "--person-box")
    if boxes is not None and person is not None:
        raise InputError(None, "--person-box", "--person-box or --torso-box, not both", "both")
    torso = _torso(args.torso, len(args.images))
    if args.two_pass and (boxes is not None or person is not None or args.flip or args.readout is not None
                          or args.spatial == "off"):
        raise InputError(None, "--two-pass", "whole frames with --torso points only (no --torso-box, --person-box, "
                         "--flip, --readout or --spatial off: the two passes' settings are FRAME_READOUT's)",
                         "other flags too")
    if torso is not None and not args.two_pass:
        raise InputError(None, "--torso", "only with --two-pass (otherwise --torso-box gives the person)", "--torso")
    default = FRAME_READOUT["scales"] if args.two_pass else (1.0,)
    scales = default if args.scales is None else _scales(args.scales)
    merge = args.merge or (FRAME_READOUT["merge"] if args.two_pass else "mean")
    spatial = None if args.spatial is None else args.spatial == "on"
    call = _estimator(args, r, scales, merge, spatial)
    if any(pose_video.is_video(p) for p in args.images):
        return _video(args, r, call)
    if args.every != 1:
        raise InputError(None, "--every", "only with a video", args.every)
    images = [read_image(p, "IMAGES") for p in args.images]
    poses = call(images, boxes=boxes, torso=torso, person_boxes=person)
    flip = bool(args.flip or (args.two_pass and FRAME_READOUT["flip"]))
    pngs = _png_paths(Path(args.out), args.images) if args.out else []
    records = []
    for i, (path, img) in enumerate(zip(args.images, images)):
        if pngs:
            with io.atomic_path(pngs[i]) as tmp:
                draw(img, poses.points[i], poses.names, r.skeleton).save(tmp, format="PNG")
        records.append({"image": str(path), "width": int(img.shape[1]), "height": int(img.shape[0]),
                        "box": None if boxes is None else [float(v) for v in boxes[i]],
                        "person_box": None if person is None else [float(v) for v in person[i]],
                        "torso": [float(v) for v in poses.torso[i]], **poses.as_dicts()[i]})
        print(f"{path}: {len(poses.names)} joints, mean confidence {float(poses.confidence[i].mean()):.2f}"
              + (f"; wrote {pngs[i]}" if pngs else ""))
        if poses.warned[i]:
            print(f"{path}: warning: {poses.warning(i)}")
    if args.json:
        io.write_json(args.json, {"run": str(args.model), "readout": poses.readout, "spatial": poses.spatial,
                                  "flip": flip, "scales": list(scales), "merge": merge,
                                  "two_pass": bool(args.two_pass),
                                  "names": list(poses.names), "skeleton": [list(e) for e in r.skeleton],
                                  "warn_below": poses.warn_below,
                                  "images": records, "png": [str(p) for p in pngs],
                                  "seconds": time.perf_counter() - t0, "versions": runinfo.versions()})
    print(f"pose: {len(images)} image(s), read-out {poses.readout}"
          + (", test-time flip" if flip else "")
          + (f", crop scales {'/'.join(f'{v:g}' for v in scales)}" if scales != (1.0,) else "")
          + f", spatial model {'on' if poses.spatial else 'off'}"
          f" ({time.perf_counter() - t0:.1f} s)" + (f"; wrote {args.json}" if args.json else ""))
    return 0
