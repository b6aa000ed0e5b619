"""`convcorr features IMAGE --backbone B --taps conv4,fc6 --out F.npz [--json F.json]`: named activations +
receptive-field centres.

--taps takes the papers' role names (conv1..conv5, pool5, fc6, fc7, mapped through the backbone's roles) or the
backbone's own tap names (e.g. block12,pool for mobilenet_v2); arrays are stored under the names given.
The .npz holds what `convcorr_jax.features.image.features` returns, per name T: `T` (activations of the one image:
spatial `[h, w, C]`, vector `[D]`) and, for spatial taps, `T__centers` `[h, w, 2]`: the (x, y) pixel (0-based,
pixel centres at integers) of each column's receptive-field centre in the ORIGINAL image (mapped back through the
resize/crop), plus `T__rf` = (size, stride, offset) in network-input pixels. Also `image_size` (h, w) of the
original and `input_size` of the network input. `--json` writes the shapes with the config, backbone, versions
and seconds.

--resize: "standard" (the backbone's evaluation transform: resize 256 + centre crop), "none" (the image as is), or
"square" (resize to the default input size, e.g. 227 x 227, no crop).
"""

from __future__ import annotations

import argparse
import time

from convcorr_cli.options import WHOLE_WEIGHTS, check_outputs, document
from convcorr_jax.core import io, runinfo
from convcorr_jax.backbones import NAMES, get
from convcorr_jax.backbones.registry import check_input_side, resolve_tap, resolve_taps
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import MODES, features, read_image
from convcorr_jax.weights import load_backbone


def add_arguments(p: argparse.ArgumentParser) -> None:
    document(p, "Read one image, run the backbone and write the activations of --taps (role names conv1..fc7 or "
             "the backbone's own tap names) to the .npz --out: per tap T the array T, and for spatial taps "
             "T__centers (each column's receptive-field centre, (x, y) pixels of the original image) and T__rf; "
             "--json also writes the shapes, config, versions and seconds.",
             "convcorr features photo.jpg --backbone torchvision_alexnet --taps conv4,pool5 --out photo_feats.npz",
             "convcorr features photo.jpg --taps block12,pool --out feats.npz --json feats.json")
    p.add_argument("image", help="image file")
    p.add_argument("--backbone", default="mobilenet_v2",
                   help=f"one of {', '.join(NAMES)} (default: {WHOLE_WEIGHTS})")
    p.add_argument("--taps", required=True, help="comma-separated role or tap names, e.g. conv4,fc6 or "
                   "block12,pool (an empty entry or a repeated name is ignored)")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--json", default=None, help="also write shapes, config, backbone, versions and seconds here")
    p.add_argument("--weights", default=None, help="weight file or 'random'; default: the backbone's fetched "
                   "ImageNet weights (MobileNetV2, EfficientNet-Lite2: every layer; torchvision_alexnet, vgg16: conv "
                   "layers only; caffenet, bvlc_alexnet need a file)")
    p.add_argument("--resize", choices=MODES, default="standard",
                   help="standard: the backbone's evaluation transform (resize + centre crop); none: the image as "
                   "it is; square: resized to the default input size, no crop")
    p.add_argument("--pre-relu", action="store_true", help="activations before the ReLU where a tap has one")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if not str(args.out).endswith(".npz"):
        raise InputError(args.out, "--out", "a file name ending in .npz")
    weights = {"--weights": args.weights} if args.weights not in (None, "random") else {}
    check_outputs({"--out": args.out, **({"--json": args.json} if args.json else {})}, {"image": args.image, **weights})
    if args.backbone not in NAMES:
        raise InputError(None, "--backbone", f"one of {list(NAMES)}", args.backbone)
    bb = get(args.backbone)
    names = list(dict.fromkeys(t.strip() for t in args.taps.split(",") if t.strip()))
    taps = resolve_taps(bb, names, "--taps")
    tap_of = {n: resolve_tap(bb, n, "--taps") for n in names}  # two names of one tap (fc6, fc7 -> pool): both kept
    image = read_image(args.image, "image")
    if args.resize == "none":
        for t in taps:
            check_input_side(bb, t, min(image.shape[:2]), args.image, "image")
    backbone, params = load_backbone(args.backbone, args.weights)
    got = features(backbone, params, image, taps, args.resize, relu=not args.pre_relu)
    out = {k: v for k, v in got.items() if k in ("image_size", "input_size")}
    for n, t in tap_of.items():
        for suffix in ("", "__centers", "__rf"):
            if t + suffix in got:
                out[n + suffix] = got[t + suffix]
    io.save_npz(args.out, **out)
    shapes = {n: [int(s) for s in got[t].shape] for n, t in tap_of.items()}
    image_size = [int(v) for v in got["image_size"]]
    input_size = [int(v) for v in got["input_size"]]
    if args.json:
        config = {"image": str(args.image), "taps": tap_of, "resize": args.resize,
                  "pre_relu": args.pre_relu, "weights": args.weights or "pretrained"}
        io.write_json(args.json, {"config": config, "backbone": backbone.name, "versions": runinfo.versions(),
                                  "seconds": time.perf_counter() - t0, "out": str(args.out), "shapes": shapes,
                                  "image_size": image_size, "input_size": input_size})
    text = ", ".join(f"{n} {tuple(shapes[n])}" + (f" [{t}]" if n != t else "") for n, t in tap_of.items())
    print(f"wrote {args.out}: {text} (image {tuple(image_size)}, network input {tuple(input_size)})")
    return 0
