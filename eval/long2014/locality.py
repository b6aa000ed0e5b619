"""Long et al. 2014 Figures 1-2: images rebuilt from the centre patches of their nearest neighbours in conv feature
space (k = 1, 5; conv3/conv4/conv5 roles) beside the "uniform rf" control, and average receptive fields of the
k = 5, 50, 500 nearest neighbours of random seed features.

    convcorr run long2014.locality                     # 400 synthetic objects at 192 px: 35,453 patches per layer
    convcorr run long2014.locality --size full         # 2,400 objects at 384 px: 947,968 patches per layer
    convcorr run long2014.locality --size full --set image_size=400                # 1,032,192: the paper's >= 1M
    convcorr run long2014.locality --set n_objects=2400 --set image_size=384 --set max_images=1000
    convcorr run long2014.locality --set data=flic --data-root FLIC                # 300 FLIC train frames
    convcorr run long2014.locality --size full --set data=flic --data-root FLIC    # 3,000 frames: 882,000 patches

Patch counts are those of the default backbone (torchvision's AlexNet: 11 x 11 conv3-5 columns at 192 px, 23 x 23 at
384, 24 x 24 at 400, 14 x 21 on a 240 x 360 FLIC frame; 293 / 1,792 synthetic training images for 400 / 2,400
objects); other backbones give other grids. The report states the counts of the run and whether they reach the
paper's 1,000,000 (`scale_note`).

data=flic: the database holds the patches of `n_train` FLIC training frames (360 x 240, one per image file, seeded
draw); the queries are `n_test` FLIC test frames, then the scikit-image photographs.

The patch databases are cached (`convcorr_jax.core.cache`, kind "patchdb") and reused; full size needs ~5 GB of memory
and ~1.5 GB of cache. Queries: scikit-image's bundled photographs. Prints the k=1 reconstruction mean absolute
error per layer and the uniform-rf control's; measured numbers and times: bench/RESULTS_real.md.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from convcorr_jax.core import cache
from convcorr_jax.core.config import check_fields
from convcorr_jax.long2014 import locality
from convcorr_jax.data.flic import load_flic
from convcorr_jax.weights import load_backbone
from convcorr_eval.experiment import Context, ExperimentConfig, Result, require_data, sized
from convcorr_eval.long2014 import common
from convcorr_eval.long2014.common import load_train_test, subsample, unique_images
from convcorr_eval.report import plt, save_figure


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Database: the training images of `n_objects` synthetic objects at `image_size` px (at most `max_images`)."""

    backbone: str = common.BACKBONE
    n_objects: int = 400
    image_size: int = 192
    max_images: int | None = None
    roles: tuple[str, ...] = ("conv3", "conv4", "conv5")
    queries: tuple[str, ...] = ("chelsea", "astronaut", "coffee", "rocket")
    ks1: tuple[int, ...] = (1, 5)  # Figure 1 neighbours
    ks2: tuple[int, ...] = (5, 50, 500)  # Figure 2 neighbours
    n_seeds: int = 3  # Figure 2 seed features per layer
    n_train: int | None = 300  # data=flic: training frames in the database (None: every frame)
    n_test: int = 2  # data=flic: test frames among the queries

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, nonnegative=("n_test",), at_least_one=("n_objects", "image_size", "max_images", "ks1",
                                                                 "ks2", "n_seeds", "n_train"))

    def check(self) -> None:
        self.check_roles(("roles",), ("image_size",))


def get_config(size: str = "default") -> Config:
    return sized(size, {
        "tiny": Config(size=size, n_objects=24, image_size=96, queries=("chelsea", "astronaut"), ks2=(5, 50),
                       n_seeds=2, n_train=16, n_test=1),
        "default": Config(size=size),
        "full": Config(size=size, n_objects=2400, image_size=384, n_train=3000, n_test=4),
    })


