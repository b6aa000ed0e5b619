"""Power-normalised and context-pooled hyperpixels on PF-WILLOW, the rest of the default unchanged.

    python bench/pf_willow_feature_transforms.py --root PF-dataset-WILLOW [--powers 0.5,0.75]
        [--contexts 3:0.5,5:0.5] [--loo]

The default pipeline (`pf_willow.Config()`: OT + RHM on VGG-16 + MobileNetV2 + EfficientNet-Lite2 hyperpixels, the
CAM prior, the scaled carry) computes each tap's part once, L2-normalised per node (`frames.make_frames`). Each row
here changes those parts before matching (`pf_willow.score_frames` on the same frames), part by part:

- power a: sign(x) |x|^a, then L2-normalised per node again (power normalisation, which damps the few large
  activations that dominate a cosine; a = 1 is the default, asserted);
- context k:w: x + w x the mean of x over the k x k nodes around it (edges repeated), then L2-normalised again (a
  node's column carries its neighbourhood's).

Prints one markdown table (PCK@0.1 per fold: the six bundled sub-classes and the two mixed-view sets' cross pairs,
the means of the six and of the eight, PCK@0.05 / 0.2 of the six) and, with `--loo`, the leave-one-out over every
row (`pf_willow_selection`'s rule: each fold's row chosen on the sub-classes it does not contain).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter

from convcorr_jax.core import runinfo
from convcorr_jax.features.hyperpixel import resolve_taps
from convcorr_eval.long2014 import pf_willow
from convcorr_eval.long2014 import pf_willow_validation as validation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pf_willow_carry_models import MIXED, loo_summary, row_cells  # noqa: E402
from pf_willow_object_frames import DEFAULT  # noqa: E402


def unit(x: np.ndarray) -> np.ndarray:
    """x [..., C] with each column L2-normalised (the hyperpixels' floor, 1e-6), float32."""
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-6)).astype(np.float32)


def power(parts: dict, a: float) -> dict:
    """Each part [N, h, w, C] as sign(x) |x|^a, L2-normalised per node."""
    return {k: unit(np.sign(x) * np.abs(x) ** a) for k, x in parts.items()}


def context(parts: dict, k: int, w: float) -> dict:
    """Each part [N, h, w, C] plus w x its mean over k x k nodes (edges repeated), L2-normalised per node."""
    return {n: unit(x + w * uniform_filter(x, size=(1, k, k, 1), mode="nearest")) for n, x in parts.items()}


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--root", required=True, help="PF-dataset-WILLOW folder")
    a.add_argument("--powers", default="0.5,0.75", help="power-normalisation exponents")
    a.add_argument("--contexts", default="3:0.5,5:0.5", help="context pooling k:w pairs")
    a.add_argument("--loo", action="store_true", help="leave-one-out over every row")
    args = a.parse_args()
    print(runinfo.header("bench: power-normalised and context-pooled hyperpixels on PF-WILLOW", vars(args)),
          flush=True)
    with runinfo.timed() as total:
        v = validation.Validation(validation.Config(data_root=args.root, rows=("method=ot_rhm",), mixed=MIXED))
        c = v.cfg.row_configs()[0]
        frames, used, t_frames = v.frames(c, resolve_taps(v.model(c)[0], c.transfer.tap_names))
        base = dict(frames.parts)
        assert all(np.allclose(np.linalg.norm(x, axis=-1), 1, atol=1e-4) for x in base.values())
        rows = {"the default": lambda: base, "power 1 (asserted equal to the default)": lambda: power(base, 1.0)}
        rows.update({f"power {p:g}": (lambda p=p: power(base, p)) for p in map(float, args.powers.split(","))})
        for kw in args.contexts.split(","):
            k, w = kw.split(":")
            rows[f"context {k}x{k}, w {float(w):g}"] = lambda k=int(k), w=float(w): context(base, k, w)
        pck = {}
        for name, parts in rows.items():
            frames.parts = parts()
            t0 = time.perf_counter()
            r = pf_willow.score_frames(frames, v.samples, v.pairs, v.groups, c, taps=used)
            pck[name] = {al: {k: float(x) for k, x in r["pck"][al].items()} for al in r["pck"]}
            print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
        for name in ("the default", "power 1 (asserted equal to the default)"):
            got = {g: round(100 * pck[name]["0.1"][g], 1) for g in DEFAULT}
            assert got == DEFAULT, (name, got)
    six = [g for g in DEFAULT if g not in MIXED]
    print(f"\nfeatures of the {len(v.images)} images: {t_frames:.0f} s; {len(v.pairs)} pairs a row")
    print("\n| row | " + " | ".join(six + ["car(G)+car(S)", "winebottle(wC)+(woC)"])
          + " | mean of 6 | mean of 8 | PCK@0.05 | PCK@0.2 |")
    print("|---|" + "---:|" * (len(six) + len(MIXED) + 4))
    for name, p in pck.items():
        print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in row_cells(p)) + " |")
    if args.loo:
        names = [n for n in pck if not n.startswith("power 1 ")]
        print("\n" + loo_summary({n: pck[n]["0.1"] for n in names}, names, "over every row"))
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
