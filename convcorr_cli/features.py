"""`convcorr features IMAGE --backbone B --taps conv4,fc6 --out F.npz`: named activations + receptive-field centres.

The .npz holds what `convcorr_jax.features.image.features` returns, per tap T: `T` (activations of the one image:
spatial `[h, w, C]`, vector `[D]`) and, for spatial taps, `T__centers` `[h, w, 2]`: the (x, y) pixel (0-based,
pixel centres at integers) of each column's receptive-field centre in the ORIGINAL image (mapped back through the
resize/crop), plus `T__rf` = (size, stride, offset) in network-input pixels. Also `image_size` (h, w) of the
original and `input_size` of the network input.

--resize: "standard" (the backbone's evaluation transform: resize 256 + centre crop), "none" (the image as is), or
"square" (resize to the default input size, e.g. 227 x 227, no crop).
"""

from __future__ import annotations

import argparse

from convcorr_jax import io
from convcorr_jax.backbones import NAMES, get
from convcorr_jax.data.types import load_image
from convcorr_jax.errors import InputError
from convcorr_jax.features.image import MODES, features
from convcorr_jax.weights import load_backbone


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file")
    p.add_argument("--backbone", default="mobilenet_v2", choices=NAMES)
    p.add_argument("--taps", required=True, help="comma-separated tap names, e.g. conv4,fc6 or block12,pool")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--weights", default=None, help="weight file; default: fetched MobileNetV2 ImageNet weights")
    p.add_argument("--resize", choices=MODES, default="standard")
    p.add_argument("--pre-relu", action="store_true", help="activations before the ReLU where a tap has one")


def run(args: argparse.Namespace) -> int:
    taps = tuple(t for t in args.taps.split(",") if t)
    known = get(args.backbone).taps
    for t in taps:
        if t not in known:
            raise InputError("--taps", t, f"tap names of {args.backbone}: {', '.join(known)}", t)
    backbone, params = load_backbone(args.backbone, args.weights)
    out = features(backbone, params, load_image(args.image), taps, args.resize, relu=not args.pre_relu)
    io.save_npz(args.out, **out)
    shapes = ", ".join(f"{t} {out[t].shape}" for t in taps)
    print(f"wrote {args.out}: {shapes} (image {tuple(out['image_size'])}, network input {tuple(out['input_size'])})")
    return 0
