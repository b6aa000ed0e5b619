"""`convcorr features IMAGE --backbone B --taps conv4,fc6 --out F.npz`: named activations + receptive-field centres.

The .npz holds, per tap T: `T` (activations of the one image: spatial `[h, w, C]`, vector `[D]`) and, for spatial
taps, `T__centers` `[h, w, 2]`: the (x, y) pixel (0-based, pixel centres at integers) of each column's
receptive-field centre in the ORIGINAL image (mapped back through the resize/crop), plus `T__rf` = (size, stride,
offset) in network-input pixels. Also `image_size` (h, w) of the original and `input_size` of the network input.

--resize: "standard" (the backbone's evaluation transform: resize 256 + centre crop), "none" (the image as is), or
"square" (resize to the default input size, e.g. 227 x 227, no crop).
"""

from __future__ import annotations

import argparse

import numpy as np

from convcorr_jax import io
from convcorr_jax.backbones import NAMES, geometry, preprocess
from convcorr_jax.weights import load_backbone
from convcorr_jax.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file")
    p.add_argument("--backbone", default="mobilenet_v2", choices=NAMES)
    p.add_argument("--taps", required=True, help="comma-separated tap names, e.g. conv4,fc6 or block12,pool")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--weights", default=None, help="weight file; default: fetched MobileNetV2 ImageNet weights")
    p.add_argument("--resize", choices=("standard", "none", "square"), default="standard")
    p.add_argument("--pre-relu", action="store_true", help="activations before the ReLU where a tap has one")


def input_image(backbone, image: np.ndarray, mode: str) -> tuple[np.ndarray, preprocess.Transform]:
    """The network input (uint8 `[h, w, 3]`) for `mode` and the transform back to the original pixels."""
    if mode == "standard":
        resize_to, crop, keep = backbone.resize
        return preprocess.resize_and_crop(image, resize_to, crop, keep_aspect=keep)
    if mode == "square":
        h, w = backbone.default_input_size
        return preprocess.resize(image, (h, w)), preprocess.Transform(w / image.shape[1], h / image.shape[0])
    return image, preprocess.Transform()


def features(backbone, params, image: np.ndarray, taps: tuple[str, ...], mode: str = "standard", relu: bool = True) -> dict:
    """Activations and original-image receptive-field centres of one uint8 image `[H, W, 3]` (see module doc)."""
    from convcorr_jax.features.extract import extract

    x, tf = input_image(backbone, preprocess.check_images(image, "image", rank=3), mode)
    acts = extract(backbone, params, x[None], taps, batch_size=1, relu=relu)
    out = {"image_size": np.array(image.shape[:2]), "input_size": np.array(x.shape[:2])}
    for t in taps:
        out[t] = acts[t][0]
        if t in backbone.geometry:
            rf = backbone.geometry[t]
            out[f"{t}__centers"] = tf.to_original(geometry.grid_centers(rf, acts[t].shape[1:3])).astype(np.float32)
            out[f"{t}__rf"] = np.array([rf.size, rf.stride, rf.offset], np.float32)
    return out


def run(args: argparse.Namespace) -> int:
    from convcorr_jax.backbones import get
    from convcorr_jax.data.types import load_image

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
