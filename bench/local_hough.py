"""RHM with vote maps local to regions of the source frame, as matchers registered beside the library's, on PF-WILLOW.

    python bench/local_hough.py --root PF-dataset-WILLOW [--variants 3:0.2,2:0.3,4:0.15,3:0.35] [--mixed]

A prototype, not a library method (bench/RESULTS_real.md, round six: tried, not kept). SCOT's OT scores vote as in
`hough.rhm`, but into R = k x k vote maps: node s of the source frame adds its votes to map r with the weight
phi_r(s) (Gaussian in the distance from s to the centre of region r, sigma = `sigma` x the frame side, normalised
over r); each map is smoothed as RHM's, and match (s, t) is multiplied by sum_r phi_r(s) x map_r[bin(s, t)] x R.
As the regions grow (sigma -> infinity) this is RHM's global vote map (checked at the start of the run). Each
variant "k:sigma" is registered with `matching.register_matcher` as "otl<k>s<sigma x 100>" and scored by
`long2014.pf_willow_validation` on the bundled sub-classes (and, with --mixed, the two mixed-view sets).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.signal import convolve2d

from convcorr_jax.core import runinfo
from convcorr_jax.correspondence import matching
from convcorr_jax.correspondence.hough import _gaussian_filter, _hough_space, _offset_bins, rhm
from convcorr_eval.long2014 import pf_willow_validation as validation

MIXED = ("car(G)+car(S)", "winebottle(wC)+winebottle(woC)")


def region_weights(src_xy, src_hw, k: int, sigma: float):
    """phi [Ns, k * k]: each node's normalised Gaussian weights of the k x k region centres of the source frame."""
    h, w = src_hw
    cx, cy = (jnp.arange(k) + 0.5) * w / k, (jnp.arange(k) + 0.5) * h / k
    centres = jnp.stack(jnp.meshgrid(cx, cy, indexing="xy"), -1).reshape(-1, 2)
    s = sigma * max(h, w)
    g = jnp.exp(-jnp.sum((src_xy[:, None, :].astype(jnp.float32) - centres[None]) ** 2, -1) / (2 * s * s))
    return g / jnp.sum(g, 1, keepdims=True)


def local_rhm(votes, src_xy, trg_xy, src_hw, trg_hw, ncells: int, side: int, k: int, sigma: float):
    """votes [Ns, Nt] times each match's support in the smoothed vote maps of its source node's regions."""
    ny, nx, _ = _hough_space(src_hw, trg_hw, ncells)
    bins = _offset_bins(src_xy, trg_xy, src_hw, trg_hw, ncells)
    phi = region_weights(src_xy, src_hw, k, sigma)  # [Ns, R]
    weighted = votes[None] * phi.T[:, :, None]  # [R, Ns, Nt]
    maps = jax.vmap(lambda v: jnp.zeros(ny * nx, jnp.float32).at[bins.reshape(-1)].add(v.reshape(-1)))(weighted)
    g = jnp.asarray(_gaussian_filter(side))
    maps = jax.vmap(lambda m: convolve2d(m, g, mode="same", precision=jax.lax.Precision.HIGHEST))(
        maps.reshape(-1, ny, nx)).reshape(phi.shape[1], -1)
    support = jnp.einsum("sr,rst->st", phi, maps[:, bins]) * phi.shape[1]
    return votes * support


def register(k: int, sigma: float) -> str:
    """Register OT + local RHM with k x k regions of width sigma; returns its matcher name."""
    def scores(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights=None, trg_weights=None):
        ot = matching.MATCHERS["ot"].scores(sim, src_xy, trg_xy, src_hw, trg_hw, config, src_weights, trg_weights)
        return local_rhm(ot, src_xy, trg_xy, src_hw, trg_hw, config.ncells, config.side, k, sigma)
    name = f"otl{k}s{round(sigma * 100)}"
    matching.register_matcher(name, scores, f"OT + RHM in {k} x {k} regions, sigma {sigma:g}", cos_power=1.0,
                              replace=True, hough=True)
    return name


def check_nesting() -> float:
    """Largest relative difference between global RHM and one region per node far from every centre (sigma 1e4)."""
    xy = np.stack(np.meshgrid(np.arange(4, 224, 8), np.arange(4, 224, 8)), -1).reshape(-1, 2).astype(np.float32)
    v = jnp.asarray(np.random.default_rng(0).random((len(xy), len(xy))).astype(np.float32))
    a = rhm(v, xy, xy, (224, 224), (224, 224), 8192, 7)
    b = local_rhm(v, jnp.asarray(xy), jnp.asarray(xy), (224, 224), (224, 224), 8192, 7, 3, 1e4)
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, help="PF-dataset-WILLOW folder")
    p.add_argument("--variants", default="3:0.2,2:0.3,4:0.15,3:0.35", help="k:sigma, comma-separated")
    p.add_argument("--mixed", action="store_true", help="also score the two mixed-view sets")
    args = p.parse_args()
    print(runinfo.header("bench: OT + RHM with local vote maps on PF-WILLOW", vars(args)))
    with runinfo.timed() as total:
        print(f"global RHM recovered at sigma 1e4: max relative difference {check_nesting():.1e}")
        names = [register(int(k), float(s)) for k, s in (v.split(":") for v in args.variants.split(","))]
        cfg = validation.Config(data_root=args.root, rows=("method=ot_rhm", *(f"method={n}" for n in names)),
                                mixed=MIXED if args.mixed else ())
        rows, _ = validation.validate(cfg)
        print("| row | mean of the sub-classes | " + " | ".join(rows[0]["per_class"]) + " |")
        for r, text in zip(rows, cfg.rows):
            print(f"| {text} | {100 * r['pck']['0.1']:.1f} | "
                  + " | ".join(f"{100 * v:.1f}" for v in r["per_class"].values()) + " |")
    print(f"wall time {total['seconds']:.1f} s")


if __name__ == "__main__":
    main()
