"""Long et al. 2014, Figure 1: images rebuilt from the centre patches of their nearest neighbours in conv
feature space (k = 1, 5; conv3/conv4/conv5 roles) plus the "uniform rf" control. Also writes Figure 2
(receptive-field averages) from the same databases unless --figure1-only.

    python eval/figure1_patch_reconstruction.py          # 293 synthetic training images: 42,192 patches per layer
    CONVCORR_CACHE=/some/cache nice -n 19 python eval/figure1_patch_reconstruction.py --n 2400 --image-size 384
        # the paper's scale (>= 1M patches per layer), measured on a shared 2-core CPU (load average 4-9 from
        # jobs at nice 0, among them the kNN benchmark during the image phase, so these wall times are
        # pessimistic): the 2,400 objects give 1,792 training images
        # x 24 x 24 columns (MobileNetV2 block10/12/13, stride 16) = 1,032,192 patches per layer
        # (conv3 64-d: 264 MB, conv4/conv5 96-d: 396 MB each, plus the 793 MB image array stored once and
        # hard-linked). Wall time 17 min 40 s: images 662 s (generation ~0.05 s/image on a free core, but
        # starved at nice 19 for the first minutes), databases 350 s (all three layers from ONE forward pass,
        # ~0.2 s/image), Figure 1 kNN + reconstruction 11-12 s per layer, Figure 2 2-3 s per layer.
        # Peak resident memory 4.8 GB. Result: docs/figures/long_fig1_1M.png (downscaled 0.9x),
        # docs/figures/long_fig2_1M.png.

Queries are scikit-image's bundled photographs (chelsea, astronaut, coffee, rocket). Databases are stored under
the cache (convcorr_jax.paths.cache_dir("patchdb", ...)) and reused.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path


def main(argv=None, figure2: bool = True) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="synthetic objects generated (the train split is used)")
    p.add_argument("--image-size", type=int, default=192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-images", type=int, default=None, help="cap the database images (smaller database)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the databases even if cached")
    p.add_argument("--weights", default=None)
    p.add_argument("--figure1-only", action="store_true")
    p.add_argument("--out", default="runs/locality")
    a = p.parse_args(argv)

    import numpy as np

    from convcorr_jax import runinfo
    from convcorr_jax.correspondence import locality
    from convcorr_jax.data.synthetic import load_objects
    from convcorr_jax.paths import cache_dir
    from convcorr_jax.weights import load_pretrained

    print(runinfo.header("Long et al. 2014 Figures 1-2: feature locality", vars(a), a.seed), flush=True)
    with runinfo.timed("locality wall time"):
        with runinfo.timed("images (synthetic objects, generated or read from the cache)") as t_img:
            train = load_objects(a.n, a.seed, "train", a.image_size)[: a.max_images]
            images = np.stack([s.image for s in train])
            del train
        backbone, params = load_pretrained("mobilenet_v2", a.weights)
        db_root = cache_dir("patchdb", f"{backbone.name}-objects-n{a.n}-s{a.seed}-{a.image_size}-m{len(images)}")
        out = locality.run_locality(images, locality.query_images(a.image_size), backbone, params, db_root,
                                    ks2=(5, 50, 500) if (figure2 and not a.figure1_only) else (5,), seed=a.seed,
                                    figures_dir=Path(a.out), rebuild=a.rebuild)
        print("database sizes:", out["sizes"])
        print("phase seconds:", {"images": round(t_img["seconds"], 1),
                                 **{k: round(v, 1) for k, v in out["seconds"].items()}})
        print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print("figures:", [str(Path(a.out) / f) for f in out["figures"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
