"""Razavian et al. Table 1, Fig. 2a and Fig. 3: facial landmarks by ridge regression, and the look-back trick.

    python eval/razavian_landmarks.py                       # synthetic faces (default size, ~3 min on 2 cores)
    python eval/razavian_landmarks.py --300w-root DIR       # 300-W folder (helen/, lfpw/, afw/, ibug/ with images)
"""

from __future__ import annotations

import razavian_common as common


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--300w-root", dest="root_300w", default=None)
    args = p.parse_args(argv)
    from convcorr_jax import runinfo
    from convcorr_jax.regression import demo

    cfg, featurize, featurize_fc6, desc, out, figs = common.setup(args, "razavian_landmarks")
    header = runinfo.header("Razavian et al. 2015, Table 1 (landmarks + look-back)", cfg, args.seed)
    print(header, flush=True)
    parts, metrics = [f"Descriptor: {desc}.", ""], {}
    with runinfo.timed() as t:
        if args.root_300w:
            real_parts, metrics = demo.run_faces_300w(cfg, featurize, figs, args.root_300w, featurize_fc6)
            parts += real_parts
        else:
            md, m = demo.run_faces(cfg, featurize, figs, featurize_fc6=featurize_fc6)
            parts.append(md)
            metrics["synthetic"] = m
    common.finish(out, "Razavian et al. Table 1", header + f"\nwall time: {t['seconds']:.1f} s", "\n".join(parts), metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
