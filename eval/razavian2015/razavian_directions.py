"""Razavian et al. Fig. 6 (eqs. 6-7): a semantic direction for a synthetic-face attribute, decoded to RGB.

    python eval/razavian_directions.py --attribute yaw     # any key of the faces' extras["attributes"]
"""

from __future__ import annotations

import razavian_common as common


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--attribute", default="yaw")
    args = p.parse_args(argv)
    import dataclasses

    from convcorr_jax import runinfo
    from convcorr_jax.regression import demo

    cfg, featurize, featurize_fc6, desc, out, figs = common.setup(args, "razavian_directions")
    cfg = dataclasses.replace(cfg, attribute=args.attribute)
    header = runinfo.header("Razavian et al. 2015, Fig. 6 (semantic directions)", cfg, args.seed)
    print(header, flush=True)
    with runinfo.timed() as t:
        md, m = demo.run_directions(cfg, featurize, figs)
    common.finish(out, "Razavian et al. Fig. 6", header + f"\nwall time: {t['seconds']:.1f} s", f"Descriptor: {desc}.\n\n{md}", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
