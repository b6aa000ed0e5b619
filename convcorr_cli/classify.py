"""`convcorr classify IMAGE... [--backbone mobilenet_v2] [--weights FILE] [--json OUT]`: top-5 ImageNet classes.

Each image is resized and centre cropped in the backbone's standard way (torchvision: shorter side 256, crop 224;
Caffe: 256 x 256, crop 227), classified, and printed as top-k classes with softmax probabilities. `--json` also
writes the raw logits (1000 floats) per image, with the config, backbone, versions and seconds.
"""

from __future__ import annotations

import argparse
import time

from convcorr_cli.options import WHOLE_WEIGHTS, check_outputs, document
from convcorr_jax.core import io, runinfo
from convcorr_jax.backbones import NAMES, get
from convcorr_jax.features.classify import classify
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import load_inputs
from convcorr_jax.weights import load_backbone


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Read each image, resize and centre-crop it the backbone's standard way, and print its top-k "
             "ImageNet classes with softmax probabilities. Writes no file unless --json: the classes and the raw "
             "logits of every image, with the config, backbone, versions and seconds.",
             "convcorr classify photo.jpg --json classes.json",
             "convcorr classify a.jpg b.jpg --backbone efficientnet_lite2 --topk 3")
    p.add_argument("images", nargs="+", help="image files (any PIL-readable format)")
    p.add_argument("--backbone", default="mobilenet_v2",
                   help=f"one of {', '.join(NAMES)} (default: {WHOLE_WEIGHTS})")
    p.add_argument("--weights", default=None, help="weight file (.pth, .caffemodel, .npy) or 'random'; default: "
                   "the fetched MobileNetV2 ImageNet weights (AlexNet variants need a file)")  # fmt: skip
    p.add_argument("--json", default=None, help="also write predictions and raw logits to this JSON file")
    p.add_argument("--topk", type=int, default=5, help="classes printed (and written) per image")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.json:  # never over one of the images or the weight file
        check_outputs({"--json": args.json}, {**{f"images[{i}]": p for i, p in enumerate(args.images)},
                                              **({"--weights": args.weights} if args.weights not in (None, "random")
                                                 else {})})
    if args.backbone not in NAMES:
        raise InputError(None, "--backbone", f"one of {list(NAMES)}", args.backbone)
    n_classes = get(args.backbone).num_classes
    if not 1 <= args.topk <= n_classes:
        raise InputError(None, "--topk", f"an integer in 1..{n_classes}", args.topk)
    images, _ = load_inputs(get(args.backbone), args.images)  # every file read and checked before the weights
    backbone, params = load_backbone(args.backbone, args.weights)
    logits, tops = classify(backbone, params, images, args.topk)
    records = []
    for path, top, lg in zip(args.images, tops, logits):
        print(f"{path}:")
        for i, name, p in top:
            print(f"  {p:7.2%}  {i:4d}  {name}")
        records.append({"image": str(path), "top": [{"index": int(i), "name": n, "probability": float(p)}
                                                    for i, n, p in top],
                        "logits": [float(v) for v in lg]})  # fmt: skip
    if args.json:
        config = {"images": [str(p) for p in args.images], "topk": args.topk, "weights": args.weights or "pretrained"}
        io.write_json(args.json, {"config": config, "backbone": backbone.name, "versions": runinfo.versions(),
                                  "seconds": time.perf_counter() - t0, "weights": args.weights or "pretrained",
                                  "images": records})
        print(f"wrote {args.json}")
    return 0
