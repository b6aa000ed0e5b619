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

from convcorr_cli.options import WHOLE_WEIGHTS
from convcorr_jax.core import io, runinfo
from convcorr_jax.backbones import NAMES, get
from convcorr_jax.backbones.registry import check_input_side, resolve_tap, resolve_taps
from convcorr_jax.core.errors import InputError
from convcorr_jax.features.image import MODES, features, read_image
from convcorr_jax.weights import load_backbone


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file")
    p.add_argument("--backbone", default="mobilenet_v2",
                   help=f"one of {', '.join(NAMES)} (default: {WHOLE_WEIGHTS})")
    p.add_argument("--taps", required=True, help="comma-separated role or tap names, e.g. conv4,fc6 or block12,pool")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--json", default=None, help="also write shapes, config, backbone, versions and seconds here")
    p.add_argument("--weights", default=None, help="weight file; default: fetched MobileNetV2 ImageNet weights")
    p.add_argument("--resize", choices=MODES, default="standard")
    p.add_argument("--pre-relu", action="store_true", help="activations before the ReLU where a tap has one")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if not str(args.out).endswith(".npz"):
        raise InputError(args.out, "--out", "a file name ending in .npz")
    io.check_writable(args.out, "--out")
    if args.json:
        io.check_writable(args.json, "--json")
    if args.backbone not in NAMES:
        raise InputError(None, "--backbone", f"one of {list(NAMES)}", args.backbone)
    bb = get(args.backbone)
    names = [t.strip() for t in args.taps.split(",") if t.strip()]
    taps = resolve_taps(bb, names, "--taps")
    name_of = {}
    for n in names:
        name_of.setdefault(resolve_tap(bb, n, "--taps"), n)
    image = read_image(args.image, "image")
    if args.resize == "none":
        for t in taps:
            check_input_side(bb, t, min(image.shape[:2]), args.image, "image")
    backbone, params = load_backbone(args.backbone, args.weights)
    got = features(backbone, params, image, taps, args.resize, relu=not args.pre_relu)
    out = {k: v for k, v in got.items() if k in ("image_size", "input_size")}
    for t in taps:
        for suffix in ("", "__centers", "__rf"):
            if t + suffix in got:
                out[name_of[t] + suffix] = got[t + suffix]
    io.save_npz(args.out, **out)
    shapes = {name_of[t]: [int(s) for s in got[t].shape] for t in taps}
    image_size = [int(v) for v in got["image_size"]]
    input_size = [int(v) for v in got["input_size"]]
    if args.json:
        config = {"image": str(args.image), "taps": {name_of[t]: t for t in taps}, "resize": args.resize,
                  "pre_relu": args.pre_relu, "weights": args.weights or "pretrained"}
        io.write_json(args.json, {"config": config, "backbone": backbone.name, "versions": runinfo.versions(),
                                  "seconds": time.perf_counter() - t0, "out": str(args.out), "shapes": shapes,
                                  "image_size": image_size, "input_size": input_size})
    text = ", ".join(f"{n} {tuple(s)}" + (f" [{t}]" if n != t else "") for t, n, s in
                     ((t, name_of[t], shapes[name_of[t]]) for t in taps))
    print(f"wrote {args.out}: {text} (image {tuple(image_size)}, network input {tuple(input_size)})")
    return 0