def params_digest(params) -> str:
    """sha256 (20 hex) of a parameter tree: its structure, and each leaf's dtype, shape and bytes (a weight file
    replaced under the same name, or a user's backbone's params, give another digest)."""
    import jax

    leaves, treedef = jax.tree.flatten(params)
    return cache.arrays_digest(leaves, prefix=str(treedef).encode())[:20]


def patch_databases(images: np.ndarray, backbone, params, cfg: Config, progress: bool = False) -> dict:
    """{role: database folder} from the cache, built in one forward pass when missing (`progress`: a bar); keyed by
    the images' and the params' bytes (`params_digest`), not by the weights' name alone."""
    settings = {"backbone": backbone.name, "weights": cfg.weights, "params": params_digest(params),
                "seed": cfg.seed, "roles": list(cfg.roles),
                "images": hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()[:20],
                "shape": list(images.shape)}
    version = cache.code_version("convcorr_jax.long2014.locality", "convcorr_jax.backbones",
                                 "convcorr_jax.features", "convcorr_jax.weights")
    root = cache.cached("patchdb", settings, version, lambda tmp: locality.build_databases(
        images, backbone, params, {r: tmp / r for r in cfg.roles}, progress=progress))
    return {r: root / r for r in cfg.roles}


PAPER_PATCHES = 1_000_000  # Long et al. section 2: "at least one million patches for every layer"


def scale_note(sizes: dict[str, int]) -> str:
    """One sentence on how this run's patch databases compare with the paper's (>= 1,000,000 patches per layer).

    Args:
      sizes: {role: patches in its database}.

    Returns:
      The sentence, with the smallest count of the run and whether it reaches the paper's.
    """
    least = min(sizes.values())
    verdict = "reaching" if least >= PAPER_PATCHES else "below"
    return (f"The paper uses >= {PAPER_PATCHES:,} patches of PASCAL VOC 2011 per layer; this run's smallest database "
            f"holds {least:,} patches, {verdict} it.")


