"""Weight readers vs their real peers, same files, same process.

    python bench/weights.py [--repeats 5]

Rows: our torch-free `read_torch_state_dict` vs `torch.load(weights_only=True)` on the real MobileNetV2 file
(legacy format) and on the same state dict re-saved in the zip format; our pure-Python `.caffemodel` reader
vs the official protobuf runtime (`make_caffe_golden.build`) on a MobileNetV2-sized V2 caffemodel written
by `write_caffemodel`. Prints best-of-N seconds and ours/peer ratios (< 1: ours faster).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "golden" / "weights"))


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import torch

    from convcorr_jax.core.runinfo import header, timed
    from convcorr_jax.weights import read_caffemodel, read_torch_state_dict, write_caffemodel
    from convcorr_jax.weights.sources import package_file

    print(header("weight readers vs torch.load / protobuf", vars(args)))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores ({platform.machine()})")
    rows = []
    with timed() as wall, tempfile.TemporaryDirectory() as tmp:
        legacy = package_file()
        sd = torch.load(str(legacy), map_location="cpu", weights_only=True)
        zipped = Path(tmp) / "mobilenet_v2_zip.pth"
        torch.save(sd, zipped)
        for label, path in (("mobilenet_v2 .pth legacy (14 MB)", legacy), ("mobilenet_v2 .pth zip", zipped)):
            ours = best(lambda: read_torch_state_dict(path), args.repeats)
            peer = best(lambda: torch.load(str(path), map_location="cpu", weights_only=True), args.repeats)
            rows.append((label, ours, "torch.load", peer))

        layers = {f"l{i}": [v.numpy().reshape(v.shape[0], -1) if v.ndim > 1 else v.numpy()]
                  for i, (k, v) in enumerate(sd.items()) if v.dtype == torch.float32}
        caffe = Path(tmp) / "mobilenet_sized.caffemodel"
        write_caffemodel(caffe, {k: ("InnerProduct", v) for k, v in layers.items()})
        try:
            from make_caffe_golden import build

            Net = build(packed_data=True)
            data = caffe.read_bytes()
            peer = best(lambda: Net.FromString(data), args.repeats)
            peer_conv = best(lambda: [np.asarray(b.data,
                                                 np.float32) for l in Net.FromString(data).layer for b in l.blobs],
                             args.repeats)
        except ImportError:
            peer = peer_conv = float("nan")
        ours = best(lambda: read_caffemodel(caffe), args.repeats)
        rows.append(("caffemodel V2, same tensors", ours, "protobuf parse", peer))
        rows.append(("caffemodel V2, same tensors", ours, "protobuf parse + to numpy", peer_conv))
    print(f"\n{'file':36s} {'ours s':>9s}  {'peer':26s} {'peer s':>9s}  ours/peer")
    for label, ours, peer_name, peer in rows:
        print(f"{label:36s} {ours:9.4f}  {peer_name:26s} {peer:9.4f}  {ours / peer:9.2f}")
    print(f"wall time {wall['seconds']:.1f} s")


if __name__ == "__main__":
    main()
