"""Backbone forward throughput: our jit-compiled JAX forward vs PyTorch (CPU, eager, no_grad) with the same weights.

    .venv/bin/python bench/backbone.py [--iters 3] [--write bench/RESULTS_backbones.md]

Models: torchvision AlexNet (seeded random weights; no real AlexNet weights exist here, speed does not depend on
them) and MobileNetV2 (real ImageNet weights). Inputs: 227 px batch 16 and 500 px batch 4, logits output.
Prints images/s for both and the time ratio ours / torch (<= 1.0 means we are at least as fast). Measurements of
the two are interleaved per iteration, so load from other processes hits both alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _golden():
    spec = importlib.util.spec_from_file_location("make_golden", ROOT / "tests" / "golden" / "backbones" / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--write", default=None, help="write a markdown table to this file")
    args = ap.parse_args()

    import jax
    import torch

    from convcorr_jax import io, runinfo
    from convcorr_jax.backbones import get
    from convcorr_jax.weights import read_torch_state_dict

    mg = _golden()
    torch_mod, MobileNetV2, TorchvisionAlexNet, _ = mg._torch_models()
    torch.set_grad_enabled(False)
    cfg = {"iters": args.iters, "torch_threads": torch.get_num_threads(), "shapes": "227x16, 500x4"}
    print(runinfo.header("backbone forward: ours (JAX jit) vs torch CPU", cfg, mg.SEED))

    models = []
    sd = mg.random_state_dict("torchvision_alexnet")
    tnet = TorchvisionAlexNet().eval()
    tnet.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    bb = get("torchvision_alexnet")
    models.append(("torchvision_alexnet", bb, bb.convert_torch(sd), lambda x, m=tnet: m.classifier(torch.flatten(m.avgpool(m.features(x)), 1))))
    msd = read_torch_state_dict(mg.mobilenet_weights_path())
    mnet = MobileNetV2().eval()
    mnet.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in msd.items()})
    bb = get("mobilenet_v2")
    models.append(("mobilenet_v2", bb, bb.convert_torch(msd), mnet))

    rows = []
    with runinfo.timed() as wall:
        for name, bb, params, tmodel in models:
            for size, batch in ((227, 16), (500, 4)):
                x = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype(np.float32)
                xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
                ours = lambda: jax.block_until_ready(bb.apply(params, x, taps=("logits",))["logits"])  # noqa: E731
                theirs = lambda: tmodel(xt)  # noqa: E731
                a, b = ours(), theirs()  # warm-up (compile) + agreement check
                diff = float(np.abs(np.asarray(a) - b.numpy()).max() / np.abs(b.numpy()).max())
                t_o, t_t = [], []
                for _ in range(args.iters):
                    t0 = time.perf_counter()
                    ours()
                    t_o.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    theirs()
                    t_t.append(time.perf_counter() - t0)
                to, tt = min(t_o), min(t_t)
                rows.append((name, size, batch, batch / to, batch / tt, to / tt, diff))
                print(f"{name:20s} {size}px x{batch:2d}: ours {batch / to:7.1f} img/s, torch {batch / tt:7.1f} img/s, "
                      f"time ratio ours/torch {to / tt:.2f} (rel. max |diff| {diff:.1e})", flush=True)  # fmt: skip
    if args.write:
        lines = [
            "# Backbone forward throughput: ours (JAX jit) vs PyTorch CPU",
            "",
            f"Machine: 2-core CPU (x86_64), no GPU; torch {torch.__version__} (CPU, {torch.get_num_threads()} threads);",
            f"best of {args.iters} interleaved iterations; 1-min load average at the end: {os.getloadavg()[0]:.1f}.",
            f"Command: `.venv/bin/python bench/backbone.py --write {args.write}`.",
            "",
            "```",
            runinfo.header("backbone forward: ours (JAX jit) vs torch CPU", cfg, mg.SEED),
            "```",
            "",
            "| model | input | batch | ours img/s | torch img/s | time ratio ours/torch | rel. max diff of logits |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {n} | {s} px | {b} | {o:.1f} | {t:.1f} | {r:.2f} | {d:.1e} |" for n, s, b, o, t, r, d in rows]
        io.write_text(args.write, "\n".join(lines) + "\n")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