def figure1(queries: list, panels: dict[str, list], path) -> None:
    """One row per query; columns: the query, then each panel ("conv3 k=5", "uniform rf k=1", ...)."""
    cols = 1 + len(panels)
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.9 * cols, 1.9 * len(queries)), squeeze=False)
    for r, q in enumerate(queries):
        for c, (name, im) in enumerate([("input", q)] + [(name, v[r]) for name, v in panels.items()]):
            axes[r, c].imshow(np.clip(np.asarray(im), 0, 255).astype(np.uint8))
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(name, fontsize=7)
    fig.suptitle("Figure 1: each query (rows) rebuilt from the centre patches of its nearest neighbours in each "
                 "layer's feature space (columns)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def figure2(averages: dict[str, np.ndarray], ks, path) -> None:
    """Rows: layer x seed; columns: k. averages[layer]: `locality.rf_average` output [S, len(ks), r, r, 3]."""
    rows = [(layer, s) for layer, a in averages.items() for s in range(a.shape[0])]
    fig, axes = plt.subplots(len(rows), len(ks), figsize=(1.6 * len(ks), 1.6 * len(rows)), squeeze=False)
    for r, (layer, s) in enumerate(rows):
        for c, k in enumerate(ks):
            axes[r, c].imshow(averages[layer][s, c])
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(f"k = {k}", fontsize=8)
        axes[r, 0].set_ylabel(layer, fontsize=8)
    fig.suptitle("Figure 2: mean receptive field of the k nearest neighbours of random seed features (rows: layer "
                 "and seed)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def database_and_queries(cfg: Config) -> tuple[np.ndarray, list[np.ndarray], str]:
    """Database images uint8 [n, H, W, 3], query images (any sizes) and a phrase naming the database."""
    photos = locality.query_images(cfg.image_size, cfg.queries)
    if cfg.data == "flic":
        frames = subsample(unique_images(list(load_flic(cfg.dataset_root(), split="train"))), cfg.n_train, cfg.seed)
        images = np.stack([s.with_image().loaded_image() for s in frames[: cfg.max_images]])
        tests = subsample(unique_images(list(load_flic(cfg.dataset_root(), split="test"))), cfg.n_test, cfg.seed + 1)
        return images, [s.with_image().loaded_image() for s in tests] + photos, f"{len(images)} FLIC training frames"
    train, _ = load_train_test(cfg, cfg.n_objects, cfg.image_size)
    images = np.stack(common.sample_images(train[: cfg.max_images]))
    return images, photos, "the synthetic training images"


def run(cfg: Config, ctx: Context) -> Result:
    require_data(cfg, ("synthetic", "flic"))
    images, queries, what = database_and_queries(cfg)
    backbone, params = load_backbone(cfg.backbone, cfg.weights, cfg.seed)
    dbs = patch_databases(images, backbone, params, cfg, ctx.progress)
    out = locality.run_locality(dbs, queries, backbone, params, cfg.ks1, cfg.ks2, cfg.n_seeds, cfg.seed,
                                progress=ctx.progress)
    figure1(queries, out["panels"], ctx.figures / "long2014_fig1_patch_reconstruction.png")
    figure2(out["averages"], cfg.ks2, ctx.figures / "long2014_fig2_rf_average.png")
    sizes = out["sizes"]
    # a number to track: how much closer (mean abs pixel error) the k=1 reconstruction is than the control
    metrics = {"database_sizes": sizes}
    for name in [f"{r} k=1" for r in sizes] + ["uniform rf k=1"]:
        errs = [np.abs(r - q.astype(np.float32)).mean() for r, q in zip(out["panels"][name], queries)]
        key = "uniform_rf" if name.startswith("uniform") else name.split()[0]
        metrics[f"{key}_k1_abs_err"] = float(np.mean(errs))
        metrics[f"{key}_k1_abs_err_per_query"] = [float(e) for e in errs]
    md = [f"Patch databases (features of {what}, cosine kNN): "
          + ", ".join(f"{r} ({backbone.roles[r]}): {c:,} patches" for r, c in sizes.items())
          + ". " + scale_note(sizes) + " "
          + (f"Queries: {cfg.n_test} FLIC test frame(s), then the photographs {', '.join(cfg.queries)}."
             if cfg.data == "flic" else ""), "",
          "![Figure 1](figures/long2014_fig1_patch_reconstruction.png)", "",
          "![Figure 2](figures/long2014_fig2_rf_average.png)", "",
          "| layer (tap) | database patches | k=1 reconstruction mean abs error (0..255) |", "|---|---|---|"]
    md += [f"| {r} ({backbone.roles[r]}) | {c:,} | {metrics[f'{r}_k1_abs_err']:.1f} |" for r, c in sizes.items()]
    md += [f"| uniform-rf control | - | {metrics['uniform_rf_k1_abs_err']:.1f} |"]
    if cfg.data == "flic":
        nf = len(queries) - len(cfg.queries)
        metrics["flic_queries"] = nf
        md += ["", f"Per query group (k=1 mean abs error): FLIC test frames ({nf}) / photographs ({len(cfg.queries)})",
               "", "| panel | FLIC test frames | photographs |", "|---|---|---|"]
        for key in [*sizes, "uniform_rf"]:
            e = metrics[f"{key}_k1_abs_err_per_query"]
            md += [f"| {key} | {np.mean(e[:nf]):.1f} | {np.mean(e[nf:]):.1f} |"]
    summary = (f"locality: databases {', '.join(f'{r} {c:,}' for r, c in sizes.items())} patches; k=1 reconstruction "
               f"abs error " + ", ".join(f"{r} {metrics[f'{r}_k1_abs_err']:.1f}" for r in sizes)
               + f" vs uniform-rf control {metrics['uniform_rf_k1_abs_err']:.1f} (0..255)")
    return Result(summary, "\n".join(md), metrics)
