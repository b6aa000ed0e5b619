"""AlexNet layer by layer: where XLA:CPU loses to torch CPU, with the same weights and inputs, in one process.

    python bench/backbone_layers.py [--size 227] [--batch 16] [--reps 10] [--write FILE]

Each layer of torchvision's AlexNet (conv + bias + ReLU, max pool, adaptive average pool + flatten, fc + bias
(+ ReLU)) runs alone (both flatten the pooled map in (h, w, c) order): ours as one jit-compiled
`convcorr_jax.backbones.layers` call on NHWC, torch's module (eager, no_grad, NCHW, its default threads) on the
same values; the input of each layer is the previous layer's output of the same side. Timed per call (best of
`reps` after a warm-up, `timing.best_time`), layer by layer, so load hits both alike; ours is checked against
torch to 1e-4 relative. The fc rows are run twice: our kernel layout `[in, out]` (`x @ W`) and the transposed
layout `[out, in]` that torch stores (`dot_general` contracting the last axes: the same products, summed in an
order of XLA's choosing; their largest relative difference is printed).
Prints a table and the machine; the ratio is ours / torch (<= 1.0: ours at least as fast).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

from timing import best_time  # bench/ is on sys.path when this script runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=227)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--write", default=None, help="also write the table (markdown) to this file")
    a = ap.parse_args()

    import jax
    import jax.numpy as jnp
    import torch
    from jax import lax

    from convcorr_jax.core import io, runinfo
    from convcorr_jax.backbones import layers
    from convcorr_jax.backbones.alexnet import TORCHVISION_OPS
    from convcorr_jax.backbones.layer_list import param_shapes

    torch.set_grad_enabled(False)
    rng = np.random.default_rng(0)
    params = {k: {n: (rng.standard_normal(s) * 0.05).astype(np.float32) for n, s in v.items()}
              for k, v in param_shapes(TORCHVISION_OPS).items()}
    cfg = {"size": a.size, "batch": a.batch, "reps": a.reps, "torch": torch.__version__,
           "torch_threads": torch.get_num_threads()}
    header = runinfo.header("AlexNet layer by layer: ours (JAX jit) vs torch CPU", cfg, 0)
    print(header)
    with runinfo.timed() as total:
        x = rng.standard_normal((a.batch, a.size, a.size, 3)).astype(np.float32)
        rows, load0 = [], os.getloadavg()[0]
        for op in TORCHVISION_OPS:
            variants = []
            if op.kind == "conv":
                p = {k: jnp.asarray(v) for k, v in params[op.name].items()}
                s = op.step
                tm = torch.nn.Conv2d(x.shape[-1], op.out, s.kernel, s.stride, s.pad)
                tm.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[op.name]["kernel"].transpose(3, 2, 0, 1))))
                tm.bias.copy_(torch.from_numpy(params[op.name]["bias"]))
                tfn = lambda t, m=tm: torch.relu(m(t))
                variants.append(("", jax.jit(lambda v, p=p, s=s: jax.nn.relu(layers.conv(p, v, s)))))
            elif op.kind == "pool":
                tfn = torch.nn.MaxPool2d(op.step.kernel, op.step.stride)
                variants.append(("", jax.jit(lambda v, s=op.step: layers.max_pool(v, s))))
            elif op.kind == "adapt":
                tfn = lambda t, n=op.out: torch.nn.functional.adaptive_avg_pool2d(t, n).permute(0, 2, 3, 1).flatten(1)
                variants.append(("",
                                 jax.jit(lambda v, n=op.out: layers.adaptive_avg_pool(v, (n, n)).reshape(v.shape[0], -1))))
            else:
                w, b = params[op.name]["kernel"], params[op.name]["bias"]
                tm = torch.nn.Linear(*w.shape)
                tm.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                tm.bias.copy_(torch.from_numpy(b))
                act = jax.nn.relu if op.relu else (lambda v: v)
                tfn = (lambda t, m=tm: torch.relu(m(t))) if op.relu else tm
                wj, wt, bj = jnp.asarray(w), jnp.asarray(np.ascontiguousarray(w.T)), jnp.asarray(b)
                variants.append(("kernel [in, out]", jax.jit(lambda v, w=wj, b=bj, f=act: f(v @ w + b))))
                variants.append(("kernel [out, in]", jax.jit(
                    lambda v, w=wt, b=bj, f=act: f(lax.dot_general(v, w, (((1,), (1,)), ((), ()))) + b))))
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x))
            xj = jnp.asarray(x)
            t_torch = best_time(tfn, xt, reps=a.reps)
            out = None
            for label, fn in variants:
                t_ours = best_time(fn, xj, reps=a.reps)
                y = np.asarray(fn(xj))
                if out is not None:  # the other kernel layout: the same products, summed in another order
                    print(f"{op.name} ({label}) vs the first layout: max relative difference "
                          f"{np.abs(y - out).max() / max(float(np.abs(out).max()), 1e-30):.1e}")
                out = y if out is None else out
                rows.append((op.name + (f" ({label})" if label else ""), tuple(y.shape), t_ours * 1e3, t_torch * 1e3))
            ref = tfn(xt).numpy()
            ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref
            scale = max(float(np.abs(ref).max()), 1e-30)
            if float(np.abs(out - ref).max()) / scale > 1e-4:
                raise RuntimeError(f"{op.name}: ours and torch differ by {np.abs(out - ref).max() / scale:.1e} relative")
            x = out
        lines = ["| layer | output (NHWC) | ours ms | torch ms | ratio |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {'x'.join(map(str, s))} | {o:.2f} | {t:.2f} | {o / t:.2f} |" for n, s, o, t in rows]
        first = [r for r in rows if "[out, in]" not in r[0]]
        lines.append(f"| sum, our layout | | {sum(r[2] for r in first):.1f} | {sum(r[3] for r in first):.1f} | "
                     f"{sum(r[2] for r in first) / sum(r[3] for r in first):.2f} |")
        machine = (f"{platform.machine()}, {os.cpu_count()} cores, JAX backend {jax.default_backend()}, "
                   f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
        table = "\n".join(lines)
        print(table)
        print("machine:", machine)
        if a.write:
            io.write_text(a.write, f"```\n{header}\n```\n\nMachine: {machine}\n\n{table}\n")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
