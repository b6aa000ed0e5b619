"""`convcorr classify IMAGE... [--backbone mobilenet_v2] [--weights FILE] [--json OUT]`: top-5 ImageNet classes.

Each image is resized and centre cropped in the backbone's standard way (torchvision: shorter side 256, crop 224;
Caffe: 256 x 256, crop 227), classified, and printed as top-k classes with softmax probabilities. `--json` also
writes the raw logits (1000 floats) per image.
"""

from __future__ import annotations

import argparse

from convcorr_jax import io
from convcorr_jax.backbones import NAMES
from convcorr_jax.backbones.classify import classify
from convcorr_jax.features.image import load_inputs
from convcorr_jax.weights import load_backbone


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", help="image files (any PIL-readable format)")
    p.add_argument("--backbone", default="mobilenet_v2", choices=NAMES)
    p.add_argument("--weights", default=None, help="weight file (.pth, .caffemodel, .npy) or 'random'; default: "
                   "the fetched MobileNetV2 ImageNet weights (AlexNet variants need a file)")  # fmt: skip
    p.add_argument("--json", default=None, help="also write predictions and raw logits to this JSON file")
    p.add_argument("--topk", type=int, default=5)


def run(args: argparse.Namespace) -> int:
    backbone, params = load_backbone(args.backbone, args.weights)
    images, _ = load_inputs(backbone, args.images)
    logits, tops = classify(backbone, params, images, args.topk)
    records = []
    for path, top, lg in zip(args.images, tops, logits):
        print(f"{path}:")
        for i, name, p in top:
            print(f"  {p:7.2%}  {i:4d}  {name}")
        records.append({"image": str(path), "top": [{"index": i, "name": n, "probability": p} for i, n, p in top],
                        "logits": [float(v) for v in lg]})  # fmt: skip
    if args.json:
        io.write_json(args.json, {"backbone": backbone.name, "weights": args.weights or "pretrained", "images": records})
        print(f"wrote {args.json}")
    return 0
